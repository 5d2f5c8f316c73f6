"""The reference self-distillation example (:doc:`/theory`, §2): ``hilbert-sd demo`` and
``hilbert-sd reproduce early-stopping``.

Eleven points x = 0, 0.1, …, 1 with targets ≈ sin(2πx) plus noise, an RBF kernel
exp(−80 (x − x')²), and several budgets ε. For each ε the path runs until collapse, every round
is compared with early-stopped gradient flow at the same training error to the labels, and the
bounds M2, M5-M11 are checked; test error is measured against sin(2πx) on 501 points of
[0, 1]. The simulations are the ``early_stopping`` method of the one runner
(:func:`hilbert_sd.experiments.methods.run_early_stopping`); :func:`report` writes the tables
and figures from the rows of a store.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np

__all__ = ["DEFAULT_EPSILONS", "reference_config", "refit", "report", "run_reference"]

#: Budgets shown by the demo: from near interpolation to one round before collapse.
DEFAULT_EPSILONS = (0.001, 0.005, 0.02, 0.1)


def reference_config(epsilons=DEFAULT_EPSILONS, *, gamma=80.0, name="demo"):
    """The experiment config of the reference example (that of ``early_stopping.toml``).

    Parameters
    ----------
    epsilons : sequence of float, default=DEFAULT_EPSILONS
        Budgets on the mean squared training error, each in (0, ‖y‖²/n = 0.57354).
    gamma : float, default=80.0
        RBF kernel parameter (the public reproduction of Borup & Andersen uses 80; the paper's
        exact kernel is not known).
    name : str, default="demo"
        ``experiment.name``.

    Returns
    -------
    dict
        The config in the form of a TOML file, for
        :func:`~hilbert_sd.experiments.config.parse_config` or
        :func:`~hilbert_sd.experiments.reports.run_rows`.
    """
    return {"experiment": {"name": name, "seeds": [0]},
            "data": {"path": "hilbert_sd:data/mobahi_toy.csv", "target": "y",
                     "truth": "sin2pi", "n_test": 501, "test_range": [0.0, 1.0]},
            "kernel": {"name": "rbf", "gamma": float(gamma)},
            "method": {"name": "early_stopping", "epsilon": [float(e) for e in epsilons]}}


def run_reference(epsilons=DEFAULT_EPSILONS, *, gamma=80.0, progress=False):
    """Run the reference example through the one runner (a temporary store).

    Parameters
    ----------
    epsilons, gamma
        See :func:`reference_config`.
    progress : bool, default=False
        The runner's progress lines on stderr.

    Returns
    -------
    list of dict
        One ``early_stopping`` row per budget, in the given order: the input of
        :func:`report` and :func:`refit`.
    """
    from hilbert_sd.experiments.reports import run_rows

    return run_rows(reference_config(epsilons, gamma=gamma), name="demo", progress=progress)


def refit(row):
    """The distillation path of one ``early_stopping`` row, computed again from its config.

    The store keeps per-round numbers, not the fitted functions the figures draw; on the
    reference data (11 points) one path costs a millisecond.

    Parameters
    ----------
    row : dict
        A row of :meth:`~hilbert_sd.experiments.store.ResultStore.rows` (method
        ``early_stopping``); a data file given by a relative path is read from the working
        directory.

    Returns
    -------
    types.SimpleNamespace
        ``path`` (:class:`~hilbert_sd.distillation.DistillationPath`), ``comparison``
        (:func:`hilbert_sd.compare.match_early_stopping` on the test points), ``inputs`` (the
        :class:`~hilbert_sd.experiments.runner.SimulationInputs` the method received: ``X``,
        ``y``, ``X_test``, ``y_test``, ``K_test``), ``test_mse`` per round.
    """
    from hilbert_sd.compare import match_early_stopping
    from hilbert_sd.experiments.methods import _self_distill_path
    from hilbert_sd.experiments.runner import simulation_inputs

    config = row["config"]
    inputs = simulation_inputs(config)
    path = _self_distill_path(config, inputs)
    comparison = match_early_stopping(path=path, K_test=inputs.K_test, y_test=inputs.y_test,
                                      threshold=config["method"]["threshold"])
    grid = path.predict(inputs.K_test, np.arange(path.n_rounds + 1))
    return SimpleNamespace(path=path, comparison=comparison, inputs=inputs,
                           test_mse=np.mean((grid - inputs.y_test) ** 2, axis=1))


def _figure(row):
    """The six panels of one budget (:func:`hilbert_sd.plotting.plot_comparison`): fits,
    basis weights, ridges, filters against early stopping, errors, basis counts."""
    from hilbert_sd import plotting

    fit = refit(row)
    path, inputs = fit.path, fit.inputs
    best = int(np.argmin(fit.test_mse))
    shown = np.unique(np.r_[np.round(np.linspace(0, path.n_rounds, 6)).astype(int), best])
    fig = plotting.plot_comparison(path, fit.comparison, inputs.K_test, inputs.X_test[:, 0],
                                   inputs.X[:, 0], inputs.y, truth=inputs.y_test, rounds=shown)
    gamma = row["config"]["kernel"].get("gamma")
    data = row["config"]["data"]
    what = ("the reference data" if data.get("path") == "hilbert_sd:data/mobahi_toy.csv"
            else "the user's data (held-out rows as the test set)")
    fig.suptitle(f"Self-distillation on {what} (RBF, gamma = {gamma:g}), ε = {path.epsilon:g}")
    return fig


_RECORD_KEYS = (("train_mse", "round_mse"), ("label_mse", "train_mse"), ("test_mse", "test_mse"))


def _budget(row):
    """One budget's records, JSON entry and text table from its ``early_stopping`` row."""
    from hilbert_sd.experiments.reports import series

    res = row["results"]
    eps = float(row["config"]["method"]["epsilon"])
    rounds = res["rounds"]
    s = {name: series(res, name)[:rounds] for name in (
        "alpha", "round_mse", "train_mse", "test_mse", "n_basis", "m2_lower", "m2_upper",
        "es_time", "es_test_mse", "es_n_basis", "sd_max_ratio_excess", "es_max_ratio_excess")}
    alphas = np.where(np.isnan(s["alpha"]), np.inf, s["alpha"])
    records = [{"epsilon": eps, "round": t, "alpha": float(alphas[t]),
                **{k: float(s[src][t]) for k, src in _RECORD_KEYS},
                "n_basis_1pct": int(s["n_basis"][t]), "collapsed": bool(not np.isfinite(alphas[t])),
                "m2_lower": float(s["m2_lower"][t]), "m2_upper": float(s["m2_upper"][t]),
                "es_time": float(s["es_time"][t]), "es_test_mse": float(s["es_test_mse"][t]),
                "es_n_basis_1pct": int(s["es_n_basis"][t]),
                "sd_max_ratio_excess": float(s["sd_max_ratio_excess"][t]),
                "es_max_ratio_excess": float(s["es_max_ratio_excess"][t])}
               for t in range(rounds)]
    checks = []
    while f"check[{len(checks)}].id" in res:
        prefix = f"check[{len(checks)}]."
        check = {k[len(prefix):]: v for k, v in res.items() if k.startswith(prefix)}
        order = ("id", "round", "statement", "relation", "bound", "simulated", "holds")
        checks.append({**{k: check[k] for k in order if k in check}, **check})
    bounds = {k: float(res[k]) for k in ("M5_lower_kappa", "M6_lower", "M6_upper",
                                         "M6_upper_kappa", "kappa")}
    best = int(np.argmin(s["test_mse"]))
    entry = {"epsilon": eps, "collapse_round": res["collapse_round"], "best_round": best,
             "alphas": [float(a) for a in alphas if np.isfinite(a)], "collapse_bounds": bounds,
             "bound_checks": checks}
    best_es = int(np.nanargmin(s["es_test_mse"]))
    held = sum(c["holds"] for c in checks)
    lines = [
        f"epsilon = {eps:g}",
        f"  collapse round T = {res['collapse_round']}; bounds: M5 T >= "
        f"{bounds['M5_lower_kappa']:.3g} (kappa = {bounds['kappa']:.3g}),  M6 "
        f"{bounds['M6_lower']:.3g} <= T <= {res['M6_upper']} and T < "
        f"{bounds['M6_upper_kappa']:.3g}",
        f"  lowest test error: self-distillation round {best} ({s['test_mse'][best]:.4f}); "
        f"early stopping at the time matched to round {best_es} "
        f"({s['es_test_mse'][best_es]:.4f})",
        f"  bounds M2, M5-M11 checked on the simulation: {held}/{len(checks)} hold",
        f"{'round':>5} {'ridge':>9} {'M2 bracket':>19} {'train':>8} {'to y0':>8} "
        f"{'test SD':>8} {'tau ES':>8} {'test ES':>8} {'#B SD':>5} {'#B ES':>5}",
    ]
    for r in records:
        if r["collapsed"]:
            alpha, bracket = "collapse", ""
        else:
            alpha = f"{r['alpha']:.4g}"
            bracket = f"[{r['m2_lower']:.3g}, {r['m2_upper']:.3g}]"
        lines.append(
            f"{r['round']:>5} {alpha:>9} {bracket:>19} {r['train_mse']:>8.5f} "
            f"{r['label_mse']:>8.5f} {r['test_mse']:>8.5f} {r['es_time']:>8.3g} "
            f"{r['es_test_mse']:>8.5f} {r['n_basis_1pct']:>5} {r['es_n_basis_1pct']:>5}")
    return records, entry, "\n".join(lines)


def report(rows, out_dir):
    """The report of ``hilbert-sd reproduce early-stopping`` and ``hilbert-sd demo``.

    From the ``early_stopping`` rows of a store: ``self_distillation.csv`` (one row per
    budget and round), ``self_distillation.json`` (``{"summary": [one entry per budget],
    "rounds": [the CSV rows]}``) and ``self_distillation_eps{ε}.png`` per budget (100 dpi).

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows`.
    out_dir : str or path-like
        Created if missing.

    Returns
    -------
    dict
        ``{"files": [CSV, JSON, then the figures in the order of the budgets],
        "summary": the text tables of every budget, blank-line separated}``.
    """
    from hilbert_sd.experiments.tables import write_records

    from hilbert_sd.experiments.reports import finished

    done = finished(rows, "early_stopping")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    budgets = [_budget(r) for r in done]
    records = [rec for b in budgets for rec in b[0]]
    csv_path, json_path = out / "self_distillation.csv", out / "self_distillation.json"
    write_records(records, csv_path)
    json_path.write_text(json.dumps({"summary": [b[1] for b in budgets], "rounds": records},
                                    indent=1, default=float))
    paths = [csv_path, json_path]
    import matplotlib.pyplot as plt

    for row, (_, entry, _) in zip(done, budgets):
        name = out / f"self_distillation_eps{entry['epsilon']:g}.png"
        fig = _figure(row)
        fig.savefig(name, dpi=100)
        plt.close(fig)
        paths.append(name)
    return {"files": paths, "summary": "\n\n".join(b[2] for b in budgets)}
