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
Figure 6 of the bench: how many frames vlm_node holds, vs a bare subscriber.

From peak RSS on a 4K and on a 640x480 stream (see bench/README.md).
"""

import argparse
import os
import time

from common import BENCH_DIR, Child, fake_server_class, Row, verdict
from node_setup import start_node_and_bare_counter

NAME = 'memory'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_memory(6.0)


def peak_rss(width: int, height: int, seconds: float) -> tuple[float, float, int, int]:
    """Peak RSS (bytes) of vlm_node and of the bare counter on one stream, and frames each."""
    import psutil
    topic = f'/bench_mem_{os.getpid()}_{width}/image'
    with fake_server_class()() as server:
        # history_size 1: the frames held beyond the history (figure 7 measures the history).
        node, bare = start_node_and_bare_counter(topic, server.base_url, 'history_size:=1')
        camera = None
        peaks = [0.0, 0.0]
        try:
            node.wait_line('describing', 60.0)
            camera = Child([os.path.join(BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--width', str(width), '--height', str(height),
                            '--rate', '10', '--subscribers', '2', '--warmup', '0',
                            '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            while camera.popen.poll() is None:
                for i, child in enumerate((node, bare)):
                    try:
                        peaks[i] = max(peaks[i], child.process.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.02)
        finally:
            if camera is not None:
                camera.stop()
            node_report = node.stop() or {}
            bare_report = bare.stop() or {}
    return peaks[0], peaks[1], node_report.get('received', -1), bare_report.get('received', -1)


def bench_memory(seconds: float) -> list[Row]:
    """(peak RSS with 4K frames - with 640x480 frames) / 4K frame size = frames held."""
    big_node, big_bare, big_n, big_b = peak_rss(3840, 2160, seconds)
    small_node, small_bare, small_n, small_b = peak_rss(640, 480, seconds)
    frame = 3840 * 2160 * 3 - 640 * 480 * 3
    held_node = (big_node - small_node) / frame
    held_bare = (big_bare - small_bare) / frame
    return [Row(f'6. frames held: (peak RSS 3840x2160 - 640x480 rgb8 @10 Hz, {seconds:g} s) / '
                f'frame size (vlm_node with history_size 1 received {big_n}, {small_n}; '
                f'bare {big_b}, {small_b})',
                f'{held_node:.1f} frames ({(big_node - small_node) / 2**20:.0f} MiB)',
                f'{held_bare:.1f} frames (bare node)',
                f'{held_node - held_bare:+.1f} frames',
                'node - bare <= 2 frames (the latest frame it keeps + one in delivery)',
                verdict(held_node - held_bare <= 2 and big_n > 0))]
