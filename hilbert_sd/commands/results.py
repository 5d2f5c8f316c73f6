"""``hilbert-sd results DB``: print or export the tidy table of a results store, or salvage
the readable rows of a damaged (or older) store into a new one."""

NAME = "results"
HELP = "print or export (CSV) the tidy table of a results store"


def add_arguments(parser):
    """Declare the options of ``hilbert-sd results``."""
    parser.add_argument("db", metavar="DB", help="SQLite results store")
    parser.add_argument("--csv", metavar="FILE",
                        help="write the full table (every parameter and result) as CSV; "
                             "'-' for stdout")
    parser.add_argument("--status", choices=("done", "failed", "all"), default="all",
                        help="which simulations (default: all)")
    parser.add_argument("--experiment", metavar="NAME", help="only rows of this experiment")
    parser.add_argument("--wide", action="store_true",
                        help="print per-round series and constant parameters too")
    parser.add_argument("--limit", type=int, metavar="N", help="print at most N rows")
    parser.add_argument("--salvage", metavar="NEW",
                        help="copy the readable rows of DB (damaged, or written by an older "
                             "hilbert_sd) into a new store NEW; DB is not modified")


def run(args):
    """Print, export or salvage; return 0."""
    import sys

    from hilbert_sd.cli import UsageError, export_csv
    from hilbert_sd.experiments.store import ResultStore, salvage
    from hilbert_sd.experiments.tables import format_table, result_columns, tidy_table

    if args.salvage:
        if args.csv:
            raise UsageError("--salvage writes a new store; give --csv in a second run on it")
        done = salvage(args.db, args.salvage)
        print(f"salvaged {done['rows']} simulation row(s) and {done['memberships']} "
              f"experiment membership(s) from {args.db} into {args.salvage}; "
              f"{done['unreadable']} unreadable row(s) left out", file=sys.stderr)
        return 0
    with ResultStore(args.db, create=False) as store:
        status = None if args.status == "all" else args.status
        rows = store.rows(status=status, experiment=args.experiment)
        total = store.count()
        experiments = store.experiments()
    if args.csv:
        n = export_csv(rows, args.csv)
        if args.csv != "-":
            print(f"wrote {n} rows to {args.csv}", file=sys.stderr)
        return 0
    if not rows:
        known = ""
        if args.experiment is not None and args.experiment not in experiments:
            known = f"; its experiments: {', '.join(experiments) or 'none'}"
        print(f"{args.db}: no matching rows ({total} in the store{known})")
        return 0
    header, data = tidy_table(rows, all_params=args.wide, series=args.wide, short_keys=True)
    # Bookkeeping columns stay in the CSV; the terminal shows error and duration.
    keep = [i for i, h in enumerate(header)
            if h not in ("version", "started_at", "finished_at", "host", "pid")]
    if not any(r["status"] == "failed" for r in rows):
        keep = [i for i in keep if header[i] != "error"]
    if len({r["experiment"] for r in rows}) == 1:
        keep = [i for i in keep if header[i] != "experiment"]
    shown = data if args.limit is None else data[: max(0, args.limit)]
    print(format_table([header[i] for i in keep], [[line[i] for i in keep] for line in shown]))
    notes = [f"{len(rows)} row(s)"]
    if len(shown) < len(data):
        notes.append(f"{len(shown)} shown")
    hidden = len(result_columns(rows)) - len(result_columns(rows, series=False))
    if hidden and not args.wide:
        notes.append(f"{hidden} per-round columns hidden (--wide, or --csv FILE)")
    print("; ".join(notes))
    return 0
