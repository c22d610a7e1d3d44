"""The adversarial colorizer: generator, critic, their losses and one training step, for either
generator family (``model.generator``): ChromaGAN regresses ab; CIC classifies it into bins.

Written in the spirit of the keras-io WGAN-GP example, one model class with its own ``train_step``,
but driven by our own loop (``colorize_core.training.trainer``) instead of ``fit``: a step runs unchanged as
the per-replica function of a ``tf.distribute`` strategy, which Keras 3 ``fit`` under
MultiWorkerMirroredStrategy cannot do.

Losses are sums over the local examples divided by the *global* batch size, so that the
strategy's all-reduce (a sum across replicas) of the gradients gives the global-batch mean.

The losses are the reference's (pvitoria/ChromaGAN), in its units, so that its weights (MSE 1, KL
0.003, adversarial 0.1, gradient penalty 10) strike its balance: it trains on OpenCV's 8-bit Lab
scaled to [0, 1], L/100 and (ab + 128)/255, so the critic sees L and ab in those units and the MSE
is taken in them; its gradient penalty differentiates the critic's whole patch map (the sum over
patches), and its Wasserstein terms average over patches and examples.

CIC's loss is the paper's: the cross-entropy between the soft-encoded true ab and the predicted bin
distribution at a quarter of the resolution, each pixel weighted by its true colour's rebalancing
weight; its critic, trained only when ``loss.cic_adversarial_weight`` > 0, judges the decoded ab.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import keras
import numpy as np
import tensorflow as tf

from colorize_core.config import Generator, LossConfig, OptimConfig, TrainConfig
from colorize_core.data.lab import AB_SCALE
from colorize_core.networks.chromagan import (
    build_critic,
    build_generator,
    build_teacher,
    load_vgg16_encoder_weights,
    predicted_ab,
)
from colorize_core.networks.cic import ab_bins, build_cic_generator, soft_encode


def to_reference_units(L: tf.Tensor, ab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Normalised L and ab (both in [-1, 1]) to the reference's [0, 1] units: L/100, (ab + 128)/255."""
    return (L + 1.0) / 2.0, (ab * AB_SCALE + 128.0) / 255.0


def trains_critic(config: TrainConfig) -> bool:
    """Whether the step updates a critic: always for chromagan; for cic only with a critic weight
    (weight 0 is the paper's model). A structural choice, not a weight: it shapes the compiled step."""
    return config.model.generator is Generator.CHROMAGAN or config.loss.cic_adversarial_weight > 0


@dataclass
class LossWeights:
    """The loss's scalar weights as variables: the compiled step reads them, so a later run of the
    same shape assigns its own weights instead of tracing the step anew."""

    ab: tf.Variable  # chromagan's ab MSE
    adversarial: tf.Variable  # the critic's term: loss.adversarial_weight, or cic_adversarial_weight for cic
    semantic: tf.Variable
    gradient_penalty: tf.Variable

    @classmethod
    def of(cls, loss: LossConfig, family: Generator) -> LossWeights:
        adversarial = loss.cic_adversarial_weight if family is Generator.CIC else loss.adversarial_weight
        values = dict(ab=loss.ab_weight, adversarial=adversarial, semantic=loss.semantic_weight)
        values["gradient_penalty"] = loss.gradient_penalty
        return cls(
            **{k: tf.Variable(v, dtype=tf.float32, trainable=False, name=f"{k}_weight") for k, v in values.items()}
        )

    def assign(self, other: LossWeights) -> None:
        for f in fields(self):
            getattr(self, f.name).assign(getattr(other, f.name))


class AdversarialColorizer(keras.Model):
    def __init__(
        self,
        config: TrainConfig,
        num_classes: int,
        global_batch_size: int,
        loss_scaling: bool = False,
        bin_weights: np.ndarray | None = None,
    ):
        """``loss_scaling``: float16 training (``trainer.set_precision``) needs its losses scaled.
        ``bin_weights``: CIC's rebalancing weight per ab bin (``cic.rebalancing_weights``)."""
        super().__init__(name="colorizer")
        m = config.model
        self.family = m.generator
        self.loss_config: LossConfig = config.loss
        self.optim_config: OptimConfig = config.optim
        self.global_batch_size = global_batch_size
        self.loss_weights = LossWeights.of(config.loss, m.generator)
        self.trains_critic = trains_critic(config)
        head = num_classes if config.loss.semantic != "off" else None  # a class head only for a semantic loss
        if self.family is Generator.CIC:
            if bin_weights is None:
                raise ValueError("a cic generator trains with its rebalancing weights (cic.rebalancing_weights)")
            self.generator = build_cic_generator(m.image_size, m.width, m.temperature, head, m.bins)
            self.bin_centres = tf.constant(ab_bins(m.bins))
            if len(bin_weights) != len(self.bin_centres):  # a gather past the end reads 0 on a GPU, silently
                raise ValueError(
                    f"{len(bin_weights)} rebalancing weights for model.bins {m.bins}, which has "
                    f"{len(self.bin_centres)} bins"
                )
            # A variable, not a constant: each run's training split and rebalance_mix give its own.
            self.bin_weights = tf.Variable(bin_weights, dtype=tf.float32, trainable=False, name="bin_weights")
        else:
            self.generator = build_generator(m.image_size, m.width, head)
        self.critic = build_critic(m.image_size, m.width)
        if m.encoder_weights:
            load_vgg16_encoder_weights(self.generator, m.encoder_weights, m.image_size)
        self.teacher = build_teacher(config.loss.teacher_weights) if config.loss.semantic == "teacher" else None
        o = config.optim
        self.g_optimizer = keras.optimizers.Adam(o.generator_lr, beta_1=o.beta1, beta_2=o.beta2, epsilon=o.epsilon)
        self.d_optimizer = keras.optimizers.Adam(o.critic_lr, beta_1=o.beta1, beta_2=o.beta2, epsilon=o.epsilon)
        if loss_scaling:
            self.g_optimizer = keras.optimizers.LossScaleOptimizer(self.g_optimizer)
            self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)

    def build_optimizers(self) -> None:
        """Create optimizer slots now, so a checkpoint can be restored into them before step 1."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.critic.trainable_variables)

    def take_state_of(self, fresh: AdversarialColorizer) -> None:
        """Become ``fresh`` in every value while keeping this model's variables (and so the steps
        compiled on them): weights, optimizer state and learning rates, loss weights, bin weights.
        ``fresh`` must have the same architecture (``colorize_core.training.warm.architecture``)."""
        self.generator.set_weights(fresh.generator.get_weights())
        self.critic.set_weights(fresh.critic.get_weights())
        for mine, theirs in ((self.g_optimizer, fresh.g_optimizer), (self.d_optimizer, fresh.d_optimizer)):
            if [v.shape for v in mine.variables] != [v.shape for v in theirs.variables]:
                raise ValueError("take_state_of: the optimizers' variables differ; build both, of the same shape")
            for a, b in zip(mine.variables, theirs.variables):
                a.assign(b)  # iterations, learning rate, Adam's moments (and a loss scale's state)
        self.loss_weights.assign(fresh.loss_weights)
        if self.family is Generator.CIC:
            self.bin_weights.assign(fresh.bin_weights)
        self.loss_config, self.optim_config = fresh.loss_config, fresh.optim_config

    def call(self, L, training=False):
        return predicted_ab(self.generator(L, training=training))

    # -- losses -----------------------------------------------------------------------------
    def _batch_mean(self, per_example: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(per_example) / self.global_batch_size

    def _patch_scores(self, L, ab) -> tf.Tensor:
        """The critic's score map (B, S/8, S/8, 1) of normalised (L, ab), judged in reference units."""
        return self.critic(list(to_reference_units(L, ab)), training=True)

    def _gradient_penalty(self, L, real_ab, fake_ab, alpha) -> tf.Tensor:
        """WGAN-GP: (||grad D(x_hat)|| - 1)^2 at random points between real and generated ab, the
        gradient of the whole patch map (its sum) with respect to ab in reference units.

        ``alpha`` (one per example) comes with the batch: drawn per example by the pipeline, the
        penalty is the same however the batch is split across workers, and on a resume.
        """
        alpha = tf.reshape(alpha, [-1, 1, 1, 1])
        L_ref, real_ref = to_reference_units(L, real_ab)
        _, fake_ref = to_reference_units(L, fake_ab)
        mixed = real_ref + alpha * (fake_ref - real_ref)
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            total = tf.reduce_sum(self.critic([L_ref, mixed], training=True))
        grads = tape.gradient(total, mixed)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        return self._batch_mean(tf.square(norms - 1.0))

    def critic_losses(self, L, real_ab, fake_ab, alpha) -> tuple[tf.Tensor, tf.Tensor]:
        """The critic's Wasserstein loss (mean score of fakes minus reals) and its gradient penalty."""
        patch_mean = lambda scores: tf.reduce_mean(scores, axis=[1, 2, 3])  # noqa: E731
        wasserstein = self._batch_mean(
            patch_mean(self._patch_scores(L, fake_ab)) - patch_mean(self._patch_scores(L, real_ab))
        )
        return wasserstein, self._gradient_penalty(L, real_ab, fake_ab, alpha)

    def ab_mse(self, real_ab, fake_ab) -> tf.Tensor:
        """The ab MSE in reference units."""
        diff = (fake_ab - real_ab) * (AB_SCALE / 255.0)
        return self._batch_mean(tf.reduce_mean(tf.square(diff), axis=[1, 2, 3]))

    def generator_losses(self, L, real_ab, fake_ab) -> tuple[tf.Tensor, tf.Tensor]:
        """The ab MSE in reference units, and the adversarial term (minus the fakes' mean score)."""
        ab_mse = self.ab_mse(real_ab, fake_ab)
        adversarial = -self._batch_mean(tf.reduce_mean(self._patch_scores(L, fake_ab), axis=[1, 2, 3]))
        return ab_mse, adversarial

    def bin_cross_entropy(self, real_ab, bin_logits) -> tf.Tensor:
        """CIC's rebalanced cross-entropy: the true ab taken at the logits' resolution (every 4th
        pixel, as the reference subsamples it), soft-encoded, each pixel weighted by its nearest bin's
        rebalancing weight; the mean over pixels per example."""
        step = real_ab.shape[1] // bin_logits.shape[1]
        target_ab = real_ab[:, ::step, ::step, :] * AB_SCALE
        target = soft_encode(target_ab, self.bin_centres)
        weight = tf.gather(self.bin_weights, tf.argmax(target, axis=-1))
        ce = -tf.reduce_sum(target * tf.nn.log_softmax(tf.cast(bin_logits, tf.float32), axis=-1), axis=-1)
        return self._batch_mean(tf.reduce_mean(weight * ce, axis=[1, 2]))

    def _semantic_loss(self, L, labels, class_logits) -> tf.Tensor:
        if class_logits is None:
            return tf.constant(0.0)
        if self.loss_config.semantic == "labels":
            known = labels >= 0  # images without a label (a flat folder) add nothing
            ce = keras.losses.sparse_categorical_crossentropy(tf.maximum(labels, 0), class_logits, from_logits=True)
            return self._batch_mean(tf.where(known, ce, 0.0))
        if self.loss_config.semantic == "teacher":
            target = tf.stop_gradient(self.teacher(L, training=False))
            kl = keras.losses.kl_divergence(target, tf.nn.softmax(class_logits))
            return self._batch_mean(kl)
        return tf.constant(0.0)

    # -- one step ---------------------------------------------------------------------------
    def _generate(self, L):
        """(ab, class logits or None, bin logits or None) of the generator in training mode."""
        out = self.generator(L, training=True)
        out = out if isinstance(out, (list, tuple)) else [out]  # Keras returns a lone output unwrapped
        if self.family is Generator.CIC:
            return out[0], (out[2] if len(out) > 2 else None), out[1]
        return out[0], (out[1] if len(out) > 1 else None), None

    def train_step(self, batch) -> dict[str, tf.Tensor]:
        L, real_ab, labels = batch["L"], batch["ab"], batch["label"]
        w = self.loss_weights
        train_critic = self.trains_critic
        wasserstein = gp = critic_loss = tf.constant(0.0)

        # Critic updates reuse the step's batch: one batch per step keeps the data position a
        # plain step count, which is what checkpoints store and resumes skip to.
        for _ in range(self.optim_config.critic_steps if train_critic else 0):
            with tf.GradientTape() as tape:
                fake_ab, _, _ = self._generate(L)
                wasserstein, gp = self.critic_losses(L, real_ab, fake_ab, batch["gp_alpha"])
                critic_loss = wasserstein + w.gradient_penalty * gp
                scaled = self._scale(self.d_optimizer, critic_loss)
            grads = tape.gradient(scaled, self.critic.trainable_variables)
            self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))

        with tf.GradientTape() as tape:
            fake_ab, class_logits, bin_logits = self._generate(L)
            if train_critic:
                ab_mse, adversarial = self.generator_losses(L, real_ab, fake_ab)
            else:
                ab_mse, adversarial = self.ab_mse(real_ab, fake_ab), tf.constant(0.0)
            semantic = self._semantic_loss(L, labels, class_logits)
            losses = {}
            if self.family is Generator.CIC:
                losses["cross_entropy"] = colour = self.bin_cross_entropy(real_ab, bin_logits)
            else:
                colour = w.ab * ab_mse
            generator_loss = colour + w.adversarial * adversarial + w.semantic * semantic
            scaled = self._scale(self.g_optimizer, generator_loss)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))

        return {
            "generator_loss": generator_loss,
            "ab_mse": ab_mse,
            **losses,
            "adversarial": adversarial,
            "semantic": semantic,
            "critic_loss": critic_loss,
            "wasserstein": -wasserstein,
            "gradient_penalty": gp,
        }

    @staticmethod
    def _scale(optimizer, loss):
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            return optimizer.scale_loss(loss)
        return loss
