"""Real against synthetic cells, the way a bioinformatician would look at them.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed), except where scanpy draws it. Expression is ``log1p`` of counts normalised to 10k.
"""

from __future__ import annotations

import os
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from biogan.errors import InvalidDataError
from biogan.metrics.counts import Cells, cells_from, gene_names, marker_genes, top_variable_genes
from biogan.train.diagnostics import COLLAPSE_RATIO

REAL_COLOR, SYNTH_COLOR = "#4c72b0", "#dd8452"


def _pair(real: ad.AnnData, synth: ad.AnnData, labels_key: str | None = None) -> tuple[Cells, Cells]:
    genes = gene_names(real)
    return cells_from(real, "real", labels_key, genes), cells_from(synth, "synthetic", labels_key, genes)


def _palette(labels: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if len(labels) > 10 else "tab10"]
    return {label: cmap(i % cmap.N) for i, label in enumerate(labels)}


# ---------------------------------------------------------------------------------------- embedding
def embedding(
    real: ad.AnnData,
    synth: ad.AnnData,
    labels_key: str | None = None,
    method: str = "umap",
    n_pcs: int = 30,
    seed: int = 0,
) -> Figure:
    """Real and synthetic cells in one embedding fit on the real cells and applied to both.

    Parameters
    ----------
    real, synth
        Cells with raw counts and the same genes.
    labels_key
        ``obs`` column to colour by (adds one panel per source coloured by label).
    method
        ``"umap"`` (needs umap-learn; falls back to PCA with a note) or ``"pca"``.
    n_pcs
        Principal components (fit on real cells) that UMAP starts from.
    seed
        Seeds PCA and UMAP.
    """
    if method not in ("umap", "pca"):
        raise InvalidDataError(f"unknown embedding method {method!r}: use 'umap' or 'pca'")
    r, s = _pair(real, synth, labels_key)
    k = int(min(n_pcs, r.log.shape[1], len(r) - 1))
    pca = PCA(k, random_state=seed).fit(r.log)
    pr, ps = pca.transform(r.log), pca.transform(s.log)
    note = ""
    if method == "umap":
        try:
            import umap
        except ImportError:
            method, note = "pca", " (umap-learn not installed: PCA shown; pip install umap-learn)"
        else:
            reducer = umap.UMAP(n_neighbors=min(15, len(r) - 1), random_state=seed, n_jobs=1)
            er, es = reducer.fit_transform(pr), reducer.transform(ps)
    if method == "pca":
        er, es = pr[:, :2], ps[:, :2]
    axis = "UMAP" if method == "umap" else "PC"
    panels = 3 if labels_key else 1
    fig = Figure(figsize=(5.2 * panels, 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels, sharex=True, sharey=True))
    axes[0].scatter(*er.T, s=6, c=REAL_COLOR, label=f"real ({len(r)})", alpha=0.7, linewidths=0)
    axes[0].scatter(*es.T, s=6, c=SYNTH_COLOR, label=f"synthetic ({len(s)})", alpha=0.7, linewidths=0)
    axes[0].legend(markerscale=3, fontsize=8)
    axes[0].set_title("by source")
    if labels_key:
        assert r.labels is not None and s.labels is not None
        colors = _palette(sorted(set(r.labels) | set(s.labels)))
        for ax, emb, labels, name in ((axes[1], er, r.labels, "real"), (axes[2], es, s.labels, "synthetic")):
            for label, color in colors.items():
                mask = labels == label
                ax.scatter(*emb[mask].T, s=6, color=color, label=label, linewidths=0)
            ax.set_title(f"{name} cells by {labels_key}")
        axes[2].legend(markerscale=3, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    for ax in axes:
        ax.set_xlabel(f"{axis}1")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel(f"{axis}2")
    fig.suptitle(f"{method.upper()} fit on real cells, synthetic cells projected{note}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- markers
def marker_dotplot(
    real: ad.AnnData, synth: ad.AnnData, labels_key: str, n_genes: int = 3, min_cells: int = 3
) -> Figure:
    """Scanpy dot plot of each label's top marker genes (found on real cells), real next to synthetic.

    Rows are ``label · real`` and ``label · synthetic``; dot colour is mean expression (scaled per gene),
    dot size the share of cells expressing the gene.
    """
    import matplotlib.pyplot as plt
    import scanpy as sc

    r, s = _pair(real, synth, labels_key)
    assert r.labels is not None and s.labels is not None
    counts = pd.Series(r.labels).value_counts()
    groups = sorted(g for g, n in counts.items() if n >= min_cells)
    if len(groups) < 2:
        raise InvalidDataError(f"a marker dot plot needs two labels with >= {min_cells} real cells each")
    genes = np.asarray(gene_names(real) or [f"gene{i}" for i in range(r.log.shape[1])])
    markers = marker_genes(r.log, r.labels, groups, n_genes)
    seen: set[int] = set()
    var_names: dict[str, list[str]] = {}
    for group in groups:  # a gene may mark two labels: show it once, under the first
        picked = [int(g) for g in markers[group] if g not in seen]
        seen.update(picked)
        if picked:
            var_names[group] = list(genes[sorted(picked)])
    source_rows = [f"{g} · {src}" for g in groups for src in ("real", "synthetic")]
    both = ad.AnnData(
        np.vstack([r.log, s.log]).astype(np.float32),
        obs=pd.DataFrame(
            {"group": [f"{lab} · real" for lab in r.labels] + [f"{lab} · synthetic" for lab in s.labels]},
            index=[str(i) for i in range(len(r) + len(s))],
        ),
    )
    both.var_names = list(genes)
    both = both[both.obs["group"].isin(source_rows).to_numpy()].copy()
    both.obs["group"] = pd.Categorical(both.obs["group"], categories=source_rows)
    dot = sc.pl.dotplot(both, var_names, groupby="group", standard_scale="var", return_fig=True, show=False)
    dot.make_figure()
    fig = dot.fig
    plt.close(fig)  # scanpy drew it through pyplot: release it from pyplot's registry
    return fig


# ---------------------------------------------------------------------------------------- genes
def gene_mean_variance_scatter(real: ad.AnnData, synth: ad.AnnData) -> Figure:
    """Per-gene mean and variance (log-normalised), synthetic against real, with the identity line."""
    r, s = _pair(real, synth)
    fig = Figure(figsize=(10, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, stat, name in ((axes[0], np.mean, "mean"), (axes[1], np.var, "variance")):
        x, y = stat(r.log, axis=0), stat(s.log, axis=0)
        ax.scatter(x, y, s=6, alpha=0.6, c=SYNTH_COLOR, linewidths=0)
        hi = float(max(x.max(), y.max())) * 1.05 or 1.0
        ax.plot([0, hi], [0, hi], color="black", lw=0.8, ls="--", label="identity")
        r_value = np.corrcoef(x, y)[0, 1] if x.std() > 0 and y.std() > 0 else float("nan")
        ax.set(
            xlabel=f"real gene {name}",
            ylabel=f"synthetic gene {name}",
            title=f"gene {name} (r = {r_value:.3f})",
        )
        ax.legend(fontsize=8)
    return fig


def library_and_zero_histograms(real: ad.AnnData, synth: ad.AnnData) -> Figure:
    """Histograms of library sizes (log10) and of each cell's fraction of zero counts."""
    r, s = _pair(real, synth)
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    lib_r, lib_s = (np.log10(np.maximum(c.counts.sum(1), 1)) for c in (r, s))
    zero_r, zero_s = ((c.counts == 0).mean(1) for c in (r, s))
    for ax, a, b, name in (
        (axes[0], lib_r, lib_s, "log10 library size"),
        (axes[1], zero_r, zero_s, "zero fraction"),
    ):
        bins = np.histogram_bin_edges(np.r_[a, b], bins=30)
        ax.hist(a, bins=bins, alpha=0.6, color=REAL_COLOR, label="real", density=True)
        ax.hist(b, bins=bins, alpha=0.6, color=SYNTH_COLOR, label="synthetic", density=True)
        ax.set(xlabel=name, ylabel="density", title=name)
        ax.legend(fontsize=8)
    return fig


def correlation_heatmaps(real: ad.AnnData, synth: ad.AnnData, n_genes: int = 50) -> Figure:
    """Gene–gene correlation of the most variable genes: real, synthetic and their difference.

    Genes are ordered by hierarchical clustering of the real correlations, so blocks line up.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    r, s = _pair(real, synth)
    genes = top_variable_genes(r.log, n_genes)
    with np.errstate(divide="ignore", invalid="ignore"):
        cr = np.nan_to_num(np.corrcoef(r.log[:, genes], rowvar=False))
        cs = np.nan_to_num(np.corrcoef(s.log[:, genes], rowvar=False))
    distance = np.clip(1 - cr, 0, 2)
    np.fill_diagonal(distance, 0)
    order = leaves_list(linkage(squareform(distance, checks=False), "average"))
    cr, cs = cr[np.ix_(order, order)], cs[np.ix_(order, order)]
    fig = Figure(figsize=(14, 4.6), layout="constrained")
    axes = fig.subplots(1, 3)
    titles = ("real", "synthetic", f"synthetic − real (mean |Δ| {np.abs(cs - cr).mean():.3f})")
    for ax, matrix, title in zip(axes, (cr, cs, cs - cr), titles, strict=True):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set(title=title, xticks=[], yticks=[])
    fig.colorbar(image, ax=axes, shrink=0.8, label="Pearson r")
    fig.suptitle(f"Gene–gene correlation of the {len(genes)} most variable genes (real)", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- training
CURVE_ORDER = (
    "critic_loss",
    "generator_loss",
    "wasserstein",
    "gradient_penalty",
    "diversity_ratio",
    "validation_score",
)


def training_curves(history: pd.DataFrame | str | os.PathLike) -> Figure:
    """One panel per logged quantity against the step (losses, Wasserstein estimate, gradient penalty,
    the diversity ratio used as collapse signal, validation score, or a VAE's ELBO terms).

    Parameters
    ----------
    history
        A model's ``history`` DataFrame or the path of its ``history.csv``.
    """
    if not isinstance(history, pd.DataFrame):
        history = pd.read_csv(history)
    if history.empty or "step" not in history:
        raise InvalidDataError("the training history is empty: train the model first")
    numeric = [c for c in history.select_dtypes("number").columns if c not in ("step", "elapsed_s", "epoch")]
    columns = [c for c in CURVE_ORDER if c in numeric] + [c for c in numeric if c not in CURVE_ORDER]
    columns = [c for c in columns if history[c].notna().any()]
    n_cols = min(3, max(len(columns), 1))
    n_rows = max(1, -(-len(columns) // n_cols))
    fig = Figure(figsize=(4.6 * n_cols, 3.2 * n_rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(n_rows, n_cols, squeeze=False)).ravel()
    for ax, column in zip(axes, columns, strict=False):
        rows = history[["step", column]].dropna()
        ax.plot(rows["step"], rows[column], lw=1.2, marker="." if len(rows) < 30 else None)
        ax.set(title=column.replace("_", " "), xlabel="step")
        if column == "diversity_ratio":
            ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="real data")
            ax.axhline(COLLAPSE_RATIO, color="crimson", lw=0.8, ls="--", label="collapse threshold")
            ax.legend(fontsize=7)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    elapsed = float(history["elapsed_s"].max()) if "elapsed_s" in history else float("nan")
    fig.suptitle(f"Training curves ({int(history['step'].max())} steps, {elapsed:.0f} s)", fontsize=10)
    return fig


__all__ = [
    "correlation_heatmaps",
    "embedding",
    "gene_mean_variance_scatter",
    "library_and_zero_histograms",
    "marker_dotplot",
    "training_curves",
]
