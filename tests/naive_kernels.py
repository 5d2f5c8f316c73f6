"""Slow, obviously-correct references for the kernels of :mod:`hilbert_sd.kernels`.

Written independently of the library: one pair at a time, the formulas exactly as api.md and
theory.md §5 state them (arccos of the cosine), evaluated in 40-digit arithmetic (mpmath) so
that the loss of digits of arccos near ±1 (near-duplicate inputs) stays far below the
tolerance of the tests; and Monte-Carlo estimates from explicit random ReLU networks.
"""

import math

import mpmath
import numpy as np

_DPS = 40


def _mp_dot(a, b):
    return mpmath.fsum(mpmath.mpf(float(s)) * mpmath.mpf(float(t)) for s, t in zip(a, b))


def _mp_arccos(c):
    # exact-arithmetic cosines of duplicates can land a hair outside [-1, 1]
    return mpmath.acos(min(max(c, mpmath.mpf(-1)), mpmath.mpf(1)))


def naive_arccos(X, Y=None):
    """H(x, y) = c (π - arccos c) / (2π), c the cosine between x and y, pair by pair."""
    Y = X if Y is None else Y
    K = np.empty((len(X), len(Y)))
    with mpmath.workdps(_DPS):
        for i, x in enumerate(X):
            for j, y in enumerate(Y):
                c = _mp_dot(x, y) / mpmath.sqrt(_mp_dot(x, x) * _mp_dot(y, y))
                K[i, j] = float(c * (mpmath.pi - _mp_arccos(c)) / (2 * mpmath.pi))
    return K


def _ntk_pair(x, y, depth, w_std, b_std):
    """Theta(x, y) by the recursion of api.md, run on the 2 x 2 covariance of (x, y)."""
    p = len(x)
    w2, b2 = mpmath.mpf(float(w_std)) ** 2, mpmath.mpf(float(b_std)) ** 2
    sxx = w2 * _mp_dot(x, x) / p + b2
    syy = w2 * _mp_dot(y, y) / p + b2
    sxy = w2 * _mp_dot(x, y) / p + b2
    ntk = sxy
    for _ in range(depth):
        if sxx == 0 or syy == 0:
            return 0.0  # b_std = 0 and a zero input: every pre-activation is 0
        theta = _mp_arccos(sxy / mpmath.sqrt(sxx * syy))
        # E[relu(u) relu(v)] and P(u > 0, v > 0) for centred Gaussians at angle theta
        sxy = w2 * mpmath.sqrt(sxx * syy) * (mpmath.sin(theta) + (mpmath.pi - theta)
                                             * mpmath.cos(theta)) / (2 * mpmath.pi) + b2
        ntk = ntk * w2 * (mpmath.pi - theta) / (2 * mpmath.pi) + sxy
        # the variances follow the same rule at angle 0
        sxx = w2 * sxx / 2 + b2
        syy = w2 * syy / 2 + b2
    return float(ntk)


def naive_ntk(X, Y=None, depth=1, w_std=1.0, b_std=0.0):
    """Infinite-width NTK of a ReLU network (NTK parameterization), pair by pair."""
    Y = X if Y is None else Y
    K = np.empty((len(X), len(Y)))
    with mpmath.workdps(_DPS):
        for i, x in enumerate(X):
            for j, y in enumerate(Y):
                K[i, j] = _ntk_pair(x, y, depth, w_std, b_std)
    return K


# --------------------------------------------------------------------------------------------
# Monte-Carlo: random ReLU networks


def mc_arccos(X, n_samples, rng, chunk=20000):
    """Monte-Carlo estimate of E_w[xᵀy 1{wᵀx >= 0} 1{wᵀy >= 0}], w ~ N(0, I), on unit rows.

    Returns the estimate and its standard error, both of shape (n, n).
    """
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    total = np.zeros((len(U), len(U)))
    done = 0
    while done < n_samples:
        m = min(chunk, n_samples - done)
        W = rng.standard_normal((m, U.shape[1]))
        A = (W @ U.T >= 0).astype(float)  # (m, n) indicators
        both = np.einsum("si,sj->ij", A, A)
        total += both
        done += m
    C = U @ U.T
    q = total / n_samples  # the indicator product is Bernoulli(q)
    return C * q, np.abs(C) * np.sqrt(q * (1.0 - q) / n_samples)


def _init_network(p, depth, width, rng):
    """Standard-normal parameters of a ReLU network with ``depth`` hidden layers."""
    sizes = [p] + [width] * depth + [1]
    Ws = [rng.standard_normal((sizes[k + 1], sizes[k])) for k in range(depth + 1)]
    bs = [rng.standard_normal(sizes[k + 1]) for k in range(depth + 1)]
    return Ws, bs


def _forward(x, Ws, bs, w_std, b_std):
    """Pre-activations h_l and activations a_l (a_0 = x) of the NTK-parameterized network:
    h_{l+1} = w_std / sqrt(fan_in) W_{l+1} a_l + b_std b_{l+1}."""
    acts, pres = [x], []
    for k, (W, b) in enumerate(zip(Ws, bs)):
        h = w_std / math.sqrt(W.shape[1]) * (W @ acts[-1]) + b_std * b
        pres.append(h)
        if k < len(Ws) - 1:
            acts.append(np.maximum(h, 0.0))
    return pres, acts


def network_output(x, Ws, bs, w_std, b_std):
    return _forward(x, Ws, bs, w_std, b_std)[0][-1][0]


def empirical_ntk(X, depth, width, w_std, b_std, rng):
    """Empirical NTK Σ_params ∂f(x_i)/∂θ ∂f(x_j)/∂θ of one random network of the given width.

    The gradient with respect to a weight matrix is an outer product δ aᵀ, so the Frobenius
    inner product of two of them is (δ·δ')(a·a'): no width x width Jacobian is formed.
    """
    Ws, bs = _init_network(X.shape[1], depth, width, rng)
    per_input = []
    for x in X:
        pres, acts = _forward(x, Ws, bs, w_std, b_std)
        deltas = [None] * len(Ws)
        delta = np.ones(1)
        for k in range(len(Ws) - 1, -1, -1):
            deltas[k] = delta
            if k > 0:
                scale = w_std / math.sqrt(Ws[k].shape[1])
                delta = scale * (Ws[k].T @ delta) * (pres[k - 1] > 0)
        per_input.append((deltas, acts))
    n = len(X)
    K = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            di, ai = per_input[i]
            dj, aj = per_input[j]
            total = 0.0
            for k in range(len(Ws)):
                scale2 = w_std ** 2 / Ws[k].shape[1]
                dd = di[k] @ dj[k]
                total += dd * (scale2 * (ai[k] @ aj[k]) + b_std ** 2)
            K[i, j] = total
    return K


def finite_difference_ntk(X, depth, width, w_std, b_std, rng, step=1e-6):
    """Empirical NTK J Jᵀ from a Jacobian built by central differences over every parameter
    (tiny widths only): an independent check of :func:`empirical_ntk`, which draws the same
    network from a generator in the same state."""
    Ws, bs = _init_network(X.shape[1], depth, width, rng)
    params = Ws + bs
    J = []
    for x in X:
        row = []
        for P in params:
            flat = P.reshape(-1)
            for k in range(flat.size):
                old = flat[k]
                flat[k] = old + step
                up = network_output(x, Ws, bs, w_std, b_std)
                flat[k] = old - step
                down = network_output(x, Ws, bs, w_std, b_std)
                flat[k] = old
                row.append((up - down) / (2 * step))
        J.append(row)
    J = np.array(J)
    return J @ J.T
