"""Typed hyperparameter dataclasses <-> JSON (nested dataclasses and tuples survive the round trip)."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) dataclass."""
    return dataclasses.asdict(config)


def config_from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Rebuild ``cls`` from :func:`config_to_dict` output, restoring nested dataclasses and tuples.

    Unknown keys raise ``TypeError`` naming them, so a typo in an override is not silently ignored.
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise TypeError(f"{cls.__name__} has no setting(s) {', '.join(unknown)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def apply_overrides(config: T, overrides: dict[str, Any]) -> T:
    """``config`` with single fields replaced; names of the nested ``train`` settings go there."""
    if not overrides:
        return config
    values = config_to_dict(config)
    for key, value in overrides.items():
        (values["train"] if key in values.get("train", {}) else values)[key] = value
    return config_from_dict(type(config), values)
