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
Figure 8 of the bench: what drawing and publishing caption_image adds to a caption.

With a subscriber in another process, and without one (see bench/README.md).
"""

import argparse
import os
import time

from common import BENCH_DIR, Child, median, Row, verdict
from package_modules import package_module

NAME = 'caption_image'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_caption_image(args.repeat)


def bench_caption_image(repeat: int) -> list[Row]:
    """Time vlm_node's caption_image step per caption, 1080p input, with/without subscriber."""
    import numpy as np
    import rclpy
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    scene_describer = package_module('scene_describer')

    rgb = np.zeros((1080, 1920, 3), np.uint8)
    rgb[:540] = (135, 190, 235)
    rgb[540:] = (120, 110, 95)
    message = Image(height=1080, width=1920, encoding='rgb8', step=1920 * 3)
    pixels = package_module('image_conversion').PixelArray(rgb, 'RGB')
    image = package_module('image_encoding').encode_pixels(pixels, 896, 85)
    text = ('A blue box stands on a grey floor under a light blue sky, and a red ball rolls '
            'to its right. Nothing blocks the way ahead of the robot.')
    description = scene_describer.Description(
        text, 'prompt', 'model', 1.0, scene_describer.Frame(message, 0.0, 1), image=image)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = package_module('vlm_node').VlmNode(
        context=context, namespace=f'/bench_ci_{os.getpid()}', parameter_overrides=[
            Parameter('caption_period', value=0.0), Parameter('warm_up', value=False),
            Parameter('diagnostics_period', value=0.0),
            Parameter('base_url', value='http://127.0.0.1:9/v1')])
    topic = f'/bench_ci_{os.getpid()}/caption_image'

    def per_call() -> float:
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            node._captions.publish_image(description)
            times.append(time.perf_counter() - start)
            time.sleep(0.02)  # captions come seconds apart: let the subscriber keep up
        return median(times)

    viewer = None
    try:
        without = per_call()
        drawn_without = node._captions.images_drawn
        # The subscriber is another process, as rviz or rqt_image_view would be.
        viewer = Child([os.path.join(BENCH_DIR, 'bare_counter.py'), '--topic', topic],
                       'caption_image viewer')
        deadline = time.monotonic() + 30.0
        while node._captions._image_pub.get_subscription_count() < 1:
            if time.monotonic() > deadline:
                raise RuntimeError('the viewer did not match caption_image')
            time.sleep(0.05)
        with_subscriber = per_call()
        time.sleep(0.5)
    finally:
        received = (viewer.stop() or {}).get('received', -1) if viewer is not None else -1
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return [
        Row(f'8. caption_image per caption, 1920x1080 input (drawn at 896x504), with a '
            f'subscriber in another process, median of {repeat} ({received} received)',
            f'{with_subscriber * 1e3:.2f} ms', '-', '-', '<= 3 ms',
            verdict(with_subscriber <= 0.003 and received > 0)),
        Row(f'8. same without a subscriber (nothing drawn: {drawn_without} drawn)',
            f'{without * 1e6:.1f} us', f'{with_subscriber * 1e3:.2f} ms',
            f'{without / with_subscriber:.4f}', 'nothing drawn', verdict(drawn_without == 0)),
    ]
