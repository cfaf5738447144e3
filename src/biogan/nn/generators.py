"""Generators: noise and a class label in, a distribution over features out."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from biogan.nn.layers import ConditionalLayerNorm


class ConditionalMLPGenerator(nn.Module):
    """Noise + class (+ optional per-sample covariates) -> logits, via conditional-layer-norm blocks.

    Parameters
    ----------
    noise_dim
        Size of the Gaussian noise vector.
    n_classes
        Number of classes (1 for an unconditional model).
    out_dim
        Number of outputs (genes, columns, ...).
    hidden
        Widths of the hidden layers.
    n_covariates
        Extra per-sample inputs concatenated to the noise (e.g. a cell's log library size).
    """

    def __init__(
        self,
        noise_dim: int,
        n_classes: int,
        out_dim: int,
        hidden: tuple[int, ...] = (256, 512),
        n_covariates: int = 0,
    ) -> None:
        super().__init__()
        self.noise_dim = noise_dim
        self.class_embedding = nn.Embedding(n_classes, min(32, max(1, n_classes)))
        width = noise_dim + self.class_embedding.embedding_dim + n_covariates
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        for h in hidden:
            self.linears.append(nn.Linear(width, h))
            self.norms.append(ConditionalLayerNorm(h, n_classes))
            width = h
        self.out = nn.Linear(width, out_dim)
        # Per-class output offset: initialised to the class's mean profile, so the network only has to
        # learn the variation around it (what makes rare classes trainable from a handful of cells).
        self.class_offset = nn.Embedding(n_classes, out_dim)
        nn.init.zeros_(self.class_offset.weight)
        nn.init.zeros_(self.out.bias)
        nn.init.normal_(self.out.weight, std=1e-3)

    def forward(
        self, z: torch.Tensor, y: torch.Tensor, covariates: torch.Tensor | None = None
    ) -> torch.Tensor:
        parts = [z, self.class_embedding(y)]
        if covariates is not None:
            parts.append(covariates)
        h = torch.cat(parts, dim=1)
        for linear, norm in zip(self.linears, self.norms, strict=True):
            h = torch.relu(norm(linear(h), y))
        return self.out(h) + self.class_offset(y)


class CountGenerator(ConditionalMLPGenerator):
    """:class:`ConditionalMLPGenerator` plus a negative-binomial inverse dispersion per class and gene.

    ``log_theta`` is a parameter so the adversarial game can trade extra-Poisson noise against
    structured variation made by the network (``learn_dispersion=False`` keeps it fixed). ``forward``
    returns both the logits and each sample's dispersions, so every parameter is used inside the
    forward pass (what DDP synchronises).
    """

    def __init__(self, *args: Any, learn_dispersion: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        n_classes, out_dim = self.class_offset.weight.shape
        self.log_theta = nn.Parameter(torch.full((n_classes, out_dim), 3.0), requires_grad=learn_dispersion)

    def forward(
        self, z: torch.Tensor, y: torch.Tensor, covariates: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits over genes and the inverse dispersion ``theta`` of each sample's class (clamped)."""
        return super().forward(z, y, covariates), self.log_theta[y].clamp(-4.0, 9.0).exp()
