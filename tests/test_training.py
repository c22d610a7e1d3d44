"""Training on the real sample photos: it learns, resumes exactly, and stops cleanly when it diverges."""

import shutil

import numpy as np
import pytest

from colorize_core.config import ConfigError, load_config
from colorize_core.data.pipeline import make_dataset
from colorize_core.evaluation.scores import evaluate
from colorize_core.metric_registry import unknown
from colorize_core.model_files import MODEL_DIR, MODEL_FILE
from colorize_core.status import RunStatus
from colorize_core.training.trainer import prepare_trainer
from runner.in_process import train_in_process

pytestmark = pytest.mark.e2e  # starts Ray, a server or a real training run: `make test`, not `make test-fast`


def _weights(trainer):
    return [w.numpy() for w in trainer.gan.generator.weights + trainer.gan.critic.weights]


def test_a_short_run_learns_colour_beyond_the_gray_baseline(tiny_config):
    config = tiny_config.with_overrides({"epochs": 4, "steps_per_epoch": 80})
    trainer = prepare_trainer(config, progress=False)
    result = trainer.fit()
    assert result.status is RunStatus.FINISHED and result.step == 320
    first, last = result.history[0], result.history[-1]
    assert last["train_ab_mse"] < first["train_ab_mse"]
    for key in ("val_psnr", "val_ssim", "val_colorfulness_gap", "images_per_second"):
        assert np.isfinite(last[key])
    assert unknown(last) == []  # every metric the trainer reports is in the registry

    train_crops = make_dataset(trainer.prepared, "train", config.model.image_size, 32, training=False)
    scores = evaluate(trainer.gan.generator, train_crops)
    assert scores["psnr"] >= scores["gray_psnr"] + 1.0, scores


def test_resume_restores_step_and_weights_and_continues_the_same_run(tiny_config, tmp_path):
    config = tiny_config.with_overrides({"epochs": 2, "steps_per_epoch": 3, "checkpoint_every_steps": 2})

    straight = prepare_trainer(config, progress=False)
    straight.fit()

    interrupted = prepare_trainer(config.with_overrides({"epochs": 1}), progress=False)
    saved = []
    interrupted.fit(lambda report: saved.append(report.step) or interrupted.save_checkpoint(tmp_path / "ckpt"))
    assert saved == [2, 3]  # every 2 steps and at the epoch end

    resumed = prepare_trainer(config, progress=False)
    assert resumed.restore_checkpoint(tmp_path / "ckpt") == 3
    for a, b in zip(_weights(resumed), _weights(interrupted)):
        np.testing.assert_array_equal(a, b)
    resumed.fit()
    assert int(resumed.step.numpy()) == 6
    for a, b in zip(_weights(resumed), _weights(straight)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_in_process_training_writes_the_run_layout_and_resumes(tiny_config, capsys):
    from pathlib import Path

    storage = tiny_config.out_dir
    result = train_in_process(tiny_config, storage, progress=False)
    run_dir = tiny_config.run_dir
    assert result.status is RunStatus.FINISHED and Path(result.model_path) == run_dir / MODEL_DIR
    assert (run_dir / MODEL_DIR / MODEL_FILE).is_file()
    assert (run_dir / "checkpoint_step_00000004" / ".complete").is_file()
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 1
    # Killed between keeping the last checkpoint and publishing its model: a re-run publishes it.
    shutil.rmtree(run_dir / MODEL_DIR)
    again = train_in_process(tiny_config, storage, progress=False)
    assert again.metrics["step"] == 4 and (run_dir / MODEL_DIR / MODEL_FILE).is_file()
    longer = tiny_config.with_overrides({"epochs": 2})
    result = train_in_process(longer, storage, progress=False)
    assert "resumed from checkpoint" in capsys.readouterr().out
    assert result.metrics["step"] == 8 and result.metrics["resumed_from_step"] == 4
    assert [m["epoch"] for m in result.history] == [1, 2]  # the history carries over the resume


def test_a_diverging_run_stops_with_a_diverged_status(tiny_config):
    config = tiny_config.with_overrides({"optim.generator_lr": 1e8, "optim.critic_lr": 1e8, "steps_per_epoch": 30})
    result = prepare_trainer(config, progress=False).fit()
    assert result.status is RunStatus.DIVERGED
    assert "non-finite" in result.message and result.step <= 30


def test_semantic_teacher_mode_runs_on_a_local_classifier_file(tiny_config, tmp_path):
    import keras

    weights_file = tmp_path / "vgg16.weights.h5"
    keras.applications.VGG16(weights=None).save_weights(weights_file)
    config = tiny_config.with_overrides(
        {"loss.semantic": "teacher", "loss.teacher_weights": str(weights_file), "steps_per_epoch": 2}
    )
    trainer = prepare_trainer(config, progress=False)
    assert trainer.num_classes == 1000
    result = trainer.fit()
    assert result.status is RunStatus.FINISHED and result.history[0]["train_semantic"] > 0


def test_bad_configs_are_refused_with_the_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("loss:\n  adversarial_wieght: 0.2\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: loss.adversarial_wieght: unknown key \(got 0.2\)"):
        load_config(bad)
    bad.write_text("model:\n  image_size: 100\n")
    with pytest.raises(ConfigError, match="multiple of 32"):
        load_config(bad)
    bad.write_text("loss:\n  semantic: teacher\n")
    with pytest.raises(ConfigError, match="teacher_weights is not set"):
        load_config(bad)
    with pytest.raises(ConfigError, match="unknown config path 'optim.lr'"):
        load_config(None, {"optim.lr": 1.0})


def test_mixed_precision_switch_trains_on_this_device(tiny_config):
    import keras

    trainer = prepare_trainer(
        tiny_config.with_overrides({"mixed_precision": True, "steps_per_epoch": 2}), progress=False
    )
    # float16 where a GPU is present, bfloat16 on CPUs (no loss scaling needed there).
    assert keras.mixed_precision.dtype_policy().name in ("mixed_float16", "mixed_bfloat16")
    result = trainer.fit()
    assert result.status is RunStatus.FINISHED and np.isfinite(result.history[0]["val_psnr"])
    prepare_trainer(tiny_config, progress=False)  # a plain config puts float32 back
    assert keras.mixed_precision.dtype_policy().name == "float32"
