"""Certified intervals for a self-distillation run known only through its top-r eigenpairs.

A low-rank run (the top-r eigenpairs of K, the rest unknown) cannot give the exact ridges of
the ε-constrained recursion on the full spectrum. What it can give [derived] is, for every round
t, an interval ``[alpha_lo[t], alpha_hi[t]]`` that contains the exact ridge α_t whatever the
unknown tail is, provided that

- every tail eigenvalue lies in ``[tail_floor, tail_bound]`` (default ``[0, λ_r]``), and
- the tail carries the total target energy ``E = ‖y‖² − Σ_{k≤r} z_k²``, split among the tail
  directions in any way.

The round-t root equation is Φ_t(α) = (1/n) Σ_k w_t(λ_k; α) z_k² = ε with

    w_t(λ; α) = (α/(α+λ))² Π_{i<t} (λ/(λ+α_i))².

Facts used (all [derived], see :doc:`/topics/certificates`):

1. w_t is increasing in α and non-increasing in every earlier ridge α_i. So with intervals for
   the earlier ridges, the largest Φ_t comes from the lower ends α_i^lo, the smallest from the
   upper ends α_i^hi (for the top part, pointwise; for the tail, for every λ at once).
2. The tail part lies in ``[E · min_λ w_t, E · max_λ w_t]`` over λ in the tail range.
   ``log w_t`` is *concave in log λ* (a negative sum of softplus functions of log λ), so its
   maximum is the unique stationary point (or an end) — found here by a bracketed bisection on
   the derivative, with the tangent line at the bracket's end as a rigorous upper bound — and
   its minimum is at an end of the range. For t ≥ 1, w_t is 0 at λ = 0 and peaks *inside* the
   range: the endpoint values are not a bound (a tail concentrated at the peak violates the
   endpoint bracket by orders of magnitude).
3. The largest Φ_t gives α_t^lo, the smallest α_t^hi; ∞ when the smallest Φ_t cannot reach ε
   ("too wide"). The same extremes with α = ∞ bound ‖y_t‖², which decides collapse
   (‖y_t‖² ≤ nε, with the solver's relative tolerance); with the filters
   1 − Π_{i≤t} λ/(λ+α_i), non-increasing in λ, they bound the training error to y_0.

Everything is evaluated in logs (``log(α/(α+λ)) = −softplus(log λ − log α)``,
``log(λ/(λ+α_i)) = −softplus(log α_i − log λ)``): no eigenvalue is divided by, no product of
many factors underflows. Root finding is bracketed (expansion by e^5 and Brent in log α, each
with an iteration cap) and the returned ends are nudged outward until the bound function is
verified on the correct side of the budget.
"""

import math

import numpy as np
import scipy.optimize

from hilbert_sd._resolvent import COLLAPSE_RTOL
from hilbert_sd._validation import as_float_array, check_scalar

__all__ = ["DistillationIntervals", "distillation_intervals"]

_MAX_EXPAND = 300  # iteration cap of the derivative bracket of the tail maximization
_EXPAND_STEP = 5.0
_MAX_SPAN = 1600.0  # ridges within e^±1600 of λ_1: beyond the float range either way
_MAX_BISECT = 200
_MAX_NUDGE = 60


# ============================================================================== scalar helpers
def _softplus(z):
    """log(1 + e^z) for a float z in [-inf, inf]."""
    if z == math.inf:
        return math.inf
    if z == -math.inf:
        return 0.0
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))


def _sigmoid(z):
    """1/(1 + e^-z) without overflow, for z in [-inf, inf]."""
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log_w(x, u, us):
    """log w(e^x) = −2 softplus(x − u) − 2 Σ_i softplus(u_i − x) (u = +inf: no first factor)."""
    first = 0.0 if u == math.inf else _softplus(x - u)
    return -2.0 * (first + sum(_softplus(ui - x) for ui in us))


def _dlog_w(x, u, us):
    """d log w / d x (x = log λ), strictly decreasing in x: log w is concave in log λ."""
    first = 0.0 if u == math.inf else _sigmoid(x - u)
    return 2.0 * (sum(_sigmoid(ui - x) for ui in us) - first)


def _split_prev(log_prev):
    """Earlier ridges as log values: drop α_i = 0 (factor 1); None if some α_i = ∞ (w ≡ 0)."""
    us = []
    for ui in log_prev:
        if ui == math.inf:
            return None
        if ui != -math.inf:
            us.append(ui)
    return us


def _tail_log_max(x_lo, x_hi, u, log_prev):
    """An upper bound on max_{x ∈ [x_lo, x_hi]} log w_t(e^x), tight to round-off.

    ``x_lo`` may be -inf (tail eigenvalues down to 0). log w is concave in x, so the maximum is
    at the root of the decreasing derivative (bisection) or at an end; the tangent at the left
    end of the final bracket bounds it from above.
    """
    us = _split_prev(log_prev)
    if us is None:
        return -math.inf
    if not us:  # t = 0 (or every earlier ridge 0): w decreasing in λ (constant if u = inf)
        return _log_w(x_lo, u, us)
    if _dlog_w(x_hi, u, us) >= 0.0:
        return _log_w(x_hi, u, us)
    if x_lo > -math.inf and _dlog_w(x_lo, u, us) <= 0.0:
        return _log_w(x_lo, u, us)
    a = min(us) if u == math.inf else min(min(us), u)
    a = max(x_lo, a - 60.0)
    # make sure the derivative is positive at a (it is, by the choice above, unless x_lo cuts)
    for _ in range(_MAX_EXPAND):
        if _dlog_w(a, u, us) > 0.0:
            break
        a -= _EXPAND_STEP
    b = x_hi
    for _ in range(_MAX_BISECT):
        if b - a <= 1e-13 * max(1.0, abs(a)):
            break
        m = 0.5 * (a + b)
        if _dlog_w(m, u, us) > 0.0:
            a = m
        else:
            b = m
    # concavity: log w(x*) ≤ log w(a) + slope(a) (x* − a) ≤ log w(a) + slope(a) (b − a)
    return _log_w(a, u, us) + _dlog_w(a, u, us) * (b - a)


def _tail_log_min(x_lo, x_hi, u, log_prev):
    """min over [x_lo, x_hi] of log w_t: at an end (log w is concave in log λ)."""
    us = _split_prev(log_prev)
    if us is None:
        return -math.inf
    return min(_log_w(x_lo, u, us), _log_w(x_hi, u, us))


# ============================================================================== vector helpers
def _logsumexp(terms):
    """log Σ exp(terms) for a 1-D array (−inf if empty or all −inf)."""
    if terms.size == 0:
        return -math.inf
    m = float(np.max(terms))
    if m == -math.inf:
        return -math.inf
    return m + math.log(float(np.sum(np.exp(terms - m))))


def _log_prod(log_lam, log_prev):
    """Σ_i log(λ/(λ+α_i)) per top eigenvalue (log α_i in [-inf, inf])."""
    out = np.zeros_like(log_lam)
    for ui in log_prev:
        if ui == -math.inf:
            continue
        if ui == math.inf:
            return np.full_like(log_lam, -np.inf)
        out -= np.logaddexp(0.0, ui - log_lam)
    return out


def _log_top(log_lam, log_e, log_p, u):
    """log Σ_k e_k P_k² (α/(α+λ_k))² for the top part (u = +inf: no ridge factor)."""
    terms = log_e + 2.0 * log_p
    if u != math.inf:
        terms = terms - 2.0 * np.logaddexp(0.0, log_lam - u)
    return _logsumexp(terms)


# ============================================================================== the recursion
def _solve_root(log_bound, log_b, u0, *, side):
    """Root in u = log α of the non-decreasing ``log_bound(u) = log_b``.

    ``side="lo"``: a u at or below the root with log_bound(u) < log_b verified (0.0 for α when no such u exists in the float
    range). ``side="hi"``: a u at or above the root with log_bound(u) ≥ log_b verified.
    The caller guarantees log_bound(+inf) > log_b.
    """
    def f(u):
        v = log_bound(u) - log_b
        return max(v, -1e300)

    a = b = u0
    fa = fb = f(u0)
    step = _EXPAND_STEP
    while fa >= 0.0 and u0 - a < _MAX_SPAN:  # doubling steps: a dozen evaluations at most
        a -= step
        step *= 2.0
        fa = f(a)
    if fa >= 0.0:  # reaches the budget at every α in the float range
        return -math.inf if side == "lo" else a
    step = _EXPAND_STEP
    while fb < 0.0 and b - u0 < _MAX_SPAN:
        b += step
        step *= 2.0
        fb = f(b)
    if fb < 0.0:
        return b if side == "lo" else math.inf
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    root = scipy.optimize.brentq(f, a, b, xtol=1e-13, rtol=4 * np.finfo(float).eps, maxiter=300)
    step = 2e-13 + 8.0 * np.finfo(float).eps * abs(root)  # just past brentq's tolerance
    for _ in range(_MAX_NUDGE):
        cand = root - step if side == "lo" else root + step
        val = f(cand)
        if (side == "lo" and val < 0.0) or (side == "hi" and val >= 0.0):
            return cand
        step *= 4.0
    return a if side == "lo" else b


def _run(top_eigenvalues, top_energies, tail_energy, n_samples, epsilon, n_rounds, tail_bound,
         tail_floor, *, tail_max=_tail_log_max, tail_min=_tail_log_min):
    """The certificate recursion on validated inputs; returns the raw arrays (a dict).

    ``tail_max``/``tail_min`` compute the extremes of log w_t over the tail range (the test
    suite swaps in the endpoint-only bracket to show that it fails).
    """
    log_lam = np.log(top_eigenvalues)
    with np.errstate(divide="ignore"):
        log_e = np.log(top_energies)
        log_E = math.log(tail_energy) if tail_energy > 0.0 else -math.inf
        x_lo = math.log(tail_floor) if tail_floor > 0.0 else -math.inf
    x_hi = math.log(tail_bound)
    b = n_samples * epsilon
    log_b = math.log(b)
    log_b_collapse = log_b + math.log1p(COLLAPSE_RTOL)
    u0 = float(log_lam[0])
    R = n_rounds + 1
    ulo = np.full(R, np.nan)  # log α_lo
    uhi = np.full(R, np.nan)
    log_n_lo = np.full(R, np.nan)  # log ‖y_t‖² bounds
    log_n_hi = np.full(R, np.nan)
    for t in range(R):
        prev_lo, prev_hi = list(ulo[:t]), list(uhi[:t])
        p_lo = _log_prod(log_lam, prev_lo)  # largest products (smallest earlier ridges)
        p_hi = _log_prod(log_lam, prev_hi)

        def g_max(u, p=p_lo, prev=prev_lo):
            return float(np.logaddexp(_log_top(log_lam, log_e, p, u),
                                      log_E + tail_max(x_lo, x_hi, u, prev)))

        def g_min(u, p=p_hi, prev=prev_hi):
            return float(np.logaddexp(_log_top(log_lam, log_e, p, u),
                                      log_E + tail_min(x_lo, x_hi, u, prev)))

        # ‖y_t‖² = Φ_t(∞)·n: the same extremes with no ridge factor
        log_n_hi[t] = g_max(math.inf)
        log_n_lo[t] = g_min(math.inf)
        if log_n_hi[t] <= log_b_collapse:  # collapsed in every admissible scenario
            ulo[t] = uhi[t] = math.inf
            continue
        ulo[t] = _solve_root(g_max, log_b, u0, side="lo")
        if log_n_lo[t] <= log_b_collapse:  # collapse possible: no upper end
            uhi[t] = math.inf
        else:
            uhi[t] = _solve_root(g_min, log_b, u0, side="hi")
    with np.errstate(over="ignore"):
        alpha_lo, alpha_hi = np.exp(ulo), np.exp(uhi)
    # training error to y_0 of the fit of round t: (1/n) Σ e_k (1 − Π_{i≤t} λ_k/(λ_k+α_i))²;
    # the filter is non-increasing in λ and non-decreasing in every α_i
    label_lo = np.empty(R)
    label_hi = np.empty(R)
    for t in range(R):
        lo_terms, hi_terms = [], []
        for ridges_u, terms, x_tail in ((ulo[:t + 1], lo_terms, x_hi),
                                         (uhi[:t + 1], hi_terms, x_lo)):
            lp_top = _log_prod(log_lam, list(ridges_u))
            terms.append(log_e + 2.0 * _log_one_minus_exp(lp_top))
            lp_tail = _log_prod(np.array([x_tail]), list(ridges_u))
            terms.append(np.array([log_E]) + 2.0 * _log_one_minus_exp(lp_tail))
        label_lo[t] = math.exp(float(_logsumexp(np.concatenate(lo_terms)))) / n_samples
        label_hi[t] = math.exp(float(_logsumexp(np.concatenate(hi_terms)))) / n_samples
    return {
        "alpha_lo": alpha_lo, "alpha_hi": alpha_hi,
        "target_mse_lo": np.exp(log_n_lo) / n_samples,
        "target_mse_hi": np.exp(log_n_hi) / n_samples,
        "label_mse_lo": label_lo, "label_mse_hi": label_hi,
        "collapse_possible": log_n_lo <= log_b_collapse,
        "collapse_certain": log_n_hi <= log_b_collapse,
    }


def _log_one_minus_exp(log_p):
    """log(1 − e^{log_p}) for log_p ≤ 0 (−inf where log_p = 0)."""
    log_p = np.minimum(log_p, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(log_p > -math.log(2.0), np.log(-np.expm1(log_p)),
                        np.log1p(-np.exp(log_p)))


# ============================================================================== the result
class DistillationIntervals:
    """Certified intervals of a self-distillation run from its top-r eigenpairs.

    Returned by :func:`distillation_intervals`. Rounds are 0-indexed, ``R = n_rounds + 1``.
    Every interval holds for *every* full spectrum compatible with the inputs (any tail
    eigenvalues in the tail range, any split of the tail energy) [derived].

    Attributes
    ----------
    alpha_lo, alpha_hi : ndarray of shape (R,)
        Ridge interval of every round (scikit-learn convention). ``alpha_hi`` is ``inf``
        when the interval is too wide (the smallest admissible Φ_t never reaches ε, e.g.
        because collapse is possible). On rounds that have certainly collapsed both ends are
        ``inf``, the convention of :attr:`hilbert_sd.DistillationPath.ridges`.
    too_wide : ndarray of bool, shape (R,)
        ``alpha_hi`` is infinite on a round that has not certainly collapsed: no finite upper
        bound exists from what is known.
    target_mse_lo, target_mse_hi : ndarray of shape (R,)
        Bounds on (1/n)‖y_t‖², the mean square of round t's targets (the collapse test:
        round t collapses iff this is ≤ ε, up to the solver's relative tolerance).
    train_mse_lo, train_mse_hi : ndarray of shape (R,)
        Bounds on (1/n)‖f_t(X) − y_t‖², as :meth:`hilbert_sd.DistillationPath.train_mse`
        (ε on non-collapsed rounds, (1/n)‖y_t‖² on collapsed ones).
    label_mse_lo, label_mse_hi : ndarray of shape (R,)
        Bounds on (1/n)‖f_t(X) − y_0‖², the training error of round t's fit to the labels.
    collapse_possible, collapse_certain : ndarray of bool, shape (R,)
        Whether some / every admissible spectrum has collapsed by round t.
    earliest_collapse, latest_collapse : int or None
        The collapse round T lies in ``[earliest_collapse, latest_collapse]``.
        ``earliest_collapse is None``: certified no collapse in rounds 0..n_rounds.
        ``latest_collapse is None``: collapse within the rounds computed is not certain.
    epsilon, n_samples, tail_energy, tail_bound, tail_floor, rank
        The inputs.
    """

    def __init__(self, raw, *, epsilon, n_samples, tail_energy, tail_bound, tail_floor, rank):
        for key, value in raw.items():
            setattr(self, key, value)
        self.epsilon = epsilon
        self.n_samples = n_samples
        self.tail_energy = tail_energy
        self.tail_bound = tail_bound
        self.tail_floor = tail_floor
        self.rank = rank
        certain, possible = self.collapse_certain, self.collapse_possible
        self.too_wide = np.isinf(self.alpha_hi) & ~certain
        cap = epsilon * (1.0 + COLLAPSE_RTOL)
        self.train_mse_lo = np.where(possible, np.minimum(epsilon, self.target_mse_lo), epsilon)
        self.train_mse_hi = np.where(
            certain, np.minimum(self.target_mse_hi, cap),
            np.where(possible, np.maximum(epsilon, np.minimum(self.target_mse_hi, cap)),
                     epsilon))
        self.earliest_collapse = int(np.argmax(possible)) if possible.any() else None
        self.latest_collapse = int(np.argmax(certain)) if certain.any() else None

    @property
    def n_rounds(self):
        """Index of the last round."""
        return self.alpha_lo.size - 1

    @property
    def collapse_decided(self):
        """True when the collapse round is known exactly, or no collapse is certified."""
        return self.earliest_collapse == self.latest_collapse

    @property
    def relative_width(self):
        """(alpha_hi − alpha_lo)/alpha_lo per round: ``inf`` when too wide (or alpha_lo = 0),
        NaN on certainly collapsed rounds."""
        lo, hi = self.alpha_lo, self.alpha_hi
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(np.isinf(hi), np.inf, (hi - lo) / lo)
        return np.where(self.collapse_certain, np.nan, w)

    @property
    def median_relative_width(self):
        """Median of :attr:`relative_width` over the rounds not certainly collapsed (NaN if
        none)."""
        w = self.relative_width[~self.collapse_certain]
        return float(np.median(w)) if w.size else math.nan

    def contains(self, ridges, *, rtol=1e-9):
        """Whether ``ridges`` (e.g. ``path.ridges`` of the exact run, ``inf`` on collapsed
        rounds) lie inside the intervals, per round, with a relative slack ``rtol``."""
        r = np.asarray(ridges, dtype=np.float64)[: self.alpha_lo.size]
        lo, hi = self.alpha_lo[: r.size], self.alpha_hi[: r.size]
        with np.errstate(invalid="ignore"):
            return (r >= lo * (1.0 - rtol)) & (r <= hi * (1.0 + rtol))

    def _collapse_text(self):
        e, last = self.earliest_collapse, self.latest_collapse
        if e is None:
            return f"no collapse in rounds 0..{self.n_rounds} (certified)"
        if e == last:
            return f"at round {e} (certified)"
        if last is None:
            return (f"cannot be decided: round {e} at the earliest, possibly none within "
                    f"rounds 0..{self.n_rounds}")
        return f"cannot be decided: between round {e} and round {last}"

    def __repr__(self):
        return (f"DistillationIntervals(rank={self.rank}, n={self.n_samples}, "
                f"epsilon={self.epsilon:g}, rounds=0..{self.n_rounds}, "
                f"too_wide={int(self.too_wide.sum())}, "
                f"median_relative_width={self.median_relative_width:.3g})")

    def summary(self):
        """A short table: one line per round, then the collapse verdict."""
        lines = [repr(self), f"{'round':>5}  {'alpha_lo':>12}  {'alpha_hi':>12}  {'rel.width':>9}"
                 f"  {'mse to y0':>25}  note"]
        rw = self.relative_width
        for t in range(self.alpha_lo.size):
            if self.collapse_certain[t]:
                note = "collapsed"
            elif self.too_wide[t]:
                note = "too wide" + (" (collapse possible)" if self.collapse_possible[t] else "")
            else:
                note = ""
            if self.alpha_lo[t] == 0.0:
                note = "no lower bound" + (
                    "; " + note if note else "")
            lines.append(
                f"{t:>5}  {self.alpha_lo[t]:>12.5g}  {self.alpha_hi[t]:>12.5g}  {rw[t]:>9.3g}  "
                f"[{self.label_mse_lo[t]:.4g}, {self.label_mse_hi[t]:.4g}]".ljust(76) + note)
        lines.append("collapse: " + self._collapse_text())
        return "\n".join(lines)


def distillation_intervals(top_eigenvalues, top_energies, tail_energy, n_samples, epsilon,
                           n_rounds=5, *, tail_bound=None, tail_floor=0.0):
    """Certified ridge, error and collapse intervals of ε-constrained self-distillation from
    the top-r eigenpairs only [derived].

    Parameters
    ----------
    top_eigenvalues : array-like of shape (r,)
        λ_1 ≥ … ≥ λ_r > 0, the largest eigenvalues of the (unnormalized) kernel matrix.
    top_energies : array-like of shape (r,)
        z_k² = (u_kᵀ y)² ≥ 0, the target energy in those directions (summed over output
        columns for the joint multi-output rule).
    tail_energy : float
        E = ‖y‖² − Σ_{k≤r} z_k² ≥ 0, the energy in all other directions together.
    n_samples : int
        n (the budget is b = nε).
    epsilon : float
        Budget on the mean squared training error, > 0.
    n_rounds : int, default=5
        Index of the last round (rounds 0, …, n_rounds).
    tail_bound : float, optional
        Upper bound on every tail eigenvalue, > 0. Default λ_r.
    tail_floor : float, default=0.0
        Lower bound on every tail eigenvalue, in [0, tail_bound] (a known floor tightens the
        round-0 lower end; 0 is always valid for a PSD kernel).

    Returns
    -------
    DistillationIntervals

    Notes
    -----
    The exact ridge α_t of the run on the full spectrum lies in ``[alpha_lo[t], alpha_hi[t]]``
    for every full spectrum whose tail eigenvalues lie in ``[tail_floor, tail_bound]`` and
    carry the energy ``tail_energy`` in any split. The tail's contribution is bounded through
    the maximum and minimum of w_t(λ) over the tail range; for t ≥ 1 the maximum is inside the
    range (w_t is 0 at λ = 0), found by a bounded maximization of the concave log w_t(e^x),
    never by the endpoint values. Cost: O(r) per evaluation, a few hundred evaluations per
    round.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.certificates import distillation_intervals
    >>> lam = np.array([10.0, 5.0, 2.0])
    >>> cert = distillation_intervals(lam, [4.0, 2.0, 1.0], tail_energy=0.05, n_samples=20,
    ...                               epsilon=0.02, n_rounds=3)
    >>> bool(np.all(cert.alpha_lo <= cert.alpha_hi))
    True
    """
    lam = as_float_array(top_eigenvalues, "top_eigenvalues", ndim=1)
    e = as_float_array(top_energies, "top_energies", ndim=1)
    if e.shape != lam.shape:
        raise ValueError(f"top_energies has shape {e.shape} but top_eigenvalues has shape "
                         f"{lam.shape}; they must match")
    if np.any(lam <= 0.0):
        raise ValueError(f"top_eigenvalues must be > 0; smallest is {lam.min():g}")
    if np.any(np.diff(lam) > 0.0):
        raise ValueError("top_eigenvalues must be sorted descending")
    if np.any(e < 0.0):
        raise ValueError(f"top_energies must be >= 0; smallest is {e.min():g}")
    tail_energy = check_scalar(tail_energy, "tail_energy", low=0.0)
    n_samples = check_scalar(n_samples, "n_samples", low=lam.size, integer=True)
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1; got {n_samples}")
    epsilon = check_scalar(epsilon, "epsilon", low=0.0, low_inclusive=False)
    n_rounds = check_scalar(n_rounds, "n_rounds", low=0, integer=True)
    tail_bound = float(lam[-1]) if tail_bound is None else check_scalar(
        tail_bound, "tail_bound", low=0.0, low_inclusive=False)
    tail_floor = check_scalar(tail_floor, "tail_floor", low=0.0, high=tail_bound)
    raw = _run(lam, e, tail_energy, n_samples, epsilon, n_rounds, tail_bound, tail_floor)
    return DistillationIntervals(raw, epsilon=epsilon, n_samples=n_samples,
                                 tail_energy=tail_energy, tail_bound=tail_bound,
                                 tail_floor=tail_floor, rank=lam.size)
