"""Reading a command's arguments: by keyword or by position, with standard errors."""

from __future__ import annotations

from typing import Any

from townlet.console.command import E_INVALID_ARG, ConsoleCommand, ConsoleCommandError

#: Marks a parameter without a default (a missing one is ``E_INVALID_ARG``).
REQUIRED: Any = object()


def param(command: ConsoleCommand, index: int, name: str, default: Any = REQUIRED) -> Any:
    """The value of ``kwargs[name]``, else ``args[index]``, else ``default``."""
    if name in command.kwargs:
        return command.kwargs[name]
    if len(command.args) > index:
        return command.args[index]
    if default is REQUIRED:
        raise ConsoleCommandError(E_INVALID_ARG, f"{command.name}: missing argument {name!r}")
    return default


def str_param(command: ConsoleCommand, index: int, name: str, default: Any = REQUIRED) -> Any:
    """A string parameter (``E_INVALID_ARG`` for anything else); ``default`` is returned as given."""
    value = param(command, index, name, default)
    if value is default and default is not REQUIRED:
        return value
    if not isinstance(value, str) or not value:
        raise ConsoleCommandError(
            E_INVALID_ARG, f"{command.name}: {name!r} must be a non-empty string, got {value!r}"
        )
    return value


def int_param(
    command: ConsoleCommand, index: int, name: str, low: int, high: int, default: Any = REQUIRED
) -> int:
    """An integer in ``[low, high]``; integral strings and floats are accepted (``"30"``, ``30.0``)."""
    value = param(command, index, name, default)
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip())
        except ValueError:
            number = None
    if number is None or not low <= number <= high:
        raise ConsoleCommandError(
            E_INVALID_ARG, f"{command.name}: {name!r} must be an integer in [{low}, {high}], got {value!r}"
        )
    return number
