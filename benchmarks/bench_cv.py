"""Choosing the budget and the round: SelfDistilledKernelRidgeCV against GridSearchCV.

Target (issue 11): on a grid of 10 budgets x 11 rounds at n = 1000, 5-fold cross-validation
along the path (one factorization per fold, every round of every budget from it) is at least
30x faster than scikit-learn's ``GridSearchCV`` over ``SelfDistilledKernelRidge`` on the same
folds (one factorization per candidate and fold: 110 x 5 fits), measured in the same process.
Both must choose the same (budget, round) with the same score; the script checks it.

Data: p = 5 standard normal inputs, y = sin(x_0) + x_1^2/2 + 0.3 noise, RBF kernel with
gamma = 1/p, budgets 10 values from 0.01 to 0.5 times var(y), geometric.

    python benchmarks/bench_cv.py [--n 1000] [--repeat 1]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.model_selection import GridSearchCV, KFold

from hilbert_sd import SelfDistilledKernelRidge, SelfDistilledKernelRidgeCV

TARGET = 30.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, 5))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2 + 0.3 * rng.standard_normal(args.n)
    epsilons = np.var(y) * np.geomspace(0.01, 0.5, 10)
    folds = KFold(5)
    warnings.simplefilter("ignore")  # collapses inside the grid are part of it

    def ours():
        return SelfDistilledKernelRidgeCV(epsilons=epsilons, max_rounds=10, cv=folds).fit(X, y)

    def grid_search():
        return GridSearchCV(SelfDistilledKernelRidge(),
                            {"epsilon": epsilons, "n_rounds": list(range(11))}, cv=folds,
                            scoring="neg_mean_squared_error").fit(X, y)

    ours()  # warm-up: numba compilation
    t_ours, t_gs = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        model = ours()
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        search = grid_search()
        t_gs.append(time.perf_counter() - t0)
    same = (model.best_epsilon_ == search.best_params_["epsilon"]
            and model.best_round_ == search.best_params_["n_rounds"]
            and np.isclose(model.best_score_, -search.best_score_, rtol=1e-8))
    ratio = min(t_gs) / min(t_ours)
    print(f"n = {args.n}, 10 budgets x 11 rounds, 5 folds")
    print(f"  SelfDistilledKernelRidgeCV(cv=5): {min(t_ours):8.3f} s")
    print(f"  GridSearchCV(SelfDistilledKernelRidge): {min(t_gs):8.3f} s")
    print(f"  speed-up {ratio:.1f}x (target >= {TARGET:g}x): {'ok' if ratio >= TARGET else 'NO'}")
    print(f"  same choice: {same} (epsilon={model.best_epsilon_:.4g}, round={model.best_round_}, "
          f"mse={model.best_score_:.6g})")


if __name__ == "__main__":
    main()
