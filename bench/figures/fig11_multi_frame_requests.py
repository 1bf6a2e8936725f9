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
Figures 11 and 12 of the bench, requests about several frames: what preparing them costs.

A 4-frame request vs single-frame ones, from raw frames and from the history as vlm_node
stores it; encoding on a pool; the caption gating check (see bench/README.md).
"""

import argparse
from concurrent.futures import ThreadPoolExecutor
import time

from common import image_message, Row, scene, timed, timed_alternately, verdict
from package_modules import package_module

NAME = 'frames'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_frames(args.repeat)


def bench_frames(repeat: int) -> list[Row]:
    """Time preparing a 4-frame 1080p request vs 4 single-frame ones, and the gating check."""
    import numpy as np

    history_preparation = package_module('history_preparation')
    image_encoding = package_module('image_encoding')
    scene_change = package_module('scene_change')
    scene_describer = package_module('scene_describer')
    build_messages = package_module('vlm_client').build_messages
    frame_type = scene_describer.Frame

    now = time.monotonic()
    frames = [frame_type(image_message(scene(1920, 1080) if i == 0 else
                                       np.roll(scene(1920, 1080), 40 * i, axis=1),
                                       'rgb8'), now - 3 + i, i) for i in range(4)]
    # As vlm_node's encoder.
    describer = scene_describer.SceneDescriber('/bench', 1, image_encoding.encode_any_message)
    settings = package_module('settings').DEFAULT_SETTINGS

    def prepare(chosen: list) -> object:
        request, _ = describer.prepare_request(chosen, 'What changed?', settings, now)
        return build_messages(request)

    four, singles, one = timed_alternately([
        lambda: prepare(frames), lambda: [prepare([frame]) for frame in frames],
        lambda: prepare(frames[-1:])], repeat)
    # As vlm_node's history holds them (history_preparation.py): all but the newest stored
    # prepared, once, when they were kept.
    stored = []
    for frame in frames[:-1]:
        image = describer.encode(frame, settings, 'frame')
        prepared = history_preparation.PreparedMessage(
            frame.message.header, image.jpeg, image.width, image.height,
            settings.max_image_size, settings.jpeg_quality)
        stored.append(frame_type(prepared, frame.received_at, frame.sequence))
    stored.append(frames[-1])
    four_stored, one_again = timed_alternately([
        lambda: prepare(stored), lambda: prepare(frames[-1:])], repeat)
    pool = ThreadPoolExecutor(2)

    def encode(frame: object) -> str:
        return image_encoding.encode_image_message(frame.message, 896, 85).data_url()

    threaded, serial = timed_alternately([
        lambda: list(pool.map(encode, frames)), lambda: [encode(frame) for frame in frames]],
        repeat)
    pool.shutdown()
    describer.close()

    gate = scene_change.SceneChangeGate()
    gate.should_caption(frames[0].message, 0.02)
    gate.captioned()
    check = timed(lambda: gate.should_caption(frames[1].message, 0.02), repeat)
    return [
        Row('11. prepare a 4-frame 1920x1080 rgb8 request (encode + messages) vs 4 single-frame '
            'requests',
            f'{four * 1e3:.2f} ms', f'{singles * 1e3:.2f} ms', f'{four / singles:.2f}x',
            '<= 1.0x (no extra cost)', verdict(four / singles <= 1.0)),
        Row('12. prepare a 4-frame 1920x1080 rgb8 request from the history as vlm_node stores '
            'it (3 frames stored prepared, the latest raw) vs 1 single-frame request',
            f'{four_stored * 1e3:.2f} ms', f'{one_again * 1e3:.2f} ms',
            f'{four_stored / one_again:.2f}x', '<= 1.2x', verdict(four_stored / one_again <= 1.2)),
        Row('11. prepare a 4-frame 1920x1080 rgb8 request from 4 raw frames vs 1 single-frame '
            'request (before issue 18 the history held raw frames)',
            f'{four * 1e3:.2f} ms', f'{one * 1e3:.2f} ms', f'{four / one:.2f}x', '-', 'info'),
        Row('11. encode 4 1080p frames on a 2-thread pool vs one after the other (why the node '
            'encodes in parallel)', f'{threaded * 1e3:.2f} ms', f'{serial * 1e3:.2f} ms',
            f'{threaded / serial:.2f}x', '-', 'info'),
        Row('11. gating check per caption (1920x1080 rgb8 thumbnail + difference) vs preparing '
            'one frame', f'{check * 1e3:.3f} ms', f'{one * 1e3:.2f} ms',
            f'{check / one:.3f}x', '<= 2 ms median', verdict(check <= 0.002)),
    ]
