"""Protein structures: parsing (Biopython), fragments that respect chain breaks, Cα geometry, maps to
coordinates, StructureGAN and the structure commands."""

from __future__ import annotations

import gzip
import json
import math
import warnings
from importlib.resources import files

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from biogan import StructureGAN
from biogan.cli import app
from biogan.data.backbones import (
    bond_angles,
    bond_lengths,
    choose_hand,
    clash_counts,
    classical_mds,
    coordinates_from_maps,
    distance_maps,
    helix_hand,
    kabsch_rmsd,
    mirror,
    place_chain,
    torsions,
)
from biogan.data.datasets import example_structures, ideal_backbones
from biogan.data.structures import (
    StructureSet,
    StructureWarning,
    group_split,
    read_structures,
    write_ca_pdb,
    write_structures,
)
from biogan.errors import InvalidDataError
from biogan.models.structure import log_density
from biogan.nn.structures import ChainMapGenerator, DistanceMapCritic, DistanceMapGenerator

PDB_DIR = files("tmtools") / "data"
runner = CliRunner()


def _quiet_read(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        return read_structures(path, **kw)


# ---------------------------------------------------------------------------------------- parsing
def test_pdb_and_mmcif_of_one_entry_give_the_same_ca_trace():
    pdb, cif = _quiet_read(PDB_DIR / "2gtl.pdb"), _quiet_read(PDB_DIR / "2gtl.cif")
    assert len(pdb) == len(cif) == 15  # 15 protein chains; the hemes and calcium ions are not residues
    assert pdb.ids == cif.ids
    assert all(np.allclose(a, b, atol=1e-3) for a, b in zip(pdb.chains, cif.chains, strict=True))
    assert set(pdb.groups) == {"2gtl"}
    assert pdb.sequences[0].startswith("DCCS")  # chain A from residue 5: ASP CYS CYS SER in the ATOM records


def test_chain_breaks_cut_segments_and_fragments_never_span_them():
    data = _quiet_read(PDB_DIR / "7ok9.pdb")
    assert data.skipped["chain breaks (Cα-Cα > 4.2 Å)"] > 0
    for chain in data.chains:  # every segment is gap-free
        assert bond_lengths(chain).max() <= 4.2
    fragments = data.fragments(32, stride=1, warn=False)
    assert bond_lengths(fragments.coordinates()).max() <= 4.2
    per_segment = sum(max(0, n - 32 + 1) for n in data.lengths)
    assert len(fragments) == per_segment


def test_short_segments_are_counted_and_skipped_with_a_warning():
    data = _quiet_read(PDB_DIR / "7ok9.pdb")
    with pytest.warns(StructureWarning, match="shorter than 300 residues"):
        long = data.fragments(300)
    assert long.skipped["segments shorter than 300 residues"] == int((data.lengths < 300).sum())


def _ca_line(i, xyz, name="ALA", altloc=" ", occupancy=1.0, record="ATOM  "):
    x, y, z = xyz
    return (
        f"{record}{i + 1:>5}  CA {altloc}{name} A{i + 1:>4}    {x:8.3f}{y:8.3f}{z:8.3f}"
        f"{occupancy:6.2f}  0.00           C"
    )


def _one_chain_pdb(tmp_path, name="one.pdb"):
    data = _quiet_read(PDB_DIR / "2gtl.pdb")
    path = write_ca_pdb(data.chains[0][:40], tmp_path / name, data.sequences[0][:40])
    return path, data.chains[0][:40]


def test_nmr_models_first_by_default_all_on_request(tmp_path):
    _, ca = _one_chain_pdb(tmp_path)
    lines = []
    for model, shift in ((1, 0.0), (2, 0.5)):
        lines.append(f"MODEL     {model:>4}")
        lines += [_ca_line(i, xyz + shift) for i, xyz in enumerate(ca)]
        lines.append("ENDMDL")
    path = tmp_path / "nmr.pdb"
    path.write_text("\n".join([*lines, "END"]) + "\n")
    with pytest.warns(StructureWarning, match="further models"):
        first = read_structures(path)
    assert len(first) == 1 and np.allclose(first.chains[0], ca, atol=1e-3)
    both = _quiet_read(path, models="all")
    assert len(both) == 2 and len(set(both.groups)) == 1  # one entry: a split keeps the models together
    assert np.allclose(both.chains[1], ca + 0.5, atol=1e-3)


def test_alternate_locations_keep_the_higher_occupancy_ca(tmp_path):
    _, ca = _one_chain_pdb(tmp_path)
    lines = []
    for i, xyz in enumerate(ca):
        if i == 10:  # altloc A (occupancy 0.3) far off, B (0.7) at the right place
            lines.append(_ca_line(i, xyz + np.array([9.0, 0.0, 0.0]), altloc="A", occupancy=0.3))
            lines.append(_ca_line(i, xyz, altloc="B", occupancy=0.7))
        else:
            lines.append(_ca_line(i, xyz))
    path = tmp_path / "alt.pdb"
    path.write_text("\n".join([*lines, "END"]) + "\n")
    data = _quiet_read(path)
    assert len(data) == 1 and np.allclose(data.chains[0][10], ca[10], atol=1e-3)
    assert data.skipped["Cα atoms with alternate locations (highest occupancy kept)"] == 1


def test_modified_residues_read_as_parent_unknown_ones_cut_the_chain(tmp_path):
    _, ca = _one_chain_pdb(tmp_path)
    names = ["ALA"] * len(ca)
    names[5], names[20] = "MSE", "XYZ"
    lines = [
        _ca_line(i, xyz, name=n, record="ATOM  " if n == "ALA" else "HETATM")
        for i, (n, xyz) in enumerate(zip(names, ca, strict=True))
    ]
    path = tmp_path / "mod.pdb.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join([*lines, "END"]) + "\n")
    data = _quiet_read(path)
    assert data.lengths.tolist() == [20, 19]  # cut at the unknown residue 21, MSE kept as M
    assert data.sequences[0][5] == "M"
    assert data.skipped["non-standard residues (chain cut there)"] == 1


@pytest.mark.parametrize(
    ("content", "name", "match"),
    [
        ("just some text\n", "notes.pdb", "no amino acid with a Cα"),
        ("data_x\n_cell.length_a 1\n", "bad.cif", "PDB/mmCIF"),
    ],
)
def test_files_that_are_not_structures_get_one_clear_error(tmp_path, content, name, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidDataError, match=match):
        read_structures(path)


def test_empty_folder_and_wrong_suffix_are_clear_errors(tmp_path):
    with pytest.raises(InvalidDataError, match="holds no structure files"):
        read_structures(tmp_path)
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(InvalidDataError, match="are read from"):
        read_structures(tmp_path / "x.txt")


def test_npz_archive_round_trip(tmp_path):
    from biogan.data.structures import write_ca_archive

    data = _quiet_read(PDB_DIR / "2gtl.pdb")
    path = write_ca_archive(data, tmp_path / "ca.npz")
    back = _quiet_read(path)
    assert back.lengths.tolist() == data.lengths.tolist()
    assert all(np.allclose(a, b) for a, b in zip(back.chains, data.chains, strict=True))
    assert back.sequences == data.sequences


def test_archive_cuts_at_steps_and_missing_atoms_without_losing_residues(tmp_path):
    x = np.zeros((12, 3), np.float32)
    x[:, 0] = np.arange(12) * 3.8
    x[6:, 0] += 5.0  # an unresolved loop between residues 6 and 7
    mask = np.ones(12, bool)
    mask[9] = False  # residue 10 has no Cα
    x[9] = np.nan
    path = tmp_path / "ca.npz"
    ids, lengths, offsets = np.array(["1abc_A"]), np.array([12]), np.array([0])
    np.savez(path, ids=ids, lengths=lengths, offsets=offsets, ca=x, ca_mask=mask)
    data = _quiet_read(path)
    assert data.ids == ["1abc_A:1-6", "1abc_A:7-9", "1abc_A:11-12"]
    assert data.lengths.tolist() == [6, 3, 2]
    assert data.skipped["chain breaks (missing Cα or Cα-Cα > 4.2 Å)"] == 2


def test_group_split_keeps_entries_together_and_stratifies():
    groups = np.repeat([f"g{i}" for i in range(20)], 5)
    strata = np.repeat(["a"] * 10 + ["b"] * 10, 5)
    train, held = group_split(groups, 0.2, seed=0, strata=strata)
    assert not set(groups[train]) & set(groups[held])
    assert len(set(groups[held])) == 4
    assert sorted(set(strata[held])) == ["a", "b"]  # each source loses its share


# ---------------------------------------------------------------------------------------- geometry
def test_ideal_backbones_have_textbook_geometry():
    data = ideal_backbones(n_chains=4, length=60, seed=0)
    x = data.coordinates()
    assert np.allclose(bond_lengths(x), 3.8, atol=1e-4)
    helix = place_chain(torch.full((1, 20), math.radians(91.0)), torch.full((1, 19), math.radians(50.0)))
    assert np.allclose(torsions(helix.numpy()), 50.0, atol=1e-3)  # right-handed helix: positive (IUPAC)
    assert np.allclose(bond_angles(helix.numpy()), 91.0, atol=1e-3)
    rise = np.linalg.norm(helix.numpy()[0, 4] - helix.numpy()[0, 0])
    assert 5.5 < rise < 6.8  # i -> i+4 in an α-helix is about 6.2 Å


def test_mds_recovers_a_structure_from_its_exact_map_up_to_mirror_and_the_hand_is_chosen():
    x = _quiet_read(PDB_DIR / "2gtl.pdb").fragments(64, stride=16, warn=False).coordinates()[:20]
    recovered = classical_mds(distance_maps(x)).float().numpy()
    rmsd = np.minimum(kabsch_rmsd(recovered, x), kabsch_rmsd(mirror(recovered), x))
    assert rmsd.max() < 1e-3
    handed = choose_hand(recovered)  # helical globin fragments: the right-handed version is the real one
    assert np.median(kabsch_rmsd(handed, x)) < 1e-3


def test_refinement_restores_bonds_and_removes_clashes_from_a_noisy_map():
    x = _quiet_read(PDB_DIR / "2gtl.pdb").fragments(64, stride=16, warn=False).coordinates()[:20]
    rng = np.random.default_rng(0)
    maps = distance_maps(x)
    noisy = np.abs(maps + rng.normal(0, 0.7, maps.shape)).astype(np.float32)
    noisy = (noisy + noisy.transpose(0, 2, 1)) / 2
    noisy[:, np.arange(64), np.arange(64)] = 0
    plain = coordinates_from_maps(noisy, refine_steps=0)
    refined = coordinates_from_maps(noisy, log_density=log_density(x))
    ok = lambda c: float((np.abs(bond_lengths(c) - 3.8) <= 0.2).mean())  # noqa: E731
    assert ok(plain) < 0.8 < 0.98 < ok(refined)
    assert clash_counts(refined).mean() <= 0.05
    assert np.median(kabsch_rmsd(refined, x)) < 1.5  # still the same fold, and not the mirror image


def test_refinement_takes_bonds_from_the_targets_not_from_the_maps_first_neighbours():
    x = _quiet_read(PDB_DIR / "2gtl.pdb").fragments(64, stride=16, warn=False).coordinates()[:20]
    maps = distance_maps(x)
    i = np.arange(63)
    maps[:, i, i + 1] = maps[:, i + 1, i] = 4.4  # what a generator's unjudged separation 1 looks like
    assert np.abs(bond_lengths(coordinates_from_maps(maps)) - 3.8).mean() < 0.02
    targets = np.random.default_rng(0).uniform(3.6, 4.0, (20, 63)).astype(np.float32)
    refined = bond_lengths(coordinates_from_maps(maps, bonds=targets))
    assert np.abs(refined - targets).mean() < 0.02  # each bond follows its own target


def test_the_hand_with_right_handed_helices_wins_over_the_histogram():
    x = _quiet_read(PDB_DIR / "2gtl.pdb").fragments(64, stride=16, warn=False).coordinates()[:20]
    left = mirror(x)
    assert (helix_hand(left) < 0).all()
    chosen = choose_hand(left, log_density(left))  # a histogram that prefers left-handed helices
    assert (helix_hand(chosen) > 0).all() and np.median(kabsch_rmsd(chosen, x)) < 1e-3


@pytest.mark.parametrize("generator", ["chain", "dcgan"])
def test_generated_maps_are_symmetric_with_zero_diagonal_by_construction(generator):
    torch.manual_seed(0)
    length = 24
    if generator == "chain":
        net = ChainMapGenerator(16, length, channels=8, n_blocks=1)
        torch.nn.init.normal_(net.refine[-1].weight, std=0.5)  # a non-trivial map correction too
    else:
        net = DistanceMapGenerator(16, length, torch.linspace(0, 30, length), channels=4)
    maps = net(torch.randn(5, 16))
    assert maps.shape == (5, length, length)
    assert torch.equal(maps, maps.transpose(1, 2))
    assert torch.count_nonzero(torch.diagonal(maps, dim1=1, dim2=2)) == 0
    assert bool((maps[:, ~torch.eye(length, dtype=torch.bool)] > 0).all())
    critic = DistanceMapCritic(length, channels=4)
    assert critic(maps).shape == (5,)


def test_torsion_rows_tell_a_backbone_from_its_mirror_image():
    from biogan.nn.structures import pairwise_distances, torsion_rows

    x = _quiet_read(PDB_DIR / "2gtl.pdb").fragments(32, stride=32, warn=False).coordinates()[:4]
    rows = torsion_rows(torch.from_numpy(x)).numpy()
    angle = np.degrees(np.arctan2(rows[:, 1, :-3], rows[:, 0, :-3]))
    assert np.allclose(angle, torsions(x), atol=1e-2)
    flipped = torch.from_numpy(mirror(x))
    assert torch.allclose(pairwise_distances(flipped), torch.from_numpy(distance_maps(x)), atol=1e-3)
    assert np.allclose(torsion_rows(flipped).numpy()[:, 1], -rows[:, 1], atol=1e-5)  # sin changes sign


# ---------------------------------------------------------------------------------------- model
@pytest.fixture(scope="module")
def fitted():
    chains = ideal_backbones(n_chains=30, length=60, seed=1)
    model = StructureGAN(fragment_length=16, seed=0, n_monitor=64, eval_every=20, batch_size=32)
    model.fit(chains, max_steps=40, progress=False)
    return model, chains


def test_structure_gan_fit_sample_save_load(fitted, tmp_path):
    model, _ = fitted
    out = model.sample(12, seed=3)
    assert out.coordinates().shape == (12, 16, 3)
    assert (np.abs(bond_lengths(out.coordinates()) - 3.8) <= 0.2).mean() > 0.95  # refinement holds bonds
    again = model.sample(12, seed=3)
    assert np.array_equal(out.coordinates(), again.coordinates())  # same seed, same backbones
    model.save(tmp_path / "m")
    loaded = StructureGAN.load(tmp_path / "m")
    assert np.allclose(loaded.sample(12, seed=3).coordinates(), out.coordinates(), atol=1e-4)
    meta = json.loads((tmp_path / "m" / "config.json").read_text())
    assert meta["config"]["fragment_length"] == 16
    assert {"nearest_training_rmsd", "heldout_nearest_training_rmsd"} <= set(model.novelty)


def test_bond_targets_are_drawn_from_the_training_fragments_bonds():
    from scipy.stats import ks_2samp

    chains = _quiet_read(PDB_DIR / "2gtl.pdb")
    model = StructureGAN(fragment_length=16, seed=0, n_monitor=16, eval_every=0, batch_size=16)
    model.fit(chains, max_steps=1, progress=False)
    real = bond_lengths(chains.fragments(16, warn=False).coordinates()).ravel()
    drawn = model.problem.draw_bonds(400, np.random.default_rng(0))
    assert drawn.shape == (400, 15)
    assert ks_2samp(drawn.ravel(), real).statistic < 0.05  # not all 3.8 Å: real bonds spread


def test_same_seed_same_model():
    chains = ideal_backbones(n_chains=20, length=40, seed=2)
    a = StructureGAN(fragment_length=16, seed=5, n_monitor=32, eval_every=0, batch_size=16)
    b = StructureGAN(fragment_length=16, seed=5, n_monitor=32, eval_every=0, batch_size=16)
    a.fit(chains, max_steps=5, progress=False)
    b.fit(chains, max_steps=5, progress=False)
    assert np.array_equal(a.generate_maps(4, seed=1), b.generate_maps(4, seed=1))


def test_structure_gan_refuses_bad_input():
    with pytest.raises(InvalidDataError, match="expects a StructureSet"):
        StructureGAN().fit(np.zeros((4, 16, 3)))
    with pytest.raises(InvalidDataError, match="choose a shorter --fragment-length"):
        StructureGAN(fragment_length=200).fit(ideal_backbones(n_chains=3, length=50), max_steps=1)
    with pytest.raises(ValueError, match="fragment_length must be at least 8"):
        StructureGAN(fragment_length=4)


def test_write_structures_folder_is_readable_by_biopython(fitted, tmp_path):
    from Bio.PDB import PDBParser

    model, _ = fitted
    out = write_structures(model.sample(5, seed=0), tmp_path / "generated")
    pdbs = sorted(out.glob("*.pdb"))
    assert len(pdbs) == 5
    structure = PDBParser(QUIET=True).get_structure("x", pdbs[0])
    atoms = [a for a in structure.get_atoms()]
    assert len(atoms) == 16 and {a.get_id() for a in atoms} == {"CA"}
    assert np.load(out / "distance_maps.npy").shape == (5, 16, 16)
    assert (out / "distance_maps.png").stat().st_size > 0 and (out / "backbones.png").stat().st_size > 0
    assert _quiet_read(out).coordinates().shape == (5, 16, 3)  # the folder reads back as fragments


# ---------------------------------------------------------------------------------------- commands
def test_train_sample_evaluate_commands(tmp_path):
    chains = ideal_backbones(n_chains=12, length=36, seed=3)
    folder = tmp_path / "structures"
    folder.mkdir()
    for i, chain in enumerate(chains.chains):
        write_ca_pdb(chain, folder / f"chain{i:02d}.pdb")
    model_dir = tmp_path / "pmodel"
    result = runner.invoke(
        app,
        [
            "train",
            "structure",
            str(folder),
            "--fragment-length",
            "16",
            "--out",
            str(model_dir),
            "--max-steps",
            "10",
            "--set",
            "eval_every=5",
            "--set",
            "n_monitor=32",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    generated = tmp_path / "generated"
    result = runner.invoke(app, ["sample", str(model_dir), "-n", "40", "-o", str(generated)])
    assert result.exit_code == 0, result.output
    assert len(list(generated.glob("*.pdb"))) == 40
    report = tmp_path / "report"
    result = runner.invoke(
        app, ["evaluate", str(folder), str(generated), "--train", str(folder), "--out", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert "angle_torsion_js" in (report / "metrics.csv").read_text()
    assert (report / "report.html").stat().st_size > 10_000
    model_report = tmp_path / "model_report"
    result = runner.invoke(
        app, ["report", str(model_dir), "--real", str(folder), "-n", "50", "--out", str(model_report)]
    )
    assert result.exit_code == 0, result.output
    assert "StructureGAN" in (model_report / "report.html").read_text()


def test_commands_name_structure_problems_in_one_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["train", "structure", str(empty), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "holds no structure files" in result.output
    assert "Traceback" not in result.output
    pdb = tmp_path / "short"
    pdb.mkdir()
    write_ca_pdb(ideal_backbones(n_chains=1, length=20).chains[0], pdb / "a.pdb")
    result = runner.invoke(
        app, ["train", "structure", str(pdb), "--fragment-length", "64", "--out", str(tmp_path / "m2")]
    )
    assert result.exit_code == 2 and "shorter --fragment-length" in result.output


def test_example_structures_ship_with_tmtools():
    data = example_structures()
    assert len(data) > 50 and set(data.groups) == {"2gtl", "7ok9"}
    assert isinstance(data, StructureSet)
