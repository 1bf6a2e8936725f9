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
vlm_node's cameras: one CameraInput per entry of the `cameras` parameter (or one on `image`).

The first camera is the default one (requests that name none, captions, alerts, the
gateway, diagnostics) and owns the `enable` service, which pauses and resumes every camera.
Each camera keeps its own latest frame and history, whose kept frames are prepared as the
model will get them (history_preparation.py).
"""

from typing import Callable, Optional, Sequence

from jetson_vlm_ros.core.camera_choice import chosen_cameras
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.history_preparation import HistoryPreparer
from jetson_vlm_ros.frames.image_encoding import EncodedImage
from jetson_vlm_ros.model.scene_describer import Frame
from jetson_vlm_ros.model.scene_question import CameraView
from jetson_vlm_ros.ros.camera_input import CameraInput, FrameListener
from rclpy.node import Node

# (frame, settings, name for errors) -> the image as the model gets it.
FrameEncoder = Callable[[Frame, VlmSettings, str], EncodedImage]
# Told (the camera, its new frame) for every frame of every camera, on the spinning thread.
CameraFrameListener = Callable[[CameraInput, Frame], None]


class CameraSet:
    """Every camera of the node, the default one first."""

    def __init__(self, node: Node, settings: Callable[[], VlmSettings],
                 frame_arrived: Optional[FrameListener],
                 enabled_changed: Callable[[bool], None]) -> None:
        names = settings().cameras or ('',)  # '': the single unnamed camera on `image`
        self._preparers: dict[str, HistoryPreparer] = {}
        self._frame_listeners: list[CameraFrameListener] = []

        def enable_every_camera(enabled: bool) -> None:
            for camera in self.cameras[1:]:
                camera.set_enabled(enabled)
            enabled_changed(enabled)

        self.cameras: list[CameraInput] = [CameraInput(
            node, settings, self._listener(names[0], frame_arrived), enable_every_camera,
            name=names[0])]
        self.cameras += [CameraInput(node, settings, self._listener(name, None),
                                     lambda enabled: None, name=name, enable_service=False)
                         for name in names[1:]]
        self.default = self.cameras[0]
        self._by_name = {camera.name: camera for camera in self.cameras}

    def add_frame_listener(self, listener: CameraFrameListener) -> None:
        """Tell listener every frame of every camera from now on (it must return at once)."""
        self._frame_listeners.append(listener)

    def named(self, name: str) -> Optional[CameraInput]:
        """Return the camera of that name, or None ('' is the unnamed camera)."""
        return self._by_name.get(name)

    def chosen(self, names: Sequence[str]) -> list[CameraInput]:
        """Return the cameras names choose ('all': every one); the names were checked before."""
        return [self._by_name[name] for name in chosen_cameras(names, list(self._by_name))]

    def start_preparing(self, encode: FrameEncoder, settings: Callable[[], VlmSettings],
                        on_error: Callable[[str], None]) -> HistoryPreparer:
        """Prepare each camera's kept history frames from now on; return the default's."""
        for camera in self.cameras:
            label = f"camera '{camera.name}' history frame" if camera.name else 'history frame'
            self._preparers[camera.name] = HistoryPreparer(
                camera.history, lambda frame, current, label=label: encode(
                    frame, current, f'{label} {frame.sequence}'), settings, on_error)
        return self._preparers[self.default.name]

    def views(self) -> dict[str, CameraView]:
        """Return each named camera's topic and history now (none for the unnamed camera)."""
        return {camera.name: CameraView(camera.topic, camera.history.frames())
                for camera in self.cameras if camera.name}

    def settings_changed(self, old: VlmSettings, new: VlmSettings) -> None:
        """Pass parameter changes to every camera."""
        for camera in self.cameras:
            camera.settings_changed(old, new)

    def close(self) -> None:
        """Stop preparing history frames."""
        for preparer in self._preparers.values():
            preparer.close()

    def _listener(self, name: str, then: Optional[FrameListener]) -> FrameListener:
        def on_frame(frame: Frame, kept: Optional[Frame]) -> None:
            preparer = self._preparers.get(name)
            if kept is not None and preparer is not None:  # a few a second, not every frame
                preparer.frame_kept(kept)
            if then is not None:
                then(frame, kept)
            for listener in self._frame_listeners:
                listener(self._by_name[name], frame)
        return on_frame
