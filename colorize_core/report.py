"""The report a run makes at each checkpoint: one type from the worker that writes it, through Tune
(which carries it as a dict) and the run's folder (as JSON), to MLflow and the sweep's tables.

Its own fields say where the run stands; its other keys are the metrics of the step, named as in
``metric_registry``. Whoever receives a report as a dict reads it back with ``EpochReport.read``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class EpochReport(BaseModel):
    # The metrics (metric_registry's names) ride along as extra keys; so do the keys Tune adds.
    model_config = ConfigDict(extra="allow")

    step: int = 0  # training steps completed
    epoch: int | float = 0  # epochs completed; fractional at a mid-epoch checkpoint
    diverged: bool = False  # a loss turned non-finite: no metrics to rank, ``message`` says where
    message: str = ""
    resumed_from_step: int = 0  # the checkpoint this attempt resumed from, after a failure
    workers: int = 1
    cost_usd: float | None = None  # a sweep trial's estimated cost so far (costs/meter.py)

    @classmethod
    def read(cls, metrics: dict[str, Any] | None) -> EpochReport:
        return cls.model_validate(metrics or {})

    @classmethod
    def divergence(cls, step: int, message: str) -> EpochReport:
        return cls(step=step, diverged=True, message=message)

    def as_dict(self) -> dict[str, Any]:
        """What Tune, the run's folder and MLflow receive: the fields given and the metrics, numbers
        where they chart them (``diverged`` always, as 0 or 1), nothing for what is unknown."""
        return {**self.model_dump(exclude_unset=True, exclude_none=True), "diverged": int(self.diverged)}

    @property
    def completed_epochs(self) -> int:
        return int(self.epoch)
