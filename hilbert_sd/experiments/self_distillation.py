"""The reference self-distillation example (theory.md §2): the main job of ``hilbert-sd demo``.

Eleven points x = 0, 0.1, …, 1 with targets ≈ sin(2πx) plus noise, an RBF kernel
exp(−80 (x − x')²), and several budgets ε. For each ε the path runs until collapse; test error
is measured against sin(2πx) on a dense grid of [0, 1].
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hilbert_sd import bounds
from hilbert_sd.compare import match_early_stopping
from hilbert_sd.datasets import load_mobahi_toy
from hilbert_sd.distillation import self_distill
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import eigh_psd

__all__ = ["DEFAULT_EPSILONS", "ReferenceResult", "ReferenceRun", "run_reference"]

#: Budgets shown by the demo: from near interpolation to one round before collapse.
DEFAULT_EPSILONS = (0.001, 0.005, 0.02, 0.1)


@dataclass(repr=False)
class ReferenceRun:
    """Result of :func:`run_reference` for one budget.

    Attributes
    ----------
    epsilon : float
    path : DistillationPath
    train_mse : ndarray of shape (R,)
        (1/n)‖f_t(X) − y_t‖² to the targets of each round (ε until the collapse).
    label_mse : ndarray of shape (R,)
        (1/n)‖f_t(X) − y_0‖² to the original labels.
    test_mse : ndarray of shape (R,)
        Mean squared error to sin(2πx) on the test grid.
    n_basis : ndarray of shape (R,)
        #{k : B_t[k] ≥ 1% of max_k B_t[k]} (0 after the collapse).
    grid_predictions : ndarray of shape (R, n_grid)
    comparison : hilbert_sd.compare.Comparison
        Early-stopped gradient flow at the same training error to the labels, per round.
    ridge_bracket : ndarray of shape (R, 2)
        M2's bracket of each round's ridge (nan on the collapsed round).
    collapse_bounds : dict
        M5's κ bound and M6's bounds on the collapse round.
    bound_checks : list of dict
        :func:`hilbert_sd.bounds.check_bounds` on the path (M2, M5-M11).
    extras : dict
        The data: ``x``, ``y``, ``x_grid``, ``truth`` (sin(2πx) on the grid), ``K_grid``
        (k(x_grid, x)), ``n``, and the kernel's ``gamma``.
    """

    epsilon: float
    path: object
    train_mse: np.ndarray
    label_mse: np.ndarray
    test_mse: np.ndarray
    n_basis: np.ndarray
    grid_predictions: np.ndarray
    comparison: object = None
    ridge_bracket: np.ndarray = None
    collapse_bounds: dict = field(default_factory=dict)
    bound_checks: list = field(default_factory=list)
    extras: dict = field(default_factory=dict)

    @property
    def best_round(self):
        """Round with the lowest test error."""
        return int(np.argmin(self.test_mse))

    def __repr__(self):
        return (f"ReferenceRun(epsilon={self.epsilon:g}, rounds={len(self.test_mse)}, "
                f"collapse_round={self.path.collapse_round}, best_round={self.best_round}, "
                f"best_test_mse={self.test_mse[self.best_round]:.4g})")

    def summary(self):
        """The text table of this budget (what ``hilbert-sd demo`` prints for it).

        Returns
        -------
        str
            The collapse round and its bounds M5/M6, the best rounds of self-distillation and
            of early stopping, how many bounds hold, then one line per round.
        """
        cb = self.collapse_bounds
        checks = self.bound_checks
        held = sum(c["holds"] for c in checks)
        es = self.comparison.side_by_side()
        best_es = int(np.nanargmin(es["es_test_mse"]))
        lines = [
            f"epsilon = {self.epsilon:g}",
            f"  collapse round T = {self.path.collapse_round}; bounds: M5 T >= "
            f"{cb['M5_lower_kappa']:.3g} (kappa = {cb['kappa']:.3g}),  M6 {cb['M6_lower']:.3g}"
            f" <= T <= {cb['M6_upper']} and T < {cb['M6_upper_kappa']:.3g}",
            f"  lowest test error: self-distillation round {self.best_round} "
            f"({self.test_mse[self.best_round]:.4f}); early stopping at the time matched to "
            f"round {best_es} ({es['es_test_mse'][best_es]:.4f})",
            f"  bounds M2, M5-M11 checked on the simulation: {held}/{len(checks)} hold",
            f"{'round':>5} {'ridge':>9} {'M2 bracket':>19} {'train':>8} {'to y0':>8} "
            f"{'test SD':>8} {'tau ES':>8} {'test ES':>8} {'#B SD':>5} {'#B ES':>5}",
        ]
        for r in self.records():
            if r["collapsed"]:
                alpha, bracket = "collapse", ""
            else:
                alpha = f"{r['alpha']:.4g}"
                bracket = f"[{r['m2_lower']:.3g}, {r['m2_upper']:.3g}]"
            lines.append(
                f"{r['round']:>5} {alpha:>9} {bracket:>19} {r['train_mse']:>8.5f} "
                f"{r['label_mse']:>8.5f} {r['test_mse']:>8.5f} {r['es_time']:>8.3g} "
                f"{r['es_test_mse']:>8.5f} {r['n_basis_1pct']:>5} {r['es_n_basis_1pct']:>5}")
        return "\n".join(lines)

    def summary_record(self):
        """The budget's entry of the JSON summary: collapse, best round, ridges, bounds.

        Returns
        -------
        dict
            Plain Python values (JSON-ready).
        """
        return {
            "epsilon": self.epsilon, "collapse_round": self.path.collapse_round,
            "best_round": self.best_round, "alphas": [float(a) for a in self.path.alphas],
            "collapse_bounds": {k: float(v) for k, v in self.collapse_bounds.items()},
            "bound_checks": [{k: (float(v) if isinstance(v, (float, np.floating)) else v)
                              for k, v in c.items()} for c in self.bound_checks],
        }

    def plot(self):
        """The six-panel figure of this budget: fits, errors, filters against early stopping.

        At most seven rounds are drawn, spread over the path, the best one included.

        Returns
        -------
        matplotlib.figure.Figure
            A pyplot figure (:func:`hilbert_sd.plotting.plot_comparison`); close it when done.
        """
        from hilbert_sd import plotting

        ex = self.extras
        T = self.path.n_rounds
        shown = np.unique(np.r_[np.round(np.linspace(0, T, 6)).astype(int), self.best_round])
        fig = plotting.plot_comparison(self.path, self.comparison, ex["K_grid"], ex["x_grid"],
                                       ex["x"], ex["y"], truth=ex["truth"], rounds=shown)
        fig.suptitle(f"Self-distillation on the reference data (RBF, gamma = "
                     f"{ex.get('gamma', 80.0):g}), ε = {self.epsilon:g}")
        return fig

    def records(self):
        """One dict per round (tidy rows for CSV/JSON)."""
        alphas = np.asarray(self.path.ridges)
        wide = self.comparison.side_by_side()
        return [
            {
                "epsilon": self.epsilon,
                "round": t,
                "alpha": float(alphas[t]),
                "train_mse": float(self.train_mse[t]),
                "label_mse": float(self.label_mse[t]),
                "test_mse": float(self.test_mse[t]),
                "n_basis_1pct": int(self.n_basis[t]),
                "collapsed": bool(not np.isfinite(alphas[t])),
                "m2_lower": float(self.ridge_bracket[t, 0]),
                "m2_upper": float(self.ridge_bracket[t, 1]),
                "es_time": float(wide["time"][t]),
                "es_test_mse": float(wide["es_test_mse"][t]),
                "es_n_basis_1pct": int(wide["es_n_basis"][t]),
                "sd_max_ratio_excess": float(wide["sd_max_ratio_excess"][t]),
                "es_max_ratio_excess": float(wide["es_max_ratio_excess"][t]),
            }
            for t in range(len(alphas))
        ]


class ReferenceResult(Sequence):
    """Result of :func:`run_reference`: a sequence of :class:`ReferenceRun`, one per budget.

    Parameters
    ----------
    runs : list of ReferenceRun
    gamma : float
        RBF kernel parameter of the runs.

    Attributes
    ----------
    runs : list of ReferenceRun
    gamma : float
    """

    #: Names of the files :meth:`save` writes (figures: one per budget, see :meth:`save`).
    CSV, JSON = "self_distillation.csv", "self_distillation.json"

    def __init__(self, runs, *, gamma):
        self.runs = list(runs)
        self.gamma = float(gamma)

    def __getitem__(self, index):
        return self.runs[index]

    def __len__(self):
        return len(self.runs)

    @property
    def epsilons(self):
        """The budgets, in the order run."""
        return [run.epsilon for run in self.runs]

    def __repr__(self):
        rounds = [len(run.test_mse) for run in self.runs]
        return (f"ReferenceResult(gamma={self.gamma:g}, epsilons={self.epsilons}, "
                f"rounds={rounds})")

    def records(self):
        """One dict per (budget, round): the rows of the CSV file.

        Returns
        -------
        list of dict
        """
        return [r for run in self.runs for r in run.records()]

    def summary(self):
        """The text tables of every budget (what ``hilbert-sd demo`` prints), blank-line
        separated.

        Returns
        -------
        str
        """
        return "\n\n".join(run.summary() for run in self.runs)

    def plot(self):
        """One six-panel figure per budget (:meth:`ReferenceRun.plot`).

        Returns
        -------
        list of matplotlib.figure.Figure
        """
        return [run.plot() for run in self.runs]

    def save(self, out_dir):
        """Write the tables and figures of ``hilbert-sd demo`` into ``out_dir``.

        ``self_distillation.csv`` (one row per budget and round), ``self_distillation.json``
        (``{"summary": [one entry per budget], "rounds": [the CSV rows]}``) and
        ``self_distillation_eps{ε}.png`` per budget (100 dpi).

        Parameters
        ----------
        out_dir : str or path-like
            Created if missing.

        Returns
        -------
        list of pathlib.Path
            The files written: CSV, JSON, then the figures in the order of the budgets.
        """
        import matplotlib.pyplot as plt

        from hilbert_sd.experiments.tables import write_records

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        records = self.records()
        csv_path = out / self.CSV
        write_records(records, csv_path)
        json_path = out / self.JSON
        summary = [run.summary_record() for run in self.runs]
        json_path.write_text(json.dumps({"summary": summary, "rounds": records}, indent=1,
                                        default=float))
        paths = [csv_path, json_path]
        for run in self.runs:
            fig = run.plot()
            name = out / f"self_distillation_eps{run.epsilon:g}.png"
            fig.savefig(name, dpi=100)
            plt.close(fig)
            paths.append(name)
        return paths


def run_reference(epsilons=DEFAULT_EPSILONS, *, gamma=80.0, n_grid=501, threshold=0.01):
    """Run the reference example for several budgets, sharing one eigendecomposition.

    Parameters
    ----------
    epsilons : sequence of float
        Budgets on the mean squared training error, each in (0, ‖y‖²/n = 0.57354).
    gamma : float, default=80.0
        RBF kernel width parameter (the public reproduction of Borup & Andersen uses 80; the
        paper's exact kernel is not known).
    n_grid : int, default=501
        Test grid size on [0, 1].
    threshold : float, default=0.01
        Relative level for counting basis functions.

    Returns
    -------
    ReferenceResult
        A sequence of :class:`ReferenceRun`, one per budget, in the given order, with
        ``summary()``, ``save(out_dir)`` and ``plot()``.
    """
    x, y = load_mobahi_toy()
    x_grid = np.linspace(0.0, 1.0, n_grid)[:, None]
    truth = np.sin(2 * np.pi * x_grid[:, 0])
    K = gram(x, kernel="rbf", gamma=gamma)
    K_grid = gram(x_grid, x, kernel="rbf", gamma=gamma)
    spectrum = eigh_psd(K)
    n = len(y)
    runs = []
    for eps in epsilons:
        path = self_distill(spectrum, y, epsilon=eps)
        rounds = np.arange(path.n_rounds + 1)
        train = path.train_predictions(rounds)
        grid = path.predict(K_grid, rounds)
        n_basis = bounds.n_basis_functions(path.log_basis_weights, threshold)
        comparison = match_early_stopping(path=path, K_test=K_grid, y_test=truth,
                                          threshold=threshold)
        norms = np.linalg.norm(path.coefficients[:-1], axis=1)  # ||y_t|| by Parseval
        bracket = np.full((len(rounds), 2), np.nan)
        alive = norms**2 > n * eps * (1 + 1e-10)
        if alive.any():
            lo, hi = bounds.ridge_bounds(spectrum.eigenvalues, norms[alive], n, eps)
            bracket[alive, 0], bracket[alive, 1] = lo, hi
        y_norm = float(np.linalg.norm(y))
        m6 = bounds.collapse_round_bounds(spectrum.eigenvalues, y_norm, n, eps)
        collapse_bounds = {
            "M5_lower_kappa": bounds.rounds_lower_bound_kappa(spectrum.eigenvalues, y_norm, n,
                                                              eps),
            "M6_lower": m6.lower, "M6_upper": m6.upper, "M6_upper_kappa": m6.upper_kappa,
            "kappa": spectrum.condition_number,
        }
        runs.append(ReferenceRun(
            epsilon=float(eps),
            path=path,
            train_mse=path.train_mse(),
            label_mse=np.mean((train - y) ** 2, axis=1),
            test_mse=np.mean((grid - truth) ** 2, axis=1),
            n_basis=n_basis,
            grid_predictions=grid,
            comparison=comparison,
            ridge_bracket=bracket,
            collapse_bounds=collapse_bounds,
            bound_checks=bounds.check_bounds(path, tau=threshold),
            extras={"x": x[:, 0], "y": y, "x_grid": x_grid[:, 0], "truth": truth,
                    "K_grid": K_grid, "n": n, "gamma": float(gamma)},
        ))
    return ReferenceResult(runs, gamma=gamma)


# ============================================================================ the report
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


def _figure(records, gamma):
    """Four panels of one budget: test errors, ridges with M2's bracket, training errors and
    basis counts, self-distillation against early stopping at matched training error."""
    from matplotlib.figure import Figure

    t = np.array([r["round"] for r in records])
    col = {k: np.array([r[k] for r in records], dtype=float) for k in records[0]}
    live = ~col["collapsed"].astype(bool)
    fig = Figure(figsize=(12, 8), layout="constrained")
    (ax_test, ax_alpha), (ax_train, ax_basis) = fig.subplots(2, 2)
    ax_test.plot(t, col["test_mse"], "o-", label="self-distillation")
    ax_test.plot(t, col["es_test_mse"], "s--", label="early stopping, matched time")
    ax_test.set(xlabel="round t", ylabel="test MSE against sin(2πx)", title="test error")
    ax_alpha.semilogy(t[live], col["alpha"][live], "o-", label="ridge α_t")
    ax_alpha.fill_between(t[live], col["m2_lower"][live], col["m2_upper"][live], alpha=0.2,
                          label="M2 bracket")
    ax_alpha.set(xlabel="round t", ylabel="α_t (log scale)", title="ridge per round")
    ax_train.plot(t, col["label_mse"], "o-", label="to the labels y_0 (both)")
    ax_train.plot(t, col["train_mse"], "^:", label="to the round's targets y_t")
    ax_train.set(xlabel="round t", ylabel="training MSE", title="training error")
    ax_basis.plot(t, col["n_basis_1pct"], "o-", label="self-distillation")
    ax_basis.plot(t, col["es_n_basis_1pct"], "s--", label="early stopping")
    ax_basis.set(xlabel="round t", ylabel="basis functions ≥ 1% of the largest",
                 title="sparsity")
    for ax in (ax_test, ax_alpha, ax_train, ax_basis):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Self-distillation on the reference data (RBF, gamma = {gamma:g}), "
                 f"ε = {records[0]['epsilon']:g}")
    return fig


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

    done = sorted((r for r in rows if r["status"] == "done" and r["method"] == "early_stopping"),
                  key=lambda r: r.get("position") or 0)
    if not done:
        raise ValueError("no finished early_stopping simulation to report on")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    budgets = [_budget(r) for r in done]
    records = [rec for b in budgets for rec in b[0]]
    csv_path, json_path = out / "self_distillation.csv", out / "self_distillation.json"
    write_records(records, csv_path)
    json_path.write_text(json.dumps({"summary": [b[1] for b in budgets], "rounds": records},
                                    indent=1, default=float))
    paths = [csv_path, json_path]
    gamma = float(done[0]["config"]["kernel"].get("gamma") or 0.0)
    for recs, entry, _ in budgets:
        name = out / f"self_distillation_eps{entry['epsilon']:g}.png"
        _figure(recs, gamma).savefig(name, dpi=100)
        paths.append(name)
    return {"files": paths, "summary": "\n\n".join(b[2] for b in budgets)}
