"""The one spectral core: layering, the SpectralPath contract on every path kind, the filters
against literal computations, and the defects that once lived below it.

Every reference here is independent of the library's eigenbasis code: literal scikit-learn
refits, literal iterations, matrix exponentials (scipy.linalg.expm), pseudo-inverses and
mpmath root finding at 50 digits.
"""

import ast
import warnings
from pathlib import Path

import mpmath
import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge

import hilbert_sd
from hilbert_sd import GradientFlowKernelRegressor, bounds, filters, self_distill
from hilbert_sd.compare import match_early_stopping
from hilbert_sd.flow import flow_path
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import SpectralPath, Spectrum, as_spectrum, decompose

PACKAGE = Path(hilbert_sd.__file__).parent
ENGINE = {"kernels", "spectral", "filters", "distillation", "flow", "bounds", "compare",
          "_resolvent", "_validation", "_kernels_numba", "exceptions"}
UPPER = ("hilbert_sd.estimators", "hilbert_sd.plotting", "hilbert_sd.experiments",
         "hilbert_sd.commands", "hilbert_sd.cli")


# ============================================================================ layering
def _imports(path):
    """Every module a file imports (absolute names; relative imports resolved)."""
    tree = ast.parse(path.read_text())
    pkg = ".".join(("hilbert_sd",) + path.relative_to(PACKAGE).parent.parts)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                                + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                out.add(node.args[0].value)
    return out


def _reaches(imports, targets):
    return sorted(m for m in imports if any(m == t or m.startswith(t + ".") for t in targets))


@pytest.mark.parametrize("module", sorted(ENGINE))
def test_engine_modules_import_nothing_above_them(module):
    bad = _reaches(_imports(PACKAGE / f"{module}.py"), UPPER)
    assert not bad, f"hilbert_sd.{module} imports {bad}"


def test_experiments_never_import_the_command_line():
    for path in (PACKAGE / "experiments").rglob("*.py"):
        bad = _reaches(_imports(path), ("hilbert_sd.cli", "hilbert_sd.commands"))
        assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_the_import_graph_check_catches_a_reach_up(tmp_path):
    # the checker itself must see both spellings of an upward import
    probe = PACKAGE / "_probe_layering.py"
    for src in ("from hilbert_sd.estimators import SelfDistilledKernelRidge\n",
                "def f():\n    import hilbert_sd.cli\n"):
        probe.write_text(src)
        try:
            assert _reaches(_imports(probe), UPPER)
        finally:
            probe.unlink()


def test_every_scikit_learn_estimator_lives_in_the_estimators_layer():
    outside = []
    for path in PACKAGE.rglob("*.py"):
        if "estimators" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                    getattr(b, "id", getattr(b, "attr", "")) == "BaseEstimator"
                    for b in node.bases):
                outside.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert not outside, outside


def test_nothing_outside_spectral_touches_the_eigenvector_matrix():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "spectral.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("eigenvectors", "_U"):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders, offenders


# ============================================================================ the path contract
def _problem(seed, n=14, m=None):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    X_new = rng.uniform(-1, 1, (5, 2))
    K = gram(X, gamma=1.5)
    K_new = gram(X_new, X, gamma=1.5)
    y = rng.standard_normal(n if m is None else (n, m))
    return K, K_new, y


def _sd_case(K, K_new, y):
    """Fixed-ridge SD rounds 0..3 against literal KernelRidge refits of the last fit."""
    alpha = 0.3
    path = self_distill(K, y, alpha=alpha, n_rounds=3)
    fits, duals, targets = [], [], y
    for _ in range(4):
        model = KernelRidge(alpha=alpha, kernel="precomputed").fit(K, targets)
        duals.append(model.dual_coef_)
        targets = model.predict(K)
        fits.append(targets)
    return path, np.array(fits), np.array(duals), lambda v: self_distill(
        K, v, alpha=alpha, n_rounds=3).train_predictions(np.arange(4))


def _flow_case(K, K_new, y):
    """Gradient flow at times against the matrix exponential (K is non-singular here)."""
    n, eta = K.shape[0], 2.0
    times = np.array([0.0, 0.5, 3.0, 40.0])
    path = flow_path(K, y, times, learning_rate=eta)
    fits, duals = [], []
    for t in times:
        resid = scipy.linalg.expm(-eta * t / n * K)
        fit = y - resid @ y
        fits.append(fit)
        duals.append(np.linalg.solve(K, fit))
    return path, np.array(fits), np.array(duals), lambda v: flow_path(
        K, v, times, learning_rate=eta).train_predictions()


def _training_case(K, K_new, y):
    """Noisy-label gradient descent u <- u - eta H (u - y), iterated literally on the dual."""
    from hilbert_sd.noisy_labels import train

    eta = 0.5 / np.linalg.eigvalsh(K)[-1]
    steps = np.array([0, 1, 5, 30])
    path = train(K, y, steps, rule="gd", learning_rate=eta)
    c = np.zeros_like(y)
    fits, duals = [], []
    for s in range(steps[-1] + 1):
        if s in steps:
            fits.append(K @ c)
            duals.append(c.copy())
        c = c + eta * (y - K @ c)
    return path, np.array(fits), np.array(duals), lambda v: train(
        K, v, steps, rule="gd", learning_rate=eta).train_outputs()


CASES = {"distillation": _sd_case, "flow": _flow_case, "noisy_labels": _training_case}


@pytest.mark.parametrize("kind", sorted(CASES))
@pytest.mark.parametrize("m", [None, 3])
def test_spectral_path_contract(kind, m):
    K, K_new, y = _problem(1, m=m)
    path, fits, duals, refit = CASES[kind](K, K_new, y)
    assert isinstance(path, SpectralPath)
    J = len(path)
    idx = np.arange(J)
    scale = np.abs(fits).max()
    np.testing.assert_allclose(path.train_predictions(idx), fits, atol=1e-10 * scale)
    np.testing.assert_allclose(path.dual_coef(idx), duals,
                               atol=1e-9 * max(np.abs(duals).max(), 1.0))
    # an index gives no leading axis, an array one; negative indices count from the end
    np.testing.assert_allclose(path.train_predictions(-1), fits[-1], atol=1e-10 * scale)
    np.testing.assert_allclose(path.predict(K_new, [0, J - 1]),
                               np.einsum("qn,jn...->jq...", K_new, duals[[0, J - 1]]),
                               atol=1e-9 * max(np.abs(duals).max(), 1.0))
    # many new points (the other product order) give the same
    K_many = np.repeat(K_new, 20, axis=0)
    np.testing.assert_allclose(path.predict(K_many, 1), K_many @ duals[1],
                               atol=1e-9 * max(np.abs(duals).max(), 1.0))
    # filters and effective dof: the trace of the literal smoother S_j (y -> f_j(X)),
    # built column by column from fits of unit vectors
    n = K.shape[0]
    S = np.stack([refit(e) for e in np.eye(n)], axis=-1)  # (J, n, n)
    np.testing.assert_allclose(path.effective_dof(), np.trace(S, axis1=1, axis2=2),
                               atol=1e-9 * n)
    h = path.filters
    assert h.shape == (J, n)
    Ut = decompose(K).project(np.eye(n))
    np.testing.assert_allclose(np.einsum("ki,jk,kl->jil", Ut, h, Ut), S, atol=1e-9)
    for bad in (J, -J - 1):
        with pytest.raises(ValueError, match="out of range"):
            path.train_predictions(bad)
    with pytest.raises(ValueError, match="NaN or infinite"):
        path.predict(np.full((1, n), np.nan))
    with pytest.raises(ValueError, match=f"\\(n_new, {n}\\)"):
        path.predict(K_new[:, :-1])
    assert len(repr(path)) < 300


def test_a_spectrum_stands_in_for_k_everywhere():
    K, K_new, y = _problem(2)
    spec = decompose(K)
    assert as_spectrum(spec) is spec and spec.method == "implicit"  # auto: it fits
    np.testing.assert_array_equal(self_distill(spec, y, epsilon=0.05).ridges,
                                  self_distill(K, y, epsilon=0.05).ridges)
    np.testing.assert_array_equal(flow_path(spec, y, [1.0]).train_predictions(),
                                  flow_path(K, y, [1.0]).train_predictions())
    with pytest.raises(ValueError, match="spectrum"):
        as_spectrum(None)
    with pytest.raises(ValueError, match="method"):
        decompose(K, method="cholesky")
    X = np.random.default_rng(0).uniform(size=(9, 2))
    np.testing.assert_allclose(decompose(X=X, kernel="rbf", gamma=2.0).eigenvalues,
                               np.linalg.eigvalsh(gram(X, gamma=2.0))[::-1], atol=1e-13)


def test_spectrum_methods_against_numpy_eigh():
    K, K_new, y = _problem(3, m=2)
    spec = decompose(K)
    lam, V = np.linalg.eigh(K)
    # compare projections up to the sign of each eigenvector (distinct eigenvalues here)
    z = spec.project(y)
    zr = (V.T @ y)[::-1]
    signs = np.sign(np.sum(z * zr, axis=1))[:, None]
    np.testing.assert_allclose(z, signs * zr, atol=1e-12)
    np.testing.assert_allclose(spec.reconstruct(z), y, atol=1e-12)
    stack = np.stack([z, 2 * z])
    np.testing.assert_allclose(spec.reconstruct(stack), np.stack([y, 2 * y]), atol=1e-12)
    P = spec.project_rows(K_new)
    np.testing.assert_allclose(np.abs(P), np.abs(K_new @ V[:, ::-1]), atol=1e-12)
    # null energy: the part of v outside the range of a rank-2 K
    B = np.random.default_rng(0).standard_normal((6, 2))
    low = decompose(B @ B.T)
    v = np.arange(6.0)
    resid = v - B @ np.linalg.lstsq(B, v, rcond=None)[0]
    assert low.null_energy(v) == pytest.approx(resid @ resid, rel=1e-10)


# ============================================================================ filters
def test_filters_equal_literal_definitions():
    lam = np.array([4.0, 1.0, 0.25, 0.0])
    np.testing.assert_allclose(filters.ridge(lam, [1.0, 2.0]),
                               [lam / (lam + 1.0), lam / (lam + 2.0)])
    # SD with xi: the literal recursion on fits, h_t = s (xi h_{t-1} + 1 - xi)
    s = lam / (lam + 0.5)
    for xi in (1.0, 0.3, -1.0, 2.0):
        h = [s]
        for _ in range(3):
            h.append(s * (xi * h[-1] + 1 - xi))
        np.testing.assert_allclose(filters.self_distillation(lam, 0.5, 3, xi=xi), h,
                                   atol=1e-15)
    # xi = -1 at one step is Tukey's twicing s(2 - s) (theory: boosting m = 1)
    np.testing.assert_allclose(filters.self_distillation(lam, 0.5, 1, xi=-1.0)[1],
                               s * (2 - s), atol=1e-15)
    n, eta = 4, 1.5
    t = np.array([0.0, 1.0, 7.0])
    np.testing.assert_allclose(filters.gradient_flow(lam, t, learning_rate=eta),
                               1 - np.exp(-eta * t[:, None] * lam / n), atol=1e-15)
    np.testing.assert_allclose(filters.gradient_descent(lam, [0, 1, 7], learning_rate=eta),
                               1 - (1 - eta * lam / n) ** np.array([[0], [1], [7]]),
                               atol=1e-14)
    # the two learning-rate conventions meet in one place
    assert filters.step_scale(2.0, 4, "mean") == 0.5 and filters.step_scale(2.0, 4, "sum") == 2
    assert filters.max_stable_learning_rate(4.0, 10, "mean") == 5.0
    assert filters.max_stable_learning_rate(4.0, 10, "sum") == 0.5
    with pytest.raises(ValueError, match="alpha"):
        filters.ridge(lam, 0.0)
    with pytest.raises(ValueError, match="xi has 2 values"):
        filters.self_distillation(lam, 0.5, 3, xi=[1.0, 2.0])


def test_both_learning_rate_conventions_against_one_literal_iteration():
    """flow's gradient descent on (1/2n)||f - y||^2 with step eta and the noisy-label rule
    u <- u - eta' H (u - y) are one iteration when eta' = eta / n: both must equal the literal
    dual iteration c <- c + eta' (y - K c), u = K c."""
    from hilbert_sd.flow import gradient_descent
    from hilbert_sd.noisy_labels import train

    K, K_new, y = _problem(5, n=12)
    n = K.shape[0]
    eta = 0.8 * n / np.linalg.eigvalsh(K)[-1]  # flow convention, stable
    steps = [0, 1, 7, 40]
    c, fits, duals = np.zeros(n), [], []
    for s in range(steps[-1] + 1):
        if s in steps:
            fits.append(K @ c)
            duals.append(c.copy())
        c = c + eta / n * (y - K @ c)
    np.testing.assert_allclose(gradient_descent(K, y, steps, learning_rate=eta), fits,
                               atol=1e-11)
    path = train(K, y, steps, rule="gd", learning_rate=eta / n)
    np.testing.assert_allclose(path.train_outputs(), fits, atol=1e-11)
    np.testing.assert_allclose(path.dual_coef(), duals, atol=1e-9 * np.abs(duals).max())


# ============================================================================ defects
def _mp_ridge(lam, z, n_eps):
    """The ridge at which sum (alpha z_k / (alpha + lam_k))^2 = n eps, at 50 digits."""
    mpmath.mp.dps = 50
    lam = [mpmath.mpf(x) for x in lam]
    z = [mpmath.mpf(x) for x in z]

    def g(u):
        a = mpmath.e ** u
        return mpmath.log(sum((a * zk / (a + lk)) ** 2 for lk, zk in zip(lam, z))) \
            - mpmath.log(mpmath.mpf(n_eps))

    return float(mpmath.e ** mpmath.findroot(g, (-800, 50), solver="anderson"))


@pytest.mark.parametrize("K, y, eps", [
    ([[1.0]], [1.0], 5e-324),
    (np.diag([2.0, 1.0]), [1e155, 1.0], 1.0),
    (np.ones((2, 2)), [1.0, 1.0], 5e-324),
    ([[1.0]], [1e160], 1.0),
])
def test_self_distill_far_ends_of_the_float_range(K, y, eps):
    """Once OverflowError, ZeroDivisionError or a ridge of exactly 0: now the true ridge."""
    K = np.asarray(K, dtype=float)
    path = self_distill(K, y, epsilon=eps, n_rounds=1)
    lam, V = np.linalg.eigh(K)
    z = V.T @ np.asarray(y)
    n = K.shape[0]
    alpha0 = _mp_ridge(lam, z, mpmath.mpf(n) * mpmath.mpf(eps))
    assert path.ridges[0] == pytest.approx(alpha0, rel=1e-10)
    assert 0 < path.ridges[1] and np.isfinite(path.ridges[1])


def test_flow_prediction_has_a_rank_cut_off_at_every_time():
    """Duplicated inputs: round-off in the null direction was multiplied by eta t / n
    (time=1e20 predicted -23336); every long time now gives the minimum-norm interpolant."""
    X, y = np.array([[0.0], [0.0], [1.0]]), np.array([1.0, -1.0, 0.5])
    Xq = np.array([[0.5]])
    K, Kq = gram(X, gamma=1.0), gram(Xq, X, gamma=1.0)
    ref = Kq @ np.linalg.pinv(K, hermitian=True, rcond=1e-12) @ y
    for t in (1e20, np.inf):
        pred = GradientFlowKernelRegressor(time=t, gamma=1.0).fit(X, y).predict(Xq)
        np.testing.assert_allclose(pred, ref, rtol=1e-8)
    model = GradientFlowKernelRegressor(time=1.0, gamma=1.0).fit(X, y)
    staged = np.stack(list(model.staged_predict(Xq, [1e300, np.inf])))
    np.testing.assert_allclose(staged, np.stack([ref, ref]), rtol=1e-8)


def test_bounds_and_comparison_at_the_float_range():
    b = bounds.collapse_round_bounds([1.0, 0.5], 1e200, 2, 1.0)
    assert b.upper == np.inf and b.lower == pytest.approx(1e200 / np.sqrt(2) - 1)
    with pytest.raises(ValueError, match="DistillationPath.*str"):
        bounds.check_bounds("x")
    # zero labels: every error is 0 and the flow meets it at time 0
    cmp = match_early_stopping(np.eye(3), np.zeros(3), epsilon=0.1)
    assert np.all(cmp.flow_times == 0) and np.all(cmp.table["train_mse"] == 0)
    # a budget near the smallest double: the flow times are finite and reproduce the errors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmp = match_early_stopping(np.eye(3), [1.0, 2.0, 3.0], epsilon=1e-320, n_rounds=3)
    assert np.all(np.isfinite(cmp.flow_times))
    sd, es = cmp.table[0::2], cmp.table[1::2]
    np.testing.assert_allclose(es["train_mse"], sd["train_mse"], rtol=1e-6)
    # K = I: round 0's error to the labels is exactly the budget
    assert sd["train_mse"][0] == pytest.approx(1e-320, rel=1e-3)


def test_complex_inputs_are_refused():
    K = np.eye(2)
    with pytest.raises(ValueError, match="complex"):
        self_distill(K, np.array([1 + 1j, 0.0]), epsilon=0.1)
    with pytest.raises(ValueError, match="complex"):
        hilbert_sd.gradient_flow(K, np.array([1j, 0.0]), [1.0])
    with pytest.raises(ValueError, match="complex"):
        self_distill(K.astype(complex), [1.0, 0.0], epsilon=0.1)


def test_prediction_inputs_are_checked_once():
    K, K_new, y = _problem(4)
    path = self_distill(K, y, epsilon=0.05)
    with pytest.raises(ValueError, match="NaN or infinite"):
        path.predict([[np.nan] * K.shape[0]])


def test_symmetry_check_allocates_no_n_by_n_temporary():
    import tracemalloc

    from hilbert_sd._validation import check_square_symmetric

    n = 2000
    A = np.random.default_rng(0).standard_normal((n, n))
    A = A + A.T
    tracemalloc.start()
    check_square_symmetric(A)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.1 * A.nbytes, peak
    A[3, 7] += 1.0
    with pytest.raises(ValueError, match="symmetric"):
        check_square_symmetric(A)


def test_spectrum_keeps_its_constructor():
    lam = np.array([2.0, 1.0])
    spec = Spectrum(eigenvalues=lam, eigenvectors=np.eye(2))
    assert spec.n == 2 and spec.numerical_rank == 2 and "dense" in repr(spec)


def test_auto_plans_the_backend_from_the_memory_available():
    from hilbert_sd.spectral import _plan

    n = 1000
    matrix = 8 * n * n
    assert _plan(n, "auto", available=10 * matrix) == "implicit"
    assert _plan(n, "auto", available=int(2.5 * matrix)) == "dense"  # implicit needs 3 n^2
    with pytest.raises(ValueError, match=r"needs about 15 MiB .* but 8 MiB are available; allowed: n up to about 707"):
        _plan(n, "auto", available=matrix)
    with pytest.raises(ValueError, match="method='implicit' at n=1000"):
        _plan(n, "implicit", available=2 * matrix)
    # at n = 5e4 a dense factorization needs 2 x 20 GB: refused by name on this 24 GB machine
    with pytest.raises(ValueError, match="method='dense' at n=50000 needs about 37.3 GiB"):
        _plan(50_000, "dense", available=24 * 2**30)
