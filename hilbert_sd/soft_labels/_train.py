"""Function-space gradient descent for stacks of kernel softmax students (private).

Private workhorse of :func:`hilbert_sd.soft_labels.train_kernel_softmax` and of the soft-label
experiment. Students come in ``G`` groups; the ``S`` students of a group share the training
inputs (so one kernel block, or its top eigen-directions) but each has its own hard/soft loss
weights, temperature, teacher targets and soft-label weighting. Stacking turns every step
into one batched matrix product with ``S · m`` columns per group instead of ``G · S`` thin
products. Groups are padded to a common size ``L``; padded rows carry sample weight 0, so
their dual coefficients stay 0 and they never influence a student.

The per-sample gradient of every step is one fused compiled pass
(:func:`hilbert_sd.soft_labels._numba.stacked_gradient`, compiled on first use, never at
import). Its numpy twin, ten array passes for the same work, is the test reference
``train_stack_numpy`` in ``tests/naive_soft.py``.

Internal layout is ``(G, L, S, m)`` so that the matrix products need no transposes.
"""

import numpy as np

from hilbert_sd.soft_labels.weights import GUARD


def train_stack(*, Y, labels, d, hard, soft, tau, dynamic, w_fixed, P, Lt, steps, eta, ridge,
                K=None, U=None, lam=None):
    """Run ``steps`` steps of function-space gradient descent for ``G × S`` students.

    Student ``s`` of group ``g`` minimizes, over functions ``f`` of the RKHS (``F = f(X_g)``),

        Σ_i d[g, i, s] (hard[s] CE_i(F, y) + soft[s] τ_s² w_i softCE_{τ_s, i}(P, F))
        + (ridge/2) ‖f‖²_H

    by ``f ← f − η (Σ_i k(·, x_i) g_i + ridge · f)``, ``g_i`` the gradient of the data term
    with respect to the logits of sample i. ``w_i`` is recomputed from the current logits
    every step where ``dynamic[s]`` (no gradient through it), else read from ``w_fixed``.

    Parameters
    ----------
    Y : ndarray of shape (G, L, m)
        One-hot labels.
    labels : ndarray of shape (G, L), int
    d : ndarray of shape (G, L, S)
        Sample weights of each student (each column sums to 1; 0 on padding).
    hard, soft, tau : ndarray of shape (S,)
    dynamic : ndarray of shape (S,), bool
    w_fixed : ndarray of shape (G, L, S)
        Fixed soft-label weights (read where ``dynamic`` is False).
    P : ndarray of shape (G, L, S, m) or None
        Teacher probabilities at each student's temperature (None: no soft term anywhere).
    Lt : ndarray of shape (G, L) or None
        Teacher cross-entropy on the true class at τ = 1 (for dynamic weights).
    steps : int
    eta : float
    ridge : float
    K : ndarray of shape (G, L, L), optional
        Kernel blocks: iterate on the dual coefficients in sample space.
    U, lam : ndarrays of shape (G, L, r) and (G, r), optional
        Top eigen-directions of each block: iterate on the eigen-dual coefficients ``a``
        (``F = U (λ ⊙ a)``), which restricts ``f`` to those directions.

    Returns
    -------
    dual : ndarray of shape (G, L, S, m)
        Dual coefficients ``c`` with ``f = k(·, X_g) c``.
    F : ndarray of shape (G, L, S, m)
        Training logits after the last step.
    losses : ndarray of shape (steps + 1, G, S)
        Data term (without the ridge) before each step and after the last one.
    weights : ndarray of shape (G, L, S)
        Soft-label weights at the last logits.
    """
    # Imported here, not at module level: importing the package compiles nothing.
    from hilbert_sd.soft_labels._numba import stacked_gradient

    G, L, m = Y.shape
    S = hard.shape[0]
    eigen = U is not None
    soft_any = bool(np.any(soft > 0))
    dyn = np.asarray(dynamic, dtype=bool)
    any_dyn = bool(dyn.any()) and soft_any
    shrink = 1.0 - eta * ridge
    if eigen:
        A = np.zeros((G, U.shape[2], S * m))
        lam_col = lam[:, :, None]
        Ut = np.ascontiguousarray(U.transpose(0, 2, 1))
    else:
        C = np.zeros((G, L, S * m))
    F = np.zeros((G, L, S, m))
    losses = np.empty((steps + 1, G, S))
    g_buf = np.empty((G, L, S, m))
    data_buf = np.empty((G, S))
    w_buf = np.empty((G, L, S))
    # One contiguous float64 layout per argument: one compiled specialization.
    f64 = np.float64
    P_arr = np.ascontiguousarray(P if soft_any else np.zeros((1, 1, 1, 1)), dtype=f64)
    Lt_arr = np.ascontiguousarray(Lt if any_dyn else np.zeros((1, 1)), dtype=f64)
    args = (np.ascontiguousarray(labels, dtype=np.int64), np.ascontiguousarray(d, dtype=f64),
            np.ascontiguousarray(hard, dtype=f64), np.ascontiguousarray(soft, dtype=f64),
            np.ascontiguousarray(tau, dtype=f64), np.ascontiguousarray(dyn),
            np.ascontiguousarray(w_fixed, dtype=f64), P_arr, Lt_arr, GUARD)

    def gradient(F):
        stacked_gradient(np.ascontiguousarray(F), *args, g_buf, data_buf, w_buf)
        return g_buf, data_buf, w_buf

    for step in range(steps):
        g, losses[step], _ = gradient(F)
        g2 = g.reshape(G, L, S * m)
        if eigen:
            A *= shrink
            A -= eta * (Ut @ g2)
            F = (U @ (lam_col * A)).reshape(G, L, S, m)
        else:
            C *= shrink
            C -= eta * g2
            F = (K @ C).reshape(G, L, S, m)
    _, losses[steps], w = gradient(F)
    dual = (U @ A) if eigen else C
    return dual.reshape(G, L, S, m), F, losses, w.copy()
