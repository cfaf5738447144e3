"""Count-space transforms and per-class statistics (numpy and torch)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

from biogan.data.ondisk import OnDiskMatrix, is_on_disk, row_blocks

TARGET_SUM = 1e4


def log_normalize(counts: np.ndarray | sp.spmatrix, target_sum: float = TARGET_SUM) -> np.ndarray:
    """``log1p(counts / library_size * target_sum)`` as a dense float32 array (empty cells stay 0)."""
    X = counts.toarray() if sp.issparse(counts) else np.asarray(counts, dtype=np.float64)
    lib = X.sum(1, keepdims=True)
    return np.log1p(X / np.maximum(lib, 1) * target_sum).astype(np.float32)


DENSE_BLOCK_BYTES = 2**26  # float64 bytes of one densified block: 8192 cells of 1,024 genes
PCA_FIT_BYTES = 2**28  # float64 bytes of the cells the sub-cluster PCA is fit on: 16k cells of 2,000 genes


def dense_block_rows(n_genes: int, most: int = 8192) -> int:
    """Rows to densify at a time so a float64 block stays near :data:`DENSE_BLOCK_BYTES`."""
    return int(min(most, max(256, DENSE_BLOCK_BYTES // (8 * max(n_genes, 1)))))


def log_normalized_chunks(X: sp.spmatrix | np.ndarray | OnDiskMatrix, chunk_size: int | None = None):
    """Yield :func:`log_normalize` of consecutive row blocks (never densifies the whole matrix; blocks
    are sized by :func:`dense_block_rows` unless ``chunk_size`` is given)."""
    for _, block in row_blocks(X, chunk_size or dense_block_rows(X.shape[1])):
        yield log_normalize(block)


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


def library_sizes(X: sp.spmatrix | np.ndarray | OnDiskMatrix) -> np.ndarray:
    """Total counts per cell (streamed over row blocks for an on-disk matrix)."""
    if not is_on_disk(X):
        return np.asarray(X.sum(1)).ravel().astype(np.float64)
    return np.concatenate([np.asarray(block.sum(1)).ravel() for _, block in row_blocks(X)]).astype(np.float64)


def _class_sums(
    X: sp.spmatrix | np.ndarray | OnDiskMatrix, codes: np.ndarray, n_classes: int, row_scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-class sums of ``row_scale``-scaled rows and of their squares, in one streamed pass."""
    sums = np.zeros((n_classes, X.shape[1]))
    squares = np.zeros((n_classes, X.shape[1]))
    for start, block in row_blocks(X):
        stop = start + block.shape[0]
        scaled = sp.diags(row_scale[start:stop]) @ sp.csr_matrix(block)
        member = sp.csr_matrix(
            (np.ones(stop - start), (codes[start:stop], np.arange(stop - start))),
            shape=(n_classes, stop - start),
        )
        sums += (member @ scaled).toarray()
        squares += (member @ scaled.multiply(scaled)).toarray()
    return sums, squares


def class_mean_profiles(
    X: sp.spmatrix | OnDiskMatrix, codes: np.ndarray, n_classes: int, lib: np.ndarray | None = None
) -> np.ndarray:
    """Per-class mean of size-normalised counts (each row sums to 1); all-data mean for empty classes.

    ``lib``: the library sizes when already known (saves a pass over an on-disk matrix).
    """
    lib = np.maximum(library_sizes(X) if lib is None else lib, 1)
    sums, _ = _class_sums(X, codes, n_classes, 1 / lib)
    sizes = np.bincount(codes, minlength=n_classes).astype(np.float64)
    out = np.tile(sums.sum(0) / len(codes), (n_classes, 1))
    present = sizes > 0
    out[present] = sums[present] / sizes[present, None]
    return out


def nb_dispersion(
    X: sp.spmatrix | OnDiskMatrix,
    codes: np.ndarray,
    n_classes: int,
    max_theta: float = 1e3,
    lib: np.ndarray | None = None,
) -> np.ndarray:
    """Negative-binomial inverse dispersion ``theta`` per class and gene by the method of moments.

    Counts are first scaled to each class's median library size, so ``var = mu + mu^2 / theta`` is
    read off size-normalised counts. Genes with no over-dispersion get ``max_theta`` (near Poisson).
    One streamed pass over the rows; ``lib``: the library sizes when already known.
    """
    lib = np.maximum(library_sizes(X) if lib is None else lib, 1)
    sizes = np.bincount(codes, minlength=n_classes)
    medians = np.array([np.median(lib[codes == k]) if sizes[k] else 1.0 for k in range(n_classes)])
    sums, squares = _class_sums(X, codes, n_classes, medians[codes] / lib)
    theta = np.full((n_classes, X.shape[1]), max_theta)
    for k in np.flatnonzero(sizes >= 2):
        n = int(sizes[k])
        mu = sums[k] / n
        var = (squares[k] / n - mu**2) * n / (n - 1)
        excess = var - mu
        with np.errstate(divide="ignore", invalid="ignore"):
            est = np.where(excess > 1e-8, mu**2 / excess, max_theta)
        theta[k] = np.clip(np.nan_to_num(est, nan=max_theta), 1e-2, max_theta)
    return theta.astype(np.float32)


def highly_variable_genes(
    X: sp.spmatrix | np.ndarray | OnDiskMatrix, n_top: int, n_bins: int = 20
) -> np.ndarray:
    """Indices (sorted) of the ``n_top`` most variable genes, in one streamed pass over the rows.

    The rule of Seurat's original ``FindVariableGenes`` (scanpy's ``flavor="seurat"``), on counts
    normalised to 10,000 per cell: each gene's dispersion (variance / mean) is z-scored among genes of
    similar mean (``n_bins`` bins of log mean) and the highest z-scores win; genes never detected lose.
    """
    n_top = int(n_top)
    if n_top < 1:
        raise ValueError(f"the number of genes to keep must be at least 1, not {n_top}")
    if n_top >= X.shape[1]:
        return np.arange(X.shape[1])
    total = np.zeros(X.shape[1])
    total_sq = np.zeros(X.shape[1])
    n = 0
    for _, block in row_blocks(X):
        block = sp.csr_matrix(block)
        scaled = sp.diags(TARGET_SUM / np.maximum(np.asarray(block.sum(1)).ravel(), 1)) @ block
        total += np.asarray(scaled.sum(0)).ravel()
        total_sq += np.asarray(scaled.multiply(scaled).sum(0)).ravel()
        n += block.shape[0]
    mean = total / n
    var = np.maximum(total_sq / n - mean**2, 0) * n / max(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_dispersion = np.log(np.where(mean > 0, var / mean, np.nan))
    log_mean = np.log1p(mean)
    bins = pd.cut(log_mean, n_bins, labels=False)
    frame = pd.DataFrame({"bin": bins, "d": log_dispersion})
    stats = frame.groupby("bin")["d"].agg(["mean", "std"])
    center, spread = stats["mean"].reindex(bins).to_numpy(), stats["std"].reindex(bins).to_numpy()
    z = (log_dispersion - center) / np.where(np.isfinite(spread) & (spread > 0), spread, 1.0)
    z = np.where(mean > 0, np.nan_to_num(z, nan=0.0), -np.inf)
    return np.sort(np.argsort(-z, kind="stable")[:n_top])


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
    # PCA fit on a sample of at most 50k cells whose dense float64 copy stays within PCA_FIT_BYTES (so
    # memory does not grow with the data), projection streamed in blocks: seconds even for atlases.
    rng = np.random.default_rng(seed)
    n_fit = min(n_cells, 50_000, max(500, PCA_FIT_BYTES // (8 * X.shape[1])))
    fit_rows = np.sort(rng.choice(n_cells, n_fit, replace=False))
    pca = PCA(k_pcs, random_state=seed).fit(log_normalize(X[fit_rows]))
    pcs = np.vstack([pca.transform(block) for block in log_normalized_chunks(X)])
    component_codes = np.zeros(len(codes), dtype=np.int64)
    component_class: list[int] = []
    for k in range(n_classes):
        members = np.flatnonzero(codes == k)
        n_clusters = int(np.clip(len(members) // max(cells_per_cluster, 1), 1, max_per_class))
        kmeans = KMeans(n_clusters, n_init=4, random_state=seed)
        if n_clusters > 1 and len(members) <= 50_000:
            local = kmeans.fit_predict(pcs[members])
        elif n_clusters > 1:  # an atlas-sized class: fit on 50k of its cells, then assign all of them
            local = kmeans.fit(pcs[np.sort(rng.choice(members, 50_000, replace=False))]).predict(pcs[members])
        else:
            local = np.zeros(len(members), dtype=np.int64)
        component_codes[members] = len(component_class) + local
        component_class += [k] * n_clusters
    return component_codes, np.array(component_class, dtype=np.int64)
