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
Figure 10 of the bench: the OpenAI-compatible gateway (see bench/README.md).

vlm_node runs as its own process with the gateway on a loopback port, a camera process
publishes 1920x1080 rgb8, and the loopback server runs in this process. Requests through
the gateway are compared with the same requests sent straight to the server with an image
prepared beforehand, alternating, on kept-alive connections.
"""

import argparse
import http.client
import json
import os
import signal
import threading
import time
from typing import Any, Callable

from common import BENCH_DIR, Child, free_port, median, Row, verdict
from node_setup import NodeSetup
from package_modules import package_module

NAME = 'gateway'

WIDTH, HEIGHT, RATE = 1920, 1080, 15.0
# vlm_node's frame history (history_seconds 10 by default) takes new memory for the frames
# it keeps during its first 10 s: a start-up cost, not the camera path's; the camera-path
# window starts once the node has received this many seconds of frames.
STEADY_AFTER_S = 12.0
# The first seconds of 8 clients streaming are their start-up (connections, the gateway's
# session, first allocations): measured, 10 s windows from the clients' start read 1.13,
# 1.13, 1.14 and then 1.05-1.11. The camera-path window starts once they have streamed
# this long, and lasts twice --idle-seconds (40 s): 10 s windows of one run spread 1.05-1.11.
LOAD_WARMUP_S = 10.0


def run(args: argparse.Namespace) -> list[Row]:
    """Return the figure's rows."""
    return bench_gateway(args.calls // 2, args.idle_seconds)


def body(url: str, stream: bool = False) -> bytes:
    """Return a chat-completions request about one image."""
    return json.dumps({'model': 'gemma3:4b', 'stream': stream, 'messages': [{
        'role': 'user', 'content': [{'type': 'text', 'text': 'what is there?'},
                                    {'type': 'image_url', 'image_url': {'url': url}}]}]}).encode()


class Connection:
    """One kept-alive HTTP connection to a server's /v1 root."""

    def __init__(self, port: int, path: str) -> None:
        self.connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        self.path = path

    def complete(self, payload: bytes) -> float:
        """Send one request; return the seconds to the whole answer."""
        start = time.perf_counter()
        self.connection.request('POST', self.path, payload,
                                {'Content-Type': 'application/json'})
        response = response_ok(self.connection.getresponse())
        response.read()
        return time.perf_counter() - start

    def first_chunk(self, payload: bytes) -> float:
        """Send one streaming request; return the seconds to its first content chunk."""
        start = time.perf_counter()
        self.connection.request('POST', self.path, payload,
                                {'Content-Type': 'application/json'})
        response = response_ok(self.connection.getresponse())
        first = None
        for line in response:
            if first is None and line.startswith(b'data: {') and b'"content"' in line:
                first = time.perf_counter() - start
        if first is None:
            raise RuntimeError('the stream had no content chunk')
        return first

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()


def response_ok(response: http.client.HTTPResponse) -> http.client.HTTPResponse:
    """Return the response, or raise with its body when it is not a 200."""
    if response.status != 200:
        raise RuntimeError(f'HTTP {response.status}: {response.read()[:300]!r}')
    return response


def camera_state(port: int) -> dict[str, Any]:
    """Return the camera part of the gateway's /health."""
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    try:
        connection.request('GET', '/health')
        return json.loads(connection.getresponse().read())['camera']
    finally:
        connection.close()


def prepared_url() -> tuple[str, float]:
    """Return the camera's frame as the node prepares it, and the median preparation time."""
    from camera_publisher import make_message
    encode_image_message = package_module('image_encoding').encode_image_message
    msg = make_message(WIDTH, HEIGHT, 'rgb8')  # the camera's own frame
    times = []
    for _ in range(30):
        start = time.perf_counter()
        url = encode_image_message(msg, 896, 85).data_url_bytes()  # what the gateway pastes
        times.append(time.perf_counter() - start)
    return url.decode('ascii'), median(times)


def camera_path_cpu(pid: int) -> tuple[float, int, int]:
    """
    Return the CPU seconds of the threads that carry camera frames, their count and faults.

    Those threads: the spinning (main) thread and Fast DDS's receive threads ('dds.*'); also
    how many threads that was, and their minor page faults.
    """
    ticks = os.sysconf('SC_CLK_TCK')
    total, count, faults = 0.0, 0, 0
    for tid in os.listdir(f'/proc/{pid}/task'):
        try:
            with open(f'/proc/{pid}/task/{tid}/comm') as stream:
                name = stream.read().strip()
            with open(f'/proc/{pid}/task/{tid}/stat') as stream:
                fields = stream.read().rsplit(')', 1)[1].split()
        except OSError:
            continue  # the thread ended
        if int(tid) == pid or name.startswith('dds.'):
            total += (int(fields[11]) + int(fields[12])) / ticks
            count += 1
            faults += int(fields[7])
    return total, count, faults


def frames_counted(bare: Child) -> int:
    """Return the bare counter's frames so far (it answers SIGUSR1 with a count event)."""
    earlier = [e for e in bare.events if e.get('event') == 'count']
    bare.popen.send_signal(signal.SIGUSR1)
    return bare.wait_event(lambda e: e.get('event') == 'count' and
                           not any(e is seen for seen in earlier), 10.0)['received']


def alternate(first: Callable[[], float], second: Callable[[], float],
              count: int) -> tuple[list[float], list[float]]:
    """Time first and second alternately, count times each (after 3 warm-ups each)."""
    for _ in range(3):
        first()
        second()
    a, b = [], []
    for _ in range(count):
        a.append(first())
        b.append(second())
    return a, b


def bench_gateway(calls: int, load_seconds: float) -> list[Row]:
    """Gateway overhead, streaming time to first chunk, camera path under 8 streaming clients."""
    url, prepare = prepared_url()
    rows = []
    with GatewayNode('gateway_prepare_ahead:=0.0') as (setup, port):
        rows.append(latest_row(setup, port, url, prepare, calls, judged=False))
    with GatewayNode() as (setup, port):
        rows.insert(0, latest_row(setup, port, url, prepare, calls, judged=True))
        gateway_stream = Connection(port, '/v1/chat/completions')
        direct_stream = Connection(setup.server.port, '/v1/chat/completions')
        via, straight = alternate(lambda: gateway_stream.first_chunk(body(url, True)),
                                  lambda: direct_stream.first_chunk(body(url, True)), calls)
        extra = median(via) - median(straight)
        rows.append(Row(
            f'10. streaming time to first chunk, gateway vs direct, same data: image, median '
            f'of {calls}', f'{median(via) * 1e3:.1f} ms', f'{median(straight) * 1e3:.1f} ms',
            f'+{extra * 1e3:.1f} ms', '<= 5 ms', verdict(extra <= 0.005)))
        via = [gateway_stream.first_chunk(body('ros://latest', True)) for _ in range(calls)]
        rows.append(Row(
            f'10. streaming time to first chunk, gateway with ros://latest, median of {calls}',
            f'{median(via) * 1e3:.1f} ms', f'{median(straight) * 1e3:.1f} ms (direct)',
            f'+{(median(via) - median(straight)) * 1e3:.1f} ms', '-', 'info'))
        gateway_stream.close()
        direct_stream.close()
        rows += camera_under_load(setup, port, 2 * load_seconds)
    return rows


class GatewayNode:
    """vlm_node with its gateway on a free port, a 15 Hz 1080p camera, the loopback server."""

    def __init__(self, *params: str) -> None:
        self.params = params

    def __enter__(self) -> tuple[NodeSetup, int]:
        port = free_port()
        self.setup = NodeSetup(0.0, 0, WIDTH, HEIGHT, RATE, f'gateway_port:={port}',
                               'max_concurrent_requests:=8', *self.params)
        try:
            self.setup.server.state.chunk_delay = 0.02
            gateway = Connection(port, '/v1/chat/completions')
            deadline = time.monotonic() + 30
            while True:  # until the first frame has reached the node
                try:
                    gateway.complete(body('ros://latest'))
                    break
                except RuntimeError:
                    if time.monotonic() > deadline:
                        raise
                    gateway.close()
                    time.sleep(0.2)
            gateway.close()
        except BaseException:
            self.setup.close()
            raise
        return self.setup, port

    def __exit__(self, *exc: object) -> None:
        self.setup.close()


def latest_row(setup: NodeSetup, port: int, url: str, prepare: float, calls: int,
               judged: bool) -> Row:
    """
    `ros://latest` through the gateway vs the prepared image straight to the server.

    With judged False the row is for information: the node prepares frames on request only.
    """
    direct = Connection(setup.server.port, '/v1/chat/completions')
    gateway = Connection(port, '/v1/chat/completions')
    before = camera_state(port)
    via, straight = alternate(lambda: gateway.complete(body('ros://latest')),
                              lambda: direct.complete(body(url)), calls)
    after = camera_state(port)
    direct.close()
    gateway.close()
    # The node's own median over its last 50 preparations: these requests' frames.
    in_node = after['gateway_prepare_ms'] / 1e3
    prepared = after['gateway_frames_prepared'] - before['gateway_frames_prepared']
    ahead = after['gateway_frames_prepared_ahead'] - before['gateway_frames_prepared_ahead']
    reused = after['gateway_frames_reused'] - before['gateway_frames_reused']
    sizes = {(r.image.width, r.image.height) for r in setup.server.requests[-10:]}
    extra = median(via) - median(straight)
    how = ('frames prepared on arrival while clients ask (default gateway_prepare_ahead)'
           if judged else
           'gateway_prepare_ahead 0: each frame prepared when a request needs it')
    return Row(
        f'10. gateway ros://latest vs direct with a prepared image, median of {calls}, {how} '
        f'(1920x1080 rgb8 camera at 15 Hz; server saw {sizes}; frame preparation, JPEG and '
        f'data URL: {in_node * 1e3:.2f} ms in the node, {prepare * 1e3:.2f} ms in the bench '
        f'process; {prepared} frames prepared, {ahead} of them on arrival; {reused} of '
        f'{calls + 3} requests found their frame prepared)',
        f'{median(via) * 1e3:.1f} ms', f'{median(straight) * 1e3:.1f} ms',
        f'+{extra * 1e3:.1f} ms',
        f'<= 5 ms + preparation in the node ({5 + in_node * 1e3:.1f} ms)' if judged else '-',
        verdict(extra <= 0.005 + in_node) if judged else 'info')


def camera_under_load(setup: NodeSetup, port: int, seconds: float) -> list[Row]:
    """Camera-path CPU of vlm_node vs a bare subscriber while 8 gateway clients stream."""
    bare = Child([os.path.join(BENCH_DIR, 'bare_counter.py'), '--topic', setup.topic],
                 'bare counter')
    stop = threading.Event()
    answers = [0] * 8
    failures: list[str] = []

    def client(index: int) -> None:
        connection = Connection(port, '/v1/chat/completions')
        while not stop.is_set():
            try:
                connection.first_chunk(body('ros://latest', True))
                answers[index] += 1
            except (RuntimeError, OSError) as error:
                failures.append(str(error)[:400])
                time.sleep(0.05)

    time.sleep(3.0)  # the bare counter discovers the camera
    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(LOAD_WARMUP_S)
    while camera_state(port)['frames_received'] < RATE * STEADY_AFTER_S:
        time.sleep(0.5)
    node_pid, bare_pid = setup.node.popen.pid, bare.popen.pid
    before = [camera_path_cpu(node_pid), camera_path_cpu(bare_pid),
              setup.node.cpu_seconds(), camera_state(port)['frames_received'],
              frames_counted(bare)]
    time.sleep(seconds)
    (node_cpu, node_threads, node_faults), (bare_cpu, bare_threads, bare_faults) = \
        camera_path_cpu(node_pid), camera_path_cpu(bare_pid)
    node_total = setup.node.cpu_seconds() - before[2]
    node_frames = camera_state(port)['frames_received'] - before[3]
    bare_frames = frames_counted(bare) - before[4]
    node_cpu, bare_cpu = node_cpu - before[0][0], bare_cpu - before[1][0]
    node_faults, bare_faults = node_faults - before[0][2], bare_faults - before[1][2]
    stop.set()
    for thread in threads:
        thread.join(30)
    bare.stop()
    if failures:
        print(f'gateway bench: {len(failures)} failed requests, e.g. {sorted(set(failures))[:3]}',
              flush=True)
    # Per received frame: a node that dropped frames under load would otherwise look cheaper.
    per_node = node_cpu / max(1, node_frames)
    per_bare = bare_cpu / max(1, bare_frames)
    ratio = per_node / per_bare if per_bare > 0 else float('inf')
    return [
        Row(f'10. camera path CPU (spinning thread + {node_threads - 1} dds.* threads) while 8 '
            f'gateway clients stream ({sum(answers)} answers, {len(failures)} errors), '
            f'1920x1080 rgb8 @15 Hz, {seconds:g} s, vs bare subscriber ({bare_threads} '
            f'threads), per received frame ({node_frames} and {bare_frames} received; from '
            f'{STEADY_AFTER_S:g} s of frames on, after the frame history filled, and '
            f'{LOAD_WARMUP_S:g} s after the clients started)',
            f'{per_node * 1e3:.2f} ms CPU ({node_cpu:.2f} s, {node_faults} page faults)',
            f'{per_bare * 1e3:.2f} ms CPU ({bare_cpu:.2f} s, {bare_faults} page faults)',
            f'{ratio:.2f}',
            '<= 1.15', verdict(ratio <= 1.15 and not failures)),
        Row('10. whole vlm_node process meanwhile (gateway, JPEG encoding, HTTP; for scale)',
            f'{node_total:.2f} s CPU', f'{seconds:g} s wall',
            f'{node_total / seconds:.2f} cores', '-', 'info'),
    ]
