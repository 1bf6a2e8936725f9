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
A fixed set of daemon threads that run blocking calls and can abandon them at shutdown.

A VLM request may block for request_timeout seconds. Run on an executor thread, it would
hold Ctrl-C until then, because Python joins such threads at exit. Here the blocking call
runs on a daemon thread created once at start-up; the caller waits on a future that
close() fails at once, so the node stops immediately and the abandoned call dies with
the process.
"""

from concurrent.futures import Future, InvalidStateError
import queue
import threading
from typing import Callable, Optional, TypeVar

T = TypeVar('T')


class WorkersClosedError(RuntimeError):
    """The pool was closed before the call finished."""


class DaemonWorkers:
    """Runs submitted calls on `count` long-lived daemon threads."""

    def __init__(self, count: int, name: str = 'vlm-request') -> None:
        self._jobs: queue.SimpleQueue[Optional[tuple[Callable[[], object], Future]]] = \
            queue.SimpleQueue()
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f'{name}-{i}', daemon=True)
                         for i in range(count)]
        for thread in self._threads:
            thread.start()

    def run(self, call: Callable[[], T]) -> T:
        """Run call on a worker and return its result (or raise its exception)."""
        future = self._enqueue(call, waited_on=True)
        try:
            return future.result()
        finally:
            with self._lock:
                self._pending.discard(future)
            # A raised exception's traceback holds this frame, and the future holds the
            # exception: a reference cycle that would keep the request's frames (MBs of
            # pixels) alive until Python's rare full garbage collection.
            del future

    def submit(self, call: Callable[[], object]) -> None:
        """Run call on a worker without waiting for it; what it raises is its own business."""
        self._enqueue(call, waited_on=False)

    def _enqueue(self, call: Callable[[], object], waited_on: bool) -> Future:
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise WorkersClosedError('shutting down')
            if waited_on:  # close() fails these so their callers stop waiting
                self._pending.add(future)
        self._jobs.put((call, future))
        return future

    def close(self) -> None:
        """Fail every waiting caller now and let the threads end after their current call."""
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, set()
        for future in pending:
            _settle(future.set_exception, WorkersClosedError('shutting down'))
        for _ in self._threads:
            self._jobs.put(None)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            call, future = job
            if future.done():
                continue  # failed by close() while queued
            try:
                result = call()
            except BaseException as error:  # noqa: B902 - handed to the waiting caller
                _settle(future.set_exception, error)
            else:
                _settle(future.set_result, result)
            # An idle worker holds nothing of its last call (the call holds frames).
            job = call = future = result = None


def _settle(setter: Callable[[object], None], value: object) -> None:
    # close() and a worker may race to settle the same future; the first one wins.
    try:
        setter(value)
    except InvalidStateError:
        pass
