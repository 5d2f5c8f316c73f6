"""Every command line with a bad argument exits 2 with one line on stderr naming the flag (or
the file) and the allowed values, before any work or side effect (issue 14).

The table runs :func:`hilbert_sd.cli.main` in-process (fast) in an empty working directory
and checks: exit status 2, exactly one line on stderr, no traceback, nothing on stdout but
what argparse prints for ``--help`` (nothing here), and no file or directory created. A few
lines go through the real entry point (``python -m hilbert_sd``) in a subprocess.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hilbert_sd.cli import _command_modules, main

REPO = Path(__file__).resolve().parent.parent

CONFIG = """\
[experiment]
name = "tiny"
seeds = [0]

[data]
generator = "sine"
n_samples = 8
n_test = 5

[kernel]
name = "rbf"
gamma = 10.0

[method]
name = "self_distill"
epsilon = [0.01, 0.02]
"""

# (argv, what the one line must contain); files: tiny.toml (a valid config of two
# simulations), data.csv (x, y: 12 rows), text.csv (a non-numeric column), one.csv (1 row)
BAD = [
    # the command itself
    ([], "a command is required"),
    (["no-such-command"], "invalid choice"),
    (["--no-such-flag"], "unrecognized arguments"),
    # demo
    (["demo", "--epsilon", "-1"], "--epsilon"),
    (["demo", "--epsilon", "0"], "--epsilon"),
    (["demo", "--epsilon", "0.6"], "0.57354"),
    (["demo", "--epsilon", "1e-12"], "M6"),
    (["demo", "--epsilon", "1e-300"], "--epsilon"),
    (["demo", "--epsilon", "nan"], "--epsilon"),
    (["demo", "--epsilon", "inf"], "--epsilon"),
    (["demo", "--epsilon", "abc"], "--epsilon"),
    (["demo", "--gamma", "0"], "--gamma"),
    (["demo", "--gamma", "-3"], "--gamma"),
    (["demo", "--gamma", "inf"], "--gamma"),
    (["demo", "--gamma", "nan"], "--gamma"),
    (["demo", "--no-such-flag"], "unrecognized arguments"),
    (["demo", "--out", "data.csv"], "--out"),
    (["demo", "--data", "missing.csv"], "missing.csv"),
    (["demo", "--data", "data.csv", "--y-col", "nope"], "--y-col"),
    (["demo", "--data", "data.csv", "--x-cols", "x,nope"], "--x-cols"),
    (["demo", "--data", "text.csv"], "text.csv"),
    (["demo", "--data", "one.csv"], "one.csv"),
    (["demo", "--data", "data.csv", "--test-size", "1.5"], "--test-size"),
    (["demo", "--x-cols", "x"], "--data"),
    (["demo", "--data", "data.csv", "--delimiter", ";;"], "--delimiter"),
    # noisy-labels
    (["noisy-labels", "--n", "1"], "--n"),
    (["noisy-labels", "--n", "abc"], "--n"),
    (["noisy-labels", "--n-test", "0"], "--n-test"),
    (["noisy-labels", "--noise", "1.5"], "--noise"),
    (["noisy-labels", "--noise", "nan"], "--noise"),
    (["noisy-labels", "--noise-model", "bogus"], "--noise-model"),
    (["noisy-labels", "--seeds", "-1"], "--seeds"),
    (["noisy-labels", "--kernel", "rbf"], "--kernel"),
    (["noisy-labels", "--depth", "0"], "--depth"),
    (["noisy-labels", "--dataset", "mnist"], "--dataset"),
    (["noisy-labels", "--dataset", "digits", "--n", "1500", "--n-test", "500"], "1797"),
    (["noisy-labels", "--dataset", "digits", "--n", "1797"], "1797"),
    (["noisy-labels", "--t-end", "0"], "--t-end"),
    (["noisy-labels", "--learning-rate", "0"], "--learning-rate"),
    (["noisy-labels", "--learning-rate", "inf"], "--learning-rate"),
    (["noisy-labels", "--n", "50", "--n-test", "20", "--learning-rate", "1e9"],
     "--learning-rate"),
    (["noisy-labels", "--ema-a", "1.5"], "--ema-a"),
    (["noisy-labels", "--anchored-a", "-0.1"], "--anchored-a"),
    (["noisy-labels", "--hard-a", "nan"], "--hard-a"),
    (["noisy-labels", "--refresh-per-decade", "0"], "--refresh-per-decade"),
    (["noisy-labels", "--out", "data.csv", "--n", "20", "--n-test", "5"], "--out"),
    # soft-labels
    (["soft-labels", "--n", "0"], "--n"),
    (["soft-labels", "--n-test", "-5"], "--n-test"),
    (["soft-labels", "--temperatures", "0"], "--temperatures"),
    (["soft-labels", "--temperatures", "a,b"], "--temperatures"),
    (["soft-labels", "--temperatures", "inf"], "--temperatures"),
    (["soft-labels", "--members", "1"], "--members"),
    (["soft-labels", "--resample", "jackknife"], "--resample"),
    (["soft-labels", "--a", "0"], "--a"),
    (["soft-labels", "--a", "nan"], "--a"),
    (["soft-labels", "--teacher-steps", "0"], "--teacher-steps"),
    (["soft-labels", "--student-steps", "-1"], "--student-steps"),
    (["soft-labels", "--student-size", "0"], "--student-size"),
    (["soft-labels", "--n", "100", "--members", "8", "--student-size", "50"],
     "--student-size"),
    (["soft-labels", "--seed", "-1"], "--seed"),
    # linear-teacher
    (["linear-teacher", "--d", "2"], "--d"),
    (["linear-teacher", "--n", "5,x"], "--n"),
    (["linear-teacher", "--n", "0,5"], "--n"),
    (["linear-teacher", "--draws", "0"], "--draws"),
    (["linear-teacher", "--geometries", "round"], "--geometries"),
    (["linear-teacher", "--kappa", "-1"], "--kappa"),
    (["linear-teacher", "--kappa", "inf"], "--kappa"),
    (["linear-teacher", "--margin", "-0.1"], "--margin"),
    (["linear-teacher", "--margin", "2"], "--margin"),
    (["linear-teacher", "--risk", "guess"], "--risk"),
    (["linear-teacher", "--n-test", "0"], "--n-test"),
    (["linear-teacher", "--flow-draws", "-1"], "--flow-draws"),
    (["linear-teacher", "--seed", "-1"], "--seed"),
    # compare
    (["compare", "--dataset", "iris"], "--dataset"),
    (["compare", "--dataset", "csv"], "--data"),
    (["compare", "--data", "data.csv"], "--data"),
    (["compare", "--label-noise", "0.2"], "--label-noise"),
    (["compare", "--dataset", "digits", "--label-noise", "2"], "--label-noise"),
    (["compare", "--splits", "0"], "--splits"),
    (["compare", "--test-size", "1"], "--test-size"),
    (["compare", "--cv", "1"], "--cv"),
    (["compare", "--gamma", "inf"], "--gamma"),
    (["compare", "--max-samples", "1"], "--max-samples"),
    (["compare", "--seed", "-2"], "--seed"),
    (["compare", "--dataset", "csv", "--data", "text.csv"], "--data"),
    # reproduce
    (["reproduce"], "NAME"),
    (["reproduce", "nope"], "nope"),
    (["reproduce", "early-stopping", "--jobs", "0"], "--jobs"),
    (["reproduce", "early-stopping", "--jobs", "x"], "--jobs"),
    (["reproduce", "early-stopping", "--out", "data.csv"], "--out"),
    # run
    (["run"], "CONFIG"),
    (["run", "missing.toml"], "missing.toml"),
    (["run", "tiny.toml"], "--index"),
    (["run", "tiny.toml", "--index", "5"], "--index"),
    (["run", "tiny.toml", "--index", "-1"], "--index"),
    (["run", "tiny.toml", "--set", "method.epsilon=-1"], "epsilon"),
    (["run", "tiny.toml", "--set", "nonsense"], "--set"),
    # sweep
    (["sweep", "tiny.toml", "--jobs", "0"], "--jobs"),
    (["sweep", "tiny.toml", "--jobs", "-2"], "--jobs"),
    (["sweep", "tiny.toml", "--shard", "3/2"], "--shard"),
    (["sweep", "tiny.toml", "--shard", "x"], "--shard"),
    (["sweep", "tiny.toml", "--retry-failed"], "--retry-failed"),
    (["sweep", "tiny.toml", "--resume", "--overwrite"], "--overwrite"),
    (["sweep", "tiny.toml", "--table", "."], "--table"),
    (["sweep", "missing.toml"], "missing.toml"),
    # results
    (["results"], "DB"),
    (["results", "missing.db"], "missing.db"),
    (["results", "missing.db", "--limit", "-1"], "--limit"),
    (["results", "missing.db", "--limit", "x"], "--limit"),
    (["results", "missing.db", "--status", "running"], "--status"),
    (["results", "missing.db", "--agg", "bogus"], "--agg"),
    (["results", "missing.db", "--where", "novalue"], "--where"),
    (["results", "missing.db", "--csv", "a.csv", "--json"], "--json"),
    (["results", "missing.db", "--wide", "--columns", "seed"], "--wide"),
    # plot
    (["plot", "missing.db"], "--x"),
    (["plot", "missing.db", "--x", "a", "--y", "b", "--out", "fig.txt"], "--out"),
    (["plot", "missing.db", "--x", "a", "--y", "b", "--out", "nodir/fig.png"], "--out"),
    (["plot", "missing.db", "--x", "a", "--y", "b"], "missing.db"),
    (["plot", "missing.db", "--x", "a", "--y", "b", "--where", "x"], "--where"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working directory with the few input files the table refers to."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.toml").write_text(CONFIG)
    (tmp_path / "data.csv").write_text(
        "x,y\n" + "".join(f"{i / 11:.4f},{(i % 3) - 1}\n" for i in range(12)))
    (tmp_path / "text.csv").write_text("x,y\n0.1,a\n0.2,b\n0.3,c\n")
    (tmp_path / "one.csv").write_text("x,y\n0.1,1\n")
    return tmp_path


def _listing(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_the_table_covers_every_subcommand():
    commands = {m.NAME for m in _command_modules()}
    covered = {argv[0] for argv, _ in BAD if argv and argv[0] in commands}
    assert covered == commands
    assert len(BAD) >= 60


@pytest.mark.parametrize("argv, expected", BAD, ids=[" ".join(a) or "(none)" for a, _ in BAD])
def test_bad_command_line_exits_2_with_one_line(argv, expected, workdir, capsys):
    before = _listing(workdir)
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own exits would escape main
        status = exc.code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and expected in lines[0], err
    assert "Traceback" not in err
    assert out == ""
    assert _listing(workdir) == before  # no file or directory created


def _run(args, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "hilbert_sd", *args], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("argv, expected", [
    ([], "a command is required"),
    (["demo", "--epsilon", "1e-12"], "--epsilon"),
    (["demo", "--gamma", "inf"], "--gamma"),
    (["noisy-labels", "--n", "50", "--n-test", "20", "--learning-rate", "1e9"],
     "--learning-rate"),
    (["results", "missing.db", "--limit", "-1"], "--limit"),
    (["linear-teacher", "--kappa", "nan"], "--kappa"),
])
def test_real_entry_point(argv, expected, workdir):
    before = _listing(workdir)
    proc = _run(argv, workdir)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert proc.stdout == ""
    assert _listing(workdir) == before


def test_help_is_on_stdout_with_status_0(workdir):
    proc = _run(["--help"], workdir)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "usage: hilbert-sd" in proc.stdout and "demo" in proc.stdout
