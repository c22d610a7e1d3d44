"""What a person sees while a sweep runs: one live table of trials (status, epoch, metric, best so
far, ETA) on the terminal. Everything else (Tune's progress tables, Ray's, TensorFlow's and the
trials' own output, warnings) goes to ``console.log`` in the sweep's folder: the process's stdout
and stderr are redirected there at the file-descriptor level, so child processes' output lands there
too. ``chromasweep sweep --verbose`` skips all this and shows everything as it comes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ray.tune import Callback
from rich.console import Console
from rich.live import Live
from rich.table import Table

from colorize_core.locations import is_uri
from colorize_core.report import EpochReport
from colorize_core.status import RunStatus
from costs.prices import usd
from runner.checkpoint_store import CheckpointStore
from sweeps.outcome import error_status
from sweeps.spec import SweepSpec

LOG_FILE = "console.log"
# The console of the sweep this process is running. Tune pickles its callbacks with the experiment
# (and a resumed sweep gets the pickled ones back), so the listener finds the console here.
_active: SweepConsole | None = None


@dataclass
class TrialLine:
    params: dict
    status: RunStatus | None = None  # None: not started yet
    epoch: int = 0
    metric: float | None = None
    cost: float | None = None  # USD so far, an estimate (costs/prices.py)
    started: float = field(default_factory=time.monotonic)


class SweepConsole:
    """The live view of one sweep; ``note`` prints a line above it (and into the log)."""

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        self.trials: dict[str, TrialLine] = {}
        self.epoch_seconds: list[float] = []
        self.console = Console(file=sys.stdout)
        self.live: Live | None = None
        self.log_path: str | None = None
        self._early: str | None = None  # where output goes until the sweep's folder is known

    @contextmanager
    def captured(self) -> Iterator[None]:
        """Everything this process (and what it starts) prints goes to the log from here on: to a
        scratch file until ``attached`` names the sweep's folder. A refused sweep's error is raised
        through, and printed once the terminal is back."""
        sys.stdout.flush(), sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
        fd, self._early = tempfile.mkstemp(prefix="chromasweep-", suffix=".log")
        # A terminal's own width; a file or pipe (CI logs) gets room for the whole table.
        self.console = Console(file=terminal, width=None if terminal.isatty() else 160)
        _redirect(fd)
        os.close(fd)
        try:
            yield
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()
            os.unlink(self._early)
            self._early, self.console = None, Console(file=sys.stdout)

    @contextmanager
    def attached(self, experiment: str) -> Iterator[None]:
        """The sweep's log (what was captured so far, then the rest) and the live table meanwhile."""
        if self._early is None:
            raise RuntimeError("attached() runs inside captured()")
        local = not is_uri(experiment)
        if local:
            Path(experiment).mkdir(parents=True, exist_ok=True)
            path = Path(experiment) / LOG_FILE
        else:
            path = Path(self._early).with_name(f"{Path(self._early).stem}-{LOG_FILE}")
        sys.stdout.flush(), sys.stderr.flush()
        with open(path, "ab") as log:
            log.write(Path(self._early).read_bytes())
            log.flush()
            _redirect(log.fileno())
        global _active
        self.log_path = str(path) if local else f"{experiment}/{LOG_FILE}"
        self.console.print(f"full log: {self.log_path}", soft_wrap=True)
        try:
            with Live(self.render(), console=self.console, auto_refresh=False) as live:
                self.live, _active = live, self
                yield
        finally:
            self.live, _active = None, None
            if not local:
                sys.stdout.flush(), sys.stderr.flush()
                CheckpointStore(experiment, keep=1).write_text(LOG_FILE, path.read_text(errors="replace"))

    def note(self, text: str) -> None:
        print(text, flush=True)  # into the log
        if self.live is not None:
            self.live.console.print(text, soft_wrap=True)

    def callback(self) -> Callback:
        return _Listener()

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self.render(), refresh=True)

    # -- the table ---------------------------------------------------------------------------
    def render(self) -> Table:
        spec, metric = self.spec, self.spec.objectives[0]
        epochs = spec.chromasweep.budget.epochs_per_trial
        better = max if metric.mode == "max" else min
        scored = {t: line.metric for t, line in self.trials.items() if line.metric is not None}
        best = better(scored, key=scored.get) if scored else None
        cap = spec.trial_cap
        title = (
            f"sweep {spec.name}: {len(self.trials)} of {cap if cap is not None else '?'} trials started, "
            f"{metric.name} ({metric.goal.value})"
        )
        table = Table(title=title, title_justify="left", caption=self._caption(best), caption_justify="left")
        # Cells never wrap (headers may): trial ids as the closing table prints them.
        for column, width in (("trial", 10), ("status", 13), ("epoch", 5), (metric.name, 8)):
            table.add_column(column, min_width=width)
        table.add_column("cost", min_width=9)
        for path in spec.searched:
            table.add_column(path.rsplit(".", 1)[-1], min_width=9)
        for trial, line in self.trials.items():
            mark = " *" if trial == best else ""
            table.add_row(
                trial + mark,
                line.status or "pending",
                f"{line.epoch}/{epochs}",
                "-" if line.metric is None else f"{line.metric:.4f}",
                "-" if line.cost is None else usd(line.cost),
                *(_short(line.params.get(k)) for k in spec.searched),
            )
        return table

    def _caption(self, best: str | None) -> str:
        parts = []
        if best is not None:
            parts.append(f"best so far: {best} ({self.trials[best].metric:.4f})")
        costs = [line.cost for line in self.trials.values() if line.cost is not None]
        if costs:
            limit = self.spec.chromasweep.budget.max_cost_usd
            parts.append(f"spent ~{usd(sum(costs))}" + (f" of max_cost_usd {limit:g}" if limit else ""))
        eta = self._eta()
        if eta:
            parts.append(f"ETA at most {eta / 60:.0f} min (no trial stopped early)")
        return "; ".join(parts)

    def _eta(self) -> float | None:
        cap, b = self.spec.trial_cap, self.spec.chromasweep.budget
        if cap is None or not self.epoch_seconds:
            return None
        running = [line for line in self.trials.values() if line.status is RunStatus.RUNNING]
        left = (cap - len(self.trials)) * b.epochs_per_trial + sum(b.epochs_per_trial - line.epoch for line in running)
        per_epoch = sum(self.epoch_seconds) / len(self.epoch_seconds)
        return left * per_epoch / b.max_concurrent


def _redirect(fd: int) -> None:
    """Point this process's stdout and stderr (the descriptors, so child processes too) at ``fd``."""
    sys.stdout.flush(), sys.stderr.flush()
    os.dup2(fd, 1), os.dup2(fd, 2)


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


class _Listener(Callback):
    """Tune's events on the driver, into the active console's table."""

    def _line(self, view: SweepConsole, trial) -> TrialLine:
        return view.trials.setdefault(trial.trial_id, TrialLine(dict(trial.config or {})))

    def on_trial_start(self, iteration, trials, trial, **info):
        if view := _active:
            self._line(view, trial).status = RunStatus.RUNNING
            view.refresh()

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if view := _active:
            line, metric, report = self._line(view, trial), view.spec.objectives[0].name, EpochReport.read(result)
            if report.cost_usd is not None:
                line.cost = report.cost_usd
            if report.completed_epochs and metric in result:
                line.epoch, line.metric = report.completed_epochs, float(result[metric])
                if result.get("time_this_iter_s"):
                    view.epoch_seconds.append(float(result["time_this_iter_s"]))
            view.refresh()

    def on_trial_complete(self, iteration, trials, trial, **info):
        if view := _active:
            line = self._line(view, trial)
            done = line.epoch >= view.spec.chromasweep.budget.epochs_per_trial
            line.status = RunStatus.FINISHED if done else RunStatus.STOPPED_EARLY
            view.refresh()

    def on_trial_error(self, iteration, trials, trial, **info):
        if view := _active:
            self._line(view, trial).status = _error_status(trial)
            view.refresh()


def _error_status(trial) -> RunStatus:
    """DIVERGED or ERROR, from the error Tune pickled for ``trial`` just before telling callbacks."""
    import pickle

    path = trial.pickled_error_file
    if not path or not os.path.isfile(path):
        return RunStatus.ERROR
    with open(path, "rb") as f:
        return error_status(pickle.load(f))
