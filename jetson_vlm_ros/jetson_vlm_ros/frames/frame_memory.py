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
glibc malloc settings for a process that receives and holds video frames.

Each received frame is a fresh buffer of several MB (6 MB at 1080p rgb8). glibc's default
heuristics hand such memory back to the kernel as soon as a few MB lie free at the top of
a heap, and the next frame then page-faults every page of it in again: with a 32-frame
history at 1080p30 that was about 425 page faults per frame and 20 % more CPU than a node
keeping one frame. Fixed thresholds keep up to 32 MiB of freed frame memory in the process
for the next frame instead (bench figure 11 measures both).

The settings are process-wide, so they are applied by vlm_node's main() only, never by the
node class, and not at all when the user tuned malloc through its own environment variables.
"""

import ctypes
import os
import platform

# mallopt() parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Freed memory kept for reuse: 5 frames at 1080p rgb8, 1 at 4K. 32 MiB is also the largest
# mmap threshold glibc accepts on 64-bit systems (half its 64 MiB heap size).
KEPT_BYTES = 32 * 2**20
# What glibc reads at start-up; when any is set the user has chosen, and we keep out.
USER_SETTINGS = ('MALLOC_TRIM_THRESHOLD_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TOP_PAD_')


def keep_freed_frames_in_process() -> str:
    """
    Set glibc's trim and mmap thresholds to KEPT_BYTES; return what was done, for the log.

    Does nothing (and says why) on a C library other than glibc, or when the user set
    malloc's thresholds through MALLOC_*_ variables or GLIBC_TUNABLES.
    """
    chosen = [name for name in USER_SETTINGS if name in os.environ]
    if 'glibc.malloc.' in os.environ.get('GLIBC_TUNABLES', ''):
        chosen.append('GLIBC_TUNABLES')
    if chosen:
        return f'malloc left as the environment sets it ({", ".join(chosen)})'
    if platform.libc_ver()[0] != 'glibc':
        return 'malloc left as it is (not glibc)'
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    # Both: setting either one stops glibc adjusting the other.
    if not (mallopt(M_MMAP_THRESHOLD, KEPT_BYTES) and mallopt(M_TRIM_THRESHOLD, KEPT_BYTES)):
        return 'malloc left as it is (mallopt refused the thresholds)'
    return f'malloc keeps up to {KEPT_BYTES // 2**20} MiB of freed frame memory for reuse'
