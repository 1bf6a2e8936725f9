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
Figure 13 of the bench: start-up time and the memory of a node that has just started.

Process start -> describe_scene available, vlm_node vs a minimal rclpy node with one
service (minimal_service.py, the floor), alternating, median of `runs`; process start ->
first caption; RSS with the gateway off vs on, and before vs after the first request.
"""

import argparse
import os
import threading
import time
from typing import Any, Callable

from common import BENCH_DIR, Child, fake_server_class, free_port, median, Row, verdict
from package_modules import PACKAGE_MODULES

NAME = 'startup'

# A frame for the requests and captions here: small, so that the RSS rows measure the node
# and not received frames (figure 11 measures those).
FRAME_SIZE = (640, 480)


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_startup(10)


class _Bench:
    """An rclpy node of the bench process: service clients, a camera, a caption listener."""

    def __init__(self) -> None:
        import numpy as np
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.node import Node
        from sensor_msgs.msg import Image
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node('startup_bench', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        width, height = FRAME_SIZE
        pixels = np.random.default_rng(2).integers(0, 256, (height, width, 3), np.uint8)
        self.frame = Image(width=width, height=height, encoding='rgb8', step=width * 3,
                           data=pixels.tobytes())

    def close(self) -> None:
        import rclpy
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    def camera(self, namespace: str) -> Callable[[], None]:
        """Publish the frame on namespace/image at 30 Hz; return the function that stops it."""
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import Image
        publisher = self.node.create_publisher(Image, f'{namespace}/image',
                                               qos_profile_sensor_data)
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(1 / 30):
                publisher.publish(self.frame)
        thread = threading.Thread(target=run, daemon=True)
        thread.start()

        def stopped() -> None:
            stop.set()
            thread.join()
            self.node.destroy_publisher(publisher)
        return stopped

    def seconds_to_service(self, args: list[str], name: str, namespace: str,
                           created: str) -> tuple[float, float, Child]:
        """
        Start a process; return the seconds until its service exists and until it is seen.

        Until it logs `created` (its service exists) and until this process's client sees
        its describe_scene (DDS discovery included).
        """
        from jetson_vlm_interfaces.srv import DescribeScene
        client = self.node.create_client(DescribeScene, f'{namespace}/describe_scene')
        try:
            started = time.monotonic()
            child = Child(args, name)
            logged = seen = None
            # Polled finely: wait_for_service() sleeps in 0.25 s steps.
            while logged is None or seen is None:
                now = time.monotonic() - started
                if logged is None and any(created in line for line in list(child.lines)):
                    logged = now
                if seen is None and client.service_is_ready():
                    seen = now
                if child.popen.poll() is not None or now > 60:
                    child.stop()
                    raise RuntimeError(f'{name}: no service; output: {child.lines[-10:]}')
                time.sleep(0.002)
            return logged, seen, child
        finally:
            self.node.destroy_client(client)

    def describe(self, namespace: str) -> Any:
        """Call namespace/describe_scene once (the camera must be running)."""
        from jetson_vlm_interfaces.srv import DescribeScene
        client = self.node.create_client(DescribeScene, f'{namespace}/describe_scene')
        try:
            while not client.service_is_ready():
                time.sleep(0.01)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                future = client.call_async(DescribeScene.Request(prompt='What is there?'))
                self.executor.spin_until_future_complete(future, timeout_sec=10)
                answer = future.result()
                if answer is not None and answer.success:
                    return answer
                time.sleep(0.05)  # 'no image received yet': the camera's first frame is due
            raise RuntimeError(f'no successful answer: {answer}')
        finally:
            self.node.destroy_client(client)


def _node_args(namespace: str, base_url: str, *params: str) -> list[str]:
    extra: list[str] = []
    for param in params:
        extra += ['-p', param]
    return ['-m', PACKAGE_MODULES['vlm_node'], '--ros-args', '-r', f'__ns:={namespace}',
            '-p', f'base_url:={base_url}', *extra]


def bench_startup(runs: int) -> list[Row]:
    """Return figure 13's rows."""
    from std_msgs.msg import String
    bench = _Bench()
    base = f'/startup{os.getpid()}'
    try:
        with fake_server_class()() as server:
            node_times: list[float] = []
            floor_times: list[float] = []
            node_seen: list[float] = []
            floor_seen: list[float] = []
            for run in range(runs):
                namespace = f'{base}_node{run}'
                took, seen, child = bench.seconds_to_service(
                    _node_args(namespace, server.base_url), 'vlm_node', namespace,
                    'describing')
                node_times.append(took)
                node_seen.append(seen)
                child.stop()
                namespace = f'{base}_floor{run}'
                took, seen, child = bench.seconds_to_service(
                    [os.path.join(BENCH_DIR, 'minimal_service.py'), '--ros-args',
                     '-r', f'__ns:={namespace}'], 'minimal service', namespace,
                    'service created')
                floor_times.append(took)
                floor_seen.append(seen)
                child.stop()

            # Process start -> first caption, the server answering at once.
            caption_times: list[float] = []
            for run in range(3):
                namespace = f'{base}_caption{run}'
                captions: list[float] = []
                subscription = bench.node.create_subscription(
                    String, f'{namespace}/caption',
                    lambda _msg, arrived=captions: arrived.append(time.monotonic()), 10)
                stop_camera = bench.camera(namespace)
                started = time.monotonic()
                child = Child(_node_args(namespace, server.base_url, 'caption_period:=1.0'),
                              'vlm_node')
                try:
                    while not captions and time.monotonic() - started < 60:
                        bench.executor.spin_once(timeout_sec=0.01)
                finally:
                    stop_camera()
                    child.stop()
                    bench.node.destroy_subscription(subscription)
                if captions:
                    caption_times.append(captions[0] - started)

            # RSS once up (server checked: openai imported), gateway off and on, and after
            # the first request.
            rss: dict[str, float] = {}
            for gateway in (False, True):
                namespace = f'{base}_rss{int(gateway)}'
                params = [f'gateway_port:={free_port()}'] if gateway else []
                *_, child = bench.seconds_to_service(
                    _node_args(namespace, server.base_url, 'caption_period:=0.0', *params),
                    'vlm_node', namespace, 'describing')
                try:
                    child.wait_line('is up', 30.0)
                    child.wait_line('warm-up:', 30.0)
                    rss[f'up {gateway}'] = child.process.memory_info().rss
                    stop_camera = bench.camera(namespace)
                    try:
                        bench.describe(namespace)
                    finally:
                        stop_camera()
                    rss[f'asked {gateway}'] = child.process.memory_info().rss
                finally:
                    child.stop()
    finally:
        bench.close()

    node_s, floor_s = median(node_times), median(floor_times)
    mib = 2 ** 20
    return [
        Row(f'13. start-up: process start -> describe_scene created (the node logs it), '
            f'median of {runs} (vlm_node, defaults; runs {min(node_times):.2f}-'
            f'{max(node_times):.2f} s) vs a minimal rclpy node creating one service '
            f'(minimal_service.py; {min(floor_times):.2f}-{max(floor_times):.2f} s), '
            f'alternating', f'{node_s:.2f} s', f'{floor_s:.2f} s', f'{node_s / floor_s:.2f}',
            '<= 2x and <= 1.0 s', verdict(node_s <= 2 * floor_s and node_s <= 1.0)),
        Row(f'13. same, until a client in the bench process sees the service (Fast DDS '
            f'discovery included: vlm_node {min(node_seen):.2f}-{max(node_seen):.2f} s, '
            f'minimal {min(floor_seen):.2f}-{max(floor_seen):.2f} s)',
            f'{median(node_seen):.2f} s', f'{median(floor_seen):.2f} s',
            f'{median(node_seen) / median(floor_seen):.2f}', '-', 'info'),
        Row('13. process start -> first caption, caption_period 1.0 s (due 1 s after the '
            'node is up), server answering at once, a 640x480 camera, median of 3',
            f'{median(caption_times):.2f} s' if caption_times else 'none',
            f'{node_s:.2f} s (service available)', '-', '-', 'info'),
        Row('13. RSS once up (server checked, warm-up done, no request yet): gateway on vs off',
            f"{rss['up True'] / mib:.0f} MiB", f"{rss['up False'] / mib:.0f} MiB",
            f"+{(rss['up True'] - rss['up False']) / mib:.0f} MiB", '-', 'info'),
        Row('13. RSS after the first describe_scene request (640x480 camera) vs before it, '
            'gateway off', f"{rss['asked False'] / mib:.0f} MiB",
            f"{rss['up False'] / mib:.0f} MiB",
            f"+{(rss['asked False'] - rss['up False']) / mib:.0f} MiB", '-', 'info'),
        Row('13. same, gateway on', f"{rss['asked True'] / mib:.0f} MiB",
            f"{rss['up True'] / mib:.0f} MiB",
            f"+{(rss['asked True'] - rss['up True']) / mib:.0f} MiB", '-', 'info'),
    ]
