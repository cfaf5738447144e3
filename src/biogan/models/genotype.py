"""GenotypeGAN: a conditional WGAN-GP for phased haplotypes at ordered SNPs, with a privacy gate.

How a synthetic genome is made
------------------------------
1. Each training sample contributes its haplotypes (rows of 0/1 alleles in genome order); the label of
   a sample (its population) is the class of both.
2. The generator (:class:`~biogan.nn.genotypes.HaplotypeGenerator`) maps noise and the class to an
   allele probability per SNP, and each allele is drawn from it straight through (exact 0/1 haplotypes
   forward, the sigmoid's gradient back), so the critic never sees soft alleles, and alleles can vary
   given the noise, as unlinked SNPs do within a population (a deterministic threshold makes every
   haplotype a function of the noise vector: on the 805 SNPs of Yelmen et al. those came out closer to
   each other than real ones are, AATS's synthetic term 1.0). The whole region is modelled jointly, no
   windows to stitch: dense layers by default (``architecture="mlp"``, as Yelmen et al.), or
   convolutions along the SNPs (``"conv"``). The network is a residual on a per-label mixture of
   haplotype clusters (:class:`~biogan.nn.genotypes.BernoulliMixtureBase`, fitted by EM before training,
   its size chosen on the held-out haplotypes): the first noise coordinate picks the cluster, so at step 0
   the generator is the mixture.
3. The critic (:class:`~biogan.nn.genotypes.HaplotypeCritic`) is trained with WGAN-GP in biogan's one
   training schedule.
4. A held-out tenth of the haplotypes (stratified by label) scores the EMA generator during training
   (MMD between generated and held-out haplotypes on the held-out set's principal components); the best
   weights are kept and training stops after ``train.patience`` evaluations without improvement.
5. At the end of training the model measures how often its haplotypes are exact copies of training
   haplotypes against the same rate for the held-out ones, and its privacy loss (AATS on held-out minus
   AATS on training haplotypes). :meth:`GenotypeGAN.release_problem` turns those into the gate that
   ``biogan sample`` enforces.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from biogan.data.genotypes import GenotypeSet
from biogan.data.samplers import validation_split
from biogan.data.sources import ArraySource
from biogan.data.validation import check_enough, check_memory, check_training_labels
from biogan.errors import InvalidDataError, NotFittedError, PrivacyWarning
from biogan.losses import AdversarialLoss, mmd2_rbf
from biogan.models._base import GenerativeModel
from biogan.models._shared import check_wgan_settings, requested_codes, requested_size, training_codes
from biogan.models.registry import register_model
from biogan.nn.genotypes import ARCHITECTURES, OUTPUTS, HaplotypeCritic, HaplotypeGenerator
from biogan.train import AdversarialTrainer, Batch, ClassConditionalProblem, TrainConfig

N_PCS = 20  # principal components of the validation score
TEMPERATURES = (1.0, 0.8, 0.6, 0.4)
MIXTURE_COMPONENTS = (1, 2, 4, 8, 16)  # tried per population under mixture_components="auto"


@dataclass
class GenotypeGANConfig:
    """Hyperparameters of :class:`GenotypeGAN` (saved with the model).

    Parameters
    ----------
    noise_dim
        Size of the generator's noise vector.
    architecture
        ``"mlp"`` (Yelmen et al.'s dense networks) or ``"conv"`` (convolutions along blocks of SNPs with a
        dense projection). On 2 CPU cores a conv critic step costs about 20 times an MLP step (2,379
        SNPs, batch 64), so the MLP is the default; see BENCHMARKS.md for the two at equal time.
    channels, n_blocks, kernel
        Width, depth and kernel size of the convolutions (``"conv"``).
    hidden
        Width of the dense layers.
    output
        ``"bernoulli"``: each allele drawn from the generator's probability (straight-through), so
        alleles can vary given the noise as unlinked SNPs do; ``"threshold"``: alleles a deterministic
        function of the noise vector.
    minibatch_std
        Give the (``"mlp"``) critic the spread of its features across the batch, so that a generator
        whose haplotypes are too alike is caught (a guard against mode collapse).
    gp_weight
        Gradient-penalty weight (WGAN-GP).
    class_sampling
        ``"proportional"`` (populations as in the data) or ``"uniform"``.
    validation_share
        Share of the training samples held out to score the generator (stratified by label).
    n_monitor
        Generated haplotypes per validation score.
    mixture_components
        Start the generator at a per-population mixture of independent-SNP haplotype clusters
        (:class:`~biogan.nn.genotypes.BernoulliMixtureBase`, fitted by EM) and train the network as a
        residual on it: an int fixes the components per population (0: no start, the network learns
        everything), ``"auto"`` keeps whichever of :data:`MIXTURE_COMPONENTS` scores best on the
        held-out haplotypes. A super-population label hides sub-populations (26 of them in 1000
        Genomes) that the principal components separate; a mixture finds them at once.
    max_privacy_loss
        Largest privacy loss (AATS on held-out minus AATS on training haplotypes) the gate lets through.
    train
        Optimisation settings of the shared loop.
    """

    noise_dim: int = 128
    architecture: str = "mlp"
    channels: int = 32
    n_blocks: int = 4
    kernel: int = 5
    hidden: int = 512
    output: str = "bernoulli"
    minibatch_std: bool = False
    gp_weight: float = 10.0
    class_sampling: str = "proportional"
    validation_share: float = 0.1
    n_monitor: int = 512
    mixture_components: int | str = "auto"
    max_privacy_loss: float = 0.05
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=64, n_critic=2, lr_generator=5e-4, lr_critic=5e-4, eval_every=200, patience=10
        )
    )

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, not {self.architecture!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {self.output!r}")
        k = self.mixture_components
        if k != "auto" and (isinstance(k, str) or not 0 <= k <= max(MIXTURE_COMPONENTS)):
            raise ValueError(
                f"mixture_components must be 'auto' or an int in 0..{max(MIXTURE_COMPONENTS)}, not {k!r}"
            )
        check_wgan_settings(self)

    @property
    def max_components(self) -> int:
        """Components the generator's mixture start has room for (0: no start)."""
        return max(MIXTURE_COMPONENTS) if self.mixture_components == "auto" else int(self.mixture_components)


class GenotypeProblem(ClassConditionalProblem):
    """Generator, critic and (label-stratified) batches of haplotypes."""

    def __init__(self, n_snps: int, n_classes: int, config: GenotypeGANConfig) -> None:
        super().__init__(AdversarialLoss("wgan-gp"), config.gp_weight)
        self.config = config
        shape = dict(
            architecture=config.architecture,
            channels=config.channels,
            n_blocks=config.n_blocks,
            kernel=config.kernel,
            hidden=config.hidden,
        )
        self.generator = HaplotypeGenerator(
            config.noise_dim,
            n_classes,
            n_snps,
            **shape,
            output=config.output,
            n_components=config.max_components,
        )
        self.critic = HaplotypeCritic(n_snps, n_classes, **shape, minibatch_std=config.minibatch_std)
        self.register_buffer("class_size", torch.ones(n_classes))
        self.mixture_scores: dict[int, float] = {}  # held-out score per mixture size tried (fit only)
        self.codes = np.zeros(0, dtype=np.int64)

    def attach(
        self, haplotypes: np.ndarray, codes: np.ndarray, valid: np.ndarray, valid_codes: np.ndarray, seed: int
    ) -> None:
        """Train on ``haplotypes`` (class ``codes``); score against ``valid`` (``valid_codes``)."""
        device = self.class_size.device
        self.source = ArraySource(
            alleles=torch.from_numpy(haplotypes.astype(np.float32)).to(device),
            label=torch.from_numpy(codes).to(device),
        )
        self.codes = codes
        with torch.no_grad():
            self.class_size.copy_(torch.from_numpy(np.bincount(codes, minlength=len(self.class_size))))
        gen = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(valid), generator=gen)[: self.config.n_monitor].numpy()
        held = torch.from_numpy(valid[pick].astype(np.float32)).to(device)
        self.valid = held
        self.center = held.mean(0)
        _, _, v = torch.linalg.svd(held - self.center, full_matrices=False)
        self.axes = v[: min(N_PCS, len(held) - 1)].T  # the held-out set's own PCs: a fixed yardstick
        self.valid_pcs = (held - self.center) @ self.axes
        self.valid_y = torch.from_numpy(valid_codes[pick]).to(device)
        self.mixture_scores = self._fit_mixture(haplotypes, codes, seed)

    def _fit_mixture(self, haplotypes: np.ndarray, codes: np.ndarray, seed: int) -> dict[int, float]:
        """Fit the generator's mixture start with the configured number of components, or under
        ``"auto"`` with each of :data:`MIXTURE_COMPONENTS` and keep the best on the held-out score;
        returns the scores tried."""
        base = self.generator.base
        if base is None:
            return {}
        setting = self.config.mixture_components
        tried = MIXTURE_COMPONENTS if setting == "auto" else (int(setting),)
        scores: dict[int, float] = {}
        with torch.random.fork_rng(devices=[]):  # training draws the same noise whatever is tried here
            for k in tried:
                base.fit(haplotypes, codes, k, seed)
                torch.manual_seed(seed)
                scores[k] = self.validation_score(self.generator) or 0.0
            best = min(scores, key=scores.get)
            base.fit(haplotypes, codes, best, seed)
        return scores

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        return Batch(rows["alleles"], rows["label"])

    @torch.no_grad()
    def _generated(self, generator: nn.Module, y: torch.Tensor) -> torch.Tensor:
        z = torch.randn(len(y), self.config.noise_dim, device=y.device)
        return generator(z, y)

    @torch.no_grad()
    def monitor(self, generator: nn.Module) -> dict[str, float]:
        """Share of distinct haplotypes in a generated batch (near 0 = mode collapse)."""
        if self.source is None:
            return {}
        fake = self._generated(generator, self.valid_y)
        return {"unique_share": len(torch.unique(fake, dim=0)) / len(fake)}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """How far generated haplotypes are from held-out ones: the two terms of the nearest-neighbour
        adversarial accuracy (AATS, the judge's privacy and realism measure) away from 1/2, plus the MMD^2
        on the held-out set's principal components (the C2ST's view)."""
        if self.source is None or len(self.valid_y) < 2:
            return None
        fake = self._generated(generator, self.valid_y)
        aa_truth, aa_synthetic = nearest_neighbour_accuracy(self.valid, fake)
        mmd = mmd2_rbf((fake - self.center) @ self.axes, self.valid_pcs)
        return float(abs(aa_truth - 0.5) + abs(aa_synthetic - 0.5) + mmd)


def nearest_neighbour_accuracy(real: torch.Tensor, fake: torch.Tensor) -> tuple[float, float]:
    """AATS's two terms on Hamming distances (ties count 1/2): the share of real rows whose nearest real
    neighbour is nearer than their nearest fake one, and the same for fake rows (1/2 each when the two
    sets are alike; ``aa_synthetic`` near 1 means fakes are more alike than real rows are)."""

    def distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ (1 - b).T + (1 - a) @ b.T

    def within(a: torch.Tensor) -> torch.Tensor:
        d = distances(a, a)
        return d.fill_diagonal_(float("inf")).min(1).values

    across = distances(real, fake)
    real_within, fake_within = within(real), within(fake)

    def share(own: torch.Tensor, other: torch.Tensor) -> float:
        return float(((own < other).float() + 0.5 * (own == other).float()).mean())

    return share(real_within, across.min(1).values), share(fake_within, across.min(0).values)


def haplotype_hashes(haplotypes: np.ndarray) -> list[str]:
    """A short digest of every haplotype row (exact-copy checks without keeping the data)."""
    rows = np.ascontiguousarray(haplotypes.astype(np.int8))
    return [hashlib.blake2b(row.tobytes(), digest_size=8).hexdigest() for row in rows]


@register_model
class GenotypeGAN(GenerativeModel):
    """Conditional GAN for phased haplotypes at biallelic SNPs (sklearn-style API).

    Parameters
    ----------
    config
        Hyperparameters; keyword ``overrides`` replace single fields (``batch_size=128`` goes to
        ``config.train``).
    seed
        Seeds weight initialisation and training; same data and seed -> same model and samples on CPU.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> from biogan.data.datasets import simulated_genotypes
    >>> cohort = simulated_genotypes(500, length=5e5, seed=0)
    >>> model = GenotypeGAN(seed=0).fit(cohort, max_steps=500)
    >>> synthetic = model.sample(200)       # 200 diploid samples, phased
    """

    name = "genotype"
    data_kind = "genotypes"
    config_class = GenotypeGANConfig
    problem_class = GenotypeProblem
    trainer_class = AdversarialTrainer

    def __init__(
        self, config: GenotypeGANConfig | None = None, seed: int = 0, device: str = "auto", **overrides: Any
    ) -> None:
        super().__init__(config, seed, device, **overrides)
        self.variants = pd.DataFrame()
        self.ploidy = 2
        self.categories: list[str] = []
        self.training_hashes: set[str] = set()
        self.privacy: dict[str, float] = {}
        self._split: tuple[np.ndarray, np.ndarray] | None = None
        self.temperature_scores: dict[float, float] = {}
        self.samples_file: str | None = None  # the panel that labelled the training samples (CLI)
        self.labels_key: str | None = None

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: GenotypeSet,
        max_steps: int = 5000,
        max_seconds: float | None = None,
        resume: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> GenotypeGAN:
        """Learn the haplotypes of ``data`` for up to ``max_steps`` generator steps (early stopping on
        the held-out score ends sooner).

        Parameters
        ----------
        data
            Phased training genotypes without missing calls (:func:`biogan.data.genotypes.read_vcf`);
            their labels, if any, are the classes of :meth:`sample`.
        max_steps, max_seconds
            Training length in generator steps, and an optional wall-clock budget.
        resume, checkpoint_dir
            Continue from ``checkpoint_dir/checkpoint.pt``; write checkpoints there.
        progress
            Show a progress bar with the losses.
        """
        haplotypes, codes = self._learn(data)
        if self.problem is None:
            with torch.random.fork_rng(devices=[]):  # weight init follows the seed, not global state
                torch.manual_seed(self.seed)
                self.problem = self._empty_problem().to(self.device)
            samples = validation_split(codes[:: self.ploidy], self.config.validation_share, self.seed)
            train, valid = (self._haplotype_rows(rows) for rows in samples)  # a sample's copies together
            self.problem.attach(haplotypes[train], codes[train], haplotypes[valid], codes[valid], self.seed)
            self.training_hashes = set(haplotype_hashes(haplotypes[train]))
            self._split = (train, valid)
        self._train(max_steps, max_seconds, resume, checkpoint_dir, progress)
        self._choose_temperature()
        self._measure_privacy(haplotypes, codes)
        return self

    def _choose_temperature(self) -> None:
        """The sampling temperature (of :data:`TEMPERATURES`) whose haplotypes score best on the held-out
        set (BigGAN's truncation trick, chosen on data): below 1 sharpens allele probabilities, which helps
        where real haplotypes are near-identical copies of a few ancestral ones (short regions)."""
        if self.config.output != "bernoulli" or self.problem.source is None:
            return
        generator = self._sampler
        scores = {}
        with torch.random.fork_rng(devices=[]):
            for t in TEMPERATURES:
                torch.manual_seed(self.seed)
                generator.temperature.fill_(t)
                scores[t] = self.problem.validation_score(generator)
        if any(v is None for v in scores.values()):
            generator.temperature.fill_(1.0)
            return
        generator.temperature.fill_(min(scores, key=scores.get))
        self.temperature_scores = scores

    def _haplotype_rows(self, samples: np.ndarray) -> np.ndarray:
        return (samples[:, None] * self.ploidy + np.arange(self.ploidy)).ravel()

    def _learn(self, data: GenotypeSet) -> tuple[np.ndarray, np.ndarray]:
        """SNPs, ploidy and classes from ``data`` (checked); its haplotypes and their class codes."""
        if not isinstance(data, GenotypeSet):
            raise InvalidDataError(
                "GenotypeGAN expects a GenotypeSet (biogan.data.genotypes.read_vcf), "
                f"not {type(data).__name__}"
            )
        check_enough(len(data), "the training samples", "sample")
        n_missing = int(data.missing.sum())
        if n_missing:
            raise InvalidDataError(
                f"the training genotypes have {n_missing} missing calls; fill them first "
                "(biogan impute cohort.vcf.gz -o filled.vcf.gz) or drop those sites"
            )
        if data.ploidy > 1 and not data.phased:
            raise InvalidDataError(
                "GenotypeGAN learns haplotypes, but these genotypes are unphased; phase them first "
                "(e.g. beagle gt=cohort.vcf.gz out=phased)"
            )
        labels = data.labels if data.labels is not None else np.zeros(len(data), dtype=str)
        if data.labels is not None:
            check_training_labels(pd.Series(labels), "label", "sample")
        if self.problem is None:
            self.variants = data.variants.copy()
            self.ploidy = data.ploidy
            self.categories = sorted(set(labels.tolist())) if data.labels is not None else [""]
        elif data.n_snps != len(self.variants) or data.ploidy != self.ploidy:
            raise InvalidDataError(
                f"the model was fit on {len(self.variants)} SNPs of ploidy {self.ploidy}, these data have "
                f"{data.n_snps} of ploidy {data.ploidy}"
            )
        codes = np.repeat(training_codes(self.categories, labels, "samples"), data.ploidy)
        return data.haplotypes(), codes

    def _measure_privacy(self, haplotypes: np.ndarray, codes: np.ndarray) -> None:
        """Exact-copy rates and privacy loss of the trained generator against its own held-out split."""
        from biogan.metrics.genotypes import exact_copy_rate, privacy_loss

        if self._split is None:  # continued after load: the split of the first fit is not kept
            return
        train, valid = self._split
        if len(np.intersect1d(train, valid)) == len(valid):  # too few samples to hold any out
            self.privacy = {}
            return
        n = min(len(valid), len(train))
        generated = self._generate(codes[valid][:n], self.seed + 1)
        self.privacy = {
            "copy_rate": exact_copy_rate(generated, haplotypes[train]),
            "heldout_copy_rate": exact_copy_rate(haplotypes[valid], haplotypes[train]),
            "privacy_loss": privacy_loss(generated, haplotypes[train][:n], haplotypes[valid][:n], self.seed),
            "n": float(n),
        }

    # ------------------------------------------------------------------ sampling
    def _generate(self, codes: np.ndarray, seed: int, batch_size: int = 2048) -> np.ndarray:
        """Haplotypes ``(len(codes), n_snps)`` of the sampling generator for class ``codes``."""
        generator = self._sampler
        chunks = []
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            generator.eval()
            for start in range(0, len(codes), batch_size):
                y = torch.from_numpy(codes[start : start + batch_size]).to(self.device)
                z = torch.randn(len(y), self.config.noise_dim, device=self.device)
                chunks.append(generator(z, y).to(torch.int8).cpu().numpy())
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.variants)), dtype=np.int8)

    def sample(
        self,
        n: int | None = None,
        labels: dict[str, int] | list[str] | None = None,
        seed: int = 0,
        check_privacy: bool = True,
    ) -> GenotypeSet:
        """Generate samples (each of ``ploidy`` phased haplotypes).

        Parameters
        ----------
        n
            Number of samples, split across labels in the training proportions (ignored with ``labels``).
        labels
            ``{label: count}`` or one label per sample.
        seed
            Seeds the sampling (same seed -> same genotypes on CPU).
        check_privacy
            Warn (:class:`PrivacyWarning`) when the samples fail :meth:`release_problem`.

        Returns
        -------
        GenotypeSet
            Samples ``synthetic1``, ``synthetic2``, ... at the training SNPs; labels when conditional.
        """
        if self._sampler is None:
            raise NotFittedError("call fit() (or load a trained model) before sample()")
        wanted = requested_size(n, labels)
        check_memory(
            wanted * self.ploidy * len(self.variants) * 6,  # int8 alleles, then VCF text
            f"sampling {wanted} samples at {len(self.variants)} SNPs",
            "ask for fewer samples, or sample in several runs (other seeds)",
        )
        if isinstance(labels, dict):
            labels = {str(k): v for k, v in labels.items()}
        elif labels is not None:
            labels = [str(v) for v in labels]
        codes = requested_codes(self.categories, self._samples_per_class(), n, labels, seed)
        haplotypes = self._generate(np.repeat(codes, self.ploidy), seed)
        conditional = self.categories != [""]
        names = np.asarray(self.categories, dtype=object)[codes].astype(str) if conditional else None
        generated = GenotypeSet.from_haplotypes(haplotypes, self.variants, self.ploidy, names)
        if check_privacy:
            problem = self.release_problem(generated)
            if problem:
                import warnings

                warnings.warn(problem, PrivacyWarning, stacklevel=2)
        return generated

    def _samples_per_class(self) -> np.ndarray:
        return self.problem.class_size.cpu().numpy() / self.ploidy  # the problem counts haplotypes

    def release_problem(self, generated: GenotypeSet) -> str | None:
        """Why ``generated`` should not be released, or ``None``: the privacy gate.

        It fails when generated haplotypes are exact copies of training haplotypes more often than the
        held-out real haplotypes are (beyond three binomial standard errors), or when the model's
        privacy loss measured after training exceeds ``config.max_privacy_loss``.
        """
        if not self.training_hashes:
            return None
        hashes = haplotype_hashes(generated.haplotypes())
        rate = float(np.mean([h in self.training_hashes for h in hashes])) if hashes else 0.0
        control = self.privacy.get("heldout_copy_rate", 0.0)
        slack = 3 * np.sqrt(max(control * (1 - control), 1 / len(hashes)) / len(hashes))
        reasons = []
        if rate > control + slack:
            reasons.append(
                f"{rate:.1%} of the synthetic haplotypes are exact copies of training haplotypes, "
                f"while {control:.1%} of held-out real haplotypes are"
            )
        loss = self.privacy.get("privacy_loss")
        if loss is not None and loss > self.config.max_privacy_loss:
            reasons.append(
                f"the model's privacy loss (AATS on held-out minus on training haplotypes) is {loss:.3f}, "
                f"above {self.config.max_privacy_loss}"
            )
        return "; ".join(reasons) + " (it may memorise its training cohort)" if reasons else None

    # ------------------------------------------------------------------ persistence
    def _describe(self) -> dict[str, Any]:
        return {
            "variants": self.variants.astype({"pos": int}).to_dict(orient="list"),
            "ploidy": self.ploidy,
            "categories": self.categories,
            "training_hashes": sorted(self.training_hashes),
            "privacy": self.privacy,
            "samples_file": self.samples_file,
            "labels_key": self.labels_key,
        }

    def _restore(self, meta: dict[str, Any]) -> None:
        self.variants = pd.DataFrame(meta["variants"])
        self.ploidy, self.categories = int(meta["ploidy"]), list(meta["categories"])
        self.training_hashes = set(meta.get("training_hashes", []))
        self.privacy = dict(meta.get("privacy", {}))
        self.samples_file, self.labels_key = meta.get("samples_file"), meta.get("labels_key")

    def _empty_problem(self) -> GenotypeProblem:
        return GenotypeProblem(len(self.variants), len(self.categories), self.config)


__all__ = ["GenotypeGAN", "GenotypeGANConfig", "GenotypeProblem"]
