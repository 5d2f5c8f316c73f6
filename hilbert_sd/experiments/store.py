"""The results store: one SQLite file, one row per simulation.

Rows are keyed by the hash of the simulation's full configuration and seed
(:attr:`hilbert_sd.experiments.config.Simulation.key`). Every write is one transaction
(``BEGIN IMMEDIATE`` ... ``COMMIT``), so a sweep killed at any instant leaves every
committed row intact and no partial one; writing a key again replaces its row (an upsert), so
concurrent or repeated sweeps never duplicate a simulation. The file is in WAL mode: readers
never block the writer, and several processes may write at once (they queue on SQLite's
write lock, waiting up to ``timeout`` seconds).
"""

import json
import math
import os
import sqlite3
import time
from pathlib import Path

__all__ = ["COLUMNS", "SCHEMA", "SCHEMA_VERSION", "ResultStore"]

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS simulations (
    key         TEXT PRIMARY KEY,   -- SHA-256 of the canonical JSON of config
    experiment  TEXT NOT NULL,      -- experiment.name of the sweep that wrote the row
    position    INTEGER,            -- index of the simulation in that sweep's expansion
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
CREATE INDEX IF NOT EXISTS simulations_experiment ON simulations (experiment, position);
CREATE TABLE IF NOT EXISTS store_info (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Columns of the ``simulations`` table, in order.
COLUMNS = ("key", "experiment", "position", "method", "seed", "group_key", "status", "error",
           "traceback", "warnings", "config", "params", "results", "version", "started_at",
           "finished_at", "duration", "host", "pid")
_JSON_COLUMNS = ("warnings", "config", "params", "results")

_UPSERT = (
    f"INSERT INTO simulations ({', '.join(COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in COLUMNS)}) "
    f"ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "key")
)


def _encode(value):
    try:  # fast path: plain finite data
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        from hilbert_sd.experiments.config import _jsonable

        return json.dumps(_jsonable(value), sort_keys=True, allow_nan=False)


_NONFINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def _decode_results(text):
    if text is None:
        return None
    return {k: (_NONFINITE[v] if isinstance(v, str) and v in _NONFINITE else v)
            for k, v in json.loads(text).items()}


def _is_busy(exc):
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


class ResultStore:
    """A SQLite results store.

    Parameters
    ----------
    path : str or path-like
        The database file (created with its schema unless ``create=False``).
    timeout : float, default=60.0
        Seconds a writer waits for another process's write lock before failing.
    create : bool, default=True
        Create the file and schema when missing. With False a missing file raises
        ``FileNotFoundError``.

    Raises
    ------
    ValueError
        If the file is not a SQLite database or holds another schema version.

    Examples
    --------
    >>> with ResultStore("results.db") as store:          # doctest: +SKIP
    ...     done = store.statuses()
    """

    def __init__(self, path, *, timeout=60.0, create=True):
        self.path = Path(path)
        self.timeout = float(timeout)
        if not create and not self.path.is_file():
            raise FileNotFoundError(f"results store not found: {self.path}")
        if create and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE), never implicit.
        self._conn = sqlite3.connect(str(self.path), timeout=self.timeout,
                                     isolation_level=None, check_same_thread=False)
        try:
            self._retry(self._setup, create)
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise ValueError(f"{self.path}: not a hilbert_sd results store ({exc})") from None
        except ValueError:
            self._conn.close()
            raise

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
        if create:
            conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a commit survives a crash of the process (not of the OS).
        conn.execute("PRAGMA synchronous = NORMAL")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "simulations" not in tables:
            if not create:
                raise ValueError(f"{self.path}: not a hilbert_sd results store "
                                 "(no simulations table)")
            conn.execute("BEGIN IMMEDIATE")
            try:
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
        row = conn.execute("SELECT value FROM store_info WHERE name = 'schema_version'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            found = "none" if row is None else row[0]
            raise ValueError(f"{self.path}: results store schema version {found}; this version "
                             f"of hilbert_sd reads version {SCHEMA_VERSION}")

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

    def __repr__(self):
        return f"ResultStore({str(self.path)!r})"

    # ------------------------------------------------------------------------------------------
    def write(self, rows):
        """Insert or replace rows in one transaction.

        Parameters
        ----------
        rows : iterable of dict
            Keys: :data:`COLUMNS`. ``warnings``, ``config``, ``params`` and ``results`` are
            Python objects (stored as JSON); missing optional columns are NULL.
        """
        encoded = []
        for row in rows:
            r = {c: row.get(c) for c in COLUMNS}
            for c in _JSON_COLUMNS:
                if c == "warnings" and r[c] is None:
                    r[c] = []
                r[c] = None if r[c] is None else _encode(r[c])
            encoded.append(r)
        if encoded:
            self._retry(self._write, encoded)

    def _write(self, encoded):
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_UPSERT, encoded)
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

    def count(self, status=None):
        """Number of rows (with the given status)."""
        if status is None:
            return self._conn.execute("SELECT COUNT(*) FROM simulations").fetchone()[0]
        return self._conn.execute("SELECT COUNT(*) FROM simulations WHERE status = ?",
                                  (status,)).fetchone()[0]

    def rows(self, *, status=None, experiment=None, keys=None):
        """Stored rows as dicts with decoded JSON, ordered by experiment and position.

        Parameters
        ----------
        status : {"done", "failed"}, optional
        experiment : str, optional
        keys : iterable of str, optional

        Returns
        -------
        list of dict
        """
        sql = f"SELECT {', '.join(COLUMNS)} FROM simulations"
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY experiment, position, key"
        wanted = None if keys is None else set(keys)
        out = []
        for values in self._conn.execute(sql, args):
            row = dict(zip(COLUMNS, values))
            if wanted is not None and row["key"] not in wanted:
                continue
            for c in ("warnings", "config", "params"):
                row[c] = json.loads(row[c]) if row[c] is not None else None
            row["results"] = _decode_results(row["results"])
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
