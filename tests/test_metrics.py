"""Metric sanity: real vs real sits at chance, destroyed structure is detected."""

from __future__ import annotations

import numpy as np
import pytest

from biogan.data import stratified_split
from biogan.metrics import c2st_auc, evaluate_counts, mmd_rbf
from biogan.metrics.counts import COUNTS, zero_fraction_diff
from biogan.metrics.engine import OVERALL, compare_sets


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
    ref = COUNTS.prepare(held, "held-out")
    sets = {
        "real": COUNTS.prepare(train, "training", like=ref),
        "shuffled": COUNTS.prepare(_shuffle_genes(train.layers["counts"]), "shuffled", like=ref),
    }
    found = compare_sets(COUNTS, ref, sets, seed=0)
    real, shuffled = found.values["real"], found.values["shuffled"]
    assert found.n == min(held.n_obs, train.n_obs)  # equal sizes: chance is exactly 0.5
    assert 0.35 < real[("c2st_rf_auc", OVERALL)] < 0.62
    assert shuffled[("c2st_rf_auc", OVERALL)] > 0.95
    assert shuffled[("mmd", OVERALL)] > 10 * max(real[("mmd", OVERALL)], 1e-3)
    assert real[("gene_mean_r", OVERALL)] > 0.95 and zero_fraction_diff(ref, sets["real"]) < 0.02


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
    assert table.loc["control: held-out A vs B", "c2st_auc"] < 0.65
