"""What the one training schedule needs from a model: modules, a data source, and what a step computes.

A new data kind (genotypes, sequences, structures) subclasses :class:`AdversarialProblem` (or
:class:`LikelihoodProblem`) and sets ``source`` to a :class:`~biogan.data.sources.ArraySource`; the
trainer draws minibatches from it through the sampler :meth:`make_sampler` returns, so batches are
sharded across DDP ranks and their order is checkpointed. All other randomness must come from torch's
global generator, which the trainer seeds and checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from biogan.data.samplers import Sampler
from biogan.data.sources import ArraySource
from biogan.losses import AdversarialLoss, gradient_penalty
from biogan.train.distributed import unwrap

Logs = dict[str, torch.Tensor]


@dataclass
class Batch:
    """Critic-ready samples ``x`` (any shape ``(B, ...)``), their class codes ``y``, an optional ``mask``
    of valid positions (padded sequences: the leading dimensions of ``x``, e.g. ``(B, L)`` for
    ``(B, L, A)``) and free extras."""

    x: torch.Tensor
    y: torch.Tensor
    extra: dict[str, torch.Tensor] | None = None
    mask: torch.Tensor | None = None


class DataProblem(nn.Module):
    """What every problem shares: a data ``source`` (``None`` once trained and saved) and its sampler."""

    source: ArraySource | None = None
    train_rows: np.ndarray | None = None  # rows the critic may see (None: all; the rest validate)

    def make_sampler(self, seed: int, rank: int, world_size: int) -> Sampler:
        """Uniform epochs over the training rows of ``source`` (block-shuffled when it is on disk),
        sharded per rank (override to stratify)."""
        if self.source is None:
            from biogan.errors import NotFittedError

            raise NotFittedError("this model has no training data attached")
        rows = np.arange(len(self.source)) if self.train_rows is None else self.train_rows
        return self.source.shuffle_sampler(rows, seed, rank, world_size)


class AdversarialProblem(DataProblem):
    """Base class: owns ``generator`` and ``critic`` and says how batches are made and scored.

    Subclasses implement :meth:`real_batch` and :meth:`fake_batch`. The default critic and generator
    objectives use ``self.loss`` and a gradient penalty of weight ``self.gp_weight``; problems whose game
    differs (GAIN's per-entry discriminator) override :meth:`critic_loss` / :meth:`generator_loss`. The
    trainer passes the modules to use (DDP-wrapped where gradients must be synchronised).
    """

    generator: nn.Module
    critic: nn.Module

    def __init__(self, loss: AdversarialLoss | None, gp_weight: float, gp_samples: int | None = None) -> None:
        super().__init__()
        self.loss = loss
        self.gp_weight = gp_weight
        self.gp_samples = gp_samples

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:  # pragma: no cover - abstract
        """Turn a minibatch of source rows into critic-ready real samples."""
        raise NotImplementedError

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:  # pragma: no cover - abstract
        """Generate samples with the conditioning of ``real`` (gradients flow to ``generator``)."""
        raise NotImplementedError

    def score(self, batch: Batch, critic: nn.Module) -> torch.Tensor:
        """Critic score of each sample (fp32, also under bf16 autocast)."""
        return critic(batch.x, batch.y, batch.mask).float()

    def critic_loss(self, real: Batch, fake: Batch, critic: nn.Module) -> tuple[torch.Tensor, Logs]:
        """Critic objective and what to log (loss, Wasserstein estimate, gradient penalty)."""
        real_scores, fake_scores = self.score(real, critic), self.score(fake, critic)
        assert self.loss is not None
        loss = self.loss.critic(real_scores, fake_scores)
        logs = {"wasserstein": (real_scores.mean() - fake_scores.mean()).detach()}
        if self.gp_weight > 0:
            plain = unwrap(critic)  # DDP does not support torch.autograd.grad through its wrapper
            rows = self._penalised_rows(real)
            y, mask = real.y[rows], None if real.mask is None else real.mask[rows]
            gp = gradient_penalty(lambda x: plain(x, y, mask), real.x[rows], fake.x[rows], mask)
            loss = loss + self.gp_weight * gp
            logs["gradient_penalty"] = gp.detach()
        logs["critic_loss"] = loss.detach()
        return loss, logs

    def _penalised_rows(self, real: Batch) -> slice | torch.Tensor:
        """All rows, or ``gp_samples`` random ones: the penalty's double backward costs about twice the
        rest of a critic step, and on a random subset it is an unbiased, noisier estimate."""
        n = len(real.x)
        if self.gp_samples is None or self.gp_samples >= n:
            return slice(None)
        return torch.randperm(n, device=real.x.device)[: self.gp_samples]

    def generator_loss(self, real: Batch, fake: Batch, critic: nn.Module) -> tuple[torch.Tensor, Logs]:
        """Generator objective and what to log."""
        assert self.loss is not None
        loss = self.loss.generator(self.score(fake, critic))
        return loss, {"generator_loss": loss.detach()}

    @torch.no_grad()
    def monitor(self, generator: nn.Module) -> dict[str, float]:
        """Cheap diagnostics computed every log step with ``generator`` (the EMA copy); none by default."""
        return {}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """A lower-is-better sample-quality score used to keep the best weights; ``None`` disables it."""
        return None


class ClassConditionalProblem(AdversarialProblem):
    """An adversarial problem whose samples belong to classes: training batches are drawn per class
    (``codes`` of the rows, ``class_size`` buffer, ``config.class_sampling``: uniform or proportional) and
    fakes are generated for the classes of the real batch from noise of size ``config.noise_dim``."""

    codes: np.ndarray
    class_size: torch.Tensor

    def make_sampler(self, seed: int, rank: int, world_size: int) -> Sampler:
        return self.source.class_sampler(
            self.codes, len(self.class_size), self.config.class_sampling, seed, rank, world_size
        )

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:
        z = torch.randn(len(real.y), self.config.noise_dim, device=real.y.device)
        return Batch(generator(z, real.y), real.y)


class LikelihoodProblem(DataProblem):
    """What a likelihood model (VAE) supplies: a minibatch loss and, optionally, a validation score.

    ``forward`` is the minibatch loss, so the trainer can wrap the whole problem in DDP.
    """

    def batch_loss(
        self, rows: dict[str, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, Logs]:  # pragma: no cover - abstract
        """Loss of one minibatch of source rows and what to log."""
        raise NotImplementedError

    def forward(self, rows: dict[str, torch.Tensor], step: int) -> tuple[torch.Tensor, Logs]:
        return self.batch_loss(rows, step)

    @torch.no_grad()
    def validation_score(self) -> float | None:
        """A lower-is-better held-out score used to keep the best weights; ``None`` disables it."""
        return None
