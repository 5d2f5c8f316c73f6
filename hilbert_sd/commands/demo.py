"""``hilbert-sd demo``: the reference self-distillation example, no configuration needed."""

import json
import sys
import time
from pathlib import Path

import numpy as np

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
    cb = run.collapse_bounds
    checks = run.bound_checks
    held = sum(c["holds"] for c in checks)
    es = run.comparison.side_by_side()
    best_es = int(np.nanargmin(es["es_test_mse"]))
    lines = [
        f"epsilon = {run.epsilon:g}",
        f"  collapse round T = {run.path.collapse_round}; bounds: M5 T >= {cb['M5_lower_kappa']:.3g}"
        f" (kappa = {cb['kappa']:.3g}),  M6 {cb['M6_lower']:.3g} <= T <= {cb['M6_upper']}"
        f" and T < {cb['M6_upper_kappa']:.3g}",
        f"  lowest test error: self-distillation round {run.best_round} "
        f"({run.test_mse[run.best_round]:.4f}); early stopping at the time matched to round "
        f"{best_es} ({es['es_test_mse'][best_es]:.4f})",
        f"  bounds M2, M5-M11 checked on the simulation: {held}/{len(checks)} hold",
        f"{'round':>5} {'ridge':>9} {'M2 bracket':>19} {'train':>8} {'to y0':>8} "
        f"{'test SD':>8} {'tau ES':>8} {'test ES':>8} {'#B SD':>5} {'#B ES':>5}",
    ]
    for r in run.records():
        if r["collapsed"]:
            alpha, bracket = "collapse", ""
        else:
            alpha = f"{r['alpha']:.4g}"
            bracket = f"[{r['m2_lower']:.3g}, {r['m2_upper']:.3g}]"
        lines.append(
            f"{r['round']:>5} {alpha:>9} {bracket:>19} {r['train_mse']:>8.5f} "
            f"{r['label_mse']:>8.5f} {r['test_mse']:>8.5f} {r['es_time']:>8.3g} "
            f"{r['es_test_mse']:>8.5f} {r['n_basis_1pct']:>5} {r['es_n_basis_1pct']:>5}")
    return "\n".join(lines)


def _figures(runs, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hilbert_sd import plotting

    paths = []
    for run in runs:
        ex = run.extras
        T = run.path.n_rounds
        # at most 7 curves: spread over the rounds, with the best one
        shown = np.unique(np.r_[np.round(np.linspace(0, T, 6)).astype(int), run.best_round])
        fig = plotting.plot_comparison(run.path, run.comparison, ex["K_grid"], ex["x_grid"],
                                       ex["x"], ex["y"], truth=ex["truth"], rounds=shown)
        fig.suptitle(f"Self-distillation on the reference data (RBF, gamma = 80), "
                     f"ε = {run.epsilon:g}")
        name = out / f"self_distillation_eps{run.epsilon:g}.png"
        fig.savefig(name, dpi=100)
        plt.close(fig)
        paths.append(name)
    return paths


def run(args):
    _check(args)
    from hilbert_sd.experiments.self_distillation import DEFAULT_EPSILONS, run_reference
    from hilbert_sd.experiments.tables import write_records

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
    write_records(records, csv_path)
    json_path = out / "self_distillation.json"
    summary = [{"epsilon": run.epsilon, "collapse_round": run.path.collapse_round,
                "best_round": run.best_round, "alphas": [float(a) for a in run.path.alphas],
                "collapse_bounds": {k: float(v) for k, v in run.collapse_bounds.items()},
                "bound_checks": [{k: (float(v) if isinstance(v, (float, np.floating)) else v)
                                  for k, v in c.items()} for c in run.bound_checks]}
               for run in runs]
    json_path.write_text(json.dumps({"summary": summary, "rounds": records}, indent=1,
                                    default=float))
    print("[demo] writing figures", file=sys.stderr)
    figures = _figures(runs, out)
    for p in [csv_path, json_path, *figures]:
        print(f"wrote {p}")
    print(f"[demo] done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
