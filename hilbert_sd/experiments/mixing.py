"""Optimal mixing in self-distillation, reproduced on the reference problem
(:doc:`/topics/family`).

Fixed design: the eleven inputs of the reference data
(:func:`hilbert_sd.datasets.load_mobahi_toy`), the RBF kernel exp(−γ (x − x')²) with γ = 80,
the true function f* = sin(2πx) at those inputs, labels y = f* + e with e ~ N(0, σ² I).
Every number below is the expected in-sample risk
``R(h) = (1/n) Σ_k [(h_k − 1)² θ_k² + h_k² σ²]``, θ = Uᵀ f*, of a filter of
:mod:`hilbert_sd.filters` (exact, no sampling); the labels of the data file are not used.

- :func:`optimal_xi_vs_noise`: the one-step optimal weight ξ*
  (:func:`~hilbert_sd.filters.optimal_xi`) at a fixed ridge against σ². Das & Sanghavi (2023)
  state that the optimal weight of the teacher can exceed 1 under heavy label noise [paper:
  qualitative]. Here ξ* = (A σ² − B)/(C + D σ²) with positive sums A, B, C, D of the
  shrinks, so ξ* increases with σ² (its slope has the sign of AC + BD), crosses 1 at
  σ² = (B + C)/(A − D) and tends to A/D > 1 [derived].
- :func:`kstep_vs_best_ridge`: at the best ridge (:func:`~hilbert_sd.filters.optimal_ridge`)
  the optimal k-step schedule (:func:`~hilbert_sd.filters.optimal_schedule`) for k = 0, 1, …;
  its risk is non-increasing in k and, from k = 2 on, below the best ridge's risk on this
  problem. Pareek, Du & Oh (2024) state that repeated self-distillation can reduce the excess
  risk by up to a factor of the dimension in linear regression [paper: abstract]; the ratio
  measured here is reported per k, with the oracle filter θ²/(θ² + σ²) (what enough steps
  reach, :doc:`/topics/family`) as the floor.

Both studies are simulations of the one runner (method ``optimal_mixing``, :func:`run`, one
per noise variance on the group's eigendecomposition): the two functions run the config of
``hilbert-sd reproduce optimal-mixing`` with their arguments into a temporary store and build
their results from its rows (:func:`xi_result_from_rows`, :func:`kstep_result_from_rows`);
the command runs it with the defaults into its store and writes both tables and figures
(:func:`report`, from the same two functions). No number of Borup &
Andersen (2021) is reproduced: the package holds their setting (fixed ridge, ground-truth
mixing β = 1 − ξ and its limit filter βλ/(βλ + α)), not figures of theirs to compare with.
"""

import json
import warnings
from pathlib import Path

import numpy as np

from hilbert_sd import filters
from hilbert_sd.datasets import load_mobahi_toy
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import decompose

__all__ = [
    "DEFAULT_KSTEP_NOISE_VARS",
    "DEFAULT_XI_NOISE_VARS",
    "KStepResult",
    "OptimalXiResult",
    "family_filters",
    "kstep_result_from_rows",
    "kstep_vs_best_ridge",
    "optimal_xi_vs_noise",
    "reference_problem",
    "report",
    "run",
    "xi_result_from_rows",
]

#: Noise variances of :func:`optimal_xi_vs_noise`: 0.01 … 100, two per decade
#: (‖f*‖²/n = 5/11 ≈ 0.45 on the reference inputs).
DEFAULT_XI_NOISE_VARS = tuple(float(v) for v in np.round(np.logspace(-2, 2, 9), 12))
#: Noise variances of :func:`kstep_vs_best_ridge`.
DEFAULT_KSTEP_NOISE_VARS = (0.01, 0.1, 1.0)
#: Largest k of :func:`kstep_vs_best_ridge`: beyond it the powers of s are ill-conditioned on
#: the reference problem at these noise levels (optimal_schedule warns from k = 7 at σ² = 0.01).
DEFAULT_MAX_STEPS = 6


def reference_problem(gamma=80.0):
    """The fixed design of both studies: eigenvalues and θ = Uᵀ f* on the reference inputs.

    The factorization is the runner's (LAPACK's dense eigensolver, what a config without a
    ``[spectrum]`` table gets), so these are the ``eigenvalues`` and ``theta`` of
    :func:`kstep_vs_best_ridge` to the last bit. (Another exact backend agrees to round-off
    up to the signs of the eigenvectors; the ill-conditioned k-step schedules amplify that
    round-off.)

    Parameters
    ----------
    gamma : float, default=80.0
        RBF kernel parameter (that of the reference example).

    Returns
    -------
    eigenvalues : ndarray of shape (11,)
        Of the kernel matrix, descending.
    theta : ndarray of shape (11,)
        Eigen-coefficients of f* = sin(2πx) at the eleven inputs x = 0, 0.1, …, 1.
    """
    x, _ = load_mobahi_toy()
    spectrum = decompose(gram(x, kernel="rbf", gamma=gamma), method="dense")
    return spectrum.eigenvalues, spectrum.project(np.sin(2 * np.pi * x[:, 0]))


def _risk(h, theta2, noise_var):
    """Expected in-sample risk of a filter ``h`` (the formula of :mod:`hilbert_sd.filters`)."""
    return float(filters._expected_risk(h, 1.0 - h, theta2, noise_var))


def _yes(flag):
    return "yes" if flag else "NO"


class _Study:
    """What both results share: the protocol of the studies (summary, save, plot, repr)."""

    #: stem of the files :meth:`save` writes
    NAME = None

    def records(self):
        """The rows of the CSV file (list of dict)."""
        return [{k: (json.dumps(v) if isinstance(v, list) else v) for k, v in r.items()}
                for r in self.rows]

    def to_json(self, path=None):
        """``{"experiment", "config", "rows"}`` as a dict; also written to ``path`` if given."""
        payload = {"experiment": self.NAME, "config": self.config, "rows": self.rows}
        if path is not None:
            Path(path).write_text(json.dumps(payload, indent=1))
        return payload

    def save(self, out_dir):
        """Write ``NAME.csv`` (one row per table line), ``NAME.json`` and ``NAME.png``.

        Parameters
        ----------
        out_dir : str or path-like
            Created if missing.

        Returns
        -------
        list of pathlib.Path
            The three files, in that order (the figure at 110 dpi).
        """
        from hilbert_sd.experiments.tables import save_csv_json_figure, write_records

        return save_csv_json_figure(out_dir, self.NAME,
                                    csv=lambda path: write_records(self.records(), path),
                                    json=self.to_json, figure=self.plot)


class OptimalXiResult(_Study):
    """Result of :func:`optimal_xi_vs_noise`.

    Attributes
    ----------
    rows : list of dict
        One per noise variance, increasing: ``noise_var``, ``xi`` (ξ*), ``risk_ridge`` (kernel
        ridge regression at ``alpha``), ``risk_sd`` (one step of plain self-distillation,
        ξ = 1), ``risk_xi`` (one step at ξ*), ``ratio`` (``risk_xi / risk_ridge``) and
        ``best_alpha`` (the best ridge at that σ², for reference).
    alpha : float
        The fixed ridge of teacher and student.
    crossing : float
        The σ² at which ξ* = 1, ``(B + C)/(A − D)`` [derived].
    limit : float
        ξ* as σ² → ∞, ``A/D`` [derived].
    config : dict
        ``gamma``, ``alpha``, ``n``.
    """

    NAME = "optimal_xi_noise"

    def __init__(self, rows, *, alpha, crossing, limit, config):
        self.rows = rows
        self.alpha = alpha
        self.crossing = crossing
        self.limit = limit
        self.config = config

    @property
    def noise_vars(self):
        """ndarray of the noise variances."""
        return np.array([r["noise_var"] for r in self.rows])

    @property
    def xi(self):
        """ndarray of ξ* per noise variance."""
        return np.array([r["xi"] for r in self.rows])

    def format_table(self):
        """The table as aligned text."""
        from hilbert_sd.experiments.tables import format_table

        header = ["noise var", "xi*", "R ridge", "R SD (xi=1)", "R xi*", "R xi*/R ridge",
                  "best alpha"]
        keys = ["noise_var", "xi", "risk_ridge", "risk_sd", "risk_xi", "ratio", "best_alpha"]
        data = [[f"{r[k]:.4g}" for k in keys] for r in self.rows]
        return format_table(header, data)

    def summary(self):
        """The table and the crossing: what ``hilbert-sd reproduce optimal-mixing`` prints.

        Returns
        -------
        str
        """
        c = self.config
        return "\n".join([
            f"One-step optimal mixing weight xi* against the noise variance (reference inputs, "
            f"RBF gamma = {c['gamma']:g}, f* = sin(2 pi x), fixed ridge alpha = "
            f"{self.alpha:g}; exact expected in-sample risk R)",
            self.format_table(),
            f"xi* increases with the noise variance and equals 1 at noise var = "
            f"{self.crossing:.4g} [derived closed form]; its limit is {self.limit:.4g}.",
            f"Measured: increasing across the table: {_yes(np.all(np.diff(self.xi) > 0))}; "
            f"xi* > 1 at the heaviest noise: {_yes(self.xi[-1] > 1)}, < 1 at the lightest: "
            f"{_yes(self.xi[0] < 1)} (heavy noise gives xi* > 1: Das & Sanghavi 2023, "
            "qualitative [paper]).",
        ])

    def plot(self):
        """Two panels: ξ* against σ² (the crossing of 1 marked), and the risks of one step at
        ξ* and at ξ = 1 relative to the ridge fit.

        Returns
        -------
        matplotlib.figure.Figure
            Built without pyplot (nothing to close).
        """
        from matplotlib.figure import Figure

        fig = Figure(figsize=(11, 4.2), layout="constrained")
        ax_xi, ax_risk = fig.subplots(1, 2)
        v = self.noise_vars
        ax_xi.semilogx(v, self.xi, "o-", ms=4, label="ξ* [derived closed form]")
        ax_xi.axhline(1.0, color="0.4", lw=1, ls="--", label="ξ = 1 (plain self-distillation)")
        ax_xi.axhline(self.limit, color="0.6", lw=0.8, ls=":", label=f"limit {self.limit:.3g}")
        ax_xi.plot([self.crossing], [1.0], "*", ms=13, color="crimson", ls="none",
                   label=f"ξ* = 1 at σ² = {self.crossing:.3g}")
        ax_xi.set(xlabel="noise variance σ²", ylabel="optimal one-step weight ξ*",
                  title=f"ξ* exceeds 1 under heavy noise (α = {self.alpha:g})")
        ridge = np.array([r["risk_ridge"] for r in self.rows])
        ax_risk.semilogx(v, [r["risk_xi"] for r in self.rows] / ridge, "o-", ms=4,
                         label="one step at ξ*")
        ax_risk.semilogx(v, [r["risk_sd"] for r in self.rows] / ridge, "s--", ms=4,
                         label="one step at ξ = 1")
        ax_risk.axhline(1.0, color="0.4", lw=1, ls="--", label="kernel ridge, same α")
        ax_risk.set(xlabel="noise variance σ²", ylabel="expected risk / ridge risk",
                    title="Risk of one step relative to the ridge fit")
        for ax in (ax_xi, ax_risk):
            ax.legend(fontsize="small")
            ax.grid(True, which="both", alpha=0.3)
        return fig

    def __repr__(self):
        return (f"OptimalXiResult(alpha={self.alpha:g}, noise_vars={len(self.rows)}, "
                f"xi={self.xi.min():.3g}..{self.xi.max():.3g}, crossing={self.crossing:.4g})")


def optimal_xi_vs_noise(noise_vars=DEFAULT_XI_NOISE_VARS, *, alpha=1.0, gamma=80.0):
    """ξ* of one self-distillation step at a fixed ridge, against the noise variance.

    On the reference problem (:func:`reference_problem`), for each σ²:
    :func:`hilbert_sd.filters.optimal_xi`, the risks of the ridge fit, of one plain step
    (ξ = 1) and of one step at ξ*, and the best ridge (:func:`hilbert_sd.filters.optimal_ridge`).
    With ``s = λ/(λ + α)``, ``w = 1 − s`` and the sums ``A = Σ s²w``, ``B = Σ s w² θ²``,
    ``C = Σ s² w² θ²``, ``D = Σ s² w²``, ``ξ* = (A σ² − B)/(C + D σ²)`` [derived], so ξ* = 1
    at ``σ² = (B + C)/(A − D)`` and ξ* → A/D as σ² → ∞.

    Each σ² is a simulation of the one runner (method ``optimal_mixing``, ``study = "xi"``,
    :func:`run`) on the config of ``hilbert-sd reproduce optimal-mixing`` with these
    arguments, run into a temporary store
    (:func:`~hilbert_sd.experiments.reports.run_rows`); the result is built from its rows by
    :func:`xi_result_from_rows`, as the command's report builds it.

    Parameters
    ----------
    noise_vars : sequence of float, default=DEFAULT_XI_NOISE_VARS
        σ² ≥ 0, distinct, sorted increasingly in the result.
    alpha : float, default=1.0
        Ridge of teacher and student (scikit-learn's convention on the 11 × 11 kernel matrix),
        > 0.
    gamma : float, default=80.0
        RBF kernel parameter.

    Returns
    -------
    OptimalXiResult

    Raises
    ------
    ValueError
        An argument out of range, e.g. a negative or repeated noise variance (the config's
        validation names it, as in ``method[0].noise_var[0]``).
    """
    return xi_result_from_rows(_run_study("xi", noise_vars, gamma=gamma, alpha=alpha))


def _xi_constants(lam, theta, alpha):
    """The crossing (B + C)/(A − D) of ξ* = 1 and the limit A/D [derived]."""
    t2 = theta**2
    s, w = filters._shrinks(lam, alpha)
    A, B = np.sum(s**2 * w), np.sum(s * w**2 * t2)
    C, D = np.sum((s * w) ** 2 * t2), np.sum((s * w) ** 2)
    return float((B + C) / (A - D)), float(A / D)


def _xi_row(lam, theta, alpha, v):
    """One row of :class:`OptimalXiResult` (noise variance ``v``)."""
    opt = filters.optimal_xi(lam, alpha, theta, v)
    return {
        "noise_var": v, "xi": float(opt.xi), "risk_ridge": opt.ridge_risk,
        "risk_sd": _risk(filters.self_distillation(lam, alpha, 1)[1], theta**2, v),
        "risk_xi": opt.risk, "ratio": opt.risk / opt.ridge_risk,
        "best_alpha": float(filters.optimal_ridge(lam, theta, v).alpha),
    }


class KStepResult(_Study):
    """Result of :func:`kstep_vs_best_ridge`.

    Attributes
    ----------
    rows : list of dict
        One per (noise variance, k): ``noise_var``, ``k``, ``best_alpha``, ``ridge_risk`` (the
        best ridge's risk), ``risk`` (the optimal k-step schedule's at ``best_alpha``),
        ``ratio`` (``risk / ridge_risk``), ``oracle_ratio`` (the oracle filter's risk over the
        best ridge's), ``xi`` (the schedule ξ_1..ξ_k, a list) and ``ill_conditioned``
        (:func:`~hilbert_sd.filters.optimal_schedule` warned that the schedule may fall short
        of the optimum; the risk is the returned schedule's either way).
    config : dict
        ``gamma``, ``max_steps``, ``noise_vars``, ``n``.
    eigenvalues, theta : ndarray of shape (n,)
        The problem (:func:`reference_problem`), for the figure.
    """

    NAME = "kstep_mixing"

    def __init__(self, rows, *, config, eigenvalues, theta):
        self.rows = rows
        self.config = config
        self.eigenvalues = eigenvalues
        self.theta = theta

    @property
    def noise_vars(self):
        """The noise variances, in the order of the table's columns."""
        return list(self.config["noise_vars"])

    def ratios(self, noise_var):
        """ndarray of shape (max_steps + 1,): best k-step risk / best ridge risk, k = 0, 1, …"""
        return np.array([r["ratio"] for r in self.rows if r["noise_var"] == noise_var])

    def format_table(self):
        """The ratios as aligned text: one line per k, one column per noise variance, then
        the oracle's ratio, the best ridge and its risk."""
        from hilbert_sd.experiments.tables import format_table

        cols = self.noise_vars
        first = [next(r for r in self.rows if r["noise_var"] == v) for v in cols]
        header = ["k"] + [f"ratio, noise var {v:g}" for v in cols]
        data = [[k] + [f"{self.ratios(v)[k]:.4f}" for v in cols]
                for k in range(self.config["max_steps"] + 1)]
        data.append(["oracle"] + [f"{r['oracle_ratio']:.4f}" for r in first])
        data.append(["best alpha"] + [f"{r['best_alpha']:.4g}" for r in first])
        data.append(["ridge risk"] + [f"{r['ridge_risk']:.4g}" for r in first])
        return format_table(header, data)

    def summary(self):
        """The table of ratios and what it shows.

        Returns
        -------
        str
        """
        ill = [(r["noise_var"], r["k"]) for r in self.rows if r["ill_conditioned"]]
        lines = [
            "Optimal k-step mixed self-distillation at the best ridge: expected risk / best "
            f"ridge risk (reference inputs, RBF gamma = {self.config['gamma']:g}, "
            "f* = sin(2 pi x))",
            self.format_table(),
            "Measured: non-increasing in k: "
            f"{_yes(all(np.all(np.diff(self.ratios(v)) <= 1e-12) for v in self.noise_vars))}; "
            "below the best ridge for every k >= 2: "
            f"{_yes(all(np.all(self.ratios(v)[2:] < 1) for v in self.noise_vars))} (k = 0, 1 "
            "equal it: xi* = 0 at the best ridge [derived]; k-step self-distillation beats the "
            "best ridge: Pareek, Du & Oh 2024, qualitative [paper]). Oracle: "
            "theta^2/(theta^2 + noise var), reached when k is at least the number of distinct "
            "positive eigenvalues [derived].",
        ]
        if ill:
            lines.append("ill-conditioned schedules (noise var, k): "
                         + ", ".join(f"({v:g}, {k})" for v, k in ill))
        return "\n".join(lines)

    def plot(self):
        """Two panels: the ratio against k per noise variance (the oracle dashed), and the
        family's filters at the best ridge of the middle noise variance
        (:func:`hilbert_sd.plotting.plot_family_filters`).

        Returns
        -------
        matplotlib.figure.Figure
            Built without pyplot (nothing to close).
        """
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        from hilbert_sd import plotting

        fig = Figure(figsize=(12, 4.4), layout="constrained")
        ax_ratio, ax_filters = fig.subplots(1, 2)
        k = np.arange(self.config["max_steps"] + 1)
        for v in self.noise_vars:
            (line,) = ax_ratio.plot(k, self.ratios(v), "o-", ms=4, label=f"σ² = {v:g}")
            oracle = next(r["oracle_ratio"] for r in self.rows if r["noise_var"] == v)
            ax_ratio.axhline(oracle, color=line.get_color(), lw=0.8, ls="--")
        ax_ratio.axhline(1.0, color="0.4", lw=1, ls=":", label="best ridge")
        ax_ratio.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_ratio.set(xlabel="steps k", ylabel="best k-step risk / best ridge risk",
                     title="Optimal k-step mixing at the best ridge (dashed: oracle)")
        ax_ratio.legend(fontsize="small")
        ax_ratio.grid(True, alpha=0.3)
        v = self.noise_vars[len(self.noise_vars) // 2]
        alpha = next(r["best_alpha"] for r in self.rows if r["noise_var"] == v)
        plotting.plot_family_filters(
            self.eigenvalues, family_filters(self.eigenvalues, self.theta, v, alpha),
            ax=ax_filters)
        ax_filters.set_title(f"The family at the best ridge α = {alpha:.3g} (σ² = {v:g})")
        return fig

    def __repr__(self):
        c = self.config
        return (f"KStepResult(noise_vars={c['noise_vars']}, max_steps={c['max_steps']}, "
                f"rows={len(self.rows)})")


def family_filters(eigenvalues, theta, noise_var, alpha, *, steps=2):
    """One filter of every member of the family at the ridge α, for a figure.

    Kernel ridge; plain self-distillation and L2-boosting at step ``steps``; the optimal
    mixed schedule of ``steps`` steps (:func:`hilbert_sd.filters.optimal_schedule`); gradient
    flow at η t/n = 1/α (η = 1); spectral cut-off at τ = α; the oracle θ²/(θ² + σ²).

    Parameters
    ----------
    eigenvalues, theta : ndarray of shape (n,)
        The problem (:func:`reference_problem`).
    noise_var : float
        σ² > 0.
    alpha : float
        The ridge.
    steps : int, default=2

    Returns
    -------
    dict of str to ndarray of shape (n,)
        Labelled filters for :func:`hilbert_sd.plotting.plot_family_filters`.
    """
    lam = eigenvalues
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalWarning)
        mixed = filters.optimal_schedule(lam, alpha, theta, noise_var, steps)
    t2 = theta**2
    xi = ", ".join(f"{x:.2f}" for x in mixed.xi)
    return {
        "kernel ridge": filters.ridge(lam, alpha)[0],
        f"self-distillation, round {steps}": filters.self_distillation(lam, alpha, steps)[-1],
        f"optimal mixed SD, ξ = ({xi})": mixed.filter,
        f"L2-boosting, step {steps}": filters.boosting(lam, alpha, steps)[-1],
        "gradient flow, ηt/n = 1/α": filters.gradient_flow(lam, lam.size / alpha)[0],
        "spectral cut-off, τ = α": filters.spectral_cutoff(lam, alpha)[0],
        "oracle θ²/(θ² + σ²)": t2 / (t2 + noise_var),
    }


def kstep_vs_best_ridge(noise_vars=DEFAULT_KSTEP_NOISE_VARS, *, max_steps=DEFAULT_MAX_STEPS,
                        gamma=80.0):
    """Optimal k-step mixed self-distillation at the best ridge, against the best ridge.

    On the reference problem (:func:`reference_problem`), for each σ²: the best ridge
    (:func:`hilbert_sd.filters.optimal_ridge`) and, at that ridge, the optimal schedule of
    k = 0, …, ``max_steps`` steps (:func:`hilbert_sd.filters.optimal_schedule`) with its
    risk over the best ridge's risk; the oracle filter θ²/(θ² + σ²) gives the floor.

    Each σ² is a simulation of the one runner (method ``optimal_mixing``,
    ``study = "kstep"``, :func:`run`) on the config of ``hilbert-sd reproduce optimal-mixing``
    with these arguments, run into a temporary store
    (:func:`~hilbert_sd.experiments.reports.run_rows`); the result is built from its rows by
    :func:`kstep_result_from_rows`, as the command's report builds it.

    Parameters
    ----------
    noise_vars : sequence of float, default=DEFAULT_KSTEP_NOISE_VARS
        σ² > 0 (σ² = 0 makes the best ridge the limit α → 0), distinct; the table keeps
        their order.
    max_steps : int, default=DEFAULT_MAX_STEPS
        Largest k, 0 ≤ max_steps ≤ 50.
    gamma : float, default=80.0
        RBF kernel parameter.

    Returns
    -------
    KStepResult

    Raises
    ------
    ValueError
        An argument out of range, e.g. a negative or repeated noise variance (the config's
        validation names it, as in ``method[0].noise_var[0]``).
    """
    return kstep_result_from_rows(
        _run_study("kstep", noise_vars, gamma=gamma, max_steps=max_steps))


def _run_study(study, noise_vars, *, gamma, **params):
    """The store rows of one study on the reference problem, run by the one runner: the
    shipped config (``optimal_mixing.toml``) with ``noise_vars`` as its grid axis. NumPy
    scalars enter as Python numbers; the config's validation checks every value."""
    from hilbert_sd.experiments.reports import run_rows

    def plain(v):
        return v.item() if isinstance(v, np.generic) else v

    raw = {"experiment": {"name": "optimal-mixing", "seeds": [0]},
           "data": {"path": "hilbert_sd:data/mobahi_toy.csv", "target": "y",
                    "truth": "sin2pi"},
           "kernel": {"name": "rbf", "gamma": plain(gamma)},
           "method": [{"name": "optimal_mixing", "study": study,
                       "noise_var": [plain(v) for v in noise_vars],
                       **{k: plain(v) for k, v in params.items()}}]}
    return run_rows(raw, name="optimal-mixing")


def _kstep_rows(lam, theta, v, max_steps):
    """The rows of :class:`KStepResult` of one noise variance ``v``, k = 0 .. max_steps."""
    t2 = theta**2
    best = filters.optimal_ridge(lam, theta, v)
    oracle = _risk(t2 / (t2 + v), t2, v)
    rows = []
    for k in range(max_steps + 1):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NumericalWarning)
            opt = filters.optimal_schedule(lam, best.alpha, theta, v, k)
        rows.append({
            "noise_var": v, "k": k, "best_alpha": float(best.alpha),
            "ridge_risk": float(best.risk), "risk": opt.risk,
            "ratio": opt.risk / best.risk, "oracle_ratio": oracle / best.risk,
            "xi": [float(x) for x in opt.xi],
            "ill_conditioned": any(issubclass(c.category, NumericalWarning) for c in caught),
        })
    return rows


# ============================================================================ the runner's method
def run(config, inputs, seed):
    """``method = "optimal_mixing"`` of the experiment runner: exact expected risks at one
    noise variance on the group's eigendecomposition, f* the data's ``truth`` at the inputs.

    ``study = "xi"``: the row of :func:`optimal_xi_vs_noise` at ``noise_var`` (keys of
    :class:`OptimalXiResult` rows, with ``crossing`` and ``limit``). ``study = "kstep"``: the
    rows of :func:`kstep_vs_best_ridge` for k = 0 .. ``max_steps`` as ``risk[k]``,
    ``ratio[k]``, ``ill_conditioned[k]``, ``xi[k][j]``, with ``best_alpha``, ``ridge_risk``,
    ``oracle_ratio`` and the problem (``eigenvalue[i]``, ``theta[i]``).
    """
    from hilbert_sd.experiments.registry import TRUTHS, load_attribute

    m, data = config["method"], config["data"]
    if data.get("truth") is None:
        raise ValueError("method optimal_mixing needs data.truth (the noise-free f*)")
    f_star = load_attribute(TRUTHS[data["truth"]])(inputs.X)
    spectrum = inputs.spectrum
    lam, theta = spectrum.eigenvalues, spectrum.project(f_star)
    v = float(m["noise_var"])
    if m["study"] == "xi":
        crossing, limit = _xi_constants(lam, theta, m["alpha"])
        return {**_xi_row(lam, theta, m["alpha"], v), "crossing": crossing, "limit": limit,
                "n": int(lam.size)}
    rows = _kstep_rows(lam, theta, v, m["max_steps"])
    out = {k: rows[0][k] for k in ("noise_var", "best_alpha", "ridge_risk", "oracle_ratio")}
    for r in rows:
        k = r["k"]
        out.update({f"risk[{k}]": r["risk"], f"ratio[{k}]": r["ratio"],
                    f"ill_conditioned[{k}]": r["ill_conditioned"]})
        for j, x in enumerate(r["xi"]):
            out[f"xi[{k}][{j}]"] = x
    for name, values in (("eigenvalue", lam), ("theta", theta)):
        for i, x in enumerate(np.asarray(values, dtype=np.float64).tolist()):
            out[f"{name}[{i}]"] = x
    return out


def _study(rows, study):
    """The finished ``optimal_mixing`` simulations of ``study`` among store rows, in the
    sweep's order."""
    from hilbert_sd.experiments.reports import finished

    done = [r for r in finished(rows, "optimal_mixing")
            if r["config"]["method"]["study"] == study]
    if not done:
        raise ValueError(f'no finished optimal_mixing simulation of study = "{study}" to '
                         "report on")
    return done


def xi_result_from_rows(rows):
    """The :class:`OptimalXiResult` of the ``study = "xi"`` simulations among store rows.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows` (other methods and
        studies are ignored); ridge, γ and n are those of the first.

    Returns
    -------
    OptimalXiResult
        One table row per simulation, noise variances increasing.

    Raises
    ------
    ValueError
        When there is no finished simulation of the study.
    """
    xi = sorted(_study(rows, "xi"), key=lambda r: r["config"]["method"]["noise_var"])
    c, res = xi[0]["config"], xi[0]["results"]
    keys = ("noise_var", "xi", "risk_ridge", "risk_sd", "risk_xi", "ratio", "best_alpha")
    alpha = float(c["method"]["alpha"])
    return OptimalXiResult(
        [{k: r["results"][k] for k in keys} for r in xi], alpha=alpha,
        crossing=res["crossing"], limit=res["limit"],
        config={"gamma": float(c["kernel"]["gamma"]), "alpha": alpha, "n": res["n"]})


def kstep_result_from_rows(rows):
    """The :class:`KStepResult` of the ``study = "kstep"`` simulations among store rows.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows` (other methods and
        studies are ignored); ``max_steps``, γ and the problem are those of the first.

    Returns
    -------
    KStepResult
        ``max_steps + 1`` table rows per simulation, in the sweep's order.

    Raises
    ------
    ValueError
        When there is no finished simulation of the study.
    """
    from hilbert_sd.experiments.reports import series

    kstep = _study(rows, "kstep")
    c = kstep[0]["config"]
    max_steps = c["method"]["max_steps"]
    table = []
    for r in kstep:
        res = r["results"]
        for k in range(max_steps + 1):
            table.append({
                "noise_var": res["noise_var"], "k": k, "best_alpha": res["best_alpha"],
                "ridge_risk": res["ridge_risk"], "risk": res[f"risk[{k}]"],
                "ratio": res[f"ratio[{k}]"], "oracle_ratio": res["oracle_ratio"],
                "xi": series(res, f"xi[{k}]").tolist(),
                "ill_conditioned": res[f"ill_conditioned[{k}]"]})
    first = kstep[0]["results"]
    lam = series(first, "eigenvalue")
    return KStepResult(
        table, config={"gamma": float(c["kernel"]["gamma"]), "max_steps": int(max_steps),
                       "noise_vars": [r["results"]["noise_var"] for r in kstep],
                       "n": int(lam.size)},
        eigenvalues=lam, theta=series(first, "theta"))


def report(rows, out_dir):
    """The report of ``hilbert-sd reproduce optimal-mixing``: the tables, JSON and figures of
    both studies (``optimal_xi_noise.*``, ``kstep_mixing.*``) from the store's rows
    (:func:`xi_result_from_rows`, :func:`kstep_result_from_rows`; a study without
    simulations is left out).

    Returns
    -------
    dict
        ``{"files": [paths written, sorted], "summary": both tables}``.

    Raises
    ------
    ValueError
        When there is no finished ``optimal_mixing`` simulation.
    """
    from hilbert_sd.experiments.reports import finished

    studies = {r["config"]["method"]["study"] for r in finished(rows, "optimal_mixing")}
    results = [build(rows) for study, build in (("xi", xi_result_from_rows),
                                                ("kstep", kstep_result_from_rows))
               if study in studies]
    files = [p for r in results for p in r.save(out_dir)]
    return {"files": sorted(files), "summary": "\n\n".join(r.summary() for r in results)}
