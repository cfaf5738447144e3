"""Biological sequences (DNA, RNA, protein): FASTA in and out, alphabets, validation and token encoding.

A :class:`SequenceSet` is what the sequence kind passes around: the sequences (upper case, no gaps),
their record IDs, optional labels (parsed from the FASTA headers with a regular expression) and the
alphabet. FASTA is parsed and written with Biopython (``Bio.SeqIO``); ``.gz`` files are read and written
compressed. Models see sequences as integer tokens: ``0`` is the padding symbol that ends a sequence
shorter than the model's length, ``1 .. A`` the letters of the alphabet in order.
"""

from __future__ import annotations

import gzip
import io
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from biogan._utils import atomic_write
from biogan.errors import InvalidDataError, UnknownLabelError

ALPHABETS: dict[str, str] = {
    "dna": "ACGT",
    "rna": "ACGU",
    "protein": "ACDEFGHIKLMNPQRSTVWY",
}
"""The letters each alphabet allows (IUPAC ambiguity codes are refused: drop those records)."""

PAD = 0
FASTA_SUFFIXES = (".fasta", ".fa", ".faa", ".fna", ".fas", ".ffn")
SUFFIXES = FASTA_SUFFIXES + tuple(s + ".gz" for s in FASTA_SUFFIXES)
_SHOWN = 5  # records named in an error message


@dataclass
class SequenceSet:
    """Sequences of one alphabet with their IDs and (optional) labels.

    Parameters
    ----------
    sequences
        Upper-case strings over ``ALPHABETS[alphabet]``.
    alphabet
        ``"dna"``, ``"rna"`` or ``"protein"``.
    ids
        One record ID per sequence (default ``seq1``, ``seq2``, ...).
    labels
        One label per sequence (text), or ``None``.
    """

    sequences: list[str]
    alphabet: str
    ids: list[str] = field(default_factory=list)
    labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.alphabet not in ALPHABETS:
            raise InvalidDataError(f"unknown alphabet {self.alphabet!r}: use {', '.join(ALPHABETS)}")
        self.sequences = [str(s) for s in self.sequences]
        if not self.ids:
            self.ids = [f"seq{i + 1}" for i in range(len(self.sequences))]
        if len(self.ids) != len(self.sequences):
            raise InvalidDataError(f"{len(self.ids)} IDs for {len(self.sequences)} sequences")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(str)
            if len(self.labels) != len(self.sequences):
                raise InvalidDataError(f"{len(self.labels)} labels for {len(self.sequences)} sequences")

    def __len__(self) -> int:
        return len(self.sequences)

    def subset(self, index: Sequence[int] | np.ndarray) -> SequenceSet:
        """The records at ``index``, in that order."""
        index = np.asarray(index, dtype=np.int64)
        labels = None if self.labels is None else self.labels[index]
        return SequenceSet(
            [self.sequences[i] for i in index], self.alphabet, [self.ids[i] for i in index], labels
        )

    @property
    def lengths(self) -> np.ndarray:
        """Length of every sequence."""
        return np.array([len(s) for s in self.sequences], dtype=np.int64)

    @property
    def letters(self) -> str:
        """The alphabet's letters."""
        return ALPHABETS[self.alphabet]


# ---------------------------------------------------------------------------------------- checks
def infer_alphabet(sequences: Iterable[str]) -> str:
    """``"dna"`` when every letter is A/C/G/T (or N), ``"rna"`` with U instead of T, else ``"protein"``."""
    letters: set[str] = set()
    for s in sequences:
        letters.update(s.upper())
    if letters <= set("ACGTN"):
        return "dna"
    if letters <= set("ACGUN"):
        return "rna"
    return "protein"


def check_alphabet(
    sequences: Sequence[str], ids: Sequence[str], alphabet: str, what: str, drop_invalid: bool = False
) -> np.ndarray:
    """Which records use only the alphabet's letters; with ``drop_invalid`` the others are left out.

    Raises
    ------
    InvalidDataError
        Records with other characters (the characters, how often, and the first records are named)
        and ``drop_invalid`` is false, or nothing is left after dropping.
    """
    allowed = set(ALPHABETS[alphabet])
    bad_chars: Counter[str] = Counter()
    keep = np.ones(len(sequences), dtype=bool)
    for i, seq in enumerate(sequences):
        extra = set(seq) - allowed
        if extra:
            keep[i] = False
            bad_chars.update(ch for ch in seq if ch in extra)
    if keep.all():
        return keep
    bad = [ids[i] for i in np.flatnonzero(~keep)[:_SHOWN]]
    chars = ", ".join(f"{ch!r} x{k}" for ch, k in bad_chars.most_common(8))
    if not drop_invalid:
        raise InvalidDataError(
            f"{what}: {int((~keep).sum())} of {len(sequences)} records have characters outside the "
            f"{alphabet} alphabet ({ALPHABETS[alphabet]}): {chars}; first records: {', '.join(bad)}. "
            "Pass --drop-invalid (drop_invalid=True) to leave them out, or choose another --alphabet"
        )
    if not keep.any():
        raise InvalidDataError(f"{what}: no record is left after dropping those with {chars}")
    return keep


def check_lengths(
    sequences: list[str], ids: Sequence[str], max_length: int | None, what: str, truncate: bool
) -> list[str]:
    """Refuse (or with ``truncate`` cut) sequences longer than ``max_length``."""
    if max_length is None:
        return sequences
    if max_length < 1:
        raise InvalidDataError(f"--max-length must be at least 1, not {max_length}")
    long = [i for i, s in enumerate(sequences) if len(s) > max_length]
    if not long:
        return sequences
    if truncate:
        return [s[:max_length] for s in sequences]
    longest = max(len(sequences[i]) for i in long)
    raise InvalidDataError(
        f"{what}: {len(long)} of {len(sequences)} sequences are longer than --max-length {max_length} "
        f"(longest {longest}, e.g. {', '.join(ids[i] for i in long[:_SHOWN])}); raise --max-length, "
        "or pass --truncate to cut them"
    )


def _check_ids(ids: Sequence[str], what: str) -> None:
    counts = Counter(ids)
    twice = [name for name, k in counts.items() if k > 1]
    if twice:
        raise InvalidDataError(
            f"{what}: {len(twice)} record IDs occur more than once (e.g. {', '.join(twice[:_SHOWN])}); "
            "give every record its own ID"
        )


# ---------------------------------------------------------------------------------------- FASTA
def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt")  # type: ignore[return-value]
    return open(path)


def _first_character(path: Path) -> str:
    """The first non-blank character of the file ('' when there is none)."""
    with _open_text(path) as handle:
        for line in handle:
            if line.strip():
                return line.lstrip()[0]
    return ""


def read_fasta(
    path: str | os.PathLike,
    alphabet: str | None = None,
    label_regex: str | None = None,
    drop_invalid: bool = False,
    max_length: int | None = None,
    truncate: bool = False,
) -> SequenceSet:
    """Read a FASTA file (``.gz`` too) with Biopython into a checked :class:`SequenceSet`.

    Parameters
    ----------
    path
        FASTA file. Letters are upper-cased; a trailing ``*`` (stop) of a protein is removed.
    alphabet
        ``"dna"``, ``"rna"`` or ``"protein"``; ``None`` infers it from the letters.
    label_regex
        Regular expression searched in each header (ID and description); its group ``label`` (or its
        first group, or the whole match) is the record's label.
    drop_invalid
        Leave out records with characters outside the alphabet instead of refusing the file.
    max_length, truncate
        Refuse sequences longer than ``max_length`` -- or cut them to it with ``truncate``.

    Raises
    ------
    InvalidDataError
        A missing, empty or non-FASTA file (FASTQ included), empty records, duplicated IDs, letters
        outside the alphabet, over-long sequences, or headers the label pattern does not match.
    """
    from Bio import SeqIO

    path = Path(path)
    if not path.is_file():
        raise InvalidDataError(f"input {path} does not exist or is not a file")
    try:
        first = _first_character(path)
        if first == "":
            raise InvalidDataError(f"{path} is empty: a FASTA file has records starting with '>'")
        if first == "@":
            raise InvalidDataError(
                f"{path} looks like FASTQ (records start with '@'); convert it to FASTA first, e.g. "
                "'seqkit fq2fa' or Bio.SeqIO.convert(..., 'fastq', ..., 'fasta')"
            )
        if first != ">":
            raise InvalidDataError(
                f"{path} is not FASTA: it starts with {first!r}, not '>' (a record header)"
            )
        with _open_text(path) as handle:
            records = list(SeqIO.parse(handle, "fasta"))
    except InvalidDataError:
        raise
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as err:
        raise InvalidDataError(f"cannot read {path} as FASTA: {err}") from None
    ids = [r.id for r in records]
    sequences = [str(r.seq).upper().strip() for r in records]
    empty = [ids[i] for i, s in enumerate(sequences) if not s.rstrip("*")]
    if empty:
        raise InvalidDataError(
            f"{path}: {len(empty)} records have no sequence (e.g. {', '.join(empty[:_SHOWN])}); remove them"
        )
    _check_ids(ids, str(path))
    alphabet = alphabet or infer_alphabet(s.rstrip("*") for s in sequences)
    if alphabet not in ALPHABETS:
        raise InvalidDataError(f"unknown --alphabet {alphabet!r}: use {', '.join(ALPHABETS)}")
    if alphabet == "protein":
        sequences = [s[:-1] if s.endswith("*") else s for s in sequences]
    labels = None
    if label_regex is not None:
        labels = labels_from_headers([r.description for r in records], label_regex, str(path))
    keep = check_alphabet(sequences, ids, alphabet, str(path), drop_invalid)
    index = np.flatnonzero(keep)
    sequences = [sequences[i] for i in index]
    ids = [ids[i] for i in index]
    sequences = check_lengths(sequences, ids, max_length, str(path), truncate)
    return SequenceSet(sequences, alphabet, ids, None if labels is None else labels[index])


def labels_from_headers(headers: Sequence[str], pattern: str, what: str) -> np.ndarray:
    """The label of every header: group ``label`` of ``pattern``, else its first group, else the match."""
    try:
        regex = re.compile(pattern)
    except re.error as err:
        raise InvalidDataError(f"--label-regex {pattern!r} is not a regular expression: {err}") from None
    labels, unmatched = [], []
    for header in headers:
        match = regex.search(header)
        if match is None:
            unmatched.append(header)
            continue
        if "label" in regex.groupindex:
            labels.append(match.group("label"))
        else:
            labels.append(match.group(1) if regex.groups else match.group(0))
    if unmatched:
        raise UnknownLabelError(
            f"{what}: --label-regex {pattern!r} matches no label in {len(unmatched)} of {len(headers)} "
            f"headers (e.g. {unmatched[0]!r})"
        )
    return np.asarray(labels, dtype=str)


def write_fasta(data: SequenceSet, path: str | os.PathLike, index: bool = False) -> Path:
    """Write ``data`` as FASTA (gzip-compressed for a ``.gz`` name), atomically; labels go in the
    description as ``label=<value>`` (read back with ``label_regex=r"label=(\\S+)"``)."""
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    labels = data.labels if data.labels is not None else [None] * len(data)
    records = [
        SeqRecord(Seq(seq), id=rid, description="" if label is None else f"label={label}")
        for seq, rid, label in zip(data.sequences, data.ids, labels, strict=True)
    ]

    def writer(tmp: Path) -> None:
        if str(path).lower().endswith(".gz"):
            with gzip.open(tmp, "wt") as handle:
                SeqIO.write(records, handle, "fasta")
        else:
            SeqIO.write(records, tmp, "fasta")

    return atomic_write(path, writer)


# ---------------------------------------------------------------------------------------- tokens
def encode(sequences: Sequence[str], alphabet: str, length: int) -> np.ndarray:
    """Tokens ``(N, length)``: letters as ``1 .. A`` in alphabet order, padded with :data:`PAD` (0).

    Raises
    ------
    InvalidDataError
        A sequence longer than ``length`` or with a letter outside the alphabet.
    """
    lookup = np.zeros(256, dtype=np.int64) - 1
    for code, letter in enumerate(ALPHABETS[alphabet], start=1):
        lookup[ord(letter)] = code
    tokens = np.zeros((len(sequences), length), dtype=np.int64)
    for i, seq in enumerate(sequences):
        if len(seq) > length:
            raise InvalidDataError(f"sequence {i + 1} has {len(seq)} letters, more than the length {length}")
        codes = lookup[np.frombuffer(seq.encode("ascii", "replace"), dtype=np.uint8)]
        if (codes < 0).any():
            raise InvalidDataError(f"sequence {i + 1} has letters outside the {alphabet} alphabet")
        tokens[i, : len(seq)] = codes
    return tokens


def decode(tokens: np.ndarray, alphabet: str) -> list[str]:
    """Sequences from tokens: letters up to the first padding symbol."""
    letters = np.array(["", *ALPHABETS[alphabet]], dtype=object)
    out = []
    for row in np.asarray(tokens):
        stop = np.flatnonzero(row == PAD)
        out.append("".join(letters[row[: stop[0] if len(stop) else len(row)]]))
    return out


__all__ = [
    "ALPHABETS",
    "PAD",
    "SUFFIXES",
    "SequenceSet",
    "check_alphabet",
    "check_lengths",
    "decode",
    "encode",
    "infer_alphabet",
    "labels_from_headers",
    "read_fasta",
    "write_fasta",
]
