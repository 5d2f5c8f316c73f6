"""Reading a results store as tables: choose columns, filter, group and aggregate over seeds.

The rows are those of :meth:`hilbert_sd.experiments.store.ResultStore.rows`. A **column** is
an identity field (``key``, ``experiment``, ``method``, ``seed``, ``status``), a parameter
(``data.*``, ``kernel.*``, ``method.*``), a result (``best_test_mse``, or an element of a
per-round series, ``test_mse[3]``) or the bookkeeping ``duration`` and ``error``. Column
patterns may use the wildcards ``*`` and ``?``; brackets are literal, so ``test_mse[*]`` is
the whole series in round order.

Aggregates are over the rows of each group (the seeds, and every parameter not grouped by):
``mean``, ``se`` (standard error of the mean, ``std(ddof=1) / sqrt(count)``), ``std``
(``ddof=1``), ``min``, ``max``, ``median`` and ``count`` (values used). Missing values (a
failed simulation, a round after the collapse) and NaN are left out; a statistic with no
values (or ``se``/``std`` with one) is None.
"""

import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

from hilbert_sd.experiments.tables import param_columns, result_columns

__all__ = ["AGGREGATES", "DEFAULT_AGG", "Condition", "ResultTable", "aggregate",
           "available_columns", "filter_rows", "metric_series", "parse_agg", "parse_where",
           "resolve_columns", "select"]

#: Aggregates :func:`aggregate` knows, in the order they are listed in messages.
AGGREGATES = ("mean", "se", "std", "min", "max", "median", "count")
#: Aggregates used when grouping without naming any.
DEFAULT_AGG = ("mean", "se", "count")

_IDENTITY = ("key", "experiment", "method", "seed", "status")
_BOOKKEEPING = ("duration", "error")
_SERIES = re.compile(r"^(.*)\[(\d+)\]$")
_WHERE = re.compile(r"^\s*([^=!<>]+?)\s*(==|!=|<=|>=|=|<|>)\s*(.*?)\s*$")
_OPS = ("=", "!=", "<", "<=", ">", ">=")
#: Pseudo-column of :func:`metric_series`: the index of a per-round series.
ROUND = "round"


# ---------------------------------------------------------------------------------------------
# columns
# ---------------------------------------------------------------------------------------------
def available_columns(rows):
    """Every column of ``rows``: identity, parameters, results (series by index), bookkeeping.

    Parameters
    ----------
    rows : list of dict
        From :meth:`ResultStore.rows`.

    Returns
    -------
    list of str
    """
    return (list(_IDENTITY) + param_columns(rows) + result_columns(rows)
            + list(_BOOKKEEPING))


def _value(row, name):
    """The value of column ``name`` in ``row`` (None when the row has none)."""
    if name in _IDENTITY or name in _BOOKKEEPING:
        return row.get(name)
    params = row.get("params") or {}
    if name in params:
        return params[name]
    return (row.get("results") or {}).get(name)


def _summary(names, limit=60):
    """The names of ``names`` for a message: each series once as ``name[first..last]``."""
    out, series = [], {}
    for n in names:
        m = _SERIES.match(n)
        if m is None:
            out.append(n)
            continue
        if m.group(1) not in series:
            series[m.group(1)] = []
            out.append(m.group(1))
        series[m.group(1)].append(int(m.group(2)))
    shown = [f"{n}[{min(series[n])}..{max(series[n])}]" if n in series else n for n in out]
    more = len(shown) - limit
    return ", ".join(shown[:limit]) + (f", ... ({more} more)" if more > 0 else "")


def _pattern(text):
    # only * and ? are wildcards: a series index in brackets is literal
    return re.compile("^" + re.escape(text).replace(r"\*", ".*").replace(r"\?", ".") + "$")


def resolve_columns(patterns, available, *, what="columns"):
    """Expand column names and glob patterns against the available columns.

    Parameters
    ----------
    patterns : iterable of str
        Names, or patterns with ``*`` and ``?`` (``"method.*"``, ``"test_mse[*]"``); brackets
        are literal. A comma separates several in one string.
    available : list of str
        From :func:`available_columns`, in their display order.
    what : str, default="columns"
        The name of the argument, for messages (e.g. ``"--columns"``).

    Returns
    -------
    list of str
        The matching columns, in the order of the patterns, each pattern's matches in the
        order of ``available``, without repeats.

    Raises
    ------
    ValueError
        Naming a pattern that matches nothing and listing the available columns.
    """
    out = []
    for item in patterns:
        for text in (p.strip() for p in str(item).split(",")):
            if not text:
                continue
            if text in available:
                matched = [text]
            else:
                rx = _pattern(text)
                matched = [c for c in available if rx.match(c)]
            if not matched:
                raise ValueError(f"{what}: {text!r} matches no column; available: "
                                 f"{_summary(available)}")
            out += [c for c in matched if c not in out]
    return out


# ---------------------------------------------------------------------------------------------
# filters
# ---------------------------------------------------------------------------------------------
def _parse_value(text):
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _is_number(v):
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _equal(a, b, rel=1e-9, abs_=1e-12):
    if _is_number(a) and _is_number(b):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel, abs_tol=abs_)
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return json.dumps(a) == json.dumps(b)
    return a == b


@dataclass(frozen=True)
class Condition:
    """One filter ``column OP value`` of :func:`filter_rows`.

    Attributes
    ----------
    column : str
    op : {"=", "!=", "<", "<=", ">", ">="}
    values : tuple
        One value, or (for ``=`` and ``!=``) several alternatives: ``=`` matches any,
        ``!=`` matches none.
    text : str
        The expression as given.
    """

    column: str
    op: str
    values: tuple
    text: str = field(default="", compare=False)

    def matches(self, value):
        """Whether a row's ``value`` of the column satisfies the condition.

        Numbers compare with a relative tolerance of 1e-9 (``0.1`` matches
        ``0.30000000000000004 / 3``; ``16`` matches ``16.0``); a missing value matches
        ``= none`` only and fails every order comparison.
        """
        if self.op in ("=", "!="):
            hit = any(_equal(value, v) if v is not None else value is None
                      for v in self.values)
            return hit if self.op == "=" else not hit
        (v,) = self.values
        if _is_number(value) and _is_number(v):
            if math.isnan(value):
                return False
            if _equal(value, v):
                return self.op in ("<=", ">=")
        elif not (isinstance(value, str) and isinstance(v, str)):
            return False
        return {"<": value < v, "<=": value <= v, ">": value > v, ">=": value >= v}[self.op]


def parse_where(expressions, *, what="where"):
    """Parse filter expressions ``COLUMN=VALUE`` (also ``!=``, ``<``, ``<=``, ``>``, ``>=``).

    Parameters
    ----------
    expressions : iterable of str
        E.g. ``"method.epsilon=0.1"``, ``"method.epsilon=0.01,0.05"`` (either value),
        ``"data.n_samples>=100"``, ``"status=done"``. Values are numbers, ``true``/``false``,
        ``none``, or text.
    what : str, default="where"
        The name of the argument, for messages.

    Returns
    -------
    list of Condition
        All must hold (AND).

    Raises
    ------
    ValueError
        Naming an expression without an operator, column or value.
    """
    out = []
    for text in expressions:
        m = _WHERE.match(text)
        if m is None or not m.group(3):
            raise ValueError(f"{what}: {text!r} is not COLUMN=VALUE; operators: "
                             f"{', '.join(_OPS)} (e.g. method.epsilon=0.1)")
        column, op, raw = m.groups()
        op = "=" if op == "==" else op
        parts = [p.strip() for p in raw.split(",")] if op in ("=", "!=") else [raw]
        if any(not p for p in parts):
            raise ValueError(f"{what}: {text!r} has an empty value")
        values = tuple(_parse_value(p) for p in parts)
        if op not in ("=", "!=") and not (_is_number(values[0]) or isinstance(values[0], str)):
            raise ValueError(f"{what}: {text!r}: {op} needs a number or text")
        out.append(Condition(column, op, values, text))
    return out


def filter_rows(rows, where, available=None, *, what="where"):
    """The rows satisfying every condition.

    Parameters
    ----------
    rows : list of dict
    where : list of Condition or str
        Strings are parsed by :func:`parse_where`.
    available : list of str, optional
        Columns to check the conditions' columns against (default: those of ``rows``).
    what : str, default="where"

    Returns
    -------
    list of dict

    Raises
    ------
    ValueError
        Naming a column that is not available.
    """
    conditions = [c if isinstance(c, Condition) else parse_where([c], what=what)[0]
                  for c in where]
    available = available_columns(rows) if available is None else available
    for c in conditions:
        if c.column not in available:
            raise ValueError(f"{what}: {c.text or c.column!r}: unknown column {c.column!r}; "
                             f"available: {_summary(available)}")
    return [r for r in rows if all(c.matches(_value(r, c.column)) for c in conditions)]


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def _finite_or_none(v):
    return None if isinstance(v, float) and math.isnan(v) else v


@dataclass(frozen=True)
class ResultTable:
    """A table read from a results store: its header and rows, and how it was made.

    Attributes
    ----------
    header : list of str
        Column names: the group columns, then ``"COLUMN:AGG"`` for each value column and
        aggregate (or the chosen columns themselves for :func:`select`).
    data : list of list
        One list per group (or row), aligned with ``header``; None for a missing value.
    group_by : tuple of str
    columns : tuple of str
        The value columns.
    agg : tuple of str
        The aggregates (empty for :func:`select`).
    n_rows : int
        Number of store rows the table was made from.
    """

    header: list
    data: list
    group_by: tuple = ()
    columns: tuple = ()
    agg: tuple = ()
    n_rows: int = 0

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        kind = (f"groups by {list(self.group_by)}" if self.group_by else "one group") \
            if self.agg else "rows"
        return (f"ResultTable({len(self.data)} {kind}, {len(self.header)} columns "
                f"{self.header[:6]}{' ...' if len(self.header) > 6 else ''}, "
                f"from {self.n_rows} rows)")

    def column(self, name):
        """The values of one column, as a list.

        Raises
        ------
        KeyError
            Naming the column and listing the header.
        """
        if name not in self.header:
            raise KeyError(f"{name!r} is not a column; columns: {', '.join(self.header)}")
        i = self.header.index(name)
        return [line[i] for line in self.data]

    def records(self):
        """The rows as dicts ``{column: value}``."""
        return [dict(zip(self.header, line)) for line in self.data]

    def to_json(self):
        """A JSON document: ``{"group_by", "columns", "agg", "n_rows", "header", "rows"}``.

        ``rows`` is a list of objects; missing values are null and infinities the strings
        ``"inf"``/``"-inf"`` (as in the store).
        """
        def cell(v):
            if isinstance(v, float) and math.isinf(v):
                return "inf" if v > 0 else "-inf"
            return _finite_or_none(v)

        doc = {"group_by": list(self.group_by), "columns": list(self.columns),
               "agg": list(self.agg), "n_rows": self.n_rows, "header": list(self.header),
               "rows": [{k: cell(v) for k, v in zip(self.header, line)}
                        for line in self.data]}
        return json.dumps(doc, indent=1, allow_nan=False)

    def write_csv(self, fh):
        """Write the table as CSV to an open text file; numbers at full precision.

        Returns
        -------
        int
            Number of data rows written.
        """
        import csv

        def cell(v):
            v = _finite_or_none(v)
            if v is None:
                return ""
            if isinstance(v, float):
                return repr(v)
            if isinstance(v, (list, dict)):
                return json.dumps(v)
            return v

        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows([[cell(v) for v in line] for line in self.data])
        return len(self.data)


def select(rows, columns, *, available=None):
    """One line per row with the chosen columns (no aggregation).

    Parameters
    ----------
    rows : list of dict
    columns : list of str
        Column names or patterns (:func:`resolve_columns`).
    available : list of str, optional
        The columns the names may take (default: those of ``rows``); give those of the
        unfiltered rows to check names against a selection that may be empty.

    Returns
    -------
    ResultTable
    """
    available = available_columns(rows) if available is None else available
    cols = resolve_columns(columns, available)
    return ResultTable(header=list(cols), data=[[_value(r, c) for c in cols] for r in rows],
                       columns=tuple(cols), n_rows=len(rows))


def parse_agg(agg, *, what="agg"):
    """Aggregate names from a list or a comma-separated string.

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        Naming an unknown aggregate and listing :data:`AGGREGATES`.
    """
    names = agg.split(",") if isinstance(agg, str) else [
        p for a in agg for p in str(a).split(",")]
    out = []
    for n in (p.strip().lower() for p in names):
        if n not in AGGREGATES:
            raise ValueError(f"{what}: unknown aggregate {n!r}; allowed: {', '.join(AGGREGATES)}"
                             " (comma-separated)")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError(f"{what}: no aggregate given; allowed: {', '.join(AGGREGATES)}")
    return tuple(out)


def _hashable(v):
    return json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def _order(v):
    if v is None:
        return (3, "")
    if isinstance(v, bool) or _is_number(v):
        return (0, float(v), "") if not math.isnan(float(v)) else (1, math.inf, "")
    if isinstance(v, str):
        return (2, 0.0, v)
    return (2, 0.0, json.dumps(v, sort_keys=True))


def _statistics(values, agg):
    """The aggregates of one group's values of one column."""
    present = [v for v in values if v is not None
               and not (isinstance(v, float) and math.isnan(v))]
    count = len(present)
    numeric = all(_is_number(v) or isinstance(v, bool) for v in present)
    x = np.asarray(present, dtype=np.float64) if numeric and count else None
    out = []
    for a in agg:
        if a == "count":
            out.append(count)
        elif x is None or (a in ("se", "std") and count < 2):
            out.append(None)
        elif a == "mean":
            out.append(float(np.mean(x)))
        elif a == "std":
            out.append(float(np.std(x, ddof=1)))
        elif a == "se":
            out.append(float(np.std(x, ddof=1) / math.sqrt(count)))
        elif a == "min":
            out.append(float(np.min(x)))
        elif a == "max":
            out.append(float(np.max(x)))
        else:  # median
            out.append(float(np.median(x)))
    return [_finite_or_none(v) for v in out]


def aggregate(rows, columns=None, group_by=(), agg=DEFAULT_AGG, *, available=None):
    """Group rows by parameter values and aggregate the other columns over each group.

    Parameters
    ----------
    rows : list of dict
        From :meth:`ResultStore.rows` (filter them first with :func:`filter_rows`).
    columns : list of str, optional
        Value columns: names or patterns (:func:`resolve_columns`). Default: the scalar
        results. Columns also in ``group_by`` are not aggregated.
    group_by : list of str, default=()
        Columns whose distinct values make the groups, sorted (numbers numerically). With
        none, all rows are one group.
    agg : str or list of str, default=("mean", "se", "count")
        Aggregates (:data:`AGGREGATES`), a list or a comma-separated string.
    available : list of str, optional
        The columns the names may take (default: those of ``rows``); give those of the
        unfiltered rows to check names against a selection that may be empty.

    Returns
    -------
    ResultTable
        One line per group: the group's values, then ``COLUMN:AGG`` for each value column
        and aggregate. Non-numeric value columns have only a count (their other
        aggregates are None).

    Raises
    ------
    ValueError
        For an unknown column (listing the available ones) or aggregate.

    Examples
    --------
    >>> rows = [{"key": str(s), "experiment": None, "method": "m", "seed": s,
    ...          "status": "done", "params": {"method.epsilon": e},
    ...          "results": {"err": e + s}} for e in (0.1, 0.2) for s in range(3)]
    >>> table = aggregate(rows, ["err"], group_by=["method.epsilon"], agg="mean,count")
    >>> table.header
    ['method.epsilon', 'err:mean', 'err:count']
    >>> table.data
    [[0.1, 1.1, 3], [0.2, 1.2, 3]]
    """
    available = available_columns(rows) if available is None else available
    agg = parse_agg(agg)
    group_by = resolve_columns(group_by, available, what="group_by") if group_by else []
    if columns is None:
        cols = result_columns(rows, series=False)
    else:
        cols = resolve_columns(columns, available)
    cols = [c for c in cols if c not in group_by]
    groups = {}
    for r in rows:
        values = tuple(_value(r, g) for g in group_by)
        groups.setdefault(tuple(_hashable(v) for v in values), (values, []))[1].append(r)
    if not group_by and not groups:
        groups[()] = ((), [])
    order = sorted(groups.values(), key=lambda g: [_order(v) for v in g[0]])
    header = list(group_by) + [f"{c}:{a}" for c in cols for a in agg]
    data = []
    for values, members in order:
        line = list(values)
        for c in cols:
            line += _statistics([_value(r, c) for r in members], agg)
        data.append(line)
    return ResultTable(header=header, data=data, group_by=tuple(group_by), columns=tuple(cols),
                       agg=agg, n_rows=len(rows))


# ---------------------------------------------------------------------------------------------
# series for figures
# ---------------------------------------------------------------------------------------------
def _series_names(rows):
    names = {}
    for c in result_columns(rows):
        m = _SERIES.match(c)
        if m is not None:
            names.setdefault(m.group(1), []).append(int(m.group(2)))
    return names


def metric_series(rows, x, y, group_by=()):
    """Mean, standard error and count of a metric against a parameter, one series per group.

    Parameters
    ----------
    rows : list of dict
    x : str
        A column that is not a result (usually a parameter), or ``"round"``: then ``y`` is
        the name of a per-round series (``"test_mse"``) and x is the index in its brackets.
    y : str
        A result: a scalar (``"best_test_mse"``), an element of a series
        (``"test_mse[3]"``), or with ``x="round"`` a series name.
    group_by : list of str, default=()
        Columns (names or patterns) whose values make the series.

    Returns
    -------
    list of dict
        One per group, in sorted order: ``group`` (dict column -> value), ``label`` (str),
        ``x`` (list), ``mean``, ``se`` (ndarray, NaN where undefined), ``count`` (ndarray of
        int), points sorted by x and only those with at least one value.

    Raises
    ------
    ValueError
        Naming ``x``, ``y`` or a group column that is unknown or of the wrong kind, and the
        allowed values.
    """
    available = available_columns(rows)
    results = set(result_columns(rows))
    series = _series_names(rows)
    not_results = [c for c in available if c not in results]
    group_by = resolve_columns(group_by, not_results, what="--group-by") if group_by else []
    if x == ROUND:
        if y not in series:
            hint = (f"; {y!r} is a scalar: plot it against a parameter" if y in results
                    else "")
            raise ValueError(f"--y {y!r}: with --x round, --y is a per-round series; "
                             f"available: {', '.join(sorted(series)) or 'none'}{hint}")
        long_rows = []
        for r in rows:
            res = r.get("results") or {}
            for t in series[y]:
                v = res.get(f"{y}[{t}]")
                if v is not None:
                    long_rows.append({**r, "results": {y: v, ROUND: t}})
        rows, ycol = long_rows, y
        xcol = ROUND
    else:
        if x not in not_results:
            raise ValueError(f"--x {x!r}: unknown; allowed: {ROUND} (with a series --y), "
                             f"{_summary(not_results)}")
        if y not in results:
            if y in series:
                raise ValueError(f"--y {y!r} is a per-round series: give a round "
                                 f"({y}[{series[y][-1]}]) or --x round")
            raise ValueError(f"--y {y!r}: unknown result; available: "
                             f"{_summary([c for c in available if c in results])}")
        xcol, ycol = x, y
    if xcol in group_by:
        raise ValueError(f"--group-by {xcol!r}: is --x already")
    table = aggregate(rows, [ycol], group_by=group_by + [xcol], agg=("mean", "se", "count")) \
        if rows else ResultTable(header=[], data=[])
    out, index = [], {}
    for line in table.data:
        g = tuple(_hashable(v) for v in line[: len(group_by)])
        if g not in index:
            index[g] = len(out)
            group = dict(zip(group_by, line[: len(group_by)]))
            out.append({"group": group, "label": ", ".join(f"{k}={v}" for k, v in
                                                           group.items()) or ycol,
                        "x": [], "mean": [], "se": [], "count": []})
        s = out[index[g]]
        xv, mean, se, count = line[len(group_by):]
        if not count:
            continue
        s["x"].append(xv)
        s["mean"].append(mean)
        s["se"].append(math.nan if se is None else se)
        s["count"].append(count)
    for s in out:
        s["mean"] = np.asarray(s["mean"], dtype=np.float64)
        s["se"] = np.asarray(s["se"], dtype=np.float64)
        s["count"] = np.asarray(s["count"], dtype=np.int64)
    return [s for s in out if len(s["x"])]
