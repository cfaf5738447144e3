"""The kinds of data biogan handles, registered once: how each is recognised, read, written and counted.

Commands dispatch through :data:`KINDS` (``biogan sample`` writes what a model makes, ``biogan augment``
reads and writes its input's kind), so a new data kind adds one entry here instead of ``isinstance``
branches in every command.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import pandas as pd

from biogan.data.genotypes import SUFFIXES as GENOTYPE_SUFFIXES
from biogan.data.genotypes import GenotypeSet, read_genotypes, write_vcf
from biogan.data.readers import read_cells, read_table, write_h5ad, write_table
from biogan.data.sequences import SUFFIXES as SEQUENCE_SUFFIXES
from biogan.data.sequences import SequenceSet, read_fasta, write_fasta
from biogan.data.structures import SUFFIXES as STRUCTURE_SUFFIXES
from biogan.data.structures import StructureSet, read_structures, write_structures
from biogan.errors import InvalidDataError


@dataclass(frozen=True)
class DataKind:
    """One kind of data: what its samples are called, its in-memory type, file formats, reader, writer and
    a size description. ``folder``: outputs are folders (structures: one file per fragment)."""

    name: str
    noun: str
    python_type: type
    suffixes: tuple[str, ...]
    read: Callable[..., Any]
    write: Callable[..., Path]
    size: Callable[[Any], str]
    folder: bool = False

    def check_suffix(self, path: str | os.PathLike) -> None:
        """Refuse an output file whose extension is not one of this kind's formats (or, for a kind
        written to folders, an output that has one)."""
        if self.folder:
            if str(path).lower().endswith(self.suffixes):
                raise InvalidDataError(f"{path}: {self.name} are written to a folder; give a folder name")
            return
        if not str(path).lower().endswith(self.suffixes):
            raise InvalidDataError(
                f"{path}: {self.name} are written as {' or '.join(self.suffixes)}; change the file name"
            )


def _read_cells(path: str | os.PathLike, index: bool = True) -> ad.AnnData:
    return read_cells(path)  # ``index`` is a table option


def _write_cells(data: ad.AnnData, path: str | os.PathLike, index: bool = False) -> Path:
    return write_h5ad(data, path)


def _read_sequences(path: str | os.PathLike, index: bool = True) -> SequenceSet:
    return read_fasta(path)  # the alphabet is inferred from the letters


def _read_genotypes(path: str | os.PathLike, index: bool = True) -> GenotypeSet:
    return read_genotypes(path)


def _write_genotypes(data: GenotypeSet, path: str | os.PathLike, index: bool = False) -> Path:
    return write_vcf(data, path)


def _genotype_size(data: GenotypeSet) -> str:
    kind = "phased" if data.phased else "unphased"
    return f"{len(data)} samples x {data.n_snps} SNPs ({kind}, ploidy {data.ploidy})"


def _read_structures(path: str | os.PathLike, index: bool = True) -> StructureSet:
    return read_structures(path)


def _structure_size(data: StructureSet) -> str:
    length = data.fragment_length
    if length is not None:
        return f"{len(data)} backbone fragments of {length} residues"
    return f"{len(data)} chain segments of {data.lengths.min()}-{data.lengths.max()} residues"


def _sequence_size(data: SequenceSet) -> str:
    lengths = data.lengths
    return f"{len(data)} {data.alphabet} sequences of {lengths.min()}-{lengths.max()} letters"


KINDS: dict[str, DataKind] = {
    "cells": DataKind(
        name="cells",
        noun="cells",
        python_type=ad.AnnData,
        suffixes=(".h5ad",),
        read=_read_cells,
        write=_write_cells,
        size=lambda data: f"{data.n_obs} cells x {data.n_vars} genes",
    ),
    "table": DataKind(
        name="table",
        noun="rows",
        python_type=pd.DataFrame,
        suffixes=(".csv", ".tsv", ".txt"),
        read=read_table,
        write=write_table,
        size=lambda data: f"{len(data)} rows x {data.shape[1]} columns",
    ),
    "sequences": DataKind(
        name="sequences",
        noun="sequences",
        python_type=SequenceSet,
        suffixes=SEQUENCE_SUFFIXES,
        read=_read_sequences,
        write=write_fasta,
        size=_sequence_size,
    ),
    "genotypes": DataKind(
        name="genotypes",
        noun="samples",
        python_type=GenotypeSet,
        suffixes=GENOTYPE_SUFFIXES,
        read=_read_genotypes,
        write=_write_genotypes,
        size=_genotype_size,
    ),
    "structures": DataKind(
        name="structures",
        noun="fragments",
        python_type=StructureSet,
        suffixes=STRUCTURE_SUFFIXES,
        read=_read_structures,
        write=write_structures,
        size=_structure_size,
        folder=True,
    ),
}


def kind_of(data: Any) -> str:
    """The registered kind of an in-memory data set (AnnData -> ``"cells"``, DataFrame -> ``"table"``)."""
    for kind in KINDS.values():
        if isinstance(data, kind.python_type):
            return kind.name
    known = ", ".join(f"{k.python_type.__name__} ({k.name})" for k in KINDS.values())
    raise InvalidDataError(f"biogan cannot use a {type(data).__name__}; it takes {known}")


__all__ = ["KINDS", "DataKind", "kind_of"]
