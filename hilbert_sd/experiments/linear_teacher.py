"""Linear-teacher distillation across the training-set size: n < d versus n >= d
(:doc:`/topics/linear_teacher`).

One registered method, ``linear_teacher`` (:func:`run`), and the study built on it: the quick
command ``hilbert-sd linear-teacher`` (:func:`linear_teacher_experiment`) and the named
experiment ``hilbert-sd reproduce linear-teacher`` (``linear_teacher.toml``), both reported by
:func:`report`.

One simulation is one (geometry, n) of one seed: the seed's unit teacher, ``draws`` training
sets of ``n`` inputs drawn from the geometry, each distilled into the student of the method's
parameters (``depth``, ``temperature``, ``init_scale``, ``solver``;
:func:`hilbert_sd.linear.distill`) and fitted by the hard-label baseline (the max-margin
direction for the labels ``sign(w*ᵀx)``). Its row holds the student's mean angle to the
teacher, its transfer risk (exact where a formula exists, Monte Carlo otherwise, each with its
standard error over the draws), the exact ``E R_n`` where known, the bound
``min_β [p(β) + p(π/2 - β)^n]``, the hard-label baseline and the flow check
(:data:`COLUMNS`).

Geometries
----------
``"isotropic"``
    ``x ~ N(0, I_d)``: risk ``∠/π`` [derived], ``E R_n`` from the Beta law [derived].
``"polar-kappa"``
    :func:`hilbert_sd.linear.polar_sample` with ``p(θ) = (2θ/π)^κ``.
``"polar-margin"``
    :func:`hilbert_sd.linear.polar_sample` with a margin ``m``: ``p(θ) = (θ - m)/(π/2 - m)``.

The student
-----------
From zero (``init_scale = 0``, depth 1) the student is the projection ``P_X w*/τ``, whose angle
does not depend on τ [paper, derived]. With ``init_scale > 0`` it starts at
``w_0 ~ init_scale · N(0, I_d)`` and ends at ``P_X w*/τ + ρ (I - P_X) w_0`` (ρ = 1 for depth 1,
the balanced deep students' rescaling otherwise) [derived]: it keeps part of its start outside
the span, so τ then matters (it sets the span part against the kept part). A deep student
(``depth >= 2``) needs ``init_scale > 0`` (:func:`check`: zero is a saddle of its flow). The kept
part of a student of depth N has norm at most
``(‖w_0‖^{2/N} + ‖P_X w*/τ‖^{2/N})^{(N-1)/2} ‖w_0‖^{1/N}`` [derived here from the limit of
:func:`hilbert_sd.linear.distill`]: it vanishes as ``init_scale → 0``, for a deep student only
as the N-th root of ``init_scale``.

What the columns mean for such a student:

- ``risk_mean`` (exact or Monte Carlo) is the risk of the student's end-to-end direction
  whatever its depth: the formulas depend on the direction only.
- ``risk_expected_exact`` (E R_n, isotropic) and ``bound`` are properties of the data law and n:
  the exact expectation of, and the bound on, the risk of the zero-start student (the
  projection). They are the expectation of ``risk_mean`` only when ``init_scale = 0``; for a
  student with a start they are the reference it is compared with, not its expectation.
- ``flow_max_abs_error``: for the first ``flow_draws`` draws, the stiff gradient flow of the same
  student (same depth, τ and ``w_0``; for depth >= 2 the flow of the balanced width-1 chain) is
  integrated to a gradient norm of 1e-12 and compared with the closed-form limit (the other
  solver when ``solver = "gradient_flow"``): the largest ``|w_flow - w_closed_form|`` over the
  entries of the end-to-end weights (which scale as 1/τ). For depth 1 this checks the projection
  limit [paper, derived]; for depth >= 2 also the derived rescaling ρ of the outside part. It
  does not check that the width-1 chain reproduces wider networks (the tests of
  :mod:`hilbert_sd.linear` do, against a full-width network).
- The hard-label baseline does not depend on the student's parameters.

Random streams
--------------
The unit teacher of a seed is drawn from ``SeedSequence(seed).spawn(1)[0]`` (the same for every
row of the seed); the training sets of a row from ``default_rng([seed, g, n])`` with ``g`` the
geometry's index in :data:`GEOMETRIES` (draw after draw, then the Monte Carlo test inputs), the
students' starts from ``default_rng([seed, g, n, 1])`` (draw after draw), so that students of
other parameters see the same training sets. By rotational invariance (isotropic) and by the
polar laws' definition relative to the teacher, the law of a row does not depend on the
teacher: seeds only add draws, and :func:`result_from_rows` pools them.
"""

import json
import math
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from hilbert_sd.experiments.registry import LINEAR_TEACHER_MIN_FEATURES

from hilbert_sd.linear import (
    angle_to_teacher,
    distill,
    expected_isotropic_risk,
    hard_label_student,
    isotropic_angle_cdf,
    polar_angle_cdf,
    polar_sample,
    polar_transfer_risk,
    risk_bound,
)

__all__ = [
    "COLUMNS",
    "GEOMETRIES",
    "LinearTeacherResult",
    "check",
    "default_n_values",
    "linear_teacher_experiment",
    "plot_linear_teacher",
    "report",
    "result_from_rows",
    "run",
]

GEOMETRIES = ("isotropic", "polar-kappa", "polar-margin")
#: Smallest input dimension of the study (declared in the registry, next to the method).
MIN_DIMENSION = LINEAR_TEACHER_MIN_FEATURES

#: The student's parameters of the method (the rest describe the data and the risk).
STUDENT = ("depth", "temperature", "init_scale", "solver")

#: Columns of the result table, in order.
COLUMNS = (
    "geometry", "d", "n", "draws",
    "angle_mean", "angle_se",
    "risk_mean", "risk_se", "risk_expected_exact",
    "bound", "bound_beta",
    "hard_angle_mean", "hard_risk_mean", "hard_risk_se",
    "frac_distilled_better", "flow_max_abs_error",
)


def default_n_values(d):
    """Training-set sizes across ``d``: from ``d/50`` (at least 2, the smallest training set
    the data generators accept) to ``4d``, ``d`` itself included.

    Parameters
    ----------
    d : int

    Returns
    -------
    list of int
    """
    fractions = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0, 1.5, 2.0, 4.0)
    return sorted({max(2, int(round(f * d))) for f in fractions})


@dataclass(repr=False)
class LinearTeacherResult:
    """Table of the linear-teacher experiment.

    Attributes
    ----------
    rows : list of dict
        One row per (geometry, n), keys :data:`COLUMNS`; NaN where a column does not apply
        (``risk_expected_exact`` and ``bound`` are those of the zero-start student: see the
        module's notes).
    config : dict
        The parameters of the run (the student's among them).
    elapsed : float
        Wall-clock seconds.
    """

    rows: list
    config: dict
    elapsed: float = 0.0
    columns: tuple = field(default=COLUMNS, repr=False)

    def column(self, name, geometry=None):
        """Values of one column (optionally for one geometry) as an ndarray."""
        return np.array([r[name] for r in self.rows
                         if geometry is None or r["geometry"] == geometry])

    def to_csv(self, path):
        """Write the table as CSV (NaN written as empty fields)."""
        from hilbert_sd.experiments.tables import write_records

        write_records([{k: row.get(k) for k in self.columns} for row in self.rows], path)

    def to_json(self, path):
        """Write config, elapsed time and rows as JSON (NaN written as null)."""
        def clean(v):
            return None if isinstance(v, float) and not math.isfinite(v) else v

        payload = {
            "experiment": "linear_teacher",
            "config": self.config,
            "elapsed_seconds": self.elapsed,
            "rows": [{k: clean(v) for k, v in row.items()} for row in self.rows],
        }
        with open(path, "w") as fh:
            json.dump(payload, fh, indent=2)

    def format_table(self):
        """Plain-text table of the main columns (risks with 3 significant digits)."""
        head = (f"{'geometry':<13}{'n':>5}{'angle':>8}{'risk':>10}{'±se':>9}{'E R_n':>9}"
                f"{'bound':>9}{'hard':>9}{'±se':>9}{'better':>7}")
        flow = any(math.isfinite(r["flow_max_abs_error"]) for r in self.rows)
        if flow:
            head += f"{'flow err':>10}"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            exact = ("" if math.isnan(r["risk_expected_exact"])
                     else f"{r['risk_expected_exact']:.4f}")
            lines.append(
                f"{r['geometry']:<13}{r['n']:>5}{r['angle_mean']:>8.4f}{r['risk_mean']:>10.3g}"
                f"{r['risk_se']:>9.2g}{exact:>9}{r['bound']:>9.3g}{r['hard_risk_mean']:>9.3g}"
                f"{r['hard_risk_se']:>9.2g}{r['frac_distilled_better']:>7.2f}"
                + (f"{r['flow_max_abs_error']:>10.2g}" if flow else "")
            )
        return "\n".join(lines)

    def summary(self):
        """What ``hilbert-sd linear-teacher`` prints: :meth:`format_table` and the run time.

        Returns
        -------
        str
        """
        return f"{self.format_table()}\n({self.elapsed:.1f} s)"

    def plot(self, fig=None):
        """Risk against n per geometry; see :func:`plot_linear_teacher`."""
        return plot_linear_teacher(self, fig=fig)

    def save(self, out_dir):
        """Write ``linear_teacher.csv``, ``linear_teacher.json`` and ``linear_teacher.png``.

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

        return save_csv_json_figure(out_dir, "linear_teacher", csv=self.to_csv,
                                    json=self.to_json, figure=self.plot)

    def __repr__(self):
        c = self.config
        return (f"LinearTeacherResult(d={c.get('d')}, geometries={c.get('geometries')}, "
                f"n_values={len(c.get('n_values', ()))} sizes, draws={c.get('n_draws')}, "
                f"risk={c.get('risk')!r}, {_student_text(c)}, rows={len(self.rows)}, "
                f"elapsed={self.elapsed:.1f}s)")


def _student_text(config):
    """The student in a few words: ``linear from zero``, ``depth 3, tau 2, init 0.1``."""
    depth, tau = config.get("depth", 1), config.get("temperature", 1.0)
    scale, solver = config.get("init_scale", 0.0), config.get("solver", "closed_form")
    text = "linear" if depth == 1 else f"depth {depth}"
    text += f", init {scale:g}" if scale > 0 else " from zero"
    if tau != 1.0 and scale > 0:  # from zero, tau only scales the student
        text += f", tau {tau:g}"
    return text + (", integrated flow" if solver == "gradient_flow" else "")


class _Geometry:
    """Sampler, law of ᾱ and risk evaluator of one data geometry."""

    def __init__(self, name, d, kappa, margin):
        self.name, self.d = name, d
        if name == "isotropic":
            self.p = lambda t: isotropic_angle_cdf(t, d)
        elif name == "polar-kappa":
            self.kappa, self.margin = kappa, 0.0
        elif name == "polar-margin":
            self.kappa, self.margin = 1.0, margin
        if name != "isotropic":
            self.p = lambda t: polar_angle_cdf(t, self.kappa, self.margin)

    def sample(self, n, w_teacher, rng):
        if self.name == "isotropic":
            return rng.standard_normal((n, self.d))
        return polar_sample(n, w_teacher, kappa=self.kappa, margin=self.margin, random_state=rng)

    def exact_risk(self, W, w_teacher):
        if self.name == "isotropic":
            return angle_to_teacher(W, w_teacher) / np.pi
        return polar_transfer_risk(W, w_teacher, kappa=self.kappa, margin=self.margin)

    def mc_risk(self, W, w_teacher, n_test, rng):
        X = self.sample(n_test, w_teacher, rng)
        return np.mean(np.sign(X @ W.T) != np.sign(X @ w_teacher)[:, None], axis=0)


def _mean_se(values):
    values = np.asarray(values, dtype=np.float64)
    if values.size < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


def linear_teacher_experiment(d=50, n_values=None, n_draws=200, geometries=GEOMETRIES, *,
                              kappa=2.0, margin=0.2, risk="exact", n_test=2000, flow_draws=0,
                              depth=1, temperature=1.0, init_scale=0.0, solver="closed_form",
                              random_state=0, progress=False):
    """Sweep the training-set size across ``d`` for several data geometries.

    Parameters
    ----------
    d : int, default=50
        Dimension (``>= 3``).
    n_values : sequence of int, default=None
        Training-set sizes (``>= 2``); None means :func:`default_n_values`.
    n_draws : int, default=200
        Training sets drawn per (geometry, n).
    geometries : sequence of str, default=GEOMETRIES
        Any of ``"isotropic"``, ``"polar-kappa"``, ``"polar-margin"``.
    kappa : float, default=2.0
        κ of ``"polar-kappa"``.
    margin : float, default=0.2
        Margin (radians) of ``"polar-margin"``.
    risk : {"exact", "monte_carlo"}, default="exact"
        ``"exact"``: per-student risk by formula (angle/π, or the polar integral of
        :func:`hilbert_sd.linear.polar_transfer_risk`). ``"monte_carlo"``: the disagreement rate
        on ``n_test`` fresh inputs per draw. Either way the reported standard error is that of
        the mean over the draws.
    n_test : int, default=2000
        Test inputs per draw for ``risk="monte_carlo"``.
    flow_draws : int, default=0
        Also integrate the gradient flow for this many draws per (geometry, n) and report the
        largest ``|w_flow - w_closed_form|`` (a check, slow at ``n = d``; see the module's
        notes for what it checks for a deep student).
    depth : int, default=1
        Layers of the (balanced) deep linear student.
    temperature : float, default=1.0
        Soft-label temperature τ > 0.
    init_scale : float, default=0.0
        Standard deviation of the student's start ``w_0`` (0: from zero, the projection;
        ``> 0`` required for ``depth >= 2``).
    solver : {"closed_form", "gradient_flow"}, default="closed_form"
        The limit of the flow by projection, or the integrated flow.
    random_state : int, default=0
        Seed of the teacher and of the streams of each (geometry, n) (the module's notes), so
        rows do not depend on the order or on the other rows.
    progress : bool, default=False
        The runner's progress lines on stderr.

    Returns
    -------
    LinearTeacherResult
        Built from the rows of the ``linear_teacher`` simulations (:func:`result_from_rows`),
        one per (geometry, n), run through the one runner into a temporary store.

    Raises
    ------
    ValueError
        A parameter out of range, or ``depth >= 2`` with ``init_scale = 0``.
    """
    from hilbert_sd.experiments.reports import run_rows

    from dataclasses import replace

    from hilbert_sd.experiments.registry import parameter

    d = replace(parameter("data", "gaussian", "n_features"),
                low=MIN_DIMENSION).check_argument(d, "d")
    n_values = default_n_values(d) if n_values is None else [
        parameter("data", "gaussian", "n_samples").check_argument(n, "n") for n in n_values]
    if len(n_values) == 0 or len(geometries) == 0:
        raise ValueError("n_values and geometries must not be empty")
    student = {"depth": depth, "temperature": temperature, "init_scale": init_scale,
               "solver": solver}
    raw = {"experiment": {"name": "linear-teacher", "seeds": [random_state]},
           "data": {"generator": "gaussian", "n_samples": n_values, "n_features": d,
                    "n_test": 0},
           "method": [{"name": "linear_teacher", "geometry": g, "draws": n_draws,
                       "kappa": kappa, "margin": margin, "risk": risk, "n_test": n_test,
                       "flow_draws": flow_draws, **student} for g in geometries]}
    return result_from_rows(run_rows(raw, name="linear-teacher", progress=progress))


def check(params):
    """Constraints between the parameters of ``method = "linear_teacher"``: a deep student
    needs a non-zero start (0 is a saddle of its flow [derived]).

    Returns
    -------
    list of (str, str)
        ``(key, message)``; the key is relative to the ``[method]`` table.
    """
    if params.get("depth", 1) >= 2 and params.get("init_scale", 0.0) == 0:
        return [("init_scale", "must be > 0 for depth >= 2 (zero is a saddle of the deep "
                               "linear flow)")]
    return []


def run(config, inputs, seed):
    """``method = "linear_teacher"`` of the experiment runner: one (geometry, n) row.

    The seed's unit teacher w*; ``method.draws`` training sets of ``n = data.n_samples`` inputs
    in ``d = data.n_features`` dimensions drawn from the geometry's law (the data set's own
    inputs are not used: a polar law depends on the teacher); each distilled into the student
    of ``depth``, ``temperature``, ``init_scale`` and ``solver``
    (:func:`hilbert_sd.linear.distill`) and compared with the hard-label student
    (:func:`hilbert_sd.linear.hard_label_student`). The streams and what the columns mean for
    a student with a start are in the module's notes.

    Results: the columns of :data:`COLUMNS` (see :class:`LinearTeacherResult`).
    """
    m = config["method"]
    n, d = inputs.X.shape
    if d < MIN_DIMENSION:
        raise ValueError(f"data.n_features = {d} is out of range; allowed: >= {MIN_DIMENSION}")
    teacher_rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    w_teacher = teacher_rng.standard_normal(d)
    # unit norm keeps |w*ᵀx| = O(1) for both N(0, I) and unit-radius polar inputs
    w_teacher /= np.linalg.norm(w_teacher)
    name, n_draws = m["geometry"], m["draws"]
    geom = _Geometry(name, d, m["kappa"], m["margin"])
    student = {"depth": m["depth"], "temperature": m["temperature"]}
    other = {"closed_form": "gradient_flow", "gradient_flow": "closed_form"}[m["solver"]]
    # Every matrix here is at most a few hundred by d: BLAS threads cost more in
    # synchronization than they save (measured 15 ms vs 0.5 ms per QR on a loaded 2-core box).
    with threadpool_limits(limits=1, user_api="blas"):
        bound, beta = risk_bound(geom.p, [n], return_beta=True)
        rng = np.random.default_rng([seed, GEOMETRIES.index(name), n])
        init_rng = np.random.default_rng([seed, GEOMETRIES.index(name), n, 1])
        students = np.empty((n_draws, d))
        hard = np.empty((n_draws, d))
        flow_err = np.nan
        for k in range(n_draws):
            X = geom.sample(n, w_teacher, rng)
            w_init = (m["init_scale"] * init_rng.standard_normal(d) if m["init_scale"] > 0
                      else None)
            students[k] = distill(X, w_teacher, w_init=w_init, method=m["solver"], **student)
            hard[k] = hard_label_student(X, w_teacher)
            if k < m["flow_draws"]:
                tol = {"tol": 1e-12} if other == "gradient_flow" else {}
                w_other = distill(X, w_teacher, w_init=w_init, method=other, **tol, **student)
                err = float(np.max(np.abs(w_other - students[k])))
                flow_err = err if np.isnan(flow_err) else max(flow_err, err)
        if m["risk"] == "exact":
            r_student = geom.exact_risk(students, w_teacher)
            r_hard = geom.exact_risk(hard, w_teacher)
        else:
            r_student = geom.mc_risk(students, w_teacher, m["n_test"], rng)
            r_hard = geom.mc_risk(hard, w_teacher, m["n_test"], rng)
    angle_mean, angle_se = _mean_se(angle_to_teacher(students, w_teacher))
    risk_mean, risk_se = _mean_se(r_student)
    hard_mean, hard_se = _mean_se(r_hard)
    return {
        "geometry": name, "d": d, "n": n, "draws": n_draws,
        "angle_mean": angle_mean, "angle_se": angle_se,
        "risk_mean": risk_mean, "risk_se": risk_se,
        # of the zero-start student: the reference, not the expectation, when init_scale > 0
        "risk_expected_exact": (expected_isotropic_risk(n, d) if name == "isotropic"
                                else float("nan")),
        "bound": float(bound[0]), "bound_beta": float(beta[0]),
        "hard_angle_mean": float(np.mean(angle_to_teacher(hard, w_teacher))),
        "hard_risk_mean": hard_mean, "hard_risk_se": hard_se,
        # strictly better beyond round-off (at n = 1 both students are ±x_1: a tie)
        "frac_distilled_better": float(np.mean(r_student < r_hard - 1e-12)),
        "flow_max_abs_error": flow_err,
    }


def _pool(parts, mean, se):
    """Mean and standard error over all the draws of several rows, from each row's draws,
    mean and standard error (exact: the within-row sums of squares are ``(D - 1) se² D``)."""
    D = np.array([p["draws"] for p in parts], dtype=float)
    m = np.array([p[mean] for p in parts], dtype=float)
    s = np.array([p[se] for p in parts], dtype=float)
    total = D.sum()
    pooled = float(D @ m / total)
    within = np.where(D > 1, (D - 1) * D * np.nan_to_num(s) ** 2, 0.0)
    squares = within.sum() + D @ (m - pooled) ** 2
    return pooled, (float(np.sqrt(squares / (total - 1) / total)) if total > 1 else math.nan)


def _pooled_row(parts):
    """One table row from the rows of several seeds of one (geometry, n)."""
    D = np.array([p["draws"] for p in parts], dtype=float)
    row = dict(parts[0], draws=int(D.sum()))
    for mean, se in (("angle_mean", "angle_se"), ("risk_mean", "risk_se"),
                     ("hard_risk_mean", "hard_risk_se")):
        row[mean], row[se] = _pool(parts, mean, se)
    for key in ("hard_angle_mean", "frac_distilled_better"):
        row[key] = float(D @ [p[key] for p in parts] / D.sum())
    flow = [p["flow_max_abs_error"] for p in parts if math.isfinite(p["flow_max_abs_error"])]
    row["flow_max_abs_error"] = max(flow) if flow else math.nan
    return row


def _methods_per_geometry(done):
    """The one method configuration of each geometry, whose student is the same throughout."""
    per_geometry = {}
    for r in done:
        m = {k: v for k, v in r["config"]["method"].items() if k not in ("name", "geometry")}
        g = r["results"]["geometry"]
        if per_geometry.setdefault(g, m) != m:
            raise ValueError(f"the {g} rows differ in their method parameters ({m} and "
                             f"{per_geometry[g]}); report one configuration at a time")
    students = {tuple(m[k] for k in STUDENT) for m in per_geometry.values()}
    if len(students) > 1 or len({r["results"]["d"] for r in done}) > 1:
        raise ValueError("the rows hold several students or dimensions d; report one at a time")
    return per_geometry


def result_from_rows(rows):
    """The :class:`LinearTeacherResult` of the finished ``linear_teacher`` rows of a store.

    Parameters
    ----------
    rows : list of dict
        Rows of :meth:`~hilbert_sd.experiments.store.ResultStore.rows` of one student, one d
        and one method configuration per geometry. The rows of several seeds of a (geometry,
        n) are pooled into one (their draws, means and standard errors over all the draws;
        ``draws`` is the total): a row's law does not depend on the teacher. The table is
        ordered by geometry (in the order of their first rows) and then by n.

    Returns
    -------
    LinearTeacherResult

    Raises
    ------
    ValueError
        No finished row, or rows of several students, dimensions, or configurations of a
        geometry.
    """
    from hilbert_sd.experiments.reports import finished

    done = finished(rows, "linear_teacher")
    methods = _methods_per_geometry(done)
    groups = {}
    for r in done:
        res = {c: (float("nan") if r["results"][c] is None else r["results"][c])
               for c in COLUMNS}
        groups.setdefault((res["geometry"], res["n"]), []).append(res)
    order = list(methods)
    table = [_pooled_row(groups[key]) for key in
             sorted(groups, key=lambda key: (order.index(key[0]), key[1]))]
    first = methods[order[0]]
    config = {"d": table[0]["d"], "n_values": list(dict.fromkeys(t["n"] for t in table)),
              "n_draws": first["draws"], "geometries": order,
              "kappa": methods.get("polar-kappa", first)["kappa"],
              "margin": methods.get("polar-margin", first)["margin"],
              **{k: first[k] for k in ("risk", "n_test", "flow_draws", *STUDENT)},
              "seeds": sorted({r["seed"] for r in done}),
              "teacher": "unit vector, random direction, one per seed"}
    return LinearTeacherResult(table, config, sum(r["duration"] or 0.0 for r in done))


def report(rows, out_dir):
    """The report of ``hilbert-sd linear-teacher`` and ``hilbert-sd reproduce
    linear-teacher``: :meth:`LinearTeacherResult.save` and :meth:`LinearTeacherResult.summary`
    of the store's rows (:func:`result_from_rows`).

    Returns
    -------
    dict
        ``{"files": [the three paths], "summary": text}``.
    """
    result = result_from_rows(rows)
    return {"files": result.save(out_dir), "summary": result.summary()}


def plot_linear_teacher(result, fig=None):
    """Transfer risk against n (log scale), one panel per geometry, ``n = d`` marked.

    Parameters
    ----------
    result : LinearTeacherResult
    fig : matplotlib.figure.Figure, default=None
        Figure to draw in (a new one when None).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.figure
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    geometries = list(dict.fromkeys(r["geometry"] for r in result.rows))
    if fig is None:  # one panel as wide as two: room for the legend and the title
        fig = matplotlib.figure.Figure(figsize=(4.2 * max(len(geometries), 2), 4.6),
                                       layout="constrained")
    axes = fig.subplots(1, len(geometries), squeeze=False)[0]
    d = result.rows[0]["d"]
    floor = 1e-10
    for ax, name in zip(axes, geometries):
        n = result.column("n", name)
        risk = result.column("risk_mean", name)
        hard = result.column("hard_risk_mean", name)
        bound = np.minimum(result.column("bound", name), 1.0)
        exact = result.column("risk_expected_exact", name)
        positive = np.concatenate([risk, hard])
        positive = positive[positive > floor]
        # Log scale where the risks span decades (polar laws); linear otherwise (isotropic,
        # where everything between 0.1 and 0.5 would be squeezed into one decade).
        log_y = positive.size > 0 and positive.max() / positive.min() > 100.0
        for y, se_col, marker, label in (
            (risk, "risk_se", "o", "distilled (soft labels)"),
            (hard, "hard_risk_se", "s", "hard labels (max margin)"),
        ):
            shown = y > floor if log_y else np.ones(y.shape, dtype=bool)
            ax.errorbar(n[shown], y[shown], yerr=result.column(se_col, name)[shown],
                        marker=marker, ms=4, capsize=2, label=label)
        if np.any(np.isfinite(exact)):
            keep = np.isfinite(exact) & ((exact > floor) if log_y else True)
            ax.plot(n[keep], exact[keep], "kx:", ms=6, lw=1, zorder=5,
                    label=r"exact $E\,R_n$ from zero (Beta law)")
        keep = bound > floor if log_y else np.ones(bound.shape, dtype=bool)
        ax.plot(n[keep], bound[keep], "--", color="tab:red", lw=1,
                label=r"bound $\min_\beta\,[p(\beta)+p(\pi/2-\beta)^n]$ from zero "
                      "(clipped at 1)")
        ax.axvline(d, color="grey", lw=1)
        ax.set_xscale("log")
        # sample counts: integer ticks 1, 2, 5, 10, 20, ... (not 2 x 10^0)
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        if log_y:
            ax.set_yscale("log")
            ax.set_ylim(floor, 3.0)
            hidden = n[risk <= floor]
            if hidden.size:
                ax.text(0.98, 0.02, f"distilled risk < {floor:g} for n >= {hidden.min()}\n"
                        "(not shown on the log scale)", transform=ax.transAxes, ha="right",
                        va="bottom", fontsize=7)
        else:
            ax.set_ylim(-0.02, 1.05)
        ax.text(d, 0.90, " n = d", color="grey", va="top", fontsize=8,
                transform=ax.get_xaxis_transform())
        ax.set_xlabel("training inputs n (log scale)")
        ax.set_ylabel("transfer risk" + (" (log scale)" if log_y else ""))
        ax.set_title(name)
        ax.grid(True, which="major", alpha=0.3)
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="outside lower center", fontsize=8,
               ncol=len(labels) if len(geometries) > 2 else 2)
    fig.suptitle(f"Linear teacher, d = {d}, student {_student_text(result.config)}, "
                 f"{result.rows[0]['draws']} draws per n\ntransfer risk "
                 "P[sign(wᵀx) ≠ sign(w*ᵀx)] (mean ± standard error)", fontsize=10)
    return fig
