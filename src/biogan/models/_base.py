"""What every user-facing model class shares: settings, the trainer, history, and its saved folder.

A saved model is a folder with ``config.json`` (settings and everything needed to rebuild the networks),
``model.pt`` (weights, loaded with ``weights_only=True``), ``history.csv`` and ``manifest.json`` (the
SHA-256 of each, written last and checked on load). Subclasses say what they add to ``config.json``
(:meth:`GenerativeModel._describe` / :meth:`GenerativeModel._restore`) and how to rebuild their networks
from ``model.pt``.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

import biogan
from biogan._utils import atomic_write, resolve_device, write_json
from biogan.data.anndata import CountData, setup_anndata
from biogan.data.validation import check_memory, count_sample_bytes
from biogan.errors import CheckpointError, NotFittedError
from biogan.models._config import apply_overrides, config_from_dict, config_to_dict
from biogan.models._shared import (
    counts_anndata,
    read_history,
    read_metadata,
    requested_codes,
    requested_size,
    sample_metadata,
    synthetic_obs,
)
from biogan.train import load_state, save_state
from biogan.train.base import TrainerBase
from biogan.train.checkpoint import verify_manifest, write_manifest
from biogan.train.distributed import rank_device

OBS_BYTES_PER_CELL = 96  # a cell's name, label code and index entry while obs is built and written
MODEL_FILE, CONFIG_FILE, HISTORY_FILE, CHECKPOINT_FILE = (
    "model.pt",
    "config.json",
    "history.csv",
    "checkpoint.pt",
)


class GenerativeModel:
    """Base of biogan's estimators: typed settings, seed, device, the trainer, and the saved folder.

    A model class names its pieces (scvi-tools style) and registers once (:func:`register_model`):
    ``name`` (registry key and ``biogan train`` subcommand), ``data_kind`` (``"cells"``, ``"table"``,
    ...), ``config_class`` (hyperparameters, saved with the model), ``problem_class`` (the pure torch
    modules and data source) and ``trainer_class`` (the step run by the one training schedule). Subclasses
    implement :meth:`_empty_problem` (networks rebuilt from the saved metadata) and, if their sampler is
    not a copy of the generator, :meth:`_empty_sampler` and :meth:`_sampler_from_training`.
    """

    name: ClassVar[str]
    data_kind: ClassVar[str]
    config_class: ClassVar[type]
    problem_class: ClassVar[type]
    trainer_class: ClassVar[type[TrainerBase]]

    def __init__(self, config: Any = None, seed: int = 0, device: str = "auto", **overrides: Any) -> None:
        self.config = apply_overrides(config or self.config_class(), overrides)
        self.seed = int(seed)
        self.device = rank_device(resolve_device(device))
        self.problem: Any = None
        self.trainer: TrainerBase | None = None
        self._sampler: Any = None
        self.train_seconds = 0.0
        self._steps = 0
        self._history = pd.DataFrame()
        self._warnings: list[str] = []

    # ------------------------------------------------------------------ training
    def _train(
        self,
        max_steps: int,
        max_seconds: float | None,
        resume: bool,
        checkpoint_dir: str | os.PathLike | None,
        progress: bool,
    ) -> None:
        """Create the trainer on the first call (checkpointing to ``checkpoint_dir``), train, keep the
        sampler."""
        if self.problem is None or self.problem.source is None:
            raise NotFittedError(f"build {type(self).__name__} from training data before fit")
        if self.trainer is None:
            path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
            self.trainer = self.trainer_class(self.problem, self.config.train, self.seed, path, self.device)
        self.trainer.fit(max_steps, max_seconds=max_seconds, resume=resume, progress=progress)
        self.train_seconds = self.trainer.elapsed
        self._sampler = self._sampler_from_training()

    def _sampler_from_training(self) -> Any:
        """The module to sample from after training (default: the best validated EMA generator)."""
        return self.trainer.sampling_generator()  # type: ignore[union-attr]

    def write_samples(
        self,
        path: str | os.PathLike,
        n: int | None = None,
        labels: dict[str, int] | list[str] | None = None,
        seed: int = 0,
        allow_copies: bool = False,
        **sample_options: Any,
    ) -> tuple[str, str | None]:
        """Generate samples and write them in this data kind's format (what ``biogan sample`` does).

        Models with a privacy gate refuse to write samples that fail it unless ``allow_copies``;
        ``sample_options`` go to :meth:`sample` (a conditioned model's ``conditions`` table).

        Returns
        -------
        str, str or None
            What was written (``"1000 cells x 765 genes"``) and the gate's complaint when overridden.
        """
        import warnings

        from biogan.data.kinds import KINDS
        from biogan.errors import InvalidDataError, PrivacyWarning

        kind = KINDS[self.data_kind]
        with warnings.catch_warnings():  # the gate below says it once, as an error
            warnings.simplefilter("ignore", PrivacyWarning)
            synth = self.sample(n=n, labels=labels, seed=seed, **sample_options)
        problem = self.release_problem(synth)
        if problem and not allow_copies:
            raise InvalidDataError(f"nothing written: {problem}; --allow-copies writes it anyway")
        kind.write(synth, path, index=False)
        return kind.size(synth), problem

    def release_problem(self, generated: Any) -> str | None:
        """Why ``generated`` should not be released (a privacy gate), or ``None``; models with a gate
        override this and ``biogan sample`` refuses to write what fails it."""
        return None

    @property
    def history(self) -> pd.DataFrame:
        """Per-step training log (losses, diagnostics, validation score)."""
        return pd.DataFrame(self.trainer.history) if self.trainer is not None else self._history

    @property
    def warnings(self) -> list[str]:
        """Diagnostics warnings issued during training."""
        return list(self.trainer.warnings) if self.trainer is not None else list(self._warnings)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``config.json`` (settings and what rebuilds the networks), ``model.pt`` (training and
        sampling weights, loaded with ``weights_only=True``) and ``history.csv``, each atomically."""
        if self._sampler is None or self.problem is None:
            raise NotFittedError("nothing to save: call fit() first")
        state = {"problem": self.problem.state_dict(), "sampler": self._sampler.state_dict()}
        path = Path(path)
        save_state(path / MODEL_FILE, state)
        history = self.history
        atomic_write(path / HISTORY_FILE, lambda p: history.to_csv(p, index=False), suffix=".csv")
        meta = {
            "model": type(self).__name__,
            "type": self.name,
            "biogan_version": biogan.__version__,
            "config": config_to_dict(self.config),
            "seed": self.seed,
            **self._describe(),
            "steps": self.trainer.step if self.trainer else self._steps,
            "train_seconds": self.train_seconds,
            "warnings": self.warnings,
        }
        write_json(path / CONFIG_FILE, meta)
        write_manifest(path, [CONFIG_FILE, MODEL_FILE, HISTORY_FILE])  # last: a complete save only
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> Any:
        """Load a model written by :meth:`save`."""
        path = Path(path)
        resolve_device(device)  # a bad device is the device's fault, not the config's
        meta = read_metadata(path / CONFIG_FILE, cls.__name__)
        verify_manifest(path)
        try:
            model = cls._blank(config_from_dict(cls.config_class, meta["config"]), meta["seed"], device)
            model._restore(meta)
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(
                f"{path / CONFIG_FILE} is not a valid {cls.__name__} config ({err})"
            ) from None
        model.train_seconds = float(meta.get("train_seconds", 0.0))
        model._steps = int(meta.get("steps", 0))
        model._warnings = list(meta.get("warnings", []))
        model._history = read_history(path / HISTORY_FILE)
        state = load_state(path / MODEL_FILE, model.device)
        try:
            model.problem = load_resized(model._empty_problem().to(model.device), state["problem"])
            sampler_state = state.get("sampler", state["problem"])  # older VAE folders kept one state
            model._sampler = load_resized(model._empty_sampler().to(model.device), sampler_state)
        except (KeyError, RuntimeError) as err:
            raise CheckpointError(
                f"{path / MODEL_FILE} does not match its config ({str(err)[:200]})"
            ) from None
        model._sampler.eval()
        return model

    @classmethod
    def _blank(cls, config: Any, seed: int, device: str) -> Any:
        """An instance without data, to be filled by :meth:`_restore` and the saved weights."""
        return cls(config=config, seed=seed, device=device)

    def _describe(self) -> dict[str, Any]:
        """What this model adds to ``config.json`` (JSON-ready)."""
        return {}

    def _restore(self, meta: dict[str, Any]) -> None:
        """Read back what :meth:`_describe` wrote."""

    def _empty_problem(self) -> Any:  # pragma: no cover - abstract
        """The problem's modules, shaped from the restored metadata (weights loaded next)."""
        raise NotImplementedError

    def _empty_sampler(self) -> Any:
        """The sampling module's shape (default: a copy of the generator)."""
        return copy.deepcopy(self.problem.generator)


def load_resized(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> Any:
    """``module.load_state_dict(state)``, first giving buffers sized by the training data (library
    sizes, ...) the saved size."""
    for name, buffer in list(module.named_buffers()):
        saved = state.get(name)
        if saved is not None and saved.shape != buffer.shape:
            owner, _, leaf = name.rpartition(".")
            module.get_submodule(owner).register_buffer(leaf, torch.empty_like(saved, device=buffer.device))
    module.load_state_dict(state)
    return module


class CountModel(GenerativeModel):
    """Base of the count models (ExpressionGAN, ExpressionVAE): genes, labels, sampling cells, saved fields.

    Subclasses implement :meth:`_label_sizes` (training cells per label) and :meth:`_generate` (counts
    for a batch of label codes, drawn from torch's global generator).
    """

    data_kind: ClassVar[str] = "cells"
    setup_anndata = staticmethod(setup_anndata)

    def __init__(self, config: Any = None, seed: int = 0, device: str = "auto", **overrides: Any) -> None:
        super().__init__(config, seed, device, **overrides)
        self.layer: str | None = None
        self.labels_key: str | None = None
        self.categories: list[str] = []
        self.genes: list[str] = []
        self.zero_fraction: float | None = None  # of the training counts; sizes the memory estimate

    def _label_sizes(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _generate(self, labels: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def sample(
        self,
        n: int | None = None,
        labels: dict[str, int] | list[str] | None = None,
        seed: int = 0,
        batch_size: int = 4096,
    ) -> ad.AnnData:
        """Generate cells with integer counts.

        Parameters
        ----------
        n
            Number of cells, split across labels in the training proportions (ignored when ``labels``
            is given).
        labels
            ``{label: count}`` or one label per cell.
        seed
            Seeds the sampling (same seed -> same cells on CPU).
        batch_size
            Cells generated per forward pass.

        Returns
        -------
        AnnData
            Counts in ``.X`` (CSR) and ``layers["counts"]``, labels in ``obs[labels_key]``, genes in
            ``var_names``.

        Raises
        ------
        InvalidDataError
            The request would not fit in the memory available (estimated before any cell is drawn:
            dense chunks plus the CSR output at the training data's zero fraction).
        """
        if self._sampler is None:
            raise NotFittedError("call fit() (or load a trained model) before sample()")
        self._check_sample_memory(requested_size(n, labels), batch_size)
        codes = requested_codes(self.categories, self._label_sizes(), n, labels, seed)
        chunks = list(self._count_chunks(codes, seed, batch_size))
        return counts_anndata(
            chunks, codes, self.categories, self.labels_key, self.genes, type(self).__name__, seed
        )

    def _count_chunks(self, codes: np.ndarray, seed: int, batch_size: int) -> Iterator[sp.csr_matrix]:
        """Generated counts for ``codes``, ``batch_size`` cells at a time (the same cells whether they are
        collected in memory or streamed to disk)."""
        with torch.random.fork_rng(devices=[self.device.index or 0] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            self._sampler.eval()
            for start in range(0, len(codes), batch_size):
                y = torch.from_numpy(codes[start : start + batch_size]).to(self.device)
                with torch.no_grad():
                    counts = self._generate(y)
                yield sp.csr_matrix(counts.cpu().numpy().astype(np.float32))

    def write_samples(
        self,
        path: str | os.PathLike,
        n: int | None = None,
        labels: dict[str, int] | list[str] | None = None,
        seed: int = 0,
        allow_copies: bool = False,
        batch_size: int = 4096,
    ) -> tuple[str, str | None]:
        """Stream generated cells into an ``.h5ad`` chunk by chunk: memory stays that of one chunk for any
        number of cells, and the file holds the same cells :meth:`sample` returns for the same seed."""
        from biogan.data.ondisk import write_h5ad_chunks

        if self._sampler is None:
            raise NotFittedError("call fit() (or load a trained model) before sample()")
        wanted = requested_size(n, labels)
        check_memory(  # names and labels are per cell; the counts never exceed one chunk
            OBS_BYTES_PER_CELL * wanted + count_sample_bytes(min(wanted, batch_size), len(self.genes), 0.0),
            f"sampling {wanted} cells x {len(self.genes)} genes",
            "ask for fewer cells, or sample in several runs (other seeds)",
        )
        codes = requested_codes(self.categories, self._label_sizes(), n, labels, seed)
        write_h5ad_chunks(
            path,
            self._count_chunks(codes, seed, batch_size),
            synthetic_obs(codes, self.categories, self.labels_key),
            self.genes,
            uns=sample_metadata(type(self).__name__, seed),
        )
        return f"{len(codes)} cells x {len(self.genes)} genes", None

    def _check_sample_memory(self, n: int, batch_size: int) -> None:
        """Refuse ``n`` cells whose output would not fit in memory (a model saved before the zero
        fraction was recorded is sized as dense)."""
        needed = count_sample_bytes(n, len(self.genes), self.zero_fraction or 0.0, batch_size)
        check_memory(
            needed,
            f"sampling {n} cells x {len(self.genes)} genes",
            "ask for fewer cells, or sample in several runs (other seeds) and write each to its own file",
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "labels_key": self.labels_key,
            "categories": self.categories,
            "genes": self.genes,
            "zero_fraction": self.zero_fraction,
        }

    def _restore(self, meta: dict[str, Any]) -> None:
        self.layer, self.labels_key = meta["layer"], meta["labels_key"]
        self.categories, self.genes = list(meta["categories"]), list(meta["genes"])
        self.zero_fraction = meta.get("zero_fraction")  # absent in folders saved before it was kept

    @classmethod
    def load(cls, path: str | os.PathLike, adata: ad.AnnData | None = None, device: str = "auto") -> Any:
        """Load a model written by :meth:`save`; ``adata`` (optional) is checked against its genes and
        labels."""
        model = super().load(path, device=device)
        if adata is not None:
            CountData.from_anndata(adata, model.layer, model.labels_key, model.categories, model.genes)
        return model
