"""Protein structures as Cα traces: PDB/mmCIF in (Biopython), fixed-length fragments, Cα-only PDB out.

A :class:`StructureSet` holds gap-free *segments* of Cα atoms: a chain is cut wherever a residue lacks
its Cα, a residue is not an amino acid, or two consecutive Cα atoms are more than :data:`MAX_STEP` Å
apart (an unresolved loop), so a fragment (:meth:`StructureSet.fragments`) never spans a gap. Each
segment keeps its *group* -- the entry (PDB ID or file) it comes from -- so that splits keep the chains
of one entry together: overlapping fragments of one chain are near-copies of each other, and a split by
fragment would leak them into the held-out part.

How files are read, explicitly:

* **Models** (NMR ensembles): the first model only (``models="first"``, the default), or every model
  as its own segments of the same group (``models="all"``).
* **Alternate locations**: the Cα with the highest occupancy (Biopython's choice; the first listed on a
  tie).
* **Residues**: the 20 standard amino acids; modified ones that Biopython maps to a parent (MSE -> M,
  SEP -> S, ...) are kept as their parent and counted; any other residue with a Cα (ligands, ``UNK``)
  breaks the chain and is counted. Waters and other hetero groups without a Cα are ignored.
* Files: ``.pdb``/``.ent`` and ``.cif``/``.mmcif``, each optionally ``.gz``; a folder of them; or a
  ``.npz`` Cα archive (:func:`write_ca_archive`; the layout of ``protein_ca.npz``).
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from biogan.data.backbones import distance_maps
from biogan.errors import InvalidDataError, OutputPathError

MAX_STEP = 4.2
"""Consecutive Cα atoms further apart than this (Å) are a chain break."""
PDB_SUFFIXES = (".pdb", ".ent")
CIF_SUFFIXES = (".cif", ".mmcif")
STRUCTURE_SUFFIXES = tuple(s + z for s in PDB_SUFFIXES + CIF_SUFFIXES for z in ("", ".gz"))
ARCHIVE_SUFFIX = ".npz"
SUFFIXES = (*STRUCTURE_SUFFIXES, ARCHIVE_SUFFIX)
MODELS = ("first", "all")


class StructureWarning(UserWarning):
    """Parts of the input structures that biogan left out (short chains, non-standard residues, ...)."""


@dataclass
class StructureSet:
    """Gap-free Cα segments of protein chains.

    Parameters
    ----------
    chains
        One ``float32`` array ``(L_i, 3)`` of Cα coordinates (Å) per segment.
    ids
        One name per segment (``"1abc:A:12-140"``; fragments add ``@start``).
    groups
        The entry of each segment (PDB ID or file stem): splits keep a group together.
    sequences
        One-letter sequence of each segment (``"G" * L`` for generated fragments).
    labels
        One label per segment (e.g. the source data set), or ``None``.
    skipped
        What reading left out, by reason (``{"non-standard residues": 3, ...}``).
    """

    chains: list[np.ndarray]
    ids: list[str] = field(default_factory=list)
    groups: np.ndarray | None = None
    sequences: list[str] = field(default_factory=list)
    labels: np.ndarray | None = None
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.chains = [np.asarray(c, dtype=np.float32).reshape(-1, 3) for c in self.chains]
        n = len(self.chains)
        self.ids = [str(i) for i in self.ids] if self.ids else [f"fragment{i + 1}" for i in range(n)]
        self.groups = np.asarray(self.ids if self.groups is None else self.groups).astype(str)
        self.sequences = list(self.sequences) if self.sequences else ["G" * len(c) for c in self.chains]
        if not len(self.ids) == len(self.groups) == len(self.sequences) == n:
            raise InvalidDataError(f"{n} segments need as many ids, groups and sequences")
        if self.labels is not None:
            self.labels = np.asarray(self.labels).astype(str)
            if len(self.labels) != n:
                raise InvalidDataError(f"{len(self.labels)} labels for {n} segments")
        for name, chain in zip(self.ids, self.chains, strict=True):
            if not np.isfinite(chain).all():
                raise InvalidDataError(f"segment {name} has coordinates that are not finite numbers")

    def __len__(self) -> int:
        return len(self.chains)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(c) for c in self.chains], dtype=np.int64)

    @property
    def fragment_length(self) -> int | None:
        """The common length of all segments (a set of fragments), else ``None``."""
        lengths = set(self.lengths.tolist())
        return lengths.pop() if len(lengths) == 1 else None

    def subset(self, index: Sequence[int] | np.ndarray) -> StructureSet:
        """The segments at ``index`` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        return StructureSet(
            [self.chains[i] for i in index],
            [self.ids[i] for i in index],
            self.groups[index],
            [self.sequences[i] for i in index],
            None if self.labels is None else self.labels[index],
            dict(self.skipped),
        )

    def coordinates(self) -> np.ndarray:
        """All fragments as one array ``(n, L, 3)``.

        Raises
        ------
        InvalidDataError
            The segments differ in length: cut fragments first (:meth:`fragments`).
        """
        if self.fragment_length is None:
            raise InvalidDataError(
                f"the {len(self)} segments have lengths {self.lengths.min()}-{self.lengths.max()}: cut "
                "fixed-length fragments first (StructureSet.fragments or --fragment-length)"
            )
        return np.stack(self.chains)

    def distance_maps(self) -> np.ndarray:
        """Cα distance maps ``(n, L, L)`` of a set of fragments."""
        return distance_maps(self.coordinates())

    def fragments(self, length: int, stride: int | None = None, warn: bool = True) -> StructureSet:
        """Every window of ``length`` consecutive Cα atoms, starting every ``stride`` residues (default
        :func:`default_stride`), within segments (never across a gap); segments shorter than ``length``
        are counted and skipped (a :class:`StructureWarning` says how many).

        Raises
        ------
        InvalidDataError
            ``length`` below 8, or no segment is long enough.
        """
        if length < 8:
            raise InvalidDataError(f"the fragment length must be at least 8 residues, not {length}")
        stride = default_stride(length) if stride is None else int(stride)
        if stride < 1:
            raise InvalidDataError(f"the fragment stride must be at least 1, not {stride}")
        chains, ids, groups, seqs, labels = [], [], [], [], []
        short = 0
        for i, chain in enumerate(self.chains):
            if len(chain) < length:
                short += 1
                continue
            for start in range(0, len(chain) - length + 1, stride):
                chains.append(chain[start : start + length])
                ids.append(f"{self.ids[i]}@{start}")
                groups.append(self.groups[i])
                seqs.append(self.sequences[i][start : start + length])
                if self.labels is not None:
                    labels.append(self.labels[i])
        if not chains:
            raise InvalidDataError(
                f"none of the {len(self)} chain segments has {length} residues without a gap (longest: "
                f"{self.lengths.max() if len(self) else 0}); choose a shorter --fragment-length"
            )
        skipped = dict(self.skipped)
        if short:
            skipped[f"segments shorter than {length} residues"] = short
            if warn:
                warnings.warn(
                    f"{short} of {len(self)} chain segments are shorter than {length} residues and were "
                    "skipped",
                    StructureWarning,
                    stacklevel=2,
                )
        return StructureSet(
            chains, ids, np.array(groups), seqs, np.array(labels) if labels else None, skipped
        )

    @classmethod
    def from_coordinates(cls, coords: np.ndarray, prefix: str = "fragment") -> StructureSet:
        """A set of fragments ``(n, L, 3)``, each its own group, named ``prefix1``, ``prefix2``, ..."""
        coords = np.asarray(coords, dtype=np.float32)
        ids = [f"{prefix}{i + 1}" for i in range(len(coords))]
        return cls(list(coords), ids)


def default_stride(length: int) -> int:
    """Residues between the starts of consecutive training fragments: ``length // 16`` (at least 1), so
    a chain gives about 16 fragments per fragment length of its residues."""
    return max(1, length // 16)


def group_split(
    groups: np.ndarray, share: float, seed: int, strata: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train, held_out)`` with about ``share`` of the groups held out, whole groups on one
    side (stratified by ``strata`` when given: each stratum loses the same share of its groups)."""
    groups = np.asarray(groups).astype(str)
    strata = np.zeros(len(groups), dtype=str) if strata is None else np.asarray(strata).astype(str)
    rng = np.random.default_rng(seed)
    held: list[str] = []
    for stratum in sorted(set(strata.tolist())):
        names = np.array(sorted(set(groups[strata == stratum].tolist())))
        n_held = round(share * len(names))
        if 0 < n_held < len(names):
            held += rng.choice(names, n_held, replace=False).tolist()
    out = np.isin(groups, held)
    return np.flatnonzero(~out), np.flatnonzero(out)


# ---------------------------------------------------------------------------------------- reading
def _parser(path: Path) -> Any:
    from Bio.PDB import MMCIFParser, PDBParser

    name = path.name.lower().removesuffix(".gz")
    return MMCIFParser(QUIET=True) if name.endswith(CIF_SUFFIXES) else PDBParser(QUIET=True)


def _residue_letter(residue: Any) -> tuple[str | None, bool]:
    """One-letter code of an amino acid and whether it is a modified one read as its parent."""
    from Bio.Data.PDBData import protein_letters_3to1, protein_letters_3to1_extended

    name = residue.get_resname().strip().upper()
    if name.capitalize() in protein_letters_3to1 or name in protein_letters_3to1:
        return protein_letters_3to1.get(name.capitalize(), protein_letters_3to1.get(name)), False
    letter = protein_letters_3to1_extended.get(name.capitalize(), protein_letters_3to1_extended.get(name))
    return (letter, True) if letter and letter != "X" else (None, False)


def _segments(chain: Any, skipped: Counter) -> list[tuple[np.ndarray, str, int]]:
    """Gap-free Cα runs of one chain: ``(coordinates, sequence, first residue number)``."""
    runs: list[tuple[list[np.ndarray], list[str], int]] = []
    current: tuple[list[np.ndarray], list[str], int] | None = None
    for residue in chain:
        hetero = residue.id[0]
        if hetero == "W":
            continue
        has_ca = "CA" in residue and residue["CA"].element in ("C", "", None)
        letter, modified = _residue_letter(residue)
        if letter is None:
            if has_ca:  # an unknown residue inside a chain: its Cα geometry is not a protein's
                skipped["non-standard residues (chain cut there)"] += 1
                current = None
            continue
        if not has_ca:
            skipped["amino acids without a Cα (chain cut there)"] += 1
            current = None
            continue
        if modified:
            skipped["modified amino acids read as their parent (e.g. MSE as M)"] += 1
        atom = residue["CA"]
        if atom.is_disordered():
            skipped["Cα atoms with alternate locations (highest occupancy kept)"] += 1
        xyz = atom.get_coord().astype(np.float32)
        if current is not None and np.linalg.norm(xyz - current[0][-1]) > MAX_STEP:
            skipped["chain breaks (Cα-Cα > 4.2 Å)"] += 1
            current = None
        if current is None:
            current = ([], [], int(residue.id[1]))
            runs.append(current)
        current[0].append(xyz)
        current[1].append(letter)
    return [(np.stack(c), "".join(s), first) for c, s, first in runs]


def read_structure_file(path: str | os.PathLike, models: str = "first") -> StructureSet:
    """Cα segments of one PDB or mmCIF file (optionally gzipped), grouped by the file's entry.

    Raises
    ------
    InvalidDataError
        The file cannot be parsed, or holds no amino acid with a Cα atom.
    """
    if models not in MODELS:
        raise InvalidDataError(f"models must be one of {MODELS}, not {models!r}")
    path = Path(path)
    entry = path.name.lower().removesuffix(".gz").rsplit(".", 1)[0]
    try:
        with _open_text(path) as handle:
            structure = _parser(path).get_structure(entry, handle)
    except (ValueError, KeyError, IndexError, UnicodeDecodeError, EOFError, OSError) as err:
        raise InvalidDataError(f"{path} is not a readable PDB/mmCIF file ({str(err)[:120]})") from None
    skipped: Counter = Counter()
    chains, ids, seqs = [], [], []
    all_models = list(structure)
    for model in all_models if models == "all" else all_models[:1]:
        tag = f"{model.serial_num}:" if models == "all" and len(all_models) > 1 else ""
        for chain in model:
            for xyz, seq, first in _segments(chain, skipped):
                chains.append(xyz)
                seqs.append(seq)
                ids.append(f"{entry}:{tag}{chain.id}:{first}-{first + len(seq) - 1}")
    if not chains:
        raise InvalidDataError(
            f"{path} has no amino acid with a Cα atom: not a protein structure (PDB or mmCIF)"
        )
    if models == "first" and len(all_models) > 1:
        skipped[f"further models (NMR ensemble; models='all' reads them) in {path.name}"] += (
            len(all_models) - 1
        )
    return StructureSet(chains, ids, np.full(len(chains), entry), seqs, None, dict(skipped))


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt")  # type: ignore[return-value]
    return open(path)


def read_ca_archive(path: str | os.PathLike) -> StructureSet:
    """A ``.npz`` Cα archive (keys ``ids``, ``lengths``, ``offsets``, ``ca``, optional ``seqs``,
    ``ca_mask``, ``source``): chains cut at missing Cα atoms and at steps over :data:`MAX_STEP` Å; the
    group of a chain is its PDB ID (the first four characters of its id, lower case); ``source``
    becomes the labels."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
        ids, lengths, offsets, ca = (archive[k] for k in ("ids", "lengths", "offsets", "ca"))
        seqs = archive.get("seqs")
        mask = archive["ca_mask"] if "ca_mask" in archive else np.isfinite(ca).all(1)
        source = archive.get("source")
    except (OSError, ValueError, KeyError) as err:
        raise InvalidDataError(
            f"{path} is not a Cα archive (.npz with ids, lengths, offsets, ca: {str(err)[:100]})"
        ) from None
    skipped: Counter = Counter()
    chains, names, groups, sequences, labels = [], [], [], [], []
    for i, (name, start, n) in enumerate(zip(ids, offsets, lengths, strict=True)):
        xyz, ok = ca[start : start + n], mask[start : start + n].astype(bool)
        seq = str(seqs[i]) if seqs is not None else "X" * int(n)
        for a, b in _runs(xyz, ok):
            chains.append(xyz[a:b])
            names.append(f"{name}:{a + 1}-{b}")
            groups.append(str(name)[:4].lower())
            sequences.append(seq[a:b])
            if source is not None:
                labels.append(str(source[i]))
        breaks = int((~ok).sum()) + int(
            (np.linalg.norm(np.diff(xyz, axis=0), axis=1)[ok[1:] & ok[:-1]] > MAX_STEP).sum()
        )
        if breaks:
            skipped["chain breaks (missing Cα or Cα-Cα > 4.2 Å)"] += breaks
    if not chains:
        raise InvalidDataError(f"{path} holds no Cα coordinates")
    return StructureSet(
        chains, names, np.array(groups), sequences, np.array(labels) if labels else None, dict(skipped)
    )


def _runs(xyz: np.ndarray, ok: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` of the runs of present Cα atoms (``ok``) without a step over :data:`MAX_STEP`."""
    runs: list[tuple[int, int]] = []
    start = None
    for i in range(len(xyz)):
        if not ok[i]:
            if start is not None:
                runs.append((start, i))
            start = None
            continue
        if start is not None and np.linalg.norm(xyz[i] - xyz[i - 1]) > MAX_STEP:
            runs.append((start, i))
            start = None
        if start is None:
            start = i
    if start is not None:
        runs.append((start, len(xyz)))
    return runs


def read_structures(path: str | os.PathLike, models: str = "first", warn: bool = True) -> StructureSet:
    """Protein structures from a PDB/mmCIF file, a folder of them, or a ``.npz`` Cα archive.

    Parameters
    ----------
    path
        A file (``.pdb``, ``.ent``, ``.cif``, ``.mmcif``, optionally ``.gz``; or ``.npz``) or a folder
        whose structure files are all read (sorted by name).
    models
        ``"first"`` model of each file, or ``"all"`` (NMR ensembles).
    warn
        Say what was left out (a :class:`StructureWarning`).

    Raises
    ------
    InvalidDataError
        No such path, an empty folder, or a file that is not a structure (named in the message).
    """
    path = Path(path)
    if not path.exists():
        raise InvalidDataError(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.name.lower().endswith(STRUCTURE_SUFFIXES))
        if not files:
            raise InvalidDataError(
                f"the folder {path} holds no structure files ({', '.join(STRUCTURE_SUFFIXES[::2])})"
            )
        data = concatenate([read_structure_file(p, models) for p in files])
    elif path.name.lower().endswith(ARCHIVE_SUFFIX):
        data = read_ca_archive(path)
    elif path.name.lower().endswith(STRUCTURE_SUFFIXES):
        data = read_structure_file(path, models)
    else:
        raise InvalidDataError(
            f"{path}: structures are read from {', '.join(SUFFIXES)} files or a folder of them"
        )
    if warn:
        warn_skipped(data, path, stacklevel=3)
    return data


def warn_skipped(data: StructureSet, path: str | os.PathLike, stacklevel: int = 2) -> None:
    """One :class:`StructureWarning` listing what reading ``path`` left out (nothing when nothing was)."""
    if data.skipped:
        left = "; ".join(f"{n} {reason}" for reason, n in data.skipped.items())
        warnings.warn(f"reading {path}: {left}", StructureWarning, stacklevel=stacklevel)


def concatenate(sets: Sequence[StructureSet]) -> StructureSet:
    """One set of all segments of ``sets`` (labels kept only when every set has them)."""
    skipped: Counter = Counter()
    for s in sets:
        skipped.update(s.skipped)
    labelled = all(s.labels is not None for s in sets)
    return StructureSet(
        [c for s in sets for c in s.chains],
        [i for s in sets for i in s.ids],
        np.concatenate([s.groups for s in sets]),
        [q for s in sets for q in s.sequences],
        np.concatenate([s.labels for s in sets]) if labelled and sets else None,
        dict(skipped),
    )


# ---------------------------------------------------------------------------------------- writing
def write_ca_pdb(coords: np.ndarray, path: str | os.PathLike, sequence: str | None = None) -> Path:
    """One Cα-only PDB file (``ATOM ... CA`` records of chain A, residues numbered from 1; glycine
    unless ``sequence`` names them), written with Biopython's ``PDBIO``."""
    from Bio.Data.PDBData import protein_letters_1to3
    from Bio.PDB import PDBIO
    from Bio.PDB.StructureBuilder import StructureBuilder

    coords = np.asarray(coords, dtype=np.float32)
    sequence = sequence or "G" * len(coords)
    builder = StructureBuilder()
    builder.init_structure("biogan")
    builder.init_model(0)
    builder.init_chain("A")
    builder.init_seg("    ")
    for i, (xyz, letter) in enumerate(zip(coords, sequence, strict=True)):
        builder.init_residue(protein_letters_1to3.get(letter, "GLY").upper(), " ", i + 1, " ")
        builder.init_atom("CA", xyz, 0.0, 1.0, " ", " CA ", element="C")
    io_ = PDBIO()
    io_.set_structure(builder.get_structure())
    out = Path(path)
    with tempfile.NamedTemporaryFile("w", dir=out.parent, suffix=".pdb.tmp", delete=False) as tmp:
        io_.save(tmp)
    os.replace(tmp.name, out)
    return out


def write_ca_archive(data: StructureSet, path: str | os.PathLike) -> Path:
    """The segments as a ``.npz`` Cα archive (read back by :func:`read_ca_archive`), atomically."""
    from biogan._utils import atomic_write

    lengths = data.lengths
    arrays = {
        "ids": np.array(data.ids),
        "seqs": np.array(data.sequences),
        "lengths": lengths,
        "offsets": np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64),
        "ca": np.concatenate(data.chains) if len(data) else np.zeros((0, 3), np.float32),
    }
    if data.labels is not None:
        arrays["source"] = data.labels

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    return atomic_write(path, write, suffix=".npz")


def write_structures(data: StructureSet, path: str | os.PathLike, index: bool = False) -> Path:
    """Generated fragments as a folder: one Cα-only PDB per fragment (``<id>.pdb``), their distance maps
    (``distance_maps.npy``, ``(n, L, L)`` Å), all coordinates (``fragments.npz``) and pictures
    (``distance_maps.png``, ``backbones.png``). The folder is assembled beside ``path`` and moved into
    place at the end, so a failure leaves no half-written output."""
    import matplotlib.pyplot as plt

    from biogan.plot.structures import backbone_gallery, distance_map_grid

    out = Path(path)
    if out.name.lower().endswith(SUFFIXES):
        raise InvalidDataError(f"{out}: structures are written to a folder; give a folder name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    except OSError as err:
        raise OutputPathError(f"cannot write to {out}: {err.strerror or err}") from None
    try:
        for name, chain, seq in zip(data.ids, data.chains, data.sequences, strict=True):
            write_ca_pdb(chain, tmp / f"{_file_name(name)}.pdb", seq)
        write_ca_archive(data, tmp / "fragments.npz")
        if data.fragment_length is not None:
            np.save(tmp / "distance_maps.npy", data.distance_maps())
            for stem, make in (("distance_maps", distance_map_grid), ("backbones", backbone_gallery)):
                fig = make(data)
                fig.savefig(tmp / f"{stem}.png", dpi=110, bbox_inches="tight")
                plt.close(fig)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except OSError as err:
        raise OutputPathError(f"cannot write to {out}: {err.strerror or err}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _file_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


__all__ = [
    "MAX_STEP",
    "SUFFIXES",
    "StructureSet",
    "StructureWarning",
    "concatenate",
    "default_stride",
    "group_split",
    "read_ca_archive",
    "read_structure_file",
    "read_structures",
    "warn_skipped",
    "write_ca_archive",
    "write_ca_pdb",
    "write_structures",
]
