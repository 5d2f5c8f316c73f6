"""Kernel (Gram) matrices.

:func:`gram` computes k(X, Y) for the standard kernels of scikit-learn (``"linear"``,
``"polynomial"``, ``"rbf"``, ``"laplacian"``, same parameters and defaults), the two-layer
ReLU neural tangent kernel on the sphere (``"arccos"``), the NTK of a deep fully-connected
ReLU network (``"ntk"``), and user callables. ``"precomputed"`` kernels are the estimators'
business, not this module's.

How the work is split (measured in ``benchmarks/bench_kernels.py``):

- inner products always come from BLAS (``X @ Y.T``);
- the element-wise rest (exponential, arc-cosine recursions) is one fused numba pass over the
  BLAS output, in place, so a Gram matrix costs one ``n x m`` array and no temporaries; the L1
  distances of the Laplacian kernel (no BLAS form) are a numba loop too. The numba kernels
  are serial, cached and release the GIL; they run in slices on a thread pool
  (:mod:`hilbert_sd._kernels_numba`);
- small matrices (fewer than ``_NUMBA_MIN_ENTRIES`` entries) take a plain numpy path, which is
  as fast there; linear and polynomial kernels are BLAS plus in-place numpy operations at
  every size (numba would not help).

When ``Y`` is omitted (or is the same object as ``X``) the result is exactly symmetric, with
the exact diagonal value of the kernel (1 for rbf and laplacian, 1/2 for arccos).
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar

__all__ = ["gram", "KERNELS", "KERNEL_PARAMS"]

KERNELS = ("linear", "polynomial", "rbf", "laplacian", "arccos", "ntk")

#: Parameters each named kernel takes, with their defaults (``None``: 1 / n_features).
KERNEL_PARAMS = {
    "linear": {},
    "polynomial": {"degree": 3, "gamma": None, "coef0": 1.0},
    "rbf": {"gamma": None},
    "laplacian": {"gamma": None},
    "arccos": {},
    "ntk": {"depth": 1, "w_std": 1.0, "b_std": 0.0},
}
_ALIASES = {"poly": "polynomial"}
_KNOWN_PARAMS = frozenset(name for spec in KERNEL_PARAMS.values() for name in spec)

# Matrices with fewer entries take the numpy path: both paths cost well under a millisecond
# there, and numpy pays no thread hand-off and no first-call cache load or compilation.
_NUMBA_MIN_ENTRIES = 128 * 128

# Cosines beyond this (in absolute value) get their angle recomputed from the inputs; must
# match hilbert_sd._kernels_numba._REFINE_COS so that both paths agree.
_REFINE_COS = 0.9


def gram(X, Y=None, kernel="rbf", **params):
    """Kernel matrix k(X, Y).

    Parameters
    ----------
    X : array-like of shape (n_samples_X, n_features)
        Finite values, at least one sample and one feature.
    Y : array-like of shape (n_samples_Y, n_features), optional
        Second set of points; ``None`` (or ``X`` itself) means ``X``, and the result is then
        exactly symmetric.
    kernel : str or callable, default="rbf"
        One of ``"linear"``, ``"polynomial"`` (alias ``"poly"``), ``"rbf"``, ``"laplacian"``,
        ``"arccos"``, ``"ntk"``, or a callable ``k(X, Y, **params) -> ndarray of shape
        (n_samples_X, n_samples_Y)``.
    **params
        Kernel parameters (see Notes). ``None`` means the default. A parameter the kernel does
        not take is an error, except that ``None`` is accepted for any parameter of a named
        kernel. For a callable every parameter is passed on.

    Returns
    -------
    K : ndarray of shape (n_samples_X, n_samples_Y)
        float64, C-contiguous, never a view of X or Y (a callable's output is copied if it
        shares memory with them).

    Raises
    ------
    ValueError
        For an unknown kernel, ``"precomputed"``, a parameter the kernel does not take or out
        of its range, inputs that are not 2-D, empty, non-finite or have different numbers of
        features, a zero row with ``"arccos"``, or a callable whose output has the wrong shape
        or non-finite values.

    Notes
    -----
    With p = n_features, x and y rows of X and Y:

    - ``"linear"``: xᵀy.
    - ``"polynomial"`` (``degree=3`` integer >= 1, ``gamma=1/p`` > 0, ``coef0=1``):
      (gamma xᵀy + coef0)^degree.
    - ``"rbf"`` (``gamma=1/p`` > 0): exp(-gamma ‖x - y‖²).
    - ``"laplacian"`` (``gamma=1/p`` > 0): exp(-gamma ‖x - y‖₁).
    - ``"arccos"``: with u = x/‖x‖, v = y/‖y‖, c = uᵀv and θ = arccos c,
      c (π - θ) / (2π), the NTK H∞ of a two-layer ReLU network whose first layer is trained
      (theory.md §5). Zero rows have no direction and raise a ``ValueError``.
    - ``"ntk"`` (``depth=1`` integer >= 1, ``w_std=1`` > 0, ``b_std=0`` >= 0): the
      infinite-width NTK of a fully-connected ReLU network with ``depth`` hidden layers in the
      NTK parameterization, by the recursion of api.md (see the kernels topic page).

    Where abs(cos θ) > 0.9 the angle between the (first-layer) inputs is recomputed from the
    inputs by Kahan's formula 2 atan2(‖‖v‖u - ‖u‖v‖, ‖‖v‖u + ‖u‖v‖): arccos of a rounded
    cosine near ±1 loses half the digits.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.kernels import gram
    >>> X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> K = gram(X, kernel="rbf", gamma=0.5)
    >>> K.shape, float(K[0, 0]), bool(np.all(K == K.T))
    ((3, 3), 1.0, True)
    >>> float(gram(X[:1], X[1:2], kernel="arccos")[0, 0])   # orthogonal: cos = 0
    0.0
    """
    if isinstance(kernel, str) and kernel == "precomputed":
        raise ValueError(
            "kernel='precomputed' is not computed by gram: a precomputed kernel matrix is "
            "passed to the estimators directly; allowed here: "
            f"{', '.join(repr(k) for k in KERNELS)} or a callable"
        )
    symmetric = Y is None or Y is X
    X = as_float_array(X, "X", ndim=2)
    if symmetric:
        Y = X
    else:
        Y = as_float_array(Y, "Y", ndim=2)
        if Y.shape[1] != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features but Y has {Y.shape[1]}; they must match"
            )
    if callable(kernel):
        return _call_kernel(kernel, X, Y, params)
    if not isinstance(kernel, str) or _ALIASES.get(kernel, kernel) not in KERNEL_PARAMS:
        raise ValueError(
            f"kernel={kernel!r} is not supported; allowed: "
            f"{', '.join(repr(k) for k in KERNELS)} (or 'poly'), or a callable"
        )
    kernel = _ALIASES.get(kernel, kernel)
    params = _check_params(kernel, params, X.shape[1])
    X = np.ascontiguousarray(X)
    Y = X if symmetric else np.ascontiguousarray(Y)
    backend = "numba" if X.shape[0] * Y.shape[0] >= _NUMBA_MIN_ENTRIES else "numpy"
    return _gram(X, None if symmetric else Y, kernel, params, backend)


def _call_kernel(kernel, X, Y, params):
    name = getattr(kernel, "__name__", repr(kernel))
    out = kernel(X, Y, **params)
    try:
        K = np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"kernel callable {name} must return an array of real numbers; "
            f"got {type(out).__name__}"
        ) from exc
    expected = (X.shape[0], Y.shape[0])
    if K.shape != expected:
        raise ValueError(
            f"kernel callable {name} returned shape {K.shape}; expected {expected} "
            "(n_samples_X, n_samples_Y)"
        )
    if not np.all(np.isfinite(K)):
        bad = np.count_nonzero(~np.isfinite(K))
        raise ValueError(
            f"kernel callable {name} returned {bad} NaN or infinite value(s); all must be finite"
        )
    # never hand back (a view of) the caller's data: callers may scale the result in place
    if np.may_share_memory(K, X) or np.may_share_memory(K, Y):
        K = K.copy()
    return np.ascontiguousarray(K)


def _check_params(kernel, params, n_features):
    """Resolve the parameters of a named kernel: defaults filled in, ranges checked."""
    spec = KERNEL_PARAMS[kernel]
    for name, value in params.items():
        if name in spec or (value is None and name in _KNOWN_PARAMS):
            continue
        allowed = ", ".join(sorted(spec)) if spec else "none"
        raise ValueError(
            f"kernel={kernel!r} takes no parameter {name}={value!r}; allowed: {allowed}"
        )
    out = {}
    for name, default in spec.items():
        value = params.get(name)
        if value is None:
            value = default
        if name == "gamma":
            value = 1.0 / n_features if value is None else check_scalar(
                value, "gamma", low=0.0, low_inclusive=False)
        elif name in ("degree", "depth"):
            value = check_scalar(value, name, low=1, integer=True)
        elif name == "coef0":
            value = check_scalar(value, "coef0")
        elif name == "w_std":
            value = check_scalar(value, "w_std", low=0.0, low_inclusive=False)
        elif name == "b_std":
            value = check_scalar(value, "b_std", low=0.0)
        out[name] = value
    return out


def _gram(X, Y, kernel, params, backend):
    """Validated inputs (C-contiguous float64; ``Y=None`` for the symmetric case) -> K."""
    if kernel in ("linear", "polynomial"):
        # numpy computes X @ X.T with syrk and copies one triangle onto the other: exactly
        # symmetric, and faster than a gemm followed by our own copy (measured)
        K = X @ (X if Y is None else Y).T
        if kernel == "polynomial":
            K *= params["gamma"]
            K += params["coef0"]
            K **= params["degree"]
        return K
    if kernel == "rbf":
        return _rbf(X, Y, params["gamma"], backend)
    if kernel == "laplacian":
        return _laplacian(X, Y, params["gamma"], backend)
    if kernel == "arccos":
        return _arccos(X, Y, backend)
    if kernel == "ntk":
        return _ntk(X, Y, params["depth"], params["w_std"], params["b_std"], backend)
    raise AssertionError(kernel)  # unreachable: names are checked by gram


def _inner(X, Y, backend):
    """X @ Y.T; for Y = None on the numba path only its lower triangle is used."""
    if Y is None and backend == "numba":
        # plain gemm on a transposed copy: numpy's own X @ X.T takes a syrk path that also
        # copies one triangle onto the other (measured up to twice as slow for p = 10), and
        # the numba passes read only the lower triangle
        return X @ np.ascontiguousarray(X.T)
    return X @ (X if Y is None else Y).T


def _mirror(K):
    """Copy the strict lower triangle of the square K onto the upper one, in place (numpy
    path: small matrices only, the index arrays are temporaries)."""
    upper = np.triu_indices(len(K), 1)
    K[upper] = K.T[upper]


def _sq_norms(X):
    # one fixed summation order for X and Y, so that identical rows get identical norms
    return np.add.reduce(X * X, axis=1)


# --------------------------------------------------------------------------------------------


def _rbf(X, Y, gamma, backend):
    xx = _sq_norms(X)
    yy = xx if Y is None else _sq_norms(Y)
    G = _inner(X, Y, backend)
    if backend == "numba":
        from hilbert_sd import _kernels_numba as nb

        if Y is None:
            nb.fill_symmetric(nb.rbf_lower, (G, xx, gamma), len(G))
        else:
            nb.run_in_threads(nb.rbf_rows, (G, xx, yy, gamma), len(G))
        return G
    G *= -2.0
    G += xx[:, None]
    G += yy[None, :]
    np.maximum(G, 0.0, out=G)
    G *= -gamma
    np.exp(G, out=G)
    if Y is None:
        np.fill_diagonal(G, 1.0)
        _mirror(G)
    return G


def _laplacian(X, Y, gamma, backend):
    if backend == "numba":
        from hilbert_sd import _kernels_numba as nb

        out = np.empty((X.shape[0], X.shape[0] if Y is None else Y.shape[0]))
        if Y is None:
            nb.fill_symmetric(nb.laplacian_lower, (out, X, np.ascontiguousarray(X.T), gamma),
                              len(X))
        else:
            nb.run_in_threads(nb.laplacian_rows, (X, np.ascontiguousarray(Y.T), gamma, out),
                              len(X))
        return out
    from scipy.spatial.distance import cdist

    # |a - b| == |b - a| and the sum runs in the same order: exactly symmetric, zero diagonal
    K = cdist(X, X if Y is None else Y, metric="cityblock")
    K *= -gamma
    np.exp(K, out=K)
    return K


def _unit_rows(X, name):
    scale = np.max(np.abs(X), axis=1)
    zero = np.flatnonzero(scale == 0.0)
    if zero.size:
        rows = ", ".join(map(str, zero[:5])) + (", ..." if zero.size > 5 else "")
        raise ValueError(
            f"kernel='arccos' normalizes inputs to unit length, but {name} has {zero.size} "
            f"zero row(s) (index {rows}), which have no direction; remove them or use "
            "kernel='ntk', which is defined at 0"
        )
    # scaling by the largest entry first keeps the squared norm clear of under/overflow
    U = X / scale[:, None]
    U /= np.sqrt(_sq_norms(U))[:, None]
    return U


def _angles_direct(X, Y, rows, cols, scale2, bias2, nx, ny):
    """Angles of the pairs (rows[k], cols[k]) of augmented, scaled inputs
    u = (sqrt(scale2) x, sqrt(bias2)), v = (sqrt(scale2) y, sqrt(bias2)) of norms ``nx[rows]``
    and ``ny[cols]``, by Kahan's 2 atan2(| |v| u - |u| v |, | |v| u + |u| v |)."""
    nu = nx[rows]
    nv = ny[cols]
    A = nv[:, None] * X[rows]
    B = nu[:, None] * Y[cols]
    dm = scale2 * _sq_norms(A - B) + bias2 * (nv - nu) ** 2
    dp = scale2 * _sq_norms(A + B) + bias2 * (nv + nu) ** 2
    return 2.0 * np.arctan2(np.sqrt(dm), np.sqrt(dp))


def _arccos(X, Y, backend):
    U = _unit_rows(X, "X")
    V = U if Y is None else _unit_rows(Y, "Y")
    C = _inner(U, None if Y is None else V, backend)
    if backend == "numba":
        from hilbert_sd import _kernels_numba as nb

        if Y is None:
            nb.fill_symmetric(nb.arccos_lower, (C, U), len(C))
        else:
            nb.run_in_threads(nb.arccos_rows, (C, U, V), len(C))
        return C
    np.clip(C, -1.0, 1.0, out=C)
    theta = np.arccos(C)
    rows, cols = np.nonzero(np.abs(C) > _REFINE_COS)
    ones = np.ones(max(U.shape[0], V.shape[0]))
    theta[rows, cols] = _angles_direct(U, V, rows, cols, 1.0, 0.0, ones, ones)
    C[rows, cols] = np.cos(theta[rows, cols])
    np.subtract(np.pi, theta, out=theta)
    theta /= 2.0 * np.pi
    C *= theta
    if Y is None:
        np.fill_diagonal(C, 0.5)
        _mirror(C)
    return C


def _ntk_diagonal(X, depth, w2, b2):
    """Sigma_l(x, x) for l = 0 .. depth (shape (depth + 1, n)) and Theta(x, x) (shape (n,)).

    At zero angle both factors of the recursion are exactly 1/2.
    """
    sigma = np.empty((depth + 1, X.shape[0]))
    sigma[0] = w2 * _sq_norms(X) * (1.0 / X.shape[1]) + b2
    theta = sigma[0].copy()
    for layer in range(depth):
        sigma[layer + 1] = w2 * sigma[layer] * 0.5 + b2
        theta = theta * w2 * 0.5 + sigma[layer + 1]
    return sigma, theta


def _ntk(X, Y, depth, w_std, b_std, backend):
    w2 = w_std * w_std
    b2 = b_std * b_std
    sx, diag = _ntk_diagonal(X, depth, w2, b2)
    sy = sx if Y is None else _ntk_diagonal(Y, depth, w2, b2)[0]
    G = _inner(X, Y, backend)
    if backend == "numba":
        from hilbert_sd import _kernels_numba as nb

        if Y is None:
            nb.fill_symmetric(nb.ntk_lower, (G, X, sx, diag, w2, b2), len(G))
        else:
            nb.run_in_threads(nb.ntk_rows, (G, X, Y, sx, sy, w2, b2), len(G))
        return G
    # the same recursion as hilbert_sd._kernels_numba._ntk_entry, on whole matrices
    V = X if Y is None else Y
    cov = w2 * G * (1.0 / X.shape[1]) + b2
    theta_ntk = cov.copy()
    norm = np.sqrt(np.outer(sx[0], sy[0]))
    zero = norm == 0.0  # a zero input with b_std = 0: its row and column stay 0
    safe = np.where(zero, 1.0, norm)
    rho = np.where(zero, 0.0, cov / safe)
    np.clip(rho, -1.0, 1.0, out=rho)
    theta = np.arccos(rho)
    cos_t = rho
    sin_t = np.sqrt((1.0 - rho) * (1.0 + rho))
    omc = 1.0 - rho
    rows, cols = np.nonzero(np.abs(rho) > _REFINE_COS)
    t = _angles_direct(X, V, rows, cols, w2 / X.shape[1], b2, np.sqrt(sx[0]), np.sqrt(sy[0]))
    theta[rows, cols] = t
    cos_t[rows, cols] = np.cos(t)
    sin_t[rows, cols] = np.sin(t)
    omc[rows, cols] = 2.0 * np.sin(0.5 * t) ** 2
    wedge = None
    for layer in range(depth):
        ra = np.sqrt(sx[layer])[:, None]
        rb = np.sqrt(sy[layer])[None, :]
        if layer > 0:
            norm = np.sqrt(np.outer(sx[layer], sy[layer]))
            safe = np.where(zero, 1.0, norm)
            theta = np.arctan2(wedge, cov)
            sin_t = wedge / safe
            cos_t = cov / safe
            omc = np.where(cov >= 0.0, wedge * wedge / (safe * (safe + np.abs(cov))),
                           1.0 - cos_t)
        j_sigma = (sin_t + (np.pi - theta) * cos_t) / (2.0 * np.pi)
        j_theta = (np.pi - theta) / (2.0 * np.pi)
        gap = np.maximum((np.pi * omc - (sin_t - theta * cos_t)) / (2.0 * np.pi), 0.0)
        wedge = np.sqrt(w2 * w2 * np.outer(sx[layer], sy[layer]) * gap * (0.5 + j_sigma)
                        + b2 * w2 * (0.5 * (ra - rb) ** 2 + 2.0 * norm * gap))
        cov = w2 * norm * j_sigma + b2
        theta_ntk = theta_ntk * w2 * j_theta + cov
    theta_ntk[zero] = 0.0
    if Y is None:
        np.fill_diagonal(theta_ntk, diag)
        _mirror(theta_ntk)
    return theta_ntk
