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
vlm_node imports what it uses when it uses it (issue 18): checked in real node processes.

openai (and its HTTP stack) is imported in the background once the node is up, aiohttp only
for the gateway, jsonschema with the first schema. The node process runs with a probe: a
thread that answers `modules` on stdin with the watched packages imported so far, and an
import gate that holds openai's import until the test sends `release`.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Optional

from conftest import (
    free_port, HAVE_ROS, make_image, PACKAGE_ROOT, requires_ros, solid, start_node,
    wait_for)
import pytest

if HAVE_ROS:
    from diagnostic_msgs.msg import DiagnosticArray
    from jetson_vlm_interfaces.srv import DescribeScene
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

pytestmark = requires_ros

WATCHED = ('openai', 'aiohttp', 'jsonschema', 'httpx', 'httpx2', 'pydantic')


def probe_code(gate_open: bool) -> str:
    """Return the code that runs vlm_node's main() with the probe (see the module's text)."""
    return f"""
import importlib.abc, json, sys, threading
gate_open = threading.Event()
if {gate_open!r}:
    gate_open.set()
class Gate(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == 'openai' and not gate_open.is_set():
            print('PROBE openai import waits at the gate on ' + threading.current_thread().name,
                  flush=True)
            gate_open.wait()
        return None
sys.meta_path.insert(0, Gate())
def serve():
    for line in sys.stdin:
        if line.strip() == 'release':
            gate_open.set()
        loaded = sorted(name for name in {WATCHED!r} if name in sys.modules)
        print('PROBE modules ' + json.dumps(loaded), flush=True)
threading.Thread(target=serve, daemon=True).start()
from jetson_vlm_ros.ros.vlm_node import main
main()
"""


class ProbedNode:
    """vlm_node in its own process with the probe, and a test node of the same namespace."""

    def __init__(self, gate_open: bool, *ros_args: str) -> None:
        self.namespace = f'/lazy{os.getpid()}_{time.monotonic_ns()}'
        self.process = start_node('-r', f'__ns:={self.namespace}', *ros_args,
                                  code=probe_code(gate_open), stdin=subprocess.PIPE)
        self.lines: queue.Queue = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node('lazy_tester', namespace=self.namespace, context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.diagnostics: dict[str, dict[str, str]] = {}  # status name -> its values
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        self.image_pub = self.node.create_publisher(Image, 'image', qos_profile_sensor_data)
        self.client = self.node.create_client(DescribeScene, 'describe_scene')

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith('PROBE '):
                self.lines.put(line.strip())

    def _on_diagnostics(self, message: Any) -> None:
        for status in message.status:
            if status.name.startswith(f'{self.namespace}/vlm_node: '):
                self.diagnostics[status.name.rsplit(': ', 1)[1]] = {
                    value.key: value.value for value in status.values}

    def probe_line(self, prefix: str, timeout: float = 20.0) -> str:
        """Return the next probe line starting with prefix (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"no '{prefix}' line from the node; output: {''.join(self.output)}")
            if line.startswith(prefix):
                return line

    def send(self, command: str) -> list[str]:
        """Send a command to the probe; return the watched packages imported by then."""
        self.process.stdin.write(command + '\n')
        self.process.stdin.flush()
        return json.loads(self.probe_line('PROBE modules ')[len('PROBE modules '):])

    def spin_until(self, predicate: Any, timeout: float, what: str) -> Any:
        return wait_for(lambda: self.executor.spin_once(timeout_sec=0.02) or predicate(),
                        timeout, what)

    def deliver(self, frame: Any) -> None:
        """Publish frame until the node's diagnostics count a received frame."""
        def received() -> bool:
            self.image_pub.publish(frame)
            return self.diagnostics.get('camera', {}).get('frames received', '0') != '0'
        self.spin_until(received, 20.0, 'a frame at the node')

    def call(self, request: Any, publish: Optional[Any] = None, timeout: float = 20.0) -> Any:
        """Call describe_scene, publishing `publish` until the answer is in."""
        future = self.client.call_async(request)

        def done() -> bool:
            if publish is not None:
                self.image_pub.publish(publish)
            return future.done()
        self.spin_until(done, timeout, 'an answer from describe_scene')
        return future.result()

    def close(self) -> None:
        # SIGINT first: a node killed outright leaves its 67 MB shared-memory segment behind.
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait(timeout=10)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def probed_nodes():
    nodes: list[ProbedNode] = []

    def build(gate_open: bool, *ros_args: str) -> ProbedNode:
        nodes.append(ProbedNode(gate_open, *ros_args))
        return nodes[-1]
    yield build
    for node in nodes:
        node.close()


def test_importing_the_node_module_imports_none_of_the_deferred_packages():
    env = dict(os.environ, PYTHONPATH=PACKAGE_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    code = (f'import sys, json, jetson_vlm_ros.ros.vlm_node; '
            f'print(json.dumps(sorted(n for n in {WATCHED!r} if n in sys.modules)))')
    result = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_node_is_up_before_openai_and_the_first_request_waits_for_it(probed_nodes, server):
    node = probed_nodes(
        False, '-p', f'base_url:={server.base_url}', '-p', 'caption_period:=0.0',
        '-p', 'diagnostics_period:=0.2')
    # The import starts in the background, on a thread of its own...
    waiting = node.probe_line('PROBE openai import waits at the gate')
    assert not waiting.endswith('MainThread')
    # ...and the node serves without it: the service is up, openai not yet imported.
    node.spin_until(lambda: node.client.wait_for_service(timeout_sec=0.01), 20.0,
                    'the describe_scene service')
    assert 'openai' not in node.send('modules')
    # A request made now (the frame is in) holds its slot until openai is there.
    node.deliver(make_image(solid((255, 0, 0)), stamp_sec=7))
    future = node.client.call_async(DescribeScene.Request(prompt='What now?'))
    node.spin_until(lambda: node.diagnostics['requests']['in flight'].startswith('1 '), 20.0,
                    'the request in flight, waiting for openai')
    assert not future.done() and server.requests == []
    node.send('release')
    node.spin_until(future.done, 20.0, 'the answer once openai is imported')
    answer = future.result()
    assert answer.success, answer.error
    assert answer.description.endswith('prompt=What now?')  # the fake server's answer
    assert 'openai' in node.send('modules')


def test_gateway_off_never_imports_aiohttp_and_jsonschema_waits_for_a_schema(
        probed_nodes, server):
    node = probed_nodes(
        True, '-p', f'base_url:={server.base_url}', '-p', 'caption_period:=0.0',
        '-p', 'diagnostics_period:=0.2')
    frame = make_image(solid((0, 0, 255)), stamp_sec=8)
    node.deliver(frame)
    node.spin_until(lambda: node.client.wait_for_service(timeout_sec=0.01), 20.0,
                    'the describe_scene service')
    # openai arrives in the background without being asked for, and without aiohttp.
    wait_for(lambda: 'openai' in node.send('modules'), 20.0, 'openai imported in the background')
    answer = node.call(DescribeScene.Request(prompt='Text, please'), publish=frame)
    assert answer.success, answer.error
    loaded = node.send('modules')
    assert 'aiohttp' not in loaded and 'jsonschema' not in loaded
    # The first schema brings jsonschema in, and is checked with it.
    server.state.answer_text = '{"colour": "blue"}'
    schema = json.dumps({'type': 'object', 'required': ['colour'],
                         'properties': {'colour': {'type': 'string'}}})
    answer = node.call(DescribeScene.Request(prompt='Colour?', response_format=schema),
                       publish=frame)
    assert answer.success, answer.error
    assert json.loads(answer.description) == {'colour': 'blue'}
    assert 'jsonschema' in node.send('modules')
    assert 'aiohttp' not in node.send('modules')


def test_gateway_on_imports_aiohttp(probed_nodes, server):
    port = free_port()
    node = probed_nodes(
        True, '-p', f'base_url:={server.base_url}', '-p', 'caption_period:=0.0',
        '-p', f'gateway_port:={port}')
    node.spin_until(lambda: node.client.wait_for_service(timeout_sec=0.01), 20.0,
                    'the describe_scene service')
    # The gateway starts on a thread of its own: once it answers, it has imported aiohttp.
    wait_for(lambda: gateway_answers(port), 30.0, 'the gateway to answer')
    assert 'aiohttp' in node.send('modules')


def gateway_answers(port: int) -> bool:
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1.0):
            return True
    except OSError:
        return False
