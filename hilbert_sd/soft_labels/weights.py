"""Weighted soft labels: the per-sample weight and the distillation loss it scales
(:doc:`/topics/soft_labels`).

Zhou et al., *Rethinking Soft Labels for Knowledge Distillation: A Bias-Variance Tradeoff
Perspective* (ICLR 2021), weight the soft term of every sample by how the student compares
with the teacher on it:

- :func:`wsl_weights`: ``w_i = 1 − exp(−max(0, L^s_i / (L^t_i + 10⁻⁷)))``, ``L^s_i``,
  ``L^t_i`` the cross-entropies of student and teacher on the true class at temperature 1,
  whatever the distillation temperature, and no gradient through ``w`` [from the official
  code]. ``w_i = 1 − 1/e`` where student and teacher are equally good (within
  ``e⁻¹(e^δ − 1)``, ``δ = 10⁻⁷/(L + 10⁻⁷)``, of it because of the guard) [derived].
- :func:`regularization_samples`: the samples with ``L^s_i < L^t_i`` (this package's
  definition), exactly those whose weight lies below ``1 − 1/e`` [derived].
- :func:`distillation_loss`: ``h · CE(s, y) + a τ² · mean_i(w_i softCE_τ,i(t, s))`` [from the
  official code; ``h = 1`` there] and, weights held fixed, its gradient with respect to the
  student's logits ``d_i [h (softmax(s_i) − e_{y_i}) + a τ w_i (softmax(s_i/τ) − p^t_{τ,i})]``
  [derived].

The weight is evaluated as ``−expm1(−ratio)``: below 1 in exact arithmetic, it rounds to 1.0
once the ratio exceeds about 37.
"""

import numpy as np
from scipy.special import log_softmax, softmax

from hilbert_sd._validation import check_scalar
from hilbert_sd.soft_labels._checks import (
    check_labels,
    check_pair,
    check_sample_weight,
    check_temperature,
    check_weights_choice,
    two_class,
)
from hilbert_sd.soft_labels.labels import true_class_cross_entropy

__all__ = ["distillation_loss", "regularization_samples", "wsl_weights"]

#: The guard of the weighted-soft-label ratio (:doc:`/topics/soft_labels`, from the official code).
GUARD = 1e-7


def _wsl_from_losses(student_loss, teacher_loss):
    """``1 − exp(−max(0, L^s / (L^t + 1e−7)))``, elementwise, computed as ``−expm1``.

    The one implementation of the weight on given true-class cross-entropies; the compiled
    trainer (:mod:`hilbert_sd.soft_labels._numba`) evaluates the same expression per sample.
    """
    ratio = np.maximum(student_loss / (teacher_loss + GUARD), 0.0)
    return -np.expm1(-ratio)


def wsl_weights(student_logits, teacher_logits, labels):
    """Weighted-soft-label weights ``w_i = 1 − exp(−max(0, L^s_i / (L^t_i + 10⁻⁷)))``.

    ``L^s_i``, ``L^t_i`` are the cross-entropies of student and teacher on the true class at
    temperature 1, whatever the distillation temperature (:doc:`/topics/soft_labels`, from the
    official code). The weights are constants of the loss: no gradient flows through them.
    ``w_i = 1 − 1/e`` (up to the guard) where student and teacher are equally good; ``w_i`` is
    smaller where the student is already more confident in the true class than the teacher.

    Parameters
    ----------
    student_logits, teacher_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,)
        Values in [0, 1) (1.0 after rounding once ``L^s_i/L^t_i`` exceeds about 37).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import wsl_weights
    >>> z = np.array([[1.0, 0.0, -1.0]])
    >>> w = float(wsl_weights(z, z, [0])[0])          # 1 - 1/e up to the 1e-7 guard
    >>> round(w, 5), round(float(1 - np.exp(-1)), 5)
    (0.63212, 0.63212)
    """
    s, t = check_pair(student_logits, teacher_logits)
    s2, t2 = two_class(s), two_class(t)
    y = check_labels(labels, s2.shape[0], s2.shape[1])
    rows = np.arange(s2.shape[0])
    Ls = -log_softmax(s2, axis=1)[rows, y]
    Lt = -log_softmax(t2, axis=1)[rows, y]
    return _wsl_from_losses(Ls, Lt)


def regularization_samples(student_logits, teacher_logits, labels):
    """Samples on which the student is already more confident than the teacher.

    The definition used in this package: sample i is a *regularization sample* when
    ``L^s_i < L^t_i``, the cross-entropies on the true class at temperature 1. These are
    exactly the samples whose weighted-soft-label weight lies below ``1 − 1/e``.

    Parameters
    ----------
    student_logits, teacher_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,), bool
    """
    s, t = check_pair(student_logits, teacher_logits)
    return true_class_cross_entropy(s, labels) < true_class_cross_entropy(t, labels)


def _resolve_weights(weights, Ls, Lt, n):
    """The soft-label weights of a ``weights`` choice: given, WSL of the losses, or ones."""
    given = check_weights_choice(weights, n)
    if given is not None:
        return given
    return _wsl_from_losses(Ls, Lt) if weights == "wsl" else np.ones(n)


def distillation_loss(student_logits, teacher_logits, labels, *, temperature=1.0, a=1.0,
                      weights="wsl", hard_weight=1.0, sample_weight=None,
                      return_gradient=False):
    """Distillation loss with temperature, the τ² factor and per-sample soft-label weights.

    ``L = h · CE(s, y) + a τ² · mean_i(w_i · softCE_τ,i(t, s))`` with ``CE`` the mean
    cross-entropy on the true class at temperature 1 and ``softCE_τ`` the soft cross-entropy
    of :func:`soft_cross_entropy` (:doc:`/topics/soft_labels`). With sample weights ``c_i`` every
    mean is the weighted mean ``Σ c_i (·)_i / Σ c_i``.

    Parameters
    ----------
    student_logits, teacher_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)
    temperature : float, default=1.0
        τ > 0 of the soft term.
    a : float, default=1.0
        Weight of the soft term, >= 0 (0: hard-label training).
    weights : {"wsl", "uniform"} or array-like of shape (n_samples,), default="wsl"
        ``"wsl"``: :func:`wsl_weights` (τ = 1, held fixed: no gradient through them);
        ``"uniform"``: ``w_i = 1`` (plain soft labels); or given non-negative weights.
    hard_weight : float, default=1.0
        Weight ``h`` >= 0 of the hard-label term (0: soft labels alone).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative multiplicities ``c_i`` (e.g. of a bootstrap resample).
    return_gradient : bool, default=False
        Also return the gradient with respect to the student logits.

    Returns
    -------
    loss : float
    gradient : ndarray, shape of ``student_logits``
        Only with ``return_gradient``:
        ``c_i/Σc · [h (softmax(s_i) − e_{y_i}) + a τ w_i (softmax(s_i/τ) − softmax(t_i/τ))]``
        (for 1-D logits, the class-1 column of the two-class gradient).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import distillation_loss
    >>> s = np.array([[1.0, 0.0], [0.0, 2.0]]); t = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> loss, grad = distillation_loss(s, t, [0, 1], temperature=2.0, return_gradient=True)
    >>> grad.shape
    (2, 2)
    """
    s, t = check_pair(student_logits, teacher_logits)
    one_d = s.ndim == 1
    s2, t2 = two_class(s), two_class(t)
    n, m = s2.shape
    y = check_labels(labels, n, m)
    tau = check_temperature(temperature)
    a = check_scalar(a, "a", low=0.0)
    h = check_scalar(hard_weight, "hard_weight", low=0.0)
    c = check_sample_weight(sample_weight, n)
    d = c / c.sum()
    rows = np.arange(n)
    logp = log_softmax(s2, axis=1)
    Ls = -logp[rows, y]
    Lt = -log_softmax(t2, axis=1)[rows, y]
    w = _resolve_weights(weights, Ls, Lt, n)
    logq = log_softmax(s2 / tau, axis=1)
    pt = softmax(t2 / tau, axis=1)
    soft_ce = -(pt * logq).sum(axis=1)
    loss = float(d @ (h * Ls + a * tau * tau * w * soft_ce))
    if not return_gradient:
        return loss
    onehot = np.zeros_like(s2)
    onehot[rows, y] = 1.0
    grad = d[:, None] * (h * (np.exp(logp) - onehot)
                         + (a * tau) * w[:, None] * (np.exp(logq) - pt))
    return loss, (grad[:, 1].copy() if one_d else grad)
