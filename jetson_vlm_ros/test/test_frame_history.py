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

"""FrameHistory: the bounded ring of received frames."""

import threading

from jetson_vlm_ros.frames.frame_history import FrameHistory
from jetson_vlm_ros.model.scene_describer import Frame
import pytest


def fill(history: FrameHistory, times, start_sequence: int = 1) -> list[Frame]:
    added = []
    for sequence, received_at in enumerate(times, start_sequence):
        frame = Frame(object(), received_at, sequence)
        history.add(frame)
        added.append(frame)
    return added


def test_size_bound_keeps_the_newest_oldest_first():
    history = FrameHistory(32, 0.0)  # no age bound: full rate
    added = fill(history, [i * 0.01 for i in range(40)])
    kept = history.frames()
    assert len(kept) == len(history) == 32
    assert kept == added[-32:]
    assert history.latest() is added[-1]


def test_frames_are_kept_by_reference_not_copied():
    history = FrameHistory(4, 10.0)
    message = bytearray(1000)
    history.add(Frame(message, 1.0, 1))
    assert history.frames()[0].message is message


def test_age_bound_is_measured_back_from_the_newest_frame():
    history = FrameHistory(100, 10.0)
    added = fill(history, [float(t) for t in range(21)])  # t = 0 .. 20 s
    assert [f.received_at for f in history.frames()] == [float(t) for t in range(10, 21)]
    assert history.frames()[-1] is added[-1]


def test_newest_frame_stays_however_old():
    history = FrameHistory(10, 0.5)
    added = fill(history, [0.0, 5.0, 10.0])
    assert history.frames() == [added[-1]]


def test_zero_seconds_means_no_age_bound():
    history = FrameHistory(5, 0.0)
    added = fill(history, [0.0, 100.0, 1000.0])
    assert history.frames() == added


def test_size_one_is_the_latest_frame_only():
    history = FrameHistory(1, 10.0)
    assert history.latest() is None and history.frames() == []
    added = fill(history, [0.0, 0.1, 0.2])
    assert history.frames() == [added[-1]]
    assert history.latest() is added[-1]


def test_resize_keeps_the_newest_that_fit():
    history = FrameHistory(10, 0.0)
    added = fill(history, [float(t) for t in range(10)])
    history.resize(3, 0.0)
    assert history.frames() == added[-3:] and history.size == 3
    history.resize(3, 1.0)
    assert history.frames() == added[-2:] and history.seconds == 1.0
    more = fill(history, [20.0, 20.5, 20.7, 20.9], 11)
    # Spaced at least 1.0 / 3 s apart, the newest slot following the camera.
    assert history.frames() == [more[0], more[1], more[3]]


def test_frames_are_spread_over_history_seconds():
    history = FrameHistory(4, 2.0)  # a frame kept every 0.5 s at least
    assert history.spacing == 0.5
    added = fill(history, [i / 30 for i in range(91)])  # 3 s of a 30 Hz camera
    kept = [f.received_at for f in history.frames()]
    assert len(kept) == 4 and history.frames()[-1] is added[-1]
    gaps = [b - a for a, b in zip(kept[:-1], kept[1:], strict=True)]
    assert all(0.5 <= gap < 0.5 + 1 / 30 + 1e-9 for gap in gaps[:-1]), kept
    assert kept[-1] - kept[0] >= 1.5 - 1e-9


def test_defaults_hold_ten_seconds_of_a_30_hz_camera_in_32_frames():
    history = FrameHistory(32, 10.0)
    fill(history, [i / 30 for i in range(600)])  # 20 s
    kept = [f.received_at for f in history.frames()]
    assert len(kept) <= 32
    assert 9.5 <= kept[-1] - kept[0] <= 10.0


def test_size_below_one_is_refused():
    with pytest.raises(ValueError, match='at least 1'):
        FrameHistory(0, 1.0)


def test_concurrent_readers_see_consistent_snapshots():
    history = FrameHistory(8, 0.0)
    stop = threading.Event()
    problems = []

    def read() -> None:
        while not stop.is_set():
            frames = history.frames()
            sequences = [f.sequence for f in frames]
            if sequences != sorted(sequences) or len(frames) > 8:
                problems.append(sequences)

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    fill(history, [i * 1e-4 for i in range(20000)])
    stop.set()
    for reader in readers:
        reader.join()
    assert problems == []
