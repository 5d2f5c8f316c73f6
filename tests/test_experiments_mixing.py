"""Reproductions of optimal mixing (hilbert_sd.experiments.mixing) against independent brute
force: smoother matrices formed from the kernel matrix itself (no eigendecomposition), their
exact expected risk, and scipy.optimize. The library functions run through the one runner;
their rows are also checked against the filters of hilbert_sd.filters applied directly to
numpy's eigendecomposition of the kernel matrix written out."""

import csv
import json
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.linalg  # noqa: E402
import scipy.optimize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hilbert_sd.cli import main  # noqa: E402
from hilbert_sd.experiments import mixing  # noqa: E402


# ------------------------------------------------------------------ independent references
@pytest.fixture(scope="module")
def literal():
    """The reference inputs, the RBF kernel matrix written out, and f* = sin(2 pi x)."""
    x = np.linspace(0.0, 1.0, 11)  # the inputs of mobahi_toy.csv
    from hilbert_sd.datasets import load_mobahi_toy

    np.testing.assert_allclose(load_mobahi_toy()[0][:, 0], x, atol=1e-12)
    K = np.exp(-80.0 * (x[:, None] - x[None, :]) ** 2)
    return K, np.sin(2 * np.pi * x)


def smoother(K, alpha, xis=()):
    """The fit of mixed self-distillation as a matrix: S = K (K + alpha I)^-1, then
    M_t = S (xi_t M_{t-1} + (1 - xi_t) I) for each weight (targets xi f_{t-1} + (1 - xi) y)."""
    n = K.shape[0]
    S = scipy.linalg.solve(K + alpha * np.eye(n), K, assume_a="pos").T
    M = S
    for xi in xis:
        M = S @ (xi * M + (1.0 - xi) * np.eye(n))
    return M


def exact_risk(M, f, noise_var):
    """E (1/n)||M (f + e) - f||^2 for e ~ N(0, noise_var I): bias^2 + noise_var tr(M^T M)."""
    r = M @ f - f
    return (r @ r + noise_var * np.sum(M * M)) / f.size


def brute_best_ridge(K, f, noise_var):
    res = scipy.optimize.minimize_scalar(
        lambda u: exact_risk(smoother(K, np.exp(u)), f, noise_var), bounds=(-12, 8),
        method="bounded", options={"xatol": 1e-10})
    return np.exp(res.x), res.fun


def direct_problem(gamma=80.0):
    """Eigenvalues and theta = U^T f* from numpy's eigh of the RBF kernel matrix written out on
    the inputs of load_mobahi_toy, f* = sin(2 pi x) (not the runner's factorization)."""
    from hilbert_sd.datasets import load_mobahi_toy

    x = load_mobahi_toy()[0][:, 0]
    lam, U = np.linalg.eigh(np.exp(-gamma * (x[:, None] - x[None, :]) ** 2))
    lam, U = lam[::-1], U[:, ::-1]
    return lam, U.T @ np.sin(2 * np.pi * x)


def direct_risk(h, theta, noise_var):
    """(1/n) sum_k [(h_k - 1)^2 theta_k^2 + h_k^2 noise_var]."""
    return np.mean((h - 1.0) ** 2 * theta**2 + h**2 * noise_var)


# ------------------------------------------------------------------------- one-step xi*
@pytest.fixture(scope="module")
def xi_result():
    return mixing.optimal_xi_vs_noise()


@pytest.mark.parametrize("kwargs", [{}, {"noise_vars": [3.0, 0.05, 0.5], "alpha": 0.3,
                                         "gamma": 40.0}])
def test_xi_rows_equal_the_filters_on_a_direct_eigendecomposition(kwargs):
    from hilbert_sd import filters

    result = mixing.optimal_xi_vs_noise(**kwargs)  # through the runner
    alpha, gamma = kwargs.get("alpha", 1.0), kwargs.get("gamma", 80.0)
    noise_vars = sorted(kwargs.get("noise_vars", mixing.DEFAULT_XI_NOISE_VARS))
    lam, theta = direct_problem(gamma)
    assert result.config == {"gamma": gamma, "alpha": alpha, "n": 11}
    assert result.alpha == alpha
    assert [r["noise_var"] for r in result.rows] == noise_vars  # sorted increasingly
    for row, v in zip(result.rows, noise_vars, strict=True):
        opt = filters.optimal_xi(lam, alpha, theta, v)
        s = lam / (lam + alpha)
        expected = {
            "noise_var": v, "xi": opt.xi, "risk_ridge": direct_risk(s, theta, v),
            "risk_sd": direct_risk(s * s, theta, v),  # one plain step: s (s y)
            "risk_xi": opt.risk, "ratio": opt.risk / direct_risk(s, theta, v),
            "best_alpha": filters.optimal_ridge(lam, theta, v).alpha,
        }
        assert list(row) == list(expected)
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-12), (v, key)
    # the closed forms of the crossing of 1 and of the limit [derived]
    s = lam / (lam + alpha)
    w, t2 = 1.0 - s, theta**2
    A, B, C, D = (np.sum(s**2 * w), np.sum(s * w**2 * t2), np.sum((s * w) ** 2 * t2),
                  np.sum((s * w) ** 2))
    assert result.crossing == pytest.approx((B + C) / (A - D), rel=1e-12)
    assert result.limit == pytest.approx(A / D, rel=1e-12)


def test_xi_crosses_one_monotone_in_the_noise(xi_result):
    xi = xi_result.xi
    v = xi_result.noise_vars
    assert np.all(np.diff(v) > 0)
    assert xi[0] < 1.0 < xi[-1]  # light noise below 1, heavy noise above [paper, qualitative]
    assert np.all(np.diff(xi) > 0)  # monotone in the noise variance [derived]
    # the closed-form crossing lies between the table's neighbours and the limit above all
    i = np.searchsorted(xi, 1.0)
    assert v[i - 1] < xi_result.crossing < v[i]
    assert xi[-1] < xi_result.limit


@pytest.mark.parametrize("which", [0, -1])  # the light-noise and the heavy-noise end
def test_xi_against_brute_force_minimization(literal, xi_result, which):
    K, f = literal
    row = xi_result.rows[which]
    v, alpha = row["noise_var"], xi_result.alpha

    def risk(xi):
        return exact_risk(smoother(K, alpha, [xi]), f, v)

    found = scipy.optimize.minimize_scalar(risk, bracket=(-5.0, 5.0), method="brent",
                                           options={"xtol": 1e-12})
    assert row["xi"] == pytest.approx(found.x, abs=1e-6)
    assert row["risk_xi"] == pytest.approx(found.fun, rel=1e-9)
    assert row["risk_ridge"] == pytest.approx(exact_risk(smoother(K, alpha), f, v), rel=1e-10)
    assert row["risk_sd"] == pytest.approx(risk(1.0), rel=1e-10)
    best_alpha, _ = brute_best_ridge(K, f, v)
    assert row["best_alpha"] == pytest.approx(best_alpha, rel=1e-5)


def test_xi_is_one_at_the_crossing(literal, xi_result):
    K, f = literal
    found = scipy.optimize.minimize_scalar(
        lambda xi: exact_risk(smoother(K, xi_result.alpha, [xi]), f, xi_result.crossing),
        bracket=(0.0, 2.0), method="brent", options={"xtol": 1e-12})
    assert found.x == pytest.approx(1.0, abs=1e-6)


# ------------------------------------------------------------------- k steps, best ridge
@pytest.fixture(scope="module")
def kstep_result():
    return mixing.kstep_vs_best_ridge()


@pytest.mark.parametrize("v, k", [(0.1, 3), (1.0, 2)])
def test_kstep_row_equals_the_filters_on_a_direct_eigendecomposition(kstep_result, v, k):
    from hilbert_sd import filters

    lam, theta = direct_problem()
    row = next(r for r in kstep_result.rows if r["noise_var"] == v and r["k"] == k)
    best = filters.optimal_ridge(lam, theta, v)
    opt = filters.optimal_schedule(lam, best.alpha, theta, v, k)
    oracle = direct_risk(theta**2 / (theta**2 + v), theta, v)
    expected = {"noise_var": v, "k": k, "best_alpha": best.alpha, "ridge_risk": best.risk,
                "risk": opt.risk, "ratio": opt.risk / best.risk,
                "oracle_ratio": oracle / best.risk}
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=1e-12), key
    np.testing.assert_allclose(row["xi"], opt.xi, rtol=1e-12)
    assert row["ill_conditioned"] is False


def test_kstep_problem_and_order_of_the_runner(kstep_result):
    # the problem of the figure is reference_problem's (the same factorization), bit for bit
    lam, theta = mixing.reference_problem()
    np.testing.assert_array_equal(kstep_result.eigenvalues, lam)
    np.testing.assert_array_equal(kstep_result.theta, theta)
    np.testing.assert_allclose(lam, direct_problem()[0], rtol=1e-12)
    assert kstep_result.config == {"gamma": 80.0, "max_steps": mixing.DEFAULT_MAX_STEPS,
                                   "noise_vars": list(mixing.DEFAULT_KSTEP_NOISE_VARS),
                                   "n": 11}
    # the given order of the noise variances is kept; the rows are those of the full run
    result = mixing.kstep_vs_best_ridge([1.0, 0.01], max_steps=2)
    assert result.noise_vars == [1.0, 0.01]
    assert [(r["noise_var"], r["k"]) for r in result.rows] == [
        (1.0, 0), (1.0, 1), (1.0, 2), (0.01, 0), (0.01, 1), (0.01, 2)]
    full = {(r["noise_var"], r["k"]): r for r in kstep_result.rows}
    assert all(r == full[r["noise_var"], r["k"]] for r in result.rows)


@pytest.mark.parametrize("call, where", [
    (lambda: mixing.optimal_xi_vs_noise([0.1, -1.0]), "method[0].noise_var[1]"),
    (lambda: mixing.optimal_xi_vs_noise([0.1, 0.1]), "method[0].noise_var"),
    (lambda: mixing.optimal_xi_vs_noise(alpha=0.0), "method[0].alpha"),
    (lambda: mixing.optimal_xi_vs_noise(gamma=-1.0), "kernel.gamma"),
    (lambda: mixing.kstep_vs_best_ridge([float("nan")]), "method[0].noise_var[0]"),
    (lambda: mixing.kstep_vs_best_ridge(max_steps=-1), "method[0].max_steps"),
    (lambda: mixing.kstep_vs_best_ridge(max_steps=2.5), "method[0].max_steps"),
])
def test_arguments_are_checked_by_the_config(call, where):
    with pytest.raises(ValueError, match=re.escape(where)):
        call()


def test_kstep_risks_non_increasing_and_below_the_best_ridge(kstep_result):
    assert not any(r["ill_conditioned"] for r in kstep_result.rows)
    for v in kstep_result.noise_vars:
        ratio = kstep_result.ratios(v)
        assert ratio.shape == (mixing.DEFAULT_MAX_STEPS + 1,)
        assert np.all(np.diff(ratio) <= 1e-12), (v, ratio)
        assert ratio[0] == pytest.approx(1.0, abs=1e-12)
        assert ratio[1] == pytest.approx(1.0, abs=1e-9)  # xi* = 0 at the best ridge
        assert np.all(ratio[2:] < 1.0), (v, ratio)  # [paper, qualitative]
        oracle = next(r["oracle_ratio"] for r in kstep_result.rows if r["noise_var"] == v)
        assert 0 < oracle < ratio[-1]


def test_kstep_numbers_against_literal_smoothers(literal, kstep_result):
    K, f = literal
    for v in kstep_result.noise_vars:
        rows = [r for r in kstep_result.rows if r["noise_var"] == v]
        alpha, ridge_risk = rows[0]["best_alpha"], rows[0]["ridge_risk"]
        best_alpha, best_risk = brute_best_ridge(K, f, v)
        assert alpha == pytest.approx(best_alpha, rel=1e-5)
        assert ridge_risk == pytest.approx(best_risk, rel=1e-9)
        for r in rows:  # each reported risk is that of its schedule, refitted literally
            assert len(r["xi"]) == r["k"]
            literal_risk = exact_risk(smoother(K, alpha, r["xi"]), f, v)
            assert r["risk"] == pytest.approx(literal_risk, rel=1e-8), (v, r["k"])


def test_two_step_schedule_is_the_brute_force_optimum(literal, kstep_result):
    K, f = literal
    v = 0.1
    row = next(r for r in kstep_result.rows if r["noise_var"] == v and r["k"] == 2)
    alpha = row["best_alpha"]

    def risk(p):
        return exact_risk(smoother(K, alpha, p), f, v)

    best = min((scipy.optimize.minimize(risk, x0, method="Nelder-Mead",
                                        options={"xatol": 1e-10, "fatol": 1e-14,
                                                 "maxiter": 4000})
                for x0 in ([0.0, 0.0], [-1.0, 1.0], [1.0, 1.0], [-1.0, 4.0])),
               key=lambda r: r.fun)
    assert row["risk"] == pytest.approx(best.fun, rel=1e-7)
    assert best.fun < row["ridge_risk"]


# ---------------------------------------------------------------- protocol and command
def test_results_follow_the_study_protocol(tmp_path, xi_result, kstep_result):
    for result, name in ((xi_result, "optimal_xi_noise"), (kstep_result, "kstep_mixing")):
        assert len(repr(result)) < 300
        text = result.summary()
        assert result.format_table() in text
        fig = result.plot()
        assert isinstance(fig, Figure) and len(fig.axes) == 2
        assert all(a.get_xlabel() and a.get_ylabel() and a.get_title() for a in fig.axes)
        out = tmp_path / name
        paths = result.save(out)
        assert [p.name for p in paths] == [f"{name}.{e}" for e in ("csv", "json", "png")]
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
        assert all(p.stat().st_size > 0 for p in paths)
        assert json.loads(paths[1].read_text())["rows"] == result.rows
    # what the xi figure draws: xi* per noise variance and the crossing of 1
    ax = xi_result.plot().axes[0]
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), xi_result.noise_vars)
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), xi_result.xi)
    star = next(line for line in ax.get_lines() if line.get_marker() == "*")
    assert star.get_xdata()[0] == xi_result.crossing and star.get_ydata()[0] == 1.0


def test_reproduce_optimal_mixing_writes_its_tables(tmp_path, capsys):
    out = tmp_path / "mix"
    assert main(["reproduce", "optimal-mixing", "--out", str(out), "-q"]) == 0
    names = {p.name for p in out.iterdir()}
    # a sweep of the shipped config into results.db (exported as results.csv), then the report
    assert names == {f"{s}.{e}" for s in ("optimal_xi_noise", "kstep_mixing")
                     for e in ("csv", "json", "png")} | {"results.db", "results.csv"}
    captured = capsys.readouterr()
    assert "xi* increases with the noise variance" in captured.out
    assert "NO" not in captured.out and captured.out.count("yes") == 5
    assert "kstep_mixing.png" in captured.err
    with open(out / "optimal_xi_noise.csv", newline="") as fh:
        xi = [float(r["xi"]) for r in csv.DictReader(fh)]
    assert xi[0] < 1.0 < xi[-1]
    with open(out / "kstep_mixing.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(mixing.DEFAULT_KSTEP_NOISE_VARS) * (mixing.DEFAULT_MAX_STEPS + 1)
    assert all(float(r["ratio"]) < 1 for r in rows if int(r["k"]) >= 2)
    assert json.loads(rows[3]["xi"]) and len(json.loads(rows[3]["xi"])) == 3
