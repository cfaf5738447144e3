"""A conditional count VAE with a negative-binomial decoder (scVI-style), as pure torch modules.

The encoder sees ``log1p`` of size-normalised counts and the label; the decoder maps the latent code and
the label to expression proportions over genes. The cell's library size is *observed* (not modelled by
the network): the NB mean is ``library * proportions``, with an inverse dispersion per label and gene.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from biogan.data.preprocessing import log_normalize_torch
from biogan.nn.counts import nb_log_likelihood
from biogan.nn.layers import mlp


class CountEncoder(nn.Module):
    """``log1p``-normalised counts and a one-hot label -> mean and log-variance of ``q(z | x, y)``."""

    def __init__(
        self, n_genes: int, n_classes: int, n_latent: int, hidden: tuple[int, ...], dropout: float
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.body = mlp([n_genes + n_classes, *hidden], layer_norm=True, dropout=dropout)
        width = hidden[-1] if hidden else n_genes + n_classes
        self.mean = nn.Linear(width, n_latent)
        self.log_var = nn.Linear(width, n_latent)

    def forward(self, counts: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(torch.cat([log_normalize_torch(counts), F.one_hot(y, self.n_classes).float()], 1))
        return self.mean(h), self.log_var(h).clamp(-10.0, 10.0)


class NBDecoder(nn.Module):
    """Latent code and one-hot label -> gene proportions; NB inverse dispersion per label and gene."""

    def __init__(
        self, n_latent: int, n_classes: int, n_genes: int, hidden: tuple[int, ...], dropout: float
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        sizes = [n_latent + n_classes, *reversed(hidden)]
        self.body = mlp(sizes, layer_norm=True, dropout=dropout)
        self.out = nn.Linear(sizes[-1], n_genes)
        self.log_theta = nn.Parameter(torch.zeros(n_classes, n_genes))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(torch.cat([z, F.one_hot(y, self.n_classes).float()], 1))
        return torch.softmax(self.out(h), dim=1), self.log_theta[y].clamp(-6.0, 10.0).exp()


class CountVAE(nn.Module):
    """Encoder + NB decoder; :meth:`forward` returns the per-cell reconstruction NLL and KL terms.

    Parameters
    ----------
    n_genes, n_classes
        Data dimensions (``n_classes`` = 1 for an unconditional model).
    n_latent
        Size of the latent code (prior ``N(0, I)``).
    hidden
        Encoder hidden widths (the decoder mirrors them).
    dropout
        Dropout after each hidden block.
    """

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        n_latent: int = 10,
        hidden: tuple[int, ...] = (128,),
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_latent = n_latent
        self.encoder = CountEncoder(n_genes, n_classes, n_latent, hidden, dropout)
        self.decoder = NBDecoder(n_latent, n_classes, n_genes, hidden, dropout)

    def forward(
        self, counts: torch.Tensor, y: torch.Tensor, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reconstruction negative log-likelihood and KL divergence, per cell.

        With ``sample=False`` the decoder gets the posterior mean (a deterministic validation score).
        """
        mu, log_var = self.encoder(counts, y)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * log_var) if sample else mu
        proportions, theta = self.decoder(z, y)
        library = counts.sum(1, keepdim=True)
        nll = -nb_log_likelihood(counts, library * proportions, theta)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1)
        return nll, kl

    def generate_mean(
        self, z: torch.Tensor, y: torch.Tensor, log_library: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """NB mean and inverse dispersion of new cells with codes ``z``, labels ``y`` and library sizes."""
        proportions, theta = self.decoder(z, y)
        return torch.exp(log_library)[:, None] * proportions, theta


__all__ = ["CountEncoder", "CountVAE", "NBDecoder"]
