"""``hilbert-sd soft-labels``: hard, soft and weighted soft labels from a kernel teacher.

The soft-labels experiment (``hilbert-sd reproduce soft-labels``) with the parameters of the
options, run through the one runner into a temporary store, then its report.
"""


NAME = "soft-labels"
HELP = ("soft labels: a kernel teacher distilled into kernel students with hard labels, plain "
        "and weighted soft labels at several temperatures; accuracy, Heskes bias/variance and "
        "regularization samples")


def add_arguments(parser):
    from dataclasses import replace

    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.registry import parameter

    def method(key):
        return parameter("method", "soft_labels", key)

    param_option(parser, "--n", parameter("data", "clustered", "n_samples"), default=2000,
                 doc="training samples of the teacher (the pool)")
    # the study is scored on test points: at least one
    param_option(parser, "--n-test", replace(parameter("data", "clustered", "n_test"), low=1),
                 default=1000, doc="clean test samples")
    param_option(parser, "--temperatures", method("temperatures"), metavar="T1,T2,...")
    param_option(parser, "--members", method("n_members"),
                 more="(the ensemble of the bias-variance decomposition)")
    param_option(parser, "--resample", method("resample"))
    param_option(parser, "--student-size", method("student_size"))
    param_option(parser, "--a", method("a"))
    param_option(parser, "--teacher-steps", method("teacher_steps"))
    param_option(parser, "--student-steps", method("student_steps"))
    parser.add_argument("--no-krr", action="store_true",
                        help="skip the squared-loss weighted-KRR students")
    param_option(parser, "--seed", parameter("data", "clustered", "seed"),
                 doc="seed of the data and of the students' resampling")
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
