"""Per-round resolvent solvers of the self-distillation recursion (private).

Everything here works on the spectrum only: the eigenvalues ``lam`` (descending, >= 0) and the
*energy* of the round-0 targets per eigen-direction, ``e0[k] = sum_j z0[k, j]**2`` (one column
of ``e0`` per independent filter). Because every round applies the same diagonal filter to
every output column it serves, the whole ε-constrained path depends on nothing else: O(n)
work per round.

Notation (theory.md §1-2): the filter of round t is ``A_t = lam / (lam + alpha_t)``; the
diagonal map from the round-0 coefficients to the fit of round t is ``D_t`` (equal to
``B_t = prod_{i<=t} A_i`` without ground-truth mixing); the targets of round t are
``c_t * z0`` with ``c_0 = 1`` and ``c_t = mix + (1 - mix) D_{t-1}``.

The root equation of round t, with ``w_k = alpha / (alpha + lam_k)`` and budget ``b = n eps``::

    g(alpha) = sum_k w_k**2 e_k = b,        e_k = c_t[k]**2 e0[k]

is solved in ``u = log(alpha)`` for ``log g(u) = log b`` by a Newton iteration safeguarded by
bisection inside a bracket (g is strictly increasing). Its derivative is a stable form with no
division by an eigenvalue: ``dg/du = 2 sum_k e_k w_k**2 (1 - w_k)``.

The compiled kernels return the ridges only and carry the multipliers ``c`` in linear scale
(an underflowing ``c`` only drops energies far below the budget); the log filters
``log D_t``, which long runs need, are then built by :func:`log_filters` with vectorized numpy.

Two implementations of the ridge recursion: ``_paths_numba`` (one compiled loop over columns,
rounds and eigenvalues, the default) and ``_paths_numpy`` (vectorized numpy per round), kept for
the benchmark that decides between them and as a cross-check in the tests.
"""

import math

import numba
import numpy as np

__all__ = ["STATUS_OK", "STATUS_COLLAPSED", "STATUS_INFEASIBLE", "COLLAPSE_RTOL", "run_paths",
           "log_filters"]

STATUS_OK = 0
STATUS_COLLAPSED = 1
STATUS_INFEASIBLE = 2

#: ``||y_t||^2 <= n eps (1 + COLLAPSE_RTOL)`` counts as collapse: past that point the root
#: alpha_t runs off to infinity and ``||y_t|| - s`` cancels (theory.md §7).
COLLAPSE_RTOL = 1e-10

_MAX_NEWTON = 200
_MAX_EXPAND = 700


# reassociation lets LLVM vectorize the two sums; no nnan/ninf, so inf/nan still propagate
_FASTMATH = {"reassoc", "contract", "arcp", "nsz"}


@numba.njit(cache=True, fastmath=_FASTMATH)
def _g_and_slope(lam, e, alpha):
    """Return g(alpha) = sum w^2 e and dg/dlog(alpha) = 2 sum e w^2 (1 - w) in one pass."""
    g = 0.0
    dg = 0.0
    for k in range(lam.shape[0]):
        inv = 1.0 / (alpha + lam[k])
        w = alpha * inv
        one_minus_w = lam[k] * inv
        t = e[k] * w * w
        g += t
        dg += 2.0 * t * one_minus_w
    return g, dg


@numba.njit(cache=True)
def _solve_round(lam, e, budget, rank_tol, lam_pos_min, lo_hint):
    """Solve g(alpha) = budget for one round (``lo_hint``: a known lower bound, or 0).

    Returns (alpha, status): status 0 found, 1 collapse (zero function feasible),
    2 infeasible (the null-space energy alone exceeds the budget; alpha is then nan).
    """
    n = lam.shape[0]
    total = 0.0
    floor = 0.0
    for k in range(n):
        total += e[k]
        if lam[k] <= rank_tol:
            floor += e[k]
    if total <= budget * (1.0 + COLLAPSE_RTOL):
        return np.inf, 1
    if floor >= budget:
        return np.nan, 2
    r = math.sqrt(total / budget)
    # Bracket of theory.md §1 (M2), widened geometrically until it really brackets the root.
    hi = lam[0] / (r - 1.0)
    lo = lam_pos_min / (r - 1.0)
    if lo <= 0.0 or not lo < hi:
        lo = hi * 1e-3
    if lo_hint > lo and lo_hint < hi:
        lo = lo_hint  # M3 (derived): without mixing the ridge grows every round
    g_lo, _ = _g_and_slope(lam, e, lo)
    it = 0
    while g_lo > budget and it < _MAX_EXPAND:
        lo *= 0.1
        g_lo, _ = _g_and_slope(lam, e, lo)
        it += 1
        if lo < 1e-300:
            return np.nan, 2
    g_hi, _ = _g_and_slope(lam, e, hi)
    it = 0
    while g_hi < budget and it < _MAX_EXPAND:
        hi *= 10.0
        g_hi, _ = _g_and_slope(lam, e, hi)
        it += 1
    u_lo = math.log(lo)
    u_hi = math.log(hi)
    log_b = math.log(budget)
    u = 0.5 * (u_lo + u_hi)
    for _ in range(_MAX_NEWTON):
        g, dg = _g_and_slope(lam, e, math.exp(u))
        h = math.log(g) - log_b
        if h > 0.0:
            u_hi = u
        else:
            u_lo = u
        if abs(h) <= 4e-16:
            break
        step = h * g / dg if dg > 0.0 else np.inf
        u_new = u - step
        if not (u_lo < u_new < u_hi):
            u_new = 0.5 * (u_lo + u_hi)
        if abs(u_new - u) <= 1e-15 * max(1.0, abs(u)):
            u = u_new
            break
        u = u_new
    return math.exp(u), 0


@numba.njit(cache=True)
def _paths_numba(lam, e0, budget, mix, n_fits, fixed_alpha, rank_tol, lam_pos_min,
                 infeasible_alpha, c0, alpha0):
    """Ridges of up to ``n_fits`` rounds for each column of ``e0``.

    Parameters
    ----------
    lam : float64 array (n,)
    e0 : float64 array (n, k)
        Round-0 energies, one column per independent filter.
    budget : float
        n * eps (ignored when fixed_alpha > 0).
    mix : float in [0, 1]
    n_fits : int
    fixed_alpha : float
        > 0 for the fixed-ridge rule, <= 0 for the constrained rule.
    rank_tol, lam_pos_min : float
        Numerical-zero threshold and smallest eigenvalue above it.
    infeasible_alpha : float
        Ridge used when a round is infeasible (nan: stop that column and report).
    c0 : float array (n, k)
        Target multipliers of the first round run here (ones for a fresh path).
    alpha0 : float array (k,)
        Ridge of the round before (0 for a fresh path): a lower bound without mixing.

    Returns
    -------
    alphas : (n_fits, k) ridge per round (inf on collapsed rounds)
    status : (n_fits, k) int8
    c : (n, k) target multipliers of the round after the last one done (of the failing round
        when an infeasible round stopped the column)
    n_done : (k,) rounds done per column; a column stops early at a collapse without mixing
        (every later round is the zero function; the rows after it read collapsed)
    """
    n, k = e0.shape
    alphas = np.full((n_fits, k), np.inf)
    status = np.full((n_fits, k), 1, dtype=np.int8)
    c = c0.copy()
    n_done = np.zeros(k, dtype=np.int64)
    e = np.empty(n)
    for j in range(k):
        prev = alpha0[j]
        for t in range(n_fits):
            if fixed_alpha > 0.0:
                alpha = fixed_alpha
                st = 0
            else:
                for i in range(n):
                    e[i] = e0[i, j] * c[i, j] * c[i, j]
                alpha, st = _solve_round(lam, e, budget, rank_tol, lam_pos_min,
                                         prev if mix == 0.0 else 0.0)
                if st == 2:
                    if infeasible_alpha != infeasible_alpha:  # nan: caller raises
                        alphas[t, j] = np.nan
                        status[t, j] = 2
                        n_done[j] = t + 1
                        break
                    alpha = infeasible_alpha
            alphas[t, j] = alpha
            status[t, j] = st
            n_done[j] = t + 1
            if st == 1:
                for i in range(n):
                    c[i, j] = mix
                if mix == 0.0:
                    break
            else:
                for i in range(n):
                    c[i, j] = mix + (1.0 - mix) * (lam[i] / (lam[i] + alpha)) * c[i, j]
                prev = alpha
    return alphas, status, c, n_done


def _solve_round_numpy(lam, e, budget, rank_tol, lam_pos_min, lo_hint):
    """Vectorized-numpy twin of ``_solve_round`` (benchmark reference and cross-check)."""
    total = e.sum()
    if total <= budget * (1.0 + COLLAPSE_RTOL):
        return np.inf, STATUS_COLLAPSED
    if e[lam <= rank_tol].sum() >= budget:
        return np.nan, STATUS_INFEASIBLE

    def g_and_slope(alpha):
        denom = alpha + lam
        w = alpha / denom
        t = e * w * w
        return t.sum(), 2.0 * np.dot(t, lam / denom)

    r = np.sqrt(total / budget)
    hi = lam[0] / (r - 1.0)
    lo = lam_pos_min / (r - 1.0)
    if lo <= 0.0 or not lo < hi:
        lo = hi * 1e-3
    if lo_hint > lo and lo_hint < hi:
        lo = lo_hint
    while g_and_slope(lo)[0] > budget:
        lo *= 0.1
        if lo < 1e-300:
            return np.nan, STATUS_INFEASIBLE
    while g_and_slope(hi)[0] < budget:
        hi *= 10.0
    u_lo, u_hi, log_b = np.log(lo), np.log(hi), np.log(budget)
    u = 0.5 * (u_lo + u_hi)
    for _ in range(_MAX_NEWTON):
        g, dg = g_and_slope(np.exp(u))
        h = np.log(g) - log_b
        if h > 0.0:
            u_hi = u
        else:
            u_lo = u
        if abs(h) <= 4e-16:
            break
        u_new = u - h * g / dg if dg > 0.0 else np.inf
        if not (u_lo < u_new < u_hi):
            u_new = 0.5 * (u_lo + u_hi)
        if abs(u_new - u) <= 1e-15 * max(1.0, abs(u)):
            u = u_new
            break
        u = u_new
    return float(np.exp(u)), STATUS_OK


def _paths_numpy(lam, e0, budget, mix, n_fits, fixed_alpha, rank_tol, lam_pos_min,
                 infeasible_alpha, c0, alpha0):
    """Vectorized-numpy twin of ``_paths_numba`` (same arguments and returns)."""
    n, k = e0.shape
    alphas = np.full((n_fits, k), np.inf)
    status = np.full((n_fits, k), STATUS_COLLAPSED, dtype=np.int8)
    c = c0.copy()
    n_done = np.zeros(k, dtype=np.int64)
    for j in range(k):
        prev = alpha0[j]
        for t in range(n_fits):
            if fixed_alpha > 0.0:
                alpha, st = fixed_alpha, STATUS_OK
            else:
                alpha, st = _solve_round_numpy(lam, e0[:, j] * c[:, j] ** 2, budget, rank_tol,
                                               lam_pos_min, prev if mix == 0.0 else 0.0)
                if st == STATUS_INFEASIBLE:
                    if np.isnan(infeasible_alpha):
                        alphas[t, j], status[t, j], n_done[j] = np.nan, st, t + 1
                        break
                    alpha = infeasible_alpha
            alphas[t, j], status[t, j], n_done[j] = alpha, st, t + 1
            if st == STATUS_COLLAPSED:
                c[:, j] = mix
                if mix == 0.0:
                    break
            else:
                c[:, j] = mix + (1.0 - mix) * (lam / (lam + alpha)) * c[:, j]
                prev = alpha
    return alphas, status, c, n_done


def run_paths(lam, e0, *, budget, mix, n_fits, fixed_alpha, rank_tol, infeasible_alpha,
              backend="numba", c0=None, alpha0=None):
    """Dispatch to a backend; see ``_paths_numba`` for the arguments and the returns."""
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    e0 = np.ascontiguousarray(e0, dtype=np.float64)
    if e0.ndim == 1:
        e0 = e0[:, None]
    positive = lam[lam > rank_tol]
    lam_pos_min = float(positive[-1]) if positive.size else 0.0
    c0 = np.ones_like(e0) if c0 is None else np.ascontiguousarray(c0, dtype=np.float64)
    alpha0 = np.zeros(e0.shape[1]) if alpha0 is None else np.asarray(alpha0, dtype=np.float64)
    fn = _paths_numba if backend == "numba" else _paths_numpy
    return fn(lam, e0, float(budget), float(mix), int(n_fits), float(fixed_alpha),
              float(rank_tol), lam_pos_min, float(infeasible_alpha), c0, alpha0)


def log_filters(lam, alphas, mix, log_c0=None):
    """log D_t for every round and column from the ridges (vectorized numpy).

    Parameters
    ----------
    lam : ndarray of shape (n,)
    alphas : ndarray of shape (R, k)
        Ridges (inf on collapsed rounds).
    mix : float
    log_c0 : ndarray of shape (n, k), optional
        log target multipliers of the first round (0 for a fresh path).

    Returns
    -------
    ndarray of shape (R, n, k)
        ``log D_t = log A_t + log c_t``, ``-inf`` where the weight is exactly 0.
    """
    R, k = alphas.shape
    with np.errstate(divide="ignore"):
        log_lam = np.log(lam)[None, :, None]
    # alpha = inf (collapsed round) gives log A = -inf: the zero function, no special case
    log_a = log_lam - np.log(lam[None, :, None] + alphas[:, None, :])  # (R, n, k)
    log_c = np.zeros((lam.shape[0], k)) if log_c0 is None else log_c0
    if mix == 0.0:
        return np.cumsum(log_a, axis=0) + log_c
    with np.errstate(divide="ignore"):
        log_mix, log_keep = np.log(mix), np.log1p(-mix)
    out = np.empty_like(log_a)
    for t in range(R):
        out[t] = log_a[t] + log_c
        log_c = np.logaddexp(log_mix, log_keep + out[t])
    return out
