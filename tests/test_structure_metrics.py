"""Structure evaluation: the engine's structure metric set on ideal and perturbed Cα fragments, the
group-aware C2ST, the nearest-fragment privacy rows, the structure pictures and report."""

from __future__ import annotations

import importlib.resources
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy.spatial.transform import Rotation
from threadpoolctl import threadpool_limits

import biogan
from biogan.data.backbones import bond_angles, bond_lengths, clash_counts, mirror, mirrored_fraction, torsions
from biogan.data.structures import StructureSet, read_structures, write_structures
from biogan.errors import InvalidDataError
from biogan.metrics.engine import METRIC_SETS, METRICS
from biogan.metrics.structures import (
    STRUCTURE_METRICS,
    Fragments,
    fragments_from,
    grouped_c2st_auc,
    nearest_fragment_rmsd,
    structure_metrics,
)
from biogan.plot import structures as plot
from biogan.report import write_report
from biogan.report.html import REPORT_KINDS, SECTIONS

L = 24  # residues per fragment in the synthetic test sets


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """BLAS threads spin against each other on a busy 2-core machine: one thread is much faster."""
    with threadpool_limits(1):
        yield


# ------------------------------------------------------------------------------------- test fragments
def ideal_helix(length: int) -> np.ndarray:
    """An α-helix: radius 2.3 Å, 100° and 1.5 Å rise per residue (Cα-Cα 3.83 Å)."""
    turn = np.radians(100.0) * np.arange(length)
    return np.stack([2.3 * np.cos(turn), 2.3 * np.sin(turn), 1.5 * np.arange(length)], -1)


def ideal_strand(length: int) -> np.ndarray:
    """A β-strand: a zig-zag rising 3.3 Å per residue, twisted 10° per residue (Cα-Cα 3.8 Å)."""
    i = np.arange(length)
    side = 0.942 * (-1.0) ** i
    twist = np.radians(10.0) * i
    return np.stack([3.3 * i, side * np.cos(twist), side * np.sin(twist)], -1)


def placed(shape: np.ndarray, n: int, seed: int, noise: float = 0.05) -> np.ndarray:
    """``n`` copies of ``shape`` with Gaussian noise (``noise`` Å a coordinate), each randomly rotated
    and moved."""
    rng = np.random.default_rng(seed)
    rotations = Rotation.random(n, random_state=seed).as_matrix()
    moved = np.einsum("nij,lj->nli", rotations, shape) + rng.normal(0, 20, (n, 1, 3))
    return (moved + rng.normal(0, noise, moved.shape)).astype(np.float32)


def grown(angles: np.ndarray, dihedrals: np.ndarray) -> np.ndarray:
    """Chains ``(n, L, 3)`` with 3.8 Å virtual bonds and the given bond angles ``(n, L-2)`` and torsions
    ``(n, L-3)`` (degrees), built atom by atom (NeRF)."""
    n, length = angles.shape[0], angles.shape[1] + 2
    x = np.zeros((n, length, 3))
    x[:, 1, 0] = 3.8
    first = np.radians(angles[:, 0])
    x[:, 2] = x[:, 1] + 3.8 * np.stack([-np.cos(first), np.sin(first), np.zeros(n)], -1)
    for i in range(3, length):
        a, b, c = x[:, i - 3], x[:, i - 2], x[:, i - 1]
        bc = (c - b) / np.linalg.norm(c - b, axis=-1, keepdims=True)
        normal = np.cross(b - a, bc)
        normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
        theta, tau = np.radians(angles[:, i - 2]), np.radians(dihedrals[:, i - 3])
        step = (
            -np.cos(theta)[:, None] * bc
            + (np.sin(theta) * np.cos(tau))[:, None] * np.cross(normal, bc)
            + (np.sin(theta) * np.sin(tau))[:, None] * normal
        )
        x[:, i] = c + 3.8 * step
    return x.astype(np.float32)


def protein_like(n_chains: int, length: int, seed: int, prefix: str) -> StructureSet:
    """Chains that switch between helix (91°, +50°), strand (120°, -170°) and extended loop (105°,
    about -140°) stretches; each chain is its own group (entry)."""
    rng = np.random.default_rng(seed)
    state = np.zeros((n_chains, length - 2), dtype=int)  # 0 helix, 1 strand, 2 loop
    state[:, 0] = rng.integers(0, 3, n_chains)
    for i in range(1, length - 2):
        switch = rng.random(n_chains) < 0.2
        state[:, i] = np.where(switch, rng.integers(0, 3, n_chains), state[:, i - 1])
    angles = np.choose(state, [91.0, 120.0, 105.0]) + rng.normal(0, 3, state.shape)
    spread = np.choose(state, [8.0, 8.0, 30.0])
    dihedrals = np.choose(state, [50.0, -170.0, -140.0]) + spread * rng.normal(0, 1, state.shape)
    coords = grown(angles, dihedrals[:, :-1])
    ids = [f"{prefix}{i}" for i in range(n_chains)]
    return StructureSet(list(coords), ids, groups=np.array(ids))


@pytest.fixture(scope="module")
def sets():
    """Training, held-out and synthetic (an independent draw) fragments of protein-like chains: 24
    residues every 4, 40 chains each."""
    train = protein_like(40, 80, seed=1, prefix="train").fragments(L, stride=4)
    held = protein_like(40, 80, seed=2, prefix="held").fragments(L, stride=4)
    synth_chains = protein_like(40, 80, seed=3, prefix="gen").fragments(L, stride=4)
    synth = StructureSet.from_coordinates(synth_chains.coordinates(), "generated")
    return train, held, synth


def _row(table, metric, scope="overall"):
    return table[(table.metric == metric) & (table.scope == scope)].iloc[0]


# ------------------------------------------------------------------------------------- building blocks
def test_ideal_fragments_have_textbook_geometry():
    helix, strand = ideal_helix(20)[None], ideal_strand(20)[None]
    assert np.allclose(bond_lengths(helix), 3.83, atol=0.01) and np.allclose(
        bond_lengths(strand), 3.8, atol=0.01
    )
    assert np.allclose(torsions(helix), 50.0, atol=1.0) and np.allclose(bond_angles(helix), 91.0, atol=1.5)
    assert np.allclose(torsions(strand), -168.5, atol=1.0) and np.allclose(
        bond_angles(strand), 121.0, atol=1.0
    )
    assert np.allclose(torsions(grown(np.full((1, 10), 91.0), np.full((1, 9), 50.0))), 50.0)


def test_inputs_are_checked():
    helices = StructureSet.from_coordinates(placed(ideal_helix(L), 20, 0))
    with pytest.raises(InvalidDataError, match="not protein structures"):
        fragments_from(helices.coordinates(), "real")
    chains = protein_like(3, 40, 0, "c")
    mixed = StructureSet([chains.chains[0], chains.chains[1][:30]], ["a", "b"])
    with pytest.raises(InvalidDataError, match="cut fragments of one length first"):
        biogan.evaluate(mixed, helices, kind="structures")
    shorter = StructureSet.from_coordinates(placed(ideal_helix(L - 4), 20, 1))
    with pytest.raises(InvalidDataError, match="20 residues but the real ones have 24"):
        biogan.evaluate(helices, shorter, kind="structures")
    assert METRIC_SETS["structures"].noun == "fragment"
    assert METRICS["c2st_rf_auc"].same_rule(STRUCTURE_METRICS["c2st_rf_auc"])


# ------------------------------------------------------------------------------------- metric behaviour
def test_halves_of_one_set_sit_at_chance_and_helices_differ_from_strands():
    mixed = np.concatenate([placed(ideal_helix(L), 150, 0), placed(ideal_strand(L), 150, 1)])
    order = np.random.default_rng(0).permutation(len(mixed))
    halves = structure_metrics(mixed[order[:150]], mixed[order[150:]], seed=0)
    assert abs(halves["c2st_rf_auc"] - 0.5) < 0.1
    assert (
        halves["torsion_js"] < 0.02 and halves["angle_torsion_js"] < 0.05 and halves["bond_angle_js"] < 0.02
    )
    assert halves["ca_distance_w1_k3"] < 0.2 and halves["bond_length_ok"] > 0.99
    far = structure_metrics(placed(ideal_helix(L), 150, 2), placed(ideal_strand(L), 150, 3), seed=0)
    assert far["c2st_rf_auc"] > 0.9
    assert far["torsion_js"] > 0.8 and far["bond_angle_js"] > 0.8 and far["angle_torsion_js"] > 0.8
    assert far["ca_distance_w1_k3"] > 4.0 and far["ca_distance_w1_k4"] > 6.0  # 5.0 / 6.2 Å vs 10 / 13 Å
    assert far["radius_of_gyration_w1"] > 5.0 and far["contact_density_w1"] > 0.05


def test_mirror_images_keep_every_distance_but_flip_the_torsions():
    helices = placed(ideal_helix(L), 100, 4)
    found = structure_metrics(helices, mirror(helices), seed=0)
    assert found["mirrored_fraction"] > 0.99 and mirrored_fraction(helices) == 0
    assert found["torsion_js"] > 0.9 and found["angle_torsion_js"] > 0.9
    for k in (1, 2, 3, 4):
        assert found[f"ca_distance_w1_k{k}"] < 1e-4  # one distance map for a fragment and its mirror
    assert found["radius_of_gyration_w1"] < 1e-4 and found["contact_density_w1"] == 0
    assert found["bond_angle_js"] < 1e-6


def test_noise_breaks_the_bonds_and_folding_onto_itself_clashes():
    clean = placed(ideal_helix(L), 100, 5)
    noisy = clean + np.random.default_rng(0).normal(0, 1.0, clean.shape).astype(np.float32)
    found = structure_metrics(clean, noisy, seed=0)
    assert found["bond_length_ok"] < 0.3 and Fragments(clean).bond_ok > 0.99
    assert found["ca_distance_w1_k1"] > 0.5 and found["bond_angle_js"] > 0.2
    assert found["clashes_per_fragment"] > 0.5 and Fragments(clean).clashes.sum() == 0
    strand = ideal_strand(L // 2)
    above = strand[::-1] + np.array([0.0, 0.0, 2.5])  # the second arm 2.5 Å above the first
    folded = placed(np.concatenate([strand, above]), 50, 6, noise=0.02)
    assert (clash_counts(folded) >= L // 2 - 2).all()
    assert structure_metrics(clean, folded, seed=0)["clashes_per_fragment"] >= L // 2 - 2


def test_group_aware_folds_do_not_leak_chain_identity():
    """Chains of one regular shape each (their own bond angle and torsion), cut into overlapping
    fragments (stride 1): two independent draws of such chains are the same distribution, but with
    plain folds the forest recognises each chain from its overlapping neighbours."""
    rng = np.random.default_rng(7)
    sides = []
    for side in range(2):
        n_chains, length = 24, 40
        angle = rng.uniform(85, 130, (n_chains, 1)) + rng.normal(0, 2, (n_chains, length - 2))
        twist = rng.uniform(-180, 180, (n_chains, 1)) + rng.normal(0, 6, (n_chains, length - 3))
        ids = [f"side{side}chain{i}" for i in range(n_chains)]
        chains = StructureSet(list(grown(angle, twist)), ids, groups=np.array(ids))
        sides.append(chains.fragments(16, stride=1))
    a, b = (fragments_from(s, "test") for s in sides)
    leaky = grouped_c2st_auc(a.features, b.features, seed=0, max_per_side=300)
    honest = grouped_c2st_auc(a.features, b.features, a.groups, b.groups, seed=0, max_per_side=300)
    assert leaky > 0.75 and abs(honest - 0.5) < 0.15, (leaky, honest)
    same = structure_metrics(sides[0], sides[1], seed=0, max_c2st=300)  # sets carry their groups
    assert same["c2st_rf_auc"] == pytest.approx(honest)
    one_group = np.zeros(len(a.features), dtype=str)
    assert np.isnan(grouped_c2st_auc(a.features, b.features, one_group, b.groups))  # cannot test


# ------------------------------------------------------------------------------------- privacy
def test_nearest_rmsd_finds_copies_and_skips_own_group(sets):
    train, held, _ = sets
    x = train.coordinates()
    rotations = Rotation.random(30, random_state=0).as_matrix()
    copies = np.einsum("nij,nlj->nli", rotations, x[:30]) + 5.0
    assert nearest_fragment_rmsd(copies, x).max() < 1e-3
    assert nearest_fragment_rmsd(mirror(x[:30]), x).min() > 1.0  # no reflection: a mirror is no copy
    unseen = nearest_fragment_rmsd(held.coordinates()[:200], x)
    assert np.median(unseen) > 1.5
    itself = nearest_fragment_rmsd(x[:100], x, train.groups[:100], train.groups)
    assert itself.min() > 0.5  # its own chain's overlapping fragments are skipped
    exhaustive = np.array([np.min(_rmsd_to_all(q, x)) for q in held.coordinates()[:25]])
    assert np.allclose(nearest_fragment_rmsd(held.coordinates()[:25], x), exhaustive, atol=0.3)


def _rmsd_to_all(query, records):
    from biogan.data.backbones import kabsch_rmsd

    return kabsch_rmsd(query[None], records)


def test_copies_of_training_fragments_raise_the_privacy_alert(sets):
    train, held, _ = sets
    pick = np.random.default_rng(0).choice(len(train), 150, replace=False)
    copied = StructureSet.from_coordinates(train.coordinates()[pick] + 3.0, "copy")
    with pytest.warns(UserWarning, match="PRIVACY ALERT: synthetic fragments"):
        table = biogan.evaluate(held, copied, train=train, kind="structures", seed=0, max_c2st=150)
    nearest, copies = _row(table, "nearest_training_rmsd"), _row(table, "copies_under_1A")
    assert nearest.value < 1e-3 < 1.0 < nearest.control and nearest.verdict == "poor"
    assert copies.value == 1.0 and copies.control < 0.2 and copies.verdict == "poor"
    assert _row(table, "bond_length_ok").verdict == "good"  # copies look real: hence the privacy rows


def test_evaluate_returns_every_metric_with_a_control(sets):
    train, held, synth = sets
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = biogan.evaluate(held, synth, train=train, seed=0, max_c2st=200)  # kind inferred
    assert not [w for w in caught if "PRIVACY" in str(w.message)]
    assert list(table.columns) == ["metric", "scope", "value", "control", "verdict"]
    assert list(table.metric) == list(STRUCTURE_METRICS) and (table.scope == "overall").all()
    assert table.value.notna().all() and table.control.notna().all()
    # An independent draw of the same kind of chains: no poor verdict, and every quality metric good (the
    # share of near-copies varies more between draws of 40 chains: all-helix fragments are alike).
    assert (table.verdict != "poor").all(), table.to_string()
    quality = table[~table.metric.isin(["nearest_training_rmsd", "copies_under_1A"])]
    assert (quality.verdict == "good").all(), table.to_string()
    assert abs(_row(table, "c2st_rf_auc").control - 0.5) < 0.1
    assert _row(table, "bond_length_ok").control > 0.99
    without_train = biogan.evaluate(held, synth, kind="structures", seed=0, max_fragments=150)
    assert 1.0 < _row(without_train, "nearest_training_rmsd").control < 10.0  # other entries only


# ------------------------------------------------------------------------------------- pictures, report
def test_pictures_report_and_written_fragments(sets, tmp_path):
    train, held, synth = sets
    small = synth.subset(np.arange(12))
    for fig in (plot.distance_map_grid(small), plot.backbone_gallery(small)):  # what write_structures calls
        assert isinstance(fig, Figure)
    out = write_structures(small, tmp_path / "generated")
    assert (out / "distance_maps.png").stat().st_size > 0 and (out / "backbones.png").stat().st_size > 0
    assert "structures" in REPORT_KINDS
    first = np.arange(150)
    path = write_report(tmp_path / "report.html", held.subset(first), synth.subset(first), train=train)
    text = path.read_text(encoding="utf-8")
    for key in ("summary", "metrics", "pictures"):
        assert f'<section id="{key}"><h2>{SECTIONS[key]}</h2>' in text
    assert text.count("<img") == 5 and "not drawn" not in text and 'class="alert"' not in text
    assert "ca_distance_w1_k4" in text and "nearest_training_rmsd" in text and "Ramachandran" in text


# ------------------------------------------------------------------------------------- a real structure
def test_real_fragments_of_2gtl_have_protein_geometry():
    data = read_structures(importlib.resources.files("tmtools") / "data" / "2gtl.pdb", warn=False)
    chain = np.array([name.split(":")[1] for name in data.ids])  # one entry: split by chain instead
    data = StructureSet(data.chains, data.ids, chain, data.sequences)
    fragments = data.fragments(32, stride=8)
    first = np.isin(fragments.groups, list("ABCDEFM"))
    found = structure_metrics(
        fragments.subset(np.flatnonzero(first)), fragments.subset(np.flatnonzero(~first))
    )
    assert found["bond_length_ok"] > 0.95 and found["clashes_per_fragment"] < 0.05
    assert found["mirrored_fraction"] < 0.05 and found["ca_distance_w1_k1"] < 0.05
    assert found["torsion_js"] < 0.1
