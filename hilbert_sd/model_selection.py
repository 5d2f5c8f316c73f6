"""Model selection along a path: exact k-fold cross-validation, one factorization per fold.

A self-distillation run (every round, for one budget ε or ridge α) and a gradient flow (every
time) are paths of filters on one spectrum (:doc:`/topics/model_selection`). Cross-validating a grid
of budgets × rounds therefore needs one eigendecomposition per *fold*, not one refit per (budget,
round, fold): on each training fold, :func:`~hilbert_sd.spectral.decompose` runs once, every budget
of the grid is a path on that one spectrum, and each path predicts the held-out points for all
its rounds in one product. The validation errors are those of literal refits (the exact
k-fold estimate, also for the budget rule, whose ridges depend on the training targets).

- :func:`cv_self_distill`: scores of shape (n_folds, n_grid, max_rounds + 1);
- :func:`cv_flow`: scores of shape (n_folds, n_times);
- :func:`select_best`: the best (grid point, path point) by mean score, with
  ``cv_results``-like arrays shaped as scikit-learn's search estimators';
- :func:`cv_filters`: any filter family ``family(eigenvalues, grid) -> (h, g)`` (ridge,
  fixed-ridge self-distillation, boosting, gradient flow, spectral cut-off by name, or a
  callable), scores of shape (n_folds, J); :func:`cv_paths` for any path built on a fold's
  spectrum (the budget rule among them); :func:`factor_folds` factors the folds once for
  every family of a comparison.

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

__all__ = [
    "FILTER_FAMILIES",
    "FilterCVResult",
    "FoldFactorizations",
    "PathCVResult",
    "cv_filters",
    "cv_flow",
    "cv_paths",
    "cv_self_distill",
    "default_epsilons",
    "factor_folds",
    "select_best",
]


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

    ε is a mean squared training error in the units of y² (:doc:`/topics/model_selection`, "Scale"),
    so the grid follows the targets' variance (summed over columns); constant targets use their mean
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


# ======================================================= any filter family, shared folds
class FoldFactorizations:
    """The folds of a kernel matrix, with one factorization of each training block.

    Build it with :func:`factor_folds`, then pass it as ``cv`` to :func:`cv_filters` and
    :func:`cv_paths` (as many families as needed): every family is scored on the same
    factorizations, so comparing k families costs k folds' eigendecompositions, not k × folds.
    It also iterates as ``(train, test)`` pairs, so any function taking a ``cv`` iterable
    accepts it (those factor again).

    Attributes
    ----------
    K : ndarray of shape (n, n)
        The kernel matrix the folds were cut from.
    splits : list of (ndarray, ndarray)
        ``(train, test)`` indices of every fold.
    spectra : list of Spectrum
        The factorization of ``K[train][:, train]`` of every fold.
    """

    def __init__(self, K, splits, spectra):
        self.K = K
        self.splits = list(splits)
        self.spectra = list(spectra)
        self._features = {}

    def __len__(self):
        return len(self.splits)

    def __iter__(self):
        return iter(self.splits)

    @property
    def n_folds(self):
        """Number of folds."""
        return len(self.splits)

    @property
    def n_samples(self):
        """Rows of the kernel matrix."""
        return self.K.shape[0]

    def test_features(self, i):
        """``k(X_test, X_train) U`` of fold ``i``: its held-out rows in its training eigenbasis.

        Computed once per fold and kept (every family of a comparison predicts from it;
        ``path.predict(features, index, projected=True)``).

        Returns
        -------
        ndarray of shape (n_test, n_train)
        """
        P = self._features.get(i)
        if P is None:
            train, test = self.splits[i]
            P = self.spectra[i].project_rows(self.K[np.ix_(test, train)])
            self._features[i] = P
        return P

    def __repr__(self):
        sizes = sorted({int(tr.size) for tr, _ in self.splits})
        return (f"FoldFactorizations(n={self.n_samples}, folds={self.n_folds}, "
                f"train sizes={sizes})")


def factor_folds(K, *, cv=5, y=None, groups=None, random_state=None, on_indefinite="raise"):
    """Cut a kernel matrix into folds and factor each training block once.

    Parameters
    ----------
    K : array-like of shape (n, n)
        Kernel matrix on all samples (symmetric PSD).
    cv : int, scikit-learn splitter or iterable of (train, test), default=5
        As in :func:`cv_self_distill` (an int is ``KFold(cv)``, shuffled only with
        ``random_state``).
    y : array-like of shape (n,) or (n, m), optional
        Passed to a splitter's ``split`` (stratified splitters need it).
    groups : array-like of shape (n,), optional
    random_state : int, optional
    on_indefinite : {"raise", "warn"}, default="raise"

    Returns
    -------
    FoldFactorizations
        Pass it as ``cv`` to :func:`cv_filters` / :func:`cv_paths`.
    """
    K = _check_kernel(K)
    splits = _splits(cv, K.shape[0], y, groups, random_state)
    spectra = [decompose(K[np.ix_(train, train)], on_indefinite=on_indefinite,
                         check_input=False) for train, _ in splits]
    return FoldFactorizations(K, splits, spectra)


class FilterCVResult(PathCVResult):
    """Validation errors of J candidate filters (any family) on every fold.

    A :class:`PathCVResult` without a grid whose path points are the candidates; each
    candidate is named by a dict of parameters (:attr:`params`).

    Attributes
    ----------
    scores : ndarray of shape (n_folds, J)
        Validation loss of every (fold, candidate); NaN for a candidate that does not exist as
        asked on a fold (a round under an infeasible budget and the rounds built on it), which
        ranks last.
    params : list of dict
        The parameters of every candidate, in order.
    splits : list of (ndarray, ndarray)
    scoring : str or callable
    """

    def __init__(self, scores, *, params, splits, scoring):
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim != 2 or len(params) != scores.shape[1]:
            raise ValueError(f"scores of shape {scores.shape} need {scores.shape[-1]} params "
                             f"(one dict per candidate); got {len(params)}")
        self.params = [dict(p) for p in params]
        super().__init__(scores, grid=None, param_name=None, points=np.arange(scores.shape[1]),
                         point_name="candidate", splits=splits, scoring=scoring)

    @property
    def best_candidate(self):
        """Index of the best candidate (lowest mean loss; the first among ties)."""
        return int(self.best_index[0])

    @property
    def best_params(self):
        """The parameters of :attr:`best_candidate`."""
        return dict(self.params[self.best_candidate])

    def cv_results(self):
        """A dict of arrays shaped like scikit-learn's ``cv_results_``.

        Keys: ``params``, ``param_<name>`` for every parameter name (an object array; None
        where a candidate lacks the name), ``split<i>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, ``best_index``. Scores are negated losses
        (``neg_mean_squared_error`` for ``"mse"``), as scikit-learn's.

        Returns
        -------
        dict
        """
        out = super().cv_results()
        del out["param_candidate"]
        out["params"] = [dict(p) for p in self.params]
        names = []
        for p in self.params:
            names.extend(k for k in p if k not in names)
        for name in names:
            col = np.empty(len(self.params), dtype=object)
            col[:] = [p.get(name) for p in self.params]
            out[f"param_{name}"] = col
        return out

    def __repr__(self):
        return (f"FilterCVResult(folds={self.n_folds}, candidates={len(self.params)}, "
                f"best={self.best_params}, best_score={self.best_score:.6g})")


def _check_filter_scoring(scoring):
    if scoring == "error":
        return scoring
    return _check_scoring(scoring)


def _filter_losses(preds, y_test, scoring):
    """Validation loss of every candidate: preds (J, n_test[, m]) → (J,).

    ``"error"``: the misclassification rate, by the argmax over columns of (one-hot or ±1)
    codes, or by the sign of 1-D targets.
    """
    if scoring != "error":
        return _losses(preds, y_test, scoring)
    if y_test.ndim == 2 and y_test.shape[1] > 1:
        return np.mean(np.argmax(preds, axis=2) != np.argmax(y_test, axis=1)[None], axis=1)
    p = preds.reshape(preds.shape[0], preds.shape[1])
    return np.mean(np.sign(p) != np.sign(y_test.reshape(-1))[None], axis=1)


def _as_folds(K, cv, y, groups, random_state, on_indefinite):
    """FoldFactorizations from ``cv``: reused as given (checking K), or factored here."""
    if isinstance(cv, FoldFactorizations):
        if random_state is not None or groups is not None:
            raise ValueError("random_state and groups apply when the folds are cut here; cv is "
                             "a FoldFactorizations whose folds are fixed: give neither")
        if K is not None and K is not cv.K:
            K = _check_kernel(K)
            if K.shape != cv.K.shape or not np.array_equal(K, cv.K):
                raise ValueError("cv is a FoldFactorizations of another kernel matrix; pass "
                                 "the K it was built from (or K=None)")
        return cv
    if K is None:
        raise ValueError("K is None; allowed: a kernel matrix (n, n), or None together with "
                         "cv=factor_folds(K, ...)")
    return factor_folds(K, cv=cv, y=y, groups=groups, random_state=random_state,
                        on_indefinite=on_indefinite)


def cv_paths(K, y, build, *, cv=5, params=None, scoring="mse", random_state=None, groups=None,
             on_indefinite="raise"):
    """Exact k-fold cross-validation of any paths built on each fold's factorization.

    On each fold, ``build(spectrum, y_train, train)`` returns one
    :class:`~hilbert_sd.spectral.SpectralPath` on the fold's spectrum (or a list of them);
    every point of every path is a candidate, in order, and all of a path's points are
    predicted at the held-out points in one ``path.predict(features, points, projected=True)``
    (the held-out rows are projected on the fold's eigenbasis once, shared by every path).
    :func:`cv_filters` is this with ``build`` a :func:`hilbert_sd.filter_path` of a filter
    family; budget-rule self-distillation is ``build = lambda s, y, _: self_distill(s, y,
    epsilon=..., n_rounds=..., on_infeasible="warn")``.

    Parameters
    ----------
    K : array-like of shape (n, n), or None
        Kernel matrix on all samples; None when ``cv`` is a :class:`FoldFactorizations`.
    y : array-like of shape (n,) or (n, m)
    build : callable
        ``build(spectrum, y_train, train) -> SpectralPath or list of SpectralPath``; ``train``
        holds the fold's training indices into K (for side information on the samples, such
        as the true function of an oracle). The number of candidates must not depend on the
        fold.
    cv : int, splitter, iterable of (train, test), or FoldFactorizations, default=5
        As in :func:`cv_self_distill`; a :class:`FoldFactorizations` (:func:`factor_folds`)
        reuses its factorizations.
    params : list of dict, optional
        One dict per candidate naming it (default ``{"index": j}``).
    scoring : "mse", "error" or callable, default="mse"
        ``"mse"`` and callables as in :func:`cv_self_distill`; ``"error"``: the
        misclassification rate of the argmax over the columns of one-hot or ±1 codes (the sign
        for 1-D targets).
    random_state, groups : optional
        For an int ``cv`` / a splitter, as in :func:`cv_self_distill`.
    on_indefinite : {"raise", "warn"}, default="raise"

    Returns
    -------
    FilterCVResult
        ``scores`` (n_folds, J). The rounds of a
        :class:`~hilbert_sd.DistillationPath` from the first one fitted under an infeasible
        budget on (``infeasible_rounds``) score NaN and rank last (they do not exist as asked,
        as in :class:`~hilbert_sd.SelfDistilledKernelRidgeCV`).
    """
    scoring = _check_filter_scoring(scoring)
    if not callable(build):
        raise ValueError(f"build={build!r}; allowed: a callable (spectrum, y_train, train) -> "
                         "SpectralPath or list of SpectralPath")
    folds = _as_folds(K, cv, y, groups, random_state, on_indefinite)
    y = check_targets(y, folds.n_samples)
    scores = None
    for f, ((train, test), spectrum) in enumerate(zip(folds.splits, folds.spectra)):
        paths = build(spectrum, y[train], train)
        paths = list(paths) if isinstance(paths, (list, tuple)) else [paths]
        P = folds.test_features(f)
        losses = []
        for path in paths:
            points = np.arange(len(path))
            loss = _filter_losses(path.predict(P, points, projected=True), y[test], scoring)
            bad = getattr(path, "infeasible_rounds", ())
            if bad:  # that round and every round built on it
                loss[min(bad):] = np.nan
            losses.append(loss)
        losses = np.concatenate(losses)
        if scores is None:
            scores = np.empty((folds.n_folds, losses.size))
        elif losses.size != scores.shape[1]:
            raise ValueError(f"build gave {losses.size} candidates on fold {f} and "
                             f"{scores.shape[1]} on fold 0; the count must not depend on the "
                             "fold")
        scores[f] = losses
    J = scores.shape[1]
    if params is None:
        params = [{"index": j} for j in range(J)]
    elif len(params) != J:
        raise ValueError(f"params has {len(params)} entries; allowed: one dict per candidate, "
                         f"{J}")
    return FilterCVResult(scores, params=params, splits=folds.splits, scoring=scoring)


# named families: (filters(eigenvalues, grid) -> (h, g), candidates(grid) -> list of dict)
def _grid_values(values, name, *, integer=False, positive=True):
    a = np.atleast_1d(np.asarray(values, dtype=np.float64))
    ok = a.ndim == 1 and a.size > 0 and np.all(np.isfinite(a))
    ok = ok and (np.all(a > 0) if positive else np.all(a >= 0))
    if ok and integer:
        ok = np.all(a == np.floor(a))
    if not ok:
        kind = "integers >= 0" if integer else ("finite values > 0" if positive
                                                 else "finite values >= 0")
        raise ValueError(f"{name}={values!r}; allowed: a non-empty 1-D array of {kind}")
    return a.astype(np.int64) if integer else a


def _grid_pair(grid, family, second):
    try:
        alphas, last = grid
    except (TypeError, ValueError):
        raise ValueError(f"grid={grid!r} for family={family!r}; allowed: a pair (alphas, "
                         f"{second})") from None
    alphas = _grid_values(alphas, "alphas")
    last = check_scalar(last, second, low=0, integer=True)
    return alphas, last


def _ridge_filters(lam, grid):
    from hilbert_sd import filters

    return filters.ridge(lam, _grid_values(grid, "alphas"), return_prediction=True)


def _ridge_params(grid):
    return [{"alpha": float(a)} for a in _grid_values(grid, "alphas")]


def _stacked(lam, grid, family, second, fn):
    alphas, last = _grid_pair(grid, family, second)
    pairs = [fn(lam, float(a), last, return_prediction=True) for a in alphas]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def _sd_filters(lam, grid):
    from hilbert_sd import filters

    return _stacked(lam, grid, "self_distillation", "max_rounds", filters.self_distillation)


def _sd_params(grid):
    alphas, last = _grid_pair(grid, "self_distillation", "max_rounds")
    return [{"alpha": float(a), "round": t} for a in alphas for t in range(last + 1)]


def _boosting_filters(lam, grid):
    from hilbert_sd import filters

    return _stacked(lam, grid, "boosting", "max_steps", filters.boosting)


def _boosting_params(grid):
    alphas, last = _grid_pair(grid, "boosting", "max_steps")
    return [{"alpha": float(a), "step": m} for a in alphas for m in range(last + 1)]


def _flow_filters(lam, grid):
    from hilbert_sd import filters

    return filters.gradient_flow(lam, _grid_values(grid, "times", positive=False),
                                 return_prediction=True)


def _flow_params(grid):
    return [{"time": float(t)} for t in _grid_values(grid, "times", positive=False)]


def _cutoff_filters(lam, grid):
    from hilbert_sd import filters

    return filters.spectral_cutoff(lam, ranks=_grid_values(grid, "ranks", integer=True),
                                   return_prediction=True)


def _cutoff_params(grid):
    return [{"rank": int(r)} for r in _grid_values(grid, "ranks", integer=True)]


# The named filter families of cv_filters: name -> (filters, candidate names).
FILTER_FAMILIES = {
    "ridge": (_ridge_filters, _ridge_params),
    "self_distillation": (_sd_filters, _sd_params),
    "boosting": (_boosting_filters, _boosting_params),
    "gradient_flow": (_flow_filters, _flow_params),
    "spectral_cutoff": (_cutoff_filters, _cutoff_params),
}


def cv_filters(K, y, family, grid=None, *, cv=5, params=None, scoring="mse",
               random_state=None, groups=None, on_indefinite="raise"):
    """Exact k-fold cross-validation of any filter family, one factorization per fold.

    On each fold: one :func:`~hilbert_sd.spectral.decompose` of the training block (or the
    factorizations of a :class:`FoldFactorizations` given as ``cv``), the filters
    ``(h, g) = family(eigenvalues, grid)`` of shape (J, n_train) on the fold's eigenvalues,
    and the held-out predictions of all J candidates from one
    ``filter_path(spectrum, y_train, (h, g)).predict(...)``. The scores are those of literal
    refits of every candidate on every fold.

    Parameters
    ----------
    K : array-like of shape (n, n), or None
        Kernel matrix on all samples; None when ``cv`` is a :class:`FoldFactorizations`.
    y : array-like of shape (n,) or (n, m)
    family : str or callable
        A callable ``family(eigenvalues, grid) -> (h, g)`` (arrays (J, n_train), eigenvalues
        descending; ``h`` alone uses :func:`~hilbert_sd.filter_path`'s fallback ``g = h/λ``),
        or one of the names in ``FILTER_FAMILIES``, whose ``grid`` and candidates are

        - ``"ridge"``: ``grid`` = ridges α; candidates ``{"alpha"}``;
        - ``"self_distillation"`` (fixed ridge): ``(alphas, max_rounds)``; candidates
          ``{"alpha", "round"}``, rounds 0..max_rounds of every α in turn;
        - ``"boosting"`` (iterated Tikhonov): ``(alphas, max_steps)``; ``{"alpha", "step"}``;
        - ``"gradient_flow"``: times t ≥ 0 (learning rate 1, loss normalized by the fold's
          size); ``{"time"}``;
        - ``"spectral_cutoff"`` (kernel PCR): numbers of kept eigen-directions, each at most
          the number of positive eigenvalues of every fold; ``{"rank"}``.

        Ridges are in scikit-learn's convention on the *fold's* kernel matrix, as in
        ``GridSearchCV``.
    grid : object
        Passed to ``family``.
    cv : int, splitter, iterable of (train, test), or FoldFactorizations, default=5
    params : list of dict, optional
        Names of the candidates of a callable family (default ``{"index": j}``).
    scoring : "mse", "error" or callable, default="mse"
        As in :func:`cv_paths`.
    random_state, groups, on_indefinite
        As in :func:`cv_self_distill`.

    Returns
    -------
    FilterCVResult
        ``scores`` (n_folds, J), ``params``, ``best_params``, ``cv_results()``.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.kernels import gram
    >>> from hilbert_sd.model_selection import cv_filters, factor_folds
    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 1, (40, 1))
    >>> y = np.sin(2 * np.pi * x[:, 0]) + 0.2 * rng.standard_normal(40)
    >>> folds = factor_folds(gram(x, gamma=20.0), cv=5)  # 5 factorizations for every family
    >>> boost = cv_filters(None, y, "boosting", ([0.1, 1.0, 10.0], 4), cv=folds)
    >>> boost.scores.shape, sorted(boost.best_params)
    ((5, 15), ['alpha', 'step'])
    >>> pcr = cv_filters(None, y, "spectral_cutoff", [2, 5, 10], cv=folds)
    >>> pcr.params[0]
    {'rank': 2}
    """
    from hilbert_sd._filter_path import filter_path

    if isinstance(family, str):
        if family not in FILTER_FAMILIES:
            raise ValueError(f"family={family!r}; allowed: a callable (eigenvalues, grid) -> "
                             f"(h, g), or one of {', '.join(map(repr, FILTER_FAMILIES))}")
        if params is not None:
            raise ValueError(f"params names the candidates of a callable family; "
                             f"family={family!r} names its own: give params=None")
        make, names = FILTER_FAMILIES[family]
        params = names(grid)  # validates the grid before any factorization
    elif callable(family):
        make = family
    else:
        raise ValueError(f"family={family!r}; allowed: a callable (eigenvalues, grid) -> "
                         f"(h, g), or one of {', '.join(map(repr, FILTER_FAMILIES))}")

    def build(spectrum, y_train, _train):
        out = make(spectrum.eigenvalues, grid)
        return filter_path(spectrum, y_train, tuple(out) if isinstance(out, (tuple, list))
                           else out, check_input=False)

    return cv_paths(K, y, build, cv=cv, params=params, scoring=scoring,
                    random_state=random_state, groups=groups, on_indefinite=on_indefinite)
