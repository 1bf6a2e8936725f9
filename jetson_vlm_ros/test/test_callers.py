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
vlm_node under many concurrent describe_scene callers.

Real rclpy over DDS, callers in a process of their own, and a real loopback HTTP server
(fake_vlm_server.py); nothing mocked. The 100 ms bound on the parameter services under load
is a functional one, not a performance target.
"""

import json
import subprocess
import sys
import time
from typing import Callable

from conftest import HAVE_ROS, make_image, RED, requires_ros, RosHarness, solid, wait_for
from fake_vlm_server import FakeVlmServer

if HAVE_ROS:
    from rcl_interfaces.srv import GetParameters

pytestmark = requires_ros


# 8 callers, each its own node and executor, in a process of their own as on a robot (in
# this process they would compete with vlm_node for the GIL). Each sends a call every 0.1 s
# without waiting for the previous answer, so the 200 calls overlap within about 3 s.
# One JSON line per answer.
CALLERS = """
import json, sys, threading, time
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from jetson_vlm_interfaces.srv import DescribeScene

namespace, clients, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rclpy.init()
lock = threading.Lock()

def report(**fields):
    with lock:
        print(json.dumps(fields), flush=True)

def spin_until(executor, done, deadline):
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=max(0.0, min(0.01, deadline - time.monotonic())))

def loop(index):
    node = Node(f'caller{index}', namespace=namespace)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    # Answers kept until taken: with the default depth of 10, a caller thread starved by a
    # busy machine while its 25 answers arrived kept the last 10 only (seen: 15 'lost').
    client = node.create_client(DescribeScene, 'describe_scene',
                                qos_profile=QoSProfile(depth=calls))
    if not client.wait_for_service(timeout_sec=20.0):
        return report(caller=index, failure='no service')
    # wait_for_service sees the request topic only; until the service has matched this
    # client's response reader, Fast DDS drops its answer (it waits 100 ms for the match,
    # too short on a loaded machine). One answered call proves the match; it is not counted.
    for attempt in range(10):
        handshake = client.call_async(DescribeScene.Request(prompt='handshake'))
        spin_until(executor, handshake.done, time.monotonic() + 3.0)
        if handshake.done():
            break
    else:
        return report(caller=index, failure='no answer to the handshake call')
    futures = []
    for call in range(calls):
        futures.append(client.call_async(DescribeScene.Request(prompt=f'c{index}')))
        spin_until(executor, lambda: False, time.monotonic() + 0.1)
    spin_until(executor, lambda: all(f.done() for f in futures), time.monotonic() + 30.0)
    for future in futures:
        if not future.done():
            report(caller=index, failure='no answer within 30 s')
            continue
        answer = future.result()
        report(caller=index, success=answer.success, error=answer.error,
               description=answer.description)

threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
rclpy.shutdown()
"""


def test_concurrent_callers_get_answers_and_parameters_stay_responsive(
        make_harness: Callable[..., 'RosHarness']) -> None:
    """8 clients x 25 calls against a 1 s server: answered, bounded, parameters still quick."""
    clients, calls = 8, 25
    with FakeVlmServer() as server:
        server.state.delay = 1.0
        harness = make_harness(base_url=server.base_url, caption_period=0.0)
        limit = harness.node.get_parameter('max_concurrent_requests').value
        get_client = harness.tester.create_client(GetParameters, 'vlm_node/get_parameters')
        wait_for(lambda: get_client.wait_for_service(timeout_sec=0.1), 10.0, 'get_parameters')
        with harness.streaming(make_image(solid(RED), stamp_sec=1), rate=10):
            callers = subprocess.Popen(
                [sys.executable, '-c', CALLERS, harness.namespace, str(clients), str(calls)],
                stdout=subprocess.PIPE, text=True)
            try:
                wait_for(lambda: server.in_flight >= 1, 30.0, 'load at the server')
                latencies = []
                while callers.poll() is None and len(latencies) < 20:
                    started = time.monotonic()
                    future = get_client.call_async(GetParameters.Request(names=['model']))
                    while not future.done() and time.monotonic() - started < 5.0:
                        time.sleep(0.001)
                    latencies.append((round(time.monotonic() - started, 4), server.in_flight))
                    assert future.done()
                    assert future.result().values[0].string_value == 'gemma3:4b'
                    time.sleep(0.1)
                output, _ = callers.communicate(timeout=120)
            finally:
                if callers.poll() is None:
                    callers.kill()
                    callers.communicate()
    answers = [json.loads(line) for line in output.splitlines()]
    assert [a for a in answers if 'failure' in a] == []
    assert len(answers) == clients * calls
    for answer in answers:
        if not answer['success']:
            assert answer['error'].startswith(
                f'busy: {limit} VLM request(s) already in flight (max_concurrent_requests); '
                'try again shortly'), answer['error']
    succeeded = [a for a in answers if a['success']]
    assert len(succeeded) >= 4, f'only {len(succeeded)} of {len(answers)} calls succeeded'
    assert all(a['description'].endswith(f"prompt=c{a['caller']}") for a in succeeded)
    assert server.max_in_flight == limit, \
        f'{server.max_in_flight} requests at the server at once, limit {limit}'
    loaded = [t for t, in_flight in latencies if in_flight > 0]
    assert len(loaded) >= 5, f'too few parameter calls under load: {latencies}'
    print(f'{len(succeeded)} of {len(answers)} calls succeeded; get_parameters latencies '
          f'(s, requests at the server): {latencies}')
    # Relative to what a parameter call stuck behind the model would take (the server's
    # 1 s per request), not to this machine's speed.
    assert max(t for t, _ in latencies) < server.state.delay / 2, \
        f'get_parameters latencies under load (s, requests at server): {latencies}'
