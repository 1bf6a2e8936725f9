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

"""Scene-change gating: thumbnails, the change measure, and the gate's decisions."""

from dataclasses import dataclass

from conftest import FakeImage
import cv2
from jetson_vlm_ros.frames.frame_selection import select_caption_frames
from jetson_vlm_ros.frames.scene_change import (
    scene_change, SceneChangeGate, thumbnail, THUMBNAIL_SIZE)
from jetson_vlm_ros.model.scene_describer import Frame
import numpy as np
import pytest


def message(pixels: np.ndarray, encoding: str = 'rgb8', bigendian: int = 0) -> FakeImage:
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return FakeImage(height, width, encoding, bigendian, pixels.strides[0], pixels.tobytes())


def scene(width: int = 1920, height: int = 1080, box_x: int = 200, seed: int = 0) -> np.ndarray:
    """Return a grey room with a dark box at box_x, plus sensor noise."""
    rng = np.random.default_rng(seed)
    rgb = np.full((height, width, 3), 150, np.int16)
    rgb[height // 3: 2 * height // 3, box_x: box_x + width // 5] = 30
    return np.clip(rgb + rng.normal(0, 4, rgb.shape), 0, 255).astype(np.uint8)


@dataclass
class FakeCompressed:
    format: str  # noqa: A003 - the name of the message field
    data: bytes


def test_change_is_zero_for_the_same_picture_and_one_for_black_vs_white():
    black = thumbnail(message(np.zeros((480, 640, 3), np.uint8)))
    white = thumbnail(message(np.full((480, 640, 3), 255, np.uint8)))
    assert black.shape == (THUMBNAIL_SIZE[1], THUMBNAIL_SIZE[0])
    assert scene_change(black, black) == 0.0
    assert scene_change(black, white) == pytest.approx(1.0)


def test_sensor_noise_is_small_and_a_moved_object_is_large():
    still = scene_change(thumbnail(message(scene(seed=1))), thumbnail(message(scene(seed=2))))
    moved = scene_change(thumbnail(message(scene(seed=1))),
                         thumbnail(message(scene(box_x=1200, seed=2))))
    assert still < 0.005
    assert moved > 0.05


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8', 'rgba8', 'mono16'])
def test_every_encoding_gives_the_same_grey_for_a_grey_scene(encoding):
    grey = np.full((120, 160), 100, np.uint8)
    pixels = {'rgb8': np.dstack([grey] * 3), 'bgr8': np.dstack([grey] * 3), 'mono8': grey,
              'rgba8': np.dstack([grey] * 3 + [np.zeros_like(grey)]),
              'mono16': grey.astype(np.uint16) * 257}[encoding]
    assert thumbnail(message(pixels, encoding)).mean() == pytest.approx(100, abs=0.5)


def test_big_endian_mono16_reads_right():
    pixels = np.full((60, 80), 200 * 257, np.uint16).astype('>u2')
    assert thumbnail(message(pixels, 'mono16', 1)).mean() == pytest.approx(200, abs=0.5)


def test_compressed_frames_are_compared_too():
    ok, jpeg = cv2.imencode('.jpg', scene()[:, :, ::-1])
    assert ok
    from_jpeg = thumbnail(FakeCompressed('jpeg', jpeg.tobytes()))
    from_raw = thumbnail(message(scene()))
    assert scene_change(from_jpeg, from_raw) < 0.02


def test_gate_skips_an_unchanged_scene_and_counts_it():
    gate = SceneChangeGate()
    assert gate.should_caption(message(scene(seed=1)), 0.02)  # nothing captioned yet
    gate.captioned()
    assert not gate.should_caption(message(scene(seed=2)), 0.02)
    assert not gate.should_caption(message(scene(seed=3)), 0.02)
    assert gate.skipped == 2 and gate.last_change < 0.02
    assert gate.should_caption(message(scene(box_x=1200)), 0.02)
    assert gate.last_change > 0.05
    gate.captioned()
    # Compared with the last captioned frame, not with the last skipped one.
    assert not gate.should_caption(message(scene(box_x=1200, seed=4)), 0.02)
    assert gate.skipped == 3


def test_gate_off_reads_no_frame_and_unreadable_frames_are_captioned():
    gate = SceneChangeGate()
    assert gate.should_caption(None, 0.0)  # never looked at
    gate.captioned()
    broken = message(np.zeros((10, 10, 3), np.uint8))
    broken.step = 5
    assert gate.should_caption(broken, 0.5)
    assert gate.skipped == 0


def test_caption_frames_spread_over_the_period_or_what_the_history_holds():
    history = [Frame(None, i * 0.1, i) for i in range(31)]  # 3 s at 10 Hz
    chosen = select_caption_frames(history, 4, 2.0)
    assert [f.received_at for f in chosen] == pytest.approx([1.5, 2.0, 2.5, 3.0])
    assert [f.received_at for f in select_caption_frames(history, 4, 30.0)] == pytest.approx(
        [0.0, 1.0, 2.0, 3.0])
    assert [f.sequence for f in select_caption_frames(history[:2], 4, 2.0)] == [0, 1]
    assert select_caption_frames(history, 1, 2.0) == [history[-1]]


def test_grey_is_luma_so_red_and_blue_differ():
    red = thumbnail(message(np.dstack([np.full((48, 64), 200, np.uint8)] + [
        np.zeros((48, 64), np.uint8)] * 2)))
    blue_as_bgr = thumbnail(message(np.dstack([np.full((48, 64), 200, np.uint8)] + [
        np.zeros((48, 64), np.uint8)] * 2), 'bgr8'))
    assert red.mean() == pytest.approx(0.299 * 200, abs=1)
    assert blue_as_bgr.mean() == pytest.approx(0.114 * 200, abs=1)
