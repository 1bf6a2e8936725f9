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
A camera process for the tests: publish one solid-colour rgb8 frame at a fixed rate.

Waits until a subscription matches, publishes from a timer (as a camera driver does) for
--seconds, then prints one JSON line, {"sent": N, "seconds": S}, and exits. The pixels are
made once; per frame only the header changes, so the process's CPU goes to DDS.
"""

import argparse
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image


def main() -> None:
    """Publish until --seconds have passed since a subscriber matched."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--topic', required=True)
    parser.add_argument('--width', type=int, default=1920)
    parser.add_argument('--height', type=int, default=1080)
    parser.add_argument('--rgb', default='200,40,90', help='colour of every pixel: R,G,B')
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--seconds', type=float, default=3.0)
    args = parser.parse_args()
    colour = [int(v) for v in args.rgb.split(',')]

    rclpy.init()
    node = Node('test_camera')
    publisher = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    pixels = np.full((args.height, args.width, 3), colour, np.uint8)
    msg = Image(height=args.height, width=args.width, encoding='rgb8', is_bigendian=0,
                step=args.width * 3, data=pixels.tobytes())
    msg.header.frame_id = 'test_camera'
    deadline = time.monotonic() + 60.0
    while publisher.get_subscription_count() < 1:
        if time.monotonic() > deadline:
            print(json.dumps({'error': 'no subscriber matched within 60 s'}), flush=True)
            sys.exit(1)
        time.sleep(0.05)
    sent = 0

    def publish() -> None:
        nonlocal sent
        msg.header.stamp = node.get_clock().now().to_msg()
        publisher.publish(msg)
        sent += 1

    node.create_timer(1.0 / args.rate, publish)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    start = time.monotonic()
    end = start + args.seconds
    while (now := time.monotonic()) < end:
        executor.spin_once(timeout_sec=end - now)
    print(json.dumps({'sent': sent, 'seconds': round(time.monotonic() - start, 2)}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
