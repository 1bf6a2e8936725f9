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
A describe_scene goal running when vlm_node is stopped gets its answer, as a service call does.

vlm_node runs as users run it (the console script's entry point, its own process and session)
and is stopped the three ways it is stopped in practice: Ctrl-C in a terminal (a real pty, so
the terminal driver signals the foreground process group), `ros2 launch` without a terminal
(SIGINT to the process group, then launch's own SIGINT to the node), and SIGTERM. The goal's
client is an rclpy ActionClient in this process, over real DDS.
"""

import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Optional

from conftest import HAVE_ROS, make_image, requires_ros, solid, start_node, wait_for
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from action_msgs.msg import GoalStatus
    from jetson_vlm_interfaces.action import DescribeScene
    import rclpy
    from rclpy.action import ActionClient
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

pytestmark = requires_ros

LONG_ANSWER = ' '.join(f'word{i}' for i in range(200))
SHUTTING_DOWN = 'vlm_node is shutting down'
# The console script's entry point. With a terminal: as a session leader (start_new_session),
# opening the terminal makes it the process's controlling terminal, so that the terminal's
# Ctrl-C reaches its process group as an interactive shell's foreground job gets it.
ENTRY = 'from jetson_vlm_ros.ros.node_entry import main; main()'
ENTRY_ON_TERMINAL = ('import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); '
                     + ENTRY)


class Terminal:
    """A pseudo-terminal whose other end is the node's stdin, stdout and stderr."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self._output = bytearray()
        self._reader = threading.Thread(target=self._read, daemon=True)

    def start_reading(self) -> None:
        """Close this process's copy of the node's end and collect what the node writes."""
        os.close(self.slave)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO: every process on the other end has closed it
                return
            if not data:
                return
            self._output.extend(data)

    def press_ctrl_c(self) -> None:
        """Type Ctrl-C: the terminal sends SIGINT to its foreground process group."""
        os.write(self.master, b'\x03')

    def output(self) -> str:
        """Return what the node wrote, once it exited."""
        self._reader.join(timeout=10)
        os.close(self.master)
        return self._output.decode(errors='replace')


class NodeWithGoal:
    """vlm_node in its own process and session, with one describe_scene goal at the server."""

    def __init__(self, server: FakeVlmServer, terminal: Optional[Terminal]) -> None:
        self.namespace = f'/goalstop{os.getpid()}_{time.monotonic_ns()}'
        self.terminal = terminal
        ros_args = ('-r', f'__ns:={self.namespace}', '-p', f'base_url:={server.base_url}',
                    '-p', 'caption_period:=0.0', '-p', 'request_timeout:=60.0')
        if terminal is None:
            self.process = start_node(*ros_args, code=ENTRY, start_new_session=True)
        else:
            self.process = start_node(*ros_args, code=ENTRY_ON_TERMINAL, stdin=terminal.slave,
                                      stdout=terminal.slave, start_new_session=True)
            terminal.start_reading()
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node('goal_stop_tester', namespace=self.namespace, context=self.context)
        self.publisher = self.node.create_publisher(Image, 'image', qos_profile_sensor_data)
        # Made before spinning starts: rclpy's ActionClient is not complete when it adds itself.
        self.client = ActionClient(self.node, DescribeScene, 'describe_scene')
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self.executor.spin, daemon=True)
        self._spinner.start()
        self.feedback: list[str] = []
        self.result: Any = None
        self._output: Optional[str] = None

    def send_goal_until(self, running: Callable[[], bool]) -> None:
        """Publish a frame and send goals until one is running (not 'no image received')."""
        wait_for(lambda: self.client.wait_for_server(timeout_sec=0.1), 30.0,
                 'the describe_scene action of the node process')
        msg = make_image(solid((255, 0, 0)), stamp_sec=7)
        sent: list[Any] = []

        def goal_running() -> bool:
            self.publisher.publish(msg)
            if not sent or (self.result is not None and 'no image' in self.result.result.error):
                self.result = None
                sent.append(self.client.send_goal_async(
                    DescribeScene.Goal(), feedback_callback=self._on_feedback))
                sent[-1].add_done_callback(self._on_accepted)
            return running()
        wait_for(goal_running, 30.0, 'a goal running at the server')

    def _on_feedback(self, message: Any) -> None:
        self.feedback.append(message.feedback.text)

    def _on_accepted(self, future: Any) -> None:
        future.result().get_result_async().add_done_callback(self._on_result)

    def _on_result(self, future: Any) -> None:
        self.result = future.result()

    def wait_for_result(self) -> Any:
        """Return the goal's result (status and result) once it arrived."""
        deadline = time.monotonic() + 15.0
        while self.result is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if self.result is None:
            output = self.output()
            pytest.fail(f'no result for the goal running at stop; the node exited with '
                        f'{self.process.returncode} and wrote:\n{output}')
        return self.result

    def output(self) -> str:
        """Return the node's output once it exited."""
        if self._output is None:
            if self.terminal is None:
                self._output = self.process.communicate(timeout=15)[0]
            else:
                self.process.wait(timeout=15)
                self._output = self.terminal.output()
        return self._output

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.output()
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._spinner.join(timeout=5.0)


def ctrl_c_in_a_terminal(running: NodeWithGoal) -> None:
    running.terminal.press_ctrl_c()


def ctrl_c_under_ros2_launch(running: NodeWithGoal) -> None:
    # Non-interactive `ros2 launch`: its process group gets SIGINT, then launch sends the
    # node a SIGINT of its own shortly after, while the node is cleaning up.
    os.killpg(running.process.pid, signal.SIGINT)
    time.sleep(0.05)  # the gap between the two signals: part of the scenario, not a wait
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)


def sigterm(running: NodeWithGoal) -> None:
    running.process.send_signal(signal.SIGTERM)


STOPS = {'ctrl_c_in_a_terminal': ctrl_c_in_a_terminal,
         'ctrl_c_under_ros2_launch': ctrl_c_under_ros2_launch,
         'sigterm': sigterm}


@pytest.fixture
def node_with_goal(request):
    servers: list[FakeVlmServer] = []
    nodes: list[NodeWithGoal] = []

    def start(behaviour: str, stop: str) -> tuple[FakeVlmServer, NodeWithGoal]:
        server = FakeVlmServer().start()
        servers.append(server)
        if behaviour == 'stream':
            # 200 words 0.3 s apart: still streaming when the node is stopped.
            server.state.answer_text = LONG_ANSWER
            server.state.chunk_delay = 0.3
        else:
            server.state.behaviour = behaviour
        nodes.append(NodeWithGoal(server, Terminal() if stop == 'ctrl_c_in_a_terminal'
                                  else None))
        return server, nodes[-1]

    yield start
    for running in nodes:
        running.close()
    for server in servers:
        server.stop()


def assert_quiet_exit(running: NodeWithGoal) -> None:
    output = running.output()
    assert running.process.returncode == 0, output
    assert 'Traceback' not in output, output
    assert 'Error raised in execute callback' not in output, output
    assert 'KeyboardInterrupt' not in output, output


@pytest.mark.parametrize('stop', STOPS)
def test_a_goal_streaming_at_stop_is_aborted_with_the_text_so_far(node_with_goal, stop):
    server, running = node_with_goal('stream', stop)
    running.send_goal_until(lambda: len(running.feedback) >= 2)
    seen = running.feedback[-1]
    STOPS[stop](running)
    response = running.wait_for_result()
    assert_quiet_exit(running)
    assert response.status == GoalStatus.STATUS_ABORTED, response
    result = response.result
    assert not result.success
    assert result.error == SHUTTING_DOWN
    # The text streamed so far: at least what this client saw before the stop, and no
    # more than the server sent.
    assert result.description.startswith(seen), (result.description, seen)
    assert LONG_ANSWER.startswith(result.description)
    assert len(result.description) < len(LONG_ANSWER)
    assert [stamp.sec for stamp in result.image_stamps] == [7]
    assert result.latency > 0


@pytest.mark.parametrize('stop', STOPS)
def test_a_goal_waiting_on_a_hanging_server_at_stop_is_aborted(node_with_goal, stop):
    server, running = node_with_goal('hang', stop)
    running.send_goal_until(lambda: server.in_flight > 0)
    STOPS[stop](running)
    response = running.wait_for_result()
    assert_quiet_exit(running)
    assert response.status == GoalStatus.STATUS_ABORTED, response
    assert not response.result.success
    assert response.result.error == SHUTTING_DOWN
    assert response.result.description == ''
    assert running.feedback == []


def test_terminal_ctrl_c_reaches_the_node_as_sigint_of_its_group():
    # The test's terminal is real: Ctrl-C typed into it stops a plain process in it.
    terminal = Terminal()
    process = subprocess.Popen(
        # SIGINT as a shell's foreground job has it (it may come ignored from the test run).
        ['python3', '-c', 'import os, signal, time; os.close(os.open(os.ttyname(0), os.O_RDWR)); '
                          'signal.signal(signal.SIGINT, signal.default_int_handler); '
                          'print("ready", flush=True); time.sleep(60)'],
        stdin=terminal.slave, stdout=terminal.slave, stderr=terminal.slave,
        start_new_session=True)
    terminal.start_reading()
    try:
        wait_for(lambda: b'ready' in terminal._output, 20.0, 'the process in the terminal')
        terminal.press_ctrl_c()
        assert process.wait(timeout=10) != 0
        assert 'KeyboardInterrupt' in terminal.output()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
