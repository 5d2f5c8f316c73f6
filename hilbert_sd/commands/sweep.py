"""``hilbert-sd sweep CONFIG``: run every simulation of an experiment config into a store."""

NAME = "sweep"
HELP = "run every simulation of an experiment config (grids x seeds) into a results store"

from contextlib import contextmanager  # noqa: E402 (light, after the command's identity)
from pathlib import Path  # noqa: E402


def add_arguments(parser):
    """Declare the options of ``hilbert-sd sweep``."""
    parser.add_argument("config", metavar="CONFIG", help="experiment config (TOML)")
    parser.add_argument("--store", metavar="DB",
                        help="SQLite results store (default: output.store of the config, else "
                             "NAME.db)")
    import os

    from hilbert_sd.cli import key_value, param_option
    from hilbert_sd.experiments.schema import Param

    parser.add_argument("--set", dest="overrides", action="append", default=[], type=key_value,
                        metavar="KEY=VALUE",
                        help="override a config value, e.g. --set method.epsilon=[0.1,0.2] "
                             "(VALUE is TOML; repeatable)")
    param_option(parser, ("-j", "--jobs"),
                 Param("int", default=1, low=1,
                       doc="worker processes (joblib), or Dask workers with --scheduler local "
                           "(1: serial; -1: one per CPU)"),
                 aliases={"-1": str(os.cpu_count() or 1)}, metavar="N")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on a Dask cluster: a scheduler address (tcp://host:8786) or "
                             "'local' for a local cluster (needs hilbert_sd[distributed])")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true",
                      help="skip simulations already in the store")
    mode.add_argument("--overwrite", action="store_true",
                      help="run simulations already in the store again, replacing their rows")
    parser.add_argument("--retry-failed", action="store_true",
                        help="with --resume: run failed simulations again")
    parser.add_argument("--shard", metavar="I/N",
                        help="run only every N-th simulation starting at the I-th (1-based), "
                             "to split a sweep over N jobs sharing one store")
    parser.add_argument("--table", metavar="CSV",
                        help="export the tidy table to CSV afterwards (default: output.table)")
    parser.add_argument("--dry-run", action="store_true",
                        help="validate the config, print what would run, and stop")
    parser.add_argument("--allow-import", action="store_true",
                        help='allow method.name = "package.module:function": import that '
                             "module (running its code) and run the function")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def _parse_shard(text):
    from hilbert_sd.cli import UsageError

    if text is None:
        return None
    try:
        i, n = (int(p) for p in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 2/4") from None
    if not 1 <= i <= n:
        raise UsageError(f"--shard {text!r}: I must be in 1..N")
    return i, n


def store_path(args, config):
    """The results store a command writes to."""
    return args.store or config.output.get("store") or f"{config.name}.db"


def check_data(config):
    """Read every data file of a config once, so that a malformed file is refused before a
    store or any other output is created.

    Raises
    ------
    ValueError
        Naming the file and the problem.
    """
    from hilbert_sd.experiments.config import canonical_json
    from hilbert_sd.experiments.runner import load_dataset

    seen = set()
    for data in config.data:
        if "path" not in data:
            continue  # synthetic data: its parameters were validated with the config
        ident = canonical_json({k: v for k, v in data.items() if k != "label_noise"})
        if ident not in seen:
            seen.add(ident)
            load_dataset(data, config.base_dir)


def check_scheduler(scheduler):
    """Refuse ``--scheduler`` before any output when dask.distributed is not installed."""
    import importlib.util

    from hilbert_sd.cli import UsageError

    if scheduler is not None and importlib.util.find_spec("distributed") is None:
        raise UsageError("--scheduler needs dask.distributed, an optional dependency: "
                         "pip install 'hilbert_sd[distributed]'")
    if scheduler is None or scheduler == "local":
        return
    import socket
    from urllib.parse import urlsplit

    # A scheduler that refuses the connection, or whose host does not resolve, is refused
    # here, at once and before any output; one that does not answer is left to dask's own
    # timeout, and addresses of other protocols (ucx://, inproc://) to dask altogether.
    try:
        parts = urlsplit(scheduler if "://" in scheduler else f"tcp://{scheduler}")
        host, port = parts.hostname, parts.port
    except ValueError:
        raise UsageError(f"--scheduler {scheduler!r}: allowed: 'local' or a Dask scheduler "
                         "address such as tcp://HOST:8786") from None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        return
    try:
        socket.create_connection((host, port), timeout=2.0).close()
    except ConnectionRefusedError:
        raise UsageError(f"--scheduler {scheduler!r}: nothing listens at {host}:{port} "
                         "(connection refused); start the scheduler or check the "
                         "address") from None
    except socket.gaierror as exc:
        raise UsageError(f"--scheduler {scheduler!r}: cannot resolve {host!r} "
                         f"({exc.strerror}); check the address") from None
    except OSError:
        pass  # unreachable for now (a timeout, a route): dask reports it after its timeout


@contextmanager
def open_store(path):
    """Open the results store for a run; if the run fails before a row is stored, remove a
    store that this run created (a sweep refused by an unreachable Dask scheduler, say,
    leaves no empty ``results.db`` behind).

    Yields
    ------
    hilbert_sd.experiments.store.ResultStore
    """
    from hilbert_sd.experiments.store import ResultStore

    path = Path(path)
    created = not path.exists()
    store = ResultStore(path)
    try:
        with store:
            yield store
    except BaseException:
        if created:
            try:
                with ResultStore(path) as again:
                    empty = again.count() == 0 and not again.experiments()
            except (ValueError, OSError):
                empty = False
            if empty:
                for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
                    path.with_name(name).unlink(missing_ok=True)
        raise


def run(args):
    """Run the sweep; return the exit status (0 even when some simulations failed)."""
    import os
    import sys

    from hilbert_sd.cli import UsageError, export_csv
    from hilbert_sd.experiments.config import load_config
    from hilbert_sd.experiments.runner import interrupt_on_sigterm, run_sweep
    from hilbert_sd.experiments.store import check_store_path

    if args.retry_failed and not args.resume:
        raise UsageError("--retry-failed needs --resume")
    shard = _parse_shard(args.shard)
    jobs = args.jobs  # -1 was read as one per CPU
    check_scheduler(args.scheduler)
    config = load_config(args.config, args.overrides, allow_import=args.allow_import)
    path = store_path(args, config)
    table = args.table or config.output.get("table")
    if table and table != "-" and os.path.isdir(table):
        raise UsageError(f"--table {table}: is a directory; give a CSV file name")
    # everything that can be refused is refused before the store is created
    check_store_path(path, write=True)
    check_data(config)
    if args.dry_run:
        sims = config.simulations()
        groups = len({s.group for s in sims})
        axes = ", ".join(config.grid_keys) or "none"
        print(f"{config.name}: {len(sims)} simulation(s) in {groups} eigendecomposition "
              f"group(s); grid axes: {axes}; store: {path}")
        return 0
    with open_store(path) as store, interrupt_on_sigterm():
        report = run_sweep(config, store, jobs=jobs, scheduler=args.scheduler,
                           resume=args.resume, overwrite=args.overwrite,
                           retry_failed=args.retry_failed, shard=shard,
                           progress=not args.quiet)
        print(report.summary())
        if table:
            n = export_csv(store.rows(experiment=config.name), table)
            if table != "-":
                print(f"wrote {n} rows to {table}", file=sys.stderr)
    return 0
