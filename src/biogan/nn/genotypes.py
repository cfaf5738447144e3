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

import torch
import torch.nn.functional as F
from torch import nn

ARCHITECTURES = ("conv", "mlp")
SNP_BLOCK = 8  # SNPs per position of the conv networks' coarse track


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


class HaplotypeGenerator(nn.Module):
    """Noise and a class in, haplotypes out (``(B, L)`` exact 0/1 alleles, straight-through gradient).

    ``"conv"``: ``z, y -> linear -> (channels, L / 8) -> context blocks along the blocks of 8 SNPs ->
    per-SNP readout`` (each SNP its own weights on its block's features: cheap, and SNP-specific);
    ``"mlp"``: ``z, y -> hidden -> hidden -> logits`` (Yelmen et al.). Both add a learned logit bias per
    SNP, so allele frequencies are easy and the networks model how alleles depend on each other.
    ``output`` is how scores become alleles (:func:`straight_through_alleles`).
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

    def logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = z + self.embed(y)
        if self.architecture == "mlp":
            return self.body(h) + self.snp_bias
        x = self.blocks(self.project(h).view(len(z), self.channels, self.coarse))
        per_snp = F.relu(x).repeat_interleave(SNP_BLOCK, dim=2)[..., : self.n_snps]  # (B, C, L)
        return torch.einsum("bcl,lc->bl", per_snp, self.readout) + self.snp_bias

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
    "CallImputer",
    "ContextBlock1d",
    "HaplotypeCritic",
    "HaplotypeGenerator",
    "HintDiscriminator",
    "straight_through_alleles",
]
