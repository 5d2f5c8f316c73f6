"""Private numerics of :mod:`hilbert_sd.linear`: angles, risks, data laws, max-margin baseline.

The public wrappers validate; these take float64 arrays and plain scalars.
"""

import numpy as np
import scipy.integrate
import scipy.optimize
from scipy.special import betainc, betaincinv, expit

__all__ = [
    "angle",
    "axial_risk",
    "isotropic_angle_cdf",
    "isotropic_angle_quantile",
    "max_margin",
    "polar_angle_cdf",
    "polar_angle_quantile",
]

HALF_PI = 0.5 * np.pi


def angle(w, v):
    """Angle between ``w`` and ``v`` (rows of 2-D arrays allowed), in [0, π].

    ``atan2(‖v⊥‖, w·v̂)`` instead of ``arccos(cos)``: arccos loses half the digits near 0 and π,
    exactly where recovered teachers sit.
    """
    w = np.asarray(w, dtype=np.float64)
    v_hat = v / np.linalg.norm(v)
    along = w @ v_hat
    perp = w - np.multiply.outer(along, v_hat)
    return np.arctan2(np.linalg.norm(perp, axis=-1), along)


# ------------------------------------------------------------------ laws of ᾱ = |∠(w*, x) − π/2|


def polar_angle_cdf(theta, kappa, margin):
    """``p(θ) = P(ᾱ <= θ) = ((θ - m)/(π/2 - m))^κ`` clipped to [0, 1] (the polar families)."""
    v = np.clip((np.asarray(theta, dtype=np.float64) - margin) / (HALF_PI - margin), 0.0, 1.0)
    return v**kappa


def polar_angle_quantile(u, kappa, margin):
    """Inverse of :func:`polar_angle_cdf` on [0, 1]."""
    return margin + (HALF_PI - margin) * np.asarray(u, dtype=np.float64) ** (1.0 / kappa)


def isotropic_angle_cdf(theta, d):
    """``p(θ)`` for an isotropic law in R^d: ``cos²∠(x, w*) ~ Beta(1/2, (d-1)/2)``, so
    ``P(ᾱ <= θ) = P(|cos∠| <= sin θ) = I_{sin²θ}(1/2, (d-1)/2)``."""
    theta = np.clip(np.asarray(theta, dtype=np.float64), 0.0, HALF_PI)
    if d == 1:
        return np.where(theta >= HALF_PI, 1.0, 0.0)
    return betainc(0.5, 0.5 * (d - 1), np.sin(theta) ** 2)


def isotropic_angle_quantile(u, d):
    """Inverse of :func:`isotropic_angle_cdf` (``d >= 2``)."""
    return np.arcsin(np.sqrt(betaincinv(0.5, 0.5 * (d - 1), np.asarray(u, dtype=np.float64))))


# -------------------------------------------------------------------- exact risk, axial laws

# Tanh-sinh (double-exponential) nodes on (0, 1): exact to ~1e-12 even with the integrable
# endpoint singularities that appear here (u^{1/κ} at 0, (1 + t)^{(d-2)/2} at the other end).
_TS_STEP = 1.0 / 16.0
_TS_K = np.arange(-72, 73) * _TS_STEP
_TS_S = HALF_PI * np.sinh(_TS_K)
_TS_Y = expit(2.0 * _TS_S)
_TS_W = _TS_STEP * HALF_PI * np.cosh(_TS_K) * 2.0 * expit(2.0 * _TS_S) * expit(-2.0 * _TS_S)


def _coordinate_cdf(t, d):
    """CDF of ``t = vᵀu`` for ``u`` uniform on the unit sphere of a (d-1)-dimensional space.

    ``(1 + t)/2 ~ Beta((d-2)/2, (d-2)/2)`` for ``d >= 3``; for ``d = 2`` the sphere is {±1}.
    """
    t = np.asarray(t, dtype=np.float64)
    if d == 2:
        return 0.5 * (t >= -1.0) + 0.5 * (t >= 1.0)
    a = 0.5 * (d - 2)
    return betainc(a, a, np.clip(0.5 * (1.0 + t), 0.0, 1.0))


def axial_risk(phi, cdf, quantile, d):
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
    flip = phi > HALF_PI
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


def axial_risk_quad(phi, cdf, quantile, d):
    """Adaptive-quadrature version of :func:`axial_risk` for one angle (slow reference)."""
    phi = float(phi)
    if phi > HALF_PI:
        return 1.0 - axial_risk_quad(np.pi - phi, cdf, quantile, d)
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


def bound_minimum(p, n, grid_size=2049, zoom_rounds=12, zoom_size=65):
    """``min_β [p(β) + p(π/2 - β)^n]`` over β in [0, π/2] and the minimizing β.

    Every β gives a valid bound, so an approximate minimizer can only be conservative. A grid
    search is refined by zooming into the cell around the best point (``zoom_rounds`` grids of
    ``zoom_size`` points): unlike parabolic steps this converges at the kinks a margin puts in
    ``p`` (e.g. at β = m, where the minimum often sits).
    """
    try:
        probe = np.asarray(p(np.linspace(0.0, HALF_PI, 3)), dtype=np.float64)
        vectorized = probe.shape == (3,)
    except (TypeError, ValueError):
        # a callable written for one float at a time
        vectorized = False

    def evaluate(beta):
        if vectorized:
            lo = np.asarray(p(beta), dtype=np.float64)
            hi = np.asarray(p(HALF_PI - beta), dtype=np.float64)
        else:
            lo = np.array([float(p(b)) for b in beta])
            hi = np.array([float(p(HALF_PI - b)) for b in beta])
        return lo, hi

    beta = np.linspace(0.0, HALF_PI, grid_size)
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


# ------------------------------------------------------------------- the hard-label student


def max_margin(Z):
    """Hard-margin direction without intercept: ``argmin ‖w‖`` subject to ``Z w >= 1``.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        Rows ``y_i x_i`` (labels already folded in).

    Returns
    -------
    w : ndarray of shape (d,) or None
        The minimum-norm solution, None if the constraints are infeasible (not separable).

    Notes
    -----
    Least-distance programming by non-negative least squares (Lawson & Hanson, *Solving Least
    Squares Problems*, ch. 23): with ``E = [Zᵀ; 1ᵀ]`` and ``f = e_{d+1}``, solve
    ``min_{u >= 0} ‖E u - f‖``; if the residual ``r`` is non-zero, ``w = -r[:d] / r[d]``. It is a
    finite active-set method, so the direction is exact up to round-off, unlike running the
    hard-label cross-entropy for ever.
    """
    n, d = Z.shape
    E = np.vstack([Z.T, np.ones((1, n))])
    f = np.zeros(d + 1)
    f[d] = 1.0
    u, _ = scipy.optimize.nnls(E, f, maxiter=50 * (n + d + 1))
    r = E @ u - f
    # r[d] = Σu - 1 is -1 at u = 0 and reaches 0 only when the constraints are infeasible.
    if -r[d] <= 1e-10:
        return None
    return -r[:d] / r[d]
