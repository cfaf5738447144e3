"""Critics (discriminators): a sample and its class in, a realness score out."""

from __future__ import annotations

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
    """

    def __init__(
        self,
        in_dim: int,
        n_classes: int,
        hidden: tuple[int, ...] = (512, 256),
        dropout: float = 0.0,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.features = mlp([in_dim, *hidden], "leaky_relu", dropout=dropout, spectral_norm=spectral_norm)
        width = hidden[-1] if hidden else in_dim
        self.head = maybe_spectral_norm(nn.Linear(width, 1), spectral_norm)
        self.class_embedding = maybe_spectral_norm(nn.Embedding(n_classes, width), spectral_norm)
        if not spectral_norm:  # a zero matrix has no spectral norm to divide by
            nn.init.zeros_(self.class_embedding.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = x * align_mask(mask, x)
        h = self.features(x.flatten(1))
        return self.head(h).squeeze(-1) + (self.class_embedding(y) * h).sum(-1)
