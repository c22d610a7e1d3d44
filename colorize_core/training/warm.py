"""What one process keeps between runs of the same shape: their compiled steps and validation batches.

A sweep's trial actor runs trial after trial. Tracing the training step (and the validation scorer)
costs seconds a trial and depends only on the architecture; everything a trial changes within an
architecture, its initial weights, optimizer state, learning rates and loss weights, lives in
variables. So a run that finds its architecture here takes over the compiled models: they become the
freshly built models of the run in every value (``AdversarialColorizer.take_state_of``), and it starts
from exactly the state a fresh process would, without tracing.

Plain TensorFlow; whoever owns a long-lived process (``runner.in_trial``) holds one ``WarmCache``
and hands it to ``prepare_trainer``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from colorize_core.config import TrainConfig
from colorize_core.networks.gan import AdversarialColorizer, trains_critic

# Fields whose values a compiled step reads from variables, so they do not shape the trace. Every
# other field of these sections is part of the architecture: a new field traces anew until it is
# named here, which costs time, never correctness.
_ASSIGNED_PER_RUN = {
    "model": {"encoder_weights"},  # initial values, copied
    "loss": {"ab_weight", "adversarial_weight", "cic_adversarial_weight", "semantic_weight", "gradient_penalty"}
    | {"rebalance_mix"},  # enters through the bin weights, a variable
    "optim": {"generator_lr", "critic_lr"},
}


def architecture(config: TrainConfig, num_classes: int, global_batch: int, policy: str) -> str:
    """What a compiled step depends on besides the values assigned per run, as a key."""
    shape = {
        section: getattr(config, section).model_dump(mode="json", exclude=excluded)
        for section, excluded in _ASSIGNED_PER_RUN.items()
    }
    shape["trains_critic"] = trains_critic(config)  # with no critic, the step has no critic update at all
    shape.update(num_classes=num_classes, global_batch=global_batch, policy=policy)
    return json.dumps(shape, sort_keys=True)


@dataclass
class Compiled:
    """One architecture's models and the functions traced on their variables."""

    gan: AdversarialColorizer
    train_step: Callable
    scorer: Callable

    def traces(self) -> int:
        """How many times its functions have been traced (``tf.function``'s own count)."""
        return sum(f.experimental_get_tracing_count() for f in (self.train_step, self.scorer))


class WarmCache:
    """The last ``max_architectures`` architectures' compiled models (least recently used goes first)
    and the validation batches of the last ``max_val_sets`` datasets, held as tensors."""

    def __init__(self, max_architectures: int = 2, max_val_sets: int = 2, max_val_bytes: int = 256 << 20):
        self.max_architectures, self.max_val_sets, self.max_val_bytes = max_architectures, max_val_sets, max_val_bytes
        self._compiled: OrderedDict[str, Compiled] = OrderedDict()
        self._val: OrderedDict[str, list[dict[str, tf.Tensor]]] = OrderedDict()
        self.hits = self.misses = 0

    def compiled(self, key: str, fresh: AdversarialColorizer, compile_fn: Callable[[AdversarialColorizer], Compiled]):
        """The compiled models of ``key`` holding ``fresh``'s values; ``fresh`` itself, compiled by
        ``compile_fn``, when the architecture is new here."""
        found = self._compiled.get(key)
        if found is None:
            self.misses += 1
            found = self._compiled[key] = compile_fn(fresh)
            while len(self._compiled) > self.max_architectures:
                self._compiled.popitem(last=False)
        else:
            self.hits += 1
            found.gan.take_state_of(fresh)
            self._compiled.move_to_end(key)
        return found

    def val_batches(self, key: str, build: Callable[[], tf.data.Dataset]) -> list[dict[str, tf.Tensor]]:
        """``build()``'s batches, decoded once and kept (when they fit in ``max_val_bytes``)."""
        found = self._val.get(key)
        if found is not None:
            self._val.move_to_end(key)
            return found
        batches = list(build())
        size = sum(t.numpy().nbytes for batch in batches for t in batch.values())
        if size <= self.max_val_bytes:
            self._val[key] = batches
            while len(self._val) > self.max_val_sets:
                self._val.popitem(last=False)
        return batches
