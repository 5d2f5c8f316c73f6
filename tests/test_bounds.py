"""The results M2-M13 of theory.md §2 on random spectra and on the reference data.

Every bound is checked against simulated self-distillation paths: 500 random instances
(random orthogonal U from QR, random positive spectra with condition numbers up to 1e8,
random sizes and budgets) and the reference data for several ε. The derived quantities are
compared with direct computations (dual coefficients, explicit matrices, scikit-learn).
"""

import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge

from hilbert_sd import self_distill
from hilbert_sd import bounds as B
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import Spectrum, clip_tolerance

DATA = Path(__file__).resolve().parents[1] / "hilbert_sd" / "data" / "mobahi_toy.csv"
N_INSTANCES = 500
# the engine finds each ridge to ~1e-15 relative and counts ||y_t||^2 <= n eps (1 + 1e-10)
# as a collapse; 1e-9 leaves room for both and nothing else
RTOL = 1e-9


def _toy():
    d = np.loadtxt(DATA, delimiter=",", skiprows=1)
    x = d[:, :1]
    return x, gram(x, gamma=80.0), d[:, 1]


def _random_instance(rng):
    n = int(rng.integers(2, 41))
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    log_kappa = rng.uniform(0, 8)
    u = np.concatenate(([0.0, 1.0], rng.uniform(size=n - 2)))[:n]
    lam = 10.0 ** (rng.uniform(-2, 3) - log_kappa * u)
    if n > 3 and rng.uniform() < 0.2:
        lam[1] = lam[2]  # repeated eigenvalues: pairs within them are excluded
    lam = np.sort(lam)[::-1]
    spec = Spectrum(eigenvalues=lam, eigenvectors=U,
                    rank_tolerance=clip_tolerance(lam[0], n))
    # coefficients with a random decay profile: energy at the top or spread out
    z = rng.normal(size=n) * lam ** rng.uniform(0, 1)
    y = U @ z
    r0 = math.exp(rng.uniform(math.log(1.05), math.log(30.0)))
    eps = float(y @ y) / (n * r0**2)
    return spec, y, eps


@pytest.fixture(scope="module")
def random_paths():
    rng = np.random.default_rng(20260611)
    out = []
    for _ in range(N_INSTANCES):
        spec, y, eps = _random_instance(rng)
        out.append((spec, y, eps, self_distill(None, y, epsilon=eps, spectrum=spec)))
    return out


def _pairs(lam):
    k, j = np.triu_indices(lam.size, 1)
    strict = lam[k] > lam[j]
    return k[strict], j[strict]


def _check_m2_m8(spec, y, eps, path):
    lam = spec.eigenvalues
    n = lam.size
    T = path.collapse_round
    assert T is not None
    norms = np.sqrt(np.sum(path.coefficients**2, axis=1))
    alphas = path.alphas
    assert alphas.shape == (T,)
    # M2 on every non-collapsed round
    if T:
        lo, hi = B.ridge_bounds(lam, norms[:T], n, eps)
        assert np.all(alphas >= lo * (1 - RTOL))
        assert np.all(alphas <= hi * (1 + RTOL))
    # M5, M6
    y_norm = float(np.linalg.norm(y))
    assert T >= B.rounds_lower_bound_kappa(lam, y_norm, n, eps) - RTOL
    b6 = B.collapse_round_bounds(lam, y_norm, n, eps)
    assert b6.lower - RTOL * max(1.0, b6.lower) <= T <= b6.upper
    assert T < b6.upper_kappa
    # M7, M8 on every pair of distinct eigenvalues and every number of factors 1..T
    k, j = _pairs(lam)
    if T and k.size:
        t = np.arange(1, T + 1)[:, None]
        lw = path.log_basis_weights[:T]
        log_ratio = lw[:, k] - lw[:, j]  # (T, pairs): log B_{t-1}[k] / B_{t-1}[j]
        lower = B.sparsification_lower_bound(lam, y_norm, n, eps, t, k, j, log=True)
        upper = B.sparsification_upper_bound(lam, t, k, j, log=True)
        tol = RTOL * np.maximum(1.0, np.abs(log_ratio))
        assert np.all(log_ratio >= lower - tol)
        assert np.all(log_ratio <= upper + tol)
    return T


def test_bounds_m2_to_m8_hold_on_500_random_instances(random_paths):
    collapse_rounds = [_check_m2_m8(*inst) for inst in random_paths]
    # the instances exercise the statements: many rounds, not only immediate collapses
    assert len(collapse_rounds) == N_INSTANCES
    assert max(collapse_rounds) >= 20 and np.median(collapse_rounds) >= 3


def test_check_bounds_table_agrees_on_random_instances(random_paths):
    for spec, y, eps, path in random_paths[:150]:
        records = B.check_bounds(path)
        assert all(r["holds"] for r in records), [r for r in records if not r["holds"]][:3]
        ids = {r["id"] for r in records}
        assert {"M5", "M6"} <= ids


@pytest.mark.parametrize("eps", [0.003, 0.01, 0.03, 0.05, 0.1, 0.3])
def test_bounds_hold_on_reference_data(eps):
    x, K, y = _toy()
    path = self_distill(K, y, epsilon=eps)
    spec = path.spectrum
    _check_m2_m8(spec, y, eps, path)
    records = B.check_bounds(path)
    assert all(r["holds"] for r in records)
    assert not any(r["vacuous"] for r in records)  # kappa ~ 10 here: nothing is vacuous


def test_multioutput_joint_paths_satisfy_the_bounds():
    rng = np.random.default_rng(7)
    x, K, y = _toy()
    Y = np.c_[y, rng.normal(size=y.size)]
    path = self_distill(K, Y, epsilon=0.05)
    records = B.check_bounds(path)
    assert records and all(r["holds"] for r in records)


# ---- M9 - M11 -----------------------------------------------------------------------------

def _check_m9_m11(spec, y, eps, path):
    lam, U = spec.eigenvalues, spec.eigenvectors
    T = path.collapse_round
    lw = path.log_basis_weights[:T]
    coef = path.coefficients[: T + 1]
    # M9
    rel = B.relative_basis_weights(lw)
    assert np.all(np.diff(rel, axis=0) <= 1e-12 * np.maximum(1, np.abs(rel[1:])))
    for tau in (0.5, 1e-2, 1e-6):
        counts = B.n_basis_functions(lw, tau)
        bw = np.exp(lw)
        naive = [(row >= tau * row.max()).sum() for row in bw]  # direct count
        np.testing.assert_array_equal(counts, naive)
        assert np.all(np.diff(counts) <= 0)
    # M10 for every m
    for m in range(1, lam.size):
        frac = B.top_energy_fraction(coef, m)
        assert np.all(np.diff(frac) >= -1e-12)
    # M11: label distance from the training predictions directly
    dist = B.label_distances(coef)
    direct = np.array([np.sum((path.train_predictions(t) - y) ** 2) / y.size for t in range(T)])
    np.testing.assert_allclose(dist, direct, rtol=1e-9, atol=1e-14)
    if T:
        assert dist[0] == pytest.approx(eps, rel=1e-9)
        assert np.all(np.diff(dist) >= -1e-12 * dist[1:])
    # M11: RKHS norm from the dual coefficients, a^T K a
    K = (U * lam) @ U.T
    norms = B.rkhs_norms(lam, lw, coef[0])
    direct = np.array([path.dual_coef(t) @ K @ path.dual_coef(t) for t in range(T)])
    np.testing.assert_allclose(norms, direct, rtol=1e-6, atol=1e-12)
    assert np.all(np.diff(norms) <= 1e-12 * norms[:-1])


def test_m9_m10_m11_on_random_instances(random_paths):
    # kappa <= 1e3 so that a^T K a (the independent reference) is accurate to 1e-6
    done = 0
    for spec, y, eps, path in random_paths:
        if spec.condition_number < 1e3 and path.collapse_round:
            _check_m9_m11(spec, y, eps, path)
            done += 1
        if done == 60:
            break
    assert done == 60


@pytest.mark.parametrize("eps", [0.01, 0.05])
def test_m9_m10_m11_on_reference_data(eps):
    x, K, y = _toy()
    path = self_distill(K, y, epsilon=eps)
    _check_m9_m11(path.spectrum, y, eps, path)


# ---- M12 ---------------------------------------------------------------------------------

def test_m12_near_interpolation():
    x, K, y = _toy()
    epsilons = [0.3, 0.1, 0.03, 0.01, 0.003, 0.001]
    alpha0, T, t_star = [], [], []
    n = y.size
    for eps in epsilons:
        path = self_distill(K, y, epsilon=eps)
        alpha0.append(path.alphas[0])
        T.append(path.collapse_round)
        ts, bound = B.guaranteed_sparsification(path.eigenvalues, np.linalg.norm(y), n, eps, 0, n - 1)
        t_star.append(ts)
        lw = path.log_basis_weights
        assert 1 <= ts <= path.collapse_round
        assert lw[ts - 1, 0] - lw[ts - 1, -1] >= math.log(bound) - RTOL
    assert np.all(np.diff(alpha0) < 0)  # alpha_0 -> 0 as eps -> 0
    assert np.all(np.diff(T) >= 0) and T[-1] > T[0]
    # T grows at least like 1/sqrt(eps) (M6's lower bound r_0 - 1)
    r0 = np.linalg.norm(y) / np.sqrt(n * np.array(epsilons))
    assert np.all(np.array(T) >= r0 - 1)


# ---- M13 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("eps", [0.01, 0.05])
def test_m13_equivalent_kernel_krr_reproduces_rounds_on_reference_data(eps):
    x, K, y = _toy()
    x_new = np.linspace(-0.05, 1.05, 57)[:, None]
    K_new = gram(x_new, x, gamma=80.0)
    path = self_distill(K, y, epsilon=eps)
    for t in range(path.collapse_round):
        for alpha_ref in (None, 1.0, 1e-2):
            eq = B.equivalent_kernel(path, t, alpha_ref)
            krr = KernelRidge(alpha=eq.alpha, kernel="precomputed").fit(eq.gram(), y)
            f_train = path.train_predictions(t)
            f_new = path.predict(K_new, t)
            np.testing.assert_allclose(krr.predict(eq.gram()), f_train, atol=1e-8)
            np.testing.assert_allclose(krr.predict(eq.cross(K_new)), f_new, atol=1e-8)
            np.testing.assert_allclose(eq.predict(K_new, y), f_new, atol=1e-10)
            # the cross kernel is k(x, X) U diag(lambda_dag / lambda^2) U^T k(X, X)
            U, lam = path.spectrum.eigenvectors, path.eigenvalues
            explicit = K_new @ U @ np.diag(eq.eigenvalues / lam**2) @ U.T @ K
            np.testing.assert_allclose(eq.cross(K_new), explicit, rtol=1e-9, atol=1e-12)
    # round 0 with its own ridge: the equivalent kernel is K itself
    eq0 = B.equivalent_kernel(path, 0)
    np.testing.assert_allclose(eq0.gram(), K, atol=1e-12)


def test_m13_on_random_well_conditioned_instances():
    rng = np.random.default_rng(13)
    for _ in range(10):
        n = int(rng.integers(4, 12))
        X = rng.uniform(0, 1, size=(n, 2))
        gamma = float(rng.uniform(20, 60))  # well conditioned for points ~ 1/sqrt(n) apart
        K = gram(X, gamma=gamma)
        if np.linalg.cond(K) > 1e4:
            continue
        y = rng.normal(size=n)
        X_new = rng.uniform(0, 1, size=(9, 2))
        K_new = gram(X_new, X, gamma=gamma)
        path = self_distill(K, y, epsilon=float(rng.uniform(0.01, 0.2)) * np.mean(y**2))
        for t in range(path.collapse_round):
            eq = B.equivalent_kernel(path, t, alpha_ref=0.5)
            krr = KernelRidge(alpha=0.5, kernel="precomputed").fit(eq.gram(), y)
            np.testing.assert_allclose(krr.predict(eq.gram()), path.train_predictions(t),
                                       atol=1e-8)
            np.testing.assert_allclose(krr.predict(eq.cross(K_new)), path.predict(K_new, t),
                                       atol=1e-8)


def test_equivalent_kernel_eigenvalues_stable_near_one():
    # B = 1 - 1e-20 is 1.0 in floating point; from log B = -1e-20 the eigenvalue is still right
    lw = np.array([-1e-20, -1e-3, -50.0, -np.inf, 0.0])
    lam_dag = B.equivalent_kernel_eigenvalues(lw, 2.0)
    np.testing.assert_allclose(lam_dag[:3], [2e20, 2 * math.exp(-1e-3) / (1 - math.exp(-1e-3)),
                                             2 * math.exp(-50.0)], rtol=1e-12)
    assert lam_dag[3] == 0.0 and lam_dag[4] == np.inf


# ---- vacuous bounds and bad inputs ------------------------------------------------------------

def test_singular_spectrum_gives_honest_vacuous_bounds():
    rng = np.random.default_rng(3)
    n = 8
    U, _ = np.linalg.qr(rng.normal(size=(n, n)))
    lam = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.2, 0.1, 0.0])
    spec = Spectrum(eigenvalues=lam, eigenvectors=U, rank_tolerance=clip_tolerance(5.0, n))
    z = rng.normal(size=n)
    z[-1] = 0.01  # a little energy in the null space, well below the budget
    y = U @ z
    eps = 0.02
    y_norm = np.linalg.norm(y)
    assert B.rounds_lower_bound_kappa(lam, y_norm, n, eps) == 0.0
    assert B.collapse_round_bounds(lam, y_norm, n, eps).upper_kappa == math.inf
    assert B.ridge_bounds(lam, y_norm, n, eps)[0] == 0.0
    assert B.sparsification_lower_bound(lam, y_norm, n, eps, 3, 0, 5) == 1.0
    assert B.sparsification_upper_bound(lam, 2, 0, 7) == math.inf
    path = self_distill(None, y, epsilon=eps, spectrum=spec)
    records = B.check_bounds(path)
    assert all(r["holds"] for r in records)
    vacuous = {r["id"] for r in records if r["vacuous"]}
    assert {"M2", "M5", "M6", "M7"} <= vacuous


def test_bad_inputs_raise_value_error():
    x, K, y = _toy()
    lam = np.linalg.eigvalsh(K)[::-1]
    n = y.size
    yn = float(np.linalg.norm(y))
    with pytest.raises(ValueError, match="collapses"):
        B.ridge_bounds(lam, yn, n, 10.0)
    with pytest.raises(ValueError, match="eigenvalues"):
        B.ridge_bounds(-lam, yn, n, 0.01)
    with pytest.raises(ValueError, match="epsilon"):
        B.collapse_round_bounds(lam, yn, n, 0.0)
    with pytest.raises(ValueError, match="n_samples"):
        B.rounds_lower_bound_kappa(lam, yn, 0, 0.01)
    with pytest.raises(ValueError, match="y_norm"):
        B.ridge_bounds(lam, np.nan, n, 0.01)
    with pytest.raises(ValueError, match="lambda_k > lambda_j"):
        B.sparsification_upper_bound(lam, 2, 3, 1)
    with pytest.raises(ValueError, match="t must"):
        B.sparsification_upper_bound(lam, 0, 0, 1)
    with pytest.raises(ValueError, match="out of range"):
        B.sparsification_lower_bound(lam, yn, n, 0.01, 1, 0, n)
    with pytest.raises(ValueError, match="tau"):
        B.n_basis_functions(np.zeros((2, 3)), tau=0.0)
    with pytest.raises(ValueError, match="alpha_ref"):
        B.equivalent_kernel_eigenvalues(np.array([-1.0]), 0.0)
    with pytest.raises(ValueError, match="fixed alpha"):
        B.check_bounds(self_distill(K, y, alpha=0.1, n_rounds=3))
    with pytest.raises(ValueError, match="mix"):
        B.check_bounds(self_distill(K, y, epsilon=0.05, n_rounds=3, mix=0.5))
    with pytest.raises(ValueError, match="mix"):
        B.equivalent_kernel(self_distill(K, y, epsilon=0.05, n_rounds=3, mix=0.5), 1)
    path = self_distill(K, y, epsilon=0.05)
    with pytest.raises(ValueError, match="alpha_ref"):
        B.equivalent_kernel(path, path.collapse_round)
    with pytest.raises(ValueError, match="t="):
        B.equivalent_kernel(path, 99)
