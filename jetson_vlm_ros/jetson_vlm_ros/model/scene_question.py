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
A DescribeScene request, read into plain fields, and answered from the frame history.

Reads the request by field name, so an action goal that mirrors the request (or one that
has only some of its fields) works alike: a missing field keeps the default, and the
defaults mean the single-frame behaviour (the latest frame, a text answer).
"""

from dataclasses import dataclass, replace
import time
from typing import Any, Mapping, Optional, Sequence

from jetson_vlm_ros.core.camera_choice import camera_choice_problem, chosen_cameras
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.frame_selection import (
    check_frame_request, FrameSelectionError, select_caption_frames, select_frames)
from jetson_vlm_ros.model.scene_describer import (
    DescribeError, Description, Frame, frame_labels, SceneDescriber, TextCallback)
from jetson_vlm_ros.model.streaming import Cancellation
from jetson_vlm_ros.model.structured_answer import parse_response_format


@dataclass(frozen=True)
class SceneQuestion:
    """What a client asks: about which frames, and in which form it wants the answer."""

    prompt: str = ''
    num_frames: int = 0  # 0 or 1: the latest frame only
    frame_interval: float = 0.0  # seconds between frames; 0: spread over the history
    image: Any = None  # a sensor_msgs/Image to describe instead of the camera's, or None
    response_format: str = ''  # '' text, 'json', or a JSON Schema
    cameras: tuple[str, ...] = ()  # named cameras to ask about; () the default, 'all' every one


@dataclass(frozen=True)
class CameraView:
    """A named camera as a request sees it: its topic and its frame history, oldest first."""

    topic: str
    history: Sequence[Frame]


def question_from_request(request: Any) -> SceneQuestion:
    """Read a DescribeScene request (or an action goal with the same fields)."""
    image = getattr(request, 'image', None)
    if image is not None and len(image.data) == 0:
        image = None  # an empty image field: describe the camera
    return SceneQuestion(
        prompt=request.prompt,
        num_frames=int(getattr(request, 'num_frames', 0)),
        frame_interval=float(getattr(request, 'frame_interval', 0.0)),
        image=image,
        response_format=str(getattr(request, 'response_format', '')),
        cameras=tuple(getattr(request, 'cameras', ())))


def answer_question(describer: SceneDescriber, question: SceneQuestion,
                    history: Sequence[Frame], settings: VlmSettings,
                    started: Optional[float] = None,
                    on_text: Optional[TextCallback] = None,
                    cancellation: Optional[Cancellation] = None) -> Description:
    """
    Describe what question asks about, from history (oldest first); raise DescribeError.

    on_text and cancellation stream the answer as SceneDescriber.describe does; every
    outcome, a refused request included, is counted in the describer's stats.
    """
    def run() -> Description:
        now = time.monotonic() if started is None else started
        # Checked first: a bad schema or an impossible request never reaches the server.
        answer_format = parse_response_format(question.response_format)
        if question.image is not None:
            if question.num_frames > 1:
                raise DescribeError(
                    f'a given image is described alone: num_frames must be 0 or 1 with it, '
                    f'got {question.num_frames}')
            frames, image_name = [Frame(question.image, now, 0)], 'the given image'
        else:
            check_frame_request(
                question.num_frames, question.frame_interval, settings.max_frames)
            latest = history[-1] if history else None
            try:
                describer.check_frame(latest, settings, now)
            except DescribeError as error:  # e.g. too old: the frames it would have used
                error.frames = _frames_if_selectable(history, question)
                raise
            frames = select_frames(history, question.num_frames, question.frame_interval)
            image_name = 'the latest image'
        try:
            description = describer.describe_frames(
                frames, question.prompt, settings, now, image_name,
                answer_format.server_parameter(), on_text, cancellation)
        except DescribeError as error:
            error.frames = tuple(frames)
            raise
        return replace(description, text=answer_format.check(description.text))

    return describer.counted(run)


def choose_cameras(asked: Sequence[str], names: Sequence[str]) -> list[str]:
    """Return the cameras a request names ('all': every one), or raise DescribeError."""
    problem = camera_choice_problem(asked, names)
    if problem:
        hint = ': leave the cameras field empty' if not names else ''
        raise DescribeError(problem + hint)
    return chosen_cameras(asked, names)


def answer_across_cameras(describer: SceneDescriber, question: SceneQuestion,
                          cameras: Mapping[str, CameraView], settings: VlmSettings,
                          started: Optional[float] = None,
                          on_text: Optional[TextCallback] = None,
                          cancellation: Optional[Cancellation] = None) -> Description:
    """
    Describe the frames of every camera question.cameras names in one model call.

    Camera by camera in the order asked, each camera's frames oldest first, each image after
    a label naming its camera ("Camera 'front':"). Any camera without a recent frame fails
    the whole request, naming the camera and the frame's age: an answer about the cameras
    asked must not quietly leave one out. Counted in the describer's stats.
    """
    def run() -> Description:
        now = time.monotonic() if started is None else started
        answer_format = parse_response_format(question.response_format)
        if question.image is not None:
            raise DescribeError('a given image is described alone: leave cameras empty with it')
        chosen = choose_cameras(question.cameras, list(cameras))
        check_frame_request(question.num_frames, question.frame_interval, settings.max_frames)
        per_camera = max(1, question.num_frames)
        if per_camera * len(chosen) > settings.max_frames:
            raise FrameSelectionError(
                f'{per_camera} frame(s) from each of {len(chosen)} cameras is '
                f'{per_camera * len(chosen)} images, more than max_frames '
                f'({settings.max_frames}); ask for fewer frames or cameras, or raise max_frames')
        frames: list[Frame] = []
        labels: list[str] = []
        names: list[str] = []
        for name in chosen:
            view = cameras[name]
            latest = view.history[-1] if view.history else None
            try:
                describer.check_frame(latest, settings, now, view.topic)
                selected = select_frames(view.history, question.num_frames,
                                         question.frame_interval)
            except DescribeError as error:
                raise type(error)(f"camera '{name}': {error}") from None
            frames += selected
            names += [name] * len(selected)
            labels += _camera_labels(name, selected, now)
        try:
            description = describer.describe_frames(
                frames, question.prompt, settings, now, 'the latest images',
                answer_format.server_parameter(), on_text, cancellation, labels)
        except DescribeError as error:
            error.frames, error.cameras = tuple(frames), tuple(names)
            raise
        return replace(description, text=answer_format.check(description.text),
                       frames=tuple(frames), cameras=tuple(names))

    return describer.counted(run)


def _camera_labels(name: str, frames: Sequence[Frame], now: float) -> list[str]:
    if len(frames) == 1:
        return [f"Camera '{name}':"]
    return [f"Camera '{name}', {label}:" for label in frame_labels(frames, now)]


def _frames_if_selectable(history: Sequence[Frame], question: SceneQuestion
                          ) -> tuple[Frame, ...]:
    try:
        return tuple(select_frames(history, question.num_frames, question.frame_interval))
    except DescribeError:
        return (history[-1],) if history else ()


def describe_for_caption(describer: SceneDescriber, history: Sequence[Frame],
                         settings: VlmSettings) -> Description:
    """Caption the latest caption_frames frames, spread over the caption period."""
    def run() -> Description:
        started = time.monotonic()
        describer.check_frame(history[-1] if history else None, settings, started)
        frames = select_caption_frames(
            history, settings.caption_frames, settings.caption_period)
        return describer.describe_frames(frames, '', settings, started)

    return describer.counted(run)


def describe_cameras_for_caption(describer: SceneDescriber, cameras: Mapping[str, CameraView],
                                 settings: VlmSettings) -> tuple[Description, dict[str, str]]:
    """
    Caption several cameras in one call (a surround caption); return it and who was left out.

    Each camera gives its latest caption_frames frames spread over the caption period (fewer
    when cameras x caption_frames would pass max_frames), labelled with its name as for a
    question across cameras. A stale or silent camera is left out, not the caption: a dead
    rear camera must not silence the front one. The second value maps each camera left out
    to why; with none left, the caption fails (DescribeError) with every reason.
    """
    left_out: dict[str, str] = {}

    def run() -> Description:
        started = time.monotonic()
        per_camera = max(1, min(settings.caption_frames, settings.max_frames // len(cameras)))
        frames: list[Frame] = []
        labels: list[str] = []
        names: list[str] = []
        for name, view in cameras.items():
            try:
                describer.check_frame(view.history[-1] if view.history else None, settings,
                                      started, view.topic)
            except DescribeError as error:
                left_out[name] = str(error)
                continue
            selected = select_caption_frames(view.history, per_camera, settings.caption_period)
            frames += selected
            names += [name] * len(selected)
            labels += _camera_labels(name, selected, started)
        if not frames:
            raise DescribeError('; '.join(f"camera '{name}': {reason}"
                                          for name, reason in left_out.items()))
        description = describer.describe_frames(frames, '', settings, started,
                                                'the latest images', labels=labels)
        return replace(description, frames=tuple(frames), cameras=tuple(names))

    return describer.counted(run), left_out
