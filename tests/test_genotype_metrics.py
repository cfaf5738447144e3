"""Genotype evaluation: the engine's genotype metric set, genotype pictures and report, the VCF CLI path."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from biogan.cli import app
from biogan.data.datasets import simulated_genotypes
from biogan.data.genotypes import GenotypeSet, write_vcf
from biogan.errors import InvalidDataError
from biogan.metrics import engine, genotypes
from biogan.metrics.engine import METRIC_SETS, evaluate, kind_of
from biogan.metrics.genotypes import (
    GENOTYPE_METRICS,
    aats,
    allele_frequencies,
    duplicate_rate,
    exact_copy_rate,
    genotypes_from,
    hamming_distances,
    ld_decay,
    ld_matrix_agreement,
    ld_r2,
    pairwise_distance_w1,
    pc_c2st,
    privacy_loss,
)
from biogan.metrics.two_sample import c2st_auc
from biogan.plot import genotypes as plot
from biogan.report import write_report
from biogan.report.cli import REPORT_INPUTS, input_kind
from biogan.report.html import SECTIONS

runner = CliRunner()
FIGURES = (
    plot.allele_frequency_scatter,
    plot.ld_heatmaps,
    plot.ld_decay_curves,
    plot.genotype_pca,
    plot.pairwise_distance_histograms,
    plot.nearest_neighbour_histogram,
)


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """BLAS threads spin against each other on a busy 2-core machine: one thread is much faster."""
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def halves():
    """300 simulated diploid samples of two populations (300 kb, ~1,500 SNPs), split into training and
    held-out halves of 150 samples (300 haplotypes) each."""
    data = simulated_genotypes(300, length=3e5, n_populations=2, seed=1)
    order = np.random.default_rng(0).permutation(len(data))
    return data.subset(np.sort(order[:150])), data.subset(np.sort(order[150:]))


@pytest.fixture
def fast_c2st(monkeypatch):
    """Plumbing tests check rows, not classifier values: the forest C2STs become logistic ones."""

    def logistic(a, b, classifier="rf", **kw):
        return c2st_auc(a, b, "logistic", **kw)

    monkeypatch.setattr(genotypes, "c2st_auc", logistic)
    monkeypatch.setattr(engine, "c2st_auc", logistic)  # the per-label tests


def _row(table, metric, scope="overall"):
    return table[(table.metric == metric) & (table.scope == scope)].iloc[0]


def _independent_snps(data: GenotypeSet, seed: int = 0) -> GenotypeSet:
    """Every allele drawn from its SNP's frequency in ``data``: the allele frequencies kept, LD and
    population structure gone."""
    haplotypes = data.haplotypes()
    rng = np.random.default_rng(seed)
    drawn = (rng.random(haplotypes.shape) < haplotypes.mean(axis=0)).astype(np.int8)
    return GenotypeSet.from_haplotypes(drawn, data.variants, data.ploidy, data.labels)


# ------------------------------------------------------------------------------------- building blocks
def test_distances_frequencies_and_ld_on_small_cases():
    a = np.array([[0, 1, 1, -1], [1, 1, 0, 0]], dtype=np.int8)
    b = np.array([[0, 1, 0, 1]], dtype=np.int8)
    assert hamming_distances(a, b)[:, 0].tolist() == pytest.approx([1 / 3, 2 / 4])  # missing skipped
    within = hamming_distances(a)
    assert np.isinf(np.diag(within)).all() and within[0, 1] == pytest.approx(2 / 3)
    dosages = np.array([[0, 2, 1], [2, 0, 1]], dtype=np.int8)  # allele differences per SNP: (2 + 2) / 3
    assert hamming_distances(dosages[:1], dosages[1:])[0, 0] == pytest.approx(4 / 3)
    assert allele_frequencies(a).tolist() == [0.5, 1.0, 0.5, 0.0]
    linked = np.array([[0, 0, 1], [1, 1, 1], [0, 0, 1], [1, 1, 1]], dtype=np.int8)
    r2 = ld_r2(linked)
    assert r2[0, 1] == pytest.approx(1.0) and r2[0, 2] == 0 and r2[2, 2] == 0  # monomorphic SNP: 0
    positions, chroms = np.array([100, 200, 300]), np.array(["1", "1", "2"])
    decay = ld_decay(linked, positions, bins=np.array([0, 150, 1000]), chroms=chroms)
    assert decay[0] == pytest.approx(1.0) and np.isnan(decay[1])  # no pair across chromosomes
    assert ld_matrix_agreement(r2, r2, positions, chroms)[1] == 0.0
    rows = np.array([[0, 1], [0, 1], [1, 1]], dtype=np.int8)
    assert exact_copy_rate(rows[2:], rows[:2]) == 0.0 and exact_copy_rate(rows[:1], rows) == 1.0
    assert duplicate_rate(rows) == pytest.approx(2 / 3)


def test_real_halves_sit_at_the_control(halves, fast_c2st):
    train, held = halves
    for score in aats(held.haplotypes(), train.haplotypes()):  # ties count 1/2: about 0.5
        assert 0.4 < score < 0.6
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        same = evaluate(held, train, seed=0)  # control: two halves of held
    assert not [w for w in caught if "PRIVACY" in str(w.message)]
    assert kind_of(held) == "genotypes" and METRIC_SETS["genotypes"].noun == "haplotype"
    assert {"pop0", "pop1"} <= set(same[same.metric == "c2st_rf_auc"].scope)  # per-population rows
    overall = same[same.scope == "overall"]
    assert set(overall.metric) == set(GENOTYPE_METRICS) - {"privacy_loss"}  # privacy loss needs train
    assert overall.control.notna().all() and (overall.verdict == "good").all(), overall.to_string()
    assert 0.4 < _row(same, "aats").control < 0.6 and _row(same, "ld_r").control > 0.8


def test_copies_of_the_training_set_are_caught(halves, fast_c2st):
    train, held = halves
    h_train, h_held = train.haplotypes(), held.haplotypes()
    # Identical haplotypes are common over 300 kb, and a copy of one is a tie with its real twin
    # (counted 1/2): AATS of a copy is exactly half the training set's duplicate share.
    assert aats(h_train, h_train.copy()) == pytest.approx((duplicate_rate(h_train) / 2,) * 3)
    assert exact_copy_rate(h_train, h_train) == 1.0
    distinct = np.unique(h_train, axis=0)  # without twins a copy is always the nearest neighbour
    assert aats(distinct, distinct.copy())[0] < 0.1
    assert privacy_loss(distinct.copy(), distinct, h_held) > 0.35
    assert abs(privacy_loss(h_held[::2], h_train, h_held[1::2])) < 0.1  # unseen rows: no loss
    with pytest.warns(UserWarning, match="PRIVACY ALERT: synthetic haplotypes"):
        table = evaluate(held, train, train=train, seed=0)
    loss, copies = _row(table, "privacy_loss"), _row(table, "exact_copy_rate")
    assert loss.value > loss.control + 0.15 and abs(loss.control) < 0.1 and loss.verdict == "poor"
    assert copies.value == 1.0 and copies.control < 0.9 and copies.verdict == "poor"
    assert _row(table, "aats").verdict == "good"  # against held-out data a copy looks real: hence privacy


def test_independent_snps_lose_ld_and_structure(halves):
    train, held = halves
    fake = _independent_snps(train)
    table = evaluate(held, fake, train=train, seed=0)
    assert table.control.notna().all() and table.metric.isin(list(GENOTYPE_METRICS)).all()
    ld = _row(table, "ld_r")
    assert ld.value < 0.2 < 0.8 < ld.control and ld.verdict == "poor"
    assert _row(table, "ld_decay_diff").verdict == "poor" and _row(table, "af_r").value > 0.95
    assert _row(table, "aa_truth").value > 0.9  # real haplotypes are each other's neighbours
    c2st = _row(table, "c2st_rf_auc")  # the forest on principal components fit on both sets
    assert c2st.value > 0.9 and abs(c2st.control - 0.5) < 0.1 and c2st.verdict == "poor"
    assert (table[table.scope.isin(["pop0", "pop1"])].value > 0.9).all()
    assert pc_c2st(held.haplotypes(), fake.haplotypes(), seed=0, max_rows=100) > 0.8
    assert pairwise_distance_w1(held.haplotypes(), fake.haplotypes()) > 5 * pairwise_distance_w1(
        held.haplotypes(), train.haplotypes()
    )


def test_inputs_are_checked_and_unphased_sets_use_dosages(halves, fast_c2st):
    train, held = halves
    unphased = GenotypeSet(train.calls, train.samples, train.variants, phased=False, labels=train.labels)
    table = evaluate(held, unphased, seed=0)
    assert _row(table, "af_r").verdict == "good" and _row(table, "exact_copy_rate").value < 0.05
    real = genotypes_from(held, "real")
    genotypes_from(unphased, "synthetic", like=real)  # one unphased set: every set's rows are dosages
    assert len(real) == len(held) and real.rows.max() == 2 and real.labels.tolist() == held.labels.tolist()
    fewer = GenotypeSet(train.calls[:, 1:], train.samples, train.variants.iloc[1:], True, train.labels)
    with pytest.raises(InvalidDataError, match="other SNPs than the real ones"):
        evaluate(held, fewer)
    with pytest.raises(InvalidDataError, match="not genotypes"):
        evaluate(held, pd.DataFrame({"a": [1.0] * 50}), kind="genotypes")
    reordered = train.variants.iloc[::-1]
    flipped = GenotypeSet(train.calls[:, ::-1], train.samples, reordered, True, train.labels)
    assert _row(evaluate(held, flipped, seed=0, max_haplotypes=100), "af_r").value > 0.95  # realigned


# ------------------------------------------------------------------------------------- pictures, report, CLI
def test_pictures_and_report(halves, tmp_path, fast_c2st):
    train, held = halves
    synth = _independent_snps(train)
    for make in FIGURES:
        extra = {"train": train} if make in (plot.ld_decay_curves, plot.nearest_neighbour_histogram) else {}
        assert isinstance(make(held, synth, **extra), Figure), make.__name__
    path = write_report(tmp_path / "report.html", held, synth, train=train, seed=0)
    text = path.read_text(encoding="utf-8")
    for key in ("summary", "metrics", "pictures"):
        assert f'<section id="{key}"><h2>{SECTIONS[key]}</h2>' in text
    assert text.count("<img") == len(FIGURES) and "not drawn" not in text
    assert "privacy_loss" in text and "ld_decay_diff" in text and 'class="alert"' not in text


def test_cli_evaluate_on_vcf_files(halves, tmp_path, fast_c2st):
    train, held = halves
    files = {name: tmp_path / f"{name}.vcf.gz" for name in ("train", "held", "generated")}
    synth = _independent_snps(train.subset(np.arange(100)))
    synth.labels = None  # what a VCF written by biogan holds
    for name, data in zip(files, (train, held, synth), strict=True):
        write_vcf(data, files[name])
    panel = tmp_path / "panel.txt"
    pd.DataFrame({"sample": train.samples + held.samples, "pop": [*train.labels, *held.labels]}).to_csv(
        panel, sep="\t", index=False
    )
    out = tmp_path / "rep"
    args = ["evaluate", str(files["held"]), str(files["generated"]), "--train", str(files["train"])]
    labels = ["--samples-file", str(panel), "--labels-key", "pop"]
    result = runner.invoke(app, [*args, *labels, "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"ld_r", "aats", "privacy_loss", "exact_copy_rate"} <= set(metrics.metric)
    assert set(metrics.scope) == {"overall"}  # the synthetic VCF is unlabelled: no per-label rows
    assert "ld_matrices.png" in {p.name for p in out.iterdir()}
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("sample pop\nnobody EUR\n")
    wrong_args = ["--samples-file", str(wrong), "--labels-key", "pop", "-o", str(tmp_path / "rep2")]
    result = runner.invoke(app, [*args, *wrong_args])
    assert result.exit_code != 0 and "are not in" in result.output
    names = ("a.vcf", "b.VCF.GZ", "c.bcf", "d.hapt")
    assert [input_kind(tmp_path / name) for name in names] == ["genotypes"] * 4
    # biogan report: the real VCF labelled by the model's panel, cut to the model's SNPs, sampled alike.
    model = _StubModel(train.subset(np.arange(100)), panel)
    inputs = REPORT_INPUTS["genotypes"](model, files["held"], files["train"], None, 0, None, True)
    assert model.asked == (None, dict(zip(*np.unique(held.labels, return_counts=True), strict=True)))
    assert inputs.real.n_snps == inputs.train.n_snps == model.n_snps < held.n_snps
    assert inputs.labels_key == "pop" and inputs.real.labels.tolist() == held.labels.tolist()


class _StubModel:
    """What ``biogan report`` needs of a genotype GAN: its panel, categories and ``sample``."""

    def __init__(self, data: GenotypeSet, panel) -> None:
        self.n_snps = data.n_snps - 100  # trained on fewer SNPs than the VCFs hold
        self.data = GenotypeSet(
            data.calls[:, 100:], data.samples, data.variants.iloc[100:], True, data.labels
        )
        self.samples_file, self.labels_key, self.categories = panel, "pop", ["pop0", "pop1"]

    def sample(self, n=None, labels=None, seed=0):
        self.asked = (n, labels)
        names = list(labels) if labels else [""]
        counts = list(labels.values()) if labels else [n]
        pick = np.resize(np.arange(len(self.data)), sum(counts))
        out = _independent_snps(self.data.subset(pick), seed)
        out.labels = np.repeat(names, counts) if labels else None
        return out
