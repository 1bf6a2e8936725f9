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
The gateway of a node with several named cameras: real DDS, the real `openai` client, HTTP.

Three cameras told apart by colour and size (the loopback server reports both per image):
`ros://<name>` and `<model>+<name>` reach the camera named, on chat completions and the
Responses API; /health, /v1/status and /v1/frame.jpg show every camera.
"""

from contextlib import contextmanager, ExitStack
import http.client
import json
from typing import Any, Iterator, Optional

from conftest import (
    free_port, GREEN, HAVE_ROS, make_image, module_harness, publishing, RED, requires_ros,
    solid, wait_for)
import cv2
from fake_vlm_server import FakeVlmServer
from jetson_vlm_ros.gateway.openai_gateway import camera_model, GatewayError, image_source
import numpy as np
import pytest

if HAVE_ROS:
    import openai
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_srvs.srv import SetBool

MODEL = 'gemma3:4b'
BLUE = (0, 0, 255)
# The cameras, the default first, told apart by colour and size.
CAMERAS = {'front': {'rgb': RED, 'size': (64, 48)},
           'rear': {'rgb': GREEN, 'size': (96, 72)},
           'arm/wrist': {'rgb': BLUE, 'size': (80, 60)}}


# --- names, without ROS ----------------------------------------------------------------------

NAMES = ('front', 'rear', 'arm/wrist')


@pytest.mark.parametrize('url, source', [
    ('ros://front', 'front'), ('ros://rear/', 'rear'), ('ros://arm/wrist', 'arm/wrist'),
    ('ros://latest', 'latest'), ('ros:///rear/image', '/rear/image')])
def test_camera_urls(url, source):
    assert image_source(url, NAMES).topic == source


@pytest.mark.parametrize('url', ['ros://top', 'ros://arm', 'ros://Front'])
def test_unknown_camera_urls_list_the_cameras(url):
    with pytest.raises(GatewayError) as raised:
        image_source(url, NAMES)
    assert raised.value.status == 400
    assert "this node's cameras are front, rear, arm/wrist" in raised.value.message
    assert "ros://latest is the default camera, 'front'" in raised.value.message


def test_camera_urls_need_the_camera():
    with pytest.raises(GatewayError, match='unknown ros:// image URL'):
        image_source('ros://front', ())


@pytest.mark.parametrize('model, cameras, split', [
    (MODEL + '+rear', NAMES, (MODEL, 'rear')),
    (MODEL + '+arm/wrist', NAMES, (MODEL, 'arm/wrist')),
    (MODEL + '+camera', NAMES, (MODEL, 'latest')),  # the default camera
    (MODEL + '+/rear/image', NAMES, (MODEL, '/rear/image')),
    (MODEL + '+top', NAMES, (MODEL + '+top', None)),  # no camera: the server's model name
    (MODEL + '+rear', (), (MODEL + '+rear', None)),
    # A camera named 'camera' is that camera, default or not.
    (MODEL + '+camera', ('front', 'camera'), (MODEL, 'camera')),
    ('+rear', NAMES, ('+rear', None))])
def test_camera_model_names(model, cameras, split):
    assert camera_model(model, cameras) == split


# --- a node with three cameras -----------------------------------------------------------------

class Cameras:
    """A node with the cameras of CAMERAS streaming, its gateway and its loopback server."""

    def __init__(self, harness: Any, server: FakeVlmServer, port: int) -> None:
        self.harness = harness
        self.server = server
        self.port = port
        self.ns = harness.namespace

    def client(self) -> 'openai.OpenAI':
        return openai.OpenAI(base_url=f'http://127.0.0.1:{self.port}/v1', api_key='unused',
                             timeout=20.0, max_retries=0)

    def http(self, method: str, path: str,
             body: Optional[dict] = None) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=20.0)
        try:
            connection.request(method, path, body=None if body is None else json.dumps(body),
                               headers={'Content-Type': 'application/json'})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def json(self, path: str) -> Any:
        status, _, body = self.http('GET', path)
        assert status == 200, body
        return json.loads(body)

    def seen(self, count: int = 1) -> list:
        """Return the images the server saw in its latest request."""
        images = self.server.requests[-1].images
        assert len(images) == count, images
        return images


def frame(name: str) -> 'Image':
    width, height = CAMERAS[name]['size']
    return make_image(solid(CAMERAS[name]['rgb'], width, height), stamp_sec=len(name))


def assert_camera(image: Any, name: str) -> None:
    assert (image.width, image.height) == CAMERAS[name]['size'], image
    assert image.mean_rgb == pytest.approx(CAMERAS[name]['rgb'], abs=8), image


@contextmanager
def streaming_cameras(tag: str, names: tuple[str, ...] = tuple(CAMERAS),
                      **overrides: Any) -> Iterator[tuple[Cameras, dict[str, ExitStack]]]:
    """Yield the node and, per camera, the ExitStack whose close() stops its stream."""
    port = free_port()
    with FakeVlmServer() as server, module_harness(
            tag, base_url=server.base_url, caption_period=0.0, gateway_port=port,
            cameras=list(CAMERAS), request_timeout=5.0, **overrides) as harness, \
            ExitStack() as streams:
        cameras = {camera.name: camera for camera in harness.node._cameras.cameras}
        per_camera = {}
        for name in names:
            stream = streams.enter_context(ExitStack())
            stream.enter_context(publishing(harness.tester.create_publisher(
                Image, f'{name}/image', qos_profile_sensor_data), frame(name), 20.0))
            per_camera[name] = stream
        wait_for(lambda: all(cameras[name].latest_frame is not None for name in names),
                 10.0, f"frames from {', '.join(names)}")
        yield Cameras(harness, server, port), per_camera


@pytest.fixture(scope='module')
def node() -> Iterator[Cameras]:
    if not HAVE_ROS:
        pytest.skip('needs ROS')
    with streaming_cameras('gwcams') as (cameras, _):
        yield cameras


def user(*parts: Any) -> list[dict[str, Any]]:
    content = [{'type': 'text', 'text': 'what is there?'}]
    content += [{'type': 'image_url', 'image_url': {'url': url}} for url in parts]
    return [{'role': 'user', 'content': content}]


@requires_ros
def test_ros_camera_urls_reach_the_camera_named(node):
    node.client().chat.completions.create(
        model=MODEL, messages=user('ros://rear', 'ros://front', 'ros://arm/wrist',
                                   'ros://latest'))
    rear, front, wrist, latest = node.seen(4)
    assert_camera(rear, 'rear')
    assert_camera(front, 'front')
    assert_camera(wrist, 'arm/wrist')
    assert_camera(latest, 'front')  # ros://latest: the default camera, the first


@requires_ros
def test_camera_model_names_attach_the_camera_named(node):
    # '+camera' is the default camera (none is named 'camera').
    for suffix, name in (('rear', 'rear'), ('arm/wrist', 'arm/wrist'), ('camera', 'front')):
        answer = node.client().chat.completions.create(
            model=f'{MODEL}+{suffix}', messages=[{'role': 'user', 'content': 'and now?'}])
        width, height = CAMERAS[name]['size']
        assert answer.choices[0].message.content.startswith(f'{width}x{height} ')
        assert node.server.requests[-1].body['model'] == MODEL
        assert_camera(node.seen()[0], name)


@requires_ros
def test_responses_api_reaches_the_camera_named(node):
    client = node.client()
    response = client.responses.create(model=MODEL, input=[{'role': 'user', 'content': [
        {'type': 'input_text', 'text': 'x'}, {'type': 'input_image', 'image_url': 'ros://rear'},
        {'type': 'input_image', 'image_url': 'ros://arm/wrist'}]}])
    assert response.status == 'completed'
    rear, wrist = node.seen(2)
    assert_camera(rear, 'rear')
    assert_camera(wrist, 'arm/wrist')
    response = client.responses.create(model=MODEL + '+rear', input='which camera?')
    assert response.output_text.startswith('96x72 ')
    assert node.server.requests[-1].body['model'] == MODEL
    assert_camera(node.seen()[0], 'rear')


@requires_ros
def test_unknown_camera_is_400_listing_the_cameras(node):
    before = len(node.server.requests)
    with pytest.raises(openai.BadRequestError) as chat:
        node.client().chat.completions.create(model=MODEL, messages=user('ros://top'))
    with pytest.raises(openai.BadRequestError) as responses:
        node.client().responses.create(model=MODEL, input=[{'role': 'user', 'content': [
            {'type': 'input_image', 'image_url': 'ros://top'}]}])
    for caught in (chat, responses):
        message = caught.value.body['message']
        assert "no camera named 'top': this node's cameras are front, rear, arm/wrist" in \
            message, message
    assert len(node.server.requests) == before


@requires_ros
def test_a_cameras_topic_is_served_from_that_camera(node):
    node.client().chat.completions.create(
        model=MODEL, messages=user(f'ros://{node.ns}/rear/image'))
    assert_camera(node.seen()[0], 'rear')
    assert node.harness.node._gateway.extra_topics == []  # not subscribed a second time


@requires_ros
def test_models_lists_every_camera(node):
    listed = [model.id for model in node.client().models.list().data]
    assert listed[:5] == [MODEL, MODEL + '+camera', MODEL + '+front', MODEL + '+rear',
                          MODEL + '+arm/wrist']


@requires_ros
def test_each_camera_is_prepared_ahead_while_asked_about(node):
    node.client().chat.completions.create(model=MODEL, messages=user('ros://arm/wrist'))
    topic = f'{node.ns}/arm/wrist/image'

    def ahead() -> int:
        return node.json('/health')['cameras']['arm/wrist']['gateway_frames_prepared_ahead']

    before = ahead()
    wait_for(lambda: ahead() > before, 10.0, "a frame of 'arm/wrist' prepared on arrival")
    assert node.harness.node._gateway.preparation_counts(topic).ahead > before


@requires_ros
def test_health_and_status_show_every_camera(node):
    health = node.json('/health')
    assert health['status'] == 'ok', health
    assert list(health['cameras']) == list(CAMERAS)
    for name, state in health['cameras'].items():
        assert state['topic'] == f'{node.ns}/{name}/image'
        assert state['frames_received'] > 0 and 0 <= state['age_s'] < 5.0
    assert health['camera']['topic'] == f'{node.ns}/front/image'  # the default camera
    status = node.json('/v1/status')
    assert status['default_camera'] == 'front'
    assert list(status['cameras']) == list(CAMERAS)
    assert status['cameras']['rear']['topic'] == f'{node.ns}/rear/image'


@requires_ros
def test_frame_jpg_serves_each_camera(node):
    for query, name in (('', 'front'), ('?camera=rear', 'rear'),
                        ('?camera=arm%2Fwrist', 'arm/wrist'), ('?camera=front', 'front')):
        status, headers, body = node.http('GET', '/v1/frame.jpg' + query)
        assert status == 200 and headers['Content-Type'] == 'image/jpeg', body[:200]
        picture = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert (picture.shape[1], picture.shape[0]) == CAMERAS[name]['size']
        rgb = tuple(int(v) for v in picture[5, 5][::-1])  # BGR, and no uint8 wrap-around
        assert rgb == pytest.approx(CAMERAS[name]['rgb'], abs=12)
    status, _, body = node.http('GET', '/v1/frame.jpg?camera=top')
    assert status == 404
    assert "this node's cameras are front, rear, arm/wrist" in json.loads(body)[
        'error']['message']


@requires_ros
def test_status_page_draws_a_tile_per_camera(node):
    status, _, page = node.http('GET', '/')
    assert status == 200 and b'id="cameras"' in page and b'id="ask-camera"' in page
    status, _, script = node.http('GET', '/static/app.js')
    assert status == 200
    assert b"'/v1/frame.jpg?camera=' + encodeURIComponent" in script


# --- a camera that stops, a disabled node ------------------------------------------------------

@requires_ros
def test_a_stopped_camera_makes_health_degraded_and_is_refused_by_name():
    with streaming_cameras('gwstop', max_image_age=1.0) as (node, streams):
        wait_for(lambda: node.json('/health')['status'] == 'ok', 10.0, 'health ok')
        streams['rear'].close()  # the rear camera stops publishing
        health = wait_for(lambda: (lambda h: h if h['status'] == 'degraded' else None)(
            node.json('/health')), 15.0, 'health degraded by the silent rear camera')
        assert health['cameras']['rear']['age_s'] > 1.0
        assert health['cameras']['front']['age_s'] <= 1.0  # the others are fine
        with pytest.raises(openai.BadRequestError) as caught:
            node.client().chat.completions.create(model=MODEL + '+rear', messages=[
                {'role': 'user', 'content': 'x'}])
        message = caught.value.body['message']
        assert message.startswith(f"camera 'rear': the latest image on '{node.ns}/rear/image' "
                                  f'is '), message
        assert 'older than max_image_age (1 s)' in message
        # The other cameras still answer.
        node.client().chat.completions.create(model=MODEL, messages=user('ros://arm/wrist'))
        assert_camera(node.seen()[0], 'arm/wrist')

        # Disabled: every camera is refused as the default camera is.
        client = node.harness.tester.create_client(SetBool, 'enable')
        assert node.harness.call(client, SetBool.Request(data=False)).success
        before = len(node.server.requests)
        for url in ('ros://arm/wrist', 'ros://latest'):
            with pytest.raises(openai.APIStatusError) as refused:
                node.client().chat.completions.create(model=MODEL, messages=user(url))
            assert refused.value.status_code == 503
        assert len(node.server.requests) == before
