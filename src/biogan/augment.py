"""Augment small or imbalanced single-cell data sets with synthetic cells from a conditional GAN.

Real cells are kept bit-for-bit; synthetic cells are appended and flagged in
``obs["biogan_synthetic"]`` so nobody mistakes them for measurements later.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from biogan.data.anndata import check_labels, get_matrix
from biogan.data.preprocessing import log_normalize
from biogan.errors import GeneMismatchError, InvalidDataError, UnknownLabelError
from biogan.metrics.suite import distance_to_closest_record
from biogan.models.expression import ExpressionGAN

SYNTHETIC_KEY = "biogan_synthetic"
DUPLICATE_RATIO = 0.6
"""Synthetic cells closer to real cells than this fraction of the real cells' own spacing are copies
(Poisson resamples of training cells measure 0.5 on pbmc68k; a healthy model about 0.9)."""


def cells_to_add(counts: pd.Series, target: str | Mapping[str, int]) -> dict[str, int]:
    """How many cells to add per label for a target.

    Parameters
    ----------
    counts
        Cells per label in the real data.
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


def augment(
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
        See :func:`cells_to_add`.
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
    to_add = cells_to_add(label_counts, target)
    single = [label for label in to_add if label_counts[label] < 2]
    if single:
        raise InvalidDataError(
            f"labels {single} have a single cell: a generator cannot learn a cell type's variation from one "
            "cell (it could only copy it). Collect more cells, merge the label, or exclude it from the target"
        )
    model = model if model is not None else _train(adata, labels_key, layer, seed, max_steps, device)
    _check_model(model, adata, labels_key)
    synthetic, rejected = _generate(model, adata, counts_matrix, labels_key, to_add, seed, min_confidence)
    copies = copy_check(adata, counts_matrix, synthetic, labels_key)
    flagged = {label: ratio for label, ratio in copies.items() if ratio < DUPLICATE_RATIO}
    if flagged:
        warnings.warn(
            "near-duplicates of training cells: synthetic cells of "
            + ", ".join(f"{k} (distance ratio {v:.2f})" for k, v in flagged.items())
            + " sit much closer to real cells than real cells sit to each other; the model may have "
            "memorised them — do not treat them as new observations",
            UserWarning,
            stacklevel=2,
        )
    info = {"model": type(model).__name__, "seed": seed, "target": target, "added": to_add}
    return _combine(adata, synthetic, layer, labels_key, info, rejected, copies)


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
    """Sample ``to_add``; with ``min_confidence``, resample rejected cells for up to 5 rounds."""
    if min_confidence is None:
        return model.sample(labels=to_add, seed=seed), {}
    classify = _label_classifier(counts_matrix, adata.obs[labels_key].astype(str).to_numpy(), seed)
    kept, rejected, missing = [], dict.fromkeys(to_add, 0), dict(to_add)
    for round_ in range(5):
        want = {k: 2 * v for k, v in missing.items() if v > 0}  # oversample: most cells pass
        if not want:
            break
        batch = model.sample(labels=want, seed=seed + round_)
        labels = batch.obs[model.labels_key or "label"].astype(str).to_numpy()
        confidence = classify(batch.X, labels)
        for label in want:
            good = np.flatnonzero((labels == label) & (confidence >= min_confidence))[: missing[label]]
            rejected[label] += int(((labels == label) & (confidence < min_confidence)).sum())
            missing[label] -= len(good)
            kept.append(batch[good])
    if any(v > 0 for v in missing.values()):
        warnings.warn(
            f"could not reach targets with confidence >= {min_confidence}: short by {missing}",
            UserWarning,
            stacklevel=3,
        )
    return ad.concat(kept) if kept else model.sample(labels={}, seed=seed), rejected


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
    """Per label: median distance of synthetic cells to the closest real cell of that label, divided by
    the median distance of real cells to their closest other real cell (about 1 = new cells; near 0 =
    copies of real cells)."""
    real_log = log_normalize(counts_matrix)
    real_labels = adata.obs[labels_key].astype(str).to_numpy()
    synth_log = log_normalize(synthetic.X)
    synth_labels = synthetic.obs[labels_key].astype(str).to_numpy()
    ratios = {}
    for label in np.unique(synth_labels):
        real = real_log[real_labels == label]
        if len(real) < 2:
            continue
        d_synth = distance_to_closest_record(synth_log[synth_labels == label], real)
        d_real = distance_to_closest_record(real, real, exclude_self=True)
        ratios[str(label)] = float(np.median(d_synth) / max(np.median(d_real), 1e-12))
    return ratios


def _combine(
    adata: ad.AnnData,
    synthetic: ad.AnnData,
    layer: str | None,
    labels_key: str,
    info: dict[str, Any],
    rejected: dict[str, int],
    copies: dict[str, float],
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
    target = info["target"]
    out.uns["biogan_augment"] = {
        "model": info["model"],
        "seed": info["seed"],
        "target": target if isinstance(target, str) else dict(target),
        "added": {k: int(v) for k, v in info["added"].items()},
        "rejected": rejected,
        "copy_distance_ratio": copies,
        "x_holds": "counts"
        if layer is None
        else f"counts for synthetic cells (real cells keep their .X); layer {layer!r} holds counts for all",
    }
    return out
