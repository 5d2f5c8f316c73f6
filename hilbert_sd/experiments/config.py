"""Experiment configs: TOML files read with the standard library, validated on load, expanded
into simulations.

A config has the tables ``[experiment]``, ``[data]``, ``[kernel]``, ``[method]`` and
``[output]``; ``data``, ``kernel`` and ``method`` may also be arrays of tables
(``[[kernel]]``), whose options are concatenated. A scalar parameter given as an array is a
grid axis; the simulations are the Cartesian product of every axis, times the seeds. See
:doc:`/topics/experiments` for a complete annotated example.

Every simulation is identified by the SHA-256 of the canonical JSON of its resolved
configuration (data, kernel, method with defaults filled in, and seed). Data files enter the
key through their content hash, not their path, so moving a config does not invalidate a store.
"""

import hashlib
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from hilbert_sd.experiments.registry import (GENERATORS, KERNELS, TRUTHS, get_method, load_attribute,
                                           uses_kernel)
from hilbert_sd.experiments.schema import ConfigError, Param, format_value

__all__ = [
    "ExperimentConfig",
    "Simulation",
    "canonical_json",
    "load_config",
    "parse_config",
    "resolve_data_path",
]

PACKAGE_PREFIX = "hilbert_sd:"

_TOP_LEVEL = ("experiment", "data", "kernel", "method", "output")

EXPERIMENT_PARAMS = {
    "name": Param("str", default=None, gridable=False,
                  doc="name recorded with every row (default: the config file's stem)"),
    "description": Param("str", default="", gridable=False, doc="free text"),
}

DATA_COMMON = {
    "label_noise": Param("float", default=0.0, low=0, inputs=False,
                         doc="std of Gaussian noise added to the training labels, drawn from "
                             "the simulation seed"),
}

FILE_PARAMS = {
    "path": Param("str", doc='CSV/NPY/NPZ file, relative to the config file, or '
                             '"hilbert_sd:data/NAME" for data shipped with the package'),
    "features": Param("str_list", default=None,
                      doc="CSV input columns (default: all but the target)"),
    "target": Param("str", default=None, inputs=False,
                    doc="CSV label column (default: the last column)"),
    "test_path": Param("str", default=None, doc="test file, same format; its labels are the "
                                                "noise-free targets"),
    "truth": Param("str", default=None, choices=tuple(TRUTHS), inputs=False,
                   doc="noise-free target function, evaluated on an even test grid (1-D inputs)"),
    "n_test": Param("int", default=200, low=1, doc="points of the test grid for truth"),
    "test_range": Param("float_list", default=None,
                        doc="[low, high] of the test grid (default: the range of the inputs)"),
}

OUTPUT_PARAMS = {
    "store": Param("str", default=None, gridable=False,
                   doc="SQLite results store, relative to the working directory "
                       "(default: NAME.db)"),
    "table": Param("str", default=None, gridable=False,
                   doc="CSV file the tidy table is exported to after a sweep"),
}

SEEDS_DOC = ("seeds = 5 (seeds 0..4), seeds = [3, 7, 11], or seeds = {start = 100, count = 20}; "
             "default: [0]")

# keys of a data option that are file names: identified by their content hash instead
_PATH_KEYS = ("path", "test_path")


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise ValueError("reading TOML configs on Python 3.10 needs the 'tomli' package "
                             "(pip install tomli); Python >= 3.11 has it built in") from None
    return tomllib


# ---------------------------------------------------------------------------------------------
# canonical form and hashes
# ---------------------------------------------------------------------------------------------
def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        # strict JSON has no inf/nan; strings keep the store readable by any JSON parser
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return _jsonable(obj.item())
    return obj


def canonical_json(obj):
    """Deterministic JSON (sorted keys, no spaces, non-finite floats as strings)."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(obj):
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()


def _data_for_hash(data, drop=()):
    return {k: v for k, v in data.items() if k not in _PATH_KEYS and k not in drop}


# ---------------------------------------------------------------------------------------------
# simulations
# ---------------------------------------------------------------------------------------------
@dataclass
class Simulation:
    """One simulation of a sweep.

    Attributes
    ----------
    index : int
        Position in the expansion of the config (data, kernel, method options, then seeds).
    key : str
        SHA-256 (hex) of the canonical JSON of ``config``: the row's key in the store.
    config : dict
        ``{"data": ..., "kernel": ... or None, "method": ..., "seed": ...}``, resolved.
    group : str
        Hash of the training inputs and kernel: simulations with the same group share one
        Gram matrix and one eigendecomposition.
    data_id : str
        Hash of the noise-free data set (inputs and labels).
    params : dict
        Flat ``{"data.n_samples": ..., "method.epsilon": ..., "seed": ...}`` for tables.
    """

    index: int
    key: str
    config: dict
    group: str
    data_id: str
    params: dict

    @property
    def seed(self):
        return self.config["seed"]

    @property
    def method(self):
        return self.config["method"]["name"]


@dataclass
class ExperimentConfig:
    """A validated experiment config.

    Attributes
    ----------
    name, description : str
    seeds : list of int
    data, kernel, method : list of dict
        The options of each table after grid expansion (``kernel`` is ``[None]`` when the
        config has no kernel).
    output : dict
    source : str or None
        The config file.
    base_dir : pathlib.Path
        Directory that relative data paths are resolved against.
    grid_keys : list of str
        Flat keys (``"method.epsilon"``) that take more than one value.
    """

    name: str
    description: str
    seeds: list
    data: list
    kernel: list
    method: list
    output: dict
    source: str = None
    base_dir: Path = field(default_factory=Path.cwd)
    grid_keys: list = field(default_factory=list)

    def __len__(self):
        return len(self.data) * len(self.kernel) * len(self.method) * len(self.seeds)

    def simulations(self):
        """Expand into :class:`Simulation` objects (data, kernel, method options, then seeds).

        Returns
        -------
        list of Simulation
        """
        sims = []
        requires = {}
        for data, kernel, method in itertools.product(self.data, self.kernel, self.method):
            name = method["name"]
            if name not in requires:
                requires[name] = get_method(name).requires
            # The kernel only matters to the group when the method uses it (directly, or
            # through the eigendecomposition or the test kernel built from it).
            kernel_for_group = kernel if uses_kernel(requires[name]) else None
            inputs = {k: v for k, v in _data_for_hash(data).items() if _is_input_key(data, k)}
            group = _digest({"inputs": inputs, "kernel": kernel_for_group})
            data_id = _digest(_data_for_hash(data, drop=("label_noise",)))
            flat = _flatten({"data": data, "kernel": kernel, "method": method})
            for seed in self.seeds:
                config = {"data": data, "kernel": kernel, "method": method, "seed": seed}
                hashed = dict(config, data=_data_for_hash(data))
                sims.append(Simulation(index=len(sims), key=_digest(hashed), config=config,
                                       group=group, data_id=data_id,
                                       params={**flat, "seed": seed}))
        return sims


def _is_input_key(data, key):
    if "generator" in data:
        spec = GENERATORS[data["generator"]].params
        return key == "generator" or (key in spec and spec[key].inputs)
    if key in ("sha256", "test_sha256"):
        return True
    param = FILE_PARAMS.get(key) or DATA_COMMON.get(key)
    return param is not None and param.inputs


def _flatten(config):
    flat = {}
    for section, table in config.items():
        if table is None:
            continue
        for k, v in table.items():
            if k in ("sha256", "test_sha256"):
                continue
            flat[f"{section}.{k}"] = v
    return flat


# ---------------------------------------------------------------------------------------------
# loading and validation
# ---------------------------------------------------------------------------------------------
def load_config(path, overrides=()):
    """Read and validate a TOML experiment config.

    Parameters
    ----------
    path : str or path-like
    overrides : iterable of str
        ``"KEY=VALUE"`` assignments applied before validation (``method.epsilon=0.1``,
        ``data.n_samples=[100, 200]``); VALUE is parsed as TOML, else taken as a string.

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
        (a ``ValueError``) naming the file and the key path of every problem.
    FileNotFoundError
        If the config file does not exist.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError([("", f"not a UTF-8 text file ({exc.reason})")], str(path)) from None
    tomllib = _tomllib()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("", f"invalid TOML: {exc}")], str(path)) from None
    try:
        _apply_overrides(raw, overrides)
        return parse_config(raw, base_dir=path.resolve().parent, default_name=path.stem,
                            source=str(path))
    except ConfigError as exc:
        raise exc.with_source(str(path)) from None


def _apply_overrides(raw, overrides):
    tomllib = _tomllib()
    problems = []
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(("", f"override {item!r} is not KEY=VALUE"))
            continue
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        target = raw
        parts = key.split(".")
        for part in parts[:-1]:
            name, _, index = part.partition("[")
            node = target.setdefault(name, {})
            if index:
                try:
                    node = node[int(index.rstrip("]"))]
                except (ValueError, IndexError, KeyError, TypeError):
                    problems.append((key, "override names an array element that does not exist"))
                    break
            elif isinstance(node, list):
                problems.append((key, f"{name} is an array of tables; use {name}[i].KEY"))
                break
            if not isinstance(node, dict):
                problems.append((key, "override path runs through a non-table value"))
                break
            target = node
        else:
            target[parts[-1]] = parsed
    if problems:
        raise ConfigError(problems)


def parse_config(raw, *, base_dir=None, default_name="experiment", source=None):
    """Validate a config given as a dict (the parsed TOML).

    Parameters
    ----------
    raw : dict
    base_dir : path-like, optional
        Directory for relative data paths (default: the working directory).
    default_name : str
        ``experiment.name`` when the config gives none.
    source : str, optional
        Name of the config in messages.

    Returns
    -------
    ExperimentConfig

    Raises
    ------
    ConfigError
    """
    base_dir = Path.cwd() if base_dir is None else Path(base_dir)
    problems = []
    if not isinstance(raw, dict):
        raise ConfigError([("", "the config must be a table")], source)
    for key in raw:
        if key not in _TOP_LEVEL:
            problems.append((key, f"unknown key; allowed: {', '.join(_TOP_LEVEL)}"))

    experiment = _section_table(raw, "experiment", problems)
    exp_vals = {}
    seeds = [0]
    if experiment is not None:
        rest = {k: v for k, v in experiment.items() if k != "seeds"}
        exp_vals = _single(_validate_table(rest, EXPERIMENT_PARAMS, "experiment", problems,
                                           extra_allowed=("seeds",)))
        if "seeds" in experiment:
            seeds = _parse_seeds(experiment["seeds"], "experiment.seeds", problems)
    name = exp_vals.get("name") or default_name
    description = exp_vals.get("description") or ""

    output = {"store": None, "table": None}
    out_table = _section_table(raw, "output", problems)
    if out_table is not None:
        output = _single(_validate_table(out_table, OUTPUT_PARAMS, "output", problems))

    data = []
    for path, table in _section_tables(raw, "data", problems, required=True):
        data += _data_options(table, path, base_dir, problems)

    methods = []
    method_specs = {}
    for path, table in _section_tables(raw, "method", problems, required=True):
        opts, specs = _method_options(table, path, problems)
        methods += opts
        method_specs.update(specs)

    kernels = []
    needs_kernel = [n for n, s in method_specs.items() if uses_kernel(s.requires)]
    kernel_tables = _section_tables(raw, "kernel", problems, required=False)
    for path, table in kernel_tables:
        kernels += _named_options(table, path, "name", KERNELS, "kernel", problems)
    if not kernel_tables:
        if needs_kernel and "kernel" not in raw:
            problems.append(("kernel", f'missing table: method "{needs_kernel[0]}" needs a '
                                       "kernel"))
        kernels = [None]

    if problems:
        raise ConfigError(_dedupe(problems), source)
    grid_keys = []
    for section, options in (("data", data), ("kernel", kernels), ("method", methods)):
        values = {}
        for opt in options:
            for k, v in (opt or {}).items():
                values.setdefault(k, set()).add(canonical_json(v))
        grid_keys += [f"{section}.{k}" for k, v in values.items()
                      if len(v) > 1 and k not in ("sha256", "test_sha256")]
    if len(seeds) > 1:
        grid_keys.append("seed")
    return ExperimentConfig(name=name, description=description, seeds=seeds, data=data,
                            kernel=kernels, method=methods, output=output, source=source,
                            base_dir=base_dir, grid_keys=grid_keys)


def _dedupe(problems):
    seen, out = set(), []
    for p in problems:
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out


def _section_table(raw, name, problems):
    if name not in raw:
        return None
    value = raw[name]
    if not isinstance(value, dict):
        problems.append((name, f"expected a table [{name}], got {format_value(value)}"))
        return None
    return value


def _section_tables(raw, name, problems, required):
    """``[(path, table)]`` for a table or an array of tables."""
    if name not in raw:
        if required:
            problems.append((name, f"missing table [{name}]"))
        return []
    value = raw[name]
    if isinstance(value, dict):
        return [(name, value)]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [(f"{name}[{i}]", v) for i, v in enumerate(value)]
    problems.append((name, f"expected a table [{name}] or an array of tables [[{name}]]"))
    return []


def _validate_table(table, schema, path, problems, extra_allowed=()):
    """Check every key of ``table`` against ``schema``; return ``{key: [candidate values]}``."""
    axes = {}
    for key, value in table.items():
        if key in extra_allowed:
            continue
        kpath = f"{path}.{key}"
        if key not in schema:
            allowed = ", ".join(list(schema) + list(extra_allowed))
            problems.append((kpath, f"unknown key; allowed: {allowed}"))
            continue
        param = schema[key]
        if param.is_grid(value):
            if not param.gridable:
                problems.append((kpath, f"expected a single {param.kind}, got an array "
                                        "(this key cannot be a grid axis)"))
                continue
            if not value:
                problems.append((kpath, "empty array: a grid axis needs at least one value"))
                continue
            vals = []
            for i, v in enumerate(value):
                cv, p = param.check(v, f"{kpath}[{i}]")
                problems += p
                vals.append(cv)
            if len(vals) != len({canonical_json(v) for v in vals}):
                problems.append((kpath, "grid axis has repeated values"))
            axes[key] = vals
        else:
            cv, p = param.check(value, kpath)
            problems += p
            axes[key] = [cv]
    out = {}
    for key, param in schema.items():
        if key in axes:
            out[key] = axes[key]
        elif param.required:
            problems.append((f"{path}.{key}", "missing (required)"))
        else:
            out[key] = [param.default]
    return out


def _product(axes):
    keys = list(axes)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def _single(axes):
    return {k: v[0] for k, v in axes.items()}


def _parse_seeds(value, path, problems):
    seed = Param("int", low=0)
    if isinstance(value, bool):
        problems.append((path, f"expected an integer, an array of integers or a table; got "
                               f"{format_value(value)}"))
        return [0]
    if isinstance(value, int):
        if value < 1:
            problems.append((path, f"a count of seeds must be >= 1, got {value}"))
            return [0]
        return list(range(value))
    if isinstance(value, list):
        if not value:
            problems.append((path, "empty array: give at least one seed"))
            return [0]
        out = []
        for i, v in enumerate(value):
            cv, p = seed.check(v, f"{path}[{i}]")
            problems += p
            out.append(cv)
        if len(set(map(repr, out))) != len(out):
            problems.append((path, "repeated seeds"))
        return out
    if isinstance(value, dict):
        axes = _validate_table(value, {"start": Param("int", default=0, low=0),
                                       "count": Param("int", low=1)}, path, problems)
        vals = _single(axes) if all(len(v) == 1 for v in axes.values()) else None
        if vals is None or not isinstance(vals.get("count"), int) \
                or not isinstance(vals.get("start"), int):
            return [0]
        return list(range(vals["start"], vals["start"] + vals["count"]))
    problems.append((path, f"expected an integer, an array of integers or a table; got "
                           f"{format_value(value)}"))
    return [0]


def _discriminator(table, key, path, registry, what, problems):
    """Values of a table's selector key (``generator``, ``name``), each checked."""
    value = table.get(key)
    if value is None:
        problems.append((f"{path}.{key}", "missing (required)"))
        return []
    values = value if isinstance(value, list) else [value]
    paths = [f"{path}.{key}[{i}]" for i in range(len(values))] if isinstance(value, list) \
        else [f"{path}.{key}"]
    out = []
    for v, p in zip(values, paths):
        if not isinstance(v, str):
            problems.append((p, f"expected a string, got {format_value(v)}"))
        elif v not in registry:
            avail = ", ".join(f'"{r}"' for r in registry)
            problems.append((p, f'unknown {what} "{v}"; available: {avail}'))
        else:
            out.append(v)
    return out


def _named_options(table, path, key, registry, what, problems):
    opts = []
    names = _discriminator(table, key, path, registry, what, problems)
    rest = {k: v for k, v in table.items() if k != key}
    for name in names:
        schema = registry[name]
        schema = schema.params if hasattr(schema, "params") else schema
        axes = _validate_table(rest, schema, path, problems)
        opts += [{key: name, **o} for o in _product(axes)]
    return opts


def _data_options(table, path, base_dir, problems):
    if ("generator" in table) == ("path" in table):
        problems.append((path, 'give exactly one of generator = "..." (synthetic data) and '
                               'path = "..." (a CSV/NPY/NPZ file)'))
        return []
    if "generator" in table:
        registry = {g: {**spec.params, **DATA_COMMON} for g, spec in GENERATORS.items()}
        return _named_options(table, path, "generator", registry, "generator", problems)
    axes = _validate_table(table, {**FILE_PARAMS, **DATA_COMMON}, path, problems)
    opts = []
    for opt in _product(axes):
        n_before = len(problems)
        for key, hkey in (("path", "sha256"), ("test_path", "test_sha256")):
            if opt.get(key) is None:
                continue
            resolved = resolve_data_path(opt[key], base_dir)
            if not resolved.is_file():
                problems.append((f"{path}.{key}", f"file not found: {resolved}"))
                continue
            from hilbert_sd.experiments.data import file_sha256

            opt[hkey] = file_sha256(resolved)
        if opt.get("truth") is not None and opt.get("test_path") is not None:
            problems.append((path, "give at most one of truth and test_path"))
        rng = opt.get("test_range")
        if rng is not None:
            if opt.get("truth") is None:
                problems.append((f"{path}.test_range", "needs truth"))
            elif len(rng) != 2 or not rng[0] < rng[1]:
                problems.append((f"{path}.test_range", f"must be [low, high] with low < high, "
                                                       f"got {format_value(rng)}"))
        if len(problems) == n_before:
            opts.append(opt)
    return opts


def resolve_data_path(path, base_dir):
    """Absolute path of a data file named in a config.

    ``"hilbert_sd:data/mobahi_toy.csv"`` names a file shipped with the package; other
    relative paths are relative to ``base_dir`` (the config file's directory).
    """
    if path.startswith(PACKAGE_PREFIX):
        import hilbert_sd

        return Path(hilbert_sd.__file__).parent / path[len(PACKAGE_PREFIX):]
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else Path(base_dir) / p


def _method_options(table, path, problems):
    names = table.get("name")
    name_list = names if isinstance(names, list) else [names]
    if names is None:
        problems.append((f"{path}.name", "missing (required)"))
        return [], {}
    opts, specs = [], {}
    rest = {k: v for k, v in table.items() if k != "name"}
    for i, name in enumerate(name_list):
        npath = f"{path}.name[{i}]" if isinstance(names, list) else f"{path}.name"
        if not isinstance(name, str):
            problems.append((npath, f"expected a string, got {format_value(name)}"))
            continue
        try:
            spec = get_method(name)
        except ConfigError as exc:
            problems += [(npath, msg) for _, msg in exc.problems]
            continue
        specs[name] = spec
        if spec.params is None:  # a user's callable: parameters pass through unchecked
            axes = {k: (v if isinstance(v, list) else [v]) for k, v in rest.items()}
        else:
            axes = _validate_table(rest, spec.params, path, problems)
        for opt in _product(axes):
            opt = {"name": name, **opt}
            if spec.check is not None:
                check = load_attribute(spec.check)
                problems += [(f"{path}.{k}" if k else path, msg) for k, msg in check(opt)]
            opts.append(opt)
    return opts, specs

