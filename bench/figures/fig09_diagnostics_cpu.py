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
Figure 9 of the bench: CPU of vlm_node with /diagnostics on vs off.

On a 1080p 30 Hz camera, no requests; a second node with it off shows the noise (see
bench/README.md).
"""

import argparse
import os

from common import BENCH_DIR, Child, fake_server_class, node_args, Row, verdict

NAME = 'diagnostics'


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_diagnostics(args.idle_seconds)


def bench_diagnostics(seconds: float) -> list[Row]:
    """CPU of vlm_nodes on one 1080p 30 Hz camera: diagnostics on vs off, and off vs off."""
    topic = f'/bench_diag_{os.getpid()}/image'
    nodes: dict[str, Child] = {}
    with fake_server_class()() as server:
        for name, period in (('on', '1.0'), ('off', '0.0'), ('off again', '0.0')):
            nodes[name] = Child(
                node_args(topic, server.base_url, 'caption_period:=0.0', 'warm_up:=false',
                          f'diagnostics_period:={period}')
                + ['-r', f"__ns:=/diag_{name.replace(' ', '_')}"], f'diagnostics {name}')
        camera = None
        try:
            for child in nodes.values():
                child.wait_line('describing', 60.0)
            camera = Child([os.path.join(BENCH_DIR, 'camera_publisher.py'),
                            '--topic', topic, '--subscribers', str(len(nodes)),
                            '--warmup', '3', '--seconds', str(seconds)], 'camera')
            camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            before = {name: c.cpu_seconds() for name, c in nodes.items()}
            done = camera.wait_event(lambda e: e.get('event') == 'done', seconds + 30.0)
            used = {name: c.cpu_seconds() - before[name] for name, c in nodes.items()}
        finally:
            if camera is not None:
                camera.stop()
            reports = {name: c.stop() or {} for name, c in nodes.items()}
    ratio = used['on'] / used['off'] if used['off'] > 0 else float('inf')
    noise = used['off again'] / used['off'] if used['off'] > 0 else float('inf')
    sent = done['sent']
    frames = '/'.join(str(reports[name].get('received', -1)) for name in nodes)
    return [
        Row(f'9. idle CPU with /diagnostics at 1 Hz vs off, 1920x1080 rgb8 @30 Hz, {seconds:g} s '
            f'(frames received on/off/off again: {frames} of {sent})',
            f"{used['on']:.2f} s CPU", f"{used['off']:.2f} s CPU", f'{ratio:.2f}', '<= 1.05',
            verdict(ratio <= 1.05)),
        Row('9. same, a second node with diagnostics off vs the first (two identical processes: '
            'the noise of this comparison)', f"{used['off again']:.2f} s CPU",
            f"{used['off']:.2f} s CPU", f'{noise:.2f}', '-', 'info'),
    ]
