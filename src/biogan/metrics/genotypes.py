"""The genotype metric set: synthetic haplotypes (or genotypes) judged against real ones.

Two sets of equal size are compared on what population geneticists look at (Yelmen et al. 2021, *Creating
artificial human genomes using generative neural networks*): allele frequencies, linkage disequilibrium
(the r² matrix of nearby SNPs and its decay with distance), population structure (a random-forest
two-sample test on principal components fit on both sets together), the distribution of pairwise Hamming
distances, and the nearest-neighbour adversarial accuracy (AATS). The privacy rows compare synthetic rows
with the training rows on the full sets: Yelmen's privacy loss (AATS against held-out real minus AATS
against the training data) and exact copies. :class:`GenotypeMetrics` plugs these into
:mod:`biogan.metrics.engine`, which adds the real-vs-real control and the verdicts
(``biogan.evaluate(heldout, synthetic, train=train)`` on :class:`~biogan.data.genotypes.GenotypeSet`).

The records are haplotypes when every set is phased, else samples as rows of ALT dosages (0 .. ploidy);
distances are then allele differences (Hamming distance on haplotypes, L1 on dosages).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import wasserstein_distance

from biogan.data.genotypes import GenotypeSet
from biogan.data.validation import MIN_SAMPLES
from biogan.errors import InvalidDataError
from biogan.metrics.engine import (
    MIN_PER_LABEL,
    OVERALL,
    MetricInfo,
    PrivacyRow,
    c2st_info,
    per_label_c2st,
    register,
    verdict,
)
from biogan.metrics.two_sample import c2st_auc, joint_pca

LD_WINDOW = 1_000_000
"""SNP pairs farther apart (bp), or on different chromosomes, are left out of the LD metrics."""
DECAY_BINS = np.array([0, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6])
"""Edges (bp) of the distance bins of the LD decay; a pair at distance d falls in ``(lo, hi]``."""
LD_MIN_MAF = 0.05  # LD of rarer SNPs is mostly sampling noise: the LD metrics use common SNPs
DISTANCE_PAIRS = 100_000  # within-set pairs whose Hamming distances make the distance distribution
PRIVACY_ROWS = 2000  # rows per set for the privacy loss (MetricSet.privacy gets no options)
_SHOWN = 3  # SNPs named in an error message


def _w1_info(what: str) -> MetricInfo:
    return MetricInfo(
        f"Wasserstein-1 distance of {what}, in real standard deviations", "lower", 1.0, 2.0, True, 0.05
    )


def _aa_info(description: str) -> MetricInfo:
    return MetricInfo(description, "half", 0.05, 0.15)


GENOTYPE_METRICS: dict[str, MetricInfo] = {
    "af_r": MetricInfo("Pearson r of the ALT allele frequencies, SNP by SNP", "higher", 0.01, 0.05),
    "af_mean_abs_diff": MetricInfo(
        "Mean absolute difference of the ALT allele frequencies over the SNPs", "lower", 1.0, 2.0, True, 0.005
    ),
    "ld_r": MetricInfo(
        "Pearson r of the linkage-disequilibrium (r²) matrices of common SNPs, over the SNP pairs within "
        "1 Mb on one chromosome",
        "higher",
        0.05,
        0.15,
    ),
    "ld_mean_abs_diff": MetricInfo(
        "Mean absolute difference of r² over the SNP pairs within 1 Mb on one chromosome",
        "lower",
        1.0,
        2.0,
        True,
        0.002,
    ),
    "ld_decay_diff": MetricInfo(
        "Mean absolute difference of the LD decay curves (mean r² per distance bin, up to 1 Mb)",
        "lower",
        1.0,
        2.0,
        True,
        0.002,
    ),
    "c2st_rf_auc": c2st_info(
        "Random forest told real from synthetic haplotypes on principal components fit on both sets "
        "(AUROC; 0.5 = indistinguishable)"
    ),
    "aats": _aa_info(
        "Nearest-neighbour adversarial accuracy (Yelmen et al. 2021, Hamming distance; ties count 1/2): "
        "0.5 = real and synthetic are mutual neighbours, low = copies or overfitting, above 0.5 = "
        "synthetic far from real"
    ),
    "aa_truth": _aa_info(
        "AATS half of the real rows: share whose nearest other real row is closer than the nearest "
        "synthetic one (near 1: synthetic rows sit apart from real ones)"
    ),
    "aa_synthetic": _aa_info(
        "AATS half of the synthetic rows: share whose nearest other synthetic row is closer than the "
        "nearest real one (near 1: synthetic rows cluster among themselves; near 0: they hug real rows)"
    ),
    "pairwise_distance_w1": _w1_info("the within-set pairwise Hamming distances"),
    "privacy_loss": MetricInfo(
        "Privacy: AATS of held-out real minus AATS of training rows, both against the synthetic ones "
        "(Yelmen et al. 2021; control: held-out real rows in place of synthetic; up to 0.5 for copies)",
        "lower",
        0.05,
        0.15,
        privacy=True,
    ),
    "exact_copy_rate": MetricInfo(
        "Privacy: share of synthetic rows identical to a training row (control: the share of held-out "
        "real rows; identical haplotypes are common over short regions, so judged relative to it)",
        "lower",
        0.2,
        0.4,
        True,
        0.05,
        privacy=True,
    ),
}


# ---------------------------------------------------------------------------------------- inputs
@dataclass
class RowMode:
    """What one row is in every set of one evaluation: a haplotype (all sets phased) or a sample's ALT
    dosages. Shared by the sets so one unphased input turns them all to dosages."""

    haplotypes: bool = True


class Genotypes:
    """One checked :class:`~biogan.data.genotypes.GenotypeSet` seen as rows (haplotypes or dosages).

    ``index`` picks rows of the current :class:`RowMode`; the rows are built on first use, after every
    set of an evaluation is prepared (so the mode no longer changes).
    """

    def __init__(self, data: GenotypeSet, mode: RowMode, index: np.ndarray | None = None) -> None:
        self.data = data
        self.mode = mode
        self.index = index

    def __len__(self) -> int:
        if self.index is not None:
            return len(self.index)
        return len(self.data) * (self.data.ploidy if self.mode.haplotypes else 1)

    def subset(self, index: np.ndarray) -> Genotypes:
        index = np.asarray(index, dtype=np.int64)
        return Genotypes(self.data, self.mode, index if self.index is None else self.index[index])

    @property
    def ploidy(self) -> int:
        """ALT alleles one row can hold at a SNP (1 for a haplotype)."""
        return 1 if self.mode.haplotypes else self.data.ploidy

    @cached_property
    def rows(self) -> np.ndarray:
        """``int8`` rows ``(len(self), n_snps)``: alleles 0/1 or dosages 0..ploidy; ``-1`` missing."""
        index = np.arange(len(self)) if self.index is None else self.index
        calls = self.data.calls
        if self.mode.haplotypes:  # row h is copy h % ploidy of sample h // ploidy (as in haplotypes())
            return calls[index // self.data.ploidy, :, index % self.data.ploidy]
        picked = calls[index]
        dosage = picked.sum(axis=2, dtype=np.int8)
        dosage[(picked < 0).any(axis=2)] = -1
        return dosage

    @property
    def labels(self) -> np.ndarray | None:
        labels = self.data.labels
        if labels is None:
            return None
        per_row = np.repeat(labels, self.data.ploidy) if self.mode.haplotypes else labels
        return per_row if self.index is None else per_row[self.index]

    @cached_property
    def frequencies(self) -> np.ndarray:
        """ALT allele frequency of every SNP (:func:`allele_frequencies` of the rows, per allele)."""
        return allele_frequencies(self.rows) / self.ploidy

    @property
    def positions(self) -> np.ndarray:
        return self.data.variants["pos"].to_numpy(dtype=np.int64)

    @property
    def chroms(self) -> np.ndarray:
        return self.data.variants["chrom"].astype(str).to_numpy()


def variant_keys(variants: pd.DataFrame) -> np.ndarray:
    """``chrom:pos:ref:alt`` of every SNP: what must agree for two sets to hold the same SNP."""
    parts = [variants[c].astype(str) for c in ("chrom", "pos", "ref", "alt")]
    return (parts[0] + ":" + parts[1] + ":" + parts[2] + ":" + parts[3]).to_numpy()


def align_variants(
    data: GenotypeSet,
    variants: pd.DataFrame,
    what: str,
    drop_extra: bool = False,
    reference: str = "the real ones",
) -> GenotypeSet:
    """``data`` at the SNPs of ``variants`` (those of ``reference``, in messages), in their order: same
    chromosome, position, REF and ALT.

    Raises
    ------
    InvalidDataError
        ``data`` lacks some of the SNPs, or (unless ``drop_extra``) holds others.
    """
    have, want = variant_keys(data.variants), variant_keys(variants)
    if len(have) == len(want) and (have == want).all():
        return data
    lookup = {key: j for j, key in enumerate(have)}
    missing = [key for key in want if key not in lookup]
    if missing or (len(have) != len(want) and not drop_extra):
        raise InvalidDataError(
            f"the {what} genotypes have other SNPs than {reference} ({len(have)} vs {len(want)}; "
            f"{len(missing)} of those missing, e.g. {', '.join(missing[:_SHOWN]) or '-'}); "
            "subset both to the same SNPs (chrom, pos, ref, alt) first"
        )
    index = [lookup[key] for key in want]
    return GenotypeSet(data.calls[:, index], data.samples, variants, data.phased, data.labels)


def genotypes_from(data: Any, what: str, like: Genotypes | None = None) -> Genotypes:
    """Checked genotypes of one input, at ``like``'s SNPs and sharing its :class:`RowMode` when given.

    Raises
    ------
    InvalidDataError
        Not a :class:`~biogan.data.genotypes.GenotypeSet`, fewer than 2 SNPs, another ploidy than
        ``like`` or other SNPs (:func:`align_variants`).
    """
    if not isinstance(data, GenotypeSet):
        raise InvalidDataError(
            f"the {what} data is a {type(data).__name__}, not genotypes (a GenotypeSet, e.g. from read_vcf)"
        )
    if data.n_snps < 2:
        raise InvalidDataError(f"the {what} genotypes have {data.n_snps} SNP; the metrics need at least 2")
    if like is None:
        return Genotypes(data, RowMode(data.phased))
    if data.ploidy != like.data.ploidy:
        raise InvalidDataError(
            f"the {what} genotypes have ploidy {data.ploidy} but the real ones {like.data.ploidy}"
        )
    data = align_variants(data, like.data.variants, what)
    if not data.phased:  # one unphased set: compare every set on dosages, the only common ground
        like.mode.haplotypes = False
    return Genotypes(data, like.mode)


# ---------------------------------------------------------------------------------------- frequencies, LD
def allele_frequencies(haplotypes: np.ndarray) -> np.ndarray:
    """Mean ALT allele count per SNP (column) of ``haplotypes``, ignoring missing (``-1``) calls.

    Parameters
    ----------
    haplotypes
        ``(rows, n_snps)`` alleles 0/1 (or dosages; divide by the ploidy for frequencies), ``-1`` missing.

    Returns
    -------
    numpy.ndarray
        ``(n_snps,)`` frequencies; NaN for a SNP called in no row.
    """
    x = np.asarray(haplotypes)
    called = x >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(called, x, 0).sum(axis=0, dtype=np.float64) / called.sum(axis=0)


def ld_snps(n_snps: int, max_snps: int | None) -> np.ndarray:
    """Indices of at most ``max_snps`` SNPs evenly spaced along ``n_snps`` (all of them when fewer)."""
    if max_snps is None or n_snps <= max_snps:
        return np.arange(n_snps)
    return np.unique(np.linspace(0, n_snps - 1, max_snps).round().astype(np.int64))


def common_snps(frequencies: np.ndarray, max_snps: int | None) -> np.ndarray:
    """Indices of at most ``max_snps`` SNPs with minor-allele frequency >= :data:`LD_MIN_MAF`, evenly
    spaced along the genome (every SNP is a candidate when fewer than 2 are that common)."""
    frequencies = np.asarray(frequencies, dtype=np.float64)
    common = np.flatnonzero(np.minimum(frequencies, 1 - frequencies) >= LD_MIN_MAF)
    candidates = common if len(common) >= 2 else np.arange(len(frequencies))
    return candidates[ld_snps(len(candidates), max_snps)]


def ld_r2(haplotypes: np.ndarray, max_snps: int | None = None) -> np.ndarray:
    """Linkage disequilibrium: squared Pearson correlation of the alleles of every SNP pair.

    Parameters
    ----------
    haplotypes
        ``(rows, n_snps)`` alleles 0/1 or dosages, ``-1`` missing: a pair's r² uses the rows called at
        both SNPs (filling missing calls in would shrink every r² by the missing share).
    max_snps
        Use at most this many SNPs, evenly spaced (:func:`ld_snps`).

    Returns
    -------
    numpy.ndarray
        ``(k, k)`` r²; a SNP monomorphic in ``haplotypes`` has r² = 0 with every SNP, itself included.
    """
    x = np.asarray(haplotypes)[:, ld_snps(np.shape(haplotypes)[1], max_snps)]
    if (x >= 0).all():
        z = _standardised(x.astype(np.float64))
        r2 = ((z.T @ z) / max(len(z), 1)) ** 2
    else:
        r2 = _pairwise_complete_r2(x)
    return np.clip(r2, 0.0, 1.0)


def _standardised(x: np.ndarray) -> np.ndarray:
    """Columns centred and scaled to unit variance; constant columns zero."""
    centred = x - x.mean(axis=0) if len(x) else x
    sd = np.sqrt((centred**2).mean(axis=0)) if len(x) else np.zeros(x.shape[1])
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def _pairwise_complete_r2(x: np.ndarray) -> np.ndarray:
    """r² of every column pair over the rows called (``>= 0``) in both, from sums that are matrix
    products: ``n = VᵀV``, ``Σx = XᵀV``, ``Σx² = (X²)ᵀV``, ``Σxy = XᵀX`` (X zero where missing)."""
    called = (x >= 0).astype(np.float64)
    values = np.where(x >= 0, x, 0).astype(np.float64)
    n = called.T @ called
    sum_i = values.T @ called  # [i, j]: sum of column i over the rows where j is called too
    sum_sq_i = (values**2).T @ called
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (values.T @ values) / n - (sum_i / n) * (sum_i.T / n)
        var_i = sum_sq_i / n - (sum_i / n) ** 2
        var_j = var_i.T
        r2 = cov**2 / (var_i * var_j)
    return np.where((var_i > 1e-12) & (var_j > 1e-12) & (n > 1), r2, 0.0)


def ld_pairs(
    positions: np.ndarray, chroms: np.ndarray | None = None, max_distance: float = LD_WINDOW
) -> np.ndarray:
    """``(k, k)`` mask of the SNP pairs ``i < j`` on one chromosome at most ``max_distance`` bp apart."""
    positions = np.asarray(positions, dtype=np.int64)
    same = np.ones((len(positions), len(positions)), dtype=bool)
    if chroms is not None:
        chroms = np.asarray(chroms).astype(str)
        same = chroms[:, None] == chroms[None, :]
    near = np.abs(positions[:, None] - positions[None, :]) <= max_distance
    return np.triu(same & near, k=1)


def pair_bins(
    positions: np.ndarray, chroms: np.ndarray | None = None, bins: np.ndarray = DECAY_BINS
) -> np.ndarray:
    """``(k, k)`` distance bin (index into ``bins``' intervals) of every pair of :func:`ld_pairs` within
    ``bins[-1]``; ``-1`` for the other pairs."""
    positions = np.asarray(positions, dtype=np.int64)
    distance = np.abs(positions[:, None] - positions[None, :])
    which = np.searchsorted(np.asarray(bins), distance, side="left") - 1  # (lo, hi] -> lo's index
    keep = ld_pairs(positions, chroms, float(bins[-1])) & (distance > bins[0])
    return np.where(keep, which, -1)


def decay_from(r2: np.ndarray, bins_of_pairs: np.ndarray, n_bins: int) -> np.ndarray:
    """Mean r² per distance bin from an r² matrix and :func:`pair_bins`; NaN for a bin without pairs."""
    chosen = bins_of_pairs >= 0
    sums = np.bincount(bins_of_pairs[chosen], weights=r2[chosen], minlength=n_bins)[:n_bins]
    counts = np.bincount(bins_of_pairs[chosen], minlength=n_bins)[:n_bins]
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


def ld_decay(
    haplotypes: np.ndarray,
    positions: np.ndarray,
    bins: np.ndarray = DECAY_BINS,
    chroms: np.ndarray | None = None,
    max_snps: int | None = None,
) -> np.ndarray:
    """Mean r² of the SNP pairs in every distance bin: how linkage disequilibrium decays with distance.

    Parameters
    ----------
    haplotypes
        ``(rows, n_snps)`` alleles (or dosages), ``-1`` missing.
    positions
        Base-pair position of every SNP.
    bins
        Bin edges in bp (default :data:`DECAY_BINS`, up to 1 Mb); a pair at distance d is in ``(lo, hi]``.
    chroms
        Chromosome of every SNP: pairs on different chromosomes are left out.
    max_snps
        Use at most this many SNPs, evenly spaced (:func:`ld_snps`).

    Returns
    -------
    numpy.ndarray
        ``(len(bins) - 1,)`` mean r²; NaN for a bin without pairs.
    """
    index = ld_snps(np.shape(haplotypes)[1], max_snps)
    chroms = None if chroms is None else np.asarray(chroms)[index]
    r2 = ld_r2(np.asarray(haplotypes)[:, index])
    return decay_from(r2, pair_bins(np.asarray(positions)[index], chroms, bins), len(bins) - 1)


def ld_matrix_agreement(
    real_r2: np.ndarray,
    synthetic_r2: np.ndarray,
    positions: np.ndarray,
    chroms: np.ndarray | None = None,
    max_distance: float = LD_WINDOW,
) -> tuple[float, float]:
    """How alike two r² matrices of the same SNPs are, over the pairs within ``max_distance`` bp on one
    chromosome (:func:`ld_pairs`; farther pairs are near-zero noise that would swamp the signal).

    Returns
    -------
    tuple of float
        Pearson r of the pairs' r² values (NaN when either side is constant), and their mean absolute
        difference (NaN without pairs).
    """
    mask = ld_pairs(positions, chroms, max_distance)
    return _agreement(real_r2[mask], synthetic_r2[mask])


def _agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    if len(a) == 0:
        return float("nan"), float("nan")
    return _pearson(a, b), float(np.abs(a - b).mean())


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


# ---------------------------------------------------------------------------------------- distances
def hamming_distances(a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Share of the SNPs called in both rows at which two rows differ, for every row of ``a`` and ``b``.

    Rows are alleles 0/1 (the Hamming distance) or dosages 0..ploidy (allele differences per SNP, the L1
    distance over the number of SNPs), ``-1`` missing. A dosage ``x`` is coded as the indicators
    ``x >= 1, x >= 2, ...``, whose Hamming distance is ``|x - y|``, so either way the distances are
    matrix products of 0/1 ``float32`` matrices (exact counts, fast BLAS).

    Parameters
    ----------
    a, b
        ``(n, n_snps)`` and ``(m, n_snps)`` rows; without ``b`` the distances within ``a``, with an
        infinite diagonal (a row is not its own neighbour).

    Returns
    -------
    numpy.ndarray
        ``(n, m)`` ``float32`` distances; 1 for a pair of rows with no SNP called in both.
    """
    within = b is None
    a = np.asarray(a)
    b = a if b is None else np.asarray(b)
    top = max(int(a.max(initial=0)), int(b.max(initial=0)), 1)
    codes_a, codes_b = _indicators(a, top), _indicators(b, top)
    if (a >= 0).all() and (b >= 0).all():
        mismatch = codes_a.sum(1)[:, None] + codes_b.sum(1)[None, :] - 2 * (codes_a @ codes_b.T)
        distance = mismatch / np.float32(a.shape[1])
    else:
        called_a, called_b = (a >= 0).astype(np.float32), (b >= 0).astype(np.float32)
        # mismatches: an indicator set on one side and clear (but called) on the other
        off_a = np.tile(called_a, top) - codes_a
        off_b = np.tile(called_b, top) - codes_b
        mismatch = codes_a @ off_b.T + off_a @ codes_b.T
        compared = called_a @ called_b.T
        distance = np.divide(mismatch, compared, out=np.ones_like(mismatch), where=compared > 0)
    distance = distance.astype(np.float32)
    if within:
        np.fill_diagonal(distance, np.inf)
    return distance


def _indicators(x: np.ndarray, top: int) -> np.ndarray:
    """``[x >= 1 | x >= 2 | ... | x >= top]`` as ``float32`` columns (0 where missing)."""
    return np.hstack([(x >= t).astype(np.float32) for t in range(1, top + 1)])


def _nearest(d_aa: np.ndarray, d_bb: np.ndarray, d_ab: np.ndarray) -> tuple[float, float, float]:
    """AATS, AA_truth and AA_synthetic from the within-a, within-b (infinite diagonals) and a-b
    distances (a = real, b = synthetic)."""
    aa_truth = _share_farther(d_ab.min(axis=1), d_aa.min(axis=1))
    aa_synthetic = _share_farther(d_ab.min(axis=0), d_bb.min(axis=1))
    return (aa_truth + aa_synthetic) / 2, aa_truth, aa_synthetic


def _share_farther(across: np.ndarray, within: np.ndarray) -> float:
    """Share of rows whose nearest row of the other set is farther than the nearest of their own set;
    ties count 1/2 (Yelmen's strict ``>`` gives about 0.46 for two real sets: distances are counts)."""
    return float(np.mean((across > within) + 0.5 * (across == within)))


def _equal_sizes(
    sets: Sequence[np.ndarray], rng: np.random.Generator, cap: int | None = None
) -> list[np.ndarray]:
    n = min(len(s) for s in sets) if cap is None else min(cap, *(len(s) for s in sets))
    return [s if len(s) == n else s[np.sort(rng.choice(len(s), n, replace=False))] for s in sets]


def aats(real: np.ndarray, synthetic: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """Nearest-neighbour adversarial accuracy (Yelmen et al. 2021) on Hamming distances between rows.

    AA_truth is the share of real rows whose nearest synthetic row is farther than their nearest other
    real row; AA_synthetic the same for synthetic rows; AATS their mean. Ties count 1/2.

    Parameters
    ----------
    real, synthetic
        ``(n, n_snps)`` haplotypes (or dosages), ``-1`` missing; the larger set is subsampled (``seed``)
        to the size of the smaller.
    seed
        Seeds the subsample.

    Returns
    -------
    tuple of float
        ``(aats, aa_truth, aa_synthetic)``: 0.5 when real and synthetic rows are mutual neighbours like
        two real samples, near 0 when synthetic rows copy real ones, above 0.5 when they sit apart. A
        copy of a row that has a twin among the real rows ties (1/2): over short regions, where
        identical haplotypes are common, the AATS of copies is half the real rows' duplicate share.
    """
    real, synthetic = _equal_sizes([np.asarray(real), np.asarray(synthetic)], np.random.default_rng(seed))
    return _nearest(hamming_distances(real), hamming_distances(synthetic), hamming_distances(real, synthetic))


def privacy_loss(
    synthetic: np.ndarray,
    train: np.ndarray,
    heldout: np.ndarray,
    seed: int = 0,
    max_rows: int | None = None,
) -> float:
    """Yelmen et al.'s privacy loss: AATS(held-out real, synthetic) - AATS(training, synthetic).

    A model that learnt the population scores the same against both (about 0); one that copies its
    training rows has an AATS near 0 against them and near 0.5 against held-out rows (about 0.5; less
    where real haplotypes repeat, see :func:`aats`).

    Parameters
    ----------
    synthetic, train, heldout
        ``(n, n_snps)`` rows; all three are subsampled (``seed``) to one size (at most ``max_rows``),
        the same synthetic rows serving both AATS.
    seed
        Seeds the subsamples.
    max_rows
        Rows per set at most (``None``: the smallest set's size).

    Returns
    -------
    float
        The privacy loss.
    """
    rng = np.random.default_rng(seed)
    synthetic, train, heldout = _equal_sizes(
        [np.asarray(synthetic), np.asarray(train), np.asarray(heldout)], rng, max_rows
    )
    d_ss = hamming_distances(synthetic)
    test = _nearest(hamming_distances(heldout), d_ss, hamming_distances(heldout, synthetic))[0]
    seen = _nearest(hamming_distances(train), d_ss, hamming_distances(train, synthetic))[0]
    return test - seen


def _row_keys(rows: np.ndarray) -> list[bytes]:
    return [row.tobytes() for row in np.ascontiguousarray(rows, dtype=np.int8)]


def exact_copy_rate(synthetic: np.ndarray, train: np.ndarray) -> float:
    """Share of ``synthetic`` rows identical (missing calls included) to some row of ``train``.

    Parameters
    ----------
    synthetic, train
        ``(n, n_snps)`` and ``(m, n_snps)`` rows (alleles or dosages).

    Returns
    -------
    float
        The share (NaN without synthetic rows).
    """
    known = set(_row_keys(train))
    keys = _row_keys(synthetic)
    return sum(key in known for key in keys) / len(keys) if keys else float("nan")


def duplicate_rate(rows: np.ndarray) -> float:
    """Share of rows that occur more than once in ``rows`` (the copy rate of a set against itself)."""
    keys = _row_keys(rows)
    counts = Counter(keys)
    return sum(counts[key] > 1 for key in keys) / len(keys) if keys else float("nan")


def sampled_pairs(n: int, n_pairs: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row pairs ``i < j`` of ``n`` rows: all of them, or ``n_pairs`` drawn (with replacement)."""
    if n * (n - 1) // 2 <= n_pairs:
        return np.triu_indices(n, k=1)
    i, j = rng.integers(0, n, n_pairs), rng.integers(0, n - 1, n_pairs)
    j = j + (j >= i)  # a pair of two different rows
    return np.minimum(i, j), np.maximum(i, j)


def _distance_w1(d_ref: np.ndarray, d_other: np.ndarray, pairs: tuple[np.ndarray, np.ndarray]) -> float:
    ref, other = d_ref[pairs], d_other[pairs]
    if len(ref) == 0:
        return float("nan")
    sd = float(np.std(ref))
    return float(wasserstein_distance(ref, other)) / (sd if sd > 0 else 1.0)


def pairwise_distance_w1(
    real: np.ndarray, synthetic: np.ndarray, seed: int = 0, n_pairs: int = DISTANCE_PAIRS
) -> float:
    """Wasserstein-1 distance between the within-set pairwise Hamming distances of two sets, in standard
    deviations of the real ones.

    Parameters
    ----------
    real, synthetic
        ``(n, n_snps)`` rows; the larger set is subsampled (``seed``) to the size of the smaller.
    seed
        Seeds the subsample and the pairs.
    n_pairs
        Pairs drawn from each set (the same row pairs on both sides; all pairs when fewer).

    Returns
    -------
    float
        The distance (0 = the same spread of relatedness); NaN for fewer than 2 rows.
    """
    rng = np.random.default_rng(seed)
    real, synthetic = _equal_sizes([np.asarray(real), np.asarray(synthetic)], rng)
    pairs = sampled_pairs(len(real), n_pairs, rng)
    return _distance_w1(hamming_distances(real), hamming_distances(synthetic), pairs)


# ---------------------------------------------------------------------------------------- structure
def _filled(rows: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``float32`` copies of ``rows`` with missing calls at the SNP's mean over all of them."""
    values = [np.where(r >= 0, r, np.nan).astype(np.float32) for r in rows]
    if not any(np.isnan(v).any() for v in values):
        return values
    mean = np.nan_to_num(np.nanmean(np.vstack(values), axis=0))
    return [np.where(np.isnan(v), mean, v).astype(np.float32) for v in values]


def joint_pcs(a: np.ndarray, b: np.ndarray, n_pcs: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Principal components of rows ``a`` and ``b`` fit on their union (never on one set: components of
    one set give it more in-sample variance, which a classifier would then detect)."""
    fa, fb = _filled([np.asarray(a), np.asarray(b)])
    return joint_pca(fa, fb, n_pcs, seed)


def pc_c2st(
    a: np.ndarray, b: np.ndarray, n_pcs: int = 20, seed: int = 0, max_rows: int | None = None
) -> float:
    """Random-forest classifier two-sample test on principal components fit on the union of two sets.

    Parameters
    ----------
    a, b
        ``(n, n_snps)`` rows (alleles or dosages, ``-1`` missing at the SNP's mean); both are cut to one
        size (at most ``max_rows``) with ``seed`` so chance level is exactly 0.5.
    n_pcs
        Principal components the forest sees.
    seed
        Seeds the subsample, the PCA and the forest.
    max_rows
        Rows per side at most (the forest is the slowest metric).

    Returns
    -------
    float
        Cross-validated AUROC (:func:`biogan.metrics.two_sample.c2st_auc`); 0.5 = indistinguishable.
    """
    rng = np.random.default_rng(seed)
    a, b = _equal_sizes([np.asarray(a), np.asarray(b)], rng, max_rows)
    pa, pb = joint_pcs(a, b, n_pcs, seed)
    return c2st_auc(pa, pb, "rf", seed=seed)


# ---------------------------------------------------------------------------------------- one pair
@dataclass
class GenotypePlan:
    """What every comparison with one reference shares, so value and control are computed alike.

    The LD SNPs (common in the reference, evenly spaced), their pairs and distance bins, the row pairs of
    the distance distribution, and the reference's own statistics (the same reference in every
    comparison: computed once).
    """

    seed: int
    n_pcs: int
    max_c2st: int
    label_sizes: dict[str, int]
    ld_index: np.ndarray
    ld_mask: np.ndarray
    ld_bins: np.ndarray
    pairs: tuple[np.ndarray, np.ndarray]
    ref_within: np.ndarray
    ref_r2: np.ndarray
    ref_decay: np.ndarray


def plan_for(
    ref: Genotypes,
    label_sizes: Mapping[str, int],
    seed: int,
    n_pcs: int = 20,
    max_ld_snps: int = 500,
    max_c2st: int = 500,
) -> GenotypePlan:
    """The :class:`GenotypePlan` of comparisons with ``ref`` (its sets subsampled to ``len(ref)``)."""
    ld_index = common_snps(ref.frequencies, max_ld_snps)
    positions, chroms = ref.positions[ld_index], ref.chroms[ld_index]
    ld_bins = pair_bins(positions, chroms)
    ref_r2 = ld_r2(ref.rows[:, ld_index])
    return GenotypePlan(
        seed=seed,
        n_pcs=n_pcs,
        max_c2st=max_c2st,
        label_sizes=_c2st_label_sizes(label_sizes, len(ref), max_c2st),
        ld_index=ld_index,
        ld_mask=ld_pairs(positions, chroms),
        ld_bins=ld_bins,
        pairs=sampled_pairs(len(ref), DISTANCE_PAIRS, np.random.default_rng(seed)),
        ref_within=hamming_distances(ref.rows),
        ref_r2=ref_r2,
        ref_decay=decay_from(ref_r2, ld_bins, len(DECAY_BINS) - 1),
    )


def _c2st_label_sizes(sizes: Mapping[str, int], n: int, cap: int) -> dict[str, int]:
    """Per-label C2ST sizes scaled like the overall test's (``cap`` of ``n`` rows), never below
    :data:`~biogan.metrics.engine.MIN_PER_LABEL` for a label that has that many."""
    scale = min(1.0, cap / max(n, 1))
    return {label: max(min(k, MIN_PER_LABEL), int(k * scale)) for label, k in sizes.items()}


def _compare(ref: Genotypes, other: Genotypes, plan: GenotypePlan) -> dict[tuple[str, str], float]:
    """Every genotype metric for one (reference, other) pair of equal-size sets."""
    out: dict[tuple[str, str], float] = {}
    af_ref, af_other = ref.frequencies, other.frequencies
    out[("af_r", OVERALL)] = _pearson(af_ref, af_other)
    out[("af_mean_abs_diff", OVERALL)] = float(np.nanmean(np.abs(af_ref - af_other)))
    r2 = ld_r2(other.rows[:, plan.ld_index])
    out[("ld_r", OVERALL)], out[("ld_mean_abs_diff", OVERALL)] = _agreement(
        plan.ref_r2[plan.ld_mask], r2[plan.ld_mask]
    )
    decay = decay_from(r2, plan.ld_bins, len(DECAY_BINS) - 1)
    both = np.isfinite(decay) & np.isfinite(plan.ref_decay)
    out[("ld_decay_diff", OVERALL)] = (
        float(np.abs(decay - plan.ref_decay)[both].mean()) if both.any() else float("nan")
    )
    pcs_ref, pcs_other = joint_pcs(ref.rows, other.rows, plan.n_pcs, plan.seed)
    rng = np.random.default_rng(plan.seed)
    out[("c2st_rf_auc", OVERALL)] = c2st_auc(
        *_equal_sizes([pcs_ref, pcs_other], rng, plan.max_c2st), "rf", seed=plan.seed
    )
    d_other = hamming_distances(other.rows)
    scores = _nearest(plan.ref_within, d_other, hamming_distances(ref.rows, other.rows))
    for name, value in zip(("aats", "aa_truth", "aa_synthetic"), scores, strict=True):
        out[(name, OVERALL)] = value
    out[("pairwise_distance_w1", OVERALL)] = _distance_w1(plan.ref_within, d_other, plan.pairs)
    if ref.labels is not None and other.labels is not None:
        out.update(per_label_c2st(pcs_ref, ref.labels, pcs_other, other.labels, plan.label_sizes, plan.seed))
    return out


def _privacy_rows(
    real: Genotypes, synthetic: Genotypes, train: Genotypes | None, seed: int
) -> list[PrivacyRow]:
    unit = "haplotypes" if real.mode.haplotypes else "samples"
    if train is None:
        # Half of the real rows stand in for training rows and the other half is the control: both
        # rates are then counted against the same records (a set against itself would not be).
        order = np.random.default_rng(seed).permutation(len(real))
        half = len(real) // 2
        queries, records = real.rows[order[:half]], real.rows[order[half:]]
        copies, real_copies = exact_copy_rate(synthetic.rows, records), exact_copy_rate(queries, records)
        return [_copy_row(copies, real_copies, "real", unit)]
    copies, real_copies = exact_copy_rate(synthetic.rows, train.rows), exact_copy_rate(real.rows, train.rows)
    loss = privacy_loss(synthetic.rows, train.rows, real.rows, seed, PRIVACY_ROWS)
    # Control: half of the held-out rows stand in for synthetic ones the model never saw (about 0).
    order = np.random.default_rng(seed).permutation(len(real))
    half = len(real) // 2
    stand_in, heldout = real.rows[order[:half]], real.rows[order[half:]]
    control = privacy_loss(stand_in, train.rows, heldout, seed, PRIVACY_ROWS)
    note = (
        f"privacy loss {loss:.3f}, AATS against held-out real minus against training {unit} (held-out "
        f"real {unit} in place of synthetic: {control:.3f}; up to 0.5 for copies of training {unit})"
    )
    return [
        PrivacyRow("privacy_loss", loss, control, note, _poor("privacy_loss", loss, control)),
        _copy_row(copies, real_copies, "training", unit),
    ]


def _copy_row(copies: float, real_copies: float, against: str, unit: str) -> PrivacyRow:
    note = (
        f"{copies:.1%} of the synthetic {unit} are exact copies of {against} {unit} "
        f"(held-out real: {real_copies:.1%})"
    )
    return PrivacyRow(
        "exact_copy_rate", copies, real_copies, note, _poor("exact_copy_rate", copies, real_copies)
    )


def _poor(metric: str, value: float, control: float) -> bool:
    return verdict(metric, value, control, metrics=GENOTYPE_METRICS) == "poor"


# ---------------------------------------------------------------------------------------- metric set
class GenotypeMetrics:
    """The engine's metric set for genotypes (:class:`~biogan.data.genotypes.GenotypeSet`, one SNP set).

    A record is a haplotype when every compared set is phased, else a sample, whose row holds its ALT
    dosages (0 .. ploidy; LD is then the genotype r², distances are allele differences). The other sets
    are reordered to the real SNPs (chromosome, position, REF, ALT), which they must all hold.

    Options of :func:`biogan.evaluate` for genotypes: ``max_haplotypes`` (2000: rows per set; samples
    for dosages), ``max_ld_snps`` (500: common SNPs, MAF >= 0.05 in the reference, evenly spaced, for the
    LD matrices and decay), ``n_pcs`` (20: principal components of the C2ST) and ``max_c2st`` (500: rows
    per side of the random forest, the slowest metric; per-label tests are scaled alike). A
    ``GenotypeSet`` carries its labels (``labels_key`` is not used): per-label C2ST rows (labels with at
    least 15 rows) appear when every compared set has labels.

    Distances and LD grow with the SNPs (a distance matrix is a product of ``rows x SNPs`` matrices): for
    genome-wide panels evaluate a region or a chromosome at a time.

    The privacy rows use the full sets (:data:`PRIVACY_ROWS` rows for the AATS): ``privacy_loss`` (with
    ``train`` only; control: half of the held-out rows in place of the synthetic ones) and
    ``exact_copy_rate`` (control: the held-out real rows' copy rate). Without ``train`` the copies are
    counted against a seeded half of the real rows (control: the other half's copy rate).
    """

    name = "genotypes"
    noun = "haplotype"
    metrics = GENOTYPE_METRICS
    defaults: Mapping[str, Any] = {"max_haplotypes": 2000, "max_ld_snps": 500, "n_pcs": 20, "max_c2st": 500}
    size_option = "max_haplotypes"
    min_size = MIN_SAMPLES

    def prepare(
        self, data: GenotypeSet, what: str, labels_key: str | None = None, like: Genotypes | None = None
    ) -> Genotypes:
        """:func:`genotypes_from` (``labels_key`` is not used: the set carries its labels)."""
        return genotypes_from(data, what, like)

    def plan(
        self,
        ref: Genotypes,
        others: Sequence[Genotypes],
        label_sizes: dict[str, int],
        seed: int,
        options: Mapping[str, Any],
    ) -> GenotypePlan:
        return plan_for(
            ref,
            label_sizes,
            seed,
            n_pcs=int(options["n_pcs"]),
            max_ld_snps=int(options["max_ld_snps"]),
            max_c2st=int(options["max_c2st"]),
        )

    def compare(self, ref: Genotypes, other: Genotypes, plan: GenotypePlan) -> dict[tuple[str, str], float]:
        return _compare(ref, other, plan)

    def privacy(
        self, real: Genotypes, synthetic: Genotypes, train: Genotypes | None, seed: int
    ) -> list[PrivacyRow]:
        """``privacy_loss`` (with ``train``) and ``exact_copy_rate``, alerting when their verdict is poor."""
        return _privacy_rows(real, synthetic, train, seed)


GENOTYPES = register(GenotypeMetrics())

__all__ = [
    "DECAY_BINS",
    "GENOTYPES",
    "GENOTYPE_METRICS",
    "LD_WINDOW",
    "GenotypeMetrics",
    "GenotypePlan",
    "Genotypes",
    "RowMode",
    "aats",
    "align_variants",
    "allele_frequencies",
    "common_snps",
    "decay_from",
    "duplicate_rate",
    "exact_copy_rate",
    "genotypes_from",
    "hamming_distances",
    "joint_pcs",
    "ld_decay",
    "ld_matrix_agreement",
    "ld_pairs",
    "ld_r2",
    "ld_snps",
    "pair_bins",
    "pairwise_distance_w1",
    "pc_c2st",
    "plan_for",
    "privacy_loss",
    "sampled_pairs",
    "variant_keys",
]
