"""TabularGAN sample quality on bundled clinical-style tables, next to baselines and a real-vs-real control.

Per data set and seed: stratified 50/50 split; every generator learns the train half (label column
included) and samples as many rows per class as the held-out half has. C2ST AUROC (5-fold, logistic
regression and random forest on standardised columns) of synthetic vs held-out rows; 0.5 = indistinguishable.
Baselines: independent per-class marginals (resampled columns: no correlations) and a per-class Gaussian
copula (normal scores, Ledoit–Wolf covariance). Control: the train half vs the held-out half.

    python benchmarks/tabular_quality.py [--datasets breast,wine] [--seeds 0 1 2] [--steps 3000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import special
from sklearn.covariance import LedoitWolf
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, mean_std_table, utc_stamp

from biogan import TabularGAN
from biogan.metrics.two_sample import c2st_auc

LABEL = "target"
LOADERS = {"breast": load_breast_cancer, "wine": load_wine}


def independent_marginals(train: pd.DataFrame, sizes: pd.Series, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for label, n in sizes.items():
        rows = train[train[LABEL] == label]
        parts.append(pd.DataFrame({c: rng.choice(rows[c].to_numpy(), n) for c in train.columns}))
    return pd.concat(parts, ignore_index=True)


def gaussian_copula(train: pd.DataFrame, sizes: pd.Series, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    features = [c for c in train.columns if c != LABEL]
    parts = []
    for label, n in sizes.items():
        rows = train.loc[train[LABEL] == label, features].to_numpy()
        ranks = (np.argsort(np.argsort(rows, axis=0), axis=0) + 0.5) / len(rows)
        scores = special.ndtri(ranks)
        draws = rng.multivariate_normal(np.zeros(len(features)), LedoitWolf().fit(scores).covariance_, n)
        quantiles = special.ndtr(draws)
        values = {f: np.quantile(rows[:, j], quantiles[:, j]) for j, f in enumerate(features)}
        parts.append(pd.DataFrame(values).assign(**{LABEL: label}))
    return pd.concat(parts, ignore_index=True)[train.columns]


def run(name: str, seed: int, steps: int) -> list[dict]:
    table = LOADERS[name](as_frame=True).frame
    train, test = train_test_split(table, test_size=0.5, stratify=table[LABEL], random_state=seed)
    sizes = test[LABEL].value_counts()
    scaler = StandardScaler().fit(train)

    def c2st(synth: pd.DataFrame) -> dict[str, float]:
        a, b = scaler.transform(synth[test.columns]), scaler.transform(test)
        return {
            "c2st_logistic": c2st_auc(a, b, "logistic", seed=seed),
            "c2st_rf": c2st_auc(a, b, "rf", seed=seed),
        }

    rows = [{"method": "control (train vs held-out)", "seed": seed, "seconds": 0.0, **c2st(train)}]
    for method, make in (
        ("independent marginals", independent_marginals),
        ("Gaussian copula", gaussian_copula),
    ):
        start = time.perf_counter()
        synth = make(train, sizes, seed)
        rows.append({"method": method, "seed": seed, "seconds": time.perf_counter() - start, **c2st(synth)})
    start = time.perf_counter()
    model = TabularGAN(seed=seed, device="cpu").fit(train, LABEL, max_steps=steps, progress=False)
    synth = model.sample(labels=sizes.to_dict(), seed=seed)
    rows.append({"method": "TabularGAN", "seed": seed, "seconds": time.perf_counter() - start, **c2st(synth)})
    print(f"{name} seed {seed}: {rows[-1]}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default="breast,wine")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)
    sections = []
    for name in args.datasets.split(","):
        table = mean_std_table([row for seed in args.seeds for row in run(name, seed, args.steps)])
        sections.append(f"## {name}\n\n{table.to_markdown()}\n")
    header = (
        f"Command: `python benchmarks/tabular_quality.py --datasets {args.datasets} --seeds "
        f"{' '.join(map(str, args.seeds))} --steps {args.steps}`  \n"
        f"Machine: {machine()}  \nDate: {utc_stamp()}  \n"
        "C2ST AUROC of synthetic vs held-out rows (0.5 = indistinguishable), mean ± std over seeds.\n\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "tabular_quality.md").write_text(header + "\n".join(sections))


if __name__ == "__main__":
    main()
