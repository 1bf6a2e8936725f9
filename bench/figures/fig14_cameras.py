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
Figure 14 of the bench: two cameras in one vlm_node, against one camera and the floor.

Idle CPU of a node with two 1080p 30 Hz cameras vs two bare subscribers; preparing a
question about two cameras vs one (the node encodes them in parallel); what a two-camera
service call adds over a direct two-image call to the server, vs the same for one camera
(see bench/README.md).
"""

import argparse
import os
import time

from common import (BENCH_DIR, Child, fake_server_class, image_message, median, Row, scene,
                    timed_alternately, verdict)
from figures.fig10_gateway import Connection
from node_setup import Client
from package_modules import package_module

NAME = 'cameras'
CAMERAS = ('front', 'rear')
SERVER_DELAY = 0.05  # seconds: a fast model, so that the node's share shows


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return [*idle_two_cameras(args.idle_seconds),
            *idle_two_cameras(args.idle_seconds, 'history_size:=1'),
            *idle_two_cameras(args.idle_seconds, pixels='scene'),
            *prepare_two_cameras(args.repeat), *service_overhead(args.calls // 2)]


def start_two_camera_node(base_url: str, topics: dict[str, str], *params: str) -> Child:
    """Start vlm_node (through node_probe, no captions) with the named cameras on topics."""
    args = [os.path.join(BENCH_DIR, 'node_probe.py'), '--ros-args',
            '-p', f'base_url:={base_url}', '-p', 'caption_period:=0.0',
            '-p', f"cameras:=[{', '.join(topics)}]"]
    for name, topic in topics.items():
        args += ['-r', f'{name}/image:={topic}']
    for param in params:
        args += ['-p', param]
    return Child(args, 'vlm_node')


def start_cameras(topics: dict[str, str], seconds: float, subscribers: int, warmup: float,
                  rate: float = 30.0, pixels: str = 'noise') -> list[Child]:
    """Start one 1080p camera process per topic; return once every one is publishing."""
    cameras = [Child([os.path.join(BENCH_DIR, 'camera_publisher.py'), '--topic', topic,
                      '--subscribers', str(subscribers), '--warmup', str(warmup),
                      '--rate', str(rate), '--seconds', str(seconds), '--pixels', pixels],
                     f'camera {name}')
               for name, topic in topics.items()]
    for camera in cameras:
        camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
    return cameras


def topics_for(tag: str) -> dict[str, str]:
    """Return a topic per camera, private to this bench process."""
    return {name: f'/bench_{tag}_{os.getpid()}/{name}/image_raw' for name in CAMERAS}


def idle_two_cameras(seconds: float, *params: str, pixels: str = 'noise') -> list[Row]:
    """
    CPU of a two-camera vlm_node vs two bare subscribers, 1080p 30 Hz each, no requests.

    The target row's cameras send random noise, JPEG's worst case for the history frames
    the node prepares. With params (history_size:=1: no history frame to prepare) or
    camera-like pixels, an info row: where the difference goes.
    """
    topics = topics_for('cams_idle')
    with fake_server_class()() as server:
        node = start_two_camera_node(server.base_url, topics, *params)
        bares = [Child([os.path.join(BENCH_DIR, 'bare_counter.py'), '--topic', topic],
                       f'bare counter {name}') for name, topic in topics.items()]
        cameras: list[Child] = []
        try:
            node.wait_line('describing', 60.0)
            cameras = start_cameras(topics, seconds, 2, 3.0, pixels=pixels)
            before = [c.cpu_seconds() for c in (node, *bares)]
            done = [c.wait_event(lambda e: e.get('event') == 'done', seconds + 30.0)
                    for c in cameras]
            after = [c.cpu_seconds() for c in (node, *bares)]
        finally:
            for camera in cameras:
                camera.stop()
            node_report = node.stop() or {}
            bare_reports = [bare.stop() or {} for bare in bares]
    node_cpu = after[0] - before[0]
    bare_cpu = sum(a - b for a, b in zip(after[1:], before[1:], strict=True))
    sent = [event['sent'] for event in done]
    received = node_report.get('cameras', {})
    node_frames = [received.get(name, -1) for name in CAMERAS]
    bare_frames = [report.get('received', -1) for report in bare_reports]
    enough = all(n >= 0.5 * s and b >= 0.5 * s
                 for n, b, s in zip(node_frames, bare_frames, sent, strict=True))
    ratio = node_cpu / bare_cpu if bare_cpu > 0 else float('inf')
    how = ', '.join(params) if params else 'defaults: each camera prepares ~3 history frames/s'
    content = ("random noise, JPEG's worst case" if pixels == 'noise' else
               'a camera-like scene with sensor noise')
    target_row = not params and pixels == 'noise'
    return [Row(
        f'14. idle CPU, two cameras 1920x1080 rgb8 @30 Hz each ({content}), {seconds:g} s: '
        f'vlm_node with cameras [front, rear] ({how}) vs two bare rclpy subscribers (frames '
        f'received: node {"/".join(map(str, node_frames))}, bare '
        f'{"/".join(map(str, bare_frames))} of {"/".join(map(str, sent))})',
        f'{node_cpu:.2f} s CPU', f'{bare_cpu:.2f} s CPU', f'{ratio:.2f}',
        '<= 1.15' if target_row else '-',
        verdict(ratio <= 1.15 and enough) if target_row else 'info')]


def prepare_two_cameras(repeat: int) -> list[Row]:
    """Time preparing a question about two 1080p cameras vs one, as the node prepares them."""
    import numpy as np
    image_encoding = package_module('image_encoding')
    scene_describer = package_module('scene_describer')
    build_messages = package_module('vlm_client').build_messages
    settings = package_module('settings').DEFAULT_SETTINGS
    now = time.monotonic()
    front = scene_describer.Frame(image_message(scene(1920, 1080), 'rgb8'), now, 1)
    rear = scene_describer.Frame(
        image_message(np.ascontiguousarray(scene(1920, 1080)[::-1]), 'rgb8'), now, 1)
    # As vlm_node's: the same encoder, and its pool for the raw frames of one request.
    describer = scene_describer.SceneDescriber('/bench', 1, image_encoding.encode_any_message)

    def prepare(frames: list, labels: list) -> object:
        request, _ = describer.prepare_request(frames, 'Anything behind?', settings, now,
                                               labels=labels)
        return build_messages(request)

    try:
        two, one = timed_alternately([
            lambda: prepare([front, rear], ["Camera 'front':", "Camera 'rear':"]),
            lambda: prepare([front], ["Camera 'front':"])], repeat)
    finally:
        describer.close()
    return [Row(
        '14. prepare a question about two 1920x1080 rgb8 cameras (their latest frames, '
        'encoded in parallel, labelled) vs about one camera',
        f'{two * 1e3:.2f} ms', f'{one * 1e3:.2f} ms', f'{two / one:.2f}x', '<= 1.3x',
        verdict(two / one <= 1.3))]


def service_overhead(calls: int) -> list[Row]:
    """Median service-call time minus a direct call with the same images, two cameras vs one."""
    from camera_publisher import make_message
    # The camera's own frame, prepared as the node prepares it: the server then decodes the
    # same image on both sides (a random-pixel JPEG takes it longer than a smooth one).
    url = package_module('image_encoding').encode_image_message(
        make_message(1920, 1080, 'rgb8'), 896, 85).data_url()
    topics = topics_for('cams_call')
    server = fake_server_class()().start()
    server.state.delay = SERVER_DELAY
    node = start_two_camera_node(server.base_url, topics)
    cameras: list[Child] = []
    client = direct = None
    try:
        node.wait_line('describing', 60.0)
        cameras = start_cameras(topics, 600.0, 1, 0.0, rate=10.0)
        client = Client(1)
        client.wait_ready()
        request = client.srv.Request
        direct = Connection(server.port, '/v1/chat/completions')

        def via_node(names: list) -> float:
            response, seconds = client.call_with(request(cameras=names))
            if not response.success:
                raise RuntimeError(response.error)
            return seconds

        def straight(images: int) -> float:
            return direct.complete(two_image_body(url, images))

        times: dict[str, list[float]] = {key: [] for key in ('node1', 'node2', 'd1', 'd2')}
        for _ in range(calls):  # interleaved, so that a busy moment hits every kind alike
            times['node1'].append(via_node(['front']))
            times['d1'].append(straight(1))
            times['node2'].append(via_node(['front', 'rear']))
            times['d2'].append(straight(2))
    finally:
        if direct is not None:
            direct.close()
        if client is not None:
            client.close()
        for camera in cameras:
            camera.stop()
        node.stop()
        server.stop()
    one = median(times['node1']) - median(times['d1'])
    two = median(times['node2']) - median(times['d2'])
    ratio = two / one if one > 0 else float('inf')
    return [
        Row(f'14. service call about two cameras minus a direct two-image call, median of '
            f'{calls} (1080p cameras at 10 Hz, server delay {SERVER_DELAY:g} s) vs the same '
            f'for one camera', f'{two * 1e3:.1f} ms', f'{one * 1e3:.1f} ms', f'{ratio:.2f}',
            '<= 1.2', verdict(ratio <= 1.2)),
        Row('14. the calls themselves: one camera via the node / direct; two cameras via the '
            'node / direct (medians)',
            f"{median(times['node1']) * 1e3:.1f} / {median(times['d1']) * 1e3:.1f} ms",
            f"{median(times['node2']) * 1e3:.1f} / {median(times['d2']) * 1e3:.1f} ms",
            '-', '-', 'info'),
    ]


def two_image_body(url: str, images: int) -> bytes:
    """Return a chat-completions request about the same image images times, labelled."""
    import json
    content: list = []
    for index in range(images):
        content += [{'type': 'text', 'text': f"Camera '{CAMERAS[index]}':"},
                    {'type': 'image_url', 'image_url': {'url': url}}]
    content.append({'type': 'text', 'text': 'Anything behind?'})
    return json.dumps({'model': 'gemma3:4b', 'messages': [
        {'role': 'user', 'content': content}]}).encode()
