"""User-facing estimators, one per data kind, each registered once in :data:`MODELS`."""

from __future__ import annotations

from biogan.models.expression import ExpressionGAN, ExpressionGANConfig
from biogan.models.genotype import GenotypeGAN, GenotypeGANConfig
from biogan.models.registry import MODELS, load_model, model_class, register_model
from biogan.models.sequence import SequenceGAN, SequenceGANConfig
from biogan.models.sequence_peers import IIDResidues, MarkovChain
from biogan.models.structure import StructureGAN, StructureGANConfig
from biogan.models.tabular import TabularGAN, TabularGANConfig
from biogan.models.vae import ExpressionVAE, ExpressionVAEConfig

__all__ = [
    "MODELS",
    "ExpressionGAN",
    "ExpressionGANConfig",
    "ExpressionVAE",
    "ExpressionVAEConfig",
    "GenotypeGAN",
    "GenotypeGANConfig",
    "IIDResidues",
    "MarkovChain",
    "SequenceGAN",
    "SequenceGANConfig",
    "StructureGAN",
    "StructureGANConfig",
    "TabularGAN",
    "TabularGANConfig",
    "load_model",
    "model_class",
    "register_model",
]
