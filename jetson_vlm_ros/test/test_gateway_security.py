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
No DNS rebinding, no cross-site use: the gateway of a real vlm_node, over real sockets.

Raw HTTP (http.client and plain sockets) sets Host, Origin and Content-Type as a browser
page on the robot would: a rebinding page sends `Host: evil.example`, a cross-site page its
own Origin and `text/plain` or form bodies. Each is refused before anything else happens
(the loopback VLM server never sees it), while curl-like clients, the `openai` client and
the gateway's own origin keep working, and a listed origin gets CORS.
"""

from contextlib import contextmanager
import http.client
import json
import socket
from typing import Any, Iterator, Optional

from conftest import free_port, HAVE_ROS, make_image, module_harness, requires_ros, solid
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    import openai
    from rclpy.parameter import Parameter

pytestmark = requires_ros

EVIL = 'evil.example'
APP = 'http://localhost:3000'  # a web app on another port, listed in a test
# Every route the gateway serves, and paths it does not: the guard answers before routing.
GET_PATHS = ['/', '/static/app.js', '/static/style.css', '/health', '/v1/models', '/v1/status',
             '/v1/alerts', '/v1/frame.jpg', '/no/such/path']
POST_PATHS = ['/v1/chat/completions', '/v1/responses', '/no/such/path']
CHAT = json.dumps({'messages': [{'role': 'user', 'content': [
    {'type': 'text', 'text': 'What is there?'},
    {'type': 'image_url', 'image_url': {'url': 'ros://latest'}}]}]}).encode()


class Site:
    """The shared node, its loopback VLM server and raw HTTP to its gateway."""

    def __init__(self, harness: Any, server: FakeVlmServer, port: int) -> None:
        self.harness = harness
        self.server = server
        self.port = port
        self.own = f'127.0.0.1:{port}'

    def send(self, method: str, path: str, headers: dict[str, str],
             body: Optional[bytes] = None) -> tuple[int, http.client.HTTPMessage, bytes]:
        """Send one request with exactly these headers (a Host given here is the one sent)."""
        connection = http.client.HTTPConnection('127.0.0.1', self.port, timeout=20.0)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    def chat(self, **headers: str) -> tuple[int, http.client.HTTPMessage, bytes]:
        headers = {'Host': self.own, 'Content-Type': 'application/json',
                   **{name.replace('_', '-'): value for name, value in headers.items()}}
        return self.send('POST', '/v1/chat/completions', headers, CHAT)

    def raw(self, request: bytes) -> bytes:
        """Send bytes as they are (e.g. without Host); return the whole answer."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=20.0) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            return b''.join(chunks)

    @contextmanager
    def lists(self, **values: list[str]) -> Iterator[None]:
        """Set string-array parameters for the block (typed: an empty list is no byte array)."""
        node = self.harness.node

        def apply(items: dict[str, list[str]]) -> None:
            results = node.set_parameters([Parameter(name, Parameter.Type.STRING_ARRAY, value)
                                           for name, value in items.items()])
            assert all(result.successful for result in results), results

        old = {name: list(node.get_parameter(name).value) for name in values}
        apply(values)
        try:
            yield
        finally:
            apply(old)


@pytest.fixture(scope='module')
def site() -> Iterator[Site]:
    port = free_port()
    with FakeVlmServer() as server, module_harness(
            'guard', base_url=server.base_url, caption_period=0.0, gateway_port=port,
            request_timeout=5.0) as harness:
        camera = make_image(solid((200, 40, 40), 320, 240), 'rgb8', stamp_sec=5)
        with harness.streaming(camera, rate=20.0):
            yield Site(harness, server, port)


def error_of(raw: bytes) -> dict[str, Any]:
    body = json.loads(raw)
    assert set(body) == {'error'} and set(body['error']) == {'message', 'type', 'param', 'code'}
    return body['error']


def test_rebinding_host_is_refused_on_every_path_and_the_own_host_served(site):
    for path in GET_PATHS:
        status, headers, raw = site.send('GET', path, {'Host': f'{EVIL}:{site.port}'})
        assert status == 421, path
        assert headers['Content-Type'].startswith('application/json'), path
        error = error_of(raw)
        assert error['code'] == 'misdirected_request' and EVIL in error['message'], path
        assert 'gateway_allowed_hosts' in error['message']
        # The same request naming the gateway is served (404 only for the unknown path).
        own_status = site.send('GET', path, {'Host': site.own})[0]
        assert own_status == (404 if path == '/no/such/path' else 200), path
    status, headers, raw = site.send('GET', '/v1/frame.jpg', {'Host': site.own})
    assert headers['Content-Type'] == 'image/jpeg' and raw.startswith(b'\xff\xd8')


def test_rebinding_host_never_reaches_the_vlm_server(site):
    seen = len(site.server.requests)
    for path in POST_PATHS:
        status, _, raw = site.send('POST', path, {'Host': EVIL, 'Content-Type':
                                                  'application/json'}, CHAT)
        assert status == 421 and error_of(raw)['code'] == 'misdirected_request', path
    assert site.chat(Host=f'{EVIL}:{site.port}')[0] == 421
    assert len(site.server.requests) == seen
    assert site.chat()[0] == 200 and len(site.server.requests) == seen + 1


@pytest.mark.parametrize('host', [
    'localhost:{port}', 'LOCALHOST:{port}', '127.0.0.1:{port}', '127.0.0.1', '[::1]:{port}',
    '[::1]', 'localhost'])
def test_the_gateways_own_names_are_served(site, host):
    status, headers, raw = site.send('GET', '/v1/frame.jpg',
                                     {'Host': host.format(port=site.port)})
    assert status == 200 and raw.startswith(b'\xff\xd8')


@pytest.mark.parametrize('host', [
    '10.0.0.5:{port}', 'localhost.evil.example', '127.0.0.1.nip.io:{port}', '[fe80::1]',
    'robot.lan'])
def test_other_names_and_addresses_are_refused_on_loopback(site, host):
    assert site.send('GET', '/v1/status', {'Host': host.format(port=site.port)})[0] == 421


@pytest.mark.parametrize('version', ['1.1', '1.0'])
def test_a_request_without_host_is_refused(site, version):
    answer = site.raw(f'GET /v1/frame.jpg HTTP/{version}\r\nConnection: close\r\n\r\n'.encode())
    head, _, body = answer.partition(b'\r\n\r\n')
    status = head.split(b'\r\n')[0].split(b' ')[1]
    if version == '1.1' and status == b'400':
        # aiohttp >= 3.9 refuses an HTTP/1.1 request without Host itself, as the RFC asks.
        assert b'Host' in body and not body.startswith(b'\xff\xd8'), answer
        return
    assert status == b'421', head
    assert 'no Host' in error_of(body)['message']


def test_a_listed_host_is_served_until_it_is_removed(site):
    robot = {'Host': f'robot.lan:{site.port}'}
    assert site.send('GET', '/v1/frame.jpg', robot)[0] == 421
    with site.lists(gateway_allowed_hosts=['Robot.LAN']):
        assert site.send('GET', '/v1/frame.jpg', robot)[0] == 200
        assert site.chat(Host='robot.lan')[0] == 200
        assert site.send('GET', '/v1/frame.jpg', {'Host': EVIL})[0] == 421
    assert site.send('GET', '/v1/frame.jpg', robot)[0] == 421


def test_a_bad_allowed_entry_is_rejected_and_the_old_list_stays(site):
    results = site.harness.node.set_parameters([
        Parameter('gateway_allowed_origins', Parameter.Type.STRING_ARRAY, ['*'])])
    assert not results[0].successful and 'gateway_allowed_origins' in results[0].reason
    assert site.harness.node.get_parameter('gateway_allowed_origins').value == []


@pytest.mark.parametrize('origin', [f'http://{EVIL}', 'null', APP, 'http://127.0.0.1:1',
                                    'https://127.0.0.1:{port}'])
def test_cross_site_origin_is_refused_and_never_reaches_the_server(site, origin):
    origin = origin.format(port=site.port)
    seen = len(site.server.requests)
    for content_type in ('application/json', 'text/plain'):
        status, headers, raw = site.chat(Origin=origin, Content_Type=content_type)
        assert status == 403, content_type
        error = error_of(raw)
        assert error['type'] == 'permission_error' and error['code'] == 'origin_not_allowed'
        assert 'gateway_allowed_origins' in error['message']
        assert 'Access-Control-Allow-Origin' not in headers
    assert len(site.server.requests) == seen
    # Reading the camera from such a page (fetch in CORS mode sends Origin) is refused too.
    assert site.send('GET', '/v1/frame.jpg', {'Host': site.own, 'Origin': origin})[0] == 403


# The Fetch Metadata headers Chromium sends (see test_status_page.py for the browser itself).
IMG = {'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image'}
LINK = {'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document'}


@pytest.mark.parametrize('fetch_site', ['cross-site', 'same-site'])
def test_another_sites_page_cannot_embed_the_frame(site, fetch_site):
    # An <img> of another site sends no Origin: Sec-Fetch-Site is what tells it apart.
    for path in ('/v1/frame.jpg', '/v1/status', '/v1/models'):
        status, headers, raw = site.send(
            'GET', path, {'Host': site.own, 'Sec-Fetch-Site': fetch_site, **IMG})
        assert status == 403, path
        error = error_of(raw)
        assert error['code'] == 'origin_not_allowed' and 'Sec-Fetch-Site' in error['message']
        assert 'gateway_allowed_origins' in error['message']
    seen = len(site.server.requests)  # a JSON POST made by such a page (after a preflight)
    assert site.chat(Sec_Fetch_Site=fetch_site, Sec_Fetch_Mode='cors')[0] == 403
    assert len(site.server.requests) == seen


def test_own_pages_typed_urls_links_and_listed_apps_are_served(site):
    own = {'Host': site.own}
    assert site.send('GET', '/v1/frame.jpg', {**own, 'Sec-Fetch-Site': 'same-origin',
                                              **IMG})[0] == 200  # the status page
    assert site.send('GET', '/v1/frame.jpg', {**own, 'Sec-Fetch-Site': 'none', **LINK})[0] \
        == 200  # typed in the address bar
    assert site.send('GET', '/', {**own, 'Sec-Fetch-Site': 'cross-site', **LINK})[0] == 200
    # A link is a navigation the linking page cannot read; a form POST is refused.
    assert site.chat(Sec_Fetch_Site='cross-site', **{
        name.replace('-', '_'): value for name, value in LINK.items()})[0] == 403
    with site.lists(gateway_allowed_origins=[APP]):
        status, headers, _ = site.send('GET', '/v1/frame.jpg', {
            **own, 'Origin': APP, 'Sec-Fetch-Site': 'same-site', 'Sec-Fetch-Mode': 'cors'})
        assert status == 200 and headers['Access-Control-Allow-Origin'] == APP
        # The listed app's <img> sends no Origin: refused like any other page's.
        assert site.send('GET', '/v1/frame.jpg', {**own, 'Sec-Fetch-Site': 'same-site',
                                                  **IMG})[0] == 403


def test_the_gateways_own_origin_is_served(site):
    # What the status page sends: Origin = http:// + the Host it was loaded from.
    status, headers, raw = site.chat(Origin=f'http://{site.own}')
    assert status == 200 and json.loads(raw)['choices']
    assert 'Access-Control-Allow-Origin' not in headers  # same origin needs no CORS
    status, _, _ = site.chat(Host=f'localhost:{site.port}', Origin=f'http://localhost:{site.port}')
    assert status == 200


@pytest.mark.parametrize('content_type', [
    'text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=abc', 'application/json; charset=latin-1', None])
def test_bodies_that_are_not_json_are_415_and_never_reach_the_server(site, content_type):
    seen = len(site.server.requests)
    headers = {'Host': site.own}
    if content_type is not None:
        headers['Content-Type'] = content_type
    for path in POST_PATHS:
        status, _, raw = site.send('POST', path, headers, CHAT)
        assert status == 415, path
        error = error_of(raw)
        assert error['code'] == 'unsupported_media_type' and 'application/json' in error['message']
    assert len(site.server.requests) == seen


def test_a_request_without_a_body_needs_no_content_type(site):
    # e.g. the openai client's responses.delete(): the gateway's own 404 says why.
    status, _, raw = site.send('DELETE', '/v1/responses/resp_1', {'Host': site.own})
    assert status == 404 and 'statelessly' in error_of(raw)['message']
    assert site.send('DELETE', '/v1/responses/resp_1', {'Host': EVIL})[0] == 421
    status, _, raw = site.send('POST', '/v1/chat/completions', {'Host': site.own})
    assert status == 400 and 'not valid JSON' in error_of(raw)['message']


def test_json_with_charset_is_served(site):
    assert site.chat(Content_Type='application/json; charset=utf-8')[0] == 200


def test_a_listed_origin_gets_cors_and_a_working_preflight(site):
    preflight = {'Host': site.own, 'Origin': APP, 'Access-Control-Request-Method': 'POST',
                 'Access-Control-Request-Headers': 'authorization, content-type, x-stainless-os'}
    status, headers, _ = site.send('OPTIONS', '/v1/chat/completions', preflight)
    assert status == 403 and 'Access-Control-Allow-Origin' not in headers  # not listed yet
    with site.lists(gateway_allowed_origins=[APP, 'http://ui.robot.lan']):
        status, headers, _ = site.send('OPTIONS', '/v1/chat/completions', preflight)
        assert status == 204
        assert headers['Access-Control-Allow-Origin'] == APP
        assert 'POST' in headers['Access-Control-Allow-Methods']
        assert headers['Access-Control-Allow-Headers'] == \
            'authorization, content-type, x-stainless-os'
        assert 'Origin' in headers['Vary']
        status, headers, raw = site.chat(Origin=APP)
        assert status == 200 and json.loads(raw)['choices']
        assert headers['Access-Control-Allow-Origin'] == APP and 'Origin' in headers['Vary']
        # A stream's headers leave before its handler ends: they carry CORS too.
        stream = json.dumps({**json.loads(CHAT), 'stream': True}).encode()
        status, headers, raw = site.send('POST', '/v1/chat/completions', {
            'Host': site.own, 'Origin': APP, 'Content-Type': 'application/json'}, stream)
        assert status == 200 and raw.rstrip().endswith(b'data: [DONE]')
        assert headers['Access-Control-Allow-Origin'] == APP
        status, headers, _ = site.send('GET', '/v1/frame.jpg', {'Host': site.own, 'Origin': APP})
        assert status == 200 and headers['Access-Control-Allow-Origin'] == APP
        # Listed does not mean anything goes: another port, or a text body, is still refused.
        other = {**preflight, 'Origin': 'http://localhost:3001'}
        assert site.send('OPTIONS', '/v1/chat/completions', other)[0] == 403
        assert site.chat(Origin=APP, Content_Type='text/plain')[0] == 415
    status, headers, _ = site.chat(Origin=APP)
    assert status == 403 and 'Access-Control-Allow-Origin' not in headers


def test_the_guard_comes_before_the_api_key(site):
    key = 'guard-key-41d'
    node = site.harness.node
    assert node.set_parameters([Parameter('gateway_api_key', value=key)])[0].successful
    try:
        authorized = f'Bearer {key}'
        assert site.chat(Host=EVIL, Authorization=authorized)[0] == 421
        assert site.chat(Origin=f'http://{EVIL}', Authorization=authorized)[0] == 403
        assert site.chat(Content_Type='text/plain', Authorization=authorized)[0] == 415
        assert site.chat()[0] == 401
        assert site.chat(Authorization=authorized)[0] == 200
    finally:
        node.set_parameters([Parameter('gateway_api_key', value='')])


def test_the_openai_client_and_curl_like_requests_still_work(site):
    client = openai.OpenAI(base_url=f'http://127.0.0.1:{site.port}/v1', api_key='unused',
                           max_retries=0, timeout=20.0)
    answer = client.chat.completions.create(model='gemma3:4b', messages=json.loads(CHAT)[
        'messages'])
    assert answer.choices[0].message.content.startswith('320x240 ')
    assert any(model.id == 'gemma3:4b+camera' for model in client.models.list())
    # curl -H 'Content-Type: application/json' -d '...': Host 127.0.0.1:port, no Origin.
    connection = http.client.HTTPConnection('127.0.0.1', site.port, timeout=20.0)
    try:
        connection.request('POST', '/v1/chat/completions', body=CHAT,
                           headers={'Content-Type': 'application/json', 'Accept': '*/*',
                                    'User-Agent': 'curl/8.5.0'})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())['choices']
    finally:
        connection.close()
