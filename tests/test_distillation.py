"""self_distill against literal KernelRidge refits, closed forms and the derived identities."""


import numpy as np
import pytest

from hilbert_sd import InfeasibleBudgetError, InfeasibleBudgetWarning, self_distill
from hilbert_sd.spectral import decompose, eigh_psd

import naive
from naive import naive_independent, naive_self_distill, rbf


def make_problem(n, m=None, seed=0, p=2, gamma=2.0, n_new=17):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, p))
    X_new = rng.uniform(-1, 1, size=(n_new, p))
    f = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    shape = (n,) if m is None else (n, m)
    noise = 0.3 * rng.standard_normal(shape)
    y = (f if m is None else f[:, None] * rng.uniform(0.5, 1.5, m)) + noise
    return rbf(X, X, gamma), rbf(X_new, X, gamma), y


def rel_close(a, b, rtol):
    a, b = np.asarray(a, float), np.asarray(b, float)
    scale = max(np.max(np.abs(b)), 1e-300)
    return np.max(np.abs(a - b)) <= rtol * scale


CASES = [
    # (n, m, multioutput, rule, mix)
    (7, None, "joint", "epsilon", 0.0),
    (40, None, "joint", "epsilon", 0.0),
    (40, None, "joint", "epsilon", 0.3),
    (40, None, "joint", "alpha", 0.0),
    (40, None, "joint", "alpha", 0.5),
    (150, 3, "joint", "epsilon", 0.0),
    (150, 3, "joint", "epsilon", 0.25),
    (100, 3, "independent", "epsilon", 0.0),
    (150, 2, "joint", "alpha", 0.2),
    (300, None, "joint", "epsilon", 0.0),
    (120, 2, "independent", "epsilon", 0.4),
]


@pytest.mark.parametrize("n, m, multioutput, rule, mix", CASES)
def test_matches_naive_kernel_ridge_loop(n, m, multioutput, rule, mix):
    K, K_new, y = make_problem(n, m, seed=n + (m or 0))
    n_rounds = 4
    energy = np.sum(y**2) / n
    kwargs = {"epsilon": 0.08 * energy} if rule == "epsilon" else {"alpha": 0.05 * n}
    path = self_distill(K, y, n_rounds=n_rounds, mix=mix, multioutput=multioutput, **kwargs)
    if multioutput == "independent":
        alphas, train, new = naive_independent(K, y, n_rounds=n_rounds, mix=mix, K_new=K_new,
                                               **kwargs)
        ridges = path.ridges
    else:
        alphas, train, new = naive_self_distill(K, y, n_rounds=n_rounds, mix=mix, K_new=K_new,
                                                **kwargs)
        ridges = path.ridges
    alphas = np.asarray(alphas)
    assert ridges.shape == alphas.shape
    finite = np.isfinite(alphas)
    assert np.array_equal(np.isfinite(ridges), finite)
    np.testing.assert_allclose(ridges[finite], alphas[finite], rtol=1e-8)
    preds_new = path.predict(K_new, np.arange(n_rounds + 1))
    for t in range(n_rounds + 1):
        assert rel_close(path.train_predictions(t), train[t], 1e-8), t
        assert rel_close(preds_new[t], new[t], 1e-8), t


def test_compiled_solver_equals_plain_numpy_reference():
    """The log-space compiled solver against tests/naive.eigen_ridges (plain floats, Brent)."""
    K, _, y = make_problem(120, seed=3)
    eps = 0.05 * np.mean(y**2)
    spec = eigh_psd(K)  # the solver and the reference on one spectrum
    a = self_distill(spec, y, epsilon=eps)
    ref = naive.eigen_ridges(spec.eigenvalues, spec.project(y) ** 2, eps,
                             n_rounds=a.n_rounds, rank_tol=spec.rank_tolerance)
    assert a.collapse_round == int(np.argmax(np.isinf(ref)))
    np.testing.assert_allclose(a.alphas, ref[np.isfinite(ref)], rtol=1e-12)
    lam = spec.eigenvalues
    B = np.cumprod(lam[None, :] / (lam[None, :] + ref[:, None]), axis=0)
    np.testing.assert_allclose(a.basis_weights, B, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("seed", range(8))
def test_constraint_is_tight_every_round(seed):
    """M1 (derived): (1/n)||f_t(X) - y_t||^2 = epsilon on every non-collapsed round,
    measured on the training predictions, independently of the engine's Parseval form."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 80))
    K, _, y = make_problem(n, seed=seed)
    eps = rng.uniform(0.005, 0.5) * np.mean(y**2)
    path = self_distill(K, y, epsilon=eps)
    T = path.collapse_round
    assert T is not None and T == len(path.alphas)
    targets = y
    for t in range(T):
        fit = path.train_predictions(t)
        np.testing.assert_allclose(np.mean((fit - targets) ** 2), eps, rtol=1e-9)
        targets = fit
    np.testing.assert_allclose(path.train_mse()[:T], eps, rtol=1e-9)


def test_until_collapse_stops_at_the_first_collapsed_round():
    K, _, y = make_problem(50, seed=11)
    n = len(y)
    eps = 0.02 * np.mean(y**2)
    path = self_distill(K, y, epsilon=eps)
    T = path.collapse_round
    alphas, train, _ = naive_self_distill(K, y, epsilon=eps, n_rounds=T)
    # the literal loop: targets of round T fit inside the budget, those of round T-1 do not
    assert np.sum(train[T - 1] ** 2) <= n * eps < np.sum(train[T - 2] ** 2)
    assert np.isinf(alphas[T]) and np.all(np.isfinite(alphas[:T]))
    assert path.n_rounds == T
    assert np.all(path.basis_weights[T] == 0)
    np.testing.assert_array_equal(path.train_predictions(T), 0.0)
    # alphas strictly increase (M3, derived)
    assert np.all(np.diff(path.alphas) > 0)


def test_collapse_at_round_zero_is_an_outcome():
    K, K_new, y = make_problem(20, seed=1)
    path = self_distill(K, y, epsilon=np.mean(y**2) * 1.01, n_rounds=3)
    assert path.collapse_round == 0
    assert path.alphas.shape == (0,)
    np.testing.assert_array_equal(path.predict(K_new), 0.0)


def test_fixed_ridge_weights_in_log_space_match_the_closed_form():
    """B_t = A^{t+1} for a fixed ridge; after 5000 rounds it underflows, its log does not."""
    K, _, y = make_problem(30, seed=5)
    alpha = 3.0
    path = self_distill(K, y, alpha=alpha, n_rounds=5000)
    lam = np.linalg.eigvalsh(K)[::-1]
    lam = np.clip(lam, 0, None)
    t = np.arange(5001)[:, None]
    with np.errstate(divide="ignore"):
        expected = (t + 1) * (np.log(lam) - np.log(lam + alpha))
    ok = lam > 1e-8 * lam[0]
    np.testing.assert_allclose(path.log_basis_weights[:, ok], expected[:, ok], rtol=1e-9)
    assert np.all(np.isfinite(path.log_basis_weights[:, ok]))
    assert path.basis_weights[-1, -1] == 0.0  # the plain product underflows


def test_mixing_with_fixed_ridge_reaches_the_closed_form_limit():
    """z_inf = beta (I - (1 - beta) A)^{-1} A z_0 for a fixed ridge (theory.md §2)."""
    K, _, y = make_problem(25, seed=2)
    alpha, beta = 0.5, 0.3
    path = self_distill(K, y, alpha=alpha, n_rounds=400, mix=beta)
    n = len(y)
    A = K @ np.linalg.inv(K + alpha * np.eye(n))  # smoother matrix, no eigenbasis
    limit = beta * np.linalg.solve(np.eye(n) - (1 - beta) * A, A @ y)
    np.testing.assert_allclose(path.train_predictions(), limit, rtol=1e-8, atol=1e-10)


def test_joint_multioutput_uses_the_frobenius_budget():
    K, _, Y = make_problem(60, m=3, seed=4)
    eps = 0.05 * np.mean(np.sum(Y**2, axis=1))
    path = self_distill(K, Y, epsilon=eps, n_rounds=2)
    for t in range(3):
        if np.isfinite(path.ridges[t]):
            prev = Y if t == 0 else path.train_predictions(t - 1)
            resid = path.train_predictions(t) - prev
            np.testing.assert_allclose(np.sum(resid**2) / 60, eps, rtol=1e-9)


def test_kernel_rescaling_rescales_the_ridges():
    """M14 (derived): c K gives ridges c alpha_t and the same functions."""
    K, K_new, y = make_problem(40, seed=6)
    eps = 0.03 * np.mean(y**2)
    a = self_distill(K, y, epsilon=eps)
    b = self_distill(7.5 * K, y, epsilon=eps)
    assert a.collapse_round == b.collapse_round
    np.testing.assert_allclose(b.alphas, 7.5 * a.alphas, rtol=1e-9)
    np.testing.assert_allclose(b.predict(7.5 * K_new, 1), a.predict(K_new, 1), rtol=1e-8,
                               atol=1e-12)


def test_inputs_are_not_modified():
    K, _, y = make_problem(30, seed=7)
    K0, y0 = K.copy(), y.copy()
    self_distill(K, y, epsilon=0.1, n_rounds=3)
    np.testing.assert_array_equal(K, K0)
    np.testing.assert_array_equal(y, y0)


def test_shared_spectrum_gives_the_same_path():
    K, _, y = make_problem(30, seed=8)
    spec = decompose(K)  # the backend self_distill(K) picks
    a = self_distill(K, y, epsilon=0.05, n_rounds=3)
    b = self_distill(spec, y, epsilon=0.05, n_rounds=3)
    np.testing.assert_array_equal(a.ridges, b.ridges)


def duplicated_problem():
    # two identical inputs with different labels: (y0 - y1)^2 / 2 of the energy is in the
    # null space of K, out of reach of every function of x
    X = np.array([[0.0], [0.0], [0.5], [1.0]])
    y = np.array([1.0, -1.0, 2.0, -1.5])
    return rbf(X, X, 1.0), y, (1.0 - (-1.0)) ** 2 / 2 / 4


def test_infeasible_budget_raises_naming_the_floor():
    K, y, floor = duplicated_problem()
    with pytest.raises(InfeasibleBudgetError, match=f"floor {floor:.6g}"):
        self_distill(K, y, epsilon=0.9 * floor)
    # just above the floor it is feasible
    path = self_distill(K, y, epsilon=1.1 * floor, n_rounds=0)
    assert np.isclose(np.mean((path.train_predictions(0) - y) ** 2), 1.1 * floor, rtol=1e-8)


def test_infeasible_budget_warns_and_fits_when_asked():
    K, y, floor = duplicated_problem()
    with pytest.warns(InfeasibleBudgetWarning, match="smallest admissible ridge"):
        path = self_distill(K, y, epsilon=0.5 * floor, n_rounds=1, on_infeasible="warn")
    assert path.infeasible_rounds[0] == 0
    assert np.all(np.isfinite(path.train_predictions(0)))


BAD = [
    (dict(epsilon=0.1, alpha=1.0), "exactly one"),
    (dict(), "exactly one"),
    (dict(epsilon=0.0), "epsilon=0.0 is out of range"),
    (dict(epsilon=-1.0), "out of range"),
    (dict(alpha=-1.0, n_rounds=2), "alpha=-1.0 is out of range"),
    (dict(alpha=1.0), "needs the budget rule"),
    (dict(epsilon=0.1, mix=1.5), "mix=1.5 is out of range"),
    (dict(epsilon=0.1, mix=0.5), "needs mix=0"),
    (dict(epsilon=0.1, n_rounds=-1), "n_rounds=-1 is out of range"),
    (dict(epsilon=float("nan")), "finite"),
    (dict(epsilon=0.1, multioutput="both"), "multioutput"),
]


@pytest.mark.parametrize("kwargs, match", BAD)
def test_bad_arguments(kwargs, match):
    K, _, y = make_problem(10)
    with pytest.raises(ValueError, match=match):
        self_distill(K, y, **kwargs)


def test_bad_arrays():
    K, _, y = make_problem(10)
    with pytest.raises(ValueError, match="rows but the kernel matrix has 10"):
        self_distill(K, y[:-1], epsilon=0.1)
    bad = y.copy()
    bad[3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        self_distill(K, bad, epsilon=0.1)
    with pytest.raises(ValueError, match="square"):
        self_distill(K[:, :-1], y, epsilon=0.1)
    asym = K.copy()
    asym[0, 1] += 0.1
    with pytest.raises(ValueError, match="symmetric"):
        self_distill(asym, y, epsilon=0.1)
    with pytest.raises(ValueError, match="empty"):
        self_distill(np.zeros((0, 0)), np.zeros(0), epsilon=0.1)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        self_distill(K - 0.5 * np.eye(10) * K.max(), y, epsilon=0.1)
    Kinf = K.copy()
    Kinf[2, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        self_distill(Kinf, y, epsilon=0.1)


def test_round_off_negatives_are_clipped_and_reported():
    # a rank-2 Gram matrix: its 38 null eigenvalues come out of LAPACK as round-off of both signs
    rng = np.random.default_rng(0)
    F = rng.standard_normal((40, 2))
    K = F @ F.T
    path = self_distill(K, rng.standard_normal(40), alpha=1.0, n_rounds=1)
    spec = path.spectrum
    assert spec.n_clipped > 0
    assert -spec.rank_tolerance <= spec.most_negative < 0
    assert np.all(path.eigenvalues >= 0)
    assert spec.numerical_rank == 2
    U, lam = spec.eigenvectors, spec.eigenvalues
    np.testing.assert_allclose(U * lam @ U.T, K, atol=1e-12 * np.abs(K).max())


def test_float32_kernels_are_judged_at_float32_precision():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 3)).astype(np.float32)
    K32 = X @ X.T  # rank 3: round-off negatives of float32 size
    y = rng.standard_normal(30)
    path = self_distill(K32, y, alpha=0.5, n_rounds=0)
    assert np.all(np.isfinite(path.train_predictions(0)))
    with pytest.raises(ValueError, match="not positive semi-definite"):
        self_distill(K32.astype(np.float64), y, alpha=0.5, n_rounds=0)
