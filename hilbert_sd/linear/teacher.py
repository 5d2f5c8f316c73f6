"""The linear teacher and the objective it sets the student (:doc:`/topics/linear_teacher`).

The teacher ``w*`` labels an input ``x`` with the probability ``s = σ(w*ᵀx / τ)`` of a sigmoid
(logistic) model at temperature ``τ``; the student ``w`` minimizes the mean cross-entropy to
those probabilities,

    L(w) = (1/n) Σ [log(1 + e^{wᵀx_i}) - s_i wᵀx_i],    ∇L(w) = (1/n) Xᵀ(σ(Xw) - s).

- :func:`teacher_probabilities`: the teacher's probabilities ``σ(Xw*/τ)``.
- :func:`loss`: ``L(w)`` at a student ``w``.
- ``soft_labels``: the former name of :func:`teacher_probabilities`, deprecated.

``∇L`` lies in the row space of ``X`` and ``L`` is convex with minimizers
``{w : Xw = Xw*/τ}`` [derived]; :mod:`hilbert_sd.linear.student` follows its gradient flow with
the gradient and Hessian defined here. Losses are ``logaddexp(0, z) - s z`` and ``σ'`` is
``σ(z) σ(-z)``, so saturated logits neither overflow nor cancel.
"""

import warnings

import numpy as np
from scipy.special import expit

from hilbert_sd._validation import check_scalar
from hilbert_sd.linear._checks import check_design, check_vector

__all__ = ["loss", "soft_labels", "teacher_probabilities"]


def teacher_probabilities(X, w_teacher, temperature=1.0):
    """Probabilities ``s_i = σ(w*ᵀx_i / τ)`` of the sigmoid teacher ``w*`` at temperature ``τ``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    w_teacher : array-like of shape (n_features,)
    temperature : float, default=1.0
        τ > 0. Dividing the logits by τ is the same as scaling the teacher by 1/τ.

    Returns
    -------
    s : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        Empty, complex or non-finite inputs, mismatched shapes, a non-positive temperature.
    """
    X = check_design(X)
    w_teacher = check_vector(w_teacher, X.shape[1], "w_teacher")
    temperature = check_scalar(temperature, "temperature", low=0.0, low_inclusive=False)
    return expit(X @ w_teacher / temperature)


def soft_labels(X, w_teacher, temperature=1.0):
    """Deprecated alias of :func:`teacher_probabilities` (same arguments, same values).

    The name suggested soft-label machinery; the function computes a sigmoid teacher's
    probabilities.

    Warns
    -----
    DeprecationWarning
        Always: ``hilbert_sd.linear.soft_labels`` is renamed ``teacher_probabilities``.
    """
    warnings.warn(
        "hilbert_sd.linear.soft_labels is renamed teacher_probabilities",
        DeprecationWarning,
        stacklevel=2,
    )
    return teacher_probabilities(X, w_teacher, temperature)


def loss(w, X, w_teacher, temperature=1.0):
    """Mean cross-entropy ``L(w)`` of a student to the teacher's probabilities (log1p-safe).

    Parameters
    ----------
    w : array-like of shape (n_features,)
    X : array-like of shape (n_samples, n_features)
    w_teacher : array-like of shape (n_features,)
    temperature : float, default=1.0

    Returns
    -------
    float
    """
    X = check_design(X)
    w = check_vector(w, X.shape[1], "w")
    return _cross_entropy(X @ w, teacher_probabilities(X, w_teacher, temperature))


# ------------------------------------------------- the objective (validated float64 arrays)


def _cross_entropy(z, s):
    """Mean soft-label cross-entropy ``mean(log(1 + e^z) - s z)`` at logits ``z``.

    ``np.logaddexp(0, z)`` is ``log1p(exp(z))`` without overflow for large ``z``.
    """
    return float(np.mean(np.logaddexp(0.0, z) - s * z))


def _sigmoid_slope(z):
    # σ'(z) = σ(z) σ(-z): the product form keeps full relative precision in both tails,
    # where σ(z)(1 - σ(z)) would cancel to 0 for large z.
    return expit(z) * expit(-z)


def _loss_gradient(w, X, s):
    """Gradient ``(1/n) Xᵀ(σ(Xw) - s)`` of the mean cross-entropy (it lies in the row space)."""
    return X.T @ (expit(X @ w) - s) / X.shape[0]


def _loss_hessian(w, X):
    """Hessian ``(1/n) Xᵀ diag(σ'(Xw)) X`` of the mean cross-entropy."""
    D = _sigmoid_slope(X @ w)
    return (X.T * D) @ X / X.shape[0]
