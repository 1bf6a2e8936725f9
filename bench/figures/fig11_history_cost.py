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
Figures 11 and 12 of the bench, the frame history's cost: history_size 32 vs 1.

Two vlm_nodes on one 1080p 30 Hz stream (CPU, RSS, page faults), and the first's RSS vs a
bare subscriber's (see bench/README.md).
"""

import argparse
import os
import sys
import time

from common import BENCH_DIR, Child, fake_server_class, median, node_args, Row, verdict
from package_modules import package_module

NAME = 'history'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_history(args.idle_seconds)


def bench_history(seconds: float) -> list[Row]:
    """
    Measure two vlm_nodes on one 1080p 30 Hz stream, history_size 32 vs 1: CPU and RSS.

    And the first's RSS vs a bare subscriber's on the same stream.
    """
    import psutil
    topic = f'/bench_history_{os.getpid()}/image'
    sizes = (32, 1)
    with fake_server_class()() as server:
        nodes = [Child(node_args(topic, server.base_url, 'caption_period:=0.0',
                                 f'history_size:={size}'), f'vlm_node history_size {size}')
                 for size in sizes]
        nodes.append(Child([os.path.join(BENCH_DIR, 'bare_counter.py'), '--topic',
                            topic], 'bare counter'))
        camera = None
        samples: list[list[float]] = [[], [], []]
        try:
            for node in nodes[:2]:
                node.wait_line('describing', 60.0)
            camera = Child([os.path.join(BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--subscribers', '3', '--warmup', '3',
                            '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            before = [node.cpu_seconds() for node in nodes]
            faults_before = [minor_faults(node.popen.pid) for node in nodes]
            while camera.popen.poll() is None:
                for index, node in enumerate(nodes):
                    try:
                        samples[index].append(node.process.memory_info().rss)
                    except psutil.Error:
                        pass
                time.sleep(0.05)
            after = [node.cpu_seconds() for node in nodes]
            faults = [minor_faults(node.popen.pid) - faults_before[index]
                      for index, node in enumerate(nodes)]
        finally:
            if camera is not None:
                camera.stop()
            reports = [node.stop() or {} for node in nodes]
    cpu = [a - b for a, b in zip(after, before, strict=True)]
    received = [report.get('received', -1) for report in reports]
    ratio = cpu[0] / cpu[1] if cpu[1] > 0 else float('inf')
    # Steady state: the median over the second half of the stream (the ring is full by then).
    rss = [median(values[len(values) // 2:]) for values in samples]
    frame = 1920 * 1080 * 3
    extra = (rss[0] - rss[1]) / frame
    received_frame = received_frame_bytes(1920, 1080)
    extra_received = (rss[0] - rss[1]) / received_frame
    # What the history stores per frame: the camera's frame as a request would send it.
    from camera_publisher import make_message
    encode_image_message = package_module('image_encoding').encode_image_message
    jpeg = len(encode_image_message(make_message(1920, 1080, 'rgb8'), 896, 85).jpeg)
    history_budget = 32 * jpeg + 16 * 2**20
    node_vs_bare = rss[0] / rss[2]
    return [
        Row(f'12. RSS at 1920x1080 rgb8 @30 Hz, defaults (history_size 32 over 10 s), the '
            f'history filled (median of the second half of {seconds:g} s): vlm_node vs a bare '
            f'subscriber (bare_counter.py; received {received[0]}, {received[2]})',
            f'{rss[0] / 2**20:.0f} MiB', f'{rss[2] / 2**20:.0f} MiB', f'{node_vs_bare:.2f}',
            '<= 1.3', verdict(node_vs_bare <= 1.3)),
        Row(f'12. history memory: RSS with history_size 32 - with 1 vs 32 x the prepared JPEG '
            f'({jpeg / 1024:.0f} KiB: the camera sends random pixels, the worst case for '
            f'JPEG) + 16 MiB', f'{(rss[0] - rss[1]) / 2**20:.1f} MiB',
            f'{history_budget / 2**20:.1f} MiB', f'{(rss[0] - rss[1]) / history_budget:.2f}',
            '<= 1.0', verdict(rss[0] - rss[1] <= history_budget)),
        Row(f'11. history idle CPU, 1920x1080 rgb8 @30 Hz, {seconds:g} s: history_size 32 vs 1 '
            f'(received {received[0]}, {received[1]})', f'{cpu[0]:.2f} s CPU',
            f'{cpu[1]:.2f} s CPU', f'{ratio:.2f}', '<= 1.05',
            verdict(ratio <= 1.05 and min(received) > 0)),
        Row('11. history RSS: RSS with history_size 32 - with history_size 1 (median of the '
            'second half of the stream), in received 1080p rgb8 frames as rclpy holds them '
            f'({received_frame / 2**20:.2f} MiB each: the pixels and the 1/16 headroom of the '
            f'array rclpy copies them into; in bare pixels, {frame / 2**20:.2f} MiB each, '
            f'{extra:.1f} frames)',
            f'{extra_received:.1f} frames ({(rss[0] - rss[1]) / 2**20:.0f} MiB)',
            f'{rss[1] / 2**20:.0f} MiB (history_size 1)', f'{extra_received / 32:.2f} of 32',
            'was <= 32 frames (held raw)', 'info'),
        Row('11. history page faults per received frame, history_size 32 vs 1 (the cost the '
            'malloc settings in frame_memory.py remove; the ring fills during the first '
            f'{10:g} s)', f'{faults[0] / max(received[0], 1):.0f}',
            f'{faults[1] / max(received[1], 1):.0f}', '-',
            f'(a 1080p rgb8 frame is {frame // 4096} pages)', 'info'),
    ]


def received_frame_bytes(width: int, height: int) -> int:
    """Return the bytes a received rgb8 frame's message holds: rclpy's data array, allocated."""
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image
    sent = Image(width=width, height=height, encoding='rgb8', step=width * 3,
                 data=bytes(width * height * 3))
    # What a subscription hands over is deserialised the same way.
    return sys.getsizeof(deserialize_message(serialize_message(sent), Image).data)


def minor_faults(pid: int) -> int:
    """Return the minor page faults of a process so far (Linux /proc)."""
    with open(f'/proc/{pid}/stat') as stat:
        return int(stat.read().rsplit(')', 1)[1].split()[7])
