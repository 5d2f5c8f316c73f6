"""Tests of hilbert_sd.linear (theory.md §4) against independent references (naive_linear.py)."""

import json
import math
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import kstest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hilbert_sd import linear
from hilbert_sd.linear import (
    FlowConvergenceWarning,
    angle_to_teacher,
    distill,
    expected_isotropic_risk,
    hard_label_student,
    isotropic_angle_cdf,
    max_margin_direction,
    polar_angle_cdf,
    polar_sample,
    polar_transfer_risk,
    risk_bound,
    transfer_risk,
)
from hilbert_sd.linear.student import _balanced_factors as balanced_factors
from hilbert_sd.linear.student import _deep_gradient, _deep_hessian
from hilbert_sd.linear_student import SoftLabelLogisticRegression

from naive_linear import (
    balanced_network,
    full_width_deep_flow,
    naive_angle,
    naive_gradient,
    naive_loss,
    pinv_projector,
    polar_inputs_loop,
    rk4_linear_flow,
    slsqp_max_margin,
)


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Every matrix here is tiny: BLAS threads only add synchronization (and, on a shared
    # machine, oversubscription) to these tests.
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def problem(n, d, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_star = rng.standard_normal(d)
    # |w*ᵀx| = O(1): unsaturated soft labels
    return X, scale * w_star / np.linalg.norm(w_star), rng


# ------------------------------------------------------------------- limits of the flow


@pytest.mark.parametrize("n, d", [(12, 4), (6, 6), (40, 7)])
@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_closed_form_recovers_teacher_when_inputs_span(n, d, temperature):
    X, w_star, rng = problem(n, d, seed=n + d)
    w0 = rng.standard_normal(d)  # any initial vector: the span is everything
    w = distill(X, w_star, temperature=temperature, w_init=w0)
    np.testing.assert_allclose(w, w_star / temperature, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("n, d", [(15, 5), (5, 5)])
def test_gradient_flow_agrees_with_closed_form_n_ge_d(n, d, depth):
    X, w_star, rng = problem(n, d, seed=7 * n + d + depth)
    w0 = 0.3 * rng.standard_normal(d)
    w_flow, report = distill(X, w_star, depth=depth, w_init=w0, method="gradient_flow",
                             tol=1e-12, return_report=True)
    assert report.converged and report.grad_norm <= 1e-12
    np.testing.assert_allclose(w_flow, w_star, atol=1e-6)
    np.testing.assert_allclose(w_flow, distill(X, w_star, depth=depth, w_init=w0), atol=1e-6)


def test_n_lt_d_projection_plus_untouched_initial_component():
    n, d = 4, 9
    X, w_star, rng = problem(n, d, seed=3)
    w0 = rng.standard_normal(d)
    P = pinv_projector(X)  # SVD-based, independent of the QR used by the library
    expected = P @ w_star + (np.eye(d) - P) @ w0
    w_cf = distill(X, w_star, w_init=w0)
    np.testing.assert_allclose(w_cf, expected, atol=1e-12)
    w_flow = distill(X, w_star, w_init=w0, method="gradient_flow", tol=1e-12)
    np.testing.assert_allclose(w_flow, expected, atol=1e-6)
    # the flow never touches the part of w0 outside the span
    np.testing.assert_allclose((np.eye(d) - P) @ w_flow, (np.eye(d) - P) @ w0, atol=1e-10)
    # from zero: the projection itself
    np.testing.assert_allclose(distill(X, w_star), P @ w_star, atol=1e-12)


def test_rank_deficient_inputs_project_onto_their_span():
    rng = np.random.default_rng(8)
    base = rng.standard_normal((3, 6))
    # duplicated rows, a combination of rows and a zero row: rank 3 with n = 7 > rank
    X = np.vstack([base, base[0], base[1] - 2 * base[2], np.zeros(6), 1e3 * base[2]])
    w_star = rng.standard_normal(6)
    w0 = rng.standard_normal(6)
    P = pinv_projector(base)
    np.testing.assert_allclose(distill(X, w_star, w_init=w0), P @ w_star + w0 - P @ w0,
                               atol=1e-10)


@pytest.mark.parametrize("n, d", [(3, 8), (8, 8), (20, 5)])
@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_student_reproduces_teacher_logits_on_training_inputs(n, d, temperature):
    """Xw = Xw*/τ: the student matches the soft labels exactly (the loss's minimizers)."""
    X, w_star, rng = problem(n, d, seed=11 * n + d)
    w = distill(X, w_star, temperature=temperature, w_init=rng.standard_normal(d))
    np.testing.assert_allclose(X @ w, X @ w_star / temperature, atol=1e-10)
    s = expit(X @ w_star / temperature)
    assert np.linalg.norm(naive_gradient(w, X, s)) < 1e-12


def test_gradient_flow_integrates_the_flow_at_finite_time():
    """At a finite time the solver's state is the flow's state (RK4 with a small step)."""
    X, w_star, rng = problem(6, 4, seed=5, scale=2.0)
    w0 = rng.standard_normal(4)
    with pytest.warns(FlowConvergenceWarning):
        w_T, report = distill(X, w_star, w_init=w0, method="gradient_flow", t_max=3.0,
                              tol=0.0, return_report=True)
    assert report.time == pytest.approx(3.0)
    s = expit(X @ w_star)
    np.testing.assert_allclose(w_T, rk4_linear_flow(X, s, w0, 3.0, 3000), atol=1e-8)
    # and it is not the limit yet
    assert np.linalg.norm(w_T - distill(X, w_star, w_init=w0)) > 1e-3


# ------------------------------------------------------------------------ deep students


@pytest.mark.parametrize("depth", [2, 3])
def test_deep_student_rescales_the_outside_component(depth):
    n, d = 3, 6
    X, w_star, rng = problem(n, d, seed=20 + depth)
    w0 = 0.5 * rng.standard_normal(d)
    P = pinv_projector(X)
    b0 = (np.eye(d) - P) @ w0
    w_cf = distill(X, w_star, depth=depth, w_init=w0)
    # same span component as the linear student
    np.testing.assert_allclose(P @ w_cf, P @ w_star, atol=1e-10)
    # outside part: parallel to b0, rescaled and not removed
    b = (np.eye(d) - P) @ w_cf
    rho = float(b @ b0) / float(b0 @ b0)
    np.testing.assert_allclose(b, rho * b0, atol=1e-12)
    assert rho > 0 and abs(rho - 1.0) > 1e-3
    # the stiff flow on the width-1 chain ends there
    w_flow = distill(X, w_star, depth=depth, w_init=w0, method="gradient_flow", tol=1e-12)
    np.testing.assert_allclose(w_flow, w_cf, atol=1e-6)
    # a full-width balanced network (width 3), every entry trained, explicit solver
    s = expit(X @ w_star)
    layers = balanced_network(w0, depth, width=3, rng=rng)
    np.testing.assert_allclose(full_width_deep_flow(X, s, layers, t_end=400.0), w_cf, atol=1e-5)


@pytest.mark.parametrize("depth", [1, 2, 3, 4])
def test_kept_start_outside_the_span_is_bounded(depth):
    """[derived] (docs: topics/linear_teacher, the experiment): the part of the start a student
    of depth N keeps outside the span has norm at most
    (‖w_0‖^{2/N} + ‖P_X w*/τ‖^{2/N})^{(N-1)/2} ‖w_0‖^{1/N}; it vanishes with the start."""
    rng = np.random.default_rng(40 + depth)
    d, n, tau = 7, 3, 1.5
    kept = {}
    for scale in (1e-6, 1e-3, 0.1, 1.0, 3.0):
        X, w_star, _ = problem(n, d, seed=int(rng.integers(1000)))
        w0 = scale * rng.standard_normal(d)
        P = pinv_projector(X)
        w = distill(X, w_star, depth=depth, temperature=tau, w_init=w0)
        kept[scale] = np.linalg.norm((np.eye(d) - P) @ w)
        a, r = np.linalg.norm(P @ w_star / tau), np.linalg.norm(w0)
        assert kept[scale] <= (r ** (2 / depth) + a ** (2 / depth)) ** ((depth - 1) / 2) \
            * r ** (1 / depth) * (1 + 1e-9)
    assert kept[1e-6] < 1e-6 ** (1 / depth) * 10


def test_deep_jacobian_matches_finite_differences():
    X, w_star, rng = problem(5, 4, seed=2)
    s = expit(X @ w_star)
    theta = balanced_factors(rng.standard_normal(4), 3) * rng.uniform(0.8, 1.2, 6)
    H = _deep_hessian(theta, X, s, 4)
    h = 1e-6
    fd = np.empty_like(H)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = h
        plus = _deep_gradient(theta + e, X, s, 4)[0]
        minus = _deep_gradient(theta - e, X, s, 4)[0]
        fd[:, k] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(H, fd, atol=1e-8)
    np.testing.assert_allclose(H, H.T, atol=1e-14)


@pytest.mark.parametrize("w_init", [None, np.zeros(4)])
def test_deep_zero_initialization_is_refused(w_init):
    X, w_star, _ = problem(6, 4, seed=0)
    with pytest.raises(ValueError, match="saddle"):
        distill(X, w_star, depth=2, w_init=w_init)
    with pytest.raises(ValueError, match="saddle"):
        distill(X, w_star, depth=3, w_init=w_init, method="gradient_flow")


# ------------------------------------------------------------------- convergence reports


def test_unreachable_tolerance_warns_with_achieved_gradient_norm():
    X, w_star, _ = problem(10, 5, seed=1)
    with pytest.warns(FlowConvergenceWarning, match=r"achieved gradient norm") as rec:
        w, report = distill(X, w_star, method="gradient_flow", t_max=0.5, tol=1e-10,
                            return_report=True)
    assert not report.converged
    assert f"{report.grad_norm:.3g}" in str(rec[0].message)
    # the reported norm is the gradient at the returned weights
    s = expit(X @ w_star)
    assert report.grad_norm == pytest.approx(np.linalg.norm(naive_gradient(w, X, s)), rel=1e-8)
    with pytest.warns(FlowConvergenceWarning, match="max_steps"):
        distill(X, w_star, method="gradient_flow", max_steps=2)


def test_converged_flow_reports_no_warning():
    X, w_star, _ = problem(10, 5, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w, report = distill(X, w_star, method="gradient_flow", return_report=True)
    assert report.converged and report.n_steps > 0 and report.grad_norm <= 1e-10


def test_cross_entropy_is_safe_at_saturated_logits():
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    w_star = np.array([0.5, -0.5])
    w = np.array([800.0, -800.0])  # e^800 overflows float64
    s = expit(X @ w_star)
    value = linear.loss(w, X, w_star)
    # log(1 + e^z) - s z = z (1 - s) + log1p(e^-z) for z > 0
    expected = np.mean([800 * (1 - s[0]) + math.log1p(math.exp(-800)),
                        800 * s[1] + math.log1p(math.exp(-800))])
    assert np.isfinite(value) and value == pytest.approx(expected, rel=1e-14)
    w_small = np.array([0.3, 0.1])
    assert linear.loss(w_small, X, w_star) == pytest.approx(naive_loss(w_small, X, s), rel=1e-14)


def test_teacher_probabilities_and_the_deprecated_soft_labels_alias():
    X, w_star, _ = problem(6, 3, seed=4)
    s = linear.teacher_probabilities(X, w_star, temperature=0.5)
    np.testing.assert_allclose(s, expit(X @ w_star / 0.5), rtol=1e-15)
    with pytest.warns(DeprecationWarning,
                      match="hilbert_sd.linear.soft_labels is renamed teacher_probabilities"):
        old = linear.soft_labels(X, w_star, 0.5)
    np.testing.assert_array_equal(old, s)


def test_public_names_of_the_package():
    # the split into hilbert_sd.linear.{teacher, student, geometry, risk, hard_labels} keeps
    # every public name importable from hilbert_sd.linear
    assert set(linear.__all__) == {
        "FlowConvergenceWarning", "FlowReport", "angle_to_teacher", "distill",
        "expected_isotropic_risk", "hard_label_student", "isotropic_angle_cdf", "loss",
        "max_margin_direction", "polar_angle_cdf", "polar_sample", "polar_transfer_risk",
        "risk_bound", "soft_labels", "teacher_probabilities", "transfer_risk",
    }
    for name in linear.__all__:
        assert getattr(linear, name).__module__.startswith("hilbert_sd.linear.")


# ------------------------------------------------------------------------- transfer risk


@pytest.mark.parametrize("d", [3, 10])
def test_isotropic_risk_is_angle_over_pi_monte_carlo(d):
    rng = np.random.default_rng(d)
    w_star = rng.standard_normal(d)
    X_test = rng.standard_normal((200_000, d))
    for _ in range(3):
        w = rng.standard_normal(d)
        exact = transfer_risk(w, w_star)
        assert exact == pytest.approx(naive_angle(w, w_star) / np.pi, abs=1e-12)
        mc, se = transfer_risk(w, w_star, X_test, return_se=True)
        assert abs(mc - exact) <= 4 * se


@pytest.mark.parametrize("d", [2, 10, 50])
def test_expected_isotropic_risk_at_half_d_is_one_quarter(d):
    assert expected_isotropic_risk(d // 2, d) == pytest.approx(0.25, abs=1e-12)


@pytest.mark.parametrize("d", [3, 11, 50])
def test_expected_isotropic_risk_mirror_identity(d):
    # 1 - B_n has the law of B_{d-n}, and arccos√B + arccos√(1 - B) = π/2 [derived]
    for n in range(1, d):
        total = expected_isotropic_risk(n, d) + expected_isotropic_risk(d - n, d)
        assert total == pytest.approx(0.5, abs=1e-12)


def test_expected_isotropic_risk_against_monte_carlo():
    d, draws = 12, 1500
    rng = np.random.default_rng(0)
    w_star = rng.standard_normal(d)
    for n in (1, 6, 9):
        risks = np.array([angle_to_teacher(distill(rng.standard_normal((n, d)), w_star), w_star)
                          for _ in range(draws)]) / np.pi
        se = risks.std(ddof=1) / np.sqrt(draws)
        assert abs(risks.mean() - expected_isotropic_risk(n, d)) <= 4 * se
    assert expected_isotropic_risk(d, d) == 0.0
    assert expected_isotropic_risk(d + 5, d) == 0.0
    # the Beta law at n = 1: E arccos|cos| with cos² ~ Beta(1/2, (d-1)/2); n = d - 1 the mirror
    assert expected_isotropic_risk(1, d) > expected_isotropic_risk(d - 1, d)


def test_expected_isotropic_risk_closed_forms_small_d():
    # d = 2, n = 1: the angle is uniform on [0, π/2] -> E R = 1/4 (also the n = d/2 case)
    assert expected_isotropic_risk(1, 2) == pytest.approx(0.25, abs=1e-13)
    # d = 3, n = 1: cos θ uniform on [0, 1] -> E θ = ∫_0^1 arccos(c) dc = 1
    assert expected_isotropic_risk(1, 3) == pytest.approx(1.0 / np.pi, abs=1e-13)
    # d = 3, n = 2: sin θ uniform -> E θ = ∫_0^1 arcsin(c) dc = π/2 - 1
    assert expected_isotropic_risk(2, 3) == pytest.approx((np.pi / 2 - 1) / np.pi, abs=1e-13)


@pytest.mark.parametrize("kappa, margin, d", [(1.0, 0.0, 3), (2.0, 0.0, 8), (0.5, 0.0, 5),
                                              (1.0, 0.3, 6), (3.0, 0.2, 2)])
def test_polar_exact_risk_matches_monte_carlo(kappa, margin, d):
    rng = np.random.default_rng(int(10 * kappa) + d)
    w_star = rng.standard_normal(d)
    X_test = polar_sample(200_000, w_star, kappa=kappa, margin=margin, random_state=rng)
    for scale in (0.2, 1.0, 5.0):
        w = w_star / np.linalg.norm(w_star) + scale * rng.standard_normal(d)
        exact = polar_transfer_risk(w, w_star, kappa=kappa, margin=margin)
        mc, se = transfer_risk(w, w_star, X_test, return_se=True)
        assert abs(mc - exact) <= 4 * max(se, 1e-6)


@pytest.mark.parametrize("d", [2, 3, 7, 40])
def test_axial_risk_formula_reduces_to_angle_over_pi_for_isotropic_law(d):
    rng = np.random.default_rng(d)
    w_star = rng.standard_normal(d)
    W = rng.standard_normal((20, d))
    W[0] = w_star * 3.0
    W[1] = -w_star
    got = polar_transfer_risk(W, w_star, law="isotropic")
    expected = np.array([naive_angle(w, w_star) for w in W]) / np.pi
    np.testing.assert_allclose(got, expected, atol=1e-11)


def test_polar_sample_follows_its_law():
    rng = np.random.default_rng(4)
    w_star = rng.standard_normal(6)
    for kappa, margin in ((2.0, 0.0), (1.0, 0.4), (0.7, 0.1)):
        X = polar_sample(4000, w_star, kappa=kappa, margin=margin, radius=2.5,
                         random_state=rng)
        np.testing.assert_allclose(np.linalg.norm(X, axis=1), 2.5, rtol=1e-12)
        abar = np.abs(np.array([naive_angle(x, w_star) for x in X]) - np.pi / 2)
        assert abar.min() >= margin - 1e-12
        assert kstest(abar, lambda t: polar_angle_cdf(t, kappa, margin)).pvalue > 1e-3
        # both sides of the boundary, equally often
        assert abs(np.mean(X @ w_star > 0) - 0.5) < 4 * 0.5 / np.sqrt(4000)
        # the loop implementation of the same description has the same law of ᾱ
        Y = polar_inputs_loop(4000, w_star, kappa, margin, rng)
        abar_y = np.abs(np.array([naive_angle(x, w_star) for x in Y]) - np.pi / 2)
        assert kstest(abar, abar_y).pvalue > 1e-3


# ------------------------------------------------------------------------------ the bound


@pytest.mark.parametrize("kappa, margin", [(1.0, 0.0), (2.0, 0.0), (0.5, 0.0), (1.0, 0.25)])
def test_bound_holds_for_polar_families(kappa, margin):
    d, draws = 8, 400
    rng = np.random.default_rng(int(100 * kappa + 10 * margin))
    w_star = rng.standard_normal(d)
    p = lambda t: polar_angle_cdf(t, kappa, margin)  # noqa: E731
    for n in (1, 3, 6):
        students = np.array([distill(polar_sample(n, w_star, kappa=kappa, margin=margin,
                                                  random_state=rng), w_star)
                             for _ in range(draws)])
        risks = polar_transfer_risk(students, w_star, kappa=kappa, margin=margin)
        se = risks.std(ddof=1) / np.sqrt(draws)
        assert risks.mean() <= risk_bound(p, n) + 4 * se + 1e-12


@pytest.mark.parametrize("kappa", [0.5, 1.0, 2.0, 4.0])
def test_bound_for_polynomial_family_below_2_ln_n_over_n_power_kappa(kappa):
    p = lambda t: polar_angle_cdf(t, kappa, 0.0)  # noqa: E731
    ns = np.array([3, 5, 10, 50, 1000, 10**5])
    np.testing.assert_array_less(risk_bound(p, ns), 2 * (np.log(ns) / ns) ** kappa)


def test_bound_with_margin_decays_exponentially():
    m = 0.3
    p = lambda t: polar_angle_cdf(t, 1.0, m)  # noqa: E731
    ns = np.arange(1, 60)
    # β = m is admissible: p(m) = 0 and p(π/2 - m) = (π/2 - 2m)/(π/2 - m)
    q = (np.pi / 2 - 2 * m) / (np.pi / 2 - m)
    np.testing.assert_array_less(risk_bound(p, ns), q**ns + 1e-15)
    # a minimum over β: never above any single β on a grid
    for n in (1, 5, 30):
        grid = np.linspace(0, np.pi / 2, 301)
        assert risk_bound(p, n) <= np.min(p(grid) + p(np.pi / 2 - grid) ** n) + 1e-15


def test_bound_accepts_scalar_callables_and_checks_range():
    def scalar_p(t):
        return min(1.0, max(0.0, 2 * float(t) / np.pi))

    vec = risk_bound(lambda t: polar_angle_cdf(t, 1.0, 0.0), 7)
    assert risk_bound(scalar_p, 7) == pytest.approx(vec, abs=1e-9)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        risk_bound(lambda t: 2.0 * np.ones_like(t), 3)
    with pytest.raises(ValueError, match="callable"):
        risk_bound(0.5, 3)


# --------------------------------------------------------------- geometry of nested sets


@pytest.mark.parametrize("sampler", ["gauss", "polar"])
def test_angle_never_grows_along_nested_training_sets(sampler):
    d = 15
    rng = np.random.default_rng(9)
    w_star = rng.standard_normal(d)
    for _ in range(5):
        X = (rng.standard_normal((d + 3, d)) if sampler == "gauss"
             else polar_sample(d + 3, w_star, kappa=0.5, random_state=rng))
        angles = [angle_to_teacher(distill(X[:k], w_star), w_star) for k in range(1, d + 4)]
        assert np.all(np.diff(angles) <= 1e-12)
        assert angles[d - 1] < 1e-10  # n = d recovers the teacher


# ------------------------------------------------------------------- hard-label baseline


def test_max_margin_direction_matches_slsqp_and_kkt():
    rng = np.random.default_rng(3)
    for n, d in ((30, 5), (4, 9), (60, 3)):
        X = rng.standard_normal((n, d))
        w_star = rng.standard_normal(d)
        y = np.sign(X @ w_star)
        w_ref = slsqp_max_margin(X, y)
        got = max_margin_direction(X, y)
        np.testing.assert_allclose(got, w_ref / np.linalg.norm(w_ref), atol=1e-7)
        np.testing.assert_allclose(hard_label_student(X, w_star), got, atol=1e-14)
        # KKT: w = Σ a_i y_i x_i over the active constraints, a >= 0
        w = got / np.min(y * (X @ got))
        active = np.abs(y * (X @ w) - 1) < 1e-8
        a, *_ = np.linalg.lstsq((X[active] * y[active, None]).T, w, rcond=None)
        assert np.all(a >= -1e-8)
        np.testing.assert_allclose((X[active] * y[active, None]).T @ a, w, atol=1e-8)


def test_max_margin_rejects_non_separable_data():
    X = np.array([[1.0, 0.0], [-1.0, 0.0]])
    with pytest.raises(ValueError, match="separable"):
        max_margin_direction(X, np.array([1.0, 1.0]))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        max_margin_direction(X, np.array([1.0, 0.0]))


@pytest.mark.parametrize("geometry", ["isotropic", "polar"])
def test_distilled_student_beats_hard_label_student_at_n_equal_d(geometry):
    d, draws = 10, 60
    rng = np.random.default_rng(21)
    w_star = rng.standard_normal(d)
    soft, hard, angles = [], [], []
    for _ in range(draws):
        X = (rng.standard_normal((d, d)) if geometry == "isotropic"
             else polar_sample(d, w_star, kappa=0.5, random_state=rng))
        w_soft, w_hard = distill(X, w_star), hard_label_student(X, w_star)
        angles.append(angle_to_teacher(w_soft, w_star))
        if geometry == "isotropic":
            soft.append(transfer_risk(w_soft, w_star))
            hard.append(transfer_risk(w_hard, w_star))
        else:
            soft.append(polar_transfer_risk(w_soft, w_star, kappa=0.5))
            hard.append(polar_transfer_risk(w_hard, w_star, kappa=0.5))
    soft, hard = np.array(soft), np.array(hard)
    # rank X = d: the teacher is recovered (up to a round-off angle, whose risk under κ = 0.5
    # is of order angle^κ, hence not below 1e-10)
    assert np.max(angles) < 1e-12
    diff = hard - soft
    assert diff.mean() > 4 * diff.std(ddof=1) / np.sqrt(draws)


# ------------------------------------------------------------------------------ bad input


def test_bad_input_is_rejected_with_clear_errors():
    X, w_star, _ = problem(5, 3, seed=0)
    with pytest.raises(ValueError, match="n_features must be >= 1"):
        distill(np.zeros((5, 0)), np.zeros(0))
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        distill(np.zeros((0, 3)), w_star)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        transfer_risk(w_star, w_star, np.zeros((0, 3)))
    with pytest.raises(ValueError, match="w_teacher has 4 entries"):
        distill(X, np.ones(4))
    with pytest.raises(ValueError, match="w_init has 2 entries"):
        distill(X, w_star, w_init=np.ones(2))
    bad = X.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        distill(bad, w_star)
    with pytest.raises(ValueError, match="NaN or infinite"):
        distill(X, np.array([1.0, np.inf, 0.0]))
    with pytest.raises(ValueError, match="temperature"):
        distill(X, w_star, temperature=0.0)
    with pytest.raises(ValueError, match="method"):
        distill(X, w_star, method="newton")
    with pytest.raises(ValueError, match="t_max"):
        distill(X, w_star, t_max=10.0)
    with pytest.raises(ValueError, match="depth"):
        distill(X, w_star, depth=0)
    with pytest.raises(ValueError, match="n=0"):
        expected_isotropic_risk(0, 5)
    with pytest.raises(ValueError, match="d=0"):
        expected_isotropic_risk(3, 0)
    with pytest.raises(ValueError, match="n=0"):
        polar_sample(0, w_star)
    with pytest.raises(ValueError, match="n=0"):
        risk_bound(lambda t: polar_angle_cdf(t, 1.0, 0.0), 0)
    with pytest.raises(ValueError, match="kappa"):
        polar_sample(3, w_star, kappa=-1.0)
    with pytest.raises(ValueError, match="margin"):
        polar_sample(3, w_star, margin=2.0)
    with pytest.raises(ValueError, match="X has 2 features"):
        transfer_risk(w_star, w_star, np.ones((4, 2)))
    with pytest.raises(ValueError, match="zero vector"):
        transfer_risk(np.zeros(3), w_star)
    with pytest.raises(ValueError, match="zero vector"):
        transfer_risk(w_star, np.zeros(3))


def test_complex_inputs_are_rejected_not_cast():
    # numpy would drop the imaginary part with only a ComplexWarning
    with pytest.raises(ValueError, match="complex"):
        distill(np.array([[1 + 1j, 0.0], [0.0, 1.0]]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="complex"):
        distill(np.eye(2), np.array([1.0 + 0.5j, 0.0]))
    with pytest.raises(ValueError, match="complex"):
        linear.teacher_probabilities(np.eye(2), np.array([1.0, 0.0], dtype=complex))


def test_isotropic_angle_cdf_matches_sampled_inputs():
    d = 7
    rng = np.random.default_rng(0)
    w_star = rng.standard_normal(d)
    X = rng.standard_normal((5000, d))
    abar = np.abs(np.array([naive_angle(x, w_star) for x in X]) - np.pi / 2)
    assert kstest(abar, lambda t: isotropic_angle_cdf(t, d)).pvalue > 1e-3


# ------------------------------------------------------------------------ the estimator


@parametrize_with_checks([SoftLabelLogisticRegression(),
                          SoftLabelLogisticRegression(fit_intercept=True, alpha=0.1)])
def test_soft_label_student_passes_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("n, d", [(4, 9), (30, 5)])
def test_soft_label_student_equals_distilled_student(n, d):
    X, w_star, _ = problem(n, d, seed=n * d, scale=1.5)
    for temperature in (1.0, 2.0):
        s = expit(X @ w_star / temperature)
        est = SoftLabelLogisticRegression().fit(X, s)
        np.testing.assert_allclose(est.coef_.ravel(), distill(X, w_star, temperature=temperature),
                                   atol=1e-9)
        np.testing.assert_allclose(est.predict_proba(X)[:, 1], s, atol=1e-10)
        assert est.intercept_[0] == 0.0


def test_soft_label_student_targets():
    X, w_star, rng = problem(40, 3, seed=1)
    s = expit(X @ w_star)
    # probabilities outside [0, 1]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SoftLabelLogisticRegression().fit(X, s + 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        SoftLabelLogisticRegression().fit(X, s - 0.7)
    # string class labels are hard labels; predictions come back as the labels
    labels = np.where(X @ w_star + 0.5 * rng.standard_normal(40) > 0, "pos", "neg")
    est = SoftLabelLogisticRegression(alpha=1e-3).fit(X, labels)
    assert set(est.predict(X)) <= {"neg", "pos"} and list(est.classes_) == ["neg", "pos"]
    hard01 = (labels == "pos").astype(float)
    est01 = SoftLabelLogisticRegression(alpha=1e-3).fit(X, hard01)
    np.testing.assert_allclose(est.coef_, est01.coef_, atol=1e-10)
    # the penalized objective's gradient vanishes at the fit (naive gradient + ridge)
    g = naive_gradient(est01.coef_.ravel(), X, hard01) + 1e-3 * est01.coef_.ravel()
    assert np.linalg.norm(g) < 1e-9
    # soft-target score thresholds at 1/2
    assert SoftLabelLogisticRegression().fit(X, s).score(X, s) == 1.0


# --------------------------------------------------------------------- experiment and CLI


def test_experiment_small_run(tmp_path):
    from hilbert_sd.experiments.linear_teacher import linear_teacher_experiment

    res = linear_teacher_experiment(d=6, n_values=[2, 3, 6, 12], n_draws=40, flow_draws=1)
    assert len(res.rows) == 12
    for r in res.rows:
        if r["n"] >= 6:
            assert r["angle_mean"] < 1e-10 and r["risk_mean"] < 1e-10
            assert r["risk_mean"] <= r["hard_risk_mean"]
        if r["geometry"] == "isotropic":
            assert r["risk_expected_exact"] == pytest.approx(expected_isotropic_risk(r["n"], 6))
            if r["n"] < 6:
                assert abs(r["risk_mean"] - r["risk_expected_exact"]) <= 4 * r["risk_se"]
        else:
            assert r["risk_mean"] <= r["bound"] + 4 * r["risk_se"] + 1e-12
        assert r["flow_max_abs_error"] < 1e-6
    # Monte Carlo risks of the same students (same seed, same training draws) agree with the
    # exact ones within the test-sampling error: sd <= sqrt(1/4 / (n_test · draws))
    mc = linear_teacher_experiment(d=6, n_values=[3], n_draws=40, risk="monte_carlo",
                                   n_test=4000)
    exact_rows = [r for r in res.rows if r["n"] == 3]
    for a, b in zip(exact_rows, mc.rows):
        assert a["geometry"] == b["geometry"] and a["angle_mean"] == b["angle_mean"]
        assert abs(a["risk_mean"] - b["risk_mean"]) <= 4 * math.sqrt(0.25 / (4000 * 40))
    res.to_csv(tmp_path / "t.csv")
    res.to_json(tmp_path / "t.json")
    payload = json.loads((tmp_path / "t.json").read_text())
    assert len(payload["rows"]) == 12 and payload["config"]["d"] == 6
    assert (tmp_path / "t.csv").read_text().splitlines()[0].startswith("geometry,d,n")
    fig = res.plot()
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    assert any(line.get_xdata()[0] == 6 for ax in fig.axes for line in ax.get_lines()
               if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1])


def test_experiment_rejects_bad_parameters():
    from hilbert_sd.experiments.linear_teacher import linear_teacher_experiment

    with pytest.raises(ValueError, match="d=0"):
        linear_teacher_experiment(d=0)
    with pytest.raises(ValueError, match="n=0"):
        linear_teacher_experiment(d=5, n_values=[0, 3])
    with pytest.raises(ValueError, match="geometry"):
        linear_teacher_experiment(d=5, n_values=[3], geometries=["cubic"])
    with pytest.raises(ValueError, match="init_scale: must be > 0 for depth >= 2"):
        linear_teacher_experiment(d=5, n_values=[3], depth=2)


def test_cli_linear_teacher(tmp_path, capsys):
    from hilbert_sd.cli import main

    out = tmp_path / "out"
    status = main(["linear-teacher", "--d", "5", "--n", "2,5", "--draws", "4",
                   "--geometries", "isotropic,polar-margin", "--out", str(out)])
    captured = capsys.readouterr()
    assert status == 0
    assert "isotropic" in captured.out and "polar-margin" in captured.out
    assert "sweep: 4/4" in captured.err  # the runner's progress lines
    for name in ("linear_teacher.csv", "linear_teacher.json", "linear_teacher.png"):
        assert (out / name).stat().st_size > 0
    assert main(["linear-teacher", "--d", "0"]) == 2
    assert main(["linear-teacher", "--n", "3,x"]) == 2
    assert main(["linear-teacher", "--geometries", "cubic"]) == 2
    assert "error:" in capsys.readouterr().err
    # a deep student needs a start: refused before any work, naming the option
    assert main(["linear-teacher", "--depth", "2", "--out", str(tmp_path / "deep")]) == 2
    assert "--init-scale" in capsys.readouterr().err
    assert not (tmp_path / "deep").exists()
