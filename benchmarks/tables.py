"""TabularGAN next to the peers a statistician or a CTGAN user would pick, on tables and compositions.

Data sets (each read from ``--data-dir`` / ``$BIOGAN_DATA_DIR``, default ``../shared/data``; a missing
file skips its set with a message, nothing is downloaded):

=========== ======================================================= ========== =============================
set         columns                                                 label      composition / conditions
=========== ======================================================= ========== =============================
breast      scikit-learn breast cancer, 30 numeric                  target     -
wine        scikit-learn wine, 13 numeric                           target     -
diabetes    scikit-learn diabetes (unscaled), 10 numeric + target   -          - (split stratified by target
                                                                               tertiles)
nhanes      NHANES 2011-18 5-part white-cell differential (%),      -          the 5 parts / age_years, sex
            age_years, sex
immunomes   10,000 Immunomes CyTOF, 13 PBMC lineages (%), age,      -          the 13 parts / age
            gender (a generated column, see ``IMMUNOMES_NOTE``)
nielsenhb   NielsenHB 2014 stool, 719 species (relative abundance)  study_     "all-numeric" / -
                                                                    condition
crohn       selbal Crohn, 48 genus counts                           y          the 48 counts / -
=========== ======================================================= ========== =============================

Per set and seed: a 50/50 split stratified by the label (nielsenhb: grouped by subject as well, so the
two samples of one patient never straddle the split; no-label sets: by sex / gender / target tertile);
sets with more than 10,000 train rows are subsampled to 10,000 train and 10,000 held-out rows. Every
method learns the train half and makes as many rows as the held-out half has: the held-out class counts
for labelled sets, or, for conditioned sets, condition values resampled from the TRAIN half.

Methods (see each function's docstring for details):

- ``control``: the train half itself, judged against the held-out half (the floor of every metric).
- ``independent marginals``: per class, every column resampled on its own (composition parts closed).
- ``Gaussian copula``: per class, rank normal scores, Ledoit-Wolf correlation, conditional on the
  continuous conditions; parts closed (count groups: row total modelled as a column, parts rounded by
  largest remainder to it).
- ``Dirichlet-multinomial``: compositions only, per class (and categorical condition).
- ``CTGAN``, ``TVAE``: the ``ctgan`` package (``pip install -e ".[bench]"``) with its defaults.
- ``TabularGAN``: biogan's, with its defaults, called the way a user would.

Metrics: :func:`biogan.evaluate` (held-out vs synthetic, control = held-out vs train half): random-forest
and logistic C2ST AUROC, mean column KS, correlation difference, DCR ratio, ML-efficacy F1 (labelled),
and the composition metrics when the metric set takes ``composition=``; plus a random forest's AUROC on
the held-out half trained on synthetic rows (control: on the train half), the largest gap of
neutrophil-% means by age decile (nhanes), the share of negative parts (compositions), and wall time
(fit + sample) and peak RSS of each method, measured in its own process (``_common.measured``).
The Gaussian copula and TabularGAN, the two methods a bar compares, are scored on ``DRAWS`` synthetic
tables per set and seed (the copula refitted per draw, TabularGAN fitted once and sampled per draw) and
each metric averaged over them; every other method on one table.

Results are cached per (set, seed, method) in ``benchmarks/results/tables_cache/`` (JSON + the synthetic
rows as CSV) under a hash of the method's version string: TabularGAN's includes hashes of its source
files, so a change there re-runs only TabularGAN; a change of the metric code only re-scores the cached
synthetic rows.

    python benchmarks/tables.py [--datasets breast,wine,...] [--seeds 0 1 2] [--methods peers tabulargan]
                                [--dataset-seeds nielsenhb=0,1] [--data-dir DIR] [--quick] [--fresh]

Writes ``benchmarks/results/tables.md`` (``tables_quick.md`` with --quick) and the per-seed numbers beside
it (``tables.csv``). The peers' results were cached with
``python benchmarks/tables.py --methods peers --dataset-seeds nielsenhb=0,1`` (CTGAN takes ~7 min a seed on
nielsenhb's 719 columns, so that set has two seeds).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import re
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special
from sklearn.covariance import LedoitWolf
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, train_test_split
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, measured, utc_stamp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
CACHE = RESULTS / "tables_cache"
MAX_TRAIN = 10_000  # train and held-out rows kept at most (CTGAN's time grows with the rows)
QUICK_ROWS = 300  # --quick: rows per half
QUICK_EPOCHS = 5  # --quick: CTGAN / TVAE epochs
QUICK_STEPS = 100  # --quick: TabularGAN steps
SPLIT_VERSION = "split-v2"  # v2: nielsenhb rows closed
METRICS_VERSION = "metrics-v2"
CONDITION_BINS = 20  # quantile bins of a continuous condition, for the rejection sampling of CTGAN / TVAE
POOL_FACTOR = 30  # CTGAN / TVAE draw at most this many times the requested rows while rejecting
# Synthetic tables drawn per fitted method and scored, the metrics averaged over them: on a few hundred
# held-out rows one draw's RF C2ST moves by ~0.025 (the copula's 5 draws on breast split 2: 0.597-0.686),
# as much as the gaps the bars ask about. Draw d samples with seed + DRAW_STRIDE * d (d = 0: the seed).
DRAWS = 5
DRAW_STRIDE = 1000
# Only the two methods a bar compares are drawn DRAWS times: every other peer scores >= 0.78 (mostly
# >= 0.9), far from any comparison, and CTGAN / TVAE would have to be refitted (hours here).
MULTI_DRAW = ("copula", "tabulargan")
TABULARGAN_FILES = (
    "src/biogan/models/tabular.py",
    "src/biogan/data/tables.py",
    "src/biogan/data/compositions.py",
    "src/biogan/nn/generators.py",
    "src/biogan/nn/tables.py",  # where its generator now lives
)
METRIC_FILES = (
    "src/biogan/metrics/engine.py",
    "src/biogan/metrics/tables.py",
    "src/biogan/metrics/two_sample.py",
)
COMPOSITION_METRICS = ("clr_c2st_rf_auc", "shannon_ks", "bray_curtis_ks", "condition_curve_gap")
EVALUATE_METRICS = (
    "c2st_rf_auc",
    "c2st_logistic_auc",
    "column_ks",
    "column_corr_diff",
    "dcr_ratio",
    "ml_efficacy_f1",
    *COMPOSITION_METRICS,
)
COLUMNS_SHOWN = (*EVALUATE_METRICS, "ml_auroc", "neut_age_gap", "neg_parts", "seconds", "peak_rss_mib")
CONTROL = "control (train half vs held-out)"
METHODS = {  # id -> (shown name, version of its code here)
    "marginals": ("independent marginals", "v1"),
    "copula": ("Gaussian copula", "v2"),  # v2: whole-number columns rounded
    "dirichlet": ("Dirichlet-multinomial", "v1"),
    "ctgan": ("CTGAN", "v1"),
    "tvae": ("TVAE", "v1"),
    "tabulargan": ("TabularGAN", "v1"),
}
PEERS = ("marginals", "copula", "dirichlet", "ctgan", "tvae")
IMMUNOMES_NOTE = (
    "gender is a generated column, not the label: its link to these 13 lineages is weak (a classifier on "
    "271 held-out donors would score near chance, so ML efficacy would be noise), per-class peers would "
    "split 271 train rows in two, and a categorical column that is neither label nor condition is a case "
    "no other set covers (nhanes conditions on sex, the labelled sets have only the label as category)"
)
DIRICHLET_NOTE = (
    "Dirichlet: maximum-likelihood fit (Minka's fixed point) on row proportions, a zero replaced by half "
    "the smallest non-zero proportion of the class (the pseudo-count) and the row re-closed; drawn "
    "proportions below the pseudo-count read as zeros again, rows re-closed and scaled to the class's "
    "median row total. Count groups (crohn): Dirichlet-multinomial fitted by maximum likelihood on the "
    "counts themselves (no pseudo-count needed), row totals resampled from the class's train rows"
)


# ---------------------------------------------------------------------------------------- data sets
@dataclass(frozen=True)
class Layout:
    """What each column is: the label, the composition parts, the conditions, the categorical columns."""

    label: str | None
    parts: tuple[str, ...]  # resolved composition columns (empty: no composition)
    composition: tuple[str, ...] | str | None  # as given to TabularGAN / the metrics
    conditions: tuple[str, ...]
    categorical: tuple[str, ...]  # text columns other than the label
    counts: bool  # the parts are whole-number counts (row totals vary)
    columns: tuple[str, ...]

    @property
    def request(self) -> list[str]:
        """Columns fixed by the request (label, conditions), not generated."""
        return ([self.label] if self.label else []) + list(self.conditions)

    @property
    def group_keys(self) -> list[str]:
        """Per-class peers fit one model per value of these (label, categorical conditions)."""
        return ([self.label] if self.label else []) + [c for c in self.conditions if c in self.categorical]

    @property
    def continuous_conditions(self) -> list[str]:
        return [c for c in self.conditions if c not in self.categorical]

    @property
    def free(self) -> list[str]:
        """Generated columns."""
        fixed = set(self.request)
        return [c for c in self.columns if c not in fixed]


@dataclass
class DataSet:
    name: str
    table: pd.DataFrame
    layout: Layout
    strata: np.ndarray
    subjects: np.ndarray | None
    note: str


def _layout(
    table: pd.DataFrame,
    label: str | None,
    composition: list[str] | str | None,
    conditions: tuple[str, ...] = (),
) -> Layout:
    categorical = tuple(
        c for c in table.columns if c != label and not pd.api.types.is_numeric_dtype(table[c])
    )
    if composition == "all-numeric":
        parts = tuple(c for c in table.columns if c != label and c not in categorical and c not in conditions)
    else:
        parts = tuple(composition or ())
    values = table[list(parts)].to_numpy(float) if parts else np.zeros((1, 0))
    counts = bool(parts) and bool(np.all(values == np.round(values))) and np.ptp(values.sum(1)) > 0
    given = composition if composition is None or isinstance(composition, str) else tuple(composition)
    return Layout(label, parts, given, tuple(conditions), categorical, counts, tuple(table.columns))


def _sklearn(name: str) -> DataSet:
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine

    if name == "diabetes":
        table = load_diabetes(scaled=False, as_frame=True).frame
        strata = pd.qcut(table["target"], 3, labels=False).to_numpy()
        return DataSet(
            name, table, _layout(table, None, None), strata, None, "no label; split by target tertile"
        )
    table = {"breast": load_breast_cancer, "wine": load_wine}[name](as_frame=True).frame
    return DataSet(name, table, _layout(table, "target", None), table["target"].to_numpy(), None, "")


COMPOSITION_FILES = {
    "nhanes": "nhanes_wbc_differential_2011_2018.csv",
    "immunomes": "tenk_immunomes_cytof_pbmc_lineages.csv",
    "nielsenhb": "nielsenhb2014_ibd_species_relabund.csv",
    "crohn": "selbal_crohn_genus_counts.csv",
}
NHANES_PARTS = ["neutrophils_pct", "lymphocytes_pct", "monocytes_pct", "eosinophils_pct", "basophils_pct"]
NIELSEN_META = [
    "subject_id",
    "study_condition",
    "disease_subtype",
    "age",
    "age_category",
    "BMI",
    "country",
    "number_reads",
    "NCBI_accession",
]


def _composition(name: str, path: Path) -> DataSet:
    raw = pd.read_csv(path)
    if name == "nhanes":
        table = raw[[*NHANES_PARTS, "age_years", "sex"]].copy()
        layout = _layout(table, None, NHANES_PARTS, ("age_years", "sex"))
        return DataSet(name, table, layout, table["sex"].to_numpy(), None, "no label; split by sex")
    if name == "immunomes":
        parts = list(raw.columns[1:14])
        table = raw[[*parts, "age", "gender"]].copy()
        layout = _layout(table, None, parts, ("age",))
        return DataSet(name, table, layout, table["gender"].to_numpy(), None, IMMUNOMES_NOTE)
    if name == "nielsenhb":
        species = [c for c in raw.columns if c != "sample_id" and c not in NIELSEN_META]
        table = raw[[*species, "study_condition"]].copy()
        values = table[species].to_numpy(float)
        table[species] = values / values.sum(1, keepdims=True)  # SOURCE.md: sums 0.9775-1, close exactly
        layout = _layout(table, "study_condition", "all-numeric")
        note = (
            "rows closed to 1 (the file's row sums run 0.9775-1.0000, MetaPhlAn rounding; its SOURCE.md "
            "says to divide by the row sum); split grouped by subject_id (some IBD patients were sampled "
            "twice) and stratified by label"
        )
        return DataSet(
            name, table, layout, table["study_condition"].to_numpy(), raw["subject_id"].to_numpy(), note
        )
    if name == "crohn":
        genera = [c for c in raw.columns if c not in ("sample_id", "y")]
        table = raw[[*genera, "y"]].copy()
        return DataSet(name, table, _layout(table, "y", genera), table["y"].to_numpy(), None, "")
    raise KeyError(name)


ALL_DATASETS = ("breast", "wine", "diabetes", "nhanes", "immunomes", "nielsenhb", "crohn")


def load(name: str, data_dir: Path) -> DataSet | None:
    """The data set, or ``None`` (with a message) when its file is not there."""
    if name in ("breast", "wine", "diabetes"):
        return _sklearn(name)
    path = data_dir / "compositions" / COMPOSITION_FILES[name]
    if not path.exists():
        print(f"skip {name}: {path} not found (set --data-dir or BIOGAN_DATA_DIR to shared/data)", flush=True)
        return None
    return _composition(name, path)


def split(data: DataSet, seed: int, quick: bool) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Train and held-out halves for one seed (subsampled to ``MAX_TRAIN`` rows each when larger)."""
    index = np.arange(len(data.table))
    if data.subjects is not None:
        folds = StratifiedGroupKFold(2, shuffle=True, random_state=seed)
        tr, te = next(folds.split(index, data.strata, data.subjects))
    else:
        tr, te = train_test_split(index, test_size=0.5, stratify=data.strata, random_state=seed)
    cap = QUICK_ROWS if quick else MAX_TRAIN
    note = ""
    if len(tr) > cap or len(te) > cap:
        note = f"subsampled from {len(tr):,} train / {len(te):,} held-out rows to {cap:,} each"
        tr = _stratified_subset(tr, data.strata, cap, seed)
        te = _stratified_subset(te, data.strata, cap, seed + 1000)
    train = data.table.iloc[np.sort(tr)].reset_index(drop=True)
    test = data.table.iloc[np.sort(te)].reset_index(drop=True)
    return train, test, note


def _stratified_subset(index: np.ndarray, strata: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(index) <= n:
        return index
    keep, _ = train_test_split(index, train_size=n, stratify=strata[index], random_state=seed)
    return keep


def make_request(layout: Layout, train: pd.DataFrame, test: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The label / condition values of the rows to generate (no columns: just a row count).

    Labelled sets: the held-out class counts. Conditioned sets: condition rows drawn with replacement
    from the TRAIN half (never the held-out rows), as many as the held-out half has.
    """
    if layout.conditions:
        if layout.label:
            raise NotImplementedError("labels together with conditions: no set here has both")
        draw = train[list(layout.conditions)].sample(n=len(test), replace=True, random_state=seed)
        return draw.reset_index(drop=True)
    if layout.label:
        counts = test[layout.label].value_counts().sort_index()
        return pd.DataFrame({layout.label: np.repeat(counts.index.to_numpy(), counts.to_numpy())})
    return pd.DataFrame(index=pd.RangeIndex(len(test)))


# ---------------------------------------------------------------------------------------- helpers
def largest_remainder(x: np.ndarray, totals: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Whole-number rows proportional to ``x`` (rows of zeros use ``fallback``) summing to ``totals``."""
    x = np.clip(np.nan_to_num(x), 0, None)
    sums = x.sum(1, keepdims=True)
    p = np.where(sums > 0, x / np.where(sums > 0, sums, 1), fallback[None, :])
    exact = p * totals[:, None]
    base = np.floor(exact)
    short = (totals - base.sum(1)).astype(int)
    rank = np.argsort(np.argsort(-(exact - base), axis=1), axis=1)
    return (base + (rank < short[:, None])).astype(np.int64)


def close_parts(
    out: pd.DataFrame,
    rows: pd.DataFrame,
    layout: Layout,
    rng: np.random.Generator,
    totals: np.ndarray | None = None,
) -> pd.DataFrame:
    """Parts closed to the class's median row total, or for counts rounded to a row total (resampled
    from the class's train rows unless ``totals`` is given) by largest remainder."""
    if not layout.parts or not len(out):
        return out
    parts = list(layout.parts)
    real = rows[parts].to_numpy(float)
    mean_share = real.sum(0) / max(real.sum(), 1e-300)
    x = out[parts].to_numpy(float)
    if layout.counts:
        if totals is None:
            totals = rng.choice(real.sum(1), len(out))
        return _replace(out, parts, largest_remainder(x, np.asarray(totals, float), mean_share))
    x = np.clip(x, 0, None)
    sums = x.sum(1, keepdims=True)
    share = np.where(sums > 0, x / np.where(sums > 0, sums, 1), mean_share[None, :])
    return _replace(out, parts, share * float(np.median(real.sum(1))))


def _assemble(wanted: pd.DataFrame, new: dict[str, Any]) -> pd.DataFrame:
    """The requested columns and the generated ones (arrays or one value for every row), in one go."""
    generated = pd.DataFrame(new, index=pd.RangeIndex(len(wanted)))
    return pd.concat([wanted.reset_index(drop=True), generated], axis=1)


def _replace(frame: pd.DataFrame, columns: list[str], values: np.ndarray) -> pd.DataFrame:
    """``frame`` with ``columns`` replaced by the columns of ``values`` (one block, not column by column)."""
    return pd.concat([frame.drop(columns=columns), pd.DataFrame(values, columns=columns)], axis=1)


def per_group(
    train: pd.DataFrame,
    request: pd.DataFrame,
    layout: Layout,
    seed: int,
    make: Callable[[pd.DataFrame, pd.DataFrame, np.random.Generator], pd.DataFrame],
) -> pd.DataFrame:
    """``make(train rows of a class, requested rows of that class, rng)`` for every class in the request."""
    rng = np.random.default_rng(seed)
    keys = layout.group_keys
    if not keys:
        out = [make(train, request.reset_index(drop=True), rng)]
    else:
        out = []
        for value, wanted in request.groupby(keys, sort=True):
            value = value if isinstance(value, tuple) else (value,)
            mask = np.logical_and.reduce([train[k].to_numpy() == v for k, v in zip(keys, value, strict=True)])
            out.append(make(train[mask].reset_index(drop=True), wanted.reset_index(drop=True), rng))
    return _like(pd.concat(out, ignore_index=True), train, layout)


def _like(synth: pd.DataFrame, train: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    """Columns in the train order; columns of whole numbers (codes such as sex = 1/2, ages, counts)
    rounded back to whole numbers, in the train dtype (composition parts are closed already)."""
    synth = synth[list(train.columns)].copy()
    for c in train.columns:
        if c in layout.parts or not pd.api.types.is_numeric_dtype(synth[c]):
            continue
        values = train[c].to_numpy(float)
        if pd.api.types.is_integer_dtype(train[c]) or np.all(values == np.round(values)):
            synth[c] = np.round(synth[c].to_numpy(float)).astype(train[c].dtype)
    return synth


def _kind(x: pd.Series) -> str:
    return "numeric" if pd.api.types.is_numeric_dtype(x) else "categorical"


# ---------------------------------------------------------------------------------------- peers
def independent_marginals(
    train: pd.DataFrame, request: pd.DataFrame, layout: Layout, seed: int
) -> pd.DataFrame:
    """Per class (label and categorical conditions): every generated column resampled on its own from
    the class's train rows (no correlations; continuous conditions are copied, not used). Composition
    parts are then closed like the copula's."""

    def make(rows: pd.DataFrame, wanted: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        new = {c: rng.choice(rows[c].to_numpy(), len(wanted)) for c in layout.free}
        return close_parts(_assemble(wanted, new), rows, layout, rng)

    return per_group(train, request, layout, seed, make)


def _scores(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Normal scores of every column via ranks, ties broken at random (a randomised PIT)."""
    n = len(x)
    ranks = np.empty_like(x)
    for j in range(x.shape[1]):
        order = np.lexsort((rng.random(n), x[:, j]))
        ranks[order, j] = np.arange(n)
    return special.ndtri((ranks + 0.5) / n)


def _ecdf_scores(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Normal scores of ``values`` under the mid-rank empirical CDF of ``reference`` (one column)."""
    ref = np.sort(reference)
    n = len(ref)
    u = (np.searchsorted(ref, values, "left") + np.searchsorted(ref, values, "right")) / (2 * n)
    return special.ndtri(np.clip(u, 0.5 / n, 1 - 0.5 / n))


def gaussian_copula(train: pd.DataFrame, request: pd.DataFrame, layout: Layout, seed: int) -> pd.DataFrame:
    """Per class: rank normal scores (random tie-breaking), Ledoit-Wolf shrunk correlation, draws
    conditional on the normal scores of the requested continuous conditions, inverted through each
    column's empirical quantiles (categorical columns as codes). Composition parts are closed to the
    class's median row total; count groups add the row total as a column and round the parts to it by
    largest remainder."""

    def make(rows: pd.DataFrame, wanted: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        out: dict[str, Any] = {}
        free = layout.free
        columns: dict[str, np.ndarray] = {}
        cats: dict[str, np.ndarray] = {}
        for c in free:
            if _kind(rows[c]) == "categorical":
                codes, levels = pd.factorize(rows[c], sort=True)
                columns[c], cats[c] = codes.astype(float), np.asarray(levels, dtype=object)
            else:
                columns[c] = rows[c].to_numpy(float)
        if layout.counts:
            columns["__total__"] = rows[list(layout.parts)].to_numpy(float).sum(1)
        conds = layout.continuous_conditions
        names = [c for c in columns if np.ptp(columns[c]) > 0]  # constant columns stay constant
        for c in columns:
            if c not in names:
                out[c] = columns[c][0] if c not in cats else cats[c][0]
        model = [rows[c].to_numpy(float) for c in conds if np.ptp(rows[c].to_numpy(float)) > 0]
        cond_used = [c for c in conds if np.ptp(rows[c].to_numpy(float)) > 0]
        x = np.column_stack([*model, *(columns[c] for c in names)]) if names else np.zeros((len(rows), 0))
        k = len(cond_used)
        if x.shape[1] > k:
            scores = _scores(x, rng)
            cov = LedoitWolf().fit(scores).covariance_
            sd = np.sqrt(np.diag(cov))
            corr = cov / np.outer(sd, sd)
            m = len(wanted)
            if k:
                zc = np.column_stack(
                    [_ecdf_scores(rows[c].to_numpy(float), wanted[c].to_numpy(float)) for c in cond_used]
                )
                a, b, d = corr[:k, :k], corr[k:, :k], corr[k:, k:]
                gain = np.linalg.solve(a, b.T).T
                mean, cond_cov = zc @ gain.T, d - gain @ b.T
            else:
                mean, cond_cov = np.zeros((m, x.shape[1])), corr
            cond_cov = (cond_cov + cond_cov.T) / 2
            chol = np.linalg.cholesky(cond_cov + 1e-9 * np.eye(len(cond_cov)))
            u = special.ndtr(mean + rng.standard_normal((m, len(cond_cov))) @ chol.T)
            for j, c in enumerate(names):
                if c in cats:
                    codes = np.quantile(columns[c], u[:, j], method="inverted_cdf").astype(int)
                    out[c] = cats[c][codes]
                elif c == "__total__":
                    out[c] = np.quantile(columns[c], u[:, j], method="inverted_cdf")
                else:
                    out[c] = np.quantile(columns[c], u[:, j])
        totals = np.asarray(out.pop("__total__"), float) if "__total__" in out else None
        if totals is not None and totals.ndim == 0:
            totals = np.full(len(wanted), float(totals))
        return close_parts(_assemble(wanted, out), rows, layout, rng, totals)

    return per_group(train, request, layout, seed, make)


def _inv_digamma(y: np.ndarray) -> np.ndarray:
    """Inverse of the digamma function (Minka's initialisation + Newton steps)."""
    x = np.where(y >= -2.22, np.exp(y) + 0.5, -1.0 / (y - special.digamma(1.0)))
    for _ in range(6):
        x = x - (special.digamma(x) - y) / special.polygamma(1, x)
        x = np.maximum(x, 1e-12)
    return x


def dirichlet_mle(p: np.ndarray, iters: int = 20_000, tol: float = 1e-9) -> np.ndarray:
    """Maximum-likelihood Dirichlet parameters of strictly positive rows ``p`` (Minka's fixed point)."""
    mean_log = np.log(p).mean(0)
    m, v = p.mean(0), p.var(0)
    s = np.median(m * (1 - m) / np.maximum(v, 1e-300) - 1)
    alpha = np.maximum(m * max(s, 1e-3), 1e-6)
    for _ in range(iters):
        new = _inv_digamma(special.digamma(alpha.sum()) + mean_log)
        if np.max(np.abs(new - alpha) / alpha) < tol:
            return new
        alpha = new
    return alpha


def dirichlet_multinomial_mle(x: np.ndarray, iters: int = 20_000, tol: float = 1e-9) -> np.ndarray:
    """Maximum-likelihood Dirichlet-multinomial (Polya) parameters of count rows (Minka's fixed point)."""
    n = x.sum(1)
    p = (x + 0.5) / (n[:, None] + 0.5 * x.shape[1])
    m, v = p.mean(0), p.var(0)
    s = np.median(m * (1 - m) / np.maximum(v, 1e-300) - 1)
    alpha = np.maximum(m * max(s, 1e-3), 1e-6)
    for _ in range(iters):
        a0 = alpha.sum()
        num = (special.digamma(x + alpha) - special.digamma(alpha)).sum(0)
        den = (special.digamma(n + a0) - special.digamma(a0)).sum()
        new = np.maximum(alpha * num / den, 1e-10)
        if np.max(np.abs(new - alpha) / alpha) < tol:
            return new
        alpha = new
    return alpha


def sample_dirichlet(alpha: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Dirichlet draws that stay exact for tiny ``alpha``: Gamma(a) = Gamma(a + 1) U^(1/a), in logs."""
    log_g = np.log(rng.gamma(alpha + 1.0, size=(m, len(alpha)))) + np.log(rng.random((m, len(alpha)))) / alpha
    log_g -= log_g.max(1, keepdims=True)
    g = np.exp(log_g)
    return g / g.sum(1, keepdims=True)


def dirichlet_peer(train: pd.DataFrame, request: pd.DataFrame, layout: Layout, seed: int) -> pd.DataFrame:
    """Per class (label and categorical conditions): a Dirichlet on the proportions, or for count groups
    a Dirichlet-multinomial with totals resampled from the class's train rows (:data:`DIRICHLET_NOTE`).
    Other generated columns are resampled on their own; continuous conditions are not used."""
    parts = list(layout.parts)

    def make(rows: pd.DataFrame, wanted: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        new = {c: rng.choice(rows[c].to_numpy(), len(wanted)) for c in layout.free if c not in parts}
        x = rows[parts].to_numpy(float)
        keep = x.sum(0) > 0  # a part absent from the class stays 0
        values = np.zeros((len(wanted), len(parts)))
        if layout.counts:
            alpha = dirichlet_multinomial_mle(x[:, keep])
            totals = rng.choice(x.sum(1), len(wanted)).astype(np.int64)
            p = sample_dirichlet(alpha, len(wanted), rng)
            values[:, keep] = rng.multinomial(totals, p / p.sum(1, keepdims=True))
            new.update(zip(parts, values.astype(np.int64).T, strict=True))
        else:
            share = x[:, keep] / x[:, keep].sum(1, keepdims=True)
            pseudo = 0.5 * share[share > 0].min()
            share = np.where(share > 0, share, pseudo)
            share /= share.sum(1, keepdims=True)
            draws = sample_dirichlet(dirichlet_mle(share), len(wanted), rng)
            draws = np.where(draws < pseudo, 0.0, draws)  # below the pseudo-count reads as a zero again
            values[:, keep] = draws / np.maximum(draws.sum(1, keepdims=True), 1e-300)
            new.update(zip(parts, (values * float(np.median(x.sum(1)))).T, strict=True))
        return _assemble(wanted, new)

    return per_group(train, request, layout, seed, make)


# ---------------------------------------------------------------------------------------- CTGAN / TVAE
def _request_keys(
    frame: pd.DataFrame, request: pd.DataFrame, train: pd.DataFrame, layout: Layout
) -> np.ndarray:
    """One key per row: categorical request columns exactly, continuous conditions by quantile bin."""
    parts = []
    for c in request.columns:
        if c == layout.label or c in layout.categorical:
            parts.append(frame[c].astype(str).to_numpy())
        else:
            edges = np.unique(np.quantile(train[c].to_numpy(float), np.linspace(0, 1, CONDITION_BINS + 1)))
            parts.append(np.searchsorted(edges[1:-1], frame[c].to_numpy(float), "right").astype(str))
    return np.array(["|".join(t) for t in zip(*parts, strict=True)], dtype=object)


def match_request(
    draw: Callable[[int], pd.DataFrame], request: pd.DataFrame, train: pd.DataFrame, layout: Layout, seed: int
) -> tuple[pd.DataFrame, int]:
    """Rows for a request from an unconditional sampler, by rejection: a drawn row serves a requested
    row with the same label / categorical conditions and the same quantile bin of each continuous
    condition; the requested condition values are then written into it (so the table holds TRAIN
    condition values). Stops after ``POOL_FACTOR`` times the rows; requests still open take any left
    row (their number is returned)."""
    n = len(request)
    if not len(request.columns):
        return draw(n), 0
    wanted = _request_keys(request, request, train, layout)
    open_rows = {key: list(np.flatnonzero(wanted == key)) for key in pd.unique(wanted)}
    chosen: list[pd.DataFrame] = []
    served: list[np.ndarray] = []
    spare: list[pd.DataFrame] = []
    drawn = 0
    while any(open_rows.values()) and drawn < POOL_FACTOR * n:
        batch = draw(max(n, 1000)).reset_index(drop=True)
        drawn += len(batch)
        keys = _request_keys(batch, request, train, layout)
        take = np.zeros(len(batch), bool)
        slots = np.full(len(batch), -1)
        for key, rows in open_rows.items():
            if not rows:
                continue
            hits = np.flatnonzero(keys == key)[: len(rows)]
            take[hits] = True
            slots[hits] = rows[: len(hits)]
            del rows[: len(hits)]
        chosen.append(batch[take])
        served.append(slots[take])
        spare.append(batch[~take].head(n))
    left = np.array([i for rows in open_rows.values() for i in rows], dtype=int)
    if len(left):
        chosen.append(pd.concat(spare, ignore_index=True).head(len(left)))
        served.append(left)
    out = pd.concat(chosen, ignore_index=True)
    slots = np.concatenate(served)
    for c in request.columns:
        out[c] = request[c].to_numpy()[slots]
    return out, len(left)


def ctgan_family(
    kind: str, train: pd.DataFrame, request: pd.DataFrame, layout: Layout, seed: int, epochs: int | None
) -> tuple[pd.DataFrame, int]:
    """The ``ctgan`` package's CTGAN or TVAE with its defaults (``epochs`` only for --quick); discrete
    columns = the categorical columns, the label and two-valued numeric codes (diabetes' sex = 1/2: a
    user would declare it; as a continuous column it comes back as 1.37). Class counts and conditions
    by rejection (:func:`match_request`), since neither model conditions on a continuous value."""
    import torch
    from ctgan import CTGAN, TVAE

    torch.manual_seed(seed)
    np.random.seed(seed)
    cls = CTGAN if kind == "ctgan" else TVAE
    model = cls() if epochs is None else cls(epochs=epochs)
    model.set_random_state(seed)
    discrete = [c for c in train.columns if c == layout.label or c in layout.categorical or _binary(train[c])]
    model.fit(train, discrete_columns=discrete)
    return match_request(lambda k: model.sample(k), request, train, layout, seed)


def _binary(column: pd.Series) -> bool:
    """A numeric column with two values (a code such as sex = 1/2): discrete for CTGAN / TVAE."""
    return pd.api.types.is_numeric_dtype(column) and column.nunique() == 2


def tabulargan_supports() -> tuple[set[str], set[str]]:
    """Parameters of ``TabularGAN.fit`` and ``TabularGAN.sample`` as they are now."""
    from biogan import TabularGAN

    return set(inspect.signature(TabularGAN.fit).parameters), set(
        inspect.signature(TabularGAN.sample).parameters
    )


def tabulargan(
    train: pd.DataFrame,
    request: pd.DataFrame,
    layout: Layout,
    seed: int,
    max_steps: int | None,
    sample_seeds: list[int],
) -> list[pd.DataFrame]:
    """biogan's TabularGAN with its defaults (``max_steps`` only for --quick), called as a user would:
    one fit, one table per sampling seed."""
    from biogan import TabularGAN

    fit_params, _ = tabulargan_supports()
    kwargs: dict[str, Any] = {"labels_key": layout.label, "progress": False}
    if "composition" in fit_params:
        composition = layout.composition
        kwargs["composition"] = list(composition) if isinstance(composition, tuple) else composition
    if "conditions" in fit_params:
        kwargs["conditions"] = layout.conditions
    if "renormalise" in fit_params and layout.parts and not layout.counts:
        # What the error message tells a user to do when rows miss their total by more than 1 %
        # (NielsenHB: MetaPhlAn's unassigned mass, row sums 0.9775-1).
        sums = train[list(layout.parts)].sum(1)
        kwargs["renormalise"] = bool(((sums / sums.median() - 1).abs() > 0.01).any())
    if max_steps is not None:
        kwargs["max_steps"] = max_steps
    model = TabularGAN(seed=seed, device="cpu").fit(train, **kwargs)
    if layout.conditions:
        return [model.sample(conditions=request, seed=s) for s in sample_seeds]
    if layout.label:
        counts = {k: int(v) for k, v in request[layout.label].value_counts().items()}
        return [model.sample(labels=counts, seed=s) for s in sample_seeds]
    return [model.sample(n=len(request), seed=s) for s in sample_seeds]


def n_draws(method: str) -> int:
    """Synthetic tables scored for ``method`` (``DRAWS`` for the ``MULTI_DRAW`` methods, else one)."""
    return DRAWS if method in MULTI_DRAW else 1


def run_method(
    method: str, train: pd.DataFrame, request: pd.DataFrame, layout: Layout, seed: int, quick: bool
) -> tuple[str, Any]:
    """One method in the measuring process: ``("ok", (synthetic tables, unmatched))``, one table per
    draw (:func:`n_draws`), or ``("error", text)``. A statistical peer is refitted per draw (its rank
    ties are broken at random); TabularGAN is fitted once and sampled per draw."""
    threadpool_limits(1)
    seeds = [seed + DRAW_STRIDE * d for d in range(n_draws(method))]
    peers = {"marginals": independent_marginals, "copula": gaussian_copula, "dirichlet": dirichlet_peer}
    try:
        unmatched = 0
        if method in peers:
            synths = [peers[method](train, request, layout, s) for s in seeds]
        elif method in ("ctgan", "tvae"):
            synth, unmatched = ctgan_family(
                method, train, request, layout, seed, QUICK_EPOCHS if quick else None
            )
            synths = [synth]
        elif method == "tabulargan":
            synths = tabulargan(train, request, layout, seed, QUICK_STEPS if quick else None, seeds)
        else:
            raise KeyError(method)
        return "ok", (synths, unmatched)
    except Exception:  # reported in the table; the benchmark goes on
        return "error", traceback.format_exc()


def _noop() -> int:
    return 0


# ---------------------------------------------------------------------------------------- metrics
def _features(fit_on: pd.DataFrame, test: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Both sets as numeric columns and one-hot categories (one encoding), the label left out."""
    cols = [c for c in test.columns if c != label]
    both = pd.get_dummies(pd.concat([fit_on[cols], test[cols]], ignore_index=True), dtype=float)
    return both.iloc[: len(fit_on)].to_numpy(float), both.iloc[len(fit_on) :].to_numpy(float)


def ml_auroc(fit_on: pd.DataFrame, test: pd.DataFrame, label: str, seed: int) -> float:
    """Held-out AUROC (macro one-vs-rest for 3+ classes) of a random forest fit on ``fit_on``."""
    y_fit = fit_on[label].astype(str).to_numpy()
    y_test = test[label].astype(str).to_numpy()
    if len(set(y_fit)) < 2:
        return float("nan")
    model = RandomForestClassifier(n_estimators=200, random_state=seed, n_jobs=1)
    x_fit, x_test = _features(fit_on, test, label)
    proba = model.fit(x_fit, y_fit).predict_proba(x_test)
    classes = list(model.classes_)
    if len(set(y_test)) == 2:
        positive = sorted(set(y_test))[-1] if "IBD" not in set(y_test) else "IBD"
        score = proba[:, classes.index(positive)] if positive in classes else np.zeros(len(test))
        return float(roc_auc_score(y_test == positive, score))
    full = np.zeros((len(test), len(sorted(set(y_test)))))
    for j, c in enumerate(sorted(set(y_test))):
        if c in classes:
            full[:, j] = proba[:, classes.index(c)]
    full = full / np.maximum(full.sum(1, keepdims=True), 1e-12)
    return float(roc_auc_score(y_test, full, multi_class="ovr", labels=sorted(set(y_test))))


def neutrophil_gap(other: pd.DataFrame, test: pd.DataFrame) -> float:
    """Largest |mean neutrophil % of ``other`` - held-out| over the deciles of the held-out ages."""
    edges = np.unique(np.quantile(test["age_years"], np.linspace(0, 1, 11)))

    def binned(frame: pd.DataFrame) -> pd.Series:
        bins = np.clip(
            np.searchsorted(edges, frame["age_years"].to_numpy(float), "right") - 1, 0, len(edges) - 2
        )
        return frame["neutrophils_pct"].astype(float).groupby(bins).mean()

    return float(np.nanmax(np.abs(binned(other) - binned(test)).to_numpy()))


def neutrophil_bootstrap(test: pd.DataFrame, seed: int, n_boot: int = 200) -> float:
    """Median over bootstrap resamples of the held-out rows of the same largest gap (the noise floor)."""
    rng = np.random.default_rng(seed)
    gaps = [neutrophil_gap(test.iloc[rng.integers(0, len(test), len(test))], test) for _ in range(n_boot)]
    return float(np.median(gaps))


def neutrophil_copy_reference(
    train: pd.DataFrame, test: pd.DataFrame, seed: int, n_draws: int = 200
) -> float:
    """Mean over draws of the train half resampled to the held-out size (what a model that reproduced
    the training half exactly would hand in) of its largest decile-mean gap to the held-out means.

    The control compares two independent halves; a generator's rows carry a third sampling error (its
    own draw on top of the train half it learnt), so even a perfect copy scores above the control.
    """
    rng = np.random.default_rng(seed)
    draws = [train.iloc[rng.integers(0, len(train), len(test))] for _ in range(n_draws)]
    return float(np.mean([neutrophil_gap(d, test) for d in draws]))


def metric_options(layout: Layout) -> dict[str, Any]:
    """``composition=`` / ``conditions=`` for :func:`biogan.evaluate` when the table metric set takes them."""
    from biogan.metrics.tables import TableMetrics

    options: dict[str, Any] = {}
    if "composition" in TableMetrics.defaults and layout.composition is not None:
        c = layout.composition
        options["composition"] = list(c) if isinstance(c, tuple) else c
    numeric = layout.continuous_conditions  # the metric set takes numeric conditions only
    if "conditions" in TableMetrics.defaults and options and numeric:
        options["conditions"] = numeric
    return options


def score(
    synth: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame, layout: Layout, seed: int
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """Every metric of ``synth`` and of the control (train half), and notes (errors, warnings)."""
    import biogan

    notes: list[str] = []
    synth = synth[list(test.columns)]
    negative = float((synth[list(layout.parts)].to_numpy(float) < 0).mean()) if layout.parts else 0.0
    if negative:  # the composition metrics take amounts only: negative parts are scored as zeros
        synth = _replace(synth, list(layout.parts), synth[list(layout.parts)].clip(lower=0).to_numpy())
        synth = synth[list(test.columns)]
        notes.append("negative composition parts were set to 0 before scoring (share: neg_parts)")
    options = metric_options(layout)
    value: dict[str, float] = {}
    control: dict[str, float] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = biogan.evaluate(test, synth, labels_key=layout.label, train=train, seed=seed, **options)
        except Exception as error:
            if not options:
                raise
            notes.append(f"evaluate with {sorted(options)} failed ({error!r}); scored without them")
            table = biogan.evaluate(test, synth, labels_key=layout.label, train=train, seed=seed)
    notes += [f"warning: {w.message}"[:300] for w in caught if "PRIVACY" in str(w.message)]
    overall = table[table.scope == "overall"].set_index("metric")
    for metric in EVALUATE_METRICS:
        if metric in overall.index:
            value[metric] = float(overall.loc[metric, "value"])
            control[metric] = float(overall.loc[metric, "control"])
    if layout.label:
        value["ml_auroc"] = ml_auroc(synth, test, layout.label, seed)
        control["ml_auroc"] = ml_auroc(train, test, layout.label, seed)
    if "neutrophils_pct" in test.columns and "age_years" in test.columns:
        value["neut_age_gap"] = neutrophil_gap(synth, test)
        control["neut_age_gap"] = neutrophil_gap(train, test)
    if layout.parts:
        value["neg_parts"], control["neg_parts"] = negative, 0.0
    return value, control, notes


DRAW_COLUMN = "__draw__"
DRAWS_NOTE = "RF C2ST of each draw"


def split_draws(joined: pd.DataFrame) -> list[pd.DataFrame]:
    """The draws of a cached CSV (older caches hold one draw and no draw column)."""
    if DRAW_COLUMN not in joined.columns:
        return [joined]
    return [part.drop(columns=DRAW_COLUMN).reset_index(drop=True) for _, part in joined.groupby(DRAW_COLUMN)]


def score_draws(
    synths: list[pd.DataFrame], train: pd.DataFrame, test: pd.DataFrame, layout: Layout, seed: int
) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """:func:`score` of every draw: each metric's mean over the draws, the control (scored once per
    draw, the same every time), the notes of all draws without repeats."""
    scored = [score(s, train, test, layout, seed) for s in synths]
    value = {metric: float(np.mean([v[metric] for v, _, _ in scored])) for metric in scored[0][0]}
    notes = list(dict.fromkeys(n for _, _, ns in scored for n in ns))
    if len(scored) > 1:
        rf = ", ".join(f"{v.get('c2st_rf_auc', np.nan):.3f}" for v, _, _ in scored)
        notes.append(f"{DRAWS_NOTE}: {rf}")
    return value, scored[0][1], notes


# ---------------------------------------------------------------------------------------- cache
def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.exists() else "absent"


def method_version(method: str, quick: bool) -> str:
    """The string the cache key hashes: this script's version of the method and what it runs on."""
    parts: dict[str, Any] = {
        "measure": "vmhwm",  # peak memory from VmHWM (ru_maxrss carried the parent's size)
        "method": method,
        "code": METHODS[method][1],
        "split": SPLIT_VERSION,
        "quick": quick,
    }
    if method in ("ctgan", "tvae"):
        parts["ctgan"] = _package_version("ctgan")
    if method == "tabulargan":
        parts["files"] = {f: _sha(REPO / f) for f in TABULARGAN_FILES}
    if n_draws(method) > 1:
        parts["draws"] = n_draws(method)
    return json.dumps(parts, sort_keys=True)


def metrics_version() -> str:
    files = {f: _sha(REPO / f) for f in METRIC_FILES}
    files.update(
        {str(p.relative_to(REPO)): _sha(p) for p in sorted((REPO / "src/biogan/metrics").glob("*compos*.py"))}
    )
    return hashlib.sha256(json.dumps([METRICS_VERSION, files], sort_keys=True).encode()).hexdigest()[:16]


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "absent"


def cache_paths(dataset: str, seed: int, method: str, quick: bool) -> tuple[Path, Path]:
    key = hashlib.sha256(f"{dataset}|{seed}|{method_version(method, quick)}".encode()).hexdigest()[:12]
    stem = CACHE / dataset / f"seed{seed}-{method}-{key}"
    return stem.parent / f"{stem.name}.json", stem.parent / f"{stem.name}.csv.gz"


# ---------------------------------------------------------------------------------------- one cell
def run_cell(
    data: DataSet,
    seed: int,
    method: str,
    train: pd.DataFrame,
    test: pd.DataFrame,
    request: pd.DataFrame,
    fresh: bool,
    quick: bool,
) -> dict[str, Any]:
    """One (data set, seed, method): from the cache, re-scored when the metric code changed, or run."""
    layout = data.layout
    json_path, csv_path = cache_paths(data.name, seed, method, quick)
    mversion = metrics_version()
    if not fresh and json_path.exists() and csv_path.exists():
        record = json.loads(json_path.read_text())
        if record.get("metrics_version") == mversion:
            return record
        synths = split_draws(pd.read_csv(csv_path))
        record["value"], record["control"], record["notes"] = score_draws(synths, train, test, layout, seed)
        record["metrics_version"] = mversion
        json_path.write_text(json.dumps(record, indent=1))
        print(f"  {data.name} seed {seed} {method}: re-scored cached rows (metric code changed)", flush=True)
        return record
    (status, result), seconds, peak = measured(run_method, method, train, request, layout, seed, quick)
    if status == "error":
        print(f"  {data.name} seed {seed} {method}: FAILED\n{result}", flush=True)
        return {"method": method, "seed": seed, "error": result.strip().splitlines()[-1]}
    synths, unmatched = result
    value, control, notes = score_draws(synths, train, test, layout, seed)
    if unmatched:
        notes.append(f"{unmatched} requested rows had no match after rejection and took any drawn row")
    record = {
        "dataset": data.name,
        "method": method,
        "seed": seed,
        "version": method_version(method, quick),
        "metrics_version": mversion,
        "seconds": seconds,
        "peak_rss_mib": peak,
        "rows": len(synths[0]),
        "draws": len(synths),
        "value": value,
        "control": control,
        "notes": notes,
        "date": utc_stamp(),
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    joined = pd.concat([s.assign(**{DRAW_COLUMN: d}) for d, s in enumerate(synths)], ignore_index=True)
    joined.to_csv(csv_path, index=False)
    json_path.write_text(json.dumps(record, indent=1))
    return record


# ---------------------------------------------------------------------------------------- output
def _fmt(values: list[float]) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return ""
    digits = 1 if max(abs(v) for v in values) >= 100 else 3
    mean = f"{np.mean(values):.{digits}f}"
    return mean if len(values) == 1 else f"{mean} ± {np.std(values, ddof=1):.{digits}f}"


def section(data: DataSet, records: list[dict], methods: list[str], info: dict[str, Any]) -> str:
    """The markdown table of one data set: one row per method (mean ± std over seeds)."""
    rows: dict[str, dict[str, str]] = {}
    controls = [r for r in records if "control" in r]
    by_seed = {}
    for r in controls:
        by_seed.setdefault(r["seed"], r["control"])
    rows[CONTROL] = {m: _fmt([c.get(m, np.nan) for c in by_seed.values()]) for m in COLUMNS_SHOWN}
    failures = []
    for method in methods:
        mine = [r for r in records if r["method"] == method]
        ok = [r for r in mine if "value" in r]
        name = METHODS[method][0]
        if not ok:
            why = mine[0].get("error", mine[0].get("skipped", "")) if mine else "not run"
            rows[name] = {COLUMNS_SHOWN[0]: f"skipped: {why}" if mine and "skipped" in mine[0] else "failed"}
            if mine and "error" in mine[0]:
                failures.append(f"{name}: {why}")
            continue
        metrics = {m: _fmt([r["value"].get(m, np.nan) for r in ok]) for m in COLUMNS_SHOWN}
        metrics["seconds"] = _fmt([r["seconds"] for r in ok])
        metrics["peak_rss_mib"] = _fmt([r["peak_rss_mib"] for r in ok])
        rows[name] = metrics
        failures += [f"{name} seed {r['seed']}: {r['error']}" for r in mine if "error" in r]
    table = pd.DataFrame(rows).T.reindex(columns=list(COLUMNS_SHOWN)).fillna("")
    table = table.loc[:, (table != "").any()]
    layout = data.layout
    lines = [
        f"## {data.name}",
        "",
        f"{info['train']:,} train / {info['test']:,} held-out rows, {len(layout.columns)} columns; label: "
        f"{layout.label or 'none'}; composition: "
        + (f"{len(layout.parts)} parts{' (counts)' if layout.counts else ''}" if layout.parts else "none")
        + f"; conditions: {', '.join(layout.conditions) or 'none'}; "
        + f"seeds: {' '.join(map(str, info['seeds']))}.",
    ]
    lines += [f"- {n}" for n in [data.note, info.get("split_note", "")] if n]
    if "boot" in info:
        lines.append(
            f"- neut_age_gap noise floor: median over 200 bootstrap resamples of the held-out rows of their "
            f"largest decile-mean gap to the held-out means: {_fmt(info['boot'])} (neutrophil %)"
        )
        lines.append(
            f"- neut_age_gap of a perfect copy: mean over 200 resamples of the train half, as many rows as "
            f"held out, of the same gap: {_fmt(info['copy'])} (per seed: "
            + ", ".join(f"{v:.2f}" for v in info["copy"])
            + ")"
        )
    lines += [f"- note: {n}" for n in _notes(records)]
    lines += [f"- failed: {f}" for f in failures]
    print("\n".join(lines[:1]))
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string())
    return "\n".join([*lines, "", table.to_markdown(), ""])


def _notes(records: list[dict]) -> list[str]:
    """One line per (method, kind of note), with the seeds it came from; privacy alerts shortened."""
    found: dict[tuple[str, str], list[str]] = {}
    for r in records:
        for note in r.get("notes", []):
            ratio = re.search(r"distance ratio ([0-9.]+)", note) if "PRIVACY ALERT" in note else None
            if ratio:
                kind, detail = (
                    "PRIVACY ALERT from biogan.evaluate (synthetic rows close to training rows)",
                    "",
                )
                detail = f"ratio {ratio.group(1)}"
            else:
                kind, detail = re.sub(r"^\d+ requested", "N requested", note), ""
                if kind != note:
                    detail = f"N = {note.split()[0]}"
                if note.startswith(DRAWS_NOTE):
                    kind, detail = DRAWS_NOTE, note.split(": ", 1)[1]
            found.setdefault((METHODS[r["method"]][0], kind), []).append(
                f"seed {r['seed']}" + (f" {detail}" if detail else "")
            )
    return [f"{method}: {kind} ({', '.join(where)})" for (method, kind), where in sorted(found.items())]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(ALL_DATASETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--methods",
        nargs="+",
        default=["all"],
        help=f"ids among {', '.join(METHODS)}; 'peers' = all but tabulargan; 'all'",
    )
    parser.add_argument(
        "--dataset-seeds",
        nargs="*",
        default=[],
        metavar="SET=S,S",
        help="other seeds for one set, e.g. nielsenhb=0,1 (CTGAN there takes ~8 min a seed)",
    )
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_ROWS} rows a half, CTGAN/TVAE {QUICK_EPOCHS} epochs, "
        f"TabularGAN {QUICK_STEPS} steps (not the defaults); writes tables_quick.md",
    )
    parser.add_argument("--fresh", action="store_true", help="ignore the cache (results are rewritten)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by every measuring process
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    threadpool_limits(1)
    data_dir = args.data_dir or Path(os.environ.get("BIOGAN_DATA_DIR", REPO.parent / "shared" / "data"))
    methods: list[str] = []
    for m in args.methods:
        methods += list(METHODS) if m == "all" else list(PEERS) if m == "peers" else [m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}: use {', '.join(METHODS)}, peers or all")
    methods = list(dict.fromkeys(methods))
    overrides: dict[str, list[int]] = {}
    for item in args.dataset_seeds:
        name, _, values = item.partition("=")
        if name not in ALL_DATASETS or not values:
            parser.error(f"--dataset-seeds takes SET=S,S with SET among {', '.join(ALL_DATASETS)}: {item!r}")
        overrides[name] = [int(v) for v in values.split(",")]
    fit_params, sample_params = tabulargan_supports()
    _, _, base_rss = measured(_noop)
    sections = []
    raw: list[dict[str, Any]] = []
    for name in args.datasets.split(","):
        data = load(name, data_dir)
        if data is None:
            continue
        records: list[dict] = []
        seeds = overrides.get(name, args.seeds)
        info: dict[str, Any] = {"seeds": seeds}
        for seed in seeds:
            train, test, info["split_note"] = split(data, seed, args.quick)
            info["train"], info["test"] = len(train), len(test)
            request = make_request(data.layout, train, test, seed)
            if "neutrophils_pct" in test.columns:
                info.setdefault("boot", []).append(neutrophil_bootstrap(test, seed))
                info.setdefault("copy", []).append(neutrophil_copy_reference(train, test, seed))
            for method in methods:
                if method == "dirichlet" and not data.layout.parts:
                    continue
                missing = _tabulargan_missing(data.layout, fit_params, sample_params)
                if method == "tabulargan" and missing:
                    print(
                        f"  {name} seed {seed} TabularGAN skipped: its API has no {missing} yet", flush=True
                    )
                    records.append({"method": method, "seed": seed, "skipped": f"no {missing} in its API"})
                    continue
                start = time.perf_counter()
                record = run_cell(data, seed, method, train, test, request, args.fresh, args.quick)
                records.append(record)
                if "value" in record:
                    print(
                        f"  {name} seed {seed} {METHODS[method][0]}: RF C2ST "
                        f"{record['value'].get('c2st_rf_auc', float('nan')):.3f} (control "
                        f"{record['control'].get('c2st_rf_auc', float('nan')):.3f}), "
                        f"{record['seconds']:.1f} s, "
                        f"{record['peak_rss_mib']:.0f} MiB; cell {time.perf_counter() - start:.0f} s",
                        flush=True,
                    )
        shown = [m for m in methods if m != "dirichlet" or data.layout.parts]
        sections.append(section(data, records, shown, info))
        raw += [_raw_rows(name, r) for r in records if "value" in r]
    command = "python benchmarks/tables.py " + " ".join(sys.argv[1:])
    header = (
        f"Command: `{command.strip()}`  \nMachine: {machine()}  \nDate: {utc_stamp()}  \n"
        "Synthetic vs held-out rows; every metric beside the control (train half vs held-out), mean ± std "
        "over seeds. C2ST AUROC: 0.5 = indistinguishable. dcr_ratio: median distance to the closest train "
        "row, synthetic / held-out (well below 1 = copies). ml_efficacy_f1 / ml_auroc: a random forest "
        "trained on the synthetic (control: train) rows, scored on the held-out rows. neut_age_gap: "
        "largest |mean neutrophil %| gap over held-out age deciles. neg_parts: share of negative "
        "composition entries. seconds: fit + sample wall time; peak_rss_mib: peak resident memory of the "
        f"method's own process (`_common.measured`: Linux VmHWM), which includes the interpreter and "
        f"imports: {base_rss:.0f} MiB for a process that does nothing. One thread each.  \n"
        f"{DIRICHLET_NOTE}. CTGAN/TVAE have no conditional sampling on a continuous value: class counts and "
        f"conditions come by rejection (a drawn row serves a request with the same label/category and the "
        f"same of {CONDITION_BINS} quantile bins of each continuous condition; the requested train value is "
        "then written in).\n\n"
    )
    out = args.out or RESULTS / ("tables_quick.md" if args.quick else "tables.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(header + "\n".join(sections))
    if raw:  # one row per (set, seed, method) and per (set, seed) control, for paired comparisons
        frame = pd.DataFrame([row for rows in raw for row in rows]).drop_duplicates(
            ["dataset", "seed", "method"]
        )
        frame.to_csv(out.with_suffix(".csv"), index=False)
    print(f"wrote {out}")


def _raw_rows(dataset: str, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics of one record, and of its control, as flat rows."""
    base = {"dataset": dataset, "seed": record["seed"]}
    mine = {**base, "method": METHODS[record["method"]][0], **record["value"]}
    mine.update(seconds=record["seconds"], peak_rss_mib=record["peak_rss_mib"])
    return [mine, {**base, "method": CONTROL, **record["control"]}]


def _tabulargan_missing(layout: Layout, fit_params: set[str], sample_params: set[str]) -> str:
    """What this set needs of TabularGAN's API that it does not have yet ('' = nothing)."""
    missing = []
    if layout.parts and "composition" not in fit_params:
        missing.append("fit(composition=)")
    if layout.conditions and ("conditions" not in fit_params or "conditions" not in sample_params):
        missing.append("conditions=")
    return " / ".join(missing)


if __name__ == "__main__":
    main()
