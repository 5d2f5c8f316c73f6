"""How often the distilled student disagrees with the teacher: transfer risks and the bound.

The transfer risk of a student ``w`` is ``R(w) = P_x[sign(wᵀx) != sign(w*ᵀx)]``.

- :func:`angle_to_teacher`: ``∠(w, w*)``, by ``atan2`` (accurate near 0 and π).
- :func:`transfer_risk`: ``∠(w, w*)/π`` under any rotation-invariant law [derived], or the
  disagreement rate on given inputs.
- :func:`expected_isotropic_risk`: the exact ``E R_n`` of the student distilled from zero under
  isotropic inputs, through ``cos²∠(P_X w*, w*) ~ Beta(n/2, (d - n)/2)`` [derived].
- :func:`polar_transfer_risk`: the exact risk under a law that is axially symmetric around the
  teacher (the polar families of :mod:`hilbert_sd.linear.geometry`) [derived].
- :func:`risk_bound`: ``E R_n <= min_β [p(β) + p(π/2 - β)^n]`` [paper-form, derived].

The private helpers take float64 arrays and plain scalars: the angle, the tanh-sinh quadrature
of the axial risk (and an adaptive-quadrature reference, ``_axial_risk_quad``) and the
minimization over β.
"""

import numpy as np
import scipy.integrate
from scipy.special import betainc, expit

from hilbert_sd._validation import as_float_array, check_scalar
from hilbert_sd.linear._checks import check_design, check_kappa_margin, check_vector
from hilbert_sd.linear.geometry import (
    _HALF_PI,
    isotropic_angle_cdf,
    isotropic_angle_quantile,
    polar_angle_cdf,
    polar_angle_quantile,
)

__all__ = [
    "angle_to_teacher",
    "expected_isotropic_risk",
    "polar_transfer_risk",
    "risk_bound",
    "transfer_risk",
]


def angle_to_teacher(w, w_teacher):
    """Angle ``∠(w, w*)`` in [0, π], computed with ``atan2`` (accurate near 0 and π).

    Parameters
    ----------
    w : array-like of shape (n_features,) or (n_students, n_features)
    w_teacher : array-like of shape (n_features,)

    Returns
    -------
    float or ndarray of shape (n_students,)
    """
    w = as_float_array(w, "w", ndim=(1, 2))
    d = w.shape[-1]
    w_teacher = check_vector(w_teacher, d, "w_teacher", nonzero=True)
    if np.any(~np.any(w, axis=-1)):
        raise ValueError("w contains a zero vector; its angle to the teacher is undefined")
    out = _angle(w, w_teacher)
    return float(out) if w.ndim == 1 else out


def transfer_risk(w, w_teacher, X=None, *, return_se=False):
    """Probability that the student and the teacher disagree in sign on a new input.

    Parameters
    ----------
    w : array-like of shape (n_features,)
        Student weights.
    w_teacher : array-like of shape (n_features,)
        Teacher weights.
    X : array-like of shape (n_test, n_features), default=None
        None: the exact risk under any isotropic law, ``∠(w, w*)/π`` [derived]. Otherwise the
        disagreement rate on the rows of ``X`` (a Monte Carlo estimate when they are a sample).
    return_se : bool, default=False
        Also return the standard error: ``sqrt(R(1 - R)/n_test)`` for a sample, 0 for the exact
        isotropic value.

    Returns
    -------
    risk : float
    se : float
        Only when ``return_se=True``.
    """
    w_teacher = as_float_array(w_teacher, "w_teacher", ndim=1)
    d = w_teacher.shape[0]
    w = check_vector(w, d, "w")
    if not np.any(w_teacher):
        raise ValueError("w_teacher is the zero vector; it labels nothing")
    if X is None:
        if not np.any(w):
            raise ValueError("w is the zero vector; its angle to the teacher is undefined")
        risk, se = float(_angle(w, w_teacher)) / np.pi, 0.0
    else:
        X = check_design(X)
        if X.shape[1] != d:
            raise ValueError(f"X has {X.shape[1]} features but w_teacher has {d}; they must match")
        risk = float(np.mean(np.sign(X @ w) != np.sign(X @ w_teacher)))
        se = float(np.sqrt(risk * (1.0 - risk) / X.shape[0]))
    return (risk, se) if return_se else risk


def expected_isotropic_risk(n, d):
    """Exact expected transfer risk ``E R_n`` of the distilled student under isotropic inputs.

    Parameters
    ----------
    n : int
        Number of training inputs (``>= 1``).
    d : int
        Dimension (``>= 1``).

    Returns
    -------
    float
        ``(1/π) E[arccos √B]`` with ``B = cos²∠(P_X w*, w*) ~ Beta(n/2, (d - n)/2)`` for ``n < d``,
        and 0 for ``n >= d`` [derived]. ``E R_{d/2} = 1/4`` exactly: ``B`` and ``1 - B`` then have
        the same law and ``arccos √B + arccos √(1 - B) = π/2`` [derived].

    Notes
    -----
    Assumes a student distilled from ``w_init = 0`` (the projection ``P_X w*``) and inputs whose
    law is invariant under rotations (e.g. ``N(0, I)``), so that the span of the data is a
    uniformly random ``n``-dimensional subspace. Computed as
    ``(1/π) ∫_0^{π/2} I_{cos² t}(n/2, (d - n)/2) dt`` (``E θ = ∫ P(θ > t) dt``) by adaptive
    quadrature of a bounded integrand.
    """
    n = check_scalar(n, "n", low=1, integer=True)
    d = check_scalar(d, "d", low=1, integer=True)
    if n >= d:
        return 0.0
    a, b = 0.5 * n, 0.5 * (d - n)
    val, _ = scipy.integrate.quad(lambda t: betainc(a, b, np.cos(t) ** 2), 0.0, _HALF_PI,
                                  epsabs=1e-14, epsrel=1e-13, limit=200)
    return float(val / np.pi)


def polar_transfer_risk(w, w_teacher, *, kappa=None, margin=None, law="polar"):
    """Exact transfer risk under an axially symmetric law around the teacher.

    Parameters
    ----------
    w : array-like of shape (n_features,) or (n_students, n_features)
    w_teacher : array-like of shape (n_features,)
    kappa, margin : float, default=None
        The polar family of :func:`polar_sample` (None means 1 and 0).
    law : {"polar", "isotropic"}, default="polar"
        ``"isotropic"`` uses the law of ᾱ under any rotation-invariant input law (the result is
        then ``∠(w, w*)/π``; kept as a check of the formula).

    Returns
    -------
    float or ndarray of shape (n_students,)

    Notes
    -----
    With ``φ = ∠(w, w*) <= π/2``, ``R(φ) = ∫_0^{p(φ)} F_t(-tan ᾱ(u) / tan φ) du``, ``ᾱ(u)`` the
    quantile of ᾱ and ``F_t`` the CDF of one coordinate of a uniform point on the unit sphere of
    ``w*^⊥`` (``(1 + t)/2 ~ Beta((d-2)/2, (d-2)/2)``), and ``R(π - φ) = 1 - R(φ)`` [derived].
    Only inputs closer to the teacher's boundary than the student's angle (``ᾱ < φ``) can be
    misclassified. Evaluated by tanh-sinh quadrature (about 1e-12 absolute).
    """
    w = as_float_array(w, "w", ndim=(1, 2))
    d = w.shape[-1]
    w_teacher = check_vector(w_teacher, d, "w_teacher", nonzero=True)
    if d < 2:
        raise ValueError(f"polar laws need n_features >= 2; got {d}")
    if np.any(~np.any(w, axis=-1)):
        raise ValueError("w contains a zero vector; its angle to the teacher is undefined")
    cdf, quantile = _law(law, d, kappa, margin)
    risk = _axial_risk(np.atleast_1d(_angle(w, w_teacher)), cdf, quantile, d)
    return float(risk[0]) if w.ndim == 1 else risk


def _law(law, d, kappa, margin):
    if law == "polar":
        kappa, margin = check_kappa_margin(kappa, margin)
        return (lambda t: polar_angle_cdf(t, kappa, margin),
                lambda u: polar_angle_quantile(u, kappa, margin))
    if law == "isotropic":
        return (lambda t: isotropic_angle_cdf(t, d), lambda u: isotropic_angle_quantile(u, d))
    raise ValueError(f"law={law!r} is not one of ('polar', 'isotropic')")


def risk_bound(p, n, *, return_beta=False):
    """Bound ``E R_n <= min_{β ∈ [0, π/2]} [p(β) + p(π/2 - β)^n]`` on the expected transfer risk.

    Parameters
    ----------
    p : callable
        ``p(θ) = P(ᾱ(x) <= θ)`` with ``ᾱ(x) = |∠(w*, x) - π/2|`` (the input's angle to the teacher's
        decision boundary); non-decreasing, values in [0, 1]. Vectorized callables are faster;
        scalar ones work too. See :func:`polar_angle_cdf` and :func:`isotropic_angle_cdf`.
    n : int or array-like of int
        Training-set sizes (``>= 1``).
    return_beta : bool, default=False
        Also return the minimizing β.

    Returns
    -------
    bound : float or ndarray
    beta : float or ndarray
        Only when ``return_beta=True``.

    Notes
    -----
    [paper-form, derived]: a training input with ``ᾱ > π/2 - β`` puts the student within angle β of
    the teacher, and then every input with ``ᾱ > β`` is classified as the teacher does. Any β gives
    a valid bound, so the approximate minimization (grid plus bounded Brent) is conservative. A
    margin (``p(β₀) = 0``) gives exponential decay in ``n``; ``p(θ) = (2θ/π)^κ`` gives
    ``E R_n <= 2 (ln n / n)^κ`` for ``n >= 3`` [derived].
    """
    if not callable(p):
        raise ValueError(f"p must be a callable theta -> P(abar <= theta); got {type(p).__name__}")
    n_arr = np.asarray(n)
    scalar = n_arr.ndim == 0
    ns = [check_scalar(v, "n", low=1, integer=True) for v in np.atleast_1d(n_arr).ravel()]
    out = [_bound_minimum(p, k) for k in ns]
    bounds = np.array([b for b, _ in out]).reshape(n_arr.shape)
    betas = np.array([b for _, b in out]).reshape(n_arr.shape)
    if scalar:
        bounds, betas = float(bounds), float(betas)
    return (bounds, betas) if return_beta else bounds


# -------------------------------------------------- private numerics (float64 arrays)


def _angle(w, v):
    """Angle between ``w`` and ``v`` (rows of 2-D arrays allowed), in [0, π].

    ``atan2(‖v⊥‖, w·v̂)`` instead of ``arccos(cos)``: arccos loses half the digits near 0 and π,
    exactly where recovered teachers sit.
    """
    w = np.asarray(w, dtype=np.float64)
    v_hat = v / np.linalg.norm(v)
    along = w @ v_hat
    perp = w - np.multiply.outer(along, v_hat)
    return np.arctan2(np.linalg.norm(perp, axis=-1), along)


# -------------------------------------------------------------------- exact risk, axial laws

# Tanh-sinh (double-exponential) nodes on (0, 1): exact to ~1e-12 even with the integrable
# endpoint singularities that appear here (u^{1/κ} at 0, (1 + t)^{(d-2)/2} at the other end).
_TS_STEP = 1.0 / 16.0
_TS_K = np.arange(-72, 73) * _TS_STEP
_TS_S = _HALF_PI * np.sinh(_TS_K)
_TS_Y = expit(2.0 * _TS_S)
_TS_W = _TS_STEP * _HALF_PI * np.cosh(_TS_K) * 2.0 * expit(2.0 * _TS_S) * expit(-2.0 * _TS_S)


def _coordinate_cdf(t, d):
    """CDF of ``t = vᵀu`` for ``u`` uniform on the unit sphere of a (d-1)-dimensional space.

    ``(1 + t)/2 ~ Beta((d-2)/2, (d-2)/2)`` for ``d >= 3``; for ``d = 2`` the sphere is {±1}.
    """
    t = np.asarray(t, dtype=np.float64)
    if d == 2:
        return 0.5 * (t >= -1.0) + 0.5 * (t >= 1.0)
    a = 0.5 * (d - 2)
    return betainc(a, a, np.clip(0.5 * (1.0 + t), 0.0, 1.0))


def _axial_risk(phi, cdf, quantile, d):
    """Transfer risk of students at angles ``phi`` from the teacher, for an axially symmetric law.

    Parameters
    ----------
    phi : ndarray of shape (m,)
        Angles ∠(w, w*) in [0, π].
    cdf, quantile : callable
        ``p(θ) = P(ᾱ <= θ)`` of the law and its inverse on [0, 1].
    d : int
        Dimension (``>= 2``).

    Returns
    -------
    risk : ndarray of shape (m,)

    Notes
    -----
    Write the student as ``cos φ ŵ* + sin φ v`` with ``v ⊥ w*`` and the input as
    ``r(cos α ŵ* + sin α u)``, ``α = π/2 ∓ ᾱ``, ``u`` uniform on the sphere of ``w*^⊥``. The two
    disagree iff ``t = vᵀu < -tan ᾱ / tan φ`` (both signs give the same probability), so for
    ``φ <= π/2`` [derived]

        R(φ) = ∫_0^{p(φ)} F_t(-tan ᾱ(u) / tan φ) du,

    ``F_t`` the CDF of ``t`` and ``ᾱ(u)`` the quantile function. ``R(π - φ) = 1 - R(φ)``.
    """
    phi = np.atleast_1d(np.asarray(phi, dtype=np.float64))
    flip = phi > _HALF_PI
    psi = np.where(flip, np.pi - phi, phi)
    risk = np.zeros_like(psi)
    inner = psi > 0.0
    if np.any(inner):
        p_phi = np.asarray(cdf(psi[inner]), dtype=np.float64)
        u = p_phi[:, None] * _TS_Y[None, :]
        abar = quantile(u)
        # cot φ is 0 at φ = π/2, where every input with ᾱ < π/2 is misclassified with prob. 1/2.
        cot = np.cos(psi[inner]) / np.sin(psi[inner])
        t = -np.tan(abar) * cot[:, None]
        vals = _coordinate_cdf(t, d)
        risk[inner] = p_phi * (vals @ _TS_W)
    return np.where(flip, 1.0 - risk, risk)


def _axial_risk_quad(phi, cdf, quantile, d):
    """Adaptive-quadrature version of :func:`_axial_risk` for one angle (slow reference)."""
    phi = float(phi)
    if phi > _HALF_PI:
        return 1.0 - _axial_risk_quad(np.pi - phi, cdf, quantile, d)
    if phi == 0.0:
        return 0.0
    p_phi = float(cdf(phi))
    cot = np.cos(phi) / np.sin(phi)
    val, _ = scipy.integrate.quad(
        lambda u: float(_coordinate_cdf(-np.tan(quantile(u)) * cot, d)),
        0.0, p_phi, epsabs=1e-13, epsrel=1e-12, limit=200,
    )
    return val


# --------------------------------------------------------------------------- the bound


def _bound_minimum(p, n, grid_size=2049, zoom_rounds=12, zoom_size=65):
    """``min_β [p(β) + p(π/2 - β)^n]`` over β in [0, π/2] and the minimizing β.

    Every β gives a valid bound, so an approximate minimizer can only be conservative. A grid
    search is refined by zooming into the cell around the best point (``zoom_rounds`` grids of
    ``zoom_size`` points): unlike parabolic steps this converges at the kinks a margin puts in
    ``p`` (e.g. at β = m, where the minimum often sits).
    """
    try:
        probe = np.asarray(p(np.linspace(0.0, _HALF_PI, 3)), dtype=np.float64)
        vectorized = probe.shape == (3,)
    except (TypeError, ValueError):
        # a callable written for one float at a time
        vectorized = False

    def evaluate(beta):
        if vectorized:
            lo = np.asarray(p(beta), dtype=np.float64)
            hi = np.asarray(p(_HALF_PI - beta), dtype=np.float64)
        else:
            lo = np.array([float(p(b)) for b in beta])
            hi = np.array([float(p(_HALF_PI - b)) for b in beta])
        return lo, hi

    beta = np.linspace(0.0, _HALF_PI, grid_size)
    p_lo, p_hi = evaluate(beta)
    if not np.all(np.isfinite(p_lo)) or p_lo.min() < -1e-12 or p_lo.max() > 1 + 1e-12:
        raise ValueError(
            "p(theta) must return probabilities in [0, 1] on [0, pi/2]; got values in "
            f"[{np.nanmin(p_lo):.3g}, {np.nanmax(p_lo):.3g}]"
        )

    def objective(p_lo, p_hi):
        return np.clip(p_lo, 0.0, 1.0) + np.clip(p_hi, 0.0, 1.0) ** n

    values = objective(p_lo, p_hi)
    i = int(np.argmin(values))
    best_b, best_v = float(beta[i]), float(values[i])
    lo, hi = beta[max(i - 1, 0)], beta[min(i + 1, grid_size - 1)]
    for _ in range(zoom_rounds):
        beta = np.linspace(lo, hi, zoom_size)
        values = objective(*evaluate(beta))
        i = int(np.argmin(values))
        if values[i] < best_v:
            best_b, best_v = float(beta[i]), float(values[i])
        lo, hi = beta[max(i - 1, 0)], beta[min(i + 1, zoom_size - 1)]
    return best_v, best_b
