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
The node's ROS wiring: everything here imports rclpy or ROS messages.

Public modules: vlm_node (VlmNode, the composition root, and main), node_entry (the console
script), node_parameters (declaring the parameters, validating updates), camera_input (the
image subscription, its QoS overrides, enable/disable), captions (the caption timer, gating
and publishing), scene_action (the describe_scene action), node_health (/diagnostics),
gateway_bridge (the gateway's frames and topics), alert_monitor (alerts on ROS topics),
offloading_executor (the executor that runs slow callbacks on workers), stop_signals (Ctrl-C
and SIGTERM handling), fastdds_profile (the large-frames Fast DDS profile).
"""
