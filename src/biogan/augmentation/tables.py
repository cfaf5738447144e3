"""Augment tables (clinical cohorts, phenotype tables): synthetic rows from a :class:`TabularGAN`.

Real rows are returned unchanged (values, dtypes, index); synthetic rows follow them with the column
``biogan_synthetic`` set to ``True``, and ``DataFrame.attrs["biogan_augment"]`` records the provenance.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from biogan.augmentation._shared import (
    SYNTHETIC_KEY,
    check_request,
    copy_ratios,
    record,
    sample_confidently,
    warn_if_copies,
)
from biogan.data.validation import check_memory, table_sample_bytes
from biogan.errors import InvalidDataError, UnknownLabelError
from biogan.models.tabular import TabularGAN


def augment_table(
    table: pd.DataFrame,
    labels_key: Hashable,
    target: str | Mapping[str, int] = "balanced",
    model: TabularGAN | None = None,
    categorical_features: Sequence[Hashable] = (),
    seed: int = 0,
    max_steps: int = 3000,
    min_confidence: float | None = None,
    device: str = "auto",
    force: bool = False,
) -> pd.DataFrame:
    """Append synthetic rows so labels reach ``target``; real rows are returned unchanged.

    Parameters
    ----------
    table
        One row per sample, no missing values, the class in column ``labels_key``.
    labels_key
        The label column to balance.
    target
        See :func:`~biogan.augmentation.samples_to_add` (labels written as text, e.g. ``"1=300"``).
    model
        A :class:`TabularGAN` fitted on the same columns; ``None`` trains one on ``table``.
    categorical_features
        Extra categorical columns when training a model (text/category/bool columns are inferred).
    seed, max_steps, device
        Seed of training and sampling, training length, device.
    min_confidence
        If set, keep only synthetic rows that a logistic regression trained on the real rows assigns to
        their intended label with at least this probability (rejections are reported).
    force
        Allow labels to grow beyond 10x the largest real label (the memory check still applies).

    Returns
    -------
    DataFrame
        The real rows followed by the synthetic ones, column ``biogan_synthetic`` marking the latter and
        ``attrs["biogan_augment"]`` recording model, seed, targets, rejections and the copy check.
    """
    if not isinstance(table, pd.DataFrame):
        raise InvalidDataError(f"expected a pandas DataFrame, not {type(table).__name__}")
    if labels_key not in table.columns:
        raise UnknownLabelError(
            f"label column {labels_key!r} is not in the table: {list(table.columns)[:10]}"
        )
    if SYNTHETIC_KEY in table.columns:
        raise InvalidDataError(f"the table already has a {SYNTHETIC_KEY!r} column: it was augmented before")
    _, to_add = check_request(table[labels_key], labels_key, target, "row", force)
    n_new = sum(to_add.values()) * (1 if min_confidence is None else 2)
    check_memory(
        table_sample_bytes(len(table) + n_new, table.shape[1]),
        f"adding {n_new} rows to a table of {len(table)} rows x {table.shape[1]} columns",
        "ask for a smaller target",
    )
    if model is None:
        model = TabularGAN(seed=seed, device=device)
        model.fit(table, labels_key, categorical_features, max_steps=max_steps, progress=False)
    _check_model(model, table, labels_key)
    features = _FeatureMatrix(table, labels_key)
    synthetic, rejected = _generate(model, features, table, labels_key, to_add, seed, min_confidence)
    copies = copy_ratios(
        features.transform(table),
        table[labels_key].astype(str).to_numpy(),
        features.transform(synthetic),
        synthetic[labels_key].astype(str).to_numpy(),
    )
    warn_if_copies(copies, "rows")
    out = _combine(table, synthetic)
    out.attrs["biogan_augment"] = {
        **record(model, seed, target, to_add),
        "rejected": rejected,
        "copy_distance_ratio": copies,
    }
    return out


def _check_model(model: TabularGAN, table: pd.DataFrame, labels_key: Hashable) -> None:
    if list(model.columns) != list(table.columns) or model.labels_key != labels_key:
        raise InvalidDataError(
            f"the model was fit on columns {model.columns[:8]} with labels {model.labels_key!r}; "
            f"the table has {list(table.columns)[:8]} and labels {labels_key!r}"
        )
    missing = sorted(set(table[labels_key].astype(str)) - {str(c) for c in model.categories})
    if missing:
        raise UnknownLabelError(f"the model never saw labels {missing}; it knows {model.categories}")


class _FeatureMatrix:
    """Standardised numeric columns + one-hot categories: the space for classifiers and distances."""

    def __init__(self, table: pd.DataFrame, labels_key: Hashable) -> None:
        self.labels_key = labels_key
        self.columns = _dummies(table.drop(columns=[labels_key])).columns
        self.scaler = StandardScaler().fit(self._raw(table))

    def _raw(self, table: pd.DataFrame) -> np.ndarray:
        dummies = _dummies(table.drop(columns=[self.labels_key]))
        return dummies.reindex(columns=self.columns, fill_value=0).to_numpy(np.float64)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        return self.scaler.transform(self._raw(table))


def _dummies(frame: pd.DataFrame) -> pd.DataFrame:
    categorical = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    bools = [c for c in frame.columns if pd.api.types.is_bool_dtype(frame[c])]
    return pd.get_dummies(frame, columns=sorted({*categorical, *bools}, key=str), dtype=float)


def _generate(
    model: TabularGAN,
    features: _FeatureMatrix,
    table: pd.DataFrame,
    labels_key: Hashable,
    to_add: dict[str, int],
    seed: int,
    min_confidence: float | None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Sample ``to_add``; with ``min_confidence``, only rows a classifier assigns to their label."""
    if min_confidence is None:
        return model.sample(labels=to_add, seed=seed), {}
    labels = table[labels_key].astype(str).to_numpy()
    clf = LogisticRegression(max_iter=2000).fit(features.transform(table), labels)
    classes = list(clf.classes_)

    def sample(want: dict[str, int], round_seed: int) -> tuple[pd.DataFrame, np.ndarray]:
        rows = model.sample(labels=want, seed=round_seed)
        return rows, rows[labels_key].astype(str).to_numpy()

    def confidence(rows: pd.DataFrame, wanted: np.ndarray) -> np.ndarray:
        proba = clf.predict_proba(features.transform(rows))
        return proba[np.arange(len(wanted)), [classes.index(w) for w in wanted]]

    kept, rejected = sample_confidently(sample, confidence, to_add, seed, min_confidence)
    parts = [rows.iloc[idx] for rows, idx in kept]
    return (pd.concat(parts) if parts else model.sample(labels={}, seed=seed)), rejected


def _combine(table: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """Real rows (untouched) then synthetic rows in the real columns' dtypes, flagged."""
    synthetic = synthetic[list(table.columns)].astype(table.dtypes.to_dict())
    if isinstance(table.index, pd.RangeIndex) and table.index.step == 1:
        start = table.index.stop
        synthetic.index = pd.RangeIndex(start, start + len(synthetic))
    else:
        synthetic.index = [f"biogan_synthetic_{i}" for i in range(len(synthetic))]
    real = table.assign(**{SYNTHETIC_KEY: False})
    return pd.concat([real, synthetic.assign(**{SYNTHETIC_KEY: True})])
