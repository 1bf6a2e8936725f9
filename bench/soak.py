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
Soak vlm_node at 1080p30: frames, captions and requests for a long time; check it holds steady.

A camera process (camera_publisher.py) sends 1920x1080 rgb8 frames at 30 Hz to vlm_node (a
process, captions every second, the caption_image on, the defaults otherwise: a 32-frame
history over 10 s), both over the package's shared-memory Fast DDS profile for large frames
(as the bench). This process serves a loopback fake VLM server and calls describe_scene
about once a second: the latest frame, 4 frames spread over the history, 3 frames 1 s
apart, and every tenth call meets a server fault (HTTP 500, a reply that is not JSON, a
connection cut mid-reply). The node's RSS, threads and open file descriptors are sampled
every 10 s. Verdict: RSS grew by less than 20 MB from the end of the first 2 minutes to the
end, threads and fds did not grow, and no call failed that should not have; exit 1 if not.

    bash scripts/soak.sh            (20 minutes; or, set up: python bench/soak.py)
    bash scripts/soak.sh --minutes 4 --csv soak.csv
"""

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import BENCH_DIR, Child, setup_environment  # noqa: E402 - after sys.path
setup_environment()

from fake_vlm_server import FakeVlmServer, ServerState  # noqa: E402 - after sys.path
from jetson_vlm_interfaces.srv import DescribeScene  # noqa: E402
import psutil  # noqa: E402
import rclpy  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402

RSS_GROWTH_LIMIT_MB = 20.0
FAULTS = [ServerState(behaviour='status', status=500), ServerState(behaviour='not_json'),
          ServerState(behaviour='cut_mid_reply')]
# (num_frames, frame_interval): the latest frame, 4 spread over the history, 3 one second apart.
REQUESTS = [(1, 0.0), (4, 0.0), (1, 0.0), (3, 1.0)]


def snapshot(process: psutil.Process, started: float) -> dict[str, float]:
    """Return seconds since start, the node's RSS (MB), threads, open fds and CPU seconds."""
    cpu = process.cpu_times()
    return {'t': time.monotonic() - started, 'rss': process.memory_info().rss / 2**20,
            'threads': process.num_threads(), 'fds': process.num_fds(),
            'cpu': cpu.user + cpu.system}


class Soak:
    """The node and camera processes, the fake server and a caller in this process."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server = FakeVlmServer().start()
        namespace = f'/soak{os.getpid()}'
        self.log = tempfile.TemporaryFile('w+')
        # node_probe.py runs vlm_node's main() and prints the node's frame count at exit.
        self.node_process = subprocess.Popen(
            [sys.executable, os.path.join(BENCH_DIR, 'node_probe.py'), '--ros-args',
             '-r', f'__ns:={namespace}', '-p', f'base_url:={self.server.base_url}',
             '-p', 'caption_period:=1.0', '-p', 'request_timeout:=10.0'],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.psutil_process = psutil.Process(self.node_process.pid)
        seconds = args.minutes * 60 + 120  # outlives the soak; stopped at its end
        self.camera = Child([os.path.join(BENCH_DIR, 'camera_publisher.py'),
                             '--topic', f'{namespace}/image', '--width', '1920',
                             '--height', '1080', '--rate', '30', '--warmup', '0',
                             '--seconds', str(seconds)], 'camera')
        rclpy.init()
        self.node = Node('soak', namespace=namespace)
        self.client = self.node.create_client(DescribeScene, 'describe_scene')
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self.spinner.start()
        self.stop = threading.Event()
        self.calls = {'ok': 0, 'failed as injected': 0, 'unexpected': 0, 'fresh frame': 0,
                      'multi-frame ok': 0}
        self.unexpected: list[str] = []
        self._last_stamp = (-1, -1)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60.0
        while not self.client.wait_for_service(timeout_sec=0.5):
            if time.monotonic() > deadline or self.node_process.poll() is not None:
                raise RuntimeError('vlm_node did not come up; its output:\n' + self.output())
        self.camera.wait_event(lambda e: e.get('event') == 'matched', 60.0)

    def call(self, i: int) -> None:
        """Make call i (every tenth meets a fault) and count how it went."""
        fault = i % 10 == 9
        num_frames, interval = REQUESTS[i % len(REQUESTS)]
        self.server.state = FAULTS[(i // 10) % len(FAULTS)] if fault else ServerState()
        prompt = f'soak call {i}.'
        future = self.client.call_async(DescribeScene.Request(
            prompt=prompt, num_frames=num_frames, frame_interval=interval))
        deadline = time.monotonic() + 60.0
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.server.state = ServerState()
        answer: Optional[DescribeScene.Response] = future.result() if future.done() else None
        # The images the server saw for this call (captions' requests interleave).
        seen = [r for r in self.server.requests if any(prompt in t for t in r.texts)]
        self.server.requests.clear()  # the server keeps every request otherwise
        images = len(seen[-1].images) if seen else 0
        if answer is None or answer.success == fault:
            self.calls['unexpected'] += 1
            self.unexpected.append(f'call {i} ({num_frames} frames): ' + (
                'no answer in 60 s' if answer is None else
                f'success={answer.success} error={answer.error!r}'))
            return
        self.calls['failed as injected' if fault else 'ok'] += 1
        if not fault and num_frames > 1:
            if images == num_frames == len(answer.image_stamps):
                self.calls['multi-frame ok'] += 1
            else:
                self.calls['unexpected'] += 1
                self.unexpected.append(f'call {i}: asked {num_frames} frames, server saw '
                                       f'{images}, stamps {len(answer.image_stamps)}')
        stamp = (answer.image_stamp.sec, answer.image_stamp.nanosec)
        if stamp > self._last_stamp:
            self.calls['fresh frame'] += 1
        self._last_stamp = max(self._last_stamp, stamp)

    def make_calls(self) -> None:
        """Call about every args.call_period seconds until stopped."""
        i = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            self.call(i)
            i += 1
            next_at = max(next_at + self.args.call_period, time.monotonic())
            self.stop.wait(next_at - time.monotonic())

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def close(self) -> None:
        self.stop.set()
        self.camera.stop()
        if self.node_process.poll() is None:
            self.node_process.send_signal(signal.SIGINT)
            try:
                self.node_process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.node_process.kill()
                self.node_process.wait()
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()
        self.server.stop()


def at(samples: list[dict[str, float]], seconds: float) -> dict[str, float]:
    """Return the first sample taken at or after seconds (the last one if none)."""
    return next((s for s in samples if s['t'] >= seconds), samples[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--minutes', type=float, default=20.0, help='length of the soak')
    parser.add_argument('--settle-minutes', type=float, default=2.0,
                        help='growth is measured from here to the end')
    parser.add_argument('--call-period', type=float, default=1.0,
                        help='seconds between describe_scene calls')
    parser.add_argument('--sample-period', type=float, default=10.0)
    parser.add_argument('--csv', help='write every sample to this file')
    args = parser.parse_args()

    soak = Soak(args)
    caller = threading.Thread(target=soak.make_calls, daemon=True)
    try:
        soak.wait_ready()
        started = time.monotonic()
        caller.start()
        samples = [snapshot(soak.psutil_process, started)]
        end = started + args.minutes * 60
        while time.monotonic() < end and soak.node_process.poll() is None:
            time.sleep(min(args.sample_period, max(0.0, end - time.monotonic())))
            samples.append(snapshot(soak.psutil_process, started))
            print('t={t:.0f}s rss={rss:.1f}MB threads={threads} fds={fds} '
                  'cpu={cpu:.0f}s'.format(**samples[-1]), flush=True)
        soak.stop.set()
        caller.join(90.0)
        alive = soak.node_process.poll() is None
    finally:
        soak.close()
    sent = (soak.camera.events[-1] if soak.camera.events else {}).get('sent', 0)
    received = next((json.loads(line)['received'] for line in soak.output().splitlines()
                     if line.startswith('{"received"')), -1)

    if args.csv:
        with open(args.csv, 'w', newline='') as out:
            writer = csv.DictWriter(out, fieldnames=list(samples[0]))
            writer.writeheader()
            writer.writerows(samples)
    settled, last = at(samples, args.settle_minutes * 60), samples[-1]
    later = [s for s in samples if s['t'] >= settled['t']]
    growth = last['rss'] - settled['rss']
    checks = {
        'rss': growth < RSS_GROWTH_LIMIT_MB,
        'threads': last['threads'] <= settled['threads'],
        'fds': last['fds'] <= settled['fds'],
    }
    calls = soak.calls
    cpu_per_s = (last['cpu'] - settled['cpu']) / max(1e-9, last['t'] - settled['t'])
    print(f"\nsoak: {last['t'] / 60:.1f} min of 1920x1080 rgb8 at 30 Hz ({sent} frames sent, "
          f'{received} received by the node), '
          f'captions every 1 s, a describe_scene call every {args.call_period:g} s '
          f'(latest / 4 frames over the history / 3 frames 1 s apart); node CPU '
          f'{cpu_per_s:.2f} s/s after {args.settle_minutes:g} min; load average '
          + ' '.join(f'{v:.1f}' for v in os.getloadavg()) + f' on {os.cpu_count()} CPUs')
    print(f"calls: {calls['ok']} succeeded ({calls['multi-frame ok']} multi-frame, each with "
          f"its frames), {calls['failed as injected']} failed as injected (HTTP 500 / not "
          f"JSON / cut mid-reply), {calls['unexpected']} unexpected; {calls['fresh frame']} "
          'described a newer frame than the call before\n')
    print(f"| node process | at {settled['t'] / 60:.1f} min | highest after | "
          f"end ({last['t'] / 60:.1f} min) | change | pass |")
    print('|---|---|---|---|---|---|')
    print(f"| RSS (MB) | {settled['rss']:.1f} | {max(s['rss'] for s in later):.1f} | "
          f"{last['rss']:.1f} | {growth:+.1f} | "
          f"{'yes' if checks['rss'] else 'NO'} (< +{RSS_GROWTH_LIMIT_MB:g}) |")
    for key, label in (('threads', 'threads'), ('fds', 'open fds')):
        print(f'| {label} | {settled[key]} | {max(s[key] for s in later)} | {last[key]} | '
              f"{last[key] - settled[key]:+d} | {'yes' if checks[key] else 'NO'} (no growth) |")
    step = max(1, len(samples) // 10)
    shown = samples[::step] + ([last] if (len(samples) - 1) % step else [])
    print('\nRSS (MB) over time: ' + ', '.join(
        f"{s['t'] / 60:.1f} min {s['rss']:.0f}" for s in shown))
    for line in soak.unexpected[:10]:
        print(f'unexpected: {line}')
    if not alive:
        print('vlm_node died during the soak; its output:\n' + soak.output()[-3000:])
    ok = all(checks.values()) and alive and not soak.unexpected
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
