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
vlm_node under faults: a failing server, a failing camera, many callers, bad parameters.

Real rclpy over DDS and a real loopback HTTP server (fake_vlm_server.py); nothing mocked.
Time bounds are the functional ones of the issue (request_timeout + 1 s, 100 ms for the
parameter services under load), never performance targets.
"""

from contextlib import contextmanager
from dataclasses import dataclass, field
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Iterator, Optional

from conftest import HAVE_ROS, make_image, RosHarness, solid, wait_for
from fake_vlm_server import FakeVlmServer, ServerState
import numpy as np
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from jetson_vlm_interfaces.srv import DescribeScene
    from jetson_vlm_ros.settings import PARAMETERS
    from rcl_interfaces.msg import (
        Log, Parameter as ParameterMsg, ParameterEvent, ParameterType, ParameterValue)
    from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

pytestmark = pytest.mark.skipif(
    not HAVE_ROS, reason='rclpy / jetson_vlm_interfaces not importable: build with colcon '
                         'and source install/setup.bash')

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RED, GREEN = (255, 0, 0), (0, 255, 0)
CAPTION_PERIOD = 0.5
REQUEST_TIMEOUT = 1.0
# The bound: a failing request is answered within request_timeout + 1 s.
ANSWER_BOUND = REQUEST_TIMEOUT + 1.0
DEFAULT_PROMPT = 'Describe what the robot camera sees in one or two short sentences.'


def mean_rgb(text: str) -> tuple[int, ...]:
    match = re.search(r'mean_rgb=(\d+),(\d+),(\d+)', text)
    assert match, f'no mean colour in answer {text!r}'
    return tuple(int(v) for v in match.groups())


class Caller:
    """A describe_scene client on the harness's tester node, timing every call."""

    def __init__(self, harness: 'RosHarness') -> None:
        self.client = harness.tester.create_client(DescribeScene, 'describe_scene')
        wait_for(lambda: self.client.wait_for_service(timeout_sec=0.1), 10.0,
                 'the describe_scene service')

    def call(self, prompt: str = '', timeout: float = 10.0) -> tuple[Any, float]:
        started = time.monotonic()
        future = self.client.call_async(DescribeScene.Request(prompt=prompt))
        wait_for(future.done, timeout, 'an answer from describe_scene')
        return future.result(), time.monotonic() - started


def _namespace(tag: str) -> str:
    return f'/rel{os.getpid()}_{tag}'


@contextmanager
def module_harness(tag: str, **overrides: Any) -> Iterator['RosHarness']:
    """Build a harness that several tests share (the node is never restarted between them)."""
    harness = RosHarness(overrides, _namespace(tag))
    try:
        yield harness
    finally:
        harness.close()


@contextmanager
def publishing(publisher: Any, msg: Any, rate: float) -> Iterator[None]:
    """Publish msg at rate until the block ends."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            publisher.publish(msg)
            stop.wait(1.0 / rate)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- 1. model server faults --------------------------------------------------------------


@dataclass
class ServerRig:
    """One vlm_node, alive through every server fault, with frames streaming in."""

    harness: 'RosHarness'
    server: FakeVlmServer
    caller: Caller
    captions: list = field(default_factory=list)

    def caption_requests(self, since: int) -> int:
        return sum(1 for r in self.server.requests[since:] if r.prompt == DEFAULT_PROMPT)


@pytest.fixture(scope='module')
def server_rig() -> Iterator[ServerRig]:
    if not HAVE_ROS:
        pytest.skip('no ROS')
    server = FakeVlmServer().start()
    rig: Optional[ServerRig] = None
    try:
        with module_harness('faults', base_url=server.base_url, caption_period=CAPTION_PERIOD,
                            request_timeout=REQUEST_TIMEOUT) as harness:
            rig = ServerRig(harness, server, Caller(harness))
            harness.tester.create_subscription(String, 'caption', rig.captions.append, 10)
            with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=10):
                yield rig
    finally:
        (rig.server if rig else server).stop()  # the last of the servers, if one was killed


def _set_state(**changes: Any) -> Callable[[ServerRig], None]:
    def inject(rig: ServerRig) -> None:
        rig.server.state = ServerState(**changes)
    return inject


def _kill_server(rig: ServerRig) -> None:
    rig.server.stop()


def _heal(rig: ServerRig) -> None:
    if rig.server._stopping.is_set():  # killed: a new server comes up on the same port
        rig.server = FakeVlmServer(port=rig.server.port).start()
    else:
        rig.server.state = ServerState()


NOT_FOUND_BODY = '{"error": {"message": "model \\"gemma3:4b\\" not found, try pulling it first"}}'

# (id, inject, what the error must say, the request hits the timeout, can count requests)
SERVER_FAULTS = [
    ('refused_mid_run', _kill_server, [r'cannot reach the VLM server', r'is it running\?'],
     False, False),
    ('cut_mid_reply', _set_state(behaviour='cut_mid_reply'),
     [r'connection to the VLM server .* broke mid-reply'], False, True),
    ('http_500', _set_state(behaviour='status', status=500), [r'answered HTTP 500',
                                                              r'internal error'], False, True),
    ('http_503', _set_state(behaviour='status', status=503,
                            status_body='{"error": {"message": "server overloaded"}}'),
     [r'answered HTTP 503', r'server overloaded'], False, True),
    ('unknown_model_404', _set_state(behaviour='status', status=404, status_body=NOT_FOUND_BODY),
     [r"does not know model 'gemma3:4b'", r'`ollama pull gemma3:4b`'], False, True),
    ('not_json_html', _set_state(behaviour='not_json'),
     [r'did not answer with a chat completion', r'Bad Gateway'], False, True),
    ('not_json_labelled_json', _set_state(behaviour='bad_json'),
     [r'did not answer with a chat completion: a body that is not valid JSON'], False, True),
    ('no_choices', _set_state(behaviour='no_choices'), [r'answered with no choices'],
     False, True),
    ('no_choices_key', _set_state(behaviour='no_choices_key'), [r'answered with no choices'],
     False, True),
    ('empty_content', _set_state(behaviour='empty_content'), [r'returned an empty answer'],
     False, True),
    ('slower_than_request_timeout', _set_state(delay=2 * REQUEST_TIMEOUT),
     [r'did not answer within request_timeout \(1 s\)'], True, True),
    ('hang', _set_state(behaviour='hang'), [r'did not answer within request_timeout \(1 s\)'],
     True, True),
]


def _fault_params() -> list:
    params = []
    for fault in SERVER_FAULTS:
        params.append(pytest.param(*fault, id=fault[0]))
    return params


@pytest.mark.parametrize('name, inject, expected, slow, countable', _fault_params())
def test_server_fault_then_recovery(server_rig: ServerRig, name: str,
                                    inject: Callable[[ServerRig], None], expected: list[str],
                                    slow: bool, countable: bool) -> None:
    """Each fault: a clear error in time, captions keep their rhythm, then full recovery."""
    rig = server_rig
    before, _ = rig.caller.call('healthy before?')
    assert before.success, f'not healthy before the fault: {before.error}'

    # A slow fault holds each caption for request_timeout: the timer cannot tick faster.
    tick = max(CAPTION_PERIOD, REQUEST_TIMEOUT) if slow else CAPTION_PERIOD
    window = 3 * tick if slow else 4 * tick
    inject(rig)
    try:
        first_request = len(rig.server.requests)
        captions_before = len(rig.captions)
        started = time.monotonic()
        answer, elapsed = rig.caller.call('fault?')
        time.sleep(max(0.0, started + window - time.monotonic()))
        caption_requests = rig.caption_requests(first_request) if countable else None
        captions_during = len(rig.captions) - captions_before
    finally:
        _heal(rig)

    assert not answer.success
    assert answer.description == ''
    for pattern in expected:
        assert re.search(pattern, answer.error), f'{pattern!r} not in error {answer.error!r}'
    assert rig.server.base_url in answer.error, 'the error must name the server'
    assert elapsed < ANSWER_BOUND, f'answered after {elapsed:.2f} s'
    assert captions_during == 0, 'a failure must not be published as a caption'
    if caption_requests is not None:
        ticks = window / tick
        assert ticks - 2 <= caption_requests <= ticks + 2, (
            f'{caption_requests} caption requests in {window:g} s, expected about '
            f'{ticks:g} (one every {tick:g} s)')

    after, _ = rig.caller.call('healthy again?')
    assert after.success, f'not recovered: {after.error}'
    assert mean_rgb(after.description)[0] > 240
    wait_for(lambda: len(rig.captions) > captions_before, 3 * CAPTION_PERIOD + 2.0,
             'captions to resume after the server recovered')


def test_server_not_running_at_start_up(make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as probe:
        port = probe.port  # free now: nothing listens there
    url = f'http://127.0.0.1:{port}/v1'
    harness = make_harness(base_url=url, caption_period=CAPTION_PERIOD,
                           request_timeout=REQUEST_TIMEOUT)
    captions: list = []
    harness.tester.create_subscription(String, 'caption', captions.append, 10)
    caller = Caller(harness)
    with harness.streaming(make_image(solid(RED), stamp_sec=3), rate=10):
        answer, elapsed = caller.call('anyone there?')
        assert not answer.success
        assert f'cannot reach the VLM server at {url}' in answer.error
        assert 'is it running?' in answer.error and '`ollama serve`' in answer.error
        assert elapsed < ANSWER_BOUND
        time.sleep(2 * CAPTION_PERIOD)  # caption ticks fail against nothing meanwhile
        assert captions == []
        with FakeVlmServer(port=port) as server:
            answer, _ = caller.call('and now?')
            assert answer.success, answer.error
            wait_for(lambda: captions, 3 * CAPTION_PERIOD + 2.0, 'a caption once the server is up')
            first = len(server.requests)
            time.sleep(4 * CAPTION_PERIOD)
            rhythm = sum(1 for r in server.requests[first:] if r.prompt == DEFAULT_PROMPT)
    assert 2 <= rhythm <= 6, f'{rhythm} captions in {4 * CAPTION_PERIOD:g} s'


# --- 2. camera faults -------------------------------------------------------------------


def test_no_camera_publisher(make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.2)
        caller = Caller(harness)
        topic = harness.node._image_sub.topic_name
        harness.tester.destroy_publisher(harness.image_pub)  # no camera at all
        wait_for(lambda: harness.node.count_publishers(topic) == 0, 5.0, 'no publisher')
        answer, _ = caller.call()
        assert not answer.success
        assert f"no image received yet on '{harness.namespace}/camera/image_raw'" in answer.error
        time.sleep(0.6)  # three caption ticks with nothing to describe
        assert server.requests == [], 'nothing may reach the model without a frame'
        harness.image_pub = harness.tester.create_publisher(
            Image, 'camera/image_raw', qos_profile_sensor_data)  # the camera comes up
        with harness.streaming(make_image(solid(GREEN), stamp_sec=11)):
            answer, _ = caller.call()
        assert answer.success, answer.error
        assert answer.image_stamp.sec == 11


def test_camera_stops_then_resumes(make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.5)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            assert caller.call()[0].success
        time.sleep(0.8)
        requests_before = len(server.requests)
        answer, _ = caller.call()
        assert not answer.success
        assert re.search(r'the latest image on .* is \d+\.\d s old, older than max_image_age '
                         r'\(0\.5 s\): is the camera still publishing\?', answer.error), \
            answer.error
        assert answer.image_stamp.sec == 1
        assert len(server.requests) == requests_before
        with harness.streaming(make_image(solid(GREEN), stamp_sec=2)):
            answer, _ = caller.call()
        assert answer.success, answer.error
        assert answer.image_stamp.sec == 2 and mean_rgb(answer.description)[1] > 240


def test_4k_camera_at_up_to_30_hz_while_requests_run(
        make_harness: Callable[..., 'RosHarness']) -> None:
    """A 3840x2160 rgb8 camera in another DDS participant; every answer is of a new frame."""
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.5)
        caller = Caller(harness)
        context = rclpy.Context()
        rclpy.init(context=context)
        camera = Node('camera_4k', namespace=harness.namespace, context=context)
        try:
            publisher = camera.create_publisher(Image, 'camera/image_raw',
                                                qos_profile_sensor_data)
            wait_for(lambda: publisher.get_subscription_count() > 0, 10.0,
                     'vlm_node to match the 4K camera')
            msg = make_image(solid(GREEN, 3840, 2160), stamp_sec=0)
            stop, published = threading.Event(), [0, 0.0]

            def run() -> None:
                started = time.monotonic()
                while not stop.is_set():
                    published[0] += 1
                    msg.header.stamp.sec = published[0]
                    publisher.publish(msg)
                    stop.wait(max(0.0, started + published[0] / 30.0 - time.monotonic()))
                published[1] = time.monotonic() - started

            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            try:
                wait_for(lambda: harness.node._frames_received >= 3, 10.0, '4K frames')
                answers = [caller.call(timeout=10.0)[0] for _ in range(5)]
            finally:
                stop.set()
                thread.join()
        finally:
            camera.destroy_node()
            rclpy.try_shutdown(context=context)
    rate = published[0] / published[1]
    received = harness.node._frames_received
    print(f'4K camera: published {published[0]} frames at {rate:.1f} Hz, '
          f'vlm_node received {received}')
    assert rate > 2, f'the 4K publisher managed only {rate:.1f} Hz'
    for answer in answers:
        assert answer.success, f'{answer.error} (camera at {rate:.1f} Hz)'
        assert answer.description.startswith('896x504 '), answer.description
    stamps = [a.image_stamp.sec for a in answers]
    assert stamps == sorted(stamps) and len(set(stamps)) >= 3, \
        f'answers should follow the live camera, got frames {stamps} (at {rate:.1f} Hz)'
    seen = [r.image for r in server.requests]
    assert seen and all(max(s.width, s.height) <= 896 for s in seen)


def _be_mono16(value: int) -> 'Image':
    pixels = np.full((48, 64), value, dtype='>u2')
    msg = Image(height=48, width=64, encoding='mono16', is_bigendian=1, step=128,
                data=pixels.tobytes())
    return msg


def _malformed(field_name: str, value: Any) -> Callable[[], 'Image']:
    def build() -> 'Image':
        msg = make_image(solid(RED))
        if field_name == 'data':
            msg.data = bytes(msg.data)[:value]
        else:
            setattr(msg, field_name, value)
        return msg
    return build


# (id, frame, error pattern; None: must succeed)
FRAMES = [
    ('width_0', _malformed('width', 0), r'empty image: 0x48 pixels'),
    ('height_0', _malformed('height', 0), r'empty image: 64x0 pixels'),
    ('step_below_row', _malformed('step', 100),
     r'step 100 is smaller than one row of 64 rgb8 pixels \(192 bytes\)'),
    ('data_short', _malformed('data', 192 * 47),
     r'image data holds 9024 bytes, but step\*height = 192\*48 = 9216'),
    ('unknown_encoding', _malformed('encoding', 'xyz123'),
     r"(unsupported image encoding|cv_bridge cannot convert encoding) 'xyz123'"),
    ('mono16_big_endian', lambda: _be_mono16(40000), None),
]


@pytest.fixture(scope='module')
def frame_rig() -> Iterator[tuple['RosHarness', FakeVlmServer, Caller]]:
    with FakeVlmServer() as server:
        with module_harness('frames', base_url=server.base_url, caption_period=0.0) as harness:
            yield harness, server, Caller(harness)


@pytest.mark.parametrize('name, build, error', [pytest.param(*f, id=f[0]) for f in FRAMES])
def test_frame_fault_then_good_frame(frame_rig: tuple, name: str,
                                     build: Callable[[], 'Image'],
                                     error: Optional[str]) -> None:
    harness, server, caller = frame_rig
    stamp = 100 + [f[0] for f in FRAMES].index(name)
    msg = build()
    msg.header.stamp.sec = stamp
    requests_before = len(server.requests)
    with harness.streaming(msg):
        answer, _ = caller.call()
    assert answer.image_stamp.sec == stamp
    if error is None:
        assert answer.success, answer.error
        # 40000 * 255 / 65535 = 156; read little-endian by mistake it would be 64.
        assert mean_rgb(answer.description) == (156, 156, 156), answer.description
    else:
        assert not answer.success
        assert answer.error.startswith('cannot use the latest image: '), answer.error
        assert re.search(error, answer.error), answer.error
        assert len(server.requests) == requests_before, 'a bad frame must not reach the model'
    good = make_image(solid(GREEN), stamp_sec=stamp + 1000)
    with harness.streaming(good):
        answer, _ = caller.call()
    assert answer.success, answer.error
    assert answer.image_stamp.sec == stamp + 1000
    r, g, b = mean_rgb(answer.description)
    assert g > 240 and r < 15 and b < 15


# --- 3. many callers --------------------------------------------------------------------


# 8 callers, each its own node and executor, in a process of their own as on a robot (in
# this process they would compete with vlm_node for the GIL). Each sends a call every 0.1 s
# without waiting for the previous answer, so the 200 calls overlap within about 3 s.
# One JSON line per answer.
CALLERS = """
import json, sys, threading, time
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from jetson_vlm_interfaces.srv import DescribeScene

namespace, clients, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rclpy.init()
lock = threading.Lock()

def report(**fields):
    with lock:
        print(json.dumps(fields), flush=True)

def spin_until(executor, done, deadline):
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=max(0.0, min(0.01, deadline - time.monotonic())))

def loop(index):
    node = Node(f'caller{index}', namespace=namespace)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    client = node.create_client(DescribeScene, 'describe_scene')
    if not client.wait_for_service(timeout_sec=20.0):
        return report(caller=index, failure='no service')
    futures = []
    for call in range(calls):
        futures.append(client.call_async(DescribeScene.Request(prompt=f'c{index}')))
        spin_until(executor, lambda: False, time.monotonic() + 0.1)
    spin_until(executor, lambda: all(f.done() for f in futures), time.monotonic() + 30.0)
    for future in futures:
        if not future.done():
            report(caller=index, failure='no answer within 30 s')
            continue
        answer = future.result()
        report(caller=index, success=answer.success, error=answer.error,
               description=answer.description)

threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
rclpy.shutdown()
"""


def test_concurrent_callers_get_answers_and_parameters_stay_responsive(
        make_harness: Callable[..., 'RosHarness']) -> None:
    """8 clients x 25 calls against a 1 s server: answered, bounded, parameters still quick."""
    clients, calls = 8, 25
    with FakeVlmServer() as server:
        server.state.delay = 1.0
        harness = make_harness(base_url=server.base_url, caption_period=0.0)
        limit = harness.node.get_parameter('max_concurrent_requests').value
        get_client = harness.tester.create_client(GetParameters, 'vlm_node/get_parameters')
        wait_for(lambda: get_client.wait_for_service(timeout_sec=0.1), 10.0, 'get_parameters')
        with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=10):
            callers = subprocess.Popen(
                [sys.executable, '-c', CALLERS, harness.namespace, str(clients), str(calls)],
                stdout=subprocess.PIPE, text=True)
            try:
                wait_for(lambda: server.in_flight >= 1, 30.0, 'load at the server')
                latencies = []
                while callers.poll() is None and len(latencies) < 20:
                    started = time.monotonic()
                    future = get_client.call_async(GetParameters.Request(names=['model']))
                    while not future.done() and time.monotonic() - started < 5.0:
                        time.sleep(0.001)
                    latencies.append((round(time.monotonic() - started, 4), server.in_flight))
                    assert future.done()
                    assert future.result().values[0].string_value == 'gemma3:4b'
                    time.sleep(0.1)
                output, _ = callers.communicate(timeout=120)
            finally:
                if callers.poll() is None:
                    callers.kill()
                    callers.communicate()
    answers = [json.loads(line) for line in output.splitlines()]
    assert [a for a in answers if 'failure' in a] == []
    assert len(answers) == clients * calls
    for answer in answers:
        if not answer['success']:
            assert answer['error'].startswith(
                f'busy: {limit} VLM request(s) already in flight (max_concurrent_requests); '
                'try again shortly'), answer['error']
    succeeded = [a for a in answers if a['success']]
    assert len(succeeded) >= 4, f'only {len(succeeded)} of {len(answers)} calls succeeded'
    assert all(a['description'].endswith(f"prompt=c{a['caller']}") for a in succeeded)
    assert server.max_in_flight == limit, \
        f'{server.max_in_flight} requests at the server at once, limit {limit}'
    loaded = [t for t, in_flight in latencies if in_flight > 0]
    assert len(loaded) >= 5, f'too few parameter calls under load: {latencies}'
    print(f'{len(succeeded)} of {len(answers)} calls succeeded; get_parameters latencies '
          f'(s, requests at the server): {latencies}')
    assert max(t for t, _ in latencies) < 0.1, \
        f'get_parameters latencies under load (s, requests at server): {latencies}'


def _threads() -> int:
    """Count this process's threads but the fake server's, one per open connection."""
    return sum(1 for t in threading.enumerate() if 'process_request_thread' not in t.name)


def test_caller_that_gives_up_leaves_nothing_behind(
        make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            assert caller.call()[0].success  # warm: connection pool and threads in place
            baseline = _threads()
            server.state.delay = 1.0
            quitters = [Node(f'quitter{i}', namespace=harness.namespace,
                             context=harness.context) for i in range(2)]
            for quitter in quitters:
                client = quitter.create_client(DescribeScene, 'describe_scene')
                assert client.wait_for_service(timeout_sec=10.0)
                client.call_async(DescribeScene.Request(prompt='never mind'))
            wait_for(lambda: server.in_flight == 2, 5.0, 'both requests at the server')
            for quitter in quitters:
                quitter.destroy_node()  # gone before the answers come
            assert harness.node._describer.slots.in_flight == 2
            wait_for(lambda: harness.node._describer.slots.in_flight == 0, 5.0,
                     'the abandoned requests to release their slots')
            server.state.delay = 0.0
            wait_for(lambda: server.in_flight == 0, 5.0, 'the server to finish')
            wait_for(lambda: _threads() <= baseline, 5.0,
                     f'threads back to {baseline}, now {_threads()}')
            answer, _ = caller.call('still there?')
    assert answer.success, answer.error
    assert answer.description.endswith('prompt=still there?')


# --- 4. parameters ----------------------------------------------------------------------


def test_every_parameter_declares_its_valid_values(
        make_harness: Callable[..., 'RosHarness']) -> None:
    harness = make_harness(caption_period=0.0)
    client = harness.tester.create_client(DescribeParameters, 'vlm_node/describe_parameters')
    names = [spec.name for spec in PARAMETERS]
    descriptors = harness.call(client, DescribeParameters.Request(names=names)).descriptors
    assert [d.name for d in descriptors] == names
    for spec, descriptor in zip(PARAMETERS, descriptors, strict=True):
        assert descriptor.description, spec.name
        if isinstance(spec.default, str):
            assert descriptor.type == ParameterType.PARAMETER_STRING
            assert descriptor.additional_constraints.startswith('valid: '), spec.name
            assert not descriptor.integer_range and not descriptor.floating_point_range
        elif isinstance(spec.default, float):
            assert descriptor.type == ParameterType.PARAMETER_DOUBLE
            (span,) = descriptor.floating_point_range
            assert (span.from_value, span.to_value) == (spec.min_value, spec.max_value)
        else:
            assert descriptor.type == ParameterType.PARAMETER_INTEGER
            (span,) = descriptor.integer_range
            assert (span.from_value, span.to_value) == (spec.min_value, spec.max_value)
        assert descriptor.read_only == spec.read_only, spec.name
    by_name = {d.name: d for d in descriptors}
    assert by_name['max_concurrent_requests'].read_only
    assert by_name['base_url'].additional_constraints == 'valid: an http:// or https:// URL'
    assert by_name['model'].additional_constraints == 'valid: a non-empty string'


def start_node(*ros_args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen:
    env = dict(os.environ)
    env['PYTHONPATH'] = PACKAGE_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return subprocess.Popen(
        [sys.executable, '-m', 'jetson_vlm_ros.vlm_node', '--ros-args', *ros_args],
        env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True)


def test_invalid_start_up_values_stop_the_node_naming_parameter_and_range() -> None:
    cases = [  # (argument, what the message must contain)
        ('temperature:=5.0', ['temperature', '2.0']),
        ('request_timeout:=0.0', ['request_timeout', '0.1', '600.0']),
        ('max_image_age:=-1.0', ['max_image_age', '3600.0']),
        ("model:=''", ["parameter 'model'", 'non-empty']),
        ("prompt:=' '", ["parameter 'prompt'", 'non-empty']),
        ('base_url:=ftp://localhost/v1', ["parameter 'base_url'", 'http:// or https://']),
    ]
    processes = [start_node('-p', argument) for argument, _ in cases]  # in parallel
    for (argument, needles), process in zip(cases, processes, strict=True):
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 2, f'{argument}: exit {process.returncode}\n{output}'
        assert 'cannot start' in output and 'Traceback' not in output, output
        for needle in needles:
            assert needle in output, f'{argument}: {needle!r} not in {output!r}'


def _parameter_value(value: Any) -> 'ParameterValue':
    if isinstance(value, str):
        return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)


def test_wrong_type_set_is_rejected_naming_the_parameter(
        make_harness: Callable[..., 'RosHarness']) -> None:
    harness = make_harness(caption_period=0.0)
    client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')
    request = SetParameters.Request(parameters=[
        ParameterMsg(name='caption_period', value=_parameter_value('fast'))])
    result = harness.call(client, request).results[0]
    assert not result.successful
    assert harness.node.get_parameter('caption_period').value == 0.0
    assert 'caption_period' in result.reason, result.reason
    assert re.search(r'float|double', result.reason, re.IGNORECASE), result.reason


def test_invalid_run_time_set_is_rejected_and_valid_changes_apply(
        make_harness: Callable[..., 'RosHarness']) -> None:
    with FakeVlmServer() as first, FakeVlmServer() as second:
        harness = make_harness(base_url=first.base_url, caption_period=0.0)
        set_client = harness.tester.create_client(SetParameters, 'vlm_node/set_parameters')

        def set_parameter(name: str, value: Any) -> Any:
            request = SetParameters.Request(
                parameters=[ParameterMsg(name=name, value=_parameter_value(value))])
            return harness.call(set_client, request).results[0]

        rejected = [  # (name, bad value, what the reason must contain)
            ('temperature', 3.0, ['temperature', '2.0']),
            ('request_timeout', 0.01, ['request_timeout', '0.1']),
            ('max_image_size', 8, ['max_image_size', '32']),
            ('model', '', ['model', 'non-empty']),
            ('prompt', '   ', ['prompt', 'non-empty']),
            ('base_url', 'ftp://example.com/v1', ['base_url', 'http']),
            ('max_concurrent_requests', 4, ['max_concurrent_requests']),
        ]
        for name, value, needles in rejected:
            old = harness.node.get_parameter(name).value
            result = set_parameter(name, value)
            assert not result.successful, f'{name}={value!r} was accepted'
            for needle in needles:
                assert needle in result.reason, f'{needle!r} not in {result.reason!r}'
            assert harness.node.get_parameter(name).value == old
        assert harness.node._settings.base_url == first.base_url

        captions: list = []
        harness.tester.create_subscription(Caption, 'caption_stamped', captions.append, 10)
        caller = Caller(harness)
        with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=10):
            assert caller.call()[0].success
            assert len(first.requests) == 1
            for name, value in [('model', 'llava:7b'), ('prompt', 'Count the boxes.'),
                                ('base_url', second.base_url), ('caption_period', 0.3)]:
                assert set_parameter(name, value).successful, name
            answer, _ = caller.call()
            assert answer.success, answer.error
            assert answer.model == 'llava:7b'
            assert answer.description.endswith('prompt=Count the boxes.')
            wait_for(lambda: len(captions) >= 2, 5.0, 'captions at the new caption_period')
            assert len(first.requests) == 1, 'requests must go to the new base_url'
            assert second.requests[0].body['model'] == 'llava:7b'
            assert all(c.model == 'llava:7b' and c.prompt == 'Count the boxes.'
                       for c in captions)
            assert set_parameter('caption_period', 0.0).successful
            time.sleep(0.4)  # a caption already running may still land
            settled = len(second.requests)
            time.sleep(1.0)
            assert len(second.requests) == settled, 'captions must stop at caption_period 0'


# --- 6. secrets and logs ----------------------------------------------------------------

SECRET = f'sk-test-{os.getpid()}-Zq7XwL3mN9'
LONG_BODY = ''.join(f'{i:04d}' for i in range(1250))  # 5000 characters, none repeated


@dataclass
class LeakRun:
    """Everything a vlm_node process said and published during successes and failures."""

    output: str = ''
    rosout: list = field(default_factory=list)
    captions: list = field(default_factory=list)
    parameter_events: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)
    authorization: set = field(default_factory=set)


@pytest.fixture(scope='module')
def leak_run() -> LeakRun:
    if not HAVE_ROS:
        pytest.skip('no ROS')
    run = LeakRun()
    namespace = _namespace('leak')
    server = FakeVlmServer().start()
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('leak_watcher', namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    process = None
    # A file, not a pipe: debug logging would fill a pipe's buffer and block the node.
    log_file = tempfile.TemporaryFile('w+')
    try:
        node.create_subscription(Log, '/rosout', run.rosout.append, 1000)
        node.create_subscription(ParameterEvent, '/parameter_events',
                                 run.parameter_events.append, 1000)
        node.create_subscription(String, 'caption', run.captions.append, 100)
        node.create_subscription(Caption, 'caption_stamped', run.captions.append, 100)
        publisher = node.create_publisher(Image, 'image', qos_profile_sensor_data)
        client = node.create_client(DescribeScene, 'describe_scene')
        process = start_node(
            '-r', f'__ns:={namespace}', '-p', f'base_url:={server.base_url}',
            '-p', f'api_key:={SECRET}', '-p', 'caption_period:=0.3',
            '-p', 'request_timeout:=1.0', '--log-level', 'debug', stdout=log_file)
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 30.0, 'describe_scene')

        def ask(case: str, setup: Callable[[], None]) -> None:
            setup()
            time.sleep(0.7)  # let caption ticks fail (and log) the same way
            future = client.call_async(DescribeScene.Request(prompt='What is there?'))
            wait_for(future.done, 10.0, f'an answer ({case})')
            run.answers[case] = future.result()

        with publishing(publisher, make_image(solid(RED), stamp_sec=5), rate=10):
            ask('ok', lambda: None)
            wait_for(lambda: run.captions, 5.0, 'a caption')
            ask('401', lambda: setattr(server, 'state', ServerState(
                behaviour='status', status=401,
                status_body='{"error": {"message": "invalid api key"}}')))
            ask('echo_image', lambda: setattr(server, 'state', ServerState(
                behaviour='echo_image', status=400)))
            ask('long_body', lambda: setattr(server, 'state', ServerState(
                behaviour='status', status=500, status_body=LONG_BODY)))
            ask('cut', lambda: setattr(server, 'state', ServerState(behaviour='cut_mid_reply')))
            run.authorization = {r.authorization for r in server.requests}
            ask('refused', server.stop)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        time.sleep(0.3)  # the last /rosout messages
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        log_file.seek(0)
        run.output = log_file.read()
        log_file.close()
        print(f'vlm_node said:\n{run.output}')
        server.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return run


def _published_text(run: LeakRun) -> str:
    texts = [m.msg for m in run.rosout]
    for caption in run.captions:
        texts += [caption.data] if isinstance(caption, String) else [
            caption.text, caption.prompt, caption.model, caption.header.frame_id]
    for answer in run.answers.values():
        texts += [answer.description, answer.error, answer.model]
    return '\n'.join(texts)


def test_api_key_never_in_logs_or_captions(leak_run: LeakRun) -> None:
    run = leak_run
    # The scenario did what it should: the key was used, and failures were logged.
    assert run.authorization == {f'Bearer {SECRET}'}
    assert run.answers['ok'].success
    assert 'HTTP 401' in run.answers['401'].error
    assert 'cannot reach the VLM server' in run.answers['refused'].error
    for needle in ('describe_scene failed: ', 'caption failed: ', 'HTTP 401', 'cannot reach'):
        assert needle in run.output, f'{needle!r} not logged:\n{run.output}'
    assert any('HTTP 401' in m.msg for m in run.rosout), 'no /rosout messages captured'
    assert run.captions, 'no captions captured'
    assert SECRET not in run.output
    assert SECRET not in _published_text(run)


def test_image_payload_never_in_logs(leak_run: LeakRun) -> None:
    run = leak_run
    assert not run.answers['echo_image'].success
    for text in (run.output, _published_text(run)):
        assert '/9j/' not in text and 'base64,' not in text


def test_error_quotes_at_most_200_characters_of_a_reply(leak_run: LeakRun) -> None:
    error = leak_run.answers['long_body'].error
    assert 'answered HTTP 500: ' + LONG_BODY[:200] in error, error
    assert LONG_BODY[:201] not in error
    assert len(error) < 200 + 120, f'{len(error)} characters: {error!r}'


def test_api_key_from_environment_is_used_but_not_exposed(
        make_harness: Callable[..., 'RosHarness'], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OPENAI_API_KEY', SECRET)
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, api_key='')
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            answer, _ = Caller(harness).call()
        assert answer.success, answer.error
        assert server.requests[-1].authorization == f'Bearer {SECRET}'
        client = harness.tester.create_client(GetParameters, 'vlm_node/get_parameters')
        values = harness.call(client, GetParameters.Request(names=['api_key'])).values
        assert values[0].string_value == ''
