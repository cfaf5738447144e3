"""The evaluation engine: every metric of a data kind beside a real-vs-real control, with a verdict.

A *metric set* (:class:`MetricSet`) knows one data kind -- cells, tables, and later genotypes, sequences
or structures: how to validate and prepare an input, which metrics it computes and how to read them, and
how to compare two prepared sets of equal size. The engine does the rest the same way for every kind:

1. prepare the real, synthetic and (optional) training data, aligned to the real data's features;
2. pick the reference and the control set: held-out real vs training data when ``train`` is given, else
   two halves of ``real``;
3. subsample the reference, control and synthetic sets to one size (equal sizes keep a classifier's
   chance level at exactly 0.5);
4. build one *plan* -- what both comparisons share (principal components are fit on the union of the
   two sets compared, chosen genes, category lists, ...) -- and compute every metric for reference vs
   synthetic (the value) and reference vs control (the control);
5. add the privacy rows, computed on the full sets against the training data (distance to the closest
   record; for sequences also exact copies), with an alert for copies, and the verdicts.

:func:`evaluate` returns the tidy table ``metric, scope, value, control, verdict``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.neighbors import NearestNeighbors

from biogan.data.kinds import kind_of as data_kind_of
from biogan.errors import InvalidDataError
from biogan.metrics.two_sample import c2st_auc

COLUMNS = ["metric", "scope", "value", "control", "verdict"]
OVERALL = "overall"
PRIVACY_METRIC = "dcr_ratio"


# ---------------------------------------------------------------------------------------- metric info
@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric and how far from its control it may be.

    ``better`` is ``"higher"``, ``"lower"`` or ``"half"`` (closer to 0.5). The *gap* is how much worse
    than the control the value is; ``good`` and ``borderline`` bound it. With ``relative`` the bounds
    are multiples of ``max(|control|, floor)`` (for distances, whose scale depends on the data).
    ``privacy`` marks a metric whose poor verdict means copied training records (the report's alert).
    """

    description: str
    better: str
    good: float
    borderline: float
    relative: bool = False
    floor: float = 0.0
    privacy: bool = False

    def same_rule(self, other: MetricInfo) -> bool:
        """Whether ``other`` judges values the same way (descriptions may differ between data kinds)."""
        return (self.better, self.good, self.borderline, self.relative, self.floor) == (
            other.better,
            other.good,
            other.borderline,
            other.relative,
            other.floor,
        )


def c2st_info(description: str) -> MetricInfo:
    """A classifier two-sample test's AUROC: every data kind judges it with the same bounds."""
    return MetricInfo(description, "half", 0.05, 0.15)


def dcr_info(noun: str) -> MetricInfo:
    """The privacy metric (:func:`dcr_privacy`) described for records called ``noun``."""
    return MetricInfo(
        f"Privacy: median distance to the closest training {noun}, synthetic / held-out real "
        f"(well below 1 = copies of training {noun}s)",
        "higher",
        0.2,
        0.5,
        privacy=True,
    )


@dataclass(frozen=True)
class PrivacyRow:
    """One metric of :meth:`MetricSet.privacy`, on the full sets: value, control and a note on them.

    ``alert`` says the value shows copied training records: :func:`evaluate` then warns, quoting ``note``.
    """

    metric: str
    value: float
    control: float
    note: str
    alert: bool = False


METRICS: dict[str, MetricInfo] = {}
"""Every metric of every registered data kind (a name shared by two kinds has one rule)."""


# ---------------------------------------------------------------------------------------- protocols
P = TypeVar("P", bound="Prepared")


class Prepared(Protocol):
    """A validated set of records (cells, rows, ...): its size, labels and row subsets."""

    labels: np.ndarray | None

    def __len__(self) -> int: ...

    def subset(self: P, index: np.ndarray) -> P: ...


class MetricSet(Protocol):
    """What the engine needs to know about one data kind.

    Attributes
    ----------
    name
        The data kind (``"cells"``, ``"table"``); its key in :data:`METRIC_SETS`.
    noun
        What one record is called in messages (``"cell"``, ``"row"``).
    metrics
        Metric name -> :class:`MetricInfo`, in the order the table lists them (privacy included).
    defaults
        The kind's options of :func:`evaluate` and their defaults.
    size_option
        The option in ``defaults`` that caps the records per set.
    min_size
        Fewest records per set (after matching sizes) the metrics can work with.
    """

    name: str
    noun: str
    metrics: Mapping[str, MetricInfo]
    defaults: Mapping[str, Any]
    size_option: str
    min_size: int

    def prepare(self, data: Any, what: str, labels_key: str | None, like: Any = None) -> Prepared:
        """Validate ``data`` (called ``what`` in errors) and return its prepared form, aligned to the
        features of ``like`` (the prepared real data) when given."""
        ...

    def plan(
        self,
        ref: Any,
        others: Sequence[Any],
        label_sizes: dict[str, int],
        seed: int,
        options: Mapping[str, Any],
    ) -> Any:
        """What every comparison with ``ref`` shares (so value and control are computed alike)."""
        ...

    def compare(self, ref: Any, other: Any, plan: Any) -> dict[tuple[str, str], float]:
        """Every metric for one (reference, other) pair of equal-size sets: ``{(metric, scope): value}``."""
        ...

    def privacy(self, real: Any, synthetic: Any, train: Any, seed: int) -> list[PrivacyRow]:
        """The rows computed on the full sets against ``train`` (or, without it, against ``real``
        itself), such as :data:`PRIVACY_METRIC`; ``[]`` for none."""
        ...


METRIC_SETS: dict[str, MetricSet] = {}
"""Data kind (a key of :data:`biogan.data.kinds.KINDS`) -> its metric set."""


def register(metric_set: MetricSet) -> MetricSet:
    """Add a data kind's metric set to :data:`METRIC_SETS` and its metrics to :data:`METRICS`.

    Raises
    ------
    ValueError
        A metric name another kind registered with a different verdict rule.
    """
    for name, info in metric_set.metrics.items():
        known = METRICS.setdefault(name, info)
        if not known.same_rule(info):
            raise ValueError(f"metric {name!r} of {metric_set.name!r} has another verdict rule than before")
    METRIC_SETS[metric_set.name] = metric_set
    return metric_set


def kind_of(data: Any) -> str:
    """The data kind of ``data`` (:func:`biogan.data.kinds.kind_of`); a bare count matrix is cells too.

    Raises
    ------
    InvalidDataError
        No registered kind takes ``data``.
    """
    if isinstance(data, np.ndarray) or sp.issparse(data):
        return "cells"
    return data_kind_of(data)


def metric_set_for(data: Any, kind: str | None = None) -> MetricSet:
    """The metric set of ``kind``, or of ``data``'s kind when ``kind`` is ``None``."""
    kind = kind_of(data) if kind is None else kind
    if kind not in METRIC_SETS:
        raise InvalidDataError(f"unknown data kind {kind!r}: use one of {', '.join(METRIC_SETS)}")
    return METRIC_SETS[kind]


# ---------------------------------------------------------------------------------------- verdicts
def verdict(
    metric: str,
    value: float,
    control: float,
    n_cells: int | None = None,
    metrics: Mapping[str, MetricInfo] | None = None,
) -> str:
    """``"good"``, ``"borderline"`` or ``"poor"``: how far ``value`` is from the real-vs-real ``control``.

    For classifier AUROCs, ``n_cells`` (records per side) widens the bounds to 2 and 4 null standard
    deviations when that is more than the fixed bounds: a test on 20 cells of a rare type is noisy.
    ``metrics`` (default :data:`METRICS`) holds the rule of ``metric``.
    """
    info = (METRICS if metrics is None else metrics)[metric]
    if not (math.isfinite(value) and math.isfinite(control)):
        return "n/a"
    good, borderline = info.good, info.borderline
    if info.better == "half" and n_cells:
        sd = math.sqrt(1 / (6 * n_cells))  # null SD of the Mann-Whitney AUROC with n records a side
        good, borderline = max(good, 2 * sd), max(borderline, 4 * sd)
    if info.better == "half":
        gap = abs(value - 0.5) - abs(control - 0.5)
    elif info.better == "higher":
        gap = control - value
    else:
        gap = value - control
    scale = max(abs(control), info.floor) if info.relative else 1.0
    if gap <= good * scale:
        return "good"
    return "borderline" if gap <= borderline * scale else "poor"


# ---------------------------------------------------------------------------------------- privacy
def distance_to_closest_record(
    query: np.ndarray, records: np.ndarray, exclude_self: bool = False
) -> np.ndarray:
    """Euclidean distance of every query row to its nearest record (skipping itself when the query is
    the record set)."""
    nn = NearestNeighbors(n_neighbors=2 if exclude_self else 1).fit(records)
    dist, _ = nn.kneighbors(query)
    return dist[:, -1]


def dcr_privacy(
    real: np.ndarray, synthetic: np.ndarray, train: np.ndarray | None, seed: int, noun: str = "cell"
) -> PrivacyRow:
    """DCR ratio (synthetic / held-out real) as :data:`PRIVACY_METRIC`, its real-vs-real control, and a
    note on the distances.

    Distances are to the closest ``train`` record, or (without ``train``) to the closest other real
    record. The control splits the held-out real distances in halves: a ratio near 1. The row alerts
    when the ratio is poor against 1 (what it is when synthetic records are as far as real ones).
    """
    if train is not None:
        d_synth = distance_to_closest_record(synthetic, train)
        d_real = distance_to_closest_record(real, train)
        against = "training"
    else:  # no training set: how close synthetic records sit to real ones vs real records to each other
        d_synth = distance_to_closest_record(synthetic, real)
        d_real = distance_to_closest_record(real, real, exclude_self=True)
        against = "real"
    order = np.random.default_rng(seed).permutation(len(d_real))
    half = len(d_real) // 2
    control = _ratio(np.median(d_real[order[:half]]), np.median(d_real[order[half:]]))
    value = _ratio(np.median(d_synth), np.median(d_real))
    note = (
        f"distance ratio {value:.2f}, median distance to the closest {against} {noun}: synthetic "
        f"{np.median(d_synth):.3g}, held-out real {np.median(d_real):.3g}; {int((d_synth == 0).sum())} "
        f"synthetic {noun}s are exact copies"
    )
    rule = {PRIVACY_METRIC: dcr_info(noun)}
    alert = math.isfinite(value) and verdict(PRIVACY_METRIC, value, 1.0, metrics=rule) == "poor"
    return PrivacyRow(PRIVACY_METRIC, value, control, note, alert)


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


MIN_PER_LABEL = 15  # below this a per-label two-sample test is noise; the label is skipped


def per_label_c2st(
    xa: np.ndarray,
    ref_labels: np.ndarray,
    xb: np.ndarray,
    other_labels: np.ndarray,
    label_sizes: Mapping[str, int],
    seed: int,
) -> dict[tuple[str, str], float]:
    """Random-forest C2ST (``c2st_rf_auc``) within every label with at least :data:`MIN_PER_LABEL`
    records a side, on ``label_sizes[label]`` records drawn from each (the same draws of the reference
    for every comparison with one seed). A forest, not a logistic model: within a label the marginals
    often match and only the correlations differ, which a linear classifier cannot see."""
    out: dict[tuple[str, str], float] = {}
    rng = np.random.default_rng(seed)
    for label, n in label_sizes.items():
        if n < MIN_PER_LABEL:
            continue
        ia = rng.choice(np.flatnonzero(ref_labels == label), n, replace=False)
        ib = rng.choice(np.flatnonzero(other_labels == label), n, replace=False)
        out[("c2st_rf_auc", label)] = c2st_auc(xa[ia], xb[ib], "rf", seed=seed)
    return out


# ---------------------------------------------------------------------------------------- comparisons
@dataclass
class Comparison:
    """Every metric of several sets against one reference, all at the same size."""

    n: int
    label_sizes: dict[str, int]
    values: dict[str, dict[tuple[str, str], float]]


def compare_sets(
    metric_set: MetricSet,
    ref: Prepared,
    others: Mapping[str, Prepared],
    seed: int = 0,
    rng: np.random.Generator | None = None,
    **options: Any,
) -> Comparison:
    """Subsample ``ref`` and every set in ``others`` to one size and compare each with ``ref``.

    Parameters
    ----------
    metric_set
        The data kind's metric set.
    ref, others
        Prepared sets (``metric_set.prepare``); ``others`` maps a name to a set.
    seed
        Seeds the plan and the metrics (and the subsampling when ``rng`` is not given).
    rng
        Draws the subsamples: ``ref`` first, then ``others`` in order.
    **options
        The kind's options (:attr:`MetricSet.defaults`).

    Raises
    ------
    InvalidDataError
        Fewer than ``metric_set.min_size`` records per set.
    """
    options = resolve_options(metric_set, options)
    rng = np.random.default_rng(seed) if rng is None else rng
    n = min(len(ref), *(len(s) for s in others.values()), int(options[metric_set.size_option]))
    if n < metric_set.min_size:
        raise InvalidDataError(
            f"too few {metric_set.noun}s to compare: {n} per set after matching sizes "
            f"(need >= {metric_set.min_size})"
        )
    ref = _take(ref, n, rng)
    subsets = {name: _take(data, n, rng) for name, data in others.items()}
    sizes = label_sizes(ref, list(subsets.values()))
    plan = metric_set.plan(ref, list(subsets.values()), sizes, seed, options)
    values = {name: metric_set.compare(ref, data, plan) for name, data in subsets.items()}
    return Comparison(n, sizes, values)


def resolve_options(metric_set: MetricSet, options: Mapping[str, Any]) -> dict[str, Any]:
    """The kind's defaults updated with ``options``; unknown options raise a :class:`TypeError`."""
    unknown = sorted(set(options) - set(metric_set.defaults))
    if unknown:
        raise TypeError(
            f"evaluate() got unknown option(s) {unknown} for {metric_set.name} data; "
            f"its options: {', '.join(metric_set.defaults)}"
        )
    return {**metric_set.defaults, **options}


def label_sizes(ref: Prepared, others: Sequence[Prepared]) -> dict[str, int]:
    """Records per label used by per-label metrics: the same in every comparison (the smallest count)."""
    sets = [ref, *others]
    if any(s.labels is None for s in sets):
        return {}
    return {
        label: int(min((s.labels == label).sum() for s in sets))  # type: ignore[union-attr]
        for label in sorted(set(ref.labels))  # type: ignore[arg-type]
    }


def _take(data: P, n: int, rng: np.random.Generator) -> P:
    return data.subset(np.sort(rng.choice(len(data), n, replace=False)))


def _reference_and_control(real: P, train: P | None, rng: np.random.Generator) -> tuple[P, P]:
    if train is not None:
        return real, train
    order = rng.permutation(len(real))
    half = len(real) // 2
    return real.subset(order[half:]), real.subset(order[:half])


# ---------------------------------------------------------------------------------------- public API
def evaluate(
    real: Any,
    synthetic: Any,
    labels_key: str | None = None,
    train: Any = None,
    seed: int = 0,
    kind: str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Judge synthetic data against real data; every metric comes with a real-vs-real control.

    Parameters
    ----------
    real
        Real data the model did *not* train on (held-out): cells (AnnData with raw counts in
        ``layers["counts"]`` or ``.X``, or a count matrix), a table (pandas DataFrame), sequences
        (:class:`biogan.data.sequences.SequenceSet`), genotypes
        (:class:`biogan.data.genotypes.GenotypeSet`) or backbone fragments of one length
        (:class:`biogan.data.structures.StructureSet`).
    synthetic
        Generated data of the same kind with the same genes / columns (reordered to ``real``'s order).
    labels_key
        Column with labels (an ``obs`` column for cells); adds per-label rows and label metrics.
    train
        The model's training data. When given, the control compares ``real`` with ``train`` at equal
        sizes and the privacy check measures distances to ``train``; otherwise ``real`` is split in
        halves (one half is the reference for both comparisons, the other is the control).
    seed
        Seeds the subsampling, projections and classifiers.
    kind
        The data kind (a key of :data:`METRIC_SETS`); ``None`` infers it from ``real``.
    **options
        Options of the kind. Cells: ``n_pcs`` (50), ``n_markers`` (20), ``n_top_genes`` (100),
        ``max_cells`` (3000) (:class:`biogan.metrics.counts.CountMetrics`). Tables: ``max_rows``
        (3000), ``composition`` (``None``; columns that are parts of a whole: a list of column names
        = one group, a list of lists or a dict name -> columns = several groups, ``"all-numeric"`` =
        every numeric column but the label and the conditions; adds the composition metrics of
        :mod:`biogan.metrics.compositions`, scoped by part, and by group name when there are
        several), ``conditions`` (``None``; numeric columns such as age, each part's mean in their
        deciles compared by ``condition_curve_gap``) (:class:`biogan.metrics.tables.TableMetrics`).
        Sequences: ``max_sequences`` (2000)
        (:class:`biogan.metrics.sequences.SequenceMetrics`). Structures: ``max_fragments`` (2000),
        ``max_c2st`` (1000) (:class:`biogan.metrics.structures.StructureMetrics`).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``scope`` (``"overall"``, a label, or for tables a column), ``value``,
        ``control``, ``verdict`` (``good`` / ``borderline`` / ``poor`` against the control, ``n/a`` when
        not computable). :data:`METRICS` describes each metric.

    Warns
    -----
    UserWarning
        When a privacy row alerts: synthetic records sit much closer to the training records than
        held-out real ones do, or copy them (a sign of memorised records).
    """
    metric_set = metric_set_for(real, kind)
    options = resolve_options(metric_set, options)
    ref_all = metric_set.prepare(real, "real", labels_key)
    synth_all = metric_set.prepare(synthetic, "synthetic", labels_key, like=ref_all)
    train_all = None if train is None else metric_set.prepare(train, "training", labels_key, like=ref_all)
    rng = np.random.default_rng(seed)
    ref, control_set = _reference_and_control(ref_all, train_all, rng)
    # Control before synthetic: the subsamples are drawn in this order (fixed numbers for a seed).
    found = compare_sets(
        metric_set, ref, {"control": control_set, "synthetic": synth_all}, seed, rng, **options
    )
    values, controls = found.values["synthetic"], found.values["control"]
    rows = [
        {"metric": m, "scope": s, "value": v, "control": controls.get((m, s), float("nan"))}
        for (m, s), v in values.items()
    ]
    privacy = metric_set.privacy(ref_all, synth_all, train_all, seed)
    rows += [{"metric": r.metric, "scope": OVERALL, "value": r.value, "control": r.control} for r in privacy]
    _warn_of_copies(metric_set.noun, [r for r in privacy if r.alert])
    return _tidy(pd.DataFrame(rows), metric_set, found)


def _warn_of_copies(noun: str, alerts: Sequence[PrivacyRow]) -> None:
    if alerts:
        warnings.warn(
            f"PRIVACY ALERT: synthetic {noun}s sit much closer to the training {noun}s than held-out real "
            f"{noun}s do ({'; '.join(r.note for r in alerts)}). The model is likely copying training "
            f"{noun}s: do not share these data as anonymised.",
            UserWarning,
            stacklevel=3,  # the caller of evaluate()
        )


def _tidy(table: pd.DataFrame, metric_set: MetricSet, found: Comparison) -> pd.DataFrame:
    """Verdicts added; overall rows first, then per-scope rows, each in the metric set's order."""
    sizes = [found.n if scope == OVERALL else found.label_sizes.get(scope) for scope in table.scope]
    table["verdict"] = [
        verdict(m, v, c, k, metric_set.metrics)
        for m, v, c, k in zip(table.metric, table.value, table.control, sizes, strict=True)
    ]
    order = {name: i for i, name in enumerate(metric_set.metrics)}
    table["_order"] = table.metric.map(order)
    table["_overall"] = table.scope != OVERALL
    table = table.sort_values(["_overall", "_order", "scope"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def evaluate_many(
    real: Any,
    candidates: Mapping[str, Any],
    labels_key: str | None = None,
    train: Any = None,
    seed: int = 0,
    kind: str | None = None,
    **options: Any,
) -> pd.DataFrame:
    """:func:`evaluate` for several synthetic sets; the tidy tables stacked with a ``model`` column."""
    tables = []
    for name, synthetic in candidates.items():
        table = evaluate(real, synthetic, labels_key=labels_key, train=train, seed=seed, kind=kind, **options)
        tables.append(table.assign(model=name))
    return pd.concat(tables, ignore_index=True)[["model", *COLUMNS]]


__all__ = [
    "COLUMNS",
    "METRICS",
    "METRIC_SETS",
    "MIN_PER_LABEL",
    "OVERALL",
    "PRIVACY_METRIC",
    "Comparison",
    "MetricInfo",
    "MetricSet",
    "Prepared",
    "PrivacyRow",
    "c2st_info",
    "compare_sets",
    "dcr_info",
    "dcr_privacy",
    "distance_to_closest_record",
    "evaluate",
    "evaluate_many",
    "kind_of",
    "metric_set_for",
    "per_label_c2st",
    "register",
    "verdict",
]
