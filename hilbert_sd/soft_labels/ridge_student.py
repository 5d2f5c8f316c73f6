"""The squared-loss weighted kernel ridge student and its weight fixed point
(:doc:`/topics/soft_labels`).

The student regresses the labels ``y`` and the teacher's predictions ``t`` (e.g. its soft
labels) with per-sample soft-label weights ``w`` and optional sample weights ``s``,

    min_f  Σ_i s_i [(f_i − y_i)² + a w_i (f_i − t_i)²] + γ ‖f‖²_H    [derived design],

solved by ``f = K c``, ``c = (ΩK + γI)⁻¹ Ω m``, ``ω_i = s_i (1 + a w_i)``,
``m_i = (y_i + a w_i t_i)/(1 + a w_i)`` [derived]. Limits [derived]: ``w = 0`` is kernel ridge
regression on ``y``; ``w = 1`` is kernel ridge regression on the fixed mix
``(y + a t)/(1 + a)`` with ridge ``γ/(1 + a)``; integer ``s_i`` equal duplicated rows.

- :func:`weighted_kernel_ridge`: static weights (e.g. those of a reference fit), one
  Cholesky solve of the symmetric positive-definite form
  ``(Ω^½ K Ω^½ + γI) d = Ω^½ m``, ``c = Ω^½ d`` (no inverse is formed).
- :func:`weighted_kernel_ridge_fixed_point`: weights that are a fixed point of the student
  itself, ``w* = φ(f(w*))``, by a damped iteration; convergence is reported, not claimed
  (:class:`FixedPointWarning` when it is not reached).
- :func:`wsl_weight_function`: the map ``φ: f(X) ↦ w`` of the weighted-soft-label weights
  for a regression student whose outputs are read as class probabilities or as logits.

Both return a :class:`WeightedRidgeStudent`: the fitted student (dual coefficients, training
predictions, the weights, iteration report), not a scikit-learn estimator. Its former name
``WeightedKernelRidge`` still imports from :mod:`hilbert_sd.soft_labels`, with a
``DeprecationWarning``.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from scipy.special import log_softmax

from hilbert_sd._validation import (
    as_float_array,
    check_kernel_rows,
    check_scalar,
    check_square_symmetric,
)
from hilbert_sd.soft_labels._checks import (
    check_labels,
    check_logits,
    check_sample_weight,
    check_weights,
    two_class,
)
from hilbert_sd.soft_labels.weights import _wsl_from_losses

__all__ = [
    "FixedPointWarning",
    "WeightedRidgeStudent",
    "weighted_kernel_ridge",
    "weighted_kernel_ridge_fixed_point",
    "wsl_weight_function",
]


class FixedPointWarning(UserWarning):
    """The damped fixed-point iteration of the weighted-KRR student did not converge."""


@dataclass(repr=False)
class WeightedRidgeStudent:
    """The fitted squared-loss weighted kernel ridge student (:doc:`/topics/soft_labels`).

    Returned by :func:`weighted_kernel_ridge` and :func:`weighted_kernel_ridge_fixed_point`;
    a result, not an estimator (it has no ``fit``). Formerly ``WeightedKernelRidge``.

    Attributes
    ----------
    dual_coef : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        ``c`` with ``f = k(·, X) c``.
    train_predictions : ndarray, shape of ``dual_coef``
        ``f(X) = K c``.
    weights : ndarray of shape (n_samples,)
        The soft-label weights ``w`` the solution was computed with.
    a, ridge : float
    n_iter : int
        Linear solves performed (1 for static weights).
    converged : bool
        True for static weights; for the fixed point, whether ``max|w_new − w| <= tol``.
    weight_changes : ndarray of shape (n_iter,)
        ``max|w_new − w|`` after each solve of the fixed-point iteration (empty when static).
    """

    dual_coef: np.ndarray
    train_predictions: np.ndarray
    weights: np.ndarray
    a: float
    ridge: float
    n_iter: int = 1
    converged: bool = True
    weight_changes: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def predict(self, K_new):
        """``f(X_new) = K_new c``.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n_samples)
            ``k(X_new, X)``: 2-D, one column per training sample, finite, real.

        Returns
        -------
        ndarray of shape (n_new,) or (n_new, n_outputs)
        """
        K_new = check_kernel_rows(K_new, self.dual_coef.shape[0])
        return K_new @ self.dual_coef

    def __repr__(self):
        return (f"{type(self).__name__}(n={self.dual_coef.shape[0]}, a={self.a:g}, "
                f"ridge={self.ridge:g}, n_iter={self.n_iter}, converged={self.converged})")


def _krr_inputs(K, y, teacher_targets, a, ridge, sample_weight):
    K = check_square_symmetric(K, "K", rtol=1e-8)
    n = K.shape[0]
    y = as_float_array(y, "y", ndim=(1, 2))
    t = as_float_array(teacher_targets, "teacher_targets", ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but K has {n}; they must match")
    if t.shape != y.shape:
        raise ValueError(f"teacher_targets has shape {t.shape}; expected {y.shape} (that of y)")
    a = check_scalar(a, "a", low=0.0)
    ridge = check_scalar(ridge, "ridge", low=0.0, low_inclusive=False)
    s = check_sample_weight(sample_weight, n)
    return K, y, t, a, ridge, s


def _krr_solve(K, y, t, w, a, ridge, s):
    """``c = Ω^{1/2} (Ω^{1/2} K Ω^{1/2} + γ I)⁻¹ Ω^{1/2} m``: symmetric positive definite."""
    aw = a * w
    omega_root = np.sqrt(s * (1.0 + aw))
    shape = (-1,) + (1,) * (y.ndim - 1)
    # 1 + a w >= 1: the division is safe; it is m_i = (y_i + a w_i t_i) / ω_i for s_i = 1.
    target = (y + aw.reshape(shape) * t) / (1.0 + aw).reshape(shape)
    A = omega_root[:, None] * K * omega_root[None, :]
    A[np.diag_indices_from(A)] += ridge
    rhs = omega_root.reshape(shape) * target
    dvec = scipy.linalg.solve(A, rhs, assume_a="pos", check_finite=False)
    c = omega_root.reshape(shape) * dvec
    return c, K @ c


def weighted_kernel_ridge(K, y, teacher_targets, weights, *, a=1.0, ridge=1.0,
                          sample_weight=None):
    """Squared-loss weighted kernel ridge student with static soft-label weights.

    Minimizes ``Σ_i s_i [(f_i − y_i)² + a w_i (f_i − t_i)²] + γ ‖f‖²_H`` with ``t`` the
    teacher's predictions (:doc:`/topics/soft_labels`, derived design): ``f = K c`` with
    ``c = (ΩK + γI)⁻¹ Ω m``, ``ω_i = s_i (1 + a w_i)``, ``m_i = (y_i + a w_i t_i)/(1 + a w_i)``.
    Solved in the symmetric positive-definite form
    ``(Ω^{1/2} K Ω^{1/2} + γI) d = Ω^{1/2} m``, ``c = Ω^{1/2} d`` (Cholesky; no inverse).

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels (e.g. one-hot rows).
    teacher_targets : array-like, shape of ``y``
        The teacher's predictions t (e.g. its soft labels at a temperature).
    weights : array-like of shape (n_samples,)
        ``w_i >= 0``, e.g. :func:`wsl_weights` of a reference fit (static weights).
        All zeros: kernel ridge regression on ``y``; all ones: kernel ridge regression on the
        fixed mix ``(y + a t)/(1 + a)`` with ridge ``γ/(1 + a)`` [derived].
    a : float, default=1.0
        Weight of the teacher term, >= 0.
    ridge : float, default=1.0
        γ > 0, scikit-learn's ``alpha`` convention (unnormalized K).
    sample_weight : array-like of shape (n_samples,), optional
        ``s_i >= 0`` (e.g. bootstrap counts); default 1.

    Returns
    -------
    WeightedRidgeStudent

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import weighted_kernel_ridge
    >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> fit = weighted_kernel_ridge(K, [1.0, 0.0], [0.8, 0.2], [0.5, 0.5], a=1.0, ridge=0.1)
    >>> fit.train_predictions.shape
    (2,)
    """
    K, y, t, a, ridge, s = _krr_inputs(K, y, teacher_targets, a, ridge, sample_weight)
    w = check_weights(weights, K.shape[0])
    c, f = _krr_solve(K, y, t, w, a, ridge, s)
    return WeightedRidgeStudent(dual_coef=c, train_predictions=f, weights=w.copy(), a=a,
                                ridge=ridge)


def wsl_weight_function(teacher_logits, labels, *, student_output="probabilities",
                        floor=1e-12):
    """The map ``f(X) ↦ w`` of the weighted-soft-label weights for a regression student.

    Parameters
    ----------
    teacher_logits : array-like of shape (n_samples, n_classes)
    labels : array-like of shape (n_samples,)
    student_output : {"probabilities", "logits"}, default="probabilities"
        How the student's outputs ``F`` are read: as class probabilities (a squared-loss
        student regressing one-hot rows and soft labels; they are clipped to
        ``[floor, 1]`` and renormalized, so ``L^s_i = −log(F_iy / Σ_j F_ij)``), or as logits.
    floor : float, default=1e-12

    Returns
    -------
    callable
        ``weight_function(F) -> ndarray of shape (n_samples,)``, :func:`wsl_weights` of the
        student read this way against the teacher.
    """
    T = check_logits(teacher_logits, "teacher_logits")
    T2 = two_class(T)
    y = check_labels(labels, T2.shape[0], T2.shape[1])
    rows = np.arange(T2.shape[0])
    Lt = -log_softmax(T2, axis=1)[rows, y]
    floor = check_scalar(floor, "floor", low=0.0, high=1.0, low_inclusive=False)
    if student_output not in ("probabilities", "logits"):
        raise ValueError(f"student_output={student_output!r}; allowed: 'probabilities', "
                         "'logits'")

    def weight_function(F):
        F = np.asarray(F, dtype=np.float64)
        if F.shape != T.shape:
            raise ValueError(f"student outputs have shape {F.shape}; expected {T.shape}")
        F2 = two_class(F) if student_output == "logits" else (
            np.column_stack([1.0 - F, F]) if F.ndim == 1 else F)
        if student_output == "logits":
            Ls = -log_softmax(F2, axis=1)[rows, y]
        else:
            Q = np.clip(F2, floor, 1.0)
            Ls = np.log(Q.sum(axis=1)) - np.log(Q[rows, y])
        return _wsl_from_losses(Ls, Lt)

    return weight_function


def weighted_kernel_ridge_fixed_point(K, y, teacher_targets, weight_function, *, a=1.0,
                                      ridge=1.0, sample_weight=None, damping=0.5, tol=1e-8,
                                      max_iter=50, initial_weights=None):
    """Weighted kernel ridge student whose weights are a fixed point of the student itself.

    Seeks ``w* = weight_function(f(w*))`` by the damped iteration
    ``w ← w + δ (weight_function(f(w)) − w)``, each ``f(w)`` the closed form of
    :func:`weighted_kernel_ridge`. Starts from ``initial_weights`` or, by default, from the
    weights of the reference fit ``f(0)`` (kernel ridge regression on the labels). Stops when
    ``max|weight_function(f(w)) − w| <= tol`` (converged; the returned solution is ``f(w)``)
    or after ``max_iter`` solves (a :class:`FixedPointWarning`).

    Parameters
    ----------
    K, y, teacher_targets, a, ridge, sample_weight
        As in :func:`weighted_kernel_ridge`.
    weight_function : callable
        ``F -> w`` with ``F`` the training predictions (shape of ``y``), e.g.
        :func:`wsl_weight_function`.
    damping : float in (0, 1], default=0.5
        Step δ of the damped iteration (1: plain fixed-point iteration).
    tol : float, default=1e-8
    max_iter : int, default=50
    initial_weights : array-like of shape (n_samples,), optional

    Returns
    -------
    WeightedRidgeStudent
        With ``n_iter`` (solves, the reference fit excluded), ``converged`` and
        ``weight_changes``.
    """
    K, y, t, a, ridge, s = _krr_inputs(K, y, teacher_targets, a, ridge, sample_weight)
    n = K.shape[0]
    if not callable(weight_function):
        raise ValueError(f"weight_function={weight_function!r} is not callable; allowed: a "
                         "callable F -> weights of shape (n,)")
    damping = check_scalar(damping, "damping", low=0.0, high=1.0, low_inclusive=False)
    tol = check_scalar(tol, "tol", low=0.0)
    max_iter = check_scalar(max_iter, "max_iter", low=1, integer=True)

    def evaluate(F):
        w_new = np.asarray(weight_function(F), dtype=np.float64)
        if w_new.shape != (n,):
            raise ValueError(f"weight_function returned shape {w_new.shape}; expected ({n},)")
        bad = ~np.isfinite(w_new) | (w_new < 0)
        if bad.any():
            raise ValueError(f"weight_function returned the weight {float(w_new[bad][0])!r}; "
                             "allowed: finite weights >= 0")
        return w_new

    if initial_weights is None:
        _, f0 = _krr_solve(K, y, t, np.zeros(n), a, ridge, s)
        w = evaluate(f0)
    else:
        w = check_weights(initial_weights, n).copy()
    changes = []
    converged = False
    for _ in range(max_iter):
        c, f = _krr_solve(K, y, t, w, a, ridge, s)
        w_new = evaluate(f)
        change = float(np.max(np.abs(w_new - w)))
        changes.append(change)
        if change <= tol:
            converged = True
            break
        if len(changes) < max_iter:
            w = w + damping * (w_new - w)
    if not converged:
        warnings.warn(f"the weighted-KRR fixed point did not converge in {max_iter} solves: "
                      f"max|w_new - w| = {changes[-1]:.3g} > tol = {tol:g}; try a smaller "
                      "damping or more iterations", FixedPointWarning, stacklevel=2)
    return WeightedRidgeStudent(dual_coef=c, train_predictions=f, weights=w.copy(), a=a,
                                ridge=ridge, n_iter=len(changes), converged=converged,
                                weight_changes=np.asarray(changes))
