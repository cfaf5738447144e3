"""A small fixed-seed quality bar on real data: the GAN must beat the independent-gene baseline."""

from __future__ import annotations

import pytest

import biogan
from biogan.data import stratified_split
from biogan.metrics import evaluate_counts
from biogan.models.baselines import NegativeBinomialBaseline


@pytest.mark.slow
def test_short_training_beats_independent_nb_on_pbmc(pbmc):
    train, held = stratified_split(pbmc, "cell_type", test_size=0.5, seed=0)
    biogan.ExpressionGAN.setup_anndata(train, layer="counts", labels_key="cell_type")
    model = biogan.ExpressionGAN(train, seed=0, device="cpu").fit(max_steps=60, progress=False)
    composition = held.obs["cell_type"].value_counts().to_dict()
    candidates = {
        "gan": model.sample(labels=composition, seed=0),
        "nb": NegativeBinomialBaseline(seed=0).fit(train).sample(labels=composition, seed=0),
    }
    table = evaluate_counts(held, candidates, n_splits=2, seed=0)
    control = table.loc["control: held-out A vs B", "c2st_auc"]
    assert control < 0.6
    assert table.loc["gan", "c2st_auc"] < table.loc["nb", "c2st_auc"] - 0.03
    assert table.loc["gan", "mmd"] < table.loc["nb", "mmd"]
    assert table.loc["gan", "gene_mean_r"] > 0.97
