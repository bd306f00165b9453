"""`StabilityMonitor`: canaries over a rolling window of ticks (SPEC §13).

Each tick the monitor pushes one entry into a ring of ``window_ticks``
entries (:class:`~townlet.stability.window.TickWindow`) and reads the
window's sums back in O(1):

- the core's running KPI totals (``World.tally()``, the same source as
  :class:`~townlet.core.kpis.KpiTracker`): agent-ticks, option switches,
  clock-ins, late clock-ins and starvation onsets; the window's counts are
  the differences from the totals ``window_ticks`` ticks earlier;
- the reward guard's aggregates of the tick's final rewards
  (``RewardGuard.batch``: count, sum, sum of squares), summed over the
  window.

Once the window is full (``window_ticks`` ticks observed) the canaries are
evaluated every tick. A canary raises an alert when its value crosses
above its threshold, stays raised while the value is above
``threshold x clear_ratio``, and clears once it falls to or below that
(hysteresis). Raising and clearing each produce one event,
``stability_alert`` and ``stability_cleared``.

Canaries (see docs/stability.md):

- ``lateness``: late clock-ins / clock-ins in the window (the KPI
  ``late_share``), against ``lateness_multiplier x max(baseline,
  lateness_floor)``; the baseline is ``lateness_baseline`` or, when that
  is unset, the share of the first full window that had a clock-in;
- ``starvation``: starvation onsets (hunger collapses begun) in the
  window, against ``starvation_threshold``;
- ``option_switch_rate``: committed-option changes / agent-ticks in the
  window, against ``option_switch_rate_max``;
- ``reward_variance``: the variance of the final rewards over the
  window's agent-ticks, against ``reward_variance_max``.

Everything in :meth:`StabilityMonitor.state` is plain JSON and there is no
wall-clock input, so a restored monitor raises and clears exactly as the
original would have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from townlet.config.operations import StabilityConfig
from townlet.stability.window import TickWindow

#: Core tally keys the monitor differences per tick, in column order.
TALLY_KEYS = ("agent_ticks", "switches", "clock_ins", "late_clock_ins", "starvation_onsets")
#: Window sums, in :meth:`TickWindow.totals` order: tally differences, reward count, sum, sum of squares.
COLUMNS = (*TALLY_KEYS, "rewards", "reward_sum", "reward_sumsq")
#: Canary names, in evaluation order.
CANARIES = ("lateness", "starvation", "option_switch_rate", "reward_variance")

ALERT_EVENT = "stability_alert"
CLEARED_EVENT = "stability_cleared"

_read_tally = itemgetter(*TALLY_KEYS)
_INF = math.inf


@dataclass
class CanaryState:
    """One canary's alert state."""

    alerting: bool = False
    #: Tick of the alert being raised (None when not alerting).
    since: int | None = None
    #: Alerts raised so far.
    alerts: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"alerting": self.alerting, "since": self.since, "alerts": self.alerts}


def window_values(totals: tuple[float, ...]) -> tuple[float, float, float, float]:
    """The canary values (in :data:`CANARIES` order) of a window's column sums (:data:`COLUMNS` order)."""
    agent_ticks, switches, clock_ins, late, starved, n, total, squares = totals
    lateness = late / clock_ins if clock_ins > 0 else 0.0
    switch_rate = switches / agent_ticks if agent_ticks > 0 else 0.0
    variance = max((squares - total * total / n) / n, 0.0) if n > 0 else 0.0
    return lateness, starved, switch_rate, variance


class StabilityMonitor:
    """Rolling-window canaries; the loop owns one as ``loop.stability`` when the feature is on."""

    def __init__(self, config: StabilityConfig, tally: Mapping[str, int]) -> None:
        """Starts an empty window; ``tally`` is the core's running totals now (``World.tally()``)."""
        self.config = config
        self.window_ticks = config.window_ticks
        self._window = TickWindow(config.window_ticks, tuple(int(tally[k]) for k in TALLY_KEYS))
        #: The lateness canary's baseline share (None until known).
        self.lateness_baseline: float | None = config.lateness_baseline
        self._states = tuple(CanaryState() for _ in CANARIES)
        self._thresholds: list[float | None] = [
            None,
            float(config.starvation_threshold),
            config.option_switch_rate_max,
            config.reward_variance_max,
        ]
        #: Per canary, the level whose crossing changes its state: above it raises (not alerting),
        #: at or below it clears (alerting); +inf for a canary without a threshold yet.
        self._levels: list[float] = [_INF] * len(CANARIES)
        self._any_alerting = False
        self._set_baseline(self.lateness_baseline)
        self.last_tick = -1

    def _set_baseline(self, baseline: float | None) -> None:
        self.lateness_baseline = baseline
        cfg = self.config
        self._thresholds[0] = (
            None if baseline is None else cfg.lateness_multiplier * max(baseline, cfg.lateness_floor)
        )
        self._update_levels()

    def _update_levels(self) -> None:
        ratio = self.config.clear_ratio
        self._levels = [
            _INF if threshold is None else threshold * ratio if state.alerting else threshold
            for threshold, state in zip(self._thresholds, self._states, strict=True)
        ]
        self._any_alerting = any(state.alerting for state in self._states)

    # -- per tick ------------------------------------------------------------------
    def observe(
        self, tick: int, tally: Mapping[str, int], rewards: tuple[int, float, float]
    ) -> list[dict[str, Any]]:
        """Adds one tick; returns the alert and clear events it caused.

        ``tally`` is the core's running totals after the tick
        (``World.tally()``); ``rewards`` the tick's final rewards as
        ``(count, sum, sum of squares)`` (``RewardGuard.batch``).
        """
        window = self._window
        latest = _read_tally(tally)
        window.push(latest, rewards)
        self.last_tick = tick
        if window.pushed < self.window_ticks:
            return []
        # window_values() inlined: this runs every tick.
        a, switches, clock_ins, late, starved = latest
        a0, switches0, clock_ins0, late0, starved0 = window.oldest
        agent_ticks = a - a0
        clock_ins -= clock_ins0
        n = window.rewards
        total = window.reward_sum
        v0 = (late - late0) / clock_ins if clock_ins > 0 else 0.0
        v1 = starved - starved0
        v2 = (switches - switches0) / agent_ticks if agent_ticks > 0 else 0.0
        v3 = max((window.reward_sumsq - total * total / n) / n, 0.0) if n > 0 else 0.0
        if self.lateness_baseline is None and clock_ins > 0:
            self._set_baseline(v0)
        r0, r1, r2, r3 = self._levels
        # The common case, nothing alerting and everything below its threshold, is one comparison chain.
        if not self._any_alerting and v0 <= r0 and v1 <= r1 and v2 <= r2 and v3 <= r3:
            return []
        return self._evaluate(tick, (v0, v1, v2, v3))

    def _evaluate(self, tick: int, values: tuple[float, float, float, float]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        ratio = self.config.clear_ratio
        for name, state, value, threshold in zip(
            CANARIES, self._states, values, self._thresholds, strict=True
        ):
            if threshold is None:
                continue
            if state.alerting:
                if value <= threshold * ratio:
                    events.append(self._event(CLEARED_EVENT, tick, name, value, threshold, state.since))
                    state.alerting = False
                    state.since = None
            elif value > threshold:
                state.alerting = True
                state.since = tick
                state.alerts += 1
                events.append(self._event(ALERT_EVENT, tick, name, value, threshold, None))
        if events:
            self._update_levels()
        return events

    def _event(
        self, kind: str, tick: int, name: str, value: float, threshold: float, since: int | None
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "kind": kind,
            "tick": tick,
            "canary": name,
            "value": value,
            "threshold": threshold,
            "window": self.window_ticks,
        }
        if name == "lateness":
            event["baseline"] = self.lateness_baseline
        if since is not None:
            event["since"] = since
        return event

    # -- reading -------------------------------------------------------------------
    @property
    def ticks_observed(self) -> int:
        """Ticks observed since the monitor started (or since the saved monitor started)."""
        return self._window.pushed

    @property
    def windows_completed(self) -> int:
        """Whole windows of ``window_ticks`` observed so far."""
        return self._window.pushed // self.window_ticks

    def window_totals(self) -> dict[str, float]:
        """The window's sums by name (:data:`COLUMNS`)."""
        return dict(zip(COLUMNS, self._window.totals(), strict=True))

    def values(self) -> dict[str, float]:
        """Each canary's value over the current window (partial before the window fills)."""
        return dict(zip(CANARIES, window_values(self._window.totals()), strict=True))

    def alerting(self) -> list[str]:
        """Names of the canaries with a raised alert."""
        return [name for name, state in zip(CANARIES, self._states, strict=True) if state.alerting]

    def status(self) -> dict[str, Any]:
        """Per canary: value, threshold, alerting, since, alerts; plus the window's progress."""
        canaries = {
            name: {"value": value, "threshold": threshold, **state.as_dict()}
            for name, value, threshold, state in zip(
                CANARIES, window_values(self._window.totals()), self._thresholds, self._states, strict=True
            )
        }
        return {
            "enabled": True,
            "window_ticks": self.window_ticks,
            "ticks_observed": self.ticks_observed,
            "window_full": self._window.full,
            "windows_completed": self.windows_completed,
            "last_tick": self.last_tick,
            "lateness_baseline": self.lateness_baseline,
            "clear_ratio": self.config.clear_ratio,
            "alerting": self.alerting(),
            "canaries": canaries,
        }

    # -- snapshots -----------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything a snapshot needs: the window ring, the lateness baseline and the alert states."""
        return {
            "window": self._window.state(),
            "lateness_baseline": self.lateness_baseline,
            "canaries": {name: s.as_dict() for name, s in zip(CANARIES, self._states, strict=True)},
            "last_tick": self.last_tick,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Restores :meth:`state` output.

        A configured ``lateness_baseline`` wins over a saved one; a saved
        window of another length is refilled from its newest rows.
        """
        self._window.restore(state["window"])
        saved = state["lateness_baseline"]
        configured = self.config.lateness_baseline
        for name, canary in zip(CANARIES, self._states, strict=True):
            saved_state = state["canaries"].get(name, {})
            canary.alerting = bool(saved_state.get("alerting", False))
            since = saved_state.get("since")
            canary.since = None if since is None else int(since)
            canary.alerts = int(saved_state.get("alerts", 0))
        self._set_baseline(configured if configured is not None else None if saved is None else float(saved))
        self.last_tick = int(state["last_tick"])
