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

"""The Responses API translation alone (no ROS, no HTTP): requests, answers and streams."""

import json
from typing import Any, Optional

from jetson_vlm_ros.gateway.responses_api import (
    chat_request, completion_to_response, encode_event, RequestError, ResponsesEventStream,
    SseDecoder, Translation, UpstreamError)
import pytest

try:  # the openai client's own types check the shapes strictly (pydantic validation)
    from openai.types.responses import Response, ResponseStreamEvent
    from pydantic import TypeAdapter
    STREAM_EVENT: Optional[Any] = TypeAdapter(ResponseStreamEvent)
except ImportError:  # an openai client older than the Responses API
    STREAM_EVENT = None

RESPONSE_ID, MESSAGE_ID, CREATED = 'resp_1', 'msg_1', 1700000000
IMAGE = 'data:image/jpeg;base64,/9j/AA=='


def validate_response(response: dict[str, Any]) -> None:
    if STREAM_EVENT is not None:
        Response.model_validate(response)


def validate_event(event: dict[str, Any]) -> None:
    if STREAM_EVENT is not None:
        STREAM_EVENT.validate_python(event)


# --- requests ------------------------------------------------------------------------------

def test_string_input_with_instructions_and_limits():
    translation = chat_request({
        'model': 'gemma3:4b', 'input': 'What is there?', 'instructions': 'Be brief.',
        'max_output_tokens': 64, 'temperature': 0.2, 'top_p': 0.9})
    assert translation.chat == {
        'model': 'gemma3:4b',
        'messages': [{'role': 'system', 'content': 'Be brief.'},
                     {'role': 'user', 'content': 'What is there?'}],
        'max_tokens': 64, 'temperature': 0.2, 'top_p': 0.9}
    assert not translation.stream


def test_model_may_be_omitted():
    assert 'model' not in chat_request({'input': 'hi'}).chat


def test_messages_with_text_and_images_become_chat_parts():
    translation = chat_request({'input': [
        {'role': 'developer', 'content': 'You watch a robot camera.'},
        {'role': 'user', 'content': 'Hello'},
        {'type': 'message', 'role': 'assistant',
         'content': [{'type': 'output_text', 'text': 'Hi, ', 'annotations': []},
                     {'type': 'output_text', 'text': 'ask me.'}]},
        {'type': 'message', 'role': 'user', 'content': [
            {'type': 'input_text', 'text': 'And now?'},
            {'type': 'input_image', 'image_url': 'ros://latest', 'detail': 'low'},
            {'type': 'input_image', 'image_url': IMAGE, 'detail': 'auto'},
            {'type': 'input_image', 'image_url': 'ros:///arm/image'}]}]})
    assert translation.chat['messages'] == [
        {'role': 'system', 'content': 'You watch a robot camera.'},
        {'role': 'user', 'content': 'Hello'},
        {'role': 'assistant', 'content': 'Hi, ask me.'},
        {'role': 'user', 'content': [
            {'type': 'text', 'text': 'And now?'},
            {'type': 'image_url', 'image_url': {'url': 'ros://latest', 'detail': 'low'}},
            {'type': 'image_url', 'image_url': {'url': IMAGE}},
            {'type': 'image_url', 'image_url': {'url': 'ros:///arm/image'}}]}]


def test_text_format_becomes_response_format():
    schema = {'type': 'object', 'properties': {'door': {'type': 'boolean'}},
              'required': ['door']}
    translation = chat_request({'input': 'x', 'text': {'format': {
        'type': 'json_schema', 'name': 'door', 'schema': schema, 'strict': True}}})
    assert translation.chat['response_format'] == {'type': 'json_schema', 'json_schema': {
        'name': 'door', 'schema': schema, 'strict': True}}
    assert chat_request({'input': 'x', 'text': {'format': {'type': 'json_object'}}}).chat[
        'response_format'] == {'type': 'json_object'}
    assert 'response_format' not in chat_request(
        {'input': 'x', 'text': {'format': {'type': 'text'}, 'verbosity': 'low'}}).chat


def test_stream_asks_for_usage_and_reasoning_effort_is_passed_on():
    translation = chat_request({'input': 'x', 'stream': True,
                                'reasoning': {'effort': 'low', 'summary': 'auto'}})
    assert translation.stream
    assert translation.chat['stream'] is True
    assert translation.chat['stream_options'] == {'include_usage': True}
    assert translation.chat['reasoning_effort'] == 'low'


@pytest.mark.parametrize('extra', [
    {'store': True}, {'store': False}, {'tools': []}, {'tool_choice': 'auto'},
    {'background': False}, {'include': ['reasoning.encrypted_content']},
    {'metadata': {'run': '7'}}, {'user': 'n8n'}, {'parallel_tool_calls': True},
    {'truncation': 'disabled'}, {'previous_response_id': None}, {'top_logprobs': 0},
    {'stream_options': {'include_obfuscation': False}}, {'service_tier': 'auto'},
])
def test_defaults_that_ask_for_nothing_are_accepted(extra):
    translation = chat_request({'input': 'x', **extra})
    assert translation.chat == {'messages': [{'role': 'user', 'content': 'x'}]}


@pytest.mark.parametrize('extra, param, says', [
    ({'previous_response_id': 'resp_9'}, 'previous_response_id', 'stores no responses'),
    ({'conversation': 'conv_1'}, 'conversation', 'stores no conversations'),
    ({'background': True}, 'background', 'background responses'),
    ({'prompt': {'id': 'pmpt_1'}}, 'prompt', 'stored prompt templates'),
    ({'tools': [{'type': 'web_search'}]}, 'tools', 'built-in tools are not available'),
    ({'include': ['file_search_call.results']}, 'include', "but 'reasoning.encrypted"),
    ({'top_logprobs': 3}, 'top_logprobs', 'log probabilities'),
    ({'max_tokens': 10}, 'max_tokens', "unknown parameter: 'max_tokens'"),
    ({'messages': []}, 'messages', "unknown parameter: 'messages'"),
])
def test_what_needs_storage_or_tools_is_refused_naming_the_parameter(extra, param, says):
    with pytest.raises(RequestError) as caught:
        chat_request({'input': 'x', **extra})
    assert caught.value.param == param
    assert says in str(caught.value)


@pytest.mark.parametrize('body, param, says', [
    ({}, 'input', "'input' must be a string or a non-empty array"),
    ({'input': []}, 'input', 'non-empty array'),
    ({'input': 7}, 'input', 'non-empty array'),
    ({'input': ['hi']}, 'input[0]', 'input[0] must be an object'),
    ({'input': [{'type': 'computer_call_output', 'call_id': 'c', 'output': {}}]},
     'input[0].type', 'no built-in tools'),
    ({'input': [{'type': 'item_reference', 'id': 'msg_1'}]}, 'input[0].type',
     'no stored items'),
    ({'input': [{'role': 'robot', 'content': 'x'}]}, 'input[0].role', "'developer'"),
    ({'input': [{'role': 'user', 'content': 5}]}, 'input[0].content', 'string or an array'),
    ({'input': [{'role': 'user', 'content': [
        {'type': 'input_image', 'file_id': 'file-1'}]}]},
     'input[0].content[0].file_id', 'file_id are not available'),
    ({'input': [{'role': 'user', 'content': [{'type': 'input_image'}]}]},
     'input[0].content[0].image_url', 'must be a string'),
    ({'input': [{'role': 'user', 'content': [
        {'type': 'input_image', 'image_url': {'url': IMAGE}}]}]},
     'input[0].content[0].image_url', 'must be a string'),
    ({'input': [{'role': 'user', 'content': [
        {'type': 'input_file', 'file_data': 'x'}]}]},
     'input[0].content[0].type', 'input_file is not available'),
    ({'input': [{'role': 'user', 'content': [{'type': 'input_audio'}]}]},
     'input[0].content[0].type', 'takes input_text or input_image parts'),
    ({'input': [{'role': 'user', 'content': [{'type': 'input_text', 'text': 3}]}]},
     'input[0].content[0].text', 'must be a string'),
    ({'input': [{'role': 'system', 'content': [
        {'type': 'input_image', 'image_url': IMAGE}]}]},
     'input[0].content', 'only user messages may carry images'),
    ({'input': 'x', 'instructions': ['a']}, 'instructions', 'must be a string'),
    ({'input': 'x', 'model': 3}, 'model', 'must be a string'),
    ({'input': 'x', 'max_output_tokens': 0}, 'max_output_tokens', 'at least 1'),
    ({'input': 'x', 'max_output_tokens': 10.5}, 'max_output_tokens', 'an integer'),
    ({'input': 'x', 'temperature': 'hot'}, 'temperature', 'a number'),
    ({'input': 'x', 'temperature': True}, 'temperature', 'a number'),
    ({'input': 'x', 'stream': 'yes'}, 'stream', 'true or false'),
    ({'input': 'x', 'text': 'json'}, 'text', "'text' must be an object"),
    ({'input': 'x', 'text': {'format': {'type': 'yaml'}}}, 'text.format.type', 'not "yaml"'),
    ({'input': 'x', 'text': {'format': {'type': 'json_schema'}}}, 'text.format.schema',
     'JSON Schema object'),
    ({'input': 'x', 'reasoning': 'high'}, 'reasoning', 'an object'),
])
def test_malformed_requests_get_a_clear_error(body, param, says):
    with pytest.raises(RequestError) as caught:
        chat_request(body)
    assert caught.value.param == param, caught.value
    assert says in str(caught.value)


# --- answers -------------------------------------------------------------------------------

def completion(text: Any = 'A red wall.', finish: str = 'stop',
               usage: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    return {'id': 'chatcmpl-1', 'object': 'chat.completion', 'created': 1,
            'model': 'gemma3:4b', 'choices': [{'index': 0, 'finish_reason': finish, 'message': {
                'role': 'assistant', 'content': text}}],
            'usage': usage or {'prompt_tokens': 270, 'completion_tokens': 5,
                               'total_tokens': 275}}


def translated(**fields: Any) -> Translation:
    return chat_request({'model': 'gemma3:4b', 'input': 'x', **fields})


def test_completion_becomes_a_response():
    translation = translated(instructions='Be brief.', max_output_tokens=64,
                             metadata={'run': '7'})
    response = completion_to_response(completion(), translation, RESPONSE_ID, MESSAGE_ID,
                                      CREATED)
    validate_response(response)
    assert response['id'] == RESPONSE_ID and response['object'] == 'response'
    assert response['status'] == 'completed' and response['error'] is None
    assert response['created_at'] == CREATED and response['model'] == 'gemma3:4b'
    assert response['output'] == [{
        'id': MESSAGE_ID, 'type': 'message', 'status': 'completed', 'role': 'assistant',
        'content': [{'type': 'output_text', 'text': 'A red wall.', 'annotations': [],
                     'logprobs': []}]}]
    assert response['usage'] == {
        'input_tokens': 270, 'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
        'output_tokens': 5, 'output_tokens_details': {'reasoning_tokens': 0},
        'total_tokens': 275}
    assert response['instructions'] == 'Be brief.' and response['max_output_tokens'] == 64
    assert response['metadata'] == {'run': '7'} and response['store'] is False
    assert response['previous_response_id'] is None


def test_usage_details_are_carried_over():
    response = completion_to_response(completion(usage={
        'prompt_tokens': 10, 'completion_tokens': 20, 'total_tokens': 30,
        'prompt_tokens_details': {'cached_tokens': 4},
        'completion_tokens_details': {'reasoning_tokens': 12}}), translated(),
        RESPONSE_ID, MESSAGE_ID, CREATED)
    assert response['usage'] == {
        'input_tokens': 10, 'input_tokens_details': {'cached_tokens': 4, 'cache_write_tokens': 0},
        'output_tokens': 20, 'output_tokens_details': {'reasoning_tokens': 12},
        'total_tokens': 30}


def test_answer_cut_by_the_token_limit_is_incomplete():
    response = completion_to_response(completion(finish='length'), translated(),
                                      RESPONSE_ID, MESSAGE_ID, CREATED)
    validate_response(response)
    assert response['status'] == 'incomplete'
    assert response['incomplete_details'] == {'reason': 'max_output_tokens'}
    assert response['output'][0]['status'] == 'incomplete'


def test_json_schema_format_is_echoed():
    fmt = {'type': 'json_schema', 'name': 'door',
           'schema': {'type': 'object', 'properties': {}}, 'strict': True}
    response = completion_to_response(completion('{}'), translated(text={'format': fmt}),
                                      RESPONSE_ID, MESSAGE_ID, CREATED)
    validate_response(response)
    assert response['text'] == {'format': fmt}


@pytest.mark.parametrize('reply', [
    {'choices': []}, {'choices': [{'index': 0}]}, {'choices': ['text']}, {'id': 'x'}, [],
])
def test_a_completion_without_a_message_is_an_upstream_error(reply):
    with pytest.raises(UpstreamError):
        completion_to_response(reply, translated(), RESPONSE_ID, MESSAGE_ID, CREATED)


def test_null_content_is_empty_text():
    response = completion_to_response(completion(None), translated(), RESPONSE_ID,
                                      MESSAGE_ID, CREATED)
    assert response['output'][0]['content'][0]['text'] == ''


# --- streams -------------------------------------------------------------------------------

def chunk(content: Optional[str] = None, finish: Optional[str] = None,
          usage: Optional[dict[str, Any]] = None) -> str:
    choices = [] if content is None and finish is None else [{
        'index': 0, 'finish_reason': finish,
        'delta': {} if content is None else {'role': 'assistant', 'content': content}}]
    body: dict[str, Any] = {'id': 'chatcmpl-1', 'object': 'chat.completion.chunk',
                            'created': 1, 'model': 'gemma3:4b', 'choices': choices}
    if usage is not None:
        body['usage'] = usage
    return json.dumps(body)


def run_stream(payloads: list[str], translation: Optional[Translation] = None,
               end: str = 'finish') -> list[dict[str, Any]]:
    stream = ResponsesEventStream(translation or translated(stream=True), RESPONSE_ID,
                                  MESSAGE_ID, CREATED)
    events = stream.start()
    for payload in payloads:
        events += stream.feed(payload)
    events += stream.finish() if end == 'finish' else stream.fail(end)
    assert stream.finish() == [] and stream.fail('again') == []  # nothing after the end
    for event in events:
        validate_event(event)
    assert [e['sequence_number'] for e in events] == list(range(len(events)))
    return events


def test_stream_events_in_order_with_the_text_assembled():
    events = run_stream([
        chunk('A '), chunk('red '), chunk(''), chunk('wall.'), chunk(finish='stop'),
        chunk(usage={'prompt_tokens': 270, 'completion_tokens': 3, 'total_tokens': 273}),
        '[DONE]'])
    assert [e['type'] for e in events] == [
        'response.created', 'response.in_progress', 'response.output_item.added',
        'response.content_part.added', 'response.output_text.delta',
        'response.output_text.delta', 'response.output_text.delta',
        'response.output_text.done', 'response.content_part.done',
        'response.output_item.done', 'response.completed']
    for event in events[2:-1]:
        assert event['output_index'] == 0
        assert event.get('item_id', event.get('item', {}).get('id')) == MESSAGE_ID
    for event in events[3:-2]:
        assert event['content_index'] == 0
    deltas = [e['delta'] for e in events if e['type'] == 'response.output_text.delta']
    assert deltas == ['A ', 'red ', 'wall.']
    assert events[7]['text'] == events[8]['part']['text'] == 'A red wall.'
    assert events[2]['item']['status'] == 'in_progress' and events[2]['item']['content'] == []
    assert events[9]['item']['status'] == 'completed'
    created, completed = events[0]['response'], events[-1]['response']
    assert created['id'] == completed['id'] == RESPONSE_ID
    assert created['status'] == 'in_progress' and created['output'] == []
    assert completed['status'] == 'completed'
    assert completed['output'] == [events[9]['item']]
    assert completed['output'][0]['content'][0]['text'] == 'A red wall.'
    assert completed['usage'] == {
        'input_tokens': 270, 'input_tokens_details': {'cached_tokens': 0, 'cache_write_tokens': 0},
        'output_tokens': 3, 'output_tokens_details': {'reasoning_tokens': 0},
        'total_tokens': 273}


def test_stream_without_usage_completes_with_none():
    events = run_stream([chunk('Hi'), chunk(finish='stop'), '[DONE]'])
    assert events[-1]['type'] == 'response.completed'
    assert events[-1]['response']['usage'] is None


def test_empty_answer_still_opens_and_closes_its_message():
    events = run_stream([chunk(''), chunk(finish='stop'), '[DONE]'])
    assert [e['type'] for e in events][2:] == [
        'response.output_item.added', 'response.content_part.added',
        'response.output_text.done', 'response.content_part.done',
        'response.output_item.done', 'response.completed']
    assert events[-1]['response']['output'][0]['content'][0]['text'] == ''


def test_stream_cut_by_the_token_limit_ends_incomplete():
    events = run_stream([chunk('A '), chunk('red', finish='length'), '[DONE]'])
    assert events[-1]['type'] == 'response.incomplete'
    assert events[-1]['response']['incomplete_details'] == {'reason': 'max_output_tokens'}
    assert events[-2]['item']['status'] == 'incomplete'


def test_stream_that_ends_without_done_or_finish_reason_fails():
    events = run_stream([chunk('A '), chunk('red ')])
    assert [e['type'] for e in events][-2:] == ['error', 'response.failed']
    assert 'ended before the answer was complete' in events[-2]['message']
    failed = events[-1]['response']
    assert failed['status'] == 'failed' and failed['error']['code'] == 'server_error'
    assert failed['output'][0]['status'] == 'incomplete'
    assert failed['output'][0]['content'][0]['text'] == 'A red '


def test_a_finish_reason_without_done_completes():
    assert run_stream([chunk('A'), chunk(finish='stop')])[-1]['type'] == 'response.completed'


def test_a_broken_stream_fails_with_an_error_event():
    events = run_stream([chunk('A ')], end='the connection broke')
    assert [e['type'] for e in events][-2:] == ['error', 'response.failed']
    assert events[-2]['message'] == 'the connection broke'
    assert events[-1]['response']['error']['message'] == 'the connection broke'


def test_a_stream_broken_before_any_text_fails_with_no_output():
    events = run_stream([], end='timed out')
    assert [e['type'] for e in events] == [
        'response.created', 'response.in_progress', 'error', 'response.failed']
    assert events[-1]['response']['output'] == []


@pytest.mark.parametrize('payload, says', [
    ('{"id": "chatcmpl-1", "cho', 'not JSON'),
    ('[1, 2]', 'not an object'),
    ('{"error": {"message": "model crashed"}}', 'model crashed'),
    ('{"error": "out of memory"}', 'out of memory'),
])
def test_bad_chunks_are_upstream_errors(payload, says):
    stream = ResponsesEventStream(translated(stream=True), RESPONSE_ID, MESSAGE_ID, CREATED)
    stream.start()
    stream.feed(chunk('A'))
    with pytest.raises(UpstreamError) as caught:
        stream.feed(payload)
    assert says in str(caught.value)


def test_sse_decoder_joins_lines_split_across_chunks():
    decoder = SseDecoder()
    assert decoder.feed(b'data: {"a"') == []
    assert decoder.feed(b': 1}\r\n\r\n: a comment\nevent: x\ndata:[DONE]\n') == [
        '{"a": 1}', '[DONE]']
    assert decoder.feed(b'data: tail') == []
    assert decoder.feed(b'\n') == ['tail']


def test_events_are_encoded_with_their_name():
    event = {'type': 'response.output_text.delta', 'sequence_number': 4, 'delta': 'é'}
    encoded = encode_event(event)
    assert encoded.startswith(b'event: response.output_text.delta\ndata: ')
    assert encoded.endswith(b'\n\n')
    assert json.loads(encoded.split(b'data: ', 1)[1]) == event
