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
vlm_node: wires the scene describer to ROS topics, a service, parameters and a timer.

Threading, chosen by measurement (see bench/): an OffloadingExecutor runs the camera,
parameter and publishing work inline, as cheaply as rclpy.spin, and hands the service and
the caption timer, which wait on the model, to one worker per request slot plus one for
busy answers. The image callback only stores a reference to the message (the latest frame
and the frame history): the latest frame is converted per request; a frame the history
keeps is prepared once, on a thread of its own, as it will be sent (history_preparation.py).
"""

import array
import sys
import threading
import time
from typing import Any, Optional, Union

from jetson_vlm_interfaces.msg import Caption
from jetson_vlm_interfaces.srv import DescribeScene
from jetson_vlm_ros.core.health import CameraFacts
from jetson_vlm_ros.core.settings import (
    PARAMETERS, PARAMETERS_BY_NAME, ParameterSpec, settings_from, SettingsError, VlmSettings)
from jetson_vlm_ros.frames.caption_drawing import draw_caption, frame_as_sent
from jetson_vlm_ros.frames.frame_history import FrameHistory
from jetson_vlm_ros.frames.frame_memory import keep_freed_frames_in_process
from jetson_vlm_ros.frames.history_preparation import HistoryPreparer
from jetson_vlm_ros.frames.image_conversion import (
    ImageConversionError, PixelArray, UnsupportedEncodingError)
from jetson_vlm_ros.frames.image_encoding import encode_any_message, encode_pixels, EncodedImage
from jetson_vlm_ros.frames.scene_change import SceneChangeGate
from jetson_vlm_ros.model.scene_describer import (
    BusyError, CancelledError, DescribeError, Description, Frame, SceneDescriber, TextCallback)
from jetson_vlm_ros.model.scene_question import (
    answer_question, describe_for_caption, question_from_request, SceneQuestion)
from jetson_vlm_ros.model.streaming import Cancellation
from jetson_vlm_ros.model.vlm_client import load_openai_in_background, VlmClosedError, VlmError
from jetson_vlm_ros.ros.alert_monitor import AlertMonitor
from jetson_vlm_ros.ros.gateway_bridge import GatewayBridge
from jetson_vlm_ros.ros.node_health import NodeHealth
from jetson_vlm_ros.ros.offloading_executor import OffloadingExecutor
from jetson_vlm_ros.ros.scene_action import SceneActionServer
from jetson_vlm_ros.ros.stop_signals import StopSignals
import numpy as np
from rcl_interfaces.msg import (
    FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult)
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.exceptions import ParameterException, ParameterUninitializedException
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from rclpy.qos_overriding_options import QoSOverridingOptions
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import String
from std_srvs.srv import SetBool

try:  # Iron and later
    from rclpy.event_handler import PublisherEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import PublisherEventCallbacks

DISABLED_ERROR = ('vlm_node is disabled: call its enable service (std_srvs/SetBool) with '
                  'data: true to resume')
# A failing caption is logged when its reason changes, and otherwise at most this often.
CAPTION_ERROR_LOG_PERIOD = 30.0
# The start-up check of the server gives up after this many seconds.
SERVER_CHECK_TIMEOUT = 3.0
# At shutdown, service calls still pending get their 'shutting down' answer within this time.
SHUTDOWN_REPLY_TIMEOUT = 2.0
# ... and then this long to reach their clients before the process's DDS participant goes:
# rclpy exposes no acknowledgement for service replies (an action's result is one). Measured
# with test_goal_at_shutdown.py on a loaded 2-core VM: results lost 1 time in 24 with no
# wait, 0 in 24 with 0.3 s, still 1 in about 40 with 0.3 s in the terminal case.
SHUTDOWN_DELIVERY_GRACE = 0.5


def _descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    # dynamic_typing: a value of the wrong type reaches our validation, whose reason names
    # the parameter and the expected type (rclpy's own check names neither).
    descriptor = ParameterDescriptor(
        description=spec.description, read_only=spec.read_only,
        dynamic_typing=not isinstance(spec.default, tuple),
        additional_constraints=f'valid: {spec.valid_values()}')
    if isinstance(spec.default, bool):
        pass  # no range: true or false
    elif isinstance(spec.default, float):
        descriptor.floating_point_range = [FloatingPointRange(
            from_value=float(spec.min_value), to_value=float(spec.max_value))]
    elif isinstance(spec.default, int):
        descriptor.integer_range = [IntegerRange(
            from_value=int(spec.min_value), to_value=int(spec.max_value), step=1)]
    return descriptor


def _doubles_as_doubles(parameters: list[Parameter]) -> list[Parameter]:
    # `ros2 param set /vlm_node caption_period 2` (or `caption_period: 2` in YAML) sends an
    # integer; a documented double stays a double, as `ros2 param describe` and `dump` show it.
    return [Parameter(p.name, Parameter.Type.DOUBLE, float(p.value)) if _is_int_for_double(p)
            else p for p in parameters]


def _is_int_for_double(parameter: Parameter) -> bool:
    spec = PARAMETERS_BY_NAME.get(parameter.name)
    return (spec is not None and isinstance(spec.default, float)
            and parameter.type_ == Parameter.Type.INTEGER)


def encode_with_cv_bridge_fallback(msg: Any, max_size: int, jpeg_quality: int) -> EncodedImage:
    """Encode with our converters; for other raw encodings use cv_bridge where installed."""
    try:
        return encode_any_message(msg, max_size, jpeg_quality)
    except UnsupportedEncodingError as error:
        try:
            from cv_bridge import CvBridge
        except ImportError:
            raise error from None
    try:
        bgr = CvBridge().imgmsg_to_cv2(msg, desired_encoding='bgr8')
    except Exception as bridge_error:  # noqa: B902 - cv_bridge raises several unrelated types
        raise ImageConversionError(
            f"cv_bridge cannot convert encoding '{msg.encoding}': {bridge_error}") from None
    return encode_pixels(PixelArray(bgr, 'BGR'), max_size, jpeg_quality)


class NodeStartError(SettingsError):
    """VlmNode cannot start on this configuration; logger_name is its full one (front.vlm_node)."""

    def __init__(self, logger_name: str, reason: str) -> None:
        super().__init__(reason)
        self.logger_name = logger_name


class VlmNode(Node):
    """Describes the camera's latest frame on request and periodically."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('vlm_node', **kwargs)
        try:
            self._settings: VlmSettings = self._declare_parameters()
        except (SettingsError, ParameterException) as error:
            raise NodeStartError(self.get_logger().name, str(error)) from None
        if hasattr(self, 'add_pre_set_parameters_callback'):  # Iron and later, not Humble
            self.add_pre_set_parameters_callback(_doubles_as_doubles)
        self._alerts: Optional[AlertMonitor] = None  # made below, once the frame state is
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._closing = False  # destroy_node() has begun
        self._latest_frame: Optional[Frame] = None
        self._history = FrameHistory(self._settings.history_size, self._settings.history_seconds)
        self._frames_received = 0
        self._last_captioned_sequence = -1
        self._caption_error: tuple[str, float] = ('', 0.0)
        self._scene_gate = SceneChangeGate()  # caption_min_change

        if self._settings.image_transport == 'compressed':
            # As image_transport names it: the resolved (remapped) base topic + /compressed.
            self._image_type = CompressedImage
            self._image_topic = self.resolve_topic_name('image') + '/compressed'
        else:
            self._image_type, self._image_topic = Image, self.resolve_topic_name('image')
        self._image_sub = None
        self._image_qos: Optional[QoSProfile] = None
        self._subscribed_at = time.monotonic()
        self._enabled = self._settings.start_enabled
        if self._enabled:
            self._subscribe_camera()
        self._describer = SceneDescriber(
            self._image_topic, self._settings.max_concurrent_requests,
            encode_with_cv_bridge_fallback)
        # History frames but the newest are stored as the model will get them.
        self._history_preparer = HistoryPreparer(
            self._history, lambda frame, settings: self._describer.encode(
                frame, settings, f'history frame {frame.sequence}'),
            lambda: self._settings, self.get_logger().debug)

        self._caption_pub = self.create_publisher(String, 'caption', 10)
        self._caption_stamped_pub = self.create_publisher(Caption, 'caption_stamped', 10)
        self._caption_image_pub = self.create_publisher(Image, 'caption_image', 1)
        self._caption_images_drawn = 0
        # Callbacks that wait on the model run on worker threads (see OffloadingExecutor);
        # everything else runs inline on the spinning thread.
        self.slow_callbacks = ReentrantCallbackGroup()
        self._service = self.create_service(
            DescribeScene, 'describe_scene', self._on_describe_scene,
            callback_group=self.slow_callbacks)
        # Same name as the service; its execute callback also runs on the workers.
        self._action = SceneActionServer(self, 'describe_scene', self._answer_goal)
        self._enable_service = self.create_service(SetBool, 'enable', self._on_enable)
        self._caption_running = threading.Lock()
        self._caption_timer = None
        self._schedule_captions(self._settings.caption_period if self._enabled else 0.0)
        self._server_check = self.create_timer(
            0.0, self._check_server, callback_group=self.slow_callbacks)
        self._health = NodeHealth(self, self._describer, lambda: self._settings,
                                  self._camera_facts, lambda: self._enabled)
        # Alerts and the OpenAI-compatible gateway (issue 9): their own modules.
        self._alerts = AlertMonitor(self, self._describer, lambda: self._settings,
                                    lambda: self._latest_frame, self.slow_callbacks)
        self._gateway = GatewayBridge(
            self, self._describer, encode_with_cv_bridge_fallback, lambda: self._settings,
            lambda: self._latest_frame, self._image_topic,
            lambda: None if self._enabled else DISABLED_ERROR)
        self._gateway.alert_state = self._alerts.state
        try:
            self._gateway.start_gateway()
        except OSError as error:
            raise NodeStartError(self.get_logger().name, (
                f'gateway_port {self._settings.gateway_port}: cannot listen on '
                f'{self._settings.gateway_host}: {error}')) from None
        self.get_logger().info(
            f"describing '{self._image_topic}' with {self._settings.model} at "
            f'{self._settings.base_url}; service '
            f"'{self.resolve_service_name('describe_scene')}', captions every "
            f'{self._settings.caption_period:g} s')
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

    def _declare_parameters(self) -> VlmSettings:
        for spec in PARAMETERS:
            self._declare(spec)
        declared_ints = [p for p in self.get_parameters([s.name for s in PARAMETERS])
                         if _is_int_for_double(p)]
        if declared_ints:
            self.set_parameters(_doubles_as_doubles(declared_ints))
        # Raises SettingsError naming the parameter: the node does not start on bad config.
        return settings_from(
            {spec.name: self.get_parameter(spec.name).value for spec in PARAMETERS})

    def _declare(self, spec: ParameterSpec) -> None:
        if not isinstance(spec.default, tuple):
            self.declare_parameter(spec.name, spec.default, _descriptor(spec))
            return
        # rclpy reads an empty list as a byte array: declare string arrays by type, then
        # give them their default unless the params file or command line set one.
        self.declare_parameter(spec.name, Parameter.Type.STRING_ARRAY, _descriptor(spec))
        try:
            self.get_parameter(spec.name)
        except ParameterUninitializedException:
            self.set_parameters([Parameter(
                spec.name, Parameter.Type.STRING_ARRAY, list(spec.default))])

    @property
    def worker_threads(self) -> int:
        """Workers for slow callbacks: one per request slot, plus one for busy answers."""
        return self._settings.max_concurrent_requests + 1

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
        preparer = getattr(self, '_history_preparer', None)
        if preparer is not None:
            preparer.close()
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

    # --- callbacks -------------------------------------------------------------------

    def _on_image(self, msg: Union[Image, CompressedImage]) -> None:
        # Keep a reference only: conversion waits until a request needs this frame.
        self._frames_received += 1
        self._latest_frame = Frame(msg, time.monotonic(), self._frames_received)
        kept = self._history.add(self._latest_frame)
        if kept is not None:  # about 3 a second at the defaults, not one per frame
            self._history_preparer.frame_kept(kept)
        self._gateway.frame_arrived(self._image_topic, self._latest_frame)

    def _on_describe_scene(self, request: DescribeScene.Request,
                           response: DescribeScene.Response) -> DescribeScene.Response:
        return self._answer(question_from_request(request), response)

    def _answer_goal(self, goal: Any, answer: Any, on_text: Optional[TextCallback] = None,
                     cancellation: Optional[Cancellation] = None) -> Any:
        # The action's goal has the service request's fields.
        return self._answer(question_from_request(goal), answer, on_text, cancellation)

    def _answer(self, question: SceneQuestion, answer: Any,
                on_text: Optional[TextCallback] = None,
                cancellation: Optional[Cancellation] = None) -> Any:
        """Fill a service response or action result (same fields) for one question."""
        started = time.monotonic()
        settings = self._settings
        answer.model = settings.model
        if not self._enabled:
            answer.success, answer.error = False, DISABLED_ERROR
            answer.latency = time.monotonic() - started
            return answer
        frame = self._latest_frame
        try:
            description = answer_question(
                self._describer, question, self._history.frames(), settings,
                on_text=on_text, cancellation=cancellation)
        except Exception as error:  # noqa: B902 - a request is answered, whatever went wrong
            if not isinstance(error, DescribeError):
                self.get_logger().error(f'describe_scene: unexpected {error!r}')
            answer.success = False
            answer.error = str(error)
            if isinstance(error, CancelledError):
                answer.description = error.text
            elif not self._closing:  # at shutdown every pending call fails alike: no news
                self.get_logger().warning(f'describe_scene failed: {error}')
            # The frames it would have described (none when it failed before choosing).
            frames = getattr(error, 'frames', ())
            answer.image_stamps = [f.message.header.stamp for f in frames]
            if frames:
                answer.image_stamp = frames[-1].message.header.stamp
            elif question.image is not None:
                answer.image_stamp = question.image.header.stamp
            elif frame is not None:
                answer.image_stamp = frame.message.header.stamp
            answer.latency = time.monotonic() - started  # until the failure
            return answer
        self._log_request('describe_scene', description)
        answer.success = True
        answer.description = description.text
        answer.image_stamp = description.frame.message.header.stamp
        answer.image_stamps = [f.message.header.stamp for f in description.all_frames]
        answer.latency = description.latency
        if settings.caption_image_answers:
            self._publish_caption_image(description)
        return answer

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response
                   ) -> SetBool.Response:
        if request.data != self._enabled:
            self._enabled = request.data
            if request.data:
                self._subscribe_camera()
                self._schedule_captions(self._settings.caption_period)
            else:
                # Destroying the subscription stops frame delivery: no CPU for the camera.
                self.destroy_subscription(self._image_sub)
                self._image_sub = None
                self._latest_frame = None
                self._history.clear()  # paused: no old frames described later, none held
                self._schedule_captions(0.0)
            self.get_logger().info('enabled' if request.data else
                                   'disabled: camera unsubscribed, captions stopped, '
                                   'requests refused')
        response.success = True
        response.message = 'enabled' if self._enabled else 'disabled'
        return response

    def _on_caption_timer(self) -> None:
        # Skip the tick while the previous caption still runs: the rhythm stays the period's.
        if not self._caption_running.acquire(blocking=False):
            return
        try:
            self._caption_latest_frame()
        finally:
            self._caption_running.release()

    def _caption_latest_frame(self) -> None:
        frame = self._latest_frame
        if frame is None or frame.sequence == self._last_captioned_sequence:
            return  # nothing new to say
        settings = self._settings
        if not self._scene_gate.should_caption(frame.message, settings.caption_min_change):
            self._describer.stats.record_unchanged_skip()  # shown in /diagnostics
            self.get_logger().debug(
                f'caption skipped: the scene changed {self._scene_gate.last_change:.3f} < '
                f'caption_min_change {settings.caption_min_change:g} since the last caption '
                f'({self._scene_gate.skipped} skipped so far)')
            return
        try:
            description = describe_for_caption(
                self._describer, self._history.frames(), settings)
        except BusyError:
            return  # service calls hold every slot; the next tick tries again
        except Exception as error:  # noqa: B902 - the timer must keep its rhythm
            self._log_caption_error(str(error))
            return
        self._last_captioned_sequence = description.frame.sequence
        self._scene_gate.captioned()
        self._caption_error = ('', 0.0)
        self._log_request('caption', description)
        self._publish_caption(description)

    def _check_server(self) -> None:
        self._server_check.cancel()
        self.destroy_timer(self._server_check)
        settings = self._settings
        client = self._describer.client_for(settings)
        try:
            models = client.list_models(min(settings.request_timeout, SERVER_CHECK_TIMEOUT))
        except VlmClosedError:
            return  # the node is being destroyed: nothing to tell the operator
        except VlmError as error:
            # One line for the operator; identical caption failures stay quiet for a while.
            self._caption_error = (str(error), time.monotonic())
            hint = (' (or with Docker: `docker run -d -p 11434:11434 ollama/ollama`)'
                    if str(error).startswith('cannot reach') else '')
            self.get_logger().warning(
                f'{error}{hint}; the node keeps running and retries on every request')
            return
        if models and settings.model not in models:
            self.get_logger().warning(
                f"the server at {settings.base_url} does not list model '{settings.model}' "
                f"(it has: {', '.join(models[:10])}); pull it with `ollama pull "
                f'{settings.model}`')
        else:
            self.get_logger().info(f'VLM server at {settings.base_url} is up')

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if _is_int_for_double(parameter):  # Humble: no pre-set callback converted it
                return SetParametersResult(successful=False, reason=(
                    f"parameter '{parameter.name}' is a double: write {parameter.value}.0"))
        ours = {p.name: p.value for p in parameters if p.name in PARAMETERS_BY_NAME}
        try:
            settings = self._settings.updated(ours)
        except SettingsError as error:
            return SetParametersResult(successful=False, reason=str(error))
        if settings.caption_period != self._settings.caption_period and self._enabled:
            self._schedule_captions(settings.caption_period)
        if (settings.history_size, settings.history_seconds) != (
                self._settings.history_size, self._settings.history_seconds):
            self._history.resize(settings.history_size, settings.history_seconds)
        self._settings = settings
        if self._alerts is not None:
            self._alerts.apply(settings)
        return SetParametersResult(successful=True)

    # --- helpers ---------------------------------------------------------------------

    def _camera_facts(self) -> CameraFacts:
        now = time.monotonic()
        frame = self._latest_frame
        return CameraFacts(
            topic=self._image_topic, enabled=self._enabled,
            frames_received=self._frames_received,
            latest_age=None if frame is None else now - frame.received_at,
            since_start=now - self._subscribed_at,
            publishers=self.count_publishers(self._image_topic),
            max_image_age=self._settings.max_image_age)

    def _subscribe_camera(self) -> None:
        if self._image_qos is None:
            # First time: declare the qos_overrides parameters and apply what they say.
            qos = QoSProfile(
                history=qos_profile_sensor_data.history, depth=1,
                reliability=qos_profile_sensor_data.reliability,
                durability=qos_profile_sensor_data.durability)
            self._image_sub = self.create_subscription(
                self._image_type, self._image_topic, self._on_image, qos,
                qos_overriding_options=QoSOverridingOptions.with_default_policies())
            self._image_qos = self._image_sub.qos_profile
        else:  # after `enable`: the same QoS, without declaring the parameters again
            self._image_sub = self.create_subscription(
                self._image_type, self._image_topic, self._on_image, self._image_qos)
        self._subscribed_at = time.monotonic()

    def _schedule_captions(self, period: float) -> None:
        if self._caption_timer is not None:
            self._caption_timer.cancel()
            self.destroy_timer(self._caption_timer)
            self._caption_timer = None
        if period > 0:
            self._caption_timer = self.create_timer(
                period, self._on_caption_timer, callback_group=self.slow_callbacks)

    def _log_request(self, what: str, description: Description) -> None:
        image = description.image
        prepared = (f'{image.width}x{image.height} JPEG of {len(image.jpeg)} bytes'
                    if image is not None else 'no image')
        frames = len(description.all_frames)
        if frames > 1:
            prepared = f'{frames} frames, the latest a {prepared},'
        self.get_logger().debug(
            f'{what}: frame age {description.frame_age * 1000:.0f} ms, prepared {prepared} '
            f'in {description.prepare_seconds * 1000:.1f} ms, model '
            f'{description.model_seconds:.3f} s, total {description.latency:.3f} s')

    def _publish_caption(self, description: Description) -> None:
        self._caption_pub.publish(String(data=description.text))
        self._caption_stamped_pub.publish(Caption(
            header=description.frame.message.header, text=description.text,
            prompt=description.prompt, model=description.model, latency=description.latency))
        self.get_logger().info(f'caption ({description.latency:.2f} s): {description.text}')
        self._publish_caption_image(description)
        self._gateway.on_caption(description)

    def _publish_caption_image(self, description: Description) -> None:
        image = description.image
        if (not self._settings.publish_caption_image or image is None
                or self._caption_image_pub.get_subscription_count() == 0):
            return  # nothing is drawn for nobody
        try:
            pixels = frame_as_sent(image)
            if pixels is None:
                return
            drawn = draw_caption(pixels, description.text)
        except Exception as error:  # noqa: B902 - a drawing problem must not stop captions
            self.get_logger().warning(f'cannot draw the caption image: {error!r}')
            return
        self._caption_images_drawn += 1
        height, width = drawn.shape[:2]
        msg = Image(header=description.frame.message.header, height=height, width=width,
                    encoding='bgr8', is_bigendian=0, step=width * 3)
        # One memcpy: rclpy copies bytes into its array element by element (2 ms at 896x504,
        # measured), an array.array of typecode 'B' with memcpy.
        pixels_array = array.array('B')
        pixels_array.frombytes(np.ascontiguousarray(drawn).data)
        msg.data = pixels_array
        self._caption_image_pub.publish(msg)

    def _log_caption_error(self, reason: str) -> None:
        last_reason, last_time = self._caption_error
        now = time.monotonic()
        if reason != last_reason or now - last_time >= CAPTION_ERROR_LOG_PERIOD:
            self.get_logger().warning(f'caption failed: {reason}')
            self._caption_error = (reason, now)


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
        sys.exit(2)
    finally:
        stop.set_wake(None)  # nothing calls into the executor while it is torn down
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        stop.ignore_from_now_on()  # Python resets its own handlers while exiting


if __name__ == '__main__':
    main()
