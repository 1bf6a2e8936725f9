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

"""image_encoding: downsizing and JPEG data URLs, checked by decoding what was encoded."""

import base64

from conftest import FakeImage
import cv2
from jetson_vlm_ros.frames.image_conversion import ImageConversionError
from jetson_vlm_ros.frames.image_encoding import encode_image_message, fit_within
import numpy as np
import pytest


def message(pixels: np.ndarray, encoding: str, padding: int = 0,
            big_endian: bool = False) -> FakeImage:
    """Pack an (h, w[, c]) array already in the encoding's channel order into a message."""
    height, width = pixels.shape[:2]
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    padded = np.full((height, rows.shape[1] + padding), 0x5A, np.uint8)
    padded[:, :rows.shape[1]] = rows
    return FakeImage(height, width, encoding, int(big_endian), padded.shape[1],
                     padded.tobytes())


def decode(jpeg: bytes) -> np.ndarray:
    pixels = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    assert pixels is not None, 'not a decodable JPEG'
    return pixels


def solid(height: int, width: int, colour: tuple[int, ...]) -> np.ndarray:
    return np.tile(np.array(colour, np.uint8), (height, width, 1))


def textured(height: int, width: int, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (height, width, channels), dtype=np.uint8)


@pytest.mark.parametrize('size, max_size, expected', [
    ((1920, 1080), 896, (896, 504)),
    ((1080, 1920), 896, (504, 896)),
    ((640, 480), 320, (320, 240)),
    ((1000, 1000), 896, (896, 896)),
    ((897, 10), 896, (896, 10)),
])
def test_fit_within_keeps_aspect(size, max_size, expected):
    assert fit_within(*size, max_size) == expected


@pytest.mark.parametrize('size', [(640, 480), (896, 896), (896, 100), (1, 1), (32, 896)])
def test_fit_within_never_upscales(size):
    assert fit_within(*size, 896) == size


@pytest.mark.parametrize('width, height', [
    (1920, 1080), (1081, 1920), (4000, 3), (3, 4000), (999, 998), (12345, 6789)])
@pytest.mark.parametrize('max_size', [32, 100, 896])
def test_fit_within_longest_side_is_exactly_max(width, height, max_size):
    new_width, new_height = fit_within(width, height, max_size)
    assert max(new_width, new_height) == max_size
    assert min(new_width, new_height) >= 1
    # The short side is the exact scaled length, rounded (or 1 where that is below 1).
    exact_short = min(width, height) * max_size / max(width, height)
    new_short = min(new_width, new_height)
    assert abs(new_short - exact_short) <= 0.5 or (new_short == 1 and exact_short < 1)
    assert (new_width >= new_height) == (width >= height)


@pytest.mark.parametrize('size, expected', [
    ((100000, 1), (896, 1)), ((1, 100000), (1, 896)), ((5000, 2), (896, 1))])
def test_fit_within_tiny_side_never_zero(size, expected):
    assert fit_within(*size, 896) == expected


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_output_is_a_complete_jpeg(encoding):
    channels = 4 if encoding.endswith('a8') else 3
    encoded = encode_image_message(message(textured(48, 64, channels), encoding), 896, 85)
    assert encoded.jpeg[:2] == b'\xff\xd8'
    assert encoded.jpeg[-2:] == b'\xff\xd9'
    pixels = decode(encoded.jpeg)
    assert pixels.shape == (48, 64, 3)
    assert (encoded.width, encoded.height) == (64, 48)


@pytest.mark.parametrize('encoding, red', [
    ('rgb8', (255, 0, 0)), ('bgr8', (0, 0, 255)),
    ('rgba8', (255, 0, 0, 255)), ('bgra8', (0, 0, 255, 255))])
@pytest.mark.parametrize('max_size', [896, 20])
def test_red_stays_red(encoding, red, max_size):
    encoded = encode_image_message(message(solid(40, 60, red), encoding), max_size, 90)
    bgr = decode(encoded.jpeg)
    blue, green, red_mean = (bgr[:, :, c].mean() for c in range(3))
    assert red_mean > 240
    assert blue < 15 and green < 15


def test_blue_stays_blue_in_bgr8():
    encoded = encode_image_message(message(solid(40, 60, (255, 0, 0)), 'bgr8'), 896, 90)
    bgr = decode(encoded.jpeg)
    assert bgr[:, :, 0].mean() > 240
    assert bgr[:, :, 1].mean() < 15 and bgr[:, :, 2].mean() < 15


def test_mono8_encodes_as_one_channel_jpeg():
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))
    encoded = encode_image_message(message(gray, 'mono8'), 896, 95)
    pixels = decode(encoded.jpeg)
    assert pixels.ndim == 2
    assert pixels.shape == (32, 64)
    assert np.abs(pixels.astype(int) - gray.astype(int)).max() <= 8


@pytest.mark.parametrize('big_endian', [False, True])
def test_mono16_encodes_scaled_to_8_bit(big_endian):
    values = np.full((16, 24), 257 * 200, np.uint16)
    pixels16 = values.astype('>u2' if big_endian else '<u2')
    encoded = encode_image_message(message(pixels16, 'mono16', big_endian=big_endian), 896, 95)
    pixels = decode(encoded.jpeg)
    assert pixels.ndim == 2
    assert abs(pixels.mean() - 200) < 2


def test_data_url_carries_the_jpeg():
    encoded = encode_image_message(message(textured(30, 40), 'rgb8'), 896, 80)
    url = encoded.data_url()
    prefix = 'data:image/jpeg;base64,'
    assert url.startswith(prefix)
    assert base64.b64decode(url[len(prefix):], validate=True) == encoded.jpeg


def test_data_url_bytes_are_the_data_url():
    encoded = encode_image_message(message(textured(30, 40), 'rgb8'), 896, 80)
    assert encoded.data_url_bytes() == encoded.data_url().encode('ascii')


def test_jpeg_quality_changes_size():
    msg = message(textured(120, 160), 'bgr8')
    low = encode_image_message(msg, 896, 20).jpeg
    high = encode_image_message(msg, 896, 95).jpeg
    assert len(low) < len(high) * 0.7


def test_full_hd_frame_is_downsized_to_896x504():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    frame[:, :960] = (0, 0, 255)  # left half red in BGR
    frame[:, 960:] = (255, 0, 0)  # right half blue
    encoded = encode_image_message(message(frame, 'bgr8'), 896, 85)
    assert (encoded.width, encoded.height) == (896, 504)
    bgr = decode(encoded.jpeg)
    assert bgr.shape == (504, 896, 3)
    left, right = bgr[:, :400].mean(axis=(0, 1)), bgr[:, 496:].mean(axis=(0, 1))
    assert left[2] > 240 and left[0] < 15
    assert right[0] > 240 and right[2] < 15


@pytest.mark.parametrize('max_size', [896, 50])
@pytest.mark.parametrize('padding', [1, 3, 64])
def test_row_padding_does_not_change_the_jpeg(padding, max_size):
    frame = textured(75, 100)
    plain = encode_image_message(message(frame, 'bgr8'), max_size, 85)
    padded = encode_image_message(message(frame, 'bgr8', padding=padding), max_size, 85)
    assert padded.jpeg == plain.jpeg
    assert (padded.width, padded.height) == (plain.width, plain.height)


def test_encoding_errors_come_from_conversion():
    msg = FakeImage(4, 4, 'yuv422', 0, 8, b'\0' * 32)
    with pytest.raises(ImageConversionError, match='unsupported image encoding'):
        encode_image_message(msg, 896, 85)


@pytest.mark.parametrize('width, height', [(1920, 1080), (1919, 1079), (3840, 2160)])
def test_downsizing_is_anti_aliased(width, height):
    # One-pixel stripes must average to grey; point sampling would keep high-contrast moire.
    stripes = np.zeros((height, width), np.uint8)
    stripes[:, ::2] = 255
    from jetson_vlm_ros.frames.image_encoding import resize_to_fit
    small = resize_to_fit(stripes, 896)
    assert max(small.shape) == 896
    assert abs(float(small.mean()) - 127.5) < 3
    assert float(small.std()) < 20
    sampled = cv2.resize(stripes, small.shape[::-1], interpolation=cv2.INTER_NEAREST)
    assert float(sampled.std()) > 100  # the test pattern does alias when not filtered
