"""User-facing estimators, one per data type."""

from biogan.models.expression import ExpressionGAN, ExpressionGANConfig
from biogan.models.vae import ExpressionVAE, ExpressionVAEConfig

__all__ = ["ExpressionGAN", "ExpressionGANConfig", "ExpressionVAE", "ExpressionVAEConfig"]
