"""`ShardRunner`: a live shard on one thread, at the clock's pace, taking console commands from others.

The simulation loop is not thread-safe, and the core refuses to be read
while a tick runs. So everything that touches the town happens on the
runner's thread: other threads (the HTTP server's) hand console payloads to
:meth:`ShardRunner.submit`, which blocks until the runner has applied them
and returns the result.

- While running, submitted payloads go on the loop's console queue
  (``telemetry.queue_console_command``) and apply at the start of the next
  tick, like any queued command: their results are that tick's
  ``console_results`` and their events that tick's events.
- While paused (``pause``), the runner applies them at once without
  simulating (``loop.apply_console()``); their events join the next tick.

```python
clock = ShardClock(ticks_per_second=20, speed="1x")
router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, clock=clock)
runner = ShardRunner(loop, clock)
thread = runner.start(ticks=0)                       # 0: until stop()
runner.submit({"name": "pause", "auth": {"token": "..."}})
runner.stop(); thread.join()
```
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from townlet.console.command import E_INTERNAL, E_UNAVAILABLE, error_result

if TYPE_CHECKING:
    from townlet.core.pacing import ShardClock
    from townlet.core.sim_loop import SimulationLoop


class ShardUnavailableError(Exception):
    """A submitted command got no answer: the shard is not running, is overloaded, or timed out."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timed_out = timed_out


class _Request:
    __slots__ = ("done", "payload", "result")

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        self.result: dict[str, Any] | None = None
        self.done = threading.Event()

    def answer(self, result: dict[str, Any]) -> None:
        self.result = result
        self.done.set()


def _refusal(payload: Mapping[str, Any], tick: int, code: str, message: str) -> dict[str, Any]:
    name, cmd_id = payload.get("name"), payload.get("cmd_id")
    return error_result(
        name if isinstance(name, str) else None,
        cmd_id if isinstance(cmd_id, str) else None,
        tick,
        code,
        message,
    )


class ShardRunner:
    """Steps a loop at its clock's pace on one thread; applies console payloads from any thread."""

    def __init__(self, loop: SimulationLoop, clock: ShardClock, *, max_pending: int = 1024) -> None:
        """``max_pending`` bounds the commands waiting for the loop (more are refused at once)."""
        self.loop = loop
        self.clock = clock
        self.max_pending = max_pending
        self.ticks_run = 0
        #: The loop's tick as of the last tick run; safe to read from any thread (``loop.tick`` is not).
        self.tick = loop.tick
        self.state = "idle"
        #: The exception that ended :meth:`run`, if any (a ``TickError`` for a failed tick).
        self.error: BaseException | None = None
        self._requests: deque[_Request] = deque()
        self._lock = threading.Lock()
        self._accepting = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        clock.on_change(self._wake.set)

    # -- other threads ---------------------------------------------------------
    @property
    def accepting(self) -> bool:
        """Whether :meth:`submit` is answered (the runner is running)."""
        return self._accepting

    def submit(self, payload: Mapping[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Applies a console payload on the loop thread and returns its result.

        Raises :class:`ShardUnavailableError` when the runner is not running, has
        too many commands waiting, or gives no answer within ``timeout``
        seconds (the command may still apply later; retrying with the same
        ``cmd_id`` never applies it twice).
        """
        request = _Request(dict(payload))
        with self._lock:
            if not self._accepting:
                raise ShardUnavailableError(f"the shard is {self.state}, not running")
            if len(self._requests) >= self.max_pending:
                raise ShardUnavailableError(f"the shard has {self.max_pending} commands waiting; try again")
            self._requests.append(request)
        self._wake.set()
        if not request.done.wait(timeout):
            raise ShardUnavailableError(f"the shard did not answer within {timeout:g} s", timed_out=True)
        assert request.result is not None
        return request.result

    def stop(self) -> None:
        """Asks :meth:`run` to return after the current tick (safe from any thread or a signal handler)."""
        self._stop.set()
        self._wake.set()

    def status(self) -> dict[str, Any]:
        """Runner state for health: state, ticks run, commands waiting, the clock."""
        return {
            "state": self.state,
            "tick": self.tick,
            "ticks_run": self.ticks_run,
            "pending_commands": len(self._requests),
            "clock": self.clock.status(),
        }

    def start(self, ticks: int = 0) -> threading.Thread:
        """Runs :meth:`run` on a new daemon thread (its error, if any, lands in :attr:`error`)."""
        ready = threading.Event()

        def target() -> None:
            try:
                self.run(ticks, ready=ready)
            except BaseException as exc:  # kept for the owner to inspect
                self.error = exc
            finally:
                ready.set()

        thread = threading.Thread(target=target, name="townlet-shard", daemon=True)
        thread.start()
        ready.wait()
        return thread

    # -- the loop thread -------------------------------------------------------
    def run(self, ticks: int = 0, *, ready: threading.Event | None = None) -> int:
        """Runs the shard on the calling thread; returns the ticks run.

        Stops after ``ticks`` ticks (0: never) or when :meth:`stop` is called.
        A failing tick's ``TickError`` propagates after every waiting command
        has been answered. ``ready`` is set once commands are accepted.
        """
        if ticks < 0:
            raise ValueError(f"ticks must be >= 0, got {ticks}")
        with self._lock:
            self._accepting = True
            self.state = "running"
        if ready is not None:
            ready.set()
        start = self.ticks_run
        self.clock.restart()
        pending: list[_Request] = []
        try:
            while not self._stop.is_set():
                self._wake.clear()
                pending += self._take()
                if self.clock.paused:
                    self.state = "paused"
                    if pending:
                        self._apply_now(pending)
                        pending = []
                    self._wake.wait(1.0)
                    continue
                self.state = "running"
                if ticks and self.ticks_run - start >= ticks:
                    break
                delay = self.clock.until_due()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                requests, pending = pending, []
                self._step(requests)
            if pending:
                self._apply_now(pending)
            self.state = "stopped"
        except BaseException:
            self.state = "failed"
            for request in pending:
                request.answer(_refusal(request.payload, self.loop.tick, E_UNAVAILABLE, "the shard failed"))
            raise
        finally:
            self._close()
        return self.ticks_run - start

    def _take(self) -> list[_Request]:
        with self._lock:
            taken = list(self._requests)
            self._requests.clear()
        return taken

    def _queue(self, requests: list[_Request]) -> int:
        """Queues the payloads behind any already on the loop's queue; returns how many were there."""
        telemetry = self.loop.telemetry
        ahead = telemetry.drain_console_commands()
        for payload in ahead:
            telemetry.queue_console_command(payload)
        for request in requests:
            telemetry.queue_console_command(request.payload)
        return len(ahead)

    def _answer(self, requests: list[_Request], offset: int) -> None:
        results = self.loop.telemetry.latest_console_results()[offset : offset + len(requests)]
        if len(results) != len(requests):
            for request in requests:
                request.answer(
                    _refusal(request.payload, self.loop.tick, E_INTERNAL, "the console result went missing")
                )
            return
        for request, result in zip(requests, results, strict=True):
            request.answer(result)

    def _apply_now(self, requests: list[_Request]) -> None:
        offset = self._queue(requests)
        self.loop.apply_console()
        self._answer(requests, offset)

    def _step(self, requests: list[_Request]) -> None:
        offset = self._queue(requests) if requests else 0
        try:
            self.loop.step()
        except BaseException as exc:
            self.error = exc
            for request in requests:
                request.answer(
                    _refusal(request.payload, self.loop.tick, E_UNAVAILABLE, f"the tick failed: {exc}")
                )
            raise
        self.ticks_run += 1
        self.tick = self.loop.tick
        self.clock.ticked()
        if requests:
            self._answer(requests, offset)

    def _close(self) -> None:
        with self._lock:
            self._accepting = False
            left = list(self._requests)
            self._requests.clear()
        for request in left:
            request.answer(
                _refusal(request.payload, self.loop.tick, E_UNAVAILABLE, f"the shard is {self.state}")
            )
