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

"""vlm_node as users run it: a separate process, stopped with Ctrl-C, refusing bad config."""

import os
import re
import signal
import socket
import subprocess
import time

from conftest import HAVE_ROS, make_image, requires_ros, solid, start_node, wait_for
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from jetson_vlm_interfaces.srv import DescribeScene

pytestmark = requires_ros


def test_invalid_parameter_at_start_stops_with_its_name_and_range():
    process = start_node('-p', 'jpeg_quality:=500')
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert 'jpeg_quality' in output
    assert '100' in output  # the upper bound of the valid range
    assert 'Traceback' not in output


def test_invalid_string_parameter_at_start():
    process = start_node('-p', 'base_url:=localhost:11434')
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "invalid value for parameter 'base_url'" in output
    assert 'Traceback' not in output


class HangingCalls:
    """vlm_node in its own process with `count` describe_scene calls hanging at the server."""

    def __init__(self, server: FakeVlmServer, count: int) -> None:
        self.namespace = f'/stop{os.getpid()}_{time.monotonic_ns()}'
        self.process = start_node(
            '-r', f'__ns:={self.namespace}', '-p', f'base_url:={server.base_url}',
            '-p', 'caption_period:=0.0', '-p', 'request_timeout:=60.0',
            '-p', f'max_concurrent_requests:={count}',
            '-p', 'warm_up:=false')  # a warm-up would hold one of the slots at the server
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node('stop_tester', namespace=self.namespace, context=self.context)
        self.executor = rclpy.executors.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        try:
            self._hang_calls(server, count)
        except BaseException:
            self.close()  # a failed set-up must not leave the node process running
            raise

    def _hang_calls(self, server: FakeVlmServer, count: int) -> None:
        publisher = self.node.create_publisher(Image, 'image', qos_profile_sensor_data)
        client = self.node.create_client(DescribeScene, 'describe_scene')
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 20.0, 'describe_scene')
        msg = make_image(solid((255, 0, 0)), stamp_sec=1)
        calls = []

        def request_reached_server() -> bool:
            publisher.publish(msg)
            # Until the frame has crossed over, a call is answered 'no image received
            # yet' at once: ask again until one hangs at the server.
            if not calls or calls[-1].done():
                calls.append(client.call_async(DescribeScene.Request()))
            self.executor.spin_once(timeout_sec=0.05)
            return server.in_flight > 0
        wait_for(request_reached_server, 20.0, 'a request hanging at the server')
        self.pending = [calls[-1]] + [client.call_async(DescribeScene.Request())
                                      for _ in range(count - 1)]
        wait_for(lambda: self.executor.spin_once(timeout_sec=0.05) or
                 server.in_flight == count, 20.0, f'{count} requests hanging at the server')

    def stop(self, *signals: tuple[float, int]) -> str:
        """Send each (delay, signal) in turn; return the node's output once it has exited."""
        for delay, signum in signals:
            time.sleep(delay)
            if self.process.poll() is not None:
                break
            self.process.send_signal(signum)
        output, _ = self.process.communicate(timeout=15)
        return output

    def replies(self) -> list['DescribeScene.Response']:
        """Return the answers to the pending calls (they may arrive after the node exited)."""
        wait_for(lambda: self.executor.spin_once(timeout_sec=0.05) or
                 all(call.done() for call in self.pending),
                 5.0, 'an answer to every call pending at shutdown')
        return [call.result() for call in self.pending]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@pytest.fixture
def hanging_calls():
    with FakeVlmServer() as server:
        server.state.behaviour = 'hang'
        # Several calls pending at once: each one is a chance to lose the shutdown race.
        calls = HangingCalls(server, count=4)
        try:
            yield calls
        finally:
            calls.close()


# (delay before it, signal) sequences, as users and tools stop the node.
STOPS = {
    'ctrl_c_in_a_terminal': [(0.0, signal.SIGINT)],
    # `ros2 launch` without a terminal: the group's SIGINT, then launch's own shortly after.
    'ctrl_c_under_ros2_launch': [(0.0, signal.SIGINT), (0.01, signal.SIGINT)],
    # Further SIGINTs every 2 ms until it exits: some land in destroy_node() and shutdown.
    'sigint_during_cleanup': [(0.0, signal.SIGINT)] + [(0.002, signal.SIGINT)] * 2000,
    # systemd, docker stop, launch's escalation: rclpy reports it as ExternalShutdownException.
    'sigterm': [(0.0, signal.SIGTERM)],
}


@pytest.mark.parametrize('stop', STOPS)
def test_stop_exits_0_quietly_and_answers_pending_calls(hanging_calls, stop):
    started = time.monotonic()
    output = hanging_calls.stop(*STOPS[stop])
    assert time.monotonic() - started < 10
    assert 'Traceback' not in output, output
    assert 'KeyboardInterrupt' not in output, output
    assert 'Failed to publish log message' not in output, output  # logging after shutdown
    assert hanging_calls.process.returncode == 0, output
    for reply in hanging_calls.replies():
        assert not reply.success
        assert reply.error == 'vlm_node is shutting down'


def describe_once_a_frame_arrived(namespace: str) -> 'DescribeScene.Response':
    """Stream a frame to the node and call describe_scene until an answer is not 'no image'."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('log_tester', namespace=namespace, context=context)
    try:
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        publisher = node.create_publisher(Image, 'image', qos_profile_sensor_data)
        client = node.create_client(DescribeScene, 'describe_scene')
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 20.0, 'describe_scene')
        msg = make_image(solid((255, 0, 0)), stamp_sec=1)
        calls = []

        def answered() -> bool:
            publisher.publish(msg)
            if not calls or (calls[-1].done() and 'no image' in calls[-1].result().error):
                calls.append(client.call_async(DescribeScene.Request()))
            executor.spin_once(timeout_sec=0.05)
            return calls[-1].done() and 'no image' not in calls[-1].result().error
        wait_for(answered, 20.0, 'an answer about a frame')
        return calls[-1].result()
    finally:
        node.destroy_node()
        rclpy.try_shutdown(context=context)


@pytest.mark.parametrize('level', ['debug', 'info'])
def test_each_request_is_logged_at_debug_level_only(level):
    namespace = f'/log{os.getpid()}_{level}'
    with FakeVlmServer() as server:
        process = start_node(
            '-r', f'__ns:={namespace}', '-p', f'base_url:={server.base_url}',
            '-p', 'caption_period:=0.0', '--log-level', level)
        try:
            answer = describe_once_a_frame_arrived(namespace)
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=15)
    assert answer.success, answer.error
    lines = [line for line in output.splitlines() if 'describe_scene: frame age' in line]
    if level == 'info':
        assert lines == [], output
        return
    assert len(lines) == 1, output
    assert lines[0].startswith('[DEBUG]'), lines[0]
    # 64x48 frame: sent at its own size; the JPEG's length and each stage's time are given.
    assert re.search(r'frame age \d+ ms, prepared 64x48 JPEG of [1-9]\d* bytes in '
                     r'\d+\.\d ms, model \d+\.\d{3} s, total \d+\.\d{3} s$', lines[0]), lines[0]


def outputs_within(processes: list[subprocess.Popen], seconds: float) -> list[str]:
    """Return each process's output once it ended, or a note that it did not in time."""
    deadline = time.monotonic() + seconds
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(
                timeout=max(0.1, deadline - time.monotonic()))[0])
        except subprocess.TimeoutExpired:
            outputs.append(f'still running {seconds:g} s after SIGTERM')
    return outputs


def kill_the_rest(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_sigterm_never_leaves_the_node_waiting():
    # rclpy wakes the executor before it shuts the context down; a SIGTERM between the two
    # left spin() waiting forever (1 trial in about 5). Several nodes, several chances.
    namespaces = [f'/term{os.getpid()}_{i}' for i in range(6)]
    processes = [start_node('-r', f'__ns:={ns}', '-p', 'caption_period:=0.0')
                 for ns in namespaces]
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('sigterm_tester', context=context)
    try:
        clients = [node.create_client(DescribeScene, f'{ns}/describe_scene')
                   for ns in namespaces]
        wait_for(lambda: all(c.wait_for_service(timeout_sec=0.1) for c in clients), 30.0,
                 'every node to serve describe_scene')
        for process in processes:
            process.send_signal(signal.SIGTERM)
        outputs = outputs_within(processes, 10.0)
    finally:
        kill_the_rest(processes)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert [p.returncode for p in processes] == [0] * len(processes), outputs
    assert not any('Traceback' in output for output in outputs), outputs


def test_sigterm_while_the_node_starts_is_a_clean_stop():
    # A signal makes rclpy shut its context down at once: the entities VlmNode creates after
    # that fail to be created. That is a stop, not an error: exit 0 and no traceback. Each
    # node is signalled as soon as its parameter services are on the graph, which
    # Node.__init__ creates before VlmNode's own entities.
    namespaces = [f'/early{os.getpid()}_{i}' for i in range(6)]
    processes = dict(zip(namespaces, (start_node('-r', f'__ns:={ns}', '-p',
                                                 'caption_period:=0.0')
                                      for ns in namespaces), strict=True))
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('early_sigterm_tester', context=context)
    outputs: list[str] = []
    try:
        waiting = dict(processes)
        deadline = time.monotonic() + 30.0
        while waiting and time.monotonic() < deadline:
            services = {name for name, _ in node.get_service_names_and_types()}
            for ns in [ns for ns in waiting if f'{ns}/vlm_node/list_parameters' in services]:
                waiting.pop(ns).send_signal(signal.SIGTERM)
            time.sleep(0.005)
        assert not waiting, f'no parameter services on the graph from {sorted(waiting)}'
        outputs = outputs_within(list(processes.values()), 10.0)
    finally:
        kill_the_rest(list(processes.values()))
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    assert [p.returncode for p in processes.values()] == [0] * len(processes), outputs
    assert not any('Traceback' in output for output in outputs), outputs


# vlm_node's main(), with rclpy's context shut down from another thread just before the
# camera subscription is made, as rclpy's signal thread does when a SIGTERM lands there.
SHUT_DOWN_DURING_START_UP = """
import threading
import rclpy
from jetson_vlm_ros.ros import camera_input, vlm_node

subscribe = camera_input.CameraInput.subscribe


def shut_down_first(self):
    signal_thread = threading.Thread(target=rclpy.shutdown)
    signal_thread.start()
    signal_thread.join()
    subscribe(self)


camera_input.CameraInput.subscribe = shut_down_first
vlm_node.main()
"""


def test_context_shut_down_during_start_up_is_a_stop_not_a_traceback():
    process = start_node(code=SHUT_DOWN_DURING_START_UP)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    assert 'Traceback' not in output


# The console script's entry point, saying when it starts to import vlm_node.
ANNOUNCE_LOADING = """
import builtins
from jetson_vlm_ros.ros.node_entry import main
real_import = builtins.__import__


def announcing(name, *args, **kwargs):
    if name == 'jetson_vlm_ros.ros.vlm_node':
        print('loading vlm_node', flush=True)
    return real_import(name, *args, **kwargs)


builtins.__import__ = announcing
main()
"""


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_while_the_node_loads_its_modules_is_a_quiet_stop(signum):
    # The console script's entry point (setup.py), signalled once it starts importing
    # vlm_node: that import takes about 3 s here, and vlm_node.main() has not installed its
    # handlers yet.
    process = start_node(code=ANNOUNCE_LOADING)
    first_line = process.stdout.readline()
    assert first_line == 'loading vlm_node\n', first_line + process.communicate(timeout=30)[0]
    process.send_signal(signum)
    output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert 'Traceback' not in output
    assert 'describing' not in output  # it stopped while loading, not once it ran


def test_a_start_up_failure_is_logged_under_the_nodes_full_name():
    # Two nodes, one port: the second cannot start, and its FATAL line says which one it is.
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        namespace = f'front{os.getpid()}'
        process = start_node('-r', f'__ns:=/{namespace}', '-p', f'gateway_port:={port}')
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 2, output
    fatal = [line for line in output.splitlines() if line.startswith('[FATAL]')]
    assert len(fatal) == 1, output
    assert f'[{namespace}.vlm_node]: cannot start: gateway_port {port}' in fatal[0], fatal[0]
    assert 'Traceback' not in output
