"""The explicitly iterated rules of :func:`~hilbert_sd.noisy_labels.train` (private).

Hard targets ``g(u_t)`` (one-hot argmax, sign for 1-D targets) and the accuracy weight
``a_t`` depend non-linearly on the outputs, so these rules have no closed form. They are
iterated refresh by refresh: at a refresh step the outputs ``u = U(x ⊙ c)`` are formed
(:meth:`~hilbert_sd.spectral.Spectrum.reconstruct`), the hard labels and the accuracy computed,
and the targets held until the next refresh. In between the dynamics are linear, gradient
descent towards held targets, so the state advances in closed form [derived,
:doc:`/topics/noisy_labels`]: ``c ← (1 − w)^s c + b S_s(w) ŷ`` with ``w = x b``
(``hilbert_sd.filters._power`` and ``_geometric_sum``).
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar
from hilbert_sd.filters import _geometric_sum, _power
from hilbert_sd.noisy_labels.noise import _predicted

__all__ = ["hard_targets", "noisy_labels", "refresh_steps", "run_explicit"]


def run_explicit(spectrum, x, null, times, steps, problems):
    """Iterate the anchored runs refresh by refresh, all problems in one product per refresh.

    Between two refreshes the targets are ``(1 − a) ỹ + a G`` with ``G`` held (hard) or the
    dynamics are gradient descent with step ``η(1 − a)`` towards ỹ (soft): both linear, so a
    state ``c`` (eigen-dual coefficients divided by the step scale) advances ``s`` steps as
    ``c ← (1 − w)^s c + b S_s(w) ŷ`` with ``w = x b``.

    Each refresh costs one :meth:`~hilbert_sd.spectral.Spectrum.reconstruct` of the states of
    every problem side by side, plus one :meth:`~hilbert_sd.spectral.Spectrum.project` of the
    hard labels of the problems whose hard labels changed.

    Parameters
    ----------
    spectrum : Spectrum
    x : ndarray of shape (n,)
        ``c λ`` with c the step scale.
    null : ndarray of shape (n,), bool
        Numerically null directions (kept at 0).
    times : ndarray of shape (T,)
        Finite recorded steps, non-decreasing.
    steps : ndarray of shape (R,)
        Refresh steps, sorted, starting with 0.
    problems : list of (index, z, Y, labels, one_d, kind, a_val, anchor)

    Returns
    -------
    outs : list of ndarray of shape (T, n, m_i)
        The states at the recorded steps (multiply by the step scale for ``d_t``).
    logs : list of dict
    """
    n = x.shape[0]
    T = times.shape[0]
    B = len(problems)
    widths = [p[1].shape[1] for p in problems]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    outs = [np.empty((T, n, w)) for w in widths]
    C = np.zeros((n, offsets[-1]))  # states of all problems side by side
    G_prev = [None] * B
    G_hat = [None] * B
    logs = [{"steps": [], "a": [], "accuracy": []} for _ in range(B)]
    bounds = np.append(steps, np.inf)
    ti = 0
    for j in range(steps.shape[0]):
        if ti >= T:
            break
        r = int(bounds[j])
        nxt = bounds[j + 1]
        u_all = spectrum.reconstruct(x[:, None] * C)  # one pass for every problem
        changed = []
        weights = []
        for bi, (_, z, Y, labels, one_d, kind, a_val, anchor) in enumerate(problems):
            u = u_all[:, offsets[bi]:offsets[bi + 1]]
            pred = _predicted(u[:, 0] if one_d else u, one_d)
            acc = float((pred == labels).mean())
            if kind == "constant":
                a_j = a_val
            elif kind == "accuracy":
                a_j = acc
            else:
                a_j = float(a_val[r]) if r < a_val.shape[0] else float(a_val[-1])
            logs[bi]["steps"].append(r)
            logs[bi]["a"].append(a_j)
            logs[bi]["accuracy"].append(acc)
            if anchor == "hard":
                G = hard_targets(u, pred, Y, one_d)
                if G_prev[bi] is None or np.any(G != G_prev[bi]):
                    changed.append(bi)
                G_prev[bi] = G
            weights.append(a_j)
        if changed:
            # Uᵀ G of every problem whose hard labels changed, in one product.
            full = spectrum.project(np.concatenate([G_prev[bi] for bi in changed], axis=1))
            col = 0
            for bi in changed:
                G_hat[bi] = full[:, col:col + widths[bi]]
                col += widths[bi]
        t0 = ti
        for bi, (_, z, _Y, _labels, _one_d, _kind, _a, anchor) in enumerate(problems):
            a_j = weights[bi]
            if anchor == "hard":
                yhat, b = (1.0 - a_j) * z + a_j * G_hat[bi], 1.0
            else:
                yhat, b = z, 1.0 - a_j
            w = x * b
            ti = t0
            c = C[:, offsets[bi]:offsets[bi + 1]]
            while ti < T and times[ti] <= nxt:
                s = int(times[ti]) - r
                outs[bi][ti] = (_power(w, s)[:, None] * c
                                + (b * _geometric_sum(w, s))[:, None] * yhat)
                ti += 1
            if np.isfinite(nxt):
                E = int(nxt) - r
                c[...] = _power(w, E)[:, None] * c + (b * _geometric_sum(w, E))[:, None] * yhat
                c[null] = 0.0
    logs = [{"steps": np.asarray(g["steps"], dtype=np.int64), "a": np.asarray(g["a"]),
             "accuracy": np.asarray(g["accuracy"])} for g in logs]
    return outs, logs


def hard_targets(u, pred, Y, one_d):
    """g(u): one-hot argmax (sign for 1-D); rows without a prediction keep the label row."""
    if one_d:
        return np.where(pred[:, None] != 0, pred[:, None].astype(np.float64), Y)
    G = np.zeros_like(Y)
    ok = pred >= 0
    G[np.nonzero(ok)[0], pred[ok]] = 1.0
    G[~ok] = Y[~ok]
    return G


def noisy_labels(Y2, one_d):
    """The classes of the targets (n, m): sign of a single column, else the argmax."""
    if one_d:
        return np.sign(Y2[:, 0]).astype(np.int64)
    return Y2.argmax(axis=1).astype(np.int64)


def refresh_steps(refresh, t_max):
    """Sorted unique refresh steps in [0, t_max), always starting with 0."""
    if np.ndim(refresh) == 0:
        E = check_scalar(refresh, "refresh", low=1, integer=True)
        return np.arange(0, max(t_max, 1), E, dtype=np.int64)
    arr = as_float_array(refresh, "refresh", ndim=1)
    if np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError("refresh steps must be integers >= 0")
    arr = np.unique(np.append(arr.astype(np.int64), 0))
    return arr[arr < max(t_max, 1)]
