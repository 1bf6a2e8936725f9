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
How a ROS process that failed to start ends: at once, without tearing its DDS participant down.

Fast DDS can crash or hang while it destroys a participant a fraction of a second old whose
discovery with other new participants is still under way. Measured on the 2-core test
machine with six vlm_node processes started together, each with one bad parameter: 3 of
about 260 exits went wrong when the half-made node was destroyed (a SIGSEGV in
rcl_node_fini, a busy loop in DomainParticipant::set_listener, a wait in
ResourceEvent::unregister_timer that never returned); `ros2 launch` then shows a crash or
waits on a process that never ends. A node that never ran has nothing to hand back that the
kernel does not take back itself; Fast DDS's shared-memory files of a process that is gone
are reclaimed by the next participant that starts.
"""

import ctypes
import os
import sys
from typing import NoReturn


def exit_after_start_failure(code: int) -> NoReturn:
    """Flush what was logged (Python's and C's stdio buffers), then end the process."""
    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # rcutils logs through C stdio
    os._exit(code)
