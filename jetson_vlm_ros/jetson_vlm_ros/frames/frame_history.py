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
The recent camera frames, as received: a bounded ring of references, nothing decoded.

Up to history_size frames spread over the last history_seconds: the newest slot always
holds the latest frame, and an older frame is kept only when it is at least
history_seconds / history_size after the kept frame before it. So the defaults (32 frames,
10 s) hold 10 s of a 30 Hz camera in 32 frames, not its last second. history_seconds 0
keeps the last history_size frames at full rate; history_size 1 keeps the latest only.
Ages are measured back from the newest frame, which is never dropped however old it gets
(whether it is too old to describe is max_image_age's business).

Storing a frame costs one reference: the message object the subscription handed over,
no conversion, no copy. A frame that stops being the newest and stays in the ring (a kept
history frame) is returned by add(), so that it can be prepared elsewhere (downsized and
JPEG-encoded, history_preparation.py) and put back in its place with replace().
"""

from collections import deque
import threading
from typing import Optional

from jetson_vlm_ros.model.scene_describer import Frame


class FrameHistory:
    """Thread-safe ring of Frames: the camera thread appends, request threads read."""

    def __init__(self, size: int, seconds: float) -> None:
        if size < 1:
            raise ValueError(f'history size must be at least 1, got {size}')
        self._frames: deque[Frame] = deque(maxlen=size)
        self._seconds = seconds
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """Return the most frames kept."""
        return self._frames.maxlen or 0

    @property
    def seconds(self) -> float:
        """Return how far back from the newest frame frames are kept."""
        return self._seconds

    @property
    def spacing(self) -> float:
        """Return the least time between two kept frames older than the latest."""
        size = self.size
        return self._seconds / size if self._seconds > 0 and size > 1 else 0.0

    def add(self, frame: Frame) -> Optional[Frame]:
        """
        Keep a reference to a received frame; drop the frames out of bounds.

        Return the frame that this one pushed out of the newest slot if the ring keeps it
        (it is now a history frame), else None.
        """
        with self._lock:
            frames = self._frames
            if len(frames) >= 2 and frames[-1].received_at - frames[-2].received_at < \
                    self.spacing:
                frames[-1] = frame  # the newest slot follows the camera until spaced enough
                return None
            previous = frames[-1] if frames else None
            frames.append(frame)  # the deque's maxlen drops the oldest beyond size
            self._drop_older_than(frame.received_at - self._seconds)
            return previous if len(frames) >= 2 and frames[-2] is previous else None

    def holds(self, frame: Frame) -> bool:
        """Return whether frame (this very object) is still kept."""
        with self._lock:
            return any(kept is frame for kept in self._frames)

    def replace(self, old: Frame, new: Frame) -> bool:
        """Put new in the place of old if old is still kept and not the newest frame."""
        with self._lock:
            frames = self._frames
            for index in range(len(frames) - 1):
                if frames[index] is old:
                    frames[index] = new
                    return True
            return False

    def latest(self) -> Optional[Frame]:
        """Return the newest frame, or None before the first."""
        with self._lock:
            return self._frames[-1] if self._frames else None

    def frames(self) -> list[Frame]:
        """Return a snapshot of the kept frames, oldest first."""
        with self._lock:
            return list(self._frames)

    def resize(self, size: int, seconds: float) -> None:
        """Apply new bounds, keeping the newest frames that fit."""
        if size < 1:
            raise ValueError(f'history size must be at least 1, got {size}')
        with self._lock:
            self._frames = deque(self._frames, maxlen=size)
            self._seconds = seconds
            if self._frames:
                self._drop_older_than(self._frames[-1].received_at - seconds)

    def _drop_older_than(self, oldest_kept: float) -> None:
        # Called with the lock held; the newest frame always stays.
        if self._seconds <= 0:
            return
        frames = self._frames
        while frames[0].received_at < oldest_kept:
            frames.popleft()

    def clear(self) -> None:
        """Forget every frame (the node was paused)."""
        with self._lock:
            self._frames.clear()

    def __len__(self) -> int:
        """Return how many frames are kept now."""
        return len(self._frames)
