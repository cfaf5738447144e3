"""GAN or VAE? Full metric table: control, baselines, ExpressionGAN and ExpressionVAE on pbmc68k (issue 4).

Fixed-seed stratified 50/50 split by cell type; every method is fit on the train half (in a fresh
process, for wall time and peak memory) and asked for the held-out half's composition; each is judged
against the held-out half by :func:`biogan.evaluate`, whose control column is held-out vs
train real cells at the same sizes.

    python benchmarks/compare_pbmc.py [--gan-seconds 300] [--seed 0] [--out benchmarks/results]
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
from biogan.metrics import evaluate_many
from biogan.models.baselines import BASELINES
from biogan.models.vae import ExpressionVAE

LABEL = "cell_type"
BASELINE_NAMES = {"nb": "NB per type", "gaussian": "Gaussian per type", "copula": "copula + NB per type"}


def one_thread(fn, *args):
    """Run ``fn`` with one torch and one BLAS thread: on a shared 2-core machine, two spinning threads
    per process made training 20x slower (measured: 15 GAN steps in 60 s)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    with threadpool_limits(1):
        return fn(*args)


def split(seed: int):
    adata = biogan.datasets.pbmc68k_counts()
    train, held = stratified_split(adata, LABEL, test_size=0.5, seed=seed)
    biogan.ExpressionGAN.setup_anndata(train, layer="counts", labels_key=LABEL)
    return train, held


def _composition(held) -> dict[str, int]:
    return held.obs[LABEL].astype(str).value_counts().to_dict()


def run_baseline(name: str, seed: int):
    train, held = split(seed)
    return BASELINES[name](seed=seed).fit(train).sample(labels=_composition(held), seed=seed), {}


def run_gan(seconds: float, seed: int):
    train, held = split(seed)
    model = biogan.ExpressionGAN(train, seed=seed, device="auto")
    model.fit(max_steps=1_000_000, max_seconds=seconds, progress=False)
    best = model.trainer.best
    info = {"steps": model.trainer.step, "kept": best["step"] if best else model.trainer.step}
    return model.sample(labels=_composition(held), seed=seed), info


def run_vae(seed: int):
    train, held = split(seed)
    model = ExpressionVAE(train, seed=seed, device="auto").fit(progress=False)
    best = model.trainer.best
    info = {"steps": model.trainer.step, "kept": best["step"] if best else model.trainer.step}
    return model.sample(labels=_composition(held), seed=seed), info


def wide_table(metrics: pd.DataFrame, cost: dict[str, tuple[float, float]]) -> pd.DataFrame:
    """Overall metrics as rows; control then each method as columns, each value with its verdict."""
    overall = metrics[metrics["scope"] == "overall"]
    control = overall.drop_duplicates("metric").set_index("metric")["control"]
    table = pd.DataFrame({"control (held-out vs train)": control.map(lambda v: f"{v:.3f}")})
    for name, rows in overall.groupby("model", sort=False):
        rows = rows.set_index("metric")
        table[name] = [f"{v:.3f} {d}" for v, d in zip(rows["value"], rows["verdict"], strict=True)]
    table.loc["fit + sample wall time (s)"] = ["–"] + [f"{cost[n][0]:.1f}" for n in table.columns[1:]]
    table.loc["peak memory (MiB)"] = ["–"] + [f"{cost[n][1]:.0f}" for n in table.columns[1:]]
    return table


def per_label_auc(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per-label logistic C2ST AUROC, methods as columns (the control beside them)."""
    rows = metrics[(metrics["metric"] == "c2st_logistic_auc") & (metrics["scope"] != "overall")]
    wide = rows.pivot_table(index="scope", columns="model", values="value", sort=False)
    wide.insert(0, "control", rows.drop_duplicates("scope").set_index("scope")["control"])
    return wide.round(3)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--gan-seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    train, held = split(args.seed)
    candidates, cost = {}, {}
    for key, label in BASELINE_NAMES.items():
        (candidates[label], _), *cost[label] = measured(one_thread, run_baseline, key, args.seed)
    (synth, info), *gan_cost = measured(one_thread, run_gan, args.gan_seconds, args.seed)
    gan = f"ExpressionGAN {args.gan_seconds:g} s ({info['steps']} steps, kept {info['kept']})"
    candidates[gan], cost[gan] = synth, gan_cost
    (synth, info), *vae_cost = measured(one_thread, run_vae, args.seed)
    vae = f"ExpressionVAE ({info['steps']} steps, kept {info['kept']})"
    candidates[vae], cost[vae] = synth, vae_cost

    with threadpool_limits(1):
        metrics = evaluate_many(held, candidates, labels_key=LABEL, train=train, seed=args.seed)
    table, labels = wide_table(metrics, cost), per_label_auc(metrics)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 40):
        print(table.to_string())
        print("\nPer-label logistic C2ST AUROC\n" + labels.to_string())
    stamp = utc_stamp()
    text = (
        "Command: `python benchmarks/compare_pbmc.py "
        f"--gan-seconds {args.gan_seconds:g} --seed {args.seed}`  \n"
        f"Machine: {machine()}, 1 thread per process  \nDate: {stamp}  \n"
        f"Split: pbmc68k_reduced counts, {train.n_obs} train / {held.n_obs} held-out cells, "
        f"{held.n_vars} genes, "
        "stratified by cell type. Each cell: value and verdict against the control (held-out vs train "
        "real cells, same sizes). Metrics: `biogan.metrics.METRICS`.\n\n"
        f"{table.to_markdown()}\n\n### Per-label logistic C2ST AUROC\n\n{labels.to_markdown()}\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "compare_pbmc.md").write_text(text)


if __name__ == "__main__":
    main()
