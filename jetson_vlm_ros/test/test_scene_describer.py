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

"""SceneDescriber: frame checks, request slots, and describing against a loopback server."""

import threading
import time

from conftest import FakeImage, mean_rgb
from fake_vlm_server import FakeVlmServer
from jetson_vlm_ros.core.settings import settings_from
from jetson_vlm_ros.model import vlm_client
from jetson_vlm_ros.model.scene_describer import (
    BusyError, DescribeError, Frame, RequestSlots, SceneDescriber)
from jetson_vlm_ros.model.vlm_client import VlmClosedError
import numpy as np
import pytest

SOURCE = '/camera/image_raw'


def solid_message(colour, encoding='rgb8', height=60, width=80) -> FakeImage:
    pixels = np.tile(np.array(colour, np.uint8), (height, width, 1))
    return FakeImage(height, width, encoding, 0, width * len(colour), pixels.tobytes())


RED_RGB8 = solid_message((255, 0, 0))


def frame(message=RED_RGB8, age=0.0, sequence=1) -> Frame:
    return Frame(message, time.monotonic() - age, sequence)


def settings(server=None, **changes):
    values = {'request_timeout': 5.0}
    if server is not None:
        values['base_url'] = server.base_url
    values.update(changes)
    return settings_from(values)


@pytest.fixture
def describer():
    made = SceneDescriber(SOURCE, 2)
    yield made
    made.close()


def test_no_frame_names_the_image_source(describer):
    with pytest.raises(DescribeError, match=f"no image received yet on '{SOURCE}'"):
        describer.describe(None, 'What is here?', settings())
    assert describer.slots.in_flight == 0


def test_stale_frame_is_refused(describer, server):
    with pytest.raises(DescribeError) as caught:
        describer.describe(frame(age=12.0), '', settings(server, max_image_age=2.0))
    text = str(caught.value)
    assert 'max_image_age (2 s)' in text
    assert f"'{SOURCE}' is 12.0 s old" in text
    assert describer.slots.in_flight == 0
    assert server.requests == []


def test_check_frame_age_limit(describer):
    latest = Frame(RED_RGB8, 100.0, 7)
    limited = settings(max_image_age=2.0)
    assert describer.check_frame(latest, limited, 101.9) is latest
    with pytest.raises(DescribeError, match='max_image_age'):
        describer.check_frame(latest, limited, 102.1)


def test_max_image_age_zero_means_no_limit(describer):
    latest = Frame(RED_RGB8, 100.0, 7)
    assert describer.check_frame(latest, settings(max_image_age=0.0), 100.0 + 1e6) is latest


def test_request_slots_count_to_the_limit():
    slots = RequestSlots(3)
    assert [slots.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert slots.in_flight == 3
    slots.release()
    assert slots.in_flight == 2
    assert slots.try_acquire()
    assert not slots.try_acquire()


def test_request_slots_from_many_threads():
    slots = RequestSlots(5)
    results = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def grab():
        start.wait()
        got = slots.try_acquire()
        with lock:
            results.append(got)

    threads = [threading.Thread(target=grab) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 5
    assert slots.in_flight == 5


def test_all_slots_taken_is_busy_and_sends_nothing(describer, server):
    assert describer.slots.try_acquire() and describer.slots.try_acquire()
    with pytest.raises(BusyError) as caught:
        describer.describe(frame(), 'What is here?', settings(server))
    assert isinstance(caught.value, DescribeError)
    assert 'busy: 2 VLM request(s) already in flight' in str(caught.value)
    assert 'max_concurrent_requests' in str(caught.value)
    assert server.requests == []
    # The refused call must not give back a slot it never took.
    assert describer.slots.in_flight == 2


@pytest.mark.parametrize('encoding', ['yuv422', 'bayer_rggb8'])
def test_bad_encoding_is_explained_and_frees_the_slot(describer, server, encoding):
    bad = FakeImage(4, 4, encoding, 0, 8, b'\0' * 32)
    with pytest.raises(DescribeError) as caught:
        describer.describe(frame(bad), '', settings(server))
    assert str(caught.value).startswith('cannot use the latest image: ')
    assert f"unsupported image encoding '{encoding}'" in str(caught.value)
    assert describer.slots.in_flight == 0
    assert server.requests == []


def test_truncated_frame_is_explained_and_frees_the_slot(describer, server):
    short = FakeImage(60, 80, 'rgb8', 0, 240, RED_RGB8.data[:-1])
    with pytest.raises(DescribeError, match=r'cannot use the latest image: .*step\*height'):
        describer.describe(frame(short), '', settings(server))
    assert describer.slots.in_flight == 0


def test_odd_step_mono16_frame_is_described(describer, server):
    values = np.full((10, 7), 40000, '<u2').view(np.uint8)
    padded = np.zeros((10, 15), np.uint8)
    padded[:, :14] = values
    msg = FakeImage(10, 7, 'mono16', 0, 15, padded.tobytes())
    description = describer.describe(frame(msg), '', settings(server))
    # 40000 * 255 / 65535 = 156; rows read one byte off would give another grey.
    assert mean_rgb(description.text) == (156, 156, 156), description.text
    assert description.text.startswith('7x10 ')
    assert describer.slots.in_flight == 0


@pytest.mark.parametrize('message', [
    RED_RGB8, solid_message((0, 0, 255), 'bgr8'), solid_message((255, 0, 0, 255), 'rgba8')],
    ids=['rgb8', 'bgr8', 'rgba8'])
def test_red_frame_is_described_as_red(describer, server, message):
    latest = frame(message, sequence=42)
    description = describer.describe(latest, 'What colour?', settings(server))
    red, green, blue = mean_rgb(description.text)
    assert red > 240 and green < 15 and blue < 15
    assert description.text.startswith('80x60 ')
    assert description.text.endswith('prompt=What colour?')
    assert description.prompt == 'What colour?'
    assert description.model == 'gemma3:4b'
    assert description.frame is latest
    assert 0 < description.latency < 5
    assert describer.slots.in_flight == 0


def test_empty_prompt_falls_back_to_settings_prompt(describer, server):
    current = settings(server, prompt='Name every object.')
    description = describer.describe(frame(), '', current)
    assert server.requests[-1].prompt == 'Name every object.'
    assert description.prompt == 'Name every object.'
    assert description.text.endswith('prompt=Name every object.')


def test_request_carries_the_settings(describer, server):
    current = settings(server, model='llava:7b', system_prompt='Be brief.', max_tokens=32,
                       temperature=0.0, api_key='sk-test')
    describer.describe(frame(), 'Where am I?', current)
    received = server.requests[-1]
    assert received.body['model'] == 'llava:7b'
    assert received.body['max_tokens'] == 32
    assert received.body['temperature'] == 0.0
    assert received.body['messages'][0] == {'role': 'system', 'content': 'Be brief.'}
    assert received.authorization == 'Bearer sk-test'


def test_large_frame_is_downsized_to_max_image_size(describer, server):
    big = solid_message((0, 255, 0), height=1080, width=1920)
    description = describer.describe(frame(big), '', settings(server, max_image_size=448))
    seen = server.requests[-1].image
    assert (seen.width, seen.height) == (448, 252)
    assert description.text.startswith('448x252 ')


def test_server_failure_is_a_describe_error_and_frees_the_slot(describer, server):
    server.state.behaviour, server.state.status = 'status', 500
    with pytest.raises(DescribeError, match='answered HTTP 500'):
        describer.describe(frame(), '', settings(server))
    assert describer.slots.in_flight == 0
    server.state.behaviour = 'ok'
    assert 'mean_rgb=' in describer.describe(frame(), '', settings(server)).text


def test_second_request_is_busy_while_the_first_is_in_flight(server):
    describer = SceneDescriber(SOURCE, 1)
    server.state.delay = 1.0
    results = {}

    def first():
        results['first'] = describer.describe(frame(), 'first', settings(server))

    thread = threading.Thread(target=first)
    thread.start()
    deadline = time.monotonic() + 5
    while server.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert describer.slots.in_flight == 1
    with pytest.raises(BusyError, match=r'busy: 1 VLM request\(s\)'):
        describer.describe(frame(), 'second', settings(server))
    thread.join(10)
    assert 'prompt=first' in results['first'].text
    assert [r.prompt for r in server.requests] == ['first']
    assert describer.slots.in_flight == 0
    describer.close()


def test_client_is_reused_until_server_settings_change(describer, server):
    current = settings(server)
    client = describer.client_for(current)
    assert describer.client_for(current) is client
    assert describer.client_for(current.updated({'prompt': 'Other.'})) is client
    assert describer.client_for(current.updated({'request_timeout': 9.0})) is not client
    changed = describer.client_for(current.updated({'api_key': 'new'}))
    assert describer.client_for(current.updated({'api_key': 'new'})) is changed


def test_new_base_url_reaches_the_new_server(describer, server):
    describer.describe(frame(), 'one', settings(server))
    with FakeVlmServer() as other:
        describer.describe(frame(), 'two', settings(other))
        assert [r.prompt for r in other.requests] == ['two']
    assert [r.prompt for r in server.requests] == ['one']


def test_describe_after_close_is_shutting_down(describer, server):
    describer.describe(frame(), 'one', settings(server))
    describer.close()
    describer.close()
    with pytest.raises(DescribeError, match='shutting down'):
        describer.describe(frame(), 'two', settings(server))
    assert [r.prompt for r in server.requests] == ['one']
    assert describer.slots.in_flight == 0


def test_close_ends_a_hung_request_at_once(server):
    describer = SceneDescriber(SOURCE, 1)
    server.state.behaviour = 'hang'
    outcome = {}

    def ask():
        try:
            describer.describe(frame(), 'hello', settings(server, request_timeout=30.0))
        except DescribeError as error:
            outcome['error'] = str(error)

    thread = threading.Thread(target=ask)
    thread.start()
    deadline = time.monotonic() + 5
    while server.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.in_flight == 1
    closed_at = time.monotonic()
    describer.close()
    thread.join(5)
    assert not thread.is_alive()
    assert time.monotonic() - closed_at < 2
    assert 'shutting down' in outcome['error']
    assert describer.slots.in_flight == 0


def test_close_does_not_wait_for_a_client_being_built(server):
    # The first client imports openai (seconds on a busy Jetson): a stop at start-up used to
    # wait for it, holding the client lock (a SIGTERM then took over 10 s on a loaded machine).
    describer = SceneDescriber(SOURCE, 1)
    outcome = {}
    building = threading.Event()

    def build() -> None:
        building.set()
        try:
            outcome['client'] = describer.client_for(settings(server))
        except VlmClosedError as error:
            outcome['error'] = str(error)

    with vlm_client._openai_lock:  # held: the client's construction waits here
        thread = threading.Thread(target=build)
        thread.start()
        building.wait(5)
        closed = threading.Event()
        closer = threading.Thread(target=lambda: (describer.close(), closed.set()))
        closer.start()
        assert closed.wait(10), 'close() waited for the client under construction'
    thread.join(10)
    assert 'client' not in outcome
    assert 'shutting down' in outcome['error']
    with pytest.raises(DescribeError, match='shutting down'):
        describer.describe(frame(), 'after', settings(server))
