"""Distillation from a linear teacher into linear and deep linear students
(:doc:`/topics/linear_teacher`).

The teacher ``w*`` labels inputs softly, ``s_i = σ(w*ᵀx_i / τ)``; the student follows the gradient
flow of the mean cross-entropy ``L(w) = (1/n) Σ [log(1 + e^{wᵀx_i}) - s_i wᵀx_i]``.

- :func:`teacher_probabilities`, :func:`loss`: the teacher's probabilities and the objective
  they set the student (:mod:`hilbert_sd.linear.teacher`).
- :func:`distill`: where the flow ends (closed form, by projecting onto the span of the data) or
  the flow itself (a stiff ODE solver), for linear and balanced deep linear students
  (:mod:`hilbert_sd.linear.student`).
- :func:`polar_sample`, :func:`polar_angle_cdf`, :func:`isotropic_angle_cdf`: data laws indexed
  by how much mass sits near the teacher's decision boundary (:mod:`hilbert_sd.linear.geometry`).
- :func:`angle_to_teacher`, :func:`transfer_risk`, :func:`expected_isotropic_risk`,
  :func:`polar_transfer_risk`, :func:`risk_bound`: how often the student disagrees with the
  teacher on new inputs, and the bound ``min_β [p(β) + p(π/2 - β)^n]`` on the expected risk
  (:mod:`hilbert_sd.linear.risk`).
- :func:`max_margin_direction`, :func:`hard_label_student`: the hard-label baseline
  (:mod:`hilbert_sd.linear.hard_labels`).

Every public name is importable from ``hilbert_sd.linear`` itself. ``soft_labels`` is the former
name of :func:`teacher_probabilities`, kept as an alias that emits a ``DeprecationWarning``.

The scikit-learn estimator that distils any teacher's probabilities into a linear student is
:class:`hilbert_sd.estimators.linear.SoftLabelLogisticRegression`.
"""

from hilbert_sd.linear.geometry import isotropic_angle_cdf, polar_angle_cdf, polar_sample
from hilbert_sd.linear.hard_labels import hard_label_student, max_margin_direction
from hilbert_sd.linear.risk import (
    angle_to_teacher,
    expected_isotropic_risk,
    polar_transfer_risk,
    risk_bound,
    transfer_risk,
)
from hilbert_sd.linear.student import FlowConvergenceWarning, FlowReport, distill
from hilbert_sd.linear.teacher import loss, soft_labels, teacher_probabilities

__all__ = [
    "FlowConvergenceWarning",
    "FlowReport",
    "angle_to_teacher",
    "distill",
    "expected_isotropic_risk",
    "hard_label_student",
    "isotropic_angle_cdf",
    "loss",
    "max_margin_direction",
    "polar_angle_cdf",
    "polar_sample",
    "polar_transfer_risk",
    "risk_bound",
    "soft_labels",
    "teacher_probabilities",
    "transfer_risk",
]
