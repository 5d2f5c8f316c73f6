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
    path = self_distill(spectrum, inputs.y, epsilon=m["epsilon"], alpha=m["alpha"],
                        n_rounds=m["n_rounds"], mix=m["mix"],
                        on_infeasible=m["on_infeasible"])
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
        path = self_distill(spectrum, Y, epsilon=m["epsilon"], alpha=m["alpha"],
                            n_rounds=m["n_rounds"], mix=m["mix"], multioutput="independent",
                            on_infeasible=m["on_infeasible"])
        results = _self_distill_results(
            [(items[i][0], items[i][1]) for i in idx], spectrum, path.coefficients,
            np.asarray(path.ridges, dtype=np.float64), list(path.collapse_round),
            np.asarray(path.basis_weights))
        for i, res in zip(idx, results):
            out[i] = res
    return out


def _self_distill_results(cases, spectrum, coef, ridges, collapse, basis):
    """Results of k simulations from their paths, every array operation done once for all.

    cases: k pairs (config, inputs); coef (R + 1, n, k); ridges (R, k), inf once collapsed;
    collapse: k collapse rounds; basis (R, n, k). A collapsed round has ridge inf, so its
    shrinkage λ/(λ + α) and its test filter 1/(λ + α) are exactly 0: the zero function.
    """
    lam = spectrum.eigenvalues[None, :, None]
    n = spectrum.n
    R = ridges.shape[0]
    m = cases[0][0]["method"]
    limit = m["record_rounds"]
    den = lam + ridges[:, None, :]  # (R, n, k); never divide by λ alone
    z0 = coef[0]  # (n, k)
    fits = lam / den * coef[:R]  # fits of every round in the eigenbasis
    train = np.mean((fits - z0) ** 2, axis=1)  # (R, k)
    noisy = [c["data"].get("label_noise", 0.0) > 0 for c, _ in cases]
    if any(noisy):
        # the seeds of a batch usually share their noise-free labels: project each once
        distinct = {id(inp.y_clean): inp.y_clean for _, inp in cases}
        position = {key: i for i, key in enumerate(distinct)}
        Zc = spectrum.project(np.column_stack(list(distinct.values())))
        columns = [position[id(inp.y_clean)] for _, inp in cases]
        clean = np.mean((fits - Zc[:, columns]) ** 2, axis=1)
    eff = basis[:R].sum(axis=1)
    inputs = cases[0][1]
    if inputs.has_test:
        k = len(cases)
        filtered = (coef[:R] / den).transpose(1, 0, 2).reshape(n, R * k)
        pred = (inputs.test_projection @ filtered).reshape(-1, R, k)  # one matrix product
        Y_test = np.column_stack([inp.y_test for _, inp in cases])
        test = np.mean((pred - Y_test[:, None, :]) ** 2, axis=0)  # (R, k)
    norms = np.sum(z0 * z0, axis=0)
    rank = int(spectrum.numerical_rank)
    outs = []
    for j in range(len(cases)):
        T = collapse[j]
        # until collapse, a column of an independent run stops at its own collapse round
        rounds = T + 1 if (m["n_rounds"] is None and T is not None) else R
        live = rounds if T is None else T
        out = {"rounds": int(rounds), "collapse_round": _py(T), "numerical_rank": rank}
        if m["epsilon"] is not None:
            out["r0"] = float(np.sqrt(norms[j] / (n * m["epsilon"])))
        _per_round(out, "alpha", ridges[:live, j].tolist() + [None] * (rounds - live), limit)
        _per_round(out, "train_mse", train[:rounds, j], limit)
        if noisy[j]:
            _per_round(out, "clean_mse", clean[:rounds, j], limit)
        _per_round(out, "effective_dim", eff[:rounds, j], limit)
        if inputs.has_test:
            tj = test[:rounds, j]
            _per_round(out, "test_mse", tj, limit)
            best = int(np.argmin(tj))
            out["best_round"] = best
            out["best_test_mse"] = float(tj[best])
            out["final_test_mse"] = float(tj[-1])
        outs.append(out)
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
