"""The family comparison as a method of the one runner (``family_comparison``, one split per
simulation): the runner's records equal those of the array-level library function
:func:`~hilbert_sd.experiments.family.compare_family` on the same data and seeds, field by
field (that function's own numbers are checked against literal refits in
tests/test_family_compare.py); serial and two-process sweeps store the same numbers;
``hilbert-sd compare`` and ``hilbert-sd reproduce family-comparison`` run it.
"""

import json

import numpy as np
import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments import family
from hilbert_sd.experiments.config import load_config, parse_config
from hilbert_sd.experiments.planning import load_dataset, simulation_inputs
from hilbert_sd.experiments.reports import run_rows
from hilbert_sd.experiments.runner import run_sweep
from hilbert_sd.experiments.schema import ConfigError
from hilbert_sd.experiments.store import ResultStore

SMALL = {"cv": 3, "max_rounds": 3, "oracle_steps": 2}


def _same_records(got, expected):
    """Every field of every record equal (floats to the last bit); returns the number of
    values compared."""
    assert len(got) == len(expected)
    count = 0
    for a, b in zip(got, expected):
        assert list(a) == list(b), (a["method"], list(a), list(b))
        for key in a:
            assert a[key] == b[key], (a["split"], a["method"], key, a[key], b[key])
            count += 1
    return count


def _same_splits(got, expected):
    for a, b in zip(got, expected, strict=True):
        for key in ("train", "test", "train_labels"):
            if b[key] is None:
                assert a[key] is None
            else:
                assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
        assert a["flipped"] == b["flipped"]


def _same_config(got, expected):
    differ = {k for k in expected if got[k] != expected[k]}
    assert differ <= {"description", "seconds"}, differ


def test_runner_equals_library_on_the_digits_with_label_noise():
    raw = {"experiment": {"name": "cmp", "seeds": 3},
           "data": {"generator": "digits", "n_samples": 90, "n_test": 0, "seed": 4},
           "kernel": {"name": "rbf"},
           "method": {"name": "family_comparison", "noise_rate": 0.3, "split_seed": 7,
                      "methods": ["pcr", "ridge", "sd_budget"], **SMALL}}
    result = family.result_from_rows(run_rows(raw, name="cmp"))
    data = load_dataset(parse_config(raw).simulations()[0].config["data"], ".")
    lib = family.compare_family(data.X, data.y, classification=True, label_noise=0.3,
                                n_splits=3, random_state=7,
                                methods=["ridge", "sd_budget", "pcr"], **SMALL)
    assert result.methods == ["ridge", "sd_budget", "pcr"]
    assert _same_records(result.records, lib.records) == 3 * 3 * 17
    _same_splits(result.splits, lib.splits)
    assert all(s["flipped"] > 0 for s in result.splits)
    assert result.notes == lib.notes
    _same_config(result.config, lib.config)


def test_runner_equals_library_on_the_reference_model_split_by_split():
    # the reference data draw their Gaussian noise from the simulation seed: split k of the
    # runner is split k of the library function on the labels of seed k
    raw = {"experiment": {"name": "cmp", "seeds": [0, 1]},
           "data": {"generator": "sine", "n_samples": 40, "n_test": 0, "seed": 3,
                    "label_noise": 0.5},
           "kernel": {"name": "rbf", "gamma": 20.0},
           "method": {"name": "family_comparison", "split_seed": 2, **SMALL}}
    rows = run_rows(raw, name="cmp")
    result = family.result_from_rows(rows)
    assert result.methods == list(family.METHODS)  # the oracle knows sigma^2 = 0.25
    assert result.config["noise_var"] == 0.25
    compared = 0
    for row in rows:
        k = row["seed"]
        inputs = simulation_inputs(row["config"])  # the data and noise the runner used
        lib = family.compare_family(inputs.X, inputs.y, gamma=20.0, n_splits=k + 1,
                                    f_star=inputs.y_clean, noise_var=0.25, random_state=2,
                                    **SMALL)
        mine = [r for r in result.records if r["split"] == k]
        compared += _same_records(mine, [r for r in lib.records if r["split"] == k])
        _same_splits([result.splits[k]], [lib.splits[k]])
    assert compared == 2 * 7 * 18  # with test_mse_f_star


def test_compare_command_equals_library_on_a_csv_file(tmp_path, capsys):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((48, 3)) * [1.0, 10.0, 0.1]
    y = np.sin(X[:, 0]) + 0.05 * X[:, 1] + 0.3 * rng.standard_normal(48)
    path = tmp_path / "data.csv"
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header="a,b,c,y", comments="")
    out = tmp_path / "cmp"
    assert main(["compare", "--dataset", "csv", "--data", str(path), "--splits", "3",
                 "--cv", "3", "--seed", "11", "--out", str(out), "--quiet"]) == 0
    assert "kernel ridge" in capsys.readouterr().out
    saved = json.loads((out / "comparison.json").read_text())
    table = np.loadtxt(path, delimiter=",", skiprows=1)
    Xf, yf = table[:, :3], table[:, 3]
    lib = family.compare_family(Xf, yf, standardize=True, n_splits=3, cv=3, random_state=11)
    # the JSON holds the records at full precision
    assert _same_records(saved["records"], lib.records) == 3 * 6 * 17
    assert [s["test"] for s in saved["splits"]] == [s["test"].tolist() for s in lib.splits]
    assert saved["config"]["standardize"] and saved["config"]["n_splits"] == 3


def test_serial_and_two_processes_store_the_same_numbers(tmp_path):
    raw = {"experiment": {"name": "cmp", "seeds": 4},
           "data": {"generator": "sine", "n_samples": 40, "n_test": 0, "label_noise": 0.3},
           "kernel": {"name": "rbf", "gamma": 20.0},
           "method": {"name": "family_comparison", **SMALL}}
    config = parse_config(raw)
    results = []
    for jobs in (1, 2):
        with ResultStore(tmp_path / f"j{jobs}.db") as store:
            report = run_sweep(config, store, jobs=jobs, progress=False)
            assert report.failed == 0, report.failures
            rows = sorted(store.rows(), key=lambda r: r["seed"])
        results.append([r["results"] for r in rows])
    assert results[0] == results[1]
    assert len(results[0]) == 4 and "sd_mixed_oracle.xi[0]" in results[0][0]


def test_the_shipped_experiment_is_the_command_default():
    from hilbert_sd.commands.reproduce import config_path

    shipped = load_config(config_path("family-comparison"))
    default = parse_config(family.comparison_config())
    assert [s.key for s in shipped.simulations()] == [s.key for s in default.simulations()]
    assert len(shipped) == 20


def test_reproduce_family_comparison_writes_store_table_and_report(tmp_path, capsys,
                                                                  monkeypatch):
    from hilbert_sd.commands import reproduce

    # the shipped config with 3 of its 20 splits (the whole takes 6 s on two idle cores)
    text = reproduce.config_path("family-comparison").read_text()
    assert "seeds = 20 " in text
    small = tmp_path / "family_comparison.toml"
    small.write_text(text.replace("seeds = 20 ", "seeds = 3 "))
    monkeypatch.setattr(reproduce, "config_path", lambda name: small)
    out = tmp_path / "fc"
    assert main(["reproduce", "family-comparison", "--out", str(out), "-q"]) == 0
    text = capsys.readouterr().out
    assert "kernel ridge" in text and "[oracle]" in text and "a new noise draw" in text
    names = ["comparison.csv", "comparison.json", "comparison.png", "comparison_splits.csv",
             "results.csv", "results.db"]
    assert sorted(p.name for p in out.iterdir()) == names
    assert all((out / n).stat().st_size > 0 for n in names)
    with ResultStore(out / "results.db") as store:
        rows = store.rows()
    assert len(rows) == 3 and {r["status"] for r in rows} == {"done"}
    saved = json.loads((out / "comparison.json").read_text())
    assert saved["config"]["n_splits"] == 3 and len(saved["records"]) == 3 * 7
    assert family.result_from_rows(rows).records == saved["records"]


def test_config_errors_name_the_key():
    base = {"experiment": {"name": "x"},
            "data": {"generator": "sine", "n_samples": 30, "n_test": 0},
            "method": {"name": "family_comparison"}}
    for method, key in [({"task": "regression", "noise_rate": 0.2}, "method.noise_rate"),
                        ({"task": "classification", "noise_var": 1.0}, "method.noise_var"),
                        ({"methods": ["ridge", "lasso"]}, r"method.methods\[1\]"),
                        ({"test_size": 1.0}, "method.test_size"), ({"cv": 1}, "method.cv")]:
        with pytest.raises(ConfigError, match=key):
            parse_config({**base, "method": {**base["method"], **method}})
    # data-dependent: the oracle without a noise variance, too few training samples
    with pytest.raises(ValueError, match="sd_mixed_oracle"):
        run_rows({**base, "method": {**base["method"], "methods": ["sd_mixed_oracle"]}},
                 name="x")
    with pytest.raises(ValueError, match="training"):
        run_rows({**base, "method": {**base["method"], "cv": 12}}, name="x")


def test_result_from_rows_refuses_rows_of_two_configurations():
    raw = {"experiment": {"name": "x", "seeds": 1},
           "data": {"generator": "sine", "n_samples": 24, "n_test": 0},
           "method": {"name": "family_comparison", "cv": [2, 3], "methods": ["ridge"]}}
    with pytest.raises(ValueError, match="several"):
        family.result_from_rows(run_rows(raw, name="x"))


def test_diabetes_generator_is_a_permutation_of_scikit_learns_data():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    data = load_dataset({"generator": "diabetes", "n_samples": 300, "n_test": 100,
                         "seed": 3}, ".")
    perm = np.random.default_rng(3).permutation(442)
    np.testing.assert_array_equal(data.X, X[perm[:300]])
    np.testing.assert_array_equal(data.y_test, y[perm[300:400]])
    with pytest.raises(ValueError, match="n_samples \\+ n_test <= 442"):
        load_dataset({"generator": "diabetes", "n_samples": 400, "n_test": 100, "seed": 0},
                     ".")
