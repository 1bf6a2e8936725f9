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
vlm_node's /diagnostics publisher and its background server check (ROS side of health.py).

Publishes one diagnostic_msgs/DiagnosticArray per `diagnostics_period` on the absolute
topic /diagnostics, as diagnostic_updater does, so rqt_robot_monitor and
diagnostic_aggregator pick it up. Status names are prefixed with the node's fully
qualified name ('/robot/vlm_node: camera'); with named cameras there is one camera status
each, in the order of the `cameras` parameter ('/robot/vlm_node: camera front').
"""

import time
from typing import Callable, Sequence

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from jetson_vlm_ros.core.health import CameraHealth, ServerHealth, Status
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.model.scene_describer import SceneDescriber
from jetson_vlm_ros.model.server_probe import ServerProbe
from jetson_vlm_ros.ros.camera_input import CameraInput
from rclpy.node import Node


def to_message(status: Status, prefix: str) -> DiagnosticStatus:
    """Turn a health Status into a DiagnosticStatus named '<prefix>: <name>'."""
    return DiagnosticStatus(
        level=bytes([status.level]), name=f'{prefix}: {status.name}', message=status.message,
        hardware_id=status.hardware_id,
        values=[KeyValue(key=key, value=value) for key, value in status.values])


class NodeHealth:
    """Owns the health state of one vlm_node, its probe thread and its diagnostics timer."""

    def __init__(self, node: Node, describer: SceneDescriber,
                 settings: Callable[[], VlmSettings],
                 cameras: Sequence[CameraInput], enabled: Callable[[], bool]) -> None:
        self._node = node
        self._describer = describer
        self._settings = settings
        self._enabled = enabled
        self.server = ServerHealth()
        # Each camera's own health (and rate): one goes WARN while the others stay OK.
        self._cameras = [(camera, CameraHealth(camera.name)) for camera in cameras]
        current = settings()
        period = current.diagnostics_period
        self._probe = None
        if period > 0 or current.warm_up:
            log = node.get_logger()
            self._probe = ServerProbe(
                self.server, settings, describer.client_for, period, current.warm_up,
                lambda level, text: getattr(log, level)(text))
        self._publisher = self._timer = None
        if period > 0:
            self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
            self._timer = node.create_timer(period, self.publish)

    def start(self) -> None:
        """Start the server check (and warm-up) in the background: once the node is up."""
        if self._probe is not None:
            self._probe.start()

    def statuses(self) -> list[Status]:
        """Return the camera (one per camera), vlm server and requests statuses as of now."""
        settings = self._settings()
        stats = self._describer.stats
        now = time.monotonic()
        return [
            *(health.status(camera.facts(), now) for camera, health in self._cameras),
            self.server.status(settings.base_url, settings.model, stats.last_error),
            stats.status(self._describer.slots.in_flight, self._describer.slots.limit,
                         self._enabled()),
        ]

    def publish(self) -> None:
        """Publish the statuses on /diagnostics."""
        prefix = self._node.get_fully_qualified_name()
        message = DiagnosticArray(status=[to_message(s, prefix) for s in self.statuses()])
        message.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(message)

    def stop(self) -> None:
        """Stop the probe thread."""
        if self._probe is not None:
            self._probe.stop()
