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
vlm_node: the composition root, which makes the node's parts and wires them together.

The parts, in the order they are made: parameters (node_parameters.py; their table is
settings.py), the camera and `enable` (camera_input.py), captions (captions.py), the
describe_scene service and action (scene_answers.py, scene_action.py), the start-up server
check (server_check.py), /diagnostics (node_health.py), alerts (alert_monitor.py) and the
OpenAI-compatible gateway (gateway_bridge.py). main() runs the node until Ctrl-C or SIGTERM.

Threading, chosen by measurement (see bench/): an OffloadingExecutor runs the camera,
parameter and publishing work inline, as cheaply as rclpy.spin, and hands the service and
the caption timer, which wait on the model, to one worker per request slot plus one for
busy answers. The image callback only stores a reference to the message (the latest frame
and the frame history): the latest frame is converted per request; a frame the history
keeps is prepared once, on a thread of its own, as it will be sent (history_preparation.py).
"""

import sys
import time
from typing import Any, Optional

from jetson_vlm_interfaces.srv import DescribeScene
from jetson_vlm_ros.core.settings import SettingsError
from jetson_vlm_ros.frames.frame_memory import keep_freed_frames_in_process
from jetson_vlm_ros.model.scene_describer import SceneDescriber
from jetson_vlm_ros.model.vlm_client import load_openai_in_background
from jetson_vlm_ros.ros.alert_monitor import AlertMonitor
from jetson_vlm_ros.ros.camera_input import encode_with_cv_bridge_fallback
from jetson_vlm_ros.ros.camera_set import CameraSet
from jetson_vlm_ros.ros.captions import Captions
from jetson_vlm_ros.ros.gateway_bridge import GatewayBridge
from jetson_vlm_ros.ros.node_health import NodeHealth
from jetson_vlm_ros.ros.node_parameters import NodeParameters, NodeStartError
from jetson_vlm_ros.ros.offloading_executor import OffloadingExecutor
from jetson_vlm_ros.ros.scene_action import SceneActionServer
from jetson_vlm_ros.ros.scene_answers import DISABLED_ERROR, SceneAnswers
from jetson_vlm_ros.ros.server_check import StartupServerCheck
from jetson_vlm_ros.ros.start_failure import destroy_half_made, guard_teardown
from jetson_vlm_ros.ros.stop_signals import StopSignals
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

try:  # Iron and later
    from rclpy.event_handler import PublisherEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks

# At shutdown, service calls still pending get their 'shutting down' answer within this time.
SHUTDOWN_REPLY_TIMEOUT = 2.0
# ... and then this long to reach their clients before the process's DDS participant goes:
# rclpy exposes no acknowledgement for service replies (an action's result is one). Measured
# with test_goal_at_shutdown.py on a loaded 2-core VM: results lost 1 time in 24 with no
# wait, 0 in 24 with 0.3 s, still 1 in about 40 with 0.3 s in the terminal case.
SHUTDOWN_DELIVERY_GRACE = 0.5


class VlmNode(Node):
    """Describes the camera's latest frame on request and periodically."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('vlm_node', **kwargs)
        try:
            self._make_parts()
        except BaseException:
            destroy_half_made(self)  # now, while the context lives (start_failure.py)
            raise

    def _make_parts(self) -> None:
        try:
            self._node_parameters = NodeParameters(self)
        except (SettingsError, ParameterException) as error:
            raise NodeStartError(self.get_logger().name, str(error)) from None
        settings = self._node_parameters.current
        self._closing = False  # destroy_node() has begun
        # Callbacks that wait on the model run on worker threads (see OffloadingExecutor);
        # everything else runs inline on the spinning thread.
        self.slow_callbacks = ReentrantCallbackGroup()
        # The cameras (the `cameras` parameter, or one on `image`); the first is the default.
        self._cameras = CameraSet(self, settings, None,
                                  lambda enabled: self._captions.enabled_changed(enabled))
        self._camera = self._cameras.default
        self._describer = SceneDescriber(
            self._camera.topic, settings().max_concurrent_requests,
            encode_with_cv_bridge_fallback)
        # History frames but the newest are stored as the model will get them.
        self._history_preparer = self._cameras.start_preparing(
            self._describer.encode, settings, self.get_logger().debug)
        self._captions = Captions(self, self._describer, self._cameras, settings,
                                  self.slow_callbacks, lambda d: self._gateway.on_caption(d))
        self._answers = SceneAnswers(self, self._describer, self._cameras, settings,
                                     self._captions, lambda: self._closing)
        self._service = self.create_service(
            DescribeScene, 'describe_scene', self._answers.on_describe_scene,
            callback_group=self.slow_callbacks)
        # Same name as the service; its execute callback also runs on the workers.
        self._action = SceneActionServer(self, 'describe_scene', self._answers.answer_goal)
        self._server_check = StartupServerCheck(self, self._describer, settings,
                                                self.slow_callbacks, self._captions.server_failed)
        self._health = NodeHealth(self, self._describer, settings, self._cameras.cameras,
                                  lambda: self._camera.enabled)
        self._alerts = AlertMonitor(self, self._describer, settings, self._cameras,
                                    self.slow_callbacks)
        self._gateway = GatewayBridge(
            self, self._describer, encode_with_cv_bridge_fallback, settings, self._cameras,
            lambda: None if self._camera.enabled else DISABLED_ERROR)
        self._gateway.alert_state = self._alerts.state
        for part in (self._captions, self._cameras):
            self._node_parameters.on_change(part.settings_changed)
        self._node_parameters.on_change(lambda old, new: self._alerts.apply(new))
        try:
            self._gateway.start_gateway()
        except OSError as error:
            raise NodeStartError(self.get_logger().name, (
                f'gateway_port {settings().gateway_port}: cannot listen on '
                f'{settings().gateway_host}: {error}')) from None
        self.get_logger().info(
            f"describing '{self._camera.topic}' with {settings().model} at "
            f'{settings().base_url}; service '
            f"'{self.resolve_service_name('describe_scene')}', captions every "
            f'{settings().caption_period:g} s')
        # The node is up: import the model client's openai now, off the start-up path; the
        # server check, the warm-up and the first request wait for it, nothing else does.
        load_openai_in_background()
        self._health.start()

    def create_publisher(self, *args: Any, **kwargs: Any) -> Any:
        """
        Create a publisher as Node does, without rclpy's default QoS-event handlers.

        rclpy gives every publisher two waitables that only log an incompatible QoS or type,
        and the executor walks every waitable on each wake: for this node's six publishers
        (parameter_events included, which Node.__init__ creates through this method) that
        measured 180 us per wake, up to two wakes per camera frame. The subscriber that asks
        for an incompatible QoS logs the mismatch itself (rviz, ros2 topic echo do), and a
        caller that wants the events still passes event_callbacks.
        """
        if kwargs.get('event_callbacks') is None:
            kwargs['event_callbacks'] = PublisherEventCallbacks(use_default_callbacks=False)
        return super().create_publisher(*args, **kwargs)

    @property
    def worker_threads(self) -> int:
        """Workers for slow callbacks: one per request slot, plus one for busy answers."""
        return self._node_parameters.current().max_concurrent_requests + 1

    def make_executor(self, context: Any = None) -> OffloadingExecutor:
        """Return the executor this node is meant to spin in."""
        executor = OffloadingExecutor(self.slow_callbacks, self.worker_threads, context=context)
        executor.set_error_logger(self.get_logger().error)
        executor.add_node(self)
        return executor

    def destroy_node(self) -> None:
        """
        End in-flight requests now, answer pending calls and goals, then destroy.

        Call it once spinning has stopped, from the thread that spun (as main() does): the
        goals' results go out from the executor's queue, which this runs. A harness that
        shuts its executor down first gets the service answers, not the goals' results.
        """
        self._closing = True
        executor = self.executor
        # Service calls, goals (or a caption) in progress: answered below.
        answering = isinstance(executor, OffloadingExecutor) and executor.offloaded > 0
        health = getattr(self, '_health', None)  # absent when __init__ failed
        if health is not None:
            health.stop()
        gateway = getattr(self, '_gateway', None)  # absent when __init__ failed
        if gateway is not None:
            gateway.close()
        cameras = getattr(self, '_cameras', None)
        if cameras is not None:
            cameras.close()  # their history preparation
        describer = getattr(self, '_describer', None)
        if describer is not None:
            describer.close()  # waiting requests and goals fail: 'vlm_node is shutting down'
        if isinstance(executor, OffloadingExecutor):
            # Their answers (and the goals' final states and results) go out before the
            # service and the action server are destroyed, not never.
            executor.finish_work(SHUTDOWN_REPLY_TIMEOUT)
            if answering and self.context.ok():
                time.sleep(SHUTDOWN_DELIVERY_GRACE)
        action = getattr(self, '_action', None)
        if action is not None:
            action.destroy()
        super().destroy_node()


def main(args: Optional[list[str]] = None) -> None:
    """Run vlm_node until Ctrl-C or SIGTERM; both end it with status 0."""
    # Our handlers, not rclpy's: rclpy's shut the context down at once, before pending calls
    # and running goals could be answered (see stop_signals.py).
    stop = StopSignals()
    stop.install()
    malloc_setting = keep_freed_frames_in_process()  # before the first frame is allocated
    node: Optional[VlmNode] = None
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        try:
            node = VlmNode()
            node.get_logger().debug(malloc_setting)
            executor = node.make_executor()  # kept: destroy_node() runs its remaining work
        except Exception:
            if rclpy.ok():
                raise
            # The context was shut down from another thread during start-up, and creating
            # the next entity failed because of it: a stop, not an error.
            raise ExternalShutdownException() from None
        stop.set_wake(executor.interrupt)  # a stop signal makes spin_until look
        executor.spin_until(stop.requested.is_set)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # ExternalShutdownException: the context was shut down elsewhere, a normal stop
    except (SettingsError, ParameterException) as error:
        # Under the node's full name: with several nodes, which one failed.
        name = error.logger_name if isinstance(error, NodeStartError) else 'vlm_node'
        rclpy.logging.get_logger(name).fatal(f'cannot start: {error}')
        guard_teardown(2)
        sys.exit(2)
    finally:
        stop.set_wake(None)  # nothing calls into the executor while it is torn down
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now_on()  # Python resets its own handlers while exiting


if __name__ == '__main__':
    main()
