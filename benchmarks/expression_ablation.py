"""Expression ablation (issue 12): what each ingredient of ExpressionGAN's defaults is worth.

Per data set and seed (the splits, judge and held-out composition of ``expression_pbmc.py``): the copula
peer, the sub-cluster NB start alone (``fit(max_steps=0)``: no adversarial step), ``ExpressionGAN(train,
seed=s).fit()`` with its defaults, and the defaults with one setting changed each -- the earlier
sub-cluster size, no critic warm-up, the critic seeing minibatch statistics, a low-rank generator (gene
programmes), fixed dispersions, the earlier faster generator, the earlier cap on sub-clusters, stronger
augmentation. Every GAN row trains with its own default step budget and early stopping; the table is the
mean over seeds of ``evaluate_counts``.

    python benchmarks/expression_ablation.py [--datasets pbmc68k,pbmc3k] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measured, utc_stamp
from expression_pbmc import RESULTS, available, composition, run_baseline, split

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "sub-clusters of 30 cells (earlier default)": {"cells_per_subcluster": 30},
    "no critic warm-up": {"generator_warmup": 0},
    "minibatch statistics in the critic (groups of 4)": {"minibatch_group": 4},
    "low-rank generator (last hidden layer 16 wide)": {"generator_hidden": (256, 16)},
    "dispersions fixed at their estimates": {"learn_dispersion": False},
    "generator learning rate 1e-4 (earlier default)": {"lr_generator": 1e-4},
    "at most 12 sub-clusters per label (earlier default)": {"max_subclusters": 12},
    "stronger augmentation (thinning 0.8, dropout 0.5)": {"thinning": 0.8, "critic_dropout": 0.5},
}
START = "sub-cluster NB start alone (no adversarial step)"


def run_variant(dataset: str, seed: int, overrides: dict[str, Any] | None) -> tuple[Any, dict]:
    """``ExpressionGAN(...).fit()`` with ``overrides``; ``None``: the untrained start."""
    import biogan

    train, held = split(dataset, seed)
    model = biogan.ExpressionGAN(train, seed=seed, device="cpu", **(overrides or {}))
    model.fit(max_steps=0 if overrides is None else None, progress=False)
    best = model.trainer.best
    info = {"steps": model.trainer.step, "kept_step": best["step"] if best else model.trainer.step}
    return model.sample(labels=composition(held), seed=seed), info


def one_seed(dataset: str, seed: int) -> list[dict]:
    from biogan.metrics import evaluate_counts

    train, held = split(dataset, seed)
    jobs: list[tuple[str, Any, tuple]] = [
        ("Gaussian copula + NB per type", run_baseline, (dataset, "copula", seed)),
        (START, run_variant, (dataset, seed, None)),
        *((name, run_variant, (dataset, seed, over)) for name, over in VARIANTS.items()),
    ]
    candidates, extra = {}, {}
    for name, fn, args in jobs:
        (synth, info), seconds, _ = measured(fn, *args)
        candidates[name], extra[name] = synth, {**info, "fit_s": seconds}
        print(f"  {dataset} seed {seed} {name}: {seconds:.0f} s {info}", flush=True)
    table = evaluate_counts(held, candidates, train=train, n_splits=3, seed=seed)
    return [
        {"method": name, "seed": seed, "c2st_auc": row.c2st_auc, "mmd": row.mmd, **extra.get(name, {})}
        for name, row in table.iterrows()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="pbmc68k,pbmc3k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    for dataset in filter(available, args.datasets.split(",")):
        rows = [row for seed in args.seeds for row in one_seed(dataset, seed)]
        frame = pd.DataFrame(rows)
        table = frame.groupby("method", sort=False).agg(
            seeds=("seed", "size"),
            c2st_auc=("c2st_auc", "mean"),
            c2st_sd=("c2st_auc", "std"),
            mmd=("mmd", "mean"),
            steps=("steps", "mean"),
            kept_step=("kept_step", "mean"),
            fit_s=("fit_s", "mean"),
        )
        print(table.round(3).to_string())
        seeds = " ".join(map(str, args.seeds))
        text = (
            f"Command: `python benchmarks/expression_ablation.py --datasets {dataset} --seeds {seeds}`  \n"
            f"Machine: {machine()}  \nDate: {utc_stamp()}\n\n{table.round(3).to_markdown()}\n"
        )
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"expression_ablation_{dataset}.md").write_text(text)
        frame.to_csv(args.out / f"expression_ablation_{dataset}.csv", index=False)


if __name__ == "__main__":
    main()
