"""Compiled per-step gradient of stacked kernel softmax students (private).

Used by :func:`hilbert_sd.soft_labels._train.train_stack`. One fused pass over every (group,
sample, student) row of ``m`` logits: the log-softmax at temperature 1 and at τ, the
weighted-soft-label weight, the gradient of the distillation loss with respect to the logits
and the weighted data term. numpy needs about ten passes with ``m``-long inner reductions for
the same work (slow for small ``m``); this kernel is serial, takes only arrays and scalars and
is cached on disk. Nothing here is compiled at import time. The numpy form of the same
gradient is the test reference ``train_stack_numpy`` in ``tests/naive_soft.py``.
"""

import math

import numpy as np
from numba import njit


@njit(cache=True)
def stacked_gradient(F, labels, d, hard, soft, tau, dynamic, w_fixed, P, Lt, guard, g, data,
                     w_out):
    """Gradient of the distillation loss of every stacked student, in one pass.

    Parameters
    ----------
    F : ndarray of shape (G, L, S, m)
        Logits.
    labels : ndarray of shape (G, L), int64
    d : ndarray of shape (G, L, S)
        Sample weights.
    hard, soft, tau : ndarray of shape (S,)
    dynamic : ndarray of shape (S,), bool
        Recompute the weight from the logits (weighted soft labels) where True.
    w_fixed : ndarray of shape (G, L, S)
    P : ndarray of shape (G, L, S, m)
        Teacher probabilities at τ (read only where ``soft[s] > 0``).
    Lt : ndarray of shape (G, L)
        Teacher true-class cross-entropy at τ = 1 (read only for dynamic weights).
    guard : float
        The 1e-7 of the weight's ratio.
    g : ndarray of shape (G, L, S, m)
        Output: ``d · [h (p − e_y) + a τ w (q − P)]``.
    data : ndarray of shape (G, S)
        Output: ``Σ_i d (h L^s + a τ² w softCE)``.
    w_out : ndarray of shape (G, L, S)
        Output: the weights used.
    """
    n_groups, n_rows, n_students, m = F.shape
    e = np.empty(m)
    for gi in range(n_groups):
        for s in range(n_students):
            data[gi, s] = 0.0
        for i in range(n_rows):
            y = labels[gi, i]
            for s in range(n_students):
                dd = d[gi, i, s]
                mx = F[gi, i, s, 0]
                for k in range(1, m):
                    if F[gi, i, s, k] > mx:
                        mx = F[gi, i, s, k]
                total = 0.0
                for k in range(m):
                    e[k] = math.exp(F[gi, i, s, k] - mx)
                    total += e[k]
                ls = math.log(total) - (F[gi, i, s, y] - mx)
                h = hard[s]
                for k in range(m):
                    g[gi, i, s, k] = h * (e[k] / total)
                g[gi, i, s, y] -= h
                value = h * ls
                w = w_fixed[gi, i, s]
                a = soft[s]
                if a > 0.0:
                    if dynamic[s]:
                        ratio = ls / (Lt[gi, i] + guard)
                        if ratio < 0.0:
                            ratio = 0.0
                        w = -math.expm1(-ratio)
                    inv = 1.0 / tau[s]
                    total = 0.0
                    for k in range(m):
                        e[k] = math.exp((F[gi, i, s, k] - mx) * inv)
                        total += e[k]
                    log_total = math.log(total)
                    coef = a * tau[s] * w
                    soft_ce = 0.0
                    for k in range(m):
                        pk = P[gi, i, s, k]
                        g[gi, i, s, k] += coef * (e[k] / total - pk)
                        soft_ce -= pk * ((F[gi, i, s, k] - mx) * inv - log_total)
                    value += a * tau[s] * tau[s] * w * soft_ce
                w_out[gi, i, s] = w
                data[gi, s] += dd * value
                for k in range(m):
                    g[gi, i, s, k] *= dd
