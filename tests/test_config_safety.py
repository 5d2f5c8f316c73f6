"""Experiment configs under attack, through the command line: import references, names that
are paths, sizes past any machine, deep nesting, side effects of refused commands, and the
``[spectrum]`` table.

Each failure of issue 13's list is checked where a user meets it: exit status 2, one line on
stderr naming the problem (no traceback), and nothing created or imported.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments.config import load_config, memory_limit, parse_config
from hilbert_sd.experiments.runner import GroupCache, run_sweep
from hilbert_sd.experiments.store import ResultStore

REPO = Path(__file__).resolve().parents[1]

BASE = """
[experiment]
name = "{name}"
seeds = {seeds}

[data]
generator = "sine"
n_samples = {n}
label_noise = 0.1
n_test = 25

[kernel]
name = "rbf"
gamma = 30.0

[method]
name = "self_distill"
epsilon = [0.01, 0.05]
n_rounds = 3
{extra}
"""


def write(directory, name="c", seeds=2, n=20, extra="", file=None):
    path = Path(directory) / (file or f"{name}.toml")
    path.write_text(textwrap.dedent(BASE.format(name=name, seeds=seeds, n=n, extra=extra)))
    return path


def cli_error(capsys, *argv):
    """Run the CLI expecting exit status 2; return its one-line error."""
    status = main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err and err.startswith("error: ")
    return err


def _files(directory):
    return sorted(p.name for p in Path(directory).iterdir())


# ---------------------------------------------------------------------------------------------
# import references need the user's consent
# ---------------------------------------------------------------------------------------------
PLANTED = """
from pathlib import Path
Path("IMPORTED").write_text("the module ran")
def run(config, inputs, seed):
    return {"x": 1.0}
run.requires = ()
"""

IMPORTING = """
[experiment]
name = "imp"
[data]
generator = "sine"
n_samples = 5
[method]
name = "planted_mod:run"
"""


def _python_m(cwd, *argv):
    # python -m puts the working directory first on sys.path: the planted module is importable
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "hilbert_sd", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_import_reference_needs_allow_import_even_for_a_dry_run(tmp_path):
    (tmp_path / "planted_mod.py").write_text(PLANTED)
    (tmp_path / "imp.toml").write_text(IMPORTING)
    for argv in (("sweep", "imp.toml", "--dry-run"), ("sweep", "imp.toml"),
                 ("run", "imp.toml")):
        proc = _python_m(tmp_path, *argv)
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert '"planted_mod:run"' in err and "--allow-import" in err
        assert not (tmp_path / "IMPORTED").exists()  # nothing was imported
    assert _files(tmp_path) == ["imp.toml", "planted_mod.py"]
    # with the user's consent it imports and runs
    proc = _python_m(tmp_path, "sweep", "imp.toml", "--allow-import", "-q")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "IMPORTED").exists()
    with ResultStore(tmp_path / "imp.db", create=False) as store:
        assert [r["results"] for r in store.rows()] == [{"x": 1.0}]


def test_import_reference_refused_by_the_api_without_consent(tmp_path):
    raw = {"data": {"generator": "sine", "n_samples": 5}, "kernel": {"name": "rbf"},
           "method": {"name": "os.path:join"}}
    with pytest.raises(ValueError, match="--allow-import"):
        parse_config(raw)
    assert parse_config(raw, allow_import=True).method[0]["name"] == "os.path:join"


# ---------------------------------------------------------------------------------------------
# names that are paths
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["../../x", "/tmp/x", "a/b", "..", "c:evil", "a\\b"])
def test_experiment_name_cannot_escape_the_working_directory(tmp_path, capsys, monkeypatch,
                                                             name):
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    cfg = work / "c.toml"
    cfg.write_text(textwrap.dedent(BASE.format(name=name.replace("\\", "\\\\"), seeds=1, n=10,
                                               extra="")))
    err = cli_error(capsys, "sweep", cfg)
    assert "experiment.name" in err and "not a plain name" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "c.toml"]
    assert not Path("/tmp/x.db").exists() or name != "/tmp/x"


# ---------------------------------------------------------------------------------------------
# upper bounds, with the memory they would need, before anything runs
# ---------------------------------------------------------------------------------------------
def test_huge_seed_count_is_refused_with_a_memory_estimate(tmp_path, capsys):
    cfg = write(tmp_path, seeds=1000000000000)
    err = cli_error(capsys, "sweep", cfg, "--dry-run")
    assert "experiment.seeds" in err and "1000000000000" in err
    assert "1..1000000" in err and "PiB" in err
    err = cli_error(capsys, "sweep", cfg, "--dry-run", "--set",
                    "experiment.seeds={start = 5, count = 100000000000}")
    assert "experiment.seeds.count" in err and "100000000000" in err
    assert _files(tmp_path) == ["c.toml"]


def test_huge_training_set_is_refused_with_a_memory_estimate(tmp_path, capsys):
    cfg = write(tmp_path, n=100000000)
    err = cli_error(capsys, "sweep", cfg, "--dry-run")
    assert "data.n_samples: 100000000 needs ~" in err and "PiB" in err
    assert "allowed here: 2.." in err
    top = int(err.rsplit("2..", 1)[1].split()[0].rstrip(";)"))
    # the bound is the largest n whose Gram matrix, eigendecomposition and test kernel fit
    assert 8 * (3 * top ** 2 + 2 * 25 * top) <= memory_limit() < 8 * (3 * (top + 1) ** 2
                                                                        + 2 * 25 * (top + 1))
    err = cli_error(capsys, "run", cfg)
    assert "data.n_samples" in err
    # with a low-rank spectrum the same n needs far less
    ok = parse_config({"data": {"generator": "sine", "n_samples": 200000},
                       "kernel": {"name": "rbf"}, "spectrum": {"method": "nystrom", "rank": 50},
                       "method": {"name": "self_distill", "epsilon": 0.1}})
    assert ok.data[0]["n_samples"] == 200000
    assert _files(tmp_path) == ["c.toml"]


def test_huge_round_count_is_refused(tmp_path, capsys):
    cfg = write(tmp_path)
    err = cli_error(capsys, "sweep", cfg, "--dry-run", "--set",
                    "method.n_rounds=9223372036854775807")
    assert "method.n_rounds: 9223372036854775807" in err and "0..1000000" in err
    assert "EiB" in err
    # within the hard bound but not within this machine's memory
    cfg = write(tmp_path, n=20000, seeds=64, file="d.toml")
    err = cli_error(capsys, "sweep", cfg, "--dry-run", "--set", "method.n_rounds=1000000")
    assert "method.n_rounds: 1000000 rounds need ~" in err and "allowed here: at most" in err
    assert _files(tmp_path) == ["c.toml", "d.toml"]


def test_a_grid_too_large_to_expand_is_refused(tmp_path, capsys):
    cfg = write(tmp_path)
    axis = "[" + ", ".join(str(0.001 * (i + 1)) for i in range(1100)) + "]"
    err = cli_error(capsys, "sweep", cfg, "--dry-run", "--set", f"method.epsilon={axis}",
                    "--set", f"method.mix={axis.replace('0.001', '0.0001')}",
                    "--set", "method.n_rounds=2")
    assert "1210000 points" in err and "allowed at most 1000000" in err


# ---------------------------------------------------------------------------------------------
# nesting
# ---------------------------------------------------------------------------------------------
def test_deeply_nested_toml_is_refused_without_recursion(tmp_path, capsys):
    deep = tmp_path / "deep.toml"
    deep.write_text('[data]\ngenerator = "sine"\nn_samples = ' + "[" * 5000 + "]" * 5000 + "\n")
    err = cli_error(capsys, "sweep", deep, "--dry-run")
    assert "nested more than 32 deep" in err
    dotted = tmp_path / "dotted.toml"
    dotted.write_text('[data]\ngenerator = "sine"\nn_samples = 5\n' + "a." * 5000 + "b = 1\n")
    err = cli_error(capsys, "sweep", dotted, "--dry-run")
    assert "nested deeper than 32" in err
    cfg = write(tmp_path)
    err = cli_error(capsys, "sweep", cfg, "--dry-run", "--set",
                    "method.epsilon=" + "[" * 5000 + "]" * 5000)
    assert "method.epsilon" in err and "nested" in err
    # brackets inside strings and comments are not nesting
    fine = write(tmp_path, extra='# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n',
                 file="fine.toml")
    text = fine.read_text().replace('name = "c"', 'name = "c"\ndescription = "' + "[" * 100
                                    + '"')
    fine.write_text(text)
    assert load_config(fine).description == "[" * 100


# ---------------------------------------------------------------------------------------------
# no side effects before validation passes
# ---------------------------------------------------------------------------------------------
def test_rejected_data_file_creates_no_store(tmp_path, capsys):
    (tmp_path / "bad.csv").write_text("x,y\n0.1,1.0\n0.2,abc\n")
    cfg = tmp_path / "f.toml"
    cfg.write_text(textwrap.dedent("""
        [experiment]
        name = "f"
        [data]
        path = "bad.csv"
        [kernel]
        name = "rbf"
        [method]
        name = "self_distill"
        epsilon = 0.1
    """))
    for extra in ((), ("--store", tmp_path / "new" / "dir" / "s.db"), ("--dry-run",)):
        err = cli_error(capsys, "sweep", cfg, *extra)
        assert "bad.csv" in err and "abc" in err
    assert _files(tmp_path) == ["bad.csv", "f.toml"]


def test_failed_commands_leave_no_empty_output_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # refused before anything is made
    cli_error(capsys, "reproduce", "self-distillation", "--out", tmp_path / "o1", "--jobs", "0")
    cli_error(capsys, "reproduce", "no-such-experiment", "--out", tmp_path / "o2")
    # a failure while running: the directories made for the output go again
    from hilbert_sd.experiments import registry

    def broken(rows, out):
        raise ValueError("the report failed")

    monkeypatch.setitem(registry.NAMED_EXPERIMENTS, "optimal-mixing",
                        registry.NamedExperiment("optimal-mixing", "optimal_mixing.toml",
                                                 broken, ""))
    assert main(["reproduce", "optimal-mixing", "--out", str(tmp_path / "o3" / "deep"),
                 "-q"]) == 2
    # the sweep's summary, then the one-line error
    assert capsys.readouterr().err.splitlines()[-1] == "error: the report failed"
    monkeypatch.undo()
    # the sweep's finished simulations are kept (a second run reuses them); nothing else
    assert _files(tmp_path) == ["o3"]
    assert _files(tmp_path / "o3" / "deep") == ["results.csv", "results.db"]


# ---------------------------------------------------------------------------------------------
# the [spectrum] table
# ---------------------------------------------------------------------------------------------
def _sweep(config, path):
    with ResultStore(path) as store:
        run_sweep(config, store, progress=False)
        return store.rows()


def _by_point(rows):
    return {(r["params"]["method.epsilon"], r["seed"]): r for r in rows}


@pytest.mark.parametrize("method", ["dense", "implicit"])
def test_exact_spectrum_table_gives_the_default_numbers(tmp_path, method):
    plain = load_config(write(tmp_path, name="p", n=30))
    table = load_config(write(tmp_path, name="s", n=30, file="s.toml",
                              extra=f'\n[spectrum]\nmethod = "{method}"\n'))
    assert table.spectrum == {"method": method, "rank": None, "landmarks": None,
                              "random_state": None}
    a = _by_point(_sweep(plain, tmp_path / "p.db"))
    b = _by_point(_sweep(table, tmp_path / "s.db"))
    assert a.keys() == b.keys()
    for point in a:
        ra, rb = a[point]["results"], b[point]["results"]
        assert a[point]["status"] == b[point]["status"] == "done"
        assert ra.keys() == rb.keys()
        for k in ra:
            if isinstance(ra[k], float):
                assert rb[k] == pytest.approx(ra[k], rel=1e-10, abs=1e-12), k
            else:
                assert ra[k] == rb[k], k
        assert b[point]["params"]["spectrum.method"] == method
        assert "spectrum.method" not in a[point]["params"]
    # different spectra never share a key or a group; no table keeps the old keys
    sa = {s.key for s in plain.simulations()}
    sb = {s.key for s in table.simulations()}
    assert not sa & sb
    assert {s.group for s in plain.simulations()}.isdisjoint(s.group for s in table.simulations())


FLOW = """
[experiment]
name = "gf"
seeds = 2
[data]
generator = "sine"
n_samples = 40
label_noise = 0.1
n_test = 25
[kernel]
name = "rbf"
gamma = 30.0
[method]
name = "gradient_flow"
times = [0.1, 1.0, 10.0]
"""


def test_low_rank_spectrum_table_runs_and_projects_the_test_points(tmp_path):
    (tmp_path / "gf.toml").write_text(FLOW + '[spectrum]\nmethod = "randomized"\nrank = 12\n'
                                             "random_state = 3\n")
    (tmp_path / "exact.toml").write_text(FLOW)
    config = load_config(tmp_path / "gf.toml")
    rows = _sweep(config, tmp_path / "r.db")
    assert len(rows) == 2 and all(r["status"] == "done" for r in rows), rows[0]["error"]
    assert all(r["params"]["spectrum.rank"] == 12 for r in rows)
    cache = GroupCache(np.linspace(0, 1, 40)[:, None], np.linspace(0, 1, 7)[:, None],
                       {"name": "rbf", "gamma": 30.0}, config.spectrum)
    assert cache.spectrum.is_low_rank
    np.testing.assert_allclose(cache.test_projection,
                               cache.spectrum.project_points(cache.X_test), rtol=1e-12)
    # at rank n - 1 (the last eigenvalue of this kernel is round-off) the randomized
    # spectrum gives the exact numbers: the settings reach decompose and the projection
    exact = {r["seed"]: r["results"] for r in _sweep(load_config(tmp_path / "exact.toml"),
                                                      tmp_path / "e.db")}
    full = load_config(tmp_path / "gf.toml", ["spectrum.rank=39"])
    for r in _sweep(full, tmp_path / "f.db"):
        assert r["status"] == "done"
        for k, v in r["results"].items():
            assert v == pytest.approx(exact[r["seed"]][k], rel=1e-6), k
        assert r["key"] not in {row["key"] for row in rows}


@pytest.mark.parametrize("table, message", [
    ('method = "svd"', 'spectrum.method: must be one of "auto", "dense", "implicit", '
                       '"randomized", "nystrom"; got "svd"'),
    ('method = "randomized"', "spectrum.rank: missing: required with method = \"randomized\""),
    ('method = "nystrom"', "spectrum.rank: missing: required with method = \"nystrom\""),
    ('method = "dense"\nrank = 5', "spectrum.rank: must not be given with method = \"dense\""),
    ('method = "implicit"\nrank = 5', "spectrum.rank: must not be given with method = "
                                      "\"implicit\""),
    ('method = "nystrom"\nrank = 0', "spectrum.rank: must be >= 1, got 0"),
    ('method = "nystrom"\nrank = 5\nlandmarks = "random"',
     'spectrum.landmarks: must be one of "uniform", "kmeans++"; got "random"'),
    ('method = "randomized"\nrank = 5\nlandmarks = "uniform"',
     'spectrum.landmarks: applies to method = "nystrom" only'),
    ('method = "dense"\nrandom_state = 1', "spectrum.random_state: must not be given"),
    ('method = "nystrom"\nrank = 50', "spectrum.rank: 50 is out of range for data.n_samples = "
                                      "20; allowed 1..20"),
    ('method = ["dense", "implicit"]', "spectrum.method: expected a single str"),
    ('tolerance = 1e-3', "spectrum.tolerance: unknown key"),
])
def test_spectrum_table_validation(tmp_path, capsys, table, message):
    cfg = write(tmp_path, extra="\n[spectrum]\n" + table + "\n")
    err = cli_error(capsys, "sweep", cfg, "--dry-run")
    assert message in err
    assert _files(tmp_path) == ["c.toml"]


SD = """
[experiment]
name = "sd"
seeds = 2
[data]
generator = "sine"
n_samples = 60
label_noise = 0.2
n_test = 25
[kernel]
name = "rbf"
gamma = 30.0
[method]
name = "self_distill"
epsilon = 0.05
n_rounds = 3
[spectrum]
method = "randomized"
rank = 15
"""


@pytest.mark.parametrize("backend", ["randomized", "nystrom"])
def test_low_rank_self_distillation_sweep_reports_errors_over_n_samples(tmp_path, backend):
    """On a rank-15 spectrum of 60 samples the budget rule still fits round 0 to a mean
    squared training error of exactly epsilon (M1): the errors are means over the n samples,
    not over the 16 coefficients a low-rank spectrum holds."""
    (tmp_path / "sd.toml").write_text(SD.replace('"randomized"', f'"{backend}"'))
    rows = _sweep(load_config(tmp_path / "sd.toml"), tmp_path / "sd.db")
    assert len(rows) == 2
    for row in rows:
        assert row["status"] == "done", row["error"]
        res = row["results"]
        assert res["train_mse[0]"] == pytest.approx(0.05, rel=1e-9)
        assert res["test_mse[0]"] > 0 and np.isfinite(res["test_mse[3]"])
