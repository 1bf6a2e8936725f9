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
The camera subscription's QoS as another node sees it: best effort, depth 1, overridable.

The observer is a node in a context of its own (its own DDS participant), so reliability
and durability are read from what the node announced over discovery. DDS does not announce
history and depth (the graph reports them as unknown), so those are read from the
`qos_overrides.<topic>.subscription.*` parameters that rclpy declares with the values it
created the subscription with, through the node's parameter service.
"""

import itertools
import os
from pathlib import Path
import threading
from typing import Any, Callable, Iterator

from conftest import HAVE_ROS, requires_ros, wait_for
import pytest

if HAVE_ROS:
    from jetson_vlm_ros.ros.vlm_node import VlmNode
    from rcl_interfaces.srv import GetParameters
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

pytestmark = requires_ros

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_names = itertools.count()


@pytest.fixture
def observer() -> Iterator['Node']:
    """Yield a node in its own context: it sees vlm_node only through DDS discovery."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = Node('qos_observer', context=context)
    yield node
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def announced_qos(observer: 'Node', topic: str) -> Any:
    """Return the QoS that vlm_node's subscription on topic announces on the graph."""
    infos = wait_for(
        lambda: [i for i in observer.get_subscriptions_info_by_topic(topic)
                 if i.node_name == 'vlm_node'],
        10.0, f'vlm_node to appear as a subscriber of {topic}')
    assert len(infos) == 1, infos
    return infos[0].qos_profile


def remote_parameters(observer: 'Node', node_name: str, names: list[str]) -> list[Any]:
    """Read parameters of another node through its get_parameters service."""
    client = observer.create_client(GetParameters, f'{node_name}/get_parameters')
    try:
        wait_for(lambda: client.wait_for_service(timeout_sec=0.1), 10.0,
                 f'{node_name}/get_parameters')
        executor = SingleThreadedExecutor(context=observer.context)
        executor.add_node(observer)
        future = client.call_async(GetParameters.Request(names=names))
        executor.spin_until_future_complete(future, timeout_sec=10.0)
        executor.remove_node(observer)
        assert future.done(), f'no answer from {node_name}/get_parameters'
        values = list(future.result().values)
        assert len(values) == len(names), f'{node_name} has not declared {names}'
        return values
    finally:
        observer.destroy_client(client)


@pytest.fixture
def start_vlm_node() -> Iterator[Callable[..., None]]:
    """Start vlm_node spinning in a context of its own, with command-line ros_args."""
    started: list = []

    def start(namespace: str, *ros_args: str) -> None:
        context = rclpy.Context()
        rclpy.init(context=context)
        node = VlmNode(context=context, namespace=namespace, cli_args=[
            '--ros-args', '-r', f'image:={namespace}/camera/image_raw', *ros_args])
        executor = node.make_executor(context=context)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        started.append((context, node, executor, thread))

    yield start
    for context, node, executor, thread in started:
        executor.shutdown(timeout_sec=5.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        thread.join(timeout=5.0)


@pytest.mark.parametrize('transport, suffix', [('raw', ''), ('compressed', '/compressed')])
def test_image_subscription_is_best_effort_depth_1(observer, start_vlm_node, transport, suffix):
    namespace = f'/qos{os.getpid()}_{next(_names)}'
    start_vlm_node(namespace, '-p', 'caption_period:=0.0', '-p', f'image_transport:={transport}')
    topic = f'{namespace}/camera/image_raw{suffix}'

    qos = announced_qos(observer, topic)
    assert qos.reliability == ReliabilityPolicy.BEST_EFFORT
    assert qos.durability == DurabilityPolicy.VOLATILE

    prefix = f'qos_overrides.{topic}.subscription'
    history, depth = remote_parameters(
        observer, f'{namespace}/vlm_node', [f'{prefix}.history', f'{prefix}.depth'])
    assert history.string_value == 'keep_last'
    assert depth.integer_value == 1


def _readme_form(topic: str) -> str:
    # The README's one-line key: qos_overrides./<topic>.subscription.reliability
    return (f'/**:\n  ros__parameters:\n'
            f'    qos_overrides.{topic}.subscription.reliability: reliable\n')


def _config_form(topic: str) -> str:
    # The block config/vlm.yaml ships commented out, uncommented, for this test's topic.
    lines = (PACKAGE_ROOT / 'config' / 'vlm.yaml').read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == '# qos_overrides:')
    block = [line.replace('# ', '', 1) for line in lines[start:start + 4]]
    assert block[1].strip() == '/camera/image_raw:', block
    block[1] = block[1].replace('/camera/image_raw', topic)
    kept = [line for line in lines[:start] if 'caption_period' not in line]
    return '\n'.join(kept + ['    caption_period: 0.0'] + block) + '\n'


@pytest.mark.parametrize('form', [_readme_form, _config_form], ids=['readme', 'config'])
def test_qos_override_in_params_file_makes_it_reliable(observer, start_vlm_node, tmp_path, form):
    namespace = f'/qos{os.getpid()}_{next(_names)}'
    topic = f'{namespace}/camera/image_raw'
    params_file = tmp_path / 'reliable.yaml'
    params_file.write_text(form(topic))
    start_vlm_node(namespace, '--params-file', str(params_file))

    qos = announced_qos(observer, topic)
    assert qos.reliability == ReliabilityPolicy.RELIABLE
    prefix = f'qos_overrides.{topic}.subscription'
    depth, = remote_parameters(observer, f'{namespace}/vlm_node', [f'{prefix}.depth'])
    assert depth.integer_value == 1  # only reliability was overridden
