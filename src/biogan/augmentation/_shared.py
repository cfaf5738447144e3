"""What cell and table augmentation share: targets, the data rules, confident sampling, copies."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from biogan.data.validation import check_enough, check_growth, check_training_labels
from biogan.errors import InvalidDataError, UnknownLabelError
from biogan.metrics.suite import distance_to_closest_record

SYNTHETIC_KEY = "biogan_synthetic"
DUPLICATE_RATIO = 0.6
"""Synthetic samples closer to real ones than this fraction of the real samples' own spacing are copies
(Poisson resamples of training cells measure 0.5 on pbmc68k; a healthy model about 0.9)."""
MAX_ROUNDS = 5


def samples_to_add(counts: pd.Series, target: str | Mapping[str, int]) -> dict[str, int]:
    """How many samples to add per label for a target.

    Parameters
    ----------
    counts
        Samples per label in the real data (labels as strings).
    target
        ``"balanced"`` (every label up to the largest), ``"x2"`` (every label multiplied by 2; any
        factor >= 1), or final sizes per label as ``{"Dendritic": 200}`` / ``"Dendritic=200,CD34+=200"``.
    """
    if isinstance(target, str) and target == "balanced":
        return {label: int(counts.max() - n) for label, n in counts.items() if counts.max() > n}
    if isinstance(target, str) and (match := re.fullmatch(r"x(\d+(?:\.\d+)?)", target.strip())):
        factor = float(match.group(1))
        if factor < 1:
            raise InvalidDataError(f"target {target!r} would shrink the data; use a factor >= 1")
        return {label: round(n * (factor - 1)) for label, n in counts.items() if n * (factor - 1) >= 0.5}
    sizes = _parse_sizes(target)
    unknown = sorted(set(sizes) - set(counts.index))
    if unknown:
        raise UnknownLabelError(f"labels {unknown} are not in the data; it has {sorted(counts.index)}")
    smaller = {k: (v, int(counts[k])) for k, v in sizes.items() if v < counts[k]}
    if smaller:
        detail = ", ".join(f"{k}: asked {v}, has {n}" for k, (v, n) in smaller.items())
        raise InvalidDataError(f"targets are final sizes and cannot be below what exists ({detail})")
    return {k: int(v - counts[k]) for k, v in sizes.items() if v > counts[k]}


def _parse_sizes(target: str | Mapping[str, int]) -> dict[str, int]:
    if isinstance(target, Mapping):
        return {str(k): int(v) for k, v in target.items()}
    sizes = {}
    for item in target.split(","):
        label, sep, value = item.rpartition("=")
        if not sep or not value.strip().isdigit():
            raise InvalidDataError(
                f"cannot read target {target!r}: use 'balanced', 'x2' or 'label=count,label=count'"
            )
        sizes[label.strip()] = int(value)
    return sizes


def check_request(
    labels: pd.Series, labels_key: Hashable, target: str | Mapping[str, int], noun: str, force: bool
) -> tuple[pd.Series, dict[str, int]]:
    """The shared data rules for what is augmented, checked before any training; the label sizes and
    the samples to add per label.

    At least :data:`~biogan.data.validation.MIN_SAMPLES` samples, labels present, not continuous and
    without one-member classes (the training rule: a generator could only copy a single sample), and a
    target within :data:`~biogan.data.validation.MAX_AUGMENT_FACTOR` x the largest label unless
    ``force``.
    """
    check_enough(len(labels), "the data to augment", noun)
    check_training_labels(labels, labels_key, noun)
    label_counts = pd.Series(labels).astype(str).value_counts()
    to_add = samples_to_add(label_counts, target)
    check_growth(label_counts, to_add, noun, force)
    return label_counts, to_add


def sample_confidently(
    sample: Callable[[dict[str, int], int], tuple[Any, np.ndarray]],
    confidence: Callable[[Any, np.ndarray], np.ndarray],
    to_add: dict[str, int],
    seed: int,
    min_confidence: float,
) -> tuple[list[tuple[Any, np.ndarray]], dict[str, int]]:
    """Draw samples until each label has ``to_add`` that pass ``confidence >= min_confidence``.

    ``sample(wanted, seed)`` returns a batch and the label of each of its samples; ``confidence(batch,
    labels)`` the classifier's probability of each intended label. Returns the kept ``(batch, indices)``
    pairs and the number rejected per label (up to :data:`MAX_ROUNDS` rounds; a shortfall warns).
    """
    kept, rejected, missing = [], dict.fromkeys(to_add, 0), dict(to_add)
    for round_ in range(MAX_ROUNDS):
        want = {k: 2 * v for k, v in missing.items() if v > 0}  # oversample: most samples pass
        if not want:
            break
        batch, labels = sample(want, seed + round_)
        passed = confidence(batch, labels) >= min_confidence
        for label in want:
            good = np.flatnonzero((labels == label) & passed)[: missing[label]]
            rejected[label] += int(((labels == label) & ~passed).sum())
            missing[label] -= len(good)
            kept.append((batch, good))
    if any(v > 0 for v in missing.values()):
        warnings.warn(
            f"could not reach targets with confidence >= {min_confidence}: short by {missing}",
            UserWarning,
            stacklevel=3,
        )
    return kept, rejected


def copy_ratios(
    real: np.ndarray, real_labels: np.ndarray, synth: np.ndarray, synth_labels: np.ndarray
) -> dict[str, float]:
    """Per label: median distance of synthetic samples to the closest real sample of that label, divided
    by the median distance of real samples to their closest other real sample (about 1 = new samples;
    near 0 = copies)."""
    ratios = {}
    for label in np.unique(synth_labels):
        members = real[real_labels == label]
        if len(members) < 2:
            continue
        d_synth = distance_to_closest_record(synth[synth_labels == label], members)
        d_real = distance_to_closest_record(members, members, exclude_self=True)
        ratios[str(label)] = float(np.median(d_synth) / max(np.median(d_real), 1e-12))
    return ratios


def warn_if_copies(ratios: dict[str, float], what: str) -> None:
    """Warn about labels whose synthetic samples sit much closer to real ones than real ones to each other."""
    flagged = {label: ratio for label, ratio in ratios.items() if ratio < DUPLICATE_RATIO}
    if flagged:
        warnings.warn(
            f"near-duplicates of training {what}: synthetic {what} of "
            + ", ".join(f"{k} (distance ratio {v:.2f})" for k, v in flagged.items())
            + f" sit much closer to real {what} than real {what} sit to each other; the model may have "
            "memorised them (or collapsed onto a few points: check the training diagnostics) — do not "
            "treat them as new observations",
            UserWarning,
            stacklevel=3,
        )


def record(model: Any, seed: int, target: Any, added: dict[str, int]) -> dict[str, Any]:
    """The provenance stored with augmented data."""
    return {
        "model": type(model).__name__,
        "seed": seed,
        "target": target if isinstance(target, str) else {str(k): int(v) for k, v in target.items()},
        "added": {k: int(v) for k, v in added.items()},
    }
