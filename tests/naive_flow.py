"""Slow, obviously-correct references for gradient flow, gradient descent and the comparison.

Nothing here uses the eigendecomposition: the flow is integrated as an ODE, gradient descent is
iterated literally, matrix exponentials come from scipy.linalg.expm, roots from brentq, and
pairwise maxima from double loops.
"""

import numpy as np
import scipy.integrate
import scipy.linalg
import scipy.optimize


def ode_dual_flow(K, y, times, learning_rate=1.0):
    """Dual coefficients a(t) of the RKHS gradient flow, integrated numerically.

    f_t = k(·, X) a(t); the gradient of (1/2n) Σ (f(x_i) − y_i)² in the RKHS is
    (1/n) Σ (f(x_i) − y_i) k(·, x_i), so da/dt = −(η/n)(K a − y), a(0) = 0.
    Returns (len(times), n).
    """
    K = np.asarray(K, dtype=float)
    y = np.asarray(y, dtype=float)
    n = K.shape[0]
    c = learning_rate / n

    def rhs(_, a):
        return -c * (K @ a - y)

    times = np.asarray(times, dtype=float)
    sol = scipy.integrate.solve_ivp(rhs, (0.0, float(times.max())), np.zeros(n),
                                    t_eval=times, method="DOP853", rtol=1e-12, atol=1e-14)
    assert sol.success, sol.message
    return sol.y.T


def euler_flow(K, y, time, learning_rate=1.0, n_steps=200_000):
    """Training outputs after ``time`` by ``n_steps`` explicit Euler steps of
    du/dt = −(η/n) K (u − y), u(0) = 0 (first-order accurate in the step)."""
    K = np.asarray(K, dtype=float)
    u = np.zeros_like(np.asarray(y, dtype=float))
    dt = time / n_steps
    c = learning_rate / K.shape[0]
    for _ in range(n_steps):
        u = u - dt * c * (K @ (u - y))
    return u


def gd_iterations(K, y, n_steps, learning_rate=1.0):
    """Literal gradient descent u ← u − (η/n) K (u − y) from u = 0; every iterate.

    Returns (n_steps + 1, n[, m]) with row s the outputs after s steps.
    """
    K = np.asarray(K, dtype=float)
    y = np.asarray(y, dtype=float)
    u = np.zeros_like(y)
    out = [u.copy()]
    c = learning_rate / K.shape[0]
    for _ in range(n_steps):
        u = u - c * (K @ (u - y))
        out.append(u.copy())
    return np.array(out)


def expm_flow(K, y, time, learning_rate=1.0):
    """u(t) = (I − expm(−η t K / n)) y with a dense matrix exponential."""
    K = np.asarray(K, dtype=float)
    n = K.shape[0]
    return y - scipy.linalg.expm(-learning_rate * time * K / n) @ y


def matched_time_brentq(K, y0, target_mse, learning_rate=1.0):
    """Flow time with (1/n)‖u(τ) − y0‖² = target, by brentq on τ with expm-based outputs."""
    n = K.shape[0]

    def h(log_tau):
        u = expm_flow(K, y0, np.exp(log_tau), learning_rate)
        with np.errstate(divide="ignore"):  # an exact fit at huge tau: log 0 = -inf is fine
            return np.log(np.sum((u - y0) ** 2) / n) - np.log(target_mse)

    lo, hi = -30.0, 30.0
    while h(lo) < 0:
        lo -= 10
    while h(hi) > 0:
        hi += 10
    return float(np.exp(scipy.optimize.brentq(h, lo, hi, xtol=1e-14, rtol=1e-14)))


def max_ratio_excess_loops(lam, filt, positive_tol=0.0):
    """max over pairs with λ_k > λ_j > tol of (filt[k]/filt[j]) / (λ_k/λ_j), by a double loop."""
    best = -np.inf
    n = len(lam)
    for k in range(n):
        for j in range(n):
            if lam[k] > lam[j] > positive_tol:
                best = max(best, (filt[k] / filt[j]) / (lam[k] / lam[j]))
    return best


def rkhs_norm_sq(K, dual):
    """‖f‖²_H = aᵀ K a for f = k(·, X) a."""
    return float(dual @ K @ dual)
