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
    check_request,
    copy_ratios,
    record,
    sample_confidently,
    warn_if_copies,
)
from biogan.data.anndata import SETUP_KEY, append_cells, check_labels, get_matrix, registered_keys
from biogan.data.preprocessing import log_normalize
from biogan.data.validation import DENSE_BYTES_PER_VALUE, check_memory, count_sample_bytes
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
    force: bool = False,
) -> ad.AnnData:
    """Append synthetic cells so labels reach ``target``; real cells are returned unchanged.

    Parameters
    ----------
    adata
        Cells with raw integer counts in ``layer`` and labels in ``obs[labels_key]``. ``layer=None``
        uses the layer :func:`setup_anndata` recorded, else ``"counts"`` when present, else ``.X``.
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
    force
        Allow labels to grow beyond 10x the largest real label (the memory check still applies).

    Returns
    -------
    AnnData
        The real cells followed by the synthetic ones, ``obs["biogan_synthetic"]`` marking the latter and
        ``uns["biogan_augment"]`` recording model, seed, targets, rejections, the copy check and how each
        matrix of the synthetic cells was made. Every layer is kept for the real cells; the synthetic
        cells get their counts in the counts layer, and ``.X`` and other layers recomputed when they are
        the counts or ``log1p`` of normalised counts; other layers are dropped with one warning.

    Raises
    ------
    InvalidDataError
        The data rules of :func:`~biogan.augmentation._shared.check_request`, or a request whose
        memory estimate exceeds what is available (checked before training).
    """
    layer = counts_layer_of(adata, layer)
    counts_matrix = get_matrix(adata, layer)
    check_labels(adata, labels_key)
    _, to_add = check_request(adata.obs[labels_key], labels_key, target, "cell", force)
    _check_memory(counts_matrix, sum(to_add.values()) * (1 if min_confidence is None else 2))
    model = model if model is not None else _train(adata, labels_key, layer, seed, max_steps, device)
    _check_model(model, adata, labels_key)
    synthetic, rejected = _generate(model, adata, counts_matrix, labels_key, to_add, seed, min_confidence)
    copies = copy_check(adata, counts_matrix, synthetic, labels_key)
    warn_if_copies(copies, "cells")
    info = {**record(model, seed, target, to_add), "rejected": rejected, "copy_distance_ratio": copies}
    return _combine(adata, synthetic, layer, labels_key, info)


def _check_memory(counts_matrix: Any, n_new: int) -> None:
    """Refuse before training when sampling ``n_new`` cells and densifying them with the real ones (the
    copy check and the classifier work on log-normalised dense matrices) would not fit."""
    n_real, n_genes = counts_matrix.shape
    nonzero = counts_matrix.nnz if hasattr(counts_matrix, "nnz") else np.count_nonzero(counts_matrix)
    zero_fraction = 1 - nonzero / max(n_real * n_genes, 1)
    needed = (n_real + n_new) * n_genes * DENSE_BYTES_PER_VALUE + count_sample_bytes(
        n_new, n_genes, zero_fraction
    )
    check_memory(
        needed,
        f"adding {n_new} cells to {n_real} cells x {n_genes} genes",
        "ask for a smaller target, or select fewer genes (e.g. highly variable ones) first",
    )


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


def counts_layer_of(adata: ad.AnnData, layer: str | None) -> str | None:
    """The layer with raw counts: ``layer`` if given, else the one :func:`setup_anndata` recorded, else
    ``"counts"`` when present (as the command line picks it), else ``None`` (``.X``)."""
    if layer is not None:
        return layer
    if SETUP_KEY in adata.uns:
        return registered_keys(adata)[0]
    return "counts" if "counts" in adata.layers else None  # as biogan._cli_utils.pick_layer


def _combine(
    adata: ad.AnnData,
    synthetic: ad.AnnData,
    layer: str | None,
    labels_key: str,
    info: dict[str, Any],
) -> ad.AnnData:
    """Real cells (untouched) + synthetic cells, every layer of ``adata`` filled for them or dropped.

    The counts go into ``layer`` (``.X`` when ``None``); ``.X`` and other layers are recomputed from
    them when the real cells show how they were made (see :func:`~biogan.data.append_cells`).
    """
    obs = pd.DataFrame(index=[f"biogan_synthetic_{i}" for i in range(synthetic.n_obs)])
    obs[labels_key] = synthetic.obs[labels_key].astype(str).to_numpy()
    out, made = append_cells(adata, synthetic.X, obs, layer)
    out.obs[SYNTHETIC_KEY] = np.r_[np.zeros(adata.n_obs, bool), np.ones(synthetic.n_obs, bool)]
    if not isinstance(out.obs[labels_key].dtype, pd.CategoricalDtype):
        out.obs[labels_key] = out.obs[labels_key].astype("category")
    out.uns["biogan_augment"] = {
        **info,
        "counts_layer": layer if layer is not None else "X",
        "x_holds": made.get("X", "nothing (.X is empty)"),
        "synthetic_matrices": made,
    }
    return out
