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

"""The describe_scene action end to end: real rclpy over DDS, a loopback server that streams."""

import random
import threading
import time

from conftest import HAVE_ROS, make_image, requires_ros, solid, wait_for
from fake_vlm_server import describe_seen
from test_frame_requests import publish_sequence

if HAVE_ROS:
    from action_msgs.msg import GoalStatus
    from jetson_vlm_interfaces.action import DescribeScene
    from jetson_vlm_interfaces.srv import DescribeScene as DescribeSceneService
    from rcl_interfaces.srv import GetParameters
    from rclpy.action import ActionClient

pytestmark = requires_ros

RED = (255, 0, 0)
LONG_ANSWER = ' '.join(f'word{i}' for i in range(200))


class Goal:
    """One goal sent to describe_scene, with the feedback it received."""

    def __init__(self, client: 'ActionClient', prompt: str = '', **fields) -> None:
        self.feedback: list[tuple[float, str, int]] = []
        self._sent = client.send_goal_async(
            DescribeScene.Goal(prompt=prompt, **fields), feedback_callback=self._on_feedback)
        self.handle = wait_for(lambda: self._sent.done() and self._sent.result(), 10.0,
                               'the goal to be accepted')
        assert self.handle.accepted
        self._result = self.handle.get_result_async()

    def _on_feedback(self, message) -> None:
        self.feedback.append(
            (time.monotonic(), message.feedback.text, message.feedback.chunks))

    def done(self) -> bool:
        return self._result.done()

    def result(self, timeout: float = 10.0):
        wait_for(self._result.done, timeout, 'the goal result')
        return self._result.result()

    def cancel(self):
        return self.handle.cancel_goal_async()


def action_client(harness) -> 'ActionClient':
    client = harness.action_client(DescribeScene, 'describe_scene')
    wait_for(lambda: client.wait_for_server(timeout_sec=0.1), 10.0, 'the describe_scene action')
    return client


def test_feedback_arrives_in_pieces_that_make_up_the_result(make_harness, server):
    server.state.chunk_delay = 0.05
    harness = make_harness(base_url=server.base_url, caption_period=0.0)
    client = action_client(harness)
    with harness.streaming(make_image(solid(RED), 'rgb8', stamp_sec=42)):
        goal = Goal(client, 'What colour?')
        response = goal.result()
    result = response.result
    assert response.status == GoalStatus.STATUS_SUCCEEDED, result.error
    assert result.success and result.error == ''
    assert result.image_stamp.sec == 42
    assert result.model == 'gemma3:4b'
    assert result.latency > 0
    # The answer is the one for the frame actually sent, as the service gives it.
    assert result.description == describe_seen(server.requests[-1].image, 'What colour?')
    assert server.requests[-1].body.get('stream') is True
    texts = [text for _, text, _ in goal.feedback]
    chunks = [count for _, _, count in goal.feedback]
    assert len(texts) >= 4, texts  # one word per chunk, 50 ms apart
    assert chunks == list(range(1, len(chunks) + 1))
    for shorter, longer in zip(texts, texts[1:], strict=False):
        assert longer.startswith(shorter) and len(longer) > len(shorter)
    assert texts[-1].strip() == result.description
    # The first piece arrived before the server had sent the last one.
    assert goal.feedback[0][0] < server.streams[-1].chunk_times[-1]


def test_cancel_closes_the_server_stream_at_once_and_frees_the_slot(make_harness, server):
    # 200 chunks 2 s apart: a cancel noticed only at the next chunk would let it be sent.
    server.state.answer_text = LONG_ANSWER
    server.state.chunk_delay = 2.0
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1)
    client = action_client(harness)
    with harness.streaming(make_image(solid(RED), 'rgb8')):
        goal = Goal(client)
        wait_for(lambda: len(goal.feedback) >= 2, 10.0, 'two pieces of feedback')
        stream = server.streams[-1]
        # The server notes a chunk's time after writing it: the client may read it first.
        wait_for(lambda: len(stream.chunk_times) >= 2, 5.0, 'the server to note two chunks')
        sent_at_cancel = len(stream.chunk_times)
        goal.cancel()
        wait_for(lambda: stream.ended is not None, 5.0, 'the server to see the stream end')
        assert stream.how == 'client closed'
        # Closed before the server's next chunk was due (2 s after the last one).
        assert len(stream.chunk_times) == sent_at_cancel, (sent_at_cancel, stream.chunk_times)
        response = goal.result()
        assert response.status == GoalStatus.STATUS_CANCELED
        assert not response.result.success
        assert response.result.error == 'canceled'
        assert response.result.description.startswith('word0 word1')  # what had arrived
        assert len(stream.chunk_times) < 100

        # The slot is free again (max_concurrent_requests is 1): the next goal succeeds.
        server.state.answer_text = 'the door is open'
        server.state.chunk_delay = 0.0
        again = Goal(client).result()
    assert again.status == GoalStatus.STATUS_SUCCEEDED, again.result.error
    assert again.result.description == 'the door is open'


def test_cancel_before_the_first_byte_closes_the_connection(make_harness, server):
    server.state.delay = 30.0  # a model still loading: no headers yet
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1)
    client = action_client(harness)
    with harness.streaming(make_image(solid(RED), 'rgb8')):
        goal = Goal(client)
        wait_for(lambda: server.in_flight == 1, 10.0, 'the request to reach the server')
        goal.cancel()
        # Seen by the server long before its 30 s delay would have ended.
        wait_for(lambda: server.streams, 5.0, 'the server to see the client leave')
        assert server.streams[-1].how == 'closed before headers'
        assert goal.result().status == GoalStatus.STATUS_CANCELED
        wait_for(lambda: harness.node._describer.slots.in_flight == 0, 2.0, 'a free slot')


def test_execute_runs_on_a_worker_not_on_the_spinning_thread(make_harness, server):
    server.state.behaviour = 'hang'
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           request_timeout=60.0)
    client = action_client(harness)
    parameters = harness.tester.create_client(
        GetParameters, f'{harness.namespace}/vlm_node/get_parameters')
    with harness.streaming(make_image(solid(RED), 'rgb8')):
        goal = Goal(client)
        wait_for(lambda: server.in_flight == 1, 10.0, 'a goal hanging at the server')
        # The goal hangs for request_timeout (60 s): an answer now shows the spinning
        # thread is free.
        answer = harness.call(parameters, GetParameters.Request(names=['model']), timeout=20.0)
        assert answer.values[0].string_value == 'gemma3:4b'
        assert server.in_flight == 1
        goal.cancel()
        assert goal.result().status == GoalStatus.STATUS_CANCELED


def test_busy_policy_and_failure_texts_match_the_service(make_harness, server):
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=1, request_timeout=1.0)
    client = action_client(harness)
    service = harness.tester.create_client(DescribeSceneService, 'describe_scene')
    with harness.streaming(make_image(solid(RED), 'rgb8')):
        server.state.answer_text = LONG_ANSWER
        server.state.chunk_delay = 0.2
        running = Goal(client)
        wait_for(lambda: running.feedback, 10.0, 'the first goal to stream')
        refused = Goal(client).result()
        # Refused while the first goal still streams (200 chunks, 0.2 s apart), not after.
        assert not running.done()
        assert refused.status == GoalStatus.STATUS_ABORTED
        assert refused.result.error.startswith('busy: 1 VLM request(s) already in flight')
        busy_call = harness.call(service, DescribeSceneService.Request())
        assert busy_call.error == refused.result.error
        running.cancel()
        assert running.result().status == GoalStatus.STATUS_CANCELED
        server.state.chunk_delay = 0.0

        faults = {
            'status': 'answered HTTP 500',
            'hang': 'did not answer within request_timeout (1 s)',
            'cut_mid_reply': 'broke mid-reply',
            'empty_content': 'returned an empty answer',
            'not_json': 'did not answer with a chat completion',
        }
        for behaviour, text in faults.items():
            server.state.behaviour = behaviour
            by_action = Goal(client).result(timeout=5.0)
            by_service = harness.call(service, DescribeSceneService.Request(), timeout=5.0)
            assert by_action.status == GoalStatus.STATUS_ABORTED, behaviour
            assert text in by_action.result.error, (behaviour, by_action.result.error)
            assert text in by_service.error, (behaviour, by_service.error)
        server.state.behaviour = 'ok'
        assert Goal(client).result().result.success


def test_many_goals_with_random_cancels_leave_nothing_behind(make_harness, server):
    server.state.answer_text = ' '.join(f'w{i}' for i in range(20))
    server.state.chunk_delay = 0.01
    harness = make_harness(base_url=server.base_url, caption_period=0.0,
                           max_concurrent_requests=2)
    client = action_client(harness)
    chooser = random.Random(7)
    with harness.streaming(make_image(solid(RED), 'rgb8')):
        assert Goal(client).result().result.success  # warm: threads and pools exist
        # Streams close their connections. Left open: the kept-alive connections of the
        # start-up server check and of the diagnostics probe, two when those overlapped (the
        # full suite once timed out here waiting for one).
        wait_for(lambda: all(stream.ended is not None for stream in server.streams)
                 and server.open_connections <= 2, 5.0, 'the warm-up stream to close')
        connections_before = server.open_connections
        threads_before = threading.active_count()
        statuses = []
        for _ in range(10):
            goals = [Goal(client) for _goal in range(5)]
            for goal in goals:
                if chooser.random() < 0.5:
                    time.sleep(chooser.uniform(0.0, 0.15))
                    goal.cancel()
            for goal in goals:
                response = goal.result()
                statuses.append(response.status)
                if response.status == GoalStatus.STATUS_ABORTED:
                    assert response.result.error.startswith('busy'), response.result.error
        assert len(statuses) == 50
        assert GoalStatus.STATUS_CANCELED in statuses
        assert GoalStatus.STATUS_SUCCEEDED in statuses
        node = harness.node
        wait_for(lambda: node._describer.slots.in_flight == 0, 5.0, 'every slot free')
        wait_for(lambda: node._action.running == 0, 5.0, 'no goal left executing')
        wait_for(lambda: server.open_connections <= connections_before
                 and server.in_flight == 0, 5.0, 'every stream connection closed')
        assert all(stream.ended is not None for stream in server.streams)
        wait_for(lambda: threading.active_count() <= threads_before, 5.0,
                 f'threads back to {threads_before} (now {threading.active_count()})')
        assert Goal(client).result().result.success


def test_goal_takes_the_service_request_fields(make_harness, server):
    """num_frames, frame_interval, image and response_format act as in the service."""
    harness = make_harness(base_url=server.base_url, caption_period=0.0, max_image_age=0.0,
                           history_seconds=0.0)
    client = action_client(harness)
    publish_sequence(harness, (1, 2, 3), gap=0.3)
    several = Goal(client, 'What changed?', num_frames=2, frame_interval=0.3).result().result
    assert several.success, several.error
    assert [t.sec for t in several.image_stamps] == [2, 3]
    assert len(server.requests[-1].images) == 2
    given = make_image(solid((0, 0, 255), 20, 10), stamp_sec=77)
    other = Goal(client, 'And this?', image=given).result().result
    assert other.success, other.error
    assert server.requests[-1].images[0].mean_rgb[2] > 200
    assert other.image_stamp.sec == 77
    server.state.answer_text = '{"moved": true}'
    as_json = Goal(client, 'Did it move?', response_format='json').result().result
    assert as_json.success and as_json.description == '{"moved": true}', as_json.error
    assert server.requests[-1].body['response_format'] == {'type': 'json_object'}
    asked = len(server.requests)
    bad = Goal(client, 'Where?', response_format='{"type": "objekt"}').result().result
    assert not bad.success and 'not a valid JSON Schema' in bad.error
    assert len(server.requests) == asked  # refused before the server
