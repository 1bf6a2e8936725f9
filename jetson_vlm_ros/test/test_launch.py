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

"""launch/vlm.launch.py: what can be checked without ROS 2 launch, and the rest where it exists."""

import ast
import importlib.util
import os
import re

import pytest
import yaml

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAUNCH_FILE = os.path.join(PACKAGE_ROOT, 'launch', 'vlm.launch.py')
ARGUMENTS = {'image_topic', 'params_file', 'model', 'base_url', 'image_transport', 'namespace',
             'fastdds_profile', 'log_level', 'gateway_port', 'cameras', 'camera_topics'}


def launch_source() -> str:
    with open(LAUNCH_FILE, encoding='utf-8') as handle:
        return handle.read()


def test_launch_file_compiles():
    compile(launch_source(), LAUNCH_FILE, 'exec')


def test_launch_arguments_are_declared_with_descriptions():
    tree = ast.parse(launch_source())
    declared = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'DeclareLaunchArgument':
            name = call.args[0].value
            keywords = {k.arg for k in call.keywords}
            declared[name] = keywords
    assert set(declared) == ARGUMENTS
    for name, keywords in declared.items():
        assert {'default_value', 'description'} <= keywords, name


def test_launch_names_what_setup_installs():
    source = launch_source()
    with open(os.path.join(PACKAGE_ROOT, 'setup.py'), encoding='utf-8') as handle:
        setup = handle.read()
    executable = re.search(r"executable='([^']+)'", source).group(1)
    assert re.search(rf"'{executable} = jetson_vlm_ros\.ros\.node_entry:main'", setup)
    assert "package='jetson_vlm_ros'" in source
    assert "'config', 'vlm.yaml'" in source
    assert os.path.isfile(os.path.join(PACKAGE_ROOT, 'config', 'vlm.yaml'))
    assert "glob('launch/*.launch.py')" in setup and "glob('config/*.yaml')" in setup
    assert "glob('config/*.xml')" in setup  # the Fast DDS profile for large frames
    assert "('image', LaunchConfiguration('image_topic'))" in source


def test_params_file_is_valid_ros_parameter_yaml():
    with open(os.path.join(PACKAGE_ROOT, 'config', 'vlm.yaml'), encoding='utf-8') as handle:
        params = yaml.safe_load(handle)
    assert list(params) == ['/**']
    assert 'model' in params['/**']['ros__parameters']


requires_launch = pytest.mark.skipif(
    importlib.util.find_spec('launch_ros') is None,
    reason='ROS 2 launch / launch_ros not installed (not on PyPI; comes with a ROS 2 install)')


def launch_with(configurations: dict) -> tuple:
    """Return the launch file's module, a context with configurations, and its node function."""
    from launch import LaunchContext
    from launch.actions import OpaqueFunction
    spec = importlib.util.spec_from_file_location('vlm_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = LaunchContext()
    context.launch_configurations.update(configurations)
    for entity in description.entities:
        if not isinstance(entity, OpaqueFunction):
            entity.visit(context)  # declares the defaults of arguments not given
    functions = [e for e in description.entities if isinstance(e, OpaqueFunction)]
    assert len(functions) == 1, 'no OpaqueFunction building the node'
    return module, context, functions[0]


def parameter_overrides(context, node) -> dict:
    """Return the parameters the launch file gives the node on top of its params file."""
    from launch.utilities import perform_substitutions
    cmd = [perform_substitutions(context, part) for part in node.cmd]
    params_files = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == '--params-file']
    assert params_files[0].endswith(os.path.join('config', 'vlm.yaml'))
    with open(params_files[1], encoding='utf-8') as handle:
        return yaml.load(handle, Loader=ParamsFileLoader)


class ParamsFileLoader(yaml.SafeLoader):
    """safe_load, plus the `!!python/tuple` tag launch_ros writes list parameters with."""


ParamsFileLoader.add_constructor(
    'tag:yaml.org,2002:python/tuple',
    lambda loader, node: list(loader.construct_sequence(node)))


@requires_launch
def test_launch_description_builds_the_node():
    from launch.substitutions import LaunchConfiguration
    from launch.utilities import perform_substitutions
    from launch_ros.actions import Node
    # As `ros2 launch jetson_vlm_ros vlm.launch.py model:=... namespace:=robot1 ...` gives them.
    _, context, function = launch_with({
        'model': 'llava:7b', 'base_url': 'http://jetson:9000/v1', 'image_transport': '',
        'gateway_port': '8080',
        'namespace': 'robot1', 'image_topic': '/front/image_raw', 'log_level': 'debug'})
    built = function.execute(context)
    assert len(built) == 1 and isinstance(built[0], Node)
    node = built[0]
    assert (node.node_package, node.node_executable) == ('jetson_vlm_ros', 'vlm_node')

    node._perform_substitutions(context)  # what Node.execute() does before starting it
    assert node.node_name == '/robot1/vlm_node'
    assert node.expanded_node_namespace == '/robot1'
    assert node.expanded_remapping_rules == [('image', '/front/image_raw')]
    context.extend_locals({'ros_specific_arguments': {  # as Node.execute() sets them
        'name': '__node:=vlm_node', 'ns': '__ns:=/robot1'}})
    cmd = [perform_substitutions(context, part) for part in node.cmd]
    assert cmd[cmd.index('--log-level') + 1] == 'debug'
    # The params file first, then the overrides given as arguments (later files win).
    params_files = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == '--params-file']
    assert params_files[0] == LaunchConfiguration('params_file').perform(context)
    assert parameter_overrides(context, node) == {'/robot1/vlm_node': {'ros__parameters': {
        'model': 'llava:7b', 'base_url': 'http://jetson:9000/v1', 'gateway_port': 8080}}}


@requires_launch
def test_cameras_arguments_set_the_parameter_and_remap_each_camera():
    module, context, function = launch_with({
        'cameras': '[front, rear]',
        'camera_topics': '[/front_camera/image_raw, /rear_camera/image_raw]'})
    node = function.execute(context)[0]
    node._perform_substitutions(context)
    assert node.expanded_remapping_rules == [
        ('image', '/camera/image_raw'), ('front/image', '/front_camera/image_raw'),
        ('rear/image', '/rear_camera/image_raw')]
    context.extend_locals({'ros_specific_arguments': {'name': '__node:=vlm_node', 'ns': ''}})
    overrides = parameter_overrides(context, node)
    assert list(overrides.values()) == [{'ros__parameters': {'cameras': ['front', 'rear']}}]

    assert module.camera_list('front') == ['front']
    with pytest.raises(ValueError, match='expected a list of names'):
        module.camera_list('{front: 1}')
    context.launch_configurations['camera_topics'] = '[/front_camera/image_raw]'
    with pytest.raises(ValueError, match='camera_topics names 1 topics for 2 cameras'):
        function.execute(context)
