"""Augmentation: real cells untouched, requested counts appended and flagged, copies detected."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import TINY

import biogan
from biogan.augmentation import SYNTHETIC_KEY, augment, samples_to_add
from biogan.errors import InvalidDataError, UnknownLabelError

SIZES = pd.Series({"A": 10, "B": 4, "C": 1})


def test_targets():
    assert samples_to_add(SIZES, "balanced") == {"B": 6, "C": 9}
    assert samples_to_add(SIZES, "x2") == {"A": 10, "B": 4, "C": 1}
    assert samples_to_add(SIZES, "B=8, C=3") == {"B": 4, "C": 2}
    assert samples_to_add(SIZES, {"A": 10}) == {}
    with pytest.raises(InvalidDataError, match="cannot be below"):
        samples_to_add(SIZES, "A=5")
    with pytest.raises(UnknownLabelError, match="not in the data"):
        samples_to_add(SIZES, "Neuron=5")
    with pytest.raises(InvalidDataError, match="cannot read target"):
        samples_to_add(SIZES, "lots")
    with pytest.raises(InvalidDataError, match="shrink"):
        samples_to_add(SIZES, "x0.5")


@pytest.fixture
def fitted(small):
    return biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY).fit(max_steps=2, progress=False)


def test_real_cells_kept_bit_for_bit_and_synthetic_flagged(small, fitted):
    target = {"CD34+": 12, "CD4+/CD45RO+ Memory": 15}
    out = augment(small, "cell_type", target=target, model=fitted, layer="counts")
    real = out[~out.obs[SYNTHETIC_KEY].to_numpy()]
    assert list(real.obs_names) == list(small.obs_names)
    np.testing.assert_array_equal(real.X.toarray(), small.X.toarray())
    np.testing.assert_array_equal(real.layers["counts"].toarray(), small.layers["counts"].toarray())
    pd.testing.assert_series_equal(real.obs["n_counts"], small.obs["n_counts"])
    synth = out[out.obs[SYNTHETIC_KEY].to_numpy()]
    have = small.obs["cell_type"].value_counts()
    expected = {k: v - have[k] for k, v in target.items()}
    assert synth.obs["cell_type"].astype(str).value_counts().to_dict() == expected
    X = synth.layers["counts"].toarray()
    assert np.all(np.rint(X) == X) and X.min() >= 0
    assert out.obs[SYNTHETIC_KEY].dtype == bool
    assert out.uns["biogan_augment"]["added"] == expected


def test_confidence_filter_keeps_only_confident_cells(small, fitted):
    from biogan.augmentation.cells import _label_classifier

    target = {"CD19+ B": 30}
    out = augment(small, "cell_type", target=target, model=fitted, layer="counts", min_confidence=0.6)
    info = out.uns["biogan_augment"]
    synth = out[out.obs[SYNTHETIC_KEY].to_numpy()]
    labels = small.obs["cell_type"].astype(str).to_numpy()
    confidence = _label_classifier(small.layers["counts"], labels, 0)
    assert np.all(confidence(synth.layers["counts"], synth.obs["cell_type"].astype(str).to_numpy()) >= 0.6)
    assert synth.n_obs <= info["added"]["CD19+ B"] and set(info["rejected"]) == {"CD19+ B"}


def test_near_duplicate_warning_fires_on_a_memorising_model(small):
    # One sub-cluster per cell and Poisson noise: the model re-emits its training cells plus shot noise.
    memoriser = biogan.ExpressionGAN(
        small,
        seed=0,
        device="cpu",
        cells_per_subcluster=1,
        max_subclusters=500,
        count_noise="poisson",
        **TINY,
    ).fit(max_steps=0, progress=False)
    with pytest.warns(UserWarning, match="near-duplicates"):
        augment(small, "cell_type", target={"CD34+": 30}, model=memoriser, layer="counts")


def test_healthy_model_raises_no_copy_warning(small, fitted):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = augment(small, "cell_type", target={"CD34+": 30}, model=fitted, layer="counts")
    assert out.uns["biogan_augment"]["copy_distance_ratio"]["CD34+"] > 0.6


def test_errors(small, fitted):
    one_cell = small[small.obs["cell_type"] != "CD34+"].concatenate(
        small[small.obs["cell_type"] == "CD34+"][:1]
    )
    with pytest.raises(InvalidDataError, match="single cell"):
        augment(one_cell, "cell_type", target={"CD34+": 5}, model=fitted, layer="counts")
    with pytest.raises(UnknownLabelError):
        augment(small, "no_such_column", model=fitted, layer="counts")
    logged = small.copy()
    logged.X = np.log1p(logged.X.toarray())
    del logged.layers["counts"], logged.uns["_biogan"]  # no counts anywhere: a clear error, not training
    with pytest.raises(InvalidDataError, match="non-integer"):
        augment(logged, "cell_type", target={"CD34+": 5})


def test_cli_augment(small, fitted, tmp_path):
    from typer.testing import CliRunner

    from biogan.cli import app
    from biogan.data import write_h5ad

    write_h5ad(small, tmp_path / "cells.h5ad")
    fitted.save(tmp_path / "model")
    args = [
        "augment",
        str(tmp_path / "cells.h5ad"),
        "--labels-key",
        "cell_type",
        "--out",
        str(tmp_path / "a.h5ad"),
        "--model-dir",
        str(tmp_path / "model"),
        "--device",
        "cpu",
    ]
    result = CliRunner().invoke(app, [*args, "--target", "CD34+=10"])
    assert result.exit_code == 0, result.output
    assert "added" in result.output
    result = CliRunner().invoke(app, [*args, "--target", "CD34+=10"])
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    result = CliRunner().invoke(app, [*args, "--target", "CD34+=1", "--overwrite"])
    assert result.exit_code == 2 and "cannot be below" in result.output
