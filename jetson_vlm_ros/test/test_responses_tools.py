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

"""Function tools in the Responses API translation alone (no ROS, no HTTP)."""

import json
from typing import Any, Optional

from jetson_vlm_ros.gateway.responses_api import (
    chat_request, completion_to_response, RequestError, ResponsesEventStream, Translation,
    UpstreamError)
import pytest
from test_responses_api import validate_event, validate_response

RESPONSE_ID, MESSAGE_ID, CREATED = 'resp_1', 'msg_1', 1700000000
WEATHER = {'type': 'function', 'name': 'get_weather', 'description': 'Weather of a city.',
           'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}},
                          'required': ['city']}, 'strict': True}
CLOCK = {'type': 'function', 'name': 'clock', 'parameters': {'type': 'object',
                                                             'properties': {}}}


def with_tools(**fields: Any) -> Translation:
    return chat_request({'model': 'gemma3:4b', 'input': 'x', 'tools': [WEATHER, CLOCK],
                         **fields})


# --- requests ------------------------------------------------------------------------------

def test_function_tools_become_chat_tools():
    translation = with_tools(parallel_tool_calls=False)
    assert translation.chat['tools'] == [
        {'type': 'function', 'function': {
            'name': 'get_weather', 'description': 'Weather of a city.',
            'parameters': WEATHER['parameters'], 'strict': True}},
        {'type': 'function', 'function': {'name': 'clock', 'parameters': CLOCK['parameters']}}]
    assert translation.chat['parallel_tool_calls'] is False
    assert 'tool_choice' not in translation.chat  # the server's default is 'auto'
    assert translation.echo['tools'][1] == {
        'type': 'function', 'name': 'clock', 'description': None,
        'parameters': CLOCK['parameters'], 'strict': None}


@pytest.mark.parametrize('given, chat, echoed', [
    ('auto', 'auto', 'auto'),
    ('none', 'none', 'none'),
    ('required', 'required', 'required'),
    ({'type': 'function', 'name': 'clock'},
     {'type': 'function', 'function': {'name': 'clock'}},
     {'type': 'function', 'name': 'clock'}),
])
def test_tool_choice_is_mapped(given, chat, echoed):
    translation = with_tools(tool_choice=given)
    assert translation.chat['tool_choice'] == chat
    assert translation.echo['tool_choice'] == echoed


def test_without_tools_tool_choice_and_parallel_calls_are_left_out():
    # Chat completions refuse them without tools; they ask for nothing then.
    translation = chat_request({'input': 'x', 'tools': [], 'tool_choice': 'auto',
                                'parallel_tool_calls': True})
    assert translation.chat == {'messages': [{'role': 'user', 'content': 'x'}]}


@pytest.mark.parametrize('kind', ['web_search', 'web_search_preview', 'file_search',
                                  'computer_use_preview', 'code_interpreter', 'mcp',
                                  'image_generation', 'local_shell', 'custom'])
def test_built_in_tools_are_refused_naming_their_type(kind):
    with pytest.raises(RequestError) as caught:
        chat_request({'input': 'x', 'tools': [WEATHER, {'type': kind}]})
    assert caught.value.param == 'tools'
    assert f'tools[1] of type "{kind}" is not supported' in str(caught.value)


@pytest.mark.parametrize('fields, param, says', [
    ({'tools': {'type': 'function'}}, 'tools', 'must be an array'),
    ({'tools': ['get_weather']}, 'tools[0]', 'must be an object'),
    ({'tools': [{'type': 'function'}]}, 'tools[0].name', 'non-empty string'),
    ({'tools': [{**CLOCK, 'parameters': 'none'}]}, 'tools[0].parameters', 'JSON Schema'),
    ({'tools': [{**CLOCK, 'strict': 'yes'}]}, 'tools[0].strict', 'true or false'),
    ({'tools': [{**CLOCK, 'defer_loading': True}]}, 'tools[0].defer_loading',
     'not supported here'),
    ({'tools': [CLOCK, CLOCK]}, 'tools[1].name', 'two tools are named "clock"'),
    ({'tool_choice': 'required'}, 'tool_choice', 'needs function tools'),
    ({'tools': [CLOCK], 'tool_choice': {'type': 'function', 'name': 'get_weather'}},
     'tool_choice.name', 'not among the function tools'),
    ({'tools': [CLOCK], 'tool_choice': {'type': 'web_search'}}, 'tool_choice',
     'is not supported'),
    ({'tools': [CLOCK], 'tool_choice': 'any'}, 'tool_choice', 'is not supported'),
    ({'tools': [CLOCK], 'parallel_tool_calls': 'yes'}, 'parallel_tool_calls',
     'true or false'),
])
def test_malformed_tools_get_a_clear_error(fields, param, says):
    with pytest.raises(RequestError) as caught:
        chat_request({'input': 'x', **fields})
    assert caught.value.param == param, caught.value
    assert says in str(caught.value)


def call_item(call_id: str, name: str = 'get_weather',
              arguments: str = '{"city": "Oslo"}') -> dict[str, Any]:
    return {'type': 'function_call', 'id': 'fc_' + call_id, 'call_id': call_id, 'name': name,
            'arguments': arguments, 'status': 'completed'}


def output_item(call_id: str, output: Any) -> dict[str, Any]:
    return {'type': 'function_call_output', 'call_id': call_id, 'output': output}


def test_calls_and_their_outputs_become_assistant_tool_calls_and_tool_messages():
    translation = chat_request({'tools': [WEATHER, CLOCK], 'input': [
        {'role': 'user', 'content': 'Weather in Oslo, and the time?'},
        call_item('call_1'), call_item('call_2', 'clock', '{}'),
        output_item('call_1', 'rain, 7 C'),
        output_item('call_2', [{'type': 'input_text', 'text': '12:'},
                               {'type': 'input_text', 'text': '30'}]),
    ]})
    assert translation.chat['messages'] == [
        {'role': 'user', 'content': 'Weather in Oslo, and the time?'},
        {'role': 'assistant', 'content': '', 'tool_calls': [  # consecutive calls: one turn
            {'id': 'call_1', 'type': 'function',
             'function': {'name': 'get_weather', 'arguments': '{"city": "Oslo"}'}},
            {'id': 'call_2', 'type': 'function',
             'function': {'name': 'clock', 'arguments': '{}'}}]},
        {'role': 'tool', 'tool_call_id': 'call_1', 'content': 'rain, 7 C'},
        {'role': 'tool', 'tool_call_id': 'call_2', 'content': '12:30'}]


def test_a_call_after_the_models_text_joins_its_message():
    translation = chat_request({'input': [
        {'role': 'user', 'content': 'Weather?'},
        {'type': 'message', 'role': 'assistant', 'id': 'msg_9', 'status': 'completed',
         'content': [{'type': 'output_text', 'text': 'Let me look.', 'annotations': []}]},
        call_item('call_1'), output_item('call_1', 'sun'),
        {'role': 'user', 'content': 'And tomorrow?'}, call_item('call_2')]})
    messages = translation.chat['messages']
    assert messages[1]['content'] == 'Let me look.'
    assert [c['id'] for c in messages[1]['tool_calls']] == ['call_1']
    assert messages[2] == {'role': 'tool', 'tool_call_id': 'call_1', 'content': 'sun'}
    assert messages[4] == {'role': 'assistant', 'content': '', 'tool_calls': [
        {'id': 'call_2', 'type': 'function',
         'function': {'name': 'get_weather', 'arguments': '{"city": "Oslo"}'}}]}


def test_an_n8n_agents_second_turn():
    # What n8n 2.8.4's AI Agent (OpenAI Chat Model, Responses API on) sent with a Calculator
    # tool, recorded at the gateway: its own "Calling ..." text before the call.
    arguments = '{"input":"6*7","id":"call_0_Calculator"}'
    translation = chat_request({
        'input': [
            {'type': 'message', 'role': 'user', 'content': 'What is 6 times 7?'},
            {'type': 'message', 'role': 'assistant',
             'content': f'Calling Calculator with input: {arguments}'},
            {'type': 'function_call', 'name': 'Calculator', 'arguments': arguments,
             'call_id': 'call_0_Calculator'},
            {'type': 'function_call_output', 'call_id': 'call_0_Calculator',
             'output': '[{"response":"42"}]'}],
        'model': 'gemma3:4b', 'stream': False, 'text': {},
        'tools': [{'type': 'function', 'name': 'Calculator', 'parameters': {
            'type': 'object', 'properties': {'input': {'type': 'string'}},
            'additionalProperties': False,
            '$schema': 'http://json-schema.org/draft-07/schema#'},
            'description': 'Useful for getting the result of a math expression.',
            'strict': False}]})
    assert translation.chat['messages'][1:] == [
        {'role': 'assistant', 'content': f'Calling Calculator with input: {arguments}',
         'tool_calls': [{'id': 'call_0_Calculator', 'type': 'function',
                         'function': {'name': 'Calculator', 'arguments': arguments}}]},
        {'role': 'tool', 'tool_call_id': 'call_0_Calculator', 'content': '[{"response":"42"}]'}]
    assert translation.chat['tools'][0]['function']['strict'] is False


@pytest.mark.parametrize('items, param, says', [
    ([output_item('call_7', 'x')], 'input[0].call_id',
     'no function_call item with call_id "call_7" comes before it'),
    ([{**call_item('c'), 'arguments': {'city': 'Oslo'}}], 'input[0].arguments',
     'a JSON string'),
    ([{**call_item('c'), 'name': ''}], 'input[0].name', 'non-empty string'),
    ([{**call_item('c'), 'call_id': None}], 'input[0].call_id', 'non-empty string'),
    ([call_item('c'), output_item('c', [{'type': 'input_image', 'image_url': 'x'}])],
     'input[1].output[0]', 'input_text parts'),
    ([call_item('c'), output_item('c', 42)], 'input[1].output', 'string or an array'),
    ([call_item('c'), {'type': 'function_call_output', 'output': 'x'}], 'input[1].call_id',
     'non-empty string'),
])
def test_malformed_call_items_get_a_clear_error(items, param, says):
    with pytest.raises(RequestError) as caught:
        chat_request({'input': items})
    assert caught.value.param == param, caught.value
    assert says in str(caught.value)


# --- answers -------------------------------------------------------------------------------

def tool_completion(calls: list[Any], text: Any = None,
                    finish: str = 'tool_calls') -> dict[str, Any]:
    return {'id': 'chatcmpl-1', 'object': 'chat.completion', 'created': 1,
            'model': 'gemma3:4b', 'choices': [{'index': 0, 'finish_reason': finish,
                                               'message': {'role': 'assistant',
                                                           'content': text,
                                                           'tool_calls': calls}}],
            'usage': {'prompt_tokens': 50, 'completion_tokens': 9, 'total_tokens': 59}}


def chat_call(call_id: Optional[str], name: str, arguments: Any) -> dict[str, Any]:
    call: dict[str, Any] = {'type': 'function', 'function': {'name': name,
                                                             'arguments': arguments}}
    if call_id is not None:
        call['id'] = call_id
    return call


def test_tool_calls_become_function_call_items_after_the_text():
    response = completion_to_response(
        tool_completion([chat_call('call_a', 'get_weather', '{"city": "Oslo"}'),
                         chat_call('call_b', 'clock', '{}')], 'Looking it up.'),
        with_tools(tool_choice='required'), RESPONSE_ID, MESSAGE_ID, CREATED)
    validate_response(response)
    assert response['status'] == 'completed'
    message, first, second = response['output']
    assert message['type'] == 'message' and message['content'][0]['text'] == 'Looking it up.'
    assert first['type'] == 'function_call' and first['id'].startswith('fc_')
    assert {k: first[k] for k in ('call_id', 'name', 'arguments', 'status')} == {
        'call_id': 'call_a', 'name': 'get_weather', 'arguments': '{"city": "Oslo"}',
        'status': 'completed'}
    assert (second['call_id'], second['name'], second['arguments']) == ('call_b', 'clock', '{}')
    assert first['id'] != second['id']
    assert response['tools'][0]['name'] == 'get_weather' and response['tool_choice'] == \
        'required'


def test_a_bare_call_has_no_message_item_and_odd_arguments_are_made_json():
    response = completion_to_response(
        tool_completion([chat_call(None, 'get_weather', {'city': 'Oslo'}),
                         chat_call('call_c', 'clock', None)]),
        with_tools(), RESPONSE_ID, MESSAGE_ID, CREATED)
    validate_response(response)
    assert [item['type'] for item in response['output']] == ['function_call'] * 2
    first, second = response['output']
    assert json.loads(first['arguments']) == {'city': 'Oslo'}
    assert first['call_id'].startswith('call_')  # made up: the client needs one
    assert second['arguments'] == '{}'


@pytest.mark.parametrize('calls', [
    [{'id': 'c', 'type': 'function', 'function': {'arguments': '{}'}}],
    [{'id': 'c', 'type': 'function'}], ['get_weather'], {'id': 'c'}])
def test_a_tool_call_naming_no_function_is_an_upstream_error(calls):
    with pytest.raises(UpstreamError):
        completion_to_response(tool_completion(calls), with_tools(), RESPONSE_ID,
                               MESSAGE_ID, CREATED)


# --- streams -------------------------------------------------------------------------------

def chunk(delta: Optional[dict[str, Any]] = None, finish: Optional[str] = None) -> str:
    return json.dumps({'id': 'chatcmpl-1', 'object': 'chat.completion.chunk', 'created': 1,
                       'model': 'gemma3:4b', 'choices': [{
                           'index': 0, 'finish_reason': finish, 'delta': delta or {}}]})


def call_delta(index: Optional[int], call_id: Optional[str] = None,
               name: Optional[str] = None, arguments: Optional[str] = None) -> dict[str, Any]:
    piece: dict[str, Any] = {'function': {}}
    if index is not None:
        piece['index'] = index
    if call_id is not None:
        piece['id'], piece['type'] = call_id, 'function'
    if name is not None:
        piece['function']['name'] = name
    if arguments is not None:
        piece['function']['arguments'] = arguments
    return {'tool_calls': [piece]}


def run(payloads: list[str], end: str = 'finish') -> list[dict[str, Any]]:
    stream = ResponsesEventStream(with_tools(stream=True), RESPONSE_ID, MESSAGE_ID, CREATED)
    events = stream.start()
    for payload in payloads:
        events += stream.feed(payload)
    events += stream.finish() if end == 'finish' else stream.fail(end)
    for event in events:
        validate_event(event)
    assert [e['sequence_number'] for e in events] == list(range(len(events)))
    return events


def test_streamed_text_and_two_calls_become_items_with_their_arguments():
    events = run([
        chunk({'role': 'assistant', 'content': 'Checking.'}),
        chunk(call_delta(0, 'call_a', 'get_weather', '')),
        chunk(call_delta(0, arguments='{"city"')), chunk(call_delta(0, arguments=': "Oslo"}')),
        chunk(call_delta(1, 'call_b', 'clock', '{}')),
        chunk(finish='tool_calls'), '[DONE]'])
    types = [e['type'] for e in events]
    assert types == [
        'response.created', 'response.in_progress',
        'response.output_item.added', 'response.content_part.added',
        'response.output_text.delta',
        'response.output_item.added',  # get_weather, output_index 1
        'response.function_call_arguments.delta', 'response.function_call_arguments.delta',
        'response.output_item.added',  # clock, output_index 2, with its arguments at once
        'response.function_call_arguments.delta',
        'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
        'response.function_call_arguments.done', 'response.output_item.done',
        'response.function_call_arguments.done', 'response.output_item.done',
        'response.completed']
    added = [e for e in events if e['type'] == 'response.output_item.added']
    assert [(e['output_index'], e['item']['type']) for e in added] == [
        (0, 'message'), (1, 'function_call'), (2, 'function_call')]
    weather = added[1]['item']
    assert (weather['call_id'], weather['name'], weather['arguments'], weather['status']) == \
        ('call_a', 'get_weather', '', 'in_progress')
    deltas = [e for e in events if e['type'] == 'response.function_call_arguments.delta']
    assert [(e['output_index'], e['item_id'], e['delta']) for e in deltas] == [
        (1, weather['id'], '{"city"'), (1, weather['id'], ': "Oslo"}'),
        (2, added[2]['item']['id'], '{}')]
    done = [e for e in events if e['type'] == 'response.function_call_arguments.done']
    assert [(e['output_index'], e['arguments']) for e in done] == [
        (1, '{"city": "Oslo"}'), (2, '{}')]
    final = events[-1]['response']
    assert final['status'] == 'completed'
    assert [item['type'] for item in final['output']] == ['message', 'function_call',
                                                          'function_call']
    assert final['output'][1] == {**weather, 'arguments': '{"city": "Oslo"}',
                                  'status': 'completed'}
    closed = [e['item'] for e in events if e['type'] == 'response.output_item.done']
    assert closed == final['output']


def test_a_streamed_call_alone_has_no_message():
    events = run([chunk(call_delta(0, 'call_a', 'clock', '{}')), chunk(finish='tool_calls'),
                  '[DONE]'])
    assert 'response.content_part.added' not in [e['type'] for e in events]
    output = events[-1]['response']['output']
    assert [(item['type'], item['name']) for item in output] == [('function_call', 'clock')]


def test_calls_without_index_are_told_apart_by_their_id():
    # Servers that send each call whole, unnumbered (older Ollama).
    events = run([chunk(call_delta(None, 'call_x', 'clock', '{}')),
                  chunk(call_delta(None, 'call_y', 'get_weather', '{"city": "Rome"}')),
                  chunk(finish='tool_calls')])
    output = events[-1]['response']['output']
    assert [(item['call_id'], item['name'], item['arguments']) for item in output] == [
        ('call_x', 'clock', '{}'), ('call_y', 'get_weather', '{"city": "Rome"}')]


def test_arguments_before_the_name_wait_for_the_item_to_open():
    events = run([chunk(call_delta(0, 'call_a')), chunk(call_delta(0, arguments='{"ci')),
                  chunk(call_delta(0, name='get_weather', arguments='ty": "Oslo"}')),
                  chunk(finish='tool_calls')])
    added = next(e for e in events if e['type'] == 'response.output_item.added')
    assert added['item']['name'] == 'get_weather'
    deltas = [e['delta'] for e in events if e['type'] == 'response.function_call_arguments.delta']
    assert deltas == ['{"city": "Oslo"}']
    assert events[-1]['response']['output'][0]['arguments'] == '{"city": "Oslo"}'


def test_a_streamed_call_that_never_names_its_function_fails():
    events = run([chunk(call_delta(0, 'call_a', arguments='{}')), chunk(finish='tool_calls'),
                  '[DONE]'])
    assert [e['type'] for e in events][-2:] == ['error', 'response.failed']
    assert 'names no function' in events[-2]['message']


def test_a_stream_broken_mid_call_fails_with_the_call_incomplete():
    events = run([chunk(call_delta(0, 'call_a', 'get_weather', '{"city": "Os'))],
                 end='the stream broke')
    assert [e['type'] for e in events][-2:] == ['error', 'response.failed']
    output = events[-1]['response']['output']
    assert [(item['type'], item['status'], item['arguments']) for item in output] == [
        ('function_call', 'incomplete', '{"city": "Os')]


def test_bad_tool_call_chunks_are_upstream_errors():
    stream = ResponsesEventStream(with_tools(stream=True), RESPONSE_ID, MESSAGE_ID, CREATED)
    with pytest.raises(UpstreamError, match='not an array'):
        stream.feed(chunk({'tool_calls': {'index': 0}}))
    with pytest.raises(UpstreamError, match='not an object'):
        stream.feed(chunk({'tool_calls': ['clock']}))
