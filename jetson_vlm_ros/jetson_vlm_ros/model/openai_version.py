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
The oldest `openai` the node works with, and the one-line fix when the installed one is older.

1.12 is what rosdep installs on Ubuntu 24.04 (Jazzy, JetPack 7: apt's python3-openai); the
noble CI lane runs the whole suite with it. Before 1.0 the library had another API
(`openai.ChatCompletion`), which fails deep inside the node with no hint of the cause.
"""

from importlib import metadata
import re
from typing import Optional

OPENAI_FLOOR = (1, 12)
OPENAI_FIX = f"pip install 'openai>={OPENAI_FLOOR[0]}.{OPENAI_FLOOR[1]}'"


def installed_openai_version() -> Optional[str]:
    """Return the installed openai's version, None when it is not installed."""
    try:
        return metadata.version('openai')
    except metadata.PackageNotFoundError:
        return None


def openai_problem(version: Optional[str]) -> Optional[str]:
    """Return why the node cannot use this openai version, with the fix; None when it can."""
    if version is None:
        return f'the Python package openai is not installed: {OPENAI_FIX}'
    match = re.match(r'(\d+)\.(\d+)', version)
    if match and (int(match.group(1)), int(match.group(2))) >= OPENAI_FLOOR:
        return None
    return (f'openai {version} is too old for vlm_node (needs >= '
            f'{OPENAI_FLOOR[0]}.{OPENAI_FLOOR[1]}): {OPENAI_FIX}')
