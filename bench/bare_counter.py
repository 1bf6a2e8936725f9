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
The idle-cost baseline: a bare rclpy node that subscribes to the image topic and counts.

Same QoS as vlm_node's image subscription (sensor-data reliability and durability,
KEEP_LAST depth 1), plain rclpy.spin (a SingleThreadedExecutor). On SIGINT it prints
{"received": N} on stdout; on SIGUSR1, {"event": "count", "received": N} and goes on (the
count so far, for a window of a longer run).

Same malloc settings as vlm_node's main() too (frame_memory.py), unless --default-malloc:
with glibc's defaults a bare subscriber of 1080p frames hands the memory of each frame back
to the kernel and faults it in again for the next (measured: 4,540 page faults per frame,
6.4 CPU-s per 10 s at 30 Hz), so a baseline with them measures the allocator, not our code.
"""

import argparse
import json
import signal

from package_modules import package_module
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import Image


def main() -> None:
    """Count frames until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--topic', required=True)
    parser.add_argument('--depth', type=int, default=1, help='KEEP_LAST depth (vlm_node: 1)')
    parser.add_argument('--default-malloc', action='store_true',
                        help="glibc's default malloc settings, not vlm_node's")
    args = parser.parse_args()
    if not args.default_malloc:
        package_module('frame_memory').keep_freed_frames_in_process()
    rclpy.init()
    node = Node('bench_bare_counter')
    received = 0

    def on_image(msg: Image) -> None:
        nonlocal received
        received += 1

    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=args.depth,
                     reliability=qos_profile_sensor_data.reliability,
                     durability=qos_profile_sensor_data.durability)
    node.create_subscription(Image, args.topic, on_image, qos)
    # Python runs the handler on this thread at the next callback: no lock needed.
    signal.signal(signal.SIGUSR1, lambda *_: print(
        json.dumps({'event': 'count', 'received': received}), flush=True))
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    print(json.dumps({'received': received}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
