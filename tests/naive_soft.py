"""Slow, obviously-correct references for hilbert_sd.soft_labels (explicit loops, math module).

Nothing here imports hilbert_sd; every formula is written from theory.md §6 directly.
``train_stack_numpy`` is the exception to "loops": the numpy twin of the compiled stacked
trainer (``hilbert_sd.soft_labels._train.train_stack``), array passes instead of the fused
per-sample kernel, kept here as its reference.
"""

import math

import numpy as np
from scipy.special import log_softmax

GUARD = 1e-7


def log_softmax_row(z, tau=1.0):
    zs = [v / tau for v in z]
    mx = max(zs)
    lse = mx + math.log(sum(math.exp(v - mx) for v in zs))
    return [v - lse for v in zs]


def softmax_row(z, tau=1.0):
    return [math.exp(v) for v in log_softmax_row(z, tau)]


def row_logits(z_row):
    """A row of 2-D logits as a list, or a binary logit z as the two-class row (0, z)."""
    if isinstance(z_row, (list, tuple)) or hasattr(z_row, "__len__"):
        return [float(v) for v in z_row]
    return [0.0, float(z_row)]


def true_class_ce(z_row, y):
    """−log softmax(z)[y] at temperature 1."""
    return -log_softmax_row(row_logits(z_row))[int(y)]


def soft_ce(t_row, s_row, tau):
    """−Σ_j softmax(t/τ)_j log softmax(s/τ)_j."""
    p = softmax_row(row_logits(t_row), tau)
    logq = log_softmax_row(row_logits(s_row), tau)
    return -sum(pj * lq for pj, lq in zip(p, logq))


def wsl_weight(s_row, t_row, y):
    """1 − exp(−max(0, L^s/(L^t + 1e−7))) with L at temperature 1 on the true class."""
    ls = true_class_ce(s_row, y)
    lt = true_class_ce(t_row, y)
    return 1.0 - math.exp(-max(0.0, ls / (lt + GUARD)))


def distillation_loss(S, T, y, tau, a, weights, h=1.0, sample_weight=None):
    """h·CE + a τ² mean_i(w_i softCE_τ,i), weighted means with sample weights."""
    n = len(S)
    c = [1.0] * n if sample_weight is None else [float(v) for v in sample_weight]
    total_c = sum(c)
    loss = 0.0
    for i in range(n):
        if isinstance(weights, str):
            w = wsl_weight(S[i], T[i], y[i]) if weights == "wsl" else 1.0
        else:
            w = float(weights[i])
        term = h * true_class_ce(S[i], y[i]) + a * tau * tau * w * soft_ce(T[i], S[i], tau)
        loss += c[i] * term
    return loss / total_c


def heskes(P, t):
    """Per-sample (loss, noise, bias, variance) of probability predictions P[b][i][j].

    ȳ is the normalized geometric mean; every term from its definition, with loops.
    """
    B = len(P)
    n = len(t)
    m = len(t[0])
    out = []
    for i in range(n):
        geo = [math.exp(sum(math.log(P[b][i][j]) for b in range(B)) / B) for j in range(m)]
        z = sum(geo)
        ybar = [g / z for g in geo]
        loss = sum(-sum(t[i][j] * math.log(P[b][i][j]) for j in range(m)) for b in range(B)) / B
        noise = -sum(t[i][j] * math.log(t[i][j]) for j in range(m) if t[i][j] > 0)
        bias = sum(t[i][j] * math.log(t[i][j] / ybar[j]) for j in range(m) if t[i][j] > 0)
        variance = sum(sum(ybar[j] * math.log(ybar[j] / P[b][i][j]) for j in range(m))
                       for b in range(B)) / B
        out.append((loss, noise, bias, variance))
    return out


def wkrr_objective(K, y, t, w, a, gamma, c, s=None):
    """Σ_i s_i [(f_i − y_i)² + a w_i (f_i − t_i)²] + γ cᵀKc with f = Kc; y, t, c lists of rows."""
    n = len(K)
    m = len(y[0])
    s = [1.0] * n if s is None else list(s)
    f = [[sum(K[i][j] * c[j][k] for j in range(n)) for k in range(m)] for i in range(n)]
    J = 0.0
    for i in range(n):
        for k in range(m):
            J += s[i] * ((f[i][k] - y[i][k]) ** 2 + a * w[i] * (f[i][k] - t[i][k]) ** 2)
    for k in range(m):
        J += gamma * sum(c[i][k] * K[i][j] * c[j][k] for i in range(n) for j in range(n))
    return J


def kernel_softmax_gd(K, y, m, steps, eta, *, T=None, tau=1.0, a=0.0, weights="wsl", h=1.0,
                      sample_weight=None, ridge=0.0):
    """Literal function-space gradient descent in sample space.

    c ← (1 − ηγ) c − η d_i ∇ℓ_i(F_i), F = K c, the loss of each sample computed and
    differentiated by hand; WSL weights recomputed from F at every step.
    Returns (c, F, losses).
    """
    n = len(K)
    cw = [1.0] * n if sample_weight is None else [float(v) for v in sample_weight]
    tot = sum(cw)
    d = [v / tot for v in cw]
    c = [[0.0] * m for _ in range(n)]

    def logits(c):
        return [[sum(K[i][j] * c[j][k] for j in range(n)) for k in range(m)] for i in range(n)]

    losses = []
    F = logits(c)
    for step in range(steps + 1):
        grads = []
        loss = 0.0
        for i in range(n):
            p = softmax_row(F[i])
            g = [h * (p[k] - (1.0 if k == y[i] else 0.0)) for k in range(m)]
            value = h * true_class_ce(F[i], y[i])
            if a > 0:
                if isinstance(weights, str):
                    w = wsl_weight(F[i], T[i], y[i]) if weights == "wsl" else 1.0
                else:
                    w = float(weights[i])
                q = softmax_row(F[i], tau)
                pt = softmax_row(T[i], tau)
                for k in range(m):
                    g[k] += a * tau * w * (q[k] - pt[k])
                value += a * tau * tau * w * soft_ce(T[i], F[i], tau)
            grads.append(g)
            loss += d[i] * value
        losses.append(loss)
        if step == steps:
            break
        c = [[(1.0 - eta * ridge) * c[i][k] - eta * d[i] * grads[i][k] for k in range(m)]
             for i in range(n)]
        F = logits(c)
    return c, F, losses


def train_stack_numpy(*, Y, labels, d, hard, soft, tau, dynamic, w_fixed, P, Lt, steps, eta,
                      ridge, K=None, U=None, lam=None):
    """numpy twin of ``train_stack``: same arguments, same returns (dual, F, losses, weights).

    Per step, the gradient of every stacked student's data term with respect to its logits,

        g = d [h (softmax(F) − Y) + a τ w (softmax(F/τ) − P)],

    ``w`` recomputed from the logits (WSL, no gradient through it) where ``dynamic``; then
    ``C ← (1 − ηγ) C − η g``, ``F = K C`` in sample space, or ``A ← (1 − ηγ) A − η Uᵀ g``,
    ``F = U (λ ⊙ A)`` in the eigenbasis.
    """
    G, L, m = Y.shape
    S = hard.shape[0]
    eigen = U is not None
    dn = d[..., None]                                        # (G, L, S, 1)
    h = hard[:, None]
    soft_any = bool(np.any(soft > 0))
    at = (soft * tau)[:, None]
    att = soft * tau * tau
    inv_tau = (1.0 / tau)[:, None]
    dyn = np.asarray(dynamic, dtype=bool)
    any_dyn = bool(dyn.any()) and soft_any
    Ycol = Y[:, :, None, :]
    lab = labels[:, :, None, None]
    shrink = 1.0 - eta * ridge
    if eigen:
        A = np.zeros((G, U.shape[2], S * m))
        lam_col = lam[:, :, None]
        Ut = U.transpose(0, 2, 1)
    else:
        C = np.zeros((G, L, S * m))
    F = np.zeros((G, L, S, m))
    losses = np.empty((steps + 1, G, S))

    def gradient(F):
        logp = log_softmax(F, axis=3)
        Ls = -np.take_along_axis(logp, lab, axis=3)[..., 0]            # (G, L, S)
        g = h * (np.exp(logp) - Ycol)
        data = hard * Ls
        w = w_fixed
        if soft_any:
            if any_dyn:
                ratio = np.maximum(Ls / (Lt[:, :, None] + GUARD), 0.0)
                w = np.where(dyn, -np.expm1(-ratio), w_fixed)
            logq = log_softmax(F * inv_tau, axis=3)
            g += at * w[..., None] * (np.exp(logq) - P)
            data = data + att * w * (-(P * logq).sum(axis=3))
        g *= dn
        return g, (d * data).sum(axis=1), w

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
    return dual.reshape(G, L, S, m), F, losses, np.array(np.broadcast_to(w, (G, L, S)))
