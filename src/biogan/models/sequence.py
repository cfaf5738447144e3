"""SequenceGAN: a conditional WGAN-GP for DNA, RNA and protein sequences, with FBGAN's feedback loop.

How a synthetic sequence is made
--------------------------------
1. Sequences are one-hot over the alphabet plus a padding symbol that ends them (variable length up to
   ``max_length``); the generator (:class:`~biogan.nn.sequences.SequenceGenerator`) maps noise and the
   class to residual 1-D convolutions and a symbol per position.
2. Its output is a straight-through argmax by default: the critic sees exact one-hot sequences, real and
   fake alike, so it cannot tell them apart by how *soft* the fake ones are (the weakness of feeding it
   the softmax, as FBGAN and Gulrajani et al. do; ``output="softmax"`` keeps that variant), and every
   sequence is a deterministic function of its noise vector (``"gumbel"`` draws each position anew).
3. The critic (:class:`~biogan.nn.sequences.SequenceCritic`: residual convolutions with a per-position,
   a position-free and a k-mer-frequency head, projection for the class) is trained with WGAN-GP in
   biogan's one training schedule.
4. A held-out tenth of the training sequences scores the EMA generator during training (MMD between
   per-sequence letter and letter-pair frequencies and length); the best-scoring weights are kept and
   training stops when the score has not improved for ``train.patience`` evaluations.
5. :meth:`SequenceGAN.fit_feedback` steers generation toward high scores of any analyser (FBGAN).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from biogan.data.samplers import validation_split
from biogan.data.sequences import ALPHABETS, SequenceSet, decode, encode
from biogan.data.sources import ArraySource
from biogan.data.validation import check_enough, check_memory, check_training_labels
from biogan.errors import InvalidDataError, NotFittedError
from biogan.losses import AdversarialLoss, mmd2_rbf
from biogan.metrics.sequences import FEATURE_K
from biogan.models._base import GenerativeModel
from biogan.models._shared import check_wgan_settings, requested_codes, requested_size, training_codes
from biogan.models.registry import register_model
from biogan.nn.sequences import OUTPUTS, SequenceCritic, SequenceGenerator, kmer_features
from biogan.train import AdversarialTrainer, Batch, ClassConditionalProblem, TrainConfig

Scorer = Callable[[list[str]], Sequence[float]]


@dataclass
class SequenceGANConfig:
    """Hyperparameters of :class:`SequenceGAN` (saved with the model).

    Parameters
    ----------
    noise_dim
        Size of the generator's noise vector.
    channels, n_blocks, kernel
        Width, number of residual blocks and kernel size of both networks' 1-D convolutions.
    output
        How the generator's symbol scores become sequences (:class:`~biogan.nn.sequences.SequenceGenerator`):
        ``"argmax"`` (straight-through: exact one-hot fakes, all randomness from the noise),
        ``"gumbel"`` (straight-through Gumbel-softmax: a fresh draw per position) or ``"softmax"``.
        On AMP peptides at equal time (200 s, 2 CPU threads) the held-out C2ST was 0.845 / 0.952 /
        0.976: per-position draws given the noise act like i.i.d. residues, and the critic tells a soft
        softmax from one-hot sequences.
    tau
        Gumbel-softmax temperature (``output="gumbel"``).
    gp_weight
        Gradient-penalty weight (WGAN-GP).
    gp_samples
        Rows of each critic batch the penalty is computed on (``None``: all). Its double backward was
        about 60 % of a critic step; on 16 of 64 rows, 1.65x as many steps fitted in 200 s on AMP
        peptides (298 vs 180, one CPU thread) at a held-out C2ST of 0.883 vs 0.900.
    minibatch_std
        Give the critic's k-mer head ProGAN's minibatch standard deviation (the spread of k-mer content
        within groups of 4 sequences). It changed the held-out C2ST by about the run-to-run noise (AMP
        at 200 s 0.842 -> 0.859; at 300 s AMP 0.809 -> 0.823, splice DNA 0.637 -> 0.623), so it is off.
    class_sampling
        ``"proportional"`` (classes as in the data) or ``"uniform"`` (balanced).
    validation_share
        Share of the training sequences held out to score the generator during training (stratified by
        label); with fewer than ``2 * MIN_SAMPLES`` held out, the score uses training sequences instead.
    n_monitor
        Generated sequences per validation score.
    train
        Optimisation settings of the shared loop: Adam (0.5, 0.9) as FBGAN, 2 critic steps per generator
        step and learning rates of 1e-3 (on 2 CPU cores, FBGAN's 10 critic steps at 1e-4 with 128-512
        channels reach in 10 minutes what these settings reach in 1; on AMP peptides 1e-3 beat 5e-4 at
        200 s: held-out C2ST 0.842 vs 0.901, ``BENCHMARKS.md``); early stopping after ``patience``
        evaluations without a better validation score.
    """

    noise_dim: int = 128
    channels: int = 32
    n_blocks: int = 3
    kernel: int = 5
    output: str = "argmax"
    tau: float = 0.75
    gp_weight: float = 10.0
    gp_samples: int | None = 16
    minibatch_std: bool = False
    class_sampling: str = "proportional"
    validation_share: float = 0.1
    n_monitor: int = 512
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=64, n_critic=2, lr_generator=1e-3, lr_critic=1e-3, eval_every=100, patience=10
        )
    )

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, not {self.output!r}")
        if self.gp_samples is not None and self.gp_samples < 1:
            raise ValueError(f"gp_samples must be at least 1 (None: the whole batch), not {self.gp_samples}")
        check_wgan_settings(self)


class SequenceProblem(ClassConditionalProblem):
    """Generator, critic and (label-stratified) batches of one-hot sequences."""

    def __init__(
        self, length: int, alphabet: str, n_classes: int, min_length: int, config: SequenceGANConfig
    ) -> None:
        super().__init__(AdversarialLoss("wgan-gp"), config.gp_weight, config.gp_samples)
        n_symbols = len(ALPHABETS[alphabet]) + 1  # the letters and the padding symbol
        self.config, self.n_symbols = config, n_symbols
        self.generator = SequenceGenerator(
            config.noise_dim,
            n_classes,
            length,
            n_symbols,
            config.channels,
            config.n_blocks,
            config.kernel,
            min_length,
            config.output,
            config.tau,
        )
        self.kmer_size = FEATURE_K[alphabet]  # the critic counts the k-mers the C2ST judges by
        self.critic = SequenceCritic(
            length,
            n_symbols,
            n_classes,
            config.channels,
            config.n_blocks,
            config.kernel,
            self.kmer_size,
            config.minibatch_std,
        )
        self.register_buffer("class_size", torch.ones(n_classes))
        self.codes = np.zeros(0, dtype=np.int64)

    def attach(
        self, tokens: np.ndarray, codes: np.ndarray, valid: np.ndarray, valid_codes: np.ndarray, seed: int
    ) -> None:
        """Use ``tokens`` (class ``codes``) for training and ``valid`` (``valid_codes``) for the score."""
        device = self.class_size.device
        self.source = ArraySource(
            tokens=torch.from_numpy(tokens).to(device), label=torch.from_numpy(codes).to(device)
        )
        self.codes = codes
        with torch.no_grad():
            self.class_size.copy_(torch.from_numpy(np.bincount(codes, minlength=len(self.class_size))))
        gen = torch.Generator().manual_seed(seed)
        pick = torch.randperm(len(valid), generator=gen)[: self.config.n_monitor].numpy()
        valid_x = self.one_hot(torch.from_numpy(valid[pick]).to(device))
        self.valid_features = kmer_features(valid_x, self.kmer_size)  # fixed: computed once
        self.valid_y = torch.from_numpy(valid_codes[pick]).to(device)

    def one_hot(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.one_hot(tokens, self.n_symbols).float()

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        return Batch(self.one_hot(rows["tokens"]), rows["label"])

    @torch.no_grad()
    def _generated(self, generator: nn.Module, y: torch.Tensor) -> torch.Tensor:
        z = torch.randn(len(y), self.config.noise_dim, device=y.device)
        return self.one_hot(generator.tokens(z, y))  # the EMA copy: a plain SequenceGenerator

    @torch.no_grad()
    def monitor(self, generator: nn.Module) -> dict[str, float]:
        """Share of distinct sequences in a generated batch (near 0 = mode collapse) and mean length."""
        if self.source is None:
            return {}
        fake = self._generated(generator, self.valid_y)
        distinct = len(torch.unique(fake.argmax(-1), dim=0)) / len(fake)
        return {"unique_share": float(distinct), "mean_length": float(fake[..., 1:].sum((1, 2)).mean())}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """MMD^2 between the k-mer features (:func:`~biogan.nn.sequences.kmer_features`, k up to
        ``kmer_size``) of generated and held-out sequences."""
        if self.source is None or len(self.valid_y) < 2:
            return None
        fake = self._generated(generator, self.valid_y)
        return float(mmd2_rbf(kmer_features(fake, self.kmer_size), self.valid_features))


@register_model
class SequenceGAN(GenerativeModel):
    """Conditional GAN for DNA, RNA or protein sequences of variable length (sklearn-style API).

    Parameters
    ----------
    alphabet
        ``"dna"``, ``"rna"`` or ``"protein"``; ``None`` takes the training data's.
    config
        Hyperparameters; keyword ``overrides`` replace single fields (``batch_size=128`` goes to
        ``config.train``).
    seed
        Seeds weight initialisation and training; same data and seed -> same model and samples on CPU.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> from biogan.data.datasets import bacterial_proteins
    >>> proteins = bacterial_proteins(max_length=100)
    >>> model = SequenceGAN(seed=0).fit(proteins, max_steps=500)
    >>> generated = model.sample(200)
    """

    name = "sequence"
    data_kind = "sequences"
    config_class = SequenceGANConfig
    problem_class = SequenceProblem
    trainer_class = AdversarialTrainer

    def __init__(
        self,
        alphabet: str | None = None,
        config: SequenceGANConfig | None = None,
        seed: int = 0,
        device: str = "auto",
        **overrides: Any,
    ) -> None:
        super().__init__(config, seed, device, **overrides)
        if alphabet is not None and alphabet not in ALPHABETS:
            raise InvalidDataError(f"unknown alphabet {alphabet!r}: use {', '.join(ALPHABETS)}")
        self.alphabet = alphabet
        self.max_length = 0
        self.min_length = 1
        self.categories: list[str] = []
        self.label_regex: str | None = None
        self.feedback_history = pd.DataFrame()

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: SequenceSet,
        max_length: int | None = None,
        max_steps: int = 5000,
        max_seconds: float | None = None,
        resume: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
    ) -> SequenceGAN:
        """Learn the sequences of ``data`` for up to ``max_steps`` generator steps (early stopping on the
        held-out score ends sooner).

        Parameters
        ----------
        data
            Training sequences (:func:`biogan.data.sequences.read_fasta`); their labels, if any, are the
            classes of :meth:`sample`.
        max_length
            Longest sequence the model makes (default: the longest training sequence).
        max_steps, max_seconds
            Training length in generator steps, and an optional wall-clock budget.
        resume, checkpoint_dir
            Continue from ``checkpoint_dir/checkpoint.pt``; write checkpoints there.
        progress
            Show a progress bar with the losses.
        """
        tokens, codes = self._learn(data, max_length)
        if self.problem is None:
            with torch.random.fork_rng(devices=[]):  # weight init follows the seed, not global state
                torch.manual_seed(self.seed)
                self.problem = self._empty_problem().to(self.device)
            train, valid = validation_split(codes, self.config.validation_share, self.seed)
            self.problem.attach(tokens[train], codes[train], tokens[valid], codes[valid], self.seed)
        self._train(max_steps, max_seconds, resume, checkpoint_dir, progress)
        return self

    def _learn(self, data: SequenceSet, max_length: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Alphabet, length and classes from ``data`` (checked); its tokens and class codes."""
        if not isinstance(data, SequenceSet):
            raise InvalidDataError(
                "SequenceGAN expects a SequenceSet (biogan.data.sequences.read_fasta), "
                f"not {type(data).__name__}"
            )
        check_enough(len(data), "the training sequences", "sequence")
        if self.alphabet is not None and data.alphabet != self.alphabet:
            raise InvalidDataError(
                f"the model is for {self.alphabet} sequences but the data are {data.alphabet}; "
                f"read them with alphabet={self.alphabet!r} or build SequenceGAN(alphabet={data.alphabet!r})"
            )
        longest = int(data.lengths.max())
        if self.problem is not None:  # continuing: the model's shape is fixed
            max_length = self.max_length
        length = longest if max_length is None else int(max_length)
        if longest > length:
            raise InvalidDataError(
                f"the longest training sequence has {longest} letters, more than max_length {length}; "
                "raise max_length or cut the sequences (read_fasta(..., truncate=True))"
            )
        labels = data.labels if data.labels is not None else np.zeros(len(data), dtype=str)
        if data.labels is not None:
            check_training_labels(pd.Series(labels), "label", "sequence")
        if self.problem is None:
            self.alphabet, self.max_length = data.alphabet, length
            self.min_length = int(data.lengths.min())
            self.categories = sorted(set(labels.tolist())) if data.labels is not None else [""]
        codes = training_codes(self.categories, labels, "sequences")
        return encode(data.sequences, data.alphabet, length), codes

    def fit_feedback(
        self,
        scorer: Scorer | Any,
        rounds: int = 10,
        n_per_round: int | None = None,
        steps_per_round: int = 100,
        top_share: float = 0.25,
        seed: int = 0,
        progress: bool = False,
    ) -> pd.DataFrame:
        """Steer generation toward high ``scorer`` values (FBGAN's feedback loop).

        Each round draws ``n_per_round`` sequences, scores them, puts the best ``top_share`` of those
        that also beat the median score of the current training sequences in place of the *oldest*
        training sequences (of the same class), and trains ``steps_per_round`` more steps. The data move
        away from the held-out sequences on purpose, so the validation score stops judging quality:
        feedback rounds neither evaluate nor stop early, and sample from the current EMA weights, whose
        horizon is cut to a tenth of a round so that they follow the data.

        Parameters
        ----------
        scorer
            A callable from a list of sequences to one score per sequence (higher = better), or a fitted
            scikit-learn classifier on k-mer features (``predict_proba``; see :class:`KmerScorer`).
        rounds, n_per_round, steps_per_round
            Feedback rounds, sequences scored per round (default: ``16 * batch_size``; with the default
            ``top_share`` a quarter of them may enter the data, enough to move the pool faster than the
            GAN's round-to-round swing), training per round.
        top_share
            Share of each round's scored sequences that may enter the training data.
        seed
            Seeds the sequences drawn in each round.
        progress
            Show the training progress bar of each round.

        Returns
        -------
        pandas.DataFrame
            One row per round: ``round``, ``mean_score`` (of that round's generated sequences, before
            training on them), ``training_mean_score``, ``replaced`` and ``step``, and a last row with
            the score after the final round; also kept as :attr:`feedback_history`.
        """
        if self.trainer is None or self.problem is None or self.problem.source is None:
            raise NotFittedError("call fit() on the starting sequences before fit_feedback()")
        if not 0 < top_share <= 1 or rounds < 1 or steps_per_round < 1:
            raise InvalidDataError("fit_feedback needs rounds >= 1, steps_per_round >= 1, 0 < top_share <= 1")
        score = as_scorer(scorer, self.alphabet)
        n = n_per_round or 16 * self.config.train.batch_size
        pool = FeedbackPool(self.problem.source.fields["tokens"], self.problem.codes, self.alphabet)
        # Round 1 samples the model the user has (the best validated weights), so training continues
        # from those, not from the last (often noisier) step.
        self.trainer.restart_from_best()
        self.trainer.best = None
        schedule = self.config.train
        kept = schedule.eval_every, schedule.ema_decay
        # The sampled EMA must follow the moving data within a round: a horizon of a tenth of a round
        # (the default 0.999 averages over 1,000 steps and would lag several rounds behind).
        schedule.eval_every = 0
        schedule.ema_decay = min(schedule.ema_decay, max(0.0, 1 - 10 / steps_per_round))
        rows = []
        try:
            for r in range(rounds):
                generated = self.sample(n, seed=seed + r)
                scores = np.asarray(score(generated.sequences), dtype=float)
                training = np.asarray(score(pool.sequences()), dtype=float)
                best = np.argsort(-scores)[: max(1, int(top_share * n))]
                chosen = [i for i in best if scores[i] > np.median(training)]
                codes = self._codes(generated)[chosen]
                pool.replace_oldest(
                    encode([generated.sequences[i] for i in chosen], self.alphabet, self.max_length), codes
                )
                rows.append(
                    {
                        "round": r + 1,
                        "mean_score": scores.mean(),
                        "training_mean_score": training.mean(),
                        "replaced": len(chosen),
                        "step": self.trainer.step,
                    }
                )
                self._train(self.trainer.step + steps_per_round, None, False, None, progress)
        finally:
            schedule.eval_every, schedule.ema_decay = kept
        final = np.asarray(score(self.sample(n, seed=seed + rounds).sequences), dtype=float)
        rows.append({"round": rounds + 1, "mean_score": final.mean(), "step": self.trainer.step})
        self.feedback_history = pd.DataFrame(rows)
        return self.feedback_history

    def _codes(self, data: SequenceSet) -> np.ndarray:
        """The class code of every sequence of ``data`` (all 0 for an unconditional model)."""
        if data.labels is None:
            return np.zeros(len(data), dtype=np.int64)
        lookup = {name: i for i, name in enumerate(self.categories)}
        return np.array([lookup[str(v)] for v in data.labels], dtype=np.int64)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        n: int | None = None,
        labels: dict[str, int] | list[str] | None = None,
        seed: int = 0,
        batch_size: int = 4096,
    ) -> SequenceSet:
        """Generate sequences.

        Parameters
        ----------
        n
            Number of sequences, split across labels in the training proportions (ignored with ``labels``).
        labels
            ``{label: count}`` or one label per sequence.
        seed
            Seeds the sampling (same seed -> same sequences on CPU).
        batch_size
            Sequences generated per forward pass.

        Returns
        -------
        SequenceSet
            IDs ``synthetic1``, ``synthetic2``, ...; labels when the model is conditional.
        """
        if self._sampler is None:
            raise NotFittedError("call fit() (or load a trained model) before sample()")
        wanted = requested_size(n, labels)
        n_symbols = len(ALPHABETS[self.alphabet]) + 1
        chunk = min(wanted, batch_size) * self.max_length * n_symbols * 4 * 3  # logits, probs, one-hot
        check_memory(
            wanted * self.max_length * 9 + chunk,  # int64 tokens and one byte per letter of the output
            f"sampling {wanted} sequences of up to {self.max_length} letters",
            "ask for fewer sequences, or sample in several runs (other seeds)",
        )
        if isinstance(labels, dict):
            labels = {str(k): v for k, v in labels.items()}
        elif labels is not None:
            labels = [str(v) for v in labels]
        codes = requested_codes(self.categories, self.problem.class_size.cpu().numpy(), n, labels, seed)
        generator = self._sampler
        chunks = []
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            generator.eval()
            for start in range(0, len(codes), batch_size):
                y = torch.from_numpy(codes[start : start + batch_size]).to(self.device)
                z = torch.randn(len(y), self.config.noise_dim, device=self.device)
                chunks.append(generator.tokens(z, y).cpu().numpy())
        tokens = np.concatenate(chunks) if chunks else np.zeros((0, self.max_length), dtype=np.int64)
        conditional = self.categories != [""]
        return SequenceSet(
            decode(tokens, self.alphabet),
            self.alphabet,
            [f"synthetic{i + 1}" for i in range(len(codes))],
            np.asarray(self.categories, dtype=object)[codes].astype(str) if conditional else None,
        )

    # ------------------------------------------------------------------ persistence
    def _describe(self) -> dict[str, Any]:
        return {
            "alphabet": self.alphabet,
            "max_length": self.max_length,
            "min_length": self.min_length,
            "categories": self.categories,
            "label_regex": self.label_regex,
        }

    def _restore(self, meta: dict[str, Any]) -> None:
        self.alphabet, self.max_length = meta["alphabet"], int(meta["max_length"])
        self.min_length, self.categories = int(meta["min_length"]), list(meta["categories"])
        self.label_regex = meta.get("label_regex")

    def _empty_problem(self) -> SequenceProblem:
        assert self.alphabet is not None
        return SequenceProblem(
            self.max_length, self.alphabet, len(self.categories), self.min_length, self.config
        )


class FeedbackPool:
    """The training tokens as FBGAN's first-in-first-out pool: new rows overwrite the oldest of their class.

    Writes go into ``tokens`` in place, so the trainer's data source sees them at once (the sampler's
    rows and classes stay as they are).
    """

    def __init__(self, tokens: torch.Tensor, codes: np.ndarray, alphabet: str) -> None:
        self.tokens, self.codes, self.alphabet = tokens, codes, alphabet
        self.age = np.arange(len(codes))  # higher = entered later

    def sequences(self) -> list[str]:
        return decode(self.tokens.cpu().numpy(), self.alphabet)

    def replace_oldest(self, new_tokens: np.ndarray, new_codes: np.ndarray) -> None:
        for row, code in zip(new_tokens, new_codes, strict=True):
            members = np.flatnonzero(self.codes == code)
            oldest = members[np.argmin(self.age[members])]
            self.tokens[oldest] = torch.from_numpy(row).to(self.tokens.device)
            self.age[oldest] = self.age.max() + 1


class KmerScorer:
    """A fitted scikit-learn classifier on k-mer shares as a feedback scorer (probability of its last class).

    Parameters
    ----------
    classifier
        Has ``predict_proba``; trained on :func:`biogan.metrics.sequences.classifier_features` (k-mer
        shares and log length, the C2ST's features) of sequences of ``alphabet``.
    alphabet
        The sequences' alphabet.
    """

    def __init__(self, classifier: Any, alphabet: str) -> None:
        self.classifier, self.alphabet = classifier, alphabet

    def __call__(self, sequences: list[str]) -> np.ndarray:
        from biogan.metrics.sequences import classifier_features

        return self.classifier.predict_proba(classifier_features(sequences, self.alphabet))[:, -1]


def as_scorer(scorer: Scorer | Any, alphabet: str) -> Scorer:
    """``scorer`` itself if callable; a fitted classifier wrapped in :class:`KmerScorer`."""
    if hasattr(scorer, "predict_proba"):
        return KmerScorer(scorer, alphabet)
    if not callable(scorer):
        raise InvalidDataError("scorer must be a callable (sequences -> scores) or a fitted classifier")
    return scorer


__all__ = [
    "KmerScorer",
    "SequenceGAN",
    "SequenceGANConfig",
    "SequenceProblem",
]
