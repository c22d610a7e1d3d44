"""How a sweep's trial ended, from the error Tune holds for it: the closing table and the live table
both ask here, so a diverged trial reads the same in both."""

from __future__ import annotations

from colorize_core.status import RunStatus, TrainingDiverged


def is_diverged(error: BaseException | None) -> bool:
    """Whether a trial's error is its divergence, however Ray wrapped it (RayTaskError, TuneError)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, TrainingDiverged):
            return True
        seen.add(id(error))
        error = getattr(error, "cause", None) or error.__cause__ or error.__context__
    return False


def error_status(error: BaseException) -> RunStatus:
    """How a trial that raised ``error`` ended."""
    return RunStatus.DIVERGED if is_diverged(error) else RunStatus.ERROR
