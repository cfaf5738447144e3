"""What the shared training loop needs from a model: two modules and a source of batches.

A new data type (genotypes, sequences, imputation) subclasses :class:`AdversarialProblem`; the loop in
:mod:`biogan.train.loop` stays the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from biogan.losses import AdversarialLoss, gradient_penalty


@dataclass
class Batch:
    """Critic-ready samples ``x`` with their conditioning ``y`` (class codes) and free extras."""

    x: torch.Tensor
    y: torch.Tensor
    extra: dict[str, torch.Tensor] | None = None


class AdversarialProblem(nn.Module):
    """Base class: owns ``generator`` and ``critic`` and says how batches are made and scored.

    Subclasses implement :meth:`real_batch` and :meth:`fake_batch`. The default critic and generator
    objectives use ``self.loss`` (and a gradient penalty of weight ``self.gp_weight``); problems whose
    game differs (GAIN's per-entry discriminator) override :meth:`critic_loss` / :meth:`generator_loss`.
    All randomness must come from torch's global generator, which the loop seeds and checkpoints.
    """

    generator: nn.Module
    critic: nn.Module

    def __init__(self, loss: AdversarialLoss, gp_weight: float) -> None:
        super().__init__()
        self.loss = loss
        self.gp_weight = gp_weight

    def real_batch(self, batch_size: int) -> Batch:  # pragma: no cover - abstract
        """Draw a minibatch of real samples."""
        raise NotImplementedError

    def fake_batch(self, real: Batch, generator: nn.Module | None = None) -> Batch:  # pragma: no cover
        """Generate samples with the same conditioning as ``real`` (gradients flow to the generator)."""
        raise NotImplementedError

    def score(self, batch: Batch) -> torch.Tensor:
        """Critic score of each sample."""
        return self.critic(batch.x, batch.y)

    def critic_loss(self, real: Batch, fake: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Critic objective and what to log (loss, Wasserstein estimate, gradient penalty)."""
        real_scores, fake_scores = self.score(real), self.score(fake)
        loss = self.loss.critic(real_scores, fake_scores)
        logs = {"wasserstein": (real_scores.mean() - fake_scores.mean()).item()}
        if self.gp_weight > 0:
            gp = gradient_penalty(lambda x: self.critic(x, real.y), real.x, fake.x)
            loss = loss + self.gp_weight * gp
            logs["gradient_penalty"] = gp.item()
        logs["critic_loss"] = loss.item()
        return loss, logs

    def generator_loss(self, real: Batch, fake: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Generator objective and what to log."""
        loss = self.loss.generator(self.score(fake))
        return loss, {"generator_loss": loss.item()}

    @torch.no_grad()
    def monitor(self, generator: nn.Module) -> dict[str, float]:
        """Cheap diagnostics computed every log step with ``generator`` (the EMA copy); none by default."""
        return {}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """A lower-is-better sample-quality score used to keep the best weights; ``None`` disables it."""
        return None
