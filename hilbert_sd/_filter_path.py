"""Any filters on one spectrum as a path: :func:`hilbert_sd.filter_path`.

The family functions of :mod:`hilbert_sd.filters` return filters ``h`` (and, on request, the
stable prediction filters ``g = h/λ``); this module turns them into a
:class:`~hilbert_sd.spectral.SpectralPath` on the spectrum of a kernel matrix, so that every
method of the family predicts, reports its degrees of freedom and is compared in the same way.
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_targets
from hilbert_sd.spectral import SpectralPath, as_spectrum

__all__ = ["FilterPath", "filter_path"]


class FilterPath(SpectralPath):
    """Given filters on one :class:`~hilbert_sd.spectral.Spectrum`, as a path.

    Point j fits ``U diag(h_j) z`` and predicts with ``a_j = U diag(g_j) z``. Build it with
    :func:`hilbert_sd.filter_path`.

    Attributes
    ----------
    spectrum : Spectrum
    prediction_filters : ndarray of shape (J, n)
        ``g_j``.
    fallback : bool
        True when ``g`` was derived from ``h`` by the generic rule (``h/λ`` above the rank
        tolerance, 0 elsewhere) rather than given.
    """

    _point_name = "index"

    def __init__(self, spectrum, target_coefficients, y_ndim, h, g, *, fallback):
        super().__init__(spectrum, target_coefficients, y_ndim)
        self._h = h[:, :, None]
        self._g = g[:, :, None]
        self.fallback = fallback

    def __len__(self):
        return self._h.shape[0]

    def _filter_rows(self, idx):
        return self._h[idx]

    def _dual_coefficients(self, idx):
        return self._g[idx] * self._z

    @property
    def prediction_filters(self):
        """``g_j`` (J, n): the dual coefficients are ``U diag(g_j) z``."""
        return self._g[..., 0]

    def __repr__(self):
        kind = "h/lambda fallback" if self.fallback else "given"
        return f"FilterPath(n={self.n_samples}, filters={len(self)}, prediction filters {kind})"


def _check_rows(a, name, n):
    a = as_float_array(a, name, ndim=(1, 2))
    if a.ndim == 1:
        a = a[None, :]
    if a.shape[1] != n:
        raise ValueError(f"{name} has shape {a.shape}; allowed: (J, {n}) or ({n},), one "
                         "column per eigenvalue of the spectrum (descending)")
    return a


def filter_path(K, y, filters, *, on_indefinite="raise", check_input=True):
    """Apply any spectral filters to targets ``y``: a :class:`~hilbert_sd.spectral.SpectralPath`.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        Kernel matrix on the training inputs (symmetric PSD, never modified), or its
        :class:`~hilbert_sd.spectral.Spectrum` (from :func:`hilbert_sd.spectral.decompose`),
        whose eigenvalues (descending) the filters were computed from.
    y : array-like of shape (n,) or (n, m)
        Targets; every column gets the same filters.
    filters : array-like of shape (J, n) or (n,), or tuple (h, g)
        The filters ``h`` (one row per path point, columns in the spectrum's eigenvalue
        order), or the pair ``(h, g)`` returned by the functions of :mod:`hilbert_sd.filters`
        with ``return_prediction=True`` (a ``tuple``; any other sequence is read as ``h``).
        With ``h`` alone, the prediction filter is the generic fallback ``g = h/λ`` on the
        eigenvalues above ``spectrum.rank_tolerance`` and 0 elsewhere, and ``h`` is set to 0
        there too (a function ``k(·, X) a`` has no component in the numerical null space of
        K, and what a round-off eigenvector carries there is noise): prefer the pair, whose
        ``g`` is the exact stable form.
    on_indefinite : {"raise", "warn"}, default="raise"
        Clearly negative eigenvalues of K raise, or warn and are clipped to 0.
    check_input : bool, default=True
        Validate K and y.

    Returns
    -------
    SpectralPath
        ``train_predictions``, ``dual_coef``, ``predict(K_new, index)``, ``filters``,
        ``effective_dof()``; ``prediction_filters`` the ``g`` used.

    Raises
    ------
    ValueError
        For filters of the wrong shape or not finite.

    See Also
    --------
    hilbert_sd.filters : the family of filters (ridge, self-distillation, boosting, gradient
        flow and descent, spectral cut-off).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd import filter_path, filters
    >>> from hilbert_sd.kernels import gram
    >>> from hilbert_sd.spectral import decompose
    >>> x = np.linspace(0, 1, 11)[:, None]
    >>> spectrum = decompose(gram(x, gamma=80.0))
    >>> pair = filters.boosting(spectrum.eigenvalues, 0.1, 3, return_prediction=True)
    >>> path = filter_path(spectrum, np.sin(2 * np.pi * x[:, 0]), pair)
    >>> path.predict(gram(np.array([[0.25]]), x, gamma=80.0)).shape  # steps 0..3, one point
    (4, 1)
    """
    spectrum = as_spectrum(K, on_indefinite=on_indefinite, check_input=check_input)
    n = spectrum.n
    k = spectrum.eigenvalues.shape[0]  # n, or r + 1 on a low-rank spectrum (the tail's 0)
    y = check_targets(y, n) if check_input else np.asarray(y, dtype=np.float64)
    if isinstance(filters, tuple):
        if len(filters) != 2:
            raise ValueError(f"filters is a tuple of {len(filters)} items; allowed: the pair "
                             "(h, g), or an array h")
        h = _check_rows(filters[0], "filters[0] (h)", k)
        g = _check_rows(filters[1], "filters[1] (g)", k)
        if g.shape != h.shape:
            raise ValueError(f"the filters h {h.shape} and g {g.shape} must have one shape")
        fallback = False
    else:
        h = _check_rows(filters, "filters", k)
        lam = spectrum.eigenvalues
        live = lam > spectrum.rank_tolerance
        g = np.where(live, h / np.where(live, lam, 1.0), 0.0)
        h = np.where(live, h, 0.0)
        fallback = True
    z = spectrum.project(y.reshape(n, -1))
    return FilterPath(spectrum, z, y.ndim, h, g, fallback=fallback)
