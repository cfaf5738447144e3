"""Optimisation settings: what the one schedule needs (:class:`ScheduleConfig`) and what each game adds."""

from __future__ import annotations

from dataclasses import dataclass

PRECISIONS = ("bf16", "fp32")


@dataclass
class ScheduleConfig:
    """Settings of :class:`biogan.train.base.TrainerBase` shared by every trainer.

    Parameters
    ----------
    batch_size
        Samples per minibatch over all processes (under DDP each rank takes its share).
    log_every
        Steps between history rows (logged values are averaged over those steps).
    eval_every
        Steps between validation scores used to keep the best weights (0 disables).
    checkpoint_every
        Steps between checkpoints when a checkpoint path is set.
    checkpoint_seconds
        Also checkpoint when this much training time has passed since the last checkpoint (0: only by
        steps), so a kill early in a slow run loses at most this much work.
    grad_clip
        Clip each optimiser's gradient norm to this value (0 disables).
    patience
        Stop early after this many evaluations without a better validation score (0: never).
    """

    batch_size: int = 128
    log_every: int = 10
    eval_every: int = 50
    checkpoint_every: int = 250
    checkpoint_seconds: float = 60.0
    grad_clip: float = 0.0
    patience: int = 0

    def __post_init__(self) -> None:
        for name in ("batch_size", "log_every", "checkpoint_every"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.eval_every < 0 or self.grad_clip < 0 or self.checkpoint_seconds < 0 or self.patience < 0:
            raise ValueError("eval_every, checkpoint_seconds, grad_clip and patience must be >= 0")


@dataclass
class TrainConfig(ScheduleConfig):
    """Settings of the adversarial game (:class:`biogan.train.loop.AdversarialTrainer`).

    Parameters
    ----------
    batch_size, log_every, eval_every, checkpoint_every, checkpoint_seconds, grad_clip, patience
        See :class:`ScheduleConfig`.
    n_critic
        Critic updates per generator update.
    lr_generator, lr_critic
        Adam learning rates (two time-scale update rule: the critic learns faster).
    beta1, beta2
        Adam moment decays.
    ema_decay
        Decay of the generator weight average used for sampling (warmed up over the first steps).
    generator_warmup
        For this many steps only the critic learns (the generator's learning rate is 0), then the
        generator's rate ramps up linearly over as many steps. A generator that starts from fitted
        statistics (ExpressionGAN) is otherwise pushed off them by the first gradients of an untrained
        critic.
    precision
        ``"fp32"``, or ``"bf16"``: networks run under :func:`torch.autocast` with bfloat16 (matrix products in
        bf16, count sampling and losses in fp32; no loss scaling needed). Fastest on GPUs with bf16 units.
    compile
        Compile generator and critic with :func:`torch.compile` (the gradient penalty differentiates the
        eager critic, since compiled graphs do not support double backward). Pays a one-off compile time.
    """

    n_critic: int = 3
    lr_generator: float = 1e-4
    lr_critic: float = 3e-4
    beta1: float = 0.5
    beta2: float = 0.9
    ema_decay: float = 0.999
    generator_warmup: int = 0
    precision: str = "fp32"
    compile: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_critic < 1 or self.lr_generator <= 0 or self.lr_critic <= 0:
            raise ValueError("n_critic must be >= 1 and learning rates > 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, not {self.precision!r}")
        if not 0 <= self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in [0, 1), not {self.ema_decay}")
        if self.generator_warmup < 0:
            raise ValueError(f"generator_warmup must be >= 0 steps, not {self.generator_warmup}")


@dataclass
class LikelihoodTrainConfig(ScheduleConfig):
    """Settings of a likelihood model's training (:class:`biogan.train.likelihood.LikelihoodTrainer`).

    Parameters
    ----------
    batch_size, log_every, eval_every, checkpoint_every, checkpoint_seconds, grad_clip, patience
        See :class:`ScheduleConfig`.
    lr
        Adam learning rate (one optimiser).
    weight_decay
        Adam L2 penalty.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr <= 0 or self.weight_decay < 0:
            raise ValueError("lr must be > 0 and weight_decay >= 0")


__all__ = ["LikelihoodTrainConfig", "ScheduleConfig", "TrainConfig"]
