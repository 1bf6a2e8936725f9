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

"""Per-camera /diagnostics and alert rules naming cameras: two cameras, real DDS and HTTP."""

from contextlib import contextmanager
import threading
from typing import Iterator

from conftest import HAVE_ROS, publishing, requires_ros, start_node, wait_for
from test_cameras import assert_seen, cameras_of, frame, FRONT, publisher, REAR

if HAVE_ROS:
    from diagnostic_msgs.msg import DiagnosticArray
    from jetson_vlm_interfaces.msg import Alert
    from rclpy.parameter import Parameter
    from std_srvs.srv import SetBool

pytestmark = requires_ros

OK, WARN = b'\x00', b'\x01'


class Diagnostics:
    """Every DiagnosticArray of the harness's node, each as {status name: status}."""

    def __init__(self, harness) -> None:
        self.prefix = f'{harness.namespace}/vlm_node: '
        self.arrays: list[dict] = []
        self._seen = 0  # arrays before this index were passed by an earlier wait
        self._lock = threading.Lock()
        harness.tester.create_subscription(DiagnosticArray, '/diagnostics', self._on, 10)

    def _on(self, message) -> None:
        statuses = {s.name[len(self.prefix):]: s for s in message.status
                    if s.name.startswith(self.prefix)}
        if statuses:
            with self._lock:
                self.arrays.append(statuses)

    def wait_for_array(self, predicate, what: str, timeout: float = 10.0) -> dict:
        """
        Wait for a message whose statuses satisfy predicate; return it.

        Only messages newer than the one the last wait returned count: each wait sees
        what happened after the previous one, never an earlier state again.
        """
        def matching():
            with self._lock:
                found = next((i for i in range(self._seen, len(self.arrays))
                              if predicate(self.arrays[i])), None)
                if found is None:
                    return None
                self._seen = found + 1
                return self.arrays[found]
        return wait_for(matching, timeout, f'a new /diagnostics message with {what} '
                                           f'(latest: {self.arrays[-1:] or None})')

    def wait(self, levels: dict, timeout: float = 10.0) -> dict:
        """Wait for a new message in which every named status has its level; return it."""
        return self.wait_for_array(lambda a: all(
            name in a and a[name].level == level for name, level in levels.items()),
            str(levels), timeout)


def values(status) -> dict:
    return {pair.key: pair.value for pair in status.values}


def test_each_camera_has_its_own_status_going_warn_and_ok_independently(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           diagnostics_period=0.25, max_image_age=0.5,
                           cameras=['front', 'rear'])
    cameras = cameras_of(harness)
    diagnostics = Diagnostics(harness)
    front, rear = publisher(harness, 'front'), publisher(harness, 'rear')
    with publishing(front, frame(FRONT), 30.0):
        with publishing(rear, frame(REAR), 30.0):
            # OK with a rate: frames arrived (not the OK of 'waiting for the first frame').
            both = diagnostics.wait_for_array(lambda a: all(
                a.get(f'camera {name}') is not None and a[f'camera {name}'].level == OK
                and a[f'camera {name}'].message.endswith('Hz') for name in ('front', 'rear')),
                'both cameras OK with frames')
            assert 'camera' not in both  # no unnamed camera status beside the named ones
            for name in ('front', 'rear'):
                status = both[f'camera {name}']
                assert status.hardware_id == cameras[name].topic
                assert values(status)['camera'] == name
                assert values(status)['topic'] == cameras[name].topic
                assert int(values(status)['frames received']) > 0
        # rear stopped, front still publishing.
        rear_silent = diagnostics.wait({'camera front': OK, 'camera rear': WARN})
        assert 'older than max_image_age' in rear_silent['camera rear'].message
        with publishing(rear, frame(REAR), 30.0):
            diagnostics.wait({'camera front': OK, 'camera rear': OK})
    # Now front stopped while rear publishes: the other way round.
    with publishing(rear, frame(REAR), 30.0):
        front_silent = diagnostics.wait({'camera front': WARN, 'camera rear': OK})
    assert front_silent['camera front'].hardware_id == cameras['front'].topic

    # `enable` false pauses every camera, and each camera's status says so.
    client = harness.tester.create_client(SetBool, 'enable')
    assert harness.call(client, SetBool.Request(data=False)).success
    paused = diagnostics.wait_for_array(lambda a: all(
        a[f'camera {name}'].message.startswith('disabled') for name in ('front', 'rear')),
        'both cameras disabled')
    assert paused['camera front'].level == paused['camera rear'].level == OK


class AlertLog:
    """Every Alert message the tester node receives."""

    def __init__(self, harness) -> None:
        self.messages: list = []
        self._lock = threading.Lock()
        harness.tester.create_subscription(Alert, 'alerts', self._on, 10)

    def _on(self, message) -> None:
        with self._lock:
            self.messages.append(message)

    def received(self) -> list:
        with self._lock:
            return list(self.messages)


@contextmanager
def both_cameras_publishing(harness) -> Iterator[None]:
    """Publish FRONT and REAR at 30 Hz; enter once the node holds a frame of each."""
    cameras = cameras_of(harness)
    with publishing(publisher(harness, 'front'), frame(FRONT), 30.0), \
            publishing(publisher(harness, 'rear'), frame(REAR), 30.0):
        wait_for(lambda: all(c.latest_frame for c in cameras.values()), 10.0,
                 'a frame from each camera')
        yield


def test_a_rule_naming_the_rear_camera_is_asked_about_its_image(make_harness, server):
    rules = ['Is a person in the doorway?', 'Is the door open?',
             '[rear] Is a person behind the robot?']
    # One answer for every call: '[true]' fits the rear group's one rule only, so only the
    # rear rule can alert, and only if it was asked on its own.
    server.state.answer_text = '[true]'
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           cameras=['front', 'rear'], alert_rules=rules, alert_period=0.2,
                           alert_cooldown=60.0)
    log = AlertLog(harness)
    with both_cameras_publishing(harness):
        wait_for(log.received, 10.0, 'an Alert')
        wait_for(lambda: len(server.requests) >= 4, 10.0, 'two checks of each group')
    alert = log.received()[0]
    assert (alert.rule, alert.active) == (rules[2], True)
    assert list(alert.cameras) == ['rear']
    assert [stamp.sec for stamp in alert.image_stamps] == [REAR['stamp']]
    assert alert.header.stamp.sec == REAR['stamp'] and alert.answer == '[true]'
    assert all(message.rule == rules[2] for message in log.received())

    by_question = {}
    for request in server.requests:
        by_question.setdefault('behind' in request.prompt, request)
    rear_call, front_call = by_question[True], by_question[False]
    assert len(rear_call.images) == 1 and rear_call.texts[0] == "Camera 'rear':"
    assert_seen(rear_call.images[0], REAR)
    assert '\n1. Is a person behind the robot?' in rear_call.prompt
    assert '[rear]' not in rear_call.prompt and 'doorway' not in rear_call.prompt
    assert len(front_call.images) == 1
    assert_seen(front_call.images[0], FRONT)
    assert '1. Is a person in the doorway?\n2. Is the door open?' in front_call.prompt

    state = harness.node._alerts.state()
    assert [row['cameras'] for row in state['rules']] == [['front'], ['front'], ['rear']]


def test_a_rule_naming_two_cameras_sees_both_images_in_one_call(make_harness, server):
    rule = '[rear, front] Is anyone near the robot?'
    server.state.answer_text = '[true]'
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           cameras=['front', 'rear'], alert_rules=[rule], alert_period=0.2)
    log = AlertLog(harness)
    with both_cameras_publishing(harness):
        wait_for(log.received, 10.0, 'an Alert')
    alert = log.received()[0]
    # In the node's camera order, whatever order the rule names them in.
    assert list(alert.cameras) == ['front', 'rear']
    assert [stamp.sec for stamp in alert.image_stamps] == [FRONT['stamp'], REAR['stamp']]
    assert alert.header.stamp.sec in (FRONT['stamp'], REAR['stamp'])
    call = server.requests[0]
    assert call.texts[:2] == ["Camera 'front':", "Camera 'rear':"]
    assert_seen(call.images[0], FRONT)
    assert_seen(call.images[1], REAR)
    assert 'about the 2 images' in call.prompt


def test_a_rule_naming_an_unknown_camera_is_refused_and_the_old_rules_stay(
        make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           cameras=['front', 'rear'], alert_rules=['[rear] Is it dark?'])
    result = harness.node.set_parameters(
        [Parameter('alert_rules', value=['[rear] Is it dark?', '[top] Is a bird there?'])])[0]
    assert not result.successful
    assert result.reason == (
        "invalid value for parameter 'alert_rules': rule '[top] Is a bird there?': "
        "unknown camera 'top': this node's cameras are front, rear (or 'all')")
    assert harness.node.get_parameter('alert_rules').value == ['[rear] Is it dark?']
    assert [row['rule'] for row in harness.node._alerts.state()['rules']] == [
        '[rear] Is it dark?']


def test_a_node_whose_rules_name_an_unknown_camera_does_not_start():
    process = start_node('-p', 'cameras:=[front, rear]',
                         '-p', 'alert_rules:=["[top] Is a bird there?"]')
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert 'cannot start' in output and "unknown camera 'top'" in output, output
