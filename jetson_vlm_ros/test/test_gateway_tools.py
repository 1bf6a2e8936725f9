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
Function tools through the gateway's `POST /v1/responses`, with the real `openai` client.

One vlm_node (real rclpy, real DDS) serves the gateway; the loopback VLM server, given
tools, calls them as a model would (the prompt's JSON object as arguments) and, given the
tools' results, answers quoting them. So each test sees the chat-completions request the
gateway made and the Responses output the client got, over real sockets.
"""

import json
from typing import Any, Iterator

from conftest import HAVE_ROS, make_image, mean_rgb, requires_ros, \
    solid
import pytest
# fresh_state: each test starts from a default server with every request slot free.
from test_gateway import error_of, fresh_state, Gateway, gateway_on_camera  # noqa: F401

if HAVE_ROS:
    import openai

pytestmark = [requires_ros, pytest.mark.skipif(
    HAVE_ROS and not hasattr(openai.OpenAI, 'responses'),
    reason='this openai client predates the Responses API (openai < 1.66)')]

GREEN = (0, 255, 0)
MODEL = 'gemma3:4b'
WEATHER = {'type': 'function', 'name': 'get_weather', 'description': 'Weather of a city.',
           'parameters': {'type': 'object', 'properties': {'city': {'type': 'string'}},
                          'required': ['city']}}
CLOCK = {'type': 'function', 'name': 'clock', 'description': 'The time now.',
         'parameters': {'type': 'object', 'properties': {'zone': {'type': 'string'}}}}
ASK = 'What is the weather? {"city": "Oslo"}'


@pytest.fixture(scope='module')
def gateway() -> Iterator[Gateway]:
    with gateway_on_camera('gwt', make_image(solid(GREEN, 320, 240), 'rgb8', stamp_sec=3)) \
            as gateway:
        yield gateway


def calls_of(response: Any) -> list[Any]:
    return [item for item in response.output if item.type == 'function_call']


def test_a_function_tool_is_called_with_the_arguments_of_the_model(gateway):
    response = gateway.client().responses.create(model=MODEL, input=ASK, tools=[WEATHER])
    assert response.status == 'completed'
    [call] = calls_of(response)
    assert call.name == 'get_weather' and json.loads(call.arguments) == {'city': 'Oslo'}
    assert call.id.startswith('fc_') and call.call_id == 'call_0_get_weather'
    assert call.status == 'completed'
    assert [item.type for item in response.output] == ['function_call']  # no text
    assert response.tools[0].name == 'get_weather' and response.tool_choice == 'auto'
    seen = gateway.server.requests[-1].body
    assert seen['tools'] == [{'type': 'function', 'function': {
        'name': 'get_weather', 'description': 'Weather of a city.',
        'parameters': WEATHER['parameters']}}]
    assert 'tool_choice' not in seen


def test_the_second_turn_sends_the_call_and_its_output_and_gets_text(gateway):
    client = gateway.client()
    first = client.responses.create(model=MODEL, input=ASK, tools=[WEATHER])
    [call] = calls_of(first)
    # As agents do: the conversation so far, the model's output items, the tool's result.
    second = client.responses.create(model=MODEL, tools=[WEATHER], input=[
        {'role': 'user', 'content': ASK},
        *[item.model_dump(exclude_none=True) for item in first.output],
        {'type': 'function_call_output', 'call_id': call.call_id,
         'output': 'rain, 7 degrees'}])
    assert second.output_text == 'The tool said: get_weather returned rain, 7 degrees'
    assert not calls_of(second)
    messages = gateway.server.requests[-1].body['messages']
    assert messages[1:] == [
        {'role': 'assistant', 'content': '', 'tool_calls': [{
            'id': call.call_id, 'type': 'function',
            'function': {'name': 'get_weather', 'arguments': call.arguments}}]},
        {'role': 'tool', 'tool_call_id': call.call_id, 'content': 'rain, 7 degrees'}]


def test_parallel_calls_come_back_and_go_out_as_one_assistant_turn(gateway):
    gateway.server.state.call_every_tool = True
    client = gateway.client()
    first = client.responses.create(model=MODEL, input=ASK, tools=[WEATHER, CLOCK],
                                    parallel_tool_calls=True)
    calls = calls_of(first)
    assert [call.name for call in calls] == ['get_weather', 'clock']
    assert len({call.id for call in calls}) == 2
    assert gateway.server.requests[-1].body['parallel_tool_calls'] is True
    second = client.responses.create(model=MODEL, tools=[WEATHER, CLOCK], input=[
        {'role': 'user', 'content': ASK},
        *[item.model_dump(exclude_none=True) for item in first.output],
        *[{'type': 'function_call_output', 'call_id': call.call_id, 'output': result}
          for call, result in zip(calls, ('sun', '12:30'), strict=True)]])
    assert second.output_text == \
        'The tool said: get_weather returned sun; clock returned 12:30'
    messages = gateway.server.requests[-1].body['messages']
    assert [m['role'] for m in messages] == ['user', 'assistant', 'tool', 'tool']
    assert [c['function']['name'] for c in messages[1]['tool_calls']] == ['get_weather',
                                                                          'clock']


def test_a_streamed_call_assembles_its_arguments_from_the_events(gateway):
    with gateway.client().responses.stream(model=MODEL, input=ASK,
                                           tools=[WEATHER]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    deltas = [e for e in events if e.type == 'response.function_call_arguments.delta']
    assert len(deltas) > 1  # the server sent the arguments in pieces
    arguments = ''.join(e.delta for e in deltas)
    assert json.loads(arguments) == {'city': 'Oslo'}
    [added] = [e for e in events if e.type == 'response.output_item.added']
    assert added.item.type == 'function_call' and added.item.name == 'get_weather'
    assert {e.output_index for e in deltas} == {added.output_index} == {0}
    [done] = [e for e in events if e.type == 'response.function_call_arguments.done']
    assert done.arguments == arguments
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == 'response.completed'
    [call] = calls_of(final)
    assert (call.id, call.call_id, call.name, call.arguments, call.status) == (
        added.item.id, 'call_0_get_weather', 'get_weather', arguments, 'completed')
    assert final.output == events[-1].response.output
    assert gateway.server.requests[-1].body['stream'] is True


def test_a_streamed_second_turn_answers_in_text(gateway):
    stream = gateway.client().responses.create(model=MODEL, stream=True, tools=[WEATHER],
                                               input=[
        {'role': 'user', 'content': ASK},
        {'type': 'function_call', 'call_id': 'call_9', 'name': 'get_weather',
         'arguments': '{"city": "Oslo"}'},
        {'type': 'function_call_output', 'call_id': 'call_9', 'output': 'snow'}])
    events = list(stream)
    text = ''.join(e.delta for e in events if e.type == 'response.output_text.delta')
    assert text == 'The tool said: get_weather returned snow'
    assert events[-1].type == 'response.completed'
    assert [item.type for item in events[-1].response.output] == ['message']


@pytest.mark.parametrize('choice, sent, called', [
    ({'type': 'function', 'name': 'clock'}, {'type': 'function', 'function': {'name': 'clock'}},
     ['clock']),
    ('required', 'required', ['get_weather']),
    ('none', 'none', []),
])
def test_tool_choice_reaches_the_server_mapped(gateway, choice, sent, called):
    response = gateway.client().responses.create(model=MODEL, input=ASK,
                                                 tools=[WEATHER, CLOCK], tool_choice=choice)
    assert gateway.server.requests[-1].body['tool_choice'] == sent
    assert [call.name for call in calls_of(response)] == called
    if not called:
        assert response.output_text.startswith('no image; ')  # the server answered in text


def test_a_camera_model_with_tools_sees_the_frame_and_may_call(gateway):
    response = gateway.client().responses.create(model=MODEL + '+camera', input=ASK,
                                                 tools=[WEATHER])
    assert [call.name for call in calls_of(response)] == ['get_weather']
    seen = gateway.server.requests[-1]
    assert (seen.image.width, seen.image.height) == (320, 240)
    assert seen.image.mean_rgb == pytest.approx(GREEN, abs=3)
    gateway.server.state.tool_calls = False  # this time the model answers in text
    answer = gateway.client().responses.create(model=MODEL + '+camera', input=ASK,
                                               tools=[WEATHER]).output_text
    assert mean_rgb(answer) == pytest.approx(GREEN, abs=3)


@pytest.mark.parametrize('tool', [{'type': 'web_search'}, {'type': 'file_search',
                                                           'vector_store_ids': ['vs_1']},
                                  {'type': 'code_interpreter', 'container': {'type': 'auto'}},
                                  {'type': 'mcp', 'server_label': 'x', 'server_url': 'x'}])
def test_built_in_tools_are_refused_naming_their_type(gateway, tool):
    before = len(gateway.server.requests)
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client().responses.create(model=MODEL, input='x', tools=[WEATHER, tool])
    assert caught.value.status_code == 400
    error = caught.value.body
    assert error['param'] == 'tools' and error['type'] == 'invalid_request_error'
    assert f'tools[1] of type "{tool["type"]}" is not supported' in error['message']
    assert len(gateway.server.requests) == before


def test_an_output_without_its_call_is_400(gateway):
    status, _, body = gateway.http(
        'POST', '/v1/responses', json.dumps({'model': MODEL, 'input': [
            {'role': 'user', 'content': 'x'},
            {'type': 'function_call_output', 'call_id': 'call_1', 'output': 'x'}]}).encode(),
        {'Content-Type': 'application/json'})
    error = error_of(json.loads(body))
    assert status == 400 and error['param'] == 'input[1].call_id'
    assert 'no function_call item with call_id "call_1"' in error['message']
