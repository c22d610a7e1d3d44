"""The CIC generator (Zhang, Isola, Efros 2016) beside ChromaGAN: its bins, encoding, decoding and
rebalancing as the paper defines them, its network as the reference's eccv16, and the whole path a
user takes with it (train, resume, export, sweep both families, predict, evaluate)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from skimage import data
from skimage.color import rgb2lab

from colorize_core.config import CicBins, ModelConfig
from colorize_core.data.lab import AB_LIMIT
from colorize_core.networks.cic import (
    BIN_GRID,
    PUBLISHED_BINS,
    ab_bins,
    annealed_mean,
    bin_counts,
    build_cic_generator,
    prior_file,
    rebalancing_weights,
    soft_encode,
)
from colorize_core.status import RunStatus
from colorize_core.training.trainer import prepare_trainer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_BINS = ModelConfig().bins


def test_the_default_bins_are_the_papers_313_and_the_gamut_option_gives_261():
    assert DEFAULT_BINS is CicBins.PUBLISHED_313
    bins = ab_bins(DEFAULT_BINS)
    assert bins.shape == (PUBLISHED_BINS, 2) == (313, 2)
    assert np.all(bins % BIN_GRID == 0) and np.all(np.abs(bins) <= AB_LIMIT)
    assert len(np.unique(bins, axis=0)) == 313
    # pts_in_hull.npy's order, by a then b: bin i of a model is the reference's bin i.
    assert np.array_equal(np.lexsort((bins[:, 1], bins[:, 0])), np.arange(313))
    assert bins[0].tolist() == [-90, 50] and bins[-1].tolist() == [100, 0]
    gamut = ab_bins(CicBins("gamut-261"))
    assert gamut.shape == (261, 2)
    # The gamut's bins are among the published ones, so every sRGB colour falls in a published bin too.
    assert {tuple(b) for b in gamut} <= {tuple(b) for b in bins}


def test_the_gamut_bins_are_the_ab_grid_cells_that_hold_an_srgb_colour():
    bins = ab_bins(CicBins.GAMUT_261)
    assert len(bins) == 261  # the paper's 313 were counted on ImageNet; see cic._gamut_bins
    assert np.all(bins % BIN_GRID == 0)
    grid = {tuple(b) for b in bins.astype(int)}
    # skimage's own Lab, on a million random 8-bit colours: every one's nearest grid point is a bin.
    colours = np.random.default_rng(0).integers(0, 256, (1_000_000, 1, 3)) / 255.0
    ab = rgb2lab(colours)[:, 0, 1:]
    hit = {tuple(p) for p in (np.round(ab / BIN_GRID) * BIN_GRID).astype(int)}
    assert hit <= grid
    # And no bin is empty of colours: each centre is within half a cell (per axis) of a colour on
    # the RGB cube's surface, some L.
    faces = np.concatenate(
        [
            np.stack(
                np.meshgrid(*[np.linspace(0, 1, 129) if i != c else [e] for i in range(3)], indexing="ij"), -1
            ).reshape(-1, 3)
            for c in range(3)
            for e in (0.0, 1.0)
        ]
    )
    surface = rgb2lab(faces[:, None])[:, 0, 1:]
    for centre in bins:
        assert np.min(np.max(np.abs(surface - centre), axis=1)) <= BIN_GRID / 2 + 0.6, centre


def test_soft_encoding_then_the_annealed_mean_recovers_a_photos_ab():
    ab = rgb2lab(data.astronaut()[::4, ::4] / 255.0)[..., 1:].astype(np.float32)
    q = soft_encode(tf.constant(ab), ab_bins(DEFAULT_BINS))
    assert np.allclose(tf.reduce_sum(q, -1), 1.0) and int(tf.reduce_max(tf.math.count_nonzero(q, -1))) == 5
    logits = tf.math.log(q + 1e-30)
    errors = {
        T: float(tf.reduce_mean(tf.norm(annealed_mean(logits, ab_bins(DEFAULT_BINS), T) - ab, axis=-1)))
        for T in (1.0, 0.38)
    }
    # Mean ab error in Lab units (measured 0.19 and 1.60): the soft encoding's mean is close; T 0.38
    # leans towards the nearest bin, the price of its vivid colours.
    assert errors[1.0] < 0.3 and errors[0.38] < 2.0, errors


def test_rebalancing_weights_average_one_and_favour_rare_colours(prepared_sample):
    counts = bin_counts(prepared_sample, DEFAULT_BINS)
    meta = json.loads(Path(prior_file(prepared_sample, DEFAULT_BINS)).read_text())
    train = json.loads((Path(prepared_sample) / "meta.json").read_text())["counts"]["train"]
    # Counted on the training split alone: one 64 x 64 crop per training image.
    assert counts.sum() == meta["images"] * 64 * 64 and meta["images"] == train
    weights, smoothed = rebalancing_weights(counts, 0.5, DEFAULT_BINS)
    assert float(np.sum(smoothed * weights)) == pytest.approx(1.0, rel=1e-5)
    order = np.argsort(smoothed)
    assert np.all(np.diff(weights[order]) <= 1e-6)  # rarer, heavier
    assert weights[order[0]] > 5 * weights[order[-1]]
    uniform, _ = rebalancing_weights(counts, 1.0, DEFAULT_BINS)
    np.testing.assert_allclose(uniform, 1.0, rtol=1e-5)
    assert np.array_equal(bin_counts(prepared_sample, DEFAULT_BINS), counts)  # read back from the cache


def test_each_bin_set_has_its_own_prior_and_a_mismatch_is_refused(prepared_sample, tmp_path):
    published = bin_counts(prepared_sample, CicBins.PUBLISHED_313)
    gamut = bin_counts(prepared_sample, CicBins.GAMUT_261)
    assert (len(published), len(gamut)) == (313, 261) and published.sum() == gamut.sum()
    assert prior_file(prepared_sample, CicBins.PUBLISHED_313) != prior_file(prepared_sample, CicBins.GAMUT_261)
    with pytest.raises(ValueError, match="261 bin counts for model.bins published-313, which has 313 bins"):
        rebalancing_weights(gamut, 0.5, CicBins.PUBLISHED_313)
    # A cached prior whose bins are not the set's is refused, never read as its counts.
    other = Path(prior_file(str(tmp_path), CicBins.PUBLISHED_313))
    other.write_text(Path(prior_file(prepared_sample, CicBins.GAMUT_261)).read_text())
    with pytest.raises(ValueError, match=r"counts are for 261 other bins, not model.bins published-313's 313"):
        bin_counts(str(tmp_path), CicBins.PUBLISHED_313)


def _eccv16_parameters(bins: int) -> int:
    """The reference eccv16's parameters (PyTorch), layer by layer: 3x3 convs with bias, BN (gamma,
    beta), the 4x4 transposed conv, the 1x1 conv to the bins, and model_out (bins -> ab, no bias)."""
    conv = lambda cin, cout, k=3: cin * cout * k * k + cout  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    total = conv(1, 64) + conv(64, 64) + bn(64)
    total += conv(64, 128) + conv(128, 128) + bn(128)
    total += conv(128, 256) + 2 * conv(256, 256) + bn(256)
    total += conv(256, 512) + 2 * conv(512, 512) + bn(512)
    total += 3 * (3 * conv(512, 512) + bn(512))  # conv5, conv6 (dilated), conv7
    total += conv(512, 256, 4) + 2 * conv(256, 256) + conv(256, bins, 1)
    return total + bins * 2


@pytest.mark.parametrize("size, width", [(64, 0.25), (224, 1.0)])
def test_the_network_is_eccv16_layer_for_layer(size, width):
    model = build_cic_generator(size, width, 0.38, None, DEFAULT_BINS)
    ab, logits = model.outputs
    assert tuple(ab.shape) == (None, size, size, 2) and tuple(logits.shape) == (None, size // 4, size // 4, 313)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    if width == 1.0:
        # Ours decodes with fixed bin centres where the reference holds them in model_out's weights.
        assert trainable == _eccv16_parameters(313) - 313 * 2
    else:
        assert trainable < _eccv16_parameters(313) / 10
    assert model.get_layer("conv5_1").dilation_rate == (2, 2) and model.get_layer("conv3_3").strides == (2, 2)
    with_head = build_cic_generator(size, width, 0.38, 7, DEFAULT_BINS)
    assert tuple(with_head.outputs[2].shape) == (None, 7)
    gamut = build_cic_generator(size, width, 0.38, None, CicBins.GAMUT_261)
    assert gamut.outputs[1].shape[-1] == 261 and len(gamut.get_layer("annealed_mean").centres) == 261


@pytest.mark.e2e
def test_a_short_cic_run_lowers_the_rebalanced_cross_entropy_and_resumes_exactly(tiny_config, tmp_path):
    config = tiny_config.with_overrides(
        {
            "model.generator": "cic",
            "loss.semantic": "off",
            "epochs": 3,
            "steps_per_epoch": 12,
            "checkpoint_every_steps": 6,
        }
    )
    straight = prepare_trainer(config, progress=False)
    result = straight.fit()
    assert result.status is RunStatus.FINISHED
    ce = [h["train_cross_entropy"] for h in result.history]
    assert ce[-1] < ce[0] - 0.3, ce
    assert all(h["train_critic_loss"] == 0.0 for h in result.history)  # no critic at weight 0, as the paper

    first = prepare_trainer(config.with_overrides({"epochs": 1}), progress=False)
    first.fit(lambda report: first.save_checkpoint(tmp_path / "ckpt"))
    resumed = prepare_trainer(config, progress=False)
    assert resumed.restore_checkpoint(tmp_path / "ckpt") == 12
    resumed.fit()
    for a, b in zip(resumed.gan.generator.weights, straight.gan.generator.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)

    from colorize_core.inference import Colorizer

    exported = resumed.export(tmp_path / "model")
    gray = np.asarray(data.coffee().mean(-1), np.uint8)
    colorized = Colorizer.load(exported).colorize(gray)
    assert colorized.shape == (*gray.shape, 3) and np.ptp(colorized.astype(int)[..., 0] - colorized[..., 2]) > 0


def test_cic_with_a_critic_trains_both(tiny_config):
    config = tiny_config.with_overrides({"model.generator": "cic", "loss.cic_adversarial_weight": 0.05, "epochs": 1})
    trainer = prepare_trainer(config, progress=False)
    critic_before = [w.numpy() for w in trainer.gan.critic.weights]
    result = trainer.fit()
    assert result.status is RunStatus.FINISHED and result.history[-1]["train_critic_loss"] != 0.0
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(critic_before, trainer.gan.critic.weights))


def test_encoder_weights_are_refused_for_cic(tiny_config):
    from colorize_core.config import ConfigError

    with pytest.raises((ConfigError, ValueError), match="cic has no VGG16 encoder"):
        tiny_config.with_overrides({"model.generator": "cic", "model.encoder_weights": "hed-bsds500"})


# -- both families in one sweep, as a user runs sweeps/specs/families.yaml -----------------------


def chromasweep(*args, uri, cwd, ray=None):
    """A command tracked in ``uri``; a sweep on the session's shared Ray cluster if ``ray``."""
    return subprocess.run(
        [sys.executable, "-m", "chromasweep.cli", *map(str, args), "--tracking-uri", uri, *(ray.args() if ray else [])],
        capture_output=True,
        text=True,
        timeout=1500,
        cwd=cwd,
        env=ray.env() if ray else None,
    )


@pytest.mark.e2e
def test_the_families_sweep_compares_both_generators_and_each_model_predicts(prepared_sample, tmp_path, shared_ray):
    from mlflow import MlflowClient
    from PIL import Image

    shipped = (ROOT / "sweeps" / "specs" / "families.yaml").read_text()
    spec = tmp_path / "families.yaml"
    spec.write_text(
        shipped.replace("../../colorize_core/configs/demo.yaml", str(ROOT / "colorize_core/configs/demo.yaml"))
        .replace(
            "steps_per_epoch: {value: 20}",
            f"steps_per_epoch: {{value: 4}}\n  data.source: {{value: {prepared_sample}}}",
        )
        .replace('loss.semantic: {values: [labels, "off"]}', 'loss.semantic: {value: "off"}')  # 2 trials, not 4
    )
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = chromasweep("sweep", spec, "--storage", tmp_path / "storage", uri=uri, cwd=tmp_path, ray=shared_ray)
    assert proc.returncode == 0, proc.stderr[-3000:]

    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("families")
    children = [r for r in client.search_runs([experiment.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    table = {(r.data.params["model.generator"], r.data.params["loss.semantic"]): r for r in children}
    assert set(table) == {("chromagan", "off"), ("cic", "off")}
    for run in children:  # the same metrics for both families, side by side
        assert {"val_psnr", "val_colorfulness_gap", "images_per_second", "val_auc_rebalanced"} <= set(run.data.metrics)
    assert "train_cross_entropy" in table["cic", "off"].data.metrics
    assert "train_cross_entropy" not in table["chromagan", "off"].data.metrics

    # A CIC model from MLflow and from its trial's folder colorizes and is evaluated like any other.
    cic = table["cic", "off"]
    Image.fromarray(data.astronaut()).convert("L").save(tmp_path / "gray.png")
    for model in (
        cic.data.tags["chromasweep.model_uri"],
        tmp_path / "storage" / "families" / "trials" / cic.info.run_name / "model",
    ):
        out = tmp_path / "out" / re.sub(r"\W", "_", str(model))[-12:]
        predicted = chromasweep("predict", "--model", model, tmp_path / "gray.png", "--out", out, uri=uri, cwd=tmp_path)
        assert predicted.returncode == 0, predicted.stderr[-3000:]
        with Image.open(out / "gray.png") as colorized:
            assert colorized.size == (512, 512) and colorized.mode == "RGB"
    (tmp_path / "photos").mkdir()
    Image.fromarray(data.coffee()).save(tmp_path / "photos" / "coffee.png")
    scored = chromasweep(
        "evaluate",
        "--model",
        cic.data.tags["chromasweep.model_uri"],
        "--data",
        tmp_path / "photos",
        uri=uri,
        cwd=tmp_path,
    )
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert "eval_224_psnr" in client.get_run(cic.info.run_id).data.metrics
