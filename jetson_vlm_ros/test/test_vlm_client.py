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

"""VlmClient against a real loopback HTTP server: the payload, and every way a server fails."""

import json
import socket
import threading
import time

from conftest import wait_for
from jetson_vlm_ros.frames.image_conversion import PixelArray
from jetson_vlm_ros.frames.image_encoding import encode_pixels
from jetson_vlm_ros.model.streaming import Cancellation, StreamCancelled
from jetson_vlm_ros.model.vlm_client import (
    build_messages, quote_reply, secret_to_redact, VlmClient, VlmClosedError, VlmError,
    VlmRequest)
import numpy as np
import pytest

RED = np.zeros((60, 80, 3), np.uint8)
RED[:, :, 0] = 255
RED_URL = encode_pixels(PixelArray(RED, 'RGB'), 896, 90).data_url()


def request(**changes) -> VlmRequest:
    fields = {'model': 'gemma3:4b', 'prompt': 'What is here?', 'image_data_url': RED_URL,
              'system_prompt': '', 'max_tokens': 64, 'temperature': 0.1}
    fields.update(changes)
    return VlmRequest(**fields)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_messages_without_system_prompt():
    assert build_messages(request()) == [{
        'role': 'user',
        'content': [
            {'type': 'text', 'text': 'What is here?'},
            {'type': 'image_url', 'image_url': {'url': RED_URL}},
        ]}]


def test_messages_with_system_prompt_first():
    messages = build_messages(request(system_prompt='You are a robot.'))
    assert messages[0] == {'role': 'system', 'content': 'You are a robot.'}
    assert messages[1]['role'] == 'user'


def test_exact_payload_reaches_server(server):
    answer = VlmClient(server.base_url, 'secret-key', 5.0).complete(
        request(system_prompt='Be brief.'))
    received = server.requests[-1]
    assert received.body == {
        'model': 'gemma3:4b', 'max_tokens': 64, 'temperature': 0.1,
        'messages': build_messages(request(system_prompt='Be brief.'))}
    assert received.authorization == 'Bearer secret-key'
    assert received.image.mean_rgb[0] > 240 and max(received.image.mean_rgb[1:]) < 15
    assert answer == f'80x60 mean_rgb={",".join(map(str, received.image.mean_rgb))} ' \
                     'prompt=What is here?'


def test_connection_refused_is_explained():
    client = VlmClient(f'http://127.0.0.1:{closed_port()}/v1', 'k', 2.0)
    with pytest.raises(VlmError, match='cannot reach the VLM server.*ollama serve'):
        client.complete(request())


def test_a_server_that_stops_mid_probe_is_unreachable():
    # As a server being stopped does: the request is read, the connection closed unanswered.
    with socket.socket() as listener:
        listener.bind(('127.0.0.1', 0))
        listener.listen()
        port = listener.getsockname()[1]

        def stop_mid_probe() -> None:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)

        closer = threading.Thread(target=stop_mid_probe, daemon=True)
        closer.start()
        client = VlmClient(f'http://127.0.0.1:{port}/v1', 'k', 5.0)
        with pytest.raises(VlmError) as caught:
            client.list_models(5.0)
        closer.join(5.0)
    assert str(caught.value).startswith(
        f'cannot reach the VLM server at http://127.0.0.1:{port}/v1'), caught.value
    assert '`ollama serve`' in str(caught.value) and 'mid-reply' not in str(caught.value)


@pytest.mark.parametrize('status', [500, 503])
def test_server_error_status_is_quoted(server, status):
    server.state.behaviour, server.state.status = 'status', status
    with pytest.raises(VlmError, match=f'answered HTTP {status}: .*internal error'):
        VlmClient(server.base_url, 'k', 2.0).complete(request())


def test_unknown_model_says_how_to_pull(server):
    server.state.behaviour, server.state.status = 'status', 404
    server.state.status_body = '{"error": {"message": "model \\"llava:7b\\" not found"}}'
    with pytest.raises(VlmError, match=r"does not know model 'llava:7b'.*ollama pull llava:7b"):
        VlmClient(server.base_url, 'k', 2.0).complete(request(model='llava:7b'))


def test_long_server_reply_is_cut_to_200_characters(server):
    server.state.behaviour, server.state.status = 'status', 500
    server.state.status_body = 'x' * 5000
    with pytest.raises(VlmError) as caught:
        VlmClient(server.base_url, 'k', 2.0).complete(request())
    assert 'x' * 200 + '...' in str(caught.value)
    assert 'x' * 201 not in str(caught.value)


@pytest.mark.parametrize('behaviour, reason', [
    ('not_json', "did not answer with a chat completion: '<html>Bad Gateway"),
    ('no_choices', 'answered with no choices'),
    ('empty_content', 'returned an empty answer'),
    ('cut_mid_reply', 'broke mid-reply'),
])
def test_malformed_replies_are_explained(server, behaviour, reason):
    server.state.behaviour = behaviour
    with pytest.raises(VlmError, match=reason):
        VlmClient(server.base_url, 'k', 2.0).complete(request())


@pytest.mark.parametrize('behaviour, delay', [('hang', 0.0), ('ok', 3.0)])
def test_silent_or_slow_server_is_cut_off_at_timeout(server, behaviour, delay):
    server.state.behaviour, server.state.delay = behaviour, delay
    started = time.monotonic()
    with pytest.raises(VlmError, match=r'did not answer within request_timeout \(0.5 s\)'):
        VlmClient(server.base_url, 'k', 0.5).complete(request())
    assert time.monotonic() - started < 1.5


# Real keys of every length, and the placeholders that are no secret.
REAL_KEYS = ['k3y', 'sk-7chr', 'sk-secret-123', 'sk-proj-' + 'A1b2C3d4' * 6]
PLACEHOLDER_KEYS = ['ollama', 'none']


@pytest.mark.parametrize('key', REAL_KEYS)
def test_error_never_contains_an_echoed_key_or_image(server, key):
    """The server quotes the Authorization header and the whole request back."""
    server.state.behaviour, server.state.status = 'echo_request', 400
    with pytest.raises(VlmError) as caught:
        VlmClient(server.base_url, key, 2.0).complete(request())
    text = str(caught.value)
    assert server.requests[-1].authorization == f'Bearer {key}'
    assert 'rejected Authorization: Bearer <api_key> with image data:<image omitted>' in text
    assert key not in text
    assert 'base64' not in text


@pytest.mark.parametrize('key', REAL_KEYS)
def test_a_real_key_of_any_length_is_blanked(key):
    assert secret_to_redact(key) == key
    assert quote_reply(f'bad key {key}; ask ollama', secret_to_redact(key)) == \
        'bad key <api_key>; ask ollama'


@pytest.mark.parametrize('key', ['k"y', 'sk\\7', 'a<b>&c'])
def test_a_key_echoed_inside_json_is_blanked(key):
    """Echoed in a JSON body the key is escaped (Go, hence Ollama, also escapes <, >, &)."""
    as_json = json.dumps({'error': f'bad key {key}'})
    as_go = as_json.replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
    for reply in (as_json, as_go):
        assert quote_reply(reply, secret_to_redact(key)) == '{"error": "bad key <api_key>"}'


@pytest.mark.parametrize('key', PLACEHOLDER_KEYS + [''])
def test_a_placeholder_key_is_no_secret(key):
    assert secret_to_redact(key) == ''
    assert quote_reply('no model named ollama none', secret_to_redact(key)) == \
        'no model named ollama none'


def test_a_closed_client_says_so(server):
    """The node's start-up check may still run when destroy_node() closes the client."""
    client = VlmClient(server.base_url, 'k', 2.0)
    client.close()
    with pytest.raises(VlmClosedError, match='closed'):
        client.list_models(1.0)


def test_list_models(server):
    server.state.models = ['gemma3:4b', 'llava:7b']
    assert VlmClient(server.base_url, 'k', 2.0).list_models(1.0) == ['gemma3:4b', 'llava:7b']


def test_empty_api_key_comes_from_environment(server, monkeypatch):
    monkeypatch.setenv('OPENAI_API_KEY', 'from-env')
    VlmClient(server.base_url, '', 2.0).complete(request())
    assert server.requests[-1].authorization == 'Bearer from-env'
    monkeypatch.delenv('OPENAI_API_KEY')
    VlmClient(server.base_url, '', 2.0).complete(request())
    assert server.requests[-1].authorization == 'Bearer none'


def test_quoted_reply_hides_images_and_the_key(server):
    server.state.behaviour, server.state.status = 'status', 400
    server.state.status_body = (
        '{"error": "bad input data:image/jpeg;base64,/9j/4AAQSkZJRg== with key sk-secret-123 '
        'from ollama"}')
    with pytest.raises(VlmError) as caught:
        VlmClient(server.base_url, 'sk-secret-123', 2.0).complete(request())
    text = str(caught.value)
    assert 'data:<image omitted>' in text and '/9j/' not in text
    assert '<api_key>' in text and 'sk-secret-123' not in text


@pytest.mark.parametrize('key', PLACEHOLDER_KEYS)
def test_placeholder_key_is_not_blanked_from_replies(server, key):
    """Blanking 'ollama' would garble every reply that mentions Ollama."""
    server.state.behaviour, server.state.status = 'echo_request', 400
    with pytest.raises(VlmError) as caught:
        VlmClient(server.base_url, key, 2.0).complete(request())
    assert f'rejected Authorization: Bearer {key}' in str(caught.value)
    assert '<api_key>' not in str(caught.value)


# Streams run on a client of their own (an HTTP client with a request hook, built one way
# before openai 1.17 and another after): these run without ROS, so every lane covers both.

def test_stream_hands_over_the_answer_chunk_by_chunk(server):
    seen: list[tuple[str, int]] = []
    answer = VlmClient(server.base_url, 'k', 10.0).stream(
        request(), lambda text, chunks: seen.append((text, chunks)), Cancellation())
    assert server.requests[-1].body['stream'] is True
    assert answer.startswith('80x60 mean_rgb=') and answer.endswith('prompt=What is here?')
    assert len(seen) > 2 and [chunks for _, chunks in seen] == list(range(1, len(seen) + 1))
    assert seen[-1][0].strip() == answer


def test_cancel_before_the_first_byte_closes_the_connection(server):
    # The model is still loading: no headers yet. Only the request hook knows the socket, so
    # only it can end the wait; without it stream() would sit out the whole delay.
    server.state.delay = 60.0
    cancellation = Cancellation()
    outcome: list[Exception] = []

    def run() -> None:
        try:
            VlmClient(server.base_url, 'k', 120.0).stream(request(), lambda *_: None,
                                                          cancellation)
        except (StreamCancelled, VlmError) as error:
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for(lambda: server.requests, 10.0, 'the streamed request to reach the server')
    cancellation.cancel()
    wait_for(lambda: not thread.is_alive(), 10.0, 'stream() to return after the cancel')
    assert len(outcome) == 1 and isinstance(outcome[0], StreamCancelled), outcome
    wait_for(lambda: server.streams and server.streams[-1].how == 'closed before headers',
             10.0, 'the server to see the connection closed')
