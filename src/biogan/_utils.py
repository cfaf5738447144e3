"""Small helpers shared across the package: atomic writes, devices, seeding."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from biogan.errors import DeviceError, OutputPathError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A crash or an exception inside the block leaves any existing ``path`` untouched and no partial file.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix + ".tmp")
        os.close(fd)
    except OSError as err:
        raise OutputPathError(f"cannot write to {path}: {err.strerror or err}") from None
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual permissions
        os.replace(tmp_path, path)
    except OSError as err:
        raise OutputPathError(f"cannot write to {path}: {err.strerror or err}") from None
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any], suffix: str = "") -> Path:
    """Call ``writer(tmp_path)`` and move the result onto ``path`` atomically."""
    with atomic_path(path, suffix=suffix) as tmp:
        writer(tmp)
    return Path(path)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=_json_default)))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks CUDA when present, else CPU; anything else is passed to :class:`torch.device`."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type not in ("cpu", "cuda"):
        raise DeviceError(f"device {device!r} is not supported: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"device {device!r} was requested but this machine has no CUDA device; use cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise DeviceError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return dev


def check_output(
    path: str | os.PathLike,
    inputs: Iterable[str | os.PathLike | None] = (),
    overwrite: bool = False,
    folder: bool = False,
) -> Path:
    """Refuse an output that would destroy an input or an existing result, or that cannot be written.

    Called before any work starts, so a bad ``--out`` fails in a second instead of after training.

    Parameters
    ----------
    path
        The output file (or folder with ``folder=True``).
    inputs
        Input files and folders (data, model folders): the output may not be one of them or lie inside one.
    overwrite
        Allow replacing an existing output.
    folder
        ``path`` is a folder that will hold several outputs.

    Raises
    ------
    OutputPathError
        The output equals or lies inside an input, exists (without ``overwrite``), or is not writable.
    """
    out = Path(path).expanduser().resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).expanduser().resolve()
        if out == source or source in out.parents:
            raise OutputPathError(
                f"the output {path} would overwrite the input {given}; write somewhere else"
            )
    if out.exists() and not overwrite and not (folder and out.is_dir() and not any(out.iterdir())):
        what = "folder" if out.is_dir() else "file"
        raise OutputPathError(f"the output {what} {path} already exists; pass --overwrite to replace it")
    if out.exists() and folder != out.is_dir():
        wanted = "folder" if folder else "file"
        raise OutputPathError(f"{path} exists and is not a {wanted}; give a {wanted} name")
    _check_writable(out if folder else out.parent, path)
    return out


def _check_writable(directory: Path, shown: str | os.PathLike) -> None:
    """Prove a file can be written in ``directory`` (or, if it does not exist yet, in its nearest existing
    ancestor) without creating anything: a refused command leaves no empty folder behind."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"cannot write to {shown}: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".biogan-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputPathError(f"cannot write to {shown}: {err.strerror or err}") from None
