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
Describe the latest camera frame: the request logic of vlm_node, without ROS.

The node hands in the latest frame, the prompt and the current settings; this module
checks the frame, bounds how many requests run at once, prepares the image and asks
the model. Every failure is a DescribeError with a reason for a person.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
import os
import threading
import time
from typing import Any, Callable, Optional, Sequence

from jetson_vlm_ros.core.daemon_workers import DaemonWorkers, WorkersClosedError
from jetson_vlm_ros.core.health import RequestStats
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.image_conversion import ImageConversionError
from jetson_vlm_ros.frames.image_encoding import encode_image_message, EncodedImage
from jetson_vlm_ros.model.streaming import Cancellation, StreamCancelled
from jetson_vlm_ros.model.vlm_client import VlmClient, VlmClosedError, VlmError, VlmRequest

# (message, max_size, jpeg_quality) -> JPEG; raises ImageConversionError.
ImageEncoder = Callable[[Any, int, int], EncodedImage]


@dataclass(frozen=True)
class Frame:
    """A camera message as received, with when and in which order it arrived."""

    message: Any
    received_at: float  # time.monotonic() at reception
    sequence: int


@dataclass(frozen=True)
class PreparedMessage:
    """
    A history frame's message once stored as it will be sent (history_preparation.py).

    Shaped like a sensor_msgs/CompressedImage, so the encoder forwards its JPEG as it is
    when it fits max_image_size (and downsizes it when it no longer does).
    """

    header: Any
    data: bytes = field(repr=False)
    width: int
    height: int
    max_image_size: int  # the settings it was prepared with
    jpeg_quality: int
    format: str = 'jpeg'  # noqa: A003 - the name of the message field


@dataclass(frozen=True)
class Description:
    """The model's answer about one frame (or several: frames)."""

    text: str
    prompt: str
    model: str
    latency: float  # seconds from the start of describe() to the answer
    frame: Frame  # the newest frame described
    # Where the time went, for the node's debug log.
    frame_age: float = 0.0  # seconds between reception of the (newest) frame and the request
    image: Optional[EncodedImage] = None  # what was sent to the model (the newest frame's)
    prepare_seconds: float = 0.0  # conversion, downsizing and JPEG encoding (all frames)
    model_seconds: float = 0.0  # waiting for the server's answer
    frames: tuple[Frame, ...] = ()  # every frame described, oldest first, when several
    # The camera of each of all_frames, when the request named cameras.
    cameras: tuple[str, ...] = ()
    # Every image sent, in the order of all_frames, when several (image is the last).
    images: tuple[EncodedImage, ...] = ()

    @property
    def all_frames(self) -> tuple[Frame, ...]:
        """Return every frame described, oldest first."""
        return self.frames or (self.frame,)


# on_text(answer so far, chunks so far), called as a streamed answer grows.
TextCallback = Callable[[str, int], None]


class DescribeError(RuntimeError):
    """A description could not be made; the text says why."""

    # The frames the request would have described (oldest first), where it got that far:
    # failure replies name them too (image_stamps). Set by answer_question.
    frames: tuple[Frame, ...] = ()
    cameras: tuple[str, ...] = ()  # the camera of each frame, when the request named cameras


class BusyError(DescribeError):
    """max_concurrent_requests requests are already in flight."""


class CancelledError(DescribeError):
    """The caller cancelled a streamed description; `text` is what had arrived."""

    def __init__(self, text: str = '') -> None:
        super().__init__('canceled')
        self.text = text


class RequestSlots:
    """Counts requests in flight and refuses any beyond the limit, without waiting."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Return how many requests hold a slot now."""
        return self._in_flight

    def try_acquire(self) -> bool:
        """Take a slot if one is free."""
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        """Give a slot back."""
        with self._lock:
            self._in_flight -= 1


class SceneDescriber:
    """Turns (latest frame, prompt, settings) into a Description or a DescribeError."""

    def __init__(self, image_source: str, max_concurrent_requests: int,
                 encoder: ImageEncoder = encode_image_message) -> None:
        self.image_source = image_source
        self.slots = RequestSlots(max_concurrent_requests)
        self.stats = RequestStats()
        # One worker per slot, so a request with a slot never queues for a worker.
        self._workers = DaemonWorkers(max_concurrent_requests)
        self._encoder = encoder
        # The frames of a multi-frame request are encoded in parallel: OpenCV releases the
        # GIL, and on 2 cores 4 1080p frames took 0.75x the time of one after the other
        # (bench/: frames). One core: no pool.
        cores = os.cpu_count() or 1
        self._encode_pool = (ThreadPoolExecutor(min(4, cores), thread_name_prefix='encode')
                             if cores > 1 else None)
        self._client: Optional[VlmClient] = None
        self._client_key: Optional[tuple[str, str, float]] = None
        self._client_lock = threading.Lock()
        self._closed = False

    def close(self) -> None:
        """End waiting requests now (they fail with 'shutting down') and close connections."""
        self._workers.close()
        if self._encode_pool is not None:
            self._encode_pool.shutdown(wait=False)
        with self._client_lock:  # never held while a client is built (see client_for)
            self._closed = True
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def client_for(self, settings: VlmSettings) -> VlmClient:
        """Return the shared client, rebuilt only when the server settings changed."""
        key = (settings.base_url, settings.api_key, settings.request_timeout)
        with self._client_lock:
            if self._closed:
                raise VlmClosedError('the VLM client was closed (shutting down)')
            if self._client is not None and self._client_key == key:
                return self._client
        # Built without the lock: the first one imports openai (seconds on a busy Jetson),
        # and close() at shutdown must not wait for that.
        client = VlmClient(settings.base_url, settings.api_key, settings.request_timeout)
        with self._client_lock:
            if self._closed:
                client.close()
                raise VlmClosedError('the VLM client was closed (shutting down)')
            if self._client is not None and self._client_key == key:
                client.close()  # another thread built one meanwhile: use that one
                return self._client
            # An old client is left to the garbage collector rather than closed: another
            # thread may still be mid-request on it.
            self._client, self._client_key = client, key
            return client

    def check_frame(self, frame: Optional[Frame], settings: VlmSettings,
                    now: float, source: Optional[str] = None) -> Frame:
        """Return the frame if it may be described, else raise DescribeError."""
        source = source or self.image_source  # another topic, for the gateway
        if frame is None:
            raise DescribeError(f"no image received yet on '{source}'")
        age = now - frame.received_at
        if settings.max_image_age > 0 and age > settings.max_image_age:
            raise DescribeError(
                f"the latest image on '{source}' is {age:.1f} s old, older than "
                f'max_image_age ({settings.max_image_age:g} s): is the camera still publishing?')
        return frame

    def describe(self, frame: Optional[Frame], prompt: str, settings: VlmSettings,
                 on_text: Optional[TextCallback] = None,
                 cancellation: Optional[Cancellation] = None) -> Description:
        """
        Describe the frame; raise BusyError when no slot is free, DescribeError on failure.

        With on_text the answer is streamed to it as it grows, and cancelling the given
        cancellation ends the request at once with CancelledError (its slot is freed).
        Every outcome is counted in `stats`.
        """
        def run() -> Description:
            started = time.monotonic()
            checked = self.check_frame(frame, settings, started)
            return self.describe_frames(
                [checked], prompt, settings, started, on_text=on_text,
                cancellation=cancellation)

        return self.counted(run)

    def counted(self, request: Callable[[], Description]) -> Description:
        """Run one request (a describe_frames call and its checks), counting its outcome."""
        try:
            description = request()
        except BusyError:
            self.stats.record_busy()
            raise
        except CancelledError:
            self.stats.record_cancel()
            raise
        except DescribeError as error:
            self.stats.record_failure(str(error))
            raise
        self.stats.record_success(description.latency)
        return description

    def describe_frames(self, frames: Sequence[Frame], prompt: str, settings: VlmSettings,
                        started: Optional[float] = None,
                        image_name: str = 'the latest image',
                        response_format: Optional[dict[str, Any]] = None,
                        on_text: Optional[TextCallback] = None,
                        cancellation: Optional[Cancellation] = None,
                        labels: Optional[Sequence[str]] = None) -> Description:
        """
        Describe frames (oldest first) in one request; checked frames only, not counted.

        Several frames are sent each after a label with its age ('frame 1 of 4, 3.0 s
        ago'), or after the given labels (one per frame, also for a single frame);
        image_name names a single frame in errors; response_format is passed to the server
        as is; on_text and cancellation as for describe(). Raises BusyError when no slot is
        free, DescribeError on failure.
        """
        started = time.monotonic() if started is None else started
        prompt = prompt if prompt.strip() else settings.prompt
        if not self.slots.try_acquire():
            raise BusyError(
                f'busy: {self.slots.limit} VLM request(s) already in flight '
                f'(max_concurrent_requests); try again shortly')
        try:
            prepare_started = time.monotonic()
            request, images = self.prepare_request(
                frames, prompt, settings, started, image_name, response_format, labels)
            try:
                client = self.client_for(settings)
            except VlmClosedError:
                raise DescribeError('vlm_node is shutting down') from None
            if on_text is None:
                def call() -> str:
                    return client.complete(request)
            else:
                token = cancellation or Cancellation()

                def call() -> str:
                    return client.stream(request, on_text, token)
            model_started = time.monotonic()
            try:
                text = self._workers.run(call)
            except VlmError as error:
                raise DescribeError(str(error)) from None
            except StreamCancelled as cancelled:
                raise CancelledError(cancelled.text) from None
            except WorkersClosedError:
                raise DescribeError('vlm_node is shutting down') from None
        finally:
            self.slots.release()
        finished = time.monotonic()
        return Description(
            text, prompt, settings.model, finished - started, frames[-1],
            frame_age=started - frames[-1].received_at, image=images[-1],
            prepare_seconds=model_started - prepare_started,
            model_seconds=finished - model_started,
            frames=tuple(frames) if len(frames) > 1 else (),
            images=tuple(images) if len(images) > 1 else ())

    def prepare_request(self, frames: Sequence[Frame], prompt: str, settings: VlmSettings,
                        now: float, image_name: str = 'the latest image',
                        response_format: Optional[dict[str, Any]] = None,
                        labels: Optional[Sequence[str]] = None,
                        ) -> tuple[VlmRequest, list[EncodedImage]]:
        """Encode the frames and build the request; raise DescribeError for a bad frame."""
        several = len(frames) > 1 or labels is not None  # sent as labelled images
        if labels is None:
            labels = frame_labels(frames, now) if several else [image_name]

        def encode(index: int) -> EncodedImage:
            return self.encode(frames[index], settings, labels[index].rstrip(':'))

        # Frames the history stored prepared cost a copy, no pool hand-over: only the frames
        # still raw (the latest, any not yet prepared) are worth encoding in parallel.
        raw = [index for index, frame in enumerate(frames)
               if not isinstance(frame.message, PreparedMessage)]
        if len(raw) > 1 and self._encode_pool is not None:
            encoded = dict(zip(raw, self._encode_pool.map(encode, raw), strict=True))
            images = [encoded[index] if index in encoded else encode(index)
                      for index in range(len(frames))]
        else:
            images = [encode(index) for index in range(len(frames))]
        urls = [image.data_url() for image in images]
        request = VlmRequest(
            model=settings.model, prompt=prompt, image_data_url=urls[-1],
            system_prompt=settings.system_prompt, max_tokens=settings.max_tokens,
            temperature=settings.temperature,
            labelled_images=tuple(zip(labels, urls, strict=True)) if several else (),
            response_format=response_format)
        return request, images

    def encode(self, frame: Frame, settings: VlmSettings, name: str) -> EncodedImage:
        """Encode a frame as it is sent to the model; raise DescribeError naming it."""
        try:
            return self._encoder(frame.message, settings.max_image_size, settings.jpeg_quality)
        except ImageConversionError as error:
            raise DescribeError(f'cannot use {name}: {error}') from None
        except Exception as error:  # noqa: B902 - e.g. cv2.error on a frame we misjudged
            raise DescribeError(f'cannot use {name}: {type(error).__name__}: {error}') from None


def frame_labels(frames: Sequence[Frame], now: float) -> list[str]:
    """Return the text announcing each frame to the model: 'frame 1 of 4, 3.0 s ago'."""
    count = len(frames)
    return [f'frame {number} of {count}, {max(0.0, now - frame.received_at):.1f} s ago'
            for number, frame in enumerate(frames, 1)]
