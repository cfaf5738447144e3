"""Crash safety measured (issue 13): SIGKILL a `biogan train expression` process inside a checkpoint write
(at a seeded moment of training) and inside the final save, then resume it with --resume. Kills at random
moments of training are the benchmark's (``benchmarks/reliability.py``); the suite keeps these two windows,
where a write is caught half-done.

After each kill every file in the folder is complete or absent; after the resume no temporary file or
lock is left, the model folder verifies, and the final weights equal an uninterrupted run's bit for bit.
The trials live in ``benchmarks/_kill_trials.py``, shared with ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import _kill_trials as kt


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, Path, float]:
    """The data, an uninterrupted run's folder, and how long its training took."""
    root = tmp_path_factory.mktemp("kill")
    data = kt.write_data(root / "cells.h5ad")
    seconds = kt.run_to_end(data, root / "reference")
    assert kt.check_files(root / "reference", finished=True) == []
    return data, root / "reference", seconds


@pytest.mark.parametrize("trial", kt.plan(seed=13, n_random=0), ids=lambda trial: trial.name)
def test_a_killed_training_resumes_to_the_weights_of_an_uninterrupted_one(reference, trial, tmp_path):
    data, folder, seconds = reference
    result = kt.run_trial_until_killed(trial, data, tmp_path, folder, seconds)
    assert result.killed, result.describe()
    assert result.survived, result.describe()
    if trial.patterns:  # the kill hit a write: its temporary file was left, and the resume removed it
        assert result.debris, result.describe()
    if trial.patterns == kt.CHECKPOINT_WRITE:  # the checkpoint being replaced survived the kill
        assert result.resumed_from, result.describe()
