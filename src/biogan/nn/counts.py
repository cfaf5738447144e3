"""Count-space pieces shared by the count GAN and the count VAE: NB/Poisson draws, the NB likelihood,
binomial thinning, and library sizes drawn like the training cells'."""

from __future__ import annotations

import torch


def sample_counts(mean: torch.Tensor, theta: torch.Tensor | None) -> torch.Tensor:
    """Poisson (``theta=None``) or gamma-Poisson (negative-binomial) counts.

    The gamma draw is reparameterised (differentiable in ``theta``); the Poisson draw passes the
    gradient straight through to its rate.
    """
    rate = mean
    if theta is not None:
        rate = mean * torch._standard_gamma(theta.expand_as(mean)) / theta
    counts = torch.poisson(rate.detach())
    return rate + (counts - rate).detach()


def nb_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, theta: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """Negative-binomial log-likelihood of counts ``x`` per cell (summed over genes).

    Parameterised by the mean and the inverse dispersion ``theta`` (variance ``mean + mean² / theta``).
    """
    log_theta_mean = torch.log(theta + mean + eps)
    ll = (
        theta * (torch.log(theta + eps) - log_theta_mean)
        + x * (torch.log(mean + eps) - log_theta_mean)
        + torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
    )
    return ll.sum(-1)


def binomial_thinning(counts: torch.Tensor, max_drop: float) -> torch.Tensor:
    """Keep each count with probability ``p ~ U(1 - max_drop, 1)`` drawn per cell (differentiable).

    Applied to real and generated cells alike before the critic sees them (count-space DiffAugment):
    a thinned cell is still a plausible cell, but the critic can no longer memorise exact counts.
    """
    keep = 1 - max_drop * torch.rand(counts.shape[0], 1, device=counts.device)
    expected = counts * keep
    thinned = torch.binomial(counts.detach(), keep.expand_as(counts))
    return expected + (thinned - expected).detach()


def sample_log_library(pool_log: torch.Tensor, pool_codes: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """Log library sizes for cells of classes ``codes``, drawn from the training cells of each class.

    Each draw is a training cell's log library size plus Gaussian noise of Silverman's bandwidth, so a
    class with 8 cells still gets a continuum of sizes; a class without cells draws from all of them.
    """
    out = torch.empty(len(codes), device=codes.device)
    for k in torch.unique(codes).tolist():
        pool = pool_log[pool_codes == k]
        if len(pool) == 0:
            pool = pool_log
        members = codes == k
        pick = pool[torch.randint(len(pool), (int(members.sum()),), device=pool.device)]
        bandwidth = 1.06 * max(float(pool.std()) if len(pool) > 1 else 0.1, 0.05) * len(pool) ** -0.2
        out[members] = pick + bandwidth * torch.randn(len(pick), device=codes.device)
    return out


__all__ = ["binomial_thinning", "nb_log_likelihood", "sample_counts", "sample_log_library"]
