"""Helpers shared by every command-line module: one-line errors, label parsing, layer choice."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from biogan.errors import BioganError, InvalidDataError

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Print a :class:`BioganError` (or a bad option value) as one line and exit with status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (BioganError, ValueError) as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def parse_label_counts(text: str | None) -> dict[str, int] | None:
    """``"B cell=500,T cell=500"`` -> ``{"B cell": 500, "T cell": 500}``."""
    if not text:
        return None
    out: dict[str, int] = {}
    for item in text.split(","):
        label, sep, count = item.rpartition("=")
        if not sep or not label.strip() or not count.strip().isdigit():
            raise InvalidDataError(f"cannot read {item!r}: write labels as 'name=count,name=count'")
        out[label.strip()] = int(count)
    return out


def pick_layer(adata: Any, layer: str | None) -> str | None:
    """The layer the user named, else ``counts`` when present, else ``.X``."""
    if layer is not None:
        return layer
    return "counts" if "counts" in adata.layers else None


def check_training_length(max_steps: int | None, max_minutes: float | None = None) -> None:
    """Refuse ``--max-steps`` below 1 and a ``--max-minutes`` that is not positive (``None``: unset)."""
    if max_steps is not None and max_steps < 1:
        raise InvalidDataError(f"--max-steps must be at least 1, not {max_steps}")
    if max_minutes is not None and max_minutes <= 0:
        raise InvalidDataError(f"--max-minutes must be positive, not {max_minutes}")


def parse_composition(
    text: str | None,
) -> str | list[str] | list[list[str]] | dict[str, list[str]] | tuple[()] | None:
    """The ``composition`` option from ``--composition`` text.

    ``a,b,c`` is one group of columns, ``a,b;c,d`` two groups, ``wbc=a,b;cells=c,d`` named groups,
    ``all-numeric`` every numeric column but the label and the conditions, ``none`` no group; ``None`` or
    blank text gives ``None`` (training: detect a group; evaluation: none).
    """
    if text is None or not text.strip():
        return None
    text = text.strip()
    if text.lower() == "none":
        return ()
    if text == "all-numeric":
        return text
    groups = [g for g in text.split(";") if g.strip()]
    if any("=" in g.split(",", 1)[0] for g in groups):
        return dict(_named_group(g, i) for i, g in enumerate(groups, 1))
    lists = [split_names(g) for g in groups]
    return lists[0] if len(lists) == 1 else lists


def _named_group(text: str, number: int) -> tuple[str, list[str]]:
    name, sep, columns = text.partition("=")
    if not sep or "," in name:  # no name, or the '=' belongs to a column name
        name, columns = "", text
    return (name.strip() or f"group {number}", split_names(columns))


def split_names(text: str | None) -> list[str]:
    """Comma-separated names as a list (blank entries dropped; ``None`` gives ``[]``)."""
    return [c.strip() for c in text.split(",") if c.strip()] if text else []
