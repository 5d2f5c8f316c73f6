"""The results store under attack, through the command line: shared simulations of two
experiments, a damaged file and its salvage, read-only and unwritable places, foreign and
older files, a full disk, atomic exports and the shared-memory folders of killed sweeps.

Each failure of issue 13's list is checked where a user meets it: exit status 2, one line on
stderr naming the problem (no traceback), and nothing created that was not there before.
"""

import csv
import errno
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import tomllib
from pathlib import Path

import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments import store as store_mod
from hilbert_sd.experiments.store import ResultStore, salvage

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

CONFIG = """
[experiment]
name = "{name}"
seeds = {seeds}

[data]
generator = "sine"
n_samples = 16
label_noise = 0.1
n_test = 20

[kernel]
name = "rbf"
gamma = 30.0

[method]
name = "self_distill"
epsilon = {eps}
n_rounds = 2
"""


def write_config(directory, name, seeds=4, eps="[0.01, 0.05]"):
    path = Path(directory) / f"{name}.toml"
    path.write_text(textwrap.dedent(CONFIG.format(name=name, seeds=seeds, eps=eps)))
    return path


def cli_error(capsys, *argv):
    """Run the CLI expecting exit status 2; return its one-line error."""
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def cli_ok(capsys, *argv):
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    assert status == 0, out.err
    return out


def csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS), env.get("PYTHONPATH", "")])
    return env


def _files(directory):
    return sorted(p.name for p in Path(directory).iterdir())


# ---------------------------------------------------------------------------------------------
# experiments sharing simulations
# ---------------------------------------------------------------------------------------------
def test_two_sweeps_sharing_simulations_both_see_all_their_rows(tmp_path, capsys):
    # a and b share epsilon = 0.05 (8 simulations of 16 each): b resumes on a's store
    a = write_config(tmp_path, "a", eps="[0.01, 0.05]")
    b = write_config(tmp_path, "b", eps="[0.05, 0.1]")
    db = tmp_path / "s.db"
    cli_ok(capsys, "sweep", a, "--store", db, "-q", "--table", tmp_path / "a.csv")
    cli_ok(capsys, "sweep", b, "--store", db, "-q", "--resume", "--table", tmp_path / "b.csv")
    assert len(csv_rows(tmp_path / "a.csv")) == 8
    assert len(csv_rows(tmp_path / "b.csv")) == 8  # 4 run by b, 4 run by a and shared
    with ResultStore(db, create=False) as store:
        assert store.count() == 12
        assert store.experiments() == {"a": 8, "b": 8}
        shared = [r for r in store.rows() if r["experiments"] == ["a", "b"]]
    assert len(shared) == 4
    assert {r["params"]["method.epsilon"] for r in shared} == {0.05}
    for name in ("a", "b"):
        cli_ok(capsys, "results", db, "--experiment", name, "--csv", tmp_path / f"{name}2.csv")
        rows = csv_rows(tmp_path / f"{name}2.csv")
        assert len(rows) == 8 and {r["experiment"] for r in rows} == {name}
    # a again (resumed): nothing lost from either experiment
    cli_ok(capsys, "sweep", a, "--store", db, "-q", "--resume", "--table", tmp_path / "a.csv")
    assert len(csv_rows(tmp_path / "a.csv")) == 8


def test_reproduce_reads_its_experiment_through_memberships(tmp_path, capsys, monkeypatch):
    # the store of a reproduction already holds the same simulations run under another name
    from hilbert_sd.commands.reproduce import config_path
    from hilbert_sd.experiments.config import load_config, parse_config
    from hilbert_sd.experiments.runner import run_sweep

    raw = tomllib.loads(config_path("self-distillation").read_text())
    raw["experiment"]["name"] = "someone-else"
    raw["output"] = {}
    other = parse_config(raw, base_dir=config_path("self-distillation").parent)
    out = tmp_path / "rep"
    out.mkdir()
    with ResultStore(out / "results.db") as store:
        run_sweep(other, store, progress=False)
    monkeypatch.chdir(tmp_path)
    cli_ok(capsys, "reproduce", "self-distillation", "--out", out, "-q")
    n = len(load_config(config_path("self-distillation")))
    assert len(csv_rows(out / "results.csv")) == n
    with ResultStore(out / "results.db", create=False) as store:
        assert store.count() == n  # every simulation reused, none run twice
        assert store.experiments() == {"self-distillation": n, "someone-else": n}


@pytest.mark.skipif(sys.platform != "linux", reason="POSIX subprocesses")
def test_concurrent_sweeps_of_two_experiments_each_keep_all_rows(tmp_path):
    a = write_config(tmp_path, "a", seeds=30, eps="[0.01, 0.05]")
    b = write_config(tmp_path, "b", seeds=30, eps="[0.05, 0.1]")
    db = tmp_path / "s.db"
    procs = [subprocess.Popen([sys.executable, "-m", "hilbert_sd", "sweep", str(cfg), "--store",
                               str(db), "-q", "--resume", "--table", str(tmp_path / f"{n}.csv")],
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
             for n, cfg in (("a", a), ("b", b))]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with ResultStore(db, create=False) as store:
        assert store.experiments() == {"a": 60, "b": 60}
        assert store.count() == 90
        assert store.count(experiment="a") == store.count(experiment="b") == 60


# ---------------------------------------------------------------------------------------------
# a damaged store
# ---------------------------------------------------------------------------------------------
def _garble(path, nbytes=8192):
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(bytes((i * 37 + 11) % 256 for i in range(nbytes)))


def test_damaged_store_is_refused_then_salvaged(tmp_path, capsys):
    cfg = write_config(tmp_path, "big", seeds=60, eps="[0.01, 0.02, 0.05, 0.1]")
    db = tmp_path / "s.db"
    cli_ok(capsys, "sweep", cfg, "--store", db, "-q")
    _garble(db)
    before = db.read_bytes()
    err = cli_error(capsys, "sweep", cfg, "--store", db, "-q", "--resume")
    assert str(db) in err and "damaged" in err and f"results {db} --salvage NEW.db" in err
    err = cli_error(capsys, "results", db)
    assert str(db) in err and "--salvage" in err
    assert db.read_bytes() == before  # refusing never writes

    new = tmp_path / "new.db"
    out = cli_ok(capsys, "results", db, "--salvage", new)
    assert "into" in out.err and str(new) in out.err
    assert db.read_bytes() == before  # salvage reads only
    with ResultStore(new, create=False) as store:
        kept = store.count()
        assert store.integrity_check() == "ok"
        assert store.experiments() == {"big": kept}
    assert 200 <= kept < 240  # 8 KB of garbage costs a few rows, not the store
    # the salvaged store resumes: only the lost simulations run again
    out = cli_ok(capsys, "sweep", cfg, "--store", new, "--resume", "-q")
    assert f"{240 - kept} done, 0 failed, {kept} skipped" in out.out
    # a second salvage into an existing file is refused
    err = cli_error(capsys, "results", db, "--salvage", new)
    assert "exists" in err


def test_row_that_does_not_decode_is_refused_and_left_out_by_salvage(tmp_path, capsys):
    cfg = write_config(tmp_path, "j")
    db = tmp_path / "s.db"
    cli_ok(capsys, "sweep", cfg, "--store", db, "-q")
    conn = sqlite3.connect(db)
    (key,) = conn.execute("SELECT key FROM simulations LIMIT 1").fetchone()
    conn.execute("UPDATE simulations SET results = '{\"test_mse[0]\": 0.1' WHERE key = ?", (key,))
    conn.commit()
    conn.close()  # structurally sound: only the JSON of one row is broken
    err = cli_error(capsys, "results", db)
    assert "does not decode" in err and "--salvage" in err
    cli_error(capsys, "sweep", cfg, "--store", db, "--resume", "-q")
    new = tmp_path / "new.db"
    assert salvage(db, new)["rows"] == 7
    with ResultStore(new, create=False) as store:
        assert key not in store.statuses() and store.count() == 7


def test_not_a_database_cannot_be_salvaged(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"garbage" * 500)
    err = cli_error(capsys, "results", junk, "--salvage", tmp_path / "new.db")
    assert "not a SQLite database" in err
    assert not (tmp_path / "new.db").exists()


# ---------------------------------------------------------------------------------------------
# read-only, directories, unwritable paths, foreign and older files
# ---------------------------------------------------------------------------------------------
def test_store_in_read_only_directory_is_read_without_side_files(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, "r")
    db = tmp_path / "s.db"
    cli_ok(capsys, "sweep", cfg, "--store", db, "-q")
    before = _files(tmp_path)
    # this process may not write the directory (a read-only file system, another owner)
    monkeypatch.setattr(store_mod, "_writable_dir", lambda d: False)
    monkeypatch.setattr(store_mod.os, "access", lambda p, mode: False)
    out = cli_ok(capsys, "results", db)
    assert "8 row(s)" in out.out
    assert _files(tmp_path) == before  # no -shm, no -wal
    err = cli_error(capsys, "sweep", cfg, "--store", db, "-q", "--resume")
    assert str(db) in err and "not writable" in err
    err = cli_error(capsys, "sweep", cfg, "--store", tmp_path / "new.db", "-q")
    assert "cannot create the results store" in err
    assert _files(tmp_path) == before


def test_read_only_store_whose_wal_holds_rows_is_refused_clearly(tmp_path, capsys,
                                                                 monkeypatch):
    import shutil

    cfg = write_config(tmp_path, "w")
    db = tmp_path / "s.db"
    cli_ok(capsys, "sweep", cfg, "--store", db, "-q")
    conn = sqlite3.connect(db)  # a writer that never checkpointed (killed, say)
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    conn.execute("DELETE FROM memberships")
    conn.commit()
    ro = tmp_path / "ro"
    ro.mkdir()
    shutil.copy(db, ro / "s.db")
    shutil.copy(f"{db}-wal", ro / "s.db-wal")
    conn.close()
    assert (ro / "s.db-wal").stat().st_size > 0
    monkeypatch.setattr(store_mod, "_writable_dir", lambda d: False)
    monkeypatch.setattr(store_mod.os, "access", lambda p, mode: False)
    err = cli_error(capsys, "results", ro / "s.db")
    assert str(ro / "s.db") in err and "-wal file" in err and "copy the store" in err
    assert _files(ro) == ["s.db", "s.db-wal"]
    monkeypatch.undo()
    # in a writable directory the -wal file is read: its deletion of memberships is there
    with ResultStore(ro / "s.db", create=False) as store:
        assert store.count() == 8 and store.experiments() == {}


def _mount_tmpfs(path):
    path.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")


@pytest.mark.skipif(sys.platform != "linux", reason="mounts a read-only tmpfs")
def test_store_on_read_only_file_system(tmp_path, capsys):
    cfg = write_config(tmp_path, "ro")
    mnt = tmp_path / "mnt"
    _mount_tmpfs(mnt)
    try:
        cli_ok(capsys, "sweep", cfg, "--store", mnt / "s.db", "-q")
        assert _files(mnt) == ["s.db"]
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        proc = subprocess.run([sys.executable, "-m", "hilbert_sd", "results", str(mnt / "s.db")],
                              capture_output=True, text=True, env=_env())
        assert proc.returncode == 0, proc.stderr
        assert "8 row(s)" in proc.stdout
        err = cli_error(capsys, "sweep", cfg, "--store", mnt / "s.db", "-q", "--resume")
        assert "not writable" in err
        err = cli_error(capsys, "sweep", cfg, "--store", mnt / "t.db", "-q")
        assert "cannot create the results store" in err and "not writable" in err
        assert _files(mnt) == ["s.db"]
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_store_naming_a_directory_or_an_unwritable_path(tmp_path, capsys):
    cfg = write_config(tmp_path, "d")
    (tmp_path / "dir").mkdir()
    err = cli_error(capsys, "sweep", cfg, "--store", tmp_path / "dir", "-q")
    assert "is a directory" in err
    err = cli_error(capsys, "results", tmp_path / "dir")
    assert "is a directory" in err
    err = cli_error(capsys, "run", cfg, "--index", "0", "--store", tmp_path / "dir")
    assert "is a directory" in err
    if Path("/proc/self").exists():
        err = cli_error(capsys, "sweep", cfg, "--store", "/proc/hilbert_sd_test/x.db", "-q")
        assert "cannot create the results store" in err
    (tmp_path / "file").write_text("x")
    err = cli_error(capsys, "sweep", cfg, "--store", tmp_path / "file" / "s.db", "-q")
    assert "not a directory" in err
    assert _files(tmp_path / "dir") == []
    assert not list(tmp_path.glob("*.db"))


def test_foreign_sqlite_file_is_never_modified(tmp_path, capsys):
    cfg = write_config(tmp_path, "f")
    other = tmp_path / "app.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.execute("INSERT INTO users VALUES ('ada')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    err = cli_error(capsys, "sweep", cfg, "--store", other, "-q")
    assert str(other) in err and "not a hilbert_sd results store" in err and "users" in err
    cli_error(capsys, "results", other)
    assert other.read_bytes() == before
    tables = sqlite3.connect(other).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("users",)]


def _v1_store(path):
    """A store as hilbert_sd wrote it before memberships (schema version 1)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE simulations (key TEXT PRIMARY KEY, experiment TEXT NOT NULL,
            position INTEGER, method TEXT NOT NULL, seed INTEGER NOT NULL,
            group_key TEXT NOT NULL, status TEXT NOT NULL, error TEXT, traceback TEXT,
            warnings TEXT NOT NULL, config TEXT NOT NULL, params TEXT NOT NULL, results TEXT,
            version TEXT NOT NULL, started_at TEXT NOT NULL, finished_at TEXT NOT NULL,
            duration REAL NOT NULL, host TEXT, pid INTEGER);
        CREATE TABLE store_info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO store_info VALUES ('schema_version', '1');
    """)
    for i in range(3):
        conn.execute("INSERT INTO simulations VALUES (?, 'old', ?, 'm', ?, 'g', 'done', NULL, "
                     "NULL, '[]', '{}', '{\"method.x\": 1}', '{\"a\": \"inf\"}', '0', 't', 't', "
                     "0.5, NULL, NULL)", (f"k{i}", i, i))
    conn.commit()
    conn.close()


def test_older_schema_is_refused_and_converted_by_salvage(tmp_path, capsys):
    old = tmp_path / "old.db"
    _v1_store(old)
    before = old.read_bytes()
    for argv in (("results", old), ("sweep", write_config(tmp_path, "o"), "--store", old,
                                    "--resume", "-q")):
        err = cli_error(capsys, *argv)
        assert "schema version 1" in err and f"results {old} --salvage NEW.db" in err
    assert old.read_bytes() == before
    cli_ok(capsys, "results", old, "--salvage", tmp_path / "new.db")
    with ResultStore(tmp_path / "new.db", create=False) as store:
        rows = store.rows(experiment="old")
    assert [r["key"] for r in rows] == ["k0", "k1", "k2"]
    assert [r["position"] for r in rows] == [0, 1, 2]
    assert rows[0]["results"] == {"a": float("inf")}


# ---------------------------------------------------------------------------------------------
# a full disk
# ---------------------------------------------------------------------------------------------
def test_full_disk_stops_the_sweep_with_what_was_done_committed(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, "full", seeds=5, eps="[0.01, 0.02, 0.05, 0.1]")
    db = tmp_path / "s.db"
    real = ResultStore._write
    sizes = []

    def fills_up(self, encoded, members, only_stored=False):
        if len(sizes) == 2:  # the third write finds the disk full
            raise sqlite3.OperationalError("database or disk is full")
        real(self, encoded, members, only_stored)
        sizes.append(len(encoded))

    monkeypatch.setattr(ResultStore, "_write", fills_up)
    grid = ("--set", "data.n_samples=[12, 14, 16, 18]")  # 4 groups: 4 batches at least
    err = cli_error(capsys, "sweep", cfg, "--store", db, "-q", *grid)
    committed = sum(sizes)
    assert 0 < committed < 80
    assert "disk full" in err and str(db) in err and "--resume" in err
    assert f"stopped with {committed} of its 80" in err
    monkeypatch.undo()
    with ResultStore(db, create=False) as store:
        assert store.count() == committed == store.count(experiment="full")
        assert store.integrity_check() == "ok"
    out = cli_ok(capsys, "sweep", cfg, "--store", db, "-q", "--resume", *grid)
    assert f"{80 - committed} done, 0 failed, {committed} skipped" in out.out


def test_export_on_a_full_disk_leaves_the_previous_file(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, "x")
    db = tmp_path / "s.db"
    table = tmp_path / "table.csv"
    cli_ok(capsys, "sweep", cfg, "--store", db, "-q", "--table", table)
    before = table.read_bytes()
    assert len(csv_rows(table)) == 8

    from hilbert_sd.experiments import tables

    def half_then_full(rows, path):
        with open(path, "w") as fh:
            fh.write(before.decode()[: len(before) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tables, "write_csv", half_then_full)
    err = cli_error(capsys, "results", db, "--csv", table)
    assert str(table) in err and "No space left on device" in err
    assert table.read_bytes() == before  # not truncated
    assert _files(tmp_path) == sorted(["s.db", "table.csv", "x.toml"])  # no temporary left
    err = cli_error(capsys, "results", db, "--csv", tmp_path / "fresh.csv")
    assert not (tmp_path / "fresh.csv").exists()
    # the sweep's --table goes through the same path
    err = cli_error(capsys, "sweep", cfg, "--store", db, "-q", "--resume", "--table", table)
    assert table.read_bytes() == before


def test_export_is_renamed_into_place(tmp_path, capsys, monkeypatch):
    cfg = write_config(tmp_path, "y")
    db = tmp_path / "s.db"
    cli_ok(capsys, "sweep", cfg, "--store", db, "-q")
    replaced = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (replaced.append((a, b)), real(a, b)))
    cli_ok(capsys, "results", db, "--csv", tmp_path / "t.csv")
    ((src, dst),) = replaced
    assert Path(dst) == tmp_path / "t.csv" and Path(src).parent == tmp_path
    assert len(csv_rows(tmp_path / "t.csv")) == 8


# ---------------------------------------------------------------------------------------------
# shared memory of killed parallel sweeps
# ---------------------------------------------------------------------------------------------
def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.mark.skipif(sys.platform != "linux", reason="flock and /proc")
def test_stale_shared_folders_are_removed_only_when_dead_and_ours(tmp_path):
    import fcntl

    from hilbert_sd.experiments.runner import remove_stale_shared_folders

    dead = _dead_pid()

    def folder(name, lock=True, age=0.0):
        d = tmp_path / name
        d.mkdir()
        (d / "0.buf").write_bytes(b"x" * 100)
        if lock:
            (d / ".lock").write_bytes(b"")
        if age:
            t = time.time() - age
            os.utime(d, (t, t))
        return d

    stale = folder(f"hilbert_sd-{dead}-aaaa")
    unlocked_old = folder(f"hilbert_sd-{dead}-bbbb", lock=False, age=3600)
    unlocked_new = folder(f"hilbert_sd-{dead}-cccc", lock=False)  # maybe being created
    running = folder(f"hilbert_sd-{dead}-dddd")
    holder = open(running / ".lock")
    fcntl.flock(holder, fcntl.LOCK_EX)  # a live sweep holds its lock
    alive_pid = folder(f"hilbert_sd-{os.getppid()}-eeee", lock=False, age=3600)
    foreign = folder("other-thing")
    theirs = None
    if os.getuid() == 0:
        theirs = folder(f"hilbert_sd-{dead}-ffff")
        os.chown(theirs, 12345, 12345)
    try:
        removed = remove_stale_shared_folders(str(tmp_path))
    finally:
        holder.close()
    assert sorted(removed) == sorted([str(stale), str(unlocked_old)])
    assert not stale.exists() and not unlocked_old.exists()
    for kept in (unlocked_new, running, alive_pid, foreign):
        assert kept.exists()
    if theirs is not None:
        assert theirs.exists()


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_folders_of_the_old_naming_are_removed_when_old_and_unused(tmp_path):
    """Before PIDs were in the name, killed sweeps left ``hilbert_sd-XXXXXXXX`` folders (no
    lock) that nothing removed: now one is removed once it is older than a minute and no
    process has a file in it open or mapped."""
    from hilbert_sd.experiments.runner import remove_stale_shared_folders

    def folder(name, age):
        d = tmp_path / name
        d.mkdir()
        (d / "0.buf").write_bytes(b"x" * 4096)
        t = time.time() - age
        os.utime(d, (t, t))
        return d

    left = folder("hilbert_sd-k3_x9q2z", age=3600)
    young = folder("hilbert_sd-ab12cd34", age=0)
    opened = folder("hilbert_sd-opened00", age=3600)
    mapped = folder("hilbert_sd-mapped00", age=3600)
    other = folder("hilbert_sd-notours-xy", age=3600)  # neither naming
    # a subprocess holds one file open and maps another, as a live sweep's workers do
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import mmap, sys, time\n"
         f"f = open({str(opened / '0.buf')!r}, 'rb')\n"
         f"g = open({str(mapped / '0.buf')!r}, 'rb')\n"
         "m = mmap.mmap(g.fileno(), 0, access=mmap.ACCESS_READ); g.close()\n"
         "print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        removed = remove_stale_shared_folders(str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
    assert removed == [str(left)] and not left.exists()
    for kept in (young, opened, mapped, other):
        assert kept.exists()


@pytest.mark.skipif(not os.path.isdir("/dev/shm") or sys.platform != "linux",
                    reason="needs /dev/shm")
def test_killed_parallel_sweep_leaves_no_folder_after_the_next_one(tmp_path):
    text = textwrap.dedent("""
        [experiment]
        name = "slow"
        seeds = 400
        [data]
        generator = "sine"
        n_samples = 6
        label_noise = 0.5
        [kernel]
        name = "rbf"
        [method]
        name = "naive_experiments:slow"
        sleep = 0.02
    """)
    cfg = tmp_path / "slow.toml"
    cfg.write_text(text)
    db = tmp_path / "s.db"
    proc = subprocess.Popen([sys.executable, "-m", "hilbert_sd", "sweep", str(cfg), "--store",
                             str(db), "--jobs", "2", "--allow-import", "-q"], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = proc.pid
    deadline = time.monotonic() + 60
    mine = []
    try:
        while not mine and time.monotonic() < deadline:
            assert proc.poll() is None
            mine = list(Path("/dev/shm").glob(f"hilbert_sd-{pid}-*"))
            time.sleep(0.02)
        assert mine, "the parallel sweep made no shared folder"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)  # (its loky workers exit on their own)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert all(p.exists() for p in mine)  # SIGKILL leaves it behind ...
    cli = subprocess.run([sys.executable, "-m", "hilbert_sd", "sweep", str(cfg), "--store",
                          str(db), "--jobs", "2", "--allow-import", "-q", "--resume",
                          "--set", "experiment.seeds=1"],
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert not any(p.exists() for p in mine)  # ... and the next parallel sweep removes it
