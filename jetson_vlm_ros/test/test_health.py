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

"""The health statuses behind /diagnostics, without ROS: levels, messages, recovery."""

from jetson_vlm_ros.core.health import (
    CameraFacts, CameraHealth, ERROR, OK, RequestStats, ServerHealth, WARN)


def facts(**changes) -> CameraFacts:
    values = {'topic': '/camera/image_raw', 'enabled': True, 'frames_received': 10,
              'latest_age': 0.1, 'since_start': 60.0, 'publishers': 1, 'max_image_age': 2.0}
    values.update(changes)
    return CameraFacts(**values)


def test_camera_levels_follow_the_age_of_the_latest_frame_and_recover():
    camera = CameraHealth()
    assert camera.status(facts(frames_received=0), 0.0).level == OK
    fresh = camera.status(facts(frames_received=30), 1.0)
    assert fresh.level == OK and fresh.message == '30.0 Hz'
    stale = camera.status(facts(latest_age=3.0), 2.0)
    assert stale.level == WARN and 'max_image_age (2 s)' in stale.message
    silent = camera.status(facts(latest_age=21.0), 3.0)
    assert silent.level == ERROR and 'no frame for 21 s' in silent.message
    assert camera.status(facts(latest_age=0.05), 4.0).level == OK


def test_camera_with_publishers_but_no_frame_suggests_a_qos_override():
    status = CameraHealth().status(facts(latest_age=None, since_start=5.0), 0.0)
    assert status.level == WARN
    assert 'QoS probably does not match' in status.message
    assert 'qos_overrides./camera/image_raw.subscription.reliability' in status.message
    late = CameraHealth().status(facts(latest_age=None, since_start=25.0), 0.0)
    assert late.level == ERROR


def test_camera_without_publisher_and_disabled():
    status = CameraHealth().status(facts(latest_age=None, publishers=0, since_start=5.0), 0.0)
    assert status.level == WARN and 'no publisher' in status.message
    assert CameraHealth().status(facts(latest_age=None, since_start=1.0), 0.0).level == OK
    off = CameraHealth().status(facts(enabled=False, latest_age=None, since_start=99.0), 0.0)
    assert off.level == OK and off.message.startswith('disabled')


def test_a_named_camera_s_status_is_named_after_it():
    unnamed = CameraHealth().status(facts(), 0.0)
    assert unnamed.name == 'camera' and unnamed.values[0] == ('topic', '/camera/image_raw')
    rear = CameraHealth('rear').status(facts(topic='/rear/image', latest_age=3.0), 0.0)
    assert rear.name == 'camera rear' and rear.level == WARN
    assert rear.hardware_id == '/rear/image'
    assert rear.values[:2] == [('camera', 'rear'), ('topic', '/rear/image')]


def test_server_status_goes_error_and_back_to_ok():
    server = ServerHealth()
    assert server.status('http://h/v1', 'gemma3:4b', '').level == OK  # not checked yet
    server.check_failed('cannot reach the VLM server at http://h/v1; `ollama serve`')
    down = server.status('http://h/v1', 'gemma3:4b', '')
    assert down.level == ERROR and '`ollama serve`' in down.message
    server.check_succeeded(['llava:7b'])
    missing = server.status('http://h/v1', 'gemma3:4b', '')
    assert missing.level == ERROR and '`ollama pull gemma3:4b`' in missing.message
    server.check_succeeded(['gemma3:4b'])
    assert server.status('http://h/v1', 'gemma3:4b', '').level == OK


def test_request_stats_count_and_warn_only_while_the_last_failed():
    stats = RequestStats()
    stats.record_success(1.0)
    stats.record_success(3.0)
    stats.record_busy()
    stats.record_failure('the model at x returned an empty answer')
    failed = stats.status(1, 2, True)
    assert failed.level == WARN and 'empty answer' in failed.message
    values = dict(failed.values)
    assert values['succeeded'] == '2' and values['failed'] == '1'
    assert values['busy refusals'] == '1' and values['mean latency (s)'] == '2.00'
    assert values['in flight'] == '1 of 2'
    stats.record_success(1.0)
    assert stats.status(0, 2, True).level == OK
    assert stats.status(0, 2, False).message.startswith('disabled')
