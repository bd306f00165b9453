"""Telemetry transports: a text stream (stdout), a JSONL file with rotation, TCP (TLS by default).

A transport takes batches of JSON lines from the worker thread: one
``bytes`` object of whole UTF-8 lines, each ending in a newline.
``send`` raises on failure; the worker then calls ``reset`` (drop the
connection or handle; the next ``send`` reopens) and retries with backoff.
``status`` reports what health shows about the link: its kind, whether
it is connected, and how it is authenticated.

TCP uses TLS unless plaintext is explicitly allowed for a loopback
target (``allow_plaintext`` and ``dev_allow_plaintext``): the server's
certificate is verified against ``ca_file`` (or the system store) and its
name against the endpoint's host (``verify_hostname``); ``cert_file`` and
``key_file`` present a client certificate. Plaintext is logged as a
warning and flagged in health.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
from pathlib import Path
from typing import IO, Protocol, runtime_checkable

from townlet.config.telemetry import TransportConfig, is_loopback_host, split_endpoint
from townlet.errors import TelemetryError

logger = logging.getLogger("townlet.telemetry")


@runtime_checkable
class Transport(Protocol):
    """Where payload lines go."""

    name: str

    @property
    def connected(self) -> bool:
        """Whether the link is open now."""
        ...

    def send(self, data: bytes) -> None:
        """Writes ``data`` (whole newline-terminated JSON lines, UTF-8); raises on failure."""
        ...

    def reset(self) -> None:
        """Drops the connection or handle after a failure (the next ``send`` reopens it)."""
        ...

    def close(self) -> None:
        """Flushes and closes for good."""
        ...

    def status(self) -> dict[str, object]:
        """Kind, link and authentication facts for health (no secrets)."""
        ...


class StreamTransport:
    """Writes lines to a text stream (``sys.stdout`` for ``--stream-telemetry``); never closes it."""

    name = "stdout"

    def __init__(self, stream: IO[str]) -> None:
        """Mirrors payloads to ``stream``."""
        self.stream = stream

    @property
    def connected(self) -> bool:
        """A stream is always there."""
        return True

    def send(self, data: bytes) -> None:
        """Writes and flushes the lines (to the stream's binary buffer when it has one)."""
        buffer = getattr(self.stream, "buffer", None)
        if buffer is not None:
            self.stream.flush()  # keep order with text already written to the stream
            buffer.write(data)
            buffer.flush()
        else:
            self.stream.write(data.decode("utf-8"))
            self.stream.flush()

    def reset(self) -> None:
        """Nothing to reopen."""

    def close(self) -> None:
        """Flushes (the stream belongs to the caller)."""
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()

    def status(self) -> dict[str, object]:
        """A local stream: no authentication involved."""
        return {"transport": self.name, "auth": "local"}


class FileTransport:
    """Appends lines to a JSONL file, rotating it past ``rotate_max_bytes``.

    Rotation renames ``out.jsonl`` to ``out.jsonl.1`` (older ones move to
    ``.2`` ... up to ``rotate_keep``; beyond that they are deleted; with
    ``rotate_keep: 0`` the file simply starts over). A line is never split
    across files. ``rotated`` counts rotations.
    """

    name = "file"

    def __init__(
        self, path: str | Path, *, rotate_max_bytes: int = 64 * 1024 * 1024, rotate_keep: int = 3
    ) -> None:
        """Opens (creating the folder) ``path`` for appending; ``TelemetryError`` if it cannot."""
        self.path = Path(path)
        self.rotate_max_bytes = rotate_max_bytes
        self.rotate_keep = rotate_keep
        self.rotated = 0
        self._handle: IO[bytes] | None = None
        self._size = 0
        self._open()

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = self.path.open("ab", buffering=0)
        except OSError as exc:
            raise TelemetryError(f"cannot open telemetry file {self.path}: {exc.strerror}") from None
        self._size = self._handle.tell()

    @property
    def connected(self) -> bool:
        """Whether the file is open."""
        return self._handle is not None

    def send(self, data: bytes) -> None:
        """Appends the lines, rotating before a line that would pass the size limit."""
        if self._handle is None:
            self._open()
        if self._size + len(data) <= self.rotate_max_bytes:
            self._write(data)
            return
        start = 0
        while start < len(data):
            # Write the lines that fit, rotate, go on; a file always takes at least one line.
            room = self.rotate_max_bytes - self._size
            end = data.rfind(b"\n", start, start + room) + 1 if room > 0 else 0
            if end <= start:
                if self._size > 0:
                    self._rotate()
                    continue
                end = data.find(b"\n", start) + 1 or len(data)
            self._write(data[start:end])
            start = end

    def direct(self) -> tuple[int, int] | None:
        """The open file's descriptor and the bytes it takes before rotating, for writes from the core.

        The worker has the core write batches that fit straight to the
        descriptor (then calls :meth:`wrote`) and sends the rest through
        :meth:`send`, which rotates. None where the core cannot write to a
        descriptor (not POSIX). Opens the file when it was reset.
        """
        if os.name != "posix":
            return None
        if self._handle is None:
            self._open()
        assert self._handle is not None
        return self._handle.fileno(), max(self.rotate_max_bytes - self._size, 0)

    def wrote(self, size: int) -> None:
        """Counts ``size`` bytes the core wrote to :meth:`direct`'s descriptor."""
        self._size += size

    def _write(self, data: bytes) -> None:
        if not data:
            return
        assert self._handle is not None
        view = memoryview(data)
        while view:
            written = self._handle.write(view)  # an unbuffered file may write part of it
            view = view[written or 0 :]
        self._size += len(data)

    def _rotate(self) -> None:
        assert self._handle is not None
        self._handle.close()
        self._handle = None
        keep = self.rotate_keep
        base = str(self.path)
        if keep == 0:
            self.path.unlink(missing_ok=True)
        else:
            Path(f"{base}.{keep}").unlink(missing_ok=True)
            for k in range(keep - 1, 0, -1):
                older = Path(f"{base}.{k}")
                if older.exists():
                    os.replace(older, f"{base}.{k + 1}")
            os.replace(self.path, f"{base}.1")
        self.rotated += 1
        self._open()

    def reset(self) -> None:
        """Closes the file; the next send reopens it."""
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None

    def close(self) -> None:
        """Flushes and closes the file."""
        self.reset()

    def status(self) -> dict[str, object]:
        """A local file: no authentication involved."""
        return {"transport": self.name, "auth": "local", "path": str(self.path), "rotations": self.rotated}


class TcpTransport:
    """Newline-delimited JSON over TCP, TLS unless plaintext was explicitly allowed for loopback."""

    name = "tcp"

    def __init__(self, config: TransportConfig) -> None:
        """Checks the endpoint and builds the TLS context; ``TelemetryError`` for an unsafe setup.

        Config validation refuses plaintext to anything but a loopback host
        already; the transport checks again so a hand-built config cannot
        slip through.
        """
        if not config.endpoint:
            raise TelemetryError("the tcp transport needs an endpoint (host:port)")
        try:
            self.host, self.port = split_endpoint(config.endpoint)
        except ValueError as exc:
            raise TelemetryError(str(exc)) from None
        self.config = config
        self.tls = config.enable_tls
        self._sock: socket.socket | None = None
        self._context: ssl.SSLContext | None = None
        self.peer: dict[str, object] = {}
        if self.tls:
            self._context = self._tls_context(config)
        else:
            if not (config.allow_plaintext and config.dev_allow_plaintext):
                raise TelemetryError(
                    "plaintext TCP needs both allow_plaintext and dev_allow_plaintext; use TLS otherwise"
                )
            if not is_loopback_host(self.host):
                raise TelemetryError(
                    f"plaintext TCP is refused for {self.host!r}: "
                    "only a loopback host may be used without TLS"
                )
            logger.warning(
                "telemetry: plaintext TCP to %s:%d (dev flags set); payloads are not encrypted",
                self.host,
                self.port,
            )

    @staticmethod
    def _tls_context(config: TransportConfig) -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.check_hostname = config.verify_hostname
            context.verify_mode = ssl.CERT_REQUIRED
            if config.cert_file is not None:
                context.load_cert_chain(config.cert_file, config.key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TelemetryError(f"cannot set up TLS for telemetry: {exc}") from None
        return context

    @property
    def connected(self) -> bool:
        """Whether a connection is open."""
        return self._sock is not None

    def _connect(self) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout=self.config.connect_timeout_seconds)
        try:
            if self._context is not None:
                sock: socket.socket = self._context.wrap_socket(raw, server_hostname=self.host)
                assert isinstance(sock, ssl.SSLSocket)
                self.peer = {"tls_version": sock.version(), "cipher": (sock.cipher() or ("?",))[0]}
            else:
                sock = raw
        except BaseException:
            raw.close()
            raise
        sock.settimeout(self.config.send_timeout_seconds)
        return sock

    def send(self, data: bytes) -> None:
        """Connects if needed, then sends the lines."""
        if self._sock is None:
            self._sock = self._connect()
        self._sock.sendall(data)

    def reset(self) -> None:
        """Closes the connection; the next send reconnects."""
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def close(self) -> None:
        """Closes the connection."""
        self.reset()

    def status(self) -> dict[str, object]:
        """TLS facts: whether it is on, what is verified, whether a client certificate is shown."""
        cfg = self.config
        auth = "tls_client_cert" if self.tls and cfg.cert_file else "tls" if self.tls else "plaintext"
        return {
            "transport": self.name,
            "endpoint": f"{self.host}:{self.port}",
            "auth": auth,
            "tls": self.tls,
            "verify_server_certificate": self.tls,
            "verify_hostname": self.tls and cfg.verify_hostname,
            "client_certificate": self.tls and cfg.cert_file is not None,
            "plaintext": not self.tls,
            **self.peer,
        }


def transport_from_config(config: TransportConfig) -> Transport:
    """The transport ``telemetry.transport`` describes (stdout, file or tcp)."""
    if config.type == "file":
        assert config.file_path is not None  # config validation requires it
        return FileTransport(
            config.file_path, rotate_max_bytes=config.rotate_max_bytes, rotate_keep=config.rotate_keep
        )
    if config.type == "tcp":
        return TcpTransport(config)
    import sys

    return StreamTransport(sys.stdout)
