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
The gateway's view of vlm_node: frames of its cameras and of other image topics, on demand.

Sources: 'latest' (the default camera), a camera's name (`ros://front`), or a topic; a
camera's own topic is served from that camera, never subscribed twice.
Other topics (`ros:///topic`) are subscribed on first use with the camera's QoS, at most
gateway_max_topics at once, and dropped after IDLE_TOPIC_S unused. Everything here is
called from the gateway's worker threads; subscription callbacks only store a reference
and, while clients keep asking about their source (gateway_prepare_ahead), hand the new
frame to a thread that prepares it before the next request needs it.
"""

from collections import defaultdict, deque
from dataclasses import dataclass, replace
import statistics
import threading
import time
from typing import Any, Callable, Optional, TYPE_CHECKING

import cv2
from jetson_vlm_ros.core.daemon_workers import DaemonWorkers, WorkersClosedError
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.caption_drawing import draw_caption, frame_as_sent
from jetson_vlm_ros.gateway.gateway_guard import is_loopback
from jetson_vlm_ros.model.scene_describer import (
    DescribeError, Description, Frame, ImageEncoder, SceneDescriber)
from jetson_vlm_ros.ros.camera_input import CameraInput
from jetson_vlm_ros.ros.camera_set import CameraSet
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile
from sensor_msgs.msg import CompressedImage, Image

if TYPE_CHECKING:  # imported by start_gateway: aiohttp (0.4 s, 35 MB) only when served
    from jetson_vlm_ros.gateway.openai_gateway import OpenAiGateway

IMAGE_TYPES = {'sensor_msgs/msg/Image': Image,
               'sensor_msgs/msg/CompressedImage': CompressedImage}
# An extra topic nobody asked about for this long is unsubscribed.
IDLE_TOPIC_S = 60.0
# A topic subscribed just now gets this long to deliver its first frame.
FIRST_FRAME_WAIT_S = 2.0
# A frame is prepared ahead this long after it arrived, not at once: the spinning thread
# and the other subscribers of the camera are still busy with it then. On the 2-core bench
# machine, starting at once made the camera path dearer (bench figure 10, camera path in
# interleaved runs: 1.13 against 1.09 with gateway_prepare_ahead 0, and 1.10 with this
# delay; means of 9, 9 and 6 runs).
AHEAD_START_DELAY_S = 0.008
RECENT_CAPTIONS = 20
RECENT_PREPARATIONS = 50
# Which frame a prepared image is, and how it was prepared:
# (sequence, received_at, max_image_size, jpeg_quality).
PreparedKey = tuple[int, float, int, int]


@dataclass
class PreparationCounts:
    """How the gateway prepared the frames of one source."""

    prepared: int = 0  # frames prepared
    ahead: int = 0  # of those, on arrival, before a request asked (gateway_prepare_ahead)
    reused: int = 0  # requests that found their frame prepared (or being prepared)


class _TopicFrames:
    """The latest frame of one extra topic, and when it was last asked for."""

    def __init__(self, topic: str, arrived: Callable[[str, Frame], None]) -> None:
        self.topic = topic
        self._on_frame = arrived
        self.subscription: Any = None
        self.latest: Optional[Frame] = None
        self.received = 0
        self.last_used = time.monotonic()
        self.arrived = threading.Event()

    def on_message(self, msg: Any) -> None:
        self.received += 1
        self.latest = Frame(msg, time.monotonic(), self.received)
        self.arrived.set()
        self._on_frame(self.topic, self.latest)


class GatewayBridge:
    """Implements openai_gateway.GatewayBackend on top of the node."""

    def __init__(self, node: Node, describer: SceneDescriber, encoder: ImageEncoder,
                 settings: Callable[[], VlmSettings], cameras: CameraSet,
                 refusal: Callable[[], Optional[str]]) -> None:
        self._node = node
        self._describer = describer
        self.slots = describer.slots
        self._encoder = encoder
        self.settings = settings
        self._cameras = cameras
        self._default = cameras.default
        self._camera_topics = {camera.topic: camera for camera in cameras.cameras}
        self._camera_names = [camera.name for camera in cameras.cameras if camera.name]
        # As the camera's: sensor data, depth 1.
        self._qos = QoSProfile(
            history=qos_profile_sensor_data.history, depth=1,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability)
        self.refusal = refusal
        self._topics: dict[str, _TopicFrames] = {}
        self._lock = threading.Lock()
        self.recent_captions: deque = deque(maxlen=RECENT_CAPTIONS)
        # The last prepared image per source: clients asking about the same frame (several
        # at once, or one faster than the camera) share one preparation, and one that is
        # under way is waited for, not repeated.
        self._prepared: dict[str, tuple[PreparedKey, bytes]] = {}
        self._preparing: set[tuple[str, PreparedKey]] = set()
        self._prepared_changed = threading.Condition()
        # Source -> time.monotonic() until which its new frames are prepared on arrival.
        self._ahead_until: dict[str, float] = {}
        self._ahead_queued: set[str] = set()
        self._ahead_worker: Optional[DaemonWorkers] = None
        self._counts: defaultdict[str, PreparationCounts] = defaultdict(PreparationCounts)
        # Seconds each recent preparation took (JPEG and data URL), for /health.
        self._prepare_times: deque = deque(maxlen=RECENT_PREPARATIONS)
        self.alert_state: Callable[[], dict[str, Any]] = lambda: {'rules': [], 'period': 0.0}
        self._drop_timer = node.create_timer(IDLE_TOPIC_S / 6, self._drop_unused)
        self.gateway: Optional[OpenAiGateway] = None
        cameras.add_frame_listener(lambda camera, frame: self.frame_arrived(camera.topic, frame))

    def start_gateway(self) -> None:
        """Serve the gateway when gateway_port > 0; raise OSError when the port is taken."""
        settings = self.settings()
        if settings.gateway_port <= 0:
            return
        logger = self._node.get_logger()
        from jetson_vlm_ros.gateway.openai_gateway import OpenAiGateway

        def log(level: str, text: str) -> None:
            getattr(logger, level)(text)

        self.gateway = OpenAiGateway(self, settings.gateway_host, settings.gateway_port,
                                     settings.gateway_max_body_mb, log)
        self._ahead_worker = DaemonWorkers(1, 'gateway-prepare')
        self.gateway.start()
        logger.info(f'OpenAI-compatible gateway on {self.gateway.url}/v1 (status page: '
                    f'{self.gateway.url}/)')
        if not is_loopback(settings.gateway_host) and not settings.gateway_api_key:
            logger.warning(
                f"gateway_host '{settings.gateway_host}' serves other machines and "
                f'gateway_api_key is empty: anyone on the network can see the camera and use '
                f'the model. Set gateway_api_key (see README, Security).')

    def close(self) -> None:
        """Stop the gateway (its in-flight requests end) and drop extra subscriptions."""
        if self.gateway is not None:
            self.gateway.stop()
        if self._ahead_worker is not None:
            self._ahead_worker.close()
        with self._lock:
            topics, self._topics = list(self._topics.values()), {}
        for entry in topics:
            self._node.destroy_subscription(entry.subscription)

    def on_caption(self, description: Description) -> None:
        """Remember a published caption for the status page."""
        stamp = description.frame.message.header.stamp
        self.recent_captions.append({
            'text': description.text, 'model': description.model,
            'latency': round(description.latency, 3),
            'stamp': stamp.sec + stamp.nanosec * 1e-9, 'time': time.time()})

    # --- GatewayBackend ----------------------------------------------------------------

    def prepared_data_url(self, source: str, settings: VlmSettings) -> bytes:
        """
        Return the latest frame of source as the node would send it; raise DescribeError.

        source: 'latest' (the default camera), a camera's name, or a topic.
        """
        camera = self._camera(source)
        if camera is not None:
            frame, name = camera.latest_frame, camera.topic
        elif source.startswith('/'):
            frame, name = self._topic_frame(source, settings), source
        else:
            raise DescribeError(f"no camera named '{source}': this node's cameras are "
                                f"{', '.join(self._camera_names) or '(one unnamed camera)'}")
        now = time.monotonic()
        self._ahead_until[name] = now + settings.gateway_prepare_ahead
        try:
            frame = self._describer.check_frame(frame, settings, now, name)
        except DescribeError as error:
            if camera is None or source == 'latest' or source.startswith('/'):
                raise
            # As a question across cameras says it: which camera, then why.
            raise type(error)(f"camera '{source}': {error}") from None
        return self._prepare(name, frame, settings, ahead=False)

    def _camera(self, source: str) -> Optional[CameraInput]:
        """Return the camera that source names ('latest', a name or its topic), or None."""
        if source == 'latest':
            return self._default
        if source.startswith('/'):
            return self._camera_topics.get(source)
        return self._cameras.named(source) if source else None

    def camera_names(self) -> list[str]:
        """Return the node's named cameras, the default first (none: one unnamed camera)."""
        return list(self._camera_names)

    def frame_arrived(self, source: str, frame: Frame) -> None:
        """
        Take note of a new frame of source (the camera topic or an extra topic).

        Called on the spinning thread for every frame: while clients keep asking about
        source, the frame is prepared on the gateway's own thread, not here.
        """
        if frame.received_at > self._ahead_until.get(source, 0.0):
            return
        worker = self._ahead_worker
        with self._prepared_changed:
            if worker is None or source in self._ahead_queued:
                return  # the queued preparation takes the newest frame when it runs
            self._ahead_queued.add(source)
        try:
            worker.submit(lambda: self._prepare_ahead(source))
        except WorkersClosedError:
            pass  # shutting down

    def _prepare_ahead(self, source: str) -> None:
        frame = self._newest_frame(source)
        if frame is not None:
            time.sleep(max(0.0, frame.received_at + AHEAD_START_DELAY_S - time.monotonic()))
        with self._prepared_changed:
            self._ahead_queued.discard(source)  # frames arriving from now on queue anew
        frame = self._newest_frame(source)
        if frame is None:
            return
        try:
            self._prepare(source, frame, self.settings(), ahead=True)
        except DescribeError:
            pass  # a frame that cannot be prepared: the request that asks for it says why
        except Exception as error:  # noqa: B902 - nobody waits on this thread to hear it
            self._node.get_logger().error(
                f"gateway: preparing a frame of '{source}' failed: {type(error).__name__}: "
                f'{error}')

    def _newest_frame(self, source: str) -> Optional[Frame]:
        camera = self._camera_topics.get(source)
        if camera is not None:
            return camera.latest_frame
        with self._lock:
            entry = self._topics.get(source)
        return None if entry is None else entry.latest

    def _prepare(self, name: str, frame: Frame, settings: VlmSettings, ahead: bool) -> bytes:
        """Return frame as a data URL: the cached one, the one under way, or a new one."""
        key: PreparedKey = (frame.sequence, frame.received_at, settings.max_image_size,
                            settings.jpeg_quality)
        with self._prepared_changed:
            while (name, key) in self._preparing:
                self._prepared_changed.wait()
            cached = self._prepared.get(name)
            if cached is not None and cached[0] == key:
                if not ahead:
                    self._counts[name].reused += 1
                return cached[1]
            self._preparing.add((name, key))
        url: Optional[bytes] = None
        started = time.perf_counter()
        try:
            url = self._describer.encode(frame, settings, 'the latest image').data_url_bytes()
            return url
        finally:
            with self._prepared_changed:
                self._preparing.discard((name, key))
                if url is not None:
                    cached = self._prepared.get(name)
                    if cached is None or cached[0][0] <= key[0]:  # never an older frame
                        self._prepared[name] = (key, url)
                    self._counts[name].prepared += 1
                    if ahead:
                        self._counts[name].ahead += 1
                    self._prepare_times.append(time.perf_counter() - started)
                self._prepared_changed.notify_all()

    def image_topics(self) -> list[str]:
        """Return the image topics on the ROS graph."""
        return sorted(name for name, types in self._node.get_topic_names_and_types()
                      if any(kind in IMAGE_TYPES for kind in types))

    def camera_state(self, name: Optional[str] = None) -> dict[str, Any]:
        """Return a camera's topic, frames received, and latest frame's age (default camera)."""
        camera = self._default if name is None else self._cameras.named(name)
        if camera is None:
            raise KeyError(f"no camera named '{name}'")
        frame = camera.latest_frame
        counts = self.preparation_counts(camera.topic)
        return {'topic': camera.topic,
                'frames_received': 0 if frame is None else frame.sequence,
                'age_s': None if frame is None
                else round(time.monotonic() - frame.received_at, 3),
                'gateway_frames_prepared': counts.prepared,
                'gateway_frames_prepared_ahead': counts.ahead,
                'gateway_frames_reused': counts.reused,
                'gateway_prepare_ms': self._median_prepare_ms()}

    def preparation_counts(self, source: str) -> PreparationCounts:
        """Return a copy of how the frames of source (a topic name) were prepared so far."""
        with self._prepared_changed:
            return replace(self._counts.get(source, PreparationCounts()))

    def _median_prepare_ms(self) -> Optional[float]:
        with self._prepared_changed:
            times = list(self._prepare_times)
        return round(statistics.median_high(times) * 1e3, 2) if times else None

    def status(self) -> dict[str, Any]:
        """Return what the status page shows."""
        alerts = self.alert_state()
        return {'camera': self.camera_state(),
                'cameras': {name: self.camera_state(name) for name in self._camera_names},
                'default_camera': self._default.name or None,
                'captions': list(self.recent_captions),
                'alerts': alerts, 'model': self.settings().model,
                'requests_in_flight': self.slots.in_flight}

    def status_frame(self, settings: VlmSettings,
                     camera: Optional[str] = None) -> Optional[bytes]:
        """
        Return a camera's latest frame as prepared for the model (default: default camera).

        The default camera's frame carries the last caption (captions describe it).
        """
        source = self._default if camera is None else self._cameras.named(camera)
        frame = None if source is None else source.latest_frame
        if frame is None:
            return None
        try:
            image = self._encoder(frame.message, settings.max_image_size,
                                  settings.jpeg_quality)
            if not self.recent_captions or source is not self._default:
                return image.jpeg
            pixels = frame_as_sent(image)
            if pixels is None:
                return image.jpeg
            drawn = draw_caption(pixels, self.recent_captions[-1]['text'])
            return cv2.imencode('.jpg', drawn, [cv2.IMWRITE_JPEG_QUALITY,
                                                settings.jpeg_quality])[1].tobytes()
        except Exception:  # noqa: B902 - a broken frame shows as no frame
            return None

    # --- extra topics --------------------------------------------------------------------

    def _topic_frame(self, topic: str, settings: VlmSettings) -> Optional[Frame]:
        with self._lock:
            entry = self._topics.get(topic)
        if entry is None:
            entry = self._subscribe(topic, settings)
        entry.last_used = time.monotonic()
        entry.arrived.wait(FIRST_FRAME_WAIT_S)
        return entry.latest

    def _subscribe(self, topic: str, settings: VlmSettings) -> _TopicFrames:
        types = dict(self._node.get_topic_names_and_types()).get(topic)
        if not types:
            raise DescribeError(f"unknown topic '{topic}': nothing publishes it on the ROS "
                                f'graph')
        kinds = [IMAGE_TYPES[kind] for kind in types if kind in IMAGE_TYPES]
        if not kinds:
            raise DescribeError(f"topic '{topic}' carries {', '.join(types)}, not "
                                f'sensor_msgs/msg/Image or sensor_msgs/msg/CompressedImage')
        with self._lock:
            entry = self._topics.get(topic)
            if entry is not None:
                return entry
            if len(self._topics) >= settings.gateway_max_topics:
                raise DescribeError(
                    f"cannot subscribe '{topic}': the gateway already follows "
                    f'{len(self._topics)} image topics (gateway_max_topics); a topic unused '
                    f'for {IDLE_TOPIC_S:g} s is dropped')
            entry = _TopicFrames(topic, self.frame_arrived)
            entry.subscription = self._node.create_subscription(
                kinds[0], topic, entry.on_message, self._qos)
            self._topics[topic] = entry
        self._node.get_logger().info(f"gateway: subscribed '{topic}' ({types[0]})")
        return entry

    def _drop_unused(self) -> None:
        now = time.monotonic()
        with self._lock:
            idle = [topic for topic, entry in self._topics.items()
                    if now - entry.last_used > IDLE_TOPIC_S]
            dropped = [self._topics.pop(topic) for topic in idle]
        with self._prepared_changed:
            for topic in idle:
                self._prepared.pop(topic, None)
                self._ahead_until.pop(topic, None)
        for topic, entry in zip(idle, dropped, strict=True):
            self._node.destroy_subscription(entry.subscription)
            self._node.get_logger().info(f"gateway: unsubscribed '{topic}' (unused)")

    @property
    def extra_topics(self) -> list[str]:
        """Return the extra topics subscribed now."""
        with self._lock:
            return list(self._topics)
