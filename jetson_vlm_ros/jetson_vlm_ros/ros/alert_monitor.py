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
vlm_node's natural-language alerts: one model call per alert_period per set of cameras.

Rules are grouped by the cameras they look at (alert_rules.group_rules: a '[rear]' prefix, or
the default camera); each group is one model call, its images labelled with their cameras'
names when the node has named cameras (as a request naming cameras). The timer runs on the
node's slow-callback workers and takes a request slot like a caption (a group with no free
slot, or with no new frame from any of its cameras, is skipped this tick). Answers are
checked strictly by alert_rules.parse_answer; a malformed one is logged and skipped.
"""

from dataclasses import replace
import threading
import time
from typing import Any, Callable, Optional

from jetson_vlm_interfaces.msg import Alert
from jetson_vlm_ros.alerts.alert_rules import (
    alert_prompt, AlertAnswerError, AlertRuleError, AlertTracker, group_rules, parse_answer,
    RuleGroup)
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.model.scene_describer import BusyError, Description, Frame, SceneDescriber
from jetson_vlm_ros.model.scene_question import answer_across_cameras, SceneQuestion
from jetson_vlm_ros.ros.camera_set import CameraSet
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

# A failing check is logged when its reason changes, and otherwise at most this often.
ERROR_LOG_PERIOD = 30.0


class AlertMonitor:
    """Asks the alert rules periodically and publishes Alert messages on their edges."""

    def __init__(self, node: Node, describer: SceneDescriber,
                 settings: Callable[[], VlmSettings], cameras: CameraSet,
                 callback_group: CallbackGroup) -> None:
        self._node = node
        self._describer = describer
        self._settings = settings
        self._cameras = cameras
        self._group = callback_group
        self.tracker = AlertTracker()
        self._publisher = node.create_publisher(Alert, 'alerts', 10)
        self._running = threading.Lock()
        self._timer: Any = None
        self._period = 0.0
        # Per group (its cameras): the sequence of each camera's frame at its last check.
        self._last_sequences: dict[tuple[str, ...], tuple[Optional[int], ...]] = {}
        self._last_check: dict[str, Any] = {}
        # Per group: the last failure logged and when, so each group's failures are rate-limited.
        self._errors: dict[tuple[str, ...], tuple[str, float]] = {}
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
        """Return the rules (with their cameras) and their state, for GET /v1/alerts."""
        settings = self._settings()
        cameras = {rule: list(group.cameras) for group in self._groups(settings)
                   for rule in group.rules}
        rules = [{**row, 'cameras': cameras.get(row['rule'], [])}
                 for row in self.tracker.summary(time.monotonic())]
        return {'rules': rules, 'period': settings.alert_period,
                'cooldown': settings.alert_cooldown, 'last_check': dict(self._last_check)}

    def _groups(self, settings: VlmSettings) -> list[RuleGroup]:
        try:
            return group_rules(settings.alert_rules, settings.cameras)
        except AlertRuleError:  # refused when set (settings.py): cannot happen
            return []

    def _on_timer(self) -> None:
        if not self._running.acquire(blocking=False):
            return  # the previous check still waits on the model
        try:
            settings = self._settings()
            for group in self._groups(settings):
                self._check(group, settings)
        finally:
            self._running.release()

    def _check(self, group: RuleGroup, settings: VlmSettings) -> None:
        frames = [camera.latest_frame for camera in self._cameras.chosen(group.cameras or ('',))]
        sequences = tuple(None if frame is None else frame.sequence for frame in frames)
        if all(frame is None for frame in frames) or \
                sequences == self._last_sequences.get(group.cameras):
            return  # no frame yet, or none new since this group's last check
        # Repeatable answers, and no caption-style system prompt in the way of the JSON.
        asked = replace(settings, temperature=0.0, system_prompt='')
        prompt = alert_prompt(group.questions, max(1, len(group.cameras)))
        try:
            description = self._ask(group, frames[0], prompt, asked)
        except BusyError:
            return
        except Exception as error:  # noqa: B902 - the timer must keep its rhythm
            self._record_failure(f'alert check{_of(group)} failed: {error}', group)
            return
        self._last_sequences[group.cameras] = sequences
        try:
            values = parse_answer(description.text, len(group.rules))
        except AlertAnswerError as error:
            self._record_failure(
                f'alert answer{_of(group)} skipped (no alert raised or cleared): {error}', group)
            return
        self._errors.pop(group.cameras, None)
        self._last_check = {'answer': description.text, 'ok': True, 'time': time.time(),
                            'latency': round(description.latency, 3),
                            'cameras': list(group.cameras)}
        judged = description.frames or (description.frame,)
        latest = max(judged, key=lambda frame: frame.received_at)
        events = self.tracker.update(
            group.rules, values, time.monotonic(), settings.alert_cooldown)
        for rule, active in events:
            self._publisher.publish(Alert(
                header=latest.message.header, rule=rule, active=active,
                answer=description.text, model=description.model,
                latency=description.latency, cameras=list(description.cameras),
                image_stamps=[frame.message.header.stamp for frame in judged]))
            self._node.get_logger().info(
                f"alert {'RAISED' if active else 'cleared'}: {rule}")

    def _ask(self, group: RuleGroup, default_frame: Optional[Frame], prompt: str,
             settings: VlmSettings) -> Description:
        if not group.cameras:  # the single unnamed camera: asked as before cameras had names
            return self._describer.describe(default_frame, prompt, settings)
        # Named cameras: each image labelled with its camera, a stale one named in the error.
        return answer_across_cameras(
            self._describer, SceneQuestion(prompt=prompt, cameras=group.cameras),
            self._cameras.views(), settings)

    def _record_failure(self, reason: str, group: RuleGroup) -> None:
        self._last_check = {'error': reason, 'ok': False, 'time': time.time(),
                            'cameras': list(group.cameras)}
        last_reason, last_time = self._errors.get(group.cameras, ('', 0.0))
        now = time.monotonic()
        if reason != last_reason or now - last_time >= ERROR_LOG_PERIOD:
            self._node.get_logger().warning(reason)
            self._errors[group.cameras] = (reason, now)


def _of(group: RuleGroup) -> str:
    """' of cameras front, rear' for a group of named cameras, for log lines."""
    return f" of camera{'s' if len(group.cameras) > 1 else ''} {', '.join(group.cameras)}" \
        if group.cameras else ''
