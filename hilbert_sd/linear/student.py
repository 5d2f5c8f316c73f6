"""Distilling a linear teacher into linear and deep linear students (:doc:`/topics/linear_teacher`).

The student follows the gradient flow of the mean cross-entropy ``L`` to the teacher's
probabilities (:mod:`hilbert_sd.linear.teacher`) from ``w_init``.

- :func:`distill`: where the flow ends, in closed form (projection onto the span of the
  training inputs, and the rescaling of the rest for balanced deep students), or the flow itself,
  integrated by a stiff ODE solver.
- :class:`FlowReport`: how a run ended; :class:`FlowConvergenceWarning`: the flow stopped short
  of the gradient-norm tolerance.

Facts the closed form rests on: ``∇L(w)`` lies in the row space of ``X``, so the flow ends at
``P_X w*/τ + (I - P_X) w_init`` [paper, derived], the teacher itself once the inputs span
``R^d`` [paper]; a balanced deep student keeps that span component and rescales the rest
[derived]. A balanced width-1 chain reproduces the end-to-end dynamics of any width [derived].

The private helpers take validated float64 arrays: the span (pivoted QR, no Gram matrix), the
balanced factorization and its limit, and the stepped BDF integration. ``_row_space_basis`` is
also used by :class:`hilbert_sd.estimators.linear.SoftLabelLogisticRegression`.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.optimize
from scipy.integrate import BDF
from scipy.special import expit

from hilbert_sd._validation import check_scalar
from hilbert_sd.linear._checks import check_design, check_vector
from hilbert_sd.linear.teacher import _loss_gradient, _loss_hessian

__all__ = ["FlowConvergenceWarning", "FlowReport", "distill"]

_METHODS = ("closed_form", "gradient_flow")


class FlowConvergenceWarning(UserWarning):
    """The gradient flow did not reach the requested gradient-norm tolerance.

    The message names the gradient norm that was achieved; the returned weights are those of the
    last integrated point.
    """


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


def distill(X, w_teacher, *, depth=1, temperature=1.0, w_init=None, method="closed_form",
            t_max=None, tol=1e-10, rtol=1e-10, atol=1e-12, max_steps=100_000,
            return_report=False):
    """Distil a linear teacher into a linear or deep linear student trained by gradient flow.

    The student minimizes the mean cross-entropy to the teacher's soft labels
    ``s_i = σ(w*ᵀx_i / τ)`` by gradient flow from ``w_init``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training inputs (one per row).
    w_teacher : array-like of shape (n_features,)
        Teacher weights ``w*``.
    depth : int, default=1
        Number of linear layers ``N`` of the student ``W_N ⋯ W_1 x``; only the end-to-end vector
        is returned. For ``depth >= 2`` the layers start balanced (equal norms, rank one) with
        product ``w_init``.
    temperature : float, default=1.0
        τ > 0.
    w_init : array-like of shape (n_features,), default=None
        Initial end-to-end weights; None means the zero vector, which is allowed only for
        ``depth=1`` (for deep students 0 is a saddle of the flow and is refused).
    method : {"closed_form", "gradient_flow"}, default="closed_form"
        ``"closed_form"``: the limit of the flow, by projection onto the span of the inputs
        (pivoted QR; no inverse of ``XXᵀ``). ``"gradient_flow"``: integrate the flow with
        scipy's stiff BDF solver and analytic Jacobian until ``‖∇L(w)‖ <= tol`` or ``t_max``.
    t_max : float, default=None
        Flow time limit (``method="gradient_flow"`` only); None means 1e12.
    tol : float, default=1e-10
        Gradient-norm tolerance ``‖∇L(w)‖`` that ends the flow (``∇L`` with respect to the
        end-to-end weights, so that a deep student stalled near the saddle at 0 is not reported
        as converged). The distance to the limit is at most ``tol / λ_min``, ``λ_min`` the
        smallest non-zero eigenvalue of the Hessian on the span.
    rtol, atol : float, default=1e-10, 1e-12
        Local error tolerances of the ODE solver (they matter for deep students, whose limit
        depends on the balance the flow conserves).
    max_steps : int, default=100000
        Maximal number of solver steps.
    return_report : bool, default=False
        Also return a :class:`FlowReport` (convergence, gradient norm, time, solver counts).

    Returns
    -------
    w : ndarray of shape (n_features,)
        Student end-to-end weights.
    report : FlowReport
        Only when ``return_report=True``.

    Raises
    ------
    ValueError
        Empty, complex or non-finite inputs (the error names the dtype of complex ones),
        mismatched shapes, a non-positive temperature, an unknown method, a zero initialization
        for ``depth >= 2``.

    Warns
    -----
    FlowConvergenceWarning
        When the flow stops (``t_max``, ``max_steps`` or a solver failure) with
        ``‖∇L(w)‖ > tol``; the message names the achieved gradient norm.

    Notes
    -----
    ``∇L(w) = (1/n) Xᵀ(σ(Xw) - s)`` lies in the row space of ``X`` and the minimizers of ``L`` are
    ``{w : Xw = Xw*/τ}`` [derived]. The flow therefore ends at
    ``P_X w*/τ + (I - P_X) w_init`` [paper, derived]: the teacher itself (``w*/τ``) once the inputs
    span ``R^d`` [paper]. A balanced deep student ends with the same span component, and the part
    of ``w_init`` outside the span rescaled by ``ρ = (x / r_0²)^{(N-1)/2}``, with ``x`` the positive
    root of ``x^{N-1}(x - β) = ‖P_X w*/τ‖²``, ``β = ‖(I - P_X) w_init‖² / r_0^{2(N-1)}`` and
    ``r_0 = ‖w_init‖^{1/N}`` [derived]. The closed form assumes the flow reaches the minimizer set;
    a deep flow aimed straight at the saddle (e.g. ``w_init = -c w*`` in one dimension) does not,
    and ``method="gradient_flow"`` then reports non-convergence.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.linear import distill
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((8, 3))
    >>> w_star = np.array([1.0, -0.5, 0.25])
    >>> np.allclose(distill(X, w_star), w_star)
    True
    """
    X = check_design(X)
    n, d = X.shape
    w_teacher = check_vector(w_teacher, d, "w_teacher")
    depth = check_scalar(depth, "depth", low=1, integer=True)
    temperature = check_scalar(temperature, "temperature", low=0.0, low_inclusive=False)
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not one of {_METHODS}")
    if w_init is None:
        w0 = np.zeros(d)
    else:
        w0 = check_vector(w_init, d, "w_init")
    if depth >= 2 and not np.any(w0):
        raise ValueError(
            f"depth={depth} needs a non-zero w_init: the zero initialization of a deep linear "
            "student is a saddle point of the gradient flow (all layer gradients vanish there)"
        )
    tol = check_scalar(tol, "tol", low=0.0)
    if method == "closed_form" and t_max is not None:
        raise ValueError("t_max applies to method='gradient_flow' only")
    target = w_teacher / temperature
    s = expit(X @ target)

    if method == "closed_form":
        Q = _row_space_basis(X)
        a = _project(Q, target)
        b0 = w0 - _project(Q, w0)
        w = _deep_limit(a, b0, float(np.linalg.norm(w0)), depth)
        if not return_report:
            return w
        gnorm = float(np.linalg.norm(_loss_gradient(w, X, s)))
        return w, FlowReport("closed_form", True, gnorm, tol, message="exact limit",
                             params=w.copy())

    t_max = 1e12 if t_max is None else check_scalar(t_max, "t_max", low=0.0, low_inclusive=False)
    rtol = check_scalar(rtol, "rtol", low=0.0, low_inclusive=False)
    atol = check_scalar(atol, "atol", low=0.0, low_inclusive=False)
    max_steps = check_scalar(max_steps, "max_steps", low=1, integer=True)
    theta0 = w0 if depth == 1 else _balanced_factors(w0, depth)
    w, report = _integrate_flow(X, s, theta0, depth, t_max=t_max, tol=tol, rtol=rtol, atol=atol,
                               max_steps=max_steps)
    if not report.converged:
        warnings.warn(
            f"gradient flow did not reach tol={tol:g}: achieved gradient norm "
            f"{report.grad_norm:.3g} ({report.message})",
            FlowConvergenceWarning,
            stacklevel=2,
        )
    return (w, report) if return_report else w


# ------------------------------------------------------------------------------ the span


def _row_space_basis(X):
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


def _project(Q, v):
    """``P_X v`` for the basis ``Q`` of :func:`_row_space_basis`."""
    return Q @ (Q.T @ v)


# ------------------------------------------------------------------------ deep students


def _balanced_factors(w0, depth):
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


def _end_to_end(theta, d):
    """End-to-end weights ``w = (c_2 ⋯ c_N) u`` of the width-1 chain."""
    return np.prod(theta[d:]) * theta[:d]


def _deep_gradient(theta, X, s, d):
    u, c = theta[:d], theta[d:]
    P_excl = _products_excluding_one(c)
    P = np.prod(c)
    g = _loss_gradient(P * u, X, s)
    return np.concatenate([P * g, P_excl * (u @ g)]), g


def _deep_hessian(theta, X, s, d):
    # Hessian of F(θ) = L(w(θ)) with w = P u:  J_wᵀ H J_w  +  Σ_i g_i ∂²w_i/∂θ².
    u, c = theta[:d], theta[d:]
    m = c.size
    P = np.prod(c)
    P_excl = _products_excluding_one(c)
    w = P * u
    g = _loss_gradient(w, X, s)
    H = _loss_hessian(w, X)
    Hu = H @ u
    J = np.empty((d + m, d + m))
    J[:d, :d] = (P * P) * H
    cross = np.outer(g, P_excl) + P * np.outer(Hu, P_excl)
    J[:d, d:] = cross
    J[d:, :d] = cross.T
    J[d:, d:] = _products_excluding_two(c) * (u @ g) + np.outer(P_excl, P_excl) * (u @ Hu)
    return J


def _deep_limit(a, b0, w0_norm, depth):
    """Limit of the balanced deep linear flow: ``a + ρ b0`` (:doc:`/topics/linear_teacher`, scale
    derived here).

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


def _integrate_flow(X, s, theta0, depth, *, t_max, tol, rtol, atol, max_steps):
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
            return -_loss_gradient(w, X, s)

        def jac(t, w):
            return -_loss_hessian(w, X)

        def e2e_grad(theta):
            return _loss_gradient(theta, X, s)

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
            return _end_to_end(theta, d)

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
