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
Scene-change gating of periodic captions: skip the model when the picture did not change.

A frame is reduced to a tiny grey thumbnail (THUMBNAIL_SIZE), and the change between two
frames is the mean absolute difference of their thumbnails / 255 (0 = same, 1 = black vs
white). The thumbnail reads a sparse grid of the frame's pixels straight from the message
(no full conversion), so a check costs well under a millisecond at 1080p; sensor noise
averages out over the grid.
"""

from typing import Any, Optional, Sequence

import cv2
from jetson_vlm_ros.frames.image_conversion import image_to_pixels, to_8bit
import numpy as np

THUMBNAIL_SIZE = (32, 24)  # width, height
# Pixels read per thumbnail pixel along each axis (a 128x96 grid for the default size).
_GRID = 4
# Luma as OpenCV computes it (0.299 R + 0.587 G + 0.114 B): red and blue of equal level
# differ, as they would not in a plain channel mean.
_TO_GREY = {'RGB': cv2.COLOR_RGB2GRAY, 'BGR': cv2.COLOR_BGR2GRAY,
            'RGBA': cv2.COLOR_RGBA2GRAY, 'BGRA': cv2.COLOR_BGRA2GRAY}


def thumbnail(message: Any) -> np.ndarray:
    """Return a THUMBNAIL_SIZE grey float32 image of a sensor_msgs Image or CompressedImage."""
    width, height = THUMBNAIL_SIZE
    if hasattr(message, 'format'):  # CompressedImage: libjpeg decodes at 1/8 scale cheaply
        grey = cv2.imdecode(np.frombuffer(bytes(message.data), np.uint8),
                            cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if grey is None:
            raise ValueError(f"compressed image (format '{message.format}') does not decode")
        grey = grey.astype(np.float32)
    else:
        image = image_to_pixels(message)
        rows, columns = image.pixels.shape[:2]
        step_y = max(1, rows // (height * _GRID))
        step_x = max(1, columns // (width * _GRID))
        grid = to_8bit(np.ascontiguousarray(image.pixels[::step_y, ::step_x]))
        code = _TO_GREY.get(image.order)
        grey = (grid if code is None else cv2.cvtColor(grid, code)).astype(np.float32)
    return cv2.resize(grey, THUMBNAIL_SIZE, interpolation=cv2.INTER_AREA)


def scene_change(before: np.ndarray, after: np.ndarray) -> float:
    """Return the mean absolute difference of two thumbnails / 255, in [0, 1]."""
    return float(np.abs(after - before).mean()) / 255.0


class SceneChangeGate:
    """
    Remembers the last captioned frames' thumbnails and decides whether to caption again.

    A caption of several cameras (one frame each, in a fixed order) is due when any of them
    changed by min_change: the largest change counts.
    """

    def __init__(self) -> None:
        self._captioned: Optional[list[np.ndarray]] = None
        self._pending: Optional[list[np.ndarray]] = None
        self.skipped = 0  # captions skipped because the scene had not changed enough
        self.last_change: Optional[float] = None

    def should_caption(self, message: Any, min_change: float) -> bool:
        """Return False (and count a skip) when message changed less than min_change."""
        return self.should_caption_all([message], min_change)

    def should_caption_all(self, messages: Sequence[Any], min_change: float) -> bool:
        """Return False (and count a skip) when no message changed by min_change."""
        self._pending, self.last_change = None, None
        if min_change <= 0:
            return True
        try:
            self._pending = [thumbnail(message) for message in messages]
        except Exception:  # noqa: B902 - a frame we cannot read is the describer's to report
            return True
        if self._captioned is None or len(self._captioned) != len(self._pending):
            return True  # the first caption, or other cameras than last time
        self.last_change = max(map(scene_change, self._captioned, self._pending))
        if self.last_change < min_change:
            self.skipped += 1
            return False
        return True

    def captioned(self) -> None:
        """Record that the frame last passed to should_caption was captioned."""
        if self._pending is not None:
            self._captioned = self._pending
