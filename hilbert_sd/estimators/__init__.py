"""The estimators layer: every scikit-learn compatible estimator of the package.

Each is a thin layer over the functional engine (:func:`hilbert_sd.self_distill`,
:func:`hilbert_sd.flow.flow_path`, :func:`hilbert_sd.linear.distill`): it validates once, factors
the kernel once, and asks the path. The engine never imports this layer.
"""

from hilbert_sd.estimators.classifier import SelfDistilledKernelClassifier
from hilbert_sd.estimators.cv import GradientFlowKernelRegressorCV, SelfDistilledKernelRidgeCV
from hilbert_sd.estimators.distillation import SelfDistilledKernelRidge
from hilbert_sd.estimators.flow import GradientFlowKernelRegressor
from hilbert_sd.estimators.linear import SoftLabelLogisticRegression

__all__ = ["GradientFlowKernelRegressor", "GradientFlowKernelRegressorCV",
           "SelfDistilledKernelClassifier", "SelfDistilledKernelRidge",
           "SelfDistilledKernelRidgeCV", "SoftLabelLogisticRegression"]
