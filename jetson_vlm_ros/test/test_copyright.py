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

"""ament_copyright where ROS ships it; otherwise the same rule, checked here."""

import pathlib

import pytest

try:
    from ament_copyright.main import main as ament_copyright_main
except ImportError:  # not on PyPI: a ROS-less machine checks the header itself
    ament_copyright_main = None

PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[1]
APACHE_NOTICE = (
    'Licensed under the Apache License, Version 2.0 (the "License");',
    'http://www.apache.org/licenses/LICENSE-2.0',
)


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    if ament_copyright_main is not None:
        assert ament_copyright_main(argv=['.', 'test']) == 0, 'Found errors'
        return
    missing = []
    for path in sorted(PACKAGE_ROOT.rglob('*.py')):
        head = path.read_text(encoding='utf-8')[:1200]
        if not head.startswith('# Copyright ') or not all(n in head for n in APACHE_NOTICE):
            missing.append(str(path.relative_to(PACKAGE_ROOT)))
    assert not missing, f'files without a copyright and Apache-2.0 header: {missing}'
