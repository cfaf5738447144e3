"""The likelihood step (VAEs): one optimiser, one loss. The schedule is :class:`TrainerBase`'s."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

from biogan.train.base import TrainerBase
from biogan.train.config import LikelihoodTrainConfig
from biogan.train.diagnostics import stalled
from biogan.train.distributed import wrap
from biogan.train.problem import LikelihoodProblem


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
    """Trains a :class:`LikelihoodProblem` by minimising its minibatch loss with Adam.

    Parameters
    ----------
    problem
        The model and its data source.
    config
        Optimisation settings.
    seed
        Seeds torch's generator at step 0.
    checkpoint_path
        Where to write checkpoints (``None``: no checkpoints).
    device
        Where to train.
    """

    rules = (stalled, posterior_collapse)
    postfix = ("loss",)

    def __init__(
        self,
        problem: LikelihoodProblem,
        config: LikelihoodTrainConfig,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(problem, config, seed, checkpoint_path, device)
        params = [p for p in problem.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(params, config.lr, weight_decay=config.weight_decay)
        self.module = wrap(problem, self.dist, self.device, broadcast_buffers=False)

    def train_step(self) -> dict[str, torch.Tensor]:
        loss, logs = self.module(self.loader.next(), self.step)
        self._optimizer_step(self.opt, loss)
        return logs

    def kept_module(self) -> nn.Module:
        return self.problem

    def validation_score(self) -> float | None:
        return self.problem.validation_score()

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
