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
An executor that runs quick callbacks inline and hands slow ones to worker threads.

Measured here (bench/): rclpy's MultiThreadedExecutor costs about five times the CPU of
a SingleThreadedExecutor per camera message (with 2 and with 4 threads). This executor runs
every callback the way SingleThreadedExecutor does, on the spinning thread, except those
of one callback group (the service and the caption timer, which wait on the model),
which go to a fixed set of daemon threads. Only public Executor API is used.
"""

import threading
from typing import Any, Callable, Optional

from jetson_vlm_ros.daemon_workers import DaemonWorkers, WorkersClosedError
from rclpy.callback_groups import CallbackGroup
from rclpy.executors import ShutdownException, SingleThreadedExecutor, TimeoutException

try:  # Jazzy and later
    from rclpy.executors import ConditionReachedException
except ImportError:  # Humble
    class ConditionReachedException(Exception):  # noqa: N818 - mirrors rclpy's name
        """Never raised on Humble."""


class OffloadingExecutor(SingleThreadedExecutor):
    """SingleThreadedExecutor whose `offload_group` callbacks run on `threads` workers."""

    def __init__(self, offload_group: CallbackGroup, threads: int, *,
                 context: Any = None) -> None:
        super().__init__(context=context)
        self._offload_group = offload_group
        self._workers = DaemonWorkers(threads, name='vlm-callback')
        self._log_error: Callable[[str], None] = print
        self._queued: set[Any] = set()  # tasks handed to a worker that has not started them
        self._queued_lock = threading.Lock()
        self._offloaded = 0  # tasks handed to a worker that have not finished
        self._offloaded_done = threading.Condition(self._queued_lock)

    def set_error_logger(self, log_error: Callable[[str], None]) -> None:
        """Report exceptions of offloaded callbacks through this function."""
        self._log_error = log_error

    def wait_for_offloaded(self, timeout_sec: float) -> bool:
        """Wait until every offloaded callback has finished; False if timeout_sec passed."""
        with self._offloaded_done:
            return self._offloaded_done.wait_for(lambda: self._offloaded == 0, timeout_sec)

    def shutdown(self, timeout_sec: Optional[float] = None) -> bool:
        """Stop spinning and release the workers (their current callbacks are abandoned)."""
        self._workers.close()
        return super().shutdown(timeout_sec)

    def spin_once(self, timeout_sec: Optional[float] = None) -> None:
        """Wait for one callback and run it (Humble's spin() calls this)."""
        self._spin_once_impl(timeout_sec)

    def _spin_once_impl(self, timeout_sec: Optional[float] = None,
                        wait_condition: Callable[[], bool] = lambda: False) -> None:
        try:
            handler, entity, _ = self.wait_for_ready_callbacks(
                timeout_sec, None, wait_condition)
        except (ShutdownException, TimeoutException, ConditionReachedException):
            return
        if getattr(entity, 'callback_group', None) is self._offload_group:
            # rclpy yields a task again until it starts executing: submit it once.
            with self._queued_lock:
                if handler in self._queued:
                    return
                self._queued.add(handler)
                self._offloaded += 1
            try:
                self._workers.submit(lambda: self._run_offloaded(handler))
            except WorkersClosedError:
                self._finish_offloaded(handler)  # shutting down: dropped with the executor
            return
        handler()
        exception = handler.exception()
        if exception is not None:
            raise exception

    def _run_offloaded(self, handler: Any) -> None:
        with self._queued_lock:
            self._queued.discard(handler)
        try:
            handler()  # for a service: the callback, then sending its response
        finally:
            self._finish_offloaded(handler)
        exception = handler.exception() if handler.done() else None
        if exception is not None:
            self._log_error(f'callback failed: {exception!r}')

    def _finish_offloaded(self, handler: Any) -> None:
        with self._offloaded_done:
            self._queued.discard(handler)
            self._offloaded -= 1
            self._offloaded_done.notify_all()
