"""Checks that turn bad input into one readable :class:`~biogan.errors.InvalidDataError`.

The shared validation layer: every entry point (train, sample, evaluate, report, impute, augment) applies
the same rules with the same thresholds (the constants below), each raising with the problem and the fix
in one sentence, or warning where the data stay usable: too few samples, missing or continuous labels,
one-member classes, counts beyond int32, duplicated names, sparse columns, augmentation targets out of
proportion, and work that would not fit in memory.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from biogan.data.ondisk import OnDiskMatrix, is_on_disk, row_blocks
from biogan.errors import InvalidDataError

Matrix = np.ndarray | sp.spmatrix | sp.sparray | OnDiskMatrix


def stored_values(X: Matrix) -> np.ndarray:
    """The explicitly stored values of a dense or sparse in-memory matrix (no densifying)."""
    if sp.issparse(X):
        return np.asarray(X.data)
    return np.asarray(X).ravel()


def check_finite(X: Matrix, what: str = "the data") -> None:
    """Raise if ``X`` holds NaN or infinite values, saying how many."""
    if is_on_disk(X):
        _check_counts_on_disk(X, what, "", finite_only=True)
        return
    values = stored_values(X)
    if not np.issubdtype(values.dtype, np.number):
        raise InvalidDataError(f"{what} is not numeric (dtype {values.dtype})")
    bad = ~np.isfinite(values)
    if bad.any():
        n_nan = int(np.isnan(values).sum())
        raise InvalidDataError(
            f"{what} contains {n_nan} NaN and {int(bad.sum()) - n_nan} infinite values; counts must be finite"
        )


def check_counts(X: Matrix, what: str = "the count matrix", hint: str = "") -> None:
    """Raise unless ``X`` is a non-empty matrix of finite, non-negative integers.

    Parameters
    ----------
    X
        Dense or sparse cells x genes matrix, in memory or on disk (checked one row block at a time).
    what
        How to name the matrix in the message (e.g. ``"layer 'counts'"``).
    hint
        Appended to the non-integer message, e.g. which layer to pass instead.
    """
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidDataError(f"{what} is empty (shape {X.shape}); need at least one cell and one gene")
    if is_on_disk(X):
        _check_counts_on_disk(X, what, hint)
        return
    check_finite(X, what)
    values = stored_values(X)
    _check_count_values(values, int((values < 0).sum()), what, hint)


def _check_count_values(values: np.ndarray, n_negative: int, what: str, hint: str) -> None:
    if n_negative:
        raise InvalidDataError(
            f"{what} has {n_negative} negative values; raw counts are never negative "
            "(was the data scaled or centred?)"
        )
    frac = np.abs(values - np.rint(values))
    if (frac > 1e-3).any():
        example = float(values[np.argmax(frac)])
        raise InvalidDataError(
            f"{what} holds non-integer values (e.g. {example:g}); biogan needs raw integer counts, "
            "not normalised or log-transformed data." + (f" {hint}" if hint else "")
        )


def _check_counts_on_disk(X: OnDiskMatrix, what: str, hint: str, finite_only: bool = False) -> None:
    """:func:`check_counts` streamed: totals over every block, so messages count the whole matrix."""
    if not np.issubdtype(X.dtype, np.number):
        raise InvalidDataError(f"{what} is not numeric (dtype {X.dtype})")
    summary = value_summary(X)
    if summary["n_nan"] or summary["n_inf"]:
        n_nan, n_inf = summary["n_nan"], summary["n_inf"]
        raise InvalidDataError(
            f"{what} contains {n_nan} NaN and {n_inf} infinite values; counts must be finite"
        )
    if not finite_only:
        _check_count_values(summary["non_integer"], summary["n_negative"], what, hint)


def value_summary(X: OnDiskMatrix) -> dict[str, Any]:
    """What every value check needs from an on-disk matrix, in one streamed pass, kept on the matrix (the
    file is read-only while biogan uses it, so set-up and training checks never read it twice)."""
    if X.value_summary is not None:
        return X.value_summary
    summary: dict[str, Any] = {"n_nan": 0, "n_inf": 0, "n_negative": 0, "n_large": 0, "largest": 0.0}
    non_integer = np.zeros(0)
    for _, block in row_blocks(X):
        values = stored_values(block)
        nan, finite = np.isnan(values), np.isfinite(values)
        summary["n_nan"] += int(nan.sum())
        summary["n_inf"] += int((~finite & ~nan).sum())
        kept = values[finite]
        summary["n_negative"] += int((kept < 0).sum())
        if kept.size:
            summary["n_large"] += int((kept > MAX_COUNT).sum())
            summary["largest"] = max(summary["largest"], float(kept.max()))
        if not non_integer.size:
            frac = np.abs(kept - np.rint(kept))
            non_integer = kept[frac > 1e-3][:1]
    summary["non_integer"] = non_integer
    X.value_summary = summary
    return summary


def dense_table(X: object) -> np.ndarray:
    """A dense 2-D array from array-like or sparse ``X`` (implicit zeros are zeros); other shapes and
    complex values raise (in the words scikit-learn's estimator checks expect)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    try:
        A = np.asarray(X)
    except (TypeError, ValueError) as err:  # ragged nested lists and other non-tables
        raise InvalidDataError(f"the input is not a table of values: {err}") from None
    if A.ndim != 2:
        raise InvalidDataError(
            f"expected a 2-D table, got an array of shape {A.shape}; Reshape your data with "
            "X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one sample"
        )
    if np.iscomplexobj(A):
        raise InvalidDataError("Complex data not supported: only real values can be used")
    return A


def numeric_matrix(X: object, what: str = "X") -> np.ndarray:
    """A float64 matrix of finite values or NaN (missing) from array-like ``X``, or one readable error."""
    A = dense_table(X)
    try:
        A = A.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise InvalidDataError(f"{what} is not numeric: {err}") from None
    if A.size == 0:
        raise InvalidDataError(f"{what} must be a non-empty 2-D table, got shape {A.shape}")
    if np.isinf(A).any():
        n_inf = int(np.isinf(A).sum())
        raise InvalidDataError(f"{what} contains {n_inf} infinite values; use NaN for missing")
    return A


# ---------------------------------------------------------------------- the rules every entry point shares
# One constant per rule, so train, sample, evaluate, report, impute and augment decide alike (README: "Bad
# input" lists them).
MIN_SAMPLES = 10
"""Fewest cells or rows a data set may have to train, impute, augment or evaluate (for evaluation: per set
after matching sizes)."""
MIN_CLASS_SIZE = 2
"""Fewest members a class (label value) may have for training or augmentation: from one sample a generator
can only learn to copy it."""
MAX_CLASSES = 50
MAX_DISTINCT_SHARE = 0.5
"""A label column with more than :data:`MAX_CLASSES` classes that are also more than this share of its
rows looks continuous (an id or a measurement, not a class)."""
MAX_COUNT = 2**31 - 1
"""Largest count accepted for training without ``allow_large_counts=True`` (the int32 range)."""
MAX_MISSING_SHARE = 0.5
"""A column with more than this share missing is too sparse for the imputer to learn; it warns."""
MAX_AUGMENT_FACTOR = 10
"""``augment`` grows no label beyond this multiple of the largest real label unless ``force=True``."""
DENSE_BYTES_PER_VALUE = 24
"""Bytes per matrix entry while counts are densified and log-normalised (float64 working copies)."""


def check_enough(n: int, what: str, noun: str = "cell", minimum: int = MIN_SAMPLES) -> None:
    """Refuse a data set with fewer than ``minimum`` samples.

    Parameters
    ----------
    n
        Samples in the data set.
    what
        How to name the data set in the message (``"the training data"``).
    noun
        What one sample is called (``"cell"``, ``"row"``).
    minimum
        Fewest samples accepted.

    Raises
    ------
    InvalidDataError
        ``n < minimum``.
    """
    if n < minimum:
        # "n_samples = 1" is also what scikit-learn's estimator checks look for in such an error
        plural = "s" if n != 1 else ""
        found = f"is empty (0 {noun}s)" if n == 0 else f"has {n} {noun}{plural} (n_samples = {n})"
        raise InvalidDataError(
            f"{what} {found} but needs at least {minimum}; add {noun}s (or combine data sets) first"
        )


def check_no_missing_labels(labels: pd.Series, labels_key: Hashable, noun: str = "cell") -> None:
    """Refuse labels with missing values (NaN / None), saying how many and how to fix it.

    Raises
    ------
    InvalidDataError
        Some labels are missing.
    """
    missing = int(pd.Series(labels).isna().sum())
    if missing:
        raise InvalidDataError(
            f"label column {labels_key!r} has missing labels ({missing} of {len(labels)} {noun}s); "
            f"drop those {noun}s or fill in their label"
        )


def check_not_continuous(labels: pd.Series, labels_key: Hashable) -> None:
    """Refuse a label column that looks like a measurement or an id rather than classes.

    It looks continuous when it holds floats that are not whole numbers, or more than
    :data:`MAX_CLASSES` classes that are also more than :data:`MAX_DISTINCT_SHARE` of its rows.

    Raises
    ------
    InvalidDataError
        With the number of classes found.
    """
    labels = pd.Series(labels).dropna()
    n_classes = int(labels.nunique())
    values = labels.to_numpy()
    if values.dtype.kind == "f" and not np.all(values == np.rint(values)):
        raise InvalidDataError(
            f"label column {labels_key!r} holds non-integer numbers ({n_classes} distinct values): it looks "
            "continuous, not like classes; bin it into classes or choose a categorical column"
        )
    if n_classes > MAX_CLASSES and n_classes > MAX_DISTINCT_SHARE * len(labels):
        raise InvalidDataError(
            f"label column {labels_key!r} has {n_classes} classes for {len(labels)} samples: it looks "
            "continuous or like an id, not like classes; choose a categorical column or bin it"
        )


def check_class_sizes(labels: pd.Series, labels_key: Hashable, noun: str = "cell") -> None:
    """Refuse classes with fewer than :data:`MIN_CLASS_SIZE` members (train and augment alike).

    Raises
    ------
    InvalidDataError
        Naming the classes and the fix.
    """
    sizes = pd.Series(labels).astype(str).value_counts()
    small = sorted(sizes.index[sizes < MIN_CLASS_SIZE])
    if small:
        shown = ", ".join(map(repr, small[:5])) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
        raise InvalidDataError(
            f"label column {labels_key!r} has {len(small)} class{'es' if len(small) != 1 else ''} with a "
            f"single {noun} ({shown}): a generator cannot learn a class from one {noun}; merge the label "
            f"into another or drop those {noun}s"
        )


def check_training_labels(labels: pd.Series, labels_key: Hashable | None, noun: str = "cell") -> None:
    """Every label rule for data a model trains on: none missing, not continuous, no one-member class."""
    if labels_key is None:
        return
    check_no_missing_labels(labels, labels_key, noun)
    check_not_continuous(labels, labels_key)
    check_class_sizes(labels, labels_key, noun)


def check_count_range(X: Matrix, what: str = "the counts", allow_large_counts: bool = False) -> None:
    """Refuse counts above :data:`MAX_COUNT` (int32) unless ``allow_large_counts``.

    Raises
    ------
    InvalidDataError
        Saying how many values and how to allow them.
    """
    if allow_large_counts:
        return
    if is_on_disk(X):
        n_large, largest = value_summary(X)["n_large"], value_summary(X)["largest"]
    else:
        values = stored_values(X)
        n_large = int((values > MAX_COUNT).sum())
        largest = float(values.max()) if values.size else 0.0
    if n_large:
        raise InvalidDataError(
            f"{what} has {n_large} values above 2^31 - 1 (largest {largest:.3g}), beyond any "
            "read count; check the units, or pass allow_large_counts=True (--allow-large-counts) to "
            "train anyway"
        )


def make_names_unique(adata: ad.AnnData, what: str = "the data") -> None:
    """Rename duplicated gene (``var``) and cell (``obs``) names in place, warning which were renamed.

    Warns
    -----
    UserWarning
        Naming up to five duplicated names per axis and what they became.
    """
    for axis, noun in (("var", "gene"), ("obs", "cell")):
        names = getattr(adata, f"{axis}_names")
        if names.is_unique:
            continue
        before = list(map(str, names))
        getattr(adata, f"{axis}_names_make_unique")()
        after = list(map(str, getattr(adata, f"{axis}_names")))
        renamed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
        shown = ", ".join(f"{old!r} -> {new!r}" for old, new in renamed[:5])
        warnings.warn(
            f"{what} has duplicated {noun} names; renamed {len(renamed)}: {shown}"
            + (", ..." if len(renamed) > 5 else ""),
            UserWarning,
            stacklevel=3,
        )


def sparse_columns(observed: pd.DataFrame, max_missing: float = MAX_MISSING_SHARE) -> list[Hashable]:
    """Columns with more than ``max_missing`` of their entries missing; warns naming them.

    Parameters
    ----------
    observed
        ``True`` where an entry is observed, one column per feature.
    max_missing
        Largest missing share a column may have without a warning.
    """
    share = 1 - observed.mean(axis=0)
    sparse = [column for column, value in share.items() if value > max_missing]
    if sparse:
        shown = ", ".join(f"{c!r} ({share[c]:.0%})" for c in sparse[:5])
        warnings.warn(
            f"{len(sparse)} column(s) have more than {max_missing:.0%} missing: {shown}"
            + (", ..." if len(sparse) > 5 else "")
            + "; their imputations rest on few values (see sparse_columns_), collect more or drop them",
            UserWarning,
            stacklevel=3,
        )
    return sparse


def check_growth(label_counts: pd.Series, to_add: dict[str, int], noun: str, force: bool = False) -> None:
    """Refuse an augmentation target beyond :data:`MAX_AUGMENT_FACTOR` x the largest real label.

    Raises
    ------
    InvalidDataError
        Naming the labels, unless ``force``.
    """
    if force or not to_add:
        return
    cap = MAX_AUGMENT_FACTOR * int(label_counts.max())
    final = {label: int(label_counts[label]) + k for label, k in to_add.items()}
    over = {label: size for label, size in final.items() if size > cap}
    if over:
        shown = ", ".join(f"{label}: {size}" for label, size in list(over.items())[:5])
        raise InvalidDataError(
            f"the target would grow labels beyond {MAX_AUGMENT_FACTOR}x the largest real label "
            f"({cap} {noun}s): {shown}; ask for less or pass force=True (--force)"
        )


# ---------------------------------------------------------------------- memory
def available_memory() -> int | None:
    """Bytes of memory available to this process now (``MemAvailable``, capped by a cgroup limit), or
    ``None`` when the system does not say."""
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    try:  # a container's limit (cgroup v2) is lower than the machine's free memory
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text())
            found.append(max(int(limit) - used, 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def format_bytes(n: float) -> str:
    """``1.5 GB`` style (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover - the loop always returns


def check_memory(needed: float, task: str, fix: str, device: Any = None) -> None:
    """Refuse work whose memory estimate exceeds what is available (before any of it is done).

    Parameters
    ----------
    needed
        Estimated peak bytes.
    task
        What would run (``"sampling 10000000 cells x 765 genes"``).
    fix
        What to do instead (``"ask for fewer cells or sample in several runs"``).
    device
        A CUDA device to check instead of host memory (its free memory as the driver reports it).

    Raises
    ------
    InvalidDataError
        ``needed`` is more than :func:`available_memory` (or the GPU's free memory).
    """
    free = available_memory()
    if device is not None and getattr(device, "type", str(device)) == "cuda":
        import torch

        free = int(torch.cuda.mem_get_info(device)[0])
    if free is not None and needed > free:
        raise InvalidDataError(
            f"{task} needs about {format_bytes(needed)} of memory but {format_bytes(free)} is available; "
            f"{fix}"
        )


def count_sample_bytes(n: int, n_genes: int, zero_fraction: float = 0.0, batch_size: int = 4096) -> float:
    """Peak bytes of sampling ``n`` cells: one dense float32 chunk on the device and the host, and the CSR
    output (float32 values, int32 indices) at ``zero_fraction`` held four times while it is assembled
    (chunks, stacked, ``.X`` and ``layers["counts"]``)."""
    chunk = min(n, batch_size) * n_genes * 4 * 2
    csr = n * n_genes * (1 - zero_fraction) * 8 + (n + 1) * 8
    return 8.0 * n + chunk + 4 * csr


def table_sample_bytes(n: int, n_columns: int, width: int | None = None, noise_dim: int = 32) -> float:
    """Peak bytes of sampling ``n`` table rows: noise and encoded rows (float32, ``width`` wide), decoded
    columns and the DataFrame (16 bytes a value each)."""
    width = n_columns if width is None else width
    return float(n) * (8 + 4 * noise_dim + 8 * width + 32 * n_columns)
