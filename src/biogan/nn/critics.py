"""Critics (discriminators): a sample and its class in, a realness score out."""

from __future__ import annotations

import torch
from torch import nn

from biogan.nn.layers import maybe_spectral_norm


class ProjectionCritic(nn.Module):
    """MLP critic with a projection head for the class (Miyato & Koyama 2018, as in cscGAN).

    ``score = w . phi(x) + embed(y) . phi(x)``: the class enters as an inner product with the features,
    which shares the feature extractor across classes and lets classes with few samples borrow strength.

    Parameters
    ----------
    in_dim
        Input features.
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
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [maybe_spectral_norm(nn.Linear(width, h), spectral_norm), nn.LeakyReLU(0.2)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        self.features = nn.Sequential(*layers)
        self.head = maybe_spectral_norm(nn.Linear(width, 1), spectral_norm)
        self.class_embedding = maybe_spectral_norm(nn.Embedding(n_classes, width), spectral_norm)
        if not spectral_norm:  # a zero matrix has no spectral norm to divide by
            nn.init.zeros_(self.class_embedding.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.head(h).squeeze(1) + (self.class_embedding(y) * h).sum(1)
