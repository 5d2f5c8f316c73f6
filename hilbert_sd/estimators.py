"""scikit-learn compatible estimators, thin layers over the functional API."""

import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from hilbert_sd._validation import check_scalar
from hilbert_sd.distillation import _check_rule, self_distill
from hilbert_sd.exceptions import CollapseWarning
from hilbert_sd.flow import _check_method, _check_times, flow_path
from hilbert_sd.kernels import KERNEL_PARAMS, gram
from hilbert_sd.spectral import decompose

__all__ = ["GradientFlowKernelRegressor", "SelfDistilledKernelRidge"]

class _KernelMixin:
    """Kernel handling shared by the estimators (``kernel``, ``gamma``, ``degree``, ``coef0``,
    ``kernel_params``), with scikit-learn's meanings and the ``"precomputed"`` option."""

    def _get_kernel(self, X, Y=None):
        if self.kernel == "precomputed":
            return X  # fit receives the training kernel matrix itself
        params = dict(self.kernel_params or {})
        kernel = "polynomial" if self.kernel == "poly" else self.kernel
        if not callable(kernel):
            if kernel not in KERNEL_PARAMS:
                raise ValueError(
                    f"kernel={self.kernel!r} is not supported; allowed: "
                    f"{sorted(KERNEL_PARAMS)}, 'precomputed' or a callable"
                )
            # the estimator's gamma / degree / coef0, for the kernels that take them
            for name in ("gamma", "degree", "coef0"):
                value = getattr(self, name)
                if name in KERNEL_PARAMS[kernel] and value is not None:
                    params.setdefault(name, value)
        return gram(X, Y, kernel=kernel, **params)

    def _validate_fit(self, X, y):
        # a precomputed float32 kernel keeps its dtype so that its round-off is judged at
        # float32 precision (see hilbert_sd.spectral.eigh_psd)
        dtype = (np.float64, np.float32) if self.kernel == "precomputed" else np.float64
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=dtype, accept_sparse=False)
        y = np.asarray(y, dtype=np.float64)
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(
                f"with kernel='precomputed', X must be the square training kernel matrix; "
                f"got shape {X.shape}"
            )
        return X, y

    def _spectrum(self, X):
        """The one factorization of the training kernel matrix (validated by ``_validate_fit``;
        a precomputed matrix that is not PSD is replaced by its nearest PSD matrix, with a
        warning, as scikit-learn's estimators accept any symmetric matrix)."""
        K = self._get_kernel(X)
        return decompose(K, on_indefinite="warn", check_input=self.kernel == "precomputed")

    def predict(self, X):
        """Predict with the fitted function (round ``n_rounds``, or the flow at ``time``).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Or ``k(X, X_fit_)`` of shape (n_queries, n_samples) for ``kernel="precomputed"``.

        Returns
        -------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        return self._kernel_new(X) @ self.dual_coef_

    def _kernel_new(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, accept_sparse=False)
        if self.kernel == "precomputed":
            n_fit = self.dual_coef_.shape[0]
            if X.shape[1] != n_fit:
                raise ValueError(
                    f"with kernel='precomputed', X must be k(X_new, X_fit) with {n_fit} "
                    f"columns; got shape {X.shape}"
                )
            return X
        return self._get_kernel(X, self.X_fit_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        tags.target_tags.multi_output = True
        return tags


class SelfDistilledKernelRidge(_KernelMixin, RegressorMixin, BaseEstimator):
    """Kernel ridge regression self-distilled for ``n_rounds`` rounds.

    Round 0 fits ``y``; round t + 1 refits the predictions of round t at the training inputs
    (mixed with ``y`` when ``mix > 0``). Under the budget rule (``alpha=None``) every round
    uses the ridge at which the mean squared training error to its targets equals
    ``epsilon``; the ridge grows every round until the fit collapses to zero
    (Mobahi, Farajtabar & Bartlett 2020; growth and collapse statements derived in
    theory.md §2). One eigendecomposition of the training kernel serves every round.

    Parameters
    ----------
    epsilon : float, default=0.01
        Budget on the mean squared training error of every round (> 0). Ignored when
        ``alpha`` is given.
    alpha : float, optional
        Fixed ridge (> 0) for every round, scikit-learn's convention ((K + αI) a = y).
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

    Attributes
    ----------
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
        Dual coefficients of the last round: ``f(x) = k(x, X_fit_) @ dual_coef_``.
    dual_coefs_ : ndarray of shape (n_rounds + 1, n_samples[, n_targets])
        Dual coefficients of every round.
    path_ : DistillationPath
        The full path (eigenvectors, coefficients, per-round training error).
    X_fit_ : ndarray of shape (n_samples, n_features)
        Training inputs (the training kernel matrix when ``kernel="precomputed"``).
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
    symmetric matrix. A collapse inside the requested rounds emits :class:`~hilbert_sd.CollapseWarning` and the
    model predicts zeros from that round on. A budget below the floor the kernel can reach
    emits :class:`~hilbert_sd.InfeasibleBudgetWarning` and that round is fitted with the
    smallest admissible ridge (the numerical-rank tolerance of the kernel matrix).

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

    def __init__(self, epsilon=0.01, alpha=None, n_rounds=1, mix=0.0, kernel="rbf",
                 gamma=None, degree=3, coef0=1, kernel_params=None):
        self.epsilon = epsilon
        self.alpha = alpha
        self.n_rounds = n_rounds
        self.mix = mix
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params

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
        # validate once: the rule here, X and y by scikit-learn, K by the factorization; the
        # engine then runs with its checks off
        epsilon, alpha = (self.epsilon, None) if self.alpha is None else (None, self.alpha)
        epsilon, alpha, mix, n_rounds, _ = _check_rule(
            epsilon, alpha, self.mix, self.n_rounds, 1, "joint", "warn")
        X, y = self._validate_fit(X, y)
        path = self_distill(self._spectrum(X), y, epsilon=epsilon, alpha=alpha,
                            n_rounds=n_rounds, mix=mix, on_infeasible="warn", check_input=False)
        T = path.collapse_round
        if T is not None:
            warnings.warn(
                f"the fit collapsed to the zero function at round {T} of 0..{self.n_rounds} "
                f"(||y_{T}||^2 <= n * epsilon); predictions are 0 from round {T} on",
                CollapseWarning,
                stacklevel=2,
            )
        self.dual_coefs_ = path.dual_coef(np.arange(path.n_rounds + 1))
        self.dual_coef_ = self.dual_coefs_[-1]
        self.alphas_ = path.alphas
        self.collapse_round_ = T
        self.basis_weights_ = path.basis_weights
        self.eigenvalues_ = path.eigenvalues
        self.path_ = path
        self.X_fit_ = X
        return self

    def staged_predict(self, X):
        """Yield the predictions of rounds 0, 1, …, ``n_rounds`` in order (zeros after a
        collapse).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Yields
        ------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        K_new = self._kernel_new(X)
        for dual in self.dual_coefs_:
            yield K_new @ dual


class GradientFlowKernelRegressor(_KernelMixin, RegressorMixin, BaseEstimator):
    """Kernel regression by gradient flow from the zero function, stopped at ``time``.

    The flow on (1/2n)‖f(X) − y‖² with learning rate η (theory.md §3):
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

    Attributes
    ----------
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_targets)
        ``f(x) = k(x, X_fit_) @ dual_coef_`` at ``time``.
    eigenvalues_ : ndarray of shape (n_samples,)
        Eigenvalues of the training kernel matrix, descending.
    spectrum_ : Spectrum
        The eigendecomposition (reused by ``staged_predict``).
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
                 coef0=1, kernel_params=None, method="flow"):
        self.time = time
        self.learning_rate = learning_rate
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.kernel_params = kernel_params
        self.method = method

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
        spectrum = self._spectrum(X)
        path = flow_path(spectrum, y, [time], learning_rate=eta, method=method,
                         on_unstable="raise", check_input=False)
        self.path_ = path
        self.spectrum_ = spectrum
        self.eigenvalues_ = spectrum.eigenvalues
        self.dual_coef_ = path.dual_coef(0)
        self.X_fit_ = X
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
        path = self.path_.at_times(times)
        yield from path.predict(self._kernel_new(X), np.arange(len(path)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the default time=1.0 with learning_rate=1.0 is a strongly early-stopped fit
        # (filter 1 - exp(-lambda/n) << 1 for most directions), so it underfits by design
        tags.regressor_tags.poor_score = True
        return tags
