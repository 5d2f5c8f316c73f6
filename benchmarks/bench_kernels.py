"""Gram-matrix speed and memory of hilbert_sd.kernels.gram against scikit-learn.

For n = 1000, 2000, 4000 (p = 10, standard normal data) and Y = X, prints per kernel:

- ``gram``: our time (the path ``gram`` picks at that size: BLAS + a fused parallel numba pass),
- ``numpy``: our pure-numpy path forced at the same size (what the numba pass replaces),
- ``sklearn``: ``sklearn.metrics.pairwise_kernels`` with the same kernel; for "arccos" and
  "ntk", which scikit-learn does not have, its RBF kernel as the unit of cost,
- the ratios gram / sklearn (target for RBF: <= 1) and gram / numpy,
- peak memory traced by ``tracemalloc`` during one call, in units of one n x n float64
  matrix (the output itself counts 1).

All timings are the best of ``--repeat`` calls in this process, after a warm-up call that
compiles the numba kernels (the compilation times are printed first). Run:

    python benchmarks/bench_kernels.py [--sizes 1000 2000 4000] [--repeat 3]
"""

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.metrics.pairwise import pairwise_kernels

from hilbert_sd import kernels
from hilbert_sd.kernels import gram

CASES = [
    ("rbf", {}, "rbf"),
    ("laplacian", {}, "laplacian"),
    ("arccos", {}, "rbf"),
    ("ntk", {"depth": 1}, "rbf"),
    ("ntk", {"depth": 3, "b_std": 0.5}, "rbf"),
]


def _best_time(fn, repeat):
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _peak_bytes(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _forced(path):
    """A context in which gram takes the given path whatever the size."""
    class _Force:
        def __enter__(self):
            self.saved = kernels._NUMBA_MIN_ENTRIES
            kernels._NUMBA_MIN_ENTRIES = 0 if path == "numba" else np.iinfo(np.int64).max

        def __exit__(self, *exc):
            kernels._NUMBA_MIN_ENTRIES = self.saved
    return _Force()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--p", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)

    print("compilation (first call of each numba kernel, once per process):")
    small = rng.standard_normal((64, args.p))
    with _forced("numba"):
        for name, params, _ in CASES:
            for Y in (None, small[:7].copy()):
                start = time.perf_counter()
                gram(small, Y, kernel=name, **params)
                label = f"{name}{params or ''} {'Y = X' if Y is None else 'Y != X'}"
                print(f"  {label:<40s} {time.perf_counter() - start:6.2f} s")
    for _, _, ref in CASES:
        pairwise_kernels(small, metric=ref)

    header = (f"{'kernel':<28s} {'n':>5s} {'gram s':>8s} {'numpy s':>8s} {'sklearn s':>9s} "
              f"{'gram/skl':>8s} {'gram/np':>8s} {'mem gram':>8s} {'mem np':>7s} {'mem skl':>7s}")
    print()
    print(header)
    print("-" * len(header))
    for name, params, ref in CASES:
        label = name + (" " + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")
        if ref != name:
            label += f" (skl: {ref})"
        for n in args.sizes:
            X = rng.standard_normal((n, args.p))
            unit = 8.0 * n * n
            t_gram = _best_time(lambda: gram(X, kernel=name, **params), args.repeat)
            m_gram = _peak_bytes(lambda: gram(X, kernel=name, **params)) / unit
            with _forced("numpy"):
                t_np = _best_time(lambda: gram(X, kernel=name, **params), args.repeat)
                m_np = _peak_bytes(lambda: gram(X, kernel=name, **params)) / unit
            t_skl = _best_time(lambda: pairwise_kernels(X, metric=ref), args.repeat)
            m_skl = _peak_bytes(lambda: pairwise_kernels(X, metric=ref)) / unit
            print(f"{label:<28s} {n:5d} {t_gram:8.4f} {t_np:8.4f} {t_skl:9.4f} "
                  f"{t_gram / t_skl:8.2f} {t_gram / t_np:8.2f} {m_gram:8.2f} {m_np:7.2f} "
                  f"{m_skl:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
