"""The one training schedule every biogan model uses (nanoGPT-style: the loop fits on one screen).

:class:`TrainerBase` owns the step counter, the time budget, the fixed log / evaluate / checkpoint
schedule, the progress bar, the NaN guard, diagnostics warnings, the best validated weights, seeding and
resume, and DDP (rank-0-only side effects). A subclass supplies one optimisation step
(:meth:`TrainerBase.train_step`, returning tensors to log) and says which weights evaluation judges.
Logged values are summed on the device and copied to the host only at log steps.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from tqdm.auto import tqdm

from biogan.data.samplers import derived_seed
from biogan.data.sources import BatchLoader
from biogan.errors import CheckpointError, TrainingWarning
from biogan.train import distributed
from biogan.train.checkpoint import TrainingLock, load_state, save_state
from biogan.train.config import ScheduleConfig
from biogan.train.diagnostics import RULES

Rule = Callable[[list[dict[str, float]]], "str | None"]
EVAL_STREAM, RANK_STREAM = 2, 3  # keys of the seeds derived from the run seed
WARMUP_STEPS = (2, 12)  # steps timed for the pre-run estimate (the first ones pay one-off costs)
ACTIVATION_COPIES = 64  # batch-sized float tensors a step holds at its peak (networks, noise, penalty)


class TrainerBase:
    """Trains ``problem`` with the settings ``config``; subclasses implement :meth:`train_step`.

    All randomness comes from torch's global generator (seeded per rank from ``seed`` inside
    :func:`torch.random.fork_rng`) and the data sampler's own generator; both are saved in every
    checkpoint, so a resumed run on CPU ends in exactly the weights of an uninterrupted one.

    Parameters
    ----------
    problem
        The model's modules, its data ``source`` and ``make_sampler``.
    config
        A :class:`~biogan.train.config.ScheduleConfig` (or subclass).
    seed
        The run seed.
    checkpoint_path
        Where to write checkpoints (``None``: none).
    device
        Where to train.
    """

    rules: ClassVar[Sequence[Rule]] = RULES
    postfix: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        problem: nn.Module,
        config: ScheduleConfig,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.problem = problem.to(self.device)
        self.config, self.seed = config, int(seed)
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.dist = distributed.context()
        per_rank = max(1, -(-config.batch_size // self.dist.world_size))
        sampler = problem.make_sampler(self.seed, self.dist.rank, self.dist.world_size)
        self.loader = BatchLoader(problem.source, sampler, per_rank, self.device)
        self.step, self.elapsed = 0, 0.0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.warnings: list[str] = []
        self._rng_state: torch.Tensor | None = None
        self._cuda_rng_state: torch.Tensor | None = None
        self._sums: dict[str, torch.Tensor] = {}
        self._n_summed = 0
        self._window_start = 0.0
        self._last_checkpoint = 0.0
        self._fingerprint: str | None = None
        self._rows_at_window = 0
        self._warm: tuple[float, int] | None = None
        self.noun = str(getattr(problem, "sample_noun", "samples"))

    # ------------------------------------------------------------------ what a subclass supplies
    def train_step(self) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        """One optimisation step; returns the values to log (tensors, kept on the device)."""
        raise NotImplementedError

    def kept_module(self) -> nn.Module:  # pragma: no cover - abstract
        """The weights that evaluation judges and that are kept when they score best."""
        raise NotImplementedError

    def validation_score(self) -> float | None:
        """Lower-is-better quality of :meth:`kept_module` (``None``: no validation)."""
        return None

    def monitor(self) -> dict[str, float]:
        """Cheap diagnostics added to every history row."""
        return {}

    def _extra_state(self) -> dict[str, Any]:
        """Subclass state (optimisers, EMA) to add to a checkpoint."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` returned."""

    # ------------------------------------------------------------------ the loop
    def fit(
        self, max_steps: int, max_seconds: float | None = None, resume: bool = False, progress: bool = True
    ) -> None:
        """Train until ``max_steps`` steps (or ``max_seconds`` of wall time) are done.

        With ``resume=True`` the state is first restored from ``checkpoint_path`` when it exists.
        Calling ``fit`` again continues where the previous call stopped.
        """
        if max_steps < 0:  # 0 is allowed: the untrained starting point (what baselines compare against)
            raise ValueError(f"max_steps must be >= 0, not {max_steps}")
        self.check_step_memory()
        owns_folder = self.checkpoint_path is not None and self.dist.is_main
        lock = TrainingLock(self.checkpoint_path.parent) if owns_folder else None
        if lock is not None:
            lock.acquire()  # a second training into the same folder fails here, before any work
        try:
            with self._forked_rng():
                if resume:
                    self._resume()
                self._restore_rng()
                self._loop(max_steps, max_seconds, progress and self.dist.is_main)
                self._save_rng()
            if self.checkpoint_path:
                self.save_checkpoint()
        finally:
            if lock is not None:
                lock.release()

    def _resume(self) -> None:
        if self.checkpoint_path is None:
            raise CheckpointError("resume=True needs the checkpoint_dir of the interrupted run")
        # Rank 0 decides for everyone, so ranks never disagree about where training starts.
        found = distributed.broadcast(self.checkpoint_path.exists(), self.dist)
        if found:
            self.load_state_dict(load_state(self.checkpoint_path, self.device))
        elif self.step == 0:
            warnings.warn(
                f"nothing to resume: {self.checkpoint_path} does not exist, so training starts from step 0",
                UserWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ cost, before it is paid
    def step_bytes(self) -> float:
        """Estimated peak memory of one training step: weights, gradients and two Adam moments of every
        parameter, and :data:`ACTIVATION_COPIES` float32 copies of this rank's minibatch."""
        n_params = sum(p.numel() for p in self.problem.parameters())
        rows = self.loader.batch_size * self.problem.source.row_width if self.problem.source else 0
        return 16.0 * n_params + 4.0 * ACTIVATION_COPIES * rows

    def check_step_memory(self) -> None:
        """Refuse a step that will not fit on the device (an error with the fix, not an OOM kill)."""
        from biogan.data.validation import check_memory

        width = self.problem.source.row_width if self.problem.source else 0
        check_memory(
            self.step_bytes(),
            f"a training step ({self.loader.batch_size:,} rows of {width:,} values on {self.device})",
            "use a smaller batch (--set train.batch_size=...), fewer genes (--n-top-genes), or --backed "
            "when the data themselves fill the memory",
            device=self.device,
        )

    def _announce(self, max_steps: int) -> None:
        """What is about to be trained, where, and how big the steps are (rank 0, before step 1)."""
        source = self.problem.source
        where = f"{self.device}" + (f" x {self.dist.world_size} processes" if self.dist.enabled else "")
        tqdm.write(
            f"training {type(self.problem).__name__} on {source.describe() if source else 'no data'}; "
            f"device {where}; batch {self.config.batch_size:,} ({self.loader.batch_size:,} per process); "
            f"steps {self.step:,} -> {max_steps:,}"
        )

    def _time_warmup(self, done: int, max_steps: int) -> None:
        """Time the steps between :data:`WARMUP_STEPS` of this call to fit; at the end say the measured
        speed and how long the remaining steps will take at it."""
        if done == WARMUP_STEPS[0]:
            self._warm = (time.perf_counter(), self.loader.rows_served)
        if done != WARMUP_STEPS[1] or self._warm is None:
            return
        seconds = max(time.perf_counter() - self._warm[0], 1e-9)
        rate = (WARMUP_STEPS[1] - WARMUP_STEPS[0]) / seconds
        cells = (self.loader.rows_served - self._warm[1]) * self.dist.world_size / seconds
        left = max_steps - self.step
        stop = " (early stopping may end sooner)" if self.config.patience and self.config.eval_every else ""
        tqdm.write(
            f"measured {rate:.2f} steps/s, {cells:,.0f} {self.noun}/s: about {_duration(left / rate)} "
            f"for the remaining {left:,} steps{stop}"
        )

    def _loop(self, max_steps: int, max_seconds: float | None, progress: bool) -> None:
        cfg = self.config
        start, start_elapsed = time.perf_counter(), self.elapsed
        self._window_start, self._rows_at_window = self.elapsed, self.loader.rows_served
        bar = tqdm(total=max_steps, initial=self.step, disable=not progress, desc="training", unit="step")
        if progress:
            self._announce(max_steps)
        first = self.step
        if cfg.eval_every and self.step == 0 and self.best is None:
            self._evaluate()  # the starting point competes too: training must beat it to be kept
        # A run resumed from the checkpoint written when early stopping ended it must not train further.
        while self.step < max_steps and not self._stalled():
            self.problem.train()
            self._accumulate(self.train_step())
            self.step += 1
            self.elapsed = start_elapsed + time.perf_counter() - start
            if progress:
                self._time_warmup(self.step - first, max_steps)
            # A fixed schedule: an interrupted-and-resumed run keeps the history and best weights of an
            # uninterrupted one; a time budget adds a final log and evaluation.
            out_of_time = self._out_of_time(max_seconds)
            if self.step % cfg.log_every == 0 or out_of_time:
                self._log(bar)
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or out_of_time):
                self._evaluate()
            stalled = self._stalled()
            if self.checkpoint_path and (self._checkpoint_due() or stalled):
                self._save_rng()
                self.save_checkpoint()
            bar.update(1)
            if out_of_time or stalled:
                break
        bar.close()

    def _stalled(self) -> bool:
        """Early stopping: ``patience`` evaluations have passed since the best validation score (every
        rank scores the same weights with the same seed, so all ranks stop at the same step)."""
        cfg = self.config
        if not (cfg.patience and cfg.eval_every and self.best is not None):
            return False
        return self.step - self.best["step"] >= cfg.patience * cfg.eval_every

    def _out_of_time(self, max_seconds: float | None) -> bool:
        if max_seconds is None:
            return False
        if not self.dist.enabled:
            return self.elapsed >= max_seconds
        # Ranks must stop at the same step: agree on the slowest clock, but only at log steps.
        at_log_step = self.step % self.config.log_every == 0
        return at_log_step and distributed.all_max(self.elapsed, self.dist) >= max_seconds

    def _checkpoint_due(self) -> bool:
        """Every ``checkpoint_every`` steps, and also once ``checkpoint_seconds`` have passed since the
        last one (so a kill in the first minutes loses little; saving does not touch the RNG, so resume
        stays exact whenever it happened)."""
        cfg = self.config
        if self.step % cfg.checkpoint_every == 0:
            return True
        if not cfg.checkpoint_seconds:
            return False
        waited = self.elapsed - self._last_checkpoint
        if not self.dist.enabled:
            return waited >= cfg.checkpoint_seconds
        at_log_step = self.step % cfg.log_every == 0  # ranks must agree: decide only there
        return at_log_step and distributed.all_max(waited, self.dist) >= cfg.checkpoint_seconds

    def _optimizer_step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        """Backward, optional gradient clipping, step: the one place every update goes through."""
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            params = [p for group in optimizer.param_groups for p in group["params"]]
            nn.utils.clip_grad_norm_(params, self.config.grad_clip)
        optimizer.step()

    def _accumulate(self, logs: dict[str, torch.Tensor | float]) -> None:
        for key, value in logs.items():
            value = torch.as_tensor(value, device=self.device).detach().float()
            self._sums[key] = self._sums[key] + value if key in self._sums else value.clone()
        self._n_summed += 1

    def _log(self, bar: tqdm) -> None:
        names = list(self._sums)
        values: list[float] = []
        if names:  # the one host sync of the logging window
            means = torch.stack([self._sums[k] for k in names]) / self._n_summed
            values = distributed.all_mean(means, self.dist).cpu().tolist()
        window_s = max(self.elapsed - self._window_start, 1e-9)
        rate = (self.loader.rows_served - self._rows_at_window) * self.dist.world_size / window_s
        self._sums, self._n_summed, self._window_start = {}, 0, self.elapsed
        self._rows_at_window = self.loader.rows_served
        row = {"step": float(self.step), "elapsed_s": round(self.elapsed, 3)}
        row.update(zip(names, values, strict=True))
        with self._forked_rng(derived_seed(self.seed, self.step, EVAL_STREAM)):  # no shift of training RNG
            row.update(self.monitor())
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"training diverged at step {self.step}: {', '.join(bad)} became NaN/inf; "
                "try lower learning rates, grad_clip, or the default wgan-gp loss"
            )
        self.history.append(row)
        postfix = {k: f"{row[k]:.3g}" for k in self.postfix if k in row}
        bar.set_postfix({**postfix, f"{self.noun}/s": f"{rate:.0f}"})
        self._warn(rule(self.history) for rule in self.rules)

    def _evaluate(self) -> None:
        self.problem.eval()
        with self._forked_rng(derived_seed(self.seed, self.step, EVAL_STREAM)):
            score = self.validation_score()
        if score is None:
            return
        if self.history and self.history[-1]["step"] == self.step:
            self.history[-1]["validation_score"] = score
        if self.best is None or score < self.best["score"]:
            state = {k: v.detach().clone() for k, v in self.kept_module().state_dict().items()}
            self.best = {"score": score, "step": self.step, "state": state}

    def _warn(self, messages: Iterable[str | None]) -> None:
        """Issue each diagnostics message once per run, as a :class:`TrainingWarning` (rank 0 only)."""
        for message in messages:
            if message and message not in self.warnings:
                self.warnings.append(message)
                if self.dist.is_main:
                    warnings.warn(f"step {self.step}: {message}", TrainingWarning, stacklevel=3)

    def best_state(self) -> dict[str, torch.Tensor]:
        """The weights to keep: the best validated ones if any, else the current ones."""
        return self.best["state"] if self.best is not None else self.kept_module().state_dict()

    # ------------------------------------------------------------------ randomness
    @contextlib.contextmanager
    def _forked_rng(self, seed: int | None = None) -> Iterator[None]:
        devices = [self._cuda_index()] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if seed is not None:
                torch.manual_seed(seed)
            yield

    def _cuda_index(self) -> int:
        return self.device.index if self.device.index is not None else torch.cuda.current_device()

    def _save_rng(self) -> None:
        self._rng_state = torch.get_rng_state()
        if self.device.type == "cuda":
            self._cuda_rng_state = torch.cuda.get_rng_state(self._cuda_index())

    def _restore_rng(self) -> None:
        if self._rng_state is None:  # each rank draws its own noise, rank 0 exactly as one process
            rank = self.dist.rank
            torch.manual_seed(self.seed if rank == 0 else derived_seed(self.seed, rank, RANK_STREAM))
            return
        torch.set_rng_state(self._rng_state)
        if self.device.type == "cuda" and self._cuda_rng_state is not None:
            torch.cuda.set_rng_state(self._cuda_rng_state.cpu(), self._cuda_index())

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit-for-bit (a collective call under DDP)."""
        local = {
            "rng": self._rng_state if self._rng_state is not None else torch.get_rng_state(),
            "cuda_rng": self._cuda_rng_state,
            "loader": self.loader.state_dict(),
            "log_sums": {k: v.cpu() for k, v in self._sums.items()},
            "log_count": self._n_summed,
        }
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "world_size": self.dist.world_size,
            "settings": dataclasses.asdict(self.config),
            "rows": len(self.problem.source) if self.problem.source is not None else None,
            "data": self._data_fingerprint(),
            "problem": self.problem.state_dict(),
            "ranks": distributed.gather(local, self.dist),
            "history": self.history,
            "best": self.best,
            "warnings": self.warnings,
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        where = self.checkpoint_path or "the checkpoint"
        if "ranks" not in state:
            raise CheckpointError(f"{where} was written by an older biogan; train again without --resume")
        if int(state["world_size"]) != self.dist.world_size:
            raise CheckpointError(
                f"{where} was written by {state['world_size']} processes; resume with the same number "
                f"(now {self.dist.world_size})"
            )
        rows = len(self.problem.source) if self.problem.source is not None else None
        if state.get("rows") not in (None, rows):
            raise CheckpointError(
                f"{where} was written for {state['rows']} training samples but this data has {rows}; "
                "resume with the same data or start a new --out"
            )
        if state.get("data") not in (None, self._data_fingerprint()):
            raise CheckpointError(
                f"{where} was written for other training data (other genes, cells or values); "
                "resume with the same data or start a new --out"
            )
        now = dataclasses.asdict(self.config)
        saved = state.get("settings", now)
        # A setting the checkpoint predates (added in a later biogan) is not a change.
        changed = [f"{k} {saved[k]!r} -> {now[k]!r}" for k in now if k in saved and saved[k] != now[k]]
        if changed:
            raise CheckpointError(
                f"{where} was written with other training settings ({'; '.join(changed)}); resume with "
                "the same settings or start a new --out"
            )
        try:
            self.problem.load_state_dict(state["problem"])
            self._load_extra_state(state)
        except (RuntimeError, KeyError) as err:
            raise CheckpointError(
                f"{where} does not match this model and data (other genes, labels or settings?): "
                f"{str(err).splitlines()[0][:200]}"
            ) from None
        self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
        self.history = [dict(row) for row in state["history"]]
        self.best = state["best"]
        self.warnings = list(state.get("warnings", []))
        mine = state["ranks"][self.dist.rank]
        self._rng_state = mine["rng"].cpu()
        self._cuda_rng_state = mine["cuda_rng"]
        self.loader.load_state_dict(mine["loader"])
        self._sums = {k: v.to(self.device) for k, v in mine["log_sums"].items()}
        self._n_summed = int(mine["log_count"])

    def _data_fingerprint(self) -> str | None:
        if self.problem.source is None:
            return None
        if self._fingerprint is None:  # the data never change during training: hash them once
            self._fingerprint = self.problem.source.fingerprint()
        return self._fingerprint

    def save_checkpoint(self) -> Path:
        """Write the training state to ``checkpoint_path`` atomically (rank 0 writes)."""
        assert self.checkpoint_path is not None
        state = self.state_dict()
        if self.dist.is_main:
            save_state(self.checkpoint_path, state)
        distributed.barrier(self.dist)  # nobody reads the checkpoint before it is complete
        self._last_checkpoint = self.elapsed
        return self.checkpoint_path


def _duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3.5 h``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


__all__ = ["TrainerBase"]
