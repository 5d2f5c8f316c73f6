"""The results M2-M13 of :doc:`/theory` as functions: bounds, derived quantities and checks.

Notation (:doc:`/theory`, §2): eigenvalues λ of the unnormalized kernel matrix, descending;
budget ε on the mean squared training error, radius s = √(nε); r_t = ‖y_t‖/s;
κ = λ_max/λ_min; T the collapse round (first round whose fit is the zero function); A_t =
diag(λ/(λ + α_t)); B_t = A_0 ⋯ A_t (t + 1 factors), ``path.basis_weights[t]``.

Provenance of each statement, exactly as the specification tags it:

- M2: λ_min/(r_t − 1) ≤ α_t ≤ λ_max/(r_t − 1). [paper-form, derived]
- M5: T ≥ (r_0 − 1)/κ. [paper-form (recalled)]
- M6: r_0 − 1 ≤ T ≤ ⌈r_0² − 1⌉ and T < κ(r_0 − 1) + 1. [derived (new)]
- M7: B_{t−1}[k]/B_{t−1}[j] ≥ ((r_0 − 1 + λ_min/λ_j)/(r_0 − 1 + λ_min/λ_k))^t.
  [paper-form, derived]
- M8: B_{t−1}[k]/B_{t−1}[j] ≤ (λ_k/λ_j)^t. [derived]
- M9: #{k : B_t[k] ≥ τ max B_t} never grows. [derived]
- M10: the top-m energy fraction of z_t is non-decreasing. [derived]
- M11: (1/n)‖y_{t+1} − y_0‖² starts at ε and grows; ‖f_t‖²_H falls. [derived]
- M12: near interpolation α_0 → 0, y_1 → y_0, T = Θ(1/√ε), and the envelope of the sparsity
  guaranteed at the last guaranteed round grows as ε → 0 (the integer-round value is not
  monotone).
  [paper (qualitative), derived]
- M13: f_t is one KRR fit to y_0 with an equivalent kernel. [derived]

"paper-form" means the statement has the form of a result of Mobahi, Farajtabar & Bartlett
(2020); "(recalled)" means that attribution is not verified. Every statement above was derived
from the setup of :doc:`/theory` (§1–§2) and is checked numerically in ``tests/test_bounds.py``.
All statements concern the ε-constrained rule without ground-truth mixing; for multi-output
targets they hold for ``multioutput="joint"`` with Frobenius norms.

Vacuous bounds are returned honestly rather than refused: with λ_min = 0 (a singular kernel
matrix) κ = inf, the lower ridge bound is 0, M5 gives 0, M6's κ bound gives inf and M7 gives 1.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from hilbert_sd._validation import as_float_array, check_kernel_rows, check_scalar, check_targets

__all__ = [
    "CollapseRoundBounds",
    "EquivalentKernel",
    "check_bounds",
    "collapse_round_bounds",
    "equivalent_kernel",
    "equivalent_kernel_eigenvalues",
    "guaranteed_sparsification",
    "label_distances",
    "n_basis_functions",
    "relative_basis_weights",
    "ridge_bounds",
    "rkhs_norms",
    "rounds_lower_bound_kappa",
    "sparsification_lower_bound",
    "sparsification_upper_bound",
    "top_energy_fraction",
]


# ---- shared checks ------------------------------------------------------------------------

def _eigenvalues(eigenvalues):
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    if np.any(lam < 0):
        raise ValueError(f"eigenvalues contains {lam.min()!r}; allowed: >= 0 (clip round-off "
                         "negatives first, e.g. with hilbert_sd.spectral.eigh_psd)")
    if lam.max() <= 0:
        raise ValueError("eigenvalues are all 0; the kernel matrix must have a positive eigenvalue")
    return lam


def _radius_ratio(y_norm, n_samples, epsilon):
    """r = ‖y‖ / √(nε), elementwise over ``y_norm``."""
    n = check_scalar(n_samples, "n_samples", low=1, integer=True)
    eps = check_scalar(epsilon, "epsilon", low=0.0, low_inclusive=False)
    yn = np.asarray(y_norm, dtype=np.float64)
    if np.any(~np.isfinite(yn)) or np.any(yn < 0):
        raise ValueError(f"y_norm must be finite and >= 0; got {y_norm!r}")
    return yn / math.sqrt(n * eps)


_PATH_ATTRIBUTES = ("eigenvalues", "ridges", "log_basis_weights", "epsilon", "mix",
                    "multioutput")


def _check_path(path):
    """A DistillationPath, or any object with its attributes (tests tamper with copies)."""
    missing = [a for a in _PATH_ATTRIBUTES if not hasattr(path, a)]
    if missing:
        raise ValueError(f"path must be a DistillationPath (from hilbert_sd.self_distill); got "
                         f"{type(path).__name__} without {', '.join(missing)}")


def _kappa(lam):
    lam_min = float(lam.min())
    return math.inf if lam_min <= 0 else float(lam.max()) / lam_min


def _scalar_or_array(x):
    x = np.asarray(x, dtype=np.float64)
    return float(x) if x.ndim == 0 else x


def _indices(idx, n, name):
    idx = np.asarray(idx)
    if not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"{name} must be integer eigen-indices; got {idx!r}")
    if np.any(idx < 0) or np.any(idx >= n):
        raise ValueError(f"{name}={idx!r} is out of range; allowed: 0 <= {name} < {n}")
    return idx


def _check_pair(lam, k, j):
    k = _indices(k, lam.shape[0], "k")
    j = _indices(j, lam.shape[0], "j")
    lk, lj = np.broadcast_arrays(lam[k], lam[j])
    if np.any(lk <= lj):
        raise ValueError("the statement needs lambda_k > lambda_j (k before j in descending "
                         "order, distinct eigenvalues); got a pair with lambda_k <= lambda_j")
    return lk, lj


def _rounds(t, name="t"):
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer) or np.any(t < 1):
        raise ValueError(f"{name} must be an integer number of factors >= 1; got {t!r}")
    return t


# ---- M2 ---------------------------------------------------------------------------------

def ridge_bounds(eigenvalues, y_norm, n_samples, epsilon):
    """M2: bracket of the ridge of a non-collapsed round, λ_min/(r − 1) ≤ α ≤ λ_max/(r − 1).

    Tag: paper-form, derived (:doc:`/theory`). With r = ‖y_t‖/√(nε) > 1, the root α_t of
    Φ_{y_t}(α) = ε lies in this bracket because (α/(α + λ_max))² ‖y‖²/n ≤ Φ(α) ≤
    (α/(α + λ_min))² ‖y‖²/n. It is also the bracket the engine's root finder starts from.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Eigenvalues of the kernel matrix (≥ 0).
    y_norm : float or array-like
        ‖y_t‖ (Frobenius norm for joint multi-output targets); one value per round if an array.
    n_samples : int
        n.
    epsilon : float
        Budget ε > 0 on the mean squared training error.

    Returns
    -------
    lower, upper : float or ndarray (shape of ``y_norm``)
        ``lower`` is 0 when λ_min = 0 (vacuous but true).

    Raises
    ------
    ValueError
        If some r ≤ 1: the round collapses (the zero function is feasible) and has no ridge.
    """
    lam = _eigenvalues(eigenvalues)
    r = _radius_ratio(y_norm, n_samples, epsilon)
    if np.any(r <= 1):
        raise ValueError(f"||y|| / sqrt(n epsilon) = {np.min(r):.6g} <= 1: the round collapses "
                         "to the zero function and has no ridge; allowed: ||y||^2 > n epsilon")
    return _scalar_or_array(lam.min() / (r - 1)), _scalar_or_array(lam.max() / (r - 1))


# ---- M5, M6 ---------------------------------------------------------------------------------

def rounds_lower_bound_kappa(eigenvalues, y_norm, n_samples, epsilon):
    """M5: lower bound on the collapse round, T ≥ (r_0 − 1)/κ.

    Tag: paper-form (recalled): this form is believed to match a result of Mobahi et al. (2020)
    but the attribution is not verified. It is implied by the κ-free bound T ≥ r_0 − 1 of M6
    (derived here), since κ ≥ 1.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    y_norm : float
        ‖y_0‖.
    n_samples : int
    epsilon : float

    Returns
    -------
    float
        (r_0 − 1)/κ, floored at 0. Vacuous (0) when λ_min = 0 (κ = inf); nearly vacuous
        whenever κ is large, as for smooth kernels (κ up to 1e16).
    """
    lam = _eigenvalues(eigenvalues)
    r0 = float(_radius_ratio(y_norm, n_samples, epsilon))
    kappa = _kappa(lam)
    return 0.0 if r0 <= 1 or math.isinf(kappa) else (r0 - 1.0) / kappa


class CollapseRoundBounds(NamedTuple):
    """Bounds on the collapse round T of M6 (derived): ``lower ≤ T ≤ upper``, ``T <
    upper_kappa``."""

    lower: float
    upper: int
    upper_kappa: float


def collapse_round_bounds(eigenvalues, y_norm, n_samples, epsilon):
    """M6: κ-free bounds on the collapse round, r_0 − 1 ≤ T ≤ ⌈r_0² − 1⌉; and T < κ(r_0 − 1) + 1.

    Tag: derived (new), :doc:`/theory`. From M4 (derived): ‖y_{t+1}‖ ≥ ‖y_t‖ − s gives the lower
    bound; ‖y_{t+1}‖² ≤ ‖y_t‖² − nε gives the upper one; and r_t − 1 falls by at least 1/κ per
    round (α_t ≥ λ_min/(r_t − 1)), which gives the κ bound.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Only needed for κ.
    y_norm : float
        ‖y_0‖.
    n_samples : int
    epsilon : float

    Returns
    -------
    CollapseRoundBounds
        ``(lower, upper, upper_kappa)``; ``upper_kappa`` is a strict bound and is ``inf``
        (vacuous) when λ_min = 0. ``upper`` is an int, or ``inf`` when r_0² exceeds the float
        range. For r_0 ≤ 1 the fit collapses at once: ``(0, 0, 1)``.
    """
    lam = _eigenvalues(eigenvalues)
    r0 = float(_radius_ratio(y_norm, n_samples, epsilon))
    if r0 <= 1:
        return CollapseRoundBounds(0.0, 0, 1.0)
    kappa = _kappa(lam)
    r0_sq = r0 * r0
    # beyond the float range the upper bound is the correct limit inf, not an OverflowError
    upper = int(math.ceil(r0_sq - 1.0)) if math.isfinite(r0_sq) else math.inf
    return CollapseRoundBounds(r0 - 1.0, upper,
                               math.inf if math.isinf(kappa) else kappa * (r0 - 1.0) + 1.0)


# ---- M7, M8 -------------------------------------------------------------------------------

def sparsification_lower_bound(eigenvalues, y_norm, n_samples, epsilon, t, k, j, *, log=False):
    """M7: B_{t−1}[k]/B_{t−1}[j] ≥ ((r_0 − 1 + λ_min/λ_j)/(r_0 − 1 + λ_min/λ_k))^t.

    Tag: paper-form, derived. For λ_k > λ_j and 1 ≤ t ≤ T: each factor
    A_i[k]/A_i[j] = (λ_k/λ_j)(λ_j + α_i)/(λ_k + α_i) grows with α_i, and
    α_i ≥ α_0 ≥ λ_min/(r_0 − 1) (M3, M2). Self-distillation therefore separates the
    eigen-directions geometrically in t.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    y_norm : float
        ‖y_0‖ (r_0 > 1 needed).
    n_samples : int
    epsilon : float
    t : int or array-like of int
        Number of factors of the product (t ≥ 1): the bound is on ``basis_weights[t - 1]``.
    k, j : int or array-like of int
        Eigen-indices (0-based, descending order) with λ_k > λ_j; broadcast with ``t``.
    log : bool, default=False
        Return the natural logarithm (no overflow for long runs).

    Returns
    -------
    float or ndarray
        The bound (≥ 1). Vacuous (exactly 1) when λ_min = 0.
    """
    lam = _eigenvalues(eigenvalues)
    lk, lj = _check_pair(lam, k, j)
    t = _rounds(t)
    r0 = float(_radius_ratio(y_norm, n_samples, epsilon))
    if r0 <= 1:
        raise ValueError(f"r_0 = {r0:.6g} <= 1: the fit collapses at round 0; allowed: r_0 > 1")
    lam_min = float(lam.min())
    c = r0 - 1.0
    # lam_min / lam_j: lam_j >= lam_min, and lam_j > 0 whenever lam_min > 0
    q_j = np.where(lam_min > 0, lam_min / np.where(lj > 0, lj, 1.0), 0.0)
    q_k = lam_min / lk
    out = t * (np.log1p(q_j / c) - np.log1p(q_k / c))
    return _scalar_or_array(out if log else np.exp(out))


def sparsification_upper_bound(eigenvalues, t, k, j, *, log=False):
    """M8: B_{t−1}[k]/B_{t−1}[j] ≤ (λ_k/λ_j)^t.

    Tag: derived. Each factor (λ_k/λ_j)(λ_j + α)/(λ_k + α) ≤ λ_k/λ_j. Holds for every
    non-collapsed round, under any ridge sequence.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    t : int or array-like of int
        Number of factors (≥ 1): the bound is on ``basis_weights[t - 1]``.
    k, j : int or array-like of int
        Eigen-indices with λ_k > λ_j.
    log : bool, default=False

    Returns
    -------
    float or ndarray
        ``inf`` (vacuous) when λ_j = 0.
    """
    lam = _eigenvalues(eigenvalues)
    lk, lj = _check_pair(lam, k, j)
    t = _rounds(t)
    with np.errstate(divide="ignore"):
        out = t * (np.log(lk) - np.log(lj))
    return _scalar_or_array(out if log else np.exp(out))


# ---- M9 - M11 -----------------------------------------------------------------------------

def _log_weights(log_basis_weights):
    lw = np.asarray(log_basis_weights, dtype=np.float64)
    if lw.ndim != 2:
        raise ValueError(f"log_basis_weights must have shape (rounds, n); got {lw.shape}")
    if np.any(np.isnan(lw)) or np.any(lw > 0):
        raise ValueError("log_basis_weights must be <= 0 (weights in [0, 1]) and not NaN")
    return lw


def relative_basis_weights(log_basis_weights):
    """M9 (first part): log(B_t[k]/B_t[0]) per round, non-increasing in t for every k.

    Tag: derived. B_{t+1}[k]/B_{t+1}[0] = (B_t[k]/B_t[0]) · A_{t+1}[k]/A_{t+1}[0] and
    A[k] ≤ A[0] (λ_0 is the largest eigenvalue).

    Parameters
    ----------
    log_basis_weights : array-like of shape (R, n)
        ``path.log_basis_weights``.

    Returns
    -------
    ndarray of shape (R, n)
        ``nan`` on collapsed rounds (0/0).
    """
    lw = _log_weights(log_basis_weights)
    with np.errstate(invalid="ignore"):
        return lw - lw[:, :1]


def n_basis_functions(log_basis_weights, tau=1e-2):
    """M9: number of basis functions kept per round, #{k : B_t[k] ≥ τ · max_k B_t[k]}.

    Tag: derived: never grows with t ("fewer basis functions"), since B_t[k]/B_t[0] is
    non-increasing (:func:`relative_basis_weights`).

    Parameters
    ----------
    log_basis_weights : array-like of shape (R, n)
    tau : float, default=1e-2
        Relative threshold in (0, 1].

    Returns
    -------
    ndarray of shape (R,), int
        0 on collapsed rounds.
    """
    lw = _log_weights(log_basis_weights)
    tau = check_scalar(tau, "tau", low=0.0, high=1.0, low_inclusive=False)
    top = lw.max(axis=1, keepdims=True)
    keep = np.isfinite(top) & (lw >= top + math.log(tau))
    return keep.sum(axis=1)


def _energies(coefficients):
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim not in (2, 3):
        raise ValueError(f"coefficients must have shape (R, n) or (R, n, m); got {c.shape}")
    e = c**2
    return e.sum(axis=2) if e.ndim == 3 else e


def top_energy_fraction(coefficients, m=1):
    """M10: fraction of the targets' energy in the top-m eigen-directions, per round.

    Σ_{k<m} z_t[k]²/‖z_t‖² (0-based k, descending eigenvalues). Tag: derived: non-decreasing
    in t, because each round multiplies z by weights A_t that decrease with k (a nonlinear
    power iteration).

    Parameters
    ----------
    coefficients : array-like of shape (R + 1, n) or (R + 1, n, m_out)
        ``path.coefficients`` (z_0, z_1, …); columns of multi-output targets are pooled.
    m : int, default=1
        Number of leading eigen-directions, 1 ≤ m ≤ n.

    Returns
    -------
    ndarray of shape (R + 1,)
        ``nan`` where z_t = 0 (after a collapse).
    """
    e = _energies(coefficients)
    m = check_scalar(m, "m", low=1, high=e.shape[1], integer=True)
    total = e.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, e[:, :m].sum(axis=1) / total, np.nan)


def label_distances(coefficients):
    """M11: (1/n)‖y_{t+1} − y_0‖² per round t (by Parseval, in the eigenbasis).

    Tag: derived: equals ε at t = 0 (the budget is met exactly) and grows with t, since every
    B_t[k] falls. Round t's fit drifts further from the labels every round.

    Parameters
    ----------
    coefficients : array-like of shape (R + 1, n) or (R + 1, n, m)
        ``path.coefficients``; row t + 1 is the fit of round t (without mixing).

    Returns
    -------
    ndarray of shape (R,)
    """
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim not in (2, 3):
        raise ValueError(f"coefficients must have shape (R, n) or (R, n, m); got {c.shape}")
    d = _energies(c[1:] - c[:1])
    return d.sum(axis=1) / c.shape[1]


def rkhs_norms(eigenvalues, log_basis_weights, z0):
    """M11: squared RKHS norm of every round's function, ‖f_t‖²_H = Σ_k B_t[k]² z_0[k]²/λ_k.

    Tag: derived: non-increasing in t. Computed as exp(2 log B_t − log λ) z_0²: log B_t
    contains log λ, so no eigenvalue is divided by; zero eigenvalues (B = 0) contribute 0.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    log_basis_weights : array-like of shape (R, n)
        ``path.log_basis_weights`` (any diagonal filter from y_0 to the fit's coefficients).
    z0 : array-like of shape (n,) or (n, m)
        Eigen-coefficients of y_0 (``path.coefficients[0]``).

    Returns
    -------
    ndarray of shape (R,)
        ``inf`` if a weight sits on a zero eigenvalue (no RKHS function has those outputs).
    """
    lam = _eigenvalues(eigenvalues)
    lw = _log_weights(log_basis_weights)
    z0 = np.asarray(z0, dtype=np.float64)
    e0 = (z0**2).sum(axis=1) if z0.ndim == 2 else z0**2
    if e0.shape != lam.shape or lw.shape[1] != lam.shape[0]:
        raise ValueError(f"shapes do not match: eigenvalues {lam.shape}, "
                         f"log_basis_weights {lw.shape}, z0 {z0.shape}")
    positive = lam > 0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        terms = np.exp(2.0 * lw - np.log(np.where(positive, lam, 1.0))) * e0
    live = np.isfinite(lw)
    terms = np.where(live & positive, terms, 0.0)
    terms = np.where(live & ~positive & (e0 > 0), np.inf, terms)
    return terms.sum(axis=1)


# ---- M12 ---------------------------------------------------------------------------------

def guaranteed_sparsification(eigenvalues, y_norm, n_samples, epsilon, k, j):
    """M12: sparsification guaranteed at the last round M6 guarantees before collapse.

    The round t* = ⌈r_0 − 1⌉ ≤ T is guaranteed by M6, and M7 bounds
    B_{t*−1}[k]/B_{t*−1}[j] from below there by (1 + b/(x + a))^{t*}, with x = r_0 − 1,
    a = λ_min/λ_k and b = λ_min/λ_j − λ_min/λ_k. Tag: the qualitative behaviour near
    interpolation (ε → 0: α_0 → 0, more rounds, stronger sparsification) is the paper's
    [paper (qualitative)]; what follows is derived here.

    What increases as ε decreases is the *envelope* g(x) = (1 + b/(x + a))^x, the M7 bound at
    the real-valued round t = x = r_0 − 1 (M6: T ≥ x): it increases strictly in x (so as ε
    decreases) toward exp(b). The value returned here, at the integer round t* = ⌈x⌉, is
    **not** monotone in ε: at fixed t* it falls as x grows and it jumps up when t* does. It
    always satisfies g(x) ≤ bound ≤ exp((x + 1) b/(x + a)), so it tends to exp(b) as well.
    Example (reference data, RBF γ = 80, extreme pair k = 0, j = n − 1, ε = 0.3, 0.1, 0.03,
    0.01, 0.003, 0.001): returned bound 2.84, 2.55, 2.50, 2.41, 2.39, 2.40; envelope 1.49,
    1.92, 2.17, 2.29, 2.36, 2.40; limit exp(b) = 2.45. At a fixed number of rounds the
    guaranteed sparsity is weaker for smaller ε; more rounds are guaranteed, and the guarantee
    at the last of them saturates at exp(b) ≤ e rather than growing without bound.

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
    y_norm : float
        ‖y_0‖.
    n_samples : int
    epsilon : float
    k, j : int or array-like of int
        Eigen-indices with λ_k > λ_j.

    Returns
    -------
    t_star : int
        ⌈r_0 − 1⌉ (0 if r_0 ≤ 1: no round is guaranteed).
    bound : float or ndarray
        The M7 bound at t* (1 when t* = 0); not monotone in ε (see above).
    """
    r0 = float(_radius_ratio(y_norm, n_samples, epsilon))
    t_star = int(math.ceil(r0 - 1.0)) if r0 > 1 else 0
    if t_star == 0:
        lam = _eigenvalues(eigenvalues)
        lk, _ = _check_pair(lam, k, j)
        return 0, _scalar_or_array(np.ones_like(lk))
    return t_star, sparsification_lower_bound(eigenvalues, y_norm, n_samples, epsilon,
                                              t_star, k, j)


# ---- M13 ---------------------------------------------------------------------------------

def equivalent_kernel_eigenvalues(log_basis_weights, alpha_ref):
    """M13: Gram eigenvalues λ†_k = α† B[k]/(1 − B[k]) of the equivalent kernel.

    Tag: derived. Kernel ridge regression on y_0 with ridge α† and the Gram matrix
    U diag(λ†) Uᵀ has the training filter λ†/(λ† + α†) = B, i.e. reproduces the fit of the
    round whose weights are B. Computed from log B as α† exp(log B)/(−expm1(log B)), which
    stays accurate when B is within round-off of 1 (tiny ridges).

    Parameters
    ----------
    log_basis_weights : array-like of shape (n,) or (R, n)
        log B_t of one round or of several.
    alpha_ref : float
        Reference ridge α† > 0 (any: the kernel scales with it).

    Returns
    -------
    ndarray of the shape of ``log_basis_weights``
        0 where B = 0; ``inf`` where B = 1 (no finite kernel: a zero ridge).
    """
    lw = np.asarray(log_basis_weights, dtype=np.float64)
    if np.any(np.isnan(lw)) or np.any(lw > 0):
        raise ValueError("log_basis_weights must be <= 0 (weights in [0, 1]) and not NaN")
    a = check_scalar(alpha_ref, "alpha_ref", low=0.0, low_inclusive=False)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a * np.exp(lw) / -np.expm1(lw)
    return np.where(lw == 0, np.inf, np.where(np.isneginf(lw), 0.0, out))


@dataclass(frozen=True)
class EquivalentKernel:
    """The equivalent kernel of M13 (derived) for one round: same eigenvectors as K.

    Attributes
    ----------
    eigenvalues : ndarray of shape (n,)
        λ† (descending, like B).
    spectrum : Spectrum
        The eigendecomposition of the training kernel matrix (its eigenvectors are shared).
    alpha : float
        The reference ridge α†.
    kernel_eigenvalues : ndarray of shape (n,)
        λ, the eigenvalues of the training kernel matrix.
    log_weights : ndarray of shape (n,)
        log B of the round.
    """

    eigenvalues: np.ndarray
    spectrum: object
    alpha: float
    kernel_eigenvalues: np.ndarray
    log_weights: np.ndarray

    def gram(self):
        """Equivalent Gram matrix K† = U diag(λ†) Uᵀ, shape (n, n)."""
        Ut = self.spectrum.project(np.eye(self.spectrum.n))
        return self.spectrum.reconstruct(self.eigenvalues[:, None] * Ut)

    def _over_lambda(self):
        # B / lambda = exp(log B - log lambda): log B contains log lambda (0 where B = 0)
        lam = self.kernel_eigenvalues
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.exp(self.log_weights - np.log(lam))
        return np.where(np.isneginf(self.log_weights), 0.0, r)

    def cross(self, K_new):
        """Equivalent kernel between new and training points, k†(x, X) = k(x, X) U diag(λ†/λ) Uᵀ.

        This is k(x, X) U diag(λ†/λ²) Uᵀ k(X, X): on the training points it gives K†.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n)
            k(X_new, X) with the original kernel.

        Returns
        -------
        ndarray of shape (n_new, n)
        """
        lw = self.log_weights
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.alpha * self._over_lambda() / -np.expm1(lw)
        ratio = np.where(np.isneginf(lw), 0.0, ratio)
        K_new = check_kernel_rows(K_new, self.spectrum.n)
        return self.spectrum.reconstruct((self.spectrum.project_rows(K_new) * ratio).T).T

    def predict(self, K_new, y0):
        """KRR with the equivalent kernel and ridge α†, fitted to ``y0``, at new points.

        k†(x, X)(K† + α† I)⁻¹ y0 = k(x, X) U diag(B/λ) Uᵀ y0 (derived), evaluated in that
        stable form.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n)
            k(X_new, X) with the original kernel.
        y0 : array-like of shape (n,) or (n, m)

        Returns
        -------
        ndarray of shape (n_new,) or (n_new, m)
        """
        K_new = check_kernel_rows(K_new, self.spectrum.n)
        z = self.spectrum.project(check_targets(y0, self.spectrum.n, "y0"))
        w = self._over_lambda()
        coef = (w[:, None] * z.reshape(len(w), -1)).reshape(z.shape)
        return K_new @ self.spectrum.reconstruct(coef)


def equivalent_kernel(path, t, alpha_ref=None):
    """M13: the kernel with which one ordinary KRR fit to y_0 reproduces round t's function.

    Tag: derived. With λ†_k = α† B_t[k]/(1 − B_t[k]) and the same eigenvectors,
    KRR(K†, α†) on y_0 has training outputs U diag(B_t) z_0 = f_t(X), and off-sample, with
    k†(x, X) = k(x, X) U diag(λ†/λ) Uᵀ, the function k(x, X) U diag(B_t/λ) z_0 = f_t(x).
    So t rounds of self-distillation equal one ridge regression with a kernel whose spectrum
    decays faster (B_t ≈ Π λ/α for small λ).

    Parameters
    ----------
    path : DistillationPath
        Without ground-truth mixing (``mix=0``); joint for multi-output targets.
    t : int
        Round (0-indexed).
    alpha_ref : float, optional
        Reference ridge α† > 0; default the round's own ridge α_t (then round 0's equivalent
        kernel is K itself). Required for a collapsed round (whose ridge is inf).

    Returns
    -------
    EquivalentKernel
    """
    _check_path(path)
    if path.mix != 0:
        raise ValueError(f"the equivalent kernel needs mix=0; got mix={path.mix:g}")
    if path.multioutput == "independent" and np.ndim(path.ridges) == 2:
        raise ValueError("the equivalent kernel needs one filter: multioutput='joint'")
    R = path.log_basis_weights.shape[0]
    t = check_scalar(t, "t", low=0, high=R - 1, integer=True)
    if alpha_ref is None:
        alpha_ref = float(path.ridges[t])
        if not math.isfinite(alpha_ref):
            raise ValueError(f"round {t} collapsed (ridge inf): give alpha_ref > 0")
    lw = path.log_basis_weights[t]
    return EquivalentKernel(
        eigenvalues=equivalent_kernel_eigenvalues(lw, alpha_ref),
        spectrum=path.spectrum,
        alpha=check_scalar(alpha_ref, "alpha_ref", low=0.0, low_inclusive=False),
        kernel_eigenvalues=path.eigenvalues,
        log_weights=lw,
    )


# ---- all checks on a path -------------------------------------------------------------------

def _exp(x):
    """exp for table values: inf past the float range instead of an OverflowError."""
    return math.exp(x) if x < 709.0 else math.inf


def _pair_monotone_violation(q, lam, rank_tol, increasing):
    """Worst violation of q[k] <= q[j] (``increasing``) or q[k] >= q[j] over k < j, λ_k > λ_j.

    Eigenvalues are descending, so by transitivity the statement over all pairs holds iff q
    is monotone along the index across runs of equal eigenvalues: O(n), not O(n²).

    Returns
    -------
    violation : float
        <= 0 when the statement holds (-inf if there is no pair).
    scale : float
        max |q| over the pairs checked, the scale of the round-off in q.
    """
    keep = (lam > rank_tol) & np.isfinite(q)
    q, lam = q[keep], lam[keep]
    if q.size < 2:
        return -np.inf, 0.0
    first = np.searchsorted(-lam, -lam, side="left")  # first index of each run of equal λ
    pref = np.maximum.accumulate(q) if increasing else np.minimum.accumulate(q)
    prev = np.concatenate(([np.nan], pref))[first]  # extreme of q over strictly larger λ
    valid = first > 0
    if not valid.any():
        return -np.inf, 0.0
    viol = (prev - q) if increasing else (q - prev)
    return float(np.max(viol[valid])), float(np.max(np.abs(q)))


def check_bounds(path, *, tau=1e-2, top=1, rtol=1e-9):
    """Check M2 and M5-M11 on a self-distillation path; a table of simulated vs bound.

    Parameters
    ----------
    path : DistillationPath
        From :func:`hilbert_sd.self_distill` with the ε rule, ``mix=0`` and (for
        multi-output) ``multioutput="joint"``. M5/M6 need the collapse round: run with
        ``n_rounds=None`` (until collapse); otherwise those rows are left out.
    tau : float, default=1e-2
        Threshold of M9's basis-function count.
    top : int, default=1
        m of M10's top-m energy.
    rtol : float, default=1e-9
        Relative tolerance of "holds" (the ridges are roots found to ~1e-15 and the engine
        counts ‖y_t‖² ≤ nε(1 + 1e-10) as a collapse).

    Returns
    -------
    list of dict
        One record per checked statement and round, with keys ``id`` ("M2", …), ``round``
        (int, or None for statements about T), ``statement``, ``relation`` ("<=", ">=",
        "<", "=="; simulated ``relation`` bound), ``bound``, ``simulated``, ``holds`` (bool),
        ``vacuous`` (bool: the bound is trivially true, e.g. κ = inf). For M7/M8 ``bound`` and
        ``simulated`` are for the extreme pair (λ_max vs the smallest positive eigenvalue),
        and ``holds`` is checked (in log space) over every pair of distinct positive
        eigenvalues; ratios beyond the float range are reported as ``inf``.

    Raises
    ------
    ValueError
        For a fixed-ridge, mixed, independent multi-output or infeasible path.
    """
    _check_path(path)
    if path.epsilon is None:
        raise ValueError("check_bounds needs the epsilon rule; the path has a fixed alpha")
    if path.mix != 0:
        raise ValueError(f"check_bounds needs mix=0; got mix={path.mix:g}")
    if path.multioutput == "independent" and np.ndim(path.ridges) == 2:
        raise ValueError("check_bounds needs multioutput='joint' for 2-D targets")
    if path.infeasible_rounds:
        raise ValueError(f"rounds {list(path.infeasible_rounds)} were infeasible (budget below "
                         "the floor); the bounds assume a feasible budget")
    rtol = check_scalar(rtol, "rtol", low=0.0)
    lam = path.eigenvalues
    n = path.n_samples
    eps = path.epsilon
    rank_tol = path.spectrum.rank_tolerance
    coef = path.coefficients
    norms = np.sqrt(_energies(coef).sum(axis=1))  # ‖y_t‖, t = 0..R
    lw = path.log_basis_weights
    R = lw.shape[0]
    T = path.collapse_round
    live = R if T is None else T  # non-collapsed rounds 0..live-1
    alphas = path.ridges[:live]
    records = []

    def add(id_, rnd, statement, relation, bound, simulated, vacuous=False, holds=None):
        if holds is None:
            slack = rtol * max(abs(bound), abs(simulated), 1.0 if relation == "==" else 0.0)
            if relation in ("<=", "<"):
                holds = simulated <= bound + slack if relation == "<=" else simulated < bound + slack
            elif relation == ">=":
                holds = simulated >= bound - slack
            else:
                holds = abs(simulated - bound) <= slack
        records.append({"id": id_, "round": rnd, "statement": statement, "relation": relation,
                        "bound": float(bound), "simulated": float(simulated),
                        "holds": bool(holds), "vacuous": bool(vacuous)})

    # M2
    if live:
        lo, hi = ridge_bounds(lam, norms[:live], n, eps)
        lo, hi = np.atleast_1d(lo), np.atleast_1d(hi)
        for t in range(live):
            add("M2", t, "alpha_t >= lambda_min / (r_t - 1)", ">=", lo[t], alphas[t],
                vacuous=lo[t] == 0)
            add("M2", t, "alpha_t <= lambda_max / (r_t - 1)", "<=", hi[t], alphas[t])
    # M5, M6
    if T is not None:
        b5 = rounds_lower_bound_kappa(lam, norms[0], n, eps)
        add("M5", None, "T >= (r_0 - 1) / kappa", ">=", b5, T, vacuous=b5 == 0)
        b6 = collapse_round_bounds(lam, norms[0], n, eps)
        add("M6", None, "T >= r_0 - 1", ">=", b6.lower, T)
        add("M6", None, "T <= ceil(r_0^2 - 1)", "<=", b6.upper, T)
        add("M6", None, "T < kappa (r_0 - 1) + 1", "<", b6.upper_kappa, T,
            vacuous=math.isinf(b6.upper_kappa))
    # M7, M8 over all pairs of distinct positive eigenvalues, per number of factors t
    pos = np.nonzero(lam > rank_tol)[0]
    r0 = norms[0] / math.sqrt(n * eps)
    if pos.size >= 2 and lam[pos[-1]] < lam[0] and r0 > 1:
        j_ext = int(pos[-1])
        log_lam = np.log(np.where(lam > 0, lam, 1.0))
        lam_min = float(lam.min())
        c = r0 - 1.0
        # zero eigenvalues are placeholders here: the pair checks only use lam > rank_tol
        log_q = np.log1p(lam_min / np.where(lam > 0, lam, 1.0) / c)
        for t in range(1, live + 1):
            lb = lw[t - 1]
            sim = lb[0] - lb[j_ext]
            # M7: log B[k] + t log(c + lam_min/lam_k) non-increasing along the index
            viol7, q7 = _pair_monotone_violation(lb + t * log_q, lam, rank_tol, increasing=False)
            b7 = sparsification_lower_bound(lam, norms[0], n, eps, t, 0, j_ext, log=True)
            add("M7", t - 1, f"B_{t - 1}[k]/B_{t - 1}[j] >= ((r_0-1+l_min/l_j)/(r_0-1+l_min/l_k))^{t}",
                ">=", _exp(b7), _exp(sim), vacuous=lam_min == 0,
                holds=viol7 <= rtol * max(1.0, q7))
            # M8: log B[k] - t log lam_k non-decreasing along the index
            viol8, q8 = _pair_monotone_violation(lb - t * log_lam, lam, rank_tol, increasing=True)
            b8 = sparsification_upper_bound(lam, t, 0, j_ext, log=True)
            add("M8", t - 1, f"B_{t - 1}[k]/B_{t - 1}[j] <= (lambda_k/lambda_j)^{t}", "<=",
                _exp(b8), _exp(sim), holds=viol8 <= rtol * max(1.0, q8))
    # M9
    counts = n_basis_functions(lw[:live], tau) if live else np.zeros(0, int)
    for t in range(1, live):
        add("M9", t, f"#{{k: B_t[k] >= {tau:g} max B_t}} <= previous round", "<=",
            counts[t - 1], counts[t], holds=counts[t] <= counts[t - 1])
    # M10
    energy = top_energy_fraction(coef[: live + 1], top)
    for t in range(1, live + 1):
        add("M10", t, f"top-{top} energy of z_t >= previous round", ">=", energy[t - 1], energy[t])
    # M11
    dist = label_distances(coef[: live + 1])
    if live:
        add("M11", 0, "(1/n)||y_1 - y_0||^2 == epsilon", "==", eps, dist[0])
    for t in range(1, live):
        add("M11", t, "(1/n)||y_{t+1} - y_0||^2 >= previous round", ">=", dist[t - 1], dist[t])
    norms_h = rkhs_norms(lam, lw[:live], coef[0]) if live else np.zeros(0)
    for t in range(1, live):
        add("M11", t, "||f_t||_H^2 <= previous round", "<=", norms_h[t - 1], norms_h[t])
    return records
