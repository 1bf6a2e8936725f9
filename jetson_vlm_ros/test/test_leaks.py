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

import threading
from typing import Callable

from conftest import Caller, HAVE_ROS, make_image, RED, requires_ros, RosHarness, solid, wait_for
from fake_vlm_server import FakeVlmServer

if HAVE_ROS:
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
