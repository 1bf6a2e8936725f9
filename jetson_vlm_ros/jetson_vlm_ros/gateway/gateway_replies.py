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
How the gateway hands the server's chat completion back: as it came, or as a Response.

Both routes send the same chat-completions request (images filled, slots, key, limits);
only the successful answer differs. ChatReplies passes it through; ResponsesReplies
translates it with responses_api, an answer into a Response object and a stream, chunk by
chunk, into the Responses event stream.
"""

import asyncio
import json
import time
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from jetson_vlm_ros.gateway import responses_api
from jetson_vlm_ros.model.vlm_client import quote_reply


class Replies(Protocol):
    """What a route does with the server's successful answer."""

    # Whether the client's request body is itself the chat-completions body.
    forwards_raw: bool

    def answer(self, completion: dict[str, Any], data: bytes) -> web.Response:
        """
        Return the reply to a chat completion (data: as the server sent it).

        Raises responses_api.UpstreamError when it cannot be translated.
        """

    async def stream(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     where: str, secret: str) -> web.StreamResponse:
        """Stream the server's answer to the client; a break ends the stream with an error."""


def events_end(data: bytes) -> int:
    """Return where the last complete server-sent event in data ends (0: none yet)."""
    ends = [at + len(blank) for blank in (b'\n\n', b'\r\n\r\n')
            if (at := data.rfind(blank)) >= 0]
    return max(ends, default=0)


def stream_break(where: str, error: BaseException) -> str:
    """Return what a client is told when the server's stream broke mid-reply."""
    reason = 'timed out' if isinstance(error, asyncio.TimeoutError) else 'broke'
    return f'the stream from {where} {reason} mid-reply'


class ChatReplies:
    """Chat completions: the server's answer and stream, passed through unchanged."""

    forwards_raw = True

    def answer(self, completion: dict[str, Any], data: bytes) -> web.Response:
        """Return the server's bytes as they came."""
        return web.Response(body=data, status=200, content_type='application/json')

    async def stream(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     where: str, secret: str) -> web.StreamResponse:
        """Pass the server's SSE through, whole events at a time."""
        response = web.StreamResponse(status=200, headers={
            'Content-Type': upstream.headers.get('Content-Type', 'text/event-stream'),
            'Cache-Control': 'no-cache'})
        await response.prepare(request)
        # Whole events only: an event the upstream cut short is dropped, so the error event
        # below starts a line of its own and every event the client gets parses.
        pending = b''
        try:
            async for chunk in upstream.content.iter_any():
                pending += chunk
                end = events_end(pending)
                if end:
                    await response.write(pending[:end])
                    pending = pending[end:]
            if pending:
                await response.write(pending)  # a last event without its blank line
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            # The status line is gone: tell the client in the stream, as OpenAI does.
            message = {'error': {'message': stream_break(where, error),
                                 'type': 'server_error', 'param': None,
                                 'code': 'bad_gateway'}}
            await response.write(b'data: ' + json.dumps(message).encode() + b'\n\n')
        await response.write_eof()
        return response


class ResponsesReplies:
    """The Responses API: the server's chat completion, translated."""

    forwards_raw = False

    def __init__(self, translation: responses_api.Translation) -> None:
        self.translation = translation
        self.response_id = responses_api.new_id('resp')
        self.message_id = responses_api.new_id('msg')
        self.created_at = int(time.time())

    def answer(self, completion: dict[str, Any], data: bytes) -> web.Response:
        """Return the completion as a Response object."""
        return web.json_response(responses_api.completion_to_response(
            completion, self.translation, self.response_id, self.message_id,
            self.created_at))

    async def stream(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     where: str, secret: str) -> web.StreamResponse:
        """Send the Responses events as the server's chunks come."""
        response = web.StreamResponse(status=200, headers={
            'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache'})
        await response.prepare(request)
        events = responses_api.ResponsesEventStream(
            self.translation, self.response_id, self.message_id, self.created_at)
        decoder = responses_api.SseDecoder()
        await _send(response, events.start())
        try:
            async for chunk in upstream.content.iter_any():
                sent = []
                for data in decoder.feed(chunk):
                    sent += events.feed(data)
                await _send(response, sent)
            closing = events.finish()
        except responses_api.UpstreamError as error:
            closing = events.fail(f'{where}: {quote_reply(str(error), secret)}')
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            closing = events.fail(stream_break(where, error))
        await _send(response, closing)
        await response.write_eof()
        return response


async def _send(response: web.StreamResponse, events: list[dict[str, Any]]) -> None:
    if events:
        await response.write(b''.join(responses_api.encode_event(e) for e in events))
