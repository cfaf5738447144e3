"""Networks for haplotypes at ordered SNPs: a generator and critic for GenotypeGAN, and a call imputer.

Haplotypes are ``(B, L)`` tensors of alleles (0 = REF, 1 = ALT) at ``L`` SNPs in genome order. Two kinds
of structure matter and the networks have a path for each:

* **Linkage disequilibrium** is local: alleles of nearby SNPs travel together. Residual 1-D convolutions
  along the SNPs (``architecture="conv"``) see it, with a learned embedding per SNP because allele
  frequencies differ from SNP to SNP and convolutions alone are the same everywhere.
* **Population structure** is global: ancestry shifts thousands of unlinked SNPs at once. A dense path
  over the whole haplotype (``"mlp"``, Yelmen et al. 2021's generator and critic) sees it; the conv
  networks get it through their first dense projection (generator) and a dense head (critic).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURES = ("conv", "mlp")
SNP_BLOCK = 8  # SNPs per position of the conv networks' coarse track
RESIDUAL_START = 0.01  # scale of the output layer's initial weights when a mixture start is used


class ContextBlock1d(nn.Module):
    """Residual block of two dilated convolutions plus a global context vector (mean over positions).

    ``x + scale * (conv(relu(conv(relu(x)))) + linear(mean_t x))``: dilation widens the window cheaply;
    the context term carries what is shared by the whole row (ancestry) to every position.
    """

    def __init__(self, channels: int, kernel: int = 5, dilation: int = 1, scale: float = 0.3) -> None:
        super().__init__()
        pad = dilation * (kernel // 2)
        self.conv1 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, kernel, padding=pad, dilation=dilation)
        self.context = nn.Linear(channels, channels)
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local = self.conv2(F.relu(self.conv1(F.relu(x))))
        shared = self.context(x.mean(dim=2)).unsqueeze(-1)
        return x + self.scale * (local + shared)


def _dilations(n_blocks: int) -> list[int]:
    return [2 ** (i % 6) for i in range(n_blocks)]  # 1, 2, 4, ..., 32, 1, ...


OUTPUTS = ("bernoulli", "threshold")


def straight_through_alleles(logits: torch.Tensor, output: str = "bernoulli") -> torch.Tensor:
    """Exact 0/1 alleles forward, the sigmoid's gradient backward.

    ``"bernoulli"`` draws each allele with probability ``sigmoid(logit)``; ``"threshold"`` takes
    ``logit > 0``, so that every allele is a function of the noise vector alone.
    """
    soft = torch.sigmoid(logits)
    hard = torch.bernoulli(soft) if output == "bernoulli" else (logits > 0).float()
    return soft + (hard - soft).detach()


class BernoulliMixtureBase(nn.Module):
    """Per-class mixture of independent-SNP haplotype clusters (buffers only; fitted by EM, not trained).

    Each class (population) is a mixture of ``K`` components, each with its own ALT frequency per SNP: a
    latent-class model of the sub-populations and haplotype clusters inside a label. It is
    :class:`HaplotypeGenerator`'s starting point, as the Gaussian copula is TabularGAN's.

    Parameters
    ----------
    n_classes, n_snps
        Classes and SNPs.
    n_components
        The most components a class may use (components beyond the fitted number get weight 0).
    """

    def __init__(self, n_classes: int, n_snps: int, n_components: int) -> None:
        super().__init__()
        weight = torch.zeros(n_classes, n_components)
        weight[:, 0] = 1.0
        self.register_buffer("weight", weight)
        self.register_buffer("logit", torch.zeros(n_classes, n_components, n_snps))

    @torch.no_grad()
    def fit(
        self, haplotypes: np.ndarray, codes: np.ndarray, n_components: int, seed: int, iters: int = 100
    ) -> None:
        """EM for every class's mixture of ``n_components`` (at most the class's rows) components;
        frequencies smoothed by half an allele (Jeffreys) so no logit is infinite."""
        rng = np.random.default_rng(seed)
        self.weight.zero_()
        self.logit.zero_()
        for k in range(self.weight.shape[0]):
            x = haplotypes[codes == k].astype(np.float64)
            if not len(x):
                self.weight[k, 0] = 1.0
                continue
            weight, freq = _bernoulli_mixture_em(x, min(n_components, len(x)), rng, iters)
            self.weight[k, : len(weight)] = torch.as_tensor(weight, dtype=torch.float32)
            self.logit[k, : len(weight)] = torch.as_tensor(np.log(freq / (1 - freq)), dtype=torch.float32)

    def component(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The component of each row whose cumulative weight step holds its uniform ``u``."""
        cuts = torch.cumsum(self.weight[y], dim=1)
        return (
            torch.searchsorted(cuts, (u * cuts[:, -1]).unsqueeze(1)).squeeze(1).clamp_max(cuts.shape[1] - 1)
        )


def _bernoulli_mixture_em(
    x: np.ndarray, n_components: int, rng: np.random.Generator, iters: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(K,)`` and ALT frequencies ``(K, L)`` of a mixture of independent Bernoullis, from a
    random soft assignment."""
    resp = rng.dirichlet(np.ones(n_components), len(x))
    for _ in range(iters):
        size = resp.sum(0)
        freq = (resp.T @ x + 0.5) / (size[:, None] + 1.0)
        log_lik = x @ np.log(freq).T + (1 - x) @ np.log1p(-freq).T + np.log(size / len(x) + 1e-12)
        resp = np.exp(log_lik - log_lik.max(1, keepdims=True))
        resp /= resp.sum(1, keepdims=True)
    size = resp.sum(0)
    return size / len(x), (resp.T @ x + 0.5) / (size[:, None] + 1.0)


class HaplotypeGenerator(nn.Module):
    """Noise and a class in, haplotypes out (``(B, L)`` exact 0/1 alleles, straight-through gradient).

    ``"conv"``: ``z, y -> linear -> (channels, L / 8) -> context blocks along the blocks of 8 SNPs ->
    per-SNP readout`` (each SNP its own weights on its block's features: cheap, and SNP-specific);
    ``"mlp"``: ``z, y -> hidden -> hidden -> logits`` (Yelmen et al.). Both add a learned logit bias per
    SNP, so allele frequencies are easy and the networks model how alleles depend on each other.
    ``output`` is how scores become alleles (:func:`straight_through_alleles`). With ``n_components``
    the logits start from a :class:`BernoulliMixtureBase`: the first noise coordinate picks the row's
    component (and its embedding joins the network's input), the component's logits are added, and the
    network's output layer starts near zero, so at step 0 the generator *is* the fitted mixture.
    """

    def __init__(
        self,
        noise_dim: int,
        n_classes: int,
        n_snps: int,
        architecture: str = "conv",
        channels: int = 32,
        n_blocks: int = 4,
        kernel: int = 5,
        hidden: int = 512,
        output: str = "bernoulli",
        n_components: int = 0,
    ) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {architecture!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {output!r}")
        self.architecture, self.n_snps, self.channels, self.output = architecture, n_snps, channels, output
        # sampling temperature of the allele probabilities (1 in training; chosen on held-out data after)
        self.register_buffer("temperature", torch.ones(()))
        self.embed = nn.Embedding(n_classes, noise_dim)
        self.snp_bias = nn.Parameter(torch.zeros(n_snps))
        if architecture == "mlp":
            self.body = nn.Sequential(
                nn.Linear(noise_dim, hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(hidden, hidden),
                nn.LeakyReLU(0.2),
                nn.Linear(hidden, n_snps),
            )
        else:
            self.coarse = -(-n_snps // SNP_BLOCK)
            self.project = nn.Linear(noise_dim, channels * self.coarse)
            self.blocks = nn.Sequential(*[ContextBlock1d(channels, kernel, d) for d in _dilations(n_blocks)])
            self.readout = nn.Parameter(torch.randn(n_snps, channels) / channels**0.5)
        self.base = BernoulliMixtureBase(n_classes, n_snps, n_components) if n_components else None
        if self.base is not None:
            self.component_embed = nn.Embedding(n_components, noise_dim)
            nn.init.zeros_(self.component_embed.weight)
            with torch.no_grad():  # the residual starts near zero: step 0 is the mixture
                out = self.body[-1].weight if architecture == "mlp" else self.readout
                out.mul_(RESIDUAL_START)
                if architecture == "mlp":
                    self.body[-1].bias.zero_()

    def logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h, start = z + self.embed(y), self.snp_bias
        if self.base is not None:
            component = self.base.component(torch.special.ndtr(z[:, 0]), y)
            h = h + self.component_embed(component)
            start = start + self.base.logit[y, component]
        if self.architecture == "mlp":
            return self.body(h) + start
        x = self.blocks(self.project(h).view(len(z), self.channels, self.coarse))
        per_snp = F.relu(x).repeat_interleave(SNP_BLOCK, dim=2)[..., : self.n_snps]  # (B, C, L)
        return torch.einsum("bcl,lc->bl", per_snp, self.readout) + start

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return straight_through_alleles(self.logits(z, y) / self.temperature, self.output)


class HaplotypeCritic(nn.Module):
    """Haplotypes ``(B, L)`` and a class in, a realness score out.

    ``"conv"``: every SNP's allele embedded with its own weights and summed per block of 8 SNPs, context
    blocks along the blocks, then a dense head over all of them; ``"mlp"``: a dense network over the
    haplotype, optionally with a minibatch-standard-deviation feature (Karras et al. 2018). Both have a
    projection term for the class (Miyato & Koyama 2018).
    """

    def __init__(
        self,
        n_snps: int,
        n_classes: int,
        architecture: str = "conv",
        channels: int = 32,
        n_blocks: int = 4,
        kernel: int = 5,
        hidden: int = 512,
        minibatch_std: bool = False,
    ) -> None:
        super().__init__()
        self.architecture, self.n_snps, self.minibatch_std = architecture, n_snps, minibatch_std
        width = hidden // 2
        if architecture == "mlp":
            self.first = nn.Sequential(nn.Linear(n_snps, hidden), nn.LeakyReLU(0.2))
            self.second = nn.Sequential(nn.Linear(hidden + minibatch_std, width), nn.LeakyReLU(0.2))
        else:
            self.coarse = -(-n_snps // SNP_BLOCK)
            self.allele = nn.Parameter(torch.randn(n_snps, channels) / SNP_BLOCK**0.5)
            self.snp_embedding = nn.Parameter(torch.zeros(n_snps, channels))
            self.blocks = nn.Sequential(*[ContextBlock1d(channels, kernel, d) for d in _dilations(n_blocks)])
            self.dense = nn.Sequential(nn.Linear(channels * self.coarse, width), nn.LeakyReLU(0.2))
        self.head = nn.Linear(width, 1)
        self.project = nn.Embedding(n_classes, width)
        nn.init.zeros_(self.project.weight)

    def features_of(self, x: torch.Tensor) -> torch.Tensor:
        if self.architecture == "mlp":
            h = self.first(x)
            if self.minibatch_std:  # ProGAN's batch-diversity feature: collapsed batches stand out
                spread = h.std(0, unbiased=False).mean().expand(len(h), 1)
                h = torch.cat([h, spread], 1)
            return self.second(h)
        per_snp = (2 * x.unsqueeze(-1) - 1) * self.allele + self.snp_embedding  # (B, L, C)
        pad = self.coarse * SNP_BLOCK - self.n_snps
        h = F.pad(per_snp, (0, 0, 0, pad)).view(len(x), self.coarse, SNP_BLOCK, -1).sum(2)
        h = self.blocks(h.transpose(1, 2))
        return self.dense(F.leaky_relu(h, 0.2).flatten(1))

    def forward(self, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features_of(x)  # ``mask`` is the shared critic signature's; haplotypes have none
        return (self.head(phi) + (self.project(y) * phi).sum(1, keepdim=True)).squeeze(1)


class CallImputer(nn.Module):
    """Observed calls in, per-SNP scores of the missing calls out (the generator of the imputation game).

    Input ``(B, n_in, L)``: the observed calls' channels (zero where missing), the observed mask and a
    noise channel; output ``(B, n_out, L)`` logits. The trunk is a per-SNP embedding and dilated
    context blocks (a window of hundreds of SNPs for linkage, the row mean for ancestry).
    """

    def __init__(
        self, n_snps: int, n_in: int, n_out: int, channels: int = 64, n_blocks: int = 8, kernel: int = 3
    ) -> None:
        super().__init__()
        self.inp = nn.Conv1d(n_in, channels, 1)
        self.snp_embedding = nn.Parameter(torch.zeros(channels, n_snps))
        self.blocks = nn.Sequential(*[ContextBlock1d(channels, kernel, d) for d in _dilations(n_blocks)])
        self.out = nn.Conv1d(channels, n_out, 1)
        self.snp_bias = nn.Parameter(torch.zeros(n_out, n_snps))

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Logits for the SNPs ``start .. start + L`` of the model's panel (``x`` may be a window)."""
        stop = start + x.shape[-1]
        h = self.inp(x) + self.snp_embedding[:, start:stop]
        return self.out(F.relu(self.blocks(h))) + self.snp_bias[:, start:stop]


class HintDiscriminator(nn.Module):
    """GAIN's discriminator: filled calls and the hint in, a per-SNP "was observed" logit out."""

    def __init__(self, n_in: int, channels: int = 32, n_blocks: int = 2, kernel: int = 3) -> None:
        super().__init__()
        self.inp = nn.Conv1d(n_in, channels, 1)
        self.blocks = nn.Sequential(*[ContextBlock1d(channels, kernel, d) for d in _dilations(n_blocks)])
        self.out = nn.Conv1d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.relu(self.blocks(self.inp(x)))).squeeze(1)


__all__ = [
    "ARCHITECTURES",
    "OUTPUTS",
    "BernoulliMixtureBase",
    "CallImputer",
    "ContextBlock1d",
    "HaplotypeCritic",
    "HaplotypeGenerator",
    "HintDiscriminator",
    "straight_through_alleles",
]
