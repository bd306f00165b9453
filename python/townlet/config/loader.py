"""Loading configs from YAML with errors that name the key path and the allowed values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from townlet.config.problems import problems_from_validation
from townlet.config.simulation import SimulationConfig
from townlet.config.yaml_marks import YamlFileError, read_yaml_file
from townlet.errors import ConfigError, Problem


def config_from_mapping(data: Mapping[str, Any], source: Path | None = None) -> SimulationConfig:
    """Validates a mapping into a :class:`SimulationConfig` (raises ``ConfigError``)."""
    try:
        config = SimulationConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, SimulationConfig)) from None
    return config.with_source(source)


def load_config(path: str | Path) -> SimulationConfig:
    """Loads and validates a config file.

    Every problem is reported at once in a ``ConfigError`` whose lines read
    ``key.path: message (at file:line)``; relative paths inside the config
    (layout, manifest) resolve against the file's folder.
    """
    path = Path(path)
    try:
        data, lines = read_yaml_file(path, "config")
    except YamlFileError as exc:
        raise ConfigError([exc.problem]) from None
    if not isinstance(data, dict):
        kind = "empty" if data is None else type(data).__name__
        raise ConfigError([Problem(str(path), f"top level must be a mapping of sections, got {kind}")])
    try:
        config = SimulationConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(exc, SimulationConfig, lines, str(path))) from None
    return config.with_source(path)


def dump_config(config: SimulationConfig) -> str:
    """Serialises a config to YAML that :func:`load_config` reads back identically.

    Token secrets are written as given (they are config input); keep such
    files private.
    """
    data = config.model_dump(mode="json", exclude_none=False)
    for token, model in zip(data["console_auth"]["tokens"], config.console_auth.tokens, strict=True):
        token["token"] = model.token.get_secret_value() if model.token is not None else None
    return yaml.safe_dump(data, sort_keys=False)
