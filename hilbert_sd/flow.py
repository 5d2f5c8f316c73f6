"""Kernel gradient flow and gradient descent from the zero function, in the eigenbasis.

Loss (1/2n)‖f(X) − y‖², learning rate η, zero initial function (the convention of
neural-tangents' ``predict.gradient_descent_mse``; :doc:`/topics/gradient_flow_and_bounds`).
With K = U diag(λ) Uᵀ and z = Uᵀ y, the training outputs after time t are

    u(t) = U diag(E_t) z,         E_t = 1 − exp(−η t λ / n)          (flow)
                                  E_t = 1 − (1 − η λ / n)^t          (gradient descent, t steps)

and the function is f_t(x) = k(x, X) U diag(G_t) z with the prediction filter G_t = E_t / λ.
Both filters are evaluated in stable forms (``expm1``/``log1p`` and a series near λ = 0), so a
zero eigenvalue gives the limit η t / n, never a NaN. One eigendecomposition serves every time.
"""

import warnings

import numpy as np

from hilbert_sd import filters as _filters_mod
from hilbert_sd._validation import as_float_array, check_scalar, check_targets
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.filters import _check_times as _check_times_common
from hilbert_sd.filters import _gd_pair, step_scale
from hilbert_sd.spectral import SpectralPath, as_spectrum, clip_tolerance

__all__ = [
    "FlowPath",
    "flow_filters",
    "flow_path",
    "gradient_descent",
    "gradient_flow",
    "max_stable_learning_rate",
]

_METHODS = ("flow", "gd")


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
    return _filters_mod.max_stable_learning_rate(max(float(np.max(lam)), 0.0), n, "mean")


def _check_times(times, method):
    return _check_times_common(times, "times" if method == "flow" else "steps",
                               integer=method == "gd")


def _check_method(method):
    if method not in _METHODS:
        raise ValueError(f"method={method!r}; allowed: 'flow', 'gd'")
    return method


def _check_stability(lam_max, n, learning_rate, on_unstable):
    """Gradient descent diverges when η λ_max / n ≥ 2: raise (default) or warn."""
    if learning_rate < _filters_mod.max_stable_learning_rate(lam_max, n, "mean"):
        return
    x = learning_rate * lam_max / n
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
    E, G = _gd_pair(lam, t, step_scale(eta, n), method, rank_tolerance)
    if scalar:
        return E[0], G[0]
    return E, G


class FlowPath(SpectralPath):
    """Kernel gradient flow (or descent) from the zero function at several times.

    A :class:`~hilbert_sd.spectral.SpectralPath` over times: point j fits
    ``U diag(E_j) z`` with ``E_j = 1 − exp(−η t_j λ/n)`` (flow) or ``1 − (1 − ηλ/n)^{t_j}``
    (descent), and predicts with the dual filter ``G_j = E_j/λ`` in its stable form. Build it
    with :func:`flow_path`. Directions at or below the spectrum's rank tolerance are treated as
    exactly null at every time: their prediction filter grows like ``η t / n``, and what a
    round-off eigenvector carries there is noise, not signal.

    Attributes
    ----------
    times : ndarray of shape (J,)
        Times (flow) or numbers of steps (descent); ``inf`` is the minimum-norm interpolant.
    learning_rate : float
    method : {"flow", "gd"}
    spectrum : Spectrum
    """

    _point_name = "time"

    def __init__(self, spectrum, target_coefficients, y_ndim, times, *, learning_rate, method):
        super().__init__(spectrum, target_coefficients, y_ndim)
        self.times = times
        self.learning_rate = learning_rate
        self.method = method
        E, G = _gd_pair(spectrum.eigenvalues, times, step_scale(learning_rate, spectrum.n),
                        method, spectrum.rank_tolerance)
        live = spectrum.eigenvalues > spectrum.rank_tolerance
        self._E = np.where(live, E, 0.0)[:, :, None]
        self._G = np.where(live, G, 0.0)[:, :, None]

    def __len__(self):
        return self.times.shape[0]

    def _filter_rows(self, idx):
        return self._E[idx]

    def _dual_coefficients(self, idx):
        with np.errstate(over="ignore", invalid="ignore"):
            return self._G[idx] * self._z

    def _fit_coefficients(self, idx):
        with np.errstate(over="ignore", invalid="ignore"):
            return self._E[idx] * self._z

    @property
    def prediction_filters(self):
        """``G_j = E_j / λ`` (J, n) in its stable form: ``a_j = U diag(G_j) z``."""
        return self._G[..., 0]

    def at_times(self, times):
        """The same flow (spectrum, targets, learning rate) at other times: no new factorization.

        Parameters
        ----------
        times : float or array-like of shape (J,)

        Returns
        -------
        FlowPath
        """
        t, _ = _check_times(times, self.method)
        return FlowPath(self.spectrum, self._z, self._y_ndim, t,
                        learning_rate=self.learning_rate, method=self.method)

    def __repr__(self):
        t = self.times
        return (f"FlowPath(n={self.n_samples}, method={self.method!r}, "
                f"learning_rate={self.learning_rate:g}, times={t[0]:g}..{t[-1]:g} "
                f"({t.size}))")


def flow_path(K, y, times, *, learning_rate=1.0, method="flow", on_unstable="raise",
              on_indefinite="raise", check_input=True):
    """Gradient flow (or descent) from the zero function as a path over ``times``.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        Kernel matrix on the training inputs (symmetric PSD, never modified), or its
        :class:`~hilbert_sd.spectral.Spectrum` shared between calls.
    y : array-like of shape (n,) or (n, m)
    times : float or array-like of shape (J,)
        Times t ≥ 0 (``inf``: the minimum-norm interpolant); numbers of steps with
        ``method="gd"``.
    learning_rate : float, default=1.0
        η > 0 on the loss (1/2n)‖f(X) − y‖².
    method : {"flow", "gd"}, default="flow"
    on_unstable : {"raise", "warn"}, default="raise"
        An unstable gradient-descent step (η λ_max / n ≥ 2) raises or warns.
    on_indefinite : {"raise", "warn"}, default="raise"
    check_input : bool, default=True
        Validate the arguments (the estimators, which validated already, turn it off).

    Returns
    -------
    FlowPath
    """
    if check_input:
        method = _check_method(method)
        learning_rate = check_scalar(learning_rate, "learning_rate", low=0.0,
                                     low_inclusive=False)
        if on_unstable not in ("raise", "warn"):
            raise ValueError(f"on_unstable={on_unstable!r}; allowed: 'raise', 'warn'")
    t, _ = _check_times(times, method)
    spectrum = as_spectrum(K, on_indefinite=on_indefinite, check_input=check_input)
    n = spectrum.n
    y = check_targets(y, n) if check_input else np.asarray(y, dtype=np.float64)
    if method == "gd" and n:
        _check_stability(float(spectrum.eigenvalues[0]), n, learning_rate, on_unstable)
    z = spectrum.project(y.reshape(n, -1))
    return FlowPath(spectrum, z, y.ndim, t, learning_rate=learning_rate, method=method)


def gradient_flow(K, y, times, *, learning_rate=1.0, method="flow", on_unstable="raise",
                  on_indefinite="raise"):
    """Training outputs of kernel gradient flow (or gradient descent) from the zero function.

    Minimizes (1/2n)‖f(X) − y‖² over the RKHS by gradient flow with learning rate η from
    f = 0 (:doc:`/topics/gradient_flow_and_bounds`): u(t) = U diag(1 − exp(−η t λ/n)) Uᵀ y. One
    eigendecomposition serves every time; there is no loop over times.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        Kernel matrix on the training inputs (symmetric PSD; never modified), or its
        :class:`~hilbert_sd.spectral.Spectrum`, shared between calls.
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
    path = flow_path(K, y, times, learning_rate=learning_rate, method=method,
                     on_unstable=on_unstable, on_indefinite=on_indefinite)
    return path.train_predictions(0 if np.ndim(times) == 0 else None)


def gradient_descent(K, y, steps, *, learning_rate=1.0, on_unstable="raise",
                     on_indefinite="raise"):
    """Training outputs of kernel gradient descent with step η from the zero function.

    The iteration u ← u − (η/n) K (u − y), u_0 = 0, in closed form:
    u_t = U diag(1 − (1 − η λ/n)^t) Uᵀ y for every requested number of steps at once.
    Same as ``gradient_flow(..., method="gd")``.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        Kernel matrix (symmetric PSD), or its spectrum.
    y : array-like of shape (n,) or (n, m)
    steps : int or array-like of int, shape (n_steps,)
        Numbers of steps ≥ 0, or ``np.inf`` (the limit: the minimum-norm interpolant).
    learning_rate : float, default=1.0
        Step η > 0; stable iff η λ_max / n < 2.
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
                         on_unstable=on_unstable, on_indefinite=on_indefinite)

