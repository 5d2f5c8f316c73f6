"""The quick commands on the paths issue 14 found wrong: the hard anchored rule on the digits,
the digits' default sizes, the stable range of --learning-rate, ``demo --data FILE.csv`` and
the demo's legend; ``hilbert-sd`` with no command."""

import csv
import json

import numpy as np
import pytest

from hilbert_sd.cli import main


def test_no_command_is_a_usage_error_on_stderr(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "a command is required" in err and "demo" in err


def test_hard_anchored_rule_does_not_lock_onto_one_class_on_digits():
    # issue 14, item 2: with a = 0.7 from step 0 every point had one class after 3 steps
    # (10.4 %, chance); the warm-up of ceil(1/(eta lambda_C)) steps removes the lock-in
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    result = run_noisy_labels(600, n_test=300, dataset="digits", noise_rates=(0.4,),
                              t_end=10_000)
    acc = {r["method"]: r["test_accuracy"] for r in result.rows}
    assert acc["anchored_hard"] > 0.85
    assert acc["anchored_hard"] > acc["gd_end"]


def test_hard_warmup_is_the_fit_time_of_the_class_directions():
    from hilbert_sd.experiments.noisy_labels import hard_warmup

    lam = np.array([10.0, 1.0, 0.5, 0.25, 0.0])
    assert hard_warmup(lam, 3, 0.1, 1000) == 20   # ceil(1/(0.1 * 0.5))
    assert hard_warmup(lam, 2, 0.1, 5) == 5       # at most t_end
    assert hard_warmup(lam, 5, 0.1, 1000) == 1000  # a null direction: never


def test_digits_defaults_fit_the_data(tmp_path, monkeypatch, capsys):
    # issue 14, item 2: --dataset digits failed with its own defaults (2000 + 1000 > 1797)
    from hilbert_sd.commands import noisy_labels as command
    from hilbert_sd.cli import build_parser

    def sizes(*argv):
        return command._sizes(build_parser().parse_args(["noisy-labels", *argv]))

    assert sizes("--dataset", "digits") == (1200, 597)
    assert sizes("--dataset", "digits", "--n", "1000") == (1000, 797)
    assert sizes("--dataset", "digits", "--n-test", "97") == (1700, 97)
    assert sizes() == (2000, 1000)
    monkeypatch.chdir(tmp_path)
    assert main(["noisy-labels", "--dataset", "digits", "--noise", "0.2", "--t-end", "100",
                 "--quiet", "--out", "nl"]) == 0
    assert "n=1200" in capsys.readouterr().out


def test_learning_rate_below_the_limit_runs_and_above_is_refused(tmp_path, monkeypatch,
                                                                   capsys):
    # issue 14, item 10: 1e9 ran with 32 RuntimeWarnings, exit 0 and divergent numbers
    from hilbert_sd.experiments.config import parse_config
    from hilbert_sd.commands.noisy_labels import check_learning_rate
    from hilbert_sd.experiments.noisy_labels import noisy_labels_config
    from hilbert_sd.experiments.runner import simulation_inputs
    from hilbert_sd.noisy_labels import stability_limit

    monkeypatch.chdir(tmp_path)
    config = parse_config(noisy_labels_config(60, n_test=20, noise_rates=(0.2,)),
                          default_name="x")
    lmax = simulation_inputs(config.simulations()[0].config).spectrum.eigenvalues[0]
    limit = stability_limit(lmax, rule="ema", a=0.1, ema_form="simultaneous")
    check_learning_rate(config, 0.99 * limit, 0.1)  # stable: no error
    with pytest.raises(Exception, match="--learning-rate"):
        check_learning_rate(config, 1.01 * limit, 0.1)
    argv = ["noisy-labels", "--n", "60", "--n-test", "20", "--noise", "0.2", "--t-end", "50",
            "--quiet", "--out", "nl"]
    assert main([*argv, "--learning-rate", str(1.01 * limit)]) == 2
    assert "allowed: 0 < learning rate <" in capsys.readouterr().err
    assert not (tmp_path / "nl").exists()
    assert main([*argv, "--learning-rate", str(0.9 * limit)]) == 0
    rows = list(csv.DictReader(open(tmp_path / "nl" / "noisy_labels.csv")))
    assert all(np.isfinite(float(r["test_accuracy"])) for r in rows)


def test_demo_prints_a_legend_of_its_columns(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--epsilon", "0.1", "--out", "d"]) == 0
    out = capsys.readouterr().out
    legend = out[out.index("columns:"):]
    for header in ("to y0", "tau ES", "#B SD", "#B ES", "M2 bracket", "test SD"):
        assert header in out[:out.index("columns:")] and header in legend


def test_demo_epsilon_range_comes_from_m6(capsys):
    from hilbert_sd.commands.demo import MAX_ROUNDS, REFERENCE_Y2N

    low = REFERENCE_Y2N / (MAX_ROUNDS + 1) ** 2
    assert main(["demo", "--epsilon", f"{0.99 * low!r}", "--out", "never"]) == 2
    assert "M6" in capsys.readouterr().err


def test_demo_on_user_data(tmp_path, monkeypatch, capsys):
    # issue 14, item 12: the demo's study on a CSV file, with column options
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, 30)
    noise = rng.normal(size=30)
    with open("mine.csv", "w") as fh:
        fh.write("".join(f"{n:.6f}\t{u:.6f}\t{np.sin(2 * np.pi * u) + 0.1 * n:.6f}\n"
                         for u, n in zip(x, noise)))
    argv = ["demo", "--data", "mine.csv", "--no-header", "--delimiter", "\\t", "--x-cols", "2",
            "--y-col", "3", "--epsilon", "0.02", "--test-size", "0.25", "--out", "d"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "mine.csv: 22 training and 8 test rows, inputs 2" in err
    summary = json.loads((tmp_path / "d" / "self_distillation.json").read_text())["summary"]
    assert summary[0]["epsilon"] == 0.02 and summary[0]["collapse_round"] >= 1
    # round 0 is kernel ridge regression on the 22 training rows at the budget's ridge
    rows = list(csv.DictReader(open(tmp_path / "d" / "self_distillation.csv")))
    assert np.isclose(float(rows[0]["train_mse"]), 0.02, rtol=1e-6)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "self_distillation.csv", "self_distillation.json", "self_distillation_eps0.02.png"]
