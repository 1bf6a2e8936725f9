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
Answers a program can parse: the request's response_format, sent to the server and checked.

'' asks for text (today's behaviour); 'json' for JSON mode (`response_format` type
json_object); anything else must be a JSON Schema, sent as type json_schema (Ollama and
vLLM constrain the model's output with it). Whatever the server promises, the answer is
checked here: it must parse as JSON and, with a schema, validate against it (jsonschema).
A schema that is not valid never reaches the server.
"""

from dataclasses import dataclass
import json
from typing import Any, Optional

from jetson_vlm_ros.model.scene_describer import DescribeError
from jetson_vlm_ros.model.vlm_client import quote_reply

# jsonschema (0.2 s to import) is imported with the first schema, not with this module:
# most requests ask for text and never need it.


class StructuredAnswerError(DescribeError):
    """The response_format is unusable, or the answer does not follow it."""


@dataclass(frozen=True)
class AnswerFormat:
    """How the answer must look: free text, any JSON, or JSON valid against a schema."""

    kind: str  # 'text', 'json' or 'schema'
    schema: Optional[dict[str, Any]] = None

    def server_parameter(self) -> Optional[dict[str, Any]]:
        """Return the chat-completions `response_format` to send, or None for text."""
        if self.kind == 'json':
            return {'type': 'json_object'}
        if self.kind == 'schema':
            return {'type': 'json_schema',
                    'json_schema': {'name': 'answer', 'schema': self.schema}}
        return None

    def check(self, answer: str) -> str:
        """Return the answer (JSON without a Markdown fence) or raise StructuredAnswerError."""
        if self.kind == 'text':
            return answer
        text = _without_code_fence(answer)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise StructuredAnswerError(
                f"the model's answer is not valid JSON ({error.msg} at line {error.lineno} "
                f"column {error.colno}): '{quote_reply(answer)}'") from None
        if self.schema is not None:
            from jsonschema.exceptions import best_match
            problem = best_match(_validator(self.schema).iter_errors(value))
            if problem is not None:
                where = '/'.join(str(part) for part in problem.absolute_path) or '(root)'
                raise StructuredAnswerError(
                    f"the model's answer does not match the response_format schema at "
                    f"{where}: {_shorten(problem.message)}: '{quote_reply(answer)}'")
        return text


TEXT = AnswerFormat('text')


def parse_response_format(response_format: str) -> AnswerFormat:
    """Read a request's response_format, or raise StructuredAnswerError saying what is wrong."""
    stripped = response_format.strip()
    if not stripped:
        return TEXT
    if stripped.lower() == 'json':
        return AnswerFormat('json')
    try:
        schema = json.loads(stripped)
    except json.JSONDecodeError as error:
        raise StructuredAnswerError(
            f"response_format must be empty (text), 'json', or a JSON Schema; this is not "
            f'JSON ({error.msg} at line {error.lineno} column {error.colno}): '
            f"'{quote_reply(stripped)}'") from None
    if not isinstance(schema, dict):
        raise StructuredAnswerError(
            f'response_format must be a JSON Schema object ({{"type": "object", ...}}), got '
            f'a JSON {type(schema).__name__}')
    import jsonschema
    try:
        _validator(schema).check_schema(schema)
    except jsonschema.SchemaError as error:
        where = '/'.join(str(part) for part in error.absolute_path) or '(root)'
        raise StructuredAnswerError(
            f'response_format is not a valid JSON Schema at {where}: '
            f'{_shorten(error.message)}') from None
    return AnswerFormat('schema', schema)


def _validator(schema: dict[str, Any]) -> Any:
    # The draft the schema names in $schema, else the newest this jsonschema knows.
    import jsonschema.validators
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _without_code_fence(answer: str) -> str:
    # Some servers ignore response_format and wrap JSON in a Markdown fence: unwrap it.
    text = answer.strip()
    if text.startswith('```') and text.endswith('```') and len(text) >= 6:
        first_line_end = text.find('\n')
        if first_line_end != -1:
            return text[first_line_end + 1:-3].strip()
    return text


def _shorten(message: str, limit: int = 160) -> str:
    message = ' '.join(message.split())
    return message if len(message) <= limit else message[:limit] + '...'
