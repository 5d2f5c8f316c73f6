"""``hilbert-sd demo``: the reference self-distillation example, no configuration needed.

The early-stopping experiment (``hilbert-sd reproduce early-stopping``) with the budgets and
kernel of the options, run through the one runner into a temporary store (a demo leaves its
tables and figures, not a store: ``reproduce`` keeps one), then its report.
"""

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

    if not args.gamma > 0:
        raise UsageError(f"--gamma={args.gamma:g} is out of range; allowed: > 0")
    for eps in args.epsilon or ():
        if not 0 < eps < 0.57354:
            raise UsageError(
                f"--epsilon={eps:g} is out of range; allowed: 0 < epsilon < 0.57354 "
                "(‖y‖²/n of the reference data, where round 0 already collapses)")


def run(args):
    from hilbert_sd.cli import output_dir

    _check(args)
    out = output_dir(args.out)
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.experiments.self_distillation import DEFAULT_EPSILONS, report, run_reference

    started = time.perf_counter()
    epsilons = args.epsilon or DEFAULT_EPSILONS
    print(f"[demo] reference example: 11 points, RBF gamma={args.gamma:g}, "
          f"epsilon in {list(epsilons)}", file=sys.stderr)
    produced = report(run_reference(epsilons, gamma=args.gamma), out)
    if not args.quiet:
        print(produced["summary"])
        print()
    for path in produced["files"]:
        print(f"wrote {path}")
    print(f"[demo] done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
