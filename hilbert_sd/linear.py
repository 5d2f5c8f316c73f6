"""Distillation from a linear teacher into linear and deep linear students (theory.md §4).

The teacher ``w*`` labels inputs softly, ``s_i = σ(w*ᵀx_i / τ)``; the student follows the gradient
flow of the mean cross-entropy ``L(w) = (1/n) Σ [log(1 + e^{wᵀx_i}) - s_i wᵀx_i]``.

- :func:`distill`: where the flow ends (closed form, by projecting onto the span of the data) or
  the flow itself (a stiff ODE solver), for linear and balanced deep linear students.
- :func:`transfer_risk`, :func:`expected_isotropic_risk`, :func:`polar_transfer_risk`: how
  often the student disagrees with the teacher on new inputs.
- :func:`polar_sample`, :func:`risk_bound`: data laws indexed by how much mass sits near the
  teacher's decision boundary, and the bound ``min_β [p(β) + p(π/2 - β)^n]`` on the expected risk.
- :func:`max_margin_direction`, :func:`hard_label_student`: the hard-label baseline.

The scikit-learn estimator that distils any teacher's probabilities into a linear student is
:class:`hilbert_sd.linear_student.SoftLabelLogisticRegression`.
"""

import warnings

import numpy as np
from scipy.special import betainc, expit

from hilbert_sd._linear_flow import (
    FlowReport,
    balanced_factors,
    cross_entropy,
    deep_limit,
    integrate_flow,
    loss_gradient,
    project,
    row_space_basis,
)
from hilbert_sd._linear_risk import (
    HALF_PI,
    angle,
    axial_risk,
    bound_minimum,
    isotropic_angle_cdf,
    isotropic_angle_quantile,
    max_margin,
    polar_angle_cdf,
    polar_angle_quantile,
)
from hilbert_sd._validation import as_float_array, check_scalar

__all__ = [
    "FlowConvergenceWarning",
    "FlowReport",
    "angle_to_teacher",
    "distill",
    "expected_isotropic_risk",
    "hard_label_student",
    "isotropic_angle_cdf",
    "loss",
    "max_margin_direction",
    "polar_angle_cdf",
    "polar_sample",
    "polar_transfer_risk",
    "risk_bound",
    "soft_labels",
    "transfer_risk",
]

_METHODS = ("closed_form", "gradient_flow")


class FlowConvergenceWarning(UserWarning):
    """The gradient flow did not reach the requested gradient-norm tolerance.

    The message names the gradient norm that was achieved; the returned weights are those of the
    last integrated point.
    """


# ------------------------------------------------------------------------------ validation


def _check_design(X, name="X"):
    X = as_float_array(X, name, ndim=2, allow_empty=True)
    n, d = X.shape
    if n == 0:
        raise ValueError(f"{name} has no samples (shape {X.shape}); n_samples must be >= 1")
    if d == 0:
        raise ValueError(f"{name} has no features (shape {X.shape}); n_features must be >= 1")
    return X


def _check_vector(w, d, name, *, nonzero=False):
    w = as_float_array(w, name, ndim=1)
    if w.shape[0] != d:
        raise ValueError(f"{name} has {w.shape[0]} entries but the inputs have {d} features; "
                         "they must match")
    if nonzero and not np.any(w):
        raise ValueError(f"{name} is the zero vector; a non-zero vector is required")
    return w


def _check_kappa_margin(kappa, margin):
    kappa = 1.0 if kappa is None else check_scalar(kappa, "kappa", low=0.0, low_inclusive=False)
    margin = 0.0 if margin is None else check_scalar(
        margin, "margin", low=0.0, high=HALF_PI, high_inclusive=False
    )
    return kappa, margin


def soft_labels(X, w_teacher, temperature=1.0):
    """Teacher probabilities ``s_i = σ(w*ᵀx_i / τ)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    w_teacher : array-like of shape (n_features,)
    temperature : float, default=1.0
        τ > 0. Dividing the logits by τ is the same as scaling the teacher by 1/τ.

    Returns
    -------
    s : ndarray of shape (n_samples,)
    """
    X = _check_design(X)
    w_teacher = _check_vector(w_teacher, X.shape[1], "w_teacher")
    temperature = check_scalar(temperature, "temperature", low=0.0, low_inclusive=False)
    return expit(X @ w_teacher / temperature)


# ------------------------------------------------------------------------------- distill


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
        Empty or non-finite inputs, mismatched shapes, a non-positive temperature, an unknown
        method, a zero initialization for ``depth >= 2``.

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
    X = _check_design(X)
    n, d = X.shape
    w_teacher = _check_vector(w_teacher, d, "w_teacher")
    depth = check_scalar(depth, "depth", low=1, integer=True)
    temperature = check_scalar(temperature, "temperature", low=0.0, low_inclusive=False)
    if method not in _METHODS:
        raise ValueError(f"method={method!r} is not one of {_METHODS}")
    if w_init is None:
        w0 = np.zeros(d)
    else:
        w0 = _check_vector(w_init, d, "w_init")
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
        Q = row_space_basis(X)
        a = project(Q, target)
        b0 = w0 - project(Q, w0)
        w = deep_limit(a, b0, float(np.linalg.norm(w0)), depth)
        if not return_report:
            return w
        gnorm = float(np.linalg.norm(loss_gradient(w, X, s)))
        return w, FlowReport("closed_form", True, gnorm, tol, message="exact limit",
                             params=w.copy())

    t_max = 1e12 if t_max is None else check_scalar(t_max, "t_max", low=0.0, low_inclusive=False)
    rtol = check_scalar(rtol, "rtol", low=0.0, low_inclusive=False)
    atol = check_scalar(atol, "atol", low=0.0, low_inclusive=False)
    max_steps = check_scalar(max_steps, "max_steps", low=1, integer=True)
    theta0 = w0 if depth == 1 else balanced_factors(w0, depth)
    w, report = integrate_flow(X, s, theta0, depth, t_max=t_max, tol=tol, rtol=rtol, atol=atol,
                               max_steps=max_steps)
    if not report.converged:
        warnings.warn(
            f"gradient flow did not reach tol={tol:g}: achieved gradient norm "
            f"{report.grad_norm:.3g} ({report.message})",
            FlowConvergenceWarning,
            stacklevel=2,
        )
    return (w, report) if return_report else w


def loss(w, X, w_teacher, temperature=1.0):
    """Mean cross-entropy ``L(w)`` of a student to the teacher's soft labels (log1p-safe).

    Parameters
    ----------
    w : array-like of shape (n_features,)
    X : array-like of shape (n_samples, n_features)
    w_teacher : array-like of shape (n_features,)
    temperature : float, default=1.0

    Returns
    -------
    float
    """
    X = _check_design(X)
    w = _check_vector(w, X.shape[1], "w")
    return cross_entropy(X @ w, soft_labels(X, w_teacher, temperature))


# ---------------------------------------------------------------------------------- risks


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
    w_teacher = _check_vector(w_teacher, d, "w_teacher", nonzero=True)
    if np.any(~np.any(w, axis=-1)):
        raise ValueError("w contains a zero vector; its angle to the teacher is undefined")
    out = angle(w, w_teacher)
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
    w = _check_vector(w, d, "w")
    if not np.any(w_teacher):
        raise ValueError("w_teacher is the zero vector; it labels nothing")
    if X is None:
        if not np.any(w):
            raise ValueError("w is the zero vector; its angle to the teacher is undefined")
        risk, se = float(angle(w, w_teacher)) / np.pi, 0.0
    else:
        X = _check_design(X)
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
    import scipy.integrate

    n = check_scalar(n, "n", low=1, integer=True)
    d = check_scalar(d, "d", low=1, integer=True)
    if n >= d:
        return 0.0
    a, b = 0.5 * n, 0.5 * (d - n)
    val, _ = scipy.integrate.quad(lambda t: betainc(a, b, np.cos(t) ** 2), 0.0, HALF_PI,
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
    w_teacher = _check_vector(w_teacher, d, "w_teacher", nonzero=True)
    if d < 2:
        raise ValueError(f"polar laws need n_features >= 2; got {d}")
    if np.any(~np.any(w, axis=-1)):
        raise ValueError("w contains a zero vector; its angle to the teacher is undefined")
    cdf, quantile = _law(law, d, kappa, margin)
    risk = axial_risk(np.atleast_1d(angle(w, w_teacher)), cdf, quantile, d)
    return float(risk[0]) if w.ndim == 1 else risk


def _law(law, d, kappa, margin):
    if law == "polar":
        kappa, margin = _check_kappa_margin(kappa, margin)
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
    out = [bound_minimum(p, k) for k in ns]
    bounds = np.array([b for b, _ in out]).reshape(n_arr.shape)
    betas = np.array([b for _, b in out]).reshape(n_arr.shape)
    if scalar:
        bounds, betas = float(bounds), float(betas)
    return (bounds, betas) if return_beta else bounds


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
    sphere of ``w*^⊥`` (theory.md §4).
    """
    n = check_scalar(n, "n", low=1, integer=True)
    w_teacher = as_float_array(w_teacher, "w_teacher", ndim=1)
    d = w_teacher.shape[0]
    if d < 2:
        raise ValueError(f"w_teacher must have n_features >= 2 for a polar law; got {d}")
    if not np.any(w_teacher):
        raise ValueError("w_teacher is the zero vector; it defines no axis")
    kappa, margin = _check_kappa_margin(kappa, margin)
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


# --------------------------------------------------------------------- hard-label baseline


def max_margin_direction(X, y):
    """Unit direction of the hard-margin linear separator without intercept.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels in {-1, +1}.

    Returns
    -------
    w : ndarray of shape (n_features,)
        ``argmin ‖w‖ s.t. y_i xᵢᵀw >= 1``, normalized to unit length: the direction to which
        gradient descent on the hard-label cross-entropy converges on separable data.

    Raises
    ------
    ValueError
        When the data are not linearly separable through the origin.

    Notes
    -----
    Least-distance programming via non-negative least squares (Lawson & Hanson, ch. 23), a
    finite active-set method: no cross-entropy is run "for ever".
    """
    X = _check_design(X)
    y = as_float_array(y, "y", ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows; they must match")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("y must contain labels -1 and +1 only")
    w = max_margin(X * y[:, None])
    if w is None:
        raise ValueError("the data are not linearly separable through the origin; "
                         "the hard-margin problem has no solution")
    return w / np.linalg.norm(w)


def hard_label_student(X, w_teacher):
    """Hard-label baseline: the max-margin direction for the labels ``sign(w*ᵀx)``.

    Inputs exactly on the teacher's boundary (label 0) carry no label and are dropped.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    w_teacher : array-like of shape (n_features,)

    Returns
    -------
    w : ndarray of shape (n_features,)
        Unit vector. The cross-entropy on hard labels has no finite minimizer on separable data;
        gradient descent's direction tends to this one [derived]. Unlike the distilled student it
        generally differs from the teacher even when ``rank X = d``.
    """
    X = _check_design(X)
    w_teacher = _check_vector(w_teacher, X.shape[1], "w_teacher", nonzero=True)
    y = np.sign(X @ w_teacher)
    keep = y != 0
    if not np.any(keep):
        raise ValueError("every input lies on the teacher's decision boundary; no labels")
    return max_margin_direction(X[keep], y[keep])
