"""The vectorized self_distill batch of a sweep against independent paths.

``methods.batch_self_distill`` solves the simulations of one rule as the columns of one path
and reads their results with the path's array methods, once for all columns. Checked here:
its rows equal those of the per-simulation adapter ``run_self_distill`` (another path, one
column) to round-off; simulations of one seed share their labels.
"""

import numpy as np
import pytest

from hilbert_sd.distillation import self_distill
from hilbert_sd.experiments import methods
from hilbert_sd.experiments.config import parse_config
from hilbert_sd.experiments.planning import make_inputs, plan
from hilbert_sd.experiments.tasks import prepare_group


def make_config(method, *, n=60, seeds=5, noise=0.3, n_test=30, spectrum=None):
    data = {"generator": "gaussian", "n_samples": n, "n_features": 2, "target": "sine",
            "label_noise": noise, "n_test": n_test}
    raw = {"experiment": {"name": "batch", "seeds": seeds}, "data": data,
           "kernel": {"name": "rbf", "gamma": 0.5},
           "method": {"name": "self_distill", **method}}
    if spectrum is not None:
        raw["spectrum"] = spectrum
    return parse_config(raw)


def group_items(config, labels):
    """(config, inputs, seed) of every simulation of the config's one group, as a batch gets
    them (``labels`` a dict: shared labels) or as one-by-one runs do (None)."""
    (group,) = plan(config, config.simulations())
    cache = prepare_group(group)
    return [(t[1], make_inputs(cache, group.datasets[t[2]], t[1], labels), t[1]["seed"])
            for t in group.tasks]


CASES = {
    "budgets": ({"epsilon": [0.02, 0.1], "n_rounds": 4}, {}),
    # until collapse: the columns of one path collapse at different rounds
    "until-collapse": ({"epsilon": [0.05, 0.3]}, {"seeds": 8}),
    "mix": ({"epsilon": [0.05], "n_rounds": 5, "mix": 0.3}, {}),
    "fixed-ridge": ({"alpha": [1e-3, 0.1], "n_rounds": 3, "mix": 0.5}, {}),
    "record-rounds": ({"epsilon": [0.05], "n_rounds": 6, "record_rounds": 2}, {}),
    "noise-free": ({"epsilon": [0.05, 0.1], "n_rounds": 3}, {"noise": 0.0}),
    "no-test-set": ({"epsilon": [0.05, 0.1], "n_rounds": 3}, {"n_test": 0}),
    "nystrom": ({"epsilon": [0.2, 0.3], "n_rounds": 3},
                {"n": 80, "spectrum": {"method": "nystrom", "rank": 30, "random_state": 0}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_batch_rows_equal_one_by_one_runs(case):
    method, options = CASES[case]
    config = make_config(method, **options)
    batch = methods.batch_self_distill(group_items(config, {}))
    singles = [methods.run_self_distill(*item) for item in group_items(config, None)]
    assert len(batch) == len(singles) == len(config)
    for got, want in zip(batch, singles):
        assert list(got) == list(want)  # the same keys, in the same order
        for key, value in want.items():
            if isinstance(value, float):
                assert type(got[key]) is float
                assert got[key] == pytest.approx(value, rel=1e-10, abs=1e-14), key
            else:
                assert got[key] == value, key  # counts, rounds, None after a collapse
    assert any("clean_mse[0]" in r for r in batch) == (options.get("noise", 0.3) > 0)
    assert any("test_mse[0]" in r for r in batch) == (options.get("n_test", 30) > 0)


PATHS = {
    "budget": dict(epsilon=0.05, n_rounds=4),
    "until-collapse": dict(epsilon=0.2),
    "mix": dict(epsilon=0.05, n_rounds=5, mix=0.3),
    "fixed-ridge": dict(alpha=0.01, n_rounds=3, mix=0.5),
    # per-round weights, inside and outside [0, 1] (filters stored as they are)
    "xi": dict(epsilon=0.05, n_rounds=3, xi=[0.5, 1.2, -0.3]),
}


def test_a_batch_shares_the_labels_of_a_seed():
    config = make_config({"epsilon": [0.02, 0.05, 0.1], "n_rounds": 2}, seeds=3,
                         noise=0.3)
    shared = group_items(config, {})
    own = group_items(config, None)
    by_seed = {}
    for (cfg, inputs, seed), (_, mine, _) in zip(shared, own):
        np.testing.assert_array_equal(inputs.y, mine.y)  # the same draw
        assert mine.y.flags.writeable
        assert not inputs.y.flags.writeable  # shared: nobody may write into it
        assert by_seed.setdefault(seed, inputs.y) is inputs.y
    assert len(by_seed) == 3
    # noise-free labels are the data set's own array, as without sharing
    clean = group_items(make_config({"epsilon": [0.05, 0.1], "n_rounds": 2}, seeds=2,
                                    noise=0.0), {})
    assert all(inputs.y is inputs.y_clean for _, inputs, _ in clean)


@pytest.mark.parametrize("shape", [(6, 1000, 20), (6, 300, 1), (40, 7, 2), (1, 500, 3)])
def test_log_filters_sum_the_rounds_as_cumsum_does(shape):
    # filters._sd_log_filters adds the rounds' log shrinks one round at a time when a round
    # holds many entries (np.cumsum is slow along the first axis there): the same sums
    from hilbert_sd.filters import _sd_log_filters

    rng = np.random.default_rng(3)
    R, n, k = shape
    lam = np.sort(rng.exponential(size=n))[::-1]
    lam[-2:] = 0.0  # zero eigenvalues: log filters -inf
    alphas = rng.exponential(size=(R, k)) * 0.1
    alphas[-1, 0] = np.inf  # a collapsed round
    with np.errstate(divide="ignore"):
        log_s = -np.log1p(alphas[:, None, :] / lam[None, :, None])
    log_s = np.where(np.isnan(log_s), -np.inf, log_s)
    np.testing.assert_array_equal(_sd_log_filters(lam, alphas, 1.0), np.cumsum(log_s, axis=0))
