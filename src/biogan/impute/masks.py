"""Missingness masks for benchmarks and tests: MCAR, MAR and MNAR (self-masking), each seeded.

Every function returns a boolean array shaped like ``X`` that is ``True`` where a value is to be hidden.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

MASKS = ("mcar", "mar", "mnar")


def mcar_mask(shape: tuple[int, int], rate: float, seed: int) -> np.ndarray:
    """Missing completely at random: each entry hidden independently with probability ``rate``."""
    return np.random.default_rng(seed).random(shape) < rate


def _intercepts(scores: np.ndarray, rate: float) -> np.ndarray:
    """Per-column intercept ``b`` so that ``mean(sigmoid(scores + b)) == rate`` (bisection)."""
    low, high = np.full(scores.shape[1], -50.0), np.full(scores.shape[1], 50.0)
    for _ in range(60):
        mid = (low + high) / 2
        too_many = expit(scores + mid).mean(axis=0) > rate
        high = np.where(too_many, mid, high)
        low = np.where(too_many, low, mid)
    return (low + high) / 2


def _standardise(X: np.ndarray) -> np.ndarray:
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def mar_mask(X: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """Missing at random: half the columns stay fully observed and drive, through a logistic model with
    random weights, the missingness of the other half (``2 * rate`` there, so ``rate`` overall)."""
    rng = np.random.default_rng(seed)
    n, d = X.shape
    drivers = rng.permutation(d)[: max(1, d // 2)]
    targets = np.setdiff1d(np.arange(d), drivers)
    Z = _standardise(X[:, drivers])
    weights = rng.normal(size=(len(drivers), len(targets))) / np.sqrt(len(drivers))
    scores = 2.0 * _standardise(Z @ weights)
    probs = expit(scores + _intercepts(scores, min(0.95, rate * d / max(1, len(targets)))))
    mask = np.zeros((n, d), dtype=bool)
    mask[:, targets] = rng.random(probs.shape) < probs
    return mask


def mnar_mask(X: np.ndarray, rate: float, seed: int, strength: float = 2.0) -> np.ndarray:
    """Missing not at random by self-masking: within each column, higher values are more likely hidden
    (logistic in the standardised value with slope ``strength``)."""
    rng = np.random.default_rng(seed)
    scores = strength * _standardise(X)
    probs = expit(scores + _intercepts(scores, rate))
    return rng.random(X.shape) < probs


def make_mask(kind: str, X: np.ndarray, rate: float = 0.2, seed: int = 0) -> np.ndarray:
    """The ``kind`` (``mcar``, ``mar`` or ``mnar``) mask for ``X``."""
    if kind == "mcar":
        return mcar_mask(X.shape, rate, seed)
    if kind == "mar":
        return mar_mask(X, rate, seed)
    if kind == "mnar":
        return mnar_mask(X, rate, seed)
    raise ValueError(f"unknown mask {kind!r}; choose one of {', '.join(MASKS)}")
