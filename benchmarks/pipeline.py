"""Benchmark 2: the input pipeline, JPEG to normalised Lab batches.

A few hundred JPEGs of realistic size (500x375 and 375x500 crops of the bundled sample photos,
quality 90) are written to a temporary folder and prepared with ``colorize_core.data.shards.prepare``
(one TFRecord shard, as ``chromasweep data prepare`` writes). Then, each pass over all of them:

- ours: ``colorize_core.data.pipeline.make_dataset`` for training (decode only the random resized
  crop's window, resize it, flip, gradient-penalty weights, batch, then sRGB to Lab in TF ops and
  normalise on the whole batch, prefetch) at 224 px;
- decode-only: the same TFRecords parsed and ``tf.io.decode_jpeg`` alone, with the same parallel
  reads and ``map(num_parallel_calls=AUTOTUNE)``: the practical ceiling;
- reference: ChromaGAN's ``dataClass.py`` loop, one image at a time in Python: ``cv2.imread``,
  ``cv2.resize`` to 224x224, ``cv2.cvtColor(BGR2Lab)``, split, stack, divide by 255 (PIL and
  skimage's rgb2lab stand in when OpenCV, the ``bench`` extra, is not installed).

Repeats are interleaved, so every ratio compares neighbouring passes. Where ours falls short of
decode-only, stage variants (decode the crop window only; plus its resize and flip; plus Lab) show
where it goes.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import FULL, QUICK, SMOKE, Section, Stat, goal, paired_ratio

IMAGE_SIZE, BATCH = 224, 16
# preset: (JPEGs written, timed passes over all of them)
PASSES = {FULL: (320, 10), QUICK: (160, 4), SMOKE: (BATCH, 2)}


def write_jpegs(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """``count`` 500x375 (or 375x500) JPEGs cut from the sample photos."""
    from PIL import Image

    from colorize_core.data.bundled_sample import CLASSES

    rng = random.Random(seed)
    photos = [Image.open(p).convert("RGB") for _, _, paths in CLASSES for p in paths]
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(count):
        img = photos[i % len(photos)]
        w, h = img.size
        portrait = rng.random() < 0.25
        target = (375, 500) if portrait else (500, 375)
        scale = rng.uniform(0.6, 1.0)
        cw = min(w, round(min(w, h * target[0] / target[1]) * scale))
        ch = min(h, round(cw * target[1] / target[0]))
        x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
        crop = img.crop((x, y, x + cw, y + ch)).resize(target, Image.BICUBIC)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.FLIP_LEFT_RIGHT)
        path = folder / f"img_{i:05d}.jpg"
        crop.save(path, quality=90)
        out.append(path)
    return out


def ours_dataset(prepared: str, stage: str = "full"):
    import tensorflow as tf

    from colorize_core.data import pipeline

    if stage == "full":
        return pipeline.make_dataset(prepared, "train", IMAGE_SIZE, BATCH, training=True, shuffle_buffer=1024)
    # Stage variants for the profile: the same reader and parallelism, later stages left out.
    files = pipeline.shard_files(prepared, "train")
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8))
    seed = tf.constant([0, 0], tf.int64)
    scale_seed, offset_seed, _ = tf.unstack(tf.random.experimental.stateless_split(seed, 3))

    def fn(s):
        encoded, _ = pipeline.parse(s)
        if stage == "decode+crop":
            return pipeline.train_crop(encoded, IMAGE_SIZE, seed)[:1, :1, 0]
        window = pipeline.decode_window(
            encoded, IMAGE_SIZE, lambda hw: pipeline.train_box(hw, IMAGE_SIZE, scale_seed, offset_seed)
        )
        return window.pixels[:1, :1, 0]

    return ds.map(fn, num_parallel_calls=pipeline.AUTOTUNE, deterministic=True).batch(BATCH).prefetch(pipeline.AUTOTUNE)


def decode_only_dataset(prepared: str):
    import tensorflow as tf

    from colorize_core.data import pipeline

    files = pipeline.shard_files(prepared, "train")
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8))

    def fn(s):
        parsed = tf.io.parse_single_example(s, {"image/encoded": tf.io.FixedLenFeature([], tf.string)})
        image = tf.io.decode_jpeg(parsed["image/encoded"], channels=3)
        return image[:1, :1, 0]  # a pixel, so that nothing prunes the decode

    return ds.map(fn, num_parallel_calls=pipeline.AUTOTUNE, deterministic=True).batch(BATCH).prefetch(pipeline.AUTOTUNE)


def count_images(ds) -> int:
    n = 0
    for b in ds:
        first = b["L"] if isinstance(b, dict) else b
        n += int(first.shape[0])
    return n


def reference_loop(files: list[Path]) -> int:
    """ChromaGAN's DATA.generate_batch / read_img over ``files``, batch by batch."""
    try:
        import cv2
    except ImportError:
        cv2 = None
    n = 0
    for start in range(0, len(files) - BATCH + 1, BATCH):
        batch, labels = [], []
        for f in files[start : start + BATCH]:
            if cv2 is not None:
                img = cv2.imread(str(f), 3)
                labimg = cv2.cvtColor(cv2.resize(img, (IMAGE_SIZE, IMAGE_SIZE)), cv2.COLOR_BGR2Lab)
            else:  # pragma: no cover - the stand-in without OpenCV
                from PIL import Image
                from skimage.color import rgb2lab

                img = Image.open(f).convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
                labimg = rgb2lab(np.asarray(img))
            batch.append(np.reshape(labimg[:, :, 0], (IMAGE_SIZE, IMAGE_SIZE, 1)))
            labels.append(labimg[:, :, 1:])
        batch_arr = np.asarray(batch) / 255  # values between 0 and 1
        labels_arr = np.asarray(labels) / 255
        n += batch_arr.shape[0] + 0 * labels_arr.shape[0]
    return n


def run(preset: str = FULL) -> Section:
    from colorize_core.data.shards import prepare

    count, repeats = PASSES[preset]
    section = Section(
        "pipeline",
        "2. Input pipeline: JPEG files to normalised Lab batches",
        f"{count} JPEGs (500x375 / 375x500, q90) from the sample photos, prepared as one TFRecord shard; "
        f"training batches of {BATCH} at {IMAGE_SIZE} px; one pass = every image once; "
        "paired repeats interleaved, order reversed every repeat; "
        f"tf.data on all {__import__('os').cpu_count()} cores (AUTOTUNE), the reference loop in one Python thread.",
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        files = write_jpegs(Path(tmp) / "jpegs", count)
        prepared = str(Path(tmp) / "prepared")
        prepare(Path(tmp) / "jpegs", prepared, val_fraction=0.0, progress=False)
        sides = {
            "ours (make_dataset, training)": lambda: count_images(ours_dataset(prepared)),
            "decode-only (tf.io.decode_jpeg)": lambda: count_images(decode_only_dataset(prepared)),
            "reference (per-image cv2 loop)": lambda: reference_loop(files),
            "profile: decode crop window only": lambda: count_images(ours_dataset(prepared, "window")),
            "profile: window + resize/flip": lambda: count_images(ours_dataset(prepared, "decode+crop")),
        }
        for fn in sides.values():  # warm-up: graph building, page cache
            fn()
        ips = {k: [] for k in sides}
        order = list(sides)
        for r in range(repeats):
            for label in order if r % 2 == 0 else order[::-1]:
                fn = sides[label]
                t = time.perf_counter()
                n = fn()
                ips[label].append(n / (time.perf_counter() - t))
    for label, s in ips.items():
        section.add(label, s, "img/s")
    ours, dec, ref = (ips[k] for k in list(sides)[:3])
    r = section.add("ours / decode-only", paired_ratio(ours, dec), "x", "goal >= 0.5", 2)
    section.add("ours / reference loop", paired_ratio(ours, ref), "x", "", 2)
    # Per-image cost of each stage, from the medians (ms of pipeline time per image).
    per = {k: 1000.0 / Stat(v).median for k, v in ips.items()}
    d_window = per["profile: decode crop window only"] - per["decode-only (tf.io.decode_jpeg)"]
    d_crop = per["profile: window + resize/flip"] - per["profile: decode crop window only"]
    d_lab = per["ours (make_dataset, training)"] - per["profile: window + resize/flip"]
    section.notes.append(
        f"Where ours spends its time per image (pipeline ms/img from the medians, all cores): decode_jpeg "
        f"of the whole image {per['decode-only (tf.io.decode_jpeg)']:.2f}; decoding only the crop's window "
        f"instead (extract_jpeg_shape, decode_and_crop_jpeg) {d_window:+.2f}; antialiased resize of the "
        f"window and flip {d_crop:+.2f}; Lab and normalise on whole batches, alpha and batching "
        f"{d_lab:+.2f}; total {per['ours (make_dataset, training)']:.2f}."
    )
    section.goals.append(goal("ours >= 0.5 of decode-only", r, 0.5))
    section.seconds = time.perf_counter() - started
    return section
