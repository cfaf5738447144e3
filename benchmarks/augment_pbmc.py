"""Augmentation benchmark on pbmc68k (issue 6): does adding synthetic rare cells help a classifier?

Stratified 50/50 split; the train half is made imbalanced by keeping only 5 % (at least 2 cells) of three
cell types; cell-type classifiers (logistic regression and random forest on 50 PCs of log-normalised
data) are trained on: the imbalanced set, + random oversampling, + SMOTE, + biogan ExpressionGAN cells,
+ biogan ExpressionVAE cells, and evaluated on the untouched held-out half. Each rare type is grown back
to --rare-size cells.

The cells are set up the way the README shows (raw counts in ``layers["counts"]``, registered with
``setup_anndata``; ``augment`` is called without ``layer=``) and every classifier reads the counts from
that registered layer, so a synthetic cell missing from it would show here. GAN and VAE train with their
defaults (what ``biogan.augment`` and ``ExpressionVAE.fit()`` do) unless --gan-steps / --vae-steps say
otherwise.

    python benchmarks/augment_pbmc.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import anndata as ad
import numpy as np
import torch
from imblearn.over_sampling import SMOTE, RandomOverSampler
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, recall_score

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, mean_std_table, utc_stamp

import biogan
from biogan.augmentation import SYNTHETIC_KEY, augment
from biogan.data import log_normalize, stratified_split

LABEL = "cell_type"
RARE = ["CD19+ B", "CD14+ Monocyte", "CD8+ Cytotoxic T"]


def imbalanced_train(seed: int) -> tuple[ad.AnnData, ad.AnnData]:
    adata = biogan.datasets.pbmc68k_counts()
    train, test = stratified_split(adata, LABEL, test_size=0.5, seed=0)
    rng = np.random.default_rng(seed)
    keep = np.ones(train.n_obs, bool)
    for label in RARE:
        members = np.flatnonzero(train.obs[LABEL].to_numpy() == label)
        n_keep = max(2, round(0.05 * len(members)))
        keep[rng.choice(members, len(members) - n_keep, replace=False)] = False
    return train[keep].copy(), test


def counts_of(adata: ad.AnnData) -> np.ndarray:
    """The registered counts layer (as scanpy and scvi-tools users read it), checked to be finite."""
    counts = adata.layers["counts"].toarray()
    if not np.isfinite(counts).all():
        raise RuntimeError(f"{int((~np.isfinite(counts)).sum())} non-finite values in layers['counts']")
    return counts


def score(X_train: np.ndarray, y_train: np.ndarray, test: ad.AnnData, seed: int) -> dict[str, float]:
    """Macro-F1 and rare-class F1/recall of LR and RF trained on log-normalised counts."""
    log_train, log_test = log_normalize(X_train), log_normalize(counts_of(test))
    pca = PCA(50, random_state=seed).fit(log_train)
    z_train, z_test = pca.transform(log_train), pca.transform(log_test)
    y_test = test.obs[LABEL].astype(str).to_numpy()
    out = {}
    models = {
        "lr": LogisticRegression(max_iter=3000, class_weight=None),
        "rf": RandomForestClassifier(300, random_state=seed, n_jobs=1),
    }
    for name, clf in models.items():
        pred = clf.fit(z_train, y_train).predict(z_test)
        out[f"{name}_macro_f1"] = f1_score(y_test, pred, average="macro")
        out[f"{name}_rare_f1"] = f1_score(y_test, pred, labels=RARE, average="macro")
        out[f"{name}_rare_recall"] = recall_score(y_test, pred, labels=RARE, average="macro")
    return out


def run_seed(seed: int, rare_size: int, gan_steps: int | None, vae_steps: int | None) -> list[dict]:
    train, test = imbalanced_train(seed)
    biogan.ExpressionGAN.setup_anndata(train, layer="counts", labels_key=LABEL)
    X, y = counts_of(train), train.obs[LABEL].astype(str).to_numpy()
    strategy = {label: rare_size for label in RARE}
    rows = []

    def record(method: str, X_fit: np.ndarray, y_fit: np.ndarray, seconds: float) -> None:
        rows.append({"method": method, "seed": seed, "augment_s": seconds, **score(X_fit, y_fit, test, seed)})

    record("imbalanced real", X, y, 0.0)
    for name, sampler in {
        "random oversampling": RandomOverSampler(sampling_strategy=strategy, random_state=seed),
        "SMOTE": SMOTE(sampling_strategy=strategy, k_neighbors=1, random_state=seed),
    }.items():
        start = time.perf_counter()
        X_res, y_res = sampler.fit_resample(X, y)
        record(name, X_res, y_res, time.perf_counter() - start)
    start = time.perf_counter()
    steps = {"max_steps": gan_steps} if gan_steps else {}
    grown = augment(train, LABEL, target=strategy, seed=seed, **steps)
    elapsed = time.perf_counter() - start
    record("+ biogan ExpressionGAN", counts_of(grown), grown.obs[LABEL].astype(str).to_numpy(), elapsed)
    synthetic = int(grown.obs[SYNTHETIC_KEY].sum())
    print(f"seed {seed}: added {synthetic} GAN cells in {elapsed:.0f} s", flush=True)
    start = time.perf_counter()
    vae = biogan.ExpressionVAE(train, seed=seed, device="cpu").fit(max_steps=vae_steps, progress=False)
    grown = augment(train, LABEL, target=strategy, seed=seed, model=vae)
    elapsed = time.perf_counter() - start
    record("+ biogan ExpressionVAE", counts_of(grown), grown.obs[LABEL].astype(str).to_numpy(), elapsed)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rare-size", type=int, default=40)
    parser.add_argument("--gan-steps", type=int, default=None, help="default: biogan.augment's")
    parser.add_argument("--vae-steps", type=int, default=None, help="default: ExpressionVAE.fit()'s")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [
        row for seed in args.seeds for row in run_seed(seed, args.rare_size, args.gan_steps, args.vae_steps)
    ]
    table = mean_std_table(rows)
    stamp = utc_stamp()
    seeds = " ".join(map(str, args.seeds))
    given = (("gan", args.gan_steps), ("vae", args.vae_steps))
    steps = "".join(f" --{name}-steps {value}" for name, value in given if value)
    text = (
        f"Command: `python benchmarks/augment_pbmc.py --seeds {seeds} --rare-size {args.rare_size}"
        f"{steps}`  \n"
        f"Machine: {machine()}  \nDate: {stamp}  \n"
        f"Rare types (5 % kept, grown to {args.rare_size}): {', '.join(RARE)}; mean ± std over seeds.\n\n"
        f"{table.to_markdown()}\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "augment_pbmc.md").write_text(text)


if __name__ == "__main__":
    main()
