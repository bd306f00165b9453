"""Narration: templates, global and per-category cooldowns, dedupe window, global window, priority."""

from __future__ import annotations

import json
from typing import Any

from townlet.config.telemetry import NarrationConfig
from townlet.telemetry.narration import Narrator


def _exit(agent: str, tick: int) -> dict[str, Any]:
    return {"kind": "lifecycle_exit", "tick": tick, "agent_id": agent, "reason": "eviction"}


def _queued(agent: str, tick: int) -> dict[str, Any]:
    return {"kind": "employment_exit_pending", "tick": tick, "agent_id": agent, "reason": "absences"}


def _texts(out: list[dict[str, Any]]) -> list[str]:
    return [n["text"] for n in out]


def config(**overrides: Any) -> NarrationConfig:
    base: dict[str, Any] = {
        "global_cooldown_ticks": 10,
        "category_cooldown_ticks": {"employment": 50, "lifecycle": 0},
        "dedupe_window_ticks": 100,
        "global_window_ticks": 1000,
        "global_window_limit": 100,
        "priority_categories": [],
    }
    return NarrationConfig(**{**base, **overrides})


def test_templates_render_a_narration_event() -> None:
    narrator = Narrator(config())
    (out,) = narrator.narrate([_exit("agent_4", 7), {"kind": "hook", "tick": 7}], 7)
    assert out == {
        "kind": "narration",
        "tick": 7,
        "category": "lifecycle",
        "text": "agent_4 left town (eviction)",
        "source": "lifecycle_exit",
        "agent_id": "agent_4",
    }
    assert narrator.narrate([{"kind": "queue_refused", "tick": 8}], 30)[0]["text"] == "? was turned away at ?"


def test_global_cooldown_holds_back_every_category() -> None:
    narrator = Narrator(config())
    assert _texts(narrator.narrate([_exit("agent_1", 0), _queued("agent_2", 0)], 0)) == [
        "agent_1 left town (eviction)"
    ]
    assert narrator.narrate([_queued("agent_2", 9)], 9) == []
    assert len(narrator.narrate([_queued("agent_2", 10)], 10)) == 1
    assert narrator.suppressed["global"] == 2


def test_category_cooldown_applies_per_category() -> None:
    narrator = Narrator(config(global_cooldown_ticks=0))
    assert len(narrator.narrate([_queued("agent_1", 0)], 0)) == 1
    assert narrator.narrate([_queued("agent_2", 49)], 49) == [], "employment cools down for 50 ticks"
    assert len(narrator.narrate([_exit("agent_3", 49)], 49)) == 1, "lifecycle does not"
    assert len(narrator.narrate([_queued("agent_2", 50)], 50)) == 1
    assert narrator.suppressed["category"] == 1


def test_dedupe_window_drops_repeats_of_the_same_sentence() -> None:
    narrator = Narrator(config(global_cooldown_ticks=0))
    assert len(narrator.narrate([_exit("agent_1", 0)], 0)) == 1
    assert narrator.narrate([_exit("agent_1", 99)], 99) == []
    assert len(narrator.narrate([_exit("agent_2", 99)], 99)) == 1, "another subject is another sentence"
    assert len(narrator.narrate([_exit("agent_1", 100)], 100)) == 1
    assert narrator.suppressed["dedupe"] == 1


def test_global_window_limit_and_priority_categories() -> None:
    narrator = Narrator(config(global_cooldown_ticks=0, global_window_ticks=100, global_window_limit=2))
    published = [narrator.narrate([_exit(f"agent_{t}", t)], t) for t in range(5)]
    assert [len(p) for p in published] == [1, 1, 0, 0, 0]
    assert narrator.suppressed["window"] == 3
    assert len(narrator.narrate([_exit("agent_9", 100)], 100)) == 1, "the window slides"
    vip = Narrator(config(global_window_ticks=100, global_window_limit=1, priority_categories=["lifecycle"]))
    assert len(vip.narrate([_queued("agent_1", 0)], 0)) == 1
    assert len(vip.narrate([_exit("agent_2", 1)], 1)) == 1, "priority skips the global cooldown and window"
    assert vip.narrate([_queued("agent_3", 60)], 60) == [], "others still obey the window"


def test_state_round_trip_continues_identically() -> None:
    events = [[_exit(f"agent_{t % 7}", t), _queued(f"agent_{t % 5}", t)] for t in range(0, 400, 3)]
    a = Narrator(config())
    for batch in events[:60]:
        a.narrate(batch, batch[0]["tick"])
    b = Narrator(config())
    b.restore(json.loads(json.dumps(a.state())))
    rest_a = [a.narrate(batch, batch[0]["tick"]) for batch in events[60:]]
    rest_b = [b.narrate(batch, batch[0]["tick"]) for batch in events[60:]]
    assert rest_a == rest_b
    assert a.stats() == b.stats()
    assert a.stats()["emitted"] > 0
