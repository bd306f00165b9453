"""The in-process console: the seed-004 dry run, auth, idempotency, audit, error codes."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from townlet.config import ConsoleAuthConfig, ConsoleAuthTokenConfig, SimulationConfig, load_config
from townlet.console import ConsoleCommand, ConsoleRouter, create_console_router
from townlet.core.sim_loop import SimulationLoop

from .conftest import EXAMPLES, REPO

ADMIN, VIEWER = "admin-token-1", "viewer-token-1"


def _config(
    enabled: bool = True, viewer_needs_token: bool = False, audit: Path | None = None
) -> SimulationConfig:
    config = load_config(EXAMPLES / "poc_hybrid.yaml")
    tokens = [
        ConsoleAuthTokenConfig(token=VIEWER, role="viewer"),
        ConsoleAuthTokenConfig(token=ADMIN, role="admin"),
    ]
    auth = ConsoleAuthConfig(enabled=enabled, require_auth_for_viewer=viewer_needs_token, tokens=tokens)
    update: dict[str, Any] = {"console_auth": auth}
    if audit is not None:
        update["console"] = config.console.model_copy(update={"audit_log": str(audit)})
    return config.model_copy(update=update)


def _shard(tmp_path: Path, **kwargs: Any) -> tuple[SimulationLoop, ConsoleRouter, Path]:
    audit = tmp_path / "audit.jsonl"
    config = _config(audit=audit, **kwargs)
    loop = SimulationLoop(config, observations=False)
    router = create_console_router(loop.telemetry, loop.world, policy=loop.policy, config=config)
    return loop, router, audit


def _free_a_bed(loop: SimulationLoop, router: ConsoleRouter) -> None:
    """Removes agent_7 and keeps its replacement away, so a bed is free."""
    router.dispatch(ConsoleCommand(name="set_spawn_delay", args=(5000, 5000)))
    router.dispatch(ConsoleCommand(name="kill", args=("agent_7",)))
    loop.step()


def _queued(loop: SimulationLoop, payload: dict[str, Any]) -> dict[str, Any]:
    loop.telemetry.queue_console_command(payload)
    loop.step()
    results = loop.telemetry.latest_console_results()
    assert len(results) == 1
    return results[0]


def test_seed_004_dry_run_script_runs_unmodified(tmp_path: Path) -> None:
    (tmp_path / "configs").symlink_to(REPO / "configs")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "console_dry_run.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    snapshot, review, approve, defer, status = (ast.literal_eval(line) for line in lines[:5])
    assert snapshot["status"] == "ok"
    assert snapshot["data"]["schema_version"] == "0.2.0"
    assert "pending_count" in snapshot["data"]["employment"]
    assert snapshot["data"]["agents"]["agent_0"]["job"]["name"] == "office_clerk"
    assert snapshot["data"]["economy"]["stock"]
    assert review["data"]["pending"][0]["agent_id"] == "agent_0"
    assert approve["data"]["approved"] is True
    assert defer["data"]["deferred"] is True
    assert status["data"]["pending_count"] == 0
    audit_line = json.loads(lines[lines.index("=== console audit tail ===") + 1])
    assert audit_line["name"] == "employment_status"
    chat = ast.literal_eval(lines[-1])
    assert chat["status"] == "ok"
    assert chat["cmd_id"] == "chat-demo"
    assert chat["data"]["speaker_ties"][0]["other"] == "agent_1"
    assert chat["data"]["listener_ties"][0]["other"] == "agent_0"
    audit = (tmp_path / "logs" / "console" / "commands.jsonl").read_text().splitlines()
    assert json.loads(audit[-1])["cmd_id"] == "chat-demo"
    assert "admin-token" not in "\n".join(audit)


def test_auth_matrix_for_commands_from_outside(tmp_path: Path) -> None:
    loop, _, _ = _shard(tmp_path)
    viewer_cmd = {"name": "employment_status"}
    admin_cmd = {"name": "setneed", "args": ["agent_1", "hunger", 0.5]}
    assert _queued(loop, viewer_cmd)["status"] == "ok", "viewer commands need no token here"
    no_token = _queued(loop, admin_cmd)
    assert no_token["error"]["code"] == "E_UNAUTHORIZED"
    as_viewer = _queued(loop, {**admin_cmd, "auth": {"token": VIEWER}})
    assert as_viewer["error"]["code"] == "E_FORBIDDEN"
    wrong = _queued(loop, {**admin_cmd, "auth": {"token": "not-a-token"}})
    assert wrong["error"]["code"] == "E_UNAUTHORIZED"
    ok = _queued(loop, {**admin_cmd, "auth": {"token": ADMIN}})
    assert ok["status"] == "ok"
    assert ok["data"]["needs"]["hunger"] == pytest.approx(0.5, abs=0.01)

    strict, _, _ = _shard(tmp_path, viewer_needs_token=True)
    assert _queued(strict, viewer_cmd)["error"]["code"] == "E_UNAUTHORIZED"
    assert _queued(strict, {**viewer_cmd, "auth": {"token": VIEWER}})["status"] == "ok"


def test_auth_disabled_refuses_admin_commands_from_outside(tmp_path: Path) -> None:
    loop, router, _ = _shard(tmp_path, enabled=False)
    result = _queued(loop, {"name": "kill", "args": ["agent_2"], "auth": {"token": ADMIN}})
    assert result["error"]["code"] == "E_FORBIDDEN"
    assert "console auth is disabled" in result["error"]["message"]
    events = loop.step().events
    assert not any(e["kind"] == "lifecycle_exit" for e in events)
    assert router.rejected_admin == 1
    assert _queued(loop, {"name": "health"})["data"]["console_auth"]["enabled"] is False
    assert loop.world.has_agent("agent_2")


def test_rejection_is_an_event_and_in_process_calls_are_trusted(tmp_path: Path) -> None:
    loop, router, _ = _shard(tmp_path, enabled=False)
    loop.telemetry.queue_console_command({"name": "kill", "args": ["agent_2"]})
    artifacts = loop.step()
    assert any(e["kind"] == "console_admin_request_rejected" for e in artifacts.events)
    result = router.dispatch(ConsoleCommand(name="kill", args=("agent_2",)))
    assert result["status"] == "ok"
    assert loop.step().terminated == {"agent_2": "console_kill"}


def test_repeated_cmd_id_returns_the_first_result(tmp_path: Path) -> None:
    loop, router, audit = _shard(tmp_path)
    _free_a_bed(loop, router)
    first = router.dispatch(ConsoleCommand(name="spawn", cmd_id="s-1"))
    again = router.dispatch(ConsoleCommand(name="spawn", cmd_id="s-1"))
    assert first == again
    assert first["status"] == "ok"
    assert len(loop.world.agent_ids) == 8, "applied once"
    assert len(audit.read_text().splitlines()) == 3
    full = router.dispatch(ConsoleCommand(name="spawn", cmd_id="s-2"))
    assert full["error"]["code"] == "E_BUSY_TARGET", "every bed is taken"


def test_audit_lines_match_results_and_never_hold_tokens(tmp_path: Path) -> None:
    loop, router, audit = _shard(tmp_path)
    payloads = [
        {"name": "employment_status", "cmd_id": "a"},
        {"name": "price", "args": ["meal", 1.5], "cmd_id": "b", "auth": {"token": ADMIN}},
        {"name": "price", "args": ["meal", 1.5], "cmd_id": "c", "auth": {"token": "wrong-token-99"}},
        {"name": "nope", "cmd_id": "d"},
    ]
    results = [router.dispatch_payload(p) for p in payloads]
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert [line["cmd_id"] for line in lines] == ["a", "b", "c", "d"]
    assert [line["status"] for line in lines] == [r["status"] for r in results]
    assert lines[1]["role"] == "admin"
    assert lines[2]["code"] == "E_UNAUTHORIZED"
    assert lines[3]["code"] == "E_UNKNOWN_COMMAND"
    text = audit.read_text()
    assert ADMIN not in text
    assert "wrong-token-99" not in text
    assert loop.world.core.price(0) >= 1.5, "the admin price change applied"


@pytest.mark.parametrize(
    ("command", "code"),
    [
        (ConsoleCommand(name="teleport", args=("agent_9", 5, 5)), "E_NOT_FOUND"),
        (ConsoleCommand(name="teleport", args=("agent_1", 2, 3)), "E_BLOCKED_TILE"),
        (ConsoleCommand(name="teleport", args=("agent_1", "x", 0)), "E_INVALID_ARG"),
        (ConsoleCommand(name="setneed", args=("agent_1", "thirst", 0.5)), "E_INVALID_ARG"),
        (ConsoleCommand(name="setneed", args=("agent_1", "hunger", 2.0)), "E_INVALID_ARG"),
        (ConsoleCommand(name="price", args=("caviar", 2.0)), "E_INVALID_ARG"),
        (ConsoleCommand(name="employment_exit", args=("approve", "agent_3")), "E_NOT_FOUND"),
        (ConsoleCommand(name="employment_exit", args=("fire", "agent_3")), "E_INVALID_ARG"),
        (ConsoleCommand(name="set_spawn_delay", args=(9, 2)), "E_INVALID_ARG"),
        (ConsoleCommand(name="force_chat", kwargs={"payload": {"speaker": "agent_1"}}), "E_NOT_FOUND"),
        (ConsoleCommand(name="inspect"), "E_INVALID_ARG"),
        (ConsoleCommand(name="summon_dragon"), "E_UNKNOWN_COMMAND"),
    ],
)
def test_error_codes(tmp_path: Path, command: ConsoleCommand, code: str) -> None:
    _, router, _ = _shard(tmp_path)
    result = router.dispatch(command)
    assert result["status"] == "error"
    assert result["error"]["code"] == code
    assert "Traceback" not in result["error"]["message"]


def test_viewer_and_admin_commands_do_what_they_say(tmp_path: Path) -> None:
    loop, router, _ = _shard(tmp_path)

    def run(name: str, *args: Any, **kwargs: Any) -> Any:
        result = router.dispatch(ConsoleCommand(name=name, args=args, kwargs=kwargs))
        assert result["status"] == "ok", result
        return result["data"]

    assert "employment_exit" in run("help")["commands"]
    assert run("inspect", "agent_1")["agent_id"] == "agent_1"
    assert run("teleport", "agent_1", 5, 5)["position"] == [5, 5]
    assert loop.world.agents["agent_1"].position == (5, 5)
    assert run("price", "meal", 2.0)["price"] > 1.9
    assert run("price", "meal", "reset")["price"] < 1.9
    assert run("set_exit_cap", 4)["max_exits_per_day"] == 4
    assert run("set_spawn_delay", 2, 3)["spawn_delay"] == [2, 3]
    assert run("set_death_threshold", 40)["hunger_collapse_ticks"] == 40
    assert run("toggle_mortality", "off")["mortality_enabled"] is False
    assert run("toggle_mortality")["mortality_enabled"] is True
    assert run("debug", "queues")["stats"].keys() >= {"ghost_steps", "timeouts"}
    chat = run("force_chat", payload={"speaker": "agent_1", "listener": "agent_2", "quality": 0.2})
    assert chat["success"] is False
    assert run("relationships", "agent_1")["ties"][0]["other"] == "agent_2"
    _free_a_bed(loop, router)
    spawned = run("spawn", False)
    assert spawned["job"] is None
    run("kill", spawned["agent_id"])
    assert loop.step().terminated == {spawned["agent_id"]: "console_kill"}
    health = run("health")
    assert health["population"] == 7
    assert health["policy_provider"] == "scripted"


def test_malformed_payloads_get_invalid_arg(tmp_path: Path) -> None:
    loop, router, _ = _shard(tmp_path)
    for payload in (
        [1, 2],
        {"args": []},
        {"name": "help", "args": 5},
        {"name": "help", "extra": 1},
        {"name": "help", "auth": "token"},
        {"name": "help", "cmd_id": ""},
    ):
        result = router.dispatch_payload(payload)  # type: ignore[arg-type]
        assert result["error"]["code"] == "E_INVALID_ARG", payload
    loop.telemetry.queue_console_command(["not", "a", "mapping"])  # type: ignore[arg-type]
    loop.step()
    assert loop.telemetry.latest_console_results()[0]["error"]["code"] == "E_INVALID_ARG"


def test_utilities_weather_ties_and_possession(tmp_path: Path) -> None:
    loop, router, _ = _shard(tmp_path)

    def run(name: str, *args: Any) -> dict[str, Any]:
        return router.dispatch(ConsoleCommand(name=name, args=args))

    assert run("blackout", "on")["data"]["up"] is False
    assert run("blackout", "off")["data"]["up"] is True
    assert loop.lifecycle.event_until == loop.tick, "the grace window starts when the blackout ends"
    assert run("outage", "on")["data"]["utility"] == "water"
    assert run("outage", "maybe")["error"]["code"] == "E_INVALID_ARG"
    assert run("rain", "start")["data"]["weather"] == "rainy"
    assert run("rain", "stop")["data"]["weather"] == "sunny"
    ties = run("set_rel", "agent_1", "agent_2", 0.5, 0.2, -0.1)["data"]["ties"]
    assert ties[0]["other"] == "agent_2"
    assert ties[0]["trust"] == pytest.approx(0.5)
    assert run("set_rel", "agent_1", "agent_1", 0.5, 0.2, 0.0)["error"]["code"] == "E_INVALID_ARG"
    assert run("possess", "agent_3", "sleep")["status"] == "ok"
    assert run("possess", "agent_3")["error"]["code"] == "E_ALREADY_POSSESSED"
    assert run("possess", "agent_4", "fly")["error"]["code"] == "E_INVALID_ARG"
    loop.run_for_ticks(3)
    assert loop.options()["agent_3"] == "sleep", "the operator's option, not the policy's"
    assert run("steer", "agent_3", "get_clean")["status"] == "ok"
    loop.run_for_ticks(1)
    assert loop.options()["agent_3"] in ("get_clean", "sleep"), "a running affordance finishes first"
    assert run("release", "agent_3")["status"] == "ok"
    assert run("release", "agent_3")["error"]["code"] == "E_NOT_FOUND"
    assert loop.world.possessed == {}


def test_idempotency_cache_round_trips(tmp_path: Path) -> None:
    _, router, _ = _shard(tmp_path)
    first = router.dispatch(ConsoleCommand(name="health", cmd_id="h-1"))
    _, fresh, _ = _shard(tmp_path)
    fresh.restore(json.loads(json.dumps(router.state())))
    assert fresh.dispatch(ConsoleCommand(name="health", cmd_id="h-1")) == first
