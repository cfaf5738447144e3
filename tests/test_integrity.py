"""A damaged model or checkpoint never loads: SHA-256 in every state file and a manifest per model folder."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from conftest import TINY
from typer.testing import CliRunner

import biogan
from biogan.cli import app
from biogan.errors import CheckpointError
from biogan.train.checkpoint import content_digest, load_state, save_state


def _flip_middle(path, n: int = 16) -> None:
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + n] = bytes(b ^ 0xFF for b in data[middle : middle + n])
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_model_pt_are_refused_by_name(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "m")
    assert (tmp_path / "m" / "manifest.json").is_file()
    _flip_middle(tmp_path / "m" / "model.pt")
    with pytest.raises(CheckpointError, match=r"model\.pt is damaged"):
        biogan.models.load_model(tmp_path / "m", device="cpu")
    result = CliRunner().invoke(
        app, ["sample", str(tmp_path / "m"), "-n", "5", "-o", str(tmp_path / "s.h5ad")]
    )
    assert result.exit_code == 2 and "model.pt is damaged" in result.output and result.output.count("\n") == 1
    assert not (tmp_path / "s.h5ad").exists()


def test_an_edited_config_or_history_is_refused(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    config.write_text(config.read_text().replace('"seed": 0', '"seed": 1'))
    with pytest.raises(CheckpointError, match=r"config\.json is damaged"):
        biogan.ExpressionGAN.load(tmp_path / "m")


def test_state_files_check_their_own_contents(tmp_path):
    state = {"w": torch.arange(6.0), "nested": {"step": 3, "names": ["a", "b"]}}
    save_state(tmp_path / "s.pt", state)
    loaded = load_state(tmp_path / "s.pt")
    assert content_digest(loaded) == content_digest(state) and torch.equal(loaded["w"], state["w"])
    tampered = {**loaded, "w": loaded["w"] + 1, "_biogan_sha256": content_digest(state)}
    torch.save(tampered, tmp_path / "t.pt")  # a changed weight under the old checksum
    with pytest.raises(CheckpointError, match="contents do not match"):
        load_state(tmp_path / "t.pt")
    torch.save(state, tmp_path / "old.pt")  # no checksum: an older biogan
    with pytest.warns(UserWarning, match="no checksum"):
        load_state(tmp_path / "old.pt")


def test_a_damaged_checkpoint_is_refused_on_resume(small, tmp_path):
    model = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    model.fit(max_steps=2, checkpoint_dir=tmp_path, progress=False)
    state = load_state(tmp_path / "checkpoint.pt")
    state["problem"] = {k: v.clone() for k, v in state["problem"].items()}
    key = next(k for k, v in state["problem"].items() if v.is_floating_point() and v.numel() > 1)
    state["problem"][key][0] += 1.0
    torch.save(
        {**state, "_biogan_sha256": content_digest(load_state(tmp_path / "checkpoint.pt"))},
        tmp_path / "checkpoint.pt",
    )
    again = biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY)
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt is damaged"):
        again.fit(max_steps=4, checkpoint_dir=tmp_path, resume=True, progress=False)


def test_saved_models_still_sample_the_same_after_the_checks(tiny_model, tmp_path):
    tiny_model.save(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a verified folder loads without a warning
        loaded = biogan.ExpressionGAN.load(tmp_path / "m", device="cpu")
    np.testing.assert_array_equal(tiny_model.sample(n=20).X.toarray(), loaded.sample(n=20).X.toarray())
