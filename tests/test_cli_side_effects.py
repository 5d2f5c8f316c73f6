"""A failed command leaves nothing behind, and a reader that stops early is not an error.

- A Dask scheduler that refuses the connection, or whose host does not resolve, is refused in
  one line with exit 2 before the store exists (it used to leave an empty ``results.db``).
- A sweep that fails after its store was created (here: dask refuses the address scheme) removes
  the store it created when no row was stored; a store that existed before is kept.
- ``hilbert-sd results DB | head`` ends quietly (exit 141, as a tool killed by SIGPIPE), not
  with "error: [Errno 32] Broken pipe".
"""

import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from hilbert_sd.cli import main

REPO = Path(__file__).resolve().parent.parent

CONFIG = """\
[experiment]
name = "tiny"
seeds = {seeds}

[data]
generator = "sine"
n_samples = 8
n_test = 5

[kernel]
name = "rbf"
gamma = 10.0

[method]
name = "self_distill"
epsilon = [0.01, 0.02, 0.05]
"""


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(CONFIG.format(seeds=2))
    return tmp_path


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def _one_line_exit_2(capsys, argv, *words):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    for w in words:
        assert w in lines[0]
    return lines[0]


def test_refused_scheduler_is_refused_before_the_store(workdir, capsys):
    port = _closed_port()
    _one_line_exit_2(capsys, ["sweep", "tiny.toml", "--scheduler", f"tcp://127.0.0.1:{port}"],
                     "--scheduler", "connection refused")
    assert sorted(p.name for p in workdir.iterdir()) == ["tiny.toml"]
    _one_line_exit_2(capsys, ["reproduce", "self-distillation", "--scheduler",
                              f"127.0.0.1:{port}"], "--scheduler")
    assert sorted(p.name for p in workdir.iterdir()) == ["tiny.toml"]


def test_unresolvable_scheduler_host(workdir, capsys):
    argv = ["sweep", "tiny.toml", "--scheduler", "tcp://no-such-host.invalid:8786"]
    _one_line_exit_2(capsys, argv, "--scheduler", "cannot resolve")
    assert sorted(p.name for p in workdir.iterdir()) == ["tiny.toml"]


def test_a_failed_sweep_removes_the_store_it_created_but_keeps_an_older_one(workdir, capsys):
    pytest.importorskip("distributed")
    # dask refuses this address only once the runner launches: after the store was opened
    argv = ["sweep", "tiny.toml", "--scheduler", "http://127.0.0.1:9"]
    _one_line_exit_2(capsys, argv, "http")
    assert sorted(p.name for p in workdir.iterdir()) == ["tiny.toml"]

    assert main(["sweep", "tiny.toml", "--quiet"]) == 0
    capsys.readouterr()
    with sqlite3.connect(workdir / "tiny.db") as conn:
        before = conn.execute("SELECT COUNT(*) FROM simulations").fetchone()[0]
    assert before == 6
    (workdir / "tiny.toml").write_text(CONFIG.format(seeds=3))
    _one_line_exit_2(capsys, argv + ["--resume"], "http")
    with sqlite3.connect(workdir / "tiny.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM simulations").fetchone()[0] == before


def test_results_into_a_closed_pipe_ends_quietly(workdir, capsys):
    (workdir / "tiny.toml").write_text(CONFIG.format(seeds=600))  # 1800 rows: > 3 pipe buffers
    assert main(["sweep", "tiny.toml", "--quiet"]) == 0
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for extra in ([], ["--csv", "-"], ["--json"]):
        cmd = " ".join([sys.executable, "-m", "hilbert_sd", "results", "tiny.db", *extra])
        proc = subprocess.run(["bash", "-c", f"set -o pipefail; {cmd} | head -n 1"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 141, (extra, proc.stderr)
        assert proc.stderr == "", (extra, proc.stderr)
        assert len(proc.stdout.splitlines()) == 1
