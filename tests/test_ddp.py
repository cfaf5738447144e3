"""DDP through the standard machinery: two CPU processes (gloo), identical weights, exact resume, torchrun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import TINY

import biogan
from biogan.data import stratified_split, write_h5ad
from biogan.metrics.two_sample import joint_pca, mmd_rbf

# Sub-clusters of 30 cells (not the default 20): a coarser start leaves 40 steps something to improve.
DDP_TINY = {**TINY, "log_every": 5, "eval_every": 5, "checkpoint_every": 5, "cells_per_subcluster": 30}
STEPS = 40


def _cells() -> biogan.ExpressionGAN:
    pbmc = biogan.datasets.pbmc68k_counts()
    adata, held = stratified_split(pbmc, "cell_type", test_size=0.5, seed=1)
    adata, held = adata[:, :100].copy(), held[:, :100].copy()
    adata = adata[np.asarray(adata.X.sum(1)).ravel() > 0].copy()
    biogan.ExpressionGAN.setup_anndata(adata, layer="counts", labels_key="cell_type")
    return adata, held


def _weights(model: biogan.ExpressionGAN) -> dict[str, torch.Tensor]:
    out = {f"problem.{k}": v for k, v in model.problem.state_dict().items()}
    out.update({f"ema.{k}": v for k, v in model.trainer.ema.state_dict().items()})
    return out


def _worker(rank: int, world_size: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        adata, _ = _cells()
        make = lambda **kw: biogan.ExpressionGAN(adata, seed=0, device="cpu", **{**DDP_TINY, **kw})  # noqa: E731
        full = make().fit(max_steps=STEPS, progress=False)
        first = make().fit(max_steps=STEPS // 2 + 3, checkpoint_dir=Path(out) / "run", progress=False)
        resumed = make().fit(max_steps=STEPS, checkpoint_dir=Path(out) / "run", resume=True, progress=False)
        # Other games through the same DDP path: Poisson counts (no dispersion gradients) and the VAE.
        make(count_noise="poisson").fit(max_steps=3, progress=False)
        vae = biogan.ExpressionVAE(adata, seed=0, device="cpu", batch_size=32, log_every=2, eval_every=2)
        vae.fit(max_steps=6, progress=False)
        saved = {"full": _weights(full), "resumed": _weights(resumed), "vae": vae.problem.state_dict()}
        torch.save(saved, Path(out) / f"rank{rank}.pt")
        if rank == 0:
            full.save(Path(out) / "model")
        del first
        dist.barrier()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    return out


def test_both_ranks_hold_identical_weights_and_resume_is_exact(ddp_run):
    ranks = [torch.load(ddp_run / f"rank{r}.pt", weights_only=True) for r in range(2)]
    for key, value in ranks[0]["full"].items():  # generator, critic (gradient penalty) and EMA
        torch.testing.assert_close(value, ranks[1]["full"][key], rtol=0, atol=0, msg=key)
        torch.testing.assert_close(value, ranks[0]["resumed"][key], rtol=0, atol=0, msg=key)
    for key, value in ranks[0]["vae"].items():
        torch.testing.assert_close(value, ranks[1]["vae"][key], rtol=0, atol=0, msg=key)
    assert not (ddp_run / "run" / "checkpoint.pt.tmp").exists()


def _quality(model: biogan.ExpressionGAN, held) -> float:
    synth = model.sample(labels=held.obs["cell_type"].astype(str).value_counts().to_dict(), seed=0)
    real_log = biogan.data.log_normalize(held.X)
    fake_log = biogan.data.log_normalize(synth.X)
    a, b = joint_pca(real_log, fake_log, 10)
    return mmd_rbf(a, b)


def test_ddp_matches_single_process_training_in_distribution(ddp_run):
    adata, held = _cells()
    ddp = biogan.models.load_model(ddp_run / "model", device="cpu")
    singles = [
        _quality(
            biogan.ExpressionGAN(adata, seed=s, device="cpu", **DDP_TINY).fit(STEPS, progress=False), held
        )
        for s in (0, 1)
    ]
    untrained = _quality(
        biogan.ExpressionGAN(adata, seed=0, device="cpu", **DDP_TINY).fit(1, progress=False), held
    )
    # "In distribution": as far from single-process runs as those are from each other, and much closer
    # to them than the untrained starting point is.
    spread, mean = abs(singles[0] - singles[1]), np.mean(singles)
    assert abs(_quality(ddp, held) - mean) <= 3 * spread + 0.25 * abs(untrained - mean)


def test_torchrun_trains_one_model_from_a_backed_file_that_sample_reads(tmp_path):
    adata, _ = _cells()
    write_h5ad(adata, tmp_path / "cells.h5ad")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port",
        str(_free_port()),
    ]
    command += [
        "-m",
        "biogan",
        "train",
        "expression",
        str(tmp_path / "cells.h5ad"),
        "--backed",  # each rank opens the file and reads its own blocks
        "--labels-key",
        "cell_type",
    ]
    command += [
        "--out",
        str(tmp_path / "m"),
        "--device",
        "cpu",
        "--max-steps",
        "6",
        "--set",
        "train.batch_size=32",
    ]
    command += ["--set", "noise_dim=8", "--set", "generator_hidden=[32]", "--set", "critic_hidden=[32]"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "on 2 processes" in done.stdout and done.stdout.count("model saved") == 1  # rank 0 only
    sampled = subprocess.run(
        [
            sys.executable,
            "-m",
            "biogan",
            "sample",
            str(tmp_path / "m"),
            "-n",
            "30",
            "-o",
            str(tmp_path / "s.h5ad"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert sampled.returncode == 0, sampled.stderr[-2000:]
    assert "30 cells x 100 genes" in sampled.stdout
