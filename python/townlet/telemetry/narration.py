"""Narration: short sentences about notable events, throttled (SPEC §9, ``telemetry.narration``).

Each template turns one event kind into a sentence in a category
(``lifecycle``, ``employment``, ``queue_conflict``, ``perturbation``,
``stability``). A
narration is published as an event of kind ``narration`` unless a throttle
holds it back:

- dedupe: the same sentence key (category, event kind, subject) within
  ``dedupe_window_ticks`` of its last publication;
- category cooldown: ``category_cooldown_ticks[category]`` ticks after the
  category's last narration;
- global cooldown: ``global_cooldown_ticks`` after any narration;
- global window: at most ``global_window_limit`` narrations in any
  ``global_window_ticks`` ticks.

Categories in ``priority_categories`` skip the global cooldown and the
global window (they still obey their own cooldown and the dedupe window).
The throttle state round-trips through :meth:`Narrator.state` so a
restored shard narrates exactly as the original would have.

The throttles run in the core (:class:`townlet._core.Narrator`): the
telemetry encoder narrates each payload's events as it encodes them, with
the GIL released, and :meth:`Narrator.narrate` uses the same state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from townlet import _core
from townlet.config.telemetry import NarrationConfig


@dataclass(frozen=True)
class Template:
    """How one event kind is narrated."""

    category: str
    text: str

    def render(self, event: dict[str, Any]) -> str:
        """The sentence for ``event`` (missing fields read as ``?``)."""
        return self.text.format_map(_Fields(event))


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


#: Event kind -> template. Python events carry ``agent_id``; core events ``agent_id`` and ``object``.
TEMPLATES: dict[str, Template] = {
    "lifecycle_exit": Template("lifecycle", "{agent_id} left town ({reason})"),
    "lifecycle_spawn": Template("lifecycle", "{agent_id} moved into town"),
    "lifecycle_exit_held": Template("lifecycle", "{agent_id}'s exit ({reason}) is held by the exit caps"),
    "eviction_notice": Template("lifecycle", "{agent_id} was served an eviction notice"),
    "job_hired": Template("employment", "{agent_id} was hired"),
    "employment_exit_pending": Template(
        "employment", "{agent_id} is queued for an employment exit ({reason})"
    ),
    "employment_exit_manual_request": Template("employment", "an operator approved {agent_id}'s exit"),
    "employment_exit_deferred": Template("employment", "an operator deferred {agent_id}'s exit"),
    "employment_exit_processed": Template("employment", "{agent_id}'s employment exit was processed"),
    "employment_exit_queue_full": Template("employment", "the exit queue is full; {agent_id} was not queued"),
    "absent": Template("employment", "{agent_id} missed a shift"),
    "queue_refused": Template("queue_conflict", "{agent_id} was turned away at {object}"),
    "reservation_timeout": Template("queue_conflict", "{agent_id} gave up waiting at {object}"),
    "power_fault": Template("perturbation", "the power went out"),
    "water_fault": Template("perturbation", "the water supply failed"),
    # The perturbation scheduler's events carry a ``description`` ("a blackout", ...).
    "perturbation_scheduled": Template("perturbation", "{description} is planned for tick {start}"),
    "perturbation_started": Template("perturbation", "{description} began; it lasts until tick {end}"),
    "perturbation_ended": Template("perturbation", "{description} is over"),
    "perturbation_cancelled": Template("perturbation", "{description} was called off ({reason})"),
    "perturbation_deferred": Template("perturbation", "{description} was put back to tick {start}"),
    "stability_alert": Template("stability", "stability alert: the {canary} canary crossed its threshold"),
    "stability_cleared": Template("stability", "the {canary} canary is back within its threshold"),
}


class Narrator:
    """Applies the templates and the throttles to events (the state lives in the core)."""

    def __init__(self, config: NarrationConfig | None = None) -> None:
        """Reads the cooldowns, the dedupe window and the global window from ``config``."""
        self.config = cfg = config if config is not None else NarrationConfig()
        self.core = _core.Narrator(
            [(kind, t.category, t.text) for kind, t in TEMPLATES.items()],
            cfg.global_cooldown_ticks,
            dict(cfg.category_cooldown_ticks),
            cfg.dedupe_window_ticks,
            cfg.global_window_ticks,
            cfg.global_window_limit,
            list(cfg.priority_categories),
        )

    def narrate(self, events: list[dict[str, Any]], tick: int) -> list[dict[str, Any]]:
        """Narration events for ``events`` (already in their published form) at ``tick``."""
        out: list[dict[str, Any]] = []
        for kind, fields in self.candidates(events):
            offered = self.core.offer(kind, fields, tick)
            if offered is not None:
                category, text, agent = offered
                narration: dict[str, Any] = {
                    "kind": "narration",
                    "tick": tick,
                    "category": category,
                    "text": text,
                    "source": kind,
                }
                if agent is not None:
                    narration["agent_id"] = agent
                out.append(narration)
        return out

    @staticmethod
    def candidates(events: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, str]]]:
        """The events a template narrates, as ``(kind, fields as text)`` (fields that are None left out)."""
        return [
            (kind, {str(k): str(v) for k, v in event.items() if v is not None})
            for event in events
            if (kind := str(event.get("kind"))) in TEMPLATES
        ]

    @property
    def emitted(self) -> int:
        """Narrations published."""
        return self.core.emitted

    @property
    def suppressed(self) -> dict[str, int]:
        """Narrations held back, by throttle (``dedupe``, ``category``, ``global``, ``window``)."""
        return self.core.suppressed

    def stats(self) -> dict[str, Any]:
        """Narrations published and held back (by throttle)."""
        return {"emitted": self.core.emitted, "suppressed": self.core.suppressed}

    def state(self) -> dict[str, Any]:
        """The throttle state, JSON-ready."""
        return self.core.state()

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self.core.restore(
            int(state["last_global"]),
            {str(k): int(v) for k, v in state["last_category"].items()},
            {str(k): int(v) for k, v in state["last_key"].items()},
            [int(t) for t in state["window"]],
            int(state["emitted"]),
            {str(k): int(v) for k, v in state["suppressed"].items()},
        )
