"""Self-distillation in the eigenbasis of the Gram matrix.

The functional entry point :func:`self_distill` returns a :class:`DistillationPath`: one
eigendecomposition, then the ridge and the diagonal filter of every round. The estimator
:class:`hilbert_sd.SelfDistilledKernelRidge` is a thin layer over it.
"""

import math
import warnings

import numpy as np

from hilbert_sd import _resolvent
from hilbert_sd._validation import check_scalar, check_targets
from hilbert_sd.exceptions import InfeasibleBudgetError, InfeasibleBudgetWarning, NumericalWarning
from hilbert_sd.filters import (
    _check_xi,
    _ridge_inverse,
    _sd_linear_filters,
    _sd_log_filters,
    _sd_multipliers,
)
from hilbert_sd.spectral import SpectralPath, as_spectrum

__all__ = ["DistillationPath", "self_distill"]

_CHUNK = 1024


class DistillationPath(SpectralPath):
    """The result of :func:`self_distill`: every round of a self-distillation run.

    A :class:`~hilbert_sd.spectral.SpectralPath` over rounds (an index of None means the last
    round).

    Rounds are 0-indexed; round 0 fits the original targets. ``R`` below is the number of
    rounds computed (``n_rounds + 1``, or up to and including the collapse round when the run
    went until collapse). ``m`` is the number of output columns.

    Attributes
    ----------
    spectrum : Spectrum
        The eigendecomposition (eigenvectors, clipping report, numerical rank).
    ridges : ndarray of shape (R,) or (R, m)
        Ridge α_t of every round, scikit-learn convention; ``inf`` on collapsed rounds
        (the zero function is the α → ∞ limit). Shape (R, m) for ``multioutput="independent"``.
    alphas : ndarray of shape (T,)
        Ridges of the rounds before the first collapse (all rounds if none collapsed).
    log_basis_weights : ndarray of shape (R, n) or (R, n, m)
        log diag(D_t), the diagonal map from the round-0 eigen-coefficients z_0 to those of the
        fit of round t. Without mixing D_t = B_t = A_0 ⋯ A_t (t + 1 factors). ``-inf`` where
        the weight is exactly 0 (collapsed rounds, zero eigenvalues). Weights ξ outside
        [0, 1] can make D_t negative: reading it then raises ``ValueError``.
    basis_weights : ndarray of shape (R, n) or (R, n, m)
        ``exp(log_basis_weights)``; may underflow to 0 on long runs (use the logs for ratios).
        With ξ outside [0, 1], the weights themselves (of either sign).
    coefficients : ndarray of shape (R + 1, n) or (R + 1, n, m)
        Eigen-coefficients of the targets of rounds 0, 1, …, R (row R: the targets a further
        round would fit). Without mixing row t + 1 is the fit of round t.
    collapse_round : int or None (tuple of those for ``multioutput="independent"``)
        First round whose fit is the zero function (‖y_t‖² ≤ nε), or None.
    infeasible_rounds : tuple of int
        Rounds whose budget lay below the numerical floor and were fitted with the smallest
        admissible ridge (only with ``on_infeasible="warn"``).
    epsilon, alpha : float or None
        The rule that produced the path.
    xi : ndarray of shape (R - 1,)
        ξ_1, …, ξ_{R−1}: the weight of the previous fit in the targets of rounds 1, 2, …
        (``1 − mix`` for the ground-truth mixing rule).
    mix : float
        The ground-truth weight ``1 − ξ`` when it is the same in every round (outside [0, 1]
        when given through ``xi``), NaN for a per-round schedule.
    certificate : DistillationIntervals or None
        On a spectrum that holds only the top-r eigenpairs of K (``decompose(...,
        method="randomized")``), certified intervals for the ridges, training errors and
        collapse round of the *exact* run on K, whatever the unknown tail [derived; see
        :doc:`/topics/certificates`]; the ridges above are those of the rank-r truncation.
        Computed on first access, for the budget rule without mixing; None otherwise (exact
        spectra need none; a Nyström path is exact for its own kernel K̃).
    """

    _default_index = "last"
    _point_name = "round"

    def __init__(self, spectrum, z0, ridges, log_d, status, *, epsilon, alpha, mix,
                 multioutput, y_ndim, xi=None, weights=None):
        super().__init__(spectrum, z0, y_ndim)
        self._z0 = z0  # (n, m)
        self._ridges = ridges  # (R, k) with k = 1 or m
        # log filters (R, n, k) for weights in [0, 1], else the filters themselves (they
        # change sign) in ``weights`` with log_d None
        self._log_d = log_d
        self._d = weights  # exp(log_d), on first use
        self._status = status  # (R, k)
        self.epsilon = epsilon
        self.alpha = alpha
        self.mix = mix
        self.multioutput = multioutput
        R = ridges.shape[0]
        self._per_round = xi is not None
        self.xi = np.full(R - 1, 1.0 - mix) if xi is None else np.asarray(xi, np.float64)

    def __len__(self):
        return self._ridges.shape[0]

    @property
    def certificate(self):
        if not hasattr(self, "_certificate"):
            self._certificate = self._certify()
        return self._certificate

    def _certify(self):
        """Intervals of the exact run from the top-r eigenpairs (see :attr:`certificate`)."""
        spectrum = self.spectrum
        if (not spectrum.certifiable or self.epsilon is None
                or self._per_round or self.mix != 0.0):
            return None
        from hilbert_sd.certificates import distillation_intervals

        lam = spectrum.top_eigenvalues
        keep = lam > spectrum.rank_tolerance  # numerically zero "top" pairs join the tail
        energies = self._z0 ** 2  # (r + 1, m); the last row is the tail's
        per_column = self.multioutput == "independent" and energies.shape[1] > 1
        columns = range(energies.shape[1]) if per_column else [None]
        bound = float(lam[keep][-1]) if keep.any() else float(np.finfo(float).tiny)
        out = []
        for j in columns:
            e = energies[:, j] if j is not None else energies.sum(axis=1)
            top, tail = e[:-1], float(e[-1] + e[:-1][~keep].sum())
            out.append(distillation_intervals(lam[keep], top[keep], tail, spectrum.n,
                                              self.epsilon, len(self) - 1, tail_bound=bound))
        return tuple(out) if per_column else out[0]

    # ---- shapes --------------------------------------------------------------------------
    def _out(self, arr, lead):
        """Drop the internal column axis for 1-D targets / joint filters."""
        if self._y_ndim == 1 or (self.multioutput == "joint" and lead == "filter"):
            return arr[..., 0]
        return arr

    @property
    def n_rounds(self):
        """Index of the last round computed (R - 1)."""
        return self._ridges.shape[0] - 1

    @property
    def ridges(self):
        return self._out(self._ridges, "filter")

    @property
    def log_basis_weights(self):
        if self._log_d is None:
            d = self._d
            if np.any(d < 0):
                raise ValueError(
                    "the basis weights are negative in some directions (mixing weights xi "
                    "outside [0, 1]) and have no logarithm; use basis_weights")
            with np.errstate(divide="ignore"):
                return self._out(np.log(d), "filter")
        return self._out(self._log_d, "filter")

    @property
    def basis_weights(self):
        return self._out(self._weights(), "filter").copy()

    def _weights(self):
        """exp(log D), computed once (callers must not write to it)."""
        if self._d is None:
            self._d = np.exp(self._log_d)
        return self._d

    @property
    def collapse_round(self):
        collapsed = self._status == _resolvent.STATUS_COLLAPSED  # (R, k)
        firsts = tuple(int(np.argmax(c)) if c.any() else None for c in collapsed.T)
        if self.multioutput == "independent" and self._y_ndim == 2:
            return firsts
        return firsts[0]

    @property
    def alphas(self):
        T = self.collapse_round
        if isinstance(T, tuple):
            raise AttributeError(
                "alphas is per-column for multioutput='independent'; use ridges (R, m)"
            )
        r = self.ridges
        return r.copy() if T is None else r[:T].copy()

    @property
    def infeasible_rounds(self):
        rows = np.nonzero((self._status == _resolvent.STATUS_INFEASIBLE).any(axis=1))[0]
        return tuple(int(t) for t in rows)

    def _multipliers(self):
        """(R + 1, n, k) target multipliers c_t (c_0 = 1, c_t = ξ_t D_{t-1} + 1 - ξ_t).

        The last row (a further round) uses the path's own rule: the same ``1 - mix``, or
        ξ = 1 (the fit of the last round) after a per-round schedule.
        """
        xi = np.append(self.xi, 1.0) if self._per_round else 1.0 - self.mix
        return _sd_multipliers(self._weights(), xi)

    @property
    def coefficients(self):
        return self._out(self._multipliers() * self._z0, "data")

    # ---- the SpectralPath interface ------------------------------------------------------
    def _filter_rows(self, idx):
        return self._weights()[idx]

    def _dual_coefficients(self, idx):
        """Uᵀ a_t = c_t z0 / (λ + α_t): no eigenvalue is divided by (zero on collapsed rounds)."""
        inv = _ridge_inverse(self.eigenvalues, self._ridges[idx])[0]
        return self._multipliers()[idx] * inv * self._z0

    def train_predictions(self, t=None):
        """Fit of round(s) ``t`` at the training inputs, f_t(X) (default: the last round).

        Parameters
        ----------
        t : int, array-like of int, or None
            An array gives a leading axis and costs one matrix product for all rounds.

        Returns
        -------
        ndarray of shape (n,) / (n, m), or (len(t), n[, m]) for an array of rounds
        """
        return super().train_predictions(t)

    def dual_coef(self, t=None, *, basis="training"):
        """Dual coefficients a_t of round(s) ``t``: f_t(x) = k(x, X) a_t.

        ``a_t = U diag(1 / (λ + α_t)) c_t z0`` (zero on collapsed rounds). No eigenvalue is
        ever divided by.

        Parameters
        ----------
        t : int, array-like of int, or None
            Round(s); None means the last round. An array gives a leading axis and costs one
            matrix product for all rounds.
        basis : {"training", "landmarks"}, default="training"
            ``"landmarks"`` (a Nyström spectrum only): the M coefficients β_t with
            ``f_t(x) = k(x, X_L) β_t`` on the landmarks.

        Returns
        -------
        ndarray of shape (n,) / (n, m), or (len(t), n[, m]) for an array of rounds
            (M instead of n with ``basis="landmarks"``)
        """
        return super().dual_coef(t, basis=basis)

    def predict(self, K_new, t=None, *, projected=False):
        """Function of round(s) ``t`` at new points, given ``K_new = k(X_new, X)``.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n)
            Or, with ``projected=True``, ``spectrum.project_rows(k(X_new, X))``, shared by
            every path on the same spectrum.
        t : int, array-like of int, or None
            Round(s); None means the last round. An array gives a leading axis.
        projected : bool, default=False

        Returns
        -------
        ndarray of shape (n_new,) / (n_new, m), or (len(t), n_new[, m]) for an array of rounds
        """
        return super().predict(K_new, t, projected=projected)

    def train_mse(self):
        """(1/n)‖f_t(X) − y_t‖² per round: ε on every non-collapsed constrained round (M1).

        Returns
        -------
        ndarray of shape (R,) (joint / single output) or (R, m) (independent)
        """
        # f_t(X) − y_t = −U diag(c_t α_t/(α_t + λ)) z0 (D_t = s_t c_t): no cancellation
        c = self._multipliers()[:-1]
        a = self._ridges[:, None, :]
        lam = self.eigenvalues[None, :, None]
        with np.errstate(invalid="ignore"):
            w = np.where(np.isinf(a), 1.0, a / (a + lam))
        resid = (c * w * self._z0) ** 2  # (R, n, m) by Parseval
        per_col = resid.sum(axis=1) / self.n_samples
        if self.multioutput == "joint" or self._y_ndim == 1:
            return per_col.sum(axis=1)
        return per_col

    def __repr__(self):
        rule = f"epsilon={self.epsilon:g}" if self.alpha is None else f"alpha={self.alpha:g}"
        weights = (f"mix={self.mix:g}" if np.isfinite(self.mix)
                   else f"xi=({self.xi.size} per-round weights)")
        return (
            f"DistillationPath(n={self.n_samples}, {rule}, {weights}, "
            f"rounds=0..{self.n_rounds}, collapse_round={self.collapse_round})"
        )


def self_distill(K, y, *, epsilon=None, alpha=None, n_rounds=None, mix=None, xi=None,
                 multioutput="joint", on_infeasible="raise", max_rounds=100_000,
                 on_indefinite="raise", check_input=True):
    """Self-distil kernel ridge regression in the eigenbasis of the kernel matrix.

    Round 0 fits ``y``; round t + 1 refits the predictions of round t at the training inputs
    (mixed with the original targets when ``mix > 0``, or weighted by any real ``xi``). Under
    the budget rule each round uses the ridge α_t at which the mean squared training error to
    its targets equals ``epsilon`` (the minimum-RKHS-norm fit within the budget; see
    :doc:`/theory`).

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        Kernel matrix on the training inputs: symmetric PSD. Round-off negative eigenvalues
        are clipped (reported in ``path.spectrum.n_clipped``); clearly negative ones raise.
        Never modified. Or its :class:`~hilbert_sd.spectral.Spectrum` (from
        :func:`hilbert_sd.spectral.decompose`), shared between runs.
    y : array-like of shape (n,) or (n, m)
        Targets of round 0.
    epsilon : float, optional
        Budget on the mean squared training error, > 0 (constrained rule).
    alpha : float, optional
        Fixed ridge, > 0 (fixed-ridge rule). Exactly one of ``epsilon`` and ``alpha``.
    n_rounds : int, optional
        Index of the last round (rounds 0, …, n_rounds are computed). None runs until
        collapse (constrained rule without mixing only).
    mix : float, optional
        Ground-truth weight β in [0, 1]: the targets of round t ≥ 1 are
        β y + (1 − β) f_{t−1}(X). Default 0: pure self-distillation.
    xi : float or array-like of shape (n_rounds,), optional
        Mixed self-distillation with real weights: the targets of round t ≥ 1 are
        ξ_t f_{t−1}(X) + (1 − ξ_t) y (a scalar for every round). ξ = 1 − β, but any real
        value: ξ > 1 over-weights the teacher, ξ < 0 moves toward boosting (ξ = −1 at one
        step is Tukey's twicing); see :doc:`/topics/family`. Give at most one of ``mix``
        and ``xi``; ``xi`` needs ``n_rounds``.
    multioutput : {"joint", "independent"}, default="joint"
        With 2-D ``y``: one ridge per round for the Frobenius-norm budget
        (1/n)‖F(X) − Y‖²_F ≤ ε ("joint"), or each column on its own ("independent").
    on_infeasible : {"raise", "warn"}, default="raise"
        What to do when ε lies below the floor the kernel can reach (the part of the targets
        in the numerical null space of K alone exceeds the budget): raise
        :class:`~hilbert_sd.InfeasibleBudgetError` naming the floor, or warn
        (:class:`~hilbert_sd.InfeasibleBudgetWarning`) and fit with the smallest admissible
        ridge, the numerical-rank tolerance of K.
    max_rounds : int, default=100000
        Safety cap for ``n_rounds=None``.
    on_indefinite : {"raise", "warn"}, default="raise"
        Eigenvalues of K clearly below 0 raise, or warn and are clipped to 0
        (see :func:`hilbert_sd.spectral.eigh_psd`).
    check_input : bool, default=True
        Validate the arguments. The estimators, which validated already, turn it off.

    Returns
    -------
    DistillationPath

    Raises
    ------
    ValueError
        For invalid arguments (naming the value and the allowed range).
    InfeasibleBudgetError
        When ``on_infeasible="raise"`` and a round's budget is below the floor.

    Notes
    -----
    Cost: one O(n³) eigendecomposition, one O(n²) projection, then O(n) per round. The root
    equation of every round is solved in logs, so targets and budgets anywhere in the float
    range (a ‖y‖² that overflows, an ε near the smallest double) give the ridge, not an
    overflow.
    The ε-constrained fit and its root equation are the paper's form (Mobahi et al. 2020);
    the monotonicity, bracket, collapse and infeasibility statements are derived
    (:doc:`/theory`). With weights ξ outside [0, 1] the target multipliers change sign: the
    root equation needs only their squares and is still solved in logs, and the filters are
    stored as they are (``log_basis_weights`` then refuses where they are negative).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd import self_distill
    >>> from hilbert_sd.kernels import gram
    >>> x = np.linspace(0, 1, 11)[:, None]
    >>> y = np.sin(2 * np.pi * x[:, 0])
    >>> path = self_distill(gram(x, gamma=80.0), y, epsilon=0.05)
    >>> bool(np.all(np.diff(path.alphas) > 0))
    True
    """
    if check_input:
        epsilon, alpha, mix, xi, n_rounds, max_rounds = _check_rule(
            epsilon, alpha, mix, xi, n_rounds, max_rounds, multioutput, on_infeasible)
    else:
        mix = 0.0 if mix is None else mix
        xi = None if xi is None else _check_xi(xi, n_rounds)
    spectrum = as_spectrum(K, on_indefinite=on_indefinite, check_input=check_input)
    n = spectrum.n
    y = check_targets(y, n) if check_input else np.asarray(y, dtype=np.float64)
    y_ndim = y.ndim
    Y = y.reshape(n, -1)
    z0 = spectrum.project(Y)  # (n, m): the one O(n²) projection
    lam = spectrum.eigenvalues

    # One filter for joint targets (the path depends on the summed energies only), one per
    # column for independent ones.
    if multioutput == "joint" or Y.shape[1] == 1:
        log_e0 = _resolvent.log_energies(z0)[:, None]
    else:
        with np.errstate(divide="ignore"):
            log_e0 = 2.0 * np.log(np.abs(z0))  # one column per filter: no sum to overflow
    ridges, status = _run_ridges(lam, log_e0, spectrum, epsilon=epsilon, alpha=alpha, mix=mix,
                                 xi=xi, n_rounds=n_rounds, max_rounds=max_rounds,
                                 on_infeasible=on_infeasible)
    if xi is None:
        log_d = _sd_log_filters(lam, ridges, 1.0 - mix)
        path = DistillationPath(spectrum, z0, ridges, log_d, status, epsilon=epsilon,
                                alpha=alpha, mix=mix, multioutput=multioutput, y_ndim=y_ndim)
    else:
        mix = 1.0 - float(xi[0]) if xi.size and np.all(xi == xi[0]) else (
            0.0 if xi.size == 0 else np.nan)
        if np.all((xi >= 0.0) & (xi <= 1.0)):
            log_d, d = _sd_log_filters(lam, ridges, xi), None
        else:
            log_d, d = None, _sd_linear_filters(lam, ridges, xi)
        path = DistillationPath(spectrum, z0, ridges, log_d, status, epsilon=epsilon,
                                alpha=alpha, mix=mix, multioutput=multioutput, y_ndim=y_ndim,
                                xi=xi, weights=d)
    if path.infeasible_rounds:
        t = path.infeasible_rounds[0]
        targets = path._multipliers()[t] * z0
        floor = _null_energy(_resolvent.log_energies(targets), lam, spectrum.rank_tolerance,
                             spectrum.n)
        where = (f"outside the top {spectrum.rank} eigenpairs of this {spectrum.method} "
                 "spectrum or in its numerical null space" if spectrum.is_low_rank
                 else "in its numerical null space")
        warnings.warn(
            f"epsilon={epsilon:g} is below the floor {floor:.6g} that the kernel can reach "
            f"(target energy {where}) in round(s) "
            f"{list(path.infeasible_rounds)[:5]}; fitted those with the smallest admissible "
            f"ridge {spectrum.rank_tolerance:.3g}",
            InfeasibleBudgetWarning,
            stacklevel=2,
        )
    return path


def _check_rule(epsilon, alpha, mix, xi, n_rounds, max_rounds, multioutput, on_infeasible):
    """Validate the rule of :func:`self_distill`; returns the checked values (``mix`` 0.0
    when not given, ``xi`` None or an array of shape (n_rounds,))."""
    if (epsilon is None) == (alpha is None):
        raise ValueError(
            "exactly one of epsilon (budget rule) and alpha (fixed ridge) must be given; "
            f"got epsilon={epsilon!r}, alpha={alpha!r}"
        )
    if epsilon is not None:
        epsilon = check_scalar(epsilon, "epsilon", low=0.0, low_inclusive=False)
    if alpha is not None:
        alpha = check_scalar(alpha, "alpha", low=0.0, low_inclusive=False)
    if mix is not None and xi is not None:
        raise ValueError(f"give at most one of mix (= 1 - xi, in [0, 1]) and xi (any real); "
                         f"got mix={mix!r}, xi={xi!r}")
    if xi is not None:
        if n_rounds is None:
            raise ValueError("xi needs n_rounds >= 0 (no run until collapse with mixing "
                             "weights: mixed targets need not ever collapse)")
        n_rounds = check_scalar(n_rounds, "n_rounds", low=0, integer=True)
        xi = _check_xi(xi, n_rounds)
    mix = 0.0 if mix is None else check_scalar(mix, "mix", low=0.0, high=1.0)
    if multioutput not in ("joint", "independent"):
        raise ValueError(f"multioutput={multioutput!r}; allowed: 'joint', 'independent'")
    if on_infeasible not in ("raise", "warn"):
        raise ValueError(f"on_infeasible={on_infeasible!r}; allowed: 'raise', 'warn'")
    max_rounds = check_scalar(max_rounds, "max_rounds", low=1, integer=True)
    if n_rounds is None:
        if alpha is not None:
            raise ValueError("n_rounds=None (until collapse) needs the budget rule; "
                             "with a fixed alpha give n_rounds >= 0")
        if mix > 0:
            raise ValueError(f"n_rounds=None (until collapse) needs mix=0; got mix={mix:g}, "
                             "and mixed targets need not ever collapse: give n_rounds >= 0")
    else:
        n_rounds = check_scalar(n_rounds, "n_rounds", low=0, integer=True)
    return epsilon, alpha, mix, xi, n_rounds, max_rounds


def _null_energy(log_energies, lam, rank_tol, n):
    """(1/n) × the target energy in the numerical null space of K: the lowest reachable
    mean squared training error (:doc:`/theory`, "infeasible"); ``inf`` beyond the float
    range."""
    null = log_energies[lam <= rank_tol]
    if null.size == 0 or np.all(null == -np.inf):
        return 0.0
    top = null.max()
    with np.errstate(over="ignore"):
        return float(np.exp(top + np.log(np.sum(np.exp(null - top))) - np.log(n)))


def _run_ridges(lam, log_e0, spectrum, *, epsilon, alpha, mix, n_rounds, max_rounds,
                on_infeasible, xi=None):
    """Ridges and statuses (R, k) of the recursion for the k columns of log energies.

    ``xi`` (n_rounds,): per-round weights (then ``mix`` is ignored and n_rounds is given).
    """
    n, k = spectrum.n, log_e0.shape[1]
    log_budget = math.log(n) + math.log(epsilon) if epsilon is not None else 0.0
    fixed = alpha if alpha is not None else -1.0
    rank_tol = spectrum.rank_tolerance
    infeasible_alpha = max(rank_tol, np.finfo(float).tiny) if on_infeasible == "warn" else np.nan
    if n_rounds is not None:
        total = n_rounds + 1
    else:
        # M6 (derived): the collapse round is at most ceil(r0^2 - 1); r0^2 may overflow.
        col_max = log_e0.max(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_tot = col_max + np.log(np.sum(np.exp(log_e0 - col_max), axis=0))
        log_r0_sq = float(np.max(np.where(np.isfinite(col_max), log_tot, -np.inf))) - log_budget
        if log_r0_sq >= math.log(max_rounds):
            total = max_rounds
        else:
            total = min(int(math.ceil(max(math.exp(log_r0_sq) - 1.0, 0.0))) + 2, max_rounds)
    chunks_a, chunks_s = [], []
    log_c = np.zeros_like(log_e0)
    neg_c = np.zeros(log_e0.shape, dtype=bool)
    alpha0 = np.zeros(k)
    # the weight after the last round is never used (no further round): 1 stands in
    xi_next = None if xi is None else np.append(xi, 1.0)
    done = 0
    while done < total:
        size = total if n_rounds is not None else min(_CHUNK, total - done)
        a, st, log_c, neg_c, n_done = _resolvent.run_paths(
            lam, log_e0, log_budget=log_budget, mix=mix, xi=xi_next, n_fits=size,
            fixed_alpha=fixed, rank_tol=rank_tol, infeasible_alpha=infeasible_alpha,
            log_c0=log_c, neg_c0=neg_c, alpha0=alpha0)
        stopped = np.isnan(a).any(axis=0)
        if stopped.any():
            j = int(np.argmax(stopped))
            floor = _null_energy(log_e0[:, j] + 2.0 * log_c[:, j], lam, rank_tol, n)
            where = (f"outside the top {spectrum.rank} eigenpairs of this {spectrum.method} "
                     "spectrum, or in its numerical null space" if spectrum.is_low_rank
                     else "in the numerical null space of K")
            more = " (or a larger rank)" if spectrum.is_low_rank else ""
            raise InfeasibleBudgetError(
                f"epsilon={epsilon:g} is below the floor {floor:.6g} that the kernel can reach in "
                f"round {done + int(n_done[j]) - 1} (the targets' energy {where}, eigenvalues "
                f"<= {rank_tol:.3g}); allowed: epsilon > {floor:.6g}{more}, or "
                "on_infeasible='warn' to fit with the smallest admissible ridge"
            )
        chunks_a.append(a)
        chunks_s.append(st)
        done += size
        if n_rounds is not None or (st == _resolvent.STATUS_COLLAPSED).any(axis=0).all():
            break
        alpha0 = a[-1]
    alphas = np.concatenate(chunks_a)
    status = np.concatenate(chunks_s)
    if n_rounds is None:
        collapsed = status == _resolvent.STATUS_COLLAPSED
        if collapsed.any(axis=0).all():
            end = int(np.argmax(collapsed, axis=0).max()) + 1
            alphas, status = alphas[:end], status[:end]
        else:
            warnings.warn(
                f"no collapse within max_rounds={max_rounds}; returning rounds 0..{done - 1}",
                NumericalWarning, stacklevel=3)
    return alphas, status
