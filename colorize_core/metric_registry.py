"""Every metric a training run reports, with its direction and meaning: the one list that the sweep
spec's objectives, promotion's held-out scores and the CLI's choices derive from.

A test fails when the trainer reports a metric that is not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Goal(StrEnum):
    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"
    NONE = "none"  # a baseline, a diagnostic or bookkeeping: never an objective


@dataclass(frozen=True)
class MetricInfo:
    name: str
    goal: Goal
    meaning: str

    @property
    def mode(self) -> str:
        """Ray Tune's and Optuna's spelling of the goal."""
        return {Goal.MAXIMIZE: "max", Goal.MINIMIZE: "min"}[self.goal]


# Per-image scores on held-out images (colorize_core.evaluation.scores.batch_scores), without the split prefix.
SCORES = {
    "psnr": (Goal.MAXIMIZE, "PSNR of the colorized RGB against the truth, dB"),
    "ssim": (Goal.MAXIMIZE, "SSIM of the colorized RGB against the truth"),
    "colorfulness": (Goal.NONE, "Hasler-Suesstrunk colourfulness of the colorized images"),
    "colorfulness_truth": (Goal.NONE, "colourfulness of the true images"),
    "colorfulness_gap": (Goal.MINIMIZE, "|colourfulness(colorized) - colourfulness(truth)|"),
    "ab_mse": (Goal.MINIMIZE, "mean squared error of ab in the reference's units, (ab + 128)/255"),
    "gray_psnr": (Goal.NONE, "PSNR of the gray image (ab = 0): the floor to beat, dB"),
    "auc_rebalanced": (
        Goal.MAXIMIZE,
        "share of pixels within ab error t, t = 0..150, each colour of the "
        "true image weighted equally (CIC's rebalanced AuC, per image): "
        "not won by gray or a safe mean colour",
    ),
    "gray_auc_rebalanced": (Goal.NONE, "auc_rebalanced of the gray image (ab = 0): the floor to beat"),
}
# One training step's losses (colorize_core.networks.gan.AdversarialColorizer.train_step), averaged over an epoch.
LOSSES = {
    "generator_loss": (Goal.MINIMIZE, "the generator's weighted total loss"),
    "ab_mse": (
        Goal.MINIMIZE,
        "the generator's ab MSE, in the reference's units (ab + 128)/255 (cic: "
        "of its decoded ab, reported, not trained on)",
    ),
    "cross_entropy": (Goal.MINIMIZE, "cic: the rebalanced cross-entropy of the ab bins (its colour loss)"),
    "adversarial": (Goal.NONE, "the generator's adversarial term (minus the critic's score)"),
    "semantic": (Goal.NONE, "the generator's class term (labels: cross-entropy; teacher: KL)"),
    "critic_loss": (Goal.NONE, "the critic's Wasserstein loss plus its weighted gradient penalty"),
    "wasserstein": (Goal.NONE, "the critic's estimate of the Wasserstein distance"),
    "gradient_penalty": (Goal.NONE, "the WGAN-GP penalty, before its weight"),
}
OTHER = {
    "images_per_second": (Goal.MAXIMIZE, "training throughput over the epoch, all workers"),
    "train_seconds": (Goal.NONE, "wall seconds of the epoch's training steps"),
    "eval_seconds": (Goal.NONE, "wall seconds of the epoch's validation"),
    "epoch": (Goal.NONE, "epochs completed"),
    "step": (Goal.NONE, "training steps completed"),
    "diverged": (Goal.NONE, "1 when a loss turned non-finite"),
    "resumed_from_step": (Goal.NONE, "the checkpoint step this attempt resumed from"),
    "workers": (Goal.NONE, "training workers in the run"),
    "cost_usd": (Goal.NONE, "a sweep trial's estimated cost so far, USD: its wall time at its rate (costs/prices.py)"),
}

REGISTRY: dict[str, MetricInfo] = {
    **{f"val_{k}": MetricInfo(f"val_{k}", g, f"{m}, on the validation split") for k, (g, m) in SCORES.items()},
    **{f"train_{k}": MetricInfo(f"train_{k}", g, m) for k, (g, m) in LOSSES.items()},
    **{k: MetricInfo(k, g, m) for k, (g, m) in OTHER.items()},
}

# What a sweep may optimise: every reported metric with a direction.
OBJECTIVES = {name: info for name, info in REGISTRY.items() if info.goal is not Goal.NONE}
# What promotion scores held-out models by: the held-out scores with a direction.
HELD_OUT_SCORES = {name: Goal(goal) for name, (goal, _) in SCORES.items() if goal is not Goal.NONE}


def unknown(names) -> list[str]:
    """The names among ``names`` the registry does not know."""
    return sorted(set(names) - set(REGISTRY))
