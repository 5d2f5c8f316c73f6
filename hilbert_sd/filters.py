"""Spectral filters: the single home of every regularizer's formula.

With ``K = U diag(λ) Uᵀ`` (λ descending) and ``z = Uᵀ y``, every method this package
simulates fits ``f(X) = U diag(h) z`` for a *filter* ``h(λ)``, and predicts at new points with
the dual coefficients ``U diag(g) z``, ``g = h / λ`` (the *prediction filter*). ``g`` has a
finite limit as λ → 0 for every filter here; it is always evaluated in a stable form, never by
dividing by an eigenvalue. Every public filter function returns ``h`` of shape (J, n), one row
per point of the path, and the pair ``(h, g)`` with ``return_prediction=True``.

With ``s = λ/(λ + α)`` the kernel ridge shrink and ``w = 1 − s = α/(λ + α)``:

- :func:`ridge`: ``h = s`` (kernel ridge regression);
- :func:`self_distillation`: ``h_0 = s_0``, ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)``; ξ ≡ 1 is
  the recursion of Mobahi, Farajtabar & Bartlett (2020), the filter form is derived;
- :func:`boosting`: L2-boosting / iterated Tikhonov, ``h_m = 1 − w^{m+1}`` [derived];
- :func:`gradient_flow`: ``1 − exp(−η t_j λ / n)`` [derived];
- :func:`gradient_descent`: ``1 − (1 − η λ / n)^{t_j}`` [derived];
- :func:`spectral_cutoff`: ``1[λ ≥ τ]`` or the top-r directions (kernel PCR / TSVD).

Optimal mixing under the expected in-sample risk
``R(h) = (1/n) Σ_k [(h_k − 1)² θ_k² + h_k² σ²]`` (fixed design, ``θ = Uᵀ f*``, noise variance
σ²) [derived]: :func:`optimal_xi` (one step, closed form), :func:`optimal_schedule` (k steps,
one equality-constrained least-squares problem) and :func:`optimal_ridge` (the best kernel
ridge regression, the baseline). The family and these results: :doc:`/topics/family`.

The private functions (leading underscore) are the kernels that the paths, estimators and
studies call after validating once: arrays in, arrays out, no checks inside.

Learning-rate conventions. Gradient flow and descent here follow neural-tangents' loss
``(1/2n)‖f(X) − y‖²``, so one step multiplies a residual direction by ``1 − (η/n) λ``; the
noisy-label study follows Dong et al.'s ``u ← u − η H (u − y)``, one step ``1 − η λ``. Both are
the one gradient-descent filter with a different *scale* (``η/n`` or ``η``):
:func:`step_scale` is the one place that converts.
"""

import math
import warnings

import numpy as np
import scipy.linalg

from hilbert_sd._validation import as_float_array, check_scalar
from hilbert_sd.exceptions import NumericalWarning

__all__ = [
    "OptimalRidge",
    "OptimalSchedule",
    "boosting",
    "gradient_descent",
    "gradient_flow",
    "max_stable_learning_rate",
    "optimal_ridge",
    "optimal_schedule",
    "optimal_xi",
    "ridge",
    "self_distillation",
    "spectral_cutoff",
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


def _ridge_inverse(lam, alphas):
    """g = 1/(λ+α) for ridges ``alphas`` of shape (J,) or (J, k), as (J, n) or (J, n, k);
    α = inf (a collapsed round) gives 0. Also returns λ and α broadcast for :func:`_ridge_pair`.
    """
    a = alphas[:, None] if alphas.ndim == 1 else alphas[:, None, :]
    lam = lam.reshape((1, -1) + (1,) * (alphas.ndim - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        inv = 1.0 / (lam + a)
    if not np.all(np.isfinite(a)):
        inv = np.where(np.isfinite(a), inv, 0.0)
    return inv, lam, a


def _ridge_pair(lam, alphas):
    """Ridge filters h = λ/(λ+α), g = 1/(λ+α) for ridges ``alphas`` of shape (J,) or (J, k).

    Returns two arrays of shape (J, n) or (J, n, k); α = inf (a collapsed round) gives 0.
    """
    inv, lam, a = _ridge_inverse(lam, alphas)
    return lam * inv, inv


def _sd_log_filters(lam, alphas, xi):
    """log filters of self-distillation with ridges ``alphas`` (R, k) and weights ξ ∈ [0, 1].

    Round t's filter is ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)`` with ``s_t = λ/(λ + α_t)`` and
    ``h_{−1} = 1``; in logs ``log h_t = log s_t + log c_t`` with the target multiplier
    ``c_t = ξ_t h_{t−1} + 1 − ξ_t`` (``c_0 = 1``). Products of many factors underflow, so they
    are summed in logs; ξ ≡ 1 (plain self-distillation) is one cumulative sum. Weights outside
    [0, 1] make the multipliers change sign: :func:`_sd_linear_filters` handles those.

    Parameters
    ----------
    lam : ndarray of shape (n,)
    alphas : ndarray of shape (R, k)
        Ridges, ``inf`` on collapsed rounds (log s = −inf: the zero function).
    xi : float in [0, 1], or ndarray of shape (R − 1,) or longer, in [0, 1]
        The weight of the previous fit in the targets of rounds 1, 2, … (``1 − mix``); a
        scalar applies to every round, extra entries of an array are ignored.

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
    xi = np.asarray(xi, dtype=np.float64)
    xis = np.broadcast_to(xi, (max(R - 1, 0),)) if xi.ndim == 0 else xi[: max(R - 1, 0)]
    if np.all(xis == 1.0):
        if log_s[0].size < 256:
            return np.cumsum(log_s, axis=0)
        # The same running sum as np.cumsum(log_s, axis=0), one vectorized add per round:
        # cumsum along the first axis runs an inner loop over the few rounds for every
        # (direction, column) entry, 0.5-1 ms on the (6, 1000, 20) filters of a sweep's
        # batch against 0.1 ms here; with many rounds of few entries cumsum is the faster.
        for t in range(1, R):
            log_s[t] += log_s[t - 1]
        return log_s
    with np.errstate(divide="ignore"):
        log_xi, log_rest = np.log(xis), np.log1p(-xis)
    out = np.empty_like(log_s)
    log_c = np.zeros((lam.shape[0], k))
    for t in range(R):
        out[t] = log_s[t] + log_c
        if t < R - 1:
            log_c = np.logaddexp(log_rest[t], log_xi[t] + out[t])
    return out


def _sd_linear_filters(lam, alphas, xis):
    """Filters of self-distillation for real weights ξ (any sign): shape (R, n, k).

    The recursion ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)`` on the filters themselves, for
    weights outside [0, 1], where the multipliers ``c_t`` change sign and the logs of
    :func:`_sd_log_filters` do not exist. ``xis`` has shape (R − 1,) (or longer; extra entries
    ignored).
    """
    s, _ = _ridge_pair(lam, alphas)
    if alphas.ndim == 1:
        s = s[:, :, None]
    h = np.empty_like(s)
    h[0] = s[0]
    for t in range(1, s.shape[0]):
        x = xis[t - 1]
        h[t] = s[t] * (x * h[t - 1] + (1.0 - x))
    return h


def _sd_multipliers(h, xi):
    """Target multipliers ``c_t = ξ_t h_{t−1} + 1 − ξ_t`` (c_0 = 1) from filters ``h`` (R, n, k).

    ``xi`` is a scalar (every round) or an array of shape (R,): ξ_1, …, ξ_R, the last one for
    the targets of a further round. Returns (R + 1, n, k): row t multiplies z_0 to give the
    targets of round t.
    """
    c = np.empty((h.shape[0] + 1,) + h.shape[1:])
    c[0] = 1.0
    x = np.asarray(xi, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape((-1,) + (1,) * (h.ndim - 1))
    c[1:] = (1.0 - x) + x * h
    return c


def _sd_residuals(s, w, xis):
    """``1 − h_t`` of fixed-ridge self-distillation without cancellation, shape (R, n).

    ``1 − h_0 = w`` and ``1 − h_t = w + ξ_t s (1 − h_{t−1})`` (from
    ``h_t = s (ξ_t h_{t−1} + 1 − ξ_t)`` and ``w = 1 − s``), accurate where h ≈ 1 (λ ≫ α).
    """
    r = np.empty((len(xis) + 1, s.shape[0]))
    r[0] = w
    for t, x in enumerate(xis, start=1):
        r[t] = w + x * s * r[t - 1]
    return r


def _boosting_pair(lam, alpha, n_steps):
    """Filters of L2-boosting steps 0..n_steps: ``h_m = 1 − w^{m+1}``, ``g_m = h_m / λ``.

    With ``S_m = Σ_{i≤m} w^i`` (:func:`_geometric_sums` at ``1 − w = s``, ``expm1``/``log1p``
    for small s, the limit m + 1 at s = 0): ``h_m = s S_m`` and ``g_m = S_m / (λ + α)``, so
    λ = 0 gives ``g_m = (m + 1)/α`` and no eigenvalue is divided by. Shapes (n_steps + 1, n).
    """
    s, inv = _ridge_pair(lam, np.array([alpha]))
    S = _geometric_sums(s[0], np.arange(1, n_steps + 2, dtype=np.float64))
    return s * S, inv * S


def _cutoff_filters(lam, thresholds=None, ranks=None):
    """0/1 filters of spectral cut-off: ``λ ≥ τ_j`` or the top ``r_j`` eigenvalues, (J, n).

    With ranks, the order is by eigenvalue, descending; ties keep the order of ``lam``.
    """
    if thresholds is not None:
        return (lam[None, :] >= thresholds[:, None]).astype(np.float64)
    position = np.empty(lam.shape[0], dtype=np.int64)
    position[np.argsort(-lam, kind="stable")] = np.arange(lam.shape[0])
    return (position[None, :] < ranks[:, None]).astype(np.float64)


def _expected_risk(h, r, theta2, noise_var):
    """``(1/n) Σ_k [r_k² θ_k² + h_k² σ²]`` over the last axis, with ``r = 1 − h`` given."""
    return np.mean(r**2 * theta2 + h**2 * noise_var, axis=-1)


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
        raise ValueError(f"{name} contains {float(t[bad][0])!r}; allowed: [0, inf] (no NaN)")
    if integer:
        finite = t[np.isfinite(t)]
        frac = finite != np.floor(finite)
        if frac.any():
            raise ValueError(f"{name} contains the non-integer {float(finite[frac][0])!r}; "
                             "allowed: 0, 1, 2, ... or inf")
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
def _pair(h, g, return_prediction):
    return (h, g) if return_prediction else h


def ridge(eigenvalues, alpha, *, return_prediction=False):
    """Kernel ridge regression filters ``λ / (λ + α)``, one row per ridge.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues of the kernel matrix, ≥ 0.
    alpha : float or array-like of shape (J,)
        Ridges in scikit-learn's convention ((K + αI) a = y), > 0; ``inf`` gives the zero
        filter.
    return_prediction : bool, default=False
        Also return the prediction filter ``g = h/λ = 1/(λ + α)``.

    Returns
    -------
    h : ndarray of shape (J, n)
        J = 1 for a scalar ``alpha``.
    g : ndarray of shape (J, n)
        Only with ``return_prediction=True``.

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> filters.ridge([3.0, 1.0, 0.0], 1.0)
    array([[0.75, 0.5 , 0.  ]])
    """
    lam = _check_eigenvalues(eigenvalues)
    return _pair(*_ridge_pair(lam, _as_ridges(alpha)), return_prediction)


def _check_xi(xi, n_rounds):
    """ξ_1..ξ_{n_rounds} as an array (n_rounds,): None → 1, a scalar → every round."""
    if xi is None:
        return np.ones(n_rounds)
    xis = np.atleast_1d(as_float_array(xi, "xi", ndim=(0, 1), allow_empty=True))
    if xis.size == 1 and n_rounds != 1:
        xis = np.full(n_rounds, xis[0])
    if xis.size != n_rounds:
        raise ValueError(f"xi has {xis.size} values; allowed: one, or n_rounds = {n_rounds}")
    return xis


def self_distillation(eigenvalues, alpha, n_rounds, xi=None, *, return_prediction=False):
    """Filters of self-distillation rounds 0, …, ``n_rounds`` with a fixed or per-round ridge.

    Round 0 is kernel ridge regression, ``h_0 = s_0``; round t refits the targets
    ``ξ_t f_{t−1}(X) + (1 − ξ_t) y``, so ``h_t = s_t (ξ_t h_{t−1} + 1 − ξ_t)`` with
    ``s_t = λ/(λ + α_t)``. ξ ≡ 1 is plain self-distillation, ``h_t = s_0 ⋯ s_t`` (Mobahi,
    Farajtabar & Bartlett 2020); ξ = 1 − β is Borup & Andersen's ground-truth mixing β; any
    real ξ is the mixed self-distillation studied since 2023 (Das & Sanghavi; Pareek, Du &
    Oh) [derived: the filter form]. ξ = −1 at one step is Tukey's twicing, :func:`boosting`
    with one step [derived].

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
    return_prediction : bool, default=False
        Also return the prediction filter ``g_t = h_t/λ = c_t/(λ + α_t)`` with the target
        multiplier ``c_t = ξ_t h_{t−1} + 1 − ξ_t`` (``c_0 = 1``): finite at λ = 0, where it
        is ``(1 − ξ_t)/α_t`` (``1/α_0`` at round 0).

    Returns
    -------
    h : ndarray of shape (n_rounds + 1, n)
        Products are formed in log space when every ξ lies in [0, 1] (no underflow on long
        runs before the final exponential); weights outside [0, 1] make the filters change
        sign and are iterated on the filters themselves.
    g : ndarray of shape (n_rounds + 1, n)
        Only with ``return_prediction=True``.

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
    xis = _check_xi(xi, n_rounds)
    if np.all((xis >= 0.0) & (xis <= 1.0)):
        with np.errstate(under="ignore"):
            h = np.exp(_sd_log_filters(lam, a[:, None], xis))
    else:
        h = _sd_linear_filters(lam, a[:, None], xis)
    if not return_prediction:
        return h[..., 0]
    c = _sd_multipliers(h[:-1], xis)  # (R, n, 1): c_0 .. c_{n_rounds}
    inv = _ridge_inverse(lam, a)[0]
    return h[..., 0], c[..., 0] * inv


def boosting(eigenvalues, alpha, n_steps, *, return_prediction=False):
    """Filters of L2-boosting (iterated Tikhonov) steps 0, …, ``n_steps``: ``1 − w^{m+1}``.

    Step 0 is kernel ridge regression; step m adds a ridge fit of the residual,
    ``f_m = f_{m−1} + S(y − f_{m−1})`` with ``S`` the ridge smoother, so the residual filter
    is multiplied by ``w = α/(λ + α)`` at every step and ``h_m = 1 − w^{m+1}`` [derived]. It
    is the mirror image of self-distillation, which applies ``S`` to the fit instead of the
    residual; step 1 is Tukey's twicing ``s(2 − s)`` = self-distillation with ξ = −1
    [derived]. As m → ∞ the fit interpolates on every λ > 0.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        ≥ 0.
    alpha : float
        The ridge of every step, > 0 (``inf``: every fit is 0).
    n_steps : int
        Last step, ≥ 0.
    return_prediction : bool, default=False
        Also return ``g_m = h_m/λ = (1/(λ + α)) Σ_{i=0}^{m} w^i`` (the dual filter: the sum of
        the steps' ridge fits), evaluated as that sum in closed form with ``expm1``/``log1p``;
        at λ = 0 it is ``(m + 1)/α``.

    Returns
    -------
    h : ndarray of shape (n_steps + 1, n)
    g : ndarray of shape (n_steps + 1, n)
        Only with ``return_prediction=True``.

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> filters.boosting([1.0, 0.0], 1.0, 2)
    array([[0.5  , 0.   ],
           [0.75 , 0.   ],
           [0.875, 0.   ]])
    """
    lam = _check_eigenvalues(eigenvalues)
    alpha = check_scalar(alpha, "alpha", low=0.0, low_inclusive=False, allow_inf=True)
    n_steps = check_scalar(n_steps, "n_steps", low=0, integer=True)
    return _pair(*_boosting_pair(lam, alpha, n_steps), return_prediction)


def spectral_cutoff(eigenvalues, thresholds=None, *, ranks=None, return_prediction=False):
    """Filters of spectral cut-off (kernel principal component regression, truncated SVD).

    ``h = 1[λ ≥ τ]`` for each threshold τ, or ``h = 1`` on the ``r`` largest eigenvalues for
    each rank r: the fit is the projection of the targets onto the kept eigenvectors.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        ≥ 0.
    thresholds : float or array-like of shape (J,), optional
        τ ≥ 0 (``inf`` keeps nothing). Give exactly one of ``thresholds`` and ``ranks``.
    ranks : int or array-like of shape (J,), optional
        Numbers of kept directions, 0 … n, by eigenvalue (descending; among equal eigenvalues
        the earlier in ``eigenvalues`` is kept first).
    return_prediction : bool, default=False
        Also return ``g = 1/λ`` on the kept directions and 0 elsewhere. A kept λ is ≥ τ, so
        this needs every threshold > 0, or every rank ≤ the number of positive eigenvalues.

    Returns
    -------
    h : ndarray of shape (J, n)
    g : ndarray of shape (J, n)
        Only with ``return_prediction=True``.

    Raises
    ------
    ValueError
        For both or neither of ``thresholds`` and ``ranks``, out-of-range values, or a
        prediction filter that would keep a zero eigenvalue.

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> filters.spectral_cutoff([4.0, 1.0, 0.5], [0.8, 2.0])
    array([[1., 1., 0.],
           [1., 0., 0.]])
    """
    lam = _check_eigenvalues(eigenvalues)
    if (thresholds is None) == (ranks is None):
        raise ValueError("give exactly one of thresholds (keep λ >= τ) and ranks (keep the "
                         f"top r); got thresholds={thresholds!r}, ranks={ranks!r}")
    if thresholds is not None:
        tau, _ = _check_times(thresholds, "thresholds")
        if return_prediction and np.any(tau <= 0):
            raise ValueError(f"thresholds contains {float(tau[tau <= 0][0])!r}; allowed with "
                             "return_prediction=True: (0, inf] (g = 1/λ is infinite at λ = 0)")
        h = _cutoff_filters(lam, thresholds=tau)
    else:
        r, _ = _check_times(ranks, "ranks", integer=True)
        top = int(np.count_nonzero(lam > 0)) if return_prediction else lam.shape[0]
        if np.any(r > top):
            what = ("the number of positive eigenvalues (g = 1/λ is infinite at λ = 0)"
                    if return_prediction else "the number of eigenvalues")
            raise ValueError(f"ranks contains {r[r > top][0]:g}; allowed: 0 .. {top}, {what}")
        h = _cutoff_filters(lam, ranks=r.astype(np.int64))
    if not return_prediction:
        return h
    kept = h > 0
    return h, np.where(kept, 1.0 / np.where(kept, lam, 1.0), 0.0)


def gradient_flow(eigenvalues, times, *, learning_rate=1.0, n_samples=None,
                  return_prediction=False):
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
    return_prediction : bool, default=False
        Also return ``g = h/λ = (η t/n) φ(η t λ/n)``, ``φ(x) = (1 − e^{−x})/x`` (its series
        near 0; the limit η t/n at λ = 0).

    Returns
    -------
    h : ndarray of shape (J, n)
    g : ndarray of shape (J, n)
        Only with ``return_prediction=True``.
    """
    return _public_gd(eigenvalues, times, learning_rate, n_samples, "flow", return_prediction)


def gradient_descent(eigenvalues, steps, *, learning_rate=1.0, n_samples=None,
                     return_prediction=False):
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
    return_prediction : bool, default=False
        Also return ``g = h/λ = (η/n) Σ_{i<t} (1 − ηλ/n)^i`` (the limit η t/n at λ = 0).

    Returns
    -------
    h : ndarray of shape (J, n)
    g : ndarray of shape (J, n)
        Only with ``return_prediction=True``.
    """
    return _public_gd(eigenvalues, steps, learning_rate, n_samples, "gd", return_prediction)


def _public_gd(eigenvalues, times, learning_rate, n_samples, method, return_prediction=False):
    from hilbert_sd.spectral import clip_tolerance

    lam = _check_eigenvalues(eigenvalues)
    n = lam.shape[0] if n_samples is None else check_scalar(n_samples, "n_samples", low=1,
                                                             integer=True)
    eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    t, _ = _check_times(times, "times" if method == "flow" else "steps",
                        integer=method == "gd")
    tol = clip_tolerance(float(lam.max()) if lam.size else 0.0, lam.shape[0])
    return _pair(*_gd_pair(lam, t, step_scale(eta, n), method, tol), return_prediction)


# ================================================================= optimal mixing and ridge
class OptimalSchedule:
    """Result of :func:`optimal_xi` and :func:`optimal_schedule`.

    Unpacks as ``xi, risk = optimal_xi(...)``.

    Attributes
    ----------
    xi : float (:func:`optimal_xi`) or ndarray of shape (k,) (:func:`optimal_schedule`)
        The optimal weights ξ_1, …, ξ_k of the previous fit in the targets of rounds 1..k.
    risk : float
        Expected in-sample risk ``R(h) = (1/n) Σ [(h − 1)² θ² + h² σ²]`` of the filter the
        returned weights give, recomputed from them.
    filter : ndarray of shape (n,)
        That filter ``h_k``.
    alpha : float
        The ridge of every round.
    ridge_risk : float
        The risk of kernel ridge regression with the same ridge (round 0, or any ξ ≡ 0).
    coefficients : ndarray of shape (k + 1,)
        ``p`` with ``h_k = Σ_j p_j s^j`` (j = 1 … k + 1), ``Σ_j p_j = 1``.
    """

    def __init__(self, xi, risk, filter, alpha, ridge_risk, coefficients):
        self.xi = xi
        self.risk = risk
        self.filter = filter
        self.alpha = alpha
        self.ridge_risk = ridge_risk
        self.coefficients = coefficients

    def __iter__(self):
        yield self.xi
        yield self.risk

    def __repr__(self):
        xi = np.array2string(np.asarray(self.xi), precision=6, threshold=8)
        return (f"OptimalSchedule(xi={xi}, risk={self.risk:.6g}, "
                f"ridge_risk={self.ridge_risk:.6g}, alpha={self.alpha:.6g})")


class OptimalRidge:
    """Result of :func:`optimal_ridge`. Unpacks as ``alpha, risk = optimal_ridge(...)``.

    Attributes
    ----------
    alpha : float
        The minimizing ridge; ``0.0`` or ``inf`` when the infimum is a limit (no noise, or no
        signal on the positive eigenvalues).
    risk : float
        Its expected in-sample risk (the limit value in those two cases).
    filter : ndarray of shape (n,)
        ``λ/(λ + α)``.
    """

    def __init__(self, alpha, risk, filter):
        self.alpha = alpha
        self.risk = risk
        self.filter = filter

    def __iter__(self):
        yield self.alpha
        yield self.risk

    def __repr__(self):
        return f"OptimalRidge(alpha={self.alpha:.6g}, risk={self.risk:.6g})"


def _check_risk_problem(eigenvalues, theta, noise_var):
    lam = _check_eigenvalues(eigenvalues)
    theta = as_float_array(theta, "theta", ndim=1)
    if theta.shape != lam.shape:
        raise ValueError(f"theta has shape {theta.shape}; allowed: {lam.shape}, one "
                         "eigen-coefficient of the true function per eigenvalue")
    noise_var = check_scalar(noise_var, "noise_var", low=0.0)
    return lam, theta, noise_var


def _shrinks(lam, alpha):
    """``s = λ/(λ + α)`` and ``w = α/(λ + α)``, both without cancellation."""
    inv = 1.0 / (lam + alpha)
    return lam * inv, alpha * inv


def optimal_xi(eigenvalues, alpha, theta, noise_var):
    """The mixing weight ξ of one self-distillation step that minimizes the expected risk.

    Fixed design, ``y = f* + e`` with ``e ~ N(0, σ² I)`` and ``θ = Uᵀ f*``: the expected
    in-sample risk of a filter is ``R(h) = (1/n) Σ_k [(h_k − 1)² θ_k² + h_k² σ²]``. One step
    with ridge α has ``h = s + ξ s(s − 1)``, ``s = λ/(λ + α)``, so R is quadratic in ξ and
    [derived]

    ``ξ* = Σ s w (s σ² − w θ²) / Σ s² w² (θ² + σ²)``,  ``w = 1 − s``.

    Under heavy noise (σ² large against θ²) ξ* exceeds 1 (Das & Sanghavi 2023 [paper]:
    the optimal weight can exceed 1; this closed form reproduces it). At the ridge of
    :func:`optimal_ridge` ξ* = 0: the ξ direction ``s(s − 1)`` is the derivative of s in
    log α, so one step cannot improve on the best ridge [derived].

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        ≥ 0.
    alpha : float
        Ridge of both fits, > 0.
    theta : array-like of shape (n,)
        Eigen-coefficients ``Uᵀ f*`` of the true function at the training inputs.
    noise_var : float
        σ² ≥ 0.

    Returns
    -------
    OptimalSchedule
        ``xi`` a float; ``xi, risk = optimal_xi(...)`` unpacks. When the risk does not depend
        on ξ (``s(s − 1)`` vanishes wherever θ² + σ² > 0), ξ = 0 (the ridge fit) is returned.

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> xi, risk = filters.optimal_xi([3.0, 1.0, 0.1], 0.5, [1.0, 0.1, 0.01], 1.0)
    >>> bool(xi > 1)  # heavy noise: weight the teacher more than the labels
    True
    """
    lam, theta, noise_var = _check_risk_problem(eigenvalues, theta, noise_var)
    alpha = check_scalar(alpha, "alpha", low=0.0, low_inclusive=False)
    s, w = _shrinks(lam, alpha)
    t2 = theta**2
    num = np.sum(s * w * (s * noise_var - w * t2))
    den = np.sum((s * w) ** 2 * (t2 + noise_var))
    xi = float(num / den) if den > 0 else 0.0
    h = s * (1.0 - xi * w)
    r = w * (1.0 + xi * s)
    return OptimalSchedule(xi, float(_expected_risk(h, r, t2, noise_var)), h, alpha,
                           float(_expected_risk(s, w, t2, noise_var)), np.array([1.0 - xi, xi]))


def _schedule_from_coefficients(p):
    """ξ_1..ξ_k from ``p`` (k + 1,) by ``ξ_k = 1 − p_1``, ``p^{(k−1)} = p^{(k)}_{2:} / ξ_k``.

    A weight that is 0 (to round-off) makes the earlier ones irrelevant when the rest of
    ``p`` is 0 too (they are returned as 0: every earlier round is the ridge fit again); a
    weight exactly 0 with a nonzero rest is reached by no schedule (ValueError). A tiny
    nonzero weight is divided by: the caller checks the recovered filter.
    """
    k = p.shape[0] - 1
    xi = np.zeros(k)
    for i in range(k, 0, -1):
        x = 1.0 - p[0]
        rest = p[1:]
        # round-off of p_1 = 1 − Σ rest (how the coefficients were formed)
        tol = 64 * np.finfo(np.float64).eps * (1.0 + float(np.sum(np.abs(rest))))
        if abs(x) <= tol and np.max(np.abs(rest)) <= tol:
            return xi  # ξ_i = 0: rounds 1..i are the ridge fit, whatever came before
        if x == 0.0:
            raise ValueError(
                f"the optimal {k}-step filter has xi_{i} = 0 with p = {p.tolist()}: it is not "
                "reached by any schedule (the map from xi to p is not onto there); allowed: "
                "another n_steps or alpha")
        xi[i - 1] = x
        p = rest / x
    return xi


def optimal_schedule(eigenvalues, alpha, theta, noise_var, n_steps):
    """The k-step mixing schedule ξ_1, …, ξ_k that minimizes the expected risk.

    k = ``n_steps`` rounds of self-distillation with one ridge α and targets
    ``ξ_t f_{t−1}(X) + (1 − ξ_t) y`` end with ``h_k = Σ_{j=1}^{k+1} p_j s^j``,
    ``Σ_j p_j = 1`` (``p^{(k)}_1 = 1 − ξ_k``, ``p^{(k)}_{j+1} = ξ_k p^{(k−1)}_j``), a bijection
    for ξ_i ≠ 0 [derived]. The risk of :func:`optimal_xi` is quadratic in p, so the optimal
    filter solves one equality-constrained least-squares problem, and ``ξ_k = 1 − p_1``,
    ``p^{(k−1)} = p^{(k)}_{2:}/ξ_k`` recover the schedule [derived]. The optimal risk is
    non-increasing in k; with the ridge of :func:`optimal_ridge` it is the best ridge's risk
    at k = 0 and 1 and at most that for every k [derived].

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        ≥ 0.
    alpha : float
        Ridge of every round, > 0.
    theta : array-like of shape (n,)
        ``Uᵀ f*``.
    noise_var : float
        σ² ≥ 0.
    n_steps : int
        k ≥ 0 (k = 0 is kernel ridge regression: an empty schedule).

    Returns
    -------
    OptimalSchedule
        ``xi`` of shape (k,); ``risk`` recomputed from the returned weights through
        :func:`self_distillation`.

    Raises
    ------
    ValueError
        For invalid arguments, or when the optimal polynomial needs some ξ_i = 0 while
        earlier rounds still matter (not reached by any schedule; measure-zero).

    Warns
    -----
    NumericalWarning
        When the least-squares problem in the powers ``s^j`` is ill-conditioned (condition
        number above 1e10 after equilibrating its columns: large k, or α far above the
        eigenvalues, where every s is small and the coefficients p grow without bound), so
        that the returned schedule may fall short of the optimum; or when the filter
        recomputed from the recovered schedule differs from the optimal polynomial by more
        than 1e-8 of the size of the polynomial's terms. The reported risk is always that of
        the returned schedule.

    Notes
    -----
    With the constraint eliminated (``p_1 = 1 − Σ_{j≥2} p_j``) the residual is
    ``1 − h = w + Σ_{j≥2} p_j s w q_{j−1}`` and ``h = s − Σ_{j≥2} p_j s w q_{j−1}`` with
    ``q_i = Σ_{l<i} s^l``, free of cancellation; the (k+2)×(k+2) KKT system of the
    constrained problem is solved in this reduced form by an SVD least-squares solve of the
    2n × k design with equilibrated columns (condition number not squared; minimum-norm
    when the optimum is not unique, e.g. fewer distinct eigenvalues than k). Cost O(n k²).

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> lam, theta = [3.0, 1.0, 0.3, 0.1], [1.0, 0.5, 0.2, 0.1]
    >>> one = filters.optimal_schedule(lam, 0.5, theta, 0.2, 1)
    >>> two = filters.optimal_schedule(lam, 0.5, theta, 0.2, 2)
    >>> bool(two.risk <= one.risk <= one.ridge_risk)
    True
    """
    lam, theta, noise_var = _check_risk_problem(eigenvalues, theta, noise_var)
    alpha = check_scalar(alpha, "alpha", low=0.0, low_inclusive=False)
    k = check_scalar(n_steps, "n_steps", low=0, integer=True)
    s, w = _shrinks(lam, alpha)
    t2 = theta**2
    ridge_risk = float(_expected_risk(s, w, t2, noise_var))
    if k == 0:
        return OptimalSchedule(np.zeros(0), ridge_risk, s, alpha, ridge_risk, np.ones(1))
    th, sg = np.abs(theta), math.sqrt(noise_var)
    # columns j = 2..k+1: s w q_{j−1}(s), q_i = 1 + s + … + s^{i−1}
    q = np.cumsum(s[:, None] ** np.arange(k)[None, :], axis=1)  # (n, k): q_1 .. q_k
    col = (s * w)[:, None] * q
    design = np.concatenate([th[:, None] * col, -sg * col])  # rows: residual, then fit
    base = np.concatenate([th * w, sg * s])
    # equilibrated columns: the singular values then measure how well p is determined
    norms = np.linalg.norm(design, axis=0)
    norms = np.where(norms > 0, norms, 1.0)
    scaled, _, _, sv = scipy.linalg.lstsq(design / norms, -base, lapack_driver="gelsd")
    rest = scaled / norms
    p = np.concatenate([[1.0 - rest.sum()], rest])
    cond = float(sv[0] / sv[-1]) if sv.size and sv[-1] > 0 else np.inf
    if cond > _SCHEDULE_COND_MAX and sv[0] > 0:
        warnings.warn(
            f"optimal_schedule(n_steps={n_steps}, alpha={alpha:.6g}): the least-squares "
            f"problem in the powers of s has condition number {cond:.3g}; the schedule "
            "returned may fall short of the optimum (its risk, reported, is exact for it). "
            "Fewer steps, or a ridge nearer the eigenvalues, are well conditioned",
            NumericalWarning, stacklevel=2)
    xi = _schedule_from_coefficients(p)
    # the recovery check: the schedule's filter, recomputed by the recursion, against the
    # polynomial; the polynomial itself is only as accurate as its largest terms allow
    h = self_distillation(lam, alpha, k, xi=xi)[-1]
    h_poly = s - col @ rest
    scale = 1.0 + float(np.max(np.abs(col) @ np.abs(rest)))
    gap = float(np.max(np.abs(h - h_poly)))
    if gap > 1e-8 * scale and cond <= _SCHEDULE_COND_MAX:
        warnings.warn(
            f"the schedule recovered for n_steps={n_steps} reproduces the optimal filter only "
            f"to {gap:.3g} (terms of size {scale:.3g}): the powers of s are ill-conditioned "
            "here (large n_steps, or alpha far above the eigenvalues); risk is that of the "
            "returned schedule", NumericalWarning, stacklevel=2)
    r = _sd_residuals(s, w, xi)[-1]
    risk = float(_expected_risk(h, r, t2, noise_var))
    return OptimalSchedule(xi, risk, h, alpha, ridge_risk, p)


# Condition number (columns equilibrated) above which optimal_schedule warns: near it the
# returned schedule's risk was seen to exceed the optimum by 1e-9..1e-8 relative (against
# 60-digit solves and a Levenberg-Marquardt refinement in ξ), by ~1e-4 beyond 1e15.
_SCHEDULE_COND_MAX = 1e10
_RIDGE_GRID_PER_UNIT = 8  # grid points per unit of log α when bracketing local minima
_RIDGE_GRID_MAX = 4000
_RIDGE_MAXITER = 200


def optimal_ridge(eigenvalues, theta, noise_var):
    """The kernel ridge regression ridge α that minimizes the expected risk, and that risk.

    ``R(α) = (1/n) Σ_k [w_k² θ_k² + s_k² σ²]`` with ``s = λ/(λ + α)``, ``w = 1 − s`` (the
    risk of :func:`optimal_xi` at h = s). Its slope in ``u = log α`` is
    ``(2/n) Σ s w (w θ² − s σ²)``, a sum of terms of the sign of ``α θ_k² − λ_k σ²``, so
    every minimizer lies in ``[min_k λ_k σ²/θ_k², max_k λ_k σ²/θ_k²]`` over λ_k > 0,
    θ_k ≠ 0 [derived]. The slope is scanned on a grid in log α across that bracket and each
    sign change from − to + is refined by Brent's method (at most 200 iterations); the
    smallest risk among those local minima and the bracket ends wins.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        ≥ 0.
    theta : array-like of shape (n,)
        ``Uᵀ f*``.
    noise_var : float
        σ² ≥ 0.

    Returns
    -------
    OptimalRidge
        ``alpha, risk = optimal_ridge(...)`` unpacks. Without noise the infimum is the limit
        α → 0 (``alpha=0.0``, risk ``(1/n) Σ_{λ_k = 0} θ_k²``); without signal on the
        positive eigenvalues it is α → ∞ (``alpha=inf``, risk ``(1/n) Σ θ_k²``).

    Examples
    --------
    >>> from hilbert_sd import filters
    >>> best = filters.optimal_ridge([3.0, 1.0, 0.1], [1.0, 0.5, 0.1], 0.2)
    >>> xi, _ = filters.optimal_xi([3.0, 1.0, 0.1], best.alpha, [1.0, 0.5, 0.1], 0.2)
    >>> abs(xi) < 1e-6  # one step cannot beat the best ridge
    True
    """
    import scipy.optimize  # only here: keeps importing the filters cheap

    lam, theta, noise_var = _check_risk_problem(eigenvalues, theta, noise_var)
    n = lam.shape[0]
    t2 = theta**2
    live = (lam > 0) & (t2 > 0)
    if not live.any() or noise_var == 0.0:
        # no signal where the kernel can fit: α → ∞ (the zero fit); no noise: α → 0 (the
        # projection onto the positive eigenvalues)
        alpha = np.inf if not live.any() else 0.0
        h = np.zeros(n) if alpha == np.inf else (lam > 0).astype(np.float64)
        return OptimalRidge(alpha, float(_expected_risk(h, 1.0 - h, t2, noise_var)), h)
    log_ratio = np.log(lam[live]) + math.log(noise_var) - np.log(t2[live])
    u_lo, u_hi = float(log_ratio.min()), float(log_ratio.max())

    def slope(u):
        s, w = _shrinks(lam, math.exp(u))
        return float(np.sum(s * w * (w * t2 - s * noise_var)))

    def risk(u):
        s, w = _shrinks(lam, math.exp(u))
        return float(_expected_risk(s, w, t2, noise_var))

    # directions with λ > 0 and θ = 0 pull the slope down everywhere: widen the upper end
    # until the slope turns positive (their terms decay like α⁻², the others like α⁻¹)
    for _ in range(_RIDGE_MAXITER):
        if slope(u_hi) >= 0.0 or u_hi > 700.0:
            break
        u_hi += 2.0
    candidates = [u_lo, u_hi]
    if u_hi > u_lo:
        G = int(min(_RIDGE_GRID_MAX, max(16, _RIDGE_GRID_PER_UNIT * (u_hi - u_lo))))
        grid = np.linspace(u_lo, u_hi, G + 1)
        d = np.empty(G + 1)
        rows = max(1, (1 << 20) // max(n, 1))  # blocks of ~1e6 entries: bounded memory
        for start in range(0, G + 1, rows):
            alphas = np.exp(grid[start:start + rows])[:, None]
            inv = 1.0 / (lam[None, :] + alphas)
            s_g, w_g = lam[None, :] * inv, alphas * inv
            d[start:start + rows] = np.sum(s_g * w_g * (w_g * t2 - s_g * noise_var), axis=1)
        for i in np.nonzero((d[:-1] < 0) & (d[1:] >= 0))[0]:
            if d[i + 1] == 0.0:
                candidates.append(float(grid[i + 1]))
                continue
            candidates.append(scipy.optimize.brentq(slope, grid[i], grid[i + 1], xtol=1e-14,
                                                    rtol=4 * np.finfo(float).eps,
                                                    maxiter=_RIDGE_MAXITER))
    risks = [risk(u) for u in candidates]
    u = candidates[int(np.argmin(risks))]
    alpha = math.exp(u)
    return OptimalRidge(alpha, min(risks), _shrinks(lam, alpha)[0])


