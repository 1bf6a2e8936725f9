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
import time
from typing import Any, Callable, Optional
import weakref

from jetson_vlm_ros.core.daemon_workers import DaemonWorkers, WorkersClosedError
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
        self._stopped = False  # shutdown() was called
        self._finishing = False  # finish_work() runs: a worker's end must wake the executor
        self._wake_guard: Any = None  # made on the first node added (see add_node)

    def set_error_logger(self, log_error: Callable[[str], None]) -> None:
        """Report exceptions of offloaded callbacks through this function."""
        self._log_error = log_error

    @property
    def offloaded(self) -> int:
        """Return how many offloaded callbacks are queued for a worker or running on one."""
        return self._offloaded

    def wait_for_offloaded(self, timeout_sec: float) -> bool:
        """Wait until every offloaded callback has finished; False if timeout_sec passed."""
        with self._offloaded_done:
            return self._offloaded_done.wait_for(lambda: self._offloaded == 0, timeout_sec)

    def add_node(self, node: Any) -> bool:
        """Add a node as Executor does; the first one also carries this executor's wake guard."""
        added = super().add_node(node)
        if added and self._wake_guard is None:
            # Triggering it gives spin_once work (an empty callback run inline), so a waiting
            # spin returns on every distribution: Executor.wake() only rebuilds the wait set
            # and waits on, and waking on a condition exists from Jazzy on only.
            self._wake_guard = node.create_guard_condition(lambda: None)
        return added

    def interrupt(self) -> None:
        """Make a waiting spin_once() return (thread-safe), e.g. for spin_until() to look."""
        guard = self._wake_guard
        if guard is None:
            return
        try:
            guard.trigger()
        except Exception:  # noqa: B902 - AttributeError (Jazzy), InvalidHandle (Kilted)
            pass  # destroyed with its node at shutdown: nothing left to wake

    def spin_until(self, stop: Callable[[], bool]) -> None:
        """
        Spin until stop() is true; it is looked at after each callback and on interrupt().

        Raises ExternalShutdownException when the context is shut down from elsewhere.
        """
        while not stop() and not self._stopped and self.context.ok():
            self._spin_once_impl()

    def finish_work(self, timeout_sec: float) -> bool:
        """
        At shutdown, after spinning stopped: run callbacks until none is left; False on timeout.

        The offloaded callbacks (service calls, action goals) end first, their answers going
        out; then what their ends queued runs here, on the caller's thread: rclpy sends an
        action goal's result from a task it creates when the execute callback returns.
        Without spinning (executor shut down, context gone) it only waits for the offloaded
        callbacks, as wait_for_offloaded() does. Call it from the thread that spun, if any.
        """
        if self._stopped or not self.context.ok():
            return self.wait_for_offloaded(timeout_sec)
        deadline = time.monotonic() + timeout_sec
        self._finishing = True
        try:
            idle_passes = 0
            while idle_passes < 2:  # a whole pass over the entities found nothing to run
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if self._offloaded:
                    # A worker that finishes interrupts this wait (see _finish_offloaded).
                    self._spin_once_impl(left)
                    idle_passes = 0
                    continue
                ran = self._spin_once_impl(0.0)
                idle_passes = 0 if ran else idle_passes + 1
            return True
        finally:
            self._finishing = False

    def shutdown(self, timeout_sec: Optional[float] = None) -> bool:
        """Stop spinning and release the workers (their current callbacks are abandoned)."""
        self._stopped = True
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
                        wait_condition: Callable[[], bool] = lambda: False) -> bool:
        """Run (or hand to a worker) one ready callback; return whether there was one."""
        try:
            handler, entity, _ = self.wait_for_ready_callbacks(
                timeout_sec, None, wait_condition)
        except (ShutdownException, TimeoutException, ConditionReachedException):
            return False
        if getattr(entity, 'callback_group', None) is self._offload_group or (
                entity is None and handler in self._worker_tasks):
            # rclpy yields a task again until it starts executing: submit it once.
            with self._queued_lock:
                if handler in self._queued:
                    return False
                self._queued.add(handler)
                self._offloaded += 1
            try:
                self._workers.submit(lambda: self._run_offloaded(handler))
            except WorkersClosedError:
                self._finish_offloaded(handler)  # shutting down: dropped with the executor
            return True
        handler()
        exception = handler.exception()
        if exception is not None:
            raise exception
        return True

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
        if self._finishing:
            self.interrupt()  # finish_work() waits in rcl_wait for exactly this
