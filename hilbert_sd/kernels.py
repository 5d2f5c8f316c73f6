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

import math

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
        Finite real values (complex dtypes are rejected, not cast), at least one sample and
        one feature.
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
        float64, C-contiguous, every entry finite, never a view of X or Y (a callable's
        output is copied if it shares memory with them).

    Raises
    ------
    ValueError
        For an unknown kernel, ``"precomputed"``, a parameter the kernel does not take or out
        of its range, inputs that are not 2-D, empty, complex, non-finite or have different
        numbers of features, a zero row with ``"arccos"``, a callable whose output has the
        wrong shape or is complex, and any kernel matrix with a NaN or infinite entry (for a
        named kernel: a value or intermediate exceeded the float64 range; the message names
        the kernel, the number of such pairs and the inputs' largest magnitude).

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
      (:doc:`/topics/noisy_labels`). Zero rows have no direction and raise a ``ValueError``.
    - ``"ntk"`` (``depth=1`` integer >= 1, ``w_std=1`` > 0, ``b_std=0`` >= 0): the
      infinite-width NTK of a fully-connected ReLU network with ``depth`` hidden layers in the
      NTK parameterization, by the recursion of api.md (see the kernels topic page). The
      recursion runs on the cosines Σ(x, y) / sqrt(Σ(x, x) Σ(y, y)) and ratios of variances,
      which stay of order 1; the scale sqrt(Σ(x, x) Σ(y, y)) is kept as a binary mantissa and
      exponent and applied once at the end. So deep networks, small or large ``w_std`` and
      inputs of any scale neither under- nor overflow on the way (with ``b_std=0`` every
      value scales as (w_std²/2)^depth): a value below the float64 range comes out as 0 or a
      subnormal number, one above it raises the ``ValueError`` above.

    Where abs(cos θ) > 0.9 the angle between the (first-layer) inputs, scaled to unit length
    u and v (for ``"ntk"`` the augmented inputs (w_std x/√p, b_std)), is recomputed by
    Kahan's formula 2 atan2(‖u - v‖, ‖u + v‖): arccos of a rounded cosine near ±1 loses half
    the digits.

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
        return _check_finite(_call_kernel(kernel, X, Y, params), kernel, params, X, Y)
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
    # an overflow shows as a non-finite value, which _check_finite reports with its cause
    with np.errstate(over="ignore", invalid="ignore"):
        K = _gram(X, None if symmetric else Y, kernel, params, backend)
    return _check_finite(K, kernel, params, X, None if symmetric else Y)


def _call_kernel(kernel, X, Y, params):
    name = _callable_name(kernel)
    out = kernel(X, Y, **params)
    if np.iscomplexobj(out):
        raise ValueError(
            f"kernel callable {name} returned complex dtype {np.asarray(out).dtype}; "
            "kernel values must be real"
        )
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
    # never hand back (a view of) the caller's data: callers may scale the result in place
    if np.may_share_memory(K, X) or np.may_share_memory(K, Y):
        K = K.copy()
    return np.ascontiguousarray(K)


def _callable_name(kernel):
    return getattr(kernel, "__name__", repr(kernel))


def _check_finite(K, kernel, params, X, Y):
    """Return ``K`` if every entry is finite; else raise a ``ValueError`` that says why.

    The inputs are finite (checked on the way in), so a non-finite value of a named kernel
    means that an intermediate quantity or the value itself exceeded the float64 range.
    """
    # one pass: a sum of finite values can only overflow if the values are huge, which the
    # exact count below then settles
    if np.isfinite(np.add.reduce(K, axis=None)):
        return K
    bad = K.size - np.count_nonzero(np.isfinite(K))
    if bad == 0:
        return K
    reach = np.max(np.abs(X)) if Y is None else max(np.max(np.abs(X)), np.max(np.abs(Y)))
    where = f"for {bad} of {K.size} pairs"
    if callable(kernel):
        raise ValueError(
            f"kernel callable {_callable_name(kernel)} returned NaN or infinite values {where} "
            f"(its inputs are finite, up to {reach:.3g} in absolute value); all must be finite"
        )
    rescale = "rescale X" if Y is None else "rescale X and Y"
    if kernel == "linear":
        why = (f"the inputs reach {reach:.3g} (their products exceed the float64 range "
               f"~1.8e308); {rescale}")
    elif kernel == "polynomial":
        why = (f"the inputs reach {reach:.3g} and (gamma xᵀy + coef0)**degree with "
               f"gamma={params['gamma']:.3g}, coef0={params['coef0']:.3g}, "
               f"degree={params['degree']} exceeds the float64 range ~1.8e308; {rescale} or "
               "lower gamma or degree")
    elif kernel == "ntk":
        w_std, b_std = params["w_std"], params["b_std"]
        why = (f"Θ(x, x') exceeds the float64 range ~1.8e308: the inputs reach {reach:.3g} "
               f"and each of the depth={params['depth']} hidden layers multiplies the "
               f"variances by about w_std²/2 = {w_std * w_std / 2:.3g} (w_std={w_std:g}, "
               f"b_std={b_std:g}); {rescale} or lower w_std or depth")
    else:
        why = (f"the inputs reach {reach:.3g} (their squared norms exceed the float64 range "
               f"~1.8e308); {rescale}")
    raise ValueError(f"kernel={kernel!r} overflowed: k(x, x') is not finite (NaN or infinite) "
                     f"{where}; {why}")


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


def _angles_direct(U, V, rows, cols, bu=0.0, bv=0.0):
    """Angles of the pairs (rows[k], cols[k]) of unit vectors (U[rows[k]], bu[k]) and
    (V[cols[k]], bv[k]) (``bu``, ``bv``: an extra coordinate, 0 for none), by Kahan's
    2 atan2(|u - v|, |u + v|)."""
    A = U[rows]
    B = V[cols]
    dm = _sq_norms(A - B) + (bu - bv) ** 2
    dp = _sq_norms(A + B) + (bu + bv) ** 2
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
    theta[rows, cols] = _angles_direct(U, V, rows, cols)
    C[rows, cols] = np.cos(theta[rows, cols])
    np.subtract(np.pi, theta, out=theta)
    theta /= 2.0 * np.pi
    C *= theta
    if Y is None:
        np.fill_diagonal(C, 0.5)
        _mirror(C)
    return C


# Binary exponents are clipped to +-_MAX_EXP before ldexp: the value scaled is a finite double
# (below 2**1024 and, unless 0, at least 2**-1074), so beyond that range the result is 0 or inf
# either way; the clip only keeps the integers small.
_MAX_EXP = 4000


class _NtkInputs:
    """Per-input data of the normalized NTK recursion (see :func:`_ntk`).

    Attributes
    ----------
    U : ndarray of shape (n, p)
        w_std x / sqrt(p Σ⁰(x, x)): with the bias coordinate ``layers[3, 0]`` =
        b_std / sqrt(Σ⁰(x, x)) it makes the unit vector whose inner products are the
        first-layer cosines.
    layers : ndarray of shape (4, depth + 1, n)
        For layer l: ``[0, l]`` a_l = w_std² Σˡ(x, x) / Σˡ⁺¹(x, x) in [0, 2], ``[1, l]``
        z_l = b_std² / Σˡ(x, x) in [0, 1], ``[2, l]`` sqrt(a_l) and ``[3, l]`` sqrt(z_l)
        (``[0, depth]`` and ``[2, depth]`` are unused). All are ratios: none under- or
        overflows with depth, w_std or the scale of x.
    mant, expo : ndarray of shape (n,)
        Σ^depth(x, x) = mant * 2**expo, mant in [1/2, 1) (0 for a zero input with b_std = 0);
        the exponent is an int64 that no depth exhausts.
    diag : ndarray of shape (n,)
        Θ(x, x).
    """

    def __init__(self, X, depth, w_std, b_std):
        n, p = X.shape
        # the largest entry first, as in _unit_rows: no square of an entry under- or overflows
        peak = np.max(np.abs(X), axis=1)
        D = X / np.where(peak > 0.0, peak, 1.0)[:, None]
        q = _sq_norms(D)  # |x|² / peak², in [1, p] (0 for a zero row)
        D /= np.where(q > 0.0, np.sqrt(q), 1.0)[:, None]  # x / |x|
        # sqrt(Σ⁰(x, x)) = hypot(w_std |x| / sqrt(p), b_std), both terms as mantissa x 2**E
        # with E the larger binary exponent of the two
        m_peak, e_peak = np.frexp(peak)
        m_w, e_w = math.frexp(w_std)
        m_in, e_in = np.frexp(m_peak * m_w * np.sqrt(q / p))
        e_in = e_in + e_peak + e_w
        if b_std > 0.0:
            e_b = math.frexp(b_std)[1]
            E = np.where(m_in > 0.0, np.maximum(e_in, e_b), e_b)
        else:
            E = e_in
        part_in = np.ldexp(m_in, np.clip(e_in - E, -_MAX_EXP, 0))
        part_b = np.ldexp(b_std, np.clip(-E, -_MAX_EXP, _MAX_EXP))
        h = np.hypot(part_in, part_b)  # sqrt(Σ⁰(x, x)) / 2**E, in [1/2, sqrt 2) or 0
        live = h > 0.0  # h = 0: a zero input with b_std = 0, every Σ and Θ of it is 0
        h_safe = np.where(live, h, 1.0)
        self.U = D * (part_in / h_safe)[:, None]
        bias = part_b / h_safe
        mant, de = np.frexp(h * h)
        expo = 2 * E.astype(np.int64) + de  # int64: frexp's are int32

        # per layer: Σˡ⁺¹(x, x) / Σˡ(x, x) = w_std²/2 + z_l; w_std²/2 = m_half x 2**e_half
        m_half, e_half = m_w * m_w, 2 * e_w - 1
        layers = np.zeros((4, depth + 1, n))
        a, z = layers[0], layers[1]
        z[0] = bias * bias
        for layer in range(depth):
            zl = z[layer]
            E = np.where(zl > 0.0, np.maximum(e_half, np.frexp(zl)[1]), e_half)
            w_part = np.ldexp(m_half, np.clip(e_half - E, -_MAX_EXP, 0))
            z_part = np.ldexp(zl, np.clip(-E, -_MAX_EXP, _MAX_EXP))
            growth = w_part + z_part  # (w_std²/2 + z_l) / 2**E
            a[layer] = 2.0 * w_part / growth
            z[layer + 1] = z_part / growth
            mant, de = np.frexp(mant * growth)
            expo = expo + E + de
        np.sqrt(a, out=layers[2])
        np.sqrt(z, out=layers[3])
        layers[3, 0] = bias  # == sqrt(bias²) unless bias² underflows
        self.layers = layers
        self.mant = mant
        self.expo = expo
        # the pair recursion at angle 0, where both factors are exactly 1/2 and the cosine
        # a/2 + z' is 1 up to rounding
        t = np.ones(n)
        for layer in range(depth):
            cos = a[layer] * 0.5 + z[layer + 1]
            t = t * a[layer] * 0.5 + cos
        self.diag = np.ldexp(t * mant, np.clip(self.expo, -_MAX_EXP, _MAX_EXP))


def _ntk(X, Y, depth, w_std, b_std, backend):
    """The NTK recursion on normalized quantities.

    Per pair it carries c = cos θ = Σ(x, y) / sqrt(Σ(x, x) Σ(y, y)), s = sin θ (updated from a
    sum of non-negative terms, so that small angles keep their digits) and
    t = Θ(x, y) / sqrt(Σ(x, x) Σ(y, y)); with a = sqrt(a_l(x) a_l(y)) and
    β = sqrt(z_{l+1}(x) z_{l+1}(y)) (see :class:`_NtkInputs`) one layer is

        c' = a J + β,    t' = t a (π - θ)/(2π) + c',
        s'² = a² g (1/2 + J) + 2 β a g + (sqrt(a_l(x) z_{l+1}(y)) - sqrt(a_l(y) z_{l+1}(x)))² / 2

    with J = (sin θ + (π - θ) cos θ)/(2π) and g = 1/2 - J: the recursion of api.md divided by
    sqrt(Σˡ⁺¹(x, x) Σˡ⁺¹(y, y)). Only the end result is scaled back,
    Θ = t sqrt(Σ^depth(x, x) Σ^depth(y, y)), in binary mantissa/exponent form: a value below
    the float64 range comes out as 0 or subnormal, one above it as inf (which ``gram``
    reports), and nothing in between under- or overflows.
    """
    rx = _NtkInputs(X, depth, w_std, b_std)
    ry = rx if Y is None else _NtkInputs(Y, depth, w_std, b_std)
    C = _inner(rx.U, None if Y is None else ry.U, backend)
    if backend == "numba":
        from hilbert_sd import _kernels_numba as nb

        if Y is None:
            nb.fill_symmetric(nb.ntk_lower, (C, rx.U, rx.layers, rx.mant, rx.expo, rx.diag),
                              len(C))
        else:
            nb.run_in_threads(nb.ntk_rows, (C, rx.U, ry.U, rx.layers, ry.layers, rx.mant,
                                            ry.mant, rx.expo, ry.expo), len(C))
        return C
    # the same recursion as hilbert_sd._kernels_numba._ntk_entry, on whole matrices
    Lx, Ly = rx.layers, ry.layers
    C += np.outer(Lx[3, 0], Ly[3, 0])  # first-layer cosines
    t = C.copy()
    cos_t = np.clip(C, -1.0, 1.0)
    theta = np.arccos(cos_t)
    sin_t = np.sqrt((1.0 - cos_t) * (1.0 + cos_t))
    omc = 1.0 - cos_t
    rows, cols = np.nonzero(np.abs(cos_t) > _REFINE_COS)
    refined = _angles_direct(rx.U, ry.U, rows, cols, Lx[3, 0][rows], Ly[3, 0][cols])
    theta[rows, cols] = refined
    cos_t[rows, cols] = np.cos(refined)
    sin_t[rows, cols] = np.sin(refined)
    omc[rows, cols] = 2.0 * np.sin(0.5 * refined) ** 2
    cos_n = sin_n = None
    for layer in range(depth):
        if layer > 0:
            theta = np.arctan2(sin_n, cos_n)
            sin_t, cos_t = sin_n, cos_n
            omc = np.where(cos_t >= 0.0, sin_t * sin_t / (1.0 + np.abs(cos_t)), 1.0 - cos_t)
        j_sigma = (sin_t + (np.pi - theta) * cos_t) / (2.0 * np.pi)
        j_theta = (np.pi - theta) / (2.0 * np.pi)
        gap = np.maximum((np.pi * omc - (sin_t - theta * cos_t)) / (2.0 * np.pi), 0.0)
        a = np.sqrt(np.outer(Lx[0, layer], Ly[0, layer]))
        beta = np.sqrt(np.outer(Lx[1, layer + 1], Ly[1, layer + 1]))
        cross = (np.outer(Lx[2, layer], Ly[3, layer + 1])
                 - np.outer(Lx[3, layer + 1], Ly[2, layer])) ** 2
        sin_n = np.sqrt(a * a * gap * (0.5 + j_sigma) + 2.0 * beta * a * gap + 0.5 * cross)
        cos_n = a * j_sigma + beta
        t = t * a * j_theta + cos_n
    expo = rx.expo[:, None] + ry.expo[None, :]
    odd = expo & 1
    scale = np.sqrt(np.outer(rx.mant, ry.mant) * (1 + odd))
    K = np.ldexp(t * scale, np.clip((expo - odd) // 2, -_MAX_EXP, _MAX_EXP))
    if Y is None:
        np.fill_diagonal(K, rx.diag)
        _mirror(K)
    return K
