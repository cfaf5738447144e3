"""Which rows go into each minibatch: seeded, sharded per DDP rank, and checkpointable.

Each sampler owns a :class:`torch.Generator` seeded from the run seed and the rank, so the order of
batches does not depend on any other randomness, a checkpoint can store it (:meth:`Sampler.state_dict`)
and a resumed run continues the very same sequence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from biogan.data.validation import MIN_SAMPLES
from biogan.errors import InvalidDataError

CLASS_WEIGHTS = ("uniform", "proportional")


def derived_seed(seed: int, *keys: int) -> int:
    """A 63-bit seed for the stream named by ``keys`` (rank, purpose, ...), independent of the others."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(2, np.uint64)[0] >> 1)


def shard(rows: np.ndarray, seed: int, rank: int, world_size: int) -> np.ndarray:
    """This rank's part of ``rows``: a seeded permutation cut into ``world_size`` disjoint pieces.

    With fewer rows than ranks every rank keeps all of them (tiny classes must stay trainable).
    """
    rows = np.asarray(rows, dtype=np.int64)
    if world_size <= 1 or len(rows) < world_size:
        return rows
    order = np.random.default_rng(derived_seed(seed, 7)).permutation(len(rows))
    return np.sort(rows[order[rank::world_size]])


class Sampler:
    """Base class: ``next_index(batch_size)`` row indices, and the state to continue the sequence."""

    def __init__(self, seed: int, rank: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(derived_seed(seed, rank, 1))

    def next_index(self, batch_size: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"].cpu())


class ShuffleSampler(Sampler):
    """Epochs over this rank's shard of ``rows``, each in a fresh random order (no replacement within one).

    Parameters
    ----------
    rows
        The rows that may be drawn (e.g. the training part of a split).
    seed, rank, world_size
        Run seed and this process's place among the DDP ranks.
    """

    def __init__(self, rows: np.ndarray, seed: int, rank: int = 0, world_size: int = 1) -> None:
        super().__init__(seed, rank)
        self.rows = shard(rows, seed, rank, world_size)
        if len(self.rows) == 0:
            raise InvalidDataError("there are no rows to sample from")
        self.epoch, self.position = 0, 0
        self._start_epoch()

    def _start_epoch(self) -> None:
        self._epoch_state = self.generator.get_state()  # enough to rebuild this epoch's order
        self.order = torch.randperm(len(self.rows), generator=self.generator).numpy()

    def next_index(self, batch_size: int) -> np.ndarray:
        parts, needed = [], batch_size
        while needed > 0:
            if self.position == len(self.order):
                self.epoch, self.position = self.epoch + 1, 0
                self._start_epoch()
            take = self.order[self.position : self.position + needed]
            self.position += len(take)
            needed -= len(take)
            parts.append(take)
        return self.rows[np.concatenate(parts)]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_generator": self._epoch_state, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["epoch_generator"].cpu())
        self._start_epoch()
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class ClassSampler(Sampler):
    """A class per row (``uniform``: every class equally often, i.e. class-balanced; ``proportional``:
    label-stratified, as in the data), then a row of that class, both with replacement.

    Parameters
    ----------
    codes
        Class of every row.
    n_classes
        Number of classes (classes without rows are never drawn).
    weights
        ``"uniform"`` or ``"proportional"``.
    seed, rank, world_size
        Run seed and this process's place among the DDP ranks (each class is sharded on its own).
    rows
        The rows that may be drawn (default: all).
    """

    def __init__(
        self,
        codes: np.ndarray,
        n_classes: int,
        weights: str = "uniform",
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        rows: np.ndarray | None = None,
    ) -> None:
        super().__init__(seed, rank)
        if weights not in CLASS_WEIGHTS:
            raise InvalidDataError(f"class weights must be one of {CLASS_WEIGHTS}, not {weights!r}")
        codes = np.asarray(codes, dtype=np.int64)
        rows = np.arange(len(codes)) if rows is None else np.asarray(rows, dtype=np.int64)
        members = [shard(rows[codes[rows] == k], seed + k, rank, world_size) for k in range(n_classes)]
        sizes = np.array([len(m) for m in members], dtype=np.float64)
        if sizes.sum() == 0:
            raise InvalidDataError("there are no rows to sample from")
        self.members = np.concatenate(members)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.sizes = sizes.astype(np.int64)
        chance = (sizes > 0).astype(np.float64) if weights == "uniform" else sizes
        self.class_weights = torch.from_numpy(chance / chance.sum())

    def next_index(self, batch_size: int) -> np.ndarray:
        y = torch.multinomial(self.class_weights, batch_size, replacement=True, generator=self.generator)
        y = y.numpy()
        u = torch.rand(batch_size, generator=self.generator, dtype=torch.float64).numpy()
        return self.members[self.starts[y] + (u * self.sizes[y]).astype(np.int64)]


def validation_split(codes: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows, stratified by class; no split (both all rows) when the validation part
    would hold fewer than ``2 * MIN_SAMPLES`` rows or a class would lose its last rows."""
    rows = np.arange(len(codes))
    if share <= 0 or share * len(codes) < 2 * MIN_SAMPLES or np.bincount(codes).min() * share < 1:
        return rows, rows
    train, valid = train_test_split(rows, test_size=share, random_state=seed, stratify=codes)
    return np.sort(train), np.sort(valid)


__all__ = [
    "CLASS_WEIGHTS",
    "ClassSampler",
    "Sampler",
    "ShuffleSampler",
    "derived_seed",
    "shard",
    "validation_split",
]
