"""Checks that turn bad input into one readable :class:`~biogan.errors.InvalidDataError`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from biogan.errors import InvalidDataError

Matrix = np.ndarray | sp.spmatrix | sp.sparray


def stored_values(X: Matrix) -> np.ndarray:
    """The explicitly stored values of a dense or sparse matrix (no densifying)."""
    if sp.issparse(X):
        return np.asarray(X.data)
    return np.asarray(X).ravel()


def check_finite(X: Matrix, what: str = "the data") -> None:
    """Raise if ``X`` holds NaN or infinite values, saying how many."""
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
        Dense or sparse cells x genes matrix.
    what
        How to name the matrix in the message (e.g. ``"layer 'counts'"``).
    hint
        Appended to the non-integer message, e.g. which layer to pass instead.
    """
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidDataError(f"{what} is empty (shape {X.shape}); need at least one cell and one gene")
    check_finite(X, what)
    values = stored_values(X)
    if (values < 0).any():
        raise InvalidDataError(
            f"{what} has {int((values < 0).sum())} negative values; raw counts are never negative "
            "(was the data scaled or centred?)"
        )
    frac = np.abs(values - np.rint(values))
    if (frac > 1e-3).any():
        example = float(values[np.argmax(frac)])
        raise InvalidDataError(
            f"{what} holds non-integer values (e.g. {example:g}); biogan needs raw integer counts, "
            "not normalised or log-transformed data." + (f" {hint}" if hint else "")
        )


def dense_table(X: object) -> np.ndarray:
    """A dense 2-D array from array-like or sparse ``X`` (implicit zeros are zeros); other shapes and
    complex values raise (in the words scikit-learn's estimator checks expect)."""
    if hasattr(X, "toarray"):
        X = X.toarray()
    A = np.asarray(X)
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
