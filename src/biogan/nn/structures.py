"""Pure torch modules of the structure kind: generators and a critic of Cα distance maps ``(B, L, L)``.

Every generated map is symmetric with a zero diagonal by construction. Two generators:

* :class:`ChainMapGenerator` (the default): 1-D convolutions along the chain give every residue a
  virtual bond angle and torsion, a differentiable chain builder (NeRF) places the Cα atoms 3.8 Å apart,
  and the map of their distances is corrected by a small 2-D convolution head (bounded, starting at no
  correction). Its maps are (nearly) those of real 3-D chains, so backbones recovered from them keep
  their local geometry.
* :class:`DistanceMapGenerator` (Anand & Huang 2018's DCGAN): transposed 2-D convolutions upsample
  noise into a log-ratio ``h`` against the typical distance at each sequence separation
  (``base[|i - j|]``), giving ``base[|i - j|] * exp(h)``.

The critic (:class:`DistanceMapCritic`) scores maps standardised per sequence separation
(:class:`MapStandardiser`) with strided 2-D convolutions at the next power of two (zero-padded) and
1-D convolutions over the near-diagonal bands, which can also read the signed torsions of the chain
(:func:`torsion_rows`): the hand a distance map cannot show.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import torch
from torch import nn

from biogan.data.backbones import place_chain, torsion_cos_sin

MAX_LOG_RATIO = 3.0  # DCGAN: |log(d / base)| stays below this, distances within e^±3 of the typical one
FOLD_SIDE = 64  # the critic's 2-D head sees longer maps averaged down to this side (the fold, not bonds)


def map_side(length: int) -> int:
    """The power of two (at least 8) the convolutions work at for fragments of ``length`` residues."""
    return max(8, 1 << math.ceil(math.log2(length)))


def separation_index(length: int) -> torch.Tensor:
    """``|i - j|`` for every cell of an ``L x L`` map (long)."""
    idx = torch.arange(length)
    return (idx[:, None] - idx[None, :]).abs()


class DistanceMapGenerator(nn.Module):
    """Noise ``(B, noise_dim)`` -> distance maps ``(B, L, L)`` in Å (DCGAN-style upsampling).

    Parameters
    ----------
    noise_dim
        Size of the noise vector.
    length
        Fragment length ``L``.
    base
        Typical distance at each sequence separation ``0 .. L-1`` (``base[0] = 0``).
    channels
        Width of the last convolution block; each earlier block doubles it (capped at 512).
    """

    def __init__(self, noise_dim: int, length: int, base: torch.Tensor, channels: int = 32) -> None:
        super().__init__()
        self.length = length
        side = map_side(length)
        n_up = int(math.log2(side // 4))
        widths = [min(512, channels * 2 ** (n_up - i)) for i in range(n_up + 1)]
        self.project = nn.Sequential(nn.Linear(noise_dim, widths[0] * 16), nn.ReLU())
        self.width0 = widths[0]
        blocks: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(widths):
            blocks += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
        self.up = nn.Sequential(*blocks)
        self.out = nn.Conv2d(widths[-1], 1, 3, padding=1)
        self.register_buffer("base", torch.as_tensor(base, dtype=torch.float32).clone())
        self.register_buffer("separation", separation_index(length), persistent=False)

    def log_ratio(self, z: torch.Tensor) -> torch.Tensor:
        """The symmetric log-ratio ``h`` ``(B, L, L)`` against the typical distance."""
        h = self.project(z).view(len(z), self.width0, 4, 4)
        h = self.out(self.up(h))[:, 0, : self.length, : self.length]
        h = (h + h.transpose(-1, -2)) / 2
        return MAX_LOG_RATIO * torch.tanh(h / MAX_LOG_RATIO)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, chain: bool = False) -> Any:
        """The maps; with ``chain`` the pair ``(maps, None)``: this generator builds no coordinates."""
        maps = self.base[self.separation] * torch.exp(self.log_ratio(z))
        return (maps, None) if chain else maps


def torsion_rows(coords: torch.Tensor) -> torch.Tensor:
    """``cos`` and ``sin`` of the virtual torsion of residues ``i .. i+3`` along the chain ``(B, 2, L)``
    (zero for the last three residues), from coordinates ``(B, L, 3)``: what tells a backbone from its
    mirror image, which its distance map cannot."""
    return nn.functional.pad(torch.stack(torsion_cos_sin(coords), 1), (0, 3))


def pairwise_distances(coords: torch.Tensor) -> torch.Tensor:
    """Distance maps ``(B, L, L)`` of coordinates ``(B, L, 3)``, exactly zero on the diagonal and with a
    finite gradient there."""
    diff = coords[:, :, None, :] - coords[:, None, :, :]
    eye = torch.eye(coords.shape[1], dtype=torch.bool, device=coords.device)
    squared = diff.pow(2).sum(-1).masked_fill(eye, 1.0)
    return squared.sqrt().masked_fill(eye, 0.0)


class ChainMapGenerator(nn.Module):
    """Noise ``(B, noise_dim)`` -> distance maps ``(B, L, L)`` of generated Cα chains.

    Parameters
    ----------
    noise_dim
        Size of the (global) noise vector; every residue also gets ``local_noise`` noise channels, so
        loops and ends can vary given the fold.
    length
        Fragment length ``L``.
    channels
        Width of the 1-D convolutions along the chain.
    n_blocks
        Residual 1-D convolution blocks (kernel 5, dilations 1, 2, 4, ...: a run of secondary structure
        is decided over about 30 residues).
    map_channels
        Width of the 2-D convolution head that corrects the map (0: none).
    max_correction
        Largest log-ratio correction of the head (0.25: at most about ±28 %).
    """

    def __init__(
        self,
        noise_dim: int,
        length: int,
        channels: int = 64,
        n_blocks: int = 4,
        map_channels: int = 8,
        max_correction: float = 0.25,
        local_noise: int = 16,
    ) -> None:
        super().__init__()
        self.length, self.channels, self.local_noise = length, channels, local_noise
        # The same global code at every residue (the trunk is translation-equivariant: what makes a helix
        # is learnt once, not per position), with fresh noise per residue for the local choices.
        self.project = nn.Linear(noise_dim, channels)
        self.mix = nn.Conv1d(channels + local_noise, channels, 1)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LeakyReLU(0.2),
                nn.Conv1d(channels, channels, 5, padding=2 * 2 ** (i % 3), dilation=2 ** (i % 3)),
                nn.LeakyReLU(0.2),
                nn.Conv1d(channels, channels, 5, padding=2),
            )
            for i in range(n_blocks)
        )
        self.head = nn.Conv1d(channels, 3, 1)  # bond-angle logit, torsion (cos, sin)
        self.max_correction = max_correction
        self.refine = None
        if map_channels:
            last = nn.Conv2d(map_channels, 1, 3, padding=1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.refine = nn.Sequential(nn.Conv2d(2, map_channels, 3, padding=1), nn.LeakyReLU(0.2), last)
        self.register_buffer("separation", separation_index(length), persistent=False)
        # Bond angles stay within what real chains show (set from the training fragments).
        self.register_buffer("angle_range", torch.tensor([math.radians(60.0), math.radians(160.0)]))

    def chain(self, z: torch.Tensor) -> torch.Tensor:
        """The generated Cα coordinates ``(B, L, 3)`` (before the map correction)."""
        h = self.project(z)[:, :, None].expand(-1, -1, self.length)
        noise = torch.randn(len(z), self.local_noise, self.length, device=z.device, dtype=z.dtype)
        h = self.mix(torch.cat([h, noise], 1))
        for block in self.blocks:
            h = h + block(h)
        out = self.head(nn.functional.leaky_relu(h, 0.2))
        lo, hi = self.angle_range
        angles = lo + (hi - lo) * torch.sigmoid(out[:, 0, 1:-1])
        torsions = torch.atan2(out[:, 2, 1:-2], out[:, 1, 1:-2] + 1e-6)
        return place_chain(angles, torsions)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None, chain: bool = False) -> Any:
        """The corrected distance maps ``(B, L, L)``; with ``chain`` also the chain ``(B, L, 3)`` they
        come from (one call, so DDP sees it as the forward pass)."""
        maps, coords = self._maps_and_chain(z)
        return (maps, coords) if chain else maps

    def _maps_and_chain(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        chain = self.chain(z)
        maps = pairwise_distances(chain)
        if self.refine is None:
            return maps, chain
        sep = (self.separation.float() / self.length).expand_as(maps)
        x = torch.stack([torch.log1p(maps), sep], 1)
        h = self.refine(x)[:, 0]
        h = (h + h.transpose(-1, -2)) / 2
        return maps * torch.exp(self.max_correction * torch.tanh(h)), chain  # zero diagonal kept


class MapStandardiser(nn.Module):
    """Distance maps ``(B, L, L)`` -> what the critic judges: ``log d`` standardised per sequence
    separation (mean and spread of the training maps at each ``|i - j|``), so an error of a tenth of an
    Å at i+2 (the bond angle) weighs like one of a few Å at i+40, and the gradient penalty acts on that
    scale. Separations 0 and 1 are set to 0: consecutive Cα atoms are 3.8 Å apart in any backbone (the
    refinement enforces it when sampling), and real maps only carry rounding noise there.

    Parameters
    ----------
    mean, sd
        ``log d`` statistics of the training maps at every separation ``0 .. L-1``.
    """

    def __init__(self, mean: torch.Tensor, sd: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).clone())
        self.register_buffer("sd", torch.as_tensor(sd, dtype=torch.float32).clone())
        self.register_buffer("separation", separation_index(len(self.mean)), persistent=False)

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        sep = self.separation
        x = (torch.log(maps.clamp_min(0.5)) - self.mean[sep]) / self.sd[sep].clamp_min(1e-3)
        return torch.where(sep >= 2, x, torch.zeros_like(x))


class DistanceMapCritic(nn.Module):
    """Standardised maps ``(B, L, L)`` (:class:`MapStandardiser`) -> one score each, no normalisation
    (WGAN-GP), the sum of two heads:

    * the fold: strided 2-D convolutions over the whole map (averaged down to :data:`FOLD_SIDE` pixels a
      side for longer fragments), with the sequence separation as a second channel (a map is not
      translation-invariant: its diagonal is special);
    * the local geometry: 1-D convolutions along the chain over the map's near-diagonal bands
      (separations 2 .. ``band``: bond angles at i+2, torsions at i+3, helices at i+4), which the 2-D
      head's first stride would blur -- these few thousand entries decide whether a backbone looks real.

    Parameters
    ----------
    length
        Fragment length ``L``.
    channels
        Width of the first 2-D convolution; each later one doubles it (capped at 256).
    band, band_channels
        Widest separation the 1-D head reads, and its width (``band < 2``: no 1-D head).
    torsions
        The input also carries two rows of :func:`torsion_rows` below the map, ``(B, L + 2, L)``, read
        by the 1-D head: a distance map is the same for a right- and a left-handed helix, so without them
        nothing teaches the generator the hand of real proteins.
    """

    def __init__(
        self, length: int, channels: int = 32, band: int = 8, band_channels: int = 32, torsions: bool = False
    ) -> None:
        super().__init__()
        self.length = length
        self.side = map_side(length)
        self.pool = max(1, self.side // FOLD_SIDE)
        n_down = int(math.log2(self.side // self.pool // 4))
        widths = [2] + [min(256, channels * 2**i) for i in range(n_down)]
        layers: list[nn.Module] = []
        for c_in, c_out in itertools.pairwise(widths):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(widths[-1] * 16, 1)
        self.band = min(band, length - 1)
        self.torsions = torsions
        self.band_head = None
        if self.band >= 2:
            self.band_head = nn.Sequential(
                nn.Conv1d(self.band - 1 + 2 * torsions, band_channels, 5, padding=2),
                nn.LeakyReLU(0.2),
                nn.Conv1d(band_channels, band_channels, 5, padding=2),
                nn.LeakyReLU(0.2),
                nn.Conv1d(band_channels, 1, 1),
            )
        self.register_buffer("separation", separation_index(length), persistent=False)

    def bands(self, x: torch.Tensor) -> torch.Tensor:
        """The diagonals at separations ``2 .. band`` as channels along the chain ``(B, band - 1, L)``
        (zero-padded at the C-terminal end)."""
        rows = [nn.functional.pad(x.diagonal(k, -2, -1), (0, k)) for k in range(2, self.band + 1)]
        return torch.stack(rows, dim=1)

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x, rows = x[:, : self.length], x[:, self.length :]
        sep = (self.separation.float() / self.length).expand_as(x)
        h = torch.stack([x, sep], dim=1)
        pad = self.side - self.length
        if pad:
            h = nn.functional.pad(h, (0, pad, 0, pad))
        if self.pool > 1:
            h = nn.functional.avg_pool2d(h, self.pool)
        score = self.head(self.features(h).flatten(1)).squeeze(-1)
        if self.band_head is not None:
            local = torch.cat([self.bands(x), rows], 1) if self.torsions else self.bands(x)
            score = score + self.band_head(local).mean((1, 2))
        return score


__all__ = [
    "ChainMapGenerator",
    "DistanceMapCritic",
    "DistanceMapGenerator",
    "MapStandardiser",
    "map_side",
    "pairwise_distances",
    "separation_index",
    "torsion_rows",
]
