"""Per-round resolvent solvers of the self-distillation recursion (private).

Everything here works on the spectrum only: the eigenvalues ``lam`` (descending, >= 0) and the
*energy* of the round-0 targets per eigen-direction, ``e0[k] = sum_j z0[k, j]**2``. Because
every round applies the same diagonal filter to every output column, the whole ε-constrained
path (ridges and filters) depends on nothing else: O(n) work per round.

Notation (theory.md §1-2): the filter of round t is ``A_t = lam / (lam + alpha_t)``; the
diagonal map from the round-0 coefficients to the fit of round t is ``D_t`` (equal to
``B_t = prod_{i<=t} A_i`` without ground-truth mixing); the targets of round t are
``c_t * z0`` with ``c_0 = 1`` and ``c_t = mix + (1 - mix) D_{t-1}``.

The root equation of round t, with ``w_k = alpha / (alpha + lam_k)`` and budget ``b = n eps``::

    g(alpha) = sum_k w_k**2 e_k = b,        e_k = c_t[k]**2 e0[k]

is solved in ``u = log(alpha)`` for ``log g(u) = log b`` by a Newton iteration safeguarded by
bisection inside a bracket (g is strictly increasing). Its derivative is a stable form with no
division by an eigenvalue: ``dg/du = 2 sum_k e_k w_k**2 (1 - w_k)``.

Two implementations: ``_path_numba`` (one fused compiled loop over rounds and eigenvalues, the
default) and ``_path_numpy`` (vectorized numpy per round), kept for the benchmark that decides
between them and as a cross-check in the tests.
"""

import math

import numba
import numpy as np

__all__ = ["STATUS_OK", "STATUS_COLLAPSED", "STATUS_INFEASIBLE", "COLLAPSE_RTOL", "run_path"]

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
        denom = alpha + lam[k]
        w = alpha / denom
        one_minus_w = lam[k] / denom
        t = e[k] * w * w
        g += t
        dg += 2.0 * t * one_minus_w
    return g, dg


@numba.njit(cache=True)
def _solve_round(lam, e, budget, rank_tol, lam_pos_min):
    """Solve g(alpha) = budget for one round.

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
    if total <= budget * (1.0 + 1e-10):
        return np.inf, 1
    if floor >= budget:
        return np.nan, 2
    r = math.sqrt(total / budget)
    # Bracket of theory.md §1 (M2), widened geometrically until it really brackets the root.
    hi = lam[0] / (r - 1.0)
    lo = lam_pos_min / (r - 1.0)
    if lo <= 0.0 or not lo < hi:
        lo = hi * 1e-3
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
def _path_numba(lam, e0, budget, mix, n_fits, fixed_alpha, rank_tol, lam_pos_min,
                infeasible_alpha, log_c0):
    """Run up to ``n_fits`` rounds; stop early at a collapse when ``mix == 0``.

    Parameters
    ----------
    lam, e0 : float64 arrays (n,)
    budget : float
        n * eps (ignored when fixed_alpha > 0).
    mix : float in [0, 1]
    n_fits : int
    fixed_alpha : float
        > 0 for the fixed-ridge rule, <= 0 for the constrained rule.
    rank_tol, lam_pos_min : float
        Numerical-zero threshold and smallest eigenvalue above it.
    infeasible_alpha : float
        Ridge used when a round is infeasible (nan: stop and report).
    log_c0 : float array (n,)
        log of the target multiplier of the first round run here (zeros for a fresh path;
        the state of the previous chunk otherwise).

    Returns
    -------
    alphas : (n_done,) ridge per round (inf on collapsed rounds)
    log_d : (n_done, n) log of the diagonal map z0 -> fit of the round
    status : (n_done,) int8
    log_c : (n,) log target multiplier of the round after the last one done (of the failing
        round itself when an infeasible round stopped the run)
    """
    n = lam.shape[0]
    alphas = np.empty(n_fits)
    log_d = np.empty((n_fits, n))
    status = np.zeros(n_fits, dtype=np.int8)
    log_c = log_c0.copy()
    e = np.empty(n)
    log_lam = np.empty(n)
    for k in range(n):
        log_lam[k] = math.log(lam[k]) if lam[k] > 0.0 else -np.inf
    log_mix = math.log(mix) if mix > 0.0 else -np.inf
    log_keep = math.log1p(-mix) if mix < 1.0 else -np.inf
    n_done = 0
    for t in range(n_fits):
        if fixed_alpha > 0.0:
            alpha = fixed_alpha
            st = 0
        else:
            for k in range(n):
                e[k] = math.exp(2.0 * log_c[k]) * e0[k]
            alpha, st = _solve_round(lam, e, budget, rank_tol, lam_pos_min)
            if st == 2:
                if infeasible_alpha != infeasible_alpha:  # nan: caller raises
                    alphas[t] = np.nan
                    status[t] = 2
                    n_done = t + 1
                    break
                alpha = infeasible_alpha
        alphas[t] = alpha
        status[t] = st
        n_done = t + 1
        if st == 1:
            for k in range(n):
                log_d[t, k] = -np.inf
        else:
            log_alpha = math.log(alpha)
            for k in range(n):
                # log A = log lam - log(lam + alpha): no division by an eigenvalue.
                log_d[t, k] = log_lam[k] - (log_alpha + math.log1p(lam[k] / alpha)) + log_c[k]
        # targets of the next round: c = mix + (1 - mix) D
        for k in range(n):
            a = log_mix
            b = log_keep + log_d[t, k]
            if a == -np.inf and b == -np.inf:
                log_c[k] = -np.inf
            elif a >= b:
                log_c[k] = a + math.log1p(math.exp(b - a))
            else:
                log_c[k] = b + math.log1p(math.exp(a - b))
        if st == 1 and mix == 0.0:
            break  # the zero function stays the answer for every later round (run_path pads)
    return alphas[:n_done], log_d[:n_done], status[:n_done], log_c


def _solve_round_numpy(lam, e, budget, rank_tol, lam_pos_min):
    """Vectorized-numpy twin of ``_solve_round`` (benchmark reference and cross-check)."""
    total = e.sum()
    if total <= budget * (1.0 + 1e-10):
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


def _path_numpy(lam, e0, budget, mix, n_fits, fixed_alpha, rank_tol, lam_pos_min,
                infeasible_alpha, log_c0):
    """Vectorized-numpy twin of ``_path_numba`` (same arguments and returns)."""
    n = lam.shape[0]
    alphas = np.empty(n_fits)
    log_d = np.empty((n_fits, n))
    status = np.zeros(n_fits, dtype=np.int8)
    log_c = log_c0.copy()
    with np.errstate(divide="ignore"):
        log_lam = np.log(lam)
        log_mix = np.log(mix)
    log_keep = np.log1p(-mix) if mix < 1.0 else -np.inf
    n_done = 0
    for t in range(n_fits):
        if fixed_alpha > 0.0:
            alpha, st = fixed_alpha, STATUS_OK
        else:
            alpha, st = _solve_round_numpy(lam, np.exp(2.0 * log_c) * e0, budget, rank_tol,
                                           lam_pos_min)
            if st == STATUS_INFEASIBLE:
                if np.isnan(infeasible_alpha):
                    alphas[t], status[t], n_done = np.nan, st, t + 1
                    break
                alpha = infeasible_alpha
        alphas[t], status[t], n_done = alpha, st, t + 1
        if st == STATUS_COLLAPSED:
            log_d[t] = -np.inf
        else:
            log_d[t] = log_lam - (np.log(alpha) + np.log1p(lam / alpha)) + log_c
        log_c = np.logaddexp(log_mix, log_keep + log_d[t])
        if st == STATUS_COLLAPSED and mix == 0.0:
            break  # the zero function stays the answer for every later round (run_path pads)
    return alphas[:n_done], log_d[:n_done], status[:n_done], log_c


def run_path(lam, e0, *, budget, mix, n_fits, fixed_alpha, rank_tol, infeasible_alpha,
             backend="numba", log_c0=None, pad=True):
    """Dispatch to a backend; see ``_path_numba`` for the arguments and the returns.

    The backends stop at a collapse without mixing (every later round is the zero function);
    with ``pad`` the collapsed rounds up to ``n_fits`` are filled in here.
    """
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    e0 = np.ascontiguousarray(e0, dtype=np.float64)
    positive = lam[lam > rank_tol]
    lam_pos_min = float(positive[-1]) if positive.size else 0.0
    if log_c0 is None:
        log_c0 = np.zeros_like(lam)
    fn = _path_numba if backend == "numba" else _path_numpy
    alphas, log_d, status, log_c = fn(
        lam, e0, float(budget), float(mix), int(n_fits), float(fixed_alpha), float(rank_tol),
        lam_pos_min, float(infeasible_alpha), np.ascontiguousarray(log_c0))
    missing = n_fits - alphas.shape[0]
    if pad and missing > 0 and status[-1] == STATUS_COLLAPSED:
        alphas = np.concatenate([alphas, np.full(missing, np.inf)])
        log_d = np.concatenate([log_d, np.full((missing, lam.shape[0]), -np.inf)])
        status = np.concatenate([status, np.full(missing, STATUS_COLLAPSED, dtype=np.int8)])
    return alphas, log_d, status, log_c
