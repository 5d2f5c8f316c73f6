"""Reproductions of optimal mixing (hilbert_sd.experiments.mixing) against independent brute
force: smoother matrices formed from the kernel matrix itself (no eigendecomposition), their
exact expected risk, and scipy.optimize."""

import csv
import json

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


# ------------------------------------------------------------------------- one-step xi*
@pytest.fixture(scope="module")
def xi_result():
    return mixing.optimal_xi_vs_noise()


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
