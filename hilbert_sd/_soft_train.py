"""Function-space gradient descent for a stack of kernel softmax students sharing one kernel.

Private workhorse of :func:`hilbert_sd.soft_labels.train_kernel_softmax` and of the soft-label
experiment. ``S`` students share the training inputs (so the kernel matrix, or its top
eigen-directions) but each has its own sample weights, hard/soft loss weights, temperature,
teacher targets and soft-label weighting. Stacking them turns every step into two (or one)
matrix products with ``S · m`` columns instead of ``S`` thin products.

Internal layout is ``(n, S, m)`` so that the matrix products need no transposes.
"""

import numpy as np
from scipy.special import log_softmax

#: The guard of the weighted-soft-label ratio (theory.md §6, from the official code).
GUARD = 1e-7


def wsl_from_losses(student_loss, teacher_loss):
    """``1 − exp(−max(0, L^s / (L^t + 1e−7)))``, elementwise, computed as ``−expm1``."""
    ratio = np.maximum(student_loss / (teacher_loss + GUARD), 0.0)
    return -np.expm1(-ratio)


def train_stack(*, Y, labels, d, hard, soft, tau, dynamic, w_fixed, P, Lt, steps, eta, ridge,
                K=None, U=None, lam=None):
    """Run ``steps`` steps of function-space gradient descent for ``S`` students.

    Student ``s`` minimizes, over functions ``f`` of the RKHS (``F = f(X)``),

        Σ_i d[s, i] (hard[s] CE_i(F, y) + soft[s] τ_s² w_i softCE_{τ_s, i}(P_s, F))
        + (ridge/2) ‖f‖²_H

    by ``f ← f − η (Σ_i k(·, x_i) g_i + ridge · f)``, ``g_i`` the gradient of the data term
    with respect to the logits of sample i. ``w_i`` is recomputed from the current logits
    each step where ``dynamic[s]`` (no gradient through it), else ``w_fixed[s]``.

    Parameters
    ----------
    Y : ndarray of shape (n, m)
        One-hot labels.
    labels : ndarray of shape (n,), int
    d : ndarray of shape (S, n)
        Per-student sample weights (already normalized: they sum to 1).
    hard, soft, tau : ndarray of shape (S,)
    dynamic : ndarray of shape (S,), bool
    w_fixed : ndarray of shape (S, n)
        Fixed soft-label weights (read where ``dynamic`` is False).
    P : ndarray of shape (S, n, m) or None
        Teacher probabilities at each student's temperature (None when no soft term).
    Lt : ndarray of shape (n,) or None
        Teacher cross-entropy on the true class at τ = 1 (needed for dynamic weights).
    steps : int
    eta : float
    ridge : float
    K : ndarray of shape (n, n), optional
        Kernel matrix: iterate in sample space (dual coefficients).
    U, lam : ndarrays of shape (n, r) and (r,), optional
        Top eigen-directions: iterate on the eigen-dual coefficients ``a`` (``F = U (λ a)``).

    Returns
    -------
    dual : ndarray of shape (S, n, m)
        Dual coefficients ``c`` with ``f = k(·, X) c``.
    F : ndarray of shape (S, n, m)
        Training logits after the last step.
    losses : ndarray of shape (steps + 1, S)
        Data term (without the ridge) before each step and after the last one.
    weights : ndarray of shape (S, n)
        Soft-label weights at the last logits.
    """
    n, m = Y.shape
    S = d.shape[0]
    eigen = U is not None
    dn = np.ascontiguousarray(d.T)[:, :, None]              # (n, S, 1)
    h = hard[None, :, None]
    soft_any = bool(np.any(soft > 0))
    at = (soft * tau)[None, :, None]
    att = (soft * tau * tau)[None, :]
    inv_tau = (1.0 / tau)[None, :, None]
    Pn = np.ascontiguousarray(P.transpose(1, 0, 2)) if soft_any else None   # (n, S, m)
    wfix = np.ascontiguousarray(w_fixed.T)                  # (n, S)
    dyn = np.asarray(dynamic, dtype=bool)[None, :]
    any_dyn = bool(dyn.any())
    rows = np.arange(n)
    shrink = 1.0 - eta * ridge
    if eigen:
        r = U.shape[1]
        A = np.zeros((r, S * m))
    else:
        C = np.zeros((n, S * m))
    F = np.zeros((n, S, m))
    losses = np.empty((steps + 1, S))

    def gradient(F):
        logp = log_softmax(F, axis=2)
        Ls = -logp[rows, :, labels]                         # (n, S)
        g = h * (np.exp(logp) - Y[:, None, :])
        data = hard[None, :] * Ls
        w = wfix
        if soft_any:
            if any_dyn:
                w = np.where(dyn, wsl_from_losses(Ls, Lt[:, None]), wfix)
            logq = log_softmax(F * inv_tau, axis=2)
            g += at * w[:, :, None] * (np.exp(logq) - Pn)
            data = data + att * w * (-(Pn * logq).sum(axis=2))
        g *= dn
        return g, (dn[:, :, 0] * data).sum(axis=0), w

    for step in range(steps):
        g, losses[step], _ = gradient(F)
        g2 = g.reshape(n, S * m)
        if eigen:
            A *= shrink
            A -= eta * (U.T @ g2)
            F = (U @ (lam[:, None] * A)).reshape(n, S, m)
        else:
            C *= shrink
            C -= eta * g2
            F = (K @ C).reshape(n, S, m)
    _, losses[steps], w = gradient(F)
    dual = (U @ A) if eigen else C
    return (np.ascontiguousarray(dual.reshape(n, S, m).transpose(1, 0, 2)),
            np.ascontiguousarray(F.transpose(1, 0, 2)), losses,
            np.ascontiguousarray(np.broadcast_to(w, (n, S)).T))
