"""Benchmark of the self-distillation engine (issue 2 targets).

For n = 1000, 2000, 4000 (p = 10, RBF kernel) it prints, each as a ratio to one
``scipy.linalg.eigh`` of the same matrix measured in the same process:

(a) a full ε-constrained path until collapse, and 100 fixed-ridge rounds (from the kernel
    matrix, eigendecomposition included);
(b) the speed-up over the naive loop: a ``KernelRidge`` refit per round with the ridge found by
    Brent's method on refits (n <= --naive-max, at least 5 rounds);
(c) Gram-matrix time against ``sklearn.metrics.pairwise_kernels``;
(d) peak memory of ``self_distill`` beyond its input, in units of n² float64 (tracemalloc);
and the per-round solver on a long path (eigh excluded), against one eigh.

Targets (n = 4000): (a) <= 1.15 x eigh each; (b) >= 20x at n = 2000; (c) ratio <= 1;
(d) < 4 n².

Usage: python benchmarks/bench_self_distill.py [--sizes 1000 2000 4000] [--naive-max 2000]
"""

import argparse
import time
import tracemalloc

import numpy as np
import scipy.linalg
from scipy.optimize import brentq
from sklearn.kernel_ridge import KernelRidge
from sklearn.metrics.pairwise import pairwise_kernels

from hilbert_sd import self_distill
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import eigh_psd


def best_of(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def problem(n, p=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2] + 0.3 * rng.standard_normal(n)
    return X, y


def naive_path(K, y, epsilon, n_rounds):
    """KernelRidge refit per round; ridge by Brent's method on refits."""
    n = len(y)
    targets = y
    alphas = []
    for _ in range(n_rounds + 1):
        if np.sum(targets**2) <= n * epsilon:
            break

        def excess(u, targets=targets):
            fit = KernelRidge(alpha=np.exp(u), kernel="precomputed").fit(K, targets).predict(K)
            return np.mean((fit - targets) ** 2) - epsilon

        lo, hi = -10.0, 10.0
        u = brentq(excess, lo, hi, xtol=1e-12)
        alphas.append(np.exp(u))
        targets = KernelRidge(alpha=np.exp(u), kernel="precomputed").fit(K, targets).predict(K)
    return np.array(alphas)


def peak_memory(fn):
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--naive-max", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    # warm-up: numba compilation and BLAS threads, outside every timing
    Xw, yw = problem(50)
    self_distill(gram(Xw), yw, epsilon=0.05)
    self_distill(gram(Xw), yw, alpha=1.0, n_rounds=3)

    rows = []
    for n in args.sizes:
        X, y = problem(n)
        energy = np.mean(y**2)
        eps = 0.02 * energy
        t_gram, K = best_of(lambda: gram(X, kernel="rbf"), args.repeat)
        t_sk, K_sk = best_of(lambda: pairwise_kernels(X, metric="rbf"), args.repeat)
        assert np.allclose(K, K_sk, rtol=0, atol=1e-12)
        del K_sk
        t_eigh, _ = best_of(lambda: scipy.linalg.eigh(K), args.repeat)
        t_path, path = best_of(lambda: self_distill(K, y, epsilon=eps), args.repeat)
        t_fixed, _ = best_of(lambda: self_distill(K, y, alpha=1.0, n_rounds=99), args.repeat)
        mem = peak_memory(lambda: self_distill(K, y, epsilon=eps)) / (8.0 * n * n)

        spec = eigh_psd(K)
        long_eps = 1e-3 * energy
        t_nb, long_path = best_of(
            lambda: self_distill(spec, y, epsilon=long_eps), args.repeat)

        row = dict(n=n, eigh=t_eigh, path=t_path, rounds=path.collapse_round, fixed=t_fixed,
                   gram=t_gram, sk=t_sk, mem=mem, long_rounds=long_path.collapse_round,
                   t_nb=t_nb, naive=None, naive_rounds=None)
        if n <= args.naive_max:
            R = min(max(5, path.collapse_round - 1), 8)
            t0 = time.perf_counter()
            ref = naive_path(K, y, eps, R - 1)
            row["naive"] = time.perf_counter() - t0
            row["naive_rounds"] = len(ref)
            t0 = time.perf_counter()
            mine = self_distill(K, y, epsilon=eps, n_rounds=R - 1)
            row["mine_rounds_time"] = time.perf_counter() - t0
            assert np.allclose(mine.alphas[: len(ref)], ref, rtol=1e-6)
        rows.append(row)
        print(f"done n={n}", flush=True)

    print()
    print("(a) full paths as multiples of one scipy.linalg.eigh (target <= 1.15 at n = 4000)")
    print(f"{'n':>6} {'eigh s':>8} {'path s':>8} {'rounds':>6} {'path/eigh':>9} "
          f"{'100 fixed s':>11} {'fixed/eigh':>10}")
    for r in rows:
        print(f"{r['n']:>6} {r['eigh']:>8.3f} {r['path']:>8.3f} {r['rounds']:>6} "
              f"{r['path'] / r['eigh']:>9.3f} {r['fixed']:>11.3f} {r['fixed'] / r['eigh']:>10.3f}")
    print()
    print("(b) speed-up over a KernelRidge refit loop with Brent's method (target >= 20x at 2000)")
    print(f"{'n':>6} {'rounds':>6} {'naive s':>9} {'hilbert_sd s':>12} {'speed-up':>9}")
    for r in rows:
        if r["naive"] is not None:
            print(f"{r['n']:>6} {r['naive_rounds']:>6} {r['naive']:>9.2f} "
                  f"{r['mine_rounds_time']:>12.3f} {r['naive'] / r['mine_rounds_time']:>8.1f}x")
    print()
    print("(c) RBF Gram matrix vs sklearn pairwise_kernels (target ratio <= 1)")
    print(f"{'n':>6} {'gram s':>8} {'sklearn s':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['n']:>6} {r['gram']:>8.3f} {r['sk']:>9.3f} {r['gram'] / r['sk']:>6.2f}")
    print()
    print("(d) peak memory of self_distill beyond its input (target < 4 n² float64)")
    for r in rows:
        print(f"{r['n']:>6} {r['mem']:>6.2f} n²")
    print()
    print("per-round solver on a long path (eigh excluded), against one eigh")
    print(f"{'n':>6} {'rounds':>6} {'solver s':>8} {'eigh s':>8} {'solver/eigh':>11}")
    for r in rows:
        print(f"{r['n']:>6} {r['long_rounds']:>6} {r['t_nb']:>8.4f} {r['eigh']:>8.4f} "
              f"{r['t_nb'] / r['eigh']:>11.4f}")


if __name__ == "__main__":
    main()
