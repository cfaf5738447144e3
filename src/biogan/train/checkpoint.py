"""Atomic, pickle-free checkpoints of the whole training state."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from biogan._utils import atomic_write
from biogan.errors import CheckpointError


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists and dicts only) atomically with ``torch.save``."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp), suffix=".pt")


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a state written by :func:`save_state` with ``weights_only=True`` (no arbitrary code runs).

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, corrupt or not a biogan state.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({first[:200]})") from None
    except Exception as err:  # pickle.UnpicklingError and friends from a damaged or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(err).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a biogan state")
    return state
