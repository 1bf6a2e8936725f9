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
The start-up check of the server, read from /rosout by another node, as an operator sees it.

At start-up vlm_node asks the server for its models (GET /models) and warns, in one line,
when the server cannot be reached or does not list the configured model; the node keeps
running either way.
"""

import threading
import time
from typing import Any, Iterator

from conftest import HAVE_ROS, requires_ros, wait_for
from fake_vlm_server import FakeVlmServer
import pytest

if HAVE_ROS:
    from rcl_interfaces.msg import Log
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

pytestmark = requires_ros


class RosoutWatcher:
    """A node in its own context that keeps every /rosout message."""

    def __init__(self) -> None:
        self.messages: list = []
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = Node('rosout_watcher', context=self.context)
        # /rosout's own QoS (reliable, transient local): lines logged before discovery
        # completed still arrive.
        qos = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.node.create_subscription(Log, '/rosout', self.messages.append, qos)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def lines_of(self, harness: Any, level: int) -> list[str]:
        """Return what the harness's vlm_node logged at level."""
        logger = harness.namespace.strip('/').replace('/', '.') + '.vlm_node'
        return [m.msg for m in list(self.messages) if m.name == logger and m.level == level]

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=5.0)


@pytest.fixture
def rosout() -> Iterator[RosoutWatcher]:
    if not HAVE_ROS:
        pytest.skip('no ROS')
    watcher = RosoutWatcher()
    yield watcher
    watcher.close()


def wait_for_check(rosout: RosoutWatcher, harness: Any) -> tuple[list[str], list[str]]:
    """Wait until the start-up check has reported; return (warnings, info lines) about it."""
    def report() -> tuple[list[str], list[str]]:
        warnings = rosout.lines_of(harness, Log.WARN)
        infos = [m for m in rosout.lines_of(harness, Log.INFO) if 'VLM server at' in m]
        return warnings, infos

    wait_for(lambda: any(report()), 10.0, 'the start-up check on /rosout')
    time.sleep(0.3)  # a second line, if any, would follow at once
    return report()


def test_unreachable_server_is_one_warning(make_harness, rosout):
    with FakeVlmServer() as probe:
        url = probe.base_url  # nothing listens there once the probe stopped
    harness = make_harness(base_url=url, caption_period=0.0)
    warnings, infos = wait_for_check(rosout, harness)
    assert infos == []
    assert len(warnings) == 1, warnings
    warning = warnings[0]
    assert warning.startswith(f'cannot reach the VLM server at {url}'), warning
    assert '`ollama serve`' in warning
    assert '`docker run -d -p 11434:11434 ollama/ollama`' in warning
    assert warning.endswith('the node keeps running and retries on every request')


def test_model_not_listed_is_one_warning(make_harness, rosout):
    with FakeVlmServer() as server:
        server.state.models = ['llava:7b', 'qwen2.5vl:3b']
        harness = make_harness(base_url=server.base_url, caption_period=0.0)
        warnings, infos = wait_for_check(rosout, harness)
    assert infos == []
    assert warnings == [
        f"the server at {server.base_url} does not list model 'gemma3:4b' (it has: "
        f'llava:7b, qwen2.5vl:3b); pull it with `ollama pull gemma3:4b`']


def test_listed_model_gives_no_warning(make_harness, rosout):
    with FakeVlmServer() as server:
        server.state.models = ['llava:7b', 'gemma3:4b']
        harness = make_harness(base_url=server.base_url, caption_period=0.0)
        warnings, infos = wait_for_check(rosout, harness)
    assert warnings == []
    assert infos == [f'VLM server at {server.base_url} is up']
