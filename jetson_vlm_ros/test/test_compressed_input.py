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

"""sensor_msgs/CompressedImage input: JPEG pass-through within max_size, decode otherwise."""

from dataclasses import dataclass

import cv2
from jetson_vlm_ros.frames.image_conversion import ImageConversionError
from jetson_vlm_ros.frames.image_encoding import (
    encode_any_message, encode_compressed_message, encode_jpeg, jpeg_size, resize_to_fit)
import numpy as np
import pytest


@dataclass
class FakeCompressed:
    format: str  # noqa: A003 - the name of the message field
    data: bytes


def textured(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (height, width, 3), np.uint8)


def jpeg(pixels: np.ndarray, progressive: bool = False) -> bytes:
    params = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1] if progressive else []
    ok, buffer = cv2.imencode('.jpg', pixels, params)
    assert ok
    return buffer.tobytes()


@pytest.mark.parametrize('width, height', [(1, 1), (640, 480), (1920, 1080), (479, 1201)])
@pytest.mark.parametrize('progressive', [False, True])
def test_jpeg_size_reads_the_frame_header(width, height, progressive):
    assert jpeg_size(jpeg(textured(width, height), progressive)) == (width, height)


@pytest.mark.parametrize('data', [
    b'', b'\xff\xd8', b'\x89PNG\r\n\x1a\n', b'\xff\xd8\xff\xda\x00\x02'])
def test_jpeg_size_of_non_jpeg_or_truncated_is_none(data):
    assert jpeg_size(data) is None


def test_small_jpeg_is_forwarded_byte_for_byte():
    data = jpeg(textured(640, 480))
    encoded = encode_compressed_message(FakeCompressed('jpeg', data), 896, 85)
    assert encoded.jpeg == data
    assert (encoded.width, encoded.height) == (640, 480)


def test_large_jpeg_is_decoded_and_downsized():
    data = jpeg(textured(1920, 1080))
    encoded = encode_compressed_message(FakeCompressed('bgr8; jpeg compressed bgr8', data),
                                        896, 85)
    assert encoded.jpeg != data
    assert (encoded.width, encoded.height) == (896, 504)
    decoded = cv2.imdecode(np.frombuffer(encoded.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (504, 896, 3)


def test_colour_survives_the_reduced_decode():
    red_bgr = np.zeros((2160, 3840, 3), np.uint8)
    red_bgr[:, :, 2] = 255
    encoded = encode_compressed_message(FakeCompressed('jpeg', jpeg(red_bgr)), 448, 90)
    assert (encoded.width, encoded.height) == (448, 252)
    b, g, r = cv2.imdecode(np.frombuffer(encoded.jpeg, np.uint8),
                           cv2.IMREAD_COLOR).reshape(-1, 3).mean(axis=0)
    assert r > 240 and g < 15 and b < 15


def test_png_is_decoded_and_sent_as_jpeg():
    ok, png = cv2.imencode('.png', textured(320, 240))
    encoded = encode_compressed_message(FakeCompressed('png', png.tobytes()), 896, 85)
    assert encoded.jpeg[:2] == b'\xff\xd8'
    assert (encoded.width, encoded.height) == (320, 240)


@pytest.mark.parametrize('data, reason', [
    (b'', 'has no data'), (b'not an image at all', 'does not decode')])
def test_undecodable_data_is_a_conversion_error(data, reason):
    with pytest.raises(ImageConversionError, match=reason):
        encode_compressed_message(FakeCompressed('jpeg', data), 896, 85)


def test_dispatch_by_message_kind():
    data = jpeg(textured(64, 48))
    assert encode_any_message(FakeCompressed('jpeg', data), 896, 85).jpeg == data


@pytest.mark.parametrize('max_size, reduced_flag', [
    (896, cv2.IMREAD_REDUCED_COLOR_2), (960, cv2.IMREAD_REDUCED_COLOR_2),
    (448, cv2.IMREAD_REDUCED_COLOR_4), (200, cv2.IMREAD_REDUCED_COLOR_8),
    (240, cv2.IMREAD_REDUCED_COLOR_8)])
def test_large_jpeg_takes_the_reduced_scale_decode(max_size, reduced_flag):
    # libjpeg's scaled decode (DCT-domain, 1/2, 1/4, 1/8) gives other pixels than a full
    # decode followed by the same downsizing, so the JPEG sent tells the two paths apart.
    # Expected: the smallest scale that keeps the longest side (1920) >= max_size.
    data = jpeg(textured(1920, 1080))

    def prepared(read_flag: int) -> bytes:
        pixels = cv2.imdecode(np.frombuffer(data, np.uint8), read_flag)
        return encode_jpeg(resize_to_fit(pixels, max_size), 85)

    via_reduced, via_full = prepared(reduced_flag), prepared(cv2.IMREAD_COLOR)
    assert via_reduced != via_full, 'this image does not tell the decode paths apart'
    encoded = encode_compressed_message(FakeCompressed('jpeg', data), max_size, 85)
    assert encoded.jpeg == via_reduced, (
        'decoded at full size, then downsized' if encoded.jpeg == via_full
        else 'not decoded at the expected reduced scale')
    assert max(encoded.width, encoded.height) == max_size
