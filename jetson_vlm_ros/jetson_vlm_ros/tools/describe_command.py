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
describe: ask vlm_node about the camera from a shell, the answer printed as it streams.

    describe "Is the door open?"                   # the node in the root namespace
    describe --namespace /robot1 --timeout 20 "What is on the table?"
    ros2 run jetson_vlm_ros describe "Is the door open?"

Sends a goal to the describe_scene action and prints the feedback as it grows. Ctrl-C
cancels the goal (the node stops the model at once). Exit status: 0 answered, 1 the node
answered with an error, 2 no action server, 3 timed out, 130 interrupted.
"""

import argparse
import os
import signal
import sys
import time
from typing import Any, Optional

from jetson_vlm_interfaces.action import DescribeScene
import rclpy
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.task import Future

EXIT_OK, EXIT_FAILED, EXIT_NO_SERVER, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# How long to wait for the server to confirm a cancel before leaving anyway.
CANCEL_WAIT = 3.0


class CtrlC:
    """
    Counts SIGINTs; _spin_until turns them into KeyboardInterrupt between two spins.

    Python's own handler raises KeyboardInterrupt wherever the main thread is, e.g. inside
    rclpy's executor while it hands the goal's response to its future: the response can be
    lost, the goal handle never known, and the goal then not cancelled.
    """

    def __init__(self) -> None:
        self.count = 0

    def handle(self, signum: int, frame: Any) -> None:
        """Count one Ctrl-C (the signal handler; raises nothing)."""
        self.count += 1


CTRL_C = CtrlC()


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    """Parse the command line (ROS arguments already removed)."""
    parser = argparse.ArgumentParser(
        prog='describe', description='Ask vlm_node what the camera sees; the answer streams.')
    parser.add_argument('prompt', nargs='?', default='',
                        help="question about the image (default: the node's prompt parameter)")
    parser.add_argument('-n', '--namespace', default='',
                        help='namespace of the vlm_node to ask (default: root)')
    parser.add_argument('-a', '--action', default='describe_scene',
                        help='action name, relative to the namespace (default: describe_scene)')
    parser.add_argument('-t', '--timeout', type=float, default=60.0,
                        help='seconds to wait for the whole answer (default: 60); the goal is '
                             'cancelled after that')
    parser.add_argument('--server-timeout', type=float, default=10.0,
                        help='seconds to wait for the action server to appear (default: 10)')
    parser.add_argument('-f', '--frames', type=int, default=0,
                        help='describe this many recent camera frames in one request, oldest '
                             'first (default: the latest frame only)')
    parser.add_argument('-i', '--interval', type=float, default=0.0,
                        help='seconds between those frames (default: spread over the history)')
    parser.add_argument('--format', default='', dest='response_format',
                        help="'json' for a JSON answer, or a JSON Schema the answer must match")
    parser.add_argument('-c', '--camera', action='append', default=[], dest='cameras',
                        metavar='NAME',
                        help='ask about this named camera (repeat for several, in one model '
                             "call; 'all': every camera; default: the node's default camera)")
    arguments = parser.parse_args(argv)
    if arguments.timeout <= 0 or arguments.server_timeout <= 0:
        parser.error('timeouts must be positive')
    if arguments.frames < 0 or arguments.interval < 0:
        parser.error('--frames and --interval must not be negative')
    return arguments


def goal_from(arguments: argparse.Namespace) -> 'DescribeScene.Goal':
    """Build the action goal the command line asks for."""
    return DescribeScene.Goal(
        prompt=arguments.prompt, num_frames=arguments.frames,
        frame_interval=arguments.interval, response_format=arguments.response_format,
        cameras=arguments.cameras)


class StreamPrinter:
    """Prints only what is new in each feedback text, so the answer reads as it grows."""

    def __init__(self, out: Any = sys.stdout) -> None:
        self.printed = ''
        self._out = out

    def show(self, text: str) -> None:
        """Print the part of text not printed yet (all of it if it no longer matches)."""
        if text.startswith(self.printed):
            new = text[len(self.printed):]
        else:
            new = '\n' + text
        if new:
            self._out.write(new)
            self._out.flush()
        self.printed = text

    def finish(self, answer: str) -> None:
        """Make sure the whole answer ends up on the screen, then end the line."""
        self.show(answer)
        self._out.write('\n')
        self._out.flush()


def _spin_until(executor: SingleThreadedExecutor, future: Future, deadline: float,
                tolerated: int = 0) -> bool:
    """Spin until future is done (True) or deadline (False); a Ctrl-C beyond tolerated raises."""
    while not future.done():
        if CTRL_C.count > tolerated:
            raise KeyboardInterrupt
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        executor.spin_once(timeout_sec=min(left, 0.1))
    return True


def run(arguments: argparse.Namespace, node: Node, executor: SingleThreadedExecutor) -> int:
    """Send one goal and print its answer; return the exit status."""
    name = node.resolve_topic_name(arguments.action) if not arguments.namespace else \
        f"{arguments.namespace.rstrip('/')}/{arguments.action}"
    client = ActionClient(node, DescribeScene, name)
    if not _wait_for_server(client, arguments.server_timeout):
        print(f"describe: no '{name}' action server after {arguments.server_timeout:g} s; "
              f'is vlm_node running (in that namespace)?', file=sys.stderr)
        return EXIT_NO_SERVER
    printer = StreamPrinter()
    deadline = time.monotonic() + arguments.timeout
    sent = client.send_goal_async(
        goal_from(arguments),
        feedback_callback=lambda message: printer.show(message.feedback.text))
    goal_handle: Optional[Any] = None
    try:
        if not _spin_until(executor, sent, deadline):
            print(f"describe: '{name}' did not accept the goal within "
                  f'{arguments.timeout:g} s', file=sys.stderr)
            return EXIT_TIMEOUT
        goal_handle = sent.result()
        if not goal_handle.accepted:
            print(f"describe: '{name}' rejected the goal", file=sys.stderr)
            return EXIT_FAILED
        result_future = goal_handle.get_result_async()
        if not _spin_until(executor, result_future, deadline):
            _cancel(executor, goal_handle)
            if printer.printed:
                print()
            print(f'describe: no answer within {arguments.timeout:g} s (--timeout); '
                  f'goal cancelled', file=sys.stderr)
            return EXIT_TIMEOUT
    except KeyboardInterrupt:
        if goal_handle is None:
            # Ctrl-C before this side heard the goal accepted: the node may be running it
            # already, so learn its handle (briefly) to cancel it rather than leave it running.
            goal_handle = _accepted_goal(executor, sent)
        if goal_handle is not None:
            _cancel(executor, goal_handle)
        if printer.printed:
            print()
        print('describe: canceled', file=sys.stderr)
        return EXIT_INTERRUPTED
    result = result_future.result().result
    if result.success:
        printer.finish(result.description)
        return EXIT_OK
    if printer.printed:
        print()
    print(f'describe: {result.error}', file=sys.stderr)
    return EXIT_FAILED


def _wait_for_server(client: ActionClient, timeout: float) -> bool:
    # As ActionClient.wait_for_server, which a Ctrl-C could not end (CtrlC only counts).
    deadline = time.monotonic() + timeout
    while not client.server_is_ready():
        if CTRL_C.count:
            raise KeyboardInterrupt
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _accepted_goal(executor: SingleThreadedExecutor, sent: Future) -> Optional[Any]:
    try:
        _spin_until(executor, sent, time.monotonic() + CANCEL_WAIT, tolerated=CTRL_C.count)
    except KeyboardInterrupt:
        return None  # a second Ctrl-C: leave at once
    if not sent.done() or sent.result() is None or not sent.result().accepted:
        return None
    return sent.result()


def _cancel(executor: SingleThreadedExecutor, goal_handle: Any) -> None:
    try:
        _spin_until(executor, goal_handle.cancel_goal_async(),
                    time.monotonic() + CANCEL_WAIT, tolerated=CTRL_C.count)
    except KeyboardInterrupt:
        pass  # a second Ctrl-C: leave without waiting for the confirmation


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of the `describe` console script."""
    argv = sys.argv if args is None else args
    arguments = parse_arguments(rclpy.utilities.remove_ros_args(argv)[1:])
    # rclpy's own SIGINT handler would shut the context down before the cancel is sent:
    # count Ctrl-C instead (CtrlC), and cancel the goal then.
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    # Also where SIGINT came ignored (a background job of a script): `kill -INT` cancels.
    signal.signal(signal.SIGINT, CTRL_C.handle)
    node = Node(f'describe_{os.getpid()}')
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    status = EXIT_FAILED
    try:
        status = run(arguments, node, executor)
    except KeyboardInterrupt:
        status = EXIT_INTERRUPTED
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    sys.exit(status)


if __name__ == '__main__':
    main()
