"""YAML parsing that remembers where each key came from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from townlet.errors import Problem

KeyPath = tuple[str | int, ...]


def _walk(node: yaml.Node, path: KeyPath) -> Iterator[tuple[KeyPath, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            yield (*path, key), key_node.start_mark.line + 1
            for sub_path, line in _walk(value_node, (*path, key)):
                if sub_path != (*path, key):
                    yield sub_path, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


def load_with_lines(text: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parses YAML safely; returns the data and a map from key path to 1-based line.

    Raises ``yaml.YAMLError`` for malformed input (its ``problem_mark`` has the line).
    """
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    data = yaml.safe_load(text)
    lines = dict(_walk(node, ())) if node is not None else {}
    return data, lines


def line_for(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of the longest prefix of ``path`` present in ``lines``."""
    for cut in range(len(path), 0, -1):
        line = lines.get(tuple(path[:cut]))
        if line is not None:
            return line
    return None


def yaml_error_line(exc: yaml.YAMLError) -> int | None:
    """The 1-based line a YAML error points at, if it says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return None if mark is None else int(mark.line) + 1


class YamlFileError(Exception):
    """A YAML file could not be read or parsed; carries one located problem."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def read_yaml_file(path: Path, what: str) -> tuple[Any, dict[KeyPath, int]]:
    """Reads and parses ``path``; returns the data and its key-path line map.

    Raises :class:`YamlFileError` whose problem says ``"<what> file not found"``,
    that the path is a directory, that it cannot be read, or ``malformed YAML``
    with the line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlFileError(Problem(str(path), f"{what} file not found")) from None
    except IsADirectoryError:
        raise YamlFileError(Problem(str(path), "is a directory, expected a YAML file")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlFileError(Problem(str(path), f"cannot read {what}: {exc}")) from None
    try:
        return load_with_lines(text)
    except yaml.YAMLError as exc:
        line = yaml_error_line(exc)
        where = f"{path}:{line}" if line else str(path)
        detail = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise YamlFileError(Problem(where, f"malformed YAML: {detail}")) from None
