"""``hilbert-sd demo``: the reference self-distillation example, no configuration needed."""

import sys
import time

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


def run(args):
    from hilbert_sd.cli import output_dir

    _check(args)
    out = output_dir(args.out)
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.experiments.self_distillation import DEFAULT_EPSILONS, run_reference

    started = time.perf_counter()
    epsilons = args.epsilon or DEFAULT_EPSILONS
    print(f"[demo] reference example: 11 points, RBF gamma={args.gamma:g}, "
          f"epsilon in {list(epsilons)}", file=sys.stderr)
    result = run_reference(epsilons, gamma=args.gamma)
    if not args.quiet:
        print(result.summary())
        print()
    print("[demo] writing tables and figures", file=sys.stderr)
    for path in result.save(out):
        print(f"wrote {path}")
    print(f"[demo] done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
