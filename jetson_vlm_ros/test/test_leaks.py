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
vlm_node leaves nothing behind: no request slot, thread or server request outlives its caller.

Real rclpy over DDS and a real loopback HTTP server (fake_vlm_server.py); nothing mocked.
"""

import gc
import http.client
import json
import threading
from typing import Callable

from conftest import (
    Caller, free_port, HAVE_ROS, make_image, RED, requires_ros, RosHarness, solid, wait_for)
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.action import DescribeScene as DescribeSceneAction
    from jetson_vlm_interfaces.srv import DescribeScene
    from rclpy.node import Node

pytestmark = requires_ros


def _threads() -> int:
    """Count this process's threads but the fake server's, one per open connection."""
    return sum(1 for t in threading.enumerate() if 'process_request_thread' not in t.name)


def test_caller_that_gives_up_leaves_nothing_behind(
        make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            assert caller.call()[0].success  # warm: connection pool and threads in place
            baseline = _threads()
            server.state.delay = 1.0
            quitters = [Node(f'quitter{i}', namespace=harness.namespace,
                             context=harness.context) for i in range(2)]
            for quitter in quitters:
                client = quitter.create_client(DescribeScene, 'describe_scene')
                assert client.wait_for_service(timeout_sec=10.0)
                client.call_async(DescribeScene.Request(prompt='never mind'))
            wait_for(lambda: server.in_flight == 2, 5.0, 'both requests at the server')
            for quitter in quitters:
                quitter.destroy_node()  # gone before the answers come
            assert harness.node._describer.slots.in_flight == 2
            wait_for(lambda: harness.node._describer.slots.in_flight == 0, 5.0,
                     'the abandoned requests to release their slots')
            server.state.delay = 0.0
            wait_for(lambda: server.in_flight == 0, 5.0, 'the server to finish')
            wait_for(lambda: _threads() <= baseline, 5.0,
                     f'threads back to {baseline}, now {_threads()}')
            answer, _ = caller.call('still there?')
    assert answer.success, answer.error
    assert answer.description.endswith('prompt=still there?')


def _fail_by_service(harness: 'RosHarness', server: FakeVlmServer, caller: Caller) -> None:
    answer, _ = caller.call()
    assert not answer.success and 'HTTP 500' in answer.error, answer.error


def _fail_by_action(harness: 'RosHarness', server: FakeVlmServer, caller: Caller) -> None:
    client = harness.action_client(DescribeSceneAction, 'describe_scene')
    try:
        wait_for(lambda: client.wait_for_server(timeout_sec=0.1), 10.0, 'the action server')
        sent = client.send_goal_async(DescribeSceneAction.Goal(prompt='x'))
        handle = wait_for(lambda: sent.done() and sent.result(), 10.0, 'goal accepted')
        result = handle.get_result_async()
        wait_for(result.done, 10.0, 'the goal result')
        assert not result.result().result.success
    finally:
        client.destroy()


def _fail_by_gateway(harness: 'RosHarness', server: FakeVlmServer, caller: Caller) -> None:
    port = harness.node.get_parameter('gateway_port').value
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=10.0)
    try:
        connection.request('POST', '/v1/chat/completions', json.dumps({'messages': [
            {'role': 'user', 'content': [{'type': 'text', 'text': 'x'}, {
                'type': 'image_url', 'image_url': {'url': 'ros://latest'}}]}]}),
            {'Content-Type': 'application/json'})
        response = connection.getresponse()
        response.read()
        assert response.status == 502
    finally:
        connection.close()


def _fail_by_caption(harness: 'RosHarness', server: FakeVlmServer, caller: Caller) -> None:
    seen = len(server.requests)
    wait_for(lambda: len(server.requests) > seen, 10.0, 'a caption request')


@pytest.mark.parametrize('fail', [_fail_by_service, _fail_by_action, _fail_by_gateway,
                                  _fail_by_caption], ids=lambda f: f.__name__[9:])
def test_failed_requests_leave_no_frames_in_reference_cycles(
        make_harness: Callable[..., 'RosHarness'], fail: Callable[..., None]) -> None:
    # A request's exception holds its traceback, whose frames hold the request's camera
    # frame: any reference cycle through them keeps MBs of pixels per failed request alive
    # until Python's rare full collection (the soak's RSS grew by 110-170 MB that way).
    from jetson_vlm_ros.model.scene_describer import Frame
    from jetson_vlm_ros.model.vlm_client import VlmError
    captions = fail is _fail_by_caption
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.2 if captions else 0.0,
                               gateway_port=free_port(), max_image_age=0.0)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED, 64, 48), stamp_sec=1)):
            assert caller.call()[0].success
            server.state.behaviour = 'status'  # HTTP 500 from now on
            gc.collect()
            gc.disable()
            try:
                for _ in range(5):
                    fail(harness, server, caller)
                gc.set_debug(gc.DEBUG_SAVEALL)
                gc.collect()
                in_cycles = [type(o).__name__ for o in gc.garbage
                             if isinstance(o, (Frame, VlmError))]
            finally:
                gc.set_debug(0)
                gc.garbage.clear()
                gc.enable()
    assert in_cycles == []
