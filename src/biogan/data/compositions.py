"""Composition groups of a table: columns that are parts of a whole.

A white-cell differential (five percentages summing to 100), cell-type fractions, microbiome relative
abundances (proportions summing to 1) and genus read counts (summing to each sample's sequencing depth)
are *compositions*. A group is declared by its columns (or ``"all-numeric"``) or detected (every numeric
feature column, when their rows sum to one constant). Its scale is

- ``"proportion"``: rows sum to a constant ``total`` (1, 100, ...) within :data:`SUM_TOLERANCE`;
- ``"count"``: whole numbers whose row totals vary (reads, cells counted); the total of each row is then
  a quantity of its own, modelled beside the parts, and generated rows are integers with that total.

Models learn proportions as proportions and counts as counts beside their row total
(:func:`to_learnt_scale`: a count's marginal, depth included, is what a user and a classifier see), and
give them back on the data's scale (:func:`from_learnt_scale`): closed to the total, exact zeros kept,
counts rounded by largest remainder so they add up to the row's (generated) total.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from biogan.data.tables import recorded_decimals
from biogan.errors import InvalidDataError

PROPORTION, COUNT = "proportion", "count"
SUM_TOLERANCE = 0.01
"""Largest relative deviation of a row's sum from the group's total (NHANES percentages: 0.7 %)."""
ALL_NUMERIC = "all-numeric"
MIN_PARTS = 2


@dataclass
class CompositionGroup:
    """One group of part columns.

    Parameters
    ----------
    name
        What messages and the total column call the group.
    columns
        The part columns, in table order.
    scale
        ``"proportion"`` (rows sum to ``total``) or ``"count"`` (whole numbers; per-row totals).
    total
        The constant row sum of a proportion group (``None`` for counts).
    decimals
        The decimals a proportion group's parts were recorded with (``60.1`` %: 1), when the total is a
        whole number of such units; generated parts get the same precision and still sum to the total.
    """

    name: str
    columns: list[Hashable]
    scale: str
    total: float | None = None
    decimals: int | None = None

    @property
    def total_column(self) -> str:
        """Name of the modelled per-row total of a count group."""
        return f"{self.name} total"

    def to_dict(self) -> dict:
        return asdict(self)


CompositionSpec = (
    str | Sequence[Hashable] | Sequence[Sequence[Hashable]] | dict[str, Sequence[Hashable]] | None
)


def resolve_groups(
    frame: pd.DataFrame, spec: CompositionSpec, exclude: Sequence[Hashable] = (), renormalise: bool = False
) -> list[CompositionGroup]:
    """The checked composition groups of ``frame``.

    Parameters
    ----------
    frame
        The table (label and condition columns included).
    spec
        ``None`` (detect: all numeric feature columns, if their rows sum to a constant), ``"all-numeric"``,
        one list of columns, several lists, or ``{name: columns}``.
    exclude
        Columns that are never parts (the label, the conditions).
    renormalise
        Close rows that do not sum to the group's total instead of refusing them.

    Raises
    ------
    InvalidDataError
        Unknown or non-numeric columns, a column in two groups, negative parts, an all-zero row, or rows
        whose sums differ from the total (without ``renormalise``), each with the fix.
    """
    numeric = [c for c in frame.columns if c not in exclude and pd.api.types.is_numeric_dtype(frame[c])]
    if spec is None:
        return _detected(frame, numeric)
    if not isinstance(spec, str) and len(spec) == 0:  # () or []: explicitly none
        return []
    named = _named_lists(spec, numeric)
    seen: set[Hashable] = set()
    groups = []
    for name, columns in named.items():
        _check_columns(frame, name, columns, exclude, seen)
        groups.append(_group(frame, name, list(columns), renormalise))
    return groups


def _detected(frame: pd.DataFrame, numeric: list[Hashable]) -> list[CompositionGroup]:
    """One group of every numeric feature column when their rows sum to one constant; else none."""
    if len(numeric) <= MIN_PARTS:
        return []
    parts = frame[numeric].to_numpy(float)
    if np.isnan(parts).any() or (parts < 0).any():
        return []
    sums = parts.sum(1)
    total = float(np.median(sums))
    if total <= 0 or np.abs(sums / total - 1).max() > SUM_TOLERANCE:
        return []
    return [CompositionGroup("composition", list(numeric), PROPORTION, _round_total(total))]


def _named_lists(spec: CompositionSpec, numeric: list[Hashable]) -> dict[str, Sequence[Hashable]]:
    if isinstance(spec, str):
        if spec != ALL_NUMERIC:
            raise InvalidDataError(
                f"composition {spec!r} is not understood: give the part columns, or {ALL_NUMERIC!r}"
            )
        return {"composition": numeric}
    if isinstance(spec, dict):
        return {str(k): list(v) for k, v in spec.items()}
    spec = list(spec)  # type: ignore[arg-type]
    if spec and all(isinstance(s, list | tuple) for s in spec):
        return {f"composition {i + 1}": list(s) for i, s in enumerate(spec)}
    return {"composition": spec}


def _check_columns(
    frame: pd.DataFrame,
    name: str,
    columns: Sequence[Hashable],
    exclude: Sequence[Hashable],
    seen: set[Hashable],
) -> None:
    if len(columns) < MIN_PARTS:
        raise InvalidDataError(f"{name} has {len(columns)} part column(s); a composition needs at least 2")
    unknown = [c for c in columns if c not in frame.columns]
    if unknown:
        raise InvalidDataError(
            f"{name}: columns {unknown[:5]} are not in the table: {list(frame.columns)[:10]}"
        )
    clash = [c for c in columns if c in exclude or c in seen]
    if clash:
        raise InvalidDataError(
            f"{name}: columns {clash[:5]} are the label, a condition or in another group; a column can be "
            "one of these only"
        )
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        raise InvalidDataError(f"{name}: columns {text[:5]} are not numeric; parts must be numbers")
    seen.update(columns)


def _group(frame: pd.DataFrame, name: str, columns: list[Hashable], renormalise: bool) -> CompositionGroup:
    parts = frame[columns].to_numpy(float)
    if np.isnan(parts).any():
        raise InvalidDataError(
            f"{name} has {int(np.isnan(parts).sum())} missing parts: impute them first "
            "(biogan.impute.GANImputer) or drop the incomplete rows"
        )
    _refuse_rows(frame, parts < 0, f"{name} has negative parts", "parts are amounts; fix or drop the rows")
    sums = parts.sum(1)
    _refuse_rows(
        frame, (sums == 0)[:, None], f"{name} has all-zero rows", "a composition needs at least one part > 0"
    )
    if np.all(parts == np.round(parts)):  # reads or cells counted (also rarefied to one depth)
        return CompositionGroup(name, columns, COUNT)
    total = _round_total(float(np.median(sums)))
    off = np.abs(sums / total - 1)
    if off.max() > SUM_TOLERANCE and not renormalise:
        worst = np.argsort(-off)[:3]
        shown = ", ".join(f"row {frame.index[i]!r} sums to {sums[i]:.4g}" for i in worst)
        raise InvalidDataError(
            f"{name}: rows do not sum to one total ({total:g}, tolerance {SUM_TOLERANCE:.0%}): {shown}; "
            f"{int((off > SUM_TOLERANCE).sum())} rows are off. Fix them, or pass --renormalise "
            "(renormalise=True) to close every row to the total"
        )
    decimals = recorded_decimals(parts)
    if decimals is not None and abs(total * 10**decimals - round(total * 10**decimals)) > 1e-9:
        decimals = None  # 1/3 recorded as 0.33: no whole number of units makes the total
    return CompositionGroup(name, columns, PROPORTION, total, decimals)


def _refuse_rows(frame: pd.DataFrame, bad: np.ndarray, problem: str, fix: str) -> None:
    rows = np.flatnonzero(bad.any(1))
    if len(rows):
        shown = [frame.index[i] for i in rows[:5]]
        raise InvalidDataError(f"{problem} ({len(rows)} rows, e.g. {shown}): {fix}")


def _round_total(total: float) -> float:
    """The nominal total: 100 for percentages that sum to 100.09 on average, 1 for 0.9998."""
    nice = float(f"{total:.2g}")
    return nice if abs(total / nice - 1) <= SUM_TOLERANCE else total


def to_learnt_scale(frame: pd.DataFrame, groups: Sequence[CompositionGroup]) -> pd.DataFrame:
    """``frame`` with every proportion group closed exactly to proportions; count groups keep their counts
    and add their row total as a column, so each count's marginal (depth included) is learnt as it is."""
    out = frame.copy()
    for group in groups:
        parts = frame[group.columns].to_numpy(float)
        sums = parts.sum(1, keepdims=True)
        if group.scale == COUNT:
            out[group.total_column] = sums[:, 0]
        else:
            out[group.columns] = parts / sums
    return out


def from_learnt_scale(
    values: dict[Hashable, np.ndarray],
    groups: Sequence[CompositionGroup],
    presence: dict[Hashable, np.ndarray] | None = None,
) -> None:
    """Give decoded parts (``values``, changed in place) their group's scale.

    Each row is closed to the group's total (count groups: its decoded total, rounded, at least 1, with
    parts rounded by largest remainder so they sum to it). Parts decoded as exact zeros stay zero; a row
    whose parts all decoded to zero gets its mass on the part with the largest ``presence`` score (how far
    the part was from decoding as non-zero; the first part without scores).
    """
    for group in groups:
        parts = np.clip(np.column_stack([values[c] for c in group.columns]).astype(float), 0, None)
        empty = parts.sum(1) == 0
        if empty.any():
            scores = (
                np.zeros_like(parts)
                if presence is None
                else np.column_stack([presence[c] for c in group.columns])
            )
            parts[empty] = np.eye(len(group.columns))[np.argmax(scores[empty], axis=1)]
        props = parts / parts.sum(1, keepdims=True)
        if group.scale == COUNT:
            totals = np.maximum(np.round(values.pop(group.total_column)), 1)
            scaled = largest_remainder(props, totals)
        elif group.decimals is not None:  # recorded precision, by largest remainder: sums stay exact
            unit = 10.0**group.decimals
            units = np.full(len(props), round(group.total * unit))
            scaled = largest_remainder(props, units) / unit
        else:
            scaled = props * group.total
        for j, c in enumerate(group.columns):
            values[c] = scaled[:, j]


def largest_remainder(props: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Whole-number parts of each row that sum to its total (Hamilton's method: floors, then the largest
    remainders get the missing units)."""
    exact = props * totals[:, None]
    counts = np.floor(exact)
    missing = (totals - counts.sum(1)).astype(int)
    order = np.argsort(-(exact - counts), axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(props.shape[1])[None, :].repeat(len(props), 0), axis=1)
    counts += ranks < missing[:, None]
    return counts


def group_from_dict(state: dict) -> CompositionGroup:
    """Rebuild a group written by :meth:`CompositionGroup.to_dict`."""
    return CompositionGroup(**state)


__all__ = [
    "ALL_NUMERIC",
    "COUNT",
    "PROPORTION",
    "SUM_TOLERANCE",
    "CompositionGroup",
    "from_learnt_scale",
    "group_from_dict",
    "largest_remainder",
    "resolve_groups",
    "to_learnt_scale",
]
