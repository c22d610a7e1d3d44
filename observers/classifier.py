"""A stronger machine observer: logistic regression on the difference of the halves' colour
statistics, fitted on the study's practice pairs (the pairs a participant practises on, with the
truth); it never sees a test pair's answer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from observers.base import Labelled, Observer, ObserverError, halves
from observers.colour import features
from turing.store import Side


def pair_features(image: np.ndarray) -> np.ndarray:
    """Left's statistics minus right's: swapping the halves negates them."""
    left, right = halves(image)
    return features(left) - features(right)


class ColourStatsClassifier(Observer):
    name = "colour-stats-classifier"

    def __init__(self, regularisation: float = 1.0):
        # No centring and no intercept: features that flip sign with the sides leave no room for a
        # side preference, so a pair with no difference (the control arm) is a tie, not a habit.
        self.model = make_pipeline(
            StandardScaler(with_mean=False), LogisticRegression(C=regularisation, fit_intercept=False, max_iter=1000)
        )
        self.fitted = False

    def fit(self, practice: Sequence[Labelled]) -> None:
        if {p.real for p in practice} != set(Side):
            raise ObserverError(
                f"{self.name}: needs practice pairs with the real photo on each side, got "
                f"{len(practice)} (the study has too few practice trials to fit on)"
            )
        x = np.stack([pair_features(p.image) for p in practice])
        self.model.fit(x, [p.real == Side.LEFT for p in practice])
        self.fitted = True

    def pick(self, image: np.ndarray) -> Side:
        if not self.fitted:
            raise ObserverError(f"{self.name}: fit it on practice pairs before it picks")
        left_real = self.model.decision_function(pair_features(image)[None])[0]
        return Side.LEFT if left_real >= 0 else Side.RIGHT
