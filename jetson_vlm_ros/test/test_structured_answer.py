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

"""response_format: what is sent to the server, and how the answer is checked."""

import json

from jetson_vlm_ros.model.structured_answer import (
    parse_response_format, StructuredAnswerError, TEXT)
import pytest

OBJECTS_SCHEMA = json.dumps({
    'type': 'object',
    'properties': {
        'objects': {
            'type': 'array',
            'items': {
                'type': 'object',
                'properties': {
                    'name': {'type': 'string'},
                    'x': {'type': 'number', 'minimum': 0, 'maximum': 1},
                    'y': {'type': 'number', 'minimum': 0, 'maximum': 1},
                },
                'required': ['name', 'x', 'y'],
            },
        },
    },
    'required': ['objects'],
})


def test_empty_is_text_and_sends_nothing():
    for text in ('', '  '):
        answer_format = parse_response_format(text)
        assert answer_format == TEXT
        assert answer_format.server_parameter() is None
        assert answer_format.check('not json at all') == 'not json at all'


def test_json_mode():
    answer_format = parse_response_format(' JSON ')
    assert answer_format.server_parameter() == {'type': 'json_object'}
    assert answer_format.check('{"people": 2}') == '{"people": 2}'
    assert answer_format.check('[1, 2]') == '[1, 2]'


def test_schema_is_sent_as_json_schema():
    answer_format = parse_response_format(OBJECTS_SCHEMA)
    assert answer_format.server_parameter() == {
        'type': 'json_schema',
        'json_schema': {'name': 'answer', 'schema': json.loads(OBJECTS_SCHEMA)}}


def test_valid_answer_passes_and_a_markdown_fence_is_removed():
    answer_format = parse_response_format(OBJECTS_SCHEMA)
    answer = '{"objects": [{"name": "cup", "x": 0.4, "y": 0.7}]}'
    assert answer_format.check(answer) == answer
    assert answer_format.check(f'```json\n{answer}\n```') == answer


def test_invalid_json_quotes_the_answer_shortened():
    answer_format = parse_response_format('json')
    with pytest.raises(StructuredAnswerError) as caught:
        answer_format.check('There are two people. ' * 30)
    text = str(caught.value)
    assert text.startswith("the model's answer is not valid JSON (Expecting value at line 1 "
                           "column 1): 'There are two people. There")
    assert text.endswith("...'")
    assert len(text) < 320


def test_schema_violation_names_where_and_why():
    answer_format = parse_response_format(OBJECTS_SCHEMA)
    with pytest.raises(StructuredAnswerError) as caught:
        answer_format.check('{"objects": [{"name": "cup", "x": 1.5, "y": 0.2}]}')
    text = str(caught.value)
    assert 'does not match the response_format schema at objects/0/x: 1.5 is greater than ' \
           'the maximum of 1' in text
    assert """'{"objects": [{"name": "cup", "x": 1.5, "y": 0.2}]}'""" in text
    with pytest.raises(StructuredAnswerError, match="at \\(root\\): 'objects' is a required"):
        answer_format.check('{"things": []}')


@pytest.mark.parametrize('bad, reason', [
    ('{"type": "object",', 'this is not JSON'),
    ('objects please', 'this is not JSON'),
    ('[1, 2]', 'must be a JSON Schema object'),
    ('{"type": "objekt"}', 'not a valid JSON Schema at type'),
    ('{"properties": {"x": {"minimum": "zero"}}}', 'not a valid JSON Schema at properties/x'),
])
def test_bad_response_format_is_a_clear_error(bad, reason):
    with pytest.raises(StructuredAnswerError, match=reason):
        parse_response_format(bad)
