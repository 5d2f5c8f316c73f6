"""``hilbert-sd compare``: the regularizer family, every method tuned alike, on random splits.

The family-comparison experiment (``hilbert-sd reproduce family-comparison``, method
``family_comparison``: one simulation per split) with the data and parameters of the options,
run through the one runner into a temporary store, then its report.
"""

import math

NAME = "compare"
HELP = ("kernel ridge, self-distillation (budget, fixed ridge, oracle mixing), boosting, "
        "gradient flow and kernel PCR, each tuned by k-fold CV on the training part of "
        "repeated random splits; table, CSV/JSON and a figure")


def add_arguments(parser):
    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.schema import Param
    from hilbert_sd.experiments.registry import parameter

    def method(key):
        return parameter("method", "family_comparison", key)

    parser.add_argument("--dataset", default="reference",
                        choices=("reference", "diabetes", "digits", "csv"),
                        help="reference: synthetic sin(2 pi x) + noise (the true function "
                             "is known, so the mixed-SD oracle runs); diabetes, digits: "
                             "scikit-learn's bundled data (no download); csv: --data FILE "
                             "(default: %(default)s)")
    parser.add_argument("--data", metavar="FILE.csv", default=None,
                        help="CSV file with a header row (--dataset csv); regression on the "
                             "last column unless --target names another")
    parser.add_argument("--target", metavar="NAME", default=None,
                        help="CSV column of the target (--dataset csv)")
    param_option(parser, "--label-noise", method("noise_rate"), default=None, metavar="RATE",
                 doc="symmetric label noise on the training labels of every split",
                 more="(--dataset digits; default 0.4)")
    param_option(parser, "--splits", Param("int", default=20, low=1,
                                           doc="random train/test splits"))
    param_option(parser, "--test-size", method("test_size"))
    param_option(parser, "--cv", method("cv"))
    param_option(parser, "--gamma", parameter("kernel", "rbf", "gamma"),
                 doc="RBF kernel parameter",
                 more="(default: 80 for reference, 1/p otherwise, on standardized inputs for "
                      "diabetes and csv)")
    param_option(parser, "--max-samples", method("max_samples"), metavar="N",
                 doc="keep at most N samples, drawn at random",
                 more="(default: 1000 for digits, all otherwise; at most 1797 digits; for "
                      "reference the number generated, default 200)")
    param_option(parser, "--seed", method("split_seed"),
                 doc="seed of the data, the splits, the subsample and the digits' label "
                     "noise (the reference data's noise is drawn by the split's index)")
    parser.add_argument("--out", default="compare_out", metavar="DIR",
                        help="directory for the table (CSV, JSON) and the figure (PNG); "
                             "default: %(default)s")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _n_samples(args):
    """The number of samples the comparison splits; a CSV file is read (and refused with a
    one-line message when it cannot be)."""
    from hilbert_sd.cli import UsageError
    from hilbert_sd.experiments.registry import parameter

    if args.dataset == "csv":
        from hilbert_sd.experiments.data import load_file

        try:
            if not args.data.lower().endswith(".csv"):
                raise ValueError(f"{args.data}: expected a .csv file")
            n = len(load_file(args.data, target=args.target)[1])
        except (ValueError, OSError) as exc:
            raise UsageError(f"--data: {' '.join(str(exc).split())}") from None
        if n < 4:
            raise UsageError(f"--data: {args.data}: {n} data rows; allowed: at least 4")
    elif args.dataset == "reference":
        return args.max_samples or 200
    else:
        n = parameter("data", args.dataset, "n_samples").high
    return min(n, args.max_samples or {"digits": 1000}.get(args.dataset, n))


def _check(args):
    """The combinations of arguments, and the data, before any side effect; returns the
    config."""
    from hilbert_sd.cli import UsageError, output_dir
    from hilbert_sd.experiments.config import parse_config
    from hilbert_sd.experiments.family import comparison_config

    if args.dataset == "csv" and args.data is None:
        raise UsageError("--dataset csv needs --data FILE.csv")
    if args.dataset != "csv":
        for flag, value in (("--data", args.data), ("--target", args.target)):
            if value is not None:
                raise UsageError(f"{flag} applies to --dataset csv only; got --dataset "
                                 f"{args.dataset}")
    if args.label_noise is not None and args.dataset != "digits":
        raise UsageError(f"--label-noise applies to --dataset digits only (class labels); "
                         f"got --dataset {args.dataset}")
    output_dir(args.out)
    n = _n_samples(args)
    n_train = n - math.ceil(args.test_size * n)
    if n_train < 2 * args.cv:
        raise UsageError(f"--max-samples / the data give n={n}, --test-size={args.test_size:g} "
                         f"leaves {n_train} training samples; allowed: at least 2 x --cv = "
                         f"{2 * args.cv}")
    raw = comparison_config(args.dataset, path=args.data, target=args.target,
                            max_samples=args.max_samples, n_splits=args.splits,
                            test_size=args.test_size, cv=args.cv, gamma=args.gamma,
                            label_noise=args.label_noise, seed=args.seed)
    parse_config(raw, default_name="family-comparison")  # every value, before any work
    return raw


def run(args):
    raw = _check(args)
    from hilbert_sd.cli import output_dir
    from hilbert_sd.experiments.family import result_from_rows
    from hilbert_sd.experiments.reports import run_rows

    out = output_dir(args.out)
    result = result_from_rows(run_rows(raw, name="family-comparison",
                                       progress=not args.quiet))
    print(result.summary())
    for path in result.save(out):
        print(f"wrote {path}")
    return 0
