"""Reading results without Python: ``hilbert-sd results`` columns, filters, groups and
aggregates, and ``hilbert-sd plot``; every aggregate is checked against numpy on the raw rows.
"""

import csv
import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments.aggregate import (
    aggregate, available_columns, filter_rows, metric_series, parse_where, resolve_columns)
from hilbert_sd.experiments.figures import plot_metric
from hilbert_sd.experiments.store import ResultStore

EPS = (0.01, 0.1, 1.0)
NS = (10, 20)
SEEDS = range(5)
ROUNDS = 12  # > 10: series columns must come in numeric, not string, order


def _rows():
    rng = np.random.default_rng(0)
    rows, pos = [], 0
    for eps in EPS:
        for n in NS:
            for seed in SEEDS:
                # eps = 1.0 collapses after round 1: its later rounds are missing
                last = 2 if eps == 1.0 else ROUNDS
                results = {"err": float(rng.normal(eps, 0.1)), "rounds": last}
                results.update({f"test_mse[{t}]": float(rng.uniform(0, 1) + t * eps)
                                for t in range(last)})
                rows.append(_row(f"k{pos}", seed, {"method.epsilon": eps,
                                                   "data.n_samples": n}, results, pos))
                pos += 1
    # a failed simulation: no results, counted in no aggregate
    rows.append(_row("kfail", 5, {"method.epsilon": 0.1, "data.n_samples": 10}, None, pos,
                     status="failed"))
    return rows


def _row(key, seed, params, results, position, status="done"):
    return {"key": key, "experiment": "a", "position": position, "method": "self_distill",
            "seed": seed, "group_key": "g", "status": status,
            "error": None if status == "done" else "E: boom", "warnings": [],
            "config": {"seed": seed}, "params": {"seed": seed, "method.name": "self_distill",
                                                 "method.mode": "budget", **params},
            "results": results, "version": "0", "started_at": "t", "finished_at": "t",
            "duration": 0.01, "host": "h", "pid": 1}


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.db"
    with ResultStore(path) as store:
        store.write(_rows())
        store.add_members("b", [(r["key"], r["position"]) for r in _rows()
                                if r["params"]["method.epsilon"] == 0.01])
    return path


def stored(db, **kw):
    with ResultStore(db, create=False) as store:
        return store.rows(**kw)


def cli(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert status == 0, out.err
    return out


def numpy_stats(values):
    x = np.array([v for v in values if v is not None], dtype=float)
    if len(x) == 0:
        return None, None, 0
    se = np.std(x, ddof=1) / np.sqrt(len(x)) if len(x) > 1 else None
    return np.mean(x), se, len(x)


def check_group(record, members, column):
    mean, se, count = numpy_stats([(r["results"] or {}).get(column) for r in members])
    assert record[f"{column}:count"] == count
    if mean is None:
        assert record[f"{column}:mean"] is None
    else:
        assert record[f"{column}:mean"] == pytest.approx(mean, rel=1e-12)
        assert record[f"{column}:se"] == pytest.approx(se, rel=1e-12)


# ---------------------------------------------------------------------------------------------
# the library
# ---------------------------------------------------------------------------------------------
def test_aggregate_equals_numpy_on_the_raw_rows(db):
    rows = stored(db)
    table = aggregate(rows, ["err", "test_mse[*]"], group_by=["method.epsilon",
                                                             "data.n_samples"])
    series = [f"test_mse[{t}]" for t in range(ROUNDS)]
    assert table.columns == ("err", *series)
    assert table.header[:4] == ["method.epsilon", "data.n_samples", "err:mean", "err:se"]
    assert [line[:2] for line in table.data] == [[e, n] for e in EPS for n in NS]
    for record in table.records():
        members = [r for r in rows if r["params"]["method.epsilon"] == record["method.epsilon"]
                   and r["params"]["data.n_samples"] == record["data.n_samples"]]
        assert len(members) == 5 + (record["method.epsilon"] == 0.1
                                    and record["data.n_samples"] == 10)
        for column in ("err", *series):
            check_group(record, members, column)
    # rounds after the collapse: no values, count 0
    last = table.records()[-1]
    assert last["test_mse[5]:count"] == 0 and last["test_mse[5]:mean"] is None
    # no group: one line over every row; other aggregates
    (line,) = aggregate(rows, ["err"], agg="mean,std,min,max,median,count").data
    err = np.array([r["results"]["err"] for r in rows if r["results"]])
    assert line == pytest.approx([err.mean(), err.std(ddof=1), err.min(), err.max(),
                                  np.median(err), len(err)], rel=1e-12)
    assert "6 groups" in repr(table)


def test_column_patterns_and_errors(db):
    available = available_columns(stored(db))
    assert resolve_columns(["test_mse[*]"], available) == [f"test_mse[{t}]"
                                                           for t in range(ROUNDS)]
    assert resolve_columns(["method.*", "seed"], available) == [
        "method.epsilon", "method.mode", "seed"]
    assert resolve_columns(["test_mse[1?]", "test_mse[1]"], available) == [
        "test_mse[10]", "test_mse[11]", "test_mse[1]"]
    assert resolve_columns(["err,rounds"], available) == ["err", "rounds"]
    with pytest.raises(ValueError, match=r"'nope' matches no column; available: key, .*"
                                         r"test_mse\[0\.\.11\]"):
        resolve_columns(["nope"], available)


def test_filters_compare_numbers_with_a_tolerance():
    rows = [_row(f"k{i}", 0, {"method.epsilon": eps, "data.n_samples": n}, {"e": 1.0}, i)
            for i, (eps, n) in enumerate([(0.1, 10), (0.30000000000000004 / 3, 20.0),
                                          (0.2, 30), (1e-3, 40)])]

    def keys(*exprs):
        return [r["key"] for r in filter_rows(rows, parse_where(exprs))]

    assert keys("method.epsilon=0.1") == ["k0", "k1"]
    assert keys("data.n_samples=20") == ["k1"]
    assert keys("method.epsilon=0.1,0.2") == ["k0", "k1", "k2"]
    assert keys("method.epsilon!=0.1") == ["k2", "k3"]
    assert keys("data.n_samples>=20", "method.epsilon<0.2") == ["k1", "k3"]
    assert keys("method.epsilon<=0.1") == ["k0", "k1", "k3"]
    assert keys("status=done", "method=self_distill") == ["k0", "k1", "k2", "k3"]
    with pytest.raises(ValueError, match="unknown column 'nope'"):
        filter_rows(rows, parse_where(["nope=1"]))
    with pytest.raises(ValueError, match="not COLUMN=VALUE"):
        parse_where(["method.epsilon"])


# ---------------------------------------------------------------------------------------------
# hilbert-sd results
# ---------------------------------------------------------------------------------------------
def test_results_group_by_json_equals_numpy(db, capsys):
    out = cli(capsys, "results", db, "--group-by", "method.epsilon", "--columns", "err",
              "test_mse[0]", "--json")
    doc = json.loads(out.out)
    assert doc["group_by"] == ["method.epsilon"] and doc["agg"] == ["mean", "se", "count"]
    assert doc["header"] == ["method.epsilon", "err:mean", "err:se", "err:count",
                             "test_mse[0]:mean", "test_mse[0]:se", "test_mse[0]:count"]
    rows = stored(db)
    assert [r["method.epsilon"] for r in doc["rows"]] == list(EPS)
    for record in doc["rows"]:
        members = [r for r in rows if r["params"]["method.epsilon"] == record["method.epsilon"]]
        check_group(record, members, "err")
        check_group(record, members, "test_mse[0]")


def test_results_where_and_experiment(db, capsys):
    out = cli(capsys, "results", db, "--group-by", "data.n_samples", "--columns", "err",
              "--where", "method.epsilon=0.01,1.0", "--where", "seed<4", "--json")
    doc = json.loads(out.out)
    rows = [r for r in stored(db) if r["params"]["method.epsilon"] in (0.01, 1.0)
            and r["seed"] < 4]
    assert [r["err:count"] for r in doc["rows"]] == [8, 8]
    for record in doc["rows"]:
        check_group(record, [r for r in rows if r["params"]["data.n_samples"]
                             == record["data.n_samples"]], "err")
    # --experiment reads the memberships: b holds the eps = 0.01 rows only
    doc = json.loads(cli(capsys, "results", db, "--experiment", "b", "--group-by",
                         "method.epsilon", "--agg", "count", "--columns", "err",
                         "--json").out)
    assert doc["rows"] == [{"method.epsilon": 0.01, "err:count": 10}]


def test_results_text_table_and_plain_mode(db, capsys):
    out = cli(capsys, "results", db, "--group-by", "method.epsilon", "--columns", "err",
              "--agg", "mean,count").out.splitlines()
    assert out[0].split() == ["method.epsilon", "err:mean", "err:count"]
    assert [line.split()[0] for line in out[2:5]] == ["0.01", "0.1", "1"]
    assert out[-1] == "3 group(s) from 31 row(s)"
    # --columns without grouping: one line per row
    out = cli(capsys, "results", db, "--columns", "seed", "err", "--where", "seed=3",
              "--limit", "2").out.splitlines()
    assert out[0].split() == ["seed", "err"] and len(out) == 2 + 2 + 1
    assert out[-1] == "6 row(s); 2 shown; 6 of 31 match --where"
    # today's table without the new flags
    out = cli(capsys, "results", db, "--limit", "3").out.splitlines()
    assert out[0].split()[:5] == ["key", "experiment", "method", "seed", "status"]
    assert len(out) == 2 + 3 + 1 and out[-1].startswith("31 row(s); 3 shown")
    doc = json.loads(cli(capsys, "results", db, "--json").out)
    assert len(doc["rows"]) == 31 and "test_mse[11]" in doc["header"]
    out = cli(capsys, "results", db, "--json", "--experiment", "b", "--status", "failed")
    assert json.loads(out.out)["rows"] == [] and "no matching rows" in out.err


def test_results_csv(db, tmp_path, capsys):
    path = tmp_path / "agg.csv"
    out = cli(capsys, "results", db, "--group-by", "method.epsilon", "data.n_samples",
              "--columns", "test_mse[*]", "--csv", path)
    assert f"wrote 6 rows to {path}" in out.err
    with open(path, newline="") as fh:
        lines = list(csv.DictReader(fh))
    table = aggregate(stored(db), ["test_mse[*]"], group_by=["method.epsilon",
                                                            "data.n_samples"])
    assert list(lines[0]) == table.header
    for line, record in zip(lines, table.records(), strict=True):
        for k, v in record.items():
            assert line[k] == ("" if v is None else str(v)), k  # full precision, None empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agg.csv", "s.db"]
    # without --columns/--group-by/--agg, --csv is the full tidy table (filtered by --where)
    cli(capsys, "results", db, "--csv", tmp_path / "all.csv", "--where", "data.n_samples=10")
    with open(tmp_path / "all.csv", newline="") as fh:
        lines = list(csv.DictReader(fh))
    assert len(lines) == 16 and {line["data.n_samples"] for line in lines} == {"10"}


def test_sweep_then_results_and_plot(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("g.toml").write_text(textwrap.dedent("""
        [experiment]
        name = "g"
        seeds = 3
        [data]
        generator = "sine"
        n_samples = 12
        label_noise = 0.1
        n_test = 20
        [kernel]
        name = "rbf"
        gamma = 30.0
        [method]
        name = "self_distill"
        epsilon = [0.01, 0.05]
        n_rounds = 2
        """))
    cli(capsys, "sweep", "g.toml", "--store", "g.db", "-q")
    doc = json.loads(cli(capsys, "results", "g.db", "--group-by", "method.epsilon",
                         "--columns", "test_mse[2]", "--json").out)
    rows = stored("g.db")
    for record in doc["rows"]:
        check_group(record, [r for r in rows if r["params"]["method.epsilon"]
                             == record["method.epsilon"]], "test_mse[2]")
    out = cli(capsys, "plot", "g.db", "--x", "round", "--y", "test_mse", "--group-by",
              "method.epsilon")
    assert out.out.strip() == "test_mse_vs_round.png"
    assert Path("test_mse_vs_round.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------
# hilbert-sd plot
# ---------------------------------------------------------------------------------------------
def _lines(fig):
    from matplotlib.container import ErrorbarContainer

    (ax,) = fig.axes
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    return ax, containers


def test_plot_metric_draws_the_aggregated_means(db):
    rows = [r for r in stored(db) if r["status"] == "done"]
    fig = plot_metric(rows, "method.epsilon", "err", group_by=["data.n_samples"], logx=True)
    ax, containers = _lines(fig)
    assert len(containers) == 2 and ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "data.n_samples=10", "data.n_samples=20"]
    for n, c in zip(NS, containers):
        line = c.lines[0]
        assert list(line.get_xdata()) == list(EPS)
        for eps, y, segment in zip(EPS, line.get_ydata(), c.lines[2][0].get_segments()):
            mean, se, _ = numpy_stats([r["results"]["err"] for r in rows
                                       if r["params"]["method.epsilon"] == eps
                                       and r["params"]["data.n_samples"] == n])
            assert y == pytest.approx(mean, rel=1e-12)
            assert segment[:, 1] == pytest.approx([mean - se, mean + se], rel=1e-12)


def test_plot_metric_per_round_series(db):
    rows = stored(db)
    fig = plot_metric(rows, "round", "test_mse", group_by=["method.epsilon"], logy=True)
    ax, containers = _lines(fig)
    assert len(containers) == 3 and len(ax.get_lines()) >= 3
    for eps, c in zip(EPS, containers):
        x, y = c.lines[0].get_xdata(), c.lines[0].get_ydata()
        assert list(x) == list(range(2 if eps == 1.0 else ROUNDS))
        for t, yt in zip(x, y):
            mean, _, count = numpy_stats([r["results"].get(f"test_mse[{t}]") for r in rows
                                          if r["results"]
                                          and r["params"]["method.epsilon"] == eps])
            assert yt == pytest.approx(mean, rel=1e-12) and count == 10
    series = metric_series(rows, "method.epsilon", "test_mse[3]")
    assert len(series) == 1 and list(series[0]["x"]) == [0.01, 0.1]  # 1.0 has no round 3
    assert list(series[0]["count"]) == [10, 10]


def test_plot_command_writes_a_png(db, tmp_path, capsys):
    import matplotlib.image

    png = tmp_path / "fig.png"
    out = cli(capsys, "plot", db, "--x", "method.epsilon", "--y", "test_mse[1]",
              "--group-by", "data.n_samples", "--out", png, "--logx")
    assert out.out.strip() == str(png)
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.png", "s.db"]


# ---------------------------------------------------------------------------------------------
# bad command lines: exit 2, one line naming the flag, nothing created
# ---------------------------------------------------------------------------------------------
BAD = [
    (("results", "{db}", "--limit", "-1"), "--limit", "integer >= 0"),
    (("results", "{db}", "--limit", "many"), "--limit", "integer >= 0"),
    (("results", "{db}", "--agg", "mean,mode"), "--agg", "allowed: mean, se"),
    (("results", "{db}", "--columns", "nope"), "--columns", "available: key"),
    (("results", "{db}", "--group-by", "method.eps"), "--group-by", "method.epsilon"),
    (("results", "{db}", "--where", "method.epsilon"), "--where", "COLUMN=VALUE"),
    (("results", "{db}", "--where", "gamma=1", "--csv", "{tmp}/x.csv"), "--where",
     "unknown column 'gamma'"),
    (("results", "{db}", "--columns", "err", "--csv", "{tmp}/no/x.csv"), "--csv",
     "does not exist"),
    (("results", "{db}", "--csv", "{tmp}"), "--csv", "is a directory"),
    (("results", "{db}", "--csv", "{tmp}/x.csv", "--json"), "--json", "not allowed"),
    (("results", "{db}", "--experiment", "c", "--csv", "{tmp}/x.csv"), "--experiment",
     "its experiments: a, b"),
    (("results", "{db}", "--salvage", "{tmp}/new.db", "--group-by", "seed"), "--salvage",
     "--group-by"),
    (("results", "{db}", "--wide", "--columns", "err"), "--wide", "--columns"),
    (("results", "{tmp}/missing.db", "--group-by", "seed"), "missing.db", "not found"),
    (("plot", "{tmp}/missing.db", "--x", "seed", "--y", "err"), "missing.db", "not found"),
    (("plot", "{db}", "--y", "err"), "--x", "required"),
    (("plot", "{db}", "--x", "gamma", "--y", "err", "--out", "{tmp}/p.png"), "--x",
     "allowed: round"),
    (("plot", "{db}", "--x", "seed", "--y", "loss", "--out", "{tmp}/p.png"), "--y",
     "available: err, rounds"),
    (("plot", "{db}", "--x", "seed", "--y", "test_mse", "--out", "{tmp}/p.png"), "--y",
     "--x round"),
    (("plot", "{db}", "--x", "round", "--y", "err", "--out", "{tmp}/p.png"), "--y",
     "available: test_mse"),
    (("plot", "{db}", "--x", "seed", "--y", "err", "--out", "{tmp}/p.jpg"), "--out",
     "allowed: .png, .pdf, .svg"),
    (("plot", "{db}", "--x", "seed", "--y", "err", "--out", "{tmp}/no/p.png"), "--out",
     "does not exist"),
    (("plot", "{db}", "--x", "seed", "--y", "err", "--logx", "--out", "{tmp}/p.png"),
     "--logx", "> 0"),
    (("plot", "{db}", "--x", "seed", "--y", "err", "--group-by", "zz", "--out",
      "{tmp}/p.png"), "--group-by", "matches no column"),
    (("plot", "{db}", "--x", "seed", "--y", "err", "--where", "seed>9", "--out",
      "{tmp}/p.png"), "--where", "no row matches"),
    (("plot", "{db}", "--x", "seed", "--y", "err", "--experiment", "zz", "--out",
      "{tmp}/p.png"), "--experiment", "its experiments"),
]


@pytest.mark.parametrize("argv, flag, allowed", BAD, ids=[" ".join(b[0][2:4]) or b[0][0]
                                                          for b in BAD])
def test_bad_command_lines(db, tmp_path, capsys, argv, flag, allowed):
    before = sorted(os.listdir(tmp_path))
    status = main([a.format(db=db, tmp=tmp_path) for a in argv])
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("error: ") and flag in err and allowed in err, err
    assert sorted(os.listdir(tmp_path)) == before  # no output, no store, no temporary
    assert captured.out == ""
