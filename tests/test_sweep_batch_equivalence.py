"""The vectorized self_distill batch of a sweep against independent paths."""

import numpy as np
import pytest


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
