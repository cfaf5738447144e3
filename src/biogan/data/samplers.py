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


class OrderSampler(Sampler):
    """Base class: serves ``order`` front to back without replacement, calling :meth:`_advance` for the
    next order whenever it runs out (``position`` marks the next entry)."""

    order: np.ndarray
    position: int

    def _advance(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _rows_of(self, taken: np.ndarray) -> np.ndarray:
        """The rows the entries of ``order`` stand for (default: they are rows)."""
        return taken

    def next_index(self, batch_size: int) -> np.ndarray:
        parts, needed = [], batch_size
        while needed > 0:
            if self.position == len(self.order):
                self._advance()
            take = self.order[self.position : self.position + needed]
            self.position += len(take)
            needed -= len(take)
            parts.append(take)
        return self._rows_of(np.concatenate(parts))


class ShuffleSampler(OrderSampler):
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

    def _advance(self) -> None:
        self.epoch, self.position = self.epoch + 1, 0
        self._start_epoch()

    def _rows_of(self, taken: np.ndarray) -> np.ndarray:
        return self.rows[taken]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch_generator": self._epoch_state, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["epoch_generator"].cpu())
        self._start_epoch()
        self.epoch, self.position = int(state["epoch"]), int(state["position"])


class BlockShuffleSampler(OrderSampler):
    """Epochs over row *blocks* for data read from disk: the fast loaders' block shuffling.

    Each epoch visits this rank's blocks in a fresh random order, ``buffer_blocks`` at a time; the rows
    of the blocks in the buffer are shuffled together and served without replacement. A batch thus reads
    a few contiguous blocks (cached by the source) instead of scattered rows, while rows from
    ``buffer_blocks`` distant parts of the file still mix in every batch. Orders are derived from
    (seed, rank, epoch, buffer), so the state is three integers.

    Parameters
    ----------
    rows
        The rows that may be drawn.
    block_rows
        Rows per block (the source's read size).
    buffer_blocks
        Blocks shuffled together.
    seed, rank, world_size
        Run seed and this process's place among the DDP ranks (blocks are split between ranks).
    """

    def __init__(
        self,
        rows: np.ndarray,
        block_rows: int,
        buffer_blocks: int = 16,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__(seed, rank)
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            raise InvalidDataError("there are no rows to sample from")
        blocks = np.unique(rows // block_rows)
        mine = shard(blocks, seed, rank, world_size)
        self.rows = rows[np.isin(rows // block_rows, mine)]
        self.block_of = self.rows // block_rows
        self.blocks = mine
        self.seed, self.rank, self.buffer_blocks = int(seed), int(rank), int(buffer_blocks)
        self.epoch, self.buffer, self.position = 0, 0, 0
        self._fill()

    def _fill(self) -> None:
        """The shuffled rows of the current buffer (moving to the next epoch when blocks run out)."""
        while True:
            order = np.random.default_rng(derived_seed(self.seed, self.rank, 11, self.epoch))
            blocks = order.permutation(self.blocks)
            chosen = blocks[self.buffer * self.buffer_blocks : (self.buffer + 1) * self.buffer_blocks]
            if len(chosen):
                break
            self.epoch, self.buffer = self.epoch + 1, 0
        members = self.rows[np.isin(self.block_of, chosen)]
        mix = np.random.default_rng(derived_seed(self.seed, self.rank, 12, self.epoch, self.buffer))
        self.order = mix.permutation(members)

    def _advance(self) -> None:
        self.buffer, self.position = self.buffer + 1, 0
        self._fill()

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "buffer": self.buffer, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.epoch, self.buffer = int(state["epoch"]), int(state["buffer"])
        self._fill()
        self.position = int(state["position"])


def check_class_weights(weights: str) -> None:
    """Refuse a class weighting other than :data:`CLASS_WEIGHTS`."""
    if weights not in CLASS_WEIGHTS:
        raise InvalidDataError(f"class weights must be one of {CLASS_WEIGHTS}, not {weights!r}")


def class_chances(sizes: np.ndarray, weights: str) -> torch.Tensor:
    """Probability of drawing each class: equal for every class with rows (``uniform``) or in proportion
    to its rows (``proportional``)."""
    if sizes.sum() == 0:
        raise InvalidDataError("there are no rows to sample from")
    chance = (sizes > 0).astype(np.float64) if weights == "uniform" else sizes
    return torch.from_numpy(chance / chance.sum())


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
        check_class_weights(weights)
        codes = np.asarray(codes, dtype=np.int64)
        rows = np.arange(len(codes)) if rows is None else np.asarray(rows, dtype=np.int64)
        members = [shard(rows[codes[rows] == k], seed + k, rank, world_size) for k in range(n_classes)]
        sizes = np.array([len(m) for m in members], dtype=np.float64)
        self.class_weights = class_chances(sizes, weights)
        self.members = np.concatenate(members)
        self.starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.sizes = sizes.astype(np.int64)

    def next_index(self, batch_size: int) -> np.ndarray:
        y = torch.multinomial(self.class_weights, batch_size, replacement=True, generator=self.generator)
        y = y.numpy()
        u = torch.rand(batch_size, generator=self.generator, dtype=torch.float64).numpy()
        return self.members[self.starts[y] + (u * self.sizes[y]).astype(np.int64)]


class BlockClassSampler(Sampler):
    """:class:`ClassSampler` for rows read from disk: a class per row by ``weights``, then a row of that class
    read from a small window of the blocks that hold it (per-label block indices).

    Each class walks its own blocks in a random order, ``window_blocks`` at a time, and serves the rows it
    has in the current window in a shuffled order before moving on, so a batch touches at most
    ``n_classes * window_blocks`` cached blocks however the labels are spread over the file, and every row
    of a class comes up once per pass over its blocks. Tiny classes stay trainable on every rank.

    Parameters
    ----------
    codes, n_classes, weights, seed, rank, world_size, rows
        As for :class:`ClassSampler` (blocks, not rows, are split between ranks).
    block_rows
        Rows per block (the source's read size).
    window_blocks
        Blocks of one class read at a time.
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
        block_rows: int = 4096,
        window_blocks: int = 2,
    ) -> None:
        super().__init__(seed, rank)
        check_class_weights(weights)
        codes = np.asarray(codes, dtype=np.int64)
        rows = np.arange(len(codes)) if rows is None else np.asarray(rows, dtype=np.int64)
        mine = set(shard(np.unique(rows // block_rows), seed, rank, world_size).tolist())
        self.members: list[np.ndarray] = []
        for k in range(n_classes):
            of_k = rows[codes[rows] == k]
            local = of_k[np.isin(of_k // block_rows, list(mine))]
            self.members.append(local if len(local) else of_k)  # a class absent from my blocks: all its rows
        self.class_weights = class_chances(
            np.array([len(m) for m in self.members], dtype=np.float64), weights
        )
        self.seed, self.rank = int(seed), int(rank)
        self.block_rows, self.window_blocks = int(block_rows), int(window_blocks)
        self.cursor = np.zeros((n_classes, 3), dtype=np.int64)  # per class: pass, window, position
        self._orders: dict[int, np.ndarray] = {}

    def _order(self, k: int) -> np.ndarray:
        """Class ``k``'s shuffled rows in its current window (the next pass when its blocks run out)."""
        if k not in self._orders:
            members = self.members[k]
            blocks = np.unique(members // self.block_rows)
            while True:
                pass_, window = int(self.cursor[k, 0]), int(self.cursor[k, 1])
                rng = np.random.default_rng(derived_seed(self.seed, self.rank, 13, k, pass_))
                chosen = rng.permutation(blocks)[
                    window * self.window_blocks : (window + 1) * self.window_blocks
                ]
                if len(chosen):
                    break
                self.cursor[k] = (pass_ + 1, 0, 0)
            inside = members[np.isin(members // self.block_rows, chosen)]
            mix = np.random.default_rng(derived_seed(self.seed, self.rank, 14, k, pass_, window))
            self._orders[k] = mix.permutation(inside)
        return self._orders[k]

    def next_index(self, batch_size: int) -> np.ndarray:
        y = torch.multinomial(self.class_weights, batch_size, replacement=True, generator=self.generator)
        y = y.numpy()
        out = np.empty(batch_size, dtype=np.int64)
        for k in np.unique(y):
            where = np.flatnonzero(y == k)
            taken: list[np.ndarray] = []
            needed = len(where)
            while needed:
                order = self._order(int(k))
                position = int(self.cursor[k, 2])
                take = order[position : position + needed]
                taken.append(take)
                needed -= len(take)
                self.cursor[k, 2] += len(take)
                if self.cursor[k, 2] == len(order):  # window used up: the next one
                    self.cursor[k, 1:] = (self.cursor[k, 1] + 1, 0)
                    del self._orders[int(k)]
            out[where] = np.concatenate(taken)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "cursor": torch.from_numpy(self.cursor.copy())}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"].cpu())
        self.cursor = state["cursor"].cpu().numpy().astype(np.int64).copy()
        self._orders = {}


def validation_split(
    codes: np.ndarray, share: float, seed: int, keep_small_classes: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation rows, stratified by class. A class too small to give one validation row
    stays whole in training with ``keep_small_classes``, else it cancels the split. No split (both all
    rows) when the validation part would hold fewer than ``2 * MIN_SAMPLES`` rows."""
    rows = np.arange(len(codes))
    splittable = np.bincount(codes)[codes] * share >= 1
    too_few = share * splittable.sum() < 2 * MIN_SAMPLES
    if share <= 0 or too_few or not (keep_small_classes or splittable.all()):
        return rows, rows
    train, valid = train_test_split(
        rows[splittable], test_size=share, random_state=seed, stratify=codes[splittable]
    )
    return np.sort(np.concatenate([train, rows[~splittable]])), np.sort(valid)


__all__ = [
    "CLASS_WEIGHTS",
    "BlockClassSampler",
    "BlockShuffleSampler",
    "ClassSampler",
    "OrderSampler",
    "Sampler",
    "ShuffleSampler",
    "derived_seed",
    "shard",
    "validation_split",
]
