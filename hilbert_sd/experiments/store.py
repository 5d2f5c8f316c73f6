"""The results store: one SQLite file, one row per simulation, and the experiments it is in.

Rows are keyed by the hash of the simulation's full configuration and seed
(:attr:`hilbert_sd.experiments.config.Simulation.key`); the key does not name the experiment,
so two experiments whose grids overlap share those simulations. Which experiments a
simulation belongs to (and its position in each) is a table of its own, ``memberships``: a
sweep records every simulation of its config there, run or skipped, so each experiment sees
all of its rows whoever computed them.

Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) holding the rows and their
memberships, so a sweep killed at any instant leaves every committed row intact and no partial
one; writing a key again replaces its row (an upsert), so concurrent or repeated sweeps never
duplicate a simulation. The file is in WAL mode: readers never block the writer, and several
processes may write at once (they queue on SQLite's write lock, waiting up to ``timeout``
seconds). Committed rows may live in the ``DB-wal`` file next to ``DB`` until a checkpoint
copies them into ``DB``: the ``-wal`` file is part of the store (copy, move and delete the two
together).

Opening a store checks it: the path (a directory, an unwritable place, a file of another
application and an older schema are refused with one line naming the file), then the file
(``PRAGMA quick_check`` and the JSON of every row). A damaged store is refused with a
:class:`StoreCorruptError` naming :func:`salvage`, which copies its readable rows into a new
store. A store in a directory this process cannot write (a read-only file system) is opened
read-only, without the ``-shm`` file that WAL readers otherwise create.
"""

import errno
import json
import math
import os
import sqlite3
import tempfile
import time
import urllib.parse
from pathlib import Path

__all__ = ["COLUMNS", "SCHEMA", "SCHEMA_VERSION", "ResultStore", "StoreCorruptError",
           "StoreError", "StoreFullError", "check_store_path", "salvage"]

SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS simulations (
    key         TEXT PRIMARY KEY,   -- SHA-256 of the canonical JSON of config
    method      TEXT NOT NULL,
    seed        INTEGER NOT NULL,
    group_key   TEXT NOT NULL,      -- simulations sharing one eigendecomposition
    status      TEXT NOT NULL CHECK (status IN ('done', 'failed')),
    error       TEXT,               -- "ExceptionType: message" of a failed simulation
    traceback   TEXT,
    warnings    TEXT NOT NULL,      -- JSON array of "WarningClass: message"
    config      TEXT NOT NULL,      -- JSON: {"data", "kernel", "method", "seed"}
    params      TEXT NOT NULL,      -- JSON: flat {"method.epsilon": 0.1, ...}
    results     TEXT,               -- JSON: flat {"test_mse[0]": 0.02, ...}
    version     TEXT NOT NULL,      -- hilbert_sd.__version__ that ran the simulation
    started_at  TEXT NOT NULL,      -- ISO 8601, UTC
    finished_at TEXT NOT NULL,
    duration    REAL NOT NULL,      -- seconds
    host        TEXT,
    pid         INTEGER
);
CREATE TABLE IF NOT EXISTS memberships (
    experiment  TEXT NOT NULL,      -- experiment.name of a sweep that holds the simulation
    key         TEXT NOT NULL,      -- simulations.key
    position    INTEGER,            -- index of the simulation in that sweep's expansion
    PRIMARY KEY (experiment, key)
);
CREATE INDEX IF NOT EXISTS memberships_key ON memberships (key);
CREATE TABLE IF NOT EXISTS store_info (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Columns of the ``simulations`` table, in order.
SIM_COLUMNS = ("key", "method", "seed", "group_key", "status", "error", "traceback",
               "warnings", "config", "params", "results", "version", "started_at",
               "finished_at", "duration", "host", "pid")
#: Keys of a row as :meth:`ResultStore.rows` returns it and :meth:`ResultStore.write` takes
#: it: the table's columns and the row's membership (``experiment``, ``position``).
COLUMNS = ("key", "experiment", "position") + SIM_COLUMNS[1:]
_JSON_COLUMNS = ("warnings", "config", "params", "results")
_TABLES = {"simulations", "memberships", "store_info"}
_SQLITE_HEADER = b"SQLite format 3\x00"

_UPSERT = (
    f"INSERT INTO simulations ({', '.join(SIM_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in SIM_COLUMNS)}) "
    f"ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in SIM_COLUMNS if c != "key")
)
_MEMBER = ("INSERT INTO memberships (experiment, key, position) VALUES (?, ?, ?) "
           "ON CONFLICT(experiment, key) DO UPDATE SET position = excluded.position")
# rows whose JSON or status a reader could not decode
_UNDECODABLE = ("SELECT key FROM simulations WHERE NOT (status IN ('done', 'failed') "
                "AND json_valid(warnings) AND json_valid(config) AND json_valid(params) "
                "AND (results IS NULL OR json_valid(results))) LIMIT 1")


class StoreError(ValueError):
    """A results store that cannot be opened as asked (bad path, foreign file, old schema).

    A ``ValueError``: the command line reports it on one line with exit status 2.
    """


class StoreCorruptError(StoreError):
    """A damaged results store; its message names :func:`salvage`'s command."""


class StoreFullError(OSError):
    """The disk (or the file system's quota) is full: a write could not be committed.

    Nothing of that write is in the store; everything committed before it is.
    """

    def __init__(self, message):
        super().__init__(errno.ENOSPC, message)

    def __str__(self):
        return self.strerror


def _salvage_hint(path):
    return (f"salvage its readable rows into a new store with 'hilbert-sd results {path} "
            "--salvage NEW.db'")


#: ``json.dumps(value, sort_keys=True, allow_nan=False)`` without building an encoder per call
#: (four per row): the same text
_ENCODER = json.JSONEncoder(sort_keys=True, allow_nan=False)


def _encode(value):
    try:  # fast path: plain finite data
        return _ENCODER.encode(value)
    except (TypeError, ValueError):
        from hilbert_sd.experiments.config import _jsonable

        return _ENCODER.encode(_jsonable(value))


_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _decode_results(text):
    if text is None:
        return None
    return {k: (_NONFINITE[v] if isinstance(v, str) and v in _NONFINITE else v)
            for k, v in json.loads(text).items()}


def _is_busy(exc):
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _is_full(exc):
    return "full" in str(exc).lower()


def _is_corrupt(exc):
    msg = str(exc).lower()
    return "malformed" in msg or "not a database" in msg or "corrupt" in msg


def _writable_dir(directory):
    return os.access(directory, os.W_OK | os.X_OK)


def _uri(path, **query):
    quoted = urllib.parse.quote(str(Path(path).resolve()))
    return f"file:{quoted}?" + "&".join(f"{k}={v}" for k, v in query.items())


def _sidecars(path):
    """The -wal and -shm files of a store that exist now."""
    return {p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()}


def _remove_new_sidecars(path, before):
    """Delete the empty -wal file (and its -shm) that a read-only connection created.

    A read-only connection cannot delete them at close as a writer does; when they did not
    exist before and the -wal file is empty, they hold nothing.
    """
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    try:
        if wal not in before and shm not in before and wal.exists() \
                and wal.stat().st_size == 0:
            wal.unlink()
            shm.unlink(missing_ok=True)
    except OSError:
        pass


def _header(path):
    with open(path, "rb") as fh:
        return fh.read(len(_SQLITE_HEADER))


def check_store_path(path, write=True):
    """Refuse a path that cannot be a results store, before anything is created.

    Parameters
    ----------
    path : str or path-like
    write : bool, default=True
        Whether the store will be written (created if missing) or only read.

    Raises
    ------
    StoreError
        (a ``ValueError``, one line naming the path) A directory or other non-file, a file
        that is not a SQLite database, a missing parent that cannot be created, or (for
        ``write``) a file or directory this process cannot write.
    FileNotFoundError
        A missing store to read.
    """
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"{path}: is a directory; a results store is a file (e.g. "
                         f"{path / 'results.db'})")
    if path.exists() and not path.is_file():
        raise StoreError(f"{path}: not a regular file; a results store is a SQLite file")
    if not path.exists():
        if not write:
            raise FileNotFoundError(f"results store not found: {path}")
        parent = path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise StoreError(f"{path}: cannot create the results store: {parent} is not a "
                             "directory")
        if not _writable_dir(parent):
            raise StoreError(f"{path}: cannot create the results store: {parent} is not "
                             "writable")
        return
    if path.stat().st_size and _header(path) != _SQLITE_HEADER:
        raise StoreError(f"{path}: not a hilbert_sd results store (not a SQLite database)")
    if write and not (os.access(path, os.W_OK) and _writable_dir(path.parent)):
        raise StoreError(f"{path}: not writable (a sweep writes the store and its -wal and "
                         "-shm files next to it); 'hilbert-sd results' can read it, or copy "
                         "it with its -wal file to a writable directory")


class ResultStore:
    """A SQLite results store.

    Parameters
    ----------
    path : str or path-like
        The database file (created with its schema unless ``create=False``).
    timeout : float, default=60.0
        Seconds a writer waits for another process's write lock before failing.
    create : bool, default=True
        Open for writing, creating the file and schema when missing. With False the store is
        opened for reading: a missing file raises ``FileNotFoundError``, and a store in a
        directory this process cannot write is opened read-only (``immutable``, no ``-shm``).
    check : bool, default=True
        Check an existing file's integrity on open (``PRAGMA quick_check`` and that every
        row's JSON decodes): O(size of the file).

    Raises
    ------
    StoreError
        (a ``ValueError``) If the path is a directory or cannot be written (``create=True``),
        the file is not a SQLite database, holds another application's tables (never
        modified) or another schema version.
    StoreCorruptError
        If the file is damaged; :func:`salvage` recovers its readable rows.

    Examples
    --------
    >>> with ResultStore("results.db") as store:          # doctest: +SKIP
    ...     done = store.statuses()
    """

    def __init__(self, path, *, timeout=60.0, create=True, check=True):
        self.path = Path(path)
        self.timeout = float(timeout)
        self._conn = None
        self._sidecars = None  # -wal/-shm present before a read-only (mode=ro) connection
        check_store_path(self.path, write=create)
        existed = self.path.exists() and self.path.stat().st_size > 0
        if create:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{self.path}: cannot create the results store: "
                                 f"{exc.strerror or exc}") from None
        try:
            self._conn = self._connect(create)
            self._retry(self._setup, create)
            if check and existed:
                self._check_integrity()
        except sqlite3.DatabaseError as exc:
            self.close()
            if _is_full(exc):
                raise StoreFullError(f"{self.path}: disk full while creating the results "
                                     f"store ({exc})") from None
            if _is_corrupt(exc):
                raise StoreCorruptError(f"{self.path}: the results store is damaged ({exc}); "
                                        + _salvage_hint(self.path)) from None
            if isinstance(exc, sqlite3.OperationalError) and not existed:
                raise StoreError(f"{self.path}: cannot create the results store ({exc})") \
                    from None
            raise StoreError(f"{self.path}: cannot open the results store ({exc})") from None
        except BaseException:
            self.close()
            raise

    def _connect(self, create):
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        kw = dict(timeout=self.timeout, isolation_level=None, check_same_thread=False)
        if create or (os.access(self.path, os.W_OK) and _writable_dir(self.path.parent)):
            return sqlite3.connect(str(self.path), **kw)
        wal = Path(f"{self.path}-wal")
        if _writable_dir(self.path.parent) or Path(f"{self.path}-shm").exists():
            # a read-only file in a writable directory, or both WAL files present: SQLite
            # reads the -wal file through the -shm index
            self._sidecars = _sidecars(self.path)
            return sqlite3.connect(_uri(self.path, mode="ro"), uri=True, **kw)
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(f"{self.path}: its -wal file (part of the store) holds rows that "
                             "cannot be read without a -shm file, which this read-only "
                             "directory cannot hold; copy the store and its -wal file to a "
                             "writable directory and read the copy")
        # nothing can change a file in a directory nobody here may write: read it as is,
        # without the -shm file that WAL readers otherwise create next to it
        return sqlite3.connect(_uri(self.path, mode="ro", immutable=1), uri=True, **kw)

    def _retry(self, func, *args):
        # busy_timeout covers lock waits inside statements; journal-mode switches and schema
        # creation by several processes at the same instant can still report "locked".
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                return func(*args)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _setup(self, create):
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        tables = self._tables()
        if not tables:
            if not create:
                raise StoreError(f"{self.path}: not a hilbert_sd results store (an empty "
                                 "database)")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a commit survives a crash of the process (not of the OS).
            conn.execute("PRAGMA synchronous = NORMAL")
            self._create_schema()
            tables = self._tables()
        elif create:
            conn.execute("PRAGMA synchronous = NORMAL")
        self._check_schema(tables)

    def _tables(self):
        return {r[0] for r in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _create_schema(self):
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if self._tables():  # another process created it while we waited for the lock
                conn.execute("ROLLBACK")
                return
            # executescript would commit implicitly; one statement at a time keeps the
            # schema inside this transaction.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            from hilbert_sd import __version__

            conn.execute("INSERT OR IGNORE INTO store_info VALUES ('schema_version', ?)",
                         (str(SCHEMA_VERSION),))
            conn.execute("INSERT OR IGNORE INTO store_info VALUES ('created_by', ?)",
                         (f"hilbert_sd {__version__}",))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_schema(self, tables):
        if "store_info" not in tables or "simulations" not in tables:
            shown = ", ".join(sorted(tables)[:8]) + (", ..." if len(tables) > 8 else "")
            raise StoreError(f"{self.path}: not a hilbert_sd results store (a SQLite database "
                             f"with the tables {shown}; no simulations table); it is left "
                             "untouched: choose another file")
        row = self._conn.execute(
            "SELECT value FROM store_info WHERE name = 'schema_version'").fetchone()
        found = "none" if row is None else row[0]
        if found == "1":
            raise StoreError(f"{self.path}: results store schema version 1 (written by an "
                             f"older hilbert_sd); this version reads version {SCHEMA_VERSION}: "
                             f"convert it with 'hilbert-sd results {self.path} --salvage "
                             "NEW.db'")
        if found != str(SCHEMA_VERSION) or not _TABLES <= tables:
            raise StoreError(f"{self.path}: results store schema version {found}; this version "
                             f"of hilbert_sd reads version {SCHEMA_VERSION}")

    def _check_integrity(self):
        problem = self._conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        if problem != "ok":
            raise StoreCorruptError(f"{self.path}: the results store is damaged (SQLite's "
                                    f"quick_check: {problem}); " + _salvage_hint(self.path))
        bad = self._conn.execute(_UNDECODABLE).fetchone()
        if bad is not None:
            raise StoreCorruptError(f"{self.path}: the results store is damaged (the row of "
                                    f"key {str(bad[0])[:16]!r} does not decode); "
                                    + _salvage_hint(self.path))

    # ------------------------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the connection (idempotent)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            if self._sidecars is not None:
                _remove_new_sidecars(self.path, self._sidecars)

    def __repr__(self):
        return f"ResultStore({str(self.path)!r})"

    # ------------------------------------------------------------------------------------------
    def write(self, rows):
        """Insert or replace rows, and their memberships, in one transaction.

        Parameters
        ----------
        rows : iterable of dict
            Keys: :data:`COLUMNS`. ``warnings``, ``config``, ``params`` and ``results`` are
            Python objects (stored as JSON); missing optional columns are NULL. A row with an
            ``experiment`` also becomes (or stays) a member of that experiment at
            ``position``; its other memberships are kept.

        Raises
        ------
        StoreFullError
            (an ``OSError``) If the disk is full; nothing of these rows is written.
        """
        encoded, members = [], []
        for row in rows:
            r = {c: row.get(c) for c in SIM_COLUMNS}
            for c in _JSON_COLUMNS:
                if c == "warnings" and r[c] is None:
                    r[c] = []
                r[c] = None if r[c] is None else _encode(r[c])
            encoded.append(r)
            if row.get("experiment") is not None:
                members.append((row["experiment"], row["key"], row.get("position")))
        if encoded:
            self._commit(self._write, encoded, members)

    def add_members(self, experiment, members):
        """Record stored simulations as members of ``experiment`` (one transaction).

        Parameters
        ----------
        experiment : str
        members : iterable of (str, int)
            ``(key, position)``; keys not in the store are ignored.
        """
        members = [(experiment, k, p) for k, p in members]
        if members:
            self._commit(self._write, [], members, True)

    def _commit(self, func, *args):
        if self._conn is None:
            raise ValueError(f"{self.path}: the store is closed")
        try:
            self._retry(func, *args)
        except sqlite3.OperationalError as exc:
            if _is_full(exc):
                raise StoreFullError(f"{self.path}: disk full, the last write was not "
                                     f"committed ({exc})") from None
            raise

    def _write(self, encoded, members, only_stored=False):
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if encoded:
                conn.executemany(_UPSERT, encoded)
            if only_stored:
                conn.executemany(_MEMBER.replace(
                    "VALUES (?, ?, ?)", "SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM "
                                        "simulations WHERE key = ?2)"), members)
            elif members:
                conn.executemany(_MEMBER, members)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def statuses(self, keys=None):
        """``{key: status}`` of the stored simulations (restricted to ``keys`` if given)."""
        rows = self._conn.execute("SELECT key, status FROM simulations").fetchall()
        out = dict(rows)
        if keys is not None:
            out = {k: out[k] for k in keys if k in out}
        return out

    def count(self, status=None, *, experiment=None):
        """Number of rows (with the given status, in the given experiment)."""
        sql, args = "SELECT COUNT(*) FROM simulations s", []
        where = []
        if experiment is not None:
            sql += " JOIN memberships m ON m.key = s.key"
            where.append("m.experiment = ?")
            args.append(experiment)
        if status is not None:
            where.append("s.status = ?")
            args.append(status)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._conn.execute(sql, args).fetchone()[0]

    def experiments(self):
        """``{experiment: number of simulations}`` of the memberships, by name."""
        return dict(self._conn.execute(
            "SELECT experiment, COUNT(*) FROM memberships GROUP BY experiment "
            "ORDER BY experiment").fetchall())

    def rows(self, *, status=None, experiment=None, keys=None):
        """Stored rows as dicts with decoded JSON.

        Parameters
        ----------
        status : {"done", "failed"}, optional
        experiment : str, optional
            Only the members of this experiment, with their position in it, in that order.
            Without it every simulation once, its ``experiment`` the names of all its
            experiments (``"a, b"``; None for none), its ``position`` the first of them, in
            the order of experiment and position.
        keys : iterable of str, optional

        Returns
        -------
        list of dict
            Keys :data:`COLUMNS`, and ``experiments`` (list of str).
        """
        cols = ", ".join(f"s.{c}" for c in SIM_COLUMNS)
        args = []
        if experiment is not None:
            sql = (f"SELECT {cols}, m.experiment, m.position, m.experiment FROM memberships m "
                   "JOIN simulations s ON s.key = m.key WHERE m.experiment = ?")
            args.append(experiment)
            order = " ORDER BY m.position, s.key"
        else:
            sql = (f"SELECT {cols}, (SELECT group_concat(experiment, ', ') FROM (SELECT "
                   "experiment FROM memberships WHERE key = s.key ORDER BY experiment)) AS "
                   "names, (SELECT position FROM memberships WHERE key = s.key ORDER BY "
                   "experiment LIMIT 1) AS first, (SELECT json_group_array(experiment) FROM "
                   "(SELECT experiment FROM memberships WHERE key = s.key ORDER BY experiment)) "
                   "FROM simulations s WHERE 1")
            order = " ORDER BY names IS NULL, names, first, s.key"
        if status is not None:
            sql += " AND s.status = ?"
            args.append(status)
        wanted = None if keys is None else set(keys)
        out = []
        for values in self._conn.execute(sql + order, args):
            row = dict(zip(SIM_COLUMNS, values[:-3]))
            if wanted is not None and row["key"] not in wanted:
                continue
            row["experiment"], row["position"] = values[-3], values[-2]
            try:
                row["experiments"] = ([values[-1]] if experiment is not None
                                      else json.loads(values[-1]))
                for c in ("warnings", "config", "params"):
                    row[c] = json.loads(row[c]) if row[c] is not None else None
                row["results"] = _decode_results(row["results"])
            except (ValueError, TypeError, AttributeError) as exc:
                raise StoreCorruptError(f"{self.path}: the row of key {row['key']!r} does not "
                                        f"decode ({exc}); " + _salvage_hint(self.path)) \
                    from None
            out.append(row)
        return out

    def info(self):
        """``{name: value}`` of the store_info table (schema version, creator)."""
        return dict(self._conn.execute("SELECT name, value FROM store_info").fetchall())

    def integrity_check(self):
        """SQLite's ``PRAGMA integrity_check`` result (``"ok"`` for a sound file)."""
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]


def default_host():
    """Host name recorded with each row."""
    return os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")


# ---------------------------------------------------------------------------------------------
# salvage
# ---------------------------------------------------------------------------------------------
def _probe(conn, table, columns, extra_probes=1000):
    """Every row of ``table`` that SQLite can still read, looked up one rowid at a time.

    A damaged page makes a full scan stop at the first row on it; lookups by rowid descend
    the table's b-tree separately for each row, so rows on sound pages are found even past
    damaged ones. Returns ``(rows, unreadable)``: the rows read, and how many rowids raised.
    """
    seen, complete = 0, True
    try:
        for (rowid,) in conn.execute(f"SELECT rowid FROM {table}"):
            seen = max(seen, rowid)
    except sqlite3.DatabaseError:
        complete = False
    try:
        top = max(seen, conn.execute(f"SELECT max(rowid) FROM {table}").fetchone()[0] or 0)
    except sqlite3.DatabaseError:
        top, complete = seen, False
    if not complete:  # rows past the damage may have larger rowids than any seen
        top += extra_probes
    sql = f"SELECT {', '.join(columns)} FROM {table} WHERE rowid = ?"
    rows, unreadable = [], 0
    for rowid in range(1, top + 1):
        try:
            row = conn.execute(sql, (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            unreadable += 1
            continue
        if row is not None:
            rows.append(row)
    return rows, unreadable


def _readable_row(row):
    """The row dict (JSON decoded and checked), or None when it is damaged."""
    try:
        if not isinstance(row["key"], str) or not row["key"]:
            return None
        if row["status"] not in ("done", "failed") or not isinstance(row["method"], str):
            return None
        if not isinstance(row["seed"], int) or not isinstance(row["group_key"], str):
            return None
        for c in ("version", "started_at", "finished_at"):
            if not isinstance(row[c], str):
                return None
        if not isinstance(row["duration"], (int, float)):
            return None
        out = dict(row)
        out["warnings"] = json.loads(row["warnings"])
        out["config"] = json.loads(row["config"])
        out["params"] = json.loads(row["params"])
        out["results"] = _decode_results(row["results"])
        if not (isinstance(out["warnings"], list) and isinstance(out["config"], dict)
                and isinstance(out["params"], dict)):
            return None
        json.dumps(out["results"])  # its values are JSON scalars
        return out
    except (ValueError, TypeError, AttributeError, KeyError):
        return None


def salvage(source, target):
    """Copy the readable rows of a (damaged or older) results store into a new store.

    The source is opened read-only and never modified. Each row is read on its own and kept
    only if it decodes whole (its JSON, status and bookkeeping columns); memberships are kept
    for the simulations kept (from the ``memberships`` table, or from the ``experiment`` and
    ``position`` columns of a schema-version-1 store). The new store is written to a
    temporary file next to ``target`` and renamed into place, so ``target`` never holds a
    partial copy.

    Parameters
    ----------
    source : str or path-like
        The store to read: damaged, or written by an older hilbert_sd.
    target : str or path-like
        The new store; must not exist.

    Returns
    -------
    dict
        ``{"rows": kept, "unreadable": rows that did not decode or could not be read,
        "memberships": memberships kept, "experiments": sorted names}``.

    Raises
    ------
    StoreError
        If ``target`` exists, ``source`` is missing, not a SQLite database, or has no
        readable ``simulations`` table; or no row could be read (nothing is written).
    """
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise StoreError(f"{source}: no such file to salvage")
    if target.exists():
        raise StoreError(f"{target}: exists; --salvage writes a new store (give a new file "
                         "name)")
    if source.resolve() == target.resolve():
        raise StoreError(f"{target}: the salvaged copy must be a new file")
    if _header(source) != _SQLITE_HEADER:
        raise StoreError(f"{source}: not a SQLite database; nothing to salvage")
    check_store_path(target, write=True)
    query = {"mode": "ro"}
    if not _writable_dir(source.parent) and not Path(f"{source}-shm").exists():
        query["immutable"] = 1
    before = _sidecars(source)
    conn = sqlite3.connect(_uri(source, **query), uri=True)
    try:
        try:
            columns = [r[1] for r in conn.execute("PRAGMA table_info(simulations)")]
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{source}: its schema cannot be read ({exc}); nothing to "
                             "salvage") from None
        needed = [c for c in SIM_COLUMNS if c not in ("error", "traceback", "results", "host",
                                                      "pid", "warnings")]
        if not columns or any(c not in columns for c in needed):
            raise StoreError(f"{source}: no readable simulations table; nothing to salvage")
        read = [c for c in SIM_COLUMNS if c in columns]
        legacy = [c for c in ("experiment", "position") if c in columns]
        raw, unreadable = _probe(conn, "simulations", read + legacy)
        kept, members = {}, set()
        for values in raw:
            row = dict.fromkeys(SIM_COLUMNS)
            row["warnings"] = "[]"
            row.update(zip(read + legacy, values))
            decoded = _readable_row(row)
            if decoded is None:
                unreadable += 1
                continue
            kept[decoded["key"]] = decoded
            decoded.pop("experiment", None)
            decoded.pop("position", None)
            if len(legacy) == 2 and isinstance(row["experiment"], str):
                position = row["position"] if isinstance(row["position"], int) else None
                members.add((row["experiment"], decoded["key"], position))
        if "memberships" in tables:
            mrows, _ = _probe(conn, "memberships", ("experiment", "key", "position"))
            members.update((e, k, p) for e, k, p in mrows
                           if isinstance(e, str) and k in kept
                           and (p is None or isinstance(p, int)))
    finally:
        conn.close()
        _remove_new_sidecars(source, before)
    if not kept:
        raise StoreError(f"{source}: no readable rows ({unreadable} unreadable); nothing "
                         f"written to {target}")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".salvage",
                               dir=target.parent if str(target.parent) else ".")
    os.close(fd)
    os.unlink(tmp)  # ResultStore creates it: an empty file would also do, this is plainer
    try:
        with ResultStore(tmp) as store:
            store.write(kept.values())
            by_experiment = {}
            for e, k, p in sorted(members, key=lambda m: (m[0], m[1])):
                by_experiment.setdefault(e, []).append((k, p))
            for e, items in by_experiment.items():
                store.add_members(e, items)
        os.replace(tmp, target)
    finally:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(tmp + suffix):
                os.unlink(tmp + suffix)
    return {"rows": len(kept), "unreadable": unreadable, "memberships": len(members),
            "experiments": sorted({m[0] for m in members})}
