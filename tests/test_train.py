"""The platform: one training schedule, the data layer, shape-general gradient penalty, settings, registry."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import TINY
from sklearn.datasets import load_breast_cancer
from torch import nn
from typer.testing import CliRunner

import biogan
from biogan.cli import app
from biogan.data import write_h5ad
from biogan.data.samplers import ClassSampler, ShuffleSampler
from biogan.data.sources import ArraySource
from biogan.errors import CheckpointError, ConfigError
from biogan.impute.gain import GAINProblem, GAINSettings, ImputationData, gain_train_config, train_gain
from biogan.losses import AdversarialLoss, gradient_penalty
from biogan.models import MODELS, load_model
from biogan.models._config import apply_overrides, parse_settings, settings_from_cli
from biogan.nn import ProjectionCritic
from biogan.train import AdversarialProblem, Batch, DataProblem, ScheduleConfig, TrainerBase

runner = CliRunner()


# ---------------------------------------------------------------------------------------- a toy problem
class LineProblem(DataProblem):
    """Fit ``y = 3x - 1`` by least squares: the smallest thing the schedule can train."""

    def __init__(self, n: int = 256, seed: int = 0) -> None:
        super().__init__()
        x = np.random.default_rng(seed).normal(size=(n, 1)).astype(np.float32)
        self.source = ArraySource(x=x, y=3 * x - 1)
        self.line = nn.Linear(1, 1)


class LineTrainer(TrainerBase):
    postfix = ("loss",)

    def __init__(self, problem: LineProblem, config: ScheduleConfig, lr: float = 0.05, **kwargs) -> None:
        super().__init__(problem, config, **kwargs)
        self.opt = torch.optim.SGD(problem.parameters(), lr=lr)

    def train_step(self) -> dict[str, torch.Tensor]:
        rows = self.loader.next()
        loss = ((self.problem.line(rows["x"]) - rows["y"]) ** 2).mean()
        self._optimizer_step(self.opt, loss)
        return {"loss": loss.detach()}

    def kept_module(self) -> nn.Module:
        return self.problem

    def validation_score(self) -> float:
        w, b = self.problem.line.weight.item(), self.problem.line.bias.item()
        return (w - 3) ** 2 + (b + 1) ** 2

    def _extra_state(self) -> dict:
        return {"opt": self.opt.state_dict()}

    def _load_extra_state(self, state: dict) -> None:
        self.opt.load_state_dict(state["opt"])


def _line(tmp_path=None, **config) -> LineTrainer:
    torch.manual_seed(0)
    path = tmp_path / "checkpoint.pt" if tmp_path is not None else None
    settings = ScheduleConfig(
        **{"batch_size": 16, "log_every": 5, "eval_every": 5, "checkpoint_every": 5, **config}
    )
    return LineTrainer(LineProblem(), settings, seed=0, checkpoint_path=path)


def test_a_toy_problem_trains_through_the_schedule_alone():
    trainer = _line()
    trainer.fit(max_steps=60, progress=False)
    history = pd.DataFrame(trainer.history)
    assert list(history["step"]) == list(range(5, 61, 5))  # the fixed log schedule
    assert history["loss"].iloc[-1] < 0.05 * history["loss"].iloc[0]
    assert trainer.best["score"] < 0.01 and trainer.best["step"] % 5 == 0
    assert {"validation_score", "elapsed_s"} <= set(history.columns)


def test_logged_values_are_window_means_synchronised_at_log_steps():
    trainer = _line(log_every=4, eval_every=0)
    losses, original = [], trainer.train_step

    def recording_step() -> dict[str, torch.Tensor]:
        logs = original()
        losses.append(float(logs["loss"]))
        return logs

    trainer.train_step = recording_step
    trainer.fit(max_steps=8, progress=False)
    assert trainer.history[0]["loss"] == pytest.approx(np.mean(losses[:4]), rel=1e-6)
    assert trainer.history[1]["loss"] == pytest.approx(np.mean(losses[4:]), rel=1e-6)


def test_toy_resume_is_bit_identical(tmp_path):
    full = _line()
    full.fit(max_steps=23, progress=False)
    first = _line(tmp_path)
    first.fit(max_steps=12, progress=False)  # checkpoint mid-window (log every 5)
    resumed = _line(tmp_path)
    resumed.fit(max_steps=23, resume=True, progress=False)
    assert resumed.step == 23
    for key, value in full.problem.state_dict().items():
        torch.testing.assert_close(value, resumed.problem.state_dict()[key], rtol=0, atol=0)
    drop = lambda rows: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in rows]  # noqa: E731
    assert drop(resumed.history) == drop(full.history)


def test_nan_guard_time_budget_and_grad_clip():
    exploding = _line(eval_every=0)
    exploding.opt = torch.optim.SGD(exploding.problem.parameters(), lr=50.0)
    with pytest.raises(FloatingPointError, match="diverged at step"):
        exploding.fit(max_steps=200, progress=False)
    clipped = _line(eval_every=0, grad_clip=0.1)
    clipped.opt = torch.optim.SGD(clipped.problem.parameters(), lr=50.0)
    clipped.fit(max_steps=20, progress=False)  # clipping keeps the same step size finite
    assert all(math.isfinite(r["loss"]) for r in clipped.history)
    timed = _line(eval_every=0)
    timed.fit(max_steps=10**9, max_seconds=0.2, progress=False)
    assert timed.step < 10**9 and timed.history[-1]["step"] == timed.step


def test_schedule_settings_are_validated():
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        ScheduleConfig(batch_size=0)


# ---------------------------------------------------------------------------------------- samplers
def test_shuffle_sampler_epochs_shards_and_state():
    rows = np.arange(10, 30)
    sampler = ShuffleSampler(rows, seed=1)
    epoch = np.concatenate([sampler.next_index(5) for _ in range(4)])
    assert sorted(epoch) == list(rows)  # each row once per epoch
    shards = [ShuffleSampler(rows, seed=1, rank=r, world_size=2).rows for r in range(2)]
    assert not set(shards[0]) & set(shards[1]) and sorted(np.r_[shards[0], shards[1]]) == list(rows)
    sampler.next_index(3)
    state = sampler.state_dict()
    expected = [sampler.next_index(7) for _ in range(5)]
    again = ShuffleSampler(rows, seed=1)
    again.load_state_dict(state)
    assert all(
        np.array_equal(a, b) for a, b in zip(expected, [again.next_index(7) for _ in range(5)], strict=True)
    )
    assert not np.array_equal(
        ShuffleSampler(rows, seed=2).next_index(20), ShuffleSampler(rows, seed=1).next_index(20)
    )


def test_class_sampler_balances_or_stratifies():
    codes = np.r_[np.zeros(90, int), np.ones(10, int)]
    uniform = ClassSampler(codes, 2, "uniform", seed=0).next_index(4000)
    proportional = ClassSampler(codes, 2, "proportional", seed=0).next_index(4000)
    assert abs(codes[uniform].mean() - 0.5) < 0.03
    assert abs(codes[proportional].mean() - 0.1) < 0.02
    shard = ClassSampler(codes, 2, "uniform", seed=0, rank=1, world_size=2)
    assert len(set(shard.next_index(2000))) <= 50  # half of each class


def test_sources_densify_only_the_batch():
    import scipy.sparse as sp

    X = sp.random(50, 8, density=0.3, format="csr", random_state=0, dtype=np.float32)
    source = ArraySource(counts=X, label=np.arange(50))
    rows = source.fetch(np.array([3, 7]))
    np.testing.assert_array_equal(rows["counts"].numpy(), X[[3, 7]].toarray())
    assert rows["label"].dtype == torch.int64
    with pytest.raises(biogan.errors.InvalidDataError, match="same number of rows"):
        ArraySource(a=np.zeros(3), b=np.zeros(4))


# ---------------------------------------------------------------------------------------- gradient penalty
def _per_sample_penalty(critic, real, fake, alpha):
    out = []
    for i in range(len(real)):
        point = (alpha[i] * real[i : i + 1] + (1 - alpha[i]) * fake[i : i + 1]).requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(point).sum(), point)
        out.append((grad.flatten().norm() - 1) ** 2)
    return torch.stack(out).mean()


@pytest.mark.parametrize("shape", [(6, 5), (6, 6, 4), (6, 1, 6, 6), (4, 4, 4)])  # B == L included
def test_gradient_penalty_on_every_shape(shape):
    torch.manual_seed(0)
    real, fake = torch.randn(shape), torch.randn(shape)
    weight = torch.randn(shape[1:])
    critic = lambda x: (torch.tanh(x) * weight).flatten(1).sum(1)  # noqa: E731
    torch.manual_seed(1)
    gp = gradient_penalty(critic, real, fake)
    torch.manual_seed(1)
    alpha = torch.rand(shape[0])
    torch.testing.assert_close(gp, _per_sample_penalty(critic, real, fake, alpha))


def test_gradient_penalty_ignores_masked_positions():
    torch.manual_seed(0)
    real, fake = torch.randn(5, 7, 4), torch.randn(5, 7, 4)
    mask = torch.ones(5, 7)
    mask[:, 4:] = 0  # padding after position 4
    critic_a = lambda x: x[:, :4].pow(2).sum((1, 2))  # noqa: E731
    critic_b = lambda x: x[:, :4].pow(2).sum((1, 2)) + 100 * x[:, 4:].sum((1, 2))  # noqa: E731
    torch.manual_seed(1)
    a = gradient_penalty(critic_a, real, fake, mask)
    torch.manual_seed(1)
    b = gradient_penalty(critic_b, real, fake, mask)
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="does not fit"):
        gradient_penalty(critic_a, real, fake, torch.ones(5, 4))


def test_gradient_penalty_on_a_random_subset_keeps_rows_and_labels_together():
    torch.manual_seed(0)
    real, fake = torch.randn(8, 5), torch.randn(8, 5)
    y = torch.arange(8)
    seen = []

    def critic(x, labels, mask=None):  # its score depends on each row's label
        seen.append(labels.clone())
        return (torch.tanh(x) * (1 + labels[:, None])).sum(1)

    problem = AdversarialProblem(AdversarialLoss("wgan-gp"), gp_weight=1.0, gp_samples=3)
    torch.manual_seed(1)
    _, logs = problem.critic_loss(Batch(real, y), Batch(fake, y), critic)
    rows = seen[-1]  # the rows penalised: real and fake scores saw all 8, the penalty 3 distinct ones
    assert [len(s) for s in seen] == [8, 8, 3] and len(set(rows.tolist())) == 3
    seen.clear()
    torch.manual_seed(1)
    torch.randperm(8)
    alpha = torch.rand(3)
    terms = []
    for i, row in enumerate(rows.tolist()):
        point = (alpha[i] * real[row] + (1 - alpha[i]) * fake[row])[None].requires_grad_(True)
        (grad,) = torch.autograd.grad(critic(point, y[row : row + 1]).sum(), point)
        terms.append((grad.norm() - 1) ** 2)
    expected = torch.stack(terms).mean()
    torch.testing.assert_close(logs["gradient_penalty"], expected)
    problem.gp_samples = None
    seen.clear()
    problem.critic_loss(Batch(real, y), Batch(fake, y), critic)
    assert [len(s) for s in seen] == [8, 8, 8]


def test_projection_critic_takes_any_shape_and_a_mask():
    critic = ProjectionCritic(6 * 4, n_classes=3, hidden=(16,))
    x, y = torch.randn(6, 6, 4), torch.randint(3, (6,))
    assert critic(x, y).shape == (6,)
    mask = torch.ones(6, 6)
    mask[:, 3:] = 0
    changed = x.clone()
    changed[:, 3:] = 99.0
    torch.testing.assert_close(critic(x, y, mask), critic(changed, y, mask))


# ---------------------------------------------------------------------------------------- GAIN resume
def _gain(seed: int = 0) -> GAINProblem:
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.random((80, 5)), dtype=torch.float32)
    mask = torch.as_tensor(rng.random((80, 5)) > 0.2, dtype=torch.float32)
    settings = GAINSettings(hidden=(8, 8), max_steps=12, train=gain_train_config(batch_size=16, eval_every=4))
    validation = ImputationData(x, mask, x, 1 - mask)
    torch.manual_seed(seed)
    return GAINProblem(ImputationData(x * mask, mask, x, mask), settings, validation)


def test_gain_trains_through_the_schedule_with_checkpoints_and_exact_resume(tmp_path):
    full, _ = train_gain(_gain(), seed=0)
    interrupted = _gain()
    interrupted.settings.max_steps = 5
    train_gain(interrupted, seed=0, checkpoint_path=tmp_path / "checkpoint.pt")
    assert (tmp_path / "checkpoint.pt").exists()
    resumed, _ = train_gain(_gain(), seed=0, checkpoint_path=tmp_path / "checkpoint.pt", resume=True)
    assert resumed.step == 12
    for key, value in full.problem.state_dict().items():
        torch.testing.assert_close(value, resumed.problem.state_dict()[key], rtol=0, atol=0)
    assert resumed.best["step"] == full.best["step"]


# ---------------------------------------------------------------------------------------- settings
def test_set_and_config_reach_nested_settings_and_errors_name_the_key(tmp_path):
    config = settings_from_cli(
        biogan.ExpressionGANConfig,
        None,
        ["train.batch_size=256", "noise_dim=32", "generator_hidden=[64,128]"],
    )
    assert config.train.batch_size == 256 and config.noise_dim == 32 and config.generator_hidden == (64, 128)
    assert parse_settings(["loss=hinge", "spectral_norm=true", "thinning=0"]) == {
        "loss": "hinge",
        "spectral_norm": True,
        "thinning": 0,
    }
    assert apply_overrides(config, {"thinning": 0}).thinning == 0.0  # an int is a valid float
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"train": {"lr_critic": 1e-3}, "critic_dropout": 0.1}))
    from_file = settings_from_cli(biogan.ExpressionGANConfig, path, ["train.n_critic=5"])
    assert (
        from_file.train.lr_critic == 1e-3
        and from_file.train.n_critic == 5
        and from_file.critic_dropout == 0.1
    )
    assert from_file.train.batch_size == 128  # unnamed settings keep their defaults
    for items, message in [
        (["train.batchsize=3"], r"unknown setting train.batchsize \(did you mean train.batch_size\?\)"),
        (["noise_dim=big"], "noise_dim takes an integer"),
        (["spectral_norm=3"], "spectral_norm takes true or false"),
        (["train=3"], "train is a group of settings"),
        (["loss=wasserstein"], "unknown loss"),
        (["noise_dim"], "write key=value"),
    ]:
        with pytest.raises(ConfigError, match=message):
            settings_from_cli(biogan.ExpressionGANConfig, None, items)
    with pytest.raises(ConfigError, match="does not exist"):
        settings_from_cli(biogan.ExpressionGANConfig, tmp_path / "missing.json", [])


def _cli_train(small, tmp_path, out, *extra):
    write_h5ad(small, tmp_path / "cells.h5ad")
    args = ["train", "expression", str(tmp_path / "cells.h5ad"), "--labels-key", "cell_type"]
    args += ["--out", str(out), "--max-steps", "2", "--device", "cpu", *extra]
    return runner.invoke(app, args)


def test_cli_set_lands_in_config_json_and_config_reproduces_the_run(small, tmp_path):
    tiny = ["--set", "noise_dim=8", "--set", "generator_hidden=[32]", "--set", "critic_hidden=[32]"]
    result = _cli_train(small, tmp_path, tmp_path / "a", *tiny, "--set", "train.batch_size=16")
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "a" / "config.json").read_text())
    assert saved["type"] == "expression" and saved["config"]["train"]["batch_size"] == 16
    assert saved["config"]["generator_hidden"] == [32]
    again = _cli_train(small, tmp_path, tmp_path / "b", "--config", str(tmp_path / "a" / "config.json"))
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "b" / "config.json").read_text())["config"] == saved["config"]
    a, b = (load_model(tmp_path / name, device="cpu") for name in "ab")
    np.testing.assert_array_equal(a.sample(n=20).X.toarray(), b.sample(n=20).X.toarray())
    bad = _cli_train(small, tmp_path, tmp_path / "c", "--set", "train.n_critics=2")
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "did you mean train.n_critic" in bad.output


# ---------------------------------------------------------------------------------------- registry
@pytest.fixture(scope="module")
def breast():
    return load_breast_cancer(as_frame=True).frame.sample(120, random_state=0)


def _fit_any(name: str, small, breast):
    cls = MODELS[name]
    if cls.data_kind == "sequences":
        from biogan.data.datasets import bacterial_proteins

        tiny = {"channels": 8, "n_blocks": 1, "noise_dim": 8, "batch_size": 16, "eval_every": 2}
        return cls(seed=0, device="cpu", **tiny).fit(bacterial_proteins(60), max_steps=3, progress=False)
    if cls.data_kind == "genotypes":
        from biogan.data.datasets import simulated_genotypes

        tiny = {"hidden": 16, "noise_dim": 8, "batch_size": 16, "eval_every": 2}
        region = simulated_genotypes(60, length=5e4, seed=0)
        return cls(seed=0, device="cpu", **tiny).fit(region, max_steps=3, progress=False)
    if cls.data_kind == "structures":
        from biogan.data.datasets import ideal_backbones

        tiny = {"fragment_length": 16, "chain_channels": 8, "n_blocks": 1, "batch_size": 16, "eval_every": 2}
        return cls(seed=0, device="cpu", n_monitor=16, **tiny).fit(
            ideal_backbones(12, 40, seed=0), max_steps=3, progress=False
        )
    if cls.data_kind == "table":
        return cls(seed=0, device="cpu", batch_size=16).fit(
            breast, labels_key="target", max_steps=3, progress=False
        )
    options = TINY if name == "expression" else {"batch_size": 32, "log_every": 2, "eval_every": 2}
    return cls(small, seed=0, device="cpu", **options).fit(max_steps=3, progress=False)


def test_registry_round_trip_for_every_model_type(small, breast, tmp_path):
    assert {"expression", "vae", "table"} <= set(MODELS)
    folders = {}
    for name, cls in MODELS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _fit_any(name, small, breast)
        model.save(tmp_path / name)
        loaded = load_model(tmp_path / name, device="cpu")
        assert type(loaded) is cls and loaded.data_kind == cls.data_kind
        a, b = model.sample(n=15, seed=4), loaded.sample(n=15, seed=4)
        if cls.data_kind == "cells":
            np.testing.assert_array_equal(a.X.toarray(), b.X.toarray())
        elif cls.data_kind == "sequences":
            assert a.sequences == b.sequences
        elif cls.data_kind == "genotypes":
            np.testing.assert_array_equal(a.calls, b.calls)
        elif cls.data_kind == "structures":
            np.testing.assert_allclose(a.coordinates(), b.coordinates(), atol=1e-4)
        else:
            pd.testing.assert_frame_equal(a, b)
        folders[name] = tmp_path / name
    with pytest.raises(CheckpointError, match=r"holds a saved TabularGAN, and ExpressionGAN\.load"):
        biogan.ExpressionGAN.load(folders["table"])
    with pytest.raises(CheckpointError, match="holds a saved ExpressionVAE"):
        biogan.TabularGAN.load(folders["vae"])
    result = runner.invoke(
        app, ["sample", str(folders["table"]), "-n", "5", "-o", str(tmp_path / "rows.h5ad")]
    )
    assert result.exit_code == 2 and "written as .csv" in result.output


def test_every_registered_model_has_a_train_command():
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    for name in MODELS:
        assert name in result.output


def test_the_readme_namespaces_are_reachable_after_import_biogan():
    for name in ("report", "plot", "metrics", "datasets", "models", "train", "data"):
        assert hasattr(biogan, name), name
    assert callable(biogan.report.write_report) and callable(biogan.models.load_model)
