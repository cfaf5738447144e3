"""Warnings a user can act on, read off the training history.

Each rule looks at the recent rows of the history (a list of dicts written by the loop) and returns a
message that names the symptom and a fix. Rules stay quiet until they have enough rows to judge.
"""

from __future__ import annotations

import numpy as np

COLLAPSE_RATIO = 0.35
"""Diversity of generated samples below this fraction of the data's diversity counts as collapse."""


def _series(history: list[dict[str, float]], key: str) -> np.ndarray:
    return np.array([row[key] for row in history if key in row], dtype=float)


def mode_collapse(history: list[dict[str, float]], window: int = 3) -> str | None:
    """Samples from a fixed noise batch have become far less diverse than real data."""
    ratio = _series(history, "diversity_ratio")
    if len(ratio) >= window and np.all(ratio[-window:] < COLLAPSE_RATIO):
        return (
            f"mode collapse: generated samples are only {ratio[-1]:.0%} as diverse as real data; "
            "try the default wgan-gp loss, more critic steps (n_critic), a lower generator learning "
            "rate, or spectral_norm=True"
        )
    return None


def critic_divergence(history: list[dict[str, float]], window: int = 5) -> str | None:
    """The Wasserstein estimate keeps growing: the critic is winning and the generator lags behind."""
    w = _series(history, "wasserstein")
    if len(w) < 4 * window:
        return None
    early = np.median(np.abs(w[len(w) // 4 : len(w) // 2]))
    recent = w[-window:]
    if early > 0 and np.all(recent > 3 * early) and np.all(np.diff(recent) > 0):
        return (
            "critic divergence: the critic's Wasserstein estimate has grown more than 3x and is still "
            "rising (the critic is overfitting); try critic_dropout, a lower lr_critic, fewer critic "
            "steps, or rely on the best validated weights (kept automatically)"
        )
    return None


def oscillation(history: list[dict[str, float]], window: int = 12) -> str | None:
    """The generator loss swings up and down with large amplitude instead of settling."""
    g = _series(history, "generator_loss")
    if len(g) < window:
        return None
    recent = g[-window:]
    steps = np.diff(recent)
    flips = np.sum(np.sign(steps[1:]) != np.sign(steps[:-1]))
    spread = recent.std()
    scale = np.median(np.abs(g)) + 1e-8
    if flips >= window - 3 and spread > 2.0 * scale:
        return (
            "oscillation: the generator loss swings widely between log steps; try lower learning "
            "rates, a larger batch size, or a higher ema_decay"
        )
    return None


def stalled(history: list[dict[str, float]], patience: int = 8) -> str | None:
    """The validation score has not improved for ``patience`` evaluations."""
    v = _series(history, "validation_score")
    if len(v) <= patience:
        return None
    if v[-patience:].min() > v[:-patience].min():
        return (
            f"no progress: the validation score has not improved in the last {patience} evaluations; "
            "training longer will not help (the best weights are kept), try a lower learning rate"
        )
    return None


RULES = (mode_collapse, critic_divergence, oscillation, stalled)


def diagnose(history: list[dict[str, float]]) -> list[str]:
    """All warnings that apply to ``history`` now."""
    return [msg for rule in RULES if (msg := rule(history))]
