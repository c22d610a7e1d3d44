"""A long-lived process (a sweep's reused trial actor) keeps its compiled steps: a run of a shape it
ran before does not trace, and starts and trains exactly as the same run in a fresh process."""

import json
import subprocess
import sys

import numpy as np
import pytest

from colorize_core.config import demo_config
from colorize_core.training.trainer import prepare_trainer
from colorize_core.training.warm import WarmCache, architecture

TINY = {"model.image_size": 32, "model.width": 0.125, "epochs": 1, "steps_per_epoch": 3, "log_every_steps": 3}


def tiny(**overrides):
    return demo_config().with_overrides({**TINY, **overrides})


# The same run trained in a process of its own: what a trial in a new actor does.
FRESH = """
import json, sys, numpy as np
from colorize_core.config import TrainConfig
from colorize_core.training.trainer import prepare_trainer
config = TrainConfig.model_validate_json(sys.argv[1])
trainer = prepare_trainer(config, progress=False)
start = trainer.gan.generator.get_weights()
result = trainer.fit()
np.savez(sys.argv[2], *start, *trainer.gan.generator.get_weights())
print(json.dumps(result.history[-1]))
"""


def test_a_run_of_a_shape_seen_before_does_not_trace_and_trains_as_in_a_fresh_process(tmp_path):
    warm = WarmCache()
    first = prepare_trainer(tiny(seed=1), progress=False, warm=warm)
    first.fit()
    traces = first.compiled.traces()
    assert traces >= 2 and warm.misses == 1  # the step and the scorer, traced once

    # Another trial of the sweep: its own seed, learning rates and loss weights, the same shape.
    second_config = tiny(
        seed=2, **{"optim.generator_lr": 5e-4, "optim.critic_lr": 3e-4, "loss.adversarial_weight": 0.3}
    )
    second = prepare_trainer(second_config, progress=False, warm=warm)
    assert warm.hits == 1 and second.gan is first.gan  # the same variables, so the same traces
    start = second.gan.generator.get_weights()
    assert int(second.gan.g_optimizer.iterations.numpy()) == 0
    assert float(second.gan.g_optimizer.learning_rate.numpy()) == pytest.approx(5e-4)
    assert float(second.gan.loss_weights.adversarial.numpy()) == pytest.approx(0.3)
    history = second.fit().history
    assert second.compiled.traces() == traces, "the second run traced its step again"

    out = tmp_path / "fresh.npz"
    run = subprocess.run(
        [sys.executable, "-c", FRESH, second_config.model_dump_json(), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    fresh_metrics = json.loads(run.stdout.strip().splitlines()[-1])
    saved = np.load(out)
    arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    fresh_start, fresh_end = arrays[: len(start)], arrays[len(start) :]
    # Initial weights: the same seed's draws, copied exactly.
    assert all(np.array_equal(a, b) for a, b in zip(start, fresh_start))
    # After three updates: the same graph on the same batches. The bound, per weight array, is a
    # hundredth of the largest update the fresh process made to it.
    end = second.gan.generator.get_weights()
    for a, b, s in zip(end, fresh_end, fresh_start):
        moved = np.abs(b - s).max()
        assert np.abs(a - b).max() <= max(1e-2 * moved, 1e-7)
    for key in ("train_ab_mse", "train_critic_loss", "val_psnr", "val_auc_rebalanced"):
        assert history[-1][key] == pytest.approx(fresh_metrics[key], rel=1e-4, abs=1e-6), key


def test_a_run_of_another_shape_traces_its_own_step():
    warm = WarmCache(max_architectures=1)
    prepare_trainer(tiny(), progress=False, warm=warm).fit()
    other = prepare_trainer(tiny(**{"optim.critic_steps": 2}), progress=False, warm=warm)
    assert warm.misses == 2 and other.compiled.traces() == 0  # new functions, traced at their first call
    other.fit()
    assert other.compiled.traces() >= 2


def test_the_architecture_is_what_a_trace_depends_on():
    def key(**overrides):
        return architecture(tiny(**overrides), num_classes=4, global_batch=8, policy="float32")

    base = key()
    for assigned_per_run in (
        {"seed": 7, "epochs": 3, "name": "other"},
        {"optim.generator_lr": 1e-3, "optim.critic_lr": 1e-3},
        {"loss.adversarial_weight": 0.5, "loss.semantic_weight": 0.1, "loss.gradient_penalty": 5.0},
        {"model.encoder_weights": "hed-bsds500"},
    ):
        assert key(**assigned_per_run) == base, assigned_per_run
    for traced in (
        {"optim.critic_steps": 2},
        {"optim.beta1": 0.9},
        {"model.width": 0.25},
        {"model.image_size": 64},
        {"loss.semantic": "off"},
    ):
        assert key(**traced) != base, traced
    cic = {"model.generator": "cic"}
    assert key(**cic, **{"loss.cic_adversarial_weight": 0.1}) != key(**cic)  # a critic to train, or none
    assert key(**cic, **{"loss.cic_adversarial_weight": 0.1}) == key(**cic, **{"loss.cic_adversarial_weight": 0.2})
