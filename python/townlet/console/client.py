"""`townlet console`: send one command to a served shard over HTTP.

```bash
townlet console --url http://127.0.0.1:8765 health
TOWNLET_CONSOLE_TOKEN=... townlet console setneed agent_1 hunger 0.5
townlet console arrange_meet agent_0 agent_1 ticks=30 --json
```

Arguments are JSON when they parse as JSON (``0.5``, ``true``,
``{"speaker": "agent_0"}``) and strings otherwise; ``NAME=VALUE`` is a
keyword argument. The token comes from ``--token`` or
``TOWNLET_CONSOLE_TOKEN`` and is never printed.

Before sending, the client reads the shard's telemetry ``schema_version``
(``GET /health``): it warns when the shard's is newer than its own and,
when the major versions differ, refuses every command the shard says
needs the admin role (``POST /console/role``; a shard that cannot say
counts as mutating).

Exit codes: 0 the command succeeded; 1 the shard answered with an error
result (unknown agent, refused token, ...); 2 bad usage; 3 the shard could
not be reached or gave no usable answer; 4 refused by the client (major
schema mismatch). The client needs only the standard library.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

ENV_URL = "TOWNLET_CONSOLE_URL"
ENV_TOKEN = "TOWNLET_CONSOLE_TOKEN"
DEFAULT_URL = "http://127.0.0.1:8765"

EXIT_OK = 0
EXIT_COMMAND_ERROR = 1
EXIT_CONNECTION = 3
EXIT_REFUSED = 4


def parse_version(text: str) -> tuple[int, ...]:
    """``"0.2.0"`` as ``(0, 2, 0)`` (``ValueError`` when it is not dotted numbers)."""
    parts = tuple(int(p) for p in text.strip().split("."))
    if not parts:
        raise ValueError(text)
    return parts


def schema_verdict(shard: str, client: str) -> tuple[bool, bool]:
    """``(shard is newer, major versions differ)`` for two schema versions."""
    theirs, ours = parse_version(shard), parse_version(client)
    return theirs > ours, theirs[0] != ours[0]


def parse_value(text: str) -> Any:
    """An argument's value: JSON when it parses (numbers, booleans, objects), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_arguments(values: Sequence[str]) -> tuple[list[Any], dict[str, Any]]:
    """Positional arguments and ``NAME=VALUE`` keyword arguments."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if sep and name.isidentifier():
            kwargs[name] = parse_value(rest)
        else:
            args.append(parse_value(value))
    return args, kwargs


class ConsoleConnectionError(Exception):
    """The shard could not be reached, or did not answer with a console result."""


@dataclass(frozen=True)
class Reply:
    """An HTTP status and the console result that came with it."""

    status: int
    result: dict[str, Any]

    @property
    def ok(self) -> bool:
        """Whether the command succeeded."""
        return self.result.get("status") == "ok"


class ConsoleClient:
    """A console client for one shard (``url`` like ``http://127.0.0.1:8765``)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 15.0) -> None:
        """``timeout`` bounds each request in seconds."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"the console URL must start with http:// or https://, got {url!r}")
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Reply:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except urllib.error.URLError as exc:
            raise ConsoleConnectionError(f"cannot reach the shard at {self.url}: {exc.reason}") from None
        except TimeoutError:
            raise ConsoleConnectionError(
                f"the shard at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except OSError as exc:
            raise ConsoleConnectionError(f"cannot talk to the shard at {self.url}: {exc}") from None
        try:
            result = json.loads(raw)
        except ValueError:
            raise ConsoleConnectionError(
                f"the shard at {self.url} answered HTTP {status} without a console result"
            ) from None
        if not isinstance(result, dict) or result.get("status") not in ("ok", "error"):
            raise ConsoleConnectionError(
                f"the shard at {self.url} answered HTTP {status} with no console result"
            )
        return Reply(status, result)

    def role(self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> Reply:
        """``POST /console/role``: the role a command needs (``data.role``), without running it."""
        return self._request(
            "POST", "/console/role", {"name": name, "args": list(args), "kwargs": dict(kwargs or {})}
        )

    def mutating(self, name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> bool:
        """Whether the shard says a command needs the admin role (True when it cannot say)."""
        try:
            reply = self.role(name, args, kwargs)
        except ConsoleConnectionError:
            return True
        return not (reply.ok and (reply.result.get("data") or {}).get("role") == "viewer")

    def health(self) -> Reply:
        """``GET /health``."""
        return self._request("GET", "/health")

    def snapshot(self) -> Reply:
        """``GET /telemetry/snapshot``."""
        return self._request("GET", "/telemetry/snapshot")

    def send(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        cmd_id: str | None = None,
        issuer: str | None = None,
    ) -> Reply:
        """``POST /console`` with one command."""
        body: dict[str, Any] = {"name": name, "args": list(args), "kwargs": dict(kwargs or {})}
        if cmd_id is not None:
            body["cmd_id"] = cmd_id
        if issuer is not None:
            body["issuer"] = issuer
        return self._request("POST", "/console", body)


# -- rendering -------------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return "-" if value is None else str(value)


def _rows_table(title: str, rows: Sequence[Mapping[str, Any]], keys: Sequence[str] | None = None) -> Table:
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    table = Table(title=title, title_justify="left")
    if keys is not None:
        table.add_column("id")
    for column in columns:
        table.add_column(column)
    for i, row in enumerate(rows):
        cells = [_cell(row.get(c)) for c in columns]
        table.add_row(*([str(keys[i])] if keys is not None else []), *cells)
    return table


def render(console: Console, name: str, data: Any) -> None:
    """Prints a command's data: key/value tables, one table per collection of records."""
    if not isinstance(data, dict):
        if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            console.print(_rows_table(name, data))
        else:
            console.print(_cell(data), markup=False)
        return
    simple = Table(title=name, title_justify="left", show_header=False)
    simple.add_column("key", style="bold")
    simple.add_column("value")
    later: list[Table] = []
    for key, value in data.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            later.append(_rows_table(str(key), list(value.values()), list(value)))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            later.append(_rows_table(str(key), value))
        else:
            simple.add_row(str(key), _cell(value))
    if simple.row_count:
        console.print(simple)
    for table in later:
        console.print(table)


# -- the command -------------------------------------------------------------------
def console_command(
    command: Annotated[str, typer.Argument(help="The console command, e.g. health, setneed, pause.")],
    arguments: Annotated[
        list[str] | None,
        typer.Argument(help="Its arguments: JSON values or strings; NAME=VALUE for keyword arguments."),
    ] = None,
    url: Annotated[
        str, typer.Option("--url", envvar=ENV_URL, help="The shard's console server.")
    ] = DEFAULT_URL,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar=ENV_TOKEN, help="A console token.", show_default=False),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw result as JSON.")] = False,
    cmd_id: Annotated[
        str | None, typer.Option("--cmd-id", help="An id that makes retries apply once.")
    ] = None,
    issuer: Annotated[str | None, typer.Option("--issuer", help="Your name in the audit log.")] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each answer.")
    ] = 15.0,
) -> None:
    """Send one console command to a served shard (townlet run --serve) and print the result.

    Exit codes: 0 ok, 1 the shard answered with an error, 2 bad usage,
    3 the shard could not be reached, 4 refused here (major schema mismatch).
    """
    from townlet.telemetry.publisher import SCHEMA_VERSION

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    args, kwargs = parse_arguments(arguments or [])
    try:
        client = ConsoleClient(url, token, timeout)
    except ValueError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    try:
        health = client.health()
        shard_version = (health.result.get("data") or {}).get("schema_version") if health.ok else None
        if isinstance(shard_version, str):
            try:
                newer, major = schema_verdict(shard_version, SCHEMA_VERSION)
            except ValueError:
                newer, major = True, True
            if newer:
                err.print(
                    f"[yellow]warning:[/yellow] the shard's telemetry schema {shard_version} is newer "
                    f"than this client's {SCHEMA_VERSION}; upgrade townlet",
                    markup=True,
                )
            if major and client.mutating(command, args, kwargs):
                err.print(
                    f"[red]refused:[/red] {command!r} changes the shard, and its schema {shard_version} "
                    f"has another major version than this client's {SCHEMA_VERSION}",
                )
                raise typer.Exit(EXIT_REFUSED)
        else:
            err.print("[yellow]warning:[/yellow] could not read the shard's schema version")
        reply = client.send(command, args, kwargs, cmd_id=cmd_id, issuer=issuer)
    except ConsoleConnectionError as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(EXIT_CONNECTION) from None
    result = reply.result
    if as_json:
        out.print_json(json.dumps(result, default=str))
    elif reply.ok:
        render(out, command, result.get("data"))
    else:
        error = result.get("error") or {}
        err.print(f"[red]{error.get('code', 'error')}[/red] ", end="")
        err.print(f"{error.get('message', '')} (tick {result.get('tick')})", markup=False)
    raise typer.Exit(EXIT_OK if reply.ok else EXIT_COMMAND_ERROR)
