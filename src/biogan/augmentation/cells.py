"""Augment single-cell data: synthetic cells from a conditional count model, appended to the real ones.

Real cells are kept bit-for-bit; synthetic cells are appended and flagged in
``obs["biogan_synthetic"]`` so nobody mistakes them for measurements later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from biogan.augmentation._shared import (
    SYNTHETIC_KEY,
    check_growable,
    copy_ratios,
    record,
    sample_confidently,
    samples_to_add,
    warn_if_copies,
)
from biogan.data.anndata import check_labels, get_matrix
from biogan.data.preprocessing import log_normalize
from biogan.errors import GeneMismatchError, UnknownLabelError
from biogan.models.expression import ExpressionGAN


def augment_cells(
    adata: ad.AnnData,
    labels_key: str,
    target: str | Mapping[str, int] = "balanced",
    model: ExpressionGAN | None = None,
    layer: str | None = None,
    seed: int = 0,
    max_steps: int = 400,
    min_confidence: float | None = None,
    device: str = "auto",
) -> ad.AnnData:
    """Append synthetic cells so labels reach ``target``; real cells are returned unchanged.

    Parameters
    ----------
    adata
        Cells with raw integer counts in ``layer`` (``None``: ``.X``) and labels in ``obs[labels_key]``.
    labels_key
        The label column to balance.
    target
        See :func:`~biogan.augmentation.samples_to_add`.
    model
        A fitted :class:`ExpressionGAN` (or :class:`~biogan.models.vae.ExpressionVAE`) on the same genes and
        labels; ``None`` trains an ExpressionGAN on ``adata``.
    layer, seed, max_steps, device
        Where the counts are, the seed of training and sampling, training length, device.
    min_confidence
        If set, keep only synthetic cells that a classifier trained on the real cells assigns to their
        intended label with at least this probability (more are generated to make up for rejects;
        ``uns["biogan_augment"]["rejected"]`` reports how many were dropped).

    Returns
    -------
    AnnData
        The real cells followed by the synthetic ones, ``obs["biogan_synthetic"]`` marking the latter and
        ``uns["biogan_augment"]`` recording model, seed, targets, rejections and the copy check.
    """
    counts_matrix = get_matrix(adata, layer)
    check_labels(adata, labels_key)
    label_counts = adata.obs[labels_key].astype(str).value_counts()
    to_add = samples_to_add(label_counts, target)
    check_growable(label_counts, to_add, "cell")
    model = model if model is not None else _train(adata, labels_key, layer, seed, max_steps, device)
    _check_model(model, adata, labels_key)
    synthetic, rejected = _generate(model, adata, counts_matrix, labels_key, to_add, seed, min_confidence)
    copies = copy_check(adata, counts_matrix, synthetic, labels_key)
    warn_if_copies(copies, "cells")
    info = {**record(model, seed, target, to_add), "rejected": rejected, "copy_distance_ratio": copies}
    return _combine(adata, synthetic, layer, labels_key, info)


def _train(adata: ad.AnnData, labels_key: str, layer: str | None, seed: int, steps: int, device: str) -> Any:
    work = ad.AnnData(X=get_matrix(adata, layer), obs=adata.obs[[labels_key]].copy(), var=adata.var[[]])
    ExpressionGAN.setup_anndata(work, labels_key=labels_key)
    return ExpressionGAN(work, seed=seed, device=device).fit(max_steps=steps)


def _check_model(model: ExpressionGAN, adata: ad.AnnData, labels_key: str) -> None:
    if list(model.genes) != list(adata.var_names):
        raise GeneMismatchError("the model was trained on other genes than adata has; subset adata first")
    missing = sorted(set(adata.obs[labels_key].astype(str)) - set(model.categories))
    if missing:
        raise UnknownLabelError(f"the model never saw labels {missing}; it knows {model.categories}")


def _generate(
    model: ExpressionGAN,
    adata: ad.AnnData,
    counts_matrix: Any,
    labels_key: str,
    to_add: dict[str, int],
    seed: int,
    min_confidence: float | None,
) -> tuple[ad.AnnData, dict[str, int]]:
    """Sample ``to_add``; with ``min_confidence``, only cells a classifier assigns to their label."""
    if min_confidence is None:
        return model.sample(labels=to_add, seed=seed), {}
    classify = _label_classifier(counts_matrix, adata.obs[labels_key].astype(str).to_numpy(), seed)

    def sample(want: dict[str, int], round_seed: int) -> tuple[ad.AnnData, np.ndarray]:
        batch = model.sample(labels=want, seed=round_seed)
        return batch, batch.obs[model.labels_key or "label"].astype(str).to_numpy()

    kept, rejected = sample_confidently(sample, lambda b, y: classify(b.X, y), to_add, seed, min_confidence)
    parts = [batch[idx] for batch, idx in kept]
    return (ad.concat(parts) if parts else model.sample(labels={}, seed=seed)), rejected


def _label_classifier(counts_matrix: Any, labels: np.ndarray, seed: int) -> Any:
    """Logistic regression on 50 PCs of log expression, fit on the real cells."""
    log_x = log_normalize(counts_matrix)
    pca = PCA(min(50, *log_x.shape), random_state=seed).fit(log_x)
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(pca.transform(log_x), labels)
    classes = list(clf.classes_)

    def confidence(X: Any, wanted: np.ndarray) -> np.ndarray:
        proba = clf.predict_proba(pca.transform(log_normalize(X)))
        return proba[np.arange(len(wanted)), [classes.index(w) for w in wanted]]

    return confidence


def copy_check(
    adata: ad.AnnData, counts_matrix: Any, synthetic: ad.AnnData, labels_key: str
) -> dict[str, float]:
    """Per label, the distance ratio of :func:`~biogan.augmentation._shared.copy_ratios` on log
    expression."""
    return copy_ratios(
        log_normalize(counts_matrix),
        adata.obs[labels_key].astype(str).to_numpy(),
        log_normalize(synthetic.X),
        synthetic.obs[labels_key].astype(str).to_numpy(),
    )


def _combine(
    adata: ad.AnnData,
    synthetic: ad.AnnData,
    layer: str | None,
    labels_key: str,
    info: dict[str, Any],
) -> ad.AnnData:
    """Real cells (untouched) + synthetic cells with counts in ``.X`` and in ``layer``."""
    synth = ad.AnnData(
        X=synthetic.X.astype(adata.X.dtype) if adata.X is not None else synthetic.X,
        var=pd.DataFrame(index=adata.var_names),
    )
    synth.obs_names = [f"biogan_synthetic_{i}" for i in range(synthetic.n_obs)]
    synth.obs[labels_key] = synthetic.obs[labels_key].astype(str).to_numpy()
    if layer is not None:
        synth.layers[layer] = synthetic.X.copy()
    real = adata.copy()
    real.obs[SYNTHETIC_KEY] = False
    synth.obs[SYNTHETIC_KEY] = True
    out = ad.concat([real, synth], join="outer", merge="first", uns_merge="first")
    out.obs.index.name = adata.obs.index.name
    out.obs[SYNTHETIC_KEY] = out.obs[SYNTHETIC_KEY].astype(bool)
    out.obs[labels_key] = out.obs[labels_key].astype("category")
    out.uns["biogan_augment"] = {
        **info,
        "x_holds": "counts"
        if layer is None
        else f"counts for synthetic cells (real cells keep their .X); layer {layer!r} holds counts for all",
    }
    return out
