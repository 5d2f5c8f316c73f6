"""Kernel (Gram) matrices.

Provisional implementation: delegates the standard kernels to scikit-learn. To be replaced by
the fast implementation (numba where it beats BLAS) with the same signature.
"""

import numpy as np

from hilbert_sd._validation import as_float_array

__all__ = ["gram", "KERNELS"]

KERNELS = ("linear", "polynomial", "rbf", "laplacian", "arccos", "ntk")


def gram(X, Y=None, kernel="rbf", **params):
    """Kernel matrix k(X, Y) of shape (len(X), len(Y or X)), float64."""
    from sklearn.metrics.pairwise import pairwise_kernels

    X = as_float_array(X, "X", ndim=2)
    Y = X if Y is None else as_float_array(Y, "Y", ndim=2)
    if callable(kernel):
        return np.asarray(kernel(X, Y), dtype=np.float64)
    params = {k: v for k, v in params.items() if v is not None}
    if kernel in ("linear", "polynomial", "rbf", "laplacian"):
        return pairwise_kernels(X, Y, metric=kernel, **params)
    raise ValueError(f"kernel={kernel!r} is not supported; allowed: {KERNELS} or a callable")
