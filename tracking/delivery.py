"""Bringing a run's MLflow record up to what its store durably holds: every epoch's metrics once, in
order, its sample grids, its model and its final status, whenever the server can be reached.

Training never waits on tracking: the store is written first (``runner.epoch_end``), MLflow is told
after, and what it does not hear now it hears at the next delivery (the next epoch, the sweep's end,
or ``chromasweep sync``). What MLflow already holds is read back before anything is sent, so a
delivery that is repeated (a crash after sending, a lost reply) adds nothing twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from colorize_core.report import EpochReport
from colorize_core.status import RunStatus
from tracking.trial_run import TrialRun, sample_name

RETRY_AFTER_S = 60.0  # after a failed delivery, training goes on this long before the next attempt


@dataclass
class Durable:
    """What a run's store holds, as delivery needs it."""

    history: list[dict]  # every epoch's metrics, oldest first
    samples: dict[int, Callable[[], bytes]] = field(default_factory=dict)  # epoch -> its grid, PNG
    model: Callable[[], tuple[object, dict]] | None = None  # the final generator and its info, once published
    status: RunStatus | None = None  # the final status, once known


class Delivery:
    def __init__(self, run: TrialRun, retry_after_s: float = RETRY_AFTER_S):
        self.run = run
        self.retry_after_s = retry_after_s
        self._next_try = 0.0
        self.pending_since: float | None = None

    def deliver(self, durable: Durable, force: bool = False) -> bool:
        """True when MLflow holds everything in ``durable``; False (and a warning) when it could not be
        reached, in which case nothing is lost and the next delivery goes on from there."""
        if not force and time.monotonic() < self._next_try:
            return False
        try:
            self._send(durable)
        except Exception as err:  # noqa: BLE001  any failure to reach the store: keep training, retry later
            self._next_try = time.monotonic() + self.retry_after_s
            self.pending_since = self.pending_since or time.time()
            print(
                f"[mlflow] tracking unreachable ({type(err).__name__}: {str(err)[:200]}); run {self.run.name}'s "
                f"record waits in its storage and is delivered when the server is back",
                flush=True,
            )
            return False
        if self.pending_since is not None:
            print(
                f"[mlflow] run {self.run.name}: delivered what waited since "
                f"{time.strftime('%H:%M:%S', time.localtime(self.pending_since))}",
                flush=True,
            )
            self.pending_since = None
        return True

    def _send(self, durable: Durable) -> None:
        run = self.run
        logged = run.logged_epochs()
        epochs = [(EpochReport.read(m).completed_epochs, m) for m in durable.history]
        new = [(epoch, m) for epoch, m in epochs if epoch not in logged]
        for epoch, metrics in new:
            run.log_epoch(epoch, metrics)
        if new or durable.status is not None:  # once per delivery, not per epoch; the last one again at the end
            self._draw_curves()
        if durable.samples:
            have = run.logged_samples()
            for epoch, png in sorted(durable.samples.items()):
                if sample_name(epoch) not in have:
                    run.log_sample_png(sample_name(epoch), png())
        if durable.model is not None and not run.has_model():
            generator, info = durable.model()
            run.log_model(generator, info, epochs[-1][0] if epochs else 0)
        if durable.status is not None:
            run.finish(durable.status)

    def _draw_curves(self) -> None:
        """A picture of numbers MLflow already holds: failing to draw it holds back no model or status."""
        try:
            self.run.log_learning_curves()
        except Exception as err:  # noqa: BLE001  the next delivery draws it again
            print(
                f"[mlflow] run {self.run.name}: no learning curves this time ({type(err).__name__}: {str(err)[:200]})",
                flush=True,
            )
