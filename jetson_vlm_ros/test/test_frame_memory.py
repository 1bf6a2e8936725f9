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
The malloc settings keep freed frame memory in the process: no page faults frame after frame.

Each check runs in a fresh Python process, since malloc settings are process-wide.
"""

import json
import os
import platform
import subprocess
import sys

import pytest

requires_glibc = pytest.mark.skipif(platform.libc_ver()[0] != 'glibc',
                                    reason='the malloc settings are glibc-only')

FRAME = 1920 * 1080 * 3
PAGES_PER_FRAME = FRAME // 4096

# Hold 4 frames, let them go, again and again: what a history does as it turns over.
HOLD_AND_RELEASE = f"""
import json, resource, sys
import numpy as np
from jetson_vlm_ros.frames.frame_memory import keep_freed_frames_in_process
said = keep_freed_frames_in_process() if sys.argv[1] == 'tuned' else 'untouched'

def cycle():
    held = [np.ones({FRAME}, np.uint8) for _ in range(4)]
    del held

cycle(); cycle()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    cycle()
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({{'said': said, 'faults_per_frame': faults / 80}}))
"""


def run(mode: str, **environment: str) -> dict:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith('MALLOC_') and key != 'GLIBC_TUNABLES'}
    env.update(environment)
    done = subprocess.run([sys.executable, '-c', HOLD_AND_RELEASE, mode], env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@requires_glibc
def test_frames_reuse_freed_memory_instead_of_faulting_it_in_again() -> None:
    untouched = run('untouched')
    tuned = run('tuned')
    # The control: glibc's defaults give the memory back, so new frames fault pages in.
    assert untouched['faults_per_frame'] > PAGES_PER_FRAME / 8, untouched
    assert tuned['faults_per_frame'] < PAGES_PER_FRAME / 100, tuned
    assert tuned['said'] == 'malloc keeps up to 32 MiB of freed frame memory for reuse'


@requires_glibc
@pytest.mark.parametrize('variable, value', [
    ('MALLOC_TRIM_THRESHOLD_', '131072'),
    ('MALLOC_MMAP_THRESHOLD_', '131072'),
    ('GLIBC_TUNABLES', 'glibc.malloc.trim_threshold=131072'),
])
def test_a_users_own_malloc_settings_win(variable: str, value: str) -> None:
    result = run('tuned', **{variable: value})
    assert result['said'] == f'malloc left as the environment sets it ({variable})'
    # glibc's behaviour as the user set it: freed memory goes back, frames fault again.
    assert result['faults_per_frame'] > PAGES_PER_FRAME / 8, result


def test_unrelated_tunables_do_not_stop_the_settings() -> None:
    said = subprocess.run(
        [sys.executable, '-c', 'from jetson_vlm_ros.frames.frame_memory import '
         'keep_freed_frames_in_process as keep; print(keep())'],
        env={**os.environ, 'GLIBC_TUNABLES': 'glibc.rtld.optional_static_tls=512'},
        capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    if platform.libc_ver()[0] == 'glibc':
        assert said == 'malloc keeps up to 32 MiB of freed frame memory for reuse'
    else:
        assert said == 'malloc left as it is (not glibc)'
