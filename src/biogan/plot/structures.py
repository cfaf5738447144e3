"""Real against synthetic protein backbones: distance maps, 3-D Cα traces, the Cα Ramachandran plot,
Cα(i)-Cα(i+k) distances, size and compactness.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot (no global state, no
display needed). Inputs are :class:`~biogan.data.structures.StructureSet` of fixed-length fragments
(or arrays ``(n, L, 3)`` of Cα coordinates, Å), checked and measured by
:mod:`biogan.metrics.structures`, so the pictures show what the metrics measure. Sets are subsampled to
at most :data:`MAX_FRAGMENTS` fragments (seeded) for the histograms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mpl_toolkits.mplot3d.art3d import Line3DCollection

from biogan.data.backbones import BOND, bond_angles, distance_maps, torsions
from biogan.data.structures import StructureSet
from biogan.errors import InvalidDataError
from biogan.metrics.sequences import js_divergence
from biogan.metrics.structures import SEPARATIONS, Fragments, fragments_from, w1
from biogan.plot.expression import REAL_COLOR, SYNTH_COLOR

CONTROL_COLOR = "#55a868"
MAX_FRAGMENTS = 2000
MAP_CMAP = "viridis_r"  # near pairs (contacts) dark
TRACE_CMAP = "turbo"  # N-terminus blue, C-terminus red
# Typical Cα(i)-Cα(i+k) distances (Å) of an ideal α-helix and β-strand, marked on the histograms.
HELIX_DISTANCES = {2: 5.4, 3: 5.0, 4: 6.2}
STRAND_DISTANCES = {2: 6.5, 3: 10.0, 4: 13.0}


def _fragments(data: Any, what: str, like: Fragments | None = None) -> Fragments:
    if isinstance(data, StructureSet):
        return fragments_from(data, what, like)
    coords = np.asarray(data, dtype=np.float32)
    if coords.ndim != 3 or coords.shape[-1] != 3 or len(coords) == 0:
        raise InvalidDataError(f"the {what} fragments are not an array (n, L, 3) of Cα coordinates")
    if like is not None and coords.shape[1] != like.length:
        raise InvalidDataError(
            f"the {what} fragments have {coords.shape[1]} residues but the real ones have {like.length}"
        )
    return Fragments(coords)


def _sets(real: Any, synth: Any, train: Any = None) -> list[Fragments]:
    r = _fragments(real, "real")
    out = [r, _fragments(synth, "synthetic", like=r)]
    if train is not None:
        out.append(_fragments(train, "training", like=r))
    return out


def _capped(data: Fragments, seed: int, max_fragments: int = MAX_FRAGMENTS) -> Fragments:
    if len(data) <= max_fragments:
        return data
    return data.subset(np.sort(np.random.default_rng(seed).choice(len(data), max_fragments, replace=False)))


def _shown(data: Fragments, n: int) -> np.ndarray:
    """``n`` fragments evenly spread over the set (all when it has fewer)."""
    return np.unique(np.linspace(0, len(data) - 1, min(n, len(data))).round().astype(np.int64))


def _name(data: Fragments, index: int) -> str:
    if data.data is None:
        return f"#{index + 1}"
    name = data.data.ids[index]
    return name if len(name) <= 26 else name[:12] + "…" + name[-12:]


# ---------------------------------------------------------------------------------------- distance maps
def _map_panel(ax: Axes, dmap: np.ndarray, vmax: float, title: str) -> Any:
    image = ax.imshow(dmap, cmap=MAP_CMAP, vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.tick_params(labelsize=6)
    return image


def distance_map_grid(data: StructureSet | np.ndarray, n: int = 8, title: str | None = None) -> Figure:
    """Cα distance maps of ``n`` fragments spread over the set, on one colour scale (Å).

    Dark is near: the band along the diagonal is the chain itself, thick dark bands beside it are
    helices, dark lines across it are strands pairing (parallel along, antiparallel across the
    diagonal) and dark patches far from it are contacts between distant parts of the chain.
    """
    frags = _fragments(data, "given")
    index = _shown(frags, n)
    maps = distance_maps(frags.coords[index])
    vmax = float(np.percentile(maps, 99.5)) if maps.size else 1.0
    cols = min(len(index), 4)
    rows = math.ceil(len(index) / cols)
    fig = Figure(figsize=(2.3 * cols + 0.8, 2.3 * rows + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, i, dmap in zip(axes, index, maps, strict=False):
        image = _map_panel(ax, dmap, vmax, _name(frags, int(i)))
    for ax in axes[len(index) :]:
        ax.set_axis_off()
    fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="Cα–Cα distance (Å)")
    fig.suptitle(
        title or f"Distance maps of {len(index)} of {len(frags)} fragments ({frags.length} residues)"
    )
    return fig


def distance_map_comparison(
    real: StructureSet | np.ndarray, synth: StructureSet | np.ndarray, n: int = 6
) -> Figure:
    """Distance maps of ``n`` real fragments (top row) above ``n`` synthetic ones (bottom row), on one
    colour scale."""
    r, s = _sets(real, synth)
    picks = [(r, _shown(r, n), "real"), (s, _shown(s, n), "synthetic")]
    maps = [distance_maps(frags.coords[index]) for frags, index, _ in picks]
    vmax = float(np.percentile(np.concatenate([m.ravel() for m in maps]), 99.5))
    cols = max(len(index) for _, index, _ in picks)
    fig = Figure(figsize=(2.1 * cols + 0.9, 4.6), layout="constrained")
    axes = np.asarray(fig.subplots(2, cols)).reshape(2, cols)
    for row, ((frags, index, name), row_maps) in enumerate(zip(picks, maps, strict=True)):
        for col in range(cols):
            ax = axes[row, col]
            if col >= len(index):
                ax.set_axis_off()
                continue
            image = _map_panel(ax, row_maps[col], vmax, _name(frags, int(index[col])))
        axes[row, 0].set_ylabel(f"{name} ({len(frags)})", fontsize=9)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="Cα–Cα distance (Å)")
    fig.suptitle(f"Cα distance maps ({r.length} residues): real above, synthetic below", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- 3-D traces
def _aligned(coords: np.ndarray) -> np.ndarray:
    """A fragment centred and turned onto its principal axes (a proper rotation: the hand is kept)."""
    x = coords - coords.mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    if np.linalg.det(vt) < 0:
        vt[-1] *= -1
    return x @ vt.T


def _trace_panel(ax: Any, coords: np.ndarray, title: str) -> None:
    x = _aligned(np.asarray(coords, dtype=np.float64))
    cmap = colormaps[TRACE_CMAP]
    colors = cmap(np.linspace(0, 1, len(x)))
    segments = np.stack([x[:-1], x[1:]], axis=1)
    ax.add_collection3d(Line3DCollection(segments, colors=colors[:-1], linewidths=1.8))
    ax.scatter(*x.T, c=colors, s=7, depthshade=False)
    ax.text(*x[0], "N", fontsize=7, color=cmap(0.0))
    ax.text(*x[-1], "C", fontsize=7, color=cmap(1.0))
    half = float(np.abs(x).max()) * 1.05 or 1.0
    ax.set(xlim=(-half, half), ylim=(-half, half), zlim=(-half, half))
    ax.set_box_aspect((1, 1, 1))
    for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
        axis.set_major_locator(MaxNLocator(3))
    ax.tick_params(labelsize=5, pad=0)
    ax.set_title(title, fontsize=7)


def _colorbar_n_to_c(fig: Figure, axes: list[Any]) -> None:
    mappable = ScalarMappable(Normalize(0, 1), colormaps[TRACE_CMAP])
    bar = fig.colorbar(mappable, ax=axes, shrink=0.5, ticks=[0, 1])
    bar.ax.set_yticklabels(["N", "C"])
    bar.set_label("position along the chain")


def backbone_gallery(data: StructureSet | np.ndarray, n: int = 6, title: str | None = None) -> Figure:
    """3-D Cα traces of ``n`` fragments spread over the set, each centred on its principal axes (equal
    aspect, Å), coloured from the N-terminus (blue) to the C-terminus (red)."""
    frags = _fragments(data, "given")
    index = _shown(frags, n)
    cols = min(len(index), 3)
    rows = math.ceil(len(index) / cols)
    fig = Figure(figsize=(3.0 * cols + 0.8, 3.0 * rows + 0.3), layout="constrained")
    axes = [fig.add_subplot(rows, cols, k + 1, projection="3d") for k in range(len(index))]
    for ax, i in zip(axes, index, strict=True):
        _trace_panel(ax, frags.coords[i], _name(frags, int(i)))
    _colorbar_n_to_c(fig, axes)
    fig.suptitle(title or f"Cα traces of {len(index)} of {len(frags)} fragments ({frags.length} residues)")
    return fig


def backbone_comparison(
    real: StructureSet | np.ndarray, synth: StructureSet | np.ndarray, n: int = 4
) -> Figure:
    """3-D Cα traces of ``n`` real fragments (top row) above ``n`` synthetic ones (bottom row), coloured
    N (blue) to C (red), equal aspect."""
    r, s = _sets(real, synth)
    picks = [(r, _shown(r, n), "real"), (s, _shown(s, n), "synthetic")]
    cols = max(len(index) for _, index, _ in picks)
    fig = Figure(figsize=(2.9 * cols + 0.8, 6.2), layout="constrained")
    axes = []
    for row, (frags, index, name) in enumerate(picks):
        for col, i in enumerate(index):
            ax = fig.add_subplot(2, cols, row * cols + col + 1, projection="3d")
            _trace_panel(ax, frags.coords[i], f"{name}: {_name(frags, int(i))}")
            axes.append(ax)
    _colorbar_n_to_c(fig, axes)
    fig.suptitle(f"Cα traces ({r.length} residues): real above, synthetic below", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- angles
def pseudo_torsion_scatter(
    real: StructureSet | np.ndarray, synth: StructureSet | np.ndarray, seed: int = 0
) -> Figure:
    """The Cα Ramachandran plot: virtual torsion (Cα i..i+3) against virtual bond angle (at Cα i+1),
    real next to synthetic, as 2-D histograms on one logarithmic colour scale.

    Right-handed α-helices sit near (+50°, 91°), β-strands near (±180°, 120°); a mirror-image model puts
    its helices at -50°. The title gives ``angle_torsion_js`` of the shown fragments.
    """
    r, s = (_capped(x, seed + i) for i, x in enumerate(_sets(real, synth)))
    pairs = []
    for frags in (r, s):
        angle, torsion = bond_angles(frags.coords)[:, :-1].ravel(), torsions(frags.coords).ravel()
        pairs.append((torsion, angle))
    t_edges, a_edges = np.linspace(-180, 180, 73), np.linspace(0, 180, 61)
    hists = [np.histogram2d(t, a, bins=[t_edges, a_edges], density=True)[0] for t, a in pairs]
    positive = np.concatenate([h[h > 0] for h in hists])
    norm = LogNorm(vmin=float(positive.min()), vmax=float(positive.max())) if positive.size else None
    js = js_divergence(r.joint.ravel(), s.joint.ravel())
    fig = Figure(figsize=(10.6, 4.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, hist, name, frags in zip(axes, hists, ("real", "synthetic"), (r, s), strict=True):
        masked = np.ma.masked_equal(hist.T, 0)
        image = ax.pcolormesh(t_edges, a_edges, masked, cmap="magma_r", norm=norm)
        ax.annotate("α-helix", (50, 91), xytext=(80, 45), fontsize=8, arrowprops={"arrowstyle": "->"})
        ax.annotate("β-strand", (-170, 120), xytext=(-150, 160), fontsize=8, arrowprops={"arrowstyle": "->"})
        ax.axvline(0, color="0.7", lw=0.6, ls=":")
        ax.set(
            xlim=(-180, 180),
            ylim=(0, 180),
            xticks=np.arange(-180, 181, 60),
            xlabel="virtual torsion Cα(i)…Cα(i+3) (°)",
            title=f"{name} ({len(frags)} fragments)",
        )
    axes[0].set_ylabel("virtual bond angle at Cα(i+1) (°)")
    fig.colorbar(image, ax=axes.tolist(), shrink=0.85, label="density (log scale)")
    fig.suptitle(f"Cα Ramachandran plot: angle–torsion JS divergence {js:.3f} bits", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------- distances
def _histogram_panel(
    ax: Axes, groups: list[tuple[str, np.ndarray, str, str]], bins: np.ndarray, xlabel: str
) -> None:
    for i, (name, values, color, style) in enumerate(groups):
        if i == 0:
            ax.hist(values, bins=bins, density=True, color=color, alpha=0.45, label=name)
        else:
            ax.hist(
                values, bins=bins, density=True, histtype="step", color=color, lw=1.5, ls=style, label=name
            )
    ax.set(xlabel=xlabel, ylabel="density")
    ax.tick_params(labelsize=7)


def _bins(
    values: list[np.ndarray], n: int = 60, lo: float | None = None, hi: float | None = None
) -> np.ndarray:
    pooled = np.concatenate(values)
    lo = float(np.percentile(pooled, 0.5)) if lo is None else min(lo, float(np.percentile(pooled, 0.5)))
    hi = float(np.percentile(pooled, 99.5)) if hi is None else max(hi, float(np.percentile(pooled, 99.5)))
    return np.linspace(lo, hi if hi > lo else lo + 1.0, n + 1)


def separation_distance_histograms(
    real: StructureSet | np.ndarray,
    synth: StructureSet | np.ndarray,
    train: StructureSet | np.ndarray | None = None,
    seed: int = 0,
) -> Figure:
    """Histograms of the Cα(i)-Cα(i+k) distances, k = 1-4, real against synthetic (and training, a
    real-vs-real control): the virtual bond at 3.8 Å (k = 1), helices (about 5.4, 5.0, 6.2 Å for
    k = 2, 3, 4) and strands (about 6.5, 10, 13 Å). Legends give ``ca_distance_w1_k<k>`` against real."""
    sets = [_capped(x, seed + i) for i, x in enumerate(_sets(real, synth, train))]
    styles = [("real", REAL_COLOR, "-"), ("synthetic", SYNTH_COLOR, "-"), ("training", CONTROL_COLOR, "--")]
    fig = Figure(figsize=(13, 3.6), layout="constrained")
    axes = fig.subplots(1, len(SEPARATIONS))
    for ax, k in zip(axes, SEPARATIONS, strict=True):
        values = [frags.separation(k) for frags in sets]
        bins = _bins(values, lo=2.5, hi=5.0) if k == 1 else _bins(values, lo=3.0)
        groups = [(name, v, color, style) for v, (name, color, style) in zip(values, styles, strict=False)]
        _histogram_panel(ax, groups, bins, f"Cα(i)–Cα(i+{k}) distance (Å)")
        if k == 1:
            ax.axvline(BOND, color="black", lw=0.8, ls=":")
        else:
            for where, text in ((HELIX_DISTANCES[k], "helix"), (STRAND_DISTANCES[k], "strand")):
                if bins[0] <= where <= bins[-1]:
                    ax.axvline(where, color="0.4", lw=0.7, ls=":")
                    ax.text(
                        where,
                        0.98,
                        f" {text}",
                        rotation=90,
                        va="top",
                        ha="right",
                        fontsize=7,
                        transform=ax.get_xaxis_transform(),
                        color="0.3",
                    )
        others = zip(values[1:], styles[1:], strict=False)
        gaps = ", ".join(f"{name} {w1(values[0], v):.2f}" for v, (name, _, _) in others)
        ax.set_title(f"k = {k}: W1 to real (Å) {gaps}", fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("Distances between residues k apart along the chain", fontsize=10)
    return fig


def radius_of_gyration_plot(
    real: StructureSet | np.ndarray,
    synth: StructureSet | np.ndarray,
    train: StructureSet | np.ndarray | None = None,
    seed: int = 0,
) -> Figure:
    """Histograms of the radius of gyration (Å: how spread out a fragment is) and of the contact density
    (share of residue pairs three or more apart within 8 Å: how compact), real against synthetic (and
    training). Legends give the medians."""
    sets = [_capped(x, seed + i) for i, x in enumerate(_sets(real, synth, train))]
    styles = [("real", REAL_COLOR, "-"), ("synthetic", SYNTH_COLOR, "-"), ("training", CONTROL_COLOR, "--")]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    axes = fig.subplots(1, 2)
    panels = [
        (axes[0], [f.rg for f in sets], "radius of gyration (Å)", "Å"),
        (axes[1], [f.contacts for f in sets], "contact density (share of pairs within 8 Å)", ""),
    ]
    for ax, values, xlabel, unit in panels:
        groups = [
            (f"{name} (median {np.median(v):.3g}{' ' + unit if unit else ''})", v, color, style)
            for v, (name, color, style) in zip(values, styles, strict=False)
        ]
        _histogram_panel(ax, groups, _bins(values, 40), xlabel)
        ax.legend(fontsize=7)
    axes[0].set_title("Size", fontsize=9)
    axes[1].set_title("Compactness", fontsize=9)
    fig.suptitle(f"Size and compactness of {sets[0].length}-residue fragments", fontsize=10)
    return fig


__all__ = [
    "backbone_comparison",
    "backbone_gallery",
    "distance_map_comparison",
    "distance_map_grid",
    "pseudo_torsion_scatter",
    "radius_of_gyration_plot",
    "separation_distance_histograms",
]
