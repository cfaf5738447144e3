"""``biogan demo``: the whole expression job end to end on the bundled PBMC data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from biogan.data import stratified_split, write_h5ad
from biogan.datasets import pbmc68k_counts
from biogan.metrics import evaluate_counts
from biogan.models import ExpressionGAN
from biogan.models.baselines import NegativeBinomialBaseline


def run_demo(
    out: Path, max_steps: int = 400, max_seconds: float = 180.0, seed: int = 0, device: str = "auto"
) -> pd.DataFrame:
    """Train on half of pbmc68k, sample the other half's composition, and compare against it.

    Writes ``model/``, ``synthetic.h5ad`` and ``metrics.csv`` into ``out`` and returns the metrics.
    """
    out = Path(out)
    adata = pbmc68k_counts()
    train, heldout = stratified_split(adata, "cell_type", test_size=0.5, seed=seed)
    print(f"pbmc68k: {train.n_obs} training cells, {heldout.n_obs} held-out cells, {adata.n_vars} genes")
    ExpressionGAN.setup_anndata(train, layer="counts", labels_key="cell_type")
    model = ExpressionGAN(train, seed=seed, device=device)
    model.fit(max_steps=max_steps, max_seconds=max_seconds, checkpoint_dir=out / "model")
    model.save(out / "model")
    composition = heldout.obs["cell_type"].value_counts().to_dict()
    synthetic = model.sample(labels=composition, seed=seed)
    write_h5ad(synthetic, out / "synthetic.h5ad")
    nb = NegativeBinomialBaseline(seed=seed).fit(train).sample(labels=composition, seed=seed)
    table = evaluate_counts(
        heldout, {"baseline: independent NB": nb, "biogan ExpressionGAN": synthetic}, train=train
    )
    with pd.option_context("display.width", 140):
        print(table.round(3).to_string())
    table.to_csv(out / "metrics.csv")
    print(
        f"\nC2ST AUROC 0.5 = indistinguishable from real. Model: {out / 'model'}, "
        f"synthetic cells: {out / 'synthetic.h5ad'}"
    )
    return table
