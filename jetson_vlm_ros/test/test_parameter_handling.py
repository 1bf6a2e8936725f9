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
vlm_node's parameters: declared ranges, bad values at start-up and at run time, live changes.

Real rclpy over DDS, vlm_node processes, and a real loopback HTTP server (fake_vlm_server.py);
nothing mocked.
"""

import re
from typing import Any, Callable

from conftest import (
    Caller, HAVE_ROS, make_image, RED, requires_ros, RosHarness, solid, start_node, wait_for,
    wait_for_node_time)
from fake_vlm_server import FakeVlmServer

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from jetson_vlm_ros.core.settings import PARAMETERS
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
    from rcl_interfaces.srv import DescribeParameters, SetParameters, SetParametersAtomically

pytestmark = requires_ros


def test_every_parameter_declares_its_valid_values(
        make_harness: Callable[..., 'RosHarness']) -> None:
    harness = make_harness(caption_period=0.0)
    client = harness.tester.create_client(DescribeParameters, 'vlm_node/describe_parameters')
    names = [spec.name for spec in PARAMETERS]
    descriptors = harness.call(client, DescribeParameters.Request(names=names)).descriptors
    assert [d.name for d in descriptors] == names
    for spec, descriptor in zip(PARAMETERS, descriptors, strict=True):
        assert descriptor.description, spec.name
        if isinstance(spec.default, bool):
            assert descriptor.type == ParameterType.PARAMETER_BOOL
            assert descriptor.additional_constraints == 'valid: true or false', spec.name
            assert not descriptor.integer_range and not descriptor.floating_point_range
        elif isinstance(spec.default, str):
            assert descriptor.type == ParameterType.PARAMETER_STRING
            assert descriptor.additional_constraints.startswith('valid: '), spec.name
            assert not descriptor.integer_range and not descriptor.floating_point_range
        elif isinstance(spec.default, tuple):
            assert descriptor.type == ParameterType.PARAMETER_STRING_ARRAY, spec.name
            assert descriptor.additional_constraints.startswith('valid: a list of '), spec.name
        elif isinstance(spec.default, float):
            assert descriptor.type == ParameterType.PARAMETER_DOUBLE
            (span,) = descriptor.floating_point_range
            assert (span.from_value, span.to_value) == (spec.min_value, spec.max_value)
        else:
            assert descriptor.type == ParameterType.PARAMETER_INTEGER
            (span,) = descriptor.integer_range
            assert (span.from_value, span.to_value) == (spec.min_value, spec.max_value)
        assert descriptor.read_only == spec.read_only, spec.name
    by_name = {d.name: d for d in descriptors}
    assert by_name['max_concurrent_requests'].read_only
    assert by_name['base_url'].additional_constraints == 'valid: an http:// or https:// URL'
    assert by_name['model'].additional_constraints == 'valid: a non-empty string'


def test_invalid_start_up_values_stop_the_node_naming_parameter_and_range() -> None:
    cases = [  # (argument, what the message must contain)
        ('temperature:=5.0', ['temperature', '2.0']),
        ('request_timeout:=0.0', ['request_timeout', '0.1', '600.0']),
        ('max_image_age:=-1.0', ['max_image_age', '3600.0']),
        ("model:=''", ["parameter 'model'", 'non-empty']),
        ("prompt:=' '", ["parameter 'prompt'", 'non-empty']),
        ('base_url:=ftp://localhost/v1', ["parameter 'base_url'", 'http:// or https://']),
    ]
    for argument, needles in cases:
        # One after the other: six participants torn down together, a fraction of a second
        # after they were made, sometimes crashed Fast DDS (start_failure.py).
        process = start_node('-p', argument)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 2, f'{argument}: exit {process.returncode}\n{output}'
        assert 'cannot start' in output and 'Traceback' not in output, output
        for needle in needles:
            assert needle in output, f'{argument}: {needle!r} not in {output!r}'


def _parameter_value(value: Any) -> 'ParameterValue':
    if isinstance(value, str):
        return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)


def test_wrong_type_set_is_rejected_naming_the_parameter(
        make_harness: Callable[..., 'RosHarness']) -> None:
    harness = make_harness(caption_period=0.0)
    client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')
    request = SetParameters.Request(parameters=[
        ParameterMsg(name='caption_period', value=_parameter_value('fast'))])
    result = harness.call(client, request).results[0]
    assert not result.successful
    assert harness.node.get_parameter('caption_period').value == 0.0
    assert 'caption_period' in result.reason, result.reason
    assert re.search(r'float|double', result.reason, re.IGNORECASE), result.reason


def test_atomic_set_with_one_bad_value_changes_nothing(
        make_harness: Callable[..., 'RosHarness']) -> None:
    """`ros2 param load` of a file with one bad value: the good ones must not apply either."""
    harness = make_harness(caption_period=0.0)
    client = harness.tester.create_client(
        SetParametersAtomically, 'vlm_node/set_parameters_atomically')
    request = SetParametersAtomically.Request(parameters=[
        ParameterMsg(name='temperature', value=_parameter_value(0.7)),
        ParameterMsg(name='model', value=_parameter_value(''))])
    result = harness.call(client, request).result
    assert not result.successful
    assert "parameter 'model'" in result.reason, result.reason
    assert harness.node.get_parameter('temperature').value == 0.2
    assert harness.node._node_parameters.current().temperature == 0.2


def test_invalid_run_time_set_is_rejected_and_valid_changes_apply(
        make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as first, FakeVlmServer() as second:
        harness = make_harness(base_url=first.base_url, caption_period=0.0,
                               diagnostics_period=0.2)
        set_client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')

        def set_parameter(name: str, value: Any) -> Any:
            request = SetParameters.Request(
                parameters=[ParameterMsg(name=name, value=_parameter_value(value))])
            return harness.call(set_client, request).results[0]

        rejected = [  # (name, bad value, what the reason must contain)
            ('temperature', 3.0, ['temperature', '2.0']),
            ('request_timeout', 0.01, ['request_timeout', '0.1']),
            ('max_image_size', 8, ['max_image_size', '32']),
            ('model', '', ['model', 'non-empty']),
            ('prompt', '   ', ['prompt', 'non-empty']),
            ('base_url', 'ftp://example.com/v1', ['base_url', 'http']),
            ('max_concurrent_requests', 4, ['max_concurrent_requests']),
        ]
        for name, value, needles in rejected:
            old = harness.node.get_parameter(name).value
            result = set_parameter(name, value)
            assert not result.successful, f'{name}={value!r} was accepted'
            for needle in needles:
                assert needle in result.reason, f'{needle!r} not in {result.reason!r}'
            assert harness.node.get_parameter(name).value == old
        assert harness.node._node_parameters.current().base_url == first.base_url

        captions: list = []
        harness.tester.create_subscription(Caption, 'caption_stamped', captions.append, 10)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=10):
            assert caller.call()[0].success
            assert len(first.requests) == 1
            for name, value in [('model', 'llava:7b'), ('prompt', 'Count the boxes.'),
                                ('base_url', second.base_url), ('caption_period', 0.3)]:
                assert set_parameter(name, value).successful, name
            answer, _ = caller.call()
            assert answer.success, answer.error
            assert answer.model == 'llava:7b'
            assert answer.description.endswith('prompt=Count the boxes.')
            wait_for(lambda: len(captions) >= 2, 5.0, 'captions at the new caption_period')
            assert len(first.requests) == 1, 'requests must go to the new base_url'
            assert second.requests[0].body['model'] == 'llava:7b'
            assert all(c.model == 'llava:7b' and c.prompt == 'Count the boxes.'
                       for c in captions)
            assert set_parameter('caption_period', 0.0).successful
            # A caption already running may still land.
            assert harness.node.executor.wait_for_offloaded(10.0)
            settled = len(second.requests)
            wait_for_node_time(harness, 1.0)
            assert len(second.requests) == settled, 'captions must stop at caption_period 0'
