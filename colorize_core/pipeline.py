"""The tf.data input pipeline: prepared TFRecord shards to batches of normalised (L, ab, label).

Training: random-resized crop and horizontal flip; evaluation: shorter side to the crop size and
a centre crop. All randomness is stateless and keyed by (seed, epoch, example index), so an epoch
is the same sequence of batches every time it is run, which is what an exact resume needs.
"""

from __future__ import annotations

import tensorflow as tf

from colorize_core.lab import normalize_lab, rgb_to_lab

_FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "image/filename": tf.io.FixedLenFeature([], tf.string, default_value=""),
}
AUTOTUNE = tf.data.AUTOTUNE


def shard_files(prepared: str, split: str) -> list[str]:
    return sorted(tf.io.gfile.glob(f"{prepared}/{split}-*.tfrecord"))


def decode(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    parsed = tf.io.parse_single_example(serialized, _FEATURES)
    image = tf.io.decode_image(parsed["image/encoded"], channels=3, dtype=tf.float32, expand_animations=False)
    return image, tf.cast(parsed["image/label"], tf.int32)


def _resize_shorter_side(image: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    hw = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = tf.cast(size, tf.float32) / tf.reduce_min(hw)
    new_hw = tf.cast(tf.math.ceil(hw * scale), tf.int32)
    return tf.image.resize(image, new_hw, antialias=True)


def train_crop(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Resize the shorter side to a random 1.0-1.3x of ``size``, take a random crop, maybe flip."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    scale = tf.random.stateless_uniform([], seeds[0], 1.0, 1.3)
    image = _resize_shorter_side(image, tf.cast(tf.math.ceil(size * scale), tf.int32))
    image = tf.image.stateless_random_crop(image, [size, size, 3], seeds[1])
    image = tf.image.stateless_random_flip_left_right(image, seeds[2])
    return image


def eval_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    image = _resize_shorter_side(image, size)
    return tf.image.resize_with_crop_or_pad(image, size, size)


def to_model_inputs(rgb: tf.Tensor, label: tf.Tensor) -> dict[str, tf.Tensor]:
    L, ab = normalize_lab(rgb_to_lab(tf.clip_by_value(rgb, 0.0, 1.0)))
    return {"L": L, "ab": ab, "label": label}


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
            image, label = decode(serialized)
            crop_seed, alpha_seed = tf.unstack(
                tf.random.experimental.stateless_split(base + [0, index * 1_000_003], 2)
            )
            example = to_model_inputs(train_crop(image, image_size, crop_seed), label)
            example["gp_alpha"] = tf.random.stateless_uniform([], alpha_seed)
            return example

        ds = ds.map(augment, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=True)
    else:
        if num_shards > 1 and not by_file:
            ds = ds.shard(num_shards, shard_index)
        ds = ds.map(lambda s: decode(s), num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.map(lambda im, lb: to_model_inputs(eval_crop(im, image_size), lb), num_parallel_calls=AUTOTUNE)
        ds = ds.batch(batch_size)
    return ds.prefetch(AUTOTUNE)
