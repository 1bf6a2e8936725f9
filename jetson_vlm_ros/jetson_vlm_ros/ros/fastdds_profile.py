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
The environment that makes a process load a Fast DDS XML profile, for its ROS distribution.

Fast DDS 2.x (Humble, Jazzy) reads only FASTRTPS_DEFAULT_PROFILES_FILE; Fast DDS 3.x
(Kilted and later) reads only FASTDDS_DEFAULT_PROFILES_FILE, and Kilted's rmw_fastrtps still
honours the old name but logs a deprecation warning for it. Both are read once per process,
when its first DDS participant is created, so they go into a process's environment at start.
"""

import os
import sys
from typing import MutableMapping, Optional

# ROS 2 distributions whose Fast DDS is 2.x or older.
FAST_DDS_2_DISTROS = frozenset({'foxy', 'galactic', 'humble', 'iron', 'jazzy'})
OLD_NAME = 'FASTRTPS_DEFAULT_PROFILES_FILE'
NEW_NAME = 'FASTDDS_DEFAULT_PROFILES_FILE'


def profile_environment(profile: str, ros_distro: Optional[str] = None) -> dict[str, str]:
    """
    Return the environment variable(s) that load profile under ros_distro.

    ros_distro defaults to $ROS_DISTRO; where it is unset (ROS 2 from PyPI wheels), the
    installed Fast DDS decides (installed_fast_dds_major). An empty profile returns no
    variable (stock Fast DDS). A profile that is not a file raises FileNotFoundError: Fast
    DDS itself would only log an error and run with its stock transports, which lose large
    frames quietly.
    """
    if not profile:
        return {}
    if not os.path.isfile(profile):
        raise FileNotFoundError(f'Fast DDS profile {profile!r} is not a file')
    if ros_distro is None:
        ros_distro = os.environ.get('ROS_DISTRO', '')
    if ros_distro:
        fast_dds_2 = ros_distro.lower() in FAST_DDS_2_DISTROS
    else:
        fast_dds_2 = installed_fast_dds_major() == 2
    return {OLD_NAME if fast_dds_2 else NEW_NAME: profile}


def installed_fast_dds_major(prefixes: Optional[list[str]] = None) -> int:
    """
    Return 2 or 3: the Fast DDS of the first ROS prefix that has one (3 where none says).

    Fast DDS 3.x installs its CMake package as share/fastdds, 2.x as share/fastrtps: what
    tells where ROS_DISTRO is unset (ROS 2 from PyPI wheels, whose prefix is the venv).
    """
    if prefixes is None:
        prefixes = [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) if p]
        prefixes.append(sys.prefix)
    for prefix in prefixes:
        if os.path.isdir(os.path.join(prefix, 'share', 'fastdds')):
            return 3
        if os.path.isdir(os.path.join(prefix, 'share', 'fastrtps')):
            return 2
    return 3


# The profile the package ships (config/): a large shared-memory segment for raw frames.
LARGE_FRAMES_PROFILE = 'fastdds_large_frames.xml'


def package_profile() -> Optional[str]:
    """Return the path of the package's large-frames profile (installed, else source tree)."""
    try:
        from ament_index_python.packages import get_package_share_directory
        share = get_package_share_directory('jetson_vlm_ros')
    except (ImportError, LookupError):  # PackageNotFoundError is a KeyError
        # The source tree: jetson_vlm_ros/ holds config/ and jetson_vlm_ros/ros/ this file.
        share = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.path.join(share, 'config', LARGE_FRAMES_PROFILE)
    return path if os.path.isfile(path) else None


def load_package_profile_unless_set(
        environ: Optional[MutableMapping[str, str]] = None) -> Optional[str]:
    """
    Make this process load the package's profile, unless its environment names one already.

    Call before rclpy.init (Fast DDS reads the variable when the first participant is made).
    Either variable set, even empty, is the user's choice and is kept. Returns the profile
    loaded, or None.
    """
    environ = os.environ if environ is None else environ
    if OLD_NAME in environ or NEW_NAME in environ:
        return None
    profile = package_profile()
    if profile is None:
        return None
    environ.update(profile_environment(profile))
    return profile
