"""``hilbert-sd run CONFIG``: run one simulation of an experiment config and print it."""

NAME = "run"
HELP = "run one simulation of an experiment config and print its results"


def add_arguments(parser):
    """Declare the options of ``hilbert-sd run``."""
    parser.add_argument("config", metavar="CONFIG", help="experiment config (TOML)")
    from hilbert_sd.cli import key_value

    parser.add_argument("--set", dest="overrides", action="append", default=[], type=key_value,
                        metavar="KEY=VALUE",
                        help="override a config value, e.g. --set method.epsilon=0.1 "
                             "(VALUE is TOML; repeatable)")
    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.schema import Param

    param_option(parser, "--index", Param("int", default=None, low=0,
                                          doc="which simulation of a grid to run (0-based, "
                                              "in the order of 'hilbert-sd sweep'; e.g. a "
                                              "batch system's array index)"), metavar="I")
    parser.add_argument("--store", metavar="DB",
                        help="also write the row to this SQLite results store")
    parser.add_argument("--json", action="store_true", help="print the row as JSON")
    parser.add_argument("--allow-import", action="store_true",
                        help='allow method.name = "package.module:function": import that '
                             "module (running its code) and run the function")


def run(args):
    """Run the simulation; 0 if it succeeded, 1 if it failed (its error on stderr)."""
    import json
    import sys

    from hilbert_sd.cli import UsageError
    from hilbert_sd.experiments.config import canonical_json, load_config
    from hilbert_sd.experiments.runner import run_simulation
    from hilbert_sd.experiments.store import ResultStore, check_store_path
    from hilbert_sd.experiments.tables import format_value

    config = load_config(args.config, args.overrides, allow_import=args.allow_import)
    n = len(config)
    index = args.index
    if index is None:
        if n != 1:
            axes = ", ".join(config.grid_keys)
            raise UsageError(f"{args.config} defines {n} simulations (grid axes: {axes}); pick "
                             f"one with --index 0..{n - 1} or --set KEY=VALUE, or run them all "
                             "with 'hilbert-sd sweep'")
        index = 0
    elif not 0 <= index < n:
        raise UsageError(f"--index {index}: out of range; {args.config} defines {n} "
                         f"simulation(s): 0..{n - 1}")
    if args.store:
        check_store_path(args.store, write=True)
    sim, row = run_simulation(config, index)
    if args.store:
        with ResultStore(args.store) as store:
            store.write([row])
    if args.json:
        print(json.dumps(json.loads(canonical_json(row)), indent=2))
    else:
        print(f"simulation {sim.index} of {n}, key {sim.key[:12]}: {row['status']} in "
              f"{row['duration']:.3f} s")
        for k in config.grid_keys:
            print(f"  {k} = {format_value(sim.params[k])}")
        width = max((len(k) for k in row["results"] or {}), default=0)
        for k, v in (row["results"] or {}).items():
            print(f"{k:<{width}}  {format_value(v)}")
        for w in row["warnings"]:
            print(f"warning: {w}", file=sys.stderr)
    if row["status"] != "done":
        print(f"error: simulation failed: {row['error']}", file=sys.stderr)
        return 1
    return 0
