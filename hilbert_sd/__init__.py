"""hilbert_sd: self-distillation in kernel regression, simulated in the eigenbasis.

One eigendecomposition of the Gram matrix, then every round of self-distillation, every
training-error budget and every time of gradient flow is a diagonal filter.

The top-level names are imported lazily, so ``import hilbert_sd`` stays cheap and compiles
nothing.
"""

from importlib import import_module

__version__ = "0.1.0"

# public name -> module that defines it
_ATTRIBUTES = {
    "self_distill": "hilbert_sd.distillation",
    "DistillationPath": "hilbert_sd.distillation",
    "SelfDistilledKernelRidge": "hilbert_sd.estimators",
    "SelfDistilledKernelClassifier": "hilbert_sd.estimators",
    "SelfDistilledKernelRidgeCV": "hilbert_sd.estimators",
    "GradientFlowKernelRegressorCV": "hilbert_sd.estimators",
    "GradientFlowKernelRegressor": "hilbert_sd.estimators",
    "gradient_flow": "hilbert_sd.flow",
    "filter_path": "hilbert_sd._filter_path",
    "SoftLabelLogisticRegression": "hilbert_sd.estimators",
    "CollapseWarning": "hilbert_sd.exceptions",
    "InfeasibleBudgetWarning": "hilbert_sd.exceptions",
    "InfeasibleBudgetError": "hilbert_sd.exceptions",
    "NumericalWarning": "hilbert_sd.exceptions",
}
_SUBMODULES = {
    "bounds",
    "certificates",
    "compare",
    "datasets",
    "distillation",
    "estimators",
    "exceptions",
    "experiments",
    "filters",
    "flow",
    "kernels",
    "linear",
    "linear_student",
    "model_selection",
    "noisy_labels",
    "plotting",
    "soft_labels",
    "spectral",
}

__all__ = sorted(_ATTRIBUTES) + sorted(_SUBMODULES)


def __getattr__(name):
    if name in _ATTRIBUTES:
        value = getattr(import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = import_module(f"hilbert_sd.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'hilbert_sd' has no attribute {name!r}")


def __dir__():
    return __all__
