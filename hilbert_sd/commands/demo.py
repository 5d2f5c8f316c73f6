"""``hilbert-sd demo``: the reference self-distillation example, no configuration needed."""

import json
import sys
import time
from pathlib import Path

NAME = "demo"
HELP = "run the reference self-distillation experiments: summary table, figures, CSV/JSON"


def add_arguments(parser):
    parser.add_argument("--out", default="demo_out", metavar="DIR",
                        help="directory for figures (PNG) and results (CSV, JSON); "
                             "default: %(default)s")
    parser.add_argument("--epsilon", type=float, nargs="+", metavar="EPS", default=None,
                        help="budgets on the mean squared training error "
                             "(default: 0.001 0.005 0.02 0.1)")
    parser.add_argument("--gamma", type=float, default=80.0,
                        help="RBF kernel parameter (default: %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="print only the output paths")


def _check(args):
    from hilbert_sd.cli import UsageError

    if args.gamma <= 0:
        raise UsageError(f"--gamma={args.gamma:g} is out of range; allowed: > 0")
    if args.epsilon is not None:
        for eps in args.epsilon:
            if not 0 < eps < 0.57354:
                raise UsageError(
                    f"--epsilon={eps:g} is out of range; allowed: 0 < epsilon < 0.57354 "
                    "(‖y‖²/n of the reference data, where round 0 already collapses)"
                )


def _table(run):
    lines = [f"epsilon = {run.epsilon:g}   (collapse at round {run.path.collapse_round}, "
             f"lowest test error at round {run.best_round})",
             f"{'round':>5} {'ridge':>11} {'train MSE':>10} {'MSE to y0':>10} "
             f"{'test MSE':>9} {'#basis>1%':>9}"]
    for r in run.records():
        alpha = "collapsed" if r["collapsed"] else f"{r['alpha']:.4g}"
        lines.append(f"{r['round']:>5} {alpha:>11} {r['train_mse']:>10.5f} "
                     f"{r['label_mse']:>10.5f} {r['test_mse']:>9.5f} {r['n_basis_1pct']:>9}")
    return "\n".join(lines)


def _figures(runs, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hilbert_sd import plotting

    import numpy as np

    paths = []
    for run in runs:
        ex = run.extras
        T = run.path.n_rounds
        # at most 7 curves: the first rounds, the best one and the last ones stay readable
        shown = np.unique(np.r_[np.round(np.linspace(0, T, 6)).astype(int), run.best_round])
        fig, axes = plt.subplots(1, 3, figsize=(16, 4.5), layout="constrained")
        plotting.plot_fits(run.path, ex["K_grid"], ex["x_grid"], ex["x"], ex["y"],
                           truth=ex["truth"], rounds=shown, ax=axes[0])
        plotting.plot_basis_weights(run.path, rounds=shown[shown < T] if T else shown,
                                    ax=axes[1])
        rounds = range(len(run.test_mse))
        plotting.plot_errors(rounds, {"train (to y_t)": run.train_mse,
                                      "train (to y_0)": run.label_mse,
                                      "test (to sin 2πx)": run.test_mse}, ax=axes[2])
        fig.suptitle(f"Self-distillation on the reference data, ε = {run.epsilon:g}")
        name = out / f"self_distillation_eps{run.epsilon:g}.png"
        fig.savefig(name, dpi=110)
        plt.close(fig)
        paths.append(name)
    return paths


def run(args):
    _check(args)
    from hilbert_sd.experiments.self_distillation import DEFAULT_EPSILONS, run_reference

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    epsilons = args.epsilon or DEFAULT_EPSILONS
    print(f"[demo] reference example: 11 points, RBF gamma={args.gamma:g}, "
          f"epsilon in {list(epsilons)}", file=sys.stderr)
    runs = run_reference(epsilons, gamma=args.gamma)
    records = [r for run in runs for r in run.records()]
    if not args.quiet:
        for run in runs:
            print(_table(run))
            print()
    csv_path = out / "self_distillation.csv"
    with csv_path.open("w") as fh:
        keys = list(records[0])
        fh.write(",".join(keys) + "\n")
        for r in records:
            fh.write(",".join(str(r[k]) for k in keys) + "\n")
    json_path = out / "self_distillation.json"
    summary = [{"epsilon": run.epsilon, "collapse_round": run.path.collapse_round,
                "best_round": run.best_round, "alphas": [float(a) for a in run.path.alphas]}
               for run in runs]
    json_path.write_text(json.dumps({"summary": summary, "rounds": records}, indent=1))
    print("[demo] writing figures", file=sys.stderr)
    figures = _figures(runs, out)
    for p in [csv_path, json_path, *figures]:
        print(f"wrote {p}")
    print(f"[demo] done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
