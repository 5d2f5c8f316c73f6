"""Experiment configs: validation errors with key paths (exit status 2), grid expansion,
simulation keys and eigendecomposition groups."""

import shutil
import textwrap

import pytest

from hilbert_sd.cli import main
from hilbert_sd.experiments.config import load_config, parse_config
from hilbert_sd.experiments.schema import ConfigError

BASE = """
[experiment]
name = "cfg"
seeds = 3

[data]
generator = "sine"
n_samples = 20
label_noise = 0.1

[kernel]
name = "rbf"
gamma = 30.0

[method]
name = "self_distill"
epsilon = [0.01, 0.05]
n_rounds = 3
"""


def write(tmp_path, text, name="exp.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def cli_error(capsys, *argv):
    """Run the CLI expecting exit status 2; return its one-line error."""
    status = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1, err
    return err


# ---------------------------------------------------------------------------------------------
# expansion, keys, groups
# ---------------------------------------------------------------------------------------------
def test_grid_times_seeds_and_one_group(tmp_path):
    config = load_config(write(tmp_path, BASE))
    sims = config.simulations()
    assert len(sims) == len(config) == 2 * 3
    assert config.grid_keys == ["method.epsilon", "seed"]
    assert len({s.key for s in sims}) == 6
    # label noise and seeds change y, not the inputs: one eigendecomposition for all
    assert len({s.group for s in sims}) == 1
    assert [s.seed for s in sims] == [0, 1, 2, 0, 1, 2]
    assert [s.params["method.epsilon"] for s in sims] == [0.01] * 3 + [0.05] * 3


def test_groups_follow_inputs_and_kernel(tmp_path):
    text = BASE.replace("n_samples = 20", "n_samples = 20\nseed = [0, 1]\nfrequency = [1.0, 2.0]")
    text = text.replace("gamma = 30.0", "gamma = [10.0, 30.0]")
    sims = load_config(write(tmp_path, text)).simulations()
    assert len(sims) == 2 * 2 * 2 * 2 * 3
    groups = {}
    for s in sims:
        groups.setdefault((s.params["data.seed"], s.params["kernel.gamma"]), set()).add(s.group)
    # the input seed and the kernel make groups; the target frequency does not
    assert all(len(g) == 1 for g in groups.values())
    assert len({s.group for s in sims}) == 4


def test_methods_reading_only_the_spectrum_still_group_by_kernel(tmp_path):
    # gradient_flow and self_distill never read the Gram matrix itself, but their
    # eigendecomposition is built from the kernel: two kernels are two groups
    for method in ('name = "gradient_flow"\ntimes = [1.0, 10.0]',
                   'name = "self_distill"\nepsilon = 0.05\nn_rounds = 1'):
        text = BASE.replace("gamma = 30.0", "gamma = [10.0, 30.0]")
        text = text.replace('name = "self_distill"\nepsilon = [0.01, 0.05]\nn_rounds = 3', method)
        sims = load_config(write(tmp_path, text)).simulations()
        by_gamma = {}
        for s in sims:
            by_gamma.setdefault(s.params["kernel.gamma"], set()).add(s.group)
        assert sorted(by_gamma) == [10.0, 30.0]
        assert len(by_gamma[10.0] | by_gamma[30.0]) == 2
        assert not by_gamma[10.0] & by_gamma[30.0]


def test_array_of_tables_and_name_grid(tmp_path):
    text = BASE.replace('[kernel]\nname = "rbf"\ngamma = 30.0',
                        '[[kernel]]\nname = "rbf"\ngamma = [10.0, 30.0]\n'
                        '[[kernel]]\nname = ["laplacian", "linear"]')
    # laplacian/linear share no parameter here; linear has none
    config = load_config(write(tmp_path, text))
    assert [k["name"] for k in config.kernel] == ["rbf", "rbf", "laplacian", "linear"]
    assert config.kernel[2] == {"name": "laplacian", "gamma": None}
    assert "kernel.name" in config.grid_keys and "kernel.gamma" in config.grid_keys


def test_key_ignores_table_order_and_int_float(tmp_path):
    a = load_config(write(tmp_path, BASE, "a.toml")).simulations()
    reordered = BASE.replace('name = "self_distill"\nepsilon = [0.01, 0.05]\nn_rounds = 3',
                             'n_rounds = 3.0\nepsilon = [0.01, 0.05]\nname = "self_distill"')
    b = load_config(write(tmp_path, reordered, "b.toml")).simulations()
    assert [s.key for s in a] == [s.key for s in b]
    changed = load_config(write(tmp_path, BASE.replace("n_rounds = 3", "n_rounds = 4"),
                                "c.toml")).simulations()
    assert not {s.key for s in a} & {s.key for s in changed}


def test_file_data_keyed_by_content_not_path(tmp_path):
    text = """
    [data]
    path = "{path}"
    truth = "sin2pi"
    [kernel]
    name = "rbf"
    gamma = 80.0
    [method]
    name = "self_distill"
    epsilon = 0.05
    """
    pkg = load_config(write(tmp_path, text.format(path="hilbert_sd:data/mobahi_toy.csv")))
    (tmp_path / "sub").mkdir()
    from hilbert_sd.experiments.config import resolve_data_path

    shutil.copy(resolve_data_path("hilbert_sd:data/mobahi_toy.csv", tmp_path),
                tmp_path / "sub" / "toy.csv")
    moved = load_config(write(tmp_path / "sub", text.format(path="toy.csv")))
    assert pkg.simulations()[0].key == moved.simulations()[0].key
    with open(tmp_path / "sub" / "toy.csv", "a") as fh:
        fh.write("1.1,0.5\n")
    edited = load_config(write(tmp_path / "sub", text.format(path="toy.csv")))
    assert edited.simulations()[0].key != moved.simulations()[0].key


def test_seed_forms():
    def seeds(value):
        raw = {"experiment": {"seeds": value}, "data": {"generator": "sine", "n_samples": 5},
               "kernel": {"name": "rbf"}, "method": {"name": "self_distill", "epsilon": 0.1}}
        return parse_config(raw).seeds

    assert seeds(4) == [0, 1, 2, 3]
    assert seeds([7, 3]) == [7, 3]
    assert seeds({"start": 10, "count": 3}) == [10, 11, 12]
    for bad, where in [(0, "experiment.seeds"), ([1, 1], "experiment.seeds"),
                       ([1, -2], "experiment.seeds[1]"), ({"count": 0}, "experiment.seeds.count"),
                       ({"cnt": 2}, "experiment.seeds.cnt"), ("3", "experiment.seeds")]:
        with pytest.raises(ConfigError) as info:
            seeds(bad)
        assert info.value.problems[0][0] == where, (bad, info.value.problems)


def test_overrides(tmp_path):
    path = write(tmp_path, BASE)
    config = load_config(path, ["method.epsilon=0.2", "experiment.seeds=1",
                                "data.design=grid"])
    assert len(config) == 1
    assert config.method[0]["epsilon"] == 0.2 and config.data[0]["design"] == "grid"
    with pytest.raises(ConfigError, match="not KEY=VALUE"):
        load_config(path, ["method.epsilon"])


# ---------------------------------------------------------------------------------------------
# documented errors: key path, one line, exit status 2, nothing written
# ---------------------------------------------------------------------------------------------
ERRORS = [
    # (edit of BASE, expected fragment of the message)
    (("epsilon = [0.01, 0.05]", "epsilon = [0.01, 0.05]\nepsilonn = 2"),
     "method.epsilonn: unknown key; allowed: epsilon, alpha"),
    (("[kernel]", "[kernal]"), "kernal: unknown key; allowed: experiment, data, kernel"),
    (("gamma = 30.0", "gamma = 30.0\nwidth = 1"), "kernel.width: unknown key; allowed: gamma"),
    (("gamma = 30.0", 'gamma = "80"'), 'kernel.gamma: expected a number, got string "80"'),
    (("n_samples = 20", "n_samples = 20.5"), "data.n_samples: expected an integer, got float 20.5"),
    (("epsilon = [0.01, 0.05]", "epsilon = [0.01, 0.05, -1]"),
     "method.epsilon[2]: must be > 0, got -1"),
    (("label_noise = 0.1", "label_noise = -0.1"), "data.label_noise: must be >= 0, got -0.1"),
    (("n_rounds = 3", "n_rounds = 3\nmix = 1.5"), "method.mix: must be in [0, 1], got 1.5"),
    (("generator = \"sine\"", "generator = \"sin\""),
     'data.generator: unknown generator "sin"; available: "sine", "gaussian"'),
    (('name = "self_distill"', 'name = "self_distil"'),
     'method.name: unknown method "self_distil"'),
    (("epsilon = [0.01, 0.05]", "alpha = 0.1\nepsilon = 0.1"),
     "method: give exactly one of epsilon (budget rule) and alpha"),
    (("n_samples = 20", "n_samples = 20\nseeds = 3"), "data.seeds: unknown key"),
    (("epsilon = [0.01, 0.05]", "epsilon = []"), "method.epsilon: empty array"),
    (("epsilon = [0.01, 0.05]", "epsilon = [0.01, 0.01]"),
     "method.epsilon: grid axis has repeated"),
    (('[data]\ngenerator = "sine"', '[data]\npath = "nowhere.csv"\ngenerator = "sine"'),
     "data: give exactly one of generator"),
    (("[kernel]\nname = \"rbf\"\ngamma = 30.0", ""),
     'kernel: missing table: method "self_distill"'),
    (("seeds = 3", "seeds = 3\n[[data]]"), "invalid TOML"),
]


@pytest.mark.parametrize("edit, expected", ERRORS)
def test_documented_errors(tmp_path, capsys, edit, expected):
    old, new = edit
    assert old in BASE
    path = write(tmp_path, BASE.replace(old, new, 1))
    store = tmp_path / "out.db"
    err = cli_error(capsys, "sweep", str(path), "--store", str(store))
    assert err.startswith(f"error: {path}: "), err
    assert expected in err, err
    assert not store.exists()


def test_missing_data_file_names_the_path(tmp_path, capsys):
    text = BASE.replace('generator = "sine"\nn_samples = 20', 'path = "data/missing.csv"')
    path = write(tmp_path, text)
    err = cli_error(capsys, "sweep", str(path), "--dry-run")
    assert "data.path: file not found:" in err and "data/missing.csv" in err


def test_missing_config_file(tmp_path, capsys):
    err = cli_error(capsys, "sweep", str(tmp_path / "nope.toml"))
    assert "config file not found" in err and "nope.toml" in err


def test_array_of_tables_paths(tmp_path, capsys):
    text = BASE.replace('[kernel]\nname = "rbf"\ngamma = 30.0',
                        '[[kernel]]\nname = "rbf"\n[[kernel]]\nname = "rbf"\ngamma = 0.0')
    err = cli_error(capsys, "sweep", str(write(tmp_path, text)), "--dry-run")
    assert "kernel[1].gamma: must be > 0, got 0.0" in err


def test_several_problems_reported_together(tmp_path):
    text = BASE.replace("gamma = 30.0", "gamma = -1.0").replace("n_rounds = 3", "n_rounds = -2")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    paths = [p for p, _ in info.value.problems]
    assert paths == ["method.n_rounds", "kernel.gamma"]
    assert str(info.value).count("must be") == 2


def test_run_refuses_a_grid_without_index(tmp_path, capsys):
    err = cli_error(capsys, "run", str(write(tmp_path, BASE)))
    assert "defines 6 simulations" in err and "--index 0..5" in err
    err = cli_error(capsys, "run", str(write(tmp_path, BASE)), "--index", "6")
    assert "--index 6: out of range" in err


def test_bad_command_line_values(tmp_path, capsys):
    path = str(write(tmp_path, BASE))
    assert "--shard" in cli_error(capsys, "sweep", path, "--shard", "3/2")
    assert "--jobs: 0 is out of range" in cli_error(capsys, "sweep", path, "--jobs", "0")
    assert "--retry-failed needs --resume" in cli_error(capsys, "sweep", path, "--retry-failed")
    assert "not allowed with" in cli_error(capsys, "sweep", path, "--resume", "--overwrite")


def test_docs_describe_every_registered_name():
    from pathlib import Path

    from hilbert_sd.experiments.registry import GENERATORS, KERNELS, METHODS

    doc = (Path(__file__).resolve().parent.parent / "docs" / "topics" / "experiments.rst")
    if not doc.exists():
        pytest.skip("docs not available")
    text = doc.read_text()
    for name, spec in METHODS.items():
        assert f"``{name}``" in text, name
        for param in spec.params:
            assert f"``{param}``" in text, (name, param)
    for name, spec in GENERATORS.items():
        assert f'"{name}"' in text, name
        for param in spec.params:
            assert f"``{param}``" in text, (name, param)
    for name, params in KERNELS.items():
        assert f"``{name}``" in text, name
