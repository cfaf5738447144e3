"""Compositions in TabularGAN: groups detected and checked, simplex outputs, count totals, covariates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from biogan import TabularGAN
from biogan.cli import app
from biogan.data.compositions import COUNT, PROPORTION, largest_remainder, resolve_groups
from biogan.data.tables import recorded_decimals
from biogan.errors import InvalidDataError, UnknownLabelError

PARTS = ["neutrophils", "lymphocytes", "monocytes", "eosinophils", "basophils"]


def differential(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """White-cell differentials (percent, one decimal) whose neutrophil share rises with age."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n).round()
    props = np.stack([rng.dirichlet([20 + 0.6 * a, 20, 5, 1.5, 0.3]) for a in age])
    table = pd.DataFrame(np.round(100 * props, 1), columns=PARTS)
    table["age"] = age
    table["sex"] = rng.choice(["F", "M"], n)
    return table


def genus_counts(n: int = 240, seed: int = 1) -> pd.DataFrame:
    """Dirichlet-multinomial read counts with varying depth and a rare genus (many exact zeros)."""
    rng = np.random.default_rng(seed)
    label = rng.choice(["CD", "no"], n)
    depth = rng.integers(300, 5000, n)
    alpha = np.where(label[:, None] == "CD", [[8, 4, 2, 1, 0.05]], [[4, 8, 2, 1, 0.05]])
    counts = np.stack([rng.multinomial(d, rng.dirichlet(a)) for d, a in zip(depth, alpha, strict=True)])
    table = pd.DataFrame(counts, columns=[f"g{i}" for i in range(5)])
    table["y"] = label
    return table


@pytest.fixture(scope="module")
def conditioned() -> tuple[pd.DataFrame, TabularGAN]:
    table = differential()
    model = TabularGAN(seed=0, device="cpu").fit(
        table, composition=PARTS, conditions=["age", "sex"], max_steps=100, progress=False
    )
    return table, model


# ---------------------------------------------------------------------- groups and their checks
def test_groups_are_detected_declared_and_scaled():
    table = differential()
    assert resolve_groups(table, None) == []  # age and sex are not parts: nothing sums to a constant
    (found,) = resolve_groups(table[PARTS], None)
    assert found.columns == PARTS and found.scale == PROPORTION and found.total == 100
    (counts,) = resolve_groups(genus_counts(), "all-numeric")
    assert counts.scale == COUNT and counts.total is None
    two = resolve_groups(table, [PARTS[:2], PARTS[2:]], renormalise=True)
    assert [g.name for g in two] == ["composition 1", "composition 2"]
    assert resolve_groups(table, ()) == []


@pytest.mark.parametrize(
    ("change", "spec", "message"),
    [
        (
            lambda t: t.assign(neutrophils=t.neutrophils * 1.5),
            PARTS,
            "do not sum to one total.*--renormalise",
        ),
        (lambda t: t.assign(basophils=-t.basophils - 1), PARTS, "negative parts"),
        (lambda t: t.assign(**dict.fromkeys(PARTS, 0.0)), PARTS, "all-zero rows"),
        (lambda t: t, [*PARTS, "sex"], "not numeric"),
        (lambda t: t, [*PARTS, "platelets"], "not in the table"),
        (lambda t: t, ["neutrophils"], "at least 2"),
        (lambda t: t, "every-number", "not understood"),
    ],
)
def test_bad_compositions_are_refused_with_the_fix(change, spec, message):
    with pytest.raises(InvalidDataError, match=message):
        resolve_groups(change(differential()), spec, exclude=["age"])


def test_renormalise_closes_rows_that_do_not_sum_to_the_total():
    table = differential()
    table.loc[:9, "neutrophils"] *= 1.5
    (group,) = resolve_groups(table, PARTS, renormalise=True)
    assert group.total == 100


def test_a_part_that_is_also_a_condition_is_refused():
    with pytest.raises(InvalidDataError, match="label, a condition or in another group"):
        TabularGAN(device="cpu").fit(
            differential(), composition=[*PARTS, "age"], conditions=["age"], max_steps=1, progress=False
        )


def test_recorded_precision_is_learnt():
    assert recorded_decimals(np.array([60.1, 27.0, 0.2])) == 1
    assert recorded_decimals(np.array([3, 4.0])) == 0
    assert recorded_decimals(np.array([0.123456789])) is None
    (group,) = resolve_groups(differential(), PARTS)
    assert group.decimals == 1


def test_largest_remainder_counts_sum_to_their_totals():
    rng = np.random.default_rng(0)
    props = rng.dirichlet(np.ones(7), 200)
    totals = rng.integers(1, 10_000, 200).astype(float)
    counts = largest_remainder(props, totals)
    np.testing.assert_array_equal(counts.sum(1), totals)
    assert np.abs(counts - props * totals[:, None]).max() < 1


# ---------------------------------------------------------------------- generation on the simplex
def test_proportions_sum_to_the_total_with_exact_zeros(conditioned):
    table, model = conditioned
    synth = model.sample(n=600, seed=0)
    assert np.isfinite(synth.select_dtypes("number").to_numpy()).all()
    np.testing.assert_allclose(synth[PARTS].sum(1), 100, rtol=1e-12)
    assert (synth[PARTS] >= 0).all().all()
    real_zeros, synth_zeros = (table.basophils == 0).mean(), (synth.basophils == 0).mean()
    assert real_zeros > 0.1 and abs(synth_zeros - real_zeros) < 0.1  # exact zeros, at the real rate
    tenths = synth[PARTS].to_numpy() * 10  # recorded with one decimal, generated with one decimal
    np.testing.assert_allclose(tenths, np.round(tenths), atol=1e-9)


def test_count_groups_are_integers_with_their_totals():
    table = genus_counts()
    model = TabularGAN(seed=0, device="cpu").fit(
        table, "y", composition="all-numeric", max_steps=50, progress=False
    )
    synth = model.sample(labels={"CD": 300, "no": 300}, seed=0)
    parts = synth.drop(columns="y")
    assert np.isfinite(parts.to_numpy(float)).all()
    assert all(pd.api.types.is_integer_dtype(t) for t in parts.dtypes)
    depth, real_depth = parts.sum(1), table.drop(columns="y").sum(1)
    assert depth.min() >= 1 and real_depth.min() * 0.9 <= depth.median() <= real_depth.max()
    assert (parts.g4 == 0).mean() > 0.3  # the rare genus stays mostly absent
    # Per class the leading genus is the one the class favours.
    means = parts.div(depth, axis=0).groupby(synth.y).mean()
    assert means.loc["CD", "g0"] > means.loc["CD", "g1"] and means.loc["no", "g1"] > means.loc["no", "g0"]


# ---------------------------------------------------------------------- covariates
def test_one_row_per_condition_row_with_its_values(conditioned):
    table, model = conditioned
    wanted = pd.DataFrame({"age": [25.0, 50.0, 75.0], "sex": ["F", "M", "F"]})
    synth = model.sample(conditions=wanted, seed=0)
    assert len(synth) == 3 and list(synth.columns) == list(table.columns)
    pd.testing.assert_frame_equal(synth[["age", "sex"]], wanted, check_dtype=False)
    again = model.sample(conditions=wanted, seed=0)
    pd.testing.assert_frame_equal(synth, again)


def test_the_age_relation_follows_the_given_ages(conditioned):
    table, model = conditioned
    ages = pd.DataFrame({"age": np.repeat([25.0, 75.0], 400), "sex": "F"})
    synth = model.sample(conditions=ages, seed=1)
    young, old = synth.neutrophils[synth.age == 25].mean(), synth.neutrophils[synth.age == 75].mean()
    real_young = table.neutrophils[table.age < 35].mean()
    real_old = table.neutrophils[table.age > 65].mean()
    assert old - young > 0.5 * (real_old - real_young) > 0


def test_conditions_are_drawn_when_none_are_given(conditioned):
    table, model = conditioned
    synth = model.sample(n=500, seed=0)
    assert set(synth.sex) == {"F", "M"}
    assert table.age.min() <= synth.age.min() and synth.age.max() <= table.age.max()
    assert abs(synth.age.mean() - table.age.mean()) < 5


def test_bad_conditions_get_clear_errors(conditioned):
    _, model = conditioned
    with pytest.warns(UserWarning, match="outside the training range"):
        model.sample(conditions=pd.DataFrame({"age": [95.0], "sex": ["F"]}))
    with pytest.raises(InvalidDataError, match="not seen in fit"):
        model.sample(conditions=pd.DataFrame({"age": [40.0], "sex": ["X"]}))
    with pytest.raises(InvalidDataError, match="lacks columns"):
        model.sample(conditions=pd.DataFrame({"age": [40.0]}))
    with pytest.raises(InvalidDataError, match="missing values"):
        model.sample(conditions=pd.DataFrame({"age": [np.nan], "sex": ["F"]}))
    with pytest.raises(UnknownLabelError, match="not in the table"):
        TabularGAN(device="cpu").fit(differential(), conditions=["height"], max_steps=1, progress=False)
    plain = TabularGAN(device="cpu").fit(differential()[PARTS], max_steps=1, progress=False)
    with pytest.raises(InvalidDataError, match="without conditions"):
        plain.sample(conditions=pd.DataFrame({"age": [40.0]}))


def test_save_load_keeps_groups_and_conditions(conditioned, tmp_path):
    _, model = conditioned
    model.save(tmp_path / "m")
    back = TabularGAN.load(tmp_path / "m")
    wanted = pd.DataFrame({"age": [30.0, 60.0], "sex": ["M", "F"]})
    pd.testing.assert_frame_equal(
        back.sample(conditions=wanted, seed=3), model.sample(conditions=wanted, seed=3)
    )
    assert back.groups == model.groups and back.conditions == ["age", "sex"]


def test_cli_trains_on_a_composition_and_samples_per_donor(tmp_path):
    table = differential(200)
    table.to_csv(tmp_path / "wbc.csv", index=False)
    table[["age", "sex"]].head(7).to_csv(tmp_path / "donors.csv", index=False)
    runner = CliRunner()
    train = [
        "train", "table", str(tmp_path / "wbc.csv"), "--no-index", "--out", str(tmp_path / "m"),
        "--composition", ",".join(PARTS), "--conditions", "age,sex", "--max-steps", "20",
    ]  # fmt: skip
    result = runner.invoke(app, train)
    assert result.exit_code == 0, result.output
    out = tmp_path / "synth.csv"
    sample = [
        "sample",
        str(tmp_path / "m"),
        "--conditions-file",
        str(tmp_path / "donors.csv"),
        "-o",
        str(out),
    ]
    result = runner.invoke(app, sample)
    assert result.exit_code == 0, result.output
    synth = pd.read_csv(out)
    assert len(synth) == 7 and np.allclose(synth[PARTS].sum(1), 100)
    np.testing.assert_array_equal(synth.age, table.age.head(7))
    result = runner.invoke(app, ["sample", str(tmp_path / "m"), "-n", "5", "-o", str(tmp_path / "s2.csv")])
    assert result.exit_code == 0, result.output
