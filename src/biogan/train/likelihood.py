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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from biogan.train.base import TrainerBase
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


class LikelihoodTrainer(TrainerBase):
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
        super().__init__(problem, config, seed, checkpoint_path, device)
        self.rules = tuple(rules)
        params = [p for p in problem.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, config.lr, weight_decay=config.weight_decay)

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
            self._checkpoint_if_due(cfg.checkpoint_every)
            bar.update(1)
            if out_of_time:
                break
        bar.close()

    def _log(self, logs: dict[str, float], bar: tqdm) -> None:
        self.history.append({"step": float(self.step), "elapsed_s": round(self.elapsed, 3), **logs})
        bar.set_postfix({"loss": f"{logs.get('loss', float('nan')):.4g}"})
        self._warn(rule(self.history) for rule in self.rules)

    def _evaluate(self) -> None:
        self.problem.eval()
        with torch.random.fork_rng(devices=[]):  # evaluation must not shift the training RNG
            score = self.problem.validation_score()
        if score is None:
            return
        if self.history and self.history[-1]["step"] == self.step:
            self.history[-1]["validation_score"] = score
        self._keep_if_best(score, self.problem)

    def best_state(self) -> dict[str, torch.Tensor]:
        """The problem's weights to keep: the best validated ones if any, else the current ones."""
        return self.best["state"] if self.best is not None else self.problem.state_dict()

    def _extra_state(self) -> dict[str, Any]:
        return {"opt": self.opt.state_dict()}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.opt.load_state_dict(state["opt"])


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
