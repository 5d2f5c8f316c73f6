"""Soft labels in kernel classification: hard labels, plain and weighted soft labels
(:doc:`/topics/soft_labels`).

One data set (clustered Gaussian classes), one kernel matrix on the pool of ``n`` training
samples, no eigendecomposition:

1. **Teacher**: kernel softmax regression on the clean labels of all ``n`` samples (the full
   kernel model, the infinite-width limit of a wide network in the kernel regime), trained by
   function-space gradient descent for ``teacher_steps`` steps.
2. **Students**: an ensemble of ``n_members`` kernel softmax students, each trained on its own
   resampled training set: ``"fresh"`` (default) draws disjoint parts of the pool, i.e.
   independent fresh training sets from the data law, of ``student_size = n // n_members``
   samples; ``"bootstrap"`` draws ``student_size`` samples with replacement. A student's
   function lives on its own samples only (``f = Σ_{i ∈ D_b} c_i k(·, x_i)``). Every student
   runs ``student_steps`` steps of gradient descent with the same step on

   - ``hard``: ``CE(student, y)``;
   - ``soft``: ``CE + a τ² mean(softCE_τ(teacher, student))`` (plain soft labels);
   - ``wsl``: the same with the weighted-soft-label weights ``w_i`` (recomputed from the
     student's logits every step, no gradient through them),

   at each temperature τ. All ``n_members × (1 + 2 · len(temperatures))`` students advance
   together (one batched matrix product per step).
3. **Squared-loss students** (optional, ``krr=True``): the weighted kernel-ridge student of
   :doc:`/topics/soft_labels` regressing one-hot labels and the teacher's soft labels at τ on
   the same training sets: ``krr_hard`` (w = 0: KRR on labels), ``krr_soft`` (w = 1: fixed mixing),
   ``krr_wsl_static`` (weights of the ``krr_hard`` fit, its outputs read as probabilities)
   and ``krr_wsl_fixed_point`` (the damped fixed point, iterations and convergence reported).

Reported per (method, τ): clean test accuracy (mean and standard deviation over the members,
and the accuracy of the ensemble's normalized geometric mean), the Heskes decomposition of the
test cross-entropy over the members (softmax students; noise is 0 for one-hot test labels)
in total and per test sample, and the number of **regularization samples**: training samples
of a member on which the trained student is already more confident than the teacher,
``L^s_i < L^t_i`` with both cross-entropies on the true class at temperature 1 (this package's
definition; exactly the samples whose WSL weight is below ``1 − 1/e``), averaged over members.
"""

import json
import math
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.special import log_softmax, softmax

from hilbert_sd.datasets import one_hot
from hilbert_sd.soft_labels import (
    heskes_decomposition,
    resample_weights,
    train_kernel_softmax,
    weighted_kernel_ridge,
    weighted_kernel_ridge_fixed_point,
    wsl_weight_function,
)
from hilbert_sd.soft_labels._train import train_stack
from hilbert_sd.soft_labels.softmax_student import _largest_eigenvalue

__all__ = [
    "COLUMNS",
    "CLUSTERED_DEFAULTS",
    "SoftLabelsResult",
    "plot_soft_labels",
    "run_soft_labels",
]

#: Defaults of the clustered data: 4 classes of 2 Gaussian clusters in 20 dimensions.
CLUSTERED_DEFAULTS = {"n_features": 20, "n_classes": 4, "clusters_per_class": 2,
                      "cluster_std": 1.5, "center_scale": 1.0}
#: The resampling of data seed s uses seed RESAMPLE_SEED_OFFSET + s.
RESAMPLE_SEED_OFFSET = 7_919
SOFTMAX_METHODS = ("hard", "soft", "wsl")
KRR_METHODS = ("krr_hard", "krr_soft", "krr_wsl_static", "krr_wsl_fixed_point")
#: Columns of the result table, in order.
COLUMNS = (
    "family", "method", "temperature",
    "test_accuracy_mean", "test_accuracy_sd", "ensemble_accuracy",
    "loss", "noise", "bias", "variance",
    "regularization_samples", "regularization_fraction", "mean_weight",
    "iterations_mean", "iterations_max", "converged_fraction",
)


def _nan():
    return float("nan")


@dataclass(repr=False)
class SoftLabelsResult:
    """Result of :func:`run_soft_labels`.

    Attributes
    ----------
    rows : list of dict
        One row per (method, temperature) with the keys :data:`COLUMNS` (NaN where a column
        does not apply; ``temperature`` is NaN for the τ-free methods ``hard`` and
        ``krr_hard``). The teacher has one row (family ``"teacher"``).
    per_sample : dict
        ``(method, temperature) -> {"loss", "bias", "variance"}``: ndarrays of shape
        (n_test,), the Heskes terms of each test sample (softmax students); the temperature
        is None for ``hard``.
    member_accuracy : dict
        ``(method, temperature) -> ndarray of shape (n_members,)`` (temperature None for
        the τ-free methods).
    config : dict
    timings : dict
        Seconds per phase and ``"total"``.
    """

    rows: list
    per_sample: dict
    member_accuracy: dict
    config: dict
    timings: dict = field(default_factory=dict)
    columns: tuple = field(default=COLUMNS, repr=False)

    def row(self, method, temperature=None):
        """The row of ``method`` at ``temperature`` (None for the τ-free methods)."""
        for r in self.rows:
            if r["method"] != method:
                continue
            t = r["temperature"]
            if temperature is None and (isinstance(t, float) and math.isnan(t)):
                return r
            if temperature is not None and not math.isnan(t) and math.isclose(t, temperature):
                return r
        raise KeyError(f"no row for method={method!r}, temperature={temperature!r}")

    def format_table(self):
        """Plain-text table of the result."""
        head = (f"{'method':<20}{'tau':>5}{'acc %':>8}{'sd':>6}{'ens %':>7}{'loss':>8}"
                f"{'bias':>8}{'var':>8}{'reg.smp':>9}{'w mean':>8}{'iter':>6}{'conv %':>8}")
        lines = [head, "-" * len(head)]
        for r in self.rows:
            t = r["temperature"]

            def cell(v, fmt, width):
                return f"{'-':>{width}}" if v is None or (isinstance(v, float) and
                                                          math.isnan(v)) else \
                    f"{v:>{width}{fmt}}"

            lines.append(
                f"{r['method']:<20}{cell(t, 'g', 5)}"
                f"{cell(100 * r['test_accuracy_mean'], '.1f', 8)}"
                f"{cell(100 * r['test_accuracy_sd'], '.1f', 6)}"
                f"{cell(100 * r['ensemble_accuracy'], '.1f', 7)}"
                f"{cell(r['loss'], '.4f', 8)}{cell(r['bias'], '.4f', 8)}"
                f"{cell(r['variance'], '.4f', 8)}{cell(r['regularization_samples'], '.1f', 9)}"
                f"{cell(r['mean_weight'], '.3f', 8)}{cell(r['iterations_mean'], '.1f', 6)}"
                f"{cell(100 * r['converged_fraction'], '.0f', 8)}")
        return "\n".join(lines)

    def to_csv(self, path):
        """Write the table as CSV (NaN written as empty fields)."""
        from hilbert_sd.experiments.tables import write_records

        write_records([{k: row.get(k) for k in self.columns} for row in self.rows], path)

    def to_json(self, path=None):
        """Config, timings, rows and the per-sample terms as JSON (NaN written as null).

        Returns the JSON-ready dict; also writes it to ``path`` when given.
        """
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            return v

        per_sample = [{"method": m, "temperature": t,
                       **{k: [float(x) for x in v] for k, v in terms.items()}}
                      for (m, t), terms in self.per_sample.items()]
        payload = {
            "experiment": "soft_labels",
            "config": self.config,
            "timings": self.timings,
            "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows],
            "per_sample": per_sample,
        }
        if path is not None:
            with open(path, "w") as fh:
                json.dump(payload, fh, indent=1)
        return payload

    def plot(self, fig=None):
        """:func:`plot_soft_labels` of this result."""
        return plot_soft_labels(self, fig=fig)

    def summary(self):
        """What ``hilbert-sd soft-labels`` prints: :meth:`format_table` and a footnote (run
        time, what a regularization sample is).

        Returns
        -------
        str
        """
        return (f"{self.format_table()}\n({self.timings.get('total', float('nan')):.1f} s; "
                "regularization samples: L^s_i < L^t_i, true-class cross-entropy at tau = 1, "
                "mean count per member)")

    def save(self, out_dir):
        """Write ``soft_labels.csv``, ``soft_labels.json`` and ``soft_labels.png``.

        Parameters
        ----------
        out_dir : str or path-like
            Created if missing.

        Returns
        -------
        list of pathlib.Path
            The three files, in that order (the figure at 110 dpi).
        """
        from hilbert_sd.experiments.tables import save_csv_json_figure

        return save_csv_json_figure(out_dir, "soft_labels", csv=self.to_csv, json=self.to_json,
                                    figure=self.plot)

    def __repr__(self):
        c = self.config
        methods = list(dict.fromkeys(r["method"] for r in self.rows))
        return (f"SoftLabelsResult(n={c.get('n')}, n_test={c.get('n_test')}, "
                f"temperatures={c.get('temperatures')}, n_members={c.get('n_members')}, "
                f"methods={len(methods)}, rows={len(self.rows)}, "
                f"total={self.timings.get('total', float('nan')):.1f}s)")


def _pad_members(counts):
    """Per member: sample indices and multiplicities, padded to a common length."""
    idx = [np.flatnonzero(c) for c in counts]
    L = max(len(i) for i in idx)
    index = np.zeros((len(idx), L), dtype=np.int64)
    weight = np.zeros((len(idx), L))
    for b, (i, c) in enumerate(zip(idx, counts)):
        index[b, :len(i)] = i
        index[b, len(i):] = i[0]      # padding: any valid sample, weight 0
        weight[b, :len(i)] = c[i]
    return idx, index, weight


def run_soft_labels(n=2000, *, n_test=1000, temperatures=(1.0, 2.0, 4.0, 8.0), n_members=8,
                    resample="fresh", student_size=None, a=1.0, teacher_steps=300,
                    student_steps=300, gamma=None, data_params=None, krr=True, krr_ridge=1.0,
                    krr_damping=0.5, krr_max_iter=50, krr_tol=1e-6, seed=0, progress=False):
    """Distil a kernel teacher into kernel students with hard, soft and weighted soft labels.

    Parameters
    ----------
    n : int, default=2000
        Pool of training samples: the teacher's training set.
    n_test : int, default=1000
        Clean test samples.
    temperatures : sequence of float > 0, default=(1, 2, 4, 8)
    n_members : int, default=8
        Students per (method, τ): the ensemble of the bias-variance decomposition.
    resample : {"fresh", "bootstrap"}, default="fresh"
        How each member's training set is drawn from the pool (see the module docstring).
    student_size : int, optional
        Training-set size of a student; default ``n // n_members``.
    a : float, default=1.0
        Weight of the soft term.
    teacher_steps, student_steps : int, default=300
        Gradient-descent steps. The teacher's step is ``2n/λ_max`` (half the stability limit
        of the cross-entropy); the students share one step, half the limit of the largest
        curvature ``(1 + a)/2`` over the members' kernel blocks.
    gamma : float, optional
        RBF kernel parameter; default ``0.25 / n_features``.
    data_params : dict, optional
        Passed to :func:`~hilbert_sd.datasets.make_clustered` over :data:`CLUSTERED_DEFAULTS`.
    krr : bool, default=True
        Also run the squared-loss weighted-KRR students.
    krr_ridge : float, default=1.0
        γ of the KRR students (scikit-learn's alpha).
    krr_damping, krr_max_iter, krr_tol
        Of the damped fixed-point iteration.
    seed : int, default=0
        Seed of the data; the resampling uses ``seed + RESAMPLE_SEED_OFFSET``.
    progress : bool, default=False
        The runner's progress lines on stderr.

    Returns
    -------
    SoftLabelsResult
        Built from the row of the ``soft_labels`` simulation (:func:`result_from_rows`), run
        through the one runner into a temporary store (which sets the BLAS threads).

    Raises
    ------
    ValueError
        A parameter out of range (named with its key in the config, e.g.
        ``method.n_members``).
    """
    from hilbert_sd.experiments.reports import run_rows

    data = {**CLUSTERED_DEFAULTS, **(data_params or {})}
    method = {"name": "soft_labels", "temperatures": [float(t) for t in temperatures],
              "n_members": n_members, "resample": resample, "student_size": student_size,
              "a": a, "teacher_steps": teacher_steps, "student_steps": student_steps,
              "krr": bool(krr), "krr_ridge": krr_ridge, "krr_damping": krr_damping,
              "krr_max_iter": krr_max_iter, "krr_tol": krr_tol}
    raw = {"experiment": {"name": "soft-labels", "seeds": [0]},
           "data": {"generator": "clustered", "n_samples": n, "n_test": n_test, "seed": seed,
                    **data},
           "kernel": {"name": "rbf",
                      "gamma": 0.25 / data["n_features"] if gamma is None else gamma},
           "method": {key: v for key, v in method.items() if v is not None}}
    return result_from_rows(run_rows(raw, name="soft-labels", progress=progress))


def _run(K, K_test, y, y_test, m, temps, B, resample, size, a, teacher_steps, student_steps,
         krr, krr_ridge, krr_damping, krr_max_iter, krr_tol, seed, config):
    """The study on given kernel matrices and labels (``m`` classes); see :func:`run`.

    The learning rates are written into ``config``."""
    n, n_test = y.shape[0], y_test.shape[0]
    timings = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + now - clock
        clock = now

    # ---------------------------------------------------------------- teacher
    lam_max = _largest_eigenvalue(K)
    teacher = train_kernel_softmax(K, y, steps=teacher_steps, learning_rate=2.0 * n / lam_max)
    T_train = teacher.train_logits
    T_test = teacher.predict_logits(K_test)
    teacher_acc = float(np.mean(np.argmax(T_test, axis=1) == y_test))
    config["teacher_learning_rate"] = teacher.learning_rate
    rows = [{**{c: _nan() for c in COLUMNS}, "family": "teacher", "method": "teacher",
             "test_accuracy_mean": teacher_acc,
             "loss": float(np.mean(-log_softmax(T_test, axis=1)[np.arange(n_test), y_test]))}]
    lap("teacher")

    # ---------------------------------------------------------------- students
    counts = resample_weights(n, B, method=resample, size=size,
                              random_state=seed + RESAMPLE_SEED_OFFSET)
    members, index, weight = _pad_members(counts)
    L = index.shape[1]
    Kb = K[index[:, :, None], index[:, None, :]]               # (B, L, L)
    d = weight / weight.sum(axis=1, keepdims=True)
    # Largest curvature of the data term: (h + a)/2 times λ_max(D^½ K D^½) of each member.
    sq = np.sqrt(d)
    rho = max(_largest_eigenvalue(sq[b][:, None] * Kb[b] * sq[b][None, :]) for b in range(B))
    eta = 1.0 / (0.5 * (1.0 + a) * rho)
    config["student_learning_rate"] = eta
    configs = [("hard", None)] + [("soft", t) for t in temps] + [("wsl", t) for t in temps]
    S = len(configs)
    tau = np.array([1.0 if t is None else t for _, t in configs])
    soft = np.array([0.0 if meth == "hard" else a for meth, _ in configs])
    dynamic = np.array([meth == "wsl" for meth, _ in configs])
    labels = y[index]
    Y = np.zeros((B, L, m))
    np.put_along_axis(Y, labels[:, :, None], 1.0, axis=2)
    Tb = T_train[index]                                         # (B, L, m)
    P = np.stack([softmax(Tb / t, axis=2) for t in tau], axis=2)  # (B, L, S, m)
    Lt = -np.take_along_axis(log_softmax(Tb, axis=2), labels[:, :, None], axis=2)[..., 0]
    lap("setup")
    dual, F, losses, w_final = train_stack(
        Y=Y, labels=labels, d=np.repeat(d[:, :, None], S, axis=2), hard=np.ones(S),
        soft=soft, tau=tau, dynamic=dynamic, w_fixed=np.ones((B, L, S)), P=P, Lt=Lt,
        steps=student_steps, eta=eta, ridge=0.0, K=Kb)
    if not np.all(np.isfinite(losses)):
        raise ValueError("student gradient descent diverged (non-finite loss)")
    lap("students")

    test_logits = np.einsum("tbl,blsm->bstm", K_test[:, index], dual, optimize=True)
    Ls_train = -np.take_along_axis(log_softmax(F, axis=3), labels[:, :, None, None],
                                   axis=3)[..., 0]                # (B, L, S)
    valid = weight > 0
    n_unique = valid.sum(axis=1)
    onehot_test = one_hot(y_test, m)
    per_sample, member_acc = {}, {}
    for s, (meth, t) in enumerate(configs):
        logits = test_logits[:, s]                                # (B, n_test, m)
        acc = np.mean(np.argmax(logits, axis=2) == y_test[None], axis=1)
        bv = heskes_decomposition(log_softmax(logits, axis=2), onehot_test,
                                  log_predictions=True)
        tot = bv.totals()
        reg = ((Ls_train[:, :, s] < Lt) & valid).sum(axis=1)
        key = (meth, t)
        per_sample[key] = {"loss": bv.loss, "bias": bv.bias, "variance": bv.variance}
        member_acc[key] = acc
        rows.append({
            **{c: _nan() for c in COLUMNS}, "family": "softmax", "method": meth,
            "temperature": _nan() if t is None else t, "test_accuracy_mean": float(acc.mean()),
            "test_accuracy_sd": float(acc.std(ddof=1)),
            "ensemble_accuracy": float(np.mean(np.argmax(bv.mean_prediction, axis=1)
                                               == y_test)),
            "loss": tot["loss"], "noise": tot["noise"], "bias": tot["bias"],
            "variance": tot["variance"], "regularization_samples": float(reg.mean()),
            "regularization_fraction": float(np.mean(reg / n_unique)),
            "mean_weight": float(np.mean(w_final[:, :, s][valid])) if meth == "wsl"
            else _nan(),
        })
    lap("evaluate")

    # ---------------------------------------------------------------- KRR students
    if krr:
        rows.extend(_krr_students(K, K_test, y, y_test, T_train, members, counts, temps, a,
                                  krr_ridge, krr_damping, krr_max_iter, krr_tol, m,
                                  member_acc))
        lap("krr")
    return SoftLabelsResult(rows=rows, per_sample=per_sample, member_accuracy=member_acc,
                            config=config, timings=timings)


def _krr_students(K, K_test, y, y_test, T_train, members, counts, temps, a, ridge, damping,
                  max_iter, tol, m, member_acc):
    import warnings

    from hilbert_sd.soft_labels import FixedPointWarning

    acc = {key: [] for key in [("krr_hard", None)]
           + [(meth, t) for meth in KRR_METHODS[1:] for t in temps]}
    iters = {t: [] for t in temps}
    conv = {t: [] for t in temps}
    hard_key = ("krr_hard", None)
    for b, idx in enumerate(members):
        Kb = K[np.ix_(idx, idx)]
        Kt = K_test[:, idx]
        Yb = one_hot(y[idx], m)
        sw = counts[b, idx].astype(np.float64)
        ref = weighted_kernel_ridge(Kb, Yb, Yb, np.zeros(len(idx)), a=a, ridge=ridge,
                                    sample_weight=sw)
        acc[hard_key].append(np.mean(np.argmax(ref.predict(Kt), axis=1) == y_test))
        weight_fn = wsl_weight_function(T_train[idx], y[idx])
        w_ref = weight_fn(ref.train_predictions)
        for t in temps:
            target = softmax(T_train[idx] / t, axis=1)
            fits = {
                "krr_soft": weighted_kernel_ridge(Kb, Yb, target, np.ones(len(idx)), a=a,
                                                  ridge=ridge, sample_weight=sw),
                "krr_wsl_static": weighted_kernel_ridge(Kb, Yb, target, w_ref, a=a,
                                                        ridge=ridge, sample_weight=sw),
            }
            with warnings.catch_warnings():
                # Non-convergence is reported in the table, not warned once per member.
                warnings.simplefilter("ignore", FixedPointWarning)
                fp = weighted_kernel_ridge_fixed_point(
                    Kb, Yb, target, weight_fn, a=a, ridge=ridge, sample_weight=sw,
                    damping=damping, tol=tol, max_iter=max_iter)
            fits["krr_wsl_fixed_point"] = fp
            iters[t].append(fp.n_iter)
            conv[t].append(fp.converged)
            for meth, fit in fits.items():
                acc[(meth, t)].append(np.mean(np.argmax(fit.predict(Kt), axis=1) == y_test))
    rows = []
    for (meth, t), vals in acc.items():
        vals = np.asarray(vals)
        member_acc[(meth, t)] = vals
        row = {**{c: _nan() for c in COLUMNS}, "family": "krr", "method": meth,
               "temperature": _nan() if t is None else t, "test_accuracy_mean": float(vals.mean()),
               "test_accuracy_sd": float(vals.std(ddof=1))}
        if meth == "krr_wsl_fixed_point":
            row.update(iterations_mean=float(np.mean(iters[t])),
                       iterations_max=float(np.max(iters[t])),
                       converged_fraction=float(np.mean(conv[t])))
        rows.append(row)
    return rows


# ============================================================================ plots
_STYLE = {
    "hard": dict(color="black", label="hard labels"),
    "soft": dict(color="tab:blue", marker="o", label="soft labels"),
    "wsl": dict(color="tab:red", marker="s", label="weighted soft labels"),
    "krr_hard": dict(color="black", ls=":", label="KRR, labels (w = 0)"),
    "krr_soft": dict(color="tab:blue", ls="--", marker="o", mfc="none",
                     label="KRR, fixed mix (w = 1)"),
    "krr_wsl_static": dict(color="tab:orange", ls="--", marker="^", mfc="none",
                           label="KRR, WSL static"),
    "krr_wsl_fixed_point": dict(color="tab:red", ls="--", marker="s", mfc="none",
                                label="KRR, WSL fixed point"),
}


def _temperature_axis(ax, temps):
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.set_xticks(temps, [f"{t:g}" for t in temps])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _key(mapping, method, temperature):
    for key in mapping:
        if key[0] == method and (key[1] is None if temperature is None else
                                 key[1] is not None and math.isclose(key[1], temperature)):
            return key
    raise KeyError(f"no entry for method={method!r}, temperature={temperature!r}")


def _series(result, method, column):
    temps = result.config["temperatures"]
    return np.array([result.row(method, t)[column] for t in temps])


def plot_soft_labels(result, fig=None):
    """Six panels: accuracies, bias and variance against τ, per-sample split, regularization
    samples and the per-sample variance change.

    Parameters
    ----------
    result : SoftLabelsResult
    fig : matplotlib Figure, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(15.0, 8.5))
    axes = fig.subplots(2, 3)
    temps = np.asarray(result.config["temperatures"], dtype=float)
    B = result.config["n_members"]
    teacher = result.row("teacher")["test_accuracy_mean"]

    ax = axes[0, 0]
    hard = result.row("hard")
    ax.axhspan(100 * (hard["test_accuracy_mean"] - hard["test_accuracy_sd"]),
               100 * (hard["test_accuracy_mean"] + hard["test_accuracy_sd"]),
               color="0.85", label="hard labels (± sd)")
    ax.axhline(100 * hard["test_accuracy_mean"], color="black", lw=1)
    for meth in ("soft", "wsl"):
        mean = 100 * _series(result, meth, "test_accuracy_mean")
        sd = 100 * _series(result, meth, "test_accuracy_sd")
        ax.errorbar(temps, mean, yerr=sd, capsize=3, **_STYLE[meth])
    ax.axhline(100 * teacher, color="tab:green", ls="--", label="teacher")
    ax.set(xlabel="temperature τ", ylabel="clean test accuracy (%)",
           title=f"Softmax students (mean ± sd over {B} members)")
    _temperature_axis(ax, temps)
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    if result.config.get("krr"):
        kh = result.row("krr_hard")["test_accuracy_mean"]
        ax.axhline(100 * kh, **_STYLE["krr_hard"])
        for meth in KRR_METHODS[1:]:
            ax.plot(temps, 100 * _series(result, meth, "test_accuracy_mean"), **_STYLE[meth])
        ax.axhline(100 * teacher, color="tab:green", ls="--", label="teacher")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "squared-loss students not run", ha="center", va="center",
                transform=ax.transAxes)
    ax.set(xlabel="temperature τ", ylabel="clean test accuracy (%)",
           title="Squared-loss (weighted KRR) students, mean over members")
    _temperature_axis(ax, temps)

    ax = axes[0, 2]
    for meth in SOFTMAX_METHODS:
        st = _STYLE[meth]
        if meth == "hard":
            r = result.row("hard")
            ax.axhline(r["bias"], color="black", lw=1.5, label="hard: bias")
            ax.axhline(r["variance"], color="black", lw=1.5, ls=":", label="hard: variance")
            continue
        ax.plot(temps, _series(result, meth, "bias"), color=st["color"], marker=st["marker"],
                label=f"{meth}: bias")
        ax.plot(temps, _series(result, meth, "variance"), color=st["color"],
                marker=st["marker"], ls=":", mfc="none", label=f"{meth}: variance")
    ax.set(yscale="log", xlabel="temperature τ", ylabel="mean over test samples (nats)",
           title="Heskes split of the test cross-entropy")
    _temperature_axis(ax, temps)
    ax.legend(fontsize=8, ncol=1)

    t_mid = float(temps[len(temps) // 2])
    ax = axes[1, 0]
    for meth, t in (("hard", None), ("soft", t_mid), ("wsl", t_mid)):
        ps = result.per_sample[_key(result.per_sample, meth, t)]
        floor = 1e-6
        ax.scatter(np.maximum(ps["bias"], floor), np.maximum(ps["variance"], floor), s=5,
                   alpha=0.35, color=_STYLE[meth]["color"],
                   label=_STYLE[meth]["label"] + ("" if t is None else f", τ={t:g}"))
    ax.set(xscale="log", yscale="log", xlabel="per-sample bias KL(t‖ȳ) (nats)",
           ylabel="per-sample variance E KL(ȳ‖ŷ) (nats)",
           title="Per test sample (clipped at 1e-6)")
    ax.legend(fontsize=8, markerscale=3)

    ax = axes[1, 1]
    size = result.config["student_size"]
    r_hard = result.row("hard")["regularization_samples"]
    ax.axhline(r_hard, color="black", label="hard labels")
    for meth in ("soft", "wsl"):
        ax.plot(temps, _series(result, meth, "regularization_samples"), **_STYLE[meth])
    ax.set(xlabel="temperature τ", ylabel=f"training samples (of {size} per member)",
           title=r"Regularization samples: $L^s_i < L^t_i$ at $\tau = 1$")
    _temperature_axis(ax, temps)
    ax.legend(fontsize=8)

    ax = axes[1, 2]
    hard_ps = result.per_sample[("hard", None)]
    order = np.argsort(hard_ps["bias"])
    bins = np.array_split(order, 10)
    centers = [np.mean(hard_ps["bias"][i]) for i in bins]
    for meth in ("soft", "wsl"):
        ps = result.per_sample[_key(result.per_sample, meth, t_mid)]
        ax.plot(centers, [np.mean(ps["bias"][i] - hard_ps["bias"][i]) for i in bins],
                color=_STYLE[meth]["color"], marker=_STYLE[meth]["marker"],
                label=f"{meth}: Δ bias")
        ax.plot(centers, [np.mean(ps["variance"][i] - hard_ps["variance"][i]) for i in bins],
                color=_STYLE[meth]["color"], marker=_STYLE[meth]["marker"], ls=":",
                mfc="none", label=f"{meth}: Δ variance")
    ax.axhline(0.0, color="0.5", lw=0.8)
    ax.set(xscale="log", xlabel="hard-label student's per-sample bias (decile mean, nats)",
           ylabel="change vs hard labels (nats)",
           title=f"Where soft labels (τ={t_mid:g}) move bias and variance")
    ax.legend(fontsize=8)
    fig.suptitle(f"Soft labels: teacher on n={result.config['n']} clean labels, "
                 f"{B} students on {result.config['resample']} sets of {size}, "
                 f"a={result.config['a']:g}")
    fig.tight_layout()
    return fig


# ============================================================================ the runner's method
def _put(out, name, values):
    for i, v in enumerate(np.asarray(values, dtype=np.float64).tolist()):
        out[f"{name}[{i}]"] = v


def check(params):
    """Constraints between the parameters of ``method = "soft_labels"``."""
    problems = []
    if params.get("temperatures") is not None and not params["temperatures"]:
        problems.append(("temperatures", "empty: give at least one temperature > 0"))
    return problems


def run(config, inputs, seed):
    """``method = "soft_labels"`` of the experiment runner: the whole study on one data set.

    The data are a ``clustered`` data set (integer classes, ``data.seed``), the kernel the
    config's (the shipped configs: RBF with ``gamma = 0.25 / n_features``); the students'
    training sets are drawn with seed ``data.seed + RESAMPLE_SEED_OFFSET``. No
    eigendecomposition is used: the runner prepares the Gram matrix only.

    Results: the table as ``row[i].COLUMN`` (:data:`COLUMNS`, ``n_rows`` rows, in the order
    of :attr:`SoftLabelsResult.rows`); the per-test-sample Heskes terms
    ``per_sample[s].loss[j]`` / ``.bias[j]`` / ``.variance[j]`` and the member accuracies
    ``member_accuracy[s][b]``, each with ``.method`` and ``.temperature`` (None for the
    τ-free methods); the learning rates, the students' training-set size and ``time.PHASE``.
    """
    m = config["method"]
    data = config["data"]
    y, y_test = inputs.y, inputs.y_test
    if y_test is None:
        raise ValueError("method soft_labels needs test points; data.n_test must be >= 1")
    n = y.shape[0]
    B = m["n_members"]
    size = n // B if m["student_size"] is None else m["student_size"]
    if size < 2:
        raise ValueError(f"data.n_samples // method.n_members = {size}: a student needs at "
                         f"least 2 samples; allowed: n_samples >= 2 * n_members")
    n_classes = data.get("n_classes") or int(max(y.max(), y_test.max())) + 1
    t0 = time.perf_counter()
    K, K_test = inputs.K, inputs.K_test
    kernel_time = time.perf_counter() - t0
    extra = {}
    result = _run(K, K_test, y, y_test, n_classes, [float(t) for t in m["temperatures"]], B,
                  m["resample"], size, m["a"], m["teacher_steps"], m["student_steps"],
                  m["krr"], m["krr_ridge"], m["krr_damping"], m["krr_max_iter"], m["krr_tol"],
                  data["seed"], extra)
    out = {"n_rows": len(result.rows), "student_size": size,
           "teacher_learning_rate": float(extra["teacher_learning_rate"]),
           "student_learning_rate": float(extra["student_learning_rate"]),
           "time.kernel": kernel_time}
    for phase, seconds in result.timings.items():
        out[f"time.{phase}"] = seconds
    for i, row in enumerate(result.rows):
        for col in COLUMNS:
            v = row[col]
            out[f"row[{i}].{col}"] = v if isinstance(v, str) else float(v)
    for s, ((meth, t), terms) in enumerate(result.per_sample.items()):
        out[f"per_sample[{s}].method"], out[f"per_sample[{s}].temperature"] = meth, t
        for name, values in terms.items():
            _put(out, f"per_sample[{s}].{name}", values)
    for s, ((meth, t), values) in enumerate(result.member_accuracy.items()):
        out[f"member_accuracy[{s}].method"] = meth
        out[f"member_accuracy[{s}].temperature"] = t
        _put(out, f"member_accuracy[{s}]", values)
    return out


def result_from_rows(rows):
    """The :class:`SoftLabelsResult` of the (first) finished ``soft_labels`` simulation of a
    store.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows`.

    Returns
    -------
    SoftLabelsResult
    """
    from hilbert_sd.experiments.reports import finished, series

    done = finished(rows, "soft_labels")
    row = done[0]
    res, c = row["results"], row["config"]
    m, data = c["method"], c["data"]
    table = [{col: res[f"row[{i}].{col}"] for col in COLUMNS} for i in range(res["n_rows"])]
    per_sample, member_acc = {}, {}
    s = 0
    while f"per_sample[{s}].method" in res:
        key = (res[f"per_sample[{s}].method"], res[f"per_sample[{s}].temperature"])
        per_sample[key] = {name: series(res, f"per_sample[{s}].{name}")
                           for name in ("loss", "bias", "variance")}
        s += 1
    s = 0
    while f"member_accuracy[{s}].method" in res:
        key = (res[f"member_accuracy[{s}].method"], res[f"member_accuracy[{s}].temperature"])
        member_acc[key] = series(res, f"member_accuracy[{s}]")
        s += 1
    params = {k: data[k] for k in CLUSTERED_DEFAULTS if k in data}
    config = {"n": data["n_samples"], "n_test": data["n_test"],
              "temperatures": [float(t) for t in m["temperatures"]],
              "n_members": m["n_members"], "resample": m["resample"],
              "student_size": res["student_size"], "a": m["a"],
              "teacher_steps": m["teacher_steps"], "student_steps": m["student_steps"],
              "kernel": c["kernel"]["name"], "gamma": c["kernel"].get("gamma"),
              "data": data["generator"], "data_params": params, "krr": m["krr"],
              "krr_ridge": m["krr_ridge"], "krr_damping": m["krr_damping"],
              "krr_max_iter": m["krr_max_iter"], "krr_tol": m["krr_tol"], "seed": data["seed"],
              "regularization_sample": "L^s_i < L^t_i (true-class cross-entropy at tau = 1)",
              "teacher_learning_rate": res["teacher_learning_rate"],
              "student_learning_rate": res["student_learning_rate"]}
    timings = {k[5:]: v for k, v in res.items() if k.startswith("time.")}
    timings["total"] = row["duration"]
    return SoftLabelsResult(rows=table, per_sample=per_sample, member_accuracy=member_acc,
                            config=config, timings=timings)


def report(rows, out_dir):
    """The report of ``hilbert-sd reproduce soft-labels`` (and ``hilbert-sd soft-labels``):
    :meth:`SoftLabelsResult.save` and :meth:`SoftLabelsResult.summary` of the store's rows.

    Returns
    -------
    dict
        ``{"files": [the three paths], "summary": text}``.
    """
    result = result_from_rows(rows)
    return {"files": result.save(out_dir), "summary": result.summary()}
