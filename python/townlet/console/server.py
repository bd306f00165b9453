"""The console over HTTP (``server`` extra: FastAPI and uvicorn).

Endpoints (the OpenAPI document is ``GET /openapi.json``, the browsable one ``/docs``):

- ``POST /console``: a command ``{name, args, kwargs, mode, cmd_id, issuer}``;
  the token comes from ``Authorization: Bearer TOKEN``, never from the body.
- ``GET /telemetry/snapshot``: the ``telemetry_snapshot`` command.
- ``GET /health``: the ``health`` command plus the runner's state.
- ``POST /console/role``: the role a command needs, without running it
  (the client asks before a mutating command on a schema mismatch).

Every answer is a console result (``status``, ``name``, ``cmd_id``,
``tick``, ``data`` or ``error: {code, message}``); the HTTP status follows
the error code (:data:`HTTP_STATUS`). A malformed request (not JSON, a
wrong field, an unknown key, a body over :data:`MAX_BODY_BYTES`) is
``E_INVALID_ARG`` with 4xx, never a 500 or a traceback.

The server never touches the town: each request goes to the
:class:`~townlet.core.runner.ShardRunner`, which applies it on the loop's
thread and hands back the result (at the next tick, or at once while the
shard is paused).
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from townlet import __version__
from townlet.config.telemetry import is_loopback_host
from townlet.console.command import (
    E_ALREADY_POSSESSED,
    E_BLOCKED_TILE,
    E_BUSY_TARGET,
    E_FORBIDDEN,
    E_INTERNAL,
    E_INVALID_ARG,
    E_NOT_FOUND,
    E_UNAUTHORIZED,
    E_UNAVAILABLE,
    E_UNKNOWN_COMMAND,
    ConsoleCommand,
    ConsoleCommandError,
    error_result,
    ok_result,
)
from townlet.console.router import ConsoleRouter
from townlet.core.runner import ShardRunner, ShardUnavailableError
from townlet.telemetry.publisher import SCHEMA_VERSION

logger = logging.getLogger(__name__)

#: Request bodies larger than this are refused (413, ``E_INVALID_ARG``).
MAX_BODY_BYTES = 64 * 1024

#: HTTP status for each console error code (``ok`` results are 200).
HTTP_STATUS: dict[str, int] = {
    E_INVALID_ARG: 400,
    E_UNAUTHORIZED: 401,
    E_FORBIDDEN: 403,
    E_NOT_FOUND: 404,
    E_UNKNOWN_COMMAND: 404,
    E_ALREADY_POSSESSED: 409,
    E_BLOCKED_TILE: 409,
    E_BUSY_TARGET: 409,
    E_INTERNAL: 500,
    E_UNAVAILABLE: 503,
}


class ConsolePayload(BaseModel):
    """A console command as JSON (the token travels in the ``Authorization`` header)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=64, description="the command, e.g. health or setneed")
    args: list[Any] = Field(default_factory=list, max_length=64, description="positional arguments")
    kwargs: dict[str, Any] = Field(default_factory=dict, description="keyword arguments")
    mode: Literal["viewer", "admin"] | None = Field(None, description="informational; the token decides")
    cmd_id: str | None = Field(
        None, min_length=1, max_length=128, description="retries with the same id apply once"
    )
    issuer: str | None = Field(None, max_length=64, description="who sends it (shown in the audit log)")


class ConsoleError(BaseModel):
    """The error part of a refused command."""

    code: str
    message: str


class ConsoleResult(BaseModel):
    """What every endpoint answers."""

    status: Literal["ok", "error"]
    name: str | None
    cmd_id: str | None
    tick: int
    data: Any = None
    error: ConsoleError | None = None


class ResultResponse(JSONResponse):
    """JSON without NaN or infinities (they become null) and with numpy scalars as numbers."""

    def render(self, content: Any) -> bytes:
        """Serialises ``content`` as strict JSON."""
        try:
            text = json.dumps(content, default=_plain, allow_nan=False, separators=(",", ":"))
        except ValueError:
            text = json.dumps(_finite(content), default=_plain, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8")


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(value)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _respond(result: dict[str, Any], status: int | None = None, headers: dict[str, str] | None = None) -> Any:
    code = result.get("error", {}).get("code") if result.get("status") == "error" else None
    if status is None:
        status = 200 if code is None else HTTP_STATUS.get(code, 400)
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return ResultResponse(result, status_code=status, headers=headers)


_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ConsoleResult, "description": "a console error result"}
    for status in (400, 401, 403, 404, 409, 413, 422, 500, 503, 504)
}

bearer = HTTPBearer(auto_error=False, description="a console token (viewer or admin)")


def create_app(runner: ShardRunner, router: ConsoleRouter, *, request_timeout: float = 10.0) -> FastAPI:
    """The FastAPI application serving ``runner``'s console (``router`` is the shard's console router)."""
    app = FastAPI(
        title="Townlet console",
        version=__version__,
        description=(
            "Operator console of a live Townlet shard. Every answer is a console result; "
            f"the telemetry schema_version is {SCHEMA_VERSION}."
        ),
    )

    def tick() -> int:
        return runner.tick  # loop.tick is not safe to read off the loop thread

    def submit(payload: dict[str, Any]) -> Any:
        try:
            return _respond(runner.submit(payload, timeout=request_timeout))
        except ShardUnavailableError as exc:
            result = error_result(
                payload.get("name"), payload.get("cmd_id"), tick(), E_UNAVAILABLE, exc.message
            )
            return _respond(result, 504 if exc.timed_out else 503)

    def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
        """The bearer token; ``ValueError`` when an Authorization header is there but is not one."""
        header = request.headers.get("authorization")
        if header is None:
            return None
        if credentials is None or not credentials.credentials:
            raise ValueError("the Authorization header must be 'Bearer TOKEN'")
        return credentials.credentials

    def command(
        request: Request, credentials: HTTPAuthorizationCredentials | None, payload: dict[str, Any]
    ) -> Any:
        try:
            token = token_of(request, credentials)
        except ValueError as exc:
            result = error_result(
                payload.get("name"), payload.get("cmd_id"), tick(), E_UNAUTHORIZED, str(exc)
            )
            return _respond(result)
        if token is not None:
            payload["auth"] = {"token": token}
        return submit(payload)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            message = f"the request body must be at most {MAX_BODY_BYTES} bytes"
            return _respond(error_result(None, None, tick(), E_INVALID_ARG, message), 413)
        return await call_next(request)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Any:
        problems = []
        for error in exc.errors()[:5]:
            where = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
            if where == "auth":
                problems.append("the token goes in the Authorization header (Bearer TOKEN), not in the body")
        message = "malformed command: " + "; ".join(problems)
        if "json" not in request.headers.get("content-type", "json"):
            message += "; send a JSON object with Content-Type: application/json"
        logger.info("console request refused: %s", message)
        return _respond(error_result(None, None, tick(), E_INVALID_ARG, message), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        code = E_NOT_FOUND if exc.status_code == 404 else E_INVALID_ARG
        message = "no such endpoint" if exc.status_code == 404 else str(exc.detail)
        return _respond(error_result(None, None, tick(), code, message), exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Any:
        logger.exception("console server error")
        message = f"{type(exc).__name__} while serving the request"
        return _respond(error_result(None, None, tick(), E_INTERNAL, message), 500)

    @app.post("/console", response_model=ConsoleResult, responses=_ERRORS, summary="Run a console command")
    def post_console(
        payload: ConsolePayload,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Any:
        """Applies one console command on the shard's loop thread and returns its result."""
        return command(request, credentials, payload.model_dump(exclude_none=True))

    @app.post(
        "/console/role",
        response_model=ConsoleResult,
        responses=_ERRORS,
        summary="The role a command needs, without running it",
    )
    def post_role(payload: ConsolePayload) -> Any:
        """``data: {"role": "viewer" | "admin"}``; clients use it to hold back mutating commands."""
        command = ConsoleCommand(payload.name, tuple(payload.args), payload.kwargs)
        try:
            role = router.required_role(command)
        except ConsoleCommandError as exc:
            return _respond(error_result(payload.name, payload.cmd_id, tick(), exc.code, exc.message))
        return _respond(ok_result(command, tick(), {"role": role}))

    @app.get(
        "/telemetry/snapshot",
        response_model=ConsoleResult,
        responses=_ERRORS,
        summary="The town now (telemetry_snapshot)",
    )
    def get_snapshot(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Any:
        """Per-agent state and job status, economy, employment metrics, schema_version, auth and clock."""
        return command(request, credentials, {"name": "telemetry_snapshot"})

    @app.get("/health", response_model=ConsoleResult, responses=_ERRORS, summary="Shard health")
    def get_health(
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Security(bearer),  # noqa: B008
    ) -> Any:
        """The ``health`` command plus the runner (state, ticks run, commands waiting, clock)."""
        response = command(request, credentials, {"name": "health"})
        if response.status_code == 200:
            body = json.loads(response.body)
            body["data"]["runner"] = runner.status()
            return _respond(body)
        return response

    return app


class ConsoleServer:
    """The HTTP console on a background thread (uvicorn), bound before :meth:`start` returns."""

    def __init__(
        self,
        runner: ShardRunner,
        router: ConsoleRouter,
        host: str = "127.0.0.1",
        port: int = 8765,
        *,
        allow_non_loopback: bool = False,
        request_timeout: float = 10.0,
    ) -> None:
        """Refuses (``ValueError``) a host that is not loopback unless ``allow_non_loopback``."""
        if not allow_non_loopback and not is_loopback_host(host):
            raise ValueError(
                f"{host!r} is not a loopback address; set console.server.allow_non_loopback to serve it"
            )
        self.host = host
        self.app = create_app(runner, router, request_timeout=request_timeout)
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        if self._socket is None:
            return self._requested_port
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``http://host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Binds (``OSError`` when it cannot) and serves on a daemon thread."""
        family = socket.AF_INET6 if ":" in self.host.strip("[]") else socket.AF_INET
        self._socket = socket.create_server((self.host.strip("[]"), self._requested_port), family=family)
        sockets = [self._socket]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": sockets}, name="townlet-console-http", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            self.stop()
            raise OSError(f"the console server did not start on {self.url}")

    def stop(self, timeout: float = 5.0) -> None:
        """Stops serving and waits for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
