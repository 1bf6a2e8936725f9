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
vlm_node's ROS parameters: declared from settings.PARAMETERS, every change validated.

Each parameter gets a descriptor with its description, range and valid values (what
`ros2 param describe` shows). settings.py checks every value, at start-up and on every set,
so a rejected set names the parameter and what it accepts; the node's parts hear of an
accepted change through listeners.
"""

from typing import Any, Callable

from jetson_vlm_ros.core.settings import (
    PARAMETERS, PARAMETERS_BY_NAME, ParameterSpec, settings_from, SettingsError, VlmSettings)
from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult)
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

# Told (old settings, new settings) after each accepted change.
SettingsListener = Callable[[VlmSettings, VlmSettings], None]


class NodeStartError(SettingsError):
    """VlmNode cannot start on this configuration; logger_name is its full one (front.vlm_node)."""

    def __init__(self, logger_name: str, reason: str) -> None:
        super().__init__(reason)
        self.logger_name = logger_name


def descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """Return the ParameterDescriptor of one parameter: description, range, valid values."""
    # dynamic_typing: a value of the wrong type reaches our validation, whose reason names
    # the parameter and the expected type (rclpy's own check names neither).
    described = ParameterDescriptor(
        description=spec.description, read_only=spec.read_only,
        dynamic_typing=not isinstance(spec.default, tuple),
        additional_constraints=f'valid: {spec.valid_values()}')
    if isinstance(spec.default, bool):
        pass  # no range: true or false
    elif isinstance(spec.default, float):
        described.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min_value), to_value=float(spec.max_value))]
    elif isinstance(spec.default, int):
        described.integer_range = [IntegerRange(
            from_value=int(spec.min_value), to_value=int(spec.max_value), step=1)]
    return described


def doubles_as_doubles(parameters: list[Parameter]) -> list[Parameter]:
    """Return parameters with an integer given for a double parameter made a double."""
    # `ros2 param set /vlm_node caption_period 2` (or `caption_period: 2` in YAML) sends an
    # integer; a documented double stays a double, as `ros2 param describe` and `dump` show it.
    return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value)) if is_int_for_double(p)
            else p for p in parameters]


def is_int_for_double(parameter: Parameter) -> bool:
    """Whether parameter is an integer given for one of our double parameters."""
    spec = PARAMETERS_BY_NAME.get(parameter.name)
    return (spec is not None and isinstance(spec.default, float)
            and parameter.type_ == Parameter.Type.INTEGER)


def declare_parameters(node: Node) -> VlmSettings:
    """Declare every parameter on node; return the settings, or raise SettingsError."""
    for spec in PARAMETERS:
        _declare(node, spec)
    declared_ints = [p for p in node.get_parameters(
        [s.name for s in PARAMETERS if not isinstance(s.default, tuple)]) if is_int_for_double(p)]
    if declared_ints:
        node.set_parameters(doubles_as_doubles(declared_ints))
    # Raises SettingsError naming the parameter: the node does not start on bad config.
    return settings_from({spec.name: _value(node, spec) for spec in PARAMETERS})


def _value(node: Node, spec: ParameterSpec) -> Any:
    try:
        return node.get_parameter(spec.name).value
    except ParameterUninitializedException:  # a read-only string array left unset: []
        return spec.default


def _declare(node: Node, spec: ParameterSpec) -> None:
    if not isinstance(spec.default, tuple):
        node.declare_parameter(spec.name, spec.default, descriptor(spec))
        return
    # rclpy reads an empty list as a byte array: declare string arrays by type, then
    # give them their default unless the params file or command line set one.
    node.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, descriptor(spec))
    try:
        node.get_parameter(spec.name)
    except ParameterUninitializedException:
        if spec.read_only:
            return  # cannot be set now; read as its default (_value)
        node.set_parameters([Parameter(
            spec.name, Parameter.Type.STRING_ARRAY, list(spec.default))])


class NodeParameters:
    """The node's current settings, kept in step with its ROS parameters."""

    def __init__(self, node: Node) -> None:
        """Declare the parameters; raise SettingsError or ParameterException on bad ones."""
        self._settings = declare_parameters(node)
        self._listeners: list[SettingsListener] = []
        if hasattr(node, 'add_pre_set_parameters_callback'):  # Iron and later, not Humble
            node.add_pre_set_parameters_callback(doubles_as_doubles)
        node.add_on_set_parameters_callback(self._on_set_parameters)

    def current(self) -> VlmSettings:
        """Return the settings as of now (a new object after each accepted change)."""
        return self._settings

    def on_change(self, listener: SettingsListener) -> None:
        """Have listener(old, new) called after each accepted change of our parameters."""
        self._listeners.append(listener)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if is_int_for_double(parameter):  # Humble: no pre-set callback converted it
                return SetParametersResult(successful=False, reason=(
                    f"parameter '{parameter.name}' is a double: write {parameter.value}.0"))
        ours = {p.name: p.value for p in parameters if p.name in PARAMETERS_BY_NAME}
        try:
            settings = self._settings.updated(ours)
        except SettingsError as error:
            return SetParametersResult(successful=False, reason=str(error))
        old, self._settings = self._settings, settings
        for listener in self._listeners:
            listener(old, settings)
        return SetParametersResult(successful=True)
