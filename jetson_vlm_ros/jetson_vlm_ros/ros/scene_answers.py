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
vlm_node's answers to describe_scene: the service's requests and the action's goals.

Both carry the same request and answer fields (scene_question.py reads them); a request
is always answered, with success false and the reason when anything went wrong, and while
the node is disabled it is refused at once.
"""

import time
from typing import Any, Callable, Optional

from jetson_vlm_interfaces.srv import DescribeScene
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.model.scene_describer import (
    CancelledError, DescribeError, SceneDescriber, TextCallback)
from jetson_vlm_ros.model.scene_question import (
    answer_across_cameras, answer_question, question_from_request, SceneQuestion)
from jetson_vlm_ros.model.streaming import Cancellation
from jetson_vlm_ros.ros.camera_set import CameraSet
from jetson_vlm_ros.ros.captions import Captions, log_request
from rclpy.node import Node

DISABLED_ERROR = ('vlm_node is disabled: call its enable service (std_srvs/SetBool) with '
                  'data: true to resume')


class SceneAnswers:
    """Answers describe_scene questions about the camera's frames with the describer."""

    def __init__(self, node: Node, describer: SceneDescriber, cameras: CameraSet,
                 settings: Callable[[], VlmSettings], captions: Captions,
                 closing: Callable[[], bool]) -> None:
        self._node = node
        self._describer = describer
        self._cameras = cameras
        self._camera = cameras.default
        self._settings = settings
        self._captions = captions
        self._closing = closing  # destroy_node() has begun

    def on_describe_scene(self, request: DescribeScene.Request,
                          response: DescribeScene.Response) -> DescribeScene.Response:
        """Answer one describe_scene service call."""
        return self.answer(question_from_request(request), response)

    def answer_goal(self, goal: Any, answer: Any, on_text: Optional[TextCallback] = None,
                    cancellation: Optional[Cancellation] = None) -> Any:
        """Answer one describe_scene action goal (its fields are the service request's)."""
        return self.answer(question_from_request(goal), answer, on_text, cancellation)

    def answer(self, question: SceneQuestion, answer: Any,
               on_text: Optional[TextCallback] = None,
               cancellation: Optional[Cancellation] = None) -> Any:
        """Fill a service response or action result (same fields) for one question."""
        started = time.monotonic()
        settings = self._settings()
        answer.model = settings.model
        if not self._camera.enabled:
            answer.success, answer.error = False, DISABLED_ERROR
            answer.latency = time.monotonic() - started
            return answer
        frame = self._camera.latest_frame
        # Named cameras: the default camera's name for each image of a request naming none.
        default_name = [self._camera.name] if self._camera.name and not question.image else []
        try:
            if question.cameras:
                description = answer_across_cameras(
                    self._describer, question, self._cameras.views(), settings,
                    on_text=on_text, cancellation=cancellation)
            else:
                description = answer_question(
                    self._describer, question, self._camera.history.frames(), settings,
                    on_text=on_text, cancellation=cancellation)
        except Exception as error:  # noqa: B902 - a request is answered, whatever went wrong
            if not isinstance(error, DescribeError):
                self._node.get_logger().error(f'describe_scene: unexpected {error!r}')
            answer.success = False
            answer.error = str(error)
            if isinstance(error, CancelledError):
                answer.description = error.text
            elif not self._closing():  # at shutdown every pending call fails alike: no news
                self._node.get_logger().warning(f'describe_scene failed: {error}')
            # The frames it would have described (none when it failed before choosing).
            frames = getattr(error, 'frames', ())
            answer.image_stamps = [f.message.header.stamp for f in frames]
            answer.image_cameras = list(getattr(error, 'cameras', ())) or default_name * len(
                frames)
            if frames:
                answer.image_stamp = frames[-1].message.header.stamp
            elif question.image is not None:
                answer.image_stamp = question.image.header.stamp
            elif frame is not None:
                answer.image_stamp = frame.message.header.stamp
            answer.latency = time.monotonic() - started  # until the failure
            return answer
        log_request(self._node, 'describe_scene', description)
        answer.success = True
        answer.description = description.text
        answer.image_stamp = description.frame.message.header.stamp
        answer.image_stamps = [f.message.header.stamp for f in description.all_frames]
        answer.image_cameras = list(description.cameras) or default_name * len(
            answer.image_stamps)
        answer.latency = description.latency
        if settings.caption_image_answers:
            self._captions.publish_image(description)
        return answer
