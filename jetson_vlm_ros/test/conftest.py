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

"""Shared helpers for the tests that run real rclpy nodes over real DDS."""

from contextlib import contextmanager
from dataclasses import dataclass
import itertools
import os
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator, Optional

from fake_vlm_server import FakeVlmServer
from jetson_vlm_ros.ros.fastdds_profile import profile_environment
import numpy as np
import pytest

# Keep DDS discovery on this machine and away from other ROS graphs (Jazzy and later).
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
# Load the Fast DDS profile the package ships for large frames, so that tests run what users
# are told to run and 1080p/4K frames cross between processes (stock Fast DDS, and
# FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA too, lost almost all 1080p frames here: see README).
# Read once per process, when the first context starts, so set before any; child processes
# (cameras, vlm_node) inherit it. Set that variable empty to run stock Fast DDS.
FASTDDS_PROFILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               'config', 'fastdds_large_frames.xml')
for _name, _value in profile_environment(FASTDDS_PROFILE).items():
    os.environ.setdefault(_name, _value)

try:
    import jetson_vlm_interfaces.srv  # noqa: F401 - built by colcon into install/
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    ROS_IMPORT_ERROR = ''
except ImportError as error:  # the pure unit tests still run
    ROS_IMPORT_ERROR = f'{type(error).__name__}: {error}'
HAVE_ROS = not ROS_IMPORT_ERROR
# A test lane without ROS on purpose (scripts/ros_env.sh sets why): CI must not fail there.
LANE_WITHOUT_ROS = os.environ.get('JETSON_VLM_LANE_WITHOUT_ROS', '')
# Why the tests that need ROS skip; under CI the run fails instead (see pytest_configure).
ROS_SKIP_REASON = (f'ROS 2 not importable ({ROS_IMPORT_ERROR}): '
                   + (LANE_WITHOUT_ROS or 'set up with scripts/bootstrap.sh and source '
                      'install/setup.bash'))


def running_in_ci() -> bool:
    """Return whether CI is set (CI services set CI=true)."""
    return os.environ.get('CI', '').strip().lower() not in ('', '0', 'false', 'no')


def pytest_configure(config: Any) -> None:  # pytest.Config exists from pytest 7 only
    """Fail the whole run in CI when ROS is missing: skips there would hide untested code."""
    if running_in_ci() and not HAVE_ROS and not LANE_WITHOUT_ROS:
        pytest.exit(f'CI is set, but {ROS_SKIP_REASON}', returncode=1)


_namespaces = itertools.count()


@dataclass
class FakeImage:
    """The fields of sensor_msgs/Image that conversion reads, for tests without ROS."""

    height: int
    width: int
    encoding: str
    is_bigendian: int
    step: int
    data: Any


def make_image(rgb: np.ndarray, encoding: str = 'rgb8', stamp_sec: int = 0,
               frame_id: str = 'camera') -> 'Image':
    """Pack an RGB array into a sensor_msgs/Image of the given colour encoding."""
    if encoding == 'bgr8':
        pixels = rgb[:, :, ::-1]
    elif encoding == 'mono8':
        pixels = rgb[:, :, 0]
    else:
        pixels = rgb
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=0,
                step=pixels.strides[0], data=pixels.tobytes())
    msg.header.stamp.sec = stamp_sec
    msg.header.frame_id = frame_id
    return msg


def solid(rgb: tuple[int, int, int], width: int = 64, height: int = 48) -> np.ndarray:
    """Return a frame of one colour."""
    return np.full((height, width, 3), rgb, np.uint8)


def free_port() -> int:
    """Return a loopback TCP port that is free now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll predicate until it is truthy; fail the test naming what did not happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    pytest.fail(f'timed out after {timeout} s waiting for {what}')


class RosHarness:
    """A vlm_node and a test node in one private context, each spun in its own thread."""

    def __init__(self, overrides: dict[str, Any], namespace: str) -> None:
        from jetson_vlm_ros.ros.vlm_node import VlmNode
        # The warm-up request would show up in the server's request counts: opt in per test.
        overrides.setdefault('warm_up', False)
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.namespace = namespace
        self.node = VlmNode(
            context=self.context, namespace=namespace,
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()],
            cli_args=['--ros-args', '-r', f'image:={namespace}/camera/image_raw'])
        self.tester = Node('tester', namespace=namespace, context=self.context)
        self.image_pub = self.tester.create_publisher(
            Image, 'camera/image_raw', qos_profile_sensor_data)
        self._executors = [
            self.node.make_executor(context=self.context),
            SingleThreadedExecutor(context=self.context)]
        self._executors[1].add_node(self.tester)
        self._threads = [threading.Thread(target=e.spin, daemon=True) for e in self._executors]
        for thread in self._threads:
            thread.start()
        self._publishing: Optional[threading.Event] = None
        self._client_nodes: list[Node] = []

    def action_client(self, action_type: Any, name: str) -> 'ActionClient':
        """
        Return an ActionClient on a node of its own, spun only once the client is complete.

        rclpy's ActionClient adds itself to its node before it has all its attributes (Kilted:
        _lock), so one created on a node that another thread spins can kill that thread's
        executor (seen: AttributeError in get_num_entities, and the goal never accepted).
        """
        node = Node(f'action_client{len(self._client_nodes)}', namespace=self.namespace,
                    context=self.context)
        client = ActionClient(node, action_type, name)
        self._client_nodes.append(node)
        self._executors[1].add_node(node)
        return client

    def call(self, client: Any, request: Any, timeout: float = 10.0) -> Any:
        """Call a service of the graph and wait for its answer."""
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 10.0,
                 f'service {client.srv_name}')
        future = client.call_async(request)
        wait_for(future.done, timeout, f'an answer from {client.srv_name}')
        return future.result()

    @contextmanager
    def streaming(self, msg: 'Image', rate: float = 30.0) -> Iterator[None]:
        """Publish msg repeatedly (best-effort transport may drop some) until the block ends."""
        stop = threading.Event()

        def run() -> None:
            while not stop.is_set():
                self.image_pub.publish(msg)
                stop.wait(1.0 / rate)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: self.node._camera.latest_frame is not None
                     and self.node._camera.latest_frame.message.header == msg.header,
                     10.0, 'vlm_node to receive the published frame')
            yield
        finally:
            stop.set()
            thread.join()

    def close(self) -> None:
        """Stop spinning and tear the context down."""
        for executor in self._executors:
            executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        self.tester.destroy_node()
        for node in self._client_nodes:
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        for thread in self._threads:
            thread.join(timeout=5.0)


def wait_for_node_time(harness: 'RosHarness', seconds: float, timeout: float = 30.0) -> None:
    """
    Wait until the harness's vlm_node has spun for at least seconds, by its own /diagnostics.

    Each DiagnosticArray is published by a timer of the node's executor, every
    diagnostics_period: counting them proves the node's timers had that time to fire, which
    a sleep on a busy machine does not (the node may not have run at all meanwhile).
    """
    from diagnostic_msgs.msg import DiagnosticArray
    period = harness.node.get_parameter('diagnostics_period').value
    assert period > 0, 'wait_for_node_time needs diagnostics_period > 0'
    name = f'{harness.namespace}/vlm_node: camera'
    seen: list[int] = []

    def on_diagnostics(message: Any) -> None:
        if any(status.name == name for status in message.status):
            seen.append(1)

    subscription = harness.tester.create_subscription(
        DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    try:
        # The first message only starts the count: the span lies between the first and last.
        needed = int(seconds / period + 0.999) + 1
        wait_for(lambda: len(seen) >= needed, timeout + seconds,
                 f'{seconds:g} s of the node spinning ({needed} diagnostics messages)')
    finally:
        harness.tester.destroy_subscription(subscription)


@pytest.fixture
def make_harness():
    """Build RosHarness instances with their own namespace; close them after the test."""
    if not HAVE_ROS:
        pytest.skip(ROS_SKIP_REASON)
    harnesses: list[RosHarness] = []

    def build(**overrides: Any) -> RosHarness:
        harness = RosHarness(overrides, f'/t{os.getpid()}_{next(_namespaces)}')
        harnesses.append(harness)
        return harness

    yield build
    for harness in harnesses:
        harness.close()


# --- shared by the tests that run ROS or the loopback server -------------------------------

requires_ros = pytest.mark.skipif(not HAVE_ROS, reason=ROS_SKIP_REASON)


@pytest.fixture
def server():
    """Run the loopback OpenAI-compatible server for one test."""
    with FakeVlmServer() as running:
        yield running


PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RED, GREEN = (255, 0, 0), (0, 255, 0)
DEFAULT_PROMPT = 'Describe what the robot camera sees in one or two short sentences.'


def mean_rgb(text: str) -> tuple[int, ...]:
    """Return the mean colour the fake server read from the image, as quoted in its answer."""
    match = re.search(r'mean_rgb=(\d+),(\d+),(\d+)', text)
    assert match, f'no mean colour in answer {text!r}'
    return tuple(int(v) for v in match.groups())


class Caller:
    """A describe_scene client on the harness's tester node, timing every call."""

    def __init__(self, harness: 'RosHarness') -> None:
        from jetson_vlm_interfaces.srv import DescribeScene
        self._request = DescribeScene.Request
        self.client = harness.tester.create_client(DescribeScene, 'describe_scene')
        wait_for(lambda: self.client.wait_for_service(timeout_sec=0.1), 10.0,
                 'the describe_scene service')

    def call(self, prompt: str = '', timeout: float = 10.0) -> tuple[Any, float]:
        """Ask with prompt; return the answer and the seconds it took."""
        started = time.monotonic()
        future = self.client.call_async(self._request(prompt=prompt))
        wait_for(future.done, timeout, 'an answer from describe_scene')
        return future.result(), time.monotonic() - started


def shared_namespace(tag: str) -> str:
    """Return a namespace of this process for a harness several tests share."""
    return f'/rel{os.getpid()}_{tag}'


@contextmanager
def module_harness(tag: str, **overrides: Any) -> Iterator['RosHarness']:
    """Build a harness that several tests share (the node is never restarted between them)."""
    harness = RosHarness(overrides, shared_namespace(tag))
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


# The warm-up request would show up at the test's server (counts, in_flight): off unless a
# test passes `-p warm_up:=true` (a later -p wins).
NO_WARM_UP = ('-p', 'warm_up:=false')


def start_node(*ros_args: str, stdout: Any = subprocess.PIPE,
               code: Optional[str] = None, **popen: Any) -> subprocess.Popen:
    """
    Start vlm_node from the source tree as its own process (stderr joins stdout).

    With code, that Python code runs instead of `-m jetson_vlm_ros.ros.vlm_node`, with the same
    environment and ROS arguments (e.g. the console script's entry point). Further keyword
    arguments go to Popen (e.g. start_new_session, stdin).
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = PACKAGE_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    program = ['-m', 'jetson_vlm_ros.ros.vlm_node'] if code is None else ['-c', code]
    return subprocess.Popen(
        [sys.executable, *program, '--ros-args', *NO_WARM_UP, *ros_args],
        env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True, **popen)


def pytest_collection_modifyitems(items: list) -> None:
    """
    Run the linters first, before any test has started DDS threads in this process.

    ament_flake8 checks files in forked worker processes; a fork taken while DDS and
    rclpy threads hold locks can leave a child waiting on a lock forever (seen here:
    the suite hung in test_flake8 after the action tests).
    """
    items.sort(key=lambda item: 0 if item.get_closest_marker('linter') else 1)
