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
vlm_node's natural-language alerts: one model call per alert_period for all alert_rules.

The timer runs on the node's slow-callback workers and takes a request slot like a caption
(a tick with no free slot, or with no new frame, is skipped). Answers are checked strictly
by alert_rules.parse_answer; a malformed one is logged and skipped.
"""

from dataclasses import replace
import threading
import time
from typing import Any, Callable, Optional

from jetson_vlm_interfaces.msg import Alert
from jetson_vlm_ros.alerts.alert_rules import (
    alert_prompt, AlertAnswerError, AlertTracker, parse_answer)
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.model.scene_describer import BusyError, Frame, SceneDescriber
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

# A failing check is logged when its reason changes, and otherwise at most this often.
ERROR_LOG_PERIOD = 30.0


class AlertMonitor:
    """Asks the alert rules periodically and publishes Alert messages on their edges."""

    def __init__(self, node: Node, describer: SceneDescriber,
                 settings: Callable[[], VlmSettings], latest_frame: Callable[[], Optional[Frame]],
                 callback_group: CallbackGroup) -> None:
        self._node = node
        self._describer = describer
        self._settings = settings
        self._latest_frame = latest_frame
        self._group = callback_group
        self.tracker = AlertTracker()
        self._publisher = node.create_publisher(Alert, 'alerts', 10)
        self._running = threading.Lock()
        self._timer: Any = None
        self._period = 0.0
        self._last_sequence = -1
        self._last_check: dict[str, Any] = {}
        self._error: tuple[str, float] = ('', 0.0)
        self.apply(settings())

    def apply(self, settings: VlmSettings) -> None:
        """Take new alert_rules and alert_period (called on start and on parameter changes)."""
        self.tracker.set_rules(settings.alert_rules)
        if settings.alert_period == self._period:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._node.destroy_timer(self._timer)
            self._timer = None
        self._period = settings.alert_period
        if self._period > 0:
            self._timer = self._node.create_timer(
                self._period, self._on_timer, callback_group=self._group)

    def state(self) -> dict[str, Any]:
        """Return the rules and their state, for GET /v1/alerts and the status page."""
        settings = self._settings()
        return {'rules': self.tracker.summary(time.monotonic()),
                'period': settings.alert_period, 'cooldown': settings.alert_cooldown,
                'last_check': dict(self._last_check)}

    def _on_timer(self) -> None:
        if not self._running.acquire(blocking=False):
            return  # the previous check still waits on the model
        try:
            self._check()
        finally:
            self._running.release()

    def _check(self) -> None:
        settings = self._settings()
        rules = settings.alert_rules
        frame = self._latest_frame()
        if not rules or frame is None or frame.sequence == self._last_sequence:
            return
        # Repeatable answers, and no caption-style system prompt in the way of the JSON.
        asked = replace(settings, temperature=0.0, system_prompt='')
        try:
            description = self._describer.describe(frame, alert_prompt(rules), asked)
        except BusyError:
            return
        except Exception as error:  # noqa: B902 - the timer must keep its rhythm
            self._record_failure(f'alert check failed: {error}')
            return
        self._last_sequence = frame.sequence
        try:
            values = parse_answer(description.text, len(rules))
        except AlertAnswerError as error:
            self._record_failure(f'alert answer skipped (no alert raised or cleared): {error}')
            return
        self._error = ('', 0.0)
        self._last_check = {'answer': description.text, 'ok': True, 'time': time.time(),
                            'latency': round(description.latency, 3)}
        events = self.tracker.update(rules, values, time.monotonic(), settings.alert_cooldown)
        for rule, active in events:
            self._publisher.publish(Alert(
                header=frame.message.header, rule=rule, active=active,
                answer=description.text, model=description.model,
                latency=description.latency))
            self._node.get_logger().info(
                f"alert {'RAISED' if active else 'cleared'}: {rule}")

    def _record_failure(self, reason: str) -> None:
        self._last_check = {'error': reason, 'ok': False, 'time': time.time()}
        last_reason, last_time = self._error
        now = time.monotonic()
        if reason != last_reason or now - last_time >= ERROR_LOG_PERIOD:
            self._node.get_logger().warning(reason)
            self._error = (reason, now)
