"""Per-round ridge solver of the ε-constrained self-distillation recursion (private).

Everything here works on the spectrum only: the eigenvalues ``lam`` (descending, >= 0) and the
*log energy* of the round-0 targets per eigen-direction, ``log_e0[k] = log Σ_j z0[k, j]²`` (one
column per independent filter). Every round applies the same diagonal filter to every output
column it serves, so the whole path depends on nothing else: O(n) work per round.

Notation (see :mod:`hilbert_sd.filters`): the shrink of round t is ``s_t = lam/(lam + α_t)``;
the targets of round t are ``c_t ⊙ z0`` with ``c_0 = 1`` and
``c_{t+1} = ξ_{t+1} s_t c_t + 1 − ξ_{t+1}`` (ξ = 1 − mix for the ground-truth mixing rule;
any real ξ for mixed self-distillation). The root equation of round t, with
``w_k = α/(α + λ_k)`` and budget ``b = n ε``, is

    g(α) = Σ_k w_k² e_k = b,        e_k = c_t[k]² e0[k]

It needs only ``c_t²``: the multipliers are carried as ``log |c_t|`` and a sign (weights
outside [0, 1] make them change sign; the two terms of the update are then added with their
signs in logs).

and is solved in ``u = log α`` for ``log g(u) = log b``. Everything is evaluated in logs:
``log w_k = −softplus(log λ_k − u)`` and ``log g = logsumexp_k(log e_k + 2 log w_k)``, so
targets near the float range (‖y‖² overflowing, ε near the smallest double, ridges of 1e-160)
neither overflow nor underflow. g is strictly increasing in u, so a Newton iteration on
``log g`` safeguarded by bisection inside a bracket converges; its slope is
``d log g/du = 2 Σ_k p_k (1 − w_k)`` with ``p`` the softmax weights of the terms, a stable form
with no division by an eigenvalue. Every loop has an iteration cap.

The compiled kernel returns the ridges and statuses only; the log filters are built by
:func:`hilbert_sd.filters._sd_log_filters`. A plain numpy transcription of the recursion lives
in the test suite (``tests/naive.py``) as the reference this kernel is checked against.
"""

import math

import numba
import numpy as np

__all__ = ["STATUS_OK", "STATUS_COLLAPSED", "STATUS_INFEASIBLE", "COLLAPSE_RTOL", "run_paths",
           "log_energies"]

STATUS_OK = 0
STATUS_COLLAPSED = 1
STATUS_INFEASIBLE = 2

#: ``||y_t||^2 <= n eps (1 + COLLAPSE_RTOL)`` counts as collapse: past that point the root
#: alpha_t runs off to infinity and ``||y_t|| - s`` cancels.
COLLAPSE_RTOL = 1e-10

_MAX_NEWTON = 200
_MAX_EXPAND = 200  # bracket widening steps of a factor e^5 (a span of e^1000 > the float range)
_LOG_TOL = 4e-16


@numba.njit(cache=True)
def _softplus(x):
    """log(1 + e^x) without overflow."""
    if x > 35.0:
        return x
    if x < -35.0:
        return math.exp(x)
    return math.log1p(math.exp(x))


@numba.njit(cache=True)
def _log_g_and_slope(log_lam, log_e, u):
    """Return log g(e^u) = logsumexp(log_e + 2 log w) and d log g / du in two passes."""
    n = log_lam.shape[0]
    top = -np.inf
    for k in range(n):
        if log_e[k] == -np.inf:
            continue
        t = log_e[k] - 2.0 * _softplus(log_lam[k] - u)
        if t > top:
            top = t
    if top == -np.inf:
        return -np.inf, 0.0
    total = 0.0
    slope = 0.0
    for k in range(n):
        if log_e[k] == -np.inf:
            continue
        x = log_lam[k] - u
        p = math.exp(log_e[k] - 2.0 * _softplus(x) - top)
        total += p
        # 1 - w = λ/(α+λ) = sigmoid(log λ - u)
        one_minus_w = 1.0 / (1.0 + math.exp(-x)) if x > -700.0 else 0.0
        slope += p * one_minus_w
    return top + math.log(total), 2.0 * slope / total


# reassociation lets LLVM vectorize the two sums; no nnan/ninf, so inf/nan still propagate
_FASTMATH = {"reassoc", "contract", "arcp", "nsz"}

#: the fast linear-scale evaluation is used while the budget, relative to the largest energy,
#: stays above e^_LINEAR_RANGE: terms that underflow there are below 1e-40 of the budget
_LINEAR_RANGE = -600.0


@numba.njit(cache=True, fastmath=_FASTMATH)
def _g_and_slope_linear(lam, e_hat, alpha):
    """g(alpha) = sum w^2 e and dg/dlog(alpha) = 2 sum e w^2 (1 - w) in one pass, for
    energies scaled to at most 1 (no overflow) and a budget far above underflow."""
    g = 0.0
    dg = 0.0
    for k in range(lam.shape[0]):
        inv = 1.0 / (alpha + lam[k])
        w = alpha * inv
        t = e_hat[k] * w * w
        g += t
        dg += 2.0 * t * (lam[k] * inv)
    return g, dg


@numba.njit(cache=True)
def _eval(linear, lam, e_hat, top, log_lam, log_e, u):
    """(log g, d log g / du) at u: linear scale with the scaled energies when ``linear``,
    else the log-space sums."""
    if linear:
        g, dg = _g_and_slope_linear(lam, e_hat, math.exp(u))
        if g <= 0.0:
            return -np.inf, 0.0
        return math.log(g) + top, dg / g
    return _log_g_and_slope(log_lam, log_e, u)


@numba.njit(cache=True)
def _logsumexp(v, mask_null, log_lam, log_rank_tol):
    """logsumexp of v over all k (mask_null False) or over the null directions only."""
    top = -np.inf
    for k in range(v.shape[0]):
        if mask_null and log_lam[k] > log_rank_tol:
            continue
        if v[k] > top:
            top = v[k]
    if top == -np.inf:
        return -np.inf
    s = 0.0
    for k in range(v.shape[0]):
        if mask_null and log_lam[k] > log_rank_tol:
            continue
        s += math.exp(v[k] - top)
    return top + math.log(s)


@numba.njit(cache=True)
def _solve_round(lam, log_lam, log_e, e_hat, log_b, log_rank_tol, log_lam_pos_min, u_hint):
    """Solve log g(u) = log b for one round (``u_hint``: a known lower bound on u, or -inf).

    ``e_hat`` is work space (n,). Returns (alpha, status): status 0 found, 1 collapse (zero
    function feasible), 2 infeasible (the null-space energy alone exceeds the budget; alpha is
    then nan).
    """
    # energies relative to the largest (one exp per direction): the totals need no
    # logsumexp, and the root is found in linear arithmetic (fast) unless the budget lies so far
    # below the energies that terms near the root would underflow; then in log-space sums
    n = log_e.shape[0]
    top = -np.inf
    for k in range(n):
        if log_e[k] > top:
            top = log_e[k]
    if top == -np.inf:
        return np.inf, 1  # zero targets: the zero function fits them
    total_hat = 0.0
    floor_hat = 0.0
    for k in range(n):
        e_hat[k] = math.exp(log_e[k] - top)
        total_hat += e_hat[k]
        if log_lam[k] <= log_rank_tol:
            floor_hat += e_hat[k]
    log_total = top + math.log(total_hat)
    if log_total <= log_b + math.log1p(COLLAPSE_RTOL):
        return np.inf, 1
    linear = log_b - top > _LINEAR_RANGE
    if linear:
        log_floor = top + math.log(floor_hat) if floor_hat > 0.0 else -np.inf
    else:
        log_floor = _logsumexp(log_e, True, log_lam, log_rank_tol)
    if log_floor >= log_b:
        return np.nan, 2
    # Bracket of M2 (derived): λ_min/(r − 1) ≤ α ≤ λ_max/(r − 1), r = ‖y‖/√b, in logs:
    # log(r − 1) = log r + log1p(−1/r); widened below until it really brackets the root.
    log_r = 0.5 * (log_total - log_b)
    log_rm1 = log_r + math.log1p(-math.exp(-log_r))
    u_hi = log_lam[0] - log_rm1
    u_lo = log_lam_pos_min - log_rm1
    if not u_lo < u_hi:
        u_lo = u_hi - 7.0
    if u_hint > u_lo and u_hint < u_hi:
        u_lo = u_hint  # M3 (derived): without mixing the ridge grows every round
    h_lo, _ = _eval(linear, lam, e_hat, top, log_lam, log_e, u_lo)
    it = 0
    while h_lo > log_b and it < _MAX_EXPAND:
        u_lo -= 5.0
        h_lo, _ = _eval(linear, lam, e_hat, top, log_lam, log_e, u_lo)
        it += 1
    if h_lo > log_b:
        return np.nan, 2  # g stays above the budget as α → 0: the floor is numerically reached
    h_hi, _ = _eval(linear, lam, e_hat, top, log_lam, log_e, u_hi)
    it = 0
    while h_hi < log_b and it < _MAX_EXPAND:
        u_hi += 5.0
        h_hi, _ = _eval(linear, lam, e_hat, top, log_lam, log_e, u_hi)
        it += 1
    u = 0.5 * (u_lo + u_hi)
    for _ in range(_MAX_NEWTON):
        lg, slope = _eval(linear, lam, e_hat, top, log_lam, log_e, u)
        h = lg - log_b
        if h > 0.0:
            u_hi = u
        else:
            u_lo = u
        if abs(h) <= _LOG_TOL:
            break
        u_new = u - h / slope if slope > 0.0 else np.inf
        if not (u_lo < u_new < u_hi):
            u_new = 0.5 * (u_lo + u_hi)
        if abs(u_new - u) <= 1e-15 * max(1.0, abs(u)):
            u = u_new
            break
        u = u_new
    return math.exp(u), 0


@numba.njit(cache=True)
def _signed_log_add(la, na, lb, nb):
    """log |A + B| and the sign of A + B from log |A|, sign(A) < 0, log |B|, sign(B) < 0."""
    if lb == -np.inf:
        return la, na
    if la == -np.inf:
        return lb, nb
    top = max(la, lb)
    if na == nb:
        return top + math.log(math.exp(lb - top) + math.exp(la - top)), na
    if la == lb:
        return -np.inf, False
    low = min(la, lb)
    return top + math.log1p(-math.exp(low - top)), (na if la > lb else nb)


@numba.njit(cache=True)
def _paths(log_lam, log_e0, log_b, log_keep, keep_neg, log_rest, rest_neg, monotone, n_fits,
           fixed_alpha, log_rank_tol, log_lam_pos_min, infeasible_alpha, log_c0, neg_c0, alpha0):
    """Ridges of up to ``n_fits`` rounds for each column of ``log_e0``.

    Parameters
    ----------
    log_lam : float64 array (n,)
        log of the eigenvalues (-inf for zeros).
    log_e0 : float64 array (n, k)
        log of the round-0 energies, one column per independent filter.
    log_b : float
        log(n eps) (ignored when fixed_alpha > 0).
    log_keep, keep_neg : float64 array (n_fits,), bool array (n_fits,)
        log |ξ| and ξ < 0 for the weight ξ of the previous fit in the targets of the round
        after each round (ξ_{t+1} after round t).
    log_rest, rest_neg : float64 array (n_fits,), bool array (n_fits,)
        log |1 − ξ| and 1 − ξ < 0 for the same rounds.
    monotone : bool
        Plain self-distillation (ξ ≡ 1): the ridge grows every round (a lower bound for the
        root) and a collapsed round ends the column.
    n_fits : int
    fixed_alpha : float
        > 0 for the fixed-ridge rule, <= 0 for the constrained rule.
    log_rank_tol, log_lam_pos_min : float
        log of the numerical-zero threshold and of the smallest eigenvalue above it.
    infeasible_alpha : float
        Ridge used when a round is infeasible (nan: stop that column and report).
    log_c0, neg_c0 : float array (n, k), bool array (n, k)
        log |c| and the sign of the target multipliers of the first round run here (zeros and
        False for a fresh path).
    alpha0 : float array (k,)
        Ridge of the round before (0 for a fresh path): a lower bound without mixing.

    Returns
    -------
    alphas : (n_fits, k) ridge per round (inf on collapsed rounds)
    status : (n_fits, k) int8
    log_c, neg_c : (n, k) log |multipliers| and their signs of the round after the last one
        done (of the failing round when an infeasible round stopped the column)
    n_done : (k,) rounds done per column; a column stops early at a collapse without mixing
        (every later round is the zero function; the rows after it read collapsed)
    """
    lam = np.exp(log_lam)
    e_hat = np.empty(log_lam.shape[0])
    n, k = log_e0.shape
    # one contiguous row per column: the loops below run over eigen-directions
    le0 = np.ascontiguousarray(log_e0.T)
    log_c = np.ascontiguousarray(log_c0.T)
    neg_c = np.ascontiguousarray(neg_c0.T)
    inv_lam = np.empty(n)
    for i in range(n):
        inv_lam[i] = 1.0 / lam[i] if lam[i] > 0.0 else np.inf
    alphas = np.full((n_fits, k), np.inf)
    status = np.full((n_fits, k), 1, dtype=np.int8)
    n_done = np.zeros(k, dtype=np.int64)
    log_e = np.empty(n)
    for j in range(k):
        prev = alpha0[j]
        for t in range(n_fits):
            if fixed_alpha > 0.0:
                alpha = fixed_alpha
                st = 0
            else:
                for i in range(n):
                    log_e[i] = le0[j, i] + 2.0 * log_c[j, i]
                hint = math.log(prev) if (monotone and prev > 0.0) else -np.inf
                alpha, st = _solve_round(lam, log_lam, log_e, e_hat, log_b, log_rank_tol,
                                         log_lam_pos_min, hint)
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
                    log_c[j, i] = log_rest[t]
                    neg_c[j, i] = rest_neg[t]
                if monotone:
                    break
            elif log_rest[t] == -np.inf and log_keep[t] == 0.0 and not keep_neg[t]:
                # plain self-distillation (ξ = 1): c ← s c, log s = −log1p(α/λ) (−inf at λ = 0)
                for i in range(n):
                    log_c[j, i] -= math.log1p(alpha * inv_lam[i])
                prev = alpha
            else:
                log_alpha = math.log(alpha)
                for i in range(n):
                    log_s = -_softplus(log_alpha - log_lam[i]) if log_lam[i] > -np.inf \
                        else -np.inf
                    kept = log_keep[t] + log_s + log_c[j, i]
                    log_c[j, i], neg_c[j, i] = _signed_log_add(
                        kept, keep_neg[t] != neg_c[j, i], log_rest[t], rest_neg[t])
                prev = alpha
    return alphas, status, np.ascontiguousarray(log_c.T), np.ascontiguousarray(neg_c.T), n_done



def log_energies(z):
    """``log Σ_j z[k, j]²`` per row of ``z`` (n, m), without overflow or underflow."""
    z = np.abs(np.asarray(z, dtype=np.float64))
    top = z.max(axis=1, keepdims=True)
    safe = np.where(top > 0, top, 1.0)
    with np.errstate(divide="ignore"):
        return np.where(top[:, 0] > 0,
                        2.0 * np.log(safe[:, 0]) + np.log(np.sum((z / safe) ** 2, axis=1)),
                        -np.inf)


def run_paths(lam, log_e0, *, log_budget, mix=0.0, xi=None, n_fits, fixed_alpha, rank_tol,
              infeasible_alpha, log_c0=None, neg_c0=None, alpha0=None):
    """Ridges of the recursion; see ``_paths`` for the arguments and the returns.

    ``lam`` (n,) eigenvalues; ``log_e0`` (n,) or (n, k) log energies (:func:`log_energies`);
    ``log_budget`` = log(n ε). The targets of the round after round t weigh the previous fit
    by ``xi[t]`` (an array of shape (n_fits,), any real), or by ``1 − mix`` in every round
    (``mix`` in [0, 1]) when ``xi`` is None.

    Returns
    -------
    alphas, status, log_c, neg_c, n_done
    """
    lam = np.ascontiguousarray(lam, dtype=np.float64)
    log_e0 = np.ascontiguousarray(log_e0, dtype=np.float64)
    if log_e0.ndim == 1:
        log_e0 = log_e0[:, None]
    with np.errstate(divide="ignore"):
        log_lam = np.log(lam)
        log_rank_tol = math.log(rank_tol) if rank_tol > 0 else -np.inf
        if xi is None:
            mix = float(mix)
            # log1p(−mix) and log(mix): as accurate as the weights the user gave
            log_keep = np.full(n_fits, math.log1p(-mix) if mix < 1.0 else -np.inf)
            log_rest = np.full(n_fits, math.log(mix) if mix > 0.0 else -np.inf)
            keep_neg = np.zeros(n_fits, dtype=np.bool_)
            rest_neg = np.zeros(n_fits, dtype=np.bool_)
            monotone = mix == 0.0
        else:
            xi = np.ascontiguousarray(xi, dtype=np.float64)
            log_keep = np.log(np.abs(xi))
            log_rest = np.log(np.abs(1.0 - xi))
            keep_neg = xi < 0.0
            rest_neg = xi > 1.0
            monotone = False
    positive = lam[lam > rank_tol]
    log_lam_pos_min = float(np.log(positive[-1])) if positive.size else log_rank_tol
    if not np.isfinite(log_lam_pos_min):
        log_lam_pos_min = float(np.log(np.finfo(float).tiny))
    log_c0 = np.zeros_like(log_e0) if log_c0 is None else np.ascontiguousarray(log_c0)
    neg_c0 = (np.zeros(log_e0.shape, dtype=np.bool_) if neg_c0 is None
              else np.ascontiguousarray(neg_c0, dtype=np.bool_))
    alpha0 = np.zeros(log_e0.shape[1]) if alpha0 is None else np.asarray(alpha0, np.float64)
    return _paths(log_lam, log_e0, float(log_budget), log_keep, keep_neg, log_rest, rest_neg,
                  bool(monotone), int(n_fits), float(fixed_alpha), float(log_rank_tol),
                  log_lam_pos_min, float(infeasible_alpha), log_c0, neg_c0, alpha0)
