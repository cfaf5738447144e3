"""Statistical peers of :class:`~biogan.models.sequence.SequenceGAN`: what a GAN must beat.

* :class:`MarkovChain` -- an order-k Markov chain over letters with a start state, add-``alpha``
  smoothing, one chain per label; each sequence's length is drawn from its label's training lengths
  (a chain's own end state cannot keep fixed-length data such as 60-nt splice windows at 60);
  ``order=None`` picks k by the log-likelihood of a held-out part of the training sequences.
* :class:`IIDResidues` -- letters drawn independently from the training composition, lengths drawn from
  the training lengths (the order-0 floor).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biogan.data.sequences import ALPHABETS, SequenceSet
from biogan.errors import InvalidDataError, NotFittedError
from biogan.models._shared import requested_codes

_BEGIN = "^"


@dataclass
class _Chain:
    """Counts of the next letter after each context of ``order`` symbols (``^`` pads the start)."""

    order: int
    symbols: str
    alpha: float
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    _probabilities: dict[str, np.ndarray] = field(default_factory=dict)  # smoothed rows, made once

    def fit(self, sequences: list[str]) -> _Chain:
        index = {ch: i for i, ch in enumerate(self.symbols)}
        for seq in sequences:
            padded = _BEGIN * self.order + seq
            for t in range(self.order, len(padded)):
                context = padded[t - self.order : t]
                row = self.counts.setdefault(context, np.zeros(len(self.symbols)))
                row[index[padded[t]]] += 1
        return self

    def probabilities(self, context: str) -> np.ndarray:
        if context not in self._probabilities:
            smoothed = self.counts.get(context, np.zeros(len(self.symbols))) + self.alpha
            self._probabilities[context] = smoothed / smoothed.sum()
        return self._probabilities[context]

    def log_likelihood(self, sequences: list[str]) -> float:
        """Mean log-likelihood per letter."""
        index = {ch: i for i, ch in enumerate(self.symbols)}
        total, count = 0.0, 0
        for seq in sequences:
            padded = _BEGIN * self.order + seq
            for t in range(self.order, len(padded)):
                total += float(np.log(self.probabilities(padded[t - self.order : t])[index[padded[t]]]))
                count += 1
        return total / max(count, 1)

    def sample(self, rng: np.random.Generator, length: int) -> str:
        context, out = _BEGIN * self.order, []
        for _ in range(length):
            symbol = self.symbols[rng.choice(len(self.symbols), p=self.probabilities(context))]
            out.append(symbol)
            context = (context + symbol)[-self.order :] if self.order else ""
        return "".join(out)


class MarkovChain:
    """Order-k Markov chain sequence model (one chain per label), the classic peer of a sequence GAN.

    Parameters
    ----------
    order
        Context length k; ``None`` picks the best of ``orders`` on held-out log-likelihood.
    orders
        Candidate orders when ``order`` is ``None``.
    alpha
        Add-alpha smoothing of the next-symbol counts.
    validation_share
        Share of the training sequences held out to pick the order.
    seed
        Seeds the held-out part and the sampling default.
    """

    def __init__(
        self,
        order: int | None = None,
        orders: tuple[int, ...] = (0, 1, 2, 3, 4, 5),
        alpha: float = 0.1,
        validation_share: float = 0.2,
        seed: int = 0,
    ) -> None:
        self.order, self.orders, self.alpha = order, orders, alpha
        self.validation_share, self.seed = validation_share, seed
        self.chains: dict[str, _Chain] = {}
        self.scores: dict[int, float] = {}

    def fit(self, data: SequenceSet) -> MarkovChain:
        """Count contexts in ``data`` (after picking the order on a held-out part when asked)."""
        if len(data) < 2:
            raise InvalidDataError("a Markov chain needs at least two training sequences")
        self.alphabet = data.alphabet
        self.symbols = ALPHABETS[data.alphabet]
        labels = data.labels if data.labels is not None else np.full(len(data), "")
        self.categories = sorted(set(labels.tolist()))
        self.sizes = np.array([(labels == c).sum() for c in self.categories])
        self.lengths = {c: data.lengths[labels == c] for c in self.categories}
        if self.order is None:
            self.order = self._pick_order(data.sequences)
        self.chains = {
            c: _Chain(self.order, self.symbols, self.alpha).fit(
                [s for s, lab in zip(data.sequences, labels, strict=True) if lab == c]
            )
            for c in self.categories
        }
        self.conditional = data.labels is not None
        return self

    def _pick_order(self, sequences: list[str]) -> int:
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(sequences))
        cut = max(1, int(self.validation_share * len(sequences)))
        held = [sequences[i] for i in order[:cut]]
        rest = [sequences[i] for i in order[cut:]]
        self.scores = {
            k: _Chain(k, self.symbols, self.alpha).fit(rest).log_likelihood(held) for k in self.orders
        }
        return max(self.scores, key=lambda k: self.scores[k])

    def sample(
        self, n: int | None = None, labels: dict[str, int] | list[str] | None = None, seed: int = 0
    ) -> SequenceSet:
        """``n`` sequences in the training label proportions, or ``{label: count}``."""
        if not self.chains:
            raise NotFittedError("call fit() before sample()")
        codes = requested_codes(self.categories, self.sizes, n, labels, seed)
        rng = np.random.default_rng(seed)
        names = [self.categories[c] for c in codes]
        sequences = [self.chains[name].sample(rng, int(rng.choice(self.lengths[name]))) for name in names]
        return SequenceSet(sequences, self.alphabet, labels=np.array(names) if self.conditional else None)


class IIDResidues:
    """Letters drawn independently from the training composition; lengths drawn from training lengths."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.composition: np.ndarray | None = None

    def fit(self, data: SequenceSet) -> IIDResidues:
        """Letter frequencies and lengths of ``data``."""
        letters = ALPHABETS[data.alphabet]
        counts = np.array([sum(s.count(ch) for s in data.sequences) for ch in letters], dtype=float)
        self.alphabet, self.lengths = data.alphabet, data.lengths
        self.composition = counts / counts.sum()
        return self

    def sample(self, n: int, seed: int = 0) -> SequenceSet:
        """``n`` sequences."""
        if self.composition is None:
            raise NotFittedError("call fit() before sample()")
        rng = np.random.default_rng(seed)
        letters = np.array(list(ALPHABETS[self.alphabet]))
        lengths = rng.choice(self.lengths, n)
        return SequenceSet(
            ["".join(rng.choice(letters, k, p=self.composition)) for k in lengths], self.alphabet
        )


__all__ = ["IIDResidues", "MarkovChain"]
