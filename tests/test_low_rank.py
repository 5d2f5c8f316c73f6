"""The engine on a low-rank spectrum (top r eigenpairs + the tail pseudo-direction).

Every consumer of a Spectrum must work unchanged on a :class:`LowRankSpectrum`. The reference
is the same consumer run on the *explicit* rank-r matrix ``K_r = U_r diag(λ_r) U_rᵀ`` with the
dense backend: its n − r zero eigenvalues are exactly what the one tail pseudo-direction
stands for, so every ridge, fit, prediction and criterion must agree (to round-off).

The backend here (``_TopR``) is a test double built from scipy's eigh, independent of the
randomized and Nyström backends (which have their own tests against the same reference).
"""

import numpy as np
import pytest
import scipy.linalg

from hilbert_sd import filters, filter_path, self_distill
from hilbert_sd.certificates import distillation_intervals
from hilbert_sd.compare import match_early_stopping
from hilbert_sd.flow import flow_path
from hilbert_sd.noisy_labels import energy_fraction, train
from hilbert_sd.spectral import LowRankSpectrum, clip_tolerance, decompose


class _TopR(LowRankSpectrum):
    """Top-r eigenpairs of K from scipy's eigh, held explicitly (a test double)."""

    method = "top-r"
    certifiable = True

    def __init__(self, K, r):
        lam, U = scipy.linalg.eigh(K)
        lam, U = lam[::-1][:r].copy(), np.ascontiguousarray(U[:, ::-1][:, :r])
        super().__init__(np.maximum(lam, 0.0), K.shape[0],
                         rank_tolerance=clip_tolerance(lam[0], K.shape[0]))
        self._Ur = U

    def _project_top(self, v):
        return self._Ur.T @ v

    def _reconstruct_top(self, c):
        return self._Ur @ c

    def _tail_norm(self, v, z):
        return np.linalg.norm(v - self._Ur @ z, axis=0)

    def project_rows(self, K_new):
        P = np.asarray(K_new) @ self._Ur
        return np.hstack([P, np.zeros((P.shape[0], 1))])


def _problem(seed, n=60, r=12, m=1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, 2))
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    K = np.exp(-3.0 * d)
    low = _TopR(K, r)
    U = low.basis_explicit = low._Ur
    K_r = (U * low.top_eigenvalues) @ U.T
    K_r = (K_r + K_r.T) / 2
    y = rng.normal(size=(n, m)) if m > 1 else np.sin(4 * x[:, 0]) + 0.3 * rng.normal(size=n)
    # rows of the rank-r kernel at new points lie in the row space of K_r
    K_new = rng.normal(size=(7, r)) @ U.T
    return K, K_r, low, y, K_new


def _dense(K_r):
    return decompose(K_r, method="dense", on_indefinite="warn")


def _close(a, b, rtol=1e-9, atol_scale=1e-11):
    a, b = np.asarray(a, float), np.asarray(b, float)
    finite = np.abs(b[np.isfinite(b)])
    scale = finite.max() if finite.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol_scale * max(scale, 1e-300))


@pytest.mark.parametrize("seed", range(4))
def test_budget_rule_equals_dense_run_on_the_truncation(seed):
    _, K_r, low, y, K_new = _problem(seed)
    eps = 0.2 * np.mean(y ** 2)
    a = self_distill(low, y, epsilon=eps, n_rounds=6)
    b = self_distill(_dense(K_r), y, epsilon=eps, n_rounds=6)
    assert a.collapse_round == b.collapse_round
    _close(a.ridges, b.ridges)
    idx = np.arange(len(a))
    _close(a.train_predictions(idx), b.train_predictions(idx))
    _close(a.train_mse(), b.train_mse())
    _close(a.predict(K_new, idx), b.predict(K_new, idx))
    # features in the eigenbasis (r + 1 columns), as project_points gives them
    _close(a.predict(low.project_rows(K_new), idx, projected=True), b.predict(K_new, idx))
    _close(a.gcv(), b.gcv())
    _close(a.effective_dof(), b.effective_dof())


def test_until_collapse_and_infeasible_floor_count_the_tail():
    _, K_r, low, y, _ = _problem(7, r=5)
    eps = 0.3 * np.mean(y ** 2)
    a = self_distill(low, y, epsilon=eps)
    b = self_distill(_dense(K_r), y, epsilon=eps)
    assert a.collapse_round == b.collapse_round is not None
    _close(a.alphas, b.alphas)
    # below the energy outside the top r no ridge reaches the budget, as on K_r
    floor = low.tail_energy(y) / low.n
    with pytest.raises(Exception, match="floor.*outside the top 5 eigenpairs.*larger rank"):
        self_distill(low, y, epsilon=0.5 * floor, n_rounds=1)
    with pytest.raises(Exception, match="floor"):
        self_distill(_dense(K_r), y, epsilon=0.5 * floor, n_rounds=1)


@pytest.mark.parametrize("multioutput", ["joint", "independent"])
def test_fixed_ridge_mixing_and_multioutput(multioutput):
    _, K_r, low, Y, K_new = _problem(3, m=3)
    floor = float(np.max(low.tail_energy(Y))) * Y.shape[1] / low.n
    for kw in ({"alpha": 0.05, "n_rounds": 4}, {"epsilon": 1.5 * floor, "n_rounds": 3, "mix": 0.3},
               {"alpha": 0.1, "n_rounds": 3, "xi": [1.5, -0.5, 2.0]}):
        a = self_distill(low, Y, multioutput=multioutput, **kw)
        b = self_distill(_dense(K_r), Y, multioutput=multioutput, **kw)
        idx = np.arange(len(a))
        _close(a.ridges, b.ridges)
        _close(a.train_predictions(idx), b.train_predictions(idx))
        _close(a.predict(K_new, idx), b.predict(K_new, idx))


def test_flow_family_and_noisy_labels_on_a_low_rank_spectrum():
    _, K_r, low, y, K_new = _problem(11)
    dense = _dense(K_r)
    times = np.logspace(-1, 4, 9)
    a, b = flow_path(low, y, times), flow_path(dense, y, times)
    _close(a.train_predictions(), b.train_predictions())
    _close(a.predict(K_new), b.predict(K_new))
    _close(a.gcv(), b.gcv())
    # a filter from the family, computed on each spectrum's own eigenvalues
    fa = filter_path(low, y, filters.boosting(low.eigenvalues, 0.1, 4, return_prediction=True))
    fb = filter_path(dense, y, filters.boosting(dense.eigenvalues, 0.1, 4,
                                                return_prediction=True))
    _close(fa.train_predictions(), fb.train_predictions())
    _close(fa.predict(K_new), fb.predict(K_new))
    # noisy-label training (explicit gradient descent in the kernel regime)
    steps = np.arange(0, 40, 5)
    ta = train(low, y, steps, rule="gd", learning_rate=0.5 / low.eigenvalues[0])
    tb = train(dense, y, steps, rule="gd", learning_rate=0.5 / dense.eigenvalues[0])
    _close(ta.train_predictions(), tb.train_predictions())
    ea, eb = energy_fraction(low, y, 3), energy_fraction(dense, y, 3)
    _close(ea, eb)
    # the early-stopping comparison asks a flow path of the same spectrum
    sd = self_distill(low, y, epsilon=0.2 * np.mean(y ** 2), n_rounds=3)
    ca = match_early_stopping(path=sd)
    cb = match_early_stopping(path=self_distill(dense, y, epsilon=0.2 * np.mean(y ** 2),
                                                n_rounds=3))
    _close(ca.flow_times, cb.flow_times)
    for field in ("train_mse", "rkhs_norm_sq", "effective_dim"):
        _close(ca.table[field], cb.table[field])
    assert np.array_equal(ca.table["n_basis"], cb.table["n_basis"])


def test_low_rank_refuses_what_needs_all_n_directions():
    _, _, low, y, _ = _problem(1)
    path = self_distill(low, y, alpha=0.1, n_rounds=2)
    with pytest.raises(ValueError, match="low-rank|holds"):
        path.loo()
    with pytest.raises(ValueError, match="basis"):
        low.eigenvectors  # noqa: B018
    assert low.n == 60 and low.rank == 12 and low.eigenvalues.shape == (13,)
    assert low.eigenvalues[-1] == 0.0


def test_tail_coordinate_is_the_residual_norm():
    K, _, low, y, _ = _problem(2)
    lam, U = np.linalg.eigh(K)
    Ur = U[:, ::-1][:, :12]
    want = np.sum((y - Ur @ (Ur.T @ y)) ** 2)
    np.testing.assert_allclose(low.tail_energy(y), want, rtol=1e-10)
    Y = np.column_stack([y, 2 * y, np.ones_like(y)])
    z = low.project(Y)
    np.testing.assert_allclose(z[-1] ** 2, np.sum((Y - Ur @ (Ur.T @ Y)) ** 2, axis=0),
                               rtol=1e-10)


@pytest.mark.parametrize("seed", range(30))
def test_certificate_of_a_low_rank_run_contains_the_exact_run(seed):
    """The path's certificate (from the top r only) contains the exact run on the full K."""
    rng = np.random.default_rng(100 + seed)
    n, r = 50, int(rng.integers(3, 15))
    x = rng.uniform(size=(n, 1))
    K = np.exp(-rng.uniform(5, 60) * (x - x.T) ** 2)
    y = np.sin(6 * x[:, 0]) + rng.uniform(0.05, 0.5) * rng.normal(size=n)
    eps = rng.uniform(0.02, 0.4) * np.mean(y ** 2)
    low = _TopR(K, r)
    eps = max(eps, 1.2 * low.tail_energy(y) / n)  # reachable by the rank-r run too
    path = self_distill(low, y, epsilon=eps, n_rounds=5)
    cert = path.certificate
    exact = self_distill(decompose(K, method="dense", on_indefinite="warn"), y, epsilon=eps,
                         n_rounds=5, on_infeasible="warn")
    assert cert.contains(exact.ridges).all()
    # the same numbers as calling the certificate function with the raw top-r quantities
    lam, U = np.linalg.eigh(K)
    lam, U = lam[::-1][:r], U[:, ::-1][:, :r]
    z2 = (U.T @ y) ** 2
    keep = lam > low.rank_tolerance
    ref = distillation_intervals(lam[keep], z2[keep], float(y @ y - z2[keep].sum()), n, eps, 5,
                                 tail_bound=lam[keep][-1])
    np.testing.assert_allclose(cert.alpha_lo, ref.alpha_lo, rtol=1e-8)
    np.testing.assert_allclose(cert.alpha_hi, ref.alpha_hi, rtol=1e-8)


def test_no_certificate_for_exact_spectra_or_other_rules():
    K, _, low, y, _ = _problem(5)
    assert self_distill(decompose(K, on_indefinite="warn"), y, epsilon=0.1,
                        n_rounds=2).certificate is None
    assert self_distill(low, y, alpha=0.1, n_rounds=2).certificate is None
    assert self_distill(low, y, epsilon=0.1, n_rounds=2, mix=0.2).certificate is None
