"""Every AnnData biogan returns or writes holds finite counts, the same in ``.X`` and ``layers["counts"]``.

Issue 19: augmented cells came back with NaN (dense input) or zeros (sparse input) in the counts layer.
"""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import TINY
from typer.testing import CliRunner

import biogan
from biogan.augmentation import SYNTHETIC_KEY, augment
from biogan.cli import app
from biogan.data import counts_anndata, write_h5ad
from biogan.data.preprocessing import log_normalize
from biogan.errors import InvalidDataError
from biogan.models.vae import ExpressionVAE

VAE_TINY = dict(n_latent=4, hidden=(16,), batch_size=32, kl_warmup_steps=4, log_every=2, eval_every=4)
NOTICE = "appending synthetic cells"


def dense(M) -> np.ndarray:
    return M.toarray() if sp.issparse(M) else np.asarray(M)


def assert_finite_everywhere(adata: ad.AnnData) -> None:
    assert np.isfinite(dense(adata.X)).all(), ".X"
    for name, M in adata.layers.items():
        assert np.isfinite(dense(M)).all(), f"layer {name!r}"


def assert_counts(M) -> None:
    values = dense(M)
    assert np.isfinite(values).all() and values.min() >= 0 and np.array_equal(values, np.rint(values))


def synthetic_part(out: ad.AnnData) -> ad.AnnData:
    return out[out.obs[SYNTHETIC_KEY].to_numpy()]


def real_part(out: ad.AnnData) -> ad.AnnData:
    return out[~out.obs[SYNTHETIC_KEY].to_numpy()]


def notices(record) -> list[str]:
    return [str(w.message) for w in record if NOTICE in str(w.message)]


@pytest.fixture
def gan(small):
    return biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY).fit(max_steps=4, progress=False)


# ---------------------------------------------------------------------- the builder
def test_builder_same_counts_in_x_and_layer_with_the_reference_storage():
    counts = sp.random(6, 5, density=0.5, format="csr", random_state=0, dtype=np.float64)
    counts.data = np.ceil(counts.data * 9)
    obs = pd.DataFrame(index=[f"c{i}" for i in range(6)])
    genes = [f"g{j}" for j in range(5)]
    default = counts_anndata(counts, obs, genes)
    assert isinstance(default.X, sp.csr_matrix) and default.X.dtype == np.float32
    assert default.layers["counts"] is not default.X
    np.testing.assert_array_equal(dense(default.X), dense(default.layers["counts"]))
    like = ad.AnnData(
        X=np.zeros((2, 5), dtype=np.int32),
        layers={"raw": sp.csc_matrix(np.zeros((2, 5)), dtype=np.float64)},
    )
    out = counts_anndata(counts, obs, genes, like=like, counts_layer="raw")
    assert isinstance(out.X, np.ndarray) and out.X.dtype == np.int32
    assert isinstance(out.layers["raw"], sp.csc_matrix) and out.layers["raw"].dtype == np.float64
    np.testing.assert_array_equal(out.X, dense(counts))
    np.testing.assert_array_equal(dense(out.layers["raw"]), dense(counts))
    assert list(out.layers) == ["raw"] and list(out.var_names) == genes
    bad = counts.copy()
    bad.data[0] = np.nan
    with pytest.raises(InvalidDataError, match="NaN"):
        counts_anndata(bad, obs, genes)


# ---------------------------------------------------------------------- model.sample
@pytest.mark.parametrize("kind", ["gan", "vae"])
def test_sample_counts_finite_and_equal_in_x_and_layer(small, kind):
    if kind == "gan":
        model = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    else:
        model = ExpressionVAE(small, seed=0, device="cpu", **VAE_TINY)
    synth = model.fit(max_steps=4, progress=False).sample(n=25, seed=1)
    assert synth.n_obs == 25 and list(synth.layers) == ["counts"]
    assert_finite_everywhere(synth)
    assert_counts(synth.X)
    np.testing.assert_array_equal(dense(synth.X), dense(synth.layers["counts"]))
    assert isinstance(synth.X, sp.csr_matrix) and synth.X.dtype == np.float32
    assert isinstance(synth.layers["counts"], sp.csr_matrix)


# ---------------------------------------------------------------------- augment, Python API
@pytest.mark.filterwarnings("ignore:near-duplicates")
def test_augment_readme_setup_fills_the_counts_layer(small):
    """README: setup_anndata(layer="counts") then augment() with no layer= (the issue's set-up)."""
    adata = small.copy()
    biogan.ExpressionGAN.setup_anndata(adata, layer="counts", labels_key="cell_type")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = biogan.augment(adata, labels_key="cell_type", target="balanced", max_steps=4, device="cpu")
    assert not notices(record)  # .X and the layer are both counts: nothing to drop
    synth, real = synthetic_part(out), real_part(out)
    assert synth.n_obs > 0
    assert_finite_everywhere(out)
    assert_counts(synth.layers["counts"])
    np.testing.assert_array_equal(dense(synth.X), dense(synth.layers["counts"]))
    np.testing.assert_array_equal(dense(real.X), dense(adata.X))
    np.testing.assert_array_equal(dense(real.layers["counts"]), dense(adata.layers["counts"]))
    for M, ref in ((out.X, adata.X), (out.layers["counts"], adata.layers["counts"])):
        assert type(M) is type(ref) and M.dtype == ref.dtype  # float32 CSR stays float32 CSR
    counts = out.obs["cell_type"].value_counts()
    assert counts.nunique() == 1  # balanced
    assert out.uns["biogan_augment"]["counts_layer"] == "counts"


@pytest.mark.filterwarnings("ignore:near-duplicates")
def test_augment_recomputes_derived_layers_and_drops_the_rest_with_one_warning(small, gan):
    """Dense log-normalised .X with counts in a layer; extra layers made from counts or not."""
    adata = small.copy()
    counts = adata.layers["counts"]
    adata.X = log_normalize(counts)  # dense float32, not counts
    adata.layers["lognorm"] = sp.csr_matrix(log_normalize(counts, target_sum=1e6))
    adata.layers["raw_int"] = counts.toarray().astype(np.int64)
    adata.layers["scaled"] = np.random.default_rng(0).random(adata.shape).astype(np.float32)
    adata.obsm["X_pca"] = np.zeros((adata.n_obs, 2))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        out = augment(adata, "cell_type", target={"CD34+": 20}, model=gan, device="cpu")
    messages = notices(record)
    assert len(messages) == 1
    assert "'scaled'" in messages[0] and "'X_pca'" in messages[0] and "lognorm" not in messages[0]
    assert set(out.layers) == {"counts", "lognorm", "raw_int"}
    assert_finite_everywhere(out)
    synth, real = synthetic_part(out), real_part(out)
    synth_counts = dense(synth.layers["counts"])
    assert_counts(synth_counts)
    assert isinstance(out.X, np.ndarray) and out.X.dtype == np.float32  # a dense input stays dense
    np.testing.assert_allclose(synth.X, log_normalize(synth_counts), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        dense(synth.layers["lognorm"]), log_normalize(synth_counts, target_sum=1e6), rtol=1e-5, atol=1e-6
    )
    assert isinstance(out.layers["lognorm"], sp.csr_matrix)
    assert out.layers["raw_int"].dtype == np.int64
    np.testing.assert_array_equal(synth.layers["raw_int"], synth_counts)
    for name in ("counts", "lognorm", "raw_int"):  # real cells bit-for-bit in every kept layer
        np.testing.assert_array_equal(dense(real.layers[name]), dense(adata.layers[name]))
    np.testing.assert_array_equal(real.X, adata.X)
    assert out.uns["biogan_augment"]["x_holds"] == "log1p(counts normalised to 10000)"


@pytest.mark.filterwarnings("ignore:near-duplicates")
def test_augment_unknown_x_gets_counts_and_says_so(small, gan):
    adata = small.copy()
    adata.X = sp.csr_matrix(np.sqrt(adata.layers["counts"].toarray()) + 0.5, dtype=np.float32)
    with pytest.warns(UserWarning, match=r"\.X holds raw counts") as record:
        out = augment(adata, "cell_type", target={"CD34+": 20}, model=gan, layer="counts")
    assert len(notices(record)) == 1
    synth = synthetic_part(out)
    assert_finite_everywhere(out)
    np.testing.assert_array_equal(dense(synth.X), dense(synth.layers["counts"]))
    np.testing.assert_array_equal(dense(real_part(out).X), dense(adata.X))


@pytest.mark.filterwarnings("ignore:near-duplicates")
def test_augment_finds_the_counts_layer_without_registration(small, gan):
    adata = small.copy()
    del adata.uns["_biogan"]
    adata.X = log_normalize(adata.layers["counts"])
    out = augment(adata, "cell_type", target={"CD34+": 20}, model=gan)  # "counts" picked, as in the CLI
    synth = synthetic_part(out)
    assert_finite_everywhere(out)
    assert_counts(synth.layers["counts"])
    np.testing.assert_allclose(synth.X, log_normalize(dense(synth.layers["counts"])), rtol=1e-5, atol=1e-6)
    only_x = small.copy()
    del only_x.uns["_biogan"], only_x.layers["counts"]
    out = augment(only_x, "cell_type", target={"CD34+": 20}, model=gan)  # counts in .X, no layers
    assert_finite_everywhere(out)
    assert_counts(synthetic_part(out).X)
    assert not out.layers


# ---------------------------------------------------------------------- command line
@pytest.mark.filterwarnings("ignore:near-duplicates")
def test_cli_augment_writes_finite_counts_in_x_and_layer(small, gan, tmp_path):
    cells = small.copy()
    cells.obs["qc_pass"] = True  # an obs column the synthetic cells lack must still write
    write_h5ad(cells, tmp_path / "cells.h5ad")
    gan.save(tmp_path / "model")
    args = ["augment", str(tmp_path / "cells.h5ad"), "--labels-key", "cell_type", "--out"]
    args += [str(tmp_path / "a.h5ad"), "--model-dir", str(tmp_path / "model"), "--device", "cpu"]
    result = CliRunner().invoke(app, [*args, "--target", "CD34+=20"])
    assert result.exit_code == 0, result.output
    out = ad.read_h5ad(tmp_path / "a.h5ad")
    assert int(out.obs[SYNTHETIC_KEY].sum()) > 0
    assert_finite_everywhere(out)
    np.testing.assert_array_equal(dense(out.X), dense(out.layers["counts"]))  # both counts, all cells
    assert_counts(synthetic_part(out).layers["counts"])
    assert real_part(out).obs["qc_pass"].all()


def test_cli_impute_h5ad_imputed_layer_finite_others_kept(tmp_path):
    rng = np.random.default_rng(0)
    counts = rng.poisson(3, (60, 5)).astype(np.float32)
    values = rng.normal(size=(60, 5))
    holes = rng.random(values.shape) < 0.15
    adata = ad.AnnData(
        X=sp.csr_matrix(counts),
        layers={"counts": sp.csr_matrix(counts), "values": np.where(holes, np.nan, values)},
    )
    write_h5ad(adata, tmp_path / "in.h5ad")
    args = ["impute", str(tmp_path / "in.h5ad"), "-o", str(tmp_path / "out.h5ad"), "--layer", "values"]
    result = CliRunner().invoke(app, [*args, "--max-steps", "10", "--no-progress"])
    assert result.exit_code == 0, result.output
    out = ad.read_h5ad(tmp_path / "out.h5ad")
    assert_finite_everywhere(out)
    np.testing.assert_array_equal(dense(out.X), counts)
    np.testing.assert_array_equal(dense(out.layers["counts"]), counts)
    np.testing.assert_array_equal(out.layers["values"][~holes], values[~holes])


# ---------------------------------------------------------------------- tables
@pytest.mark.filterwarnings("ignore:near-duplicates")
def test_augment_table_synthetic_rows_have_no_missing_values():
    rng = np.random.default_rng(0)
    label = np.repeat([0, 1], [60, 15])
    table = pd.DataFrame(
        {
            "age": rng.normal(55 + 10 * label, 8).round(1),
            "visits": rng.poisson(2 + 3 * label).astype(np.int64),
            "smoker": rng.choice(["never", "former", "current"], len(label)),
            "outcome": label,
        }
    )
    out = augment(table, "outcome", target="balanced", max_steps=4, device="cpu")
    synth = out[out[SYNTHETIC_KEY]]
    assert len(synth) == 45
    assert not synth.isna().any().any()
