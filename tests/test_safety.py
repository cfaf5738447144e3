"""Nothing is lost: outputs never destroy inputs, bad options fail before work, crashes leave no debris."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TINY
from typer.testing import CliRunner

import biogan
from biogan._utils import check_output
from biogan.cli import app
from biogan.data import write_h5ad
from biogan.errors import CheckpointError, DeviceError, OutputPathError
from biogan.train.checkpoint import TrainingLock

runner = CliRunner()


def _one_line_error(result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error:") and result.output.count("\n") == 1, result.output
    assert text in result.output, result.output


@pytest.fixture
def saved(tiny_model, small, tmp_path):
    tiny_model.save(tmp_path / "m")
    write_h5ad(small, tmp_path / "cells.h5ad")
    return tmp_path


def test_outputs_that_would_destroy_inputs_are_refused(saved):
    model_pt = saved / "m" / "model.pt"
    before = model_pt.read_bytes()
    _one_line_error(runner.invoke(app, ["sample", str(saved / "m"), "-n", "5", "-o", str(model_pt)]), "input")
    assert model_pt.read_bytes() == before
    cells = str(saved / "cells.h5ad")
    args = ["augment", cells, "--labels-key", "cell_type", "-o", cells, "--model-dir", str(saved / "m")]
    _one_line_error(runner.invoke(app, args), "would overwrite the input")
    _one_line_error(runner.invoke(app, ["impute", cells, "-o", cells]), "would overwrite the input")
    evaluate = ["evaluate", cells, cells, "--out", str(saved / "m")]
    _one_line_error(runner.invoke(app, evaluate), "already exists; pass --overwrite")


def test_existing_outputs_need_overwrite_and_formats_follow_extensions(saved):
    out = saved / "s.h5ad"
    assert runner.invoke(app, ["sample", str(saved / "m"), "-n", "5", "-o", str(out)]).exit_code == 0
    again = runner.invoke(app, ["sample", str(saved / "m"), "-n", "5", "-o", str(out)])
    _one_line_error(again, "already exists; pass --overwrite")
    replaced = runner.invoke(app, ["sample", str(saved / "m"), "-n", "7", "-o", str(out), "--overwrite"])
    assert replaced.exit_code == 0 and "7 cells" in replaced.output
    as_csv = runner.invoke(app, ["sample", str(saved / "m"), "-n", "5", "-o", str(saved / "s.csv")])
    _one_line_error(as_csv, "written as .h5ad")
    assert not (saved / "s.csv").exists()


def test_training_into_an_existing_model_folder_needs_overwrite_or_resume(saved):
    train = ["train", "expression", str(saved / "cells.h5ad"), "--out", str(saved / "m"), "--max-steps", "2"]
    train += ["--device", "cpu", "--set", "noise_dim=8"]
    _one_line_error(runner.invoke(app, train), "already exists; pass --overwrite")
    assert runner.invoke(app, [*train, "--overwrite"]).exit_code == 0


def test_bad_options_fail_before_any_work(saved):
    sample = ["sample", str(saved / "m"), "-o", str(saved / "x.h5ad")]
    _one_line_error(runner.invoke(app, [*sample, "-n", "0"]), "at least one sample")
    _one_line_error(runner.invoke(app, [*sample, "-n", "5", "--device", "tpu"]), "device 'tpu'")
    _one_line_error(runner.invoke(app, [*sample, "-n", "5", "--device", "cuda:7"]), "cuda:7")
    train = ["train", "expression", str(saved / "cells.h5ad"), "--out", str(saved / "n"), "--device", "cpu"]
    _one_line_error(runner.invoke(app, [*train, "--max-steps", "0"]), "--max-steps must be at least 1")
    _one_line_error(runner.invoke(app, [*train, "--max-steps", "-3"]), "--max-steps must be at least 1")
    blocked = saved / "a_file"
    blocked.write_text("x")
    _one_line_error(runner.invoke(app, [*train[:3], "--out", str(blocked / "m")]), "cannot write")
    assert not (saved / "n").exists()  # nothing was trained or written
    augment = ["augment", str(saved / "cells.h5ad"), "--labels-key", "cell_type", "-o", str(saved / "a.h5ad")]
    _one_line_error(runner.invoke(app, [*augment, "--min-confidence", "2"]), "between 0 and 1")
    evaluate = ["evaluate", str(saved / "cells.h5ad"), str(saved / "cells.h5ad"), "--out", str(saved / "r")]
    _one_line_error(runner.invoke(app, [*evaluate, "--embedding", "tsne"]), "unknown --embedding 'tsne'")


def test_check_output_and_devices_directly(tmp_path):
    with pytest.raises(OutputPathError, match="would overwrite the input"):
        check_output(tmp_path / "model" / "x.csv", [tmp_path / "model"])
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", [], folder=True) == (tmp_path / "empty").resolve()
    with pytest.raises(DeviceError, match="unknown device"):
        biogan.ExpressionGAN(device="gpu0")


def test_a_second_training_into_the_same_folder_fails_with_the_holders_pid(small, tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / TrainingLock.NAME).write_text(str(sleeper.pid))
        model = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
        with pytest.raises(CheckpointError, match=f"process {sleeper.pid}"):
            model.fit(max_steps=2, checkpoint_dir=tmp_path, progress=False)
    finally:
        sleeper.kill()
        sleeper.wait()
    # The holder is gone: its lock is stale and the next run takes over (and releases it afterwards).
    biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY).fit(
        max_steps=2, checkpoint_dir=tmp_path, progress=False
    )
    assert not (tmp_path / TrainingLock.NAME).exists()


def test_stale_temp_files_of_a_killed_write_are_removed_on_the_next_start(small, tmp_path):
    debris = tmp_path / ".checkpoint.pt.ab12cd.pt.tmp"
    debris.write_bytes(b"\0" * 1000)
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY).fit(
        max_steps=2, checkpoint_dir=tmp_path, progress=False
    )
    assert not debris.exists() and keep.exists()


def test_resume_without_a_checkpoint_says_so_and_a_mismatched_one_says_what_differs(small, tmp_path):
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    with pytest.warns(UserWarning, match="nothing to resume"):
        model.fit(max_steps=2, checkpoint_dir=tmp_path, resume=True, progress=False)
    other_settings = biogan.ExpressionGAN(small, seed=0, device="cpu", **{**TINY, "batch_size": 16})
    with pytest.raises(CheckpointError, match="batch_size 32 -> 16"):
        other_settings.fit(max_steps=4, checkpoint_dir=tmp_path, resume=True, progress=False)
    # 50 fewer cells of the largest label (a plain small[:150] would leave a one-cell label, now refused)
    dropped = small.obs_names[small.obs["cell_type"] == "Dendritic"][:50]
    fewer = small[~small.obs_names.isin(dropped)].copy()
    biogan.ExpressionGAN.setup_anndata(fewer, layer="counts", labels_key="cell_type")
    other_data = biogan.ExpressionGAN(fewer, seed=0, device="cpu", **TINY)
    with pytest.raises(CheckpointError, match=r"other genes, labels or settings|training samples"):
        other_data.fit(max_steps=4, checkpoint_dir=tmp_path, resume=True, progress=False)


def test_checkpoints_also_come_by_time_not_only_by_steps(small, tmp_path, monkeypatch):
    import biogan.train.base as base

    written, original = [], base.save_state
    monkeypatch.setattr(
        base, "save_state", lambda path, state: written.append(state["step"]) or original(path, state)
    )
    settings = {**TINY, "checkpoint_every": 10**6, "checkpoint_seconds": 1e-9}  # "a minute" passes every step
    biogan.ExpressionGAN(small, seed=0, device="cpu", **settings).fit(
        3, checkpoint_dir=tmp_path, progress=False
    )
    assert written == [1, 2, 3, 3]  # by time after each step, then the final one
    written.clear()
    steps_only = {**TINY, "checkpoint_every": 10**6, "checkpoint_seconds": 0.0}
    biogan.ExpressionGAN(small, seed=0, device="cpu", **steps_only).fit(
        3, checkpoint_dir=tmp_path / "b", progress=False
    )
    assert written == [3]


def test_version_and_doctor():
    version = runner.invoke(app, ["--version"])
    assert version.exit_code == 0 and version.output.strip() == f"biogan {biogan.__version__}"
    doctor = runner.invoke(app, ["doctor"])
    assert doctor.exit_code == 0
    for field in ("biogan", "torch", "anndata", "scanpy", "cuda", "torch threads", "working folder"):
        assert field in doctor.output
    assert os.getcwd() in doctor.output


def test_a_refused_command_leaves_no_empty_output_folder(saved):
    out = saved / "new" / "model"
    args = ["train", "expression", str(saved / "cells.h5ad"), "--out", str(out), "--labels-key", "nope"]
    _one_line_error(runner.invoke(app, [*args, "--device", "cpu"]), "nope")
    assert not (saved / "new").exists()


def test_an_unknown_device_at_load_is_blamed_on_the_device(saved):
    with pytest.raises(DeviceError, match="device 'tpu'"):
        biogan.models.load_model(saved / "m", device="tpu")
