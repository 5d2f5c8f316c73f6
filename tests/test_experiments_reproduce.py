"""``hilbert-sd reproduce``: the shipped reference experiment, its files, and name handling."""

import csv

import numpy as np
import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments.registry import NAMED_EXPERIMENTS
from hilbert_sd.experiments.store import ResultStore


def test_help_lists_the_named_experiments(capsys):
    with pytest.raises(SystemExit) as info:
        main(["reproduce", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in NAMED_EXPERIMENTS:
        assert name in out


def test_unknown_name_is_a_usage_error(capsys, tmp_path):
    assert main(["reproduce", "no-such-experiment", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "unknown experiment 'no-such-experiment'; available: self-distillation" in err


def test_reference_self_distillation(tmp_path, capsys):
    from sklearn.kernel_ridge import KernelRidge

    out = tmp_path / "ref"
    assert main(["reproduce", "self-distillation", "--out", str(out), "-q"]) == 0
    for name in ("results.db", "results.csv", "self_distillation.png", "summary.csv"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "summary.csv", newline="") as fh:
        summary = list(csv.DictReader(fh))
    assert [float(r["epsilon"]) for r in summary] == [0.002, 0.005, 0.01, 0.02, 0.05, 0.1]
    with ResultStore(out / "results.db") as store:
        rows = store.rows()
    assert len(rows) == 6 and all(r["status"] == "done" for r in rows)

    data = np.loadtxt(_toy(), delimiter=",", skiprows=1)
    x, y = data[:, :1], data[:, 1]
    K = np.exp(-80.0 * (x - x.T) ** 2)
    x_test = np.linspace(0, 1, 501)[:, None]
    K_test = np.exp(-80.0 * (x_test - x.T) ** 2)
    truth = np.sin(2 * np.pi * x_test[:, 0])
    for row in rows:
        res, eps = row["results"], row["params"]["method.epsilon"]
        T = res["collapse_round"]
        # collapse round: the first t with ||y_t||^2 <= n eps, by literal refits
        targets, norms, tests = y, [], []
        for t in range(T):
            norms.append(np.sum(targets ** 2))
            model = KernelRidge(alpha=res[f"alpha[{t}]"], kernel="precomputed").fit(K, targets)
            tests.append(np.mean((model.predict(K_test) - truth) ** 2))
            fit = model.predict(K)
            # M1: the stored ridge puts the training error exactly on the budget
            assert np.mean((fit - targets) ** 2) == pytest.approx(eps, rel=1e-9)
            targets = fit
        assert all(s > len(y) * eps for s in norms)
        assert np.sum(targets ** 2) <= len(y) * eps * (1 + 1e-9)
        np.testing.assert_allclose([res[f"test_mse[{t}]"] for t in range(T)], tests, rtol=1e-9)
        alphas = [res[f"alpha[{t}]"] for t in range(T)]
        assert np.all(np.diff(alphas) > 0)  # M3: the ridge grows every round
    # [paper] qualitative behaviour: for small eps the test error first falls, then rises
    smallest = min(rows, key=lambda r: r["params"]["method.epsilon"])["results"]
    assert 0 < smallest["best_round"] < smallest["collapse_round"] - 1
    assert smallest["best_test_mse"] < smallest["test_mse[0]"]

    # running again reuses the store
    capsys.readouterr()
    assert main(["reproduce", "self-distillation", "--out", str(out), "-q"]) == 0
    assert "0 done, 0 failed, 6 skipped" in capsys.readouterr().err


def _toy():
    from hilbert_sd.experiments.config import resolve_data_path

    return resolve_data_path("hilbert_sd:data/mobahi_toy.csv", ".")


def _expected_isotropic_risk(n, d):
    """E R_n = (1/π) E[arccos √B], B ~ Beta(n/2, (d - n)/2), by scipy's expectation of the
    Beta law (not the package's quadrature) [derived]."""
    from scipy import stats

    if n >= d:
        return 0.0
    return stats.beta(n / 2, (d - n) / 2).expect(lambda b: np.arccos(np.sqrt(b))) / np.pi


def test_linear_teacher_sweep_matches_the_exact_expectation(tmp_path, capsys):
    pytest.importorskip("hilbert_sd.linear")
    out = tmp_path / "lt"
    assert main(["reproduce", "linear-teacher", "--out", str(out), "-q"]) == 0
    summary = capsys.readouterr().out
    # the report of hilbert-sd linear-teacher, on the store's rows
    for name in ("results.db", "linear_teacher.csv", "linear_teacher.json",
                 "linear_teacher.png"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "linear_teacher.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert [int(line["n"]) for line in table] == [2, 4, 6, 8, 10, 12, 14, 16, 18, 19, 20, 24]
    for line in table:
        n, d, draws = int(line["n"]), int(line["d"]), int(line["draws"])
        mean, se = float(line["risk_mean"]), float(line["risk_se"])
        exact = _expected_isotropic_risk(n, d)
        assert line["geometry"] == "isotropic" and d == 20 and draws == 1000
        assert float(line["risk_expected_exact"]) == pytest.approx(exact, abs=1e-8)
        if n >= d:  # [paper] the student recovers the teacher
            assert float(line["risk_expected_exact"]) == 0 and mean < 1e-12
        else:  # Monte Carlo over 1000 training sets against E R_n [derived]
            assert 0 < se < 0.003 and abs(mean - exact) < 4 * se, (n, mean, exact, se)
        # the hard-label student does not recover the teacher at n >= d [derived]; at these
        # sizes it is worse than the distilled one throughout (observed, as on the examples
        # page)
        assert float(line["hard_risk_mean"]) > max(mean, 0.1 if n >= d else 0.0)
    assert summary.startswith("geometry") and "E R_n" in summary.splitlines()[0]
    # the quick command with the same parameters is the same study: the same numbers
    quick = tmp_path / "quick"
    assert main(["linear-teacher", "--d", "20", "--n", "2,4,6,8,10,12,14,16,18,19,20,24",
                 "--draws", "1000", "--geometries", "isotropic", "--out", str(quick),
                 "--quiet"]) == 0
    assert (quick / "linear_teacher.csv").read_text() == (out / "linear_teacher.csv").read_text()
