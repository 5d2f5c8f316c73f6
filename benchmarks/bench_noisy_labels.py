"""The noisy-labels experiment at n = 2000 runs in under 30 s.

Target (issue 5): ``run_noisy_labels(2000)`` (clustered data, arccos NTK, noise rates
0.2/0.4/0.6/0.8, t_end = 1e5 steps, every method of the experiment) in under 30 s. Because the
machine is shared, the script also measures, in the same process and interleaved with the
experiment, one eigendecomposition of the same 2000 x 2000 Gram matrix (``eigh_psd`` with the
driver the experiment uses, ``"evd"``, and scipy's default) and reports the experiment's time in
units of it: that ratio is what the implementation controls; the absolute time moves with the
load from other processes.

Prints:

- ``experiment``: wall time of ``run_noisy_labels`` end to end (data, Gram matrices, the
  eigendecomposition, every training path, predictions, AIR curves), and its phases;
- ``eigh``: one eigendecomposition (reference unit) and the ratio experiment/eigh;
- the table of clean test accuracies and the headline comparisons at 40 % noise.

Timings are the best of ``--repeat`` runs after a warm-up (numba compilation of the kernels,
first LAPACK call). Run:

    python benchmarks/bench_noisy_labels.py [--n 2000] [--repeat 1]
"""

import argparse
import time

import numpy as np
import scipy.linalg

from hilbert_sd.datasets import make_clustered
from hilbert_sd.experiments.noisy_labels import CLUSTERED_DEFAULTS, SD_METHODS, run_noisy_labels
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import eigh_psd

TARGET_SECONDS = 30.0


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)

    # warm-up: kernel compilation, first LAPACK call, the experiment's code paths
    run_noisy_labels(100, n_test=50, noise_rates=(0.4,), t_end=100, n_times=5)

    X, _ = make_clustered(args.n, random_state=0, **CLUSTERED_DEFAULTS)
    H = gram(X, kernel="arccos")
    best = {"experiment": np.inf, "eigh_evd": np.inf, "eigh_default": np.inf}
    result = None
    for _ in range(args.repeat):
        t, _s = _timed(lambda: eigh_psd(H, driver="evd"))
        best["eigh_evd"] = min(best["eigh_evd"], t)
        t, result_ = _timed(lambda: run_noisy_labels(args.n))
        if t < best["experiment"]:
            best["experiment"], result = t, result_
        t, _s = _timed(lambda: scipy.linalg.eigh(H))
        best["eigh_default"] = min(best["eigh_default"], t)

    phases = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items() if k != "total")
    print(f"n = {args.n}: experiment {best['experiment']:.2f} s ({phases})")
    print(f"one eigendecomposition: eigh_psd(driver='evd') {best['eigh_evd']:.2f} s, "
          f"scipy.linalg.eigh default {best['eigh_default']:.2f} s")
    print(f"experiment / eigh(evd) = {best['experiment'] / best['eigh_evd']:.2f}; "
          f"experiment / eigh(default) = {best['experiment'] / best['eigh_default']:.2f}")
    ok = best["experiment"] < TARGET_SECONDS
    print(f"target: under {TARGET_SECONDS:g} s -> {'met' if ok else 'NOT met'}")
    print()
    print(result.table())
    for s in result.by_rate():
        if not np.isclose(s["noise_rate"], 0.4):
            continue
        print(f"\nat 40% {result.config['noise_model']} noise:")
        for m in SD_METHODS:
            print(f"  {m:<24} {100 * s['gap_to_oracle'][m]:+6.1f} points vs the oracle early "
                  f"stop -> {'matches' if s['matches_oracle'][m] else 'does not match'} "
                  "(within 2 points)")
        gap = 100 * (s["accuracy"]["gd_end"] - s["accuracy"]["gd_oracle"])
        print(f"  gradient descent at the end: {gap:+.1f} points vs the oracle early stop -> "
              f"{'worse' if s['gd_end_worse'] else 'not worse'}")


if __name__ == "__main__":
    main()
