"""`townlet telemetry-check`, `townlet observe`, the schema validator and the observer sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from townlet.cli import app
from townlet.telemetry.observer import FileTailSource, ObserverState, open_source
from townlet.telemetry.schema import KEYWORDS, Validator, check_payload, schema_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "run.jsonl"
    result = runner.invoke(
        app, ["run", "poc_hybrid", "--ticks", "60", "--quiet", "--telemetry-path", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def _payloads(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_telemetry_check_accepts_a_run(run_file: Path) -> None:
    result = runner.invoke(app, ["telemetry-check", str(run_file)])
    assert result.exit_code == 0, result.output
    assert "60 payload(s) conform to schema 0.2.0 (59 diff, 1 snapshot)" in result.output


def test_telemetry_check_reports_line_and_path_of_each_violation(run_file: Path, tmp_path: Path) -> None:
    payloads = _payloads(run_file)
    payloads[0]["agents"]["agent_0"]["needs"]["hunger"] = 1.5
    del payloads[3]["tick"]
    payloads[4]["events"].append({"kind": "Bad Kind", "tick": 4})
    payloads[5]["schema_version"] = "0.3.0"
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(json.dumps(p) for p in payloads) + "\nnot json\n")
    result = runner.invoke(app, ["telemetry-check", str(bad)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"{bad}:1: $.agents.agent_0.needs.hunger: 1.5 is greater than the maximum 1" in lines
    assert f"{bad}:4: $: missing required property 'tick'" in lines
    assert any(line.startswith(f"{bad}:5: $.events[") and "Bad Kind" in line for line in lines)
    assert any(line.startswith(f"{bad}:6: $.schema_version:") and "newer" in line for line in lines)
    assert any(line.startswith(f"{bad}:61: $: not JSON") for line in lines)
    assert "5 violation(s) in 61 payload(s)" in result.output
    as_json = json.loads(runner.invoke(app, ["telemetry-check", str(bad), "--json"]).output)
    assert as_json["ok"] is False
    assert {"line": 1, "path": "$.agents.agent_0.needs.hunger"}.items() <= as_json["violations"][0].items()


def test_telemetry_check_finds_the_line_inside_a_pretty_json_file(run_file: Path, tmp_path: Path) -> None:
    payload = _payloads(run_file)[0]
    payload["agents"]["agent_3"]["option"] = "fly"
    pretty = tmp_path / "one.json"
    text = json.dumps(payload, indent=2)
    pretty.write_text(text)
    result = runner.invoke(app, ["telemetry-check", str(pretty)])
    assert result.exit_code == 1
    expected = next(i for i, line in enumerate(text.splitlines(), 1) if '"fly"' in line)
    assert f'{pretty}:{expected}: $.agents.agent_3.option: "fly" is not one of' in result.output
    listed = tmp_path / "list.json"
    listed.write_text(json.dumps([_payloads(run_file)[1], {"kind": "diff"}], indent=1))
    result = runner.invoke(app, ["telemetry-check", str(listed)])
    assert result.exit_code == 1
    assert "$[1].schema_version" in result.output
    missing = runner.invoke(app, ["telemetry-check", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 1


def test_shipped_schemas_use_only_the_supported_keywords() -> None:
    names = sorted(p.name for p in schema_dir().glob("*.json"))
    assert names == ["common.json", "diff.json", "failure.json", "snapshot.json"]
    for name in names:
        Validator(name)  # refuses unknown keywords
    with pytest.raises(ValueError, match="unsupported keyword"):
        Validator("x.json", loader=lambda _name: {"type": "object", "if": {"const": 1}})
    assert "$ref" in KEYWORDS


def test_validator_checks_types_enums_refs_and_nullables() -> None:
    failure = {
        "schema_version": "0.2.0",
        "kind": "failure",
        "seq": 3,
        "tick": 9,
        "failure": {
            "tick": 9,
            "stage": "core",
            "error_type": "ValueError",
            "message": "x",
            "crash_snapshot": None,
        },
    }
    assert check_payload(failure) == []
    assert [str(v) for v in check_payload({**failure, "seq": -1})] == ["$.seq: -1 is less than the minimum 0"]
    assert [str(v) for v in check_payload({**failure, "seq": True})] == ["$.seq: true is not of type integer"]
    assert [str(v) for v in check_payload({**failure, "kind": "other"})] == [
        '$.kind: "other" is not one of snapshot, diff, failure'
    ]
    assert [str(v) for v in check_payload([1])] == ["$: a payload must be a JSON object, not [1]"]


def test_observer_follows_a_file_through_rotation(run_file: Path, tmp_path: Path) -> None:
    lines = run_file.read_text().splitlines(keepends=True)
    path = tmp_path / "live.jsonl"
    path.write_text("".join(lines[:10]) + lines[10][:20])  # a half-written line stays pending
    source = open_source(str(path))
    assert isinstance(source, FileTailSource)
    observer = ObserverState()
    observer.apply_all(source.poll())
    assert observer.state is not None
    assert observer.state["tick"] == 9
    with path.open("a") as f:
        f.write(lines[10][20:] + "".join(lines[11:30]))
    observer.apply_all(source.poll())
    assert observer.state["tick"] == 29
    path.rename(tmp_path / "live.jsonl.1")
    path.write_text("".join(lines[40:45]))  # rotated mid-stream: diffs without their base
    observer.apply_all(source.poll())
    assert observer.waiting
    assert observer.gaps == 1
    source.close()


def test_observe_once_renders_the_dashboard(run_file: Path) -> None:
    result = runner.invoke(app, ["observe", str(run_file), "--once", "--agents", "5"])
    assert result.exit_code == 0, result.output
    for text in (
        "tick 59",
        "employment KPIs",
        "attendance",
        "agents most in need (5 of 8)",
        "exit queue",
        "alerts",
    ):
        assert text in result.output, text
    assert "agent_" in result.output


def test_observe_once_without_a_snapshot_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["observe", str(tmp_path / "empty.jsonl"), "--once"])
    assert result.exit_code == 1
    assert "no snapshot" in result.output


def test_http_source_polls_a_console_server_snapshot(run_file: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    snapshot = _payloads(run_file)[0]
    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            body = json.dumps({"status": "ok", "name": "telemetry_snapshot", "data": snapshot}).encode()
            self.send_response(200 if self.path == "/telemetry/snapshot" else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        source = open_source(f"http://127.0.0.1:{server.server_address[1]}", token="t0ken")
        observer = ObserverState()
        observer.apply_all(source.poll())
        source.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert observer.state is not None
    assert observer.state["tick"] == 0
    assert seen == ["Bearer t0ken"]
