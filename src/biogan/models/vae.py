"""ExpressionVAE: a conditional count VAE (negative-binomial decoder, scVI-style) as a GAN baseline.

Same API as :class:`biogan.ExpressionGAN` (``setup_anndata``, ``fit``, ``sample``, ``save``, ``load``,
``history``), so the two can be trained on the same split and compared on the same metrics.

How a synthetic cell is made: a label is drawn (or requested), a library size ``L`` is drawn from that
label's training library sizes (smoothed in log space, as ExpressionGAN does), a latent code from the
prior ``N(0, I)``; the decoder gives gene proportions ``p`` and counts are sampled from a negative
binomial with mean ``L * p`` and the label's per-gene dispersion.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import anndata as ad
import numpy as np
import torch

from biogan.data.anndata import CountData, registered_keys
from biogan.data.preprocessing import library_sizes, nb_dispersion
from biogan.data.samplers import Sampler
from biogan.data.sources import ArraySource
from biogan.errors import InvalidDataError, NotFittedError
from biogan.models._base import CountModel, load_resized
from biogan.models.registry import register_model
from biogan.nn import sample_counts, sample_log_library
from biogan.nn.vae import CountVAE
from biogan.train.likelihood import (
    LikelihoodProblem,
    LikelihoodTrainConfig,
    LikelihoodTrainer,
    steps_for_epochs,
)


@dataclass
class ExpressionVAEConfig:
    """Hyperparameters of :class:`ExpressionVAE` (saved with the model).

    Parameters
    ----------
    n_latent
        Size of the latent code.
    hidden
        Encoder hidden widths (the decoder mirrors them).
    dropout
        Dropout after each hidden block.
    kl_warmup_steps
        The KL weight rises linearly from 0 to 1 over these steps (avoids posterior collapse early).
    validation_fraction
        Share of the training cells held back to pick the best weights (0 disables; needs >= 10 cells).
    latent_prior
        Where sampled latent codes come from: ``"label-gaussian"`` (a Gaussian per label fit to the
        training cells' posteriors after training: lands in the regions the decoder knows) or
        ``"standard"`` (the ``N(0, I)`` prior of the ELBO).
    train
        Optimisation settings of the likelihood loop.
    """

    n_latent: int = 10
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.1
    kl_warmup_steps: int = 400
    validation_fraction: float = 0.1
    latent_prior: str = "label-gaussian"
    train: LikelihoodTrainConfig = field(default_factory=LikelihoodTrainConfig)

    def __post_init__(self) -> None:
        if self.n_latent < 1 or not self.hidden:
            raise ValueError("n_latent must be >= 1 and hidden must list at least one width")
        if not 0 <= self.validation_fraction < 0.5:
            raise ValueError(f"validation_fraction must be in [0, 0.5), not {self.validation_fraction}")
        if self.latent_prior not in ("label-gaussian", "standard"):
            raise ValueError(
                f"latent_prior must be 'label-gaussian' or 'standard', not {self.latent_prior!r}"
            )


class CountVAEProblem(LikelihoodProblem):
    """The VAE plus what sampling needs (training library sizes per label), kept in buffers."""

    sample_noun = "cells"

    def __init__(self, n_genes: int, n_classes: int, config: ExpressionVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.vae = CountVAE(n_genes, n_classes, config.n_latent, config.hidden, config.dropout)
        self.register_buffer("lib_log", torch.zeros(0))  # training library sizes (log), for sampling
        self.register_buffer("lib_codes", torch.zeros(0, dtype=torch.long))
        self.register_buffer("class_size", torch.ones(n_classes))
        # Sampling distribution of latent codes per label (standard normal until fit_latent_prior).
        self.register_buffer("latent_mean", torch.zeros(n_classes, config.n_latent))
        self.register_buffer("latent_chol", torch.eye(config.n_latent).repeat(n_classes, 1, 1))
        self.train_idx = np.zeros(0, dtype=np.int64)
        self.val_idx = np.zeros(0, dtype=np.int64)
        self.kl_weight = 0.0

    def attach(self, data: CountData, seed: int) -> None:
        """Keep ``data`` as the batch source, hold out validation cells, record library sizes."""
        lib = library_sizes(data.X)
        if (lib == 0).any():
            raise InvalidDataError(
                f"{int((lib == 0).sum())} cells have no counts at all (in the genes kept); remove them, "
                "or keep more genes"
            )
        self.source = ArraySource(counts=data.X, label=data.codes)
        n_val = round(self.config.validation_fraction * data.n_cells)
        order = np.random.default_rng(seed).permutation(data.n_cells)
        if n_val >= 10 and data.n_cells - n_val >= 10:
            self.val_idx, self.train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
        else:
            self.val_idx, self.train_idx = np.zeros(0, dtype=np.int64), np.arange(data.n_cells)
        device = self.class_size.device
        self.lib_log = torch.from_numpy(np.log(lib)).float().to(device)
        self.lib_codes = torch.from_numpy(data.codes).to(device)
        sizes = np.bincount(data.codes, minlength=len(self.class_size))
        self.class_size.copy_(torch.from_numpy(sizes.astype(np.float32)))
        # Start the dispersions at their moment estimates (as ExpressionGAN does): from theta = 1 Adam
        # needs thousands of steps to reach them, and small data sets get a few hundred.
        theta = nb_dispersion(data.X, data.codes, len(self.class_size), lib=lib)
        with torch.no_grad():
            self.vae.decoder.log_theta.copy_(torch.from_numpy(np.log(theta)))

    def make_sampler(self, seed: int, rank: int, world_size: int) -> Sampler:
        """Epochs over the training cells only (the validation cells are never trained on)."""
        return self.source.shuffle_sampler(self.train_idx, seed, rank, world_size)

    def batch_loss(
        self, rows: dict[str, torch.Tensor], step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        nll, kl = self.vae(rows["counts"], rows["label"])
        kl_weight = self.kl_weight = min(1.0, (step + 1) / max(self.config.kl_warmup_steps, 1))
        loss = nll.mean() + kl_weight * kl.mean()
        logs = {"loss": loss, "reconstruction": nll.mean(), "kl": kl.mean()}
        weight = torch.tensor(kl_weight, device=loss.device)  # made on the device: no copy per step
        return loss, {**{k: v.detach() for k, v in logs.items()}, "kl_weight": weight}

    @torch.no_grad()
    def validation_score(self) -> float | None:
        """Negative ELBO per cell of the held-out validation cells (posterior mean, deterministic)."""
        # Before the KL weight reaches 1 the posterior is not yet pulled to the prior we sample from:
        # such weights must not be kept as "best".
        if self.source is None or len(self.val_idx) == 0 or self.kl_weight < 1.0:
            return None
        total, device = 0.0, self.class_size.device
        for start in range(0, len(self.val_idx), 4096):  # densify one chunk at a time, never the split
            rows = self.source.fetch(self.val_idx[start : start + 4096], device)
            nll, kl = self.vae(rows["counts"], rows["label"], sample=False)
            total += float((nll + kl).sum())
        return total / len(self.val_idx)

    @torch.no_grad()
    def fit_latent_prior(self, source: ArraySource, batch_size: int = 4096) -> None:
        """Fit a Gaussian per label to the training cells' posteriors (their means' spread plus the
        average posterior variance), so sampled codes land where the decoder was trained."""
        was_training = self.training
        self.eval()
        device = self.class_size.device
        mus, variances, labels = [], [], []
        for start in range(0, len(source), batch_size):
            rows = source.fetch(np.arange(start, min(start + batch_size, len(source))), device)
            mu, log_var = self.vae.encoder(rows["counts"], rows["label"])
            mus.append(mu)
            variances.append(log_var.exp())
            labels.append(rows["label"])
        mu, var = torch.cat(mus).double(), torch.cat(variances).double()
        codes = torch.cat(labels)
        eye = torch.eye(mu.shape[1], dtype=torch.float64, device=device)
        for k in range(len(self.class_size)):
            members = codes == k
            if int(members.sum()) < 2:
                members = torch.ones_like(members)  # a label with one cell borrows the overall spread
            m, v = mu[members], var[members]
            cov = torch.cov(m.T).reshape(len(eye), len(eye)) + torch.diag(v.mean(0)) + 1e-6 * eye
            self.latent_mean[k] = m.mean(0).float()
            self.latent_chol[k] = torch.linalg.cholesky(cov).float()
        self.train(was_training)

    def sample_log_library(self, y: torch.Tensor) -> torch.Tensor:
        """Log library sizes drawn from each label's training cells, smoothed in log space."""
        return sample_log_library(self.lib_log, self.lib_codes, y)

    @torch.no_grad()
    def generate(self, y: torch.Tensor) -> torch.Tensor:
        """Integer counts for labels ``y`` (prior latent codes, sampled library sizes, NB noise)."""
        eps = torch.randn(len(y), self.vae.n_latent, device=y.device)
        z = self.latent_mean[y] + (self.latent_chol[y] @ eps[:, :, None]).squeeze(-1)
        mean, theta = self.vae.generate_mean(z, y, self.sample_log_library(y))
        return sample_counts(mean, theta)


@register_model
class ExpressionVAE(CountModel):
    """Conditional count VAE for single-cell RNA-seq, with :class:`biogan.ExpressionGAN`'s API.

    Parameters
    ----------
    adata
        Registered with :meth:`setup_anndata`; ``None`` only when loading a saved model.
    config
        Hyperparameters; keyword ``overrides`` replace single fields (``lr=...``, ``batch_size=...`` go
        to ``config.train``).
    seed
        Seeds weights, the validation split and training; same seed -> same samples on CPU.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> biogan.ExpressionVAE.setup_anndata(adata, layer="counts", labels_key="cell_type")
    >>> model = biogan.ExpressionVAE(adata, seed=0).fit(max_epochs=400)
    >>> synth = model.sample(n=500)
    """

    name = "vae"
    config_class = ExpressionVAEConfig
    problem_class = CountVAEProblem
    trainer_class = LikelihoodTrainer

    def __init__(
        self,
        adata: ad.AnnData | None = None,
        config: ExpressionVAEConfig | None = None,
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
            self.problem = self._build(len(self.genes), len(self.categories))
            self.problem.attach(data, self.seed)

    def _build(self, n_genes: int, n_classes: int) -> CountVAEProblem:
        with torch.random.fork_rng(devices=[]):  # weight init follows the seed, not global state
            torch.manual_seed(self.seed)
            return CountVAEProblem(n_genes, n_classes, self.config).to(self.device)

    # ------------------------------------------------------------------ training
    def fit(
        self,
        max_steps: int | None = None,
        max_epochs: float | None = None,
        max_seconds: float | None = None,
        resume: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> ExpressionVAE:
        """Train by maximising the ELBO; the weights with the best validation ELBO are kept.

        Parameters
        ----------
        max_steps
            Total minibatch steps (counting steps done before a resume).
        max_epochs
            Alternative to ``max_steps``; default ``min(400, 400 * 20000 / n_cells)`` like scvi-tools.
        max_seconds
            Optional wall-clock budget.
        resume
            Continue from ``checkpoint_dir/checkpoint.pt`` when it exists.
        checkpoint_dir
            Folder for periodic atomic checkpoints.
        progress
            Show a progress bar with the loss.
        """
        if self.problem is None or self.problem.source is None:
            raise NotFittedError("build the model from an AnnData (ExpressionVAE(adata)) before fit")
        n_train, batch = len(self.problem.train_idx), self.config.train.batch_size
        if max_steps is None:
            epochs = max_epochs if max_epochs is not None else min(400.0, 400 * 20_000 / n_train)
            max_steps = steps_for_epochs(n_train, batch, epochs)
        self._train(max_steps, max_seconds, resume, checkpoint_dir, progress)
        return self

    def _sampler_from_training(self) -> CountVAEProblem:
        """A copy of the model with the best validated weights and its latent sampling distribution."""
        assert self.trainer is not None
        sampler = load_resized(self._empty_sampler().to(self.device), self.trainer.best_state())
        if self.config.latent_prior == "label-gaussian":
            sampler.fit_latent_prior(self.problem.source)
        return sampler.eval()

    # ------------------------------------------------------------------ sampling
    def _label_sizes(self) -> np.ndarray:
        assert self.problem is not None
        return self.problem.class_size.cpu().numpy()

    def _generate(self, labels: torch.Tensor) -> torch.Tensor:
        return self._sampler.generate(labels)

    # ------------------------------------------------------------------ persistence
    def _empty_problem(self) -> CountVAEProblem:
        return CountVAEProblem(len(self.genes), len(self.categories), self.config)

    def _empty_sampler(self) -> CountVAEProblem:
        return self._empty_problem()


__all__ = ["CountVAEProblem", "ExpressionVAE", "ExpressionVAEConfig"]
