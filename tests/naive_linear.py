"""Slow, obviously-correct references for :mod:`hilbert_sd.linear` (no code shared with it)."""

import math

import numpy as np
import scipy.integrate
import scipy.optimize


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def naive_loss(w, X, s):
    """Mean cross-entropy, written with log(1 + exp) per sample (fine for moderate logits)."""
    total = 0.0
    for x, si in zip(X, s):
        z = float(x @ w)
        total += math.log1p(math.exp(z)) - si * z
    return total / len(s)


def naive_gradient(w, X, s):
    g = np.zeros_like(w)
    for x, si in zip(X, s):
        g += (sigmoid(float(x @ w)) - si) * x
    return g / len(s)


def pinv_projector(X):
    """Projector onto the row space of X, from the Moore-Penrose pseudo-inverse (SVD)."""
    return np.linalg.pinv(X) @ X


def naive_angle(w, v):
    c = float(w @ v) / (np.linalg.norm(w) * np.linalg.norm(v))
    return math.acos(max(-1.0, min(1.0, c)))


def rk4_linear_flow(X, s, w0, t_end, n_steps):
    """Classical Runge-Kutta on dw/dt = -∇L(w) with a fixed step."""
    w = np.array(w0, dtype=float)
    h = t_end / n_steps

    def f(v):
        return -X.T @ (sigmoid(X @ v) - s) / len(s)

    for _ in range(n_steps):
        k1 = f(w)
        k2 = f(w + 0.5 * h * k1)
        k3 = f(w + 0.5 * h * k2)
        k4 = f(w + h * k3)
        w = w + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return w


def balanced_network(w0, depth, width, rng):
    """Layers W_1 (width x d), W_2..W_{N-1} (width x width), W_N (1 x width), balanced.

    W_1 = r v_1 ŵ0ᵀ, W_j = r v_j v_{j-1}ᵀ, W_N = r v_{N-1}ᵀ with r = ‖w0‖^{1/N} and random unit
    hidden vectors v_j, so W_{j+1}ᵀ W_{j+1} = W_j W_jᵀ = r² v_j v_jᵀ and the product is w0ᵀ.
    """
    d = w0.size
    r = np.linalg.norm(w0) ** (1.0 / depth)
    w_hat = w0 / np.linalg.norm(w0)
    vs = [v / np.linalg.norm(v) for v in rng.standard_normal((depth - 1, width))]
    layers = [r * np.outer(vs[0], w_hat)]
    for j in range(1, depth - 1):
        layers.append(r * np.outer(vs[j], vs[j - 1]))
    layers.append(r * vs[-1][None, :])
    assert layers[0].shape == (width, d)
    return layers


def product(layers):
    M = layers[0]
    for W in layers[1:]:
        M = W @ M
    return M  # shape (1, d)


def full_width_deep_flow(X, s, layers, t_end):
    """Gradient flow on every entry of every layer (chain rule written out layer by layer),
    integrated with an explicit non-stiff solver (RK45, tight tolerances)."""
    shapes = [W.shape for W in layers]
    sizes = [W.size for W in layers]

    def unpack(theta):
        out, k = [], 0
        for shp, sz in zip(shapes, sizes):
            out.append(theta[k:k + sz].reshape(shp))
            k += sz
        return out

    def rhs(t, theta):
        Ws = unpack(theta)
        w = product(Ws).ravel()
        g = X.T @ (sigmoid(X @ w) - s) / len(s)  # ∂L/∂w, shape (d,)
        grads = []
        for j in range(len(Ws)):
            # ∂L/∂W_j = (W_N ⋯ W_{j+1})ᵀ gᵀ (W_{j-1} ⋯ W_1)ᵀ
            left = np.eye(Ws[j].shape[0])
            for W in Ws[j + 1:]:
                left = W @ left
            right = np.eye(X.shape[1])
            for W in Ws[:j]:
                right = W @ right
            grads.append(left.T @ g[None, :] @ right.T)
        return -np.concatenate([G.ravel() for G in grads])

    theta0 = np.concatenate([W.ravel() for W in layers])
    sol = scipy.integrate.solve_ivp(rhs, (0.0, t_end), theta0, method="RK45", rtol=1e-10,
                                    atol=1e-12)
    return product(unpack(sol.y[:, -1])).ravel()


def slsqp_max_margin(X, y):
    """min ½‖w‖² s.t. y_i xᵢᵀw >= 1 by SLSQP on the primal."""
    Z = X * y[:, None]
    # start from a feasible point: a direction that separates, scaled to margin 1
    feasible = np.linalg.lstsq(Z, np.ones(len(y)), rcond=None)[0]
    if np.min(Z @ feasible) <= 0:
        feasible = slsqp_start(Z)
    feasible = feasible / np.min(Z @ feasible)
    res = scipy.optimize.minimize(
        lambda v: 0.5 * v @ v, feasible, jac=lambda v: v, method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda v: Z @ v - 1.0, "jac": lambda v: Z}],
        options={"ftol": 1e-12, "maxiter": 2000},
    )
    assert res.success, res.message
    return res.x


def slsqp_start(Z):
    """A strictly separating direction by linear programming: max t s.t. Z w >= t, |w_j| <= 1."""
    n, d = Z.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0
    A = np.hstack([-Z, np.ones((n, 1))])
    res = scipy.optimize.linprog(c, A_ub=A, b_ub=np.zeros(n),
                                 bounds=[(-1, 1)] * d + [(None, None)])
    assert res.status == 0 and res.x[-1] > 0
    return res.x[:d]


def polar_inputs_loop(n, w_teacher, kappa, margin, rng):
    """Polar inputs, one at a time, straight from the description in theory.md §4."""
    d = w_teacher.size
    w_hat = w_teacher / np.linalg.norm(w_teacher)
    X = np.empty((n, d))
    for i in range(n):
        abar = margin + (math.pi / 2 - margin) * rng.random() ** (1.0 / kappa)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        alpha = math.pi / 2 - sign * abar
        g = rng.standard_normal(d)
        g -= (g @ w_hat) * w_hat
        u = g / np.linalg.norm(g)
        X[i] = math.cos(alpha) * w_hat + math.sin(alpha) * u
    return X
