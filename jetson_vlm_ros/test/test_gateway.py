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
The OpenAI-compatible gateway of vlm_node, through the real `openai` client and raw HTTP.

One vlm_node (real rclpy, real DDS) serves the gateway on a loopback port; the real loopback
VLM server decodes every image it receives, so each answer says which frame was sent.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
import http.client
import json
import socket
import threading
import time
from typing import Any, Iterator, Optional

from conftest import (
    free_port, HAVE_ROS, make_image, mean_rgb, module_harness, publishing, requires_ros, solid,
    wait_for)
from fake_vlm_server import FakeVlmServer, ServerState
from jetson_vlm_ros.frames.image_conversion import PixelArray
from jetson_vlm_ros.frames.image_encoding import encode_pixels
import pytest

if HAVE_ROS:
    import openai
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

pytestmark = requires_ros

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
MODEL = 'gemma3:4b'


class Gateway:
    """The shared node, its loopback VLM server, and ways to talk to its gateway."""

    def __init__(self, harness: Any, server: FakeVlmServer, port: int) -> None:
        self.harness = harness
        self.server = server
        self.port = port
        self.base_url = f'http://127.0.0.1:{port}/v1'
        self.ns = harness.namespace

    def client(self, api_key: str = 'unused', **options: Any) -> 'openai.OpenAI':
        options.setdefault('max_retries', 0)
        return openai.OpenAI(base_url=self.base_url, api_key=api_key, timeout=20.0, **options)

    def http(self, method: str, path: str, body: Optional[bytes] = None,
             headers: Optional[dict[str, str]] = None,
             timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def post(self, payload: Any, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {'Content-Type': 'application/json', **kwargs.pop('headers', {})}
        status, response_headers, body = self.http(
            'POST', '/v1/chat/completions', raw, headers, **kwargs)
        return status, response_headers, json.loads(body)

    def publisher(self, msg_type: Any, topic: str, qos: Any) -> Any:
        """Return a publisher on the test node, once vlm_node sees its topic on the graph."""
        publisher = self.harness.tester.create_publisher(msg_type, topic, qos)
        wait_for(lambda: topic in dict(self.harness.node.get_topic_names_and_types()), 10.0,
                 f"'{topic}' on the graph")
        return publisher

    def set_params(self, **values: Any) -> None:
        results = self.harness.node.set_parameters(
            [Parameter(name, value=value) for name, value in values.items()])
        assert all(result.successful for result in results), results

    @contextmanager
    def params(self, **values: Any) -> Iterator[None]:
        old = {name: self.harness.node.get_parameter(name).value for name in values}
        self.set_params(**values)
        try:
            yield
        finally:
            self.set_params(**old)


@contextmanager
def gateway_on_camera(tag: str, camera: Any, **overrides: Any) -> Iterator[Gateway]:
    """Share a node with its gateway and a loopback server, its camera streaming `camera`."""
    port = free_port()
    with FakeVlmServer() as server, module_harness(
            tag, base_url=server.base_url, caption_period=0.0, gateway_port=port,
            max_concurrent_requests=2, request_timeout=5.0, **overrides) as harness:
        with harness.streaming(camera, rate=20.0):
            yield Gateway(harness, server, port)


@pytest.fixture(scope='module')
def gateway() -> Iterator[Gateway]:
    # The tests here ask about a dozen topics.
    with gateway_on_camera('gw', make_image(solid(RED, 640, 480), 'rgb8', stamp_sec=7),
                           gateway_max_topics=16) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def fresh_state(gateway: Gateway) -> Iterator[None]:
    """Each test starts with a server in its default state and every request slot free."""
    gateway.server.state = ServerState()
    gateway.server.max_in_flight = gateway.server.in_flight
    yield
    gateway.server.state = ServerState()
    slots = gateway.harness.node._describer.slots
    wait_for(lambda: slots.in_flight == 0, 10.0, 'every request slot given back')


def ask(text: str, url: str) -> list[dict[str, Any]]:
    return [{'role': 'user', 'content': [
        {'type': 'text', 'text': text}, {'type': 'image_url', 'image_url': {'url': url}}]}]


def error_of(body: Any) -> dict[str, Any]:
    assert set(body) == {'error'}, body
    error = body['error']
    assert {'message', 'type', 'code'} <= set(error), error
    assert 'Traceback' not in error['message']
    return error


# --- answers --------------------------------------------------------------------------------

def test_ros_latest_reaches_the_server_as_the_camera_frame(gateway):
    completion = gateway.client().chat.completions.create(
        model=MODEL, messages=ask('what is there?', 'ros://latest'))
    answer = completion.choices[0].message.content
    assert answer.startswith('640x480 '), answer
    assert mean_rgb(answer) == pytest.approx(RED, abs=3)
    seen = gateway.server.requests[-1]
    assert (seen.image.width, seen.image.height) == (640, 480)
    assert seen.prompt == 'what is there?'
    url = seen.body['messages'][0]['content'][1]['image_url']['url']
    assert url.startswith('data:image/jpeg;base64,')


def test_several_images_in_one_request_each_reach_the_server(gateway):
    # The camera twice (one with a detail), a client's own image between them, and a
    # text that happens to look like an image placeholder: each arrives as sent or filled.
    own = encode_pixels(PixelArray(solid(BLUE, 64, 48), 'RGB'), 896, 90).data_url()
    content = [
        {'type': 'text', 'text': 'ros-image-0123 "ros://latest"'},
        {'type': 'image_url', 'image_url': {'url': 'ros://latest', 'detail': 'low'}},
        {'type': 'image_url', 'image_url': {'url': own}},
        {'type': 'image_url', 'image_url': {'url': 'ros://latest'}}]
    status, _, body = gateway.post({'messages': [{'role': 'user', 'content': content}]})
    assert status == 200, body
    seen = gateway.server.requests[-1]
    assert [(image.width, image.height) for image in seen.images] == [
        (640, 480), (64, 48), (640, 480)]
    for image, colour in zip(seen.images, (RED, BLUE, RED), strict=True):
        assert image.mean_rgb == pytest.approx(colour, abs=3)
    parts = seen.body['messages'][0]['content']
    assert parts[0] == content[0]
    assert parts[1]['image_url']['detail'] == 'low'
    assert parts[1]['image_url']['url'] == parts[3]['image_url']['url']  # the same frame
    assert parts[2]['image_url']['url'] == own


def test_model_omitted_is_the_nodes_model(gateway):
    status, _, body = gateway.post({'messages': ask('hi', 'ros://latest')})
    assert status == 200, body
    assert gateway.server.requests[-1].body['model'] == MODEL


def test_camera_model_attaches_the_latest_frame(gateway):
    completion = gateway.client().chat.completions.create(
        model=MODEL + '+camera', messages=[{'role': 'user', 'content': 'what is there?'}])
    answer = completion.choices[0].message.content
    assert mean_rgb(answer) == pytest.approx(RED, abs=3), answer
    seen = gateway.server.requests[-1]
    assert seen.body['model'] == MODEL and seen.prompt == 'what is there?'


def test_other_topic_is_subscribed_on_first_use(gateway):
    topic = f'{gateway.ns}/other/image'
    publisher = gateway.publisher(Image, topic, qos_profile_sensor_data)
    with publishing(publisher, make_image(solid(GREEN, 320, 240)), 20.0):
        for model, messages in ((MODEL, ask('and there?', 'ros://' + topic)),
                                (f'{MODEL}+{topic}', [{'role': 'user', 'content': 'x'}])):
            answer = gateway.client().chat.completions.create(
                model=model, messages=messages).choices[0].message.content
            assert answer.startswith('320x240 '), answer
            assert mean_rgb(answer) == pytest.approx(GREEN, abs=3)
        assert topic in gateway.harness.node._gateway.extra_topics
        listed = [m.id for m in gateway.client().models.list().data]
        assert f'{MODEL}+{topic}' in listed
    gateway.harness.tester.destroy_publisher(publisher)


def answer_about(gateway: Gateway, topic: str) -> str:
    status, _, body = gateway.post({'messages': ask('what?', 'ros://' + topic)})
    assert status == 200, body
    return body['choices'][0]['message']['content']


def first_answer(gateway: Gateway, publisher: Any, topic: str, msg: Any) -> None:
    """Publish msg until the gateway, which subscribes on first use, answers about it."""
    def answered() -> bool:
        publisher.publish(msg)
        return gateway.post({'messages': ask('a', 'ros://' + topic)})[0] == 200

    wait_for(answered, 10.0, f"a first answer about '{topic}'")


def test_requests_about_the_same_frame_share_one_preparation(gateway):
    topic = f'{gateway.ns}/still/image'
    publisher = gateway.publisher(Image, topic, qos_profile_sensor_data)
    bridge = gateway.harness.node._gateway
    first_answer(gateway, publisher, topic, make_image(solid(BLUE, 160, 120)))
    before = bridge.preparation_counts(topic)
    for _ in range(3):
        assert answer_about(gateway, topic).startswith('160x120 ')
    after = bridge.preparation_counts(topic)
    assert (after.prepared, after.reused) == (before.prepared, before.reused + 3)
    publisher.publish(make_image(solid(GREEN, 80, 60)))  # a new frame is prepared anew
    wait_for(lambda: answer_about(gateway, topic).startswith('80x60 '), 10.0,
             'an answer about the new frame')
    assert bridge.preparation_counts(topic).prepared > before.prepared
    gateway.harness.tester.destroy_publisher(publisher)


def test_new_frames_are_prepared_on_arrival_while_clients_ask(gateway):
    topic = f'{gateway.ns}/ahead/image'
    publisher = gateway.publisher(Image, topic, qos_profile_sensor_data)
    bridge = gateway.harness.node._gateway
    with gateway.params(gateway_prepare_ahead=30.0):
        first_answer(gateway, publisher, topic, make_image(solid(BLUE, 160, 120)))
        before = bridge.preparation_counts(topic)
        publisher.publish(make_image(solid(GREEN, 80, 60)))  # no request asks about it yet
        wait_for(lambda: bridge.preparation_counts(topic).ahead > before.ahead, 10.0,
                 'the new frame prepared on arrival')
        answer = answer_about(gateway, topic)
        assert answer.startswith('80x60 ') and mean_rgb(answer) == pytest.approx(GREEN, abs=3)
        after = bridge.preparation_counts(topic)
        # The request used the frame prepared on arrival, and prepared nothing itself.
        assert (after.prepared, after.ahead, after.reused) == (
            before.prepared + 1, before.ahead + 1, before.reused + 1)
    gateway.harness.tester.destroy_publisher(publisher)


@pytest.mark.parametrize('window', [0.0, 0.3], ids=['off', 'after-the-window'])
def test_frames_are_prepared_on_request_only_when_nobody_asked_lately(gateway, window):
    topic = f'{gateway.ns}/lazy_{int(window * 10)}/image'
    publisher = gateway.publisher(Image, topic, qos_profile_sensor_data)
    bridge = gateway.harness.node._gateway
    with gateway.params(gateway_prepare_ahead=window):
        first_answer(gateway, publisher, topic, make_image(solid(BLUE, 160, 120)))
        # Past the window the last request opened (the bridge keeps its end).
        wait_for(lambda: time.monotonic() > bridge._ahead_until.get(topic, 0.0), 10.0,
                 'the prepare-ahead window to close')
        before = bridge.preparation_counts(topic)
        received = bridge._topics[topic].received
        camera_frames = gateway.harness.node._camera.frames_received
        publisher.publish(make_image(solid(GREEN, 80, 60)))
        wait_for(lambda: bridge._topics[topic].received > received, 10.0, 'the new frame')
        # The spinning thread has finished with it (two later camera frames handled), and
        # the gateway's one preparing thread has finished anything handed to it before.
        wait_for(lambda: gateway.harness.node._camera.frames_received >= camera_frames + 2, 10.0,
                 'two more camera frames at the node')
        bridge._ahead_worker.run(lambda: None)
        assert bridge.preparation_counts(topic) == before
        assert answer_about(gateway, topic).startswith('80x60 ')
        after = bridge.preparation_counts(topic)
        assert (after.prepared, after.ahead, after.reused) == (
            before.prepared + 1, before.ahead, before.reused)
    gateway.harness.tester.destroy_publisher(publisher)


def test_models_lists_camera_models(gateway):
    listed = [model.id for model in gateway.client().models.list().data]
    assert listed[:2] == [MODEL, MODEL + '+camera']
    assert f'{MODEL}+{gateway.ns}/camera/image_raw' in listed


def test_data_url_passes_through_untouched(gateway):
    import base64
    import cv2
    ok, jpeg = cv2.imencode('.jpg', solid(BLUE, 100, 50)[:, :, ::-1])
    url = 'data:image/jpeg;base64,' + base64.b64encode(jpeg.tobytes()).decode()
    answer = gateway.client().chat.completions.create(
        model=MODEL, messages=ask('blue?', url)).choices[0].message.content
    assert answer.startswith('100x50 ') and mean_rgb(answer) == pytest.approx(BLUE, abs=3)
    assert gateway.server.requests[-1].body['messages'][0]['content'][1]['image_url'][
        'url'] == url


def test_streaming_passes_chunks_through(gateway):
    gateway.server.state.chunk_delay = 0.05
    stream = gateway.client().chat.completions.create(
        model=MODEL, messages=ask('stream it', 'ros://latest'), stream=True)
    pieces, times = [], []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
            times.append(time.monotonic())
    answer = ''.join(pieces)
    assert answer.startswith('640x480 ') and mean_rgb(answer) == pytest.approx(RED, abs=3)
    assert len(pieces) == len(answer.split(' ')) >= 3
    # Chunk by chunk, not buffered to the end: the first piece arrived before the server
    # had sent the last one.
    assert times[0] < gateway.server.streams[-1].chunk_times[-1]


def test_clients_leaving_mid_stream_give_their_slot_back(gateway):
    gateway.server.state.chunk_delay = 0.2
    streams_before = len(gateway.server.streams)
    try:
        for _ in range(4):  # more than max_concurrent_requests (2)
            sock = socket.create_connection(('127.0.0.1', gateway.port), timeout=10)
            payload = json.dumps({'stream': True, 'messages': ask('x', 'ros://latest')})
            sock.sendall(f'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                         f'Content-Type: application/json\r\nContent-Length: {len(payload)}'
                         f'\r\n\r\n{payload}'.encode())
            assert b'200 OK' in sock.recv(4096)  # the stream has started
            sock.close()
        slots = gateway.harness.node._describer.slots
        wait_for(lambda: slots.in_flight == 0, 10.0, 'every slot given back')
        # ... because the gateway ended each request at the server too.
        wait_for(lambda: [r.how for r in gateway.server.streams[streams_before:]] ==
                 ['client closed'] * 4, 5.0, 'the server to see all 4 streams closed')
    finally:
        gateway.server.state.chunk_delay = 0.02
    assert gateway.post({'messages': ask('after', 'ros://latest')})[0] == 200


def test_health_reports_camera_server_and_requests(gateway):
    assert gateway.post({'messages': ask('a frame to prepare', 'ros://latest')})[0] == 200
    status, _, raw = gateway.http('GET', '/health')
    health = json.loads(raw)
    assert status == 200
    assert health['status'] == 'ok'
    assert health['camera']['topic'] == f'{gateway.ns}/camera/image_raw'
    assert 0 <= health['camera']['age_s'] < 2.0 and health['camera']['frames_received'] > 0
    assert health['camera']['gateway_frames_prepared'] > 0
    assert 0 < health['camera']['gateway_prepare_ms'] < 1000
    # The camera streams on: its next frames are prepared on arrival (gateway_prepare_ahead).
    wait_for(lambda: json.loads(gateway.http('GET', '/health')[2])['camera'][
        'gateway_frames_prepared_ahead'] > health['camera']['gateway_frames_prepared_ahead'],
        5.0, 'a camera frame prepared on arrival')
    assert health['server']['reachable'] is True and health['server']['model_present'] is True
    assert health['requests_in_flight'] == 0 and health['max_concurrent_requests'] == 2


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize('url, says', [
    ('file:///etc/passwd', "scheme 'file'"),
    ('http://169.254.169.254/latest/meta-data', "scheme 'http'"),
    ('https://example.com/cat.jpg', "scheme 'https'"),
    ('ros://somewhere', 'unknown ros:// image URL'),
])
def test_urls_the_gateway_never_fetches_are_refused(gateway, url, says):
    before = len(gateway.server.requests)
    status, _, body = gateway.post({'model': MODEL, 'messages': ask('x', url)})
    assert status == 400 and says in error_of(body)['message'], body
    assert error_of(body)['type'] == 'invalid_request_error'
    assert len(gateway.server.requests) == before


def test_malformed_json_is_400(gateway):
    status, _, body = gateway.post(b'{"model": "x", "messages": [')
    assert status == 400 and 'not valid JSON' in error_of(body)['message']
    status, _, body = gateway.post({'model': MODEL})
    assert status == 400 and "'messages'" in error_of(body)['message']


def test_body_over_the_limit_is_413(gateway):
    big = json.dumps({'model': MODEL, 'messages': ask('x', 'data:image/jpeg;base64,' + 'A' * (
        21 * 1024 * 1024))}).encode()
    status, _, body = gateway.post(big)
    assert status == 413 and 'gateway_max_body_mb (20 MB)' in error_of(body)['message']


def test_unknown_and_non_image_topics_are_400(gateway):
    status, _, body = gateway.post({'messages': ask('x', 'ros:///no/such/topic')})
    assert status == 400
    assert error_of(body)['message'] == \
        "unknown topic '/no/such/topic': nothing publishes it on the ROS graph"
    topic = f'{gateway.ns}/words'
    publisher = gateway.publisher(String, topic, 10)
    status, _, body = gateway.post({'messages': ask('x', 'ros://' + topic)})
    assert status == 400 and 'carries std_msgs/msg/String' in error_of(body)['message']
    gateway.harness.tester.destroy_publisher(publisher)


def test_topics_beyond_gateway_max_topics_are_400(gateway):
    bridge = gateway.harness.node._gateway
    topic = f'{gateway.ns}/one_too_many/image'
    publisher = gateway.publisher(Image, topic, qos_profile_sensor_data)
    with gateway.params(gateway_max_topics=len(bridge.extra_topics)):
        status, _, body = gateway.post({'messages': ask('x', 'ros://' + topic)})
        assert status == 400
        message = error_of(body)['message']
        assert message.startswith(f"cannot subscribe '{topic}': the gateway already follows "
                                  f'{len(bridge.extra_topics)} image topics'), message
        assert topic not in bridge.extra_topics
    with gateway.params(gateway_max_topics=len(bridge.extra_topics) + 1):
        first_answer(gateway, publisher, topic, make_image(solid(GREEN, 32, 24)))
        assert topic in bridge.extra_topics
    gateway.harness.tester.destroy_publisher(publisher)


def test_no_frame_yet_and_stale_frame_are_400_with_the_service_texts(gateway):
    topic = f'{gateway.ns}/quiet/image'
    publisher = gateway.publisher(Image, topic, qos_profile_sensor_data)
    status, _, body = gateway.post({'messages': ask('x', 'ros://' + topic)})
    assert status == 400
    assert error_of(body)['message'] == f"no image received yet on '{topic}'"
    publisher.publish(make_image(solid(GREEN, 32, 24)))
    wait_for(lambda: gateway.post({'messages': ask('x', 'ros://' + topic)})[0] == 200, 10.0,
             'an answer about the one frame published')
    latest = gateway.harness.node._gateway._topics[topic].latest
    with gateway.params(max_image_age=0.2):
        wait_for(lambda: time.monotonic() - latest.received_at > 0.3, 10.0,
                 'the one frame to be older than max_image_age')
        status, _, body = gateway.post({'messages': ask('x', 'ros://' + topic)})
    assert status == 400
    assert f"the latest image on '{topic}' is" in error_of(body)['message']
    assert 'older than max_image_age (0.2 s)' in error_of(body)['message']
    gateway.harness.tester.destroy_publisher(publisher)


def test_api_key_is_required_when_set(gateway):
    key = 'gw-key-5f1c9'
    with gateway.params(gateway_api_key=key):
        for given in (None, 'wrong', key[:-1], key + 'x'):
            headers = {} if given is None else {'Authorization': f'Bearer {given}'}
            status, _, body = gateway.post({'messages': ask('x', 'ros://latest')},
                                           headers=headers)
            assert status == 401, given
            assert error_of(body)['type'] == 'authentication_error'
            assert key not in json.dumps(body)
        with pytest.raises(openai.AuthenticationError):
            gateway.client(api_key='wrong').models.list()
        answer = gateway.client(api_key=key).chat.completions.create(
            model=MODEL, messages=ask('x', 'ros://latest')).choices[0].message.content
        assert mean_rgb(answer) == pytest.approx(RED, abs=3)
        assert gateway.http('GET', '/health')[0] == 200  # probes need no key
    assert gateway.post({'messages': ask('x', 'ros://latest')})[0] == 200


def test_server_down_is_502_and_hang_is_504(gateway):
    with gateway.params(base_url=f'http://127.0.0.1:{free_port()}/v1'):
        status, _, body = gateway.post({'messages': ask('x', 'ros://latest')})
    assert status == 502 and 'cannot reach the VLM server' in error_of(body)['message']
    gateway.server.state.behaviour = 'not_json'
    status, _, body = gateway.post({'messages': ask('x', 'ros://latest')})
    assert status == 502 and 'did not answer with a chat completion' in error_of(body)['message']
    gateway.server.state.behaviour = 'ok'
    # A server of its own hangs, so that its never-answered request leaves the shared
    # server's counts alone (stopping it ends that request).
    with FakeVlmServer() as hanging:
        hanging.state.behaviour = 'hang'
        with gateway.params(base_url=hanging.base_url, request_timeout=0.5):
            status, _, body = gateway.post({'messages': ask('x', 'ros://latest')})
    assert status == 504 and 'request_timeout (0.5 s)' in error_of(body)['message']
    assert gateway.post({'messages': ask('x', 'ros://latest')})[0] == 200
    assert gateway.harness.node._describer.slots.in_flight == 0


def test_errors_never_quote_the_servers_key_or_the_image(gateway):
    key = 'sk-node-key-93ab17'
    gateway.server.state.behaviour, gateway.server.state.status = 'echo_request', 400
    try:
        with gateway.params(api_key=key):
            status, _, body = gateway.post({'messages': ask('x', 'ros://latest')})
    finally:
        gateway.server.state.behaviour, gateway.server.state.status = 'ok', 500
    assert gateway.server.requests[-1].authorization == f'Bearer {key}'  # the server got it
    assert status == 400 and 'refused the request (HTTP 400' in error_of(body)['message']
    text = json.dumps(body)
    assert key not in text and 'base64,' not in text
    assert '<api_key>' in text and len(error_of(body)['message']) < 400


def test_unknown_model_is_404(gateway):
    gateway.server.state.behaviour, gateway.server.state.status = 'status', 404
    try:
        with pytest.raises(openai.NotFoundError) as caught:
            gateway.client().chat.completions.create(
                model='nope:1b', messages=ask('x', 'ros://latest'))
    finally:
        gateway.server.state.behaviour, gateway.server.state.status = 'ok', 500
    assert "does not know model 'nope:1b'" in str(caught.value)


def test_busy_is_429_with_retry_after(gateway):
    held = threading.Event()
    gateway.server.state.hold = held  # both slots' requests wait at the server
    try:
        with ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(gateway.post, {'messages': ask('x', 'ros://latest')})
                       for _ in range(3)]
            wait_for(lambda: gateway.server.in_flight == 2 and any(
                f.done() for f in futures), 20.0, 'two requests held and one answered')
            held.set()
            results = [future.result() for future in futures]
    finally:
        held.set()
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 429], statuses
    _, headers, body = next(r for r in results if r[0] == 429)
    assert headers['Retry-After'] == '1'
    assert error_of(body)['type'] == 'rate_limit_error'
    assert 'max_concurrent_requests' in error_of(body)['message']


def test_eight_clients_share_the_request_slots_and_ros_keeps_serving(gateway):
    """8 openai clients (retrying on 429 as the client does) all get correct answers."""
    gateway.server.state.delay = 0.2
    frames_before = gateway.harness.node._camera.frames_received
    answers: list[str] = []
    lock = threading.Lock()

    def client_loop(index: int) -> None:
        client = gateway.client(max_retries=20)
        for call in range(3):
            text = client.chat.completions.create(
                model=MODEL + '+camera',
                messages=[{'role': 'user', 'content': f'c{index}-{call}'}],
            ).choices[0].message.content
            with lock:
                answers.append(text)

    try:
        with ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(client_loop, index) for index in range(8)]:
                future.result(timeout=120)
    finally:
        gateway.server.state.delay = 0.0
    assert len(answers) == 24
    for text in answers:
        assert text.startswith('640x480 ') and mean_rgb(text) == pytest.approx(RED, abs=3)
    assert sorted(t.rsplit('prompt=', 1)[1] for t in answers) == sorted(
        f'c{i}-{c}' for i in range(8) for c in range(3))
    assert gateway.server.max_in_flight <= 2
    # The camera callback kept running meanwhile (20 Hz publisher, about 5 s of load).
    assert gateway.harness.node._camera.frames_received - frames_before > 20


def test_disabled_node_is_503_and_serves_again_when_enabled(gateway):
    from std_srvs.srv import SetBool
    client = gateway.harness.tester.create_client(SetBool, 'enable')
    assert gateway.harness.call(client, SetBool.Request(data=False)).success
    try:
        before = len(gateway.server.requests)
        status, _, body = gateway.post({'messages': ask('x', 'ros://latest')})
        assert status == 503, body
        assert error_of(body)['message'].startswith('vlm_node is disabled: call its enable')
        assert len(gateway.server.requests) == before
    finally:
        assert gateway.harness.call(client, SetBool.Request(data=True)).success
    wait_for(lambda: gateway.post({'messages': ask('x', 'ros://latest')})[0] == 200, 10.0,
             'answers again once enabled')


def test_non_loopback_without_key_warns(tmp_path):
    from conftest import start_node
    port = free_port()
    node = start_node('-p', f'gateway_port:={port}', '-p', 'gateway_host:=0.0.0.0',
                      '-r', '__node:=gw_warn_node', '-p', 'caption_period:=0.0',
                      '-p', 'base_url:=http://127.0.0.1:9/v1')
    try:
        lines: list[str] = []

        def read() -> bool:
            line = node.stdout.readline()
            lines.append(line)
            return 'gateway_api_key is empty' in line or not line

        wait_for(read, 30.0, 'the warning about a non-loopback gateway without key')
        assert any('gateway_api_key is empty' in line and 'WARN' in line for line in lines), \
            lines
        assert any(f'gateway on http://127.0.0.1:{port}/v1' in line for line in lines), lines
    finally:
        node.terminate()
        node.wait(10)
