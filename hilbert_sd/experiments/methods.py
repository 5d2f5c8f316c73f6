"""Adapters from experiment configs to the library's simulations.

Each ``run_*`` function has the signature ``run(config, inputs, seed) -> dict`` of
:mod:`hilbert_sd.experiments.registry`: it reads the method's parameters from
``config["method"]``, the shared arrays from ``inputs`` (one eigendecomposition per group of
simulations) and returns a flat dict of scalars. Library modules are imported inside the
functions, so a module that does not exist yet only disables its method.
"""

import numpy as np

__all__ = ["check_self_distill", "run_self_distill"]


def _py(value):
    """Plain Python scalar for JSON (numpy scalars, None kept)."""
    if value is None:
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return value


def _per_round(out, name, values, limit):
    for t, v in enumerate(values[: limit + 1]):
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
    y = inputs.y
    path = self_distill(None, y, epsilon=m["epsilon"], alpha=m["alpha"],
                        n_rounds=m["n_rounds"], mix=m["mix"],
                        on_infeasible=m["on_infeasible"], spectrum=spectrum)
    lam = spectrum.eigenvalues
    n = lam.shape[0]
    coef = path.coefficients  # (R + 1, n): targets of rounds 0..R
    n_computed = coef.shape[0] - 1
    alphas = np.asarray(path.alphas, dtype=np.float64)
    live = alphas.shape[0]  # rounds before the collapse
    limit = m["record_rounds"]
    z0 = coef[0]

    # Fits of the live rounds in the eigenbasis: diag(λ/(λ+α_t)) z_t. Never divide by λ.
    shrink = lam[None, :] / (lam[None, :] + alphas[:, None])
    fits = shrink * coef[:live]
    zero_mse = float(z0 @ z0) / n  # the zero function after a collapse
    train = np.concatenate([np.mean((fits - z0) ** 2, axis=1),
                            np.full(n_computed - live, zero_mse)])

    out = {
        "rounds": n_computed,
        "collapse_round": _py(path.collapse_round),
        "numerical_rank": int(spectrum.numerical_rank),
    }
    if m["epsilon"] is not None:
        out["r0"] = float(np.sqrt(z0 @ z0 / (n * m["epsilon"])))
    _per_round(out, "alpha", list(alphas) + [None] * (n_computed - live), limit)
    _per_round(out, "train_mse", train, limit)
    if config["data"].get("label_noise", 0.0) > 0:
        zc = spectrum.project(inputs.y_clean)
        clean = np.concatenate([np.mean((fits - zc) ** 2, axis=1),
                                np.full(n_computed - live, float(zc @ zc) / n)])
        _per_round(out, "clean_mse", clean, limit)
    eff = np.asarray(path.basis_weights)[:n_computed].sum(axis=1)
    _per_round(out, "effective_dim", eff, limit)

    if inputs.has_test:
        P = inputs.test_projection  # k(X_test, X) U, (m, n)
        y_test = inputs.y_test
        pred = P @ (coef[:live] / (lam[None, :] + alphas[:, None])).T  # (m, live)
        test = np.concatenate([np.mean((pred - y_test[:, None]) ** 2, axis=0),
                               np.full(n_computed - live, float(np.mean(y_test ** 2)))])
        _per_round(out, "test_mse", test, limit)
        best = int(np.argmin(test))
        out["best_round"] = best
        out["best_test_mse"] = float(test[best])
        out["final_test_mse"] = float(test[-1])
    return out
