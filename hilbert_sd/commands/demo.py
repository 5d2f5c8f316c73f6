"""``hilbert-sd demo``: the reference self-distillation example, no configuration needed.

The early-stopping experiment (``hilbert-sd reproduce early-stopping``) with the budgets and
kernel of the options, run through the one runner into a temporary store (a demo leaves its
tables and figures, not a store: ``reproduce`` keeps one), then its report. With
``--data FILE.csv`` the same study runs on the user's data: a seeded split into training and
test rows (``--test-size``), the test rows standing in for the noise-free function.
"""

import sys
import time

NAME = "demo"
HELP = "run the reference self-distillation experiments: summary table, figures, CSV/JSON"

#: The demo prints and writes every round of every budget: a budget whose collapse round is
#: at least this (M6) is refused before the run (the JSON holds ~2.5 kB per round).
MAX_ROUNDS = 1000
#: ‖y‖²/n of the reference data: round 0 already collapses at or above it.
REFERENCE_Y2N = 0.5735400570511874

LEGEND = """\
columns: round = self-distillation round t; ridge = alpha_t (collapse: the targets fit
inside the budget); M2 bracket = the bounds on alpha_t; train = training error of round t to
its own targets (epsilon before the collapse); to y0 = training error to the original
labels; test SD = test error of round t; tau ES = time of gradient flow (early stopping)
with the same error to the labels; test ES = its test error; #B SD, #B ES = basis functions
(eigen-directions) with at least 1 % of the largest weight, self-distillation and early
stopping. CSV columns: docs/getting_started ("The demo's table")."""


def add_arguments(parser):
    from hilbert_sd.cli import param_option
    from hilbert_sd.experiments.registry import parameter
    from hilbert_sd.experiments.schema import Param

    parser.add_argument("--out", default="demo_out", metavar="DIR",
                        help="directory for figures (PNG) and results (CSV, JSON); "
                             "default: %(default)s")
    param_option(parser, "--epsilon", parameter("method", "early_stopping", "epsilon"),
                 nargs="+", metavar="EPS", default=None,
                 doc="budgets on the mean squared training error, below ||y||^2/n and large "
                     "enough that the collapse round (M6 lower bound) is below "
                     f"{MAX_ROUNDS}",
                 more="(default: 0.001 0.005 0.02 0.1, scaled by ||y||^2/n / 0.57354 with "
                      "--data)")
    param_option(parser, "--gamma", parameter("kernel", "rbf", "gamma"),
                 doc="RBF kernel parameter",
                 more="(default: 80 for the reference data; with --data 1/(p var(X)) of the "
                      "training inputs)")
    data = parser.add_argument_group("your own data (CSV)")
    data.add_argument("--data", metavar="FILE.csv", default=None,
                      help="run the study on this CSV file instead of the reference data")
    data.add_argument("--x-cols", metavar="C1,C2", default=None,
                      help="input columns, comma-separated: names (numbers from 1 with "
                           "--no-header); default: every column but --y-col")
    data.add_argument("--y-col", metavar="C", default=None,
                      help="target column: a name (a number from 1 with --no-header); "
                           "default: the last column")
    data.add_argument("--no-header", action="store_true",
                      help="the first row is data, not column names")
    data.add_argument("--delimiter", default=",", metavar="CHAR",
                      help="one character between fields (default: ','; '\\t' for tabs)")
    param_option(data, "--test-size",
                 Param("float", default=0.3, low=0, high=1, low_inclusive=False,
                       high_inclusive=False,
                       doc="share of the rows held out (seeded split) as the test set"))
    parser.add_argument("--quiet", action="store_true", help="print only the output paths")


def _check_epsilons(epsilons, y2n, what, floor=0.0):
    """Refuse budgets the demo cannot show, before anything runs: at or above ‖y‖²/n (round 0
    collapses), with a collapse round of at least :data:`MAX_ROUNDS` by M6, or at or below
    ``floor`` (the mean target energy in the numerical null space of K: no ridge reaches it).
    """
    import math

    from hilbert_sd.bounds import collapse_round_bounds
    from hilbert_sd.cli import UsageError

    # M6: T >= r_0 - 1 with r_0 = ||y|| / sqrt(n eps), so T < MAX_ROUNDS needs
    # eps > y2n / (MAX_ROUNDS + 1)^2
    low = max(y2n / (MAX_ROUNDS + 1) ** 2, floor)
    allowed = f"allowed: {low:.3g} < epsilon < {y2n:.5g}"
    for eps in epsilons:
        if floor and not eps > floor:
            raise UsageError(f"--epsilon={eps:g} is out of range: at or below the floor "
                             f"{floor:.3g} the kernel can reach on {what} (target energy in "
                             f"the null space of K; a smaller --gamma lowers it); {allowed}")
        if not eps < y2n:
            raise UsageError(f"--epsilon={eps:g} is out of range: at or above ||y||^2/n = "
                             f"{y2n:.5g} of {what}, round 0 already collapses; {allowed}")
        lower = collapse_round_bounds([1.0], math.sqrt(y2n), 1, eps).lower
        if not lower < MAX_ROUNDS:
            raise UsageError(f"--epsilon={eps:g} is out of range: M6 (hilbert_sd.bounds."
                             f"collapse_round_bounds) puts its collapse round at T >= "
                             f"{lower:.3g}, and the demo shows at most {MAX_ROUNDS} rounds; "
                             f"{allowed}")


def _floor(X, y, gamma):
    """Mean energy of ``y`` in the numerical null space of the RBF kernel matrix of ``X``."""
    from hilbert_sd.kernels import gram
    from hilbert_sd.spectral import eigh_psd

    spectrum = eigh_psd(gram(X, kernel="rbf", gamma=gamma))
    return spectrum.null_energy(y) / y.shape[0]


def _delimiter(text):
    from hilbert_sd.cli import UsageError

    value = {"\\t": "\t", "tab": "\t"}.get(text, text)
    if len(value) != 1 or value in "\r\n\"":
        raise UsageError(f"--delimiter {text!r}: allowed: one character other than a quote or "
                         "a line break, e.g. ',' ';' '\\t'")
    return value


def _columns(spec, header, flag, has_header):
    """Indices of the columns named (or numbered from 1) in a comma-separated ``spec``."""
    from hilbert_sd.cli import UsageError

    out = []
    for item in (c.strip() for c in spec.split(",")):
        if has_header and item in header:
            out.append(header.index(item))
        elif not has_header and item.isdigit() and 1 <= int(item) <= len(header):
            out.append(int(item) - 1)
        else:
            allowed = (", ".join(header) if has_header else f"numbers 1..{len(header)}")
            raise UsageError(f"{flag} {spec!r}: no column {item!r}; allowed: {allowed}")
    if not out:
        raise UsageError(f"{flag} is empty; allowed: column names, comma-separated")
    return out


def read_user_data(args):
    """The inputs and targets of ``--data``, checked; every problem names the file or flag.

    Returns
    -------
    X : ndarray of shape (n, p)
    y : ndarray of shape (n,)
    names : list of str
        The input columns' names.
    """
    import csv

    import numpy as np

    from hilbert_sd.cli import UsageError

    path = args.data
    delimiter = _delimiter(args.delimiter)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh, delimiter=delimiter) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageError(f"--data {path}: cannot read it: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None
    if args.no_header:
        width = len(rows[0]) if rows else 0
        header = [str(i + 1) for i in range(width)]
    else:
        header = [c.strip() for c in rows[0]] if rows else []
        rows = rows[1:]
    if len(header) < 2:
        raise UsageError(f"--data {path}: {len(header)} column(s) with delimiter "
                         f"{delimiter!r}; allowed: at least 2 (inputs and a target)")
    y_idx = (len(header) - 1 if args.y_col is None
             else _columns(args.y_col, header, "--y-col", not args.no_header)[0])
    x_idx = ([i for i in range(len(header)) if i != y_idx] if args.x_cols is None
             else _columns(args.x_cols, header, "--x-cols", not args.no_header))
    if y_idx in x_idx:
        raise UsageError(f"--x-cols includes the target column {header[y_idx]!r}")
    table = np.empty((len(rows), len(header)))
    for i, row in enumerate(rows):
        line = i + (1 if args.no_header else 2)
        if len(row) != len(header):
            raise UsageError(f"--data {path}: line {line} has {len(row)} fields, expected "
                             f"{len(header)}")
        for j in {*x_idx, y_idx}:
            try:
                table[i, j] = float(row[j])
            except ValueError:
                raise UsageError(f"--data {path}: line {line}, column {header[j]!r}: "
                                 f"{row[j]!r} is not a number") from None
            if not np.isfinite(table[i, j]):
                raise UsageError(f"--data {path}: line {line}, column {header[j]!r}: "
                                 f"{row[j]!r}; allowed: finite numbers")
    n_test = int(np.ceil(args.test_size * len(rows)))
    if len(rows) - n_test < 2 or n_test < 1:
        raise UsageError(f"--data {path}: {len(rows)} data row(s), --test-size "
                         f"{args.test_size:g} leaves {len(rows) - n_test} for training; "
                         "allowed: at least 2 training rows and 1 test row")
    return table[:, x_idx], table[:, y_idx], [header[j] for j in x_idx]


def _split(X, test_size):
    """Seeded (0) train/test row indices; the test rows sorted by the first input, so that
    the figure's fits are drawn left to right."""
    import numpy as np

    n = X.shape[0]
    n_test = int(np.ceil(test_size * n))
    perm = np.random.default_rng(0).permutation(n)
    test, train = perm[:n_test], np.sort(perm[n_test:])
    return train, test[np.argsort(X[test, 0], kind="stable")]


def _write_split(X, y, train, test, directory):
    """The training and test rows as two CSV files (x0, x1, ..., y); returns their paths."""
    import csv
    from pathlib import Path

    import numpy as np

    features = [f"x{i}" for i in range(X.shape[1])]
    paths = []
    for part, name in ((train, "train.csv"), (test, "test.csv")):
        path = Path(directory) / name
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow([*features, "y"])
            writer.writerows(np.column_stack([X[part], y[part]]).tolist())
        paths.append(str(path))
    return paths, features


def run(args):
    import tempfile

    import numpy as np

    from hilbert_sd.cli import UsageError, output_dir
    from hilbert_sd.experiments.self_distillation import DEFAULT_EPSILONS

    if args.data is None:
        given = [f for f, v in (("--x-cols", args.x_cols), ("--y-col", args.y_col),
                                ("--no-header", args.no_header)) if v]
        if given:
            raise UsageError(f"{given[0]} applies to --data FILE.csv only")
        _check_epsilons(args.epsilon or (), REFERENCE_Y2N, "the reference data")
    else:
        X, y, names = read_user_data(args)
        train, test = _split(X, args.test_size)
        y2n = float(np.mean(y[train] ** 2))
        if not y2n > 0:
            raise UsageError(f"--data {args.data}: the training targets are all 0; nothing "
                             "to fit")
        gamma = args.gamma
        if gamma is None:
            var = float(np.var(X[train]))
            gamma = 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        floor = _floor(X[train], y[train], gamma)
        epsilons = args.epsilon or [e for e in (d * y2n / REFERENCE_Y2N
                                                for d in DEFAULT_EPSILONS) if e > 1.01 * floor]
        if not epsilons:
            raise UsageError(f"--data {args.data}: the default budgets lie below the floor "
                             f"{floor:.3g} the kernel can reach (RBF gamma={gamma:g}); give "
                             f"--epsilon between {floor:.3g} and {y2n:.5g}, or a smaller "
                             "--gamma")
        _check_epsilons(epsilons, y2n, args.data, floor)
    out = output_dir(args.out)
    import matplotlib

    matplotlib.use("Agg")
    from hilbert_sd.experiments.reports import run_rows
    from hilbert_sd.experiments.self_distillation import reference_config, report

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hilbert_sd-demo-") as tmp:
        if args.data is None:
            epsilons = args.epsilon or DEFAULT_EPSILONS
            gamma = 80.0 if args.gamma is None else args.gamma
            raw = reference_config(epsilons, gamma=gamma)
            what = "reference example: 11 points"
        else:
            paths, features = _write_split(X, y, train, test, tmp)
            raw = reference_config(epsilons, gamma=gamma)
            raw["data"] = {"path": paths[0], "test_path": paths[1], "features": features,
                           "target": "y"}
            what = (f"{args.data}: {len(train)} training and {len(test)} test rows, inputs "
                    f"{', '.join(names)}")
        print(f"[demo] {what}, RBF gamma={gamma:g}, epsilon in "
              f"{[float(f'{e:.4g}') for e in epsilons]}", file=sys.stderr)
        rows = run_rows(raw, name="demo")
        produced = report(rows, out)  # reads the data files again for the figures
    if not args.quiet:
        print(produced["summary"])
        print()
        print(LEGEND)
        print()
    for path in produced["files"]:
        print(f"wrote {path}")
    print(f"[demo] done in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0
