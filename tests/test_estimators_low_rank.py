"""The estimators on the low-rank backends (``eigen_solver``, ``n_components``).

References are independent of the low-rank code: the exact estimators, scikit-learn's
``KernelRidge`` on an explicit matrix, and dense runs on the explicit low-rank kernel built
here with scipy (the rank-r truncation of K, or the Nyström matrix C W⁺ Cᵀ).
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge

from hilbert_sd import (GradientFlowKernelRegressor, NumericalWarning, SelfDistilledKernelRidge,
                        self_distill)
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import decompose
from naive import naive_self_distill


def _data(n=80, p=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, p))
    y = np.sin(3 * X[:, 0]) + 0.2 * rng.normal(size=n)
    X_new = rng.uniform(-1, 1, size=(15, p))
    return X, y, X_new


def test_randomized_with_full_rank_is_the_exact_estimator():
    X, y, X_new = _data()
    exact = SelfDistilledKernelRidge(epsilon=0.02, n_rounds=3, gamma=2.0,
                                     eigen_solver="dense").fit(X, y)
    low = SelfDistilledKernelRidge(epsilon=0.02, n_rounds=3, gamma=2.0,
                                   eigen_solver="randomized", n_components=len(X)).fit(X, y)
    np.testing.assert_allclose(low.alphas_, exact.alphas_, rtol=1e-9)
    np.testing.assert_allclose(low.predict(X_new), exact.predict(X_new), rtol=1e-8, atol=1e-10)
    flow_exact = GradientFlowKernelRegressor(time=50.0, gamma=2.0).fit(X, y)
    flow_low = GradientFlowKernelRegressor(time=50.0, gamma=2.0, eigen_solver="randomized",
                                           n_components=len(X)).fit(X, y)
    np.testing.assert_allclose(flow_low.predict(X_new), flow_exact.predict(X_new),
                               rtol=1e-8, atol=1e-10)


def test_randomized_rank_r_fits_the_truncated_kernel():
    """At the training inputs the fit is the fit on K_r = U_r Λ_r U_rᵀ (eigh's top r): round
    0 is scikit-learn's KernelRidge on K_r with the same ridge."""
    X, y, _ = _data(n=120)
    r = 15
    model = SelfDistilledKernelRidge(epsilon=0.05, n_rounds=0, gamma=2.0,
                                     eigen_solver="randomized", n_components=r).fit(X, y)
    K = gram(X, kernel="rbf", gamma=2.0)
    lam, U = scipy.linalg.eigh(K)
    lam, U = lam[::-1][:r], U[:, ::-1][:, :r]
    K_r = (U * lam) @ U.T
    ref = KernelRidge(alpha=model.alphas_[0], kernel="precomputed").fit(K_r, y)
    # k(X, X) a with a in span(U_r): K U_r = U_r Λ_r, so predict(X) = K_r a
    np.testing.assert_allclose(model.predict(X), ref.predict(K_r), rtol=1e-7, atol=1e-9)
    assert model.certificate_ is not None


def test_certificate_contains_the_exact_estimators_ridges():
    X, y, _ = _data(n=150, seed=3)
    exact = SelfDistilledKernelRidge(epsilon=0.035, n_rounds=2, gamma=3.0,
                                     eigen_solver="dense").fit(X, y)
    for r in (45, 60, 100):
        low = SelfDistilledKernelRidge(epsilon=0.035, n_rounds=2, gamma=3.0,
                                       eigen_solver="auto", n_components=r).fit(X, y)
        cert = low.certificate_
        assert cert.rank <= r and cert.contains(exact.alphas_).all()
    # below the energy outside the top r the truncated run is infeasible; the warning says so
    with pytest.warns(Warning, match="outside the top 8 eigenpairs of this randomized"):
        SelfDistilledKernelRidge(epsilon=0.035, n_rounds=1, gamma=3.0,
                                 n_components=8).fit(X, y)


def test_solver_arguments_are_checked_with_their_names():
    X, y, _ = _data(n=30)
    with pytest.raises(ValueError, match="n_components=5 needs a low-rank eigen_solver"):
        SelfDistilledKernelRidge(eigen_solver="dense", n_components=5).fit(X, y)
    with pytest.raises(ValueError, match="eigen_solver='randomized' needs n_components"):
        SelfDistilledKernelRidge(eigen_solver="randomized").fit(X, y)
    with pytest.raises(ValueError, match=r"n_components=31 is out of range.*\[1, n_samples=30\]"):
        SelfDistilledKernelRidge(eigen_solver="randomized", n_components=31).fit(X, y)
    with pytest.raises(ValueError, match="n_components=0 is out of range"):
        GradientFlowKernelRegressor(eigen_solver="nystrom", n_components=0).fit(X, y)
    K = gram(X, kernel="rbf", gamma=1.0)
    with pytest.raises(ValueError, match="'nystrom' needs the inputs X"):
        SelfDistilledKernelRidge(kernel="precomputed", eigen_solver="nystrom",
                                 n_components=5).fit(K, y)
    # a precomputed kernel works with the randomized solver
    m = SelfDistilledKernelRidge(kernel="precomputed", eigen_solver="randomized",
                                 n_components=30, epsilon=0.05).fit(K, y)
    ref = SelfDistilledKernelRidge(kernel="precomputed", epsilon=0.05).fit(K, y)
    np.testing.assert_allclose(m.predict(K), ref.predict(K), rtol=1e-8, atol=1e-10)


def test_verbose_reports_the_factorization_on_stderr(capsys):
    X, y, _ = _data(n=40)
    SelfDistilledKernelRidge(eigen_solver="randomized", n_components=10, verbose=True,
                             epsilon=0.05).fit(X, y)
    err = capsys.readouterr().err
    assert "randomized factorization of n=40" in err and "kernel pass" in err
    SelfDistilledKernelRidge(epsilon=0.05).fit(X, y)
    assert capsys.readouterr().err == ""
    SelfDistilledKernelRidge(epsilon=0.05, verbose=True, eigen_solver="implicit").fit(X, y)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("decompose: implicit factorization of the 40 x 40 kernel matrix")
    assert err[1].startswith("decompose: done in")
    assert err[2].startswith("[SelfDistilledKernelRidge] implicit factorization of n=40")


def test_low_rank_models_pickle_without_the_basis():
    X, y, _ = _data(n=400)
    model = SelfDistilledKernelRidge(epsilon=0.05, n_rounds=2, gamma=2.0,
                                     eigen_solver="randomized", n_components=100).fit(X, y)
    size = len(pickle.dumps(model))
    # X (400 x 2), three rounds of dual coefficients, filters of 101 directions: no (n, r)
    # basis (320 kB) nor n x n matrix
    assert size < 60_000, size
    kept = SelfDistilledKernelRidge(epsilon=0.05, n_rounds=2, gamma=2.0, store_spectrum=True,
                                    eigen_solver="randomized", n_components=100).fit(X, y)
    assert len(pickle.dumps(kept)) > 8 * 400 * 100


def test_auto_with_n_components_is_randomized_and_reproducible():
    X, y, X_new = _data(n=100)
    a = SelfDistilledKernelRidge(n_components=20, store_spectrum=True, gamma=2.0,
                                 epsilon=0.05).fit(X, y)
    b = SelfDistilledKernelRidge(n_components=20, gamma=2.0, epsilon=0.05,
                                 random_state=0).fit(X, y)
    assert a.spectrum_.method == "randomized"
    np.testing.assert_array_equal(a.predict(X_new), b.predict(X_new))


def test_exact_solvers_are_unchanged_by_the_new_parameters():
    X, y, X_new = _data()
    spec = decompose(X=X, kernel="rbf", gamma=2.0)
    path = self_distill(spec, y, epsilon=0.02, n_rounds=2)
    m = SelfDistilledKernelRidge(epsilon=0.02, n_rounds=2, gamma=2.0).fit(X, y)
    np.testing.assert_allclose(m.predict(X_new),
                               path.predict(gram(X_new, X, kernel="rbf", gamma=2.0)),
                               rtol=1e-10, atol=1e-12)
    assert m.certificate_ is None
    # and an independent reference: literal kernel-ridge refits, round after round
    K = gram(X, kernel="rbf", gamma=2.0)
    alphas, _, new = naive_self_distill(K, y, epsilon=0.02, n_rounds=2,
                                        K_new=gram(X_new, X, kernel="rbf", gamma=2.0))
    np.testing.assert_allclose(m.alphas_, alphas, rtol=1e-8)
    np.testing.assert_allclose(m.predict(X_new), new[-1], rtol=1e-7, atol=1e-10)


# ------------------------------------------------------------------------------- Nyström
def _nystrom_reference(X, idx, X_new, gamma):
    """K̃ = C W⁺ Cᵀ on the landmarks ``idx`` and its rows at new points (scipy's pinvh)."""
    XL = X[idx]
    C = gram(X, XL, kernel="rbf", gamma=gamma)
    W = gram(XL, kernel="rbf", gamma=gamma)
    Wp = scipy.linalg.pinvh(W, atol=0.0, rtol=100 * len(idx) * np.finfo(float).eps)
    Kt = C @ Wp @ C.T
    return 0.5 * (Kt + Kt.T), gram(X_new, XL, kernel="rbf", gamma=gamma) @ Wp @ C.T


def test_nystrom_estimator_is_the_exact_estimator_on_the_nystrom_kernel():
    X, y, X_new = _data(n=90, seed=4)
    M = 20
    model = SelfDistilledKernelRidge(epsilon=0.05, n_rounds=2, gamma=2.0, eigen_solver="nystrom",
                                     n_components=M, random_state=7).fit(X, y)
    idx = decompose(X=X, kernel="rbf", gamma=2.0, method="nystrom", rank=M,
                    random_state=7).landmarks
    Kt, Kt_new = _nystrom_reference(X, idx, X_new, 2.0)
    with warnings.catch_warnings():  # K̃'s round-off eigenvalues around 0 may be clipped
        warnings.simplefilter("ignore", NumericalWarning)
        ref = SelfDistilledKernelRidge(epsilon=0.05, n_rounds=2,
                                       kernel="precomputed").fit(Kt, y)
    np.testing.assert_allclose(model.alphas_, ref.alphas_, rtol=1e-8)
    np.testing.assert_allclose(model.predict(X_new), ref.predict(Kt_new), rtol=1e-7, atol=1e-9)
    for a, b in zip(model.staged_predict(X_new), ref.staged_predict(Kt_new)):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)
    # the fitted model is its landmarks and their M coefficients
    assert model.X_fit_.shape == (M, 2) and model.dual_coef_.shape == (M,)
    np.testing.assert_array_equal(model.X_fit_, X[idx])
    assert len(pickle.dumps(model)) < 20_000


def test_nystrom_flow_estimator_and_its_staged_predictions():
    X, y, X_new = _data(n=70, seed=5)
    M = 25
    times = [1.0, 30.0, 1e3]
    model = GradientFlowKernelRegressor(time=30.0, gamma=2.0, eigen_solver="nystrom",
                                        n_components=M).fit(X, y)
    idx = decompose(X=X, kernel="rbf", gamma=2.0, method="nystrom", rank=M).landmarks
    Kt, Kt_new = _nystrom_reference(X, idx, X_new, 2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        ref = GradientFlowKernelRegressor(time=30.0, kernel="precomputed").fit(Kt, y)
    np.testing.assert_allclose(model.predict(X_new), ref.predict(Kt_new), rtol=1e-7, atol=1e-9)
    got = np.stack(list(model.staged_predict(X_new, times)))
    want = np.stack(list(ref.staged_predict(Kt_new, times)))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)
    # after a pickle round trip the factorization is rebuilt from the kept inputs
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_allclose(np.stack(list(again.staged_predict(X_new, times))), want,
                               rtol=1e-7, atol=1e-9)


def test_a_nystrom_path_refuses_rows_of_k_at_new_points():
    """Rows k(X_new, X) are not rows of the Nyström kernel: predict refuses them whatever
    the number of new points (it took a silently wrong route for many points)."""
    X, y, X_new = _data(n=60)
    spec = decompose(X=X, kernel="rbf", gamma=2.0, method="nystrom", rank=10)
    path = self_distill(spec, y, alpha=0.05, n_rounds=1)
    for rows in (X_new[:1], np.vstack([X_new] * 10)):
        with pytest.raises(ValueError, match="project_points"):
            path.predict(gram(rows, X, kernel="rbf", gamma=2.0))
    P = spec.project_points(X_new)
    np.testing.assert_allclose(
        path.predict(P, projected=True),
        gram(X_new, spec.landmark_points, kernel="rbf", gamma=2.0)
        @ path.dual_coef(basis="landmarks"), rtol=1e-10, atol=1e-12)
