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

"""Several named cameras in one vlm_node, asked together in one model call: real DDS, HTTP."""

import re

from conftest import (
    GREEN, HAVE_ROS, make_image, publishing, RED, requires_ros, solid, start_node, wait_for)
from jetson_vlm_ros.core.camera_choice import camera_choice_problem, chosen_cameras
from jetson_vlm_ros.core.settings import settings_from, SettingsError
from jetson_vlm_ros.model.scene_describer import DescribeError
from jetson_vlm_ros.model.scene_question import choose_cameras
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.action import DescribeScene as DescribeSceneAction
    from jetson_vlm_interfaces.srv import DescribeScene
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_srvs.srv import SetBool

# Two cameras told apart by colour and size (the fake server reports both per image).
FRONT = {'rgb': RED, 'size': (64, 48), 'stamp': 11}
REAR = {'rgb': GREEN, 'size': (96, 72), 'stamp': 22}


def frame(camera: dict) -> 'Image':
    width, height = camera['size']
    return make_image(solid(camera['rgb'], width, height), stamp_sec=camera['stamp'])


def cameras_of(harness) -> dict:
    return {camera.name: camera for camera in harness.node._cameras.cameras}


def describe(harness, timeout: float = 10.0, **fields):
    client = harness.tester.create_client(DescribeScene, 'describe_scene')
    return harness.call(client, DescribeScene.Request(**fields), timeout)


def publisher(harness, name: str):
    return harness.tester.create_publisher(Image, f'{name}/image', qos_profile_sensor_data)


def assert_seen(image, camera: dict) -> None:
    assert (image.width, image.height) == camera['size']
    assert all(abs(got - want) <= 8
               for got, want in zip(image.mean_rgb, camera['rgb'], strict=True))


# --- the parameter and the request field, without ROS ------------------------------------

@pytest.mark.parametrize('names, problem', [
    (['front', 'front'], 'names a camera twice: front'),
    (['front', '2nd'], "'2nd' is not a relative ROS name"),
    (['/front'], "'/front' is not a relative ROS name"),
    (['front/'], "'front/' is not a relative ROS name"),
    (['front camera'], "'front camera' is not a relative ROS name"),
    ([''], "'' is not a relative ROS name"),
    (['all'], "'all' is reserved"),
    (['front', 'latest'], "'latest' is reserved"),
])
def test_bad_camera_names_are_refused(names, problem):
    with pytest.raises(SettingsError, match=re.escape(problem)):
        settings_from({'cameras': names})


def test_good_camera_names_are_kept_in_order():
    names = ('rear', 'front', 'arm/wrist', '_left2')
    assert settings_from({'cameras': list(names)}).cameras == names


def test_choose_cameras():
    names = ['front', 'rear', 'left']
    assert choose_cameras(['rear', 'front'], names) == ['rear', 'front']
    assert choose_cameras(['all'], names) == names
    with pytest.raises(DescribeError, match=r"unknown camera 'top': this node's cameras are "
                                            r"front, rear, left \(or 'all'\)"):
        choose_cameras(['front', 'top'], names)
    with pytest.raises(DescribeError, match='camera named twice: rear'):
        choose_cameras(['rear', 'rear'], names)
    with pytest.raises(DescribeError, match="'all' means every camera: name no other with it"):
        choose_cameras(['all', 'rear'], names)
    with pytest.raises(DescribeError, match='this node has no named cameras'):
        choose_cameras(['front'], [])


def test_one_check_of_camera_choices_for_requests_rules_and_parameters():
    names = ('front', 'rear', 'left')
    assert camera_choice_problem(['left', 'front'], names) is None
    assert chosen_cameras(['left', 'front'], names) == ['left', 'front']  # the order named
    assert chosen_cameras(['all'], names) == list(names)  # the node's order
    # Shape only (the node's cameras not known yet, as for a parameter checked alone).
    assert camera_choice_problem(['top'], None) is None
    assert camera_choice_problem(['top', 'top'], None) == 'camera named twice: top'
    assert camera_choice_problem(['all', 'top'], None) == \
        "'all' means every camera: name no other with it"
    assert camera_choice_problem(['front'], ()) == \
        'this node has no named cameras (cameras parameter)'
    assert camera_choice_problem([], ()) is None  # nothing named: the default camera


# --- a node with two cameras ---------------------------------------------------------------

@requires_ros
def test_one_question_sees_the_cameras_asked_in_order_labelled(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           cameras=['front', 'rear'])
    cameras = cameras_of(harness)
    assert list(cameras) == ['front', 'rear']
    assert harness.node._camera is cameras['front']  # the first is the default camera
    assert cameras['rear'].topic == f'{harness.namespace}/rear/image'
    with publishing(publisher(harness, 'front'), frame(FRONT), 30.0), \
            publishing(publisher(harness, 'rear'), frame(REAR), 30.0):
        wait_for(lambda: all(len(c.history.frames()) >= 2 for c in cameras.values()), 10.0,
                 'two frames from each camera')
        both = describe(harness, prompt='Where is the door?', cameras=['rear', 'front'])
        every = describe(harness, cameras=['all'])
        default = describe(harness)
        two_each = describe(harness, cameras=['all'], num_frames=2)

    assert both.success, both.error
    assert both.image_cameras == ['rear', 'front']
    assert [s.sec for s in both.image_stamps] == [REAR['stamp'], FRONT['stamp']]
    seen = server.requests[0]
    assert len(server.requests) == 4  # one model call per question
    assert_seen(seen.images[0], REAR)
    assert_seen(seen.images[1], FRONT)
    assert seen.texts == ["Camera 'rear':", "Camera 'front':", 'Where is the door?']

    assert every.success, every.error
    assert every.image_cameras == ['front', 'rear']
    assert server.requests[1].texts[:2] == ["Camera 'front':", "Camera 'rear':"]
    assert_seen(server.requests[1].images[1], REAR)

    # No cameras named: the default camera alone, sent as before (no label).
    assert default.success, default.error
    assert default.image_cameras == ['front'] and len(server.requests[2].images) == 1
    assert_seen(server.requests[2].images[0], FRONT)
    assert server.requests[2].texts[0] == harness.node.get_parameter('prompt').value

    assert two_each.success, two_each.error
    assert two_each.image_cameras == ['front', 'front', 'rear', 'rear']
    labels = server.requests[3].texts[:4]
    assert [label.split(', ')[:2] for label in labels] == [
        ["Camera 'front'", 'frame 1 of 2'], ["Camera 'front'", 'frame 2 of 2'],
        ["Camera 'rear'", 'frame 1 of 2'], ["Camera 'rear'", 'frame 2 of 2']]
    for image, camera in zip(server.requests[3].images, [FRONT, FRONT, REAR, REAR], strict=True):
        assert_seen(image, camera)


@requires_ros
def test_the_action_asks_across_cameras_too(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           cameras=['front', 'rear'])
    cameras = cameras_of(harness)
    client = harness.action_client(DescribeSceneAction, 'describe_scene')
    wait_for(lambda: client.wait_for_server(timeout_sec=0.1), 10.0, 'the describe_scene action')
    with publishing(publisher(harness, 'front'), frame(FRONT), 30.0), \
            publishing(publisher(harness, 'rear'), frame(REAR), 30.0):
        wait_for(lambda: all(c.latest_frame for c in cameras.values()), 10.0,
                 'a frame from each camera')
        sent = client.send_goal_async(DescribeSceneAction.Goal(cameras=['rear']))
        handle = wait_for(lambda: sent.done() and sent.result(), 10.0, 'the goal accepted')
        result_future = handle.get_result_async()
        wait_for(result_future.done, 10.0, 'the goal result')
    result = result_future.result().result
    assert result.success, result.error
    assert result.image_cameras == ['rear']
    assert [s.sec for s in result.image_stamps] == [REAR['stamp']]
    assert server.requests[0].texts[0] == "Camera 'rear':"
    assert_seen(server.requests[0].images[0], REAR)


@requires_ros
def test_impossible_questions_fail_at_once_naming_the_cameras(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_frames=4,
                           cameras=['front', 'rear'])
    cameras = cameras_of(harness)
    with publishing(publisher(harness, 'front'), frame(FRONT), 30.0), \
            publishing(publisher(harness, 'rear'), frame(REAR), 30.0):
        wait_for(lambda: all(c.latest_frame for c in cameras.values()), 10.0,
                 'a frame from each camera')
        unknown = describe(harness, cameras=['front', 'top'])
        too_many = describe(harness, cameras=['all'], num_frames=3)
        given_image = describe(harness, cameras=['front'], image=frame(REAR))
    assert not unknown.success
    assert unknown.error == ("unknown camera 'top': this node's cameras are front, rear "
                             "(or 'all')")
    assert not too_many.success
    assert '3 frame(s) from each of 2 cameras is 6 images, more than max_frames (4)' in \
        too_many.error
    assert not given_image.success and 'leave cameras empty' in given_image.error
    assert server.requests == []  # refused before the model was asked


@requires_ros
def test_a_silent_camera_fails_the_question_naming_it_and_its_age(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=1.0,
                           cameras=['front', 'rear', 'left'])
    cameras = cameras_of(harness)
    with publishing(publisher(harness, 'front'), frame(FRONT), 30.0):
        with publishing(publisher(harness, 'rear'), frame(REAR), 30.0):
            wait_for(lambda: cameras['rear'].latest_frame, 10.0, 'a frame from rear')
        # rear stopped: wait (by the node's own clock) until its latest frame is stale.
        wait_for(lambda: cameras['front'].latest_frame.received_at
                 > cameras['rear'].latest_frame.received_at + 1.1, 10.0,
                 'front frames 1.1 s newer than rear')
        stale = describe(harness, cameras=['front', 'rear'])
        never = describe(harness, cameras=['front', 'left'])
        front_alone = describe(harness, cameras=['front'])
    assert not stale.success
    match = re.fullmatch(r"camera 'rear': the latest image on '.*/rear/image' is (\d+\.\d) s "
                         r'old, older than max_image_age \(1 s\): is the camera still '
                         r'publishing\?', stale.error)
    assert match, stale.error
    assert float(match.group(1)) >= 1.0
    assert not never.success
    assert never.error == f"camera 'left': no image received yet on '{cameras['left'].topic}'"
    assert front_alone.success, front_alone.error  # the cameras not asked about do not matter
    assert len(server.requests) == 1


@requires_ros
def test_enable_pauses_and_resumes_every_camera(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           cameras=['front', 'rear'])
    cameras = cameras_of(harness)
    client = harness.tester.create_client(SetBool, 'enable')
    assert harness.call(client, SetBool.Request(data=False)).success
    assert all(c.subscription is None and not c.enabled for c in cameras.values())
    assert harness.call(client, SetBool.Request(data=True)).success
    assert all(c.subscription is not None and c.enabled for c in cameras.values())


@requires_ros
def test_compressed_transport_per_camera(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           image_transport='compressed', cameras=['front', 'rear'])
    assert [c.topic for c in harness.node._cameras.cameras] == [
        f'{harness.namespace}/front/image/compressed',
        f'{harness.namespace}/rear/image/compressed']


@requires_ros
def test_a_node_with_bad_cameras_does_not_start():
    process = start_node('-p', 'cameras:=[front, rear, front]')
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    assert 'cannot start' in output and 'names a camera twice: front' in output, output
