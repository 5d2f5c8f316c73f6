"""The regularizer family as filters on one spectrum, and optimal mixing.

Every reference here is independent of the library's eigenbasis code: literal scikit-learn
``KernelRidge`` refits (tests/naive.py: mixed self-distillation, iterated Tikhonov, budget
ridges by Brent's method), numpy's ``eigh`` for the projections of spectral cut-off, literal
gradient-descent iterations and matrix exponentials, and, for the optimal weights, the
expected risk computed from sample-space smoother matrices (``KernelRidge`` fits of the
identity) and minimized by brute force with ``scipy.optimize`` from many starts.

What is tested about the optimal risks (theory, [derived]): for a fixed ridge α the optimal
k-step risk is non-increasing in k and equals kernel ridge regression's at k = 0; at the best
ridge α* the one-step optimum is ξ* = 0 (so k = 1 ties the best ridge) and every k is at most
the best ridge's risk, k = 2 strictly below on the instance here; at other ridges the optimal
k-step risk can exceed the best ridge's for small k (an instance is checked), so "k-step SD
beats the best ridge" holds at α*, not at every α.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize

from hilbert_sd import filter_path, filters, self_distill
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.spectral import SpectralPath, decompose

import naive
from naive import (
    budget_ridge,
    expected_risk,
    mixed_smoother,
    naive_boosting,
    naive_mixed_self_distill,
    naive_spectral_cutoff,
    rbf,
    smoother_matrix,
)

RTOL = 1e-8
XIS = [-1.0, -0.5, 0.3, 1.0, 1.7]


def problem(seed, n=30, m=None, gamma=2.0, n_new=11, noise=0.3):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    X_new = rng.uniform(-1, 1, (n_new, 2))
    f = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    if m is not None:
        f = f[:, None] * rng.uniform(0.5, 1.5, m)
    y = f + noise * rng.standard_normal(f.shape)
    return rbf(X, X, gamma), rbf(X_new, X, gamma), y, f


def rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def eig_desc(K):
    lam, V = np.linalg.eigh(K)
    return np.clip(lam[::-1], 0.0, None), V[:, ::-1]


# ============================================================================ filters vs refits
@pytest.mark.parametrize("m", [None, 2])
@pytest.mark.parametrize("schedule", [[x] * 4 for x in XIS] + [XIS, XIS[::-1]])
def test_mixed_self_distillation_equals_literal_refits(schedule, m):
    K, K_new, y, _ = problem(len(schedule) + int(10 * schedule[0]) + 40, m=m)
    alpha = 0.3
    spec = decompose(K)
    R = len(schedule)
    alphas, train, new = naive_mixed_self_distill(K, y, schedule, alpha=alpha, K_new=K_new)
    pair = filters.self_distillation(spec.eigenvalues, alpha, R, xi=schedule,
                                     return_prediction=True)
    path = filter_path(spec, y, pair)
    assert isinstance(path, SpectralPath) and len(path) == R + 1
    fits, preds = path.train_predictions(), path.predict(K_new)
    direct = self_distill(spec, y, alpha=alpha, n_rounds=R, xi=schedule)
    d_fits, d_preds = direct.train_predictions(np.arange(R + 1)), direct.predict(
        K_new, np.arange(R + 1))
    for t in range(R + 1):
        assert rel_err(fits[t], train[t]) <= RTOL, t
        assert rel_err(preds[t], new[t]) <= RTOL, t
        assert rel_err(d_fits[t], train[t]) <= RTOL, t
        assert rel_err(d_preds[t], new[t]) <= RTOL, t
    np.testing.assert_allclose(direct.basis_weights, pair[0], rtol=1e-12, atol=1e-15)


def test_twicing_is_mixed_self_distillation_with_minus_one_and_boosting_with_one_step():
    K, K_new, y, _ = problem(3)
    lam = decompose(K).eigenvalues
    alpha = 0.2
    h_sd, g_sd = filters.self_distillation(lam, alpha, 1, xi=-1.0, return_prediction=True)
    h_b, g_b = filters.boosting(lam, alpha, 1, return_prediction=True)
    np.testing.assert_allclose(h_sd, h_b, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(g_sd, g_b, rtol=1e-13)
    s = lam / (lam + alpha)
    np.testing.assert_allclose(h_b[1], s * (2 - s), rtol=1e-14)
    # the literal forms: refit xi = -1 targets 2y - f0, and f0 + S(y - f0)
    _, sd_train, sd_new = naive_mixed_self_distill(K, y, [-1.0], alpha=alpha, K_new=K_new)
    b_train, b_new = naive_boosting(K, y, alpha, 1, K_new=K_new)
    assert rel_err(sd_train[1], b_train[1]) <= 1e-12
    path = filter_path(K, y, (h_b, g_b))
    assert rel_err(path.train_predictions(1), b_train[1]) <= RTOL
    assert rel_err(path.predict(K_new, 1), b_new[1]) <= RTOL
    assert rel_err(path.predict(K_new, 1), sd_new[1]) <= RTOL


@pytest.mark.parametrize("alpha, n_steps", [(0.05, 6), (1.0, 10), (3.0, 150)])
def test_boosting_equals_iterated_tikhonov_refits(alpha, n_steps):
    K, K_new, y, _ = problem(5)
    spec = decompose(K)
    train, new = naive_boosting(K, y, alpha, n_steps, K_new=K_new)
    path = filter_path(spec, y, filters.boosting(spec.eigenvalues, alpha, n_steps,
                                                 return_prediction=True))
    fits, preds = path.train_predictions(), path.predict(K_new)
    for m in range(n_steps + 1):
        assert rel_err(fits[m], train[m]) <= RTOL, m
        assert rel_err(preds[m], new[m]) <= RTOL, m
    # the closed form 1 - (alpha/(lambda + alpha))^(m+1) at a few steps, evaluated as
    # -expm1((m + 1) log w), log w = -log1p(lambda/alpha) (1 - w^(m+1) cancels for small lambda)
    lam = spec.eigenvalues
    h = filters.boosting(lam, alpha, n_steps)
    for m in (0, 1, n_steps):
        np.testing.assert_allclose(h[m], -np.expm1(-(m + 1) * np.log1p(lam / alpha)),
                                   rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("beta", [0.2, 0.5])
def test_constant_mixing_reaches_borup_andersen_limit(beta):
    """Many rounds of y_t = beta y + (1 - beta) f_{t-1}: the filter beta lam/(beta lam + alpha)."""
    K, K_new, y, _ = problem(7)
    alpha, R = 0.4, 300
    lam, V = eig_desc(K)
    limit = beta * lam / (beta * lam + alpha)
    h = filters.self_distillation(lam, alpha, R, xi=1.0 - beta)
    np.testing.assert_allclose(h[-1], limit, rtol=1e-12, atol=1e-15)
    _, train, new = naive_mixed_self_distill(K, y, [1.0 - beta] * R, alpha=alpha, K_new=K_new)
    assert rel_err(train[-1], V @ (limit * (V.T @ y))) <= RTOL
    path = self_distill(K, y, alpha=alpha, n_rounds=R, mix=beta)
    assert rel_err(path.train_predictions(), train[-1]) <= RTOL
    assert rel_err(path.predict(K_new), new[-1]) <= RTOL


@pytest.mark.parametrize("m", [None, 3])
def test_spectral_cutoff_is_the_projection_onto_the_top_eigenvectors(m):
    K, K_new, y, _ = problem(11, m=m, gamma=6.0)  # well-conditioned: 1/lambda is tame
    spec = decompose(K)
    lam = spec.eigenvalues
    ranks = [1, 4, 12, K.shape[0]]
    pair = filters.spectral_cutoff(lam, ranks=ranks, return_prediction=True)
    path = filter_path(spec, y, pair)
    for j, r in enumerate(ranks):
        train, new = naive_spectral_cutoff(K, y, r, K_new)
        assert rel_err(path.train_predictions(j), train) <= RTOL, r
        assert rel_err(path.predict(K_new, j), new) <= RTOL, r
    # thresholds between eigenvalues keep the same directions as the ranks
    taus = [np.sqrt(lam[r - 1] * lam[r]) if r < lam.size else lam[-1] for r in ranks]
    np.testing.assert_array_equal(filters.spectral_cutoff(lam, taus), pair[0])
    np.testing.assert_array_equal(pair[0].sum(axis=1), ranks)
    np.testing.assert_allclose(path.effective_dof(), ranks)


def test_gradient_flow_and_descent_pairs_equal_literal_dynamics():
    K, K_new, y, _ = problem(13, gamma=8.0)
    n, eta = K.shape[0], 1.5
    spec = decompose(K)
    lam = spec.eigenvalues
    steps = [0, 1, 7, 40]
    path = filter_path(spec, y, filters.gradient_descent(lam, steps, learning_rate=eta,
                                                         return_prediction=True))
    assert np.all(path.dual_coef(0) == 0)
    a = np.zeros(n)  # the dual iterate of u <- u - (eta/n) K (u - y)
    for s in range(1, steps[-1] + 1):
        a = a + eta / n * (y - K @ a)
        if s in steps:
            j = steps.index(s)
            assert rel_err(path.dual_coef(j), a) <= RTOL, s
            assert rel_err(path.train_predictions(j), K @ a) <= RTOL, s
            assert rel_err(path.predict(K_new, j), K_new @ a) <= RTOL, s
    times = [0.5, 3.0, 30.0]
    path = filter_path(spec, y, filters.gradient_flow(lam, times, learning_rate=eta,
                                                      return_prediction=True))
    for j, t in enumerate(times):
        fit = y - scipy.linalg.expm(-eta * t / n * K) @ y
        dual = np.linalg.solve(K, fit)
        assert rel_err(path.train_predictions(j), fit) <= RTOL
        assert rel_err(path.predict(K_new, j), K_new @ dual) <= 1e-7  # K's solve: cond ~1e3


# ============================================================================ filter_path
def test_filter_path_generic_fallback_on_a_rank_deficient_kernel():
    rng = np.random.default_rng(17)
    X, X_new = rng.standard_normal((20, 3)), rng.standard_normal((6, 3))
    K, K_new = X @ X.T, X_new @ X.T  # rank 3
    y = X @ [1.0, -2.0, 0.5] + 0.3 * rng.standard_normal(20)
    alpha = 0.7
    spec = decompose(K)
    train, new = naive.krr_fit_predict(K, y, alpha, K_new)
    h, g = filters.ridge(spec.eigenvalues, alpha, return_prediction=True)
    exact = filter_path(spec, y, (h, g))
    fallback = filter_path(spec, y, h)
    assert fallback.fallback and not exact.fallback
    assert rel_err(exact.train_predictions(0), train) <= RTOL
    assert rel_err(exact.predict(K_new, 0), new) <= RTOL
    # the fallback sees h only above the rank tolerance: the same function off the null space
    assert rel_err(fallback.predict(K_new, 0), new) <= RTOL
    assert np.all(fallback.prediction_filters[0, spec.eigenvalues <= spec.rank_tolerance] == 0)
    np.testing.assert_allclose(fallback.filters[0, :3], h[0, :3])
    # a 1-D filter is one path point; 2-D targets share the filters
    Y = np.stack([y, -y], axis=1)
    two = filter_path(K, Y, h[0])
    assert two.train_predictions(0).shape == (20, 2) and len(two) == 1
    assert len(repr(two)) < 120


def test_filter_path_refuses_bad_filters():
    K, _, y, _ = problem(19, n=8)
    lam = decompose(K).eigenvalues
    h, g = filters.ridge(lam, 1.0, return_prediction=True)
    with pytest.raises(ValueError, match=r"\(J, 8\)"):
        filter_path(K, y, h[:, :-1])
    with pytest.raises(ValueError, match="tuple of 3"):
        filter_path(K, y, (h, g, g))
    with pytest.raises(ValueError, match="one shape"):
        filter_path(K, y, (h, np.vstack([g, g])))
    bad = h.copy()
    bad[0, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        filter_path(K, y, bad)


def test_prediction_filters_are_stable_at_zero_eigenvalues():
    lam = np.array([5.0, 1.0, 1e-3, 1e-300, 0.0])
    a, n = 0.5, lam.size
    cases = {
        "ridge": (filters.ridge(lam, a, return_prediction=True), 1 / a),
        "sd": (filters.self_distillation(lam, a, 3, xi=[0.5, -1.0, 1.7],
                                         return_prediction=True), (1 - 1.7) / a),
        "plain": (filters.self_distillation(lam, a, 2, return_prediction=True), 0.0),
        "boosting": (filters.boosting(lam, a, 4, return_prediction=True), 5 / a),
        "flow": (filters.gradient_flow(lam, [2.0], return_prediction=True), 2.0 / n),
        "gd": (filters.gradient_descent(lam, [3], return_prediction=True), 3.0 / n),
    }
    for name, ((h, g), at_zero) in cases.items():
        assert np.all(np.isfinite(g)), name
        assert g[-1, -1] == pytest.approx(at_zero, rel=1e-14, abs=1e-300), name
        np.testing.assert_allclose(lam * g, h, rtol=1e-13, atol=1e-300, err_msg=name)


# ============================================================================ epsilon rule, xi
@pytest.mark.parametrize("schedule", [XIS, XIS[::-1], [1.7] * 3, [-0.5] * 3, [0.3, 1.0]])
@pytest.mark.parametrize("m, multioutput", [(None, "joint"), (2, "joint"),
                                            (2, "independent")])
def test_budget_rule_with_xi_equals_brentq_refits(schedule, m, multioutput):
    K, K_new, y, _ = problem(23 + len(schedule), m=m)
    eps = 0.05 * np.sum(y**2) / K.shape[0]
    R = len(schedule)
    path = self_distill(K, y, epsilon=eps, n_rounds=R, xi=schedule, multioutput=multioutput)
    if multioutput == "independent":
        cols = [naive_mixed_self_distill(K, y[:, j], schedule, epsilon=eps, K_new=K_new)
                for j in range(m)]
        alphas = np.array([c[0] for c in cols]).T
        train = [np.stack([c[1][t] for c in cols], axis=1) for t in range(R + 1)]
        new = [np.stack([c[2][t] for c in cols], axis=1) for t in range(R + 1)]
    else:
        alphas, train, new = naive_mixed_self_distill(K, y, schedule, epsilon=eps, K_new=K_new)
        alphas = np.asarray(alphas)
    np.testing.assert_allclose(path.ridges, alphas, rtol=RTOL)
    preds = path.predict(K_new, np.arange(R + 1))
    for t in range(R + 1):
        assert rel_err(path.train_predictions(t), train[t]) <= RTOL, t
        assert rel_err(preds[t], new[t]) <= RTOL, t
    # the constraint is tight on every fitted round, whatever the sign of the multipliers
    mse = path.train_mse()
    fitted = np.isfinite(path.ridges)
    np.testing.assert_allclose(mse[fitted], eps, rtol=1e-9)
    assert np.all(mse[~fitted] <= eps * (1 + 1e-9))  # collapsed: the zero fit is in budget


def test_budget_rule_with_xi_through_a_collapse():
    """xi = 1 rounds until the fit collapses to 0, then mixed targets (1 - xi) y revive it."""
    K, K_new, y, _ = problem(29)
    eps = 0.3 * np.sum(y**2) / K.shape[0]
    schedule = [1.0, 1.0, 1.0, 1.0, -0.5, 0.3]
    alphas, train, new = naive_mixed_self_distill(K, y, schedule, epsilon=eps, K_new=K_new)
    path = self_distill(K, y, epsilon=eps, n_rounds=len(schedule), xi=schedule)
    assert np.isinf(alphas).any() and np.array_equal(np.isinf(path.ridges), np.isinf(alphas))
    finite = np.isfinite(alphas)
    np.testing.assert_allclose(path.ridges[finite], np.asarray(alphas)[finite], rtol=RTOL)
    for t in range(len(schedule) + 1):
        assert rel_err(path.train_predictions(t), train[t]) <= RTOL or (
            np.all(train[t] == 0) and np.all(path.train_predictions(t) == 0)), t


def test_xi_one_is_plain_self_distillation_and_keeps_logs_on_long_runs():
    K, _, y, _ = problem(31)
    # budget rule through its collapse: the same ridges (inf from the collapse on)
    eps = 0.02 * np.mean(y**2)
    plain = self_distill(K, y, epsilon=eps, n_rounds=30)
    same = self_distill(K, y, epsilon=eps, n_rounds=30, xi=1.0)
    assert plain.collapse_round is not None and same.collapse_round == plain.collapse_round
    np.testing.assert_allclose(same.ridges, plain.ridges, rtol=1e-12)
    # a long fixed-ridge run: weights far below the smallest double stay finite in logs
    plain = self_distill(K, y, alpha=0.05, n_rounds=400)
    same = self_distill(K, y, alpha=0.05, n_rounds=400, xi=np.ones(400))
    lw = same.log_basis_weights
    assert np.all(np.isfinite(lw[:, same.eigenvalues > 0]))
    assert lw.min() < -800
    np.testing.assert_array_equal(lw, plain.log_basis_weights)
    assert same.mix == 0.0 and same.xi.shape == (400,)
    # per-round weights in [0, 1] stay in logs too
    xs = np.random.default_rng(0).uniform(0.0, 1.0, 200)
    mixed = self_distill(K, y, alpha=0.05, n_rounds=200, xi=xs)
    assert np.isnan(mixed.mix) and np.all(np.isfinite(mixed.log_basis_weights[:, :10]))
    np.testing.assert_allclose(mixed.basis_weights,
                               filters.self_distillation(mixed.eigenvalues, 0.05, 200, xi=xs),
                               rtol=1e-12, atol=1e-300)


def test_xi_outside_the_unit_interval_gives_signed_weights():
    K, _, y, _ = problem(37)
    path = self_distill(K, y, alpha=0.3, n_rounds=3, xi=1.7)
    assert path.mix == pytest.approx(-0.7)
    assert np.any(path.basis_weights < 0)
    with pytest.raises(ValueError, match="negative"):
        path.log_basis_weights
    np.testing.assert_allclose(path.coefficients[0], decompose(K).project(y))
    assert "mix=-0.7" in repr(path)
    sched = self_distill(K, y, alpha=0.3, n_rounds=5, xi=XIS)
    assert "per-round" in repr(sched) and len(repr(sched)) < 200


@pytest.mark.parametrize("kwargs, match", [
    (dict(epsilon=0.1, n_rounds=2, xi=0.5, mix=0.5), "at most one of mix"),
    (dict(epsilon=0.1, xi=0.5), "xi needs n_rounds"),
    (dict(alpha=0.1, n_rounds=3, xi=[0.5, 1.0]), "xi has 2 values"),
    (dict(alpha=0.1, n_rounds=2, xi=[0.5, np.nan]), "xi contains 1 NaN"),
])
def test_xi_argument_errors(kwargs, match):
    K, _, y, _ = problem(41, n=10)
    with pytest.raises(ValueError, match=match):
        self_distill(K, y, **kwargs)


# ============================================================================ optimal mixing
def risk_problem(seed, noise_var, n=25):
    """(eigenvalues, theta) from numpy's eigh, and the sample-space ingredients (K, f*)."""
    K, _, _, f = problem(seed, n=n)
    lam, V = eig_desc(K)
    return K, f, lam, V.T @ f


def sample_risk(K, f, alpha, noise_var):
    """xi -> the exact expected risk of mixed SD with schedule xi, from smoother matrices."""
    S = smoother_matrix(K, alpha)
    return lambda xi: expected_risk(mixed_smoother(S, np.atleast_1d(xi)), f, noise_var)


def brute_force(fun, k, seed=0, n_starts=12):
    """BFGS (finite-difference gradients) from ``n_starts`` random starts in [-3, 3]^k, the
    best one polished by Nelder-Mead."""
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(n_starts):
        res = scipy.optimize.minimize(fun, rng.uniform(-3, 3, k), method="BFGS",
                                      options={"gtol": 1e-12, "maxiter": 1000})
        if best is None or res.fun < best.fun:
            best = res
    polished = scipy.optimize.minimize(fun, best.x, method="Nelder-Mead",
                                       options={"xatol": 1e-12, "fatol": 1e-17,
                                                "maxiter": 4000 * k})
    return polished if polished.fun < best.fun else best


@pytest.mark.parametrize("seed, noise_var, alpha", [(1, 0.1, 0.3), (2, 1.0, 0.05),
                                                    (3, 0.01, 2.0), (4, 4.0, 0.5)])
def test_optimal_xi_matches_brute_force(seed, noise_var, alpha):
    K, f, lam, theta = risk_problem(seed, noise_var)
    risk = sample_risk(K, f, alpha, noise_var)
    xi, r = filters.optimal_xi(lam, alpha, theta, noise_var)
    # the risk is exactly quadratic in xi: three evaluations give its minimizer
    r_m, r_0, r_p = risk(-1.0), risk(0.0), risk(1.0)
    xi_quad = -(r_p - r_m) / (2 * (r_p - 2 * r_0 + r_m))
    res = scipy.optimize.minimize_scalar(risk, bracket=(-5, 5), tol=1e-12)
    assert abs(xi - xi_quad) <= 1e-8 * max(1.0, abs(xi_quad))
    assert abs(xi - res.x) <= 1e-6 * max(1.0, abs(res.x))
    assert abs(r - res.fun) <= RTOL * res.fun
    assert r <= res.fun * (1 + 1e-12)
    assert abs(r - risk(xi)) <= 1e-10 * r


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("seed, noise_var, alpha", [(5, 0.2, 0.3), (6, 2.0, 1.0)])
def test_optimal_schedule_matches_brute_force(k, seed, noise_var, alpha):
    K, f, lam, theta = risk_problem(seed, noise_var)
    risk = sample_risk(K, f, alpha, noise_var)
    opt = filters.optimal_schedule(lam, alpha, theta, noise_var, k)
    assert opt.xi.shape == (k,)
    best = brute_force(risk, k, seed=k)
    assert abs(opt.risk - best.fun) <= RTOL * best.fun
    assert opt.risk <= best.fun * (1 + 1e-12)
    assert abs(risk(opt.xi) - opt.risk) <= 1e-10 * opt.risk
    # the minimum is flat (quadratic): brute force resolves xi to ~sqrt(eps) (seen: <= 2e-7)
    np.testing.assert_allclose(opt.xi, best.x, rtol=1e-5, atol=1e-5)
    # the recovery: the schedule's filter is the optimal polynomial in s
    s = lam / (lam + alpha)
    poly = sum(p * s ** (j + 1) for j, p in enumerate(opt.coefficients))
    np.testing.assert_allclose(opt.filter, poly, atol=1e-12)
    assert opt.coefficients.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(filters.self_distillation(lam, alpha, k, xi=opt.xi)[-1],
                               opt.filter, atol=1e-15)
    if k == 1:
        assert opt.xi[0] == pytest.approx(filters.optimal_xi(lam, alpha, theta, noise_var).xi,
                                          rel=1e-9)


def test_optimal_ridge_matches_brute_force():
    for seed, noise_var in [(7, 0.05), (8, 1.0), (9, 5.0)]:
        K, f, lam, theta = risk_problem(seed, noise_var)
        alpha, r = filters.optimal_ridge(lam, theta, noise_var)

        def risk(u):
            return expected_risk(smoother_matrix(K, np.exp(u)), f, noise_var)

        grid = np.linspace(np.log(1e-5), np.log(1e4), 600)
        vals = [risk(u) for u in grid]
        i = int(np.argmin(vals))
        res = scipy.optimize.minimize_scalar(risk, bounds=(grid[max(i - 1, 0)],
                                                           grid[min(i + 1, grid.size - 1)]),
                                             method="bounded", options={"xatol": 1e-12})
        assert abs(r - res.fun) <= RTOL * res.fun, seed
        assert r <= res.fun * (1 + 1e-12)
        assert np.log(alpha) == pytest.approx(res.x, abs=1e-4)
        assert abs(risk(np.log(alpha)) - r) <= 1e-10 * r


def test_optimal_risk_is_monotone_in_k_and_ties_or_beats_the_best_ridge_at_its_ridge():
    K, f, lam, theta = risk_problem(10, 1.0)
    noise_var = 1.0
    best = filters.optimal_ridge(lam, theta, noise_var)
    for alpha in (0.1 * best.alpha, best.alpha, 10 * best.alpha):
        risks = [filters.optimal_schedule(lam, alpha, theta, noise_var, k).risk
                 for k in range(7)]
        assert risks[0] == pytest.approx(
            expected_risk(smoother_matrix(K, alpha), f, noise_var), rel=1e-10)
        assert np.all(np.diff(risks) <= 1e-12 * risks[0]), (alpha, risks)
        if alpha == best.alpha:
            # xi* = 0 at the best ridge: one step ties it, two steps beat it
            xi1 = filters.optimal_xi(lam, alpha, theta, noise_var).xi
            assert abs(xi1) < 1e-6
            assert risks[1] == pytest.approx(best.risk, rel=1e-12)
            assert risks[2] < best.risk * (1 - 1e-4)
            assert max(risks) <= best.risk * (1 + 1e-12)
        else:
            # away from the best ridge one step of SD need not reach it
            assert risks[1] > best.risk


def test_enough_steps_reach_the_oracle_filter_at_any_ridge():
    """k >= the number of distinct positive eigenvalues: the oracle theta^2/(theta^2 + s2)."""
    lam = np.array([2.0, 1.1, 0.5, 0.2, 0.0])
    theta = np.array([1.0, -0.4, 0.3, 0.2, 0.7])
    noise_var = 0.3
    oracle = theta**2 / (theta**2 + noise_var)
    oracle[lam == 0] = 0.0
    oracle_risk = np.mean((1 - oracle) ** 2 * theta**2 + oracle**2 * noise_var)
    best = filters.optimal_ridge(lam, theta, noise_var)
    for alpha in (0.3, 1.0, 3.0):
        opt = filters.optimal_schedule(lam, alpha, theta, noise_var, 4)
        np.testing.assert_allclose(opt.filter, oracle, atol=1e-9)
        assert opt.risk == pytest.approx(oracle_risk, rel=1e-12)
        assert opt.risk < best.risk


def test_heavy_noise_makes_the_optimal_weight_exceed_one():
    """Das & Sanghavi's qualitative claim: under heavy label noise the optimal xi > 1."""
    K, f, lam, theta = risk_problem(12, 1.0)
    alpha = 0.5
    s = lam / (lam + alpha)
    w = 1 - s
    signal = np.mean(f**2)
    xis = [filters.optimal_xi(lam, alpha, theta, v * signal).xi for v in (0.01, 0.1, 1, 10)]
    assert np.all(np.diff(xis) > 0)
    assert xis[0] < 1 < xis[-1]
    # brute force agrees at the heavy-noise end
    risk = sample_risk(K, f, alpha, 10 * signal)
    res = scipy.optimize.minimize_scalar(risk, bracket=(0, 3), tol=1e-12)
    assert res.x > 1 and res.x == pytest.approx(xis[-1], rel=1e-6)
    # the pure-noise limit sum s^2 w / sum s^2 w^2 > 1
    limit = np.sum(s**2 * w) / np.sum(s**2 * w**2)
    assert filters.optimal_xi(lam, alpha, theta, 1e12).xi == pytest.approx(limit, rel=1e-9)


def test_degenerate_schedules():
    from hilbert_sd.filters import _schedule_from_coefficients

    lam = np.array([3.0, 1.0, 0.2])
    # no signal and no noise: every schedule has risk 0; the ridge fit (xi = 0) is returned
    opt = filters.optimal_schedule(lam, 0.5, np.zeros(3), 0.0, 3)
    np.testing.assert_array_equal(opt.xi, 0.0)
    assert opt.risk == 0.0
    assert filters.optimal_xi(lam, 0.5, np.zeros(3), 0.0).xi == 0.0
    # xi_k = 0 makes earlier rounds irrelevant (returned as 0) ...
    np.testing.assert_array_equal(_schedule_from_coefficients(np.array([1.0, 0.0, 0.0])), 0.0)
    np.testing.assert_allclose(_schedule_from_coefficients(np.array([0.5, 0.0, 0.5])),
                               [1.0, 0.5])
    # ... and p with p_1 = 1 but a nonzero rest is reached by no schedule
    with pytest.raises(ValueError, match="not reached by any schedule"):
        _schedule_from_coefficients(np.array([1.0, 0.3, -0.3]))
    # k = 0 is kernel ridge regression
    zero = filters.optimal_schedule(lam, 0.5, [1.0, 0.5, 0.1], 0.3, 0)
    assert zero.xi.shape == (0,) and zero.risk == zero.ridge_risk


def test_ill_conditioned_schedules_warn_and_stay_honest():
    """Far above the eigenvalues every s is small and the powers s^j are nearly dependent."""
    K, f, lam, theta = risk_problem(14, 4.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumericalWarning)
        filters.optimal_schedule(lam, 1.0, theta, 4.0, 6)  # well within range: silent
    with pytest.warns(NumericalWarning, match="condition number"):
        opt = filters.optimal_schedule(lam, 1e3, theta, 4.0, 6)
    # the reported risk is that of the returned schedule (every s is small here: 1 - h has no
    # cancellation), and no worse than fewer steps
    h = filters.self_distillation(lam, 1e3, 6, xi=opt.xi)[-1]
    assert opt.risk == pytest.approx(np.mean((1 - h) ** 2 * theta**2 + h**2 * 4.0), rel=1e-12)
    assert opt.risk <= filters.optimal_schedule(lam, 1e3, theta, 4.0, 4).risk


# ============================================================================ arguments, results
def test_family_argument_errors():
    lam = np.array([2.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="exactly one of thresholds"):
        filters.spectral_cutoff(lam)
    with pytest.raises(ValueError, match="exactly one of thresholds"):
        filters.spectral_cutoff(lam, 0.5, ranks=1)
    with pytest.raises(ValueError, match=r"ranks contains 4; allowed: 0 \.\. 3"):
        filters.spectral_cutoff(lam, ranks=[1, 4])
    with pytest.raises(ValueError, match=r"allowed: 0 \.\. 2, the number of positive"):
        filters.spectral_cutoff(lam, ranks=3, return_prediction=True)
    with pytest.raises(ValueError, match=r"thresholds contains 0.0; allowed with"):
        filters.spectral_cutoff(lam, [0.0, 1.0], return_prediction=True)
    with pytest.raises(ValueError, match="thresholds contains -1.0"):
        filters.spectral_cutoff(lam, -1.0)
    with pytest.raises(ValueError, match="alpha=0.0 is out of range"):
        filters.boosting(lam, 0.0, 2)
    with pytest.raises(ValueError, match="n_steps=-1 is out of range"):
        filters.boosting(lam, 1.0, -1)
    with pytest.raises(ValueError, match="theta has shape"):
        filters.optimal_xi(lam, 1.0, [1.0, 2.0], 0.1)
    with pytest.raises(ValueError, match="noise_var=-0.1 is out of range"):
        filters.optimal_schedule(lam, 1.0, [1.0, 2.0, 3.0], -0.1, 2)
    with pytest.raises(ValueError, match="n_steps=-2"):
        filters.optimal_schedule(lam, 1.0, [1.0, 2.0, 3.0], 0.1, -2)
    with pytest.raises(ValueError, match="alpha"):
        filters.optimal_xi(lam, np.inf, [1.0, 2.0, 3.0], 0.1)


def test_result_objects_unpack_and_print_short():
    lam, theta = [3.0, 1.0, 0.3, 0.1], [1.0, 0.5, 0.2, 0.1]
    xi, risk = filters.optimal_xi(lam, 0.5, theta, 0.2)
    assert isinstance(xi, float) and isinstance(risk, float)
    xis, risk3 = filters.optimal_schedule(lam, 0.5, theta, 0.2, 3)
    assert xis.shape == (3,) and risk3 <= risk
    alpha, r = filters.optimal_ridge(lam, theta, 0.2)
    assert alpha > 0 and r > 0
    for obj in (filters.optimal_xi(lam, 0.5, theta, 0.2),
                filters.optimal_schedule(lam, 0.5, theta, 0.2, 3),
                filters.optimal_ridge(lam, theta, 0.2)):
        assert len(repr(obj)) < 200
    # limits of the best ridge: no noise -> alpha 0, no signal -> alpha inf
    a0, r0 = filters.optimal_ridge([2.0, 0.0], [1.0, 0.5], 0.0)
    assert a0 == 0.0 and r0 == pytest.approx(0.25 / 2)
    ainf, rinf = filters.optimal_ridge([2.0, 1.0], [0.0, 0.0], 1.0)
    assert ainf == np.inf and rinf == 0.0
