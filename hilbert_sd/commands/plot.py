"""``hilbert-sd plot DB --x PARAM --y METRIC``: a metric of a results store against a
parameter, one line per group, standard-error bars over seeds, written as a PNG."""

NAME = "plot"
HELP = "draw a metric of a results store against a parameter (mean ± s.e. over seeds)"

FORMATS = (".png", ".pdf", ".svg")


def add_arguments(parser):
    """Declare the options of ``hilbert-sd plot``."""
    parser.add_argument("db", metavar="DB", help="SQLite results store")
    parser.add_argument("--x", required=True, metavar="PARAM",
                        help="the parameter on the x axis (e.g. method.epsilon), or 'round' "
                             "with a per-round --y")
    parser.add_argument("--y", required=True, metavar="METRIC",
                        help="the result on the y axis: best_test_mse, test_mse[3], or a "
                             "series name (test_mse) with --x round")
    parser.add_argument("--group-by", nargs="+", action="extend", default=[],
                        metavar="PARAM", help="one line per value of these parameters")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                        help="only rows with this value (also !=, <, <=, >, >=; "
                             "a=v1,v2 for either; repeatable: all must hold)")
    parser.add_argument("--experiment", metavar="NAME", help="only rows of this experiment")
    parser.add_argument("--out", dest="figure", metavar="FILE",
                        help="the figure to write (.png, .pdf or .svg; default: "
                             "Y_vs_X.png in the working directory)")
    parser.add_argument("--logx", action="store_true", help="logarithmic x axis")
    parser.add_argument("--logy", action="store_true", help="logarithmic y axis")


def default_name(x, y):
    """``Y_vs_X.png`` with every character but letters, digits, '.', '-' and '_' as '_'."""
    import re

    def clean(s):
        return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_.") or "plot"

    return f"{clean(y)}_vs_{clean(x)}.png"


def check_output(path, flag):
    """Refuse an output file that cannot be written, before anything is read or created."""
    from pathlib import Path

    from hilbert_sd.cli import UsageError

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"{flag} {path}: directory {parent} does not exist")
    return path


def run(args):
    """Validate every flag, read the store, draw and write the figure; return 0."""
    from pathlib import Path

    from hilbert_sd.cli import UsageError, atomic_output
    from hilbert_sd.commands.results import read_rows
    from hilbert_sd.experiments.aggregate import filter_rows, metric_series, parse_where
    from hilbert_sd.experiments.figures import plot_metric

    out = args.figure if args.figure is not None else default_name(args.x, args.y)
    suffix = Path(out).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--out {out}: unknown format {suffix or '(no suffix)'!r}; allowed: "
                         f"{', '.join(FORMATS)}")
    out = check_output(out, "--out")
    where = parse_where(args.where, what="--where")
    rows, _ = read_rows(args.db, experiment=args.experiment, status="done")
    if not rows:
        raise UsageError(f"{args.db}: no finished simulations to plot"
                         + (f" in experiment {args.experiment!r}" if args.experiment else ""))
    rows = filter_rows(rows, where, what="--where")
    if not rows:
        raise UsageError(f"--where {' '.join(args.where)}: no row matches")
    series = metric_series(rows, args.x, args.y, args.group_by)
    fig = plot_metric(rows, args.x, args.y, group_by=args.group_by, logx=args.logx,
                      logy=args.logy, series=series)
    try:
        with atomic_output(out) as tmp:  # a failed write leaves the previous file
            fig.savefig(tmp, format=suffix.lstrip("."), dpi=120)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {out}: {exc.strerror or exc}; it is left as "
                                 "it was") from None
    print(out)
    return 0
