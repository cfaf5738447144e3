"""Real against synthetic genotypes: allele frequencies, LD, population structure, distances, copies.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed). Inputs are :class:`~biogan.data.genotypes.GenotypeSet` with the same SNPs, checked and
turned into rows (haplotypes when every set is phased, else dosages) by :mod:`biogan.metrics.genotypes`,
so the pictures show what the metrics measure. Sets are subsampled to at most ``max_rows`` rows (seeded).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from biogan.data.genotypes import GenotypeSet
from biogan.metrics.genotypes import (
    DECAY_BINS,
    Genotypes,
    common_snps,
    decay_from,
    genotypes_from,
    hamming_distances,
    joint_pcs,
    ld_r2,
    pair_bins,
    sampled_pairs,
)
from biogan.plot.expression import REAL_COLOR, SYNTH_COLOR, _palette

CONTROL_COLOR = "#55a868"
MAX_ROWS = 2000  # rows per set drawn (distances grow with the square of the rows)
HIST_PAIRS = 20_000  # row pairs per histogram of pairwise distances


def _sets(real: GenotypeSet, synth: GenotypeSet, train: GenotypeSet | None = None) -> list[Genotypes]:
    """The checked sets in one row mode (``train`` last, when given)."""
    r = genotypes_from(real, "real")
    out = [r, genotypes_from(synth, "synthetic", like=r)]
    if train is not None:
        out.append(genotypes_from(train, "training", like=r))
    return out


def _capped(data: Genotypes, max_rows: int, seed: int) -> Genotypes:
    if len(data) <= max_rows:
        return data
    return data.subset(np.sort(np.random.default_rng(seed).choice(len(data), max_rows, replace=False)))


def _unit(data: Genotypes) -> str:
    return "haplotypes" if data.mode.haplotypes else "samples"


# ---------------------------------------------------------------------------------------- frequencies
def allele_frequency_scatter(real: GenotypeSet, synth: GenotypeSet) -> Figure:
    """ALT allele frequency of every SNP, synthetic against real, with the identity line and Pearson r."""
    r, s = _sets(real, synth)
    x, y = r.frequencies, s.frequencies
    ok = np.isfinite(x) & np.isfinite(y)
    r_value = np.corrcoef(x[ok], y[ok])[0, 1] if x[ok].std() > 0 and y[ok].std() > 0 else float("nan")
    fig = Figure(figsize=(4.8, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.scatter(x[ok], y[ok], s=5, alpha=0.4, c=SYNTH_COLOR, linewidths=0)
    ax.plot([0, 1], [0, 1], color="black", lw=0.8, ls="--", label="identity")
    ax.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel=f"ALT allele frequency, real ({len(r)} {_unit(r)})",
        ylabel=f"ALT allele frequency, synthetic ({len(s)})",
        title=f"Allele frequencies of {int(ok.sum())} SNPs: r = {r_value:.3f}",
    )
    ax.legend(fontsize=8, loc="upper left")
    return fig


# ---------------------------------------------------------------------------------------- LD
def ld_heatmaps(real: GenotypeSet, synth: GenotypeSet, max_snps: int = 300) -> Figure:
    """Linkage disequilibrium (r²) of common SNPs of one chromosome, real next to synthetic.

    The chromosome with the most SNPs; at most ``max_snps`` SNPs with minor-allele frequency >= 0.05 in
    the real data, evenly spaced; one colour scale (0 to 1) for both panels.
    """
    r, s = _sets(real, synth)
    chroms = r.chroms
    values, counts = np.unique(chroms, return_counts=True)
    chrom = values[np.argmax(counts)]
    on_chrom = np.flatnonzero(chroms == chrom)
    index = on_chrom[common_snps(r.frequencies[on_chrom], max_snps)]
    start, end = r.positions[index[0]] / 1e6, r.positions[index[-1]] / 1e6
    fig = Figure(figsize=(10.5, 4.8), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, data, name in ((axes[0], r, "real"), (axes[1], s, "synthetic")):
        image = ax.imshow(ld_r2(data.rows[:, index]), cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
        ax.set(title=f"{name} ({len(data)} {_unit(data)})", xlabel="SNP", ylabel="SNP")
    fig.colorbar(image, ax=axes, shrink=0.8, label="r²")
    fig.suptitle(
        f"LD of {len(index)} common SNPs on chromosome {chrom}, {start:.2f}-{end:.2f} Mb", fontsize=10
    )
    return fig


def ld_decay_curves(
    real: GenotypeSet, synth: GenotypeSet, train: GenotypeSet | None = None, max_snps: int = 500
) -> Figure:
    """Mean r² of SNP pairs against their distance (up to 1 Mb), real, synthetic and training data.

    The SNPs of the ``ld_decay_diff`` metric (at most ``max_snps`` common ones of the real data, evenly
    spaced); the training curve is a real-vs-real control (how far two real samples' curves differ).
    """
    sets = _sets(real, synth, train)
    index = common_snps(sets[0].frequencies, max_snps)
    bins_of_pairs = pair_bins(sets[0].positions[index], sets[0].chroms[index])
    middle = np.sqrt(np.maximum(DECAY_BINS[:-1], 100.0) * DECAY_BINS[1:])  # geometric bin centres
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    styles = [("held-out real", REAL_COLOR, "o"), ("synthetic", SYNTH_COLOR, "s")]
    styles += [("training (control)", CONTROL_COLOR, "^")] if train is not None else []
    for data, (name, color, marker) in zip(sets, styles, strict=True):
        decay = decay_from(ld_r2(data.rows[:, index]), bins_of_pairs, len(middle))
        ax.plot(middle / 1e3, decay, marker=marker, color=color, label=name, lw=1.2, ms=4)
    ax.set(xscale="log", xlabel="distance between SNPs (kb)", ylabel="mean r²", title="LD decay")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------- structure
def genotype_pca(real: GenotypeSet, synth: GenotypeSet, seed: int = 0, max_rows: int = MAX_ROWS) -> Figure:
    """The first two principal components of real and synthetic rows, fit on both sets together.

    Colours are the labels (population) when both sets have them, else real / synthetic; circles are
    real rows, crosses synthetic ones. Fitting on the union keeps either set from owning the axes.
    """
    r, s = (_capped(x, max_rows, seed + i) for i, x in enumerate(_sets(real, synth)))
    pcs_r, pcs_s = joint_pcs(r.rows, s.rows, n_pcs=2, seed=seed)
    fig = Figure(figsize=(6.2, 5), layout="constrained")
    ax = fig.subplots()
    if r.labels is not None and s.labels is not None:
        palette = _palette(sorted(set(r.labels) | set(s.labels)))
        for label, color in palette.items():
            _scatter(ax, pcs_r[r.labels == label], color, "o", f"{label} real")
            _scatter(ax, pcs_s[s.labels == label], color, "x", f"{label} synthetic")
    else:
        _scatter(ax, pcs_r, REAL_COLOR, "o", f"real ({len(r)})")
        _scatter(ax, pcs_s, SYNTH_COLOR, "x", f"synthetic ({len(s)})")
    ax.set(xlabel="PC1", ylabel="PC2", title=f"PCA of real and synthetic {_unit(r)} (fit on both)")
    ax.legend(fontsize=7, markerscale=1.5, ncol=2 if r.labels is not None else 1)
    return fig


def _scatter(ax: Axes, points: np.ndarray, color: object, marker: str, label: str) -> None:
    if len(points):
        ax.scatter(*points[:, :2].T, s=9, c=[color], marker=marker, alpha=0.6, linewidths=0.8, label=label)


# ---------------------------------------------------------------------------------------- distances
def pairwise_distance_histograms(
    real: GenotypeSet, synth: GenotypeSet, seed: int = 0, max_rows: int = MAX_ROWS
) -> Figure:
    """Hamming distances (differing SNPs; allele differences for dosages) between pairs of rows:
    real-real, synthetic-synthetic and real-synthetic, on shared bins. What ``pairwise_distance_w1``
    compares: the spread of relatedness within each set."""
    r, s = (_capped(x, max_rows, seed + i) for i, x in enumerate(_sets(real, synth)))
    rng = np.random.default_rng(seed)
    n_snps = r.rows.shape[1]
    within_r = _pair_distances(r.rows, r.rows, sampled_pairs(len(r), HIST_PAIRS, rng))
    within_s = _pair_distances(s.rows, s.rows, sampled_pairs(len(s), HIST_PAIRS, rng))
    across = _pair_distances(r.rows, s.rows, _cross_pairs(len(r), len(s), rng))
    groups = [
        ("real - real", within_r * n_snps, REAL_COLOR),
        ("synthetic - synthetic", within_s * n_snps, SYNTH_COLOR),
        ("real - synthetic", across * n_snps, CONTROL_COLOR),
    ]
    return _histograms(
        groups,
        xlabel=f"differing SNPs between two {_unit(r)} (of {n_snps})",
        title="Pairwise distances",
    )


def _pair_distances(a: np.ndarray, b: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Hamming distance of each row pair (chunked: a full distance matrix is not needed)."""
    i, j = pairs
    out = np.empty(len(i), dtype=np.float32)
    for start in range(0, len(i), 2000):
        part = slice(start, start + 2000)
        rows_a, rows_b = a[i[part]], b[j[part]]
        called = (rows_a >= 0) & (rows_b >= 0)
        differ = (np.abs(rows_a.astype(np.int16) - rows_b) * called).sum(1)
        out[part] = differ / np.maximum(called.sum(1), 1)
    return out


def _cross_pairs(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if n * m <= HIST_PAIRS:
        i, j = np.divmod(np.arange(n * m), m)
        return i, j
    return rng.integers(0, n, HIST_PAIRS), rng.integers(0, m, HIST_PAIRS)


def _histograms(
    groups: Sequence[tuple[str, np.ndarray, str]], xlabel: str, title: str, at_zero: bool = False
) -> Figure:
    """Density histograms on shared bins; legends give the median (and with ``at_zero`` the share at 0)."""
    fig = Figure(figsize=(6.4, 3.9), layout="constrained")
    ax = fig.subplots()
    values = np.concatenate([v for _, v, _ in groups])
    bins = np.histogram_bin_edges(values, bins=min(50, max(1, int(np.ptp(values)) + 1)))
    for name, v, color in groups:
        zero = f", {np.mean(v == 0):.0%} at 0" if at_zero else ""
        label = f"{name} (median {np.median(v):.0f}{zero})"
        ax.hist(v, bins=bins, alpha=0.5, color=color, density=True, label=label)
    ax.set(xlabel=xlabel, ylabel="density", title=title)
    ax.legend(fontsize=8)
    return fig


def nearest_neighbour_histogram(
    real: GenotypeSet,
    synth: GenotypeSet,
    train: GenotypeSet | None = None,
    seed: int = 0,
    max_rows: int = MAX_ROWS,
) -> Figure:
    """Distance of every synthetic and every held-out real row to its nearest training row.

    What AATS and the privacy loss build on: a model that copies its training rows puts the synthetic
    distances at 0, left of the held-out real ones. Without ``train`` the nearest real row (and, for a
    real row, the nearest *other* real row).
    """
    sets = _sets(real, synth, train)
    r, s = (_capped(x, max_rows, seed + i) for i, x in enumerate(sets[:2]))
    records = r if train is None else _capped(sets[2], max_rows, seed + 2)
    n_snps = r.rows.shape[1]
    d_synth = hamming_distances(s.rows, records.rows).min(axis=1) * n_snps
    d_real = (hamming_distances(r.rows) if train is None else hamming_distances(r.rows, records.rows)).min(
        axis=1
    ) * n_snps
    against = "real" if train is None else "training"
    groups = [("held-out real", d_real, REAL_COLOR), ("synthetic", d_synth, SYNTH_COLOR)]
    return _histograms(
        groups,
        xlabel=f"differing SNPs to the nearest {against} {_unit(r)[:-1]}",
        title="Nearest-neighbour distances (0 = an identical row)",
        at_zero=True,
    )


__all__ = [
    "allele_frequency_scatter",
    "genotype_pca",
    "ld_decay_curves",
    "ld_heatmaps",
    "nearest_neighbour_histogram",
    "pairwise_distance_histograms",
]
