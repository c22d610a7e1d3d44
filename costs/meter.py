"""A run's cost so far, read at each epoch end into its metrics (``cost_usd``)."""

from __future__ import annotations

import time
from collections.abc import Callable

from colorize_core.metric_registry import REGISTRY

# In each epoch report, each trial's MLflow run and the sweep's (their sum); looked up in the registry
# of reported metrics, so that a rename there fails here at import.
COST_METRIC = REGISTRY["cost_usd"].name


class CostMeter:
    """What the run's earlier attempts spent (``spent``, from the checkpoint it resumed from) plus this
    attempt's wall time at ``usd_per_hour``. Time an attempt worked past its last checkpoint before a
    crash is not counted: nothing kept it."""

    def __init__(self, usd_per_hour: float, spent: float = 0.0, clock: Callable[[], float] = time.monotonic):
        self.usd_per_hour, self.spent, self._clock = usd_per_hour, spent, clock
        self._started = clock()

    def reading(self) -> float:
        return self.spent + self.usd_per_hour * (self._clock() - self._started) / 3600
