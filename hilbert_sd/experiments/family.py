"""Every member of the regularizer family, tuned alike, on repeated train/test splits.

The study behind ``hilbert-sd compare`` (:doc:`/topics/comparison`). On each random split of
the data into a training and a test part, every method is tuned by the same k-fold
cross-validation *on the training part only* (one factorization per fold, shared by every
method: :func:`hilbert_sd.model_selection.factor_folds`), refitted on the whole training part
at the chosen parameters (one more factorization, shared too), and scored once on the test
part. Methods (:doc:`/topics/family`):

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
from hilbert_sd.kernels import gram
from hilbert_sd.model_selection import (FilterCVResult, cv_filters, cv_paths, default_epsilons,
                                        factor_folds)
from hilbert_sd.spectral import decompose

__all__ = ["DATASETS", "METHODS", "FamilyComparison", "compare_family", "load_comparison_data",
           "make_reference"]

#: Method keys, in the order of the table.
METHODS = ("ridge", "sd_budget", "sd_ridge", "sd_mixed_oracle", "boosting", "flow", "pcr")

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

#: Data sets of :func:`load_comparison_data`.
DATASETS = ("reference", "diabetes", "digits", "csv")

# Grids, relative to the training part: ridges and times scale with the kernel's mean diagonal
# (the mean eigenvalue; 1 for the RBF kernel), budgets with the targets' variance.
_ALPHAS = np.geomspace(1e-6, 1e3, 28)
_TIMES = np.geomspace(1e-2, 1e9, 34)
_N_EPSILONS = 13
_N_RANKS = 30

#: Columns of the per-split records that name a chosen parameter.
PARAM_KEYS = ("alpha", "epsilon", "round", "step", "steps", "time", "rank")


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


def load_comparison_data(name, *, path=None, target=None, max_samples=None, random_state=0):
    """The data of ``hilbert-sd compare``, as the keyword arguments of :func:`compare_family`.

    Parameters
    ----------
    name : {"reference", "diabetes", "digits", "csv"}
        ``"reference"``: :func:`make_reference` with ``max_samples`` points (default 200), RBF
        γ = 80 (the demo's); ``"diabetes"``: scikit-learn's bundled diabetes regression data
        (442 × 10, no download), inputs standardized on each training part; ``"digits"``:
        scikit-learn's bundled 8 × 8 digits scaled to [0, 1] (classification, 10 classes);
        ``"csv"``: regression on a CSV file with a header row (target in the last column
        unless ``target`` names it), inputs standardized on each training part.
    path : str or path-like, optional
        The CSV file (``name="csv"`` only).
    target : str, optional
        The CSV column of the target.
    max_samples : int, optional
        Keep at most this many samples, drawn without replacement (seeded by
        ``random_state``); for ``"reference"`` the number of generated samples.
    random_state : int, default=0

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
    if name not in DATASETS:
        raise ValueError(f"dataset={name!r}; allowed: {', '.join(DATASETS)}")
    if max_samples is not None:
        max_samples = check_scalar(max_samples, "max_samples", low=2, integer=True)
    if (path is not None or target is not None) and name != "csv":
        raise ValueError(f"path and target apply to the csv dataset only; dataset={name!r}")
    out = {"classification": False, "standardize": False, "gamma": None, "f_star": None,
           "noise_var": None}
    if name == "reference":
        noise = 0.5
        X, y, f_star = make_reference(200 if max_samples is None else max_samples,
                                      noise=noise, random_state=random_state)
        out.update(X=X, y=y, f_star=f_star, noise_var=noise**2, gamma=80.0,
                   description=f"reference model y = sin(2 pi x) + {noise:g} N(0, 1), "
                               f"x ~ U[0, 1], n={len(y)}")
        return out
    if name == "diabetes":
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        out.update(standardize=True, description="diabetes (scikit-learn), inputs standardized "
                                                 "on each training part")
    elif name == "digits":
        from hilbert_sd.datasets import load_digits

        X, y = load_digits()
        out.update(classification=True, description="digits (scikit-learn, 8x8, /16), "
                                                    "10 classes")
    else:
        if path is None:
            raise ValueError("dataset='csv' needs a file: path=FILE.csv")
        from hilbert_sd.experiments.data import load_file

        if not str(path).lower().endswith(".csv"):
            raise ValueError(f"{path}: expected a .csv file")
        X, y = load_file(path, target=target)
        if len(y) < 4:
            raise ValueError(f"{path}: {len(y)} data rows; allowed: at least 4")
        out.update(standardize=True, description=f"{Path(path).name}, inputs standardized on "
                                                 "each training part")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64 if out["classification"] else np.float64)
    if max_samples is not None and len(y) > max_samples:
        keep = np.sort(np.random.default_rng([11, random_state]).choice(len(y), max_samples,
                                                                        replace=False))
        X, y = X[keep], y[keep]
    out.update(X=X, y=y)
    out["description"] += f", n={len(y)}, p={X.shape[1]}"
    return out


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
        raise ValueError("methods contains 'sd_mixed_oracle', which needs the true function: "
                         "give f_star and noise_var (synthetic data only)")
    return [m for m in METHODS if m in methods]  # table order, no duplicates


def _rank_grid(r_max):
    return np.unique(np.round(np.geomspace(1, max(r_max, 1), _N_RANKS)).astype(np.int64))


def compare_family(X, y, *, kernel="rbf", gamma=None, kernel_params=None, n_splits=20,
                   test_size=0.3, cv=5, classification=False, label_noise=0.0,
                   standardize=False, f_star=None, noise_var=None, methods=None, max_rounds=10,
                   oracle_steps=3, random_state=0, description=None, progress=None):
    """Compare the regularizer family, every method tuned by k-fold CV on the training part.

    For each of ``n_splits`` random splits (scikit-learn's ``ShuffleSplit``): the training
    part's kernel matrix is factored once per fold (``KFold(cv)`` on the training part, whose
    order ``ShuffleSplit`` has already shuffled) and once whole; every method's grid is scored
    by exact k-fold CV on those factorizations
    (:func:`~hilbert_sd.model_selection.cv_filters`, :func:`~hilbert_sd.model_selection.cv_paths`),
    the best candidate (lowest mean validation loss; the first among ties, scikit-learn's
    rule) is refitted on the whole training part, and its test error is measured once.
    Nothing is chosen with the test part.

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
    from sklearn.model_selection import KFold, ShuffleSplit

    from hilbert_sd.noisy_labels import add_label_noise

    started = time.perf_counter()
    say = progress or (lambda line: None)
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1 or not np.all(np.isfinite(X)):
        raise ValueError(f"X must be a finite 2-D array with at least 2 rows; got shape "
                         f"{X.shape}")
    n = X.shape[0]
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}; allowed: ({n},), one target per row of X")
    n_splits = check_scalar(n_splits, "n_splits", low=1, integer=True)
    test_size = check_scalar(test_size, "test_size", low=0.0, high=1.0, low_inclusive=False,
                             high_inclusive=False)
    cv = check_scalar(cv, "cv", low=2, integer=True)
    max_rounds = check_scalar(max_rounds, "max_rounds", low=0, integer=True)
    oracle_steps = check_scalar(oracle_steps, "oracle_steps", low=1, integer=True)
    random_state = check_scalar(random_state, "random_state", low=0, integer=True)
    label_noise = check_scalar(label_noise, "label_noise", low=0.0, high=1.0)
    n_test = int(math.ceil(test_size * n))
    n_train = n - n_test
    if n_test < 1 or n_train < 2 * cv:
        raise ValueError(f"test_size={test_size:g} leaves {n_train} training and {n_test} test "
                         f"samples of n={n}; allowed: at least 2 x cv = {2 * cv} training "
                         "samples and 1 test sample")
    if classification:
        if not np.all(np.isfinite(y.astype(np.float64))) or np.any(y != np.round(y)) \
                or np.any(y < 0):
            raise ValueError("classification needs integer class labels >= 0 in y")
        labels = y.astype(np.int64)
        n_classes = max(int(labels.max()) + 1, 2)
        if f_star is not None or noise_var is not None:
            raise ValueError("f_star and noise_var apply to regression; classification=True")
    else:
        if label_noise != 0.0:
            raise ValueError(f"label_noise={label_noise:g} flips class labels; allowed with "
                             "classification=False: 0")
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
        noise_var = check_scalar(noise_var, "noise_var", low=0.0)
    methods = _check_methods(methods, oracle)
    kparams = dict(kernel_params or {})
    if gamma is not None:
        kparams["gamma"] = check_scalar(gamma, "gamma", low=0.0, low_inclusive=False)
    scoring = "error" if classification else "mse"

    splitter = ShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=random_state)
    splits, records, notes = [], [], {}
    for i, (train, test) in enumerate(splitter.split(X)):
        t0 = time.perf_counter()
        X_tr, X_te = X[train], X[test]
        if standardize:
            mu, sd = X_tr.mean(axis=0), X_tr.std(axis=0)
            sd = np.where(sd > 0, sd, 1.0)
            X_tr, X_te = (X_tr - mu) / sd, (X_te - mu) / sd
        if classification:
            seed = int(np.random.default_rng([random_state, i]).integers(2**31 - 1))
            noisy = (add_label_noise(labels[train], label_noise, n_classes=n_classes,
                                     random_state=seed).labels if label_noise > 0
                     else labels[train])
            Y = 2.0 * np.eye(n_classes)[noisy] - 1.0
            offset = 0.0
        else:
            noisy = None
            offset = float(y[train].mean())
            Y = y[train] - offset
        K = gram(X_tr, kernel=kernel, **kparams)
        K_te = gram(X_te, X_tr, kernel=kernel, **kparams)
        folds = factor_folds(K, cv=KFold(cv))
        spectrum = decompose(K, check_input=False)
        scale = float(np.mean(np.diag(K)))
        scale = scale if scale > 0 else 1.0
        alphas = scale * _ALPHAS
        r_max = min(sp.numerical_rank for sp in [*folds.spectra, spectrum])
        grids = {"alphas": alphas, "sd": (alphas, max_rounds), "boosting": (alphas, max_rounds),
                 "times": _TIMES / scale, "ranks": _rank_grid(r_max),
                 "epsilons": default_epsilons(Y, num=_N_EPSILONS)}
        s = _Split(K, spectrum.project_rows(K_te), Y, folds, spectrum, grids, scoring,
                   None if f_star is None else f_star[train] - offset, noise_var, max_rounds,
                   oracle_steps)
        for m in methods:
            res, params, pred, dof = _RUNNERS[m](s)
            rec = {"split": i, "method": m, "n_train": int(train.size),
                   "n_test": int(test.size)}
            if classification:
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
        for name in s.caught:
            notes[name] = notes.get(name, 0) + 1
        splits.append({"train": train, "test": test, "train_labels": noisy,
                       "flipped": None if noisy is None
                       else int(np.count_nonzero(noisy != labels[train]))})
        dt = time.perf_counter() - t0
        elapsed = time.perf_counter() - started
        eta = elapsed / (i + 1) * (n_splits - i - 1)
        say(f"split {i + 1}/{n_splits}: n_train={train.size}, {cv + 1} factorizations, "
            f"{dt:.1f} s (eta {eta:.0f} s)")
    config = {"description": description or f"data n={n}, p={X.shape[1]}", "n_samples": n,
              "n_features": X.shape[1], "kernel": kernel,
              "kernel_params": {k: float(v) if isinstance(v, (int, float)) else v
                                for k, v in kparams.items()},
              "n_splits": n_splits, "test_size": test_size, "cv": cv,
              "classification": bool(classification), "label_noise": label_noise,
              "standardize": bool(standardize), "max_rounds": max_rounds,
              "oracle_steps": oracle_steps, "random_state": random_state,
              "noise_var": noise_var, "methods": methods,
              "grids": {"alphas": f"{_ALPHAS[0]:g}..{_ALPHAS[-1]:g} x mean diag K "
                                  f"({_ALPHAS.size}, geometric)",
                        "epsilons": f"1e-3..1 x var(y_train) ({_N_EPSILONS}, geometric)",
                        "times": f"{_TIMES[0]:g}..{_TIMES[-1]:g} / mean diag K "
                                 f"({_TIMES.size}, geometric)",
                        "ranks": f"1..min numerical rank of the folds (<= {_N_RANKS})"},
              "seconds": round(time.perf_counter() - started, 2)}
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
        import matplotlib.pyplot as plt

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
        ax = self.plot()
        ax.figure.tight_layout()
        ax.figure.savefig(paths[3], dpi=120)
        plt.close(ax.figure)
        return paths

    def __repr__(self):
        best = min(self.table(), key=lambda r: r["test_error_mean"])
        return (f"FamilyComparison(splits={self.config['n_splits']}, methods={len(self.methods)}"
                f", {self.metric}, best={best['method']} "
                f"{best['test_error_mean']:.4g})")
