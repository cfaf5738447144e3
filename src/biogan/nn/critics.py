"""Critics (discriminators): a sample and its class in, a realness score out."""

from __future__ import annotations

import math

import torch
from torch import nn

from biogan.losses import align_mask
from biogan.nn.layers import maybe_spectral_norm, mlp


class ProjectionCritic(nn.Module):
    """MLP critic with a projection head for the class (Miyato & Koyama 2018, as in cscGAN).

    ``score = w . phi(x) + embed(y) . phi(x)``: the class enters as an inner product with the features,
    which shares the feature extractor across classes and lets classes with few samples borrow strength.
    Samples of any shape ``(B, ...)`` are flattened; masked positions (padding) are zeroed first.

    Parameters
    ----------
    in_dim
        Input features (the product of the non-batch dimensions).
    n_classes
        Number of classes (1 for an unconditional critic: the projection term is then constant).
    hidden
        Widths of the hidden layers.
    dropout
        Dropout after each hidden layer (a regulariser for small data sets).
    spectral_norm
        Spectral-normalise every linear layer.
    minibatch_group
        Above 1: the head also reads the features' spread within groups of this many samples
        (:class:`MinibatchStd`), so a generator that makes too little (or too much) variety is told apart.
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        hidden: tuple[int, ...] = (512, 256),
        dropout: float = 0.0,
        spectral_norm: bool = False,
        minibatch_group: int = 0,
    ) -> None:
        super().__init__()
        self.features = mlp([in_dim, *hidden], "leaky_relu", dropout=dropout, spectral_norm=spectral_norm)
        width = hidden[-1] if hidden else in_dim
        self.spread = MinibatchStd(minibatch_group) if minibatch_group > 1 else None
        head_in = width + 1 if self.spread is not None else width  # + the spread feature
        self.head = maybe_spectral_norm(nn.Linear(head_in, 1), spectral_norm)
        self.class_embedding = maybe_spectral_norm(nn.Embedding(n_classes, width), spectral_norm)
        if not spectral_norm:  # a zero matrix has no spectral norm to divide by
            nn.init.zeros_(self.class_embedding.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = x * align_mask(mask, x)
        h = self.features(x.flatten(1))
        read = h if self.spread is None else torch.cat([h, self.spread(h)], dim=1)
        return self.head(read).squeeze(-1) + (self.class_embedding(y) * h).sum(-1)


class MinibatchStd(nn.Module):
    """Per sample, the mean standard deviation of the features within its group of samples (ProGAN's
    minibatch standard deviation): one extra feature that compares a batch's variety with the data's.

    Groups are consecutive samples; a batch not divisible by ``group`` uses the largest common divisor.
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        g = math.gcd(len(h), self.group)
        if g < 2:
            return torch.zeros(len(h), 1, dtype=h.dtype, device=h.device)
        grouped = h.reshape(-1, g, h.shape[1])
        spread = (grouped.var(dim=1, unbiased=False) + 1e-8).sqrt().mean(dim=1)  # (n_groups,)
        return spread.repeat_interleave(g)[:, None]
