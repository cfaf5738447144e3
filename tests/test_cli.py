"""The command line, through typer's test runner."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
from typer.testing import CliRunner

from biogan.cli import app, parse_label_counts
from biogan.data import write_h5ad

runner = CliRunner()
TINY_ARGS = ["--max-steps", "2"]


def _train(small, tmp_path, *extra):
    write_h5ad(small, tmp_path / "cells.h5ad")
    return runner.invoke(
        app,
        [
            "train",
            "expression",
            str(tmp_path / "cells.h5ad"),
            "--labels-key",
            "cell_type",
            "--out",
            str(tmp_path / "model"),
            *TINY_ARGS,
            "--device",
            "cpu",
            *extra,
        ],
    )


def test_train_then_sample(small, tmp_path):
    result = _train(small, tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "model" / "model.pt").exists() and (tmp_path / "model" / "checkpoint.pt").exists()
    result = runner.invoke(
        app,
        [
            "sample",
            str(tmp_path / "model"),
            "-o",
            str(tmp_path / "s.h5ad"),
            "--labels",
            "CD19+ B=4,Dendritic=6",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    synth = ad.read_h5ad(tmp_path / "s.h5ad")
    assert synth.n_obs == 10 and list(synth.var_names) == list(small.var_names)
    assert np.all(synth.layers["counts"].data == np.rint(synth.layers["counts"].data))


def test_resume_continues_the_step_count(small, tmp_path):
    assert _train(small, tmp_path).exit_code == 0
    result = _train(small, tmp_path, "--resume", "--max-steps", "4")
    assert result.exit_code == 0, result.output
    assert "trained 4 steps" in result.output


def test_errors_are_one_line_with_exit_code_2(small, tmp_path):
    result = _train(small, tmp_path, "--labels-key", "no_such_column")
    assert result.exit_code == 2
    assert "error: obs has no column 'no_such_column'" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["sample", str(tmp_path / "nowhere"), "-o", str(tmp_path / "s.h5ad"), "-n", "3"]
    )
    assert result.exit_code == 2 and "does not exist" in result.output
    assert _train(small, tmp_path).exit_code == 0
    result = runner.invoke(
        app, ["sample", str(tmp_path / "model"), "-o", str(tmp_path / "s.h5ad"), "--labels", "Neuron=3"]
    )
    assert result.exit_code == 2 and "never saw label" in result.output


def test_parse_label_counts():
    assert parse_label_counts("B cell=5, CD4+/CD25 T Reg=2") == {"B cell": 5, "CD4+/CD25 T Reg": 2}
    assert parse_label_counts(None) is None


def test_impute_is_registered_and_errors_are_one_line(tmp_path):
    rng = np.random.default_rng(0)
    table = rng.normal(size=(40, 4))
    table[rng.random(table.shape) < 0.2] = np.nan
    pd.DataFrame(table, columns=list("abcd"), index=[f"p{i}" for i in range(40)]).to_csv(tmp_path / "t.csv")
    result = runner.invoke(app, ["impute", str(tmp_path / "t.csv"), "-o", str(tmp_path / "f.csv")])
    assert result.exit_code == 0, result.output
    filled = pd.read_csv(tmp_path / "f.csv", index_col=0)
    assert list(filled.columns) == ["a", "b", "c", "d"] and filled.notna().all().all()
    (tmp_path / "bad.csv").write_text("a,b\n1,x\n2,3\n")
    result = runner.invoke(app, ["impute", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "g.csv")])
    assert result.exit_code == 2 and result.output.startswith("error:")
