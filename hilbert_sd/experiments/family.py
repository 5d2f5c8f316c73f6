"""Every member of the regularizer family, tuned alike, on repeated train/test splits.

The study behind ``hilbert-sd compare`` and ``hilbert-sd reproduce family-comparison``
(:doc:`/topics/comparison`). On each random split of the data into a training and a test part,
every method is tuned by the same k-fold cross-validation *on the training part only* (one
factorization per fold, shared by every method:
:func:`hilbert_sd.model_selection.factor_folds`), refitted on the whole training part at the
chosen parameters (one more factorization, shared too), and scored once on the test part.
Methods (:doc:`/topics/family`):

- ``ridge``: kernel ridge regression over a grid of ridges α;
- ``sd_budget``: self-distillation under the budget rule, budgets ε (relative to the variance
  of the training targets) × rounds 0..10;
- ``sd_ridge``: self-distillation with one fixed ridge, α × rounds 0..10;
- ``sd_mixed_oracle``: mixed self-distillation at the optimal weights ξ (one to three steps,
  :func:`hilbert_sd.filters.optimal_schedule`) × α. The optimal ξ needs the true function
  f* and the noise variance, so it exists only for synthetic data and is an **oracle**;
- ``boosting``: L2-boosting (iterated Tikhonov), α × steps 0..10;
- ``flow``: kernel gradient flow over times;
- ``pcr``: kernel principal component regression (spectral cut-off) over ranks.

Regression targets are centred on the training part; classification uses ±1 one-hot codes
(argmax to predict), with label noise on the training labels only and clean test labels.

One split is one simulation of the experiment runner (method ``family_comparison``,
:func:`run`): split k of the stream ``random_state`` is drawn from
``np.random.default_rng([random_state, k, 2])``, the same in :func:`compare_family` (its
split i) and in the runner (simulation seed k, ``method.split_seed = random_state``), so
both give the same records on the same data.
"""

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from hilbert_sd import filters
from hilbert_sd._filter_path import filter_path
from hilbert_sd._validation import check_scalar
from hilbert_sd.distillation import self_distill
from hilbert_sd.exceptions import InfeasibleBudgetWarning, NumericalWarning
from hilbert_sd.experiments.registry import parameter
from hilbert_sd.kernels import gram
from hilbert_sd.model_selection import (FilterCVResult, cv_filters, cv_paths, default_epsilons,
                                        factor_folds)
from hilbert_sd.spectral import decompose

__all__ = ["DATASETS", "METHODS", "FamilyComparison", "compare_family", "comparison_config",
           "load_comparison_data", "make_reference", "report", "result_from_rows", "run"]

#: Method keys, in the order of the table (the choices of ``method.methods`` of the runner's
#: ``family_comparison``).
METHODS = parameter("method", "family_comparison", "methods").choices

#: Table labels; an oracle's label says so.
LABELS = {
    "ridge": "kernel ridge (alpha)",
    "sd_budget": "self-distillation, budget rule (eps x round)",
    "sd_ridge": "self-distillation, fixed ridge (alpha x round)",
    "sd_mixed_oracle": "mixed SD, optimal xi (alpha x steps) [oracle: uses f*]",
    "boosting": "L2-boosting (alpha x step)",
    "flow": "gradient flow (time)",
    "pcr": "kernel PCR (rank)",
}

#: Data sets of :func:`comparison_config` and :func:`load_comparison_data`.
DATASETS = ("reference", "diabetes", "digits", "csv")

# Grids, relative to the training part: ridges and times scale with the kernel's mean diagonal
# (the mean eigenvalue; 1 for the RBF kernel), budgets with the targets' variance.
_ALPHAS = np.geomspace(1e-6, 1e3, 28)
_TIMES = np.geomspace(1e-2, 1e9, 34)
_N_EPSILONS = 13
_N_RANKS = 30

#: Columns of the per-split records that name a chosen parameter.
PARAM_KEYS = ("alpha", "epsilon", "round", "step", "steps", "time", "rank")

# Streams of np.random.default_rng([seed, ..., tag]): the splits, the subsample of max_samples.
# The tag is last and nonzero, so no stream equals the label noise of a simulation seed
# (default_rng(seed), i.e. [seed, 0, 0, ...]).
_SPLIT_STREAM, _SUBSAMPLE_STREAM = 2, 3


# =========================================================================== the data
def make_reference(n_samples=200, *, noise=0.5, random_state=0):
    """Synthetic data of the reference model: x ~ U[0, 1], y = sin(2πx) + noise · N(0, 1).

    The model behind the 11 reference points of ``hilbert-sd demo`` (their residual standard
    deviation to sin(2πx) is 0.44), with as many points as asked and the true function known.

    Parameters
    ----------
    n_samples : int, default=200
    noise : float, default=0.5
        Standard deviation σ of the Gaussian noise, ≥ 0.
    random_state : int, default=0

    Returns
    -------
    X : ndarray of shape (n_samples, 1)
    y : ndarray of shape (n_samples,)
    f_star : ndarray of shape (n_samples,)
        sin(2πx), the true function at X.
    """
    n = check_scalar(n_samples, "n_samples", low=2, integer=True)
    noise = check_scalar(noise, "noise", low=0.0)
    rng = np.random.default_rng([7, check_scalar(random_state, "random_state", low=0,
                                                 integer=True)])
    X = rng.uniform(0.0, 1.0, (n, 1))
    f_star = np.sin(2 * np.pi * X[:, 0])
    return X, f_star + noise * rng.standard_normal(n), f_star


def comparison_config(dataset="reference", *, path=None, target=None, max_samples=None,
                      n_splits=20, test_size=0.3, cv=5, gamma=None, label_noise=None, seed=0,
                      methods=None, max_rounds=10, oracle_steps=3):
    """The experiment config of ``hilbert-sd compare``: a ``family_comparison`` simulation per
    split, the seeds 0..n_splits − 1.

    Parameters
    ----------
    dataset : {"reference", "diabetes", "digits", "csv"}, default="reference"
        ``"reference"``: the ``sine`` generator, y = sin(2πx) + 0.5 · N(0, 1) with x ~ U[0, 1]
        (the model behind the demo's 11 points), RBF γ = 80; its ``data.label_noise`` is drawn
        from the simulation seed, so every split has its own noise draw, and the oracle knows
        f* and σ² = 0.25. ``"diabetes"``: the ``diabetes`` generator (scikit-learn's bundled
        442 × 10 regression data), inputs standardized on each training part. ``"digits"``:
        the ``digits`` generator (scikit-learn's bundled 8 × 8 digits in [0, 1], 10 classes),
        symmetric label noise on the training labels of every split. ``"csv"``: regression on
        the CSV file ``path`` (a header row; the last column unless ``target`` names
        another), inputs standardized on each training part.
    path : str or path-like, optional
        The CSV file (``dataset="csv"`` only).
    target : str, optional
        Its target column.
    max_samples : int, optional
        At most this many samples: the number generated (reference, default 200), a random
        subset drawn by ``seed`` (diabetes; digits, default 1000, at most 1797), or a random
        subset drawn once by the splits' seed (csv). Default: all.
    n_splits : int, default=20
    test_size : float in (0, 1), default=0.3
    cv : int, default=5
    gamma : float, optional
        RBF kernel parameter (default 80 for reference, 1/p otherwise).
    label_noise : float in [0, 1], optional
        Symmetric label noise rate (digits only; default 0.4).
    seed : int, default=0
        The data's ``seed`` and the method's ``split_seed``.
    methods : sequence of str, optional
        Keys of :data:`METHODS` (default: every one that applies).
    max_rounds : int, default=10
    oracle_steps : int, default=3

    Returns
    -------
    dict
        The config in the form of a TOML file, for
        :func:`~hilbert_sd.experiments.config.parse_config` (which checks every value) or
        :func:`~hilbert_sd.experiments.reports.run_rows`.

    Raises
    ------
    ValueError
        An unknown data set, a CSV file without the ``.csv`` suffix, or ``path``, ``target``
        or ``label_noise`` with a data set they do not apply to.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset={dataset!r}; allowed: {', '.join(DATASETS)}")
    if (path is not None or target is not None) and dataset != "csv":
        raise ValueError(f"path and target apply to the csv dataset only; dataset={dataset!r}")
    if label_noise is not None and dataset != "digits":
        raise ValueError(f"label_noise flips class labels: it applies to the digits dataset "
                         f"only; dataset={dataset!r}")
    method = {"name": "family_comparison", "test_size": test_size, "cv": cv,
              "methods": None if methods is None else list(methods), "max_rounds": max_rounds,
              "oracle_steps": oracle_steps, "split_seed": seed,
              "standardize": dataset in ("diabetes", "csv")}
    kernel = {"name": "rbf", "gamma": gamma}
    if dataset == "reference":
        data = {"generator": "sine", "n_samples": max_samples or 200, "label_noise": 0.5}
        kernel["gamma"] = 80.0 if gamma is None else gamma
    elif dataset == "csv":
        if path is None:
            raise ValueError("dataset='csv' needs a file: path=FILE.csv")
        if not str(path).lower().endswith(".csv"):
            raise ValueError(f"{path}: expected a .csv file")
        data = {"path": str(path), "target": target}
        method["max_samples"] = max_samples
    else:
        largest = parameter("data", dataset, "n_samples").high
        data = {"generator": dataset, "n_samples": min(max_samples or {"digits": 1000}.get(
            dataset, largest), largest)}
        if dataset == "digits":
            method["noise_rate"] = 0.4 if label_noise is None else label_noise
    if "generator" in data:
        data.update(n_test=0, seed=seed)
    return {"experiment": {"name": "family-comparison", "seeds": n_splits},
            "data": {k: v for k, v in data.items() if v is not None},
            "kernel": {k: v for k, v in kernel.items() if v is not None},
            "method": {k: v for k, v in method.items() if v is not None}}


def load_comparison_data(name, *, path=None, target=None, max_samples=None, random_state=0):
    """The data of ``hilbert-sd compare --dataset NAME``, one draw of it, as the keyword
    arguments of :func:`compare_family`.

    The data of :func:`comparison_config` (the same generators and files) with the label
    noise of simulation seed ``random_state``: the data the runner's simulation of that seed
    splits (the runner draws the Gaussian noise of the reference data afresh for every split;
    here it is drawn once).

    Parameters
    ----------
    name : {"reference", "diabetes", "digits", "csv"}
        As in :func:`comparison_config`.
    path : str or path-like, optional
        The CSV file (``name="csv"`` only).
    target : str, optional
        The CSV column of the target.
    max_samples : int, optional
        As in :func:`comparison_config`.
    random_state : int, default=0
        The data's seed, the noise's and the subsample's.

    Returns
    -------
    dict
        ``X``, ``y``, ``classification``, ``standardize``, ``gamma`` (None: the kernel's
        default 1/p), ``f_star`` and ``noise_var`` (None but for ``"reference"``) and
        ``description`` (one line).

    Raises
    ------
    ValueError
        For an unknown name, a missing or malformed file, or out-of-range values.
    """
    from hilbert_sd.experiments.config import parse_config
    from hilbert_sd.experiments.planning import simulation_inputs

    raw = comparison_config(name, path=path, target=target, max_samples=max_samples,
                            seed=random_state)
    raw["experiment"]["seeds"] = [random_state]
    config = parse_config(raw)
    sim = config.simulations()[0].config
    method, data = sim["method"], sim["data"]
    classification, noise_var = _setting(method, data)
    X, y, y_clean = _subsampled(simulation_inputs(sim, config.base_dir), method)
    return {"X": X, "y": y, "classification": classification,
            "standardize": method["standardize"], "gamma": sim["kernel"]["gamma"],
            "f_star": None if noise_var is None else y_clean, "noise_var": noise_var,
            "description": _describe(data, method, *X.shape, fresh_noise=False)}


def _setting(method, data):
    """``(classification, noise_var)`` of a simulation: the task, and the noise variance the
    oracle uses (None: no oracle)."""
    task = method["task"]
    if task == "auto":
        task = "classification" if data.get("generator") in ("clustered", "digits") \
            else "regression"
    if task == "classification":
        return True, None
    if method["noise_var"] is not None:
        return False, method["noise_var"]
    sigma = data.get("label_noise", 0.0)
    return False, (sigma ** 2 if sigma > 0 else None)


def _subsampled(inputs, method):
    """``(X, y, y_clean)`` of the inputs, at most ``method.max_samples`` of them (drawn once
    by ``method.split_seed``)."""
    X, y, y_clean = inputs.X, inputs.y, inputs.y_clean
    m = method["max_samples"]
    if m is not None and len(y) > m:
        rng = np.random.default_rng([method["split_seed"], 0, _SUBSAMPLE_STREAM])
        keep = np.sort(rng.choice(len(y), m, replace=False))
        X, y, y_clean = X[keep], y[keep], y_clean[keep]
    return X, y, y_clean


def _describe(data, method, n, p, *, fresh_noise):
    """One line naming the data of a config."""
    generator, sigma = data.get("generator"), data.get("label_noise", 0.0)
    if generator == "sine":
        amp, freq = data["amplitude"], data["frequency"]
        f = "sin(2 pi x)" if (amp, freq) == (1, 1) else f"{amp:g} sin(2 pi {freq:g} x)"
        text = (f"{'reference' if f == 'sin(2 pi x)' else 'sine'} model y = {f}"
                + (f" + {sigma:g} N(0, 1)" if sigma else "")
                + (", x ~ U[0, 1]" if data["design"] == "uniform" else ", x on a grid of [0, 1]")
                + (", a new noise draw per split" if sigma and fresh_noise else ""))
        return f"{text}, n={n}"
    text = {"diabetes": "diabetes (scikit-learn)",
            "digits": "digits (scikit-learn, 8x8, /16), 10 classes"}.get(generator)
    text = text or (f"{generator} data" if generator else Path(data["path"]).name)
    if sigma:
        text += f" + {sigma:g} N(0, 1) label noise"
    if method["standardize"]:
        text += ", inputs standardized on each training part"
    return f"{text}, n={n}, p={p}"


# =========================================================================== the methods
class _Split:
    """What every method of one split shares: the factorizations, targets and grids."""

    def __init__(self, K, P_test, Y, folds, spectrum, grids, scoring, f_centred, noise_var,
                 max_rounds, oracle_steps):
        self.K = K
        self.P_test = P_test      # k(X_test, X_train) U of the whole training part
        self.Y = Y                # training targets (centred / ±1 codes, noisy labels)
        self.folds = folds        # FoldFactorizations of the training part
        self.spectrum = spectrum  # factorization of the whole training part
        self.grids = grids
        self.scoring = scoring
        self.f = f_centred        # f* − mean(y_train) at the training inputs (or None)
        self.noise_var = noise_var
        self.max_rounds = max_rounds
        self.oracle_steps = oracle_steps
        self.caught = []          # warnings of the budget rule and of the oracle schedules

    @property
    def lam(self):
        return self.spectrum.eigenvalues

    def refit(self, pair, row):
        """Test predictions and tr S of row ``row`` of filters ``(h, g)`` on the training
        part."""
        h, g = pair
        path = filter_path(self.spectrum, self.Y, (h[row:row + 1], g[row:row + 1]),
                           check_input=False)
        return path.predict(self.P_test, 0, projected=True), float(h[row].sum())


def _family_method(name, grid_key, refit_pair):
    """A method that is a named family of :func:`~hilbert_sd.model_selection.cv_filters`."""

    def run(s):
        res = cv_filters(None, s.Y, name, s.grids[grid_key], cv=s.folds, scoring=s.scoring)
        p = res.best_params
        pair, row = refit_pair(s.lam, p)
        pred, dof = s.refit(pair, row)
        return res, p, pred, dof

    return run


_ridge = _family_method("ridge", "alphas",
                        lambda lam, p: (filters.ridge(lam, p["alpha"], return_prediction=True),
                                        0))
_sd_ridge = _family_method(
    "self_distillation", "sd",
    lambda lam, p: (filters.self_distillation(lam, p["alpha"], p["round"],
                                              return_prediction=True), p["round"]))
_boosting = _family_method(
    "boosting", "boosting",
    lambda lam, p: (filters.boosting(lam, p["alpha"], p["step"], return_prediction=True),
                    p["step"]))
_flow = _family_method(
    "gradient_flow", "times",
    lambda lam, p: (filters.gradient_flow(lam, p["time"], return_prediction=True), 0))
_pcr = _family_method(
    "spectral_cutoff", "ranks",
    lambda lam, p: (filters.spectral_cutoff(lam, ranks=p["rank"], return_prediction=True), 0))


def _budget_paths(spectrum, Y, epsilons, max_rounds, caught):
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always", InfeasibleBudgetWarning)
        paths = [self_distill(spectrum, Y, epsilon=float(e), n_rounds=max_rounds,
                              on_infeasible="warn", check_input=False) for e in epsilons]
    _keep(got, caught)
    return paths


def _keep(got, caught):
    for w in got:
        if issubclass(w.category, (InfeasibleBudgetWarning, NumericalWarning)):
            caught.append(w.category.__name__)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _sd_budget(s):
    eps, R = s.grids["epsilons"], s.max_rounds
    params = [{"epsilon": float(e), "round": t} for e in eps for t in range(R + 1)]
    res = cv_paths(None, s.Y, lambda sp, y, _: _budget_paths(sp, y, eps, R, s.caught),
                   cv=s.folds, params=params, scoring=s.scoring)
    # a budget below the floor of the whole training part does not exist there either: its
    # rounds from the infeasible one on rank last, as they do when a fold is infeasible
    full = _budget_paths(s.spectrum, s.Y, eps, R, s.caught)
    bad = np.zeros(len(params), bool)
    for i, path in enumerate(full):
        if path.infeasible_rounds:
            bad[i * (R + 1) + min(path.infeasible_rounds):(i + 1) * (R + 1)] = True
    if bad.any():
        res = FilterCVResult(np.where(bad[None], np.nan, res.scores), params=params,
                             splits=res.splits, scoring=res.scoring)
    p = res.best_params
    path = full[res.best_candidate // (R + 1)]
    t = p["round"]
    pred = path.predict(s.P_test, t, projected=True)
    p["round_ridge"] = float(np.asarray(path.ridges)[t])
    return res, p, pred, float(path.filters[t].sum())


def _oracle_filters(lam, theta, noise_var, alphas, max_steps, caught):
    """Filters of mixed SD at the optimal k-step weights, α-major × k = 1..max_steps."""
    hs, gs, xis = [], [], []
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always", NumericalWarning)
        for a in alphas:
            for k in range(1, max_steps + 1):
                xi = filters.optimal_schedule(lam, float(a), theta, noise_var, k).xi
                h, g = filters.self_distillation(lam, float(a), k, xi=xi,
                                                 return_prediction=True)
                hs.append(h[k])
                gs.append(g[k])
                xis.append(xi)
    _keep(got, caught)
    return (np.array(hs), np.array(gs)), xis


def _sd_mixed_oracle(s):
    alphas, K_steps = s.grids["alphas"], s.oracle_steps
    params = [{"alpha": float(a), "steps": k} for a in alphas for k in range(1, K_steps + 1)]

    def build(spectrum, y, train):
        pair, _ = _oracle_filters(spectrum.eigenvalues, spectrum.project(s.f[train]),
                                  s.noise_var, alphas, K_steps, s.caught)
        return filter_path(spectrum, y, pair, check_input=False)

    res = cv_paths(None, s.Y, build, cv=s.folds, params=params, scoring=s.scoring)
    p = res.best_params
    pair, xis = _oracle_filters(s.lam, s.spectrum.project(s.f), s.noise_var, [p["alpha"]],
                                p["steps"], s.caught)
    row = p["steps"] - 1
    pred, dof = s.refit(pair, row)
    p["xi"] = [float(x) for x in xis[row]]
    return res, p, pred, dof


_RUNNERS = {"ridge": _ridge, "sd_budget": _sd_budget, "sd_ridge": _sd_ridge,
            "sd_mixed_oracle": _sd_mixed_oracle, "boosting": _boosting, "flow": _flow,
            "pcr": _pcr}


# =========================================================================== the study
def _check_methods(methods, oracle):
    if methods is None:
        return [m for m in METHODS if oracle or m != "sd_mixed_oracle"]
    methods = [methods] if isinstance(methods, str) else list(methods)
    if not methods:
        raise ValueError(f"methods is empty; allowed: any of {', '.join(METHODS)}")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods contains {m!r}; allowed: {', '.join(METHODS)}")
    if "sd_mixed_oracle" in methods and not oracle:
        raise ValueError("methods contains 'sd_mixed_oracle', which needs the true function "
                         "and the noise variance: give f_star and noise_var (in a config: "
                         "data.label_noise > 0 or method.noise_var; synthetic data only)")
    return [m for m in METHODS if m in methods]  # table order, no duplicates


def _rank_grid(r_max):
    return np.unique(np.round(np.geomspace(1, max(r_max, 1), _N_RANKS)).astype(np.int64))


def _study_config(*, description, n_samples, n_features, kernel, kernel_params, n_splits,
                  test_size, cv, classification, label_noise, standardize, max_rounds,
                  oracle_steps, random_state, noise_var, methods, seconds):
    """The ``config`` of a :class:`FamilyComparison`."""
    return {"description": description, "n_samples": n_samples, "n_features": n_features,
            "kernel": kernel,
            "kernel_params": {k: float(v) if isinstance(v, (int, float)) else v
                              for k, v in kernel_params.items()},
            "n_splits": n_splits, "test_size": test_size, "cv": cv,
            "classification": bool(classification), "label_noise": label_noise,
            "standardize": bool(standardize), "max_rounds": max_rounds,
            "oracle_steps": oracle_steps, "random_state": random_state,
            "noise_var": noise_var, "methods": list(methods),
            "grids": {"alphas": f"{_ALPHAS[0]:g}..{_ALPHAS[-1]:g} x mean diag K "
                                f"({_ALPHAS.size}, geometric)",
                      "epsilons": f"1e-3..1 x var(y_train) ({_N_EPSILONS}, geometric)",
                      "times": f"{_TIMES[0]:g}..{_TIMES[-1]:g} / mean diag K "
                               f"({_TIMES.size}, geometric)",
                      "ranks": f"1..min numerical rank of the folds (<= {_N_RANKS})"},
            "seconds": round(seconds, 2)}


class _Study:
    """The checked arguments of one comparison, and its splits (:meth:`split`): what
    :func:`compare_family` loops over and what the runner's :func:`run` does once."""

    def __init__(self, X, y, *, kernel, gamma, kernel_params, test_size, cv, classification,
                 label_noise, standardize, f_star, noise_var, methods, max_rounds,
                 oracle_steps):
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1 or not np.all(np.isfinite(X)):
            raise ValueError(f"X must be a finite 2-D array with at least 2 rows; got shape "
                             f"{X.shape}")
        n = X.shape[0]
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y has shape {y.shape}; allowed: ({n},), one target per row of X")
        from hilbert_sd.experiments.registry import parameter

        def arg(key, value, name=None):  # the method's registered parameter is the one check
            return parameter("method", "family_comparison", key).check_argument(value,
                                                                                name or key)

        self.test_size, self.cv = arg("test_size", test_size), arg("cv", cv)
        self.max_rounds, self.oracle_steps = (arg("max_rounds", max_rounds),
                                              arg("oracle_steps", oracle_steps))
        self.label_noise = arg("noise_rate", label_noise, "label_noise")
        self.n_test = int(math.ceil(self.test_size * n))
        n_train = n - self.n_test
        if self.n_test < 1 or n_train < 2 * self.cv:
            raise ValueError(f"test_size={self.test_size:g} leaves {n_train} training and "
                             f"{self.n_test} test samples of n={n}; allowed: at least 2 x cv "
                             f"= {2 * self.cv} training samples and 1 test sample")
        self.labels = self.n_classes = None
        if classification:
            if not np.all(np.isfinite(y.astype(np.float64))) or np.any(y != np.round(y)) \
                    or np.any(y < 0):
                raise ValueError("classification needs integer class labels >= 0 in y")
            self.labels = y.astype(np.int64)
            self.n_classes = max(int(self.labels.max()) + 1, 2)
            if f_star is not None or noise_var is not None:
                raise ValueError("f_star and noise_var apply to regression; "
                                 "classification=True")
        else:
            if self.label_noise != 0.0:
                raise ValueError(f"label_noise={self.label_noise:g} flips class labels; "
                                 "allowed with classification=False: 0")
            y = y.astype(np.float64)
            if not np.all(np.isfinite(y)):
                raise ValueError("y contains NaN or infinite values")
        oracle = f_star is not None or noise_var is not None
        if oracle:
            if f_star is None or noise_var is None:
                raise ValueError("give both f_star and noise_var (the oracle needs both), or "
                                 "neither")
            f_star = np.asarray(f_star, dtype=np.float64)
            if f_star.shape != (n,) or not np.all(np.isfinite(f_star)):
                raise ValueError(f"f_star has shape {f_star.shape}; allowed: ({n},), finite")
            noise_var = arg("noise_var", noise_var)
        self.methods = _check_methods(methods, oracle)
        self.kernel_params = dict(kernel_params or {})
        if gamma is not None:
            self.kernel_params["gamma"] = check_scalar(gamma, "gamma", low=0.0,
                                                       low_inclusive=False)
        self.X, self.y, self.f_star, self.noise_var = X, y, f_star, noise_var
        self.kernel, self.classification = kernel, bool(classification)
        self.standardize = bool(standardize)

    def split(self, random_state, index):
        """Split ``index`` of the stream ``random_state``: every method tuned by k-fold CV on
        its training part, refitted there and scored on its test part.

        Returns
        -------
        records : list of dict
            One per method (the rows of :attr:`FamilyComparison.records`).
        split : dict
            ``train``, ``test``, ``train_labels`` (classification, after label noise) and
            ``flipped`` (an entry of :attr:`FamilyComparison.splits`).
        notes : dict
            Counts of the warnings caught, by category name (:attr:`FamilyComparison.notes`).
        """
        from sklearn.model_selection import KFold

        from hilbert_sd.noisy_labels import add_label_noise

        X, y, labels = self.X, self.y, self.labels
        rng, train, test = _draw_split(len(y), self.n_test, random_state, index)
        X_tr, X_te = X[train], X[test]
        if self.standardize:
            mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
            sd = np.where(sd > 0, sd, 1.0)
            X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
        noisy = None
        if self.classification:
            noisy = labels[train]
            if self.label_noise > 0:
                noisy = add_label_noise(noisy, self.label_noise, n_classes=self.n_classes,
                                        random_state=int(rng.integers(2**31 - 1))).labels
            Y = 2.0 * np.eye(self.n_classes)[noisy] - 1.0
            offset = 0.0
        else:
            offset = float(y[train].mean())
            Y = y[train] - offset
        K = gram(X_tr, kernel=self.kernel, **self.kernel_params)
        K_te = gram(X_te, X_tr, kernel=self.kernel, **self.kernel_params)
        folds = factor_folds(K, cv=KFold(self.cv))
        spectrum = decompose(K, check_input=False)
        scale = float(np.mean(np.diag(K)))
        scale = scale if scale > 0 else 1.0
        alphas = scale * _ALPHAS
        r_max = min(sp.numerical_rank for sp in [*folds.spectra, spectrum])
        grids = {"alphas": alphas, "sd": (alphas, self.max_rounds),
                 "boosting": (alphas, self.max_rounds), "times": _TIMES / scale,
                 "ranks": _rank_grid(r_max), "epsilons": default_epsilons(Y, num=_N_EPSILONS)}
        f_star = self.f_star
        s = _Split(K, spectrum.project_rows(K_te), Y, folds, spectrum, grids,
                   "error" if self.classification else "mse",
                   None if f_star is None else f_star[train] - offset, self.noise_var,
                   self.max_rounds, self.oracle_steps)
        records = []
        for m in self.methods:
            res, params, pred, dof = _RUNNERS[m](s)
            rec = {"split": index, "method": m, "n_train": int(train.size),
                   "n_test": int(test.size)}
            if self.classification:
                rec["test_error"] = float(np.mean(np.argmax(pred, axis=1) != labels[test]))
            else:
                rec["test_error"] = float(np.mean((pred + offset - y[test]) ** 2))
                if f_star is not None:
                    rec["test_mse_f_star"] = float(np.mean((pred + offset - f_star[test])**2))
            rec["dof"] = dof
            rec["cv_score"] = res.best_score
            rec["n_candidates"] = len(res.params)
            for key in PARAM_KEYS:
                rec[key] = params.get(key)
            rec["round_ridge"] = params.get("round_ridge")
            rec["xi"] = params.get("xi")
            records.append(rec)
        notes = {name: s.caught.count(name) for name in _NOTES if name in s.caught}
        split = {"train": train, "test": test, "train_labels": noisy,
                 "flipped": None if noisy is None
                 else int(np.count_nonzero(noisy != labels[train]))}
        return records, split, notes


def _draw_split(n, n_test, random_state, index):
    """Split ``index`` of the stream ``random_state`` of ``n`` samples: ``(rng, train,
    test)``, the test part the first ``n_test`` of a permutation drawn from
    ``np.random.default_rng([random_state, index, 2])`` (``rng`` goes on to the label
    noise). A pure function of its arguments: a store keeps the seeds, not the indices."""
    rng = np.random.default_rng([random_state, index, _SPLIT_STREAM])
    perm = rng.permutation(n)
    return rng, perm[n_test:], perm[:n_test]


def compare_family(X, y, *, kernel="rbf", gamma=None, kernel_params=None, n_splits=20,
                   test_size=0.3, cv=5, classification=False, label_noise=0.0,
                   standardize=False, f_star=None, noise_var=None, methods=None, max_rounds=10,
                   oracle_steps=3, random_state=0, description=None, progress=None):
    """Compare the regularizer family, every method tuned by k-fold CV on the training part.

    For each of ``n_splits`` random splits (split i a random permutation of the samples from
    ``np.random.default_rng([random_state, i, 2])``: its first ⌈test_size · n⌉ samples are the
    test part, the others, in that random order, the training part): the training part's
    kernel matrix is factored once per fold (``KFold(cv)`` on the training part) and once
    whole; every method's grid is scored by exact k-fold CV on those factorizations
    (:func:`~hilbert_sd.model_selection.cv_filters`, :func:`~hilbert_sd.model_selection.cv_paths`),
    the best candidate (lowest mean validation loss; the first among ties, scikit-learn's
    rule) is refitted on the whole training part, and its test error is measured once.
    Nothing is chosen with the test part. Split i is the simulation of seed i of the
    runner's ``family_comparison`` method with ``split_seed = random_state``
    (:func:`run`): the same records on the same data.

    Parameters
    ----------
    X : array-like of shape (n, p)
    y : array-like of shape (n,)
        Real targets, or integer class labels 0..m − 1 with ``classification=True``.
    kernel : str, default="rbf"
        A kernel of :func:`hilbert_sd.kernels.gram`.
    gamma : float, optional
        Kernel parameter (default: the kernel's, 1/p for the RBF kernel).
    kernel_params : dict, optional
        Further kernel parameters.
    n_splits : int, default=20
    test_size : float in (0, 1), default=0.3
    cv : int, default=5
        Folds of the CV on each training part, ≥ 2.
    classification : bool, default=False
        Targets ±1 one-hot codes (m columns, shared filters, the budget rule's joint budget);
        predictions by argmax; test error = 1 − accuracy on the clean test labels; CV chooses
        by the error rate on the held-out training labels (noisy, like the rest of the
        training part).
    label_noise : float in [0, 1], default=0.0
        Symmetric label noise (:func:`hilbert_sd.noisy_labels.add_label_noise`: a hit label
        is redrawn uniformly from all classes) on the training labels of every split;
        classification only.
    standardize : bool, default=False
        Centre and scale the inputs with the training part's mean and standard deviation.
    f_star : array-like of shape (n,), optional
        The true regression function at X (synthetic data). With ``noise_var`` it enables the
        ``sd_mixed_oracle`` method and a test error against f* (``test_mse_f_star``).
    noise_var : float, optional
        The noise variance σ² of ``y − f_star``.
    methods : sequence of str, optional
        Keys of :data:`METHODS` (default: all; the oracle only when f* is given).
    max_rounds : int, default=10
        Rounds (steps) 0..max_rounds of self-distillation and boosting.
    oracle_steps : int, default=3
        Steps 1..oracle_steps of the mixed-SD oracle.
    random_state : int, default=0
        Seeds the splits and the label noise.
    description : str, optional
        One line naming the data, for the summary and the figure.
    progress : callable, optional
        Called with one line of text per split.

    Returns
    -------
    FamilyComparison
        ``summary()``, ``save(out_dir)``, ``plot()``, ``table()``, ``records``.

    Raises
    ------
    ValueError
        Naming the value and the allowed range.
    """
    started = time.perf_counter()
    say = progress or (lambda line: None)
    study = _Study(X, y, kernel=kernel, gamma=gamma, kernel_params=kernel_params,
                   test_size=test_size, cv=cv, classification=classification,
                   label_noise=label_noise, standardize=standardize, f_star=f_star,
                   noise_var=noise_var, methods=methods, max_rounds=max_rounds,
                   oracle_steps=oracle_steps)
    n_splits = check_scalar(n_splits, "n_splits", low=1, integer=True)
    random_state = check_scalar(random_state, "random_state", low=0, integer=True)
    splits, records, notes = [], [], {}
    for i in range(n_splits):
        t0 = time.perf_counter()
        recs, split, caught = study.split(random_state, i)
        records += recs
        splits.append(split)
        for name, count in caught.items():
            notes[name] = notes.get(name, 0) + count
        dt = time.perf_counter() - t0
        eta = (time.perf_counter() - started) / (i + 1) * (n_splits - i - 1)
        say(f"split {i + 1}/{n_splits}: n_train={split['train'].size}, {study.cv + 1} "
            f"factorizations, {dt:.1f} s (eta {eta:.0f} s)")
    config = _study_config(
        description=description or f"data n={len(study.y)}, p={study.X.shape[1]}",
        n_samples=len(study.y), n_features=study.X.shape[1], kernel=kernel,
        kernel_params=study.kernel_params, n_splits=n_splits, test_size=study.test_size,
        cv=study.cv, classification=study.classification, label_noise=study.label_noise,
        standardize=study.standardize, max_rounds=study.max_rounds,
        oracle_steps=study.oracle_steps, random_state=random_state,
        noise_var=study.noise_var, methods=study.methods,
        seconds=time.perf_counter() - started)
    return FamilyComparison(records, config=config, splits=splits, notes=notes)


# =========================================================================== the result
_NOTES = {
    "InfeasibleBudgetWarning": "a budget below the floor of a training kernel (those rounds "
                               "rank last in the CV)",
    "NumericalWarning": "an ill-conditioned optimal schedule of the oracle (its risk is that "
                        "of the weights returned)",
}


def _mean_se(values):
    v = np.asarray(values, dtype=np.float64)
    se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(v.mean()), se


class FamilyComparison:
    """Result of :func:`compare_family`.

    Attributes
    ----------
    records : list of dict
        One row per (split, method): ``test_error`` (MSE, or 1 − accuracy), ``dof`` (tr S of
        the chosen filter on the training part), ``cv_score`` (its mean validation loss), the
        chosen parameters (``alpha``, ``epsilon``, ``round``, ``step``, ``steps``, ``time``,
        ``rank``; None where the method has none), ``round_ridge`` (the budget rule's ridge of
        the chosen round) and ``xi`` (the oracle's weights).
    config : dict
    splits : list of dict
        ``train`` and ``test`` indices of every split; for classification the training labels
        the methods saw (``train_labels``, after label noise) and how many were flipped.
    notes : dict
        Counts of the warnings caught (budgets below a fold's floor, ill-conditioned oracle
        schedules).
    """

    CSV, SPLITS_CSV, JSON, PNG = ("comparison.csv", "comparison_splits.csv", "comparison.json",
                                  "comparison.png")

    def __init__(self, records, *, config, splits, notes=None):
        self.records = list(records)
        self.config = dict(config)
        self.splits = list(splits)
        self.notes = dict(notes or {})

    @property
    def methods(self):
        """Method keys, in table order."""
        return list(self.config["methods"])

    @property
    def metric(self):
        """``"error rate"`` (classification) or ``"MSE"``."""
        return "error rate" if self.config["classification"] else "MSE"

    def _rows(self, method):
        return [r for r in self.records if r["method"] == method]

    def table(self):
        """One dict per method: mean ± standard error over splits of the test error, of its
        paired difference to kernel ridge, of tr S, and the median chosen parameters.

        Returns
        -------
        list of dict
        """
        base = {r["split"]: r["test_error"] for r in self._rows("ridge")}
        out = []
        for m in self.methods:
            rows = self._rows(m)
            mean, se = _mean_se([r["test_error"] for r in rows])
            dof, dof_se = _mean_se([r["dof"] for r in rows])
            row = {"method": m, "label": LABELS[m], "oracle": m.endswith("oracle"),
                   "splits": len(rows), "test_error_mean": mean, "test_error_se": se}
            if base:
                d, d_se = _mean_se([r["test_error"] - base[r["split"]] for r in rows])
                row.update(vs_ridge_mean=d, vs_ridge_se=d_se)
            if "test_mse_f_star" in rows[0]:
                row["test_mse_f_star_mean"], row["test_mse_f_star_se"] = _mean_se(
                    [r["test_mse_f_star"] for r in rows])
            row.update(dof_mean=dof, dof_se=dof_se)
            for key in PARAM_KEYS:
                vals = [r[key] for r in rows if r[key] is not None]
                row[f"{key}_median"] = float(np.median(vals)) if vals else None
            out.append(row)
        return out

    @staticmethod
    def _chosen(row):
        parts = []
        for key in PARAM_KEYS:
            v = row[f"{key}_median"]
            if v is not None:
                parts.append(f"{key}={v:.3g}" if key in ("alpha", "epsilon", "time")
                             else f"{key}={v:g}")
        return ", ".join(parts)

    def summary(self):
        """The table as text: one line per method.

        Returns
        -------
        str
        """
        c = self.config
        k = ", ".join(f"{a}={v:g}" if isinstance(v, float) else f"{a}={v}"
                      for a, v in c["kernel_params"].items()) or "default parameters"
        head = [
            f"{c.get('description', 'data')}",
            f"{'classification' if c['classification'] else 'regression'}"
            + (f", symmetric label noise {c['label_noise']:g} on the training labels"
               if c["label_noise"] else "")
            + f"; kernel {c['kernel']} ({k}); {c['n_splits']} random splits (test "
              f"{c['test_size']:g}); every method tuned by {c['cv']}-fold CV on the training "
              "part only",
            f"test {self.metric}: mean +- standard error over splits; 'vs ridge': the paired "
            "difference per split; dof = tr S on the training part; chosen: median over splits",
        ]
        table = self.table()
        w = max(len(r["label"]) for r in table)
        fmt = "{:.4g}" if not c["classification"] else "{:.4f}"

        def pm(a, b):
            return f"{fmt.format(a)} +- {fmt.format(b) if np.isfinite(b) else 'nan'}"

        cols = f"{'method':<{w}}  {'test ' + self.metric:>22}  {'vs ridge':>22}  "
        if "test_mse_f_star_mean" in table[0]:
            cols += f"{'MSE to f*':>22}  "
        cols += f"{'dof':>14}  chosen"
        lines = head + ["", cols]
        for r in table:
            line = f"{r['label']:<{w}}  {pm(r['test_error_mean'], r['test_error_se']):>22}  "
            line += (f"{pm(r['vs_ridge_mean'], r['vs_ridge_se']):>22}  " if "vs_ridge_mean" in r
                     else f"{'':>22}  ")
            if "test_mse_f_star_mean" in r:
                line += f"{pm(r['test_mse_f_star_mean'], r['test_mse_f_star_se']):>22}  "
            line += f"{r['dof_mean']:>7.1f} +- {r['dof_se']:<4.1f}  {self._chosen(r)}"
            lines.append(line)
        if any(r["oracle"] for r in table):
            lines.append("[oracle] rows use the true function f* and the noise variance: not "
                         "available from data.")
        for key, count in self.notes.items():
            lines.append(f"note: {count} x {_NOTES.get(key, key)}")
        lines.append(f"({c.get('seconds', float('nan')):.1f} s)")
        return "\n".join(lines)

    def plot(self, ax=None):
        """Test error against effective degrees of freedom, every method on one axis.

        Each method is one point at its mean over splits, with error bars of one standard
        error in both directions (faint dots: the individual splits); oracles hollow.

        Parameters
        ----------
        ax : matplotlib Axes, optional

        Returns
        -------
        matplotlib.axes.Axes
        """
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(7.5, 4.8))
        markers = "osDv^<>ph"
        for i, r in enumerate(self.table()):
            rows = self._rows(r["method"])
            color = f"C{i}"
            ax.scatter([x["dof"] for x in rows], [x["test_error"] for x in rows], s=8,
                       color=color, alpha=0.25, linewidths=0)
            ax.errorbar(r["dof_mean"], r["test_error_mean"], xerr=r["dof_se"],
                        yerr=r["test_error_se"], fmt=markers[i % len(markers)], color=color,
                        mfc="white" if r["oracle"] else color, ms=7, capsize=3,
                        label=r["label"])
        dofs = [x["dof"] for x in self.records]
        if min(dofs) > 0 and max(dofs) / min(dofs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel("effective degrees of freedom tr S (training part)")
        ax.set_ylabel(f"test {self.metric}")
        c = self.config
        ax.set_title(f"{c.get('description', '')}\n{c['n_splits']} splits, {c['cv']}-fold CV "
                     "on each training part; mean +- s.e.", fontsize=9)
        ax.legend(fontsize=7, loc="best")
        ax.grid(alpha=0.3)
        return ax

    def save(self, out_dir):
        """Write the table (CSV), the per-split rows (CSV), both with the configuration
        (JSON) and the figure (PNG, 120 dpi) into ``out_dir`` (created if missing).

        Returns
        -------
        list of pathlib.Path
            ``comparison.csv``, ``comparison_splits.csv``, ``comparison.json``,
            ``comparison.png``.
        """
        from matplotlib.figure import Figure

        from hilbert_sd.experiments.tables import write_records

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table = self.table()
        paths = [out / self.CSV, out / self.SPLITS_CSV, out / self.JSON, out / self.PNG]
        write_records(table, paths[0])
        rows = [{**r, "xi": None if r["xi"] is None else " ".join(f"{x:.6g}" for x in r["xi"])}
                for r in self.records]
        write_records(rows, paths[1])
        splits = [{"train": s["train"].tolist(), "test": s["test"].tolist(),
                   "flipped": s["flipped"],
                   "train_labels": None if s["train_labels"] is None
                   else s["train_labels"].tolist()} for s in self.splits]
        paths[2].write_text(json.dumps({"config": self.config, "table": table,
                                        "records": self.records, "splits": splits,
                                        "notes": self.notes}, indent=1, default=float))
        fig = Figure(figsize=(7.5, 4.8))  # no pyplot state: nothing to close, no display
        self.plot(fig.subplots())
        fig.tight_layout()
        fig.savefig(paths[3], dpi=120)
        return paths

    def __repr__(self):
        best = min(self.table(), key=lambda r: r["test_error_mean"])
        return (f"FamilyComparison(splits={self.config['n_splits']}, methods={len(self.methods)}"
                f", {self.metric}, best={best['method']} "
                f"{best['test_error_mean']:.4g})")


# =========================================================================== the runner's method
#: Per-method result keys of a simulation (``"ridge.test_error"``, ...), in record order.
_VALUE_KEYS = ("test_error", "test_mse_f_star", "dof", "cv_score", "n_candidates", *PARAM_KEYS,
               "round_ridge")


def _kernel(config):
    """``(name, parameters)`` of a simulation's kernel (default: RBF, γ = 1/p)."""
    kernel = dict(config.get("kernel") or {"name": "rbf"})
    return kernel.pop("name"), {k: v for k, v in kernel.items() if v is not None}


def check(params):
    """Constraints between the parameters of ``method = "family_comparison"``."""
    problems = []
    task = params.get("task")
    if task == "regression" and params.get("noise_rate"):
        problems.append(("noise_rate", "flips class labels; allowed with task = "
                                       '"regression": 0'))
    if task == "classification":
        if params.get("noise_var") is not None:
            problems.append(("noise_var", 'is the oracle\'s, for regression; task = '
                                          '"classification"'))
        if "sd_mixed_oracle" in (params.get("methods") or ()):
            problems.append(("methods", '"sd_mixed_oracle" is a regression oracle; task = '
                                        '"classification"'))
    return problems


def run(config, inputs, seed):
    """``method = "family_comparison"`` of the experiment runner: one split of the comparison.

    Split ``seed`` of the stream ``method.split_seed`` of the data (at most
    ``method.max_samples`` of them, a subset drawn once by ``split_seed``; the data's own test
    points are not used): every method of ``method.methods`` tuned by ``method.cv``-fold CV on
    the training part, refitted there and scored on the test part, as split ``seed`` of
    :func:`compare_family` with ``random_state = split_seed``. The kernel is the config's
    (default RBF, γ = 1/p); each split factors its own training kernel and folds, so the
    runner prepares nothing (``requires=()``).

    The task (``method.task = "auto"``): classification for the ``digits`` and ``clustered``
    generators, regression otherwise. Classification takes ``method.noise_rate`` symmetric
    label noise on the training labels of the split. Regression labels carry the data's
    ``label_noise`` of this seed; the oracle (``sd_mixed_oracle``) and ``test_mse_f_star``
    take f* = the noise-free labels and the noise variance ``method.noise_var``, by default
    ``data.label_noise²`` when it is > 0 (no oracle otherwise).

    Results: ``n_samples``, ``n_features``, ``n_train``, ``n_test``, ``flipped`` (None for
    regression); per method M of the split ``M.test_error``, ``M.test_mse_f_star`` (with
    f*), ``M.dof``, ``M.cv_score``, ``M.n_candidates``, the chosen ``M.alpha``,
    ``M.epsilon``, ``M.round``, ``M.step``, ``M.steps``, ``M.time``, ``M.rank`` (None where
    M has no such parameter), ``M.round_ridge`` and the oracle's weights ``M.xi[j]``;
    ``notes.InfeasibleBudgetWarning`` and ``notes.NumericalWarning`` (counts of the warnings
    caught); for classification the training labels after noise, ``train_labels`` (one
    string of space-separated class indices, in the order of the split's training part). The
    split's indices are not stored: they are a function of ``split_seed``, the seed and the
    sizes (:func:`result_from_rows` draws them again).
    """
    m, data = config["method"], config["data"]
    classification, noise_var = _setting(m, data)
    if classification and data.get("label_noise"):
        raise ValueError("data.label_noise adds Gaussian noise to regression targets; for "
                         "class labels use method.noise_rate")
    X, y, y_clean = _subsampled(inputs, m)
    kernel, kernel_params = _kernel(config)
    study = _Study(X, y, kernel=kernel, gamma=None, kernel_params=kernel_params,
                   test_size=m["test_size"], cv=m["cv"], classification=classification,
                   label_noise=m["noise_rate"], standardize=m["standardize"],
                   f_star=None if noise_var is None else y_clean, noise_var=noise_var,
                   methods=m["methods"], max_rounds=m["max_rounds"],
                   oracle_steps=m["oracle_steps"])
    records, split, notes = study.split(m["split_seed"], seed)
    out = {"n_samples": int(X.shape[0]), "n_features": int(X.shape[1]),
           "n_train": int(split["train"].size), "n_test": int(split["test"].size),
           "flipped": split["flipped"]}
    for rec in records:
        for key in _VALUE_KEYS:
            if key in rec:
                out[f"{rec['method']}.{key}"] = rec[key]
        for j, xi in enumerate(rec["xi"] or ()):
            out[f"{rec['method']}.xi[{j}]"] = xi
    for name in _NOTES:
        out[f"notes.{name}"] = notes.get(name, 0)
    labels = split["train_labels"]
    out["train_labels"] = None if labels is None else " ".join(map(str, labels.tolist()))
    return out


def result_from_rows(rows):
    """The :class:`FamilyComparison` of the finished ``family_comparison`` simulations of a
    store: one split per simulation, in the order of their seeds.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows`, of one configuration
        (they differ in their seed only).

    Returns
    -------
    FamilyComparison

    Raises
    ------
    ValueError
        When there is no finished simulation, or the rows are of several configurations.
    """
    from hilbert_sd.experiments.config import canonical_json
    from hilbert_sd.experiments.reports import finished, series

    done = sorted(finished(rows, "family_comparison"), key=lambda r: r["seed"])
    c = done[0]["config"]
    if any(canonical_json(dict(r["config"], seed=0)) != canonical_json(dict(c, seed=0))
           for r in done):
        raise ValueError("the rows are of several family_comparison configurations; select "
                         "the rows of one (they may differ in their seed only)")
    m, data = c["method"], c["data"]
    records, splits, notes = [], [], {}
    for row in done:
        res = row["results"]
        members = [k for k in METHODS if f"{k}.test_error" in res]
        for k in members:
            rec = {"split": row["seed"], "method": k, "n_train": res["n_train"],
                   "n_test": res["n_test"]}
            rec.update((key, res[f"{k}.{key}"]) for key in _VALUE_KEYS if f"{k}.{key}" in res)
            xi = series(res, f"{k}.xi")
            rec["xi"] = xi.tolist() if xi.size else None
            records.append(rec)
        _, train, test = _draw_split(res["n_samples"], res["n_test"], m["split_seed"],
                                     row["seed"])
        labels = res.get("train_labels")
        splits.append({"train": train, "test": test,
                       "train_labels": None if labels is None
                       else np.array(labels.split(), dtype=np.int64),
                       "flipped": res["flipped"]})
        for name in _NOTES:
            if res[f"notes.{name}"]:
                notes[name] = notes.get(name, 0) + res[f"notes.{name}"]
    res = done[0]["results"]
    classification, noise_var = _setting(m, data)
    kernel, kernel_params = _kernel(c)
    config = _study_config(
        description=_describe(data, m, res["n_samples"], res["n_features"], fresh_noise=True),
        n_samples=res["n_samples"], n_features=res["n_features"], kernel=kernel,
        kernel_params=kernel_params,
        n_splits=len(done), test_size=m["test_size"], cv=m["cv"],
        classification=classification, label_noise=m["noise_rate"],
        standardize=m["standardize"], max_rounds=m["max_rounds"],
        oracle_steps=m["oracle_steps"], random_state=m["split_seed"], noise_var=noise_var,
        methods=members, seconds=sum(r["duration"] for r in done))
    return FamilyComparison(records, config=config, splits=splits, notes=notes)


def report(rows, out_dir):
    """The report of ``hilbert-sd reproduce family-comparison`` (and ``hilbert-sd compare``):
    :meth:`FamilyComparison.save` and :meth:`FamilyComparison.summary` of the store's rows.

    Returns
    -------
    dict
        ``{"files": [the four paths], "summary": text}``.
    """
    result = result_from_rows(rows)
    return {"files": result.save(out_dir), "summary": result.summary()}
