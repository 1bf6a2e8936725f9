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
Health of vlm_node for /diagnostics, without ROS: one status per concern.

`camera` (frames, rate, age of the latest; one per camera: `camera NAME` for each named
camera), `vlm server` (reachable, model listed, warm-up) and `requests` (counters and
latency). Each status is computed afresh from the current
facts on every tick, so a level goes back to OK by itself as soon as the fault clears.
The node turns these into diagnostic_msgs/DiagnosticStatus, the shape diagnostic_updater
gives (name prefixed by the node, hardware_id, key/value pairs).
"""

from dataclasses import dataclass, field
import threading
from typing import Optional

# Levels as diagnostic_msgs/DiagnosticStatus numbers them.
OK, WARN, ERROR = 0, 1, 2
# A camera is ERROR when silent for this many times max_image_age.
SILENT_FACTOR = 10.0
# Staleness limit used when max_image_age is 0 (no limit for describing).
DEFAULT_STALE_AGE = 2.0


@dataclass
class Status:
    """One concern's health: what DiagnosticStatus carries."""

    name: str
    level: int
    message: str
    hardware_id: str = ''
    values: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class CameraFacts:
    """What the node knows about its camera at one moment."""

    topic: str
    enabled: bool
    frames_received: int
    latest_age: Optional[float]  # seconds since the latest frame arrived; None: none yet
    since_start: float  # seconds since the subscription was (re)created
    publishers: int
    max_image_age: float


def camera_status_name(camera: str) -> str:
    """Return the status name of a camera: 'camera' for the unnamed one, else 'camera NAME'."""
    return f'camera {camera}' if camera else 'camera'


class CameraHealth:
    """Turns one camera's CameraFacts into a status; remembers the last count for the rate."""

    def __init__(self, camera: str = '') -> None:
        self.camera = camera  # '': the single unnamed camera on `image`
        self.name = camera_status_name(camera)
        self._last: Optional[tuple[float, int]] = None  # (time, frames) at the last tick

    def status(self, facts: CameraFacts, now: float) -> Status:
        """Return the camera status at time now (monotonic seconds)."""
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = max(0, facts.frames_received - self._last[1]) / (now - self._last[0])
        self._last = (now, facts.frames_received)
        # A named camera says its name among the values too (monitors that show only those).
        values = [('camera', self.camera)] if self.camera else []
        values += [('topic', facts.topic), ('enabled', str(facts.enabled)),
                   ('frames received', str(facts.frames_received)),
                   ('rate (Hz)', f'{rate:.1f}'),
                   ('age of latest (s)', '-' if facts.latest_age is None
                    else f'{facts.latest_age:.2f}'),
                   ('publishers', str(facts.publishers))]
        stale = facts.max_image_age or DEFAULT_STALE_AGE
        if not facts.enabled:
            return Status(self.name, OK, 'disabled: not subscribed (call the enable service)',
                          facts.topic, values)
        if facts.latest_age is None:
            if facts.since_start <= stale:
                level, message = OK, 'waiting for the first frame'
            elif facts.publishers:
                level = ERROR if facts.since_start > SILENT_FACTOR * stale else WARN
                message = (f'{facts.publishers} publisher(s) on {facts.topic} but no frame '
                           f'received in {facts.since_start:.0f} s: the QoS probably does not '
                           f'match (check `ros2 topic info -v {facts.topic}`); override it in '
                           f'the params file with qos_overrides.{facts.topic}.subscription.'
                           f'reliability: reliable or best_effort')
            else:
                level = ERROR if facts.since_start > SILENT_FACTOR * stale else WARN
                message = (f'no frame received in {facts.since_start:.0f} s and no publisher on '
                           f'{facts.topic}: is the camera running and the topic remapped?')
            return Status(self.name, level, message, facts.topic, values)
        if facts.latest_age > SILENT_FACTOR * stale:
            return Status(self.name, ERROR, f'no frame for {facts.latest_age:.0f} s',
                          facts.topic, values)
        if facts.latest_age > stale:
            return Status(self.name, WARN,
                          f'latest frame is {facts.latest_age:.1f} s old, older than '
                          f'max_image_age ({stale:g} s)', facts.topic, values)
        return Status(self.name, OK, f'{rate:.1f} Hz', facts.topic, values)


class ServerHealth:
    """What the periodic GET /models check and the warm-up found; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked = False
        self._error = ''
        self._models: list[str] = []
        self.warm_up = 'off'  # 'off', 'pending', 'running', 'done in X s', 'failed: ...'

    def check_succeeded(self, models: list[str]) -> None:
        """Record a successful GET /models."""
        with self._lock:
            self._checked, self._error, self._models = True, '', list(models)

    def check_failed(self, error: str) -> None:
        """Record a failed GET /models (its error text names the fix); no models are known."""
        with self._lock:
            # The last good check's list would read as today's while the server is down.
            self._checked, self._error, self._models = True, error, []

    @property
    def reachable(self) -> bool:
        """Return whether the last check reached the server."""
        with self._lock:
            return self._checked and not self._error

    def model_listed(self, model: str) -> bool:
        """Return whether the last check listed model (servers listing nothing pass)."""
        with self._lock:
            return not self._models or model in self._models

    def status(self, base_url: str, model: str, last_request_error: str) -> Status:
        """Return the vlm server status for the current settings."""
        with self._lock:
            checked, error, models = self._checked, self._error, list(self._models)
        values = [('base_url', base_url), ('model', model),
                  ('reachable', 'unknown' if not checked else str(not error)),
                  ('models listed', ', '.join(models[:20]) or '-'),
                  ('warm-up', self.warm_up), ('last error', last_request_error or '-')]
        if not checked:
            return Status('vlm server', OK, 'not checked yet', base_url, values)
        if error:
            return Status('vlm server', ERROR, error, base_url, values)
        if models and model not in models:
            return Status('vlm server', ERROR,
                          f"the server does not list model '{model}': pull it with "
                          f'`ollama pull {model}`', base_url, values)
        return Status('vlm server', OK, f"reachable, model '{model}' available",
                      base_url, values)


class RequestStats:
    """Counters of VLM requests (service, action and captions); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.succeeded = 0
        self.failed = 0
        self.busy = 0
        self.cancelled = 0
        self.unchanged_skips = 0  # periodic captions skipped: scene unchanged
        self.last_latency: Optional[float] = None
        self._latency_sum = 0.0
        self.last_error = ''
        self._last_failed = False

    def record_success(self, latency: float) -> None:
        """Count an answer."""
        with self._lock:
            self.succeeded += 1
            self.last_latency = latency
            self._latency_sum += latency
            self._last_failed = False

    def record_failure(self, error: str) -> None:
        """Count a failed request."""
        with self._lock:
            self.failed += 1
            self.last_error = error
            self._last_failed = True

    def record_busy(self) -> None:
        """Count a request refused because every slot was taken."""
        with self._lock:
            self.busy += 1

    def record_cancel(self) -> None:
        """Count a request its caller cancelled."""
        with self._lock:
            self.cancelled += 1

    def record_unchanged_skip(self) -> None:
        """Count a caption skipped because the scene changed less than caption_min_change."""
        with self._lock:
            self.unchanged_skips += 1

    def status(self, in_flight: int, limit: int, enabled: bool) -> Status:
        """Return the requests status."""
        with self._lock:
            mean = self._latency_sum / self.succeeded if self.succeeded else None
            values = [('enabled', str(enabled)), ('in flight', f'{in_flight} of {limit}'),
                      ('succeeded', str(self.succeeded)), ('failed', str(self.failed)),
                      ('busy refusals', str(self.busy)), ('cancelled', str(self.cancelled)),
                      ('captions skipped, scene unchanged', str(self.unchanged_skips)),
                      ('last latency (s)', '-' if self.last_latency is None
                       else f'{self.last_latency:.2f}'),
                      ('mean latency (s)', '-' if mean is None else f'{mean:.2f}'),
                      ('last error', self.last_error or '-')]
            last_failed, last_error = self._last_failed, self.last_error
        if not enabled:
            return Status('requests', OK, 'disabled: requests are refused', '', values)
        if last_failed:
            return Status('requests', WARN, f'last request failed: {last_error}', '', values)
        return Status('requests', OK, f'{in_flight} in flight', '', values)
