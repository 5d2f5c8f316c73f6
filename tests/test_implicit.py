"""decompose(K, method="implicit"): the exact eigenbasis held as Householder reflectors and the
tridiagonal eigenvectors, never as U. It must be the dense backend to round-off everywhere the
library reaches the basis.

References: the dense backend (``decompose(K, method="dense")``, LAPACK's dsyevr with the
explicit U), numpy's ``eigh`` for the eigenspaces (projectors onto well-separated clusters,
not signs), literal matrix products with numpy's eigenvectors and scikit-learn's KernelRidge.
"""

import warnings

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge

from hilbert_sd import self_distill
from hilbert_sd._implicit import ImplicitSpectrum, eigh_implicit
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.flow import flow_path
from hilbert_sd.spectral import Spectrum, decompose

RTOL = 1e-10


def _rbf(A, B, gamma):
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    return np.exp(-gamma * np.maximum(d2, 0.0))


def _problem(kind, seed, n=120, m=None):
    """(K, K_new, y) for a kernel of the given kind."""
    rng = np.random.default_rng(seed)
    if kind == "rbf":
        X = rng.standard_normal((n, 3))
        Xn = rng.standard_normal((25, 3))
        gamma = rng.uniform(0.1, 1.0)
        K, K_new = _rbf(X, X, gamma), _rbf(Xn, X, gamma)
    elif kind == "duplicates":  # rank-deficient: a third of the inputs repeated exactly
        # (5-D inputs and gamma = 1: the distinct part well conditioned, the null space exact)
        base = rng.standard_normal((n - n // 3, 5))
        X = np.vstack([base, base[rng.choice(len(base), n // 3, replace=False)]])
        X = X[rng.permutation(n)]
        Xn = rng.standard_normal((25, 5))
        K, K_new = _rbf(X, X, 1.0), _rbf(Xn, X, 1.0)
    elif kind == "linear":  # rank p < n
        X = rng.standard_normal((n, 7))
        Xn = rng.standard_normal((25, 7))
        K, K_new = X @ X.T, Xn @ X.T
    else:
        raise AssertionError(kind)
    K = 0.5 * (K + K.T)
    y = rng.standard_normal(n if m is None else (n, m))
    y = y + (K[:, :3].sum(1) if m is None else K[:, :m])  # a signal in the top directions
    return K, K_new, y


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), np.finfo(float).tiny))


def _budget(spec, y):
    """A budget every round up to 3 meets: a fifth of the energy in the range, plus the null."""
    n = spec.n
    null = np.sum(spec.null_energy(y))
    return float((null + 0.2 * (np.sum(np.asarray(y) ** 2) - null)) / n)


PROBLEMS = [("rbf", s) for s in range(3)] + [("duplicates", 10), ("linear", 20)]


# ============================================================================ factorization
@pytest.mark.parametrize("kind,seed", PROBLEMS)
def test_eigenvalues_equal_dense(kind, seed):
    K, _, _ = _problem(kind, seed)
    d, s = decompose(K, method="dense"), decompose(K, method="implicit")
    assert isinstance(s, ImplicitSpectrum) and isinstance(s, Spectrum)
    assert s.method == "implicit" and s.n == d.n
    assert np.all(np.diff(s.eigenvalues) <= 0) and np.all(s.eigenvalues >= 0)
    assert np.max(np.abs(s.eigenvalues - d.eigenvalues)) <= RTOL * d.eigenvalues[0]
    assert s.rank_tolerance == pytest.approx(d.rank_tolerance, rel=1e-10)
    assert s.numerical_rank == d.numerical_rank
    if kind == "linear":
        assert s.numerical_rank == 7
    if kind == "duplicates":
        assert s.numerical_rank <= s.n - s.n // 3


@pytest.mark.parametrize("driver", ["stevd", "stemr"])
def test_both_tridiagonal_drivers_reconstruct_K(driver):
    K, _, _ = _problem("rbf", 4, n=150)
    s = eigh_implicit(K, driver=driver)
    U = s.eigenvectors
    assert np.max(np.abs(U.T @ U - np.eye(s.n))) < 1e-11
    assert np.max(np.abs((U * s.eigenvalues) @ U.T - K)) < 1e-12 * np.abs(K).max() * s.n


def _clusters(lam, tol):
    """Index ranges of eigenvalues (descending) closer than tol to a neighbour."""
    starts = [0] + [i for i in range(1, len(lam)) if lam[i - 1] - lam[i] > tol]
    ends = starts[1:] + [len(lam)]
    return list(zip(starts, ends))


@pytest.mark.parametrize("kind,seed", PROBLEMS)
def test_eigenvectors_span_numpys_eigenspaces(kind, seed):
    K, _, _ = _problem(kind, seed)
    s = decompose(K, method="implicit")
    w, Q = np.linalg.eigh(K)
    w, Q = w[::-1], Q[:, ::-1]
    U = s.eigenvectors
    scale = w[0]
    checked = 0
    # clusters separated from both neighbours by >= 1e-6 lambda_max: eigenvector error
    # ~ eps ||K|| / gap <= 1e-10; compare the projectors onto each cluster
    for a, b in _clusters(w, 1e-6 * scale):
        P_ref = Q[:, a:b] @ Q[:, a:b].T
        P = U[:, a:b] @ U[:, a:b].T
        assert np.max(np.abs(P - P_ref)) < 1e-8, (a, b)
        checked += 1
    assert checked >= min(10, s.numerical_rank + 1)
    if kind in ("linear", "duplicates"):  # the null space is one cluster, spanned alike
        r = s.numerical_rank
        P_null = U[:, r:] @ U[:, r:].T
        assert np.max(np.abs(P_null - Q[:, r:] @ Q[:, r:].T)) < 1e-8
    # basis(rank) is the first columns of the explicit eigenvectors
    np.testing.assert_allclose(s.basis(5), U[:, :5], rtol=0, atol=1e-13)
    assert s.basis(0).shape == (s.n, 0)
    with pytest.raises(ValueError, match="out of range"):
        s.basis(s.n + 1)


def test_products_equal_literal_products_with_the_explicit_basis():
    K, K_new, y = _problem("rbf", 5, n=90, m=3)
    s = decompose(K, method="implicit")
    U = s.eigenvectors
    rng = np.random.default_rng(0)
    c = rng.standard_normal((s.n, 3))
    stack = rng.standard_normal((4, s.n, 3))
    assert _rel(s.project(y), U.T @ y) < 1e-12
    assert _rel(s.project(y[:, 0]), U.T @ y[:, 0]) < 1e-12
    assert _rel(s.reconstruct(c), U @ c) < 1e-12
    assert _rel(s.reconstruct(c[:, 1]), U @ c[:, 1]) < 1e-12
    assert _rel(s.reconstruct(stack), np.einsum("ik,jkm->jim", U, stack)) < 1e-12
    assert _rel(s.project_rows(K_new), K_new @ U) < 1e-12
    assert s.project_rows(K_new[:0]).shape == (0, s.n)
    H = rng.uniform(0, 1, (3, s.n))
    ref = np.einsum("ik,jk->ji", U * U, H)
    assert _rel(s.leverages(H), ref) < 1e-12
    assert _rel(s.leverages(H[0]), ref[0]) < 1e-12
    ref_c = np.einsum("ik,jk->ji", U * U, 1.0 - H)
    assert _rel(s.leverages(H, complement=True), ref_c) < 1e-12
    with pytest.raises(ValueError, match="filters must have shape"):
        s.leverages(H[:, :-1])
    assert _rel(s.null_energy(y), decompose(K, method="dense").null_energy(y)) < 1e-8


def test_projections_are_cached_and_read_only():
    K, _, y = _problem("rbf", 6, n=60)
    s = decompose(K, method="implicit")
    z = s.project(y)
    assert s.project(y.copy()) is z
    assert not z.flags.writeable
    assert s.project(y + 1.0) is not z


# ============================================================================ paths
@pytest.mark.parametrize("kind,seed", PROBLEMS)
@pytest.mark.parametrize("m", [None, 3])
def test_self_distillation_equals_dense(kind, seed, m):
    K, K_new, y = _problem(kind, seed, m=m)
    d, s = decompose(K, method="dense"), decompose(K, method="implicit")
    eps = _budget(d, y)
    modes = ["joint"] if m is None else ["joint", "independent"]
    for mode in modes:
        pd = self_distill(d, y, epsilon=eps, n_rounds=3, multioutput=mode)
        ps = self_distill(s, y, epsilon=eps, n_rounds=3, multioutput=mode)
        np.testing.assert_allclose(ps.ridges, pd.ridges, rtol=RTOL)
        idx = np.arange(4)
        assert _rel(ps.train_predictions(idx), pd.train_predictions(idx)) < RTOL
        assert _rel(ps.predict(K_new, idx), pd.predict(K_new, idx)) < RTOL
        assert _rel(ps.predict(K_new[:2], idx), pd.predict(K_new[:2], idx)) < RTOL
        assert _rel(ps.dual_coef(idx), pd.dual_coef(idx)) < RTOL
        proj = s.project_rows(K_new)
        assert _rel(ps.predict(proj, idx, projected=True), pd.predict(K_new, idx)) < RTOL
        np.testing.assert_allclose(ps.gcv(), pd.gcv(), rtol=RTOL)
        np.testing.assert_allclose(ps.loo(), pd.loo(), rtol=RTOL)
    # fixed ridge too
    pd = self_distill(d, y, alpha=0.3, n_rounds=4)
    ps = self_distill(s, y, alpha=0.3, n_rounds=4)
    assert _rel(ps.train_predictions(np.arange(5)), pd.train_predictions(np.arange(5))) < RTOL


@pytest.mark.parametrize("kind,seed", PROBLEMS)
@pytest.mark.parametrize("m", [None, 2])
def test_flow_equals_dense(kind, seed, m):
    K, K_new, y = _problem(kind, seed, m=m)
    d, s = decompose(K, method="dense"), decompose(K, method="implicit")
    times = np.concatenate([[0.0], np.logspace(-2, 5, 40), [np.inf]])
    fd, fs = flow_path(d, y, times), flow_path(s, y, times)
    assert _rel(fs.train_predictions(), fd.train_predictions()) < RTOL
    assert _rel(fs.predict(K_new), fd.predict(K_new)) < RTOL
    np.testing.assert_allclose(fs.gcv(), fd.gcv(), rtol=RTOL)
    # leave-one-out divides by diag(I - S_t); where that reaches round-off (a point the flow
    # interpolates, t -> inf on a singular K) the value is 0/0 noise in either backend, so
    # compare the times whose smallest denominator is well above round-off
    denom = d.leverages(fd.filters, complement=True).min(axis=1)
    ok = denom > 1e-4
    assert ok.sum() >= 20
    np.testing.assert_allclose(fs.loo()[ok], fd.loo()[ok], rtol=RTOL)
    np.testing.assert_allclose(s.leverages(fs.filters, complement=True)[ok],
                               d.leverages(fd.filters, complement=True)[ok], rtol=1e-9)


def test_round_zero_is_kernel_ridge():
    # an independent reference: scikit-learn's KernelRidge on the same K
    K, K_new, y = _problem("rbf", 7, n=100)
    s = decompose(K, method="implicit")
    alpha = 0.05
    path = self_distill(s, y, alpha=alpha, n_rounds=0)
    kr = KernelRidge(alpha=alpha, kernel="precomputed").fit(K, y)
    assert _rel(path.train_predictions(0), kr.predict(K)) < 1e-10
    assert _rel(path.predict(K_new, 0), kr.predict(K_new)) < 1e-10
    # and its exact leave-one-out value against n literal refits
    loo = []
    for i in range(s.n):
        keep = np.arange(s.n) != i
        ki = KernelRidge(alpha=alpha, kernel="precomputed").fit(K[np.ix_(keep, keep)],
                                                                       y[keep])
        loo.append((y[i] - ki.predict(K[i:i + 1, keep])[0]) ** 2)
    assert path.loo(0) == pytest.approx(np.mean(loo), rel=1e-9)


# ============================================================================ PSD handling
def test_indefinite_matrix_raises_and_warns_like_dense():
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    lam = np.concatenate([np.linspace(5, 1, 38), [-0.5, -1e-3]])
    K = (Q * lam) @ Q.T
    K = 0.5 * (K + K.T)
    with pytest.raises(ValueError, match="not positive semi-definite") as e_s:
        decompose(K, method="implicit")
    with pytest.raises(ValueError, match="not positive semi-definite") as e_d:
        decompose(K, method="dense")
    assert str(e_s.value).split("is below")[0][:60] == str(e_d.value).split("is below")[0][:60]
    with pytest.warns(NumericalWarning, match="clipped 2 negative"):
        s = decompose(K, method="implicit", on_indefinite="warn")
    with pytest.warns(NumericalWarning):
        d = decompose(K, method="dense", on_indefinite="warn")
    assert s.n_clipped == d.n_clipped == 2
    assert s.most_negative == pytest.approx(d.most_negative, rel=1e-10)
    assert s.most_negative == pytest.approx(-0.5, rel=1e-10)
    np.testing.assert_allclose(s.eigenvalues, d.eigenvalues, rtol=0, atol=1e-12)
    assert np.all(s.eigenvalues[-2:] == 0.0)
    with pytest.raises(ValueError, match="on_indefinite"):
        decompose(K, method="implicit", on_indefinite="ignore")


def test_round_off_negatives_are_clipped_not_raised():
    # rank 4 of 80: the 76 zero eigenvalues come out as round-off of both signs
    rng = np.random.default_rng(11)
    B = rng.standard_normal((80, 4))
    K = B @ B.T
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = decompose(K, method="implicit")
        d = decompose(K, method="dense")
    assert np.all(s.eigenvalues >= 0)
    assert s.numerical_rank == d.numerical_rank == 4
    assert s.most_negative <= 0 and abs(s.most_negative) <= s.rank_tolerance
    # every clipped eigenvalue is exactly 0 and lies in the null part
    assert s.n_clipped <= np.count_nonzero(s.eigenvalues[4:] == 0.0)
    assert s.n_clipped <= 76 and d.n_clipped <= 76


def test_input_checks_and_registry():
    K, _, _ = _problem("rbf", 8, n=30)
    with pytest.raises(ValueError, match="symmetric"):
        decompose(K + np.triu(np.full_like(K, 1e-3), 1), method="implicit")
    with pytest.raises(ValueError, match="rank"):
        decompose(K, method="implicit", rank=5)
    with pytest.raises(ValueError, match="driver"):
        eigh_implicit(K, driver="stev")
    # "auto" picks the implicit backend when its working memory fits (it does, at this n)
    assert decompose(K).method == "implicit"
    # X and a kernel name work as with dense
    X = np.random.default_rng(0).standard_normal((30, 2))
    s = decompose(X=X, method="implicit", kernel="rbf")
    d = decompose(X=X, method="dense", kernel="rbf")
    assert np.max(np.abs(s.eigenvalues - d.eigenvalues)) <= RTOL * d.eigenvalues[0]
    # the caller's K is never modified
    K0 = K.copy()
    decompose(K, method="implicit")
    np.testing.assert_array_equal(K, K0)
    assert "method='implicit'" in repr(decompose(K, method="implicit"))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_tiny_matrices(n):
    K, _, y = _problem("rbf", 9, n=n)
    s, d = decompose(K, method="implicit"), decompose(K, method="dense")
    np.testing.assert_allclose(s.eigenvalues, d.eigenvalues, rtol=1e-12)
    assert _rel(s.reconstruct(s.project(y)), y) < 1e-12
    U = s.eigenvectors
    np.testing.assert_allclose(U.T @ U, np.eye(n), atol=1e-14)


def test_ill_conditioned_kernel_agrees_to_the_dense_backends_own_round_off():
    # RBF on 3-D inputs at n = 500: eigenvalues fall to round-off, so quantities that resolve
    # them (the flow at long times, the interpolant t = inf) move by far more than 1e-10 when
    # K moves by one ulp, in the dense backend itself. The implicit backend must agree with
    # dense to within that intrinsic sensitivity (x 100), and to 1e-10 where the filters do
    # not reach the round-off eigenvalues (short times).
    K, K_new, y = _problem("rbf", 2, n=500)
    d, s = decompose(K, method="dense"), decompose(K, method="implicit")
    rng = np.random.default_rng(1)
    E = rng.standard_normal(K.shape)
    E = 0.5 * (E + E.T)
    E *= np.finfo(float).eps * np.abs(K).max() / np.abs(E).max()
    dp = decompose(K + E, method="dense")  # the dense backend, K moved by one ulp
    assert d.eigenvalues[0] / d.eigenvalues[d.numerical_rank - 1] > 1e8
    assert np.max(np.abs(s.eigenvalues - d.eigenvalues)) <= RTOL * d.eigenvalues[0]
    times = np.concatenate([[0.0], np.logspace(-2, 5, 40), [np.inf]])
    fd, fs, fp = flow_path(d, y, times), flow_path(s, y, times), flow_path(dp, y, times)
    own = max(_rel(fp.predict(K_new), fd.predict(K_new)), 1e-13)
    assert _rel(fs.predict(K_new), fd.predict(K_new)) <= 100 * own
    own = max(_rel(fp.train_predictions(), fd.train_predictions()), 1e-13)
    assert _rel(fs.train_predictions(), fd.train_predictions()) <= 100 * own
    short = times <= 10.0
    assert _rel(fs.predict(K_new)[short], fd.predict(K_new)[short]) < RTOL
    eps = _budget(d, y)  # its first ridge (~3e-5 lambda_max) reaches eigenvalues near 1e-10
    pd, ps, pp = (self_distill(sp, y, epsilon=eps, n_rounds=3) for sp in (d, s, dp))
    own = max(float(np.max(np.abs(pp.ridges[:3] / pd.ridges[:3] - 1.0))), 1e-13)
    np.testing.assert_allclose(ps.ridges, pd.ridges, rtol=max(RTOL, 100 * own))
    idx = np.arange(4)
    own = max(_rel(pp.predict(K_new, idx), pd.predict(K_new, idx)), 1e-13)
    assert _rel(ps.predict(K_new, idx), pd.predict(K_new, idx)) <= max(RTOL, 100 * own)
