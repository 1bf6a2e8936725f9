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
Which cameras a request, an alert rule or caption_cameras names: one set of checks, one wording.

Names are the node's camera names (the `cameras` parameter), or the single word 'all' for
every camera. The problems read the same wherever they are reported; callers put their
subject in front ("rule '[top] ...': unknown camera 'top': ...").
"""

from typing import Optional, Sequence

# The word that asks about every camera; no camera may be named so.
ALL_CAMERAS = 'all'


def camera_choice_problem(named: Sequence[str],
                          cameras: Optional[Sequence[str]]) -> Optional[str]:
    """
    Return why named does not choose among cameras (the node's camera names), or None.

    cameras None: the node's cameras are not known here; only the shape is checked.
    """
    if named and cameras is not None and not cameras:
        return 'this node has no named cameras (cameras parameter)'
    if ALL_CAMERAS in named and len(named) > 1:
        return f"'{ALL_CAMERAS}' means every camera: name no other with it"
    repeated = sorted({name for name in named if list(named).count(name) > 1})
    if repeated:
        return f"camera named twice: {', '.join(repeated)}"
    if cameras is None:
        return None
    unknown = [name for name in named if name != ALL_CAMERAS and name not in cameras]
    if unknown:
        return (f"unknown camera {', '.join(map(repr, unknown))}: this node's cameras are "
                f"{', '.join(cameras)} (or '{ALL_CAMERAS}')")
    return None


def chosen_cameras(named: Sequence[str], cameras: Sequence[str]) -> list[str]:
    """Return the cameras named, checked first: 'all' is every camera, in the node's order."""
    return list(cameras) if ALL_CAMERAS in named else list(named)
