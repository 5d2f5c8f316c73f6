"""Registries of what an experiment config can name: methods, data generators, kernels, and
the named experiments of ``hilbert-sd reproduce``.

This module imports nothing heavy: implementations are referenced as ``"module:attribute"``
strings and imported when a simulation runs, so that ``hilbert-sd --help`` stays fast.

Adding a method
---------------
A method is a callable ``run(config, inputs, seed) -> dict`` where ``config`` is the resolved
configuration of one simulation (``config["method"]`` holds the method's parameters, defaults
filled in), ``inputs`` is a :class:`hilbert_sd.experiments.runner.SimulationInputs` (training
inputs and labels, the Gram matrix and its eigendecomposition shared by every simulation of the
group, test inputs and the test-kernel projection), and ``seed`` is the simulation's seed. It
returns a flat dict of scalars (int, float, bool, str or None); per-round or per-time values
use keys like ``"test_mse[3]"``. Register it with::

    register_method(
        "my_method", "my_package.module:run_my_method",
        params={"epsilon": Param("float", low=0, low_inclusive=False)},
        requires=("spectrum",),
    )

Exceptions raised by ``run`` are recorded as a failed simulation (the sweep goes on).
"""

import importlib
from dataclasses import dataclass

from hilbert_sd.experiments.schema import ConfigError, Param

__all__ = [
    "GENERATORS",
    "KERNELS",
    "METHODS",
    "NAMED_EXPERIMENTS",
    "GeneratorSpec",
    "MethodSpec",
    "NamedExperiment",
    "get_method",
    "load_attribute",
    "parameter",
    "register_method",
    "register_named_experiment",
]

#: What a method may ask the runner to prepare once per group of simulations.
REQUIREMENTS = ("kernel", "spectrum", "test_kernel")


def uses_kernel(requires):
    """Whether a method with these requirements needs the config's kernel: every one of
    them (the Gram matrix, its eigendecomposition, k(X_test, X)) is built from it."""
    return bool(set(requires) & set(REQUIREMENTS))


def load_attribute(ref):
    """Import ``"package.module:attribute"`` and return the attribute.

    Raises
    ------
    ValueError
        If the reference is malformed, the module cannot be imported or lacks the attribute.
    """
    if callable(ref):
        return ref
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"{ref!r} is not a 'package.module:function' reference")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import {module_name!r} for {ref!r}: {exc}") from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError as exc:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r}") from exc
    return obj


# ---------------------------------------------------------------------------------------------
# kernels: parameters per kernel name (hilbert_sd.kernels.gram's names and meanings)
# ---------------------------------------------------------------------------------------------
_GAMMA = Param("float", default=None, low=0, low_inclusive=False,
               doc="kernel width (scikit-learn's meaning); default 1/n_features")

KERNELS = {
    "linear": {},
    "polynomial": {
        "degree": Param("int", default=3, low=1, doc="polynomial degree"),
        "gamma": _GAMMA,
        "coef0": Param("float", default=1.0, doc="constant term"),
    },
    "rbf": {"gamma": _GAMMA},
    "laplacian": {"gamma": _GAMMA},
    "arccos": {},
    "ntk": {
        "depth": Param("int", default=1, low=1, doc="number of hidden layers"),
        "w_std": Param("float", default=1.0, low=0, low_inclusive=False, doc="weight std"),
        "b_std": Param("float", default=0.0, low=0, doc="bias std"),
    },
}


# ---------------------------------------------------------------------------------------------
# data generators
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratorSpec:
    """A synthetic data set.

    Attributes
    ----------
    name : str
    inputs : str
        ``"module:function"``; ``inputs(params) -> (X, X_test)``, X_test may be None.
    labels : str
        ``"module:function"``; ``labels(params, X, X_test) -> (y, y_test)``, noise-free.
    params : dict of str to Param
        Parameters with ``inputs=False`` change the labels only (same Gram matrix).
    summary : str
    """

    name: str
    inputs: str
    labels: str
    params: dict
    summary: str = ""


_SEED = Param("int", default=0, low=0, doc="seed of the inputs (fixed across simulation seeds)")
_N_TEST = Param("int", default=200, low=0, doc="number of test points (0: no test set)")

GENERATORS = {
    "sine": GeneratorSpec(
        name="sine",
        inputs="hilbert_sd.experiments.data:sine_inputs",
        labels="hilbert_sd.experiments.data:sine_labels",
        params={
            "n_samples": Param("int", low=2, doc="number of training points"),
            "design": Param("str", default="uniform", choices=("uniform", "grid"),
                            doc="x drawn uniformly on [0, 1], or an even grid"),
            "frequency": Param("float", default=1.0, low=0, low_inclusive=False, inputs=False,
                               doc="y = amplitude * sin(2 pi frequency x)"),
            "amplitude": Param("float", default=1.0, inputs=False, doc="see frequency"),
            "seed": _SEED,
            "n_test": _N_TEST,
        },
        summary="one-dimensional x in [0, 1], y = amplitude sin(2 pi frequency x); "
                "test points: an even grid of [0, 1]",
    ),
    "gaussian": GeneratorSpec(
        name="gaussian",
        inputs="hilbert_sd.experiments.data:gaussian_inputs",
        labels="hilbert_sd.experiments.data:gaussian_labels",
        params={
            "n_samples": Param("int", low=2, doc="number of training points"),
            "n_features": Param("int", default=5, low=1, doc="input dimension p"),
            "target": Param("str", default="linear", choices=("linear", "sign", "sine"),
                            inputs=False,
                            doc="y = w.x, sign(w.x) or sin(pi w.x) for a unit teacher w"),
            "seed": _SEED,
            "n_test": _N_TEST,
        },
        summary="x ~ N(0, I_p), y a function of w.x for a unit vector w drawn from the seed; "
                "test points from the same law",
    ),
    "clustered": GeneratorSpec(
        name="clustered",
        inputs="hilbert_sd.experiments.data:clustered_inputs",
        labels="hilbert_sd.experiments.data:clustered_labels",
        params={
            "n_samples": Param("int", low=2, doc="number of training points"),
            "n_features": Param("int", default=20, low=1, doc="input dimension p"),
            "n_classes": Param("int", default=4, low=2, doc="number of classes"),
            "clusters_per_class": Param("int", default=2, low=1,
                                        doc="Gaussian clusters per class"),
            "cluster_std": Param("float", default=1.0, low=0, low_inclusive=False,
                                 doc="std of each coordinate within a cluster"),
            "center_scale": Param("float", default=1.0, low=0, low_inclusive=False,
                                  doc="std of the centre coordinates"),
            "seed": _SEED,
            "n_test": _N_TEST,
        },
        summary="Gaussian clusters, several per class (hilbert_sd.datasets.make_clustered); "
                "integer class labels; test points from the same call",
    ),
    "digits": GeneratorSpec(
        name="digits",
        inputs="hilbert_sd.experiments.data:digits_inputs",
        labels="hilbert_sd.experiments.data:digits_labels",
        params={
            "n_samples": Param("int", low=2, high=1797, doc="number of training points"),
            "seed": _SEED,
            "n_test": Param("int", default=200, low=0, high=1795,
                            doc="number of test points (n_samples + n_test <= 1797)"),
        },
        summary="scikit-learn's bundled 8 x 8 digits in [0, 1], split at random by data.seed; "
                "integer class labels",
    ),
    "diabetes": GeneratorSpec(
        name="diabetes",
        inputs="hilbert_sd.experiments.data:diabetes_inputs",
        labels="hilbert_sd.experiments.data:diabetes_labels",
        params={
            "n_samples": Param("int", low=2, high=442, doc="number of training points"),
            "seed": _SEED,
            "n_test": Param("int", default=0, low=0, high=440,
                            doc="number of test points (n_samples + n_test <= 442)"),
        },
        summary="scikit-learn's bundled diabetes regression data (442 x 10, as scikit-learn "
                "scales it), split at random by data.seed; real targets 25..346",
    ),
}

#: Noise-free target functions for data read from a file (``data.truth``), by name.
TRUTHS = {
    "sin2pi": "hilbert_sd.experiments.data:truth_sin2pi",
}


# ---------------------------------------------------------------------------------------------
# methods
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MethodSpec:
    """A simulation method that configs name in ``method.name``.

    Attributes
    ----------
    name : str
    run : str or callable
        ``run(config, inputs, seed) -> dict`` or a ``"module:function"`` reference to it.
    params : dict of str to Param
        The method's parameters (keys of the ``[method]`` table besides ``name``).
    requires : tuple of str
        What the runner prepares once per group: ``"kernel"`` (Gram matrix),
        ``"spectrum"`` (its eigendecomposition), ``"test_kernel"`` (the test-by-train kernel
        k(X_test, X), with the eigendecomposition). Any of them makes the kernel part of the
        group (:func:`uses_kernel`); only what is listed is shipped to workers.
    check : str or callable, optional
        ``check(params) -> list of (key, message)``: constraints between parameters.
    summary : str
    batch : str or callable, optional
        ``batch(items) -> list of dict`` for ``items`` = [(config, inputs, seed), ...] of
        one group: a vectorized ``run`` (e.g. one matrix product for many label vectors).
        Optional; on any exception or warning the runner falls back to ``run`` per item.
    """

    name: str
    run: object
    params: dict
    requires: tuple = ("kernel", "spectrum")
    check: object = None
    summary: str = ""
    batch: object = None


METHODS = {}


def register_method(name, run, *, params=None, requires=("kernel", "spectrum"), check=None,
                    summary="", batch=None, replace=False):
    """Make a method available to configs under ``name``.

    Parameters
    ----------
    name : str
    run : str or callable
        ``run(config, inputs, seed) -> dict of scalars`` or ``"module:function"``. Sweeps on
        worker processes need a reference the workers can import.
    params : dict of str to Param, optional
    requires : iterable of str, default=("kernel", "spectrum")
        Subset of ``("kernel", "spectrum", "test_kernel")``.
    check : callable or str, optional
    summary : str
    batch : callable or str, optional
        Vectorized form of ``run`` over many simulations of a group (see :class:`MethodSpec`).
    replace : bool, default=False
        Allow replacing an existing registration.

    Returns
    -------
    MethodSpec
    """
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True")
    unknown = set(requires) - set(REQUIREMENTS)
    if unknown:
        raise ValueError(f"requires={tuple(requires)!r}: unknown {sorted(unknown)}; "
                         f"allowed: {REQUIREMENTS}")
    spec = MethodSpec(name=name, run=run, params=dict(params or {}), requires=tuple(requires),
                      check=check, summary=summary, batch=batch)
    METHODS[name] = spec
    return spec


def parameter(table, name, key):
    """The :class:`Param` of ``key`` in a registered method, data generator or kernel.

    The one declaration of a parameter's type, range, default and meaning, which the config
    validator, the library functions (through it) and the command line's options
    (:func:`hilbert_sd.cli.param_option`) all use.

    Parameters
    ----------
    table : {"method", "data", "kernel"}
    name : str
        The method, generator or kernel, e.g. ``"noisy_labels"``, ``"clustered"``, ``"ntk"``.
    key : str
        The parameter, e.g. ``"ema_a"``.

    Returns
    -------
    Param

    Raises
    ------
    KeyError
        Naming what is not registered (a bug of the caller).
    """
    params = {"method": lambda: METHODS[name].params,
              "data": lambda: GENERATORS[name].params,
              "kernel": lambda: KERNELS[name]}[table]()
    return params[key]


def get_method(name, *, allow_import=False):
    """The :class:`MethodSpec` for a config's ``method.name``.

    ``name`` is a registered method, or ``"package.module:function"`` for a user's own
    callable (its parameters are then passed through unchecked; it may declare
    ``run.requires``). Such a reference is imported (which runs the module's code) only with
    ``allow_import=True``: the command line's ``--allow-import``.

    Parameters
    ----------
    name : str
    allow_import : bool, default=False
        Whether a ``"package.module:function"`` reference may be imported.

    Raises
    ------
    ConfigError
        Unknown or unavailable method, or an import reference without ``allow_import``
        (key path ``method.name``); nothing is imported then.
    """
    if name in METHODS:
        return METHODS[name]
    if ":" in name:
        if not allow_import:
            raise ConfigError([("method.name", f'"{name}" is a reference to code that would be '
                                               "imported and run; allow it with "
                                               "--allow-import (nothing was imported)")])
        try:
            func = load_attribute(name)
        except ValueError as exc:
            raise ConfigError([("method.name", str(exc))]) from None
        if not callable(func):
            raise ConfigError([("method.name", f"{name!r} is not callable")])
        return MethodSpec(name=name, run=name, params=None,
                          requires=tuple(getattr(func, "requires", ("kernel", "spectrum"))))
    available = ", ".join(f'"{m}"' for m in sorted(METHODS))
    raise ConfigError([("method.name", f'unknown method "{name}"; available: {available}, '
                                       'or "package.module:function" (with --allow-import)')])


_RULE = "the self-distillation rule (docs: theory, section 2)"

register_method(
    "self_distill",
    "hilbert_sd.experiments.methods:run_self_distill",
    params={
        "epsilon": Param("float", default=None, low=0, low_inclusive=False,
                         doc="budget on the mean squared training error (constrained rule)"),
        "alpha": Param("float", default=None, low=0, low_inclusive=False,
                       doc="fixed ridge (fixed-ridge rule); give exactly one of epsilon, alpha"),
        "n_rounds": Param("int", default=None, low=0,
                          doc="index of the last round; absent: until collapse"),
        "mix": Param("float", default=0.0, low=0, high=1, doc="ground-truth weight beta"),
        "on_infeasible": Param("str", default="raise", choices=("raise", "warn"),
                               doc="budget below the kernel's floor: fail, or warn and fit"),
        "record_rounds": Param("int", default=50, low=0,
                               doc="per-round values are stored for rounds 0..record_rounds"),
    },
    requires=("spectrum", "test_kernel"),  # the Gram matrix itself is never read
    check="hilbert_sd.experiments.methods:check_self_distill",
    batch="hilbert_sd.experiments.methods:batch_self_distill",
    summary=f"{_RULE}: ε-constrained or fixed ridge, optional ground-truth mixing",
)

register_method(
    "early_stopping",
    "hilbert_sd.experiments.methods:run_early_stopping",
    params={
        "epsilon": Param("float", low=0, low_inclusive=False,
                         doc="budget on the mean squared training error"),
        "n_rounds": Param("int", default=None, low=0,
                          doc="index of the last round; absent: until collapse"),
        "threshold": Param("float", default=0.01, low=0, low_inclusive=False, high=1,
                           doc="relative level for counting basis functions"),
        "record_rounds": Param("int", default=100, low=0,
                               doc="per-round values are stored for rounds 0..record_rounds"),
    },
    requires=("spectrum", "test_kernel"),
    summary=f"{_RULE} against early-stopped gradient flow at matched training error, with "
            "the bounds M2, M5-M11 checked (the tables of hilbert-sd demo)",
)

register_method(
    "gradient_flow",
    "hilbert_sd.experiments.methods:run_gradient_flow",
    params={
        "times": Param("float_list", low=0, allow_inf=True,
                       doc="flow times (or numbers of steps for method = \"gd\"); inf: the "
                           "minimum-norm interpolant"),
        "learning_rate": Param("float", default=1.0, low=0, low_inclusive=False,
                               doc="eta of the loss (1/2n)||f(X) - y||^2"),
        "method": Param("str", default="flow", choices=("flow", "gd"),
                        doc="continuous gradient flow or discrete gradient descent"),
    },
    requires=("spectrum", "test_kernel"),
    summary="early-stopped kernel gradient flow from the zero function (docs: "
            "topics/gradient_flow_and_bounds)",
)

register_method(
    "filter_family",
    "hilbert_sd.experiments.family_methods:run_filter_family",
    params={
        "family": Param("str", choices=("ridge", "self_distillation", "boosting",
                                        "spectral_cutoff", "gradient_flow",
                                        "gradient_descent"),
                        doc="the member of the family (hilbert_sd.filters) run along its path"),
        "alpha": Param("float", default=None, low=0, low_inclusive=False,
                       doc="ridge of ridge, self_distillation and boosting (each of their fits)"),
        "steps": Param("int", default=10, low=0, high=10_000,
                       doc="last round of self_distillation / step of boosting (path 0..steps)"),
        "xi": Param("float", default=1.0,
                    doc="weight of the previous fit in the targets of every round of "
                        "self_distillation (any real; 1: plain, 1 - mix: ground-truth mixing)"),
        "ranks": Param("float_list", default=None, low=0,
                       doc="spectral_cutoff: numbers of top directions kept (integers); or "
                           "thresholds"),
        "thresholds": Param("float_list", default=None, low=0, low_inclusive=False,
                            allow_inf=True,
                            doc="spectral_cutoff: keep the eigenvalues >= tau; or ranks"),
        "times": Param("float_list", default=None, low=0, allow_inf=True,
                       doc="times of gradient_flow, numbers of steps of gradient_descent "
                           "(integers); inf: the minimum-norm interpolant"),
        "learning_rate": Param("float", default=1.0, low=0, low_inclusive=False,
                               doc="eta of gradient_flow / gradient_descent on the loss "
                                   "(1/2n)||f(X) - y||^2"),
    },
    requires=("spectrum", "test_kernel"),
    check="hilbert_sd.experiments.family_methods:check_filter_family",
    summary="any member of the regularizer family (ridge, mixed self-distillation, boosting, "
            "spectral cut-off, gradient flow and descent) along its path on the group's "
            "eigendecomposition (docs: topics/family)",
)

#: Smallest data.n_features of the linear_teacher method (the bound and the polar laws need
#: d >= 3): the method, linear_teacher_experiment and ``hilbert-sd linear-teacher --d`` check it.
LINEAR_TEACHER_MIN_FEATURES = 3

register_method(
    "linear_teacher",
    "hilbert_sd.experiments.linear_teacher:run",
    params={
        "geometry": Param("str", default="isotropic",
                          choices=("isotropic", "polar-kappa", "polar-margin"),
                          doc="law of the inputs: N(0, I_d) or a polar law"),
        "draws": Param("int", default=200, low=1, doc="training sets drawn"),
        "kappa": Param("float", default=2.0, low=0, low_inclusive=False,
                       doc="kappa of polar-kappa, p(theta) = (2 theta / pi)^kappa"),
        "margin": Param("float", default=0.2, low=0, high=1.5707963267948966,
                        high_inclusive=False, doc="margin (radians) of polar-margin"),
        "risk": Param("str", default="exact", choices=("exact", "monte_carlo"),
                      doc="per-student risk by formula or on fresh test inputs"),
        "n_test": Param("int", default=2000, low=1,
                        doc="test inputs per draw of risk = \"monte_carlo\""),
        "flow_draws": Param("int", default=0, low=0,
                            doc="draws whose gradient flow is integrated as a check"),
        "depth": Param("int", default=1, low=1, doc="layers of the deep linear student"),
        "temperature": Param("float", default=1.0, low=0, low_inclusive=False,
                             doc="soft-label temperature tau"),
        "init_scale": Param("float", default=0.0, low=0,
                            doc="std of the student's initial weights (0: zero start)"),
        "solver": Param("str", default="closed_form", choices=("closed_form", "gradient_flow"),
                        doc="limit of the flow by projection, or integrate the flow"),
    },
    requires=(),
    check="hilbert_sd.experiments.linear_teacher:check",
    summary="a random unit linear teacher (one per seed) distilled into a linear or deep "
            "linear student on draws of n training inputs from a data geometry, against the "
            "hard-label student (docs: topics/linear_teacher); the size and dimension are the "
            "data's n_samples and n_features",
)

_UNIT = dict(low=0, high=1)

register_method(
    "noisy_labels",
    "hilbert_sd.experiments.noisy_labels:run",
    params={
        "noise_rate": Param("float", **_UNIT, doc="share of training labels corrupted"),
        "noise_model": Param("str", default="symmetric",
                             choices=("symmetric", "symmetric_other", "pair"),
                             doc="over all classes, over the other classes, or pair flips"),
        "t_end": Param("int", default=100_000, low=1, doc="last step of training"),
        "n_times": Param("int", default=41, low=2,
                         doc="recorded steps of the curves (log-spaced, plus 0)"),
        "learning_rate": Param("float", default=None, low=0, low_inclusive=False,
                               doc="step eta (default: 1/lambda_max)"),
        "ema_a": Param("float", default=0.1, **_UNIT, doc="weight of the 'ema' rules"),
        "anchored_a": Param("float", default=0.5, **_UNIT,
                            doc="constant weight of the soft anchored rule"),
        "hard_a": Param("float", default=0.7, **_UNIT,
                        doc="constant weight of the hard anchored rule"),
        "refresh_per_decade": Param("int", default=20, low=1,
                                    doc="refreshes of hard labels / accuracy weights per decade"),
        "k": Param("int", default=None, low=1,
                   doc="top eigenvectors of the AIR curves (default: E_k(clean) >= 0.9)"),
    },
    requires=("spectrum", "test_kernel"),
    batch="hilbert_sd.experiments.noisy_labels:batch",
    summary="noisy class labels in the NTK regime (docs: topics/noisy_labels): gradient "
            "descent, oracle early stop, self-distillation rules, oracle KRR; clustered or "
            "digits data",
)

register_method(
    "soft_labels",
    "hilbert_sd.experiments.soft_labels:run",
    params={
        "temperatures": Param("float_list", default=[1.0, 2.0, 4.0, 8.0], low=0,
                              low_inclusive=False, doc="distillation temperatures"),
        "n_members": Param("int", default=8, low=2, doc="students per configuration"),
        "resample": Param("str", default="fresh", choices=("fresh", "bootstrap"),
                          doc="disjoint parts of the pool, or bootstrap resamples"),
        "student_size": Param("int", default=None, low=2,
                              doc="training samples per student (default n // n_members)"),
        "a": Param("float", default=1.0, low=0, low_inclusive=False,
                   doc="weight of the soft-label term"),
        "teacher_steps": Param("int", default=300, low=1, doc="teacher's gradient steps"),
        "student_steps": Param("int", default=300, low=1, doc="students' gradient steps"),
        "krr": Param("bool", default=True, doc="also the squared-loss weighted-KRR students"),
        "krr_ridge": Param("float", default=1.0, low=0, low_inclusive=False,
                           doc="ridge of the KRR students"),
        "krr_damping": Param("float", default=0.5, low=0, low_inclusive=False, high=1,
                             doc="damping of the WSL fixed point"),
        "krr_max_iter": Param("int", default=50, low=1, doc="fixed-point iterations"),
        "krr_tol": Param("float", default=1e-6, low=0, low_inclusive=False,
                         doc="fixed-point tolerance"),
    },
    requires=("kernel",),  # k(X_test, X) is computed where the simulation runs
    check="hilbert_sd.experiments.soft_labels:check",
    summary="hard, soft and weighted soft labels from a kernel softmax teacher into kernel "
            "students (docs: topics/soft_labels); use with the clustered generator",
)

register_method(
    "optimal_mixing",
    "hilbert_sd.experiments.mixing:run",
    params={
        "study": Param("str", default="xi", choices=("xi", "kstep"),
                       doc="one-step xi* at a fixed ridge, or k-step schedules at the best ridge"),
        "noise_var": Param("float", low=0, doc="noise variance sigma^2 of the labels"),
        "alpha": Param("float", default=1.0, low=0, low_inclusive=False,
                       doc='fixed ridge of study = "xi"'),
        "max_steps": Param("int", default=6, low=0, high=50, doc='largest k of study = "kstep"'),
    },
    requires=("spectrum",),
    summary="exact expected risks of optimal mixing (docs: topics/family) against the data's "
            "truth f* at the inputs; no sampling",
)

register_method(
    "family_comparison",
    "hilbert_sd.experiments.family:run",
    params={
        "test_size": Param("float", default=0.3, low=0, high=1, low_inclusive=False,
                           high_inclusive=False, doc="test fraction of every split"),
        "cv": Param("int", default=5, low=2,
                    doc="folds of the cross-validation on each training part"),
        "methods": Param("str_list", default=None,
                         choices=("ridge", "sd_budget", "sd_ridge", "sd_mixed_oracle",
                                  "boosting", "flow", "pcr"),
                         doc="members of the family compared (default: every one that "
                             "applies; the oracle sd_mixed_oracle needs the noise variance)"),
        "max_rounds": Param("int", default=10, low=0,
                            doc="rounds (steps) 0..max_rounds of self-distillation and boosting"),
        "oracle_steps": Param("int", default=3, low=1,
                              doc="steps 1..oracle_steps of the mixed-SD oracle"),
        "standardize": Param("bool", default=False,
                             doc="centre and scale the inputs on each training part"),
        "task": Param("str", default="auto", choices=("auto", "regression", "classification"),
                      doc="auto: classification for the digits and clustered generators"),
        "noise_rate": Param("float", default=0.0, low=0, high=1,
                            doc="symmetric label noise on the training labels of every split "
                                "(classification)"),
        "noise_var": Param("float", default=None, low=0,
                           doc="noise variance of the oracle (default: data.label_noise^2 "
                               "when > 0)"),
        "split_seed": Param("int", default=0, low=0,
                            doc="seed of the stream of splits: simulation seed k is its split k"),
        "max_samples": Param("int", default=None, low=2,
                             doc="use at most this many samples, drawn once by split_seed "
                                 "(default: all)"),
    },
    requires=(),  # each split factors its own training kernel and folds
    check="hilbert_sd.experiments.family:check",
    summary="the regularizer family (kernel ridge, self-distillation, boosting, gradient flow, "
            "kernel PCR, the mixed-SD oracle) tuned alike by k-fold CV on the training part of "
            "one random split per seed, scored on its test part (docs: topics/comparison)",
)



# ---------------------------------------------------------------------------------------------
# named experiments (hilbert-sd reproduce NAME)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class NamedExperiment:
    """An experiment shipped with the package: a config run as a sweep, and a report on its
    rows.

    Attributes
    ----------
    name : str
    config : str
        File name of the TOML config in ``hilbert_sd/experiments/``.
    report : str
        ``"module:function"``; ``report(rows, out_dir) -> {"files": [paths], "summary":
        text}`` writes the experiment's figures and tables from the rows of its store.
    summary : str
    """

    name: str
    config: str
    report: str
    summary: str = ""


NAMED_EXPERIMENTS = {}


def register_named_experiment(name, config, report, summary=""):
    """Add an experiment to ``hilbert-sd reproduce``; returns the :class:`NamedExperiment`."""
    exp = NamedExperiment(name, config, report, summary)
    NAMED_EXPERIMENTS[name] = exp
    return exp


register_named_experiment(
    "self-distillation",
    config="self_distillation.toml",
    report="hilbert_sd.experiments.reports:report_self_distillation",
    summary="the reference example: the 11-point toy data (mobahi_toy.csv), RBF kernel "
            "gamma=80, several budgets epsilon, rounds until collapse",
)

register_named_experiment(
    "linear-teacher",
    config="linear_teacher.toml",
    report="hilbert_sd.experiments.linear_teacher:report",
    summary="transfer risk of a linear student distilled from zero vs n for d = 20 isotropic "
            "Gaussian inputs, 1000 training sets per n, against the exact expectation E R_n "
            "and the hard-label student (the table of hilbert-sd linear-teacher)",
)

register_named_experiment(
    "early-stopping",
    config="early_stopping.toml",
    report="hilbert_sd.experiments.self_distillation:report",
    summary="self-distillation vs early-stopped gradient flow at matched training error on the "
            "reference data, with the bounds M2, M5-M11 checked (the tables of hilbert-sd demo)",
)

register_named_experiment(
    "noisy-labels",
    config="noisy_labels.toml",
    report="hilbert_sd.experiments.noisy_labels:report",
    summary="noisy labels in the NTK regime: gradient descent, oracle early stop, "
            "self-distillation rules and oracle KRR over noise rates 0.2-0.8",
)

register_named_experiment(
    "soft-labels",
    config="soft_labels.toml",
    report="hilbert_sd.experiments.soft_labels:report",
    summary="hard, soft and weighted soft labels distilled into kernel students at several "
            "temperatures, with the Heskes bias-variance split",
)

register_named_experiment(
    "optimal-mixing",
    config="optimal_mixing.toml",
    report="hilbert_sd.experiments.mixing:report",
    summary="optimal mixing weights on the reference inputs with f* = sin(2 pi x): the one-step "
            "xi* against the noise variance (it crosses 1) and the optimal k-step risk at the "
            "best ridge over the best ridge's risk, k = 0..6 (exact expected risks)",
)

register_named_experiment(
    "family-comparison",
    config="family_comparison.toml",
    report="hilbert_sd.experiments.family:report",
    summary="the regularizer family tuned alike by 5-fold CV on 20 random splits of the "
            "reference data (y = sin(2 pi x) + 0.5 N(0, 1), 200 points, RBF gamma = 80): "
            "test error, paired difference to kernel ridge, tr S (the table of hilbert-sd "
            "compare)",
)
