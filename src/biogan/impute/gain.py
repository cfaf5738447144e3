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
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

import biogan.errors
from biogan.errors import InvalidDataError
from biogan.train import AdversarialProblem, AdversarialTrainer, Batch, TrainConfig

# The loop reports its diagnostics as this warning class (UserWarning before it existed).
_TRAINING_WARNING: type[Warning] = getattr(biogan.errors, "TrainingWarning", UserWarning)
_null = contextlib.nullcontext


@dataclass
class GAINSettings:
    """Network and optimisation settings of one GAIN game.

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
    batch_size, max_iter, lr
        Minibatch size, generator steps and Adam learning rate.
    eval_every
        Steps between validation scores (0: no validation).
    ema_decay
        Decay of the generator weight average.
    """

    hidden: tuple[int, ...] = (32, 32)
    noise_dim: int = 0
    residual: bool = False
    hint_rate: float = 0.9
    alpha: float = 100.0
    batch_size: int = 128
    max_iter: int = 10_000
    lr: float = 1e-3
    eval_every: int = 0
    ema_decay: float = 0.99


def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> tuple[nn.Sequential, nn.Linear]:
    layers: list[nn.Module] = []
    width = in_dim
    for h in hidden:
        linear = nn.Linear(width, h)
        nn.init.xavier_normal_(linear.weight)  # the paper's initialisation
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
        width = h
    return nn.Sequential(*layers), nn.Linear(width, out_dim)


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

    def rows(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mask": self.mask[index], "target": self.target[index], "recon_mask": self.recon_mask[index]}


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
        super().__init__(loss=None, gp_weight=0.0)  # type: ignore[arg-type]  # GAIN has its own losses
        dim = data.inputs.shape[1]
        self.settings, self.data, self.validation = settings, data, validation
        self.generator = GAINGenerator(dim, settings.hidden, settings.noise_dim, settings.residual)
        self.critic = GAINDiscriminator(dim, settings.hidden)

    def real_batch(self, batch_size: int) -> Batch:
        index = torch.randint(0, self.data.inputs.shape[0], (batch_size,))
        x = self.data.inputs[index]
        return Batch(x=x, y=torch.zeros(batch_size, dtype=torch.long), extra=self.data.rows(index))

    def generator_input(self, x: torch.Tensor, mask: torch.Tensor, random: bool = True):
        """The paper puts U(0, 0.01) noise in the missing slots; the residual generator takes N(0, 1)
        noise inputs instead (zeros when ``random`` is false: a deterministic, row-wise imputation)."""
        s = self.settings
        if s.residual:
            z = None
            if s.noise_dim:
                shape = (x.shape[0], s.noise_dim)
                z = torch.randn(shape) if random else torch.zeros(shape)
            return x, z
        noise = 0.01 * torch.rand_like(x) if random else torch.full_like(x, 0.005)
        return mask * x + (1 - mask) * noise, None

    def fake_batch(self, real: Batch, generator: nn.Module | None = None) -> Batch:
        g = generator if generator is not None else self.generator
        mask = real.extra["mask"]
        x_in, z = self.generator_input(real.x, mask)
        raw = g(x_in, mask, z)
        filled = mask * real.x + (1 - mask) * raw
        return Batch(x=filled, y=real.y, extra={**real.extra, "raw": raw})

    def _hint(self, mask: torch.Tensor) -> torch.Tensor:
        b = (torch.rand_like(mask) < self.settings.hint_rate).float()
        return b * mask + 0.5 * (1 - b)

    def critic_loss(self, real: Batch, fake: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        mask = real.extra["mask"]
        logits = self.critic(fake.x, self._hint(mask))
        loss = F.binary_cross_entropy_with_logits(logits, mask)
        # Log names differ from the WGAN ones on purpose: the loop's WGAN diagnostics do not apply here.
        return loss, {"discriminator_bce": loss.item()}

    def generator_loss(self, real: Batch, fake: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        mask, recon_mask = fake.extra["mask"], fake.extra["recon_mask"]
        logits = self.critic(fake.x, self._hint(mask))
        adversarial = -((1 - mask) * F.logsigmoid(logits)).mean()
        sq = (recon_mask * (fake.extra["raw"] - fake.extra["target"])) ** 2
        reconstruction = sq.sum() / recon_mask.sum().clamp_min(1.0)
        loss = adversarial + self.settings.alpha * reconstruction
        return loss, {"g_adversarial": adversarial.item(), "g_reconstruction": reconstruction.item()}

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
    problem: GAINProblem, seed: int, progress: bool = False
) -> tuple[AdversarialTrainer, list[str]]:
    """Run the shared loop on ``problem`` (one discriminator step per generator step, as in the paper).

    The loop's warnings are printed only with ``progress``; they are returned either way.
    """
    s = problem.settings
    config = TrainConfig(
        batch_size=s.batch_size,
        n_critic=1,
        lr_generator=s.lr,
        lr_critic=s.lr,
        beta1=0.9,
        beta2=0.999,
        ema_decay=s.ema_decay,
        log_every=max(1, s.eval_every or 100),
        eval_every=s.eval_every,
        checkpoint_every=10**9,
    )
    trainer = AdversarialTrainer(problem, config, seed=seed)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()) if not progress else _null(),
        ):
            if not progress:  # "validation stalled" is expected here: the best weights are kept
                warnings.simplefilter("ignore", _TRAINING_WARNING)
            trainer.fit(max_steps=s.max_iter, progress=progress)
    except FloatingPointError as err:
        raise InvalidDataError(f"imputation training diverged: {err}") from None
    return trainer, list(trainer.warnings)


def numeric_matrix(X, what: str = "X") -> np.ndarray:
    """A finite-or-NaN float64 matrix from array-like ``X``, or one readable :class:`InvalidDataError`."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    try:
        A = np.asarray(X)
        if np.iscomplexobj(A):
            raise InvalidDataError(f"{what} holds complex numbers; only real values can be imputed")
        A = A.astype(np.float64)
    except (TypeError, ValueError) as err:
        if isinstance(err, InvalidDataError):
            raise
        raise InvalidDataError(f"{what} is not numeric: {err}") from None
    if A.ndim != 2 or A.size == 0:
        raise InvalidDataError(f"{what} must be a non-empty 2-D table, got shape {A.shape}")
    if np.isinf(A).any():
        n_inf = int(np.isinf(A).sum())
        raise InvalidDataError(f"{what} contains {n_inf} infinite values; use NaN for missing")
    return A


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
            batch_size=self.batch_size,
            max_iter=self.max_iter,
            lr=self.learning_rate,
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
