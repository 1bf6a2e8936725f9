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

Every caption_period the timer describes the latest frame of the cameras caption_cameras
covers (the default camera unless it names others; several in one call: a surround
caption), unless no covered camera has a new frame, none changed by caption_min_change
since the last caption, or the previous caption still runs (the tick is skipped: the
rhythm stays the period's). A caption goes to `caption` (std_msgs/String),
`caption_stamped` (with the newest frame's header, every frame's stamp and camera, prompt,
model and latency), `caption_image` (the frame as sent, or the cameras' frames side by
side, with the caption drawn; only while someone subscribes) and the gateway.
"""

import array
from dataclasses import replace
import threading
import time
from typing import Any, Callable

from jetson_vlm_interfaces.msg import Caption
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.caption_drawing import draw_caption, draw_mosaic, frame_as_sent
from jetson_vlm_ros.frames.scene_change import SceneChangeGate
from jetson_vlm_ros.model.scene_describer import BusyError, Description, SceneDescriber
from jetson_vlm_ros.model.scene_question import (
    CameraView, describe_cameras_for_caption, describe_for_caption)
from jetson_vlm_ros.ros.camera_input import CameraInput
from jetson_vlm_ros.ros.camera_set import CameraSet
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
    """Captions the covered cameras' latest frames periodically and publishes each caption."""

    def __init__(self, node: Node, describer: SceneDescriber, cameras: CameraSet,
                 settings: Callable[[], VlmSettings], callback_group: Any,
                 captioned: Callable[[Description], None]) -> None:
        self._node = node
        self._describer = describer
        self._cameras = cameras
        self._camera = cameras.default  # its `enable` pauses every camera
        self._settings = settings
        self._callback_group = callback_group  # the timer waits on the model: workers
        self._captioned = captioned
        self._caption_pub = node.create_publisher(String, 'caption', 10)
        self._caption_stamped_pub = node.create_publisher(Caption, 'caption_stamped', 10)
        self._image_pub = node.create_publisher(Image, 'caption_image', 1)
        self.images_drawn = 0
        # The latest frame's sequence of each covered camera when last captioned.
        self.last_captioned: dict[str, int] = {}
        self._left_out: dict[str, str] = {}  # cameras the last surround caption left out
        self._error: tuple[str, float] = ('', 0.0)
        self.scene_gate = SceneChangeGate()  # caption_min_change
        self.running = threading.Lock()
        self._timer = None
        self.schedule(settings().caption_period if self._camera.enabled else 0.0)

    @property
    def last_captioned_sequence(self) -> int:
        """Return the newest frame sequence last captioned (of the one camera, usually)."""
        return max(self.last_captioned.values(), default=-1)

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
        """Publish the frame(s) as sent with the caption drawn, if wanted and subscribed."""
        image = description.image
        if (not self._settings().publish_caption_image or image is None
                or self._image_pub.get_subscription_count() == 0):
            return  # nothing is drawn for nobody
        try:
            drawn = self._draw(description)
            if drawn is None:
                return
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

    def _draw(self, description: Description) -> Any:
        """Return the caption drawn on its frame, or on each camera's newest frame side by side."""
        if len(set(description.cameras)) < 2:
            pixels = frame_as_sent(description.image)
            return None if pixels is None else draw_caption(pixels, description.text)
        # Each camera's last image is its newest: later entries win.
        newest = dict(zip(description.cameras, description.images, strict=True))
        tiles = [(name, frame_as_sent(image)) for name, image in newest.items()]
        tiles = [(name, pixels) for name, pixels in tiles if pixels is not None]
        return draw_mosaic(tiles, description.text) if tiles else None

    def _covered(self) -> list[CameraInput]:
        """Return the cameras captions cover now (caption_cameras; the default camera)."""
        chosen = self._settings().caption_cameras
        if not chosen:
            return [self._camera]
        return self._cameras.chosen(chosen)  # settings checked them against cameras

    def _on_timer(self) -> None:
        # Skip the tick while the previous caption still runs: the rhythm stays the period's.
        if not self.running.acquire(blocking=False):
            return
        try:
            self._caption_latest_frame()
        finally:
            self.running.release()

    def _caption_latest_frame(self) -> None:
        covered = self._covered()
        latest = {camera.name: camera.latest_frame for camera in covered}
        if list(self.last_captioned) != list(latest):
            self.last_captioned, self.scene_gate = {}, SceneChangeGate()  # other cameras now
        frames = [frame for frame in latest.values() if frame is not None]
        if not frames or all(self.last_captioned.get(name) == frame.sequence
                             for name, frame in latest.items() if frame is not None):
            return  # nothing new to say
        settings = self._settings()
        if not self.scene_gate.should_caption_all([frame.message for frame in frames],
                                                  settings.caption_min_change):
            self._describer.stats.record_unchanged_skip()  # shown in /diagnostics
            self._node.get_logger().debug(
                f'caption skipped: the scene changed {self.scene_gate.last_change:.3f} < '
                f'caption_min_change {settings.caption_min_change:g} since the last caption '
                f'({self.scene_gate.skipped} skipped so far)')
            return
        try:
            description = self._describe(covered, settings)
        except BusyError:
            return  # service calls hold every slot; the next tick tries again
        except Exception as error:  # noqa: B902 - the timer must keep its rhythm
            self._log_error(str(error))
            return
        # The frames described, which may be newer than those looked at above.
        names = description.cameras or (covered[0].name,) * len(description.all_frames)
        described = {name: frame.sequence
                     for name, frame in zip(names, description.all_frames, strict=True)}
        self.last_captioned = {name: described.get(name, -1) for name in latest}
        self.scene_gate.captioned()
        self._error = ('', 0.0)
        log_request(self._node, 'caption', description)
        self._publish(description)

    def _describe(self, covered: list[CameraInput], settings: VlmSettings) -> Description:
        if len(covered) == 1:
            description = describe_for_caption(
                self._describer, covered[0].history.frames(), settings)
            if covered[0].name:
                description = replace(
                    description, cameras=(covered[0].name,) * len(description.all_frames))
            return description
        views = {camera.name: CameraView(camera.topic, camera.history.frames())
                 for camera in covered}
        description, left_out = describe_cameras_for_caption(self._describer, views, settings)
        if left_out != self._left_out:  # said once per change, not every period
            for name, reason in left_out.items():
                self._node.get_logger().warning(
                    f"surround caption without camera '{name}': {reason}")
            self._left_out = left_out
        return description

    def _publish(self, description: Description) -> None:
        self._caption_pub.publish(String(data=description.text))
        newest = max(description.all_frames, key=lambda frame: frame.received_at)
        self._caption_stamped_pub.publish(Caption(
            header=newest.message.header, text=description.text,
            prompt=description.prompt, model=description.model, latency=description.latency,
            image_stamps=[frame.message.header.stamp for frame in description.all_frames],
            cameras=list(description.cameras)))
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
