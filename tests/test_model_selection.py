"""Model selection along a path (theory.md §9): GCV, leave-one-out and k-fold CV.

Every reference here is independent of the eigendecomposition: smoother matrices built column
by column from literal scikit-learn ``KernelRidge`` refits (or ``scipy.linalg.expm`` for the
flow), leave-one-out by n literal refits, k-fold CV by refitting round after round on
scikit-learn ``KFold`` splits with Brent-found ridges (tests/naive.py), and scikit-learn's own
``GridSearchCV``.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics import mean_absolute_error
from sklearn.model_selection import GridSearchCV, KFold, ShuffleSplit

from hilbert_sd import InfeasibleBudgetError, InfeasibleBudgetWarning, self_distill
from hilbert_sd.flow import flow_path
from hilbert_sd.model_selection import (
    PathCVResult,
    cv_flow,
    cv_self_distill,
    default_epsilons,
    select_best,
)
from hilbert_sd.spectral import decompose

from naive import budget_ridge, naive_self_distill, rbf

RTOL = 1e-8


def make_problem(n, m=None, seed=0, gamma=2.0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    f = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    shape = (n,) if m is None else (n, m)
    noise = 0.3 * rng.standard_normal(shape)
    y = (f if m is None else f[:, None] * rng.uniform(0.5, 1.5, m)) + noise
    return rbf(X, X, gamma), y


def assert_rel(a, b, rtol=RTOL):
    """Elementwise relative agreement (the references are all well away from 0)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = np.max(np.abs(a - b) / np.abs(b))
    assert err <= rtol, f"max relative error {err:.3g} > {rtol:g}"


# ---- independent references ----------------------------------------------------------------
def krr(K, targets, alpha):
    return KernelRidge(alpha=alpha, kernel="precomputed").fit(K, targets)


def literal_smoothers(K, ridges, mix=0.0):
    """S_t (R, n, n) of self-distillation with the given per-round ridges, column by column:
    column i of S_t is round t's training fit when the labels are the unit vector e_i."""
    n = K.shape[0]
    S = np.zeros((len(ridges), n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        targets = e
        for t, a in enumerate(ridges):
            pred = np.zeros(n) if np.isinf(a) else krr(K, targets, a).predict(K)
            S[t][:, i] = pred
            targets = mix * e + (1.0 - mix) * pred
    return S


def flow_smoothers(K, times, eta):
    """S_t = I − expm(−η t K / n): the training outputs of gradient flow are S_t y."""
    n = K.shape[0]
    return np.stack([np.eye(n) - scipy.linalg.expm(-eta * t * K / n) for t in times])


def gcv_formula(S, y):
    n = S.shape[0]
    resid = y - S @ y
    return (np.sum(resid**2) / n) / (1.0 - np.trace(S) / n) ** 2


def loo_shortcut_formula(S, y):
    resid = y - S @ y
    d = 1.0 - np.diag(S)
    e = resid / (d if resid.ndim == 1 else d[:, None])
    return np.sum(e**2) / S.shape[0]


def literal_loo_krr(K, y, alpha):
    """Mean squared leave-one-out residual by n KernelRidge refits (summed over columns)."""
    n = K.shape[0]
    total = 0.0
    for i in range(n):
        keep = np.arange(n) != i
        model = krr(K[np.ix_(keep, keep)], y[keep], alpha)
        pred = model.predict(K[np.ix_([i], keep)])[0]
        total += np.sum((y[i] - pred) ** 2)
    return total / n


def flow_predictions_expm(K_train, y_train, K_test, times, eta):
    """Held-out predictions of gradient flow from the dual ODE a' = (η/n)(y − K a), a(0) = 0,
    by the matrix exponential of the augmented system [[−cK, c y], [0, 0]] (no eigenpairs)."""
    n = K_train.shape[0]
    c = eta / n
    Y = y_train.reshape(n, -1)
    m = Y.shape[1]
    M = np.zeros((n + m, n + m))
    M[:n, :n] = -c * K_train
    M[:n, n:] = c * Y
    out = []
    for t in times:
        a = scipy.linalg.expm(M * t)[:n, n:]
        pred = K_test @ a
        out.append(pred[:, 0] if y_train.ndim == 1 else pred)
    return np.array(out)


def gd_predictions_literal(K_train, y_train, K_test, steps, eta):
    """Gradient descent on (1/2n)‖K a − y‖² in the dual: a ← a + (η/n)(y − K a)."""
    n = K_train.shape[0]
    a = np.zeros_like(y_train, dtype=float)
    out, done = [], 0
    for s in steps:
        while done < s:
            a = a + (eta / n) * (y_train - K_train @ a)
            done += 1
        out.append(K_test @ a)
    return np.array(out)


def mse(pred, y):
    err = (pred - y) ** 2
    return np.mean(err if err.ndim == 1 else err.sum(axis=1))


# ---- Spectrum.leverages ------------------------------------------------------------------
def test_leverages_are_the_diagonals_of_ridge_smoothers():
    K, _ = make_problem(25, seed=1)
    spectrum = decompose(K)
    ridges = np.array([0.01, 0.3, 5.0])
    lam = spectrum.eigenvalues
    H = lam[None, :] / (lam[None, :] + ridges[:, None])
    lev = spectrum.leverages(H)
    ref = np.stack([np.diag(np.linalg.solve(K + a * np.eye(25), K)) for a in ridges])
    assert lev.shape == (3, 25)
    np.testing.assert_allclose(lev, ref, rtol=1e-10, atol=1e-13)
    comp = spectrum.leverages(H, complement=True)
    np.testing.assert_allclose(comp, 1.0 - ref, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(spectrum.leverages(H[1]), ref[1], rtol=1e-10, atol=1e-13)
    with pytest.raises(ValueError, match="filters must have shape"):
        spectrum.leverages(np.ones((2, 24)))


# ---- GCV against explicit smoother matrices ----------------------------------------------
@pytest.mark.parametrize("mix", [0.0, 0.3])
def test_gcv_fixed_ridge_rounds_match_literal_smoothers(mix):
    K, y = make_problem(18, seed=2)
    alpha, R = 0.4, 4
    path = self_distill(K, y, alpha=alpha, n_rounds=R, mix=mix)
    S = literal_smoothers(K, [alpha] * (R + 1), mix=mix)
    assert_rel(path.gcv(), [gcv_formula(s, y) for s in S])
    assert_rel(path.effective_dof(), [np.trace(s) for s in S])
    assert_rel(path.gcv([1, 3]), [gcv_formula(S[1], y), gcv_formula(S[3], y)])
    assert np.ndim(path.gcv(2)) == 0


def test_gcv_budget_rule_at_the_found_ridges_matches_literal_smoothers():
    K, y = make_problem(16, seed=3)
    eps = 0.05 * np.mean(y**2)
    R = 3
    ridges, _, _ = naive_self_distill(K, y, epsilon=eps, n_rounds=R)  # Brent on refits
    path = self_distill(K, y, epsilon=eps, n_rounds=R)
    S = literal_smoothers(K, ridges)
    assert_rel(path.gcv(), [gcv_formula(s, y) for s in S])


def test_gcv_multioutput_sums_the_columns_and_independent_gives_one_per_column():
    K, Y = make_problem(15, m=2, seed=4)
    alpha, R = 0.2, 3
    path = self_distill(K, Y, alpha=alpha, n_rounds=R)
    S = literal_smoothers(K, [alpha] * (R + 1))
    assert path.gcv().shape == (R + 1,)
    assert_rel(path.gcv(), [gcv_formula(s, Y) for s in S])

    eps = 0.05 * np.mean(Y**2)
    ind = self_distill(K, Y, epsilon=eps, n_rounds=R, multioutput="independent")
    assert ind.gcv().shape == (R + 1, 2)
    assert ind.loo().shape == (R + 1, 2)
    assert ind.loo_is_exact.shape == (R + 1, 2)
    for c in range(2):
        single = self_distill(K, Y[:, c], epsilon=eps, n_rounds=R)
        assert_rel(ind.gcv()[:, c], single.gcv(), rtol=1e-10)
        assert_rel(ind.loo()[:, c], single.loo(), rtol=1e-10)


def test_gcv_and_loo_of_flow_match_expm_smoothers():
    K, y = make_problem(20, seed=5)
    eta = 0.8
    times = np.array([0.0, 0.5, 4.0, 40.0, 400.0])
    path = flow_path(K, y, times, learning_rate=eta)
    S = flow_smoothers(K, times, eta)
    assert_rel(path.gcv(), [gcv_formula(s, y) for s in S], rtol=1e-8)
    assert_rel(path.loo(), [loo_shortcut_formula(s, y) for s in S], rtol=1e-8)
    exact = path.loo_is_exact
    assert exact[0]  # time 0: the zero smoother, whose leave-one-out prediction is 0
    assert not exact[1:].any()
    assert np.all(np.isnan(path.loo(exact_only=True)[1:]))


def test_gcv_of_an_interpolating_path_point_is_inf():
    K, y = make_problem(12, seed=6, gamma=8.0)  # full numerical rank
    path = flow_path(K, y, [1.0, np.inf])
    assert decompose(K).numerical_rank == 12
    g = path.gcv()
    assert np.isfinite(g[0]) and g[1] == np.inf


# ---- leave-one-out -------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["alpha", "epsilon"])
def test_krr_loo_equals_literal_leave_one_out_refits(rule):
    K, y = make_problem(24, seed=7)
    if rule == "alpha":
        alpha = 0.3
        path = self_distill(K, y, alpha=alpha, n_rounds=3, mix=0.2)
    else:
        eps = 0.04 * np.mean(y**2)
        alpha = budget_ridge(K, y, eps)  # Brent on refits: independent of the engine
        path = self_distill(K, y, epsilon=eps, n_rounds=3)
    ref = literal_loo_krr(K, y, alpha)
    assert_rel(path.loo(0), ref)
    assert_rel(path.loo(exact_only=True)[0], ref)
    assert path.loo_is_exact.tolist() == [True, False, False, False]
    assert np.all(np.isnan(path.loo(exact_only=True)[1:]))


def test_krr_loo_multioutput_sums_columns():
    K, Y = make_problem(20, m=3, seed=8)
    path = self_distill(K, Y, alpha=0.5, n_rounds=1)
    assert_rel(path.loo(0), literal_loo_krr(K, Y, 0.5))


def test_shortcut_for_later_rounds_is_the_formula_but_not_the_refit():
    """Rounds ≥ 1: the value is the shortcut formula on the smoother, and it is *not* the
    literal leave-one-out refit of self-distillation (hence the flag)."""
    K, y = make_problem(20, seed=9)
    alpha, R = 0.5, 2
    n = K.shape[0]
    path = self_distill(K, y, alpha=alpha, n_rounds=R)
    S = literal_smoothers(K, [alpha] * (R + 1))
    assert_rel(path.loo(), [loo_shortcut_formula(s, y) for s in S])
    literal = np.zeros(R + 1)
    for i in range(n):
        keep = np.arange(n) != i
        _, _, new = naive_self_distill(K[np.ix_(keep, keep)], y[keep], alpha=alpha,
                                       n_rounds=R, K_new=K[np.ix_([i], keep)])
        literal += np.array([(y[i] - p[0]) ** 2 for p in new]) / n
    assert_rel(path.loo()[0], literal[0])  # round 0 exact
    rel = np.abs(path.loo()[1:] - literal[1:]) / literal[1:]
    assert np.all(rel > 1e-4), rel  # rounds >= 1: an approximation, measurably different
    assert not path.loo_is_exact[1:].any()


def test_collapsed_round_is_the_zero_smoother():
    K, y = make_problem(15, seed=10)
    eps = 0.5 * np.mean(y**2)  # collapses within a few rounds
    path = self_distill(K, y, epsilon=eps, n_rounds=6)
    T = path.collapse_round
    assert T is not None and T < 6
    n = K.shape[0]
    assert_rel(path.gcv()[T:], np.full(7 - T, np.sum(y**2) / n))
    assert_rel(path.loo()[T:], np.full(7 - T, np.sum(y**2) / n))
    assert path.loo_is_exact[T:].all()


# ---- k-fold CV along the path ---------------------------------------------------------------
def literal_cv_sd(K, y, splits, *, epsilons=None, alphas=None, max_rounds, mix=0.0):
    grid = epsilons if epsilons is not None else alphas
    out = np.zeros((len(splits), len(grid), max_rounds + 1))
    for f, (tr, te) in enumerate(splits):
        for g, v in enumerate(grid):
            rule = {"epsilon": v} if epsilons is not None else {"alpha": v}
            _, _, new = naive_self_distill(K[np.ix_(tr, tr)], y[tr], n_rounds=max_rounds,
                                           mix=mix, K_new=K[np.ix_(te, tr)], **rule)
            out[f, g] = [mse(p, y[te]) for p in new]
    return out


def test_cv_self_distill_budget_grid_matches_literal_refits_on_kfold():
    K, y = make_problem(30, seed=11)
    energy = np.mean(y**2)
    epsilons = energy * np.array([0.02, 0.1, 0.6])  # the largest collapses within the rounds
    R = 4
    res = cv_self_distill(K, y, epsilons=epsilons, max_rounds=R, cv=5)
    splits = list(KFold(n_splits=5).split(np.zeros((30, 1))))
    assert isinstance(res, PathCVResult)
    assert res.scores.shape == (5, 3, R + 1)
    for (tr, te), (a, b) in zip(splits, res.splits):
        np.testing.assert_array_equal(tr, a)
        np.testing.assert_array_equal(te, b)
    ref = literal_cv_sd(K, y, splits, epsilons=epsilons, max_rounds=R)
    assert_rel(res.scores, ref)
    assert np.all(res.collapse_rounds[:, 2] >= 0) and np.all(res.collapse_rounds[:, 0] == -1)
    # a collapsed round predicts 0: its score is the mean square of the held-out labels
    for f, (_, te) in enumerate(splits):
        T = res.collapse_rounds[f, 2]
        assert_rel(res.scores[f, 2, T:], np.full(R + 1 - T, np.mean(y[te] ** 2)), rtol=1e-12)
    # the same splits as a splitter object and as an iterable of index pairs
    np.testing.assert_array_equal(
        cv_self_distill(K, y, epsilons=epsilons, max_rounds=R, cv=KFold(5)).scores, res.scores)
    np.testing.assert_array_equal(
        cv_self_distill(K, y, epsilons=epsilons, max_rounds=R, cv=splits).scores, res.scores)


def test_cv_self_distill_fixed_ridges_mixing_multioutput_match_literal_refits():
    K, Y = make_problem(28, m=2, seed=12)
    alphas = np.array([0.05, 0.5, 3.0])
    R, mix = 3, 0.25
    splitter = ShuffleSplit(n_splits=4, test_size=0.25, random_state=3)
    res = cv_self_distill(K, Y, alphas=alphas, max_rounds=R, cv=splitter, mix=mix)
    splits = list(splitter.split(np.zeros((28, 1))))
    ref = literal_cv_sd(K, Y, splits, alphas=alphas, max_rounds=R, mix=mix)
    assert res.param_name == "alpha"
    assert_rel(res.scores, ref)


def test_cv_int_with_random_state_is_shuffled_kfold():
    K, y = make_problem(25, seed=13)
    eps = [0.05 * np.mean(y**2)]
    res = cv_self_distill(K, y, epsilons=eps, max_rounds=2, cv=5, random_state=0)
    ref = cv_self_distill(K, y, epsilons=eps, max_rounds=2,
                          cv=KFold(5, shuffle=True, random_state=0))
    np.testing.assert_array_equal(res.scores, ref.scores)
    with pytest.raises(ValueError, match="random_state applies to an int cv"):
        cv_self_distill(K, y, epsilons=eps, max_rounds=2, cv=KFold(5), random_state=0)


@pytest.mark.parametrize("method, times", [("flow", [0.0, 0.5, 5.0, 50.0, 500.0]),
                                           ("gd", [0, 1, 7, 60])])
def test_cv_flow_matches_literal_refits(method, times):
    K, y = make_problem(30, seed=14)
    eta = 0.9
    res = cv_flow(K, y, times, learning_rate=eta, method=method, cv=5)
    splits = list(KFold(n_splits=5).split(np.zeros((30, 1))))
    ref = np.zeros((5, len(times)))
    for f, (tr, te) in enumerate(splits):
        args = (K[np.ix_(tr, tr)], y[tr], K[np.ix_(te, tr)], times, eta)
        preds = (flow_predictions_expm(*args) if method == "flow"
                 else gd_predictions_literal(*args))
        ref[f] = [mse(p, y[te]) for p in preds]
    assert res.scores.shape == (5, len(times))
    assert res.grid is None and res.point_name == "time"
    assert_rel(res.scores, ref)
    assert set(res.best_params) == {"time"}


def test_cv_flow_multioutput_matches_expm():
    K, Y = make_problem(24, m=2, seed=15)
    times = [0.3, 3.0, 30.0]
    res = cv_flow(K, Y, times, cv=4)
    ref = np.zeros((4, 3))
    for f, (tr, te) in enumerate(KFold(4).split(np.zeros((24, 1)))):
        preds = flow_predictions_expm(K[np.ix_(tr, tr)], Y[tr], K[np.ix_(te, tr)], times, 1.0)
        ref[f] = [mse(p, Y[te]) for p in preds]
    assert_rel(res.scores, ref)


# ---- selection and scikit-learn-shaped results --------------------------------------------
def test_cv_results_match_gridsearchcv_for_kernel_ridge():
    K, y = make_problem(30, seed=16)
    alphas = np.array([0.01, 0.1, 1.0, 10.0])
    res = cv_self_distill(K, y, alphas=alphas, max_rounds=0, cv=5)
    gs = GridSearchCV(KernelRidge(kernel="precomputed"), {"alpha": list(alphas)}, cv=KFold(5),
                      scoring="neg_mean_squared_error").fit(K, y)
    ours = res.cv_results()
    theirs = gs.cv_results_
    for key in ["mean_test_score", "std_test_score"] + [f"split{i}_test_score"
                                                        for i in range(5)]:
        assert_rel(ours[key], theirs[key])
    np.testing.assert_array_equal(ours["rank_test_score"], theirs["rank_test_score"])
    assert ours["best_index"] == gs.best_index_
    assert res.best_params == {"alpha": gs.best_params_["alpha"], "round": 0}
    assert np.isclose(res.best_score, -gs.best_score_, rtol=RTOL)
    np.testing.assert_array_equal(ours["param_alpha"], alphas)
    assert ours["params"][1] == {"alpha": 0.1, "round": 0}


def test_select_best_order_ties_and_nan():
    scores = np.array([[[3.0, 1.0, 1.0], [np.nan, 1.0, 2.0]],
                       [[3.0, 1.0, 1.0], [np.nan, 1.0, 2.0]]])  # (2 folds, 2 grid, 3 points)
    best, results = select_best(scores, grid=[0.1, 0.2], points=[0, 1, 2])
    assert best == (0, 1)  # the first of the ties, grid-major
    assert results["best_index"] == 1
    assert results["rank_test_score"].tolist() == [5, 1, 1, 6, 1, 4]
    assert results["param_epsilon"].tolist() == [0.1, 0.1, 0.1, 0.2, 0.2, 0.2]
    assert results["param_round"].tolist() == [0, 1, 2, 0, 1, 2]
    np.testing.assert_array_equal(results["split0_test_score"], -scores[0].ravel())
    best2, r2 = select_best(scores[:, 0], points=[1.0, 2.0, 3.0], point_name="time")
    assert best2 == (1,) and r2["params"][1] == {"time": 2.0}
    with pytest.raises(ValueError, match="grid must be None"):
        select_best(scores[:, 0], grid=[1.0])


def test_best_round_is_the_earliest_among_collapsed_ties():
    K, y = make_problem(20, seed=17)
    res = cv_self_distill(K, y, epsilons=[10.0 * np.mean(y**2)], max_rounds=3, cv=4)
    assert np.all(res.collapse_rounds == 0)
    assert res.best_index == (0, 0)


def test_callable_scoring_and_default_grid():
    K, y = make_problem(24, seed=18)
    res = cv_self_distill(K, y, max_rounds=2, cv=3, scoring=mean_absolute_error)
    assert res.scores.shape == (3, 10, 3)
    np.testing.assert_allclose(res.grid, default_epsilons(y))
    np.testing.assert_allclose(res.grid[[0, -1]], np.var(y) * np.array([1e-3, 1.0]))
    tr, te = res.splits[0]
    _, _, new = naive_self_distill(K[np.ix_(tr, tr)], y[tr], epsilon=res.grid[4], n_rounds=2,
                                   K_new=K[np.ix_(te, tr)])
    assert_rel(res.scores[0, 4], [mean_absolute_error(y[te], p) for p in new])


def test_infeasible_budget_warns_flags_or_raises():
    rng = np.random.default_rng(19)
    x = rng.uniform(0, 1, (10, 1))
    X = np.vstack([x, x])  # every input twice, with different labels
    y = rng.standard_normal(20)
    K = rbf(X, X, 5.0)
    with pytest.warns(InfeasibleBudgetWarning):
        res = cv_self_distill(K, y, epsilons=[1e-6], max_rounds=1, cv=2)
    assert res.infeasible[:, 0, 0].all()
    assert np.all(np.isfinite(res.scores))
    with pytest.raises(InfeasibleBudgetError):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cv_self_distill(K, y, epsilons=[1e-6], max_rounds=1, cv=2, on_infeasible="raise")


def test_argument_errors():
    K, y = make_problem(12, seed=20)
    with pytest.raises(TypeError, match="needs the kernel matrix"):
        cv_self_distill(decompose(K), y, epsilons=[0.1])
    with pytest.raises(ValueError, match="at most one of epsilons"):
        cv_self_distill(K, y, epsilons=[0.1], alphas=[0.1])
    with pytest.raises(ValueError, match="epsilons must be"):
        cv_self_distill(K, y, epsilons=[0.1, -1.0])
    with pytest.raises(ValueError, match="scoring"):
        cv_flow(K, y, [1.0], scoring="r2")
    with pytest.raises(ValueError, match="cv="):
        cv_flow(K, y, [1.0], cv="gcv")
    with pytest.raises(ValueError, match="folds need at least"):
        cv_flow(K, y, [1.0], cv=13)


def test_gcv_adds_the_target_energy_outside_a_truncated_basis():
    """A path on a low-rank spectrum (top r eigenpairs + the tail pseudo-direction): GCV
    counts the targets' energy outside the top r, which every filter leaves as residual."""
    from hilbert_sd.spectral import LowRankSpectrum, SpectralPath, Spectrum

    K, y = make_problem(20, seed=21)
    full = decompose(K)
    r, alpha = 6, 0.3
    lam, U = full.eigenvalues[:r], full.eigenvectors[:, :r]

    class TopR(LowRankSpectrum):
        def _project_top(self, v):
            return U.T @ v

        def _reconstruct_top(self, c):
            return U @ c

    class RidgePath(SpectralPath):
        def __len__(self):
            return 1

        def _filter_rows(self, idx):
            lam_all = self.eigenvalues
            return (lam_all / (lam_all + alpha))[None, :, None][np.zeros(len(idx), int)]

    spectrum = TopR(lam, 20)
    z = spectrum.project(y[:, None])
    np.testing.assert_allclose(z[-1] ** 2, np.sum(y**2) - np.sum((U.T @ y) ** 2), rtol=1e-10)
    S = U @ np.diag(lam / (lam + alpha)) @ U.T  # the truncated smoother, explicitly
    path = RidgePath(spectrum, z, 1)
    assert_rel(path.gcv(), [gcv_formula(S, y)], rtol=1e-10)
    truncated = Spectrum(lam, U)  # r columns of U: leverages of the truncated smoother
    np.testing.assert_allclose(truncated.leverages(lam / (lam + alpha)), np.diag(S), atol=1e-14)
    np.testing.assert_allclose(truncated.leverages(lam / (lam + alpha), complement=True),
                               1.0 - np.diag(S), atol=1e-14)
    with pytest.raises(ValueError, match="holds 6"):
        path.loo()
