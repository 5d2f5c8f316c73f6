"""Figures and tables of the named experiments (``hilbert-sd reproduce NAME``).

A report is ``report(rows, out_dir) -> {"files": [paths], "summary": text}``: it reads the
rows of the experiment's store (:meth:`ResultStore.rows`), writes PNG figures and CSV tables
into ``out_dir`` and returns a printable summary. Figures are built on
:class:`matplotlib.figure.Figure` directly: no pyplot state, no display.
"""

from pathlib import Path

import numpy as np

from hilbert_sd.experiments.tables import write_records

__all__ = ["report_self_distillation", "run_rows", "series"]


def run_rows(raw, *, name, progress=False):
    """Run a config through the one runner into a temporary store; return the store's rows.

    What the quick commands (``hilbert-sd demo``, ``noisy-labels``, ``soft-labels``,
    ``linear-teacher``) and their library functions run: they write their report's files,
    not a store (``hilbert-sd reproduce NAME`` and ``hilbert-sd sweep`` keep one).

    Parameters
    ----------
    raw : dict
        The config in the form of a TOML file (validated by
        :func:`~hilbert_sd.experiments.config.parse_config`).
    name : str
        ``experiment.name`` when ``raw`` gives none.
    progress : bool, default=False
        The runner's progress lines on stderr.

    Returns
    -------
    list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows`, in the order of the
        config's simulations.

    Raises
    ------
    ValueError
        An invalid config (:class:`~hilbert_sd.experiments.schema.ConfigError`), or the first
        error of a failed simulation.
    """
    import tempfile

    from hilbert_sd.experiments.config import parse_config
    from hilbert_sd.experiments.runner import run_sweep
    from hilbert_sd.experiments.store import ResultStore

    config = parse_config(raw, default_name=name)
    with tempfile.TemporaryDirectory(prefix="hilbert_sd-run-") as tmp:
        with ResultStore(Path(tmp) / "results.db") as store:
            report = run_sweep(config, store, progress=progress)
            if report.failed:
                raise ValueError(f"{report.failed} of {report.total} simulations failed; the "
                                 f"first: {report.failures[0][1]}")
            return sorted(store.rows(experiment=config.name), key=lambda r: r["position"])


def finished(rows, method):
    """The finished simulations of ``method`` among store rows, in the sweep's order.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows`.
    method : str

    Returns
    -------
    list of dict

    Raises
    ------
    ValueError
        When there is none to report on.
    """
    done = sorted((r for r in rows if r["status"] == "done" and r["method"] == method),
                  key=lambda r: r.get("position") or 0)
    if not done:
        raise ValueError(f"no finished {method} simulation to report on")
    return done


def series(results, name):
    """The per-round values ``name[0]``, ``name[1]``, ... of a results dict, as an array."""
    values = []
    while f"{name}[{len(values)}]" in results:
        v = results[f"{name}[{len(values)}]"]
        values.append(np.nan if v is None else v)
    return np.asarray(values, dtype=float)


def report_self_distillation(rows, out_dir):
    """The reference example: test error, ridge and effective dimension per round, per ε.

    Writes ``self_distillation.png`` (three panels) and ``summary.csv`` (one row per ε:
    r_0, collapse round, best round, test error of round 0 and of the best round).
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    out_dir = Path(out_dir)
    done = sorted((r for r in rows if r["status"] == "done"),
                  key=lambda r: r["params"]["method.epsilon"])
    if not done:
        raise ValueError("no finished simulation to report on")
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    ax_test, ax_alpha, ax_dim = fig.subplots(1, 3)
    table = []
    zero_error = None
    for row in done:
        res = row["results"]
        eps = row["params"]["method.epsilon"]
        test = series(res, "test_mse")
        alpha = series(res, "alpha")
        dim = series(res, "effective_dim")
        T = res["collapse_round"]
        live = len(test) if T is None else T
        rounds = np.arange(len(test))
        (line,) = ax_test.plot(rounds[:live], test[:live], marker="o", ms=3,
                               label=f"ε = {eps:g}")
        if T is not None and T < len(test):
            zero_error = test[T]
            ax_test.plot([T], [test[T]], marker="x", ms=8, color=line.get_color(),
                         linestyle="none")
        ax_alpha.semilogy(rounds[:live], alpha[:live], marker="o", ms=3,
                          color=line.get_color())
        ax_dim.plot(rounds[:live], dim[:live], marker="o", ms=3, color=line.get_color())
        table.append({"epsilon": eps, "r0": res.get("r0"), "collapse_round": T,
                      "best_round": res.get("best_round"), "test_mse_round0": test[0],
                      "best_test_mse": res.get("best_test_mse")})
    if zero_error is not None:
        ax_test.axhline(zero_error, color="0.5", lw=0.8, ls="--",
                        label="zero function (x: collapse)")
    ax_test.set(xlabel="round t", ylabel="test MSE against sin(2πx)",
                title="test error per round")
    ax_alpha.set(xlabel="round t", ylabel="ridge α_t (log scale)",
                 title="regularization grows every round")
    ax_dim.set(xlabel="round t", ylabel="Σ_k diag(B_t)[k]",
               title="effective dimension shrinks")
    ax_test.legend(fontsize=8)
    for ax in (ax_test, ax_alpha, ax_dim):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rounds: no tick at 2.5
        ax.grid(alpha=0.3)
    fig.suptitle("Self-distillation on mobahi_toy.csv, RBF kernel γ = 80")
    figure = out_dir / "self_distillation.png"
    fig.savefig(figure, dpi=120)

    summary_csv = out_dir / "summary.csv"
    write_records(table, summary_csv)

    from hilbert_sd.experiments.tables import format_table

    header = list(table[0])
    text = format_table(header, [[t[h] for h in header] for t in table])
    return {"files": [figure, summary_csv], "summary": text}
