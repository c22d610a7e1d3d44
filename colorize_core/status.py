"""How a training run or a sweep trial ended (or stands): one type for the trainer, the sweep table,
the MLflow tags and promotion. Its MLflow run states live in ``tracking`` alone."""

from __future__ import annotations

from enum import StrEnum

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
