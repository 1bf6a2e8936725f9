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

"""Frame selection for multi-frame requests, and the multi-frame request the describer sends."""

import base64
import time

from conftest import FakeImage
import cv2
from fake_vlm_server import FakeVlmServer
from jetson_vlm_ros.core.settings import settings_from
from jetson_vlm_ros.frames.frame_selection import (
    check_frame_request, FrameSelectionError, select_frames)
from jetson_vlm_ros.frames.image_encoding import encode_any_message
from jetson_vlm_ros.model.scene_describer import DescribeError, Frame, frame_labels, SceneDescriber
from jetson_vlm_ros.model.scene_question import (
    answer_question, question_from_request, SceneQuestion)
import numpy as np
import pytest


def stream(times) -> list[Frame]:
    return [Frame(f'msg@{t}', t, sequence) for sequence, t in enumerate(times, 1)]


def times_of(frames) -> list[float]:
    return [f.received_at for f in frames]


TEN_HZ = stream([round(i * 0.1, 3) for i in range(31)])  # 0.0 .. 3.0 s


def test_frames_closest_to_the_asked_times_oldest_first():
    assert times_of(select_frames(TEN_HZ, 4, 1.0)) == [0.0, 1.0, 2.0, 3.0]
    assert times_of(select_frames(TEN_HZ, 3, 0.3)) == [2.4, 2.7, 3.0]


def test_jittered_stream_picks_the_nearest_frame():
    jittered = stream([0.0, 0.31, 0.58, 0.93, 1.22, 1.49, 1.8])
    assert times_of(select_frames(jittered, 3, 0.6)) == [0.58, 1.22, 1.8]


def test_frames_are_distinct_even_when_the_camera_is_slower_than_the_interval():
    one_hz = stream([float(t) for t in range(10)])
    chosen = select_frames(one_hz, 4, 0.1)
    assert times_of(chosen) == [6.0, 7.0, 8.0, 9.0]


def test_interval_zero_spreads_over_the_history():
    assert times_of(select_frames(TEN_HZ, 4, 0.0)) == [0.0, 1.0, 2.0, 3.0]
    assert times_of(select_frames(TEN_HZ, 2, 0.0)) == [0.0, 3.0]


def test_one_frame_or_none_asked_is_the_latest():
    assert select_frames(TEN_HZ, 0, 5.0) == [TEN_HZ[-1]]
    assert select_frames(TEN_HZ, 1, 0.0) == [TEN_HZ[-1]]


def test_span_longer_than_the_history_is_an_error():
    with pytest.raises(FrameSelectionError) as caught:
        select_frames(TEN_HZ, 4, 2.0)
    text = str(caught.value)
    assert '4 frames 2 s apart span 6.0 s, but the history holds 3.0 s (31 frames)' in text
    assert 'history_size' in text
    # Within half an interval of the oldest frame still counts as covered.
    assert times_of(select_frames(TEN_HZ, 4, 1.1)) == [0.0, 0.8, 1.9, 3.0]


def test_shorten_span_describes_what_the_history_holds():
    assert times_of(select_frames(TEN_HZ, 4, 2.0, shorten_span=True)) == [0.0, 1.0, 2.0, 3.0]


def test_fewer_frames_held_than_asked_is_an_error():
    with pytest.raises(FrameSelectionError, match='asked for 5 frames, but the history holds 3'):
        select_frames(stream([0.0, 0.1, 0.2]), 5, 0.0)


def test_request_limits():
    check_frame_request(8, 0.5, 8)
    with pytest.raises(FrameSelectionError, match=r'num_frames 9 is more than max_frames \(8\)'):
        check_frame_request(9, 0.5, 8)
    for bad in (-1.0, float('nan'), float('inf')):
        with pytest.raises(FrameSelectionError, match='frame_interval must be 0'):
            check_frame_request(2, bad, 8)


def test_labels_announce_position_and_age():
    frames = stream([7.0, 8.5, 10.0])
    assert frame_labels(frames, 10.04) == [
        'frame 1 of 3, 3.0 s ago', 'frame 2 of 3, 1.5 s ago', 'frame 3 of 3, 0.0 s ago']


class OnlyPrompt:
    prompt = 'old client'


def test_a_request_with_only_a_prompt_means_the_latest_frame():
    assert question_from_request(OnlyPrompt()) == SceneQuestion('old client', 0, 0.0)


def solid_rgb8(red: int, width: int) -> FakeImage:
    pixels = np.zeros((30, width, 3), np.uint8)
    pixels[:, :, 0] = red
    return FakeImage(30, width, 'rgb8', 0, width * 3, pixels.tobytes())


def test_describer_sends_every_frame_after_its_label_and_the_question_last():
    now = time.monotonic()
    history = [Frame(solid_rgb8(40 * i, 40 + 8 * i), now - (5 - i), i) for i in range(1, 6)]
    settings = settings_from({'request_timeout': 5.0})
    with FakeVlmServer() as server:
        settings = settings.updated({'base_url': server.base_url})
        describer = SceneDescriber('/camera', 2)
        try:
            description = answer_question(
                describer, SceneQuestion('What changed?', 3, 2.0), history, settings, now)
        finally:
            describer.close()
    seen = server.requests[0]
    assert [image.width for image in seen.images] == [48, 64, 80]
    assert [image.mean_rgb[0] for image in seen.images] == pytest.approx([40, 120, 200], abs=3)
    assert seen.texts == ['frame 1 of 3, 4.0 s ago', 'frame 2 of 3, 2.0 s ago',
                          'frame 3 of 3, 0.0 s ago', 'What changed?']
    assert [f.sequence for f in description.all_frames] == [1, 3, 5]
    assert description.frame.sequence == 5


def test_a_bad_frame_among_several_is_named_and_nothing_is_sent():
    now = time.monotonic()
    history = [Frame(solid_rgb8(40 * i, 40), now - (3 - i), i) for i in range(1, 4)]
    history[1].message.step = 10
    settings = settings_from({'request_timeout': 5.0})
    with FakeVlmServer() as server:
        describer = SceneDescriber('/camera', 2)
        try:
            with pytest.raises(DescribeError) as caught:
                answer_question(describer, SceneQuestion('?', 3, 1.0), history,
                                settings.updated({'base_url': server.base_url}), now)
        finally:
            describer.close()
    assert str(caught.value).startswith(
        'cannot use frame 2 of 3, 1.0 s ago: step 10 is smaller than one row')
    assert server.requests == []
    assert describer.slots.in_flight == 0


class CompressedFrame:
    """The fields of sensor_msgs/CompressedImage that encoding reads."""

    def __init__(self, red: int) -> None:
        pixels = np.zeros((48, 64, 3), np.uint8)
        pixels[:, :, 2] = red  # BGR
        self.format = 'jpeg'
        self.data = cv2.imencode('.jpg', pixels)[1].tobytes()


def test_compressed_camera_frames_go_out_as_sent():
    now = time.monotonic()
    history = [Frame(CompressedFrame(60 * i), now - (3 - i), i) for i in range(4)]
    settings = settings_from({'request_timeout': 5.0})
    with FakeVlmServer() as server:
        describer = SceneDescriber('/camera/compressed', 2, encode_any_message)
        try:
            answer_question(describer, SceneQuestion('?', 3, 1.0), history,
                            settings.updated({'base_url': server.base_url}), now)
        finally:
            describer.close()
    content = server.requests[0].body['messages'][-1]['content']
    sent = [part['image_url']['url'] for part in content if part['type'] == 'image_url']
    assert [base64.b64decode(url.split(',', 1)[1]) for url in sent] == [
        frame.message.data for frame in history[1:]]
