"""The colourfulness rule: the real photo is the more colourful one.

What a naive viewer might do, and what a desaturated colorization (the classic failure: sepia, gray)
loses to; an over-saturated one fools it every time."""

from __future__ import annotations

import numpy as np

from observers.base import Observer, halves
from observers.colour import colourfulness
from turing.store import Side


class ColourfulnessRule(Observer):
    name = "colourfulness-rule"

    def pick(self, image: np.ndarray) -> Side:
        left, right = halves(image)
        # A tie (identical halves, the control arm) goes left; which side is real was drawn at random.
        return Side.LEFT if colourfulness(left) >= colourfulness(right) else Side.RIGHT
