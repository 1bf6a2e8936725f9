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
vlm_node while its model server fails in every way, then recovers.

Real rclpy over DDS and a real loopback HTTP server (fake_vlm_server.py); nothing mocked.
Time bounds are the functional ones (a failing request is answered within
request_timeout + 1 s), never performance targets.
"""

from dataclasses import dataclass, field
import re
import time
from typing import Any, Callable, Iterator, Optional

from conftest import (
    Caller, DEFAULT_PROMPT, HAVE_ROS, make_image, mean_rgb, module_harness, RED, requires_ros,
    RosHarness, solid, wait_for)
from fake_vlm_server import FakeVlmServer, ServerState
import pytest

if HAVE_ROS:
    from std_msgs.msg import String

pytestmark = requires_ros

CAPTION_PERIOD = 0.5
REQUEST_TIMEOUT = 1.0
# The bound: a failing request is answered within request_timeout + 1 s.
ANSWER_BOUND = REQUEST_TIMEOUT + 1.0


@dataclass
class ServerRig:
    """One vlm_node, alive through every server fault, with frames streaming in."""

    harness: 'RosHarness'
    server: FakeVlmServer
    caller: Caller
    captions: list = field(default_factory=list)

    def caption_requests(self, since: int) -> int:
        return sum(1 for r in self.server.requests[since:] if r.prompt == DEFAULT_PROMPT)


@pytest.fixture(scope='module')
def server_rig() -> Iterator[ServerRig]:
    if not HAVE_ROS:
        pytest.skip('no ROS')
    server = FakeVlmServer().start()
    rig: Optional[ServerRig] = None
    try:
        with module_harness('faults', base_url=server.base_url, caption_period=CAPTION_PERIOD,
                            request_timeout=REQUEST_TIMEOUT) as harness:
            rig = ServerRig(harness, server, Caller(harness))
            harness.tester.create_subscription(String, 'caption', rig.captions.append, 10)
            with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=10):
                yield rig
    finally:
        (rig.server if rig else server).stop()  # the last of the servers, if one was killed


def _set_state(**changes: Any) -> Callable[[ServerRig], None]:
    def inject(rig: ServerRig) -> None:
        rig.server.state = ServerState(**changes)
    return inject


def _kill_server(rig: ServerRig) -> None:
    rig.server.stop()


def _heal(rig: ServerRig) -> None:
    if rig.server._stopping.is_set():  # killed: a new server comes up on the same port
        rig.server = FakeVlmServer(port=rig.server.port).start()
    else:
        rig.server.state = ServerState()


NOT_FOUND_BODY = '{"error": {"message": "model \\"gemma3:4b\\" not found, try pulling it first"}}'

# (id, inject, what the error must say, the request hits the timeout, can count requests)
SERVER_FAULTS = [
    ('refused_mid_run', _kill_server, [r'cannot reach the VLM server', r'is it running\?'],
     False, False),
    ('cut_mid_reply', _set_state(behaviour='cut_mid_reply'),
     [r'connection to the VLM server .* broke mid-reply'], False, True),
    ('http_500', _set_state(behaviour='status', status=500), [r'answered HTTP 500',
                                                              r'internal error'], False, True),
    ('http_503', _set_state(behaviour='status', status=503,
                            status_body='{"error": {"message": "server overloaded"}}'),
     [r'answered HTTP 503', r'server overloaded'], False, True),
    ('unknown_model_404', _set_state(behaviour='status', status=404, status_body=NOT_FOUND_BODY),
     [r"does not know model 'gemma3:4b'", r'`ollama pull gemma3:4b`'], False, True),
    ('not_json_html', _set_state(behaviour='not_json'),
     [r'did not answer with a chat completion', r'Bad Gateway'], False, True),
    ('not_json_labelled_json', _set_state(behaviour='bad_json'),
     [r'did not answer with a chat completion: a body that is not valid JSON'], False, True),
    ('no_choices', _set_state(behaviour='no_choices'), [r'answered with no choices'],
     False, True),
    ('no_choices_key', _set_state(behaviour='no_choices_key'), [r'answered with no choices'],
     False, True),
    ('empty_content', _set_state(behaviour='empty_content'), [r'returned an empty answer'],
     False, True),
    ('slower_than_request_timeout', _set_state(delay=2 * REQUEST_TIMEOUT),
     [r'did not answer within request_timeout \(1 s\)'], True, True),
    ('hang', _set_state(behaviour='hang'), [r'did not answer within request_timeout \(1 s\)'],
     True, True),
]


def _fault_params() -> list:
    params = []
    for fault in SERVER_FAULTS:
        params.append(pytest.param(*fault, id=fault[0]))
    return params


@pytest.mark.parametrize('name, inject, expected, slow, countable', _fault_params())
def test_server_fault_then_recovery(server_rig: ServerRig, name: str,
                                    inject: Callable[[ServerRig], None], expected: list[str],
                                    slow: bool, countable: bool) -> None:
    """Each fault: a clear error in time, captions keep their rhythm, then full recovery."""
    rig = server_rig
    before, _ = rig.caller.call('healthy before?')
    assert before.success, f'not healthy before the fault: {before.error}'

    # A slow fault holds each caption for request_timeout: the timer cannot tick faster.
    tick = max(CAPTION_PERIOD, REQUEST_TIMEOUT) if slow else CAPTION_PERIOD
    window = 3 * tick if slow else 4 * tick
    inject(rig)
    try:
        first_request = len(rig.server.requests)
        captions_before = len(rig.captions)
        started = time.monotonic()
        answer, elapsed = rig.caller.call('fault?')
        time.sleep(max(0.0, started + window - time.monotonic()))
        caption_requests = rig.caption_requests(first_request) if countable else None
        captions_during = len(rig.captions) - captions_before
    finally:
        _heal(rig)

    assert not answer.success
    assert answer.description == ''
    for pattern in expected:
        assert re.search(pattern, answer.error), f'{pattern!r} not in error {answer.error!r}'
    assert rig.server.base_url in answer.error, 'the error must name the server'
    assert elapsed < ANSWER_BOUND, f'answered after {elapsed:.2f} s'
    assert captions_during == 0, 'a failure must not be published as a caption'
    if caption_requests is not None:
        ticks = window / tick
        assert ticks - 2 <= caption_requests <= ticks + 2, (
            f'{caption_requests} caption requests in {window:g} s, expected about '
            f'{ticks:g} (one every {tick:g} s)')

    after, _ = rig.caller.call('healthy again?')
    assert after.success, f'not recovered: {after.error}'
    assert mean_rgb(after.description)[0] > 240
    wait_for(lambda: len(rig.captions) > captions_before, 3 * CAPTION_PERIOD + 2.0,
             'captions to resume after the server recovered')


def test_server_not_running_at_start_up(make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as probe:
        port = probe.port  # free now: nothing listens there
    url = f'http://127.0.0.1:{port}/v1'
    harness = make_harness(base_url=url, caption_period=CAPTION_PERIOD,
                           request_timeout=REQUEST_TIMEOUT)
    captions: list = []
    harness.tester.create_subscription(String, 'caption', captions.append, 10)
    caller = Caller(harness)
    with harness.streaming(make_image(solid(RED), stamp_sec=3), rate=10):
        answer, elapsed = caller.call('anyone there?')
        assert not answer.success
        assert f'cannot reach the VLM server at {url}' in answer.error
        assert 'is it running?' in answer.error and '`ollama serve`' in answer.error
        assert elapsed < ANSWER_BOUND
        time.sleep(2 * CAPTION_PERIOD)  # caption ticks fail against nothing meanwhile
        assert captions == []
        with FakeVlmServer(port=port) as server:
            answer, _ = caller.call('and now?')
            assert answer.success, answer.error
            wait_for(lambda: captions, 3 * CAPTION_PERIOD + 2.0, 'a caption once the server is up')
            first = len(server.requests)
            time.sleep(4 * CAPTION_PERIOD)
            rhythm = sum(1 for r in server.requests[first:] if r.prompt == DEFAULT_PROMPT)
    assert 2 <= rhythm <= 6, f'{rhythm} captions in {4 * CAPTION_PERIOD:g} s'
