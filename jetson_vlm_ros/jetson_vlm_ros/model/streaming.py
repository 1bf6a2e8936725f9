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
Cancelling a streamed answer at once: the token a caller cancels with, and socket aborts.

A thread blocked reading an HTTP stream is not woken by closing its socket from another
thread (the blocked read keeps the socket alive), so the server would see nothing until
its next write. shutdown() sends the FIN now and wakes the reader, so the server sees the
client leave at once and the reading thread ends with a connection error.
"""

import socket
import threading
from typing import Callable, Optional


class StreamCancelled(Exception):  # noqa: N818 - a cancel, not an error
    """The caller cancelled the stream; `text` is what had arrived until then."""

    def __init__(self, text: str = '') -> None:
        super().__init__('canceled')
        self.text = text


class Cancellation:
    """A thread-safe cancel flag that also runs the aborts registered with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._aborts: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """Return whether cancel() was called."""
        return self._cancelled

    def cancel(self) -> None:
        """Set the flag and run every registered abort (once)."""
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            aborts, self._aborts = self._aborts, []
        for abort in aborts:
            abort()

    def on_cancel(self, abort: Callable[[], None]) -> None:
        """Run abort when cancelled; at once if that already happened."""
        with self._lock:
            if not self._cancelled:
                self._aborts.append(abort)
                return
        abort()

    def discard(self, abort: Callable[[], None]) -> None:
        """Forget an abort that is no longer needed."""
        with self._lock:
            if abort in self._aborts:
                self._aborts.remove(abort)


def shutdown_socket(sock: Optional[socket.socket]) -> None:
    """Send FIN and wake any thread blocked on sock (see the module docstring)."""
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class ConnectionTracer:
    """
    An httpx/httpcore `trace` extension that hands each new connection's socket to a callback.

    httpcore reports 'connection.connect_tcp.complete' with the network stream it opened;
    its socket is what a cancel must shut down, even before the response headers arrive.
    """

    def __init__(self, on_socket: Callable[[socket.socket], None]) -> None:
        self._on_socket = on_socket

    def __call__(self, event: str, info: dict) -> None:
        """Receive one trace event from httpcore."""
        if event == 'connection.connect_tcp.complete':
            stream = info.get('return_value')
            sock = stream.get_extra_info('socket') if stream is not None else None
            if sock is not None:
                self._on_socket(sock)
