"""Building blocks shared by generators, critics and encoders: the one MLP builder, conditioning layers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.2),
}


def mlp(
    sizes: Sequence[int],
    activation: str = "relu",
    layer_norm: bool = False,
    dropout: float = 0.0,
    spectral_norm: bool = False,
    init: Callable[[nn.Linear], None] | None = None,
) -> nn.Sequential:
    """Linear (-> LayerNorm) -> activation (-> Dropout) blocks through ``sizes``.

    Parameters
    ----------
    sizes
        Input width, then each hidden width (``[in, h1, h2]`` gives two blocks).
    activation
        ``"relu"`` or ``"leaky_relu"`` (slope 0.2, for critics).
    layer_norm
        Normalise after each linear layer.
    dropout
        Dropout after each block (0: none).
    spectral_norm
        Spectral-normalise every linear layer (critics).
    init
        Called on each linear layer before spectral normalisation (e.g. GAIN's Xavier init).
    """
    layers: list[nn.Module] = []
    for n_in, n_out in itertools.pairwise(sizes):
        linear = nn.Linear(n_in, n_out)
        if init is not None:
            init(linear)
        layers.append(maybe_spectral_norm(linear, spectral_norm))
        if layer_norm:
            layers.append(nn.LayerNorm(n_out))
        layers.append(ACTIVATIONS[activation]())
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


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
