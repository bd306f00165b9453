"""`townlet run --serve`: a paced shard with its console over HTTP, stopped by Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from townlet.cli import app
from townlet.console.client import ConsoleClient

cli = CliRunner()


def test_serve_answers_over_http_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "townlet.cli", "run", "poc_hybrid", "--ticks", "0", "--serve", "127.0.0.1:0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while "console at" not in line and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "the shard exited before serving"
        url = line.split("console at ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:")
        client = ConsoleClient(url)
        health = client.health()
        assert health.ok
        assert health.result["data"]["clock"]["speed"] == "1x"
        assert health.result["data"]["runner"]["state"] == "running"
        refused = client.send("pause")
        assert refused.result["error"]["code"] == "E_FORBIDDEN", "auth is off in poc_hybrid"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert "townlet run" in stdout, "the summary follows the stop"
    assert "Traceback" not in stderr
    audit = (tmp_path / "logs" / "console" / "commands.jsonl").read_text().splitlines()
    assert [json.loads(a)["name"] for a in audit] == ["health", "pause"]


def test_serve_for_a_number_of_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(
        app, ["run", "poc_hybrid", "--ticks", "4", "--serve", "127.0.0.1:0", "--speed", "max", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ticks"] == 4
    assert "console at http://127.0.0.1:" in result.stderr


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--serve", "0.0.0.0:0"], "not a loopback address"),
        (["--serve", "127.0.0.1:99999"], "expected HOST:PORT"),
        (["--serve", "127.0.0.1:0", "--speed", "7x"], "--speed '7x'"),
        (["--speed", "10x"], "add --serve"),
    ],
)
def test_serve_refusals_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: list[str], message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli.invoke(app, ["run", "poc_hybrid", "--ticks", "1", *options])
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_a_port_in_use_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli.invoke(app, ["run", "poc_hybrid", "--ticks", "1", "--serve", f"127.0.0.1:{port}"])
    assert result.exit_code == 1, result.output
    assert "cannot serve the console" in result.output
