"""StructureGAN: a WGAN-GP on Cα distance maps of protein fragments, with backbones recovered from them.

How a synthetic backbone is made (after Anand & Huang 2018)
-----------------------------------------------------------
1. The training chains are cut into fragments of ``fragment_length`` consecutive Cα atoms (never across
   a chain break; overlapping, every ``stride`` residues) and each fragment becomes its ``L x L`` map of
   Cα-Cα distances -- invariant to rotation and translation, so the networks need not learn them.
2. The generator makes maps that are symmetric with a zero diagonal by construction. By default
   (``architecture="chain"``, :class:`~biogan.nn.structures.ChainMapGenerator`) 1-D convolutions along
   the chain choose every residue's virtual bond angle and torsion, a differentiable chain builder places
   the Cα atoms, and a small 2-D convolution head corrects their distance map; ``"dcgan"``
   (:class:`~biogan.nn.structures.DistanceMapGenerator`, Anand & Huang's) upsamples noise with
   transposed 2-D convolutions into a deviation from the typical distance at each sequence separation.
   The critic (:class:`~biogan.nn.structures.DistanceMapCritic`) scores maps with strided 2-D
   convolutions. They play WGAN-GP in biogan's one training schedule.
3. A map becomes coordinates by classical multidimensional scaling, then a refinement that keeps
   consecutive Cα atoms at bond lengths drawn from the training fragments' (about 3.8 Å), removes
   clashes and stays close to the map, then the choice between the backbone and its mirror image (a map
   cannot tell them apart): right-handed helices, else the (bond angle, torsion) pairs more likely under
   the training fragments' histogram (:func:`~biogan.data.backbones.coordinates_from_maps`).
4. Fragments of a tenth of the training entries (whole entries: overlapping fragments of one chain are
   near-copies) are held out; every ``eval_every`` steps the EMA generator's backbones are scored against
   them (the (angle, torsion) histogram divergence plus an MMD on fragment features, the judge's view);
   the best weights are kept and training stops after ``train.patience`` evaluations without improvement.
5. After training the model measures novelty: the median RMSD of its backbones to the nearest training
   fragment, next to the same for the held-out real fragments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon
from torch import nn

from biogan.data.backbones import (
    BOND,
    angle_torsion_histogram,
    bond_angles,
    bond_lengths,
    coordinates_from_maps,
    distance_maps,
    fragment_features,
)
from biogan.data.sources import ArraySource
from biogan.data.structures import StructureSet, default_stride, group_split
from biogan.data.validation import check_enough, check_memory
from biogan.errors import InvalidDataError, NotFittedError
from biogan.losses import AdversarialLoss, mmd2_rbf
from biogan.models._base import GenerativeModel
from biogan.models._shared import check_split_and_penalty
from biogan.models.registry import register_model
from biogan.nn.structures import (
    ChainMapGenerator,
    DistanceMapCritic,
    DistanceMapGenerator,
    MapStandardiser,
    torsion_rows,
)
from biogan.train import AdversarialProblem, AdversarialTrainer, Batch, TrainConfig

HISTOGRAM_BINS = (18, 36)  # (bond angle, torsion) bins of the hand choice and the validation score
ARCHITECTURES = ("chain", "dcgan")
BOND_QUANTILES = 1001  # of the training fragments' Cα(i)-Cα(i+1) distances; keeps the 0.1 % cis tail


@dataclass
class StructureGANConfig:
    """Hyperparameters of :class:`StructureGAN` (saved with the model).

    Parameters
    ----------
    fragment_length
        Residues per fragment (the map side); 16, 64 and 128 are Anand & Huang's.
    stride
        Residues between the starts of training fragments (default ``fragment_length // 16``).
    noise_dim
        Size of the generator's noise vector.
    architecture
        ``"chain"`` (angles and torsions along the chain, built into coordinates, their map corrected by
        2-D convolutions) or ``"dcgan"`` (transposed 2-D convolutions straight to the map, as Anand &
        Huang). On 2 CPU cores a DCGAN step costs several times a chain step; see BENCHMARKS.md for both.
    channels
        Width of the critic's first convolution (and the DCGAN generator's last).
    chain_channels, n_blocks
        Width and number of residual blocks of the chain generator's 1-D convolutions.
    map_channels
        Width of the chain generator's 2-D map-correction head (0: no correction; without it the maps
        came out much worse in the same steps, see BENCHMARKS.md).
    torsion_weight
        Scale of the signed-torsion rows in the critic's input (chain generator). The gradient penalty
        bounds the critic's slope per unit of input, so at scale 1 the hand of a backbone weighs little
        against its map and the generator drifts to mirror images; 8 did best of 1, 4, 8 and 16 in
        development runs (one seed, 800 steps, 64 residues).
    gp_weight
        Gradient-penalty weight (WGAN-GP).
    validation_share
        Share of the training entries held out to score the generator.
    n_monitor
        Generated fragments per validation score.
    refine_steps
        Gradient steps of the coordinate refinement when sampling (:func:`coordinates_from_maps`).
    monitor_refine_steps
        The same for the validation score (fewer: it runs during training).
    train
        Optimisation settings of the shared loop.
    """

    fragment_length: int = 64
    stride: int | None = None
    noise_dim: int = 128
    architecture: str = "chain"
    channels: int = 8
    chain_channels: int = 32
    n_blocks: int = 3
    map_channels: int = 8
    torsion_weight: float = 8.0
    gp_weight: float = 10.0
    validation_share: float = 0.1
    n_monitor: int = 256
    refine_steps: int = 300
    monitor_refine_steps: int = 150
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=32, n_critic=2, lr_generator=5e-4, lr_critic=5e-4, eval_every=250, patience=4
        )
    )

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        if self.fragment_length < 8:
            raise ValueError(f"fragment_length must be at least 8, not {self.fragment_length}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be at least 1, not {self.stride}")
        check_split_and_penalty(self)


def separation_statistics(maps: np.ndarray) -> np.ndarray:
    """Per sequence separation ``k = 0 .. L-1`` of the maps ``(n, L, L)``: the median distance, and the
    mean and standard deviation of ``log d`` (rows of a ``(3, L)`` array; zeros at ``k = 0``)."""
    length = maps.shape[-1]
    out = np.zeros((3, length), dtype=np.float32)
    for k in range(1, length):
        d = np.diagonal(maps, offset=k, axis1=-2, axis2=-1).astype(np.float64)
        log_d = np.log(np.maximum(d, 0.5))
        out[:, k] = np.median(d), log_d.mean(), log_d.std()
    return out


def log_density(coords: np.ndarray) -> np.ndarray:
    """Log probabilities of the (bond angle, torsion) bins of real fragments, one pseudo-count per bin."""
    hist = angle_torsion_histogram(coords, HISTOGRAM_BINS) * max(coords.shape[0] * coords.shape[1], 1)
    return np.log((hist + 1.0) / (hist + 1.0).sum()).astype(np.float32)


class StructureProblem(AdversarialProblem):
    """Generator, critic and batches of training distance maps."""

    def __init__(self, length: int, statistics: np.ndarray, config: StructureGANConfig) -> None:
        super().__init__(AdversarialLoss("wgan-gp"), config.gp_weight)
        self.config = config
        self.length = length
        stats = torch.as_tensor(statistics, dtype=torch.float32)
        base_t = stats[0]
        if config.architecture == "chain":
            self.generator: nn.Module = ChainMapGenerator(
                config.noise_dim, length, config.chain_channels, config.n_blocks, config.map_channels
            )
        else:
            self.generator = DistanceMapGenerator(config.noise_dim, length, base_t, config.channels)
        self.torsions = config.architecture == "chain"  # only the chain generator has signed torsions
        self.critic = DistanceMapCritic(length, config.channels, torsions=self.torsions)
        self.standardise = MapStandardiser(stats[1], stats[2])
        self.register_buffer("log_density", torch.zeros(HISTOGRAM_BINS))
        self.register_buffer("bond_quantiles", torch.full((BOND_QUANTILES,), BOND))

    def draw_bonds(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Consecutive Cα distances ``(n, L-1)`` drawn from the training fragments' (quantile
        interpolation): real bonds spread (0.05 Å within a fragment, cis peptides at 2.9 Å), and
        fragments refined to exactly 3.8 Å everywhere were what a classifier told apart first."""
        quantiles = self.bond_quantiles.cpu().numpy()
        levels = np.linspace(0.0, 1.0, len(quantiles))
        return np.interp(rng.random((n, self.length - 1)), levels, quantiles).astype(np.float32)

    def attach(self, coords: np.ndarray, maps: np.ndarray, valid: np.ndarray, seed: int) -> None:
        """Train on fragments ``coords`` (their ``maps``); score the generator against the held-out
        fragments ``valid`` (coordinates)."""
        device = self.log_density.device
        if self.torsions:  # the chain's bond angles span the training fragments' (with 5° to spare)
            angles = bond_angles(coords)
            span = np.radians([np.percentile(angles, 0.05) - 5.0, np.percentile(angles, 99.95) + 5.0])
            with torch.no_grad():
                self.generator.angle_range.copy_(torch.from_numpy(span.astype(np.float32)))
        self.source = ArraySource(
            maps=torch.from_numpy(maps).to(device), coords=torch.from_numpy(coords).to(device)
        )
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(valid), min(len(valid), self.config.n_monitor), replace=False)
        self.valid_hist = angle_torsion_histogram(valid[pick], HISTOGRAM_BINS)
        features = fragment_features(valid[pick])
        self.feature_mean, self.feature_sd = features.mean(0), features.std(0) + 1e-6
        self.valid_features = torch.from_numpy((features - self.feature_mean) / self.feature_sd)
        gen = torch.Generator().manual_seed(seed)
        self.valid_z = torch.randn(len(pick), self.config.noise_dim, generator=gen).to(device)

    def critic_input(self, maps: torch.Tensor, chains: torch.Tensor | None) -> torch.Tensor:
        """The standardised maps, with the chains' torsion rows below them when the critic reads them."""
        x = self.standardise(maps)
        if not self.torsions:
            return x
        return torch.cat([x, self.config.torsion_weight * torsion_rows(chains)], 1)

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        maps = rows["maps"]
        y = torch.zeros(len(maps), dtype=torch.long, device=maps.device)
        return Batch(self.critic_input(maps, rows["coords"]), y)

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:
        z = torch.randn(len(real.y), self.config.noise_dim, device=real.x.device)
        return Batch(self.critic_input(*generator(z, chain=True)), real.y)

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """(Angle, torsion) histogram JS divergence between recovered and held-out backbones plus the
        MMD^2 of their standardised fragment features (fixed noise, so scores compare across steps)."""
        if self.source is None or len(self.valid_z) < 8:
            return None
        was_training = generator.training
        generator.eval()
        maps = generator(self.valid_z).float().cpu().numpy()
        generator.train(was_training)
        coords = coordinates_from_maps(
            maps,
            self.log_density.cpu().numpy(),
            refine_steps=self.config.monitor_refine_steps,
            bonds=self.draw_bonds(len(maps), np.random.default_rng(0)),
        )
        js = jensenshannon(angle_torsion_histogram(coords, HISTOGRAM_BINS).ravel(), self.valid_hist.ravel())
        features = torch.from_numpy((fragment_features(coords) - self.feature_mean) / self.feature_sd)
        return float(js**2 + mmd2_rbf(features, self.valid_features))


@register_model
class StructureGAN(GenerativeModel):
    """GAN for protein backbone fragments through their Cα distance maps (sklearn-style API).

    Parameters
    ----------
    config
        Hyperparameters; keyword ``overrides`` replace single fields (``fragment_length=16``;
        ``batch_size=128`` goes to ``config.train``).
    seed
        Seeds the split, weight initialisation and training; same data and seed -> same model and
        samples on CPU.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> from biogan.data.structures import read_structures
    >>> chains = read_structures("structures/")            # a folder of .pdb / .cif files
    >>> model = StructureGAN(fragment_length=64, seed=0).fit(chains)
    >>> backbones = model.sample(100)                       # 100 Cα fragments of 64 residues
    """

    name = "structure"
    data_kind = "structures"
    config_class = StructureGANConfig
    problem_class = StructureProblem
    trainer_class = AdversarialTrainer

    def __init__(
        self, config: StructureGANConfig | None = None, seed: int = 0, device: str = "auto", **overrides: Any
    ) -> None:
        super().__init__(config, seed, device, **overrides)
        self.statistics = np.zeros((3, self.config.fragment_length), dtype=np.float32)
        self.n_fragments = 0
        self.novelty: dict[str, float] = {}
        self._heldout: np.ndarray | None = None
        self._train_coords: np.ndarray | None = None

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: StructureSet,
        max_steps: int = 3000,
        max_seconds: float | None = None,
        resume: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> StructureGAN:
        """Learn the fragments of ``data`` for up to ``max_steps`` generator steps (early stopping on the
        held-out score ends sooner).

        Parameters
        ----------
        data
            Chains (:func:`biogan.data.structures.read_structures`), cut here into fragments of
            ``config.fragment_length``; or fragments of that length already.
        max_steps, max_seconds
            Training length in generator steps, and an optional wall-clock budget.
        resume, checkpoint_dir
            Continue from ``checkpoint_dir/checkpoint.pt``; write checkpoints there.
        progress
            Show a progress bar with the losses.
        """
        fragments = self._fragments(data)
        if self.problem is None:
            train, valid = group_split(fragments.groups, self.config.validation_share, self.seed)
            if len(valid) == 0:  # too few entries to hold any out: score against the training fragments
                valid = train
            coords = fragments.coordinates()
            maps = distance_maps(coords)
            self.statistics = separation_statistics(maps[train])
            with torch.random.fork_rng(devices=[]):  # weight init follows the seed, not global state
                torch.manual_seed(self.seed)
                self.problem = self._empty_problem().to(self.device)
            with torch.no_grad():
                self.problem.log_density.copy_(torch.from_numpy(log_density(coords[train])))
                bonds = np.quantile(bond_lengths(coords[train]), np.linspace(0.0, 1.0, BOND_QUANTILES))
                self.problem.bond_quantiles.copy_(torch.from_numpy(bonds.astype(np.float32)))
            self.problem.attach(coords[train], maps[train], coords[valid], self.seed)
            self.n_fragments = len(train)
            self._train_coords, self._heldout = coords[train], coords[valid]
        self._train(max_steps, max_seconds, resume, checkpoint_dir, progress)
        self._measure_novelty()
        return self

    def _fragments(self, data: StructureSet) -> StructureSet:
        if not isinstance(data, StructureSet):
            raise InvalidDataError(
                "StructureGAN expects a StructureSet (biogan.data.structures.read_structures), "
                f"not {type(data).__name__}"
            )
        length = self.config.fragment_length
        if data.fragment_length != length:
            stride = self.config.stride or default_stride(length)
            data = data.fragments(length, stride)
        check_enough(len(data), "the training fragments", "fragment")
        check_memory(
            len(data) * length * length * 4 * 3,
            f"the distance maps of {len(data)} fragments of {length} residues",
            "use a larger --stride or a shorter --fragment-length",
        )
        return data

    def _measure_novelty(self) -> None:
        """Median RMSD to the nearest training fragment of generated and of held-out real fragments."""
        from biogan.metrics.structures import nearest_fragment_rmsd

        if self._heldout is None or self._train_coords is None:
            return
        n = min(len(self._heldout), 500)
        generated = self.sample(n, seed=self.seed + 1).coordinates()
        self.novelty = {
            "nearest_training_rmsd": float(np.median(nearest_fragment_rmsd(generated, self._train_coords))),
            "heldout_nearest_training_rmsd": float(
                np.median(nearest_fragment_rmsd(self._heldout[:n], self._train_coords))
            ),
            "n": float(n),
        }

    # ------------------------------------------------------------------ sampling
    def generate_maps(self, n: int, seed: int = 0, batch_size: int = 1024) -> np.ndarray:
        """Raw generated distance maps ``(n, L, L)`` in Å (before coordinates are fitted to them)."""
        if self._sampler is None:
            raise NotFittedError("call fit() (or load a trained model) before sample()")
        generator = self._sampler
        chunks = []
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            generator.eval()
            for start in range(0, n, batch_size):
                z = torch.randn(min(batch_size, n - start), self.config.noise_dim, device=self.device)
                chunks.append(generator(z).float().cpu().numpy())
        length = self.config.fragment_length
        return np.concatenate(chunks) if chunks else np.zeros((0, length, length), np.float32)

    def sample(self, n: int | None = None, labels: Any = None, seed: int = 0) -> StructureSet:
        """Generate ``n`` backbone fragments.

        Parameters
        ----------
        n
            Number of fragments.
        labels
            Not used (the model is unconditional); present for the common ``sample`` signature.
        seed
            Seeds the sampling (same seed -> same backbones on CPU).

        Returns
        -------
        StructureSet
            Fragments ``generated1``, ``generated2``, ... (Cα coordinates centred at the origin).
        """
        if labels:
            raise InvalidDataError("StructureGAN is unconditional: ask for -n fragments, not --labels")
        if n is None or n < 1:
            raise InvalidDataError("ask for at least one fragment (n >= 1)")
        length = self.config.fragment_length
        check_memory(
            n * length * length * 4 * 8,  # maps, then the refinement's pairwise differences per batch
            f"sampling {n} fragments of {length} residues",
            "ask for fewer fragments, or sample in several runs (other seeds)",
        )
        maps = self.generate_maps(n, seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            coords = coordinates_from_maps(
                maps,
                self.problem.log_density.cpu().numpy(),
                refine_steps=self.config.refine_steps,
                bonds=self.problem.draw_bonds(n, np.random.default_rng(seed)),
            )
        return StructureSet.from_coordinates(coords, prefix="generated")

    # ------------------------------------------------------------------ persistence
    def _describe(self) -> dict[str, Any]:
        return {
            "separation_statistics": self.statistics.tolist(),
            "n_fragments": self.n_fragments,
            "novelty": self.novelty,
        }

    def _restore(self, meta: dict[str, Any]) -> None:
        self.statistics = np.asarray(meta["separation_statistics"], dtype=np.float32)
        self.n_fragments = int(meta.get("n_fragments", 0))
        self.novelty = dict(meta.get("novelty", {}))

    def _empty_problem(self) -> StructureProblem:
        return StructureProblem(self.config.fragment_length, self.statistics, self.config)


__all__ = ["StructureGAN", "StructureGANConfig", "StructureProblem", "log_density", "separation_statistics"]
