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
             'fastdds_profile', 'log_level'}


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
    assert re.search(rf"'{executable} = jetson_vlm_ros\.vlm_node:main'", setup)
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


@pytest.mark.skipif(
    importlib.util.find_spec('launch_ros') is None,
    reason='ROS 2 launch / launch_ros not installed (not on PyPI; comes with a ROS 2 install)')
def test_launch_description_builds_the_node():
    from launch import LaunchContext
    from launch_ros.actions import Node
    spec = importlib.util.spec_from_file_location('vlm_launch', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    context = LaunchContext()
    for entity in description.entities:
        entity.visit(context)
    nodes = [e for e in description.entities if hasattr(e, 'function')]
    assert nodes, 'no OpaqueFunction building the node'
    built = nodes[0].function(context)
    assert isinstance(built[0], Node)
