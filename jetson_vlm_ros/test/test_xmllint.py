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

"""ament_xmllint where ROS ships it; otherwise well-formedness and catkin_pkg's format-3 check."""

import pathlib
import xml.dom.minidom

import pytest

try:
    from ament_xmllint.main import main as ament_xmllint_main
except ImportError:  # not on PyPI: a ROS-less machine checks what it can offline
    ament_xmllint_main = None

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.linter
@pytest.mark.xmllint
def test_xmllint():
    if ament_xmllint_main is not None:
        assert ament_xmllint_main(argv=[]) == 0, 'Found errors'
        return
    from catkin_pkg.package import parse_package
    for path in sorted(PACKAGE_ROOT.rglob('*.xml')):
        xml.dom.minidom.parse(str(path))  # raises on malformed XML
    package = parse_package(str(PACKAGE_ROOT / 'package.xml'))  # raises on schema errors
    package.validate()
    assert package.package_format == 3
    assert package.name == PACKAGE_ROOT.name
