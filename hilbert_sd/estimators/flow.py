"""The gradient-flow estimator (scikit-learn compatible), a thin layer over
:func:`hilbert_sd.flow.flow_path`."""

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from hilbert_sd._validation import check_scalar
from hilbert_sd.estimators._base import _KernelMixin
from hilbert_sd.flow import _check_method, _check_times, flow_path

__all__ = ["GradientFlowKernelRegressor"]


class GradientFlowKernelRegressor(_KernelMixin, RegressorMixin, BaseEstimator):
    """Kernel regression by gradient flow from the zero function, stopped at ``time``.

    The flow on (1/2n)‖f(X) − y‖² with learning rate η (:doc:`/topics/gradient_flow_and_bounds`):
    f_t(x) = k(x, X) U diag((1 − exp(−η t λ/n)) / λ) Uᵀ y, evaluated stably (no division by a
    zero eigenvalue). ``time=np.inf`` is the minimum-norm interpolant (pseudo-inverse on the
    numerically positive eigenvalues). Early stopping regularizes differently from ridge and
    from self-distillation: its filter ratios never exceed λ_k/λ_j (derived, see
    :mod:`hilbert_sd.compare`).

    Parameters
    ----------
    time : float, default=1.0
        Stopping time t ≥ 0, or ``np.inf``. With ``method="gd"``: a number of steps.
    learning_rate : float, default=1.0
        η > 0.
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
        Further kernel parameters.
    method : {"flow", "gd"}, default="flow"
        Continuous flow, or discrete gradient descent with step ``learning_rate``
        (``fit`` raises ``ValueError`` when η λ_max / n ≥ 2, the unstable range).
    fit_intercept : bool, default=False
        Centre y before fitting and add its mean back to every prediction (ε is then a budget
        on the centred targets).
    eigen_solver : {"auto", "dense", "implicit", "randomized", "nystrom"}, default="auto"
        Backend of the one factorization (:func:`hilbert_sd.spectral.decompose`), as in
        scikit-learn's ``KernelPCA``: ``"auto"`` is exact (``"implicit"`` when it fits in
        memory, else ``"dense"``), or ``"randomized"`` when ``n_components`` is given.
        ``"randomized"`` keeps the top ``n_components`` eigenpairs (from X, the n × n matrix
        is never stored); ``"nystrom"`` is the exact spectrum of the Nyström kernel on
        ``n_components`` landmarks (``X_fit_`` and ``dual_coef_`` are then the landmarks and
        their M coefficients). The flow's filter tends to 1 at long times, so a truncated
        tail costs more at long times than at short ones.
    n_components : int, optional
        Rank of the low-rank solvers (eigenpairs, or landmarks); None for the exact ones.
    random_state : int, optional
        Seed of the low-rank solvers (default 0: reproducible).
    verbose : bool, default=False
        Report the factorization (and the progress of the low-rank passes) on stderr.
    store_spectrum : bool, default=False
        Keep the factorization (``spectrum_``, ``path_``) as attributes and in pickles.
        ``staged_predict`` reuses it within the process either way (an unpickled model
        without it factors the kernel again). Predictions need only
        ``X_fit_`` and ``dual_coef_``, so by default a fitted model pickles without the
        n × n eigenvectors.

    Attributes
    ----------
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        ``f(x) = k(x, X_fit_) @ dual_coef_`` at ``time``.
    eigenvalues_ : ndarray of shape (n_samples,)
        Eigenvalues of the training kernel matrix, descending.
    spectrum_ : Spectrum
        The eigendecomposition (reused by ``staged_predict``); only with
        ``store_spectrum=True``, otherwise ``staged_predict`` factors the kernel again.
    intercept_ : float or ndarray of shape (n_targets,)
        Mean of y with ``fit_intercept``, else 0.
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (the training kernel matrix for ``kernel="precomputed"``).
    n_features_in_ : int

    See Also
    --------
    hilbert_sd.gradient_flow : training outputs at many times.
    hilbert_sd.SelfDistilledKernelRidge : the regularizer it is compared with.

    Notes
    -----
    A precomputed matrix with clearly negative eigenvalues emits
    :class:`~hilbert_sd.NumericalWarning` and is replaced by its nearest PSD matrix, as in
    :class:`~hilbert_sd.SelfDistilledKernelRidge`. The default ``time=1.0`` with η = 1 stops
    the flow early: directions with λ ≪ n are barely fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd import GradientFlowKernelRegressor
    >>> x = np.linspace(0, 1, 11)[:, None]
    >>> y = np.sin(2 * np.pi * x[:, 0])
    >>> model = GradientFlowKernelRegressor(time=np.inf, gamma=80.0).fit(x, y)
    >>> bool(np.allclose(model.predict(x), y))
    True
    >>> preds = np.stack(list(model.staged_predict(x, [1.0, 10.0, 100.0])))
    >>> preds.shape
    (3, 11)
    """

    def __init__(self, time=1.0, learning_rate=1.0, kernel="rbf", gamma=None, degree=3,
                 coef0=1, kernel_params=None, method="flow", fit_intercept=False,
                 eigen_solver="auto", n_components=None, random_state=None, verbose=False,
                 store_spectrum=False):
        self.time = time
        self.learning_rate = learning_rate
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.method = method
        self.fit_intercept = fit_intercept
        self.eigen_solver = eigen_solver
        self.n_components = n_components
        self.random_state = random_state
        self.verbose = verbose
        self.store_spectrum = store_spectrum

    def _check_params(self):
        method = _check_method(self.method)
        eta = check_scalar(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        time = check_scalar(self.time, "time", low=0.0, allow_inf=True)
        if method == "gd":
            _check_times(time, "gd")
        return method, eta, time

    def fit(self, X, y):
        """Run the flow on (X, y) up to ``time``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, or the training kernel matrix for ``kernel="precomputed"``.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : GradientFlowKernelRegressor
        """
        method, eta, time = self._check_params()
        X, y = self._validate_fit(X, y)
        y, self.intercept_ = self._center(y)
        spectrum = self._spectrum(X)
        path = flow_path(spectrum, y, [time], learning_rate=eta, method=method,
                         on_unstable="raise", check_input=False)
        self._keep_spectrum(spectrum, path)
        # staged_predict reuses the path in this process; pickles drop it (__getstate__) and
        # keep y (O(n)) to factor again after unpickling
        self._path_cache = path
        self._y_fit = y
        self.eigenvalues_ = spectrum.eigenvalues
        self.X_fit_, self.dual_coef_ = self._prediction_basis(X, spectrum, path, 0)
        self._X_train = X if spectrum.method == "nystrom" else None  # to factor again
        return self

    def staged_predict(self, X, times):
        """Yield the predictions at each of ``times``, from the one factorization of ``fit``.

        All times are computed in one batch of matrix products;
        ``np.stack(list(model.staged_predict(X, times)))`` gives an array of shape
        (n_times, n_queries[, n_targets]).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Or ``k(X, X_fit_)`` for ``kernel="precomputed"``.
        times : array-like of shape (n_times,)
            Times ≥ 0 (or ``np.inf``); numbers of steps for ``method="gd"``. Any order.

        Yields
        ------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        check_is_fitted(self)
        K_new = self._kernel_new(X)
        cached = self.__dict__.get("_path_cache")
        if cached is not None:
            path = cached.at_times(times)
        else:
            X_train = self._X_train if self._X_train is not None else self.X_fit_
            path = flow_path(self._spectrum(X_train), self._y_fit, times,
                             learning_rate=self.learning_rate, method=self.method,
                             check_input=False)
        if path.spectrum.method == "nystrom":  # K_new = k(X, landmarks)
            coef = path.dual_coef(np.arange(len(path)), basis="landmarks")
            yield from np.einsum("qm,jm...->jq...", K_new, coef) + self.intercept_
            return
        yield from path.predict(K_new, np.arange(len(path))) + self.intercept_

    def __getstate__(self):
        state = super().__getstate__()
        if not self.store_spectrum:
            state.pop("_path_cache", None)  # the n x n factorization stays out of pickles
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the default time=1.0 with learning_rate=1.0 is a strongly early-stopped fit
        # (filter 1 - exp(-lambda/n) << 1 for most directions), so it underfits by design
        tags.regressor_tags.poor_score = True
        return tags
