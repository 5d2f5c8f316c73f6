"""Tests of hilbert_sd.kernels.gram against independent references.

- the standard kernels against scikit-learn's ``pairwise_kernels``;
- "arccos" and "ntk" against pair-by-pair formulas (tests/naive_kernels.py) and against
  Monte-Carlo estimates from explicit wide random ReLU networks;
- both computation paths (numpy for small matrices, numba for large ones) on every check.
"""

import mpmath
import numpy as np
import pytest
from sklearn.metrics.pairwise import pairwise_kernels

import hilbert_sd
from hilbert_sd import kernels
from hilbert_sd.kernels import gram

from naive_kernels import (
    empirical_ntk,
    finite_difference_ntk,
    mc_arccos,
    naive_arccos,
    naive_ntk,
)

STANDARD = ("linear", "polynomial", "rbf", "laplacian")


@pytest.fixture(params=["numpy", "numba"])
def backend(request, monkeypatch):
    """Force one computation path whatever the matrix size."""
    threshold = 0 if request.param == "numba" else np.iinfo(np.int64).max
    monkeypatch.setattr(kernels, "_NUMBA_MIN_ENTRIES", threshold)
    return request.param


def _rel_err(A, B):
    return np.max(np.abs(A - B)) / np.max(np.abs(B))


def _data(n, p, seed=0, scale=1.0):
    return scale * np.random.default_rng(seed).standard_normal((n, p))


# --------------------------------------------------------------------------------------------
# standard kernels equal scikit-learn


EXPLICIT = {
    "linear": {},
    "polynomial": {"degree": 2, "gamma": 0.3, "coef0": -0.5},
    "rbf": {"gamma": 0.7},
    "laplacian": {"gamma": 0.25},
}


@pytest.mark.parametrize("kernel", STANDARD)
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 4, 3), (60, 45, 10), (150, 90, 2)])
@pytest.mark.parametrize("with_y", [False, True])
@pytest.mark.parametrize("explicit", [False, True])
def test_standard_kernels_equal_sklearn(kernel, shape, with_y, explicit, backend):
    n, m, p = shape
    X = _data(n, p, seed=1)
    Y = _data(m, p, seed=2) if with_y else None
    params = EXPLICIT[kernel] if explicit else {}
    K = gram(X, Y, kernel=kernel, **params)
    ref = pairwise_kernels(X, Y, metric=kernel, **params)
    assert K.dtype == np.float64 and K.shape == ref.shape
    assert _rel_err(K, ref) <= 1e-12


def test_poly_alias_and_none_params_mean_defaults():
    X = _data(20, 4)
    ref = pairwise_kernels(X, metric="poly")
    np.testing.assert_allclose(gram(X, kernel="poly"), ref, rtol=1e-12)
    np.testing.assert_allclose(
        gram(X, kernel="polynomial", gamma=None, degree=None, coef0=None), ref, rtol=1e-12)
    # None for a parameter of another kernel is accepted as "not given" (estimators pass it)
    np.testing.assert_allclose(gram(X, kernel="rbf", gamma=None, degree=None),
                               pairwise_kernels(X, metric="rbf"), rtol=1e-12)


def test_rbf_large_scale_inputs_clip_round_off(backend):
    # far-apart clusters of near-duplicates: the BLAS form |x|^2 + |y|^2 - 2 x.y cancels
    # catastrophically and can go negative; the kernel must stay in [0, 1]
    rng = np.random.default_rng(3)
    X = 1e3 + 1e-6 * rng.standard_normal((40, 3))
    Y = X[::-1].copy()
    K = gram(X, Y, kernel="rbf", gamma=1.0)
    assert np.all(K >= 0.0) and np.all(K <= 1.0)
    # against distances from explicit differences: within the error of the BLAS form,
    # a few units of round-off of |x|^2 + |y|^2 (sklearn's has the same error)
    direct = np.exp(-np.sum((X[:, None, :] - Y[None, :, :]) ** 2, axis=2))
    sq = np.sum(X ** 2, axis=1)
    bound = 2 * (X.shape[1] + 2) * np.finfo(float).eps * (sq[:, None] + sq[None, ::-1])
    assert np.all(np.abs(K - direct) <= bound)
    assert np.max(bound) < 1e-6  # the bound is not vacuous


# --------------------------------------------------------------------------------------------
# arccos and ntk equal the pair-by-pair formulas


def _with_awkward_rows(X, Y):
    """Y sharing a row with X, holding a rescaled copy and an antiparallel copy of another."""
    Y = Y.copy()
    Y[0] = X[2]
    Y[1] = 3.0 * X[4]
    Y[2] = -0.5 * X[5]
    Y[3] = X[6] + 1e-9  # nearly parallel: arccos of the rounded cosine would lose digits
    return Y


def test_arccos_equals_naive(backend):
    X = _data(25, 6, seed=4)
    Y = _with_awkward_rows(X, _data(18, 6, seed=5))
    assert _rel_err(gram(X, Y, kernel="arccos"), naive_arccos(X, Y)) <= 1e-12
    assert _rel_err(gram(X, kernel="arccos"), naive_arccos(X)) <= 1e-12


def test_arccos_is_scale_invariant_with_half_diagonal(backend):
    X = _data(30, 5, seed=6)
    K = gram(X, kernel="arccos")
    scaled = X * np.random.default_rng(7).uniform(0.01, 100.0, size=(30, 1))
    assert _rel_err(gram(scaled, kernel="arccos"), K) <= 1e-13
    assert np.all(np.diag(K) == 0.5)


@pytest.mark.parametrize("depth, w_std, b_std", [
    (1, 1.0, 0.0), (2, 1.0, 0.0), (1, 1.5, 0.4), (3, 0.8, 1.2), (5, 1.3, 0.1),
])
def test_ntk_equals_naive(depth, w_std, b_std, backend):
    X = _data(12, 5, seed=8)
    Y = _with_awkward_rows(X, _data(9, 5, seed=9))
    params = dict(depth=depth, w_std=w_std, b_std=b_std)
    assert _rel_err(gram(X, Y, kernel="ntk", **params), naive_ntk(X, Y, **params)) <= 1e-12
    assert _rel_err(gram(X, kernel="ntk", **params), naive_ntk(X, **params)) <= 1e-12


@pytest.mark.parametrize("kernel, params", [
    ("arccos", {}), ("ntk", {"depth": 1}), ("ntk", {"depth": 5}),
    ("ntk", {"depth": 4, "w_std": 1.3, "b_std": 0.5}), ("ntk", {"depth": 2, "b_std": 2.0}),
])
def test_near_duplicates_keep_full_accuracy(kernel, params, backend):
    # angles of 1e-3 .. 1e-12 and near-antiparallel pairs: arccos of a rounded cosine would
    # be off by ~1e-8 here; the kernels must stay at round-off level in every layer
    rng = np.random.default_rng(22)
    X = rng.standard_normal((6, 4))
    Y = np.concatenate([X + eps * rng.standard_normal(X.shape)
                        for eps in (1e-3, 1e-6, 1e-9, 1e-12)] + [-X * (1 + 1e-9)])
    naive = naive_arccos(X, Y) if kernel == "arccos" else naive_ntk(X, Y, **params)
    assert _rel_err(gram(X, Y, kernel=kernel, **params), naive) <= 1e-14


def test_shallow_ntk_is_arccos_plus_readout_term(backend):
    # depth 1, w_std 1, b_std 0 on unit inputs: p * Theta = H + (sin t + (pi - t) cos t) / 2pi
    X = _data(30, 4, seed=23)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    H = gram(X, kernel="arccos")
    C = X @ X.T
    np.fill_diagonal(C, 1.0)  # random data: the diagonal is the only angle near 0
    t = np.arccos(C)
    readout = (np.sqrt(1.0 - C ** 2) + (np.pi - t) * C) / (2.0 * np.pi)
    np.testing.assert_allclose(4 * gram(X, kernel="ntk"), H + readout, rtol=0, atol=1e-13)


def test_ntk_defaults_and_zero_input(backend):
    X = _data(12, 3, seed=10)
    X[4] = 0.0
    np.testing.assert_allclose(gram(X, kernel="ntk"), naive_ntk(X), rtol=1e-12, atol=1e-15)
    K = gram(X, kernel="ntk", depth=2)
    # without biases a zero input makes every pre-activation 0: its row of the NTK is 0
    assert np.all(K[4] == 0.0) and np.all(K[:, 4] == 0.0)
    Kb = gram(X, kernel="ntk", depth=2, b_std=0.5)
    assert _rel_err(Kb, naive_ntk(X, depth=2, b_std=0.5)) <= 1e-12
    assert np.all(Kb[4] > 0.0)


# --------------------------------------------------------------------------------------------
# ntk: deep networks, small and large w_std, inputs of any scale

# the smallest positive (subnormal) float64
_SUBNORMAL_UNIT = 5e-324


@pytest.mark.parametrize("depth, w_std, b_std", [(100, 0.1, 0.0), (100, 0.1, 3e-117)])
def test_deep_ntk_with_tiny_variances_equals_naive(depth, w_std, b_std, backend):
    # every Σ and Θ is near 1e-232, inside the float64 range, but a product of two variances
    # (1e-464) is not; with b_std = 3e-117 the bias and the inputs contribute alike in the last
    # layers. The 40-digit recursion has no underflow.
    X = _data(8, 3, seed=24)
    Y = _with_awkward_rows(X, _data(5, 3, seed=25))
    params = dict(depth=depth, w_std=w_std, b_std=b_std)
    ref = naive_ntk(X, Y, **params)
    assert 1e-300 < np.max(np.abs(ref)) < 1e-200  # the regime this test is about
    K = gram(X, Y, kernel="ntk", **params)
    assert np.all(np.isfinite(K))
    assert _rel_err(K, ref) <= 1e-12
    assert _rel_err(gram(X, kernel="ntk", **params), naive_ntk(X, **params)) <= 1e-12


def test_ntk_below_float_range_is_subnormal_or_zero(backend):
    # with w_std = 0.1 every layer multiplies Θ by about 0.005: depth 135 puts the kernel
    # near 1e-310 (subnormal), depth 200 near 1e-460 (below the smallest subnormal, so 0)
    X = _data(6, 3, seed=26)
    X[3] = -X[2]
    K = gram(X, kernel="ntk", depth=135, w_std=0.1)
    ref = naive_ntk(X, depth=135, w_std=0.1)
    assert np.all(np.abs(np.diag(ref)) < np.finfo(float).tiny) and np.all(np.diag(ref) > 0.0)
    # the 40-digit value rounded to float64: at most 2 units of the subnormal spacing apart
    assert np.all(np.abs(K - ref) <= 2 * _SUBNORMAL_UNIT)
    assert np.all(np.diag(K) > 0.0)
    assert np.array_equal(gram(X, kernel="ntk", depth=200, w_std=0.1),
                          naive_ntk(X, depth=200, w_std=0.1))
    assert np.all(naive_ntk(X, depth=200, w_std=0.1) == 0.0)


def _mp_scaled(K, factor):
    """K times an mpmath factor, rounded once to float64."""
    with mpmath.workdps(40):
        return np.array([[float(mpmath.mpf(float(v)) * factor) for v in row] for row in K])


@pytest.mark.parametrize("depth, w_std", [(100, 0.1), (100, 10.0), (60, 3.0), (400, 1.2)])
def test_ntk_without_bias_scales_as_a_power_of_w_std(depth, w_std, backend):
    # with b_std = 0 the recursion is homogeneous: Σˡ and Θˡ are w_std² (w_std²/2)^l times
    # those of the unit recursion, so Θ(w_std) = w_std^(2 depth + 2) Θ(w_std = 1), here with
    # the power taken in 40 digits. (100, 0.1) underflowed and (100, 10.0) overflowed in the
    # products of variances before: Θ is near 1e-232 and 1e+140.
    X = _data(7, 4, seed=27)
    Y = _data(5, 4, seed=28)
    with mpmath.workdps(40):
        factor = mpmath.mpf(w_std) ** (2 * depth + 2)
    for A, B in ((X, Y), (X, None)):
        ref = _mp_scaled(gram(A, B, kernel="ntk", depth=depth), factor)
        assert _rel_err(gram(A, B, kernel="ntk", depth=depth, w_std=w_std), ref) <= 1e-12


@pytest.mark.parametrize("scale", [1e-150, 1e-80, 1e80, 1e120])
@pytest.mark.parametrize("b_std", [0.0, 0.5])
def test_ntk_is_homogeneous_in_the_input_scale(scale, b_std, backend):
    # Θ(λx, λy) with b_std λ is λ² Θ(x, y) with b_std: the kernel of inputs of any scale whose
    # values are in range must come out right (before: 5e-4 off at 1e-80, NaN at 1e80)
    X = _data(8, 3, seed=29)
    Y = _with_awkward_rows(X, _data(6, 3, seed=30))
    for depth in (1, 3):
        ref = gram(X, Y, kernel="ntk", depth=depth, b_std=b_std)
        K = gram(scale * X, scale * Y, kernel="ntk", depth=depth, b_std=scale * b_std)
        assert _rel_err(K / scale ** 2, ref) <= 1e-13


# --------------------------------------------------------------------------------------------
# symmetry, positive semi-definiteness, dtypes, inputs left alone

ALL_NAMED = [
    ("linear", {}), ("polynomial", {}), ("polynomial", {"degree": 4, "coef0": 0.5}),
    ("rbf", {}), ("rbf", {"gamma": 3.0}), ("laplacian", {}), ("arccos", {}),
    ("ntk", {}), ("ntk", {"depth": 3, "w_std": 1.4, "b_std": 0.5}),
]


@pytest.mark.parametrize("kernel, params", ALL_NAMED)
def test_gram_is_exactly_symmetric_and_psd(kernel, params, backend):
    X = _data(150, 4, seed=11)
    K = gram(X, kernel=kernel, **params)
    assert np.array_equal(K, K.T)
    assert K.flags.c_contiguous
    eig = np.linalg.eigvalsh(K)
    assert eig[0] >= -1e-10 * eig[-1]
    # Y is X: the same object is the symmetric case
    assert np.array_equal(gram(X, X, kernel=kernel, **params), K)
    # and a copy of X gives the same matrix up to round-off
    assert _rel_err(gram(X, X.copy(), kernel=kernel, **params), K) <= 1e-12


@pytest.mark.parametrize("kernel, params", ALL_NAMED)
def test_paths_agree_and_inputs_untouched(kernel, params, monkeypatch):
    X = _data(40, 3, seed=12)
    Y = _data(25, 3, seed=13)
    X0, Y0 = X.copy(), Y.copy()
    monkeypatch.setattr(kernels, "_NUMBA_MIN_ENTRIES", 0)
    fast = gram(X, Y, kernel=kernel, **params)
    monkeypatch.setattr(kernels, "_NUMBA_MIN_ENTRIES", np.iinfo(np.int64).max)
    slow = gram(X, Y, kernel=kernel, **params)
    assert _rel_err(fast, slow) <= 1e-13
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


def test_accepts_lists_ints_float32_and_fortran_order():
    X = np.arange(12).reshape(4, 3)
    ref = pairwise_kernels(X.astype(float), metric="rbf")
    for variant in (X, X.tolist(), X.astype(np.float32), np.asfortranarray(X.astype(float))):
        K = gram(variant)
        assert K.dtype == np.float64
        np.testing.assert_allclose(K, ref, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Monte-Carlo: wide random ReLU networks


def test_arccos_equals_monte_carlo_relu_features():
    rng = np.random.default_rng(14)
    X = rng.standard_normal((6, 3))
    X[1] = -X[0] + 0.1  # a wide angle
    est, se = mc_arccos(X, 200_000, rng)
    K = gram(X, kernel="arccos")
    assert np.all(np.abs(K - est) <= 5.0 * se + 1e-12)
    assert np.max(np.abs(K - est)) < 0.01


def test_empirical_ntk_helper_equals_finite_differences():
    # the back-propagation helper, checked on a tiny network against a numerical Jacobian
    X = _data(3, 2, seed=15)
    for depth in (1, 2):
        fast = empirical_ntk(X, depth, 5, 1.3, 0.7, np.random.default_rng(16))
        fd = finite_difference_ntk(X, depth, 5, 1.3, 0.7, np.random.default_rng(16))
        np.testing.assert_allclose(fast, fd, rtol=1e-6)


@pytest.mark.parametrize("depth, w_std, b_std", [(1, 1.0, 0.0), (1, 1.4, 0.6), (2, 1.2, 0.5)])
def test_ntk_equals_wide_network(depth, w_std, b_std):
    X = _data(5, 4, seed=17)
    K = gram(X, kernel="ntk", depth=depth, w_std=w_std, b_std=b_std)
    rng = np.random.default_rng(18)
    emp = np.mean([empirical_ntk(X, depth, 4000, w_std, b_std, rng) for _ in range(2)], axis=0)
    assert _rel_err(emp, K) <= 0.05


# --------------------------------------------------------------------------------------------
# callables


def test_callable_passes_through_with_params():
    X = _data(9, 3, seed=19)
    Y = _data(4, 3, seed=20)

    def scaled_linear(A, B, scale=1.0):
        return scale * (A @ B.T)

    np.testing.assert_array_equal(gram(X, Y, kernel=scaled_linear, scale=2.0), 2.0 * X @ Y.T)
    np.testing.assert_array_equal(gram(X, kernel=scaled_linear), X @ X.T)


def test_callable_output_is_float64_and_never_aliases_inputs():
    X = _data(4, 4, seed=21)
    K = gram(X, kernel=lambda A, B: A)  # returns its input: must not be handed back
    assert K.dtype == np.float64 and not np.shares_memory(K, X)
    np.testing.assert_array_equal(K, X)
    K = gram(X, kernel=lambda A, B: (A @ B.T).astype(np.float32))
    assert K.dtype == np.float64


@pytest.mark.parametrize("bad, match", [
    (lambda A, B: np.ones((len(A), len(B) + 1)), r"shape \(5, 4\); expected \(5, 3\)"),
    (lambda A, B: np.ones(len(A)), "returned shape"),
    (lambda A, B: np.full((len(A), len(B)), np.nan), "NaN or infinite"),
    (lambda A, B: [["a"] * len(B)] * len(A), "array of real numbers"),
])
def test_callable_bad_output(bad, match):
    with pytest.raises(ValueError, match=match):
        gram(_data(5, 2), _data(3, 2, seed=1), kernel=bad)


def test_callable_non_finite_output_is_counted():
    def half_inf(A, B):
        K = A @ B.T
        K[:, 0] = np.inf
        return K

    with pytest.raises(ValueError, match=r"kernel callable half_inf returned NaN or infinite "
                                         r"values for 5 of 15 pairs"):
        gram(_data(5, 2), _data(3, 2, seed=1), kernel=half_inf)


def test_callable_complex_output_is_an_error():
    with pytest.raises(ValueError, match="returned complex dtype complex128; kernel values "
                                         "must be real"):
        gram(_data(3, 2), kernel=lambda A, B: (A @ B.T) * (1 + 1j))


# --------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("X, Y, match", [
    (np.array([[1.0, np.nan]]), None, "X contains 1 NaN"),
    (np.ones((3, 2)), np.array([[np.inf, 0.0]]), "Y contains 1 NaN or infinite"),
    (np.ones((3, 2)), np.ones((3, 3)), "X has 2 features but Y has 3"),
    (np.ones(3), None, "X must have 2 dimension"),
    (np.ones((0, 3)), None, "X is empty"),
    (np.ones((3, 0)), None, "X is empty"),
    (np.ones((3, 2)), np.ones((0, 2)), "Y is empty"),
    ([["a", "b"]], None, "X must be an array of real numbers"),
])
def test_bad_inputs(X, Y, match):
    with pytest.raises(ValueError, match=match):
        gram(X, Y)


@pytest.mark.parametrize("X, Y, match", [
    (np.array([[1 + 2j, 0.0]]), None, "X has complex dtype complex128; hilbert_sd works with real"),
    ([[1 + 2j, 0.0]], None, "X has complex dtype complex128"),
    (np.ones((3, 2)), np.array([[1.0, 0j]]), "Y has complex dtype complex128"),
])
def test_complex_inputs_are_an_error_not_cast(X, Y, match):
    with pytest.raises(ValueError, match=match):
        gram(X, Y, kernel="linear")


@pytest.mark.parametrize("kernel, X, Y, params, match", [
    ("linear", [[1e200, 1.0]], None, {},
     r"kernel='linear' overflowed: k\(x, x'\) is not finite \(NaN or infinite\) for 1 of 1 "
     r"pairs; the inputs reach 1e\+200 \(their products exceed the float64 range ~1.8e308\); "
     r"rescale X$"),
    ("polynomial", [[1e100, 1.0], [1.0, 2.0]], None, {"degree": 4},
     r"kernel='polynomial' overflowed: .* for 3 of 4 pairs; the inputs reach 1e\+100 and "
     r"\(gamma xᵀy \+ coef0\)\*\*degree with gamma=0.5, coef0=1, degree=4 exceeds"),
    ("rbf", [[1e200, 0.0], [0.0, 1.0]], [[1e200, 0.0], [0.0, 1.0]], {},
     r"kernel='rbf' overflowed: .* for 1 of 4 pairs; the inputs reach 1e\+200 \(their "
     r"squared norms exceed the float64 range ~1.8e308\); rescale X and Y"),
    ("ntk", _data(4, 3, seed=31), None, {"depth": 300, "w_std": 10.0},
     r"kernel='ntk' overflowed: .* for 16 of 16 pairs; Θ\(x, x'\) exceeds the float64 range "
     r"~1.8e308: .* each of the depth=300 hidden layers multiplies the variances by about "
     r"w_std²/2 = 50 \(w_std=10, b_std=0\)"),
])
def test_overflow_is_reported_with_its_cause(kernel, X, Y, params, match, backend):
    with pytest.raises(ValueError, match=match):
        gram(X, Y, kernel=kernel, **params)


def test_estimator_reports_the_kernel_overflow_not_its_matrix():
    # the user passed X, not K: the error must be about X and the kernel
    est = hilbert_sd.SelfDistilledKernelRidge(kernel="linear")
    with pytest.raises(ValueError, match=r"kernel='linear' overflowed: .* for 1 of 4 pairs; "
                                         r"the inputs reach 1e\+200") as info:
        est.fit([[1e200, 1.0], [1.0, 2.0]], [1.0, 2.0])
    assert "K contains" not in str(info.value)


@pytest.mark.parametrize("kernel, params, match", [
    ("rbf", {"gamma": 0.0}, r"gamma=0.0 is out of range; allowed: \(0, inf\]"),
    ("rbf", {"gamma": -1.0}, "gamma=-1.0 is out of range"),
    ("laplacian", {"gamma": np.inf}, "gamma must be finite"),
    ("rbf", {"gamma": "big"}, "gamma must be a real number"),
    ("polynomial", {"degree": 0}, r"degree=0 is out of range; allowed: \[1, inf\]"),
    ("polynomial", {"degree": 2.5}, "degree must be an integer"),
    ("polynomial", {"coef0": np.nan}, "coef0 must be finite"),
    ("ntk", {"depth": 0}, "depth=0 is out of range"),
    ("ntk", {"depth": 1.5}, "depth must be an integer"),
    ("ntk", {"w_std": 0.0}, r"w_std=0.0 is out of range; allowed: \(0, inf\]"),
    ("ntk", {"b_std": -0.1}, r"b_std=-0.1 is out of range; allowed: \[0, inf\]"),
    ("rbf", {"degree": 3}, "kernel='rbf' takes no parameter degree=3; allowed: gamma"),
    ("linear", {"gamma": 1.0}, "kernel='linear' takes no parameter gamma=1.0; allowed: none"),
    ("ntk", {"gama": None}, "takes no parameter gama=None; allowed: b_std, depth, w_std"),
    ("arccos", {"depth": 2}, "kernel='arccos' takes no parameter depth=2"),
])
def test_bad_params(kernel, params, match):
    with pytest.raises(ValueError, match=match):
        gram(_data(4, 2), kernel=kernel, **params)


@pytest.mark.parametrize("kernel, match", [
    ("sigmoid", "kernel='sigmoid' is not supported; allowed: 'linear', 'polynomial'"),
    ("RBF", "kernel='RBF' is not supported"),
    (3, "kernel=3 is not supported"),
    ("precomputed", "kernel='precomputed' is not computed by gram"),
])
def test_unknown_or_precomputed_kernel(kernel, match):
    with pytest.raises(ValueError, match=match):
        gram(_data(4, 2), kernel=kernel)


def test_arccos_zero_row_is_an_error(backend):
    X = _data(200, 3)
    X[[7, 150]] = 0.0
    with pytest.raises(ValueError, match=r"X has 2 zero row\(s\) \(index 7, 150\)"):
        gram(X, kernel="arccos")
    with pytest.raises(ValueError, match=r"Y has 1 zero row\(s\) \(index 0\)"):
        gram(_data(5, 3), np.zeros((1, 3)), kernel="arccos")
