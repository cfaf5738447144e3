"""Composition metrics: log-ratio comparisons of parts of a whole in the table metric set and report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from biogan._cli_utils import parse_composition
from biogan.cli import app
from biogan.errors import InvalidDataError
from biogan.metrics import compositions as comp
from biogan.metrics import engine, tables
from biogan.metrics.engine import evaluate
from biogan.metrics.tables import TABLE_METRICS
from biogan.metrics.two_sample import c2st_auc
from biogan.report import write_report
from biogan.report.cli import table_options

PARTS = [f"genus_{i}" for i in range(6)]
LABEL = "site"
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def one_blas_thread():
    """BLAS threads spin against each other on a busy machine: one thread is much faster."""
    with threadpool_limits(1):
        yield


def _logistic(a, b, classifier="rf", **kw):
    return c2st_auc(a, b, "logistic", **kw)


@pytest.fixture(scope="module", autouse=True)
def fast_c2st():
    """Every forest C2ST becomes a logistic one (plumbing tests); the test of the CLR C2ST's values
    puts the forest back."""
    with pytest.MonkeyPatch.context() as patch:
        for module in (tables, engine, comp):
            patch.setattr(module, "c2st_auc", _logistic)
        yield


def simulate(n: int, seed: int, age_effect: bool = True) -> pd.DataFrame:
    """Dirichlet–multinomial genus counts (the two rarest genera are often exactly 0) of ``n`` rows, an
    ``age`` column that (with ``age_effect``) raises the share of the first genus, and a ``site`` label."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n)
    alpha = np.tile([8.0, 4.0, 2.0, 1.0, 0.3, 0.1], (n, 1))
    if age_effect:
        alpha[:, 0] *= np.exp((age - 50) / 15)
    shares = np.vstack([rng.dirichlet(a) for a in alpha])
    depths = rng.poisson(100, n) + 1
    counts = np.vstack([rng.multinomial(depth, p) for depth, p in zip(depths, shares, strict=True)])
    frame = pd.DataFrame(counts, columns=PARTS)
    return frame.assign(age=np.round(age, 1), site=rng.choice(["gut", "skin"], n))


def parts_shuffled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The parts of every row permuted at random: the same amounts, in the wrong columns."""
    rng = np.random.default_rng(seed)
    values = frame[PARTS].to_numpy()
    shuffled = np.array([row[rng.permutation(len(row))] for row in values])
    return frame.assign(**dict(zip(PARTS, shuffled.T, strict=True)))


def age_shuffled(frame: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The same compositions with the ages of other rows: the age effect is gone."""
    return frame.assign(age=np.random.default_rng(seed).permutation(frame["age"].to_numpy()))


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return simulate(300, 0)


@pytest.fixture(scope="module")
def no_age(real) -> pd.DataFrame:
    return age_shuffled(simulate(300, 1))


@pytest.fixture(scope="module")
def evaluated(real, no_age) -> pd.DataFrame:
    return evaluate(real, no_age, labels_key=LABEL, composition=PARTS, conditions=["age"], seed=0)


def _row(table: pd.DataFrame, metric: str, scope: str = "overall") -> pd.Series:
    return table[(table.metric == metric) & (table.scope == scope)].iloc[0]


# ------------------------------------------------------------------------------------- functions
def test_pseudo_count_is_half_the_smallest_real_proportion():
    real = np.array([[1.0, 3.0, 0.0], [2.0, 2.0, 4.0]])
    other = np.array([[0.0, 1.0, 999.0], [5.0, 5.0, 0.0]])  # its own smallest share plays no part
    plan = comp.CompositionPlan.fit(pd.DataFrame(real, columns=list("abc")), {"g": list("abc")})
    assert plan.pseudo["g"] == comp.pseudo_count(real) == pytest.approx(0.5 * 0.25)
    expected = np.log(other / other.sum(1, keepdims=True) + 0.125)
    got = comp.clr(other, plan.pseudo["g"])
    np.testing.assert_allclose(got, expected - expected.mean(1, keepdims=True))
    np.testing.assert_allclose(got.sum(1), 0, atol=1e-12)
    # Closing first: counts and percentages of the same rows are the same composition.
    np.testing.assert_allclose(comp.clr(real * 37, 0.1), comp.clr(real, 0.1))


def test_halves_sit_at_chance_and_shuffled_parts_are_far(monkeypatch):
    monkeypatch.setattr(comp, "c2st_auc", c2st_auc)  # the random forest of clr_c2st_rf_auc
    frame = simulate(600, 3)
    ref, half, other = frame.iloc[:300], frame.iloc[300:], parts_shuffled(frame.iloc[300:])
    plan = comp.CompositionPlan.fit(ref, {"g": PARTS}, ["age"])
    control = comp.compare_compositions(ref, half, plan)
    shuffled = comp.compare_compositions(ref, other, plan)
    assert abs(control[("clr_c2st_rf_auc", "overall")] - 0.5) < 0.1
    assert shuffled[("clr_c2st_rf_auc", "overall")] > 0.8
    for metric in ("clr_mmd2", "part_mean_gap", "part_var_gap", "part_zero_gap", "bray_curtis_ks"):
        assert shuffled[(metric, "overall")] > control[(metric, "overall")] + 0.05, metric
    assert shuffled[("condition_curve_gap", "overall")] > 2 * control[("condition_curve_gap", "overall")]
    # Per-row diversity ignores which part is which: the shuffle leaves it exactly unchanged.
    assert shuffled[("shannon_ks", "overall")] == control[("shannon_ks", "overall")]
    assert {s for m, s in control if m == "part_mean_gap"} == {*PARTS, "overall"}


def test_several_groups_are_scoped_by_name(real):
    spec = {"common": PARTS[::2], "rare": PARTS[1::2]}  # each holds a genus that is never 0
    groups = comp.resolve_groups(spec, real.columns, [*PARTS, "age"])
    found = comp.compare_compositions(real, simulate(300, 4), comp.CompositionPlan.fit(real, groups))
    for metric in ("clr_c2st_rf_auc", "part_mean_gap", "shannon_ks"):
        pair = [found[(metric, "common")], found[(metric, "rare")]]
        assert found[(metric, "overall")] == pytest.approx(np.mean(pair))
    assert ("part_zero_gap", "genus_5") in found and ("condition_curve_gap", "overall") not in found
    nested = comp.resolve_groups([PARTS[:2], PARTS[2:]], real.columns, PARTS)
    assert nested == {"group 1": PARTS[:2], "group 2": PARTS[2:]}
    everything = comp.resolve_groups("all-numeric", real.columns, [*PARTS, "age"], LABEL, ["age"])
    assert everything == {"group 1": PARTS}


# ------------------------------------------------------------------------------------- evaluate
def test_evaluate_adds_composition_rows_beside_a_control(evaluated):
    assert set(TABLE_METRICS) <= set(evaluated.metric)  # the table metrics stay
    overall = evaluated[evaluated.scope == "overall"].set_index("metric")
    for metric in comp.COMPOSITION_METRICS:
        assert np.isfinite(overall.loc[metric, ["value", "control"]].astype(float)).all(), metric
    assert {"genus_0", "genus_5"} <= set(evaluated[evaluated.metric == "part_mean_gap"].scope)
    # The compositions are alike; only their relation to age is gone, which the curve gap sees.
    assert _row(evaluated, "clr_c2st_rf_auc").verdict != "poor"
    curve = _row(evaluated, "condition_curve_gap")
    assert curve.value > 1.5 * curve.control and curve.verdict == "poor"
    genus_0 = _row(evaluated, "condition_curve_gap", "genus_0")  # the genus age moves
    assert genus_0.value > 0.5 > 5 * genus_0.control


def test_bad_composition_inputs_are_readable(real, no_age):
    def run(data=real, labels_key=LABEL, **options):
        evaluate(data, no_age, labels_key=labels_key, **options)

    with pytest.raises(InvalidDataError, match=r"\['genus_9'\] are not in the table"):
        run(composition=[*PARTS, "genus_9"])
    with pytest.raises(InvalidDataError, match="label column"):
        run(composition=[*PARTS, LABEL])
    with pytest.raises(InvalidDataError, match="negative values"):
        run(real.assign(genus_2=real["genus_2"] - 5), composition=PARTS)
    zero = real.copy()
    zero.loc[7, PARTS] = 0
    with pytest.raises(InvalidDataError, match=r"1 of the real rows have all parts .* at 0 \(e.g. row 7\)"):
        run(zero, composition=PARTS)
    with pytest.raises(InvalidDataError, match="missing values; fill absent parts with 0"):
        run(real.assign(genus_1=real["genus_1"].where(real.index != 3)), composition=PARTS)
    with pytest.raises(InvalidDataError, match="give composition"):
        run(conditions=["age"])
    with pytest.raises(InvalidDataError, match="condition must be numeric"):
        run(labels_key=None, composition=PARTS, conditions=[LABEL])
    with pytest.raises(InvalidDataError, match="not a list of column names"):
        run(composition="genus_0")
    with pytest.raises(InvalidDataError, match="at least two"):
        run(composition=["genus_0"])


# ------------------------------------------------------------------------------------- report, CLI
def test_report_draws_the_composition_pictures(real, no_age, evaluated, tmp_path):
    options = {"composition": PARTS, "conditions": ["age"]}
    path = write_report(tmp_path / "r.html", real, no_age, LABEL, metrics=evaluated, **options)
    text = path.read_text(encoding="utf-8")
    for alt in (
        'alt="Composition (6 parts): mean proportion of every part',
        'alt="Composition: PCA of the centred log-ratios',
        'alt="Composition: Shannon diversity of every row',
        'alt="Composition: mean proportion of the largest part in deciles of age',
    ):
        assert alt in text, alt
    assert "not drawn" not in text and text.count("data:image/png;base64,") == 7
    assert "clr_c2st_rf_auc" in text and "condition_curve_gap" in text
    # The report checks every row of every set, not only the rows the metrics drew.
    bad = no_age.assign(genus_0=-no_age["genus_0"])
    with pytest.raises(InvalidDataError, match="synthetic rows have negative values"):
        write_report(tmp_path / "x.html", real, bad, LABEL, metrics=evaluated, composition=PARTS)


def test_cli_composition_options(real, no_age, tmp_path):
    assert parse_composition("a, b,c") == ["a", "b", "c"]
    assert parse_composition("a,b;c,d") == [["a", "b"], ["c", "d"]]
    assert parse_composition("wbc=a,b;c,d") == {"wbc": ["a", "b"], "group 2": ["c", "d"]}
    assert parse_composition("all-numeric") == "all-numeric" and parse_composition(" ") is None
    assert table_options("table", None, None) == {}
    with pytest.raises(InvalidDataError, match="for tables"):
        table_options("cells", "a,b", None)
    real.iloc[:60].to_csv(tmp_path / "real.csv", index=False)
    no_age.iloc[:60].to_csv(tmp_path / "synth.csv", index=False)
    args = ["evaluate", str(tmp_path / "real.csv"), str(tmp_path / "synth.csv"), "--no-index"]
    args += ["--composition", ",".join(PARTS), "--conditions", "age"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "ev")])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(tmp_path / "ev" / "metrics.csv")
    assert {"clr_c2st_rf_auc", "condition_curve_gap"} <= set(metrics.metric)
    pictures = {p.name for p in (tmp_path / "ev").iterdir()}
    assert {"composition_bars.png", "composition_clr_pca.png", "composition_conditions.png"} <= pictures
    bad = runner.invoke(app, [*args[:-4], "--composition", "genus_0,nope", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and bad.output.startswith("error:") and "nope" in bad.output
