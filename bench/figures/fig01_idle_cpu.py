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
Figure 1 of the bench: idle CPU of vlm_node on a 1080p 30 Hz stream vs a bare rclpy node.

Also the frames each received, and the CPU of one executor wake (see bench/README.md).
"""

import argparse
import os
import time

from common import BENCH_DIR, Child, fake_server_class, Row, verdict
from node_setup import start_node_and_bare_counter
from package_modules import package_module

NAME = 'idle'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_idle(args.idle_seconds)


def bench_idle(seconds: float) -> list[Row]:
    """CPU of vlm_node vs a bare counting node, both on a 1080p 30 Hz stream, no requests."""
    topic = f'/bench_idle_{os.getpid()}/image'
    with fake_server_class()() as server:
        node, bare = start_node_and_bare_counter(topic, server.base_url)
        camera = None
        try:
            node.wait_line('describing', 60.0)
            camera = Child([os.path.join(BENCH_DIR, 'camera_publisher.py'),
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
    vlm_node = package_module('vlm_node')
    with fake_server_class()() as server:
        context = rclpy.Context()
        rclpy.init(context=context)
        try:
            bare = Node('bench_bare_wake', context=context)
            bare.create_subscription(Image, 'image', lambda msg: None, qos_profile_sensor_data)
            bare_executor = SingleThreadedExecutor(context=context)
            bare_executor.add_node(bare)
            node = vlm_node.VlmNode(context=context, parameter_overrides=[
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
