"""Soft labels: weighted soft labels, the bias-variance view, and kernel classification students.

:doc:`/topics/soft_labels` (Zhou et al., *Rethinking Soft Labels for Knowledge Distillation: A
Bias-Variance
Tradeoff Perspective*, ICLR 2021). One concept per module:

- :mod:`hilbert_sd.soft_labels.labels`: tempered soft labels from a teacher's logits,
  :func:`soft_labels`, :func:`log_soft_labels` (softmax over the last axis, or the sigmoid for
  1-D binary logits), and the cross-entropies :func:`true_class_cross_entropy`,
  :func:`soft_cross_entropy`.
- :mod:`hilbert_sd.soft_labels.weights`: the weighted-soft-label weight :func:`wsl_weights`
  [from the official code], :func:`regularization_samples`, and the distillation loss with
  its gradient with respect to the student's logits, :func:`distillation_loss`.
- :mod:`hilbert_sd.soft_labels.bias_variance`: the Heskes bias-variance decomposition of the
  cross-entropy over an ensemble, :func:`heskes_decomposition` (:class:`BiasVariance`);
  :func:`resample_weights` draws the bootstrap or fresh-subset training sets of an ensemble
  as sample multiplicities.
- :mod:`hilbert_sd.soft_labels.softmax_student`: kernel softmax regression trained by
  function-space gradient descent, :func:`train_kernel_softmax` (:class:`SoftmaxStudent`,
  :func:`default_learning_rate`); its trainer is the private ``_train`` (stacked students)
  and ``_numba`` (the compiled per-step gradient).
- :mod:`hilbert_sd.soft_labels.ridge_student`: the squared-loss weighted kernel ridge student,
  :func:`weighted_kernel_ridge`, :func:`weighted_kernel_ridge_fixed_point`,
  :func:`wsl_weight_function` (:class:`WeightedRidgeStudent`, :class:`FixedPointWarning`)
  [derived design].

Every public name is importable from ``hilbert_sd.soft_labels`` itself. ``WeightedKernelRidge``
is the former name of :class:`WeightedRidgeStudent` (a fitted student, not a scikit-learn
estimator), kept as an alias that emits a ``DeprecationWarning``.

Binary problems may pass 1-D logits ``z``: they are read as the two-class logits ``(0, z)``,
so the softmax is the sigmoid ``σ(z)`` of class 1 and labels are 0 or 1.
"""

import warnings

from hilbert_sd.soft_labels._checks import PROBABILITY_ATOL
from hilbert_sd.soft_labels.bias_variance import (
    BiasVariance,
    heskes_decomposition,
    resample_weights,
)
from hilbert_sd.soft_labels.labels import (
    log_soft_labels,
    soft_cross_entropy,
    soft_labels,
    true_class_cross_entropy,
)
from hilbert_sd.soft_labels.ridge_student import (
    FixedPointWarning,
    WeightedRidgeStudent,
    weighted_kernel_ridge,
    weighted_kernel_ridge_fixed_point,
    wsl_weight_function,
)
from hilbert_sd.soft_labels.softmax_student import (
    SoftmaxStudent,
    default_learning_rate,
    train_kernel_softmax,
)
from hilbert_sd.soft_labels.weights import (
    distillation_loss,
    regularization_samples,
    wsl_weights,
)

__all__ = [
    "BiasVariance",
    "FixedPointWarning",
    "SoftmaxStudent",
    "WeightedRidgeStudent",
    "distillation_loss",
    "heskes_decomposition",
    "log_soft_labels",
    "regularization_samples",
    "resample_weights",
    "soft_cross_entropy",
    "soft_labels",
    "train_kernel_softmax",
    "true_class_cross_entropy",
    "weighted_kernel_ridge",
    "weighted_kernel_ridge_fixed_point",
    "wsl_weight_function",
    "wsl_weights",
]

# former public name -> (current name, the object)
_DEPRECATED = {"WeightedKernelRidge": ("WeightedRidgeStudent", WeightedRidgeStudent)}


def __getattr__(name):
    if name in _DEPRECATED:
        new, value = _DEPRECATED[name]
        warnings.warn(f"hilbert_sd.soft_labels.{name} is renamed {new} (the fitted "
                      "weighted kernel ridge student, not an estimator)",
                      DeprecationWarning, stacklevel=2)
        return value
    raise AttributeError(f"module 'hilbert_sd.soft_labels' has no attribute {name!r}")
