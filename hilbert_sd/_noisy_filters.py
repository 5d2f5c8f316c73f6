"""Private numerics of :mod:`hilbert_sd.noisy_labels`: per-eigenvalue powers and sums.

Everything here takes validated float64 arrays. The dynamics of every linear rule, in the
eigenbasis, reduce to one scalar recursion per eigenvalue; the functions below evaluate its
closed form at integer step counts without ever dividing by an eigenvalue that may vanish.

Notation: ``w`` is the per-step contraction rate of one eigen-direction (``η λ`` for gradient
descent), the factor per step is ``ρ = 1 − w`` and ``S_t(w) = Σ_{s<t} ρ^s = (1 − ρ^t)/w``.
"""

import numpy as np

__all__ = ["geometric_sum", "geometric_sums", "one_minus_power", "power", "schedule_sums"]

# Below this |w| the power goes through log1p/expm1; above it 1 − w is exact enough.
_SMALL = 0.5


def power(w, t):
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


def one_minus_power(w, t):
    """``1 − (1 − w)**t`` without cancellation when ``w`` is small (``-expm1(t log1p(−w))``)."""
    w = np.asarray(w, dtype=np.float64)
    if np.isinf(t):
        return 1.0 - power(w, t)
    out = np.empty_like(w)
    small = np.abs(w) <= _SMALL
    with np.errstate(over="ignore", invalid="ignore"):
        out[small] = -np.expm1(t * np.log1p(-w[small]))
        out[~small] = 1.0 - np.power(1.0 - w[~small], float(t))
    return out


def geometric_sum(w, t):
    """``S_t(w) = Σ_{s=0}^{t-1} (1 − w)^s = (1 − (1 − w)^t) / w``, with the limit ``t`` at w = 0.

    ``t = inf`` gives ``1/w`` for ``0 < w < 2``, ``inf`` at ``w = 0`` and NaN where the sum
    diverges or oscillates.
    """
    w = np.asarray(w, dtype=np.float64)
    zero = w == 0.0
    safe = np.where(zero, 1.0, w)
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isinf(t):
            out = np.where((w > 0.0) & (w < 2.0), 1.0 / safe, np.nan)
            return np.where(zero, np.inf, out)
        # Both factors are relatively accurate, so the quotient is too (no cancellation).
        out = one_minus_power(w, t) / safe
    return np.where(zero, float(t), out)


def geometric_sums(w, times):
    """``S_t(w)`` for every ``t`` of ``times`` at once: shape (len(times), len(w)).

    Finite step counts are evaluated in one broadcast pass (same forms as
    :func:`geometric_sum`); ``inf`` rows take the limit of :func:`geometric_sum`.
    """
    w = np.asarray(w, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    out = np.empty((times.size, w.size))
    finite = np.isfinite(times)
    if finite.any():
        t = times[finite][:, None]
        zero = w == 0.0
        small = np.abs(w) <= _SMALL
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            num = np.where(small, -np.expm1(t * np.log1p(-np.where(small, w, 0.0))),
                           1.0 - np.power(1.0 - w, t))
            out[finite] = np.where(zero, t, num / np.where(zero, 1.0, w))
    for i in np.nonzero(~finite)[0]:
        out[i] = geometric_sum(w, np.inf)
    return out


def schedule_sums(x, b, times, *, chunk_elems=1 << 21):
    """``(1 − Π_{s<t} (1 − x b_s)) / x`` for every ``t`` in ``times``: GD with a step schedule.

    Parameters
    ----------
    x : ndarray of shape (n,)
        ``η λ``, >= 0.
    b : ndarray of shape (t_max,)
        Step multiplier of every step (``1 − a_s`` for the soft anchored rule).
    times : ndarray of shape (T,)
        Integer step counts in ``0 .. t_max``, non-decreasing.
    chunk_elems : int
        Size of the (n, steps) blocks of log-factors; the cost is O(n · t_max).

    Returns
    -------
    h : ndarray of shape (T, n)
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
