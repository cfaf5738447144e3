"""The adversarial step: ``n_critic`` critic updates, one generator update, an EMA of the generator.

The schedule around it (logging, evaluation, checkpoints, resume, DDP) is :class:`~biogan.train.base.
TrainerBase`'s; this file holds only what a GAN adds.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from biogan.train.base import TrainerBase
from biogan.train.config import TrainConfig
from biogan.train.distributed import wrap
from biogan.train.ema import make_ema, update_ema
from biogan.train.problem import AdversarialProblem


class AdversarialTrainer(TrainerBase):
    """Trains an :class:`AdversarialProblem`; holds the optimisers and the EMA generator.

    Parameters
    ----------
    problem
        The model's generator, critic and data source.
    config
        Optimisation settings.
    seed
        Seeds torch's generator at step 0.
    checkpoint_path
        Where to write checkpoints (``None``: no checkpoints).
    device
        Where to train.
    """

    postfix = ("critic_loss", "generator_loss", "wasserstein")

    def __init__(
        self,
        problem: AdversarialProblem,
        config: TrainConfig,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(problem, config, seed, checkpoint_path, device)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(problem.generator.parameters(), config.lr_generator, betas=betas)
        self.opt_d = torch.optim.Adam(problem.critic.parameters(), config.lr_critic, betas=betas)
        self.generator = wrap(problem.generator, self.dist, self.device)  # DDP copies rank 0's weights
        self.critic = wrap(problem.critic, self.dist, self.device)
        self.ema = make_ema(problem.generator)  # after the wrap: the same start on every rank
        self.scorer = problem.critic  # what the generator's loss reads (compiled when asked)
        if config.compile:  # after DDP, as torch recommends; unwrap() still reaches the eager modules
            self.generator, self.critic = torch.compile(self.generator), torch.compile(self.critic)
            self.scorer = torch.compile(problem.critic)

    def _autocast(self) -> torch.autocast:
        """bf16 autocast for ``precision="bf16"`` (a no-op context otherwise)."""
        enabled = self.config.precision == "bf16"
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=enabled)

    def train_step(self) -> dict[str, torch.Tensor]:
        problem, cfg = self.problem, self.config
        for _ in range(cfg.n_critic):
            with self._autocast():
                real = problem.real_batch(self.loader.next())
                with torch.no_grad():
                    fake = problem.fake_batch(real, problem.generator)
                loss, logs = problem.critic_loss(real, fake, self.critic)
            self._optimizer_step(self.opt_d, loss)
        problem.critic.requires_grad_(False)  # no wasted gradients into the critic
        for group in self.opt_g.param_groups:
            group["lr"] = self.generator_lr()
        with self._autocast():
            real = problem.real_batch(self.loader.next())
            fake = problem.fake_batch(real, self.generator)
            loss, generator_logs = problem.generator_loss(real, fake, self.scorer)
        self._optimizer_step(self.opt_g, loss)
        problem.critic.requires_grad_(True)  # trainable again for the next critic updates
        update_ema(self.ema, problem.generator, min(cfg.ema_decay, (1 + self.step) / (10 + self.step)))
        return {**logs, **generator_logs}

    def generator_lr(self) -> float:
        """The generator's learning rate at this step: 0 during the critic's warm-up, then a linear ramp."""
        warmup = self.config.generator_warmup
        if warmup == 0:
            return self.config.lr_generator
        return self.config.lr_generator * min(1.0, max(0.0, self.step / warmup - 1.0))

    def kept_module(self) -> nn.Module:
        return self.ema

    def validation_score(self) -> float | None:
        return self.problem.validation_score(self.ema)

    def monitor(self) -> dict[str, float]:
        return self.problem.monitor(self.ema)

    def restart_from_best(self) -> None:
        """Continue training from the best validated weights (generator and EMA alike)."""
        state = self.best_state()
        self.problem.generator.load_state_dict(state)
        self.ema.load_state_dict(state)

    def sampling_generator(self) -> nn.Module:
        """The generator to sample from: the best validated EMA weights if any, else the current EMA."""
        best = make_ema(self.ema)
        best.load_state_dict(self.best_state())
        return best

    def _extra_state(self) -> dict[str, Any]:
        return {
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
        }

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])


__all__ = ["AdversarialTrainer", "TrainConfig"]
