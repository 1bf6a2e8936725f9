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
Draw a caption on the frame it describes, for rviz and rqt_image_view (no ROS here).

White text, word-wrapped to the image width, on a darkened band along the bottom edge:
readable on any scene. Sizes scale with the image width so that the text is as legible
on an 896 px frame (what gemma3 sees) as on a 1920 px one. A caption of several cameras
shows their pictures side by side, each named, with the caption under them (draw_mosaic).
"""

from typing import Optional, Sequence

import cv2
from jetson_vlm_ros.frames.image_encoding import EncodedImage
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
# At 896 px wide: about 20 px tall capitals, 2 px strokes, some 60 characters per line.
SCALE_PER_PIXEL = 0.75 / 896
MAX_LINES = 8
BAND_DARKNESS = 0.35  # the scene shows through the band at this fraction of its brightness
MOSAIC_GAP = 4  # black pixels between two cameras' pictures


def wrap_words(text: str, max_width: int, scale: float, thickness: int) -> list[str]:
    """Split text into lines no wider than max_width pixels; a long word is cut."""
    lines: list[str] = []
    line = ''
    for word in text.split():
        candidate = f'{line} {word}' if line else word
        if cv2.getTextSize(candidate, FONT, scale, thickness)[0][0] <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
        line = word
        while cv2.getTextSize(line, FONT, scale, thickness)[0][0] > max_width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and cv2.getTextSize(line[:cut], FONT, scale, thickness)[0][0] > \
                    max_width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
    if line:
        lines.append(line)
    return lines


def draw_caption(bgr: np.ndarray, text: str) -> np.ndarray:
    """Return a copy of an 8-bit BGR image with text on a dark band at the bottom."""
    height, width = bgr.shape[:2]
    scale, thickness, margin = _text_size(width)
    lines = _fitted_lines(text, width - 2 * margin, scale, thickness)
    line_height = cv2.getTextSize('Ag', FONT, scale, thickness)[0][1] * 2
    band_top = max(0, height - len(lines) * line_height - 2 * margin)
    out = bgr.copy()
    band = out[band_top:]
    band[:] = cv2.convertScaleAbs(band, alpha=BAND_DARKNESS)
    _put_lines(out, lines, margin, band_top + margin + line_height * 3 // 4, line_height,
               scale, thickness)
    return out


def _text_size(width: int) -> tuple[float, int, int]:
    """Return the font scale, stroke thickness and margin for a picture this wide."""
    scale = max(0.35, width * SCALE_PER_PIXEL)
    return scale, max(1, round(scale * 2.5)), max(4, round(12 * scale))


def _fitted_lines(text: str, max_width: int, scale: float, thickness: int) -> list[str]:
    lines = wrap_words(text, max_width, scale, thickness)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES - 1] + [lines[MAX_LINES - 1] + ' ...']
    return lines


def _put_lines(out: np.ndarray, lines: Sequence[str], x: int, y: int, line_height: int,
               scale: float, thickness: int) -> None:
    for line in lines:
        # LINE_8, not LINE_AA: a fifth of the cost (measured), and crisp at 2 px strokes.
        cv2.putText(out, line, (x, y), FONT, scale, (255, 255, 255), thickness, cv2.LINE_8)
        y += line_height


def draw_mosaic(tiles: Sequence[tuple[str, np.ndarray]], text: str) -> np.ndarray:
    """
    Return the 8-bit BGR tiles side by side, each named, with text on a band under them.

    Tiles are scaled to the lowest tile's height (never up) and kept in the order given;
    the caption goes under the pictures, not over them, so that no camera's view is hidden.
    """
    height = min(pixels.shape[0] for _, pixels in tiles)
    row = []
    for index, (name, pixels) in enumerate(tiles):
        if pixels.shape[0] != height:
            width = max(1, round(pixels.shape[1] * height / pixels.shape[0]))
            pixels = cv2.resize(pixels, (width, height), interpolation=cv2.INTER_AREA)
        else:
            pixels = pixels.copy()
        _label(pixels, name)
        if index:
            row.append(np.zeros((height, MOSAIC_GAP, 3), np.uint8))
        row.append(pixels)
    pictures = np.hstack(row)
    width = pictures.shape[1]
    scale, thickness, margin = _text_size(min(width, height * 16 // 9))
    lines = _fitted_lines(text, width - 2 * margin, scale, thickness)
    line_height = cv2.getTextSize('Ag', FONT, scale, thickness)[0][1] * 2
    band = np.zeros((len(lines) * line_height + 2 * margin, width, 3), np.uint8)
    _put_lines(band, lines, margin, margin + line_height * 3 // 4, line_height, scale,
               thickness)
    return np.vstack([pictures, band])


def _label(pixels: np.ndarray, name: str) -> None:
    """Write a camera's name in its tile's top left corner, on a dark box."""
    scale, thickness, margin = _text_size(pixels.shape[1])
    (text_width, text_height), _ = cv2.getTextSize(name, FONT, scale, thickness)
    box = pixels[:text_height + 2 * margin, :text_width + 2 * margin]
    box[:] = cv2.convertScaleAbs(box, alpha=BAND_DARKNESS)
    cv2.putText(pixels, name, (margin, margin + text_height), FONT, scale, (255, 255, 255),
                thickness, cv2.LINE_8)


def frame_as_sent(image: EncodedImage) -> Optional[np.ndarray]:
    """Return the BGR pixels the model was sent (decoding a forwarded JPEG), or None."""
    pixels = image.pixels
    if pixels is None:
        pixels = cv2.imdecode(np.frombuffer(image.jpeg, np.uint8), cv2.IMREAD_COLOR)
        if pixels is None:
            return None
    if pixels.ndim == 2:
        return cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
    return pixels
