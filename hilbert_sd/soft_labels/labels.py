"""Tempered soft labels of a teacher's logits and the cross-entropies built on them
(:doc:`/topics/soft_labels`).

A teacher's logits ``t_i`` give the soft labels ``p^t_{τ,i} = softmax(t_i / τ)`` at the
temperature ``τ > 0``: the targets of the soft term of the distillation loss
(:mod:`hilbert_sd.soft_labels.weights`). With the student's logits ``s_i`` and labels ``y_i``:

- :func:`soft_labels`, :func:`log_soft_labels`: ``softmax(z / τ)`` and its logarithm over the
  last axis, or the sigmoid ``σ(z / τ)`` for 1-D binary logits;
- :func:`true_class_cross_entropy`: ``L_i = −log softmax(z_i)[y_i]`` at temperature 1, the
  quantity the weighted-soft-label weights compare, whatever the distillation temperature
  [from the official code];
- :func:`soft_cross_entropy`: ``−Σ_j softmax(t_i/τ)_j log softmax(s_i/τ)_j``.

Binary problems may pass 1-D logits ``z``: they are read as the two-class logits ``(0, z)``,
so the softmax is the sigmoid ``σ(z)`` of class 1 and labels are 0 or 1. Everything is
computed from ``log_softmax`` / ``log_expit``, so saturated logits neither overflow nor lose
the small probabilities.
"""

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax

from hilbert_sd.soft_labels._checks import (
    check_labels,
    check_logits,
    check_pair,
    check_temperature,
    two_class,
)

__all__ = ["log_soft_labels", "soft_cross_entropy", "soft_labels", "true_class_cross_entropy"]


def soft_labels(logits, temperature=1.0):
    """Tempered soft labels ``softmax(z / τ)`` of a teacher's logits.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
        Teacher logits; 1-D logits are binary (class-1 logit) and give ``σ(z / τ)``.
    temperature : float, default=1.0
        τ > 0. Large τ flattens the labels towards uniform, τ → 0 approaches the argmax.

    Returns
    -------
    ndarray of shape (n_samples, n_classes) or (n_samples,)
        Probabilities (rows sum to 1), or the class-1 probability for 1-D logits.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import soft_labels
    >>> soft_labels(np.array([[2.0, 0.0, -2.0]]), temperature=2.0).round(3).tolist()
    [[0.665, 0.245, 0.09]]
    """
    z = check_logits(logits, "logits")
    tau = check_temperature(temperature)
    if z.ndim == 1:
        return expit(z / tau)
    return softmax(z / tau, axis=1)


def log_soft_labels(logits, temperature=1.0):
    """``log softmax(z / τ)``, computed without forming the probabilities.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
        1-D logits are binary and give the two columns ``(log σ(−z/τ), log σ(z/τ))``.
    temperature : float, default=1.0

    Returns
    -------
    ndarray of shape (n_samples, n_classes), or (n_samples, 2) for 1-D logits
    """
    z = check_logits(logits, "logits")
    tau = check_temperature(temperature)
    if z.ndim == 1:
        return np.column_stack([log_expit(-z / tau), log_expit(z / tau)])
    return log_softmax(z / tau, axis=1)


def true_class_cross_entropy(logits, labels):
    """Cross-entropy on the true class at temperature 1: ``L_i = −log softmax(z_i)[y_i]``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)
        Integer classes (0 or 1 for 1-D logits).

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    z = two_class(check_logits(logits, "logits"))
    y = check_labels(labels, z.shape[0], z.shape[1])
    return -log_softmax(z, axis=1)[np.arange(z.shape[0]), y]


def soft_cross_entropy(teacher_logits, student_logits, temperature=1.0):
    """Per-sample soft cross-entropy ``−Σ_j softmax(t/τ)_j log softmax(s/τ)_j``.

    Parameters
    ----------
    teacher_logits, student_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    temperature : float, default=1.0

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    s, t = check_pair(student_logits, teacher_logits)
    tau = check_temperature(temperature)
    s, t = two_class(s), two_class(t)
    return -(softmax(t / tau, axis=1) * log_softmax(s / tau, axis=1)).sum(axis=1)
