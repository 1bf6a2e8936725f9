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

"""vlm_node's frame history and multi-frame requests: real rclpy, real loopback server."""

import time

from conftest import HAVE_ROS, make_image, ROS_SKIP_REASON, solid
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.srv import DescribeScene

pytestmark = pytest.mark.skipif(not HAVE_ROS, reason=ROS_SKIP_REASON)


@pytest.fixture
def server():
    with FakeVlmServer() as running:
        yield running


def latest_stamp(harness) -> int:
    frame = harness.node._latest_frame
    return -1 if frame is None else frame.message.header.stamp.sec


def publish_until_received(harness, msg, timeout: float = 10.0) -> None:
    """Publish one frame (again, should best-effort delivery drop it) until the node has it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        harness.image_pub.publish(msg)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            if latest_stamp(harness) == msg.header.stamp.sec:
                return
            time.sleep(0.005)
    pytest.fail(f'vlm_node did not receive the frame stamped {msg.header.stamp.sec}')


def publish_sequence(harness, stamps, gap: float = 0.0) -> list:
    """Publish frames stamped 1, 2, ... one after another; return the messages."""
    sent = []
    for stamp in stamps:
        msg = make_image(solid((stamp * 20 % 256, 0, 0)), 'rgb8', stamp_sec=stamp)
        publish_until_received(harness, msg)
        sent.append(msg)
        time.sleep(gap)
    return sent


def describe(harness, timeout: float = 10.0, **fields):
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    return harness.call(client, DescribeScene.Request(**fields), timeout)


def test_history_keeps_the_newest_history_size_frames(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, history_size=4)
    publish_sequence(harness, range(1, 11))
    frames = harness.node._history.frames()
    assert [f.message.header.stamp.sec for f in frames] == [7, 8, 9, 10]
    assert frames[-1] is harness.node._latest_frame


def test_history_size_one_describes_the_latest_frame_as_before(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, history_size=1)
    publish_sequence(harness, [1, 2, 3])
    assert [f.message.header.stamp.sec for f in harness.node._history.frames()] == [3]
    answer = describe(harness, prompt='What?')
    assert answer.success, answer.error
    assert answer.image_stamp.sec == 3
    assert len(server.requests) == 1
    assert server.requests[0].prompt == 'What?'
