"""Table evaluation: the engine's table metric set, table pictures and report, and the table CLI paths."""

from __future__ import annotations

import base64
import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

import biogan
from biogan.cli import app
from biogan.errors import InvalidDataError, UnknownLabelError
from biogan.metrics import tables
from biogan.metrics.engine import METRIC_SETS, evaluate, evaluate_many, kind_of
from biogan.metrics.tables import TABLE_METRICS, table_from
from biogan.metrics.two_sample import c2st_auc
from biogan.report import write_report

LABEL = "target"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """BLAS threads spin against each other on a busy 2-core machine: one thread is much faster."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def parts():
    """Three disjoint, stratified 120-row samples of breast cancer: train, held-out, another real."""
    frame = load_breast_cancer(as_frame=True).frame
    rest, train = train_test_split(frame, test_size=120, stratify=frame[LABEL], random_state=0)
    rest, held = train_test_split(rest, test_size=120, stratify=rest[LABEL], random_state=0)
    other = train_test_split(rest, test_size=120, stratify=rest[LABEL], random_state=0)[1]
    return train, held, other


@pytest.fixture
def fast_c2st(monkeypatch):
    """Report and CLI tests check plumbing, not metric values: the forest C2ST becomes the logistic one."""
    monkeypatch.setattr(
        tables, "c2st_auc", lambda a, b, classifier="rf", **kw: c2st_auc(a, b, "logistic", **kw)
    )


def _independent_columns(frame, seed=0):
    """Permute every column independently: the same marginals, no correlations, labels unrelated."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: frame[c].to_numpy()[rng.permutation(len(frame))] for c in frame.columns})


def _row(table, metric, scope="overall"):
    return table[(table.metric == metric) & (table.scope == scope)].iloc[0]


# ------------------------------------------------------------------------------------- metrics
def test_real_table_vs_real_sits_at_the_control(parts):
    train, held, other = parts
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        same = evaluate(held, other, labels_key=LABEL, train=train, seed=0)
    assert not [w for w in caught if "PRIVACY" in str(w.message)]
    assert list(same.columns) == ["metric", "scope", "value", "control", "verdict"]
    assert set(same.metric) == set(TABLE_METRICS)
    assert {"mean radius", "target", "0", "1"} <= set(same.scope)  # per-column and per-label rows
    c2st = _row(same, "c2st_rf_auc")
    assert 0.35 < c2st.value < 0.65 and 0.35 < c2st.control < 0.65 and c2st.verdict == "good"
    assert _row(same, "c2st_rf_auc", "1").verdict == "good"
    f1 = _row(same, "ml_efficacy_f1")
    assert f1.value > 0.8 and abs(f1.value - f1.control) < 0.1
    overall = same[same.scope == "overall"]
    assert (overall.verdict == "good").all(), overall.to_string()
    assert biogan.evaluate is evaluate and kind_of(held) == "table" and "table" in METRIC_SETS


def test_independent_columns_are_detected(parts):
    train, held, _ = parts
    table = evaluate(held, _independent_columns(train), labels_key=LABEL, seed=0)
    c2st = _row(table, "c2st_rf_auc")
    assert c2st.value > c2st.control + 0.25 and c2st.verdict == "poor"
    assert _row(table, "column_corr_diff").verdict == "poor"
    assert _row(table, "ml_efficacy_f1").verdict == "poor"  # labels no longer follow the features
    # Every marginal survives the shuffle, and the per-column distances must say so.
    assert _row(table, "column_ks").verdict == "good" and _row(table, "column_tvd").verdict == "good"


def test_copy_of_training_table_trips_the_privacy_check(parts, fast_c2st):
    train, held, _ = parts
    with pytest.warns(UserWarning, match="PRIVACY ALERT: synthetic rows"):
        table = evaluate(held, train.copy(), labels_key=LABEL, train=train, seed=0, max_rows=60)
    dcr = _row(table, "dcr_ratio")
    assert dcr.value < 0.05 and dcr.verdict == "poor" and 0.7 < dcr.control < 1.3


def test_table_inputs_are_checked(parts):
    train, held, _ = parts
    with pytest.raises(UnknownLabelError, match="no column 'diagnosis'"):
        evaluate(held, train, labels_key="diagnosis")
    with pytest.raises(InvalidDataError, match="other columns"):
        evaluate(held, train.drop(columns="mean radius"))
    texty = train.assign(**{"mean radius": "big"})
    with pytest.raises(InvalidDataError, match="numeric in the real table"):
        evaluate(held, texty)
    with pytest.raises(InvalidDataError, match="not a table"):
        evaluate(held, ad.AnnData(np.ones((5, 3), dtype=np.float32)))
    with pytest.raises(TypeError, match="max_rows"):
        evaluate(held, train, max_cells=50)
    # The same columns in another order are realigned; numeric labels are categories (text).
    reordered = table_from(
        train[train.columns[::-1]], "synthetic", LABEL, like=table_from(held, "real", LABEL)
    )
    assert reordered.columns == list(held.columns) and reordered.kinds[LABEL] == "categorical"
    assert set(reordered.labels) == {"0", "1"}


def test_evaluate_many_stacks_tables(parts, fast_c2st):
    _, held, other = parts
    table = evaluate_many(held, {"a": other, "b": _independent_columns(other)}, labels_key=LABEL, seed=0)
    assert list(table.columns) == ["model", "metric", "scope", "value", "control", "verdict"]
    assert set(table.model) == {"a", "b"}
    rf = table[(table.metric == "c2st_rf_auc") & (table.scope == "overall")].set_index("model")
    assert rf.loc["a", "control"] == rf.loc["b", "control"]  # one reference, one control


# ------------------------------------------------------------------------------------- report
def test_table_report_has_its_sections_and_pictures(parts, tmp_path, fast_c2st):
    train, held, other = parts
    path = write_report(tmp_path / "report.html", held, other, LABEL, train=train, png_dir=tmp_path / "png")
    text = path.read_text(encoding="utf-8")
    for section in ("summary", "metrics", "pictures"):
        assert f'<section id="{section}">' in text
    assert (
        "real vs synthetic rows" in text
        and "Rows per target" in text
        and "Every column (31)" in text
        and "mean radius" in text
    )
    assert "column_ks" in text and "ml_efficacy_f1" in text and "Per-column and per-label metrics" in text
    images = [chunk.split('"', 1)[0] for chunk in text.split('src="data:image/png;base64,')[1:]]
    assert len(images) == 3 and all(base64.b64decode(i)[:4] == b"\x89PNG" for i in images)
    assert {p.name for p in (tmp_path / "png").iterdir()} == {
        "column_distributions.png",
        "column_correlations.png",
        "row_pca.png",
    }
    assert "<script" not in text


# ------------------------------------------------------------------------------------- CLI
def test_cli_evaluate_tables(parts, tmp_path, fast_c2st):
    train, held, other = parts
    held.to_csv(tmp_path / "real.csv")
    other.to_csv(tmp_path / "synth.csv")
    train.to_csv(tmp_path / "train.tsv", sep="\t")
    out = tmp_path / "ev"
    args = ["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "synth.csv"), "--labels-key", LABEL]
    result = runner.invoke(app, [*args, "--train", str(tmp_path / "train.tsv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "c2st_rf_auc" in result.output and (out / "report.html").exists()
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["metric", "scope", "value", "control", "verdict"]
    assert "ml_efficacy_f1" in set(metrics.metric) and (out / "column_distributions.png").exists()

    bad = runner.invoke(app, [*args[:-1], "diagnosis", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and "diagnosis" in bad.output
    assert len(bad.output.strip().splitlines()) == 1 and "Traceback" not in bad.output
    # Without --no-index the row names would be a column the real table lacks.
    held.to_csv(tmp_path / "plain.csv", index=False)
    no_index = runner.invoke(app, [*args[:2], str(tmp_path / "plain.csv"), "--out", str(tmp_path / "y")])
    assert no_index.exit_code == 2 and "other columns" in no_index.output
    missing = runner.invoke(app, [*args[:2], str(tmp_path / "nowhere.csv"), "--out", str(tmp_path / "z")])
    assert missing.exit_code == 2 and missing.output.startswith("error:")


def test_cli_report_on_a_tabular_gan(parts, tmp_path, fast_c2st):
    train, held, _ = parts
    model = biogan.TabularGAN(seed=0, device="cpu", batch_size=32)
    model.fit(train, labels_key=LABEL, max_steps=20, progress=False).save(tmp_path / "model")
    held.to_csv(tmp_path / "real.csv", index=False)
    out = tmp_path / "rep"
    report = ["report", str(tmp_path / "model"), "--no-index", "--device", "cpu"]
    result = runner.invoke(app, [*report, "--real", str(tmp_path / "real.csv"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = (out / "report.html").read_text(encoding="utf-8")
    for section in ("summary", "metrics", "pictures", "model", "training"):
        assert f'<section id="{section}">' in text
    assert "TabularGAN" in text and "training_curves.png" in {p.name for p in out.iterdir()}
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"c2st_rf_auc", "ml_efficacy_f1", "dcr_ratio"} <= set(metrics.metric)
    assert {"0", "1"} <= set(metrics.scope)  # sampled with the real label counts, so per-label rows

    # A real table without the model's columns is one readable error.
    held.drop(columns="mean radius").to_csv(tmp_path / "cut.csv", index=False)
    bad = runner.invoke(app, [*report, "--real", str(tmp_path / "cut.csv"), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and "mean radius" in bad.output
