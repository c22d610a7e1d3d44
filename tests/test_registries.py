"""The contracts between layers are types with one home each: statuses, metrics, names."""

import pytest

from colorize_core.metric_registry import HELD_OUT_SCORES, OBJECTIVES, REGISTRY, Goal
from colorize_core.status import RunStatus


def test_every_score_the_evaluation_computes_is_registered():
    import tensorflow as tf

    from colorize_core.evaluation.scores import batch_scores

    L = tf.zeros([1, 32, 32, 1])
    ab = tf.random.uniform([1, 32, 32, 2], -0.2, 0.2, seed=0)
    assert {f"val_{k}" for k in batch_scores(L, ab, ab)} <= set(REGISTRY)


def test_objectives_promotion_metrics_and_the_cli_derive_from_the_registry():
    from click.testing import CliRunner

    from chromasweep.cli import cli

    assert OBJECTIVES["val_psnr"].mode == "max" and OBJECTIVES["val_colorfulness_gap"].mode == "min"
    assert "val_gray_psnr" not in OBJECTIVES  # a baseline: nothing to optimise
    assert HELD_OUT_SCORES == {
        "psnr": Goal.MAXIMIZE,
        "ssim": Goal.MAXIMIZE,
        "colorfulness_gap": Goal.MINIMIZE,
        "ab_mse": Goal.MINIMIZE,
        "auc_rebalanced": Goal.MAXIMIZE,
    }
    help_text = CliRunner().invoke(cli, ["promote", "--help"]).output
    assert "[ab_mse|auc_rebalanced|colorfulness_gap|psnr|ssim]" in help_text


def test_a_spec_may_only_optimise_a_registered_objective(tmp_path):
    from sweeps.spec import SpecError, load_spec

    spec = tmp_path / "s.yaml"
    for metric, expected in [
        ("val_gray_psnr", "is reported but is not an objective"),
        ("val_psnrr", "no trial reports metric 'val_psnrr'"),
    ]:
        spec.write_text(
            f"name: s\nmethod: grid\nmetric: {{name: {metric}}}\n"
            "parameters:\n  optim.generator_lr: {values: [1.0e-4]}\n"
        )
        with pytest.raises(SpecError, match=expected):
            load_spec(spec)
    spec.write_text(
        "name: s\nmethod: grid\nmetric: {name: train_seconds}\nparameters:\n  optim.generator_lr: {values: [1.0e-4]}\n"
    )
    with pytest.raises(SpecError, match="wall seconds of the epoch's training steps"):
        load_spec(spec)


def test_statuses_rank_and_map_to_mlflow_states():
    from tracking.trial_run import mlflow_state

    assert [s for s in RunStatus if s.ranked] == [RunStatus.FINISHED, RunStatus.STOPPED_EARLY]
    assert [mlflow_state(s) for s in (RunStatus.FINISHED, RunStatus.STOPPED_EARLY, RunStatus.DIVERGED)] == [
        "FINISHED",
        "KILLED",
        "FAILED",
    ]


def test_divergence_is_recognised_by_type_through_rays_wrapping():
    from ray.exceptions import RayTaskError

    from colorize_core.status import TrainingDiverged
    from sweeps.outcome import is_diverged

    wrapped = RayTaskError("run_trial", "Traceback ...", TrainingDiverged("diverged at step 3")).as_instanceof_cause()
    assert is_diverged(wrapped)
    assert not is_diverged(RayTaskError("run_trial", "Traceback ... diverged", ValueError("diverged in text only")))
    assert not is_diverged(None)


def test_the_batch_split_is_checked_in_one_place():
    from colorize_core.config import ConfigError, check_batch_split, replicas

    assert replicas(2, 0) == 2 and replicas(2, 4) == 8
    check_batch_split(16, 8)
    with pytest.raises(ConfigError, match="data.batch_size 16 does not split evenly over 3 replicas"):
        check_batch_split(16, 3)
