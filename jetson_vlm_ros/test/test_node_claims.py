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
Claims of the README about vlm_node's request slots and idle resources, one test each.

The warm-up holds no request slot; alert checks are skipped, not queued, when every slot
is busy; an extra gateway topic nobody asks about is dropped after its idle time.
"""

import json
import threading
import time
import urllib.error
import urllib.request

from conftest import free_port, HAVE_ROS, make_image, publishing, requires_ros, solid, wait_for
from fake_vlm_server import ServerState

if HAVE_ROS:
    from jetson_vlm_interfaces.srv import DescribeScene
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

pytestmark = requires_ros

RED = (255, 0, 0)


def test_the_warm_up_holds_no_request_slot(make_harness, server):
    loading = threading.Event()
    server.state.hold = loading  # the warm-up's model load lasts until released
    harness = make_harness(base_url=server.base_url, caption_period=0.0, warm_up=True,
                           max_concurrent_requests=1)
    try:
        wait_for(lambda: server.requests, 10.0, 'the warm-up request at the server')
        assert server.requests[0].prompt == 'Reply with OK.'
        server.state = ServerState()
        client = harness.tester.create_client(DescribeScene, 'describe_scene')
        with harness.streaming(make_image(solid(RED), stamp_sec=2)):
            answer = harness.call(client, DescribeScene.Request(prompt='now?'))
        # The only slot was free although the warm-up was still loading.
        assert answer.success, answer.error
        assert server.in_flight == 1
        assert harness.node._describer.stats.busy == 0
    finally:
        loading.set()


def alert_checks(server) -> int:
    return sum(1 for r in list(server.requests) if r.prompt.startswith('Answer each'))


def test_alert_checks_are_skipped_not_queued_when_every_slot_is_busy(make_harness, server):
    held = threading.Event()
    server.state.hold = held  # the service call holds the only slot at the server
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1, alert_rules=['Is the door open?'],
                           alert_period=0.0)
    stats = harness.node._describer.stats
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    answers: list = []
    caller = threading.Thread(target=lambda: answers.append(
        harness.call(client, DescribeScene.Request(prompt='hold the slot'), 30.0)))
    try:
        with harness.streaming(make_image(solid(RED), stamp_sec=2)):
            caller.start()
            wait_for(lambda: server.requests, 10.0, 'the service call holding the slot')
            server.state = ServerState(answer_text='[false]')
            harness.node.set_parameters([Parameter('alert_period', value=0.2)])
            wait_for(lambda: stats.busy >= 3, 10.0, 'three alert checks refused as busy')
            # Skipped, not queued: none reached the server, none waits for the slot.
            assert alert_checks(server) == 0
            held.set()
            caller.join(30.0)
            assert answers and answers[0].success, answers
            wait_for(lambda: alert_checks(server) >= 1, 10.0, 'a check once the slot is free')
    finally:
        held.set()
    assert server.max_in_flight == 1


def test_an_unused_extra_topic_is_dropped_after_its_idle_time(make_harness, server, monkeypatch):
    from jetson_vlm_ros.ros import gateway_bridge
    # IDLE_TOPIC_S is read when the node starts (the drop timer's period) and at each drop.
    monkeypatch.setattr(gateway_bridge, 'IDLE_TOPIC_S', 0.6)
    port = free_port()
    harness = make_harness(base_url=server.base_url, caption_period=0.0, gateway_port=port)
    topic = f'{harness.namespace}/spare/image'
    publisher = harness.tester.create_publisher(Image, topic, qos_profile_sensor_data)
    bridge = harness.node._gateway
    wait_for(lambda: topic in dict(harness.node.get_topic_names_and_types()), 10.0,
             f"'{topic}' on the graph")
    body = json.dumps({'messages': [{'role': 'user', 'content': [
        {'type': 'text', 'text': 'x'},
        {'type': 'image_url', 'image_url': {'url': 'ros://' + topic}}]}]}).encode()

    def ask() -> int:
        request = urllib.request.Request(f'http://127.0.0.1:{port}/v1/chat/completions', body,
                                         {'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    with publishing(publisher, make_image(solid(RED), stamp_sec=4), 20.0):
        wait_for(lambda: ask() == 200, 10.0, f"an answer about '{topic}'")
        assert topic in bridge.extra_topics
        asked_at = bridge._topics[topic].last_used
        wait_for(lambda: topic not in bridge.extra_topics, 10.0, 'the idle topic dropped')
        wait_for(lambda: harness.tester.count_subscribers(topic) == 0, 10.0,
                 'its subscription gone from the graph')
        # Dropped for being idle, not at once: kept at least IDLE_TOPIC_S after its use.
        assert time.monotonic() - asked_at >= 0.6
        # Asked again, it is subscribed again.
        wait_for(lambda: ask() == 200, 10.0, f"an answer about '{topic}' again")
        assert topic in bridge.extra_topics
