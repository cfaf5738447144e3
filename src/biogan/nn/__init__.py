"""Pure PyTorch modules: generators, critics and the layers they share."""

from biogan.nn.critics import ProjectionCritic
from biogan.nn.generators import ConditionalMLPGenerator, CountGenerator, TableGenerator
from biogan.nn.layers import ConditionalLayerNorm

__all__ = [
    "ConditionalLayerNorm",
    "ConditionalMLPGenerator",
    "CountGenerator",
    "ProjectionCritic",
    "TableGenerator",
]
