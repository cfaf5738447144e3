"""Count matrices that stay on disk: backed ``.h5ad`` files and AnnData ``.zarr`` stores, read in row blocks.

An atlas of a million cells does not fit in a laptop's memory, so ``--backed`` keeps its matrix where it is:
:class:`BackedCells` loads only ``obs``, ``var`` and the names of the matrices, and each matrix is an
:class:`OnDiskMatrix` that reads contiguous row blocks through anndata's on-disk sparse datasets (h5py or
zarr), keeps a few of them in a small cache and densifies only the rows a minibatch asks for. Everything
that walks a whole matrix (validation, the statistics a model needs at set-up) goes through
:func:`row_blocks`, which treats in-memory and on-disk matrices alike.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from biogan.errors import InvalidDataError

BLOCK_ROWS = 4096  # rows per on-disk read: large enough for fast sequential I/O, small enough to cache
CACHE_BLOCKS = 24  # blocks kept in memory (the block-shuffle buffer plus the one being prefetched)
STORE_SUFFIXES = (".h5ad", ".zarr")


def _open_root(path: Path) -> Any:
    """The root group of an ``.h5ad`` (h5py) or ``.zarr`` store, read-only."""
    try:
        if path.suffix.lower() == ".zarr" or path.is_dir():
            import zarr

            return zarr.open_group(str(path), mode="r")
        import h5py

        return h5py.File(path, "r")
    except (OSError, ValueError, KeyError) as err:
        raise InvalidDataError(f"cannot read {path}: {' '.join(str(err).split())}") from None


class OnDiskMatrix:
    """A cells x genes matrix of an AnnData store, read block by block (never whole).

    Parameters
    ----------
    path
        The ``.h5ad`` file or ``.zarr`` folder.
    key
        The element: ``"X"`` or ``"layers/<name>"``.
    genes
        Column indices to keep (gene selection applied to every block as it is read); ``None``: all.
    block_rows
        Rows per read.

    Notes
    -----
    The file handle is opened lazily in each process (DDP ranks, worker processes), never pickled.
    Rows come back as float32.
    """

    ndim = 2

    def __init__(
        self,
        path: str | os.PathLike,
        key: str,
        genes: np.ndarray | None = None,
        block_rows: int = BLOCK_ROWS,
    ) -> None:
        self.path, self.key = Path(path), key
        self.genes = None if genes is None else np.asarray(genes, dtype=np.int64)
        self.block_rows = int(block_rows)
        self.cache_blocks = CACHE_BLOCKS  # raised by samplers that keep more blocks in play
        self.value_summary: dict[str, Any] | None = None  # filled by the first validation pass
        self._element: Any = None
        self._pid: int | None = None
        self._cache: OrderedDict[int, sp.csr_matrix] = OrderedDict()
        element = self._open()
        self.format = _format_of(element)
        if self.format == "csc":
            raise InvalidDataError(
                f"{self.path}: {key} is stored column by column (CSC), so every block of cells would read "
                "the whole matrix; rewrite it as CSR (adata.X = adata.X.tocsr(); adata.write_h5ad(...))"
            )
        self.n_rows, self.n_columns = (int(s) for s in element.shape)
        self.dtype = np.dtype(element.dtype)

    # ------------------------------------------------------------------ handles
    def _open(self) -> Any:
        if self._element is None or self._pid != os.getpid():
            from anndata.io import sparse_dataset

            root = _open_root(self.path)
            if self.key not in root:
                raise InvalidDataError(f"{self.path} has no {self.key}")
            node = root[self.key]
            self._element = sparse_dataset(node) if _is_sparse_group(node) else node
            self._pid, self._cache = os.getpid(), OrderedDict()
        return self._element

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(_element=None, _pid=None, _cache=OrderedDict())
        return state

    # ------------------------------------------------------------------ shape
    @property
    def shape(self) -> tuple[int, int]:
        return self.n_rows, (self.n_columns if self.genes is None else len(self.genes))

    @property
    def n_blocks(self) -> int:
        return -(-self.n_rows // self.block_rows)

    def select_genes(self, genes: Sequence[int]) -> OnDiskMatrix:
        """The same matrix with only columns ``genes`` (relative to the current selection)."""
        genes = np.asarray(genes, dtype=np.int64)
        absolute = genes if self.genes is None else self.genes[genes]
        return OnDiskMatrix(self.path, self.key, absolute, self.block_rows)

    # ------------------------------------------------------------------ reading
    def read(self, start: int, stop: int) -> sp.csr_matrix:
        """Rows ``start:stop`` as float32 CSR (one contiguous read, not cached)."""
        start, stop = max(0, int(start)), min(self.n_rows, int(stop))
        try:
            raw = self._open()[start:stop]
        except (OSError, RuntimeError, KeyError, ValueError) as err:  # h5py / zarr on a damaged file
            raise InvalidDataError(
                f"cannot read cells {start}-{stop} of {self.key} in {self.path}: {' '.join(str(err).split())}"
            ) from None
        block = sp.csr_matrix(raw if sp.issparse(raw) else np.asarray(raw), dtype=np.float32)
        return block if self.genes is None else block[:, self.genes]

    def block(self, b: int) -> sp.csr_matrix:
        """Row block ``b`` (rows ``b * block_rows`` onwards), from the cache when it is there."""
        self._open()
        cached = self._cache.get(b)
        if cached is not None:
            self._cache.move_to_end(b)
            return cached
        block = self.read(b * self.block_rows, (b + 1) * self.block_rows)
        self._cache[b] = block
        while len(self._cache) > self.cache_blocks:
            self._cache.popitem(last=False)
        return block

    def rows(self, index: np.ndarray) -> sp.csr_matrix:
        """Rows ``index`` (any order, repeats allowed) as CSR, read through the block cache."""
        index = np.asarray(index, dtype=np.int64)
        if index.size and (index.min() < 0 or index.max() >= self.n_rows):
            raise IndexError(f"row index out of range for {self.n_rows} rows")
        blocks = index // self.block_rows
        parts, order = [], []
        for b in np.unique(blocks):
            where = np.flatnonzero(blocks == b)
            parts.append(self.block(int(b))[index[where] - b * self.block_rows])
            order.append(where)
        if not parts:
            return sp.csr_matrix((0, self.shape[1]), dtype=np.float32)
        stacked = sp.vstack(parts, format="csr")
        inverse = np.empty(len(index), dtype=np.int64)
        inverse[np.concatenate(order)] = np.arange(len(index))
        return stacked[inverse]

    def take(self, index: np.ndarray) -> np.ndarray:
        """Dense float32 rows ``index`` (a minibatch: the only thing ever densified)."""
        return self.rows(index).toarray()

    def __getitem__(self, key: Any) -> sp.csr_matrix:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.n_rows)
            if step != 1:
                return self.rows(np.arange(start, stop, step))
            return self.read(start, stop)
        key = np.asarray(key)
        if key.dtype == bool:
            key = np.flatnonzero(key)
        return self.rows(key)

    def stored_count(self) -> int:
        """Number of stored (non-zero) values in the selected columns."""
        element = self._open()
        if self.genes is None and self.format == "csr":
            return int(element.group["indptr"][-1])
        return sum(int(block.nnz) for _, block in row_blocks(self))

    def fingerprint(self) -> str:
        """A cheap identity of the data for checkpoints: shape, row pointers and the first, middle and last
        blocks' values (hashing a million cells' values would take longer than a training step budget)."""
        digest = hashlib.sha256(f"{self.key}{self.shape}{self.format}".encode())
        if self.genes is not None:
            digest.update(self.genes.tobytes())
        element = self._open()
        if self.format == "csr":
            digest.update(np.ascontiguousarray(element.group["indptr"][:]).tobytes())
        for b in sorted({0, self.n_blocks // 2, self.n_blocks - 1}):
            block = self.read(b * self.block_rows, (b + 1) * self.block_rows)
            for part in (block.data, block.indices, block.indptr):
                digest.update(np.ascontiguousarray(part).tobytes())
        return digest.hexdigest()


def _is_sparse_group(node: Any) -> bool:
    return str(node.attrs.get("encoding-type", "")) in ("csr_matrix", "csc_matrix")


def _format_of(element: Any) -> str:
    return str(getattr(element, "format", "dense"))


def row_blocks(X: Any, block_rows: int = BLOCK_ROWS * 2) -> Iterator[tuple[int, sp.csr_matrix | np.ndarray]]:
    """``(start, rows)`` of consecutive row blocks of an in-memory or on-disk matrix (never the whole)."""
    for start in range(0, X.shape[0], block_rows):
        yield start, X[start : start + block_rows]


def is_on_disk(X: Any) -> bool:
    """Whether ``X`` is read from disk block by block."""
    return isinstance(X, OnDiskMatrix)


class BackedCells:
    """An AnnData store with ``obs``, ``var`` and ``uns`` in memory and its matrices on disk.

    What ``biogan train expression --backed`` reads: it stands in for an :class:`anndata.AnnData` in
    :func:`~biogan.data.anndata.setup_anndata` and the count models, with ``X`` and every layer as an
    :class:`OnDiskMatrix`.

    Parameters
    ----------
    path
        A ``.h5ad`` file or an AnnData ``.zarr`` store.
    """

    raw = None

    def __init__(self, path: str | os.PathLike) -> None:
        from anndata.io import read_elem

        self.path = Path(path)
        if not self.path.exists():
            raise InvalidDataError(f"input {self.path} does not exist")
        root = _open_root(self.path)
        try:
            self.obs: pd.DataFrame = read_elem(root["obs"])
            self.var: pd.DataFrame = read_elem(root["var"])
        except KeyError as err:
            raise InvalidDataError(f"{self.path} is not an AnnData store (no {err})") from None
        self.uns: dict[str, Any] = {}
        keys = self.matrix_keys(self.path)
        self.X = OnDiskMatrix(self.path, "X") if "X" in keys else None
        self.layers = {
            key.split("/", 1)[1]: OnDiskMatrix(self.path, key) for key in keys if key.startswith("layers/")
        }
        for matrix in [self.X, *self.layers.values()]:
            if matrix is not None and matrix.shape != (len(self.obs), len(self.var)):
                raise InvalidDataError(f"{self.path}: {matrix.key} has shape {matrix.shape}, not obs x var")

    @staticmethod
    def matrix_keys(path: str | os.PathLike) -> list[str]:
        """The cells x genes matrices of a store: ``"X"`` (when present) and ``"layers/<name>"``."""
        root = _open_root(Path(path))
        keys = ["X"] if "X" in root else []
        if "layers" in root:
            keys += [f"layers/{name}" for name in root["layers"]]
        return keys

    @property
    def n_obs(self) -> int:
        return len(self.obs)

    @property
    def n_vars(self) -> int:
        return len(self.var)

    @property
    def shape(self) -> tuple[int, int]:
        return self.n_obs, self.n_vars

    @property
    def obs_names(self) -> pd.Index:
        return self.obs.index

    @obs_names.setter
    def obs_names(self, names: Sequence[str]) -> None:
        self.obs.index = pd.Index(list(map(str, names)))

    @property
    def var_names(self) -> pd.Index:
        return self.var.index

    @var_names.setter
    def var_names(self, names: Sequence[str]) -> None:
        self.var.index = pd.Index(list(map(str, names)))

    def obs_names_make_unique(self) -> None:
        from anndata.utils import make_index_unique

        self.obs.index = make_index_unique(self.obs.index.astype(str))

    def var_names_make_unique(self) -> None:
        from anndata.utils import make_index_unique

        self.var.index = make_index_unique(self.var.index.astype(str))

    def select_genes(self, genes: Sequence[int]) -> BackedCells:
        """A copy that reads only the columns ``genes`` (applied to every block as it is read)."""
        genes = np.asarray(genes, dtype=np.int64)
        out = object.__new__(BackedCells)
        out.path, out.uns = self.path, dict(self.uns)
        out.obs, out.var = self.obs.copy(), self.var.iloc[genes].copy()
        out.X = None if self.X is None else self.X.select_genes(genes)
        out.layers = {name: m.select_genes(genes) for name, m in self.layers.items()}
        return out

    def __repr__(self) -> str:
        return (
            f"BackedCells({self.path}, {self.n_obs} cells x {self.n_vars} genes, layers {list(self.layers)})"
        )


def release_free_memory() -> None:
    """Hand freed heap memory back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    Generating a chunk frees tens of MB of dense buffers while h5py allocates small objects between them;
    glibc then keeps the freed space, and a million streamed cells grew the process to 7 GiB. Trimming
    after each chunk keeps it flat (1.07 GiB for a million cells, BENCHMARKS.md)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass


__all__ = ["BLOCK_ROWS", "STORE_SUFFIXES", "BackedCells", "OnDiskMatrix", "is_on_disk", "row_blocks"]


def write_h5ad_chunks(
    path: str | os.PathLike,
    chunks: Iterable[sp.csr_matrix],
    obs: pd.DataFrame,
    var_names: Sequence[str],
    counts_layer: str | None = "counts",
    uns: dict[str, Any] | None = None,
) -> Path:
    """Write cells to an ``.h5ad`` chunk by chunk (peak memory: one chunk, whatever the number of cells).

    ``.X`` (and ``layers[counts_layer]``) are float32 CSR appended through anndata's on-disk sparse
    datasets; the file is assembled beside ``path`` and renamed onto it only when complete, and reads
    back with :func:`anndata.read_h5ad` / scanpy like any other.

    Parameters
    ----------
    path
        Output ``.h5ad``.
    chunks
        Consecutive row blocks of counts, ``len(obs)`` rows in all.
    obs
        One row per cell.
    var_names
        Gene names.
    counts_layer
        Layer that also holds the counts (``None``: only ``.X``).
    uns
        Unstructured metadata.
    """
    import h5py
    from anndata.io import sparse_dataset, write_elem

    from biogan._utils import atomic_write

    targets = ["X"] + ([f"layers/{counts_layer}"] if counts_layer else [])
    n_genes = len(var_names)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w") as f:
            f.attrs["encoding-type"], f.attrs["encoding-version"] = "anndata", "0.1.0"
            write_elem(f, "obs", obs)
            write_elem(f, "var", pd.DataFrame(index=pd.Index([str(g) for g in var_names])))
            for key in ("layers", "obsm", "varm", "obsp", "varp"):
                write_elem(f, key, {})
            write_elem(f, "uns", uns or {})
            written, datasets = 0, None
            for chunk in chunks:
                chunk = sp.csr_matrix(chunk, dtype=np.float32)
                if chunk.shape[1] != n_genes:
                    raise InvalidDataError(f"a chunk has {chunk.shape[1]} genes, not {n_genes}")
                if datasets is None:
                    for key in targets:
                        write_elem(f, key, chunk)
                    datasets = [sparse_dataset(f[key]) for key in targets]
                else:
                    for dataset in datasets:
                        dataset.append(chunk)
                written += chunk.shape[0]
                release_free_memory()
            if datasets is None:
                for key in targets:
                    write_elem(f, key, sp.csr_matrix((0, n_genes), dtype=np.float32))
            if written != len(obs):
                raise InvalidDataError(f"wrote {written} cells but obs has {len(obs)} rows")

    return atomic_write(path, write, suffix=".h5ad")


__all__ = [
    "BLOCK_ROWS",
    "STORE_SUFFIXES",
    "BackedCells",
    "OnDiskMatrix",
    "is_on_disk",
    "release_free_memory",
    "row_blocks",
    "write_h5ad_chunks",
]
