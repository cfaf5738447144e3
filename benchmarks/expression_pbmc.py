"""Expression benchmark on the bundled pbmc68k counts (issue 3).

Fixed-seed stratified 50/50 split by cell type; every method is fit on the train half and asked for the
held-out half's composition; one table compares all of them with the real-vs-real controls.

    python benchmarks/expression_pbmc.py [--gan-seconds 300] [--seed 0] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measured, utc_stamp

import biogan
from biogan.data import stratified_split
from biogan.metrics import evaluate_counts
from biogan.models.baselines import BASELINES

LABEL = "cell_type"


def split(seed: int):
    adata = biogan.datasets.pbmc68k_counts()
    train, held = stratified_split(adata, LABEL, test_size=0.5, seed=seed)
    biogan.ExpressionGAN.setup_anndata(train, layer="counts", labels_key=LABEL)
    return train, held


def run_baseline(name: str, seed: int):
    train, held = split(seed)
    composition = held.obs[LABEL].value_counts().to_dict()
    return BASELINES[name](seed=seed).fit(train).sample(labels=composition, seed=seed)


def run_gan(steps: int, seconds: float, seed: int, overrides: dict):
    train, held = split(seed)
    model = biogan.ExpressionGAN(train, seed=seed, device="auto", **overrides)
    model.fit(max_steps=steps, max_seconds=seconds, progress=False)
    best = model.trainer.best
    info = {"steps": model.trainer.step, "kept_step": best["step"] if best else model.trainer.step}
    return model.sample(labels=held.obs[LABEL].value_counts().to_dict(), seed=seed), info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gan-steps", type=int, default=400)
    parser.add_argument("--gan-seconds", type=float, default=300.0, help="wall-clock cap for the GAN")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    train, held = split(args.seed)
    candidates, cost = {}, {}
    names = {
        "nb": "independent NB per type",
        "gaussian": "Gaussian on log per type",
        "copula": "Gaussian copula + NB per type",
    }
    for key, label in names.items():
        candidates[label], *cost[label] = measured(run_baseline, key, args.seed)
    (synth, info), *cost_gan = measured(run_gan, args.gan_steps, args.gan_seconds, args.seed, {})
    gan_label = f"biogan ExpressionGAN ({info['steps']} steps, kept {info['kept_step']})"
    candidates[gan_label], cost[gan_label] = synth, cost_gan

    table = evaluate_counts(held, candidates, train=train, n_splits=3, seed=args.seed)
    table["fit_s"] = [cost.get(name, (float("nan"),))[0] for name in table.index]
    table["peak_mib"] = [cost.get(name, (0, float("nan")))[1] for name in table.index]
    table = table.drop(columns="eval_s")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round(3).to_string())
    stamp = utc_stamp()
    text = (
        f"Command: `python benchmarks/expression_pbmc.py --gan-steps {args.gan_steps} "
        f"--gan-seconds {args.gan_seconds:g} "
        f"--seed {args.seed}`  \n"
        f"Machine: {machine()}  \nDate: {stamp}\n\n{table.round(3).to_markdown()}\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "expression_pbmc.md").write_text(text)


if __name__ == "__main__":
    main()
