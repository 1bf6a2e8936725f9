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

"""The openai floor: declared alike everywhere, and an older openai stops vlm_node with the fix."""

import os
import pathlib
import re
import subprocess
import xml.etree.ElementTree as ElementTree

from conftest import PACKAGE_ROOT, requires_ros, start_node
from jetson_vlm_ros.model.openai_version import (
    installed_openai_version, OPENAI_FIX, OPENAI_FLOOR, openai_problem)
import pytest

FLOOR = f'{OPENAI_FLOOR[0]}.{OPENAI_FLOOR[1]}'


@pytest.mark.parametrize('version', ['1.12.0', '1.12.1', '1.40.0', '2.0.0', '3.57.0', '1.13rc1'])
def test_the_floor_and_newer_are_accepted(version):
    assert openai_problem(version) is None


@pytest.mark.parametrize('version', ['1.11.1', '1.0.0', '0.28.1', '0.27', 'unknown'])
def test_older_versions_are_refused_with_the_fix(version):
    problem = openai_problem(version)
    assert problem is not None
    assert f'openai {version} is too old' in problem
    assert f"pip install 'openai>={FLOOR}'" in problem
    assert '\n' not in problem


def test_a_missing_openai_names_the_fix():
    assert openai_problem(None) == f'the Python package openai is not installed: {OPENAI_FIX}'


def test_the_installed_openai_passes():
    # The version every lane installs (the noble lane: exactly the floor).
    assert openai_problem(installed_openai_version()) is None


def test_package_xml_declares_the_same_floor():
    root = ElementTree.parse(PACKAGE_ROOT + '/package.xml').getroot()
    openai = [e for e in root.iter('exec_depend') if e.text == 'python3-openai-pip']
    assert [e.get('version_gte') for e in openai] == [FLOOR]


def test_set_up_inputs_declare_the_same_floor():
    scripts = pathlib.Path(PACKAGE_ROOT).parent / 'scripts'
    inputs = sorted(scripts.glob('requirements*.in')) + sorted(scripts.glob('lanes/*.in'))
    if not inputs:
        pytest.skip('no scripts/ beside the package (an installed or released copy)')
    for path in inputs:
        pins = re.findall(r'^openai\s*(>=|==)\s*([\d.]+)', path.read_text(), re.MULTILINE)
        for operator, version in pins:
            # A lower bound is the floor itself; an exact pin (a lane's) is never below it.
            if operator == '>=':
                assert version == FLOOR, f'{path}: openai>={version}, but the floor is {FLOOR}'
            else:
                assert openai_problem(version) is None, f'{path}: openai=={version}'
        if path.name == 'noble.in':  # the lane that proves the floor runs the floor itself
            assert ('==', f'{FLOOR}.0') in pins, f'{path} pins {pins}, not openai=={FLOOR}.0'


@requires_ros
def test_an_older_openai_stops_the_node_with_one_line(tmp_path, monkeypatch):
    # What the node sees of the installed openai: its distribution metadata, here an old one
    # found first on the path (the real, newer openai stays importable behind it).
    dist_info = tmp_path / 'openai-1.11.0.dist-info'
    dist_info.mkdir()
    (dist_info / 'METADATA').write_text('Metadata-Version: 2.1\nName: openai\nVersion: 1.11.0\n')
    monkeypatch.setenv('PYTHONPATH', f'{tmp_path}{os.pathsep}{os.environ.get("PYTHONPATH", "")}')
    node = start_node(code='from jetson_vlm_ros.ros.node_entry import main; main()')
    try:
        output, _ = node.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        node.kill()
        node.communicate()
        pytest.fail('vlm_node kept running with openai 1.11.0')
    lines = [line for line in output.splitlines() if line.strip()]
    assert node.returncode == 1, output
    assert len(lines) == 1, output
    assert '[FATAL]' in lines[0] and '[vlm_node]' in lines[0]
    assert f'openai 1.11.0 is too old for vlm_node (needs >= {FLOOR}): {OPENAI_FIX}' in lines[0]
