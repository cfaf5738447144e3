"""The count metric set: synthetic cells judged against real ones the way the field does it.

Every two-set metric works on ``log1p`` of counts normalised to 10k, with principal components fit on
the union of the two sets compared; library sizes, zero fractions and dropout on the raw counts.
:class:`CountMetrics` plugs these into :mod:`biogan.metrics.engine`, which adds the real-vs-real
control and the verdicts (``biogan.evaluate(adata_real, adata_synth)``).
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from scipy.stats import ks_2samp, pearsonr, wasserstein_distance
from sklearn.neighbors import NearestNeighbors

from biogan.data.preprocessing import library_sizes, log_normalize
from biogan.data.validation import (
    DENSE_BYTES_PER_VALUE,
    MIN_SAMPLES,
    check_counts,
    check_memory,
    check_no_missing_labels,
    check_not_continuous,
)
from biogan.errors import GeneMismatchError, InvalidDataError, UnknownLabelError
from biogan.metrics.engine import (
    OVERALL,
    MetricInfo,
    PrivacyRow,
    c2st_info,
    compare_sets,
    dcr_info,
    dcr_privacy,
    register,
)
from biogan.metrics.two_sample import c2st_auc, correlation_gap, joint_pca, mmd_rbf

CountsLike = ad.AnnData | np.ndarray | sp.spmatrix
MIN_CELLS_PER_LABEL = 15  # below this a per-label two-sample test is noise; the label is skipped

COUNT_METRICS: dict[str, MetricInfo] = {
    "c2st_rf_auc": c2st_info(
        "Random forest told real from synthetic on 50 PCs (AUROC; 0.5 = indistinguishable)"
    ),
    "c2st_logistic_auc": c2st_info(
        "Logistic regression told real from synthetic on 50 PCs (AUROC; 0.5 = indistinguishable)"
    ),
    "mmd": MetricInfo(
        "Multi-scale RBF maximum mean discrepancy (MMD², on the PCs)", "lower", 1.0, 3.0, True, 0.005
    ),
    "energy_distance": MetricInfo("Energy distance on the PCs", "lower", 0.5, 1.5, True, 0.05),
    "gene_mean_r": MetricInfo("Pearson r of per-gene means (log-normalised)", "higher", 0.02, 0.1),
    "gene_var_r": MetricInfo("Pearson r of per-gene variances (log-normalised)", "higher", 0.05, 0.15),
    "gene_dropout_r": MetricInfo("Pearson r of per-gene dropout (zero) rates", "higher", 0.02, 0.1),
    "mean_var_error": MetricInfo(
        "Gap between the mean–variance curves (log10 variance, binned by mean count)",
        "lower",
        1.0,
        3.0,
        True,
        0.05,
    ),
    "mean_dropout_error": MetricInfo(
        "Gap between the mean–dropout curves (dropout rate, binned by mean count)",
        "lower",
        1.0,
        3.0,
        True,
        0.02,
    ),
    "library_size_ks": MetricInfo("KS distance of library-size distributions", "lower", 0.1, 0.25),
    "zero_fraction_ks": MetricInfo("KS distance of per-cell zero-fraction distributions", "lower", 0.1, 0.25),
    "gene_corr_diff": MetricInfo(
        "Mean |difference| of gene–gene correlations among the most variable genes",
        "lower",
        0.5,
        1.0,
        True,
        0.02,
    ),
    "marker_overlap": MetricInfo(
        "Share of the top marker genes (rank_genes_groups) found in both sets", "higher", 0.15, 0.35
    ),
    "knn_label_purity": MetricInfo(
        "Share of a cell's 15 nearest real neighbours that carry its label", "higher", 0.1, 0.25
    ),
    "precision": MetricInfo(
        "Fidelity: share of synthetic cells inside the real manifold (k-NN)", "higher", 0.1, 0.25
    ),
    "recall": MetricInfo(
        "Diversity: share of real cells inside the synthetic manifold (k-NN)", "higher", 0.1, 0.25
    ),
    "density": MetricInfo(
        "Fidelity: how many real neighbourhoods hold each synthetic cell (k-NN)", "higher", 0.15, 0.35
    ),
    "coverage": MetricInfo(
        "Diversity: share of real cells with a synthetic cell nearby (k-NN)", "higher", 0.1, 0.25
    ),
    "dcr_ratio": dcr_info("cell"),
}


# ---------------------------------------------------------------------------------------- inputs
class Cells:
    """Dense counts of one set of cells, their labels, gene names, and derived views (computed once)."""

    def __init__(self, counts: np.ndarray, labels: np.ndarray | None, genes: list[str] | None = None) -> None:
        self.counts = counts
        self.labels = labels
        self.genes = genes

    def subset(self, index: np.ndarray) -> Cells:
        return Cells(self.counts[index], None if self.labels is None else self.labels[index], self.genes)

    def __len__(self) -> int:
        return len(self.counts)

    @cached_property
    def log(self) -> np.ndarray:
        return log_normalize(self.counts)


def cells_from(
    data: CountsLike, what: str, labels_key: str | None = None, genes: list[str] | None = None
) -> Cells:
    """Validated dense counts (reordered to ``genes`` when given) and labels of one input.

    Raises
    ------
    InvalidDataError
        Not a matrix of non-negative integer counts, missing or continuous labels, or too large to
        densify in the memory available.
    GeneMismatchError
        The genes differ from ``genes``.
    UnknownLabelError
        ``labels_key`` is not an ``obs`` column.
    """
    if isinstance(data, ad.AnnData):
        if genes is not None and list(data.var_names) != genes:
            missing = [g for g in genes if g not in set(data.var_names)]
            if missing or data.n_vars != len(genes):
                raise GeneMismatchError(
                    f"the {what} cells have other genes than the real cells ({data.n_vars} vs {len(genes)}, "
                    f"{len(missing)} missing, e.g. {missing[:3]}); subset both to the same genes first"
                )
            data = data[:, genes]
        labels = None
        if labels_key is not None:
            if labels_key not in data.obs.columns:
                have = ", ".join(map(str, data.obs.columns[:20])) or "none"
                raise UnknownLabelError(
                    f"the {what} cells have no obs column {labels_key!r} (columns: {have})"
                )
            check_no_missing_labels(data.obs[labels_key], labels_key, "cell")
            check_not_continuous(data.obs[labels_key], labels_key)
            labels = data.obs[labels_key].astype(str).to_numpy()
        matrix = data.layers.get("counts", data.X)
    else:
        if labels_key is not None:
            raise InvalidDataError(f"labels_key needs AnnData inputs; the {what} cells are a bare matrix")
        matrix, labels = data, None
    if not hasattr(matrix, "ndim"):
        raise InvalidDataError(f"the {what} cells are not a matrix ({type(matrix).__name__})")
    check_counts(matrix, f"the {what} cells", hint="Pass raw counts (layers['counts'] or .X).")
    check_memory(
        float(matrix.shape[0]) * matrix.shape[1] * DENSE_BYTES_PER_VALUE,
        f"evaluating {matrix.shape[0]} {what} cells x {matrix.shape[1]} genes (densified)",
        "subsample the cells (e.g. 3000 per set, the max_cells default) or select fewer genes first",
    )
    counts = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    return Cells(counts.astype(np.float64), labels, gene_names(data))


def gene_names(data: CountsLike) -> list[str] | None:
    return list(map(str, data.var_names)) if isinstance(data, ad.AnnData) else None


# ---------------------------------------------------------------------------------------- metrics
def energy_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Energy distance ``2E|A-B| - E|A-A'| - E|B-B'|`` (V-statistic) between two point sets."""
    return float(2 * cdist(a, b).mean() - cdist(a, a).mean() - cdist(b, b).mean())


def prdc(real: np.ndarray, fake: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage on k-NN balls (Naeem et al. 2020).

    A real cell's ball has the radius of its k-th nearest real neighbour (and likewise for synthetic
    cells, used by recall).
    """
    k = max(1, min(k, len(real) - 1, len(fake) - 1))
    r_real = _kth_neighbour_distance(real, k)
    r_fake = _kth_neighbour_distance(fake, k)
    d = cdist(real, fake)
    inside_real = d < r_real[:, None]
    return {
        "precision": float(inside_real.any(0).mean()),
        "recall": float((d < r_fake[None, :]).any(1).mean()),
        "density": float(inside_real.sum(0).mean() / k),
        "coverage": float((d.min(1) < r_real).mean()),
    }


def _kth_neighbour_distance(x: np.ndarray, k: int) -> np.ndarray:
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return dist[:, -1]  # column 0 is the point itself


def knn_label_purity(
    ref: np.ndarray, ref_labels: np.ndarray, query: np.ndarray, query_labels: np.ndarray, k: int = 15
) -> np.ndarray:
    """For every query cell, the share of its ``k`` nearest reference cells that carry its label."""
    k = min(k, len(ref))
    _, idx = NearestNeighbors(n_neighbors=k).fit(ref).kneighbors(query)
    return (ref_labels[idx] == query_labels[:, None]).mean(1)


def relation_error(ref_counts: np.ndarray, other_counts: np.ndarray, stat: str, n_bins: int = 10) -> float:
    """Mean gap between two sets' binned ``stat``-vs-mean curves over genes.

    Genes are binned by log10 mean count (bin edges from the reference); in each bin the median of
    ``stat`` (``"variance"``: log10 variance, ``"dropout"``: zero rate) is compared.
    """

    def curve(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = counts.mean(0)
        keep = mean > 0
        y = np.log10(counts.var(0)[keep] + 1e-12) if stat == "variance" else (counts[:, keep] == 0).mean(0)
        return np.log10(mean[keep]), y

    x_ref, y_ref = curve(ref_counts)
    x_other, y_other = curve(other_counts)
    if len(x_ref) < n_bins or len(x_other) < n_bins:
        return float("nan")
    edges = np.quantile(x_ref, np.linspace(0, 1, n_bins + 1))
    edges[0], edges[-1] = -np.inf, np.inf
    gaps = []
    for lo, hi in itertools.pairwise(edges):
        a, b = y_ref[(x_ref >= lo) & (x_ref < hi)], y_other[(x_other >= lo) & (x_other < hi)]
        if len(a) >= 3 and len(b) >= 3:
            gaps.append(abs(np.median(a) - np.median(b)))
    return float(np.mean(gaps)) if gaps else float("nan")


def correlation_difference(ref_log: np.ndarray, other_log: np.ndarray, genes: np.ndarray) -> float:
    """Mean absolute difference of the gene–gene Pearson correlation matrices over ``genes``."""
    return correlation_gap(ref_log[:, genes], other_log[:, genes])


def top_variable_genes(log_x: np.ndarray, n: int = 100) -> np.ndarray:
    """Indices of the ``n`` most variable genes (scanpy's Seurat dispersion ranking; plain variance if
    scanpy cannot bin the genes)."""
    import scanpy as sc

    n = min(n, log_x.shape[1])
    try:
        with warnings.catch_warnings():  # "fewer genes than n_top_genes" is fine: we take what there is
            warnings.simplefilter("ignore", UserWarning)
            frame = sc.pp.highly_variable_genes(
                ad.AnnData(log_x), n_top_genes=n, flavor="seurat", inplace=False
            )
        picked = np.flatnonzero(frame["highly_variable"].to_numpy())
        if len(picked) >= 2:
            return picked
    except (ValueError, IndexError):
        pass
    return np.argsort(-log_x.var(0))[:n]


def marker_genes(log_x: np.ndarray, labels: np.ndarray, groups: list[str], k: int) -> dict[str, set[int]]:
    """Top-``k`` marker genes (by index) of each label in ``groups``, from scanpy's t-test ranking."""
    import scanpy as sc

    if len(groups) < 2:
        return {}
    obs = pd.DataFrame({"label": pd.Categorical(labels)}, index=[str(i) for i in range(len(labels))])
    adata = ad.AnnData(log_x.astype(np.float32), obs=obs)
    adata.var_names = [str(i) for i in range(log_x.shape[1])]
    adata.uns["log1p"] = {"base": None}  # already log1p: stops scanpy from warning about it
    sc.tl.rank_genes_groups(adata, "label", groups=groups, method="t-test", n_genes=k, use_raw=False)
    names = adata.uns["rank_genes_groups"]["names"]
    return {g: {int(name) for name in names[g][:k]} for g in groups}


def _safe_r(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(pearsonr(a, b)[0])


# ---------------------------------------------------------------------------------------- one pair
@dataclass
class CountPlan:
    """What both comparisons share, so value and control are computed the same way."""

    n_pcs: int
    seed: int
    hvg: np.ndarray
    label_sizes: dict[str, int]
    n_markers: int


def _compare(ref: Cells, other: Cells, plan: CountPlan) -> dict[tuple[str, str], float]:
    """Every metric for one (reference, other) pair of equal-size sets."""
    out: dict[tuple[str, str], float] = {}
    pa, pb = joint_pca(ref.log, other.log, plan.n_pcs, plan.seed)
    out[("c2st_rf_auc", OVERALL)] = c2st_auc(pa, pb, "rf", seed=plan.seed)
    out[("c2st_logistic_auc", OVERALL)] = c2st_auc(pa, pb, "logistic", seed=plan.seed)
    out[("mmd", OVERALL)] = mmd_rbf(pa, pb)
    out[("energy_distance", OVERALL)] = energy_distance(pa, pb)
    out[("gene_mean_r", OVERALL)] = _safe_r(ref.log.mean(0), other.log.mean(0))
    out[("gene_var_r", OVERALL)] = _safe_r(ref.log.var(0), other.log.var(0))
    out[("gene_dropout_r", OVERALL)] = _safe_r((ref.counts == 0).mean(0), (other.counts == 0).mean(0))
    out[("mean_var_error", OVERALL)] = relation_error(ref.counts, other.counts, "variance")
    out[("mean_dropout_error", OVERALL)] = relation_error(ref.counts, other.counts, "dropout")
    out[("library_size_ks", OVERALL)] = float(
        ks_2samp(library_sizes(ref.counts), library_sizes(other.counts)).statistic
    )
    out[("zero_fraction_ks", OVERALL)] = float(
        ks_2samp((ref.counts == 0).mean(1), (other.counts == 0).mean(1)).statistic
    )
    out[("gene_corr_diff", OVERALL)] = correlation_difference(ref.log, other.log, plan.hvg)
    for name, value in prdc(pa, pb).items():
        out[(name, OVERALL)] = value
    if ref.labels is not None and other.labels is not None:
        out.update(_per_label(ref, other, pa, pb, plan))
    return out


def _per_label(
    ref: Cells, other: Cells, pa: np.ndarray, pb: np.ndarray, plan: CountPlan
) -> dict[tuple[str, str], float]:
    """Label-level metrics: k-NN purity, marker overlap, and two-sample tests within each label."""
    assert ref.labels is not None and other.labels is not None
    out: dict[tuple[str, str], float] = {}
    purity = knn_label_purity(pa, ref.labels, pb, other.labels)
    out[("knn_label_purity", OVERALL)] = float(purity.mean())
    groups = [g for g, n in plan.label_sizes.items() if n >= 3]
    markers_ref = marker_genes(ref.log, ref.labels, groups, plan.n_markers)
    markers_other = marker_genes(other.log, other.labels, groups, plan.n_markers)
    overlaps = []
    rng = np.random.default_rng(plan.seed)
    for label, n in plan.label_sizes.items():
        in_other = other.labels == label
        if in_other.any():
            out[("knn_label_purity", label)] = float(purity[in_other].mean())
        if label in markers_ref:
            overlap = len(markers_ref[label] & markers_other[label]) / plan.n_markers
            out[("marker_overlap", label)] = overlap
            overlaps.append(overlap)
        if n < MIN_CELLS_PER_LABEL:
            continue
        ia = rng.choice(np.flatnonzero(ref.labels == label), n, replace=False)
        ib = rng.choice(np.flatnonzero(in_other), n, replace=False)
        # Logistic, not a random forest, within labels: 20x faster and as sensitive to a shifted type.
        out[("c2st_logistic_auc", label)] = c2st_auc(pa[ia], pb[ib], "logistic", seed=plan.seed)
        out[("gene_mean_r", label)] = _safe_r(ref.log[ia].mean(0), other.log[ib].mean(0))
    if overlaps:
        out[("marker_overlap", OVERALL)] = float(np.mean(overlaps))
    return out


# ---------------------------------------------------------------------------------------- metric set
class CountMetrics:
    """The engine's metric set for cells (raw counts in AnnData or a matrix).

    Options of :func:`biogan.evaluate` for cells: ``n_pcs`` (principal components, fit on the union of
    the two sets compared, for the two-sample metrics), ``n_markers`` (top marker genes per label
    compared by ``marker_overlap``), ``n_top_genes`` (most variable genes used by ``gene_corr_diff``)
    and ``max_cells`` (each set is subsampled to at most this many cells).
    """

    name = "cells"
    noun = "cell"
    metrics = COUNT_METRICS
    defaults: Mapping[str, Any] = {"n_pcs": 50, "n_markers": 20, "n_top_genes": 100, "max_cells": 3000}
    size_option = "max_cells"
    min_size = MIN_SAMPLES

    def prepare(
        self, data: CountsLike, what: str, labels_key: str | None = None, like: Cells | None = None
    ) -> Cells:
        """:func:`cells_from`, reordered to ``like``'s genes; a different number of genes raises."""
        cells = cells_from(data, what, labels_key, None if like is None else like.genes)
        if like is not None and cells.counts.shape[1] != like.counts.shape[1]:
            raise GeneMismatchError(
                f"real and {what} cells have different numbers of genes "
                f"({like.counts.shape[1]} vs {cells.counts.shape[1]})"
            )
        return cells

    def plan(
        self,
        ref: Cells,
        others: Sequence[Cells],
        label_sizes: dict[str, int],
        seed: int,
        options: Mapping[str, Any],
    ) -> CountPlan:
        return CountPlan(
            n_pcs=int(options["n_pcs"]),
            seed=seed,
            hvg=top_variable_genes(ref.log, int(options["n_top_genes"])),
            label_sizes=label_sizes,
            n_markers=int(options["n_markers"]),
        )

    def compare(self, ref: Cells, other: Cells, plan: CountPlan) -> dict[tuple[str, str], float]:
        return _compare(ref, other, plan)

    def privacy(self, real: Cells, synthetic: Cells, train: Cells | None, seed: int) -> list[PrivacyRow]:
        """DCR on log-normalised counts (:func:`biogan.metrics.engine.dcr_privacy`)."""
        return [dcr_privacy(real.log, synthetic.log, None if train is None else train.log, seed, self.noun)]


COUNTS = register(CountMetrics())


# ---------------------------------------------------------------------------------------- benchmark table
CONTROL_HALVES, CONTROL_TRAIN = "control: held-out A vs B", "control: train vs held-out"
LEGACY_COLUMNS = {  # benchmark column -> engine metric
    "c2st_auc": "c2st_rf_auc",
    "mmd": "mmd",
    "gene_mean_r": "gene_mean_r",
    "gene_var_r": "gene_var_r",
}


def library_w1(ref: Cells, other: Cells) -> float:
    """1-D Wasserstein distance between the two sets' library sizes."""
    return float(wasserstein_distance(library_sizes(ref.counts), library_sizes(other.counts)))


def zero_fraction_diff(ref: Cells, other: Cells) -> float:
    """Absolute difference of the two sets' overall fractions of zero counts."""
    return float(abs((ref.counts == 0).mean() - (other.counts == 0).mean()))


def _matched_pair(ref: Cells, other: Cells, seed: int) -> tuple[Cells, Cells]:
    """Equal-size random subsets in draw order, as this table always drew them (its published numbers
    stay reproducible: :func:`compare_sets` keeps sets that already have the common size as they are)."""
    n = min(len(ref), len(other))
    rng = np.random.default_rng(seed)
    return (
        ref.subset(rng.choice(len(ref), n, replace=False)),
        other.subset(rng.choice(len(other), n, replace=False)),
    )


def _benchmark_row(ref: Cells, other: Cells, seed: int, options: Mapping[str, Any]) -> dict[str, float]:
    """The benchmark columns for one pair: engine metrics on matched sizes, library/zero gaps on all cells."""
    ref_n, other_n = _matched_pair(ref, other, seed)
    values = compare_sets(COUNTS, ref_n, {"other": other_n}, seed=seed, **options).values["other"]
    return {
        **{column: values[(metric, OVERALL)] for column, metric in LEGACY_COLUMNS.items()},
        "library_w1": library_w1(ref, other),
        "zero_frac_diff": zero_fraction_diff(ref, other),
    }


def evaluate_counts(
    heldout: CountsLike,
    candidates: Mapping[str, CountsLike],
    train: CountsLike | None = None,
    n_splits: int = 3,
    seed: int = 0,
    **options: Any,
) -> pd.DataFrame:
    """A compact benchmark table: one row per candidate plus real-vs-real controls, averaged over splits.

    The held-out cells are split in halves A and B ``n_splits`` times; each candidate is compared with
    half B by the count metric set (:class:`CountMetrics`, sizes matched per pair) and the control
    "held-out A vs B" compares two real halves -- the floor a perfect generator would reach. With
    ``train`` given, "train vs held-out" is added too. For every metric with its verdict use
    :func:`biogan.evaluate` / :func:`biogan.metrics.evaluate_many`.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``method``; columns ``c2st_auc`` (``c2st_rf_auc``), ``mmd``, ``gene_mean_r`` and
        ``gene_var_r`` of :data:`COUNT_METRICS` (on the size-matched cells), ``library_w1`` (Wasserstein
        distance of library sizes) and ``zero_frac_diff`` (difference of zero fractions) on all cells of
        the pair, and ``eval_s`` (seconds).
    """
    held = COUNTS.prepare(heldout, "held-out")
    sets: dict[str, Cells | None] = {CONTROL_HALVES: None}
    if train is not None:
        sets[CONTROL_TRAIN] = COUNTS.prepare(train, "training", like=held)
    sets.update({name: COUNTS.prepare(data, str(name), like=held) for name, data in candidates.items()})
    rows = []
    for name, data in sets.items():
        start = time.perf_counter()
        per_split = []
        for split in range(n_splits):
            order = np.random.default_rng(seed + split).permutation(len(held))
            half_a, half_b = held.subset(order[: len(held) // 2]), held.subset(order[len(held) // 2 :])
            per_split.append(_benchmark_row(half_b, half_a if data is None else data, seed + split, options))
        row = pd.DataFrame(per_split).mean().to_dict()
        row["eval_s"] = time.perf_counter() - start
        rows.append({"method": name, **row})
    return pd.DataFrame(rows).set_index("method")


__all__ = [
    "COUNTS",
    "COUNT_METRICS",
    "Cells",
    "CountMetrics",
    "CountPlan",
    "cells_from",
    "correlation_difference",
    "energy_distance",
    "evaluate_counts",
    "gene_names",
    "knn_label_purity",
    "library_w1",
    "marker_genes",
    "prdc",
    "relation_error",
    "top_variable_genes",
    "zero_fraction_diff",
]
