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
The busy answer comes at once: timed against the server's latency, not just counted.

With every slot held by a request the server answers only after SERVER_DELAY, a further
call must be answered "busy" in a small fraction of that delay, while the held requests
are still at the server. A busy answer that queued for a worker or for a slot would take
about SERVER_DELAY.
"""

import threading
import time

from conftest import HAVE_ROS, make_image, requires_ros, solid, wait_for
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.srv import DescribeScene

pytestmark = requires_ros

SERVER_DELAY = 3.0
# "At once": a busy answer may take at most this fraction of the server's delay.
AT_ONCE = 0.2


@pytest.mark.parametrize('limit', [1, 2])
def test_busy_answer_comes_at_once_while_every_slot_is_held(make_harness, limit):
    with FakeVlmServer() as server:
        server.state.delay = SERVER_DELAY
        harness = make_harness(base_url=server.base_url, caption_period=0.0,
                               max_concurrent_requests=limit)
        client = harness.tester.create_client(DescribeScene, 'describe_scene')
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 10.0, 'describe_scene')
        held: list = []
        with harness.streaming(make_image(solid((255, 0, 0)), stamp_sec=1)):
            holders = [threading.Thread(target=lambda: held.append(
                harness.call(client, DescribeScene.Request(prompt='hold'), 20.0)))
                for _ in range(limit)]
            for holder in holders:
                holder.start()
            wait_for(lambda: len(server.requests) == limit, 10.0, 'every slot at the server')
            busy_times = []
            for _ in range(3):
                started = time.monotonic()
                future = client.call_async(DescribeScene.Request(prompt='one more?'))
                wait_for(future.done, 2 * SERVER_DELAY, 'the busy answer')
                busy_times.append(time.monotonic() - started)
                answer = future.result()
                assert not answer.success
                assert answer.error.startswith(
                    f'busy: {limit} VLM request(s) already in flight'), answer.error
                assert server.in_flight == limit, 'answered only after a slot came free'
            for holder in holders:
                holder.join()
    assert [a.success for a in held] == [True] * limit
    assert len(server.requests) == limit, 'a busy call must not reach the server'
    assert max(busy_times) < AT_ONCE * SERVER_DELAY, (
        f'busy answers took {", ".join(f"{t:.3f}" for t in busy_times)} s against a '
        f'server delay of {SERVER_DELAY:g} s')
