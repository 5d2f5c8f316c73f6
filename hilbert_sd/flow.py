"""Kernel gradient flow and gradient descent from the zero function, in the eigenbasis.

Loss (1/2n)‖f(X) − y‖², learning rate η, zero initial function (the convention of
neural-tangents' ``predict.gradient_descent_mse``; theory.md §3). With K = U diag(λ) Uᵀ and
z = Uᵀ y, the training outputs after time t are

    u(t) = U diag(E_t) z,         E_t = 1 − exp(−η t λ / n)          (flow)
                                  E_t = 1 − (1 − η λ / n)^t          (gradient descent, t steps)

and the function is f_t(x) = k(x, X) U diag(G_t) z with the prediction filter G_t = E_t / λ.
Both filters are evaluated in stable forms (``expm1``/``log1p`` and a series near λ = 0), so a
zero eigenvalue gives the limit η t / n, never a NaN. One eigendecomposition serves every time.
"""

import math
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from hilbert_sd._validation import as_float_array, check_scalar, check_targets
from hilbert_sd.estimators import _KernelMixin
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.spectral import Spectrum, clip_tolerance, eigh_psd

__all__ = [
    "GradientFlowKernelRegressor",
    "flow_filters",
    "gradient_descent",
    "gradient_flow",
    "max_stable_learning_rate",
]

_METHODS = ("flow", "gd")

# Below this argument the Taylor series of (1 - exp(-s)) / s and -log1p(-x) / x are used:
# the first omitted terms are s**5 / 720 and x**5 / 6, below 2e-16 relative at 1e-3.
_SERIES_CUTOFF = 1e-3


def _phi(s):
    """(1 − exp(−s)) / s for s ≥ 0 (1 at s = 0, 0 at s = inf), elementwise."""
    s = np.asarray(s, dtype=np.float64)
    out = np.empty_like(s)
    small = s < _SERIES_CUTOFF
    ss = s[small]
    out[small] = 1.0 + ss * (-1.0 / 2 + ss * (1.0 / 6 + ss * (-1.0 / 24 + ss * (1.0 / 120))))
    big = ~small
    sb = s[big]
    with np.errstate(invalid="ignore"):
        out[big] = np.where(np.isinf(sb), 0.0, -np.expm1(-sb) / np.where(np.isinf(sb), 1.0, sb))
    return out


def _psi(x):
    """−log1p(−x) / x for 0 ≤ x < 1 (1 at x = 0), elementwise."""
    out = np.empty_like(x)
    small = x < _SERIES_CUTOFF
    xs = x[small]
    out[small] = 1.0 + xs * (1.0 / 2 + xs * (1.0 / 3 + xs * (1.0 / 4 + xs * (1.0 / 5))))
    xb = x[~small]
    out[~small] = -np.log1p(-xb) / xb
    return out


def max_stable_learning_rate(eigenvalues, n_samples=None):
    """Largest learning rate (exclusive) at which gradient descent is stable: 2n / λ_max.

    Gradient descent on (1/2n)‖f(X) − y‖² multiplies the residual along eigen-direction k by
    1 − η λ_k / n every step; it converges iff −1 < 1 − η λ_k / n < 1 for every λ_k > 0, i.e.
    η λ_max / n < 2 [derived].

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues of the kernel matrix (any order, ≥ 0).
    n_samples : int, optional
        n in the loss normalization (default: ``len(eigenvalues)``).

    Returns
    -------
    float
        2 n / λ_max (``inf`` when every eigenvalue is 0).
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    n = lam.shape[0] if n_samples is None else check_scalar(n_samples, "n_samples", low=1,
                                                             integer=True)
    lam_max = float(np.max(lam))
    return math.inf if lam_max <= 0 else 2.0 * n / lam_max


def _check_times(times, method):
    scalar = np.ndim(times) == 0
    name = "times" if method == "flow" else "steps"
    try:
        t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be real numbers; got {times!r}") from exc
    if t.ndim != 1:
        raise ValueError(f"{name} must be a scalar or 1-D; got shape {t.shape}")
    if t.size == 0:
        raise ValueError(f"{name} is empty; give at least one time")
    bad = np.isnan(t) | (t < 0)
    if bad.any():
        raise ValueError(f"{name} contains {t[bad][0]!r}; allowed: [0, inf] (no NaN)")
    if method == "gd":
        finite = t[np.isfinite(t)]
        frac = finite != np.floor(finite)
        if frac.any():
            raise ValueError(
                f"steps contains the non-integer {finite[frac][0]!r}; gradient descent takes "
                "whole steps: allowed 0, 1, 2, ... or inf"
            )
    return t, scalar


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method={method!r}; allowed: 'flow', 'gd'")
    return method


def _check_stability(lam_max, n, learning_rate, on_unstable):
    """Gradient descent diverges when η λ_max / n ≥ 2: raise (default) or warn."""
    x = learning_rate * lam_max / n
    if x < 2.0:
        return
    msg = (f"gradient descent is unstable: learning_rate * lambda_max / n = {x:.6g} >= 2 "
           f"(learning_rate={learning_rate:g}, lambda_max={lam_max:.6g}, n={n}); allowed: "
           f"learning_rate < {2.0 * n / lam_max:.6g}")
    if on_unstable == "raise":
        raise ValueError(msg)
    warnings.warn(msg + "; the iterates diverge", NumericalWarning, stacklevel=3)


def flow_filters(eigenvalues, times, *, n_samples=None, learning_rate=1.0, method="flow",
                 rank_tolerance=None, on_unstable="raise"):
    """Spectral filters of gradient flow / gradient descent from the zero function.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues λ of the kernel matrix, ≥ 0 (any order; outputs follow it).
    times : float or array-like of shape (n_times,)
        Flow times t ≥ 0 (``method="flow"``) or numbers of steps 0, 1, 2, …
        (``method="gd"``); ``np.inf`` gives the limit.
    n_samples : int, optional
        n of the loss (1/2n)‖f(X) − y‖² (default: ``len(eigenvalues)``).
    learning_rate : float, default=1.0
        η > 0.
    method : {"flow", "gd"}, default="flow"
        Continuous-time gradient flow or discrete gradient descent with step η.
    rank_tolerance : float, optional
        At ``t = inf`` eigenvalues at or below this count as 0 (pseudo-inverse cut-off).
        Default: the round-off scale of a symmetric eigensolver,
        :func:`hilbert_sd.spectral.clip_tolerance` (as ``Spectrum.rank_tolerance``).
    on_unstable : {"raise", "warn"}, default="raise"
        Gradient descent with η λ_max / n ≥ 2 diverges: raise ``ValueError`` or warn
        (:class:`~hilbert_sd.NumericalWarning`) and return the divergent filters (``inf`` at
        ``steps=inf``).

    Returns
    -------
    train_filter : ndarray of shape (n_times, n)
        E_t: u(t) = U diag(E_t) Uᵀ y. ``1 − exp(−η t λ/n)`` (flow) or ``1 − (1 − η λ/n)^t``
        (gradient descent).
    predict_filter : ndarray of shape (n_times, n)
        G_t = E_t / λ (limit η t / n at λ = 0): f_t(x) = k(x, X) U diag(G_t) Uᵀ y.
        At ``t = inf``: 1/λ on λ > ``rank_tolerance`` and 0 elsewhere (minimum-norm
        interpolant).
        A scalar ``times`` drops the leading axis of both outputs.

    Raises
    ------
    ValueError
        For negative, NaN or (gradient descent) non-integer times, a learning rate ≤ 0 or not
        finite, negative eigenvalues, or an unstable step with ``on_unstable="raise"``.

    Notes
    -----
    Flow: G_t = (η t / n) φ(s), s = η t λ / n, φ(s) = −expm1(−s)/s with its Taylor series for
    s < 1e-3, so no eigenvalue is divided by. Gradient descent (stable branch η λ/n < 1):
    (1 − x)^t = exp(t log1p(−x)) with x = η λ/n, E = −expm1(t log1p(−x)) and
    G = (η t / n) φ(−t log1p(−x)) ψ(x), ψ(x) = −log1p(−x)/x (series near 0). Directions with
    1 ≤ x < 2 oscillate and are evaluated directly (λ ≥ n/η there, far from 0).
    """
    method = _check_method(method)
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if np.any(lam < 0):
        raise ValueError(f"eigenvalues contains {lam.min()!r}; allowed: >= 0 (clip round-off "
                         "negatives, e.g. with hilbert_sd.spectral.eigh_psd)")
    n = lam.shape[0] if n_samples is None else check_scalar(n_samples, "n_samples", low=1,
                                                             integer=True)
    eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    if rank_tolerance is None:
        rank_tolerance = clip_tolerance(float(lam.max()) if lam.size else 0.0, lam.shape[0])
    rank_tolerance = check_scalar(rank_tolerance, "rank_tolerance", low=0.0)
    if on_unstable not in ("raise", "warn"):
        raise ValueError(f"on_unstable={on_unstable!r}; allowed: 'raise', 'warn'")
    t, scalar = _check_times(times, method)
    if method == "gd" and lam.size:
        _check_stability(float(lam.max()), n, eta, on_unstable)
    E, G = _filters(lam, t, eta / n, method, rank_tolerance)
    if scalar:
        return E[0], G[0]
    return E, G


def _filters(lam, t, scale, method, rank_tolerance):
    """Unchecked filters: lam (n,), t (T,), scale = η / n. Returns E, G of shape (T, n)."""
    T, n = t.shape[0], lam.shape[0]
    E = np.empty((T, n))
    G = np.empty((T, n))
    ct = scale * t  # η t / n; overflows to inf only for astronomically long times
    inf_rows = ~np.isfinite(ct)
    fin = ~inf_rows
    if method == "flow":
        c = ct[fin, None]
        s = c * lam[None, :]
        E[fin] = -np.expm1(-s)
        G[fin] = c * _phi(s)
    else:
        x = scale * lam  # per-direction contraction 1 - x of the residual
        stable = x < 1.0
        tf = t[fin, None]
        # monotone branch 0 <= x < 1: (1 - x)^t = exp(t log1p(-x))
        xs = x[stable]
        s = -tf * np.log1p(-xs)[None, :]
        E_st = -np.expm1(-s)
        G_st = (scale * tf) * _phi(s) * _psi(xs)[None, :]
        # oscillating (1 <= x < 2) or divergent (x >= 2) branch: lam >= n / eta, far from 0
        xo = x[~stable]
        with np.errstate(over="ignore", invalid="ignore"):
            E_os = 1.0 - np.power(1.0 - xo[None, :], tf)
            G_os = E_os / lam[~stable][None, :]
        Ef = np.empty((tf.shape[0], n))
        Gf = np.empty((tf.shape[0], n))
        Ef[:, stable], Gf[:, stable] = E_st, G_st
        Ef[:, ~stable], Gf[:, ~stable] = E_os, G_os
        E[fin], G[fin] = Ef, Gf
    if inf_rows.any():
        positive = lam > rank_tolerance
        e_inf = positive.astype(np.float64)
        with np.errstate(divide="ignore"):
            g_inf = np.where(positive, 1.0 / np.where(positive, lam, 1.0), 0.0)
        if method == "gd":
            # a divergent step has no limit (reached only with on_unstable="warn")
            diverge = scale * lam >= 2.0
            e_inf = np.where(diverge, np.inf, e_inf)
            g_inf = np.where(diverge, np.inf, g_inf)
        E[inf_rows] = e_inf
        G[inf_rows] = g_inf
    return E, G


def _resolve_spectrum(K, spectrum, on_indefinite):
    if spectrum is None:
        if K is None:
            raise ValueError("K is required when no precomputed spectrum is given")
        return eigh_psd(K, on_indefinite=on_indefinite)
    if not isinstance(spectrum, Spectrum):
        raise ValueError(f"spectrum must be a hilbert_sd.spectral.Spectrum; got {type(spectrum)}")
    return spectrum


def _apply(U, filt, z):
    """U diag(filt[i]) z for every row i in one matrix product.

    filt (T, n), z (n, m) -> (T, n, m). A batched matmul would stream U once per time
    (memory-bound); one GEMM reads it once.
    """
    T, n = filt.shape
    m = z.shape[1]
    if m == 1:
        return ((filt * z[:, 0]) @ U.T)[:, :, None]
    coef = filt[:, :, None] * z[None, :, :]  # (T, n, m)
    out = U @ coef.transpose(1, 0, 2).reshape(n, T * m)
    return out.reshape(n, T, m).transpose(1, 0, 2)


def gradient_flow(K, y, times, *, learning_rate=1.0, method="flow", spectrum=None,
                  on_unstable="raise", on_indefinite="raise"):
    """Training outputs of kernel gradient flow (or gradient descent) from the zero function.

    Minimizes (1/2n)‖f(X) − y‖² over the RKHS by gradient flow with learning rate η from
    f = 0 (theory.md §3): u(t) = U diag(1 − exp(−η t λ/n)) Uᵀ y. One eigendecomposition
    serves every time; there is no loop over times.

    Parameters
    ----------
    K : array-like of shape (n, n)
        Kernel matrix on the training inputs (symmetric PSD). Never modified. May be None
        when ``spectrum`` is given.
    y : array-like of shape (n,) or (n, m)
        Targets.
    times : float or array-like of shape (n_times,)
        Times t ≥ 0; ``np.inf`` is the minimum-norm interpolant (the projection of y onto the
        numerically positive eigen-directions). With ``method="gd"``: numbers of steps
        (0, 1, 2, … or ``np.inf``).
    learning_rate : float, default=1.0
        η > 0.
    method : {"flow", "gd"}, default="flow"
        ``"gd"``: discrete gradient descent f ← f − η ∇L, i.e.
        u ← u − (η/n) K (u − y), equal to the flow filter with exp(−η λ/n) replaced by
        1 − η λ/n. Stable iff η λ_max / n < 2.
    spectrum : Spectrum, optional
        A precomputed :func:`hilbert_sd.spectral.eigh_psd` of K, shared between calls.
    on_unstable : {"raise", "warn"}, default="raise"
        An unstable gradient-descent step (η λ_max / n ≥ 2) raises ``ValueError`` naming the
        largest stable rate, or warns (:class:`~hilbert_sd.NumericalWarning`) and returns
        the divergent iterates.
    on_indefinite : {"raise", "warn"}, default="raise"
        Clearly negative eigenvalues of K raise, or warn and are clipped to 0.

    Returns
    -------
    ndarray of shape (n_times, n) or (n_times, n, m)
        Training outputs u(t) for every time (no leading axis for a scalar ``times``).

    Raises
    ------
    ValueError
        For invalid arguments (naming the value and the allowed range).

    See Also
    --------
    gradient_descent : the discrete form.
    GradientFlowKernelRegressor : the estimator, predicting at new inputs.
    flow_filters : the spectral filters themselves.

    Notes
    -----
    Cost: one O(n³) eigendecomposition, O(n²) to project y, O(n · n_times) for the filters and
    one O(n² · n_times · m) matrix product for the outputs.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd import gradient_flow
    >>> from hilbert_sd.kernels import gram
    >>> x = np.linspace(0, 1, 11)[:, None]
    >>> y = np.sin(2 * np.pi * x[:, 0])
    >>> u = gradient_flow(gram(x, gamma=80.0), y, [0.0, 10.0, np.inf])
    >>> u.shape
    (3, 11)
    >>> bool(np.allclose(u[2], y))  # the interpolant
    True
    """
    method = _check_method(method)
    eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    if on_unstable not in ("raise", "warn"):
        raise ValueError(f"on_unstable={on_unstable!r}; allowed: 'raise', 'warn'")
    t, scalar = _check_times(times, method)
    spectrum = _resolve_spectrum(K, spectrum, on_indefinite)
    n = spectrum.n
    y = check_targets(y, n)
    lam = spectrum.eigenvalues
    if method == "gd" and n:
        _check_stability(float(lam[0]), n, eta, on_unstable)
    E, _ = _filters(lam, t, eta / n, method, spectrum.rank_tolerance)
    z = spectrum.project(y.reshape(n, -1))
    with np.errstate(over="ignore", invalid="ignore"):
        out = _apply(spectrum.eigenvectors, E, z)
    if y.ndim == 1:
        out = out[..., 0]
    return out[0] if scalar else out


def gradient_descent(K, y, steps, *, learning_rate=1.0, spectrum=None, on_unstable="raise",
                     on_indefinite="raise"):
    """Training outputs of kernel gradient descent with step η from the zero function.

    The iteration u ← u − (η/n) K (u − y), u_0 = 0, in closed form:
    u_t = U diag(1 − (1 − η λ/n)^t) Uᵀ y for every requested number of steps at once.
    Same as ``gradient_flow(..., method="gd")``.

    Parameters
    ----------
    K : array-like of shape (n, n)
        Kernel matrix (symmetric PSD), or None with ``spectrum``.
    y : array-like of shape (n,) or (n, m)
    steps : int or array-like of int, shape (n_steps,)
        Numbers of steps ≥ 0, or ``np.inf`` (the limit: the minimum-norm interpolant).
    learning_rate : float, default=1.0
        Step η > 0; stable iff η λ_max / n < 2.
    spectrum : Spectrum, optional
    on_unstable : {"raise", "warn"}, default="raise"
        Unstable step: raise ``ValueError`` (naming the largest stable rate 2n/λ_max) or warn
        (:class:`~hilbert_sd.NumericalWarning`) and return the divergent iterates.
    on_indefinite : {"raise", "warn"}, default="raise"

    Returns
    -------
    ndarray of shape (n_steps, n) or (n_steps, n, m)
        (no leading axis for a scalar ``steps``).

    Raises
    ------
    ValueError
        For invalid arguments or an unstable step (default).
    """
    return gradient_flow(K, y, steps, learning_rate=learning_rate, method="gd",
                         spectrum=spectrum, on_unstable=on_unstable,
                         on_indefinite=on_indefinite)


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
        K = self._get_kernel(X)
        spectrum = eigh_psd(K, on_indefinite="warn")
        n = spectrum.n
        if method == "gd":
            _check_stability(float(spectrum.eigenvalues[0]), n, eta, "raise")
        self.spectrum_ = spectrum
        self.eigenvalues_ = spectrum.eigenvalues
        self._z = spectrum.project(y.reshape(n, -1))
        self._y_ndim = y.ndim
        self.dual_coef_ = self._dual_coefs(np.array([time]))[0]
        self.X_fit_ = X
        return self

    def _dual_coefs(self, times):
        n = self.spectrum_.n
        _, G = _filters(self.spectrum_.eigenvalues, times, self.learning_rate / n,
                        self.method, self.spectrum_.rank_tolerance)
        dual = _apply(self.spectrum_.eigenvectors, G, self._z)
        return dual[..., 0] if self._y_ndim == 1 else dual

    def predict(self, X):
        """Predict with the function at ``time``.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Or ``k(X, X_fit_)`` of shape (n_queries, n_samples) for ``kernel="precomputed"``.

        Returns
        -------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        return self._kernel_new(X) @ self.dual_coef_

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
        t, _ = _check_times(times, self.method)
        K_new = self._kernel_new(X)
        q, n = K_new.shape
        m = self._z.shape[1]
        T = t.shape[0]
        _, G = _filters(self.spectrum_.eigenvalues, t, self.learning_rate / n, self.method,
                        self.spectrum_.rank_tolerance)
        U = self.spectrum_.eigenvectors
        if q < T * m:
            # (K_new U) once, then a small product per time: q n² + q n T m flops
            KU = K_new @ U
            coef = G[:, :, None] * self._z[None, :, :]  # (T, n, m)
            preds = np.einsum("qn,tnm->tqm", KU, coef, optimize=True)
        else:
            # dual coefficients of every time, then one product: n² T m + q n T m flops
            dual = _apply(U, G, self._z)  # (T, n, m)
            preds = np.einsum("qn,tnm->tqm", K_new, dual, optimize=True)
        if self._y_ndim == 1:
            preds = preds[..., 0]
        yield from preds

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # the default time=1.0 with learning_rate=1.0 is a strongly early-stopped fit
        # (filter 1 - exp(-lambda/n) << 1 for most directions), so it underfits by design
        tags.regressor_tags.poor_score = True
        return tags
