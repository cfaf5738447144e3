"""GenotypeImputer: missing genotype calls filled by a generator conditioned on the observed calls.

How a missing call is filled
----------------------------
1. **Rows.** Phased data are imputed haplotype by haplotype (two allele states); unphased diploid data
   genotype by genotype (states 0/1/2, ALT allele counts).
2. **Haplotype matches.** Chromosomes are mosaics of a few ancestral haplotypes, so the best evidence
   for a missing call is what other rows carry at that SNP when they agree with this row on the observed
   calls around it (the copying model behind Li & Stephens and Beagle). For every row and SNP,
   :func:`match_features` weighs every other row (of the cohort, and of a reference panel when given) by
   its mismatches in windows of several widths around the SNP (a few SNPs up to the whole region, which
   is what helps when SNPs are unlinked and only ancestry connects them) and averages their states.
3. **The generator** (:class:`~biogan.nn.genotypes.CallImputer`: dilated convolutions along the SNPs with
   a row-wide context) turns the observed calls, these match estimates, and noise into a distribution
   over the states of each call. It is trained on the data themselves: a share of the observed calls is
   hidden, and the generator is scored by the cross-entropy of the hidden calls plus GAIN's adversarial
   term (a hint discriminator that tries to tell filled calls from observed ones, Yoon et al. 2018), in
   biogan's one training schedule with early stopping on held-out rows.
4. **Output.** Observed calls are never changed. Each missing call gets its most probable genotype, the
   genotype probabilities ``GP`` (averaged over ``n_draws`` noise draws: multiple imputation) and the
   dosage ``DS = P(het) + 2 P(hom ALT)``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin
from torch import nn

from biogan.data.genotypes import GenotypeSet
from biogan.data.sources import ArraySource
from biogan.errors import InvalidDataError, NotFittedError
from biogan.nn.genotypes import CallImputer, HintDiscriminator
from biogan.train import AdversarialProblem, AdversarialTrainer, Batch, TrainConfig

BLOCK = 8  # SNPs per block of the match distances (windows are whole blocks)
SELF_MISMATCH = 1e6  # a row's distance to itself: finite, so window sums stay exact, and never the best


@dataclass
class GenotypeImputerConfig:
    """Settings of :class:`GenotypeImputer`.

    Parameters
    ----------
    windows
        ``(half_width, sharpness)`` of each window in which rows are matched: half-width in blocks of 8 SNPs
        (``0``: the whole region), and how fast a row's weight falls with each mismatch in the window
        (``exp(-sharpness * extra mismatches)``: 3 is nearly "the best match only", 0.3 averages the
        dozens of rows that ancestry, not linkage, makes similar).
    sample_windows
        The same for whole samples (genotypes, both haplotypes at once) of phased diploid data: twice the
        calls to match ancestry on.
    hide_share
        Share of observed calls hidden to train on (at least the data's own missing share).
    max_rows, replicates
        Training rows (a random subset of cohort and panel rows) and how many different hidings of each.
    adversarial_weight
        Weight of GAIN's adversarial term next to the cross-entropy of the hidden calls.
    hint_rate
        Share of entries whose true mask the discriminator is told (GAIN).
    channels, n_blocks
        Width and depth of the generator's convolutions.
    n_draws
        Noise draws averaged into the genotype probabilities.
    max_steps
        Generator steps (early stopping on held-out rows usually ends sooner).
    train
        Optimisation settings of the shared schedule.
    """

    windows: tuple[tuple[int, float], ...] = ((1, 3.0), (4, 3.0), (16, 3.0), (64, 3.0), (0, 3.0), (0, 0.3))
    sample_windows: tuple[tuple[int, float], ...] = ((0, 0.3), (0, 0.1))
    hide_share: float = 0.05
    max_rows: int = 1024
    replicates: int = 2
    adversarial_weight: float = 0.1
    hint_rate: float = 0.9
    channels: int = 16
    n_blocks: int = 3
    n_draws: int = 8
    max_steps: int = 600
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=32, n_critic=1, lr_generator=1e-3, lr_critic=1e-3, eval_every=50, patience=6
        )
    )


# ------------------------------------------------------------------------------------------ row encoding
def imputation_rows(data: GenotypeSet, phased: bool) -> np.ndarray:
    """``(rows, n_snps)`` states, -1 where missing: haplotypes (0/1) when ``phased``, else ALT counts."""
    if phased:
        return data.haplotypes().astype(np.int64)
    dosage = data.calls.sum(axis=2).astype(np.int64)
    dosage[data.missing] = -1
    return dosage


def _pair_dosages(rows: torch.Tensor) -> torch.Tensor:
    """Consecutive haplotype rows summed into genotypes (ALT counts), -1 where either is missing."""
    pairs = rows.view(-1, 2, rows.shape[1])
    return torch.where((pairs >= 0).all(1), pairs.sum(1), -1)


def match_features(
    query: torch.Tensor,
    panel: torch.Tensor,
    exclude: torch.Tensor,
    n_states: int,
    windows: tuple[tuple[int, float], ...],
    chunk: int = 64,
) -> torch.Tensor:
    """What rows that match each query row around each SNP carry there.

    Parameters
    ----------
    query, panel
        ``(n, L)`` and ``(m, L)`` states, ``-1`` where missing.
    exclude
        ``(n,)`` index of each query row in the panel (itself, never its own evidence), or ``-1``.
    n_states, windows
        States per call; ``(half-width in blocks or 0 for the whole region, weight decay per mismatch)`` of
        each window.

    Returns
    -------
    torch.Tensor
        ``(n, (n_states + 1) * len(windows), L)``: per window, the weighted share of each state among the
        panel rows observed at the SNP, and the fewest mismatches per SNP of any row in the window.
    """
    n, length = query.shape
    n_blocks = -(-length // BLOCK)
    pad = n_blocks * BLOCK - length
    panel = _by_block(_one_hot(F.pad(panel, (0, pad), value=-1), n_states))  # (blocks, m, B * S)
    panel_seen = panel.view(n_blocks, -1, BLOCK, n_states).sum(-1)  # (blocks, m, B)
    out = torch.empty(n, (n_states + 1) * len(windows), length)
    for start in range(0, n, chunk):
        q = _by_block(_one_hot(F.pad(query[start : start + chunk], (0, pad), value=-1), n_states))
        q_seen = q.view(n_blocks, len(q[0]), BLOCK, n_states).sum(-1)
        # mismatches per block = calls observed in both rows - calls that agree: (blocks, c, m)
        mismatch = torch.baddbmm(
            torch.bmm(q_seen, panel_seen.transpose(1, 2)), q, panel.transpose(1, 2), alpha=-1
        )
        own = exclude[start : start + chunk]
        mismatch[:, torch.arange(len(own))[own >= 0], own[own >= 0]] = SELF_MISMATCH
        cumulative = F.pad(mismatch.cumsum(0), (0, 0, 0, 0, 1, 0))
        for k, (half, sharpness) in enumerate(windows):
            distance = _window_sum(cumulative, half)
            best = distance.amin(-1)  # (blocks or 1, c)
            weight = distance.sub_(best.unsqueeze(-1)).mul_(-sharpness).exp_()
            share = _weighted_states(weight, panel, panel_seen, n_states)[:, :length]  # (c, L, S)
            seen = min(1, half) * (2 * half + 1) * BLOCK or length
            best = (best.T / seen).expand(-1, n_blocks).repeat_interleave(BLOCK, dim=-1)[:, :length]
            block = slice(k * (n_states + 1), (k + 1) * (n_states + 1))
            out[start : start + chunk, block] = torch.cat([share, best.unsqueeze(-1)], -1).transpose(1, 2)
    return out


def _one_hot(states: torch.Tensor, n_states: int) -> torch.Tensor:
    return F.one_hot(states.clamp_min(0), n_states).float() * (states >= 0).unsqueeze(-1)


def _by_block(hot: torch.Tensor) -> torch.Tensor:
    """``(rows, L, S)`` one-hot calls as ``(blocks, rows, BLOCK * S)``, contiguous for batched products."""
    rows, padded, s = hot.shape
    return hot.view(rows, padded // BLOCK, BLOCK * s).transpose(0, 1).contiguous()


def _window_sum(cumulative: torch.Tensor, half: int) -> torch.Tensor:
    """Mismatches in the window of ``half`` blocks either side of each block (``0``: all blocks, once)."""
    if half == 0:
        return cumulative[-1:] - cumulative[:1]
    n_blocks = len(cumulative) - 1
    centre = torch.arange(n_blocks)
    hi = (centre + half + 1).clamp(max=n_blocks)
    lo = (centre - half).clamp(min=0)
    return cumulative.index_select(0, hi) - cumulative.index_select(0, lo)


def _weighted_states(
    weight: torch.Tensor, panel: torch.Tensor, panel_seen: torch.Tensor, n_states: int
) -> torch.Tensor:
    """Per SNP, the weighted share of each state among panel rows observed there: ``(c, Lp, S)``.

    ``weight`` is ``(blocks, c, m)``, or ``(1, c, m)`` for the whole-region window (the same weights
    for every block)."""
    n_blocks = panel.shape[0]
    if len(weight) == 1:
        w = weight[0]  # (c, m)
        counts = torch.einsum("cm,bmk->bck", w, panel)
        seen = torch.einsum("cm,bmk->bck", w, panel_seen)
    else:
        counts, seen = torch.bmm(weight, panel), torch.bmm(weight, panel_seen)  # (blocks, c, B*S), (.., B)
    c = counts.shape[1]
    share = counts.view(n_blocks, c, BLOCK, n_states) / seen.unsqueeze(-1).clamp_min(1e-12)
    return share.permute(1, 0, 2, 3).reshape(c, n_blocks * BLOCK, n_states)


# ------------------------------------------------------------------------------------------ the game
class GenotypeImputationProblem(AdversarialProblem):
    """GAIN's game on calls: the generator fills hidden calls from observed ones and match features; the
    discriminator guesses from the filled rows (and a hint) which calls were observed."""

    def __init__(self, n_snps: int, n_states: int, n_features: int, config: GenotypeImputerConfig) -> None:
        super().__init__(loss=None, gp_weight=0.0)  # GAIN has its own losses
        self.config, self.n_states = config, n_states
        # the observed calls' one-hot, the partner haplotype's, the observed flag, features, noise
        n_in = 2 * n_states + 1 + n_features + 1
        self.generator = CallImputer(n_snps, n_in, n_states, config.channels, config.n_blocks)
        self.critic = HintDiscriminator(n_states + 1)
        self.validation: dict[str, torch.Tensor] | None = None

    def attach(self, rows: dict[str, torch.Tensor], validation: dict[str, torch.Tensor] | None) -> None:
        """Training rows (``states``, ``visible``, ``hidden``, ``partner``, ``features``), held-out rows."""
        self.source = ArraySource(**rows)
        self.validation = validation

    def generator_input(
        self, states: torch.Tensor, visible: torch.Tensor, partner: torch.Tensor, features: torch.Tensor
    ) -> torch.Tensor:
        """Observed calls, the observed calls of the row's other haplotype (phased diploid samples: the
        same ancestry, twice the evidence for it; -1 elsewhere), the observed flag, features, noise."""
        hot = _one_hot(torch.where(visible, states, -1), self.n_states).transpose(1, 2)
        other = _one_hot(partner, self.n_states).transpose(1, 2)
        noise = torch.randn(len(states), 1, states.shape[1], device=states.device)
        return torch.cat([hot, other, visible.unsqueeze(1).float(), features.float(), noise], 1)

    def impute_logits(self, generator: nn.Module, rows: dict[str, torch.Tensor]) -> torch.Tensor:
        x = self.generator_input(rows["states"], rows["visible"], rows["partner"], rows["features"])
        return generator(x)

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        states = rows["states"]
        return Batch(x=states, y=torch.zeros(len(states), dtype=torch.long, device=states.device), extra=rows)

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:
        rows = real.extra
        assert rows is not None
        return Batch(x=self.impute_logits(generator, rows), y=real.y, extra=rows)

    def _filled(self, fake: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        rows = fake.extra
        assert rows is not None
        visible = rows["visible"]
        observed = _one_hot(torch.where(visible, rows["states"], -1), self.n_states).transpose(1, 2)
        filled = torch.where(visible.unsqueeze(1), observed, torch.softmax(fake.x, 1))
        return filled, visible.float()

    def _hint(self, visible: torch.Tensor) -> torch.Tensor:
        told = (torch.rand_like(visible) < self.config.hint_rate).float()
        return (told * visible + 0.5 * (1 - told)).unsqueeze(1)

    def critic_loss(self, real: Batch, fake: Batch, critic: nn.Module):
        filled, visible = self._filled(fake)
        logits = critic(torch.cat([filled.detach(), self._hint(visible)], 1))
        loss = F.binary_cross_entropy_with_logits(logits, visible)
        return loss, {"discriminator_bce": loss.detach()}

    def generator_loss(self, real: Batch, fake: Batch, critic: nn.Module):
        rows = fake.extra
        assert rows is not None
        hidden = rows["hidden"]
        reconstruction = F.cross_entropy(fake.x.transpose(1, 2)[hidden], rows["states"][hidden])
        filled, visible = self._filled(fake)
        logits = critic(torch.cat([filled, self._hint(visible)], 1))
        adversarial = -((1 - visible) * F.logsigmoid(logits)).sum() / (1 - visible).sum().clamp_min(1)
        loss = reconstruction + self.config.adversarial_weight * adversarial
        return loss, {"g_reconstruction": reconstruction.detach(), "g_adversarial": adversarial.detach()}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """Share of held-out hidden calls imputed wrongly (lower is better)."""
        v = self.validation
        if v is None:
            return None
        logits = self.impute_logits(generator, v)
        hidden = v["hidden"]
        return float((logits.argmax(1)[hidden] != v["states"][hidden]).float().mean())


# ------------------------------------------------------------------------------------------ estimator
class GenotypeImputer(TransformerMixin):
    """Fill missing genotype calls (``./.``) of a cohort; observed calls are never changed.

    A scikit-learn-style transformer on :class:`~biogan.data.genotypes.GenotypeSet` data (``fit``,
    ``transform``, ``fit_transform``); the genotype probabilities of the last ``transform`` are kept for the
    VCF's ``GP`` and ``DS`` fields.

    Parameters
    ----------
    config
        :class:`GenotypeImputerConfig`; keyword ``overrides`` replace single fields.
    reference
        An optional reference panel (phased haplotypes of other samples at the same SNPs, e.g. a
        training cohort or synthetic haplotypes from a :class:`~biogan.GenotypeGAN`).
    seed
        Seeds hiding, initialisation, training and draws; same inputs and seed -> same result on CPU.
    progress
        Show the training progress bar.

    Examples
    --------
    >>> imputer = GenotypeImputer(seed=0).fit(cohort)
    >>> filled = imputer.transform(cohort)          # a GenotypeSet without missing calls
    >>> gp = imputer.genotype_probabilities_        # (samples, SNPs, 3), for the VCF's GP field
    """

    def __init__(
        self,
        config: GenotypeImputerConfig | None = None,
        reference: GenotypeSet | None = None,
        seed: int = 0,
        progress: bool = False,
        **overrides: Any,
    ) -> None:
        from biogan.models._config import apply_overrides

        self.config = apply_overrides(config or GenotypeImputerConfig(), overrides)
        self.reference, self.seed, self.progress = reference, int(seed), progress
        self.problem: GenotypeImputationProblem | None = None
        self.trainer: AdversarialTrainer | None = None

    def fit(
        self, data: GenotypeSet, y: Any = None, checkpoint_dir: str | os.PathLike | None = None
    ) -> GenotypeImputer:
        """Learn to fill calls from the observed calls of ``data`` (and the reference panel); ``y`` is
        ignored (scikit-learn's signature); checkpoints go to ``checkpoint_dir``."""
        self._check(data)
        self.phased_ = self._use_phase(data)
        self.n_states_ = 2 if self.phased_ else 3
        self.pair_ = 2 if self.phased_ and data.ploidy == 2 else 1
        query, panel = self._panel(data)
        rng = np.random.default_rng(self.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            rows = self._training_rows(panel, len(query), rng)
            n_features = rows["features"].shape[1]
            self.problem = GenotypeImputationProblem(data.n_snps, self.n_states_, n_features, self.config)
        held = rng.random(len(rows["states"])) < 0.1
        validation = {k: v[held] for k, v in rows.items()} if held.sum() >= 8 else None
        self.problem.attach({k: v[~held] for k, v in rows.items()} if validation else rows, validation)
        path = Path(checkpoint_dir) / "imputer_checkpoint.pt" if checkpoint_dir else None
        self.trainer = AdversarialTrainer(self.problem, self.config.train, self.seed, path)
        try:
            self.trainer.fit(self.config.max_steps, progress=self.progress)
        except FloatingPointError as error:
            raise InvalidDataError(f"imputation training diverged: {error}") from None
        self.generator_ = self.trainer.sampling_generator()
        return self

    def transform(self, data: GenotypeSet) -> GenotypeSet:
        """``data`` with every missing call filled by its most probable genotype.

        The genotype probabilities of every call (observed ones certain) are kept in
        :attr:`genotype_probabilities_` ``(n_samples, n_snps, 3)``.
        """
        if self.problem is None:
            raise NotFittedError("call fit() before transform()")
        self._check(data)
        query, panel = self._panel(data)
        exclude = torch.arange(len(query))  # the cohort's rows come first in the panel
        features = self._features(query, panel, exclude)
        rows = {
            "states": query.clamp_min(0),
            "visible": query >= 0,
            "partner": self._partners(query),
            "features": features,
        }
        probs = torch.zeros(len(query), self.n_states_, data.n_snps)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(self.seed + 1)
            self.generator_.eval()
            for start in range(0, len(query), 64):
                part = {k: v[start : start + 64] for k, v in rows.items()}
                for _ in range(self.config.n_draws):
                    logits = self.problem.impute_logits(self.generator_, part)
                    probs[start : start + 64] += torch.softmax(logits, 1) / self.config.n_draws
        gp = self._genotype_probabilities(probs.numpy(), query.numpy(), data)
        self.genotype_probabilities_ = gp
        return self._filled(data, probs.numpy(), gp)

    # ---------------------------------------------------------------------------------------- helpers
    def _check(self, data: GenotypeSet) -> None:
        if not isinstance(data, GenotypeSet):
            raise InvalidDataError(f"GenotypeImputer takes a GenotypeSet, not {type(data).__name__}")
        if data.ploidy > 2:
            raise InvalidDataError(f"ploidy {data.ploidy}: biogan imputes haploid and diploid calls only")
        ref = self.reference
        if ref is not None and (
            ref.n_snps != data.n_snps
            or not (ref.variants["pos"].to_numpy() == data.variants["pos"].to_numpy()).all()
        ):
            raise InvalidDataError(
                f"the reference panel has {ref.n_snps} SNPs and the cohort {data.n_snps}, or they sit at "
                "different positions; restrict both to the same sites (bcftools isec)"
            )

    def _use_phase(self, data: GenotypeSet) -> bool:
        if data.ploidy == 1:
            return True
        ref_ok = self.reference is None or self.reference.phased
        return data.phased and ref_ok

    def _panel(self, data: GenotypeSet) -> tuple[torch.Tensor, torch.Tensor]:
        """The cohort's rows, and the panel every row is matched against (cohort first, then reference)."""
        query = torch.from_numpy(imputation_rows(data, self.phased_))
        if self.reference is None:
            return query, query
        ref = torch.from_numpy(imputation_rows(self.reference, self.phased_))
        return query, torch.cat([query, ref])

    def _training_rows(self, panel: torch.Tensor, n_cohort: int, rng: np.random.Generator) -> dict:
        """Rows with a share of their observed calls hidden, and their match features (computed with those
        calls hidden, as at imputation)."""
        c = self.config
        pair = self.pair_  # a sample's haplotypes are picked, and their calls hidden, together
        units = rng.permutation(len(panel) // pair)[: max(1, c.max_rows // pair)]
        picks = (units[:, None] * pair + np.arange(pair)).ravel()
        missing_share = float((panel[:n_cohort] < 0).float().mean())
        share = max(c.hide_share, missing_share)
        parts = []
        for _ in range(c.replicates):
            states = panel[picks]
            hide = np.repeat(rng.random((len(units), states.shape[1])) < share, pair, axis=0)
            hidden = torch.from_numpy(hide) & (states >= 0)
            query = torch.where(hidden, -1, states)
            features = self._features(query, panel, torch.from_numpy(picks))
            parts.append(
                {
                    "states": states.clamp_min(0),
                    "visible": query >= 0,
                    "hidden": hidden,
                    "partner": self._partners(query),
                    "features": features.half(),
                }
            )
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    def _features(self, query: torch.Tensor, panel: torch.Tensor, exclude: torch.Tensor) -> torch.Tensor:
        """Match features of haplotype (or genotype) rows, plus those of whole samples when rows pair up."""
        features = match_features(query, panel, exclude, self.n_states_, self.config.windows)
        if self.pair_ == 1 or not self.config.sample_windows:
            return features
        own = exclude[::2]
        samples = match_features(
            _pair_dosages(query), _pair_dosages(panel), torch.where(own >= 0, own // 2, -1), 3,
            self.config.sample_windows,
        )  # fmt: skip
        return torch.cat([features, samples.repeat_interleave(2, dim=0)], 1)

    def _partners(self, query: torch.Tensor) -> torch.Tensor:
        """Each row's other haplotype (rows come in sample pairs), or all missing when unpaired."""
        if self.pair_ == 1:
            return torch.full_like(query, -1)
        return query[torch.arange(len(query)) ^ 1]

    def _genotype_probabilities(self, probs: np.ndarray, query: np.ndarray, data: GenotypeSet) -> np.ndarray:
        """``(n_samples, n_snps, 3)`` genotype probabilities; observed calls are certain."""
        n, length = len(data), data.n_snps
        if self.phased_ and data.ploidy == 2:
            alt = probs[:, 1].reshape(n, 2, length)
            observed = query.reshape(n, 2, length)
            alt = np.where(observed >= 0, observed, alt)
            p1, p2 = alt[:, 0], alt[:, 1]
            return np.stack([(1 - p1) * (1 - p2), p1 * (1 - p2) + p2 * (1 - p1), p1 * p2], -1)
        if self.phased_:  # haploid: P(REF), P(ALT), and no third state
            alt = np.where(query >= 0, query, probs[:, 1])
            return np.stack([1 - alt, alt, np.zeros_like(alt)], -1)
        hot = np.eye(3)[np.clip(query, 0, None)]
        return np.where((query >= 0)[..., None], hot, probs.transpose(0, 2, 1))

    def _filled(self, data: GenotypeSet, probs: np.ndarray, gp: np.ndarray) -> GenotypeSet:
        """The most probable genotype in every missing call; a phased heterozygote carries its ALT allele
        on the haplotype more likely to have it."""
        calls = data.calls.copy()
        missing = data.missing
        dosage = gp.argmax(-1)
        if self.phased_ and data.ploidy == 1:
            alleles = dosage[..., None]
        elif self.phased_:
            alt = probs[:, 1].reshape(len(data), 2, -1)
            first = np.where(dosage == 1, alt[:, 0] >= alt[:, 1], dosage >= 1)
            alleles = np.stack([first, dosage - first], -1)
        else:
            alleles = np.stack([dosage >= 1, dosage >= 2], -1)
        calls[missing] = alleles.astype(np.int8)[missing]
        return GenotypeSet(calls, data.samples, data.variants, data.phased, data.labels)


__all__ = ["GenotypeImputer", "GenotypeImputerConfig", "match_features"]
