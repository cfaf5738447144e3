"""The table metric set: synthetic rows of a mixed table judged against real rows.

Columns are *numeric* (compared as floats; missing values are left out) or *categorical* (text, category
and bool columns, and the label column; compared as text). Row-level metrics work on one feature
matrix: numeric columns standardised with the reference rows' mean and SD (a missing value sits at the
mean) and one-hot categories (the categories of every set compared, so value and control share one
encoding). :class:`TableMetrics` plugs these into :mod:`biogan.metrics.engine`, which adds the
real-vs-real control and the verdicts (``biogan.evaluate(real_frame, synthetic_frame)``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, wasserstein_distance
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score

from biogan.data.tables import clean_table
from biogan.data.validation import MIN_SAMPLES, check_no_missing_labels, check_not_continuous
from biogan.errors import InvalidDataError, UnknownLabelError
from biogan.metrics.compositions import (
    COMPOSITION_METRICS,
    CompositionPlan,
    compare_compositions,
    composition_plan,
)
from biogan.metrics.engine import (
    OVERALL,
    MetricInfo,
    PrivacyRow,
    c2st_info,
    dcr_info,
    dcr_privacy,
    per_label_c2st,
    register,
)
from biogan.metrics.two_sample import c2st_auc, correlation_gap

NUMERIC, CATEGORICAL = "numeric", "categorical"
MISSING = "<missing>"  # a missing category is a category of its own

TABLE_METRICS: dict[str, MetricInfo] = {
    "c2st_rf_auc": c2st_info(
        "Random forest told real from synthetic rows (AUROC on standardised numeric and one-hot "
        "categorical columns; 0.5 = indistinguishable)"
    ),
    "c2st_logistic_auc": c2st_info(
        "Logistic regression told real from synthetic rows (AUROC, same features; 0.5 = indistinguishable)"
    ),
    "column_ks": MetricInfo(
        "KS statistic of a numeric column's distribution (overall: mean over numeric columns)",
        "lower",
        0.1,
        0.25,
    ),
    "column_w1": MetricInfo(
        "Wasserstein-1 distance of a numeric column in real standard deviations (overall: mean)",
        "lower",
        1.0,
        2.0,
        True,
        0.05,
    ),
    "column_tvd": MetricInfo(
        "Total-variation distance of a categorical column's category shares (overall: mean)",
        "lower",
        0.05,
        0.15,
    ),
    "column_corr_diff": MetricInfo(
        "Mean |difference| of the column–column correlations (numeric columns and one-hot categories)",
        "lower",
        0.5,
        1.0,
        True,
        0.02,
    ),
    "ml_efficacy_f1": MetricInfo(
        "Machine-learning efficacy: macro-F1 on the real reference rows of a random forest trained on "
        "the synthetic rows to predict the label (control: trained on real rows)",
        "higher",
        0.05,
        0.15,
    ),
    "dcr_ratio": dcr_info("row"),
}
# The metric set also lists the composition metrics (rows only with the composition option), before
# the privacy row, which stays last.
TABLE_SET_METRICS: dict[str, MetricInfo] = {
    **{name: info for name, info in TABLE_METRICS.items() if name != "dcr_ratio"},
    **COMPOSITION_METRICS,
    "dcr_ratio": TABLE_METRICS["dcr_ratio"],
}


# ---------------------------------------------------------------------------------------- inputs
class Table:
    """One set of rows: numeric columns as float (NaN = missing), categorical ones as text; labels."""

    def __init__(
        self,
        frame: pd.DataFrame,
        kinds: dict[Hashable, str],
        labels_key: Hashable | None = None,
        labels: np.ndarray | None = None,
    ) -> None:
        self.frame = frame
        self.kinds = kinds
        self.labels_key = labels_key
        self.labels = labels

    def subset(self, index: np.ndarray) -> Table:
        labels = None if self.labels is None else self.labels[index]
        return Table(self.frame.iloc[index], self.kinds, self.labels_key, labels)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def columns(self) -> list[Hashable]:
        return list(self.frame.columns)

    @property
    def numeric(self) -> list[Hashable]:
        return [c for c in self.frame.columns if self.kinds[c] == NUMERIC]

    @property
    def categorical(self) -> list[Hashable]:
        return [c for c in self.frame.columns if self.kinds[c] == CATEGORICAL]


def table_from(
    data: pd.DataFrame, what: str, labels_key: Hashable | None = None, like: Table | None = None
) -> Table:
    """Validated rows of one input, with ``like``'s columns (reordered) and column kinds when given.

    Raises
    ------
    InvalidDataError
        Not a DataFrame, empty, infinite values, numbers mixed with text, other columns than ``like``,
        or missing or continuous labels.
    UnknownLabelError
        ``labels_key`` is not a column.
    """
    if not isinstance(data, pd.DataFrame):
        raise InvalidDataError(f"the {what} data is a {type(data).__name__}, not a table (pandas DataFrame)")
    if data.columns.duplicated().any():
        twice = list(dict.fromkeys(data.columns[data.columns.duplicated()]))
        raise InvalidDataError(f"the {what} table has duplicated column names: {twice[:5]}")
    if labels_key is not None and labels_key not in data.columns:
        have = ", ".join(map(str, data.columns[:20]))
        raise UnknownLabelError(f"the {what} table has no column {labels_key!r} (columns: {have})")
    if labels_key is not None:
        check_no_missing_labels(data[labels_key], labels_key, "row")
        check_not_continuous(data[labels_key], labels_key)
    if like is not None:
        data = _same_columns(data, what, like)
        declared = like.categorical
    else:
        declared = [labels_key] if labels_key is not None else []
    clean = clean_table(data, declared)
    kinds = {c: CATEGORICAL if clean[c].dtype == object else NUMERIC for c in clean.columns}
    if like is not None:
        wrong = [c for c in like.numeric if kinds[c] != NUMERIC]
        if wrong:
            raise InvalidDataError(
                f"column(s) {wrong[:3]} are numeric in the real table but hold text in the {what} table"
            )
        kinds = like.kinds
    for column in clean.columns:
        if kinds[column] == CATEGORICAL:  # compared as text: 1 and "1" are one category
            clean[column] = [MISSING if v is None else str(v) for v in clean[column]]
    labels = None if labels_key is None else clean[labels_key].to_numpy(dtype=str)
    return Table(clean, kinds, labels_key, labels)


def _same_columns(data: pd.DataFrame, what: str, like: Table) -> pd.DataFrame:
    have = set(data.columns)
    missing = [c for c in like.columns if c not in have]
    extra = [c for c in data.columns if c not in set(like.columns)]
    if missing or extra:
        raise InvalidDataError(
            f"the {what} table has other columns than the real table ({len(missing)} missing, e.g. "
            f"{missing[:3]}; {len(extra)} extra, e.g. {extra[:3]}); select the same columns first"
        )
    return data[like.columns]


# ---------------------------------------------------------------------------------------- encoding
@dataclass
class TableEncoding:
    """Standardised numeric columns and one-hot categories: one feature matrix for every set."""

    numeric: list[Hashable]
    mean: np.ndarray
    scale: np.ndarray
    categories: dict[Hashable, list[str]]

    @classmethod
    def fit(cls, ref: Table, others: Sequence[Table] = ()) -> TableEncoding:
        """Mean and SD from ``ref``; categories from ``ref`` and ``others`` together."""
        values = ref.frame[ref.numeric].astype(float)
        mean = np.nan_to_num(values.mean().to_numpy(dtype=float))
        scale = values.std(ddof=0).to_numpy(dtype=float)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)  # a constant column keeps its unit
        categories = {
            c: sorted(set().union(*(set(t.frame[c]) for t in (ref, *others)))) for c in ref.categorical
        }
        return cls(ref.numeric, mean, scale, categories)

    def standardised(self, table: Table, column: Hashable) -> np.ndarray:
        """The present values of one numeric column, in reference standard deviations from its mean."""
        j = self.numeric.index(column)
        values = table.frame[column].to_numpy(dtype=float)
        return (values[~np.isnan(values)] - self.mean[j]) / self.scale[j]

    def features(self, table: Table, drop: Sequence[Hashable] = ()) -> np.ndarray:
        """Rows as standardised numeric columns (missing = 0, the mean) and one-hot categories."""
        keep = [j for j, c in enumerate(self.numeric) if c not in drop]
        numeric = table.frame[[self.numeric[j] for j in keep]].to_numpy(dtype=float)
        blocks = [np.nan_to_num((numeric - self.mean[keep]) / self.scale[keep])]
        for column, cats in self.categories.items():
            if column not in drop:
                values = table.frame[column].to_numpy(dtype=object)
                blocks.append((values[:, None] == np.asarray(cats, dtype=object)[None, :]).astype(float))
        return np.hstack(blocks) if blocks else np.zeros((len(table), 0))

    def feature_names(self, drop: Sequence[Hashable] = ()) -> list[str]:
        """Names of the columns of :meth:`features` (``column=category`` for one-hot columns)."""
        names = [str(c) for c in self.numeric if c not in drop]
        for column, cats in self.categories.items():
            if column not in drop:
                names += [f"{column}={cat}" for cat in cats]
        return names


# ---------------------------------------------------------------------------------------- metrics
def total_variation(a: pd.Series | np.ndarray, b: pd.Series | np.ndarray) -> float:
    """Total-variation distance ``½ Σ |p_a - p_b|`` between the category shares of two columns."""
    pa = pd.Series(np.asarray(a)).value_counts(normalize=True)
    pb = pd.Series(np.asarray(b)).value_counts(normalize=True)
    both = pa.index.union(pb.index)
    return float(0.5 * np.abs(pa.reindex(both, fill_value=0) - pb.reindex(both, fill_value=0)).sum())


def column_distances(ref: Table, other: Table, encoding: TableEncoding) -> dict[tuple[str, str], float]:
    """KS and Wasserstein-1 of every numeric column, TVD of every categorical one, and their means."""
    out: dict[tuple[str, str], float] = {}
    for column in ref.numeric:
        a, b = encoding.standardised(ref, column), encoding.standardised(other, column)
        present = len(a) > 0 and len(b) > 0
        out[("column_ks", str(column))] = float(ks_2samp(a, b).statistic) if present else float("nan")
        out[("column_w1", str(column))] = float(wasserstein_distance(a, b)) if present else float("nan")
    for column in ref.categorical:
        out[("column_tvd", str(column))] = total_variation(ref.frame[column], other.frame[column])
    for metric in ("column_ks", "column_w1", "column_tvd"):
        values = [v for (m, _), v in out.items() if m == metric and np.isfinite(v)]
        if values:
            out[(metric, OVERALL)] = float(np.mean(values))
    return out


def ml_efficacy(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, seed: int = 0
) -> float:
    """Macro-F1 (over the test labels) of a random forest fit on ``train_*`` and scored on ``test_*``."""
    if train_x.shape[1] == 0:
        return float("nan")
    model = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1).fit(train_x, train_y)
    labels = sorted(set(test_y))
    return float(f1_score(test_y, model.predict(test_x), labels=labels, average="macro", zero_division=0))


# ---------------------------------------------------------------------------------------- one pair
@dataclass
class TablePlan:
    """What both comparisons share, so value and control are computed the same way."""

    encoding: TableEncoding
    seed: int
    labels_key: Hashable | None
    label_sizes: dict[str, int]
    composition: CompositionPlan | None = None


def _compare(ref: Table, other: Table, plan: TablePlan) -> dict[tuple[str, str], float]:
    """Every table metric for one (reference, other) pair of equal-size sets."""
    xa, xb = plan.encoding.features(ref), plan.encoding.features(other)
    out = {
        ("c2st_rf_auc", OVERALL): c2st_auc(xa, xb, "rf", seed=plan.seed),
        ("c2st_logistic_auc", OVERALL): c2st_auc(xa, xb, "logistic", seed=plan.seed),
    }
    out.update(column_distances(ref, other, plan.encoding))
    if xa.shape[1] >= 2:
        out[("column_corr_diff", OVERALL)] = correlation_gap(xa, xb)
    if ref.labels is not None and other.labels is not None:
        drop = [plan.labels_key]  # the label is the target, not a feature
        fa, fb = plan.encoding.features(ref, drop), plan.encoding.features(other, drop)
        out[("ml_efficacy_f1", OVERALL)] = ml_efficacy(fb, other.labels, fa, ref.labels, plan.seed)
        out.update(per_label_c2st(xa, ref.labels, xb, other.labels, plan.label_sizes, plan.seed))
    if plan.composition is not None:
        out.update(compare_compositions(ref.frame, other.frame, plan.composition))
    return out


# ---------------------------------------------------------------------------------------- metric set
class TableMetrics:
    """The engine's metric set for tables (pandas DataFrames with numeric and categorical columns).

    Options of :func:`biogan.evaluate` for tables: ``max_rows`` (each set is subsampled to at most this
    many rows); ``composition``: groups of columns that are parts of a whole (``None``; a list of column
    names = one group; a list of lists or a dict name -> columns = several groups; ``"all-numeric"`` =
    every numeric column but the label and the conditions), which adds the composition metrics of
    :mod:`biogan.metrics.compositions`; ``conditions``: numeric columns (e.g. age) whose relation to
    every part ``condition_curve_gap`` compares. With ``labels_key`` the label column is also the target
    of ``ml_efficacy_f1`` and scopes the per-label C2ST rows (labels with at least 15 rows).
    """

    name = "table"
    noun = "row"
    metrics = TABLE_SET_METRICS
    defaults: Mapping[str, Any] = {"max_rows": 3000, "composition": None, "conditions": None}
    size_option = "max_rows"
    min_size = MIN_SAMPLES

    def prepare(
        self, data: pd.DataFrame, what: str, labels_key: Hashable | None = None, like: Table | None = None
    ) -> Table:
        """:func:`table_from`."""
        return table_from(data, what, labels_key, like)

    def plan(
        self,
        ref: Table,
        others: Sequence[Table],
        label_sizes: dict[str, int],
        seed: int,
        options: Mapping[str, Any],
    ) -> TablePlan:
        """The shared encoding and, with the composition options, the checked composition groups."""
        composition = composition_plan(
            options.get("composition"),
            options.get("conditions"),
            ref.frame,
            [other.frame for other in others],
            ref.numeric,
            ref.labels_key,
            seed,
        )
        return TablePlan(TableEncoding.fit(ref, others), seed, ref.labels_key, label_sizes, composition)

    def compare(self, ref: Table, other: Table, plan: TablePlan) -> dict[tuple[str, str], float]:
        return _compare(ref, other, plan)

    def privacy(self, real: Table, synthetic: Table, train: Table | None, seed: int) -> list[PrivacyRow]:
        """DCR on the standardised + one-hot rows (:func:`biogan.metrics.engine.dcr_privacy`)."""
        sets = [synthetic] if train is None else [synthetic, train]
        encoding = TableEncoding.fit(real, sets)
        train_x = None if train is None else encoding.features(train)
        return [dcr_privacy(encoding.features(real), encoding.features(synthetic), train_x, seed, self.noun)]


TABLES = register(TableMetrics())

__all__ = [
    "TABLES",
    "TABLE_METRICS",
    "TABLE_SET_METRICS",
    "Table",
    "TableEncoding",
    "TableMetrics",
    "TablePlan",
    "column_distances",
    "ml_efficacy",
    "table_from",
    "total_variation",
]
