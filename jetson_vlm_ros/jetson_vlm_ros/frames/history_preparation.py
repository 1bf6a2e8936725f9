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
The frame history stored as it will be sent: kept frames prepared once, off the camera path.

A raw 1080p rgb8 frame is 6.3 MiB; the model is sent it downsized to max_image_size and
JPEG-encoded, 30-100 KB. So every history frame but the newest is prepared shortly after
it stops being the newest (one preparation per kept frame: about 3 a second at the
defaults, none for the camera frames the ring never keeps), on a thread of its own, and
the ring then holds a PreparedMessage in its place: the JPEG and the header, and the raw
message is let go.

A PreparedMessage has the fields of a sensor_msgs/CompressedImage, so a request encodes it
as it encodes a compressed camera frame: a JPEG within max_image_size is sent byte for
byte (the same JPEG a request would have made from the raw frame, with the settings of
the time it was prepared), a larger one is decoded, downsized and encoded again. After a
run-time change, a smaller max_image_size therefore holds for stored frames too (they are
re-encoded at each use until the ring has turned over), while a larger max_image_size or
another jpeg_quality applies to frames prepared from then on (a stored frame is never
upscaled nor encoded twice for quality).
"""

import time
from typing import Callable, Optional

from jetson_vlm_ros.core.daemon_workers import DaemonWorkers, WorkersClosedError
from jetson_vlm_ros.core.settings import VlmSettings
from jetson_vlm_ros.frames.frame_history import FrameHistory
from jetson_vlm_ros.frames.image_encoding import EncodedImage
from jetson_vlm_ros.model.scene_describer import DescribeError, Frame, PreparedMessage

# A kept frame is prepared this long after the frame that pushed it out arrived, not at
# once: the spinning thread and the camera's other subscribers are still busy with that
# new frame then (the gateway waits as long, for the same reason: see gateway_bridge.py).
START_DELAY_S = 0.008

__all__ = ['FrameEncoder', 'HistoryPreparer', 'PreparedMessage', 'START_DELAY_S']


# (frame, settings) -> the image as a request sends it; raises DescribeError.
FrameEncoder = Callable[[Frame, VlmSettings], EncodedImage]


class HistoryPreparer:
    """Prepares each kept history frame once, on one daemon thread, and stores it back."""

    def __init__(self, history: FrameHistory, encode: FrameEncoder,
                 settings: Callable[[], VlmSettings],
                 on_error: Optional[Callable[[str], None]] = None) -> None:
        self._history = history
        self.encode = encode
        self._settings = settings
        self._on_error = on_error
        self._worker = DaemonWorkers(1, 'history-prepare')
        self.prepared = 0  # frames prepared and stored back

    def frame_kept(self, frame: Frame) -> None:
        """Queue frame (just kept by the history) for preparation; returns at once."""
        if isinstance(frame.message, PreparedMessage):
            return
        not_before = time.monotonic() + START_DELAY_S
        try:
            self._worker.submit(lambda: self._prepare(frame, not_before))
        except WorkersClosedError:
            pass  # shutting down

    def close(self) -> None:
        """Stop preparing (a preparation under way ends on its own)."""
        self._worker.close()

    def _prepare(self, frame: Frame, not_before: float) -> None:
        time.sleep(max(0.0, not_before - time.monotonic()))
        if not self._history.holds(frame):
            return  # dropped from the ring (or the node paused) while it waited: no work
        settings = self._settings()
        try:
            image = self.encode(frame, settings)
        except DescribeError as error:
            # The raw frame stays: a request that asks for it gets this error then.
            if self._on_error is not None:
                self._on_error(f'history frame {frame.sequence} not prepared: {error}')
            return
        prepared = PreparedMessage(
            getattr(frame.message, 'header', None), image.jpeg, image.width, image.height,
            settings.max_image_size, settings.jpeg_quality)
        if self._history.replace(frame, Frame(prepared, frame.received_at, frame.sequence)):
            self.prepared += 1
