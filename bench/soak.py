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
Soak vlm_node: many frames and requests, then check that it holds no more than before.

Starts vlm_node as a process (captions on), a loopback fake VLM server in this process,
publishes 640x480 rgb8 frames and interleaves describe_scene calls (every tenth one meets
a server fault: HTTP 500, a reply that is not JSON, a connection cut mid-reply). Compares
the node's RSS, threads and open file descriptors after a warm-up with the end, prints a
Markdown table, and exits 1 when RSS grew by 20 MB or more, threads or fds grew, or a call
failed that should not have.

    bash scripts/soak.sh   (or, set up: python bench/soak.py)
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# 640x480 rgb8 is 900 KB: more than Fast DDS's default shared-memory segment, so this
# process and the node load the package's profile for large frames, as the bench does.
from common import setup_environment  # noqa: E402 - after sys.path
setup_environment()

from fake_vlm_server import FakeVlmServer, ServerState  # noqa: E402 - after sys.path
from jetson_vlm_interfaces.srv import DescribeScene  # noqa: E402
import numpy as np  # noqa: E402
from package_modules import PACKAGE_MODULES  # noqa: E402
import psutil  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

RSS_GROWTH_LIMIT_MB = 20.0
FAULTS = [ServerState(behaviour='status', status=500), ServerState(behaviour='not_json'),
          ServerState(behaviour='cut_mid_reply')]


def snapshot(process: psutil.Process) -> dict[str, float]:
    """Return the node's RSS (MB), thread count and open file descriptors."""
    return {'rss': process.memory_info().rss / 2**20, 'threads': process.num_threads(),
            'fds': process.num_fds()}


class Soak:
    """The node process, the fake server, and a camera and a caller in this process."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server = FakeVlmServer().start()
        namespace = f'/soak{os.getpid()}'
        self.log = tempfile.TemporaryFile('w+')
        self.node_process = subprocess.Popen(
            [sys.executable, '-m', PACKAGE_MODULES['vlm_node'], '--ros-args',
             '-r', f'__ns:={namespace}', '-p', f'base_url:={self.server.base_url}',
             '-p', 'caption_period:=1.0', '-p', 'request_timeout:=5.0',
             # The publisher pauses between phases; a stale-frame answer is not a soak fault.
             '-p', 'max_image_age:=10.0'],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.psutil_process = psutil.Process(self.node_process.pid)
        rclpy.init()
        self.node = Node('soak', namespace=namespace)
        self.publisher = self.node.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.client = self.node.create_client(DescribeScene, 'describe_scene')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        pixels = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
        self.frame = Image(height=480, width=640, encoding='rgb8', step=640 * 3,
                           data=pixels.tobytes())
        self.frame.header.frame_id = 'soak'
        self.published = 0
        self.calls = {'ok': 0, 'failed as injected': 0, 'unexpected': 0, 'fresh frame': 0}
        self.unexpected: list[str] = []
        self._last_stamp = -1

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30.0
        while not self.client.wait_for_service(timeout_sec=0.5):
            if time.monotonic() > deadline or self.node_process.poll() is not None:
                raise RuntimeError('vlm_node did not come up; its output:\n' + self.output())

    def publish_frames(self, count: int) -> None:
        """Publish count frames at up to args.rate, each with the next stamp."""
        started, first = time.monotonic(), self.published
        for i in range(count):
            self.published += 1
            self.frame.header.stamp.sec = self.published
            self.publisher.publish(self.frame)
            delay = started + (i + 1) / self.args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        assert self.published - first == count

    def make_calls(self, count: int, frames: int, first_frame: int) -> None:
        """Make count calls spread over the next frames frames (every tenth meets a fault)."""
        for i in range(count):
            while self.published < first_frame + (i + 1) * frames // count:
                time.sleep(0.002)
            fault = i % 10 == 9
            self.server.state = FAULTS[(i // 10) % len(FAULTS)] if fault else ServerState()
            future = self.client.call_async(DescribeScene.Request(prompt=f'soak {i}'))
            deadline = time.monotonic() + 30.0
            while not future.done() and time.monotonic() < deadline:
                time.sleep(0.001)
            self.server.state = ServerState()
            answer = future.result() if future.done() else None
            if answer is not None and answer.success != fault:
                self.calls['failed as injected' if fault else 'ok'] += 1
                if answer.image_stamp.sec > self._last_stamp:
                    self.calls['fresh frame'] += 1
                self._last_stamp = max(self._last_stamp, answer.image_stamp.sec)
            else:
                self.calls['unexpected'] += 1
                self.unexpected.append(f'call {i}: ' + (
                    'no answer in 30 s' if answer is None else
                    f'success={answer.success} error={answer.error!r}'))

    def run_phase(self, frames: int, calls: int) -> float:
        started = time.monotonic()
        caller = threading.Thread(target=self.make_calls,
                                  args=(calls, frames, self.published))
        caller.start()
        self.publish_frames(frames)
        caller.join()
        return time.monotonic() - started

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self) -> None:
        if self.node_process.poll() is None:
            self.node_process.send_signal(signal.SIGINT)
            try:
                self.node_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.node_process.kill()
                self.node_process.wait()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()
        self.server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--frames', type=int, default=20000)
    parser.add_argument('--calls', type=int, default=1000)
    parser.add_argument('--warmup-frames', type=int, default=5000)
    parser.add_argument('--warmup-calls', type=int, default=250)
    parser.add_argument('--rate', type=float, default=150.0, help='most frames per second')
    args = parser.parse_args()

    soak = Soak(args)
    try:
        soak.wait_ready()
        warmup_s = soak.run_phase(args.warmup_frames, args.warmup_calls)
        time.sleep(2.0)  # let captions and connections settle
        before = snapshot(soak.psutil_process)
        counted = dict(soak.calls)
        soak.unexpected.clear()  # only the soak's own calls count
        # In quarters, so the table shows whether memory levels off or keeps climbing.
        soak_s, trend = 0.0, []
        for _ in range(4):
            soak_s += soak.run_phase(args.frames // 4, args.calls // 4)
            trend.append(snapshot(soak.psutil_process)['rss'])
        time.sleep(2.0)
        after = snapshot(soak.psutil_process)
        alive = soak.node_process.poll() is None
    finally:
        soak.close()

    calls = {k: v - counted[k] for k, v in soak.calls.items()}
    rss_growth = after['rss'] - before['rss']
    checks = {
        'rss': rss_growth < RSS_GROWTH_LIMIT_MB,
        'threads': after['threads'] <= before['threads'],
        'fds': after['fds'] <= before['fds'],
    }
    print(f'warm-up: {args.warmup_frames} frames, {args.warmup_calls} calls in {warmup_s:.0f} s; '
          f'soak: {args.frames} frames 640x480 rgb8 at {args.frames / soak_s:.0f} Hz and '
          f'{args.calls} describe_scene calls in {soak_s:.0f} s; captions every 1 s')
    print(f"soak calls: {calls['ok']} succeeded, {calls['failed as injected']} failed as "
          f"injected (HTTP 500 / not JSON / cut mid-reply), {calls['unexpected']} unexpected; "
          f"{calls['fresh frame']} described a newer frame than the call before\n")
    print('| node process | after warm-up | end | change | pass |')
    print('|---|---|---|---|---|')
    print(f"| RSS (MB) | {before['rss']:.1f} | {after['rss']:.1f} | {rss_growth:+.1f} | "
          f"{'yes' if checks['rss'] else 'NO'} (< +{RSS_GROWTH_LIMIT_MB:g}) |")
    for key, label in (('threads', 'threads'), ('fds', 'open fds')):
        print(f'| {label} | {before[key]} | {after[key]} | {after[key] - before[key]:+d} | '
              f"{'yes' if checks[key] else 'NO'} (no growth) |")
    print('\nRSS (MB) after each quarter of the soak: '
          + ', '.join(f'{rss:.1f}' for rss in trend))
    for line in soak.unexpected[:10]:
        print(f'unexpected: {line}')
    if not alive:
        print('vlm_node died during the soak; its output:\n' + soak.output()[-3000:])
    ok = all(checks.values()) and alive and not soak.unexpected
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
