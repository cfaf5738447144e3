"""Kill trials of issue 13: SIGKILL a ``biogan train expression`` process, resume it, compare the weights.

Used by ``tests/test_kill.py`` and ``benchmarks/reliability.py``. A trial starts the training in a fresh
folder, kills it (at a seeded random moment of its training, or while a checkpoint or the final model is
being written), checks that every file left is complete or absent, runs the same command with
``--resume`` to the end, and checks that the folder is clean (no temporary file, no lock) and that the
final weights equal those of an uninterrupted run bit for bit. Kills land at moments measured on the
uninterrupted run, so they fall inside training however loaded the machine is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_STEPS = 150
SETTINGS = (
    "noise_dim=8",
    "generator_hidden=[32]",
    "critic_hidden=[32]",
    "train.batch_size=32",
    "train.checkpoint_every=5",
    "train.log_every=5",
    "train.eval_every=5",
    "train.checkpoint_seconds=0.05",  # a checkpoint every few steps: kills often land inside a write
)
LOCK = ".biogan.lock"
CHECKPOINT_WRITE = (".checkpoint.pt.*.tmp",)
MODEL_SAVE = (".model.pt.*.tmp", ".history.csv.*.tmp", ".config.json.*.tmp", ".manifest.json.*.tmp")
PROCESS_TIMEOUT = 300.0  # seconds: generous, a loaded 2-core machine is slow


@dataclass(frozen=True)
class Trial:
    """Where to kill: ``fraction`` of the reference run's training time after training starts, or (with
    ``patterns``) inside the first write after that moment whose temporary file matches ``patterns``."""

    name: str
    fraction: float | None = None
    patterns: tuple[str, ...] = ()


@dataclass
class TrialResult:
    trial: Trial
    killed: bool = False
    moment: str = ""  # where the kill landed
    resumed_from: int | None = None  # step of the checkpoint the resume started from (None: step 0)
    debris: list[str] = field(default_factory=list)  # temporary files the kill left
    problems: list[str] = field(default_factory=list)
    identical: bool = False
    seconds: float = 0.0

    @property
    def survived(self) -> bool:
        return self.killed and not self.problems and self.identical

    def describe(self) -> str:
        return (
            f"{self.trial.name}: killed={self.killed} ({self.moment}), resumed from step "
            f"{self.resumed_from}, debris {self.debris}, identical={self.identical}, problems {self.problems}"
        )


def plan(seed: int = 13, n_random: int = 3) -> list[Trial]:
    """``n_random`` kills at seeded random moments of training (one in each of ``n_random`` equal spans,
    so they spread over the run), one inside a checkpoint write that replaces an earlier checkpoint, and
    one inside the final save of the model folder."""
    rng = random.Random(seed)
    span = 0.5 / max(n_random, 1)  # training ends at about 0.6 of the time to exit; the save comes after
    trials = [
        Trial(f"random-{i + 1}", fraction=round(rng.uniform(0.05 + i * span, 0.05 + (i + 1) * span), 3))
        for i in range(n_random)
    ]
    return [
        *trials,
        Trial("during-checkpoint-write", round(rng.uniform(0.2, 0.5), 3), CHECKPOINT_WRITE),
        Trial("during-model-save", 0.0, MODEL_SAVE),
    ]


# ---------------------------------------------------------------------------------------------- processes
def command(data: Path, out: Path, resume: bool = False) -> list[str]:
    settings = [arg for value in SETTINGS for arg in ("--set", value)]
    return [
        sys.executable, "-m", "biogan", "train", "expression", str(data), "--labels-key", "cell_type",
        "--out", str(out), "--max-steps", str(MAX_STEPS), "--device", "cpu", "--seed", "0", *settings,
        *(["--resume"] if resume else []),
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _start(args: list[str], log: Any) -> subprocess.Popen:
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=_env())


def run_to_end(data: Path, out: Path, resume: bool = False) -> float:
    """Run the training to the end; returns the seconds from the start of training (the lock appears)
    to the exit."""
    with tempfile.TemporaryFile() as log:
        proc = _start(command(data, out, resume), log)
        started = _wait_for_lock(proc, out)
        code = proc.wait(timeout=PROCESS_TIMEOUT)
        if code != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"training exited with {code}:\n{tail}")
    return time.monotonic() - started


def _wait_for_lock(proc: subprocess.Popen, out: Path) -> float:
    """The moment training starts (its lock file appears), or the process exit if it never does."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / LOCK).exists():
            return time.monotonic()
        time.sleep(0.002)
    return time.monotonic()


def _wait(proc: subprocess.Popen, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end and proc.poll() is None:
        time.sleep(0.002)


def _kill_after(proc: subprocess.Popen, seconds: float) -> bool:
    _wait(proc, seconds)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    return True


def _kill_in_write(proc: subprocess.Popen, out: Path, patterns: tuple[str, ...]) -> str | None:
    """SIGKILL while a matching temporary file exists: stop the process when one is seen, make sure it is
    still there while the process is stopped (so the write is really under way), then kill."""
    deadline = time.monotonic() + PROCESS_TIMEOUT
    while time.monotonic() < deadline and proc.poll() is None:
        found = _matching(out, patterns)
        if not found:
            time.sleep(0.0005)
            continue
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGSTOP)
        _wait_stopped(proc.pid)
        if any(path.exists() for path in found):
            proc.send_signal(signal.SIGKILL)
            return found[0].name
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)
    return None


def _matching(out: Path, patterns: tuple[str, ...]) -> list[Path]:
    try:
        return [path for pattern in patterns for path in out.glob(pattern)]
    except OSError:
        return []


def _wait_stopped(pid: int, timeout: float = 5.0) -> None:
    """Wait until the kernel reports ``pid`` stopped (a signal is delivered asynchronously)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return
        if state in ("T", "t", "Z", "X"):
            return
        time.sleep(0.0005)


# ---------------------------------------------------------------------------------------------- checks
def check_files(folder: Path, finished: bool) -> list[str]:
    """Every file in ``folder`` complete or absent; when ``finished`` also no temporary file, no lock, and
    a model folder that verifies and loads."""
    from biogan.errors import BioganError
    from biogan.train.checkpoint import load_state, verify_manifest

    problems = []
    for name in ("checkpoint.pt", "model.pt"):
        if (folder / name).exists():
            try:
                load_state(folder / name)
            except BioganError as err:
                problems.append(f"{name} is incomplete: {err}")
    for name in ("config.json", "manifest.json"):
        if (folder / name).exists():
            try:
                json.loads((folder / name).read_text())
            except ValueError as err:
                problems.append(f"{name} is incomplete: {err}")
    if (folder / "history.csv").exists():
        import pandas as pd

        try:
            pd.read_csv(folder / "history.csv")
        except (ValueError, pd.errors.ParserError) as err:
            problems.append(f"history.csv is incomplete: {err}")
    if finished:
        problems += [f"left behind: {p.name}" for p in folder.glob(".*.tmp")]
        if (folder / LOCK).exists():
            problems.append(f"stale lock {LOCK}")
        try:
            verify_manifest(folder)
        except BioganError as err:
            problems.append(str(err))
    return problems


def tensors(state: Any, prefix: str = "") -> dict[str, Any]:
    """The tensors of a nested state, by dotted path."""
    import torch

    if isinstance(state, torch.Tensor):
        return {prefix: state}
    if isinstance(state, dict):
        out = {}
        for key, value in state.items():
            out.update(tensors(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {}


def weights_differ(a: Path, b: Path) -> list[str]:
    """Tensors of ``a/model.pt`` and ``b/model.pt`` that are not bit-identical (missing ones too)."""
    import torch

    from biogan.train.checkpoint import load_state

    left, right = tensors(load_state(a / "model.pt")), tensors(load_state(b / "model.pt"))
    if set(left) != set(right):
        return sorted(set(left) ^ set(right))
    return [k for k in left if left[k].dtype != right[k].dtype or not torch.equal(left[k], right[k])]


def _checkpoint_step(folder: Path) -> int | None:
    from biogan.errors import BioganError
    from biogan.train.checkpoint import load_state

    try:
        return int(load_state(folder / "checkpoint.pt")["step"])
    except (BioganError, KeyError):
        return None


# ---------------------------------------------------------------------------------------------- a trial
def run_trial(trial: Trial, data: Path, folder: Path, reference: Path, train_seconds: float) -> TrialResult:
    """Kill, inspect, resume, compare (``reference`` holds the uninterrupted run, whose training took
    ``train_seconds``)."""
    result = TrialResult(trial)
    start = time.monotonic()
    with tempfile.TemporaryFile() as log:
        proc = _start(command(data, folder), log)
        started = _wait_for_lock(proc, folder)
        delay = (trial.fraction or 0.0) * train_seconds
        if trial.patterns:
            _wait(proc, delay - (time.monotonic() - started))
            caught = _kill_in_write(proc, folder, trial.patterns)
            result.killed = caught is not None
            result.moment = f"inside the write of {caught}, after {delay:.2f} s" if caught else "missed"
        else:
            result.killed = _kill_after(proc, delay - (time.monotonic() - started))
            result.moment = f"{delay:.2f} s into training"
        proc.wait(timeout=PROCESS_TIMEOUT)
    result.debris = sorted(p.name for p in folder.glob(".*.tmp"))
    result.problems += [f"after the kill: {p}" for p in check_files(folder, finished=False)]
    result.resumed_from = _checkpoint_step(folder) if (folder / "checkpoint.pt").exists() else None
    try:
        run_to_end(data, folder, resume=True)
    except (RuntimeError, subprocess.TimeoutExpired) as err:
        result.problems.append(f"the resume failed: {err}")
    else:
        result.problems += [f"after the resume: {p}" for p in check_files(folder, finished=True)]
        differ = weights_differ(folder, reference)
        result.identical = not differ
        if differ:
            result.problems.append(f"weights differ from the uninterrupted run: {differ[:5]}")
    result.seconds = time.monotonic() - start
    return result


def write_data(path: Path) -> Path:
    """The small data set every trial trains on (from the bundled PBMCs)."""
    from _reliability_cases import base_cells

    path.parent.mkdir(parents=True, exist_ok=True)
    base_cells().write_h5ad(path)
    return path


def run_trial_until_killed(
    trial: Trial, data: Path, folder: Path, reference: Path, train_seconds: float, attempts: int = 3
) -> TrialResult:
    """:func:`run_trial`, again in a fresh folder while the kill missed: a write's short window, or the
    process ended sooner than the reference did (then the kill comes at half the time)."""
    result = run_trial(trial, data, folder / "try1", reference, train_seconds)
    for attempt in range(2, attempts + 1):
        if result.killed:
            break
        if trial.fraction and not trial.patterns:
            trial = dataclasses.replace(trial, fraction=trial.fraction / 2)
        result = run_trial(trial, data, folder / f"try{attempt}", reference, train_seconds)
    return result
