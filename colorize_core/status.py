"""How a training run or a sweep trial ended (or stands): one type for the trainer, the sweep table,
the MLflow tags and promotion. Its MLflow run states live in ``tracking`` alone."""

from __future__ import annotations

import math
from enum import StrEnum

from colorize_core.errors import ChromasweepError

# Why a trial is LOST, for the places that tell the user (its MLflow tag, the sweep's console).
LOST_WHY = "the sweep was interrupted before Ray Tune recorded this trial, and resumed without it"


class RunStatus(StrEnum):
    FINISHED = "finished"
    STOPPED_EARLY = "stopped early"  # by the early-stopping scheduler, with valid metrics
    DIVERGED = "diverged"  # a non-finite loss; never ranked
    ERROR = "error"
    RUNNING = "running"
    NOT_RUN = "not run"
    # started by a sweep that was killed before Ray Tune recorded the trial; the resumed sweep drew
    # its configuration afresh under another name
    LOST = "lost"

    @property
    def ranked(self) -> bool:
        """Whether the run's metrics may compete for best."""
        return self in (RunStatus.FINISHED, RunStatus.STOPPED_EARLY)


class TrainingDiverged(ChromasweepError, RuntimeError):
    """A loss turned non-finite (a run whose status is DIVERGED): the trainer's result carries its
    message, and a sweep trial raises it, which is how Tune and Optuna learn of the divergence. Built
    from its message alone, so it survives the pickling that carries a trial's error to the driver."""

    @classmethod
    def in_steps(cls, first: int, step: int, losses: dict[str, float]) -> TrainingDiverged:
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        return cls(f"diverged in {f'step {step}' if first == step else f'steps {first}-{step}'}: non-finite {bad}")
