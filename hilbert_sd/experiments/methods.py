"""Adapters from experiment configs to the library's simulations.

Each ``run_*`` function has the signature ``run(config, inputs, seed) -> dict`` of
:mod:`hilbert_sd.experiments.registry`: it reads the method's parameters from
``config["method"]``, the shared arrays from ``inputs`` (one eigendecomposition per group of
simulations) and returns a flat dict of scalars. Library modules are imported inside the
functions, so a module that does not exist yet only disables its method.
"""

import numpy as np

__all__ = [
    "batch_self_distill",
    "check_linear_teacher",
    "check_self_distill",
    "run_gradient_flow",
    "run_linear_teacher",
    "run_self_distill",
]


def _py(value):
    """Plain Python scalar for JSON (numpy scalars, None kept)."""
    if value is None or type(value) is float:
        return value
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _per_round(out, name, values, limit):
    values = values[: limit + 1]
    if isinstance(values, np.ndarray):
        values = values.tolist()  # Python floats in one call
    for t, v in enumerate(values):
        out[f"{name}[{t}]"] = _py(v)


def check_self_distill(params):
    """Constraints between the parameters of ``method = "self_distill"``.

    Returns
    -------
    list of (str, str)
        ``(key, message)``; the key is relative to the ``[method]`` table ("" for the table).
    """
    problems = []
    eps, alpha = params.get("epsilon"), params.get("alpha")
    if (eps is None) == (alpha is None):
        problems.append(("", "give exactly one of epsilon (budget rule) and alpha (fixed "
                             "ridge)"))
    if params.get("n_rounds") is None:
        if alpha is not None:
            problems.append(("n_rounds", "missing: required with a fixed alpha (a fixed ridge "
                                         "never collapses)"))
        if params.get("mix", 0.0) > 0:
            problems.append(("n_rounds", "missing: required with mix > 0 (mixed targets need "
                                         "not collapse)"))
    return problems


def run_self_distill(config, inputs, seed):
    """Self-distillation (theory.md §2) on the shared eigendecomposition.

    Results (``t`` = round, 0-indexed, up to ``record_rounds``):

    - ``rounds``: rounds computed; ``collapse_round``: first zero round or None;
    - ``r0`` = ‖y‖/√(nε) (budget rule);
    - ``alpha[t]``: ridge of round t (None once collapsed);
    - ``train_mse[t]``: (1/n)‖f_t(X) − y‖² to the labels of round 0 (with their noise);
    - ``clean_mse[t]``: the same to the noise-free labels (only with ``data.label_noise`` > 0);
    - ``test_mse[t]``: mean squared error to the noise-free test targets (with a test set);
    - ``effective_dim[t]``: Σ_k diag(B_t)[k] (fit coefficients relative to z_0);
    - ``best_round``, ``best_test_mse``, ``final_test_mse``.
    """
    from hilbert_sd.distillation import self_distill

    m = config["method"]
    spectrum = inputs.spectrum
    path = self_distill(None, inputs.y, epsilon=m["epsilon"], alpha=m["alpha"],
                        n_rounds=m["n_rounds"], mix=m["mix"],
                        on_infeasible=m["on_infeasible"], spectrum=spectrum)
    return _self_distill_results(
        [(config, inputs)], spectrum, path.coefficients[..., None],
        np.asarray(path.ridges, dtype=np.float64)[:, None], [path.collapse_round],
        np.asarray(path.basis_weights)[..., None])[0]


def batch_self_distill(items):
    """Many ``self_distill`` simulations of one group at once.

    Simulations with the same rule (everything but the seed and the label noise draw) form
    the columns of one ``self_distill(..., multioutput="independent")`` call: one matrix
    product projects all their labels and one evaluates all their test predictions, instead
    of one memory-bound matrix-vector product per simulation. Each column is solved on its
    own, so the results equal those of :func:`run_self_distill` up to round-off.

    Parameters
    ----------
    items : list of (config, inputs, seed)

    Returns
    -------
    list of dict
        In the order of ``items``. Any exception makes the runner fall back to running the
        items one by one, so that failures are attributed to the right simulation.
    """
    from hilbert_sd.distillation import self_distill

    out = [None] * len(items)
    rules = {}
    for i, (config, inputs, _) in enumerate(items):
        m = config["method"]
        rule = (id(inputs.group), m["epsilon"], m["alpha"], m["n_rounds"], m["mix"],
                m["on_infeasible"], m["record_rounds"])
        rules.setdefault(rule, []).append(i)
    for idx in rules.values():
        config, inputs, seed = items[idx[0]]
        if len(idx) == 1:
            out[idx[0]] = run_self_distill(config, inputs, seed)
            continue
        m = config["method"]
        spectrum = inputs.spectrum
        Y = np.column_stack([items[i][1].y for i in idx])
        path = self_distill(None, Y, epsilon=m["epsilon"], alpha=m["alpha"],
                            n_rounds=m["n_rounds"], mix=m["mix"], multioutput="independent",
                            on_infeasible=m["on_infeasible"], spectrum=spectrum)
        results = _self_distill_results(
            [(items[i][0], items[i][1]) for i in idx], spectrum, path.coefficients,
            np.asarray(path.ridges, dtype=np.float64), list(path.collapse_round),
            np.asarray(path.basis_weights))
        for i, res in zip(idx, results):
            out[i] = res
    return out


def _self_distill_results(cases, spectrum, coef, ridges, collapse, basis):
    """Results of k simulations from their paths, shared products done once.

    cases: k pairs (config, inputs); coef (R + 1, n, k); ridges (R, k) (inf once collapsed);
    collapse: k collapse rounds; basis (R, n, k).
    """
    lam = spectrum.eigenvalues
    n = lam.shape[0]
    R = ridges.shape[0]
    m = cases[0][0]["method"]
    limit = m["record_rounds"]
    noisy = [c["data"].get("label_noise", 0.0) > 0 for c, _ in cases]
    if any(noisy):
        Zc = spectrum.project(np.column_stack([inp.y_clean for _, inp in cases]))
    outs, filtered, spans = [], [], []
    for j, (config, inputs) in enumerate(cases):
        T = collapse[j]
        # until collapse, one column of an independent run stops at its own collapse round
        rounds = T + 1 if (m["n_rounds"] is None and T is not None) else R
        live = rounds if T is None else T
        alphas = ridges[:live, j]
        z = coef[:, :, j]
        z0 = z[0]
        # fits of the live rounds in the eigenbasis: diag(λ/(λ+α_t)) z_t; never divide by λ
        fits = lam[None, :] / (lam[None, :] + alphas[:, None]) * z[:live]
        pad = rounds - live
        train = np.concatenate([np.mean((fits - z0) ** 2, axis=1),
                                np.full(pad, float(z0 @ z0) / n)])
        out = {"rounds": int(rounds), "collapse_round": _py(T),
               "numerical_rank": int(spectrum.numerical_rank)}
        if m["epsilon"] is not None:
            out["r0"] = float(np.sqrt(z0 @ z0 / (n * m["epsilon"])))
        _per_round(out, "alpha", alphas.tolist() + [None] * pad, limit)
        _per_round(out, "train_mse", train, limit)
        if noisy[j]:
            zc = Zc[:, j]
            clean = np.concatenate([np.mean((fits - zc) ** 2, axis=1),
                                    np.full(pad, float(zc @ zc) / n)])
            _per_round(out, "clean_mse", clean, limit)
        _per_round(out, "effective_dim", basis[:rounds, :, j].sum(axis=1), limit)
        outs.append(out)
        # test functions of the live rounds: k(x, X) U diag(1/(λ+α_t)) z_t
        filtered.append((z[:live] / (lam[None, :] + alphas[:, None])).T)
        spans.append((live, pad))
    inputs = cases[0][1]
    if inputs.has_test:
        pred = inputs.test_projection @ np.concatenate(filtered, axis=1)  # one product
        start = 0
        for j, (config, inp) in enumerate(cases):
            live, pad = spans[j]
            y_test = inp.y_test
            test = np.concatenate([
                np.mean((pred[:, start:start + live] - y_test[:, None]) ** 2, axis=0),
                np.full(pad, float(np.mean(y_test ** 2)))])
            start += live
            out = outs[j]
            _per_round(out, "test_mse", test, limit)
            best = int(np.argmin(test))
            out["best_round"] = best
            out["best_test_mse"] = float(test[best])
            out["final_test_mse"] = float(test[-1])
    return outs


def run_gradient_flow(config, inputs, seed):
    """Early-stopped kernel gradient flow / gradient descent (theory.md §3) at several times.

    Results (``i`` indexes ``method.times``): ``time[i]``, ``train_mse[i]`` (to the noisy
    labels), ``clean_mse[i]`` (with label noise), ``test_mse[i]`` (with a test set),
    ``effective_dim[i]`` = Σ_k E_t[k]; ``best_index``, ``best_time``, ``best_test_mse``.
    """
    from hilbert_sd.flow import flow_filters

    m = config["method"]
    spectrum = inputs.spectrum
    lam = spectrum.eigenvalues
    n = lam.shape[0]
    times = np.asarray(m["times"], dtype=np.float64)
    E, G = flow_filters(lam, times, learning_rate=m["learning_rate"], method=m["method"],
                        rank_tolerance=spectrum.rank_tolerance)
    z0 = spectrum.project(inputs.y)
    out = {}
    limit = len(times) - 1
    _per_round(out, "time", times, limit)
    _per_round(out, "train_mse", np.mean((E * z0 - z0) ** 2, axis=1), limit)
    if config["data"].get("label_noise", 0.0) > 0:
        zc = spectrum.project(inputs.y_clean)
        _per_round(out, "clean_mse", np.mean((E * z0 - zc) ** 2, axis=1), limit)
    _per_round(out, "effective_dim", E.sum(axis=1), limit)
    if inputs.has_test:
        pred = inputs.test_projection @ (G * z0).T  # (m, n_times); G = E / λ in stable form
        test = np.mean((pred - inputs.y_test[:, None]) ** 2, axis=0)
        _per_round(out, "test_mse", test, limit)
        best = int(np.argmin(test))
        out["best_index"] = best
        out["best_time"] = _py(times[best])
        out["best_test_mse"] = float(test[best])
    return out


def check_linear_teacher(params):
    """A deep student needs a non-zero start (0 is a saddle of its flow)."""
    if params.get("depth", 1) >= 2 and params.get("init_scale", 0.0) == 0:
        return [("init_scale", "must be > 0 for depth >= 2 (zero is a saddle of the deep "
                               "linear flow)")]
    return []


def run_linear_teacher(config, inputs, seed):
    """Distil a random unit linear teacher into a linear student (theory.md §4).

    The teacher w* is a unit vector drawn from the simulation's own stream
    (``inputs.rng``), the inputs are the data set's X. Results: ``angle`` ∠(w, w*),
    ``transfer_risk`` = angle/π (exact under isotropic inputs), ``test_risk`` (sign
    disagreement on the test inputs, with a test set), ``expected_isotropic_risk`` (the exact
    E R_n of theory.md §4 for this n and d), ``n``, ``d``.
    """
    from hilbert_sd import linear

    m = config["method"]
    X = inputs.X
    n, d = X.shape
    rng = inputs.rng
    w_teacher = rng.standard_normal(d)
    w_teacher /= np.linalg.norm(w_teacher)
    w_init = m["init_scale"] * rng.standard_normal(d) if m["init_scale"] > 0 else None
    w = linear.distill(X, w_teacher, depth=m["depth"], temperature=m["temperature"],
                       w_init=w_init, method=m["solver"])
    out = {"n": n, "d": d,
           "angle": float(linear.angle_to_teacher(w, w_teacher)),
           "transfer_risk": float(linear.transfer_risk(w, w_teacher)),
           "expected_isotropic_risk": float(linear.expected_isotropic_risk(n, d))}
    if inputs.X_test is not None:
        out["test_risk"] = float(linear.transfer_risk(w, w_teacher, inputs.X_test))
    return out
