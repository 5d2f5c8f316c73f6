"""One experiment system: every named experiment is methods of the one runner, its report
reads the store. Each runs through the runner (serial, joblib with two processes, a Dask
LocalCluster) and its stored numbers equal independent references: literal iterations and
refits in sample space (tests/naive*.py), brute-force minimization, closed forms. None of them
uses the code under test."""

import numpy as np
import pytest
import scipy.optimize

import naive
import naive_linear
import naive_noisy
import naive_soft
from hilbert_sd.experiments.config import parse_config
from hilbert_sd.experiments.runner import run_sweep
from hilbert_sd.experiments.store import ResultStore

BACKENDS = ["serial", "joblib", "dask"]


@pytest.fixture(scope="module")
def dask_address():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def sweep(raw, path, backend, dask_address=None):
    """Rows of the experiment ``raw`` (a config dict) run on ``backend`` into ``path``."""
    kw = {"serial": {}, "joblib": {"jobs": 2}}.get(backend, {"scheduler": dask_address})
    config = parse_config(raw, default_name="test")
    with ResultStore(path) as store:
        report = run_sweep(config, store, progress=False, **kw)
        assert report.failed == 0, report.failures
        return store.rows(experiment=config.name)


def _address(backend, request):
    return request.getfixturevalue("dask_address") if backend == "dask" else None


def _shipped(name, **changes):
    """The shipped TOML config of a named experiment, as a dict, with ``changes`` applied to
    its tables (``experiment={"seeds": 3}``) and without its [output] table."""
    from pathlib import Path

    import hilbert_sd.experiments as pkg
    from hilbert_sd.experiments.config import _tomllib
    from hilbert_sd.experiments.registry import NAMED_EXPERIMENTS

    path = Path(pkg.__file__).parent / NAMED_EXPERIMENTS[name].config
    raw = _tomllib().loads(path.read_text())
    raw.pop("output", None)
    for table, values in changes.items():
        raw[table].update(values)
    return raw


def _series(res, name, count):
    return np.array([res[f"{name}[{i}]"] for i in range(count)], dtype=float)


def _reference_data():
    """The 11 reference points, their RBF kernel written out, and the 501-point test grid."""
    from hilbert_sd.datasets import load_mobahi_toy

    x, y = load_mobahi_toy()
    grid = np.linspace(0.0, 1.0, 501)[:, None]
    return (naive.rbf(x, x, 80.0), y, naive.rbf(grid, x, 80.0), np.sin(2 * np.pi * grid[:, 0]))


def _check_self_distillation(rows, rounds_checked=4):
    """Ridges and test errors per round equal literal KernelRidge refits with Brent's ridge."""
    K, y, K_grid, truth = _reference_data()
    assert rows
    for row in rows:
        res, eps = row["results"], row["config"]["method"]["epsilon"]
        count = min(rounds_checked, res["collapse_round"])
        alphas, _, grid = naive.naive_self_distill(K, y, epsilon=eps, n_rounds=count - 1,
                                                   K_new=K_grid)
        np.testing.assert_allclose(_series(res, "alpha", count), alphas, rtol=1e-6)
        test = [np.mean((g - truth) ** 2) for g in grid]
        np.testing.assert_allclose(_series(res, "test_mse", count), test, rtol=1e-6)


# ------------------------------------------------------------------------------ noisy labels
NOISY = {"experiment": {"name": "nl"},
         "data": {"generator": "clustered", "n_samples": 60, "n_test": 30, "seed": [0, 1]},
         "kernel": {"name": "arccos"},
         "method": {"name": "noisy_labels", "noise_rate": [0.3, 0.6], "t_end": 200,
                    "n_times": 5}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_noisy_labels_through_the_runner(backend, tmp_path, request):
    from hilbert_sd.datasets import make_clustered, one_hot
    from hilbert_sd.experiments import noisy_labels as nl
    from hilbert_sd.noisy_labels import add_label_noise

    rows = sweep(NOISY, tmp_path / "nl.db", backend, _address(backend, request))
    assert len(rows) == 4
    # the dense grid of gradient descent: 0 and 15 log-spaced steps up to t_end
    steps = [0, *sorted({int(round(t)) for t in np.geomspace(1, 200, 15)})]
    for row in rows:
        seed, rate = row["config"]["data"]["seed"], row["config"]["method"]["noise_rate"]
        res = row["results"]
        X, y = make_clustered(90, random_state=seed, n_features=20, n_classes=4,
                              clusters_per_class=2, cluster_std=1.0, center_scale=1.0)
        X, y, X_test, y_test = X[:60], y[:60], X[60:], y[60:]
        noise = add_label_noise(y, rate, n_classes=4, random_state=1_000_003 + seed)
        assert res["n_flipped"] == int(np.sum(noise.labels != y))
        H = naive_noisy.arccos_kernel(X)
        K_test = naive_noisy.arccos_kernel(X_test, X)
        eta = 1.0 / np.linalg.eigvalsh(H)[-1]
        Y = one_hot(noise.labels, 4)

        def accuracy(c):
            return float(np.mean(naive_noisy.predicted(K_test @ c) == y_test))

        gd = naive_noisy.iterate(H, Y, 200, eta=eta, record=steps)
        acc = [accuracy(gd[t][1]) for t in steps]
        # step 0 (the zero function, every class tied) is left out
        np.testing.assert_allclose(_series(res, "gd_accuracy", len(steps))[1:], acc[1:],
                                   atol=1e-12)
        assert res["gd_end.test_accuracy"] == acc[-1]
        assert res["gd_oracle.test_accuracy"] == max(acc[1:])
        for name, kw in (("ema_sequential", dict(rule="ema", a=0.1)),
                         ("anchored_soft", dict(rule="anchored", a=0.5))):
            end = naive_noisy.iterate(H, Y, 200, eta=eta, record=[200], **kw)[200][1]
            assert res[f"{name}.test_accuracy"] == accuracy(end), name
    files = nl.report(rows, tmp_path / "out")["files"]
    assert [p.name for p in files] == ["noisy_labels.csv", "noisy_labels_curves.csv",
                                       "noisy_labels.json", "noisy_labels_accuracy.png",
                                       "noisy_labels_air.png"]


# ------------------------------------------------------------------------------- soft labels
SOFT = {"experiment": {"name": "sl"},
        "data": {"generator": "clustered", "n_samples": 60, "n_test": 20, "seed": 3,
                 "cluster_std": 1.5},
        "kernel": {"name": "rbf", "gamma": 0.0125},
        "method": {"name": "soft_labels", "temperatures": [2.0, 3.0], "n_members": 2,
                   "teacher_steps": 5, "student_steps": 5}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_soft_labels_through_the_runner(backend, tmp_path, request):
    from hilbert_sd.datasets import make_clustered
    from hilbert_sd.experiments import soft_labels as sl
    from hilbert_sd.soft_labels import resample_weights

    rows = sweep(SOFT, tmp_path / "sl.db", backend, _address(backend, request))
    (row,) = rows
    res = row["results"]
    X, y = make_clustered(80, random_state=3, n_features=20, n_classes=4, clusters_per_class=2,
                          cluster_std=1.5, center_scale=1.0)
    X, y, X_test, y_test = X[:60], y[:60], X[60:], y[60:]
    K, K_test = naive.rbf(X, X, 0.0125), naive.rbf(X_test, X, 0.0125)
    # the teacher: 5 literal steps at 2n / lambda_max on all 60 clean labels
    eta = 2.0 * 60 / np.linalg.eigvalsh(K)[-1]
    assert res["teacher_learning_rate"] == pytest.approx(eta, rel=1e-8)
    c, _, _ = naive_soft.kernel_softmax_gd(K, y, 4, 5, eta)
    teacher_acc = np.mean(np.argmax(K_test @ np.asarray(c), axis=1) == y_test)
    table = sl.result_from_rows(rows)
    assert table.row("teacher")["test_accuracy_mean"] == pytest.approx(teacher_acc, abs=1e-12)
    # the hard-label members on their disjoint halves of the pool, at the students' step
    counts = resample_weights(60, 2, method="fresh", random_state=3 + 7_919)
    accs = []
    for b in range(2):
        idx = np.flatnonzero(counts[b])
        cb, _, _ = naive_soft.kernel_softmax_gd(K[np.ix_(idx, idx)], y[idx], 4, 5,
                                                res["student_learning_rate"])
        accs.append(np.mean(np.argmax(K_test[:, idx] @ np.asarray(cb), axis=1) == y_test))
    np.testing.assert_allclose(table.member_accuracy[("hard", None)], accs, atol=1e-12)
    for ps in table.per_sample.values():  # one-hot test labels: loss = bias + variance
        np.testing.assert_allclose(ps["loss"], ps["bias"] + ps["variance"], atol=1e-10)
    files = sl.report(rows, tmp_path / "out")["files"]
    assert [p.name for p in files] == ["soft_labels.csv", "soft_labels.json", "soft_labels.png"]


# ------------------------------------------------------- early stopping, self-distillation
@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_through_the_runner(backend, tmp_path, request):
    import json

    from hilbert_sd.experiments import self_distillation as sd

    rows = sweep(_shipped("early-stopping"), tmp_path / "es.db", backend,
                 _address(backend, request))
    assert [r["config"]["method"]["epsilon"] for r in rows] == list(sd.DEFAULT_EPSILONS)
    _check_self_distillation(rows)
    K, y, _, _ = _reference_data()
    for row in rows:  # the training error to the round's targets is the budget (live rounds)
        res = row["results"]
        live = _series(res, "round_mse", res["collapse_round"])
        np.testing.assert_allclose(live, row["config"]["method"]["epsilon"], rtol=1e-8)
    new = sd.report(rows, tmp_path / "new")
    assert [p.name for p in new["files"]] == [
        "self_distillation.csv", "self_distillation.json",
        *(f"self_distillation_eps{e:g}.png" for e in sd.DEFAULT_EPSILONS)]
    summary = json.loads(new["files"][1].read_text())["summary"]
    for entry, row in zip(summary, rows):
        assert entry["collapse_round"] == row["results"]["collapse_round"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_self_distillation_through_the_runner(backend, tmp_path, request):
    rows = sweep(_shipped("self-distillation"), tmp_path / "sd.db", backend,
                 _address(backend, request))
    assert len(rows) == 6
    _check_self_distillation(rows)


# ------------------------------------------------------------------------ linear teacher
@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_teacher_through_the_runner(backend, tmp_path, request):
    from hilbert_sd.experiments import linear_teacher as lt

    draws = 7
    raw = _shipped("linear-teacher", experiment={"seeds": 2}, method={"draws": draws})
    rows = sweep(raw, tmp_path / "lt.db", backend, _address(backend, request))
    assert len(rows) == 24
    d = raw["data"]["n_features"]
    risks = {}
    for row in rows:
        n, res, seed = row["config"]["data"]["n_samples"], row["results"], row["seed"]
        teacher_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
        w_star = teacher_rng.standard_normal(d)
        w_star /= np.linalg.norm(w_star)
        rng = np.random.default_rng([seed, 0, n])  # the row's stream: isotropic, size n
        # the student's limit is the projection of the teacher on the span of the inputs
        angles = np.array([naive_linear.naive_angle(
            naive_linear.pinv_projector(rng.standard_normal((n, d))) @ w_star, w_star)
            for _ in range(draws)])
        assert res["angle_mean"] == pytest.approx(angles.mean(), abs=1e-7)
        assert res["risk_mean"] == pytest.approx(angles.mean() / np.pi, abs=1e-7)
        risks.setdefault(n, []).extend(angles / np.pi)
    # the report pools the two seeds of an n: mean and standard error over all 14 draws
    files = lt.report(rows, tmp_path / "out")["files"]
    assert [p.name for p in files] == ["linear_teacher.csv", "linear_teacher.json",
                                       "linear_teacher.png"]
    table = lt.result_from_rows(rows).rows
    assert [r["n"] for r in table] == sorted(risks)
    for r in table:
        pooled = np.array(risks[r["n"]])
        assert r["draws"] == pooled.size == 2 * draws
        assert r["risk_mean"] == pytest.approx(pooled.mean(), abs=1e-7)
        if r["n"] < d:
            assert r["risk_se"] == pytest.approx(pooled.std(ddof=1) / np.sqrt(pooled.size),
                                                 rel=1e-6)


# ------------------------------------------------------------------------- optimal mixing
@pytest.mark.parametrize("backend", BACKENDS)
def test_optimal_mixing_through_the_runner(backend, tmp_path, request):
    from hilbert_sd.experiments import mixing

    rows = sweep(_shipped("optimal-mixing"), tmp_path / "om.db", backend,
                 _address(backend, request))
    K, _, _, _ = _reference_data()
    f = np.sin(2 * np.pi * np.linspace(0.0, 1.0, 11))

    def risk(alpha, xis, v):
        return naive.expected_risk(naive.mixed_smoother(naive.smoother_matrix(K, alpha), xis),
                                   f, v)

    studies = {"xi": 0, "kstep": 0}
    for row in rows:
        m, res = row["config"]["method"], row["results"]
        v = m["noise_var"]
        studies[m["study"]] += 1
        if m["study"] == "xi":
            found = scipy.optimize.minimize_scalar(lambda x: risk(m["alpha"], [x], v),
                                                   bracket=(-5.0, 5.0), method="brent",
                                                   options={"xtol": 1e-12})
            assert res["xi"] == pytest.approx(found.x, abs=1e-5)
            assert res["risk_xi"] == pytest.approx(found.fun, rel=1e-7)
            assert res["risk_ridge"] == pytest.approx(risk(m["alpha"], [], v), rel=1e-8)
        else:
            alpha = res["best_alpha"]
            assert res["ridge_risk"] == pytest.approx(risk(alpha, [], v), rel=1e-8)
            for k in range(m["max_steps"] + 1):
                if res[f"ill_conditioned[{k}]"]:
                    continue
                xis = [res[f"xi[{k}][{j}]"] for j in range(k)]
                assert res[f"risk[{k}]"] == pytest.approx(risk(alpha, xis, v), rel=1e-6)
    assert studies == {"xi": 9, "kstep": 3}
    names = [p.name for p in mixing.report(rows, tmp_path / "out")["files"]]
    assert "optimal_xi_noise.json" in names and "kstep_mixing.json" in names


# ---------------------------------------------------------------------- family comparison
@pytest.mark.parametrize("backend", BACKENDS)
def test_family_comparison_through_the_runner(backend, tmp_path, request):
    """Each stored split equals scikit-learn's grid search and literal refits on that split,
    the split drawn here from its documented stream (first ⌈0.3 n⌉ of a permutation)."""
    from sklearn.kernel_ridge import KernelRidge
    from sklearn.model_selection import GridSearchCV, KFold

    rng = np.random.default_rng(3)
    n = 40
    x = rng.uniform(size=n)
    y = np.sin(2 * np.pi * x) + 0.3 * rng.standard_normal(n)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([x, y]), delimiter=",", header="x,y", comments="")
    raw = _shipped("family-comparison", experiment={"seeds": 2},
                   method={"cv": 3, "methods": ["ridge", "pcr"], "split_seed": 5})
    raw["data"] = {"path": str(path), "target": "y"}
    rows = sweep(raw, tmp_path / "fc.db", backend, _address(backend, request))
    assert sorted(r["seed"] for r in rows) == [0, 1]
    for row in rows:
        res = row["results"]
        perm = np.random.default_rng([5, row["seed"], 2]).permutation(n)
        test, train = perm[:12], perm[12:]
        K = naive.rbf(x[train, None], x[train, None], 80.0)
        K_te = naive.rbf(x[test, None], x[train, None], 80.0)
        mean = y[train].mean()
        alphas = np.mean(np.diag(K)) * np.geomspace(1e-6, 1e3, 28)
        gs = GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": alphas}, cv=KFold(3),
                          scoring="neg_mean_squared_error").fit(K, y[train] - mean)
        assert res["ridge.alpha"] == pytest.approx(gs.best_params_["alpha"], rel=1e-12)
        assert res["ridge.cv_score"] == pytest.approx(-gs.best_score_, rel=1e-8)
        pred = naive.krr_fit_predict(K, y[train] - mean, res["ridge.alpha"], K_te)[1] + mean
        assert res["ridge.test_error"] == pytest.approx(np.mean((pred - y[test]) ** 2),
                                                        rel=1e-8)
        pred = naive.naive_spectral_cutoff(K, y[train] - mean, res["pcr.rank"], K_te)[1]
        assert res["pcr.test_error"] == pytest.approx(np.mean((pred + mean - y[test]) ** 2),
                                                      rel=1e-8)
