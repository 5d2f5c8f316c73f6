"""The Nyström backend: ``decompose(X=..., method="nystrom", rank=M)``.

A Nyström spectrum is the *exact* spectrum of the kernel ``K̃ = C W⁺ Cᵀ``
(``C = k(X, X_L)``, ``W = k(X_L, X_L)``), so every reference here is the dense backend run on
the explicit n × n matrix K̃ built in the test (scipy's ``pinvh`` for ``W⁺``, with the same
relative cut-off ``100 · M · eps``), never the backend's own factors. Predictions at new
points are compared with the dense path on ``k(X_new, X_L) W⁺ Cᵀ``. The Dask tests run one
real LocalCluster (2 worker processes) for the whole module.
"""

import pickle
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.cluster import kmeans_plusplus

import hilbert_sd
from hilbert_sd import _nystrom, self_distill
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.flow import flow_path
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import decompose

EPS = np.finfo(np.float64).eps


# ============================================================================ references
def _problem(seed, n, p, n_new=15):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = np.sin(1.5 * X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.2 * rng.standard_normal(n)
    return X, y, rng.standard_normal((n_new, p))


def _explicit(X, idx, kernel, params, X_new=None):
    """K̃ = C W⁺ Cᵀ (n × n) and its rows at new points, k(X_new, X_L) W⁺ Cᵀ."""
    XL = X[idx]
    C = gram(X, XL, kernel=kernel, **params)
    W = gram(XL, kernel=kernel, **params)
    Wp = scipy.linalg.pinvh(W, atol=0.0, rtol=100 * len(idx) * EPS)
    Kt = C @ Wp @ C.T
    Kt = 0.5 * (Kt + Kt.T)
    if X_new is None:
        return Kt
    return Kt, gram(X_new, XL, kernel=kernel, **params) @ Wp @ C.T


def _dense(Kt):
    """The dense backend on the explicit K̃ (its n − r round-off eigenvalues around 0 may be
    slightly negative: the nearest PSD matrix, as the estimators do)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        return decompose(Kt, method="dense", on_indefinite="warn")


def _close(a, b, rtol=1e-8, atol_scale=1e-10):
    """Relative agreement, with an absolute floor relative to the reference's largest entry
    (entries that are round-off around 0 in both)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    finite = np.abs(b[np.isfinite(b)])
    scale = finite.max() if finite.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol_scale * max(scale, 1e-300))


def _predict_points(path, spec, X_new, idx):
    """Nyström predictions at new inputs: the features ``k(X_new, X_L) H`` in the eigenbasis
    of K̃, then the path's one product."""
    return path.predict(spec.project_points(X_new), idx, projected=True)


def _budget(spec, y, frac=0.25):
    """A feasible budget: a quarter of the way from the floor (energy outside K̃'s range)
    to the trivial ‖y‖²/n."""
    floor = spec.tail_energy(y) / spec.n
    return floor + frac * (np.mean(y ** 2) - floor)


CASES = [  # kernel, params, n, p, M
    ("rbf", {"gamma": 1.0}, 300, 3, 50),
    ("rbf", {"gamma": 0.5}, 250, 4, 10),
    ("laplacian", {"gamma": 0.5}, 400, 3, 50),
    ("laplacian", {"gamma": 1.0}, 200, 2, 10),
]


# ============================================================================ K̃ exactly
@pytest.mark.parametrize("case", range(len(CASES)))
def test_self_distillation_equals_dense_run_on_the_nystrom_kernel(case):
    kernel, params, n, p, M = CASES[case]
    X, y, X_new = _problem(case, n, p)
    spec = decompose(X=X, kernel=kernel, method="nystrom", rank=M, random_state=case, **params)
    assert spec.method == "nystrom" and spec.is_low_rank and not spec.certifiable
    assert spec.n == n and spec.n_landmarks == M and spec.rank <= M
    Kt, Kt_new = _explicit(X, spec.landmarks, kernel, params, X_new)
    dense = _dense(Kt)
    # the nonzero eigenvalues of K̃
    r = spec.rank
    _close(spec.top_eigenvalues, dense.eigenvalues[:r], atol_scale=1e-12)
    assert np.all(dense.eigenvalues[r:] <= dense.rank_tolerance)

    eps = _budget(spec, y)
    a = self_distill(spec, y, epsilon=eps)
    b = self_distill(dense, y, epsilon=eps)
    assert a.collapse_round == b.collapse_round is not None
    _close(a.ridges, b.ridges)
    idx = np.arange(len(a))
    _close(a.train_predictions(idx), b.train_predictions(idx))
    _close(a.train_mse(), b.train_mse())
    _close(_predict_points(a, spec, X_new, idx), b.predict(Kt_new, idx))
    _close(a.gcv(), b.gcv())
    _close(a.effective_dof(), b.effective_dof())
    assert a.certificate is None  # K̃'s eigenpairs certify nothing about K

    times = np.geomspace(1e-2, 1e4, 9) * n
    fa, fb = flow_path(spec, y, times), flow_path(dense, y, times)
    jdx = np.arange(len(times))
    _close(fa.train_predictions(jdx), fb.train_predictions(jdx))
    _close(_predict_points(fa, spec, X_new, jdx), fb.predict(Kt_new, jdx))
    _close(fa.gcv(), fb.gcv())


def test_fixed_ridge_and_multioutput_targets():
    X, y, X_new = _problem(11, 260, 3)
    Y = np.column_stack([y, np.cos(X[:, 1]), X[:, 2]])
    spec = decompose(X=X, method="nystrom", rank=40, gamma=0.8)
    Kt, Kt_new = _explicit(X, spec.landmarks, "rbf", {"gamma": 0.8}, X_new)
    dense = _dense(Kt)
    for kw in ({"alpha": 0.3, "n_rounds": 4},
               {"epsilon": float(np.max(_budget(spec, Y))), "n_rounds": 3,
                "multioutput": "independent"}):
        a, b = self_distill(spec, Y, **kw), self_distill(dense, Y, **kw)
        idx = np.arange(len(a))
        _close(a.ridges, b.ridges)
        _close(a.train_predictions(idx), b.train_predictions(idx))
        _close(_predict_points(a, spec, X_new, idx), b.predict(Kt_new, idx))


def test_landmark_coefficients_predict_from_the_landmark_kernel_alone():
    X, y, X_new = _problem(5, 220, 3)
    Y = np.column_stack([y, X[:, 0]])
    spec = decompose(X=X, method="nystrom", rank=30, gamma=1.0)
    Kt, Kt_new = _explicit(X, spec.landmarks, "rbf", {"gamma": 1.0}, X_new)
    KL_new = gram(X_new, X[spec.landmarks], gamma=1.0)
    eps = _budget(spec, y)
    path = self_distill(spec, y, epsilon=eps, n_rounds=3)
    ref = self_distill(_dense(Kt), y, epsilon=eps, n_rounds=3)
    idx = np.arange(len(path))
    # f_j(x) = k(x, X_L) β_j with β_j = H d_j from the eigen dual coefficients d_j
    beta = spec.landmark_coefficients(path._dual_coefficients(idx))  # (J, M, 1)
    assert beta.shape == (len(path), 30, 1)
    _close(beta[..., 0] @ KL_new.T, ref.predict(Kt_new, idx))
    # through the public path API (SpectralPath.dual_coef(basis="landmarks")), flow, 2 outputs
    times = np.array([0.5, 5.0, 50.0]) * 220
    fp, fr = flow_path(spec, Y, times), flow_path(_dense(Kt), Y, times)
    b1 = fp.dual_coef(1, basis="landmarks")
    assert b1.shape == (30, 2)
    _close(KL_new @ b1, fr.predict(Kt_new, 1))
    assert fp.dual_coef(None, basis="landmarks").shape == (3, 30, 2)
    with pytest.raises(ValueError, match="r \\+ 1"):
        spec.landmark_coefficients(np.zeros(5))
    with pytest.raises(ValueError, match="no landmarks"):
        flow_path(_dense(Kt), y, times).dual_coef(basis="landmarks")


def test_all_points_as_landmarks_give_the_kernel_itself():
    # M = n: K̃ = K W⁺ K = K when no eigenvalue of W = K is cut (a well-conditioned kernel)
    X, y, X_new = _problem(3, 200, 3)
    params = {"gamma": 1.0}
    spec = decompose(X=X, kernel="laplacian", method="nystrom", rank=200, **params)
    assert spec.w_rank == 200 and spec.rank == 200
    K = gram(X, kernel="laplacian", **params)
    dense = decompose(K, method="dense")
    _close(spec.top_eigenvalues, dense.eigenvalues, atol_scale=1e-12)
    eps = 0.2 * np.mean(y ** 2)
    a, b = self_distill(spec, y, epsilon=eps), self_distill(dense, y, epsilon=eps)
    idx = np.arange(len(a))
    _close(a.ridges, b.ridges)
    _close(a.train_predictions(idx), b.train_predictions(idx))
    _close(_predict_points(a, spec, X_new, idx),
           b.predict(gram(X_new, X, kernel="laplacian", **params), idx))
    assert abs(spec.trace_error) <= 1e-10 * 200


def test_all_points_as_landmarks_with_an_ill_conditioned_kernel():
    # RBF with M = n: W = K has eigenvalues below the cut-off; K̃ = K W⁺ K is K with those
    # eigenvalues set to 0, built here from scipy's eigh of K (cond(W kept) ~ 1e13: the
    # block-whitened accumulation keeps the agreement)
    X, y, X_new = _problem(4, 200, 2)
    spec = decompose(X=X, method="nystrom", rank=200, gamma=0.2)
    K = gram(X, gamma=0.2)
    lam, V = scipy.linalg.eigh(K)
    keep = lam > 100 * 200 * EPS * lam[-1]
    assert 20 < keep.sum() < 200 and spec.w_rank == keep.sum()
    Kt = (V[:, keep] * lam[keep]) @ V[:, keep].T
    Kt = 0.5 * (Kt + Kt.T)
    dense = _dense(Kt)
    r = spec.rank
    _close(spec.top_eigenvalues, dense.eigenvalues[:r], atol_scale=1e-12)
    eps = _budget(spec, y, 0.1)
    a, b = self_distill(spec, y, epsilon=eps, n_rounds=4), self_distill(dense, y, epsilon=eps,
                                                                        n_rounds=4)
    idx = np.arange(len(a))
    _close(a.ridges, b.ridges)
    _close(a.train_predictions(idx), b.train_predictions(idx))
    # rows of K̃ at new points: k(x, X) W⁺ K = k(x, X) V_keep V_keepᵀ
    K_new = gram(X_new, X, gamma=0.2) @ V[:, keep] @ V[:, keep].T
    _close(_predict_points(a, spec, X_new, idx), b.predict(K_new, idx))


def test_eigenpairs_and_projections_of_the_nystrom_kernel():
    X, y, _ = _problem(8, 250, 3)
    spec = decompose(X=X, method="nystrom", rank=40, gamma=1.0)
    Kt = _explicit(X, spec.landmarks, "rbf", {"gamma": 1.0})
    U = spec.basis()
    r = spec.rank
    assert U.shape == (250, r)
    np.testing.assert_allclose(U.T @ U, np.eye(r), atol=1e-10)
    np.testing.assert_allclose(Kt @ U, U * spec.top_eigenvalues, atol=1e-10 * spec.eigenvalues[0])
    np.testing.assert_allclose(spec.basis(3), U[:, :3], rtol=0, atol=1e-14)
    z = spec.project(y)
    np.testing.assert_allclose(z[:-1], U.T @ y, atol=1e-12 * np.linalg.norm(y))
    np.testing.assert_allclose(z[-1], np.linalg.norm(y - U @ (U.T @ y)), rtol=1e-10)
    c = np.random.default_rng(0).standard_normal((r + 1, 2))
    np.testing.assert_allclose(spec.reconstruct(c), U @ c[:-1], atol=1e-12)
    with pytest.raises(ValueError, match="out of range"):
        spec.basis(r + 1)


def test_tail_residual_does_not_cancel():
    # y in the range of K̃ up to 1e-9: the explicit residual gives its norm, the difference
    # of squares would give round-off of ‖y‖² ~ 1e-16 · ‖y‖²
    X, _, _ = _problem(9, 200, 3)
    spec = decompose(X=X, method="nystrom", rank=30, gamma=1.0)
    U = spec.basis()
    rng = np.random.default_rng(1)
    w = rng.standard_normal(200)
    w -= U @ (U.T @ w)
    w *= 1e-9 / np.linalg.norm(w)
    y = U @ rng.standard_normal(spec.rank) + w
    np.testing.assert_allclose(spec.project(y)[-1], 1e-9, rtol=1e-4)


@pytest.mark.parametrize("kernel, params", [("polynomial", {"degree": 2, "coef0": 1.0}),
                                            ("rbf", {"gamma": 0.7}),
                                            ("laplacian", {"gamma": 0.3})])
def test_trace_error_is_the_trace_distance_to_the_kernel(kernel, params):
    X, _, _ = _problem(2, 240, 3)
    spec = decompose(X=X, kernel=kernel, method="nystrom", rank=25, **params)
    K = gram(X, kernel=kernel, **params)
    Kt = _explicit(X, spec.landmarks, kernel, params)
    expect = np.trace(K) - np.trace(Kt)
    assert expect >= 0
    np.testing.assert_allclose(spec.trace_error, expect, rtol=1e-9, atol=1e-11 * np.trace(K))
    assert spec.trace_error_raw == pytest.approx(spec.trace_error, abs=1e-11 * np.trace(K))
    # the numerical rank of K̃ and its round-off tolerance are those of the dense solver on
    # the n × n matrix K̃ (a degree-2 polynomial kernel in 3 variables has rank 10)
    dense = _dense(Kt)
    assert spec.rank == dense.numerical_rank
    assert spec.rank_tolerance == pytest.approx(dense.rank_tolerance, rel=1e-10)
    if kernel == "polynomial":
        assert spec.rank == 10 and spec.w_rank >= 10


def test_a_callable_kernel():
    X, y, X_new = _problem(6, 150, 2)

    def k(A, B, scale=1.0):
        d = ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)
        return np.exp(-d / scale) + 0.5 * (A @ B.T)

    spec = decompose(X=X, kernel=k, method="nystrom", rank=20, scale=2.0)
    Kt, Kt_new = _explicit(X, spec.landmarks, k, {"scale": 2.0}, X_new)
    np.testing.assert_allclose(spec.trace_error,
                               np.trace(k(X, X, 2.0)) - np.trace(Kt), rtol=1e-9)
    path = self_distill(spec, y, alpha=0.5, n_rounds=2)
    ref = self_distill(_dense(Kt), y, alpha=0.5, n_rounds=2)
    _close(_predict_points(path, spec, X_new, [0, 2]), ref.predict(Kt_new, [0, 2]))


# ============================================================================ landmarks
def test_uniform_landmarks_are_seeded_distinct_and_sorted():
    X, _, _ = _problem(0, 300, 2)
    a = decompose(X=X, method="nystrom", rank=20, random_state=3)
    b = decompose(X=X, method="nystrom", rank=20, random_state=3)
    c = decompose(X=X, method="nystrom", rank=20, random_state=4)
    d = decompose(X=X, method="nystrom", rank=20)  # None means 0
    e = decompose(X=X, method="nystrom", rank=20, random_state=0)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)
    np.testing.assert_array_equal(a.eigenvalues, b.eigenvalues)
    assert not np.array_equal(a.landmarks, c.landmarks)
    np.testing.assert_array_equal(d.landmarks, e.landmarks)
    expect = np.sort(np.random.default_rng(3).choice(300, 20, replace=False))
    np.testing.assert_array_equal(a.landmarks, expect)
    assert a.landmarks.dtype.kind == "i"
    np.testing.assert_array_equal(a.landmark_points, X[a.landmarks])


def test_kmeans_plus_plus_landmarks_are_distinct_data_rows():
    X, _, _ = _problem(1, 300, 2)
    s = decompose(X=X, method="nystrom", rank=25, landmarks="kmeans++", random_state=7)
    idx = s.landmarks
    assert idx.shape == (25,) and np.unique(idx).size == 25
    assert idx.min() >= 0 and idx.max() < 300
    np.testing.assert_array_equal(s.landmark_points, X[idx])
    np.testing.assert_array_equal(np.sort(idx),
                                  np.sort(kmeans_plusplus(X, 25, random_state=7)[1]))
    again = decompose(X=X, method="nystrom", rank=25, landmarks="kmeans++", random_state=7)
    np.testing.assert_array_equal(again.landmarks, idx)
    # D² seeding spreads the landmarks: a larger smallest pairwise distance than uniform
    # draws on these data (checked over 5 seeds)
    def spread(L):
        d = np.sqrt(((L[:, None] - L[None]) ** 2).sum(-1))
        return d[np.triu_indices(len(L), 1)].min()
    u = [spread(X[decompose(X=X, method="nystrom", rank=25, random_state=s).landmarks])
         for s in range(5)]
    assert spread(X[idx]) > np.median(u)
    # fewer distinct rows than landmarks: still M distinct row indices
    Xd = np.repeat(X[:6], 10, axis=0)
    sd = decompose(X=Xd, method="nystrom", rank=9, landmarks="kmeans++")
    assert np.unique(sd.landmarks).size == 9 and sd.w_rank == 6


def test_explicit_landmarks_are_honoured():
    X, y, _ = _problem(2, 200, 3)
    idx = np.array([150, 3, 77, 12, 199, 0, 45, 88, 120, 60])
    s = decompose(X=X, method="nystrom", rank=10, landmarks=idx)
    np.testing.assert_array_equal(s.landmarks, idx)
    np.testing.assert_array_equal(s.landmark_points, X[idx])
    Kt = _explicit(X, idx, "rbf", {})
    _close(s.top_eigenvalues, _dense(Kt).eigenvalues[:s.rank], atol_scale=1e-12)
    # the order of the landmarks does not change K̃
    t = decompose(X=X, method="nystrom", rank=10, landmarks=list(np.sort(idx)))
    _close(t.top_eigenvalues, s.top_eigenvalues, rtol=1e-12)


@pytest.mark.parametrize("landmarks, match", [
    ("random", "landmarks='random'; allowed: 'uniform', 'kmeans\\+\\+'"),
    (np.arange(10.0), "integer row indices"),
    (np.arange(10).reshape(2, 5), "1-D array"),
    (np.arange(9), "9 indices but rank=10"),
    (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 200]), "index 200 is out of range; allowed: 0 .. 199"),
    (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, -1]), "index -1 is out of range"),
    (np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 8]), "distinct; repeated: \\[8\\]"),
])
def test_landmark_errors(landmarks, match):
    X, _, _ = _problem(0, 200, 2)
    with pytest.raises(ValueError, match=match):
        decompose(X=X, method="nystrom", rank=10, landmarks=landmarks)


@pytest.mark.parametrize("kw, match", [
    ({"block_size": 0}, "block_size=0; allowed: None or an integer >= 1"),
    ({"block_size": 2.5}, "block_size=2.5"),
    ({"block_size": True}, "block_size=True"),
    ({"scheduler": 3}, "scheduler=3; allowed: None, 'local'"),
    ({"scheduler": ""}, "scheduler=''"),
    ({"random_state": -1}, "random_state=-1; allowed"),
    ({"random_state": "a"}, "random_state='a'"),
])
def test_argument_errors(kw, match):
    X, _, _ = _problem(0, 50, 2)
    with pytest.raises(ValueError, match=match):
        decompose(X=X, method="nystrom", rank=5, **kw)


def test_input_errors():
    X, _, _ = _problem(0, 50, 2)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        decompose(X=bad, method="nystrom", rank=5)
    with pytest.raises(ValueError, match="2 dimension"):
        _nystrom.nystrom_spectrum(X[:, 0], "rbf", {}, 5)
    with pytest.raises(ValueError, match="not positive semi-definite on the landmarks"):
        decompose(X=X, kernel=lambda A, B: -(A @ B.T) - 1.0, method="nystrom", rank=5)
    spec = decompose(X=X, method="nystrom", rank=5)
    with pytest.raises(ValueError, match="X_new must have shape \\(n_new, 2\\)"):
        spec.project_points(np.zeros((3, 4)))


# ============================================================================ streaming
def test_streaming_blocks_give_the_in_memory_numbers(monkeypatch):
    X, y, X_new = _problem(4, 300, 3)
    Y = np.column_stack([y, X[:, 0]])
    mem = decompose(X=X, method="nystrom", rank=30, gamma=0.9)
    monkeypatch.setattr(_nystrom, "_CACHE_BUDGET", 0)
    stream = decompose(X=X, method="nystrom", rank=30, gamma=0.9, block_size=7)
    assert mem.C_cached and not stream.C_cached
    assert stream.block_size == 7 and mem.block_size == 300
    np.testing.assert_array_equal(mem.landmarks, stream.landmarks)
    _close(stream.eigenvalues, mem.eigenvalues, rtol=1e-12, atol_scale=1e-14)
    _close(stream.project(Y), mem.project(Y), rtol=1e-12, atol_scale=1e-13)
    _close(stream.project(y), mem.project(y), rtol=1e-12, atol_scale=1e-13)
    c = np.random.default_rng(0).standard_normal((stream.rank + 1, 3))
    _close(stream.reconstruct(c), mem.reconstruct(c), rtol=1e-11, atol_scale=1e-12)
    _close(stream.project_points(X_new), mem.project_points(X_new), rtol=1e-11,
           atol_scale=1e-12)
    assert stream.trace_error == pytest.approx(mem.trace_error, rel=1e-12)


def test_a_streaming_pass_keeps_one_block_not_the_kernel_columns(monkeypatch):
    n, M, block = 20000, 50, 500
    X = np.random.default_rng(0).standard_normal((n, 4))
    y = np.sin(X[:, 0])
    c_bytes = n * M * 8  # 8 MB: C whole
    # the measurement sees numpy's arrays: with C cached the peak holds C
    tracemalloc.start()
    try:
        cached = decompose(X=X, method="nystrom", rank=M, block_size=block)
        peak_cached = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cached.C_cached and peak_cached >= c_bytes
    monkeypatch.setattr(_nystrom, "_CACHE_BUDGET", 0)
    tracemalloc.start()
    try:
        spec = decompose(X=X, method="nystrom", rank=M, block_size=block)
        peak_build = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        z = spec.project(y)
        f = spec.reconstruct(z)
        peak_pass = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not spec.C_cached
    # O(block · M + M²) working memory: a few blocks (200 KB each) and M × M matrices,
    # plus the (n,) vectors of a projection and a reconstruction
    budget = 6 * block * M * 8 + 20 * M * M * 8 + 4 * n * 8
    assert peak_build < budget < c_bytes / 2, (peak_build, budget)
    assert peak_pass < budget, (peak_pass, budget)
    _close(z, cached.project(y), rtol=1e-11, atol_scale=1e-13)
    assert f.shape == (n,)


def test_verbose_reports_blocks_on_stderr(capsys):
    X, _, _ = _problem(0, 100, 2)
    decompose(X=X, method="nystrom", rank=10, block_size=30, verbose=True)
    err = capsys.readouterr().err
    assert "[nystrom] build: block 1/4" in err and "block 4/4" in err and "elapsed" in err
    decompose(X=X, method="nystrom", rank=10)
    assert capsys.readouterr().err == ""


# ============================================================================ refusals
def test_what_a_nystrom_spectrum_refuses():
    X, y, X_new = _problem(0, 120, 2)
    spec = decompose(X=X, method="nystrom", rank=15)
    with pytest.raises(ValueError, match="project_points\\(X_new\\), projected=True"):
        spec.project_rows(gram(X_new, X))
    with pytest.raises(ValueError, match="no n x n matrix"):
        spec.eigenvectors
    path = self_distill(spec, y, epsilon=_budget(spec, y), n_rounds=2)
    with pytest.raises(ValueError, match="gcv"):
        path.loo()
    assert np.all(np.isfinite(path.gcv()))


def test_predict_takes_projected_points():
    X, y, X_new = _problem(0, 120, 2)
    spec = decompose(X=X, method="nystrom", rank=15)
    path = self_distill(spec, y, epsilon=_budget(spec, y), n_rounds=2)
    F = spec.project_points(X_new)
    assert F.shape == (len(X_new), spec.rank + 1) and np.all(F[:, -1] == 0)
    assert path.predict(F, [0, 1], projected=True).shape == (2, len(X_new))
    with pytest.raises(ValueError, match="project_points"):
        # rows of K are projected (few new points): the spectrum refuses them
        path.predict(gram(X_new[:1], X), [0, 1])


def test_pickle_keeps_the_numbers():
    X, y, X_new = _problem(1, 150, 2)
    spec = decompose(X=X, method="nystrom", rank=12)
    back = pickle.loads(pickle.dumps(spec))
    np.testing.assert_array_equal(back.eigenvalues, spec.eigenvalues)
    _close(back.project(y), spec.project(y), rtol=1e-14, atol_scale=1e-15)
    _close(back.project_points(X_new), spec.project_points(X_new), rtol=1e-14, atol_scale=0)


# ============================================================================ Dask
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None)
    try:
        yield cl
    finally:
        cl.close()


@pytest.fixture(scope="module")
def client(cluster):
    from distributed import Client

    c = Client(cluster)
    try:
        yield c
    finally:
        c.close()


def _dask_vs_local(spec_d, spec_l, X_new, y):
    _close(spec_d.eigenvalues, spec_l.eigenvalues, rtol=1e-10, atol_scale=1e-13)
    assert spec_d.trace_error == pytest.approx(spec_l.trace_error, rel=1e-10)
    _close(spec_d.project(y), spec_l.project(y), rtol=1e-10, atol_scale=1e-12)
    eps = _budget(spec_l, y)
    a = self_distill(spec_d, y, epsilon=eps)
    b = self_distill(spec_l, y, epsilon=eps)
    assert a.collapse_round == b.collapse_round
    _close(a.ridges, b.ridges, rtol=1e-10)
    idx = np.arange(len(a))
    _close(a.train_predictions(idx), b.train_predictions(idx), rtol=1e-10, atol_scale=1e-12)
    _close(_predict_points(a, spec_d, X_new, idx), _predict_points(b, spec_l, X_new, idx),
           rtol=1e-10, atol_scale=1e-12)


def test_dask_client_gives_the_local_numbers(client, capsys):
    X, y, X_new = _problem(12, 400, 3)
    local = decompose(X=X, method="nystrom", rank=40, gamma=0.7, block_size=60)
    capsys.readouterr()
    with decompose(X=X, method="nystrom", rank=40, gamma=0.7, block_size=60,
                   scheduler=client, verbose=True) as spec:
        assert not spec.C_cached and spec._blocks.client is client
        build = capsys.readouterr().err
        assert "build: block 7/7" in build and "dask" in build and "local" not in build
        _dask_vs_local(spec, local, X_new, y)
        later = capsys.readouterr().err  # projections and reconstructions ran on the cluster
        assert "C^T v" in later and "residual" in later and "C g" in later
        assert "dask" in later and "local" not in later
    assert spec._blocks.client is None  # closed: detached, later passes here
    assert client.status == "running"   # the caller's client is not closed
    _close(spec.project(2 * y), local.project(2 * y), rtol=1e-10, atol_scale=1e-12)


def test_dask_by_address_closes_its_client(cluster):
    X, y, X_new = _problem(13, 300, 2)
    local = decompose(X=X, method="nystrom", rank=25, kernel="laplacian", block_size=70)
    spec = decompose(X=X, method="nystrom", rank=25, kernel="laplacian", block_size=70,
                     scheduler=cluster.scheduler_address)
    assert spec._blocks.client is None
    _dask_vs_local(spec, local, X_new, y)


def test_local_scheduler_starts_and_closes_its_cluster(cluster, monkeypatch):
    # "local" starts a LocalCluster; here its factory hands out a client of the module's
    # cluster (one cluster per module), and the build must close that client
    from distributed import Client

    made = []

    def fake():
        made.append(Client(cluster.scheduler_address))
        return made[-1]

    monkeypatch.setattr(_nystrom, "_start_local_client", fake)
    X, y, X_new = _problem(14, 250, 3)
    spec = decompose(X=X, method="nystrom", rank=20, block_size=50, scheduler="local")
    assert len(made) == 1 and made[0].status == "closed"
    local = decompose(X=X, method="nystrom", rank=20, block_size=50)
    _dask_vs_local(spec, local, X_new, y)


def test_a_closed_client_falls_back_to_local_passes(cluster):
    from distributed import Client

    X, y, _ = _problem(15, 200, 2)
    c = Client(cluster.scheduler_address)
    spec = decompose(X=X, method="nystrom", rank=15, block_size=40, scheduler=c)
    c.close()
    local = decompose(X=X, method="nystrom", rank=15, block_size=40)
    _close(spec.project(y), local.project(y), rtol=1e-10, atol_scale=1e-12)
    back = pickle.loads(pickle.dumps(spec))
    assert back._blocks.client is None


def test_hilbert_sd_exports_decompose_for_nystrom():
    X, _, _ = _problem(0, 40, 2)
    assert isinstance(hilbert_sd.spectral.decompose(X=X, method="nystrom", rank=4),
                      _nystrom.NystromSpectrum)
