"""Composition metrics: groups of columns that are parts of a whole, compared in log-ratio geometry.

A *composition group* is a set of non-negative columns whose rows sum to a constant (a white-cell
differential in %, cell-type fractions, relative abundances) or to a per-row total (raw genus counts).
Only the ratios between parts carry information, so every function first *closes* the rows to
proportions (divides by the row sum) and the two-sample tests work in centred log-ratio (CLR,
Aitchison) space. Every function takes the reference (real) part matrix first and the other one second
(rows x parts); :func:`compare_compositions` turns them into the ``{(metric, scope): value}`` rows of
the table metric set (:mod:`biogan.metrics.tables`), computed alike for the value and the control.

Pseudo-count rule: zeros have no logarithm, so before the CLR a pseudo-count of **half the smallest
non-zero proportion of the reference (real) rows of the group** is added to every proportion of both
sets (:func:`pseudo_count`). It comes from the reference alone, so the value and the control (which
share the reference) use the same one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import entr
from scipy.stats import ks_2samp

from biogan.errors import InvalidDataError
from biogan.metrics.engine import OVERALL, MetricInfo, c2st_info
from biogan.metrics.two_sample import c2st_auc, joint_pca, mmd_rbf

ALL_NUMERIC = "all-numeric"  # composition option: every numeric non-label column is one group
MAX_CLR_DIMS = 50  # larger groups are compared on this many principal components of their CLR
EPS = 1e-6  # one part per million: keeps parts absent from both sets at a gap of 0
N_BINS = 10  # condition bins: deciles of the reference's condition values
MIN_BIN_ROWS = 5  # a condition bin with fewer rows in either set is left out
MAX_PAIRS = 5000  # Bray–Curtis pairs drawn per set

COMPOSITION_METRICS: dict[str, MetricInfo] = {
    "clr_c2st_rf_auc": c2st_info(
        "Random forest told real from synthetic compositions in CLR space (centred log-ratios after "
        "the pseudo-count; first 50 PCs for groups of more than 50 parts); AUROC, 0.5 = indistinguishable"
    ),
    "clr_mmd2": MetricInfo(
        "Multi-scale RBF maximum mean discrepancy (MMD²) of the compositions in CLR space",
        "lower",
        1.0,
        3.0,
        True,
        0.005,
    ),
    "part_mean_gap": MetricInfo(
        "|difference| of a part's mean proportion in pooled standard deviations (a standardised mean "
        "difference; group: mean over parts)",
        "lower",
        0.1,
        0.25,
    ),
    "part_var_gap": MetricInfo(
        "|log ratio| of a part's standard deviations of proportions, |ln(SD_synth / SD_real)| "
        "(group: mean over parts)",
        "lower",
        0.1,
        0.25,
    ),
    "part_zero_gap": MetricInfo(
        "|difference| of a part's share of rows where it is exactly zero (group: mean over parts)",
        "lower",
        0.05,
        0.15,
    ),
    "shannon_ks": MetricInfo(
        "KS statistic of the per-row Shannon diversity of the parts (alpha diversity)", "lower", 0.1, 0.25
    ),
    "bray_curtis_ks": MetricInfo(
        "KS statistic of the Bray–Curtis distances between random pairs of rows within each set "
        "(beta diversity)",
        "lower",
        0.1,
        0.25,
    ),
    "condition_curve_gap": MetricInfo(
        "Mean |difference| of a part's mean proportion in deciles of a condition column, in the part's "
        "real standard deviation (group: mean over parts and conditions)",
        "lower",
        0.5,
        1.0,
        True,
        0.05,
    ),
}


# ---------------------------------------------------------------------------------------- geometry
def closure(parts: np.ndarray) -> np.ndarray:
    """Rows divided by their sums: proportions that sum to 1 (rows must have a positive sum)."""
    parts = np.asarray(parts, dtype=float)
    return parts / parts.sum(axis=1, keepdims=True)


def pseudo_count(reference: np.ndarray) -> float:
    """Half the smallest non-zero proportion of the ``reference`` rows (closed first).

    The one pseudo-count of a group, added to the proportions of every set before a log-ratio: small
    enough to keep the order of the observed proportions, tied to the resolution of the real data.
    """
    props = closure(reference)
    return 0.5 * float(props[props > 0].min())


def clr(props: np.ndarray, pseudo: float) -> np.ndarray:
    """Centred log-ratio of the closed rows of ``props`` after adding ``pseudo`` to every proportion.

    ``pseudo`` follows the rule of :func:`pseudo_count`: half the smallest non-zero proportion of the
    reference (real) set of the group, the same for every set compared.
    """
    logs = np.log(closure(props) + pseudo)
    return logs - logs.mean(axis=1, keepdims=True)


def clr_features(a: np.ndarray, b: np.ndarray, pseudo: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """CLR of both sets; for more than :data:`MAX_CLR_DIMS` parts their first PCs, fit on the union."""
    ca, cb = clr(a, pseudo), clr(b, pseudo)
    if ca.shape[1] > MAX_CLR_DIMS:
        return joint_pca(ca, cb, MAX_CLR_DIMS, seed)
    return ca, cb


def clr_c2st(a: np.ndarray, b: np.ndarray, pseudo: float, seed: int = 0) -> float:
    """Random-forest C2ST AUROC (:func:`~biogan.metrics.two_sample.c2st_auc`) in CLR space."""
    xa, xb = clr_features(a, b, pseudo, seed)
    return c2st_auc(xa, xb, "rf", seed=seed)


def clr_mmd2(a: np.ndarray, b: np.ndarray, pseudo: float, seed: int = 0) -> float:
    """Unbiased multi-scale RBF MMD² (:func:`~biogan.metrics.two_sample.mmd_rbf`) in CLR space."""
    xa, xb = clr_features(a, b, pseudo, seed)
    with np.errstate(divide="ignore", invalid="ignore"):  # every row identical: no bandwidth
        value = mmd_rbf(xa, xb)
    return value if np.isfinite(value) else float("nan")


# ---------------------------------------------------------------------------------------- per part
def part_mean_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per part ``|mean_a - mean_b| / (pooled SD + EPS)`` of the proportions (a standardised mean
    difference: tiny parts are judged against their own spread, not against 1)."""
    pa, pb = closure(a), closure(b)
    pooled = np.sqrt((pa.var(axis=0) + pb.var(axis=0)) / 2)
    return np.abs(pa.mean(axis=0) - pb.mean(axis=0)) / (pooled + EPS)


def part_var_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per part ``|ln((SD_b + EPS) / (SD_a + EPS))|`` of the proportions: a scale-free spread ratio."""
    pa, pb = closure(a), closure(b)
    return np.abs(np.log((pb.std(axis=0) + EPS) / (pa.std(axis=0) + EPS)))


def part_zero_gaps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per part ``|difference|`` of the shares of rows where the part is exactly zero."""
    return np.abs((np.asarray(a) == 0).mean(axis=0) - (np.asarray(b) == 0).mean(axis=0))


# ---------------------------------------------------------------------------------------- diversity
def shannon(props: np.ndarray) -> np.ndarray:
    """Shannon diversity ``-Σ p ln p`` of every closed row (natural log; ``0 ln 0 = 0``)."""
    return entr(closure(props)).sum(axis=1)


def shannon_ks(a: np.ndarray, b: np.ndarray) -> float:
    """KS statistic between the per-row Shannon diversities of ``a`` and ``b`` (alpha diversity)."""
    return float(ks_2samp(shannon(a), shannon(b), method="asymp").statistic)  # no exact p-value needed


def bray_curtis_pairs(props: np.ndarray, n_pairs: int, rng: np.random.Generator) -> np.ndarray:
    """Bray–Curtis distances ``½ Σ |p_i - p_j|`` of ``n_pairs`` random pairs of distinct closed rows."""
    p = closure(props)
    i = rng.integers(len(p), size=n_pairs)
    j = (i + rng.integers(1, len(p), size=n_pairs)) % len(p)  # never i itself
    return 0.5 * np.abs(p[i] - p[j]).sum(axis=1)


def bray_curtis_ks(a: np.ndarray, b: np.ndarray, seed: int = 0) -> float:
    """KS statistic between within-set Bray–Curtis distances of random row pairs (beta diversity).

    Each set gets ``min(MAX_PAIRS, 2 x rows)`` pairs; one seed draws the same reference pairs for the
    value and the control.
    """
    rng = np.random.default_rng(seed)
    n_pairs = min(MAX_PAIRS, 2 * max(len(a), len(b)))
    da, db = bray_curtis_pairs(a, n_pairs, rng), bray_curtis_pairs(b, n_pairs, rng)
    return float(ks_2samp(da, db, method="asymp").statistic)


# ---------------------------------------------------------------------------------------- conditions
def condition_edges(condition: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """Inner bin edges at the quantiles (deciles by default) of the present ``condition`` values."""
    present = condition[np.isfinite(condition)]
    return np.unique(np.quantile(present, np.linspace(0, 1, n_bins + 1)[1:-1]))


def binned_means(
    props: np.ndarray, condition: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean proportion of every part in every condition bin (bins x parts; NaN when empty) and the
    rows per bin; rows with a missing condition are left out."""
    present = np.isfinite(condition)
    p, index = closure(props)[present], np.searchsorted(edges, condition[present], side="right")
    rows = np.bincount(index, minlength=len(edges) + 1)
    sums = np.zeros((len(edges) + 1, p.shape[1]))
    np.add.at(sums, index, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / rows[:, None], rows


def condition_gaps(
    a: np.ndarray, condition_a: np.ndarray, b: np.ndarray, condition_b: np.ndarray
) -> np.ndarray:
    """Per part: mean over condition bins of ``|binned mean_a - binned mean_b|`` / SD of the part in ``a``.

    Bins are the deciles of ``condition_a`` (the reference); bins with fewer than :data:`MIN_BIN_ROWS`
    rows in either set are dropped. A part constant in ``a`` (SD 0) or no usable bin gives NaN.
    """
    n_parts = np.asarray(a).shape[1]
    if not np.isfinite(condition_a).any():
        return np.full(n_parts, np.nan)
    edges = condition_edges(condition_a)
    mean_a, rows_a = binned_means(a, condition_a, edges)
    mean_b, rows_b = binned_means(b, condition_b, edges)
    keep = (rows_a >= MIN_BIN_ROWS) & (rows_b >= MIN_BIN_ROWS)
    sd = closure(a).std(axis=0)
    if not keep.any():
        return np.full(n_parts, np.nan)
    gaps = np.abs(mean_a[keep] - mean_b[keep]).mean(axis=0)
    return np.where(sd > 0, gaps / np.where(sd > 0, sd, 1.0), np.nan)


# ---------------------------------------------------------------------------------------- options
def resolve_conditions(
    spec: Any, columns: Sequence[Hashable], numeric: Sequence[Hashable], labels_key: Hashable | None
) -> list[Hashable]:
    """The condition columns of the ``conditions`` option (``None``, a column name or a list of them).

    Raises
    ------
    InvalidDataError
        An unknown, non-numeric or label column.
    """
    if spec is None:
        return []
    names = [spec] if isinstance(spec, str) or not _is_group(spec, columns) else list(spec)
    _check_known(names, columns, "conditions")
    if labels_key in names:
        raise InvalidDataError(f"conditions: {labels_key!r} is the label column; name a numeric column")
    text = [c for c in names if c not in set(numeric)]
    if text:
        raise InvalidDataError(
            f"conditions: column(s) {text[:3]} hold text or categories; a condition must be numeric "
            "(e.g. age in years): encode it as numbers or leave it out"
        )
    return list(dict.fromkeys(names))


def resolve_groups(
    spec: Any,
    columns: Sequence[Hashable],
    numeric: Sequence[Hashable],
    labels_key: Hashable | None = None,
    conditions: Sequence[Hashable] = (),
) -> dict[str, list[Hashable]]:
    """Group name -> part columns, from the ``composition`` option.

    ``spec`` is ``None`` (no groups), a list of column names (one group, ``"group 1"``), a list of such
    lists (``"group 1"``, ``"group 2"``, ...), a mapping name -> columns, or :data:`ALL_NUMERIC` (every
    numeric column that is neither the label nor a condition).

    Raises
    ------
    InvalidDataError
        An unreadable option, unknown, non-numeric, label or condition columns, a group of fewer than two
        parts, a column in two groups, or a group named like a column.
    """
    if spec is None or (not isinstance(spec, str) and len(spec) == 0):
        return {}
    if isinstance(spec, str) and spec == ALL_NUMERIC:
        spec = [c for c in numeric if c != labels_key and c not in set(conditions)]
    groups = _named_groups(spec, columns)
    for name, parts in groups.items():
        _check_group(name, parts, columns, numeric, labels_key, conditions)
    _check_disjoint(groups, columns)
    return groups


def _is_group(value: Any, columns: Sequence[Hashable]) -> bool:
    """A list of column names (not a tuple that names a column of a MultiIndex-like table)."""
    if isinstance(value, tuple):
        return value not in set(columns)
    return isinstance(value, (list, set, pd.Index, np.ndarray))


def _named_groups(spec: Any, columns: Sequence[Hashable]) -> dict[str, list[Hashable]]:
    if isinstance(spec, Mapping):
        return {str(name): list(parts) for name, parts in spec.items()}
    if isinstance(spec, str) or not _is_group(spec, columns):
        raise InvalidDataError(
            f"composition={spec!r} is not a list of column names: give a list (one group), a list of "
            f"lists or a dict name -> columns (several groups), or {ALL_NUMERIC!r}"
        )
    items = list(spec)
    nested = [_is_group(item, columns) for item in items]
    if any(nested) and not all(nested):
        raise InvalidDataError(
            "composition mixes column names and lists of them: give one list of columns (one group) or "
            "a list of lists (several groups)"
        )
    if items and all(nested):
        return {f"group {i}": list(parts) for i, parts in enumerate(items, 1)}
    return {"group 1": items}


def _check_known(names: Sequence[Hashable], columns: Sequence[Hashable], option: str) -> None:
    unknown = [c for c in names if c not in set(columns)]
    if unknown:
        have = ", ".join(map(str, list(columns)[:20]))
        raise InvalidDataError(
            f"{option}: column(s) {unknown[:5]} are not in the table (columns: {have}); name columns "
            "of the table"
        )


def _check_group(
    name: str,
    parts: Sequence[Hashable],
    columns: Sequence[Hashable],
    numeric: Sequence[Hashable],
    labels_key: Hashable | None,
    conditions: Sequence[Hashable],
) -> None:
    what = f"composition group {name!r}"
    _check_known(parts, columns, what)
    if len(set(parts)) < 2:
        raise InvalidDataError(f"{what} has {len(set(parts))} part(s); a composition needs at least two")
    if len(set(parts)) < len(parts):
        raise InvalidDataError(f"{what} names a column twice; name each part once")
    if labels_key in parts:
        raise InvalidDataError(f"{what} holds the label column {labels_key!r}; leave it out of the group")
    both = [c for c in parts if c in set(conditions)]
    if both:
        raise InvalidDataError(
            f"{what} holds condition column(s) {both[:3]}; a column is a part or a condition, not both"
        )
    text = [c for c in parts if c not in set(numeric)]
    if text:
        raise InvalidDataError(
            f"{what}: column(s) {text[:3]} hold text or categories; parts must be numeric amounts "
            "(counts, proportions or percentages)"
        )


def _check_disjoint(groups: Mapping[str, Sequence[Hashable]], columns: Sequence[Hashable]) -> None:
    seen: dict[Hashable, str] = {}
    for name, parts in groups.items():
        if name in {str(c) for c in columns}:
            raise InvalidDataError(f"composition group {name!r} is named like a column; rename the group")
        for part in parts:
            if part in seen:
                raise InvalidDataError(
                    f"column {part!r} is in composition groups {seen[part]!r} and {name!r}; a part "
                    "belongs to one whole"
                )
            seen[part] = name


def check_parts(frame: pd.DataFrame, groups: Mapping[str, Sequence[Hashable]], what: str) -> None:
    """Refuse missing or negative parts and rows whose parts sum to zero (``what`` names the rows).

    Raises
    ------
    InvalidDataError
        Naming the column or the first bad row and how to fix it.
    """
    for name, parts in groups.items():
        values = frame[list(parts)].to_numpy(dtype=float)
        missing = np.isnan(values).any(axis=0)
        if missing.any():
            raise InvalidDataError(
                f"composition column(s) {list(np.asarray(parts, dtype=object)[missing][:3])} of the {what} "
                "have missing values; fill absent parts with 0"
            )
        negative = (values < 0).any(axis=0)
        if negative.any():
            raise InvalidDataError(
                f"composition column(s) {list(np.asarray(parts, dtype=object)[negative][:3])} of the {what} "
                "have negative values; parts are amounts (counts, proportions or percentages)"
            )
        empty = values.sum(axis=1) <= 0
        if empty.any():
            raise InvalidDataError(
                f"{int(empty.sum())} of the {what} have all parts of composition group {name!r} at 0 (e.g. "
                f"row {frame.index[empty].tolist()[0]!r}); drop those rows, they have no composition"
            )


# ---------------------------------------------------------------------------------------- comparison
def composition_columns(
    composition: Any,
    conditions: Any,
    columns: Sequence[Hashable],
    numeric: Sequence[Hashable],
    labels_key: Hashable | None = None,
) -> tuple[dict[str, list[Hashable]], list[Hashable]]:
    """The groups (:func:`resolve_groups`) and condition columns (:func:`resolve_conditions`) of the
    ``composition`` and ``conditions`` options.

    Raises
    ------
    InvalidDataError
        A bad option, or conditions without composition groups.
    """
    condition_columns = resolve_conditions(conditions, columns, numeric, labels_key)
    groups = resolve_groups(composition, columns, numeric, labels_key, condition_columns)
    if condition_columns and not groups:
        raise InvalidDataError("conditions relate composition parts to a column: give composition=[...] too")
    return groups, condition_columns


def composition_plan(
    composition: Any,
    conditions: Any,
    ref: pd.DataFrame,
    others: Sequence[pd.DataFrame],
    numeric: Sequence[Hashable],
    labels_key: Hashable | None = None,
    seed: int = 0,
) -> CompositionPlan | None:
    """The plan of the ``composition`` and ``conditions`` options, checked on every set compared
    (:func:`resolve_groups`, :func:`resolve_conditions`, :func:`check_parts`); ``None`` without groups.

    Raises
    ------
    InvalidDataError
        A bad option or bad part values, or conditions without composition groups.
    """
    groups, condition_columns = composition_columns(
        composition, conditions, list(ref.columns), numeric, labels_key
    )
    if not groups:
        return None
    check_parts(ref, groups, "real rows")
    for frame in others:
        check_parts(frame, groups, "rows compared with the real ones")
    return CompositionPlan.fit(ref, groups, condition_columns, seed)


@dataclass(frozen=True)
class CompositionPlan:
    """What both comparisons share: the groups, the condition columns, each group's pseudo-count."""

    groups: dict[str, list[Hashable]]
    conditions: list[Hashable]
    pseudo: dict[str, float]
    seed: int = 0

    @classmethod
    def fit(
        cls,
        ref: pd.DataFrame,
        groups: Mapping[str, Sequence[Hashable]],
        conditions: Sequence[Hashable] = (),
        seed: int = 0,
    ) -> CompositionPlan:
        """Pseudo-counts (:func:`pseudo_count`) from the reference rows ``ref``."""
        pseudo = {name: pseudo_count(ref[list(parts)].to_numpy(float)) for name, parts in groups.items()}
        return cls({k: list(v) for k, v in groups.items()}, list(conditions), pseudo, seed)


def compare_compositions(
    ref: pd.DataFrame, other: pd.DataFrame, plan: CompositionPlan
) -> dict[tuple[str, str], float]:
    """Every composition metric of ``other`` against ``ref``: ``{(metric, scope): value}``.

    Scopes: a part column for the per-part metrics, a condition column for ``condition_curve_gap``
    with several conditions, and ``"overall"`` for a group's metrics; with several groups each group's
    metrics are scoped by its name and ``"overall"`` is their mean.
    """
    out: dict[tuple[str, str], float] = {}
    per_group: dict[str, dict[str, float]] = {}
    per_condition: dict[str, list[float]] = {}
    for name, parts in plan.groups.items():
        a, b = ref[parts].to_numpy(dtype=float), other[parts].to_numpy(dtype=float)
        per_group[name] = group_metrics(a, b, plan.pseudo[name], plan.seed)
        for metric, gaps in part_gaps(a, b).items():
            out.update(_part_rows(metric, parts, gaps, per_group[name]))
        if plan.conditions:
            by_condition = {
                str(c): condition_gaps(a, _column(ref, c), b, _column(other, c)) for c in plan.conditions
            }
            curve = _mean_rows(list(by_condition.values()))
            out.update(_part_rows("condition_curve_gap", parts, curve, per_group[name]))
            for condition, gaps in by_condition.items():
                per_condition.setdefault(condition, []).append(_mean(gaps))
    if len(per_condition) > 1:
        out.update({("condition_curve_gap", c): _mean(v) for c, v in per_condition.items()})
    out.update(_group_scopes(per_group))
    return out


def group_metrics(a: np.ndarray, b: np.ndarray, pseudo: float, seed: int = 0) -> dict[str, float]:
    """The whole-group metrics of one group: CLR C2ST and MMD², Shannon and Bray–Curtis KS."""
    return {
        "clr_c2st_rf_auc": clr_c2st(a, b, pseudo, seed),
        "clr_mmd2": clr_mmd2(a, b, pseudo, seed),
        "shannon_ks": shannon_ks(a, b),
        "bray_curtis_ks": bray_curtis_ks(a, b, seed),
    }


def part_gaps(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """The per-part metrics of one group (condition curves aside): metric -> one value per part."""
    return {
        "part_mean_gap": part_mean_gaps(a, b),
        "part_var_gap": part_var_gaps(a, b),
        "part_zero_gap": part_zero_gaps(a, b),
    }


def _column(frame: pd.DataFrame, column: Hashable) -> np.ndarray:
    return frame[column].to_numpy(dtype=float)


def _mean(values: Sequence[float] | np.ndarray) -> float:
    """Mean of the finite values; NaN when there are none (no empty-slice warning)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else float("nan")


def _mean_rows(rows: Sequence[np.ndarray]) -> np.ndarray:
    """Element-wise :func:`_mean` over equally long arrays (one per condition)."""
    stacked = np.vstack(rows)
    return np.array([_mean(stacked[:, j]) for j in range(stacked.shape[1])])


def _part_rows(
    metric: str, parts: Sequence[Hashable], gaps: np.ndarray, group: dict[str, float]
) -> dict[tuple[str, str], float]:
    """One row per part; the group's value (mean over parts) is added to ``group``."""
    group[metric] = _mean(gaps)
    return {(metric, str(part)): float(gap) for part, gap in zip(parts, gaps, strict=True)}


def _group_scopes(per_group: Mapping[str, Mapping[str, float]]) -> dict[tuple[str, str], float]:
    """One group: its metrics are the overall rows. Several: scoped by group name, overall = mean."""
    if len(per_group) == 1:
        return {(metric, OVERALL): value for metric, value in next(iter(per_group.values())).items()}
    out = {(metric, name): value for name, values in per_group.items() for metric, value in values.items()}
    metrics = dict.fromkeys(m for values in per_group.values() for m in values)
    out.update({(m, OVERALL): _mean([v.get(m, np.nan) for v in per_group.values()]) for m in metrics})
    return out


__all__ = [
    "ALL_NUMERIC",
    "COMPOSITION_METRICS",
    "CompositionPlan",
    "binned_means",
    "bray_curtis_ks",
    "bray_curtis_pairs",
    "check_parts",
    "closure",
    "clr",
    "clr_c2st",
    "clr_features",
    "clr_mmd2",
    "compare_compositions",
    "composition_columns",
    "composition_plan",
    "condition_edges",
    "condition_gaps",
    "group_metrics",
    "part_gaps",
    "part_mean_gaps",
    "part_var_gaps",
    "part_zero_gaps",
    "pseudo_count",
    "resolve_conditions",
    "resolve_groups",
    "shannon",
    "shannon_ks",
]
