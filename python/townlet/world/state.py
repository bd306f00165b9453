"""`WorldState`: the Python face of the Rust world.

It owns the core ``World`` and everything about the town that Python
decides: names (``agent_<uid>``) to slots, beds and job positions, the
employment exit queue, and the narrow mutations the lifecycle and the
console make (place, remove, teleport, set a need, a price, a utility, a
tie). Per-agent state is read from the core as numpy arrays; the
``agent_ids`` / ``positions`` / ``needs`` / ``wallets`` properties give the
live agents in slot order as read-only arrays, rebuilt at most once per tick
or mutation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from townlet import _core
from townlet.config import SimulationConfig
from townlet.config.manifest import AffordanceManifest
from townlet.errors import InvalidArgumentError
from townlet.observations import agent_id as make_agent_id
from townlet.world.employment import EmploymentExitQueue
from townlet.world.layout import Layout
from townlet.world.meets import ArrangedMeets
from townlet.world.population import Housing, JobBoard, personality
from townlet.world.spec import AGE, INVENTORY, NEEDS, UNPAID, build_world_spec, load_world_inputs

if TYPE_CHECKING:
    from townlet.core.sim_loop import SimulationLoop
    from townlet.lifecycle.manager import LifecycleManager

ATTENDANCE_STATES = ("off_shift", "pending", "on_time", "late", "absent")
WEATHER = ("sunny", "rainy", "cold")


class UnknownAgentError(KeyError):
    """No live agent has this id."""

    def __str__(self) -> str:
        return f"no live agent {self.args[0]!r}"


def _frozen(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array.flags.writeable = False
    return array


@dataclass(frozen=True)
class AgentView:
    """A read-only look at one live agent, read from the core when asked."""

    world: WorldState
    agent_id: str

    @property
    def slot(self) -> int:
        """Core slot of the agent."""
        return self.world.slot_of(self.agent_id)

    def snapshot(self) -> dict[str, Any]:
        """Everything about the agent now, as plain values."""
        return self.world.describe_agent(self.agent_id)

    @property
    def position(self) -> tuple[int, int]:
        """``(x, y)`` tile."""
        x, y = self.world.core.positions()[self.slot]
        return int(x), int(y)

    @property
    def needs(self) -> dict[str, float]:
        """Satiation per need, in [0, 1]."""
        row = self.world.core.needs()[self.slot]
        return {name: float(v) for name, v in zip(NEEDS, row, strict=True)}

    @property
    def wallet(self) -> float:
        """Money, in meals."""
        return float(self.world.core.wallets()[self.slot])

    @property
    def job(self) -> str | None:
        """Job name, or None."""
        return self.world.job_name(int(self.world.core.jobs()[self.slot]))


class _Agents(Mapping[str, AgentView]):
    def __init__(self, world: WorldState) -> None:
        self._world = world

    def __getitem__(self, agent_id: str) -> AgentView:
        if not self._world.has_agent(agent_id):
            raise UnknownAgentError(agent_id)
        return AgentView(self._world, agent_id)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._world.agent_ids))

    def __len__(self) -> int:
        return len(self._world.core)


class WorldState:
    """The town: the core world plus the Python-side decisions about it."""

    def __init__(
        self,
        config: SimulationConfig,
        layout: Layout | None = None,
        manifest: AffordanceManifest | None = None,
        core_bytes: bytes | None = None,
    ) -> None:
        """Builds an empty town from ``config`` (call :meth:`populate` for the starting agents).

        With ``core_bytes`` (``World.to_bytes()`` output) the core is restored
        from them instead; call :meth:`restore` for the Python-side state.
        """
        if layout is None or manifest is None:
            layout, manifest = load_world_inputs(config)
        self.config = config
        self.layout = layout
        self.manifest = manifest
        self.spec = build_world_spec(config, layout, manifest)
        self.core = (
            _core.World(self.spec) if core_bytes is None else _core.World.from_bytes(self.spec, core_bytes)
        )
        self.housing = Housing(layout)
        self.jobs = JobBoard(config, layout)
        self.employment = EmploymentExitQueue(config.employment)
        self.job_names: tuple[str, ...] = tuple(config.jobs)
        stocked = [(v, venue.id) for v, venue in enumerate(layout.venues) if venue.kind in ("grocer", "cafe")]
        #: Indices and ids of the venues that keep stock (grocers and cafes).
        self.stocked_venues: tuple[list[int], tuple[str, ...]] = (
            [v for v, _ in stocked],
            tuple(vid for _, vid in stocked),
        )
        self.venue_ids: tuple[str, ...] = tuple(v.id for v in layout.venues)
        self.placed = 0
        #: The loop's lifecycle manager (set by ``SimulationLoop``); the console's kill and caps use it.
        self.lifecycle: LifecycleManager | None = None
        #: The loop running this town (set by ``SimulationLoop``); console snapshots and reloads use it.
        self.loop: SimulationLoop | None = None
        #: Agents an operator possesses, with the option they are held to.
        self.possessed: dict[str, int] = {}
        #: Meets arranged by the console (``arrange_meet``); the loop ends them when they are over.
        self.meets = ArrangedMeets()
        self._slots: dict[str, int] = {}
        self._version = 0
        self._cache_key: tuple[int, int] = (-1, -1)
        self._cache: dict[str, npt.NDArray[Any]] = {}
        self._ids_version = -1
        self._ids_cache: tuple[npt.NDArray[np.object_], npt.NDArray[np.intp], tuple[str, ...]] = (
            np.array([], dtype=object),
            np.array([], dtype=np.intp),
            (),
        )

    # -- identity and lookup -------------------------------------------------
    @property
    def tick(self) -> int:
        """The current tick."""
        return self.core.tick

    @property
    def agents(self) -> Mapping[str, AgentView]:
        """Live agents by id (``agent_0``, ``agent_1``, ...)."""
        return _Agents(self)

    def has_agent(self, agent_id: str) -> bool:
        """Whether ``agent_id`` is live."""
        return agent_id in self._slots

    def slot_of(self, agent_id: str) -> int:
        """The core slot of a live agent (``UnknownAgentError`` otherwise)."""
        try:
            return self._slots[agent_id]
        except KeyError:
            raise UnknownAgentError(agent_id) from None

    def id_of_slot(self, slot: int) -> str:
        """The id of the agent in ``slot``."""
        return make_agent_id(int(self.core.uids()[slot]))

    def job_name(self, job: int) -> str | None:
        """Job name for a job index (None for -1)."""
        return self.job_names[job] if 0 <= job < len(self.job_names) else None

    def _ids(self) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.intp], tuple[str, ...]]:
        # Ids and slots change only on place/remove (which bump the version).
        if self._ids_version != self._version:
            alive = self.core.alive()
            slots = np.flatnonzero(alive)
            names = tuple(make_agent_id(int(u)) for u in self.core.uids()[slots])
            self._ids_cache = (_frozen(np.array(names, dtype=object)), _frozen(slots), names)
            self._ids_version = self._version
        return self._ids_cache

    def _arrays(self) -> dict[str, npt.NDArray[Any]]:
        key = (self.core.tick, self._version)
        if key != self._cache_key:
            slots = self.slots
            self._cache = {
                "positions": _frozen(self.core.positions()[slots]),
                "needs": _frozen(self.core.needs()[slots]),
                "wallets": _frozen(self.core.wallets()[slots]),
            }
            self._cache_key = key
        return self._cache

    @property
    def agent_id_tuple(self) -> tuple[str, ...]:
        """Ids of the live agents, in slot order, as a tuple."""
        return self._ids()[2]

    @property
    def agent_ids(self) -> npt.NDArray[np.object_]:
        """Ids of the live agents, in slot order (read-only)."""
        return self._ids()[0]

    @property
    def slots(self) -> npt.NDArray[np.intp]:
        """Core slots of the live agents, in the same order (read-only)."""
        return self._ids()[1]

    @property
    def positions(self) -> npt.NDArray[np.int32]:
        """``(x, y)`` per live agent (agents x 2, read-only)."""
        return self._arrays()["positions"]

    @property
    def needs(self) -> npt.NDArray[np.float32]:
        """Needs per live agent (agents x [hunger, hygiene, energy], read-only)."""
        return self._arrays()["needs"]

    @property
    def wallets(self) -> npt.NDArray[np.float64]:
        """Money per live agent (read-only)."""
        return self._arrays()["wallets"]

    def touched(self) -> None:
        """Marks cached views stale after a mutation made directly on ``core``."""
        self._version += 1

    # -- population ------------------------------------------------------------
    def populate(self) -> list[str]:
        """Places ``world.population`` agents (one per bed, jobs shared out); returns their ids.

        Starting needs are staggered in [0.6, 1.0] from the world stream so
        the town does not move in lockstep.
        """
        n = self.config.world.population
        if n > len(self.housing.beds):
            raise InvalidArgumentError(
                f"world.population is {n} but the town has {len(self.housing.beds)} beds; "
                "use a bigger layout or world.layout: generated"
            )
        draws = self.core.draw("world", 3 * n).reshape(n, 3)
        ids = []
        for i in range(n):
            needs = tuple(float(v) for v in 0.6 + 0.4 * draws[i])
            ids.append(self.place_agent(with_job=True, needs=(needs[0], needs[1], needs[2])))
        return ids

    def starter_kit(self) -> tuple[float, tuple[int, int, int]]:
        """Wallet and inventory a new agent starts with (``lifecycle.starter_kit``)."""
        kit = self.config.lifecycle.starter_kit
        wallet = kit.money_rent_multiple * self.config.economy.rent_per_day
        return wallet, (kit.food_raw, 0, kit.clothes_clean)

    def place_agent(
        self,
        *,
        with_job: bool,
        needs: tuple[float, float, float] = (0.9, 0.9, 0.9),
        wallet: float | None = None,
        inventory: tuple[int, int, int] | None = None,
    ) -> str:
        """Adds an agent in the first free bed with the starter kit; returns its id.

        With ``with_job`` it is hired into the job with the most openings
        (if any). Raises ``InvalidArgumentError`` when every bed is taken.
        """
        uid = self.core.next_uid
        bed = self.housing.assign(uid)
        if bed is None:
            raise InvalidArgumentError("every bed in town is taken")
        job = self.jobs.hire(uid) if with_job else -1
        kit_wallet, kit_inventory = self.starter_kit()
        try:
            slot, got = self.core.spawn(
                bed.x,
                bed.y,
                needs,
                kit_wallet if wallet is None else wallet,
                kit_inventory if inventory is None else inventory,
                job=job,
                home=bed.venue,
                personality=personality(self.config, self.placed),
            )
        except Exception:
            self.housing.release(uid)
            self.jobs.release(uid)
            raise
        assert got == uid, "uids are handed out in order"
        self.placed += 1
        agent = make_agent_id(uid)
        self._slots[agent] = slot
        self._version += 1
        return agent

    def remove_agent(self, agent_id: str) -> int:
        """Removes a live agent: its bed, job position and queue entries go with it."""
        slot = self.slot_of(agent_id)
        uid = self.core.remove(slot)
        self.housing.release(uid)
        self.jobs.release(uid)
        self.employment.forget(agent_id)
        self.possessed.pop(agent_id, None)
        del self._slots[agent_id]
        self._version += 1
        return uid

    def hire(self, agent_id: str) -> str | None:
        """Gives a jobless agent the job with the most openings; returns its name or None."""
        slot = self.slot_of(agent_id)
        if int(self.core.jobs()[slot]) >= 0:
            return self.job_name(int(self.core.jobs()[slot]))
        uid = int(self.core.uids()[slot])
        job = self.jobs.hire(uid)
        if job < 0:
            return None
        self.core.set_job(slot, job)
        self._version += 1
        return self.job_names[job]

    # -- console-facing mutations ----------------------------------------------
    def teleport(self, agent_id: str, x: int, y: int) -> None:
        """Moves an agent to a walkable tile at once."""
        self.core.teleport(self.slot_of(agent_id), x, y)
        self._version += 1

    def set_need(self, agent_id: str, need: str, value: float) -> None:
        """Sets one need (hunger, hygiene, energy) to a value in [0, 1]."""
        if need not in NEEDS:
            raise InvalidArgumentError(f"unknown need {need!r} (allowed: {', '.join(NEEDS)})")
        self.core.set_need(self.slot_of(agent_id), NEEDS.index(need), value)
        self._version += 1

    def possess(self, agent_id: str, option: str) -> None:
        """Holds an agent to ``option`` instead of its policy's choice until released."""
        if option not in _core.OPTIONS:
            raise InvalidArgumentError(f"unknown option {option!r} (allowed: {', '.join(_core.OPTIONS)})")
        slot = self.slot_of(agent_id)
        self.possessed[agent_id] = _core.OPTIONS.index(option)
        self.core.reset_context(slot)

    def release(self, agent_id: str) -> bool:
        """Hands a possessed agent back to its policy; False when it was not possessed."""
        if self.possessed.pop(agent_id, None) is None:
            return False
        self.core.reset_context(self.slot_of(agent_id))
        return True

    def set_wallet(self, agent_id: str, value: float) -> None:
        """Sets an agent's money (in meals)."""
        self.core.set_wallet(self.slot_of(agent_id), value)
        self._version += 1

    def set_item(self, agent_id: str, item: str, count: int) -> None:
        """Sets how many of an item (food_raw, meal, clothes_clean) an agent carries."""
        if item not in INVENTORY:
            raise InvalidArgumentError(f"unknown item {item!r} (allowed: {', '.join(INVENTORY)})")
        if not 0 <= count <= 65_535:
            raise InvalidArgumentError(f"item count {count} outside [0, 65535]")
        slot = self.slot_of(agent_id)
        items = [int(v) for v in self.core.inventory()[slot]]
        items[INVENTORY.index(item)] = count
        self.core.set_inventory(slot, items)
        self._version += 1

    # -- persistence -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Python-side state (beds, job positions, placements, possession, exit queue).

        The core's own state is ``core.to_bytes()``; snapshots store both.
        """
        return {
            "placed": self.placed,
            "possessed": dict(sorted(self.possessed.items())),
            "housing": self.housing.state(),
            "jobs": self.jobs.state(),
            "employment": self.employment.state(),
            "meets": self.meets.state(),
        }

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restores :meth:`state` output onto a town built from the saved core bytes."""
        self.placed = int(state["placed"])
        self.housing.restore(state["housing"])
        self.jobs.restore(state["jobs"])
        self.employment.restore(state["employment"])
        self.meets.restore(state["meets"])
        self.resync()
        possessed = {str(a): int(o) for a, o in state["possessed"].items()}
        unknown = sorted(set(possessed) - set(self._slots))
        if unknown:
            raise ValueError(f"possessed agents {unknown} are not live in the restored world")
        self.possessed = possessed

    def replace_core(
        self,
        core: _core.World,
        spec: dict[str, Any] | None = None,
        manifest: AffordanceManifest | None = None,
    ) -> None:
        """Adopts another core world with the same agents (a restore or a manifest reload)."""
        self.core = core
        if spec is not None:
            self.spec = spec
        if manifest is not None:
            self.manifest = manifest
        self.resync()

    def resync(self) -> None:
        """Rebuilds the id-to-slot map from the core and drops every cached view."""
        slots = np.flatnonzero(self.core.alive())
        uids = self.core.uids()[slots]
        self._slots = {make_agent_id(int(u)): int(s) for u, s in zip(uids, slots, strict=True)}
        self._version += 1
        self._cache_key = (-1, -1)
        self._ids_version = -1

    # -- descriptions ------------------------------------------------------------
    def describe_agent(self, agent_id: str) -> dict[str, Any]:
        """One agent's state as plain values (console inspection, telemetry)."""
        slot = self.slot_of(agent_id)
        core = self.core
        att = core.attendance()[slot]
        counters = core.counters()[slot]
        home = int(core.homes()[slot])
        x, y = core.positions()[slot]
        return {
            "agent_id": agent_id,
            "slot": slot,
            "position": [int(x), int(y)],
            "needs": {n: float(v) for n, v in zip(NEEDS, core.needs()[slot], strict=True)},
            "wallet": float(core.wallets()[slot]),
            "inventory": {n: int(v) for n, v in zip(INVENTORY, core.inventory()[slot], strict=True)},
            "job": self.job_name(int(core.jobs()[slot])),
            "home": self.venue_ids[home] if home >= 0 else None,
            "option": _core.OPTIONS[int(core.committed_options()[slot])],
            "personality": [float(v) for v in core.personalities()[slot]],
            "attendance": {
                "state": ATTENDANCE_STATES[int(att[0])],
                "ratio": float(att[1]),
                "late_ticks": int(att[2]),
                "absences": int(att[3]),
                "wages_earned": float(att[4]),
                "wages_withheld": float(att[5]),
                "lateness_charged": float(att[6]),
            },
            "age_ticks": int(counters[AGE]),
            "unpaid_rent_days": int(counters[UNPAID]),
            "relations": [
                {"other": make_agent_id(other), "trust": t, "familiarity": f, "rivalry": r}
                for other, t, f, r in core.relations(slot)
            ],
        }
