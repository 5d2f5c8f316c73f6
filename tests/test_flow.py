"""Gradient flow / gradient descent: closed forms against ODE integration, literal iterations,
high-precision arithmetic, scikit-learn and the filter-ratio inequality of theory.md §3."""

import decimal
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

from hilbert_sd import GradientFlowKernelRegressor, gradient_flow
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.flow import flow_filters, gradient_descent, max_stable_learning_rate
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import Spectrum

from naive_flow import euler_flow, gd_iterations, ode_dual_flow


def _rbf_problem(rng, n, p=2, gamma=1.0, m=None):
    X = rng.uniform(-1, 1, size=(n, p))
    y = rng.normal(size=n if m is None else (n, m))
    return X, gram(X, gamma=gamma), y


# ---- closed form vs explicit integration ----------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_flow_equals_ode_integration_train_and_new_points(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 15))
    gamma = float(rng.uniform(0.5, 5))
    X, K, y = _rbf_problem(rng, n, gamma=gamma)
    eta = float(rng.uniform(0.3, 3.0))
    times = np.array([0.0, 0.5, 3.0, 20.0, 150.0])
    a = ode_dual_flow(K, y, times, eta)  # (T, n) dual coefficients from the ODE
    u = gradient_flow(K, y, times, learning_rate=eta)
    np.testing.assert_allclose(u, a @ K, rtol=1e-8, atol=1e-9)

    X_new = rng.uniform(-1, 1, size=(7, 2))
    model = GradientFlowKernelRegressor(time=times[3], learning_rate=eta, gamma=gamma)
    model.fit(X, y)
    K_new = gram(X_new, X, gamma=gamma)
    staged = np.stack(list(model.staged_predict(X_new, times)))
    np.testing.assert_allclose(staged, a @ K_new.T, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(model.predict(X_new), K_new @ a[3], rtol=1e-7, atol=1e-8)


def test_flow_equals_tiny_euler_steps_multioutput():
    rng = np.random.default_rng(11)
    X, K, Y = _rbf_problem(rng, 6, m=2)
    t = 4.0
    ref = euler_flow(K, Y, t, learning_rate=2.0, n_steps=40_000)
    u = gradient_flow(K, Y, [t], learning_rate=2.0)
    assert u.shape == (1, 6, 2)
    # explicit Euler is first order: error ~ dt * t * (eta lambda_max / n)^2 / 2 ~ 1e-5 here
    np.testing.assert_allclose(u[0], ref, atol=2e-5)
    scalar = gradient_flow(K, Y, t, learning_rate=2.0)
    np.testing.assert_array_equal(scalar, u[0])


@pytest.mark.parametrize("eta_frac", [0.3, 0.9, 1.6])
def test_gradient_descent_equals_literal_iterations(eta_frac):
    # eta_frac > 1 puts the top directions in the oscillating branch 1 <= eta lambda/n < 2
    rng = np.random.default_rng(int(eta_frac * 10))
    X, K, Y = _rbf_problem(rng, 9, m=3, gamma=0.7)
    eta = eta_frac * max_stable_learning_rate(np.linalg.eigvalsh(K)) / 2  # eta lam_max/n
    steps = 60
    ref = gd_iterations(K, Y, steps, eta)  # (steps + 1, n, m)
    u = gradient_descent(K, Y, np.arange(steps + 1), learning_rate=eta)
    np.testing.assert_allclose(u, ref, rtol=1e-9, atol=1e-11)
    u1 = gradient_flow(K, Y[:, 0], [0, 7, 60], learning_rate=eta, method="gd")
    np.testing.assert_allclose(u1, ref[[0, 7, 60], :, 0], rtol=1e-9, atol=1e-11)


def test_gd_estimator_predicts_like_literal_dual_iterations():
    rng = np.random.default_rng(5)
    X, K, y = _rbf_problem(rng, 8, gamma=1.0)
    eta = 0.5 * max_stable_learning_rate(np.linalg.eigvalsh(K))
    n = len(y)
    a = np.zeros(n)
    for _ in range(25):
        a = a - eta / n * (K @ a - y)
    X_new = rng.uniform(-1, 1, size=(4, 2))
    model = GradientFlowKernelRegressor(time=25, learning_rate=eta, gamma=1.0, method="gd")
    np.testing.assert_allclose(model.fit(X, y).predict(X_new), gram(X_new, X, gamma=1.0) @ a,
                               rtol=1e-9, atol=1e-12)


# ---- stability near zero eigenvalues ---------------------------------------------------------

def _phi_decimal(s):
    # 1 - exp(-s) for s ~ 1e-300 needs ~ 300 more digits than the result keeps
    with decimal.localcontext() as ctx:
        ctx.prec = 400
        d = decimal.Decimal(float(s))
        return float((1 - (-d).exp()) / d) if s else 1.0


@pytest.mark.parametrize("s", [0.0, 1e-300, 1e-12, 3e-4, 9.99e-4, 1e-3, 1.01e-3, 0.3, 7.0, 800.0])
def test_prediction_filter_matches_high_precision(s):
    # G = (eta t / n) * (1 - exp(-s)) / s with s = eta t lambda / n; n = 1, eta = 1, t = 1
    _, G = flow_filters([s], [1.0], n_samples=1)
    assert G[0, 0] == pytest.approx(_phi_decimal(s), rel=2e-16 * 4)


def test_gd_filters_match_high_precision():
    with decimal.localcontext() as ctx:
        ctx.prec = 60
        for x in [0.0, 1e-14, 5e-4, 2e-3, 0.4, 0.999, 1.0, 1.5, 1.99]:
            for t in [0, 1, 3, 1000]:
                E, G = flow_filters([x], [t], n_samples=1, method="gd")
                ref_E = 1 - (1 - decimal.Decimal(x)) ** t if t else decimal.Decimal(0)
                ref_G = ref_E / decimal.Decimal(x) if x else decimal.Decimal(t)
                assert E[0, 0] == pytest.approx(float(ref_E), rel=1e-14, abs=1e-300)
                assert G[0, 0] == pytest.approx(float(ref_G), rel=1e-13, abs=1e-300)


def test_singular_kernel_no_nan_and_inf_time_is_min_norm_interpolant():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(10, 3))  # linear kernel of rank 3
    y = rng.normal(size=10)
    X_new = rng.normal(size=(5, 3))
    K = X @ X.T
    # 1e12: finite but long enough to start fitting the round-off eigenvalues (~1e-15)
    times = np.array([0.0, 1.0, 1e4, 1e12, np.inf])
    u = gradient_flow(K, y, times)
    assert np.all(np.isfinite(u))
    # min-norm interpolant: projection of y onto range(K) = range(X)
    proj = X @ np.linalg.lstsq(X, y, rcond=None)[0]
    np.testing.assert_allclose(u[-1], proj, atol=1e-10)
    model = GradientFlowKernelRegressor(time=np.inf, kernel="linear").fit(X, y)
    a = np.linalg.pinv(K, rcond=1e-10) @ y
    np.testing.assert_allclose(model.predict(X_new), X_new @ X.T @ a, atol=1e-9)
    staged = np.stack(list(model.staged_predict(X_new, times)))
    assert np.all(np.isfinite(staged))
    # the flow converges to the interpolant along the range of K (smallest positive
    # eigenvalue ~ 3 here: t = 1e4 is converged, while round-off directions barely moved)
    assert np.linalg.eigvalsh(K)[-3] > 1.0
    np.testing.assert_allclose(u[2], u[-1], atol=1e-9)


def test_exact_zero_eigenvalue_gives_limit():
    lam = np.array([2.0, 1e-200, 0.0])
    E, G = flow_filters(lam, [0.0, 2.0, 1e6, np.inf], n_samples=3, learning_rate=1.5)
    assert np.all(np.isfinite(E)) and np.all(np.isfinite(G))
    np.testing.assert_allclose(G[:3, 2], 1.5 * np.array([0.0, 2.0, 1e6]) / 3, rtol=1e-15)
    np.testing.assert_allclose(G[:3, 1], G[:3, 2], rtol=1e-12)
    assert E[3, 2] == 0.0 and G[3, 2] == 0.0 and G[3, 1] == 0.0 and G[3, 0] == 0.5


# ---- filter ratio: early stopping never sparsifies (theory.md §3, derived) ----------------

@settings(max_examples=60, deadline=None)
@given(
    log_lam=st.lists(st.floats(-12, 3), min_size=2, max_size=30),
    log_t=st.floats(-8, 8),
    eta=st.floats(0.01, 100.0),
)
def test_flow_filter_ratio_never_exceeds_eigenvalue_ratio(log_lam, log_t, eta):
    lam = np.sort(10.0 ** np.array(log_lam))[::-1]
    n = lam.size
    E, _ = flow_filters(lam, [10.0 ** log_t], n_samples=n, learning_rate=eta)
    E = E[0]
    k, j = np.triu_indices(n, 1)  # k < j: lam[k] >= lam[j]
    strict = lam[k] > lam[j]
    # E[k]/E[j] <= lam[k]/lam[j]  <=>  E[k] lam[j] <= E[j] lam[k]; tiny slack for round-off
    lhs = E[k][strict] * lam[j][strict]
    rhs = E[j][strict] * lam[k][strict]
    assert np.all(lhs <= rhs * (1 + 1e-12))


# ---- validation -------------------------------------------------------------------------

def test_bad_inputs_raise_value_error():
    rng = np.random.default_rng(0)
    X, K, y = _rbf_problem(rng, 5)
    with pytest.raises(ValueError, match="times"):
        gradient_flow(K, y, [-1.0])
    with pytest.raises(ValueError, match="times"):
        gradient_flow(K, y, [np.nan])
    with pytest.raises(ValueError, match="times"):
        gradient_flow(K, y, [[1.0]])
    with pytest.raises(ValueError, match="times"):
        gradient_flow(K, y, [])
    with pytest.raises(ValueError, match="learning_rate"):
        gradient_flow(K, y, [1.0], learning_rate=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        gradient_flow(K, y, [1.0], learning_rate=np.inf)
    with pytest.raises(ValueError, match="method"):
        gradient_flow(K, y, [1.0], method="euler")
    with pytest.raises(ValueError, match="steps"):
        gradient_descent(K, y, [1.5])
    with pytest.raises(ValueError, match="rows"):
        gradient_flow(K, y[:4], [1.0])
    with pytest.raises(ValueError, match="symmetric"):
        gradient_flow(K + np.triu(np.ones_like(K), 1), y, [1.0])
    with pytest.raises(ValueError, match="eigenvalues"):
        flow_filters([1.0, -1.0], [1.0])
    with pytest.raises(ValueError, match="on_unstable"):
        gradient_descent(K, y, [1], on_unstable="ignore")
    with pytest.raises(ValueError, match="spectrum"):
        gradient_flow(None, y, [1.0])
    with pytest.raises(ValueError, match="time"):
        GradientFlowKernelRegressor(time=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="learning_rate"):
        GradientFlowKernelRegressor(learning_rate=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="steps"):
        GradientFlowKernelRegressor(time=2.5, method="gd").fit(X, y)


def test_unstable_step_raises_or_warns():
    rng = np.random.default_rng(1)
    X, K, y = _rbf_problem(rng, 6)
    eta_max = max_stable_learning_rate(np.linalg.eigvalsh(K))
    with pytest.raises(ValueError, match="unstable"):
        gradient_descent(K, y, [5], learning_rate=1.01 * eta_max)
    with pytest.raises(ValueError, match="unstable"):
        GradientFlowKernelRegressor(learning_rate=1.01 * eta_max, time=3, method="gd",
                                    gamma=1.0).fit(X, y)
    with pytest.warns(NumericalWarning, match="unstable"):
        u = gradient_descent(K, y, [40], learning_rate=1.5 * eta_max, on_unstable="warn")
    # the divergent iterates are still the literal ones
    ref = gd_iterations(K, y, 40, 1.5 * eta_max)[-1]
    np.testing.assert_allclose(u[0], ref, rtol=1e-8)
    # the flow has no step size: any learning rate is fine
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradient_flow(K, y, [5.0], learning_rate=10 * eta_max)


# ---- estimator -----------------------------------------------------------------------------

@parametrize_with_checks([
    GradientFlowKernelRegressor(),
    GradientFlowKernelRegressor(kernel="precomputed"),
    GradientFlowKernelRegressor(time=np.inf),
    # RBF: lambda_max <= trace = n, so eta = 1.5 is stable on any data
    GradientFlowKernelRegressor(time=3, method="gd", learning_rate=1.5),
])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        # sklearn's checks pass precomputed matrices that are not PSD
        warnings.simplefilter("ignore", NumericalWarning)
        check(estimator)


def test_precomputed_equals_named_kernel_and_input_untouched():
    rng = np.random.default_rng(2)
    X, K, y = _rbf_problem(rng, 12, gamma=2.0)
    X_new = rng.uniform(-1, 1, size=(5, 2))
    X_copy, K_copy = X.copy(), K.copy()
    named = GradientFlowKernelRegressor(time=30.0, gamma=2.0).fit(X, y)
    pre = GradientFlowKernelRegressor(time=30.0, kernel="precomputed").fit(K, y)
    np.testing.assert_allclose(pre.predict(gram(X_new, X, gamma=2.0)), named.predict(X_new),
                               rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(K, K_copy)


def test_staged_predict_equals_refits_and_time_zero_is_zero():
    rng = np.random.default_rng(4)
    X, K, Y = _rbf_problem(rng, 10, m=2)
    X_new = rng.uniform(-1, 1, size=(25, 2))  # more queries than times*outputs: other branch
    times = [0.0, 2.0, 50.0, np.inf]
    model = GradientFlowKernelRegressor(time=1.0).fit(X, Y)
    for Xq in (X_new, X_new[:3]):
        staged = list(model.staged_predict(Xq, times))
        for t, pred in zip(times, staged):
            ref = GradientFlowKernelRegressor(time=t).fit(X, Y).predict(Xq)
            np.testing.assert_allclose(pred, ref, rtol=1e-10, atol=1e-12)
    assert np.all(staged[0] == 0.0)


def test_inf_time_matches_kernel_ridge_with_vanishing_ridge():
    rng = np.random.default_rng(6)
    X, K, y = _rbf_problem(rng, 8, gamma=3.0)  # well conditioned
    X_new = rng.uniform(-1, 1, size=(6, 2))
    model = GradientFlowKernelRegressor(time=np.inf, gamma=3.0).fit(X, y)
    krr = KernelRidge(alpha=1e-12, kernel="rbf", gamma=3.0).fit(X, y)
    np.testing.assert_allclose(model.predict(X_new), krr.predict(X_new), rtol=1e-6, atol=1e-8)


def test_precomputed_spectrum_is_reused():
    rng = np.random.default_rng(8)
    X, K, y = _rbf_problem(rng, 7)
    lam, U = np.linalg.eigh(K)
    spec = Spectrum(eigenvalues=lam[::-1].copy(), eigenvectors=U[:, ::-1].copy())
    np.testing.assert_allclose(gradient_flow(spec, y, [1.0, 9.0]),
                               gradient_flow(K, y, [1.0, 9.0]), atol=1e-13)
