"""``hilbert-sd noisy-labels``: self-distillation vs early stopping with noisy labels (NTK).

The noisy-labels experiment (``hilbert-sd reproduce noisy-labels``) with the parameters of the
options, run through the one runner into a temporary store, then its report.
"""

NAME = "noisy-labels"
HELP = ("noisy labels in the NTK regime: gradient descent, oracle early stopping, "
        "self-distillation rules and KRR; table, CSV/JSON and figures")


#: Number of scikit-learn's bundled digits, and the default split of them.
N_DIGITS = 1797
DEFAULT_SIZES = {"clustered": (2000, 1000), "digits": (1200, N_DIGITS - 1200)}


def add_arguments(parser):
    from dataclasses import replace

    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.registry import parameter

    def method(key):
        return parameter("method", "noisy_labels", key)

    clustered = parameter("data", "clustered", "n_samples")
    param_option(parser, "--n", clustered, default=None, doc="training samples",
                 more="(default: 2000 for clustered, 1200 for digits)")
    # the study is scored on test points: at least one
    param_option(parser, "--n-test", replace(parameter("data", "clustered", "n_test"), low=1),
                 default=None, doc="test samples, clean labels",
                 more=f"(default: 1000 for clustered; for digits the rest of the {N_DIGITS} "
                      "digits, 597 with the default --n)")
    param_option(parser, "--noise", method("noise_rate"), nargs="+", metavar="RATE",
                 default=[0.2, 0.4, 0.6, 0.8])
    param_option(parser, "--noise-model", method("noise_model"),
                 aliases={"symmetric-other": "symmetric_other"})
    param_option(parser, ("--seeds", "--seed"), parameter("data", "clustered", "seed"),
                 nargs="+", default=[0], metavar="SEED",
                 doc="one data set and noise draw per seed")
    parser.add_argument("--kernel", default="arccos", choices=("arccos", "ntk"),
                        help="NTK of a two-layer ReLU network on the sphere, or of a deep "
                             "fully-connected ReLU network (default: %(default)s)")
    param_option(parser, "--depth", parameter("kernel", "ntk", "depth"),
                 more="of the 'ntk' kernel")
    parser.add_argument("--dataset", default="clustered", choices=("clustered", "digits"),
                        help="generated Gaussian clusters or scikit-learn's bundled digits "
                             "(default: %(default)s)")
    param_option(parser, "--t-end", method("t_end"))
    param_option(parser, "--learning-rate", method("learning_rate"),
                 more="(below the stability limit of every rule, checked before the run: "
                      "2/lambda_max for gradient descent, less for the 'ema' rules)")
    param_option(parser, "--ema-a", method("ema_a"),
                 more="(their limit is KRR with ridge a/eta)")
    param_option(parser, "--anchored-a", method("anchored_a"))
    param_option(parser, "--hard-a", method("hard_a"),
                 more="from step ceil(1/(eta lambda_C)) on (C classes; gradient descent "
                      "before, so that early predictions are not locked in). Above 1/2 the "
                      "rule's own predictions outvote the noisy labels; at or below 1/2 it "
                      "ends where gradient descent does")
    param_option(parser, "--refresh-per-decade", method("refresh_per_decade"))
    parser.add_argument("--out", default="noisy_labels_out", metavar="DIR",
                        help="directory for figures (PNG) and results (CSV, JSON); "
                             "default: %(default)s")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def _sizes(args):
    """``(n, n_test)``: the options, or the defaults of the data set; the digits are finite."""
    from hilbert_sd.cli import UsageError

    n_default, test_default = DEFAULT_SIZES[args.dataset]
    n, n_test = args.n, args.n_test
    if args.dataset == "digits":
        if n is None:
            n = n_default if n_test is None else N_DIGITS - n_test
        if n_test is None:
            n_test = N_DIGITS - n
        if n < 2 or n_test < 1 or n + n_test > N_DIGITS:
            raise UsageError(f"--n {n} and --n-test {n_test}: the digits have {N_DIGITS} "
                             f"samples; allowed: --n >= 2, --n-test >= 1, --n + --n-test <= "
                             f"{N_DIGITS} (default {n_default} + {test_default})")
        return n, n_test
    return (n_default if n is None else n), (test_default if n_test is None else n_test)


def _raw(args, n, n_test):
    from hilbert_sd.experiments.noisy_labels import noisy_labels_config

    return noisy_labels_config(
        n, n_test=n_test, noise_rates=args.noise,
        noise_model=args.noise_model, seeds=args.seeds, kernel=args.kernel,
        kernel_params={"depth": args.depth} if args.kernel == "ntk" else None,
        dataset=args.dataset, t_end=args.t_end, learning_rate=args.learning_rate,
        ema_a=args.ema_a, anchored_a=args.anchored_a, hard_a=args.hard_a,
        refresh_per_decade=args.refresh_per_decade)


def check_learning_rate(config, learning_rate, ema_a):
    """Refuse a step at or above the stability limit of a rule the study runs, per data set.

    The limit depends on λ_max of each seed's Gram matrix: it is computed here (the largest
    eigenvalue only), before the run, so that a divergent run neither starts nor writes.

    Raises
    ------
    UsageError
        Naming ``--learning-rate`` and the stable range.
    """
    import numpy as np
    from scipy.sparse.linalg import eigsh

    from hilbert_sd.cli import UsageError
    from hilbert_sd.experiments.runner import load_dataset
    from hilbert_sd.kernels import gram
    from hilbert_sd.noisy_labels import stability_limit

    seen = set()
    for sim in config.simulations():
        data, kernel = sim.config["data"], sim.config["kernel"]
        seed = data["seed"]
        if seed in seen:
            continue
        seen.add(seed)
        X = load_dataset(data, ".").X
        K = gram(X, kernel=kernel["name"],
                 **{k: v for k, v in kernel.items() if k != "name" and v is not None})
        lmax = float(np.linalg.eigvalsh(K)[-1] if K.shape[0] <= 64 else
                     eigsh(K, k=1, which="LA", return_eigenvectors=False)[0])
        limit = min(stability_limit(lmax, rule="gd"),
                    stability_limit(lmax, rule="ema", a=ema_a, ema_form="sequential"),
                    stability_limit(lmax, rule="ema", a=ema_a, ema_form="simultaneous"))
        if not learning_rate < limit:
            raise UsageError(
                f"--learning-rate={learning_rate:g} is out of range: the rules diverge or "
                f"oscillate at steps >= {limit:.6g} on this data and kernel (seed {seed}: "
                f"lambda_max = {lmax:.6g}, hilbert_sd.noisy_labels.stability_limit with "
                f"--ema-a {ema_a:g}); allowed: 0 < learning rate < {limit:.6g}")


def run(args):
    from hilbert_sd.cli import output_dir
    from hilbert_sd.experiments.config import parse_config

    n, n_test = _sizes(args)
    out = output_dir(args.out)
    raw = _raw(args, n, n_test)
    config = parse_config(raw, default_name="noisy-labels")  # every value, before any work
    if args.learning_rate is not None:
        check_learning_rate(config, args.learning_rate, args.ema_a)
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.experiments.noisy_labels import result_from_rows
    from hilbert_sd.experiments.reports import run_rows

    result = result_from_rows(run_rows(raw, name="noisy-labels", progress=not args.quiet))
    print(result.summary())
    for path in result.save(out):
        print(path)
    return 0
