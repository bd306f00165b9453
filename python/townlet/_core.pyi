"""Type stubs for the Rust extension module ``townlet._core``."""

from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = [
    "ATTENDANCE_STATES",
    "EVENT_KINDS",
    "ITEMS",
    "OBSERVATION_VARIANTS",
    "OPTIONS",
    "PRIMITIVES",
    "REWARD_COMPONENTS",
    "TELEMETRY_SCHEMA_VERSION",
    "TRIGGER_BITS",
    "Narrator",
    "Precondition",
    "TelemetryEncoder",
    "TelemetryRecorder",
    "World",
    "__version__",
    "distance_field",
    "precondition_facts",
]

__version__: str
OPTIONS: list[str]
EVENT_KINDS: list[str]
TRIGGER_BITS: list[str]
REWARD_COMPONENTS: list[str]
ITEMS: list[str]
PRIMITIVES: list[str]
OBSERVATION_VARIANTS: list[str]
ATTENDANCE_STATES: list[str]
TELEMETRY_SCHEMA_VERSION: str

def distance_field(
    tiles: npt.NDArray[np.uint8],
    blocked: list[tuple[int, int]],
    sources: list[tuple[int, int]],
) -> npt.NDArray[np.uint16]:
    """Multi-source BFS distances over the walkable tiles of a layout."""

def precondition_facts() -> list[tuple[str, str, str, list[str], str]]:
    """Return the facts a precondition may read: ``(name, scope, type, enum_values, doc)``."""

@final
class Precondition:
    """A compiled precondition program, validated on construction."""

    def __new__(cls, codes: list[int], args: list[float]) -> Precondition: ...
    def eval(self, facts: list[float]) -> bool:
        """Evaluate against facts indexed by fact id."""
    def __len__(self) -> int: ...
    def facts_read(self) -> list[int]:
        """Fact ids the program reads, in instruction order."""

@final
class World:
    """The simulated town: every per-agent, per-tick system, driven from Python."""

    def __new__(cls, spec: dict[str, Any]) -> World: ...
    @staticmethod
    def from_bytes(spec: dict[str, Any], data: bytes) -> World:
        """Restore a world saved with ``to_bytes`` (same spec)."""
    def to_bytes(self) -> bytes:
        """Serialise the whole mutable state."""
    @property
    def tick(self) -> int:
        """Current tick."""
    @property
    def capacity(self) -> int:
        """Number of slots (live or free); ``step`` buffers have this length."""
    @property
    def next_uid(self) -> int:
        """The uid the next spawned agent gets (uids are never reused)."""
    def __len__(self) -> int: ...
    def step(
        self,
        options: npt.NDArray[np.uint8],
        rewards: npt.NDArray[np.float32],
        totals: npt.NDArray[np.float32],
    ) -> tuple[
        npt.NDArray[np.uint64],
        npt.NDArray[np.uint8],
        npt.NDArray[np.uint32],
        npt.NDArray[np.int32],
        npt.NDArray[np.float32],
    ]:
        """Advance one tick (GIL released); return events as ``(tick, kind, slot, object, value)``."""
    def alive(self) -> npt.NDArray[np.bool_]:
        """Live-slot mask."""
    def uids(self) -> npt.NDArray[np.uint64]:
        """Stable agent numbers per slot."""
    def positions(self) -> npt.NDArray[np.int32]:
        """Positions (capacity x 2)."""
    def needs(self) -> npt.NDArray[np.float32]:
        """Needs (capacity x 3: hunger, hygiene, energy)."""
    def wallets(self) -> npt.NDArray[np.float64]:
        """Wallets."""
    def inventory(self) -> npt.NDArray[np.uint16]:
        """Inventory (capacity x 3: food_raw, meal, clothes_clean)."""
    def jobs(self) -> npt.NDArray[np.int32]:
        """Job index per slot (-1 for none)."""
    def counters(self) -> npt.NDArray[np.uint32]:
        """Lifecycle counters (capacity x 6)."""
    def homes(self) -> npt.NDArray[np.int32]:
        """Home venue index per slot (-1 for none)."""
    def personalities(self) -> npt.NDArray[np.float32]:
        """Personality traits (capacity x 5)."""
    def scripted_options(self, out: npt.NDArray[np.uint8]) -> None:
        """Writes the scripted policy's option for every slot into ``out``."""
    def committed_options(self) -> npt.NDArray[np.uint8]:
        """The option each slot is committed to after the last tick."""
    def tally(self) -> dict[str, int]:
        """Town-wide running totals (agent_ticks, satisfied, switches, clock_ins, ...)."""
    def day_totals(self, baseline: npt.NDArray[np.float64]) -> tuple[float, int, int]:
        """``(wages, employed, age_ticks)`` over the live agents: wages earned since ``baseline``."""
    def set_lifecycle_params(self, params: dict[str, int]) -> None:
        """Replaces the exit-trigger thresholds."""
    def set_job(self, slot: int, job: int) -> None:
        """Gives an agent a job index (-1: none)."""
    def reset_context(self, slot: int) -> None:
        """Flags an agent's context as reset (possession, release)."""
    def set_wallet(self, slot: int, value: float) -> None:
        """Sets an agent's money (finite)."""
    def set_inventory(self, slot: int, items: tuple[int, int, int] | list[int]) -> None:
        """Sets an agent's inventory ``(food_raw, meal, clothes_clean)``."""
    def set_home(self, slot: int, home: int) -> None:
        """Moves an agent into a home venue (-1: none)."""
    def draw(self, stream: str, n: int) -> npt.NDArray[np.float64]:
        """``n`` uniform draws in [0, 1) from a random stream."""
    def attendance(self) -> npt.NDArray[np.float64]:
        """Attendance per slot (capacity x 7)."""
    def recent_absences(self, days: int) -> npt.NDArray[np.uint32]:
        """Absences per slot within the last ``days`` days."""
    def spawn(
        self,
        x: int,
        y: int,
        needs: tuple[float, float, float] | list[float],
        wallet: float,
        inventory: tuple[int, int, int] | list[int],
        job: int = -1,
        home: int = -1,
        personality: tuple[float, float, float, float, float] | list[float] | None = None,
    ) -> tuple[int, int]:
        """Add an agent; return ``(slot, uid)``."""
    def remove(self, slot: int) -> int:
        """Remove the agent in ``slot``; return its uid."""
    def teleport(self, slot: int, x: int, y: int) -> None:
        """Move an agent instantly to a walkable tile."""
    def set_need(self, slot: int, need: int, value: float) -> None:
        """Set one need to a value in [0, 1]."""
    def set_price(self, item: int, price: float | None = None) -> None:
        """Set or clear a price override."""
    def price(self, item: int) -> float:
        """Current price of an item index."""
    def stock(self, venue: int, item: int) -> int:
        """Units of an item in stock at a venue."""
    def stocks(self, venues: list[int]) -> list[list[int]]:
        """Units in stock of every item (``ITEMS`` order) at each of ``venues``."""
    def set_price_multiplier(self, item: int, factor: float) -> None:
        """Set the perturbation price multiplier on an item (1.0 clears it; range [0.1, 100])."""
    def price_multiplier(self, item: int) -> float:
        """The perturbation price multiplier on an item index."""
    def set_closed(self, venue: int, closed: bool) -> None:
        """Close or reopen a venue (a closure perturbation)."""
    def venue_open(self, venue: int) -> bool:
        """Whether a venue is open (false for an unknown venue)."""
    def set_utility(self, name: str, forced_off: bool) -> None:
        """Force a utility (power, water) off, or release it."""
    def utility_on(self, name: str) -> bool:
        """Whether a utility is up now."""
    @property
    def weather(self) -> int:
        """Current weather code (0 sunny, 1 rainy, 2 cold)."""
    def set_weather(self, code: int) -> None:
        """Set the weather by code."""
    def set_relation(self, slot: int, other: int, trust: float, familiarity: float, rivalry: float) -> None:
        """Set the tie from ``slot`` to ``other``."""
    def relation_event(
        self, slot: int, other: int, trust: float, familiarity: float, rivalry: float, kind: str
    ) -> bool:
        """Apply a personality-scaled relationship event (plain, work_conflict, good_chat)."""
    def relations(self, slot: int) -> list[tuple[int, float, float, float]]:
        """Ties of ``slot`` as ``(other_uid, trust, familiarity, rivalry)``."""
    def queue(self, object: int) -> tuple[list[int], list[int]]:
        """Slots holding and waiting for an object."""
    def queue_stats(self) -> tuple[int, int, int, int, int, int]:
        """Cooldowns, timeouts, abandoned waits, conflicts, ghost steps, blocked moves."""
    def route_stats(self) -> tuple[int, int, int]:
        """A* queries run, queries deferred by the per-tick budget, tiles expanded."""
    def observation_layout(self) -> dict[str, Any]:
        """Variant, channels, window, map_shape, features, groups, feature_names, options, primitives."""
    def observe(
        self,
        map: npt.NDArray[np.float32] | None,
        features: npt.NDArray[np.float32],
        option_mask: npt.NDArray[np.bool_],
        primitive_mask: npt.NDArray[np.bool_],
    ) -> None:
        """Writes every slot's observation and masks into the buffers, in place."""
    def masks(self, option_mask: npt.NDArray[np.bool_], primitive_mask: npt.NDArray[np.bool_]) -> None:
        """Writes every slot's option and primitive masks (those of ``observe``), in place."""
    def slot_stats(self) -> tuple[int, int, int]:
        """Embedding slots assigned, forced reuses, agents left without a slot."""
    def embedding_slots(self) -> npt.NDArray[np.int32]:
        """Embedding slot per agent slot (-1: none)."""

@final
class Narrator:
    """Applies narration templates and throttles to events (shared with a ``TelemetryEncoder``)."""

    def __new__(
        cls,
        templates: list[tuple[str, str, str]],
        global_cooldown_ticks: int,
        category_cooldown_ticks: dict[str, int],
        dedupe_window_ticks: int,
        global_window_ticks: int,
        global_window_limit: int,
        priority_categories: list[str],
    ) -> Narrator: ...
    def offer(self, kind: str, fields: dict[str, str], tick: int) -> tuple[str, str, str | None] | None:
        """``(category, text, agent_id)`` of the narration of an event, or None when held back."""
    def narrates(self, kind: str) -> bool:
        """Whether events of ``kind`` have a template."""
    @property
    def emitted(self) -> int:
        """Narrations published so far."""
    @property
    def suppressed(self) -> dict[str, int]:
        """Narrations held back, by throttle."""
    def state(self) -> dict[str, Any]:
        """The throttle state as plain values."""
    def restore(
        self,
        last_global: int,
        last_category: dict[str, int],
        last_key: dict[str, int],
        window: list[int],
        emitted: int,
        suppressed: dict[str, int],
    ) -> None:
        """Restores ``state`` output."""

#: The core's town sections: population, prices (units of 0.0001), stock per venue, weather,
#: utilities (power, water), queue counters, embedding counters.
_TownSample = tuple[int, list[int], list[list[int]], int, list[bool], list[int], list[int]]
#: Python-side parts by taken index: ``(head, events, console_results, narrate)``.
_Parts = dict[int, tuple[str | None, str | None, str | None, list[tuple[str, dict[str, str]]] | None]]

@final
class TelemetryRecorder:
    """Captures telemetry frames on the tick thread into a queue a ``TelemetryEncoder`` consumes."""

    def __new__(
        cls,
        max_pending: int = 1024,
        detail_every: int = 10,
        sections_every: int = 1,
        venues: list[int] = ...,
    ) -> TelemetryRecorder: ...
    def bind(self, world: World, wake_at: int) -> None:
        """Sets the world ``capture_tick`` reads and the depth from which it reports the depth."""
    def capture_tick(self, artifacts: Any) -> int:
        """Queues a routine tick from ``TickArtifacts``: 0, the depth past ``wake_at``, or -1 (not queued)."""
    @property
    def force(self) -> bool:
        """Whether the next capture must carry the Python-side parts."""
    @force.setter
    def force(self, value: bool) -> None: ...
    def capture(
        self,
        world: World,
        tick: int,
        detail: bool,
        timings: dict[str, float],
        extras: Any = None,
        town: bool = False,
    ) -> int:
        """Queues the frame of ``world`` (with the core's town sections when ``town``); returns the depth.

        ``extras`` is a ``FrameExtras`` or None: its town sections, events and
        console results are converted here (events and results as ``json.dumps``
        writes them; one that cannot be is left out and counted by the encoder).
        """
    def push_rows(
        self,
        tick: int,
        uids: list[int],
        rows: npt.NDArray[np.int64],
        detail: bool = True,
        extras: Any = None,
    ) -> int:
        """Queues a frame from explicit values (an ``(agents, 14)`` int64 matrix); returns the depth.

        ``extras`` is converted as ``capture`` converts it. The first six columns
        (position, needs, option) must fit 16 bits (``ValueError`` otherwise).
        """
    def fail(self, tick: int, info: Any) -> int:
        """Queues a failed tick; returns the queue depth."""
    def hold(self, world: World) -> None:
        """Holds the events of ``world``'s latest step for the next capture."""
    @property
    def depth(self) -> int:
        """Ticks queued."""
    @property
    def dropped(self) -> int:
        """Ticks dropped because the queue was full."""
    def clear(self) -> int:
        """Empties the queue; returns how many ticks it held."""
    def close(self) -> int:
        """Empties the queue and refuses (counting them) later items; returns how many it held."""
    @property
    def refused(self) -> int:
        """Items refused after ``close``."""
    def interrupt(self) -> None:
        """Makes a waiting ``TelemetryEncoder.run`` on this queue return (or the next one to wait)."""
    def state(self) -> dict[str, Any]:
        """``uids`` of the last capture and the ``held`` events, as plain lists."""
    def restore(self, uids: list[int], held: list[tuple[int, int, int | None, int, float]]) -> None:
        """Restores ``state`` output."""

@final
class TelemetryEncoder:
    """Turns the queued ticks of a ``TelemetryRecorder`` into payload lines (schema 0.2.0)."""

    seq: int
    resync: bool
    def __new__(
        cls,
        recorder: TelemetryRecorder,
        job_names: list[str],
        object_ids: list[str],
        privacy_key: bytes | None = None,
        narrator: Narrator | None = None,
        snapshot_every: int = 1000,
        venue_ids: list[str] = ...,
        snapshot_head: str | None = None,
    ) -> TelemetryEncoder: ...
    def take(self, limit: int) -> list[tuple[int, int, str, Any]]:
        """Takes up to ``limit`` queued items; ``(index, tick, kind, info)`` of those needing parts.

        Only failures need any (``info`` is the failure's). A tick whose town
        sections could not be converted at capture is sent without them,
        counted in ``unserialisable``, and a snapshot follows; a tick with an
        event or console result that could not be is sent without it, counted.
        """
    def run(
        self,
        limit: int,
        fd: int | None = None,
        room: int = 0,
        health: str | None = None,
        batch_lines: int = ...,
        batch_bytes: int = ...,
        wait: tuple[int, float, float] | None = None,
    ) -> tuple[
        list[tuple[int, int, str, Any]],
        list[tuple[int, int, int]],
        list[tuple[bytes, int, int]],
        str | None,
    ]:
        """``take``, then (when no item needs parts) ``encode_taken`` or ``write_taken`` in one GIL release.

        Returns ``(items, written, rest, error)``: while ``first_taken_tick`` is
        set (items need parts, or the health was due and not given), those
        items are not encoded yet; ``written``, ``rest`` and ``error`` are as
        ``write_taken`` returns them (without ``fd``, all in ``rest``).
        ``wait=(depth, linger, budget)`` first waits without the GIL for
        ``depth`` queued ticks (or the first to have waited ``linger``
        seconds), then goes on chunk after chunk while every batch is
        written to ``fd``, until one needs Python, ``budget`` seconds pass,
        frames are dropped or the recorder is interrupted.
        """
    def health_due_in(self, limit: int) -> bool:
        """Whether the next ``limit`` queued ticks, taken now, would carry the worker's health."""
    @property
    def health_due(self) -> bool:
        """Whether an item of the last ``take`` carries the worker's health."""
    @property
    def unserialisable(self) -> int:
        """Ticks with a town section, event or console result that could not be converted (left out)."""
    @property
    def last_error(self) -> str | None:
        """Why the last of ``unserialisable`` failed."""
    def sections(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Python-side town sections as last sampled and as last published."""
    def set_sections(self, latest: dict[str, Any], published: dict[str, Any]) -> None:
        """Replaces the Python-side town sections (``sections`` output)."""
    def encode_taken(
        self,
        parts: _Parts = ...,
        batch_lines: int = ...,
        batch_bytes: int = ...,
        health: str | None = None,
    ) -> list[tuple[bytes, int, int]]:
        """Encodes and narrates the taken items with the GIL released: ``(bytes, lines, last tick)``.

        ``parts`` adds to the items by index; their own Python events and
        console results come first (events after the core ones, narrated after
        them). ``health`` (a JSON object) goes into the snapshots and the
        payloads with the KPIs of the day.
        """
    def write_taken(
        self,
        fd: int,
        room: int,
        parts: _Parts = ...,
        batch_lines: int = ...,
        batch_bytes: int = ...,
        health: str | None = None,
    ) -> tuple[list[tuple[int, int, int]], list[tuple[bytes, int, int]], str | None]:
        """``encode_taken``, writing the batches that fit in ``room`` bytes to ``fd`` (GIL released).

        Returns ``(written, rest, error)``: ``(lines, last tick, bytes)`` per
        batch written, the batches left as ``encode_taken`` returns them, and
        why a write failed (or None).
        """
    @property
    def first_taken_tick(self) -> int | None:
        """The tick of the first item taken and not yet encoded."""
    def discard_taken(self) -> int:
        """Drops the taken items unencoded; returns how many there were."""
    def name(self, uid: int) -> str:
        """The published id of an agent uid."""
    @property
    def hashed(self) -> bool:
        """Whether agent ids are published hashed."""
    @property
    def started(self) -> bool:
        """Whether anything was published yet."""
    def table(self) -> tuple[list[int], npt.NDArray[np.int64]] | None:
        """The last published agents ``(uids, rows)``, or None."""
    def set_table(self, uids: list[int] | None = None, rows: npt.NDArray[np.int64] | None = None) -> None:
        """Replaces the published agents, or forgets them with None."""
    def town(self) -> tuple[_TownSample | None, _TownSample | None]:
        """The core's town sections as last published and as last sampled."""
    def set_town(self, published: _TownSample | None = None, latest: _TownSample | None = None) -> None:
        """Replaces the town sections (``town`` output)."""
