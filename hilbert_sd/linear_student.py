"""The soft-label logistic student; it lives in the estimators layer,
:mod:`hilbert_sd.estimators.linear`, and this import path keeps working."""

from hilbert_sd.estimators.linear import SoftLabelLogisticRegression

__all__ = ["SoftLabelLogisticRegression"]
