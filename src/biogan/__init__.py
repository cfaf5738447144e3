"""biogan: generative adversarial networks for biological data.

Generate realistic synthetic data, impute missing values, augment small data sets, and judge real
against synthetic with honest metrics.
"""

__version__ = "0.1.0"

from biogan import datasets, errors, metrics, plot, report
from biogan.augmentation import augment
from biogan.metrics.engine import evaluate
from biogan.models import (
    ExpressionGAN,
    ExpressionGANConfig,
    ExpressionVAE,
    ExpressionVAEConfig,
    GenotypeGAN,
    GenotypeGANConfig,
    MarkovChain,
    SequenceGAN,
    SequenceGANConfig,
    StructureGAN,
    StructureGANConfig,
    TabularGAN,
    TabularGANConfig,
)

__all__ = [
    "ExpressionGAN",
    "ExpressionGANConfig",
    "ExpressionVAE",
    "ExpressionVAEConfig",
    "GenotypeGAN",
    "GenotypeGANConfig",
    "MarkovChain",
    "SequenceGAN",
    "SequenceGANConfig",
    "StructureGAN",
    "StructureGANConfig",
    "TabularGAN",
    "TabularGANConfig",
    "__version__",
    "augment",
    "datasets",
    "errors",
    "evaluate",
    "metrics",
    "plot",
    "report",
]
