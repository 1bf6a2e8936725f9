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
OpenAI's Responses API on top of chat completions (no ROS, no HTTP).

The gateway's `POST /v1/responses` is stateless, as Ollama serves it: a request becomes a
chat-completions body (`chat_request`), the server's chat completion becomes a Response
object (`completion_to_response`), and a streamed completion's chunks become the Responses
event stream (`ResponsesEventStream`), so the VLM server needs to speak chat completions
only. Function tools pass through: the request's tools and tool_choice, its function_call
and function_call_output items, and the server's tool calls (answered or streamed) as
function_call output items; the client runs the functions. Whatever needs stored state
(`previous_response_id`, conversations, background runs) or runs at OpenAI (built-in tools)
is refused with a RequestError naming the parameter.
"""

from dataclasses import dataclass
import json
import secrets
from typing import Any, Optional

# Request fields honoured: translated into the chat-completions body.
HONOURED = ('model', 'input', 'instructions', 'max_output_tokens', 'temperature', 'top_p',
            'text', 'stream', 'reasoning', 'tools', 'tool_choice', 'parallel_tool_calls')
# Request fields accepted and not acted upon: hints with no effect on a stateless local
# model. `store` is among them: the openai client sends none, Ollama ignores it, and a
# client that sets it still gets its answer (the Response says `store: false`).
IGNORED = ('metadata', 'user', 'safety_identifier', 'prompt_cache_key',
           'prompt_cache_retention', 'service_tier', 'stream_options', 'max_tool_calls',
           'truncation', 'store')
# Accepted only with the value that asks for nothing (or None): the openai client and n8n
# may send such defaults. Anything else is refused, naming the parameter.
ONLY_EMPTY = ('previous_response_id', 'conversation', 'prompt', 'background',
              'include', 'top_logprobs', 'access_programs',
              'background_options', 'context_management', 'image', 'moderation',
              'prompt_cache_options')
# Why each of those is refused when it asks for something.
_REFUSALS = {
    'previous_response_id': 'this gateway stores no responses (stateless, as Ollama serves '
                            '/v1/responses): send the whole conversation in `input`',
    'conversation': 'this gateway stores no conversations: send the whole conversation in '
                    '`input`',
    'prompt': 'stored prompt templates are not available here: send `instructions` and '
              '`input`',
    'background': 'background responses need stored state: send the request without '
                  '`background` (stream it instead)',
    'include': "nothing can be included here but 'reasoning.encrypted_content'",
    'top_logprobs': 'log probabilities are not available at this gateway',
}
# `include` entries that ask for nothing this gateway would have to keep or compute.
INCLUDABLE = ('reasoning.encrypted_content',)
_ROLES = {'user': 'user', 'assistant': 'assistant', 'system': 'system',
          'developer': 'system'}
_FINISH = {'length': 'max_output_tokens', 'content_filter': 'content_filter'}
# What a function tool may say; other fields (OpenAI's tool search, programmatic callers)
# are refused unless null.
_FUNCTION_TOOL_KEYS = ('type', 'name', 'description', 'parameters', 'strict')
_TOOL_CHOICES = ('auto', 'none', 'required')


class RequestError(ValueError):
    """A request this gateway refuses (HTTP 400), with the parameter at fault."""

    def __init__(self, message: str, param: Optional[str] = None) -> None:
        super().__init__(message)
        self.param = param


class UpstreamError(ValueError):
    """The server's answer is not a chat completion (or chunk) that can be translated."""


@dataclass(frozen=True)
class Translation:
    """A Responses request as a chat-completions body, and what its Response echoes."""

    chat: dict[str, Any]
    echo: dict[str, Any]

    @property
    def stream(self) -> bool:
        """Return whether the client asked for the event stream."""
        return self.chat.get('stream') is True


def new_id(prefix: str) -> str:
    """Return an id in OpenAI's shape ('resp_…', 'msg_…')."""
    return f'{prefix}_{secrets.token_hex(24)}'


# --- request -------------------------------------------------------------------------------

def chat_request(body: dict[str, Any]) -> Translation:
    """Translate a Responses request; raise RequestError for what is refused or malformed."""
    for name, value in body.items():
        if name in HONOURED or name in IGNORED:
            continue
        if name in ONLY_EMPTY:
            if _asks_nothing(name, value):
                continue
            why = _REFUSALS.get(name, 'it asks for more than this gateway does')
            raise RequestError(f"'{name}' is not supported: {why}", name)
        raise RequestError(f"unknown parameter: '{name}'", name)
    messages = []
    instructions = body.get('instructions')
    if instructions is not None:
        if not isinstance(instructions, str):
            raise RequestError("'instructions' must be a string", 'instructions')
        messages.append({'role': 'system', 'content': instructions})
    messages.extend(_input_messages(body.get('input')))
    chat: dict[str, Any] = {'messages': messages}
    chat_tools, echo_tools = _tools(body.get('tools'))
    chat_choice, echo_choice = _tool_choice(body.get('tool_choice'),
                                            [tool['name'] for tool in echo_tools])
    parallel = body.get('parallel_tool_calls')
    if parallel is not None and not isinstance(parallel, bool):
        raise RequestError("'parallel_tool_calls' must be true or false", 'parallel_tool_calls')
    # Chat completions refuse tool_choice and parallel_tool_calls without tools (OpenAI
    # does): sent only with tools, which is also all they mean.
    if chat_tools:
        chat['tools'] = chat_tools
        if chat_choice is not None:
            chat['tool_choice'] = chat_choice
        if parallel is not None:
            chat['parallel_tool_calls'] = parallel
    model = body.get('model')
    if model is not None:
        if not isinstance(model, str):
            raise RequestError("'model' must be a string", 'model')
        chat['model'] = model
    _copy_number(body, chat, 'temperature', 'temperature', float)
    _copy_number(body, chat, 'top_p', 'top_p', float)
    _copy_number(body, chat, 'max_output_tokens', 'max_tokens', int)
    text = body.get('text')
    text_format = _text_format(text)
    if text_format is not None:
        chat['response_format'] = text_format
    reasoning = body.get('reasoning')
    if reasoning is not None:
        if not isinstance(reasoning, dict):
            raise RequestError("'reasoning' must be an object", 'reasoning')
        if reasoning.get('effort') is not None:
            chat['reasoning_effort'] = reasoning['effort']
    stream = body.get('stream')
    if stream not in (None, True, False):
        raise RequestError("'stream' must be true or false", 'stream')
    if stream:
        # Usage comes in a last chunk only when asked for (Ollama, vLLM, OpenAI).
        chat['stream'] = True
        chat['stream_options'] = {'include_usage': True}
    echo = {
        'model': model,
        'instructions': instructions,
        'max_output_tokens': body.get('max_output_tokens'),
        'temperature': body.get('temperature'),
        'top_p': body.get('top_p'),
        'text': {'format': (text or {}).get('format') or {'type': 'text'}},
        'reasoning': reasoning or {'effort': None, 'summary': None},
        'metadata': body.get('metadata') or {},
        'user': body.get('user'),
        'parallel_tool_calls': True if parallel is None else parallel,
        'tools': echo_tools,
        'tool_choice': echo_choice,
        'truncation': body.get('truncation') or 'disabled',
        'service_tier': body.get('service_tier') or 'default',
    }
    return Translation(chat, echo)


def _asks_nothing(name: str, value: Any) -> bool:
    """Return whether value, for a parameter of ONLY_EMPTY, asks for nothing."""
    if value is None:
        return True
    if name == 'background':
        return value is False
    if name == 'include':
        return isinstance(value, list) and all(entry in INCLUDABLE for entry in value)
    if name == 'top_logprobs':
        return type(value) is int and value == 0
    return False


def _tools(given: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the function tools as chat completions' tools and as the Response echoes them."""
    if given is None:
        return [], []
    if not isinstance(given, list):
        raise RequestError("'tools' must be an array of tools", 'tools')
    chat: list[dict[str, Any]] = []
    echo: list[dict[str, Any]] = []
    for index, tool in enumerate(given):
        where = f'tools[{index}]'
        if not isinstance(tool, dict):
            raise RequestError(f'{where} must be an object', where)
        kind = tool.get('type')
        if kind != 'function':
            # Built-in tools (web_search, file_search, computer_use, code_interpreter, mcp,
            # image_generation, ...) run at OpenAI's side: nothing here could run them.
            raise RequestError(
                f'{where} of type {json.dumps(kind)[:60]} is not supported: built-in tools '
                f"are not available at this gateway; only function tools (type 'function', "
                f'run by the client) are', 'tools')
        for key, value in tool.items():
            if key not in _FUNCTION_TOOL_KEYS and value is not None:
                raise RequestError(f'{where}.{key} is not supported here (a function tool '
                                   f"takes {', '.join(_FUNCTION_TOOL_KEYS)})", f'{where}.{key}')
        name = tool.get('name')
        if not isinstance(name, str) or not name:
            raise RequestError(f'{where}.name must be a non-empty string', f'{where}.name')
        if any(known['name'] == name for known in echo):
            raise RequestError(f'{where}.name: two tools are named {json.dumps(name)[:60]}',
                               f'{where}.name')
        function: dict[str, Any] = {'name': name}
        for key, kinds, what in (('description', str, 'a string'),
                                 ('parameters', dict, 'a JSON Schema object'),
                                 ('strict', bool, 'true or false')):
            value = tool.get(key)
            if value is None:
                continue
            if not isinstance(value, kinds):
                raise RequestError(f'{where}.{key} must be {what}', f'{where}.{key}')
            function[key] = value
        chat.append({'type': 'function', 'function': function})
        echo.append({'type': 'function', 'name': name, 'description': tool.get('description'),
                     'parameters': tool.get('parameters'), 'strict': tool.get('strict')})
    return chat, echo


def _tool_choice(given: Any, names: list[str]) -> tuple[Any, Any]:
    """Return tool_choice as chat completions take it (None: leave out) and as echoed."""
    if given is None:
        return None, 'auto'
    if given in _TOOL_CHOICES:
        if given == 'required' and not names:
            raise RequestError("'tool_choice' 'required' needs function tools in 'tools'",
                               'tool_choice')
        return given, given
    if isinstance(given, dict) and given.get('type') == 'function':
        name = given.get('name')
        if name not in names:
            raise RequestError(f"'tool_choice' names the function {json.dumps(name)[:60]}, "
                               f"which is not among the function tools in 'tools'",
                               'tool_choice.name')
        return {'type': 'function', 'function': {'name': name}}, \
            {'type': 'function', 'name': name}
    raise RequestError(f"'tool_choice' {json.dumps(given)[:80]} is not supported: only "
                       f"'auto', 'none', 'required' or {{\"type\": \"function\", \"name\": "
                       f'...}} naming a function tool', 'tool_choice')


def _copy_number(body: dict[str, Any], chat: dict[str, Any], name: str, chat_name: str,
                 kind: type) -> None:
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or (kind is int and not isinstance(value, int)):
        raise RequestError(f"'{name}' must be {'an integer' if kind is int else 'a number'}",
                           name)
    if kind is int and value < 1:
        raise RequestError(f"'{name}' must be at least 1", name)
    chat[chat_name] = value


def _text_format(text: Any) -> Optional[dict[str, Any]]:
    """Return text.format as chat completions' response_format (None for plain text)."""
    if text is None:
        return None
    if not isinstance(text, dict):
        raise RequestError("'text' must be an object", 'text')
    fmt = text.get('format')
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise RequestError("'text.format' must be an object", 'text.format')
    kind = fmt.get('type')
    if kind == 'text':
        return None
    if kind == 'json_object':
        return {'type': 'json_object'}
    if kind == 'json_schema':
        schema = fmt.get('schema')
        if not isinstance(schema, dict):
            raise RequestError("'text.format.schema' must be a JSON Schema object",
                               'text.format.schema')
        name = fmt.get('name') or 'response'
        if not isinstance(name, str):
            raise RequestError("'text.format.name' must be a string", 'text.format.name')
        json_schema: dict[str, Any] = {'name': name, 'schema': schema}
        for key in ('strict', 'description'):
            if fmt.get(key) is not None:
                json_schema[key] = fmt[key]
        return {'type': 'json_schema', 'json_schema': json_schema}
    raise RequestError(f"'text.format.type' must be 'text', 'json_object' or 'json_schema', "
                       f'not {json.dumps(kind)[:40]}', 'text.format.type')


def _input_messages(given: Any) -> list[dict[str, Any]]:
    if isinstance(given, str):
        return [{'role': 'user', 'content': given}]
    if not isinstance(given, list) or not given:
        raise RequestError("'input' must be a string or a non-empty array of messages",
                           'input')
    messages: list[dict[str, Any]] = []
    call_ids: set[str] = set()
    for index, item in enumerate(given):
        where = f'input[{index}]'
        if not isinstance(item, dict):
            raise RequestError(f'{where} must be an object', where)
        kind = item.get('type', 'message')
        if kind == 'function_call':
            call = _function_call(item, where)
            call_ids.add(call['id'])
            last = messages[-1] if messages else None
            if last is not None and last['role'] == 'assistant':
                # One turn of the model: its text and calls, or several calls, are one
                # assistant message in chat completions.
                last.setdefault('tool_calls', []).append(call)
            else:
                messages.append({'role': 'assistant', 'content': '', 'tool_calls': [call]})
        elif kind == 'function_call_output':
            messages.append(_function_output(item, where, call_ids))
        elif kind == 'message':
            messages.append(_message(item, where))
        else:
            raise RequestError(
                f'{where} is an item of type {json.dumps(kind)[:60]}: only messages, '
                f'function_call and function_call_output items are accepted here (no '
                f'built-in tools, no stored items)', f'{where}.type')
    return messages


def _function_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    """Return a function_call input item as a chat completions tool call."""
    fields = {}
    for key in ('call_id', 'name', 'arguments'):
        value = item.get(key)
        if not isinstance(value, str) or (not value and key != 'arguments'):
            what = 'a JSON string' if key == 'arguments' else 'a non-empty string'
            raise RequestError(f'{where}.{key} must be {what}', f'{where}.{key}')
        fields[key] = value
    return {'id': fields['call_id'], 'type': 'function',
            'function': {'name': fields['name'], 'arguments': fields['arguments']}}


def _function_output(item: dict[str, Any], where: str, call_ids: set[str]) -> dict[str, Any]:
    """Return a function_call_output input item as a chat completions tool message."""
    call_id = item.get('call_id')
    if not isinstance(call_id, str) or not call_id:
        raise RequestError(f'{where}.call_id must be a non-empty string', f'{where}.call_id')
    if call_id not in call_ids:
        # Nothing is stored here: the call it answers must be in this same input.
        raise RequestError(f'{where}: no function_call item with call_id '
                           f'{json.dumps(call_id)[:60]} comes before it in input',
                           f'{where}.call_id')
    output = item.get('output')
    if isinstance(output, list):
        texts = []
        for index, part in enumerate(output):
            if not isinstance(part, dict) or part.get('type') != 'input_text' \
                    or not isinstance(part.get('text'), str):
                raise RequestError(f'{where}.output[{index}]: a function output here is text '
                                   f'(input_text parts)', f'{where}.output[{index}]')
            texts.append(part['text'])
        output = ''.join(texts)
    if not isinstance(output, str):
        raise RequestError(f'{where}.output must be a string or an array of input_text parts',
                           f'{where}.output')
    return {'role': 'tool', 'tool_call_id': call_id, 'content': output}


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get('role')
    if role not in _ROLES:
        raise RequestError(f"{where}.role must be 'user', 'assistant', 'system' or "
                           f"'developer'", f'{where}.role')
    content = item.get('content')
    if isinstance(content, str):
        return {'role': _ROLES[role], 'content': content}
    if not isinstance(content, list):
        raise RequestError(f'{where}.content must be a string or an array of parts',
                           f'{where}.content')
    parts = [_part(part, role, f'{where}.content[{index}]')
             for index, part in enumerate(content)]
    if role == 'assistant':
        # A client sending back an earlier answer: chat completions takes it as text.
        return {'role': 'assistant', 'content': ''.join(part['text'] for part in parts)}
    if role != 'user' and any(part['type'] != 'text' for part in parts):
        raise RequestError(f'{where}: only user messages may carry images', f'{where}.content')
    return {'role': _ROLES[role], 'content': parts}


def _part(part: Any, role: str, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise RequestError(f'{where} must be an object', where)
    kind = part.get('type')
    text_kinds = ('output_text', 'refusal', 'input_text') if role == 'assistant' \
        else ('input_text',)
    if kind in text_kinds:
        text = part.get('refusal' if kind == 'refusal' else 'text')
        if not isinstance(text, str):
            raise RequestError(f'{where}.text must be a string', f'{where}.text')
        return {'type': 'text', 'text': text}
    if kind == 'input_image' and role != 'assistant':
        if part.get('file_id') is not None:
            raise RequestError(f'{where}: images by file_id are not available here (no file '
                               f'storage); send image_url: a data: URL, ros://latest, '
                               f'ros://<camera name> or ros:///some/topic', f'{where}.file_id')
        url = part.get('image_url')
        if not isinstance(url, str):
            raise RequestError(f'{where}.image_url must be a string: a data: URL, '
                               f'ros://latest, ros://<camera name> or ros:///some/topic',
                               f'{where}.image_url')
        image: dict[str, Any] = {'url': url}
        if part.get('detail') in ('low', 'high'):
            image['detail'] = part['detail']
        return {'type': 'image_url', 'image_url': image}
    if kind == 'input_file':
        raise RequestError(f'{where}: input_file is not available here (images only: '
                           f'input_image)', f'{where}.type')
    expected = ' or '.join(text_kinds + (() if role == 'assistant' else ('input_image',)))
    raise RequestError(f'{where} has type {json.dumps(kind)[:60]}; a {role} message takes '
                       f'{expected} parts', f'{where}.type')


# --- response ------------------------------------------------------------------------------

def response_object(translation: Translation, response_id: str, created_at: int,
                    status: str, output: list[dict[str, Any]],
                    usage: Optional[dict[str, Any]] = None,
                    model: Optional[str] = None,
                    error: Optional[dict[str, Any]] = None,
                    incomplete: Optional[str] = None) -> dict[str, Any]:
    """Return a Response object ('object': 'response') of the given status and output."""
    echo = translation.echo
    return {
        'id': response_id, 'object': 'response', 'created_at': created_at,
        'status': status, 'background': False, 'error': error,
        'incomplete_details': None if incomplete is None else {'reason': incomplete},
        'instructions': echo['instructions'],
        'max_output_tokens': echo['max_output_tokens'],
        'model': model or translation.chat.get('model') or echo['model'],
        'output': output,
        'parallel_tool_calls': echo['parallel_tool_calls'],
        'previous_response_id': None, 'reasoning': echo['reasoning'],
        'service_tier': echo['service_tier'], 'store': False,
        'temperature': echo['temperature'], 'text': echo['text'],
        'tool_choice': echo['tool_choice'], 'tools': echo['tools'], 'top_p': echo['top_p'],
        'truncation': echo['truncation'], 'usage': usage, 'user': echo['user'],
        'metadata': echo['metadata'],
    }


def message_item(message_id: str, text: str, status: str) -> dict[str, Any]:
    """Return an assistant message output item holding text."""
    return {'id': message_id, 'type': 'message', 'status': status, 'role': 'assistant',
            'content': [text_part(text)]}


def function_call_item(item_id: str, call_id: str, name: str, arguments: str,
                       status: str) -> dict[str, Any]:
    """Return a function_call output item: the model asks the client to run a function."""
    return {'id': item_id, 'type': 'function_call', 'status': status, 'call_id': call_id,
            'name': name, 'arguments': arguments}


def text_part(text: str) -> dict[str, Any]:
    """Return an output_text content part."""
    return {'type': 'output_text', 'text': text, 'annotations': [], 'logprobs': []}


def usage_of(chat_usage: Any) -> Optional[dict[str, Any]]:
    """Return chat completions' usage as the Responses API counts it (None if absent)."""
    if not isinstance(chat_usage, dict):
        return None
    prompt = _count(chat_usage.get('prompt_tokens'))
    completion = _count(chat_usage.get('completion_tokens'))
    total = _count(chat_usage.get('total_tokens')) or prompt + completion
    cached = _count((chat_usage.get('prompt_tokens_details') or {}).get('cached_tokens'))
    reasoning = _count(
        (chat_usage.get('completion_tokens_details') or {}).get('reasoning_tokens'))
    # cache_write_tokens: newer openai clients require the field; a local server writes
    # no prompt cache that is billed.
    return {'input_tokens': prompt,
            'input_tokens_details': {'cached_tokens': cached, 'cache_write_tokens': 0},
            'output_tokens': completion,
            'output_tokens_details': {'reasoning_tokens': reasoning},
            'total_tokens': total}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _status_of(finish_reason: Any) -> tuple[str, Optional[str]]:
    """Return (status, incomplete reason) for a chat finish_reason."""
    reason = _FINISH.get(finish_reason)
    return ('completed', None) if reason is None else ('incomplete', reason)


def completion_to_response(completion: Any, translation: Translation, response_id: str,
                           message_id: str, created_at: int) -> dict[str, Any]:
    """Translate a chat completion; raise UpstreamError when it holds no message."""
    choices = completion.get('choices') if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict) \
            or not isinstance(choices[0].get('message'), dict):
        raise UpstreamError('the chat completion holds no message')
    choice = choices[0]
    text = _text_of(choice['message'].get('content'))
    calls = _tool_calls_of(choice['message'].get('tool_calls'))
    status, incomplete = _status_of(choice.get('finish_reason'))
    # Text first, then the calls, as OpenAI orders them; a bare call has no message item.
    output = [message_item(message_id, text, status)] if text or not calls else []
    output += [function_call_item(new_id('fc'), call_id, name, arguments, status)
               for call_id, name, arguments in calls]
    return response_object(
        translation, response_id, created_at, status, output,
        usage_of(completion.get('usage')), completion.get('model'), incomplete=incomplete)


def _tool_calls_of(given: Any) -> list[tuple[str, str, str]]:
    """Return a chat message's tool calls as (call_id, name, arguments)."""
    if given is None:
        return []
    if not isinstance(given, list):
        raise UpstreamError('the tool_calls of the chat completion are not an array')
    calls = []
    for call in given:
        function = call.get('function') if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get('name'), str) \
                or not function['name']:
            raise UpstreamError('a tool call of the chat completion names no function')
        call_id = call.get('id')
        if not isinstance(call_id, str) or not call_id:
            call_id = new_id('call')  # the client needs one to send the output back
        calls.append((call_id, function['name'], _arguments_text(function.get('arguments'))))
    return calls


def _arguments_text(arguments: Any) -> str:
    """Return a tool call's arguments as the JSON string the Responses API carries."""
    if isinstance(arguments, str):
        return arguments
    # Some servers give the arguments as an object (Ollama's own API does), or none.
    return json.dumps({} if arguments is None else arguments)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some servers answer in parts
        return ''.join(part.get('text') or '' for part in content if isinstance(part, dict))
    return ''


# --- streams -------------------------------------------------------------------------------

class SseDecoder:
    """Split a server-sent event stream into the payloads of its `data:` lines."""

    def __init__(self) -> None:
        self._buffer = b''

    def feed(self, chunk: bytes) -> list[str]:
        """Return the data payloads of the complete lines received so far."""
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b'\n')
        payloads = []
        for line in lines:
            line = line.rstrip(b'\r')
            if line.startswith(b'data:'):
                payloads.append(line[5:].strip().decode('utf-8', errors='replace'))
        return payloads


def encode_event(event: dict[str, Any]) -> bytes:
    """Return one Responses event as SSE, named as OpenAI names it (`event:` and `data:`)."""
    return (f"event: {event['type']}\ndata: ".encode() + json.dumps(event).encode()
            + b'\n\n')


@dataclass
class _StreamedCall:
    """One tool call of a stream, assembled from its deltas."""

    call_id: str = ''
    name: str = ''
    arguments: str = ''
    item_id: str = ''
    output_index: Optional[int] = None  # None until its output_item.added went out


class ResponsesEventStream:
    """
    Turn a streamed chat completion into the Responses event stream.

    start() before the first chunk, feed() each `data:` payload, then finish() when the
    stream ended or fail() when it broke: each returns the events to send, numbered by
    `sequence_number`. Output items take their output_index in the order they first appear:
    one assistant message with one output_text part (content_index 0) carries the text, and
    each tool call of the server becomes a function_call item whose arguments stream as
    deltas. Every item is closed at the end, in output_index order.
    """

    def __init__(self, translation: Translation, response_id: str, message_id: str,
                 created_at: int) -> None:
        self._translation = translation
        self._response_id = response_id
        self._message_id = message_id
        self._created_at = created_at
        self._sequence = 0
        self._text: list[str] = []
        self._message_index: Optional[int] = None
        self._calls: dict[Any, _StreamedCall] = {}
        self._last_call: Any = None
        self._next_index = 0
        self._finish_reason: Optional[str] = None
        self._usage: Optional[dict[str, Any]] = None
        self._model: Optional[str] = None
        self.done = False  # the server sent `data: [DONE]`
        self.ended = False  # finish() or fail() ran: nothing more may be sent

    @property
    def text(self) -> str:
        """Return the text streamed so far."""
        return ''.join(self._text)

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {'type': kind, 'sequence_number': self._sequence, **fields}
        self._sequence += 1
        return event

    def _response(self, status: str, output: list[dict[str, Any]],
                  error: Optional[dict[str, Any]] = None,
                  incomplete: Optional[str] = None) -> dict[str, Any]:
        return response_object(self._translation, self._response_id, self._created_at,
                               status, output, self._usage, self._model, error, incomplete)

    def start(self) -> list[dict[str, Any]]:
        """Return response.created and response.in_progress."""
        return [self._event('response.created', response=self._response('in_progress', [])),
                self._event('response.in_progress',
                            response=self._response('in_progress', []))]

    def _open(self) -> list[dict[str, Any]]:
        """Return the events that open the message, the first time only."""
        if self._message_index is not None:
            return []
        self._message_index = index = self._next_index
        self._next_index += 1
        item = {'id': self._message_id, 'type': 'message', 'status': 'in_progress',
                'role': 'assistant', 'content': []}
        return [self._event('response.output_item.added', output_index=index, item=item),
                self._event('response.content_part.added', item_id=self._message_id,
                            output_index=index, content_index=0, part=text_part(''))]

    def feed(self, data: str) -> list[dict[str, Any]]:
        """Return the events for one `data:` payload; raise UpstreamError for a bad one."""
        if self.ended:
            return []
        if data == '[DONE]':
            self.done = True
            return []
        try:
            chunk = json.loads(data)
        except ValueError:
            raise UpstreamError(f'a chunk of the stream is not JSON: {data[:200]}') from None
        if not isinstance(chunk, dict):
            raise UpstreamError(f'a chunk of the stream is not an object: {data[:200]}')
        if chunk.get('error') is not None:
            error = chunk['error']
            message = error.get('message') if isinstance(error, dict) else error
            raise UpstreamError(f'the stream reported an error: {message}')
        if isinstance(chunk.get('model'), str):
            self._model = chunk['model']
        usage = usage_of(chunk.get('usage'))
        if usage is not None:
            self._usage = usage
        events = []
        for choice in chunk.get('choices') or []:
            if not isinstance(choice, dict) or choice.get('index', 0) != 0:
                continue
            delta = choice.get('delta') if isinstance(choice.get('delta'), dict) else {}
            piece = _text_of(delta.get('content'))
            if piece:
                events += self._open()
                self._text.append(piece)
                events.append(self._event(
                    'response.output_text.delta', item_id=self._message_id,
                    output_index=self._message_index, content_index=0, delta=piece,
                    logprobs=[]))
            tool_calls = delta.get('tool_calls')
            if tool_calls is not None:
                if not isinstance(tool_calls, list):
                    raise UpstreamError('the tool_calls of a chunk are not an array')
                for call_delta in tool_calls:
                    events += self._feed_call(call_delta)
            if choice.get('finish_reason'):
                self._finish_reason = choice['finish_reason']
        return events

    def _feed_call(self, delta: Any) -> list[dict[str, Any]]:
        """Return the events for one tool-call delta: opening its item, then its arguments."""
        if not isinstance(delta, dict):
            raise UpstreamError('a tool call of a chunk is not an object')
        call = self._call_of(delta)
        if isinstance(delta.get('id'), str) and delta['id'] and not call.call_id:
            call.call_id = delta['id']
        function = delta.get('function') if isinstance(delta.get('function'), dict) else {}
        if isinstance(function.get('name'), str) and function['name'] and not call.name:
            call.name = function['name']
        arguments = function.get('arguments')
        piece = '' if arguments is None else _arguments_text(arguments)
        call.arguments += piece
        if call.output_index is not None:
            return [self._arguments_delta(call, piece)] if piece else []
        if not call.name:
            return []  # the item opens once its name is known; its arguments wait
        call.output_index = self._next_index
        self._next_index += 1
        call.item_id = new_id('fc')
        call.call_id = call.call_id or new_id('call')
        events = [self._event('response.output_item.added', output_index=call.output_index,
                              item=function_call_item(call.item_id, call.call_id, call.name,
                                                      '', 'in_progress'))]
        if call.arguments:
            events.append(self._arguments_delta(call, call.arguments))
        return events

    def _call_of(self, delta: dict[str, Any]) -> _StreamedCall:
        """Return the call a delta belongs to: by its index, else by its id, else the last."""
        index = delta.get('index')
        if isinstance(index, int) and not isinstance(index, bool):
            key: Any = ('index', index)
        elif isinstance(delta.get('id'), str) and delta['id']:
            key = ('id', delta['id'])  # servers that number no calls give each its id
        elif self._last_call is not None:
            key = self._last_call
        else:
            key = ('index', 0)
        self._last_call = key
        return self._calls.setdefault(key, _StreamedCall())

    def _arguments_delta(self, call: _StreamedCall, piece: str) -> dict[str, Any]:
        return self._event('response.function_call_arguments.delta', item_id=call.item_id,
                           output_index=call.output_index, delta=piece)

    def _opened_calls(self) -> list[_StreamedCall]:
        return sorted((call for call in self._calls.values() if call.output_index is not None),
                      key=lambda call: call.output_index)

    def _items(self, status: str) -> list[dict[str, Any]]:
        """Return the output items opened so far, in output_index order."""
        items: list[tuple[int, dict[str, Any]]] = [
            (call.output_index, function_call_item(call.item_id, call.call_id, call.name,
                                                   call.arguments, status))
            for call in self._opened_calls()]
        if self._message_index is not None:
            items.append((self._message_index, message_item(self._message_id, self.text,
                                                            status)))
        return [item for _, item in sorted(items, key=lambda pair: pair[0])]

    def finish(self) -> list[dict[str, Any]]:
        """
        Return the closing events once the server's stream has ended.

        A stream that ended with neither `[DONE]` nor a finish_reason was cut short: it
        fails rather than pretend to be complete, as does one with a nameless tool call.
        """
        if self.ended:
            return []
        if not self.done and self._finish_reason is None:
            return self.fail('the stream ended before the answer was complete')
        if any(not call.name for call in self._calls.values()):
            return self.fail('the stream sent a tool call that names no function')
        self.ended = True
        status, incomplete = _status_of(self._finish_reason)
        events = self._open() if not self._calls else []  # an empty answer: an empty message
        items = self._items(status)
        for index, item in enumerate(items):
            if item['type'] == 'message':
                text = self.text
                events += [
                    self._event('response.output_text.done', item_id=item['id'],
                                output_index=index, content_index=0, text=text, logprobs=[]),
                    self._event('response.content_part.done', item_id=item['id'],
                                output_index=index, content_index=0, part=text_part(text))]
            else:
                events.append(self._event(
                    'response.function_call_arguments.done', item_id=item['id'],
                    output_index=index, name=item['name'], arguments=item['arguments']))
            events.append(self._event('response.output_item.done', output_index=index,
                                      item=item))
        kind = 'response.completed' if status == 'completed' else 'response.incomplete'
        events.append(self._event(kind, response=self._response(
            status, items, incomplete=incomplete)))
        return events

    def fail(self, message: str) -> list[dict[str, Any]]:
        """Return an `error` event and response.failed: the stream broke mid-answer."""
        if self.ended:
            return []
        self.ended = True
        return [
            self._event('error', code='server_error', message=message, param=None),
            self._event('response.failed', response=self._response(
                'failed', self._items('incomplete'),
                error={'code': 'server_error', 'message': message})),
        ]
