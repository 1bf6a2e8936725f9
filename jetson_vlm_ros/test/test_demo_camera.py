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

"""demo_camera as users run it: its own process, its --help, its frames in another process."""

import os
import signal
import subprocess
import sys
import threading

from conftest import HAVE_ROS, PACKAGE_ROOT, requires_ros, wait_for
import pytest

if HAVE_ROS:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

PROFILE_VARIABLES = ('FASTDDS_DEFAULT_PROFILES_FILE', 'FASTRTPS_DEFAULT_PROFILES_FILE')


def start_camera(*args: str) -> subprocess.Popen:
    """Start demo_camera from the source tree, with no Fast DDS profile in its environment."""
    env = {k: v for k, v in os.environ.items() if k not in PROFILE_VARIABLES}
    env['PYTHONPATH'] = PACKAGE_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return subprocess.Popen([sys.executable, '-m', 'jetson_vlm_ros.tools.demo_camera', *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


@requires_ros  # demo_camera is a ROS program: its module imports rclpy
@pytest.mark.parametrize('flag', ['--help', '-h'])
def test_help_lists_the_parameters_and_exits(flag):
    camera = start_camera(flag)
    output, _ = camera.communicate(timeout=30)
    assert camera.returncode == 0, output
    for line in ('width (int, default 640): frame width in pixels',
                 'height (int, default 480): frame height in pixels',
                 'rate (float, default 10.0): frames per second',
                 "frame_id (str, default 'camera')"):
        assert line in output, output
    assert 'publishing' not in output  # it did not start


@requires_ros
@pytest.mark.parametrize('value, problem', [
    ('rate:=0.0', 'rate must be a number of frames per second'),
    ('rate:=fast', 'rate must be a number of frames per second'),
    ('width:=-1', 'width must be a whole number of pixels'),
    ('height:=1.5', 'height must be a whole number of pixels'),
])
def test_a_bad_parameter_stops_it_with_one_clear_line(value, problem):
    camera = start_camera('--ros-args', '-p', value)
    output, _ = camera.communicate(timeout=30)
    assert camera.returncode == 2, output
    assert problem in output, output
    assert 'Traceback' not in output and 'publishing' not in output, output


@requires_ros
def test_an_integer_rate_is_a_rate():
    # `-p rate:=10` is an integer to ROS; it used to stop the camera with
    # InvalidParameterTypeException (expecting DOUBLE).
    camera = start_camera('--ros-args', '-p', 'rate:=10')
    guard = threading.Timer(30.0, camera.kill)  # never hang on a camera that says nothing
    guard.start()
    try:
        seen = ''
        for line in camera.stdout:  # ends when the camera exits
            seen += line
            if 'publishing' in line:
                break
        assert 'rgb8 at 10 Hz' in seen, seen
    finally:
        guard.cancel()
        camera.send_signal(signal.SIGINT)
        camera.communicate(timeout=30)
    assert camera.returncode == 0


@requires_ros
def test_frames_reach_another_process_at_the_camera_rate():
    # 640x480 rgb8 at 10 Hz, the demo's own stream: with stock Fast DDS 66-73% of the frames
    # arrived here, so the camera loads the package's profile when none is set.
    namespace = f'/democam{os.getpid()}'
    camera = start_camera('--ros-args', '-r', f'image:={namespace}/image')
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('demo_camera_counter', context=context)
    stamps: list[float] = []
    node.create_subscription(
        Image, f'{namespace}/image',
        lambda msg: stamps.append(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9),
        qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        # 40 frame periods of the camera's own clock, as its stamps tell.
        wait_for(lambda: executor.spin_once(timeout_sec=0.05) or
                 (len(stamps) > 1 and stamps[-1] - stamps[0] >= 4.0),
                 60.0, '4 s of frames from demo_camera')
    finally:
        camera.send_signal(signal.SIGINT)
        output = camera.communicate(timeout=15)[0]
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    sent = round((stamps[-1] - stamps[0]) / 0.1) + 1  # one frame per 0.1 s tick in between
    assert len(stamps) >= 0.9 * sent, f'{len(stamps)} of {sent} frames arrived\n{output}'
    assert 'Fast DDS profile:' in output and 'fastdds_large_frames.xml' in output, output
    assert camera.returncode == 0, output
    assert 'Traceback' not in output, output
