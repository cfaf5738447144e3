"""Atomic, pickle-free, self-checking checkpoints of the whole training state, and folder manifests.

Every state written by :func:`save_state` carries a SHA-256 of its contents (each tensor's bytes, dtype
and shape, and every plain value), computed before writing and checked after loading: a flipped byte in a
weight is refused by name instead of loading as a slightly different model. A saved model folder also
gets ``manifest.json``, written last, with the SHA-256 of each of its files (:func:`write_manifest`,
:func:`verify_manifest`).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from biogan._utils import atomic_write, write_json
from biogan.errors import CheckpointError

DIGEST_KEY = "_biogan_sha256"
MANIFEST_FILE = "manifest.json"


def content_digest(state: Any) -> str:
    """SHA-256 of a nested state (dicts, lists, tensors, numbers, strings), independent of file layout."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        data = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"T{value.dtype}{tuple(value.shape)}".encode())
        digest.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    elif isinstance(value, dict):
        digest.update(b"D%d" % len(value))
        for key in sorted(value, key=str):
            digest.update(repr(key).encode())
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(b"L%d" % len(value))
        for item in value:
            _feed(digest, item)
    else:
        digest.update(repr(value).encode())


def save_state(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors, numbers, strings, lists and dicts only) atomically with ``torch.save``,
    with the SHA-256 of its contents."""
    stamped = {**state, DIGEST_KEY: content_digest(state)}
    return atomic_write(path, lambda tmp: torch.save(stamped, tmp), suffix=".pt")


def load_state(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a state written by :func:`save_state` with ``weights_only=True`` (no arbitrary code runs) and
    check its SHA-256.

    Raises
    ------
    CheckpointError
        If the file is missing, truncated, corrupt, damaged (contents differ from their checksum) or not a
        biogan state.
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
    expected = state.pop(DIGEST_KEY, None)
    if expected is None:
        message = f"{path} has no checksum (written by an older biogan): not verified"
        warnings.warn(message, UserWarning, stacklevel=2)
    elif content_digest(state) != expected:
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the checksum written with them; "
            "restore it from a copy or train again"
        )
    return state


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path, names: Iterable[str]) -> Path:
    """Write ``folder/manifest.json`` (last, atomically) with the SHA-256 of each file in ``names``."""
    digests = {name: file_digest(folder / name) for name in names}
    return write_json(folder / MANIFEST_FILE, {"sha256": digests})


def verify_manifest(folder: Path) -> None:
    """Check every file listed in ``folder/manifest.json``; a folder without one (older biogan) warns.

    Raises
    ------
    CheckpointError
        A listed file is missing or its bytes differ from the manifest (named in the message).
    """
    manifest = folder / MANIFEST_FILE
    if not manifest.is_file():
        message = f"{folder} has no {MANIFEST_FILE} (saved by an older biogan): not verified"
        warnings.warn(message, UserWarning, stacklevel=2)
        return
    try:
        listed = json.loads(manifest.read_text())["sha256"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{manifest} is corrupt ({err})") from None
    for name, expected in listed.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"{path} is missing from the saved model (listed in {MANIFEST_FILE})")
        if file_digest(path) != expected:
            raise CheckpointError(
                f"{path} is damaged: its bytes differ from the SHA-256 in {MANIFEST_FILE}; "
                "restore the folder from a copy or train again"
            )


class TrainingLock:
    """``folder/.biogan.lock`` holding this process's PID while it trains into ``folder``.

    A second training into the same folder fails at once with the holder's PID; a lock left by a
    process that no longer runs (killed) is taken over, and the temporary files its interrupted writes
    left behind are removed.
    """

    NAME = ".biogan.lock"

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / self.NAME
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and holder != os.getpid() and _alive(holder):
                    raise CheckpointError(
                        f"{self.path.parent} is being trained into by process {holder}; wait for it to "
                        "finish or choose another --out"
                    ) from None
                self.path.unlink(missing_ok=True)  # a stale lock from a killed run
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
            self.held = True
            remove_stale_temp_files(self.path.parent)
            return
        raise CheckpointError(f"cannot take the lock {self.path}")

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False

    def _holder(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the ``.NAME.*.tmp`` files an interrupted atomic write left in ``folder`` (call it only while
    holding the folder's :class:`TrainingLock`, so no live write is touched)."""
    removed = []
    for path in Path(folder).glob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
