"""Figures of self-distillation paths, model selection along them, and the regularizer family.

Every function takes a result object (and an optional ``ax``), draws on it and returns the
matplotlib Axes (or a Figure for multi-panel plots). None calls ``plt.show()``; pyplot is
imported only inside the functions that create a new figure.
"""

import numpy as np

__all__ = [
    "plot_basis_weights",
    "plot_ridges",
    "plot_fits",
    "plot_errors",
    "plot_basis_count",
    "plot_filters",
    "plot_comparison_errors",
    "plot_comparison",
    "plot_selection",
    "plot_family_filters",
]


def _axes(ax, figsize=(6.0, 4.0)):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _rounds(path, rounds):
    if rounds is None:
        last = path.collapse_round if path.collapse_round is not None else path.n_rounds + 1
        rounds = np.arange(max(last, 1))
    return np.atleast_1d(rounds).astype(int)


def _colors(k):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.9, max(k, 1))]


def plot_basis_weights(path, *, rounds=None, relative=True, ax=None):
    """Sparsity curves: diag(B_t) over the eigen-directions, one curve per round.

    Parameters
    ----------
    path : DistillationPath
    rounds : array-like of int, optional
        Rounds to draw (default: every round before the collapse).
    relative : bool, default=True
        Divide each round's weights by their maximum (B_t[k] / max_k B_t[k]), so that the
        concentration on the leading eigen-directions is visible round after round.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    rounds = _rounds(path, rounds)
    logw = np.asarray(path.log_basis_weights)
    k = np.arange(1, logw.shape[1] + 1)
    for color, t in zip(_colors(len(rounds)), rounds):
        lw = logw[t]
        if relative:
            lw = lw - np.max(lw)
        with np.errstate(under="ignore"):
            ax.semilogy(k, np.exp(lw), "o-", color=color, ms=3, label=f"round {t}")
    _integer_ticks(ax)
    ax.set_xlabel("eigen-direction k (eigenvalues descending)")
    ax.set_ylabel("B_t[k] / max_k B_t[k]" if relative else "B_t[k]")
    ax.set_title("Basis weights diag(B_t) per round")
    ax.legend(fontsize="small", ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    return ax


def plot_ridges(path, *, ax=None):
    """Ridge α_t per round (log scale): it grows every round until the collapse.

    Parameters
    ----------
    path : DistillationPath
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    alphas = np.asarray(path.alphas)
    ax.semilogy(np.arange(len(alphas)), alphas, "o-", label=f"ε = {path.epsilon:g}"
                if path.epsilon is not None else f"α = {path.alpha:g}")
    if path.collapse_round is not None:
        ax.axvline(path.collapse_round, color="0.5", ls="--", label="collapse")
    _integer_ticks(ax)
    ax.set_xlabel("round t")
    ax.set_ylabel("ridge α_t")
    ax.set_title("Ridge per round")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def plot_fits(path, K_grid, x_grid, x_train, y_train, *, truth=None, rounds=None, ax=None):
    """The fitted functions of several rounds over one-dimensional data.

    Parameters
    ----------
    path : DistillationPath
    K_grid : ndarray of shape (n_grid, n)
        k(x_grid, x_train).
    x_grid : ndarray of shape (n_grid,)
    x_train, y_train : ndarray of shape (n,)
    truth : ndarray of shape (n_grid,), optional
        The noiseless function on the grid.
    rounds : array-like of int, optional
        Default: every round up to and including the collapse.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    if rounds is None:
        rounds = np.arange(path.n_rounds + 1)
    rounds = np.atleast_1d(rounds).astype(int)
    preds = path.predict(K_grid, rounds)
    if truth is not None:
        ax.plot(x_grid, truth, color="k", lw=1, ls=":", label="truth")
    for color, t, p in zip(_colors(len(rounds)), rounds, preds):
        collapsed = path.collapse_round is not None and t >= path.collapse_round
        ax.plot(x_grid, p, color=color, ls="--" if collapsed else "-",
                label=f"round {t}" + (" (collapsed)" if collapsed else ""))
    ax.plot(np.ravel(x_train), y_train, "ko", ms=4, label="training data")
    ax.set_xlabel("x")
    ax.set_ylabel("f_t(x)")
    ax.set_title("Fits per round" + (f" (ε = {path.epsilon:g})" if path.epsilon else ""))
    ax.legend(fontsize="small", ncol=2)
    return ax


def plot_errors(rounds, errors, *, labels=None, ax=None, log=True):
    """Error curves over rounds (train, test, several methods side by side).

    Parameters
    ----------
    rounds : array-like of int, shape (R,)
    errors : dict of str to array-like of shape (R,), or array-like of shape (C, R)
        One curve per entry: a dict is keyed by the curves' labels; a list of curves (or a
        2-D array, one row per curve) takes its labels from ``labels``.
    labels : sequence of str, optional
        Labels of the curves when ``errors`` is not a dict (default: none shown). Must be
        None with a dict, whose keys are the labels.
    ax : matplotlib Axes, optional
    log : bool, default=True
        Log scale on the error axis.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        For curves whose length is not that of ``rounds``, labels given twice or of the wrong
        number.
    """
    x = np.asarray(rounds)
    if isinstance(errors, dict):
        if labels is not None:
            raise ValueError("labels must be None when errors is a dict (its keys are the "
                             "labels)")
        names, curves = list(errors), [np.asarray(v, dtype=float) for v in errors.values()]
    else:
        curves = [np.asarray(v, dtype=float) for v in np.atleast_2d(np.asarray(errors, float))]
        if labels is None:
            names = [None] * len(curves)
        else:
            names = [str(label) for label in labels]
            if len(names) != len(curves):
                raise ValueError(f"labels has {len(names)} entries for {len(curves)} curves; "
                                 "give one label per curve")
    for name, values in zip(names, curves):
        if values.shape != x.shape:
            raise ValueError(f"curve {name or ''} has shape {values.shape}; allowed: "
                             f"{x.shape}, one value per round")
    ax = _axes(ax)
    for name, values in zip(names, curves):
        ax.plot(x, values, "o-", ms=3, label=name)
    if log:
        ax.set_yscale("log")
    _integer_ticks(ax)
    ax.set_xlabel("round t")
    ax.set_ylabel("mean squared error")
    ax.set_title("Error per round")
    if any(name is not None for name in names):
        ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return ax


def plot_basis_count(path, *, threshold=0.01, ax=None):
    """Number of eigen-directions with B_t[k] ≥ threshold · max_k B_t[k], per round.

    Parameters
    ----------
    path : DistillationPath
    threshold : float, default=0.01
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from hilbert_sd.bounds import n_basis_functions

    ax = _axes(ax)
    T = path.collapse_round if path.collapse_round is not None else path.n_rounds + 1
    counts = n_basis_functions(path.log_basis_weights[:T], threshold)
    ax.step(np.arange(len(counts)), counts, where="mid")
    _integer_ticks(ax)
    _integer_ticks(ax, "y")
    ax.set_xlabel("round t")
    ax.set_ylabel(f"# directions with B_t ≥ {threshold:g}·max")
    ax.set_title("Effective basis functions per round")
    ax.grid(True, alpha=0.3)
    return ax


def plot_filters(comparison, *, rounds=None, ax=None):
    """Self-distillation and early-stopping spectral filters side by side.

    Each curve is a filter relative to its value on the top eigen-direction, F[k] / F[0], over
    the eigen-directions; the dotted black curve is λ_k / λ_0. Early stopping's filter stays
    above it (E[k]/E[j] ≤ λ_k/λ_j, derived), self-distillation's falls below it after a few
    rounds: it sparsifies the basis, early stopping does not.

    Parameters
    ----------
    comparison : hilbert_sd.compare.Comparison
    rounds : array-like of int, optional
        Default: up to four rounds spread over the non-collapsed ones.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _axes(ax)
    sd, flow, lam_ratio = comparison.relative_filters()
    alive = np.nonzero(np.isfinite(comparison.alphas))[0]
    if rounds is None:
        rounds = np.unique(np.round(np.linspace(0, max(len(alive) - 1, 0), 4)).astype(int))
        rounds = alive[rounds] if len(alive) else np.array([0])
    k = np.arange(1, sd.shape[1] + 1)
    positive = lam_ratio > 0
    ax.semilogy(k[positive], lam_ratio[positive], "k:", lw=1.5, label="λ_k / λ_1")
    for color, t in zip(_colors(len(rounds)), np.atleast_1d(rounds)):
        with np.errstate(under="ignore"):
            ax.semilogy(k, sd[t], "-", color=color, label=f"self-distillation, round {t}")
            ax.semilogy(k, flow[t], "--", color=color,
                        label=f"early stopping, τ = {comparison.flow_times[t]:.3g}")
    _integer_ticks(ax)
    ax.set_xlabel("eigen-direction k (eigenvalues descending)")
    ax.set_ylabel("filter[k] / filter[1]")
    ax.set_title("Spectral filters at matched training error")
    ax.legend(fontsize="x-small", ncol=1)
    ax.grid(True, which="both", alpha=0.3)
    return ax


def plot_comparison_errors(comparison, *, ax=None):
    """Training and test error per round: self-distillation vs early stopping at matched times.

    The training error to the labels is equal for both by construction; the test error (when
    the comparison was given test data) tells them apart.

    Parameters
    ----------
    comparison : hilbert_sd.compare.Comparison
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    wide = comparison.side_by_side()
    curves = {"train, both (to y_0)": wide["train_mse"]}
    if np.any(np.isfinite(wide["sd_test_mse"])):
        curves["test, self-distillation"] = wide["sd_test_mse"]
        curves["test, early stopping"] = wide["es_test_mse"]
    ax = plot_errors(wide["round"], curves, ax=ax)
    ax.set_title("Self-distillation vs early stopping")
    return ax


def plot_comparison(path, comparison, K_grid, x_grid, x_train, y_train, *, truth=None,
                    rounds=None):
    """Multi-panel figure: fits, basis weights, ridges, filters, errors.

    Parameters
    ----------
    path : DistillationPath
    comparison : hilbert_sd.compare.Comparison
        Built on ``path``.
    K_grid, x_grid, x_train, y_train, truth : see :func:`plot_fits`
    rounds : array-like of int, optional
        Rounds for the fits and basis-weight panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9), layout="constrained")
    plot_fits(path, K_grid, x_grid, x_train, y_train, truth=truth, rounds=rounds,
              ax=axes[0, 0])
    T = path.n_rounds
    weights_rounds = None if rounds is None else np.asarray(rounds)[np.asarray(rounds) < T]
    plot_basis_weights(path, rounds=weights_rounds, ax=axes[0, 1])
    plot_ridges(path, ax=axes[0, 2])
    plot_filters(comparison, ax=axes[1, 0])
    plot_comparison_errors(comparison, ax=axes[1, 1])
    plot_basis_count(path, ax=axes[1, 2])
    if path.epsilon is not None:
        fig.suptitle(f"Self-distillation, ε = {path.epsilon:g}")
    return fig


def _integer_ticks(ax, axis="x"):
    """Ticks at integers only on a linear axis (rounds, steps, indices, counts): the default
    locator puts ticks at 2.5 on an axis of three rounds, at 10.25 on a count axis."""
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def _point_axis(ax, x, integer, name):
    """Scale and ticks of the path-point axis: integer ticks for rounds and steps; a log
    axis for times spanning two decades or more (symmetric-log when time 0 is among them)."""
    finite = x[np.isfinite(x)]
    positive = finite[finite > 0]
    if not integer and positive.size >= 2 and positive.max() >= 100 * positive.min():
        if positive.size == finite.size:
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=float(positive.min()))
    elif integer:
        _integer_ticks(ax)
    ax.set_xlabel(name)


def _path_points(path):
    """x values of a path's points, whether they are integers, and the axis label."""
    times = getattr(path, "times", None)
    if times is not None:
        x = np.asarray(times, dtype=np.float64)
        if getattr(path, "method", None) == "flow":
            return x, False, "time t"
        return x, True, "step t"
    name = getattr(path, "_point_name", "index")
    symbol = "t" if name == "round" else "j"
    return np.arange(len(path), dtype=np.float64), True, f"{name} {symbol}"


def _short(value):
    """A parameter value in a legend: numbers to 3 significant digits, anything else as is."""
    return f"{value:.3g}" if isinstance(value, (float, np.floating)) else str(value)


def plot_selection(result, *, criterion="gcv", label=None, log=False, ax=None):
    """Model-selection curves along a path: k-fold CV per round or time, or a path's GCV.

    Two kinds of input:

    - a :class:`~hilbert_sd.model_selection.PathCVResult`
      (:func:`~hilbert_sd.model_selection.cv_self_distill`,
      :func:`~hilbert_sd.model_selection.cv_flow`): the mean validation loss over the folds
      against the rounds (or times), one line per budget ε or ridge α, with a band of ± one
      standard deviation over the folds; the chosen candidate
      (:attr:`~hilbert_sd.model_selection.PathCVResult.best_index`) is marked with a star;
    - a :class:`~hilbert_sd.spectral.SpectralPath` (a distillation path, a flow, a
      :func:`~hilbert_sd.filter_path`): its :meth:`~hilbert_sd.spectral.SpectralPath.gcv`
      (or :meth:`~hilbert_sd.spectral.SpectralPath.loo`) along its points, one line (one per
      output column for per-column filters), the minimum marked with a star. Call again on
      the same ``ax`` to compare several paths.

    Rounds, steps and indices get integer ticks; times spanning two decades or more a log
    axis (symmetric-log when t = 0 is among them). Points at an infinite time, or where the
    criterion is infinite (GCV of an interpolating point), cannot be drawn and are left out.

    Parameters
    ----------
    result : PathCVResult or SpectralPath
    criterion : {"gcv", "loo"}, default="gcv"
        For a path: generalized cross-validation, or the leave-one-out shortcut (exact for
        ridge filters only, see :doc:`/topics/model_selection`). Ignored for a CV result.
    label : str, optional
        Legend label of a path's curve (default: the criterion's name).
    log : bool, default=False
        Log scale on the criterion axis.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    from hilbert_sd.spectral import SpectralPath

    if criterion not in ("gcv", "loo"):
        raise ValueError(f"criterion={criterion!r}; allowed: 'gcv', 'loo'")
    ax = _axes(ax)
    if isinstance(result, SpectralPath):
        x, integer, name = _path_points(result)
        values = np.asarray(result.gcv() if criterion == "gcv" else result.loo())
        columns = values.reshape(values.shape[0], -1).T  # (m, J)
        base = label or criterion.upper()
        for c, v in enumerate(columns):
            tag = base if columns.shape[0] == 1 else f"{base}, output {c}"
            drawn = np.isfinite(x) & np.isfinite(v)
            (line,) = ax.plot(x[drawn], v[drawn], "o-", ms=3, label=tag)
            if drawn.any():
                j = np.flatnonzero(drawn)[np.argmin(v[drawn])]
                ax.plot([x[j]], [v[j]], "*", ms=12, color=line.get_color(), ls="none",
                        label=f"minimum: {name.rsplit(' ', 1)[0]} {x[j]:g}")
        what = "GCV" if criterion == "gcv" else "leave-one-out (shortcut)"
        ax.set_ylabel(f"{what} criterion")
        ax.set_title(f"{what} along the path")
    elif hasattr(result, "mean_scores") and hasattr(result, "best_index"):
        x = np.asarray(result.points, dtype=np.float64)
        point = result.point_name
        integer = point != "time"
        name = f"{point} {'t' if point in ('round', 'time') else 'j'}"
        mean = np.atleast_2d(result.mean_scores)
        std = np.atleast_2d(result.std_scores)
        has_grid = result.grid is not None
        drawn = np.isfinite(x)
        for color, g in zip(_colors(mean.shape[0]), range(mean.shape[0])):
            tag = f"{result.param_name} = {result.grid[g]:.3g}" if has_grid else "k-fold CV"
            ax.plot(x[drawn], mean[g, drawn], "o-", ms=3, color=color, label=tag)
            ax.fill_between(x[drawn], (mean[g] - std[g])[drawn], (mean[g] + std[g])[drawn],
                            color=color, alpha=0.15, lw=0)
        g, p = result.best_index if has_grid else (0, result.best_index[0])
        chosen = ", ".join(f"{k} = {_short(v)}" for k, v in result.best_params.items())
        if np.isfinite(x[p]):
            ax.plot([x[p]], [mean[g, p]], "*", ms=14, color="crimson", ls="none",
                    label=f"chosen: {chosen}")
        loss = "MSE" if result.scoring == "mse" else "loss"
        ax.set_ylabel(f"validation {loss}, mean ± std over {result.n_folds} folds")
        ax.set_title(f"{result.n_folds}-fold CV along the {point}s")
    else:
        raise TypeError(f"plot_selection takes a PathCVResult or a SpectralPath; got "
                        f"{type(result).__name__}")
    _point_axis(ax, x, integer, name)
    if log:
        ax.set_yscale("log")
    ax.legend(fontsize="small", ncol=2 if len(ax.get_lines()) > 6 else 1)
    ax.grid(True, which="both", alpha=0.3)
    return ax


def plot_family_filters(eigenvalues, filters, *, ax=None):
    """Filters of the regularizer family side by side: h against λ on a log axis.

    Every method of :doc:`/topics/family` fits ``U diag(h) z``; drawing the filters ``h``
    of one spectrum against the eigenvalues shows how each one shrinks: ridge and
    self-distillation rounds smoothly (the latter more steeply), boosting toward 1, mixed
    self-distillation anywhere between (and beyond: its filter may leave [0, 1]), spectral
    cut-off as a step.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        λ, ≥ 0. Zero eigenvalues have no place on a log axis: those at or below the
        round-off scale of an eigensolver (:func:`hilbert_sd.spectral.clip_tolerance`,
        100 n ε λ_max) are left out.
    filters : dict of str to array-like of shape (n,)
        One filter per method, keyed by its label: one row of the arrays
        :mod:`hilbert_sd.filters` returns (e.g. ``filters.ridge(lam, 1.0)[0]``,
        ``filters.self_distillation(lam, 1.0, 3)[2]``), in the order of ``eigenvalues``.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
        One line per filter, points in increasing λ; dotted reference lines at h = 0 and 1.

    Raises
    ------
    ValueError
        For a filter whose shape is not (n,).
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    if lam.ndim != 1:
        raise ValueError(f"eigenvalues must be 1-D; got shape {lam.shape}")
    rows = {}
    for name, h in filters.items():
        h = np.asarray(h, dtype=np.float64)
        if h.shape != lam.shape:
            raise ValueError(f"filter {name!r} has shape {h.shape}; allowed: {lam.shape}, one "
                             "value per eigenvalue (take one row of a (J, n) filter array)")
        rows[name] = h
    from hilbert_sd.spectral import clip_tolerance

    ax = _axes(ax)
    keep = lam > (clip_tolerance(float(lam.max()), lam.size) if lam.size else 0.0)
    order = np.argsort(lam[keep], kind="stable")
    x = lam[keep][order]
    for name, h in rows.items():  # distinct methods: the default colour cycle
        ax.plot(x, h[keep][order], ".-", ms=4, label=name)
    for level in (0.0, 1.0):
        ax.axhline(level, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("eigenvalue λ (log scale)")
    ax.set_ylabel("filter h(λ)")
    ax.set_title("The regularizer family on one spectrum")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    return ax
