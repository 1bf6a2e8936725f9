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
The node's parameters: one table of names, defaults, ranges and descriptions.

The node declares ROS parameters from this table and validates every value with it, at
start-up and at run time, so the rules live in one place that tests can read without ROS.
"""

from dataclasses import dataclass, fields, replace
import re
from typing import Any, Callable, Mapping, Optional, Union
from urllib.parse import urlparse

from jetson_vlm_ros.alerts.alert_rules import rules_problem
from jetson_vlm_ros.core.camera_choice import ALL_CAMERAS, camera_choice_problem
from jetson_vlm_ros.gateway.gateway_guard import host_entry_problem, origin_entry_problem

Value = Union[str, int, float, bool, tuple[str, ...]]


class SettingsError(ValueError):
    """A parameter value is out of its range; the text names the parameter and the range."""


def _non_empty(value: str) -> Optional[str]:
    return None if value.strip() else 'must not be empty'


def _http_url(value: str) -> Optional[str]:
    parsed = urlparse(value)
    if parsed.scheme not in ('http', 'https') or not parsed.netloc:
        return "must be an http:// or https:// URL, e.g. 'http://localhost:11434/v1'"
    return None


def _image_transport(value: str) -> Optional[str]:
    return None if value in IMAGE_TRANSPORTS else f"must be one of {', '.join(IMAGE_TRANSPORTS)}"


# Like image_transport: 'raw' subscribes `image` (sensor_msgs/Image), 'compressed'
# subscribes `<image>/compressed` (sensor_msgs/CompressedImage).
IMAGE_TRANSPORTS = ('raw', 'compressed')


_NAME_TOKEN = re.compile(r'[A-Za-z_][A-Za-z0-9_]*')


def camera_name_problem(name: str) -> Optional[str]:
    """Return why name cannot name a camera (a relative ROS name, not 'all'), or None."""
    if name == ALL_CAMERAS:
        return f"'{ALL_CAMERAS}' is reserved (a request's word for every camera)"
    if name == 'latest':
        return "'latest' is reserved (the gateway's ros://latest is the default camera)"
    if not all(_NAME_TOKEN.fullmatch(token) for token in name.split('/')):
        return (f"'{name}' is not a relative ROS name (letters, digits and underscores, "
                f"not starting with a digit, tokens joined by '/')")
    return None


def _cameras(values: tuple[str, ...]) -> Optional[str]:
    repeated = sorted({name for name in values if values.count(name) > 1})
    if repeated:
        return f"names a camera twice: {', '.join(repeated)}"
    return next(filter(None, map(camera_name_problem, values)), None)


def _camera_choice(values: tuple[str, ...]) -> Optional[str]:
    return camera_choice_problem(values, None)  # the names are checked against cameras later


def _host(value: str) -> Optional[str]:
    if value.strip() and ' ' not in value:
        return None
    return "must be a host name or address, e.g. '127.0.0.1'"


def _host_names(values: tuple[str, ...]) -> Optional[str]:
    return next(filter(None, map(host_entry_problem, values)), None)


def _origins(values: tuple[str, ...]) -> Optional[str]:
    return next(filter(None, map(origin_entry_problem, values)), None)


@dataclass(frozen=True)
class ParameterSpec:
    """One parameter: its default, what it means and which values it accepts."""

    name: str
    default: Value
    description: str
    min_value: Optional[Union[int, float]] = None
    max_value: Optional[Union[int, float]] = None
    # Read once at start-up (it sizes the executor); changing it needs a restart.
    read_only: bool = False
    # Returns why a value is invalid, or None: for rules a numeric range cannot express.
    check: Optional[Callable[[Any], Optional[str]]] = None

    def valid_values(self) -> str:
        """Describe the accepted values, for error messages."""
        if isinstance(self.default, bool):
            return 'true or false'
        if self.min_value is not None:
            return f'[{self.min_value}, {self.max_value}]'
        if self.check is _non_empty:
            return 'a non-empty string'
        if self.check is _http_url:
            return 'an http:// or https:// URL'
        if self.check is _image_transport:
            return ' or '.join(f"'{name}'" for name in IMAGE_TRANSPORTS)
        if self.check is _host:
            return 'a host name or address'
        if self.check is _host_names:
            return 'a list of host names or addresses'
        if self.check is _origins:
            return "a list of origins like 'http://localhost:3000'"
        if self.check is _cameras:
            return 'a list of distinct relative ROS names, e.g. ["front", "rear"]'
        if self.check is _camera_choice:
            return f"a list of names from 'cameras', or ['{ALL_CAMERAS}']"
        if isinstance(self.default, tuple):
            return 'a list of strings'
        return 'any string'

    def problem(self, value: Any) -> Optional[str]:
        """Return why value is not valid for this parameter, or None when it is."""
        expected = type(self.default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if expected is tuple and isinstance(value, list):
            value = tuple(value)  # string arrays arrive from ROS as lists
        if expected is tuple and not all(isinstance(item, str) for item in value or ()):
            return 'must be a list of strings'
        if type(value) is not expected:
            return f'must be of type {expected.__name__}, got {type(value).__name__}'
        if self.min_value is not None and not self.min_value <= value <= self.max_value:
            return f'{value} is outside {self.valid_values()}'
        return self.check(value) if self.check else None


PARAMETERS: tuple[ParameterSpec, ...] = (
    ParameterSpec('model', 'gemma3:4b',
                  'Model name as the server knows it (Ollama: see `ollama list`).',
                  check=_non_empty),
    ParameterSpec('base_url', 'http://localhost:11434/v1',
                  'OpenAI-compatible API root of the VLM server (Ollama: port 11434, /v1).',
                  check=_http_url),
    ParameterSpec('api_key', 'ollama',
                  'API key sent as a bearer token; Ollama ignores it. Never logged. Empty: '
                  'taken from the OPENAI_API_KEY environment variable.'),
    ParameterSpec('prompt',
                  'Describe what the robot camera sees in one or two short sentences.',
                  'Prompt for periodic captions and for service calls with an empty prompt.',
                  check=_non_empty),
    ParameterSpec('system_prompt', '',
                  'System message sent before the prompt; empty sends none.'),
    ParameterSpec('caption_period', 5.0,
                  'Seconds between periodic captions of the latest frame; 0 turns them off.',
                  0.0, 3600.0),
    ParameterSpec('max_tokens', 128, 'Most tokens the model may answer with.', 1, 8192),
    ParameterSpec('temperature', 0.2, 'Sampling temperature; 0 is the most repeatable.',
                  0.0, 2.0),
    ParameterSpec('request_timeout', 30.0,
                  'Seconds to wait for the VLM server before a request fails.', 0.1, 600.0),
    ParameterSpec('max_image_size', 896,
                  'Longest image side sent to the model, in pixels (gemma3 sees 896x896); '
                  'larger frames are downsized, smaller ones are never upscaled.', 32, 8192),
    ParameterSpec('jpeg_quality', 85, 'JPEG quality of the image sent to the model.', 1, 100),
    ParameterSpec('max_image_age', 2.0,
                  'Seconds after which the latest frame counts as stale and is not described; '
                  '0 means no limit. Measured from when the node received it.', 0.0, 3600.0),
    ParameterSpec('max_concurrent_requests', 2,
                  'Most VLM requests in flight at once (captions included); further service '
                  'calls are answered at once with a busy error.', 1, 16, read_only=True),
    ParameterSpec('image_transport', 'raw',
                  "How the camera arrives: 'raw' subscribes `image` (sensor_msgs/Image), "
                  "'compressed' subscribes `image/compressed` (sensor_msgs/CompressedImage, "
                  'JPEG or PNG, as image_transport publishes it).',
                  read_only=True, check=_image_transport),
    ParameterSpec('cameras', (),
                  'Named cameras, e.g. ["front", "rear"]: each subscribes `NAME/image` (or '
                  '`NAME/image/compressed`), remappable, and requests may name them (cameras '
                  "field, 'all' for every one). The first is the default camera (requests "
                  'naming none, captions, alert rules naming none, the gateway); empty: one '
                  'camera on `image`.', read_only=True, check=_cameras),
    ParameterSpec('caption_cameras', (),
                  'Cameras the periodic caption covers, by name (`cameras`): several are '
                  "captioned together in one call (a surround caption); 'all': every camera; "
                  'empty: the default camera.', check=_camera_choice),
    ParameterSpec('diagnostics_period', 1.0,
                  'Seconds between /diagnostics messages (camera, vlm server, requests); '
                  '0 turns diagnostics and the periodic server check off.', 0.0, 60.0,
                  read_only=True),
    ParameterSpec('warm_up', True,
                  'Right after start, send one tiny image so the server loads the model '
                  'before the first real question; never delays start-up or a request.',
                  read_only=True),
    ParameterSpec('start_enabled', True,
                  'Start enabled; false starts paused (no camera subscription, no captions, '
                  'requests refused) until the enable service is called with true.',
                  read_only=True),
    ParameterSpec('publish_caption_image', True,
                  'Publish caption_image: the captioned frame (as sent to the model) with the '
                  'caption drawn on it. Nothing is drawn while the topic has no subscriber.'),
    ParameterSpec('caption_image_answers', False,
                  'Also publish service and action answers on caption_image, drawn on the '
                  'frame they describe.'),
    # --- OpenAI-compatible gateway and alerts (issue 9; see openai_gateway.py) -----------
    ParameterSpec('gateway_port', 0,
                  'TCP port of the OpenAI-compatible HTTP gateway; 0 turns it off.', 0, 65535,
                  read_only=True),
    ParameterSpec('gateway_host', '127.0.0.1',
                  'Address the gateway listens on; anything but loopback should have '
                  'gateway_api_key set.', read_only=True, check=_host),
    ParameterSpec('gateway_api_key', '',
                  'Bearer token clients of the gateway must send; empty: none asked. Never '
                  'logged.'),
    ParameterSpec('gateway_max_body_mb', 20,
                  'Largest request body the gateway accepts, in MB (413 above).', 1, 1024,
                  read_only=True),
    ParameterSpec('gateway_max_topics', 4,
                  'Most extra image topics the gateway subscribes at once (ros:///topic); '
                  'one unused for a minute is dropped.', 0, 64),
    ParameterSpec('gateway_prepare_ahead', 2.0,
                  'Seconds after a gateway request about the camera or a topic during which '
                  'its new frames are prepared (JPEG, data URL) shortly after they arrive, so '
                  'the next request waits for the model only; 0 prepares frames on request '
                  'only.',
                  0.0, 60.0),
    # --- who may use the gateway (issue 21; see gateway_guard.py) ---
    ParameterSpec('gateway_allowed_hosts', (),
                  'More names the gateway answers to (Host header, port ignored), besides '
                  'localhost, 127.0.0.1, ::1 and gateway_host (and, when not on loopback, '
                  'the machine host name and any IP address); e.g. ["robot.lan"]. Others get '
                  '421 (no DNS rebinding).', check=_host_names),
    ParameterSpec('gateway_allowed_origins', (),
                  'Web origins besides its own that may use the gateway from a browser, '
                  'with CORS headers; e.g. ["http://localhost:3000"]. Other Origin headers '
                  'get 403.', check=_origins),
    ParameterSpec('alert_rules', (),
                  'Yes/no questions about the camera, e.g. "Is a person in the doorway?"; '
                  'rules looking at the same cameras are asked in one model call per '
                  'alert_period. A prefix names the cameras a rule looks at: "[rear] Is a '
                  'person behind the robot?", "[front, rear] ...", "[all] ..."; without '
                  'one, the default camera.'),
    ParameterSpec('alert_period', 0.0,
                  'Seconds between alert checks of the latest frame; 0 turns alerts off.',
                  0.0, 3600.0),
    ParameterSpec('alert_cooldown', 30.0,
                  'Seconds after an alert is published before the same rule may alert again.',
                  0.0, 86400.0),
    # --- several frames, structured answers, gated captions (issue 8) ---
    ParameterSpec('history_size', 32,
                  'Most camera frames kept for multi-frame requests, spread over '
                  'history_seconds (a reference each, no copy: memory grows by up to this '
                  'many frames); 1 keeps only the latest.', 1, 1000),
    ParameterSpec('history_seconds', 10.0,
                  'Seconds of camera frames kept, back from the newest, at least '
                  'history_seconds / history_size apart; 0 = the last history_size frames '
                  'at full rate.', 0.0, 3600.0),
    ParameterSpec('max_frames', 8,
                  'Most frames one request may ask for (num_frames).', 1, 64),
    ParameterSpec('caption_frames', 1,
                  'Frames per periodic caption, spread over the caption period (what '
                  'happened since the last caption); 1 = the latest frame only.', 1, 64),
    ParameterSpec('caption_min_change', 0.0,
                  'Skip a periodic caption when the scene changed less than this since the '
                  'last caption (mean absolute difference of tiny grey thumbnails / 255); '
                  '0 = always caption.', 0.0, 1.0),
)

# Parameters that choose among the `cameras`.
CAMERA_CHOICES = ('caption_cameras',)

PARAMETERS_BY_NAME: dict[str, ParameterSpec] = {spec.name: spec for spec in PARAMETERS}


@dataclass(frozen=True)
class VlmSettings:
    """A validated snapshot of every parameter."""

    model: str
    base_url: str
    api_key: str
    prompt: str
    system_prompt: str
    caption_period: float
    max_tokens: int
    temperature: float
    request_timeout: float
    max_image_size: int
    jpeg_quality: int
    max_image_age: float
    max_concurrent_requests: int
    image_transport: str
    cameras: tuple[str, ...]
    caption_cameras: tuple[str, ...]
    diagnostics_period: float
    warm_up: bool
    start_enabled: bool
    publish_caption_image: bool
    caption_image_answers: bool
    gateway_port: int
    gateway_host: str
    gateway_api_key: str
    gateway_max_body_mb: int
    gateway_max_topics: int
    gateway_prepare_ahead: float
    gateway_allowed_hosts: tuple[str, ...]
    gateway_allowed_origins: tuple[str, ...]
    alert_rules: tuple[str, ...]
    alert_period: float
    alert_cooldown: float
    # issue 8
    history_size: int
    history_seconds: float
    max_frames: int
    caption_frames: int
    caption_min_change: float

    def __repr__(self) -> str:
        """Show every field but the API key, so a logged settings object leaks no secret."""
        shown = ', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in fields(self)
                          if f.name not in ('api_key', 'gateway_api_key'))
        return f'VlmSettings({shown}, api_key=<hidden>, gateway_api_key=<hidden>)'

    def updated(self, changes: Mapping[str, Value]) -> 'VlmSettings':
        """Return a copy with changes applied, or raise SettingsError naming the first bad one."""
        clean: dict[str, Value] = {}
        for name, value in changes.items():
            spec = PARAMETERS_BY_NAME.get(name)
            if spec is None:
                raise SettingsError(f"unknown parameter '{name}'")
            problem = spec.problem(value)
            if problem:
                raise SettingsError(
                    f"invalid value for parameter '{name}': {problem} "
                    f'(valid: {spec.valid_values()})')
            if isinstance(spec.default, tuple):
                value = tuple(value)
            clean[name] = float(value) if isinstance(spec.default, float) else value
        updated = replace(self, **clean)
        for name in CAMERA_CHOICES:  # each alone is valid; these must name known cameras
            problem = camera_choice_problem(getattr(updated, name), updated.cameras)
            if problem and not updated.cameras:
                problem += ": set 'cameras' to name them"
            if problem:
                raise SettingsError(f"invalid value for parameter '{name}': {problem}")
        # Rules may name cameras ('[rear] ...'): only the node's own.
        problem = rules_problem(updated.alert_rules, updated.cameras)
        if problem:
            raise SettingsError(f"invalid value for parameter 'alert_rules': {problem}")
        return updated


DEFAULT_SETTINGS = VlmSettings(**{spec.name: spec.default for spec in PARAMETERS})


def settings_from(values: Mapping[str, Value]) -> VlmSettings:
    """Build settings from parameter values (missing ones keep their defaults)."""
    return DEFAULT_SETTINGS.updated(values)
