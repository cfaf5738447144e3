"""StructureGAN on real protein chains beside simple peers, at fragment lengths 16, 64 and 128 (issue 16).

Data: ``protein_structures/protein_ca.npz`` (190 PDB chains of three non-redundant sets; see its
SOURCE.md), read with :func:`biogan.data.structures.read_structures` (chains cut at missing Cα atoms and
at Cα-Cα steps over 4.2 Å). The FKBP12 duplicate (2PPN, the same protein as 1A7X) is dropped. Split by
entry 80/20, stratified by source data set (every chain of an entry on one side). The held-out entries
are split again in two halves by entry: half A is the reference every method is judged against, half B
is the control (real against real). Fragments of every length are cut every ``length // 16`` residues;
at most ``--n`` (1,000) fragments a side are compared.

Rows: the control; a copy of random training fragments (memorisation: perfect geometry, zero novelty);
training fragments with Gaussian noise of 1 and 2 Å on every coordinate; a random walk of 3.8 Å steps
with bond angles and torsions drawn independently from the training fragments' distributions; classical
MDS of training maps with 0.5 Å of symmetric noise, no refinement (what a slightly wrong map does to the
local geometry); and ``StructureGAN(fragment_length=L, seed=0).fit(train_chains)`` with its defaults,
sampled ``n`` times. Metrics (:func:`biogan.metrics.structures.structure_metrics`): W1 of the Cα(i)-Cα(i+k)
distances (k = 1..4), the share of i+1 steps within 3.8 ± 0.2 Å, JS divergences of the bond angle,
torsion and (angle, torsion) histograms, radius-of-gyration and contact-density W1, clashes per
fragment, the mirrored share, a random-forest C2ST on fragment features with folds grouped by entry,
and the median RMSD to the nearest training fragment (novelty). Each method runs in a fresh process
(``_common.measured``, one torch thread) for its wall time and peak memory.

    python benchmarks/structure.py [--data-dir DIR] [--lengths 16,64,128] [--n 1000]
    python benchmarks/structure.py --quick        # tiny settings: a smoke test of the script only
    python benchmarks/structure.py --lengths 64 --ablation   # + the DCGAN generator at equal time
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measured, utc_stamp

from biogan.data.backbones import (
    BOND,
    bond_angles,
    classical_mds,
    distance_maps,
    place_chain,
    torsions,
)
from biogan.data.structures import StructureSet, StructureWarning, group_split, read_structures
from biogan.metrics.structures import nearest_fragment_rmsd, structure_metrics

DUPLICATE = "2ppn"  # FKBP12, identical in sequence to 1a7x (SOURCE.md)
COLUMNS = {
    "ca_distance_w1_k1": "W1 d(i,i+1)",
    "ca_distance_w1_k2": "W1 d(i,i+2)",
    "ca_distance_w1_k3": "W1 d(i,i+3)",
    "ca_distance_w1_k4": "W1 d(i,i+4)",
    "bond_length_ok": "steps at 3.8±0.2",
    "bond_angle_js": "angle JS",
    "torsion_js": "torsion JS",
    "angle_torsion_js": "2-D JS",
    "radius_of_gyration_w1": "Rg W1",
    "contact_density_w1": "contacts W1",
    "clashes_per_fragment": "clashes",
    "mirrored_fraction": "mirrored",
    "c2st_rf_auc": "C2ST",
}


def data_path(given: str | None) -> Path:
    root = Path(given or os.environ.get("BIOGAN_DATA_DIR") or Path(__file__).parents[2] / "shared" / "data")
    path = root / "protein_structures" / "protein_ca.npz"
    if not path.exists():
        sys.exit(f"skipped: {path} not found (give --data-dir or set BIOGAN_DATA_DIR; see shared/README.md)")
    return path


def split_chains(chains: StructureSet, seed: int = 0) -> tuple[StructureSet, StructureSet, StructureSet]:
    """Training chains (80 % of the entries) and the two halves (A, B) of the held-out entries."""
    keep = np.flatnonzero(chains.groups != DUPLICATE)
    chains = chains.subset(keep)
    train, held = group_split(chains.groups, 0.2, seed, strata=chains.labels)
    held_set = chains.subset(held)
    a, b = group_split(held_set.groups, 0.5, seed + 1, strata=held_set.labels)
    return chains.subset(train), held_set.subset(a), held_set.subset(b)


# ---------------------------------------------------------------------------------------- peers
def copy_of_training(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    return train[np.random.default_rng(seed).choice(len(train), n, replace=len(train) < n)]


def noisy_training(train: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = train[rng.choice(len(train), n, replace=len(train) < n)]
    return (picked + rng.normal(0.0, sigma, picked.shape)).astype(np.float32)


def random_walk(train: np.ndarray, n: int, seed: int) -> np.ndarray:
    """3.8 Å steps; every bond angle and torsion drawn independently from the training fragments'."""
    import torch

    rng = np.random.default_rng(seed)
    length = train.shape[1]
    angles, tors = bond_angles(train).ravel(), torsions(train).ravel()
    a = np.radians(rng.choice(angles, (n, length - 2)))
    t = np.radians(rng.choice(tors, (n, length - 3)))
    return place_chain(torch.from_numpy(a), torch.from_numpy(t), BOND).numpy().astype(np.float32)


def mds_of_noisy_maps(train: np.ndarray, n: int, sigma: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = train[rng.choice(len(train), n, replace=len(train) < n)]
    maps = distance_maps(picked)
    noise = rng.normal(0.0, sigma, maps.shape)
    noise = (noise + noise.transpose(0, 2, 1)) / np.sqrt(2)  # symmetric, still sigma per entry
    noisy = np.abs(maps + noise)
    noisy[:, np.arange(maps.shape[1]), np.arange(maps.shape[1])] = 0
    return classical_mds(noisy).float().numpy()


QUICK_STEPS = 30  # --quick only: the real rows use the defaults of fit()


def structure_gan(
    train_chains: StructureSet,
    length: int,
    n: int,
    seed: int,
    quick: bool = False,
    settings: dict | None = None,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, dict]:
    from biogan import StructureGAN

    steps = {"max_steps": QUICK_STEPS} if quick else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        model = StructureGAN(fragment_length=length, seed=seed, **(settings or {}))
        model.fit(train_chains, progress=False, max_seconds=max_seconds, **steps)
    best = model.trainer.best or {}
    info = {"steps": model.trainer.step, "kept step": best.get("step"), "train s": model.train_seconds}
    return model.sample(n, seed=seed).coordinates(), info


# ---------------------------------------------------------------------------------------- table
def one_length(
    train_chains: StructureSet,
    half_a: StructureSet,
    half_b: StructureSet,
    length: int,
    n: int,
    seed: int,
    quick: bool = False,
    ablation: bool = False,
) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        train = train_chains.fragments(length)
        ref, control = half_a.fragments(length), half_b.fragments(length)
    rng = np.random.default_rng(seed)
    n = min(n, len(ref), len(control))
    ref = ref.subset(np.sort(rng.choice(len(ref), n, replace=False)))
    control = control.subset(np.sort(rng.choice(len(control), n, replace=False)))
    train_xyz = train.coordinates()
    print(
        f"L = {length}: {len(train)} training fragments of {len(train_chains)} chain segments; "
        f"{n} reference and {n} control fragments",
        flush=True,
    )
    methods = {
        "control (held-out half B)": (_control, control),
        "copy of training fragments": (_peer, copy_of_training, train_xyz, n, seed),
        "training + noise σ=1 Å": (_peer, noisy_training, train_xyz, n, 1.0, seed),
        "training + noise σ=2 Å": (_peer, noisy_training, train_xyz, n, 2.0, seed),
        "random walk (training angles)": (_peer, random_walk, train_xyz, n, seed),
        "MDS of maps + 0.5 Å noise": (_peer, mds_of_noisy_maps, train_xyz, n, 0.5, seed),
        "StructureGAN": (_gan, train_chains, length, n, seed, quick),
    }
    if ablation:  # Anand & Huang's DCGAN generator, given the default run's training time
        methods["StructureGAN architecture=dcgan (same seconds)"] = (
            _gan,
            train_chains,
            length,
            n,
            seed,
            quick,
        )
    rows = []
    for name, (fn, *args) in methods.items():
        if name.startswith("StructureGAN architecture=dcgan"):
            args = [*args, {"architecture": "dcgan"}, rows[-1]["train s"]]  # the default run's time
        (coords, groups, info), seconds, peak = measured(fn, *args)
        metrics = structure_metrics(ref, coords, ref.groups, groups, seed=seed)
        novelty = float(np.median(nearest_fragment_rmsd(coords, train_xyz)))
        rows.append(
            {
                "method": name,
                **{COLUMNS[k]: metrics[k] for k in COLUMNS},
                "nearest train RMSD": novelty,
                "wall s": seconds,
                "peak MiB": peak,
                **info,
            }
        )
        print(f"  {name}: done in {seconds:.0f} s", flush=True)
    return pd.DataFrame(rows).set_index("method")


def _control(control: StructureSet) -> tuple[np.ndarray, np.ndarray, dict]:
    return control.coordinates(), control.groups, {}


def _peer(fn, *args) -> tuple[np.ndarray, None, dict]:
    return fn(*args), None, {}


def _gan(
    train_chains: StructureSet,
    length: int,
    n: int,
    seed: int,
    quick: bool,
    settings: dict | None = None,
    max_seconds: float | None = None,
) -> tuple[np.ndarray, None, dict]:
    coords, info = structure_gan(train_chains, length, n, seed, quick, settings, max_seconds)
    return coords, None, info


BARS_64 = {
    "steps at 3.8±0.2": ("≥ 0.95", lambda v, c: v >= 0.95),
    "2-D JS": ("≤ 2× control", lambda v, c: v <= 2 * c),
    "clashes": ("≤ 0.05", lambda v, c: v <= 0.05),
    "mirrored": ("≤ control + 0.02", lambda v, c: v <= c + 0.02),
    "Rg W1": ("≤ 2× control", lambda v, c: v <= 2 * c),
    "contacts W1": ("≤ 2× control", lambda v, c: v <= 2 * c),
    "nearest train RMSD": ("≥ 1.5 Å", lambda v, c: v >= 1.5),
    "C2ST": ("≤ 0.80", lambda v, c: v <= 0.80),
}


def bar_check(table: pd.DataFrame) -> pd.DataFrame:
    gan, control = table.loc["StructureGAN"], table.loc["control (held-out half B)"]
    return pd.DataFrame(
        [
            {
                "metric": k,
                "bar": bar,
                "StructureGAN": gan[k],
                "control": control[k],
                "met": ok(gan[k], control[k]),
            }
            for k, (bar, ok) in BARS_64.items()
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--lengths", default="16,64,128")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="tiny settings: checks the script runs")
    parser.add_argument(
        "--ablation", action="store_true", help="add the DCGAN generator, trained as long as the default"
    )
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StructureWarning)
        chains = read_structures(data_path(args.data_dir))
    train, half_a, half_b = split_chains(chains, args.seed)
    lengths = [int(x) for x in args.lengths.split(",")]
    if args.quick:
        lengths, args.n = lengths[:1], 100
    print(
        f"{len(train)} training / {len(half_a)} + {len(half_b)} held-out chain segments "
        f"({len(set(train.groups))} / {len(set(half_a.groups))} + {len(set(half_b.groups))} entries)"
    )
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.precision", 3):
        for length in lengths:
            table = one_length(train, half_a, half_b, length, args.n, args.seed, args.quick, args.ablation)
            print(f"\n### L = {length}\n")
            print(table.to_markdown(floatfmt=".3f"))
            if length == 64:
                print("\nBars (L = 64):\n")
                print(bar_check(table).to_markdown(index=False, floatfmt=".3f"))
    print(f"\n{machine()}; {utc_stamp()}")


if __name__ == "__main__":
    main()
