"""The reference self-distillation example (theory.md §2): the main job of ``hilbert-sd demo``.

Eleven points x = 0, 0.1, …, 1 with targets ≈ sin(2πx) plus noise, an RBF kernel
exp(−80 (x − x')²), and several budgets ε. For each ε the path runs until collapse; test error
is measured against sin(2πx) on a dense grid of [0, 1].
"""

from dataclasses import dataclass, field

import numpy as np

from hilbert_sd import bounds
from hilbert_sd.compare import match_early_stopping
from hilbert_sd.datasets import load_mobahi_toy
from hilbert_sd.distillation import self_distill
from hilbert_sd.kernels import gram
from hilbert_sd.spectral import eigh_psd

__all__ = ["ReferenceRun", "run_reference", "DEFAULT_EPSILONS"]

#: Budgets shown by the demo: from near interpolation to one round before collapse.
DEFAULT_EPSILONS = (0.001, 0.005, 0.02, 0.1)


@dataclass
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
    list of ReferenceRun
        One per budget, in the given order.
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
                    "K_grid": K_grid, "n": n},
        ))
    return runs
