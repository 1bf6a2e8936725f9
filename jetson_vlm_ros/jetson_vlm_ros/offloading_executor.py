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

rclpy runs an action server's execute callback not as an entity of a callback group but
as a task queued with create_task; wrapping the callback in WorkerCallback sends that task
to the workers too (the goal and cancel callbacks stay inline: they answer at once).
"""

import threading
from typing import Any, Callable, Optional
import weakref

from jetson_vlm_ros.daemon_workers import DaemonWorkers, WorkersClosedError
from rclpy.callback_groups import CallbackGroup
from rclpy.executors import ShutdownException, SingleThreadedExecutor, TimeoutException

try:  # Jazzy and later
    from rclpy.executors import ConditionReachedException
except ImportError:  # Humble
    class ConditionReachedException(Exception):  # noqa: N818 - mirrors rclpy's name
        """Never raised on Humble."""


class WorkerCallback:
    """A callback that rclpy hands to the executor via create_task, marked for the workers."""

    def __init__(self, callback: Callable[..., Any]) -> None:
        self.callback = callback

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the wrapped callback."""
        return self.callback(*args, **kwargs)


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
        # Tasks from create_task that carry a WorkerCallback (an action's execute callback).
        self._worker_tasks: weakref.WeakSet[Any] = weakref.WeakSet()
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

    def create_task(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Queue a task as rclpy does; one carrying a WorkerCallback will run on a worker."""
        task = super().create_task(callback, *args, **kwargs)
        if isinstance(callback, WorkerCallback) or any(
                isinstance(arg, WorkerCallback) for arg in args):
            with self._queued_lock:
                self._worker_tasks.add(task)
        return task

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
        if getattr(entity, 'callback_group', None) is self._offload_group or (
                entity is None and handler in self._worker_tasks):
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
