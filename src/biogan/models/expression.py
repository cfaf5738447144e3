"""ExpressionGAN: a conditional count GAN for single-cell (and bulk) RNA-seq.

How a synthetic cell is made
----------------------------
1. A library size ``L`` is drawn for the requested cell type (from the type's training library sizes,
   smoothed in log space), so totals vary per type as in the data -- no fixed-size normalisation.
2. The generator maps noise, the type and ``log L`` to logits over genes (a per-type offset starts at
   the type's mean profile); a softmax gives expression proportions ``p``.
3. Counts are sampled from a negative binomial with mean ``L * p`` and a per-type, per-gene dispersion
   estimated from the data (gamma-Poisson), giving exact zeros and the data's mean-variance relation.
4. The critic sees ``log1p`` of the *sampled* counts normalised to 10k (standardised per gene), with a
   straight-through gradient to the mean, and the type through a projection head.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from biogan.data.anndata import CountData, registered_keys
from biogan.data.preprocessing import (
    class_mean_profiles,
    library_sizes,
    log_moments,
    log_normalize,
    log_normalize_torch,
    nb_dispersion,
    subclusters,
)
from biogan.data.samplers import validation_split
from biogan.data.sources import ArraySource
from biogan.errors import InvalidDataError, NotFittedError
from biogan.losses import AdversarialLoss, mmd2_rbf
from biogan.models._base import CountModel
from biogan.models._shared import check_validation_share
from biogan.models.registry import register_model
from biogan.nn import CountGenerator, ProjectionCritic, binomial_thinning, sample_counts, sample_log_library
from biogan.train import AdversarialProblem, AdversarialTrainer, Batch, TrainConfig

MONITOR_KEYS = ("x", "y", "log_lib", "z", "basis", "center")
EPOCHS, MAX_STEPS = 40, 20_000  # the default step budget (default_max_steps)


@dataclass
class ExpressionGANConfig:
    """Hyperparameters of :class:`ExpressionGAN` (saved with the model).

    Parameters
    ----------
    noise_dim
        Size of the generator's noise vector.
    generator_hidden, critic_hidden
        Hidden layer widths.
    critic_dropout
        Dropout in the critic (regularises it on small data sets).
    spectral_norm
        Spectral-normalise the critic.
    minibatch_group
        Above 1, the critic also reads the spread of its features within groups of this many cells
        (minibatch standard deviation, a PacGAN-like view of more than one cell); 0 disables.
    loss
        ``"wgan-gp"``, ``"minimax"`` (non-saturating) or ``"hinge"``.
    gp_weight
        Gradient-penalty weight (applies to any loss; WGAN-GP needs it > 0).
    count_noise
        ``"nb"`` (negative binomial, default) or ``"poisson"``.
    dispersion_scale
        Multiplies the estimated NB ``theta`` (> 1: less extra-Poisson noise, leaving more variation
        for the generator to model).
    learn_dispersion
        Let the adversarial game adjust the dispersions (started at the moment estimates).
    thinning
        Augmentation: before the critic sees a cell (real or generated), keep each of its counts
        with a probability drawn from ``U(1 - thinning, 1)``; 0 disables.
    cells_per_subcluster, max_subclusters
        Each label is split into k-means sub-clusters of about this many training cells (at most
        ``max_subclusters`` per label); generator and critic are conditioned on the sub-cluster, and
        sampling a label draws its sub-clusters in their training proportions. 0 disables the split.
        Without labels all cells form one label, so the cap must leave room for the states of a whole
        sample (unconditional pbmc3k: the start alone scores C2ST 0.655 with at most 12, 0.580 with 64).
    n_monitor
        Generated cells (fixed noise) scored against the validation cells every ``eval_every`` steps.
    validation_share
        Share of the training cells (stratified by label; labels with too few cells stay whole) held out
        from the critic: generated cells are scored against them (MMD^2 on 30 principal components of
        log expression), the best-scoring EMA weights are kept and training stops after ``patience``
        scores without improvement.
    train
        Optimisation settings of the shared loop: scored every 50 steps, stopped after 10 scores without
        improvement; the critic learns alone for the first 100 steps and the generator's learning rate
        ramps up over the next 100 (``generator_warmup``), so the generator keeps its fitted start until
        the critic can tell it something. The generator learns slowly (2e-5, a fifth of the loop's
        default): it refines a start that is already good, and on a few hundred cells faster steps move
        it away from held-out cells.
    """

    noise_dim: int = 64
    generator_hidden: tuple[int, ...] = (256, 512)
    critic_hidden: tuple[int, ...] = (512, 256)
    critic_dropout: float = 0.3
    spectral_norm: bool = False
    minibatch_group: int = 0
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    count_noise: str = "nb"
    dispersion_scale: float = 1.0
    learn_dispersion: bool = True
    thinning: float = 0.5
    cells_per_subcluster: int = 20
    max_subclusters: int = 64
    n_monitor: int = 512
    validation_share: float = 0.1
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            lr_generator=2e-5, eval_every=50, patience=10, generator_warmup=100
        )
    )

    def __post_init__(self) -> None:
        AdversarialLoss(self.loss)  # validates the name
        if self.count_noise not in ("nb", "poisson"):
            raise ValueError(f"count_noise must be 'nb' or 'poisson', not {self.count_noise!r}")
        if self.loss == "wgan-gp" and self.gp_weight <= 0:
            raise ValueError("the wgan-gp loss needs gp_weight > 0")
        check_validation_share(self.validation_share)


class CountGANProblem(AdversarialProblem):
    """Generator, critic and batches for count data; also holds the statistics sampling needs.

    Generator and critic are conditioned on *components* (sub-clusters of the labels); the statistics
    live in buffers, so a saved state dict rebuilds a model that samples without data.
    """

    sample_noun = "cells"

    def __init__(self, n_genes: int, n_components: int, config: ExpressionGANConfig) -> None:
        super().__init__(AdversarialLoss(config.loss), config.gp_weight)
        self.config = config
        self.generator = make_generator(n_genes, n_components, config)
        self.critic = ProjectionCritic(
            n_genes,
            n_components,
            config.critic_hidden,
            config.critic_dropout,
            config.spectral_norm,
            config.minibatch_group,
        )
        zeros = torch.zeros
        self.register_buffer("component_label", zeros(n_components, dtype=torch.long))
        self.register_buffer("component_size", torch.ones(n_components))
        self.register_buffer("gene_mean", zeros(n_genes))
        self.register_buffer("gene_std", torch.ones(n_genes))
        self.register_buffer("log_lib_center", zeros(()))
        self.register_buffer("log_lib_scale", torch.ones(()))
        self.register_buffer("lib_log", zeros(0))  # training library sizes (log), for sampling
        self.register_buffer("lib_codes", zeros(0, dtype=torch.long))  # component of each cell
        self.has_monitor = False

    # -------------------------------------------------------------- set-up from data
    @classmethod
    def from_data(cls, data: CountData, config: ExpressionGANConfig, seed: int) -> CountGANProblem:
        """Split labels into components, build the networks and estimate the statistics."""
        lib = library_sizes(data.X)
        if (lib == 0).any():
            raise InvalidDataError(
                f"{int((lib == 0).sum())} cells have no counts at all (in the genes kept); remove them, "
                "or keep more genes"
            )
        components, component_label = split_labels(data.X, data.codes, len(data.categories), config, seed)
        problem = cls(data.X.shape[1], len(component_label), config)
        train, valid = validation_split(data.codes, config.validation_share, seed, keep_small_classes=True)
        problem.train_rows = train if len(valid) < data.n_cells else None
        problem.fit_statistics(data, components, component_label, seed, lib, valid)
        return problem

    def fit_statistics(
        self,
        data: CountData,
        components: np.ndarray,
        component_label: np.ndarray,
        seed: int,
        lib: np.ndarray,
        valid: np.ndarray,
    ) -> None:
        """Estimate per-component statistics from ``data`` (library sizes ``lib``) and keep it as the source
        of real batches, the ``valid`` cells as the reference of the validation score; each statistic is
        one streamed pass when the counts are on disk."""
        log_lib = np.log(lib).astype(np.float32)
        self.source = ArraySource(counts=data.X, component=components, log_lib=log_lib)
        n_components = len(component_label)
        theta = nb_dispersion(data.X, components, n_components, lib=lib) * self.config.dispersion_scale
        profiles = class_mean_profiles(data.X, components, n_components, lib=lib)
        with torch.no_grad():
            self.component_label.copy_(torch.from_numpy(component_label))
            self.component_size.copy_(torch.from_numpy(np.bincount(components, minlength=n_components)))
            self.generator.log_theta.copy_(torch.from_numpy(np.log(theta)))
            gene_mean, gene_std = log_moments(data.X)
            self.gene_mean.copy_(torch.from_numpy(gene_mean))
            self.gene_std.copy_(torch.from_numpy(gene_std).clamp_min(1e-2))
            self.log_lib_center.fill_(float(np.log(lib).mean()))
            self.log_lib_scale.fill_(float(max(np.log(lib).std(), 1e-3)))
            self.lib_log = torch.from_numpy(log_lib)
            self.lib_codes = torch.from_numpy(components)
            self.generator.class_offset.weight.copy_(torch.from_numpy(np.log(profiles + 1e-8)))
        self._prepare_monitor(data, components, seed, valid)

    def _prepare_monitor(self, data: CountData, components: np.ndarray, seed: int, valid: np.ndarray) -> None:
        """Fix the reference cells (up to ``n_monitor`` validation cells), a PCA basis, and the components,
        library sizes and noise of ``n_monitor`` generated cells that mirror them."""
        n = self.config.n_monitor
        rng = np.random.default_rng(seed)
        idx = np.sort(rng.choice(valid, min(n, len(valid)), replace=False))
        # The basis is fit on unstandardised log expression, like the C2ST of the benchmarks, of up to
        # n_monitor cells of any part (a few dozen held-out cells would give a noisy basis); both sets
        # are read in one pass (on disk, random cells touch many blocks).
        fit_on = np.sort(rng.choice(data.n_cells, min(n, data.n_cells), replace=False))
        cells = np.union1d(idx, fit_on)
        log_cells = torch.from_numpy(log_normalize(data.X[cells]))
        log_x, log_fit = (log_cells[np.searchsorted(cells, part)] for part in (idx, fit_on))
        x = (log_x - self.gene_mean.cpu()) / self.gene_std.cpu()
        center = log_fit.mean(0)
        _, _, v = torch.linalg.svd(log_fit - center, full_matrices=False)
        gen = torch.Generator().manual_seed(seed)
        # More generated than held-out cells when few are held out: the fake side's sampling noise is what
        # changes from one score to the next, so it decides which step is kept.
        mirror = np.resize(idx, max(n, len(idx)))
        tensors = {
            "x": x,
            "y": torch.from_numpy(components[mirror]),
            "log_lib": self.lib_log[mirror],
            "z": torch.randn(len(mirror), self.config.noise_dim, generator=gen),
            "basis": v[:30].T.contiguous(),
            "center": center,
        }
        # Non-persistent buffers follow .to(device) but are never saved: no training cells in model files.
        for key, value in tensors.items():
            self.register_buffer(f"monitor_{key}", value.to(self.gene_mean.device), persistent=False)
        self.has_monitor = True

    @property
    def _monitor(self) -> dict[str, torch.Tensor]:
        if not self.has_monitor:
            return {}
        return {key: getattr(self, f"monitor_{key}") for key in MONITOR_KEYS}

    # -------------------------------------------------------------- batches
    def _critic_view(self, counts: torch.Tensor, augment: bool = False) -> torch.Tensor:
        if augment and self.config.thinning > 0:
            counts = binomial_thinning(counts, self.config.thinning)
        return (log_normalize_torch(counts) - self.gene_mean) / self.gene_std

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        x = self._critic_view(rows["counts"], augment=True)
        return Batch(x, rows["component"], {"log_lib": rows["log_lib"]})

    def generate_counts(
        self,
        y: torch.Tensor,
        log_lib: torch.Tensor,
        generator: nn.Module,
        z: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sampled counts (straight-through) for classes ``y`` and log library sizes ``log_lib``."""
        if z is None:
            z = torch.randn(len(y), self.config.noise_dim, device=y.device)
        covariate = ((log_lib - self.log_lib_center) / self.log_lib_scale)[:, None]
        logits, theta = generator(z, y, covariate)
        # Proportions and count draws in fp32, also under bf16 autocast (2,000-way softmaxes need it).
        mean = torch.exp(log_lib)[:, None] * torch.softmax(logits.float(), dim=1)
        theta = theta.float()
        return sample_counts(mean, theta if self.config.count_noise == "nb" else None)

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:
        assert real.extra is not None
        counts = self.generate_counts(real.y, real.extra["log_lib"], generator)
        return Batch(self._critic_view(counts, augment=True), real.y, real.extra)

    def sample_components(self, labels: torch.Tensor) -> torch.Tensor:
        """Draw a component for each requested label in the training proportions."""
        weights = (self.component_label[None, :] == labels[:, None]) * self.component_size[None, :]
        return torch.multinomial(weights.float(), 1).squeeze(1)

    def sample_library_sizes(self, y: torch.Tensor) -> torch.Tensor:
        """Log library sizes drawn per component from its training cells, smoothed in log space."""
        return sample_log_library(self.lib_log, self.lib_codes, y)

    # -------------------------------------------------------------- diagnostics
    @torch.no_grad()
    def _monitor_fake(self, generator: nn.Module) -> torch.Tensor:
        m = self._monitor
        was_training = generator.training
        generator.eval()
        counts = self.generate_counts(m["y"], m["log_lib"], generator, z=m["z"])
        generator.train(was_training)
        return self._critic_view(counts)

    @torch.no_grad()
    def monitor(self, generator: nn.Module) -> dict[str, float]:
        """Diversity of a fixed-noise batch relative to real cells (1 = as diverse; near 0 = collapse)."""
        if not self._monitor:
            return {}
        fake, real = self._monitor_fake(generator), self._monitor["x"]
        ratio = torch.pdist(fake).mean() / torch.pdist(real).mean().clamp_min(1e-8)
        return {"diversity_ratio": float(ratio)}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """MMD^2 between generated and real reference cells on 30 principal components of log expression."""
        if not self._monitor:
            return None
        m = self._monitor

        def project(x: torch.Tensor) -> torch.Tensor:  # standardised critic view -> PCs of log expression
            return (x * self.gene_std + self.gene_mean - m["center"]) @ m["basis"]

        return float(mmd2_rbf(project(self._monitor_fake(generator)), project(m["x"])))


def make_generator(n_genes: int, n_components: int, config: ExpressionGANConfig) -> CountGenerator:
    """The generator network for ``config`` (also used to rebuild the sampler at load time)."""
    return CountGenerator(
        config.noise_dim,
        n_components,
        n_genes,
        config.generator_hidden,
        n_covariates=1,
        # Poisson counts ignore the dispersions: a parameter without gradient would stall DDP's all-reduce.
        learn_dispersion=config.learn_dispersion and config.count_noise == "nb",
    )


def split_labels(
    X: sp.spmatrix, codes: np.ndarray, n_labels: int, config: ExpressionGANConfig, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Component of every cell and the label of every component (identity when the split is off)."""
    if config.cells_per_subcluster <= 0:
        return codes.copy(), np.arange(n_labels, dtype=np.int64)
    return subclusters(X, codes, n_labels, config.cells_per_subcluster, config.max_subclusters, seed=seed)


@register_model
class ExpressionGAN(CountModel):
    """Conditional count GAN for single-cell RNA-seq (scvi-tools-style API).

    Parameters
    ----------
    adata
        Registered with :meth:`setup_anndata`; ``None`` only when loading a saved model.
    config
        Hyperparameters; keyword ``overrides`` replace single fields (``n_critic=3`` etc. go to
        ``config.train``). The defaults were chosen on the pbmc68k benchmark (see BENCHMARKS.md):
        count-space augmentation (``thinning``) and critic dropout stop the critic from memorising a
        few hundred cells, which otherwise makes sample quality fall as training goes on.
    seed
        Seeds training and the monitor set; same seed, same data -> same weights and samples on CPU.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> adata = biogan.datasets.pbmc68k_counts()
    >>> biogan.ExpressionGAN.setup_anndata(adata, layer="counts", labels_key="cell_type")
    >>> model = biogan.ExpressionGAN(adata, seed=0).fit()
    >>> synth = model.sample(n=500)
    """

    name = "expression"
    config_class = ExpressionGANConfig
    problem_class = CountGANProblem
    trainer_class = AdversarialTrainer

    def __init__(
        self,
        adata: ad.AnnData | None = None,
        config: ExpressionGANConfig | None = None,
        seed: int = 0,
        device: str = "auto",
        **overrides: Any,
    ) -> None:
        super().__init__(config, seed, device, **overrides)
        if adata is not None:
            self.layer, self.labels_key = registered_keys(adata)
            data = CountData.from_anndata(adata, self.layer, self.labels_key)
            self.categories, self.genes = data.categories, data.genes
            self.zero_fraction = data.zero_fraction
            with torch.random.fork_rng(devices=[]):  # weight init follows the seed, not global state
                torch.manual_seed(self.seed)
                self.problem = CountGANProblem.from_data(data, self.config, self.seed)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        max_steps: int | None = None,
        max_seconds: float | None = None,
        resume: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> ExpressionGAN:
        """Train for ``max_steps`` generator steps (or until ``max_seconds`` have passed, or until the
        validation score has not improved for ``patience`` evaluations); the best validated EMA weights
        are kept.

        Parameters
        ----------
        max_steps
            Most generator steps (counting steps done before a resume); default
            :meth:`default_max_steps`.
        max_seconds
            Optional wall-clock budget for the whole run.
        resume
            Continue from ``checkpoint_dir/checkpoint.pt`` when it exists.
        checkpoint_dir
            Folder for periodic atomic checkpoints (``None``: no checkpoints).
        progress
            Show a progress bar with the losses.
        """
        steps = self.default_max_steps() if max_steps is None else max_steps
        self._train(steps, max_seconds, resume, checkpoint_dir, progress)
        return self

    def default_max_steps(self) -> int:
        """The step budget :meth:`fit` uses by default: the critic's warm-up and the generator's ramp
        (``2 * generator_warmup``) plus 40 epochs of the critic's cells, rounded up to a validation step,
        at most 20,000 steps (early stopping may end training sooner).

        On a few hundred cells this is a few hundred steps: there, longer adversarial training moves the
        generator away from held-out cells (BENCHMARKS.md, issue 12)."""
        problem = self.problem
        if problem is None or problem.source is None:
            raise NotFittedError("build ExpressionGAN from training data first")
        cells = len(problem.source) if problem.train_rows is None else len(problem.train_rows)
        train = self.config.train
        steps = 2 * train.generator_warmup + math.ceil(EPOCHS * cells / train.batch_size)
        if train.eval_every:  # the last steps are validated too
            steps = math.ceil(steps / train.eval_every) * train.eval_every
        return min(steps, MAX_STEPS)

    # ------------------------------------------------------------------ sampling
    def _label_sizes(self) -> np.ndarray:
        problem = self.problem
        return np.bincount(
            problem.component_label.cpu().numpy(),
            weights=problem.component_size.cpu().numpy(),
            minlength=len(self.categories),
        )

    def _generate(self, labels: torch.Tensor) -> torch.Tensor:
        y = self.problem.sample_components(labels)
        return self.problem.generate_counts(y, self.problem.sample_library_sizes(y), self._sampler)

    # ------------------------------------------------------------------ persistence
    def _describe(self) -> dict[str, Any]:
        return {**super()._describe(), "n_components": len(self.problem.component_label)}

    def _restore(self, meta: dict[str, Any]) -> None:
        super()._restore(meta)
        self._n_components = int(meta.get("n_components", len(self.categories)))

    def _empty_problem(self) -> CountGANProblem:
        return CountGANProblem(len(self.genes), self._n_components, self.config)


__all__ = ["CountGANProblem", "ExpressionGAN", "ExpressionGANConfig"]
