"""User-facing estimators, one per data type."""

from biogan.models.expression import ExpressionGAN, ExpressionGANConfig

__all__ = ["ExpressionGAN", "ExpressionGANConfig"]
