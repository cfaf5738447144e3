"""The structure metric set: generated Cα backbone fragments judged against real ones.

Two sets of fixed-length fragments (``(n, L, 3)`` Cα coordinates, Å) of equal size are compared on

* the Cα(i)-Cα(i+k) distance distributions, k = 1-4 (Wasserstein-1, Å): the virtual bond (k = 1, 3.8 Å
  in real chains) and the local shapes (k = 3, 4 tell helices, about 5 and 6 Å, from strands, about 10
  and 13 Å);
* the share of virtual bonds within 3.8 ± 0.2 Å, the virtual bond angles, torsions and their joint
  histogram (the Cα analogue of a Ramachandran plot; Jensen–Shannon divergences in bits), the radius
  of gyration and the contact density (Wasserstein-1), steric clashes and mirror images (a distance
  map cannot tell a fragment from its mirror image; real proteins have right-handed helices);
* a random-forest classifier two-sample test on :func:`~biogan.data.backbones.fragment_features`
  whose folds keep the fragments of one group (PDB entry) together: overlapping fragments of one
  chain are near-copies, and folds that split them let the forest recognise the chain instead of
  telling real from synthetic (two halves of real fragments then score far above 0.5).

The privacy rows compare synthetic fragments with the training fragments on the full sets: the RMSD
after optimal superposition (Kabsch) to the nearest training fragment, and the share of synthetic
fragments within 1 Å of one. :class:`StructureMetrics` plugs these into :mod:`biogan.metrics.engine`,
which adds the real-vs-real control and the verdicts (``biogan.evaluate(real_fragments,
synthetic_fragments, train=train_fragments)``). The plain functions (:func:`structure_metrics`,
:func:`nearest_fragment_rmsd`, :func:`grouped_c2st_auc`) compute the same numbers without the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from biogan.data.backbones import (
    BOND,
    BOND_TOLERANCE,
    angle_torsion_histogram,
    bond_angles,
    bond_lengths,
    clash_counts,
    contact_density,
    distance_maps,
    fragment_features,
    kabsch_rmsd,
    mirrored_fraction,
    radius_of_gyration,
    sequence_separation_distances,
    torsions,
)
from biogan.data.structures import StructureSet
from biogan.data.validation import MIN_SAMPLES
from biogan.errors import InvalidDataError
from biogan.metrics.engine import MIN_PER_LABEL, OVERALL, MetricInfo, PrivacyRow, c2st_info, register, verdict
from biogan.metrics.sequences import js_divergence

SEPARATIONS = (1, 2, 3, 4)
"""Sequence separations k of the ``ca_distance_w1_k<k>`` metrics."""
MIN_LENGTH = 8  # the shortest fragment StructureSet.fragments cuts
ANGLE_BINS = 36  # 5° bins of the bond angle, 0-180°
TORSION_BINS = 36  # 10° bins of the torsion, -180-180°
JOINT_BINS = (18, 36)  # (angle, torsion) bins of the joint histogram
FOLDS = 5
COPY_RMSD = 1.0
"""A synthetic fragment within this RMSD (Å) of a training fragment counts as a copy."""
PRIVACY_QUERIES = 2000  # synthetic (and as many held-out real) fragments searched for their nearest one
RMSD_CANDIDATES = 32  # records per query superposed (Kabsch) after the distance-map prefilter
MAX_MAP_PAIRS = 4096  # distance-map entries of the prefilter (evenly spaced when a map has more)
MAP_CHUNK = 512  # fragments per distance-map batch (an (n, L, L, 3) float64 intermediate)


def _w1_info(what: str, floor: float) -> MetricInfo:
    return MetricInfo(f"Wasserstein-1 distance of {what}", "lower", 1.0, 2.0, True, floor)


def _js_info(what: str, floor: float) -> MetricInfo:
    return MetricInfo(
        f"Jensen–Shannon divergence (bits, 0-1) of the {what} histograms, pooled over the fragments",
        "lower",
        1.0,
        3.0,
        True,
        floor,
    )


STRUCTURE_METRICS: dict[str, MetricInfo] = {
    "c2st_rf_auc": c2st_info(
        "Random forest told real from synthetic fragments on Cα distance statistics, bond angles, "
        "torsions, size and compactness, with folds that keep each PDB entry together (AUROC; 0.5 = "
        "indistinguishable)"
    ),
    **{
        f"ca_distance_w1_k{k}": _w1_info(
            f"the Cα(i)-Cα(i+{k}) distances (Å){' (the virtual bond)' if k == 1 else ''}", 0.05
        )
        for k in SEPARATIONS
    },
    "bond_length_ok": MetricInfo(
        f"Share of consecutive Cα-Cα steps within {BOND} ± {BOND_TOLERANCE} Å in the synthetic fragments "
        "(control: in the real ones)",
        "higher",
        0.02,
        0.05,
    ),
    "bond_angle_js": _js_info("virtual bond angle (Cα(i-1)-Cα(i)-Cα(i+1), 5° bins)", 0.005),
    "torsion_js": _js_info("virtual torsion (Cα(i)..Cα(i+3), 10° bins; helix about +50°)", 0.005),
    "angle_torsion_js": _js_info("joint (bond angle, torsion) (10° bins: the Cα Ramachandran plot)", 0.01),
    "radius_of_gyration_w1": _w1_info("the radius of gyration of the fragments (Å)", 0.1),
    "contact_density_w1": _w1_info(
        "the contact density (share of residue pairs three or more apart within 8 Å)", 0.005
    ),
    "clashes_per_fragment": MetricInfo(
        "Mean number of Cα pairs (two or more residues apart) closer than 3.5 Å per synthetic fragment "
        "(control: per real fragment)",
        "lower",
        0.05,
        0.5,
    ),
    "mirrored_fraction": MetricInfo(
        "Share of synthetic fragments with helices whose left-handed helical torsions outnumber the "
        "right-handed ones: mirror images (control: the real share)",
        "lower",
        0.05,
        0.15,
    ),
    "nearest_training_rmsd": MetricInfo(
        "Privacy: median RMSD (Å, after superposition) of a synthetic fragment to its nearest training "
        "fragment (control: held-out real's; well below it = near-copies of training fragments)",
        "higher",
        0.2,
        0.5,
        True,
        0.1,
        privacy=True,
    ),
    "copies_under_1A": MetricInfo(
        "Privacy: share of synthetic fragments within 1 Å RMSD of a training fragment (control: the share "
        "of held-out real fragments; homologous entries make some real near-copies)",
        "lower",
        1.0,
        3.0,
        True,
        0.02,
        privacy=True,
    ),
}


# ---------------------------------------------------------------------------------------- inputs
class Fragments:
    """Checked fixed-length fragments ``(n, L, 3)`` with their groups (and labels), and their geometry
    (computed once per set)."""

    def __init__(
        self,
        coords: np.ndarray,
        groups: np.ndarray | None = None,
        labels: np.ndarray | None = None,
        data: StructureSet | None = None,
    ) -> None:
        self.coords = np.asarray(coords, dtype=np.float32)
        n = len(self.coords)
        self.groups = (
            np.array([f"fragment{i}" for i in range(n)]) if groups is None else np.asarray(groups).astype(str)
        )
        self.labels = None if labels is None else np.asarray(labels).astype(str)
        self.data = data

    @classmethod
    def from_set(cls, data: StructureSet) -> Fragments:
        return cls(data.coordinates(), data.groups, data.labels, data)

    def __len__(self) -> int:
        return len(self.coords)

    def subset(self, index: np.ndarray) -> Fragments:
        index = np.asarray(index, dtype=np.int64)
        return Fragments(
            self.coords[index],
            self.groups[index],
            None if self.labels is None else self.labels[index],
            None if self.data is None else self.data.subset(index),
        )

    @property
    def length(self) -> int:
        return int(self.coords.shape[1])

    def separation(self, k: int) -> np.ndarray:
        """Every Cα(i)-Cα(i+k) distance, pooled."""
        return sequence_separation_distances(self.coords, k).ravel()

    @cached_property
    def steps(self) -> np.ndarray:
        return bond_lengths(self.coords).ravel()

    @cached_property
    def bond_ok(self) -> float:
        """Share of virtual bonds within ``BOND ± BOND_TOLERANCE``."""
        return float((np.abs(self.steps - BOND) <= BOND_TOLERANCE).mean()) if self.steps.size else math.nan

    @cached_property
    def angle_counts(self) -> np.ndarray:
        return np.histogram(bond_angles(self.coords), bins=ANGLE_BINS, range=(0.0, 180.0))[0]

    @cached_property
    def torsion_counts(self) -> np.ndarray:
        return np.histogram(torsions(self.coords), bins=TORSION_BINS, range=(-180.0, 180.0))[0]

    @cached_property
    def joint(self) -> np.ndarray:
        return angle_torsion_histogram(self.coords, JOINT_BINS)

    @cached_property
    def rg(self) -> np.ndarray:
        return radius_of_gyration(self.coords)

    @cached_property
    def contacts(self) -> np.ndarray:
        return np.concatenate(
            [contact_density(distance_maps(part)) for part in _chunks(self.coords)] or [np.zeros(0)]
        )

    @cached_property
    def clashes(self) -> np.ndarray:
        return np.concatenate([clash_counts(part) for part in _chunks(self.coords)] or [np.zeros(0)])

    @cached_property
    def mirrored(self) -> float:
        return mirrored_fraction(self.coords)

    @cached_property
    def features(self) -> np.ndarray:
        return np.concatenate([fragment_features(part) for part in _chunks(self.coords)])

    @cached_property
    def map_vectors(self) -> np.ndarray:
        """Distance-map entries (``i < j``, at most :data:`MAX_MAP_PAIRS`) of every fragment, float32:
        what the nearest-fragment search prefilters on."""
        return _map_vectors(self.coords)


def _chunks(coords: np.ndarray, size: int = MAP_CHUNK) -> list[np.ndarray]:
    return [coords[i : i + size] for i in range(0, len(coords), size)]


def _map_vectors(coords: np.ndarray) -> np.ndarray:
    length = coords.shape[1]
    i, j = np.triu_indices(length, 1)
    if len(i) > MAX_MAP_PAIRS:
        keep = np.linspace(0, len(i) - 1, MAX_MAP_PAIRS).round().astype(np.int64)
        i, j = i[keep], j[keep]
    out = [distance_maps(part)[:, i, j] for part in _chunks(coords)]
    return np.concatenate(out) if out else np.zeros((0, len(i)), np.float32)


def fragments_from(data: Any, what: str, like: Fragments | None = None) -> Fragments:
    """Checked fragments of one input, as long as ``like``'s when given.

    Raises
    ------
    InvalidDataError
        Not a :class:`~biogan.data.structures.StructureSet`, no fragments, segments of different
        lengths (cut fixed-length fragments first), fragments shorter than :data:`MIN_LENGTH`, or
        another length than ``like``'s.
    """
    if not isinstance(data, StructureSet):
        raise InvalidDataError(
            f"the {what} data is a {type(data).__name__}, not protein structures (a StructureSet, e.g. "
            "from read_structures(...).fragments(64))"
        )
    if len(data) == 0:
        raise InvalidDataError(f"the {what} structures hold no fragments")
    length = data.fragment_length
    if length is None:
        raise InvalidDataError(
            f"the {what} structures are {len(data)} segments of {data.lengths.min()}-{data.lengths.max()} "
            "residues: cut fragments of one length first (--fragment-length, or StructureSet.fragments)"
        )
    if length < MIN_LENGTH:
        raise InvalidDataError(
            f"the {what} fragments have {length} residues; the metrics need at least {MIN_LENGTH}"
        )
    if like is not None and length != like.length:
        raise InvalidDataError(
            f"the {what} fragments have {length} residues but the real ones have {like.length}; compare "
            "fragments of one length (--fragment-length)"
        )
    return Fragments.from_set(data)


def _as_fragments(coords: Any, groups: Any = None, side: str = "fragment") -> Fragments:
    """Fragments of an array ``(n, L, 3)`` (every fragment its own group, named ``side`` and its index,
    unless ``groups`` are given) or of a :class:`StructureSet` (its groups unless ``groups`` are given)."""
    if isinstance(coords, Fragments):
        return coords
    if isinstance(coords, StructureSet):
        found = fragments_from(coords, "given")
        return found if groups is None else Fragments(found.coords, groups, found.labels, coords)
    x = np.asarray(coords, dtype=np.float32)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise InvalidDataError(f"fragments are an array (n, L, 3) of Cα coordinates, not {x.shape}")
    if groups is None:
        groups = np.array([f"{side}{i}" for i in range(len(x))])
    return Fragments(x, groups)


# ---------------------------------------------------------------------------------------- C2ST
def grouped_c2st_auc(
    a: np.ndarray,
    b: np.ndarray,
    groups_a: np.ndarray | None = None,
    groups_b: np.ndarray | None = None,
    folds: int = FOLDS,
    seed: int = 0,
    max_per_side: int | None = None,
) -> float:
    """Cross-validated AUROC of a random forest telling the rows of ``a`` from those of ``b``, with folds
    that never split a group (0.5 = indistinguishable).

    The forest is :func:`biogan.metrics.two_sample.c2st_auc`'s (200 trees, leaves of at least 2). Both
    sides are cut to one size (at most ``max_per_side``) first. Folds are
    ``StratifiedGroupKFold``: rows sharing a group name -- fragments of one PDB entry, or a synthetic
    fragment and the real one it was made from when it carries that group -- are always on one side of
    a split. ``None`` makes every row its own group (plain stratified folds). With fewer groups than
    ``folds`` on a side, as many folds as that side has groups; NaN with fewer than 2. The AUROC is the
    mean over the folds weighted by their size: pooling the predictions of folds whose training parts
    hold different shares of the two sets would bias it.
    """
    n = min(len(a), len(b), max_per_side if max_per_side is not None else len(a))
    rng = np.random.default_rng(seed)
    ia = np.sort(rng.choice(len(a), n, replace=False))
    ib = np.sort(rng.choice(len(b), n, replace=False))
    ga = np.array([f"a{i}" for i in ia]) if groups_a is None else np.asarray(groups_a).astype(str)[ia]
    gb = np.array([f"b{i}" for i in ib]) if groups_b is None else np.asarray(groups_b).astype(str)[ib]
    k = min(folds, len(set(ga.tolist())), len(set(gb.tolist())))
    if k < 2:
        return math.nan
    X = np.vstack([np.asarray(a)[ia], np.asarray(b)[ib]])
    y = np.r_[np.zeros(n), np.ones(n)]
    _, codes = np.unique(np.r_[ga, gb], return_inverse=True)
    cv = StratifiedGroupKFold(k, shuffle=True, random_state=seed)
    aucs, weights = [], []
    for train, test in cv.split(X, y, codes):
        if len(set(y[train].tolist())) < 2 or len(set(y[test].tolist())) < 2:
            continue
        model = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=seed, n_jobs=1)
        model.fit(X[train], y[train])
        aucs.append(roc_auc_score(y[test], model.predict_proba(X[test])[:, 1]))
        weights.append(len(test))
    return float(np.average(aucs, weights=weights)) if aucs else math.nan


# ---------------------------------------------------------------------------------------- one pair
def w1(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance of two samples (NaN when one is empty)."""
    return float(wasserstein_distance(a, b)) if len(a) and len(b) else math.nan


@dataclass
class StructurePlan:
    """What both comparisons share, so value and control are computed the same way."""

    seed: int
    max_c2st: int
    label_sizes: dict[str, int]


def _compare(ref: Fragments, other: Fragments, plan: StructurePlan) -> dict[tuple[str, str], float]:
    """Every structure metric for one (reference, other) pair of fragment sets."""
    out = {
        ("c2st_rf_auc", OVERALL): grouped_c2st_auc(
            ref.features, other.features, ref.groups, other.groups, seed=plan.seed, max_per_side=plan.max_c2st
        )
    }
    for k in SEPARATIONS:
        out[(f"ca_distance_w1_k{k}", OVERALL)] = w1(ref.separation(k), other.separation(k))
    out[("bond_length_ok", OVERALL)] = other.bond_ok
    out[("bond_angle_js", OVERALL)] = js_divergence(ref.angle_counts, other.angle_counts)
    out[("torsion_js", OVERALL)] = js_divergence(ref.torsion_counts, other.torsion_counts)
    out[("angle_torsion_js", OVERALL)] = js_divergence(ref.joint.ravel(), other.joint.ravel())
    out[("radius_of_gyration_w1", OVERALL)] = w1(ref.rg, other.rg)
    out[("contact_density_w1", OVERALL)] = w1(ref.contacts, other.contacts)
    out[("clashes_per_fragment", OVERALL)] = float(other.clashes.mean())
    out[("mirrored_fraction", OVERALL)] = other.mirrored
    if ref.labels is not None and other.labels is not None:
        out.update(_per_label_c2st(ref, other, plan))
    return out


def _per_label_c2st(ref: Fragments, other: Fragments, plan: StructurePlan) -> dict[tuple[str, str], float]:
    """The grouped C2ST within every label with at least :data:`MIN_PER_LABEL` fragments a side, on the
    same number of fragments of each side."""
    out = {}
    for label, n in plan.label_sizes.items():
        if n < MIN_PER_LABEL:
            continue
        ia, ib = np.flatnonzero(ref.labels == label), np.flatnonzero(other.labels == label)
        out[("c2st_rf_auc", label)] = grouped_c2st_auc(
            ref.features[ia],
            other.features[ib],
            ref.groups[ia],
            other.groups[ib],
            seed=plan.seed,
            max_per_side=min(n, plan.max_c2st),
        )
    return out


def structure_metrics(
    ref_coords: np.ndarray | StructureSet,
    other_coords: np.ndarray | StructureSet,
    ref_groups: np.ndarray | None = None,
    other_groups: np.ndarray | None = None,
    seed: int = 0,
    max_c2st: int = 1000,
) -> dict[str, float]:
    """Every overall metric of :data:`STRUCTURE_METRICS` but the privacy ones, for one pair of fragment
    sets ``(n, L, 3)`` (or :class:`StructureSet` of fragments, which carry their groups): what
    :func:`biogan.evaluate` computes for reference vs synthetic (and for its control), without the
    subsampling to equal sizes (the C2ST cuts both sides to one size itself).

    ``ref_groups`` / ``other_groups`` name the entry of every fragment for the C2ST's folds (``None``:
    every fragment is its own group). Returns ``{metric: value}``.
    """
    ref = _as_fragments(ref_coords, ref_groups, "reference")
    other = _as_fragments(other_coords, other_groups, "other")
    if ref.length != other.length:
        raise InvalidDataError(f"fragments of {ref.length} and {other.length} residues: use one length")
    found = _compare(ref, other, StructurePlan(seed, max_c2st, {}))
    return {metric: value for (metric, scope), value in found.items() if scope == OVERALL}


# ---------------------------------------------------------------------------------------- privacy
def nearest_fragment_rmsd(
    query: np.ndarray,
    records: np.ndarray,
    query_groups: np.ndarray | None = None,
    record_groups: np.ndarray | None = None,
    candidates: int = RMSD_CANDIDATES,
    chunk: int = 256,
) -> np.ndarray:
    """RMSD (Å, after optimal superposition without reflection) of every query fragment to its nearest
    record fragment; both ``(n, L, 3)``.

    All pairs of Kabsch superpositions would be slow (2,000 x 6,000 SVDs), so the records are first
    ranked by the Euclidean distance between distance maps (rotation-free, and small between similar
    fragments) and only the ``candidates`` closest are superposed: an upper bound on the true nearest
    RMSD that is exact for copies. With groups, a query skips the records of its own group (real
    fragments against the other real ones); a query with no record left gets NaN.
    """
    q = _as_fragments(query)
    r = _as_fragments(records)
    if q.length != r.length:
        raise InvalidDataError(f"fragments of {q.length} and {r.length} residues: use one length")
    if len(q) == 0 or len(r) == 0:
        return np.full(len(q), np.nan)
    vq, vr = q.map_vectors, r.map_vectors
    norm_r = (vr.astype(np.float64) ** 2).sum(1)
    exclude = query_groups is not None and record_groups is not None
    if exclude:
        _, codes = np.unique(
            np.r_[np.asarray(query_groups).astype(str), np.asarray(record_groups).astype(str)],
            return_inverse=True,
        )
        code_q, code_r = codes[: len(q)], codes[len(q) :]
    k = min(candidates, len(r))
    out = np.full(len(q), np.nan)
    for start in range(0, len(q), chunk):
        part = slice(start, start + chunk)
        d2 = (vq[part].astype(np.float64) ** 2).sum(1)[:, None] + norm_r[None, :] - 2.0 * (vq[part] @ vr.T)
        if exclude:
            d2[code_q[part][:, None] == code_r[None, :]] = np.inf
        best = np.argpartition(d2, k - 1, axis=1)[:, :k]
        allowed = np.isfinite(np.take_along_axis(d2, best, axis=1))
        rmsd = kabsch_rmsd(q.coords[part][:, None], r.coords[best])
        rmsd[~allowed] = np.inf
        nearest = rmsd.min(1)
        out[part] = np.where(np.isfinite(nearest), nearest, np.nan)
    return out


def privacy_rows(
    real: Fragments, synthetic: Fragments, train: Fragments | None = None, seed: int = 0
) -> list[PrivacyRow]:
    """``nearest_training_rmsd`` and ``copies_under_1A`` on the full sets (a seeded sample of at most
    :data:`PRIVACY_QUERIES` synthetic and as many held-out real fragments searched), alerting when a
    verdict is poor. Without ``train`` the records are the real fragments: a real fragment skips those
    of its own group (its overlapping neighbours)."""
    rng = np.random.default_rng(seed)
    synth_q, real_q = _sample(synthetic, PRIVACY_QUERIES, rng), _sample(real, PRIVACY_QUERIES, rng)
    records = real if train is None else train
    d_synth = nearest_fragment_rmsd(synth_q, records)
    if train is None:
        d_real = nearest_fragment_rmsd(real_q, records, real_q.groups, records.groups)
    else:
        d_real = nearest_fragment_rmsd(real_q, records)
    against = "real" if train is None else "training"
    median_s, median_r = _median(d_synth), _median(d_real)
    copies, real_copies = _share_under(d_synth, COPY_RMSD), _share_under(d_real, COPY_RMSD)
    shared = ""
    if train is not None:
        overlap = np.isin(real.groups, train.groups)
        if overlap.any():
            shared = (
                f"; {overlap.mean():.0%} of the held-out real fragments come from entries that are also "
                "in the training set (split by entry: biogan.data.structures.group_split)"
            )
    notes = {
        "nearest_training_rmsd": (
            f"median RMSD to the nearest {against} fragment: synthetic {median_s:.3g} Å, held-out real "
            f"{median_r:.3g} Å ({len(d_synth)} and {len(d_real)} searched){shared}"
        ),
        "copies_under_1A": (
            f"{copies:.1%} of the synthetic fragments lie within {COPY_RMSD:g} Å RMSD of a {against} "
            f"fragment (held-out real: {real_copies:.1%})"
        ),
    }
    values = {"nearest_training_rmsd": (median_s, median_r), "copies_under_1A": (copies, real_copies)}
    return [
        PrivacyRow(metric, value, control, notes[metric], _poor(metric, value, control))
        for metric, (value, control) in values.items()
    ]


def _sample(data: Fragments, n: int, rng: np.random.Generator) -> Fragments:
    if len(data) <= n:
        return data
    return data.subset(np.sort(rng.choice(len(data), n, replace=False)))


def _median(values: np.ndarray) -> float:
    ok = values[np.isfinite(values)]
    return float(np.median(ok)) if len(ok) else math.nan


def _share_under(values: np.ndarray, cut: float) -> float:
    ok = values[np.isfinite(values)]
    return float((ok < cut).mean()) if len(ok) else math.nan


def _poor(metric: str, value: float, control: float) -> bool:
    return verdict(metric, value, control, metrics=STRUCTURE_METRICS) == "poor"


# ---------------------------------------------------------------------------------------- metric set
class StructureMetrics:
    """The engine's metric set for protein structures: :class:`~biogan.data.structures.StructureSet` of
    fixed-length Cα fragments (``read_structures(path).fragments(64)``), all of one length.

    Options of :func:`biogan.evaluate` for structures: ``max_fragments`` (2000: fragments per set) and
    ``max_c2st`` (1000: fragments per side of the random forest, the slowest metric). A set carries its
    groups (the PDB entry of every fragment), which keep the C2ST's folds honest, and its labels
    (``labels_key`` is not used): per-label C2ST rows (labels with at least 15 fragments) appear when
    every compared set has labels. Generated fragments (``StructureSet.from_coordinates``) are each
    their own group.

    The privacy rows ``nearest_training_rmsd`` and ``copies_under_1A`` (:func:`privacy_rows`) use the
    full sets; without ``train`` they are measured against the real fragments.
    """

    name = "structures"
    noun = "fragment"
    metrics = STRUCTURE_METRICS
    defaults: Mapping[str, Any] = {"max_fragments": 2000, "max_c2st": 1000}
    size_option = "max_fragments"
    min_size = MIN_SAMPLES

    def prepare(
        self, data: StructureSet, what: str, labels_key: str | None = None, like: Fragments | None = None
    ) -> Fragments:
        """:func:`fragments_from` (``labels_key`` is not used: the set carries its labels)."""
        return fragments_from(data, what, like)

    def plan(
        self,
        ref: Fragments,
        others: Sequence[Fragments],
        label_sizes: dict[str, int],
        seed: int,
        options: Mapping[str, Any],
    ) -> StructurePlan:
        return StructurePlan(seed, int(options["max_c2st"]), dict(label_sizes))

    def compare(self, ref: Fragments, other: Fragments, plan: StructurePlan) -> dict[tuple[str, str], float]:
        return _compare(ref, other, plan)

    def privacy(
        self, real: Fragments, synthetic: Fragments, train: Fragments | None, seed: int
    ) -> list[PrivacyRow]:
        """``nearest_training_rmsd`` and ``copies_under_1A``, alerting when their verdict is poor."""
        return privacy_rows(real, synthetic, train, seed)


STRUCTURES = register(StructureMetrics())

__all__ = [
    "COPY_RMSD",
    "SEPARATIONS",
    "STRUCTURES",
    "STRUCTURE_METRICS",
    "Fragments",
    "StructureMetrics",
    "StructurePlan",
    "fragments_from",
    "grouped_c2st_auc",
    "nearest_fragment_rmsd",
    "privacy_rows",
    "structure_metrics",
    "w1",
]
