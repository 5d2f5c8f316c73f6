"""Certified intervals from the top-r eigenpairs (hilbert_sd.certificates) [derived].

The reference is the exact ε-constrained run of :func:`hilbert_sd.self_distill` on the full
spectrum; the certificate sees only the top-r eigenvalues, their energies, the tail's total
energy and the bound λ_r on the tail eigenvalues.
"""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from hilbert_sd import self_distill
from hilbert_sd import certificates as cert_mod
from hilbert_sd.certificates import DistillationIntervals, distillation_intervals
from hilbert_sd.spectral import Spectrum

N_ROUNDS = 5
RTOL = 1e-9  # relative slack for containment (root tolerances of both solvers)
TAIL_KINDS = ("spread", "one_point", "peak", "at_bound", "bottom")


def _log_w(lam, alpha, prev):
    """log w_t(λ) = 2 log(α/(α+λ)) + 2 Σ log(λ/(λ+α_i)), plain numpy (reference)."""
    lam = np.asarray(lam, dtype=float)
    out = -2.0 * np.log1p(lam / alpha)
    for a in prev:
        out = out - 2.0 * np.log1p(a / lam)
    return out


def _peak(prev, alpha, lam_r):
    """argmax of w_t over (0, λ_r] by a bounded scalar search in log λ (reference)."""
    res = scipy.optimize.minimize_scalar(
        lambda x: -_log_w(np.exp(x), alpha, prev), bounds=(math.log(lam_r) - 40, math.log(lam_r)),
        method="bounded", options={"xatol": 1e-10})
    return float(np.exp(res.x))


def _spectrum(lam):
    return Spectrum(eigenvalues=lam, eigenvectors=np.eye(lam.size))


def _random_case(rng, kind):
    """Full spectrum (descending, > 0), targets z = y (U = I), rank r, ε."""
    n = int(rng.integers(12, 80))
    r = int(rng.integers(1, min(12, n - 2)))
    decay = rng.choice(["poly", "exp", "random", "flat_gap"])
    k = np.arange(1, n + 1)
    if decay == "poly":
        lam = k ** -rng.uniform(0.5, 3.0)
    elif decay == "exp":
        lam = np.exp(-rng.uniform(0.05, 1.0) * k)
    elif decay == "random":
        lam = np.sort(rng.uniform(0.0, 1.0, n) ** 3)[::-1]
    else:  # a flat top and a gap
        lam = np.concatenate([rng.uniform(0.5, 1.0, r), rng.uniform(0.0, 0.3, n - r) ** 2])
        lam = np.sort(lam)[::-1]
    lam = np.maximum(lam, 1e-9 * lam[0]) * 10.0 ** rng.uniform(-2, 2)
    lam = np.sort(lam)[::-1]
    z = rng.normal(size=n) * lam ** (rng.uniform(0.0, 1.0) / 2)
    z[:r] += rng.normal(size=r) * np.sqrt(lam[:r] / lam[0])
    tail = z[r:] * 10.0 ** rng.uniform(-3.0, 0.3)
    E = float(np.sum(tail ** 2))
    lam_r = lam[r - 1]
    z = z.copy()
    energy = np.sum(z[:r] ** 2) + E
    eps = energy / n * 10.0 ** rng.uniform(-2.5, -0.3)
    tail_lam = lam[r:].copy()
    if kind == "spread":
        z[r:] = tail
    else:
        z[r:] = np.sqrt(E / (n - r)) * 1e-4  # a trace of energy everywhere
        rest = E - float(np.sum(z[r + 1:] ** 2))
        if kind == "one_point":
            j = int(rng.integers(0, n - r))
            tail_lam[j] = lam_r * 10.0 ** rng.uniform(-4, 0)
        elif kind == "at_bound":
            tail_lam[0] = lam_r
        elif kind == "bottom":
            tail_lam[0] = lam_r * 1e-6
        else:  # "peak": all the energy at the peak of w_t of a pilot run
            pilot_lam = np.concatenate([lam[:r], tail_lam])
            pilot_lam[r] = 0.5 * lam_r
            pilot_z = z.copy()
            pilot_z[r] = math.sqrt(max(rest, 0.0))
            order = np.argsort(-pilot_lam, kind="stable")
            pilot = self_distill(_spectrum(pilot_lam[order]), pilot_z[order], epsilon=eps,
                                 n_rounds=N_ROUNDS)
            T = pilot.collapse_round
            last = N_ROUNDS if T is None else T - 1
            if last >= 1:
                t = int(rng.integers(1, last + 1))
                a = pilot.ridges
                tail_lam[0] = min(_peak(a[:t], a[t], lam_r), lam_r)
            else:
                tail_lam[0] = lam_r * 0.3
        z[r] = math.sqrt(max(rest, 0.0))
    full = np.concatenate([lam[:r], tail_lam])
    order = np.argsort(-full, kind="stable")
    full, z = full[order], z[order]
    # the top r stay the top r (every tail eigenvalue ≤ λ_r, stable order keeps ties)
    assert np.array_equal(order[:r], np.arange(r))
    return full, z, r, eps


def _check_case(lam, z, r, eps, use_floor=False):
    n = lam.size
    path = self_distill(_spectrum(lam), z, epsilon=eps, n_rounds=N_ROUNDS)
    E = float(np.sum(z[r:] ** 2))
    floor = float(lam[-1]) if use_floor else 0.0  # a valid floor: the smallest tail eigenvalue
    c = distillation_intervals(lam[:r], z[:r] ** 2, E, n, eps, N_ROUNDS, tail_floor=floor)
    ridges = path.ridges
    ok_ridge = c.contains(ridges, rtol=RTOL)
    mse = path.train_mse()
    ok_train = (mse >= c.train_mse_lo * (1 - RTOL) - 1e-300) & (mse <= c.train_mse_hi * (1 + RTOL))
    fits = path.train_predictions(np.arange(N_ROUNDS + 1))
    label = np.mean((fits - z[None, :]) ** 2, axis=1)
    ok_label = (label >= c.label_mse_lo * (1 - RTOL)) & (label <= c.label_mse_hi * (1 + RTOL))
    T = path.collapse_round
    e, last = c.earliest_collapse, c.latest_collapse
    ok_collapse = ((T is None or (e is not None and T >= e))
                   and (last is None or (T is not None and T <= last)))
    return c, path, ok_ridge, ok_train, ok_label, ok_collapse


def _widths(c, path):
    T = path.collapse_round
    live = N_ROUNDS + 1 if T is None else T
    return c.relative_width[:live]


def test_random_cases_contain_the_exact_run():
    """≥ 200 random full spectra (sizes, ranks, decays, ε, five tail shapes incl. the
    adversarial peak of w_t, a third with the known tail floor): every exact ridge, training
    error, label error and collapse round inside its certificate."""
    rng = np.random.default_rng(20261129)
    counts = dict(ridges=0, ridges_ok=0, train_ok=0, label_ok=0, collapse_ok=0, cases=0)
    per_round = [[] for _ in range(N_ROUNDS + 1)]
    for i in range(250):
        kind = TAIL_KINDS[i % len(TAIL_KINDS)]
        lam, z, r, eps = _random_case(rng, kind)
        c, path, ok_r, ok_t, ok_l, ok_c = _check_case(lam, z, r, eps, use_floor=i % 3 == 2)
        assert ok_r.all(), (i, kind, path.ridges, c.alpha_lo, c.alpha_hi)
        assert ok_t.all(), (i, kind, path.train_mse(), c.train_mse_lo, c.train_mse_hi)
        assert ok_l.all(), (i, kind, c.label_mse_lo, c.label_mse_hi)
        assert ok_c, (i, kind, path.collapse_round, c.earliest_collapse, c.latest_collapse)
        counts["cases"] += 1
        counts["ridges"] += ok_r.size
        counts["ridges_ok"] += int(ok_r.sum())
        for t, w in enumerate(_widths(c, path)):
            per_round[t].append(w)
    assert counts["cases"] == 250 and counts["ridges_ok"] == counts["ridges"] == 250 * 6
    # the certificates are informative in the typical case, not only valid
    assert np.median(per_round[0]) < 1.0


def test_random_orthogonal_basis_end_to_end():
    """K = U diag(λ) Uᵀ with a random orthogonal U, the certificate from Uᵀy."""
    rng = np.random.default_rng(7)
    for kind in TAIL_KINDS:
        lam, z, r, eps = _random_case(rng, kind)
        n = lam.size
        U = scipy.stats.ortho_group.rvs(n, random_state=rng)
        K = (U * lam) @ U.T
        K = 0.5 * (K + K.T)
        y = U @ z
        path = self_distill(K, y, epsilon=eps, n_rounds=N_ROUNDS)
        zz = U.T @ y
        c = distillation_intervals(lam[:r], zz[:r] ** 2, float(y @ y - zz[:r] @ zz[:r]), n, eps,
                                   N_ROUNDS)
        # the eigensolver's round-off on K: a slightly looser slack
        assert c.contains(path.ridges, rtol=1e-6).all(), (kind, path.ridges, c.alpha_lo,
                                                          c.alpha_hi)


def _endpoint_log_max(x_lo, x_hi, u, log_prev):
    """The WRONG tail bound: the larger endpoint value of w_t (w_t is not monotone)."""
    us = cert_mod._split_prev(log_prev)
    if us is None:
        return -math.inf
    return max(cert_mod._log_w(x_lo, u, us), cert_mod._log_w(x_hi, u, us))


def _endpoint_log_min(x_lo, x_hi, u, log_prev):
    return cert_mod._tail_log_min(x_lo, x_hi, u, log_prev)


def test_endpoint_bracket_fails_where_the_maximization_holds():
    """Ridges far below λ_r and the tail's energy at the interior peak of w_1: the endpoint
    bracket of the tail (max of w_1 at λ = 0 and λ_r) underestimates the tail's share of Φ_1
    thousands of times over and its "lower end" of α_1 and α_2 excludes the exact ridges; the
    maximized bracket contains them."""
    top = np.array([1000.0, 900.0, 800.0])
    lam_r = top[-1]
    n, eps = 20, 0.05
    b = n * eps
    E = 0.9 * b  # the tail carries most of the budget's worth of energy
    z_top = math.sqrt(0.1 * b / 3) * top / (1e-3 * lam_r)  # puts the ridges near 1e-3 λ_r
    lam = np.concatenate([top, [1.0], np.full(n - 4, 1e-6)])
    z = np.concatenate([z_top, [math.sqrt(E)], np.zeros(n - 4)])
    for _ in range(3):  # move the tail eigenvalue to the peak of w_1 of the exact run
        a = self_distill(_spectrum(lam), z, epsilon=eps, n_rounds=2).ridges
        lam[3] = _peak(a[:1], a[1], lam_r)
    ridges = self_distill(_spectrum(lam), z, epsilon=eps, n_rounds=2).ridges
    assert np.all(np.isfinite(ridges)) and 1e-6 < lam[3] < 1e-2 * lam_r  # an interior peak
    w_peak = math.exp(_log_w(lam[3], ridges[1], ridges[:1]))
    w_end = math.exp(_log_w(lam_r, ridges[1], ridges[:1]))  # w_1(0) = 0
    assert w_peak > 1000.0 * w_end
    args = (top, z_top ** 2, E, n, eps, 2, lam_r, 0.0)
    good = cert_mod._run(*args)
    wrong = cert_mod._run(*args, tail_max=_endpoint_log_max, tail_min=_endpoint_log_min)
    assert np.all((good["alpha_lo"] <= ridges) & (ridges <= good["alpha_hi"]))
    assert wrong["alpha_lo"][1] > 1.02 * ridges[1]  # the endpoint "lower end" is violated
    assert wrong["alpha_lo"][2] > 1.001 * ridges[2]


@pytest.mark.parametrize("seed", range(3))
def test_tail_maximum_matches_a_dense_grid(seed):
    """The bounded maximization of the concave log w_t(e^x) bounds a dense grid from above,
    tightly."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        t = int(rng.integers(0, 6))
        prev = np.sort(10.0 ** rng.uniform(-3, 2, t))
        alpha = 10.0 ** rng.uniform(-3, 3)
        lam_r = 10.0 ** rng.uniform(-2, 2)
        floor = 0.0 if rng.random() < 0.5 else lam_r * 10.0 ** rng.uniform(-6, 0)
        x_lo = math.log(floor) if floor > 0 else -math.inf
        got = cert_mod._tail_log_max(x_lo, math.log(lam_r), math.log(alpha),
                                     list(np.log(prev)))
        lo = floor if floor > 0 else lam_r * 1e-14
        grid = np.concatenate([np.geomspace(lo, lam_r, 20001), [lam_r]])
        ref = float(np.max(_log_w(grid, alpha, prev)))
        assert got >= ref - 1e-12
        assert got <= ref + 1e-6
        got_min = cert_mod._tail_log_min(x_lo, math.log(lam_r), math.log(alpha),
                                         list(np.log(prev)))
        if floor > 0:
            assert got_min <= float(np.min(_log_w(grid, alpha, prev))) + 1e-12


def test_intervals_shrink_to_points_as_tail_energy_vanishes():
    rng = np.random.default_rng(3)
    n, r = 50, 6
    lam = np.sort(rng.uniform(0.0, 1.0, n) ** 2)[::-1] + 1e-4
    z = rng.normal(size=n) * np.sqrt(lam)
    eps = 0.03 * float(z @ z) / n
    widths = []
    for scale in (1e-1, 1e-3, 1e-5, 1e-8, 0.0):
        zz = z.copy()
        zz[r:] *= scale
        E = float(np.sum(zz[r:] ** 2))
        c = distillation_intervals(lam[:r], zz[:r] ** 2, E, n, eps, N_ROUNDS)
        path = self_distill(_spectrum(lam), zz, epsilon=eps, n_rounds=N_ROUNDS)
        assert c.contains(path.ridges, rtol=RTOL).all()
        live = ~c.collapse_certain
        assert live[:2].all()
        widths.append(float(np.max(c.relative_width[live])))
    assert all(b <= a for a, b in zip(widths, widths[1:]))
    assert widths[-2] < 1e-6 and widths[-1] < 1e-10
    # with no tail at all the certificate is the exact top-r run
    top = self_distill(_spectrum(lam[:r]), z[:r], epsilon=eps * n / r, n_rounds=N_ROUNDS)
    c = distillation_intervals(lam[:r], z[:r] ** 2, 0.0, n, eps, N_ROUNDS)
    live = np.isfinite(top.ridges)
    np.testing.assert_allclose(c.alpha_lo[live], top.ridges[live], rtol=1e-10)
    np.testing.assert_allclose(c.alpha_hi[live], top.ridges[live], rtol=1e-10)


def test_too_wide_and_collapse_reporting():
    top = np.array([4.0, 2.0, 1.0])
    e = np.array([4.0, 1.0, 0.5])
    # tail energy above the budget with tail eigenvalues down to 0: nothing bounds α_0 below
    c = distillation_intervals(top, e, tail_energy=5.0, n_samples=30, epsilon=0.1, n_rounds=4)
    assert c.alpha_lo[0] == 0.0
    # a known floor on the tail eigenvalues restores a positive lower end
    c2 = distillation_intervals(top, e, 5.0, 30, 0.1, 4, tail_floor=0.5)
    assert c2.alpha_lo[0] > 0.0
    # a large budget: collapse possible early, undecided
    c3 = distillation_intervals(top, e, 2.0, 30, 0.05, 4)
    assert c3.too_wide.any()
    text = c3.summary()
    assert "too wide" in text and "no lower bound" in text and "collapse:" in text
    assert not c3.collapse_decided and "cannot be decided" in text
    # certain collapse at round 0: ‖y‖²/n ≤ ε
    c4 = distillation_intervals(top, e, 0.5, 30, 1.0, 3)
    assert c4.earliest_collapse == c4.latest_collapse == 0
    assert np.all(np.isinf(c4.alpha_lo)) and not c4.too_wide.any()
    assert "at round 0 (certified)" in c4.summary()
    # no collapse within the horizon, certified
    c5 = distillation_intervals(top, e, 1e-4, 30, 1e-3, 2)
    assert c5.earliest_collapse is None and c5.collapse_decided
    assert "no collapse" in c5.summary()
    r = repr(c5)
    assert r.startswith("DistillationIntervals(rank=3") and "median_relative_width" in r
    assert isinstance(c5, DistillationIntervals) and c5.n_rounds == 2


def test_scale_invariance_far_into_the_float_range():
    """Rescaling the kernel rescales every ridge; rescaling targets and ε together changes
    nothing (M14), down to 1e-150 and up to 1e150: the log-space evaluation neither overflows
    nor underflows."""
    lam, e = np.array([5.0, 3.0, 1.0]), np.array([4.0, 2.0, 1.0])
    ref = distillation_intervals(lam, e, 0.1, 20, 0.05, 5)
    live = ~ref.collapse_certain
    assert live[:2].all()
    for s in (1e-150, 1e150):
        c = distillation_intervals(lam * s, e, 0.1, 20, 0.05, 5)
        np.testing.assert_allclose(c.alpha_lo[live] / s, ref.alpha_lo[live], rtol=1e-11)
        np.testing.assert_allclose(c.alpha_hi[live] / s, ref.alpha_hi[live], rtol=1e-11)
        c = distillation_intervals(lam, e * s, 0.1 * s, 20, 0.05 * s, 5)
        np.testing.assert_allclose(c.alpha_lo[live], ref.alpha_lo[live], rtol=1e-11)
        np.testing.assert_allclose(c.alpha_hi[live], ref.alpha_hi[live], rtol=1e-11)
        assert c.earliest_collapse == ref.earliest_collapse
        assert c.latest_collapse == ref.latest_collapse


@pytest.mark.parametrize("kwargs, match", [
    (dict(top_eigenvalues=[1.0, 2.0]), "descending"),
    (dict(top_eigenvalues=[1.0, 0.0]), "> 0"),
    (dict(top_energies=[1.0]), "shape"),
    (dict(top_energies=[1.0, -1.0]), ">= 0"),
    (dict(tail_energy=-1.0), "tail_energy"),
    (dict(epsilon=0.0), "epsilon"),
    (dict(n_rounds=-1), "n_rounds"),
    (dict(tail_bound=0.0), "tail_bound"),
    (dict(tail_floor=5.0), "tail_floor"),
    (dict(n_samples=1), "n_samples"),
])
def test_validation(kwargs, match):
    args = dict(top_eigenvalues=[2.0, 1.0], top_energies=[1.0, 1.0], tail_energy=0.1,
                n_samples=10, epsilon=0.01, n_rounds=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        distillation_intervals(**args)
