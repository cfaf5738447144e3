"""What every biogan training loop shares: seeded RNG, resume, history, diagnostics, best weights.

Subclasses own their optimisers and implement :meth:`TrainerBase._run` (the loop itself) plus
:meth:`TrainerBase._extra_state` / :meth:`TrainerBase._load_extra_state` for what they add to a checkpoint.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biogan.errors import TrainingWarning
from biogan.train.checkpoint import load_state, save_state


class TrainerBase:
    """Step counter, wall time, history rows, warnings, best validated weights and RNG state.

    All randomness comes from torch's global generator inside :func:`torch.random.fork_rng`, seeded
    once and saved in every checkpoint, so a resumed run on CPU ends in exactly the weights of an
    uninterrupted one.
    """

    def __init__(
        self,
        problem: nn.Module,
        config: Any,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        self.device = torch.device(device)
        self.problem = problem.to(self.device)
        self.config = config
        self.seed = seed
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.step = 0
        self.elapsed = 0.0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.warnings: list[str] = []
        self._rng_state: torch.Tensor | None = None
        self._cuda_rng_state: list[torch.Tensor] = []

    def fit(
        self, max_steps: int, max_seconds: float | None = None, resume: bool = False, progress: bool = True
    ) -> None:
        """Train until ``max_steps`` steps (or ``max_seconds`` of wall time) are done.

        With ``resume=True`` the state is first restored from ``checkpoint_path`` when it exists.
        Calling ``fit`` again continues where the previous call stopped.
        """
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if resume and self.checkpoint_path and self.checkpoint_path.exists():
                self.load_state_dict(load_state(self.checkpoint_path, self.device))
            self._restore_rng()
            self._run(max_steps, max_seconds, progress)
            self._save_rng()
        if self.checkpoint_path:
            self.save_checkpoint()

    def _run(self, max_steps: int, max_seconds: float | None, progress: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    # ------------------------------------------------------------------ shared pieces of a loop
    def _warn(self, messages: Iterable[str | None]) -> None:
        """Issue each diagnostics message once per run, as a :class:`TrainingWarning`."""
        for message in messages:
            if message and message not in self.warnings:
                self.warnings.append(message)
                warnings.warn(f"step {self.step}: {message}", TrainingWarning, stacklevel=3)

    def _keep_if_best(self, score: float, weights: nn.Module) -> None:
        """Record ``score`` and keep a copy of ``weights`` when it is the best (lowest) so far."""
        if self.best is None or score < self.best["score"]:
            state = {k: v.detach().clone() for k, v in weights.state_dict().items()}
            self.best = {"score": score, "step": self.step, "state": state}

    def _checkpoint_if_due(self, every: int) -> None:
        if self.checkpoint_path and self.step % every == 0:
            self._save_rng()
            self.save_checkpoint()

    # ------------------------------------------------------------------ state
    def _save_rng(self) -> None:
        self._rng_state = torch.get_rng_state()
        if self.device.type == "cuda":
            self._cuda_rng_state = [torch.cuda.get_rng_state(self.device)]

    def _restore_rng(self) -> None:
        if self._rng_state is None:
            torch.manual_seed(self.seed)
            return
        torch.set_rng_state(self._rng_state)
        if self.device.type == "cuda" and self._cuda_rng_state:
            torch.cuda.set_rng_state(self._cuda_rng_state[0].cpu(), self.device)

    def _extra_state(self) -> dict[str, Any]:
        """Subclass state (optimisers, EMA) to add to a checkpoint."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`_extra_state` returned."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit-for-bit."""
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "problem": self.problem.state_dict(),
            "rng": self._rng_state if self._rng_state is not None else torch.get_rng_state(),
            "cuda_rng": self._cuda_rng_state,
            "history": self.history,
            "best": self.best,
            "warnings": self.warnings,
            **self._extra_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.problem.load_state_dict(state["problem"])
        self._load_extra_state(state)
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.history = [dict(row) for row in state["history"]]
        self.best = state["best"]
        self.warnings = list(state.get("warnings", []))
        self._rng_state = state["rng"].cpu()
        self._cuda_rng_state = list(state.get("cuda_rng", []))

    def save_checkpoint(self) -> Path:
        """Write the training state to ``checkpoint_path`` atomically."""
        assert self.checkpoint_path is not None
        return save_state(self.checkpoint_path, self.state_dict())
