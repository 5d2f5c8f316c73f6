"""The self-distillation estimators (scikit-learn compatible), thin layers over
:func:`hilbert_sd.self_distill`."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from hilbert_sd.distillation import self_distill
from hilbert_sd.estimators._base import _KernelMixin
from hilbert_sd.exceptions import CollapseWarning

__all__ = ["SelfDistilledKernelRidge"]

#: the budget when neither epsilon nor alpha is given
_DEFAULT_EPSILON = 0.01


class SelfDistilledKernelRidge(_KernelMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression self-distilled for ``n_rounds`` rounds.

    Round 0 fits ``y``; round t + 1 refits the predictions of round t at the training inputs
    (mixed with ``y`` when ``mix > 0``). Under the budget rule (``alpha=None``) every round
    uses the ridge at which the mean squared training error to its targets equals
    ``epsilon``; the ridge grows every round until the fit collapses to zero
    (Mobahi, Farajtabar & Bartlett 2020; growth and collapse statements derived in
    :doc:`/theory`). One eigendecomposition of the training kernel serves every round.

    Parameters
    ----------
    epsilon : float, optional
        Budget on the mean squared training error of every round (> 0); 0.01 when neither
        ``epsilon`` nor ``alpha`` is given.
    alpha : float, optional
        Fixed ridge (> 0) for every round, scikit-learn's convention ((K + αI) a = y).
        Give at most one of ``epsilon`` and ``alpha`` (both raise ``ValueError``, as in
        :func:`hilbert_sd.self_distill`).
    n_rounds : int, default=1
        Index of the last round: ``predict`` is the function of round ``n_rounds``;
        ``staged_predict`` yields rounds 0, …, n_rounds.
    mix : float, default=0.0
        Ground-truth weight β in [0, 1] of the targets of rounds t ≥ 1.
    kernel : str or callable, default="rbf"
        "linear", "polynomial", "rbf", "laplacian", "arccos", "ntk", "precomputed" or a
        callable ``k(X, Y) -> ndarray``.
    gamma : float, optional
        Kernel coefficient of rbf, laplacian and polynomial (default 1 / n_features).
    degree : int, default=3
        Degree of the polynomial kernel.
    coef0 : float, default=1
        Independent term of the polynomial kernel.
    kernel_params : dict, optional
        Further kernel parameters (e.g. ``{"depth": 2}`` for "ntk").
    fit_intercept : bool, default=False
        Centre y before fitting and add its mean back to every prediction (ε is then a budget
        on the centred targets).
    eigen_solver : {"auto", "dense", "implicit", "randomized", "nystrom"}, default="auto"
        Backend of the one factorization (:func:`hilbert_sd.spectral.decompose`), as in
        scikit-learn's ``KernelPCA``: ``"auto"`` is exact (``"implicit"`` when it fits in
        memory, else ``"dense"``), or ``"randomized"`` when ``n_components`` is given.
        ``"randomized"`` keeps the top ``n_components`` eigenpairs of the kernel (from X, the
        n × n matrix is never stored; ``certificate_`` then bounds the exact run);
        ``"nystrom"`` is the exact spectrum of the Nyström kernel on ``n_components``
        landmarks (``X_fit_`` and ``dual_coef_`` are then the landmarks and their M
        coefficients).
    n_components : int, optional
        Rank of the low-rank solvers (eigenpairs, or landmarks); None for the exact ones.
    random_state : int, optional
        Seed of the low-rank solvers (default 0: reproducible).
    verbose : bool, default=False
        Report the factorization (and the progress of the low-rank passes) on stderr.
    store_spectrum : bool, default=False
        Keep the factorization (``spectrum_``, ``path_``) after ``fit``. Predictions need only
        ``X_fit_`` and ``dual_coef_``, so by default a fitted model pickles without the
        n × n eigenvectors.

    Attributes
    ----------
    intercept_ : float or ndarray of shape (n_targets,)
        Mean of y with ``fit_intercept``, else 0.

    alphas_ : ndarray of shape (T,)
        Ridge of each non-collapsed round (scikit-learn convention).
    collapse_round_ : int or None
        First round whose fit is the zero function, or None.
    basis_weights_ : ndarray of shape (n_rounds + 1, n_samples)
        diag(B_t) per round, eigen-order descending (with mixing: the diagonal map from the
        eigen-coefficients of ``y`` to those of the fit of round t).
    eigenvalues_ : ndarray of shape (n_samples,)
        Eigenvalues of the training kernel matrix, descending.
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        Dual coefficients of the last round: ``f(x) = k(x, X_fit_) @ dual_coef_``
        (n_components rows with ``eigen_solver="nystrom"``).
    dual_coefs_ : ndarray of shape (n_rounds + 1, n_samples[, n_targets])
        Dual coefficients of every round.
    path_ : DistillationPath
        The full path (coefficients, per-round training error); only with
        ``store_spectrum=True``.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (the training kernel matrix when ``kernel="precomputed"``; the
        landmarks with ``eigen_solver="nystrom"``).
    certificate_ : DistillationIntervals or None
        With ``eigen_solver="randomized"`` and the budget rule: certified intervals for the
        ridges, training errors and collapse round of the exact run
        (:attr:`hilbert_sd.DistillationPath.certificate`); None otherwise.
    n_features_in_ : int

    See Also
    --------
    hilbert_sd.self_distill : the functional form, returning the path.
    sklearn.kernel_ridge.KernelRidge : round 0 with the same ridge.

    Notes
    -----
    A kernel matrix with clearly negative eigenvalues (a precomputed matrix that is not a
    kernel) emits :class:`~hilbert_sd.NumericalWarning` and is replaced by its nearest PSD
    matrix (negative eigenvalues clipped to 0), as scikit-learn's estimators accept any
    symmetric matrix. A collapse inside the requested rounds emits
    :class:`~hilbert_sd.CollapseWarning` and the model predicts zeros from that round on. A budget
    below the floor the kernel can reach emits :class:`~hilbert_sd.InfeasibleBudgetWarning` and that
    round is fitted with the smallest admissible ridge (the numerical-rank tolerance of the kernel
    matrix).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd import SelfDistilledKernelRidge
    >>> x = np.linspace(0, 1, 11)[:, None]
    >>> y = np.sin(2 * np.pi * x[:, 0])
    >>> model = SelfDistilledKernelRidge(epsilon=0.05, n_rounds=2, gamma=80.0).fit(x, y)
    >>> bool(model.alphas_[1] > model.alphas_[0])
    True
    """

    def __init__(self, epsilon=None, alpha=None, n_rounds=1, mix=0.0, kernel="rbf",
                 gamma=None, degree=3, coef0=1, kernel_params=None, fit_intercept=False,
                 eigen_solver="auto", n_components=None, random_state=None, verbose=False,
                 store_spectrum=False):
        self.epsilon = epsilon
        self.alpha = alpha
        self.n_rounds = n_rounds
        self.mix = mix
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.fit_intercept = fit_intercept
        self.eigen_solver = eigen_solver
        self.n_components = n_components
        self.random_state = random_state
        self.verbose = verbose
        self.store_spectrum = store_spectrum

    def fit(self, X, y):
        """Fit rounds 0, …, ``n_rounds``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, or the training kernel matrix for ``kernel="precomputed"``.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : SelfDistilledKernelRidge
        """
        X, y = self._validate_fit(X, y)
        return self._fit(X, y)

    def _fit(self, X, y):
        """Fit validated inputs and float targets (shared with the classifier)."""
        y, self.intercept_ = self._center(y)
        spectrum = self._spectrum(X)  # K is checked once, by the factorization
        if self.epsilon is not None and self.alpha is not None:
            raise ValueError(f"give at most one of epsilon (budget rule) and alpha (fixed "
                             f"ridge); got epsilon={self.epsilon!r}, alpha={self.alpha!r}")
        rule = ({"alpha": self.alpha} if self.alpha is not None
                else {"epsilon": _DEFAULT_EPSILON if self.epsilon is None else self.epsilon})
        path = self_distill(spectrum, y, n_rounds=self.n_rounds, mix=self.mix,
                            on_infeasible="warn", **rule)
        T = path.collapse_round
        if T is not None:
            warnings.warn(
                f"the fit collapsed to the zero function at round {T} of 0..{self.n_rounds} "
                f"(||y_{T}||^2 <= n * epsilon); predictions are 0 from round {T} on",
                CollapseWarning,
                stacklevel=3,
            )
        self.X_fit_, self.dual_coefs_ = self._prediction_basis(
            X, spectrum, path, np.arange(path.n_rounds + 1))
        self.dual_coef_ = self.dual_coefs_[-1]
        self.alphas_ = path.alphas
        self.collapse_round_ = T
        self.basis_weights_ = path.basis_weights
        self.eigenvalues_ = path.eigenvalues
        self.certificate_ = path.certificate
        self._keep_spectrum(spectrum, path)
        return self

    def staged_predict(self, X):
        """Yield the predictions of rounds 0, 1, …, ``n_rounds`` in order (zeros, or the
        intercept, after a collapse).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Yields
        ------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        K_new = self._kernel_new(X)
        for dual in self.dual_coefs_:
            yield K_new @ dual + self.intercept_
