"""The CV estimators against scikit-learn's GridSearchCV on the same folds, and GCV against
the formula on literal smoother matrices."""

import warnings

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.utils.estimator_checks import parametrize_with_checks

from hilbert_sd import (GradientFlowKernelRegressor, GradientFlowKernelRegressorCV,
                        SelfDistilledKernelRidge, SelfDistilledKernelRidgeCV)


@parametrize_with_checks([
    SelfDistilledKernelRidgeCV(),
    SelfDistilledKernelRidgeCV(cv=3, max_rounds=3),
    SelfDistilledKernelRidgeCV(alphas=[0.1, 1.0], max_rounds=2, kernel="precomputed"),
    GradientFlowKernelRegressorCV(),
    GradientFlowKernelRegressorCV(cv=3, kernel="precomputed"),
])
def test_sklearn_compatible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


def data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1] ** 2 + 0.3 * rng.standard_normal(n)
    return X, y


def test_kfold_choice_equals_grid_search_over_the_plain_estimator():
    X, y = data()
    epsilons = np.var(y) * np.array([0.05, 0.1, 0.2, 0.4])
    folds = KFold(5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # collapses inside the grid are part of it
        search = GridSearchCV(SelfDistilledKernelRidge(gamma=2.0),
                              {"epsilon": epsilons, "n_rounds": list(range(6))},
                              cv=folds, scoring="neg_mean_squared_error").fit(X, y)
        model = SelfDistilledKernelRidgeCV(epsilons=epsilons, max_rounds=5, cv=folds,
                                           gamma=2.0).fit(X, y)
    assert model.best_epsilon_ == search.best_params_["epsilon"]
    assert model.best_round_ == search.best_params_["n_rounds"]
    assert model.best_score_ == pytest.approx(-search.best_score_, rel=1e-8)
    np.testing.assert_allclose(model.cv_results_["mean_test_score"],
                               search.cv_results_["mean_test_score"], rtol=1e-8)
    np.testing.assert_allclose(model.predict(X), search.predict(X), rtol=1e-8, atol=1e-12)


def test_flow_kfold_choice_equals_grid_search():
    X, y = data(50, seed=1)
    times = np.geomspace(1.0, 1e4, 9)
    folds = KFold(5)
    search = GridSearchCV(GradientFlowKernelRegressor(gamma=2.0), {"time": times}, cv=folds,
                          scoring="neg_mean_squared_error").fit(X, y)
    model = GradientFlowKernelRegressorCV(times=times, cv=folds, gamma=2.0).fit(X, y)
    assert model.best_time_ == search.best_params_["time"]
    assert model.best_score_ == pytest.approx(-search.best_score_, rel=1e-8)
    np.testing.assert_allclose(model.predict(X), search.predict(X), rtol=1e-8, atol=1e-12)


def test_gcv_choice_minimizes_gcv_of_literal_smoothers():
    """Fixed ridges x rounds: GCV(j) = (1/n)||(I - S)y||^2 / (1 - tr S / n)^2 with S built
    column by column from literal KernelRidge refits of unit vectors."""
    X, y = data(25, seed=2)
    alphas, R = [0.03, 0.3, 3.0], 3
    n = len(y)
    ref = np.empty((len(alphas), R + 1))
    for a_i, alpha in enumerate(alphas):
        S = np.zeros((R + 1, n, n))
        for j, e in enumerate(np.eye(n)):
            targets = e
            for t in range(R + 1):
                targets = KernelRidge(alpha=alpha, kernel="rbf", gamma=2.0).fit(
                    X, targets).predict(X)
                S[t, :, j] = targets
        for t in range(R + 1):
            r = y - S[t] @ y
            ref[a_i, t] = (r @ r / n) / (1 - np.trace(S[t]) / n) ** 2
    model = SelfDistilledKernelRidgeCV(alphas=alphas, max_rounds=R, gamma=2.0).fit(X, y)
    np.testing.assert_allclose(-model.cv_results_["mean_test_score"], ref.ravel(), rtol=1e-8)
    a_best, t_best = np.unravel_index(np.argmin(ref), ref.shape)
    assert (model.best_alpha_, model.best_round_) == (alphas[a_best], t_best)


def test_fit_intercept_makes_the_choice_shift_invariant():
    X, y = data()
    a = SelfDistilledKernelRidgeCV(max_rounds=4, cv=4, fit_intercept=True, gamma=2.0).fit(X, y)
    b = SelfDistilledKernelRidgeCV(max_rounds=4, cv=4, fit_intercept=True,
                                   gamma=2.0).fit(X, y + 152.0)
    # the default grid follows the variance of the centred y (equal up to round-off)
    assert b.best_epsilon_ == pytest.approx(a.best_epsilon_, rel=1e-12)
    assert a.best_round_ == b.best_round_
    np.testing.assert_allclose(b.predict(X), a.predict(X) + 152.0, rtol=1e-9)


def test_infeasible_candidates_are_ranked_last_with_one_warning():
    # duplicated inputs with different labels: budgets below the null-space floor
    X = np.repeat(np.linspace(0, 1, 10)[:, None], 2, axis=0)
    y = np.sin(4 * X[:, 0]) + np.tile([0.3, -0.3], 10)
    floor = 0.09  # (0.3)^2: the energy of the duplicate differences per sample
    eps = [0.01, 0.2, 0.3]
    with pytest.warns(Warning) as record:
        model = SelfDistilledKernelRidgeCV(epsilons=eps, max_rounds=2, gamma=5.0).fit(X, y)
    assert sum("floor" in str(w.message) for w in record) == 1
    assert model.best_epsilon_ > floor
    # every round of the infeasible budget (round 0, and the rounds refitting it) ranks last
    assert np.all(np.isnan(model.cv_results_["mean_test_score"][:3]))
    assert np.all(model.cv_results_["rank_test_score"][:3] == 7)


def test_bad_cv_is_named():
    X, y = data(20)
    with pytest.raises(ValueError, match="cv='loo'"):
        SelfDistilledKernelRidgeCV(cv="loo").fit(X, y)
    with pytest.raises(ValueError, match="cv=1"):
        GradientFlowKernelRegressorCV(cv=1).fit(X, y)
    with pytest.raises(ValueError, match="epsilons"):
        SelfDistilledKernelRidgeCV(epsilons=[-1.0]).fit(X, y)
