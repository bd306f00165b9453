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
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

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
    """Applies the templates and the throttles to each tick's events."""

    def __init__(self, config: NarrationConfig | None = None) -> None:
        """Reads the cooldowns, the dedupe window and the global window from ``config``."""
        self.config = config if config is not None else NarrationConfig()
        self.priority = frozenset(self.config.priority_categories)
        self._last_global = -(10**12)
        self._last_category: dict[str, int] = {}
        self._last_key: dict[str, int] = {}
        self._window: deque[int] = deque()
        self.emitted = 0
        self.suppressed: dict[str, int] = {"dedupe": 0, "category": 0, "global": 0, "window": 0}

    def narrate(self, events: list[dict[str, Any]], tick: int) -> list[dict[str, Any]]:
        """Narration events for ``events`` (already in their published form) at ``tick``."""
        out: list[dict[str, Any]] = []
        for event in events:
            template = TEMPLATES.get(str(event.get("kind")))
            if template is not None:
                narration = self._offer(template, event, tick)
                if narration is not None:
                    out.append(narration)
        return out

    def _offer(self, template: Template, event: dict[str, Any], tick: int) -> dict[str, Any] | None:
        cfg = self.config
        category = template.category
        subject = event.get("agent_id", event.get("object", event.get("canary", "")))
        key = f"{category}|{event['kind']}|{subject}"
        last = self._last_key.get(key)
        if last is not None and tick - last < cfg.dedupe_window_ticks:
            self.suppressed["dedupe"] += 1
            return None
        last = self._last_category.get(category)
        if last is not None and tick - last < cfg.category_cooldown_ticks.get(category, 0):
            self.suppressed["category"] += 1
            return None
        priority = category in self.priority
        if not priority:
            if tick - self._last_global < cfg.global_cooldown_ticks:
                self.suppressed["global"] += 1
                return None
            while self._window and tick - self._window[0] >= cfg.global_window_ticks:
                self._window.popleft()
            if len(self._window) >= cfg.global_window_limit:
                self.suppressed["window"] += 1
                return None
            self._window.append(tick)
        self._last_global = tick
        self._last_category[category] = tick
        self._last_key[key] = tick
        if len(self._last_key) > 4096:
            horizon = tick - cfg.dedupe_window_ticks
            self._last_key = {k: t for k, t in self._last_key.items() if t > horizon}
        self.emitted += 1
        narration: dict[str, Any] = {
            "kind": "narration",
            "tick": tick,
            "category": category,
            "text": template.render(event),
            "source": event["kind"],
        }
        if "agent_id" in event:
            narration["agent_id"] = event["agent_id"]
        return narration

    def stats(self) -> dict[str, Any]:
        """Narrations published and held back (by throttle)."""
        return {"emitted": self.emitted, "suppressed": dict(self.suppressed)}

    def state(self) -> dict[str, Any]:
        """The throttle state, JSON-ready."""
        return {
            "last_global": self._last_global,
            "last_category": dict(self._last_category),
            "last_key": dict(self._last_key),
            "window": list(self._window),
            "emitted": self.emitted,
            "suppressed": dict(self.suppressed),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output."""
        self._last_global = int(state["last_global"])
        self._last_category = {str(k): int(v) for k, v in state["last_category"].items()}
        self._last_key = {str(k): int(v) for k, v in state["last_key"].items()}
        self._window = deque(int(t) for t in state["window"])
        self.emitted = int(state["emitted"])
        self.suppressed = {str(k): int(v) for k, v in state["suppressed"].items()}
