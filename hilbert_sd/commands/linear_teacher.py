"""``hilbert-sd linear-teacher``: distil a linear teacher, transfer risk against n across d.

The ``linear_geometry`` simulations (one per geometry and n) of the options, run through the
one runner into a temporary store, then their report.
"""


NAME = "linear-teacher"
HELP = ("linear-teacher distillation: angle and transfer risk vs n across d for several data "
        "geometries, with the bound and the hard-label baseline")

_GEOMETRIES = ("isotropic", "polar-kappa", "polar-margin")


def _int_list(text):
    import argparse

    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers >= 1, "
                                         "e.g. 5,25,50,100") from None
    if not values:
        raise argparse.ArgumentTypeError("empty; allowed: comma-separated integers >= 1")
    bad = [v for v in values if v < 1]
    if bad:
        raise argparse.ArgumentTypeError(f"{bad[0]} is out of range; allowed: integers >= 1")
    return values


def add_arguments(parser):
    from hilbert_sd.cli import integer, number

    parser.add_argument("--d", type=integer(3), default=50,
                        help="dimension of the inputs (>= 3; default: %(default)s)")
    parser.add_argument("--n", type=_int_list, default=None, metavar="N1,N2,...",
                        help="training-set sizes (default: d/50 ... 4d, d included)")
    parser.add_argument("--draws", type=integer(1), default=200,
                        help="training sets per (geometry, n) (default: %(default)s)")
    parser.add_argument("--geometries", default=",".join(_GEOMETRIES), metavar="G1,G2",
                        help="comma-separated subset of " + ", ".join(_GEOMETRIES)
                             + " (default: all)")
    parser.add_argument("--kappa", type=number(0, low_open=True), default=2.0,
                        help="kappa > 0 of the polar-kappa law p(θ) = (2θ/π)^κ "
                             "(default: %(default)s)")
    parser.add_argument("--margin", type=number(0, 1.5707963267948966), default=0.2,
                        help="margin in radians of the polar-margin law (default: %(default)s)")
    parser.add_argument("--risk", choices=("exact", "monte_carlo"), default="exact",
                        help="per-student risk by formula or on fresh test inputs "
                             "(default: %(default)s)")
    parser.add_argument("--n-test", type=integer(1), default=2000,
                        help="test inputs per draw for --risk monte_carlo (default: %(default)s)")
    parser.add_argument("--flow-draws", type=integer(0), default=0,
                        help="also integrate the gradient flow for this many draws per "
                             "(geometry, n) and report its largest deviation from the closed "
                             "form (default: %(default)s)")
    parser.add_argument("--seed", type=integer(0), default=0,
                        help="random seed (default: %(default)s)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write linear_teacher.csv, linear_teacher.json and "
                             "linear_teacher.png into DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args):
    from hilbert_sd.cli import UsageError, output_dir

    geometries = [g.strip() for g in args.geometries.split(",") if g.strip()]
    for g in geometries:
        if g not in _GEOMETRIES:
            raise UsageError(f"--geometries: unknown geometry {g!r}; allowed: "
                             + ", ".join(_GEOMETRIES))
    if not geometries:
        raise UsageError("--geometries is empty")
    out = output_dir(args.out)

    from hilbert_sd.experiments.linear_teacher import linear_teacher_experiment

    result = linear_teacher_experiment(
        d=args.d, n_values=args.n, n_draws=args.draws, geometries=geometries,
        kappa=args.kappa, margin=args.margin, risk=args.risk, n_test=args.n_test,
        flow_draws=args.flow_draws, random_state=args.seed, progress=not args.quiet)
    print(result.summary())
    if out is not None:
        for path in result.save(out):
            print(path)
    return 0
