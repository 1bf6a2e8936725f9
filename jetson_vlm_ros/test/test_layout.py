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
The package's layout says its architecture, and stays that way.

The pure subpackages import nothing of ROS, directly or through the package's ROS side, so
they run (and are tested) without a ROS install; every module sits in a subpackage; the
node's module stays a composition root that reads like a table of contents.
"""

import ast
import pathlib

import pytest

SOURCES = pathlib.Path(__file__).resolve().parents[1] / 'jetson_vlm_ros'
PURE = ('frames', 'model', 'gateway', 'alerts', 'core')
ROS_SIDE = ('ros', 'tools')
# Top-level modules that only exist with ROS (launch* covers launch, launch_ros, ...).
ROS_MODULES = {
    'rclpy', 'sensor_msgs', 'std_msgs', 'std_srvs', 'diagnostic_msgs', 'action_msgs',
    'rcl_interfaces', 'builtin_interfaces', 'jetson_vlm_interfaces', 'ament_index_python',
    'cv_bridge'}
VLM_NODE_MAX_LINES = 250


def imported_names(source: str, module: str) -> set[str]:
    """Return the absolute names every import statement of source names, in functions too."""
    names = set()
    package = module.rsplit('.', 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:  # relative: resolve against the module's own package
                parent = package.rsplit('.', node.level - 1)[0] if node.level > 1 else package
                base = f'{parent}.{base}' if base else parent
            names.add(base)
            # `from jetson_vlm_ros.ros import vlm_node` imports a module of the ROS side.
            names.update(f'{base}.{alias.name}' for alias in node.names)
    return names


def ros_import(name: str) -> bool:
    """Whether importing name needs ROS: a ROS package, or the package's own ROS side."""
    parts = name.split('.')
    if parts[0] in ROS_MODULES or parts[0].startswith('launch'):
        return True
    return parts[0] == 'jetson_vlm_ros' and len(parts) > 1 and parts[1] in ROS_SIDE


def module_name(path: pathlib.Path) -> str:
    return '.'.join(('jetson_vlm_ros',) + path.relative_to(SOURCES).with_suffix('').parts)


def modules_of(subpackage: str) -> list[pathlib.Path]:
    return sorted((SOURCES / subpackage).rglob('*.py'))


@pytest.mark.parametrize('subpackage', PURE)
def test_pure_subpackages_import_nothing_of_ros(subpackage):
    modules = modules_of(subpackage)
    assert modules, f'{subpackage}/ has no modules: the layout changed, update PURE'
    leaks = {
        str(path.relative_to(SOURCES)): sorted(filter(ros_import, imported_names(
            path.read_text(), module_name(path))))
        for path in modules}
    leaks = {path: names for path, names in leaks.items() if names}
    assert not leaks, (
        f'{subpackage}/ is pure (no ROS imports, so it runs without ROS); these modules '
        f'import ROS or the ROS side (ros/, tools/): {leaks}. Move the ROS part to ros/.')


def test_the_scan_sees_imports_in_functions_relative_ones_and_the_ros_side():
    # The check above proves nothing unless these forms are found.
    source = (
        'def later():\n    from rclpy.node import Node\n'
        'try:\n    import launch_ros.actions\nexcept ImportError:\n    pass\n'
        'from ..ros import vlm_node\n'
        'from jetson_vlm_ros.tools import demo_camera\n'
        'import numpy\n')
    flagged = set(filter(ros_import, imported_names(source, 'jetson_vlm_ros.frames.example')))
    assert {'rclpy.node', 'launch_ros.actions', 'jetson_vlm_ros.ros.vlm_node',
            'jetson_vlm_ros.tools.demo_camera'} <= flagged
    assert not any(name.startswith('numpy') for name in flagged)
    # And on the real files: the ROS side is found to import ROS.
    found = set()
    for path in modules_of('ros'):
        found.update(filter(ros_import, imported_names(path.read_text(), module_name(path))))
    assert {'rclpy.node', 'sensor_msgs.msg', 'cv_bridge'} <= found


def test_every_module_lives_in_a_subpackage():
    stray = sorted(path.name for path in SOURCES.glob('*.py') if path.name != '__init__.py')
    assert not stray, (
        f'modules at the top of the package: {stray}; put each in the subpackage that says '
        f'what it does: {", ".join(PURE + ROS_SIDE)}')
    subpackages = sorted(path.name for path in SOURCES.iterdir()
                         if path.is_dir() and any(path.glob('*.py')))
    assert subpackages == sorted(PURE + ROS_SIDE), 'a subpackage this test does not know'
    for name in subpackages:
        # Without __init__.py setup.py's find_packages() leaves the folder uninstalled.
        init = SOURCES / name / '__init__.py'
        assert init.is_file(), f'{name}/ has no __init__.py'
        assert ast.get_docstring(ast.parse(init.read_text())), (
            f'{name}/__init__.py needs a docstring that says what the subpackage is')


def test_vlm_node_stays_a_composition_root():
    lines = len((SOURCES / 'ros' / 'vlm_node.py').read_text().splitlines())
    assert lines <= VLM_NODE_MAX_LINES, (
        f'ros/vlm_node.py has {lines} lines (at most {VLM_NODE_MAX_LINES}): it wires the '
        'parts together; put new behaviour in a module of its own')
