"""k-fold CV of any filter family, the family comparison study and ``hilbert-sd compare``.

References are independent of the eigendecomposition the code uses: literal scikit-learn
``KernelRidge`` refits (ridge, fixed-ridge and mixed self-distillation, iterated-Tikhonov
boosting, Brent-found ridges for the budget rule: tests/naive.py), numpy ``eigh`` projections
(kernel PCR), a Van Loan matrix exponential (gradient flow), ``GridSearchCV`` and scikit-learn's
``accuracy_score``.
"""

import json

import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit

from hilbert_sd.cli import main
from hilbert_sd.experiments import family
from hilbert_sd.experiments.family import compare_family, load_comparison_data
from hilbert_sd.model_selection import (
    FilterCVResult,
    cv_filters,
    cv_paths,
    cv_self_distill,
    factor_folds,
)
from hilbert_sd.distillation import self_distill

from naive import (
    krr_fit_predict,
    naive_boosting,
    naive_mixed_self_distill,
    naive_self_distill,
    naive_spectral_cutoff,
    rbf,
)

RTOL = 1e-8


def make_problem(n=30, m=None, seed=0, gamma=2.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    f = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    y = f if m is None else np.stack([f, np.cos(3 * X[:, 1])], axis=1)
    y = y + 0.3 * rng.standard_normal(y.shape)
    return rbf(X, X, gamma), y


def flow_predict(K, y, time, K_new):
    """Gradient flow from a Van Loan exponential: a(t) = ∫_0^t c exp(−c K u) du y, c = 1/n."""
    n = K.shape[0]
    c = 1.0 / n
    M = np.zeros((2 * n, 2 * n))
    M[:n, :n] = -c * K * time
    M[:n, n:] = c * time * np.eye(n)
    a = scipy.linalg.expm(M)[:n, n:] @ y
    return K_new @ a


def literal_fold_scores(K, y, splits, predict_all):
    """(n_folds, J) validation MSE from ``predict_all(K_tr, y_tr, K_te) -> list of preds``."""
    out = []
    for train, test in splits:
        preds = predict_all(K[np.ix_(train, train)], y[train], K[np.ix_(test, train)])
        err = [(p - y[test]) ** 2 for p in preds]
        out.append([e.sum(axis=1).mean() if e.ndim == 2 else e.mean() for e in err])
    return np.array(out)


def rel(a, b):
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


ALPHAS = [0.01, 0.3, 4.0]


@pytest.mark.parametrize("m", [None, 2])
@pytest.mark.parametrize("cv", ["kfold", "shuffle"])
def test_cv_filters_equals_literal_refits(m, cv):
    K, y = make_problem(m=m)
    splitter = KFold(5) if cv == "kfold" else ShuffleSplit(4, test_size=0.25, random_state=1)
    splits = list(splitter.split(K))
    folds = factor_folds(K, cv=splits)
    cases = {
        "ridge": (ALPHAS, lambda Kt, yt, Kn: [krr_fit_predict(Kt, yt, a, Kn)[1]
                                             for a in ALPHAS]),
        "boosting": ((ALPHAS, 3), lambda Kt, yt, Kn: [
            p for a in ALPHAS for p in naive_boosting(Kt, yt, a, 3, Kn)[1]]),
        "self_distillation": ((ALPHAS, 2), lambda Kt, yt, Kn: [
            p for a in ALPHAS for p in naive_self_distill(Kt, yt, alpha=a, n_rounds=2,
                                                           K_new=Kn)[2]]),
        "spectral_cutoff": ([1, 4, 11], lambda Kt, yt, Kn: [
            naive_spectral_cutoff(Kt, yt, r, Kn)[1] for r in (1, 4, 11)]),
        "gradient_flow": ([0.5, 20.0, 300.0], lambda Kt, yt, Kn: [
            flow_predict(Kt, yt, t, Kn) for t in (0.5, 20.0, 300.0)]),
    }
    for name, (grid, literal) in cases.items():
        res = cv_filters(K, y, name, grid, cv=splits)
        ref = literal_fold_scores(K, y, splits, literal)
        assert res.scores.shape == ref.shape
        assert rel(res.scores, ref) < RTOL, name
        # the same folds factored once and shared: the same scores
        shared = cv_filters(None, y, name, grid, cv=folds)
        np.testing.assert_allclose(shared.scores, res.scores, rtol=1e-12)


def test_cv_filters_ridge_equals_grid_search():
    K, y = make_problem(n=40, seed=3)
    alphas = np.geomspace(1e-3, 10, 9)
    res = cv_filters(K, y, "ridge", alphas, cv=5)
    gs = GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": alphas}, cv=KFold(5),
                      scoring="neg_mean_squared_error").fit(K, y)
    results = res.cv_results()
    assert res.best_params["alpha"] == gs.best_params_["alpha"]
    np.testing.assert_allclose(results["mean_test_score"], gs.cv_results_["mean_test_score"],
                               rtol=RTOL)
    np.testing.assert_array_equal(results["rank_test_score"], gs.cv_results_["rank_test_score"])
    assert list(results["param_alpha"]) == list(alphas)


def test_cv_filters_callable_family_and_params():
    K, y = make_problem()

    def twicing(lam, alphas):  # boosting step 1 for every alpha, as a callable family
        from hilbert_sd import filters

        pairs = [filters.boosting(lam, a, 1, return_prediction=True) for a in alphas]
        return np.stack([p[0][1] for p in pairs]), np.stack([p[1][1] for p in pairs])

    res = cv_filters(K, y, twicing, ALPHAS, cv=5, params=[{"alpha": a} for a in ALPHAS])
    ref = cv_filters(K, y, "boosting", (ALPHAS, 1), cv=5)
    np.testing.assert_allclose(res.scores, ref.scores[:, 1::2], rtol=1e-12)
    assert isinstance(res, FilterCVResult) and set(res.best_params) == {"alpha"}
    default = cv_filters(K, y, twicing, ALPHAS, cv=5)
    assert default.params[2] == {"index": 2}


def test_cv_paths_budget_rule_equals_cv_self_distill():
    K, y = make_problem(n=40, seed=5)
    eps = [0.05, 0.1, 0.3]
    folds = factor_folds(K, cv=5)
    res = cv_paths(None, y, lambda s, yt, _: [self_distill(s, yt, epsilon=e, n_rounds=3)
                                              for e in eps], cv=folds)
    ref = cv_self_distill(K, y, epsilons=eps, max_rounds=3, cv=5)
    np.testing.assert_allclose(res.scores, ref.scores.reshape(5, -1), rtol=1e-12)


def test_fold_factorizations_refuse_another_kernel():
    K, y = make_problem()
    folds = factor_folds(K, cv=5)
    with pytest.raises(ValueError, match="another kernel matrix"):
        cv_filters(K + np.eye(K.shape[0]), y, "ridge", ALPHAS, cv=folds)
    with pytest.raises(ValueError, match="family="):
        cv_filters(K, y, "lasso", ALPHAS)
    with pytest.raises(ValueError, match="alphas"):
        cv_filters(K, y, "boosting", ([-1.0], 2))


def test_error_scoring_is_the_misclassification_rate():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((36, 3))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    Y = 2.0 * np.eye(3)[labels] - 1.0
    K = rbf(X, X, 0.5)
    res = cv_filters(K, Y, "ridge", ALPHAS, cv=4, scoring="error")
    for f, (train, test) in enumerate(KFold(4).split(K)):
        for j, a in enumerate(ALPHAS):
            pred = krr_fit_predict(K[np.ix_(train, train)], Y[train], a,
                                   K[np.ix_(test, train)])[1]
            assert res.scores[f, j] == pytest.approx(
                1.0 - accuracy_score(labels[test], pred.argmax(axis=1)))


# ================================================================ the comparison study
# gamma = 20 rather than the command's 80: at 80 and a few dozen points the kernel matrix has
# condition number ~1e16, a budget can need a ridge of 1e-8, and Brent's method on literal
# KernelRidge refits then finds that ridge only to ~1e-7 (the refit's training error is itself
# that inexact); the comparison's own ridges, refitted literally, agree to ~1e-9 there
GAMMA = 20.0


@pytest.fixture(scope="module")
def reference_run():
    data = load_comparison_data("reference", max_samples=60, random_state=1)
    res = compare_family(data["X"], data["y"], gamma=GAMMA, n_splits=2, cv=3,
                         f_star=data["f_star"], noise_var=data["noise_var"], max_rounds=3,
                         oracle_steps=2, random_state=4)
    return data, res


def _split_arrays(data, res, i, gamma):
    sp = res.splits[i]
    X, y = data["X"], data["y"]
    train, test = sp["train"], sp["test"]
    K = rbf(X[train], X[train], gamma)
    K_te = rbf(X[test], X[train], gamma)
    return train, test, K, K_te, y[train].mean()


def test_ridge_choice_equals_grid_search(reference_run):
    data, res = reference_run
    for i in range(2):
        train, _, K, _, mean = _split_arrays(data, res, i, GAMMA)
        gs = GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": family._ALPHAS},
                          cv=KFold(3), scoring="neg_mean_squared_error")
        gs.fit(K, data["y"][train] - mean)
        rec = next(r for r in res.records if r["split"] == i and r["method"] == "ridge")
        assert rec["alpha"] == gs.best_params_["alpha"]
        assert rec["cv_score"] == pytest.approx(-gs.best_score_, rel=RTOL)


def literal_prediction(rec, K, y_c, K_te):
    m = rec["method"]
    if m == "ridge":
        return krr_fit_predict(K, y_c, rec["alpha"], K_te)[1]
    if m == "sd_ridge":
        return naive_self_distill(K, y_c, alpha=rec["alpha"], n_rounds=rec["round"],
                                  K_new=K_te)[2][-1]
    if m == "sd_budget":
        return naive_self_distill(K, y_c, epsilon=rec["epsilon"], n_rounds=rec["round"],
                                  K_new=K_te)[2][-1]
    if m == "sd_mixed_oracle":
        assert len(rec["xi"]) == rec["steps"]
        return naive_mixed_self_distill(K, y_c, rec["xi"], alpha=rec["alpha"],
                                        K_new=K_te)[2][-1]
    if m == "boosting":
        return naive_boosting(K, y_c, rec["alpha"], rec["step"], K_te)[1][-1]
    if m == "flow":
        return flow_predict(K, y_c, rec["time"], K_te)
    if m == "pcr":
        return naive_spectral_cutoff(K, y_c, rec["rank"], K_te)[1]
    raise AssertionError(m)


def test_test_errors_equal_literal_refits(reference_run):
    data, res = reference_run
    assert res.methods == list(family.METHODS)  # the oracle runs on the reference data
    worst = 0.0
    for i in range(2):
        train, test, K, K_te, mean = _split_arrays(data, res, i, GAMMA)
        y_c = data["y"][train] - mean
        for rec in (r for r in res.records if r["split"] == i):
            pred = literal_prediction(rec, K, y_c, K_te) + mean
            mse = np.mean((pred - data["y"][test]) ** 2)
            worst = max(worst, abs(rec["test_error"] - mse) / mse)
            assert rec["test_error"] == pytest.approx(mse, rel=RTOL), rec["method"]
            truth = np.mean((pred - data["f_star"][test]) ** 2)
            assert rec["test_mse_f_star"] == pytest.approx(truth, rel=RTOL)
    assert worst < RTOL


def test_effective_dof_is_the_trace_of_the_smoother(reference_run):
    data, res = reference_run
    train, _, K, _, _ = _split_arrays(data, res, 0, GAMMA)
    n = K.shape[0]
    for rec in (r for r in res.records if r["split"] == 0 and r["method"] in ("ridge", "pcr")):
        S = np.column_stack([literal_prediction(dict(rec), K, e, K) for e in np.eye(n)])
        assert rec["dof"] == pytest.approx(np.trace(S), rel=1e-7)


def test_result_protocol(reference_run, tmp_path):
    _, res = reference_run
    text = res.summary()
    assert "oracle" in text and "kernel ridge" in text
    assert repr(res).startswith("FamilyComparison(") and "\n" not in repr(res)
    table = res.table()
    assert [r["method"] for r in table] == res.methods
    ridge = table[0]
    assert ridge["vs_ridge_mean"] == 0.0
    errs = [r["test_error"] for r in res.records if r["method"] == "ridge"]
    assert ridge["test_error_mean"] == pytest.approx(np.mean(errs))
    assert ridge["test_error_se"] == pytest.approx(np.std(errs, ddof=1) / np.sqrt(2))
    paths = res.save(tmp_path / "out")
    assert [p.name for p in paths] == ["comparison.csv", "comparison_splits.csv",
                                       "comparison.json", "comparison.png"]
    assert all(p.stat().st_size > 0 for p in paths)
    saved = json.loads(paths[2].read_text())
    assert len(saved["records"]) == 2 * len(res.methods)


def test_classification_error_is_one_minus_accuracy():
    from sklearn.datasets import load_digits

    X, labels = load_digits(n_class=3, return_X_y=True)
    X, labels = X[:90] / 16.0, labels[:90]
    res = compare_family(X, labels, classification=True, label_noise=0.3, n_splits=2, cv=3,
                         max_rounds=2, methods=["ridge", "sd_ridge", "pcr"], random_state=2)
    for i, sp in enumerate(res.splits):
        train, test = sp["train"], sp["test"]
        noisy = sp["train_labels"]
        assert sp["flipped"] == np.count_nonzero(noisy != labels[train]) > 0
        K = rbf(X[train], X[train], 1.0 / 64)
        K_te = rbf(X[test], X[train], 1.0 / 64)
        Y = np.where(np.arange(3)[None, :] == noisy[:, None], 1.0, -1.0)
        for rec in (r for r in res.records if r["split"] == i):
            pred = literal_prediction(rec, K, Y, K_te)
            acc = accuracy_score(labels[test], pred.argmax(axis=1))  # clean test labels
            assert rec["test_error"] == pytest.approx(1.0 - acc, abs=1e-12)


def test_compare_refuses_bad_arguments():
    X = np.random.default_rng(0).standard_normal((20, 2))
    y = X[:, 0]
    with pytest.raises(ValueError, match="label_noise"):
        compare_family(X, y, label_noise=0.2)
    with pytest.raises(ValueError, match="sd_mixed_oracle"):
        compare_family(X, y, methods=["sd_mixed_oracle"])
    with pytest.raises(ValueError, match="test_size"):
        compare_family(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="training"):
        compare_family(X, y, test_size=0.8, cv=5)


# ================================================================ the command
def test_cli_compare_writes_table_and_figure(tmp_path, capsys):
    out = tmp_path / "cmp"
    status = main(["compare", "--splits", "2", "--cv", "3", "--max-samples", "40",
                   "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "kernel ridge" in captured.out and "[oracle" in captured.out
    assert sorted(p.name for p in out.iterdir()) == [
        "comparison.csv", "comparison.json", "comparison.png", "comparison_splits.csv"]
    config = json.loads((out / "comparison.json").read_text())["config"]
    assert config["n_splits"] == 2 and config["cv"] == 3


def test_cli_compare_csv_with_target(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    path = tmp_path / "data.csv"
    rows = ["y,a,b"] + [f"{x[0] + 0.1 * x[1]:.6f},{x[0]:.6f},{x[1]:.6f}" for x in X]
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "cmp"
    status = main(["compare", "--dataset", "csv", "--data", str(path), "--target", "y",
                   "--splits", "1", "--cv", "2", "--out", str(out), "--quiet"])
    assert status == 0, capsys.readouterr().err
    assert (out / "comparison.png").exists()


@pytest.mark.parametrize("argv, flag", [
    (["--splits", "0"], "--splits"),
    (["--test-size", "1.2"], "--test-size"),
    (["--cv", "1"], "--cv"),
    (["--gamma", "0"], "--gamma"),
    (["--max-samples", "1"], "--max-samples"),
    (["--seed", "-3"], "--seed"),
    (["--dataset", "mnist"], "--dataset"),
    (["--label-noise", "0.2"], "--label-noise"),
    (["--dataset", "digits", "--label-noise", "1.5"], "--label-noise"),
    (["--dataset", "csv"], "--data"),
    (["--dataset", "csv", "--data", "missing.csv"], "--data"),
    (["--target", "y"], "--target"),
    (["--max-samples", "6"], "--max-samples"),
    (["--splits", "two"], "--splits"),
])
def test_cli_compare_bad_arguments_exit_2_and_create_nothing(tmp_path, capsys, argv, flag):
    out = tmp_path / "never"
    status = main(["compare", *argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert flag in err
    assert not out.exists()
