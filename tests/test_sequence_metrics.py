"""Sequence evaluation: the engine's sequence metric set, sequence pictures and report, the FASTA CLI path."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from biogan.cli import app
from biogan.data.datasets import bacterial_proteins
from biogan.data.sequences import SequenceSet, write_fasta
from biogan.errors import InvalidDataError
from biogan.metrics import sequences
from biogan.metrics.engine import METRIC_SETS, evaluate, kind_of
from biogan.metrics.sequences import SEQUENCE_METRICS, copy_shares, nearest_edit_distance
from biogan.metrics.two_sample import c2st_auc
from biogan.plot import sequence_logo
from biogan.report import write_report
from biogan.report.cli import KIND_CHOICES, input_kind
from biogan.report.html import SECTIONS

runner = CliRunner()
PROTPARAM_METRICS = {"aa_composition_w1", "gravy_w1", "charge_w1", "pi_w1"}


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """BLAS threads spin against each other on a busy 2-core machine: one thread is much faster."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def parts():
    """Three disjoint random sets of 300 real bacterial proteins of at most 300 residues."""
    proteins = bacterial_proteins(max_length=300)
    order = np.random.default_rng(0).permutation(len(proteins))
    return tuple(proteins.subset(np.sort(order[i * 300 : (i + 1) * 300])) for i in range(3))


@pytest.fixture
def fast_c2st(monkeypatch):
    """Plumbing tests check rows, not classifier values: the forest C2ST becomes the logistic one."""
    monkeypatch.setattr(
        sequences, "c2st_auc", lambda a, b, classifier="rf", **kw: c2st_auc(a, b, "logistic", **kw)
    )


def _row(table, metric, scope="overall"):
    return table[(table.metric == metric) & (table.scope == scope)].iloc[0]


def _iid_residues(data: SequenceSet, seed: int = 0) -> SequenceSet:
    """Every residue of every sequence shuffled across all positions: the same lengths and composition,
    no order, no per-protein composition."""
    letters = np.array(list("".join(data.sequences)))
    np.random.default_rng(seed).shuffle(letters)
    pieces = np.split(letters, np.cumsum(data.lengths)[:-1])
    return SequenceSet(["".join(piece) for piece in pieces], data.alphabet)


def _by_length(data: SequenceSet) -> SequenceSet:
    labels = np.where(data.lengths < 150, "short", "long")
    return SequenceSet(data.sequences, data.alphabet, data.ids, labels)


# ------------------------------------------------------------------------------------- metrics
def test_real_proteins_vs_real_sit_at_the_control(parts):
    _, held, other = parts
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        same = evaluate(_by_length(held), _by_length(other), seed=0)  # control: two halves of held
    assert not [w for w in caught if "PRIVACY" in str(w.message)]
    assert kind_of(held) == "sequences" and METRIC_SETS["sequences"].noun == "sequence"
    c2st = _row(same, "c2st_rf_auc")
    assert abs(c2st.value - 0.5) < 0.1 and abs(c2st.control - 0.5) < 0.1
    assert {"short", "long"} <= set(same[same.metric == "c2st_rf_auc"].scope)  # per-label rows
    overall = same[same.scope == "overall"]
    assert (overall.verdict == "good").all(), overall.to_string()
    novelty = _row(same, "novelty")  # without train: distances to the nearest other real protein
    assert 0.5 < novelty.value < 0.9 and abs(novelty.value - novelty.control) < 0.05


def test_iid_residues_are_detected(parts):
    train, held, other = parts
    table = evaluate(held, _iid_residues(other), train=train, seed=0)
    c2st = _row(table, "c2st_rf_auc")  # per-protein composition is gone: membrane proteins, too
    assert c2st.value > 0.7 and c2st.value > c2st.control + 0.15 and c2st.verdict == "poor"
    k2, k3 = _row(table, "kmer_js_k2"), _row(table, "kmer_js_k3")  # neighbours no longer go together
    assert k2.value > 1.2 * k2.control and k3.value > k3.control
    # The shuffle keeps the lengths and the pooled composition, and the metrics must say so.
    assert _row(table, "kmer_js_k1").verdict == "good" and _row(table, "length_w1").verdict == "good"


def test_copies_of_training_sequences_trip_the_privacy_check(parts, fast_c2st):
    train, held, _ = parts
    with pytest.warns(UserWarning, match="PRIVACY ALERT: synthetic sequences"):
        table = evaluate(held, train, train=train, seed=0, max_sequences=60)
    copies, novelty = _row(table, "copy_rate"), _row(table, "novelty")
    assert copies.value == 1.0 and copies.control < 0.05 and copies.verdict == "poor"
    assert novelty.value == 0.0 and novelty.control > 0.5 and novelty.verdict == "poor"
    # Without a training set, copies of the real sequences themselves alert.
    with pytest.warns(UserWarning, match="exact copies of real sequences"):
        evaluate(held, held.subset(np.arange(100)), seed=0, max_sequences=60)
    assert copy_shares(held, train, train) == (1.0, copies.control)
    assert nearest_edit_distance(["ACDE"], ["ACDE", "AC"]).tolist() == [0.0]
    assert nearest_edit_distance(["ACDE"], ["ACDE", "AC"], exclude=np.array([0])).tolist() == [0.5]


def test_each_alphabet_emits_its_metrics(parts, fast_c2st):
    train, held, _ = parts
    genes = bacterial_proteins(genes=True)
    genes = genes.subset(np.flatnonzero(genes.lengths <= 600)[:240])
    dna_a, dna_b = genes.subset(np.arange(120)), genes.subset(np.arange(120, 240))
    rna_a, rna_b = (SequenceSet([s.replace("T", "U") for s in x.sequences], "rna") for x in (dna_a, dna_b))
    protein = set(evaluate(held, train, seed=0, max_sequences=100).metric)
    for real, synth in ((dna_a, dna_b), (rna_a, rna_b)):
        nucleic = set(evaluate(real, synth, seed=0).metric)
        assert {f"kmer_js_k{k}" for k in range(1, 7)} | {"gc_w1"} <= nucleic
        assert not nucleic & PROTPARAM_METRICS
    assert {f"kmer_js_k{k}" for k in range(1, 4)} | PROTPARAM_METRICS <= protein
    assert not protein & {"gc_w1", "kmer_js_k4"}
    assert protein | {"gc_w1", "kmer_js_k4", "kmer_js_k5", "kmer_js_k6"} == set(SEQUENCE_METRICS)
    with pytest.raises(InvalidDataError, match="are dna but the real ones are protein"):
        evaluate(held, dna_a)
    with pytest.raises(InvalidDataError, match="outside the protein alphabet"):
        evaluate(held, SequenceSet(["MKX" * 20] * 50, "protein"))
    with pytest.raises(InvalidDataError, match="not sequences"):
        evaluate(held, pd.DataFrame({"a": [1.0] * 50}), kind="sequences")


# ------------------------------------------------------------------------------------- report and CLI
def test_sequence_report_is_written(parts, tmp_path, fast_c2st):
    train, held, other = parts
    path = write_report(tmp_path / "report.html", held, other.subset(np.arange(150)), train=train, seed=0)
    text = path.read_text(encoding="utf-8")
    for key in ("summary", "metrics", "pictures"):
        assert f'<section id="{key}"><h2>{SECTIONS[key]}</h2>' in text
    assert text.count("<img") == 5 and "not drawn" not in text
    assert "novelty" in text and "kmer_js_k3" in text and "protein" in text
    assert 'class="alert"' not in text
    with pytest.warns(UserWarning, match="PRIVACY ALERT"):
        copied = write_report(tmp_path / "copied.html", held, train, train=train, seed=0)
    assert 'class="alert"' in copied.read_text(encoding="utf-8")


def test_sequence_logo_without_logomaker(parts, monkeypatch):
    _, held, other = parts
    monkeypatch.setitem(sys.modules, "logomaker", None)  # import logomaker now raises ImportError
    fig = sequence_logo(held, other, positions=12)
    heights = np.array([bar.get_height() for bar in fig.axes[0].patches])
    assert heights.shape == (20 * 12,)  # one bar per amino acid and position, letter by letter
    heights = heights.reshape(20, 12)
    assert np.allclose(heights.sum(0), 1.0)  # every position's shares stack to 1
    assert heights[held.letters.index("M"), 0] == 1.0  # every protein starts with M


def test_cli_evaluate_on_fasta_files(parts, tmp_path, fast_c2st):
    train, held, other = parts
    files = {name: tmp_path / f"{name}.fasta" for name in ("train", "held", "generated")}
    for name, data in zip(files, (train, held, other.subset(np.arange(150))), strict=True):
        write_fasta(data, files[name])
    out = tmp_path / "rep"
    args = ["evaluate", str(files["held"]), str(files["generated"]), "--train", str(files["train"])]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and "report.html" in result.output
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"c2st_rf_auc", "kmer_js_k3", "copy_rate", "novelty"} <= set(metrics.metric)
    assert "logo.png" in {p.name for p in out.iterdir()}
    assert "sequences" in KIND_CHOICES
    labelled = {name: tmp_path / f"{name}_l.fasta" for name in files}
    for name, data in zip(labelled, (train, held, other.subset(np.arange(150))), strict=True):
        data = data.subset(np.arange(len(data)))
        data.labels = np.where(np.arange(len(data)) % 2 == 0, "even", "odd")
        write_fasta(data, labelled[name])
    args = ["evaluate", str(labelled["held"]), str(labelled["generated"]), "--train", str(labelled["train"])]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "rep2"), "--label-regex", r"label=(\w+)"])
    assert result.exit_code == 0, result.output
    scopes = set(pd.read_csv(tmp_path / "rep2" / "metrics.csv").scope)
    assert {"even", "odd"} <= scopes  # per-label rows from the header labels
    names = ("a.fasta", "b.FA.GZ", "c.faa", "d.csv", "e.txt", "f.h5ad")
    kinds = [input_kind(Path(name)) for name in names]
    assert kinds == ["sequences", "sequences", "sequences", "table", "cells", "cells"]
