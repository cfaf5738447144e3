"""What every count model's user-facing class shares: label requests, output AnnData, saved files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

import biogan
from biogan.errors import CheckpointError, InvalidDataError, UnknownLabelError


def training_codes(categories: Sequence[str], labels: np.ndarray, noun: str) -> np.ndarray:
    """The index in ``categories`` of every label (a model's classes), refusing labels it was not fit on."""
    lookup = {name: i for i, name in enumerate(categories)}
    unseen = sorted(set(labels.tolist()) - set(lookup))
    if unseen:
        raise UnknownLabelError(f"labels {unseen[:5]} were not in the {noun} this model was fit on")
    return np.array([lookup[v] for v in labels], dtype=np.int64)


def check_wgan_settings(config: Any) -> None:
    """The settings every conditional WGAN-GP model config shares: class sampling, validation share,
    penalty weight."""
    from biogan.data.samplers import CLASS_WEIGHTS

    if config.class_sampling not in CLASS_WEIGHTS:
        raise ValueError(f"class_sampling must be one of {CLASS_WEIGHTS}, not {config.class_sampling!r}")
    check_split_and_penalty(config)


def check_validation_share(share: float) -> None:
    """The share of training data a model holds out to validate on: in [0, 0.5)."""
    if not 0 <= share < 0.5:
        raise ValueError(f"validation_share must be in [0, 0.5), not {share}")


def check_split_and_penalty(config: Any) -> None:
    """The validation share and gradient-penalty weight of a WGAN-GP model config."""
    check_validation_share(config.validation_share)
    if config.gp_weight <= 0:
        raise ValueError("WGAN-GP needs gp_weight > 0")


def requested_codes(
    categories: Sequence[str],
    label_sizes: np.ndarray,
    n: int | None,
    labels: dict[str, int] | list[str] | None,
    seed: int,
) -> np.ndarray:
    """Class code of each cell to generate: ``labels`` as asked, else ``n`` in ``label_sizes`` ratios."""
    lookup = {name: i for i, name in enumerate(categories)}
    if labels is not None:
        items = labels.items() if isinstance(labels, dict) else [(lab, 1) for lab in labels]
        unknown = sorted({str(lab) for lab, _ in items if str(lab) not in lookup})
        if unknown:
            raise UnknownLabelError(f"the model never saw label(s) {unknown}; it knows {list(categories)}")
        if any(int(k) < 0 for _, k in items):
            raise InvalidDataError("label counts must be non-negative")
        parts = [np.full(int(k), lookup[str(lab)]) for lab, k in items]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, dtype=np.int64)
    if n is None or n < 0:
        raise InvalidDataError("give n (number of cells) or labels={label: count}")
    freqs = np.asarray(label_sizes, dtype=np.float64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(categories), size=n, p=freqs / freqs.sum())).astype(np.int64)


def requested_size(n: int | None, labels: dict[str, int] | list[str] | None) -> int:
    """How many samples a ``sample(n=..., labels=...)`` call asks for (before any is drawn), so memory
    can be checked first; malformed requests count 0 and are refused by :func:`requested_codes`."""
    if isinstance(labels, dict):
        try:
            return sum(max(int(k), 0) for k in labels.values())
        except (TypeError, ValueError):
            return 0
    if labels is not None:
        return len(labels)
    return max(int(n), 0) if isinstance(n, (int, np.integer)) else 0


def counts_anndata(
    chunks: list[sp.csr_matrix],
    codes: np.ndarray,
    categories: Sequence[str],
    labels_key: str | None,
    genes: Sequence[str],
    model: str,
    seed: int,
) -> ad.AnnData:
    """Generated counts as AnnData: ``.X`` and ``layers["counts"]``, labels in ``obs``, genes in ``var``."""
    from biogan.data.anndata import counts_anndata as build

    X = sp.vstack(chunks).tocsr() if chunks else sp.csr_matrix((0, len(genes)), dtype=np.float32)
    obs = synthetic_obs(codes, categories, labels_key)
    return build(X, obs, list(genes), like=None, counts_layer="counts", uns=sample_metadata(model, seed))


def synthetic_obs(codes: np.ndarray, categories: Sequence[str], labels_key: str | None) -> pd.DataFrame:
    """``obs`` of generated cells: names ``synthetic_<i>`` and the label column."""
    obs = pd.DataFrame(index=[f"synthetic_{i}" for i in range(len(codes))])
    obs[labels_key or "label"] = pd.Categorical.from_codes(codes, categories=list(categories))
    return obs


def sample_metadata(model: str, seed: int) -> dict[str, Any]:
    """What generated data record about their making (``uns["biogan"]``)."""
    return {"biogan": {"model": model, "seed": seed, "version": biogan.__version__}}


def read_metadata(path: Path, expected: str | None) -> dict[str, Any]:
    """The ``config.json`` of a saved model, checked to describe an ``expected`` model (any if ``None``)."""
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist: is {path.parent} a saved biogan model?")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{path} is corrupt ({err})") from None
    if not isinstance(meta, dict) or "model" not in meta:
        raise CheckpointError(f"{path} does not describe a saved {expected or 'biogan model'}")
    if expected is not None and meta.get("model") != expected:
        found = meta.get("model")
        raise CheckpointError(
            f"{path.parent} holds a saved {found}, and {expected}.load reads only {expected} folders; "
            f"use biogan.{found}.load or biogan.models.load_model"
        )
    return meta


def read_history(path: Path) -> pd.DataFrame:
    """The saved training history; empty when training was too short to log a row."""
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()
