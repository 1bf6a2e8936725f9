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
timer keeps captioning new frames period after period. Requests are held at the server
until the test has seen the ticks it waits for, so nothing depends on how fast this
machine is.
"""

from contextlib import contextmanager
import itertools
import threading
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
        wait_for(lambda: harness.node._camera.latest_frame is not None, 10.0, 'a first frame')
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


class CountingLock:
    """A lock that counts the acquisitions it refused (a tick that found it taken)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refused = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        acquired = self._lock.acquire(blocking, timeout)
        if not acquired:
            self.refused += 1
        return acquired

    def release(self) -> None:
        self._lock.release()


def test_a_running_caption_holds_a_request_slot(make_harness, server):
    held = threading.Event()
    server.state.hold = held  # the caption waits at the server until released
    harness = make_harness(base_url=server.base_url, caption_period=0.3,
                           max_concurrent_requests=1)
    try:
        with fresh_frames(harness):
            wait_for(lambda: server.requests, 10.0, 'a caption request at the server')
            assert caption_requests(server, harness) == 1
            answer = describe(harness, 'is there a free slot?')
            in_flight_at_answer = server.in_flight
    finally:
        held.set()
    assert not answer.success, 'the caption must hold the only slot'
    assert answer.error.startswith('busy: 1 VLM request(s) already in flight'), answer.error
    # Answered while the caption was still held: the busy answer did not wait for it.
    assert in_flight_at_answer == 1, 'the caption must still be running'
    assert all(r.prompt != 'is there a free slot?' for r in server.requests)
    assert server.max_in_flight == 1


def test_a_caption_tick_with_no_free_slot_is_skipped(make_harness, server):
    # A service call holds the only slot at the server while the caption timer ticks: each
    # tick is counted busy and sends nothing; a tick that waited for the slot would count
    # no busy tick at all.
    held = threading.Event()
    server.state.hold = held
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1)
    stats = harness.node._describer.stats
    answers: list = []
    try:
        with fresh_frames(harness):
            caller = threading.Thread(
                target=lambda: answers.append(describe(harness, 'hold the slot')))
            caller.start()
            wait_for(lambda: server.requests, 10.0, 'the service call at the server')
            # The held request keeps its state: captions would be answered at once.
            server.state = ServerState()
            set_caption_period(harness, 0.2)
            wait_for(lambda: stats.busy >= 3, 10.0, 'three caption ticks refused as busy')
            assert caption_requests(server, harness) == 0
            held.set()
            caller.join()
            assert answers[0].success, answers[0].error
            # Once the slot is free, the next tick captions.
            wait_for(lambda: caption_requests(server, harness) >= 1, 10.0,
                     'a caption once the slot is free')
    finally:
        held.set()
    assert server.max_in_flight == 1


def test_a_tick_while_the_previous_caption_runs_is_skipped(make_harness, server):
    # The first caption is held at the server while the timer keeps ticking; free slots
    # are plenty (4), so only the running caption can hold a tick back. Each such tick
    # must find the caption lock taken and return: no second request, none waiting.
    held = threading.Event()
    server.state.hold = held
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=4)
    running = CountingLock()
    harness.node._captions.running = running
    try:
        with fresh_frames(harness):
            set_caption_period(harness, 0.2)
            wait_for(lambda: server.requests, 10.0, 'a first caption request')
            wait_for(lambda: running.refused >= 3, 10.0,
                     'three ticks skipped while the caption runs')
            assert caption_requests(server, harness) == 1
            assert server.in_flight == 1
            server.state = ServerState()
            held.set()
            wait_for(lambda: caption_requests(server, harness) >= 2, 10.0,
                     'the next caption once the first is answered')
    finally:
        held.set()
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
