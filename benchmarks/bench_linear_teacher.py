"""Time of the linear-teacher experiment at d = 50 with 200 training draws per n.

Target (issue 4): ``linear_teacher_experiment(d=50, n_draws=200)`` (method ``linear_teacher``:
three geometries, the default grid of 12 training-set sizes from 2 to 200, exact risks, the
bound and the max-margin baseline: 7200 distilled students and 7200 hard-margin fits) finishes
in under 60 s. ``--depth``/``--init-scale``/``--solver`` time another student (the target is
for the default one, the projection from zero).

Prints:

- ``experiment``: the wall-clock time of the full run (target < 60 s), and its result table;
- ``reference``: a straightforward implementation of the same per-draw work, measured in the
  same process on ``--reference-draws`` draws per (geometry, n) and scaled to the full count:
  projection by ``np.linalg.pinv``, max margin by SLSQP on the primal, risk by Monte Carlo on
  20 000 test inputs per student. The ratio experiment / reference says what the closed forms,
  the NNLS least-distance solver and the exact risk integrals buy;
- the load average, since the machine may be shared.

Run:

    python benchmarks/bench_linear_teacher.py [--d 50] [--draws 200] [--reference-draws 5]
        [--depth 1] [--init-scale 0] [--solver closed_form]
"""

import argparse
import os
import sys
import time

import numpy as np
import scipy.optimize

from hilbert_sd.experiments.linear_teacher import (
    GEOMETRIES,
    default_n_values,
    linear_teacher_experiment,
)
from hilbert_sd.linear import polar_sample

TARGET_SECONDS = 60.0


def _reference_draw(geometry, n, d, w_teacher, rng, n_test=20_000):
    """The per-draw work done the obvious way (no closed forms beyond the projection)."""
    if geometry == "isotropic":
        X = rng.standard_normal((n, d))
        sample = lambda m: rng.standard_normal((m, d))  # noqa: E731
    else:
        kappa, margin = (2.0, 0.0) if geometry == "polar-kappa" else (1.0, 0.2)
        X = polar_sample(n, w_teacher, kappa=kappa, margin=margin, random_state=rng)
        sample = lambda m: polar_sample(m, w_teacher, kappa=kappa, margin=margin,  # noqa: E731
                                        random_state=rng)
    w = np.linalg.pinv(X) @ (X @ w_teacher)
    Z = X * np.sign(X @ w_teacher)[:, None]
    start = w_teacher / np.min(Z @ w_teacher)
    res = scipy.optimize.minimize(
        lambda v: 0.5 * v @ v, start, jac=lambda v: v, method="SLSQP",
        constraints=[{"type": "ineq", "fun": lambda v: Z @ v - 1.0, "jac": lambda v: Z}],
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    X_test = sample(n_test)
    labels = np.sign(X_test @ w_teacher)
    return (np.mean(np.sign(X_test @ w) != labels), np.mean(np.sign(X_test @ res.x) != labels))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--reference-draws", type=int, default=5)
    parser.add_argument("--depth", type=int, default=1)
    parser.add_argument("--init-scale", type=float, default=0.0)
    parser.add_argument("--solver", default="closed_form",
                        choices=("closed_form", "gradient_flow"))
    parser.add_argument("--out", default=None, help="also write CSV/JSON/PNG into this directory")
    args = parser.parse_args(argv)

    print(f"load average before: {os.getloadavg()[0]:.2f}")
    start = time.perf_counter()
    result = linear_teacher_experiment(d=args.d, n_draws=args.draws, depth=args.depth,
                                       init_scale=args.init_scale, solver=args.solver,
                                       progress=True)
    elapsed = time.perf_counter() - start
    print(result.format_table())
    n_values = default_n_values(args.d)
    n_students = len(GEOMETRIES) * len(n_values) * args.draws
    print(f"\nexperiment: d={args.d}, {args.draws} draws x {len(n_values)} n x "
          f"{len(GEOMETRIES)} geometries = {n_students} students: {elapsed:.1f} s "
          f"(target < {TARGET_SECONDS:g} s: {'met' if elapsed < TARGET_SECONDS else 'MISSED'})")

    rng = np.random.default_rng(1)
    w_teacher = rng.standard_normal(args.d)
    w_teacher /= np.linalg.norm(w_teacher)
    t0 = time.perf_counter()
    for geometry in GEOMETRIES:
        for n in n_values:
            for _ in range(args.reference_draws):
                _reference_draw(geometry, n, args.d, w_teacher, rng)
    t_ref = (time.perf_counter() - t0) * args.draws / args.reference_draws
    print(f"reference (pinv + SLSQP + Monte Carlo risk), scaled from {args.reference_draws} to "
          f"{args.draws} draws: {t_ref:.1f} s; experiment / reference = {elapsed / t_ref:.3f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        result.save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
