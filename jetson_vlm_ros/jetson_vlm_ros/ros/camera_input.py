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
vlm_node's camera: the image subscription, its QoS overrides, the frames kept, `enable`.

The image callback only stores a reference to the message (the latest frame and the frame
history): conversion waits until a request needs the frame. The subscription's QoS is
sensor data with depth 1, overridable with the qos_overrides parameters. The `enable`
service (std_srvs/SetBool) destroys the subscription to pause: no CPU for the camera.
"""

import time
from typing import Any, Callable, Optional, Union

from jetson_vlm_ros.core.health import CameraFacts
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.frame_history import FrameHistory
from jetson_vlm_ros.frames.image_conversion import (
    ImageConversionError, PixelArray, UnsupportedEncodingError)
from jetson_vlm_ros.frames.image_encoding import encode_any_message, encode_pixels, EncodedImage
from jetson_vlm_ros.model.scene_describer import Frame
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool

# Told (the new frame, the frame the history kept or None) for every frame received.
FrameListener = Callable[[Frame, Optional[Frame]], None]


def encode_with_cv_bridge_fallback(msg: Any, max_size: int, jpeg_quality: int) -> EncodedImage:
    """Encode with our converters; for other raw encodings use cv_bridge where installed."""
    try:
        return encode_any_message(msg, max_size, jpeg_quality)
    except UnsupportedEncodingError as error:
        try:
            from cv_bridge import CvBridge
        except ImportError:
            raise error from None
    try:
        bgr = CvBridge().imgmsg_to_cv2(msg, desired_encoding='bgr8')
    except Exception as bridge_error:  # noqa: B902 - cv_bridge raises several unrelated types
        raise ImageConversionError(
            f"cv_bridge cannot convert encoding '{msg.encoding}': {bridge_error}") from None
    return encode_pixels(PixelArray(bgr, 'BGR'), max_size, jpeg_quality)


class CameraInput:
    """Subscribes the camera while enabled and keeps its latest frame and frame history."""

    def __init__(self, node: Node, settings: Callable[[], VlmSettings],
                 frame_arrived: FrameListener, enabled_changed: Callable[[bool], None],
                 name: str = '', enable_service: bool = True) -> None:
        self._node = node
        self.name = name  # '' for the single unnamed camera on `image`
        self._settings = settings
        self._frame_arrived = frame_arrived
        self._enabled_changed = enabled_changed
        current = settings()
        self.latest_frame: Optional[Frame] = None
        self.history = FrameHistory(current.history_size, current.history_seconds)
        self.frames_received = 0
        base = f'{name}/image' if name else 'image'  # relative: remappable, namespaced
        if current.image_transport == 'compressed':
            # As image_transport names it: the resolved (remapped) base topic + /compressed.
            self._type = CompressedImage
            self.topic = node.resolve_topic_name(base) + '/compressed'
        else:
            self._type, self.topic = Image, node.resolve_topic_name(base)
        self.subscription = None
        self._qos: Optional[QoSProfile] = None
        self._subscribed_at = time.monotonic()
        self.enabled = current.start_enabled
        if self.enabled:
            self.subscribe()
        if enable_service:  # one per node; it pauses the other cameras through enabled_changed
            # false pauses the camera, captions and requests; true resumes them.
            self._enable_service = node.create_service(SetBool, 'enable', self._on_enable)

    def subscribe(self) -> None:
        """Subscribe the camera (the first time, with the qos_overrides parameters)."""
        if self._qos is None:
            # First time: declare the qos_overrides parameters and apply what they say.
            qos = QoSProfile(
                history=qos_profile_sensor_data.history, depth=1,
                reliability=qos_profile_sensor_data.reliability,
                durability=qos_profile_sensor_data.durability)
            self.subscription = self._node.create_subscription(
                self._type, self.topic, self._on_image, qos,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
            self._qos = self.subscription.qos_profile
        else:  # after `enable`: the same QoS, without declaring the parameters again
            self.subscription = self._node.create_subscription(
                self._type, self.topic, self._on_image, self._qos)
        self._subscribed_at = time.monotonic()

    def settings_changed(self, old: VlmSettings, new: VlmSettings) -> None:
        """Resize the frame history when its parameters change."""
        if (new.history_size, new.history_seconds) != (old.history_size, old.history_seconds):
            self.history.resize(new.history_size, new.history_seconds)

    def facts(self) -> CameraFacts:
        """Return what /diagnostics says about the camera."""
        now = time.monotonic()
        frame = self.latest_frame
        return CameraFacts(
            topic=self.topic, enabled=self.enabled, frames_received=self.frames_received,
            latest_age=None if frame is None else now - frame.received_at,
            since_start=now - self._subscribed_at,
            publishers=self._node.count_publishers(self.topic),
            max_image_age=self._settings().max_image_age)

    def _on_image(self, msg: Union[Image, CompressedImage]) -> None:
        # Keep a reference only: conversion waits until a request needs this frame.
        self.frames_received += 1
        self.latest_frame = Frame(msg, time.monotonic(), self.frames_received)
        kept = self.history.add(self.latest_frame)
        self._frame_arrived(self.latest_frame, kept)

    def set_enabled(self, enabled: bool) -> bool:
        """Subscribe or unsubscribe the camera; return whether that changed anything."""
        if enabled == self.enabled:
            return False
        self.enabled = enabled
        if enabled:
            self.subscribe()
        else:
            # Destroying the subscription stops frame delivery: no CPU for the camera.
            self._node.destroy_subscription(self.subscription)
            self.subscription = None
            self.latest_frame = None
            self.history.clear()  # paused: no old frames described later, none held
        return True

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response
                   ) -> SetBool.Response:
        if self.set_enabled(request.data):
            self._enabled_changed(request.data)
            self._node.get_logger().info('enabled' if request.data else
                                         'disabled: camera unsubscribed, captions stopped, '
                                         'requests refused')
        response.success = True
        response.message = 'enabled' if self.enabled else 'disabled'
        return response
