"""Where training batches come from: a *source* holds the rows, a *sampler* picks them, a *loader* joins them.

Every problem (counts, tables, imputation, and the data kinds to come) draws its real minibatches through
this layer, so sharding across DDP ranks, checkpointed sampling order and (later) on-disk sources live in
one place. A source returns a dict of tensors for a list of row indices; sparse matrices are densified one
batch at a time, never whole.
"""

from __future__ import annotations

import copy
import hashlib
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from biogan.data.ondisk import OnDiskMatrix, is_on_disk
from biogan.data.samplers import (
    BlockClassSampler,
    BlockShuffleSampler,
    ClassSampler,
    Sampler,
    ShuffleSampler,
)
from biogan.data.validation import format_bytes
from biogan.errors import InvalidDataError

Field = np.ndarray | sp.spmatrix | torch.Tensor | OnDiskMatrix
BUFFER_BLOCKS = 16  # on-disk blocks shuffled together (64k cells at 4096 rows a block)
CLASS_WINDOW_BLOCKS = 2  # on-disk blocks of one class read at a time by class-stratified sampling


class ArraySource:
    """Rows sharing their first dimension: dense arrays, tensors or CSR matrices in memory, or one
    :class:`~biogan.data.ondisk.OnDiskMatrix` read from disk block by block.

    Parameters
    ----------
    **fields
        Named per-row data, e.g. ``counts=csr, label=codes``. NumPy float arrays and sparse matrices
        become float32, integer arrays int64; tensors are kept as they are (dtype and device). A ``mask``
        field (optional) marks valid positions of padded inputs.
    """

    def __init__(self, **fields: Field) -> None:
        if not fields:
            raise InvalidDataError("a data source needs at least one field")
        sizes = {name: value.shape[0] for name, value in fields.items()}
        if len(set(sizes.values())) != 1:
            raise InvalidDataError(f"fields of a data source must have the same number of rows: {sizes}")
        self.fields: dict[str, Field] = {name: _prepare(value) for name, value in fields.items()}
        self.n_rows = next(iter(sizes.values()))
        disk = [value for value in self.fields.values() if is_on_disk(value)]
        self.disk: OnDiskMatrix | None = disk[0] if disk else None

    def __len__(self) -> int:
        return self.n_rows

    @property
    def on_disk(self) -> bool:
        """Whether rows are read from disk (batches then come from block-shuffled buffers, prefetched)."""
        return self.disk is not None

    @property
    def row_width(self) -> int:
        """Values per row summed over the fields (what one row of a minibatch costs, in floats)."""
        return int(sum(np.prod(value.shape[1:], dtype=np.int64) for value in self.fields.values()))

    def describe(self) -> str:
        """One line about the data: rows, values per row, and where they are read from."""
        widest = max(self.fields.values(), key=lambda value: int(np.prod(value.shape[1:], dtype=np.int64)))
        shape = " x ".join(f"{int(size):,}" for size in widest.shape)
        if self.disk is not None:
            return f"{shape} on disk ({self.disk.path.name}, read in blocks of {self.disk.block_rows:,} rows)"
        return f"{shape} in memory ({format_bytes(sum(_nbytes(v) for v in self.fields.values()))})"

    def class_sampler(
        self,
        codes: np.ndarray,
        n_classes: int,
        weights: str = "uniform",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> Sampler:
        """Class-stratified draws (uniform or proportional): row by row in memory, from per-label block
        windows on disk (the cache then holds every class's window)."""
        if self.disk is None:
            return ClassSampler(codes, n_classes, weights, seed, rank, world_size)
        self.disk.cache_blocks = max(self.disk.cache_blocks, CLASS_WINDOW_BLOCKS * n_classes + 2)
        return BlockClassSampler(
            codes, n_classes, weights, seed, rank, world_size, block_rows=self.disk.block_rows,
            window_blocks=CLASS_WINDOW_BLOCKS,
        )  # fmt: skip

    def shuffle_sampler(self, rows: np.ndarray, seed: int, rank: int = 0, world_size: int = 1) -> Sampler:
        """Epochs over ``rows`` without replacement: row by row in memory, block by block on disk."""
        if self.disk is None:
            return ShuffleSampler(rows, seed, rank, world_size)
        return BlockShuffleSampler(rows, self.disk.block_rows, BUFFER_BLOCKS, seed, rank, world_size)

    def fingerprint(self) -> str:
        """SHA-256 of every field's contents: a checkpoint records it, so resuming on other data (even of
        the same shape) is refused."""
        digest = hashlib.sha256()
        for name in sorted(self.fields):
            value = self.fields[name]
            if is_on_disk(value):
                digest.update(f"{name}{value.fingerprint()}".encode())
                continue
            parts = (value.data, value.indices, value.indptr) if sp.issparse(value) else (value,)
            digest.update(f"{name}{tuple(value.shape)}".encode())
            for part in parts:
                array = part.detach().cpu().numpy() if isinstance(part, torch.Tensor) else np.asarray(part)
                digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def fetch(self, index: np.ndarray, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        """The rows ``index`` of every field as tensors on ``device`` (sparse rows densified)."""
        return {
            name: _rows(value, index).to(device, non_blocking=True) for name, value in self.fields.items()
        }


def _nbytes(value: Field) -> int:
    if sp.issparse(value):
        return int(value.data.nbytes + value.indices.nbytes + value.indptr.nbytes)
    if isinstance(value, torch.Tensor):
        return value.element_size() * value.nelement()
    return int(getattr(value, "nbytes", 0))


def _prepare(value: Field) -> Field:
    if is_on_disk(value):
        return value
    if sp.issparse(value):
        return sp.csr_matrix(value, dtype=np.float32)
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    dtype = torch.float32 if np.issubdtype(array.dtype, np.floating) else None
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if dtype is not None:
        return tensor.to(dtype)
    return tensor.long() if np.issubdtype(array.dtype, np.integer) else tensor


def _rows(value: Field, index: np.ndarray) -> torch.Tensor:
    if is_on_disk(value):
        return torch.from_numpy(value.take(index))
    if sp.issparse(value):
        return torch.from_numpy(value[index].toarray())
    return value[torch.as_tensor(index, device=value.device)]


class BatchLoader:
    """Minibatches of a source in the order a sampler gives, read ahead in a thread when rows are on disk.

    Prefetching keeps the sequence exactly as without it (one worker draws indices and rows in order) and
    the checkpointed position is the one after the last batch handed out, so resuming is unchanged.

    Parameters
    ----------
    source
        Where the rows are.
    sampler
        Which rows each batch holds (already sharded for this rank).
    batch_size
        Rows per batch on this rank.
    device
        Where the tensors go (CUDA: through pinned host memory, copied asynchronously).
    prefetch
        Batches read ahead by a background thread (default: ``PREFETCH`` for on-disk sources with more
        blocks than their cache holds, else 0).
    """

    PREFETCH = 4

    def __init__(
        self,
        source: ArraySource,
        sampler: Sampler,
        batch_size: int,
        device: torch.device,
        prefetch: int | None = None,
    ) -> None:
        self.source, self.sampler, self.batch_size, self.device = source, sampler, batch_size, device
        if prefetch is None:  # a file whose blocks all fit in the cache is read once: nothing to overlap
            prefetch = self.PREFETCH if source.disk and source.disk.n_blocks > source.disk.cache_blocks else 0
        self.prefetch = int(prefetch)
        self._pin = torch.device(device).type == "cuda"
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="biogan-prefetch") if self.prefetch else None
        self._pending: deque[Future] = deque()
        self._state = sampler.state_dict()
        self.rows_served = 0  # rows handed out so far (the trainer's throughput counter)

    def _draw(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        rows = self.source.fetch(self.sampler.next_index(self.batch_size))
        if self._pin:
            rows = {name: value.pin_memory() for name, value in rows.items()}
        return rows, self.sampler.state_dict()

    def next(self) -> dict[str, torch.Tensor]:
        """The next minibatch."""
        if self._pool is None:
            rows, self._state = self._draw()
        else:
            while len(self._pending) <= self.prefetch:
                self._pending.append(self._pool.submit(self._draw))
            rows, self._state = self._pending.popleft().result()
        self.rows_served += self.batch_size
        return {name: value.to(self.device, non_blocking=True) for name, value in rows.items()}

    def _drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def state_dict(self) -> dict[str, Any]:
        """The sampler's position after the last batch handed out (what a checkpoint continues from)."""
        return copy.deepcopy(self._state)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict` (batches read ahead are dropped)."""
        self._drain()
        self.sampler.load_state_dict(state)
        self._state = self.sampler.state_dict()


__all__ = ["ArraySource", "BatchLoader"]
