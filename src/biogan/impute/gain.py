"""GAIN (Yoon et al. 2018) as an :class:`~biogan.train.AdversarialProblem`, and a plain reimplementation.

The game: a generator fills the missing entries of a row; a discriminator sees the filled row plus a
*hint* (the true mask for a random 90 % of entries, 0.5 elsewhere) and predicts, per entry, whether it was
observed. The generator minimises the discriminator's confidence on imputed entries plus ``alpha`` times
a reconstruction MSE. :class:`GAINImputer` is the paper's recipe (batch 128, hint rate 0.9, alpha 100,
10,000 iterations) and serves as the ablation for :class:`biogan.impute.GANImputer`.
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from biogan.data.sources import ArraySource
from biogan.data.validation import numeric_matrix
from biogan.errors import InvalidDataError, TrainingWarning
from biogan.nn.layers import mlp
from biogan.train import AdversarialProblem, AdversarialTrainer, Batch, TrainConfig


def gain_train_config(batch_size: int = 128, lr: float = 1e-3, eval_every: int = 0) -> TrainConfig:
    """The paper's optimisation: one discriminator step per generator step, Adam (0.9, 0.999)."""
    return TrainConfig(
        batch_size=batch_size,
        n_critic=1,
        lr_generator=lr,
        lr_critic=lr,
        beta1=0.9,
        beta2=0.999,
        ema_decay=0.99,
        log_every=max(1, eval_every or 100),
        eval_every=eval_every,
    )


@dataclass
class GAINSettings:
    """Network, loss and optimisation settings of one GAIN game.

    Parameters
    ----------
    hidden
        Widths of the hidden layers of generator and discriminator (the paper: two layers of width d).
    noise_dim
        Extra Gaussian noise inputs of the generator (0: the paper's uniform noise in the missing slots).
    residual
        The generator corrects its input fill (output = input + correction, correction initialised to 0)
        instead of emitting values through a sigmoid.
    hint_rate
        Fraction of entries whose true mask the discriminator is told.
    alpha
        Weight of the reconstruction MSE in the generator loss.
    max_steps
        Generator steps.
    train
        Optimisation settings of the shared schedule (batch size, learning rates, EMA, evaluation).
    """

    hidden: tuple[int, ...] = (32, 32)
    noise_dim: int = 0
    residual: bool = False
    hint_rate: float = 0.9
    alpha: float = 100.0
    max_steps: int = 10_000
    train: TrainConfig = field(default_factory=gain_train_config)


def _xavier(linear: nn.Linear) -> None:
    nn.init.xavier_normal_(linear.weight)  # the paper's initialisation
    nn.init.zeros_(linear.bias)


def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> tuple[nn.Sequential, nn.Linear]:
    return mlp([in_dim, *hidden], init=_xavier), nn.Linear(hidden[-1] if hidden else in_dim, out_dim)


class GAINGenerator(nn.Module):
    """Row with missing slots filled, its mask (and noise) in; an imputed row out."""

    def __init__(self, dim: int, hidden: tuple[int, ...], noise_dim: int = 0, residual: bool = False):
        super().__init__()
        self.noise_dim, self.residual = noise_dim, residual
        self.body, self.head = _mlp(2 * dim + noise_dim, hidden, dim)
        if residual:  # start exactly at the input fill: training can only move away if it helps
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        parts = [x, mask] if z is None else [x, mask, z]
        out = self.head(self.body(torch.cat(parts, dim=1)))
        return x + out if self.residual else torch.sigmoid(out)


class GAINDiscriminator(nn.Module):
    """Imputed row and hint in; per-entry logits of "this entry was observed" out."""

    def __init__(self, dim: int, hidden: tuple[int, ...]):
        super().__init__()
        self.body, self.head = _mlp(2 * dim, hidden, dim)

    def forward(self, x: torch.Tensor, hint: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(torch.cat([x, hint], dim=1)))


@dataclass
class ImputationData:
    """Training rows for the GAIN game, all (rows x features) float tensors.

    ``inputs`` is what the generator sees (observed values, and a fill or zeros elsewhere); ``mask`` is 1
    where the input is observed; ``target`` holds known true values; the reconstruction loss applies where
    ``recon_mask`` is 1.
    """

    inputs: torch.Tensor
    mask: torch.Tensor
    target: torch.Tensor
    recon_mask: torch.Tensor


class GAINProblem(AdversarialProblem):
    """The GAIN game for the shared loop: per-entry discriminator with hints, reconstruction term.

    Parameters
    ----------
    data
        Training rows.
    settings
        Network and loss settings.
    validation
        Rows whose ``recon_mask`` marks held-out observed entries; the RMSE there is the validation score.
    """

    def __init__(
        self, data: ImputationData, settings: GAINSettings, validation: ImputationData | None = None
    ) -> None:
        super().__init__(loss=None, gp_weight=0.0)  # GAIN has its own losses
        dim = data.inputs.shape[1]
        self.settings, self.validation = settings, validation
        self.source = ArraySource(
            x=data.inputs, mask=data.mask, target=data.target, recon_mask=data.recon_mask
        )
        self.generator = GAINGenerator(dim, settings.hidden, settings.noise_dim, settings.residual)
        self.critic = GAINDiscriminator(dim, settings.hidden)

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        x = rows["x"]
        return Batch(x=x, y=torch.zeros(len(x), dtype=torch.long, device=x.device), extra=rows)

    def generator_input(self, x: torch.Tensor, mask: torch.Tensor, random: bool = True):
        """The paper puts U(0, 0.01) noise in the missing slots; the residual generator takes N(0, 1)
        noise inputs instead (zeros when ``random`` is false: a deterministic, row-wise imputation)."""
        s = self.settings
        if s.residual:
            z = None
            if s.noise_dim:
                shape = (x.shape[0], s.noise_dim)
                z = torch.randn(shape, device=x.device) if random else torch.zeros(shape, device=x.device)
            return x, z
        noise = 0.01 * torch.rand_like(x) if random else torch.full_like(x, 0.005)
        return mask * x + (1 - mask) * noise, None

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:
        assert real.extra is not None
        mask = real.extra["mask"]
        x_in, z = self.generator_input(real.x, mask)
        raw = generator(x_in, mask, z)
        filled = mask * real.x + (1 - mask) * raw
        return Batch(x=filled, y=real.y, extra={**real.extra, "raw": raw})

    def _hint(self, mask: torch.Tensor) -> torch.Tensor:
        b = (torch.rand_like(mask) < self.settings.hint_rate).float()
        return b * mask + 0.5 * (1 - b)

    def critic_loss(
        self, real: Batch, fake: Batch, critic: nn.Module
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        assert real.extra is not None
        mask = real.extra["mask"]
        logits = critic(fake.x, self._hint(mask))
        loss = F.binary_cross_entropy_with_logits(logits, mask)
        # Log names differ from the WGAN ones on purpose: the loop's WGAN diagnostics do not apply here.
        return loss, {"discriminator_bce": loss.detach()}

    def generator_loss(
        self, real: Batch, fake: Batch, critic: nn.Module
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        assert fake.extra is not None
        mask, recon_mask = fake.extra["mask"], fake.extra["recon_mask"]
        logits = critic(fake.x, self._hint(mask))
        adversarial = -((1 - mask) * F.logsigmoid(logits)).mean()
        sq = (recon_mask * (fake.extra["raw"] - fake.extra["target"])) ** 2
        reconstruction = sq.sum() / recon_mask.sum().clamp_min(1.0)
        loss = adversarial + self.settings.alpha * reconstruction
        return loss, {"g_adversarial": adversarial.detach(), "g_reconstruction": reconstruction.detach()}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        if self.validation is None:
            return None
        v = self.validation
        return masked_rmse(self.impute(generator, v.inputs, v.mask), v.target, v.recon_mask)

    @torch.no_grad()
    def impute(self, generator: nn.Module, x: torch.Tensor, mask: torch.Tensor, random: bool = False):
        """Generator output for every entry (deterministic unless ``random``)."""
        x_in, z = self.generator_input(x, mask, random=random)
        return generator(x_in, mask, z)


def seeded_problem(
    seed: int, data: ImputationData, settings: GAINSettings, validation: ImputationData | None = None
) -> GAINProblem:
    """A :class:`GAINProblem` whose initial weights come from ``seed`` (the global RNG is left as is)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GAINProblem(data, settings, validation)


def masked_rmse(pred: torch.Tensor, target: torch.Tensor, where: torch.Tensor) -> float:
    """RMSE over the entries where ``where`` is 1."""
    return float(torch.sqrt(((pred - target) ** 2 * where).sum() / where.sum().clamp_min(1.0)))


def train_gain(
    problem: GAINProblem,
    seed: int,
    progress: bool = False,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
) -> tuple[AdversarialTrainer, list[str]]:
    """Train ``problem`` with the shared schedule (checkpoints and resume as every model has them).

    The schedule's warnings are printed only with ``progress``; they are returned either way.
    """
    trainer = AdversarialTrainer(problem, problem.settings.train, seed=seed, checkpoint_path=checkpoint_path)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()) if not progress else contextlib.nullcontext(),
        ):
            if not progress:  # "validation stalled" is expected here: the best weights are kept
                warnings.simplefilter("ignore", TrainingWarning)
            trainer.fit(max_steps=problem.settings.max_steps, progress=progress, resume=resume)
    except FloatingPointError as err:
        raise InvalidDataError(f"imputation training diverged: {err}") from None
    return trainer, list(trainer.warnings)


class GAINImputer(TransformerMixin, BaseEstimator):
    """Plain GAIN, faithful to the paper (ablation baseline for :class:`~biogan.impute.GANImputer`).

    Min-max scales each column, trains the GAIN game on all observed entries (reconstruction on the
    observed entries themselves, no validation, no initial fill) and returns the generator's values in the
    missing slots. Numeric data only; returns a float64 array.

    Parameters
    ----------
    batch_size, hint_rate, alpha, max_iter
        The paper's defaults: 128, 0.9, 100, 10,000.
    learning_rate
        Adam learning rate (TensorFlow's default in the reference code).
    random_state
        Seed for reproducible training and imputation.
    """

    def __init__(
        self,
        batch_size: int = 128,
        hint_rate: float = 0.9,
        alpha: float = 100.0,
        max_iter: int = 10_000,
        learning_rate: float = 1e-3,
        random_state: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.hint_rate = hint_rate
        self.alpha = alpha
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.random_state = random_state

    def fit(self, X, y=None) -> GAINImputer:
        """Train the generator on ``X`` (NaN = missing)."""
        A = numeric_matrix(X)
        self.n_features_in_ = A.shape[1]
        self.low_ = np.nanmin(np.where(np.isnan(A), np.inf, A), axis=0)
        high = np.nanmax(np.where(np.isnan(A), -np.inf, A), axis=0)
        if not np.all(np.isfinite(self.low_)):
            raise InvalidDataError("X has columns without any observed value; GAIN cannot impute them")
        self.scale_ = np.where(high > self.low_, high - self.low_, 1.0)
        data = self._tensors(A)
        d = A.shape[1]
        settings = GAINSettings(
            hidden=(d, d),
            hint_rate=self.hint_rate,
            alpha=self.alpha,
            max_steps=self.max_iter,
            train=gain_train_config(self.batch_size, self.learning_rate),
        )
        self.seed_ = int(check_random_state(self.random_state).randint(2**31 - 1))
        self.problem_ = seeded_problem(self.seed_, ImputationData(*data, recon_mask=data[1]), settings)
        self.trainer_, self.training_warnings_ = train_gain(self.problem_, self.seed_)
        return self

    def _tensors(self, A: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mask = ~np.isnan(A)
        scaled = np.where(mask, (A - self.low_) / self.scale_, 0.0)
        x = torch.as_tensor(scaled, dtype=torch.float32)
        return x, torch.as_tensor(mask, dtype=torch.float32), x

    def transform(self, X) -> np.ndarray:
        """``X`` with its missing entries imputed (observed entries unchanged)."""
        check_is_fitted(self, "problem_")
        A = numeric_matrix(X)
        if A.shape[1] != self.n_features_in_:
            raise InvalidDataError(
                f"X has {A.shape[1]} columns but the imputer was fit on {self.n_features_in_}"
            )
        x, mask, _ = self._tensors(A)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed_)
            raw = self.problem_.impute(self.problem_.generator, x, mask, random=True).double().numpy()
        return np.where(np.isnan(A), self.low_ + raw * self.scale_, A)
