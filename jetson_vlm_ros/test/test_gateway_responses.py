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
The gateway's `POST /v1/responses`, through the real `openai` client and raw HTTP.

One vlm_node (real rclpy, real DDS) serves the gateway; the loopback VLM server speaks chat
completions only and records what it receives, so each test sees the translated request,
and each answer says which frame was sent.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
import json
import socket
from typing import Any, Iterator

from conftest import HAVE_ROS, make_image, mean_rgb, requires_ros, \
    solid, wait_for
import pytest
# fresh_state: each test starts from a default server with every request slot free.
from test_gateway import error_of, fresh_state, Gateway, gateway_on_camera  # noqa: F401

if HAVE_ROS:
    import openai
    import pydantic

pytestmark = [requires_ros, pytest.mark.skipif(
    HAVE_ROS and not hasattr(openai.OpenAI, 'responses'),
    reason='this openai client predates the Responses API (openai < 1.66)')]

RED = (255, 0, 0)
MODEL = 'gemma3:4b'


@pytest.fixture(scope='module')
def gateway() -> Iterator[Gateway]:
    with gateway_on_camera('gwr', make_image(solid(RED, 640, 480), 'rgb8', stamp_sec=7)) \
            as gateway:
        yield gateway


@contextmanager
def answering(gateway: Gateway, text: str) -> Iterator[None]:
    gateway.server.state.answer_text = text
    try:
        yield
    finally:
        gateway.server.state.answer_text = None


def post(gateway: Gateway, payload: Any, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {'Content-Type': 'application/json', **kwargs.pop('headers', {})}
    status, response_headers, body = gateway.http('POST', '/v1/responses', raw, headers,
                                                  **kwargs)
    return status, response_headers, json.loads(body)


def camera_question(text: str = 'What is there?') -> list[dict[str, Any]]:
    return [{'role': 'user', 'content': [
        {'type': 'input_text', 'text': text},
        {'type': 'input_image', 'image_url': 'ros://latest'}]}]


# --- answers --------------------------------------------------------------------------------

def test_string_input_with_instructions_and_limits(gateway):
    with answering(gateway, 'A red wall.'):
        response = gateway.client().responses.create(
            model=MODEL, input='What is there?', instructions='Be brief.',
            max_output_tokens=40, temperature=0.3)
    assert response.output_text == 'A red wall.'
    assert response.status == 'completed' and response.model == MODEL
    assert response.id.startswith('resp_') and response.output[0].id.startswith('msg_')
    assert (response.usage.input_tokens, response.usage.output_tokens,
            response.usage.total_tokens) == (1, 1, 2)  # as the server counted
    seen = gateway.server.requests[-1].body
    assert seen['messages'] == [{'role': 'system', 'content': 'Be brief.'},
                                {'role': 'user', 'content': 'What is there?'}]
    assert (seen['model'], seen['max_tokens'], seen['temperature']) == (MODEL, 40, 0.3)
    assert 'stream' not in seen and 'input' not in seen and 'instructions' not in seen


def test_input_image_ros_latest_is_the_camera_frame(gateway):
    response = gateway.client().responses.create(model=MODEL, input=camera_question())
    answer = response.output_text
    assert answer.startswith('640x480 ') and mean_rgb(answer) == pytest.approx(RED, abs=3)
    seen = gateway.server.requests[-1]
    assert seen.prompt == 'What is there?'
    assert seen.body['messages'][0]['content'][1]['image_url']['url'].startswith(
        'data:image/jpeg;base64,')


def test_camera_model_attaches_the_latest_frame(gateway):
    response = gateway.client().responses.create(model=MODEL + '+camera',
                                                 input='what is there?')
    assert mean_rgb(response.output_text) == pytest.approx(RED, abs=3)
    assert response.model == MODEL
    seen = gateway.server.requests[-1]
    assert seen.body['model'] == MODEL and seen.prompt == 'what is there?'
    assert (seen.image.width, seen.image.height) == (640, 480)


def test_streaming_text_assembled_from_the_delta_events(gateway):
    gateway.server.state.chunk_delay = 0.01
    stream = gateway.client().responses.create(model=MODEL, input=camera_question(),
                                               stream=True)
    events = list(stream)
    text = ''.join(e.delta for e in events if e.type == 'response.output_text.delta')
    assert text.startswith('640x480 ') and mean_rgb(text) == pytest.approx(RED, abs=3)
    assert len([e for e in events if e.type == 'response.output_text.delta']) == \
        len(text.split(' '))  # one event per chunk the server sent
    assert events[0].type == 'response.created' and events[-1].type == 'response.completed'
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].response.output_text == text
    assert events[-1].response.id == events[0].response.id
    seen = gateway.server.requests[-1].body
    assert seen['stream'] is True and seen['stream_options'] == {'include_usage': True}


def test_stream_helper_gives_the_final_response(gateway):
    with gateway.client().responses.stream(model=MODEL + '+camera',
                                           input='describe it') as stream:
        deltas = [e.delta for e in stream if e.type == 'response.output_text.delta']
        final = stream.get_final_response()
    assert final.status == 'completed' and final.output_text == ''.join(deltas)
    assert mean_rgb(final.output_text) == pytest.approx(RED, abs=3)
    assert final.output_text.endswith('prompt=describe it')


def test_text_format_json_schema_reaches_the_server_as_response_format(gateway):
    class Door(pydantic.BaseModel):
        is_open: bool
        people: int

    with answering(gateway, '{"is_open": true, "people": 2}'):
        parsed = gateway.client().responses.parse(
            model=MODEL + '+camera', input='Is the door open? How many people?',
            text_format=Door)
    assert parsed.output_parsed == Door(is_open=True, people=2)
    sent = gateway.server.requests[-1].body['response_format']
    assert sent['type'] == 'json_schema'
    assert sent['json_schema']['name'] == 'Door' and sent['json_schema']['strict'] is True
    assert set(sent['json_schema']['schema']['properties']) == {'is_open', 'people'}
    with answering(gateway, '{}'):
        status, _, body = post(gateway, {'input': 'x', 'text': {'format': {
            'type': 'json_object'}}})
    assert status == 200 and body['text'] == {'format': {'type': 'json_object'}}
    assert gateway.server.requests[-1].body['response_format'] == {'type': 'json_object'}


def test_clients_leaving_mid_stream_give_their_slot_back(gateway):
    gateway.server.state.chunk_delay = 0.2
    streams_before = len(gateway.server.streams)
    for _ in range(3):  # more than max_concurrent_requests (2)
        with socket.create_connection(('127.0.0.1', gateway.port), timeout=10) as sock:
            payload = json.dumps({'stream': True, 'input': camera_question()})
            sock.sendall(f'POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                         f'Content-Type: application/json\r\nContent-Length: {len(payload)}'
                         f'\r\n\r\n{payload}'.encode())
            assert b'200 OK' in sock.recv(4096)  # the stream has started
    slots = gateway.harness.node._describer.slots
    wait_for(lambda: slots.in_flight == 0, 10.0, 'every slot given back')
    wait_for(lambda: [r.how for r in gateway.server.streams[streams_before:]] ==
             ['client closed'] * 3, 5.0, 'the server to see all 3 streams closed')


def test_model_omitted_is_the_nodes_model(gateway):
    status, _, body = post(gateway, {'input': 'hi'})
    assert status == 200, body
    assert body['object'] == 'response' and body['model'] == MODEL
    assert gateway.server.requests[-1].body['model'] == MODEL


# --- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize('extra, param', [
    ({'previous_response_id': 'resp_123'}, 'previous_response_id'),
    ({'conversation': 'conv_1'}, 'conversation'),
    ({'background': True}, 'background'),
    ({'tools': [{'type': 'web_search'}]}, 'tools'),
    ({'include': ['file_search_call.results']}, 'include'),
])
def test_refused_fields_are_400_naming_the_parameter(gateway, extra, param):
    before = len(gateway.server.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().responses.create(model=MODEL, input='x', **extra)
    assert caught.value.status_code == 400
    assert caught.value.body['param'] == param and caught.value.body['type'] == \
        'invalid_request_error'
    assert 'not supported' in caught.value.body['message']
    assert len(gateway.server.requests) == before


def test_image_file_ids_and_files_are_400(gateway):
    for part, param in (({'type': 'input_image', 'file_id': 'file-1'},
                         'input[0].content[0].file_id'),
                        ({'type': 'input_file', 'file_id': 'file-1'},
                         'input[0].content[0].type')):
        status, _, body = post(gateway, {'input': [{'role': 'user', 'content': [part]}]})
        assert status == 400 and error_of(body)['param'] == param, body


@pytest.mark.parametrize('url, says', [
    ('http://169.254.169.254/latest/meta-data', "scheme 'http'"),
    ('file:///etc/passwd', "scheme 'file'"),
    ('ros://somewhere', 'unknown ros:// image URL'),
])
def test_urls_the_gateway_never_fetches_are_refused(gateway, url, says):
    before = len(gateway.server.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().responses.create(model=MODEL, input=[{'role': 'user', 'content': [
            {'type': 'input_text', 'text': 'x'}, {'type': 'input_image', 'image_url': url}]}])
    assert says in caught.value.body['message']
    assert len(gateway.server.requests) == before


def test_malformed_bodies_are_400(gateway):
    status, _, body = post(gateway, b'{"input": [')
    assert status == 400 and 'not valid JSON' in error_of(body)['message']
    status, _, body = post(gateway, {'model': MODEL})
    assert status == 400 and error_of(body)['param'] == 'input'


def test_stored_responses_are_404(gateway):
    client = gateway.client()
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.retrieve('resp_abc')
    assert 'no response is stored here' in caught.value.body['message']
    with pytest.raises(openai.NotFoundError):
        client.responses.delete('resp_abc')
    status, _, body = gateway.http('GET', '/v1/responses/resp_abc/input_items')
    assert status == 404 and 'GET /v1/responses/resp_abc/input_items' in \
        error_of(json.loads(body))['message']


def test_busy_is_429_with_retry_after(gateway):
    gateway.server.state.delay = 1.0
    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(post, gateway, {'input': camera_question()})
                   for _ in range(3)]
        results = [future.result() for future in futures]
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 200, 429], statuses
    _, headers, body = next(r for r in results if r[0] == 429)
    assert headers['Retry-After'] == '1'
    assert error_of(body)['type'] == 'rate_limit_error'


def test_api_key_is_required_when_set(gateway):
    key = 'gw-key-r21'
    with gateway.params(gateway_api_key=key):
        with pytest.raises(openai.AuthenticationError):
            gateway.client(api_key='wrong').responses.create(model=MODEL, input='x')
        status, _, body = post(gateway, {'input': 'x'})
        assert status == 401 and error_of(body)['type'] == 'authentication_error'
        response = gateway.client(api_key=key).responses.create(
            model=MODEL, input=camera_question())
        assert mean_rgb(response.output_text) == pytest.approx(RED, abs=3)


def test_body_over_the_limit_is_413(gateway):
    big = json.dumps({'model': MODEL, 'input': [{'role': 'user', 'content': [
        {'type': 'input_image',
         'image_url': 'data:image/jpeg;base64,' + 'A' * (21 * 1024 * 1024)}]}]}).encode()
    status, _, body = post(gateway, big)
    assert status == 413 and 'gateway_max_body_mb (20 MB)' in error_of(body)['message']


def test_unknown_model_is_404(gateway):
    gateway.server.state.behaviour, gateway.server.state.status = 'status', 404
    with pytest.raises(openai.NotFoundError) as caught:
        gateway.client().responses.create(model='nope:1b', input='x')
    assert "does not know model 'nope:1b'" in str(caught.value)


def test_a_reply_without_a_message_is_502(gateway):
    gateway.server.state.behaviour = 'no_choices'
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client().responses.create(model=MODEL, input='x')
    assert caught.value.status_code == 502
    assert 'did not answer with a chat completion' in caught.value.body['message']


def test_a_stream_that_breaks_ends_with_an_error_event(gateway):
    gateway.server.state.behaviour = 'cut_mid_reply'
    stream = gateway.client().responses.create(model=MODEL, input=camera_question(),
                                               stream=True)
    events = list(stream)  # ends: neither hangs nor raises
    types = [e.type for e in events]
    assert types[:2] == ['response.created', 'response.in_progress']
    assert 'response.output_text.delta' in types  # the server sent half its answer first
    assert types[-2:] == ['error', 'response.failed'], types
    assert 'response.completed' not in types
    assert 'broke mid-reply' in events[-2].message
    assert events[-1].response.status == 'failed'
    assert [e.sequence_number for e in events] == list(range(len(events)))
    with pytest.raises(RuntimeError, match='response.completed'):
        with gateway.client().responses.stream(model=MODEL, input='x') as broken:
            broken.get_final_response()
