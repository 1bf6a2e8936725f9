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
Gateway claims of the README, checked one by one.

The API key on every data path, refused image URLs in both forms, the body limit at its
edge, a stream that breaks, /health.

Each test has a vlm_node of its own (real rclpy, real DDS) and a loopback VLM server.
"""

import http.client
import json
import socket
import time
from typing import Any, Optional

from conftest import free_port, HAVE_ROS, make_image, requires_ros, solid, wait_for
from jetson_vlm_ros.frames.image_conversion import PixelArray
from jetson_vlm_ros.frames.image_encoding import encode_pixels
import pytest

if HAVE_ROS:
    from rclpy.parameter import Parameter

pytestmark = requires_ros

RED = (255, 0, 0)
SMALL_JPEG = encode_pixels(PixelArray(solid(RED, 16, 16), 'RGB'), 16, 80).data_url()
KEY = 'gw-claims-key-42'


def send(port: int, method: str, path: str, body: Optional[bytes] = None,
         headers: Optional[dict[str, str]] = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def chat(text: str, url: Any) -> dict[str, Any]:
    return {'messages': [{'role': 'user', 'content': [
        {'type': 'text', 'text': text}, {'type': 'image_url', 'image_url': url}]}]}


@pytest.fixture
def gateway(make_harness, server):
    port = free_port()
    harness = make_harness(base_url=server.base_url, caption_period=0.0, gateway_port=port,
                           gateway_max_body_mb=1, max_image_age=0.0)
    return harness, server, port


# Every path that serves data: the model API, the camera frame, captions and alerts.
DATA_PATHS = [('POST', '/v1/chat/completions'), ('POST', '/v1/responses'), ('GET', '/v1/models'),
              ('GET', '/v1/alerts'), ('GET', '/v1/status'), ('GET', '/v1/frame.jpg')]


def test_every_data_path_refuses_a_missing_or_wrong_key(gateway):
    harness, server, port = gateway
    harness.node.set_parameters([Parameter('gateway_api_key', value=KEY)])
    bodies = {
        '/v1/chat/completions': json.dumps(chat('x', {'url': 'ros://latest'})).encode(),
        '/v1/responses': json.dumps({'input': [{'role': 'user', 'content': [
            {'type': 'input_text', 'text': 'x'},
            {'type': 'input_image', 'image_url': 'ros://latest'}]}]}).encode()}
    with harness.streaming(make_image(solid(RED), stamp_sec=3)):
        for method, path in DATA_PATHS:
            payload = bodies.get(path)
            typed = {'Content-Type': 'application/json'} if payload else {}
            for given in (None, 'wrong', KEY[:-1], KEY + 'x', KEY.upper()):
                headers = dict(typed) if given is None else {
                    **typed, 'Authorization': f'Bearer {given}'}
                status, raw = send(port, method, path, payload, headers)
                assert status == 401, (method, path, given, raw)
                assert json.loads(raw)['error']['type'] == 'authentication_error'
                assert KEY.encode() not in raw
            # The right key opens each of them (the control).
            status, raw = send(port, method, path, payload,
                               {**typed, 'Authorization': f'Bearer {KEY}'})
            assert status == 200, (method, path, raw[:300])
    assert server.requests, 'the keyed chat request reached the server'
    assert all(r.prompt == 'x' for r in server.requests)


@pytest.mark.parametrize('url', ['http://169.254.169.254/latest/meta-data',
                                 'https://example.com/cat.jpg', 'file:///etc/passwd'])
def test_the_string_form_of_image_url_is_refused_like_the_object_form(gateway, url):
    harness, server, port = gateway
    answers = {}
    for form, image_url in (('object', {'url': url}), ('string', url)):
        status, raw = send(port, 'POST', '/v1/chat/completions',
                           json.dumps(chat('x', image_url)).encode(),
                           {'Content-Type': 'application/json'})
        answers[form] = (status, json.loads(raw)['error']['message'])
    scheme = url.split(':')[0]
    assert answers['string'][0] == answers['object'][0] == 400, answers
    assert f"scheme '{scheme}'" in answers['string'][1], answers
    assert answers['string'] == answers['object']
    assert server.requests == []


def _body_of_size(size: int) -> bytes:
    """Return a valid chat request of exactly size bytes (its text padded to fit)."""
    head = json.dumps(chat('', {'url': SMALL_JPEG})).encode()
    padding = size - len(head)
    assert padding > 0
    return json.dumps(chat('x' * padding, {'url': SMALL_JPEG})).encode()


def test_a_body_just_under_the_limit_passes_and_just_over_is_413(gateway):
    harness, server, port = gateway
    limit = 1024 * 1024  # gateway_max_body_mb 1
    under, over = _body_of_size(limit - 64), _body_of_size(limit + 64)
    assert (len(under), len(over)) == (limit - 64, limit + 64)
    headers = {'Content-Type': 'application/json'}
    status, raw = send(port, 'POST', '/v1/chat/completions', under, headers)
    assert status == 200, raw[:300]
    assert len(server.requests) == 1 and len(server.requests[0].prompt) > limit - 2048
    status, raw = send(port, 'POST', '/v1/chat/completions', over, headers)
    assert status == 413, raw[:300]
    assert 'gateway_max_body_mb (1 MB)' in json.loads(raw)['error']['message']
    assert len(server.requests) == 1


def test_a_body_over_the_limit_without_content_length_is_413(gateway):
    harness, server, port = gateway
    over = _body_of_size(1024 * 1024 + 64)
    with socket.create_connection(('127.0.0.1', port), timeout=30) as sock:
        sock.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                     b'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n')
        for start in range(0, len(over), 65536):
            piece = over[start:start + 65536]
            try:
                sock.sendall(f'{len(piece):x}\r\n'.encode() + piece + b'\r\n')
            except OSError:
                break  # the gateway answered and closed early
        else:
            sock.sendall(b'0\r\n\r\n')
        reply = b''
        while b'\r\n\r\n' not in reply:
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    assert reply.startswith(b'HTTP/1.1 413'), reply[:300]
    assert server.requests == []


def read_stream(port: int, body: dict[str, Any]) -> tuple[int, list[str]]:
    """POST a streamed request; return the status and every `data:` event, in order."""
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        connection.request('POST', '/v1/chat/completions', json.dumps(body).encode(),
                           {'Content-Type': 'application/json'})
        response = connection.getresponse()
        text = response.read().decode()
        return response.status, [line[len('data: '):] for line in text.split('\n')
                                 if line.startswith('data: ')]
    finally:
        connection.close()


def test_a_stream_that_breaks_after_its_first_chunk_ends_with_an_error_event(gateway):
    harness, server, port = gateway
    server.state.behaviour = 'cut_mid_reply'
    server.state.answer_text = 'one two three four five six'  # cut after three chunks
    with harness.streaming(make_image(solid(RED), stamp_sec=3)):
        status, events = read_stream(port, dict(chat('x', {'url': 'ros://latest'}),
                                                stream=True))
    assert status == 200
    first = json.loads(events[0])
    assert first['choices'][0]['delta']['content'] == 'one '
    last = json.loads(events[-1])
    assert set(last) == {'error'}, events
    assert 'mid-reply' in last['error']['message']
    assert last['error']['type'] == 'server_error'
    assert '[DONE]' not in events


def health(port: int) -> dict[str, Any]:
    status, raw = send(port, 'GET', '/health')
    assert status == 200, raw
    return json.loads(raw)


def test_health_says_degraded_when_server_model_or_camera_fail(gateway):
    harness, server, port = gateway
    harness.node.set_parameters([Parameter('max_image_age', value=1.0)])
    with harness.streaming(make_image(solid(RED), stamp_sec=3)):
        assert health(port)['status'] == 'ok'  # the control
        # The model is not listed by the server.
        server.state.models = ['llava:7b']
        degraded = health(port)
        assert degraded['status'] == 'degraded', degraded
        assert degraded['server']['model_present'] is False
        server.state.models = ['gemma3:4b']
        assert health(port)['status'] == 'ok'
        # The server cannot be reached.
        harness.node.set_parameters([Parameter(
            'base_url', value=f'http://127.0.0.1:{free_port()}/v1')])
        degraded = health(port)
        assert degraded['status'] == 'degraded', degraded
        assert degraded['server']['reachable'] is False
        harness.node.set_parameters([Parameter('base_url', value=server.base_url)])
        assert health(port)['status'] == 'ok'
    # The camera stopped: its latest frame grows older than max_image_age.
    latest = harness.node._camera.latest_frame
    wait_for(lambda: time.monotonic() - latest.received_at > 1.2, 10.0,
             'the latest frame to be older than max_image_age')
    degraded = health(port)
    assert degraded['status'] == 'degraded', degraded
    assert degraded['server']['reachable'] is True and degraded['camera']['age_s'] > 1.0


def test_health_says_degraded_before_any_frame(gateway):
    harness, server, port = gateway
    degraded = health(port)
    assert degraded['status'] == 'degraded' and degraded['camera']['age_s'] is None


def test_health_needs_no_key_and_the_status_page_neither(gateway):
    harness, server, port = gateway
    harness.node.set_parameters([Parameter('gateway_api_key', value=KEY)])
    assert send(port, 'GET', '/health')[0] == 200
    assert send(port, 'GET', '/')[0] == 200
