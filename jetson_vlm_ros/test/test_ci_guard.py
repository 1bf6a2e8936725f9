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

"""A missing ROS set-up fails the run under CI and only skips elsewhere (conftest.py)."""

import os
import subprocess
import sys

from conftest import requires_ros

TEST_DIR = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.dirname(TEST_DIR)

pytestmark = requires_ros


def run_without_interfaces(ci: str, lane_without_ros: str = '') -> subprocess.CompletedProcess:
    """Run one ROS test file in a pytest whose path lacks the colcon-built interfaces."""
    env = dict(os.environ)
    # As on a machine where colcon never ran: only the source tree is importable.
    env['PYTHONPATH'] = PACKAGE_DIR
    env.pop('CI', None)
    env.pop('JETSON_VLM_LANE_WITHOUT_ROS', None)
    if ci:
        env['CI'] = ci
    if lane_without_ros:
        env['JETSON_VLM_LANE_WITHOUT_ROS'] = lane_without_ros
    return subprocess.run(
        [sys.executable, '-m', 'pytest', '-p', 'no:cacheprovider', '-q', '-rs',
         os.path.join(TEST_DIR, 'test_vlm_node.py')],
        cwd=PACKAGE_DIR, env=env, capture_output=True, text=True, timeout=120)


def test_ci_fails_when_ros_is_missing():
    result = run_without_interfaces(ci='true')
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert 'CI is set, but ROS 2 not importable' in output
    assert 'jetson_vlm_interfaces' in output  # names what is missing


def test_outside_ci_ros_tests_skip_with_the_reason():
    result = run_without_interfaces(ci='')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'skipped' in output and 'ROS 2 not importable' in output
    assert ' passed' not in output  # nothing that needs ROS ran


def test_a_lane_without_ros_on_purpose_skips_under_ci_with_its_reason():
    # scripts/test.sh --lane noble: CI=true, and no ROS by design, not by a broken set-up.
    result = run_without_interfaces(ci='true', lane_without_ros='the noble lane runs without ROS')
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert 'ROS 2 not importable' in output and 'the noble lane runs without ROS' in output
    assert ' passed' not in output
