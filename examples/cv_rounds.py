"""Choosing the budget epsilon and the round by cross-validation (diabetes data).

A grid of budgets x rounds 0..10 costs one eigendecomposition per fold: every budget
is a path on the fold's spectrum and all its rounds are scored at once. The estimator
SelfDistilledKernelRidgeCV runs the same search and refits at the chosen candidate.

Usage: python cv_rounds.py [OUT_DIR]
(or HILBERT_SD_EXAMPLES_OUT; default: a new temporary folder)
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_diabetes
from sklearn.model_selection import KFold, train_test_split
from sklearn.preprocessing import StandardScaler

from hilbert_sd import SelfDistilledKernelRidgeCV, plotting, self_distill
from hilbert_sd.kernels import gram
from hilbert_sd.model_selection import cv_self_distill

out = Path(sys.argv[1] if len(sys.argv) > 1 else
           os.environ.get("HILBERT_SD_EXAMPLES_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3,
                                                    random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
y_c = y_train - y_train.mean()                # fit the centred targets
K, K_test = gram(X_train, gamma=0.1), gram(X_test, X_train, gamma=0.1)

epsilons = [30.0, 100.0, 300.0, 1000.0, 2000.0]   # mean squared training errors
folds = KFold(5, shuffle=True, random_state=0)
res = cv_self_distill(K, y_c, epsilons=epsilons, max_rounds=10, cv=folds)
g, t = res.best_index
g0 = int(np.argmin(res.mean_scores[:, 0]))    # the best round 0: kernel ridge
print(f"chosen: epsilon = {epsilons[g]:g}, round {t}, CV MSE {res.best_score:.1f}")
print(f"best round 0: epsilon = {epsilons[g0]:g}, "
      f"CV MSE {res.mean_scores[g0, 0]:.1f}")

for name, (eps, r) in {"chosen": (epsilons[g], t),
                       "round 0": (epsilons[g0], 0)}.items():
    f = self_distill(K, y_c, epsilon=eps, n_rounds=r).predict(K_test, r)
    print(f"test MSE, {name}: {np.mean((f + y_train.mean() - y_test) ** 2):.1f}")

model = SelfDistilledKernelRidgeCV(epsilons=epsilons, max_rounds=10, cv=folds,
                                   gamma=0.1).fit(X_train, y_c)
print(f"estimator: epsilon = {model.best_epsilon_:g}, round {model.best_round_}")

fig = Figure(figsize=(7, 4.5), layout="constrained")
plotting.plot_selection(res, ax=fig.subplots())
fig.savefig(out / "cv_rounds.png", dpi=90)
print("figure: cv_rounds.png")
