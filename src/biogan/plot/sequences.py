"""Real against synthetic sequences: k-mer shares, lengths, letter composition, novelty, a sequence logo.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed). Inputs are :class:`~biogan.data.sequences.SequenceSet` of one alphabet, checked and
measured by :mod:`biogan.metrics.sequences`, so the pictures show what the metrics measure.
"""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from biogan.data.sequences import SequenceSet
from biogan.metrics.sequences import Sequences, novelty_distances, sequences_from
from biogan.plot.expression import REAL_COLOR, SYNTH_COLOR


def _pair(real: SequenceSet, synth: SequenceSet) -> tuple[Sequences, Sequences]:
    r = sequences_from(real, "real")
    return r, sequences_from(synth, "synthetic", like=r)


# ---------------------------------------------------------------------------------------- k-mers
def kmer_scatter(real: SequenceSet, synth: SequenceSet, ks: tuple[int, ...] = (1, 2, 3)) -> Figure:
    """Share of every k-mer (pooled over the sequences), synthetic against real, one panel per k.

    Log-log axes with the identity line; a k-mer absent from one set sits on that set's axis floor
    (half the smallest share it could have). Each title gives the Pearson r of the shares.
    """
    r, s = _pair(real, synth)
    fig = Figure(figsize=(4.2 * len(ks), 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(ks)))
    for ax, k in zip(axes, ks, strict=True):
        _kmer_panel(ax, r.spectrum(k), s.spectrum(k), k)
    axes[0].set_ylabel("share in synthetic sequences")
    fig.suptitle(f"k-mer shares: real ({len(r)} sequences) against synthetic ({len(s)})", fontsize=10)
    return fig


def _kmer_panel(ax: Axes, real_counts: np.ndarray, synth_counts: np.ndarray, k: int) -> None:
    x = real_counts / max(real_counts.sum(), 1)
    y = synth_counts / max(synth_counts.sum(), 1)
    floor = 0.5 / max(real_counts.sum(), synth_counts.sum(), 1)
    seen = (x > 0) | (y > 0)
    ax.scatter(np.maximum(x[seen], floor), np.maximum(y[seen], floor), s=6, alpha=0.5, c=SYNTH_COLOR)
    ax.plot([floor, 1], [floor, 1], color="black", lw=0.8, ls="--", label="identity")
    both = x.std() > 0 and y.std() > 0
    r_value = np.corrcoef(x, y)[0, 1] if both else float("nan")
    ax.set(xscale="log", yscale="log", xlabel="share in real sequences")
    ax.set_title(f"{k}-mers ({int(seen.sum())} seen): r = {r_value:.3f}", fontsize=10)


# ---------------------------------------------------------------------------------------- lengths, letters
def length_histogram(real: SequenceSet, synth: SequenceSet) -> Figure:
    """Histograms of the sequence lengths, real and synthetic on shared bins."""
    r, s = _pair(real, synth)
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    both = np.r_[r.lengths, s.lengths]
    bins = np.histogram_bin_edges(both, bins=min(40, max(1, int(np.ptp(both)) + 1)))
    ax.hist(
        r.lengths, bins=bins, alpha=0.6, color=REAL_COLOR, label=f"real (median {np.median(r.lengths):g})"
    )
    ax.hist(
        s.lengths,
        bins=bins,
        alpha=0.6,
        color=SYNTH_COLOR,
        label=f"synthetic (median {np.median(s.lengths):g})",
    )
    ax.set(xlabel="length (letters)", ylabel="sequences", title="Sequence lengths")
    ax.legend(fontsize=8)
    return fig


def composition_bars(real: SequenceSet, synth: SequenceSet) -> Figure:
    """Share of every letter of the alphabet (pooled over the sequences), real next to synthetic."""
    r, s = _pair(real, synth)
    letters = real.letters
    shares = [x.spectrum(1) / max(x.spectrum(1).sum(), 1) for x in (r, s)]
    fig = Figure(figsize=(max(5.0, 0.45 * len(letters) + 2), 3.8), layout="constrained")
    ax = fig.subplots()
    at = np.arange(len(letters))
    ax.bar(at - 0.2, shares[0], 0.4, color=REAL_COLOR, label="real")
    ax.bar(at + 0.2, shares[1], 0.4, color=SYNTH_COLOR, label="synthetic")
    ax.set_xticks(at, list(letters))
    ax.set(ylabel="share of letters", title=f"Letter composition ({real.alphabet})")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------- novelty
def novelty_histogram(
    real: SequenceSet, synth: SequenceSet, train: SequenceSet | None = None, seed: int = 0
) -> Figure:
    """Normalised edit distance to the nearest training sequence, synthetic and held-out real.

    The distances of :func:`biogan.metrics.sequences.novelty_distances` (what ``novelty`` and
    ``copy_rate`` summarise): without ``train`` the nearest *other* real sequence. A peak at 0 means
    copies.
    """
    r, s = _pair(real, synth)
    t = None if train is None else sequences_from(train, "training", like=r)
    d_synth, d_real = novelty_distances(r.data, s.data, None if t is None else t.data, seed)
    fig = Figure(figsize=(6, 3.8), layout="constrained")
    ax = fig.subplots()
    bins = np.linspace(0, 1, 41)
    ax.hist(
        d_real,
        bins=bins,
        alpha=0.6,
        color=REAL_COLOR,
        label=f"held-out real (median {np.median(d_real):.2f})",
    )
    ax.hist(
        d_synth, bins=bins, alpha=0.6, color=SYNTH_COLOR, label=f"synthetic (median {np.median(d_synth):.2f})"
    )
    against = "real" if train is None else "training"
    ax.set(
        xlabel=f"normalised edit distance to the nearest {against} sequence",
        ylabel="sequences",
        title="Novelty (0 = a copy)",
    )
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------- logo
def position_frequencies(data: SequenceSet, positions: int) -> np.ndarray:
    """Share of every letter at each of the first ``positions`` positions, ``(positions, A)``; a row
    counts the sequences that reach that position (zeros when none does)."""
    letters = data.letters
    counts = np.zeros((positions, len(letters)))
    lookup = {letter: j for j, letter in enumerate(letters)}
    for seq in data.sequences:
        for i, letter in enumerate(seq[:positions]):
            counts[i, lookup[letter]] += 1
    return counts / np.maximum(counts.sum(1, keepdims=True), 1)


def sequence_logo(real: SequenceSet, synth: SequenceSet, positions: int = 30) -> Figure:
    """Letter shares at the first ``positions`` positions, real above synthetic (a probability logo).

    Drawn with logomaker when it is installed, else as stacked bars (one colour per letter).
    """
    r, s = _pair(real, synth)
    positions = max(1, min(positions, int(max(r.lengths.max(), s.lengths.max()))))
    fig = Figure(figsize=(max(6.0, 0.32 * positions + 2), 5.4), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for ax, data, name in ((axes[0], r.data, "real"), (axes[1], s.data, "synthetic")):
        _logo(ax, position_frequencies(data, positions), data.letters, data.alphabet)
        ax.set(ylabel="share", ylim=(0, 1), title=f"{name} ({len(data)} sequences)")
    axes[1].set_xlabel("position")
    fig.suptitle(f"Letters at the first {positions} positions", fontsize=10)
    return fig


def _logo(ax: Axes, shares: np.ndarray, letters: str, alphabet: str) -> None:
    try:
        import logomaker
        import pandas as pd
    except ImportError:
        _stacked_bars(ax, shares, letters)
        return
    frame = pd.DataFrame(shares, columns=list(letters), index=np.arange(1, len(shares) + 1))
    logomaker.Logo(frame, ax=ax, color_scheme="chemistry" if alphabet == "protein" else "classic")


def _stacked_bars(ax: Axes, shares: np.ndarray, letters: str) -> None:
    from matplotlib import colormaps

    cmap = colormaps["tab20" if len(letters) > 10 else "tab10"]
    at = np.arange(1, len(shares) + 1)
    bottom = np.zeros(len(shares))
    for j, letter in enumerate(letters):
        ax.bar(at, shares[:, j], 0.9, bottom=bottom, color=cmap(j % cmap.N), label=letter)
        bottom += shares[:, j]
    ax.legend(fontsize=6, ncol=2 if len(letters) > 10 else 1, loc="center left", bbox_to_anchor=(1.0, 0.5))


__all__ = [
    "composition_bars",
    "kmer_scatter",
    "length_histogram",
    "novelty_histogram",
    "position_frequencies",
    "sequence_logo",
]
