"""``method = "filter_family"``: every member of the regularizer family run by the one sweep
runner, against literal refits in sample space.

References never use the code's eigendecomposition: scikit-learn ``KernelRidge`` refits
(ridge, plain and mixed self-distillation, iterated-Tikhonov boosting, and their smoothers from
refits of the identity: tests/naive.py), the projection onto the top eigenvectors of numpy's
``eigh`` (kernel PCR), a Van Loan matrix exponential (gradient flow) and literal
gradient-descent iterations, on kernel matrices built by a double loop (``naive.rbf``). The
data are regenerated from the resolved ``[data]`` table of each row, with the label noise of
its seed drawn as documented (``default_rng(seed)``, N(0, 1) times ``label_noise``), or read
from CSV files this test writes.
"""

import numpy as np
import pytest
import scipy.linalg

from hilbert_sd.experiments.config import parse_config
from hilbert_sd.experiments.reports import run_rows, series
from hilbert_sd.experiments.runner import load_dataset
from hilbert_sd.experiments.schema import ConfigError

import naive
from naive import rbf

RTOL = 1e-8
ATOL = 1e-12  # for values that are exactly 0 (time 0 of the flow)
GAMMA = 10.0
SIGMA = 0.3


def config(method, *, data=None, spectrum=None, gamma=GAMMA):
    raw = {"experiment": {"seeds": [0, 1]},
           "data": data or {"generator": "sine", "n_samples": 30, "n_test": 40,
                            "label_noise": SIGMA},
           "kernel": {"name": "rbf", "gamma": gamma},
           "method": {"name": "filter_family", **method}}
    if spectrum is not None:
        raw["spectrum"] = spectrum
    return raw


def problem(row):
    """X, noisy y, clean y, X_test, y_test of a row, regenerated independently of the runner."""
    data = row["config"]["data"]
    ds = load_dataset(data, ".")
    sigma = data.get("label_noise", 0.0)
    y = ds.y + sigma * np.random.default_rng(row["seed"]).standard_normal(ds.y.shape[0])
    return ds.X, y, ds.y, ds.X_test, ds.y_test


# ------------------------------------------------------------------ literal references
def flow_dual(K, y, time, eta):
    """a(t) = ∫_0^t c exp(−c K u) du y, c = η/n, from one Van Loan exponential."""
    n = K.shape[0]
    c = eta / n
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n] = -c * K * time
    M[:n, n:] = c * time * np.eye(n)
    return scipy.linalg.expm(M)[:n, n:] @ y


def descent_dual(K, y, steps, eta):
    """Dual coefficients after ``steps`` literal steps a <- a + (η/n)(y − K a) from 0."""
    n = K.shape[0]
    a = np.zeros_like(y, dtype=float)
    for _ in range(int(steps)):
        a = a + (eta / n) * (y - K @ a)
    return a


def literal_path(m, K, y, K_test):
    """(training fits, test predictions, traces of the smoothers), one per path point."""
    n = K.shape[0]
    eye = np.eye(n)
    family = m["family"]
    if family == "ridge":
        fit, new = naive.krr_fit_predict(K, y, m["alpha"], K_test)
        S, _ = naive.krr_fit_predict(K, eye, m["alpha"])
        return [fit], [new], [np.trace(S)]
    if family == "self_distillation":
        xis = [m["xi"]] * m["steps"]
        if m["xi"] == 1.0:  # the plain recursion: refit the previous fit
            _, fits, news = naive.naive_self_distill(K, y, alpha=m["alpha"],
                                                     n_rounds=m["steps"], K_new=K_test)
        else:
            _, fits, news = naive.naive_mixed_self_distill(K, y, xis, alpha=m["alpha"],
                                                           K_new=K_test)
        _, smoothers, _ = naive.naive_mixed_self_distill(K, eye, xis, alpha=m["alpha"])
        return fits, news, [np.trace(S) for S in smoothers]
    if family == "boosting":
        fits, news = naive.naive_boosting(K, y, m["alpha"], m["steps"], K_test)
        smoothers, _ = naive.naive_boosting(K, eye, m["alpha"], m["steps"])
        return fits, news, [np.trace(S) for S in smoothers]
    if family == "spectral_cutoff":
        ranks = m["ranks"]
        if ranks is None:  # thresholds: the number of eigenvalues of K at or above each τ
            lam = np.linalg.eigvalsh(K)
            ranks = [int(np.sum(lam >= tau)) for tau in m["thresholds"]]
        out = [naive.naive_spectral_cutoff(K, y, int(r), K_test) for r in ranks]
        traces = [np.trace(naive.naive_spectral_cutoff(K, eye, int(r))[0]) for r in ranks]
        return [o[0] for o in out], [o[1] for o in out], traces
    dual = flow_dual if family == "gradient_flow" else descent_dual
    duals = [dual(K, y, t, m["learning_rate"]) for t in m["times"]]
    traces = [np.trace(K @ dual(K, eye, t, m["learning_rate"])) for t in m["times"]]
    return [K @ a for a in duals], [K_test @ a for a in duals], traces


def worst(stored, reference):
    """Largest relative difference (ATOL below)."""
    stored, reference = np.asarray(stored, float), np.asarray(reference, float)
    assert stored.shape == reference.shape
    return float(np.max(np.abs(stored - reference) / (np.abs(reference) + ATOL / RTOL)))


def check_rows(rows, reference_of=literal_path, low_rank=None):
    """Every stored train_mse[j], clean_mse[j], test_mse[j], dof[j] and best point of ``rows``
    against the literal path of its config; returns the largest relative difference."""
    assert rows and all(r["status"] == "done" for r in rows)
    largest = 0.0
    for row in rows:
        m = row["config"]["method"]
        res = row["results"]
        X, y, y_clean, X_test, y_test = problem(row)
        gamma = row["config"]["kernel"]["gamma"]
        K, K_test = rbf(X, X, gamma), rbf(X_test, X, gamma)
        fits, news, traces = reference_of(m, K, y, K_test)
        train = [np.mean((f - y) ** 2) for f in fits]
        clean = [np.mean((f - y_clean) ** 2) for f in fits]
        test = [np.mean((p - y_test) ** 2) for p in news]
        for name, ref in (("train_mse", train), ("clean_mse", clean), ("test_mse", test),
                          ("dof", traces)):
            d = worst(series(res, name), ref)
            assert d <= RTOL, (m, row["seed"], name, d)
            largest = max(largest, d)
        assert res["best_index"] == int(np.argmin(test))
        assert res["best_test_mse"] == res[f"test_mse[{res['best_index']}]"]
    return largest


# ------------------------------------------------------------------ every family
FAMILY_CASES = [
    {"family": "ridge", "alpha": [0.05, 0.5]},
    {"family": "self_distillation", "alpha": [0.05, 0.5], "steps": 4},
    {"family": "self_distillation", "alpha": [0.05, 0.5], "steps": 3, "xi": [-0.5, 1.7]},
    {"family": "boosting", "alpha": [0.05, 0.5], "steps": 4},
    {"family": "spectral_cutoff", "ranks": [0, 1, 3, 6]},
    {"family": "spectral_cutoff", "thresholds": [0.05, 0.5, 100.0]},
    {"family": "gradient_flow", "times": [0, 3, 30, 300], "learning_rate": [1.0, 2.0]},
    {"family": "gradient_descent", "times": [0, 1, 5, 40], "learning_rate": [1.0, 2.0]},
]


@pytest.mark.parametrize("method", FAMILY_CASES, ids=lambda m: m["family"])
def test_every_family_equals_literal_refits(method):
    rows = run_rows(config(method), name="family")
    scalars = ("alpha", "xi", "learning_rate")  # an array of these is a grid axis
    grid = np.prod([len(v) for k, v in method.items() if k in scalars and isinstance(v, list)])
    assert len(rows) == 2 * grid  # two seeds per grid point
    check_rows(rows)


def test_path_parameters_are_recorded():
    cases = {"ridge": ({"alpha": 0.5}, "alpha", [0.5]),
             "self_distillation": ({"alpha": 0.5, "steps": 2}, "step", [0, 1, 2]),
             "boosting": ({"alpha": 0.5, "steps": 1}, "step", [0, 1]),
             "spectral_cutoff": ({"ranks": [2, 5]}, "rank", [2, 5]),
             "gradient_flow": ({"times": [0.5, float("inf")]}, "time", [0.5, np.inf]),
             "gradient_descent": ({"times": [0, 7]}, "time", [0, 7])}
    for family, (params, key, values) in cases.items():
        raw = config({"family": family, **params})
        raw["experiment"]["seeds"] = 1
        res = run_rows(raw, name="keys")[0]["results"]
        assert series(res, key).tolist() == values, family
        assert len(series(res, "test_mse")) == len(values)
    raw = config({"family": "spectral_cutoff", "thresholds": [0.5]})
    raw["experiment"]["seeds"] = 1
    res = run_rows(raw, name="keys")[0]["results"]
    assert series(res, "threshold").tolist() == [0.5] and "rank[0]" not in res


def test_defaults_of_the_steps_and_weights():
    # steps 10 and xi 1 (plain self-distillation) when the config leaves them out
    raw = config({"family": "self_distillation", "alpha": 0.2})
    raw["experiment"]["seeds"] = [1]
    (row,) = run_rows(raw, name="defaults")
    m = row["config"]["method"]
    assert (m["steps"], m["xi"], m["learning_rate"]) == (10, 1.0, 1.0)
    assert len(series(row["results"], "test_mse")) == 11
    check_rows([row])


def test_csv_data_and_a_gaussian_design(tmp_path):
    """Data from files this test writes (a 2-D design), label noise on top."""
    rng = np.random.default_rng(5)
    X, X_test = rng.standard_normal((30, 2)), rng.standard_normal((25, 2))

    def f(Z):
        return np.sin(Z[:, 0]) + 0.5 * Z[:, 1]

    for name, Z in (("train.csv", X), ("test.csv", X_test)):
        table = np.column_stack([Z, f(Z)])
        np.savetxt(tmp_path / name, table, delimiter=",", header="x1,x2,y", comments="")
    data = {"path": str(tmp_path / "train.csv"), "test_path": str(tmp_path / "test.csv"),
            "target": "y", "label_noise": 0.2}
    for method in ({"family": "boosting", "alpha": 0.3, "steps": 3},
                   {"family": "self_distillation", "alpha": 0.1, "steps": 2, "xi": 0.4},
                   {"family": "gradient_flow", "times": [2, 20, 200]},
                   {"family": "spectral_cutoff", "thresholds": [0.2, 2.0]}):
        rows = run_rows(config(method, data=data, gamma=0.5), name="csv")
        X_read, _, y_clean, X_test_read, y_test = problem(rows[0])
        np.testing.assert_array_equal(X_read, X)  # the files are read back as written
        np.testing.assert_array_equal(X_test_read, X_test)
        np.testing.assert_array_equal(y_clean, f(X))
        np.testing.assert_array_equal(y_test, f(X_test))
        check_rows(rows)


# ------------------------------------------------------------------ low-rank spectra
@pytest.mark.parametrize("method", [
    {"family": "ridge", "alpha": [0.05, 0.5]},
    {"family": "self_distillation", "alpha": 0.05, "steps": 3, "xi": -0.5},
    {"family": "boosting", "alpha": 0.5, "steps": 3},
    {"family": "spectral_cutoff", "ranks": [1, 4, 8]},
    {"family": "gradient_flow", "times": [0, 3, 30, 300]},
    {"family": "gradient_descent", "times": [0, 1, 5, 40], "learning_rate": 2.0},
], ids=lambda m: m["family"])
def test_randomized_spectrum_of_full_rank_equals_literal_refits(method):
    spectrum = {"method": "randomized", "rank": 30, "random_state": 0}
    rows = run_rows(config(method, spectrum=spectrum), name="randomized")
    assert all(r["config"]["spectrum"]["method"] == "randomized" for r in rows)
    check_rows(rows)


def truncated_path(rank):
    """Literal paths on the rank-r truncation K_r of K (numpy's top-r eigenpairs), whose
    functions keep the part of their dual coefficients in the range of K_r: the low-rank
    paths' model (every filter is 0 on the tail)."""
    def reference(m, K, y, K_test):
        lam, V = np.linalg.eigh(K)
        top = np.argsort(lam)[::-1][:rank]
        Vr = V[:, top]
        K_r = (Vr * lam[top]) @ Vr.T
        n = K.shape[0]
        if m["family"] == "ridge":
            a = np.linalg.solve(K_r + m["alpha"] * np.eye(n), y)
            duals, traces = [a], [np.trace(K_r @ np.linalg.inv(K_r + m["alpha"] * np.eye(n)))]
        else:
            duals = [flow_dual(K_r, y, t, m["learning_rate"]) for t in m["times"]]
            traces = [np.trace(K_r @ flow_dual(K_r, np.eye(n), t, m["learning_rate"]))
                      for t in m["times"]]
        kept = [Vr @ (Vr.T @ a) for a in duals]
        return [K_r @ a for a in duals], [K_test @ a for a in kept], traces
    return reference


def test_randomized_spectrum_below_full_rank_is_the_truncated_kernel():
    """rank 8 < n = 30: training errors count the labels' energy outside the top 8, the flow's
    loss is over the 30 samples (not the 9 eigenvalues held)."""
    spectrum = {"method": "randomized", "rank": 8, "random_state": 0}
    for method in ({"family": "ridge", "alpha": [0.01, 0.5]},
                   {"family": "gradient_flow", "times": [0, 3, 30, 300]}):
        rows = run_rows(config(method, spectrum=spectrum), name="truncated")
        check_rows(rows, reference_of=truncated_path(8))


def test_ranks_beyond_a_low_rank_spectrum_fail_the_simulation():
    spectrum = {"method": "randomized", "rank": 5, "random_state": 0}
    raw = config({"family": "spectral_cutoff", "ranks": [2, 6]}, spectrum=spectrum)
    with pytest.raises(ValueError, match=r"method\.ranks: ranks contains 6; allowed: 0 \.\. 5"):
        run_rows(raw, name="too-many")


def test_a_divergent_descent_step_fails_the_simulation_naming_the_allowed_rates():
    """η λ_max / n ≥ 2 makes gradient descent diverge: the simulation fails with the stable
    range (the gradient_flow method's rule), instead of storing inf/NaN errors."""
    ok = run_rows(config({"family": "gradient_descent", "times": [0, 5, 50]}), name="gd")
    X = problem(ok[0])[0]
    lam_max = np.linalg.eigvalsh(naive.rbf(X, X, GAMMA))[-1]
    eta_max = 2 * 30 / lam_max
    for factor, fails in ((0.99, False), (1.01, True)):
        raw = config({"family": "gradient_descent", "times": [0, 5, 50],
                      "learning_rate": factor * eta_max})
        if fails:
            with pytest.raises(ValueError, match=r"unstable.*allowed: learning_rate < "):
                run_rows(raw, name="gd-unstable")
        else:
            rows = run_rows(raw, name="gd-stable")
            assert all(np.isfinite(series(r["results"], "test_mse")).all() for r in rows)


# ------------------------------------------------------------------ config errors
@pytest.mark.parametrize("method, key, words", [
    ({"family": "ridge"}, "method.alpha", "missing"),
    ({"family": "ridge", "alpha": 1.0, "steps": 3}, "method.steps", "is not read by family"),
    ({"family": "boosting", "alpha": 1.0, "xi": 0.5}, "method.xi", '"boosting"'),
    ({"family": "gradient_flow", "times": [1.0], "alpha": 0.1}, "method.alpha",
     "is not read"),
    ({"family": "ridge", "alpha": 1.0, "times": [1.0]}, "method.times", "is not read"),
    ({"family": "spectral_cutoff", "ranks": [1], "learning_rate": 2.0},
     "method.learning_rate", "is not read"),
    ({"family": "spectral_cutoff"}, "method.ranks", "missing"),
    ({"family": "spectral_cutoff", "ranks": [1], "thresholds": [0.1]}, "method.thresholds",
     "exactly one of ranks and thresholds"),
    ({"family": "spectral_cutoff", "ranks": [1, 2.5]}, "method.ranks[1]", "integer"),
    ({"family": "gradient_descent", "times": [1, 2.5]}, "method.times[1]", "integer"),
    ({"family": "gradient_flow"}, "method.times", "missing"),
    ({"family": "lasso"}, "method.family", "must be one of"),
    ({"family": "ridge", "alpha": 0.0}, "method.alpha", "must be > 0"),
    ({"family": "boosting", "alpha": 1.0, "steps": -1}, "method.steps", "must be in [0, 10000]"),
    ({"family": "spectral_cutoff", "thresholds": [0.0]}, "method.thresholds[0]", "> 0"),
])
def test_bad_combinations_are_config_errors(method, key, words):
    with pytest.raises(ConfigError) as err:
        parse_config(config(method), default_name="bad")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{key}: "), message
    assert words in message, message


def test_default_values_of_unread_parameters_pass():
    # the defaults, spelled out, are not "given" values: a family that ignores them runs
    raw = config({"family": "ridge", "alpha": 0.5, "steps": 10, "xi": 1.0,
                  "learning_rate": 1.0})
    raw["experiment"]["seeds"] = [0]
    check_rows(run_rows(raw, name="defaults"))
    # gradient flow's times need not be integers; inf is the interpolant
    parse_config(config({"family": "gradient_flow", "times": [0.5, float("inf")]}),
                 default_name="ok")
