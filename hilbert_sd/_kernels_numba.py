"""Compiled element-wise passes for :mod:`hilbert_sd.kernels`.

Each kernel here takes only arrays and scalars and works in place on (or fills) one
``(n, m)`` float64 array, so that a Gram matrix needs no ``n x m`` temporary beyond its own
storage. The inner products come from BLAS in the caller; these loops only do the part BLAS
cannot: the fused exponential, the L1 distances, and the arc-cosine / NTK recursions.

Every kernel does one slice of the work, ``[start, stop)``, and :func:`run_in_threads` hands
slices to a pool of threads. The kernels are serial, release the GIL (``nogil``) and are cached
on disk (``cache=True``), so they compile once per installation rather than once per process
(a ``parallel=True`` kernel takes seconds to compile in every process and must not be cached),
and they share no threading layer with BLAS, joblib or dask.

The ``*_rows`` kernels do rows ``start .. stop - 1`` of a general ``(n, m)`` matrix. The
``*_lower`` kernels do the lower triangle (diagonal included) of a square symmetric matrix,
half the work; slice item ``k`` is the pair of rows ``k`` and ``n - 1 - k``, so all items cost
the same. :func:`mirror_lower` then copies the strict lower triangle onto the upper one in
cache-sized tiles, so the result is exactly symmetric whatever BLAS returned above the
diagonal. (Writing both halves in the same pass is slower: the transposed writes touch a new
memory page per element.) :func:`fill_symmetric` runs the two.

Nothing here is compiled at import time.
"""

import itertools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit

# below this |cos| the angle is taken from arccos; above it the angle is recomputed from the
# inputs (Kahan's atan2 form, see _angle), which stays accurate near 0 and pi where arccos of a
# rounded cosine loses half the digits
_REFINE_COS = 0.9
_PI = math.pi
_TWO_PI = 2.0 * math.pi
# binary exponents are clipped to this before ldexp; must match hilbert_sd.kernels._MAX_EXP
_MAX_EXP = 4000
# slices per thread: small enough slices let a thread that shares its core with another
# process hand work over to the others
_SLICES_PER_THREAD = 8
# side of the square tiles of mirror_lower
_TILE = 32


def n_row_pairs(n):
    """Number of slice items of a ``*_lower`` kernel on an ``n x n`` matrix."""
    return (n + 1) // 2


def mirror(G):
    """Copy the strict lower triangle of the square ``G`` onto its upper one, in place, on the
    thread pool."""
    n_tiles = (G.shape[0] + _TILE - 1) // _TILE
    run_in_threads(mirror_lower, (G,), (n_tiles + 1) // 2)


def fill_symmetric(kernel, args, n):
    """Run the ``*_lower`` ``kernel(*args, start, stop)`` on an ``n x n`` matrix, the first of
    ``args``, then mirror its lower triangle onto the upper one, both on the thread pool."""
    run_in_threads(kernel, args, n_row_pairs(n))
    mirror(args[0])


_POOL = None
_POOL_KEY = None


def _pool(n_threads):
    # one long-lived pool: starting threads costs about a millisecond per call; a child
    # process after fork() must not reuse its parent's pool, whose threads it does not have
    global _POOL, _POOL_KEY
    key = (os.getpid(), n_threads)
    if _POOL is None or _POOL_KEY != key:
        _POOL = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="hilbert_sd")
        _POOL_KEY = key
    return _POOL


def run_in_threads(kernel, args, n_items, n_threads=None):
    """Run ``kernel(*args, start, stop)`` over ``[0, n_items)`` in slices on a thread pool.

    Parameters
    ----------
    kernel : numba dispatcher compiled with ``nogil=True``
    args : tuple
        Arrays and scalars passed before ``start, stop``.
    n_items : int
        Rows (``*_rows`` kernels), row pairs (``*_lower`` kernels, see :func:`n_row_pairs`)
        or tile-row pairs (:func:`mirror_lower`).
    n_threads : int, optional
        Defaults to ``numba.config.NUMBA_NUM_THREADS`` (the number of CPUs unless the
        ``NUMBA_NUM_THREADS`` environment variable says otherwise).
    """
    if n_threads is None:
        n_threads = numba.config.NUMBA_NUM_THREADS
    n_threads = max(1, min(int(n_threads), n_items))
    n_slices = min(n_items, _SLICES_PER_THREAD * n_threads) if n_threads > 1 else 1
    bounds = np.linspace(0, n_items, n_slices + 1).astype(np.int64)
    if n_slices == 1:
        kernel(*args, bounds[0], bounds[1])
        return
    # slices are handed out one at a time (itertools.count is atomic under the GIL), so a
    # thread slowed down by another process on its core simply takes fewer of them
    counter = itertools.count()
    if not kernel.signatures:
        # first call in this process: compile (or load from the cache) on one slice in this
        # thread, so that compilation errors surface here and happen once
        k = next(counter)
        kernel(*args, bounds[k], bounds[k + 1])

    def work():
        while True:
            k = next(counter)
            if k >= n_slices:
                return
            kernel(*args, bounds[k], bounds[k + 1])

    futures = [_pool(n_threads - 1).submit(work) for _ in range(n_threads - 1)]
    work()
    for future in futures:
        future.result()


@njit(cache=True, nogil=True)
def _paired(k, half, count):
    """Index handled by half ``half`` (0 or 1) of slice item ``k``: ``k`` itself, then its
    mirror ``count - 1 - k``; -1 when the mirror is ``k`` itself."""
    if half == 0:
        return k
    other = count - 1 - k
    return -1 if other == k else other


@njit(cache=True, nogil=True)
def mirror_lower(G, start, stop):
    """Copy the strict lower triangle of the square ``G`` onto its upper triangle, for the
    tile rows paired in slice items ``start .. stop - 1``."""
    n = G.shape[0]
    n_tiles = (n + _TILE - 1) // _TILE
    for k in range(start, stop):
        for half in range(2):
            bi = _paired(k, half, n_tiles)
            if bi < 0:
                continue
            i0 = bi * _TILE
            i1 = min(i0 + _TILE, n)
            for bj in range(bi + 1):
                j0 = bj * _TILE
                j1 = min(j0 + _TILE, n)
                for j in range(j0, j1):
                    for i in range(max(i0, j + 1), i1):
                        G[j, i] = G[i, j]


# --------------------------------------------------------------------------------------------
# RBF: K = exp(-gamma * max(|x|^2 + |y|^2 - 2 x.y, 0)) written over the BLAS product x.y


@njit(cache=True, nogil=True)
def rbf_rows(G, xx, yy, gamma, start, stop):
    """Turn rows ``start .. stop - 1`` of ``G = X @ Y.T`` into the RBF kernel, in place.

    Parameters
    ----------
    G : ndarray of shape (n, m)
        Inner products, overwritten with ``exp(-gamma * max(xx_i + yy_j - 2 G_ij, 0))``.
    xx : ndarray of shape (n,)
        Squared norms of the rows of X.
    yy : ndarray of shape (m,)
        Squared norms of the rows of Y.
    gamma : float
    start, stop : int
    """
    m = G.shape[1]
    for i in range(start, stop):
        a = xx[i]
        for j in range(m):
            d = a + yy[j] - 2.0 * G[i, j]
            if d < 0.0:
                d = 0.0
            G[i, j] = math.exp(-gamma * d)


@njit(cache=True, nogil=True)
def rbf_lower(G, xx, gamma, start, stop):
    """Lower-triangle version of :func:`rbf_rows` for ``G = X @ X.T`` over row pairs
    ``start .. stop - 1``, with exact ones on the diagonal."""
    n = G.shape[0]
    for k in range(start, stop):
        for half in range(2):
            i = _paired(k, half, n)
            if i < 0:
                continue
            a = xx[i]
            for j in range(i):
                d = a + xx[j] - 2.0 * G[i, j]
                if d < 0.0:
                    d = 0.0
                G[i, j] = math.exp(-gamma * d)
            G[i, i] = 1.0


# --------------------------------------------------------------------------------------------
# Laplacian: K = exp(-gamma * |x - y|_1); L1 distances have no BLAS form


@njit(cache=True, nogil=True)
def laplacian_rows(X, YT, gamma, out, start, stop):
    """Fill rows ``start .. stop - 1`` of ``out`` with ``exp(-gamma * sum_k |X_ik - Y_jk|)``.

    Y comes transposed so that the innermost loop runs along contiguous memory and
    vectorizes (about 1.6 times faster than a loop over the features of each pair).

    Parameters
    ----------
    X : ndarray of shape (n, p)
    YT : ndarray of shape (p, m)
        Y transposed, C-contiguous.
    gamma : float
    out : ndarray of shape (n, m)
    start, stop : int
    """
    p = X.shape[1]
    m = YT.shape[1]
    for i in range(start, stop):
        row = out[i]
        for j in range(m):
            row[j] = 0.0
        for k in range(p):
            a = X[i, k]
            yk = YT[k]
            for j in range(m):
                row[j] += abs(a - yk[j])
        for j in range(m):
            row[j] = math.exp(-gamma * row[j])


@njit(cache=True, nogil=True)
def laplacian_lower(out, X, XT, gamma, start, stop):
    """Lower-triangle version of :func:`laplacian_rows` for Y = X over row pairs
    ``start .. stop - 1``, with exact ones on the diagonal (``XT`` is X transposed; ``out``
    comes first, as :func:`fill_symmetric` expects)."""
    n, p = X.shape
    for k in range(start, stop):
        for half in range(2):
            i = _paired(k, half, n)
            if i < 0:
                continue
            row = out[i]
            for j in range(i):
                row[j] = 0.0
            for f in range(p):
                a = X[i, f]
                xf = XT[f]
                for j in range(i):
                    row[j] += abs(a - xf[j])
            for j in range(i):
                row[j] = math.exp(-gamma * row[j])
            row[i] = 1.0


# --------------------------------------------------------------------------------------------
# Angles between unit vectors


@njit(cache=True, nogil=True)
def _angle(U, V, i, j, bu, bv):
    """Angle between the unit vectors (U[i], bu) and (V[j], bv) (``bu``, ``bv``: an extra
    coordinate, 0 for none).

    Kahan's 2 atan2(|u - v|, |u + v|) is accurate for every angle, including 0 and pi.
    """
    dm = 0.0
    dp = 0.0
    for k in range(U.shape[1]):
        a = U[i, k]
        c = V[j, k]
        dm += (a - c) * (a - c)
        dp += (a + c) * (a + c)
    dm += (bu - bv) * (bu - bv)
    dp += (bu + bv) * (bu + bv)
    return 2.0 * math.atan2(math.sqrt(dm), math.sqrt(dp))


@njit(cache=True, nogil=True)
def _arccos_entry(c, U, V, i, j):
    if c > _REFINE_COS or c < -_REFINE_COS:
        theta = _angle(U, V, i, j, 0.0, 0.0)
        c = math.cos(theta)
    else:
        theta = math.acos(c)
    return c * ((_PI - theta) / _TWO_PI)


@njit(cache=True, nogil=True)
def arccos_rows(C, U, V, start, stop):
    """Turn rows ``start .. stop - 1`` of ``C = U @ V.T`` (rows of U and V of unit length)
    into the arc-cosine NTK ``c (pi - arccos c) / (2 pi)``, in place.

    Parameters
    ----------
    C : ndarray of shape (n, m)
        Cosines, overwritten with the kernel.
    U : ndarray of shape (n, p)
        Unit-length rows.
    V : ndarray of shape (m, p)
        Unit-length rows.
    start, stop : int
    """
    m = C.shape[1]
    for i in range(start, stop):
        for j in range(m):
            C[i, j] = _arccos_entry(C[i, j], U, V, i, j)


@njit(cache=True, nogil=True)
def arccos_lower(C, U, start, stop):
    """Lower-triangle version of :func:`arccos_rows` for ``C = U @ U.T`` over row pairs
    ``start .. stop - 1``, with exactly 1/2 on the diagonal."""
    n = C.shape[0]
    for k in range(start, stop):
        for half in range(2):
            i = _paired(k, half, n)
            if i < 0:
                continue
            for j in range(i):
                C[i, j] = _arccos_entry(C[i, j], U, U, i, j)
            C[i, i] = 0.5


# --------------------------------------------------------------------------------------------
# NTK of a fully-connected ReLU network (NTK parameterization)


@njit(cache=True, nogil=True)
def _ntk_entry(c, U, V, i, j, Lx, Ly, mx, my, ex, ey):
    """NTK of one pair from the cosine ``c`` of its first-layer angle.

    ``U``, ``Lx``, ``mx``, ``ex`` (and ``V``, ``Ly``, ``my``, ``ey``) are the per-input data of
    ``hilbert_sd.kernels._NtkInputs``. The loop runs the recursion on normalized quantities
    (see ``hilbert_sd.kernels._ntk``): c = cos θ, s = sin θ and t = Θ / sqrt(Σ(x, x) Σ(y, y)),
    all of order 1 whatever the depth, w_std or the scale of the inputs; s is updated from a
    sum of non-negative terms, so that small angles (near-duplicate inputs) stay accurate in
    every layer instead of rounding the cosine to 1. Θ = t sqrt(Σ(x, x) Σ(y, y)) is formed
    at the end from the mantissas and binary exponents of the two variances.
    """
    depth = Lx.shape[1] - 1
    t = c
    if c > _REFINE_COS or c < -_REFINE_COS:
        theta = _angle(U, V, i, j, Lx[3, 0, i], Ly[3, 0, j])
        cos_t = math.cos(theta)
        sin_t = math.sin(theta)
        h = math.sin(0.5 * theta)
        omc = 2.0 * h * h
    else:
        cos_t = c
        theta = math.acos(c)
        sin_t = math.sqrt((1.0 - c) * (1.0 + c))
        omc = 1.0 - c
    s = 0.0
    for layer in range(depth):
        if layer > 0:
            theta = math.atan2(s, c)
            sin_t = s
            cos_t = c
            if c >= 0.0:
                omc = s * s / (1.0 + c)
            else:
                omc = 1.0 - c
        # the factors are formed first so that at theta = 0 they are exactly 1/2 and the
        # recursion reproduces the diagonal one
        j_sigma = (sin_t + (_PI - theta) * cos_t) / _TWO_PI
        j_theta = (_PI - theta) / _TWO_PI
        # 1/2 - j_sigma without cancellation: (pi (1 - cos) - (sin - theta cos)) / (2 pi)
        gap = (_PI * omc - (sin_t - theta * cos_t)) / _TWO_PI
        if gap < 0.0:
            gap = 0.0
        a = math.sqrt(Lx[0, layer, i] * Ly[0, layer, j])
        beta = math.sqrt(Lx[1, layer + 1, i] * Ly[1, layer + 1, j])
        cross = Lx[2, layer, i] * Ly[3, layer + 1, j] - Lx[3, layer + 1, i] * Ly[2, layer, j]
        s = math.sqrt(a * a * gap * (0.5 + j_sigma) + 2.0 * beta * a * gap
                      + 0.5 * cross * cross)
        c = a * j_sigma + beta
        t = t * a * j_theta + c
    return _scale_back(t, mx[i], my[j], ex[i], ey[j])


@njit(cache=True, nogil=True)
def _scale_back(t, mx, my, ex, ey):
    """t * sqrt(mx 2**ex * my 2**ey), rounded once to 0, a subnormal or inf if it falls
    outside the float64 range."""
    m = mx * my
    e = ex + ey
    if e % 2 != 0:
        m *= 2.0
        e -= 1
    e //= 2
    if e > _MAX_EXP:
        e = _MAX_EXP
    elif e < -_MAX_EXP:
        e = -_MAX_EXP
    return math.ldexp(t * math.sqrt(m), e)


@njit(cache=True, nogil=True)
def ntk_rows(G, U, V, Lx, Ly, mx, my, ex, ey, start, stop):
    """Turn rows ``start .. stop - 1`` of ``G = U @ V.T`` into the NTK, in place.

    Parameters
    ----------
    G : ndarray of shape (n, m)
        Inner products of the direction parts of the normalized inputs, overwritten with the
        kernel.
    U : ndarray of shape (n, p)
    V : ndarray of shape (m, p)
        Direction parts (``_NtkInputs.U``) of X and Y.
    Lx : ndarray of shape (4, depth + 1, n)
    Ly : ndarray of shape (4, depth + 1, m)
        Per-layer ratios (``_NtkInputs.layers``) of X and Y.
    mx, ex : ndarray of shape (n,)
    my, ey : ndarray of shape (m,)
        Σ^depth(x_i, x_i) = mx[i] * 2**ex[i], likewise for y_j (float64 and int64).
    start, stop : int
    """
    m = G.shape[1]
    for i in range(start, stop):
        bu = Lx[3, 0, i]
        for j in range(m):
            G[i, j] = _ntk_entry(G[i, j] + bu * Ly[3, 0, j], U, V, i, j, Lx, Ly, mx, my, ex, ey)


@njit(cache=True, nogil=True)
def ntk_lower(G, U, L, mant, expo, diag, start, stop):
    """Lower-triangle version of :func:`ntk_rows` for ``G = U @ U.T`` over row pairs
    ``start .. stop - 1``; ``diag`` holds the exact diagonal Θ(x_i, x_i)."""
    n = G.shape[0]
    for k in range(start, stop):
        for half in range(2):
            i = _paired(k, half, n)
            if i < 0:
                continue
            bu = L[3, 0, i]
            for j in range(i):
                G[i, j] = _ntk_entry(G[i, j] + bu * L[3, 0, j], U, U, i, j, L, L, mant, mant,
                                     expo, expo)
            G[i, i] = diag[i]
