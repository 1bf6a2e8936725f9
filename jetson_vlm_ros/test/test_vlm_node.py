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

"""vlm_node end to end: real rclpy over DDS, a real loopback VLM server."""

import os
import threading
import time

from conftest import (
    HAVE_ROS, make_image, mean_rgb, requires_ros, solid, wait_for, wait_for_node_time)
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from jetson_vlm_interfaces.srv import DescribeScene
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
    from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
    from std_msgs.msg import String

pytestmark = requires_ros

RED, BLUE = (255, 0, 0), (0, 0, 255)


def describe(harness, prompt: str = '', timeout: float = 10.0):
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    return harness.call(client, DescribeScene.Request(prompt=prompt), timeout)


def test_answer_comes_from_the_frame_sent(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    with harness.streaming(make_image(solid(RED), 'rgb8', stamp_sec=100)):
        first = describe(harness, 'What colour?')
    assert first.success, first.error
    assert first.error == ''
    assert first.model == 'gemma3:4b'
    assert first.image_stamp.sec == 100
    r, g, b = mean_rgb(first.description)
    assert r > 240 and g < 15 and b < 15
    assert first.description.endswith('prompt=What colour?')
    assert 0 < first.latency < 5

    # The same colour sent in the other channel order must still reach the model as blue.
    with harness.streaming(make_image(solid(BLUE), 'bgr8', stamp_sec=200)):
        second = describe(harness)
    assert second.success, second.error
    assert second.image_stamp.sec == 200
    r, g, b = mean_rgb(second.description)
    assert b > 240 and r < 15 and g < 15
    # An empty prompt means the node's `prompt` parameter.
    assert server.requests[-1].prompt == harness.node.get_parameter('prompt').value


def test_large_frame_is_downsized_before_sending(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_size=320)
    with harness.streaming(make_image(solid(RED, 1280, 720), 'rgb8', stamp_sec=1), rate=5):
        answer = describe(harness)
    assert answer.success, answer.error
    seen = server.requests[-1].image
    assert (seen.width, seen.height) == (320, 180)


def test_no_frame_yet_fails_without_calling_the_model(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    answer = describe(harness)
    assert not answer.success
    assert f"no image received yet on '{harness.namespace}/camera/image_raw'" in answer.error
    assert answer.description == ''
    assert server.requests == []


def test_stale_frame_fails_without_calling_the_model(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.3)
    with harness.streaming(make_image(solid(RED), stamp_sec=5)):
        pass
    latest = harness.node._camera.latest_frame
    wait_for(lambda: time.monotonic() - latest.received_at > 0.4, 10.0,
             'the latest frame to be older than max_image_age')
    answer = describe(harness)
    assert not answer.success
    assert 'older than max_image_age (0.3 s)' in answer.error
    assert server.requests == []


def test_periodic_captions_on_both_topics(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.3)
    texts, stamped = [], []
    harness.tester.create_subscription(String, 'caption', texts.append, 10)
    harness.tester.create_subscription(Caption, 'caption_stamped', stamped.append, 10)
    with harness.streaming(make_image(solid(RED), stamp_sec=42, frame_id='cam_optical')):
        wait_for(lambda: texts and stamped, 10.0, 'a caption on both topics')
    caption = stamped[0]
    assert caption.header.stamp.sec == 42
    assert caption.header.frame_id == 'cam_optical'
    assert caption.model == 'gemma3:4b'
    assert caption.prompt == harness.node.get_parameter('prompt').value
    assert caption.text == texts[0].data
    assert mean_rgb(caption.text)[0] > 240
    assert caption.latency > 0


def test_caption_skipped_when_no_new_frame(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.2,
                           diagnostics_period=0.2)
    node = harness.node
    with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=200):
        wait_for(lambda: len(server.requests) >= 1, 10.0, 'a first caption request')
    # Frames still in flight land, and the newest of them gets its caption.
    wait_for(lambda: (node._captions.last_captioned_sequence
                      == node._camera.latest_frame.sequence),
             10.0, 'the last frame captioned')
    assert node.executor.wait_for_offloaded(10.0)
    count = len(server.requests)
    wait_for_node_time(harness, 1.0)  # five ticks, no new frame
    assert len(server.requests) == count


def test_backend_down_then_back(make_harness):
    with FakeVlmServer() as first:
        port = first.port
    harness = make_harness(base_url=f'http://127.0.0.1:{port}/v1', caption_period=0.0)
    with harness.streaming(make_image(solid(RED), stamp_sec=7)):
        down = describe(harness)
        assert not down.success
        assert 'cannot reach the VLM server' in down.error
        assert down.image_stamp.sec == 7
        with FakeVlmServer(port=port):
            up = describe(harness)
    assert up.success, up.error


def test_hung_backend_is_cut_off_at_request_timeout(make_harness, server):
    server.state.behaviour = 'hang'
    harness = make_harness(base_url=server.base_url, caption_period=0.0, request_timeout=1.0)
    with harness.streaming(make_image(solid(RED), stamp_sec=3)):
        started = time.monotonic()
        answer = describe(harness, timeout=5.0)
        elapsed = time.monotonic() - started
    assert not answer.success
    assert 'did not answer within request_timeout (1 s)' in answer.error
    assert 0.9 < elapsed < 2.0


def test_malformed_frame_then_good_frame(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    bad = make_image(solid(RED), stamp_sec=9)
    bad.step = 10  # smaller than one row
    with harness.streaming(bad):
        answer = describe(harness)
    assert not answer.success
    assert 'cannot use the latest image: step 10 is smaller than one row' in answer.error
    with harness.streaming(make_image(solid(RED), stamp_sec=10)):
        assert describe(harness).success


def test_busy_error_beyond_max_concurrent_requests(make_harness, server):
    server.state.delay = 1.0
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1)
    answers = []
    with harness.streaming(make_image(solid(RED), stamp_sec=1)):
        callers = [threading.Thread(target=lambda: answers.append(describe(harness)))
                   for _ in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
    assert sorted(a.success for a in answers) == [False, False, True]
    for answer in answers:
        if not answer.success:
            assert answer.error.startswith('busy: 1 VLM request(s) already in flight')
    assert server.max_in_flight == 1


def _set_parameter(harness, name: str, value) -> 'SetParameters.Response':
    client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')
    if isinstance(value, str):
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    elif isinstance(value, float):
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        pv = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=pv)])
    return harness.call(client, request).results[0]


def test_parameters_set_at_run_time(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    rejected = _set_parameter(harness, 'jpeg_quality', 500)
    assert not rejected.successful
    assert 'jpeg_quality' in rejected.reason
    assert harness.node.get_parameter('jpeg_quality').value == 85
    rejected = _set_parameter(harness, 'base_url', 'localhost:11434')
    assert not rejected.successful and 'base_url' in rejected.reason

    assert _set_parameter(harness, 'prompt', 'Count the boxes.').successful
    assert _set_parameter(harness, 'model', 'llava:7b').successful
    with harness.streaming(make_image(solid(RED), stamp_sec=1)):
        answer = describe(harness)
    assert answer.success and answer.model == 'llava:7b'
    assert server.requests[-1].prompt == 'Count the boxes.'
    assert server.requests[-1].body['model'] == 'llava:7b'

    # Read back over the parameter service, as `ros2 param get` does.
    client = harness.tester.create_client(GetParameters, 'vlm_node/get_parameters')
    values = harness.call(client, GetParameters.Request(names=['prompt'])).values
    assert values[0].string_value == 'Count the boxes.'


def test_caption_period_change_takes_effect(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    texts = []
    harness.tester.create_subscription(String, 'caption', texts.append, 10)
    with harness.streaming(make_image(solid(RED), stamp_sec=1)):
        wait_for_node_time(harness, 0.5)  # caption_period 0: no timer, no caption
        assert texts == []
        assert _set_parameter(harness, 'caption_period', 0.2).successful
        wait_for(lambda: texts, 10.0, 'a caption after enabling caption_period')


def _parameter_types(harness, names: list[str]) -> list[tuple[int, int, object]]:
    """Return (value type, described type, value) per name, read over the node's services."""
    get = harness.tester.create_client(GetParameters, 'vlm_node/get_parameters')
    describe_client = harness.tester.create_client(
        DescribeParameters, 'vlm_node/describe_parameters')
    values = harness.call(get, GetParameters.Request(names=names)).values
    descriptors = harness.call(
        describe_client, DescribeParameters.Request(names=names)).descriptors
    return [(v.type, d.type, v.double_value if v.type == ParameterType.PARAMETER_DOUBLE
             else v.integer_value) for v, d in zip(values, descriptors, strict=True)]


def test_integer_for_a_double_parameter_is_stored_as_a_double(make_harness, server):
    # As `-p caption_period:=2` and `ros2 param set /vlm_node caption_period 2` send it.
    double = ParameterType.PARAMETER_DOUBLE
    harness = make_harness(base_url=server.base_url, caption_period=0, request_timeout=7)
    assert _parameter_types(harness, ['caption_period', 'request_timeout']) == [
        (double, double, 0.0), (double, double, 7.0)]
    result = _set_parameter(harness, 'caption_period', 2)
    assert result.successful, result.reason
    assert _parameter_types(harness, ['caption_period']) == [(double, double, 2.0)]
    assert harness.node._node_parameters.current().caption_period == 2.0
    # Integer parameters stay integers.
    assert _set_parameter(harness, 'max_tokens', 64).successful
    integer = ParameterType.PARAMETER_INTEGER
    assert _parameter_types(harness, ['max_tokens']) == [(integer, integer, 64)]


def test_bad_parameter_at_start_names_it(make_harness):
    from rclpy.exceptions import ParameterException
    from jetson_vlm_ros.core.settings import SettingsError
    with pytest.raises((ParameterException, SettingsError), match='max_tokens'):
        make_harness(max_tokens=0)
    with pytest.raises(SettingsError, match="parameter 'base_url'"):
        make_harness(base_url='not a url')


def test_root_namespace_serves_describe_scene():
    import rclpy
    from jetson_vlm_ros.ros.vlm_node import VlmNode
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = VlmNode(context=context)
        assert node.resolve_service_name('describe_scene') == '/describe_scene'
        assert node._camera.subscription.topic_name == '/image'
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_publishers_have_no_default_qos_event_handlers():
    # Each would be one more waitable that the executor walks on every camera frame; the
    # camera subscription keeps rclpy's, which warn about a camera with incompatible QoS.
    import rclpy
    from jetson_vlm_ros.ros.vlm_node import PublisherEventCallbacks, VlmNode
    from std_msgs.msg import String
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = VlmNode(context=context)
        publishers = {p.topic_name: p.event_handlers for p in node.publishers}
        camera_handlers = node._camera.subscription.event_handlers
        wanted = node.create_publisher(String, 'with_events', 1, event_callbacks=(
            PublisherEventCallbacks(incompatible_qos=lambda event: None)))
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert {'/parameter_events', '/caption', '/caption_image', '/alerts'} <= set(publishers)
    assert {topic: handlers for topic, handlers in publishers.items() if handlers} == {}
    assert camera_handlers
    assert wanted.event_handlers  # a caller's own event callbacks are kept


def test_compressed_transport_forwards_small_jpeg(make_harness, server):
    import cv2
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import CompressedImage
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           image_transport='compressed')
    expected_topic = f'{harness.namespace}/camera/image_raw/compressed'
    assert harness.node._camera.subscription.topic_name == expected_topic
    publisher = harness.tester.create_publisher(
        CompressedImage, 'camera/image_raw/compressed', qos_profile_sensor_data)
    ok, data = cv2.imencode('.jpg', solid(BLUE)[:, :, ::-1])
    msg = CompressedImage(format='jpeg', data=data.tobytes())
    msg.header.stamp.sec = 77

    def received() -> bool:
        publisher.publish(msg)
        frame = harness.node._camera.latest_frame
        return frame is not None and frame.message.header.stamp.sec == 77
    wait_for(received, 10.0, 'vlm_node to receive the compressed frame')
    answer = describe(harness)
    assert answer.success, answer.error
    assert answer.image_stamp.sec == 77
    r, g, b = mean_rgb(answer.description)
    assert b > 240 and r < 15 and g < 15
    assert (server.requests[-1].image.width, server.requests[-1].image.height) == (64, 48)


@pytest.mark.parametrize('override', [False, True])
def test_compressed_subscription_qos_override_key(override):
    # The README's key for compressed mode: the compressed topic's name, not the raw one's.
    import rclpy
    from rclpy.parameter import Parameter
    from rclpy.qos import ReliabilityPolicy
    from jetson_vlm_ros.ros.vlm_node import VlmNode
    topic = f'/qos{os.getpid()}/camera/image_raw/compressed'
    overrides = [Parameter('image_transport', value='compressed')]
    if override:
        overrides.append(
            Parameter(f'qos_overrides.{topic}.subscription.reliability', value='reliable'))
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = VlmNode(context=context, parameter_overrides=overrides, cli_args=[
            '--ros-args', '-r', f'image:={topic[:-len("/compressed")]}'])
        infos = node.get_subscriptions_info_by_topic(topic)
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert len(infos) == 1
    assert infos[0].qos_profile.reliability == (
        ReliabilityPolicy.RELIABLE if override else ReliabilityPolicy.BEST_EFFORT)
