"""Configuration: strict pydantic models, YAML loading, identity.

``load_config(path)`` returns a validated :class:`SimulationConfig`; every
error names the key path, the offending value and what is allowed.
"""

from __future__ import annotations

from townlet.config.console import ConsoleAuthConfig, ConsoleAuthTokenConfig
from townlet.config.features import OBSERVATION_VARIANTS, ObservationVariant
from townlet.config.loader import config_from_mapping, dump_config, load_config
from townlet.config.simulation import ConfigIdentity, SimulationConfig

__all__ = [
    "OBSERVATION_VARIANTS",
    "ConfigIdentity",
    "ConsoleAuthConfig",
    "ConsoleAuthTokenConfig",
    "ObservationVariant",
    "SimulationConfig",
    "config_from_mapping",
    "dump_config",
    "load_config",
]
