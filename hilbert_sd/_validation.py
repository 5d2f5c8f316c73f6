"""Input validation shared by the functional API, the estimators and the command line.

Every error is a ``ValueError`` that names the offending value and the allowed range.
"""

import numbers

import numpy as np

__all__ = [
    "as_float_array",
    "check_kernel_rows",
    "check_scalar",
    "check_square_symmetric",
    "check_targets",
]


def as_float_array(a, name, *, ndim=None, allow_empty=False):
    """Return ``a`` as a float64 ndarray after checking dimension, emptiness and finiteness.

    Parameters
    ----------
    a : array-like
    name : str
        Name used in error messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    allow_empty : bool, default=False

    Returns
    -------
    ndarray of dtype float64 (a view of ``a`` when no conversion is needed; never written to)
    """
    try:
        if np.iscomplexobj(a):
            # numpy would drop the imaginary part with only a ComplexWarning
            raise ValueError(
                f"{name} has complex dtype {np.asarray(a).dtype}; hilbert_sd works with real "
                "inputs only (pass the real part explicitly if that is what you mean)")
        arr = np.asarray(a, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if "complex dtype" in str(exc):
            raise
        raise ValueError(f"{name} must be an array of real numbers; got {type(a).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} dimension(s); "
                f"got shape {arr.shape}"
            )
    if not allow_empty and arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); at least one sample is required")
    # min/max propagate NaN and see inf without an array-sized boolean temporary
    if arr.size and not (np.isfinite(arr.min()) and np.isfinite(arr.max())):
        bad = np.count_nonzero(~np.isfinite(arr))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); all must be finite")
    return arr


def check_scalar(value, name, *, low=None, high=None, low_inclusive=True, high_inclusive=True,
                 integer=False, allow_none=False, allow_inf=False):
    """Check a scalar parameter and return it as float (or int when ``integer``).

    Raises
    ------
    ValueError
        Naming the value and the allowed range.
    """
    if value is None:
        if allow_none:
            return None
        raise ValueError(f"{name} must be given; got None")
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise ValueError(f"{name} must be a real number; got {value!r}")
    if integer:
        if not float(value).is_integer():
            raise ValueError(f"{name} must be an integer; got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if np.isnan(value) or (np.isinf(value) and not allow_inf):
            raise ValueError(f"{name} must be finite; got {value!r}")
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        lb = "[" if low_inclusive else "("
        rb = "]" if high_inclusive else ")"
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        raise ValueError(f"{name}={value!r} is out of range; allowed: {lb}{lo}, {hi}{rb}")
    return value


def check_square_symmetric(K, name="K", *, rtol=1e-10):
    """Validate a kernel matrix: 2-D, square, finite, symmetric to ``rtol`` of its largest entry.

    Returns
    -------
    K : ndarray of shape (n, n), float64 (not copied when already float64)
    """
    K = as_float_array(K, name, ndim=2)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"{name} must be square; got shape {K.shape}")
    scale = float(max(K.max(), -K.min())) if K.size else 0.0
    asym = _max_asymmetry(K)
    if asym > rtol * max(scale, np.finfo(float).tiny):
        raise ValueError(
            f"{name} must be symmetric; max |K - K.T| = {asym:.3g} exceeds "
            f"{rtol:g} x max|K| = {rtol * scale:.3g}"
        )
    return K


def _max_asymmetry(K, block_elems=1 << 16):
    """max |K − Kᵀ| over blocks of rows: O(block) memory, never an n × n temporary."""
    n = K.shape[0]
    step = max(1, block_elems // max(n, 1))
    worst = 0.0
    for i in range(0, n, step):
        j = min(n, i + step)
        # rows i:j against columns i:j, transposed; only the upper part i: is needed
        diff = K[i:j, i:] - K[i:, i:j].T
        worst = max(worst, float(np.max(np.abs(diff))) if diff.size else 0.0)
    return worst


def check_targets(y, n, name="y"):
    """Validate targets of length ``n``: shape (n,) or (n, m), finite.

    Returns
    -------
    y : ndarray of shape (n,) or (n, m), float64
    """
    y = as_float_array(y, name, ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"{name} has {y.shape[0]} rows but the kernel matrix has {n}; they must match")
    if y.ndim == 2 and y.shape[1] == 0:
        raise ValueError(f"{name} has no columns (shape {y.shape})")
    return y


def check_kernel_rows(K_new, n, name="K_new"):
    """Validate ``k(X_new, X)`` for predictions: 2-D, ``n`` columns, finite, real.

    Returns
    -------
    K_new : ndarray of shape (n_new, n), float64 (not copied when already float64)
    """
    K_new = as_float_array(K_new, name, ndim=2, allow_empty=True)
    if K_new.shape[1] != n:
        raise ValueError(f"{name} must have shape (n_new, {n}) (one column per training "
                         f"sample); got {K_new.shape}")
    return K_new
