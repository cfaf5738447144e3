"""Quality metrics for synthetic count data, always reported next to a real-vs-real control.

All expression metrics are computed on ``log1p(counts normalised to 10k)`` over the model's genes;
library size and zero fraction on the raw counts.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.stats import pearsonr, wasserstein_distance

from biogan.data.preprocessing import library_sizes, log_normalize
from biogan.metrics.two_sample import c2st_auc, joint_pca, mmd_rbf

CountsLike = ad.AnnData | np.ndarray | sp.spmatrix


def as_counts(data: CountsLike) -> np.ndarray:
    """Dense counts from an AnnData (``layers["counts"]`` if present, else ``.X``) or a matrix."""
    if isinstance(data, ad.AnnData):
        data = data.layers.get("counts", data.X)
    return data.toarray() if sp.issparse(data) else np.asarray(data, dtype=np.float64)


def compare_counts(
    real: CountsLike, synthetic: CountsLike, n_pcs: int = 50, seed: int = 0
) -> dict[str, float]:
    """Every count metric for one pair of sets (sizes are matched for the two-sample tests).

    Returns
    -------
    dict
        ``c2st_auc`` (random forest, 5-fold CV, on ``n_pcs`` PCs of the union), ``mmd`` (multi-scale
        RBF MMD^2 on the same PCs), ``gene_mean_r``, ``gene_var_r`` (Pearson r over genes),
        ``library_w1`` (1-D Wasserstein distance of library sizes), ``zero_frac_diff`` (absolute
        difference of the fraction of zeros).
    """
    real_c, synth_c = as_counts(real), as_counts(synthetic)
    if real_c.shape[1] != synth_c.shape[1]:
        raise ValueError(f"gene counts differ: {real_c.shape[1]} real vs {synth_c.shape[1]} synthetic")
    real_x, synth_x = log_normalize(real_c), log_normalize(synth_c)
    n = min(len(real_x), len(synth_x))
    rng = np.random.default_rng(seed)
    ra, sa = (
        real_x[rng.choice(len(real_x), n, replace=False)],
        synth_x[rng.choice(len(synth_x), n, replace=False)],
    )
    pa, pb = joint_pca(ra, sa, n_pcs, seed)
    return {
        "c2st_auc": c2st_auc(pa, pb, seed=seed),
        "mmd": mmd_rbf(pa, pb),
        "gene_mean_r": _safe_r(real_x.mean(0), synth_x.mean(0)),
        "gene_var_r": _safe_r(real_x.var(0), synth_x.var(0)),
        "library_w1": float(wasserstein_distance(library_sizes(real_c), library_sizes(synth_c))),
        "zero_frac_diff": float(abs((real_c == 0).mean() - (synth_c == 0).mean())),
    }


def _safe_r(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(pearsonr(a, b)[0])


def evaluate_counts(
    heldout: CountsLike,
    candidates: Mapping[str, CountsLike],
    train: CountsLike | None = None,
    n_splits: int = 3,
    seed: int = 0,
) -> pd.DataFrame:
    """A metric table: one row per candidate, plus the real-vs-real controls, averaged over splits.

    The held-out cells are split in halves A and B ``n_splits`` times; each candidate is compared
    with half B and the control "held-out A vs B" compares two real halves of the same size -- the
    floor a perfect generator would reach. With ``train`` given, "train vs held-out" is added too.
    """
    held = as_counts(heldout)
    sets = {"control: held-out A vs B": None}
    if train is not None:
        sets["control: train vs held-out"] = as_counts(train)
    sets.update({name: as_counts(c) for name, c in candidates.items()})
    rows = []
    for name, data in sets.items():
        start = time.perf_counter()
        per_split = []
        for split in range(n_splits):
            rng = np.random.default_rng(seed + split)
            order = rng.permutation(len(held))
            half_a, half_b = held[order[: len(held) // 2]], held[order[len(held) // 2 :]]
            other = half_a if data is None else data
            per_split.append(compare_counts(half_b, other, seed=seed + split))
        row = pd.DataFrame(per_split).mean().to_dict()
        row["eval_s"] = time.perf_counter() - start
        rows.append({"method": name, **row})
    return pd.DataFrame(rows).set_index("method")
