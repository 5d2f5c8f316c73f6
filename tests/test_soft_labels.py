"""Tests of hilbert_sd.soft_labels (theory.md §6) against independent references.

References: per-sample loops with math.log/exp (tests/naive_soft.py), central finite
differences, scikit-learn's KernelRidge, explicit duplication of resampled rows, literal
sample-space gradient descent, the numpy twin of the compiled stacked trainer
(tests/naive_soft.py), and identities / inequalities checked on random instances.
"""

import importlib
import math
import re
import warnings

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.kernel_ridge import KernelRidge

import naive_soft as naive
import hilbert_sd.soft_labels as soft_labels_pkg
from hilbert_sd.cli import main
from hilbert_sd.soft_labels import (
    FixedPointWarning,
    distillation_loss,
    heskes_decomposition,
    log_soft_labels,
    regularization_samples,
    resample_weights,
    soft_cross_entropy,
    soft_labels,
    train_kernel_softmax,
    true_class_cross_entropy,
    weighted_kernel_ridge,
    weighted_kernel_ridge_fixed_point,
    wsl_weight_function,
    wsl_weights,
)
from hilbert_sd.soft_labels._train import train_stack
from hilbert_sd.spectral import Spectrum, eigh_psd


def _problem(rng, n=15, m=3, scale=3.0):
    S = scale * rng.standard_normal((n, m))
    T = scale * rng.standard_normal((n, m))
    y = rng.integers(0, m, n)
    return S, T, y


def _psd(rng, n, p=3, gamma=0.5):
    X = rng.standard_normal((n, p))
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    return np.exp(-gamma * d2), X


# ============================================================================ soft labels
@pytest.mark.parametrize("tau", [0.3, 1.0, 4.0])
def test_soft_labels_match_loops_and_sigmoid(tau):
    rng = np.random.default_rng(0)
    Z = 5 * rng.standard_normal((12, 4))
    P = soft_labels(Z, tau)
    ref = np.array([naive.softmax_row(list(z), tau) for z in Z])
    np.testing.assert_allclose(P, ref, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(np.exp(log_soft_labels(Z, tau)), ref, rtol=1e-13)
    z = 30 * rng.standard_normal(50)                     # saturated logits: no overflow
    np.testing.assert_allclose(soft_labels(z, tau), 1 / (1 + np.exp(-z / tau)), rtol=1e-14)
    two = np.exp(log_soft_labels(z, tau))
    np.testing.assert_allclose(two[:, 1], expit(z / tau), rtol=1e-14)
    np.testing.assert_allclose(two.sum(axis=1), 1.0, atol=1e-15)


def test_temperature_limits():
    z = np.array([[3.0, 1.0, 0.0]])
    assert np.allclose(soft_labels(z, 1e4), 1 / 3, atol=1e-3)
    assert np.allclose(soft_labels(z, 1e-3), [[1.0, 0.0, 0.0]], atol=1e-12)


def test_cross_entropies_match_loops():
    rng = np.random.default_rng(1)
    S, T, y = _problem(rng, 20, 5)
    ce = true_class_cross_entropy(S, y)
    np.testing.assert_allclose(ce, [naive.true_class_ce(list(s), yi) for s, yi in zip(S, y)],
                               rtol=1e-13)
    for tau in (0.5, 2.0):
        sce = soft_cross_entropy(T, S, tau)
        ref = [naive.soft_ce(list(t), list(s), tau) for t, s in zip(T, S)]
        np.testing.assert_allclose(sce, ref, rtol=1e-12)
    z, yb = rng.standard_normal(9) * 4, rng.integers(0, 2, 9)
    ref = [math.log1p(math.exp(-zi)) if yi == 1 else math.log1p(math.exp(zi))
           for zi, yi in zip(z, yb)]
    np.testing.assert_allclose(true_class_cross_entropy(z, yb), ref, rtol=1e-13)


# ============================================================================ WSL weights
@pytest.mark.parametrize("m", [2, 3, 7])
def test_wsl_weights_equal_reference_formula(m):
    rng = np.random.default_rng(m)
    for scale in (0.1, 1.0, 5.0):
        S, T, y = _problem(rng, 40, m, scale)
        w = wsl_weights(S, T, y)
        ref = [naive.wsl_weight(list(s), list(t), yi) for s, t, yi in zip(S, T, y)]
        np.testing.assert_allclose(w, ref, rtol=0, atol=1e-12)
        # < 1 in exact arithmetic; rounds to 1.0 once L^s/L^t exceeds about 37
        assert np.all((w >= 0) & (w <= 1))


def test_wsl_weights_binary_logits_equal_reference():
    rng = np.random.default_rng(3)
    s, t, y = 4 * rng.standard_normal(30), 4 * rng.standard_normal(30), rng.integers(0, 2, 30)
    ref = [naive.wsl_weight(si, ti, yi) for si, ti, yi in zip(s, t, y)]
    np.testing.assert_allclose(wsl_weights(s, t, y), ref, rtol=0, atol=1e-12)


def test_wsl_weight_is_one_minus_inverse_e_when_logits_match():
    rng = np.random.default_rng(4)
    S, _, y = _problem(rng, 200, 4, 2.0)
    w = wsl_weights(S, S, y)
    L = true_class_cross_entropy(S, y)
    # exactly 1 - exp(-L/(L + 1e-7)); the guard moves it from 1 - 1/e by at most
    # e^{-1} (e^δ - 1) with δ = 1e-7/(L + 1e-7)  [derived]
    np.testing.assert_allclose(w, -np.expm1(-L / (L + 1e-7)), rtol=0, atol=1e-15)
    delta = 1e-7 / (L + 1e-7)
    bound = math.exp(-1) * np.expm1(delta) * (1 + 1e-9) + 1e-16
    assert np.all(np.abs(w - (1 - math.exp(-1))) <= bound)
    moderate = L > 1e-2
    assert moderate.sum() > 100
    assert np.all(np.abs(w[moderate] - (1 - math.exp(-1))) < 1e-5)


def test_regularization_samples_are_where_student_beats_teacher():
    rng = np.random.default_rng(5)
    S, T, y = _problem(rng, 300, 3)
    mask = regularization_samples(S, T, y)
    ref = np.array([naive.true_class_ce(list(s), yi) < naive.true_class_ce(list(t), yi)
                    for s, t, yi in zip(S, T, y)])
    assert np.array_equal(mask, ref)
    assert 0 < mask.sum() < 300
    w = wsl_weights(S, T, y)
    assert np.all(w[mask] < 1 - math.exp(-1))
    assert np.all(w[~mask] >= 1 - math.exp(-1) - 1e-7)


# ============================================================================ loss, gradient
@pytest.mark.parametrize("weights", ["wsl", "uniform", "array"])
def test_distillation_loss_matches_loops(weights):
    rng = np.random.default_rng(6)
    S, T, y = _problem(rng, 25, 4)
    c = rng.integers(0, 4, 25).astype(float)
    c[0] = 1.0
    w = rng.random(25) if weights == "array" else weights
    for tau, a, h in ((1.0, 1.0, 1.0), (3.0, 2.5, 1.0), (0.5, 1.0, 0.0)):
        got = distillation_loss(S, T, y, temperature=tau, a=a, weights=w, hard_weight=h,
                                sample_weight=c)
        ref = naive.distillation_loss(S.tolist(), T.tolist(), y, tau, a, w, h, c)
        assert got == pytest.approx(ref, rel=1e-12)


def _central_difference(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


@pytest.mark.parametrize("tau", [0.5, 1.0, 4.0])
def test_gradient_matches_finite_differences(tau):
    rng = np.random.default_rng(7)
    S, T, y = _problem(rng, 10, 4, 2.0)
    c = rng.random(10) + 0.1
    w = wsl_weights(S, T, y)
    # weights held fixed: the finite difference of the loss with those weights frozen
    _, grad = distillation_loss(S, T, y, temperature=tau, a=1.5, weights=w, sample_weight=c,
                                return_gradient=True)
    fd = _central_difference(lambda Z: distillation_loss(Z, T, y, temperature=tau, a=1.5,
                                                         weights=w, sample_weight=c), S)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
    # weights="wsl" gives the same gradient: no gradient through w
    _, grad_wsl = distillation_loss(S, T, y, temperature=tau, a=1.5, weights="wsl",
                                    sample_weight=c, return_gradient=True)
    np.testing.assert_allclose(grad_wsl, grad, rtol=1e-14, atol=1e-16)


def test_gradient_does_not_flow_through_the_weights():
    rng = np.random.default_rng(8)
    S, T, y = _problem(rng, 8, 3, 2.0)
    _, grad = distillation_loss(S, T, y, temperature=2.0, a=1.0, return_gradient=True)
    # differentiating the weights too gives something else
    fd_through = _central_difference(
        lambda Z: distillation_loss(Z, T, y, temperature=2.0, a=1.0, weights="wsl"), S)
    assert np.max(np.abs(fd_through - grad)) > 1e-3


def test_gradient_binary_logits_matches_finite_differences():
    rng = np.random.default_rng(9)
    s, t, y = 2 * rng.standard_normal(12), 2 * rng.standard_normal(12), rng.integers(0, 2, 12)
    for tau in (0.7, 3.0):
        w = wsl_weights(s, t, y)
        loss, grad = distillation_loss(s, t, y, temperature=tau, a=2.0, weights=w,
                                       return_gradient=True)
        assert grad.shape == (12,)
        fd = _central_difference(lambda z: distillation_loss(z, t, y, temperature=tau, a=2.0,
                                                             weights=w), s)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-9)
        ref = naive.distillation_loss(list(s), list(t), y, tau, 2.0, w)
        assert loss == pytest.approx(ref, rel=1e-12)


# ============================================================================ Heskes
@pytest.mark.parametrize("B,m,onehot", [(2, 2, True), (5, 4, False), (9, 3, True),
                                        (4, 6, False)])
def test_heskes_identity_and_terms(B, m, onehot):
    rng = np.random.default_rng(10 + B + m)
    n = 30
    logits = 2 * rng.standard_normal((B, n, m))
    P = softmax(logits, axis=2)
    t = np.eye(m)[rng.integers(0, m, n)] if onehot else rng.dirichlet(np.ones(m), n)
    bv = heskes_decomposition(P, t)
    assert bv.identity_error <= 1e-10
    np.testing.assert_allclose(bv.loss, bv.noise + bv.bias + bv.variance, rtol=0, atol=1e-10)
    ref = np.array(naive.heskes(P.tolist(), t.tolist()))
    for k, name in enumerate(("loss", "noise", "bias", "variance")):
        np.testing.assert_allclose(getattr(bv, name), ref[:, k], rtol=1e-10, atol=1e-13)
    assert np.all(bv.bias >= -1e-14) and np.all(bv.variance >= -1e-14)
    if onehot:
        assert np.all(bv.noise == 0)
    same = heskes_decomposition(log_soft_labels(logits.reshape(B * n, m)).reshape(B, n, m), t,
                                log_predictions=True)
    np.testing.assert_allclose(same.loss, bv.loss, rtol=1e-12)
    np.testing.assert_allclose(same.variance, bv.variance, rtol=1e-10, atol=1e-14)
    tot = bv.totals()
    assert tot["loss"] == pytest.approx(tot["noise"] + tot["bias"] + tot["variance"],
                                        abs=1e-10)


def test_heskes_identical_members_have_no_variance():
    rng = np.random.default_rng(11)
    P1 = rng.dirichlet(np.ones(3), 10)
    bv = heskes_decomposition(np.stack([P1] * 4), rng.dirichlet(np.ones(3), 10))
    np.testing.assert_allclose(bv.variance, 0.0, atol=1e-15)
    np.testing.assert_allclose(bv.mean_prediction, P1, rtol=1e-13)


def test_resample_weights():
    counts = resample_weights(100, 6, method="bootstrap", size=80, random_state=0)
    assert counts.shape == (6, 100) and np.all(counts.sum(axis=1) == 80)
    assert np.all(counts >= 0)
    fresh = resample_weights(100, 6, method="fresh", random_state=0)
    assert np.all(fresh.sum(axis=1) == 16)
    assert fresh.sum(axis=0).max() == 1                       # disjoint
    again = resample_weights(100, 6, method="fresh", random_state=0)
    assert np.array_equal(fresh, again)
    with pytest.raises(ValueError, match="fresh subsets"):
        resample_weights(10, 6, method="fresh", size=2)
    with pytest.raises(ValueError, match="method"):
        resample_weights(10, 2, method="jackknife")


# ============================================================================ weighted KRR
@pytest.mark.parametrize("multi", [False, True])
def test_weighted_krr_zeroes_the_objective_gradient(multi):
    rng = np.random.default_rng(12)
    n = 14
    K, _ = _psd(rng, n)
    shape = (n, 3) if multi else (n,)
    y, t = rng.standard_normal(shape), rng.standard_normal(shape)
    w, s = rng.random(n), rng.integers(0, 3, n).astype(float)
    a, gamma = 1.7, 0.05
    fit = weighted_kernel_ridge(K, y, t, w, a=a, ridge=gamma, sample_weight=s)
    c = fit.dual_coef.reshape(n, -1)
    y2, t2 = y.reshape(n, -1), t.reshape(n, -1)

    def J(cflat):
        return naive.wkrr_objective(K.tolist(), y2.tolist(), t2.tolist(), w, a, gamma,
                                    cflat.reshape(c.shape).tolist(), s)

    # J is quadratic, so central differences are exact up to round-off
    grad = _central_difference(J, c.ravel().copy(), h=1e-3)
    grad0 = _central_difference(J, np.zeros(c.size), h=1e-3)
    assert np.linalg.norm(grad) <= 1e-8 * np.linalg.norm(grad0)
    np.testing.assert_allclose(fit.train_predictions, K @ fit.dual_coef, rtol=1e-12)


def test_weighted_krr_weight_zero_is_kernel_ridge_on_labels():
    rng = np.random.default_rng(13)
    K, _ = _psd(rng, 25)
    y, t = rng.standard_normal((25, 2)), rng.standard_normal((25, 2))
    for gamma in (1e-3, 0.3, 10.0):
        fit = weighted_kernel_ridge(K, y, t, np.zeros(25), a=3.0, ridge=gamma)
        ref = KernelRidge(alpha=gamma, kernel="precomputed").fit(K, y)
        np.testing.assert_allclose(fit.dual_coef, ref.dual_coef_, rtol=1e-8, atol=1e-10)
        fit_a0 = weighted_kernel_ridge(K, y, t, rng.random(25), a=0.0, ridge=gamma)
        np.testing.assert_allclose(fit_a0.dual_coef, ref.dual_coef_, rtol=1e-8, atol=1e-10)


def test_weighted_krr_weight_one_is_fixed_mixing():
    rng = np.random.default_rng(14)
    K, X = _psd(rng, 25)
    y, t = rng.standard_normal(25), rng.standard_normal(25)
    K_new, _ = _psd(np.random.default_rng(99), 5)
    for a, gamma in ((1.0, 0.1), (4.0, 2.0)):
        fit = weighted_kernel_ridge(K, y, t, np.ones(25), a=a, ridge=gamma)
        ref = KernelRidge(alpha=gamma / (1 + a), kernel="precomputed").fit(
            K, (y + a * t) / (1 + a))
        np.testing.assert_allclose(fit.dual_coef, ref.dual_coef_, rtol=1e-8, atol=1e-10)
        Kx = np.exp(-0.5 * ((rng.standard_normal((4, 3))[:, None] - X[None]) ** 2).sum(-1))
        np.testing.assert_allclose(fit.predict(Kx), ref.predict(Kx), rtol=1e-8, atol=1e-10)


def test_weighted_krr_integer_sample_weights_equal_duplicated_rows():
    rng = np.random.default_rng(15)
    n = 12
    X = rng.standard_normal((n, 2))
    counts = np.array([1, 2, 0, 3, 1, 1, 0, 2, 1, 1, 4, 1])
    y, t, w = rng.standard_normal(n), rng.standard_normal(n), rng.random(n)

    def k(A, B):
        return np.exp(-0.7 * ((A[:, None] - B[None]) ** 2).sum(-1))

    fit = weighted_kernel_ridge(k(X, X), y, t, w, a=2.0, ridge=0.2, sample_weight=counts)
    rep = np.repeat(np.arange(n), counts)
    dup = weighted_kernel_ridge(k(X[rep], X[rep]), y[rep], t[rep], w[rep], a=2.0, ridge=0.2)
    X_new = rng.standard_normal((6, 2))
    np.testing.assert_allclose(fit.predict(k(X_new, X)), dup.predict(k(X_new, X[rep])),
                               rtol=1e-8, atol=1e-10)


def test_weighted_krr_fixed_point():
    rng = np.random.default_rng(16)
    n, m = 30, 3
    K, _ = _psd(rng, n)
    labels = rng.integers(0, m, n)
    Y = np.eye(m)[labels]
    T = 2 * rng.standard_normal((n, m)) + 2 * Y
    target = softmax(T / 2.0, axis=1)
    weight_fn = wsl_weight_function(T, labels)
    fit = weighted_kernel_ridge_fixed_point(K, Y, target, weight_fn, a=1.0, ridge=0.5,
                                            damping=0.5, tol=1e-10, max_iter=200)
    assert fit.converged and 1 <= fit.n_iter == fit.weight_changes.size
    # the returned weights reproduce themselves and the solution is their closed form
    np.testing.assert_allclose(weight_fn(fit.train_predictions), fit.weights, atol=1e-10)
    static = weighted_kernel_ridge(K, Y, target, fit.weights, a=1.0, ridge=0.5)
    np.testing.assert_allclose(static.dual_coef, fit.dual_coef, rtol=1e-12, atol=1e-14)
    plain = weighted_kernel_ridge_fixed_point(K, Y, target, weight_fn, a=1.0, ridge=0.5,
                                              damping=1.0, tol=1e-10, max_iter=200)
    np.testing.assert_allclose(plain.weights, fit.weights, atol=1e-8)
    with pytest.warns(FixedPointWarning, match="did not converge"):
        one = weighted_kernel_ridge_fixed_point(K, Y, target, weight_fn, a=1.0, ridge=0.5,
                                                tol=0.0, max_iter=1)
    assert not one.converged and one.n_iter == 1
    # one solve from the reference weights is the static student
    ref = weighted_kernel_ridge(K, Y, Y, np.zeros(n), a=1.0, ridge=0.5)
    static_ref = weighted_kernel_ridge(K, Y, target, weight_fn(ref.train_predictions), a=1.0,
                                       ridge=0.5)
    np.testing.assert_allclose(one.dual_coef, static_ref.dual_coef, rtol=1e-12)


def test_wsl_weight_function_readings():
    rng = np.random.default_rng(17)
    S, T, y = _problem(rng, 20, 3)
    np.testing.assert_allclose(wsl_weight_function(T, y, student_output="logits")(S),
                               wsl_weights(S, T, y), rtol=1e-14)
    Q = softmax(S, axis=1)
    np.testing.assert_allclose(wsl_weight_function(T, y)(Q), wsl_weights(S, T, y),
                               rtol=1e-10, atol=1e-13)
    # outputs outside [floor, 1] are clipped before the renormalization
    F = np.array([[1.2, -0.1, 0.3]])
    w = wsl_weight_function(T[:1], [0])(F)
    assert w == pytest.approx(naive.wsl_weight([math.log(1.0), math.log(1e-12),
                                                math.log(0.3)], list(T[0]), 0), rel=1e-12)


# ============================================================================ softmax students
CASES = [
    dict(a=0.0),
    dict(a=1.0, temperature=2.0, weights="uniform"),
    dict(a=2.0, temperature=3.0, weights="wsl", sample_weight=True),
    dict(a=1.0, temperature=0.5, weights="array", ridge=0.05),
    dict(a=1.0, temperature=4.0, weights="wsl", hard_weight=0.0),
]


@pytest.mark.parametrize("case", CASES)
def test_kernel_softmax_matches_literal_gradient_descent(case):
    rng = np.random.default_rng(18)
    n, m, steps = 12, 3, 6
    K, _ = _psd(rng, n)
    y = rng.integers(0, m, n)
    T = 2 * rng.standard_normal((n, m))
    kw = dict(case)
    sw = rng.integers(0, 3, n).astype(float) + (np.arange(n) == 0) if kw.pop(
        "sample_weight", False) else None
    if kw.get("weights") == "array":
        kw["weights"] = rng.random(n)
    eta = 0.7 * n / np.linalg.eigvalsh(K)[-1]
    st = train_kernel_softmax(K, y, teacher_logits=T if kw.get("a", 0) > 0 else None,
                              steps=steps, learning_rate=eta, sample_weight=sw, n_classes=m,
                              **kw)
    c, F, losses = naive.kernel_softmax_gd(
        K.tolist(), y, m, steps, eta, T=T.tolist(), tau=kw.get("temperature", 1.0),
        a=kw.get("a", 0.0), weights=kw.get("weights", "wsl"), h=kw.get("hard_weight", 1.0),
        sample_weight=sw, ridge=kw.get("ridge", 0.0))
    np.testing.assert_allclose(st.dual_coef, c, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(st.train_logits, F, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(st.losses, losses, rtol=1e-11)
    np.testing.assert_allclose(st.predict_logits(K), st.train_logits, rtol=1e-12, atol=1e-14)


def test_kernel_softmax_in_the_eigenbasis():
    rng = np.random.default_rng(19)
    n, m = 20, 3
    K, _ = _psd(rng, n)
    y = rng.integers(0, m, n)
    T = 2 * rng.standard_normal((n, m))
    kw = dict(teacher_logits=T, a=1.0, temperature=2.0, steps=25, learning_rate=3.0)
    full = train_kernel_softmax(K, y, **kw)
    spec = eigh_psd(K)
    same = train_kernel_softmax(spec, y, rank=n, **kw)
    np.testing.assert_allclose(same.train_logits, full.train_logits, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(same.dual_coef, full.dual_coef, rtol=1e-9, atol=1e-12)
    # rank r: exactly the sample-space iteration on the truncated kernel U_r Λ_r U_rᵀ
    r = 6
    U, lam = spec.eigenvectors[:, :r], spec.eigenvalues[:r]
    Kr = (U * lam) @ U.T
    trunc = train_kernel_softmax(spec, y, rank=r, **kw)
    _, F, _ = naive.kernel_softmax_gd(Kr.tolist(), y, m, 25, 3.0, T=T.tolist(), tau=2.0, a=1.0)
    np.testing.assert_allclose(trunc.train_logits, F, rtol=1e-9, atol=1e-11)


def test_kernel_softmax_takes_the_matrix_or_its_spectrum():
    rng = np.random.default_rng(19)
    n, m, r = 20, 3, 6
    K, _ = _psd(rng, n)
    y = rng.integers(0, m, n)
    T = 2 * rng.standard_normal((n, m))
    kw = dict(teacher_logits=T, a=1.0, temperature=2.0, steps=25, learning_rate=3.0)
    spec = eigh_psd(K)
    assert isinstance(spec, Spectrum)
    full = train_kernel_softmax(K, y, **kw)
    # a Spectrum without rank: all n eigen-directions, the sample-space student on K
    every = train_kernel_softmax(spec, y, **kw)
    assert full.rank is None and every.rank == n
    np.testing.assert_allclose(every.train_logits, full.train_logits, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(every.dual_coef, full.dual_coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(every.losses, full.losses, rtol=1e-10)
    # a matrix with rank is decomposed inside: the same student as from its Spectrum
    mine = train_kernel_softmax(K, y, rank=r, **kw)
    shared = train_kernel_softmax(spec, y, rank=r, **kw)
    assert mine.rank == shared.rank == r
    np.testing.assert_allclose(mine.dual_coef, shared.dual_coef, rtol=1e-12, atol=1e-14)
    # the default step reads lambda_max from the Spectrum
    st = train_kernel_softmax(spec, y, steps=2)
    assert st.learning_rate == pytest.approx(n / spec.eigenvalues[0], rel=1e-15)
    assert train_kernel_softmax(K, y, steps=2).learning_rate == pytest.approx(
        st.learning_rate, rel=1e-10)
    # one convention, no second keyword
    with pytest.raises(TypeError, match="spectrum"):
        train_kernel_softmax(K, y, rank=r, spectrum=spec)
    with pytest.raises(ValueError, match=r"labels has 8 entries but the logits have 20 rows"):
        train_kernel_softmax(spec, y[:8])
    with pytest.raises(ValueError, match=r"rank=21 is out of range; allowed: \[1, 20\]"):
        train_kernel_softmax(spec, y, rank=21)


def test_kernel_softmax_descends_and_reaches_the_regularized_optimum():
    rng = np.random.default_rng(20)
    n, m = 25, 3
    K, _ = _psd(rng, n)
    y = rng.integers(0, m, n)
    T = 2 * rng.standard_normal((n, m))
    for kw in (dict(a=0.0), dict(a=1.0, weights="uniform", teacher_logits=T, temperature=2.0)):
        st = train_kernel_softmax(K, y, steps=200, **kw)
        # default step n/λ_max is below 2/L with curvature L <= (h + a)/2 λ_max/n
        assert np.all(np.diff(st.losses) <= 1e-13)
    # with a ridge the iteration converges to the optimum: c = -D g(F) / γ
    gamma = 0.05
    st = train_kernel_softmax(K, y, teacher_logits=T, a=1.0, temperature=2.0,
                              weights="uniform", ridge=gamma, steps=4000)
    _, g = distillation_loss(st.train_logits, T, y, temperature=2.0, a=1.0,
                             weights="uniform", return_gradient=True)
    np.testing.assert_allclose(st.dual_coef, -g / gamma, rtol=1e-7, atol=1e-9)


def _stack_inputs(rng, G, L, S, m):
    labels = rng.integers(0, m, (G, L))
    Y = np.eye(m)[labels]
    d = rng.random((G, L, S))
    d /= d.sum(axis=1, keepdims=True)
    return dict(Y=Y, labels=labels, d=d, hard=np.ones(S),
                soft=np.r_[0.0, np.ones(S - 1)], tau=np.linspace(0.5, 4.0, S),
                dynamic=np.arange(S) % 2 == 1, w_fixed=rng.random((G, L, S)),
                P=rng.dirichlet(np.ones(m), (G, L, S)), Lt=2 * rng.random((G, L)))


def test_stack_numba_equals_numpy_and_padding_is_inert():
    rng = np.random.default_rng(21)
    G, L, S, m = 3, 10, 5, 4
    inputs = _stack_inputs(rng, G, L, S, m)
    K = np.stack([_psd(rng, L)[0] for _ in range(G)])
    a = train_stack(**inputs, steps=7, eta=2.0, ridge=0.01, K=K)
    b = naive.train_stack_numpy(**inputs, steps=7, eta=2.0, ridge=0.01, K=K)
    for x, z in zip(a, b):
        np.testing.assert_allclose(x, z, rtol=1e-11, atol=1e-13)
    # group 0 padded with two extra rows of weight 0: same students on the real rows
    pad = {k: v for k, v in inputs.items()}
    extra = 2
    for key in ("Y", "labels", "d", "w_fixed", "P", "Lt"):
        v = inputs[key][:1]
        pad[key] = np.concatenate([v, v[:, :extra]], axis=1)
    pad["d"][:, L:] = 0.0
    Kp = _psd(rng, L + extra)[0]
    Kp[:L, :L] = K[0]
    c = train_stack(**pad, steps=7, eta=2.0, ridge=0.01, K=Kp[None])
    np.testing.assert_allclose(c[0][0, :L], a[0][0], rtol=1e-12, atol=1e-14)
    assert np.all(c[0][0, L:] == 0)
    np.testing.assert_allclose(c[2][:, 0], a[2][:, 0], rtol=1e-12)


def test_stack_in_the_eigenbasis_equals_numpy_reference():
    rng = np.random.default_rng(25)
    G, L, S, m, r = 2, 9, 4, 3, 5
    inputs = _stack_inputs(rng, G, L, S, m)
    lam, U = [], []
    for _ in range(G):
        ev, vec = np.linalg.eigh(_psd(rng, L)[0])
        lam.append(ev[::-1][:r])
        U.append(vec[:, ::-1][:, :r])
    lam, U = np.array(lam), np.array(U)
    a = train_stack(**inputs, steps=6, eta=1.5, ridge=0.02, U=U, lam=lam)
    b = naive.train_stack_numpy(**inputs, steps=6, eta=1.5, ridge=0.02, U=U, lam=lam)
    for x, z in zip(a, b):
        np.testing.assert_allclose(x, z, rtol=1e-11, atol=1e-13)


def test_stack_equals_public_single_students():
    rng = np.random.default_rng(22)
    n, m = 15, 3
    K, _ = _psd(rng, n)
    y = rng.integers(0, m, n)
    T = 2 * rng.standard_normal((n, m))
    confs = [(0.0, 1.0, False), (1.0, 2.0, False), (1.0, 2.0, True), (2.0, 0.5, True)]
    S = len(confs)
    soft = np.array([c[0] for c in confs])
    tau = np.array([c[1] for c in confs])
    dyn = np.array([c[2] for c in confs])
    d = np.full((1, n, S), 1.0 / n)
    P = np.stack([softmax(T / t, axis=1) for t in tau], axis=1)[None]
    Lt = true_class_cross_entropy(T, y)[None]
    dual, F, losses, w = train_stack(Y=np.eye(m)[y][None], labels=y[None], d=d,
                                     hard=np.ones(S), soft=soft, tau=tau, dynamic=dyn,
                                     w_fixed=np.ones((1, n, S)), P=P, Lt=Lt, steps=20, eta=2.0,
                                     ridge=0.0, K=K[None])
    for s, (a, t, dy) in enumerate(confs):
        st = train_kernel_softmax(K, y, teacher_logits=T if a > 0 else None, a=a,
                                  temperature=t, weights="wsl" if dy else "uniform", steps=20,
                                  learning_rate=2.0, n_classes=m)
        np.testing.assert_allclose(F[0, :, s], st.train_logits, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(losses[:, 0, s], st.losses, rtol=1e-12)


# ============================================================================ package surface
PUBLIC = ["BiasVariance", "FixedPointWarning", "SoftmaxStudent", "WeightedRidgeStudent",
          "distillation_loss", "heskes_decomposition", "log_soft_labels",
          "regularization_samples", "resample_weights", "soft_cross_entropy", "soft_labels",
          "train_kernel_softmax", "true_class_cross_entropy", "weighted_kernel_ridge",
          "weighted_kernel_ridge_fixed_point", "wsl_weight_function", "wsl_weights"]


def test_package_reexports_every_public_name_from_its_module():
    assert sorted(soft_labels_pkg.__all__) == sorted(PUBLIC)
    for module in ("labels", "weights", "bias_variance", "softmax_student", "ridge_student"):
        mod = importlib.import_module(f"hilbert_sd.soft_labels.{module}")
        for name in mod.__all__:
            assert getattr(soft_labels_pkg, name) is getattr(mod, name), (module, name)
    # public names of the former single module that are not in __all__
    assert soft_labels_pkg.PROBABILITY_ATOL == 1e-8
    assert soft_labels_pkg.default_learning_rate(4.0, 10) == 2.5
    # the trainer's private modules moved into the package
    for gone in ("hilbert_sd._soft_train", "hilbert_sd._soft_numba"):
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(gone)
    with pytest.raises(TypeError, match="backend"):
        train_stack(**_stack_inputs(np.random.default_rng(0), 1, 4, 2, 3), steps=1, eta=1.0,
                    ridge=0.0, K=np.eye(4)[None], backend="numpy")


def test_weighted_kernel_ridge_is_a_deprecated_alias_of_weighted_ridge_student():
    from hilbert_sd.soft_labels import WeightedRidgeStudent

    match = r"hilbert_sd\.soft_labels\.WeightedKernelRidge is renamed WeightedRidgeStudent"
    with pytest.warns(DeprecationWarning, match=match):
        old = soft_labels_pkg.WeightedKernelRidge
    assert old is WeightedRidgeStudent
    with pytest.warns(DeprecationWarning, match=match) as record:
        from hilbert_sd.soft_labels import WeightedKernelRidge
    assert WeightedKernelRidge is WeightedRidgeStudent
    assert record[0].filename == __file__          # points at the importer
    assert "WeightedKernelRidge" not in soft_labels_pkg.__all__
    rng = np.random.default_rng(26)
    K, _ = _psd(rng, 6)
    fit = weighted_kernel_ridge(K, rng.standard_normal(6), rng.standard_normal(6), np.ones(6))
    assert type(fit) is WeightedRidgeStudent and isinstance(fit, old)
    assert repr(fit).startswith("WeightedRidgeStudent(n=6,")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from hilbert_sd.soft_labels import WeightedRidgeStudent as again  # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'WeightedKernelRidges'"):
        soft_labels_pkg.WeightedKernelRidges


def test_predictions_check_kernel_rows():
    from hilbert_sd._validation import check_kernel_rows

    rng = np.random.default_rng(27)
    n, m = 8, 3
    K, _ = _psd(rng, n)
    y = rng.integers(0, m, n)
    student = train_kernel_softmax(K, y, steps=3, n_classes=m)
    fit = weighted_kernel_ridge(K, np.eye(m)[y], np.full((n, m), 1 / m), np.ones(n))
    K_new = rng.random((4, n))
    nan = K_new.copy()
    nan[1, 2] = np.nan
    bad = [K_new[:, :7], K_new[0], nan, K_new + 0j, "rows"]
    for predict in (student.predict_logits, student.predict, student.predict_proba,
                    fit.predict):
        for rows in bad:
            with pytest.raises(ValueError) as got:
                predict(rows)
            with pytest.raises(ValueError) as want:
                check_kernel_rows(rows, n)
            assert str(got.value) == str(want.value)
        assert predict(np.zeros((0, n))).shape[0] == 0
    np.testing.assert_allclose(fit.predict(K_new), K_new @ fit.dual_coef, rtol=1e-15)


# ============================================================================ bad input
# Each case: the call and a regex fragment of its message naming the offending value (and,
# where one exists, the allowed range), so a ValueError raised for another reason fails.
def test_bad_input_raises_value_error():
    rng = np.random.default_rng(23)
    S, T, y = _problem(rng, 6, 3)
    bad = [
        (lambda: soft_labels(S, 0.0), r"temperature=0\.0 is out of range; allowed: \(0, inf\]"),
        (lambda: soft_labels(S, -1.0), r"temperature=-1\.0 is out of range; allowed: \(0"),
        (lambda: soft_labels(S, float("nan")), r"temperature must be finite; got nan"),
        (lambda: soft_labels(np.array([[1.0, np.inf]])),
         r"logits contains 1 NaN or infinite value"),
        (lambda: soft_labels(np.ones((3, 1))), r"at least 2 columns .*got shape \(3, 1\)"),
        (lambda: soft_labels(np.ones((2, 2, 2))),
         r"logits must have 1 or 2 dimension.*got shape \(2, 2, 2\)"),
        (lambda: wsl_weights(S, T[:5], y),
         r"student_logits has shape \(6, 3\) but teacher_logits has \(5, 3\)"),
        (lambda: wsl_weights(S, T, y[:5]), r"labels has 5 entries but the logits have 6 rows"),
        (lambda: wsl_weights(S, T, np.r_[y[:5], 3]), r"labels contains 3; allowed: 0 \.\. 2"),
        (lambda: wsl_weights(S, T, np.r_[y[:5], -1]), r"labels contains -1; allowed: 0 \.\. 2"),
        (lambda: wsl_weights(S, T, y + 0.5),
         r"labels must hold integer class labels; got " + re.escape(repr(float(y[0] + 0.5)))),
        (lambda: wsl_weights(np.where(S > 0, np.nan, S), T, y),
         r"student_logits contains {} NaN".format(int(np.sum(S > 0)))),
        (lambda: distillation_loss(S, T, y, temperature=0.0),
         r"temperature=0\.0 is out of range; allowed: \(0, inf\]"),
        (lambda: distillation_loss(S, T, y, a=-1.0), r"a=-1\.0 is out of range; allowed: \[0"),
        (lambda: distillation_loss(S, T, y, weights="focal"),
         r"weights='focal'; allowed: 'wsl', 'uniform'"),
        (lambda: distillation_loss(S, T, y, weights=-np.ones(6)),
         r"weights contains .*-1\.0.*allowed: >= 0"),
        (lambda: distillation_loss(S, T, y, weights=np.ones(5)),
         r"weights has 5 entries; expected 6"),
        (lambda: distillation_loss(S, T, y, sample_weight=np.zeros(6)),
         r"sample_weight sums to 0"),
        (lambda: distillation_loss(S, T, y, sample_weight=-np.ones(6)),
         r"sample_weight contains .*-1\.0.*allowed: >= 0"),
        (lambda: soft_cross_entropy(T, S, temperature=-2.0),
         r"temperature=-2\.0 is out of range; allowed: \(0"),
        (lambda: heskes_decomposition(np.full((2, 3, 2), 0.5), np.array([[1.2, -0.2]] * 3)),
         r"targets contains .*1\.2.*must lie in \[0, 1\]"),
        (lambda: heskes_decomposition(np.full((2, 3, 2), 0.5), np.array([[0.7, 0.7]] * 3)),
         r"targets: a row sums to 1\.4"),
        (lambda: heskes_decomposition(np.full((2, 3, 2), 0.6), np.eye(2)[[0, 1, 0]]),
         r"predictions: a row sums to 1\.2"),
        (lambda: heskes_decomposition(np.array([[[1.5, -0.5]] * 3] * 2), np.eye(2)[[0, 1, 0]]),
         r"predictions contains .*1\.5.*must lie in \[0, 1\]"),
        (lambda: heskes_decomposition(np.array([[[1.0, 0.0]] * 3] * 2), np.eye(2)[[0, 1, 0]]),
         r"predictions contain a zero probability"),
        (lambda: heskes_decomposition(np.zeros((2, 3, 2)), np.eye(2)[[0, 1, 0]],
                                      log_predictions=True),
         r"not log-probabilities: a row has logsumexp 0\.693 away from 0"),
        (lambda: heskes_decomposition(np.full((2, 3, 2), 0.5), np.eye(2)[[0, 1]]),
         r"targets has shape \(2, 2\); expected \(3, 2\)"),
        (lambda: heskes_decomposition(np.full((3, 2), 0.5), np.eye(2)[[0, 1, 0]]),
         r"predictions must have 3 dimension.*got shape \(3, 2\)"),
        (lambda: heskes_decomposition(np.full((2, 3, 2), np.nan), np.eye(2)[[0, 1, 0]]),
         r"predictions contains 12 NaN"),
    ]
    for i, (call, match) in enumerate(bad):
        with pytest.raises(ValueError, match=match):
            call()
            pytest.fail(f"case {i} did not raise")


def test_bad_student_input_raises_value_error():
    rng = np.random.default_rng(24)
    K, _ = _psd(rng, 8)
    y = rng.integers(0, 3, 8)
    T = rng.standard_normal((8, 3))
    asym = K.copy()
    asym[0, 1] += 0.1
    bad = [
        (lambda: train_kernel_softmax(asym, y), r"K must be symmetric; max \|K - K\.T\| = 0\.1"),
        (lambda: train_kernel_softmax(K[:7], y), r"K must be square; got shape \(7, 8\)"),
        (lambda: train_kernel_softmax(K, y[:7]), r"labels has 7 entries but the logits have 8"),
        (lambda: train_kernel_softmax(K, y, a=1.0), r"a=1\.0 > 0 needs teacher_logits"),
        (lambda: train_kernel_softmax(K, y, teacher_logits=T[:7], a=1.0),
         r"teacher_logits has 7 rows; expected 8"),
        (lambda: train_kernel_softmax(K, y, teacher_logits=T, a=1.0, temperature=0.0),
         r"temperature=0\.0 is out of range; allowed: \(0"),
        (lambda: train_kernel_softmax(K, y, steps=-1), r"steps=-1 is out of range; allowed: \[0"),
        (lambda: train_kernel_softmax(K, y, learning_rate=0.0),
         r"learning_rate=0\.0 is out of range; allowed: \(0"),
        (lambda: train_kernel_softmax(K, y, learning_rate=10.0, ridge=0.2),
         r"learning_rate \* ridge = 2; allowed: < 1"),
        (lambda: train_kernel_softmax(K, y, rank=9), r"rank=9 is out of range; allowed: \[1, 8\]"),
        (lambda: train_kernel_softmax(K, y, teacher_logits=T, a=1.0, n_classes=4),
         r"n_classes=4 but teacher_logits has 3 columns"),
        (lambda: weighted_kernel_ridge(K, y, T[:, 0], np.ones(8), ridge=0.0),
         r"ridge=0\.0 is out of range; allowed: \(0"),
        (lambda: weighted_kernel_ridge(K, y, T[:7, 0], np.ones(8)),
         r"teacher_targets has shape \(7,\); expected \(8,\)"),
        (lambda: weighted_kernel_ridge(K, y, T[:, 0], -np.ones(8)),
         r"weights contains .*-1\.0.*allowed: >= 0"),
        (lambda: weighted_kernel_ridge(K, y, T[:, 0], np.ones(8), a=-1.0),
         r"a=-1\.0 is out of range; allowed: \[0"),
        (lambda: weighted_kernel_ridge(K, y * np.nan, T[:, 0], np.ones(8)),
         r"y contains 8 NaN"),
        (lambda: weighted_kernel_ridge_fixed_point(K, y, T[:, 0], "wsl"),
         r"weight_function='wsl' is not callable"),
        (lambda: weighted_kernel_ridge_fixed_point(K, y, T[:, 0], lambda F: np.ones(8),
                                                   damping=0.0),
         r"damping=0\.0 is out of range; allowed: \(0, 1\]"),
        (lambda: weighted_kernel_ridge_fixed_point(K, y, T[:, 0], lambda F: -np.ones(8)),
         r"weight_function returned the weight -1\.0; allowed: finite weights >= 0"),
        (lambda: weighted_kernel_ridge_fixed_point(K, y, T[:, 0], lambda F: np.ones(7)),
         r"weight_function returned shape \(7,\); expected \(8,\)"),
        (lambda: wsl_weight_function(T, y, student_output="margins"),
         r"student_output='margins'; allowed: 'probabilities', 'logits'"),
    ]
    for i, (call, match) in enumerate(bad):
        with pytest.raises(ValueError, match=match):
            call()
            pytest.fail(f"case {i} did not raise")


# ============================================================================ experiment, CLI
def test_experiment_small_run_is_consistent(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.datasets import make_clustered
    from hilbert_sd.experiments.soft_labels import (
        CLUSTERED_DEFAULTS,
        RESAMPLE_SEED_OFFSET,
        run_soft_labels,
    )
    from hilbert_sd.kernels import gram

    n, n_test, B = 120, 80, 3
    res = run_soft_labels(n, n_test=n_test, temperatures=(1.0, 3.0), n_members=B,
                          teacher_steps=40, student_steps=30, krr_max_iter=30, seed=3)
    methods = [r["method"] for r in res.rows]
    assert methods.count("soft") == 2 and methods.count("wsl") == 2
    assert methods.count("krr_wsl_fixed_point") == 2 and "teacher" in methods
    for key, ps in res.per_sample.items():
        # one-hot test labels: no noise, loss = bias + variance per sample
        np.testing.assert_allclose(ps["loss"], ps["bias"] + ps["variance"], atol=1e-10)
    for r in res.rows:
        assert 0 <= r["test_accuracy_mean"] <= 1
        if r["family"] == "softmax":
            assert 0 <= r["regularization_fraction"] <= 1
    # the batched students reproduce the public single-student path on the same sets
    X, y = make_clustered(n + n_test, random_state=3, **CLUSTERED_DEFAULTS)
    X, y, Xt, yt = X[:n], y[:n], X[n:], y[n:]
    gamma = res.config["gamma"]
    K, Kt = gram(X, kernel="rbf", gamma=gamma), gram(Xt, X, kernel="rbf", gamma=gamma)
    teacher = train_kernel_softmax(K, y, steps=40,
                                   learning_rate=res.config["teacher_learning_rate"])
    assert res.row("teacher")["test_accuracy_mean"] == pytest.approx(
        np.mean(teacher.predict(Kt) == yt))
    counts = resample_weights(n, B, method="fresh", random_state=3 + RESAMPLE_SEED_OFFSET)
    acc = {"hard": [], "wsl": []}
    for b in range(B):
        idx = np.flatnonzero(counts[b])
        for meth in acc:
            st = train_kernel_softmax(
                K[np.ix_(idx, idx)], y[idx], teacher_logits=teacher.train_logits[idx],
                a=0.0 if meth == "hard" else 1.0, temperature=3.0, weights="wsl", steps=30,
                learning_rate=res.config["student_learning_rate"], n_classes=4)
            acc[meth].append(np.mean(st.predict(Kt[:, idx]) == yt))
    np.testing.assert_allclose(res.member_accuracy[("hard", None)], acc["hard"], atol=1e-12)
    np.testing.assert_allclose(res.member_accuracy[("wsl", 3.0)], acc["wsl"], atol=1e-12)
    res.to_csv(tmp_path / "t.csv")
    payload = res.to_json(tmp_path / "t.json")
    assert payload["rows"][0]["method"] == "teacher"
    fig = res.plot()
    assert len(fig.axes) == 6
    assert "temperature" in fig.axes[0].get_xlabel()
    boot = run_soft_labels(n, n_test=40, temperatures=(2.0,), n_members=2, resample="bootstrap",
                           student_size=50, teacher_steps=10, student_steps=10, krr=False)
    assert boot.row("soft", 2.0)["test_accuracy_mean"] > 0.25


def test_cli_soft_labels(tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["soft-labels", "--n", "100", "--n-test", "40", "--members", "2",
                   "--temperatures", "1,2", "--teacher-steps", "10", "--student-steps", "10",
                   "--quiet", "--out", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    assert "wsl" in text and "krr_wsl_fixed_point" in text
    for name in ("soft_labels.csv", "soft_labels.json", "soft_labels.png"):
        assert (out / name).stat().st_size > 0
    for args in (["--temperatures", "1,0"], ["--temperatures", "a"], ["--members", "1"],
                 ["--n", "3"], ["--a", "-1"]):
        assert main(["soft-labels", "--quiet", *args]) == 2
        assert "error" in capsys.readouterr().err
