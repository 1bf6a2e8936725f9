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

"""The `describe` command as users run it: a separate process talking to a real vlm_node."""

import os
import signal
import subprocess
import sys
import time

from conftest import make_image, requires_ros, solid, wait_for
import pytest

pytestmark = requires_ros

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_describe(*arguments: str) -> subprocess.Popen:
    env = dict(os.environ)
    env['PYTHONPATH'] = PACKAGE_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return subprocess.Popen(
        [sys.executable, '-m', 'jetson_vlm_ros.tools.describe_command', *arguments],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_prints_the_streamed_answer_and_exits_0(make_harness, server):
    server.state.answer_text = 'The door is open.'
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    with harness.streaming(make_image(solid((255, 0, 0)))):
        process = start_describe('--namespace', harness.namespace, 'Is the door open?')
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert out == 'The door is open.\n'
    assert server.requests[-1].prompt == 'Is the door open?'
    assert 'Traceback' not in err


def test_an_error_answer_exits_1_with_the_error(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    process = start_describe('-n', harness.namespace)  # no camera frame yet
    out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert out == ''
    assert "describe: no image received yet on '" in err
    assert 'Traceback' not in err


def test_no_action_server_exits_2():
    process = start_describe('-n', f'/nobody{os.getpid()}', '--server-timeout', '1')
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert 'is vlm_node running' in err


def test_timeout_cancels_the_goal_and_exits_3(make_harness, server):
    server.state.answer_text = ' '.join(['slow'] * 100)
    server.state.chunk_delay = 0.5
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    with harness.streaming(make_image(solid((255, 0, 0)))):
        process = start_describe('-n', harness.namespace, '--timeout', '3')
        out, err = process.communicate(timeout=30)
        wait_for(lambda: server.streams and server.streams[-1].ended, 5.0, 'the stream to end')
    assert process.returncode == 3, err
    assert out.startswith('slow slow')
    assert '--timeout' in err
    assert server.streams[-1].how == 'client closed'


def test_ctrl_c_cancels_the_goal(make_harness, server):
    server.state.answer_text = ' '.join(['slow'] * 100)
    server.state.chunk_delay = 0.5
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    with harness.streaming(make_image(solid((255, 0, 0)))):
        process = start_describe('-n', harness.namespace)
        wait_for(lambda: server.streams and len(server.streams[-1].chunk_times) >= 2, 20.0,
                 'the answer to start streaming')
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = process.communicate(timeout=30)
        wait_for(lambda: server.streams[-1].ended, 5.0, 'the stream to end')
    assert process.returncode == 130, err
    assert 'describe: canceled' in err
    assert 'Traceback' not in err
    assert out.startswith('slow')
    assert server.streams[-1].how == 'client closed'
    assert server.streams[-1].ended - started < 2.0


def test_ctrl_c_is_raised_between_spins_and_a_second_one_ends_the_wait():
    # The handler only counts; _spin_until raises at a point where no rclpy callback runs.
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.task import Future
    from jetson_vlm_ros.tools import describe_command
    from jetson_vlm_ros.tools.describe_command import _spin_until, CTRL_C
    context = rclpy.Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    never = Future()
    before = CTRL_C.count
    try:
        CTRL_C.handle(signal.SIGINT, None)  # no exception from the handler itself
        with pytest.raises(KeyboardInterrupt):
            _spin_until(executor, never, time.monotonic() + 5.0)
        # While cancelling, the Ctrl-C that asked for it is tolerated, a second one is not.
        assert not _spin_until(executor, never, time.monotonic() + 0.2, tolerated=CTRL_C.count)
        CTRL_C.handle(signal.SIGINT, None)
        with pytest.raises(KeyboardInterrupt):
            _spin_until(executor, never, time.monotonic() + 5.0, tolerated=CTRL_C.count - 1)
    finally:
        describe_command.CTRL_C.count = before
        executor.shutdown()
        rclpy.try_shutdown(context=context)


def test_stream_printer_prints_only_what_is_new():
    import io
    from jetson_vlm_ros.tools.describe_command import StreamPrinter
    out = io.StringIO()
    printer = StreamPrinter(out)
    for text in ['The ', 'The door ', 'The door ', 'The door is open.']:
        printer.show(text)
    assert out.getvalue() == 'The door is open.'
    printer.show('Rewritten.')  # no longer a continuation: start a new line
    printer.finish('Rewritten. Done.')
    assert out.getvalue() == 'The door is open.\nRewritten. Done.\n'


def test_options_fill_the_goal_fields():
    from jetson_vlm_ros.tools.describe_command import goal_from, parse_arguments
    goal = goal_from(parse_arguments(
        ['Which way?', '-f', '4', '-i', '0.5', '--format', 'json']))
    assert (goal.prompt, goal.num_frames, goal.frame_interval, goal.response_format) == \
        ('Which way?', 4, 0.5, 'json')
    plain = goal_from(parse_arguments(['Door?']))
    assert (plain.num_frames, plain.frame_interval, plain.response_format) == (0, 0.0, '')


def test_camera_option_repeats_into_the_goal_cameras():
    from jetson_vlm_ros.tools.describe_command import goal_from, parse_arguments
    goal = goal_from(parse_arguments(['Anyone behind?', '--camera', 'rear', '-c', 'left']))
    assert list(goal.cameras) == ['rear', 'left']
    assert list(goal_from(parse_arguments(['Door?'])).cameras) == []
