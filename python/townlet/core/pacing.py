"""Time control for a live shard: pause, speed and real-time tick pacing.

A :class:`ShardClock` holds what an operator's ``pause``, ``resume`` and
``speed`` commands change, and tells the shard runner when the next tick is
due. ``1x`` is the configured base rate (``console.clock.ticks_per_second``);
``10x`` and ``100x`` multiply it; ``max`` runs unthrottled (a headless shard).

```python
clock = ShardClock(ticks_per_second=10.0, speed="1x")
clock.until_due()        # seconds to wait before the next tick (0.0: run it now)
clock.ticked()           # after each tick
clock.set_speed("100x")
clock.pause()            # the runner stops stepping; console commands still apply
```

The clock is thread-safe: console commands change it on the loop thread
while the HTTP server reads :meth:`ShardClock.status` elsewhere. Listeners
added with :meth:`ShardClock.on_change` run after every change (the runner
uses one to wake up when it is paused or waiting for a tick).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

Speed = Literal["1x", "10x", "100x", "max"]

#: Speed names and their multipliers of the base rate (None: unthrottled).
SPEEDS: dict[str, float | None] = {"1x": 1.0, "10x": 10.0, "100x": 100.0, "max": None}


class ShardClock:
    """Pause flag, speed multiplier and the schedule of the next tick."""

    def __init__(
        self,
        ticks_per_second: float = 10.0,
        speed: str = "1x",
        paused: bool = False,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        """``ticks_per_second`` is the ``1x`` rate; ``now`` is the monotonic time source (tests pass a fake).

        Raises ``ValueError`` for a rate that is not a positive finite number
        or an unknown speed.
        """
        if not (math.isfinite(ticks_per_second) and ticks_per_second > 0):
            raise ValueError(f"ticks_per_second must be a positive number, got {ticks_per_second!r}")
        if speed not in SPEEDS:
            raise ValueError(f"unknown speed {speed!r} (allowed: {', '.join(SPEEDS)})")
        self.base_ticks_per_second = float(ticks_per_second)
        self._now = now
        self._lock = threading.Lock()
        self._speed = speed
        self._paused = paused
        self._due = now()
        self._recent: deque[float] = deque(maxlen=64)
        self._listeners: list[Callable[[], None]] = []

    # -- state -----------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Whether the shard is paused."""
        return self._paused

    @property
    def speed(self) -> str:
        """The speed name (``1x``, ``10x``, ``100x`` or ``max``)."""
        return self._speed

    @property
    def ticks_per_second(self) -> float | None:
        """The target tick rate now (None: unthrottled)."""
        multiplier = SPEEDS[self._speed]
        return None if multiplier is None else self.base_ticks_per_second * multiplier

    def measured_ticks_per_second(self) -> float | None:
        """The rate over the most recent ticks (None before two ticks, or when they are stale)."""
        with self._lock:
            if len(self._recent) < 2 or self._paused:
                return None
            span = self._recent[-1] - self._recent[0]
            if span <= 0 or self._now() - self._recent[-1] > 5.0:
                return None
            return (len(self._recent) - 1) / span

    def status(self) -> dict[str, Any]:
        """What viewers see in ``health`` and ``telemetry_snapshot``."""
        measured = self.measured_ticks_per_second()
        return {
            "paused": self._paused,
            "speed": self._speed,
            "base_ticks_per_second": self.base_ticks_per_second,
            "target_ticks_per_second": self.ticks_per_second,
            "measured_ticks_per_second": round(measured, 2) if measured is not None else None,
        }

    # -- control ---------------------------------------------------------------
    def pause(self) -> bool:
        """Pauses; returns whether that changed anything."""
        with self._lock:
            changed = not self._paused
            self._paused = True
            self._recent.clear()
        self._changed()
        return changed

    def resume(self) -> bool:
        """Resumes (the next tick is due at once); returns whether that changed anything."""
        with self._lock:
            changed = self._paused
            self._paused = False
            self._due = self._now()
        self._changed()
        return changed

    def set_speed(self, speed: str) -> None:
        """Sets the speed (``ValueError`` for an unknown name); the schedule restarts from now."""
        if speed not in SPEEDS:
            raise ValueError(f"unknown speed {speed!r} (allowed: {', '.join(SPEEDS)})")
        with self._lock:
            self._speed = speed
            self._due = self._now()
            self._recent.clear()
        self._changed()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Calls ``listener()`` after every pause, resume or speed change."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()

    # -- pacing ----------------------------------------------------------------
    def restart(self) -> None:
        """Makes the next tick due now, with no lag carried over (a runner starting)."""
        with self._lock:
            self._due = self._now()
            self._recent.clear()

    def until_due(self) -> float:
        """Seconds until the next tick is due: 0.0 to run it now, ``inf`` while paused."""
        with self._lock:
            if self._paused:
                return math.inf
            if SPEEDS[self._speed] is None:
                return 0.0
            return max(0.0, self._due - self._now())

    def ticked(self) -> None:
        """Records a tick and schedules the next one.

        The schedule never lags more than one period behind the present: a
        shard that fell behind (a slow tick) runs the due tick and at most
        one more at once, then keeps the pace, instead of bursting to catch
        up. Small wake-up delays are absorbed, so the rate holds on average.
        """
        with self._lock:
            now = self._now()
            self._recent.append(now)
            rate = self.ticks_per_second
            if rate is None:
                self._due = now
                return
            period = 1.0 / rate
            self._due = max(self._due + period, now - period)
