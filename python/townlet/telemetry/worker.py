"""The telemetry worker: builds, serialises and sends payloads off the tick path (WP-303).

The tick path only queues a captured tick in the core
(:class:`townlet.telemetry.capture.FrameCapture`, then
:meth:`TelemetryWorker.captured`); a daemon thread turns the queued ticks
into payloads, serialises them and sends them in batches of at most
``buffer.max_batch_size`` payloads or
``buffer.max_buffer_bytes`` bytes. It never makes the tick wait:

- gathering: the thread waits in the core, without the GIL, until a
  chunk's worth of ticks is queued or the first has waited
  ``buffer.linger_seconds``, and encodes and writes chunk after chunk
  there; it comes back to Python (and takes the GIL the tick thread runs
  on) only for what needs Python: failures, a batch for another
  transport or past a file's rotation, dropped frames, a flush or stop,
  and at least every
  :data:`CORE_BUDGET_SECONDS` to update its counters and the health it
  publishes (so a payload's health may be that old);

- backpressure: at most ``buffer.max_pending`` frames wait; past that the
  oldest is dropped and counted in ``dropped_messages``, and the next
  payload carries a ``telemetry_alert`` event;
- retries: a failed send resets the transport and is retried up to
  ``retry.max_attempts`` times, waiting ``backoff_seconds`` doubled each
  time (at most ``max_backoff_seconds``);
- failures: an exception that escapes (retries exhausted, a bug) is caught
  and recorded (``last_worker_error``, ``last_failure_tick``); the worker
  restarts with a fresh snapshot, at most ``worker.restart_limit`` times,
  then halts cleanly (``worker_alive`` false, ``halted`` true) and the
  shard runs on without telemetry;
- stop: :meth:`close` sends everything still queued, then closes the
  transports.

A batch is encoded and narrated in the core with the GIL released
(:class:`townlet._core.TelemetryEncoder`): the agents, the core events,
and what Python added at capture (town sections, Python events, console
results), converted by the capture call; into ready-to-send bytes, or,
for a lone file transport, straight into the file (the transport still
decides when to rotate). Python adds only the worker's health, its
alerts and failures, so the worker hardly competes with the tick thread
for the GIL.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from townlet import _core
from townlet.config.telemetry import BufferConfig, RetryConfig, WorkerConfig
from townlet.errors import TelemetryError
from townlet.telemetry.payloads import PayloadBuilder
from townlet.telemetry.transports import FileTransport, Transport

logger = logging.getLogger("townlet.telemetry")

#: Longest sleep when nothing is queued.
POLL_SECONDS = 0.05
#: Most queued items encoded in one go (sent in batches of ``buffer.max_batch_size``).
ENCODE_CHUNK = 1024
#: Longest the thread stays in the core between updates of its counters and health.
CORE_BUDGET_SECONDS = 0.25


class TelemetryWorker:
    """One background thread between the tick path and the transports."""

    def __init__(
        self,
        transports: list[Transport],
        *,
        buffer: BufferConfig | None = None,
        retry: RetryConfig | None = None,
        worker: WorkerConfig | None = None,
        health_extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        """Sends to ``transports``; limits come from the ``telemetry`` config sections."""
        self.transports = transports
        self.buffer = buffer if buffer is not None else BufferConfig()
        self.retry = retry if retry is not None else RetryConfig()
        self.worker = worker if worker is not None else WorkerConfig()
        self.health_extra = health_extra
        self.builder: PayloadBuilder | None = None
        #: The core queue the tick path fills (set with the builder).
        self.recorder: _core.TelemetryRecorder | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._thread: threading.Thread | None = None
        self._busy = False
        #: Whether the thread is in the core (waiting or encoding; it holds the builder), and how
        #: many callers keep it out (:meth:`held`); both guarded by ``_progress``.
        self._in_core = False
        self._held = 0
        # Counters written by the tick thread only.
        self.dropped_after_halt = 0
        self._warned_drops = 0
        self._max_pending = self.buffer.max_pending
        self._linger = self.buffer.linger_seconds
        #: Queued ticks that wake the thread before its linger is up.
        self.high_water = 1 if self._linger == 0 else max(1, min(ENCODE_CHUNK, self._max_pending // 2))
        self._hurry = threading.Event()
        # Written by the worker thread only.
        self.lost_payloads = 0
        self.payloads_sent = 0
        self.bytes_sent = 0
        self.restarts = 0
        self.halted = False
        self.connected = False
        self.last_success_tick: int | None = None
        self.last_failure_tick: int | None = None
        self.last_error: str | None = None
        self.last_worker_error: str | None = None
        self.send_failures = 0
        self._alerted_drops = 0
        self._last_tick = -1

    # -- tick thread ---------------------------------------------------------------
    def start(self) -> None:
        """Starts the thread (once)."""
        if self._thread is None and not self.halted:
            self._thread = threading.Thread(target=self._run, name="townlet-telemetry", daemon=True)
            self._thread.start()

    def attach(self, builder: PayloadBuilder) -> None:
        """Sets the payload builder (and the recorder whose queue it reads)."""
        self.builder = builder
        self.recorder = builder.recorder

    def captured(self, depth: int) -> None:
        """Called after the tick path queued a tick (``depth``: the queue now); wakes a gathering thread."""
        if depth >= self.high_water and not self._wake.is_set():
            self._wake.set()
        if depth >= self._max_pending:
            dropped = self.dropped_frames
            if dropped >= self._warned_drops + (1000 if self._warned_drops else 1):
                self._warned_drops = dropped
                logger.warning("telemetry: the worker is behind; %d payload(s) dropped so far", dropped)

    def submit_failure(self, tick: int, info: dict[str, Any]) -> None:
        """Queues a ``failure`` payload."""
        if self.halted or self.recorder is None:
            self.dropped_after_halt += 1
            return
        self.captured(self.recorder.fail(tick, info))

    @property
    def dropped_frames(self) -> int:
        """Ticks dropped before the worker took them (queue full, or after a halt)."""
        recorder = self.recorder
        queue = recorder.dropped + recorder.refused if recorder is not None else 0
        return queue + self.dropped_after_halt

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every queued frame was handled (sent, or lost and counted); False on timeout."""
        deadline = time.monotonic() + timeout
        self._hurry.set()
        try:
            while True:
                thread = self._thread
                depth = self.queue_depth
                if thread is None or not thread.is_alive() or (not depth and not self._busy):
                    return thread is None or not thread.is_alive() or not depth
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.set()
                self._interrupt()
                with self._progress:
                    self._progress.wait(min(remaining, 0.01))
        finally:
            self._hurry.clear()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Keeps the thread out of the core (and off the builder) while the block runs.

        For the tick thread's reads and writes of the builder's state
        (saving, restoring, a requested snapshot); the thread goes on
        sending through Python meanwhile.
        """
        with self._progress:
            self._held += 1
        try:
            while True:
                self._interrupt()
                with self._progress:
                    if not self._in_core:
                        break
                    self._progress.wait(0.01)
            yield
        finally:
            with self._progress:
                self._held -= 1

    def _interrupt(self) -> None:
        """Makes the thread leave its wait in the core (or not start the next one)."""
        if self.recorder is not None:
            self.recorder.interrupt()

    def close(self, timeout: float = 10.0) -> None:
        """Sends what is queued, then stops the thread and closes the transports."""
        self._stop.set()
        self._wake.set()
        self._interrupt()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                logger.error("telemetry: the worker did not stop within %.1f s", timeout)
                return
        for transport in self.transports:
            try:
                transport.close()
            except Exception as exc:  # closing must not raise into the caller
                logger.warning("telemetry: closing %s failed: %s", transport.name, exc)

    @property
    def alive(self) -> bool:
        """Whether the thread is running (or about to: not started yet and not halted)."""
        thread = self._thread
        if self.halted:
            return False
        return thread is None or thread.is_alive()

    @property
    def queue_depth(self) -> int:
        """Frames waiting."""
        return self.recorder.depth if self.recorder is not None else 0

    @property
    def dropped_messages(self) -> int:
        """Payloads that never reached a transport: dropped under backpressure or lost in failures."""
        return self.dropped_frames + self.lost_payloads

    def health(self) -> dict[str, Any]:
        """``worker_alive``, restarts, ``connected``, last success/failure ticks and errors, queue, drops."""
        alerts = []
        if self.dropped_messages:
            alerts.append("dropped_messages")
        if self.halted:
            alerts.append("worker_halted")
        elif self.last_worker_error is not None:
            alerts.append("worker_restarted")
        status = [t.status() for t in self.transports]
        if any(s.get("plaintext") for s in status):
            alerts.append("plaintext_transport")
        out: dict[str, Any] = {
            "worker_alive": self.alive,
            "halted": self.halted,
            "restarts": self.restarts,
            "restart_limit": self.worker.restart_limit,
            "connected": self.connected,
            "last_success_tick": self.last_success_tick,
            "last_failure_tick": self.last_failure_tick,
            "last_error": self.last_error,
            "last_worker_error": self.last_worker_error,
            "queue_depth": self.queue_depth,
            "max_pending": self.buffer.max_pending,
            "dropped_messages": self.dropped_messages,
            "send_failures": self.send_failures,
            "payloads_sent": self.payloads_sent,
            "bytes_sent": self.bytes_sent,
            "transports": status,
            "auth": status[0].get("auth", "local") if len(status) == 1 else [s.get("auth") for s in status],
            "plaintext": any(bool(s.get("plaintext")) for s in status),
            "alerts": alerts,
        }
        if self.health_extra is not None:
            out.update(self.health_extra())
        return out

    # -- worker thread -------------------------------------------------------------
    def _run(self) -> None:
        while True:
            try:
                self._serve()
                return
            except Exception as exc:
                self.last_worker_error = f"{type(exc).__name__}: {exc}"
                self.last_error = self.last_worker_error
                self.last_failure_tick = self._last_tick if self._last_tick >= 0 else None
                self.connected = False
                self._busy = False
                if self.builder is not None:
                    self.builder.resync = True
                for transport in self.transports:
                    try:
                        transport.reset()
                    except Exception as reset_exc:
                        logger.warning("telemetry: resetting %s failed: %s", transport.name, reset_exc)
                if self.restarts >= self.worker.restart_limit:
                    self.halted = True
                    if self.recorder is not None:  # what is queued later is refused and counted
                        self.lost_payloads += self.recorder.close()
                    logger.critical(
                        "telemetry: the worker failed %d time(s) and halted; last error: %s",
                        self.restarts + 1,
                        self.last_worker_error,
                    )
                    self._notify()
                    return
                self.restarts += 1
                logger.error(
                    "telemetry: worker failure (%s); restart %d of %d",
                    self.last_worker_error,
                    self.restarts,
                    self.worker.restart_limit,
                )
                self._notify()
                if self._stop.is_set():
                    continue  # flush what is left without waiting
                self._stop.wait(self._backoff(self.restarts - 1))

    def _serve(self) -> None:
        while True:
            if self._enter_core():
                try:
                    self._send_chunk(wait=True)
                finally:
                    self._leave_core()
                continue
            if not self.queue_depth:
                if self._stop.is_set():
                    return
                # Sleep even when a flush hurries: spinning here would hold the GIL the
                # flushing thread needs to see that the queue is empty.
                self._wake.wait(POLL_SECONDS)
                self._wake.clear()
                continue
            if self._linger > 0 and not self._hurrying():
                self._wake.wait(self._linger)
                self._wake.clear()
            while self.queue_depth:
                self._busy = True
                self._send_chunk()
                self._busy = False
                self._notify()
                if self.queue_depth < self.high_water and not self._hurrying():
                    break

    def _hurrying(self) -> bool:
        return self._stop.is_set() or self._hurry.is_set()

    def _enter_core(self) -> bool:
        """Whether the thread may wait in the core now (then it is marked there, and busy)."""
        with self._progress:
            if self._held or self._hurrying() or self.builder is None or self._alerts_due():
                return False
            self._in_core = self._busy = True
            return True

    def _leave_core(self) -> None:
        with self._progress:
            self._in_core = self._busy = False
            self._progress.notify_all()

    def _alerts_due(self) -> bool:
        return self.dropped_messages != self._alerted_drops

    def _send_chunk(self, wait: bool = False) -> None:
        """Encodes up to :data:`ENCODE_CHUNK` queued ticks and sends them in batches.

        With ``wait``, it first waits in the core for a chunk's worth (or the
        linger) and goes on there while every batch is written to the file.
        """
        builder = self.builder
        if builder is None:
            raise TelemetryError("the telemetry worker has no payload builder")
        alerts = self._alerts if self._alerts_due() else None
        waiting = (self.high_water, self._linger, CORE_BUDGET_SECONDS) if wait and alerts is None else None
        before = builder.unserialisable
        # A lone file transport takes its batches from the core, written with the GIL released.
        lone = self.transports[0] if len(self.transports) == 1 else None
        direct = lone if isinstance(lone, FileTransport) else None
        target = direct.direct() if direct is not None else None
        written: list[tuple[int, int, int]] = []
        error: str | None = None
        try:
            limits = {"batch_lines": self.buffer.max_batch_size, "batch_bytes": self.buffer.max_buffer_bytes}
            if direct is not None and target is not None:
                written, batches, error = builder.write_batches(
                    *target, ENCODE_CHUNK, self.health, alerts, wait=waiting, **limits
                )
            else:
                batches = builder.build_batches(ENCODE_CHUNK, self.health, alerts, wait=waiting, **limits)
        except Exception:
            self.lost_payloads += builder.encoder.discard_taken()
            raise
        if builder.unserialisable != before:
            self.last_error = builder.last_error
        for count, last_tick, size in written:
            assert direct is not None  # only the direct path writes
            self._last_tick = last_tick
            direct.wrote(size)
            self._sent(count, size, last_tick)
        if error is not None and batches:  # the first batch left failed: count it, then retry as usual
            self._failed(f"OSError: {error}", batches[0][2], list(self.transports))
        for i, (data, count, last_tick) in enumerate(batches):
            self._last_tick = last_tick
            try:
                self._send(data, count, last_tick)
            except Exception:
                self.lost_payloads += sum(c for _, c, _ in batches[i + 1 :])  # the batches not tried yet
                raise

    def _alerts(self, tick: int) -> list[dict[str, Any]]:
        dropped = self.dropped_messages
        if dropped == self._alerted_drops:
            return []
        new = dropped - self._alerted_drops
        self._alerted_drops = dropped
        return [
            {
                "kind": "telemetry_alert",
                "tick": tick,
                "alert": "dropped_messages",
                "dropped": new,
                "dropped_total": dropped,
                "message": f"telemetry dropped {new} payload(s) (backpressure or transport failure)",
            }
        ]

    def _send(self, data: bytes, count: int, last_tick: int) -> None:
        pending = list(self.transports)
        attempt = 0
        while True:
            failed: list[Transport] = []
            error: Exception | None = None
            for transport in pending:
                try:
                    transport.send(data)
                except Exception as exc:
                    failed.append(transport)
                    error = exc
            if error is None:
                self._sent(count, len(data), last_tick)
                return
            self._failed(f"{type(error).__name__}: {error}", last_tick, failed)
            if attempt >= self.retry.max_attempts:
                self.lost_payloads += count
                raise TelemetryError(f"sending failed after {attempt + 1} attempt(s): {self.last_error}")
            logger.warning("telemetry: send failed (%s); retrying", self.last_error)
            delay = self._backoff(attempt)
            attempt += 1
            pending = failed
            if delay > 0:
                self._stop.wait(delay) if not self._stop.is_set() else time.sleep(min(delay, 0.05))

    def _sent(self, count: int, size: int, last_tick: int) -> None:
        """Counts a batch every transport took."""
        self.connected = all(t.connected for t in self.transports)
        self.last_success_tick = last_tick
        self.payloads_sent += count
        self.bytes_sent += size

    def _failed(self, error: str, last_tick: int, failed: list[Transport]) -> None:
        """Counts a failed send and resets the transports that failed."""
        self.send_failures += 1
        self.connected = False
        self.last_error = error
        self.last_failure_tick = last_tick
        for transport in failed:
            try:
                transport.reset()
            except Exception as exc:
                logger.warning("telemetry: resetting %s failed: %s", transport.name, exc)

    def _backoff(self, attempt: int) -> float:
        retry = self.retry
        return float(min(retry.backoff_seconds * (2**attempt), retry.max_backoff_seconds))

    def _notify(self) -> None:
        with self._progress:
            self._progress.notify_all()
