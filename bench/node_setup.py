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
vlm_node as a process on a camera process and a loopback server, for the bench's figures.

With the bench as its service client (figures 1, 3, 4, 6, 7 and 10).
"""

import os
import threading
import time

from common import BENCH_DIR, Child, fake_server_class, node_args


def start_node_and_bare_counter(topic: str, base_url: str,
                                *params: str) -> tuple[Child, Child]:
    """Start vlm_node (no captions) and the bare baseline node on the same camera topic."""
    node = Child(node_args(topic, base_url, 'caption_period:=0.0', *params), 'vlm_node')
    bare = Child([os.path.join(BENCH_DIR, 'bare_counter.py'), '--topic', topic],
                 'bare counter')
    return node, bare


class Client:
    """An rclpy node in this process with DescribeScene clients, spun on a thread."""

    def __init__(self, clients: int) -> None:
        import rclpy
        from rclpy.executors import MultiThreadedExecutor
        from jetson_vlm_interfaces.srv import DescribeScene
        self.srv = DescribeScene
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(f'bench_client_{os.getpid()}', context=self.context)
        self.clients = [self.node.create_client(DescribeScene, 'describe_scene')
                        for _ in range(clients)]
        self.executor = MultiThreadedExecutor(num_threads=2, context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def call(self, index: int = 0, timeout: float = 30.0) -> tuple[object, float]:
        """Call describe_scene; return (response, seconds from send to answer)."""
        return self.call_with(self.srv.Request(), index, timeout)

    def call_with(self, request: object, index: int = 0,
                  timeout: float = 30.0) -> tuple[object, float]:
        """Call describe_scene with request; return (response, seconds to the answer)."""
        client = self.clients[index]
        done = threading.Event()
        start = time.perf_counter()
        future = client.call_async(request)
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise RuntimeError('describe_scene did not answer')
        return future.result(), time.perf_counter() - start

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait for the service and for a first successful description."""
        deadline = time.monotonic() + timeout
        for client in self.clients:
            if not client.wait_for_service(timeout_sec=timeout):
                raise RuntimeError('describe_scene not available')
        while True:
            response, _ = self.call()
            if response.success:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f'no successful call: {response.error}')
            time.sleep(0.2)

    def close(self) -> None:
        """Tear down."""
        import rclpy
        self.executor.shutdown(timeout_sec=5.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


class NodeSetup:
    """vlm_node (subprocess) on a camera (subprocess) and a FakeVlmServer (in this process)."""

    def __init__(self, delay: float, clients: int = 1, width: int = 1920,
                 height: int = 1080, rate: float = 10.0, *params: str) -> None:
        self.server = fake_server_class()().start()
        self.server.state.delay = delay
        self.topic = f'/bench_{os.getpid()}_{int(time.monotonic() * 1000)}/image'
        self.node = Child(node_args(self.topic, self.server.base_url, 'caption_period:=0.0',
                                    *params), 'vlm_node')
        self.camera: Child | None = None
        self.client: Client | None = None
        try:
            self.node.wait_line('describing', 60.0)
            self.camera = Child(
                [os.path.join(BENCH_DIR, 'camera_publisher.py'), '--topic', self.topic,
                 '--width', str(width), '--height', str(height), '--rate', str(rate),
                 '--warmup', '0', '--seconds', '600'], 'camera')
            self.camera.wait_event(lambda e: e.get('event') == 'go', 60.0)
            if clients:
                self.client = Client(clients)
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        """Stop everything."""
        if self.client is not None:
            self.client.close()
        if self.camera is not None:
            self.camera.stop()
        self.node.stop()
        self.server.stop()
