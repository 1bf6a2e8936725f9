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

from dataclasses import dataclass
import threading
import time
from typing import Any, Callable, Optional

from jetson_vlm_ros.daemon_workers import DaemonWorkers, WorkersClosedError
from jetson_vlm_ros.health import RequestStats
from jetson_vlm_ros.image_conversion import ImageConversionError
from jetson_vlm_ros.image_encoding import encode_image_message, EncodedImage
from jetson_vlm_ros.settings import VlmSettings
from jetson_vlm_ros.streaming import Cancellation, StreamCancelled
from jetson_vlm_ros.vlm_client import VlmClient, VlmError, VlmRequest

# (message, max_size, jpeg_quality) -> JPEG; raises ImageConversionError.
ImageEncoder = Callable[[Any, int, int], EncodedImage]


@dataclass(frozen=True)
class Frame:
    """A camera message as received, with when and in which order it arrived."""

    message: Any
    received_at: float  # time.monotonic() at reception
    sequence: int


@dataclass(frozen=True)
class Description:
    """The model's answer about one frame."""

    text: str
    prompt: str
    model: str
    latency: float  # seconds from the start of describe() to the answer
    frame: Frame
    # Where the time went, for the node's debug log.
    frame_age: float = 0.0  # seconds between reception of the frame and the request
    image: Optional[EncodedImage] = None  # what was sent to the model
    prepare_seconds: float = 0.0  # conversion, downsizing and JPEG encoding
    model_seconds: float = 0.0  # waiting for the server's answer


# on_text(answer so far, chunks so far), called as a streamed answer grows.
TextCallback = Callable[[str, int], None]


class DescribeError(RuntimeError):
    """A description could not be made; the text says why."""


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
        self._client: Optional[VlmClient] = None
        self._client_key: Optional[tuple[str, str, float]] = None
        self._client_lock = threading.Lock()

    def close(self) -> None:
        """End waiting requests now (they fail with 'shutting down') and close connections."""
        self._workers.close()
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def client_for(self, settings: VlmSettings) -> VlmClient:
        """Return the shared client, rebuilt only when the server settings changed."""
        key = (settings.base_url, settings.api_key, settings.request_timeout)
        with self._client_lock:
            client = self._client
            if client is None or self._client_key != key:
                # The old client is left to the garbage collector rather than closed:
                # another thread may still be mid-request on it.
                client = VlmClient(settings.base_url, settings.api_key, settings.request_timeout)
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
        try:
            description = self._describe(frame, prompt, settings, on_text, cancellation)
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

    def _describe(self, frame: Optional[Frame], prompt: str, settings: VlmSettings,
                  on_text: Optional[TextCallback],
                  cancellation: Optional[Cancellation]) -> Description:
        started = time.monotonic()
        frame = self.check_frame(frame, settings, started)
        prompt = prompt if prompt.strip() else settings.prompt
        if not self.slots.try_acquire():
            raise BusyError(
                f'busy: {self.slots.limit} VLM request(s) already in flight '
                f'(max_concurrent_requests); try again shortly')
        try:
            try:
                prepare_started = time.monotonic()
                image = self._encoder(
                    frame.message, settings.max_image_size, settings.jpeg_quality)
            except ImageConversionError as error:
                raise DescribeError(f'cannot use the latest image: {error}') from None
            except Exception as error:  # noqa: B902 - e.g. cv2.error on a frame we misjudged
                raise DescribeError(
                    f'cannot use the latest image: {type(error).__name__}: {error}') from None
            request = VlmRequest(
                model=settings.model, prompt=prompt, image_data_url=image.data_url(),
                system_prompt=settings.system_prompt, max_tokens=settings.max_tokens,
                temperature=settings.temperature)
            client = self.client_for(settings)
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
            text, prompt, settings.model, finished - started, frame,
            frame_age=started - frame.received_at, image=image,
            prepare_seconds=model_started - prepare_started,
            model_seconds=finished - model_started)
