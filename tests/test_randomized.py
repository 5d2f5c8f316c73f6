"""decompose(method="randomized"): the top-r eigenpairs of K by a randomized range finder with
power iterations (hilbert_sd._randomized).

References, all independent of the code under test: ``scipy.linalg.eigh`` on the explicit
kernel matrix (eigenvalues, eigenvectors, tail energies Σ_{k>r} (u_kᵀ v)² summed without
cancellation), a literal numpy RBF kernel, the dense backend on the same K (for rank = n)
or on the explicit rank-r truncation ``K_r = U_r diag(λ_r) U_rᵀ`` built here from scipy's
eigenpairs, and counts of the kernel evaluations (a wrapped ``hilbert_sd.kernels.gram``).
"""

import re
import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.linalg

import hilbert_sd
from hilbert_sd import kernels
from hilbert_sd._randomized import RandomizedSpectrum
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.flow import flow_path
from hilbert_sd.spectral import LowRankSpectrum, decompose

RTOL = 1e-10


def _rbf(A, B, gamma):
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.exp(-gamma * np.maximum(d2, 0.0))


def _rel(a, b):
    """Relative distance in the 2-norm; infinite entries (collapsed rounds) must coincide."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    inf = np.isinf(b)
    if np.any(inf):
        if not np.array_equal(np.isinf(a), inf) or np.any(a[inf] != b[inf]):
            return np.inf
        a, b = a[~inf], b[~inf]
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


def _eigh(K):
    """scipy's eigenpairs, descending."""
    lam, U = scipy.linalg.eigh(K)
    return lam[::-1].copy(), U[:, ::-1].copy()


def _problem(kind, seed, n=90):
    """(X, K, X_new, K_new, y, kernel, params) with K and K_new literal numpy."""
    rng = np.random.default_rng(seed)
    if kind == "rbf":
        X, Xn = rng.standard_normal((n, 3)), rng.standard_normal((17, 3))
        gamma = float(rng.uniform(0.2, 1.0))
        K, K_new, kernel, params = _rbf(X, X, gamma), _rbf(Xn, X, gamma), "rbf", {
            "gamma": gamma}
    elif kind == "linear":  # rank p = 6 < n: a null space of dimension n - 6
        X, Xn = rng.standard_normal((n, 6)), rng.standard_normal((17, 6))
        K, K_new, kernel, params = X @ X.T, Xn @ X.T, "linear", {}
    else:
        raise AssertionError(kind)
    K = 0.5 * (K + K.T)
    y = K[:, :2].sum(1) / n + 0.3 * rng.standard_normal(n)
    return X, K, Xn, K_new, y, kernel, params


def _feasible_epsilon(K, y, frac=0.05):
    """A budget between the null-space floor and ‖y‖²/n, from scipy's eigenpairs."""
    lam, U = _eigh(K)
    z = U.T @ y
    floor = float(np.sum(z[lam <= 1e-9 * lam[0]] ** 2)) / len(y)
    return floor + frac * (float(y @ y) / len(y) - floor)


# ============================================================== rank = n equals dense
@pytest.mark.parametrize("kind", ["rbf", "linear"])
@pytest.mark.parametrize("source", ["K", "X"])
def test_full_rank_is_the_dense_decomposition(kind, source):
    X, K, Xn, K_new, y, kernel, params = _problem(kind, seed=3)
    n = len(y)
    dense = decompose(K, method="dense")
    if source == "K":
        spec = decompose(K, method="randomized", rank=n)
    else:
        spec = decompose(X=X, kernel=kernel, method="randomized", rank=n, **params)
    assert isinstance(spec, RandomizedSpectrum) and isinstance(spec, LowRankSpectrum)
    assert spec.rank == n and spec.eigenvalues.shape == (n + 1,)
    lam_ref, _ = _eigh(K)
    assert _rel(spec.top_eigenvalues, dense.eigenvalues) <= RTOL
    assert _rel(spec.top_eigenvalues, np.maximum(lam_ref, 0.0)) <= RTOL
    assert abs(spec.trace_error) <= RTOL * np.trace(K)

    eps = _feasible_epsilon(K, y)
    a = hilbert_sd.self_distill(spec, y, epsilon=eps, n_rounds=4)
    b = hilbert_sd.self_distill(dense, y, epsilon=eps, n_rounds=4)
    assert _rel(a.ridges, b.ridges) <= RTOL
    rounds = np.arange(5)
    assert _rel(a.train_predictions(rounds), b.train_predictions(rounds)) <= RTOL
    assert _rel(a.predict(K_new, rounds), b.predict(K_new, rounds)) <= RTOL
    assert _rel(a.gcv(), b.gcv()) <= RTOL
    if source == "X":
        P = spec.project_points(Xn)
        assert P.shape == (len(Xn), n + 1)
        assert _rel(P, spec.project_rows(K_new)) <= RTOL
        assert _rel(a.predict(kernels.gram(Xn, X, kernel=kernel, **params), rounds),
                    b.predict(K_new, rounds)) <= RTOL

    times = np.array([0.0, 0.5, 5.0, 50.0, 500.0]) * n
    fa, fb = flow_path(spec, y, times), flow_path(dense, y, times)
    assert _rel(fa.train_predictions(), fb.train_predictions()) <= RTOL
    assert _rel(fa.predict(K_new), fb.predict(K_new)) <= RTOL


# ============================================================== top r of a fast-decaying RBF
N, R, GAMMA = 300, 40, 0.3


@pytest.fixture(scope="module")
def rbf300():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, 2))
    K = _rbf(X, X, GAMMA)
    K = 0.5 * (K + K.T)
    lam, U = _eigh(K)
    V = rng.standard_normal((N, 3))
    spec = decompose(K, method="randomized", rank=R)
    return X, K, lam, U, V, spec


def test_top_eigenvalues_match_eigh(rbf300):
    X, K, lam, U, V, spec = rbf300
    assert spec.rank == R and spec.n == N
    # the problem is one where every top eigenvalue is determined to ~1e-10 of itself
    assert lam[R - 1] > 1e-6 * lam[0]
    rel = np.abs(spec.top_eigenvalues - lam[:R]) / lam[:R]
    assert rel.max() <= RTOL, rel.max()
    assert spec.tail_bound == spec.top_eigenvalues[-1]
    # trace outside the top r: the sum of scipy's other eigenvalues
    assert abs(spec.trace_error - lam[R:].sum()) <= RTOL * np.trace(K)
    # Ritz values: residual norms bound the distance to an eigenvalue of K
    dist = np.min(np.abs(spec.top_eigenvalues[:, None] - lam[None, :]), axis=1)
    assert np.all(dist <= spec.residual_norms + 1e-13 * lam[0])
    assert spec.residual_norms.max() <= 1e-10 * lam[0]
    assert spec.rank_tolerance == pytest.approx(100 * N * np.finfo(float).eps * lam[0],
                                                rel=1e-12)


def test_projections_and_tail_energy_match_eigh(rbf300):
    X, K, lam, U, V, spec = rbf300
    z = spec.project(V)
    assert z.shape == (R + 1, 3)
    ref = U[:, :R].T @ V
    # align the sign of each eigenvector with scipy's
    signs = np.sign(np.sum(spec.basis() * U[:, :R], axis=0))
    assert np.all(np.abs(np.sum(spec.basis() * U[:, :R], axis=0)) > 1 - 1e-9)
    scale = np.linalg.norm(V, axis=0)
    assert np.max(np.abs(z[:R] * signs[:, None] - ref) / scale) <= RTOL
    assert np.max(np.abs(z[:R] ** 2 - ref ** 2) / scale ** 2) <= RTOL
    # tail: ‖v‖² − Σ_{k≤r} (u_kᵀ v)², summed over scipy's other eigenvectors (no cancellation)
    tail_ref = np.sum((U[:, R:].T @ V) ** 2, axis=0)
    assert np.max(np.abs(z[-1] ** 2 / tail_ref - 1.0)) <= RTOL
    assert np.allclose(spec.tail_energy(V), tail_ref, rtol=RTOL, atol=0)
    # a vector inside the top-r span has (round-off) zero tail, computed without cancellation
    B = spec.basis()
    inside = B @ np.linspace(1.0, 2.0, R)
    assert spec.project(inside)[-1] <= 1e-14 * np.linalg.norm(inside)
    # a tail of 1e-9 of the norm: ‖v‖² − ‖z‖² would lose it to cancellation (1e-18 of
    # ‖v‖², below the round-off of either square); the residual keeps it to ~1e-7
    w = np.random.default_rng(8).standard_normal(N)
    for _ in range(2):
        w -= B @ (B.T @ w)
    w /= np.linalg.norm(w)
    delta = 1e-9 * np.linalg.norm(inside)
    assert abs(spec.project(inside + delta * w)[-1] / delta - 1.0) <= 1e-5
    # reconstruct: U_r c (the tail coefficient is dropped)
    c = np.append(ref[:, 0] * signs, 123.0)
    assert _rel(spec.reconstruct(c), U[:, :R] @ ref[:, 0]) <= RTOL


def _projector_apply(spec, V):
    B = spec.basis()
    return B @ (B.T @ V)


def test_from_inputs_equals_from_matrix(rbf300):
    X, K, lam, U, V, spec = rbf300
    sx = decompose(X=X, kernel="rbf", gamma=GAMMA, method="randomized", rank=R)
    assert np.max(np.abs(sx.top_eigenvalues - spec.top_eigenvalues) / lam[:R]) <= RTOL
    assert _rel(_projector_apply(sx, V), _projector_apply(spec, V)) <= RTOL
    assert np.max(np.abs(sx.project(V)[-1] / spec.project(V)[-1] - 1)) <= RTOL
    assert abs(sx.trace_error - spec.trace_error) <= RTOL * N
    # new points: project_points is k(X_new, X) U_r and a zero column
    Xn = np.random.default_rng(5).standard_normal((11, 2))
    P = sx.project_points(Xn)
    assert P.shape == (11, R + 1) and np.all(P[:, -1] == 0.0)
    ref = _rbf(Xn, X, GAMMA) @ sx.basis()
    assert _rel(P[:, :-1], ref) <= RTOL
    assert _rel(sx.project_rows(_rbf(Xn, X, GAMMA)), P) <= RTOL


def test_seeds_reproduce_and_differ_only_at_round_off(rbf300):
    X, K, lam, U, V, spec = rbf300
    again = decompose(K, method="randomized", rank=R, random_state=0)
    assert np.array_equal(again.eigenvalues, spec.eigenvalues)
    assert np.array_equal(again.basis(), spec.basis())
    default = decompose(K, method="randomized", rank=R)  # random_state=None means 0
    assert np.array_equal(default.basis(), spec.basis())
    other = decompose(K, method="randomized", rank=R, random_state=12345)
    assert not np.array_equal(other.basis(), spec.basis())
    assert np.max(np.abs(other.top_eigenvalues - spec.top_eigenvalues) / lam[:R]) <= RTOL
    assert _rel(_projector_apply(other, V), _projector_apply(spec, V)) <= RTOL


def test_self_distill_equals_the_explicit_truncation(rbf300):
    X, K, lam, U, V, spec = rbf300
    y = K[:, :3].sum(1) / 10 + 0.2 * np.random.default_rng(1).standard_normal(N)
    # K_r from scipy's eigenpairs, decomposed by the dense backend
    K_r = (U[:, :R] * lam[:R]) @ U[:, :R].T
    K_r = 0.5 * (K_r + K_r.T)
    dense_r = decompose(K_r, method="dense")
    tail = float(np.sum((U[:, R:].T @ y) ** 2))
    eps = (tail + 0.3 * (float(y @ y) - tail)) / N
    a = hilbert_sd.self_distill(spec, y, epsilon=eps, n_rounds=5)
    b = hilbert_sd.self_distill(dense_r, y, epsilon=eps, n_rounds=5)
    assert _rel(a.ridges, b.ridges) <= 1e-8
    rounds = np.arange(6)
    assert _rel(a.train_predictions(rounds), b.train_predictions(rounds)) <= 1e-8
    # gcv: on K_r the tail's energy sits in its zero eigenvalues, here in the tail
    # pseudo-direction; both count it as residual with a zero filter
    assert _rel(a.gcv(), b.gcv()) <= 1e-8
    # the same for a fixed ridge and for gradient flow
    a2 = hilbert_sd.self_distill(spec, y, alpha=0.1, n_rounds=3)
    b2 = hilbert_sd.self_distill(dense_r, y, alpha=0.1, n_rounds=3)
    assert _rel(a2.gcv(), b2.gcv()) <= 1e-8
    times = np.array([1.0, 10.0, 100.0]) * N
    fa, fb = flow_path(spec, y, times), flow_path(dense_r, y, times)
    assert _rel(fa.gcv(), fb.gcv()) <= 1e-8
    assert _rel(fa.train_predictions(), fb.train_predictions()) <= 1e-8
    # loo needs every direction: refused
    with pytest.raises(ValueError, match="loo needs the residuals"):
        a.loo()
    with pytest.raises(ValueError, match="leverages need all n eigenvectors"):
        spec.leverages(np.ones(R + 1))
    # the certificate is attached (the top pairs are K's own)
    assert spec.certifiable and a.certificate is not None


def test_eigenvectors_refused_basis_given(rbf300):
    X, K, lam, U, V, spec = rbf300
    with pytest.raises(ValueError, match="holds 40 of the 300 eigenvectors"):
        spec.eigenvectors
    B = spec.basis()
    assert B.shape == (N, R)
    assert np.abs(B.T @ B - np.eye(R)).max() <= 1e-13
    assert np.array_equal(spec.basis(5), B[:, :5])
    assert spec.basis(0).shape == (N, 0)
    for bad in (R + 1, -1, 2.5):
        with pytest.raises(ValueError, match=r"allowed: integers 0 \.\. 40"):
            spec.basis(bad)
    with pytest.raises(ValueError):  # read-only view: the spectrum cannot be corrupted
        B[0, 0] = 1.0
    with pytest.raises(ValueError, match="project_points needs decompose"):
        spec.project_points(X[:3])
    assert "RandomizedSpectrum" in repr(spec) and "rank=40" in repr(spec)


# ============================================================== blocked, matrix-free path
def _count_gram(monkeypatch):
    calls = []
    real = kernels.gram

    def wrapped(X, Y=None, **kw):
        calls.append((np.shape(X)[0], np.shape(X if Y is None else Y)[0]))
        return real(X, Y, **kw)

    monkeypatch.setattr(kernels, "gram", wrapped)
    return calls


def test_block_size_changes_nothing_and_the_passes_are_counted(monkeypatch):
    rng = np.random.default_rng(7)
    n, r = 150, 12
    X = rng.standard_normal((n, 2))
    base = decompose(X=X, kernel="rbf", gamma=0.5, method="randomized", rank=r)
    calls = _count_gram(monkeypatch)
    small = decompose(X=X, kernel="rbf", gamma=0.5, method="randomized", rank=r, block_size=7)
    lam = _eigh(_rbf(X, X, 0.5))[0]
    assert np.max(np.abs(small.top_eigenvalues - base.top_eigenvalues) / lam[:r]) <= RTOL
    V = rng.standard_normal((n, 2))
    assert _rel(_projector_apply(small, V), _projector_apply(base, V)) <= RTOL
    assert abs(small.trace_error - base.trace_error) <= RTOL * n
    # rank < 0.1 n is false here (12 < 15 is true): default q = 7, 2q + 2 = 16 passes
    assert small.n_passes == 16
    assert len(calls) == 16 * int(np.ceil(n / 7))
    assert all(rows <= 7 and cols == n for rows, cols in calls)
    for q in (0, 1, 3):
        calls.clear()
        s = decompose(X=X, kernel="rbf", gamma=0.5, method="randomized", rank=40,
                      n_power_iter=q, block_size=50)
        assert s.n_passes == 2 * q + 2 and len(calls) == (2 * q + 2) * 3
    calls.clear()
    s = decompose(X=X, kernel="rbf", gamma=0.5, method="randomized", rank=40, block_size=50)
    assert s.n_passes == 10  # rank >= 0.1 n: default q = 4


def test_kernel_matrix_is_never_materialized(monkeypatch):
    rng = np.random.default_rng(11)
    n, r, b = 2000, 20, 200
    X = rng.standard_normal((n, 3))
    calls = _count_gram(monkeypatch)
    kernels.gram(X[:b], X, kernel="rbf", gamma=0.2)  # numba's kernels loaded from the cache
    calls.clear()
    tracemalloc.start()
    try:
        spec = decompose(X=X, kernel="rbf", gamma=0.2, method="randomized", rank=r,
                         block_size=b)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < n * n * 8 / 4, peak  # K would be 32 MB; blocks of 200 rows are 3.2 MB
    assert max(rows for rows, _ in calls) == b
    assert spec.rank == r and np.all(np.diff(spec.top_eigenvalues) <= 0)
    # and the result is K's top 20 (checked against scipy on the explicit K)
    lam = scipy.linalg.eigh(_rbf(X, X, 0.2), eigvals_only=True)[::-1]
    assert np.max(np.abs(spec.top_eigenvalues - lam[:r]) / lam[:r]) <= RTOL


def test_verbose_reports_every_pass(capsys):
    X = np.random.default_rng(2).standard_normal((60, 2))
    s = decompose(X=X, method="randomized", rank=10, n_power_iter=1, verbose=True)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "kernel pass" in ln]
    assert len(lines) == s.n_passes == 4
    assert re.search(r"kernel pass 4 of 4 \(\d+\.\d s elapsed\)", lines[-1])


# ============================================================== indefinite, validation
def test_indefinite_kernel_raises_or_warns():
    rng = np.random.default_rng(4)
    n = 40
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = np.linspace(5.0, 0.0, n)
    lam[-3:] = [-1.0, -2.0, -3.0]  # clearly negative, large in magnitude: in the subspace
    K = (Q * lam) @ Q.T
    K = 0.5 * (K + K.T)
    for rank in (10, n):
        with pytest.raises(ValueError, match="not positive semi-definite"):
            decompose(K, method="randomized", rank=rank)
    with pytest.warns(NumericalWarning, match="not positive semi-definite"):
        s = decompose(K, method="randomized", rank=n, on_indefinite="warn")
    assert s.n_clipped == 3 and s.most_negative == pytest.approx(-3.0, rel=1e-10)
    assert np.all(s.top_eigenvalues >= 0)
    # round-off negatives of a PSD low-rank kernel are clipped silently
    Xl = rng.standard_normal((n, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = decompose(Xl @ Xl.T, method="randomized", rank=n)
    assert np.all(s.top_eigenvalues >= 0)
    assert abs(s.most_negative) <= s.rank_tolerance


def test_validation_errors():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    K = _rbf(X, X, 1.0)
    cases = [
        (dict(X=X[:, 0]), "X must have 2 dimension"),
        (dict(X=np.where(np.arange(60).reshape(30, 2) == 7, np.nan, X)), "NaN or infinite"),
        (dict(X=X, n_oversamples=-1), r"n_oversamples=-1 is out of range; allowed: integers"),
        (dict(X=X, n_oversamples=2.5), r"n_oversamples=2.5 is out of range"),
        (dict(X=X, n_power_iter=-2), r"n_power_iter=-2 is out of range; allowed: integers >= 0"
                                     " or None"),
        (dict(X=X, block_size=0), r"block_size=0 is out of range; allowed: integers >= 1"),
        (dict(X=X, random_state=-1), r"random_state=-1"),
        (dict(X=X, on_indefinite="ignore"), "on_indefinite='ignore'"),
        (dict(X=X, scheduler=3), "scheduler=3; allowed"),
        (dict(K=K, scheduler="local"), "scheduler needs the inputs X"),
        (dict(K=K[:, :20]), "must be square"),
        (dict(K=K + np.triu(np.full_like(K, 1e-3), 1)), "must be symmetric"),
    ]
    for kwargs, msg in cases:
        with pytest.raises(ValueError, match=msg):
            decompose(method="randomized", rank=5, **kwargs)
    # check_input=False skips the O(n²) checks (an asymmetric K is then read as it is)
    decompose(K + np.triu(np.full_like(K, 1e-3), 1), method="randomized", rank=5,
              check_input=False)
    with pytest.raises(ValueError, match="X_new must have shape"):
        decompose(X=X, method="randomized", rank=5).project_points(np.ones((2, 3)))


# ============================================================== dask
def test_dask_cluster_gives_the_local_numbers():
    from dask.distributed import Client, LocalCluster

    rng = np.random.default_rng(9)
    n, r = 400, 15
    X = rng.standard_normal((n, 3))
    local = decompose(X=X, kernel="rbf", gamma=0.3, method="randomized", rank=r)
    local_b = decompose(X=X, kernel="rbf", gamma=0.3, method="randomized", rank=r,
                        block_size=64)
    V = rng.standard_normal((n, 2))
    lam = local.top_eigenvalues

    def same(s, ref):
        assert np.max(np.abs(s.top_eigenvalues - ref.top_eigenvalues) / lam) <= RTOL
        assert _rel(_projector_apply(s, V), _projector_apply(ref, V)) <= RTOL
        assert abs(s.trace_error - ref.trace_error) <= RTOL * n
        assert s.n_passes == ref.n_passes

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    client = Client(cluster)
    try:
        remote = decompose(X=X, kernel="rbf", gamma=0.3, method="randomized", rank=r,
                           scheduler=client)
        same(remote, local)
        # the blocks really ran on the two workers
        assert len(client.scheduler_info()["workers"]) == 2
        remote_b = decompose(X=X, kernel="rbf", gamma=0.3, method="randomized", rank=r,
                             block_size=64, scheduler=cluster.scheduler_address)
        same(remote_b, local_b)
        assert np.array_equal(remote_b.top_eigenvalues, local_b.top_eigenvalues) or \
            np.max(np.abs(remote_b.top_eigenvalues - local_b.top_eigenvalues) / lam) <= 1e-13
        assert client.status == "running"  # a Client passed in is left open
    finally:
        client.close()
        cluster.close()
    # "local": a cluster started and closed inside the call
    own = decompose(X=X, kernel="rbf", gamma=0.3, method="randomized", rank=r,
                    scheduler="local")
    same(own, local)
