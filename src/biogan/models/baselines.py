"""Non-adversarial count models that every GAN result is measured against.

* :class:`NegativeBinomialBaseline` -- independent negative binomial per gene and class.
* :class:`GaussianBaseline` -- a multivariate Gaussian on ``log1p(counts)`` per class.
* :class:`GaussianCopulaBaseline` -- NB marginals joined by a Gaussian copula per class, the
  scDesign2/3 recipe a statistician would pick instead of a GAN.

They share :class:`ExpressionGAN`'s data handling: ``fit(adata)`` on a registered AnnData, then
``sample(n=..., labels=..., seed=...)`` returns an AnnData of integer counts.
"""

from __future__ import annotations

from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from sklearn.covariance import LedoitWolf

from biogan.data.anndata import CountData, registered_keys
from biogan.errors import NotFittedError, UnknownLabelError


def nb_moments(X: np.ndarray, max_theta: float = 1e4) -> tuple[np.ndarray, np.ndarray]:
    """Per-gene NB mean and inverse dispersion ``theta`` by the method of moments."""
    mu = X.mean(0)
    excess = X.var(0, ddof=1) - mu if len(X) > 1 else np.zeros_like(mu)
    with np.errstate(divide="ignore", invalid="ignore"):
        theta = np.where(excess > 1e-8, mu**2 / excess, max_theta)
    return mu, np.clip(np.nan_to_num(theta, nan=max_theta), 1e-2, max_theta)


def nb_distribution(mu: np.ndarray, theta: np.ndarray) -> Any:
    """A frozen scipy NB with mean ``mu`` and inverse dispersion ``theta``."""
    return stats.nbinom(theta, theta / (theta + np.maximum(mu, 1e-12)))


class _PerClassCountModel:
    """Fits one small model per class; subclasses say how to fit and sample a class."""

    name = "baseline"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self.params: dict[int, Any] = {}
        self.categories: list[str] = []
        self.genes: list[str] = []
        self.labels_key: str | None = None
        self.class_sizes: np.ndarray = np.zeros(0)

    def fit(self, adata: ad.AnnData) -> _PerClassCountModel:
        """Fit on an AnnData registered with ``biogan.ExpressionGAN.setup_anndata``."""
        layer, self.labels_key = registered_keys(adata)
        data = CountData.from_anndata(adata, layer, self.labels_key)
        self.categories, self.genes = data.categories, data.genes
        self.class_sizes = np.bincount(data.codes, minlength=len(self.categories))
        rng = np.random.default_rng(self.seed)
        for k in range(len(self.categories)):
            self.params[k] = self._fit_class(data.X[data.codes == k].toarray().astype(np.float64), rng)
        return self

    def sample(self, n: int | None = None, labels: dict[str, int] | None = None, seed: int = 0) -> ad.AnnData:
        """Integer counts for ``labels`` ({label: count}) or ``n`` cells in training proportions."""
        if not self.params:
            raise NotFittedError(f"{type(self).__name__}: call fit() first")
        rng = np.random.default_rng(seed)
        if labels is None:
            if n is None:
                raise ValueError("give n or labels")
            draws = rng.choice(len(self.categories), n, p=self.class_sizes / self.class_sizes.sum())
            labels = {c: int((draws == k).sum()) for k, c in enumerate(self.categories)}
        unknown = sorted(set(labels) - set(self.categories))
        if unknown:
            raise UnknownLabelError(f"the model never saw label(s) {unknown}; it knows {self.categories}")
        blocks, names = [], []
        for label, count in labels.items():
            k = self.categories.index(label)
            blocks.append(self._sample_class(self.params[k], int(count), rng))
            names += [label] * int(count)
        X = sp.csr_matrix(np.vstack(blocks).astype(np.float32))
        obs = pd.DataFrame({self.labels_key or "label": pd.Categorical(names, categories=self.categories)})
        obs.index = [f"{self.name}_{i}" for i in range(len(names))]
        out = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=self.genes))
        out.layers["counts"] = X.copy()
        return out

    def _fit_class(self, X: np.ndarray, rng: np.random.Generator) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _sample_class(self, params: Any, n: int, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class NegativeBinomialBaseline(_PerClassCountModel):
    """Independent negative binomial per gene and class (no gene-gene structure)."""

    name = "nb"

    def _fit_class(self, X: np.ndarray, rng: np.random.Generator) -> Any:
        return nb_moments(X)

    def _sample_class(self, params: Any, n: int, rng: np.random.Generator) -> np.ndarray:
        mu, theta = params
        return nb_distribution(mu, theta).rvs(size=(n, len(mu)), random_state=rng)


class GaussianBaseline(_PerClassCountModel):
    """Multivariate Gaussian on ``log1p(counts)`` per class (Ledoit-Wolf covariance), rounded back."""

    name = "gaussian"

    def _fit_class(self, X: np.ndarray, rng: np.random.Generator) -> Any:
        logx = np.log1p(X)
        cov = LedoitWolf().fit(logx).covariance_ if len(X) > 1 else np.eye(X.shape[1]) * 1e-6
        return logx.mean(0), cov

    def _sample_class(self, params: Any, n: int, rng: np.random.Generator) -> np.ndarray:
        mean, cov = params
        logx = rng.multivariate_normal(mean, cov, size=n, method="eigh")
        return np.maximum(np.rint(np.expm1(logx)), 0)


class GaussianCopulaBaseline(_PerClassCountModel):
    """NB marginals per gene joined by a Gaussian copula per class (scDesign2/3 style).

    Fitting maps counts to normal scores with the randomised probability-integral transform,
    estimates a Ledoit-Wolf-shrunk correlation, and sampling inverts the NB CDF.
    """

    name = "copula"

    def _fit_class(self, X: np.ndarray, rng: np.random.Generator) -> Any:
        mu, theta = nb_moments(X)
        dist = nb_distribution(mu, theta)
        lower = np.where(X > 0, dist.cdf(X - 1), 0.0)
        u = lower + rng.uniform(size=X.shape) * (dist.cdf(X) - lower)
        scores = stats.norm.ppf(np.clip(u, 1e-6, 1 - 1e-6))
        if len(X) > 1:
            cov = LedoitWolf().fit(scores).covariance_
            sd = np.sqrt(np.diag(cov))
            corr = cov / np.outer(sd, sd)
        else:
            corr = np.eye(X.shape[1])
        return mu, theta, corr

    def _sample_class(self, params: Any, n: int, rng: np.random.Generator) -> np.ndarray:
        mu, theta, corr = params
        z = rng.multivariate_normal(np.zeros(len(mu)), corr, size=n, method="eigh")
        return nb_distribution(mu, theta).ppf(np.clip(stats.norm.cdf(z), 1e-9, 1 - 1e-9))


BASELINES = {
    "nb": NegativeBinomialBaseline,
    "gaussian": GaussianBaseline,
    "copula": GaussianCopulaBaseline,
}
