"""A sweep's spending limit, as its searcher applies it before drawing each trial.

The sweep draws another trial only while what its trials have spent, plus what the running ones
will spend to finish, plus what one more trial is expected to cost, stays within ``max_usd``. A
running trial is projected to its last epoch at its cost per epoch so far, and one more trial to a
whole trial at the mean cost per epoch of the trials so far (no early stop assumed: the worst case).
Until some trial has reported an epoch nothing is known, so the first trials (as many as run at
once) always start.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from costs.prices import usd


@dataclass
class _Trial:
    cost: float = 0.0
    epoch: int = 0
    done: bool = False


@dataclass
class CostBudget:
    max_usd: float
    epochs_per_trial: int
    trials: dict[str, _Trial] = field(default_factory=dict)

    def observe(self, trial_id: str, cost_usd: float | None, epoch: int | None) -> None:
        trial = self.trials.setdefault(trial_id, _Trial())
        if cost_usd is not None:
            trial.cost = max(trial.cost, float(cost_usd))
        if epoch:
            trial.epoch = max(trial.epoch, int(epoch))

    def close(self, trial_id: str) -> None:
        self.trials.setdefault(trial_id, _Trial()).done = True

    @property
    def spent(self) -> float:
        return sum(t.cost for t in self.trials.values())

    @property
    def committed(self) -> float:
        """What the running trials will add by their last epoch, at their own cost per epoch so far."""
        return sum(
            t.cost / t.epoch * (self.epochs_per_trial - t.epoch) for t in self.trials.values() if not t.done and t.epoch
        )

    @property
    def expected_trial(self) -> float | None:
        """One more trial run to its last epoch, at the mean cost per epoch of the trials so far."""
        per_epoch = [t.cost / t.epoch for t in self.trials.values() if t.epoch]
        return sum(per_epoch) / len(per_epoch) * self.epochs_per_trial if per_epoch else None

    def refusal(self) -> str | None:
        """Why another trial must not be drawn, or None."""
        expected = self.expected_trial
        if expected is None:
            return None
        total = self.spent + self.committed + expected
        if total <= self.max_usd:
            return None
        return (
            f"max_cost_usd {self.max_usd:g}: spent {usd(self.spent)} + running trials' rest {usd(self.committed)} "
            f"+ one more trial ~{usd(expected)} = {usd(total)} would pass it; no new trials"
        )
