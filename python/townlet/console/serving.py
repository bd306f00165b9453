"""`townlet run CONFIG --serve HOST:PORT`: a paced shard with its console over HTTP.

The loop runs on the calling (main) thread under a
:class:`~townlet.core.runner.ShardRunner`; the HTTP server runs on a
background thread and hands every request to the runner. Ctrl-C (SIGINT)
or SIGTERM ends the current tick, answers the commands still waiting,
stops the server and returns; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from townlet.config.telemetry import is_loopback_host

if TYPE_CHECKING:
    from townlet.config import SimulationConfig
    from townlet.core.runner import ShardRunner
    from townlet.core.sim_loop import SimulationLoop


class ServeError(Exception):
    """The shard cannot be served (a bad address, a missing extra, a port in use)."""


def parse_endpoint(endpoint: str, default_host: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (on ``default_host``); port 0 picks a free one."""
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep:
        host, port = default_host, endpoint.strip()
    host = host.strip("[]") or default_host
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ServeError(f"--serve {endpoint!r}: expected HOST:PORT with a port in 0..65535")
    return host, int(port)


def _stop_on_signals(runner: ShardRunner) -> Callable[[], None]:
    """Ctrl-C / SIGTERM stop the runner (a second Ctrl-C interrupts); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}
    asked: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if asked and signum == signal.SIGINT:
            raise KeyboardInterrupt
        asked.append(signum)
        runner.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, handle)

    def undo() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return undo


def serve_shard(
    loop: SimulationLoop,
    config: SimulationConfig,
    endpoint: str,
    ticks: int,
    *,
    speed: str | None = None,
    announce: Callable[[str], None] = print,
) -> ShardRunner:
    """Serves ``loop``'s console at ``endpoint`` and runs it for ``ticks`` ticks (0: until stopped).

    Returns the runner when the run ends (its ``error`` is None); a failing
    tick's ``TickError`` propagates. ``ServeError`` when the shard cannot be
    served (nothing ran then). ``announce`` receives the line with the URL.
    """
    server_config = config.console.server
    host, port = parse_endpoint(endpoint, server_config.host)
    if not server_config.allow_non_loopback and not is_loopback_host(host):
        raise ServeError(
            f"--serve {endpoint!r}: {host} is not a loopback address; "
            "set console.server.allow_non_loopback: true to serve beyond this machine"
        )
    try:
        from townlet.console.server import ConsoleServer
    except ImportError as exc:
        raise ServeError(
            f"the HTTP console needs the server extra ({exc.name} is missing): pip install 'townlet[server]'"
        ) from None
    from townlet.console.handlers import create_console_router
    from townlet.core.pacing import SPEEDS, ShardClock
    from townlet.core.runner import ShardRunner

    clock_config = config.console.clock
    if speed is not None and speed not in SPEEDS:
        raise ServeError(f"--speed {speed!r}: expected one of {', '.join(SPEEDS)}")
    clock = ShardClock(clock_config.ticks_per_second, speed or clock_config.speed, clock_config.paused)
    router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config, clock=clock)
    runner = ShardRunner(loop, clock)
    server = ConsoleServer(
        runner,
        router,
        host,
        port,
        allow_non_loopback=server_config.allow_non_loopback,
        request_timeout=server_config.request_timeout_s,
    )
    try:
        server.start()
    except OSError as exc:
        raise ServeError(f"cannot serve the console on {host}:{port}: {exc.strerror or exc}") from None
    rate = clock.ticks_per_second
    pace = "unthrottled" if rate is None else f"{rate:g} ticks/s"
    state = "paused" if clock.paused else f"{clock.speed} ({pace})"
    until = f"for {ticks} ticks" if ticks else "until Ctrl-C"
    announce(f"console at {server.url} (OpenAPI: {server.url}/openapi.json), {state}, running {until}")
    undo = _stop_on_signals(runner)
    try:
        runner.run(ticks)
    finally:
        undo()
        server.stop()
    return runner
