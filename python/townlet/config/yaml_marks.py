"""YAML parsing that remembers where each key came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

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
