"""Missing-value imputation: :class:`GANImputer` (adversarial, scikit-learn compatible), plain GAIN, masks,
and :class:`GenotypeImputer` for missing genotype calls."""

from biogan.data.tables import CATEGORICAL, CONTINUOUS, INTEGER
from biogan.impute.gain import GAINImputer, GAINProblem, GAINSettings
from biogan.impute.genotypes import GenotypeImputer, GenotypeImputerConfig
from biogan.impute.imputer import GANImputer
from biogan.impute.masks import make_mask, mar_mask, mcar_mask, mnar_mask

__all__ = [
    "CATEGORICAL",
    "CONTINUOUS",
    "INTEGER",
    "GAINImputer",
    "GAINProblem",
    "GAINSettings",
    "GANImputer",
    "GenotypeImputer",
    "GenotypeImputerConfig",
    "make_mask",
    "mar_mask",
    "mcar_mask",
    "mnar_mask",
]
