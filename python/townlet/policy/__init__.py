"""Policy providers: who chooses each agent's option."""

from __future__ import annotations

from townlet.config import SimulationConfig
from townlet.errors import ConfigError, Problem
from townlet.policy.base import PolicyProvider
from townlet.policy.scripted import ScriptedPolicy

__all__ = ["PolicyProvider", "ScriptedPolicy", "make_policy"]


def make_policy(config: SimulationConfig) -> PolicyProvider:
    """The provider ``runtime.providers.policy`` names.

    ``learned`` needs a trained checkpoint: build that provider yourself and
    pass it as ``SimulationLoop(config, policy=...)``.
    """
    name = config.runtime.providers.policy
    if name == "scripted":
        return ScriptedPolicy()
    raise ConfigError(
        [
            Problem(
                "runtime.providers.policy",
                f"provider {name!r} needs a trained checkpoint; pass SimulationLoop(config, policy=...) "
                "or use 'scripted'",
            )
        ]
    )
