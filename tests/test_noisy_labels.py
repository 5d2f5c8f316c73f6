"""Tests of hilbert_sd.noisy_labels (theory.md §5) against independent references.

References: literal step-by-step iterations in sample space (tests/naive_noisy.py), numpy's
matrix_power, scikit-learn's KernelRidge, projectors built from numpy's own eigh, direct
products, and the inequalities of theory.md §5 on constructed instances.
"""

import warnings

import numpy as np
import pytest
from scipy.stats import ortho_group
from sklearn.kernel_ridge import KernelRidge

import naive_noisy as naive
from hilbert_sd.datasets import one_hot
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.filters import _schedule_sums as schedule_sums
from hilbert_sd.noisy_labels import (
    LabelNoise,
    accuracy,
    add_label_noise,
    air_curves,
    energy_fraction,
    noise_transition_matrix,
    predicted_labels,
    spectral_gap_bound,
    stability_limit,
    train,
    train_many,
)
from hilbert_sd.spectral import eigh_psd


# --------------------------------------------------------------------------- fixtures
def _problem(n=24, p=5, m=3, n_test=9, seed=0, one_d=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X_test = rng.standard_normal((n_test, p))
    H = naive.arccos_kernel(X)
    K_test = naive.arccos_kernel(X_test, X)
    if one_d:
        Y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    else:
        Y = one_hot(rng.integers(0, m, n), m)
    return H, K_test, Y


def _lmax(H):
    return np.linalg.eigvalsh(H)[-1]


def _compare_to_naive(path, ref, K_test, times, atol):
    U = path.train_outputs()
    F = path.predict(K_test)
    for i, t in enumerate(times):
        u_ref, c_ref = ref[int(t)]
        np.testing.assert_allclose(U[i], u_ref, rtol=0, atol=atol)
        np.testing.assert_allclose(F[i], K_test @ c_ref, rtol=0, atol=atol)


# --------------------------------------------------------------------------- gradient descent
@pytest.mark.parametrize("factor", [0.5, 1.0, 1.9])
@pytest.mark.parametrize("one_d", [False, True])
def test_gd_matches_literal_iteration(factor, one_d):
    H, K_test, Y = _problem(one_d=one_d)
    eta = factor / _lmax(H)
    times = [0, 1, 2, 3, 10, 57, 200]
    path = train(H, Y, times, learning_rate=eta)
    ref = naive.iterate(H, Y, 200, eta=eta, record=times)
    _compare_to_naive(path, ref, K_test, times, atol=1e-12)


def test_gd_residual_law_matrix_power():
    # u_t − ỹ = (I − ηH)^t (u_0 − ỹ), also at long times (numpy's repeated squaring).
    H, K_test, Y = _problem(seed=3)
    eta = 1.3 / _lmax(H)
    A = np.eye(H.shape[0]) - eta * H
    times = [0, 5, 1000, 123457]
    path = train(H, Y, times, learning_rate=eta)
    for i, t in enumerate(times):
        resid = np.linalg.matrix_power(A, t) @ (-Y)
        np.testing.assert_allclose(path.train_outputs(i) - Y, resid, rtol=0, atol=1e-11)


def test_gd_limit_is_minimum_norm_interpolant():
    H, K_test, Y = _problem(n=15, p=12, seed=4)
    path = train(H, Y, [np.inf])
    np.testing.assert_allclose(path.train_outputs(0), Y, atol=1e-10)
    np.testing.assert_allclose(path.predict(K_test, 0), K_test @ np.linalg.solve(H, Y),
                               atol=1e-9)


def test_null_directions_are_finite_and_exact():
    # Duplicated inputs with different labels: H is singular and GD cannot interpolate.
    H, K_test, Y = _problem(n=12, seed=5)
    H = np.block([[H, H], [H, H]])
    K_test = np.hstack([K_test, K_test])
    Y = np.vstack([Y, np.roll(Y, 1, axis=1)])
    eta = 1.0 / _lmax(H)
    times = [0, 3, 40]
    path = train(H, Y, times + [10**7, np.inf], learning_rate=eta)
    assert np.all(np.isfinite(path.eigen_dual))
    ref = naive.iterate(H, Y, 40, eta=eta, record=times)
    _compare_to_naive(path, ref, K_test, times, atol=1e-11)
    # t -> inf: the function of the projection of Y on the range of H, i.e. K_test H⁺ Y.
    np.testing.assert_allclose(path.predict(K_test, -1),
                               K_test @ np.linalg.pinv(H, hermitian=True, rtol=1e-10) @ Y,
                               atol=1e-8)


# --------------------------------------------------------------------------- "ema"
@pytest.mark.parametrize("ema_form", ["sequential", "simultaneous"])
@pytest.mark.parametrize("a", [0.0, 0.05, 0.4, 1.0])
def test_ema_matches_literal_iteration(ema_form, a):
    H, K_test, Y = _problem(seed=1)
    eta = 0.9 / _lmax(H)
    times = [0, 1, 2, 7, 33, 150]
    path = train(H, Y, times, rule="ema", a=a, ema_form=ema_form, learning_rate=eta)
    ref = naive.iterate(H, Y, 150, eta=eta, rule="ema", a=a, ema_form=ema_form, record=times)
    _compare_to_naive(path, ref, K_test, times, atol=1e-12)


@pytest.mark.parametrize("a,factor", [(0.01, 1.0), (0.1, 0.5), (0.5, 1.2), (0.9, 0.3)])
def test_ema_simultaneous_limit_is_kernel_ridge(a, factor):
    H, K_test, Y = _problem(n=30, seed=2)
    eta = factor / _lmax(H)
    krr = KernelRidge(alpha=a / eta, kernel="precomputed").fit(H, Y)
    path = train(H, Y, [10**7, np.inf], rule="ema", a=a, ema_form="simultaneous",
                 learning_rate=eta)
    for i in (0, 1):
        np.testing.assert_allclose(path.train_outputs(i), krr.predict(H), rtol=0, atol=1e-10)
        np.testing.assert_allclose(path.predict(K_test, i), krr.predict(K_test), rtol=0,
                                   atol=1e-10)


def test_ema_sequential_limit_against_long_iteration():
    # Derived here: u_∞ = U diag(x/(x + a(1 − x))) Uᵀ ỹ; the literal iteration converges to it.
    H, K_test, Y = _problem(n=10, p=12, seed=6)
    eta, a = 1.0 / _lmax(H), 0.3
    ref = naive.iterate(H, Y, 3000, eta=eta, rule="ema", a=a, record=[3000])[3000]
    path = train(H, Y, [np.inf], rule="ema", a=a, learning_rate=eta)
    np.testing.assert_allclose(path.train_outputs(0), ref[0], atol=1e-10)
    np.testing.assert_allclose(path.predict(K_test, 0), K_test @ ref[1], atol=1e-10)
    lam, V = np.linalg.eigh(H)
    x = eta * lam
    np.testing.assert_allclose(path.train_outputs(0), V @ ((x / (x + a * (1 - x)))[:, None]
                                                           * (V.T @ Y)), atol=1e-12)


# --------------------------------------------------------------------------- "anchored"
def _schedules(t_max):
    s = np.arange(t_max)
    return {
        "constant": 0.35,
        "array": 0.9 * (1 - np.exp(-s / 15.0)),
        "callable": lambda steps: 0.5 + 0.4 * np.sin(steps / 7.0),
    }


@pytest.mark.parametrize("kind", ["constant", "array", "callable"])
@pytest.mark.parametrize("factor", [0.7, 1.6])
def test_soft_anchored_is_gd_with_scaled_step(kind, factor):
    H, K_test, Y = _problem(seed=7)
    eta = factor / _lmax(H)
    t_max = 90
    a = _schedules(t_max)[kind]
    if callable(a):
        a_steps = np.array([float(a(np.array([s]))[0]) for s in range(t_max)])
    else:
        a_steps = np.broadcast_to(np.asarray(a, dtype=float), (t_max,))
    times = [0, 1, 4, 31, 90]
    path = train(H, Y, times, rule="anchored", a=a, learning_rate=eta)
    anchored = naive.iterate(H, Y, t_max, eta=eta, rule="anchored",
                             a=a if kind == "constant" else a_steps, record=times)
    gd = naive.iterate_gd_schedule(H, Y, t_max, eta=eta, b=1 - a_steps, record=times)
    for t in times:  # the two literal iterations agree: the identity of theory.md §5
        np.testing.assert_allclose(anchored[t][0], gd[t][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(anchored[t][1], gd[t][1], rtol=0, atol=1e-12)
    _compare_to_naive(path, gd, K_test, times, atol=1e-12)


def test_soft_anchored_accuracy_is_gd_with_scaled_step():
    H, K_test, Y = _problem(seed=8)
    eta = 1.0 / _lmax(H)
    times = list(range(0, 61, 5))
    path = train(H, Y, times, rule="anchored", a="accuracy", learning_rate=eta)
    anchored = naive.iterate(H, Y, 60, eta=eta, rule="anchored", a="accuracy",
                             record=range(61))
    # The accuracy weight of every step (refresh=1), computed from the naive iteration.
    labels = np.argmax(Y, axis=1)
    a_t = np.array([np.mean(naive.predicted(anchored[t][0]) == labels) for t in range(60)])
    assert a_t[0] == 0.0 and a_t[-1] > 0.5
    np.testing.assert_array_equal(path.refresh_log["a"], a_t)
    gd = naive.iterate_gd_schedule(H, Y, 60, eta=eta, b=1 - a_t, record=times)
    for t in times:
        np.testing.assert_allclose(anchored[t][0], gd[t][0], rtol=0, atol=1e-12)
    _compare_to_naive(path, anchored, K_test, times, atol=1e-12)


@pytest.mark.parametrize("one_d", [False, True])
@pytest.mark.parametrize("a", [0.7, "accuracy", "array"])
@pytest.mark.parametrize("refresh", [1, 3])
def test_hard_anchored_matches_literal_iteration(one_d, a, refresh):
    H, K_test, Y = _problem(seed=9, one_d=one_d)
    eta = 1.2 / _lmax(H)
    t_max = 80
    if a == "array":
        a = np.linspace(0.2, 0.9, t_max)
    times = [0, 1, 2, 5, 17, 44, 80]
    path = train(H, Y, times, rule="anchored", a=a, anchor="hard", refresh=refresh,
                 learning_rate=eta)
    ref = naive.iterate(H, Y, t_max, eta=eta, rule="anchored", a=a, anchor="hard",
                        refresh=refresh, record=times)
    _compare_to_naive(path, ref, K_test, times, atol=1e-12)
    assert np.array_equal(path.refresh_log["steps"], np.arange(0, t_max, refresh))


def test_explicit_rule_on_a_refresh_grid():
    H, K_test, Y = _problem(seed=10)
    eta = 1.0 / _lmax(H)
    grid = [0, 1, 2, 4, 8, 16, 32]
    times = [0, 3, 8, 20, 50]
    path = train(H, Y, times, rule="anchored", a="accuracy", anchor="soft", refresh=grid,
                 learning_rate=eta)
    # Reference: the literal iteration computes the accuracy weight itself (naive argmax
    # against the noisy labels) at the grid steps and holds it in between; nothing is taken
    # from the library's path.
    ref = naive.iterate(H, Y, 50, eta=eta, rule="anchored", a="accuracy", refresh=set(grid),
                        record=range(51))
    _compare_to_naive(path, ref, K_test, times, atol=1e-12)
    labels = np.argmax(Y, axis=1)
    acc = np.array([np.mean(naive.predicted(ref[t][0]) == labels) for t in grid])
    np.testing.assert_array_equal(path.refresh_log["steps"], grid)
    np.testing.assert_array_equal(path.refresh_log["accuracy"], acc)
    np.testing.assert_array_equal(path.refresh_log["a"], acc)
    # The held weight matters: it is not constant over the grid, so a wrong accuracy would
    # change the path.
    assert acc[0] == 0.0 and acc[-1] > acc[1]
    # Second, also independent, reference: soft anchored = GD with step η(1 − a) held between
    # the grid points (theory.md §5), with the weights from the naive accuracy above.
    b = np.concatenate([np.full(e - s, 1 - a) for s, e, a in zip(grid, grid[1:] + [50], acc)])
    gd = naive.iterate_gd_schedule(H, Y, 50, eta=eta, b=b, record=times)
    _compare_to_naive(path, gd, K_test, times, atol=1e-12)


def test_train_many_equals_separate_runs():
    H, K_test, Y = _problem(seed=11)
    rng = np.random.default_rng(0)
    Y2 = one_hot(rng.integers(0, 3, Y.shape[0]), 3)
    runs = [dict(rule="anchored", a="accuracy", anchor="hard"),
            dict(rule="anchored", a=0.6, anchor="hard"),
            dict(rule="gd"), dict(rule="ema", a=0.2, ema_form="simultaneous"),
            dict(rule="anchored", a="accuracy")]
    targets = [Y, Y2, Y, Y2, Y2]
    times = [0, 2, 9, 40]
    spectrum = eigh_psd(H)
    batch = train_many(spectrum, targets, times, runs, refresh=2)
    for run, T, p in zip(runs, targets, batch):
        single = train(spectrum, T, times, refresh=2, **run)
        np.testing.assert_allclose(p.eigen_dual, single.eigen_dual, rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- distillation
def test_student_reproduces_early_stopped_teacher():
    H, K_test, Y = _problem(n=14, p=12, seed=12)
    lam = np.linalg.eigvalsh(H)
    eta = 1.0 / lam[-1]
    teacher = train(H, Y, [6], learning_rate=eta)
    u_teacher = teacher.train_outputs(0)
    f_teacher = teacher.predict(K_test, 0)
    student = train(H, u_teacher, [np.inf], learning_rate=eta)
    scale = np.abs(f_teacher).max()
    np.testing.assert_allclose(student.predict(K_test, 0), f_teacher, rtol=0, atol=1e-8 * scale)
    # Literal student iterations until converged (well-conditioned H: kappa is modest).
    kappa = lam[-1] / lam[0]
    steps = int(40 * kappa)
    ref = naive.iterate(H, u_teacher, steps, eta=eta, record=[steps])[steps]
    np.testing.assert_allclose(K_test @ ref[1], f_teacher, rtol=0, atol=1e-8 * scale)


# --------------------------------------------------------------------------- bounds
def _gap_bound_reference(lam_desc, k, gamma, y_star, e):
    """theory.md §5, written out: (γ/(λ_k + γ))² ‖y*‖² + (λ_{k+1}/(λ_{k+1} + γ))² ‖e‖², with
    λ_1 >= λ_2 >= ... 1-based (so λ_k = lam_desc[k - 1])."""
    lk, lk1 = lam_desc[k - 1], lam_desc[k]
    return ((gamma / (lk + gamma)) ** 2 * float(y_star @ y_star)
            + (lk1 / (lk1 + gamma)) ** 2 * float(e @ e))


@pytest.mark.parametrize("seed", range(6))
def test_spectral_gap_bound_and_gd_ends_at_noise(seed):
    rng = np.random.default_rng(seed)
    n, k = 40, 5
    Q = ortho_group.rvs(n, random_state=seed)
    lam = np.concatenate([rng.uniform(50, 100, k), rng.uniform(1e-3, 1e-2, n - k)])
    lam = np.sort(lam)[::-1]
    H = (Q * lam) @ Q.T
    H = (H + H.T) / 2
    y_star = Q[:, :k] @ rng.standard_normal(k)
    e = Q[:, k:] @ rng.standard_normal(n - k) * 0.3
    y_noisy = y_star + e
    eta = 1.0 / lam[0]
    for gamma in (np.sqrt(lam[k - 1] * lam[k]), rng.uniform(0.05, 5.0)):
        path = train(H, y_noisy, [np.inf], rule="ema", a=gamma * eta,
                     ema_form="simultaneous", learning_rate=eta)
        err2 = np.sum((path.train_outputs(0) - y_star) ** 2)
        ref = _gap_bound_reference(lam, k, gamma, y_star, e)
        bound = spectral_gap_bound(lam, k, gamma, np.linalg.norm(y_star), np.linalg.norm(e))
        assert bound == pytest.approx(ref, rel=1e-14)
        assert err2 <= ref * (1 + 1e-10)
        assert ref < 0.05 * np.sum(e**2)  # the gap makes it small
    gd = train(H, y_noisy, [np.inf], learning_rate=eta)
    np.testing.assert_allclose(np.linalg.norm(gd.train_outputs(0) - y_star),
                               np.linalg.norm(e), rtol=1e-9)


def test_spectral_gap_bound_holds_without_a_gap():
    # The inequality itself needs no gap (it is a per-direction estimate).
    rng = np.random.default_rng(0)
    n, k = 30, 7
    Q = ortho_group.rvs(n, random_state=1)
    lam = np.sort(rng.uniform(0.1, 10, n))[::-1]
    H = (Q * lam) @ Q.T
    y_star = Q[:, :k] @ rng.standard_normal(k)
    e = Q[:, k:] @ rng.standard_normal(n - k)
    for gamma in (0.01, 0.3, 3.0, 30.0):
        eta = 0.5 / lam[0]
        path = train(H, y_star + e, [np.inf], rule="ema", a=min(1.0, gamma * eta),
                     ema_form="simultaneous", learning_rate=eta)
        g = min(1.0, gamma * eta) / eta
        err2 = np.sum((path.train_outputs(0) - y_star) ** 2)
        ref = _gap_bound_reference(lam, k, g, y_star, e)
        assert spectral_gap_bound(lam, k, g, np.linalg.norm(y_star),
                                  np.linalg.norm(e)) == pytest.approx(ref, rel=1e-14)
        assert err2 <= ref * (1 + 1e-10)


_STABILITY_CASES = [
    dict(rule="gd"),
    dict(rule="ema", a=0.3, ema_form="simultaneous"),
    dict(rule="ema", a=0.3, ema_form="sequential"),
    dict(rule="anchored", a=0.5),
    dict(rule="anchored", a=0.7, anchor="hard"),
]


@pytest.mark.parametrize("case", _STABILITY_CASES, ids=lambda c: "-".join(map(str, c.values())))
def test_stability_limit_diverges_iff_passed(case):
    H, _, Y = _problem(n=12, seed=13)
    lmax = _lmax(H)
    limit_kwargs = {k: v for k, v in case.items() if k in ("rule", "a", "ema_form", "anchor")}
    eta_c = stability_limit(lmax, **limit_kwargs)
    if case["rule"] == "gd":
        assert eta_c == pytest.approx(2.0 / lmax, rel=1e-15)
    n_steps = 1000  # 1 % past the limit every case grows by >= 1.017 per step: > 1e7
    for factor, diverges in ((0.99, False), (1.01, True)):
        eta = factor * eta_c
        ref = naive.iterate(H, Y, n_steps, eta=eta, record=[n_steps], **case)[n_steps][0]
        assert (np.linalg.norm(ref) > 1e3 * np.linalg.norm(Y)) == diverges
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = train(H, Y, [n_steps], learning_rate=eta, **case)
        warned = any(issubclass(w.category, NumericalWarning) for w in caught)
        assert warned == diverges
        assert (np.linalg.norm(path.train_outputs(0)) > 1e3 * np.linalg.norm(Y)) == diverges


# --------------------------------------------------------------------------- AIR
def _projector_energy(H, v, k):
    lam, V = np.linalg.eigh(H)  # ascending: the top-k are the last k columns
    P = V[:, -k:] @ V[:, -k:].T if k else np.zeros_like(H)
    v2 = v if v.ndim == 2 else v[:, None]
    return np.sum(v2 * (P @ v2)) / np.sum(v2 * v2)


def test_energy_fraction_against_projectors():
    H, _, Y = _problem(n=20, seed=14)
    v = np.random.default_rng(1).standard_normal(20)
    E = energy_fraction(H, v)
    for k in range(1, 21):
        assert E[k - 1] == pytest.approx(_projector_energy(H, v, k), abs=1e-12)
    assert E[-1] == pytest.approx(1.0, abs=1e-14)
    assert energy_fraction(H, Y, k=0) == 0.0
    assert energy_fraction(H, Y, k=4) == pytest.approx(_projector_energy(H, Y, 4), abs=1e-12)


def test_isotropic_noise_spreads_evenly():
    # [paper: noise spreads evenly] For e ~ N(0, I_n) and any orthogonal basis, E_k(e) is
    # Beta(k/2, (n − k)/2): mean k/n, variance 2k(n − k)/(n²(n + 2)). The mean over N draws is
    # checked at 5 of its standard errors (exact 1 at k = n).
    n, N = 30, 4000
    H, _, _ = _problem(n=n, seed=15)
    spectrum = eigh_psd(H)
    e = np.random.default_rng(2).standard_normal((n, N))
    E = np.array([energy_fraction(spectrum, e[:, j]) for j in range(N)])
    k = np.arange(1, n + 1)
    se = np.sqrt(2 * k * (n - k) / (n**2 * (n + 2)) / N)
    assert np.all(np.abs(E.mean(axis=0) - k / n) <= 5 * se + 1e-12)


def test_energy_fraction_sees_the_top_eigenvectors():
    # The isotropic check above holds for any orthogonal basis; this one needs the right
    # eigenvectors in the right (descending) order. Vectors built from numpy's own eigh of H:
    # v = V c has E_j(v) = Σ_{i<=j} c_i² / ‖c‖² exactly (eigenvalues distinct, signs irrelevant),
    # so a signal in the top-k span has E_k = 1 and noise in the rest has E_k = 0.
    n = 30
    H, _, _ = _problem(n=n, seed=15)
    lam, V = np.linalg.eigh(H)
    lam, V = lam[::-1], V[:, ::-1]  # descending
    assert np.min(-np.diff(lam)) > 1e-4 * lam[0]  # eigenvectors well determined
    rng = np.random.default_rng(5)
    for k in (1, 3, 10):
        c = np.zeros(n)
        # magnitudes >= 0.5: every top direction carries a visible share of the signal
        c[:k] = rng.choice([-1.0, 1.0], k) * rng.uniform(0.5, 1.5, k)
        signal = V @ c
        E = energy_fraction(H, signal)
        np.testing.assert_allclose(E, np.cumsum(c**2) / np.sum(c**2), rtol=0, atol=1e-12)
        assert energy_fraction(H, signal, k=k) == pytest.approx(1.0, abs=1e-12)
        c_noise = np.zeros(n)
        c_noise[k:] = rng.standard_normal(n - k)
        assert energy_fraction(H, V @ c_noise, k=k) == pytest.approx(0.0, abs=1e-12)
        # Several columns (Frobenius norms): signal and noise columns side by side.
        both = np.column_stack([signal, V @ c_noise])
        assert energy_fraction(H, both, k=k) == pytest.approx(
            np.sum(c**2) / (np.sum(c**2) + np.sum(c_noise**2)), abs=1e-12)


def test_air_curves_against_projectors_and_ordering():
    H, _, Y = _problem(n=22, seed=16)
    eta = 1.0 / _lmax(H)
    k = 4
    times = [0, 1, 3, 10, 100, 1000, np.inf]
    path = train(H, Y, times, learning_rate=eta)
    G, N = air_curves(path, k)
    ref = naive.iterate(H, Y, 1000, eta=eta, record=times[:-1])
    lam, V = np.linalg.eigh(H)
    P = V[:, -k:] @ V[:, -k:].T
    Q = np.eye(22) - P
    for i, t in enumerate(times[:-1]):
        u = ref[t][0]
        assert G[i] == pytest.approx(np.sum(u * (P @ u)) / np.sum(Y * (P @ Y)), abs=1e-12)
        assert N[i] == pytest.approx(np.sum(u * (Q @ u)) / np.sum(Y * (Q @ Y)), abs=1e-12)
    # Derived: with ηλ_max <= 1 the GD filter is increasing in λ and in t, so the top
    # directions are always fitted at least as far as the rest (signal first, noise later).
    assert G[0] == N[0] == 0.0
    assert np.all(G[1:] >= N[1:])
    assert np.all(np.diff(G) >= -1e-15) and np.all(np.diff(N) >= -1e-15)
    assert G[-1] == pytest.approx(1.0) and N[-1] == pytest.approx(1.0)


# --------------------------------------------------------------------------- noise models
def _transition_from_definition(model):
    """T[i, j] = P(noisy = j | clean = i) for m = 4, rate = 0.3, written out by hand from the
    model definitions: "symmetric" redraws a hit label over all m classes (diagonal
    1 − r + r/m = 0.775, off-diagonal r/m = 0.075), "symmetric_other" over the m − 1 others
    (0.7, 0.1), "pair" moves it to the next class (y + 1) mod m (add_label_noise's docstring):
    diagonal 0.7, T[i, (i + 1) % 4] = 0.3."""
    if model == "symmetric":
        return np.full((4, 4), 0.075) + np.diag(np.full(4, 0.7))
    if model == "symmetric_other":
        return np.full((4, 4), 0.1) + np.diag(np.full(4, 0.6))
    T = np.zeros((4, 4))
    for i in range(4):
        T[i, i] = 0.7
        T[i, (i + 1) % 4] = 0.3
    return T


@pytest.mark.parametrize("model", ["symmetric", "symmetric_other", "pair"])
def test_noise_transition_frequencies(model):
    m, per_class = 4, 10000
    clean = np.repeat(np.arange(m), per_class)
    noise = add_label_noise(clean, 0.3, model=model, random_state=123)
    counts = np.zeros((m, m))
    np.add.at(counts, (noise.clean, noise.labels), 1)
    emp = counts / per_class
    T = noise_transition_matrix(model, 0.3, m)
    T_def = _transition_from_definition(model)
    np.testing.assert_allclose(T_def.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(T, T_def, rtol=0, atol=1e-15)
    np.testing.assert_allclose(noise.transition_matrix, T_def, rtol=0, atol=1e-15)
    np.testing.assert_allclose(emp, T, atol=0.02)
    # Each row of counts is multinomial(per_class, T_def[i]): 5 standard errors per entry,
    # capped at the 0.02 above; impossible transitions (T = 0) must not occur at all.
    se = np.sqrt(T_def * (1 - T_def) / per_class)
    assert np.all(np.abs(emp - T_def) <= np.minimum(0.02, 5 * se))
    assert np.array_equal(noise.mask, noise.labels != clean)
    assert noise.realized_rate == pytest.approx(np.mean(noise.labels != clean))


def test_noise_models_structure_and_reproducibility():
    clean = np.random.default_rng(0).integers(0, 5, 3000)
    other = add_label_noise(clean, 0.4, model="symmetric_other", random_state=7)
    pair = add_label_noise(clean, 0.4, model="pair", random_state=7)
    sym = add_label_noise(clean, 0.4, model="symmetric", random_state=7)
    # Same hits for every model; "other" and "pair" change every hit label.
    assert np.array_equal(other.mask, pair.mask)
    assert np.all(sym.mask <= other.mask)
    assert np.all(pair.labels[pair.mask] == (clean[pair.mask] + 1) % 5)
    # Nested in the rate for one seed.
    low = add_label_noise(clean, 0.2, model="pair", random_state=7)
    assert np.all(low.mask <= pair.mask)
    # Reproducible from the recorded seed, also when the seed was drawn.
    drawn = add_label_noise(clean, 0.4, model="symmetric")
    again = add_label_noise(clean, 0.4, model="symmetric", random_state=drawn.seed)
    assert np.array_equal(drawn.labels, again.labels)
    rec = drawn.record()
    assert rec["seed"] == drawn.seed and rec["model"] == "symmetric" and rec["rate"] == 0.4
    assert add_label_noise(clean, 0.0, random_state=1).mask.sum() == 0
    assert add_label_noise(clean, 1.0, model="symmetric_other", random_state=1).mask.all()
    assert isinstance(sym, LabelNoise) and "symmetric" in repr(sym)


@pytest.mark.parametrize("kwargs,match", [
    (dict(rate=1.5), "rate"),
    (dict(rate=0.2, model="bogus"), "model"),
    (dict(rate=0.2, random_state=-1), "random_state"),
    (dict(rate=0.2, random_state=np.random.default_rng(0)), "random_state"),
    (dict(rate=0.2, n_classes=2), "n_classes"),
])
def test_noise_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        add_label_noise([0, 1, 2, 1], **kwargs)
    with pytest.raises(ValueError, match="labels"):
        add_label_noise([0, -1, 2], 0.1)


# --------------------------------------------------------------------------- helpers, errors
def test_predicted_labels_and_accuracy_match_naive():
    rng = np.random.default_rng(3)
    u = rng.integers(0, 3, (50, 4)).astype(float)  # many ties on purpose
    np.testing.assert_array_equal(predicted_labels(u), naive.predicted(u))
    labels = rng.integers(0, 4, 50)
    assert accuracy(u, labels) == pytest.approx(np.mean(naive.predicted(u) == labels))
    assert accuracy(np.zeros((5, 3)), np.zeros(5, int)) == 0.0  # the zero function: no class
    v = rng.standard_normal(20)
    assert accuracy(v, np.sign(v)) == 1.0


def test_schedule_sums_long_and_chunked():
    rng = np.random.default_rng(4)
    x = np.concatenate([[0.0, 1e-300, 1e-12], rng.uniform(0, 1.9, 6)])
    b = rng.uniform(0, 1, 5000)
    times = np.array([0, 1, 7, 7, 300, 4999, 5000])
    h = schedule_sums(x, b, times, chunk_elems=37)
    for i, t in enumerate(times):
        # direct reference: c_{s+1} = (1 − x b_s) c_s + b_s (the dual recursion, c_0 = 0)
        c = np.zeros_like(x)
        for s in range(t):
            c = (1 - x * b[s]) * c + b[s]
        np.testing.assert_allclose(h[i], c, rtol=1e-10, atol=1e-300)


@pytest.mark.parametrize("kwargs,match", [
    (dict(rule="sgd"), "rule"),
    (dict(times=[3, 1]), "non-decreasing"),
    (dict(times=[-1]), "times"),
    (dict(times=[1.5]), "times"),
    (dict(rule="ema", a=1.5), "a"),
    (dict(rule="ema", a="accuracy"), "ema"),
    (dict(rule="anchored", a=np.zeros(3), times=[10]), "schedule"),
    (dict(rule="anchored", a=lambda s: np.full(3, 0.1), times=[10]), "schedule"),
    (dict(rule="anchored", a="accuracy", times=[np.inf]), "inf"),
    (dict(rule="anchored", a=np.full(20, 2.0), times=[10]), "schedule"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(anchor="medium", rule="anchored"), "anchor"),
    (dict(rule="anchored", anchor="hard", refresh=0), "refresh"),
])
def test_train_bad_input(kwargs, match):
    H, _, Y = _problem(n=8)
    times = kwargs.pop("times", [0, 5])
    with pytest.raises(ValueError, match=match):
        train(H, Y, times, **kwargs)


def test_train_many_bad_input_and_target_shape():
    H, _, Y = _problem(n=8)
    with pytest.raises(ValueError, match="runs"):
        train_many(H, Y, [1], [dict(rule="gd", colour="red")])
    with pytest.raises(ValueError, match="one array per run"):
        train_many(H, [Y, Y], [1], [dict(rule="gd")])
    with pytest.raises(ValueError, match="rows"):
        train(H, Y[:5], [1])


def test_path_accessors_and_repr():
    H, K_test, Y = _problem(n=10)
    path = train(H, Y, [0, 4, 9], rule="ema", a=0.2)
    assert path.train_outputs().shape == (3, 10, 3)
    assert path.train_outputs(1).shape == (10, 3)
    np.testing.assert_allclose(path.train_outputs(1), H @ path.dual_coef(1), atol=1e-13)
    np.testing.assert_allclose(path.predict(K_test, [0, 2]), path.predict(K_test)[[0, 2]],
                               atol=1e-14)
    P = K_test @ path.spectrum.eigenvectors
    np.testing.assert_allclose(path.predict(P, projected=True), path.predict(K_test),
                               atol=1e-14)
    assert "ema" in repr(path)
    with pytest.raises(ValueError, match="index"):
        path.train_outputs(5)
    with pytest.raises(ValueError, match="K_new"):
        path.predict(K_test[:, :3])


# --------------------------------------------------------------------------- regressions
# Literal iterations written out here (not naive_noisy), one step at a time in sample space:
# u_{t+1} = u_t − η H (u_t − y_t), c_{t+1} = c_t − η (u_t − y_t), so u_t = H c_t.
def _literal_soft_anchored(H, y, eta, a, n_steps, record):
    u, c, out = np.zeros_like(y), np.zeros_like(y), {}
    for t in range(n_steps + 1):
        if t in record:
            out[t] = (u.copy(), c.copy())
        r = u - ((1 - a) * y + a * u)
        u, c = u - eta * (H @ r), c - eta * r
    return out


def _literal_ema_simultaneous(H, y, eta, a, n_steps, record):
    u, c, y_t, out = np.zeros_like(y), np.zeros_like(y), y.copy(), {}
    for t in range(n_steps + 1):
        if t in record:
            out[t] = (u.copy(), c.copy())
        r = u - y_t
        u_next, c = u - eta * (H @ r), c - eta * r
        y_t = (1 - a) * y_t + a * u  # simultaneous: the outputs of step t
        u = u_next
    return out


# λ = 1, 1; λ = 3 (eigenvector (1, −1)/√2, where the targets y = (1, −1) below live), 1; and
# λ = 49, 49, where the default step 1/49 gives ηλ = 1 − 2⁻⁵³ in floating point.
_SMALL_KERNELS = [np.eye(2), np.array([[2.0, -1.0], [-1.0, 2.0]]), 49.0 * np.eye(2)]
_SMALL_IDS = ["eye", "psd", "eye49"]


@pytest.mark.parametrize("K", _SMALL_KERNELS, ids=_SMALL_IDS)
def test_soft_anchored_with_a_one_stays_zero_also_at_inf(K):
    # Regression: a = 1 makes the step η(1 − a) = 0, so the outputs stay 0 forever and the
    # limit is 0; the closed form used to give 0·inf = NaN at t = inf.
    y = np.array([1.0, -1.0])
    eta = 1.0 / np.linalg.eigvalsh(K)[-1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither a NumericalWarning nor a RuntimeWarning
        path = train(K, y, [0, 10, 10_000, np.inf], rule="anchored", a=1.0)
    ref = _literal_soft_anchored(K, y, eta, 1.0, 10_000, {0, 10, 10_000})
    out = path.train_outputs()
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(path.dual_coef()))
    for i, t in enumerate([0, 10, 10_000]):
        np.testing.assert_array_equal(out[i], ref[t][0])
        np.testing.assert_array_equal(path.dual_coef(i), ref[t][1])
    np.testing.assert_array_equal(out[-1], np.zeros(2))  # the limit, written out
    np.testing.assert_array_equal(path.predict(K, -1), np.zeros(2))
    np.testing.assert_array_equal(path.filters, np.zeros((4, 2)))
    assert stability_limit(np.linalg.eigvalsh(K)[-1], rule="anchored", a=1.0) == np.inf


@pytest.mark.parametrize("K", _SMALL_KERNELS, ids=_SMALL_IDS)
def test_ema_simultaneous_at_its_stability_limit_oscillates_and_has_no_limit(K):
    # Regression: with a = 1 and the default η = 1/λ_max the simultaneous rule has the
    # per-step factor 1 − ηλ_max − a = −1 on the top direction: the literal iteration
    # oscillates with period 2 and has no limit (it used to return NaN at t = inf).
    y = np.array([1.0, -1.0])
    lmax = np.linalg.eigvalsh(K)[-1]
    eta = 1.0 / lmax
    limit = stability_limit(lmax, rule="ema", a=1.0, ema_form="simultaneous")
    assert limit == pytest.approx((2.0 - 1.0) / lmax, rel=1e-15)
    assert not eta < limit  # the default step is at the limit: not stable
    with pytest.raises(ValueError, match="no limit"):
        train(K, y, [0, 10, np.inf], rule="ema", a=1.0, ema_form="simultaneous")
    times = [0, 1, 10, 9_999, 10_000]
    with pytest.warns(NumericalWarning, match="oscillate"):
        path = train(K, y, times, rule="ema", a=1.0, ema_form="simultaneous")
    ref = _literal_ema_simultaneous(K, y, eta, 1.0, 10_000, set(times))
    for i, t in enumerate(times):
        np.testing.assert_allclose(path.train_outputs(i), ref[t][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(path.dual_coef(i), ref[t][1], rtol=0, atol=1e-12)
    # It really does not converge: two consecutive late steps differ by a fixed amount.
    assert np.linalg.norm(ref[10_000][0] - ref[9_999][0]) > 0.5
    # Below the limit it converges, to kernel ridge regression with ridge a/η [derived],
    # written out here and reached by the literal iteration.
    eta = 0.5 / lmax
    path = train(K, y, [np.inf], rule="ema", a=1.0, ema_form="simultaneous",
                 learning_rate=eta)
    krr = K @ np.linalg.solve(K + (1.0 / eta) * np.eye(2), y)
    ref = _literal_ema_simultaneous(K, y, eta, 1.0, 10_000, {10_000})[10_000][0]
    np.testing.assert_allclose(path.train_outputs(0), krr, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ref, krr, rtol=0, atol=1e-12)


def test_no_limit_is_an_error_for_every_closed_form_rule():
    # Beyond (and at) the stability limit the iterates have no limit: times=inf raises for
    # every rule with a closed form, whatever on_unstable says.
    H, _, Y = _problem(n=10, seed=17)
    lmax = _lmax(H)
    cases = [dict(rule="gd"), dict(rule="ema", a=0.3, ema_form="sequential"),
             dict(rule="ema", a=0.3, ema_form="simultaneous"), dict(rule="anchored", a=0.4)]
    for case in cases:
        eta_c = stability_limit(lmax, **case)
        for factor in (1.0, 1.5):
            for on_unstable in ("warn", "ignore"):
                with pytest.raises(ValueError, match="no limit"):
                    train(H, Y, [np.inf], learning_rate=factor * eta_c,
                          on_unstable=on_unstable, **case)


def test_slow_directions_converge_without_a_warning():
    # A per-step rate below the float spacing of 1 (1 − ηλ rounds to 1) is slow convergence,
    # not the stability boundary: no warning, and the limit is the interpolant (H invertible).
    H = np.diag([1.0, 1e-12])
    y = np.array([1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = train(H, y, [3, np.inf], learning_rate=1e-5)
    x = np.array([1e-5, 1e-17])  # 1 − (1 − x)³ = 3x − 3x² + x³, without cancellation
    np.testing.assert_allclose(path.train_outputs(0), (3 * x - 3 * x**2 + x**3) * y,
                               rtol=1e-12, atol=0)
    np.testing.assert_allclose(path.train_outputs(1), y, rtol=1e-12, atol=0)


def test_gd_boundary_oscillates_with_a_warning():
    # η λ_max = 2 exactly: the top direction flips sign every step (|1 − ηλ| = 1), bounded.
    y = np.array([1.0, -1.0])
    with pytest.warns(NumericalWarning, match="oscillate"):
        path = train(np.eye(2), y, [1, 2, 3], learning_rate=2.0)
    u, outs = np.zeros(2), []
    for t in range(1, 4):
        u = u - 2.0 * (u - y)
        outs.append(u.copy())
    np.testing.assert_array_equal(path.train_outputs(), np.array(outs))


# --------------------------------------------------------------------------- the path
def test_training_path_is_a_spectral_path_with_filters():
    from hilbert_sd.spectral import SpectralPath, decompose

    H, K_test, Y = _problem(n=16, seed=18)
    spectrum = decompose(H)
    lam, V = np.linalg.eigh(H)
    lam, V = lam[::-1], V[:, ::-1]
    eta = 0.8 / lam[0]
    times = [0, 1, 5, 60]
    path = train(spectrum, Y, times, learning_rate=eta)
    assert isinstance(path, SpectralPath) and len(path) == 4
    # the gradient-descent filter 1 − (1 − ηλ)^t, written out with numpy's own eigenvalues
    h = 1.0 - (1.0 - eta * lam[None, :]) ** np.array(times)[:, None]
    np.testing.assert_allclose(path.filters, h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(path.effective_dof(), h.sum(axis=1), rtol=0, atol=1e-11)
    np.testing.assert_array_equal(path.train_outputs(), path.train_predictions())
    np.testing.assert_allclose(path.train_outputs(2), V @ (h[2][:, None] * (V.T @ Y)),
                               rtol=0, atol=1e-12)
    # a matrix and its spectrum give the same path
    np.testing.assert_allclose(train(H, Y, times, learning_rate=eta).eigen_dual,
                               path.eigen_dual, rtol=0, atol=0)
    np.testing.assert_allclose(path.predict(spectrum.project_rows(K_test), projected=True),
                               path.predict(K_test), rtol=0, atol=1e-13)
    # the soft anchored rule with a constant weight is gradient descent with step η(1 − a)
    soft = train(spectrum, Y, times, rule="anchored", a=0.25, learning_rate=eta)
    h_soft = 1.0 - (1.0 - 0.75 * eta * lam[None, :]) ** np.array(times)[:, None]
    np.testing.assert_allclose(soft.filters, h_soft, rtol=0, atol=1e-12)
    # "ema", simultaneous: λ η S_t(ηλ + a), S_t(w) = Σ_{s<t} (1 − w)^s summed here
    ema = train(spectrum, Y, times, rule="ema", a=0.2, ema_form="simultaneous",
                learning_rate=eta)
    w = eta * lam + 0.2
    S = np.array([sum((1 - w) ** s for s in range(t)) if t else np.zeros_like(w)
                  for t in times])
    np.testing.assert_allclose(ema.filters, eta * lam * S, rtol=0, atol=1e-12)


@pytest.mark.parametrize("run", [dict(rule="anchored", anchor="hard", a=0.5),
                                 dict(rule="anchored", a="accuracy")])
def test_explicit_rules_have_no_filters(run):
    H, K_test, Y = _problem(n=10, seed=19)
    path = train(H, Y, [0, 3, 8], **run)
    with pytest.raises(ValueError, match="not a linear filter"):
        path.filters
    with pytest.raises(ValueError, match="not a linear filter"):
        path.effective_dof()
    # everything else works: outputs = H × dual coefficients, predictions from the duals
    np.testing.assert_allclose(path.train_outputs(), np.einsum("ij,tjm->tim", H,
                                                               path.dual_coef()),
                               rtol=0, atol=1e-13)
    np.testing.assert_allclose(path.predict(K_test), np.einsum("ij,tjm->tim", K_test,
                                                               path.dual_coef()),
                               rtol=0, atol=1e-13)


# --------------------------------------------------------------------------- experiment, CLI
def test_experiment_qualitative_order_over_seeds():
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    res = run_noisy_labels(300, n_test=400, noise_rates=(0.4,), seeds=(0, 1, 2),
                           t_end=10_000, n_times=21)
    acc = {(r["seed"], r["method"]): r for r in res.rows}
    for seed in (0, 1, 2):
        end = acc[(seed, "gd_end")]
        # Gradient descent has memorized the noisy labels by the end ...
        assert end["train_accuracy_noisy"] >= 0.99
        # ... and is clearly worse than early stopping and than self-distillation at the end.
        assert acc[(seed, "gd_oracle")]["test_accuracy"] >= end["test_accuracy"] + 0.05
        for m in ("ema_sequential", "ema_simultaneous", "anchored_hard_accuracy"):
            assert acc[(seed, m)]["test_accuracy"] >= end["test_accuracy"] + 0.05, m
    # The reported flags are computed from the rows, not fixed.
    (s,) = res.by_rate()
    for m, flag in s["matches_oracle"].items():
        mean = np.mean([acc[(sd, m)]["test_accuracy"] for sd in (0, 1, 2)])
        oracle = np.mean([acc[(sd, "gd_oracle")]["test_accuracy"] for sd in (0, 1, 2)])
        assert flag == (abs(mean - oracle) <= 0.02)
    assert s["gd_end_worse"]
    assert "gd_oracle" in res.table()


def test_cli_writes_results(tmp_path):
    import json

    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.cli import main

    out = tmp_path / "nl"
    status = main(["noisy-labels", "--n", "120", "--n-test", "80", "--noise", "0.3", "0.6",
                   "--t-end", "2000", "--seeds", "3", "--out", str(out), "--quiet"])
    assert status == 0
    for name in ("noisy_labels.csv", "noisy_labels_curves.csv", "noisy_labels.json",
                 "noisy_labels_accuracy.png", "noisy_labels_air.png"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "noisy_labels.json").read_text())
    assert data["noise"][0]["seed"] is not None and len(data["summary"]) == 2
    assert main(["noisy-labels", "--noise", "1.5", "--out", str(out)]) == 2
    assert main(["noisy-labels", "--dataset", "digits", "--n", "1700", "--n-test", "200",
                 "--out", str(out)]) == 2


def test_experiment_krr_oracle_against_kernel_ridge():
    # The krr_oracle of the experiment asks a ridge path; reference: scikit-learn's
    # KernelRidge on the same data, labels and ridges.
    from hilbert_sd.datasets import make_clustered
    from hilbert_sd.experiments.noisy_labels import (
        CLUSTERED_DEFAULTS,
        NOISE_SEED_OFFSET,
        run_noisy_labels,
    )
    from hilbert_sd.kernels import gram

    n, n_test, rate = 80, 60, 0.4
    res = run_noisy_labels(n, n_test=n_test, noise_rates=(rate,), seeds=(0,), t_end=100,
                           n_times=4)
    X, y = make_clustered(n + n_test, random_state=0, **CLUSTERED_DEFAULTS)
    X, X_test, y, y_test = X[:n], X[n:], y[:n], y[n:]
    m = int(max(y.max(), y_test.max())) + 1
    noise = add_label_noise(y, rate, n_classes=m, random_state=NOISE_SEED_OFFSET)
    H, K_test = gram(X, kernel="arccos"), gram(X_test, X, kernel="arccos")
    Y = one_hot(noise.labels, m)
    krr = res.curves[(0, rate)]["krr"]
    ref = []
    for r in krr["ridges"]:
        model = KernelRidge(alpha=r, kernel="precomputed").fit(H, Y)
        ref.append(np.mean(naive.predicted(model.predict(K_test)) == y_test))
    np.testing.assert_allclose(krr["accuracy"], ref, rtol=0, atol=1.5 / n_test)
    (row,) = [r for r in res.rows if r["method"] == "krr_oracle"]
    kb = int(np.argmax(krr["accuracy"]))
    assert row["ridge"] == krr["ridges"][kb]
    assert row["test_accuracy"] == krr["accuracy"][kb]
    model = KernelRidge(alpha=row["ridge"], kernel="precomputed").fit(H, Y)
    assert row["train_accuracy_noisy"] == pytest.approx(
        np.mean(naive.predicted(model.predict(H)) == noise.labels), abs=1.5 / n)


def test_label_noise_stands_for_its_labels_in_comparisons():
    """Issue 14: comparing a LabelNoise with an array silently gave False."""
    clean = np.repeat(np.arange(4), 25)
    noise = add_label_noise(clean, 0.3, random_state=5)
    assert isinstance(noise, LabelNoise)
    same = noise == clean  # element-wise, as for the labels themselves
    assert same.shape == clean.shape and same.dtype == bool
    np.testing.assert_array_equal(same, ~noise.mask)
    np.testing.assert_array_equal(noise != clean, noise.mask)
    np.testing.assert_array_equal(clean == noise, ~noise.mask)
    np.testing.assert_array_equal(np.asarray(noise), noise.labels)
    assert len(noise) == 100
    again = add_label_noise(clean, 0.3, random_state=5)
    assert noise == again and not (noise != again)
    assert not noise == add_label_noise(clean, 0.3, random_state=6)
