"""Spectral filters: the single home of every regularizer's formula.

With ``K = U diag(λ) Uᵀ`` (λ descending) and ``z = Uᵀ y``, every method this package
simulates fits ``f(X) = U diag(h) z`` for a *filter* ``h(λ)``, and predicts at new points with
the dual coefficients ``U diag(g) z``, ``g = h / λ`` (the *prediction filter*). ``g`` has a
finite limit as λ → 0 for every filter here; it is always evaluated in a stable form, never by
dividing by an eigenvalue.

The public functions take the eigenvalues (any order; the rows follow it) and the path's
parameters and return the filters ``h`` of shape (J, n), one row per point of the path:

- :func:`ridge`: ``s = λ/(λ + α_j)`` (kernel ridge regression);
- :func:`self_distillation`: ``h_0 = s_0``, ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)``; ξ ≡ 1 is
  the recursion of Mobahi, Farajtabar & Bartlett (2020), the filter form is derived;
- :func:`gradient_flow`: ``1 − exp(−η t_j λ / n)`` [derived];
- :func:`gradient_descent`: ``1 − (1 − η λ / n)^{t_j}`` [derived].

The private functions (leading underscore) are the kernels that the paths, estimators and
studies call after validating once: arrays in, arrays out, no checks inside.

Learning-rate conventions. Gradient flow and descent here follow neural-tangents' loss
``(1/2n)‖f(X) − y‖²``, so one step multiplies a residual direction by ``1 − (η/n) λ``; the
noisy-label study follows Dong et al.'s ``u ← u − η H (u − y)``, one step ``1 − η λ``. Both are
the one gradient-descent filter with a different *scale* (``η/n`` or ``η``):
:func:`step_scale` is the one place that converts.
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar

__all__ = [
    "gradient_descent",
    "gradient_flow",
    "max_stable_learning_rate",
    "ridge",
    "self_distillation",
    "step_scale",
]

# Below this argument the Taylor series of (1 − exp(−s))/s is used: the first omitted term is
# s⁵/720, below 2e-16 relative at 1e-3.
_SERIES_CUTOFF = 1e-3
# Below this |w| the power (1 − w)^t goes through log1p/expm1; above it 1 − w is exact enough.
_SMALL = 0.5

_CONVENTIONS = ("mean", "sum")


# ================================================================================== scales
def step_scale(learning_rate, n_samples, convention="mean"):
    """Per-unit-eigenvalue contraction of one gradient step: ``η/n`` or ``η``.

    Parameters
    ----------
    learning_rate : float
        η > 0.
    n_samples : int
        n.
    convention : {"mean", "sum"}, default="mean"
        ``"mean"``: the loss (1/2n)‖f(X) − y‖² (neural-tangents, :mod:`hilbert_sd.flow`),
        one step multiplies eigen-direction k of the residual by ``1 − η λ_k / n``.
        ``"sum"``: the update u ← u − η H (u − y) (Dong et al., :mod:`hilbert_sd.noisy_labels`),
        one step multiplies it by ``1 − η λ_k``.

    Returns
    -------
    float
        The scale ``c`` with ``x_k = c λ_k`` the per-step contraction rate.
    """
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention={convention!r}; allowed: 'mean', 'sum'")
    return learning_rate / n_samples if convention == "mean" else float(learning_rate)


def max_stable_learning_rate(lambda_max, n_samples=1, convention="mean"):
    """Largest learning rate (exclusive) at which gradient descent is stable.

    One step multiplies residual direction k by ``1 − c λ_k`` with ``c`` the
    :func:`step_scale`; the iteration converges iff ``|1 − c λ_k| < 1`` for every λ_k > 0,
    i.e. ``c λ_max < 2`` [derived]: η < 2n/λ_max (``"mean"``) or η < 2/λ_max (``"sum"``).

    Parameters
    ----------
    lambda_max : float
        Largest eigenvalue, ≥ 0.
    n_samples : int, default=1
    convention : {"mean", "sum"}, default="mean"

    Returns
    -------
    float
        ``inf`` when ``lambda_max`` is 0.
    """
    lam_max = check_scalar(lambda_max, "lambda_max", low=0.0)
    if lam_max == 0.0:
        return np.inf
    return 2.0 / (lam_max * step_scale(1.0, n_samples, convention))


# ============================================================================ private kernels
def _phi(s):
    """(1 − exp(−s)) / s for s ≥ 0 (1 at s = 0, 0 at s = inf), elementwise."""
    s = np.asarray(s, dtype=np.float64)
    out = np.empty_like(s)
    small = s < _SERIES_CUTOFF
    ss = s[small]
    out[small] = 1.0 + ss * (-1.0 / 2 + ss * (1.0 / 6 + ss * (-1.0 / 24 + ss * (1.0 / 120))))
    big = ~small
    sb = s[big]
    with np.errstate(invalid="ignore"):
        out[big] = np.where(np.isinf(sb), 0.0, -np.expm1(-sb) / np.where(np.isinf(sb), 1.0, sb))
    return out


def _power(w, t):
    """``(1 − w)**t`` elementwise for an integer step count ``t >= 0`` (or ``inf``).

    Accurate for small ``w`` (through ``exp(t log1p(−w))``); a negative base alternates in
    sign as it should. ``t = inf`` gives 0 where ``|1 − w| < 1``, 1 where ``w = 0``, ``inf``
    where ``|1 − w| > 1`` (divergence) and NaN on the circle ``w = 2`` (no limit).
    """
    w = np.asarray(w, dtype=np.float64)
    if np.isinf(t):
        base = np.abs(1.0 - w)
        out = np.where(base < 1.0, 0.0, np.inf)
        out = np.where(w == 0.0, 1.0, out)
        return np.where((base == 1.0) & (w != 0.0), np.nan, out)
    out = np.empty_like(w)
    small = np.abs(w) <= _SMALL
    with np.errstate(over="ignore", invalid="ignore"):
        out[small] = np.exp(t * np.log1p(-w[small]))
        # Integer-valued float exponents keep the sign of a negative base.
        out[~small] = np.power(1.0 - w[~small], float(t))
    return out


def _geometric_sum(w, t):
    """``S_t(w) = Σ_{s<t} (1 − w)^s = (1 − (1 − w)^t) / w`` with the limit ``t`` at w = 0.

    ``t = inf`` gives ``1/w`` for ``0 < w < 2``, ``inf`` at ``w = 0`` and NaN where the sum
    diverges or oscillates.
    """
    return _geometric_sums(w, np.array([t], dtype=np.float64))[0]


def _geometric_sums(w, times):
    """``S_t(w)`` for every ``t`` of ``times`` at once: shape (len(times), len(w)).

    Finite step counts are evaluated in one broadcast pass with ``expm1``/``log1p`` for small
    ``|w|`` (no cancellation, no division by a vanishing ``w``: the quotient of two
    relatively accurate factors); ``inf`` rows take the limit ``1/w`` (stable range), ``inf``
    (w = 0) or NaN (no limit).
    """
    w = np.asarray(w, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    out = np.empty((times.size, w.size))
    finite = np.isfinite(times)
    zero = w == 0.0
    safe = np.where(zero, 1.0, w)
    if finite.any():
        t = times[finite][:, None]
        small = np.abs(w) <= _SMALL
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            num = np.where(small, -np.expm1(t * np.log1p(-np.where(small, w, 0.0))),
                           1.0 - np.power(1.0 - w, t))
            out[finite] = np.where(zero, t, num / safe)
    if not finite.all():
        with np.errstate(divide="ignore"):
            limit = np.where((w > 0.0) & (w < 2.0), 1.0 / safe, np.nan)
        out[~finite] = np.where(zero, np.inf, limit)
    return out


def _schedule_sums(x, b, times, *, chunk_elems=1 << 21):
    """``(1 − Π_{s<t} (1 − x b_s)) / x`` for every ``t`` of ``times``: descent with a step
    schedule.

    The dual filter (divided by the scale) of gradient descent whose step ``s`` contracts
    direction k by ``1 − x_k b_s`` (``b_s = 1 − a_s`` for the soft anchored rule of
    :mod:`hilbert_sd.noisy_labels`); with ``b ≡ 1`` it is :func:`_geometric_sums`.

    Parameters
    ----------
    x : ndarray of shape (n,)
        ``c λ`` (c the :func:`step_scale`), >= 0.
    b : ndarray of shape (t_max,)
        Step multiplier of every step.
    times : ndarray of shape (T,)
        Integer step counts in ``0 .. t_max``, non-decreasing.
    chunk_elems : int
        Size of the (n, steps) blocks of log-factors; the cost is O(n · t_max).

    Returns
    -------
    ndarray of shape (T, n)
        At ``x = 0`` the limit ``Σ_{s<t} b_s``.

    Notes
    -----
    The product is kept in log space (long products underflow) with the sign tracked
    separately, so factors that pass through 0 or turn negative (steps beyond the stability
    limit) are handled exactly.
    """
    n = x.shape[0]
    T = times.shape[0]
    out = np.empty((T, n))
    log_abs = np.zeros(n)          # log |Π (1 − x b_s)| so far
    negative = np.zeros(n, bool)   # sign of the product so far
    dead = np.zeros(n, bool)       # a factor was exactly 0
    b_sum = 0.0
    zero_x = x == 0.0
    safe_x = np.where(zero_x, 1.0, x)
    step = max(1, chunk_elems // max(n, 1))
    ti = 0
    done = 0
    while ti < T and times[ti] == 0:
        out[ti] = 0.0
        ti += 1
    while ti < T:
        stop = min(int(times[-1]), done + step)
        bc = b[done:stop]
        f = np.multiply.outer(x, bc)  # (n, c): x b_s
        small = np.abs(f) <= _SMALL
        with np.errstate(divide="ignore"):
            logs = np.where(small, np.log1p(-np.where(small, f, 0.0)),
                            np.log(np.abs(1.0 - f)))
        cum = np.cumsum(logs, axis=1)
        neg = np.cumsum(f > 1.0, axis=1) % 2 == 1
        zer = np.cumsum(f == 1.0, axis=1) > 0
        bcum = np.cumsum(bc)
        while ti < T and times[ti] <= stop:
            j = int(times[ti]) - done - 1
            L = log_abs + cum[:, j]
            sign_neg = negative ^ neg[:, j]
            is_dead = dead | zer[:, j]
            with np.errstate(over="ignore"):
                one_minus = np.where(sign_neg, 1.0 + np.exp(L), -np.expm1(L))
            one_minus = np.where(is_dead, 1.0, one_minus)
            out[ti] = np.where(zero_x, b_sum + bcum[j], one_minus / safe_x)
            ti += 1
        log_abs = log_abs + cum[:, -1]
        negative = negative ^ neg[:, -1]
        dead = dead | zer[:, -1]
        b_sum += bcum[-1]
        done = stop
    return out


def _ridge_pair(lam, alphas):
    """Ridge filters h = λ/(λ+α), g = 1/(λ+α) for ridges ``alphas`` of shape (J,) or (J, k).

    Returns two arrays of shape (J, n) or (J, n, k); α = inf (a collapsed round) gives 0.
    """
    a = alphas[:, None] if alphas.ndim == 1 else alphas[:, None, :]
    lam = lam.reshape((1, -1) + (1,) * (alphas.ndim - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / (lam + a)
        h = lam * inv
    finite = np.isfinite(a)
    return np.where(finite, h, 0.0), np.where(finite, inv, 0.0)


def _sd_log_filters(lam, alphas, xi):
    """log filters of self-distillation with ridges ``alphas`` (R, k) and weights ξ ∈ [0, 1].

    Round t's filter is ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)`` with ``s_t = λ/(λ + α_t)`` and
    ``h_{−1} = 1``; in logs ``log h_t = log s_t + log c_t`` with the target multiplier
    ``c_t = ξ_t h_{t−1} + 1 − ξ_t`` (``c_0 = 1``). Products of many factors underflow, so they
    are summed in logs; ξ ≡ 1 (plain self-distillation) is one cumulative sum.

    Parameters
    ----------
    lam : ndarray of shape (n,)
    alphas : ndarray of shape (R, k)
        Ridges, ``inf`` on collapsed rounds (log s = −inf: the zero function).
    xi : float in [0, 1]
        The weight of the previous fit in the targets (``1 − mix``).

    Returns
    -------
    log_h : ndarray of shape (R, n, k)
        ``-inf`` where the filter is exactly 0.
    """
    R, k = alphas.shape
    # log s = −log1p(α/λ): accurate when α ≪ λ (log λ − log(λ + α) cancels to 0 there);
    # λ = 0 or α = inf give α/λ = inf and log s = −inf, the zero filter
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = -np.log1p(alphas[:, None, :] / lam[None, :, None])  # (R, n, k)
    log_s = np.where(np.isnan(log_s), -np.inf, log_s)
    if xi == 1.0:
        return np.cumsum(log_s, axis=0)
    with np.errstate(divide="ignore"):
        log_xi, log_rest = np.log(xi), np.log1p(-xi)
    out = np.empty_like(log_s)
    log_c = np.zeros((lam.shape[0], k))
    for t in range(R):
        out[t] = log_s[t] + log_c
        log_c = np.logaddexp(log_rest, log_xi + out[t])
    return out


def _sd_multipliers(h, xi):
    """Target multipliers ``c_t = ξ h_{t−1} + 1 − ξ`` (c_0 = 1) from filters ``h`` (R, n, k).

    Returns (R + 1, n, k): row t multiplies z_0 to give the targets of round t.
    """
    c = np.empty((h.shape[0] + 1,) + h.shape[1:])
    c[0] = 1.0
    c[1:] = (1.0 - xi) + xi * h
    return c


def _gd_pair(lam, times, scale, method, rank_tolerance):
    """Train and prediction filters of gradient flow / descent, shape (T, n) each.

    ``method="flow"``: ``E = 1 − exp(−c t λ)``, ``G = c t φ(c t λ)`` with
    ``φ(s) = (1 − e^{−s})/s``; ``method="gd"``: ``G = c S_t(c λ)``, ``E = c λ S_t(c λ)``
    (the geometric sum :func:`_geometric_sums`), c = ``scale``. Both are the exact λ → 0
    forms (G → c t). At ``t = inf`` the limit: E = 1, G = 1/λ on λ > ``rank_tolerance``, 0 on
    the numerical null space (the minimum-norm interpolant); a divergent descent step
    (c λ ≥ 2) gives inf/NaN there, as the iterates have no limit. ``scale = 0`` (no step)
    gives zero filters at every time.
    """
    T, n = times.shape[0], lam.shape[0]
    if scale == 0.0:
        return np.zeros((T, n)), np.zeros((T, n))
    E = np.empty((T, n))
    G = np.empty((T, n))
    ct = scale * times  # c t; overflows to inf only for astronomically long times
    fin = np.isfinite(ct)
    if method == "flow":
        c = ct[fin, None]
        s = c * lam[None, :]
        E[fin] = -np.expm1(-s)
        G[fin] = c * _phi(s)
    else:
        x = scale * lam
        S = _geometric_sums(x, times[fin])
        with np.errstate(invalid="ignore", over="ignore"):
            G[fin] = scale * S
            E[fin] = x[None, :] * S
    if not fin.all():
        positive = lam > rank_tolerance
        e_inf = positive.astype(np.float64)
        g_inf = np.where(positive, 1.0 / np.where(positive, lam, 1.0), 0.0)
        if method == "gd":
            x = scale * lam
            e_inf = np.where(x > 2.0, np.inf, np.where(x == 2.0, np.nan, e_inf))
            g_inf = np.where(x > 2.0, np.inf, np.where(x == 2.0, np.nan, g_inf))
        E[~fin] = e_inf
        G[~fin] = g_inf
    return E, G


def _check_eigenvalues(eigenvalues):
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if np.any(lam < 0):
        raise ValueError(f"eigenvalues contains {lam.min()!r}; allowed: >= 0 (clip round-off "
                         "negatives, e.g. with hilbert_sd.spectral.decompose)")
    return lam


def _check_times(times, name, *, integer=False):
    """Times / steps as a float array (T,): ≥ 0, no NaN, ``inf`` allowed; integers for steps.

    Returns the array and whether a scalar was given.
    """
    scalar = np.ndim(times) == 0
    if np.iscomplexobj(times):
        raise ValueError(f"{name} has complex dtype; allowed: real numbers in [0, inf]")
    try:
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be real numbers; got {times!r}") from exc
    if t.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D; got shape {t.shape}")
    if t.size == 0:
        raise ValueError(f"{name} is empty; give at least one value")
    bad = np.isnan(t) | (t < 0)
    if bad.any():
        raise ValueError(f"{name} contains {t[bad][0]!r}; allowed: [0, inf] (no NaN)")
    if integer:
        finite = t[np.isfinite(t)]
        frac = finite != np.floor(finite)
        if frac.any():
            raise ValueError(f"{name} contains the non-integer {finite[frac][0]!r}; allowed: "
                             "0, 1, 2, ... or inf")
    return t, scalar


def _as_ridges(alpha, name="alpha"):
    a = np.atleast_1d(np.asarray(alpha, dtype=np.float64))
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"{name} must be a positive number or a 1-D array of them; "
                         f"got shape {a.shape}")
    bad = ~(a > 0)
    if bad.any():
        raise ValueError(f"{name} contains {a[bad][0]!r}; allowed: (0, inf]")
    return a


# ============================================================================ public filters
def ridge(eigenvalues, alpha):
    """Kernel ridge regression filters ``λ / (λ + α)``, one row per ridge.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues of the kernel matrix, ≥ 0.
    alpha : float or array-like of shape (J,)
        Ridges in scikit-learn's convention ((K + αI) a = y), > 0; ``inf`` gives the zero
        filter.

    Returns
    -------
    ndarray of shape (J, n)
        J = 1 for a scalar ``alpha``.

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> filters.ridge([3.0, 1.0, 0.0], 1.0)
    array([[0.75, 0.5 , 0.  ]])
    """
    lam = _check_eigenvalues(eigenvalues)
    return _ridge_pair(lam, _as_ridges(alpha))[0]


def self_distillation(eigenvalues, alpha, n_rounds, xi=None):
    """Filters of self-distillation rounds 0, …, ``n_rounds`` with a fixed or per-round ridge.

    Round 0 is kernel ridge regression, ``h_0 = s_0``; round t refits the targets
    ``ξ_t f_{t−1}(X) + (1 − ξ_t) y``, so ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)`` with
    ``s_t = λ/(λ + α_t)``. ξ ≡ 1 is plain self-distillation, ``h_t = s_0 ⋯ s_t`` (Mobahi,
    Farajtabar & Bartlett 2020); ξ = 1 − β is Borup & Andersen's ground-truth mixing β; any
    real ξ is the mixed self-distillation studied since 2023 [derived: the filter form].

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        ≥ 0.
    alpha : float or array-like of shape (n_rounds + 1,)
        One ridge for every round, or the ridge of each round (> 0; ``inf`` marks a
        collapsed round, whose fit is 0).
    n_rounds : int
        Last round, ≥ 0.
    xi : float or array-like of shape (n_rounds,), optional
        ξ_1, …, ξ_{n_rounds} (real; a scalar for every round). Default: 1 (plain).

    Returns
    -------
    ndarray of shape (n_rounds + 1, n)
        Products are formed in log space when ξ lies in [0, 1] (no underflow on long runs
        before the final exponential).

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> filters.self_distillation([1.0], 1.0, 2)[:, 0]
    array([0.5  , 0.25 , 0.125])
    """
    lam = _check_eigenvalues(eigenvalues)
    n_rounds = check_scalar(n_rounds, "n_rounds", low=0, integer=True)
    a = _as_ridges(alpha)
    if a.size == 1:
        a = np.full(n_rounds + 1, a[0])
    elif a.size != n_rounds + 1:
        raise ValueError(f"alpha has {a.size} ridges; allowed: one, or n_rounds + 1 = "
                         f"{n_rounds + 1}")
    if xi is None:
        xis = np.ones(n_rounds)
    else:
        xis = np.atleast_1d(as_float_array(xi, "xi", ndim=(0, 1), allow_empty=True))
        if xis.size == 1 and n_rounds != 1:
            xis = np.full(n_rounds, xis[0])
        if xis.size != n_rounds:
            raise ValueError(f"xi has {xis.size} values; allowed: one, or n_rounds = "
                             f"{n_rounds}")
    if np.all(xis == xis[0] if xis.size else True) and (xis.size == 0 or 0 <= xis[0] <= 1):
        xi0 = float(xis[0]) if xis.size else 1.0
        with np.errstate(under="ignore"):
            return np.exp(_sd_log_filters(lam, a[:, None], xi0)[..., 0])
    s, _ = _ridge_pair(lam, a)
    h = np.empty_like(s)
    h[0] = s[0]
    for t in range(1, n_rounds + 1):
        h[t] = s[t] * (xis[t - 1] * h[t - 1] + 1.0 - xis[t - 1])
    return h


def gradient_flow(eigenvalues, times, *, learning_rate=1.0, n_samples=None):
    """Filters of kernel gradient flow from the zero function, ``1 − exp(−η t λ / n)``.

    The flow on (1/2n)‖f(X) − y‖² with learning rate η (neural-tangents' convention) [derived].

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    times : float or array-like of shape (J,)
        Times t ≥ 0; ``inf`` gives the limit (1 on every eigenvalue above the round-off
        scale of an eigensolver, 0 on the rest).
    learning_rate : float, default=1.0
    n_samples : int, optional
        n of the loss (default ``len(eigenvalues)``).

    Returns
    -------
    ndarray of shape (J, n)
    """
    return _public_gd(eigenvalues, times, learning_rate, n_samples, "flow")


def gradient_descent(eigenvalues, steps, *, learning_rate=1.0, n_samples=None):
    """Filters of kernel gradient descent from the zero function, ``1 − (1 − η λ / n)^t``.

    Stable iff η λ_max / n < 2 (:func:`max_stable_learning_rate`); beyond it the filters grow
    without bound (returned as they are: this function does not refuse).

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    steps : int or array-like of shape (J,)
        Numbers of steps 0, 1, 2, … or ``inf``.
    learning_rate : float, default=1.0
    n_samples : int, optional

    Returns
    -------
    ndarray of shape (J, n)
    """
    return _public_gd(eigenvalues, steps, learning_rate, n_samples, "gd")


def _public_gd(eigenvalues, times, learning_rate, n_samples, method):
    from hilbert_sd.spectral import clip_tolerance

    lam = _check_eigenvalues(eigenvalues)
    n = lam.shape[0] if n_samples is None else check_scalar(n_samples, "n_samples", low=1,
                                                             integer=True)
    eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    t, _ = _check_times(times, "times" if method == "flow" else "steps",
                        integer=method == "gd")
    tol = clip_tolerance(float(lam.max()) if lam.size else 0.0, lam.shape[0])
    return _gd_pair(lam, t, step_scale(eta, n), method, tol)[0]
