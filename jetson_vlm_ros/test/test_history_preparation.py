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
History frames stored as they will be sent (issue 18).

Each is prepared once, off the spinning thread, and a multi-frame request sends the very
images it sent when it encoded raw frames.
"""

from collections import Counter
import threading
from typing import Any

from conftest import FakeImage, HAVE_ROS, make_image, requires_ros, wait_for
from jetson_vlm_ros.core.settings import settings_from
from jetson_vlm_ros.frames.frame_history import FrameHistory
from jetson_vlm_ros.frames.history_preparation import HistoryPreparer, PreparedMessage
from jetson_vlm_ros.frames.image_encoding import encode_any_message
from jetson_vlm_ros.model.scene_describer import Frame, SceneDescriber
import numpy as np

if HAVE_ROS:
    from jetson_vlm_interfaces.srv import DescribeScene


def picture(index: int, width: int = 320, height: int = 240) -> np.ndarray:
    """Return a frame of its own: a colour and a bar that move with index."""
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, :] = ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)
    rgb[:, (index * 13) % width:(index * 13) % width + 20] = 255
    return rgb


def fake_image(index: int) -> FakeImage:
    rgb = picture(index)
    return FakeImage(rgb.shape[0], rgb.shape[1], 'rgb8', 0, rgb.shape[1] * 3, rgb.tobytes())


class RecordingEncoder:
    """Wraps an encoder, recording which frame each call prepared and on which thread."""

    def __init__(self, encode: Any) -> None:
        self._encode = encode
        self.calls: list[tuple[int, int]] = []  # (frame sequence, thread ident)
        self._lock = threading.Lock()

    def __call__(self, frame: Frame, settings: Any) -> Any:
        with self._lock:
            self.calls.append((frame.sequence, threading.get_ident()))
        return self._encode(frame, settings)


def prepared_sequences(history: FrameHistory) -> set[int]:
    return {f.sequence for f in history.frames() if isinstance(f.message, PreparedMessage)}


def test_each_kept_frame_is_prepared_once_on_the_preparer_thread_the_newest_stays_raw():
    settings = settings_from({'max_image_size': 128, 'jpeg_quality': 80})
    history = FrameHistory(4, 0.4)  # spacing 0.1 s
    describer = SceneDescriber('camera', 1, encode_any_message)
    encoder = RecordingEncoder(lambda frame, s: describer.encode(frame, s, 'history frame'))
    preparer = HistoryPreparer(history, encoder, lambda: settings)
    raw = {}
    kept_sequences = []
    try:
        for sequence in range(1, 31):  # 30 frames at 30 Hz: 1 s
            raw[sequence] = fake_image(sequence)
            kept = history.add(Frame(raw[sequence], sequence / 30, sequence))
            if kept is not None:
                kept_sequences.append(kept.sequence)
                preparer.frame_kept(kept)
        frames = history.frames()
        older = {f.sequence for f in frames[:-1]}
        wait_for(lambda: prepared_sequences(history) >= older, 10.0,
                 'the kept frames prepared')
    finally:
        preparer.close()
        describer.close()
    frames = history.frames()
    assert len(frames) == 4
    assert frames[-1].message is raw[30]  # the latest frame stays as received
    # One preparation per kept frame (a third of the camera frames here), none twice, none
    # on the thread that added the frames.
    counts = Counter(sequence for sequence, _ in encoder.calls)
    assert max(counts.values()) == 1
    assert set(counts) <= set(kept_sequences) and len(kept_sequences) < 30 / 2
    assert threading.get_ident() not in {ident for _, ident in encoder.calls}
    # Stored as a request would send them: the same JPEG, size and header.
    for frame in frames[:-1]:
        expected = encode_any_message(raw[frame.sequence], 128, 80)
        assert frame.message.data == expected.jpeg
        assert (frame.message.width, frame.message.height) == (128, 96)
        assert encode_any_message(frame.message, 128, 80).jpeg == expected.jpeg


def test_a_smaller_max_image_size_holds_for_stored_frames_a_larger_one_never_upscales():
    history = FrameHistory(2, 0.0)
    settings = settings_from({'max_image_size': 128})
    describer = SceneDescriber('camera', 1, encode_any_message)
    preparer = HistoryPreparer(
        history, lambda frame, s: describer.encode(frame, s, 'history frame'), lambda: settings)
    try:
        history.add(Frame(fake_image(1), 0.0, 1))
        preparer.frame_kept(history.add(Frame(fake_image(2), 0.1, 2)))
        wait_for(lambda: prepared_sequences(history) == {1}, 10.0, 'frame 1 prepared')
        stored = history.frames()[0]
        smaller = describer.encode(stored, settings_from({'max_image_size': 64}), 'frame 1')
        larger = describer.encode(stored, settings_from({'max_image_size': 896}), 'frame 1')
    finally:
        preparer.close()
        describer.close()
    assert (smaller.width, smaller.height) == (64, 48)
    assert (larger.width, larger.height) == (128, 96)
    assert larger.jpeg == stored.message.data  # sent as stored, not encoded again


def test_a_frame_dropped_before_its_turn_is_not_prepared():
    history = FrameHistory(2, 0.0)
    settings = settings_from({})
    calls: list[int] = []
    release = threading.Event()

    def encode(frame: Frame, s: Any) -> Any:
        release.wait(10.0)  # holds the worker: the frames queued behind wait their turn
        calls.append(frame.sequence)
        return encode_any_message(frame.message, s.max_image_size, s.jpeg_quality)

    preparer = HistoryPreparer(history, encode, lambda: settings)
    try:
        history.add(Frame(fake_image(1), 0.0, 1))
        for sequence in range(2, 6):
            preparer.frame_kept(history.add(Frame(fake_image(sequence), sequence, sequence)))
        release.set()
        # The ring keeps frames 4 and 5: of the queued 1, 2, 3 and 4, only 4 is still there
        # when its turn comes. The worker may have taken 1, or on a busy machine 2, while it
        # was still in the ring: that one (held in encode) is prepared, no other dropped one.
        wait_for(lambda: prepared_sequences(history) == {4}, 10.0, 'frame 4 prepared')
    finally:
        preparer.close()
    assert calls[-1:] == [4] and calls[:-1] in ([], [1], [2]), calls


# --- in vlm_node, over real DDS, checked at the loopback server ---------------------------

@requires_ros
def test_multi_frame_request_sends_the_images_it_sent_from_raw_frames(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, history_size=4,
                           history_seconds=0.4, max_image_size=128, jpeg_quality=80)
    encoder = RecordingEncoder(harness.node._history_preparer.encode)
    harness.node._history_preparer.encode = encoder
    published: dict[int, Any] = {}
    spinning = harness._threads[0].ident  # the thread that spins vlm_node
    index = 0

    def publish_next() -> bool:
        nonlocal index
        index += 1
        published[index] = make_image(picture(index), stamp_sec=index)
        harness.image_pub.publish(published[index])
        return index >= 45

    # 45 distinct frames about 30 Hz apart (the wait's own polling paces them).
    while not publish_next():
        threading.Event().wait(1 / 30)
    history = harness.node._camera.history

    def settled() -> bool:
        latest = history.latest()
        if latest.message.header.stamp.sec != index:  # the last one lost: send it again
            harness.image_pub.publish(published[index])
            return False
        return len(history) == 4 and prepared_sequences(history) >= {
            f.sequence for f in history.frames()[:-1]}
    wait_for(settled, 10.0, 'the last frame received and three history frames prepared')
    frames = history.frames()
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    answer = harness.call(client, DescribeScene.Request(prompt='What changed?', num_frames=4))
    assert answer.success, answer.error
    # The server got, in order, exactly what encoding each raw frame gives.
    stamps = [stamp.sec for stamp in answer.image_stamps]
    assert stamps == [f.message.header.stamp.sec for f in frames]
    urls = [part['image_url']['url'] for part in server.requests[-1].body['messages'][-1][
        'content'] if part['type'] == 'image_url']
    assert urls == [encode_any_message(published[sec], 128, 80).data_url() for sec in stamps]
    assert [(image.width, image.height) for image in server.requests[-1].images] == \
        [(128, 96)] * 4
    # Each kept frame was prepared once, never on the spinning thread.
    counts = Counter(sequence for sequence, _ in encoder.calls)
    assert counts and max(counts.values()) == 1
    assert spinning not in {ident for _, ident in encoder.calls}
    assert harness.node._history_preparer.prepared < harness.node._camera.frames_received / 2


def test_history_size_1_keeps_no_frame_to_prepare():
    history = FrameHistory(1, 10.0)
    assert all(history.add(Frame(object(), t, t)) is None for t in range(5))
