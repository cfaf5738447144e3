"""TabularGAN and table augmentation: encoding, dtypes, reproducibility, persistence, quality, errors."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from biogan import TabularGAN
from biogan.augmentation import SYNTHETIC_KEY, augment
from biogan.data.tables import QuantileTableEncoder, clean_table, infer_column_types
from biogan.errors import CheckpointError, InvalidDataError, UnknownLabelError
from biogan.metrics.two_sample import c2st_auc

SMALL = dict(generator_hidden=(32,), critic_hidden=(32,), noise_dim=8, n_critic=1, eval_every=5)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """Mixed columns: skewed float, integer count, text category, bool, and an integer label."""
    rng = np.random.default_rng(0)
    n = 120
    label = np.repeat([0, 1], [90, 30])
    return pd.DataFrame(
        {
            "age": rng.normal(55 + 10 * label, 8).round(1),
            "crp": rng.lognormal(1 + label, 0.7),
            "visits": rng.poisson(2 + 3 * label).astype(np.int64),
            "smoker": rng.choice(["never", "former", "current"], n),
            "treated": rng.random(n) < 0.3 + 0.4 * label,
            "outcome": label,
        }
    )


@pytest.fixture(scope="module")
def fitted(table) -> TabularGAN:
    return TabularGAN(seed=0, device="cpu", **SMALL).fit(table, "outcome", max_steps=20, progress=False)


def test_quantile_encoder_round_trip_stays_in_range(table):
    features = table.drop(columns="outcome")
    clean = clean_table(features)
    kinds = infer_column_types(features, clean)
    assert kinds == ["continuous", "continuous", "integer", "categorical", "categorical"]
    encoder = QuantileTableEncoder(clean, kinds)
    Z = encoder.encode(clean)
    assert abs(Z[:, 0].mean()) < 0.1 and 0.8 < Z[:, 0].std() < 1.2  # normal scores
    back = encoder.decode(Z)
    np.testing.assert_allclose(back["crp"], clean["crp"], rtol=1e-4)  # float32 scores
    np.testing.assert_array_equal(back["smoker"], clean["smoker"])
    wild = encoder.decode(np.random.default_rng(1).normal(0, 5, Z.shape))  # far outside the data
    assert wild["crp"].min() >= clean["crp"].min() and wild["crp"].max() <= clean["crp"].max()
    assert np.all(wild["visits"] == np.round(wild["visits"]))
    restored = QuantileTableEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    np.testing.assert_array_equal(restored.encode(clean), Z)


def test_randomised_ties_give_normal_scores_that_decode_to_the_tied_values():
    """A zero-inflated part: midpoint scores put 60 % of the rows on one value (a point mass that bends any
    Gaussian fit); spread across the CDF step they are normal and still decode to exact zeros."""
    rng = np.random.default_rng(0)
    values = np.where(rng.random(500) < 0.6, 0.0, rng.lognormal(0, 1, 500)).round(3)
    clean = pd.DataFrame({"part": values})
    encoder = QuantileTableEncoder(clean, ["continuous"])
    mid = encoder.encode(clean)[:, 0]
    spread = encoder.encode(clean, np.random.default_rng(1))[:, 0]
    zeros = values == 0
    assert np.unique(mid[zeros]).size == 1  # the point mass
    assert np.unique(spread[zeros]).size == zeros.sum()
    assert abs(spread.mean()) < 0.05 and abs(spread.std() - 1) < 0.05 < abs(mid.std() - 1)
    np.testing.assert_allclose(encoder.decode(spread[:, None])["part"], values, atol=1e-3)
    np.testing.assert_array_equal(encoder.encode(clean, np.random.default_rng(1)), spread[:, None])


def test_smoothed_marginals_look_like_fresh_draws_and_interpolation_does_not():
    """Interpolating between 221 observed values piles generated ones into the short gaps between close
    training values, which a forest on that one column already spots; Harrell-Davis quantiles do not."""
    rng = np.random.default_rng(0)
    train, fresh = rng.gamma(2.0, 1.0, 221).round(3), rng.gamma(2.0, 1.0, 1000).round(3)
    z = rng.standard_normal((1000, 1))
    auc = {}
    for smooth in (False, True):
        encoder = QuantileTableEncoder(pd.DataFrame({"x": train}), ["continuous"], smooth=smooth)
        auc[smooth] = c2st_auc(encoder.decode(z)["x"][:, None], fresh[:, None])
    assert auc[True] < 0.58 < 0.62 < auc[False]


def test_smoothed_marginals_keep_end_atoms_range_and_recorded_precision():
    rng = np.random.default_rng(0)
    n = 400
    share = np.where(rng.random(n) < 0.5, 0.0, np.minimum(rng.lognormal(3, 1, n), 100.0)).round(2)
    share[:20] = 100.0  # a capped part: an atom at the maximum
    whole = rng.poisson(80, n).astype(float)
    whole[:12] += 0.5  # a few half values in a column of whole numbers
    clean = pd.DataFrame({"share": share, "bp": whole})
    encoder = QuantileTableEncoder(clean, ["continuous", "continuous"], smooth=True)
    back = encoder.decode(np.random.default_rng(1).standard_normal((20_000, 2)))
    assert abs((back["share"] == 0).mean() - (share == 0).mean()) < 0.02  # exact zeros kept
    assert abs((back["share"] == 100).mean() - (share == 100).mean()) < 0.01  # and the cap
    for name in clean:
        assert clean[name].min() <= back[name].min() and back[name].max() <= clean[name].max()
    assert (back["bp"] % 1 != 0).mean() < 0.1  # mostly whole, as recorded
    assert len(np.unique(back["share"])) > 2 * len(np.unique(share))  # values between the observed ones
    restored = QuantileTableEncoder.from_dict(json.loads(json.dumps(encoder.to_dict())))
    z = np.random.default_rng(2).standard_normal((50, 2))
    pd.testing.assert_frame_equal(pd.DataFrame(restored.decode(z)), pd.DataFrame(encoder.decode(z)))
    old = encoder.to_dict()
    old.pop("smoothed"), old.pop("precision")  # a model saved before smoothing decodes as it did
    plain = QuantileTableEncoder(clean, ["continuous", "continuous"])
    np.testing.assert_array_equal(QuantileTableEncoder.from_dict(old).decode(z)["bp"], plain.decode(z)["bp"])


def test_sample_keeps_columns_dtypes_labels_and_seed(fitted, table):
    synth = fitted.sample(labels={1: 25, 0: 5}, seed=3)
    assert list(synth.columns) == list(table.columns)
    assert synth.dtypes.to_dict() == table.dtypes.to_dict()
    assert synth["outcome"].value_counts().to_dict() == {1: 25, 0: 5}
    assert set(synth["smoker"]) <= set(table["smoker"])
    assert synth["crp"].between(table["crp"].min(), table["crp"].max()).all()
    pd.testing.assert_frame_equal(synth, fitted.sample(labels={1: 25, 0: 5}, seed=3))
    assert not synth.equals(fitted.sample(labels={1: 25, 0: 5}, seed=4))
    assert len(fitted.sample(n=50)) == 50


def test_same_seed_same_model_and_resume_is_exact(table, tmp_path):
    def weights(model):
        return [p.detach().clone() for p in model.problem.generator.parameters()]

    straight = TabularGAN(seed=1, device="cpu", **SMALL).fit(table, "outcome", max_steps=12, progress=False)
    again = TabularGAN(seed=1, device="cpu", **SMALL).fit(table, "outcome", max_steps=12, progress=False)
    for a, b in zip(weights(straight), weights(again), strict=True):
        assert np.array_equal(a, b)
    TabularGAN(seed=1, device="cpu", **SMALL, checkpoint_every=6).fit(
        table, "outcome", max_steps=6, checkpoint_dir=tmp_path, progress=False
    )
    resumed = TabularGAN(seed=1, device="cpu", **SMALL, checkpoint_every=6).fit(
        table, "outcome", max_steps=12, checkpoint_dir=tmp_path, resume=True, progress=False
    )
    for a, b in zip(weights(straight), weights(resumed), strict=True):
        assert np.array_equal(a, b)


def test_save_load_round_trip_and_corrupt_files(fitted, tmp_path):
    fitted.save(tmp_path / "m")
    loaded = TabularGAN.load(tmp_path / "m", device="cpu")
    pd.testing.assert_frame_equal(loaded.sample(n=40, seed=2), fitted.sample(n=40, seed=2))
    assert len(loaded.history) == len(fitted.history)
    (tmp_path / "m" / "model.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"model\.pt is damaged"):
        TabularGAN.load(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text('{"model": "ExpressionGAN"}')
    with pytest.raises(CheckpointError, match="TabularGAN"):
        TabularGAN.load(tmp_path / "m")


def test_bad_tables_get_clear_errors(table, fitted):
    gan = TabularGAN(seed=0, device="cpu", **SMALL)
    with_nan = table.assign(age=table["age"].where(table.index != 3))
    with pytest.raises(InvalidDataError, match="impute them first"):
        gan.fit(with_nan, "outcome", max_steps=1, progress=False)
    with pytest.raises(UnknownLabelError, match="not in the table"):
        gan.fit(table, "diagnosis", max_steps=1, progress=False)
    with pytest.raises(InvalidDataError, match="DataFrame"):
        gan.fit(table.to_numpy(), "outcome", max_steps=1, progress=False)
    typo = table.astype({"age": object})
    typo.loc[5, "age"] = "fifty"
    with pytest.raises(InvalidDataError, match="mixes numbers"):
        gan.fit(typo, "outcome", max_steps=1, progress=False)
    with pytest.raises(InvalidDataError, match="infinite"):
        gan.fit(table.assign(crp=np.inf), "outcome", max_steps=1, progress=False)
    with pytest.raises(UnknownLabelError, match="never saw"):
        fitted.sample(labels={2: 5})


@pytest.fixture(scope="module")
def trained(table) -> TabularGAN:
    config = dict(generator_hidden=(64, 64), critic_hidden=(64, 64))
    return TabularGAN(seed=0, device="cpu", **config).fit(table, "outcome", max_steps=300, progress=False)


@pytest.mark.slow
def test_copula_start_and_best_step_keep_quality_on_breast_cancer():
    """Held-out C2ST (random forest, 10 columns): the copula start is already good, plain noise is not, and
    default training (best validated step kept) stays at the start's level or better."""
    data = load_breast_cancer(as_frame=True).frame
    data = data[[*data.columns[:10], "target"]]
    train, test = train_test_split(data, test_size=0.5, stratify=data["target"], random_state=0)
    scaler = StandardScaler().fit(train)

    def auc(model):
        synth = model.sample(labels=test["target"].value_counts().to_dict(), seed=1)[test.columns]
        return c2st_auc(scaler.transform(synth), scaler.transform(test))

    config = dict(generator_hidden=(128, 128), critic_hidden=(128, 128))
    start = TabularGAN(seed=0, device="cpu", **config).fit(train, "target", max_steps=0, progress=False)
    noise = TabularGAN(seed=0, device="cpu", copula_start=False, **config)
    noise.fit(train, "target", max_steps=0, progress=False)
    trained = TabularGAN(seed=0, device="cpu", **config).fit(train, "target", max_steps=600, progress=False)
    # Measured: copula start 0.57, plain-noise start 0.99, 600 steps with the best step kept 0.57.
    assert auc(start) < 0.7
    assert auc(noise) > 0.95
    assert auc(trained) < auc(start) + 0.05
    scores = trained.history["validation_score"].dropna()
    assert len(scores) >= 5  # scored every 100 steps


def _mean_abs_corr(frame: pd.DataFrame) -> float:
    corr = np.corrcoef(frame.to_numpy(float).T)
    return float(np.abs(corr[np.triu_indices_from(corr, 1)]).mean())


def test_auto_shrinkage_keeps_the_co_occurrence_of_a_wide_table():
    """150 columns in 30 blocks of 5 that move together, 80 rows (wider than long, as a species table):
    Ledoit–Wolf shrinks the copula's covariance by ~0.5 and halves the columns' correlation; ``"auto"``
    caps the shrinkage lower, chosen on the validation rows, and keeps it. On one strong shared factor
    Ledoit–Wolf shrinks by 0.04, under every cap, so ``"auto"`` leaves it alone."""
    rng = np.random.default_rng(0)
    blocks = 0.8 * np.repeat(rng.normal(size=(80, 30)), 5, axis=1) + 0.6 * rng.normal(size=(80, 150))
    factor = 0.8 * rng.normal(size=(80, 1)) + 0.6 * rng.normal(size=(80, 150))

    def fit(values: np.ndarray, setting: float | str) -> TabularGAN:
        table = pd.DataFrame(values).add_prefix("g")
        return TabularGAN(seed=0, device="cpu", copula_max_shrinkage=setting, **SMALL).fit(
            table, max_steps=0, progress=False
        )

    real = _mean_abs_corr(pd.DataFrame(blocks))
    lw, auto = fit(blocks, 1.0), fit(blocks, "auto")
    gap_lw = abs(_mean_abs_corr(lw.sample(n=2000, seed=1)) - real)
    gap_auto = abs(_mean_abs_corr(auto.sample(n=2000, seed=1)) - real)
    # Measured: real 0.106, Ledoit-Wolf 0.052, auto (0.1) 0.096.
    assert auto.problem.shrinkage_cap <= 0.2
    assert gap_auto < gap_lw / 2, (real, gap_lw, gap_auto)
    assert fit(factor, "auto").problem.shrinkage_cap == 1.0


@pytest.mark.parametrize("setting", ["ledoit-wolf", 1.5, -0.1])
def test_copula_max_shrinkage_is_checked(setting):
    with pytest.raises(ValueError, match="copula_max_shrinkage"):
        TabularGAN(copula_max_shrinkage=setting)


def test_the_copula_start_ties_categories_to_numeric_columns():
    """A category takes part in the copula through a latent score: at step 0 men are taller and smoking
    follows age (three levels), as in the data, instead of categories drawn at their shares alone."""
    rng = np.random.default_rng(0)
    n = 600
    male = rng.random(n) < 0.5
    age = rng.normal(50, 12, n).round()
    smoking = np.select([age < 40, age < 60], ["never", "former"], "current")
    table = pd.DataFrame(
        {"sex": np.where(male, "M", "F"), "height": (162 + 14 * male + rng.normal(0, 6, n)).round(1)}
    ).assign(age=age, smoking=smoking)
    model = TabularGAN(seed=0, device="cpu", **SMALL).fit(table, max_steps=0, progress=False)
    synth = model.sample(n=2000, seed=1)
    gap = synth.groupby("sex").height.mean()
    # Data: 14 cm; the copula of randomised ranks attenuates a binary column's correlation (measured
    # 9.5 cm); categories drawn at their shares alone would give 0.
    assert gap["M"] - gap["F"] > 7
    assert synth.sex.value_counts(normalize=True)["M"] == pytest.approx(male.mean(), abs=0.04)
    ages = synth.groupby("smoking").age.mean()
    assert ages["never"] < ages["former"] < ages["current"]
    shares = synth.smoking.value_counts(normalize=True)
    assert shares.to_dict() == pytest.approx(
        pd.Series(smoking).value_counts(normalize=True).to_dict(), abs=0.05
    )


# ---------------------------------------------------------------------- augmentation of tables
@pytest.mark.filterwarnings("ignore:near-duplicates")  # 20 training steps: not yet diverse
def test_augment_table_keeps_real_rows_and_flags_synthetic(table, fitted):
    out = augment(table, "outcome", target="balanced", model=fitted, seed=0)
    real = out[~out[SYNTHETIC_KEY]].drop(columns=[SYNTHETIC_KEY])
    pd.testing.assert_frame_equal(real, table)
    synth = out[out[SYNTHETIC_KEY]]
    assert synth["outcome"].value_counts().to_dict() == {1: 60}
    assert out[SYNTHETIC_KEY].dtype == bool and list(out.index[-2:]) == [178, 179]
    info = out.attrs["biogan_augment"]
    assert info["added"] == {"1": 60} and info["model"] == "TabularGAN" and info["rejected"] == {}
    assert set(info["copy_distance_ratio"]) == {"1"}


@pytest.mark.filterwarnings("ignore:near-duplicates")  # 20 training steps: not yet diverse
def test_augment_table_confidence_filter(table, fitted):
    out = augment(table, "outcome", target={"1": 50}, model=fitted, min_confidence=0.7)
    info = out.attrs["biogan_augment"]
    assert set(info["rejected"]) == {"1"} and out[SYNTHETIC_KEY].sum() <= 20


class _Copier:
    """A 'model' that re-emits training rows with tiny jitter: what a memorising generator does."""

    def __init__(self, table):
        self.table, self.labels_key, self.columns = table, "outcome", list(table.columns)
        self.categories = sorted(table["outcome"].unique().tolist())

    def sample(self, labels, seed=0):
        rng = np.random.default_rng(seed)
        parts = [
            self.table[self.table["outcome"].astype(str) == k].sample(n, replace=True, random_state=seed)
            for k, n in labels.items()
        ]
        rows = pd.concat(parts).reset_index(drop=True)
        return rows.assign(age=rows["age"] + rng.normal(0, 1e-3, len(rows)))


def test_augment_table_warns_on_copies_and_not_on_a_trained_model(table, trained):
    with pytest.warns(UserWarning, match="near-duplicates of training rows"):
        augment(table, "outcome", target={"1": 60}, model=_Copier(table))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        out = augment(table, "outcome", target={"1": 60}, model=trained)
    assert out.attrs["biogan_augment"]["copy_distance_ratio"]["1"] > 0.6


@pytest.mark.filterwarnings("ignore:near-duplicates")  # 20 training steps: not yet diverse
def test_augment_table_errors(table, fitted):
    with pytest.raises(InvalidDataError, match="cannot be below"):
        augment(table, "outcome", target={"1": 10}, model=fitted)
    with pytest.raises(UnknownLabelError, match="not in the data"):
        augment(table, "outcome", target={"7": 10}, model=fitted)
    with pytest.raises(UnknownLabelError, match="not in the table"):
        augment(table, "diagnosis", model=fitted)
    single = table[(table["outcome"] == 0) | (table.index == 100)]
    with pytest.raises(InvalidDataError, match="single row"):
        augment(single, "outcome", model=fitted)
    with pytest.raises(InvalidDataError, match="columns"):
        augment(table.drop(columns=["crp"]), "outcome", model=fitted)
    with pytest.raises(InvalidDataError, match="augmented before"):
        augment(augment(table, "outcome", model=fitted), "outcome", model=fitted)


def test_cli_train_sample_and_augment_a_table(table, tmp_path):
    from typer.testing import CliRunner

    from biogan.cli import app

    table.to_csv(tmp_path / "cohort.csv", index=False)
    runner = CliRunner()
    common = ["--device", "cpu", "--max-steps", "5", "--no-index"]
    result = runner.invoke(
        app,
        [
            "train",
            "table",
            str(tmp_path / "cohort.csv"),
            "-o",
            str(tmp_path / "m"),
            "--labels-key",
            "outcome",
            *common,
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["sample", str(tmp_path / "m"), "-o", str(tmp_path / "s.csv"), "--labels", "1=7"]
    )
    assert result.exit_code == 0, result.output
    assert pd.read_csv(tmp_path / "s.csv")["outcome"].tolist() == [1] * 7
    report = [
        "report",
        str(tmp_path / "m"),
        "--real",
        str(tmp_path / "cohort.csv"),
        "-o",
        str(tmp_path / "r"),
        "--no-index",
    ]
    result = runner.invoke(app, report)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r" / "report.html").exists() and (tmp_path / "r" / "metrics.csv").exists()
    args = ["augment", str(tmp_path / "cohort.csv"), "--labels-key", "outcome", "-o", str(tmp_path / "a.csv")]
    result = runner.invoke(app, [*args, "--model-dir", str(tmp_path / "m"), "--no-index", "--target", "1=40"])
    assert result.exit_code == 0, result.output
    assert "added 10 synthetic rows" in result.output
    grown = pd.read_csv(tmp_path / "a.csv")
    pd.testing.assert_frame_equal(grown[~grown[SYNTHETIC_KEY]].drop(columns=[SYNTHETIC_KEY]), table)
    result = runner.invoke(app, [*args, "--model-dir", str(tmp_path / "m"), "--no-index", "--target", "1=2"])
    assert result.exit_code == 2 and "already exists; pass --overwrite" in result.output
    result = runner.invoke(
        app, [*args, "--model-dir", str(tmp_path / "m"), "--no-index", "--target", "1=2", "--overwrite"]
    )
    assert result.exit_code == 2 and "cannot be below" in result.output
