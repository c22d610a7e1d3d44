import keras
import numpy as np
import pytest

from colorize_core.networks.chromagan import (
    build_critic,
    build_generator,
    build_teacher,
    load_vgg16_encoder_weights,
)


@pytest.mark.parametrize("size,width,classes", [(64, 0.25, 10), (224, 1.0, 1000)])
def test_generator_and_critic_shapes(size, width, classes):
    generator, critic = build_generator(size, width, classes), build_critic(size, width)
    L = keras.ops.zeros((2, size, size, 1))
    ab, logits = generator(L)
    assert ab.shape == (2, size, size, 2) and logits.shape == (2, classes)
    assert float(np.abs(ab).max()) <= 1.0  # tanh: within the normalised ab range
    assert critic([L, ab]).shape == (2, size // 8, size // 8, 1)
    if width == 1.0:
        # The paper's generator: VGG16 to block4_conv3 plus the global, class, fusion and decoder parts.
        assert 165e6 < generator.count_params() < 175e6


def test_pretrained_vgg16_weights_load_from_a_local_file(tmp_path):
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(64, 64, 3))
    weights_file = tmp_path / "vgg16_notop.weights.h5"
    vgg.save_weights(weights_file)
    generator = build_generator(64, 1.0, 10)
    load_vgg16_encoder_weights(generator, str(weights_file), 64)
    for name in ("block1_conv1", "block3_conv2", "block4_conv3"):
        for ours, theirs in zip(generator.get_layer(name).get_weights(), vgg.get_layer(name).get_weights()):
            np.testing.assert_array_equal(ours, theirs)

    narrow = build_generator(64, 0.25, 10)
    with pytest.raises(ValueError, match=r"vgg16_notop.weights.h5.*need model.width 1"):
        load_vgg16_encoder_weights(narrow, str(weights_file), 64)


def test_teacher_classifies_gray_inputs_of_any_size(tmp_path):
    weights_file = tmp_path / "vgg16.weights.h5"
    keras.applications.VGG16(weights=None).save_weights(weights_file)
    teacher = build_teacher(str(weights_file))
    probs = teacher(np.zeros((2, 64, 64, 1), np.float32)).numpy()
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("family", ["chromagan", "cic"])
def test_without_a_semantic_loss_there_is_no_class_head_and_every_weight_learns(family):
    """`loss.semantic: off` builds no class head (102.8 M weights of the full-size ChromaGAN), so a
    step computes a gradient for every trainable weight of the generator."""
    import tensorflow as tf

    from colorize_core.config import demo_config
    from colorize_core.networks.cic import ab_bins
    from colorize_core.networks.gan import AdversarialColorizer

    config = demo_config().with_overrides(
        {"model.generator": family, "model.image_size": 32, "loss.semantic": "off", "data.batch_size": 2}
    )
    bins = len(ab_bins(config.model.bins)) if family == "cic" else None
    gan = AdversarialColorizer(config, 10, 2, bin_weights=None if bins is None else np.ones(bins, np.float32))
    assert "class_logits" not in [layer.name for layer in gan.generator.layers]
    L, ab = tf.zeros((2, 32, 32, 1)), tf.random.uniform((2, 32, 32, 2), -0.5, 0.5, seed=0)
    with tf.GradientTape() as tape:
        fake_ab, class_logits, bin_logits = gan._generate(L)
        loss = gan.bin_cross_entropy(ab, bin_logits) if family == "cic" else gan.ab_mse(ab, fake_ab)
    assert class_logits is None
    grads = tape.gradient(loss, gan.generator.trainable_variables)
    assert [v.path for v, g in zip(gan.generator.trainable_variables, grads) if g is None] == []
