"""The one adversarial training loop every biogan model uses.

Minimal on purpose (nanoGPT-style): ``n_critic`` critic updates, one generator update, an EMA of the
generator, a log row every ``log_every`` steps, a validation score every ``eval_every`` steps (the best EMA
weights are kept), and an atomic checkpoint every ``checkpoint_every`` steps. Seeding, resume and state
live in :class:`biogan.train.base.TrainerBase`.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from biogan.train.base import TrainerBase
from biogan.train.diagnostics import diagnose
from biogan.train.ema import make_ema, update_ema
from biogan.train.problem import AdversarialProblem


@dataclass
class TrainConfig:
    """Optimisation settings shared by every adversarial model.

    Parameters
    ----------
    batch_size
        Samples per minibatch.
    n_critic
        Critic updates per generator update.
    lr_generator, lr_critic
        Adam learning rates (two time-scale update rule: the critic learns faster).
    beta1, beta2
        Adam moment decays.
    ema_decay
        Decay of the generator weight average used for sampling (warmed up over the first steps).
    log_every
        Steps between history rows.
    eval_every
        Steps between validation scores used to keep the best weights (0 disables).
    checkpoint_every
        Steps between checkpoints when a checkpoint path is set.
    """

    batch_size: int = 128
    n_critic: int = 3
    lr_generator: float = 1e-4
    lr_critic: float = 3e-4
    beta1: float = 0.5
    beta2: float = 0.9
    ema_decay: float = 0.999
    log_every: int = 10
    eval_every: int = 50
    checkpoint_every: int = 250


class AdversarialTrainer(TrainerBase):
    """Trains an :class:`AdversarialProblem`; holds optimisers, EMA, history and the best weights.

    Parameters
    ----------
    problem
        The model's generator, critic and batch source.
    config
        Optimisation settings.
    seed
        Seeds torch's generator at step 0.
    checkpoint_path
        Where to write checkpoints (``None``: no checkpoints).
    device
        Where to train.
    """

    def __init__(
        self,
        problem: AdversarialProblem,
        config: TrainConfig,
        seed: int = 0,
        checkpoint_path: str | os.PathLike | None = None,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__(problem, config, seed, checkpoint_path, device)
        self.ema = make_ema(problem.generator)
        betas = (config.beta1, config.beta2)
        self.opt_g = torch.optim.Adam(problem.generator.parameters(), config.lr_generator, betas=betas)
        self.opt_d = torch.optim.Adam(problem.critic.parameters(), config.lr_critic, betas=betas)

    # ------------------------------------------------------------------ training
    def _run(self, max_steps: int, max_seconds: float | None, progress: bool) -> None:
        cfg, problem = self.config, self.problem
        start, start_elapsed = time.perf_counter(), self.elapsed
        bar = tqdm(total=max_steps, initial=self.step, disable=not progress, desc="training", unit="step")
        problem.train()
        if cfg.eval_every and self.step == 0 and self.best is None:
            self._evaluate()  # the starting point competes too: training must beat it to be kept
        while self.step < max_steps:
            logs = self._critic_steps(cfg.n_critic)
            logs.update(self._generator_step())
            update_ema(self.ema, problem.generator, min(cfg.ema_decay, (1 + self.step) / (10 + self.step)))
            self.step += 1
            self.elapsed = start_elapsed + time.perf_counter() - start
            # Logs and evaluations follow a fixed schedule, so an interrupted-and-resumed run keeps the
            # same history and best weights as an uninterrupted one; a time budget adds a final one.
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

    def _critic_steps(self, n: int) -> dict[str, float]:
        problem = self.problem
        problem.critic.requires_grad_(True)
        logs: dict[str, float] = {}
        for _ in range(n):
            real = problem.real_batch(self.config.batch_size)
            with torch.no_grad():
                fake = problem.fake_batch(real)
            loss, logs = problem.critic_loss(real, fake)
            self.opt_d.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_d.step()
        return logs

    def _generator_step(self) -> dict[str, float]:
        problem = self.problem
        problem.critic.requires_grad_(False)  # no wasted gradients into the critic
        real = problem.real_batch(self.config.batch_size)
        fake = problem.fake_batch(real)
        loss, logs = problem.generator_loss(real, fake)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return logs

    def _log(self, logs: dict[str, float], bar: tqdm) -> None:
        with torch.random.fork_rng(devices=[]):  # diagnostics must not shift the training RNG
            row = {"step": float(self.step), "elapsed_s": round(self.elapsed, 3), **logs}
            row.update(self.problem.monitor(self.ema))
        bad = [k for k, v in row.items() if not math.isfinite(v)]
        if bad:
            raise FloatingPointError(
                f"training diverged at step {self.step}: {', '.join(bad)} became NaN/inf; "
                "try a lower learning rate or the default wgan-gp loss"
            )
        self.history.append(row)
        bar.set_postfix(
            {k: f"{row[k]:.3g}" for k in ("critic_loss", "generator_loss", "wasserstein") if k in row}
        )
        self._warn(diagnose(self.history))

    def _evaluate(self) -> None:
        with torch.random.fork_rng(devices=[]):
            score = self.problem.validation_score(self.ema)
        if score is None:
            return
        if self.history:
            self.history[-1]["validation_score"] = score
        self._keep_if_best(score, self.ema)

    # ------------------------------------------------------------------ state
    def sampling_generator(self) -> torch.nn.Module:
        """The generator to sample from: the best validated EMA weights if any, else the current EMA."""
        if self.best is None:
            return self.ema
        best = make_ema(self.ema)
        best.load_state_dict(self.best["state"])
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
