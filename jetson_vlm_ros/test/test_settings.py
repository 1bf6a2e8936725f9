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

"""The parameter table: defaults, ranges, types, and the shipped config/vlm.yaml."""

from dataclasses import fields
import math
from pathlib import Path

from jetson_vlm_ros.core.settings import (
    DEFAULT_SETTINGS, PARAMETERS, PARAMETERS_BY_NAME, settings_from, SettingsError,
    VlmSettings)
import pytest
import yaml

CONFIG = Path(__file__).resolve().parent.parent / 'config' / 'vlm.yaml'
README = Path(__file__).resolve().parents[2] / 'README.md'
NUMERIC = [spec for spec in PARAMETERS if spec.min_value is not None]
FLOATS = [spec for spec in NUMERIC if isinstance(spec.default, float)]
INTS = [spec for spec in NUMERIC if type(spec.default) is int]
BOOLS = [spec for spec in PARAMETERS if isinstance(spec.default, bool)]
STRINGS = [spec for spec in PARAMETERS if isinstance(spec.default, str)]
LISTS = [spec for spec in PARAMETERS if isinstance(spec.default, tuple)]

# The README's "Parameters" table, copied here by hand: the code and the README must both
# match it, so neither can drift from the other silently.
# name: (type, default, (min, max) or None, read-only)
DOCUMENTED = {
    'model': (str, 'gemma3:4b', None, False),
    'base_url': (str, 'http://localhost:11434/v1', None, False),
    'api_key': (str, 'ollama', None, False),
    'prompt': (str, 'Describe what the robot camera sees in one or two short sentences.', None,
               False),
    'system_prompt': (str, '', None, False),
    'caption_period': (float, 5.0, (0.0, 3600.0), False),
    'max_tokens': (int, 128, (1, 8192), False),
    'temperature': (float, 0.2, (0.0, 2.0), False),
    'request_timeout': (float, 30.0, (0.1, 600.0), False),
    'max_image_size': (int, 896, (32, 8192), False),
    'jpeg_quality': (int, 85, (1, 100), False),
    'max_image_age': (float, 2.0, (0.0, 3600.0), False),
    'max_concurrent_requests': (int, 2, (1, 16), True),
    'image_transport': (str, 'raw', None, True),
    'diagnostics_period': (float, 1.0, (0.0, 60.0), True),
    'warm_up': (bool, True, None, True),
    'start_enabled': (bool, True, None, True),
    'publish_caption_image': (bool, True, None, False),
    'caption_image_answers': (bool, False, None, False),
    'gateway_port': (int, 0, (0, 65535), True),
    'gateway_host': (str, '127.0.0.1', None, True),
    'gateway_api_key': (str, '', None, False),
    'gateway_max_body_mb': (int, 20, (1, 1024), True),
    'gateway_max_topics': (int, 4, (0, 64), False),
    'gateway_prepare_ahead': (float, 2.0, (0.0, 60.0), False),
    'gateway_allowed_hosts': (tuple, (), None, False),
    'gateway_allowed_origins': (tuple, (), None, False),
    'alert_rules': (tuple, (), None, False),
    'alert_period': (float, 0.0, (0.0, 3600.0), False),
    'alert_cooldown': (float, 30.0, (0.0, 86400.0), False),
    'history_size': (int, 32, (1, 1000), False),
    'history_seconds': (float, 10.0, (0.0, 3600.0), False),
    'max_frames': (int, 8, (1, 64), False),
    'caption_frames': (int, 1, (1, 64), False),
    'caption_min_change': (float, 0.0, (0.0, 1.0), False),
}
DOCUMENTED_RANGES = [(name, kind, span) for name, (kind, _, span, _) in DOCUMENTED.items()
                     if span is not None]
RANGE_IDS = [name for name, _, _ in DOCUMENTED_RANGES]


def names(specs):
    return [spec.name for spec in specs]


def test_code_has_the_documented_parameters_defaults_and_ranges():
    assert names(PARAMETERS) == list(DOCUMENTED)
    for spec in PARAMETERS:
        kind, default, span, read_only = DOCUMENTED[spec.name]
        assert type(spec.default) is kind and spec.default == default, spec.name
        assert getattr(DEFAULT_SETTINGS, spec.name) == default, spec.name
        if span is None:
            assert (spec.min_value, spec.max_value) == (None, None), spec.name
        else:
            assert (spec.min_value, spec.max_value) == span, spec.name
        assert spec.read_only == read_only, spec.name


def readme_parameter_rows() -> dict[str, list[str]]:
    text = README.read_text(encoding='utf-8')
    table = text.split('### Parameters', 1)[1].split('\n\n', 2)[1]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip('|').split('|')]
        rows[cells[0].strip('`')] = cells
    return rows


def test_readme_table_says_what_the_test_pins():
    rows = readme_parameter_rows()
    assert list(rows) == list(DOCUMENTED)
    type_names = {str: 'string', int: 'int', float: 'double', bool: 'bool',
                  tuple: 'string array'}
    for name, (kind, default, span, read_only) in DOCUMENTED.items():
        _, documented_type, documented_default, valid, _ = rows[name]
        assert documented_type == type_names[kind], name
        shown = str(default).lower() if isinstance(default, bool) else default
        shown = {'': "`''`", (): '`[]`'}.get(shown, f'`{shown}`')
        assert documented_default == shown, name
        if span is not None:
            low, high = (f'{end:g}' for end in span)
            assert valid.startswith(f'[{low}, {high}]'), f'{name}: {valid}'
        assert valid.endswith('read-only') == read_only, f'{name}: {valid}'


def test_table_matches_settings_fields():
    assert names(PARAMETERS) == [f.name for f in fields(VlmSettings)]
    assert len(PARAMETERS_BY_NAME) == len(PARAMETERS)
    assert sorted(names(NUMERIC)) == sorted(names(FLOATS) + names(INTS))
    assert sorted(names(NUMERIC) + names(STRINGS) + names(BOOLS) + names(LISTS)) == \
        sorted(names(PARAMETERS))
    assert len(FLOATS) == 10 and len(INTS) == 10 and len(STRINGS) == 8 and len(BOOLS) == 4
    assert len(LISTS) == 3


@pytest.mark.parametrize('spec', BOOLS, ids=names(BOOLS))
def test_int_for_bool_is_refused(spec):
    with pytest.raises(SettingsError, match=rf"'{spec.name}': must be of type bool, got int "
                                            r'\(valid: true or false\)'):
        DEFAULT_SETTINGS.updated({spec.name: 1})


@pytest.mark.parametrize('spec', PARAMETERS, ids=names(PARAMETERS))
def test_default_passes_its_own_check(spec):
    assert spec.problem(spec.default) is None
    if spec.min_value is not None:
        assert spec.max_value is not None
        assert spec.min_value <= spec.default <= spec.max_value
        assert type(spec.min_value) is type(spec.default)
        assert type(spec.max_value) is type(spec.default)


def test_defaults_are_settings_from_nothing():
    assert settings_from({}) == DEFAULT_SETTINGS
    for spec in PARAMETERS:
        assert getattr(DEFAULT_SETTINGS, spec.name) == spec.default


def test_read_only_are_those_read_at_start_up():
    assert [spec.name for spec in PARAMETERS if spec.read_only] == [
        'max_concurrent_requests', 'image_transport', 'diagnostics_period', 'warm_up',
        'start_enabled', 'gateway_port', 'gateway_host', 'gateway_max_body_mb']


def test_alert_rules_take_a_list_of_strings_and_refuse_anything_else():
    rules = ['Is a person in the doorway?', 'Is the door open?']
    assert DEFAULT_SETTINGS.updated({'alert_rules': rules}).alert_rules == tuple(rules)
    with pytest.raises(SettingsError, match="'alert_rules': must be a list of strings"):
        DEFAULT_SETTINGS.updated({'alert_rules': [1, 2]})
    with pytest.raises(SettingsError, match="'alert_rules'"):
        DEFAULT_SETTINGS.updated({'alert_rules': 'Is a person there?'})


def test_gateway_key_is_hidden_from_repr():
    text = repr(DEFAULT_SETTINGS.updated({'gateway_api_key': 'sk-gw-secret-123'}))
    assert 'sk-gw-secret-123' not in text and 'gateway_api_key=<hidden>' in text


def below_min(spec):
    return spec.min_value - (1 if type(spec.default) is int else 0.001)


def above_max(spec):
    return spec.max_value + (1 if type(spec.default) is int else 0.001)


@pytest.mark.parametrize('name, kind, span', DOCUMENTED_RANGES, ids=RANGE_IDS)
@pytest.mark.parametrize('end', [0, 1], ids=['below_min', 'above_max'])
def test_just_outside_the_documented_range_is_refused(name, kind, span, end):
    step = 1 if kind is int else 0.001
    value = span[0] - step if end == 0 else span[1] + step
    with pytest.raises(SettingsError) as caught:
        DEFAULT_SETTINGS.updated({name: value})
    text = str(caught.value)
    assert f"parameter '{name}'" in text
    assert f'[{span[0]}, {span[1]}]' in text
    assert 'is outside' in text


@pytest.mark.parametrize('name, kind, span', DOCUMENTED_RANGES, ids=RANGE_IDS)
def test_documented_range_ends_are_accepted(name, kind, span):
    for value in span:
        assert getattr(DEFAULT_SETTINGS.updated({name: value}), name) == value


@pytest.mark.parametrize('spec', FLOATS, ids=names(FLOATS))
@pytest.mark.parametrize('value', [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(spec, value):
    with pytest.raises(SettingsError, match=spec.name):
        DEFAULT_SETTINGS.updated({spec.name: value})


@pytest.mark.parametrize('spec', FLOATS, ids=names(FLOATS))
def test_string_for_float_is_refused(spec):
    with pytest.raises(SettingsError, match=rf"'{spec.name}': must be of type float, got str"):
        DEFAULT_SETTINGS.updated({spec.name: str(spec.default)})


@pytest.mark.parametrize('spec', INTS, ids=names(INTS))
def test_float_for_int_is_refused(spec):
    with pytest.raises(SettingsError, match=rf"'{spec.name}': must be of type int, got float"):
        DEFAULT_SETTINGS.updated({spec.name: float(spec.default)})


@pytest.mark.parametrize('spec', INTS, ids=names(INTS))
def test_bool_for_int_is_refused(spec):
    with pytest.raises(SettingsError, match=rf"'{spec.name}': must be of type int, got bool"):
        DEFAULT_SETTINGS.updated({spec.name: True})


@pytest.mark.parametrize('spec', FLOATS, ids=names(FLOATS))
def test_bool_for_float_is_refused(spec):
    with pytest.raises(SettingsError, match=rf"'{spec.name}': must be of type float, got bool"):
        DEFAULT_SETTINGS.updated({spec.name: True})


@pytest.mark.parametrize('spec', STRINGS, ids=names(STRINGS))
def test_number_for_string_is_refused(spec):
    with pytest.raises(SettingsError, match=rf"'{spec.name}': must be of type str, got int"):
        DEFAULT_SETTINGS.updated({spec.name: 5})


@pytest.mark.parametrize('spec', FLOATS, ids=names(FLOATS))
def test_int_for_float_is_stored_as_float(spec):
    value = int(math.ceil(spec.min_value))
    stored = getattr(DEFAULT_SETTINGS.updated({spec.name: value}), spec.name)
    assert type(stored) is float
    assert stored == value


@pytest.mark.parametrize('name', ['model', 'prompt'])
@pytest.mark.parametrize('value', ['', '   ', '\n\t'])
def test_empty_model_or_prompt_is_refused(name, value):
    with pytest.raises(SettingsError) as caught:
        DEFAULT_SETTINGS.updated({name: value})
    text = str(caught.value)
    assert f"parameter '{name}'" in text
    assert 'must not be empty' in text
    assert 'a non-empty string' in text


@pytest.mark.parametrize('name', ['system_prompt', 'api_key'])
def test_empty_system_prompt_and_api_key_are_allowed(name):
    assert getattr(DEFAULT_SETTINGS.updated({name: ''}), name) == ''


@pytest.mark.parametrize('url', [
    'localhost:11434', 'ftp://x', 'localhost:11434/v1', '', 'http://', 'file:///tmp/x',
    '//localhost:11434/v1'])
def test_non_http_base_url_is_refused(url):
    with pytest.raises(SettingsError) as caught:
        DEFAULT_SETTINGS.updated({'base_url': url})
    text = str(caught.value)
    assert "parameter 'base_url'" in text
    assert 'http://' in text and 'https://' in text


@pytest.mark.parametrize('url', [
    'http://localhost:11434/v1', 'https://vlm.example.com/v1', 'http://192.168.1.5:9000/v1'])
def test_http_base_url_is_accepted(url):
    assert DEFAULT_SETTINGS.updated({'base_url': url}).base_url == url


@pytest.mark.parametrize('name', ['modle', 'Model', 'qos_overrides', ''])
def test_unknown_parameter_is_refused(name):
    with pytest.raises(SettingsError, match=f"unknown parameter '{name}'"):
        DEFAULT_SETTINGS.updated({name: 'gemma3:4b'})


def test_only_the_first_bad_change_is_named():
    with pytest.raises(SettingsError) as caught:
        DEFAULT_SETTINGS.updated({'max_tokens': 64, 'jpeg_quality': 0, 'temperature': 9.0})
    assert str(caught.value).startswith("invalid value for parameter 'jpeg_quality': ")
    assert 'max_tokens' not in str(caught.value) and 'temperature' not in str(caught.value)


def test_updated_changes_only_the_named_fields():
    base = DEFAULT_SETTINGS.updated({'max_tokens': 64, 'prompt': 'Count the boxes.'})
    changed = base.updated({'temperature': 0.7, 'model': 'llava:7b'})
    expected = {f.name: getattr(base, f.name) for f in fields(VlmSettings)}
    expected.update(temperature=0.7, model='llava:7b')
    assert {f.name: getattr(changed, f.name) for f in fields(VlmSettings)} == expected


def test_repr_hides_the_api_key():
    settings = settings_from({'api_key': 'sk-VERY-secret-1234'})
    assert settings.api_key == 'sk-VERY-secret-1234'
    for shown in (repr(settings), str(settings), f'{settings}', repr([settings])):
        assert 'sk-VERY-secret-1234' not in shown
        assert 'api_key=<hidden>' in shown
        assert "model='gemma3:4b'" in shown
    assert "'ollama'" not in repr(DEFAULT_SETTINGS)


def test_api_key_type_error_does_not_quote_the_value():
    with pytest.raises(SettingsError) as caught:
        DEFAULT_SETTINGS.updated({'api_key': 987654321})
    assert '987654321' not in str(caught.value)


def load_config():
    with open(CONFIG, encoding='utf-8') as stream:
        return yaml.safe_load(stream)['/**']['ros__parameters']


def test_config_lists_exactly_the_parameters():
    # Empty string arrays cannot be written in a ROS params file: they are shown commented.
    assert sorted(load_config()) == sorted(names([
        spec for spec in PARAMETERS if spec not in LISTS]))
    text = CONFIG.read_text(encoding='utf-8')
    for spec in LISTS:
        assert f'    # {spec.name}: [' in text, spec.name


@pytest.mark.parametrize('spec', [s for s in PARAMETERS if s not in LISTS],
                         ids=names(s for s in PARAMETERS if s not in LISTS))
def test_config_values_are_valid_and_typed_as_defaults(spec):
    value = load_config()[spec.name]
    assert type(value) is type(spec.default)
    assert spec.problem(value) is None


def test_config_builds_settings():
    config = load_config()
    settings = settings_from(config)
    for name, value in config.items():
        assert getattr(settings, name) == value
