"""Real against synthetic rows of a table: every column, the column correlations, a 2-D PCA.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed). Inputs are pandas DataFrames with the same columns; the column kinds (numeric or
categorical) and the row encoding (standardised numbers, one-hot categories) are those of
:mod:`biogan.metrics.tables`, so the pictures show what the metrics measure.
"""

from __future__ import annotations

import math
from collections.abc import Hashable

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from biogan.errors import InvalidDataError
from biogan.metrics.tables import NUMERIC, Table, TableEncoding, table_from
from biogan.metrics.two_sample import correlation_matrix
from biogan.plot.expression import REAL_COLOR, SYNTH_COLOR, _palette


def _pair(
    real: pd.DataFrame, synth: pd.DataFrame, labels_key: Hashable | None = None
) -> tuple[Table, Table, TableEncoding]:
    r = table_from(real, "real", labels_key)
    s = table_from(synth, "synthetic", labels_key, like=r)
    return r, s, TableEncoding.fit(r, [s])


def _short(text: object, width: int = 14) -> str:
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------------------------------- columns
def column_distributions(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    labels_key: Hashable | None = None,
    max_columns: int = 40,
    n_cols: int = 5,
    max_categories: int = 12,
) -> Figure:
    """A grid with one panel per column: histograms (numeric) or category shares (categorical).

    Parameters
    ----------
    real, synth
        Tables with the same columns.
    labels_key
        The label column (drawn as categories even when its values are numbers).
    max_columns
        Columns drawn (the first ones; the title says how many were left out).
    n_cols
        Panels per row of the grid.
    max_categories
        Categories drawn per categorical column (the most common real ones).
    """
    r, s, _ = _pair(real, synth, labels_key)
    columns = r.columns[:max_columns]
    n_cols = max(1, min(n_cols, len(columns)))
    n_rows = math.ceil(len(columns) / n_cols)
    fig = Figure(figsize=(3.0 * n_cols, 2.3 * n_rows + 0.5), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, column in zip(axes, columns, strict=False):
        if r.kinds[column] == NUMERIC:
            _histogram(ax, r.frame[column], s.frame[column])
        else:
            _bars(ax, r.frame[column], s.frame[column], max_categories)
        ax.set_title(_short(column, 28), fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(columns) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    left_out = len(r.columns) - len(columns)
    note = f"; {left_out} more columns not drawn" if left_out else ""
    fig.suptitle(f"Every column: real ({len(r)} rows) against synthetic ({len(s)} rows){note}", fontsize=10)
    return fig


def _histogram(ax: Axes, real: pd.Series, synth: pd.Series) -> None:
    a, b = real.dropna().to_numpy(dtype=float), synth.dropna().to_numpy(dtype=float)
    bins = np.histogram_bin_edges(np.r_[a, b], bins=25) if len(a) + len(b) else 10
    ax.hist(a, bins=bins, alpha=0.6, color=REAL_COLOR, label="real", density=True)
    ax.hist(b, bins=bins, alpha=0.6, color=SYNTH_COLOR, label="synthetic", density=True)
    ax.set_yticks([])


def _bars(ax: Axes, real: pd.Series, synth: pd.Series, max_categories: int) -> None:
    shares_r = real.value_counts(normalize=True)
    shares_s = synth.value_counts(normalize=True)
    categories = list(shares_r.index[:max_categories])
    categories += [c for c in shares_s.index if c not in set(categories)][: max_categories - len(categories)]
    x = np.arange(len(categories))
    ax.bar(x - 0.2, shares_r.reindex(categories, fill_value=0), 0.4, color=REAL_COLOR, label="real")
    ax.bar(x + 0.2, shares_s.reindex(categories, fill_value=0), 0.4, color=SYNTH_COLOR, label="synthetic")
    ax.set_xticks(x, [_short(c) for c in categories], rotation=45 if len(categories) > 3 else 0, ha="right")
    ax.set_ylabel("share", fontsize=7)


# ---------------------------------------------------------------------------------------- correlations
def column_correlations(
    real: pd.DataFrame, synth: pd.DataFrame, labels_key: Hashable | None = None, max_features: int = 60
) -> Figure:
    """Column–column correlations (numeric columns and one-hot categories): real, synthetic, difference.

    Features are ordered by hierarchical clustering of the real correlations, so blocks line up. The
    ``labels_key`` column is one-hot encoded like any category (as ``column_corr_diff`` does).
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    r, s, encoding = _pair(real, synth, labels_key)
    names = encoding.feature_names()[:max_features]
    if len(names) < 2:
        raise InvalidDataError("a correlation heatmap needs at least two columns")
    cr = correlation_matrix(encoding.features(r)[:, : len(names)])
    cs = correlation_matrix(encoding.features(s)[:, : len(names)])
    distance = np.clip(1 - cr, 0, 2)
    np.fill_diagonal(distance, 0)
    order = leaves_list(linkage(squareform(distance, checks=False), "average"))
    cr, cs = cr[np.ix_(order, order)], cs[np.ix_(order, order)]
    labels = [_short(names[i], 18) for i in order]
    fig = Figure(figsize=(15, 5.4 if len(names) <= 40 else 4.8), layout="constrained")
    axes = fig.subplots(1, 3)
    upper = np.triu_indices(len(names), 1)
    titles = ("real", "synthetic", f"synthetic − real (mean |Δ| {np.abs(cs - cr)[upper].mean():.3f})")
    for ax, matrix, title in zip(axes, (cr, cs, cs - cr), titles, strict=True):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        if len(names) <= 40:  # beyond that the names are unreadable
            ax.set_xticks(range(len(names)), labels, rotation=90, fontsize=6)
            ax.set_yticks(range(len(names)), labels if ax is axes[0] else [], fontsize=6)
        else:
            ax.set(xticks=[], yticks=[])
    fig.colorbar(image, ax=axes, shrink=0.8, label="Pearson r")
    left_out = len(encoding.feature_names()) - len(names)
    note = f" (first {len(names)} of {len(names) + left_out} features)" if left_out else ""
    fig.suptitle(f"Column–column correlations, numeric columns and one-hot categories{note}", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- rows
def row_pca(
    real: pd.DataFrame, synth: pd.DataFrame, labels_key: Hashable | None = None, seed: int = 0
) -> Figure:
    """Real and synthetic rows on the first two principal components of the real rows.

    Rows are standardised numeric columns and one-hot categories (the label column left out, it
    colours the points instead: with ``labels_key`` one panel per source coloured by label is added).
    """
    r, s, encoding = _pair(real, synth, labels_key)
    drop = [labels_key] if labels_key is not None else []
    xr, xs = encoding.features(r, drop), encoding.features(s, drop)
    if xr.shape[1] < 2:
        raise InvalidDataError("a 2-D PCA needs at least two feature columns")
    pca = PCA(2, random_state=seed).fit(xr)
    er, es = pca.transform(xr), pca.transform(xs)
    panels = 3 if labels_key is not None else 1
    fig = Figure(figsize=(5.2 * panels, 4.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, panels, sharex=True, sharey=True))
    axes[0].scatter(*er.T, s=8, c=REAL_COLOR, label=f"real ({len(r)})", alpha=0.7, linewidths=0)
    axes[0].scatter(*es.T, s=8, c=SYNTH_COLOR, label=f"synthetic ({len(s)})", alpha=0.7, linewidths=0)
    axes[0].legend(markerscale=2, fontsize=8)
    axes[0].set_title("by source")
    if labels_key is not None:
        assert r.labels is not None and s.labels is not None
        colors = _palette(sorted(set(r.labels) | set(s.labels)))
        for ax, emb, labels, name in ((axes[1], er, r.labels, "real"), (axes[2], es, s.labels, "synthetic")):
            for label, color in colors.items():
                mask = labels == label
                ax.scatter(*emb[mask].T, s=8, color=color, label=label, linewidths=0)
            ax.set_title(f"{name} rows by {labels_key}")
        axes[2].legend(markerscale=2, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    explained = pca.explained_variance_ratio_ * 100
    for ax in axes:
        ax.set_xlabel(f"PC1 ({explained[0]:.0f}%)")
    axes[0].set_ylabel(f"PC2 ({explained[1]:.0f}%)")
    fig.suptitle("PCA fit on real rows, synthetic rows projected", fontsize=10)
    return fig


__all__ = ["column_correlations", "column_distributions", "row_pca"]
