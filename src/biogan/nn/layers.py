"""Conditioning and regularisation layers shared by generators and critics."""

from __future__ import annotations

import torch
from torch import nn


class ConditionalLayerNorm(nn.Module):
    """Layer norm whose gain and bias are looked up per class (FiLM-style conditioning).

    This plays the role of cscGAN's conditional batch norm but normalises each sample on its own, so a
    batch of 8 cells of a rare type is generated exactly as it would be inside a mixed batch, and
    training and sampling behave the same (no running statistics).
    """

    def __init__(self, num_features: int, n_classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(num_features, elementwise_affine=False)
        self.gain = nn.Embedding(n_classes, num_features)
        self.bias = nn.Embedding(n_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.norm(x) * self.gain(y) + self.bias(y)


def maybe_spectral_norm(layer: nn.Module, enabled: bool) -> nn.Module:
    """Wrap ``layer`` in spectral normalisation when ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(layer) if enabled else layer
