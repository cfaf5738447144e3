"""Metric sanity: real vs real sits at chance, destroyed structure is detected."""

from __future__ import annotations

import numpy as np
import pytest

from biogan.data import stratified_split
from biogan.metrics import c2st_auc, compare_counts, evaluate_counts, mmd_rbf


@pytest.fixture(scope="module")
def halves(pbmc):
    return stratified_split(pbmc, "cell_type", test_size=0.5, seed=0)


def _shuffle_genes(counts, seed=0):
    """Permute every gene independently across cells: same marginals, no cell structure."""
    rng = np.random.default_rng(seed)
    X = counts.toarray().copy()
    for j in range(X.shape[1]):
        X[:, j] = X[rng.permutation(len(X)), j]
    return X


def test_real_vs_real_is_near_chance_and_shuffled_is_detected(halves):
    train, held = halves
    real = compare_counts(held, train, seed=0)
    shuffled = compare_counts(held, _shuffle_genes(train.layers["counts"]), seed=0)
    assert 0.35 < real["c2st_auc"] < 0.62
    assert shuffled["c2st_auc"] > 0.95
    assert shuffled["mmd"] > 10 * max(real["mmd"], 1e-3)
    assert real["gene_mean_r"] > 0.95 and real["zero_frac_diff"] < 0.02


def test_c2st_on_separated_gaussians():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 5))
    assert c2st_auc(a, rng.normal(size=(200, 5)), seed=0) < 0.65
    assert c2st_auc(a, rng.normal(1.5, size=(200, 5)), seed=0) > 0.95
    assert c2st_auc(a, rng.normal(1.5, size=(200, 5)), classifier="logistic", seed=0) > 0.95


def test_mmd_grows_with_shift():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(150, 4))
    small_shift = mmd_rbf(a, rng.normal(0.2, size=(150, 4)))
    big_shift = mmd_rbf(a, rng.normal(1.0, size=(150, 4)))
    assert abs(mmd_rbf(a, rng.normal(size=(150, 4)))) < small_shift < big_shift


def test_evaluate_table_has_controls_first(halves):
    train, held = halves
    table = evaluate_counts(held, {"copy of train": train}, train=train, n_splits=1)
    assert list(table.index) == ["control: held-out A vs B", "control: train vs held-out", "copy of train"]
    assert {"c2st_auc", "mmd", "gene_mean_r", "gene_var_r", "library_w1", "zero_frac_diff"} <= set(table)
