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
vlm_node's captions: the caption timer, its gating, and what each caption publishes.

Every caption_period the timer describes the latest frame, unless it was captioned already,
the scene changed less than caption_min_change since the last caption, or the previous
caption still runs (the tick is skipped: the rhythm stays the period's). A caption goes to
`caption` (std_msgs/String), `caption_stamped` (with the frame's header, prompt, model and
latency), `caption_image` (the frame as sent with the caption drawn, only while someone
subscribes) and the gateway.
"""

import array
import threading
import time
from typing import Any, Callable

from jetson_vlm_interfaces.msg import Caption
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.caption_drawing import draw_caption, frame_as_sent
from jetson_vlm_ros.frames.scene_change import SceneChangeGate
from jetson_vlm_ros.model.scene_describer import BusyError, Description, SceneDescriber
from jetson_vlm_ros.model.scene_question import describe_for_caption
from jetson_vlm_ros.ros.camera_input import CameraInput
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_msgs.msg import String

# A failing caption is logged when its reason changes, and otherwise at most this often.
CAPTION_ERROR_LOG_PERIOD = 30.0


def log_request(node: Node, what: str, description: Description) -> None:
    """Log (debug) where the time of one described request went."""
    image = description.image
    prepared = (f'{image.width}x{image.height} JPEG of {len(image.jpeg)} bytes'
                if image is not None else 'no image')
    frames = len(description.all_frames)
    if frames > 1:
        prepared = f'{frames} frames, the latest a {prepared},'
    node.get_logger().debug(
        f'{what}: frame age {description.frame_age * 1000:.0f} ms, prepared {prepared} '
        f'in {description.prepare_seconds * 1000:.1f} ms, model '
        f'{description.model_seconds:.3f} s, total {description.latency:.3f} s')


class Captions:
    """Captions the camera's latest frame periodically and publishes each caption."""

    def __init__(self, node: Node, describer: SceneDescriber, camera: CameraInput,
                 settings: Callable[[], VlmSettings], callback_group: Any,
                 captioned: Callable[[Description], None]) -> None:
        self._node = node
        self._describer = describer
        self._camera = camera
        self._settings = settings
        self._callback_group = callback_group  # the timer waits on the model: workers
        self._captioned = captioned
        self._caption_pub = node.create_publisher(String, 'caption', 10)
        self._caption_stamped_pub = node.create_publisher(Caption, 'caption_stamped', 10)
        self._image_pub = node.create_publisher(Image, 'caption_image', 1)
        self.images_drawn = 0
        self.last_captioned_sequence = -1
        self._error: tuple[str, float] = ('', 0.0)
        self.scene_gate = SceneChangeGate()  # caption_min_change
        self.running = threading.Lock()
        self._timer = None
        self.schedule(settings().caption_period if camera.enabled else 0.0)

    def schedule(self, period: float) -> None:
        """Caption every period seconds from now on; 0 stops captions."""
        if self._timer is not None:
            self._timer.cancel()
            self._node.destroy_timer(self._timer)
            self._timer = None
        if period > 0:
            self._timer = self._node.create_timer(
                period, self._on_timer, callback_group=self._callback_group)

    def enabled_changed(self, enabled: bool) -> None:
        """Start captions on `enable`, stop them on disable."""
        self.schedule(self._settings().caption_period if enabled else 0.0)

    def settings_changed(self, old: VlmSettings, new: VlmSettings) -> None:
        """Follow a new caption_period (while enabled)."""
        if new.caption_period != old.caption_period and self._camera.enabled:
            self.schedule(new.caption_period)

    def server_failed(self, reason: str) -> None:
        """Note that the server check failed: the same caption failure then stays quiet."""
        self._error = (reason, time.monotonic())

    def publish_image(self, description: Description) -> None:
        """Publish the frame as sent with the caption drawn, if wanted and subscribed."""
        image = description.image
        if (not self._settings().publish_caption_image or image is None
                or self._image_pub.get_subscription_count() == 0):
            return  # nothing is drawn for nobody
        try:
            pixels = frame_as_sent(image)
            if pixels is None:
                return
            drawn = draw_caption(pixels, description.text)
        except Exception as error:  # noqa: B902 - a drawing problem must not stop captions
            self._node.get_logger().warning(f'cannot draw the caption image: {error!r}')
            return
        self.images_drawn += 1
        height, width = drawn.shape[:2]
        msg = Image(header=description.frame.message.header, height=height, width=width,
                    encoding='bgr8', is_bigendian=0, step=width * 3)
        # One memcpy: rclpy copies bytes into its array element by element (2 ms at 896x504,
        # measured), an array.array of typecode 'B' with memcpy.
        pixels_array = array.array('B')
        pixels_array.frombytes(np.ascontiguousarray(drawn).data)
        msg.data = pixels_array
        self._image_pub.publish(msg)

    def _on_timer(self) -> None:
        # Skip the tick while the previous caption still runs: the rhythm stays the period's.
        if not self.running.acquire(blocking=False):
            return
        try:
            self._caption_latest_frame()
        finally:
            self.running.release()

    def _caption_latest_frame(self) -> None:
        frame = self._camera.latest_frame
        if frame is None or frame.sequence == self.last_captioned_sequence:
            return  # nothing new to say
        settings = self._settings()
        if not self.scene_gate.should_caption(frame.message, settings.caption_min_change):
            self._describer.stats.record_unchanged_skip()  # shown in /diagnostics
            self._node.get_logger().debug(
                f'caption skipped: the scene changed {self.scene_gate.last_change:.3f} < '
                f'caption_min_change {settings.caption_min_change:g} since the last caption '
                f'({self.scene_gate.skipped} skipped so far)')
            return
        try:
            description = describe_for_caption(
                self._describer, self._camera.history.frames(), settings)
        except BusyError:
            return  # service calls hold every slot; the next tick tries again
        except Exception as error:  # noqa: B902 - the timer must keep its rhythm
            self._log_error(str(error))
            return
        self.last_captioned_sequence = description.frame.sequence
        self.scene_gate.captioned()
        self._error = ('', 0.0)
        log_request(self._node, 'caption', description)
        self._publish(description)

    def _publish(self, description: Description) -> None:
        self._caption_pub.publish(String(data=description.text))
        self._caption_stamped_pub.publish(Caption(
            header=description.frame.message.header, text=description.text,
            prompt=description.prompt, model=description.model, latency=description.latency))
        self._node.get_logger().info(
            f'caption ({description.latency:.2f} s): {description.text}')
        self.publish_image(description)
        self._captioned(description)

    def _log_error(self, reason: str) -> None:
        last_reason, last_time = self._error
        now = time.monotonic()
        if reason != last_reason or now - last_time >= CAPTION_ERROR_LOG_PERIOD:
            self._node.get_logger().warning(f'caption failed: {reason}')
            self._error = (reason, now)
