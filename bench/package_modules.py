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
Every module of the jetson_vlm_ros package the bench uses, in one table.

The one place to change when the package's layout changes. Nothing but the standard
library, so the helper processes whose CPU and memory the bench measures (node_probe.py,
bare_counter.py) can use it without loading more than they did.
"""

import importlib
from types import ModuleType

# By short name. Imported only when a figure needs one (package_module), so that
# `run_bench.py --help` loads none of them. vlm_node also runs as `python -m <module>`
# (figure 13, soak.py) and node_probe.py calls its main(): it must run the node either way.
PACKAGE_MODULES = {
    'demo_camera': 'jetson_vlm_ros.tools.demo_camera',
    'fastdds_profile': 'jetson_vlm_ros.ros.fastdds_profile',
    'frame_memory': 'jetson_vlm_ros.frames.frame_memory',
    'history_preparation': 'jetson_vlm_ros.frames.history_preparation',
    'image_conversion': 'jetson_vlm_ros.frames.image_conversion',
    'image_encoding': 'jetson_vlm_ros.frames.image_encoding',
    'scene_change': 'jetson_vlm_ros.frames.scene_change',
    'scene_describer': 'jetson_vlm_ros.model.scene_describer',
    'settings': 'jetson_vlm_ros.core.settings',
    'vlm_client': 'jetson_vlm_ros.model.vlm_client',
    'vlm_node': 'jetson_vlm_ros.ros.vlm_node',
}


def package_module(name: str) -> ModuleType:
    """Import and return the package module PACKAGE_MODULES calls name."""
    return importlib.import_module(PACKAGE_MODULES[name])
