"""Two-sample statistics on feature matrices: classifier two-sample test (C2ST), MMD, correlation gap."""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def joint_pca(
    a: np.ndarray, b: np.ndarray, n_components: int = 50, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Project ``a`` and ``b`` on principal components fit on their union.

    Fitting on the union (not on one side) matters: components fit on one set give that set more
    in-sample variance, which a classifier then detects even between two halves of the same data.
    """
    k = int(min(n_components, a.shape[1], len(a) + len(b) - 1))
    pca = PCA(n_components=k, random_state=seed).fit(np.vstack([a, b]))
    return pca.transform(a), pca.transform(b)


def c2st_auc(a: np.ndarray, b: np.ndarray, classifier: str = "rf", folds: int = 5, seed: int = 0) -> float:
    """Cross-validated AUROC of a classifier telling ``a`` from ``b`` (0.5 = indistinguishable).

    Both sets are cut to the smaller size first so chance level is exactly 0.5.
    """
    n = min(len(a), len(b))
    if n < folds:
        raise ValueError(f"need at least {folds} samples per side for a {folds}-fold C2ST, got {n}")
    rng = np.random.default_rng(seed)
    a = a[rng.choice(len(a), n, replace=False)]
    b = b[rng.choice(len(b), n, replace=False)]
    X = np.vstack([a, b])
    y = np.r_[np.zeros(n), np.ones(n)]
    if classifier == "rf":
        model = RandomForestClassifier(n_estimators=200, min_samples_leaf=2, random_state=seed, n_jobs=1)
    elif classifier == "logistic":
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    else:
        raise ValueError(f"unknown classifier {classifier!r}: use 'rf' or 'logistic'")
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(model, X, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def mmd_rbf(a: np.ndarray, b: np.ndarray, scales: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)) -> float:
    """Unbiased multi-scale RBF MMD^2; bandwidths are multiples of the median squared distance."""
    joint = np.vstack([a, b])
    d2 = cdist(joint, joint, "sqeuclidean")
    median = np.median(d2[np.triu_indices_from(d2, 1)])
    kernel = sum(np.exp(-d2 / (median * s)) for s in scales)
    n, m = len(a), len(b)
    kaa, kbb, kab = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    return float(
        (kaa.sum() - np.trace(kaa)) / (n * (n - 1))
        + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
        - 2 * kab.mean()
    )


def correlation_matrix(x: np.ndarray) -> np.ndarray:
    """Pearson correlations between the columns of ``x``; a constant column correlates 0 with all."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.nan_to_num(np.corrcoef(x, rowvar=False))


def correlation_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of the column–column Pearson correlations of ``a`` and ``b``."""
    upper = np.triu_indices(a.shape[1], 1)
    return float(np.abs(correlation_matrix(a) - correlation_matrix(b))[upper].mean())
