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
The jetson_vlm_ros bench: one command, one Markdown table (see bench/README.md).

Run with `bash scripts/bench.sh` (set-up included) or, in a shell where
`. .venv/bin/activate && . install/setup.bash` ran, `python bench/run_bench.py`.
Every figure is a ratio against a baseline measured in the same run, so that a busy
machine moves both sides.
"""

import argparse
from dataclasses import dataclass
import os
import sys
import time
from typing import Callable, TYPE_CHECKING

import common
from common import Child, median, node_args, percentile
import watch_bench
import gateway_bench
import startup_bench

common.setup_environment()

if TYPE_CHECKING:
    import numpy as np


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


def fake_server_class() -> type:
    """Return the test suite's FakeVlmServer (jetson_vlm_ros/test/fake_vlm_server.py)."""
    from fake_vlm_server import FakeVlmServer
    return FakeVlmServer


# --- 1. idle cost ------------------------------------------------------------------------

def start_node_and_bare_counter(topic: str, base_url: str,
                                *params: str) -> tuple[Child, Child]:
    """Start vlm_node (no captions) and the bare baseline node on the same camera topic."""
    node = Child(node_args(topic, base_url, 'caption_period:=0.0', *params), 'vlm_node')
    bare = Child([os.path.join(common.BENCH_DIR, 'bare_counter.py'), '--topic', topic],
                 'bare counter')
    return node, bare


def bench_idle(seconds: float) -> list[Row]:
    """CPU of vlm_node vs a bare counting node, both on a 1080p 30 Hz stream, no requests."""
    topic = f'/bench_idle_{os.getpid()}/image'
    with fake_server_class()() as server:
        node, bare = start_node_and_bare_counter(topic, server.base_url)
        camera = None
        try:
            node.wait_line('describing', 60.0)
            camera = Child([os.path.join(common.BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--subscribers', '2', '--warmup', '3',
                            '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            before = [c.cpu_seconds() for c in (node, bare, camera)]
            wall = time.monotonic()
            done = camera.wait_event(lambda e: e.get('event') == 'done', seconds + 30.0)
            after = [c.cpu_seconds() for c in (node, bare, camera)]
            wall = time.monotonic() - wall
        finally:
            if camera is not None:
                camera.stop()
            node_report = node.stop() or {}
            bare_report = bare.stop() or {}
    node_cpu, bare_cpu, camera_cpu = (a - b for a, b in zip(after, before, strict=True))
    sent = done['sent']
    node_frames = node_report.get('received', -1)
    bare_frames = bare_report.get('received', -1)
    ratio = node_cpu / bare_cpu if bare_cpu > 0 else float('inf')
    enough = min(node_frames, bare_frames) >= 0.5 * sent
    return [
        Row(f'1. idle CPU, 1920x1080 rgb8 @30 Hz, {seconds:g} s (vlm_node vs bare rclpy node)',
            f'{node_cpu:.2f} s CPU', f'{bare_cpu:.2f} s CPU', f'{ratio:.2f}', '<= 1.15',
            verdict(ratio <= 1.15 and enough)),
        Row('1. frames received of sent (whole stream incl. 3 s warm-up)',
            f'{node_frames}/{sent}', f'{bare_frames}/{sent}',
            f'{node_frames / max(1, bare_frames):.2f}', '>= 50% of sent each',
            verdict(enough)),
        Row('1. publisher CPU in the window (for scale)', f'{camera_cpu:.2f} s CPU',
            f'{wall:.1f} s wall', f'{camera_cpu / wall:.2f} cores', '-', 'info'),
        *executor_wake_cost(),
    ]


def entity_count(node: object) -> int:
    """Return how many entities of node an executor puts in its wait set on each wake."""
    return sum(len(list(getattr(node, kind)))
               for kind in ('subscriptions', 'services', 'timers', 'waitables', 'guards'))


def executor_wake_cost(rounds: int = 7, spins: int = 1000) -> list[Row]:
    """
    CPU of one executor wake with nothing ready (spin_once(0)): vlm_node vs a bare node.

    The executor walks every entity of its nodes on each wake, twice per camera frame. In
    this process, in rclpy's own context, best of `rounds` runs of `spins` wakes each.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from jetson_vlm_ros.vlm_node import VlmNode
    with fake_server_class()() as server:
        context = rclpy.Context()
        rclpy.init(context=context)
        try:
            bare = Node('bench_bare_wake', context=context)
            bare.create_subscription(Image, 'image', lambda msg: None, qos_profile_sensor_data)
            bare_executor = SingleThreadedExecutor(context=context)
            bare_executor.add_node(bare)
            node = VlmNode(context=context, parameter_overrides=[
                Parameter('base_url', value=server.base_url),
                Parameter('caption_period', value=0.0)])
            node_executor = node.make_executor(context=context)
            entities, bare_entities = (entity_count(n) for n in (node, bare))
            best = [float('inf'), float('inf')]
            for _ in range(rounds):
                for index, executor in enumerate((node_executor, bare_executor)):
                    start = time.thread_time()
                    for _ in range(spins):
                        executor.spin_once(timeout_sec=0.0)
                    best[index] = min(best[index], (time.thread_time() - start) / spins)
            node_executor.shutdown()
            bare_executor.shutdown()
            node.destroy_node()
            bare.destroy_node()
        finally:
            rclpy.try_shutdown(context=context)
    return [Row(
        f'1. one executor wake with nothing ready, vlm_node ({entities} entities) vs bare node '
        f'({bare_entities}), best of {rounds} x {spins} (twice per camera frame; was 306-333 us '
        f"with rclpy's default QoS-event handlers on the node's publishers)",
        f'{best[0] * 1e6:.0f} us', f'{best[1] * 1e6:.0f} us', f'{best[0] / best[1]:.2f}', '-',
        'info')]


# --- 2. request preparation --------------------------------------------------------------

def scene(width: int, height: int) -> 'np.ndarray':
    """A camera-like RGB frame: the demo scene plus sensor noise (not flat, not random)."""
    import numpy as np
    from jetson_vlm_ros.demo_camera import draw_scene
    rgb = draw_scene(width, height, 3.0).astype(np.int16)
    noise = np.random.default_rng(1).normal(0, 4, rgb.shape).astype(np.int16)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def image_message(rgb: 'np.ndarray', encoding: str) -> object:
    """A sensor_msgs/msg/Image built as rclpy builds received ones (data: array.array)."""
    import numpy as np
    from sensor_msgs.msg import Image
    pixels = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'mono8': rgb[:, :, 0]}[encoding]
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                 step=pixels.strides[0], data=pixels.tobytes())


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


def bench_preparation(repeat: int) -> list[Row]:
    """Frame message -> request data URL, vs naive full-size PNG and vs the resize+encode floor."""
    import base64
    import io

    import cv2
    from jetson_vlm_ros.image_encoding import encode_image_message, fit_within, resize_to_fit
    import numpy as np
    from PIL import Image as PilImage

    def naive(pixels: np.ndarray) -> str:
        buffer = io.BytesIO()
        PilImage.fromarray(pixels).save(buffer, 'PNG')
        return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')

    def floor(pixels: np.ndarray, size: tuple[int, int]) -> bytes:
        small = cv2.resize(pixels, size)
        return cv2.imencode('.jpg', small, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()

    rows = []
    for width, height in ((640, 480), (1280, 720), (1920, 1080), (3840, 2160)):
        rgb = scene(width, height)
        target = fit_within(width, height, 896)
        for encoding in ('rgb8', 'bgr8', 'mono8'):
            msg = image_message(rgb, encoding)
            array = np.frombuffer(bytes(msg.data), np.uint8).reshape(
                height, width, -1).squeeze()
            ours = timed(lambda m=msg: encode_image_message(m, 896, 85).data_url(), repeat)
            base = timed(lambda a=array, t=target: floor(a, t), repeat)
            is_target = (width, height, encoding) == (1920, 1080, 'rgb8')
            rows.append(Row(
                f'2. prepare {width}x{height} {encoding} -> 896 JPEG URL vs floor '
                f'(1 resize + 1 imencode)', f'{ours * 1e3:.2f} ms', f'{base * 1e3:.2f} ms',
                f'{ours / base:.2f}x floor', '<= 1.5x' if is_target else '-',
                verdict(ours / base <= 1.5) if is_target else 'info'))
            if encoding == 'rgb8':
                slow = timed(lambda a=array: naive(a), repeat if width < 3840 else 10)
                rows.append(Row(
                    f'2. prepare {width}x{height} rgb8 vs naive full-size Pillow PNG + base64'
                    + (' (median of 10)' if width >= 3840 else ''),
                    f'{ours * 1e3:.2f} ms', f'{slow * 1e3:.1f} ms',
                    f'{slow / ours:.0f}x faster', '>= 30x' if is_target else '-',
                    verdict(slow / ours >= 30) if is_target else 'info'))
    rgb = scene(1920, 1080)
    area = timed(lambda: cv2.resize(rgb, (896, 504), interpolation=cv2.INTER_AREA), repeat)
    linear = timed(lambda: cv2.resize(rgb, (896, 504), interpolation=cv2.INTER_LINEAR), repeat)
    ours = timed(lambda: resize_to_fit(rgb, 896), repeat)
    rows.append(Row('2. resize 1920x1080 rgb8 -> 896x504: one INTER_AREA vs INTER_LINEAR',
                    f'{area * 1e3:.2f} ms', f'{linear * 1e3:.2f} ms',
                    f'{area / linear:.2f}x', '-', 'info'))
    rows.append(Row('2. same resize, ours (2x INTER_AREA halving + INTER_LINEAR, '
                    'anti-aliased) vs INTER_LINEAR', f'{ours * 1e3:.2f} ms',
                    f'{linear * 1e3:.2f} ms', f'{ours / linear:.2f}x', '-', 'info'))
    return rows


# --- 3./4./6. the node as a process, the bench as client -----------------------------------

class Client:
    """An rclpy node in this process with DescribeScene clients, spun on a thread."""

    def __init__(self, clients: int) -> None:
        import threading

        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from jetson_vlm_interfaces.srv import DescribeScene
        self.srv = DescribeScene
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f'bench_client_{os.getpid()}', context=self.context)
        self.clients = [self.node.create_client(DescribeScene, 'describe_scene')
                        for _ in range(clients)]
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, index: int = 0, timeout: float = 30.0) -> tuple[object, float]:
        """Call describe_scene; return (response, seconds from send to answer)."""
        import threading
        client = self.clients[index]
        done = threading.Event()
        start = time.perf_counter()
        future = client.call_async(self.srv.Request())
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise RuntimeError('describe_scene did not answer')
        return future.result(), time.perf_counter() - start

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the service and for a first successful description."""
        deadline = time.monotonic() + timeout
        for client in self.clients:
            if not client.wait_for_service(timeout_sec=timeout):
                raise RuntimeError('describe_scene not available')
        while True:
            response, _ = self.call()
            if response.success:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f'no successful call: {response.error}')
            time.sleep(0.2)

    def close(self) -> None:
        """Tear down."""
        import rclpy
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class NodeSetup:
    """vlm_node (subprocess) on a camera (subprocess) and a FakeVlmServer (in this process)."""

    def __init__(self, delay: float, clients: int = 1, width: int = 1920,
                 height: int = 1080, rate: float = 10.0, *params: str) -> None:
        self.server = fake_server_class()().start()
        self.server.state.delay = delay
        self.topic = f'/bench_{os.getpid()}_{int(time.monotonic() * 1000)}/image'
        self.node = Child(node_args(self.topic, self.server.base_url, 'caption_period:=0.0',
                                    *params), 'vlm_node')
        self.camera: Child | None = None
        self.client: Client | None = None
        try:
            self.node.wait_line('describing', 60.0)
            self.camera = Child(
                [os.path.join(common.BENCH_DIR, 'camera_publisher.py'), '--topic', self.topic,
                 '--width', str(width), '--height', str(height), '--rate', str(rate),
                 '--warmup', '0', '--seconds', '600'], 'camera')
            self.camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            if clients:
                self.client = Client(clients)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Stop everything."""
        if self.client is not None:
            self.client.close()
        if self.camera is not None:
            self.camera.stop()
        self.node.stop()
        self.server.stop()


def bench_round_trip(calls: int) -> list[Row]:
    """describe_scene latency at the client minus the server's own time, 1080p frames."""
    import fake_vlm_server
    decode_times: list[float] = []
    original = fake_vlm_server.decode_data_url

    def timed_decode(url: str) -> object:
        start = time.perf_counter()
        try:
            return original(url)
        finally:
            decode_times.append(time.perf_counter() - start)

    fake_vlm_server.decode_data_url = timed_decode
    setup = NodeSetup(0.2)
    try:
        assert setup.client is not None
        setup.client.wait_ready()
        overheads = []
        sizes = set()
        for _ in range(calls):
            decode_times.clear()
            response, seconds = setup.client.call()
            if not response.success:
                raise RuntimeError(response.error)
            sizes.add(response.description.split(' ')[0])
            overheads.append(seconds - 0.2 - sum(decode_times))
    finally:
        setup.close()
        fake_vlm_server.decode_data_url = original
    mid, p95 = median(overheads), percentile(overheads, 0.95)
    return [
        Row(f'3. round-trip overhead, median of {calls} (1920x1080 rgb8, server delay 0.2 s; '
            f'server saw {"/".join(sorted(sizes))})', f'{mid * 1e3:.1f} ms', '0.2 s delay',
            f'{mid / 0.2:.3f} of delay', '<= 15 ms', verdict(mid <= 0.015)),
        Row(f'3. round-trip overhead, p95 of {calls}', f'{p95 * 1e3:.1f} ms', '0.2 s delay',
            f'{p95 / 0.2:.3f} of delay', '<= 40 ms', verdict(p95 <= 0.040)),
    ]


def throughput(limit: int, total: int, clients: int = 4, delay: float = 0.5) -> float:
    """Successful describe_scene calls per second with `clients` callers retrying when busy."""
    import threading
    setup = NodeSetup(delay, clients, 1920, 1080, 10.0, f'max_concurrent_requests:={limit}')
    try:
        assert setup.client is not None
        setup.client.wait_ready()
        lock = threading.Lock()
        state = {'ok': 0, 'busy': 0}
        errors: list[str] = []

        def caller(index: int) -> None:
            while True:
                with lock:
                    if state['ok'] >= total:
                        return
                response, _ = setup.client.call(index)
                with lock:
                    if response.success:
                        state['ok'] += 1
                    elif response.error.startswith('busy'):
                        state['busy'] += 1
                    else:
                        errors.append(response.error)
                        return
                if not response.success:
                    time.sleep(0.02)

        threads = [threading.Thread(target=caller, args=(i,)) for i in range(clients)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(errors[0])
        return state['ok'] / elapsed
    finally:
        setup.close()


def bench_overlap(total: int) -> list[Row]:
    """4 clients, server 0.5 s: throughput vs the ideal 8 calls/s, limit 4 and limit 1."""
    ideal = 4 / 0.5
    four = throughput(4, total)
    one = throughput(1, total // 2)
    return [
        Row(f'4. overlap: {total} calls, 4 clients, max_concurrent_requests 4, server 0.5 s',
            f'{four:.2f} calls/s', f'{ideal:g} calls/s (ideal)', f'{four / ideal:.2f}',
            '>= 0.9', verdict(four / ideal >= 0.9)),
        Row(f'4. same with max_concurrent_requests 1 ({total // 2} calls): must serialise',
            f'{one:.2f} calls/s', f'{ideal:g} calls/s (ideal)', f'{one / ideal:.2f}',
            '~0.25 (0.2-0.27)', verdict(0.2 <= one / ideal <= 0.27)),
    ]


# --- 5. compressed input -------------------------------------------------------------------

def bench_compressed(repeat: int) -> list[Row]:
    """A 1080p JPEG (decode+resize+encode) vs a JPEG already within 896 (pass-through)."""
    import cv2
    from jetson_vlm_ros import image_encoding
    encode = getattr(image_encoding, 'encode_compressed_message', None)
    if encode is None:
        return [Row('5. compressed input', 'encode_compressed_message not there yet', '-',
                    '-', '>= 10x', 'FAIL')]
    from sensor_msgs.msg import CompressedImage
    big = scene(1920, 1080)[:, :, ::-1]
    small = cv2.resize(big, (896, 504), interpolation=cv2.INTER_AREA)
    messages = []
    for pixels in (big, small):
        jpeg = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        messages.append(CompressedImage(format='jpeg', data=jpeg))
    full = timed(lambda: encode(messages[0], 896, 85).data_url(), repeat)
    passed = timed(lambda: encode(messages[1], 896, 85).data_url(), repeat)
    return [Row('5. compressed: 896x504 JPEG pass-through vs 1920x1080 JPEG decode+resize+'
                'encode (incl. data URL)', f'{passed * 1e3:.3f} ms', f'{full * 1e3:.2f} ms',
                f'{full / passed:.0f}x faster', '>= 10x', verdict(full / passed >= 10))]


# --- 6. memory per frame -------------------------------------------------------------------

def peak_rss(width: int, height: int, seconds: float) -> tuple[float, float, int, int]:
    """Peak RSS (bytes) of vlm_node and of the bare counter on one stream, and frames each."""
    import psutil
    topic = f'/bench_mem_{os.getpid()}_{width}/image'
    with fake_server_class()() as server:
        # history_size 1: the frames held beyond the history (figure 7 measures the history).
        node, bare = start_node_and_bare_counter(topic, server.base_url, 'history_size:=1')
        camera = None
        peaks = [0.0, 0.0]
        try:
            node.wait_line('describing', 60.0)
            camera = Child([os.path.join(common.BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--width', str(width), '--height', str(height),
                            '--rate', '10', '--subscribers', '2', '--warmup', '0',
                            '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            while camera.popen.poll() is None:
                for i, child in enumerate((node, bare)):
                    try:
                        peaks[i] = max(peaks[i], child.process.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.02)
        finally:
            if camera is not None:
                camera.stop()
            node_report = node.stop() or {}
            bare_report = bare.stop() or {}
    return peaks[0], peaks[1], node_report.get('received', -1), bare_report.get('received', -1)


def bench_memory(seconds: float) -> list[Row]:
    """(peak RSS with 4K frames - with 640x480 frames) / 4K frame size = frames held."""
    big_node, big_bare, big_n, big_b = peak_rss(3840, 2160, seconds)
    small_node, small_bare, small_n, small_b = peak_rss(640, 480, seconds)
    frame = 3840 * 2160 * 3 - 640 * 480 * 3
    held_node = (big_node - small_node) / frame
    held_bare = (big_bare - small_bare) / frame
    return [Row(f'6. frames held: (peak RSS 3840x2160 - 640x480 rgb8 @10 Hz, {seconds:g} s) / '
                f'frame size (vlm_node with history_size 1 received {big_n}, {small_n}; '
                f'bare {big_b}, {small_b})',
                f'{held_node:.1f} frames ({(big_node - small_node) / 2**20:.0f} MiB)',
                f'{held_bare:.1f} frames (bare node)',
                f'{held_node - held_bare:+.1f} frames',
                'node - bare <= 2 frames (the latest frame it keeps + one in delivery)',
                verdict(held_node - held_bare <= 2 and big_n > 0))]


# --- 11. beyond one frame: history, multi-frame preparation, caption gating -----------------

def bench_history(seconds: float) -> list[Row]:
    """
    Two vlm_nodes on one 1080p 30 Hz stream, history_size 32 vs 1: CPU and RSS; and the
    first's RSS vs a bare subscriber's on the same stream.
    """
    import psutil
    topic = f'/bench_history_{os.getpid()}/image'
    sizes = (32, 1)
    with fake_server_class()() as server:
        nodes = [Child(node_args(topic, server.base_url, 'caption_period:=0.0',
                                 f'history_size:={size}'), f'vlm_node history_size {size}')
                 for size in sizes]
        nodes.append(Child([os.path.join(common.BENCH_DIR, 'bare_counter.py'), '--topic',
                            topic], 'bare counter'))
        camera = None
        samples: list[list[float]] = [[], [], []]
        try:
            for node in nodes[:2]:
                node.wait_line('describing', 60.0)
            camera = Child([os.path.join(common.BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--subscribers', '3', '--warmup', '3',
                            '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            before = [node.cpu_seconds() for node in nodes]
            faults_before = [minor_faults(node.popen.pid) for node in nodes]
            while camera.popen.poll() is None:
                for index, node in enumerate(nodes):
                    try:
                        samples[index].append(node.process.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.05)
            after = [node.cpu_seconds() for node in nodes]
            faults = [minor_faults(node.popen.pid) - faults_before[index]
                      for index, node in enumerate(nodes)]
        finally:
            if camera is not None:
                camera.stop()
            reports = [node.stop() or {} for node in nodes]
    cpu = [a - b for a, b in zip(after, before, strict=True)]
    received = [report.get('received', -1) for report in reports]
    ratio = cpu[0] / cpu[1] if cpu[1] > 0 else float('inf')
    # Steady state: the median over the second half of the stream (the ring is full by then).
    rss = [median(values[len(values) // 2:]) for values in samples]
    frame = 1920 * 1080 * 3
    extra = (rss[0] - rss[1]) / frame
    received_frame = received_frame_bytes(1920, 1080)
    extra_received = (rss[0] - rss[1]) / received_frame
    # What the history stores per frame: the camera's frame as a request would send it.
    from camera_publisher import make_message
    from jetson_vlm_ros.image_encoding import encode_image_message
    jpeg = len(encode_image_message(make_message(1920, 1080, 'rgb8'), 896, 85).jpeg)
    history_budget = 32 * jpeg + 16 * 2**20
    node_vs_bare = rss[0] / rss[2]
    return [
        Row(f'12. RSS at 1920x1080 rgb8 @30 Hz, defaults (history_size 32 over 10 s), the '
            f'history filled (median of the second half of {seconds:g} s): vlm_node vs a bare '
            f'subscriber (bare_counter.py; received {received[0]}, {received[2]})',
            f'{rss[0] / 2**20:.0f} MiB', f'{rss[2] / 2**20:.0f} MiB', f'{node_vs_bare:.2f}',
            '<= 1.3', verdict(node_vs_bare <= 1.3)),
        Row(f'12. history memory: RSS with history_size 32 - with 1 vs 32 x the prepared JPEG '
            f'({jpeg / 1024:.0f} KiB: the camera sends random pixels, the worst case for '
            f'JPEG) + 16 MiB', f'{(rss[0] - rss[1]) / 2**20:.1f} MiB',
            f'{history_budget / 2**20:.1f} MiB', f'{(rss[0] - rss[1]) / history_budget:.2f}',
            '<= 1.0', verdict(rss[0] - rss[1] <= history_budget)),
        Row(f'11. history idle CPU, 1920x1080 rgb8 @30 Hz, {seconds:g} s: history_size 32 vs 1 '
            f'(received {received[0]}, {received[1]})', f'{cpu[0]:.2f} s CPU',
            f'{cpu[1]:.2f} s CPU', f'{ratio:.2f}', '<= 1.05',
            verdict(ratio <= 1.05 and min(received) > 0)),
        Row('11. history RSS: RSS with history_size 32 - with history_size 1 (median of the '
            'second half of the stream), in received 1080p rgb8 frames as rclpy holds them '
            f'({received_frame / 2**20:.2f} MiB each: the pixels and the 1/16 headroom of the '
            f'array rclpy copies them into; in bare pixels, {frame / 2**20:.2f} MiB each, '
            f'{extra:.1f} frames)',
            f'{extra_received:.1f} frames ({(rss[0] - rss[1]) / 2**20:.0f} MiB)',
            f'{rss[1] / 2**20:.0f} MiB (history_size 1)', f'{extra_received / 32:.2f} of 32',
            'was <= 32 frames (held raw)', 'info'),
        Row('11. history page faults per received frame, history_size 32 vs 1 (the cost the '
            'malloc settings in frame_memory.py remove; the ring fills during the first '
            f'{10:g} s)', f'{faults[0] / max(received[0], 1):.0f}',
            f'{faults[1] / max(received[1], 1):.0f}', '-',
            f'(a 1080p rgb8 frame is {frame // 4096} pages)', 'info'),
    ]


def received_frame_bytes(width: int, height: int) -> int:
    """Return the bytes a received rgb8 frame's message holds: rclpy's data array, allocated."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    sent = Image(width=width, height=height, encoding='rgb8', step=width * 3,
                 data=bytes(width * height * 3))
    # What a subscription hands over is deserialised the same way.
    return sys.getsizeof(deserialize_message(serialize_message(sent), Image).data)


def minor_faults(pid: int) -> int:
    """Return the minor page faults of a process so far (Linux /proc)."""
    with open(f'/proc/{pid}/stat') as stat:
        return int(stat.read().rsplit(')', 1)[1].split()[7])


def bench_frames(repeat: int) -> list[Row]:
    """Preparation of a 4-frame 1080p request vs 4 single-frame ones, and the gating check."""
    from concurrent.futures import ThreadPoolExecutor

    from jetson_vlm_ros.history_preparation import PreparedMessage
    from jetson_vlm_ros.image_encoding import encode_any_message, encode_image_message
    from jetson_vlm_ros.scene_change import SceneChangeGate
    from jetson_vlm_ros.scene_describer import Frame, SceneDescriber
    from jetson_vlm_ros.settings import DEFAULT_SETTINGS
    from jetson_vlm_ros.vlm_client import build_messages

    now = time.monotonic()
    frames = [Frame(image_message(scene(1920, 1080) if i == 0 else
                                  __import__('numpy').roll(scene(1920, 1080), 40 * i, axis=1),
                                  'rgb8'), now - 3 + i, i) for i in range(4)]
    describer = SceneDescriber('/bench', 1, encode_any_message)  # as vlm_node's encoder
    settings = DEFAULT_SETTINGS

    def prepare(chosen: list) -> object:
        request, _ = describer.prepare_request(chosen, 'What changed?', settings, now)
        return build_messages(request)

    four, singles, one = timed_alternately([
        lambda: prepare(frames), lambda: [prepare([frame]) for frame in frames],
        lambda: prepare(frames[-1:])], repeat)
    # As vlm_node's history holds them (history_preparation.py): all but the newest stored
    # prepared, once, when they were kept.
    stored = [Frame(PreparedMessage(frame.message.header, image.jpeg, image.width,
                                    image.height, settings.max_image_size,
                                    settings.jpeg_quality), frame.received_at, frame.sequence)
              for frame, image in ((f, describer.encode(f, settings, 'frame'))
                                   for f in frames[:-1])] + frames[-1:]
    four_stored, one_again = timed_alternately([
        lambda: prepare(stored), lambda: prepare(frames[-1:])], repeat)
    pool = ThreadPoolExecutor(2)

    def encode(frame: object) -> str:
        return encode_image_message(frame.message, 896, 85).data_url()

    threaded, serial = timed_alternately([
        lambda: list(pool.map(encode, frames)), lambda: [encode(frame) for frame in frames]],
        repeat)
    pool.shutdown()
    describer.close()

    gate = SceneChangeGate()
    gate.should_caption(frames[0].message, 0.02)
    gate.captioned()
    check = timed(lambda: gate.should_caption(frames[1].message, 0.02), repeat)
    return [
        Row('11. prepare a 4-frame 1920x1080 rgb8 request (encode + messages) vs 4 single-frame '
            'requests',
            f'{four * 1e3:.2f} ms', f'{singles * 1e3:.2f} ms', f'{four / singles:.2f}x',
            '<= 1.0x (no extra cost)', verdict(four / singles <= 1.0)),
        Row('12. prepare a 4-frame 1920x1080 rgb8 request from the history as vlm_node stores '
            'it (3 frames stored prepared, the latest raw) vs 1 single-frame request',
            f'{four_stored * 1e3:.2f} ms', f'{one_again * 1e3:.2f} ms',
            f'{four_stored / one_again:.2f}x', '<= 1.2x', verdict(four_stored / one_again <= 1.2)),
        Row('11. prepare a 4-frame 1920x1080 rgb8 request from 4 raw frames vs 1 single-frame '
            'request (before issue 18 the history held raw frames)',
            f'{four * 1e3:.2f} ms', f'{one * 1e3:.2f} ms', f'{four / one:.2f}x', '-', 'info'),
        Row('11. encode 4 1080p frames on a 2-thread pool vs one after the other (why the node '
            'encodes in parallel)', f'{threaded * 1e3:.2f} ms', f'{serial * 1e3:.2f} ms',
            f'{threaded / serial:.2f}x', '-', 'info'),
        Row('11. gating check per caption (1920x1080 rgb8 thumbnail + difference) vs preparing '
            'one frame', f'{check * 1e3:.3f} ms', f'{one * 1e3:.2f} ms',
            f'{check / one:.3f}x', '<= 2 ms median', verdict(check <= 0.002)),
    ]


FIGURES: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    'idle': lambda args: bench_idle(args.idle_seconds),
    'prepare': lambda args: bench_preparation(args.repeat),
    'roundtrip': lambda args: bench_round_trip(args.calls),
    'overlap': lambda args: bench_overlap(40),
    'memory': lambda args: bench_memory(6.0),
    'compressed': lambda args: bench_compressed(args.repeat),
    'streaming': lambda args: watch_bench.bench_streaming(Row, verdict, NodeSetup),
    'caption_image': lambda args: watch_bench.bench_caption_image(Row, verdict, args.repeat),
    'diagnostics': lambda args: watch_bench.bench_diagnostics(
        Row, verdict, fake_server_class(), args.idle_seconds),
    'gateway': lambda args: gateway_bench.bench_gateway(Row, verdict, args.calls // 2,
                                                             args.idle_seconds),
    'history': lambda args: bench_history(args.idle_seconds),
    'frames': lambda args: bench_frames(args.repeat),
    'startup': lambda args: startup_bench.bench_startup(Row, verdict, fake_server_class(), 10),
}


def print_table(rows: list[Row]) -> None:
    """Print the rows as one Markdown table."""
    print('| figure | measured | baseline | ratio | target | pass/fail |')
    print('|---|---|---|---|---|---|')
    for row in rows:
        print(f'| {row.figure} | {row.measured} | {row.baseline} | {row.ratio} | '
              f'{row.target} | {row.verdict} |')


def main() -> None:
    """Run the selected figures and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--only', nargs='*', choices=sorted(FIGURES), default=None)
    parser.add_argument('--idle-seconds', type=float, default=20.0)
    parser.add_argument('--repeat', type=int, default=50, help='timing runs per median')
    parser.add_argument('--calls', type=int, default=100, help='round-trip calls')
    args = parser.parse_args()
    started = time.monotonic()
    rows: list[Row] = []
    for name, figure in FIGURES.items():
        if args.only and name not in args.only:
            continue
        try:
            rows += figure(args)
        except Exception as error:  # noqa: B902 - one broken figure must not hide the others
            rows.append(Row(name, f'error: {error}'.replace('\n', ' ')[:300], '-', '-', '-',
                            'FAIL'))
    print_table(rows)
    print(f'\nwall time: {time.monotonic() - started:.0f} s; '
          f'FAIL rows: {sum(r.verdict == "FAIL" for r in rows)}')


if __name__ == '__main__':
    main()
