"""One source of truth for a parameter (issue 13): the command line's options are declared
from the registry's :class:`~hilbert_sd.experiments.schema.Param`, which the config validator
and the library functions check against too.

The checks: every option built from a parameter accepts exactly what the parameter accepts on
probe values around its bounds and choices; a value refused on the command line is refused by a
TOML config and by the library function with the same allowed range; and changing the one
declaration changes all three.
"""

from dataclasses import replace

import pytest

from hilbert_sd.cli import UsageError, build_parser, main
from hilbert_sd.experiments import registry
from hilbert_sd.experiments.config import parse_config
from hilbert_sd.experiments.schema import ConfigError, Param


def _param_actions():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            if hasattr(action, "param"):
                yield name, action


ACTIONS = list(_param_actions())


def _probes(param):
    """Texts around the parameter's bounds, plus malformed ones."""
    texts = ["abc", "nan", "inf", "-inf", "", "1.5", "0", "1", "-1", "2"]
    for bound in (param.low, param.high):
        if bound is not None:
            for delta in (-1, -1e-9, 0, 1e-9, 1):
                texts.append(repr(bound + delta))
                if float(bound + delta).is_integer():
                    texts.append(str(int(bound + delta)))
    if param.choices:
        texts += list(param.choices) + ["bogus", param.choices[0].upper()]
    return texts


def _noisy_config(**method):
    return {"experiment": {"name": "x", "seeds": [0]},
            "data": {"generator": "clustered", "n_samples": 20, "n_test": 5},
            "kernel": {"name": "arccos"},
            "method": {"name": "noisy_labels", "noise_rate": 0.2, **method}}


def _accepts(param, text):
    """The parameter's own verdict on ``text``, through :meth:`Param.check` only."""
    kind = param.kind.removesuffix("_list")
    try:
        value = {"float": float, "int": int}.get(kind, str)(text)
    except ValueError:
        return False
    if kind == "str" and text == "":
        return param.choices is None
    value, problems = param.check([value] if param.kind.endswith("_list") else value, "x")
    return not problems


def test_the_quick_commands_declare_their_parameters_from_the_registry():
    commands = {name for name, _ in ACTIONS}
    assert {"noisy-labels", "soft-labels", "demo"} <= commands
    assert len(ACTIONS) >= 20


@pytest.mark.parametrize("command, action", ACTIONS,
                         ids=[f"{c}{a.option_strings[0]}" for c, a in ACTIONS])
def test_option_accepts_exactly_what_the_parameter_accepts(command, action):
    param = action.param
    for text in _probes(param):
        expected = _accepts(param, action.aliases.get(text, text))
        try:
            action.type(text)
            got = True
        except Exception:  # argparse.ArgumentTypeError
            got = False
        assert got == expected, (command, action.option_strings, text)
    assert param.allowed() in action.help.replace("%%", "%")


def test_a_refused_value_names_the_same_range_everywhere(tmp_path, capsys, monkeypatch):
    # command line
    monkeypatch.chdir(tmp_path)
    assert main(["noisy-labels", "--ema-a", "1.5"]) == 2
    line = capsys.readouterr().err.strip()
    assert "--ema-a" in line and "allowed: a finite number in [0, 1]" in line
    # config file
    with pytest.raises(ConfigError, match=r"method\.ema_a: must be in \[0, 1\], got 1\.5"):
        parse_config(_noisy_config(ema_a=1.5))
    # library function
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    with pytest.raises(ValueError, match=r"method\.ema_a: must be in \[0, 1\]"):
        run_noisy_labels(20, n_test=5, ema_a=1.5)
    assert list(tmp_path.iterdir()) == []


def test_changing_the_one_declaration_changes_command_line_and_config(monkeypatch, capsys):
    spec = registry.METHODS["noisy_labels"]
    narrowed = replace(spec.params["ema_a"], high=0.5)
    monkeypatch.setitem(spec.params, "ema_a", narrowed)
    with pytest.raises(UsageError, match=r"allowed: a finite number in \[0, 0\.5\]"):
        build_parser().parse_args(["noisy-labels", "--ema-a", "0.7"])
    args = build_parser().parse_args(["noisy-labels", "--ema-a", "0.4"])
    assert args.ema_a == 0.4
    with pytest.raises(ConfigError, match=r"in \[0, 0\.5\]"):
        parse_config(_noisy_config(ema_a=0.7))


@pytest.mark.parametrize("param, text, value", [
    (Param("float", low=0, low_inclusive=False), "1e-300", 1e-300),
    (Param("int", low=1), "7", 7),
    (Param("str", choices=("a", "b")), "b", "b"),
    (Param("float_list", low=0, low_inclusive=False), "1, 2 4", [1.0, 2.0, 4.0]),
    (Param("int", low=1), "3,4", [3, 4]),
    (Param("bool"), "False", False),
])
def test_parse_text_values(param, text, value):
    many = text.count(",") and not param.kind.endswith("_list")
    assert param.parse_text(text, many=bool(many)) == value


@pytest.mark.parametrize("param, text, message", [
    (Param("float", low=0, low_inclusive=False), "0", "'0' is out of range; allowed: a "
                                                     "finite number > 0"),
    (Param("float", low=0, high=1), "nan", "allowed: a finite number in [0, 1]"),
    (Param("int", low=1), "1.5", "'1.5' is not an integer"),
    (Param("float_list", low=0, low_inclusive=False), "1,x", "'x' is not a number"),
    (Param("float_list", low=0, low_inclusive=False), " , ", "is empty"),
    (Param("str", choices=("a", "b")), "c", 'allowed: one of "a", "b"'),
])
def test_parse_text_refusals_name_value_and_range(param, text, message):
    with pytest.raises(ValueError) as info:
        param.parse_text(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("function, method", [
    ("noisy_labels:run_noisy_labels", "noisy_labels"),
    ("soft_labels:run_soft_labels", "soft_labels"),
    ("linear_teacher:linear_teacher_experiment", "linear_teacher"),
    ("family:compare_family", "family_comparison"),
    ("mixing:optimal_xi_vs_noise", "optimal_mixing"),
    ("mixing:kstep_vs_best_ridge", "optimal_mixing"),
])
def test_library_functions_default_to_the_registered_defaults(function, method):
    """A study's library function and its registered method agree on every default they
    share, so a config, a function call and a command line without the value run alike."""
    import inspect

    func = registry.load_attribute(f"hilbert_sd.experiments.{function}")
    params = registry.METHODS[method].params
    shared = {k: p.default for k, p in inspect.signature(func).parameters.items()
              if k in params}
    assert len(shared) >= 1
    for key, default in shared.items():
        expected = params[key].default
        if isinstance(default, tuple):
            default = list(default)
        assert default == expected, (function, key)


def test_array_level_functions_check_against_the_registered_parameters():
    """compare_family and linear_teacher_experiment take arrays or sizes, not a config: they
    check their arguments with the registered Params directly (same allowed text)."""
    from hilbert_sd.experiments.family import compare_family
    from hilbert_sd.experiments.linear_teacher import linear_teacher_experiment

    X, y = [[0.0], [1.0]] * 10, [0.0, 1.0] * 10
    cases = [(lambda: compare_family(X, y, cv=1),
              "cv=1 is out of range; allowed: an integer >= 2"),
             (lambda: compare_family(X, y, test_size=1.0),
              "test_size=1.0 is out of range; allowed: a finite number in (0, 1)"),
             (lambda: linear_teacher_experiment(d=2),
              "d=2 is out of range; allowed: an integer >= 3")]
    for call, message in cases:
        with pytest.raises(ValueError) as info:
            call()
        assert message in str(info.value)
