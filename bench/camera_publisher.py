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
Publish one pre-built sensor_msgs/Image at a fixed rate (a camera stand-in for the bench).

The pixels are made once; per frame only the header changes (frame_id carries the sequence
number), so the publisher's own CPU goes to DDS, not to drawing. Prints one JSON line per
phase on stdout: {"event": "go", ...} after the warm-up, {"event": "done", "sent": N} at
the end, so the bench can bracket its CPU measurement.
"""

import argparse
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

CHANNELS = {'rgb8': 3, 'bgr8': 3, 'mono8': 1}


def make_message(width: int, height: int, encoding: str, pixels: str = 'noise') -> Image:
    """
    Return an Image of fixed pixels: random noise, or a camera-like scene.

    Noise is JPEG's worst case (the largest files, the slowest encoding); 'scene' is the
    demo scene with sensor noise, which encodes about as a real camera's frames do.
    """
    channels = CHANNELS[encoding]
    if pixels == 'scene':
        from common import scene  # the bench's helpers; only this choice needs them
        rgb = scene(width, height)
        pixels = {3: rgb if encoding == 'rgb8' else rgb[:, :, ::-1], 1: rgb[:, :, :1]}[channels]
        pixels = np.ascontiguousarray(pixels)
    else:
        rng = np.random.default_rng(0)
        pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                 step=width * channels, data=pixels.tobytes())


def emit(**fields: object) -> None:
    """Print one JSON event line for the bench."""
    print(json.dumps(fields), flush=True)


def main() -> None:
    """Publish until --warmup + --seconds have passed."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--topic', required=True)
    parser.add_argument('--width', type=int, default=1920)
    parser.add_argument('--height', type=int, default=1080)
    parser.add_argument('--encoding', default='rgb8', choices=sorted(CHANNELS))
    parser.add_argument('--rate', type=float, default=30.0)
    parser.add_argument('--pixels', default='noise', choices=('noise', 'scene'),
                        help="random noise (JPEG's worst case) or a camera-like scene")
    parser.add_argument('--subscribers', type=int, default=1,
                        help='wait until this many subscriptions matched')
    parser.add_argument('--warmup', type=float, default=3.0)
    parser.add_argument('--seconds', type=float, default=20.0)
    args = parser.parse_args()

    rclpy.init()
    node = Node('bench_camera')
    publisher = node.create_publisher(Image, args.topic, qos_profile_sensor_data)
    msg = make_message(args.width, args.height, args.encoding, args.pixels)
    deadline = time.monotonic() + 30.0
    while publisher.get_subscription_count() < args.subscribers:
        if time.monotonic() > deadline:
            emit(event='error', reason='subscribers did not match within 30 s')
            sys.exit(1)
        time.sleep(0.05)
    emit(event='matched')
    sent = 0
    start = time.monotonic()
    go_at = start + args.warmup
    end_at = go_at + args.seconds
    announced = False

    def publish() -> None:
        nonlocal sent
        msg.header.frame_id = str(sent)
        msg.header.stamp = node.get_clock().now().to_msg()
        publisher.publish(msg)
        sent += 1

    # A timer spun by an executor, as a camera driver does (the DDS side needs the node
    # to be spun: a bare publish loop lost almost every large frame here).
    node.create_timer(1.0 / args.rate, publish)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while True:
            now = time.monotonic()
            if not announced and now >= go_at:
                emit(event='go', sent=sent)
                announced = True
            if now >= end_at:
                break
            executor.spin_once(timeout_sec=min(0.05, end_at - now))
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    emit(event='done', sent=sent, seconds=time.monotonic() - start)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
