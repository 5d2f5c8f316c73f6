"""A sweep from a TOML config, read back with ``hilbert-sd results`` and ``plot``.

Three budgets x five seeds of label noise on one Gaussian data set: 15 simulations,
one row each in a SQLite store. ``results`` aggregates them over the seeds (mean and
standard error per budget), ``plot`` draws the test error per round, one line per
budget. The commands run as a user types them (through ``python -m hilbert_sd``).

Usage: python sweep_results.py [OUT_DIR]
(or HILBERT_SD_EXAMPLES_OUT; default: a new temporary folder)
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else
           os.environ.get("HILBERT_SD_EXAMPLES_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

CONFIG = """
[experiment]
name = "budgets"
seeds = 5                   # seeds 0..4 draw the label noise; the inputs are fixed

[data]
generator = "gaussian"      # x ~ N(0, I_3), y = sin(pi w.x) + noise
n_samples = 200
n_features = 3
target = "sine"
label_noise = 0.3
n_test = 500

[kernel]
name = "rbf"
gamma = 1.0

[method]
name = "self_distill"
epsilon = [0.01, 0.03, 0.1]  # a grid axis: one simulation per budget and seed
n_rounds = 6
"""
(out / "budgets.toml").write_text(CONFIG)
(out / "budgets.db").unlink(missing_ok=True)  # a fresh store on every run


def hilbert_sd(*args):
    print("$ hilbert-sd " + " ".join(args))
    proc = subprocess.run([sys.executable, "-m", "hilbert_sd", *args], cwd=out,
                          check=True, stdout=subprocess.PIPE, text=True)
    print(proc.stdout, end="")                # (its errors go to stderr)


hilbert_sd("sweep", "budgets.toml", "--store", "budgets.db", "--quiet")
hilbert_sd("results", "budgets.db", "--group-by", "method.epsilon",
           "--columns", "best_round", "best_test_mse", "test_mse[0]",
           "--agg", "mean,se")
hilbert_sd("plot", "budgets.db", "--x", "round", "--y", "test_mse",
           "--group-by", "method.epsilon", "--logy", "--out", "sweep_results.png")
print("figure: sweep_results.png")
