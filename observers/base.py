"""What every machine observer is: one strategy behind ``fit`` and ``pick`` (as Optuna's samplers are
one strategy behind one interface), so a study runs any of them the same way."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from colorize_core.errors import ChromasweepError
from turing.store import Side

NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # printed as is; '-' becomes '_' in metric names


class ObserverError(ChromasweepError, ValueError):
    """An observer that cannot answer as asked (nothing to fit on, an image that is not a pair)."""


@dataclass(frozen=True)
class Labelled:
    """A practice pair as shown, with the truth a participant gets back as feedback."""

    pair: int  # the pair's id in the study, for the record
    image: np.ndarray  # both images side by side, RGB uint8 (H, 2H + gap, 3)
    real: Side


def halves(image: np.ndarray, where: str = "pair") -> tuple[np.ndarray, np.ndarray]:
    """The left and right images of a pair. Both are square (turing.create writes them so): the
    gap is whatever the width leaves, read from the shape rather than imported with turing.create's
    TensorFlow."""
    if image.ndim != 3 or image.shape[2] != 3:
        raise ObserverError(f"{where}: expected an RGB image, got shape {image.shape}")
    side, width = image.shape[:2]
    if width < 2 * side:
        raise ObserverError(f"{where}: {width} px wide for {side} px high; a pair is two squares side by side")
    return image[:, :side], image[:, width - side :]


class Observer(ABC):
    """A machine that, shown a pair, picks the side it judges to be the real photo."""

    name: ClassVar[str]  # lowercase words joined by '-': 'colourfulness-rule'

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not NAME.fullmatch(getattr(cls, "name", "")):
            raise TypeError(
                f"{cls.__name__}.name = {getattr(cls, 'name', None)!r}: expected lowercase words joined by '-'"
            )

    def fit(self, practice: Sequence[Labelled]) -> None:  # noqa: B027 - a fixed rule learns nothing: not abstract
        """Learn from the practice pairs (what a participant practises on); never from test pairs."""

    @abstractmethod
    def pick(self, image: np.ndarray) -> Side:
        """The side of ``image`` (a pair as shown) judged to be the real photo."""
