"""One call that judges synthetic cells against real ones, each metric beside a real-vs-real control.

:func:`evaluate` returns a tidy table (``metric``, ``scope``, ``value``, ``control``, ``verdict``). The
control is the same metric computed between two sets of *real* cells of the same sizes (held-out vs
training cells when ``train`` is given, else two halves of ``real``), so it is the floor a perfect
generator would reach. Every two-set metric works the way the field does it: on ``log1p`` of counts
normalised to 10k, with principal components fit on the union of the two sets compared.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.spatial.distance import cdist
from scipy.stats import ks_2samp, pearsonr
from sklearn.neighbors import NearestNeighbors

from biogan.data.preprocessing import library_sizes, log_normalize
from biogan.data.validation import check_counts
from biogan.errors import GeneMismatchError, InvalidDataError, UnknownLabelError
from biogan.metrics.two_sample import c2st_auc, joint_pca, mmd_rbf

CountsLike = ad.AnnData | np.ndarray | sp.spmatrix
COLUMNS = ["metric", "scope", "value", "control", "verdict"]
OVERALL = "overall"
MIN_CELLS_PER_LABEL = 15  # below this a per-label two-sample test is noise; the label is skipped


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric and how far from its control it may be.

    ``better`` is ``"higher"``, ``"lower"`` or ``"half"`` (closer to 0.5). The *gap* is how much worse
    than the control the value is; ``good`` and ``borderline`` bound it. With ``relative`` the bounds
    are multiples of ``max(|control|, floor)`` (for distances, whose scale depends on the data).
    """

    description: str
    better: str
    good: float
    borderline: float
    relative: bool = False
    floor: float = 0.0


METRICS: dict[str, MetricInfo] = {
    "c2st_rf_auc": MetricInfo(
        "Random forest told real from synthetic on 50 PCs (AUROC; 0.5 = indistinguishable)",
        "half",
        0.05,
        0.15,
    ),
    "c2st_logistic_auc": MetricInfo(
        "Logistic regression told real from synthetic on 50 PCs (AUROC; 0.5 = indistinguishable)",
        "half",
        0.05,
        0.15,
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
    "dcr_ratio": MetricInfo(
        "Privacy: median distance to the closest training cell, synthetic / held-out real "
        "(well below 1 = copies of training cells)",
        "higher",
        0.2,
        0.5,
    ),
}


# ---------------------------------------------------------------------------------------- inputs
class Cells:
    """Dense counts of one set of cells, their labels, and derived views (computed once)."""

    def __init__(self, counts: np.ndarray, labels: np.ndarray | None) -> None:
        self.counts = counts
        self.labels = labels

    def subset(self, index: np.ndarray) -> Cells:
        return Cells(self.counts[index], None if self.labels is None else self.labels[index])

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
        Not a matrix of non-negative integer counts.
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
            labels = data.obs[labels_key].astype(str).to_numpy()
        matrix = data.layers.get("counts", data.X)
    else:
        if labels_key is not None:
            raise InvalidDataError(f"labels_key needs AnnData inputs; the {what} cells are a bare matrix")
        matrix, labels = data, None
    if not hasattr(matrix, "ndim"):
        raise InvalidDataError(f"the {what} cells are not a matrix ({type(matrix).__name__})")
    check_counts(matrix, f"the {what} cells", hint="Pass raw counts (layers['counts'] or .X).")
    counts = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    return Cells(counts.astype(np.float64), labels)


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
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.nan_to_num(np.corrcoef(ref_log[:, genes], rowvar=False))
        b = np.nan_to_num(np.corrcoef(other_log[:, genes], rowvar=False))
    upper = np.triu_indices(len(genes), 1)
    return float(np.abs(a - b)[upper].mean())


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
class _Plan:
    """What both comparisons share, so value and control are computed the same way."""

    n_pcs: int
    seed: int
    hvg: np.ndarray
    label_sizes: dict[str, int]
    n_markers: int


def _compare(ref: Cells, other: Cells, plan: _Plan) -> dict[tuple[str, str], float]:
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
    ref: Cells, other: Cells, pa: np.ndarray, pb: np.ndarray, plan: _Plan
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


# ---------------------------------------------------------------------------------------- privacy
def distance_to_closest_record(
    query: np.ndarray, records: np.ndarray, exclude_self: bool = False
) -> np.ndarray:
    """Euclidean distance of every query row to its nearest record (skipping itself when the query is
    the record set)."""
    nn = NearestNeighbors(n_neighbors=2 if exclude_self else 1).fit(records)
    dist, _ = nn.kneighbors(query)
    return dist[:, -1]


def _privacy(real: Cells, synthetic: Cells, train: Cells | None, seed: int) -> tuple[float, float, str]:
    """DCR ratio (synthetic / held-out real), its real-vs-real control, and a note on the distances."""
    if train is not None:
        d_synth = distance_to_closest_record(synthetic.log, train.log)
        d_real = distance_to_closest_record(real.log, train.log)
        against = "training"
    else:  # no training set: how close synthetic cells sit to real ones vs real cells to each other
        d_synth = distance_to_closest_record(synthetic.log, real.log)
        d_real = distance_to_closest_record(real.log, real.log, exclude_self=True)
        against = "real"
    order = np.random.default_rng(seed).permutation(len(d_real))
    half = len(d_real) // 2
    control = _ratio(np.median(d_real[order[:half]]), np.median(d_real[order[half:]]))
    value = _ratio(np.median(d_synth), np.median(d_real))
    note = (
        f"median distance to the closest {against} cell: synthetic {np.median(d_synth):.3g}, "
        f"held-out real {np.median(d_real):.3g}; {int((d_synth == 0).sum())} synthetic cells are exact copies"
    )
    return value, control, note


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


# ---------------------------------------------------------------------------------------- verdicts
def verdict(metric: str, value: float, control: float, n_cells: int | None = None) -> str:
    """``"good"``, ``"borderline"`` or ``"poor"``: how far ``value`` is from the real-vs-real ``control``.

    For classifier AUROCs, ``n_cells`` (per side) widens the bounds to 2 and 4 null standard deviations
    when that is more than the fixed bounds: a test on 20 cells of a rare type is noisy.
    """
    info = METRICS[metric]
    if not (math.isfinite(value) and math.isfinite(control)):
        return "n/a"
    good, borderline = info.good, info.borderline
    if info.better == "half" and n_cells:
        sd = math.sqrt(1 / (6 * n_cells))  # null SD of the Mann-Whitney AUROC with n cells a side
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


# ---------------------------------------------------------------------------------------- public API
def evaluate(
    real: CountsLike,
    synthetic: CountsLike,
    labels_key: str | None = None,
    train: CountsLike | None = None,
    seed: int = 0,
    n_pcs: int = 50,
    n_markers: int = 20,
    n_top_genes: int = 100,
    max_cells: int = 3000,
) -> pd.DataFrame:
    """Judge synthetic cells against real ones; every metric comes with a real-vs-real control.

    Parameters
    ----------
    real
        Real cells the model did *not* train on (held-out), raw counts (``layers["counts"]`` or ``.X``).
    synthetic
        Generated cells with the same genes (reordered to ``real``'s order when needed).
    labels_key
        ``obs`` column with cell types; adds per-label rows, marker agreement and k-NN label purity.
    train
        The model's training cells. When given, the control compares ``real`` with ``train`` at equal
        sizes and the privacy check measures distances to ``train``; otherwise ``real`` is split in
        halves (one half is the reference for both comparisons, the other is the control).
    seed
        Seeds the subsampling, PCA and classifiers.
    n_pcs
        Principal components (fit on the union of the two sets compared) for the two-sample metrics.
    n_markers
        Top marker genes per label compared by ``marker_overlap``.
    n_top_genes
        Most variable genes used by ``gene_corr_diff``.
    max_cells
        Each set is subsampled to at most this many cells (keeps large data sets fast).

    Returns
    -------
    pandas.DataFrame
        Columns ``metric``, ``scope`` (``"overall"`` or a label), ``value``, ``control``, ``verdict``
        (``good`` / ``borderline`` / ``poor`` against the control, ``n/a`` when not computable).
        :data:`METRICS` describes each metric.

    Warns
    -----
    UserWarning
        When synthetic cells sit much closer to the training cells than held-out real cells do (a sign
        of memorised, copied cells).
    """
    genes = gene_names(real)
    ref_all = cells_from(real, "real", labels_key, genes)
    synth_all = cells_from(synthetic, "synthetic", labels_key, genes)
    train_all = cells_from(train, "training", labels_key, genes) if train is not None else None
    if ref_all.counts.shape[1] != synth_all.counts.shape[1]:
        raise GeneMismatchError(
            f"real and synthetic cells have different numbers of genes "
            f"({ref_all.counts.shape[1]} vs {synth_all.counts.shape[1]})"
        )
    if train_all is not None and train_all.counts.shape[1] != ref_all.counts.shape[1]:
        raise GeneMismatchError("real and training cells have different numbers of genes")
    rng = np.random.default_rng(seed)
    ref, control_other = _reference_and_control(ref_all, train_all, rng)
    n = min(len(ref), len(control_other), len(synth_all), max_cells)
    if n < 10:
        raise InvalidDataError(f"too few cells to compare: {n} per set after matching sizes (need >= 10)")
    ref, control_other, synth = (_take(c, n, rng) for c in (ref, control_other, synth_all))
    plan = _Plan(
        n_pcs=n_pcs,
        seed=seed,
        hvg=top_variable_genes(ref.log, n_top_genes),
        label_sizes=_label_sizes(ref, synth, control_other),
        n_markers=n_markers,
    )
    values = _compare(ref, synth, plan)
    controls = _compare(ref, control_other, plan)
    rows = [
        {"metric": m, "scope": s, "value": v, "control": controls.get((m, s), float("nan"))}
        for (m, s), v in values.items()
    ]
    rows.append(_privacy_row(ref_all, synth_all, train_all, seed))
    table = pd.DataFrame(rows)
    sizes = [n if scope == OVERALL else plan.label_sizes.get(scope) for scope in table.scope]
    table["verdict"] = [
        verdict(m, v, c, k)
        for m, v, c, k in zip(table.metric, table.value, table.control, sizes, strict=True)
    ]
    order = {name: i for i, name in enumerate(METRICS)}
    table["_order"] = table.metric.map(order)
    table["_overall"] = table.scope != OVERALL
    table = table.sort_values(["_overall", "_order", "scope"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def _reference_and_control(real: Cells, train: Cells | None, rng: np.random.Generator) -> tuple[Cells, Cells]:
    if train is not None:
        return real, train
    order = rng.permutation(len(real))
    half = len(real) // 2
    return real.subset(order[half:]), real.subset(order[:half])


def _take(cells: Cells, n: int, rng: np.random.Generator) -> Cells:
    return cells.subset(np.sort(rng.choice(len(cells), n, replace=False)))


def _label_sizes(ref: Cells, synth: Cells, control: Cells) -> dict[str, int]:
    """Cells per label used by the per-label tests: the same in the value and the control comparison."""
    if ref.labels is None or synth.labels is None or control.labels is None:
        return {}
    sizes = {}
    for label in sorted(set(ref.labels)):
        sizes[label] = int(min((c.labels == label).sum() for c in (ref, synth, control)))  # type: ignore[union-attr]
    return sizes


def _privacy_row(real: Cells, synth: Cells, train: Cells | None, seed: int) -> dict[str, object]:
    value, control, note = _privacy(real, synth, train, seed)
    if math.isfinite(value) and verdict("dcr_ratio", value, 1.0) == "poor":
        warnings.warn(
            f"PRIVACY ALERT: synthetic cells sit much closer to the training cells than held-out real cells "
            f"do (distance ratio {value:.2f}, {note}). The model is likely copying training cells: "
            "do not share these data as anonymised.",
            UserWarning,
            stacklevel=3,
        )
    return {"metric": "dcr_ratio", "scope": OVERALL, "value": value, "control": control}


def evaluate_many(
    real: CountsLike,
    candidates: Mapping[str, CountsLike],
    labels_key: str | None = None,
    train: CountsLike | None = None,
    seed: int = 0,
    **kwargs: int,
) -> pd.DataFrame:
    """:func:`evaluate` for several synthetic sets; the tidy tables stacked with a ``model`` column."""
    tables = []
    for name, synthetic in candidates.items():
        table = evaluate(real, synthetic, labels_key=labels_key, train=train, seed=seed, **kwargs)
        tables.append(table.assign(model=name))
    return pd.concat(tables, ignore_index=True)[["model", *COLUMNS]]


__all__ = [
    "METRICS",
    "Cells",
    "MetricInfo",
    "cells_from",
    "energy_distance",
    "evaluate",
    "evaluate_many",
    "prdc",
    "verdict",
]
