"""Noisy labels in the NTK regime: self-distillation vs early stopping
(:doc:`/topics/noisy_labels`).

One data set per seed (clustered Gaussian classes, or scikit-learn's digits), one NTK Gram
matrix and one eigendecomposition; then for every noise rate the labels are corrupted and
every method is run from that single eigendecomposition:

- ``gd_end``: gradient descent at the last step ``t_end`` (it has memorized the noise);
- ``gd_oracle``: gradient descent at its best step for the clean test accuracy (oracle early
  stopping, chosen on the test set: an upper reference, not a method);
- ``ema_sequential``, ``ema_simultaneous``: the running-average rule at ``t_end``;
- ``anchored_soft``: the soft anchored rule with a constant weight at ``t_end`` (exactly
  gradient descent with step ``η(1 − a)``);
- ``anchored_soft_accuracy``: the soft anchored rule with ``a_t`` = training accuracy;
- ``anchored_hard``, ``anchored_hard_accuracy``: hard (argmax) targets, constant or
  accuracy weight; the constant weight starts after a warm-up of :func:`hard_warmup` steps
  (plain gradient descent until then);
- ``krr_oracle``: kernel ridge regression with the ridge of best test accuracy (oracle).

Accuracy is the clean test accuracy of the argmax of the one-hot regression outputs.
"""

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hilbert_sd import filters
from hilbert_sd._filter_path import filter_path
from hilbert_sd.datasets import one_hot
from hilbert_sd.noisy_labels import (
    accuracy,
    add_label_noise,
    air_curves,
    energy_fraction,
    train,
    train_many,
)

__all__ = [
    "METHODS",
    "NoisyLabelsResult",
    "hard_warmup",
    "noisy_labels_config",
    "plot_accuracy_curves",
    "plot_air",
    "run_noisy_labels",
]

#: Label noise of data seed s is drawn with seed NOISE_SEED_OFFSET + s (not s itself, whose
#: stream drew the data).
NOISE_SEED_OFFSET = 1_000_003
#: Methods of the experiment, in table order.
METHODS = (
    "gd_end",
    "gd_oracle",
    "ema_sequential",
    "ema_simultaneous",
    "anchored_soft",
    "anchored_soft_accuracy",
    "anchored_hard",
    "anchored_hard_accuracy",
    "krr_oracle",
)
#: The self-distillation rules (evaluated at the end of training).
SD_METHODS = METHODS[2:8]
# Keyword arguments of train() per self-distillation method; "a" names the experiment's weight.
_RUNS = {
    "ema_sequential": {"rule": "ema", "ema_form": "sequential", "a": "ema"},
    "ema_simultaneous": {"rule": "ema", "ema_form": "simultaneous", "a": "ema"},
    "anchored_soft": {"rule": "anchored", "anchor": "soft", "a": "soft"},
    "anchored_soft_accuracy": {"rule": "anchored", "anchor": "soft", "a": "acc"},
    "anchored_hard": {"rule": "anchored", "anchor": "hard", "a": "hard"},
    "anchored_hard_accuracy": {"rule": "anchored", "anchor": "hard", "a": "acc"},
}

#: Defaults of the clustered data set: 4 classes of 2 Gaussian clusters in 20 dimensions.
CLUSTERED_DEFAULTS = {"n_features": 20, "n_classes": 4, "clusters_per_class": 2,
                      "cluster_std": 1.0, "center_scale": 1.0}


@dataclass(repr=False)
class NoisyLabelsResult:
    """Result of :func:`run_noisy_labels`.

    Attributes
    ----------
    rows : list of dict
        One row per (seed, noise rate, method): ``test_accuracy`` (clean test labels),
        ``step`` (the step the value refers to; the chosen ridge for ``krr_oracle`` is in
        ``ridge``), ``train_accuracy_noisy`` (memorization: agreement with the noisy training
        labels), ``train_accuracy_clean``.
    curves : dict
        ``(seed, rate) -> dict`` with ``"times"`` (recorded steps), ``"accuracy"`` (method ->
        clean test accuracy at every recorded step), ``"G"``/``"N"`` (method -> G_k(t) and
        N_k(t)), ``"gd_times"``/``"gd_accuracy"`` (the dense grid of the oracle early stop),
        ``"krr"`` (ridges and accuracies).
    air : dict
        ``(seed, rate) -> dict`` with ``k``, ``E_signal`` and ``E_noise`` (E_j for
        j = 1 .. n of the clean one-hot labels and of the label noise ỹ − y*).
    noise : list of dict
        The record of every label-noise draw (model, rate, seed, realized rate).
    config : dict
    timings : dict
        Seconds spent training (``"train"``) and predicting (``"predict"``), summed over the
        simulations (``"simulations"``, ``"total"``).
    """

    rows: list
    curves: dict
    air: dict
    noise: list
    config: dict
    timings: dict = field(default_factory=dict)

    def by_rate(self, rate=None):
        """Mean test accuracy per (rate, method) over seeds, and the headline comparisons.

        Parameters
        ----------
        rate : float, optional
            Only this noise rate.

        Returns
        -------
        list of dict
            One entry per noise rate: ``accuracy`` (method -> mean over seeds),
            ``matches_oracle`` (SD method -> absolute difference to gd_oracle at most 2
            points),
            ``gap_to_oracle`` (SD method -> acc − gd_oracle), ``gd_end_worse``
            (gd_end more than 2 points below gd_oracle), ``gd_end_below`` (SD method ->
            gd_end more than 2 points below it).
        """
        rates = sorted({r["noise_rate"] for r in self.rows})
        if rate is not None:
            rates = [r for r in rates if math.isclose(r, rate)]
        out = []
        for rt in rates:
            acc = {}
            for m in METHODS:
                vals = [r["test_accuracy"] for r in self.rows
                        if r["method"] == m and math.isclose(r["noise_rate"], rt)]
                if vals:
                    acc[m] = float(np.mean(vals))
            oracle = acc["gd_oracle"]
            gap = {m: acc[m] - oracle for m in SD_METHODS if m in acc}
            out.append({
                "noise_rate": rt,
                "n_seeds": len({r["seed"] for r in self.rows}),
                "accuracy": acc,
                "gap_to_oracle": gap,
                "matches_oracle": {m: bool(abs(g) <= 0.02) for m, g in gap.items()},
                "gd_end_worse": bool(oracle - acc["gd_end"] > 0.02),
                "gd_end_below": {m: bool(acc[m] - acc["gd_end"] > 0.02) for m in gap},
            })
        return out

    def table(self):
        """Plain-text table: mean clean test accuracy (%) per noise rate and method."""
        summ = self.by_rate()
        head = f"{'method':<24}" + "".join(f"{'rate ' + format(s['noise_rate'], 'g'):>11}"
                                           for s in summ)
        lines = [head]
        for m in METHODS:
            cells = "".join(f"{100 * s['accuracy'][m]:>11.1f}" if m in s["accuracy"]
                            else f"{'-':>11}" for s in summ)
            lines.append(f"{m:<24}{cells}")
        return "\n".join(lines)

    def to_json(self):
        """JSON-ready dict: config, noise records, timings, summary, rows and AIR numbers."""
        air = []
        for (seed, rate), a in self.air.items():
            k = a["k"]
            air.append({"seed": seed, "noise_rate": rate, "k": k,
                        "E_k_signal": float(a["E_signal"][k - 1]),
                        "E_k_noise": float(a["E_noise"][k - 1]),
                        "k_over_n": k / a["E_signal"].shape[0]})
        return {"config": self.config, "noise": self.noise, "timings": self.timings,
                "summary": self.by_rate(), "air": air, "rows": self.rows}

    def summary(self):
        """What ``hilbert-sd noisy-labels`` prints: a header, :meth:`table`, one line per noise
        rate on the headline comparisons (:meth:`by_rate`) and the time per phase.

        Returns
        -------
        str
        """
        c = self.config
        lines = [f"clean test accuracy (%), mean over seeds {c['seeds']}; {c['kernel']} kernel, "
                 f"{c['dataset']} data, n={c['n']}, {c['noise_model']} noise",
                 self.table()]
        for s in self.by_rate():
            close = [m for m in SD_METHODS if s["matches_oracle"][m]]
            lines.append(
                f"rate {s['noise_rate']:g}: within 2 points of the oracle early stop at the "
                f"end: {', '.join(close) if close else 'none'}; gradient descent at the end is "
                f"{'worse' if s['gd_end_worse'] else 'not worse'} than the oracle early stop "
                f"({100 * (s['accuracy']['gd_end'] - s['accuracy']['gd_oracle']):+.1f} "
                "points)")
        lines.append(f"time: {self.timings.get('total', float('nan')):.1f} s (" + ", ".join(
            f"{k} {v:.1f} s" for k, v in self.timings.items() if k != "total") + ")")
        return "\n".join(lines)

    def plot(self):
        """The two figures: accuracy against training step (:func:`plot_accuracy_curves`)
        and the AIR panels (:func:`plot_air`), for the first seed.

        Returns
        -------
        list of matplotlib.figure.Figure
            Pyplot figures; close them when done.
        """
        return [plot_accuracy_curves(self), plot_air(self)]

    def write_curves(self, path):
        """Write every recorded curve as CSV: one row per (seed, rate, method, step) with
        the clean test accuracy, G_k and N_k (``"gd"``: the dense grid of gradient descent).
        """
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["seed", "noise_rate", "method", "step", "test_accuracy", "G_k", "N_k"])
            for (seed, rate), c in self.curves.items():
                for t, acc, g, n_ in zip(c["gd_times"], c["gd_accuracy"], c["G"]["gd_end"],
                                         c["N"]["gd_end"]):
                    w.writerow([seed, rate, "gd", int(t), f"{acc:.6g}", f"{g:.6g}",
                                f"{n_:.6g}"])
                for name, accs in c["accuracy"].items():
                    for t, acc, g, n_ in zip(c["times"], accs, c["G"][name], c["N"][name]):
                        w.writerow([seed, rate, name, int(t), f"{acc:.6g}", f"{g:.6g}",
                                    f"{n_:.6g}"])

    def save(self, out_dir):
        """Write the tables and figures of ``hilbert-sd noisy-labels`` into ``out_dir``.

        ``noisy_labels.csv`` (:attr:`rows`), ``noisy_labels_curves.csv``
        (:meth:`write_curves`), ``noisy_labels.json`` (:meth:`to_json`),
        ``noisy_labels_accuracy.png`` and ``noisy_labels_air.png`` (100 dpi).

        Parameters
        ----------
        out_dir : str or path-like
            Created if missing.

        Returns
        -------
        list of pathlib.Path
            The five files, in that order.
        """
        import matplotlib.pyplot as plt

        from hilbert_sd.experiments.tables import write_records

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "noisy_labels.csv", out / "noisy_labels_curves.csv",
                 out / "noisy_labels.json"]
        write_records(self.rows, paths[0])
        self.write_curves(paths[1])
        with open(paths[2], "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, indent=1, default=float)
        for name, fig in zip(("noisy_labels_accuracy.png", "noisy_labels_air.png"),
                             self.plot()):
            fig.savefig(out / name, dpi=100)
            plt.close(fig)
            paths.append(out / name)
        return paths

    def __repr__(self):
        c = self.config
        return (f"NoisyLabelsResult(n={c.get('n')}, n_test={c.get('n_test')}, "
                f"noise_rates={c.get('noise_rates')}, noise_model={c.get('noise_model')!r}, "
                f"seeds={c.get('seeds')}, kernel={c.get('kernel')!r}, "
                f"dataset={c.get('dataset')!r}, rows={len(self.rows)})")


def _refresh_grid(t_end, per_decade):
    """0 and about ``per_decade`` geometrically spaced steps per decade up to ``t_end``."""
    if t_end <= 1:
        return np.array([0], dtype=np.int64)
    num = max(2, int(round(per_decade * math.log10(t_end))) + 1)
    g = np.unique(np.round(np.geomspace(1, t_end, num)).astype(np.int64))
    return np.concatenate([[0], g[g < t_end]])


def hard_warmup(eigenvalues, n_classes, learning_rate, t_end):
    """First step of the constant-weight hard anchored rule: ``⌈1/(η λ_C)⌉``, C classes.

    The hard rule's targets ``(1 − a) ỹ + a g(u_t)`` have the argmax of ``g(u_t)`` when
    ``a > 1/2``: the labels then no longer correct any prediction, and the rule keeps what it
    predicts when it starts. Before gradient descent has fitted the top C eigen-directions,
    the predictions are those of the top direction; when it dominates the spectrum (the
    digits, inputs in [0, 1]: ``λ_1 ≈ 40 λ_10`` with the ``arccos`` kernel) and is fitted in one
    step (``η = 1/λ_1``), the class shares of the hard labels feed back through it: after
    3 steps every point had one class and the rule ended at chance (10 %) for every
    ``a >= 0.6``. Holding ``a = 0`` (gradient descent) until ``t_0 = ⌈1/(η λ_C)⌉``, when the
    C-th direction has been fitted to ``1 − 1/e``, removes the lock-in: on the digits
    (n = 1200, seed 0, a = 0.7, ``t_0 = 44``) 97.7 % at noise 0.2 and 0.4 instead of 10.4 %;
    on the clustered data of the defaults (``t_0 = 2``) 98.3 / 97.6 / 97.3 / 97.5 % at noise
    0.2 / 0.4 / 0.6 / 0.8 instead of 98.2 / 97.5 / 97.4 / 84.4 %.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
        Of the Gram matrix, in decreasing order.
    n_classes : int
    learning_rate : float
    t_end : int
        Last step; the warm-up is at most ``t_end``.

    Returns
    -------
    int
        ``t_0`` in [1, t_end].
    """
    lam_c = float(eigenvalues[min(max(int(n_classes), 1), eigenvalues.shape[0]) - 1])
    if not lam_c > 0:
        return int(t_end)
    return int(min(max(math.ceil(1.0 / (learning_rate * lam_c)), 1), t_end))


def _time_grid(t_end, num):
    g = np.unique(np.round(np.geomspace(1, t_end, num)).astype(np.int64))
    return np.concatenate([[0], g]).astype(np.float64)


def run_noisy_labels(n=2000, *, n_test=1000, noise_rates=(0.2, 0.4, 0.6, 0.8),
                     noise_model="symmetric", seeds=(0,), kernel="arccos", kernel_params=None,
                     dataset="clustered", data_params=None, t_end=100_000, n_times=41,
                     learning_rate=None, ema_a=0.1, anchored_a=0.5, hard_a=0.7,
                     refresh_per_decade=20, k=None, progress=False):
    """Clean test accuracy of gradient descent, early stopping and self-distillation.

    Parameters
    ----------
    n : int, default=2000
        Training samples.
    n_test : int, default=1000
        Test samples (clean labels).
    noise_rates : sequence of float in [0, 1], default=(0.2, 0.4, 0.6, 0.8)
    noise_model : {"symmetric", "symmetric_other", "pair"}, default="symmetric"
    seeds : sequence of int, default=(0,)
        Each seed draws its own data set and label noise.
    kernel : {"arccos", "ntk"}, default="arccos"
    kernel_params : dict, optional
        For ``"ntk"``: ``depth``, ``w_std``, ``b_std``.
    dataset : {"clustered", "digits"}, default="clustered"
    data_params : dict, optional
        Parameters of the ``clustered`` generator (defaults :data:`CLUSTERED_DEFAULTS`).
    t_end : int, default=100000
        Last step of training.
    n_times : int, default=41
        Recorded steps (log-spaced, plus 0) for the curves.
    learning_rate : float, optional
        Step η; default ``1/λ_max``.
    ema_a : float, default=0.1
        Weight of the "ema" rules (their limit is KRR with ridge ``ema_a/η``).
    anchored_a : float, default=0.5
        Constant weight of ``anchored_soft``.
    hard_a : float, default=0.7
        Constant weight of ``anchored_hard``, from step :func:`hard_warmup` on (gradient
        descent before it). Above 1/2 the hard labels outvote the noisy ones, which is what
        lets the rule ignore label noise; at or below 1/2 the labels win every argmax and the
        rule ends where gradient descent does.
    refresh_per_decade : int, default=20
        The explicitly iterated rules refresh their hard labels / accuracy weight at 0 and on
        a geometric grid with this many steps per decade (plus every step below it).
    k : int, optional
        Number of top eigenvectors for the AIR curves; default: the smallest k with
        E_k(clean one-hot labels) >= 0.9.
    progress : bool, default=False
        The runner's progress lines on stderr.

    Returns
    -------
    NoisyLabelsResult
        Built from the rows of the ``noisy_labels`` simulations (:func:`result_from_rows`),
        one per (seed, noise rate), run through the one runner into a temporary store.

    Raises
    ------
    ValueError
        A parameter out of range (named with its key in the config, e.g. ``data.n_test``).
    """
    from hilbert_sd.experiments.reports import run_rows

    raw = noisy_labels_config(
        n, n_test=n_test, noise_rates=noise_rates, noise_model=noise_model, seeds=seeds,
        kernel=kernel, kernel_params=kernel_params, dataset=dataset, data_params=data_params,
        t_end=t_end, n_times=n_times, learning_rate=learning_rate, ema_a=ema_a,
        anchored_a=anchored_a, hard_a=hard_a, refresh_per_decade=refresh_per_decade, k=k)
    return result_from_rows(run_rows(raw, name="noisy-labels", progress=progress))


def noisy_labels_config(n=2000, *, n_test=1000, noise_rates=(0.2, 0.4, 0.6, 0.8),
                        noise_model="symmetric", seeds=(0,), kernel="arccos",
                        kernel_params=None, dataset="clustered", data_params=None,
                        t_end=100_000, n_times=41, learning_rate=None, ema_a=0.1,
                        anchored_a=0.5, hard_a=0.7, refresh_per_decade=20, k=None):
    """The experiment config :func:`run_noisy_labels` runs (arguments as there).

    Returns
    -------
    dict
        The config in the form of a TOML file, for
        :func:`~hilbert_sd.experiments.config.parse_config`.
    """
    method = {"name": "noisy_labels", "noise_rate": [float(r) for r in noise_rates],
              "noise_model": noise_model, "t_end": t_end, "n_times": n_times,
              "learning_rate": learning_rate, "ema_a": ema_a, "anchored_a": anchored_a,
              "hard_a": hard_a, "refresh_per_decade": refresh_per_decade, "k": k}
    raw = {"experiment": {"name": "noisy-labels", "seeds": [0]},
           "data": {"generator": dataset, "n_samples": n, "n_test": n_test,
                    "seed": list(seeds), **(data_params or {})},
           "kernel": {"name": kernel, **(kernel_params or {})},
           "method": {key: v for key, v in method.items() if v is not None}}
    return raw


# ============================================================================ plots
_STYLE = {
    "gd_end": dict(color="black", lw=2.0, label="gradient descent"),
    "ema_sequential": dict(color="tab:blue", label="ema, sequential"),
    "ema_simultaneous": dict(color="tab:cyan", ls="--", label="ema, simultaneous"),
    "anchored_soft": dict(color="tab:orange", label="anchored soft, const a"),
    "anchored_soft_accuracy": dict(color="tab:red", label="anchored soft, a = accuracy"),
    "anchored_hard": dict(color="tab:green", label="anchored hard, const a"),
    "anchored_hard_accuracy": dict(color="tab:purple", ls="--",
                                   label="anchored hard, a = accuracy"),
}


# Panel size and margins of the accuracy figure in inches, not in fractions of the figure: a
# fraction sized for two rows of panels is half as much room with one row (titles under the
# suptitle, x-labels cut off). Fixed margins, not constrained layout, which triples the
# drawing time of these figures.
_ACCURACY_PANEL = np.array([6.0, 4.2])  # width, height of one panel with its gaps
_ACCURACY_MARGIN = np.array([[0.75, 0.6],  # left (y-label, ticks), bottom (x-label, ticks)
                             [3.2, 0.75]])  # right (the legend), top (suptitle, titles)
_ACCURACY_GAP = np.array([0.9, 1.0])  # between columns (y-label), between rows (x-label, title)


def _fixed_margins(fig, rows, cols):
    """Place a rows x cols grid of panels with the margins and gaps above, in inches."""
    width, height = fig.get_size_inches()
    (left, bottom), (right, top) = _ACCURACY_MARGIN
    inner_w, inner_h = width - left - right, height - bottom - top
    panel_w = (inner_w - (cols - 1) * _ACCURACY_GAP[0]) / cols
    panel_h = (inner_h - (rows - 1) * _ACCURACY_GAP[1]) / rows
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=_ACCURACY_GAP[0] / panel_w,
                        hspace=_ACCURACY_GAP[1] / panel_h)


def plot_accuracy_curves(result, *, seed=None, axes=None):
    """Clean test accuracy vs training step, one panel per noise rate.

    Parameters
    ----------
    result : NoisyLabelsResult
    seed : int, optional
        Which seed's curves (default: the first).
    axes : sequence of matplotlib Axes, optional
        One per noise rate.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    seed = result.config["seeds"][0] if seed is None else seed
    rates = result.config["noise_rates"]
    if axes is None:
        cols = min(len(rates), 2)
        rows_ = math.ceil(len(rates) / cols)
        fig, axes = plt.subplots(rows_, cols, figsize=tuple(_ACCURACY_PANEL * (cols, rows_)
                                               + _ACCURACY_MARGIN.sum(axis=0)), squeeze=False)
        _fixed_margins(fig, rows_, cols)
        axes = axes.ravel()
    else:
        axes = np.ravel(axes)
        fig = axes[0].figure
    handles = None
    for ax, rate in zip(axes, rates):
        c = result.curves[(seed, rate)]
        # Step 0 (the zero function, no prediction) is left out of the log axis.
        g = c["gd_times"] >= 1
        ax.plot(c["gd_times"][g], 100 * c["gd_accuracy"][g], **_STYLE["gd_end"])
        best = int(np.argmax(c["gd_accuracy"]))
        ax.plot(c["gd_times"][best], 100 * c["gd_accuracy"][best], "k*", ms=12,
                label="gradient descent, oracle early stop")
        s = c["times"] >= 1
        lowest = [c["gd_accuracy"][g].min()]
        for name, acc in c["accuracy"].items():
            ax.plot(c["times"][s], 100 * acc[s], **_STYLE[name])
            lowest.append(acc[s].min())
        ax.axhline(100 * c["krr"]["accuracy"].max(), color="gray", ls=":",
                   label="KRR, oracle ridge")
        ax.set_ylim(100 * min(lowest) - 2, 100.5)
        ax.set_xscale("log")
        ax.set_xlabel("training step t")
        ax.set_ylabel("clean test accuracy (%)")
        ax.set_title(f"noise rate {rate:g} ({result.config['noise_model']})")
        ax.grid(True, which="major", alpha=0.3)
        handles = ax.get_legend_handles_labels()
    fig.legend(*handles, loc="center right", fontsize=9)
    for ax in axes[len(rates):]:
        ax.set_visible(False)
    fig.suptitle(f"{result.config['kernel']} NTK, {result.config['dataset']} data, "
                 f"n = {result.config['n']}, seed {seed}")
    return fig


def plot_air(result, *, seed=None, rate=None):
    """Anisotropic Information Retrieval: E_k of signal and noise, G_k(t) and N_k(t).

    Three panels: E_j of the clean labels and of the noise against j (with the isotropic
    j/n); G_k and N_k of gradient descent at every noise rate; N_k of every method at one
    noise rate.

    Parameters
    ----------
    result : NoisyLabelsResult
    seed : int, optional
        Default: the first seed.
    rate : float, optional
        Noise rate of the first and third panels; default: 0.4 if present, else the first.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    seed = result.config["seeds"][0] if seed is None else seed
    rates = result.config["noise_rates"]
    if rate is None:
        rate = next((r for r in rates if math.isclose(r, 0.4)), rates[0])
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.91, wspace=0.22)
    a = result.air[(seed, rate)]
    n = a["E_signal"].shape[0]
    j = np.arange(1, n + 1)
    ax = axes[0]
    ax.plot(j, a["E_signal"], label="clean labels y*")
    ax.plot(j, a["E_noise"], label="noise ỹ − y*")
    ax.plot(j, j / n, "k:", label="isotropic j/n")
    ax.axvline(a["k"], color="gray", ls="--", lw=1, label=f"k = {a['k']}")
    ax.set_xscale("log")
    ax.set_xlabel("j (top eigenvectors of H)")
    ax.set_ylabel("E_j(v) = ‖V_jᵀv‖² / ‖v‖²")
    ax.set_title(f"energy in the top eigen-directions (rate {rate:g})")
    ax.legend(fontsize=8)
    ax = axes[1]
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(rates)))
    for col, rt in zip(colors, rates):
        c = result.curves[(seed, rt)]
        g = c["gd_times"] >= 1
        ax.plot(c["gd_times"][g], c["G"]["gd_end"][g], color=col, label=f"G_k, rate {rt:g}")
        ax.plot(c["gd_times"][g], c["N"]["gd_end"][g], color=col, ls="--",
                label=f"N_k, rate {rt:g}")
    ax.set_xscale("log")
    ax.set_xlabel("training step t")
    ax.set_ylabel("fitted share")
    ax.set_title(f"gradient descent: G_k (solid), N_k (dashed), k = {a['k']}")
    ax.legend(fontsize=7, ncol=2)
    ax = axes[2]
    c = result.curves[(seed, rate)]
    g = c["gd_times"] >= 1
    s = c["times"] >= 1
    ax.plot(c["gd_times"][g], c["N"]["gd_end"][g], **_STYLE["gd_end"])
    for name in SD_METHODS:
        ax.plot(c["times"][s], c["N"][name][s], **_STYLE[name])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(1e-6, 2.0)
    ax.set_xlabel("training step t")
    ax.set_ylabel("N_k(t) (log scale)")
    ax.set_title(f"fitted share outside the top-{a['k']} directions (rate {rate:g})")
    ax.legend(fontsize=8, loc="lower right")
    for ax in axes[1:]:
        ax.grid(True, alpha=0.3)
    return fig


# ============================================================================ the runner's method
def _put(out, name, values):
    """Store the values of an array as ``name[0]``, ``name[1]``, ... (NaN kept)."""
    for i, v in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        out[f"{name}[{i}]"] = v


def _simulate(spectrum, P_test, y, y_test, data_seed, m, rates):
    """Every method of the study at each noise rate of one data set (one eigendecomposition).

    ``m`` is the ``[method]`` table without its noise rate; returns one flat result dict per
    rate, in the order of ``rates``. All rates are trained by one ``train_many`` call.
    """
    t_end, n_times = m["t_end"], m["n_times"]
    times = _time_grid(t_end, n_times)
    gd_times = _time_grid(t_end, 3 * n_times)
    refresh = _refresh_grid(t_end, m["refresh_per_decade"])
    n = y.shape[0]
    lam = spectrum.eigenvalues
    eta = 1.0 / lam[0] if m["learning_rate"] is None else float(m["learning_rate"])
    n_classes = int(max(y.max(), y_test.max())) + 1
    Y_clean = one_hot(y, n_classes)
    E_signal = energy_fraction(spectrum, Y_clean)
    k = m["k"]
    if k is None:
        k = int(np.searchsorted(E_signal, 0.9) + 1)
    k = min(max(int(k), 1), n - 1)
    ridges = lam[0] * np.logspace(-7, 1, 41)
    noises, targets = [], []
    for rate in rates:
        # one noise seed for all rates: the corrupted sets are nested in the rate
        noise = add_label_noise(y, rate, model=m["noise_model"], n_classes=n_classes,
                                random_state=NOISE_SEED_OFFSET + data_seed)
        noises.append(noise)
        targets.append(one_hot(noise.labels, n_classes))
    t0 = time.perf_counter()
    # the constant hard weight starts after the warm-up (see hard_warmup): a schedule,
    # switched on at a refresh step
    warmup = hard_warmup(lam, n_classes, eta, t_end)
    hard = np.where(np.arange(t_end) < warmup, 0.0, float(m["hard_a"]))
    if warmup < t_end:
        refresh = np.union1d(refresh, [warmup])
    weights = {"ema": m["ema_a"], "soft": m["anchored_a"], "hard": hard,
               "acc": "accuracy"}
    runs = {name: dict(spec, a=weights[spec["a"]]) for name, spec in _RUNS.items()}
    batch = train_many(spectrum, [Y for Y in targets for _ in runs], times,
                       [r for _ in rates for r in runs.values()], learning_rate=eta,
                       refresh=refresh)
    gd_paths = [train(spectrum, Y, gd_times, rule="gd", learning_rate=eta) for Y in targets]
    train_time = (time.perf_counter() - t0) / len(rates)
    outs = []
    for ri, (noise, Y_noisy) in enumerate(zip(noises, targets)):
        t0 = time.perf_counter()
        paths = {"gd": gd_paths[ri], **dict(zip(runs, batch[ri * len(runs):
                                                          (ri + 1) * len(runs)]))}
        acc = {name: accuracy(p.predict(P_test, projected=True), y_test)
               for name, p in paths.items()}
        krr = filter_path(spectrum, Y_noisy,
                          filters.ridge(lam, ridges, return_prediction=True), check_input=False)
        krr_acc = accuracy(krr.predict(P_test, projected=True), y_test)
        out = {"n_classes": n_classes, "learning_rate": float(eta), "k": k,
               "hard_warmup": warmup,
               "lambda_max": float(lam[0]),
               "noise_seed": int(NOISE_SEED_OFFSET + data_seed),
               "n_flipped": int(noise.mask.sum()),
               "realized_rate": float(noise.realized_rate)}

        def put_row(method, path, index, test_accuracy, step, ridge=None, outputs=None):
            u = path.train_outputs(index) if outputs is None else outputs
            out.update({f"{method}.test_accuracy": float(test_accuracy),
                        f"{method}.step": step, f"{method}.ridge": ridge,
                        f"{method}.train_accuracy_noisy": float(accuracy(u, noise.labels)),
                        f"{method}.train_accuracy_clean": float(accuracy(u, y))})

        gd_acc = acc["gd"]
        best = int(np.argmax(gd_acc))
        put_row("gd_end", paths["gd"], -1, gd_acc[-1], int(gd_times[-1]))
        put_row("gd_oracle", paths["gd"], best, gd_acc[best], int(gd_times[best]))
        for name in SD_METHODS:
            put_row(name, paths[name], -1, acc[name][-1], int(times[-1]))
        kb = int(np.argmax(krr_acc))
        put_row("krr_oracle", None, None, krr_acc[kb], None, float(ridges[kb]),
                outputs=krr.train_predictions(kb))
        _put(out, "gd_accuracy", gd_acc)
        _put(out, "krr_accuracy", krr_acc)
        for name, p in paths.items():
            key = "gd_end" if name == "gd" else name
            if name != "gd":
                _put(out, f"accuracy.{name}", acc[name])
            G, N = air_curves(p, k)
            _put(out, f"G.{key}", G)
            _put(out, f"N.{key}", N)
        _put(out, "E_signal", E_signal)
        _put(out, "E_noise", energy_fraction(spectrum, Y_noisy - Y_clean)
             if noise.mask.any() else np.full(n, np.nan))
        out["time.train"] = train_time
        out["time.predict"] = time.perf_counter() - t0
        outs.append(out)
    return outs


def run(config, inputs, seed):
    """``method = "noisy_labels"`` of the experiment runner: one data set, one noise rate.

    The labels of a ``clustered`` or ``digits`` data set (integer classes, ``data.seed``)
    are corrupted at ``method.noise_rate`` with seed ``NOISE_SEED_OFFSET + data.seed`` (the
    corrupted sets of one data set are nested in the rate); every method of the study
    (:data:`METHODS`) is run from the group's eigendecomposition of the kernel
    (:doc:`/topics/noisy_labels`).

    Results: ``METHOD.test_accuracy`` (clean test labels), ``METHOD.step``,
    ``METHOD.ridge``, ``METHOD.train_accuracy_noisy``, ``METHOD.train_accuracy_clean`` for
    each method; the curves ``gd_accuracy[i]`` (over the dense grid of steps),
    ``accuracy.RULE[i]``, ``G.RULE[i]``, ``N.RULE[i]``, ``krr_accuracy[i]``; the AIR energies
    ``E_signal[j]``, ``E_noise[j]`` (None without noise), ``k``; ``realized_rate``,
    ``n_flipped``, ``noise_seed``, ``learning_rate``, ``lambda_max``, ``n_classes``,
    ``hard_warmup`` (the first step of the constant hard weight, :func:`hard_warmup`).
    """
    return batch([(config, inputs, seed)])[0]


def batch(items):
    """The simulations of one data set at several noise rates, trained together.

    Simulations that differ only in ``method.noise_rate`` share the eigendecomposition, the
    clean-label energies and one batched ``train_many`` call.
    """
    from hilbert_sd.experiments.config import canonical_json

    clusters = {}
    for i, (config, inputs, _) in enumerate(items):
        m = {k: v for k, v in config["method"].items() if k != "noise_rate"}
        key = (id(inputs.group), canonical_json(m), canonical_json(config["data"]))
        clusters.setdefault(key, []).append(i)
    out = [None] * len(items)
    for idx in clusters.values():
        config, inputs, _ = items[idx[0]]
        if not inputs.has_test:
            raise ValueError("method noisy_labels needs test points; data.n_test must be >= 1")
        results = _simulate(inputs.spectrum, inputs.test_projection, inputs.y, inputs.y_test,
                            config["data"]["seed"], config["method"],
                            [items[i][0]["method"]["noise_rate"] for i in idx])
        for i, res in zip(idx, results):
            out[i] = res
    return out


def _series(results, name):
    from hilbert_sd.experiments.reports import series

    return series(results, name)


def result_from_rows(rows):
    """The :class:`NoisyLabelsResult` of the finished simulations of a store.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows` (method
        ``noisy_labels``), in the order of their positions.

    Returns
    -------
    NoisyLabelsResult
    """
    from hilbert_sd.experiments.reports import finished

    done = finished(rows, "noisy_labels")
    first = done[0]["config"]
    m, data, kernel = first["method"], first["data"], first["kernel"]
    seeds = list(dict.fromkeys(r["config"]["data"]["seed"] for r in done))
    rates = list(dict.fromkeys(r["config"]["method"]["noise_rate"] for r in done))
    times = _time_grid(m["t_end"], m["n_times"])
    gd_times = _time_grid(m["t_end"], 3 * m["n_times"])
    refresh = _refresh_grid(m["t_end"], m["refresh_per_decade"])
    config = {"n": data["n_samples"], "n_test": data["n_test"], "noise_rates": rates,
              "noise_model": m["noise_model"], "seeds": seeds, "kernel": kernel["name"],
              "kernel_params": {k: v for k, v in kernel.items() if k != "name"},
              "dataset": data["generator"],
              "data_params": {k: v for k, v in data.items() if k not in
                              ("generator", "n_samples", "n_test", "seed", "label_noise")},
              "t_end": m["t_end"], "n_times": m["n_times"], "ema_a": m["ema_a"],
              "anchored_a": m["anchored_a"], "hard_a": m["hard_a"],
              "refresh_per_decade": m["refresh_per_decade"], "n_refresh": int(refresh.size),
              "learning_rate_by_seed": {}}
    by_key = {(r["config"]["data"]["seed"], r["config"]["method"]["noise_rate"]): r
              for r in done}
    out_rows, curves, air, noise = [], {}, {}, []
    timings = {"train": 0.0, "predict": 0.0, "simulations": 0.0}
    for seed in seeds:
        for rate in rates:
            row = by_key.get((seed, rate))
            if row is None:
                continue
            res = row["results"]
            config["learning_rate_by_seed"][str(seed)] = res["learning_rate"]
            noise.append({"data_seed": seed, "model": m["noise_model"], "rate": rate,
                          "seed": res["noise_seed"], "n_classes": res["n_classes"],
                          "n_samples": data["n_samples"], "n_flipped": res["n_flipped"],
                          "realized_rate": res["realized_rate"]})
            base = {"seed": seed, "noise_model": m["noise_model"], "noise_rate": rate,
                    "realized_rate": res["realized_rate"]}
            for method in METHODS:
                out_rows.append({**base, "method": method, **{
                    col: res[f"{method}.{col}"] for col in
                    ("test_accuracy", "step", "ridge", "train_accuracy_noisy",
                     "train_accuracy_clean")}})
            keys = ["gd_end", *SD_METHODS]
            curves[(seed, rate)] = {
                "times": times,
                "accuracy": {name: _series(res, f"accuracy.{name}") for name in SD_METHODS},
                "gd_times": gd_times, "gd_accuracy": _series(res, "gd_accuracy"),
                "G": {key: _series(res, f"G.{key}") for key in keys},
                "N": {key: _series(res, f"N.{key}") for key in keys},
                "krr": {"ridges": res["lambda_max"] * np.logspace(-7, 1, 41),
                        "accuracy": _series(res, "krr_accuracy")},
            }
            air[(seed, rate)] = {"k": res["k"], "E_signal": _series(res, "E_signal"),
                                 "E_noise": _series(res, "E_noise")}
            timings["train"] += res["time.train"]
            timings["predict"] += res["time.predict"]
            timings["simulations"] += row["duration"]
    timings["total"] = timings["simulations"]
    return NoisyLabelsResult(rows=out_rows, curves=curves, air=air, noise=noise,
                             config=config, timings=timings)


def report(rows, out_dir):
    """The report of ``hilbert-sd reproduce noisy-labels`` (and ``hilbert-sd noisy-labels``):
    :meth:`NoisyLabelsResult.save` and :meth:`NoisyLabelsResult.summary` of the store's rows
    (:func:`result_from_rows`).

    Returns
    -------
    dict
        ``{"files": [the five paths], "summary": text}``.
    """
    result = result_from_rows(rows)
    return {"files": result.save(out_dir), "summary": result.summary()}
