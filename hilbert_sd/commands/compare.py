"""``hilbert-sd compare``: the regularizer family, every method tuned alike, on random splits."""

import math
import sys
import time

NAME = "compare"
HELP = ("kernel ridge, self-distillation (budget, fixed ridge, oracle mixing), boosting, "
        "gradient flow and kernel PCR, each tuned by k-fold CV on the training part of "
        "repeated random splits; table, CSV/JSON and a figure")

_DATASETS = ("reference", "diabetes", "digits", "csv")
#: --max-samples when not given: digits kept <= 1000 (the default run takes well under 3 min
#: on 2 cores), the reference model's number of generated points, the others whole
_DEFAULT_MAX = {"digits": 1000, "reference": 200}


def add_arguments(parser):
    parser.add_argument("--dataset", default="reference", choices=_DATASETS,
                        help="reference: synthetic sin(2 pi x) + noise (the true function "
                             "is known, so the mixed-SD oracle runs); diabetes, digits: "
                             "scikit-learn's bundled data (no download); csv: --data FILE "
                             "(default: %(default)s)")
    parser.add_argument("--data", metavar="FILE.csv", default=None,
                        help="CSV file with a header row (--dataset csv); regression on the "
                             "last column unless --target names another")
    parser.add_argument("--target", metavar="NAME", default=None,
                        help="CSV column of the target (--dataset csv)")
    parser.add_argument("--label-noise", type=float, default=None, metavar="RATE",
                        help="symmetric label noise on the training labels of every split, "
                             "in [0, 1] (--dataset digits; default 0.4)")
    parser.add_argument("--splits", type=int, default=20,
                        help="random train/test splits (default: %(default)s)")
    parser.add_argument("--test-size", type=float, default=0.3,
                        help="test fraction of every split, in (0, 1) (default: %(default)s)")
    parser.add_argument("--cv", type=int, default=5,
                        help="folds of the cross-validation on each training part "
                             "(default: %(default)s)")
    parser.add_argument("--gamma", type=float, default=None,
                        help="RBF kernel parameter, > 0 (default: 80 for reference, 1/p "
                             "otherwise, on standardized inputs for diabetes and csv)")
    parser.add_argument("--max-samples", type=int, default=None, metavar="N",
                        help="keep at most N samples, drawn at random (default: 1000 for "
                             "digits, all otherwise; for reference the number generated, "
                             "default 200)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the splits, the subsample and the label noise "
                             "(default: %(default)s)")
    parser.add_argument("--out", default="compare_out", metavar="DIR",
                        help="directory for the table (CSV, JSON) and the figure (PNG); "
                             "default: %(default)s")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _check(args):
    """Every argument, and the data, before any side effect; returns the loaded data."""
    from hilbert_sd.cli import UsageError, output_dir

    if args.dataset == "csv" and args.data is None:
        raise UsageError("--dataset csv needs --data FILE.csv")
    if args.dataset != "csv":
        for flag, value in (("--data", args.data), ("--target", args.target)):
            if value is not None:
                raise UsageError(f"{flag} applies to --dataset csv only; got --dataset "
                                 f"{args.dataset}")
    if args.label_noise is not None:
        if args.dataset != "digits":
            raise UsageError(f"--label-noise applies to --dataset digits only (class labels); "
                             f"got --dataset {args.dataset}")
        if not 0.0 <= args.label_noise <= 1.0:
            raise UsageError(f"--label-noise={args.label_noise:g} is out of range; allowed: "
                             "0 <= rate <= 1")
    if args.splits < 1:
        raise UsageError(f"--splits={args.splits} is out of range; allowed: >= 1")
    if not 0.0 < args.test_size < 1.0:
        raise UsageError(f"--test-size={args.test_size:g} is out of range; allowed: "
                         "0 < fraction < 1")
    if args.cv < 2:
        raise UsageError(f"--cv={args.cv} is out of range; allowed: >= 2")
    if args.gamma is not None and not (args.gamma > 0 and math.isfinite(args.gamma)):
        raise UsageError(f"--gamma={args.gamma:g} is out of range; allowed: > 0")
    if args.max_samples is not None and args.max_samples < 2:
        raise UsageError(f"--max-samples={args.max_samples} is out of range; allowed: >= 2")
    if args.seed < 0:
        raise UsageError(f"--seed={args.seed} is out of range; allowed: >= 0")
    output_dir(args.out)
    from hilbert_sd.experiments.family import load_comparison_data

    max_samples = args.max_samples or _DEFAULT_MAX.get(args.dataset)
    try:
        data = load_comparison_data(args.dataset, path=args.data, target=args.target,
                                    max_samples=max_samples, random_state=args.seed)
    except (ValueError, OSError) as exc:
        flag = "--data" if args.dataset == "csv" else "--dataset"
        raise UsageError(f"{flag}: {' '.join(str(exc).split())}") from None
    n = len(data["y"])
    n_train = n - math.ceil(args.test_size * n)
    if n_train < 2 * args.cv:
        raise UsageError(f"--max-samples / the data give n={n}, --test-size={args.test_size:g} "
                         f"leaves {n_train} training samples; allowed: at least 2 x --cv = "
                         f"{2 * args.cv}")
    return data


def run(args):
    data = _check(args)
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.cli import output_dir
    from hilbert_sd.experiments.family import compare_family

    out = output_dir(args.out)
    started = time.perf_counter()

    def progress(line):
        if not args.quiet:
            print(f"[compare] {line}", file=sys.stderr, flush=True)

    gamma = args.gamma if args.gamma is not None else data["gamma"]
    noise = 0.4 if args.label_noise is None else args.label_noise
    progress(f"{data['description']}; {args.splits} splits, {args.cv}-fold CV")
    result = compare_family(
        data["X"], data["y"], gamma=gamma, n_splits=args.splits, test_size=args.test_size,
        cv=args.cv, classification=data["classification"],
        label_noise=noise if data["classification"] else 0.0,
        standardize=data["standardize"], f_star=data["f_star"], noise_var=data["noise_var"],
        random_state=args.seed, description=data["description"], progress=progress)
    print(result.summary())
    for path in result.save(out):
        print(f"wrote {path}")
    progress(f"done in {time.perf_counter() - started:.1f} s")
    return 0
