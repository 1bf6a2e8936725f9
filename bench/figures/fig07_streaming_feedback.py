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
Figure 7 of the bench: a streamed chunk leaving the server -> its action feedback.

vlm_node as a process, the loopback server and the action client in the bench process (see
bench/README.md).
"""

import argparse
import os
import threading
import time
from typing import Any

from common import median, percentile, Row, verdict
from node_setup import NodeSetup

NAME = 'streaming'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_streaming()


def bench_streaming(goals: int = 5, words: int = 60) -> list[Row]:
    """Median and p95 of chunk -> feedback latency over `goals` streamed answers."""
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from jetson_vlm_interfaces.action import DescribeScene

    setup = NodeSetup(0.0, 0, 640, 480, 10.0)
    setup.server.state.answer_text = ' '.join(f'w{i}' for i in range(words))
    setup.server.state.chunk_delay = 0.02
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'bench_stream_{os.getpid()}', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    latencies: list[float] = []
    try:
        client = ActionClient(node, DescribeScene, 'describe_scene')
        if not client.wait_for_server(timeout_sec=30.0):
            raise RuntimeError('describe_scene action not available')
        done_goals = 0
        deadline = time.monotonic() + 60.0
        while done_goals < goals and time.monotonic() < deadline:
            arrivals: dict[int, float] = {}
            finished = threading.Event()

            def on_feedback(message: Any, arrivals: dict[int, float] = arrivals) -> None:
                arrivals[message.feedback.chunks] = time.monotonic()

            streams_before = len(setup.server.streams)
            sent = client.send_goal_async(DescribeScene.Goal(), feedback_callback=on_feedback)
            while not sent.done():
                time.sleep(0.005)
            result = sent.result().get_result_async()
            result.add_done_callback(lambda _, done=finished: done.set())
            if not finished.wait(30.0):
                raise RuntimeError('no result')
            if not result.result().result.success:
                time.sleep(0.2)  # e.g. no frame yet
                continue
            chunk_times = setup.server.streams[streams_before].chunk_times
            latencies += [arrivals[n] - chunk_times[n - 1] for n in arrivals
                          if n - 1 < len(chunk_times)]
            done_goals += 1
        if done_goals < goals:
            raise RuntimeError(f'only {done_goals} of {goals} goals succeeded')
    finally:
        executor.shutdown(timeout_sec=5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        setup.close()
    mid, p95 = median(latencies), percentile(latencies, 0.95)
    return [
        Row(f'7. streaming: chunk leaves server -> action feedback at client, median of '
            f'{len(latencies)} ({goals} answers x {words} chunks, 20 ms apart)',
            f'{mid * 1e3:.2f} ms', '20 ms between chunks', f'{mid / 0.02:.2f} of the gap',
            '<= 5 ms', verdict(mid <= 0.005)),
        Row('7. same, p95', f'{p95 * 1e3:.2f} ms', '20 ms between chunks',
            f'{p95 / 0.02:.2f} of the gap', '-', 'info'),
    ]
