"""Shared fixtures: small, fixed slices of the bundled PBMC data and a tiny trained model."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(min(2, torch.get_num_threads()))

import biogan  # noqa: E402
from biogan.data import stratified_split  # noqa: E402

TINY = dict(
    noise_dim=8,
    generator_hidden=(32,),
    critic_hidden=(32,),
    n_monitor=64,
    batch_size=32,
    n_critic=2,
    log_every=2,
    eval_every=2,
    checkpoint_every=2,
    generator_warmup=0,  # a few steps must move the generator
)


@pytest.fixture(scope="session")
def pbmc():
    """All 700 bundled PBMCs as integer counts (read once)."""
    return biogan.datasets.pbmc68k_counts()


@pytest.fixture
def small(pbmc):
    """200 cells x 100 genes, stratified, registered for ExpressionGAN."""
    adata, _ = stratified_split(pbmc, "cell_type", test_size=500 / 700, seed=1)
    adata = adata[:, :100].copy()
    adata = adata[np.asarray(adata.X.sum(1)).ravel() > 0].copy()
    biogan.ExpressionGAN.setup_anndata(adata, layer="counts", labels_key="cell_type")
    return adata


@pytest.fixture
def tiny_model(small):
    """A tiny ExpressionGAN trained for a few steps."""
    return biogan.ExpressionGAN(small, seed=0, device="cpu", **TINY).fit(max_steps=4, progress=False)
