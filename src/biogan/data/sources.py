"""Where training batches come from: a *source* holds the rows, a *sampler* picks them, a *loader* joins them.

Every problem (counts, tables, imputation, and the data kinds to come) draws its real minibatches through
this layer, so sharding across DDP ranks, checkpointed sampling order and (later) on-disk sources live in
one place. A source returns a dict of tensors for a list of row indices; sparse matrices are densified one
batch at a time, never whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from biogan.data.samplers import Sampler
from biogan.errors import InvalidDataError

Field = np.ndarray | sp.spmatrix | torch.Tensor


class ArraySource:
    """Rows held in memory: dense arrays, tensors or CSR matrices sharing their first dimension.

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

    def __len__(self) -> int:
        return self.n_rows

    def fingerprint(self) -> str:
        """SHA-256 of every field's contents: a checkpoint records it, so resuming on other data (even of
        the same shape) is refused."""
        digest = hashlib.sha256()
        for name in sorted(self.fields):
            value = self.fields[name]
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


def _prepare(value: Field) -> Field:
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
    if sp.issparse(value):
        return torch.from_numpy(value[index].toarray())
    return value[torch.as_tensor(index, device=value.device)]


class BatchLoader:
    """Minibatches of a source in the order a sampler gives (the seam where prefetching will go).

    Parameters
    ----------
    source
        Where the rows are.
    sampler
        Which rows each batch holds (already sharded for this rank).
    batch_size
        Rows per batch on this rank.
    device
        Where the tensors go.
    """

    def __init__(self, source: ArraySource, sampler: Sampler, batch_size: int, device: torch.device) -> None:
        self.source, self.sampler, self.batch_size, self.device = source, sampler, batch_size, device

    def next(self) -> dict[str, torch.Tensor]:
        """The next minibatch."""
        return self.source.fetch(self.sampler.next_index(self.batch_size), self.device)

    def state_dict(self) -> dict[str, Any]:
        """The sampler's position (what a checkpoint needs to continue the same sequence)."""
        return self.sampler.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state_dict`."""
        self.sampler.load_state_dict(state)


__all__ = ["ArraySource", "BatchLoader"]
