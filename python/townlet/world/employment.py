"""The employment exit queue (SPEC §7): review, approve, defer, daily cap.

Agents whose absences within the attendance window reach
``employment.absence_exit_threshold`` (and who have worked at least
``min_tenure_days``) are queued for an unemployment exit. Operators review
the queue; ``approve`` makes the agent exit at the next lifecycle evaluation
(event ``employment_exit_manual_request``), ``defer`` clears the entry and
keeps the agent off the queue for one review window. Entries nobody acted
on apply by themselves after ``review_window_ticks``, at most
``daily_exit_cap`` a day; the lifecycle's caps apply on top.

Events are appended to :attr:`EmploymentExitQueue.events` as dicts and
collected by the simulation loop each tick.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from townlet.config.operations import EmploymentConfig

if TYPE_CHECKING:
    from townlet.world.state import WorldState


@dataclass
class ExitEntry:
    """One queued exit."""

    agent_id: str
    enqueued_tick: int
    reason: str
    absences: int
    approved: bool = False


class EmploymentExitQueue:
    """Pending unemployment exits, manual approvals and the daily cap."""

    def __init__(self, config: EmploymentConfig) -> None:
        """Starts empty; ``config`` gives the limits."""
        self.config = config
        self._entries: dict[str, ExitEntry] = {}
        self._deferred_until: dict[str, int] = {}
        self.exits_today = 0
        self.exits_total = 0
        self.rejected_full = 0
        self.events: list[dict[str, Any]] = []

    # -- reads ---------------------------------------------------------------
    @property
    def queue_limit(self) -> int:
        """Most entries the queue holds."""
        return self.config.queue_limit

    @property
    def daily_exit_cap(self) -> int:
        """Most automatic employment exits a day."""
        return self.config.daily_exit_cap

    @property
    def pending_count(self) -> int:
        """Entries waiting (approved or not)."""
        return len(self._entries)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._entries

    def review(self) -> list[dict[str, Any]]:
        """The queue, oldest first, as plain dicts."""
        return [asdict(e) for e in self._entries.values()]

    def metrics(self) -> dict[str, Any]:
        """KPIs: pending_count, exits_today, exit cap usage, queue_limit, queue contents."""
        cap = self.daily_exit_cap
        return {
            "pending_count": self.pending_count,
            "pending": [e.agent_id for e in self._entries.values()],
            "manual_approved": [e.agent_id for e in self._entries.values() if e.approved],
            "exits_today": self.exits_today,
            "exits_total": self.exits_total,
            "daily_exit_cap": cap,
            "exit_cap_usage": self.exits_today / cap if cap else 0.0,
            "queue_limit": self.queue_limit,
            "queue_full_rejections": self.rejected_full,
            "queue": self.review(),
        }

    # -- operator actions ----------------------------------------------------
    def enqueue_exit(
        self, world: WorldState, agent_id: str, tick: int, reason: str = "manual", absences: int = 0
    ) -> bool:
        """Queues ``agent_id`` for an exit; False when unknown, already queued or the queue is full."""
        if not world.has_agent(agent_id) or agent_id in self._entries:
            return False
        if len(self._entries) >= self.queue_limit:
            self.rejected_full += 1
            self._event("employment_exit_queue_full", tick, agent_id, queue_limit=self.queue_limit)
            return False
        self._entries[agent_id] = ExitEntry(agent_id, tick, reason, absences)
        self._event("employment_exit_pending", tick, agent_id, reason=reason, absences=absences)
        return True

    def approve(self, world: WorldState, agent_id: str) -> bool:
        """Marks a queued agent to exit at the next lifecycle evaluation."""
        entry = self._entries.get(agent_id)
        if entry is None or not world.has_agent(agent_id):
            return False
        entry.approved = True
        self._event("employment_exit_manual_request", world.tick, agent_id)
        return True

    def defer(self, world: WorldState, agent_id: str) -> bool:
        """Clears a queued agent's entry; it is not queued again for one review window."""
        if self._entries.pop(agent_id, None) is None:
            return False
        self._deferred_until[agent_id] = world.tick + self.config.review_window_ticks
        self._event("employment_exit_deferred", world.tick, agent_id)
        return True

    # -- lifecycle hooks -------------------------------------------------------
    def consider(self, world: WorldState, agent_id: str, absences: int, tenure_days: int, tick: int) -> None:
        """Queues an agent whose recent absences reached the threshold."""
        cfg = self.config
        if absences < cfg.absence_exit_threshold or tenure_days < cfg.min_tenure_days:
            return
        if self._deferred_until.get(agent_id, -1) > tick:
            return
        self.enqueue_exit(world, agent_id, tick, reason="absences", absences=absences)

    def due(self, tick: int) -> tuple[list[str], list[str]]:
        """Approved entries, and unapproved entries past the review window (oldest first)."""
        window = self.config.review_window_ticks
        manual = [a for a, e in self._entries.items() if e.approved]
        automatic = [
            a for a, e in self._entries.items() if not e.approved and tick - e.enqueued_tick >= window
        ]
        return manual, automatic

    def processed(self, agent_id: str, tick: int, manual: bool) -> None:
        """Records that the lifecycle removed a queued agent."""
        entry = self._entries.pop(agent_id, None)
        if entry is None:
            return
        if not manual:
            self.exits_today += 1
        self.exits_total += 1
        self._event("employment_exit_processed", tick, agent_id, manual=manual, reason=entry.reason)

    def forget(self, agent_id: str) -> None:
        """Drops every trace of an agent that left by another route."""
        self._entries.pop(agent_id, None)
        self._deferred_until.pop(agent_id, None)

    def new_day(self) -> None:
        """Resets the daily counter."""
        self.exits_today = 0

    def take_events(self) -> list[dict[str, Any]]:
        """Events since the last call."""
        events, self.events = self.events, []
        return events

    def _event(self, kind: str, tick: int, agent_id: str, **data: Any) -> None:
        self.events.append({"kind": kind, "tick": tick, "agent_id": agent_id, **data})

    # -- persistence -------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to restore the queue."""
        return {
            "entries": [asdict(e) for e in self._entries.values()],
            "deferred_until": dict(self._deferred_until),
            "exits_today": self.exits_today,
            "exits_total": self.exits_total,
            "rejected_full": self.rejected_full,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self._entries = {e["agent_id"]: ExitEntry(**e) for e in state["entries"]}
        self._deferred_until = {str(k): int(v) for k, v in state["deferred_until"].items()}
        self.exits_today = int(state["exits_today"])
        self.exits_total = int(state["exits_total"])
        self.rejected_full = int(state["rejected_full"])
