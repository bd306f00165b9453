"""Observation tensors and action masks for every agent, built by the core.

`ObservationBuilder` owns reusable numpy buffers and asks the Rust world to
fill them in one call (the GIL released); `build()` returns an
`ObservationBatch` whose rows are the live agents in slot order. The batch
arrays are views of the builder's buffers when every slot is live (the
usual case) and are overwritten by the next `build()`: copy what you keep.

`ObservationSpec` is the metadata of a variant: map shape and channel names,
feature names with their index ranges, option and primitive names. See
``docs/observations.md`` for the layout of each variant.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from townlet import _core

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


def agent_id(uid: int) -> str:
    """The public id of the agent with core uid ``uid`` (``agent_<uid>``)."""
    return f"agent_{uid}"


@dataclass(frozen=True)
class ObservationSpec:
    """Shapes and names of one observation variant's tensors."""

    variant: str
    window: int
    channels: tuple[str, ...]
    map_shape: tuple[int, int, int] | None
    feature_names: tuple[str, ...]
    groups: dict[str, tuple[int, int]] = field(hash=False)
    options: tuple[str, ...]
    primitives: tuple[str, ...]

    @classmethod
    def from_world(cls, world: _core.World) -> ObservationSpec:
        """The spec the world's encoder publishes."""
        d = world.observation_layout()
        shape = d["map_shape"]
        return cls(
            variant=str(d["variant"]),
            window=int(d["window"]),
            channels=tuple(d["channels"]),
            map_shape=tuple(shape) if shape is not None else None,
            feature_names=tuple(d["feature_names"]),
            groups={name: (start, end) for name, start, end in d["groups"]},
            options=tuple(d["options"]),
            primitives=tuple(d["primitives"]),
        )

    @property
    def features(self) -> int:
        """Length of the feature vector."""
        return len(self.feature_names)

    def feature_slice(self, group: str) -> slice:
        """Index range of a feature group (``needs``, ``social``, ``targets``, ...)."""
        try:
            start, end = self.groups[group]
        except KeyError:
            raise KeyError(f"no feature group {group!r}; groups: {', '.join(self.groups)}") from None
        return slice(start, end)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description (documentation, telemetry, identity)."""
        return {
            "variant": self.variant,
            "window": self.window,
            "channels": list(self.channels),
            "map_shape": list(self.map_shape) if self.map_shape else None,
            "features": self.features,
            "feature_names": list(self.feature_names),
            "groups": {k: list(v) for k, v in self.groups.items()},
            "options": list(self.options),
            "primitives": list(self.primitives),
        }

    def digest(self) -> str:
        """A short hash of the layout: policies trained on one layout check it."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class ObservationBatch:
    """One tick's observations: row ``i`` belongs to ``agent_ids[i]``."""

    spec: ObservationSpec
    agent_ids: tuple[str, ...]
    slots: npt.NDArray[np.intp]
    map: FloatArray | None
    features: FloatArray
    action_mask: BoolArray
    primitive_mask: BoolArray

    def __len__(self) -> int:
        return len(self.agent_ids)

    def for_agent(self, agent: str) -> dict[str, Any]:
        """One agent's observation as a dict (the PettingZoo form)."""
        try:
            i = self.agent_ids.index(agent)
        except ValueError:
            raise KeyError(f"no live agent {agent!r}") from None
        obs: dict[str, Any] = {
            "features": self.features[i].copy(),
            "action_mask": self.action_mask[i].copy(),
            "primitive_mask": self.primitive_mask[i].copy(),
        }
        if self.map is not None:
            obs["map"] = self.map[i].copy()
        return obs

    def to_dicts(self) -> dict[str, dict[str, Any]]:
        """Every agent's observation dict, keyed by agent id."""
        return {agent: self.for_agent(agent) for agent in self.agent_ids}


class ObservationBuilder:
    """Reusable buffers plus one core call per `build()`."""

    def __init__(self, world: _core.World, reuse_warning_threshold: float = 0.0) -> None:
        """Binds to ``world``; buffers grow with its slot capacity.

        A warning is logged whenever an embedding slot was reused before its
        cooldown since the last build and the forced-reuse rate (forced /
        assigned) exceeds ``reuse_warning_threshold``
        (``embedding_allocator.reuse_warning_threshold``).
        """
        self.world = world
        self.spec = ObservationSpec.from_world(world)
        self.reuse_warning_threshold = reuse_warning_threshold
        self._forced_seen = world.slot_stats()[1]
        self._live_key: tuple[int, int, int] = (-1, -1, -1)
        self._slots: npt.NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._all_live = True
        self._ids: tuple[str, ...] = ()
        self._capacity = -1
        self._allocate(world.capacity)

    @property
    def slot_stats(self) -> dict[str, float]:
        """Embedding slot counters and the forced-reuse rate."""
        assigned, forced, exhausted = self.world.slot_stats()
        return {
            "assigned": assigned,
            "forced_reuses": forced,
            "exhausted": exhausted,
            "forced_reuse_rate": forced / assigned if assigned else 0.0,
        }

    def _check_slots(self) -> None:
        _, forced, _ = self.world.slot_stats()
        if forced > self._forced_seen:
            stats = self.slot_stats
            if stats["forced_reuse_rate"] > self.reuse_warning_threshold:
                logger.warning(
                    "embedding slots reused before their cooldown: %d forced reuses (rate %.3f); "
                    "raise embedding_allocator.max_slots or lower cooldown_ticks",
                    forced,
                    stats["forced_reuse_rate"],
                )
        self._forced_seen = forced

    def _allocate(self, capacity: int) -> None:
        spec = self.spec
        n = max(capacity, 0)
        self._map = np.zeros((n, *spec.map_shape), dtype=np.float32) if spec.map_shape else None
        self._features = np.zeros((n, spec.features), dtype=np.float32)
        self._options = np.zeros((n, len(spec.options)), dtype=np.bool_)
        self._primitives = np.zeros((n, len(spec.primitives)), dtype=np.bool_)
        self._capacity = capacity

    def build(self) -> ObservationBatch:
        """Fills the buffers for the world's current state."""
        world = self.world
        if world.capacity != self._capacity:
            self._allocate(world.capacity)
        world.observe(self._map, self._features, self._options, self._primitives)
        self._check_slots()
        # The live set changes only on spawn (next_uid moves) and removal
        # (the count drops without a spawn): both change this key.
        key = (len(world), world.next_uid, world.capacity)
        if key != self._live_key:
            alive = world.alive()
            self._slots = np.flatnonzero(alive)
            self._all_live = bool(alive.all())
            self._ids = tuple(agent_id(int(u)) for u in world.uids()[self._slots])
            self._live_key = key
        slots = self._slots
        if self._all_live:
            rows: tuple[FloatArray | None, FloatArray, BoolArray, BoolArray] = (
                self._map,
                self._features,
                self._options,
                self._primitives,
            )
        else:
            rows = (
                self._map[slots] if self._map is not None else None,
                self._features[slots],
                self._options[slots],
                self._primitives[slots],
            )
        return ObservationBatch(
            spec=self.spec,
            agent_ids=self._ids,
            slots=slots,
            map=rows[0],
            features=rows[1],
            action_mask=rows[2],
            primitive_mask=rows[3],
        )
