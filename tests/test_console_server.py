"""The console over HTTP: server and client over loopback, the auth matrix, malformed payloads."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from townlet.cli import app
from townlet.config import SimulationConfig
from townlet.console import ConsoleCommand
from townlet.console.client import ConsoleClient, ConsoleConnectionError
from townlet.console.handlers import create_console_router
from townlet.console.server import ConsoleServer
from townlet.core.pacing import ShardClock
from townlet.core.runner import ShardRunner
from townlet.core.sim_loop import SimulationLoop

from .test_console import ADMIN, VIEWER, _config

cli = CliRunner()


@contextmanager
def served(
    config: SimulationConfig, *, paused: bool = True, rate: float = 200.0
) -> Iterator[tuple[str, Any]]:
    """A shard served on a free loopback port; yields its URL and the loop."""
    loop = SimulationLoop(config, observations=False)
    clock = ShardClock(ticks_per_second=rate, paused=paused)
    router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config, clock=clock)
    runner = ShardRunner(loop, clock)
    server = ConsoleServer(runner, router, "127.0.0.1", 0, request_timeout=10.0)
    server.start()
    thread = runner.start()
    try:
        yield server.url, loop
    finally:
        runner.stop()
        thread.join(10)
        server.stop()
        assert runner.error is None


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    audit = tmp_path_factory.mktemp("console") / "audit.jsonl"
    with served(_config(audit=audit)) as running:
        yield running


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], str]:
    """Status, decoded JSON body and the raw text of one request."""
    request = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    text = raw.decode("utf-8", "replace")
    return status, json.loads(text), text


def post(url: str, payload: Any, token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, body, _ = http("POST", url + "/console", json.dumps(payload).encode(), headers)
    return status, body


def test_openapi_document_describes_the_endpoints(shard: tuple[str, Any]) -> None:
    url, _ = shard
    status, doc, _ = http("GET", url + "/openapi.json")
    assert status == 200
    assert {"/console", "/health", "/telemetry/snapshot"} <= doc["paths"].keys()
    assert doc["paths"]["/console"]["post"]["requestBody"]
    assert any(s.get("scheme") == "bearer" for s in doc["components"]["securitySchemes"].values())


def test_auth_matrix_over_http(shard: tuple[str, Any]) -> None:
    url, _ = shard
    admin_cmd = {"name": "setneed", "args": ["agent_2", "energy", 0.4]}
    status, body = post(url, {"name": "employment_status"})
    assert (status, body["status"]) == (200, "ok"), "viewer commands need no token here"
    status, body = post(url, admin_cmd)
    assert (status, body["error"]["code"]) == (401, "E_UNAUTHORIZED")
    status, body = post(url, admin_cmd, VIEWER)
    assert (status, body["error"]["code"]) == (403, "E_FORBIDDEN")
    status, body = post(url, admin_cmd, "not-a-real-token")
    assert (status, body["error"]["code"]) == (401, "E_UNAUTHORIZED")
    status, body = post(url, admin_cmd, ADMIN)
    assert (status, body["status"]) == (200, "ok")
    assert body["data"]["needs"]["energy"] == pytest.approx(0.4, abs=1e-6)
    status, body, _ = http("GET", url + "/health", headers={"Authorization": "Basic abc"})
    assert (status, body["error"]["code"]) == (401, "E_UNAUTHORIZED")
    status, body = post(url, {"name": "help", "auth": {"token": ADMIN}})
    assert status == 422
    assert "Authorization header" in body["error"]["message"]


def test_auth_off_and_viewers_needing_tokens(tmp_path: Path) -> None:
    with served(_config(enabled=False, audit=tmp_path / "a.jsonl")) as (url, _):
        status, body = post(url, {"name": "kill", "args": ["agent_1"]}, ADMIN)
        assert (status, body["error"]["code"]) == (403, "E_FORBIDDEN")
        assert "auth is disabled" in body["error"]["message"]
        status, body, _ = http("GET", url + "/health")
        assert status == 200
        assert body["data"]["console_auth"]["enabled"] is False
    with served(_config(viewer_needs_token=True, audit=tmp_path / "b.jsonl")) as (url, _):
        status, body, _ = http("GET", url + "/telemetry/snapshot")
        assert (status, body["error"]["code"]) == (401, "E_UNAUTHORIZED")
        status, body, _ = http(
            "GET", url + "/telemetry/snapshot", headers={"Authorization": f"Bearer {VIEWER}"}
        )
        assert status == 200
        assert body["data"]["agents"]["agent_0"]["job"]["name"]


def test_time_control_and_arrange_meet_over_http(tmp_path: Path) -> None:
    with served(_config(audit=tmp_path / "audit.jsonl"), paused=False) as (url, _):
        status, first = post(url, {"name": "pause", "cmd_id": "p-1"}, ADMIN)
        assert (status, first["data"]["paused"]) == (200, True)
        _, health, _ = http("GET", url + "/health")
        frozen = health["data"]["tick"]
        assert health["data"]["clock"]["paused"] is True
        assert health["data"]["runner"]["state"] == "paused"
        status, body = post(
            url, {"name": "arrange_meet", "args": ["agent_0", "agent_1"], "kwargs": {"ticks": 3}}, ADMIN
        )
        assert (status, body["data"]["venue"]) == (200, "park_0"), "a paused shard still answers"
        assert body["tick"] == frozen
        status, body = post(url, {"name": "arrange_meet", "args": ["agent_0", "agent_2"]}, ADMIN)
        assert (status, body["error"]["code"]) == (409, "E_BUSY_TARGET")
        status, body = post(url, {"name": "arrange_meet", "args": ["agent_0", "nobody"]}, ADMIN)
        assert (status, body["error"]["code"]) == (404, "E_NOT_FOUND")
        status, body = post(url, {"name": "speed", "args": ["3x"]}, ADMIN)
        assert (status, body["error"]["code"]) == (400, "E_INVALID_ARG")
        assert post(url, {"name": "speed", "args": ["100x"]}, ADMIN)[1]["data"]["speed"] == "100x"
        assert post(url, {"name": "resume"}, ADMIN)[1]["data"]["paused"] is False
        status, body = post(url, {"name": "health"})
        assert body["data"]["tick"] > frozen, "commands wait for the next tick when running"
        status, again = post(url, {"name": "pause", "cmd_id": "p-1"}, ADMIN)
        assert again == first, "a repeated cmd_id returns the first result"


def test_unknown_endpoints_and_methods_are_console_errors(shard: tuple[str, Any]) -> None:
    url, _ = shard
    status, body, _ = http("GET", url + "/nowhere")
    assert (status, body["error"]["code"]) == (404, "E_NOT_FOUND")
    status, body, _ = http("DELETE", url + "/health")
    assert (status, body["error"]["code"]) == (405, "E_INVALID_ARG")
    status, body, _ = http("POST", url + "/console", b"name=help", {"Content-Type": "text/plain"})
    assert (status, body["error"]["code"]) == (422, "E_INVALID_ARG")
    assert "Content-Type: application/json" in body["error"]["message"]
    status, body, _ = http("POST", url + "/console", b"[" * 200_000, {"Content-Type": "application/json"})
    assert (status, body["error"]["code"]) == (413, "E_INVALID_ARG")
    nested = b'{"name": "help", "args": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    status, body, _ = http("POST", url + "/console", nested, {"Content-Type": "application/json"})
    assert 400 <= status < 500
    assert body["error"]["code"] == "E_INVALID_ARG"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
payload_keys = st.sampled_from(["name", "args", "kwargs", "mode", "cmd_id", "issuer", "auth", "extra", ""])
command_names = st.sampled_from(
    ["help", "health", "inspect", "arrange_meet", "speed", "setneed", "debug", ""]
)
payloads = st.one_of(
    json_values,
    st.dictionaries(payload_keys, json_values, max_size=6),
    st.fixed_dictionaries(
        {"name": command_names},
        optional={
            "args": st.lists(json_values, max_size=5),
            "kwargs": st.dictionaries(st.text(max_size=8), json_values),
        },
    ),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads)
def test_malformed_payloads_never_produce_a_500_or_a_traceback(shard: tuple[str, Any], payload: Any) -> None:
    url, _ = shard
    for endpoint in ("/console", "/console/role"):
        status, body, text = http(
            "POST", url + endpoint, json.dumps(payload).encode(), {"Content-Type": "application/json"}
        )
        assert status < 500, text
        assert body["status"] in ("ok", "error")
        assert (status == 200) == (body["status"] == "ok")
        assert "Traceback" not in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.binary(max_size=200), header=st.text(max_size=30).filter(lambda h: h.isprintable() and h.isascii())
)
def test_raw_bytes_and_odd_headers_never_produce_a_500(
    shard: tuple[str, Any], raw: bytes, header: str
) -> None:
    url, _ = shard
    headers = {"Content-Type": "application/json", "Authorization": header}
    status, body, text = http("POST", url + "/console", raw, headers)
    assert status < 500, text
    assert body["status"] in ("ok", "error")


@pytest.fixture(scope="module")
def fuzz_shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    audit = tmp_path_factory.mktemp("fuzz") / "audit.jsonl"
    with served(_config(audit=audit)) as running:
        yield running


# "resume" stays out: the fuzzed shard stays paused and costs no CPU while the module runs.
every_command = st.sampled_from(
    [
        "arrange_meet", "speed", "pause", "setneed", "teleport", "price", "spawn", "kill",
        "set_rel", "force_chat", "possess", "steer", "release", "blackout", "rain", "set_exit_cap",
        "set_spawn_delay", "set_death_threshold", "toggle_mortality", "employment_exit", "inspect", "debug",
    ]
)  # fmt: skip
agent_like = st.sampled_from(["agent_0", "agent_1", "agent_2", "agent_99", "park_0", "cafe_0", "home_1"])
arg_values = st.one_of(
    agent_like, json_values, st.sampled_from(["1x", "10x", "on", "off", "sleep", "-1", "1e9"])
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=every_command,
    args=st.lists(arg_values, max_size=5),
    kwargs=st.dictionaries(
        st.sampled_from(["ticks", "option", "venue", "payload", "speed", "x"]), arg_values
    ),
)
def test_admin_commands_with_odd_arguments_answer_with_codes(
    fuzz_shard: tuple[str, Any], name: str, args: list[Any], kwargs: dict[str, Any]
) -> None:
    url, _ = fuzz_shard
    status, body = post(url, {"name": name, "args": args, "kwargs": kwargs}, ADMIN)
    assert status < 500, body
    if body["status"] == "error":
        assert body["error"]["code"] != "E_INTERNAL", body


# -- the client -------------------------------------------------------------------------
def test_client_end_to_end(shard: tuple[str, Any]) -> None:
    url, _ = shard
    result = cli.invoke(app, ["console", "--url", url, "inspect", "agent_3"])
    assert result.exit_code == 0, result.output
    assert "agent_3" in result.output
    assert "office_clerk" in result.output or "job" in result.output
    result = cli.invoke(app, ["console", "--url", url, "--json", "debug", "queues"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["data"]["stats"].keys() >= {"timeouts"}
    result = cli.invoke(
        app, ["console", "--url", url, "--token", ADMIN, "setneed", "agent_3", "hunger", "0.75"]
    )
    assert result.exit_code == 0, result.output
    assert "0.75" in result.output
    assert ADMIN not in result.output
    result = cli.invoke(
        app,
        ["console", "--url", url, "arrange_meet", "agent_4", "agent_5", "ticks=5", "--cmd-id", "m-1"],
        env={"TOWNLET_CONSOLE_TOKEN": ADMIN},
    )
    assert result.exit_code == 0, result.output
    assert "meet-" in result.output
    result = cli.invoke(app, ["console", "--url", url, "--token", VIEWER, "kill", "agent_3"])
    assert result.exit_code == 1
    assert "E_FORBIDDEN" in result.output


def test_client_snapshot_tables_and_errors(shard: tuple[str, Any]) -> None:
    url, _ = shard
    client = ConsoleClient(url)
    snapshot = client.snapshot()
    assert snapshot.ok
    assert snapshot.result["data"]["schema_version"]
    result = cli.invoke(app, ["console", "--url", url, "telemetry_snapshot"])
    assert result.exit_code == 0
    assert "agent_0" in result.output
    assert "agents" in result.output
    result = cli.invoke(app, ["console", "--url", url, "inspect", "agent_404"])
    assert result.exit_code == 1
    assert "E_NOT_FOUND" in result.output


def test_client_connection_errors(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = cli.invoke(app, ["console", "--url", f"http://127.0.0.1:{port}", "health"])
    assert result.exit_code == 3
    assert "cannot reach the shard" in result.output
    assert "Traceback" not in result.output
    result = cli.invoke(app, ["console", "--url", "ftp://example", "health"])
    assert result.exit_code == 2
    with pytest.raises(ConsoleConnectionError):
        ConsoleClient(f"http://127.0.0.1:{port}", timeout=1).health()


def test_client_schema_warning_and_major_mismatch(
    shard: tuple[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = shard
    monkeypatch.setattr("townlet.telemetry.publisher.SCHEMA_VERSION", "0.0.1")
    result = cli.invoke(app, ["console", "--url", url, "health"])
    assert result.exit_code == 0
    assert "newer than this client" in result.output
    monkeypatch.setattr("townlet.telemetry.publisher.SCHEMA_VERSION", "7.0.0")
    result = cli.invoke(
        app, ["console", "--url", url, "--token", ADMIN, "setneed", "agent_1", "hunger", "0.1"]
    )
    assert result.exit_code == 4
    assert "refused" in result.output
    result = cli.invoke(app, ["console", "--url", url, "employment_exit", "review"])
    assert result.exit_code == 0, "reading is still allowed"


def test_role_endpoint_matches_the_router(tmp_path: Path) -> None:
    config = _config(audit=tmp_path / "audit.jsonl")
    with served(config) as (url, loop):
        router = loop.telemetry.console_handler.__self__
        client = ConsoleClient(url)
        for name in router.commands():
            expected = router.required_role(ConsoleCommand(name=name))
            assert client.role(name).result["data"]["role"] == expected, name
            assert client.mutating(name) == (expected == "admin"), name
        assert client.mutating("employment_exit", ["approve", "agent_1"])
        assert not client.mutating("speed")
        assert client.mutating("speed", ["10x"])
        unknown = client.role("summon_dragon")
        assert (unknown.status, unknown.result["error"]["code"]) == (404, "E_UNKNOWN_COMMAND")
        assert client.mutating("summon_dragon"), "what the shard cannot place counts as mutating"
