"""Estimators that choose their budget / ridge and round, or their time, along the path.

A path already holds every round (or time) of a run, so choosing the round costs nothing
extra: GCV needs one factorization for the whole grid, exact k-fold cross-validation one per
fold (:mod:`hilbert_sd.model_selection`), where wrapping an estimator in ``GridSearchCV``
refits everything for every candidate.
"""

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from hilbert_sd.distillation import self_distill
from hilbert_sd.estimators._base import _KernelMixin
from hilbert_sd.exceptions import InfeasibleBudgetWarning
from hilbert_sd.flow import _check_method, _check_times, flow_path
from hilbert_sd.model_selection import cv_flow, cv_self_distill, default_epsilons, select_best

__all__ = ["GradientFlowKernelRegressorCV", "SelfDistilledKernelRidgeCV"]


def _check_cv(cv):
    if isinstance(cv, str):
        if cv != "gcv":
            raise ValueError(f"cv={cv!r}; allowed: 'gcv', an int >= 2, a scikit-learn "
                             "splitter or an iterable of (train, test) index pairs")
        return cv
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool) and cv < 2:
        raise ValueError(f"cv={cv!r}; allowed: 'gcv' or an int >= 2 folds")
    return cv


def _grid(values, name):
    g = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if g.ndim != 1 or g.size == 0 or not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"{name} must be a non-empty 1-D array of positive finite numbers; "
                         f"got {values!r}")
    return g


class SelfDistilledKernelRidgeCV(_KernelMixin, RegressorMixin, BaseEstimator):
    """Self-distilled kernel ridge regression with the budget (or ridge) and the round chosen
    by cross-validation along the path.

    For every budget ε of the grid (or every fixed ridge α), rounds 0..``max_rounds`` form one
    path; the score of every (ε, round) comes from one factorization in all (``cv="gcv"``) or
    one per fold (k-fold). The model is then refitted on all the data at the best (ε, round).

    Parameters
    ----------
    epsilons : array-like of shape (n_grid,), optional
        Budgets (mean squared training errors, units of y²). Default: 10 values from 1e-3 to 1
        times the variance of y (of the centred y with ``fit_intercept``), geometric. Ignored
        when ``alphas`` is given.
    max_rounds : int, default=10
        Rounds 0..max_rounds are candidates.
    alphas : array-like of shape (n_grid,), optional
        Fixed ridges instead of budgets.
    cv : "gcv", int, splitter or iterable, default="gcv"
        ``"gcv"``: generalized cross-validation of every path on the full data (one
        factorization; for the budget rule the ridges depend on y, so GCV there is a
        heuristic [derived]). An int k: exact k-fold CV (scikit-learn's ``KFold(k)``), one
        factorization per fold. Or any scikit-learn splitter / iterable of (train, test).
    mix : float, default=0.0
        Ground-truth weight β of every candidate.
    fit_intercept : bool, default=False
    kernel, gamma, degree, coef0, kernel_params, eigen_solver, store_spectrum
        As in :class:`~hilbert_sd.SelfDistilledKernelRidge`, with the exact solvers
        (``"auto"``, ``"dense"``, ``"implicit"``) only: k-fold CV factors every fold exactly.

    Attributes
    ----------
    best_epsilon_ : float or None
        The chosen budget (None with ``alphas``).
    best_alpha_ : float or None
        The chosen fixed ridge (None without ``alphas``).
    best_round_ : int
    best_score_ : float
        Mean validation MSE (GCV value with ``cv="gcv"``) of the chosen candidate.
        A round whose budget lies below the floor the kernel can reach (on the data or on a
        fold) does not exist as asked: its score and those of the later rounds built on it
        are NaN (ranked last), with one :class:`~hilbert_sd.InfeasibleBudgetWarning` for all.
    cv_results_ : dict of ndarray
        Shaped as scikit-learn's search estimators' (``params``, ``param_epsilon`` or
        ``param_alpha``, ``param_round``, ``split<i>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``); scores are negative MSE.
    alphas_ : ndarray
        Ridges of the refitted run's rounds 0..best_round_ (before any collapse).
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
    intercept_ : float or ndarray
    X_fit_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd import SelfDistilledKernelRidgeCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(0, 1, (60, 1)); y = np.sin(6 * X[:, 0]) + 0.3 * rng.standard_normal(60)
    >>> model = SelfDistilledKernelRidgeCV(max_rounds=5, cv=5, gamma=10.0).fit(X, y)
    >>> 0 <= model.best_round_ <= 5
    True
    """

    def __init__(self, epsilons=None, max_rounds=10, alphas=None, cv="gcv", mix=0.0,
                 fit_intercept=False, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, eigen_solver="auto", store_spectrum=False):
        self.epsilons = epsilons
        self.max_rounds = max_rounds
        self.alphas = alphas
        self.cv = cv
        self.mix = mix
        self.fit_intercept = fit_intercept
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.eigen_solver = eigen_solver
        self.store_spectrum = store_spectrum

    def fit(self, X, y):
        """Score every (budget or ridge, round), then refit the best on all the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, or the training kernel matrix for ``kernel="precomputed"``.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : SelfDistilledKernelRidgeCV
        """
        cv = _check_cv(self.cv)
        if not (isinstance(self.max_rounds, numbers.Integral) and self.max_rounds >= 0):
            raise ValueError(f"max_rounds={self.max_rounds!r}; allowed: an int >= 0")
        X, y = self._validate_fit(X, y)
        y, self.intercept_ = self._center(y)
        if self.alphas is not None:
            grid, name = _grid(self.alphas, "alphas"), "alpha"
        else:
            grid = default_epsilons(y) if self.epsilons is None else _grid(self.epsilons,
                                                                           "epsilons")
            name = "epsilon"
        rounds = np.arange(self.max_rounds + 1)
        K = self._get_kernel(X)  # once: the factorization and the folds share it
        spectrum = self._spectrum(X, K)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InfeasibleBudgetWarning)
            if cv == "gcv":
                scores = np.empty((1, grid.size, rounds.size))
                for i, g in enumerate(grid):
                    path = self._path(spectrum, y, name, g, self.max_rounds)
                    scores[0, i] = np.atleast_2d(path.gcv(rounds).T).sum(axis=0)
                    if path.infeasible_rounds:  # that round and every round built on it
                        scores[0, i, min(path.infeasible_rounds):] = np.nan
            else:
                res = cv_self_distill(K, y, max_rounds=self.max_rounds, cv=cv, mix=self.mix,
                                      on_infeasible="warn", on_indefinite="warn",
                                      **{name + "s": grid})
                tainted = np.logical_or.accumulate(res.infeasible, axis=-1)
                scores = np.where(tainted, np.nan, res.scores)
        self._report_infeasible(caught)
        (g_best, r_best), self.cv_results_ = select_best(
            scores, grid=grid, points=rounds, param_name=name, point_name="round")
        best = float(grid[g_best])
        self.best_epsilon_ = best if name == "epsilon" else None
        self.best_alpha_ = best if name == "alpha" else None
        self.best_round_ = int(r_best)
        self.best_score_ = float(np.nanmean(scores[:, g_best, r_best]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InfeasibleBudgetWarning)  # reported above
            path = self._path(spectrum, y, name, best, self.best_round_)
        self.alphas_ = path.alphas
        self.X_fit_, self.dual_coef_ = self._prediction_basis(X, spectrum, path,
                                                              self.best_round_)
        self.eigenvalues_ = spectrum.eigenvalues
        self._keep_spectrum(spectrum, path)
        return self

    def _path(self, spectrum, y, name, value, n_rounds):
        return self_distill(spectrum, y, n_rounds=n_rounds, mix=self.mix, on_infeasible="warn",
                            **{name: value})

    @staticmethod
    def _report_infeasible(caught):
        infeasible = [w for w in caught if issubclass(w.category, InfeasibleBudgetWarning)]
        for w in caught:
            if w not in infeasible:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if infeasible:
            warnings.warn(
                f"{len(infeasible)} candidate run(s) had a budget below the floor the kernel "
                "can reach and were fitted with the smallest admissible ridge (first: "
                f"{infeasible[0].message})", InfeasibleBudgetWarning, stacklevel=3)


class GradientFlowKernelRegressorCV(_KernelMixin, RegressorMixin, BaseEstimator):
    """Kernel gradient flow stopped at the time chosen by cross-validation along the path.

    Parameters
    ----------
    times : array-like of shape (n_times,), optional
        Candidate times (or steps with ``method="gd"``). Default: 25 times, geometric, from
        0.1 to 10⁵ times n/(η λ_max) (the time scale of the top eigen-direction), so that
        directions down to about 10⁻⁵ λ_max get fitted.
    learning_rate : float, default=1.0
    method : {"flow", "gd"}, default="flow"
    cv : "gcv", int, splitter or iterable, default="gcv"
        As in :class:`SelfDistilledKernelRidgeCV` (the flow is linear in y, so its GCV is the
        standard criterion).
    fit_intercept, kernel, gamma, degree, coef0, kernel_params, eigen_solver, store_spectrum
        As in :class:`~hilbert_sd.GradientFlowKernelRegressor`, with the exact solvers only.

    Attributes
    ----------
    best_time_ : float
    best_score_ : float
    cv_results_ : dict of ndarray
        ``param_time``, ``mean_test_score`` (negative MSE), …
    times_ : ndarray
        The candidate times.
    dual_coef_, intercept_, eigenvalues_, X_fit_, n_features_in_
    """

    def __init__(self, times=None, learning_rate=1.0, method="flow", cv="gcv",
                 fit_intercept=False, kernel="rbf", gamma=None, degree=3, coef0=1,
                 kernel_params=None, eigen_solver="auto", store_spectrum=False):
        self.times = times
        self.learning_rate = learning_rate
        self.method = method
        self.cv = cv
        self.fit_intercept = fit_intercept
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.eigen_solver = eigen_solver
        self.store_spectrum = store_spectrum

    def fit(self, X, y):
        """Score every time, then keep the best (one path on all the data).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : GradientFlowKernelRegressorCV
        """
        cv = _check_cv(self.cv)
        method = _check_method(self.method)
        X, y = self._validate_fit(X, y)
        y, self.intercept_ = self._center(y)
        K = self._get_kernel(X)  # once: the factorization and the folds share it
        spectrum = self._spectrum(X, K)
        n = spectrum.n
        eta = float(self.learning_rate)
        if self.times is None:
            lam_max = float(spectrum.eigenvalues[0])
            scale = n / (eta * lam_max) if lam_max > 0 else 1.0
            times = scale * np.geomspace(0.1, 1e5, 25)
            if method == "gd":
                times = np.unique(np.ceil(times))
        else:
            times, _ = _check_times(self.times, method)
        path = flow_path(spectrum, y, times, learning_rate=eta, method=method)
        if cv == "gcv":
            scores = np.atleast_2d(path.gcv().T).sum(axis=0)[None]
        else:
            scores = cv_flow(K, y, times, learning_rate=eta, method=method,
                             cv=cv, on_indefinite="warn").scores
        (best,), self.cv_results_ = select_best(scores, points=times, point_name="time")
        self.times_ = times
        self.best_time_ = float(times[best])
        self.best_score_ = float(np.nanmean(scores[:, best]))
        self.X_fit_, self.dual_coef_ = self._prediction_basis(X, spectrum, path, best)
        self.eigenvalues_ = spectrum.eigenvalues
        self._keep_spectrum(spectrum, path)
        return self
