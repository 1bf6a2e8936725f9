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


"""Natural-language alerts of vlm_node over real DDS, answered by the loopback server."""

import json
import threading
import urllib.request

from conftest import free_port, HAVE_ROS, make_image, requires_ros, solid, wait_for
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Alert
    from rclpy.parameter import Parameter

pytestmark = requires_ros

RULES = ['Is a person in the doorway?', 'Is the door open?']
PERIOD = 0.2


class AlertLog:
    """Every Alert message the tester node receives."""

    def __init__(self, harness):
        self.messages: list = []
        self._lock = threading.Lock()
        self._sub = harness.tester.create_subscription(Alert, 'alerts', self._on_alert, 10)

    def _on_alert(self, msg) -> None:
        with self._lock:
            self.messages.append(msg)

    def events(self) -> list[tuple[str, bool]]:
        with self._lock:
            return [(msg.rule, msg.active) for msg in self.messages]


def requests_after(server, count: int, timeout: float = 10.0) -> None:
    """
    Wait until count more alert checks have finished, their alerts published.

    A check holds the monitor's lock until it has published, and the next check starts
    only after that: the request after the count-th proves the count-th done.
    """
    target = len(server.requests) + count + 1
    wait_for(lambda: len(server.requests) >= target, timeout, f'{count} more alert checks')


def expect_events(log: AlertLog, expected: list) -> None:
    """Wait until as many alerts as expected arrived (DDS delivers them a bit later)."""
    wait_for(lambda: len(log.events()) >= len(expected), 5.0, f'alerts {expected}')
    assert log.events() == expected


@pytest.fixture
def alerting(make_harness):
    with FakeVlmServer() as server:
        server.state.answer_text = '[false, false]'
        harness = make_harness(base_url=server.base_url, caption_period=0.0,
                               alert_rules=RULES, alert_period=PERIOD, alert_cooldown=60.0)
        log = AlertLog(harness)
        frame = make_image(solid((10, 20, 30), 64, 48), stamp_sec=42, frame_id='door_cam')
        with harness.streaming(frame, rate=30.0):
            yield harness, server, log


def test_alert_on_the_edge_then_clears_once(alerting):
    harness, server, log = alerting
    requests_after(server, 2)
    assert log.events() == []
    prompt = server.requests[-1].prompt
    assert '1. Is a person in the doorway?\n2. Is the door open?' in prompt
    assert server.requests[-1].body['temperature'] == 0.0
    server.state.answer_text = '[true, false]'
    requests_after(server, 3)
    expect_events(log, [(RULES[0], True)])  # once, although true three times
    msg = log.messages[0]
    assert msg.header.stamp.sec == 42 and msg.header.frame_id == 'door_cam'
    assert msg.answer == '[true, false]' and msg.model == 'gemma3:4b' and msg.latency > 0
    server.state.answer_text = '[false, false]'
    requests_after(server, 3)
    expect_events(log, [(RULES[0], True), (RULES[0], False)])


def test_cooldown_holds_back_a_second_alert(alerting):
    harness, server, log = alerting
    server.state.answer_text = '[true, false]'
    requests_after(server, 2)
    server.state.answer_text = '[false, false]'
    requests_after(server, 2)
    server.state.answer_text = '[true, false]'
    requests_after(server, 3)
    expect_events(log, [(RULES[0], True), (RULES[0], False)])  # cooldown 60 s
    harness.node.set_parameters([Parameter('alert_cooldown', value=0.0)])
    requests_after(server, 2)
    expect_events(log, [(RULES[0], True), (RULES[0], False), (RULES[0], True)])


@pytest.mark.parametrize('bad', ['yes', '[true]', '[1, 0]', 'I think [true, true]', ''])
def test_malformed_answers_never_alert_nor_clear(alerting, bad):
    harness, server, log = alerting
    server.state.answer_text = '[true, false]'
    requests_after(server, 2)
    server.state.answer_text = bad
    requests_after(server, 3)
    expect_events(log, [(RULES[0], True)])  # neither a false alarm nor a false clear
    state = harness.node._alerts.state()
    assert state['last_check']['ok'] is False
    assert 'alert answer skipped' in state['last_check']['error'] or bad == ''


def test_rules_change_at_run_time(alerting):
    harness, server, log = alerting
    server.state.answer_text = '[true]'
    results = harness.node.set_parameters([Parameter('alert_rules', value=['Is it dark?'])])
    assert results[0].successful
    requests_after(server, 2)
    expect_events(log, [('Is it dark?', True)])
    assert '1. Is it dark?' in server.requests[-1].prompt
    assert '2.' not in server.requests[-1].prompt


def test_period_zero_stops_the_checks(alerting):
    harness, server, log = alerting
    requests_after(server, 1)
    harness.node.set_parameters([Parameter('alert_period', value=0.0)])
    # A check already handed to a worker may still run; then nothing more.
    assert harness.node.executor.wait_for_offloaded(10.0)
    count = len(server.requests)
    # Four periods of the node's own spinning (its frames keep arriving): a timer left
    # running would have fired in them.
    node = harness.node
    since = node._camera.latest_frame.received_at
    wait_for(lambda: node._camera.latest_frame.received_at > since + 4 * PERIOD, 10.0,
             'four periods of frames at the node')
    assert node.executor.wait_for_offloaded(10.0)
    assert len(server.requests) == count


def test_gateway_lists_rules_and_their_state(make_harness):
    port = free_port()
    with FakeVlmServer() as server:
        server.state.answer_text = '[false, true]'
        harness = make_harness(base_url=server.base_url, caption_period=0.0,
                               alert_rules=RULES, alert_period=PERIOD, gateway_port=port)
        with harness.streaming(make_image(solid((1, 2, 3))), rate=30.0):
            requests_after(server, 2)
            with urllib.request.urlopen(f'http://127.0.0.1:{port}/v1/alerts', timeout=10) as r:
                state = json.loads(r.read())
    assert [row['rule'] for row in state['rules']] == RULES
    assert [row['active'] for row in state['rules']] == [False, True]
    assert [row['observed'] for row in state['rules']] == [False, True]
    assert state['period'] == PERIOD and state['cooldown'] == 30.0
    assert state['last_check']['answer'] == '[false, true]'
