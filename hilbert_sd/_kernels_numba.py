"""Compiled element-wise passes for :mod:`hilbert_sd.kernels`.

Each kernel here takes only arrays and scalars and works in place on (or fills) one
``(n, m)`` float64 array, so that a Gram matrix needs no ``n x m`` temporary beyond its own
storage. The inner products come from BLAS in the caller; these loops only do the part BLAS
cannot: the fused exponential, the L1 distances, and the arc-cosine / NTK recursions.

The ``*_sym`` variants fill a square symmetric matrix: they compute the strictly lower
triangle and write each value to both ``[i, j]`` and ``[j, i]`` in the same pass, so the result
is exactly symmetric whatever BLAS returned above the diagonal, and they do half the
transcendental work. They sweep column blocks of ``_BLOCK`` columns so that the transposed
writes stay in cache, and pair block ``k`` with block ``nb - 1 - k`` so that the two halves of
``prange`` get the same amount of work.

Nothing here is compiled at import time. ``parallel=True`` kernels are not cached on disk
(parallel cache entries have been reported to crash), so they compile once per process.
"""

import math

import numpy as np
from numba import njit, prange

_BLOCK = 64
# below this |cos| the angle is taken from arccos; above it the angle is recomputed from the
# inputs (Kahan's atan2 form, see _angle), which stays accurate near 0 and pi where arccos of a
# rounded cosine loses half the digits
_REFINE_COS = 0.9
_PI = math.pi
_TWO_PI = 2.0 * math.pi


# --------------------------------------------------------------------------------------------
# RBF: K = exp(-gamma * max(|x|^2 + |y|^2 - 2 x.y, 0)) written over the BLAS product x.y


@njit(parallel=True)
def rbf_inplace(G, xx, yy, gamma):
    """Turn ``G = X @ Y.T`` into the RBF kernel matrix in place.

    Parameters
    ----------
    G : ndarray of shape (n, m)
        Inner products, overwritten with ``exp(-gamma * max(xx_i + yy_j - 2 G_ij, 0))``.
    xx : ndarray of shape (n,)
        Squared norms of the rows of X.
    yy : ndarray of shape (m,)
        Squared norms of the rows of Y.
    gamma : float
    """
    n, m = G.shape
    for i in prange(n):
        a = xx[i]
        for j in range(m):
            d = a + yy[j] - 2.0 * G[i, j]
            if d < 0.0:
                d = 0.0
            G[i, j] = math.exp(-gamma * d)


@njit(parallel=True)
def rbf_inplace_sym(G, xx, gamma):
    """Symmetric version of :func:`rbf_inplace` for ``G = X @ X.T``: reads the lower triangle,
    writes both triangles and exact ones on the diagonal."""
    n = G.shape[0]
    nb = (n + _BLOCK - 1) // _BLOCK
    for k in prange((nb + 1) // 2):
        for half in range(2):
            b = np.int64(k) if half == 0 else nb - 1 - np.int64(k)
            if half == 1 and b == np.int64(k):
                break
            j0 = b * _BLOCK
            j1 = min(j0 + _BLOCK, n)
            for i in range(j0, n):
                a = xx[i]
                for j in range(j0, min(j1, i)):
                    d = a + xx[j] - 2.0 * G[i, j]
                    if d < 0.0:
                        d = 0.0
                    v = math.exp(-gamma * d)
                    G[i, j] = v
                    G[j, i] = v
            for i in range(j0, j1):
                G[i, i] = 1.0


# --------------------------------------------------------------------------------------------
# Laplacian: K = exp(-gamma * |x - y|_1); L1 distances have no BLAS form


@njit(parallel=True)
def laplacian(X, Y, gamma, out):
    """Fill ``out`` with ``exp(-gamma * sum_k |X_ik - Y_jk|)``.

    Parameters
    ----------
    X : ndarray of shape (n, p)
    Y : ndarray of shape (m, p)
    gamma : float
    out : ndarray of shape (n, m)
    """
    n, p = X.shape
    m = Y.shape[0]
    for i in prange(n):
        for j in range(m):
            s = 0.0
            for k in range(p):
                s += abs(X[i, k] - Y[j, k])
            out[i, j] = math.exp(-gamma * s)


@njit(parallel=True)
def laplacian_sym(X, gamma, out):
    """Symmetric version of :func:`laplacian` for Y = X (exact ones on the diagonal)."""
    n, p = X.shape
    nb = (n + _BLOCK - 1) // _BLOCK
    for kb in prange((nb + 1) // 2):
        for half in range(2):
            b = np.int64(kb) if half == 0 else nb - 1 - np.int64(kb)
            if half == 1 and b == np.int64(kb):
                break
            j0 = b * _BLOCK
            j1 = min(j0 + _BLOCK, n)
            for i in range(j0, n):
                for j in range(j0, min(j1, i)):
                    s = 0.0
                    for k in range(p):
                        s += abs(X[i, k] - X[j, k])
                    v = math.exp(-gamma * s)
                    out[i, j] = v
                    out[j, i] = v
            for i in range(j0, j1):
                out[i, i] = 1.0


# --------------------------------------------------------------------------------------------
# Angles between (augmented, scaled) inputs


@njit
def _angle(X, Y, i, j, scale2, bias2, nu, nv):
    """Angle between u = (sqrt(scale2) x_i, sqrt(bias2)) and v = (sqrt(scale2) y_j, sqrt(bias2))
    of norms ``nu`` and ``nv``.

    Kahan's 2 atan2(| |v| u - |u| v |, | |v| u + |u| v |) is accurate for every angle,
    including 0 and pi.
    """
    dm = 0.0
    dp = 0.0
    for k in range(X.shape[1]):
        a = nv * X[i, k]
        c = nu * Y[j, k]
        dm += (a - c) * (a - c)
        dp += (a + c) * (a + c)
    dm = scale2 * dm + bias2 * (nv - nu) * (nv - nu)
    dp = scale2 * dp + bias2 * (nv + nu) * (nv + nu)
    return 2.0 * math.atan2(math.sqrt(dm), math.sqrt(dp))


@njit
def _arccos_entry(c, U, V, i, j):
    if c > _REFINE_COS or c < -_REFINE_COS:
        theta = _angle(U, V, i, j, 1.0, 0.0, 1.0, 1.0)
        c = math.cos(theta)
    else:
        theta = math.acos(c)
    return c * ((_PI - theta) / _TWO_PI)


@njit(parallel=True)
def arccos_inplace(C, U, V):
    """Turn ``C = U @ V.T`` (rows of U and V of unit length) into the arc-cosine NTK
    ``c (pi - arccos c) / (2 pi)`` in place.

    Parameters
    ----------
    C : ndarray of shape (n, m)
        Cosines, overwritten with the kernel.
    U : ndarray of shape (n, p)
        Unit-length rows.
    V : ndarray of shape (m, p)
        Unit-length rows.
    """
    n, m = C.shape
    for i in prange(n):
        for j in range(m):
            C[i, j] = _arccos_entry(C[i, j], U, V, i, j)


@njit(parallel=True)
def arccos_inplace_sym(C, U):
    """Symmetric version of :func:`arccos_inplace` for ``C = U @ U.T`` (exactly 1/2 on the
    diagonal)."""
    n = C.shape[0]
    nb = (n + _BLOCK - 1) // _BLOCK
    for k in prange((nb + 1) // 2):
        for half in range(2):
            b = np.int64(k) if half == 0 else nb - 1 - np.int64(k)
            if half == 1 and b == np.int64(k):
                break
            j0 = b * _BLOCK
            j1 = min(j0 + _BLOCK, n)
            for i in range(j0, n):
                for j in range(j0, min(j1, i)):
                    v = _arccos_entry(C[i, j], U, U, i, j)
                    C[i, j] = v
                    C[j, i] = v
            for i in range(j0, j1):
                C[i, i] = 0.5


# --------------------------------------------------------------------------------------------
# NTK of a fully-connected ReLU network (NTK parameterization)


@njit
def _ntk_entry(g, X, Y, i, j, sx, sy, w2, b2, inv_p):
    """NTK of one pair from its inner product ``g = x_i . y_j``.

    ``sx[l, i]`` and ``sy[l, j]`` are the variances Sigma_l(x, x) and Sigma_l(y, y) of layer
    l = 0 .. depth. Besides the covariance C = Sigma_l(x, y) the loop carries the "wedge"
    D = sqrt(Sigma(x, x) Sigma(y, y) - C^2) = norm * sin(theta), updated from a sum of
    non-negative terms, so that small angles (near-duplicate inputs) stay accurate in every
    layer instead of rounding the cosine to 1.
    """
    depth = sx.shape[0] - 1
    cov = w2 * g * inv_p + b2
    theta_ntk = cov
    norm = math.sqrt(sx[0, i] * sy[0, j])
    if norm == 0.0:
        # a zero input with b_std = 0: every pre-activation is 0, so is every later term
        return theta_ntk
    rho = cov / norm
    if rho > _REFINE_COS or rho < -_REFINE_COS:
        theta = _angle(X, Y, i, j, w2 * inv_p, b2, math.sqrt(sx[0, i]), math.sqrt(sy[0, j]))
        cos_t = math.cos(theta)
        sin_t = math.sin(theta)
        h = math.sin(0.5 * theta)
        omc = 2.0 * h * h
    else:
        cos_t = rho
        theta = math.acos(rho)
        sin_t = math.sqrt((1.0 - rho) * (1.0 + rho))
        omc = 1.0 - rho
    wedge = 0.0
    for layer in range(depth):
        ra = math.sqrt(sx[layer, i])
        rb = math.sqrt(sy[layer, j])
        if layer > 0:
            norm = math.sqrt(sx[layer, i] * sy[layer, j])
            theta = math.atan2(wedge, cov)
            sin_t = wedge / norm
            cos_t = cov / norm
            if cov >= 0.0:
                omc = wedge * wedge / (norm * (norm + cov))
            else:
                omc = 1.0 - cos_t
        # the factors are formed first so that at theta = 0 they are exactly 1/2 and the
        # recursion reproduces the diagonal one (w2 * s * 0.5 + b2) bit for bit
        j_sigma = (sin_t + (_PI - theta) * cos_t) / _TWO_PI
        j_theta = (_PI - theta) / _TWO_PI
        # 1/2 - j_sigma without cancellation: (pi (1 - cos) - (sin - theta cos)) / (2 pi)
        gap = (_PI * omc - (sin_t - theta * cos_t)) / _TWO_PI
        if gap < 0.0:
            gap = 0.0
        wedge2 = (w2 * w2 * (sx[layer, i] * sy[layer, j]) * gap * (0.5 + j_sigma)
                  + b2 * w2 * (0.5 * (ra - rb) * (ra - rb) + 2.0 * norm * gap))
        wedge = math.sqrt(wedge2)
        cov = w2 * norm * j_sigma + b2
        theta_ntk = theta_ntk * w2 * j_theta + cov
    return theta_ntk


@njit(parallel=True)
def ntk_inplace(G, X, Y, sx, sy, w2, b2):
    """Turn ``G = X @ Y.T`` into the NTK matrix in place.

    Parameters
    ----------
    G : ndarray of shape (n, m)
        Inner products of the raw inputs, overwritten with the kernel.
    X : ndarray of shape (n, p)
    Y : ndarray of shape (m, p)
    sx : ndarray of shape (depth + 1, n)
        Sigma_l(x_i, x_i) for l = 0 .. depth.
    sy : ndarray of shape (depth + 1, m)
        Sigma_l(y_j, y_j) for l = 0 .. depth.
    w2, b2 : float
        Squared weight and bias standard deviations.
    """
    n, m = G.shape
    inv_p = 1.0 / X.shape[1]
    for i in prange(n):
        for j in range(m):
            G[i, j] = _ntk_entry(G[i, j], X, Y, i, j, sx, sy, w2, b2, inv_p)


@njit(parallel=True)
def ntk_inplace_sym(G, X, sx, diag, w2, b2):
    """Symmetric version of :func:`ntk_inplace` for ``G = X @ X.T``; ``diag`` holds the exact
    diagonal Theta(x_i, x_i)."""
    n = G.shape[0]
    inv_p = 1.0 / X.shape[1]
    nb = (n + _BLOCK - 1) // _BLOCK
    for k in prange((nb + 1) // 2):
        for half in range(2):
            b = np.int64(k) if half == 0 else nb - 1 - np.int64(k)
            if half == 1 and b == np.int64(k):
                break
            j0 = b * _BLOCK
            j1 = min(j0 + _BLOCK, n)
            for i in range(j0, n):
                for j in range(j0, min(j1, i)):
                    v = _ntk_entry(G[i, j], X, X, i, j, sx, sx, w2, b2, inv_p)
                    G[i, j] = v
                    G[j, i] = v
            for i in range(j0, j1):
                G[i, i] = diag[i]
