"""Pure PyTorch modules: generators, critics, the MLP builder, conditioning layers and count pieces."""

from biogan.nn.counts import binomial_thinning, nb_log_likelihood, sample_counts, sample_log_library
from biogan.nn.critics import ProjectionCritic
from biogan.nn.generators import ConditionalMLPGenerator, CountGenerator
from biogan.nn.layers import ConditionalLayerNorm, mlp
from biogan.nn.tables import CopulaBase, CopulaResidualGenerator

__all__ = [
    "ConditionalLayerNorm",
    "ConditionalMLPGenerator",
    "CopulaBase",
    "CopulaResidualGenerator",
    "CountGenerator",
    "ProjectionCritic",
    "binomial_thinning",
    "mlp",
    "nb_log_likelihood",
    "sample_counts",
    "sample_log_library",
]
