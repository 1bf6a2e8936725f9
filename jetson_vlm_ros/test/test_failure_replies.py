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

"""A failed describe_scene still says which frames it was about and when it failed: real DDS."""

import time

from conftest import free_port, HAVE_ROS, make_image, requires_ros, solid, wait_for
from test_frame_requests import describe, publish_until_received

if HAVE_ROS:
    from action_msgs.msg import GoalStatus
    from jetson_vlm_interfaces.action import DescribeScene

pytestmark = requires_ros

RED = (255, 0, 0)


def test_server_down_reply_names_the_frames_and_the_time_until_failure(make_harness):
    # Nothing listens on the port: the request fails when it connects.
    harness = make_harness(base_url=f'http://127.0.0.1:{free_port()}/v1', caption_period=0.0,
                           max_image_age=0.0, history_seconds=0.0)
    for stamp in (1, 2, 3):
        publish_until_received(harness, make_image(solid(RED), stamp_sec=stamp))
    one = describe(harness)
    assert not one.success and 'cannot reach' in one.error, one.error
    assert [t.sec for t in one.image_stamps] == [3]
    assert one.image_stamp.sec == 3
    assert one.latency > 0
    several = describe(harness, num_frames=2)
    assert not several.success
    assert [t.sec for t in several.image_stamps] == [1, 3]  # spread over the history
    assert several.latency > 0


def test_stale_frame_reply_names_the_frame_it_refused(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.2)
    publish_until_received(harness, make_image(solid(RED), stamp_sec=9))
    received = harness.node._camera.latest_frame.received_at
    wait_for(lambda: time.monotonic() - received > 0.3, 5.0, 'the frame to grow old')
    answer = describe(harness)
    assert not answer.success and 'old' in answer.error, answer.error
    assert [t.sec for t in answer.image_stamps] == [9]
    assert answer.latency > 0
    assert server.requests == []


def test_failed_goal_names_the_frames_and_the_time_until_failure(make_harness):
    harness = make_harness(base_url=f'http://127.0.0.1:{free_port()}/v1', caption_period=0.0,
                           max_image_age=0.0)
    publish_until_received(harness, make_image(solid(RED), stamp_sec=4))
    client = harness.action_client(DescribeScene, 'describe_scene')
    wait_for(lambda: client.wait_for_server(timeout_sec=0.1), 30.0, 'the describe_scene action')
    sent = client.send_goal_async(DescribeScene.Goal())
    handle = wait_for(lambda: sent.done() and sent.result(), 30.0, 'the goal to be accepted')
    result_future = handle.get_result_async()
    wait_for(result_future.done, 30.0, 'the goal result')
    response = result_future.result()
    assert response.status == GoalStatus.STATUS_ABORTED
    result = response.result
    assert not result.success and 'cannot reach' in result.error, result.error
    assert [t.sec for t in result.image_stamps] == [4]
    assert result.latency > 0


def test_no_frame_yet_reply_has_no_frames(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    answer = describe(harness)
    assert not answer.success and 'no image received yet' in answer.error
    assert list(answer.image_stamps) == []
    assert answer.latency > 0
