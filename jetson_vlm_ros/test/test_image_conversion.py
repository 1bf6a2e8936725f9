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

"""image_conversion against images packed by hand with NumPy, as a camera driver would."""

import array

from conftest import FakeImage
from jetson_vlm_ros.frames.image_conversion import (
    image_to_pixels, image_to_rgb, ImageConversionError, SUPPORTED_ENCODINGS)
import numpy as np
import pytest

HEIGHT, WIDTH = 13, 17
RNG = np.random.default_rng(20260101)
# The picture every encoding carries: random, so a swapped or shifted channel shows.
RGB = RNG.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
ALPHA = RNG.integers(0, 256, (HEIGHT, WIDTH, 1), dtype=np.uint8)
GRAY8 = RNG.integers(0, 256, (HEIGHT, WIDTH), dtype=np.uint8)
GRAY16 = RNG.integers(0, 65536, (HEIGHT, WIDTH), dtype=np.uint16)
# The extremes and values next to a rounding boundary of x * 255 / 65535.
GRAY16[0, :6] = [0, 65535, 128, 129, 385, 386]
GARBAGE = 0xA5


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def expected_mono16(values: np.ndarray) -> np.ndarray:
    scaled = np.round(values.astype(np.float64) * 255.0 / 65535.0).astype(np.uint8)
    return gray_to_rgb(scaled)


def packed_rows(encoding: str, big_endian: bool = False) -> np.ndarray:
    """Return the picture as height rows of bytes in the encoding's layout."""
    if encoding == 'rgb8':
        pixels = RGB
    elif encoding == 'bgr8':
        pixels = RGB[:, :, ::-1]
    elif encoding == 'rgba8':
        pixels = np.concatenate([RGB, ALPHA], axis=2)
    elif encoding == 'bgra8':
        pixels = np.concatenate([RGB[:, :, ::-1], ALPHA], axis=2)
    elif encoding == 'mono8':
        pixels = GRAY8
    elif encoding == 'mono16':
        pixels = GRAY16.astype('>u2' if big_endian else '<u2')
    else:
        raise AssertionError(encoding)
    return np.ascontiguousarray(pixels).view(np.uint8).reshape(HEIGHT, -1)


def expected_rgb(encoding: str) -> np.ndarray:
    if encoding == 'mono8':
        return gray_to_rgb(GRAY8)
    if encoding == 'mono16':
        return expected_mono16(GRAY16)
    return RGB


def message(rows: np.ndarray, encoding: str, padding: int = 0, big_endian: bool = False,
            as_array: bool = False, width: int = WIDTH) -> FakeImage:
    """Build a message from rows of bytes, with padding garbage bytes after every row."""
    height, row_bytes = rows.shape
    padded = np.full((height, row_bytes + padding), GARBAGE, np.uint8)
    padded[:, :row_bytes] = rows
    data = padded.tobytes()
    if as_array:
        data = array.array('B', data)
    return FakeImage(height, width, encoding, int(big_endian), row_bytes + padding, data)


ALL_LAYOUTS = [('rgb8', False), ('bgr8', False), ('rgba8', False), ('bgra8', False),
               ('mono8', False), ('mono16', False), ('mono16', True)]


def test_supported_encodings_are_the_tested_ones():
    assert set(SUPPORTED_ENCODINGS) == {encoding for encoding, _ in ALL_LAYOUTS}


@pytest.mark.parametrize('as_array', [False, True], ids=['bytes', 'array'])
@pytest.mark.parametrize('padding', [0, 6])
@pytest.mark.parametrize('encoding, big_endian', ALL_LAYOUTS)
def test_every_encoding_converts_to_the_same_rgb(encoding, big_endian, padding, as_array):
    msg = message(packed_rows(encoding, big_endian), encoding, padding, big_endian, as_array)
    rgb = image_to_rgb(msg)
    assert rgb.dtype == np.uint8
    assert rgb.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(rgb, expected_rgb(encoding))


def test_mono16_extremes_and_rounding():
    rgb = image_to_rgb(message(packed_rows('mono16'), 'mono16'))
    # 0 -> 0, 65535 -> 255; 128/257 = 0.498 -> 0, 129/257 = 0.502 -> 1,
    # 385/257 = 1.498 -> 1, 386/257 = 1.502 -> 2.
    assert list(rgb[0, :6, 0]) == [0, 255, 0, 1, 1, 2]


def test_mono16_every_value_scales_as_cv_bridge():
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    for big_endian in (False, True):
        data = values.astype('>u2' if big_endian else '<u2').tobytes()
        rgb = image_to_rgb(FakeImage(256, 256, 'mono16', int(big_endian), 512, data))
        np.testing.assert_array_equal(rgb, expected_mono16(values))


def test_mono16_byte_order_flag_is_honoured():
    rows = packed_rows('mono16', big_endian=True)
    as_little = image_to_rgb(message(rows, 'mono16', big_endian=False))
    swapped = GRAY16.byteswap()
    np.testing.assert_array_equal(as_little, expected_mono16(swapped))
    assert not np.array_equal(as_little, expected_mono16(GRAY16))


def test_mono16_big_endian_odd_step():
    msg = message(packed_rows('mono16', True), 'mono16', 1, big_endian=True)
    np.testing.assert_array_equal(image_to_rgb(msg), expected_mono16(GRAY16))


def test_mono16_little_endian_odd_step():
    # Rows start on odd addresses, which OpenCV cannot read as 16-bit: converted all the same.
    msg = message(packed_rows('mono16'), 'mono16', 1)
    np.testing.assert_array_equal(image_to_rgb(msg), expected_mono16(GRAY16))


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
def test_odd_padding_on_8_bit_encodings(encoding):
    msg = message(packed_rows(encoding), encoding, padding=1)
    np.testing.assert_array_equal(image_to_rgb(msg), expected_rgb(encoding))


@pytest.mark.parametrize('encoding, red_pixel', [
    ('rgb8', [255, 0, 0]), ('bgr8', [0, 0, 255]),
    ('rgba8', [255, 0, 0, 255]), ('bgra8', [0, 0, 255, 255])])
def test_pure_red_stays_red(encoding, red_pixel):
    rows = np.tile(np.array(red_pixel, np.uint8), (4, 5)).reshape(4, -1)
    rgb = image_to_rgb(message(rows, encoding, width=5))
    assert rgb.shape == (4, 5, 3)
    assert (rgb == [255, 0, 0]).all()


def test_padding_garbage_never_shows():
    rows = np.zeros((HEIGHT, WIDTH * 3), np.uint8)
    msg = message(rows, 'rgb8', padding=9)
    assert msg.data.count(GARBAGE) == HEIGHT * 9
    assert not image_to_rgb(msg).any()


def test_data_longer_than_step_times_height_is_accepted():
    msg = message(packed_rows('rgb8'), 'rgb8')
    msg.data = msg.data + bytes([GARBAGE]) * 50
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_data_as_list_of_ints():
    msg = message(packed_rows('bgr8'), 'bgr8', padding=2)
    msg.data = list(msg.data)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


@pytest.mark.parametrize('as_array', [False, True], ids=['bytes', 'array'])
@pytest.mark.parametrize('missing', [1, WIDTH * 3])
def test_truncated_data_is_refused(missing, as_array):
    msg = message(packed_rows('rgb8'), 'rgb8', padding=4, as_array=as_array)
    msg.data = msg.data[:-missing]
    step = WIDTH * 3 + 4
    with pytest.raises(ImageConversionError) as caught:
        image_to_pixels(msg)
    text = str(caught.value)
    assert 'step*height' in text
    assert f'{step}*{HEIGHT} = {step * HEIGHT}' in text
    assert f'holds {step * HEIGHT - missing} bytes' in text


def test_last_row_without_padding_is_refused():
    # step*height is the contract, even when the last row's padding is all that is missing.
    msg = message(packed_rows('rgb8'), 'rgb8', padding=4)
    msg.data = msg.data[:-4]
    with pytest.raises(ImageConversionError, match=r'step\*height'):
        image_to_rgb(msg)


@pytest.mark.parametrize('width, height', [(0, 10), (10, 0), (0, 0), (-1, 10)])
def test_empty_image_is_refused(width, height):
    msg = FakeImage(height, width, 'rgb8', 0, max(width, 0) * 3, b'\0' * 300)
    with pytest.raises(ImageConversionError, match=f'empty image: {width}x{height}'):
        image_to_pixels(msg)


@pytest.mark.parametrize('encoding, row_bytes', [
    ('rgb8', WIDTH * 3), ('rgba8', WIDTH * 4), ('mono8', WIDTH), ('mono16', WIDTH * 2)])
def test_step_smaller_than_a_row_is_refused(encoding, row_bytes):
    msg = FakeImage(HEIGHT, WIDTH, encoding, 0, row_bytes - 1, b'\0' * row_bytes * HEIGHT)
    with pytest.raises(ImageConversionError) as caught:
        image_to_pixels(msg)
    text = str(caught.value)
    assert f'step {row_bytes - 1} is smaller than one row' in text
    assert f'({row_bytes} bytes)' in text


@pytest.mark.parametrize('encoding', ['yuv422', 'bayer_rggb8', '16UC1', 'RGB8', ''])
def test_unknown_encoding_lists_supported_ones(encoding):
    msg = FakeImage(2, 2, encoding, 0, 8, b'\0' * 16)
    with pytest.raises(ImageConversionError) as caught:
        image_to_pixels(msg)
    text = str(caught.value)
    assert f"unsupported image encoding '{encoding}'" in text
    for supported in ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16'):
        assert supported in text


@pytest.mark.parametrize('encoding, order, shape, dtype', [
    ('rgb8', 'RGB', (HEIGHT, WIDTH, 3), np.uint8),
    ('bgr8', 'BGR', (HEIGHT, WIDTH, 3), np.uint8),
    ('rgba8', 'RGBA', (HEIGHT, WIDTH, 4), np.uint8),
    ('bgra8', 'BGRA', (HEIGHT, WIDTH, 4), np.uint8),
    ('mono8', 'GRAY', (HEIGHT, WIDTH), np.uint8),
    ('mono16', 'GRAY', (HEIGHT, WIDTH), np.uint16)])
def test_pixels_keep_the_camera_layout(encoding, order, shape, dtype):
    image = image_to_pixels(message(packed_rows(encoding), encoding, padding=2))
    assert image.order == order
    assert image.pixels.shape == shape
    assert image.pixels.dtype == dtype


@pytest.mark.parametrize('padding', [0, 5])
def test_rgb8_pixels_are_a_view_of_bytes(padding):
    msg = message(packed_rows('rgb8'), 'rgb8', padding=padding)
    pixels = image_to_pixels(msg).pixels
    assert np.shares_memory(pixels, np.frombuffer(msg.data, np.uint8))
    np.testing.assert_array_equal(pixels, RGB)


@pytest.mark.parametrize('padding', [0, 5])
def test_rgb8_pixels_are_a_view_of_array(padding):
    msg = message(packed_rows('rgb8'), 'rgb8', padding=padding, as_array=True)
    pixels = image_to_pixels(msg).pixels
    assert np.shares_memory(pixels, np.frombuffer(msg.data, np.uint8))
    # Writing through the message's buffer shows in the view: no copy was made.
    step = WIDTH * 3 + padding
    msg.data[step + 3 * 2 + 1] = (int(RGB[1, 2, 1]) + 1) % 256
    assert pixels[1, 2, 1] == (int(RGB[1, 2, 1]) + 1) % 256


def test_mono16_little_endian_pixels_are_a_view():
    msg = message(packed_rows('mono16'), 'mono16', padding=4, as_array=True)
    pixels = image_to_pixels(msg).pixels
    assert np.shares_memory(pixels, np.frombuffer(msg.data, np.uint8))
    np.testing.assert_array_equal(pixels, GRAY16)


def test_rgb_result_does_not_alias_bgr_message():
    msg = message(packed_rows('bgr8'), 'bgr8', as_array=True)
    rgb = image_to_rgb(msg)
    assert not np.shares_memory(rgb, np.frombuffer(msg.data, np.uint8))
