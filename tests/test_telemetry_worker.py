"""The telemetry worker: failures, restarts, halting, backpressure, retries, flushing, health."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from townlet.console.handlers import create_console_router
from townlet.core.sim_loop import SimulationLoop
from townlet.telemetry.publisher import TelemetryPublisher

from .telemetry_helpers import RecordingTransport, poc_config, recorded_loop

NO_WAIT = {"backoff_seconds": 0.0, "max_backoff_seconds": 0.0}


def test_a_transport_that_raises_restarts_the_worker_then_halts_it_cleanly() -> None:
    transport = RecordingTransport(fail=True)
    config = poc_config(retry={"max_attempts": 1, **NO_WAIT}, worker={"restart_limit": 2})
    loop = recorded_loop(config, transport)
    deadline = time.monotonic() + 20
    while not loop.telemetry.health()["halted"] and time.monotonic() < deadline:
        loop.run_for_ticks(5)
        loop.telemetry.flush(1.0)
    loop.run_for_ticks(20)  # the shard runs on without telemetry
    health = loop.telemetry.health()
    loop.close()
    assert health["halted"] is True
    assert health["worker_alive"] is False
    assert health["restarts"] == 2
    assert health["restart_limit"] == 2
    assert "boom" in str(health["last_error"])
    assert "boom" in str(health["last_worker_error"])
    assert health["last_failure_tick"] is not None
    assert health["last_success_tick"] is None
    assert health["connected"] is False
    assert health["payloads_sent"] == 0
    assert health["dropped_messages"] == loop.tick, "every tick's payload is accounted for"
    assert {"worker_halted", "dropped_messages"} <= set(health["alerts"])
    assert transport.resets >= 3 * 2, "each failed attempt resets the transport"
    assert loop.health()["telemetry"]["halted"] is True


def test_a_failed_send_is_retried_with_a_reset_transport() -> None:
    class Flaky(RecordingTransport):
        def send(self, data: bytes) -> None:
            if self.resets < 2:
                raise ConnectionResetError("the collector restarted")
            super().send(data)

    transport = Flaky()
    loop = recorded_loop(poc_config(retry={"max_attempts": 3, **NO_WAIT}), transport)
    loop.run_for_ticks(30)
    loop.close()
    health = loop.telemetry.health()
    assert transport.resets == 2
    assert health["send_failures"] == 2
    assert health["restarts"] == 0
    assert health["dropped_messages"] == 0
    assert [p["tick"] for p in transport.payloads()] == list(range(30))
    assert "ConnectionResetError" in str(health["last_error"])
    assert health["last_success_tick"] == 29


def test_a_slow_consumer_causes_counted_drops_not_a_stalled_tick() -> None:
    transport = RecordingTransport(delay=0.05)
    buffer = {"max_pending": 8, "max_batch_size": 4}
    loop = recorded_loop(poc_config(buffer=buffer), transport)
    start = time.perf_counter()
    loop.run_for_ticks(400)
    elapsed = time.perf_counter() - start
    slowest = loop.timer.slowest()[0].seconds
    health = loop.telemetry.health()
    dropped = health["dropped_messages"]
    loop.close()
    assert dropped > 0
    # Waiting for the consumer would have taken 400 / 4 * 0.05 = 5 s at the very least.
    assert elapsed < 4.0, f"the tick loop waited for the consumer ({elapsed:.2f} s)"
    assert slowest < 0.05, f"a tick took {slowest:.3f} s: as long as one send"
    payloads = transport.payloads()
    assert len(payloads) + dropped == 400
    alerts = [e for p in payloads for e in p["events"] if e["kind"] == "telemetry_alert"]
    assert alerts, "a later payload says how many were dropped"
    assert alerts[-1]["alert"] == "dropped_messages"
    assert "dropped_messages" in health["alerts"]


def test_close_sends_everything_still_queued() -> None:
    transport = RecordingTransport(delay=0.01)
    loop = recorded_loop(poc_config(buffer={"max_batch_size": 2}), transport)
    loop.run_for_ticks(60)
    assert loop.telemetry.health()["queue_depth"] > 0, "the worker is still behind"
    loop.close()
    assert [p["tick"] for p in transport.payloads()] == list(range(60))
    assert loop.telemetry.payloads_written == 60
    assert transport.closed


def test_batches_respect_the_byte_limit() -> None:
    sizes: list[int] = []

    class Sizing(RecordingTransport):
        def send(self, data: bytes) -> None:
            lines = data.splitlines(keepends=True)
            sizes.append(len(data) - len(lines[-1]))
            super().send(data)

    loop = recorded_loop(poc_config(buffer={"max_buffer_bytes": 1024, "max_batch_size": 1000}), Sizing())
    loop.run_for_ticks(40)
    loop.close()
    assert sizes
    assert max(sizes) < 1024, "a batch stops growing once it reaches max_buffer_bytes"


def test_muted_publisher_starts_no_thread_and_reports_health() -> None:
    loop = SimulationLoop(poc_config(), crash_snapshots=False)
    loop.run_for_ticks(10)
    health = loop.health()["telemetry"]
    assert health["provider"] == "publisher"
    assert health["transport"] is None
    assert health["worker_alive"] is False
    assert health["payloads"] == 0
    assert not loop.telemetry.active
    loop.close()


def test_console_health_shows_telemetry_health_with_auth_status() -> None:
    transport = RecordingTransport()
    config = poc_config()
    loop = recorded_loop(config, transport)
    router = create_console_router(loop.telemetry, loop.world, config=config)
    loop.run_for_ticks(5)
    loop.telemetry.flush()
    result = router.dispatch_payload({"name": "health", "cmd_id": "h1"})
    loop.close()
    assert result["status"] == "ok", result
    telemetry = result["data"]["loop"]["telemetry"]
    for key in (
        "worker_alive",
        "restarts",
        "connected",
        "last_success_tick",
        "last_failure_tick",
        "last_error",
        "queue_depth",
        "dropped_messages",
        "auth",
    ):
        assert key in telemetry, key
    assert telemetry["worker_alive"] is True
    assert telemetry["connected"] is True
    assert telemetry["last_success_tick"] == 4
    assert telemetry["console_auth"]["enabled"] is False


def test_health_can_be_read_from_another_thread_while_the_worker_encodes() -> None:
    transport = RecordingTransport()
    loop = recorded_loop(poc_config(buffer={"linger_seconds": 0.0}), transport)
    errors: list[BaseException] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                loop.telemetry.health()
            except Exception as exc:  # the test reports it below
                errors.append(exc)
                return

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        loop.run_for_ticks(300)
        loop.telemetry.flush()
    finally:
        stop.set()
        poller.join()
    health = loop.telemetry.health()
    loop.close()
    assert not errors, errors
    assert health["seq"] == 300
    assert health["narration"]["emitted"] >= 0


def test_the_worker_steps_out_of_the_core_for_saves_restores_and_snapshots(tmp_path: Path) -> None:
    """The worker waits for ticks inside the core, holding the encoder; the tick thread still gets it."""
    out = tmp_path / "t.jsonl"
    config = poc_config(buffer={"linger_seconds": 0.02})
    publisher = TelemetryPublisher(path=out, config=config.telemetry)
    loop = SimulationLoop(config, telemetry=publisher)
    worker = publisher._worker
    assert worker is not None
    loop.run_for_ticks(50)
    deadline = time.monotonic() + 5
    while not worker._in_core and time.monotonic() < deadline:  # it goes back to waiting in the core
        time.sleep(0.005)
    assert worker._in_core
    saved = publisher.state()  # would fail if the encoder were still borrowed by the waiting worker
    assert saved["builder"]["seq"] == 50
    assert worker.builder is not None
    with worker.held():
        time.sleep(0.2)  # past the worker's idle poll: it would be back in the core by now
        assert not worker._in_core
        assert worker.builder.state()["seq"] == 50
    loop.run_for_ticks(10)
    publisher.request_snapshot()
    loop.run_for_ticks(10)
    publisher.restore(publisher.state())
    loop.run_for_ticks(10)
    assert publisher.flush()
    health = publisher.health()
    loop.close()
    payloads = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["seq"] for p in payloads] == list(range(80))
    assert payloads[60]["kind"] == "snapshot"
    assert health["dropped_messages"] == 0
    assert health["payloads_sent"] == 80
