"""The tidy table of a results store: one row per simulation, one column per variable.

Columns: the row's identity (key, experiment, method, seed, status), the configuration
parameters (``data.*``, ``kernel.*``, ``method.*``), the results (scalars first, then
per-round series ``name[0]``, ``name[1]``, ... in numeric order), then the bookkeeping
(error, duration, version, times, host).
"""

import csv
import math
import re
import sys

__all__ = [
    "format_table", "format_value", "result_columns", "save_csv_json_figure", "tidy_table",
    "write_csv", "write_records"]

_SERIES = re.compile(r"^(.*)\[(\d+)\]$")
_IDENTITY = ("key", "experiment", "method", "seed", "status")
_TRAILER = ("error", "duration", "version", "started_at", "finished_at", "host", "pid")


def _split(key):
    m = _SERIES.match(key)
    return (key, -1) if m is None else (m.group(1), int(m.group(2)))


def result_columns(rows, *, series=True):
    """Result keys of the rows: scalars alphabetically, then series by name and index."""
    keys = set()
    for row in rows:
        keys.update((row.get("results") or {}).keys())
    scalars = sorted(k for k in keys if _split(k)[1] < 0)
    series_keys = sorted((k for k in keys if _split(k)[1] >= 0), key=_split)
    return scalars + (series_keys if series else [])


def param_columns(rows, *, varying_only=False):
    """Parameter keys (``data.*``, ``kernel.*``, ``method.*``), optionally only those that vary."""
    order, values = [], {}
    for row in rows:
        for k, v in (row.get("params") or {}).items():
            if k in ("seed", "method.name"):
                continue
            if k not in values:
                order.append(k)
                values[k] = set()
            values[k].add(repr(v))
    if varying_only:
        n = len(rows)
        order = [k for k in order if len(values[k]) > 1
                 or sum(1 for r in rows if k in (r.get("params") or {})) != n]
    return order


def tidy_table(rows, *, all_params=True, series=True, short_keys=False):
    """Header and rows of the tidy table.

    Parameters
    ----------
    rows : list of dict
        From :meth:`ResultStore.rows`.
    all_params : bool, default=True
        All parameters, or only those that vary across ``rows``.
    series : bool, default=True
        Include per-round series columns (``name[t]``).
    short_keys : bool, default=False
        Abbreviate keys to 12 hex digits.

    Returns
    -------
    header : list of str
    data : list of list
    """
    pcols = param_columns(rows, varying_only=not all_params)
    rcols = result_columns(rows, series=series)
    header = list(_IDENTITY) + pcols + rcols + list(_TRAILER)
    data = []
    for row in rows:
        params = row.get("params") or {}
        results = row.get("results") or {}
        line = [row["key"][:12] if short_keys else row["key"], row["experiment"],
                row["method"], row["seed"], row["status"]]
        line += [params.get(k) for k in pcols]
        line += [results.get(k) for k in rcols]
        line += [row.get(k) for k in _TRAILER]
        data.append(line)
    return header, data


def format_value(value, *, digits=6):
    """Display a table cell: floats to ``digits`` significant digits, None as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value) or math.isnan(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # full precision: the CSV is for machines
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value)
    return value


def write_records(records, path):
    """Write a list of flat dicts (one per row, same keys) as CSV; None and NaN as empty fields.

    Parameters
    ----------
    records : list of dict
    path : str or Path

    Returns
    -------
    int
        Number of data rows written.
    """
    if not records:
        raise ValueError(f"no rows to write to {path}")

    def cell(v):
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else v

    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows({k: cell(v) for k, v in r.items()} for r in records)
    return len(records)


def write_csv(rows, path):
    """Write the full tidy table (every parameter and result) as CSV; ``"-"`` is stdout.

    Returns
    -------
    int
        Number of data rows written.
    """
    header, data = tidy_table(rows)
    if str(path) == "-":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[_csv_value(v) for v in line] for line in data])
        return len(data)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows([[_csv_value(v) for v in line] for line in data])
    return len(data)


def format_table(header, data, *, max_width=40):
    """Aligned plain-text table (cells longer than ``max_width`` are cut with '...')."""
    def cell(v):
        s = format_value(v) if not isinstance(v, str) else v
        s = " ".join(s.split())
        return s if len(s) <= max_width else s[: max_width - 3] + "..."

    cells = [[cell(h) for h in header]] + [[cell(v) for v in line] for line in data]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def save_csv_json_figure(out_dir, name, *, csv, json, figure, dpi=110):
    """Write ``NAME.csv``, ``NAME.json`` and ``NAME.png`` into ``out_dir``: the three files of a
    study result's ``save``.

    Parameters
    ----------
    out_dir : str or path-like
        Created if missing.
    name : str
        The files' stem.
    csv, json : callable
        Write the table / the JSON record to the path they are given.
    figure : callable
        Returns the matplotlib Figure to save (closed afterwards).
    dpi : int, default=110

    Returns
    -------
    list of pathlib.Path
        The three files, in that order.
    """
    from pathlib import Path

    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.{ext}" for ext in ("csv", "json", "png")]
    csv(paths[0])
    json(paths[1])
    fig = figure()
    fig.savefig(paths[2], dpi=dpi)
    plt.close(fig)
    return paths
