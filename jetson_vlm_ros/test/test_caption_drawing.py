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

"""Caption drawing without ROS: wrapping, the band, and the frame as the model saw it."""

import cv2
from jetson_vlm_ros.frames.caption_drawing import draw_caption, FONT, frame_as_sent, wrap_words
from jetson_vlm_ros.frames.image_conversion import PixelArray
from jetson_vlm_ros.frames.image_encoding import encode_compressed_message, encode_pixels
import numpy as np

LONG = ('A blue box stands on a grey floor under a light blue sky, and a red ball rolls to '
        'the right of it. Nothing blocks the way ahead of the robot.')


def scene(width: int = 896, height: int = 504) -> np.ndarray:
    return np.full((height, width, 3), (235, 190, 135), np.uint8)  # light sky, BGR


def test_words_wrap_within_the_width_and_keep_every_word():
    lines = wrap_words(LONG, 400, 0.75, 2)
    assert len(lines) >= 3
    assert all(cv2.getTextSize(line, FONT, 0.75, 2)[0][0] <= 400 for line in lines)
    assert ' '.join(lines) == LONG
    cut = wrap_words('x' * 200, 300, 0.75, 2)
    assert len(cut) > 1 and ''.join(cut) == 'x' * 200


def test_band_is_dark_with_white_text_and_the_rest_is_untouched():
    source = scene()
    drawn = draw_caption(source, LONG)
    assert drawn.shape == source.shape and drawn.dtype == np.uint8
    assert np.array_equal(source, scene()), 'the source frame must not change'
    changed_rows = np.flatnonzero((drawn != source).any(axis=(1, 2)))
    top = changed_rows.min()
    assert changed_rows.max() == source.shape[0] - 1  # the band reaches the bottom
    assert 40 < source.shape[0] - top < 200  # two lines at 896 px, not the whole frame
    assert np.array_equal(drawn[:top], source[:top])
    band = drawn[top:]
    assert np.median(band) < 100  # darkened: white text contrasts on a light scene
    white = (band > 240).all(axis=2).sum()
    assert white > 1000, 'the text is drawn in white'
    # Legible at 896 px: capitals at least 15 px tall.
    assert cv2.getTextSize('A', FONT, 0.75, 2)[0][1] >= 15


def test_text_scales_with_the_image_width():
    small = draw_caption(scene(448, 252), 'Door open')
    large = draw_caption(scene(1792, 1008), 'Door open')
    small_band = (small != scene(448, 252)).any(axis=(1, 2)).sum()
    large_band = (large != scene(1792, 1008)).any(axis=(1, 2)).sum()
    assert 3.0 < large_band / small_band < 5.0


def test_frame_as_sent_is_the_encoded_pixels_or_the_decoded_jpeg():
    rgb = np.zeros((1080, 1920, 3), np.uint8)
    rgb[:, :, 0] = 255
    encoded = encode_pixels(PixelArray(rgb, 'RGB'), 896, 85)
    pixels = frame_as_sent(encoded)
    assert pixels.shape == (504, 896, 3)
    assert tuple(pixels[0, 0]) == (0, 0, 255)  # BGR red

    class Jpeg:
        format = 'jpeg'  # noqa: A003 - the message field's name
        data = cv2.imencode('.jpg', np.full((48, 64, 3), (0, 255, 0), np.uint8))[1].tobytes()

    forwarded = encode_compressed_message(Jpeg(), 896, 85)
    assert forwarded.pixels is None  # passed through without decoding
    decoded = frame_as_sent(forwarded)
    assert decoded.shape == (48, 64, 3) and decoded[0, 0, 1] > 240
    gray = encode_pixels(PixelArray(np.zeros((10, 10), np.uint8), 'GRAY'), 896, 85)
    assert frame_as_sent(gray).shape == (10, 10, 3)
