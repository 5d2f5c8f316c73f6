"""Gram-matrix speed and memory of hilbert_sd.kernels.gram against scikit-learn.

For n = 1000, 2000, 4000 (p = 10, standard normal data), prints per kernel, for the
symmetric Gram matrix k(X, X) and, for "rbf", also the cross matrix k(X', X) of a second
sample of the same size:

- ``gram``: our time (the path ``gram`` picks at that size: BLAS + a fused numba pass, on all
  cores),
- ``numpy``: our pure-numpy path forced at the same size (what the numba pass replaces),
- ``sklearn``: ``sklearn.metrics.pairwise_kernels`` with the same kernel; for "arccos" and
  "ntk", which scikit-learn does not have, its RBF kernel as the unit of cost,
- the ratios gram / sklearn (target for RBF: <= 1) and gram / numpy,
- peak memory traced by ``tracemalloc`` during one call, in units of one n x n float64
  matrix (the output itself counts 1).

All timings are the best of ``--repeat`` calls in this process, after a warm-up call per
kernel (its time, printed first, is a compilation on a fresh installation and a load from
numba's on-disk cache afterwards). Run:

    python benchmarks/bench_kernels.py [--sizes 1000 2000 4000] [--repeat 3]
"""

import argparse
import time
import tracemalloc

import numpy as np
from sklearn.metrics.pairwise import pairwise_kernels

from hilbert_sd import kernels
from hilbert_sd.kernels import gram

# (kernel, parameters, scikit-learn metric to compare with, cross matrix k(X', X)?)
CASES = [
    ("rbf", {}, "rbf", False),
    ("rbf", {}, "rbf", True),
    ("laplacian", {}, "laplacian", False),
    ("arccos", {}, "rbf", False),
    ("ntk", {"depth": 1}, "rbf", False),
    ("ntk", {"depth": 3, "b_std": 0.5}, "rbf", False),
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

    print("warm-up (first call of each numba kernel: compilation or cache load):")
    small = rng.standard_normal((64, args.p))
    with _forced("numba"):
        for name, params, _, cross in CASES:
            start = time.perf_counter()
            gram(small, small[::-1].copy() if cross else None, kernel=name, **params)
            label = f"{name}{params or ''} {'k(X, Y)' if cross else 'k(X, X)'}"
            print(f"  {label:<40s} {time.perf_counter() - start:6.2f} s")
    for _, _, ref, _ in CASES:
        pairwise_kernels(small, metric=ref)

    header = (f"{'kernel':<32s} {'n':>5s} {'gram s':>8s} {'numpy s':>8s} {'sklearn s':>9s} "
              f"{'gram/skl':>8s} {'gram/np':>8s} {'mem gram':>8s} {'mem np':>7s} {'mem skl':>7s}")
    print()
    print(header)
    print("-" * len(header))
    for name, params, ref, cross in CASES:
        label = name + (" " + ",".join(f"{k}={v}" for k, v in params.items()) if params else "")
        label += " k(X',X)" if cross else ""
        if ref != name:
            label += f" (skl {ref})"
        for n in args.sizes:
            X = rng.standard_normal((n, args.p))
            Z = rng.standard_normal((n, args.p)) if cross else None

            def ours():
                return gram(X, kernel=name, **params) if Z is None else \
                    gram(Z, X, kernel=name, **params)

            def theirs():
                return pairwise_kernels(X if Z is None else Z, None if Z is None else X,
                                        metric=ref)

            unit = 8.0 * n * n
            t_gram = _best_time(ours, args.repeat)
            m_gram = _peak_bytes(ours) / unit
            with _forced("numpy"):
                t_np = _best_time(ours, args.repeat)
                m_np = _peak_bytes(ours) / unit
            t_skl = _best_time(theirs, args.repeat)
            m_skl = _peak_bytes(theirs) / unit
            print(f"{label:<32s} {n:5d} {t_gram:8.4f} {t_np:8.4f} {t_skl:9.4f} "
                  f"{t_gram / t_skl:8.2f} {t_gram / t_np:8.2f} {m_gram:8.2f} {m_np:7.2f} "
                  f"{m_skl:7.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
