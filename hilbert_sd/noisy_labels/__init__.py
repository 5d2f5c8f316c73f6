"""Noisy labels in the kernel (NTK) regime: self-distillation vs early stopping, and AIR.

:doc:`/topics/noisy_labels`. In the kernel regime the training outputs of a wide network follow

    u_{t+1} = u_t − η H (u_t − y_t),        u_0 = 0,

with H the NTK Gram matrix and y_t the targets of step t (the un-normalized step ``η H``: the
``"sum"`` convention of :func:`hilbert_sd.filters.step_scale`). Everything here happens in the
eigenbasis ``H = U diag(λ) Uᵀ`` of one :class:`~hilbert_sd.spectral.Spectrum`: the linear rules
are per-eigenvalue filters at any step count (the gradient-descent filter is the one of
:mod:`hilbert_sd.filters`) [derived]; only the rules whose targets depend non-linearly on the
outputs (hard targets, a mixing weight equal to the training accuracy) are iterated, and then
only at the steps where those targets are refreshed.

- :func:`add_label_noise`, :func:`noise_transition_matrix`, :func:`predicted_labels`,
  :func:`accuracy`: label-noise models with a recorded seed (:class:`LabelNoise`) and the class
  predictions of regression outputs (:mod:`hilbert_sd.noisy_labels.noise`).
- :func:`train`, :func:`train_many`: gradient descent and the two self-distillation readings
  ("ema", "anchored") (:mod:`hilbert_sd.noisy_labels.training`), returning a
  :class:`TrainingPath`, a :class:`~hilbert_sd.spectral.SpectralPath` (training outputs, dual
  coefficients, predictions at new points without inverting H, and the filters of the linear
  rules) (:mod:`hilbert_sd.noisy_labels.path`).
- :func:`stability_limit`: the largest stable step of each rule
  (:mod:`hilbert_sd.noisy_labels.stability`).
- :func:`energy_fraction`, :func:`air_curves`, :func:`spectral_gap_bound`: Anisotropic
  Information Retrieval measurements and the bound of :doc:`/topics/noisy_labels`
  (:mod:`hilbert_sd.noisy_labels.air`).

Every public name is importable from ``hilbert_sd.noisy_labels`` itself.
"""

from hilbert_sd.noisy_labels import _checks, noise
from hilbert_sd.noisy_labels.air import air_curves, energy_fraction, spectral_gap_bound
from hilbert_sd.noisy_labels.noise import (
    LabelNoise,
    accuracy,
    add_label_noise,
    noise_transition_matrix,
    predicted_labels,
)
from hilbert_sd.noisy_labels.path import TrainingPath
from hilbert_sd.noisy_labels.stability import stability_limit
from hilbert_sd.noisy_labels.training import train, train_many

#: Label-noise models of :func:`add_label_noise`.
NOISE_MODELS = noise.NOISE_MODELS
#: Training rules of :func:`train`.
RULES = _checks.RULES

__all__ = [
    "NOISE_MODELS",
    "RULES",
    "LabelNoise",
    "TrainingPath",
    "accuracy",
    "add_label_noise",
    "air_curves",
    "energy_fraction",
    "predicted_labels",
    "spectral_gap_bound",
    "stability_limit",
    "train",
    "train_many",
]
