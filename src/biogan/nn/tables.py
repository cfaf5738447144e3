"""Generator of :class:`~biogan.TabularGAN`: a per-class Gaussian copula plus a learnt residual.

Rows live in normal-score space (every numeric column through its empirical CDF to a standard normal;
categories one-hot). :class:`CopulaBase` is the per-class Gaussian copula of those scores, conditioned on
the row's covariates: ``x0 = mean[y] + gain[y] c + chol[y] z``. A categorical column takes part through a
latent score (its category's CDF step of the class's shares, the rows spread evenly inside the step, to a
normal score): the category whose step holds ``Phi(score)`` is the copula's draw, so categories depend on the
numeric columns (and each other) as in a statistician's copula. That copula is the generator's starting
point: :class:`CopulaResidualGenerator` adds a network's residual (output layer started near zero) to the
numeric scores and to the logits of the copula's categories, so at step 0 the GAN *is* the copula and the
adversarial game only has to learn what a Gaussian dependence misses (non-linear relations, clusters, zero
patterns). Categories are drawn from the logits (Gumbel-softmax while training).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import special
from sklearn.covariance import LedoitWolf, ShrunkCovariance
from torch import nn

from biogan.data.tables import spread_ties
from biogan.nn.generators import ConditionalMLPGenerator

MIN_CLASS_ROWS = 3  # fewer rows than this: the class borrows the pooled covariance
JITTER = 1e-4
OTHER_CATEGORIES = 1e-3  # share of the start logits left to the categories the copula did not draw


class CopulaBase(nn.Module):
    """Per-class Gaussian of numeric scores given covariates (buffers only; nothing is trained).

    The covariates enter through a piecewise-linear basis (each score and its hinges at ``n_knots``
    quantiles), so the mean of ``x`` can follow a curved relation (neutrophil share against age: lower
    in children, flat in adults) that a Gaussian on the raw scores would make a straight line.

    Parameters
    ----------
    n_classes, n_numeric, n_conditions
        Classes, numeric output dimensions and covariate inputs.
    n_knots
        Hinges per covariate.
    """

    def __init__(self, n_classes: int, n_numeric: int, n_conditions: int, n_knots: int = 4) -> None:
        super().__init__()
        n_features = n_conditions * (1 + n_knots)
        self.register_buffer("mean", torch.zeros(n_classes, n_numeric))
        self.register_buffer("gain", torch.zeros(n_classes, n_numeric, n_features))
        self.register_buffer("chol", torch.eye(n_numeric).repeat(n_classes, 1, 1))
        self.register_buffer("knots", torch.zeros(n_conditions, n_knots))
        # The covariates' own Gaussian per class, to draw conditions when a user gives none.
        self.register_buffer("condition_mean", torch.zeros(n_classes, n_conditions))
        self.register_buffer("condition_chol", torch.eye(n_conditions).repeat(n_classes, 1, 1))

    def features(self, c: torch.Tensor) -> torch.Tensor:
        """The covariate basis: every score and its hinges ``max(0, c - knot)``."""
        hinges = torch.relu(c[:, :, None] - self.knots[None])
        return torch.cat([c, hinges.flatten(1)], dim=1)

    @torch.no_grad()
    def fit(self, x: np.ndarray, c: np.ndarray, codes: np.ndarray, max_shrinkage: float = 1.0) -> None:
        """Fit every class's Gaussian of ``[features(c), x]`` and condition it on the features; the
        covariates' own Gaussian too. Covariances shrink towards a scaled identity by the Ledoit–Wolf
        intensity, at most ``max_shrinkage``."""
        n_classes, n_knots = self.mean.shape[0], self.knots.shape[1]
        levels = np.arange(1, n_knots + 1) / (n_knots + 1)
        if c.shape[1]:
            self.knots.copy_(torch.as_tensor(np.quantile(c, levels, axis=0).T, dtype=torch.float32))
        phi = self.features(torch.as_tensor(c, dtype=torch.float32)).double().numpy()
        joint = np.hstack([phi, x]).astype(np.float64)
        pooled = _shrunk_cov(joint - _class_means(joint, codes, n_classes)[codes], max_shrinkage)
        pooled_c = _shrunk_cov(c - c.mean(0))
        for k in range(n_classes):
            rows, own_c = joint[codes == k], c[codes == k]
            enough = len(rows) >= MIN_CLASS_ROWS
            cov = _shrunk_cov(rows - rows.mean(0), max_shrinkage) if enough else pooled
            mean, gain, chol = _conditional(rows.mean(0), cov, phi.shape[1])
            c_cov = _shrunk_cov(own_c - own_c.mean(0)) if enough else pooled_c
            c_chol = np.linalg.cholesky(c_cov + JITTER * np.eye(len(c_cov))) if c.shape[1] else c_cov
            for name, value in (
                ("mean", mean),
                ("gain", gain),
                ("chol", chol),
                ("condition_mean", own_c.mean(0)),
                ("condition_chol", c_chol),
            ):
                getattr(self, name)[k] = torch.as_tensor(value, dtype=torch.float32)

    def forward(self, z: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        out = self.mean[y]
        if c.shape[1]:
            out = out + torch.einsum("bnf,bf->bn", self.gain[y], self.features(c))
        noise = torch.empty_like(out)
        for k in torch.unique(y).tolist():  # per class: a (B, N, N) gather would not fit for wide tables
            rows = y == k
            noise[rows] = z[rows] @ self.chol[k].T
        return out + noise

    def draw_conditions(self, y: torch.Tensor) -> torch.Tensor:
        """Covariate scores drawn from each row's class Gaussian."""
        c = torch.randn(len(y), self.condition_mean.shape[1], device=y.device)
        return self.condition_mean[y] + torch.einsum("bij,bj->bi", self.condition_chol[y], c)


def _class_means(values: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
    return np.stack(
        [values[codes == k].mean(0) if (codes == k).any() else values.mean(0) for k in range(n_classes)]
    )


def _shrunk_cov(centred: np.ndarray, cap: float = 1.0) -> np.ndarray:
    """Ledoit–Wolf covariance, its shrinkage towards a scaled identity held to at most ``cap``."""
    if centred.shape[1] == 0:
        return np.zeros((0, 0))
    fitted = LedoitWolf(assume_centered=True).fit(centred)
    if fitted.shrinkage_ <= cap:
        return fitted.covariance_
    return ShrunkCovariance(assume_centered=True, shrinkage=cap).fit(centred).covariance_


def _conditional(mean: np.ndarray, cov: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, gain and Cholesky factor of ``x | f`` for the Gaussian ``[f, x]`` (``f``: the first ``m``)."""
    cov = cov + JITTER * np.eye(len(cov))
    s_ff, s_fx, s_xx = cov[:m, :m], cov[:m, m:], cov[m:, m:]
    if m:
        gain = np.linalg.solve(s_ff, s_fx).T  # (N, M)
        s_xx = s_xx - gain @ s_fx
        mean_x = mean[m:] - gain @ mean[:m]
    else:
        gain, mean_x = np.zeros((len(s_xx), 0)), mean[m:]
    return mean_x, gain, np.linalg.cholesky(s_xx + JITTER * np.eye(len(s_xx)))


class CopulaResidualGenerator(nn.Module):
    """Copula start plus a conditional MLP's residual; one-hot blocks from the copula's category and the
    MLP's logits.

    ``forward(z, y, c)`` takes noise of size ``n_base + noise_dim`` (the copula's share first: one per
    numeric column and one per categorical column), class codes and covariate scores ``c`` (width
    ``n_conditions``, may be 0), and returns rows in the encoded layout: numeric columns at
    ``numeric_index``, one-hot blocks at ``categorical_blocks``.

    Parameters
    ----------
    noise_dim
        Noise of the residual network (beside the copula's).
    n_classes, n_conditions
        Classes and covariate inputs.
    width
        Columns of an encoded row.
    categorical_blocks
        ``(start, stop)`` of each one-hot block; every other column is numeric.
    hidden
        Hidden widths of the residual network.
    tau
        Gumbel-softmax temperature while training (hard one-hot draws in eval mode).
    """

    def __init__(
        self,
        noise_dim: int,
        n_classes: int,
        n_conditions: int,
        width: int,
        categorical_blocks: list[tuple[int, int]],
        hidden: tuple[int, ...] = (256, 256),
        tau: float = 0.2,
    ) -> None:
        super().__init__()
        self.categorical_blocks = [(int(a), int(b)) for a, b in categorical_blocks]
        in_block = np.zeros(width, dtype=bool)
        for a, b in self.categorical_blocks:
            in_block[a:b] = True
        numeric = np.flatnonzero(~in_block)
        self.n_numeric, self.noise_dim, self.tau = len(numeric), noise_dim, tau
        self.n_base = self.n_numeric + len(self.categorical_blocks)
        self.register_buffer("numeric_index", torch.from_numpy(numeric))
        order = np.concatenate([numeric, np.flatnonzero(in_block)])
        self.register_buffer("inverse_order", torch.from_numpy(np.argsort(order)))
        # Upper end of every category's CDF step per class (blocks side by side): the copula's category.
        self.register_buffer("category_cuts", torch.ones(n_classes, int(in_block.sum())))
        self.base = CopulaBase(n_classes, self.n_base, n_conditions)
        self.residual = ConditionalMLPGenerator(
            noise_dim, n_classes, width, hidden, n_covariates=self.n_base + n_conditions
        )

    @property
    def input_dim(self) -> int:
        """Noise size ``forward`` expects."""
        return self.n_base + self.noise_dim

    @torch.no_grad()
    def fit_start(
        self,
        Z: np.ndarray,
        c: np.ndarray,
        codes: np.ndarray,
        seed: int,
        gaussian: bool = True,
        max_shrinkage: float = 1.0,
    ) -> None:
        """Fit the copula start to encoded rows ``Z`` (covariate scores ``c``, class ``codes``): each
        class's category shares, and (``gaussian``) the Gaussian of numeric and latent category scores;
        without it the start is independent standard normal scores and categories at their shares.
        ``max_shrinkage`` as in :meth:`CopulaBase.fit`."""
        n_classes = self.category_cuts.shape[0]
        numeric = self.numeric_index.cpu().numpy()
        onehot = np.delete(Z, numeric, axis=1)  # the one-hot blocks, side by side in layout order
        cuts = np.stack(
            [_cumulative_shares(onehot[codes == k], self.categorical_blocks) for k in range(n_classes)]
        )
        self.category_cuts.copy_(torch.as_tensor(cuts, dtype=torch.float32))
        if not gaussian:
            return
        rng = np.random.default_rng(seed)
        scores = _category_scores(onehot, cuts[codes], codes, self.categorical_blocks, rng)
        self.base.fit(np.hstack([Z[:, numeric], scores]), c, codes, max_shrinkage)

    def forward(self, z: torch.Tensor, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        start = self.base(z[:, : self.n_base], y, c)
        h = self.residual(z[:, self.n_base :], y, torch.cat([start, c], dim=1))
        numeric = start[:, : self.n_numeric] + h[:, : self.n_numeric]
        logits = h[:, self.n_numeric :] + self._start_logits(start[:, self.n_numeric :], y)
        blocks, at = [numeric], 0
        for a, b in self.categorical_blocks:
            block = logits[:, at : at + b - a]
            blocks.append(F.gumbel_softmax(block, tau=self.tau, hard=not self.training))
            at += b - a
        return torch.cat(blocks, dim=1)[:, self.inverse_order]

    def _start_logits(self, scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Log-probabilities putting ``1 - OTHER_CATEGORIES`` on the category whose CDF step holds each
        latent score's level."""
        parts, at = [], 0
        for j, (a, b) in enumerate(self.categorical_blocks):
            upper = self.category_cuts[y, at : at + b - a]
            lower = torch.cat([torch.zeros_like(upper[:, :1]), upper[:, :-1]], dim=1)
            level = torch.special.ndtr(scores[:, j : j + 1])
            drawn = (level >= lower) & ((level < upper) | (upper >= 1))
            drawn &= torch.cumsum(drawn, dim=1) == 1  # one category even where steps touch
            other = OTHER_CATEGORIES / max(b - a - 1, 1)
            parts.append(torch.where(drawn, 1 - OTHER_CATEGORIES, other).log())
            at += b - a
        if not parts:
            return scores.new_zeros(len(scores), 0)
        return torch.cat(parts, dim=1)


def _cumulative_shares(onehot: np.ndarray, blocks: list[tuple[int, int]]) -> np.ndarray:
    """Upper ends of the categories' CDF steps (shares in code order) of every block, side by side; a
    class without rows gets equal shares."""
    cuts, at = [], 0
    for a, b in blocks:
        rows = onehot[:, at : at + b - a]
        shares = rows.mean(0) if len(rows) else np.full(b - a, 1 / (b - a))
        cuts.append(np.cumsum(shares))
        cuts[-1][-1] = 1.0
        at += b - a
    return np.concatenate(cuts) if cuts else np.zeros(0)


def _category_scores(
    onehot: np.ndarray,
    cuts: np.ndarray,
    codes: np.ndarray,
    blocks: list[tuple[int, int]],
    rng: np.random.Generator,
) -> np.ndarray:
    """Each row's latent normal score per block: inside its category's CDF step (the row's class's
    ``cuts``), the rows of one class and category spread evenly across it in a random order."""
    scores, at = [], 0
    n = max(len(onehot), 1)
    for a, b in blocks:
        upper = cuts[:, at : at + b - a]
        lower = np.hstack([np.zeros((len(upper), 1)), upper[:, :-1]])
        pick = onehot[:, at : at + b - a].argmax(1)
        rows = np.arange(len(onehot))
        where = spread_ties(codes * (b - a) + pick, rng)
        level = lower[rows, pick] + where * (upper[rows, pick] - lower[rows, pick])
        scores.append(special.ndtri(np.clip(level, 0.5 / n, 1 - 0.5 / n)))
        at += b - a
    return np.column_stack(scores) if scores else np.zeros((len(onehot), 0))


__all__ = ["CopulaBase", "CopulaResidualGenerator"]
