"""Count-space transforms and per-class statistics (numpy and torch)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

TARGET_SUM = 1e4


def log_normalize(counts: np.ndarray | sp.spmatrix, target_sum: float = TARGET_SUM) -> np.ndarray:
    """``log1p(counts / library_size * target_sum)`` as a dense float32 array (empty cells stay 0)."""
    X = counts.toarray() if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    lib = X.sum(1, keepdims=True)
    return np.log1p(X / np.maximum(lib, 1) * target_sum).astype(np.float32)


def log_normalized_chunks(X: sp.spmatrix | np.ndarray, chunk_size: int = 8192):
    """Yield :func:`log_normalize` of consecutive row blocks (never densifies the whole matrix)."""
    for start in range(0, X.shape[0], chunk_size):
        yield log_normalize(X[start : start + chunk_size])


def log_moments(X: sp.spmatrix | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene mean and standard deviation of log-normalised expression, streamed over row blocks."""
    total = np.zeros(X.shape[1])
    total_sq = np.zeros(X.shape[1])
    for block in log_normalized_chunks(X):
        total += block.sum(0, dtype=np.float64)
        total_sq += np.square(block, dtype=np.float64).sum(0)
    mean = total / X.shape[0]
    return mean.astype(np.float32), np.sqrt(np.maximum(total_sq / X.shape[0] - mean**2, 0)).astype(np.float32)


def log_normalize_torch(counts: torch.Tensor, target_sum: float = TARGET_SUM) -> torch.Tensor:
    """Torch twin of :func:`log_normalize` (differentiable)."""
    return torch.log1p(counts / counts.sum(1, keepdim=True).clamp_min(1.0) * target_sum)


def library_sizes(X: sp.spmatrix | np.ndarray) -> np.ndarray:
    """Total counts per cell."""
    return np.asarray(X.sum(1)).ravel().astype(np.float64)


def class_mean_profiles(X: sp.csr_matrix, codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-class mean of size-normalised counts (each row sums to 1); all-data mean for empty classes."""
    lib = np.maximum(library_sizes(X), 1)
    props = sp.diags(1 / lib) @ X
    overall = np.asarray(props.mean(0)).ravel()
    out = np.tile(overall, (n_classes, 1))
    for k in range(n_classes):
        mask = codes == k
        if mask.any():
            out[k] = np.asarray(props[mask].mean(0)).ravel()
    return out


def nb_dispersion(X: sp.csr_matrix, codes: np.ndarray, n_classes: int, max_theta: float = 1e3) -> np.ndarray:
    """Negative-binomial inverse dispersion ``theta`` per class and gene by the method of moments.

    Counts are first scaled to each class's median library size, so ``var = mu + mu^2 / theta`` is
    read off size-normalised counts. Genes with no over-dispersion get ``max_theta`` (near Poisson).
    """
    X = sp.csr_matrix(X)
    lib = np.maximum(library_sizes(X), 1)
    theta = np.full((n_classes, X.shape[1]), max_theta)
    for k in range(n_classes):
        mask = codes == k
        n = int(mask.sum())
        if n < 2:
            continue
        scaled = sp.diags(np.median(lib[mask]) / lib[mask]) @ X[mask]  # stays sparse
        mu = np.asarray(scaled.mean(0)).ravel()
        var = (np.asarray(scaled.multiply(scaled).mean(0)).ravel() - mu**2) * n / (n - 1)
        excess = var - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            est = np.where(excess > 1e-8, mu**2 / excess, max_theta)
        theta[k] = np.clip(np.nan_to_num(est, nan=max_theta), 1e-2, max_theta)
    return theta.astype(np.float32)


def subclusters(
    X: sp.spmatrix | np.ndarray,
    codes: np.ndarray,
    n_classes: int,
    cells_per_cluster: int = 60,
    max_per_class: int = 12,
    n_pcs: int = 20,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Split each class into k-means sub-clusters on principal components of log-normalised ``X``.

    A cell-type label often covers several states (sorted "Dendritic" cells in pbmc68k include
    monocyte-like ones); conditioning the generator on such sub-clusters, as cscGAN does with Louvain
    clusters, lets it start from every state instead of the average between them. Each class gets
    ``clip(n_cells // cells_per_cluster, 1, max_per_class)`` clusters.

    Returns
    -------
    component_codes
        Sub-cluster of every cell (0 .. n_components - 1).
    component_class
        The class each sub-cluster belongs to.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    n_cells = X.shape[0]
    k_pcs = int(min(n_pcs, X.shape[1], max(n_cells - 1, 1)))
    # PCA fit on at most 50k cells, projection streamed in blocks: seconds even for atlases.
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.choice(n_cells, min(n_cells, 50_000), replace=False))
    pca = PCA(k_pcs, random_state=seed).fit(log_normalize(X[fit_rows]))
    pcs = np.vstack([pca.transform(block) for block in log_normalized_chunks(X)])
    component_codes = np.zeros(len(codes), dtype=np.int64)
    component_class: list[int] = []
    for k in range(n_classes):
        members = np.flatnonzero(codes == k)
        n_clusters = int(np.clip(len(members) // max(cells_per_cluster, 1), 1, max_per_class))
        if n_clusters > 1:
            local = KMeans(n_clusters, n_init=4, random_state=seed).fit_predict(pcs[members])
        else:
            local = np.zeros(len(members), dtype=np.int64)
        component_codes[members] = len(component_class) + local
        component_class += [k] * n_clusters
    return component_codes, np.array(component_class, dtype=np.int64)
