"""The gradient_flow and linear_teacher methods of the experiments registry, against
independent references (matrix exponentials, projections)."""

import numpy as np
import pytest
import scipy.linalg

import naive_experiments
from hilbert_sd.experiments.config import parse_config
from hilbert_sd.experiments.runner import load_dataset, run_sweep
from hilbert_sd.experiments.store import ResultStore


def sweep(raw, path):
    config = parse_config(raw)
    with ResultStore(path) as store:
        report = run_sweep(config, store, progress=False)
        rows = store.rows()
    return config, report, rows


def test_gradient_flow_against_matrix_exponentials(tmp_path):
    pytest.importorskip("hilbert_sd.flow")
    times = [0.0, 0.5, 5.0, 50.0]
    raw = {"experiment": {"seeds": 2},
           "data": {"generator": "sine", "n_samples": 15, "label_noise": 0.2, "n_test": 30},
           "kernel": {"name": "rbf", "gamma": 20.0},
           "method": {"name": "gradient_flow", "times": times, "learning_rate": [1.0, 3.0]}}
    config, report, rows = sweep(raw, tmp_path / "s.db")
    assert report.done == 4 and report.groups == 1
    data = load_dataset(config.data[0], config.base_dir)
    n = len(data.y)
    K = naive_experiments.rbf(data.X, data.X, 20.0)
    K_test = naive_experiments.rbf(data.X_test, data.X, 20.0)
    for row in rows:
        res, eta = row["results"], row["params"]["method.learning_rate"]
        y = data.y + 0.2 * np.random.default_rng(row["seed"]).standard_normal(n)
        # Van Loan: expm([[A, I], [0, 0]] t) holds e^{At} and its integral over [0, t]
        A = -eta * K / n
        M = np.block([[A, np.eye(n)], [np.zeros((n, n)), np.zeros((n, n))]])
        tests = []
        for i, t in enumerate(times):
            E = scipy.linalg.expm(M * t)
            u = y - E[:n, :n] @ y                     # (I - e^{-ηtK/n}) y
            a = (eta / n) * (E[:n, n:] @ y)           # dual coefficients of f_t
            assert res[f"time[{i}]"] == t
            assert res[f"train_mse[{i}]"] == pytest.approx(np.mean((u - y) ** 2), rel=1e-10,
                                                           abs=1e-14)
            assert res[f"clean_mse[{i}]"] == pytest.approx(np.mean((u - data.y) ** 2),
                                                           rel=1e-10)
            tests.append(np.mean((K_test @ a - data.y_test) ** 2))
            assert res[f"test_mse[{i}]"] == pytest.approx(tests[-1], rel=1e-10)
        assert res["best_index"] == int(np.argmin(tests))
        assert res["best_time"] == times[res["best_index"]]


def test_linear_teacher_against_projections(tmp_path):
    pytest.importorskip("hilbert_sd.linear")
    d = 8
    raw = {"experiment": {"seeds": 3},
           "data": {"generator": "gaussian", "n_samples": [4, 12], "n_features": d,
                    "n_test": 500},
           "method": {"name": "linear_teacher"}}
    config, report, rows = sweep(raw, tmp_path / "s.db")
    assert report.done == 6
    for row in rows:
        res = row["results"]
        data_opt = row["config"]["data"]
        X = load_dataset(data_opt, config.base_dir).X
        n = X.shape[0]
        # the teacher: documented as a unit vector from default_rng([seed, 1])
        w = np.random.default_rng([row["seed"], 1]).standard_normal(d)
        w /= np.linalg.norm(w)
        # [paper] n >= d: the student recovers the teacher; n < d: its projection on span(X)
        P = X.T @ np.linalg.pinv(X.T)
        expected = np.arccos(min(1.0, np.linalg.norm(P @ w))) if n < d else 0.0
        assert res["angle"] == pytest.approx(expected, abs=1e-7)
        assert res["transfer_risk"] == pytest.approx(res["angle"] / np.pi, abs=1e-12)
        assert (res["n"], res["d"]) == (n, d)
        if n == d // 2:
            assert res["expected_isotropic_risk"] == pytest.approx(0.25, abs=1e-12)
        # the Monte Carlo disagreement on 500 test points within 5 standard errors
        se = max(np.sqrt(res["transfer_risk"] * (1 - res["transfer_risk"]) / 500), 1e-3)
        assert abs(res["test_risk"] - res["transfer_risk"]) < 5 * se


def test_deep_linear_student_needs_a_nonzero_start(tmp_path):
    from hilbert_sd.experiments.schema import ConfigError

    raw = {"data": {"generator": "gaussian", "n_samples": 4},
           "method": {"name": "linear_teacher", "depth": 2}}
    with pytest.raises(ConfigError, match="method.init_scale: must be > 0 for depth >= 2"):
        parse_config(raw)
