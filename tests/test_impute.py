"""GANImputer, plain GAIN, masks and the impute command: API, robustness and a fixed-seed quality check."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import check_estimator
from threadpoolctl import threadpool_limits

from biogan.errors import BioganError, InvalidDataError
from biogan.impute import GAINImputer, GANImputer, make_mask
from biogan.impute.cli import impute

torch.set_num_threads(1)
threadpool_limits(1)

FAST = dict(max_iter=60, initial_max_iter=3, random_state=0)


@pytest.fixture(scope="module")
def breast() -> np.ndarray:
    X = load_breast_cancer().data[:200, :10]
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    X.setflags(write=False)  # shared by tests: nothing may write into it (imputers included)
    return X


@pytest.fixture
def holey(breast) -> np.ndarray:
    return np.where(make_mask("mcar", breast, 0.2, seed=0), np.nan, breast)


def rmse(F: np.ndarray, X: np.ndarray, mask: np.ndarray) -> float:
    return float(np.sqrt(np.mean((F - X)[mask] ** 2)))


# ---------------------------------------------------------------------- scikit-learn API
def test_sklearn_params_clone_and_pipeline(breast, holey):
    imp = GANImputer(random_state=3, max_iter=20)
    assert imp.get_params()["random_state"] == 3
    assert clone(imp).set_params(max_iter=5).get_params()["max_iter"] == 5
    y = (breast[:, 0] > np.median(breast[:, 0])).astype(int)
    pipe = Pipeline([("impute", GANImputer(**FAST)), ("clf", LogisticRegression())]).fit(holey, y)
    assert pipe.score(holey, y) > 0.8


def test_check_estimator():
    # Nothing is skipped or expected to fail; scikit-learn skips check_array_api_input by itself unless
    # SCIPY_ARRAY_API=1 (documented in GANImputer's Notes).
    results = check_estimator(GANImputer(max_iter=8, initial_max_iter=2, random_state=0), on_fail=None)
    not_passed = {r["check_name"]: r["status"] for r in results if r["status"] != "passed"}
    assert not_passed == {"check_array_api_input": "skipped"}
    assert len(results) > 40


def test_pandas_keeps_columns_index_and_dtypes(holey):
    frame = pd.DataFrame(holey, columns=[f"g{i}" for i in range(10)], index=[f"r{i}" for i in range(200)])
    frame["g0"] = frame["g0"].astype(np.float32)
    out = GANImputer(**FAST).fit_transform(frame)
    assert list(out.columns) == list(frame.columns) and list(out.index) == list(frame.index)
    assert out["g0"].dtype == np.float32 and not out.isna().any().any()


def test_anndata_layer(holey):
    adata = ad.AnnData(np.zeros_like(holey), layers={"raw": holey})
    out = GANImputer(**FAST).fit_transform(adata, layer="raw")
    assert isinstance(out, ad.AnnData) and np.isfinite(out.layers["raw"]).all()
    assert np.isnan(adata.layers["raw"]).any()  # the input is not modified
    with pytest.raises(InvalidDataError, match="no layer"):
        GANImputer(**FAST).fit(adata, layer="missing")


# ---------------------------------------------------------------------- values
def test_observed_entries_unchanged_and_in_range(holey):
    X = holey.astype(np.float32)
    out = GANImputer(**FAST).fit_transform(X)
    observed = ~np.isnan(X)
    assert out.dtype == np.float32
    assert np.array_equal(out[observed], X[observed])  # bit-for-bit
    assert (out >= np.nanmin(X, 0)).all() and (out <= np.nanmax(X, 0)).all()


def test_column_types_rounding_and_categories(breast):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(breast[:, :4].copy(), columns=["a", "b", "c", "d"])
    frame["count"] = pd.array(np.rint(breast[:, 4] * 50), dtype="Int64")
    frame["whole"] = np.rint(breast[:, 5] * 20)
    frame["kind"] = pd.Categorical(np.where(breast[:, 0] > 0.3, "big", "small"))
    for col in frame.columns:
        frame.loc[rng.random(len(frame)) < 0.2, col] = None
    imp = GANImputer(**FAST)
    out = imp.fit_transform(frame)
    assert imp.column_types_ == ["continuous"] * 4 + ["integer", "integer", "categorical"]
    assert out["count"].dtype == "Int64" and not out.isna().any().any()
    assert np.all(out["whole"] == np.round(out["whole"]))
    assert set(out["kind"]) <= {"big", "small"} and out["kind"].dtype == "category"
    assert not np.all(out["a"] == np.round(out["a"]))  # continuous columns are never rounded


# ---------------------------------------------------------------------- robustness
def test_all_missing_column_is_a_clear_error(holey):
    X = holey.copy()
    X[:, 3] = np.nan
    with pytest.raises(InvalidDataError, match="column 3 has no observed values"):
        GANImputer(**FAST).fit(X)


def test_single_value_and_constant_columns(holey):
    X = holey.copy()
    X[:, 0] = np.nan
    X[7, 0] = 0.25  # one observed value
    X[:, 1] = np.where(np.isnan(X[:, 1]), np.nan, 2.0)  # constant
    out = GANImputer(**FAST).fit_transform(X)
    assert np.all(out[:, 0] == 0.25) and np.all(out[:, 1] == 2.0)


@pytest.mark.parametrize("rate", [0.0, 0.9])
def test_extreme_missingness_never_nan(breast, rate):
    mask = make_mask("mcar", breast, rate, seed=1)
    mask[0] = False  # every column keeps an observed value
    imp = GANImputer(**FAST).fit(np.where(mask, np.nan, breast))
    new = np.where(make_mask("mcar", breast, 0.3, seed=2), np.nan, breast)
    assert np.isfinite(imp.transform(new)).all()  # fit on NaN-free data still imputes later NaN
    assert np.isfinite(imp.transform(np.where(mask, np.nan, breast))).all()


def test_nan_free_input_is_returned_as_is(breast):
    out = GANImputer(**FAST).fit_transform(breast)
    assert np.array_equal(out, breast)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (lambda X: X.assign(a=np.r_[np.inf, X["a"].to_numpy()[1:]]), "infinite"),
        (lambda X: X.assign(a=["1.5", "oops", *map(str, X["a"].to_numpy()[2:])]), "oops"),
        (lambda X: X.iloc[:0], "empty"),
    ],
)
def test_bad_input_raises_one_readable_error(holey, bad, match):
    frame = pd.DataFrame(holey[:, :3], columns=["a", "b", "c"])
    with pytest.raises(InvalidDataError, match=match):
        GANImputer(**FAST).fit(bad(frame))


def test_transform_with_different_columns_is_an_error(holey):
    frame = pd.DataFrame(holey[:, :3], columns=["a", "b", "c"])
    imp = GANImputer(**FAST).fit(frame)
    with pytest.raises(InvalidDataError, match="missing \\['c'\\], unexpected \\['z'\\]"):
        imp.transform(frame.rename(columns={"c": "z"}))
    with pytest.raises(InvalidDataError, match="X has 2 features"):
        imp.transform(holey[:, :2])
    assert isinstance(imp.transform(frame[["c", "a", "b"]]), pd.DataFrame)  # same set, any order


# ---------------------------------------------------------------------- quality and reproducibility
def test_beats_mean_and_plain_gain_never_nan(breast):
    mask = make_mask("mcar", breast, 0.2, seed=0)
    X = np.where(mask, np.nan, breast)
    imp = GANImputer(random_state=0, max_iter=200)
    gan = rmse(imp.fit_transform(X), breast, mask)
    mean = rmse(SimpleImputer().fit_transform(X), breast, mask)
    assert gan < 0.6 * mean, (gan, mean)
    assert isinstance(imp.gan_used_, bool)
    assert set(imp.validation_rmse_) == {"iterative", "forest", "knn", "initial_fill", "gan"}
    plain = GAINImputer(max_iter=300, random_state=0).fit_transform(X)
    assert np.isfinite(plain).all() and np.array_equal(plain[~mask], breast[~mask])


def test_initial_fill_chosen_on_held_out_entries():
    # Every column is a non-monotone function of one driver: linear regression sees little of that, forests
    # and neighbours do, and "auto" must find it on the held-out entries (the old fill was linear only).
    rng = np.random.default_rng(0)
    t = rng.random((300, 1))
    waves = [np.sin(2 * np.pi * t), np.cos(2 * np.pi * t), (2 * t - 1) ** 2, np.abs(np.sin(3 * np.pi * t))]
    X = np.hstack([t, *waves]) + 0.01 * rng.normal(size=(300, 5))
    mask = make_mask("mcar", X, 0.2, seed=0)
    Xm = np.where(mask, np.nan, X)
    fast = dict(max_iter=30, initial_max_iter=3, random_state=0)
    auto = GANImputer(**fast).fit(Xm)
    assert auto.initial_fill_.get("iterative", 0.0) < 0.5, auto.initial_fill_
    held_out = auto.validation_rmse_
    assert min(held_out["forest"], held_out["knn"]) < 0.7 * held_out["iterative"], held_out
    errors = {
        name: rmse(GANImputer(**fast, initial_fill=name).fit_transform(Xm), X, mask)
        for name in ("iterative", "forest", "knn")
    }
    chosen = rmse(auto.transform(Xm), X, mask)
    assert chosen <= 1.05 * min(errors.values()) and chosen < 0.75 * errors["iterative"], (chosen, errors)
    with pytest.raises(ValueError, match="initial_fill"):
        GANImputer(initial_fill="mice").fit(Xm)


def test_reproducible_with_random_state(holey):
    a = GANImputer(**FAST, min_improvement=-1.0).fit(holey)  # always use the GAN, so it is tested
    torch.rand(5)  # the global RNG state must not matter
    b = GANImputer(**FAST, min_improvement=-1.0).fit(holey)
    assert a.gan_used_ and b.gan_used_
    assert np.array_equal(a.transform(holey), b.transform(holey))
    assert np.array_equal(a.sample_imputations(holey, n=3), b.sample_imputations(holey, n=3))


def test_sample_imputations_spread_only_on_missing(holey):
    draws = GANImputer(**FAST).fit(holey).sample_imputations(holey, n=5)
    missing = np.isnan(holey)
    assert draws.shape == (5, *holey.shape) and np.isfinite(draws).all()
    assert np.all(draws[:, ~missing] == holey[~missing])
    assert draws.std(axis=0)[missing].mean() > 1e-3


# ---------------------------------------------------------------------- masks
def test_masks_hit_rate_and_mechanism(breast):
    for kind in ("mcar", "mar", "mnar"):
        m = make_mask(kind, breast, 0.2, seed=0)
        assert abs(m.mean() - 0.2) < 0.03, kind
        assert np.array_equal(m, make_mask(kind, breast, 0.2, seed=0))
    mar = make_mask("mar", breast, 0.2, seed=0)
    assert (mar.sum(0) == 0).sum() == breast.shape[1] // 2  # the drivers stay fully observed
    mnar = make_mask("mnar", breast, 0.2, seed=0)
    assert breast[mnar].mean() > breast[~mnar].mean() + 0.1  # high values go missing


# ---------------------------------------------------------------------- command line
def test_cli_csv_and_h5ad(tmp_path, holey):
    frame = pd.DataFrame(holey[:, :4], columns=list("abcd"), index=[f"s{i}" for i in range(200)])
    frame.to_csv(tmp_path / "in.csv")
    impute(tmp_path / "in.csv", tmp_path / "out.tsv", max_steps=20, progress=False)
    out = pd.read_csv(tmp_path / "out.tsv", sep="\t", index_col=0)
    assert list(out.columns) == list("abcd") and not out.isna().any().any()
    adata = ad.AnnData(holey[:, :4].copy(), layers={"x": holey[:, :4].copy()})
    adata.write_h5ad(tmp_path / "in.h5ad")
    impute(tmp_path / "in.h5ad", tmp_path / "out.h5ad", layer="x", max_steps=20, progress=False)
    assert np.isfinite(ad.read_h5ad(tmp_path / "out.h5ad").layers["x"]).all()
    with pytest.raises(BioganError, match="format"):
        impute(tmp_path / "in.csv", tmp_path / "out.xlsx", progress=False)
