"""``hilbert-sd noisy-labels``: self-distillation vs early stopping with noisy labels (NTK).

The noisy-labels experiment (``hilbert-sd reproduce noisy-labels``) with the parameters of the
options, run through the one runner into a temporary store, then its report.
"""

NAME = "noisy-labels"
HELP = ("noisy labels in the NTK regime: gradient descent, oracle early stopping, "
        "self-distillation rules and KRR; table, CSV/JSON and figures")


def add_arguments(parser):
    parser.add_argument("--n", type=int, default=2000,
                        help="training samples (default: %(default)s)")
    parser.add_argument("--n-test", type=int, default=1000,
                        help="test samples, clean labels (default: %(default)s)")
    parser.add_argument("--noise", type=float, nargs="+", metavar="RATE",
                        default=[0.2, 0.4, 0.6, 0.8],
                        help="label-noise rates in [0, 1] (default: 0.2 0.4 0.6 0.8)")
    parser.add_argument("--noise-model", default="symmetric",
                        choices=("symmetric", "symmetric_other", "symmetric-other", "pair"),
                        help="symmetric over all classes, over the other classes, or pair flip "
                             "(default: %(default)s)")
    parser.add_argument("--seeds", "--seed", type=int, nargs="+", default=[0], metavar="SEED",
                        help="one data set and noise draw per seed (default: 0)")
    parser.add_argument("--kernel", default="arccos", choices=("arccos", "ntk"),
                        help="NTK of a two-layer ReLU network on the sphere, or of a deep "
                             "fully-connected ReLU network (default: %(default)s)")
    parser.add_argument("--depth", type=int, default=1,
                        help="hidden layers of the 'ntk' kernel (default: %(default)s)")
    parser.add_argument("--dataset", default="clustered", choices=("clustered", "digits"),
                        help="generated Gaussian clusters or scikit-learn's bundled digits "
                             "(default: %(default)s)")
    parser.add_argument("--t-end", type=int, default=100_000,
                        help="last gradient step (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="step eta (default: 1/lambda_max)")
    parser.add_argument("--ema-a", type=float, default=0.1,
                        help="weight of the 'ema' rules; their limit is KRR with ridge a/eta "
                             "(default: %(default)s)")
    parser.add_argument("--anchored-a", type=float, default=0.5,
                        help="constant weight of the soft anchored rule (default: %(default)s)")
    parser.add_argument("--hard-a", type=float, default=0.7,
                        help="constant weight of the hard anchored rule (default: %(default)s)")
    parser.add_argument("--refresh-per-decade", type=int, default=20,
                        help="refreshes of the hard labels / accuracy weight per decade of "
                             "steps (default: %(default)s)")
    parser.add_argument("--out", default="noisy_labels_out", metavar="DIR",
                        help="directory for figures (PNG) and results (CSV, JSON); "
                             "default: %(default)s")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _check(args):
    from hilbert_sd.cli import UsageError

    if args.n < 2:
        raise UsageError(f"--n={args.n} is out of range; allowed: >= 2")
    if args.n_test < 1:
        raise UsageError(f"--n-test={args.n_test} is out of range; allowed: >= 1")
    for r in args.noise:
        if not 0.0 <= r <= 1.0:
            raise UsageError(f"--noise={r:g} is out of range; allowed: 0 <= rate <= 1")
    for name in ("ema_a", "anchored_a", "hard_a"):
        v = getattr(args, name)
        if not 0.0 <= v <= 1.0:
            raise UsageError(f"--{name.replace('_', '-')}={v:g} is out of range; allowed: [0, 1]")
    if args.t_end < 1:
        raise UsageError(f"--t-end={args.t_end} is out of range; allowed: >= 1")
    if args.refresh_per_decade < 1:
        raise UsageError(f"--refresh-per-decade={args.refresh_per_decade} is out of range; "
                         "allowed: >= 1")
    if args.depth < 1:
        raise UsageError(f"--depth={args.depth} is out of range; allowed: >= 1")
    if args.learning_rate is not None and not args.learning_rate > 0:
        raise UsageError(f"--learning-rate={args.learning_rate:g} is out of range; allowed: > 0")
    if any(s < 0 for s in args.seeds):
        raise UsageError("--seeds must be integers >= 0")
    if args.dataset == "digits" and args.n + args.n_test > 1797:
        raise UsageError(f"--n + --n-test = {args.n + args.n_test} exceeds the 1797 digits")


def run(args):
    _check(args)
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.cli import output_dir
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    out = output_dir(args.out)
    result = run_noisy_labels(
        args.n, n_test=args.n_test, noise_rates=args.noise,
        noise_model=args.noise_model.replace("-", "_"), seeds=args.seeds, kernel=args.kernel,
        kernel_params={"depth": args.depth} if args.kernel == "ntk" else None,
        dataset=args.dataset, t_end=args.t_end, learning_rate=args.learning_rate,
        ema_a=args.ema_a, anchored_a=args.anchored_a, hard_a=args.hard_a,
        refresh_per_decade=args.refresh_per_decade, progress=not args.quiet)
    print(result.summary())
    for path in result.save(out):
        print(path)
    return 0
