"""Real against synthetic compositions: mean composition, CLR PCA, Shannon diversity, condition curves.

A composition group is a set of table columns that are parts of a whole (:mod:`biogan.metrics.compositions`);
every function takes the two tables, the group's part columns and returns a
:class:`matplotlib.figure.Figure` built without pyplot. Rows are closed to proportions and log-ratios
use the metrics' pseudo-count (half the smallest non-zero real proportion), so the pictures show what
the metrics measure.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from biogan.errors import InvalidDataError
from biogan.metrics.compositions import (
    MIN_BIN_ROWS,
    binned_means,
    check_parts,
    closure,
    clr,
    condition_edges,
    pseudo_count,
    shannon,
)
from biogan.metrics.tables import Table, table_from
from biogan.plot.expression import REAL_COLOR, SYNTH_COLOR
from biogan.plot.tables import _short

OTHER = "other"
SIDES = ((-0.21, "real"), (0.21, "synthetic"))  # bar offsets of a real-synthetic pair


def _pair(
    real: pd.DataFrame, synth: pd.DataFrame, parts: Sequence[Hashable], labels_key: Hashable | None = None
) -> tuple[Table, Table]:
    r = table_from(real, "real", labels_key)
    s = table_from(synth, "synthetic", labels_key, like=r)
    check_parts(r.frame, {"composition": parts}, "real rows")
    check_parts(s.frame, {"composition": parts}, "synthetic rows")
    return r, s


def _props(table: Table, parts: Sequence[Hashable]) -> np.ndarray:
    return closure(table.frame[list(parts)].to_numpy(dtype=float))


# ---------------------------------------------------------------------------------------- mean bars
def mean_composition_bars(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    parts: Sequence[Hashable],
    labels_key: Hashable | None = None,
    max_parts: int = 15,
    max_labels: int = 12,
) -> Figure:
    """Stacked bars of the mean composition, real next to synthetic (one pair per label with labels).

    Parameters
    ----------
    real, synth
        Tables with the same columns.
    parts
        The part columns of one composition group.
    labels_key
        The label column: one pair of bars per label (the ``max_labels`` commonest real ones).
    max_parts
        Parts drawn (the largest real mean proportions); the rest are summed as ``"other"``.
    """
    r, s = _pair(real, synth, parts, labels_key)
    pr, ps = _props(r, parts), _props(s, parts)
    top = np.argsort(-pr.mean(axis=0), kind="stable")[:max_parts]
    names = [_short(parts[j], 20) for j in top] + ([OTHER] if len(parts) > len(top) else [])
    groups = _label_groups(r, s, max_labels)
    fig = Figure(figsize=(max(5.0, 1.6 * len(groups) + 3.0), 4.6), layout="constrained")
    ax = fig.subplots()
    colors = _part_colors(len(top)) + (["#cccccc"] if len(names) > len(top) else [])
    for i, (mask_r, mask_s) in enumerate(groups.values()):
        for (offset, _), props, mask in zip(SIDES, (pr, ps), (mask_r, mask_s), strict=True):
            if mask.any():
                _stack(ax, i + offset, _top_means(props[mask], top), colors)
    ticks = [(i + offset, f"{side}\n{_short(g, 16)}") for i, g in enumerate(groups) for offset, side in SIDES]
    ax.set_xticks([x for x, _ in ticks], [text for _, text in ticks], fontsize=8)
    ax.set_ylabel("mean proportion")
    ax.set_ylim(0, 1)
    handles = [ax.bar(0, 0, color=c, label=n) for n, c in zip(names, colors, strict=True)]
    ax.legend(handles=handles[::-1], fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("Mean composition, real next to synthetic" + _by(labels_key), fontsize=10)
    return fig


def _by(labels_key: Hashable | None) -> str:
    return f", per {labels_key}" if labels_key is not None else ""


def _label_groups(r: Table, s: Table, max_labels: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Bar pairs: ``"all rows"`` without labels, else the commonest real labels; row masks per set."""
    if r.labels is None or s.labels is None:
        return {"all rows": (np.ones(len(r), bool), np.ones(len(s), bool))}
    common = pd.Series(r.labels).value_counts().index[:max_labels]
    return {str(label): (r.labels == label, s.labels == label) for label in common}


def _top_means(props: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Mean proportions of the ``top`` parts, then the rest summed (when there is a rest)."""
    means = props.mean(axis=0)
    rest = means.sum() - means[top].sum()
    return np.r_[means[top], rest] if len(top) < props.shape[1] else means[top]


def _stack(ax: Axes, x: float, heights: np.ndarray, colors: list) -> None:
    bottoms = np.r_[0.0, np.cumsum(heights)[:-1]]
    ax.bar(np.full(len(heights), x), heights, 0.38, bottom=bottoms, color=colors, linewidth=0)


def _part_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    return [cmap(i % 20) for i in range(n)]


# ---------------------------------------------------------------------------------------- CLR PCA
def clr_pca(real: pd.DataFrame, synth: pd.DataFrame, parts: Sequence[Hashable], seed: int = 0) -> Figure:
    """Real and synthetic rows on the first two principal components of their centred log-ratios.

    The PCA is fit on both sets together (as the CLR two-sample metrics see them); the pseudo-count is
    half the smallest non-zero real proportion.
    """
    r, s = _pair(real, synth, parts)
    pseudo = pseudo_count(r.frame[list(parts)].to_numpy(dtype=float))
    cr, cs = clr(_props(r, parts), pseudo), clr(_props(s, parts), pseudo)
    pca = PCA(2, random_state=seed).fit(np.vstack([cr, cs]))
    er, es = pca.transform(cr), pca.transform(cs)
    fig = Figure(figsize=(5.6, 4.8), layout="constrained")
    ax = fig.subplots()
    ax.scatter(*er.T, s=8, c=REAL_COLOR, label=f"real ({len(r)})", alpha=0.6, linewidths=0)
    ax.scatter(*es.T, s=8, c=SYNTH_COLOR, label=f"synthetic ({len(s)})", alpha=0.6, linewidths=0)
    ax.legend(markerscale=2, fontsize=8)
    explained = pca.explained_variance_ratio_ * 100
    ax.set(xlabel=f"PC1 ({explained[0]:.0f}%)", ylabel=f"PC2 ({explained[1]:.0f}%)")
    fig.suptitle(f"PCA of centred log-ratios (pseudo-count {pseudo:.2g}), fit on both sets", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- diversity
def shannon_histograms(real: pd.DataFrame, synth: pd.DataFrame, parts: Sequence[Hashable]) -> Figure:
    """Histograms of the per-row Shannon diversity (natural log) of the parts, real against synthetic."""
    r, s = _pair(real, synth, parts)
    hr, hs = shannon(_props(r, parts)), shannon(_props(s, parts))
    bins = np.histogram_bin_edges(np.r_[hr, hs], bins=30)
    fig = Figure(figsize=(5.6, 3.8), layout="constrained")
    ax = fig.subplots()
    ax.hist(hr, bins=bins, alpha=0.6, color=REAL_COLOR, label="real", density=True)
    ax.hist(hs, bins=bins, alpha=0.6, color=SYNTH_COLOR, label="synthetic", density=True)
    ax.set(xlabel="Shannon diversity  −Σ p ln p", ylabel="density")
    ax.legend(fontsize=8)
    fig.suptitle(f"Alpha diversity of the rows (max ln {len(parts)} = {np.log(len(parts)):.2f})", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- conditions
def condition_curves(
    real: pd.DataFrame,
    synth: pd.DataFrame,
    parts: Sequence[Hashable],
    conditions: Sequence[Hashable],
) -> Figure:
    """The largest part's mean proportion in deciles of each condition, real against synthetic.

    One panel per condition column; bins are the deciles of the real condition values and bins with
    fewer than five rows in either set are left out (as ``condition_curve_gap`` does).
    """
    if not conditions:
        raise InvalidDataError("condition curves need at least one condition column")
    r, s = _pair(real, synth, parts)
    pr, ps = _props(r, parts), _props(s, parts)
    largest = int(np.argmax(pr.mean(axis=0)))
    fig = Figure(figsize=(4.6 * len(conditions), 3.8), layout="constrained")
    axes = fig.subplots(1, len(conditions), squeeze=False).ravel()
    for ax, condition in zip(axes, conditions, strict=True):
        _curve(ax, pr, ps, r.frame[condition].to_numpy(float), s.frame[condition].to_numpy(float), largest)
        ax.set_xlabel(_short(condition, 30))
    axes[0].set_ylabel(f"mean proportion of {_short(parts[largest], 20)}")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Largest part {parts[largest]!s} against the conditions, real and synthetic", fontsize=10)
    return fig


def _curve(
    ax: Axes, pr: np.ndarray, ps: np.ndarray, cond_r: np.ndarray, cond_s: np.ndarray, part: int
) -> None:
    """Binned means of one part, drawn at the median real condition value of every bin."""
    edges = condition_edges(cond_r)
    mean_r, rows_r = binned_means(pr, cond_r, edges)
    mean_s, rows_s = binned_means(ps, cond_s, edges)
    keep = (rows_r >= MIN_BIN_ROWS) & (rows_s >= MIN_BIN_ROWS)
    present = cond_r[np.isfinite(cond_r)]
    index = np.searchsorted(edges, present, side="right")
    centres = np.array([np.median(present[index == k]) if rows_r[k] else np.nan for k in range(len(rows_r))])
    ax.plot(centres[keep], mean_r[keep, part], "o-", color=REAL_COLOR, label="real")
    ax.plot(centres[keep], mean_s[keep, part], "s--", color=SYNTH_COLOR, label="synthetic")


__all__ = ["clr_pca", "condition_curves", "mean_composition_bars", "shannon_histograms"]
