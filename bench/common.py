# Copyright 2026 jetson_vlm_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Shared helpers of the bench: environment, processes, rows, frames, timing, statistics.

Paths and the DDS environment, helper processes (Child), the result table's Row, synthetic
camera frames, timing and statistics.
"""

from dataclasses import dataclass
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional, TYPE_CHECKING

from package_modules import package_module
import psutil

if TYPE_CHECKING:
    import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
PACKAGE_ROOT = os.path.join(REPO_ROOT, 'jetson_vlm_ros')
TEST_DIR = os.path.join(PACKAGE_ROOT, 'test')

# Every process of the bench gets these, and the package's Fast DDS profile for large frames
# (config/fastdds_large_frames.xml, as the README tells users). Stock Fast DDS and
# FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA both lost most 1080p frames between processes here
# (0-77 of 690); the profile's 64 MiB shared-memory segment delivers ~all of them.
FASTDDS_PROFILE = os.path.join(PACKAGE_ROOT, 'config', 'fastdds_large_frames.xml')
DDS_ENV = {
    'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
}


def setup_environment() -> None:
    """Put the DDS settings and the source tree into this process's environment."""
    paths = [PACKAGE_ROOT, TEST_DIR, BENCH_DIR]
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    profile = package_module('fastdds_profile').profile_environment(FASTDDS_PROFILE)
    for key, value in {**DDS_ENV, **profile}.items():
        os.environ.setdefault(key, value)
    # Ignored while the profile turns the builtin transports off; dropped to avoid doubt.
    os.environ.pop('FASTDDS_BUILTIN_TRANSPORTS', None)
    # A domain of our own keeps the bench's traffic apart from tests running meanwhile.
    os.environ.setdefault('ROS_DOMAIN_ID', str(40 + os.getpid() % 50))
    old = os.environ.get('PYTHONPATH', '')
    os.environ['PYTHONPATH'] = os.pathsep.join(paths + ([old] if old else []))
    os.environ['PYTHONUNBUFFERED'] = '1'


class Child:
    """A helper process started with the venv's python; its stdout JSON lines are collected."""

    def __init__(self, args: list[str], name: str) -> None:
        self.name = name
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.popen = subprocess.Popen(
            [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, start_new_session=True)
        self.process = psutil.Process(self.popen.pid)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            with self._cond:
                self.lines.append(line.rstrip())
                if line.startswith('{'):
                    try:
                        self.events.append(json.loads(line))
                    except ValueError:
                        pass
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool],
                   timeout: float) -> dict[str, Any]:
        """Return the first JSON event matching predicate; raise naming the output if none."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or (self.popen.poll() is not None and not self._reader.is_alive()):
                    tail = '\n'.join(self.lines[-20:])
                    raise RuntimeError(f'{self.name}: expected event not seen; output:\n{tail}')
                self._cond.wait(min(left, 0.2))

    def wait_line(self, text: str, timeout: float) -> None:
        """Wait until a line of output contains text."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or self.popen.poll() is not None:
                    tail = '\n'.join(self.lines[-20:])
                    raise RuntimeError(f'{self.name}: no line with {text!r}; output:\n{tail}')
                self._cond.wait(min(left, 0.2))

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the process (all its threads) so far."""
        times = self.process.cpu_times()
        return times.user + times.system

    def stop(self, timeout: float = 15.0) -> Optional[dict[str, Any]]:
        """SIGINT, wait, and return the last JSON event (e.g. the received count)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._reader.join(5.0)
        return self.events[-1] if self.events else None


def node_args(topic: str, base_url: str, *params: str) -> list[str]:
    """Arguments that start vlm_node (through node_probe) on a topic and server."""
    extra: list[str] = []
    for param in params:
        extra += ['-p', param]
    return [os.path.join(BENCH_DIR, 'node_probe.py'), '--ros-args',
            '-r', f'image:={topic}', '-p', f'base_url:={base_url}', *extra]


def free_port() -> int:
    """Return a loopback TCP port that is free now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def fake_server_class() -> type:
    """Return the test suite's FakeVlmServer (jetson_vlm_ros/test/fake_vlm_server.py)."""
    from fake_vlm_server import FakeVlmServer
    return FakeVlmServer


# --- the result table's rows ---------------------------------------------------------------

@dataclass
class Row:
    """One line of the result table."""

    figure: str
    measured: str
    baseline: str
    ratio: str
    target: str
    verdict: str  # 'pass', 'FAIL' or 'info'


def verdict(ok: bool) -> str:
    """Return the table's pass/fail word."""
    return 'pass' if ok else 'FAIL'


# --- synthetic frames ----------------------------------------------------------------------

def scene(width: int, height: int) -> 'np.ndarray':
    """Return a camera-like RGB frame: the demo scene plus sensor noise (not flat, not random)."""
    import numpy as np
    draw_scene = package_module('demo_camera').draw_scene
    rgb = draw_scene(width, height, 3.0).astype(np.int16)
    noise = np.random.default_rng(1).normal(0, 4, rgb.shape).astype(np.int16)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def image_message(rgb: 'np.ndarray', encoding: str) -> object:
    """Return a sensor_msgs/msg/Image built as rclpy builds received ones (data: array.array)."""
    import numpy as np
    from sensor_msgs.msg import Image
    pixels = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'mono8': rgb[:, :, 0]}[encoding]
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                 step=pixels.strides[0], data=pixels.tobytes())


# --- timing and statistics -----------------------------------------------------------------

def timed(call: Callable[[], object], repeat: int) -> float:
    """Median seconds of call over repeat runs (after one warm-up run)."""
    call()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return median(times)


def timed_alternately(calls: list[Callable[[], object]], repeat: int) -> list[float]:
    """Median seconds of each call, the calls taking turns, so load changes hit all alike."""
    for call in calls:
        call()
    times: list[list[float]] = [[] for _ in calls]
    for _ in range(repeat):
        for index, call in enumerate(calls):
            start = time.perf_counter()
            call()
            times[index].append(time.perf_counter() - start)
    return [median(values) for values in times]


def percentile(values: list[float], fraction: float) -> float:
    """Return the value at the given fraction (0..1) of the sorted values, nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    """Return the median."""
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
