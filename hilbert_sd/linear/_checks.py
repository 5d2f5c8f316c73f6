"""Input checks shared by the public functions of :mod:`hilbert_sd.linear` (private).

Every array goes through :func:`hilbert_sd._validation.as_float_array`, so the checks on real
dtype, dimension, emptiness and finiteness are those of the whole package; these add the shapes
the linear-teacher setting needs. Every error is a ``ValueError`` naming the offending value.
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar

__all__ = ["check_design", "check_kappa_margin", "check_vector"]


def check_design(X, name="X"):
    """Inputs as a float64 matrix of shape (n_samples, n_features), both at least 1."""
    X = as_float_array(X, name, ndim=2, allow_empty=True)
    n, d = X.shape
    if n == 0:
        raise ValueError(f"{name} has no samples (shape {X.shape}); n_samples must be >= 1")
    if d == 0:
        raise ValueError(f"{name} has no features (shape {X.shape}); n_features must be >= 1")
    return X


def check_vector(w, d, name, *, nonzero=False):
    """A float64 vector of ``d`` entries (non-zero when ``nonzero``)."""
    w = as_float_array(w, name, ndim=1)
    if w.shape[0] != d:
        raise ValueError(f"{name} has {w.shape[0]} entries but the inputs have {d} features; "
                         "they must match")
    if nonzero and not np.any(w):
        raise ValueError(f"{name} is the zero vector; a non-zero vector is required")
    return w


def check_kappa_margin(kappa, margin):
    """Parameters of the polar family: κ > 0 (None means 1) and m in [0, π/2) (None means 0)."""
    kappa = 1.0 if kappa is None else check_scalar(kappa, "kappa", low=0.0, low_inclusive=False)
    margin = 0.0 if margin is None else check_scalar(
        margin, "margin", low=0.0, high=0.5 * np.pi, high_inclusive=False
    )
    return kappa, margin
