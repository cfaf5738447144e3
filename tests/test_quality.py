"""A fixed-seed quality bar on real data: ExpressionGAN with its defaults beats the scDesign-style copula."""

from __future__ import annotations

import pytest

import biogan
from biogan.data import stratified_split
from biogan.metrics import evaluate_counts
from biogan.models.baselines import GaussianCopulaBaseline


@pytest.mark.slow
def test_default_fit_beats_the_copula_on_pbmc(pbmc):
    """``ExpressionGAN(train).fit()`` as a user calls it, on the pbmc68k 350/350 split: RF C2ST against
    held-out cells clearly below the Gaussian copula with NB marginals (issue 12's judge)."""
    train, held = stratified_split(pbmc, "cell_type", test_size=0.5, seed=0)
    biogan.ExpressionGAN.setup_anndata(train, layer="counts", labels_key="cell_type")
    model = biogan.ExpressionGAN(train, seed=0, device="cpu").fit(progress=False)
    composition = held.obs["cell_type"].value_counts().to_dict()
    candidates = {
        "gan": model.sample(labels=composition, seed=0),
        "copula": GaussianCopulaBaseline(seed=0).fit(train).sample(labels=composition, seed=0),
    }
    table = evaluate_counts(held, candidates, n_splits=3, seed=0)
    print(table[["c2st_auc", "mmd", "gene_mean_r"]])
    assert table.loc["control: held-out A vs B", "c2st_auc"] < 0.6
    assert table.loc["gan", "c2st_auc"] < table.loc["copula", "c2st_auc"] - 0.03
    assert table.loc["gan", "gene_mean_r"] > 0.97
