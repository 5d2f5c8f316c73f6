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
    "check_self_distill",
    "run_gradient_flow",
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
    """Self-distillation (:doc:`/theory`, §2) on the shared eigendecomposition.

    Results (``t`` = round, 0-indexed, up to ``record_rounds``):

    - ``rounds``: rounds computed; ``collapse_round``: first zero round or None;
    - ``r0`` = ‖y‖/√(nε) (budget rule);
    - ``alpha[t]``: ridge of round t (None once collapsed);
    - ``train_mse[t]``: (1/n)‖f_t(X) − y‖² to the labels of round 0 (with their noise);
    - ``clean_mse[t]``: the same to the noise-free labels (only with ``data.label_noise`` > 0);
    - ``test_mse[t]``: mean squared error to the noise-free test targets (with a test set);
    - ``effective_dim[t]``: Σ_k diag(B_t)[k], the path's effective degrees of freedom;
    - ``best_round``, ``best_test_mse``, ``final_test_mse``.
    """
    return _self_distill_results([(config, inputs)], _self_distill_path(config, inputs))[0]


def _self_distill_path(config, inputs):
    from hilbert_sd.distillation import self_distill

    m = config["method"]
    return self_distill(inputs.spectrum, inputs.y, epsilon=m["epsilon"], alpha=m.get("alpha"),
                        n_rounds=m["n_rounds"], mix=m.get("mix", 0.0),
                        on_infeasible=m.get("on_infeasible", "raise"))


def run_early_stopping(config, inputs, seed):
    """Self-distillation against early-stopped gradient flow at matched training error, with
    the bounds M2, M5-M11 checked (the study of ``hilbert-sd demo``).

    The results of :func:`run_self_distill`, plus, per round ``t`` up to
    ``record_rounds``: ``round_mse[t]`` (1/n)‖f_t(X) − y_t‖² to the round's own targets,
    ``n_basis[t]`` (#{k : B_t[k] ≥ threshold · max B_t}), ``m2_lower[t]``/``m2_upper[t]`` (M2's
    bracket of the ridge), and the early-stopping side of
    :func:`hilbert_sd.compare.match_early_stopping`: ``es_time[t]``, ``es_test_mse[t]``,
    ``es_n_basis[t]``, ``sd_max_ratio_excess[t]``, ``es_max_ratio_excess[t]``; the collapse
    bounds ``M5_lower_kappa``, ``M6_lower``, ``M6_upper``, ``M6_upper_kappa``, ``kappa``; and
    every check of :func:`hilbert_sd.bounds.check_bounds` as ``check[i].FIELD``.
    """
    from hilbert_sd import bounds
    from hilbert_sd.compare import match_early_stopping

    m = config["method"]
    if m["epsilon"] is None or not inputs.has_test:
        raise ValueError("method early_stopping needs epsilon and test points")
    path = _self_distill_path(config, inputs)
    out = _self_distill_results([(config, inputs)], path)[0]
    spectrum, y, eps, tau = inputs.spectrum, inputs.y, m["epsilon"], m["threshold"]
    n = spectrum.n
    limit = m["record_rounds"]
    rounds = len(path)
    comparison = match_early_stopping(path=path, K_test=inputs.K_test, y_test=inputs.y_test,
                                      threshold=tau)
    wide = comparison.side_by_side()
    norms = np.linalg.norm(path.coefficients[:-1], axis=1)  # ||y_t|| by Parseval
    bracket = np.full((rounds, 2), np.nan)
    alive = norms**2 > n * eps * (1 + 1e-10)
    if alive.any():
        bracket[alive, 0], bracket[alive, 1] = bounds.ridge_bounds(spectrum.eigenvalues,
                                                                   norms[alive], n, eps)
    _per_round(out, "round_mse", path.train_mse(), limit)
    _per_round(out, "n_basis", bounds.n_basis_functions(path.log_basis_weights, tau), limit)
    _per_round(out, "m2_lower", bracket[:, 0], limit)
    _per_round(out, "m2_upper", bracket[:, 1], limit)
    _per_round(out, "es_time", wide["time"], limit)
    for key in ("es_test_mse", "es_n_basis", "sd_max_ratio_excess", "es_max_ratio_excess"):
        _per_round(out, key, wide[key], limit)
    y_norm = float(np.linalg.norm(y))
    m6 = bounds.collapse_round_bounds(spectrum.eigenvalues, y_norm, n, eps)
    out.update({"M5_lower_kappa": float(bounds.rounds_lower_bound_kappa(spectrum.eigenvalues,
                                                                        y_norm, n, eps)),
                "M6_lower": float(m6.lower), "M6_upper": _py(m6.upper),
                "M6_upper_kappa": float(m6.upper_kappa),
                "kappa": float(spectrum.condition_number)})
    for i, check in enumerate(bounds.check_bounds(path, tau=tau)):
        for key, value in check.items():
            out[f"check[{i}].{key}"] = _py(value)
    return out


def batch_self_distill(items):
    """Many ``self_distill`` simulations of one group at once.

    Simulations with the same rule (everything but the seed and the label noise draw) form
    the columns of one ``self_distill(..., multioutput="independent")`` call: one matrix
    product projects all their labels and one evaluates all their test predictions, instead
    of one memory-bound matrix-vector product per simulation. Each column is solved on its
    own, so the results equal those of :func:`run_self_distill` up to round-off. The rules
    of a batch usually share their seeds: their label matrices are stacked (and projected)
    once for the batch.

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
    labels = _LabelMatrices()
    for idx in rules.values():
        config, inputs, seed = items[idx[0]]
        if len(idx) == 1:
            out[idx[0]] = run_self_distill(config, inputs, seed)
            continue
        m = config["method"]
        cases = [(items[i][0], items[i][1]) for i in idx]
        Y = labels.stack(cases, "y")
        path = self_distill(inputs.spectrum, Y, epsilon=m["epsilon"], alpha=m["alpha"],
                            n_rounds=m["n_rounds"], mix=m["mix"], multioutput="independent",
                            on_infeasible=m["on_infeasible"])
        for i, res in zip(idx, _self_distill_results(cases, path, labels)):
            out[i] = res
    return out


class _LabelMatrices:
    """The label matrices of a batch's rules, each stacked and projected once per batch.

    A batch holds several rules (budgets, say) over the same seeds, whose simulations share
    their label vectors (:func:`~hilbert_sd.experiments.planning.make_inputs` gives the
    simulations of one seed and noise level the same array): a matrix is known by the
    identities of its columns, which the batch's items keep alive.
    """

    def __init__(self):
        self._stacks = {}
        self._projections = {}

    def stack(self, cases, name):
        """``column_stack`` of the ``name`` attribute (``"y"``, ``"y_clean"``, ``"y_test"``)
        of every case's inputs."""
        vectors = [getattr(inputs, name) for _, inputs in cases]
        key = (name, tuple(map(id, vectors)))
        M = self._stacks.get(key)
        if M is None:
            M = self._stacks[key] = np.column_stack(vectors)
        return M

    def project(self, spectrum, cases, name):
        """``spectrum.project`` of :meth:`stack` (the spectrum caches it too, by a hash of
        the matrix's bytes: a hash per call, which this saves)."""
        key = (name, id(spectrum), tuple(id(getattr(inputs, name)) for _, inputs in cases))
        z = self._projections.get(key)
        if z is None:
            z = self._projections[key] = spectrum.project(self.stack(cases, name))
        return z


def _columns(arr, leading):
    """``arr`` with its column axis last: (leading..., k) for one (k = 1) or k simulations."""
    return arr.reshape(*leading, -1)


def _label_errors(spectrum, fit_filters, labels):
    """(1/n)‖U diag(h_j) z − v‖² for every path point j and label column, by Parseval.

    ``fit_filters`` (J, n, k) are the path's filters on the coefficients ``z`` of the labels
    it fitted (``labels[0]``); ``labels`` lists the (n, k) label matrices to compare with.
    """
    z0 = spectrum.project(labels[0])  # the path's own projection: remembered by the spectrum
    fits = fit_filters * z0
    n = spectrum.n  # samples (a low-rank spectrum holds r + 1 < n coefficients)
    out = [np.sum((fits - z0) ** 2, axis=1) / n]
    for v in labels[1:]:
        out.append(np.sum((fits - spectrum.project(v)) ** 2, axis=1) / n)
    return out


def _test_errors(path, inputs, y_test):
    """(J, k) mean squared errors of every path point at the test inputs."""
    # the group's k(X_test, X) U, computed once and shared by every path of the group
    pred = path.predict(inputs.test_projection, np.arange(len(path)), projected=True)
    pred = _columns(pred, (len(path), inputs.test_projection.shape[0]))
    return np.mean((pred - y_test[None]) ** 2, axis=1)


def _statistics(cases, path, labels, noisy):
    """(R, k) training errors, clean errors (None without label noise), effective
    dimensions and test errors (None without a test set) of the k columns of a path, each
    array operation done once for all k columns through the path's own methods (its filters,
    its dual coefficients: the engine's, written once)."""
    spectrum = path.spectrum
    R = len(path)
    r = spectrum.eigenvalues.shape[0]  # n, or r + 1 on a low-rank spectrum
    filters = _columns(path.filters, (R, r))  # (R, r, k)
    inputs = cases[0][1]
    lab = [labels.stack(cases, "y")]
    if noisy:
        lab.append(labels.stack(cases, "y_clean"))
    errors = _label_errors(spectrum, filters, lab)
    eff = _columns(path.effective_dof(), (R,))
    test = (_test_errors(path, inputs, labels.stack(cases, "y_test"))
            if inputs.has_test else None)
    return errors[0], errors[1] if noisy else None, eff, test


_ROUND_KEYS = {}


def _round_keys(name, count):
    """``[f"{name}[0]", ..., f"{name}[count - 1]"]``, made once (every simulation uses them)."""
    keys = _ROUND_KEYS.get((name, count))
    if keys is None:
        keys = _ROUND_KEYS[(name, count)] = [f"{name}[{t}]" for t in range(count)]
    return keys


def _self_distill_results(cases, path, labels=None):
    """Results of k simulations from the path that fitted their labels as k columns.

    cases: k pairs (config, inputs); labels: the batch's :class:`_LabelMatrices` (a new one
    if None). Everything is read from the path: its ridges (inf once collapsed), its filters
    (training errors by Parseval, effective dimension) and its predictions at the test
    inputs, every array operation done once for all k columns. A collapsed round is the zero
    function.
    """
    labels = _LabelMatrices() if labels is None else labels
    spectrum = path.spectrum
    n = spectrum.n
    R = len(path)
    k = len(cases)
    m = cases[0][0]["method"]
    limit = m["record_rounds"]
    ridges = _columns(np.asarray(path.ridges, dtype=np.float64), (R,))  # (R, k)
    collapse = path.collapse_round
    collapse = list(collapse) if isinstance(collapse, tuple) else [collapse]
    noisy = [c["data"].get("label_noise", 0.0) > 0 for c, _ in cases]
    train, clean, eff, test = _statistics(cases, path, labels, any(noisy))
    has_test = test is not None
    if m["epsilon"] is not None:
        Y = labels.stack(cases, "y")
        r0 = np.sqrt(np.sum(Y * Y, axis=0) / (n * m["epsilon"])).tolist()
    rank = int(spectrum.numerical_rank)
    # Python floats of every column at once (column j is row j of the transposes)
    ridges_c, train_c, eff_c = ridges.T.tolist(), train.T.tolist(), eff.T.tolist()
    clean_c = clean.T.tolist() if clean is not None else None
    test_c = test.T.tolist() if has_test else None
    outs = []
    for j in range(k):
        T = collapse[j]
        # until collapse, a column of an independent run stops at its own collapse round
        rounds = T + 1 if (m["n_rounds"] is None and T is not None) else R
        live = rounds if T is None else T
        shown = min(rounds, limit + 1)  # rounds 0..record_rounds are stored
        out = {"rounds": int(rounds), "collapse_round": T, "numerical_rank": rank}
        if m["epsilon"] is not None:
            out["r0"] = r0[j]
        alpha = ridges_c[j][:live] + [None] * (rounds - live)
        out.update(zip(_round_keys("alpha", shown), alpha))
        out.update(zip(_round_keys("train_mse", shown), train_c[j]))
        if noisy[j]:
            out.update(zip(_round_keys("clean_mse", shown), clean_c[j]))
        out.update(zip(_round_keys("effective_dim", shown), eff_c[j]))
        if has_test:
            tj = test_c[j][:rounds]
            out.update(zip(_round_keys("test_mse", shown), tj))
            best = int(np.argmin(test[:rounds, j]))
            out["best_round"] = best
            out["best_test_mse"] = tj[best]
            out["final_test_mse"] = tj[-1]
        outs.append(out)
    return outs


def run_gradient_flow(config, inputs, seed):
    """Early-stopped kernel gradient flow / gradient descent
    (:doc:`/topics/gradient_flow_and_bounds`) at several times.

    Results (``i`` indexes ``method.times``): ``time[i]``, ``train_mse[i]`` (to the noisy
    labels), ``clean_mse[i]`` (with label noise), ``test_mse[i]`` (with a test set),
    ``effective_dim[i]`` = Σ_k E_t[k]; ``best_index``, ``best_time``, ``best_test_mse``.

    The filters are those of the flow of K itself (:func:`~hilbert_sd.flow.flow_filters`),
    which keeps the directions at or below the spectrum's rank tolerance at finite times
    (E_t = 1 − exp(−ηtλ/n), G_t → ηt/n there), as the matrix exponential of K does. A
    :class:`~hilbert_sd.flow.FlowPath` sets them to 0, which moves ``test_mse`` by about
    5e-10 (relative) on a small RBF problem whose smallest eigenvalue lies below the
    tolerance.
    """
    from hilbert_sd.flow import flow_filters

    m = config["method"]
    spectrum = inputs.spectrum
    times = np.asarray(m["times"], dtype=np.float64)
    E, G = flow_filters(spectrum.eigenvalues, times, n_samples=spectrum.n,
                        learning_rate=m["learning_rate"], method=m["method"],
                        rank_tolerance=spectrum.rank_tolerance)
    y = inputs.y[:, None]
    labels = [y]
    noisy = config["data"].get("label_noise", 0.0) > 0
    if noisy:
        labels.append(inputs.y_clean[:, None])
    errors = _label_errors(spectrum, E[:, :, None], labels)
    out = {}
    limit = len(times) - 1
    _per_round(out, "time", times, limit)
    _per_round(out, "train_mse", errors[0][:, 0], limit)
    if noisy:
        _per_round(out, "clean_mse", errors[1][:, 0], limit)
    _per_round(out, "effective_dim", E.sum(axis=1), limit)
    if inputs.has_test:
        # the group's test points in the eigenbasis (k(X_test, X) U, or the landmark features
        # of a Nystrom spectrum), shared by every simulation of the group
        pred = inputs.test_projection @ (G.T * spectrum.project(y))  # (n_test, n_times)
        test = np.mean((pred - inputs.y_test[:, None]) ** 2, axis=0)
        _per_round(out, "test_mse", test, limit)
        best = int(np.argmin(test))
        out["best_index"] = best
        out["best_time"] = _py(times[best])
        out["best_test_mse"] = float(test[best])
    return out
