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

"""Streaming without ROS: the cancel token, and VlmClient.stream against the loopback server."""

import threading

from conftest import wait_for
from jetson_vlm_ros.model.streaming import Cancellation, StreamCancelled
from jetson_vlm_ros.model.vlm_client import VlmClient, VlmError, VlmRequest
import pytest

# A 1x1 JPEG is enough for the server: it decodes whatever it gets.
TINY = VlmRequest(model='gemma3:4b', prompt='Hi', image_data_url=(
    'data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8U'
    'HRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PTgyPC4zNDL/wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAA'
    'AAAAAAAACf/EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AKp//2Q=='))


def test_cancellation_runs_each_abort_once_and_late_ones_at_once():
    calls = []
    token = Cancellation()
    token.on_cancel(lambda: calls.append('a'))
    removed = lambda: calls.append('removed')  # noqa: E731
    token.on_cancel(removed)
    token.discard(removed)
    token.cancel()
    token.cancel()
    assert calls == ['a'] and token.cancelled
    token.on_cancel(lambda: calls.append('late'))
    assert calls == ['a', 'late']


def test_stream_calls_back_per_chunk_and_returns_the_whole_answer(server):
    server.state.answer_text = 'the door is open'
    pieces = []
    client = VlmClient(server.base_url, 'ollama', 5.0)
    try:
        text = client.stream(TINY, lambda text, chunks: pieces.append((text, chunks)),
                             Cancellation())
    finally:
        client.close()
    assert text == 'the door is open'
    assert pieces == [('the ', 1), ('the door ', 2), ('the door is ', 3),
                      ('the door is open', 4)]
    assert server.requests[-1].body['stream'] is True


def test_cancel_from_another_thread_ends_the_stream_at_once(server):
    server.state.answer_text = ' '.join(['word'] * 100)
    server.state.chunk_delay = 2.0
    token = Cancellation()
    client = VlmClient(server.base_url, 'ollama', 30.0)
    first = threading.Event()
    outcome = []

    def run() -> None:
        try:
            client.stream(TINY, lambda text, chunks: first.set(), token)
        except StreamCancelled as cancelled:
            outcome.append(cancelled.text)

    thread = threading.Thread(target=run)
    thread.start()
    assert first.wait(5.0)
    stream = server.streams[-1]
    # The server notes a chunk's time after writing it: the client may read it first.
    wait_for(lambda: len(stream.chunk_times) >= 1, 5.0, 'the server to note the first chunk')
    sent_at_cancel = len(stream.chunk_times)
    token.cancel()
    thread.join(5.0)
    assert not thread.is_alive()
    assert outcome == ['word ']
    wait_for(lambda: stream.ended is not None, 5.0, 'the server to see the stream end')
    assert stream.how == 'client closed'
    # Not at the next chunk, 2 s later: the server never got to send it.
    assert len(stream.chunk_times) == sent_at_cancel, (sent_at_cancel, stream.chunk_times)
    client.close()


def test_stream_failures_read_like_the_service_ones(server):
    client = VlmClient(server.base_url, 'ollama', 1.0)
    try:
        server.state.behaviour = 'status'
        server.state.status = 404
        with pytest.raises(VlmError, match='ollama pull gemma3:4b'):
            client.stream(TINY, lambda *_: None, Cancellation())
        server.state.behaviour = 'cut_mid_reply'
        with pytest.raises(VlmError, match='broke mid-reply'):
            client.stream(TINY, lambda *_: None, Cancellation())
        server.state.behaviour = 'not_json'
        with pytest.raises(VlmError, match="'text/html' body instead of an event stream"):
            client.stream(TINY, lambda *_: None, Cancellation())
    finally:
        client.close()
