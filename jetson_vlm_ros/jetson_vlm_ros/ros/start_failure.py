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
How a ROS process that failed to start ends: its half-made node torn down in order, on a clock.

The node is destroyed before the context is shut down, as after a normal run: that frees its
DDS participant, whose shared-memory segment (67 MB with the large-frames profile) otherwise
stays in /dev/shm until the machine restarts (measured: a process ended with os._exit or
SIGKILL leaves it; one ended this way does not). Left to the garbage collector at interpreter
exit, after the context was gone, that teardown crashed or hung now and then (2 hangs and a
SIGSEGV in about 260 failed starts, six at once). Fast DDS can still misbehave tearing down
a participant a fraction of a second old while peers come and go, so a teardown that hangs
ends the process anyway after TEARDOWN_LIMIT: better one segment left than a process
`ros2 launch` waits on forever.
"""

import ctypes
import os
import sys
import threading
from typing import Any

# Seconds the teardown of a process that failed to start may take (normally well under one).
TEARDOWN_LIMIT = 10.0


def destroy_half_made(node: Any) -> None:
    """Destroy a node whose constructor failed (call it from there, then re-raise)."""
    try:
        node.destroy_node()
    except Exception:  # noqa: B902 - the constructor's own error is the one to report
        pass


def guard_teardown(code: int, limit: float = TEARDOWN_LIMIT) -> None:
    """End the process with code after limit seconds, should its teardown hang."""
    timer = threading.Timer(limit, _exit_now, (code,))
    timer.daemon = True
    timer.start()


def _exit_now(code: int) -> None:
    sys.stderr.write(f'teardown took over {TEARDOWN_LIMIT:g} s: exiting without it\n')
    sys.stdout.flush()
    sys.stderr.flush()
    ctypes.CDLL(None).fflush(None)  # rcutils logs through C stdio
    os._exit(code)
