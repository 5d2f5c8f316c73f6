"""Experiment configs: TOML files read with the standard library, validated on load, expanded
into simulations.

A config has the tables ``[experiment]``, ``[data]``, ``[kernel]``, ``[method]``, an optional
``[spectrum]`` (how each group's kernel matrix is factored) and ``[output]``; ``data``,
``kernel`` and ``method`` may also be arrays of tables (``[[kernel]]``), whose options are
concatenated. A scalar parameter given as an array is a
grid axis; the simulations are the Cartesian product of every axis, times the seeds. See
:doc:`/topics/experiments` for a complete annotated example.

Nothing in a config runs before it is validated: a method given as an import reference
(``"package.module:function"``) is imported only with ``allow_import`` (``--allow-import``);
``experiment.name`` is a plain file name (it names the default store); the number of
simulations, seeds and rounds and the memory each (data, method) pair needs are bounded
before anything is expanded (:func:`memory_limit`); nesting deeper than :data:`MAX_DEPTH`
is refused before the TOML parser recurses into it.

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
    "MAX_DEPTH",
    "MAX_ROUNDS",
    "MAX_SIMULATIONS",
    "Simulation",
    "canonical_json",
    "load_config",
    "memory_limit",
    "parse_config",
    "resolve_data_path",
]

PACKAGE_PREFIX = "hilbert_sd:"

_TOP_LEVEL = ("experiment", "data", "kernel", "method", "spectrum", "output")

#: Deepest nesting of arrays and inline tables a config may have (TOML text and values).
MAX_DEPTH = 32
#: Most simulations one config may define (its plan keeps a few KiB per simulation).
MAX_SIMULATIONS = 1_000_000
#: Most rounds a self-distillation run may be asked for.
MAX_ROUNDS = 1_000_000
# memory of one planned simulation (its Simulation object, parameters and row), measured
# on the shipped configs to within a factor of two
_PLAN_BYTES = 4096

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

SPECTRUM_PARAMS = {
    "method": Param("str", default="auto",
                    choices=("auto", "dense", "implicit", "randomized", "nystrom"),
                    gridable=False,
                    doc="how each group's kernel matrix is factored (hilbert_sd.spectral."
                        "decompose); absent table: the dense eigendecomposition"),
    "rank": Param("int", default=None, low=1, gridable=False,
                  doc='eigenpairs ("randomized") or landmarks ("nystrom"); required by those, '
                      "refused by the exact methods"),
    "landmarks": Param("str", default=None, choices=("uniform", "kmeans++"), gridable=False,
                       doc='"nystrom" only: how the landmarks are drawn (default "uniform")'),
    "random_state": Param("int", default=None, low=0, gridable=False,
                          doc="seed of the low-rank methods (default 0)"),
}
_LOW_RANK = ("randomized", "nystrom")

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
    spectrum : dict or None
        The ``[spectrum]`` table with its defaults filled in (None without the table: the
        dense eigendecomposition). Part of the key and the group of every simulation that
        uses the kernel.
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
    spectrum: dict = None

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
                # validated with the user's consent to imports (parse_config)
                requires[name] = get_method(name, allow_import=True).requires
            # The kernel only matters to the group when the method uses it (directly, or
            # through the eigendecomposition or the test kernel built from it).
            kernel_for_group = kernel if uses_kernel(requires[name]) else None
            inputs = {k: v for k, v in _data_for_hash(data).items() if _is_input_key(data, k)}
            grouped = {"inputs": inputs, "kernel": kernel_for_group}
            # the spectrum settings enter keys and groups only when given, so that stores
            # written without a [spectrum] table keep their keys
            spectrum = self.spectrum if kernel_for_group is not None else None
            if spectrum is not None:
                grouped["spectrum"] = spectrum
            group = _digest(grouped)
            data_id = _digest(_data_for_hash(data, drop=("label_noise",)))
            sections = {"data": data, "kernel": kernel, "method": method}
            if spectrum is not None:
                sections["spectrum"] = spectrum
            flat = _flatten(sections)
            for seed in self.seeds:
                config = {"data": data, "kernel": kernel, "method": method, "seed": seed}
                if spectrum is not None:
                    config["spectrum"] = spectrum
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
def load_config(path, overrides=(), *, allow_import=False):
    """Read and validate a TOML experiment config.

    Parameters
    ----------
    path : str or path-like
    overrides : iterable of str
        ``"KEY=VALUE"`` assignments applied before validation (``method.epsilon=0.1``,
        ``data.n_samples=[100, 200]``); VALUE is parsed as TOML, else taken as a string.
    allow_import : bool, default=False
        Allow ``method.name = "package.module:function"``: importing it runs that module's
        code, so it needs the user's consent (``--allow-import``). Without it such a config
        is refused and nothing is imported.

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
        _check_nesting(text, "")
        raw = tomllib.loads(text)
        _check_value_depth(raw)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([("", f"invalid TOML: {exc}")], str(path)) from None
    except ConfigError as exc:
        raise exc.with_source(str(path)) from None
    try:
        _apply_overrides(raw, overrides)
        return parse_config(raw, base_dir=path.resolve().parent, default_name=path.stem,
                            source=str(path), allow_import=allow_import)
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
            _check_nesting(value, key)
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        except ConfigError as exc:
            problems += exc.problems
            continue
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


def parse_config(raw, *, base_dir=None, default_name="experiment", source=None,
                 allow_import=False):
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
    allow_import : bool, default=False
        Allow methods given as ``"package.module:function"`` (imported here to be checked).

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
    _check_value_depth(raw)
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
    problems += _check_name(name)

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
        opts, specs = _method_options(table, path, problems, allow_import)
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

    spectrum = None
    spectrum_table = _section_table(raw, "spectrum", problems)
    if spectrum_table is not None:
        spectrum = _spectrum_options(spectrum_table, problems)

    if not problems:
        problems += _size_problems(data, kernels, methods, seeds, spectrum, method_specs)
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
                            base_dir=base_dir, grid_keys=grid_keys, spectrum=spectrum)


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
    size = math.prod(len(axes[k]) for k in keys)
    if size > MAX_SIMULATIONS:
        raise _TooLarge(size)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(axes[k] for k in keys))]


def _expand(axes, path, problems):
    """The grid points of a table's axes, or none (and a problem) past MAX_SIMULATIONS."""
    try:
        return _product(axes)
    except _TooLarge as exc:
        problems.append((path, f"the grid has {exc.size} points; allowed at most "
                               f"{MAX_SIMULATIONS} simulations{_plan_memory(exc.size)}"))
        return []


class _TooLarge(Exception):
    """A grid with more points than :data:`MAX_SIMULATIONS` (never expanded)."""

    def __init__(self, size):
        super().__init__(size)
        self.size = size


def _single(axes):
    return {k: v[0] for k, v in axes.items()}


def _parse_seeds(value, path, problems):
    seed = Param("int", low=0)
    if isinstance(value, bool):
        problems.append((path, f"expected an integer, an array of integers or a table; got "
                               f"{format_value(value)}"))
        return [0]
    if isinstance(value, int):
        if not 1 <= value <= MAX_SIMULATIONS:
            problems.append((path, f"a count of seeds must be in 1..{MAX_SIMULATIONS}, got "
                                   f"{value}{_plan_memory(value)}"))
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
        count = axes.get("count", [1])[0]
        if isinstance(count, int) and count > MAX_SIMULATIONS:
            problems.append((f"{path}.count", f"must be in 1..{MAX_SIMULATIONS}, got "
                                              f"{count}{_plan_memory(count)}"))
            return [0]
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
        opts += [{key: name, **o} for o in _expand(axes, path, problems)]
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
    for opt in _expand(axes, path, problems):
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


def _method_options(table, path, problems, allow_import=False):
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
            spec = get_method(name, allow_import=allow_import)
        except ConfigError as exc:
            problems += [(npath, msg) for _, msg in exc.problems]
            continue
        specs[name] = spec
        if spec.params is None:  # a user's callable: parameters pass through unchecked
            axes = {k: (v if isinstance(v, list) else [v]) for k, v in rest.items()}
        else:
            axes = _validate_table(rest, spec.params, path, problems)
        for opt in _expand(axes, path, problems):
            opt = {"name": name, **opt}
            if spec.check is not None:
                check = load_attribute(spec.check)
                problems += [(f"{path}.{k}" if k else path, msg) for k, msg in check(opt)]
            opts.append(opt)
    return opts, specs



# ---------------------------------------------------------------------------------------------
# limits: nesting, names, sizes and memory (checked before anything is expanded or run)
# ---------------------------------------------------------------------------------------------
def _check_nesting(text, where):
    """Refuse TOML text nested deeper than :data:`MAX_DEPTH` before a parser recurses into it.

    Counts the brackets and braces outside strings and comments (table headers count too,
    which only makes the count a little larger than the nesting of values).
    """
    depth = i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            while j < n:
                if c == '"' and text[j] == "\\":
                    j += 2
                    continue
                if text.startswith(quote, j):
                    break
                if not triple and text[j] == "\n":
                    break
                j += 1
            i = j + len(quote)
            continue
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError([(where, f"arrays or inline tables nested more than "
                                           f"{MAX_DEPTH} deep; allowed at most {MAX_DEPTH} "
                                           "levels")])
        elif c in "]}":
            depth = max(0, depth - 1)
        i += 1


def _check_value_depth(raw):
    """Refuse values nested deeper than :data:`MAX_DEPTH` (e.g. long dotted keys), without
    recursion."""
    stack = [(raw, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError([("", f"tables or arrays nested deeper than {MAX_DEPTH} levels; "
                                    f"allowed at most {MAX_DEPTH}")])
        children = value.values() if isinstance(value, dict) else \
            value if isinstance(value, list) else ()
        stack.extend((v, depth + 1) for v in children if isinstance(v, (dict, list)))


_NAME_FORBIDDEN = ("/", "\\", ":", "\x00")


def _check_name(name):
    """experiment.name names the default store NAME.db in the working directory: a plain
    file name, never a path."""
    if (not name.strip() or name in (".", "..") or len(name) > 200
            or any(c in name for c in _NAME_FORBIDDEN)
            or any(ord(c) < 32 for c in name)):
        return [("experiment.name", f"{format_value(name)} is not a plain name: allowed "
                                    "1-200 characters without /, \\, :, control characters, "
                                    'and not "." or ".." (the default store NAME.db is '
                                    "written in the working directory)")]
    return []


def _spectrum_options(table, problems):
    """The [spectrum] table with its defaults, checked (None on a problem)."""
    n_before = len(problems)
    values = _single(_validate_table(table, SPECTRUM_PARAMS, "spectrum", problems))
    if len(problems) > n_before:
        return None
    method = values["method"]
    if method in _LOW_RANK and values["rank"] is None:
        problems.append(("spectrum.rank", f'missing: required with method = "{method}" '
                                          "(an integer >= 1)"))
    if method in ("dense", "implicit") and values["rank"] is not None:
        problems.append(("spectrum.rank", f'must not be given with method = "{method}" (an '
                                          f"exact method), got {values['rank']}; allowed "
                                          'with "randomized", "nystrom" or "auto"'))
    if values["landmarks"] is not None and method != "nystrom":
        problems.append(("spectrum.landmarks", f'applies to method = "nystrom" only, got '
                                               f'method = "{method}"'))
    exact = method in ("dense", "implicit") or (method == "auto" and values["rank"] is None)
    if values["random_state"] is not None and exact:
        problems.append(("spectrum.random_state", f'must not be given with method = '
                                                  f'"{method}" (exact, no randomness)'))
    if method == "nystrom" and values["landmarks"] is None:
        values["landmarks"] = "uniform"
    return values if len(problems) == n_before else None


def _format_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        if n < 1024 or unit == "EiB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.3g} EiB"  # pragma: no cover


def _plan_memory(count):
    return f" (the sweep's plan alone would need ~{_format_bytes(count * _PLAN_BYTES)})"


def memory_limit():
    """Bytes a simulation may use: this machine's physical memory (or its cgroup's limit).

    Returns
    -------
    int
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        total = 16 << 30
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return int(total)


def _group_bytes(n, p, n_test, kernel, spectrum):
    """Peak float64 memory of a group: inputs, Gram matrix and factorization, test kernel
    and test projection. Returns (bytes, formula)."""
    inputs = 8 * (n + n_test) * p
    if not kernel:
        return inputs, "the inputs, (n + n_test) p floats"
    rank = (spectrum or {}).get("rank")
    method = (spectrum or {}).get("method", "dense")
    if method in _LOW_RANK or (method == "auto" and rank is not None):
        return (inputs + 8 * (3 * n * min(rank, n) + 2 * n_test * n),
                "a rank-r factorization and the test kernel, 3 n r + 2 n_test n floats")
    return (inputs + 8 * (3 * n * n + 2 * n_test * n),
            "the Gram matrix and its eigendecomposition, 3 n^2 + 2 n_test n floats")


def _method_bytes(method, n, n_test, n_seeds):
    """Memory of one (vectorized) simulation beyond its group: per-round paths and their
    predictions, for up to 64 seeds at once."""
    width = min(64, n_seeds)
    if method.get("name") == "self_distill" and method.get("n_rounds") is not None:
        return 8 * (method["n_rounds"] + 1) * (n + n_test) * width
    if method.get("name") == "gradient_flow":
        return 8 * len(method.get("times") or ()) * (n + n_test) * width
    return 0


def _largest(fits, lo, hi):
    """Largest v in [lo, hi] with fits(v) (fits is monotone decreasing); lo - 1 if none."""
    if not fits(lo):
        return lo - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _size_problems(data, kernels, methods, seeds, spectrum, method_specs):
    """Upper bounds checked before anything is expanded or allocated: the number of
    simulations, rounds, and the memory of each (data, method) pair against this machine."""
    problems = []
    total = len(data) * len(kernels) * len(methods) * len(seeds)
    if total > MAX_SIMULATIONS:
        problems.append(("", f"the config defines {total} simulations; allowed at most "
                             f"{MAX_SIMULATIONS}{_plan_memory(total)}"))
        return problems
    for m in methods:
        r = m.get("n_rounds") if m.get("name") == "self_distill" else None
        if isinstance(r, int) and r > MAX_ROUNDS:
            problems.append(("method.n_rounds", f"{r} is out of range; allowed 0..{MAX_ROUNDS} "
                                                f"(~{_format_bytes(8 * (r + 1))} per training "
                                                "point for the path alone)"))
    if problems:
        return problems
    limit = memory_limit()
    uses = any(uses_kernel(s.requires) for s in method_specs.values()) and \
        any(k is not None for k in kernels)
    for d in data:
        if "generator" not in d:
            n, p, n_test = 1, 1, d.get("n_test") or 0
        else:
            n, p, n_test = d["n_samples"], d.get("n_features", 1), d.get("n_test", 0)
        if d.get("truth") is None and d.get("test_path") is None and "generator" not in d:
            n_test = 0
        rank = (spectrum or {}).get("rank")
        if rank is not None and "generator" in d and rank > n:
            problems.append(("spectrum.rank", f"{rank} is out of range for data.n_samples = "
                                              f"{n}; allowed 1..{n}"))
        group, formula = _group_bytes(n, p, n_test, uses, spectrum)
        worst = max(((_method_bytes(m, n, n_test, len(seeds)), m) for m in methods),
                    key=lambda t: t[0])
        if group + worst[0] <= limit:
            continue
        need = _format_bytes(group + worst[0])
        have = _format_bytes(limit)
        if worst[0] > group:
            m = worst[1]
            key = "method.n_rounds" if m["name"] == "self_distill" else "method.times"
            value = m.get("n_rounds") if m["name"] == "self_distill" else len(m["times"])
            per = 8 * (n + n_test) * min(64, len(seeds))
            top = max(0, (limit - group) // per - (1 if key == "method.n_rounds" else 0))
            what = "rounds" if key == "method.n_rounds" else "times"
            problems.append((key, f"{value} {what} need ~{need} (a path of (n + n_test) "
                                  f"floats per {what[:-1]} for up to 64 seeds at once), more "
                                  f"than this machine's {have}; allowed here: at most {top}"))
            continue
        if "generator" not in d:
            key, value = "data.n_test", n_test
            fits = lambda v: _group_bytes(n, p, v, uses, spectrum)[0] <= limit  # noqa: E731
        elif 8 * (n + n_test) * p > group / 2:
            key, value = "data.n_features", p
            fits = lambda v: _group_bytes(n, v, n_test, uses, spectrum)[0] <= limit  # noqa: E731
        elif n_test * n > n * n and n_test > n:
            key, value = "data.n_test", n_test
            fits = lambda v: _group_bytes(n, p, v, uses, spectrum)[0] <= limit  # noqa: E731
        else:
            key, value = "data.n_samples", n
            fits = lambda v: _group_bytes(v, p, n_test, uses, spectrum)[0] <= limit  # noqa: E731
        low = 2 if key == "data.n_samples" else 1 if key == "data.n_features" else 0
        top = _largest(fits, low, max(low, value))
        allowed = f"{low}..{top}" if top >= low else "none at the other values"
        problems.append((key, f"{value} needs ~{need} for {formula} (n = {n}, n_test = "
                              f"{n_test}), more than this machine's memory ({have}); allowed "
                              f"here: {allowed}"))
    return problems
