"""``hilbert-sd soft-labels``: hard, soft and weighted soft labels from a kernel teacher.

The soft-labels experiment (``hilbert-sd reproduce soft-labels``) with the parameters of the
options, run through the one runner into a temporary store, then its report.
"""


NAME = "soft-labels"
HELP = ("soft labels: a kernel teacher distilled into kernel students with hard labels, plain "
        "and weighted soft labels at several temperatures; accuracy, Heskes bias/variance and "
        "regularization samples")


def _float_list(text):
    import argparse
    import math

    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated numbers > 0, "
                                         "e.g. 1,2,4,8") from None
    if not values:
        raise argparse.ArgumentTypeError("empty; allowed: comma-separated finite numbers > 0")
    bad = [v for v in values if not (v > 0 and math.isfinite(v))]
    if bad:
        raise argparse.ArgumentTypeError(f"contains {bad[0]:g}; allowed: finite numbers > 0")
    return values


def add_arguments(parser):
    from hilbert_sd.cli import integer, number

    parser.add_argument("--n", type=integer(2), default=2000,
                        help="training samples of the teacher (the pool; default: %(default)s)")
    parser.add_argument("--n-test", type=integer(1), default=1000,
                        help="clean test samples (default: %(default)s)")
    parser.add_argument("--temperatures", type=_float_list, default=[1.0, 2.0, 4.0, 8.0],
                        metavar="T1,T2,...", help="distillation temperatures (default: 1,2,4,8)")
    parser.add_argument("--members", type=integer(2), default=8,
                        help="students per configuration: the ensemble of the bias-variance "
                             "decomposition (default: %(default)s)")
    parser.add_argument("--resample", choices=("fresh", "bootstrap"), default="fresh",
                        help="students' training sets: disjoint fresh parts of the pool or "
                             "bootstrap resamples (default: %(default)s)")
    parser.add_argument("--student-size", type=integer(2), default=None,
                        help="training samples per student (default: n // members)")
    parser.add_argument("--a", type=number(0, low_open=True), default=1.0,
                        help="weight of the soft-label term (default: %(default)s)")
    parser.add_argument("--teacher-steps", type=integer(1), default=300,
                        help="gradient-descent steps of the teacher (default: %(default)s)")
    parser.add_argument("--student-steps", type=integer(1), default=300,
                        help="gradient-descent steps of every student (default: %(default)s)")
    parser.add_argument("--no-krr", action="store_true",
                        help="skip the squared-loss weighted-KRR students")
    parser.add_argument("--seed", type=integer(0), default=0,
                        help="random seed (default: %(default)s)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write soft_labels.csv, soft_labels.json and soft_labels.png "
                             "into DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args):
    from hilbert_sd.cli import UsageError, output_dir

    if args.student_size is None and args.n // args.members < 2:
        raise UsageError(f"--n {args.n} gives students of n // members = "
                         f"{args.n // args.members} sample(s) with --members {args.members}; "
                         f"allowed: --n >= 2 * members = {2 * args.members}")
    if args.student_size is not None and args.resample == "fresh" \
            and args.student_size * args.members > args.n:
        # fresh subsets are disjoint parts of the pool of --n samples
        raise UsageError(f"--student-size={args.student_size} is out of range for --n "
                         f"{args.n} and --members {args.members} with --resample fresh; "
                         f"allowed: 2 <= size <= n // members = {args.n // args.members}")
    out = output_dir(args.out)

    from hilbert_sd.experiments.soft_labels import run_soft_labels

    result = run_soft_labels(
        args.n, n_test=args.n_test, temperatures=args.temperatures, n_members=args.members,
        resample=args.resample, student_size=args.student_size, a=args.a,
        teacher_steps=args.teacher_steps, student_steps=args.student_steps,
        krr=not args.no_krr, seed=args.seed, progress=not args.quiet)
    print(result.summary())
    if out is not None:
        import matplotlib

        matplotlib.use("Agg")
        for path in result.save(out):
            print(path)
    return 0
