"""The tf.data input pipeline: prepared TFRecord shards to batches of normalised (L, ab, label).

Training: random-resized crop and horizontal flip; evaluation: shorter side to the crop size and
a centre crop. All randomness is stateless and keyed by (seed, epoch, example index), so an epoch
is the same sequence of batches every time it is run, which is what an exact resume needs.

Each crop is computed from the image's shape alone; only the part of the image it reads is
decoded and resized, giving the crop the whole decoded and resized image would have given. Crops
are batched as RGB and converted to Lab a batch at a time.
"""

from __future__ import annotations

from typing import NamedTuple

import tensorflow as tf

from colorize_core.data.lab import normalize_lab, rgb_to_lab

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
}
AUTOTUNE = tf.data.AUTOTUNE


def shard_files(prepared: str, split: str) -> list[str]:
    return sorted(tf.io.gfile.glob(f"{prepared}/{split}-*.tfrecord"))


def parse(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """A record's encoded image bytes and label."""
    parsed = tf.io.parse_single_example(serialized, FEATURES)
    return parsed["image/encoded"], tf.cast(parsed["image/label"], tf.int32)


class CropBox(NamedTuple):
    """A crop of the image resized to ``resized_hw``: ``size`` x ``size`` pixels from ``offset``."""

    resized_hw: tf.Tensor  # int32 [2]
    offset: tf.Tensor  # int32 [2], in the resized image's pixels


def _resized_hw(hw: tf.Tensor, short_side: tf.Tensor) -> tf.Tensor:
    """The shape an image of shape ``hw`` gets when its shorter side is resized to ``short_side``.

    In integers: the float32 ``ceil(hw * (short_side / short))`` made the short side one pixel too
    big for some sizes (150 * (80 / 150) = 80.0000038), and eager and graph runs disagreed on which.
    """
    hw = tf.cast(hw, tf.int32)
    short = tf.reduce_min(hw)
    return (hw * tf.cast(short_side, tf.int32) + short - 1) // short


def train_box(hw: tf.Tensor, size: int, scale_seed: tf.Tensor, offset_seed: tf.Tensor) -> CropBox:
    """Shorter side resized to a random 1.0-1.3x of ``size``; a uniformly placed crop of that."""
    scale = tf.random.stateless_uniform([], scale_seed, 1.0, 1.3)
    resized_hw = _resized_hw(hw, tf.cast(tf.math.ceil(size * scale), tf.int32))
    # tf.image.stateless_random_crop's own draw on the resized [h, w, 3] image, so the windows are
    # exactly the ones the earlier whole-image pipeline cropped for the same seed.
    limit = tf.concat([resized_hw - size + 1, [1]], 0)
    offset = tf.random.stateless_uniform([3], offset_seed, maxval=tf.int32.max, dtype=tf.int32) % limit
    return CropBox(resized_hw, offset[:2])


def eval_box(hw: tf.Tensor, size: int) -> CropBox:
    """Shorter side resized to ``size`` and the centre crop (tf.image.resize_with_crop_or_pad's)."""
    resized_hw = _resized_hw(hw, size)
    return CropBox(resized_hw, (resized_hw - size) // 2)


def _scale(hw: tf.Tensor, box: CropBox) -> tf.Tensor:
    return tf.cast(box.resized_hw, tf.float32) / tf.cast(hw, tf.float32)


def source_window(hw: tf.Tensor, box: CropBox, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(start, extent), int32 [2] each: the original pixels the antialiased resize reads for ``box``.

    A resized pixel's triangle filter reaches max(1, 1/scale) original pixels either side of its
    centre; one more pixel of margin keeps float rounding at the edges from changing its weights.
    """
    scale = _scale(hw, box)
    reach = tf.maximum(1.0, 1.0 / scale) + 1.0
    first = (tf.cast(box.offset, tf.float32) + 0.5) / scale - 0.5
    last = (tf.cast(box.offset + size, tf.float32) - 0.5) / scale - 0.5
    start = tf.maximum(tf.cast(tf.math.floor(first - reach), tf.int32), 0)
    end = tf.minimum(tf.cast(tf.math.ceil(last + reach), tf.int32) + 1, tf.cast(hw, tf.int32))
    return start, end - start


class Window(NamedTuple):
    """The decoded part of an image a crop reads, and where the crop lies in it."""

    pixels: tf.Tensor  # uint8 [h, w, 3]
    scale: tf.Tensor  # float32 [2]: resized size / original size
    translation: tf.Tensor  # float32 [2]: ScaleAndTranslate's, putting the crop at (0, 0)


def _window(hw: tf.Tensor, box: CropBox, size: int, decode_rect) -> Window:
    start, extent = source_window(hw, box, size)
    scale = _scale(hw, box)
    translation = tf.cast(start, tf.float32) * scale - tf.cast(box.offset, tf.float32)
    return Window(decode_rect(start, extent), scale, translation)


def decode_window(encoded: tf.Tensor, size: int, box_fn) -> Window:
    """Decode only the pixels that crop ``box_fn(hw)`` of an encoded image needs.

    JPEGs decode just that window (``decode_and_crop_jpeg``); other formats (``prepare`` stores
    PNG, GIF and BMP as they are and converts the rest to PNG) decode whole and are sliced.
    """

    def jpeg():
        def decode_rect(start, extent):
            return tf.image.decode_and_crop_jpeg(encoded, tf.concat([start, extent], 0), channels=3)

        hw = tf.image.extract_jpeg_shape(encoded)[:2]
        return _window(hw, box_fn(hw), size, decode_rect)

    def other():
        image = tf.io.decode_image(encoded, channels=3, expand_animations=False)

        def slice_rect(start, extent):
            return tf.slice(image, tf.concat([start, [0]], 0), tf.concat([extent, [3]], 0))

        hw = tf.shape(image)[:2]
        return _window(hw, box_fn(hw), size, slice_rect)

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, other)


def resize_window(window: Window, size: int) -> tf.Tensor:
    """The ``size`` x ``size`` float32 RGB crop, in [0, 1], that ``window`` was decoded for.

    The op and filter of ``tf.image.resize(antialias=True)``, shifted so that the result is the
    crop of the whole resized image: as if the whole image had been decoded and resized.
    """
    resized = tf.raw_ops.ScaleAndTranslate(
        images=window.pixels[None],
        size=[size, size],
        scale=window.scale,
        translation=window.translation,
        kernel_type="triangle",  # tf.image.resize's bilinear
        antialias=True,
    )[0]
    return tf.ensure_shape(resized / 255.0, [size, size, 3])


def train_crop(encoded: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Random resized crop (shorter side 1.0-1.3x of ``size``) and maybe a horizontal flip."""
    scale_seed, offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    window = decode_window(encoded, size, lambda hw: train_box(hw, size, scale_seed, offset_seed))
    return tf.image.stateless_random_flip_left_right(resize_window(window, size), flip_seed)


def eval_crop(encoded: tf.Tensor, size: int) -> tf.Tensor:
    return resize_window(decode_window(encoded, size, lambda hw: eval_box(hw, size)), size)


def to_model_inputs(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """RGB in [0, 1] (any leading shape) to the model's normalised (L, ab)."""
    return normalize_lab(rgb_to_lab(tf.clip_by_value(rgb, 0.0, 1.0)))


# XLA fuses the conversion's ~20 element-wise ops into a few passes over the batch: a third to a
# half of the time of running them one by one (each a full pass over memory) on CPU.
_batch_lab = tf.function(to_model_inputs, jit_compile=True)


def batch_to_model_inputs(batch: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """A batch with "rgb" crops to one with "L" and "ab" in their place."""
    out = {k: v for k, v in batch.items() if k != "rgb"}
    out["L"], out["ab"] = _batch_lab(batch["rgb"])
    return out


def make_dataset(
    prepared: str,
    split: str,
    image_size: int,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    epoch: int = 0,
    shuffle_buffer: int = 1024,
    num_shards: int = 1,
    shard_index: int = 0,
    take: int | None = None,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches of {"L", "ab", "label", "gp_alpha"} from ``prepared``'s ``split``.

    ``num_shards``/``shard_index`` give each distributed worker its own share and ``batch_size``
    is then that worker's local batch. With at least one shard file per worker, workers read
    disjoint files (what scales to ImageNet); with fewer files, every worker reads the shuffled
    stream and keeps every n-th example, so the global batch is exactly the one a single worker
    would have used. Training batches are whole (remainder dropped), so every step has the shape
    the compiled step was traced for; ``repeat`` makes an endless stream for step-count epochs.
    Per-example randomness (crop, flip, the gradient penalty's mixing weight) is keyed by the
    example's place in the epoch's stream, so it does not depend on how the batch is split.
    """
    files = shard_files(prepared, split)
    if not files:
        raise FileNotFoundError(f"{prepared}: no {split}-*.tfrecord shards")
    by_file = num_shards > 1 and len(files) >= num_shards
    if by_file:
        files = files[shard_index::num_shards]
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=min(len(files), 8))
    if take is not None:
        ds = ds.take(take)
    if training:
        if repeat:
            ds = ds.repeat()
        ds = ds.shuffle(shuffle_buffer, seed=seed * 100_003 + epoch, reshuffle_each_iteration=False)
        ds = ds.enumerate()
        if num_shards > 1 and not by_file:
            ds = ds.shard(num_shards, shard_index)
        base = tf.constant([seed, epoch * 10_007 + (shard_index if by_file else 0)], tf.int64)

        def augment(index, serialized):
            encoded, label = parse(serialized)
            crop_seed, alpha_seed = tf.unstack(tf.random.experimental.stateless_split(base + [0, index * 1_000_003], 2))
            return {
                "rgb": train_crop(encoded, image_size, crop_seed),
                "label": label,
                "gp_alpha": tf.random.stateless_uniform([], alpha_seed),
            }

        ds = ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=True)
    else:
        if num_shards > 1 and not by_file:
            ds = ds.shard(num_shards, shard_index)

        def centre(serialized):
            encoded, label = parse(serialized)
            return {"rgb": eval_crop(encoded, image_size), "label": label}

        ds = ds.map(centre, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size)
    # Lab on whole batches: a few large element-wise ops instead of one small set per image.
    ds = ds.map(batch_to_model_inputs, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)
