"""``method = "filter_family"``: any member of the regularizer family along its path.

Kernel ridge regression, (mixed) self-distillation, L2-boosting, spectral cut-off, gradient
flow and gradient descent are each a diagonal filter on one eigendecomposition
(:mod:`hilbert_sd.filters`, :doc:`/topics/family`). One simulation builds the filters of the
whole path with the family's function of :mod:`hilbert_sd.filters` (``return_prediction=True``,
the stable prediction filters), turns them into a path with :func:`hilbert_sd.filter_path` on
the group's shared spectrum and the simulation's labels, and records every point of the path.
Dense and low-rank spectra (a config's ``[spectrum]`` table) are read alike: the test points
come in the spectrum's basis (``inputs.test_projection``) and every sum runs over the
eigenvalues the spectrum holds (on a low-rank one the top r and the tail pseudo-direction).
"""

import math

import numpy as np

from hilbert_sd.experiments.methods import _label_errors, _per_round, _py

__all__ = ["FAMILIES", "PATH_KEYS", "check_filter_family", "run_filter_family"]

#: The members, in the order of :doc:`/topics/family`.
FAMILIES = ("ridge", "self_distillation", "boosting", "spectral_cutoff", "gradient_flow",
            "gradient_descent")

#: Which family reads each family-specific parameter (``family`` itself is read by all).
_READERS = {
    "alpha": ("ridge", "self_distillation", "boosting"),
    "steps": ("self_distillation", "boosting"),
    "xi": ("self_distillation",),
    "ranks": ("spectral_cutoff",),
    "thresholds": ("spectral_cutoff",),
    "times": ("gradient_flow", "gradient_descent"),
    "learning_rate": ("gradient_flow", "gradient_descent"),
}

#: The result key of each family's path parameter: ``KEY[j]`` for path point j.
PATH_KEYS = {"ridge": "alpha", "self_distillation": "step", "boosting": "step",
             "spectral_cutoff": "rank", "gradient_flow": "time", "gradient_descent": "time"}


def _names(families):
    return ", ".join(f'"{f}"' for f in families)


def check_filter_family(params):
    """Constraints between the parameters of ``method = "filter_family"``.

    Each family needs its own parameters (``alpha`` for ridge, self-distillation and boosting;
    exactly one of ``ranks`` and ``thresholds`` for spectral cut-off; ``times`` for gradient
    flow and descent) and refuses a value other than the default for a parameter it does not
    read. Ranks, and the times of gradient descent (numbers of steps), are integers.

    Returns
    -------
    list of (str, str)
        ``(key, message)``; the key is relative to the ``[method]`` table.
    """
    from hilbert_sd.experiments.registry import parameter

    family = params.get("family")
    if family not in FAMILIES:
        return []  # reported by the parameter's own check
    problems = []
    for key, readers in _READERS.items():
        default = parameter("method", "filter_family", key).default
        value = params.get(key, default)
        if family not in readers and value != default:
            problems.append((key, f'is not read by family = "{family}" (only by '
                                  f"{_names(readers)}); leave it out"))
    if family in _READERS["alpha"] and params.get("alpha") is None:
        problems.append(("alpha", f'missing: family = "{family}" needs a ridge alpha > 0'))
    if family in _READERS["times"] and params.get("times") is None:
        problems.append(("times", f'missing: family = "{family}" needs times (an array)'))
    if family == "spectral_cutoff":
        ranks, thresholds = params.get("ranks"), params.get("thresholds")
        if ranks is None and thresholds is None:
            problems.append(("ranks", 'missing: family = "spectral_cutoff" needs ranks (keep '
                                      "the top r directions) or thresholds (keep λ >= τ)"))
        elif ranks is not None and thresholds is not None:
            problems.append(("thresholds", "not allowed with ranks: give exactly one of ranks "
                                           "and thresholds"))
    integers = {"ranks": "ranks are numbers of directions",
                "times": 'family = "gradient_descent" counts steps'}
    for key, why in integers.items():
        values = params.get(key)
        if values is None or (key == "times" and family != "gradient_descent"):
            continue
        for i, v in enumerate(values):
            if math.isfinite(v) and not float(v).is_integer():
                problems.append((f"{key}[{i}]", f"must be an integer ({why}), got {v!r}"))
                break
    return problems


def _filters(m, spectrum):
    """The path's filters ``(h, g)`` (J, len(eigenvalues)) and its parameter per point."""
    from hilbert_sd import filters

    lam = spectrum.eigenvalues  # r + 1 on a low-rank spectrum, the tail's 0 last
    family = m["family"]
    if family == "ridge":
        return filters.ridge(lam, m["alpha"], return_prediction=True), [m["alpha"]]
    if family in ("self_distillation", "boosting"):
        steps = list(range(m["steps"] + 1))
        if family == "boosting":
            return filters.boosting(lam, m["alpha"], m["steps"], return_prediction=True), steps
        return filters.self_distillation(lam, m["alpha"], m["steps"], xi=m["xi"],
                                         return_prediction=True), steps
    if family == "spectral_cutoff":
        if m["ranks"] is not None:
            ranks = [int(r) for r in m["ranks"]]
            try:
                pair = filters.spectral_cutoff(lam, ranks=ranks, return_prediction=True)
            except ValueError as exc:
                raise ValueError(f"method.ranks: {exc}") from None
            return pair, ranks
        return (filters.spectral_cutoff(lam, m["thresholds"], return_prediction=True),
                list(m["thresholds"]))
    from hilbert_sd.flow import flow_filters

    times = list(m["times"])
    # The filters of the gradient_flow method: n of the loss is the number of samples (not of
    # the eigenvalues a low-rank spectrum holds), and a divergent descent step
    # (eta lambda_max / n >= 2) is refused with the allowed learning rates, not run into
    # inf/NaN results.
    pair = flow_filters(lam, times, n_samples=spectrum.n, learning_rate=m["learning_rate"],
                        method="flow" if family == "gradient_flow" else "gd",
                        rank_tolerance=spectrum.rank_tolerance)
    return pair, times


def run_filter_family(config, inputs, seed):
    """One member of the family along its path on the group's eigendecomposition.

    Results (``j`` indexes the points of the path):

    - the path's parameter: ``alpha[0]`` (ridge: one point), ``step[j]`` = j (rounds of
      self-distillation, steps of boosting, 0..steps), ``rank[j]`` or ``threshold[j]``
      (spectral cut-off), ``time[j]`` (gradient flow; the number of steps for gradient
      descent);
    - ``train_mse[j]`` = (1/n)‖f_j(X) − y‖² to the (noisy) training labels, by Parseval;
    - ``clean_mse[j]``: the same to the noise-free labels (only with ``data.label_noise`` > 0);
    - ``test_mse[j]``: mean squared error to the noise-free test targets (with a test set);
    - ``dof[j]`` = Σ_k h_j[k], the trace of the path's smoother;
    - ``best_index`` (first point of least test error) and ``best_test_mse`` (with a test set).
    """
    from hilbert_sd import filter_path

    m = config["method"]
    spectrum = inputs.spectrum
    (h, g), points = _filters(m, spectrum)
    path = filter_path(spectrum, inputs.y, (h, g))
    noisy = config["data"].get("label_noise", 0.0) > 0
    targets = {"train_mse": inputs.y, "clean_mse": inputs.y_clean if noisy else None}
    targets = {name: v[:, None] for name, v in targets.items() if v is not None}
    # (1/n)||U diag(h_j) z - v||^2 by Parseval (a low-rank spectrum's tail coefficient holds
    # the energy of v outside its top r, where every filter is 0)
    errors = _label_errors(spectrum, h[:, :, None], list(targets.values()))
    key = PATH_KEYS[m["family"]]
    if m["family"] == "spectral_cutoff" and m["ranks"] is None:
        key = "threshold"
    out = {}
    limit = len(points) - 1
    _per_round(out, key, points, limit)
    for name, err in zip(targets, errors):
        _per_round(out, name, err[:, 0], limit)
    _per_round(out, "dof", path.effective_dof(), limit)
    if inputs.has_test:
        # the group's test points in the spectrum's basis (k(X_test, X) U, or the features a
        # low-rank spectrum computes from the inputs), shared by every simulation of the group
        pred = path.predict(inputs.test_projection, np.arange(len(path)), projected=True)
        test = np.mean((pred - inputs.y_test[None, :]) ** 2, axis=1)
        _per_round(out, "test_mse", test, limit)
        best = int(np.argmin(test))
        out["best_index"] = best
        out["best_test_mse"] = _py(test[best])
    return out
