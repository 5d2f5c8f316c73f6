"""Slow, obviously-correct references for the self-distillation engine.

Nothing here uses the eigendecomposition or any code of hilbert_sd: every round is an ordinary
scikit-learn ``KernelRidge`` refit, and the ridge of the budget rule is found by Brent's method
on those refits.
"""

import numpy as np
from scipy.optimize import brentq
from sklearn.kernel_ridge import KernelRidge


def krr_fit_predict(K, targets, alpha, K_new=None):
    """Fit KernelRidge on a precomputed kernel; return (training predictions, new predictions)."""
    model = KernelRidge(alpha=alpha, kernel="precomputed").fit(K, targets)
    new = None if K_new is None else model.predict(K_new)
    return model.predict(K), new


def budget_ridge(K, targets, epsilon):
    """The ridge at which the mean squared training error (summed over columns) equals epsilon.

    Returns inf when the zero function already meets the budget (collapse).
    """
    n = K.shape[0]
    if np.sum(targets**2) <= n * epsilon:
        return np.inf

    def excess(log_alpha):
        pred, _ = krr_fit_predict(K, targets, np.exp(log_alpha))
        return np.sum((pred - targets) ** 2) / n - epsilon

    lo, hi = 0.0, 0.0
    while excess(lo) > 0:
        lo -= 2.0
    while excess(hi) < 0:
        hi += 2.0
    return float(np.exp(brentq(excess, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=1000)))


def naive_self_distill(K, y, *, epsilon=None, alpha=None, n_rounds=3, mix=0.0, K_new=None):
    """Self-distillation by literal refits.

    Returns
    -------
    alphas : list of float (inf on collapsed rounds)
    train_preds : list of arrays (n,) or (n, m)
    new_preds : list of arrays at ``K_new`` (or None)
    """
    targets = np.array(y, dtype=float)
    alphas, train_preds, new_preds = [], [], []
    for _ in range(n_rounds + 1):
        a = alpha if alpha is not None else budget_ridge(K, targets, epsilon)
        if np.isinf(a):
            pred = np.zeros_like(targets)
            new = None if K_new is None else np.zeros((K_new.shape[0],) + targets.shape[1:])
        else:
            pred, new = krr_fit_predict(K, targets, a, K_new)
        alphas.append(a)
        train_preds.append(pred)
        new_preds.append(new)
        targets = mix * np.asarray(y, dtype=float) + (1.0 - mix) * pred
    return alphas, train_preds, new_preds


def naive_independent(K, Y, *, epsilon, n_rounds, mix=0.0, K_new=None):
    """Per-column budget rule: each column of Y distilled on its own."""
    cols = [naive_self_distill(K, Y[:, j], epsilon=epsilon, n_rounds=n_rounds, mix=mix,
                               K_new=K_new) for j in range(Y.shape[1])]
    alphas = np.array([c[0] for c in cols]).T  # (R, m)
    train = [np.stack([c[1][t] for c in cols], axis=1) for t in range(n_rounds + 1)]
    new = None
    if K_new is not None:
        new = [np.stack([c[2][t] for c in cols], axis=1) for t in range(n_rounds + 1)]
    return alphas, train, new


def rbf(X, Y, gamma):
    """exp(-gamma ||x - y||^2) by a direct double loop over pairs."""
    out = np.empty((X.shape[0], Y.shape[0]))
    for i, x in enumerate(X):
        for j, z in enumerate(Y):
            out[i, j] = np.exp(-gamma * np.sum((x - z) ** 2))
    return out


def eigen_ridges(lam, energies, epsilon, *, n_rounds, rank_tol=0.0, max_expand=200,
                 max_iter=200):
    """Ridges of the budget rule from the spectrum alone, in plain numpy (float arithmetic,
    no logs): the transcription of theory.md §1-2 the compiled solver is checked against.

    Per round: collapse if sum(e) <= n eps, infeasible if the null energy >= n eps, else
    Brent on g(alpha) = sum((alpha/(alpha + lam))^2 e) - n eps in log alpha. Every loop is
    capped (the bracket search stops after ``max_expand`` steps and returns nan).
    Returns an array of n_rounds + 1 ridges (inf on collapsed rounds, nan infeasible).
    """
    lam = np.asarray(lam, dtype=float)
    e = np.asarray(energies, dtype=float).copy()
    budget = lam.shape[0] * epsilon
    out = []
    for _ in range(n_rounds + 1):
        if e.sum() <= budget * (1 + 1e-10):
            out.append(np.inf)
            e[:] = 0.0
            continue
        if e[lam <= rank_tol].sum() >= budget:
            out.append(np.nan)
            break

        def excess(u):
            w = np.exp(u) / (np.exp(u) + lam)
            return np.sum(w**2 * e) - budget

        lo, hi, it = 0.0, 0.0, 0
        while excess(lo) > 0 and it < max_expand:
            lo -= 2.0
            it += 1
        while excess(hi) < 0 and it < 2 * max_expand:
            hi += 2.0
            it += 1
        if excess(lo) > 0 or excess(hi) < 0:
            out.append(np.nan)
            break
        alpha = float(np.exp(brentq(excess, lo, hi, xtol=1e-15, rtol=1e-15, maxiter=max_iter)))
        out.append(alpha)
        e = e * (lam / (lam + alpha)) ** 2
    return np.array(out)


# ================================================================ the regularizer family
def naive_mixed_self_distill(K, y, xis, *, alpha=None, epsilon=None, K_new=None):
    """Mixed self-distillation by literal refits: round t >= 1 refits
    xi_t * (fit of round t - 1 at the training inputs) + (1 - xi_t) * y.

    ``xis`` holds xi_1 .. xi_R (any reals); with ``epsilon`` every round's ridge is found by
    :func:`budget_ridge` on its own targets. Returns (alphas, train_preds, new_preds) as
    :func:`naive_self_distill`.
    """
    y = np.array(y, dtype=float)
    targets = y.copy()
    alphas, train_preds, new_preds = [], [], []
    for t in range(len(xis) + 1):
        a = alpha if alpha is not None else budget_ridge(K, targets, epsilon)
        if np.isinf(a):
            pred = np.zeros_like(targets)
            new = None if K_new is None else np.zeros((K_new.shape[0],) + targets.shape[1:])
        else:
            pred, new = krr_fit_predict(K, targets, a, K_new)
        alphas.append(a)
        train_preds.append(pred)
        new_preds.append(new)
        if t < len(xis):
            targets = xis[t] * pred + (1.0 - xis[t]) * y
    return alphas, train_preds, new_preds


def naive_boosting(K, y, alpha, n_steps, K_new=None):
    """L2-boosting / iterated Tikhonov by literal refits: fit the residual, add the fit.

    Returns (train_preds, new_preds), one entry per step 0 .. n_steps (step 0 = one ridge fit).
    """
    y = np.array(y, dtype=float)
    fit = np.zeros_like(y)
    new = None if K_new is None else np.zeros((K_new.shape[0],) + y.shape[1:])
    train_preds, new_preds = [], []
    for _ in range(n_steps + 1):
        pred, pred_new = krr_fit_predict(K, y - fit, alpha, K_new)
        fit = fit + pred
        train_preds.append(fit.copy())
        if K_new is not None:
            new = new + pred_new
            new_preds.append(new.copy())
    return train_preds, new_preds


def naive_spectral_cutoff(K, y, rank, K_new=None):
    """Kernel principal component regression with ``rank`` components, from numpy's eigh.

    The fit is the projection of y onto the top-``rank`` eigenvectors; the function is
    k(x, X) V_r diag(1/lambda_r) V_r^T y. Returns (train_pred, new_pred).
    """
    lam, V = np.linalg.eigh(K)
    top = np.argsort(lam)[::-1][:rank]
    Vr, lr = V[:, top], lam[top]
    coef = Vr.T @ y
    train = Vr @ coef
    inv = (1.0 / lr).reshape((-1,) + (1,) * (coef.ndim - 1))
    new = None if K_new is None else K_new @ (Vr @ (inv * coef))
    return train, new


def smoother_matrix(K, alpha):
    """The kernel ridge smoother S (y -> fit at the training inputs), column by column from
    one KernelRidge fit of the identity matrix."""
    n = K.shape[0]
    return KernelRidge(alpha=alpha, kernel="precomputed").fit(K, np.eye(n)).predict(K)


def mixed_smoother(S, xis):
    """The smoother of mixed self-distillation after len(xis) rounds, in sample space:
    S_0 = S, S_t = S (xi_t S_{t-1} + (1 - xi_t) I)."""
    n = S.shape[0]
    St = S.copy()
    for x in xis:
        St = S @ (x * St + (1.0 - x) * np.eye(n))
    return St


def expected_risk(S, f_star, noise_var):
    """E (1/n) ||S (f* + e) - f*||^2 with e ~ N(0, noise_var I): bias plus variance, from the
    smoother matrix: ||(S - I) f*||^2 / n + noise_var ||S||_F^2 / n."""
    n = S.shape[0]
    bias = S @ f_star - f_star
    return float(bias @ bias / n + noise_var * np.sum(S**2) / n)
