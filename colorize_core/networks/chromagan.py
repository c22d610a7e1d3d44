"""The ChromaGAN networks (Vitoria et al., WACV 2020) and the VGG16 semantic teacher.

Generator, for an S x S input L:
    L -> VGG16 blocks 1-4 (block4_conv3, S/8, 512 ch) -+-> mid-level: 2 convs (S/8, 256 ch) ---+
                                                       +-> global: 4 convs (S/32) -> flatten    |
                                                            +-> dense 1024-512-256 -> tiled -+-> fusion (1x1, 256)
                                                            +-> dense 4096-4096-classes (class logits)
    fusion -> decoder: conv 128, up, conv 64, conv 64, up, conv 32, conv 2 (tanh), up -> ab (S x S)
Critic: a PatchGAN on (L, ab) scoring S/8 x S/8 patches, without normalisation (WGAN-GP).

``width`` scales every channel count, dense sizes included; width 1 at 224 px is the paper's model.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from colorize_core.networks.weights import local_file, vgg16_convs

# VGG16 expects BGR pixels in 0-255 minus the ImageNet channel means ("caffe" preprocessing).
_VGG_BGR_MEANS = (103.939, 116.779, 123.68)
_VGG_BLOCKS = [(64, 2), (128, 2), (256, 3), (512, 3)]


@keras.saving.register_keras_serializable(package="colorize_core")
class GrayToVGGInput(layers.Layer):
    """Normalised L in [-1, 1] to a three-channel gray image preprocessed as VGG16 expects."""

    def call(self, L):
        gray = (L + 1.0) * 127.5
        return keras.ops.concatenate([gray - m for m in _VGG_BGR_MEANS], axis=-1)


def _ch(n: int, width: float) -> int:
    return max(8, int(round(n * width)))


# The reference keeps Keras's 0.99. With two training-mode generator passes per step, that leaves
# about two thirds of the initial statistics after the demo's 20-step first epoch, where ASHA decides:
# an early evaluation would judge a model its statistics do not describe.
BN_MOMENTUM = 0.9


def _conv_bn(x, filters, strides=1, name=None):
    # The reference's order: convolution with ReLU, then batch normalisation.
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu", name=name)(x)
    # Synchronised so that several workers normalise with the statistics of the global batch.
    return layers.BatchNormalization(momentum=BN_MOMENTUM, synchronized=True, name=name and f"{name}_bn")(x)


def build_generator(image_size: int, width: float, num_classes: int | None) -> keras.Model:
    """Outputs [ab (S x S, normalised)] and, with ``num_classes``, the class logits: without a semantic
    loss the class head (102.8 M of the full-size model's weights) would get no gradient."""
    S = image_size
    L = keras.Input((S, S, 1), name="L")
    x = GrayToVGGInput(name="vgg_input")(L)
    for block, (filters, convs) in enumerate(_VGG_BLOCKS, 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(_ch(filters, width), 3, padding="same", activation="relu", name=f"block{block}_conv{i}")(
                x
            )
        if block < 4:
            x = layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    encoded = x  # S/8

    g = encoded
    for i, stride in enumerate((2, 1, 2, 1), 1):
        g = _conv_bn(g, _ch(512, width), stride, name=f"global_conv{i}")
    g = layers.Flatten()(g)
    fusion_vec = g
    # Linear dense layers, as the reference's.
    for units in (1024, 512, 256):
        fusion_vec = layers.Dense(_ch(units, width))(fusion_vec)
    outputs = []
    if num_classes:
        c = g
        for units in (4096, 4096):
            c = layers.Dense(_ch(units, width))(c)
        outputs.append(layers.Dense(num_classes, dtype="float32", name="class_logits")(c))

    m = _conv_bn(encoded, _ch(512, width), name="mid_conv1")
    m = _conv_bn(m, _ch(256, width), name="mid_conv2")

    cells = (S // 8) ** 2
    tiled = layers.Reshape((S // 8, S // 8, _ch(256, width)))(layers.RepeatVector(cells)(fusion_vec))
    f = layers.Concatenate()([m, tiled])
    f = layers.Conv2D(_ch(256, width), 1, activation="relu", name="fusion")(f)

    d = layers.Conv2D(_ch(128, width), 3, padding="same", activation="relu")(f)
    d = layers.UpSampling2D(2)(d)
    d = layers.Conv2D(_ch(64, width), 3, padding="same", activation="relu")(d)
    d = layers.Conv2D(_ch(64, width), 3, padding="same", activation="relu")(d)
    d = layers.UpSampling2D(2)(d)
    d = layers.Conv2D(_ch(32, width), 3, padding="same", activation="relu")(d)
    d = layers.Conv2D(2, 3, padding="same", activation="tanh", dtype="float32")(d)
    ab = layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name="ab")(d)
    return keras.Model(L, [ab, *outputs], name="chromagan_generator")


def build_critic(image_size: int, width: float) -> keras.Model:
    L = keras.Input((image_size, image_size, 1), name="L")
    ab = keras.Input((image_size, image_size, 2), name="ab")
    x = layers.Concatenate()([L, ab])
    for filters, stride in ((64, 2), (128, 2), (256, 2), (512, 1)):
        x = layers.Conv2D(_ch(filters, width), 4, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(0.3)(x)  # Keras 2's default slope, which the reference's critic uses
    score = layers.Conv2D(1, 4, padding="same", dtype="float32", name="patch_scores")(x)
    return keras.Model([L, ab], score, name="patchgan_critic")


def load_vgg16_encoder_weights(generator: keras.Model, source: str, image_size: int) -> None:
    """Copy pretrained VGG16 weights (``source``: ``colorize_core.networks.weights``) into the encoder's 10 convs."""
    weights_file = local_file(source, "model.encoder_weights", top=False)
    names = [f"block{block}_conv{i}" for block, (_, convs) in enumerate(_VGG_BLOCKS, 1) for i in range(1, convs + 1)]
    for name, theirs in vgg16_convs(weights_file, names, image_size).items():
        ours = generator.get_layer(name)
        if [w.shape for w in ours.weights] != [w.shape for w in theirs]:
            raise ValueError(
                f"model.encoder_weights: {source}: VGG16 layer {name} has shapes {[w.shape for w in theirs]}, "
                f"the encoder {[tuple(w.shape) for w in ours.weights]}; pretrained weights need model.width 1"
            )
        ours.set_weights(theirs)


def build_teacher(source: str) -> keras.Model:
    """The frozen VGG16 classifier whose class distribution on the gray input guides the generator.

    Takes normalised L at any size (resized to the classifier's 224 px) and returns probabilities.
    """
    weights_file = local_file(source, "loss.teacher_weights", top=True)
    vgg = keras.applications.VGG16(include_top=True, weights=weights_file, classifier_activation="softmax")
    vgg.trainable = False
    L = keras.Input((None, None, 1), name="L")
    x = layers.Resizing(224, 224)(L)
    probs = vgg(GrayToVGGInput()(x), training=False)
    return keras.Model(L, probs, name="vgg16_teacher")


def predicted_ab(outputs) -> tf.Tensor:
    """The ab output of a generator: the training model returns (ab, class logits), the logged
    colorizer returns ab alone."""
    return outputs[0] if isinstance(outputs, (list, tuple)) else outputs
