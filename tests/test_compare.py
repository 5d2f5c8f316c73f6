"""Matched comparison of self-distillation and early stopping (theory.md §3) against
independent references: expm-based flow, brentq, chained scikit-learn KernelRidge fits, hat
matrices and double loops."""

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
from sklearn.kernel_ridge import KernelRidge

from hilbert_sd import self_distill
from hilbert_sd.compare import filter_ratio_excess, match_early_stopping, matched_times
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.kernels import gram

from naive import naive_self_distill
from naive_flow import expm_flow, matched_time_brentq, max_ratio_excess_loops, rkhs_norm_sq

DATA = Path(__file__).resolve().parents[1] / "hilbert_sd" / "data" / "mobahi_toy.csv"


def _toy(n_test=101):
    d = np.loadtxt(DATA, delimiter=",", skiprows=1)
    x, y = d[:, :1], d[:, 1]
    x_test = np.linspace(0, 1, n_test)[:, None]
    return (x, gram(x, gamma=80.0), y, gram(x_test, x, gamma=80.0),
            np.sin(2 * np.pi * x_test[:, 0]))


def _krr_chain(K, K_test, y, alphas):
    """Self-distillation by literally refitting scikit-learn's KernelRidge on its own outputs."""
    target, out = y, []
    for a in alphas:
        krr = KernelRidge(alpha=a, kernel="precomputed").fit(K, target)
        out.append((krr.predict(K), krr.predict(K_test), krr.dual_coef_))
        target = out[-1][0]
    return out


@pytest.mark.parametrize("eps", [0.01, 0.05])
def test_matched_comparison_against_independent_references(eps):
    x, K, y, K_test, y_test = _toy()
    n = y.size
    eta = 0.7
    cmp = match_early_stopping(K, y, epsilon=eps, K_test=K_test, y_test=y_test,
                               learning_rate=eta)
    wide = cmp.side_by_side()
    T = int(np.sum(np.isfinite(cmp.alphas)))
    chain = _krr_chain(K, K_test, y, cmp.alphas[:T])
    for t in range(T):
        f_train, f_test, dual = chain[t]
        sd_train_mse = np.sum((f_train - y) ** 2) / n
        # matched time: brentq on the expm-based flow reaches the same training error
        tau_ref = matched_time_brentq(K, y, sd_train_mse, eta)
        assert cmp.flow_times[t] == pytest.approx(tau_ref, rel=1e-8)
        u = expm_flow(K, y, cmp.flow_times[t], eta)
        assert np.sum((u - y) ** 2) / n == pytest.approx(sd_train_mse, rel=1e-10)
        row = wide[t]
        assert row["train_mse"] == pytest.approx(sd_train_mse, rel=1e-10)
        # test errors
        a_flow = np.linalg.solve(K, u)  # kappa(K) ~ 10 on these data
        assert row["sd_test_mse"] == pytest.approx(np.mean((f_test - y_test) ** 2), rel=1e-9)
        assert row["es_test_mse"] == pytest.approx(np.mean((K_test @ a_flow - y_test) ** 2),
                                                   rel=1e-9)
        # RKHS norms a^T K a
        assert row["sd_rkhs_norm_sq"] == pytest.approx(rkhs_norm_sq(K, dual), rel=1e-9)
        assert row["es_rkhs_norm_sq"] == pytest.approx(rkhs_norm_sq(K, a_flow), rel=1e-9)
        # effective dimension = trace of the hat matrix
        hat_sd = np.eye(n)
        for a in cmp.alphas[: t + 1]:
            hat_sd = K @ np.linalg.solve(K + a * np.eye(n), hat_sd)
        hat_es = np.eye(n) - scipy.linalg.expm(-eta * cmp.flow_times[t] * K / n)
        assert row["sd_effective_dim"] == pytest.approx(np.trace(hat_sd), rel=1e-9)
        assert row["es_effective_dim"] == pytest.approx(np.trace(hat_es), rel=1e-9)
        # basis functions above the threshold: from the hat matrices' eigenvalues
        for key, hat in (("sd_n_basis", hat_sd), ("es_n_basis", hat_es)):
            w = np.linalg.eigvalsh((hat + hat.T) / 2)
            assert row[key] == np.sum(w >= cmp.threshold * w.max())
    # the collapse round: both fits are the zero function
    last = wide[-1]
    assert np.isinf(last["alpha"]) and last["time"] == 0.0
    assert last["sd_effective_dim"] == 0.0 and last["es_effective_dim"] == 0.0


def test_flow_never_sparsifies_self_distillation_does_on_reference_data():
    x, K, y, _, _ = _toy()
    lam = np.linalg.eigvalsh(K)[::-1]
    first_exceeding = {}
    for eps in (0.01, 0.02, 0.03, 0.05):
        cmp = match_early_stopping(K, y, epsilon=eps)
        wide = cmp.side_by_side()
        live = np.isfinite(cmp.alphas)
        # early stopping: E[k]/E[j] <= lam_k/lam_j on every round (equality only as tau -> 0)
        assert np.all(wide["es_max_ratio_excess"][live] <= 1 + 1e-12)
        # self-distillation: round 0 cannot exceed (M8 with one factor), later rounds do
        assert wide["sd_max_ratio_excess"][0] <= 1 + 1e-12
        over = np.nonzero(wide["sd_max_ratio_excess"][live] > 1)[0]
        assert over.size, f"eps={eps}: no round exceeded lambda_k/lambda_j"
        first_exceeding[eps] = int(over[0])
        # and keep exceeding from then on (the excess grows geometrically, M7)
        assert np.all(np.diff(wide["sd_max_ratio_excess"][live][over[0]:]) > 0)
        # the table's excess is the double-loop maximum
        for t in np.nonzero(live)[0]:
            ref = max_ratio_excess_loops(lam, cmp.sd_filters[t])
            assert wide["sd_max_ratio_excess"][t] == pytest.approx(ref, rel=1e-9)
            ref = max_ratio_excess_loops(lam, cmp.flow_filters[t])
            assert wide["es_max_ratio_excess"][t] == pytest.approx(ref, rel=1e-9)
        # the first exceeding round from an independent run: ridges by Brent's method on
        # scikit-learn refits (tests/naive.py), filters as products of lam/(lam + alpha_i),
        # excess by the double loop; round 0 is excluded by the assertion above (M8)
        alphas, _, _ = naive_self_distill(K, y, epsilon=eps, n_rounds=int(live.sum()) - 1)
        filters = np.cumprod(lam[None, :] / (lam[None, :] + np.array(alphas)[:, None]), axis=0)
        excess = np.array([max_ratio_excess_loops(lam, f) for f in filters])
        assert first_exceeding[eps] == int(np.nonzero(excess > 1)[0][0]) >= 1
    # No derived upper bound on the first exceeding round is useful here: M7 only forces the
    # excess above 1 after ~log(kappa)/log(q) factors (18 at eps = 0.01), beyond T. Measured
    # (not asserted): first exceeding round 2 at eps = 0.01 and 1 at eps = 0.02, 0.03, 0.05,
    # i.e. "after a few rounds"; the values are pinned above by the independent reference.


def test_filter_ratio_excess_matches_double_loop_with_ties_and_zeros():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(2, 15))
        lam = np.sort(10 ** rng.uniform(-3, 2, size=n))[::-1]
        if n > 3:
            lam[2] = lam[1]  # a tie: excluded from the pairs
        filt = rng.uniform(0.01, 1, size=n)
        ref = max_ratio_excess_loops(lam, filt)
        got = filter_ratio_excess(lam, np.log(filt), rank_tolerance=0.0)
        assert np.exp(got) == pytest.approx(ref, rel=1e-12)
    # a tiny or zero filter on a positive direction: huge / infinite excess
    assert filter_ratio_excess([2.0, 1.0], np.log([0.5, 1e-300]), rank_tolerance=0.0) > 600
    with np.errstate(divide="ignore"):
        assert filter_ratio_excess([2.0, 1.0], np.log([0.5, 0.0]), rank_tolerance=0.0) == np.inf
        assert np.isnan(filter_ratio_excess([2.0, 1.0], np.log([0.0, 0.0]), rank_tolerance=0.0))


def test_learning_rate_only_rescales_time_and_multioutput_joint():
    x, K, y, K_test, y_test = _toy()
    rng = np.random.default_rng(1)
    Y = np.c_[y, 0.5 * y + rng.normal(scale=0.3, size=y.size)]
    Y_test = np.c_[y_test, 0.5 * y_test]
    a = match_early_stopping(K, Y, epsilon=0.05, K_test=K_test, y_test=Y_test)
    b = match_early_stopping(K, Y, epsilon=0.05, K_test=K_test, y_test=Y_test,
                             learning_rate=4.0)
    np.testing.assert_allclose(b.flow_times, a.flow_times / 4.0, rtol=1e-10)
    for field in ("train_mse", "test_mse", "rkhs_norm_sq", "effective_dim"):
        np.testing.assert_allclose(a.table[field], b.table[field], rtol=1e-9)
    # multi-output: the flow's matched error is the joint (Frobenius) error
    for t, tau in enumerate(a.flow_times):
        u = expm_flow(K, Y, tau)
        assert np.sum((u - Y) ** 2) / y.size == pytest.approx(a.side_by_side()["train_mse"][t],
                                                              rel=1e-9)


def test_records_and_path_reuse():
    x, K, y, K_test, y_test = _toy()
    path = self_distill(K, y, epsilon=0.03)
    cmp = match_early_stopping(path=path, K_test=K_test, y_test=y_test)
    recs = cmp.records()
    assert len(recs) == 2 * (path.collapse_round + 1)
    assert {r["method"] for r in recs} == {"self_distillation", "early_stopping"}
    assert isinstance(recs[0]["n_basis"], int) and isinstance(recs[0]["alpha"], float)
    sd, es, lam_ratio = cmp.relative_filters()
    assert sd.shape == es.shape == (path.collapse_round + 1, y.size)
    np.testing.assert_allclose(sd[0], path.basis_weights[0] / path.basis_weights[0, 0])
    assert np.all(np.isnan(sd[-1]))  # the collapsed round
    # flow filters' relative curves lie above the eigenvalue ratios (never sparser than K)
    assert np.all(es[:-1] >= lam_ratio * (1 - 1e-12))


def test_matched_times_edge_cases():
    lam = np.array([3.0, 1.0, 0.0])
    z0 = np.array([1.0, 2.0, 0.5])  # null-space floor 0.25 / 3
    total = np.sum(z0**2) / 3
    floor = 0.25 / 3
    tau = matched_times(lam, z0, [total, 2 * total, 0.5 * total])
    assert tau[0] == 0.0 and tau[1] == 0.0 and tau[2] > 0
    with pytest.warns(NumericalWarning, match="floor"):
        assert np.isnan(matched_times(lam, z0, floor))
    # near the floor the time is long but finite and exact
    target = floor * (1 + 1e-6)
    t = matched_times(lam, z0, target)
    err = np.sum(np.exp(-2 * t * lam / 3) * z0**2) / 3
    assert err == pytest.approx(target, rel=1e-12)


def test_bad_inputs_raise_value_error():
    x, K, y, K_test, y_test = _toy()
    with pytest.raises(ValueError, match="path="):
        match_early_stopping(K, y)
    with pytest.raises(ValueError, match="both K_test and y_test"):
        match_early_stopping(K, y, epsilon=0.05, K_test=K_test)
    with pytest.raises(ValueError, match="K_test"):
        match_early_stopping(K, y, epsilon=0.05, K_test=K_test[:, :5], y_test=y_test)
    with pytest.raises(ValueError, match="threshold"):
        match_early_stopping(K, y, epsilon=0.05, threshold=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        match_early_stopping(K, y, epsilon=0.05, learning_rate=-1.0)
    with pytest.raises(ValueError, match="joint"):
        Y = np.c_[y, y]
        match_early_stopping(path=self_distill(K, Y, epsilon=0.05, n_rounds=2,
                                               multioutput="independent"))
    with pytest.raises(ValueError, match="DistillationPath"):
        match_early_stopping(path="nope")
    with pytest.raises(ValueError, match="target_mse"):
        matched_times([1.0], [1.0], 0.0)
    with pytest.raises(ValueError, match="descending"):
        filter_ratio_excess([1.0, 2.0], [0.0, 0.0])
