"""A small training loop for likelihood models (VAEs): one optimiser, one loss.

It follows the adversarial loop's conventions (:mod:`biogan.train.loop`) without bending it: all
randomness comes from torch's global generator inside :func:`torch.random.fork_rng` (seeded once, saved
in every checkpoint), a history row every ``log_every`` steps, a validation score every ``eval_every``
steps with the best weights kept, atomic checkpoints, a tqdm bar showing the loss, and diagnostics that
warn with a suggested fix.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from biogan.errors import TrainingWarning
from biogan.train.checkpoint import load_state, save_state
from biogan.train.diagnostics import stalled

Rule = Callable[[list[dict[str, float]]], "str | None"]


@dataclass
class LikelihoodTrainConfig:
    """Optimisation settings of :class:`LikelihoodTrainer`.

    Parameters
    ----------
    batch_size
        Cells per minibatch.
    lr
        Adam learning rate.
    weight_decay
        Adam L2 penalty.
    log_every
        Steps between history rows.
    eval_every
        Steps between validation scores used to keep the best weights (0 disables).
    checkpoint_every
        Steps between checkpoints when a checkpoint path is set.
    """

    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-6
    log_every: int = 10
    eval_every: int = 50
    checkpoint_every: int = 250


class LikelihoodProblem(nn.Module):
    """What :class:`LikelihoodTrainer` needs: a minibatch loss and, optionally, a validation score.

    All randomness must come from torch's global generator, which the loop seeds and checkpoints.
    """

    def batch_loss(
        self, batch_size: int, step: int
    ) -> tuple[torch.Tensor, dict[str, float]]:  # pragma: no cover
        """Loss of one random minibatch and what to log."""
        raise NotImplementedError

    @torch.no_grad()
    def validation_score(self) -> float | None:
        """A lower-is-better held-out score used to keep the best weights; ``None`` disables it."""
        return None


def posterior_collapse(
    history: list[dict[str, float]], window: int = 3, threshold: float = 0.05
) -> str | None:
    """The KL term stays near zero after warm-up: the latent code carries no information."""
    rows = [r for r in history if "kl" in r and r.get("kl_weight", 1.0) >= 1.0]
    if len(rows) >= window and all(r["kl"] < threshold for r in rows[-window:]):
        return (
            "posterior collapse: the latent code carries almost no information (KL near 0), so all cells "
            "of a label look alike; try a longer kl_warmup_steps, a smaller n_latent or less dropout"
        )
    return None


class LikelihoodTrainer:
    """Trains a :class:`LikelihoodProblem`; holds the optimiser, history and the best weights.

    Parameters
    ----------
    problem
        The model and its batch source.
    config
        Optimisation settings.
    seed
        Seeds torch's generator at step 0.
    checkpoint_path
        Where to write checkpoints (``None``: no checkpoints).
    device
        Where to train.
    rules
        Diagnostics: functions of the history returning a warning message or ``None``.
    """

    def __init__(
        self,
        problem: LikelihoodProblem,
        config: LikelihoodTrainConfig,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
        rules: Sequence[Rule] = (stalled, posterior_collapse),
    ) -> None:
        self.device = torch.device(device)
        self.problem = problem.to(self.device)
        self.config = config
        self.seed = seed
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.rules = tuple(rules)
        params = [p for p in problem.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, config.lr, weight_decay=config.weight_decay)
        self.step = 0
        self.elapsed = 0.0
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None
        self.warnings: list[str] = []
        self._rng_state: torch.Tensor | None = None

    def fit(
        self, max_steps: int, max_seconds: float | None = None, resume: bool = False, progress: bool = True
    ) -> None:
        """Train until ``max_steps`` steps (or ``max_seconds`` of wall time) are done.

        With ``resume=True`` the state is first restored from ``checkpoint_path`` when it exists;
        calling ``fit`` again continues where the previous call stopped.
        """
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            if resume and self.checkpoint_path and self.checkpoint_path.exists():
                self.load_state_dict(load_state(self.checkpoint_path, self.device))
            if self._rng_state is None:
                torch.manual_seed(self.seed)
            else:
                torch.set_rng_state(self._rng_state)
            self._run(max_steps, max_seconds, progress)
            self._rng_state = torch.get_rng_state()
        if self.checkpoint_path:
            self.save_checkpoint()

    def _run(self, max_steps: int, max_seconds: float | None, progress: bool) -> None:
        cfg = self.config
        start, start_elapsed = time.perf_counter(), self.elapsed
        bar = tqdm(total=max_steps, initial=self.step, disable=not progress, desc="training", unit="step")
        while self.step < max_steps:
            self.problem.train()
            loss, logs = self.problem.batch_loss(cfg.batch_size, self.step)
            if not math.isfinite(loss.item()):
                raise FloatingPointError(
                    f"training diverged at step {self.step}: the loss became NaN/inf; try a lower lr"
                )
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.step += 1
            self.elapsed = start_elapsed + time.perf_counter() - start
            out_of_time = max_seconds is not None and self.elapsed >= max_seconds
            if self.step % cfg.log_every == 0 or out_of_time:
                self._log(logs, bar)
            if cfg.eval_every and (self.step % cfg.eval_every == 0 or out_of_time):
                self._evaluate()
            if self.checkpoint_path and self.step % cfg.checkpoint_every == 0:
                self._rng_state = torch.get_rng_state()
                self.save_checkpoint()
            bar.update(1)
            if out_of_time:
                break
        bar.close()

    def _log(self, logs: dict[str, float], bar: tqdm) -> None:
        self.history.append({"step": float(self.step), "elapsed_s": round(self.elapsed, 3), **logs})
        bar.set_postfix({"loss": f"{logs.get('loss', float('nan')):.4g}"})
        for rule in self.rules:
            message = rule(self.history)
            if message and message not in self.warnings:
                self.warnings.append(message)
                warnings.warn(f"step {self.step}: {message}", TrainingWarning, stacklevel=2)

    def _evaluate(self) -> None:
        self.problem.eval()
        with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG
            score = self.problem.validation_score()
        if score is None:
            return
        if self.history and self.history[-1]["step"] == self.step:
            self.history[-1]["validation_score"] = score
        if self.best is None or score < self.best["score"]:
            state = {k: v.detach().clone() for k, v in self.problem.state_dict().items()}
            self.best = {"score": score, "step": self.step, "state": state}

    def best_state(self) -> dict[str, torch.Tensor]:
        """The problem's weights to keep: the best validated ones if any, else the current ones."""
        return self.best["state"] if self.best is not None else self.problem.state_dict()

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training bit-for-bit on CPU."""
        return {
            "step": self.step,
            "elapsed": self.elapsed,
            "problem": self.problem.state_dict(),
            "opt": self.opt.state_dict(),
            "rng": self._rng_state if self._rng_state is not None else torch.get_rng_state(),
            "history": self.history,
            "best": self.best,
            "warnings": self.warnings,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        self.problem.load_state_dict(state["problem"])
        self.opt.load_state_dict(state["opt"])
        self.step = int(state["step"])
        self.elapsed = float(state["elapsed"])
        self.history = [dict(row) for row in state["history"]]
        self.best = state["best"]
        self.warnings = list(state.get("warnings", []))
        self._rng_state = state["rng"].cpu()

    def save_checkpoint(self) -> Path:
        """Write the training state to ``checkpoint_path`` atomically."""
        assert self.checkpoint_path is not None
        return save_state(self.checkpoint_path, self.state_dict())


def steps_for_epochs(n_cells: int, batch_size: int, epochs: float) -> int:
    """Minibatch steps that show each cell about ``epochs`` times."""
    return max(1, int(np.ceil(epochs * n_cells / batch_size)))


__all__ = [
    "LikelihoodProblem",
    "LikelihoodTrainConfig",
    "LikelihoodTrainer",
    "posterior_collapse",
    "steps_for_epochs",
]
