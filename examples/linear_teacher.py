"""Distilling a linear teacher into a linear student: transfer risk against n.

A student trained by gradient flow on the soft labels sigma(w*.x) of a teacher w*
converges to the projection of w* onto the span of its n inputs, so its transfer risk
(the probability of disagreeing with the teacher on a new input) is its angle to w*
over pi. For isotropic inputs the expectation is known exactly and is 0 from n = d on;
a student of the hard labels sign(w*.x) (max margin) does not recover the teacher.

Usage: python linear_teacher.py [OUT_DIR]
(or HILBERT_SD_EXAMPLES_OUT; default: a new temporary folder)
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from hilbert_sd.linear import (distill, expected_isotropic_risk,
                               hard_label_student, transfer_risk)

out = Path(sys.argv[1] if len(sys.argv) > 1 else
           os.environ.get("HILBERT_SD_EXAMPLES_OUT") or tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

d, draws = 20, 200
rng = np.random.default_rng(0)
ns = [2, 5, 10, 15, 20, 30]
rows = []
print("  n  soft labels: mean +- s.e.  exact E R_n  hard labels")
for n in ns:
    soft, hard = [], []
    for _ in range(draws):                    # a new teacher and sample each time
        w_teacher = rng.standard_normal(d)
        X = rng.standard_normal((n, d))
        soft.append(transfer_risk(distill(X, w_teacher), w_teacher))
        hard.append(transfer_risk(hard_label_student(X, w_teacher), w_teacher))
    mean, se = np.mean(soft), np.std(soft, ddof=1) / np.sqrt(draws)
    rows.append((mean, se, expected_isotropic_risk(n, d), np.mean(hard)))
    print(f"{n:3d}  {mean:13.4f} +- {se:.4f}  {rows[-1][2]:11.4f}"
          f"  {rows[-1][3]:11.4f}")

mean, se, exact, hard = np.array(rows).T
fig = Figure(figsize=(7, 4.5), layout="constrained")
ax = fig.subplots()
ax.errorbar(ns, mean, yerr=2 * se, fmt="o", capsize=3,
            label="soft labels, mean +- 2 s.e.")
ax.plot(ns, exact, "k-", lw=1, label="exact E R_n (soft labels)")
ax.plot(ns, hard, "s--", label="hard labels (max margin)")
ax.axvline(d, color="0.6", ls=":", label=f"n = d = {d}")
ax.set(xlabel="training inputs n", ylabel="transfer risk (angle / pi)",
       title=f"Linear teacher, isotropic Gaussian inputs, d = {d}")
ax.legend()
ax.grid(True, alpha=0.3)
fig.savefig(out / "linear_teacher.png", dpi=90)
print("figure: linear_teacher.png")
