"""``hilbert-sd reproduce NAME``: run a named experiment shipped with the package."""

import argparse

NAME = "reproduce"
HELP = "run a named experiment shipped with the package; write its figures and tables"


def _available():
    from hilbert_sd.experiments.registry import NAMED_EXPERIMENTS

    return NAMED_EXPERIMENTS


def add_arguments(parser):
    """Declare the options of ``hilbert-sd reproduce`` (the names are listed in --help)."""
    import textwrap

    available = _available()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    lines = ["named experiments:"]
    for name, exp in available.items():
        wrapped = textwrap.wrap(exp.summary, 74)
        lines.append(f"  {name}")
        lines += [f"      {w}" for w in wrapped]
    parser.epilog = "\n".join(lines)
    parser.add_argument("name", metavar="NAME", help="one of: " + ", ".join(available))
    parser.add_argument("--out", metavar="DIR",
                        help="output directory for the store, figures and tables "
                             "(default: ./NAME)")
    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.schema import Param

    param_option(parser, ("-j", "--jobs"), Param("int", default=1, low=1,
                                                 doc="worker processes"), metavar="N")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address or 'local'")
    parser.add_argument("--overwrite", action="store_true",
                        help="run every simulation again (default: reuse finished ones in "
                             "DIR/results.db)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def config_path(name):
    """The shipped TOML config of a named experiment."""
    from pathlib import Path

    from hilbert_sd.experiments.registry import NAMED_EXPERIMENTS

    return Path(__file__).resolve().parent.parent / "experiments" / NAMED_EXPERIMENTS[name].config


def run(args):
    """Run the experiment, export its table and write its report; return 0."""
    from hilbert_sd.cli import UsageError, _new_dirs, _remove_empty, output_dir
    from hilbert_sd.commands.sweep import check_scheduler
    from hilbert_sd.experiments.config import load_config
    from hilbert_sd.experiments.registry import NAMED_EXPERIMENTS
    from hilbert_sd.experiments.store import check_store_path

    available = _available()
    if args.name not in available:
        raise UsageError(f"unknown experiment {args.name!r}; available: "
                         + ", ".join(available))
    exp = NAMED_EXPERIMENTS[args.name]
    out = output_dir(args.out or args.name)
    check_scheduler(args.scheduler)
    config = load_config(config_path(args.name))  # validated before anything is written
    check_store_path(out / "results.db", write=True)
    made = _new_dirs(out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _produce(exp, config, out, args)
    except BaseException:
        _remove_empty(made)  # a failed run leaves no empty output directory
        raise


def _produce(exp, config, out, args):
    import sys

    from hilbert_sd.cli import export_csv
    from hilbert_sd.experiments.registry import load_attribute
    from hilbert_sd.commands.sweep import open_store
    from hilbert_sd.experiments.runner import interrupt_on_sigterm, run_sweep

    with open_store(out / "results.db") as store, interrupt_on_sigterm():
        report = run_sweep(config, store, jobs=args.jobs, scheduler=args.scheduler,
                           resume=not args.overwrite, overwrite=args.overwrite,
                           progress=not args.quiet)
        print(report.summary(), file=sys.stderr)
        rows = store.rows(experiment=config.name)
    export_csv(rows, out / "results.csv")
    produced = load_attribute(exp.report)(rows, out)
    print(produced["summary"])
    for path in [out / "results.db", out / "results.csv", *produced["files"]]:
        print(f"wrote {path}", file=sys.stderr)
    return 0
