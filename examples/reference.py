"""The reference example: eleven noisy points, an RBF kernel, self-distilled until
collapse.

Each round refits the previous round's predictions to within the budget epsilon: the
ridge grows every round, the test error against sin(2 pi x) first falls and then
rises, and after a few rounds the fit collapses to zero. Early-stopped gradient flow at
the same training error is the comparison.

Usage: python reference.py [OUT_DIR]
(or HILBERT_SD_EXAMPLES_OUT; default: a new temporary folder)
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hilbert_sd import plotting, self_distill
from hilbert_sd.compare import match_early_stopping
from hilbert_sd.datasets import load_mobahi_toy
from hilbert_sd.kernels import gram

out = Path(sys.argv[1] if len(sys.argv) > 1 else
           os.environ.get("HILBERT_SD_EXAMPLES_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

x, y = load_mobahi_toy()                      # x = 0, 0.1, ..., 1; y ~ sin(2 pi x)
x_test = np.linspace(0, 1, 501)[:, None]
truth = np.sin(2 * np.pi * x_test[:, 0])
K, K_test = gram(x, gamma=80.0), gram(x_test, x, gamma=80.0)

path = self_distill(K, y, epsilon=0.005)      # every round until the collapse
cmp = match_early_stopping(path=path, K_test=K_test, y_test=truth)
table = cmp.side_by_side()[:path.collapse_round]

print(f"collapse at round {path.collapse_round}")
print("round    alpha  train MSE  test MSE: SD  early stop")
for row in table:
    print(f"{row['round']:5d} {row['alpha']:8.4g} {row['train_mse']:10.4f}"
          f" {row['sd_test_mse']:13.4f} {row['es_test_mse']:11.4f}")
best = int(np.argmin(table["sd_test_mse"]))
print(f"best round {best}: test MSE {table['sd_test_mse'][best]:.4f} "
      f"(round 0: {table['sd_test_mse'][0]:.4f})")

fig = Figure(figsize=(11, 4), layout="constrained")
left, right = fig.subplots(1, 2)
plotting.plot_fits(path, K_test, x_test[:, 0], x[:, 0], y, truth=truth,
                   rounds=[0, best, path.collapse_round - 1], ax=left)
plotting.plot_comparison_errors(cmp, ax=right)
fig.savefig(out / "reference.png", dpi=90)
print("figure: reference.png")
