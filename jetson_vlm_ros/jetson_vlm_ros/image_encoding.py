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

"""Downsize a frame and encode it as the JPEG data URL that the VLM request carries."""

import base64
from dataclasses import dataclass

import cv2
from jetson_vlm_ros.image_conversion import (
    image_to_pixels, ImageConversionError, ImageMessage, PixelArray, pixels_to_bgr_or_gray,
    to_8bit)
import numpy as np


@dataclass(frozen=True)
class EncodedImage:
    """A JPEG ready to send, with the size it was encoded at."""

    jpeg: bytes
    width: int
    height: int

    def data_url(self) -> str:
        """Return the image as a ``data:image/jpeg;base64,...`` URL."""
        return 'data:image/jpeg;base64,' + base64.b64encode(self.jpeg).decode('ascii')


def fit_within(width: int, height: int, max_size: int) -> tuple[int, int]:
    """Return (width, height) scaled so the longest side is at most max_size; never upscale."""
    longest = max(width, height)
    if longest <= max_size:
        return width, height
    scale = max_size / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def resize_to_fit(pixels: np.ndarray, max_size: int) -> np.ndarray:
    """Downsize so the longest side is at most max_size, keeping the aspect ratio."""
    height, width = pixels.shape[:2]
    new_width, new_height = fit_within(width, height, max_size)
    if (new_width, new_height) == (width, height):
        return pixels
    # INTER_AREA averages every source pixel: no aliasing on the 2-4x shrinks cameras
    # need, where INTER_LINEAR samples only a few and shimmers on fine texture.
    return cv2.resize(pixels, (new_width, new_height), interpolation=cv2.INTER_AREA)


def encode_jpeg(pixels: np.ndarray, quality: int) -> bytes:
    """Encode 8-bit BGR or grey pixels as JPEG."""
    ok, buffer = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ImageConversionError('OpenCV could not encode the image as JPEG')
    return buffer.tobytes()


def encode_pixels(image: PixelArray, max_size: int, jpeg_quality: int) -> EncodedImage:
    """Downsize first (the costly part runs on the fewest pixels), then reorder and encode."""
    small = PixelArray(resize_to_fit(to_8bit(image.pixels), max_size), image.order)
    ready = pixels_to_bgr_or_gray(small)
    height, width = ready.shape[:2]
    return EncodedImage(encode_jpeg(ready, jpeg_quality), width, height)


def encode_image_message(msg: ImageMessage, max_size: int, jpeg_quality: int) -> EncodedImage:
    """Convert a sensor_msgs/Image-shaped message to a downsized JPEG."""
    return encode_pixels(image_to_pixels(msg), max_size, jpeg_quality)
