"""The gradient_flow and linear_teacher methods of the experiments registry, against
independent references (matrix exponentials, projections, least squares, SLSQP, a full-width
deep network trained entry by entry)."""

import numpy as np
import pytest
import scipy.linalg

import naive_experiments
import naive_linear
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


def _teacher_and_streams(seed, geometry_index, n, d):
    """The documented streams of a linear_teacher row: the seed's unit teacher, the training
    sets' stream and the students' starts' stream."""
    w = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).standard_normal(d)
    w /= np.linalg.norm(w)
    return (w, np.random.default_rng([seed, geometry_index, n]),
            np.random.default_rng([seed, geometry_index, n, 1]))


def test_linear_teacher_against_projections(tmp_path):
    """From zero: every student is the projection of the teacher on the span of its inputs
    (pseudo-inverse), the hard-label student the max-margin direction (SLSQP); exact and
    Monte Carlo risks recomputed from the same draws."""
    pytest.importorskip("hilbert_sd.linear")
    d, draws = 8, 5
    raw = {"experiment": {"seeds": 2},
           "data": {"generator": "gaussian", "n_samples": [4, 12], "n_features": d,
                    "n_test": 0},
           "method": [{"name": "linear_teacher", "draws": draws},
                      {"name": "linear_teacher", "draws": draws, "risk": "monte_carlo",
                       "n_test": 500}]}
    config, report, rows = sweep(raw, tmp_path / "s.db")
    assert report.done == 8
    for row in rows:
        res, m = row["results"], row["config"]["method"]
        n = row["config"]["data"]["n_samples"]
        w, rng, _ = _teacher_and_streams(row["seed"], 0, n, d)
        students, hard = [], []
        for _ in range(draws):
            X = rng.standard_normal((n, d))
            # [paper] n >= d: the student recovers the teacher; n < d: its projection
            students.append(naive_linear.pinv_projector(X) @ w)
            y = np.sign(X @ w)
            hard.append(naive_linear.slsqp_max_margin(X, y))
        angles = np.array([naive_linear.naive_angle(v, w) for v in students])
        if m["risk"] == "exact":  # isotropic inputs: risk = angle / pi [derived]
            risks = angles / np.pi
            hard_risks = np.array([naive_linear.naive_angle(v, w) for v in hard]) / np.pi
        else:  # the test inputs follow the training sets in the same stream
            X_test = rng.standard_normal((m["n_test"], d))
            truth = np.sign(X_test @ w)
            risks = np.array([np.mean(np.sign(X_test @ v) != truth) for v in students])
            X_test = rng.standard_normal((m["n_test"], d))
            truth = np.sign(X_test @ w)
            hard_risks = np.array([np.mean(np.sign(X_test @ v) != truth) for v in hard])
        assert (res["n"], res["d"], res["draws"]) == (n, d, draws)
        assert res["angle_mean"] == pytest.approx(angles.mean(), abs=1e-7)
        assert res["risk_mean"] == pytest.approx(risks.mean(), abs=1e-7)
        assert res["risk_se"] == pytest.approx(risks.std(ddof=1) / np.sqrt(draws), abs=1e-7)
        assert res["hard_risk_mean"] == pytest.approx(hard_risks.mean(), abs=1e-5)
        if n >= d:
            assert res["angle_mean"] < 1e-12 and res["risk_mean"] < 1e-12
        else:  # E R_{d/2} = 1/4 exactly [derived]
            assert res["risk_expected_exact"] == pytest.approx(0.25, abs=1e-12)


@pytest.mark.parametrize("solver", ["closed_form", "gradient_flow"])
def test_linear_teacher_student_parameters(tmp_path, solver):
    """depth, temperature, init_scale and solver reach the students: depth 1 from w_0 ends at
    w_0 + X⁺(X w*/τ - X w_0) (least squares), depth 2 where a full-width balanced network
    trained entry by entry ends (explicit RK45); the flow check agrees with the closed form."""
    pytest.importorskip("hilbert_sd.linear")
    d, draws, tau, scale = 6, 2, 2.0, 0.3
    raw = {"experiment": {"seeds": [3]},
           "data": {"generator": "gaussian", "n_samples": [3, 8], "n_features": d,
                    "n_test": 0},
           "method": {"name": "linear_teacher", "draws": draws, "depth": [1, 2],
                      "temperature": tau, "init_scale": scale, "solver": solver,
                      "flow_draws": 1}}
    config, report, rows = sweep(raw, tmp_path / "s.db")
    assert report.done == 4
    for row in rows:
        res, depth = row["results"], row["config"]["method"]["depth"]
        n = row["config"]["data"]["n_samples"]
        w, rng, init = _teacher_and_streams(row["seed"], 0, n, d)
        angles, projections = [], []
        for _ in range(draws):
            X = rng.standard_normal((n, d))
            w0 = scale * init.standard_normal(d)
            if depth == 1:
                ref = w0 + np.linalg.pinv(X) @ (X @ (w / tau) - X @ w0)
            else:
                layers = naive_linear.balanced_network(w0, depth, width=3,
                                                       rng=np.random.default_rng(0))
                ref = naive_linear.full_width_deep_flow(
                    X, naive_linear.sigmoid(X @ (w / tau)), layers, t_end=2000.0)
            angles.append(naive_linear.naive_angle(ref, w))
            projections.append(naive_linear.naive_angle(naive_linear.pinv_projector(X) @ w, w))
        assert res["angle_mean"] == pytest.approx(np.mean(angles), abs=1e-6)
        assert res["flow_max_abs_error"] < 1e-6
        if n < d:  # the start is kept outside the span: not the projection's angle
            assert abs(res["angle_mean"] - np.mean(projections)) > 1e-3


def test_deep_linear_student_needs_a_nonzero_start(tmp_path):
    from hilbert_sd.experiments.schema import ConfigError

    raw = {"data": {"generator": "gaussian", "n_samples": 4},
           "method": {"name": "linear_teacher", "depth": 2}}
    with pytest.raises(ConfigError, match="method.init_scale: must be > 0 for depth >= 2"):
        parse_config(raw)
