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
Bench figures of the "watch it and talk to it" features (bench/README.md, figures 7-9).

7. Streaming: a chunk leaving the loopback server -> its action feedback at a client.
8. caption_image: the drawing and publishing a caption adds, with and without a subscriber.
9. /diagnostics: CPU of vlm_node with diagnostics on vs off, 1080p 30 Hz camera, no requests.
"""

import os
import threading
import time
from typing import Any, Callable

import common
from common import Child, median, node_args, percentile


def _rows(row: Callable[..., Any], *rows: tuple) -> list[Any]:
    return [row(*values) for values in rows]


def bench_streaming(row: Callable[..., Any], verdict: Callable[[bool], str],
                    node_setup: type, goals: int = 5, words: int = 60) -> list[Any]:
    """Median and p95 of chunk -> feedback latency over `goals` streamed answers."""
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from jetson_vlm_interfaces.action import DescribeScene

    setup = node_setup(0.0, 0, 640, 480, 10.0)
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
    return _rows(
        row,
        (f'7. streaming: chunk leaves server -> action feedback at client, median of '
         f'{len(latencies)} ({goals} answers x {words} chunks, 20 ms apart)',
         f'{mid * 1e3:.2f} ms', '20 ms between chunks', f'{mid / 0.02:.2f} of the gap',
         '<= 5 ms', verdict(mid <= 0.005)),
        ('7. same, p95', f'{p95 * 1e3:.2f} ms', '20 ms between chunks',
         f'{p95 / 0.02:.2f} of the gap', '-', 'info'))


def bench_caption_image(row: Callable[..., Any], verdict: Callable[[bool], str],
                        repeat: int) -> list[Any]:
    """Time vlm_node's caption_image step per caption, 1080p input, with/without subscriber."""
    import numpy as np
    import rclpy
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image
    from jetson_vlm_ros.image_conversion import PixelArray
    from jetson_vlm_ros.image_encoding import encode_pixels
    from jetson_vlm_ros.scene_describer import Description, Frame
    from jetson_vlm_ros.vlm_node import VlmNode

    rgb = np.zeros((1080, 1920, 3), np.uint8)
    rgb[:540] = (135, 190, 235)
    rgb[540:] = (120, 110, 95)
    message = Image(height=1080, width=1920, encoding='rgb8', step=1920 * 3)
    image = encode_pixels(PixelArray(rgb, 'RGB'), 896, 85)
    text = ('A blue box stands on a grey floor under a light blue sky, and a red ball rolls '
            'to its right. Nothing blocks the way ahead of the robot.')
    description = Description(text, 'prompt', 'model', 1.0, Frame(message, 0.0, 1), image=image)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = VlmNode(context=context, namespace=f'/bench_ci_{os.getpid()}', parameter_overrides=[
        Parameter('caption_period', value=0.0), Parameter('warm_up', value=False),
        Parameter('diagnostics_period', value=0.0),
        Parameter('base_url', value='http://127.0.0.1:9/v1')])
    topic = f'/bench_ci_{os.getpid()}/caption_image'

    def per_call() -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            node._publish_caption_image(description)
            times.append(time.perf_counter() - start)
            time.sleep(0.02)  # captions come seconds apart: let the subscriber keep up
        return median(times)

    viewer = None
    try:
        without = per_call()
        drawn_without = node._caption_images_drawn
        # The subscriber is another process, as rviz or rqt_image_view would be.
        viewer = Child([os.path.join(common.BENCH_DIR, 'bare_counter.py'), '--topic', topic],
                       'caption_image viewer')
        deadline = time.monotonic() + 30.0
        while node._caption_image_pub.get_subscription_count() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError('the viewer did not match caption_image')
            time.sleep(0.05)
        with_subscriber = per_call()
        time.sleep(0.5)
    finally:
        received = (viewer.stop() or {}).get('received', -1) if viewer is not None else -1
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return _rows(
        row,
        (f'8. caption_image per caption, 1920x1080 input (drawn at 896x504), with a '
         f'subscriber in another process, median of {repeat} ({received} received)',
         f'{with_subscriber * 1e3:.2f} ms', '-', '-', '<= 3 ms',
         verdict(with_subscriber <= 0.003 and received > 0)),
        ('8. same without a subscriber (nothing drawn: '
         f'{drawn_without} drawn)', f'{without * 1e6:.1f} us', f'{with_subscriber * 1e3:.2f} ms',
         f'{without / with_subscriber:.4f}', 'nothing drawn', verdict(drawn_without == 0)))


def bench_diagnostics(row: Callable[..., Any], verdict: Callable[[bool], str],
                      fake_server: Callable[[], Any], seconds: float) -> list[Any]:
    """CPU of vlm_nodes on one 1080p 30 Hz camera: diagnostics on vs off, and off vs off."""
    topic = f'/bench_diag_{os.getpid()}/image'
    nodes: dict[str, Child] = {}
    with fake_server() as server:
        for name, period in (('on', '1.0'), ('off', '0.0'), ('off again', '0.0')):
            nodes[name] = Child(
                node_args(topic, server.base_url, 'caption_period:=0.0', 'warm_up:=false',
                          f'diagnostics_period:={period}')
                + ['-r', f"__ns:=/diag_{name.replace(' ', '_')}"], f'diagnostics {name}')
        camera = None
        try:
            for child in nodes.values():
                child.wait_line('describing', 60.0)
            camera = Child([os.path.join(common.BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--subscribers', str(len(nodes)),
                            '--warmup', '3', '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            before = {name: c.cpu_seconds() for name, c in nodes.items()}
            done = camera.wait_event(lambda e: e.get('event') == 'done', seconds + 30.0)
            used = {name: c.cpu_seconds() - before[name] for name, c in nodes.items()}
        finally:
            if camera is not None:
                camera.stop()
            reports = {name: c.stop() or {} for name, c in nodes.items()}
    ratio = used['on'] / used['off'] if used['off'] > 0 else float('inf')
    noise = used['off again'] / used['off'] if used['off'] > 0 else float('inf')
    sent = done['sent']
    frames = '/'.join(str(reports[name].get('received', -1)) for name in nodes)
    return _rows(
        row,
        (f'9. idle CPU with /diagnostics at 1 Hz vs off, 1920x1080 rgb8 @30 Hz, {seconds:g} s '
         f'(frames received on/off/off again: {frames} of {sent})',
         f"{used['on']:.2f} s CPU", f"{used['off']:.2f} s CPU", f'{ratio:.2f}', '<= 1.05',
         verdict(ratio <= 1.05)),
        ('9. same, a second node with diagnostics off vs the first (two identical processes: '
         'the noise of this comparison)', f"{used['off again']:.2f} s CPU",
         f"{used['off']:.2f} s CPU", f'{noise:.2f}', '-', 'info'))
