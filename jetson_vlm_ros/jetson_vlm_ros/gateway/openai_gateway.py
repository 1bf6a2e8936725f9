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
An OpenAI-compatible HTTP gateway that sees the robot's cameras (no ROS imports).

`POST /v1/chat/completions` is forwarded to the VLM server after `ros://latest` (the
default camera), `ros://<camera name>` and `ros:///topic` image URLs (or a `<model>+camera`,
`<model>+<camera name>` / `<model>+/topic` model name) were replaced by the latest frame,
prepared as the node prepares camera frames. The gateway never fetches a URL itself:
`http(s)://` and `file://` images are refused.
`POST /v1/responses` (OpenAI's Responses API, stateless) is translated into the same
chat-completions request and its answer back (responses_api, gateway_replies).

It runs aiohttp on its own event loop in its own thread: ROS callbacks never wait on an
HTTP client, and frame preparation runs on the loop's thread pool, so one slow client
never holds up the others. Requests share the node's request slots (429 when all are
taken). Every error is OpenAI's error JSON; no traceback reaches a client.
"""

import asyncio
from dataclasses import dataclass
import hmac
import inspect
import json
import os
import secrets
import threading
from typing import Any, Callable, Optional, Protocol, Sequence
from urllib.parse import urlparse

import aiohttp
from aiohttp import hdrs, web, web_server
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.gateway import gateway_guard, responses_api
from jetson_vlm_ros.gateway.gateway_replies import ChatReplies, Replies, ResponsesReplies
from jetson_vlm_ros.model.scene_describer import DescribeError, RequestSlots
from jetson_vlm_ros.model.vlm_client import quote_reply, secret_to_redact

STATUS_PAGE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'status_page')
CAMERA_SUFFIX = '+camera'
# The source of ros://latest and <model>+camera: the node's default camera.
DEFAULT_CAMERA = 'latest'
# How long GET /v1/models and GET /health wait for the VLM server.
PROBE_TIMEOUT = 3.0
# Seconds a client should wait after a 429, sent as Retry-After.
RETRY_AFTER_S = 1

_ERROR_TYPES = {
    400: ('invalid_request_error', 'invalid_request'),
    401: ('authentication_error', 'invalid_api_key'),
    403: ('permission_error', 'origin_not_allowed'),
    404: ('invalid_request_error', 'not_found'),
    405: ('invalid_request_error', 'method_not_allowed'),
    413: ('invalid_request_error', 'request_too_large'),
    415: ('invalid_request_error', 'unsupported_media_type'),
    421: ('invalid_request_error', 'misdirected_request'),
    429: ('rate_limit_error', 'rate_limit_exceeded'),
    500: ('server_error', 'internal_error'),
    502: ('server_error', 'bad_gateway'),
    503: ('server_error', 'unavailable'),
    504: ('server_error', 'timeout'),
}


# A client that leaves ends its request here and at the server at once, freeing its request
# slot. aiohttp 3.8 (Ubuntu 22.04, Humble) always does so; from 3.9 it must be asked for.
_CANCEL_ON_DISCONNECT = (
    {'handler_cancellation': True}
    if 'handler_cancellation' in inspect.signature(web_server.Server).parameters
    else {})
# The listed origin a request came from (gateway_guard), for its CORS headers. aiohttp 3.8
# (Humble) has no typed request keys; later versions warn about plain strings.
_CORS_ORIGIN: Any = (web.RequestKey('cors_origin', str) if hasattr(web, 'RequestKey')
                     else 'cors_origin')


class GatewayError(Exception):
    """A request failed with an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str,
                 headers: Optional[dict[str, str]] = None,
                 param: Optional[str] = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.param = param


def error_response(status: int, message: str,
                   headers: Optional[dict[str, str]] = None,
                   param: Optional[str] = None) -> web.Response:
    """Return OpenAI's error body: {"error": {"message", "type", "param", "code"}}."""
    kind, code = _ERROR_TYPES.get(status, ('server_error' if status >= 500
                                           else 'invalid_request_error', None))
    body = {'error': {'message': message, 'type': kind, 'param': param, 'code': code}}
    return web.json_response(body, status=status, headers=headers)


class GatewayBackend(Protocol):
    """What the gateway needs from the node; every call may block (runs on a worker)."""

    slots: RequestSlots

    def settings(self) -> VlmSettings:
        """Return the node's current settings."""

    def refusal(self) -> Optional[str]:
        """Return why the node answers no request now (e.g. disabled), or None."""

    def prepared_data_url(self, source: str, settings: VlmSettings) -> bytes:
        """
        Return the latest frame of source ('latest', a camera name or a topic) as a data URL.

        Raises DescribeError, with the service's text, when there is no frame to use.
        """

    def camera_names(self) -> list[str]:
        """
        Return the node's named cameras, the default first (none: one unnamed camera).

        Optional: a backend without it has one unnamed camera.
        """

    def image_topics(self) -> list[str]:
        """Return the image topics on the ROS graph."""

    def camera_state(self, name: Optional[str] = None) -> dict[str, Any]:
        """Return a camera's (default: the default camera's) topic, frames and frame age."""

    def alert_state(self) -> dict[str, Any]:
        """Return the alert rules and their state."""

    def status(self) -> dict[str, Any]:
        """Return recent captions and active alerts for the status page."""

    def status_frame(self, settings: VlmSettings,
                     camera: Optional[str] = None) -> Optional[bytes]:
        """Return a camera's latest frame as JPEG (the last caption drawn), or None."""


@dataclass(frozen=True)
class ImageSource:
    """
    Where an image of a request comes from.

    topic: 'latest' (the default camera), a camera name (relative: no leading '/'), a topic
    (absolute), or None for a data: URL.
    """

    topic: Optional[str]


def unknown_camera(name: str, cameras: Sequence[str]) -> str:
    """Return the error for a camera name the node does not have, listing the ones it has."""
    if not cameras:
        return (f"no camera named '{name}': this node has one unnamed camera (the cameras "
                f'parameter is empty): use ros://latest, <model>+camera or ros:///some/topic')
    return (f"no camera named '{name}': this node's cameras are {', '.join(cameras)} "
            f"(ros://<name>; ros://latest is the default camera, '{cameras[0]}'), or use "
            f'ros:///some/topic')


def image_source(url: str, cameras: Sequence[str] = ()) -> ImageSource:
    """
    Classify an image URL; raise GatewayError(400) for what the gateway never fetches.

    cameras are the node's camera names: ros://<name> is accepted for those only.
    ros://latest is always the default camera, even if a camera is named 'latest'.
    """
    if not isinstance(url, str):
        raise GatewayError(400, 'image_url.url must be a string')
    if url.startswith('data:'):
        return ImageSource(None)
    parsed = urlparse(url)
    if parsed.scheme == 'ros':
        if parsed.netloc == DEFAULT_CAMERA and parsed.path in ('', '/'):
            return ImageSource(DEFAULT_CAMERA)
        if not parsed.netloc and len(parsed.path) > 1:
            return ImageSource(parsed.path.rstrip('/'))
        name = (parsed.netloc + parsed.path).rstrip('/')
        if name in cameras:
            return ImageSource(name)
        if cameras and name:
            raise GatewayError(400, f"unknown ros:// image URL '{url[:100]}': "
                                    f'{unknown_camera(name, cameras)}')
        raise GatewayError(400, f"unknown ros:// image URL '{url[:100]}': use ros://latest "
                                f'(the camera) or ros:///some/topic (an image topic)')
    raise GatewayError(
        400, f"image URL scheme '{parsed.scheme or url[:20]}' is not accepted: this gateway "
             f'never fetches URLs or reads files; send a data: URL, ros://latest, '
             f'ros://<camera name> or ros:///some/topic')


def camera_model(model: str, cameras: Sequence[str] = ()) -> tuple[str, Optional[str]]:
    """
    Split '<model>+<camera>' or '<model>+/topic' into (model, source); else (model, None).

    '+camera' is the default camera ('latest'), unless a camera is named 'camera': a
    named camera comes first. A '+name' naming no camera is left in the model name.
    """
    base, plus, suffix = model.rpartition('+')
    if plus and base and suffix in cameras:
        return base, suffix  # 'latest' too: that is always the default camera
    if model.endswith(CAMERA_SUFFIX) and len(model) > len(CAMERA_SUFFIX):
        return model[:-len(CAMERA_SUFFIX)], DEFAULT_CAMERA
    base, plus, topic = model.partition('+/')
    if plus and base and len(topic) > 0:
        return base, '/' + topic
    return model, None


def image_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Return every image_url content part of the request's messages, in order."""
    messages = body.get('messages')
    if not isinstance(messages, list) or not messages:
        raise GatewayError(400, "'messages' must be a non-empty array")
    parts = []
    for message in messages:
        if not isinstance(message, dict):
            raise GatewayError(400, 'every message must be an object')
        content = message.get('content')
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get('type') == 'image_url':
                    parts.append(part)
    return parts


def attach_camera(body: dict[str, Any], source: str) -> None:
    """Add a ros:// image of source to the last user message (for camera models)."""
    for message in reversed(body['messages']):
        if message.get('role') == 'user':
            # 'latest' and camera names: ros://<source>; topics: ros:///topic.
            url = 'ros://' + source
            image = {'type': 'image_url', 'image_url': {'url': url}}
            content = message.get('content')
            if isinstance(content, list):
                content.append(image)
            else:
                message['content'] = [{'type': 'text', 'text': str(content or '')}, image]
            return
    raise GatewayError(400, 'a camera model needs a user message to attach the frame to')


def encode_with_images(body: dict[str, Any], images: dict[str, bytes]) -> bytes:
    """
    Return body as JSON bytes, each placeholder URL in it replaced by its data URL.

    A frame's data URL is some 100 kB of base64, which needs no JSON escaping: pasting it
    into the encoded body spares json.dumps scanning it (about 1 ms per 1080p frame).
    """
    payload = json.dumps(body).encode()
    for placeholder, data_url in images.items():
        payload = payload.replace(json.dumps(placeholder).encode(), b'"' + data_url + b'"')
    return payload


def unused_placeholder(raw: bytes) -> str:
    """Return a random token that the client's request body does not contain."""
    while True:
        token = f'ros-image-{secrets.token_hex(16)}'
        if token.encode() not in raw:
            return token


def keys_match(given: str, expected: str) -> bool:
    """Compare API keys in constant time (no early exit on the first differing byte)."""
    return hmac.compare_digest(given.encode('utf-8'), expected.encode('utf-8'))


class OpenAiGateway:
    """The HTTP server; start() binds and returns once it serves, stop() ends it."""

    def __init__(self, backend: GatewayBackend, host: str, port: int, max_body_mb: int,
                 log: Callable[[str, str], None]) -> None:
        self.backend = backend
        self.host = host
        self.port = port
        self.max_body = max_body_mb * 1024 * 1024
        self._log = log
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._runner: Optional[web.AppRunner] = None
        self._session: Optional[aiohttp.ClientSession] = None
        self._stopped: Optional[asyncio.Event] = None
        self._machine_names = gateway_guard.machine_names()

    def _camera_names(self) -> list[str]:
        names = getattr(self.backend, 'camera_names', None)
        return [] if names is None else names()

    @property
    def url(self) -> str:
        """Return the root URL clients use."""
        host = '127.0.0.1' if self.host in ('0.0.0.0', '::', '') else self.host
        return f'http://{host}:{self.port}'

    def start(self) -> None:
        """Serve on host:port from a thread of its own; raise OSError when it cannot bind."""
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(started))
            except BaseException as error:  # noqa: B902 - handed to start()'s caller
                failure.append(error)
                started.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name='openai_gateway', daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving and close connections."""
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopped.set)
            except RuntimeError:
                pass  # the loop closed meanwhile
        if self._thread is not None:
            self._thread.join(timeout)

    async def _serve(self, started: threading.Event) -> None:
        self._stopped = asyncio.Event()
        # The guard comes first: a refused request reaches neither the key check nor a route.
        app = web.Application(client_max_size=self.max_body,
                              middlewares=[self._guard_middleware, self._errors_middleware])
        app.on_response_prepare.append(self._add_cors_headers)
        app.router.add_post('/v1/chat/completions', self._chat_completions)
        app.router.add_post('/v1/responses', self._responses)
        app.router.add_route('*', '/v1/responses/{rest:.+}', self._stored_response)
        app.router.add_get('/v1/models', self._models)
        app.router.add_get('/v1/alerts', self._alerts)
        app.router.add_get('/v1/status', self._status)
        app.router.add_get('/v1/frame.jpg', self._frame)
        app.router.add_get('/health', self._health)
        app.router.add_get('/', self._index)
        app.router.add_static('/static/', STATUS_PAGE_DIR)
        # One pool of kept-alive connections for answers and streams, as Ollama keeps them
        # (a connection per stream cost ~1 ms of time to first chunk); _post sends a request
        # again that met a pooled connection the server had just closed.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     **_CANCEL_ON_DISCONNECT)
        await self._runner.setup()
        try:
            site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await self._close_sessions()
            await self._runner.cleanup()
            raise
        started.set()
        await self._stopped.wait()
        await self._runner.cleanup()
        await self._close_sessions()

    async def _close_sessions(self) -> None:
        if self._session is not None:
            await self._session.close()

    # --- middleware: Host, Origin, Sec-Fetch-Site, content type (gateway_guard) -------------

    @web.middleware
    async def _guard_middleware(self, request: web.Request,
                                handler: Any) -> web.StreamResponse:
        settings = self.backend.settings()
        policy = gateway_guard.guard_policy(
            self.host, settings.gateway_allowed_hosts, settings.gateway_allowed_origins,
            self._machine_names)
        # request.host would fall back to the socket's address: the header itself is judged.
        origin = request.headers.get(hdrs.ORIGIN)
        verdict = gateway_guard.screen(
            request.method, request.headers.get(hdrs.HOST), origin,
            request.headers.get(hdrs.CONTENT_TYPE), request.body_exists, policy,
            request.headers.get('Sec-Fetch-Site'), request.headers.get('Sec-Fetch-Mode'))
        if isinstance(verdict, gateway_guard.Refusal):
            return error_response(verdict.status, verdict.message)
        if request.method == 'OPTIONS' and origin is not None and \
                hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            return web.Response(status=204, headers=gateway_guard.preflight_headers(
                origin, request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS)))
        request[_CORS_ORIGIN] = verdict.cors_origin
        return await handler(request)

    async def _add_cors_headers(self, request: web.Request,
                                response: web.StreamResponse) -> None:
        # Here, not in the middleware: a stream's headers are sent before its handler returns.
        vary = response.headers.get(hdrs.VARY, '')
        if 'origin' not in vary.lower():
            response.headers[hdrs.VARY] = f'{vary}, Origin' if vary else 'Origin'
        cors_origin = request.get(_CORS_ORIGIN)
        if cors_origin and hdrs.ACCESS_CONTROL_ALLOW_ORIGIN not in response.headers:
            response.headers.update(gateway_guard.cors_headers(cors_origin))

    # --- middleware: errors and the API key ------------------------------------------------

    @web.middleware
    async def _errors_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            self._check_key(request)
            return await handler(request)
        except GatewayError as error:
            return error_response(error.status, error.message, error.headers, error.param)
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, f'request body larger than gateway_max_body_mb '
                                       f'({self.max_body // (1024 * 1024)} MB)')
        except web.HTTPException as error:
            if error.status < 400:
                raise
            return error_response(error.status, f'{error.reason}: {request.method} '
                                                f'{request.path}')
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as error:  # noqa: B902 - a client gets JSON, never a traceback
            self._log('error', f'gateway: unexpected {type(error).__name__}: {error} '
                               f'({request.method} {request.path})')
            return error_response(500, f'internal error: {type(error).__name__}')

    def _check_key(self, request: web.Request) -> None:
        # The page and its static files carry no data; /health is for probes.
        if request.method == 'GET' and (request.path in ('/', '/health')
                                        or request.path.startswith('/static/')):
            return
        expected = self.backend.settings().gateway_api_key
        if not expected:
            return
        header = request.headers.get('Authorization', '')
        scheme, _, given = header.partition(' ')
        if scheme.lower() != 'bearer' or not keys_match(given.strip(), expected):
            raise GatewayError(401, 'missing or wrong API key: send the gateway_api_key as '
                                    "'Authorization: Bearer <key>'")

    # --- chat completions ------------------------------------------------------------------

    async def _read_json(self, request: web.Request) -> tuple[bytes, dict[str, Any]]:
        """Return the request's body, raw and parsed; raise for one too large or not JSON."""
        if request.content_length is not None and request.content_length > self.max_body:
            raise web.HTTPRequestEntityTooLarge(max_size=self.max_body,
                                                actual_size=request.content_length)
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            raise GatewayError(400, f'the request body is not valid JSON: {error}') from None
        if not isinstance(body, dict):
            raise GatewayError(400, 'the request body must be a JSON object')
        return raw, body

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self._read_json(request)
        return await self._send_chat(request, raw, body, ChatReplies())

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        raw, body = await self._read_json(request)
        try:
            translation = responses_api.chat_request(body)
        except responses_api.RequestError as error:
            raise GatewayError(400, str(error), param=error.param) from None
        return await self._send_chat(request, raw, translation.chat,
                                     ResponsesReplies(translation))

    async def _stored_response(self, request: web.Request) -> web.Response:
        raise GatewayError(404, f'no response is stored here: this gateway serves '
                                f'/v1/responses statelessly (as Ollama does), so '
                                f'{request.method} {request.path} finds nothing')

    async def _send_chat(self, request: web.Request, raw: bytes, body: dict[str, Any],
                         replies: Replies) -> web.StreamResponse:
        """
        Fill the ros:// images of a chat-completions body and send it to the server.

        raw is the client's request body: forwarded as it is when nothing changed (a chat
        completion), and what placeholders must not occur in.
        """
        settings = self.backend.settings()
        given_model = body.get('model')
        model = given_model or settings.model
        if not isinstance(model, str):
            raise GatewayError(400, "'model' must be a string")
        cameras = self._camera_names()
        model, camera = camera_model(model, cameras)
        body['model'] = model
        image_parts(body)  # validates messages before anything is attached
        if camera is not None:
            attach_camera(body, camera)
        ros_parts = []
        for part in image_parts(body):
            image_url = part.get('image_url')
            url = image_url.get('url') if isinstance(image_url, dict) else image_url
            source = image_source(url, cameras)
            if source.topic is not None:
                ros_parts.append((part, source.topic))
        refusal = self.backend.refusal()
        if refusal:
            raise GatewayError(503, refusal)
        if not self.backend.slots.try_acquire():
            raise GatewayError(
                429, f'busy: {self.backend.slots.limit} VLM request(s) already in flight '
                     f'(max_concurrent_requests); try again shortly',
                {'Retry-After': str(RETRY_AFTER_S)})
        try:
            if ros_parts:
                images = await asyncio.get_running_loop().run_in_executor(
                    None, self._fill_images, ros_parts, settings, raw)
                payload = encode_with_images(body, images)
            elif camera is None and given_model == model and replies.forwards_raw:
                payload = raw  # unchanged: no second JSON encoding of its images
            else:
                payload = json.dumps(body).encode()
            return await self._forward(request, payload, body, settings, replies)
        finally:
            self.backend.slots.release()

    def _fill_images(self, parts: list[tuple[dict[str, Any], str]], settings: VlmSettings,
                     raw: bytes) -> dict[str, bytes]:
        """Point each ros:// part at a placeholder; return placeholder -> data URL."""
        placeholders: dict[str, str] = {}
        images: dict[str, bytes] = {}
        for part, topic in parts:
            if topic not in placeholders:
                try:
                    url = self.backend.prepared_data_url(topic, settings)
                except DescribeError as error:
                    raise GatewayError(400, str(error)) from None
                placeholder = unused_placeholder(raw)
                placeholders[topic], images[placeholder] = placeholder, url
            detail = part['image_url'].get('detail') if isinstance(part['image_url'], dict) \
                else None
            part['image_url'] = {'url': placeholders[topic]}
            if detail:
                part['image_url']['detail'] = detail
        return images

    async def _forward(self, request: web.Request, payload: bytes, body: dict[str, Any],
                       settings: VlmSettings, replies: Replies) -> web.StreamResponse:
        key = settings.api_key or os.environ.get('OPENAI_API_KEY') or 'none'
        secret = secret_to_redact(key)
        where = f'the VLM server at {settings.base_url}'
        url = settings.base_url.rstrip('/') + '/chat/completions'
        streaming = body.get('stream') is True
        timeout = aiohttp.ClientTimeout(
            total=None if streaming else settings.request_timeout,
            sock_connect=settings.request_timeout, sock_read=settings.request_timeout)
        headers = {'Authorization': f'Bearer {key}', 'Content-Type': 'application/json'}
        try:
            async with await self._post(url, payload, timeout, headers) as upstream:
                if upstream.status != 200:
                    text = await upstream.text(errors='replace')
                    raise self._upstream_status(upstream.status, text, where, body, secret)
                if streaming:
                    return await replies.stream(request, upstream, where, secret)
                data = await upstream.read()
                try:
                    reply = json.loads(data)
                except ValueError:
                    reply = None
                if isinstance(reply, dict) and isinstance(reply.get('choices'), list):
                    try:
                        return replies.answer(reply, data)
                    except responses_api.UpstreamError:
                        pass
                quoted = quote_reply(data.decode(errors='replace'), secret)
                raise GatewayError(
                    502, f"{where} did not answer with a chat completion: '{quoted}'")
        except asyncio.TimeoutError:
            raise GatewayError(504, f'{where} did not answer within request_timeout '
                                    f'({settings.request_timeout:g} s)') from None
        except aiohttp.ClientConnectorError as error:
            raise GatewayError(502, f'cannot reach {where} ({quote_reply(str(error), secret)});'
                                    f' is it running? Ollama: `ollama serve`') from None
        except aiohttp.ClientError as error:
            raise GatewayError(502, f'the connection to {where} broke mid-reply '
                                    f'({quote_reply(str(error), secret)})') from None

    async def _post(self, url: str, payload: bytes, timeout: aiohttp.ClientTimeout,
                    headers: dict[str, str]) -> aiohttp.ClientResponse:
        """
        POST to the server; again if a pooled connection closed before any reply.

        A server may close a kept-alive connection just as the pool hands it out (one that
        closed every stream's connection without saying so did this to 15 of 200 streams
        under 8 clients): the request then fails while it is written or before any reply.
        aiohttp retries only idempotent methods; a chat completion that got no reply at
        all is sent again.
        """
        assert self._session is not None
        # Each failure drops its connection from the pool, which holds about one idle
        # connection per request slot: after that many retries, a failure is the server's.
        for _ in range(self.backend.slots.limit):
            try:
                return await self._session.post(url, data=payload, timeout=timeout,
                                                headers=headers)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as error:
                if isinstance(error, aiohttp.ClientConnectorError):
                    raise  # no connection at all: the server is down
        return await self._session.post(url, data=payload, timeout=timeout, headers=headers)

    def _upstream_status(self, status: int, text: str, where: str, body: dict[str, Any],
                         secret: str) -> GatewayError:
        reply = quote_reply(text, secret)
        if status == 404:
            return GatewayError(404, f"{where} does not know model '{body.get('model')}' "
                                     f'(HTTP 404: {reply}); pull it with `ollama pull '
                                     f"{body.get('model')}`")
        if 400 <= status < 500 and status not in (401, 403, 429):
            return GatewayError(status, f'{where} refused the request (HTTP {status}: {reply})')
        return GatewayError(502, f'{where} answered HTTP {status}: {reply}')

    # --- models, health, alerts, status page ----------------------------------------------

    async def _upstream_models(self, settings: VlmSettings) -> list[dict[str, Any]]:
        key = settings.api_key or os.environ.get('OPENAI_API_KEY') or 'none'
        where = f'the VLM server at {settings.base_url}'
        assert self._session is not None
        try:
            async with self._session.get(
                    settings.base_url.rstrip('/') + '/models',
                    timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT),
                    headers={'Authorization': f'Bearer {key}'}) as upstream:
                text = await upstream.text(errors='replace')
                if upstream.status != 200:
                    raise GatewayError(502, f'{where} answered HTTP {upstream.status}: '
                                            f'{quote_reply(text, secret_to_redact(key))}')
                data = json.loads(text).get('data')
                if not isinstance(data, list):
                    raise ValueError('no data')
                return [m for m in data if isinstance(m, dict) and isinstance(m.get('id'), str)]
        except asyncio.TimeoutError:
            raise GatewayError(504, f'{where} did not list its models within '
                                    f'{PROBE_TIMEOUT:g} s') from None
        except aiohttp.ClientError as error:
            raise GatewayError(502, f'cannot reach {where} ({error})') from None
        except (ValueError, AttributeError):
            raise GatewayError(502, f'{where} did not answer with a model list') from None

    async def _models(self, request: web.Request) -> web.Response:
        settings = self.backend.settings()
        models = await self._upstream_models(settings)
        topics = await asyncio.get_running_loop().run_in_executor(
            None, self.backend.image_topics)
        cameras = self._camera_names()
        listed = []
        for model in models:
            listed.append(model)
            # '+camera' is listed once; 'latest' always means the default camera.
            for suffix in [CAMERA_SUFFIX] + ['+' + name for name in cameras
                                             if name not in ('camera', DEFAULT_CAMERA)] \
                    + ['+' + topic for topic in topics]:
                listed.append(dict(model, id=model['id'] + suffix,
                                   owned_by='jetson_vlm_ros'))
        return web.json_response({'object': 'list', 'data': listed})

    async def _health(self, request: web.Request) -> web.Response:
        settings = self.backend.settings()
        server: dict[str, Any] = {'base_url': settings.base_url, 'model': settings.model}
        try:
            models = [m['id'] for m in await self._upstream_models(settings)]
            server.update(reachable=True, model_present=settings.model in models)
        except GatewayError as error:
            server.update(reachable=False, model_present=False, error=error.message)
        loop = asyncio.get_running_loop()
        camera = await loop.run_in_executor(None, self.backend.camera_state)
        cameras = {name: await loop.run_in_executor(None, self.backend.camera_state, name)
                   for name in self._camera_names()}

        def fresh(state: dict[str, Any]) -> bool:
            age = state.get('age_s')
            return age is not None and (settings.max_image_age == 0
                                        or age <= settings.max_image_age)

        healthy = server['reachable'] and server['model_present'] and fresh(camera) \
            and all(map(fresh, cameras.values()))
        return web.json_response({
            'status': 'ok' if healthy else 'degraded',
            'camera': camera, 'cameras': cameras, 'server': server,
            'requests_in_flight': self.backend.slots.in_flight,
            'max_concurrent_requests': self.backend.slots.limit,
        })

    async def _alerts(self, request: web.Request) -> web.Response:
        return web.json_response(self.backend.alert_state())

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self.backend.status())

    async def _frame(self, request: web.Request) -> web.Response:
        # ?camera=<name>: a named camera's frame; none: the default camera's.
        name = request.query.get('camera') or None
        if name is not None and name not in self._camera_names():
            raise GatewayError(404, unknown_camera(name, self._camera_names()),
                               param='camera')
        jpeg = await asyncio.get_running_loop().run_in_executor(
            None, self.backend.status_frame, self.backend.settings(), name)
        if jpeg is None:
            raise GatewayError(404, 'no camera frame received yet' if name is None
                               else f"no frame received yet from camera '{name}'")
        return web.Response(body=jpeg, content_type='image/jpeg',
                            headers={'Cache-Control': 'no-store'})

    async def _index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(os.path.join(STATUS_PAGE_DIR, 'index.html'))
