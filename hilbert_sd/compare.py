"""Self-distillation against early-stopped gradient flow at matched training error.

:doc:`/topics/gradient_flow_and_bounds`: for every self-distillation round t, find the flow time τ_t
at which early stopping reaches the same training error to the *original* labels,
(1/n)‖u(τ_t) − y_0‖² = (1/n)‖f_t(X) − y_0‖², then compare the two fits side by side: test
error, RKHS norm, effective dimension Σ_k filter[k], the number of basis functions above a
threshold, and the filter ratios. Both methods are diagonal filters on the same eigenbasis, so
one eigendecomposition serves the whole comparison.

The filter of early stopping, E_τ[k] = 1 − exp(−η τ λ_k/n), satisfies
E_τ[k]/E_τ[j] ≤ λ_k/λ_j for λ_k > λ_j at every τ [derived]; the self-distillation weights
B_t[k]/B_t[j] grow geometrically (M7) and exceed λ_k/λ_j after a few rounds. So early stopping
does not sparsify the basis as self-distillation does [paper: "early stopping is not
equivalent"; the exact form is derived].
"""

import math
import warnings

import numpy as np

from hilbert_sd._validation import as_float_array, check_kernel_rows, check_scalar, check_targets
from hilbert_sd.bounds import rkhs_norms
from hilbert_sd.distillation import DistillationPath, self_distill
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.flow import FlowPath

__all__ = ["Comparison", "filter_ratio_excess", "match_early_stopping", "matched_times"]

_METHODS = ("self_distillation", "early_stopping")
_MAX_ITER = 200


def _log_flow_error(lam2c, log_e, log_n, x):
    """log of (1/n) Σ exp(−2cτλ) e and its slope d/dlogτ, for rows of log-times x (R,).

    lam2c = 2cλ (n,), log_e = log e (n,). In logs (a logsumexp), so errors far below the
    float range (an ε of 1e-320) neither underflow nor lose their slope.
    Returns log_phi (R,), dlogphi_dx (R,).
    """
    tau = np.exp(x)
    a = tau[:, None] * lam2c[None, :]
    terms = log_e[None, :] - a
    top = terms.max(axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)  # zero labels: every term is −inf
    w = np.exp(terms - top)
    total = w.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_phi = top[:, 0] + np.log(total) - log_n
        slope = np.where(total > 0, -(w * a).sum(axis=1) / total, 0.0)
    return log_phi, slope


def matched_times(eigenvalues, z0, target_mse, *, learning_rate=1.0, n_samples=None):
    """Flow times at which gradient flow from zero reaches given training errors.

    Solves (1/n)‖u(τ) − y‖² = (1/n) Σ_k exp(−2 η τ λ_k/n) z0[k]² = target for each target:
    a strictly decreasing function of τ, from ‖y‖²/n at τ = 0 to the energy of y in the null
    space of K as τ → ∞. The roots are found together (vectorized over targets) by Newton's
    method in log τ, safeguarded by bisection inside a bracket that is valid by construction:
    τ_lo = log(‖y‖²/(n·target)) / (2ηλ_max/n) and
    τ_hi = log((‖y‖² − null)/(n·target − null)) / (2ηλ_+/n), λ_+ the smallest positive
    eigenvalue; the tolerance is on the error (relative 1e-14), not on τ.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues of K (≥ 0).
    z0 : array-like of shape (n,) or (n, m)
        Eigen-coefficients Uᵀ y of the labels (columns pooled for multi-output).
    target_mse : float or array-like of shape (R,)
        Training errors (1/n)‖u − y‖² to reach: > 0, or 0 when y = 0.
    learning_rate : float, default=1.0
        η > 0.
    n_samples : int, optional
        n of the loss (default ``len(eigenvalues)``).

    Returns
    -------
    ndarray of shape (R,) (float for a scalar target)
        τ ≥ 0; 0 where target ≥ ‖y‖²/n (the zero function already meets it); ``nan`` where
        the target is at or below the null-space floor (unreachable; warns
        :class:`~hilbert_sd.NumericalWarning`).
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if np.any(lam < 0):
        raise ValueError(f"eigenvalues contains {lam.min()!r}; allowed: >= 0")
    z0 = as_float_array(z0, "z0", ndim=(1, 2))
    if z0.shape[0] != lam.shape[0]:
        raise ValueError(f"z0 has {z0.shape[0]} rows but there are {lam.shape[0]} eigenvalues")
    e = (z0**2).sum(axis=1) if z0.ndim == 2 else z0**2
    n = lam.shape[0] if n_samples is None else check_scalar(n_samples, "n_samples", low=1,
                                                             integer=True)
    eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    scalar = np.ndim(target_mse) == 0
    target = np.atleast_1d(as_float_array(target_mse, "target_mse", ndim=(0, 1)))
    total = float(e.sum()) / n
    # 0 is reachable only by labels that are 0 already (met at τ = 0)
    bad = (target < 0) | ((target == 0) & (total > 0))
    if np.any(bad):
        raise ValueError(f"target_mse contains {target[bad][0]!r}; allowed: > 0 (or 0 for "
                         "labels that are 0)")
    positive = lam > 0
    floor = float(e[~positive].sum()) / n
    out = np.full(target.shape, np.nan)
    out[target >= total] = 0.0
    unreachable = target <= floor
    if unreachable.any():
        warnings.warn(
            f"training error {target[unreachable].min():.6g} is at or below the floor "
            f"{floor:.6g} (label energy in the null space of K) that gradient flow can reach; "
            "its matched time is nan",
            NumericalWarning, stacklevel=2)
    todo = np.nonzero((target < total) & ~unreachable)[0]
    if todo.size:
        lam_pos = lam[positive]
        lam2c = 2.0 * eta / n * lam
        tgt = target[todo]
        # ratios in logs: total / target overflows for targets near the float range's bottom
        x_lo = np.log(math.log(total) - np.log(tgt)) - math.log(2.0 * eta / n * lam_pos.max())
        x_hi = (np.log(math.log(total - floor) - np.log(tgt - floor))
                - math.log(2.0 * eta / n * lam_pos.min()))
        # keep τ = e^x finite; at e^±700 every positive direction is untouched / converged
        # for any realistic n and eigenvalues above the float range's underflow
        x_lo, x_hi = np.maximum(x_lo, -700.0), np.minimum(x_hi, 700.0)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out[todo] = np.exp(_newton_log_time(lam2c, e, n, tgt, x_lo, x_hi))
    return float(out[0]) if scalar else out


def _newton_log_time(lam2c, e, n, target, lo, hi):
    """Vectorized safeguarded Newton for log φ(e^x) = log target inside [lo, hi]."""
    log_t = np.log(target)
    with np.errstate(divide="ignore"):
        log_e = np.log(e)
    log_n = math.log(n)
    x = 0.5 * (lo + hi)
    active = np.ones(x.shape, dtype=bool)
    for _ in range(_MAX_ITER):
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        xa = x[idx]
        log_phi, slope = _log_flow_error(lam2c, log_e, log_n, xa)
        h = log_phi - log_t[idx]  # decreasing in x
        lo[idx] = np.where(h > 0, xa, lo[idx])
        hi[idx] = np.where(h > 0, hi[idx], xa)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(slope < 0, h / slope, np.inf)
        x_new = xa - step
        outside = ~((x_new > lo[idx]) & (x_new < hi[idx]))
        x_new = np.where(outside, 0.5 * (lo[idx] + hi[idx]), x_new)
        done = (np.abs(h) <= 1e-14) | (np.abs(x_new - xa) <= 1e-15 * np.maximum(1.0, np.abs(xa)))
        x[idx] = np.where(np.abs(h) <= 1e-14, xa, x_new)
        active[idx[done]] = False
    return x


def filter_ratio_excess(eigenvalues, log_filters, *, rank_tolerance=None):
    """Largest excess of a filter ratio over the eigenvalue ratio, per filter (log scale).

    ``max over k, j with λ_k > λ_j > rank_tolerance`` of
    log[(F[k]/F[j]) / (λ_k/λ_j)]. ≤ 0 means the filter never separates two directions more
    than the kernel itself (early stopping, derived); > 0 means it sparsifies beyond the
    kernel (self-distillation after a few rounds). O(n) per filter: with eigenvalues
    descending the maximum over pairs is a running maximum of log F − log λ.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Descending, ≥ 0.
    log_filters : array-like of shape (R, n) or (n,)
        log F (``-inf`` where F = 0), e.g. ``path.log_basis_weights``.
    rank_tolerance : float, optional
        Eigenvalues at or below it are left out (default: the eigensolver round-off scale
        :func:`hilbert_sd.spectral.clip_tolerance`).

    Returns
    -------
    ndarray of shape (R,) (float for 1-D input)
        Natural log of the maximal ratio excess; ``inf`` if some F[j] = 0 < F[k];
        ``nan`` when the filter is 0 on every positive direction or no pair exists.
    """
    from hilbert_sd.spectral import clip_tolerance

    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if np.any(np.diff(lam) > 0):
        raise ValueError("eigenvalues must be sorted descending")
    lf = np.asarray(log_filters, dtype=np.float64)
    one = lf.ndim == 1
    lf = np.atleast_2d(lf)
    if lf.shape[1] != lam.shape[0]:
        raise ValueError(f"log_filters has {lf.shape[1]} columns but there are "
                         f"{lam.shape[0]} eigenvalues")
    if rank_tolerance is None:
        rank_tolerance = clip_tolerance(float(lam.max()), lam.shape[0]) if lam.size else 0.0
    keep = lam > rank_tolerance
    lam_k = lam[keep]
    q = lf[:, keep] - np.log(lam_k)[None, :]
    out = np.full(lf.shape[0], np.nan)
    if lam_k.size >= 2:
        first = np.searchsorted(-lam_k, -lam_k, side="left")  # start of each run of equal λ
        valid = first > 0
        if valid.any():
            pref = np.maximum.accumulate(q, axis=1)
            prev = pref[:, np.maximum(first - 1, 0)][:, valid]  # max q over strictly larger λ
            qj = q[:, valid]
            with np.errstate(invalid="ignore"):
                diff = prev - qj  # -inf - -inf (both filters 0) is no information: nan
            diff = np.where(np.isnan(diff), -np.inf, diff)
            best = diff.max(axis=1)
            live = np.isfinite(q).any(axis=1)
            out = np.where(live, best, np.nan)
    return float(out[0]) if one else out


class Comparison:
    """Result of :func:`match_early_stopping`: a tidy table plus the filters for plotting.

    Attributes
    ----------
    table : numpy structured array of shape (2 R,)
        One row per (round, method), ``method`` in {"self_distillation", "early_stopping"}.
        Fields: ``round`` (int), ``method`` (str), ``alpha`` (ridge of the round; nan for
        early stopping), ``time`` (matched flow time τ_t; nan for self-distillation),
        ``train_mse`` ((1/n)‖f(X) − y_0‖², equal for both by construction), ``test_mse``
        (nan without test data), ``rkhs_norm_sq`` (‖f‖²_H), ``effective_dim`` (Σ_k filter[k]),
        ``n_basis`` (#{k : filter[k] ≥ threshold · max filter}), ``log_ratio_excess`` and
        ``max_ratio_excess`` (see :func:`filter_ratio_excess`; > 1 means sparser than the
        kernel), in that order.
    rounds : ndarray of shape (R,)
    alphas : ndarray of shape (R,)
        Ridge per round (inf on a collapsed round).
    flow_times : ndarray of shape (R,)
        Matched τ_t.
    eigenvalues : ndarray of shape (n,)
        Descending.
    sd_filters, flow_filters : ndarray of shape (R, n)
        diag(B_t) and E_{τ_t}: the fits' eigen-coefficients are ``filter * z0``.
    log_sd_filters, log_flow_filters : ndarray of shape (R, n)
        Their logarithms (no underflow for long runs).
    learning_rate, epsilon, threshold : float
    """

    def __init__(self, *, rounds, alphas, flow_times, eigenvalues, log_sd_filters,
                 log_flow_filters, table, learning_rate, epsilon, threshold):
        self.rounds = rounds
        self.alphas = alphas
        self.flow_times = flow_times
        self.eigenvalues = eigenvalues
        self.log_sd_filters = log_sd_filters
        self.log_flow_filters = log_flow_filters
        self.table = table
        self.learning_rate = learning_rate
        self.epsilon = epsilon
        self.threshold = threshold

    @property
    def sd_filters(self):
        return np.exp(self.log_sd_filters)

    @property
    def flow_filters(self):
        return np.exp(self.log_flow_filters)

    def records(self):
        """The table as a list of dicts (one per row), plain Python scalars."""
        names = self.table.dtype.names
        return [{k: row[k].item() for k in names} for row in self.table]

    def side_by_side(self):
        """Wide table: one row per round, ``sd_*`` and ``es_*`` columns next to each other.

        Returns
        -------
        numpy structured array of shape (R,)
            Fields ``round``, ``alpha``, ``time``, ``train_mse`` and, for each metric of
            :attr:`table`, ``sd_<metric>`` and ``es_<metric>``.
        """
        sd = self.table[self.table["method"] == _METHODS[0]]
        es = self.table[self.table["method"] == _METHODS[1]]
        metrics = ["test_mse", "rkhs_norm_sq", "effective_dim", "n_basis", "max_ratio_excess"]
        fields = [("round", np.int64), ("alpha", np.float64), ("time", np.float64),
                  ("train_mse", np.float64)]
        for m in metrics:
            dt = sd.dtype[m]
            fields += [(f"sd_{m}", dt), (f"es_{m}", dt)]
        out = np.empty(sd.shape[0], dtype=fields)
        out["round"], out["alpha"], out["time"] = sd["round"], sd["alpha"], es["time"]
        out["train_mse"] = sd["train_mse"]
        for m in metrics:
            out[f"sd_{m}"], out[f"es_{m}"] = sd[m], es[m]
        return out

    def relative_filters(self):
        """Filter curves normalized by the top direction, F[k]/F[0], and λ_k/λ_0.

        Returns
        -------
        sd, flow : ndarray of shape (R, n)
            ``nan`` on rows whose filter is 0 (collapsed round, τ = 0).
        eigenvalue_ratio : ndarray of shape (n,)
        """
        def rel(lf):
            with np.errstate(invalid="ignore"):
                d = lf - lf[:, :1]
            return np.where(np.isfinite(lf[:, :1]), np.exp(np.where(np.isnan(d), -np.inf, d)),
                            np.nan)

        return rel(self.log_sd_filters), rel(self.log_flow_filters), \
            self.eigenvalues / self.eigenvalues[0]

    def __repr__(self):
        rule = "alpha=fixed" if self.epsilon is None else f"epsilon={self.epsilon:g}"
        return (f"Comparison(rounds=0..{self.rounds[-1]}, {rule}, "
                f"learning_rate={self.learning_rate:g}, "
                f"flow_times=[{self.flow_times[0]:.4g} .. {self.flow_times[-1]:.4g}])")


def _safe_exp(x):
    with np.errstate(over="ignore"):
        return np.exp(x)


def match_early_stopping(K=None, y=None, *, epsilon=None, path=None, n_rounds=None,
                         K_test=None, y_test=None, learning_rate=1.0, threshold=1e-2):
    """Compare every self-distillation round with early-stopped gradient flow at the same
    training error to the labels.

    Parameters
    ----------
    K : array-like of shape (n, n), optional
        Training kernel matrix (not needed when ``path`` is given).
    y : array-like of shape (n,) or (n, m), optional
        Labels y_0 (not needed when ``path`` is given).
    epsilon : float, optional
        Budget of the self-distillation run (when ``path`` is not given).
    path : DistillationPath, optional
        A finished run (ε rule or fixed ridge, joint filters); reused, including its
        eigendecomposition.
    n_rounds : int, optional
        Passed to :func:`hilbert_sd.self_distill` (default: until collapse).
    K_test : array-like of shape (n_test, n), optional
        k(X_test, X) for test errors.
    y_test : array-like of shape (n_test,) or (n_test, m), optional
        Test targets (with ``K_test``).
    learning_rate : float, default=1.0
        η of the flow (τ scales as 1/η; the fits do not depend on it).
    threshold : float, default=1e-2
        Relative threshold in (0, 1] for counting basis functions.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        For inconsistent inputs, or a path with per-column filters
        (``multioutput="independent"``).

    Notes
    -----
    Per round: O(n) for the error, O(n) per Newton step for τ_t (all rounds solved together),
    O(n) for the metrics; test errors cost one (n_test × n) · (n × n) product plus
    O(n_test · n) per round. The effective dimension Σ_k filter[k] is the trace of the hat
    matrix, the degrees of freedom of a linear smoother.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.compare import match_early_stopping
    >>> from hilbert_sd.kernels import gram
    >>> x = np.linspace(0, 1, 11)[:, None]
    >>> y = np.sin(2 * np.pi * x[:, 0])
    >>> cmp = match_early_stopping(gram(x, gamma=80.0), y, epsilon=0.02)
    >>> wide = cmp.side_by_side()
    >>> bool(np.all(wide["es_max_ratio_excess"][:-1] <= 1 + 1e-12))
    True
    """
    eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    threshold = check_scalar(threshold, "threshold", low=0.0, high=1.0, low_inclusive=False)
    if path is None:
        if K is None or y is None or epsilon is None:
            raise ValueError("give either path=, or K, y and epsilon")
        path = self_distill(K, y, epsilon=epsilon, n_rounds=n_rounds)
    elif not isinstance(path, DistillationPath):
        raise ValueError(f"path must be a DistillationPath; got {type(path).__name__}")
    if path.multioutput == "independent" and np.ndim(path.ridges) == 2:
        raise ValueError("the comparison needs one filter per round: multioutput='joint'")
    spec = path.spectrum
    lam = path.eigenvalues
    n = path.n_samples
    z0 = path.coefficients[0]
    z0m = z0.reshape(lam.shape[0], -1)  # n rows, or r + 1 on a low-rank spectrum
    e0 = (z0m**2).sum(axis=1)
    if (K_test is None) != (y_test is None):
        raise ValueError("give both K_test and y_test, or neither")
    if K_test is not None:
        K_test = check_kernel_rows(K_test, n, "K_test")
        y_test = check_targets(y_test, K_test.shape[0], "y_test")
        if y_test.reshape(K_test.shape[0], -1).shape[1] != z0m.shape[1]:
            raise ValueError("y_test must have as many columns as the training targets")

    log_sd = path.log_basis_weights  # (R, n): fit of round t is exp(log_sd[t]) * z0
    R = log_sd.shape[0]
    rounds = np.arange(R)
    sd_filt = np.exp(log_sd)
    train_mse = (np.expm1(log_sd) ** 2 * e0).sum(axis=1) / n  # 1 − B without cancellation

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)  # reported below with round numbers
        tau = matched_times(lam, z0m, train_mse, learning_rate=eta, n_samples=n)
    if np.any(np.isnan(tau)):
        bad = rounds[np.isnan(tau)].tolist()
        warnings.warn(f"rounds {bad[:5]} have a training error the flow cannot reach; "
                      "their flow rows are nan", NumericalWarning, stacklevel=2)
    finite_tau = np.where(np.isnan(tau), 0.0, tau)
    flow = FlowPath(spec, z0m, 2, finite_tau, learning_rate=eta, method="flow")
    E, G = flow.filters, flow.prediction_filters
    with np.errstate(divide="ignore"):
        log_es = np.log(E)
    log_es[np.isnan(tau)] = np.nan
    # (1/n) Σ exp(−2ητλ/n) e0 from the residual filter itself (1 − E cancels for tiny errors)
    with np.errstate(divide="ignore"):
        es_train = np.exp(_log_flow_error(2.0 * eta / n * lam, np.log(e0), math.log(n),
                                          np.log(finite_tau))[0])

    # metrics
    sd_rkhs = rkhs_norms(lam, log_sd, z0m)
    es_rkhs = (E * G * e0).sum(axis=1)  # Σ E²/λ e0 without dividing by λ
    sd_dim, es_dim = sd_filt.sum(axis=1), E.sum(axis=1)

    def count(lf):
        top = lf.max(axis=1, keepdims=True)
        return np.where(np.isfinite(top[:, 0]),
                        (np.isfinite(top) & (lf >= top + math.log(threshold))).sum(axis=1), 0)

    sd_nb = count(log_sd)
    es_nb = count(np.where(np.isnan(log_es), -np.inf, log_es))
    sd_ex = filter_ratio_excess(lam, log_sd, rank_tolerance=spec.rank_tolerance)
    es_ex = filter_ratio_excess(lam, np.where(np.isnan(log_es), -np.inf, log_es),
                                rank_tolerance=spec.rank_tolerance)
    es_ex[np.isnan(tau)] = np.nan

    sd_test = es_test = np.full(R, np.nan)
    if K_test is not None:
        Yt = y_test.reshape(K_test.shape[0], -1)
        sd_pred = path.predict(K_test, rounds).reshape(R, K_test.shape[0], -1)
        es_pred = flow.predict(K_test, rounds)
        sd_test = ((sd_pred - Yt) ** 2).sum(axis=(1, 2)) / K_test.shape[0]
        es_test = ((es_pred - Yt) ** 2).sum(axis=(1, 2)) / K_test.shape[0]
        es_test[np.isnan(tau)] = np.nan

    dtype = [("round", np.int64), ("method", "U17"), ("alpha", np.float64),
             ("time", np.float64), ("train_mse", np.float64), ("test_mse", np.float64),
             ("rkhs_norm_sq", np.float64), ("effective_dim", np.float64),
             ("n_basis", np.int64), ("log_ratio_excess", np.float64),
             ("max_ratio_excess", np.float64)]
    table = np.empty(2 * R, dtype=dtype)
    sd_rows, es_rows = table[0::2], table[1::2]
    sd_rows["round"], es_rows["round"] = rounds, rounds
    sd_rows["method"], es_rows["method"] = _METHODS
    sd_rows["alpha"], es_rows["alpha"] = path.ridges, np.nan
    sd_rows["time"], es_rows["time"] = np.nan, tau
    sd_rows["train_mse"], es_rows["train_mse"] = train_mse, np.where(np.isnan(tau), np.nan,
                                                                     es_train)
    sd_rows["test_mse"], es_rows["test_mse"] = sd_test, es_test
    sd_rows["rkhs_norm_sq"], es_rows["rkhs_norm_sq"] = sd_rkhs, es_rkhs
    sd_rows["effective_dim"], es_rows["effective_dim"] = sd_dim, es_dim
    sd_rows["n_basis"], es_rows["n_basis"] = sd_nb, es_nb
    sd_rows["log_ratio_excess"], es_rows["log_ratio_excess"] = sd_ex, es_ex
    sd_rows["max_ratio_excess"] = _safe_exp(sd_ex)
    es_rows["max_ratio_excess"] = _safe_exp(es_ex)
    return Comparison(rounds=rounds, alphas=np.asarray(path.ridges, dtype=float).copy(),
                      flow_times=tau, eigenvalues=lam, log_sd_filters=log_sd,
                      log_flow_filters=log_es, table=table, learning_rate=eta,
                      epsilon=path.epsilon, threshold=threshold)
