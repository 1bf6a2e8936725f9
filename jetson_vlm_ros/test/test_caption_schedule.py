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
The caption timer's schedule, as the README states it, counted at the server.

Captions share the max_concurrent_requests slots with service calls; a tick that finds no
free slot, or finds the previous caption still running, is skipped (not queued); and the
timer keeps captioning new frames period after period. Periods and server delays are
chosen so every tick lies at least 0.4 s away from the start or end of a request, so the
counts below are exact, not ranges.
"""

from contextlib import contextmanager
import itertools
import threading
import time
from typing import Iterator

from conftest import HAVE_ROS, make_image, requires_ros, RosHarness, solid, wait_for
from fake_vlm_server import FakeVlmServer, ServerState

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from jetson_vlm_interfaces.srv import DescribeScene
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

pytestmark = requires_ros

RED = (255, 0, 0)


@contextmanager
def fresh_frames(harness: 'RosHarness', rate: float = 30.0) -> Iterator[None]:
    """Publish a new frame (a new stamp) at rate, so every caption tick has one to caption."""
    stop = threading.Event()

    def run() -> None:
        for stamp in itertools.count(1):
            if stop.is_set():
                return
            harness.image_pub.publish(make_image(solid(RED), stamp_sec=stamp))
            stop.wait(1.0 / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: harness.node._latest_frame is not None, 10.0, 'a first frame')
        yield
    finally:
        stop.set()
        thread.join()


def describe(harness: 'RosHarness', prompt: str) -> 'DescribeScene.Response':
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    return harness.call(client, DescribeScene.Request(prompt=prompt), timeout=20.0)


def set_caption_period(harness: 'RosHarness', period: float) -> None:
    """Set caption_period through the parameter service, as `ros2 param set` does."""
    client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')
    value = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=period)
    request = SetParameters.Request(
        parameters=[ParameterMsg(name='caption_period', value=value)])
    assert harness.call(client, request).results[0].successful


def caption_requests(server: FakeVlmServer, harness: 'RosHarness') -> int:
    """Count the requests that came from the caption timer (they carry the prompt parameter)."""
    prompt = harness.node.get_parameter('prompt').value
    return sum(1 for r in list(server.requests) if r.prompt == prompt)


def test_a_running_caption_holds_a_request_slot(make_harness, server):
    server.state.delay = 2.0
    harness = make_harness(base_url=server.base_url, caption_period=0.3,
                           max_concurrent_requests=1)
    with fresh_frames(harness):
        wait_for(lambda: server.requests, 10.0, 'a caption request at the server')
        assert caption_requests(server, harness) == 1
        assert server.in_flight == 1
        started = time.monotonic()
        answer = describe(harness, 'is there a free slot?')
        elapsed = time.monotonic() - started
        in_flight_at_answer = server.in_flight
    assert not answer.success, 'the caption must hold the only slot'
    assert answer.error.startswith('busy: 1 VLM request(s) already in flight'), answer.error
    assert in_flight_at_answer == 1, 'the caption must still be running'
    assert elapsed < server.state.delay / 2, f'busy answer took {elapsed:.2f} s'
    assert all(r.prompt != 'is there a free slot?' for r in server.requests)
    assert server.max_in_flight == 1


def test_a_caption_tick_with_no_free_slot_is_skipped(make_harness, server):
    # A service call holds the only slot from before the first tick (t0 + 1 s) to about
    # t0 + 1.5 s. A skipped tick leaves exactly one caption (tick 2) before t0 + 2.5 s; a
    # tick that waited for the slot would add one at t0 + 1.5 s.
    server.state.delay = 1.5
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1)
    answers: list = []
    with fresh_frames(harness):
        caller = threading.Thread(
            target=lambda: answers.append(describe(harness, 'hold the slot')))
        caller.start()
        wait_for(lambda: server.requests, 10.0, 'the service call at the server')
        # The held request already read its delay from the old state: captions answer at once.
        server.state = ServerState(delay=0.0)
        set_caption_period(harness, 1.0)
        t0 = time.monotonic()
        caller.join()
        answered = time.monotonic() - t0
        assert answers[0].success, answers[0].error
        # The design's margins: the slot was held at tick 1 and free well before tick 2.
        assert 1.0 < answered < 1.8, f'the service call ended at t0 + {answered:.2f} s'
        time.sleep(t0 + 2.5 - time.monotonic())
        captions = caption_requests(server, harness)
    assert captions == 1, f'{captions} caption requests by t0 + 2.5 s, expected 1 (tick 2)'
    assert server.max_in_flight == 1


def test_a_tick_while_the_previous_caption_runs_is_skipped(make_harness, server):
    # Each caption takes 1.5 periods, so of ticks 0, 1, 2, ... only the even ones start
    # one; within 7 periods of the first that is exactly ticks 0, 2, 4, 6. Free slots are
    # plenty (4), so only the running caption can hold a tick back.
    period = 0.8
    server.state.delay = 1.5 * period
    harness = make_harness(base_url=server.base_url, caption_period=period,
                           max_concurrent_requests=4)
    with fresh_frames(harness):
        wait_for(lambda: server.requests, 10.0, 'a first caption request')
        first = time.monotonic()
        time.sleep(first + 7 * period - time.monotonic())
        captions = caption_requests(server, harness)
    assert captions == 4, (
        f'{captions} caption requests in 7 periods, expected 4 (every second tick)')
    assert server.max_in_flight == 1


def test_captions_keep_coming_period_after_period(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.3)
    captions: list = []
    harness.tester.create_subscription(Caption, 'caption_stamped', captions.append, 100)
    with fresh_frames(harness):
        wait_for(lambda: len(captions) >= 6, 15.0, 'six captions')
    stamps = [c.header.stamp.sec for c in captions]
    assert stamps == sorted(set(stamps)), f'not one new frame per caption: {stamps}'
    assert all(c.text.startswith('64x48 mean_rgb=') for c in captions), captions[0].text
