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

"""/diagnostics from a real vlm_node: levels that follow the server and the camera."""

import os
import threading

from conftest import HAVE_ROS, make_image, publishing, requires_ros, solid, wait_for
from fake_vlm_server import FakeVlmServer, ServerState

if HAVE_ROS:
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

pytestmark = requires_ros

OK, WARN, ERROR = b'\x00', b'\x01', b'\x02'


class Monitor:
    """Keeps the latest DiagnosticStatus of each name this node publishes."""

    def __init__(self, harness) -> None:
        self.prefix = f'{harness.namespace}/vlm_node: '
        self.latest: dict = {}
        self._lock = threading.Lock()
        harness.tester.create_subscription(DiagnosticArray, '/diagnostics', self._on, 10)

    def _on(self, message) -> None:
        with self._lock:
            for status in message.status:
                if status.name.startswith(self.prefix):
                    self.latest[status.name[len(self.prefix):]] = status

    def level(self, name: str):
        with self._lock:
            status = self.latest.get(name)
        return None if status is None else status.level

    def wait_level(self, name: str, level, timeout: float, saying: str = '') -> 'DiagnosticStatus':
        wait_for(lambda: self.level(name) == level and saying in self.latest[name].message,
                 timeout, f"'{name}' at level {level!r} saying {saying!r} "
                          f'(now {self.latest.get(name)})')
        return self.latest[name]


def test_vlm_server_status_goes_ok_error_ok_when_the_server_stops_and_restarts(make_harness):
    server = FakeVlmServer().start()
    port = server.port
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           diagnostics_period=0.25)
    monitor = Monitor(harness)
    try:
        # OK 'not checked yet' comes first: wait for the first check's answer.
        ok = monitor.wait_level('vlm server', OK, 10.0, saying="model 'gemma3:4b' available")
        assert ok.hardware_id == server.base_url
        assert {'requests', 'camera'} <= set(monitor.latest)
        server.stop()
        down = monitor.wait_level('vlm server', ERROR, 10.0)
        assert 'ollama serve' in down.message
        server = FakeVlmServer(port).start()
        monitor.wait_level('vlm server', OK, 10.0)
        server.state.models = ['llava:7b']
        missing = monitor.wait_level('vlm server', ERROR, 10.0)
        assert '`ollama pull gemma3:4b`' in missing.message
    finally:
        server.stop()


def values_of(status: 'DiagnosticStatus') -> dict[str, str]:
    return {pair.key: pair.value for pair in status.values}


def test_models_listed_by_an_earlier_check_are_not_shown_while_the_server_is_down(
        make_harness):
    server = FakeVlmServer().start()
    server.state.models = ['gemma3:4b', 'llava:7b']
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           diagnostics_period=0.25)
    monitor = Monitor(harness)
    try:
        # OK 'not checked yet' comes first: wait for the first check's answer.
        ok = monitor.wait_level('vlm server', OK, 10.0, saying="model 'gemma3:4b' available")
        assert values_of(ok)['models listed'] == 'gemma3:4b, llava:7b'
        server.stop()
        down = monitor.wait_level('vlm server', ERROR, 10.0)
        assert values_of(down)['reachable'] == 'False'
        assert values_of(down)['models listed'] == '-'
    finally:
        server.stop()


def test_camera_status_warns_then_errors_when_frames_stop_and_recovers(make_harness):
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0,
                               diagnostics_period=0.25, max_image_age=0.3)
        monitor = Monitor(harness)
        frame = make_image(solid((0, 255, 0)))
        with harness.streaming(frame):
            status = monitor.wait_level('camera', OK, 10.0)
            assert status.hardware_id == f'{harness.namespace}/camera/image_raw'
        monitor.wait_level('camera', WARN, 5.0)
        silent = monitor.wait_level('camera', ERROR, 10.0)
        assert 'no frame for' in silent.message
        with harness.streaming(frame):
            monitor.wait_level('camera', OK, 10.0)


def test_requests_status_counts_and_recovers(make_harness):
    from jetson_vlm_interfaces.srv import DescribeScene
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0,
                               diagnostics_period=0.25)
        monitor = Monitor(harness)
        client = harness.tester.create_client(DescribeScene, 'describe_scene')
        with harness.streaming(make_image(solid((0, 0, 255)))):
            server.state.behaviour = 'empty_content'
            assert not harness.call(client, DescribeScene.Request()).success
            failed = monitor.wait_level('requests', WARN, 5.0)
            assert 'empty answer' in failed.message
            server.state.behaviour = 'ok'
            assert harness.call(client, DescribeScene.Request()).success
            ok = monitor.wait_level('requests', OK, 5.0)
        values = {kv.key: kv.value for kv in ok.values}
        assert values['succeeded'] == '1' and values['failed'] == '1'


def test_warm_up_runs_once_in_the_background_and_is_reported(make_harness):
    from jetson_vlm_interfaces.srv import DescribeScene
    with FakeVlmServer() as server:
        loading = threading.Event()
        server.state.hold = loading  # the model takes a while to load: until released
        harness = make_harness(base_url=server.base_url, caption_period=0.0,
                               diagnostics_period=0.25, warm_up=True)
        # Start-up did not wait for the warm-up (held at the server).
        assert harness.node._health.server.warm_up in ('pending', 'running')
        monitor = Monitor(harness)
        wait_for(lambda: server.requests, 10.0, 'the warm-up request')
        warm = server.requests[0]
        assert warm.prompt == 'Reply with OK.' and warm.body['max_tokens'] == 1
        assert (warm.image.width, warm.image.height) == (32, 32)
        # A real question meanwhile is not held up by the warm-up (no slot, no worker):
        # it is answered while the warm-up is still held at the server.
        server.state = ServerState()
        client = harness.tester.create_client(DescribeScene, 'describe_scene')
        try:
            with harness.streaming(make_image(solid((0, 0, 255)))):
                assert harness.call(client, DescribeScene.Request()).success
                assert server.in_flight == 1  # the warm-up, still loading
                assert harness.node._health.server.warm_up == 'running'
        finally:
            loading.set()

        def warm_up_value() -> str:
            status = monitor.latest.get('vlm server')
            return {kv.key: kv.value for kv in status.values}['warm-up'] if status else ''
        wait_for(lambda: warm_up_value().startswith('done'), 10.0,
                 'the warm-up result in diagnostics')
        assert sum(1 for r in server.requests if r.prompt == 'Reply with OK.') == 1


def test_camera_status_names_a_qos_mismatch(make_harness):
    from conftest import RosHarness
    namespace = f'/qosdiag{os.getpid()}'
    topic = f'{namespace}/camera/image_raw'
    # The node is made to subscribe reliable; the test camera publishes best effort.
    harness = RosHarness({
        'caption_period': 0.0, 'diagnostics_period': 0.25, 'max_image_age': 1.0,
        f'qos_overrides.{topic}.subscription.reliability': 'reliable'}, namespace)
    try:
        monitor = Monitor(harness)
        # The camera keeps publishing while the node's diagnostics decide.
        with publishing(harness.image_pub, make_image(solid((0, 255, 0))), 20.0):
            status = monitor.wait_level('camera', WARN, 10.0)
        assert harness.node._camera.frames_received == 0
        assert 'QoS probably does not match' in status.message
        assert f'qos_overrides.{topic}.subscription.reliability' in status.message
        assert {kv.key: kv.value for kv in status.values}['publishers'] == '1'
    finally:
        harness.close()
