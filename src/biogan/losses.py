"""Adversarial losses: WGAN-GP (default), the classic minimax game (non-saturating form), hinge.

Each loss turns critic scores on real and generated samples into a critic loss and a generator loss.
A gradient penalty (Gulrajani et al. 2017) can be added to any of them; WGAN-GP requires it. The kernel
MMD between sample sets is the validation score models use to keep their best weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSSES = ("wgan-gp", "minimax", "hinge")


@dataclass(frozen=True)
class AdversarialLoss:
    """Critic and generator objectives of one GAN formulation.

    Parameters
    ----------
    name
        ``"wgan-gp"`` (Wasserstein critic), ``"minimax"`` (Goodfellow et al.'s game with the
        non-saturating generator loss) or ``"hinge"``.
    """

    name: str = "wgan-gp"

    def __post_init__(self) -> None:
        if self.name not in LOSSES:
            raise ValueError(f"unknown loss {self.name!r}; choose one of {', '.join(LOSSES)}")

    def critic(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        """Loss the critic minimises."""
        if self.name == "wgan-gp":
            return fake_scores.mean() - real_scores.mean()
        if self.name == "minimax":
            return F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
        return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()

    def generator(self, fake_scores: torch.Tensor) -> torch.Tensor:
        """Loss the generator minimises."""
        if self.name == "minimax":
            return F.softplus(-fake_scores).mean()  # non-saturating: maximise log D(G(z))
        return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Two-sided gradient penalty ``E[(||grad critic(x_hat)|| - 1)^2]`` on random interpolates.

    Works for samples of any shape ``(B, ...)`` — tables ``(B, F)``, one-hot sequences ``(B, L, A)``,
    distance maps ``(B, 1, L, L)``: one interpolation weight per sample, broadcast over the other
    dimensions, and the norm of each sample's gradient over all of them. Positions where ``mask`` is 0
    — padding — are left out of the norm (``mask`` is aligned from the batch dimension: ``(B, L)``
    masks the positions of ``(B, L, A)``).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake batches differ in shape: {tuple(real.shape)} vs {tuple(fake.shape)}")
    alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    scores = critic(interpolates)
    (grad,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    if mask is not None:
        grad = grad * align_mask(mask, grad)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def align_mask(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``mask`` (batch-first, e.g. ``(B, L)``) with trailing singleton dims, broadcast to ``like``."""
    extra = like.dim() - mask.dim()
    if extra < 0 or tuple(mask.shape) != tuple(like.shape[: mask.dim()]):
        raise ValueError(
            f"a mask of shape {tuple(mask.shape)} does not fit samples of shape {tuple(like.shape)}"
        )
    return mask.to(like.dtype).reshape(*mask.shape, *([1] * extra)).expand_as(like)


def mmd2_rbf(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Biased multi-scale RBF MMD^2 (bandwidths around the median pairwise distance)."""
    joint = torch.cat([a, b])
    d2 = torch.cdist(joint, joint).pow(2)
    scale = d2[d2 > 0].median()
    kernel = sum(torch.exp(-d2 / (scale * f)) for f in (0.25, 0.5, 1.0, 2.0, 4.0))
    n = len(a)
    return kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean()
