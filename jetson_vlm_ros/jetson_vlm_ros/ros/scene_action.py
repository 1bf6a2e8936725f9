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
The describe_scene action: the service's question, with the answer streamed as feedback.

Goals are always accepted; whether one can run (a free request slot, a fresh frame, the
node enabled) is decided when it executes, and a refusal comes back at once as a result
with success false and the same error text the service gives. The execute callback runs
on the executor's workers (WorkerCallback); goal and cancel callbacks answer inline.
A cancel closes the model server connection at once through the goal's Cancellation.
"""

import threading
import time
from typing import Any, Callable, Optional

from jetson_vlm_interfaces.action import DescribeScene
from jetson_vlm_ros.model.scene_describer import TextCallback
from jetson_vlm_ros.model.streaming import Cancellation
from jetson_vlm_ros.ros.offloading_executor import WorkerCallback
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node

# (goal, result to fill, on_text, cancellation) -> the filled result; never raises.
Answerer = Callable[[Any, Any, Optional[TextCallback], Optional[Cancellation]], Any]

# rclpy moves a goal to CANCELING only after the cancel callback returned: how long the
# execute callback waits for that before it reports the goal as aborted instead.
CANCEL_STATE_WAIT = 2.0


class SceneActionServer:
    """Serves DescribeScene goals by streaming an Answerer's text as feedback."""

    def __init__(self, node: Node, name: str, answer: Answerer) -> None:
        self._answer = answer
        self._context = node.context
        self._cancellations: dict[bytes, Cancellation] = {}
        self._lock = threading.Lock()
        self._server = ActionServer(
            node, DescribeScene, name, execute_callback=WorkerCallback(self._execute),
            goal_callback=lambda _goal: GoalResponse.ACCEPT,
            cancel_callback=self._on_cancel)

    @property
    def running(self) -> int:
        """Return how many goals are executing now."""
        with self._lock:
            return len(self._cancellations)

    def destroy(self) -> None:
        """Cancel every running goal and stop serving."""
        with self._lock:
            running = list(self._cancellations.values())
        for cancellation in running:
            cancellation.cancel()
        self._server.destroy()

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        with self._lock:
            cancellation = self._cancellations.get(bytes(goal_handle.goal_id.uuid))
        if cancellation is not None:
            cancellation.cancel()  # closes the server connection now
        return CancelResponse.ACCEPT

    def _execute(self, goal_handle: Any) -> Any:
        key = bytes(goal_handle.goal_id.uuid)
        cancellation = Cancellation()
        with self._lock:
            self._cancellations[key] = cancellation
        feedback = DescribeScene.Feedback()
        streamed = ['']  # the answer so far, for a goal that fails mid-stream
        finished = threading.Event()  # an abandoned stream may call on_text after the end

        def on_text(text: str, chunks: int) -> None:
            # Also catches a cancel accepted while this goal was being registered.
            if goal_handle.is_cancel_requested:
                cancellation.cancel()
                return
            if finished.is_set():
                return
            streamed[0] = text
            feedback.text, feedback.chunks = text, chunks
            goal_handle.publish_feedback(feedback)

        try:
            if goal_handle.is_cancel_requested:  # cancelled while queued for a worker
                cancellation.cancel()
            result = self._answer(
                goal_handle.request, DescribeScene.Result(), on_text, cancellation)
        finally:
            finished.set()
            with self._lock:
                del self._cancellations[key]
        if not result.success and not result.description:
            # e.g. 'vlm_node is shutting down' or a server gone mid-answer: what had arrived.
            result.description = streamed[0]
        try:
            if result.success:
                goal_handle.succeed()  # valid from CANCELING too: the answer was complete
            elif cancellation.cancelled and self._cancel_state_reached(goal_handle):
                goal_handle.canceled()
            else:
                goal_handle.abort()
        except _rclpy.RCLError:
            if self._context.ok():
                raise
            # The context was shut down under us (not by vlm_node's own stop, which ends
            # goals first): no publisher works any more, and no client can be told.
        return result

    @staticmethod
    def _cancel_state_reached(goal_handle: Any) -> bool:
        deadline = time.monotonic() + CANCEL_STATE_WAIT
        while not goal_handle.is_cancel_requested:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True
