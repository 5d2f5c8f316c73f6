"""Figures read from a results store: a metric against a parameter, one line per group.

The figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, never through
pyplot, so nothing depends on (or changes) the pyplot backend of the caller and no figure is
left open.
"""

import numpy as np

from hilbert_sd.experiments.aggregate import ROUND, metric_series

__all__ = ["plot_metric"]


def plot_metric(rows, x, y, *, group_by=(), logx=False, logy=False, series=None,
                figsize=(6.0, 4.0)):
    """Draw the mean of a metric against a parameter with standard-error bars over seeds.

    Parameters
    ----------
    rows : list of dict
        From :meth:`ResultStore.rows` (filtered as wanted).
    x : str
        A parameter (or another non-result column), or ``"round"`` for the index of the
        per-round series ``y``.
    y : str
        A result: ``"best_test_mse"``, ``"test_mse[3]"``, or with ``x="round"`` a series
        name such as ``"test_mse"``.
    group_by : list of str, default=()
        Columns whose values make the lines (one line per distinct combination).
    logx, logy : bool, default=False
        Logarithmic axes; every x value (every mean) must then be > 0.
    series : list of dict, optional
        Precomputed :func:`~hilbert_sd.experiments.aggregate.metric_series` of the same
        arguments (computed when None).
    figsize : tuple of float, default=(6.0, 4.0)

    Returns
    -------
    matplotlib.figure.Figure
        One axes; per group one ``ErrorbarContainer`` in ``ax.containers`` whose data line
        has the group's x values and means, and whose bars are ± one standard error (no bar
        where a point has a single value).

    Raises
    ------
    ValueError
        For unknown columns (see :func:`metric_series`), no value of ``y`` to draw, or
        values a logarithmic axis cannot show.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if series is None:
        series = metric_series(rows, x, y, group_by)
    if not series:
        raise ValueError(f"--y {y!r}: no values to plot in the {len(rows)} selected row(s)")
    if logx:
        bad = [v for s in series for v in s["x"] if not (isinstance(v, (int, float))
                                                         and v > 0)]
        if bad:
            raise ValueError(f"--logx: every --x value must be a number > 0; {x} has "
                             f"{bad[0]!r}")
    if logy:
        bad = [v for s in series for v in s["mean"] if not v > 0]
        if bad:
            raise ValueError(f"--logy: every mean of --y must be > 0; {y} has a mean of "
                             f"{bad[0]!r}")
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = _colors(len(series))
    for s, color in zip(series, colors):
        yerr = np.where(np.isnan(s["se"]), 0.0, s["se"])
        ax.errorbar(s["x"], s["mean"], yerr=yerr, marker="o", markersize=4, capsize=3,
                    color=color, label=s["label"])
    if logx:
        ax.set_xscale("log")
    elif x == ROUND or all(isinstance(v, (int, float, np.integer, np.floating))
                           and float(v).is_integer() for s in series for v in s["x"]):
        # rounds and integer parameters (sample counts, ranks): no tick at 2.5 or 10.25
        from matplotlib.ticker import MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if logy:
        ax.set_yscale("log")
    counts = np.concatenate([s["count"] for s in series])
    seeds = (f"{counts.min()}" if counts.min() == counts.max()
             else f"{counts.min()}-{counts.max()}")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{y}{'[round]' if x == ROUND else ''}")
    ax.set_title(f"mean ± standard error over {seeds} run(s) per point", fontsize="medium")
    if len(series) > 1 or group_by:
        ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return fig


def _colors(k):
    import matplotlib

    cmap = matplotlib.colormaps["viridis"]
    return [cmap(v) for v in np.linspace(0.0, 0.9, max(k, 1))]
