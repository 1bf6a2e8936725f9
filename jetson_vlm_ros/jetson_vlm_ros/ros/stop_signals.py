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
SIGINT and SIGTERM as a stop request that leaves the ROS context alive for the goodbyes.

rclpy's own handlers shut the context down the moment a signal lands, on a thread of
their own: from then on no publisher works, so an action goal still running could not be
set to aborted (`RCLError: ... feedback publisher is invalid`) and its client never got a
result. vlm_node therefore starts rclpy without its handlers and uses these: a signal only
sets `requested` and wakes the spinning thread (through `wake`, e.g. Executor.wake), which
stops spinning, answers pending calls and goals, and shuts the context down itself.

Python runs a signal's handler on the main thread only between bytecodes, never while it
waits inside rcl_wait; so the handler is empty and the work is done by a watcher thread
that Python's signal wakeup fd wakes. Any later signal (`ros2 launch` sends its own SIGINT
after the process group's) changes nothing: no KeyboardInterrupt in the middle of cleanup.
"""

import os
import signal
import threading
from typing import Any, Callable, Optional

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Turns SIGINT and SIGTERM into `requested` plus a call of `wake`, from a thread."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._wake: Optional[Callable[[], None]] = None
        self._lock = threading.Lock()
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)  # signal.set_wakeup_fd requires it
        self._watcher = threading.Thread(target=self._watch, name='stop-signals', daemon=True)

    def install(self) -> None:
        """Handle SIGINT and SIGTERM from now on (call from the main thread)."""
        # The wakeup fd and its watcher first: a signal that lands as the handlers change
        # is then seen by the watcher, never lost between the two.
        signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        self._watcher.start()
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._on_signal)

    def set_wake(self, wake: Optional[Callable[[], None]]) -> None:
        """
        Call wake on every stop signal from now on (at once if one came already).

        None stops the calls: once it returns, wake is not running and will not run again,
        so what it wakes may be destroyed.
        """
        with self._lock:
            self._wake = wake
            if wake is not None and self.requested.is_set():
                wake()

    def ignore_from_now_on(self) -> None:
        """Ignore further signals: Python restores its own handlers while exiting."""
        self.set_wake(None)
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def _on_signal(self, signum: int, frame: Any) -> None:
        pass  # the watcher thread has acted already: the wakeup fd woke it

    def _watch(self) -> None:
        while True:
            try:
                received = os.read(self._read_fd, 64)
            except OSError:
                return
            if not received:
                return
            signums = set(received)
            if not signums.intersection(STOP_SIGNALS):
                continue  # another signal with a Python handler: not ours
            self.requested.set()
            with self._lock:
                if self._wake is not None:
                    self._wake()
