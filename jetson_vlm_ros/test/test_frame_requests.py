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

"""vlm_node beyond one frame (history, several frames, given image, JSON, captions): real DDS."""

import json
import time

from conftest import HAVE_ROS, make_image, mean_rgb, requires_ros, solid, wait_for
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from jetson_vlm_interfaces.srv import DescribeScene
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

pytestmark = requires_ros


def latest_stamp(harness) -> int:
    frame = harness.node._camera.latest_frame
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
    harness = make_harness(base_url=server.base_url, caption_period=0.0, history_size=4,
                           history_seconds=0.0)
    publish_sequence(harness, range(1, 11))
    frames = harness.node._camera.history.frames()
    assert [f.message.header.stamp.sec for f in frames] == [7, 8, 9, 10]
    assert frames[-1] is harness.node._camera.latest_frame


def test_history_bounds_change_at_run_time(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, history_size=8,
                           history_seconds=0.0)
    publish_sequence(harness, range(1, 7))
    client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')
    request = SetParameters.Request(parameters=[ParameterMsg(
        name='history_size', value=ParameterValue(
            type=ParameterType.PARAMETER_INTEGER, integer_value=3))])
    assert harness.call(client, request).results[0].successful
    assert [f.message.header.stamp.sec for f in harness.node._camera.history.frames()] == [4, 5, 6]
    publish_sequence(harness, [7])
    assert [f.message.header.stamp.sec for f in harness.node._camera.history.frames()] == [5, 6, 7]


def test_history_size_one_describes_the_latest_frame_as_before(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, history_size=1)
    publish_sequence(harness, [1, 2, 3])
    assert [f.message.header.stamp.sec for f in harness.node._camera.history.frames()] == [3]
    answer = describe(harness, prompt='What?')
    assert answer.success, answer.error
    assert answer.image_stamp.sec == 3
    assert len(server.requests) == 1
    assert server.requests[0].prompt == 'What?'


def colour_of(stamp: int) -> int:
    return stamp * 20 % 256


def publish_distinct(harness, stamps, gap: float) -> None:
    """Frames whose stamp sets their red level and width; gap seconds apart at the node."""
    for stamp in stamps:
        msg = make_image(solid((colour_of(stamp), 0, 0), 40 + 4 * stamp, 30), 'rgb8',
                         stamp_sec=stamp)
        publish_until_received(harness, msg)
        time.sleep(gap)


def widest_gap(frames) -> float:
    """Return the longest time between two consecutive frames at the node."""
    return max(b.received_at - a.received_at for a, b in zip(frames, frames[1:], strict=False))


def nearest_stamps(harness, count: int, interval: float) -> list[int]:
    """Stamps of the frames nearest to newest, newest - interval, ... (oldest first)."""
    frames = harness.node._camera.history.frames()
    newest = frames[-1].received_at
    chosen = [min(frames, key=lambda f: abs(f.received_at - (newest - k * interval)))
              for k in reversed(range(count))]
    return [f.message.header.stamp.sec for f in chosen]


def test_server_receives_exactly_the_frames_asked_for(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.0,
                           history_seconds=0.0)
    publish_distinct(harness, range(1, 11), gap=0.2)
    # Frames arrive ~0.2 s apart, more on a busy machine: an interval above the widest
    # measured gap gives each asked time a frame of its own.
    frames = harness.node._camera.history.frames()
    widest = widest_gap(frames)
    interval = round(max(0.4, 1.2 * widest), 2)
    while 3 * interval > frames[-1].received_at - frames[0].received_at:
        interval = round(interval * 0.9, 2)  # a very uneven arrival: stay within the history
    expected = nearest_stamps(harness, 4, interval)
    assert expected[-1] == 10 and expected == sorted(set(expected)), (expected, interval)
    answer = describe(harness, prompt='Which way?', num_frames=4, frame_interval=interval)
    assert answer.success, answer.error
    assert [t.sec for t in answer.image_stamps] == expected
    assert answer.image_stamp.sec == 10
    assert len(server.requests) == 1
    seen = server.requests[0]
    assert [(image.width, image.height) for image in seen.images] == [
        (40 + 4 * stamp, 30) for stamp in expected]
    assert [image.mean_rgb[0] for image in seen.images] == pytest.approx(
        [colour_of(stamp) for stamp in expected], abs=3)
    labels, question = seen.texts[:-1], seen.texts[-1]
    assert question == 'Which way?'
    assert [label.split(',')[0] for label in labels] == [
        f'frame {n} of 4' for n in (1, 2, 3, 4)]
    ages = [float(label.split(', ')[1].removesuffix(' s ago')) for label in labels]
    assert ages == sorted(ages, reverse=True)
    # The labels tell the frames' real spacing at the node (to their 0.1 s rounding).
    received = {f.message.header.stamp.sec: f.received_at for f in frames}
    assert ages[0] - ages[-1] == pytest.approx(
        received[expected[-1]] - received[expected[0]], abs=0.11)


def test_interval_zero_spreads_over_the_history(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.0,
                           history_size=7, history_seconds=0.0)
    publish_distinct(harness, range(1, 11), gap=0.05)
    frames = harness.node._camera.history.frames()
    assert [f.message.header.stamp.sec for f in frames] == list(range(4, 11))
    held = frames[-1].received_at - frames[0].received_at
    expected = nearest_stamps(harness, 4, held / 3)
    assert expected[0] == 4 and expected[-1] == 10 and len(set(expected)) == 4, expected
    answer = describe(harness, num_frames=4)
    assert answer.success, answer.error
    assert [t.sec for t in answer.image_stamps] == expected
    assert len(server.requests[0].images) == 4


def test_default_history_spreads_frames_over_seconds(make_harness, server):
    # 32 frames over 10 s: a frame kept every 0.3125 s at least; 0.1 s apart, every 4th.
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.0)
    publish_distinct(harness, range(1, 31), gap=0.1)
    frames = harness.node._camera.history.frames()
    assert frames[-1].message.header.stamp.sec == 30
    gaps = [b.received_at - a.received_at
            for a, b in zip(frames[:-2], frames[1:-1], strict=True)]
    assert all(gap >= 0.3125 for gap in gaps), gaps
    answer = describe(harness, num_frames=3, frame_interval=1.0)
    assert answer.success, answer.error
    stamps = [t.sec for t in answer.image_stamps]
    # About 1 s apart at the node, give or take the spacing of the frames kept there.
    received = {f.message.header.stamp.sec: f.received_at for f in frames}
    newest = received[30]
    widest = widest_gap(frames)
    assert stamps[-1] == 30, stamps
    for steps_back, stamp in enumerate(reversed(stamps)):
        assert abs(received[stamp] - (newest - steps_back)) <= widest, (stamps, widest)


def test_a_prompt_only_request_describes_the_latest_frame(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.0)
    publish_distinct(harness, range(1, 4), gap=0.0)
    answer = describe(harness, prompt='What?')
    assert answer.success, answer.error
    assert [t.sec for t in answer.image_stamps] == [3]
    assert len(server.requests[0].images) == 1
    assert server.requests[0].texts == ['What?']


def test_limits_give_clear_errors_without_calling_the_model(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.0,
                           history_size=4, history_seconds=0.0, max_frames=8)
    publish_distinct(harness, range(1, 7), gap=0.1)
    too_many = describe(harness, num_frames=9)
    assert not too_many.success
    assert 'num_frames 9 is more than max_frames (8)' in too_many.error
    not_held = describe(harness, num_frames=5)
    assert not not_held.success
    assert 'asked for 5 frames, but the history holds 4' in not_held.error
    too_long = describe(harness, num_frames=3, frame_interval=1.0)
    assert not too_long.success
    assert '3 frames 1 s apart span 2.0 s, but the history holds' in too_long.error
    bad_interval = describe(harness, num_frames=2, frame_interval=-1.0)
    assert not bad_interval.success and 'frame_interval must be 0' in bad_interval.error
    for failed in (too_many, not_held, too_long, bad_interval):
        assert failed.description == '' and list(failed.image_stamps) == []
    assert server.requests == []
    # The node keeps serving: a request the history can answer succeeds.
    assert describe(harness, num_frames=4).success


def test_a_given_image_is_described_instead_of_the_camera(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    given = make_image(solid((0, 0, 255), 100, 50), 'bgr8', stamp_sec=77)
    # No camera frame yet: a given image needs none.
    alone = describe(harness, prompt='And this?', image=given)
    assert alone.success, alone.error
    assert alone.image_stamp.sec == 77 and [t.sec for t in alone.image_stamps] == [77]
    with harness.streaming(make_image(solid((255, 0, 0)), 'rgb8', stamp_sec=5)):
        answer = describe(harness, prompt='And this?', image=given)
        camera = describe(harness, prompt='And the camera?')
    assert answer.success, answer.error
    assert answer.image_stamp.sec == 77
    seen = server.requests[1]
    assert len(seen.images) == 1
    assert (seen.image.width, seen.image.height) == (100, 50)
    r, g, b = seen.image.mean_rgb
    assert b > 240 and r < 15 and g < 15
    assert seen.texts == ['And this?']
    # An empty image field means the camera again.
    assert camera.success and camera.image_stamp.sec == 5
    assert server.requests[2].image.mean_rgb[0] > 240


def test_a_bad_given_image_fails_clearly_without_calling_the_model(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    short_step = make_image(solid((0, 255, 0), 20, 10), 'rgb8', stamp_sec=3)
    short_step.step = 10
    answer = describe(harness, image=short_step)
    assert not answer.success
    assert answer.error.startswith('cannot use the given image: step 10 is smaller than one row')
    assert answer.image_stamp.sec == 3
    unknown = make_image(solid((0, 255, 0), 20, 10), 'rgb8')
    unknown.encoding = 'rgb77'
    answer = describe(harness, image=unknown)
    assert not answer.success
    assert "cannot use the given image: unsupported image encoding 'rgb77'" in answer.error
    with_frames = describe(harness, image=make_image(solid((0, 255, 0))), num_frames=3)
    assert not with_frames.success
    assert 'a given image is described alone: num_frames must be 0 or 1' in with_frames.error
    assert server.requests == []


POINTS_SCHEMA = json.dumps({
    'type': 'object',
    'properties': {'objects': {'type': 'array', 'items': {
        'type': 'object', 'required': ['name', 'x', 'y'],
        'properties': {'name': {'type': 'string'}, 'x': {'type': 'number'},
                       'y': {'type': 'number'}}}}},
    'required': ['objects']})


def test_json_mode_valid_answer_passes_invalid_fails_clearly(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    with harness.streaming(make_image(solid((255, 0, 0)), stamp_sec=9)):
        server.state.answer_text = '{"people": 2}'
        valid = describe(harness, prompt='How many people?', response_format='json')
        server.state.answer_text = 'There are two people.'
        invalid = describe(harness, prompt='How many people?', response_format='json')
        plain = describe(harness, prompt='How many people?')
    assert valid.success, valid.error
    assert valid.description == '{"people": 2}'
    assert server.requests[0].body['response_format'] == {'type': 'json_object'}
    assert not invalid.success
    assert invalid.error.startswith("the model's answer is not valid JSON")
    assert invalid.error.endswith("'There are two people.'")
    assert invalid.description == '' and invalid.image_stamp.sec == 9
    # Text requests send no response_format and take any answer, as before.
    assert plain.success and plain.description == 'There are two people.'
    assert 'response_format' not in server.requests[2].body


def test_schema_is_sent_and_the_answer_validated(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    good = '{"objects": [{"name": "cup", "x": 0.4, "y": 0.7}]}'
    with harness.streaming(make_image(solid((255, 0, 0)), stamp_sec=9)):
        server.state.answer_text = good
        valid = describe(harness, response_format=POINTS_SCHEMA)
        server.state.answer_text = '{"objects": [{"name": "cup", "x": "left"}]}'
        violating = describe(harness, response_format=POINTS_SCHEMA)
    assert valid.success, valid.error
    assert json.loads(valid.description) == json.loads(good)
    assert server.requests[0].body['response_format'] == {
        'type': 'json_schema',
        'json_schema': {'name': 'answer', 'schema': json.loads(POINTS_SCHEMA)}}
    assert not violating.success
    assert 'does not match the response_format schema at objects/0' in violating.error
    assert """'{"objects": [{"name": "cup", "x": "left"}]}'""" in violating.error


def test_a_bad_schema_never_reaches_the_server(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    with harness.streaming(make_image(solid((255, 0, 0)), stamp_sec=9)):
        bad = describe(harness, response_format='{"type": "objekt"}')
        not_json = describe(harness, response_format='objects with positions')
        afterwards = describe(harness)
    assert not bad.success
    assert 'response_format is not a valid JSON Schema at type' in bad.error
    assert not not_json.success
    assert "response_format must be empty (text), 'json', or a JSON Schema" in not_json.error
    assert afterwards.success
    assert len(server.requests) == 1


def test_caption_frames_sends_that_many_images(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.6, caption_frames=3,
                           history_seconds=1.0)
    with harness.streaming(make_image(solid((255, 0, 0)), stamp_sec=1)):
        wait_for(lambda: server.requests, 10.0, 'a caption request')
    seen = server.requests[0]
    assert len(seen.images) == 3
    assert [text.split(',')[0] for text in seen.texts[:3]] == [
        'frame 1 of 3', 'frame 2 of 3', 'frame 3 of 3']
    assert seen.texts[3] == harness.node.get_parameter('prompt').value
    ages = [float(text.split(', ')[1].removesuffix(' s ago')) for text in seen.texts[:3]]
    # Spread over the period: 0.2 s apart, give or take the label's rounding and the
    # widest gap between the frames the node held (about 33 ms, more on a busy machine).
    frames = harness.node._camera.history.frames()
    widest = widest_gap(frames)
    assert ages[0] - ages[2] == pytest.approx(0.4, abs=0.1 + widest), (ages, widest)


def test_gating_skips_an_unchanged_scene_and_captions_a_changed_one(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.25,
                           caption_min_change=0.1)
    captions = []
    harness.tester.create_subscription(Caption, 'caption_stamped', captions.append, 10)
    with harness.streaming(make_image(solid((200, 0, 0)), stamp_sec=1)):
        wait_for(lambda: captions, 10.0, 'the first caption')
        # New frames of the same scene keep arriving: every tick is skipped.
        wait_for(lambda: harness.node._captions.scene_gate.skipped >= 3, 10.0,
                 'three skipped ticks')
    assert len(server.requests) == 1
    requests = harness.node._describer.stats.status(0, 2, True)
    skips = dict(requests.values)['captions skipped, scene unchanged']
    assert int(skips) >= 3
    with harness.streaming(make_image(solid((0, 0, 200)), stamp_sec=2)):
        wait_for(lambda: len(captions) >= 2, 10.0, 'a caption of the changed scene')
    assert captions[1].header.stamp.sec == 2
    assert mean_rgb(captions[1].text)[2] > 190
    assert len(server.requests) == 2
