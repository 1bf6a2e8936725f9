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
Ask an OpenAI-compatible chat-completions server (Ollama, vLLM, llama.cpp) about an image.

Every failure becomes a VlmError whose text a robot operator can act on; server replies
are quoted to at most REPLY_QUOTE_CHARS characters, and neither the API key nor the image
ever appears in an error.

The openai package (with pydantic and its HTTP stack: about 1.3 s and 60 MB to import) is
imported on first use, not with this module: vlm_node starts its import on a thread of its
own once the node is up (load_openai_in_background), and whoever needs it first waits for
that import instead of starting another.
"""

from dataclasses import dataclass
import importlib.abc
import json
import os
import re
import sys
import threading
from types import ModuleType
from typing import Any, Callable, Optional, Sequence, TYPE_CHECKING

from jetson_vlm_ros.model.streaming import (
    Cancellation, ConnectionTracer, shutdown_socket, StreamCancelled)

if TYPE_CHECKING:
    import openai

REPLY_QUOTE_CHARS = 200
# Imported by openai when installed, for an asyncio client this package never uses (recent
# openai releases: their aiohttp transport, 0.2 s and 35 MB). Left out of the openai import;
# the gateway, which does use aiohttp, imports it itself.
UNUSED_BY_OPENAI_CLIENT = ('aiohttp',)

_openai: Optional[ModuleType] = None
_openai_lock = threading.Lock()


class _RefuseOnThisThread(importlib.abc.MetaPathFinder):
    """Makes importing the named packages fail on one thread (others import as usual)."""

    def __init__(self, packages: Sequence[str]) -> None:
        self._packages = tuple(packages)
        self._thread = threading.get_ident()

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split('.')[0] in self._packages and threading.get_ident() == self._thread:
            raise ImportError(f'{fullname} is not needed by vlm_client', name=fullname)
        return None


def load_openai() -> ModuleType:
    """Import openai once and return it; a caller on another thread waits for that import."""
    global _openai
    with _openai_lock:
        if _openai is None:
            finder = _RefuseOnThisThread(UNUSED_BY_OPENAI_CLIENT)
            sys.meta_path.insert(0, finder)
            try:
                import openai
                import openai.types.chat  # noqa: F401 - for ChatCompletion, used per answer
            finally:
                sys.meta_path.remove(finder)
            _openai = openai
        return _openai


def load_openai_in_background() -> threading.Thread:
    """Start importing openai on a daemon thread (a failure shows at the first request)."""
    def load() -> None:
        try:
            load_openai()
        except Exception:  # noqa: B902 - the request that needs openai raises it again
            pass

    thread = threading.Thread(target=load, name='openai-import', daemon=True)
    thread.start()
    return thread


class VlmError(RuntimeError):
    """The VLM request failed; the text says why, for a person to read."""


class VlmClosedError(VlmError):
    """The client was closed (node shutting down) while the request ran."""


@dataclass(frozen=True)
class VlmRequest:
    """One question about one image (or several: labelled_images)."""

    model: str
    prompt: str
    image_data_url: str
    system_prompt: str = ''
    max_tokens: int = 128
    temperature: float = 0.2
    # Several frames: (label, data URL) pairs, oldest first, sent instead of image_data_url.
    labelled_images: tuple[tuple[str, str], ...] = ()
    # The chat-completions response_format (JSON mode or a JSON Schema); None: text.
    response_format: Optional[dict[str, Any]] = None


def _format_option(request: VlmRequest) -> dict[str, Any]:
    # response_format only when asked for: a text request stays as it always was.
    if request.response_format is None:
        return {}
    return {'response_format': request.response_format}


def build_messages(request: VlmRequest) -> list[dict[str, Any]]:
    """Return the chat messages: an optional system message, then the prompt and image."""
    messages: list[dict[str, Any]] = []
    if request.system_prompt:
        messages.append({'role': 'system', 'content': request.system_prompt})
    if request.labelled_images:
        # Each image after the text that announces it; the question comes last.
        content: list[dict[str, Any]] = []
        for label, url in request.labelled_images:
            content.append({'type': 'text', 'text': label})
            content.append({'type': 'image_url', 'image_url': {'url': url}})
        content.append({'type': 'text', 'text': request.prompt})
    else:
        content = [
            {'type': 'text', 'text': request.prompt},
            {'type': 'image_url', 'image_url': {'url': request.image_data_url}},
        ]
    messages.append({'role': 'user', 'content': content})
    return messages


# A server may echo the request back in an error: never quote an image from it.
_DATA_URL = re.compile(r'data:[\w/+.-]*;base64,[A-Za-z0-9+/=\\]*')


def quote_reply(text: str, secret: str = '') -> str:
    """Shorten a server reply for an error message, without images or the API key."""
    text = _DATA_URL.sub('data:<image omitted>', text)
    if secret:
        for form in _quoted_forms(secret):
            text = text.replace(form, '<api_key>')
    text = ' '.join(text.split())
    if len(text) > REPLY_QUOTE_CHARS:
        return text[:REPLY_QUOTE_CHARS] + '...'
    return text


# The cancellation of the stream the current thread is opening, for _trace_new_connection.
_opening_stream = threading.local()


def _trace_new_connection(request: Any) -> None:
    # An httpx request hook: runs on the thread that sends the request, before it connects.
    cancellation: Optional[Cancellation] = getattr(_opening_stream, 'cancellation', None)
    if cancellation is not None:
        request.extensions['trace'] = ConnectionTracer(
            lambda sock: cancellation.on_cancel(lambda: shutdown_socket(sock)))


def _http_client_with_hook(hook: Callable[[Any], None]) -> Any:
    """Return an HTTP client with openai's defaults that calls hook before each request."""
    default_client = getattr(load_openai(), 'DefaultHttpxClient', None)
    if default_client is not None:
        return default_client(event_hooks={'request': [hook]})
    # openai < 1.17 (Ubuntu 24.04's python3-openai is 1.12) has no DefaultHttpxClient; its
    # HTTP library is httpx, and its own client follows redirects as this one does.
    import httpx
    return httpx.Client(follow_redirects=True, event_hooks={'request': [hook]})


def _is_transport_error(error: BaseException) -> bool:
    # httpx's (and httpx2's) connection errors all derive from a class named TransportError;
    # matched by name, as which library openai uses depends on its version.
    return any(cls.__name__ == 'TransportError' for cls in type(error).__mro__)


def _chunk_text(chunk: Any) -> str:
    choices = getattr(chunk, 'choices', None)
    if not choices:
        return ''
    delta = getattr(choices[0], 'delta', None)
    return (getattr(delta, 'content', None) or '') if delta is not None else ''


def _quoted_forms(secret: str) -> list[str]:
    # A server echoing the key inside JSON escapes quotes and backslashes; Go's encoder
    # (Ollama) also escapes <, > and &. Longest first, so no form is left half-blanked.
    json_form = json.dumps(secret)[1:-1]
    go_form = (json_form.replace('<', '\\u003c').replace('>', '\\u003e')
               .replace('&', '\\u0026'))
    return sorted({secret, json_form, go_form}, key=len, reverse=True)


# Keys that are no secret: Ollama ignores the key, and blanking 'ollama' would garble
# replies that mention Ollama.
PLACEHOLDER_KEYS = ('ollama', 'none', '')


def secret_to_redact(api_key: str) -> str:
    """Return what quoted replies must blank out: any real key, however short; '' for none."""
    return '' if api_key in PLACEHOLDER_KEYS else api_key


class VlmClient:
    """One connection pool to one server; safe to share between threads."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        # An empty key parameter means the environment's OPENAI_API_KEY: a key kept there
        # never shows up in `ros2 param dump`. Ollama accepts any key.
        key = api_key or os.environ.get('OPENAI_API_KEY') or 'none'
        self._secret = secret_to_redact(key)
        openai = load_openai()
        # No retries: a retry after a timeout would double the caller's wait; the caller
        # (a service client or the caption timer) decides when to ask again.
        self._client = openai.OpenAI(
            base_url=base_url, api_key=key, timeout=timeout, max_retries=0)
        self._key = key
        self._stream_client: Optional[openai.OpenAI] = None
        self._stream_client_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """Close the pooled connections; requests still running fail with VlmClosedError."""
        self._closed = True
        self._client.close()
        with self._stream_client_lock:
            if self._stream_client is not None:
                self._stream_client.close()

    def _streaming_client(self) -> 'openai.OpenAI':
        openai = load_openai()
        # Streams get a pool of their own whose connections are never reused (each request
        # says `Connection: close`): every stream opens its own connection, and the request
        # hook learns its socket, which a cancel shuts down even before the first byte.
        with self._stream_client_lock:
            if self._stream_client is None:
                self._stream_client = openai.OpenAI(
                    base_url=self.base_url, api_key=self._key, timeout=self.timeout,
                    max_retries=0, http_client=_http_client_with_hook(_trace_new_connection))
            return self._stream_client

    def stream(self, request: VlmRequest, on_text: Callable[[str, int], None],
               cancellation: Cancellation) -> str:
        """
        Ask with `stream: true`; call on_text(answer so far, chunks) as chunks arrive.

        Returns the whole answer. Raises StreamCancelled (with the text so far) once
        cancellation is cancelled, which also closes the connection at once, and VlmError
        with the same reasons as complete() for every failure.
        """
        if cancellation.cancelled:
            raise StreamCancelled()
        openai = load_openai()
        client = self._streaming_client()
        text, chunks, events = '', 0, 0
        stream = None
        _opening_stream.cancellation = cancellation
        try:
            stream = client.chat.completions.create(
                model=request.model,
                messages=build_messages(request),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                stream=True,
                extra_headers={'Connection': 'close'},
                **_format_option(request),
            )
            for chunk in stream:
                events += 1
                if cancellation.cancelled:
                    break
                piece = _chunk_text(chunk)
                if piece:
                    text += piece
                    chunks += 1
                    on_text(text, chunks)
        except RuntimeError:  # httpx: 'Cannot send a request, as the client has been closed'
            if self._closed:
                raise VlmClosedError('the VLM client was closed (shutting down)') from None
            raise
        except openai.APIError as error:
            if cancellation.cancelled:
                raise StreamCancelled(text) from None
            self._raise_if_closed()
            raise VlmError(self._explain(error, request.model)) from None
        except json.JSONDecodeError:
            if cancellation.cancelled:
                raise StreamCancelled(text) from None
            raise VlmError(self._not_a_completion(
                'a stream event that is not valid JSON')) from None
        except Exception as error:  # noqa: B902 - only the HTTP library's, re-raised otherwise
            # openai < 1.17 lets a connection that breaks while the stream is read raise the
            # HTTP library's own error, not an openai.APIConnectionError.
            if not _is_transport_error(error):
                raise
            if cancellation.cancelled:
                raise StreamCancelled(text) from None
            raise VlmError(self._connection_failure(error, request.model)) from None
        finally:
            _opening_stream.cancellation = None
            if stream is not None:
                stream.close()
        if cancellation.cancelled:
            raise StreamCancelled(text)
        if events == 0 and stream is not None:
            content_type = stream.response.headers.get('content-type', '')
            if 'text/event-stream' not in content_type:
                raise VlmError(self._not_a_completion(
                    f"a '{content_type or 'untyped'}' body instead of an event stream"))
        text = text.strip()
        if not text:
            raise VlmError(f'the model at {self.base_url} returned an empty answer')
        return text

    def complete(self, request: VlmRequest) -> str:
        """Send one chat completion and return the model's answer text."""
        openai = load_openai()
        try:
            completion = self._client.chat.completions.create(
                model=request.model,
                messages=build_messages(request),
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                **_format_option(request),
            )
        except openai.APIError as error:
            self._raise_if_closed()
            raise VlmError(self._explain(error, request.model)) from None
        except json.JSONDecodeError:
            raise VlmError(self._not_a_completion('a body that is not valid JSON')) from None
        return self._answer_text(completion)

    def list_models(self, timeout: float) -> list[str]:
        """Return the model names the server offers (GET /models)."""
        openai = load_openai()
        try:
            page = self._client.with_options(timeout=timeout).models.list()
            return [model.id for model in page.data]
        except RuntimeError:  # httpx: 'Cannot send a request, as the client has been closed'
            if self._closed:
                raise VlmClosedError('the VLM client was closed (shutting down)') from None
            raise
        except openai.APIError as error:
            self._raise_if_closed()
            # A model list is tiny: a connection that breaks before it arrived means the
            # server went away (stopped, restarting), so the probe says what fixes that.
            raise VlmError(self._explain(error, model=None, broken_is_unreachable=True)) \
                from None
        except json.JSONDecodeError:
            raise VlmError(self._not_a_completion('a body that is not valid JSON')) from None

    def _raise_if_closed(self) -> None:
        # openai < 1.17 wraps the HTTP library's 'client has been closed' into an
        # APIConnectionError, which would otherwise read as an unreachable server.
        if self._closed:
            raise VlmClosedError('the VLM client was closed (shutting down)') from None

    def _not_a_completion(self, what: str) -> str:
        return f'the VLM server at {self.base_url} did not answer with a chat completion: {what}'

    def _answer_text(self, completion: Any) -> str:
        if not isinstance(completion, load_openai().types.chat.ChatCompletion):
            raise VlmError(self._not_a_completion(
                f"'{quote_reply(str(completion), self._secret)}'"))
        if not completion.choices:
            raise VlmError(f'the VLM server at {self.base_url} answered with no choices')
        message = completion.choices[0].message
        text = (message.content or '').strip() if message is not None else ''
        if not text:
            raise VlmError(f'the model at {self.base_url} returned an empty answer')
        return text

    def _connection_failure(self, cause: Optional[BaseException], model: Optional[str],
                            broken_is_unreachable: bool = False) -> str:
        where = f'the VLM server at {self.base_url}'
        reason = f' ({quote_reply(str(cause), self._secret)})' if cause and str(cause) else ''
        if (type(cause).__name__ in ('RemoteProtocolError', 'ReadError')
                and not broken_is_unreachable):
            return (f'the connection to {where} broke mid-reply{reason}; '
                    f'the server may have crashed or restarted')
        return (f'cannot reach {where}{reason}; is it running? Ollama: `ollama serve`, '
                f'then `ollama pull {model or "gemma3:4b"}`')

    def _explain(self, error: 'openai.APIError', model: Optional[str],
                 broken_is_unreachable: bool = False) -> str:
        openai = load_openai()
        where = f'the VLM server at {self.base_url}'
        if isinstance(error, openai.APITimeoutError):
            return f'{where} did not answer within request_timeout ({self.timeout:g} s)'
        if isinstance(error, openai.APIConnectionError):
            return self._connection_failure(error.__cause__ or error.__context__, model,
                                            broken_is_unreachable)
        if isinstance(error, openai.APIStatusError):
            reply = quote_reply(error.response.text, self._secret)
            if error.status_code == 404 and model:
                return (f"{where} does not know model '{model}' (HTTP 404: {reply}). "
                        f'Pull it with `ollama pull {model}`, or check that base_url is the '
                        f'API root (it usually ends in /v1)')
            return f'{where} answered HTTP {error.status_code}: {reply}'
        if isinstance(error, openai.APIResponseValidationError):
            return f'{where} sent a reply that is not a valid chat completion'
        return f'{where} failed: {quote_reply(str(error), self._secret)}'
