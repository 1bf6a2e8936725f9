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
Make doc/caption_image_demo.png with the demo's pipeline: demo_camera -> vlm_node -> caption_image.

Runs demo_camera (1280x720) and vlm_node in one process against the test suite's loopback
server, which answers every question with the fixed sentence below (no model runs here),
and saves the first caption_image vlm_node publishes. Run in the set-up shell:
    python jetson_vlm_ros/doc/make_caption_image.py
"""

import os
import sys
import threading
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'test'))
sys.path.insert(0, os.path.join(HERE, '..'))

ANSWER = ('A blue box stands on a grey floor under a light blue sky, and a red ball rolls '
          'to its right. Nothing blocks the way ahead of the robot.')


def main() -> None:
    """Run the pipeline until the first caption image arrives, then save it."""
    from fake_vlm_server import FakeVlmServer
    from jetson_vlm_ros.ros.vlm_node import VlmNode
    from jetson_vlm_ros.tools.demo_camera import DemoCamera
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from sensor_msgs.msg import Image

    images: list = []
    with FakeVlmServer() as server:
        server.state.answer_text = ANSWER
        rclpy.init()
        camera = DemoCamera(parameter_overrides=[
            Parameter('width', value=1280), Parameter('height', value=720)])
        node = VlmNode(parameter_overrides=[
            Parameter('base_url', value=server.base_url), Parameter('caption_period', value=1.0),
            Parameter('warm_up', value=False)])
        viewer = Node('viewer')
        viewer.create_subscription(Image, 'caption_image', images.append, 1)
        executors = [node.make_executor(), SingleThreadedExecutor()]
        executors[1].add_node(camera)
        executors[1].add_node(viewer)
        threads = [threading.Thread(target=e.spin, daemon=True) for e in executors]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while not images and time.monotonic() < deadline:
            time.sleep(0.1)
        for executor in executors:
            executor.shutdown()
        for thread in threads:
            thread.join()
        for ros_node in (node, camera, viewer):
            ros_node.destroy_node()
        rclpy.try_shutdown()
    if not images:
        sys.exit('no caption image within 30 s')
    msg = images[0]
    pixels = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)
    path = os.path.join(HERE, 'caption_image_demo.png')
    cv2.imwrite(path, pixels)
    print(f'wrote {path} ({msg.width}x{msg.height}, frame {msg.header.frame_id})')


if __name__ == '__main__':
    main()
