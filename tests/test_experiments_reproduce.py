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


def test_linear_teacher_sweep_matches_the_exact_expectation(tmp_path):
    pytest.importorskip("hilbert_sd.linear")
    out = tmp_path / "lt"
    assert main(["reproduce", "linear-teacher", "--out", str(out), "-q"]) == 0
    assert (out / "linear_teacher.png").stat().st_size > 0
    with open(out / "summary.csv", newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 12
    for line in table:
        n, d = int(line["n"]), int(line["d"])
        mean, se = float(line["mean_risk"]), float(line["se"])
        exact = float(line["exact_expected_risk"])
        if n >= d:  # [paper] the student recovers the teacher
            assert exact == 0 and mean < 1e-12
        else:  # Monte Carlo over 50 teachers against E R_n of theory.md §4 [derived]
            assert abs(mean - exact) < 4 * se, (n, mean, exact, se)
