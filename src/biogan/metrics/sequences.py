"""The sequence metric set: synthetic DNA, RNA or protein sequences judged against real ones.

Two sets of equal size are compared on their k-mer spectra (pooled k-mer shares), the distributions of
per-sequence properties (length, GC content of nucleic acids; amino-acid shares, GRAVY hydrophobicity,
net charge and isoelectric point of proteins, from Biopython's ``ProteinAnalysis``), the share of
distinct sequences, and a random-forest two-sample test on per-sequence k-mer shares. The privacy rows
compare synthetic sequences with the training sequences on the full sets: exact copies, and how far
(normalised edit distance) each sits from its nearest training sequence. :class:`SequenceMetrics`
plugs these into :mod:`biogan.metrics.engine`, which adds the real-vs-real control and the verdicts
(``biogan.evaluate(real_set, synthetic_set, train=train_set)``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import ks_2samp, wasserstein_distance

from biogan.data.sequences import SequenceSet, check_alphabet
from biogan.data.validation import MIN_SAMPLES
from biogan.errors import InvalidDataError
from biogan.metrics.engine import (
    OVERALL,
    MetricInfo,
    PrivacyRow,
    c2st_info,
    per_label_c2st,
    register,
    verdict,
)
from biogan.metrics.two_sample import c2st_auc

NUCLEIC = ("dna", "rna")
SPECTRUM_K = {"dna": 6, "rna": 6, "protein": 3}
"""Largest k of the k-mer spectrum metrics (``kmer_js_k1`` .. ``kmer_js_k<K>``) per alphabet."""
FEATURE_K = {"dna": 4, "rna": 4, "protein": 2}
"""Largest k of the per-sequence k-mer shares the C2ST classifier sees (protein 3-mers would be 8,000
columns, nearly all zero in any one sequence)."""
NOVELTY_QUERIES = 500  # synthetic (and as many held-out real) sequences searched for their nearest record
MIN_NOVELTY_QUERIES = 100
NOVELTY_PAIRS = 1_000_000  # edit distances per side beyond which fewer queries are searched
PROTPARAM = ("gravy", "charge", "pi")


def _kmer_info(k: int) -> MetricInfo:
    return MetricInfo(
        f"Jensen–Shannon divergence (bits) of the {k}-mer spectra: the shares of every {k}-mer, pooled "
        "over the sequences",
        "lower",
        0.5,
        2.0,
        True,
        0.001,
    )


def _w1_info(what: str) -> MetricInfo:
    return MetricInfo(
        f"Wasserstein-1 distance of {what}, in real standard deviations", "lower", 1.0, 2.0, True, 0.05
    )


SEQUENCE_METRICS: dict[str, MetricInfo] = {
    "c2st_rf_auc": c2st_info(
        "Random forest told real from synthetic sequences on their k-mer shares (k = 1-4 for DNA/RNA, "
        "1-2 for protein) and length (AUROC; 0.5 = indistinguishable)"
    ),
    **{f"kmer_js_k{k}": _kmer_info(k) for k in range(1, max(SPECTRUM_K.values()) + 1)},
    "length_ks": MetricInfo("KS statistic of the length distributions", "lower", 0.1, 0.25),
    "length_w1": _w1_info("the length distributions"),
    "gc_w1": _w1_info("the per-sequence GC content (DNA/RNA)"),
    "aa_composition_w1": _w1_info(
        "each amino acid's per-sequence share (mean over the 20 amino acids; protein)"
    ),
    "gravy_w1": _w1_info("GRAVY hydrophobicity (mean Kyte–Doolittle score; protein, Biopython ProtParam)"),
    "charge_w1": _w1_info("the net charge at pH 7 (protein, Biopython ProtParam)"),
    "pi_w1": _w1_info("the isoelectric point (protein, Biopython ProtParam)"),
    "uniqueness": MetricInfo("Share of distinct sequences (repeats mean mode collapse)", "higher", 0.02, 0.1),
    "copy_rate": MetricInfo(
        "Privacy: share of synthetic sequences identical to a training sequence (control: the share of "
        "held-out real sequences)",
        "lower",
        0.01,
        0.05,
        privacy=True,
    ),
    "novelty": MetricInfo(
        "Privacy: median normalised edit distance (Levenshtein / longer length) to the nearest training "
        "sequence (control: held-out real's; well below it = near-copies of training sequences)",
        "higher",
        0.2,
        0.5,
        True,
        0.01,
        privacy=True,
    ),
}


# ---------------------------------------------------------------------------------------- inputs
class Sequences:
    """One checked :class:`~biogan.data.sequences.SequenceSet` and its derived views (computed once)."""

    def __init__(self, data: SequenceSet) -> None:
        self.data = data
        self.labels = data.labels
        self._kmers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def subset(self, index: np.ndarray) -> Sequences:
        return Sequences(self.data.subset(index))

    def __len__(self) -> int:
        return len(self.data)

    @property
    def alphabet(self) -> str:
        return self.data.alphabet

    @property
    def sequences(self) -> list[str]:
        return self.data.sequences

    @cached_property
    def lengths(self) -> np.ndarray:
        return self.data.lengths

    @cached_property
    def codes(self) -> np.ndarray:
        """Every letter of every sequence, concatenated, as its index in the alphabet."""
        lookup = np.full(256, -1, dtype=np.int64)
        for code, letter in enumerate(self.data.letters):
            lookup[ord(letter)] = code
        return lookup[np.frombuffer("".join(self.sequences).encode("ascii"), dtype=np.uint8)]

    def kmers(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Every k-mer inside a sequence as a base-A number of its letters, and the sequence it lies in."""
        if k not in self._kmers:
            self._kmers[k] = _kmers(self.codes, self.lengths, len(self.data.letters), k)
        return self._kmers[k]

    def spectrum(self, k: int) -> np.ndarray:
        """How often every possible k-mer occurs, pooled over the sequences (``A**k`` counts)."""
        return np.bincount(self.kmers(k)[0], minlength=len(self.data.letters) ** k)

    def kmer_shares(self, k: int) -> np.ndarray:
        """Per-sequence k-mer shares, ``(n, A**k)`` (a sequence shorter than k has none)."""
        codes, owner = self.kmers(k)
        width = len(self.data.letters) ** k
        counts = np.bincount(owner * width + codes, minlength=len(self) * width).reshape(len(self), width)
        return counts / np.maximum(counts.sum(1, keepdims=True), 1)

    @cached_property
    def features(self) -> np.ndarray:
        """What the C2ST classifier sees: k-mer shares for k = 1 .. :data:`FEATURE_K` and log length."""
        shares = [self.kmer_shares(k) for k in range(1, FEATURE_K[self.alphabet] + 1)]
        return np.hstack([*shares, np.log1p(self.lengths)[:, None]])

    @cached_property
    def composition(self) -> np.ndarray:
        """Per-sequence letter shares ``(n, A)``; NaN rows for empty sequences."""
        shares = self.kmer_shares(1)
        shares[self.lengths == 0] = np.nan
        return shares

    @cached_property
    def gc(self) -> np.ndarray:
        """Per-sequence share of G and C (NaN for an empty sequence)."""
        letters = self.data.letters
        return self.composition[:, letters.index("G")] + self.composition[:, letters.index("C")]

    @cached_property
    def protparam(self) -> dict[str, np.ndarray]:
        """GRAVY, net charge at pH 7 and isoelectric point of every protein (NaN for an empty one)."""
        return protein_properties(self.sequences)


def classifier_features(sequences: Sequence[str], alphabet: str) -> np.ndarray:
    """The C2ST classifier's features of plain sequences (:attr:`Sequences.features`): what a k-mer
    classifier for a feedback loop is trained on (:class:`biogan.models.sequence.KmerScorer`)."""
    return Sequences(SequenceSet(list(sequences), alphabet)).features


def _kmers(codes: np.ndarray, lengths: np.ndarray, n_letters: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    owner = np.repeat(np.arange(len(lengths)), lengths)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(len(codes)) - starts[owner]
    n_windows = len(codes) - k + 1
    if n_windows <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    value = np.zeros(n_windows, dtype=np.int64)
    for j in range(k):
        value = value * n_letters + codes[j : j + n_windows]
    inside = position[:n_windows] + k <= lengths[owner[:n_windows]]  # not running into the next sequence
    return value[inside], owner[:n_windows][inside]


def sequences_from(data: Any, what: str, like: Sequences | None = None) -> Sequences:
    """Checked sequences of one input, in ``like``'s alphabet when given.

    Raises
    ------
    InvalidDataError
        Not a :class:`~biogan.data.sequences.SequenceSet`, another alphabet than ``like``, or letters
        outside the alphabet.
    """
    if not isinstance(data, SequenceSet):
        raise InvalidDataError(
            f"the {what} data is a {type(data).__name__}, not sequences (a SequenceSet, e.g. from read_fasta)"
        )
    if like is not None and data.alphabet != like.alphabet:
        raise InvalidDataError(
            f"the {what} sequences are {data.alphabet} but the real ones are {like.alphabet}; "
            "compare sequences of one alphabet"
        )
    check_alphabet(data.sequences, data.ids, data.alphabet, f"the {what} sequences")
    return Sequences(data)


def protein_properties(sequences: Sequence[str]) -> dict[str, np.ndarray]:
    """``gravy``, ``charge`` (net, at pH 7) and ``pi`` (isoelectric point) of every protein, from
    Biopython's ``ProteinAnalysis``; NaN for an empty sequence."""
    from Bio.SeqUtils.ProtParam import ProteinAnalysis

    out = {name: np.full(len(sequences), np.nan) for name in PROTPARAM}
    for i, seq in enumerate(sequences):
        if seq:
            analysis = ProteinAnalysis(seq)
            out["gravy"][i] = analysis.gravy()
            out["charge"][i] = analysis.charge_at_pH(7.0)
            out["pi"][i] = analysis.isoelectric_point()
    return out


# ---------------------------------------------------------------------------------------- metrics
def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen–Shannon divergence (bits, 0 to 1) between two count vectors; NaN when one is all zero."""
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    return float(jensenshannon(p, q, base=2) ** 2)


def w1_in_sd(ref: np.ndarray, other: np.ndarray) -> float:
    """Wasserstein-1 distance of the finite values, in ``ref``'s standard deviations (its unit when
    ``ref`` is constant); NaN when a side has no value."""
    a, b = ref[np.isfinite(ref)], other[np.isfinite(other)]
    if len(a) == 0 or len(b) == 0:
        return float("nan")
    sd = float(np.std(a))
    return float(wasserstein_distance(a, b)) / (sd if sd > 0 else 1.0)


def uniqueness(sequences: Sequence[str]) -> float:
    """Share of distinct sequences."""
    return len(set(sequences)) / len(sequences) if sequences else float("nan")


def nearest_edit_distance(
    queries: Sequence[str], records: Sequence[str], exclude: np.ndarray | None = None
) -> np.ndarray:
    """Normalised Levenshtein distance (edits / longer length) of every query to its nearest record.

    ``exclude`` holds, for every query, the index of a record to skip (the query itself, when the
    queries are records). Uses ``rapidfuzz.process.cdist`` on one core.
    """
    from rapidfuzz import process
    from rapidfuzz.distance import Levenshtein

    distances = process.cdist(
        queries, records, scorer=Levenshtein.normalized_distance, workers=1, dtype=np.float32
    )
    if exclude is not None:
        distances[np.arange(len(queries)), exclude] = np.inf
    return distances.min(1).astype(np.float64)


def novelty_queries(n_records: int) -> int:
    """Queries searched per side: :data:`NOVELTY_QUERIES`, fewer against many records (about
    :data:`NOVELTY_PAIRS` edit distances a side, but at least :data:`MIN_NOVELTY_QUERIES`)."""
    return min(NOVELTY_QUERIES, max(MIN_NOVELTY_QUERIES, NOVELTY_PAIRS // max(n_records, 1)))


def novelty_distances(
    real: SequenceSet, synthetic: SequenceSet, train: SequenceSet | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Distances (:func:`nearest_edit_distance`) of synthetic and of held-out real sequences to their
    nearest training sequence, for a seeded sample of :func:`novelty_queries` of each.

    Without ``train`` the records are the real sequences: a real query skips itself.
    """
    records = real if train is None else train
    n_queries = novelty_queries(len(records))
    rng = np.random.default_rng(seed)
    synth_index = np.sort(rng.choice(len(synthetic), min(n_queries, len(synthetic)), replace=False))
    real_index = np.sort(rng.choice(len(real), min(n_queries, len(real)), replace=False))
    d_synth = nearest_edit_distance([synthetic.sequences[i] for i in synth_index], records.sequences)
    d_real = nearest_edit_distance(
        [real.sequences[i] for i in real_index], records.sequences, real_index if train is None else None
    )
    return d_synth, d_real


def copy_shares(
    real: SequenceSet, synthetic: SequenceSet, train: SequenceSet | None = None
) -> tuple[float, float]:
    """Share of synthetic and of held-out real sequences identical to a training sequence (on the full
    sets). Without ``train``: synthetic sequences found among the real ones, and real sequences that
    occur more than once."""
    if train is not None:
        known = set(train.sequences)
        return _share(s in known for s in synthetic.sequences), _share(s in known for s in real.sequences)
    counts = Counter(real.sequences)
    return _share(s in counts for s in synthetic.sequences), _share(counts[s] > 1 for s in real.sequences)


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values) if values else float("nan")


# ---------------------------------------------------------------------------------------- one pair
@dataclass
class SequencePlan:
    """What both comparisons share, so value and control are computed the same way."""

    seed: int
    label_sizes: dict[str, int]


def _compare(ref: Sequences, other: Sequences, plan: SequencePlan) -> dict[tuple[str, str], float]:
    """Every sequence metric for one (reference, other) pair of equal-size sets."""
    out = {("c2st_rf_auc", OVERALL): c2st_auc(ref.features, other.features, "rf", seed=plan.seed)}
    for k in range(1, SPECTRUM_K[ref.alphabet] + 1):
        out[(f"kmer_js_k{k}", OVERALL)] = js_divergence(ref.spectrum(k), other.spectrum(k))
    out[("length_ks", OVERALL)] = float(ks_2samp(ref.lengths, other.lengths).statistic)
    out[("length_w1", OVERALL)] = w1_in_sd(ref.lengths.astype(float), other.lengths.astype(float))
    if ref.alphabet in NUCLEIC:
        out[("gc_w1", OVERALL)] = w1_in_sd(ref.gc, other.gc)
    else:
        per_letter = [w1_in_sd(a, b) for a, b in zip(ref.composition.T, other.composition.T, strict=True)]
        out[("aa_composition_w1", OVERALL)] = float(np.nanmean(per_letter))
        for name in PROTPARAM:
            out[(f"{name}_w1", OVERALL)] = w1_in_sd(ref.protparam[name], other.protparam[name])
    out[("uniqueness", OVERALL)] = uniqueness(other.sequences)
    if ref.labels is not None and other.labels is not None:
        out.update(
            per_label_c2st(
                ref.features, ref.labels, other.features, other.labels, plan.label_sizes, plan.seed
            )
        )
    return out


def _privacy_rows(
    real: SequenceSet, synthetic: SequenceSet, train: SequenceSet | None, seed: int
) -> list[PrivacyRow]:
    against = "real" if train is None else "training"
    copies, real_copies = copy_shares(real, synthetic, train)
    d_synth, d_real = novelty_distances(real, synthetic, train, seed)
    novelty, real_novelty = float(np.median(d_synth)), float(np.median(d_real))
    notes = {
        "copy_rate": (
            f"{copies:.1%} of the synthetic sequences are exact copies of {against} sequences "
            f"(held-out real: {real_copies:.1%})"
        ),
        "novelty": (
            f"median normalised edit distance to the nearest {against} sequence: synthetic {novelty:.3g}, "
            f"held-out real {real_novelty:.3g} ({len(d_synth)} and {len(d_real)} searched)"
        ),
    }
    values = {"copy_rate": (copies, real_copies), "novelty": (novelty, real_novelty)}
    return [
        PrivacyRow(metric, value, control, notes[metric], _poor(metric, value, control))
        for metric, (value, control) in values.items()
    ]


def _poor(metric: str, value: float, control: float) -> bool:
    return verdict(metric, value, control, metrics=SEQUENCE_METRICS) == "poor"


# ---------------------------------------------------------------------------------------- metric set
class SequenceMetrics:
    """The engine's metric set for sequences (:class:`~biogan.data.sequences.SequenceSet`, one alphabet).

    Options of :func:`biogan.evaluate` for sequences: ``max_sequences`` (each set is subsampled to at
    most this many sequences). A ``SequenceSet`` carries its labels, so ``labels_key`` is not used:
    per-label C2ST rows (labels with at least 15 sequences) appear when every compared set has labels.
    Metrics that do not apply to the alphabet (GC content for proteins, ProtParam for DNA, k > 3
    spectra for proteins) are left out.

    The privacy rows ``copy_rate`` and ``novelty`` use the full sets: exact copies are counted on all
    sequences, the edit distances on a seeded sample (:func:`novelty_queries`) of synthetic and of
    held-out real sequences. Without ``train`` they are measured against the real sequences the way
    :func:`biogan.metrics.engine.dcr_privacy` does: synthetic sequences against every real one, real
    ones against the other real ones (copies: real sequences occurring more than once).
    """

    name = "sequences"
    noun = "sequence"
    metrics = SEQUENCE_METRICS
    defaults: Mapping[str, Any] = {"max_sequences": 2000}
    size_option = "max_sequences"
    min_size = MIN_SAMPLES

    def prepare(
        self, data: SequenceSet, what: str, labels_key: str | None = None, like: Sequences | None = None
    ) -> Sequences:
        """:func:`sequences_from` (``labels_key`` is not used: the set carries its labels)."""
        return sequences_from(data, what, like)

    def plan(
        self,
        ref: Sequences,
        others: Sequence[Sequences],
        label_sizes: dict[str, int],
        seed: int,
        options: Mapping[str, Any],
    ) -> SequencePlan:
        return SequencePlan(seed, label_sizes)

    def compare(self, ref: Sequences, other: Sequences, plan: SequencePlan) -> dict[tuple[str, str], float]:
        return _compare(ref, other, plan)

    def privacy(
        self, real: Sequences, synthetic: Sequences, train: Sequences | None, seed: int
    ) -> list[PrivacyRow]:
        """``copy_rate`` and ``novelty``, alerting when their verdict is poor."""
        return _privacy_rows(real.data, synthetic.data, None if train is None else train.data, seed)


SEQUENCES = register(SequenceMetrics())

__all__ = [
    "SEQUENCES",
    "SEQUENCE_METRICS",
    "SequenceMetrics",
    "SequencePlan",
    "Sequences",
    "copy_shares",
    "js_divergence",
    "nearest_edit_distance",
    "novelty_distances",
    "novelty_queries",
    "protein_properties",
    "sequences_from",
    "uniqueness",
    "w1_in_sd",
]
