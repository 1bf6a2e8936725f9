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
Turn a sensor_msgs/Image-shaped message into a NumPy array, without ROS.

The message is read zero-copy: a view on its ``data`` buffer that honours ``step`` (row
padding) and byte order. Colour order is kept as the camera sent it and is only changed
after downsizing, where it is cheap (see image_encoding.py). The result equals what
ROS 2 cv_bridge's ``imgmsg_to_cv2(msg, 'rgb8')`` gives, for the encodings listed here.
"""

from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np


class ImageMessage(Protocol):
    """The fields of sensor_msgs/Image that conversion reads."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: Any


class ImageConversionError(ValueError):
    """The message cannot be read as an image; the text says why."""


class UnsupportedEncodingError(ImageConversionError):
    """The encoding is not one this module converts (cv_bridge may still)."""


@dataclass(frozen=True)
class PixelLayout:
    """How one encoding lays out a pixel."""

    channels: int
    bytes_per_channel: int
    # Channel order as OpenCV names it: 'GRAY', 'RGB', 'BGR', 'RGBA' or 'BGRA'.
    order: str


# The encodings of sensor_msgs/image_encodings.hpp that cv_bridge converts to rgb8 by a
# plain channel reorder (and, for 16-bit, a depth scale).
LAYOUTS: dict[str, PixelLayout] = {
    'rgb8': PixelLayout(3, 1, 'RGB'),
    'bgr8': PixelLayout(3, 1, 'BGR'),
    'rgba8': PixelLayout(4, 1, 'RGBA'),
    'bgra8': PixelLayout(4, 1, 'BGRA'),
    'mono8': PixelLayout(1, 1, 'GRAY'),
    'mono16': PixelLayout(1, 2, 'GRAY'),
}

SUPPORTED_ENCODINGS = tuple(LAYOUTS)


@dataclass(frozen=True)
class PixelArray:
    """Pixels of one frame (height x width x channels view) and their channel order."""

    pixels: np.ndarray
    order: str


def image_to_pixels(msg: ImageMessage) -> PixelArray:
    """
    Return a view of the message's pixels, checking every field against the data.

    Raises ImageConversionError with a reason a person can act on.
    """
    layout = LAYOUTS.get(msg.encoding)
    if layout is None:
        raise UnsupportedEncodingError(
            f"unsupported image encoding '{msg.encoding}' "
            f"(supported: {', '.join(SUPPORTED_ENCODINGS)})")
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f'empty image: {width}x{height} pixels')
    row_bytes = width * layout.channels * layout.bytes_per_channel
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is smaller than one row of {width} {msg.encoding} pixels '
            f'({row_bytes} bytes)')
    try:
        buffer = memoryview(msg.data).cast('B')
    except TypeError:
        # A list of ints, as a hand-made message may carry.
        buffer = memoryview(bytes(msg.data))
    if len(buffer) < step * height:
        raise ImageConversionError(
            f'image data holds {len(buffer)} bytes, but step*height = '
            f'{step}*{height} = {step * height}')
    if layout.bytes_per_channel == 2:
        # Rows `step` bytes apart, read as 16-bit values in place. Not `.view('<u2')` of a
        # column-sliced uint8 array: NumPy before 1.23 (Ubuntu 22.04 has 1.21) refuses that
        # view whenever step pads the rows ("To change to a dtype of a different size, the
        # last axis must be contiguous").
        rows = np.ndarray((height, row_bytes // 2), dtype='>u2' if msg.is_bigendian else '<u2',
                          buffer=buffer, strides=(step, 2))
    else:
        rows = np.frombuffer(buffer, dtype=np.uint8, count=step * height).reshape(height, step)
        rows = rows[:, :row_bytes]
    pixels = rows.reshape(height, width, layout.channels)
    if layout.channels == 1:
        pixels = pixels[:, :, 0]
    return PixelArray(pixels, layout.order)


def to_8bit(pixels: np.ndarray) -> np.ndarray:
    """Scale 16-bit pixels to 8 bits as cv_bridge does (x * 255 / 65535, rounded)."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype.byteorder == '>' or pixels.strides[0] % pixels.itemsize:
        # OpenCV reads only native byte order (little-endian on Jetson and x86) and rows
        # that start on a 2-byte boundary (an odd step does not): copy into that layout.
        pixels = np.ascontiguousarray(pixels, dtype=np.uint16)
    return cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)


_TO_RGB = {
    'RGB': None,
    'BGR': cv2.COLOR_BGR2RGB,
    'RGBA': cv2.COLOR_RGBA2RGB,
    'BGRA': cv2.COLOR_BGRA2RGB,
    'GRAY': cv2.COLOR_GRAY2RGB,
}

_TO_BGR = {
    'RGB': cv2.COLOR_RGB2BGR,
    'BGR': None,
    'RGBA': cv2.COLOR_RGBA2BGR,
    'BGRA': cv2.COLOR_BGRA2BGR,
    'GRAY': None,  # JPEG stores grey as one channel: no need to triple it
}


def pixels_to_rgb(image: PixelArray) -> np.ndarray:
    """Return the pixels as 8-bit RGB (height x width x 3); rgb8 input may come back as is."""
    pixels = to_8bit(image.pixels)
    code = _TO_RGB[image.order]
    return np.ascontiguousarray(pixels) if code is None else cv2.cvtColor(pixels, code)


def pixels_to_bgr_or_gray(image: PixelArray) -> np.ndarray:
    """Return 8-bit pixels in the order cv2.imencode expects: BGR, or one grey channel."""
    pixels = to_8bit(image.pixels)
    code = _TO_BGR[image.order]
    return pixels if code is None else cv2.cvtColor(pixels, code)


def image_to_rgb(msg: ImageMessage) -> np.ndarray:
    """Convert a whole message to RGB, as cv_bridge's ``imgmsg_to_cv2(msg, 'rgb8')``."""
    return pixels_to_rgb(image_to_pixels(msg))
