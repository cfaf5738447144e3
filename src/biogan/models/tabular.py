"""TabularGAN: a conditional GAN for mixed tables and compositions (clinical covariates, phenotypes,
white-cell differentials, cell-type fractions, microbiome abundances).

How a synthetic row is made
---------------------------
1. Composition groups (:mod:`biogan.data.compositions`) become proportions (count groups add their row
   total as a column). Numeric columns are mapped through their class's empirical CDF to a standard
   normal, categorical columns to one-hot blocks (:class:`~biogan.data.tables.PerClassEncoder`); condition
   columns (covariates such as age or sex) are encoded the same way but are inputs, not outputs.
2. The generator (:class:`~biogan.nn.tables.CopulaResidualGenerator`) starts from a per-class Gaussian
   copula of the normal scores given the covariates -- fitted in closed form, so step 0 is the copula
   peer -- and adds a network's residual learnt adversarially; categorical columns come from its logits
   through a Gumbel-softmax, started at the class's category shares.
3. The critic (projection head for the class, dropout) sees the row with its covariates and is trained with
   WGAN-GP in biogan's shared loop. Classes are drawn uniformly (CTGAN's training-by-sampling).
4. A stratified share of the rows is held out from the critic: the generator is scored on it (MMD in
   normal-score space, covariates included) every ``eval_every`` steps, the best weights are kept and
   training stops after ``patience`` evaluations without improvement.
5. Decoding maps back through a smoothed inverse CDF (Harrell–Davis quantiles, point masses at the ends
   kept; values inside each column's observed range, integer columns rounded, continuous ones at their
   recorded precision), closes every composition to its total (exact
   zeros kept; count groups and parts recorded with fixed decimals rounded by largest remainder).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import special
from torch import nn

from biogan.data.compositions import (
    CompositionGroup,
    CompositionSpec,
    from_learnt_scale,
    group_from_dict,
    resolve_groups,
    to_learnt_scale,
)
from biogan.data.samplers import CLASS_WEIGHTS, validation_split
from biogan.data.sources import ArraySource
from biogan.data.tables import (
    PerClassEncoder,
    QuantileTableEncoder,
    clean_table,
    infer_column_types,
    plain_values,
)
from biogan.data.validation import (
    check_enough,
    check_memory,
    check_no_missing_labels,
    check_training_labels,
    table_sample_bytes,
)
from biogan.errors import InvalidDataError, NotFittedError, UnknownLabelError
from biogan.losses import AdversarialLoss, mmd2_rbf
from biogan.models._base import GenerativeModel
from biogan.models._shared import check_validation_share, requested_codes, requested_size
from biogan.models.registry import register_model
from biogan.nn import CopulaResidualGenerator, ProjectionCritic
from biogan.train import AdversarialTrainer, Batch, ClassConditionalProblem, TrainConfig

MAX_VALIDATION_ROWS = 1000  # the MMD's cost grows with the square of the rows scored
SHRINKAGE_CAPS = (0.5, 0.2, 0.1, 0.05)  # tried besides plain Ledoit–Wolf (copula_max_shrinkage="auto")


@dataclass
class TabularGANConfig:
    """Hyperparameters of :class:`TabularGAN` (saved with the model).

    Parameters
    ----------
    noise_dim
        Size of the generator's noise vector.
    generator_hidden, critic_hidden
        Hidden layer widths.
    critic_dropout
        Dropout in the critic (regularises it on tables of a few hundred rows).
    spectral_norm
        Spectral-normalise the critic.
    loss
        ``"wgan-gp"``, ``"minimax"`` (non-saturating) or ``"hinge"``.
    gp_weight
        Gradient-penalty weight.
    gumbel_tau
        Temperature of the categorical outputs while training.
    class_sampling
        ``"uniform"`` (every class equally often in a batch) or ``"proportional"``.
    n_quantiles
        Quantiles kept per numeric column for the normal-score transform.
    smooth_marginals
        Decode through Harrell–Davis quantiles rather than by interpolating between the observed ones
        (:class:`~biogan.data.tables.QuantileTableEncoder`): in ``benchmarks/tables.py`` the RF C2ST
        fell from 0.642 to 0.612 on breast and from 0.625 to 0.612 on diabetes (``False`` keeps the
        plain empirical marginals).
    n_monitor
        Rows in the fixed set used for the collapse signal.
    copula_start
        Start the generator at the per-class Gaussian copula (``False``: the residual network gets plain
        noise and must learn every dependence itself; kept to measure what the start is worth).
    copula_max_shrinkage
        The most the copula's class covariances may shrink towards a scaled identity: a share in
        [0, 1] capping the Ledoit–Wolf intensity (1: plain Ledoit–Wolf), or ``"auto"``: whichever cap of
        1 and ``SHRINKAGE_CAPS`` scores best on the validation rows. Ledoit–Wolf minimises the
        covariance's squared error, which on a wide table (NielsenHB: ~500 varying species, ~100 rows a
        class) means shrinking by ~0.85 and losing most co-occurrence; rows drawn from such a copula
        are easy to tell from real ones. On long tables its intensity is far below every cap.
    validation_share
        Share of the rows (stratified by class) held out from the critic to score the generator and keep
        its best weights.
    train
        Optimisation settings of the shared loop: scored every 100 steps, stopped after 10 scores without
        improvement.
    """

    noise_dim: int = 32
    generator_hidden: tuple[int, ...] = (256, 256)
    critic_hidden: tuple[int, ...] = (256, 256)
    critic_dropout: float = 0.2
    spectral_norm: bool = False
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    gumbel_tau: float = 0.2
    class_sampling: str = "uniform"
    n_quantiles: int = 1000
    smooth_marginals: bool = True
    n_monitor: int = 512
    copula_start: bool = True
    copula_max_shrinkage: float | str = "auto"
    validation_share: float = 0.2
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            batch_size=64, lr_generator=3e-4, lr_critic=1e-3, eval_every=100, patience=10
        )
    )

    def __post_init__(self) -> None:
        AdversarialLoss(self.loss)  # validates the name
        if self.class_sampling not in CLASS_WEIGHTS:
            raise ValueError(f"class_sampling must be one of {CLASS_WEIGHTS}, not {self.class_sampling!r}")
        if self.loss == "wgan-gp" and self.gp_weight <= 0:
            raise ValueError("the wgan-gp loss needs gp_weight > 0")
        check_validation_share(self.validation_share)
        cap = self.copula_max_shrinkage
        if cap != "auto" and (isinstance(cap, str) or not 0 <= cap <= 1):
            raise ValueError(f"copula_max_shrinkage must be 'auto' or a share in [0, 1], not {cap!r}")


class TableProblem(ClassConditionalProblem):
    """Generator, critic and class-balanced batches of an encoded table with its covariates."""

    def __init__(
        self,
        width: int,
        n_classes: int,
        n_conditions: int,
        categorical_blocks: list[tuple[int, int]],
        config: TabularGANConfig,
    ) -> None:
        super().__init__(AdversarialLoss(config.loss), config.gp_weight)
        self.config = config
        self.generator = CopulaResidualGenerator(
            config.noise_dim,
            n_classes,
            n_conditions,
            width,
            categorical_blocks,
            config.generator_hidden,
            config.gumbel_tau,
        )
        self.critic = ProjectionCritic(
            width + n_conditions, n_classes, config.critic_hidden, config.critic_dropout, config.spectral_norm
        )
        self.register_buffer("class_size", torch.ones(n_classes))
        self.codes = np.zeros(0, dtype=np.int64)

    def attach(self, Z: np.ndarray, C: np.ndarray, codes: np.ndarray, seed: int) -> None:
        """Use encoded rows ``Z`` with covariates ``C`` and class ``codes`` as the real data: hold out a
        validation share from the critic, fit the copula start on every row (its shrinkage chosen on the
        validation rows when ``copula_max_shrinkage="auto"``)."""
        n_classes = len(self.class_size)
        device = self.class_size.device
        generator = self.generator
        self.class_size.copy_(torch.from_numpy(np.bincount(codes, minlength=n_classes)))
        train, valid = validation_split(codes, self.config.validation_share, seed)
        tensors = {"x": torch.from_numpy(Z), "cond": torch.from_numpy(C), "label": torch.from_numpy(codes)}
        self.source = ArraySource(**{k: v[train].to(device) for k, v in tensors.items()})
        self.codes = codes[train]
        gen = torch.Generator().manual_seed(seed)
        monitor = torch.randperm(len(train), generator=gen)[: min(self.config.n_monitor, len(train))]
        self.monitor_x = self.source.fetch(monitor.numpy(), device)["x"]
        valid = valid[torch.randperm(len(valid), generator=gen)[:MAX_VALIDATION_ROWS].numpy()]
        held = {k: v[valid].to(device) for k, v in tensors.items()}
        self.valid_rows = torch.cat([held["x"], held["cond"]], dim=1)
        self.valid_y, self.valid_c = held["label"], held["cond"]
        self.valid_z = torch.randn(len(valid), generator.input_dim, generator=gen).to(device)
        cap = self._shrinkage_cap(Z[train], C[train], codes[train], seed)
        generator.fit_start(Z, C, codes, seed, self.config.copula_start, cap)
        self.shrinkage_cap = cap

    def _shrinkage_cap(self, Z: np.ndarray, C: np.ndarray, codes: np.ndarray, seed: int) -> float:
        """The configured cap on the copula's shrinkage, or under ``"auto"`` the one whose copula,
        fitted on the critic's rows, has the lowest validation MMD (ties: the heavier cap)."""
        setting = self.config.copula_max_shrinkage
        if setting != "auto":
            return float(setting)
        if not self.config.copula_start or len(self.valid_rows) < 2:
            return 1.0
        scores = {}
        with torch.random.fork_rng(devices=[]):  # training draws the same noise whatever is tried here
            for cap in (1.0, *SHRINKAGE_CAPS):
                self.generator.fit_start(Z, C, codes, seed, max_shrinkage=cap)
                scores[cap] = self.validation_score(self.generator)
        return min(scores, key=scores.get)

    def real_batch(self, rows: dict[str, torch.Tensor]) -> Batch:
        return Batch(torch.cat([rows["x"], rows["cond"]], dim=1), rows["label"], {"cond": rows["cond"]})

    def fake_batch(self, real: Batch, generator: nn.Module) -> Batch:
        c = real.extra["cond"]  # type: ignore[index]
        z = torch.randn(len(real.y), self.generator.input_dim, device=real.y.device)
        return Batch(torch.cat([generator(z, real.y, c), c], dim=1), real.y, real.extra)

    @torch.no_grad()
    def _generate(
        self, generator: nn.Module, z: torch.Tensor, y: torch.Tensor, c: torch.Tensor
    ) -> torch.Tensor:
        was_training = generator.training
        generator.eval()
        fake = generator(z, y, c)
        generator.train(was_training)
        return fake

    @torch.no_grad()
    def monitor(self, generator: nn.Module) -> dict[str, float]:
        """Diversity of generated rows relative to real ones (1 = as diverse; near 0 = collapse)."""
        if self.source is None or len(self.valid_rows) < 2:
            return {}
        fake = self._generate(generator, self.valid_z, self.valid_y, self.valid_c)
        ratio = torch.pdist(fake).mean() / torch.pdist(self.monitor_x).mean().clamp_min(1e-8)
        return {"diversity_ratio": float(ratio)}

    @torch.no_grad()
    def validation_score(self, generator: nn.Module) -> float | None:
        """MMD^2 between held-out rows and rows generated for their classes and covariates."""
        if self.source is None or len(self.valid_rows) < 2:
            return None
        fake = self._generate(generator, self.valid_z, self.valid_y, self.valid_c)
        return float(mmd2_rbf(torch.cat([fake, self.valid_c], dim=1), self.valid_rows))


@register_model
class TabularGAN(GenerativeModel):
    """Conditional GAN for tables with numeric, integer, categorical and composition columns.

    Parameters
    ----------
    config
        Hyperparameters; keyword ``overrides`` replace single fields (``batch_size=128`` etc. go to
        ``config.train``).
    seed
        Seeds weight initialisation and training; same data and seed -> same model and samples on CPU.
    device
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda"``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> table = load_breast_cancer(as_frame=True).frame
    >>> model = TabularGAN(seed=0).fit(table, labels_key="target")
    >>> synth = model.sample(labels={0: 100, 1: 100})

    A white-cell differential conditioned on age and sex, one composition per given donor:

    >>> model = TabularGAN().fit(wbc, composition=["neut", "lymph", "mono", "eos", "baso"],
    ...                          conditions=["age", "sex"])  # doctest: +SKIP
    >>> synth = model.sample(conditions=new_donors[["age", "sex"]])  # doctest: +SKIP
    """

    name = "table"
    data_kind = "table"
    config_class = TabularGANConfig
    problem_class = TableProblem
    trainer_class = AdversarialTrainer

    def __init__(
        self, config: TabularGANConfig | None = None, seed: int = 0, device: str = "auto", **overrides: Any
    ) -> None:
        super().__init__(config, seed, device, **overrides)
        self.labels_key: Hashable | None = None
        self.categories: list[Any] = []
        self.columns: list[Hashable] = []
        self.dtypes: dict[str, str] = {}
        self.encoder: PerClassEncoder | None = None
        self.groups: list[CompositionGroup] = []
        self.conditions: list[Hashable] = []
        self.condition_encoder: QuantileTableEncoder | None = None

    # ------------------------------------------------------------------ training
    def fit(
        self,
        data: pd.DataFrame,
        labels_key: Hashable | None = None,
        categorical_features: Sequence[Hashable] = (),
        max_steps: int = 3000,
        max_seconds: float | None = None,
        resume: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        progress: bool = True,
        composition: CompositionSpec = None,
        conditions: Sequence[Hashable] = (),
        renormalise: bool = False,
    ) -> TabularGAN:
        """Learn the table's columns and train for at most ``max_steps`` generator steps.

        Parameters
        ----------
        data
            One row per sample; no missing values (impute them first).
        labels_key
            Column to condition on (``None``: unconditional). Its values are the labels of
            :meth:`sample`.
        categorical_features
            Columns to treat as categorical beyond those inferred (text, ``category`` and ``bool``).
        max_steps, max_seconds
            Training length in generator steps (early stopping may end sooner), and an optional
            wall-clock budget.
        resume, checkpoint_dir
            Continue from ``checkpoint_dir/checkpoint.pt``; write checkpoints there.
        progress
            Show a progress bar with the losses.
        composition
            Columns that are parts of a whole: one list, several lists, ``{name: columns}`` or
            ``"all-numeric"``; ``None`` detects one group (every numeric feature column, when their rows
            sum to one constant); ``()`` for none. Proportions, percentages or whole-number counts
            (:func:`biogan.data.compositions.resolve_groups`).
        conditions
            Covariate columns (numeric or categorical) the rows are generated for: inputs of the
            generator, given to :meth:`sample` as a table.
        renormalise
            Close composition rows that do not sum to their group's total instead of refusing them.
        """
        Z, C, codes = self._learn_table(
            data, labels_key, categorical_features, composition, conditions, renormalise
        )
        if self.problem is None:
            with torch.random.fork_rng(devices=[]):  # weight init follows the seed, not global state
                torch.manual_seed(self.seed)
                self.problem = self._empty_problem().to(self.device)
            self.problem.attach(Z, C, codes, self.seed)
        self._train(max_steps, max_seconds, resume, checkpoint_dir, progress)
        return self

    def _learn_table(
        self,
        data: pd.DataFrame,
        labels_key: Hashable | None,
        categorical: Sequence[Hashable],
        composition: CompositionSpec,
        conditions: Sequence[Hashable],
        renormalise: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Column roles, encoders and class codes from ``data`` (checked); encoded rows and covariates."""
        if not isinstance(data, pd.DataFrame):
            raise InvalidDataError(f"TabularGAN expects a pandas DataFrame, not {type(data).__name__}")
        conditions = list(conditions)
        for what, names in (
            ("label column", [] if labels_key is None else [labels_key]),
            ("conditions", conditions),
        ):
            unknown = [c for c in names if c not in data.columns]
            if unknown:
                raise UnknownLabelError(f"{what} {unknown} not in the table: {list(data.columns)[:10]}")
        if labels_key in conditions:
            raise InvalidDataError(f"{labels_key!r} is the label column; it cannot also be a condition")
        check_enough(len(data), "the training table", "row")
        if labels_key is not None:
            check_training_labels(data[labels_key], labels_key, "row")
        roles = [labels_key, *conditions]
        unknown = [c for c in categorical if c not in data.columns]
        if unknown:
            raise InvalidDataError(f"declared categorical columns {unknown} are not in the table")
        # One cleaning pass (infinite values, text among numbers: refused with their fix) before the groups
        # are checked; features and conditions are its columns.
        inputs = data.drop(columns=[labels_key]) if labels_key is not None else data
        cleaned = clean_table(inputs, categorical)
        groups = resolve_groups(data, composition, exclude=roles, renormalise=renormalise)
        features = to_learnt_scale(inputs.drop(columns=conditions), groups)
        clean = to_learnt_scale(cleaned.drop(columns=conditions), groups)
        cond_clean = cleaned[conditions] if conditions else None
        codes = self._codes(label_values(data, labels_key), fitting=True)
        if self.problem is not None and self.encoder is not None:  # continuing: the table must not change
            if [c.name for c in self.encoder.codecs] != list(clean.columns) or conditions != self.conditions:
                raise InvalidDataError("fit was called before with other columns; build a new TabularGAN")
        else:
            kinds = infer_column_types(features, clean, categorical)
            n_classes = len(self.categories)
            self.encoder = PerClassEncoder(
                clean, kinds, codes, n_classes, self.config.n_quantiles, smooth=self.config.smooth_marginals
            )
            self.condition_encoder = None
            if cond_clean is not None:
                cond_kinds = infer_column_types(data[conditions], cond_clean, categorical)
                self.condition_encoder = QuantileTableEncoder(
                    cond_clean, cond_kinds, self.config.n_quantiles, self.config.smooth_marginals
                )
        self.labels_key, self.columns, self.groups, self.conditions = (
            labels_key,
            list(data.columns),
            groups,
            conditions,
        )
        self.dtypes = {str(c): str(data[c].dtype) for c in data.columns}
        C = self._encode_conditions(cond_clean, len(data))
        ties = np.random.default_rng(self.seed)  # training rows spread across their CDF steps
        return self.encoder.encode(clean, codes, ties), C, codes

    def _codes(self, labels: np.ndarray, fitting: bool = False) -> np.ndarray:
        if fitting and not self.categories:
            self.categories = sorted(pd.unique(labels).tolist(), key=lambda v: (str(type(v)), v))
        lookup = {str(v): i for i, v in enumerate(self.categories)}
        unseen = sorted({str(v) for v in labels} - set(lookup))
        if unseen:
            raise UnknownLabelError(f"labels {unseen} were not in the table this model was fit on")
        return np.array([lookup[str(v)] for v in labels], dtype=np.int64)

    def _encode_conditions(self, clean: pd.DataFrame | None, n: int) -> np.ndarray:
        if self.condition_encoder is None or clean is None:
            return np.zeros((n, 0), dtype=np.float32)
        return self.condition_encoder.encode(clean)

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        n: int | None = None,
        labels: dict[Any, int] | list[Any] | None = None,
        seed: int = 0,
        conditions: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Generate rows with the training table's columns and dtypes.

        Parameters
        ----------
        n
            Number of rows, split across labels in the training proportions (ignored with ``labels`` or
            ``conditions``).
        labels
            ``{label: count}`` or one label per row (labels as in the label column).
        seed
            Seeds the sampling (same seed -> same rows on CPU).
        conditions
            One row of covariates per row to generate (the model's condition columns; the label column
            too, if it has one and ``labels`` is not given). Without it, covariates are drawn from their
            per-class Gaussian copula.

        Raises
        ------
        InvalidDataError
            The request would not fit in the memory available (estimated before any row is drawn), or the
            conditions are missing columns, hold missing values or categories the model never saw.

        Warns
        -----
        UserWarning
            Condition values outside the range seen in training (the model extrapolates; values are
            treated as the nearest seen one).
        """
        if self._sampler is None or self.encoder is None:
            raise NotFittedError("call fit() (or load a trained model) before sample()")
        given, labels = self._given_conditions(conditions, labels)
        wanted = len(given) if given is not None else requested_size(n, labels)
        width, n_columns = self.encoder.width, len(self.columns)
        check_memory(
            table_sample_bytes(wanted, n_columns, width, self.config.noise_dim + width),
            f"sampling {wanted} rows x {n_columns} columns",
            "ask for fewer rows, or sample in several runs (other seeds) and write each to its own file",
        )
        codes = self._requested_codes(n if given is None else len(given), labels, seed)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            self._sampler.eval()
            y = torch.from_numpy(codes).to(self.device)
            if given is not None:
                c = torch.from_numpy(self._encode_conditions(given, len(given))).to(self.device)
            else:
                c = self._sampler.base.draw_conditions(y)
            z = torch.randn(len(codes), self._sampler.input_dim, device=self.device)
            Z = self._sampler(z, y, c).cpu().numpy() if len(codes) else np.zeros((0, width), np.float32)
        values = self._decode(Z, codes)
        if self.condition_encoder is not None:
            values.update(
                {k: given[k].to_numpy() for k in self.conditions}
                if given is not None
                else self.condition_encoder.decode(c.cpu().numpy())
            )
        return self._to_frame(values, codes)

    def _given_conditions(
        self, conditions: pd.DataFrame | None, labels: dict[Any, int] | list[Any] | None
    ) -> tuple[pd.DataFrame | None, dict[Any, int] | list[Any] | None]:
        """The checked condition table, and the labels: from ``conditions`` when it has the label column."""
        if conditions is None:
            return None, labels
        if not self.conditions:
            raise InvalidDataError("this model was fit without conditions; sample with n= or labels= instead")
        if not isinstance(conditions, pd.DataFrame):
            raise InvalidDataError(f"conditions must be a pandas DataFrame, not {type(conditions).__name__}")
        missing = [c for c in self.conditions if c not in conditions.columns]
        if missing:
            raise InvalidDataError(
                f"the conditions table lacks columns {missing}; it needs {self.conditions} "
                "(one row per row to generate)"
            )
        if isinstance(labels, dict):
            raise InvalidDataError(
                "with conditions, give one label per row (a list) or a label column, not counts"
            )
        if labels is None and self.labels_key is not None and self.labels_key in conditions.columns:
            labels = conditions[self.labels_key].tolist()
        if labels is not None and len(labels) != len(conditions):
            raise InvalidDataError(
                f"{len(labels)} labels for {len(conditions)} condition rows; give one per row"
            )
        clean = clean_table(conditions[self.conditions].reset_index(drop=True))
        self._check_condition_values(clean)
        return clean, labels

    def _check_condition_values(self, clean: pd.DataFrame) -> None:
        missing = clean.isna().sum()
        if missing.any():
            bad = {str(k): int(v) for k, v in missing[missing > 0].items()}
            raise InvalidDataError(f"the conditions have missing values {bad}; give every row a value")
        assert self.condition_encoder is not None
        for codec in self.condition_encoder.codecs:
            if codec.categories:
                continue
            values = clean[codec.name].to_numpy(float)
            outside = int(((values < codec.low) | (values > codec.high)).sum())
            if outside:
                warnings.warn(
                    f"{outside} value(s) of condition {codec.name!r} lie outside the training range "
                    f"[{codec.low:g}, {codec.high:g}]: they are generated as if at the nearest end of it",
                    UserWarning,
                    stacklevel=3,
                )

    def _requested_codes(
        self, n: int | None, labels: dict[Any, int] | list[Any] | None, seed: int
    ) -> np.ndarray:
        names = [str(v) for v in self.categories]
        if isinstance(labels, dict):
            labels = {str(k): v for k, v in labels.items()}
        elif labels is not None:
            labels = [str(v) for v in labels]
        return requested_codes(names, self.problem.class_size.cpu().numpy(), n, labels, seed)

    def _decode(self, Z: np.ndarray, codes: np.ndarray) -> dict[Hashable, np.ndarray]:
        """Column values of encoded rows, compositions on their own scale."""
        assert self.encoder is not None
        values = self.encoder.decode(Z, codes)
        if self.groups:
            from_learnt_scale(values, self.groups, self._presence(Z, codes))
        return values

    def _presence(self, Z: np.ndarray, codes: np.ndarray) -> dict[Hashable, np.ndarray]:
        """How far each part's CDF level is above its class's share of zeros (> 0: decodes as non-zero)."""
        assert self.encoder is not None
        zero_share = np.array(
            [
                [self.encoder.of_class(k).zero_share(c) for c in self._parts()]
                for k in range(len(self.categories))
            ]
        )
        index = {c.name: b.start for c, b in zip(self.encoder.codecs, self.encoder.blocks, strict=True)}
        levels = special.ndtr(Z[:, [index[c] for c in self._parts()]].astype(np.float64))
        return dict(zip(self._parts(), (levels - zero_share[codes]).T, strict=True))

    def _parts(self) -> list[Hashable]:
        return [c for g in self.groups for c in g.columns]

    def _to_frame(self, values: dict[Hashable, np.ndarray], codes: np.ndarray) -> pd.DataFrame:
        columns = {}
        for name in self.columns:
            if name == self.labels_key:
                column = pd.Series(np.asarray(self.categories, dtype=object)[codes])
            else:
                column = pd.Series(values[name])
            columns[name] = _as_dtype(column, self.dtypes[str(name)])
        return pd.DataFrame(columns, columns=self.columns)

    # ------------------------------------------------------------------ persistence
    def _describe(self) -> dict[str, Any]:
        assert self.encoder is not None
        return {
            "labels_key": self.labels_key,
            "categories": plain_values(self.categories),
            "columns": plain_values(self.columns),
            "dtypes": self.dtypes,
            "encoder": self.encoder.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "conditions": plain_values(self.conditions),
            "condition_encoder": None if self.condition_encoder is None else self.condition_encoder.to_dict(),
        }

    def _restore(self, meta: dict[str, Any]) -> None:
        self.labels_key, self.categories = meta["labels_key"], list(meta["categories"])
        self.columns, self.dtypes = list(meta["columns"]), dict(meta["dtypes"])
        self.encoder = PerClassEncoder.from_dict(meta["encoder"])
        self.groups = [group_from_dict(g) for g in meta.get("groups", [])]
        self.conditions = list(meta.get("conditions", []))
        state = meta.get("condition_encoder")
        self.condition_encoder = None if state is None else QuantileTableEncoder.from_dict(state)

    def _empty_problem(self) -> TableProblem:
        encoder = self.encoder
        assert encoder is not None
        n_conditions = 0 if self.condition_encoder is None else self.condition_encoder.width
        return TableProblem(
            encoder.width, len(self.categories), n_conditions, encoder.categorical_blocks, self.config
        )


def label_values(data: pd.DataFrame, labels_key: Hashable | None) -> np.ndarray:
    """The label of every row (one shared label when ``labels_key`` is ``None``); missing labels raise."""
    if labels_key is None:
        return np.zeros(len(data), dtype=np.int64)
    labels = data[labels_key]
    check_no_missing_labels(labels, labels_key, "row")
    return labels.to_numpy()


def _as_dtype(column: pd.Series, dtype: str) -> pd.Series:
    """Generated values in the training column's dtype (ints stay ints, categories stay categories)."""
    if dtype == "category":
        return column.astype("category")
    try:
        return column.astype(dtype)
    except (TypeError, ValueError):
        return column


__all__ = ["TableProblem", "TabularGAN", "TabularGANConfig", "label_values"]
