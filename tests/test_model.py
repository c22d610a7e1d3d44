import keras
import numpy as np
import pytest

from colorize_core.model import (
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
