"""The model registry: every model type registers once (name -> class), and everything that dispatches on
a model type (``load_model``, ``biogan train/sample/evaluate/report/augment``) reads it from here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

from biogan.errors import CheckpointError, ConfigError

MODELS: dict[str, type] = {}
"""Registered model classes by their ``name`` (also the ``biogan train`` subcommand)."""

M = TypeVar("M", bound=type)


def register_model(cls: M) -> M:
    """Class decorator: add ``cls`` (which declares ``name``, ``data_kind``, ``config_class``,
    ``problem_class`` and ``trainer_class``) to :data:`MODELS`."""
    for attribute in ("name", "data_kind", "config_class", "problem_class", "trainer_class"):
        if not hasattr(cls, attribute):
            raise TypeError(f"{cls.__name__} must declare {attribute!r} to be registered")
    if MODELS.get(cls.name, cls) is not cls:
        raise TypeError(f"two model classes are registered as {cls.name!r}")
    MODELS[cls.name] = cls
    return cls


def model_class(name: str) -> type:
    """The class registered as ``name`` (or whose class name is ``name``)."""
    for cls in MODELS.values():
        if name in (cls.name, cls.__name__):
            return cls
    raise ConfigError(f"unknown model type {name!r}; biogan has {', '.join(sorted(MODELS))}")


def load_model(path: str | os.PathLike, device: str = "auto") -> Any:
    """Load any saved biogan model; its ``config.json`` records which type it is."""
    from biogan.models._shared import read_metadata

    config = Path(path) / "config.json"
    meta = read_metadata(config, expected=None)
    try:
        cls = model_class(str(meta.get("type") or meta.get("model")))
    except ConfigError:
        raise CheckpointError(f"{config} describes an unknown model {meta.get('model')!r}") from None
    return cls.load(path, device=device)


__all__ = ["MODELS", "load_model", "model_class", "register_model"]
