"""``hilbert-sd linear-teacher``: distil a linear teacher, transfer risk against n across d.

The ``linear_teacher`` simulations (one per geometry and n) of the options, run through the
one runner into a temporary store, then their report: the study and the report of
``hilbert-sd reproduce linear-teacher``, with the parameters of the options.
"""


NAME = "linear-teacher"
HELP = ("linear-teacher distillation: angle and transfer risk vs n across d for several data "
        "geometries, with the bound and the hard-label baseline")


def add_arguments(parser):
    from dataclasses import replace

    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.registry import LINEAR_TEACHER_MIN_FEATURES, parameter

    def method(key):
        return parameter("method", "linear_teacher", key)

    param_option(parser, "--d", replace(parameter("data", "gaussian", "n_features"),
                                        low=LINEAR_TEACHER_MIN_FEATURES),
                 default=50, doc="dimension d of the inputs")
    param_option(parser, "--n", parameter("data", "gaussian", "n_samples"), many=True,
                 default=None, metavar="N1,N2,...", doc="training-set sizes, comma-separated",
                 more="(default: d/50 ... 4d, d included)")
    param_option(parser, "--draws", method("draws"), more="per (geometry, n)")
    param_option(parser, "--geometries", method("geometry"), many=True,
                 default=list(method("geometry").choices), metavar="G1,G2,...",
                 doc="laws of the inputs, comma-separated: N(0, I_d) or a polar law")
    param_option(parser, "--kappa", method("kappa"))
    param_option(parser, "--margin", method("margin"))
    param_option(parser, "--risk", method("risk"))
    param_option(parser, "--n-test", method("n_test"))
    param_option(parser, "--flow-draws", method("flow_draws"),
                 more="per (geometry, n): the largest |w_flow - w_closed_form| is reported")
    param_option(parser, "--depth", method("depth"))
    param_option(parser, "--temperature", method("temperature"))
    param_option(parser, "--init-scale", method("init_scale"),
                 more="(> 0 for --depth >= 2)")
    param_option(parser, "--solver", method("solver"))
    param_option(parser, "--seed", parameter("data", "gaussian", "seed"),
                 doc="seed of the teacher and of the training sets")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="write linear_teacher.csv, linear_teacher.json and "
                             "linear_teacher.png into DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args):
    from hilbert_sd.cli import UsageError, output_dir
    from hilbert_sd.experiments.linear_teacher import check

    for key, message in check({"depth": args.depth, "init_scale": args.init_scale}):
        flag = "--" + key.replace("_", "-")
        raise UsageError(f"{flag}={getattr(args, key):g} with --depth {args.depth}: {message}")
    out = output_dir(args.out)

    from hilbert_sd.experiments.linear_teacher import linear_teacher_experiment

    result = linear_teacher_experiment(
        d=args.d, n_values=args.n, n_draws=args.draws,
        geometries=list(dict.fromkeys(args.geometries)), kappa=args.kappa, margin=args.margin,
        risk=args.risk, n_test=args.n_test, flow_draws=args.flow_draws, depth=args.depth,
        temperature=args.temperature, init_scale=args.init_scale, solver=args.solver,
        random_state=args.seed, progress=not args.quiet)
    print(result.summary())
    if out is not None:
        for path in result.save(out):
            print(path)
    return 0
