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
The start-up floor: a minimal rclpy node that creates one describe_scene service and spins.

Same service type as vlm_node's (jetson_vlm_interfaces/srv/DescribeScene), same ROS
arguments (`--ros-args -r __ns:=...`), plain rclpy.spin; it answers nothing useful.
"""

from jetson_vlm_interfaces.srv import DescribeScene
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def main() -> None:
    """Serve describe_scene until Ctrl-C."""
    rclpy.init()
    node = Node('vlm_node')
    node.create_service(DescribeScene, 'describe_scene', lambda request, response: response)
    print('service created', flush=True)  # what the start-up figure waits for
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
