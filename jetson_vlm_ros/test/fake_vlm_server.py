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
A real HTTP server on 127.0.0.1 that speaks Ollama's OpenAI-compatible chat API.

It decodes the image of every request and answers with what it saw (size and mean
colour), so tests can check that the answer came from the frame actually sent. Its
`behaviour` switches it into the faults a real server shows: HTTP errors, bodies that
are not JSON, empty answers, slowness, silence, or a connection cut mid-reply.

A request with `"stream": true` is answered as Ollama does: server-sent events
(`data: {chat.completion.chunk}` lines, then `data: [DONE]`), one word per chunk,
`chunk_delay` seconds apart. Between chunks the server watches the socket, so it notices
at once when a client closes the stream, and records when (`streams`).

A request with `tools` (behaviour 'ok', `tool_calls` on) is answered as a model that uses
them: when the conversation ends with the user's message, it calls the first tool (the one
`tool_choice` names, every tool when `call_every_tool` is set; none for 'none') with the
JSON object written in the prompt as its arguments, or the prompt as its first parameter;
when it ends with tool results, it answers in text quoting them (`tool_answer`). Streamed,
the call comes in OpenAI's chunk format: id and name first, the arguments in pieces.
"""

import base64
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import select
import socket
import threading
import time
from typing import Any, Optional

import cv2
import numpy as np

BEHAVIOURS = ('ok', 'status', 'not_json', 'bad_json', 'no_choices', 'no_choices_key',
              'empty_content', 'hang', 'cut_mid_reply', 'echo_image', 'echo_request')


@dataclass
class SeenImage:
    """What the server decoded from one request's image."""

    width: int
    height: int
    channels: int
    mean_rgb: tuple[int, int, int]


@dataclass
class ReceivedRequest:
    """One chat-completions request as the server parsed it."""

    body: dict[str, Any]
    image: Optional[SeenImage]  # the last image of the user message
    prompt: str  # the last text of the user message
    authorization: str
    # Every image and text of the user message, in order (several frames: label, image, ...).
    images: list[SeenImage] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


@dataclass
class ServerState:
    """What the server does next; tests change it between requests."""

    behaviour: str = 'ok'
    delay: float = 0.0
    status: int = 500
    status_body: str = '{"error": {"message": "internal error"}}'
    models: list[str] = field(default_factory=lambda: ['gemma3:4b'])
    # Seconds between streamed chunks.
    chunk_delay: float = 0.02
    # A fixed answer instead of the image's size and colour (streamed or not).
    answer_text: Optional[str] = None
    # Close each streamed answer's connection at its end without saying so (no
    # `Connection: close`), as a server may drop a kept-alive connection at any time;
    # otherwise the connection is kept for the next request unless the client asked to
    # close it, as Ollama does.
    close_after_stream: bool = False
    # When set, every request waits (after `delay`) until this Event is set or the server
    # stops: a test holds requests at the server and releases them when it has seen what
    # it waits for, instead of guessing a delay long enough.
    hold: Optional[threading.Event] = None
    # Answer requests that carry tools with tool calls (see the module's docstring).
    tool_calls: bool = True
    # Call every tool given at once (parallel tool calls), not only the first.
    call_every_tool: bool = False


@dataclass
class StreamRecord:
    """One streamed answer as the server sent it."""

    started: float  # time.monotonic() when the headers went out
    chunk_times: list[float] = field(default_factory=list)  # when each chunk went out
    ended: Optional[float] = None
    # 'done' (all sent), 'client closed' (noticed while waiting), 'write failed', 'stopped'
    how: str = ''


def decode_data_url(url: str) -> SeenImage:
    """Decode a data:image/jpeg;base64 URL as a VLM server would."""
    header, _, payload = url.partition(',')
    if not header.startswith('data:image/jpeg;base64'):
        raise ValueError(f'not a JPEG data URL: {header[:40]}')
    pixels = cv2.imdecode(np.frombuffer(base64.b64decode(payload), np.uint8),
                          cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise ValueError('image does not decode as JPEG')
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rgb = cv2.cvtColor(pixels, cv2.COLOR_GRAY2RGB if channels == 1 else cv2.COLOR_BGR2RGB)
    mean = tuple(int(round(v)) for v in rgb.reshape(-1, 3).mean(axis=0))
    return SeenImage(pixels.shape[1], pixels.shape[0], channels, mean)


def last_user_text(messages: list[Any]) -> str:
    """Return the text of the last user message, whether a string or parts."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get('role') == 'user':
            content = message.get('content')
            if isinstance(content, str):
                return content
            return ' '.join(part.get('text', '') for part in content or []
                            if isinstance(part, dict) and part.get('type') == 'text')
    return ''


def tool_arguments(tool: dict[str, Any], prompt: str) -> str:
    """Return the arguments a call of tool gets: the prompt's JSON object, or the prompt."""
    start, end = prompt.find('{'), prompt.rfind('}')
    if 0 <= start < end:
        try:
            given = json.loads(prompt[start:end + 1])
        except ValueError:
            given = None
        if isinstance(given, dict):
            return json.dumps(given)
    properties = (tool['function'].get('parameters') or {}).get('properties') or {}
    return json.dumps({next(iter(properties)): prompt} if properties else {})


def tool_answer(messages: list[Any]) -> str:
    """Return the text answer to the tool results that end the conversation."""
    names = {}
    for message in messages:
        for call in message.get('tool_calls') or []:
            names[call.get('id')] = call.get('function', {}).get('name')
    results = []
    for message in reversed(messages):
        if message.get('role') != 'tool':
            break
        results.insert(0, f"{names.get(message.get('tool_call_id'))} returned "
                          f"{message.get('content')}")
    return 'The tool said: ' + '; '.join(results)


def planned_tool_calls(body: dict[str, Any], state: 'ServerState') -> Optional[list[Any]]:
    """Return the tool calls to answer with (None: answer in text), as chat message's."""
    tools = body.get('tools')
    messages = body.get('messages') or []
    if not state.tool_calls or not tools or not messages or \
            not isinstance(messages[-1], dict) or messages[-1].get('role') != 'user' or \
            body.get('tool_choice') == 'none':
        return None
    choice = body.get('tool_choice')
    if isinstance(choice, dict):
        chosen = [t for t in tools if t['function']['name'] == choice['function']['name']]
    else:
        chosen = tools if state.call_every_tool else tools[:1]
    prompt = last_user_text(messages)
    return [{'id': f'call_{number}_{tool["function"]["name"]}', 'type': 'function',
             'function': {'name': tool['function']['name'],
                          'arguments': tool_arguments(tool, prompt)}}
            for number, tool in enumerate(chosen)]


def describe_seen(image: Optional[SeenImage], prompt: str) -> str:
    """Return the answer text the server gives for an image and prompt."""
    if image is None:
        return f'no image; prompt={prompt}'
    r, g, b = image.mean_rgb
    return f'{image.width}x{image.height} mean_rgb={r},{g},{b} prompt={prompt}'


class FakeVlmServer:
    """Start with `with FakeVlmServer() as server:`; `server.base_url` is the API root."""

    def __init__(self, port: int = 0) -> None:
        self.state = ServerState()
        self.requests: list[ReceivedRequest] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.streams: list[StreamRecord] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(('127.0.0.1', port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        """Return the TCP port the server listens on."""
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Return the OpenAI-compatible API root, as Ollama's /v1."""
        return f'http://127.0.0.1:{self.port}/v1'

    @property
    def open_connections(self) -> int:
        """Return how many client connections are open now."""
        with self._lock:
            return len(self._connections)

    def start(self) -> 'FakeVlmServer':
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop as a killed server would: close the socket and every open connection."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler

    def __enter__(self) -> 'FakeVlmServer':
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _handler_class(self) -> type:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            # Like Go's net/http (Ollama): headers and body are separate writes, and with
            # Nagle's algorithm the body would wait ~40 ms for the client's delayed ACK.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass  # keep test output clean

            def setup(self) -> None:
                super().setup()
                with server._lock:
                    server._connections.add(self.connection)

            def finish(self) -> None:
                with server._lock:
                    server._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass  # the client or stop() closed the connection first

            def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
                if self.path.rstrip('/').endswith('/models'):
                    models = [{'id': m, 'object': 'model', 'created': 0, 'owned_by': 'test'}
                              for m in server.state.models]
                    self._send(200, {'object': 'list', 'data': models})
                else:
                    self._send(404, {'error': {'message': f'no route {self.path}'}})

            def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
                length = int(self.headers.get('Content-Length', 0))
                raw = self.rfile.read(length)
                if not self.path.rstrip('/').endswith('/chat/completions'):
                    self._send(404, {'error': {'message': f'no route {self.path}'}})
                    return
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._complete(json.loads(raw))
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _complete(self, body: dict[str, Any]) -> None:
                state = server.state
                prompt, image, image_url = '', None, ''
                images: list[SeenImage] = []
                texts: list[str] = []
                for message in body.get('messages', []):
                    content = message.get('content')
                    if message.get('role') != 'user' or not isinstance(content, list):
                        continue
                    for part in content:
                        if part.get('type') == 'text':
                            prompt = part['text']
                            texts.append(prompt)
                        elif part.get('type') == 'image_url':
                            image_url = part['image_url']['url']
                            image = decode_data_url(image_url)
                            images.append(image)
                server.requests.append(ReceivedRequest(
                    body, image, prompt, self.headers.get('Authorization', ''), images, texts))
                if state.delay and body.get('stream'):
                    # A model still loading: nothing sent yet, but a client leaving is seen.
                    if not self._wait_unless_closed(state.delay):
                        record = StreamRecord(time.monotonic(), how='closed before headers')
                        record.ended = record.started
                        with server._lock:
                            server.streams.append(record)
                        return
                elif state.delay:
                    server._stopping.wait(state.delay)
                if state.hold is not None:
                    while not state.hold.wait(0.05) and not server._stopping.is_set():
                        pass
                behaviour = state.behaviour
                if behaviour == 'hang':
                    server._stopping.wait(3600)
                    return
                calls = planned_tool_calls(body, state) if behaviour == 'ok' else None
                messages = body.get('messages') or [{}]
                after_tools = behaviour == 'ok' and isinstance(messages[-1], dict) and \
                    messages[-1].get('role') == 'tool'
                answer = tool_answer(body['messages']) if after_tools \
                    else describe_seen(image, prompt)
                if body.get('stream') and calls is not None:
                    self._stream_calls(body, calls)
                    return
                if body.get('stream') and behaviour in (
                        'ok', 'empty_content', 'no_choices', 'cut_mid_reply'):
                    self._stream(body, state, answer)
                    return
                if behaviour == 'status':
                    self._send_raw(state.status, state.status_body.encode(), 'application/json')
                elif behaviour == 'not_json':
                    self._send_raw(200, b'<html>Bad Gateway from a proxy</html>', 'text/html')
                elif behaviour == 'bad_json':
                    # Labelled JSON but cut short, as a crashing proxy or server may send.
                    self._send_raw(200, b'{"id": "chatcmpl-1", "choi', 'application/json')
                elif behaviour == 'no_choices_key':
                    self._send(200, {'id': 'chatcmpl-test', 'object': 'chat.completion',
                                     'error': 'model is still loading'})
                elif behaviour == 'echo_image':
                    # Validation errors of some servers quote the input they reject.
                    self._send(state.status, {'object': 'error',
                                              'message': f'cannot load image {image_url}'})
                elif behaviour == 'echo_request':
                    # As a debugging proxy or a careless server may: the Authorization header
                    # and the image first (in the quoted part), then every header and the
                    # whole request.
                    authorization = self.headers.get('Authorization', '')
                    self._send(state.status, {
                        'error': {'message': f'rejected Authorization: {authorization} '
                                             f'with image {image_url}'},
                        'headers': dict(self.headers.items()), 'request': body,
                    }, extra_headers={'X-Echo-Authorization': authorization})
                elif behaviour == 'cut_mid_reply':
                    self.send_response(200)
                    self.send_header('Content-Type', 'application/json')
                    self.send_header('Content-Length', '1000')
                    self.end_headers()
                    self.wfile.write(b'{"id": "chatcmpl-1", "choi')
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    text = answer if state.answer_text is None else state.answer_text
                    text = '' if behaviour == 'empty_content' else text
                    message: dict[str, Any] = {'role': 'assistant', 'content': text}
                    if calls is not None:
                        message = {'role': 'assistant', 'content': None, 'tool_calls': calls}
                    choices = [] if behaviour == 'no_choices' else [{
                        'index': 0, 'finish_reason': 'stop' if calls is None else 'tool_calls',
                        'message': message}]
                    self._send(200, {
                        'id': 'chatcmpl-test', 'object': 'chat.completion',
                        'created': int(time.time()), 'model': body.get('model', ''),
                        'choices': choices,
                        'usage': {'prompt_tokens': 1, 'completion_tokens': 1, 'total_tokens': 2},
                    })

            def _stream(self, body: dict[str, Any], state: ServerState, answer: str) -> None:
                text = answer if state.answer_text is None else state.answer_text
                words = text.split(' ')
                pieces = [w + ' ' for w in words[:-1]] + [words[-1]]
                if state.behaviour == 'empty_content':
                    pieces = ['', '']
                record = StreamRecord(time.monotonic())
                with server._lock:
                    server.streams.append(record)
                self.send_response(200)
                self.send_header('Content-Type', 'text/event-stream')
                self.send_header('Transfer-Encoding', 'chunked')
                self.end_headers()
                try:
                    for number, piece in enumerate(pieces):
                        if number and not self._wait_unless_closed(state.chunk_delay):
                            self.close_connection = True
                            record.how = 'stopped' if server._stopping.is_set() else \
                                'client closed'
                            return
                        if state.behaviour == 'cut_mid_reply' and number == len(pieces) // 2:
                            self._write_chunk(b'data: {"id": "chatcmpl-1", "cho')
                            self.close_connection = True
                            record.how = 'cut'
                            return
                        choices = [] if state.behaviour == 'no_choices' else [{
                            'index': 0, 'finish_reason': None,
                            'delta': {'role': 'assistant', 'content': piece}}]
                        self._write_event(self._chunk(body, choices))
                        record.chunk_times.append(time.monotonic())
                    self._write_event(self._chunk(body, [] if state.behaviour == 'no_choices'
                                                  else [{'index': 0, 'delta': {},
                                                         'finish_reason': 'stop'}]))
                    self._write_chunk(b'data: [DONE]\n\n')
                    self._write_chunk(b'')
                    record.how = 'done'
                    if state.close_after_stream:
                        self.close_connection = True
                except OSError:
                    self.close_connection = True
                    record.how = 'write failed'
                finally:
                    record.ended = time.monotonic()

            def _stream_calls(self, body: dict[str, Any], calls: list[Any]) -> None:
                """Stream tool calls as OpenAI does: id and name, then arguments in pieces."""
                self.send_response(200)
                self.send_header('Content-Type', 'text/event-stream')
                self.send_header('Transfer-Encoding', 'chunked')
                self.end_headers()
                try:
                    for index, call in enumerate(calls):
                        self._write_event(self._chunk(body, [{
                            'index': 0, 'finish_reason': None, 'delta': {
                                'role': 'assistant', 'content': None, 'tool_calls': [{
                                    'index': index, 'id': call['id'], 'type': 'function',
                                    'function': {'name': call['function']['name'],
                                                 'arguments': ''}}]}}]))
                        arguments = call['function']['arguments']
                        for at in range(0, len(arguments), 5):
                            self._write_event(self._chunk(body, [{
                                'index': 0, 'finish_reason': None, 'delta': {'tool_calls': [{
                                    'index': index,
                                    'function': {'arguments': arguments[at:at + 5]}}]}}]))
                    self._write_event(self._chunk(body, [{'index': 0, 'delta': {},
                                                          'finish_reason': 'tool_calls'}]))
                    self._write_chunk(b'data: [DONE]\n\n')
                    self._write_chunk(b'')
                except OSError:
                    self.close_connection = True

            def _chunk(self, body: dict[str, Any], choices: list[Any]) -> dict[str, Any]:
                return {'id': 'chatcmpl-test', 'object': 'chat.completion.chunk',
                        'created': int(time.time()), 'model': body.get('model', ''),
                        'choices': choices}

            def _write_event(self, payload: dict[str, Any]) -> None:
                self._write_chunk(b'data: ' + json.dumps(payload).encode() + b'\n\n')

            def _write_chunk(self, data: bytes) -> None:
                # HTTP/1.1 chunked transfer encoding, as Ollama streams.
                self.wfile.write(f'{len(data):x}\r\n'.encode() + data + b'\r\n')
                self.wfile.flush()

            def _wait_unless_closed(self, seconds: float) -> bool:
                """Wait; return False as soon as the client closes (or the server stops)."""
                deadline = time.monotonic() + seconds
                while not server._stopping.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return True
                    readable, _, _ = select.select([self.connection], [], [], min(left, 0.5))
                    if readable:
                        try:
                            if not self.connection.recv(1, socket.MSG_PEEK):
                                return False  # orderly close (FIN) by the client
                        except OSError:
                            return False  # reset
                        # Unexpected bytes from the client: keep streaming, stop polling.
                        time.sleep(max(0.0, deadline - time.monotonic()))
                        return True
                return False

            def _send(self, status: int, payload: dict[str, Any],
                      extra_headers: Optional[dict[str, str]] = None) -> None:
                self._send_raw(status, json.dumps(payload).encode(), 'application/json',
                               extra_headers)

            def _send_raw(self, status: int, data: bytes, content_type: str,
                          extra_headers: Optional[dict[str, str]] = None) -> None:
                self.send_response(status)
                self.send_header('Content-Type', content_type)
                for name, value in (extra_headers or {}).items():
                    self.send_header(name, value)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


if __name__ == '__main__':
    # A stand-in to try the demo without a GPU: answers with the image's size and colour.
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument('--port', type=int, default=11434)
    parser.add_argument('--answer', help='answer every question with this text')
    arguments = parser.parse_args()
    with FakeVlmServer(arguments.port) as stand_in:
        stand_in.state.answer_text = arguments.answer
        print(f'fake VLM server on {stand_in.base_url}; Ctrl-C stops', flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
