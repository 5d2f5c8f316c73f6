"""Model selection along a path: exact k-fold cross-validation, one factorization per fold.

A self-distillation run (every round, for one budget ε or ridge α) and a gradient flow (every
time) are paths of filters on one spectrum (theory.md §9). Cross-validating a grid of budgets
× rounds therefore needs one eigendecomposition per *fold*, not one refit per (budget, round,
fold): on each training fold, :func:`~hilbert_sd.spectral.decompose` runs once, every budget
of the grid is a path on that one spectrum, and each path predicts the held-out points for all
its rounds in one product. The validation errors are those of literal refits (the exact
k-fold estimate, also for the budget rule, whose ridges depend on the training targets).

- :func:`cv_self_distill`: scores of shape (n_folds, n_grid, max_rounds + 1);
- :func:`cv_flow`: scores of shape (n_folds, n_times);
- :func:`select_best`: the best (grid point, path point) by mean score, with
  ``cv_results``-like arrays shaped as scikit-learn's search estimators'.

Scores are mean squared validation errors (lower is better) unless ``scoring`` is a
callable loss; ``cv_results`` dictionaries follow scikit-learn's convention instead
(``neg_mean_squared_error``: higher is better). Multi-output targets (n, m) sum the columns'
squared errors (the Frobenius convention of the joint budget and of
:meth:`~hilbert_sd.spectral.SpectralPath.gcv`); scikit-learn's ``mean_squared_error``
averages them, a factor m smaller.

The generalized cross-validation and leave-one-out criteria of one path, which need no refit
at all, are methods of the path: :meth:`~hilbert_sd.spectral.SpectralPath.gcv`,
:meth:`~hilbert_sd.spectral.SpectralPath.loo`.
"""

import numbers
import warnings

import numpy as np
from scipy.stats import rankdata

from hilbert_sd._validation import check_scalar, check_square_symmetric, check_targets
from hilbert_sd.distillation import self_distill
from hilbert_sd.exceptions import InfeasibleBudgetWarning
from hilbert_sd.flow import flow_path
from hilbert_sd.spectral import Spectrum, decompose

__all__ = ["PathCVResult", "cv_flow", "cv_self_distill", "default_epsilons", "select_best"]


class PathCVResult:
    """Validation errors of a whole path grid on every fold.

    Attributes
    ----------
    scores : ndarray of shape (n_folds, n_grid, n_points), or (n_folds, n_points) without a grid
        Validation loss of every (fold, grid point, path point): the mean squared error at the
        held-out points (``scoring="mse"``) or the value of the callable loss.
    grid : ndarray of shape (n_grid,) or None
        Budgets ε or ridges α (None for a flow, which has no grid).
    param_name : str or None
        ``"epsilon"``, ``"alpha"`` or None.
    points : ndarray of shape (n_points,)
        Rounds 0..max_rounds, or the times.
    point_name : str
        ``"round"`` or ``"time"``.
    splits : list of (ndarray, ndarray)
        The (train, test) indices of every fold, in order.
    scoring : str or callable
    collapse_rounds : ndarray of int, shape (n_folds, n_grid), or None
        First collapsed round of each fold's run (−1: none within max_rounds); distillation
        only.
    infeasible : ndarray of bool, shape (n_folds, n_grid, n_points), or None
        Rounds fitted with the smallest admissible ridge because ε lay below the floor the
        fold's kernel can reach (``on_infeasible="warn"``); distillation only.
    """

    def __init__(self, scores, *, grid, param_name, points, point_name, splits, scoring,
                 collapse_rounds=None, infeasible=None):
        self.scores = scores
        self.grid = grid
        self.param_name = param_name
        self.points = points
        self.point_name = point_name
        self.splits = splits
        self.scoring = scoring
        self.collapse_rounds = collapse_rounds
        self.infeasible = infeasible
        self._best, self._results = select_best(
            scores, grid=grid, points=points, param_name=param_name, point_name=point_name)

    @property
    def n_folds(self):
        """Number of folds."""
        return self.scores.shape[0]

    @property
    def mean_scores(self):
        """Mean validation loss over the folds (unweighted, as scikit-learn's), shape
        ``scores.shape[1:]``."""
        return self.scores.mean(axis=0)

    @property
    def std_scores(self):
        """Standard deviation over the folds (ddof=0, as scikit-learn's)."""
        return self.scores.std(axis=0)

    @property
    def best_index(self):
        """``(grid index, point index)``, or ``(point index,)`` without a grid: the lowest mean
        loss, the first in grid-major order among ties (scikit-learn's rule)."""
        return self._best

    @property
    def best_params(self):
        """``{param_name: value, point_name: value}`` of :attr:`best_index`."""
        return dict(self._results["params"][self._results["best_index"]])

    @property
    def best_score(self):
        """Mean validation loss at :attr:`best_index` (a loss: lower is better)."""
        return float(self.mean_scores[self._best])

    def cv_results(self):
        """A dict of arrays shaped like scikit-learn's ``cv_results_``.

        One entry per candidate (grid point, path point), grid-major (every round of the
        first budget, then of the second, …). Keys: ``params`` (list of dicts),
        ``param_<param_name>``, ``param_<point_name>``, ``split<i>_test_score``,
        ``mean_test_score``, ``std_test_score``, ``rank_test_score`` and ``best_index``.
        Scores follow scikit-learn's convention, higher is better: with ``scoring="mse"``
        they are the *negative* mean squared errors (``neg_mean_squared_error``).

        Returns
        -------
        dict
        """
        out = {}
        for key, value in self._results.items():
            if key == "params":
                out[key] = [dict(p) for p in value]
            else:
                out[key] = value.copy() if isinstance(value, np.ndarray) else value
        return out

    def __repr__(self):
        grid = "" if self.grid is None else f", {self.param_name}s={self.grid.size}"
        return (f"PathCVResult(folds={self.n_folds}{grid}, {self.point_name}s="
                f"{self.points.size}, best={self.best_params}, "
                f"best_score={self.best_score:.6g})")


def select_best(scores, *, grid=None, points=None, param_name="epsilon", point_name="round"):
    """Best (grid point, path point) by mean validation loss, and ``cv_results``-like arrays.

    Parameters
    ----------
    scores : array-like of shape (n_folds, n_grid, n_points) or (n_folds, n_points)
        Validation *losses* (lower is better), e.g. :attr:`PathCVResult.scores`. A criterion
        without folds (GCV, LOO of one path per grid point) goes in with a leading axis of 1.
        NaN counts as the worst loss.
    grid : array-like of shape (n_grid,), optional
        Grid values (default 0..n_grid − 1); must be None for 2-D scores.
    points : array-like of shape (n_points,), optional
        Path points (default 0..n_points − 1).
    param_name, point_name : str
        Names of the grid parameter and of the path points in the results.

    Returns
    -------
    best_index : tuple of int
        ``(grid index, point index)`` (``(point index,)`` for 2-D scores) of the lowest mean
        loss; among ties the first in grid-major order (scikit-learn's ``best_index_`` rule:
        the first candidate of rank 1).
    cv_results : dict
        ``params`` (list of dicts), ``param_<param_name>``, ``param_<point_name>``,
        ``split<i>_test_score`` (n_candidates,), ``mean_test_score``, ``std_test_score``
        (ddof=0, unweighted over folds), ``rank_test_score`` (int32, ``method="min"``) and
        ``best_index`` (flat). Candidates in grid-major order. **Scores are negated losses**
        (scikit-learn's higher-is-better convention; for ``"mse"`` that is
        ``neg_mean_squared_error``).
    """
    S = np.asarray(scores, dtype=np.float64)
    if S.ndim not in (2, 3) or S.shape[0] < 1 or S.shape[-1] < 1 or (S.ndim == 3
                                                                     and S.shape[1] < 1):
        raise ValueError("scores must have shape (n_folds, n_grid, n_points) or "
                         f"(n_folds, n_points), none of them 0; got {S.shape}")
    has_grid = S.ndim == 3
    n_folds, n_points = S.shape[0], S.shape[-1]
    n_grid = S.shape[1] if has_grid else 1
    points = np.arange(n_points) if points is None else np.asarray(points)
    if points.shape != (n_points,):
        raise ValueError(f"points must have shape ({n_points},); got {points.shape}")
    if has_grid:
        grid = np.arange(n_grid) if grid is None else np.asarray(grid)
        if grid.shape != (n_grid,):
            raise ValueError(f"grid must have shape ({n_grid},); got {grid.shape}")
    elif grid is not None:
        raise ValueError("grid must be None for scores of shape (n_folds, n_points)")
    flat = S.reshape(n_folds, n_grid * n_points)
    neg = -flat
    with np.errstate(invalid="ignore"):
        mean = neg.mean(axis=0)
        std = neg.std(axis=0)
    # scikit-learn: rank by -mean (min method), NaN last; best = first of rank 1
    key = np.where(np.isnan(mean), np.inf, -mean)
    rank = rankdata(key, method="min").astype(np.int32)
    best_flat = int(np.argmin(rank))
    g_idx, p_idx = np.divmod(np.arange(n_grid * n_points), n_points)
    results = {}
    if has_grid:
        results["params"] = [{param_name: grid[g].item(), point_name: points[p].item()}
                             for g, p in zip(g_idx, p_idx)]
        results[f"param_{param_name}"] = grid[g_idx]
    else:
        results["params"] = [{point_name: points[p].item()} for p in p_idx]
    results[f"param_{point_name}"] = points[p_idx]
    for i in range(n_folds):
        results[f"split{i}_test_score"] = neg[i].copy()
    results["mean_test_score"] = mean
    results["std_test_score"] = std
    results["rank_test_score"] = rank
    results["best_index"] = best_flat
    best = (int(g_idx[best_flat]), int(p_idx[best_flat])) if has_grid else (best_flat,)
    return best, results


def default_epsilons(y, num=10):
    """Default budget grid: ``num`` values from 1e-3 to 1 times the variance of y, geometric.

    ε is a mean squared training error in the units of y² (theory.md §9, "Scale"), so the
    grid follows the targets' variance (summed over columns); constant targets use their mean
    square, all-zero targets 1.

    Parameters
    ----------
    y : array-like of shape (n,) or (n, m)
    num : int, default=10

    Returns
    -------
    ndarray of shape (num,), increasing
    """
    y = np.asarray(y, dtype=np.float64)
    Y = y.reshape(y.shape[0], -1)
    scale = float(np.sum(np.var(Y, axis=0)))
    if not scale > 0:
        scale = float(np.sum(np.mean(Y**2, axis=0)))
    if not scale > 0:
        scale = 1.0
    num = check_scalar(num, "num", low=1, integer=True)
    return scale * np.geomspace(1e-3, 1.0, num)


def _check_kernel(K):
    if isinstance(K, Spectrum):
        raise TypeError("cross-validation needs the kernel matrix K itself (each fold "
                        "factors its own training block K[train][:, train]); got a Spectrum")
    return check_square_symmetric(K, "K")


def _splits(cv, n, y, groups, random_state):
    """(train, test) index pairs from an int, a scikit-learn splitter or an iterable."""
    from sklearn.model_selection import KFold

    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        cv = check_scalar(cv, "cv", low=2, integer=True)
        if cv > n:
            raise ValueError(f"cv={cv} folds need at least {cv} samples; got n_samples={n}")
        shuffle = random_state is not None
        splitter = KFold(n_splits=cv, shuffle=shuffle,
                         random_state=random_state if shuffle else None)
        pairs = splitter.split(np.zeros((n, 1)))
    else:
        if random_state is not None:
            raise ValueError("random_state applies to an int cv (KFold with shuffling); "
                             "give the splitter its own random_state instead")
        if isinstance(cv, (str, bytes, bool)) or not (hasattr(cv, "split")
                                                      or hasattr(cv, "__iter__")):
            raise ValueError(f"cv={cv!r}; allowed: an int >= 2, a scikit-learn splitter "
                             "(with a split method) or an iterable of (train, test) indices")
        pairs = cv.split(np.zeros((n, 1)), y, groups) if hasattr(cv, "split") else cv
    out = []
    for i, pair in enumerate(pairs):
        try:
            train, test = pair
        except (TypeError, ValueError):
            raise ValueError(f"cv fold {i} is not a (train, test) pair") from None
        train, test = _as_indices(train, n, i, "train"), _as_indices(test, n, i, "test")
        out.append((train, test))
    if not out:
        raise ValueError("cv gave no folds")
    return out


def _as_indices(idx, n, i, name):
    idx = np.asarray(idx)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValueError(f"cv fold {i}: boolean {name} mask must have shape ({n},)")
        idx = np.flatnonzero(idx)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(f"cv fold {i}: {name} indices must be a non-empty 1-D array of "
                         f"integers; got {idx!r}")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"cv fold {i}: {name} indices must lie in 0..{n - 1}")
    return idx.astype(np.intp)


def _losses(preds, y_test, scoring):
    """Validation loss of every path point: preds (J, n_test[, m]) → (J,)."""
    if scoring == "mse":
        err = (preds - y_test[None]) ** 2
        if err.ndim == 3:
            err = err.sum(axis=2)
        return err.mean(axis=1)
    return np.array([float(scoring(y_test, p)) for p in preds])


def _check_scoring(scoring):
    if scoring == "mse" or callable(scoring):
        return scoring
    raise ValueError(f"scoring={scoring!r}; allowed: 'mse' or a callable "
                     "loss(y_true, y_pred) -> float (lower is better)")


def cv_self_distill(K, y, *, epsilons=None, alphas=None, max_rounds=10, cv=5, mix=0.0,
                    on_infeasible="warn", scoring="mse", random_state=None, groups=None,
                    on_indefinite="raise"):
    """Exact k-fold cross-validation of self-distillation over budgets (or ridges) × rounds.

    For each fold: one factorization of the training block ``K[train][:, train]``; for every
    grid value one :func:`hilbert_sd.self_distill` run on that spectrum (rounds
    0..``max_rounds``); the held-out predictions of all rounds in one product
    (``path.predict(K[test][:, train], rounds)``). A grid of budgets × rounds costs k
    factorizations instead of k × (grid size) × rounds refits, and every score is that of the
    literal refits on the fold (exact, also for the budget rule).

    Parameters
    ----------
    K : array-like of shape (n, n)
        Kernel matrix on all samples (symmetric PSD); not a Spectrum (each fold factors its
        own block).
    y : array-like of shape (n,) or (n, m)
    epsilons : array-like of shape (n_grid,), optional
        Budgets ε > 0 (mean squared training error on the training fold). Default, when
        ``alphas`` is None too: :func:`default_epsilons` of y.
    alphas : array-like of shape (n_grid,), optional
        Fixed ridges α > 0 instead (scikit-learn's convention: the ridge of the training
        fold's kernel matrix). At most one of ``epsilons`` and ``alphas``.
    max_rounds : int, default=10
        Rounds 0..max_rounds are scored. A round at or after a collapse predicts 0, a valid
        candidate with its own score.
    cv : int, scikit-learn splitter or iterable of (train, test), default=5
        An int is ``KFold(n_splits=cv)`` without shuffling (scikit-learn's default for
        regressors, so results are reproducible and comparable with ``GridSearchCV``), or with
        shuffling seeded by ``random_state`` when that is given.
    mix : float, default=0.0
        Ground-truth weight β of :func:`hilbert_sd.self_distill`.
    on_infeasible : {"warn", "raise"}, default="warn"
        A budget below the floor a fold's kernel can reach: fit those rounds with the smallest
        admissible ridge (recorded in ``infeasible``) and warn once for the whole grid
        (:class:`~hilbert_sd.InfeasibleBudgetWarning`), or raise
        :class:`~hilbert_sd.InfeasibleBudgetError`.
    scoring : "mse" or callable, default="mse"
        ``"mse"``: mean over the held-out points of the squared error (summed over output
        columns). A callable ``loss(y_true, y_pred) -> float`` (lower is better, e.g.
        ``sklearn.metrics.mean_absolute_error``) is called once per (fold, grid, round).
    random_state : int, optional
        Shuffle the folds of an int ``cv`` with this seed; None (default) does not shuffle.
    groups : array-like of shape (n,), optional
        Passed to a splitter's ``split`` (``GroupKFold`` and the like).
    on_indefinite : {"raise", "warn"}, default="raise"
        Clearly negative eigenvalues of a fold's block raise, or warn and are clipped.

    Returns
    -------
    PathCVResult
        ``scores`` of shape (n_folds, n_grid, max_rounds + 1); ``grid`` the budgets or
        ridges; ``points`` the rounds; :meth:`PathCVResult.cv_results` for scikit-learn-style
        arrays.

    Raises
    ------
    ValueError
        For invalid arguments, both ``epsilons`` and ``alphas``, or (``on_infeasible="raise"``)
        an infeasible budget.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.kernels import gram
    >>> from hilbert_sd.model_selection import cv_self_distill
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 1, (40, 1))
    >>> y = np.sin(2 * np.pi * x[:, 0]) + 0.2 * rng.standard_normal(40)
    >>> res = cv_self_distill(gram(x, gamma=20.0), y, epsilons=[0.04, 0.1], max_rounds=3)
    >>> res.scores.shape
    (5, 2, 4)
    >>> sorted(res.best_params)
    ['epsilon', 'round']
    """
    K = _check_kernel(K)
    n = K.shape[0]
    y = check_targets(y, n)
    if epsilons is not None and alphas is not None:
        raise ValueError("give at most one of epsilons (budget rule) and alphas (fixed ridge)")
    if alphas is not None:
        param_name, grid = "alpha", alphas
    else:
        param_name = "epsilon"
        grid = default_epsilons(y) if epsilons is None else epsilons
    grid = np.atleast_1d(np.asarray(grid, dtype=np.float64))
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"{param_name}s must be a non-empty 1-D array of finite values > 0; "
                         f"got {grid!r}")
    max_rounds = check_scalar(max_rounds, "max_rounds", low=0, integer=True)
    mix = check_scalar(mix, "mix", low=0.0, high=1.0)
    if on_infeasible not in ("raise", "warn"):
        raise ValueError(f"on_infeasible={on_infeasible!r}; allowed: 'raise', 'warn'")
    scoring = _check_scoring(scoring)
    splits = _splits(cv, n, y, groups, random_state)
    rounds = np.arange(max_rounds + 1)
    scores = np.empty((len(splits), grid.size, rounds.size))
    collapse = np.full((len(splits), grid.size), -1, dtype=np.int64)
    infeasible = np.zeros(scores.shape, dtype=bool)
    for f, (train, test) in enumerate(splits):
        spectrum = decompose(K[np.ix_(train, train)], on_indefinite=on_indefinite,
                             check_input=False)
        K_test = K[np.ix_(test, train)]
        y_train, y_test = y[train], y[test]
        for g, value in enumerate(grid):
            rule = {param_name: float(value)}
            with warnings.catch_warnings():
                # one summary warning for the whole grid below, not one per fold and budget
                warnings.simplefilter("ignore", InfeasibleBudgetWarning)
                path = self_distill(spectrum, y_train, n_rounds=max_rounds, mix=mix,
                                    on_infeasible=on_infeasible, check_input=False, **rule)
            preds = path.predict(K_test, rounds)  # (R, n_test[, m]) in one product
            scores[f, g] = _losses(preds, y_test, scoring)
            if path.collapse_round is not None:
                collapse[f, g] = path.collapse_round
            infeasible[f, g, list(path.infeasible_rounds)] = True
    if infeasible.any():
        bad = infeasible.any(axis=(0, 2))
        folds = int(np.count_nonzero(infeasible.any(axis=(1, 2))))
        warnings.warn(
            f"{param_name} = {', '.join(f'{v:.6g}' for v in grid[bad][:6])}"
            f"{' ...' if bad.sum() > 6 else ''} lay below the floor the training kernel can "
            f"reach (target energy in its numerical null space) on {folds} of {len(splits)} "
            "folds; those rounds were fitted with the smallest admissible ridge (which rounds: "
            "result.infeasible)",
            InfeasibleBudgetWarning,
            stacklevel=2,
        )
    return PathCVResult(scores, grid=grid, param_name=param_name, points=rounds,
                        point_name="round", splits=splits, scoring=scoring,
                        collapse_rounds=collapse, infeasible=infeasible)


def cv_flow(K, y, times, *, learning_rate=1.0, method="flow", cv=5, scoring="mse",
            random_state=None, groups=None, on_unstable="raise", on_indefinite="raise"):
    """Exact k-fold cross-validation of gradient flow (or descent) over its times.

    One factorization of each training block, every time on it
    (:func:`hilbert_sd.flow.flow_path`), the held-out predictions of all times in one product.

    Parameters
    ----------
    K : array-like of shape (n, n)
        Kernel matrix on all samples (symmetric PSD); not a Spectrum.
    y : array-like of shape (n,) or (n, m)
    times : float or array-like of shape (n_times,)
        Times t ≥ 0 (``inf``: the minimum-norm interpolant), or numbers of steps with
        ``method="gd"``. The loss is normalized by the training fold's size,
        (1/2n_train)‖f(X) − y‖², as a fit on that fold would be.
    learning_rate : float, default=1.0
    method : {"flow", "gd"}, default="flow"
    cv : int, scikit-learn splitter or iterable of (train, test), default=5
        As in :func:`cv_self_distill`.
    scoring : "mse" or callable, default="mse"
        As in :func:`cv_self_distill`.
    random_state : int, optional
        Shuffle the folds of an int ``cv``.
    groups : array-like of shape (n,), optional
    on_unstable : {"raise", "warn"}, default="raise"
        Unstable gradient-descent steps on a fold.
    on_indefinite : {"raise", "warn"}, default="raise"

    Returns
    -------
    PathCVResult
        ``scores`` of shape (n_folds, n_times), ``points`` the times, no grid.
    """
    K = _check_kernel(K)
    n = K.shape[0]
    y = check_targets(y, n)
    scoring = _check_scoring(scoring)
    splits = _splits(cv, n, y, groups, random_state)
    scores = None
    for f, (train, test) in enumerate(splits):
        spectrum = decompose(K[np.ix_(train, train)], on_indefinite=on_indefinite,
                             check_input=False)
        path = flow_path(spectrum, y[train], np.atleast_1d(times), learning_rate=learning_rate,
                         method=method, on_unstable=on_unstable)
        preds = path.predict(K[np.ix_(test, train)], np.arange(len(path)))
        if scores is None:
            points = np.asarray(path.times)
            scores = np.empty((len(splits), points.size))
        scores[f] = _losses(preds, y[test], scoring)
    return PathCVResult(scores, grid=None, param_name=None, points=points, point_name="time",
                        splits=splits, scoring=scoring)
