"""What every asv benchmark class here shares: one prepared `townlet.perf` workload.

Subclasses build ``self.work`` in ``setup`` and define ``time_*`` (seconds
per call) and ``track_*`` (units per second of one call) methods that call
``self._time()`` and ``self._rate()``. Nothing here is named like a
benchmark, so asv finds the benchmarks in the subclasses only.
"""

from __future__ import annotations

import os
from typing import Any

# One BLAS thread, as `make bench` runs (set before numpy is imported).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from townlet.perf import Workload


class WorkloadBench:
    """A prepared workload; ``timeout`` covers building the largest towns."""

    timeout = 600
    work: Workload

    def _time(self) -> None:
        self.work.run()

    def _rate(self) -> float:
        return self.work.timed()

    def teardown(self, *params: Any) -> None:
        """Releases the workload (asv calls this after each parameter set)."""
        work = getattr(self, "work", None)
        if work is not None:
            work.close()
