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

"""The enable service: pause (camera unsubscribed, captions stopped, requests refused), resume."""

import os
import signal
import subprocess
import sys
import threading

from conftest import HAVE_ROS, make_image, requires_ros, solid, start_node, wait_for
import psutil

if HAVE_ROS:
    from action_msgs.msg import GoalStatus
    from diagnostic_msgs.msg import DiagnosticArray
    from jetson_vlm_interfaces.action import DescribeScene as DescribeSceneAction
    from jetson_vlm_interfaces.srv import DescribeScene
    from std_msgs.msg import String
    from std_srvs.srv import SetBool
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

pytestmark = requires_ros


def set_enabled(harness, value: bool):
    client = harness.tester.create_client(SetBool, 'enable')
    return harness.call(client, SetBool.Request(data=value))


# Frames `enabled` receives in the CPU window (8 s at 30 Hz on an idle machine).
WINDOW_FRAMES = 240
CAMERA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'camera_process.py')


def run_goal(harness):
    client = harness.action_client(DescribeSceneAction, 'describe_scene')
    wait_for(lambda: client.wait_for_server(timeout_sec=0.1), 10.0, 'the action server')
    sent = client.send_goal_async(DescribeSceneAction.Goal())
    handle = wait_for(lambda: sent.done() and sent.result(), 10.0, 'goal accepted')
    result = handle.get_result_async()
    wait_for(result.done, 10.0, 'the goal result')
    return result.result()


class DiagnosticsCount:
    """Counts the /diagnostics messages of one node: each is a tick of its own executor."""

    def __init__(self, node, namespace: str) -> None:
        self.count = 0
        self._name = f'{namespace}/vlm_node: camera'
        node.create_subscription(DiagnosticArray, '/diagnostics', self._on, 10)

    def _on(self, message) -> None:
        if any(status.name == self._name for status in message.status):
            self.count += 1


def test_disable_unsubscribes_stops_captions_refuses_requests_and_enable_restores(
        make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.2,
                           diagnostics_period=0.2)
    topic = f'{harness.namespace}/camera/image_raw'
    captions = []
    harness.tester.create_subscription(String, 'caption', captions.append, 10)
    ticks = DiagnosticsCount(harness.tester, harness.namespace)
    service = harness.tester.create_client(DescribeScene, 'describe_scene')
    frame = make_image(solid((255, 0, 0)))
    with harness.streaming(frame):
        wait_for(lambda: captions, 10.0, 'a caption while enabled')
        answer = set_enabled(harness, False)
        assert answer.success and answer.message == 'disabled'
        wait_for(lambda: harness.tester.count_subscribers(topic) == 0, 5.0,
                 'the camera subscription to go away')
        # A caption already running may still land: wait until it has.
        assert harness.node.executor.wait_for_offloaded(10.0)
        requests_before = len(server.requests)
        wait_for(lambda: len(captions) == requests_before, 5.0, 'the last caption')
        count = len(captions)
        refused = harness.call(service, DescribeScene.Request())
        assert not refused.success and 'vlm_node is disabled' in refused.error
        goal = run_goal(harness)
        assert goal.status == GoalStatus.STATUS_ABORTED
        assert 'vlm_node is disabled' in goal.result.error
        # Five diagnostics periods (as long as five caption periods) of the node's spinning.
        seen = ticks.count
        wait_for(lambda: ticks.count >= seen + 5, 10.0, 'five diagnostics periods')
        assert len(captions) == count, 'captions must stop while disabled'
        assert len(server.requests) == requests_before

        assert set_enabled(harness, True).message == 'enabled'
        wait_for(lambda: harness.tester.count_subscribers(topic) == 1, 5.0,
                 'the camera subscription to come back')
        wait_for(lambda: len(captions) > count, 10.0, 'captions to resume')
        assert harness.call(service, DescribeScene.Request()).success


def test_start_enabled_false_starts_paused(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0, start_enabled=False)
    topic = f'{harness.namespace}/camera/image_raw'
    service = harness.tester.create_client(DescribeScene, 'describe_scene')
    assert harness.tester.count_subscribers(topic) == 0
    refused = harness.call(service, DescribeScene.Request())
    assert 'vlm_node is disabled' in refused.error
    set_enabled(harness, True)
    with harness.streaming(make_image(solid((0, 255, 0)))):
        assert harness.call(service, DescribeScene.Request()).success


def _cpu_seconds(process: 'psutil.Process') -> float:
    # The ROS wheels' bootstrapper may re-run the interpreter: count children as well.
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        try:
            times = each.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def test_disabled_node_costs_no_cpu_for_a_1080p30_camera(server):
    """
    Three vlm_node processes while a 1080p 30 Hz camera process publishes.

    `disabled` is on the camera topic with start_enabled false; `silent` is enabled on a
    topic nobody publishes (a node with no camera traffic); `enabled` is on the camera topic
    and shows what the frames cost. CPU is compared between them over one window of
    WINDOW_FRAMES frames received by `enabled` (from its /diagnostics), so a busy machine
    that delivers fewer frames per second changes the window's length, not the comparison.
    """
    base = f'/cpu{os.getpid()}'
    topic = f'{base}/camera/image_raw'
    common = ['-p', f'base_url:={server.base_url}', '-p', 'caption_period:=0.0',
              '-p', 'warm_up:=false', '-p', 'diagnostics_period:=0.5']
    nodes = {
        'disabled': start_node('-r', f'__ns:={base}/disabled', '-r', f'image:={topic}',
                               '-p', 'start_enabled:=false', *common, stdout=subprocess.DEVNULL),
        'silent': start_node('-r', f'__ns:={base}/silent', '-r', f'image:={base}/nothing',
                             *common, stdout=subprocess.DEVNULL),
        'enabled': start_node('-r', f'__ns:={base}/enabled', '-r', f'image:={topic}',
                              *common, stdout=subprocess.DEVNULL),
    }
    camera = subprocess.Popen(
        [sys.executable, CAMERA, '--topic', topic, '--rate', '30', '--seconds', '300'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    processes = {name: psutil.Process(p.pid) for name, p in nodes.items()}
    # (frames `enabled` had received, CPU seconds of each node), at each of its reports.
    samples: list[tuple[int, dict[str, float]]] = []
    enabled_camera = f'{base}/enabled/vlm_node: camera'

    def on_diagnostics(message: 'DiagnosticArray') -> None:
        for status in message.status:
            if status.name == enabled_camera:
                values = {kv.key: kv.value for kv in status.values}
                frames = int(values['frames received'])
                samples.append((frames, {n: _cpu_seconds(p) for n, p in processes.items()}))

    context = rclpy.Context()
    rclpy.init(context=context)
    watcher = Node('cpu_watcher', namespace=base, context=context)
    watcher.create_subscription(DiagnosticArray, '/diagnostics', on_diagnostics, 10)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(watcher)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    try:
        # Start-up, discovery, and the camera matching `enabled`: frames arriving.
        wait_for(lambda: samples and samples[-1][0] >= 30, 90.0,
                 '`enabled` to receive camera frames')
        assert camera.poll() is None, camera.communicate()[0]
        first = samples[-1]
        wait_for(lambda: samples[-1][0] >= first[0] + WINDOW_FRAMES, 120.0,
                 f'{WINDOW_FRAMES} more frames at `enabled`')
        last = samples[-1]
    finally:
        executor.shutdown()
        watcher.destroy_node()
        rclpy.try_shutdown(context=context)
        spinner.join(5.0)
        for process in [camera, *nodes.values()]:
            process.send_signal(signal.SIGINT)
        for process in [camera, *nodes.values()]:
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    frames = last[0] - first[0]
    used = {name: last[1][name] - first[1][name] for name in nodes}
    per_frame = (used['enabled'] - used['silent']) / frames
    disabled_extra = used['disabled'] - used['silent']
    print(f'CPU seconds over {frames} frames of a 1080p30 camera: ' +
          ', '.join(f'{name} {value:.2f}' for name, value in used.items()) +
          f'; per frame received {per_frame * 1e3:.2f} ms')
    # The control: receiving a 1080p frame costs clearly more than no traffic (else the
    # camera did not reach the nodes and the comparison below would prove nothing).
    assert per_frame > 0.001, used
    # A subscription left in place costs about what `enabled` pays for the same frames
    # (the camera sends them to every subscriber): the disabled node must stay far below.
    assert disabled_extra < 0.4 * per_frame * frames, used
