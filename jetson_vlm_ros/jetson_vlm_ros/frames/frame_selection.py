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
Pick the frames of a multi-frame request from the history, and announce them to the model.

Asked times go back from the newest frame: newest, newest - interval, newest - 2*interval,
...; each gets the not yet chosen frame closest to it (times are when the node received
the frames, one clock for all cameras). Interval 0 spreads the frames evenly over what the
history holds. A span the history does not cover is an error, not a silent shortcut.
"""

import math
from typing import Sequence

from jetson_vlm_ros.model.scene_describer import DescribeError, Frame


class FrameSelectionError(DescribeError):
    """The history cannot answer the request as asked; the text says why and what to change."""


def check_frame_request(num_frames: int, frame_interval: float, max_frames: int) -> None:
    """Raise FrameSelectionError for a request no history could answer."""
    if num_frames > max_frames:
        raise FrameSelectionError(
            f'num_frames {num_frames} is more than max_frames ({max_frames}); ask for fewer '
            f'frames or raise the max_frames parameter')
    if not math.isfinite(frame_interval) or frame_interval < 0:
        raise FrameSelectionError(
            f'frame_interval must be 0 (spread over the history) or a positive number of '
            f'seconds, got {frame_interval}')


def select_caption_frames(history: Sequence[Frame], count: int,
                          period: float) -> list[Frame]:
    """Return up to count frames spread over the last caption period (what happened in it)."""
    count = min(count, len(history))
    interval = period / count if count > 1 else 0.0
    return select_frames(history, count, interval, shorten_span=True)


def select_frames(history: Sequence[Frame], count: int, interval: float,
                  shorten_span: bool = False) -> list[Frame]:
    """
    Return count distinct frames of history (oldest first), closest to the asked times.

    With shorten_span, a span longer than the history is shrunk to what it holds instead
    of being an error (periodic captions would rather describe less time than none).
    """
    if count <= 1:
        return [history[-1]] if history else []
    if len(history) < count:
        raise FrameSelectionError(
            f'asked for {count} frames, but the history holds {len(history)} (history_size / '
            f'history_seconds bound it, and the camera must have sent that many)')
    newest = history[-1].received_at
    held = newest - history[0].received_at
    if interval <= 0 or (shorten_span and interval * (count - 1) > held):
        interval = held / (count - 1)
    span = interval * (count - 1)
    # Half an interval of slack: the oldest frame counts if it is the closest to its time.
    if span - held > interval / 2:
        raise FrameSelectionError(
            f'{count} frames {interval:g} s apart span {span:.1f} s, but the history holds '
            f'{held:.1f} s ({len(history)} frames): ask for fewer frames or a shorter '
            f'frame_interval, or raise history_size / history_seconds')
    chosen: list[Frame] = []
    upper = len(history)  # choose only among frames older than the last one chosen
    for steps_back in range(count):
        wanted = newest - steps_back * interval
        # Leave at least one older frame for each asked time still to come.
        lower = count - 1 - steps_back
        best = min(range(lower, upper),
                   key=lambda index: abs(history[index].received_at - wanted))
        chosen.append(history[best])
        upper = best
    chosen.reverse()
    return chosen
