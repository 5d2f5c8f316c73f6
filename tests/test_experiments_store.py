"""The SQLite results store: schema, round trips, upserts, concurrent writers, bad files."""

import math
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments.store import ResultStore


def row(key, **extra):
    base = {"key": key, "experiment": "e", "position": 0, "method": "m", "seed": 0,
            "group_key": "g", "status": "done", "config": {"seed": 0},
            "params": {"method.x": 1.0}, "results": {"a": 1.5, "b[0]": math.inf},
            "version": "0", "started_at": "t0", "finished_at": "t1", "duration": 0.1}
    base.update(extra)
    return base


def test_round_trip_and_wal(tmp_path):
    path = tmp_path / "s.db"
    with ResultStore(path) as store:
        store.write([row("k1"), row("k2", status="failed", error="E: boom", results=None)])
        rows = {r["key"]: r for r in store.rows()}
        assert store.count() == 2 and store.count("failed") == 1
        assert store.statuses() == {"k1": "done", "k2": "failed"}
        assert store.info()["schema_version"] == "2"
    assert rows["k1"]["results"] == {"a": 1.5, "b[0]": math.inf}
    assert rows["k1"]["params"] == {"method.x": 1.0} and rows["k1"]["warnings"] == []
    assert rows["k2"]["error"] == "E: boom" and rows["k2"]["results"] is None
    # a plain sqlite3 client sees WAL mode and strict JSON (no bare Infinity)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    (text,) = conn.execute("SELECT results FROM simulations WHERE key='k1'").fetchone()
    assert conn.execute("SELECT json_valid(?)", (text,)).fetchone()[0] == 1
    conn.close()


def test_upsert_replaces_never_duplicates(tmp_path):
    with ResultStore(tmp_path / "s.db") as store:
        store.write([row("k1", status="failed", error="E: first")])
        store.write([row("k1", results={"a": 2.0})])
        (only,) = store.rows()
    assert only["status"] == "done" and only["error"] is None and only["results"] == {"a": 2.0}


def test_a_failed_write_is_rolled_back_entirely(tmp_path):
    with ResultStore(tmp_path / "s.db") as store:
        store.write([row("k0")])
        with pytest.raises(sqlite3.IntegrityError):
            # the second row violates the status CHECK: the first must not be written either
            store.write([row("k1"), row("k2", status="running")])
        assert store.statuses() == {"k0": "done"}


WRITER = textwrap.dedent("""
    import sys
    from hilbert_sd.experiments.store import ResultStore
    path, who, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    store = ResultStore(path, timeout=60)
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for i in range(n):
        # keys 0..n-1 are shared by every writer (upserts), the others are private
        key = f"shared-{i}" if i % 2 == 0 else f"w{who}-{i}"
        store.write([{"key": key, "experiment": "e", "position": i, "method": "m",
                      "seed": who, "group_key": "g", "status": "done", "config": {},
                      "params": {"writer": who}, "results": {"i": i, "who": who},
                      "version": "0", "started_at": "t", "finished_at": "t",
                      "duration": 0.0}])
    store.close()
""")


def test_concurrent_writers(tmp_path):
    path = tmp_path / "shared.db"
    n_writers, n_rows = 4, 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w), str(n_rows)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for w in range(n_writers)]
    for p in procs:
        assert p.stdout.readline().strip() == "ready"
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    with ResultStore(path) as store:
        assert store.integrity_check() == "ok"
        rows = store.rows()
    keys = [r["key"] for r in rows]
    expected = {f"shared-{i}" for i in range(0, n_rows, 2)} | {
        f"w{w}-{i}" for w in range(n_writers) for i in range(1, n_rows, 2)}
    assert len(keys) == len(set(keys)) == len(expected)
    assert set(keys) == expected
    for r in rows:  # every row is whole: its columns come from one single write
        assert r["results"] == {"i": r["position"], "who": r["seed"]}
        assert r["params"] == {"writer": r["seed"]}


def test_not_a_store(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite " * 100)
    with pytest.raises(ValueError, match="not a hilbert_sd results store"):
        ResultStore(junk)
    assert main(["results", str(junk)]) == 2
    assert "not a hilbert_sd results store" in capsys.readouterr().err
    assert main(["results", str(tmp_path / "missing.db")]) == 2
    assert "results store not found" in capsys.readouterr().err
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ValueError, match="no simulations table"):
        ResultStore(other, create=False)


def test_schema_version_is_checked(tmp_path):
    path = tmp_path / "s.db"
    ResultStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE store_info SET value = '99' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ValueError, match="schema version 99"):
        ResultStore(path)
