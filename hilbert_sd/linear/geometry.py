"""Data laws around a linear teacher: the input's angle to the teacher's decision boundary.

For an input ``x`` let ``ᾱ(x) = |∠(w*, x) - π/2|`` be its angle to the teacher's decision
boundary and ``p(θ) = P(ᾱ <= θ)``. How much mass ``p`` puts near 0 decides how fast the
distilled student's risk falls with ``n`` (:func:`hilbert_sd.linear.risk_bound`).

- :func:`polar_angle_cdf`, :func:`polar_angle_quantile`: the polar family
  ``p(θ) = ((θ - m)/(π/2 - m))^κ`` (shape κ, margin m) and its inverse.
- :func:`isotropic_angle_cdf`, :func:`isotropic_angle_quantile`: ``p`` under any
  rotation-invariant law in ``R^d``, ``I_{sin²θ}(1/2, (d-1)/2)`` [derived], and its inverse.
- :func:`polar_sample`: inputs drawn from a polar law (:doc:`/topics/linear_teacher`).

The CDFs and quantiles take plain arrays and scalars and do not validate (they are called
inside quadratures); :func:`polar_sample` validates its arguments.
"""

import numpy as np
from scipy.special import betainc, betaincinv

from hilbert_sd._validation import as_float_array, check_scalar
from hilbert_sd.linear._checks import check_kappa_margin

__all__ = [
    "isotropic_angle_cdf",
    "isotropic_angle_quantile",
    "polar_angle_cdf",
    "polar_angle_quantile",
    "polar_sample",
]

_HALF_PI = 0.5 * np.pi


def polar_angle_cdf(theta, kappa, margin):
    """``p(θ) = P(ᾱ <= θ) = ((θ - m)/(π/2 - m))^κ`` clipped to [0, 1] (the polar families)."""
    v = np.clip((np.asarray(theta, dtype=np.float64) - margin) / (_HALF_PI - margin), 0.0, 1.0)
    return v**kappa


def polar_angle_quantile(u, kappa, margin):
    """Inverse of :func:`polar_angle_cdf` on [0, 1]."""
    return margin + (_HALF_PI - margin) * np.asarray(u, dtype=np.float64) ** (1.0 / kappa)


def isotropic_angle_cdf(theta, d):
    """``p(θ)`` for an isotropic law in R^d: ``cos²∠(x, w*) ~ Beta(1/2, (d-1)/2)``, so
    ``P(ᾱ <= θ) = P(|cos∠| <= sin θ) = I_{sin²θ}(1/2, (d-1)/2)``."""
    theta = np.clip(np.asarray(theta, dtype=np.float64), 0.0, _HALF_PI)
    if d == 1:
        return np.where(theta >= _HALF_PI, 1.0, 0.0)
    return betainc(0.5, 0.5 * (d - 1), np.sin(theta) ** 2)


def isotropic_angle_quantile(u, d):
    """Inverse of :func:`isotropic_angle_cdf` (``d >= 2``)."""
    return np.arcsin(np.sqrt(betaincinv(0.5, 0.5 * (d - 1), np.asarray(u, dtype=np.float64))))


def polar_sample(n, w_teacher, *, kappa=None, margin=None, radius=1.0, random_state=None):
    """Sample inputs whose angle to the teacher's decision boundary follows a polar law.

    Parameters
    ----------
    n : int
        Number of inputs (``>= 1``).
    w_teacher : array-like of shape (n_features,)
        Teacher (``n_features >= 2``); its direction is the axis of the law.
    kappa : float, default=None
        Shape κ > 0 (None means 1): ``p(θ) = P(ᾱ <= θ) = ((θ - m)/(π/2 - m))^κ``. Large κ pushes
        mass away from the boundary (easier data).
    margin : float, default=None
        Margin ``m`` in [0, π/2) (None means 0): no input lies within angle ``m`` of the boundary,
        ``p(m) = 0``.
    radius : float, default=1.0
        Norm of every input (the risk does not depend on it; it sets ``|w*ᵀx| = O(radius ‖w*‖)``).
    random_state : None, int or numpy.random.Generator
        Seed or generator.

    Returns
    -------
    X : ndarray of shape (n, n_features)

    Notes
    -----
    ᾱ is drawn from its quantile ``m + (π/2 - m) U^{1/κ}``, a sign ±1 picks the side of the
    boundary, ``α = π/2 ∓ ᾱ`` and ``x = r (cos α ŵ* + sin α u)`` with ``u`` uniform on the unit
    sphere of ``w*^⊥`` (:doc:`/topics/linear_teacher`).
    """
    n = check_scalar(n, "n", low=1, integer=True)
    w_teacher = as_float_array(w_teacher, "w_teacher", ndim=1)
    d = w_teacher.shape[0]
    if d < 2:
        raise ValueError(f"w_teacher must have n_features >= 2 for a polar law; got {d}")
    if not np.any(w_teacher):
        raise ValueError("w_teacher is the zero vector; it defines no axis")
    kappa, margin = check_kappa_margin(kappa, margin)
    radius = check_scalar(radius, "radius", low=0.0, low_inclusive=False)
    rng = np.random.default_rng(random_state)
    w_hat = w_teacher / np.linalg.norm(w_teacher)
    abar = polar_angle_quantile(rng.random(n), kappa, margin)
    side = rng.choice([-1.0, 1.0], size=n)
    u = rng.standard_normal((n, d))
    u -= np.outer(u @ w_hat, w_hat)
    norms = np.linalg.norm(u, axis=1)
    # a Gaussian vector lands exactly on the axis with probability 0; redraw if round-off does
    while np.any(norms == 0.0):  # pragma: no cover
        bad = norms == 0.0
        u[bad] = rng.standard_normal((int(bad.sum()), d))
        u[bad] -= np.outer(u[bad] @ w_hat, w_hat)
        norms = np.linalg.norm(u, axis=1)
    u /= norms[:, None]
    # cos α = ±sin ᾱ, sin α = cos ᾱ
    return radius * (np.outer(side * np.sin(abar), w_hat) + np.cos(abar)[:, None] * u)
