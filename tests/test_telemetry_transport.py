"""Telemetry transports: TLS over loopback, plaintext rules, file rotation."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from townlet.config.telemetry import TransportConfig
from townlet.core.sim_loop import SimulationLoop
from townlet.errors import TelemetryError
from townlet.telemetry.publisher import TelemetryPublisher
from townlet.telemetry.transports import FileTransport, TcpTransport

from .telemetry_helpers import poc_config

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command generates the test certificates"
)


def _openssl(*args: str | Path, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *map(str, args)], cwd=cwd, check=True, capture_output=True)


def _ca(folder: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip


def _leaf(folder: Path, name: str, ca: str, usage: str, san: str = "DNS:localhost,IP:127.0.0.1") -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", "/CN=localhost", cwd=folder,
    )  # fmt: skip
    (folder / f"{name}.ext").write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n"
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
        "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=folder,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server and a client certificate signed by it, and a second, unrelated CA."""
    if OPENSSL is None:
        pytest.skip("the openssl command generates the test certificates")
    folder = tmp_path_factory.mktemp("pki")
    _ca(folder, "ca")
    _ca(folder, "rogue_ca")
    _leaf(folder, "server", "ca", "serverAuth")
    _leaf(folder, "client", "ca", "clientAuth")
    _leaf(folder, "elsewhere", "ca", "serverAuth", san="DNS:elsewhere.test")
    return folder


class Collector:
    """A loopback TCP server (TLS or not) collecting newline-delimited lines, one thread."""

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.context = context
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.data = b""
        self.errors: list[str] = []
        self.peer_certs: list[object] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            try:
                conn.settimeout(5)
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                    self.peer_certs.append(conn.getpeercert())
                while chunk := conn.recv(65536):
                    self.data += chunk
            except (ssl.SSLError, OSError) as exc:
                self.errors.append(str(exc))
            finally:
                conn.close()

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.data.decode().splitlines()]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture
def tls_server(pki: Path) -> Iterator[Collector]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(pki / "ca.pem")
    server = Collector(context)
    yield server
    server.stop()


def _publish(transport: dict[str, object], ticks: int, **telemetry: object) -> TelemetryPublisher:
    from townlet.core.sim_loop import SimulationLoop

    config = poc_config(transport=transport, **telemetry)
    publisher = TelemetryPublisher.from_config(config.telemetry)
    loop = SimulationLoop(config, telemetry=publisher, crash_snapshots=False)
    loop.run_for_ticks(ticks)
    loop.close()
    return publisher


@needs_openssl
def test_tls_over_loopback_with_server_and_client_certificates(pki: Path, tls_server: Collector) -> None:
    transport = {
        "type": "tcp",
        "endpoint": f"localhost:{tls_server.port}",
        "ca_file": str(pki / "ca.pem"),
        "cert_file": str(pki / "client.pem"),
        "key_file": str(pki / "client.key"),
    }
    publisher = _publish(transport, 20)
    health = publisher.health()
    tls_server.stop()
    assert tls_server.errors == []
    received = tls_server.lines()
    assert [p["tick"] for p in received] == list(range(20))
    assert received[0]["kind"] == "snapshot"
    assert tls_server.peer_certs, "the server saw the client's certificate"
    assert health["dropped_messages"] == 0
    assert health["auth"] == "tls_client_cert"
    assert health["plaintext"] is False
    assert health["last_error"] is None
    (status,) = health["transports"]
    assert status["verify_hostname"] is True
    assert str(status["tls_version"]).startswith("TLSv1.")


@needs_openssl
def test_tls_refuses_a_server_the_ca_did_not_sign(pki: Path, tls_server: Collector) -> None:
    transport = {
        "type": "tcp",
        "endpoint": f"localhost:{tls_server.port}",
        "ca_file": str(pki / "rogue_ca.pem"),
        "cert_file": str(pki / "client.pem"),
        "key_file": str(pki / "client.key"),
    }
    retry = {"max_attempts": 1, "backoff_seconds": 0.0, "max_backoff_seconds": 0.0}
    publisher = _publish(transport, 10, retry=retry, worker={"restart_limit": 1})
    health = publisher.health()
    assert tls_server.data == b"", "nothing reached the server"
    assert "CERTIFICATE_VERIFY_FAILED" in str(health["last_error"])
    assert health["connected"] is False
    assert health["restarts"] >= 1
    assert health["payloads_sent"] == 0
    assert health["dropped_messages"] == 10, "every payload is accounted for as lost"


@needs_openssl
def test_tls_checks_the_server_name(pki: Path) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki / "elsewhere.pem", pki / "elsewhere.key")
    server = Collector(context)
    try:
        endpoint = f"127.0.0.1:{server.port}"
        checked = TcpTransport(TransportConfig(type="tcp", endpoint=endpoint, ca_file=str(pki / "ca.pem")))
        with pytest.raises(ssl.SSLCertVerificationError, match="match"):
            checked.send(b'{"x": 1}\n')
        checked.close()
        config = TransportConfig(
            type="tcp", endpoint=endpoint, ca_file=str(pki / "ca.pem"), verify_hostname=False
        )
        unchecked = TcpTransport(config)
        unchecked.send(b'{"x": 1}\n')
        assert unchecked.connected
        assert unchecked.status()["verify_hostname"] is False
        unchecked.close()
    finally:
        server.stop()
    assert server.lines() == [{"x": 1}], "only the connection without the name check got through"


def test_plaintext_to_a_non_loopback_host_is_refused() -> None:
    flags = {"enable_tls": False, "allow_plaintext": True, "dev_allow_plaintext": True}
    with pytest.raises(ValidationError, match="only allowed to a loopback host"):
        TransportConfig(type="tcp", endpoint="10.1.2.3:9000", **flags)
    with pytest.raises(ValidationError, match="dev_allow_plaintext"):
        TransportConfig(type="tcp", endpoint="127.0.0.1:9000", enable_tls=False, allow_plaintext=True)
    # A config that skipped validation is refused by the transport itself.
    sneaky = TransportConfig.model_construct(
        type="tcp",
        endpoint="telemetry.example:9000",
        connect_timeout_seconds=1.0,
        send_timeout_seconds=1.0,
        **flags,
    )
    with pytest.raises(TelemetryError, match="only a loopback host"):
        TcpTransport(sneaky)
    assert TransportConfig(type="tcp", endpoint="telemetry.example:9000").enable_tls, "TLS by default"


def test_plaintext_to_loopback_needs_the_dev_flags_and_is_flagged(caplog: pytest.LogCaptureFixture) -> None:
    server = Collector(None)
    try:
        transport = {
            "type": "tcp",
            "endpoint": f"127.0.0.1:{server.port}",
            "enable_tls": False,
            "allow_plaintext": True,
            "dev_allow_plaintext": True,
        }
        with caplog.at_level(logging.WARNING, logger="townlet.telemetry"):
            publisher = _publish(transport, 5)
    finally:
        server.stop()
    assert "plaintext TCP" in caplog.text
    health = publisher.health()
    assert health["plaintext"] is True
    assert health["auth"] == "plaintext"
    assert "plaintext_transport" in health["alerts"]
    assert [p["tick"] for p in server.lines()] == [0, 1, 2, 3, 4]


def test_file_transport_rotates_at_line_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    transport = FileTransport(path, rotate_max_bytes=1024, rotate_keep=2)
    line = json.dumps({"pad": "x" * 180}) + "\n"
    for _ in range(40):
        transport.send((line + line).encode())
    transport.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.jsonl", "t.jsonl.1", "t.jsonl.2"], "older files beyond rotate_keep are deleted"
    for name in files:
        text = (tmp_path / name).read_text()
        assert len(text.encode()) <= 1024
        assert all(json.loads(x) for x in text.splitlines())
    assert transport.rotated > 2
    assert transport.status()["rotations"] == transport.rotated


def test_file_transport_with_keep_zero_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    transport = FileTransport(path, rotate_max_bytes=1024, rotate_keep=0)
    for i in range(30):
        transport.send((json.dumps({"i": i, "pad": "y" * 100}) + "\n").encode())
    transport.close()
    assert [p.name for p in tmp_path.iterdir()] == ["t.jsonl"]
    last = [json.loads(x)["i"] for x in path.read_text().splitlines()]
    assert last[-1] == 29


def test_unwritable_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(TelemetryError, match="cannot open telemetry file"):
        TelemetryPublisher(path=blocker / "t.jsonl")


def _stream_files(folder: Path, name: str) -> list[dict[str, object]]:
    """Every payload of a rotated JSONL stream, oldest file first."""
    rotated = sorted(folder.glob(f"{name}.*"), key=lambda p: -int(p.suffix[1:]))
    payloads = []
    for path in [*rotated, folder / name]:
        text = path.read_text()
        assert text.endswith("\n"), f"{path.name} ends inside a line"
        payloads.extend(json.loads(line) for line in text.splitlines())
    return payloads


def test_file_stream_written_from_the_core_rotates_between_lines(tmp_path: Path) -> None:
    """The worker has the core write batches that fit; the batch that would pass the limit rotates."""
    config = poc_config(
        transport={"rotate_max_bytes": 64 * 1024, "rotate_keep": 50}, buffer={"max_batch_size": 16}
    )
    out = tmp_path / "t.jsonl"
    publisher = TelemetryPublisher(path=out, config=config.telemetry)
    loop = SimulationLoop(config, telemetry=publisher, crash_snapshots=False)
    loop.run_for_ticks(400)
    assert publisher.flush()
    health = publisher.health()
    loop.close()
    transport = health["transports"][0]
    assert transport["rotations"] >= 2
    payloads = _stream_files(tmp_path, "t.jsonl")
    assert [p["seq"] for p in payloads] == list(range(400)), "every payload once, in order, across the files"
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 64 * 1024 or len(path.read_text().splitlines()) == 1
    assert health["bytes_sent"] == sum(p.stat().st_size for p in tmp_path.iterdir())
    assert health["send_failures"] == 0


def test_failed_write_from_the_core_is_retried_through_the_transport(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write the core cannot make (a read-only descriptor) is a send failure; the batch goes again."""
    config = poc_config()
    out = tmp_path / "t.jsonl"
    publisher = TelemetryPublisher(path=out, config=config.telemetry)
    worker = publisher._worker
    assert worker is not None
    transport = worker.transports[0]
    assert isinstance(transport, FileTransport)
    read_end, write_end = os.pipe()  # writing to the read end fails with EBADF
    bad_fd = read_end
    real = transport.direct

    def bad_until_a_write_failed() -> tuple[int, int] | None:
        target = real()
        return (bad_fd, 1 << 30) if worker.send_failures == 0 and target is not None else target

    monkeypatch.setattr(transport, "direct", bad_until_a_write_failed)
    loop = SimulationLoop(config, telemetry=publisher, crash_snapshots=False)
    try:
        loop.run_for_ticks(60)
        assert publisher.flush()
        health = publisher.health()
        loop.close()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert health["send_failures"] == 1
    assert "Bad file descriptor" in str(health["last_error"])
    assert health["dropped_messages"] == 0
    payloads = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["seq"] for p in payloads] == list(range(60))
