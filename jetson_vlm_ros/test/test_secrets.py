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
vlm_node never shows the API key or image data in its output, /rosout, captions or errors.

Real rclpy over DDS, a vlm_node process at debug log level, and a real loopback HTTP server
(fake_vlm_server.py); nothing mocked.
"""

from dataclasses import dataclass, field
import os
import signal
import tempfile
import threading
from typing import Callable

from conftest import (
    Caller, HAVE_ROS, make_image, publishing, RED, requires_ros, RosHarness, shared_namespace,
    solid, start_node, wait_for)
from fake_vlm_server import FakeVlmServer, ServerState
import pytest

if HAVE_ROS:
    from jetson_vlm_interfaces.msg import Caption
    from jetson_vlm_interfaces.srv import DescribeScene
    from rcl_interfaces.msg import Log
    from rcl_interfaces.srv import GetParameters
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

pytestmark = requires_ros

SECRET = f'sk-test-{os.getpid()}-Zq7XwL3mN9'
LONG_BODY = ''.join(f'{i:04d}' for i in range(1250))  # 5000 characters, none repeated


@dataclass
class LeakRun:
    """Everything a vlm_node process said and published during successes and failures."""

    output: str = ''
    rosout: list = field(default_factory=list)
    captions: list = field(default_factory=list)
    answers: dict = field(default_factory=dict)
    authorization: set = field(default_factory=set)


@pytest.fixture(scope='module')
def leak_run() -> LeakRun:
    if not HAVE_ROS:
        pytest.skip('no ROS')
    run = LeakRun()
    namespace = shared_namespace('leak')
    server = FakeVlmServer().start()
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('leak_watcher', namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    process = None
    # A file, not a pipe: debug logging would fill a pipe's buffer and block the node.
    log_file = tempfile.TemporaryFile('w+')
    try:
        node.create_subscription(Log, '/rosout', run.rosout.append, 1000)
        node.create_subscription(String, 'caption', run.captions.append, 100)
        node.create_subscription(Caption, 'caption_stamped', run.captions.append, 100)
        publisher = node.create_publisher(Image, 'image', qos_profile_sensor_data)
        client = node.create_client(DescribeScene, 'describe_scene')
        process = start_node(
            '-r', f'__ns:={namespace}', '-p', f'base_url:={server.base_url}',
            '-p', f'api_key:={SECRET}', '-p', 'caption_period:=0.3',
            '-p', 'request_timeout:=1.0', '--log-level', 'debug', stdout=log_file)
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 30.0, 'describe_scene')

        def caption_failures() -> int:
            return sum(1 for m in list(run.rosout) if m.msg.startswith('caption failed: '))

        def ask(case: str, setup: Callable[[], None]) -> None:
            failures = caption_failures()
            setup()
            if case != 'ok':  # a caption tick fails (and logs) the same way first
                wait_for(lambda: caption_failures() > failures, 10.0,
                         f'a caption failure logged ({case})')
            future = client.call_async(DescribeScene.Request(prompt='What is there?'))
            wait_for(future.done, 10.0, f'an answer ({case})')
            run.answers[case] = future.result()

        with publishing(publisher, make_image(solid(RED), stamp_sec=5), rate=10):
            # A caption says a frame has arrived: the 'ok' call then has one to describe.
            wait_for(lambda: run.captions, 30.0, 'a caption')
            ask('ok', lambda: None)
            ask('401', lambda: setattr(server, 'state', ServerState(
                behaviour='status', status=401,
                status_body='{"error": {"message": "invalid api key"}}')))
            ask('echo_image', lambda: setattr(server, 'state', ServerState(
                behaviour='echo_image', status=400)))
            ask('echo_request', lambda: setattr(server, 'state', ServerState(
                behaviour='echo_request', status=400)))
            ask('long_body', lambda: setattr(server, 'state', ServerState(
                behaviour='status', status=500, status_body=LONG_BODY)))
            ask('cut', lambda: setattr(server, 'state', ServerState(behaviour='cut_mid_reply')))
            run.authorization = {r.authorization for r in server.requests}
            ask('refused', server.stop)
        # The last answer's warning has reached /rosout before the node is stopped.
        wait_for(lambda: any('describe_scene failed: ' in m.msg and 'cannot reach' in m.msg
                             for m in list(run.rosout)), 10.0, "the 'refused' warning")
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        log_file.seek(0)
        run.output = log_file.read()
        log_file.close()
        print(f'vlm_node said:\n{run.output}')
        server.stop()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
    return run


def _published_text(run: LeakRun) -> str:
    texts = [m.msg for m in run.rosout]
    for caption in run.captions:
        texts += [caption.data] if isinstance(caption, String) else [
            caption.text, caption.prompt, caption.model, caption.header.frame_id]
    for answer in run.answers.values():
        texts += [answer.description, answer.error, answer.model]
    return '\n'.join(texts)


def test_api_key_never_in_logs_or_captions(leak_run: LeakRun) -> None:
    run = leak_run
    # The scenario did what it should: the key was used, and failures were logged.
    assert run.authorization == {f'Bearer {SECRET}'}
    assert run.answers['ok'].success
    assert 'HTTP 401' in run.answers['401'].error
    # The server quoted the key back, and the node blanked it out of its error.
    assert 'rejected Authorization: Bearer <api_key>' in run.answers['echo_request'].error
    assert 'cannot reach the VLM server' in run.answers['refused'].error
    for needle in ('describe_scene failed: ', 'caption failed: ', 'HTTP 401', 'cannot reach'):
        assert needle in run.output, f'{needle!r} not logged:\n{run.output}'
    assert any('HTTP 401' in m.msg for m in run.rosout), 'no /rosout messages captured'
    assert run.captions, 'no captions captured'
    assert SECRET not in run.output
    assert SECRET not in _published_text(run)


def test_image_payload_never_in_logs(leak_run: LeakRun) -> None:
    run = leak_run
    # The server quoted the image back, and the node blanked it out of its error.
    assert 'cannot load image data:<image omitted>' in run.answers['echo_image'].error
    assert 'with image data:<image omitted>' in run.answers['echo_request'].error
    for text in (run.output, _published_text(run)):
        assert '/9j/' not in text and 'base64,' not in text


def test_error_quotes_at_most_200_characters_of_a_reply(leak_run: LeakRun) -> None:
    error = leak_run.answers['long_body'].error
    assert 'answered HTTP 500: ' + LONG_BODY[:200] in error, error
    assert LONG_BODY[:201] not in error
    assert len(error) < 200 + 120, f'{len(error)} characters: {error!r}'


def test_api_key_from_environment_is_used_but_not_exposed(
        make_harness: Callable[..., 'RosHarness'], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('OPENAI_API_KEY', SECRET)
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, api_key='')
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            answer, _ = Caller(harness).call()
        assert answer.success, answer.error
        assert server.requests[-1].authorization == f'Bearer {SECRET}'
        client = harness.tester.create_client(GetParameters, 'vlm_node/get_parameters')
        values = harness.call(client, GetParameters.Request(names=['api_key'])).values
        assert values[0].string_value == ''


@pytest.mark.parametrize('key', ['Zq7', 'sk-Zq7X', SECRET], ids=['3_chars', '7_chars', 'long'])
def test_key_echoed_by_the_server_is_blanked_from_the_service_error(
        make_harness: Callable[..., 'RosHarness'], key: str) -> None:
    """A real key of any length, quoted back in the reply, never reaches the caller."""
    with FakeVlmServer() as server:
        harness = make_harness(base_url=server.base_url, caption_period=0.0, api_key=key)
        caller = Caller(harness)
        server.state = ServerState(behaviour='echo_request', status=401)
        with harness.streaming(make_image(solid(RED), stamp_sec=1)):
            answer, _ = caller.call()
    assert server.requests[-1].authorization == f'Bearer {key}'
    assert not answer.success
    assert 'answered HTTP 401: ' in answer.error, answer.error
    assert 'rejected Authorization: Bearer <api_key> with image data:<image omitted>' \
        in answer.error, answer.error
    assert key not in answer.error
