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
import signal
import subprocess
import sys
import time

from conftest import HAVE_ROS, make_image, solid, wait_for
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    import rclpy
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from jetson_vlm_interfaces.srv import DescribeScene

pytestmark = pytest.mark.skipif(
    not HAVE_ROS, reason='rclpy / jetson_vlm_interfaces not importable: build with colcon '
                         'and source install/setup.bash')

PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_node(*ros_args: str) -> subprocess.Popen:
    env = dict(os.environ)
    env['PYTHONPATH'] = PACKAGE_ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return subprocess.Popen(
        [sys.executable, '-m', 'jetson_vlm_ros.vlm_node', '--ros-args', *ros_args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


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


def test_ctrl_c_with_a_request_in_flight_exits_cleanly():
    namespace = f'/sigint{os.getpid()}'
    with FakeVlmServer() as server:
        server.state.behaviour = 'hang'
        process = start_node(
            '-r', f'__ns:={namespace}', '-p', f'base_url:={server.base_url}',
            '-p', 'caption_period:=0.0', '-p', 'request_timeout:=60.0')
        context = rclpy.Context()
        rclpy.init(context=context)
        node = Node('sigint_tester', namespace=namespace, context=context)
        try:
            publisher = node.create_publisher(Image, 'image', qos_profile_sensor_data)
            client = node.create_client(DescribeScene, 'describe_scene')
            executor = rclpy.executors.SingleThreadedExecutor(context=context)
            executor.add_node(node)
            wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 20.0, 'describe_scene')
            msg = make_image(solid((255, 0, 0)), stamp_sec=1)

            calls = []

            def request_reached_server() -> bool:
                publisher.publish(msg)
                # Until the frame has crossed over, a call is answered 'no image received
                # yet' at once: ask again until one hangs at the server.
                if not calls or calls[-1].done():
                    calls.append(client.call_async(DescribeScene.Request()))
                executor.spin_once(timeout_sec=0.05)
                return server.in_flight > 0
            wait_for(request_reached_server, 20.0, 'a request hanging at the server')
        finally:
            node.destroy_node()
            rclpy.try_shutdown(context=context)
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=15)
        assert time.monotonic() - started < 10
    assert 'Traceback' not in output, output
    assert process.returncode == 0, output
