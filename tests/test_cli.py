"""The hilbert-sd command: help, the demo's outputs, exit codes."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from hilbert_sd.cli import main
from hilbert_sd.datasets import load_mobahi_toy
from hilbert_sd.experiments.self_distillation import refit, run_reference


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "hilbert_sd", *args], capture_output=True,
                          text=True, timeout=300)


def test_help_lists_the_subcommands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "demo" in proc.stdout


def test_every_subcommand_has_help(capsys):
    from hilbert_sd.cli import _command_modules

    for module in _command_modules():
        with pytest.raises(SystemExit) as exc:
            main([module.NAME, "--help"])
        assert exc.value.code == 0
        assert "usage" in capsys.readouterr().out


def test_demo_writes_results_that_match_the_library(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", str(out), "--epsilon", "0.005", "0.05")
    assert proc.returncode == 0, proc.stderr
    assert "epsilon = 0.005" in proc.stdout
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert len(pngs) == 2
    with open(out / "self_distillation.csv") as fh:
        rows = list(csv.DictReader(fh))
    summary = json.loads((out / "self_distillation.json").read_text())["summary"]
    assert [s["epsilon"] for s in summary] == [0.005, 0.05]
    # recompute the training error to the labels by hand from the written ridges
    x, y = load_mobahi_toy()
    K = np.exp(-80.0 * (x - x.T) ** 2)
    targets = y
    live = [r for r in rows if float(r["epsilon"]) == 0.005 and r["collapsed"] == "False"]
    T = next(s["collapse_round"] for s in summary if s["epsilon"] == 0.005)
    assert len(live) == T > 1  # every round before the collapse is in the CSV
    for row in live:
        fit = K @ np.linalg.solve(K + float(row["alpha"]) * np.eye(11), targets)
        assert np.isclose(np.mean((fit - targets) ** 2), 0.005, rtol=1e-8)
        assert np.isclose(np.mean((fit - y) ** 2), float(row["label_mse"]), rtol=1e-8)
        targets = fit
    # the first collapsed round: the targets fit inside the budget (independent check of T)
    assert np.sum(targets**2) <= 11 * 0.005


def test_reference_small_budget_improves_after_round_zero():
    # the paper's qualitative claim for small epsilon: test error first falls, then rises
    (row,) = run_reference([0.005])
    res = row["results"]
    assert 0 < res["best_round"] < res["collapse_round"]
    assert res["best_test_mse"] < res["test_mse[0]"]
    # the stored test errors are those of the path computed again from the row's config
    fit = refit(row)
    assert fit.path.collapse_round == res["collapse_round"]
    np.testing.assert_allclose(fit.test_mse[:res["rounds"]],
                               [res[f"test_mse[{t}]"] for t in range(res["rounds"])],
                               rtol=1e-10)


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--epsilon", "-1"], "argument --epsilon: '-1' is out of range"),
        (["demo", "--gamma", "0"], "argument --gamma: '0' is out of range"),
        (["demo", "--no-such-flag"], "unrecognized arguments"),
        (["no-such-command"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(args, message):
    proc = run_cli(*args)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_unexpected_failure_exits_1(monkeypatch, capsys):
    import hilbert_sd.commands.demo as demo

    def boom(args):
        raise RuntimeError("kaput")

    monkeypatch.setattr(demo, "run", boom)
    assert main(["demo"]) == 1
    assert "unexpected failure: RuntimeError: kaput" in capsys.readouterr().err


def test_linear_teacher_runs_with_its_defaults(tmp_path):
    """Its default sizes started at n = d/50 = 1, below the generators' minimum of 2, so
    ``hilbert-sd linear-teacher`` with no arguments exited 2."""
    from hilbert_sd.experiments.linear_teacher import default_n_values

    assert min(default_n_values(50)) == 2 and 50 in default_n_values(50)
    assert main(["linear-teacher", "--out", str(tmp_path / "lt"), "--quiet"]) == 0
    assert (tmp_path / "lt" / "linear_teacher.csv").exists()
