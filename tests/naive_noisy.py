"""Slow, obviously-correct references for hilbert_sd.noisy_labels (no eigenbasis, no closed forms).

Every rule is iterated literally in sample space, one step at a time:
u_{t+1} = u_t − η H (u_t − y_t), c_{t+1} = c_t − η (u_t − y_t) (so u_t = H c_t and the function
at new points is k(x, X) c_t).
"""

import math

import numpy as np


def arccos_kernel(X, Y=None):
    """Two-layer ReLU NTK H∞ on unit-normalized inputs, entry by entry (theory.md §5)."""
    Y = X if Y is None else Y
    out = np.empty((len(X), len(Y)))
    for i, xi in enumerate(X):
        xi = xi / np.linalg.norm(xi)
        for j, yj in enumerate(Y):
            yj = yj / np.linalg.norm(yj)
            c = min(1.0, max(-1.0, float(xi @ yj)))
            out[i, j] = c * (math.pi - math.acos(c)) / (2 * math.pi)
    return out


def predicted(u):
    """argmax per row (sign for 1-D); -1 (0) where the maximum is not unique."""
    if u.ndim == 1:
        return np.sign(u).astype(int)
    out = []
    for row in u:
        top = row.max()
        out.append(int(np.argmax(row)) if np.sum(row == top) == 1 else -1)
    return np.array(out)


def hard(u, Y):
    """One-hot argmax (sign) of u; rows without a prediction keep their label row."""
    p = predicted(u)
    G = np.array(Y, dtype=float, copy=True)
    for i, pi in enumerate(p):
        if Y.ndim == 1:
            if pi != 0:
                G[i] = pi
        elif pi >= 0:
            G[i] = 0.0
            G[i, pi] = 1.0
    return G


def iterate(H, Y, n_steps, *, eta, rule="gd", a=0.0, ema_form="sequential", anchor="soft",
            refresh=1, record=None):
    """Literal iteration of the rules of theory.md §5; returns {step: (u_t, c_t)} at ``record``.

    ``a`` is a float, a sequence indexed by step, or "accuracy". For the anchored rule the
    data-dependent parts (hard labels, accuracy weight, schedule value of the hard rule) are
    recomputed at the refresh steps and held in between; the soft identity part is refreshed
    every step. ``refresh`` is an int E (steps that are multiples of E) or a set/list/tuple of
    the refresh steps themselves (it must contain 0, where the held parts are first set).
    """
    if isinstance(refresh, (set, frozenset, list, tuple)):
        refresh = {int(s) for s in refresh}
        if 0 not in refresh:
            raise ValueError("a refresh grid must contain step 0")
        grid = refresh

        def is_refresh(t):
            return t in grid
    else:
        period = refresh

        def is_refresh(t):
            return t % period == 0
    record = set(range(n_steps + 1)) if record is None else set(record)
    Y = np.asarray(Y, dtype=float)
    labels = np.sign(Y).astype(int) if Y.ndim == 1 else np.argmax(Y, axis=1)
    u = np.zeros_like(Y)
    c = np.zeros_like(Y)
    y_ema = Y.copy()
    out = {}
    G = a_held = None
    for t in range(n_steps + 1):
        if t in record:
            out[t] = (u.copy(), c.copy())
        if t == n_steps:
            break
        if rule == "gd":
            y_t = Y
        elif rule == "ema":
            y_t = y_ema
        else:
            if is_refresh(t):
                acc = float(np.mean(predicted(u) == labels))
                if isinstance(a, str):
                    a_held = acc
                elif np.ndim(a) == 0:
                    a_held = float(a)
                else:
                    a_held = float(a[t])
                if anchor == "hard":
                    G = hard(u, Y)
            if anchor == "hard":
                y_t = (1 - a_held) * Y + a_held * G
            else:
                a_t = a_held if (isinstance(a, str) or np.ndim(a) == 0) else float(a[t])
                y_t = (1 - a_t) * Y + a_t * u
        r = u - y_t
        u_new = u - eta * (H @ r)
        c = c - eta * r
        if rule == "ema":
            if ema_form == "sequential":
                y_ema = (1 - a) * y_ema + a * u_new
            else:
                y_ema = (1 - a) * y_ema + a * u
        u = u_new
    return out


def iterate_gd_schedule(H, Y, n_steps, *, eta, b, record):
    """Plain gradient descent with a per-step learning rate η b_s (no self-distillation)."""
    Y = np.asarray(Y, dtype=float)
    u = np.zeros_like(Y)
    c = np.zeros_like(Y)
    out = {}
    for t in range(n_steps + 1):
        if t in record:
            out[t] = (u.copy(), c.copy())
        if t == n_steps:
            break
        r = u - Y
        u = u - eta * b[t] * (H @ r)
        c = c - eta * b[t] * r
    return out
