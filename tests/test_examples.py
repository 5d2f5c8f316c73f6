"""The scripts of ``examples/`` run as a user runs them and print what their page says.

Each script runs once, in its own process, with the output folder as its argument; the tests
then check properties of what it printed (parsed back from its output), not only that it
exited 0: the budget, the growing ridge and the best round of the reference example; a
cross-validated round that beats round 0; memorization and its avoidance on noisy digits;
the exact expected risk of the linear teacher; the aggregates of a sweep read back with
``results``. Every script must also run without a warning and save its figure.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
NAMES = ["reference", "cv_rounds", "noisy_digits", "linear_teacher", "sweep_results"]
PNG = b"\x89PNG\r\n\x1a\n"


def _env(**extra):
    return {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                       os.environ.get("PYTHONPATH")])),
            **extra}


def _run(name, args, env, cwd):
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    proc.seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Run every example once (lazily), into one output folder; name -> (stdout, folder)."""
    out = tmp_path_factory.mktemp("examples")
    done = {}

    def get(name):
        if name not in done:
            proc = _run(name, [str(out)], _env(), cwd=out)
            warnings = [line for line in proc.stderr.splitlines() if "Warning" in line]
            assert not warnings, warnings
            assert proc.seconds < 60, f"{name} took {proc.seconds:.1f} s"
            done[name] = proc.stdout
        return done[name], out
    return get


def _figure(out, name):
    path = out / f"{name}.png"
    assert path.read_bytes()[:8] == PNG and path.stat().st_size > 10_000
    return path


def test_every_example_is_tested_documented_and_short():
    scripts = sorted(p.stem for p in EXAMPLES.glob("*.py"))
    assert scripts == sorted(NAMES)
    page = (ROOT / "docs" / "examples.rst").read_text()
    for name in NAMES:
        assert f".. literalinclude:: ../examples/{name}.py" in page
        assert f"_generated/examples/{name}.png" in page
        source = (EXAMPLES / f"{name}.py").read_text()
        assert len(source.splitlines()) <= 65, name
        assert "HILBERT_SD_EXAMPLES_OUT" in source and "tempfile.mkdtemp()" in source
        assert "hilbert_sd._" not in source and "import _" not in source  # public API only


def test_the_output_folder_comes_from_the_environment_without_an_argument(tmp_path):
    out = tmp_path / "from_env"
    _run("linear_teacher", [], _env(HILBERT_SD_EXAMPLES_OUT=str(out)), cwd=tmp_path)
    _figure(out, "linear_teacher")
    assert list(tmp_path.iterdir()) == [out]  # nothing written to the working directory


def test_reference(ran):
    text, out = ran("reference")
    T = int(re.search(r"collapse at round (\d+)", text).group(1))
    rows = np.array([[float(v) for v in line.split()]
                     for line in text.splitlines() if re.match(r"\s*\d+\s+\d", line)])
    rounds, alpha, train, sd_test, es_test = rows.T
    assert 2 <= T <= 20
    np.testing.assert_array_equal(rounds, np.arange(T))     # every round before the collapse
    assert np.all(np.diff(alpha) > 0)                        # the ridge grows every round
    assert train[0] == pytest.approx(0.005, abs=1e-4)        # round 0 spends the budget
    assert np.all(np.diff(train) > 0)                        # the error to y grows after
    best, best_mse, round0 = re.search(
        r"best round (\d+): test MSE ([\d.]+) \(round 0: ([\d.]+)\)", text).groups()
    assert int(best) == int(np.argmin(sd_test)) >= 1         # falls first, then rises
    assert float(best_mse) < float(round0) == sd_test[0]
    assert sd_test[-1] > sd_test[0]
    assert np.all(np.abs(sd_test - es_test) < 0.05)          # close to matched early stopping
    _figure(out, "reference")


def test_cv_rounds(ran):
    text, out = ran("cv_rounds")
    eps, t, cv = re.search(r"chosen: epsilon = ([\d.]+), round (\d+), CV MSE ([\d.]+)",
                           text).groups()
    eps0, cv0 = re.search(r"best round 0: epsilon = ([\d.]+), CV MSE ([\d.]+)", text).groups()
    assert int(t) >= 1                                       # the CV-chosen round
    assert float(cv) < float(cv0)                            # beats the best round 0 (KRR)
    assert float(eps) < float(eps0)                          # a smaller budget, regularized
    # the estimator runs the same search on the same folds: the same candidate
    assert re.search(r"estimator: epsilon = ([\d.]+), round (\d+)", text).groups() == (eps, t)
    test = dict(re.findall(r"test MSE, (chosen|round 0): ([\d.]+)", text))
    from sklearn.datasets import load_diabetes

    variance = np.var(load_diabetes(return_X_y=True)[1])
    assert float(test["chosen"]) <= float(test["round 0"]) < 0.6 * variance  # on this split
    _figure(out, "cv_rounds")


def test_noisy_digits(ran):
    text, out = ran("noisy_digits")
    changed = float(re.search(r"labels changed: ([\d.]+)%", text).group(1))
    assert abs(changed - 36.0) < 5  # rate 0.4, a hit label stays itself 1 time in 10
    acc = {name: (float(end), float(best), int(step)) for name, end, best, step in
           re.findall(r"^(.+?): clean test accuracy ([\d.]+)% at step \d+, "
                      r"best ([\d.]+)% at step (\d+)$", text, re.MULTILINE)}
    assert set(acc) == {"gradient descent", "ema (a = 0.01)", "anchored hard (a = 0.4)"}
    gd_end, gd_best, gd_step = acc["gradient descent"]
    ema_end, _, _ = acc["ema (a = 0.01)"]
    _, hard_best, _ = acc["anchored hard (a = 0.4)"]
    assert gd_best >= 90 and gd_best - gd_end >= 5     # early stopping helps: memorization
    assert 100 <= gd_step <= 10_000                    # ... in the middle of training
    assert ema_end >= 90 and ema_end >= gd_end + 3     # the ema rule ends above 90 %
    assert hard_best >= gd_best                        # the hard rule peaks higher
    assert min(v[1] for v in acc.values()) > 85        # chance is 10 %
    _figure(out, "noisy_digits")


def test_linear_teacher(ran):
    text, out = ran("linear_teacher")
    rows = np.array([[float(v) for v in re.split(r"\s+(?:\+-\s+)?", line.strip())]
                     for line in text.splitlines() if re.match(r"\s*\d+\s+0\.", line)])
    n, mean, se, exact, hard = rows.T
    d = 20
    np.testing.assert_array_equal(n, [2, 5, 10, 15, 20, 30])
    below = n < d
    assert np.all(se[below] > 0)
    assert np.all(np.abs(mean - exact)[below] <= 4 * se[below] + 1e-4)  # the exact E R_n
    assert np.all(np.diff(exact) <= 0) and exact[n == d / 2] == pytest.approx(0.25, abs=1e-4)
    assert np.all(mean[~below] == 0) and np.all(exact[~below] == 0)      # n >= d: exact
    assert np.all(hard[~below] > 0.1)          # the hard-label student does not recover it
    assert np.all(hard[1:] > mean[1:])
    _figure(out, "linear_teacher")


def test_sweep_results(ran):
    text, out = ran("sweep_results")
    assert re.search(r"^15 done, 0 failed", text, re.MULTILINE)
    assert "3 group(s) from 15 row(s)" in text
    header = next(line for line in text.splitlines() if line.startswith("method.epsilon"))
    columns = header.split()
    table = {float(line.split()[0]): dict(zip(columns, map(float, line.split())))
             for line in text.splitlines() if re.match(r"0\.\d+\s", line)}
    assert sorted(table) == [0.01, 0.03, 0.1]
    small, large = table[0.01], table[0.1]
    assert small["best_round:mean"] >= 1                              # a later round is best
    assert small["best_test_mse:mean"] < small["test_mse[0]:mean"]    # ... and better
    assert large["best_round:mean"] == 0 and large["best_round:se"] == 0
    assert all(row["best_round:se"] >= 0 for row in table.values())
    assert (out / "budgets.db").stat().st_size > 0
    _figure(out, "sweep_results")
