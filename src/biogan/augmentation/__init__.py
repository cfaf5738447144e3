"""Augment small or imbalanced data sets (rare cell types, small cohorts) with synthetic samples.

:func:`augment` takes an AnnData of counts (grown with an :class:`~biogan.ExpressionGAN` or
:class:`~biogan.ExpressionVAE`) or a pandas DataFrame (grown with a :class:`~biogan.TabularGAN`).
Real samples are always kept bit-for-bit and synthetic ones flagged as ``biogan_synthetic``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from biogan.augmentation._shared import DUPLICATE_RATIO, SYNTHETIC_KEY, samples_to_add
from biogan.augmentation.cells import augment_cells, copy_check
from biogan.augmentation.tables import augment_table
from biogan.data.kinds import kind_of

AUGMENTERS = {"cells": augment_cells, "table": augment_table}
"""How each data kind is grown (see :data:`biogan.data.kinds.KINDS`)."""


def augment(
    data: Any,
    labels_key: Hashable,
    target: str | Mapping[str, int] = "balanced",
    model: Any = None,
    seed: int = 0,
    min_confidence: float | None = None,
    device: str = "auto",
    force: bool = False,
    **options: Any,
) -> Any:
    """Append synthetic samples so that labels reach ``target``; real samples are returned unchanged.

    Parameters
    ----------
    data
        An AnnData of raw counts (see :func:`augment_cells`, options ``layer``, ``max_steps``) or a
        DataFrame (see :func:`augment_table`, options ``categorical_features``, ``max_steps``).
    labels_key
        ``obs`` column (AnnData) or column (DataFrame) with the labels to grow.
    target
        ``"balanced"``, ``"x2"`` or final sizes per label (see :func:`samples_to_add`).
    model
        A fitted model for the data type, or ``None`` to train one on ``data``.
    seed, min_confidence, device
        Seed of training and sampling; keep only samples a classifier trained on the real data assigns
        to their label with this probability; device.
    force
        Allow a target that grows a label beyond
        :data:`~biogan.data.validation.MAX_AUGMENT_FACTOR` (10) x the largest real label; without it
        such a target is refused before any training. A request that would not fit in memory is
        refused either way.

    Returns
    -------
    AnnData or DataFrame
        Same type as ``data``: real samples followed by flagged synthetic ones.
    """
    return AUGMENTERS[kind_of(data)](
        data,
        labels_key,
        target,
        model=model,
        seed=seed,
        min_confidence=min_confidence,
        device=device,
        force=force,
        **options,
    )


def synthetic_flags(data: Any) -> Any:
    """Which samples of an augmented AnnData (``obs``) or DataFrame (a column) are synthetic."""
    return data.obs[SYNTHETIC_KEY] if hasattr(data, "obs") else data[SYNTHETIC_KEY]


__all__ = [
    "AUGMENTERS",
    "DUPLICATE_RATIO",
    "SYNTHETIC_KEY",
    "augment",
    "augment_cells",
    "augment_table",
    "copy_check",
    "samples_to_add",
    "synthetic_flags",
]
