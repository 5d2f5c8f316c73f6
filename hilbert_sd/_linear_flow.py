"""Private numerics of :mod:`hilbert_sd.linear`: cross-entropy, span projection, the flows.

Everything here takes validated float64 arrays; the public functions in
:mod:`hilbert_sd.linear` check their inputs once and call these.
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.integrate import BDF
from scipy.special import expit

__all__ = [
    "FlowReport",
    "balanced_factors",
    "cross_entropy",
    "deep_limit",
    "integrate_flow",
    "row_space_basis",
]


# --------------------------------------------------------------------------- cross-entropy


def cross_entropy(z, s):
    """Mean soft-label cross-entropy ``mean(log(1 + e^z) - s z)`` at logits ``z``.

    ``np.logaddexp(0, z)`` is ``log1p(exp(z))`` without overflow for large ``z``.
    """
    return float(np.mean(np.logaddexp(0.0, z) - s * z))


def _sigmoid_slope(z):
    # σ'(z) = σ(z) σ(-z): the product form keeps full relative precision in both tails,
    # where σ(z)(1 - σ(z)) would cancel to 0 for large z.
    return expit(z) * expit(-z)


def loss_gradient(w, X, s):
    """Gradient ``(1/n) Xᵀ(σ(Xw) - s)`` of the mean cross-entropy (it lies in the row space)."""
    return X.T @ (expit(X @ w) - s) / X.shape[0]


def loss_hessian(w, X):
    """Hessian ``(1/n) Xᵀ diag(σ'(Xw)) X`` of the mean cross-entropy."""
    D = _sigmoid_slope(X @ w)
    return (X.T * D) @ X / X.shape[0]


# ------------------------------------------------------------------------------ the span


def row_space_basis(X):
    """Orthonormal basis of the span of the rows of ``X`` (the training inputs), by pivoted QR.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    Q : ndarray of shape (n_features, rank)
        Orthonormal columns spanning ``row(X)``; ``Q @ (Q.T @ v)`` is the projection ``P_X v``.

    Notes
    -----
    The rank is the number of diagonal entries of ``R`` above ``max(n, d) · eps · |R_00|``
    (the usual LAPACK-scale round-off threshold). No Gram matrix ``XXᵀ`` is formed, so the
    projection keeps the accuracy of ``X`` itself rather than of its square.
    """
    n, d = X.shape
    Q, R, _ = scipy.linalg.qr(X.T, mode="economic", pivoting=True)
    diag = np.abs(np.diag(R))
    if diag.size == 0 or diag[0] == 0.0:
        return np.zeros((d, 0))
    tol = max(n, d) * np.finfo(np.float64).eps * diag[0]
    rank = int(np.count_nonzero(diag > tol))
    return Q[:, :rank]


def project(Q, v):
    """``P_X v`` for the basis ``Q`` of :func:`row_space_basis`."""
    return Q @ (Q.T @ v)


# ------------------------------------------------------------------------ deep students


def balanced_factors(w0, depth):
    """Balanced factorization of ``w0`` into ``depth`` layers of hidden width 1.

    Returns the parameter vector ``theta = (u, c_2, ..., c_N)`` with end-to-end weights
    ``w = c_2 ⋯ c_N · u``, ``u = ‖w0‖^{1/N} ŵ0`` and every ``c_j = ‖w0‖^{1/N}``: each layer has
    the same norm, which is the balance condition ``W_{j+1}ᵀW_{j+1} = W_j W_jᵀ``.

    Notes
    -----
    A balanced initialization of a network with a scalar output has rank-one layers (the
    balance condition propagates the rank of the last row vector down the chain) and the flow
    conserves ``W_{j+1}ᵀW_{j+1} - W_j W_jᵀ``, so a width-1 chain reproduces the end-to-end
    dynamics of any width exactly [derived].
    """
    norm = float(np.linalg.norm(w0))
    r = norm ** (1.0 / depth)
    u = w0 / norm * r
    return np.concatenate([u, np.full(depth - 1, r)])


def _products_excluding_one(c):
    """``P_j = prod_{k != j} c_k`` by prefix and suffix products (no division by ``c_j``)."""
    m = c.size
    prefix = np.ones(m)
    suffix = np.ones(m)
    if m > 1:
        prefix[1:] = np.cumprod(c[:-1])
        suffix[:-1] = np.cumprod(c[::-1][:-1])[::-1]
    return prefix * suffix


def _products_excluding_two(c):
    m = c.size
    out = np.zeros((m, m))
    for j in range(m):
        for k in range(j + 1, m):
            out[j, k] = out[k, j] = np.prod(np.delete(c, [j, k]))
    return out


def end_to_end(theta, d):
    """End-to-end weights ``w = (c_2 ⋯ c_N) u`` of the width-1 chain."""
    return np.prod(theta[d:]) * theta[:d]


def _deep_gradient(theta, X, s, d):
    u, c = theta[:d], theta[d:]
    P_excl = _products_excluding_one(c)
    P = np.prod(c)
    g = loss_gradient(P * u, X, s)
    return np.concatenate([P * g, P_excl * (u @ g)]), g


def _deep_hessian(theta, X, s, d):
    # Hessian of F(θ) = L(w(θ)) with w = P u:  J_wᵀ H J_w  +  Σ_i g_i ∂²w_i/∂θ².
    u, c = theta[:d], theta[d:]
    m = c.size
    P = np.prod(c)
    P_excl = _products_excluding_one(c)
    w = P * u
    g = loss_gradient(w, X, s)
    H = loss_hessian(w, X)
    Hu = H @ u
    J = np.empty((d + m, d + m))
    J[:d, :d] = (P * P) * H
    cross = np.outer(g, P_excl) + P * np.outer(Hu, P_excl)
    J[:d, d:] = cross
    J[d:, :d] = cross.T
    J[d:, d:] = _products_excluding_two(c) * (u @ g) + np.outer(P_excl, P_excl) * (u @ Hu)
    return J


def deep_limit(a, b0, w0_norm, depth):
    """Limit of the balanced deep linear flow: ``a + ρ b0`` (theory.md §4, scale derived here).

    Parameters
    ----------
    a : ndarray of shape (d,)
        The span component every minimizer shares, ``P_X w*/τ``.
    b0 : ndarray of shape (d,)
        The component of the initial vector outside the span.
    w0_norm : float
        ``‖w0‖`` (non-zero).
    depth : int

    Returns
    -------
    w : ndarray of shape (d,)

    Notes
    -----
    In the width-1 chain ``w = P u`` with ``P = c_2 ⋯ c_N``, the flow moves ``u`` only inside the
    span (the gradient ``P ∇L`` lies there), so the outside part ``b = P u_⊥`` is rescaled by
    ``P(t)/P(0)``; balance keeps ``c_j² = ‖u‖²``, hence ``P = r^{N-1}`` with ``r² = ‖u‖²``. At the
    limit ``r^{2N} = ‖a‖² + (r/r_0)^{2(N-1)} ‖b0‖²``, i.e. ``x = r²`` is the unique positive root of
    ``x^{N-1} (x - β) = ‖a‖²`` with ``β = ‖b0‖² / r_0^{2(N-1)}``, bracketed by
    ``[β, β + ‖a‖^{2/N}]``. Then ``ρ = (x / r_0²)^{(N-1)/2}``.
    """
    if depth == 1:
        return a + b0
    A2 = float(a @ a)
    r0_sq = w0_norm ** (2.0 / depth)
    beta = float(b0 @ b0) / r0_sq ** (depth - 1)
    if A2 == 0.0:
        x = beta
    else:
        def f(x):
            return x ** (depth - 1) * (x - beta) - A2

        lo, hi = beta, beta + A2 ** (1.0 / depth)
        # f(hi) >= 0 in exact arithmetic (equality iff β = 0); widen past round-off.
        while f(hi) < 0.0:
            hi *= 1.0 + 1e-12
        x = hi if f(hi) == 0.0 else scipy.optimize.brentq(
            f, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps
        )
    rho = (x / r0_sq) ** ((depth - 1) / 2.0)
    return a + rho * b0


# ------------------------------------------------------------------------------ the flow


@dataclass
class FlowReport:
    """How a distillation run ended.

    Attributes
    ----------
    method : str
        ``"closed_form"`` or ``"gradient_flow"``.
    converged : bool
        Whether ``‖∇L(w)‖ <= tol`` was reached (always True for the closed form, whose
        ``grad_norm`` is reported for information).
    grad_norm : float
        ``‖∇L(w)‖`` of the mean cross-entropy at the returned end-to-end weights.
    tol : float
        The gradient-norm tolerance that was asked for.
    time : float
        Flow time reached (``inf`` for the closed form).
    n_steps : int
        Accepted steps of the stiff solver (0 for the closed form).
    n_fev, n_jev : int
        Vector-field and Jacobian evaluations.
    message : str
    params : ndarray
        Final parameters: ``w`` for depth 1, ``(u, c_2, ..., c_N)`` of the width-1 chain for deep
        students.
    """

    method: str
    converged: bool
    grad_norm: float
    tol: float
    time: float = np.inf
    n_steps: int = 0
    n_fev: int = 0
    n_jev: int = 0
    message: str = ""
    params: np.ndarray = field(default=None, repr=False)


def integrate_flow(X, s, theta0, depth, *, t_max, tol, rtol, atol, max_steps):
    """Integrate the gradient flow of the mean cross-entropy with scipy's BDF solver.

    The solver is stepped by hand so that the stopping test ``‖∇L(w)‖ <= tol`` is made on
    integrated points, not on the dense-output interpolant.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    s : ndarray of shape (n,)
        Soft labels.
    theta0 : ndarray
        ``w0`` (depth 1) or the balanced chain parameters (deep).
    depth : int
    t_max, tol, rtol, atol : float
    max_steps : int

    Returns
    -------
    w : ndarray of shape (d,)
    report : FlowReport
    """
    d = X.shape[1]
    if depth == 1:
        def fun(t, w):
            return -loss_gradient(w, X, s)

        def jac(t, w):
            return -loss_hessian(w, X)

        def e2e_grad(theta):
            return loss_gradient(theta, X, s)

        def e2e(theta):
            return theta
    else:
        def fun(t, theta):
            return -_deep_gradient(theta, X, s, d)[0]

        def jac(t, theta):
            return -_deep_hessian(theta, X, s, d)

        def e2e_grad(theta):
            return _deep_gradient(theta, X, s, d)[1]

        def e2e(theta):
            return end_to_end(theta, d)

    theta = np.array(theta0, dtype=np.float64)
    gnorm = float(np.linalg.norm(e2e_grad(theta)))
    if gnorm <= tol:
        return e2e(theta), FlowReport("gradient_flow", True, gnorm, tol, 0.0, 0, 0, 0,
                                      "tolerance met at the initial vector", theta)
    solver = BDF(fun, 0.0, theta, t_max, jac=jac, rtol=rtol, atol=atol)
    steps = 0
    converged = False
    message = f"reached t_max={t_max:g}"
    while solver.status == "running":
        if steps >= max_steps:
            message = f"stopped after max_steps={max_steps} solver steps at t={solver.t:.3g}"
            break
        err = solver.step()
        steps += 1
        if err is not None:
            message = f"the stiff solver failed at t={solver.t:.3g}: {err}"
            break
        gnorm = float(np.linalg.norm(e2e_grad(solver.y)))
        if gnorm <= tol:
            converged = True
            message = f"gradient norm {gnorm:.3g} <= tol={tol:g} at t={solver.t:.3g}"
            break
    theta = solver.y.copy()
    report = FlowReport("gradient_flow", converged, gnorm, tol, float(solver.t), steps,
                        solver.nfev, solver.njev, message, theta)
    return e2e(theta), report
