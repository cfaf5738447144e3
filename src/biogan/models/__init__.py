"""User-facing estimators, one per data type."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from biogan.errors import CheckpointError
from biogan.models._shared import read_metadata
from biogan.models.expression import ExpressionGAN, ExpressionGANConfig
from biogan.models.tabular import TabularGAN, TabularGANConfig
from biogan.models.vae import ExpressionVAE, ExpressionVAEConfig

__all__ = [
    "ExpressionGAN",
    "ExpressionGANConfig",
    "ExpressionVAE",
    "ExpressionVAEConfig",
    "TabularGAN",
    "TabularGANConfig",
    "load_model",
]


def load_model(path: str | os.PathLike, device: str = "auto") -> Any:
    """Load any saved biogan model; its ``config.json`` says which class it is."""
    config = Path(path) / "config.json"
    name = read_metadata(config, expected=None).get("model")
    classes = {cls.__name__: cls for cls in (ExpressionGAN, ExpressionVAE, TabularGAN)}
    if name not in classes:
        raise CheckpointError(f"{config} describes an unknown model {name!r}")
    return classes[name].load(path, device=device)
