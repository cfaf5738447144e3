"""Bad data, decided once: every entry point applies the same rules of :mod:`biogan.data.validation`."""

from __future__ import annotations

import gzip
import re

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from conftest import TINY
from typer.testing import CliRunner

import biogan
from biogan.augmentation import augment
from biogan.cli import app
from biogan.data import read_cells, write_h5ad
from biogan.data import validation as v
from biogan.errors import BioganError, InvalidDataError
from biogan.impute import GANImputer
from biogan.metrics.counts import CountMetrics
from biogan.metrics.tables import TableMetrics

runner = CliRunner()
LABEL = "cell_type"
PAIR = "CD4+/CD45RA+/CD25- Naive T"  # the label with 2 cells in the ``small`` fixture
FAST_IMPUTE = dict(max_iter=4, initial_max_iter=1, initial_fill="iterative", random_state=0)


def _one_line_error(result, text: str) -> None:
    """The CLI contract: exit code 2, one line starting ``error:``, naming the problem."""
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and result.output.count("\n") == 1, result.output
    assert text in result.output, result.output


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _cells_csv(path, X, genes=None) -> None:
    X = np.asarray(X)
    genes = genes or [f"g{j}" for j in range(X.shape[1])]
    pd.DataFrame(X, index=[f"c{i}" for i in range(len(X))], columns=genes).to_csv(path)


def _fresh(adata: ad.AnnData) -> ad.AnnData:
    """A copy without the registration (so setup_anndata checks it again)."""
    out = adata.copy()
    out.uns.pop("_biogan", None)
    return out


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"age": rng.normal(50, 10, 40), "crp": rng.poisson(5, 40), "outcome": np.repeat([0, 1], 20)}
    )


# ---------------------------------------------------------------------- too few cells or rows
def test_too_few_samples_one_minimum_everywhere(small, table, tmp_path):
    assert CountMetrics.min_size == TableMetrics.min_size == v.MIN_SAMPLES == 10
    few = _fresh(small[:9])
    with pytest.raises(InvalidDataError, match=r"9 cells .* needs at least 10"):
        biogan.ExpressionGAN.setup_anndata(few, layer="counts")
    with pytest.raises(InvalidDataError, match=r"9 rows .* needs at least 10"):
        biogan.TabularGAN(seed=0, device="cpu").fit(table[:9], max_steps=1, progress=False)
    with pytest.raises(InvalidDataError, match="needs at least 10"):
        GANImputer(**FAST_IMPUTE).fit(np.where(np.eye(9, 3) > 0, np.nan, 1.0))
    with pytest.raises(InvalidDataError, match="needs at least 10"):
        augment(table[:9], "outcome", target="x2")
    _cells_csv(tmp_path / "one.csv", [[1, 2, 3]])  # the single cell
    result = runner.invoke(app, ["train", "expression", str(tmp_path / "one.csv"), "-o", str(tmp_path / "m")])
    _one_line_error(result, "1 cell (n_samples = 1) but needs at least 10")
    assert _files(tmp_path / "m") == []


# ---------------------------------------------------------------------- one-member classes
def test_one_member_classes_same_rule_for_train_and_augment(small, tiny_model, table, tmp_path):
    single = _fresh(small[~(small.obs[LABEL] == PAIR) | ~small.obs[LABEL].duplicated()])
    message = re.escape(f"single cell ('{PAIR}')") + ".*merge the label into another or drop those cells"
    with pytest.raises(InvalidDataError, match=message):
        biogan.ExpressionGAN.setup_anndata(single, layer="counts", labels_key=LABEL)
    with pytest.raises(InvalidDataError, match=message):  # not grown, still refused: the same rule
        augment(single, LABEL, target={"CD34+": 10}, model=tiny_model, layer="counts")
    rows = table[(table["outcome"] == 0) | (table.index == 39)]
    with pytest.raises(InvalidDataError, match="single row"):
        biogan.TabularGAN(seed=0, device="cpu").fit(rows, "outcome", max_steps=1, progress=False)
    write_h5ad(single, tmp_path / "single.h5ad")
    result = runner.invoke(
        app,
        ["train", "vae", str(tmp_path / "single.h5ad"), "--labels-key", LABEL, "-o", str(tmp_path / "m")],
    )
    _one_line_error(result, "single cell")
    assert _files(tmp_path / "m") == []


# ---------------------------------------------------------------------- labels that look continuous
def test_continuous_label_columns_are_refused_with_the_class_count(small, table, tmp_path):
    ids = _fresh(small)
    ids.obs["donor"] = np.arange(ids.n_obs)  # an id: one class per cell
    with pytest.raises(InvalidDataError, match=f"{ids.n_obs} classes for {ids.n_obs} samples"):
        biogan.ExpressionGAN.setup_anndata(ids, layer="counts", labels_key="donor")
    measured = table.assign(outcome=np.linspace(0.5, 3.3, len(table)))  # a measurement
    with pytest.raises(InvalidDataError, match="non-integer numbers \\(40 distinct values\\)"):
        biogan.TabularGAN(seed=0, device="cpu").fit(measured, "outcome", max_steps=1, progress=False)
    with pytest.raises(InvalidDataError, match="looks continuous"):
        biogan.evaluate(measured, measured, labels_key="outcome")
    many = table.assign(outcome=np.arange(40) % 20)  # 20 classes of 2 rows: real classes, accepted
    v.check_not_continuous(many["outcome"], "outcome")
    measured.to_csv(tmp_path / "t.csv", index=False)
    args = ["train", "table", str(tmp_path / "t.csv"), "--labels-key", "outcome", "--no-index"]
    _one_line_error(runner.invoke(app, [*args, "-o", str(tmp_path / "m")]), "looks continuous")


# ---------------------------------------------------------------------- counts beyond int32
def test_counts_beyond_int32_need_allow_large_counts(small, tmp_path):
    X = np.random.default_rng(0).poisson(3, (20, 6)).astype(np.float64)
    X[0, 0] = 3e9
    with pytest.raises(InvalidDataError, match=r"1 values above 2\^31 - 1.*allow_large_counts=True"):
        biogan.ExpressionGAN.setup_anndata(ad.AnnData(X=X.copy()))
    big = ad.AnnData(X=X.copy())
    biogan.ExpressionGAN.setup_anndata(big, allow_large_counts=True)
    biogan.ExpressionVAE(big, seed=0, device="cpu")  # the registration carries the permission
    _cells_csv(tmp_path / "big.csv", X)
    args = ["train", "expression", str(tmp_path / "big.csv"), "--device", "cpu", "--max-steps", "1"]
    _one_line_error(runner.invoke(app, [*args, "-o", str(tmp_path / "m")]), "--allow-large-counts")
    assert _files(tmp_path / "m") == []
    settings = ["--set", "noise_dim=8", "--set", "generator_hidden=[16]", "--set", "critic_hidden=[16]"]
    result = runner.invoke(app, [*args, *settings, "--allow-large-counts", "-o", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ok" / "model.pt").exists()


# ---------------------------------------------------------------------- duplicated names
def test_duplicate_gene_and_cell_names_warn_what_was_renamed(small, tmp_path):
    dup = _fresh(small[:20, :5])
    dup.var_names = ["A", "A", "B", "C", "C"]
    dup.obs_names = ["x"] * 2 + [f"c{i}" for i in range(18)]
    write_h5ad(dup, tmp_path / "dup.h5ad")
    with pytest.warns(UserWarning, match="duplicated gene names; renamed 2: 'A' -> 'A-1', 'C' -> 'C-1'"):
        back = read_cells(tmp_path / "dup.h5ad")
    assert back.var_names.is_unique and back.obs_names.is_unique
    with pytest.warns(UserWarning, match="duplicated cell names; renamed 1: 'x' -> 'x-1'"):
        read_cells(tmp_path / "dup.h5ad")
    with pytest.warns(UserWarning, match="duplicated gene names"):
        biogan.ExpressionGAN.setup_anndata(dup, layer="counts")
    assert list(dup.var_names) == ["A", "A-1", "B", "C", "C-1"]


# ---------------------------------------------------------------------- sparse columns in the imputer
def test_imputer_warns_about_and_reports_sparse_columns():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(40, 3)), columns=["a", "b", "c"])
    frame.loc[:23, "b"] = np.nan  # 60 % missing
    frame.loc[:3, "c"] = np.nan  # 10 %: fine
    with pytest.warns(UserWarning, match="1 column\\(s\\) have more than 50% missing: 'b' \\(60%\\)"):
        imputer = GANImputer(**FAST_IMPUTE).fit(frame)
    assert imputer.sparse_columns_ == ["b"]


# ---------------------------------------------------------------------- NaN labels in evaluate
def test_nan_labels_in_evaluate_fail_before_anything_is_written(small, table, tmp_path):
    holes = small.copy()
    holes.obs[LABEL] = holes.obs[LABEL].astype(object)
    holes.obs.iloc[:3, holes.obs.columns.get_loc(LABEL)] = np.nan
    with pytest.raises(InvalidDataError, match="missing labels \\(3 of"):
        biogan.evaluate(holes, small, labels_key=LABEL)
    rows = table.assign(outcome=table["outcome"].astype(float))
    rows.loc[0, "outcome"] = np.nan
    with pytest.raises(InvalidDataError, match="missing labels \\(1 of 40 rows\\)"):
        biogan.evaluate(table, rows, labels_key="outcome")
    write_h5ad(holes, tmp_path / "real.h5ad")
    write_h5ad(small, tmp_path / "synth.h5ad")
    out = tmp_path / "ev"
    args = ["evaluate", str(tmp_path / "real.h5ad"), str(tmp_path / "synth.h5ad"), "--labels-key", LABEL]
    _one_line_error(runner.invoke(app, [*args, "-o", str(out)]), "missing labels")
    assert _files(out) == []  # no metrics.csv, no embedding.png
    rows.to_csv(tmp_path / "rows.csv", index=False)
    args = ["evaluate", str(tmp_path / "rows.csv"), str(tmp_path / "rows.csv"), "--labels-key", "outcome"]
    _one_line_error(runner.invoke(app, [*args, "--no-index", "-o", str(tmp_path / "ev2")]), "missing labels")
    assert _files(tmp_path / "ev2") == []


# ---------------------------------------------------------------------- former tracebacks
def test_damaged_files_and_bad_counts_are_one_line_errors(small, tmp_path):
    (tmp_path / "text.h5ad").write_text("cell,gene\nc1,3\n")
    write_h5ad(small, tmp_path / "full.h5ad")
    (tmp_path / "cut.h5ad").write_bytes((tmp_path / "full.h5ad").read_bytes()[:4000])
    for name in ("text.h5ad", "cut.h5ad"):
        result = runner.invoke(app, ["impute", str(tmp_path / name), "-o", str(tmp_path / f"out-{name}")])
        _one_line_error(result, f"cannot read {tmp_path / name}")
        assert not (tmp_path / f"out-{name}").exists()
    _cells_csv(tmp_path / "cells.csv", np.ones((30, 20), int))
    raw = (tmp_path / "cells.csv").read_bytes()
    cut = gzip.compress(raw)
    (tmp_path / "cut.csv.gz").write_bytes(cut[: len(cut) // 2])
    result = runner.invoke(
        app, ["train", "expression", str(tmp_path / "cut.csv.gz"), "-o", str(tmp_path / "m")]
    )
    _one_line_error(result, "truncated")  # not click's bare "Aborted."
    frame = pd.DataFrame(np.where(np.eye(12, 3) > 0, np.nan, np.arange(36.0).reshape(12, 3)))
    imputer = GANImputer(**FAST_IMPUTE).fit(frame)
    for n in (0, -1, 2.5):
        with pytest.raises(InvalidDataError, match="whole number >= 1"):
            imputer.sample_imputations(frame, n=n)


# ---------------------------------------------------------------------- bounded cost
def test_sampling_beyond_memory_is_refused_before_any_work(tiny_model, table, tmp_path, monkeypatch):
    tiny_model.save(tmp_path / "m")
    out = tmp_path / "s.h5ad"
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "100000000000", "-o", str(out)])
    _one_line_error(result, "sampling 100000000000 cells x")
    assert "of memory but" in result.output and "fewer cells" in result.output and not out.exists()
    with pytest.raises(InvalidDataError, match="of memory"):
        tiny_model.sample(labels={tiny_model.categories[0]: 10**11})
    assert tiny_model.zero_fraction == biogan.ExpressionGAN.load(tmp_path / "m", device="cpu").zero_fraction
    assert 0.5 < tiny_model.zero_fraction < 0.9
    # the estimate follows the training zero fraction: 10k cells fit in 50 MB, 1M do not
    monkeypatch.setattr(v, "available_memory", lambda: 50e6)
    assert tiny_model.sample(n=10_000).n_obs == 10_000
    with pytest.raises(InvalidDataError, match="sampling 1000000 cells"):
        tiny_model.sample(n=1_000_000)
    rows = biogan.TabularGAN(seed=0, device="cpu", **TINY).fit(table, "outcome", max_steps=2, progress=False)
    with pytest.raises(InvalidDataError, match="sampling 1000000 rows x 3 columns"):
        rows.sample(n=1_000_000)


def test_augment_caps_targets_unless_forced_and_checks_memory(small, tiny_model, tmp_path, monkeypatch):
    with pytest.raises(InvalidDataError, match=r"beyond 10x the largest real label .*force=True"):
        augment(small, LABEL, target="x1000000", model=tiny_model, layer="counts")
    with pytest.raises(InvalidDataError, match="of memory"):  # forced, still bounded by memory
        augment(small, LABEL, target="x1000000", model=tiny_model, layer="counts", force=True)
    largest = int(small.obs[LABEL].value_counts().max())
    v.check_growth(pd.Series({"a": largest}), {"a": 9 * largest}, "cell")  # exactly 10x: allowed
    monkeypatch.setattr(v, "available_memory", lambda: 1e5)
    with pytest.raises(InvalidDataError, match="adding 30 cells to 200 cells x 100 genes"):
        augment(small, LABEL, target={"CD34+": 34}, model=tiny_model, layer="counts")
    monkeypatch.undo()
    write_h5ad(small, tmp_path / "cells.h5ad")
    tiny_model.save(tmp_path / "m")
    out = tmp_path / "a.h5ad"
    args = [
        "augment",
        str(tmp_path / "cells.h5ad"),
        "--labels-key",
        LABEL,
        "--model-dir",
        str(tmp_path / "m"),
    ]
    result = runner.invoke(app, [*args, "--target", "x1000000", "-o", str(out), "--device", "cpu"])
    _one_line_error(result, "--force")
    assert not out.exists()


def test_every_rule_raises_a_biogan_error():
    assert issubclass(InvalidDataError, BioganError)
    for check in (
        lambda: v.check_enough(3, "x"),
        lambda: v.check_no_missing_labels(pd.Series(["a", None]), "k"),
        lambda: v.check_not_continuous(pd.Series([0.1, 0.2]), "k"),
        lambda: v.check_class_sizes(pd.Series(["a", "a", "b"]), "k"),
        lambda: v.check_count_range(np.array([[2.0**31]])),
        lambda: v.check_growth(pd.Series({"a": 2}), {"a": 19}, "cell"),
        lambda: v.check_memory(1e30, "this", "do less"),
    ):
        with pytest.raises(BioganError):
            check()
