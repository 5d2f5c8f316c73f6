"""``hilbert-sd results DB``: print or export the tidy table of a results store, or salvage
the readable rows of a damaged (or older) store into a new one."""

NAME = "results"
HELP = "print or export (CSV) the tidy table of a results store"


def _limit(text):
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def add_arguments(parser):
    """Declare the options of ``hilbert-sd results``."""
    parser.add_argument("db", metavar="DB", help="SQLite results store")
    parser.add_argument("--columns", nargs="+", action="extend", metavar="COLUMN",
                        help="show these columns: parameters, results, key, experiment, "
                             "method, seed, status, duration, error; '*' and '?' are "
                             "wildcards (method.*, 'test_mse[*]')")
    parser.add_argument("--group-by", nargs="+", action="extend", metavar="COLUMN",
                        help="one line per distinct value of these columns, aggregating the "
                             "others over the rows (seeds) of each group")
    parser.add_argument("--agg", metavar="LIST",
                        help="aggregates, comma-separated: mean, se (standard error), std, "
                             "min, max, median, count (default with --group-by: "
                             "mean,se,count); without --group-by, over all rows")
    parser.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE",
                        help="only rows with this value (numbers compared to 1e-9 relative; "
                             "also !=, <, <=, >, >=; a=v1,v2 for either; repeatable: all "
                             "must hold)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE",
                     help="write the table as CSV ('-' for stdout); without --columns, "
                          "--group-by or --agg the full table (every parameter and result)")
    out.add_argument("--json", action="store_true",
                     help="print the table as JSON (an object with a list of rows)")
    parser.add_argument("--status", choices=("done", "failed", "all"), default="all",
                        help="which simulations (default: all)")
    parser.add_argument("--experiment", metavar="NAME", help="only rows of this experiment")
    parser.add_argument("--wide", action="store_true",
                        help="print per-round series and constant parameters too (with "
                             "--group-by: aggregate the per-round series too)")
    parser.add_argument("--limit", type=_limit, metavar="N",
                        help="print at most N rows (N >= 0) of the text table")
    parser.add_argument("--salvage", metavar="NEW",
                        help="copy the readable rows of DB (damaged, or written by an older "
                             "hilbert_sd) into a new store NEW; DB is not modified")


def read_rows(db, *, experiment=None, status=None):
    """Rows of a store that must exist, and its row count.

    Raises
    ------
    UsageError
        When ``experiment`` is not in the store (listing its experiments).
    FileNotFoundError
        When the store does not exist (nothing is created).
    """
    from hilbert_sd.cli import UsageError
    from hilbert_sd.experiments.store import ResultStore

    with ResultStore(db, create=False) as store:
        experiments = store.experiments()
        if experiment is not None and experiment not in experiments:
            raise UsageError(f"--experiment {experiment!r}: not in {db}; its experiments: "
                             f"{', '.join(experiments) or 'none'}")
        rows = store.rows(status=status, experiment=experiment)
        total = store.count()
    return rows, total


def _check_flags(args):
    """Refuse bad and conflicting flags before the store is opened or a file created."""
    from hilbert_sd.cli import UsageError
    from hilbert_sd.commands.plot import check_output
    from hilbert_sd.experiments.aggregate import parse_agg, parse_where

    reading = [f for f, v in (("--columns", args.columns), ("--group-by", args.group_by),
                              ("--agg", args.agg), ("--where", args.where),
                              ("--csv", args.csv), ("--json", args.json)) if v]
    if args.salvage and reading:
        raise UsageError(f"--salvage writes a new store; give {reading[0]} in a second run "
                         "on it")
    if args.wide and args.columns:
        raise UsageError("--wide: shows every column; give either --wide or --columns")
    agg = parse_agg(args.agg, what="--agg") if args.agg is not None else None
    where = parse_where(args.where, what="--where")
    if args.csv and args.csv != "-":
        check_output(args.csv, "--csv")
    return agg, where


def run(args):
    """Print, export or salvage; return 0."""
    import sys

    from hilbert_sd.cli import atomic_output, export_csv
    from hilbert_sd.experiments.aggregate import (
        DEFAULT_AGG, ResultTable, aggregate, available_columns, filter_rows, resolve_columns,
        select)
    from hilbert_sd.experiments.store import salvage
    from hilbert_sd.experiments.tables import format_table, result_columns, tidy_table

    agg, where = _check_flags(args)
    if args.salvage:
        done = salvage(args.db, args.salvage)
        print(f"salvaged {done['rows']} simulation row(s) and {done['memberships']} "
              f"experiment membership(s) from {args.db} into {args.salvage}; "
              f"{done['unreadable']} unreadable row(s) left out", file=sys.stderr)
        return 0
    status = None if args.status == "all" else args.status
    rows, total = read_rows(args.db, experiment=args.experiment, status=status)
    rows_read = rows
    reshaped = bool(args.columns or args.group_by or agg)
    if not rows and (reshaped or where or args.json):
        # nothing to check the column names against, nor anything to show
        note = (f"{args.db}: no matching rows ({total} in the store)"
                + (f"; nothing written to {args.csv}" if args.csv and args.csv != "-" else ""))
        if args.json:  # still a JSON document on stdout
            print(ResultTable(header=[], data=[]).to_json())
        print(note, file=sys.stderr if args.json else sys.stdout)
        return 0
    n_read = len(rows)
    available = available_columns(rows)
    if where:
        rows = filter_rows(rows, where, available, what="--where")
    table = None
    if args.columns:
        columns = resolve_columns(args.columns, available, what="--columns")
    elif args.wide:
        series = set(result_columns(rows_read))
        columns = [c for c in available if c in series]
    else:
        columns = None
    if args.group_by or agg:
        if columns is None:
            columns = result_columns(rows_read, series=False)
        group_by = resolve_columns(args.group_by or (), available, what="--group-by")
        table = aggregate(rows, columns, group_by=group_by, agg=agg or DEFAULT_AGG,
                          available=available)
    elif args.columns:
        table = select(rows, columns, available=available)
    if args.csv:
        if table is None:
            n = export_csv(rows, args.csv)
        elif args.csv == "-":
            n = table.write_csv(sys.stdout)
        else:
            try:
                with atomic_output(args.csv) as tmp, open(tmp, "w", newline="",
                                                          encoding="utf-8") as fh:
                    n = table.write_csv(fh)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot write {args.csv}: {exc.strerror or exc}; "
                                         "it is left as it was") from None
        if args.csv != "-":
            print(f"wrote {n} rows to {args.csv}", file=sys.stderr)
        return 0
    if args.json:
        if table is None:
            header, data = tidy_table(rows)
            table = ResultTable(header=header, data=data, n_rows=len(rows))
        print(table.to_json())
        return 0
    if table is not None:
        shown = table.data if args.limit is None else table.data[: args.limit]
        print(format_table(table.header, shown))
        notes = [f"{len(table.data)} group(s) from {len(rows)} row(s)" if table.agg
                 else f"{len(rows)} row(s)"]
        if len(shown) < len(table.data):
            notes.append(f"{len(shown)} shown")
        if where:
            notes.append(f"{len(rows)} of {n_read} match --where")
        print("; ".join(notes))
        return 0
    if not rows:
        print(f"{args.db}: no matching rows ({total} in the store"
              + (f"; {n_read} before --where" if where else "") + ")")
        return 0
    header, data = tidy_table(rows, all_params=args.wide, series=args.wide, short_keys=True)
    # Bookkeeping columns stay in the CSV; the terminal shows error and duration.
    keep = [i for i, h in enumerate(header)
            if h not in ("version", "started_at", "finished_at", "host", "pid")]
    if not any(r["status"] == "failed" for r in rows):
        keep = [i for i in keep if header[i] != "error"]
    if len({r["experiment"] for r in rows}) == 1:
        keep = [i for i in keep if header[i] != "experiment"]
    shown = data if args.limit is None else data[: args.limit]
    print(format_table([header[i] for i in keep], [[line[i] for i in keep] for line in shown]))
    notes = [f"{len(rows)} row(s)"]
    if len(shown) < len(data):
        notes.append(f"{len(shown)} shown")
    if where:
        notes.append(f"{len(rows)} of {n_read} match --where")
    hidden = len(result_columns(rows)) - len(result_columns(rows, series=False))
    if hidden and not args.wide:
        notes.append(f"{hidden} per-round columns hidden (--wide, or --csv FILE)")
    print("; ".join(notes))
    return 0
