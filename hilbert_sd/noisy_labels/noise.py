"""Label noise and class predictions from network outputs.

- :func:`add_label_noise`: corrupt class labels with one of :data:`NOISE_MODELS` and record the
  draw (:class:`LabelNoise`, reproducible from its seed); :func:`noise_transition_matrix`: the
  model's expected transition matrix.
- :func:`predicted_labels`, :func:`accuracy`: the argmax (sign for ±1 targets) of regression
  outputs, and how often it equals the labels. A row without a unique maximum (the zero
  function, the start of every training path) predicts no class.

A "symmetric" hit redraws the label over all m classes, so the expected fraction of changed
labels is ``rate (m − 1)/m`` [derived]; for one seed the hit sets are nested in the rate and
identical across models (the uniforms that decide the hits are drawn first).
"""

import numbers
from dataclasses import dataclass

import numpy as np

from hilbert_sd._validation import check_scalar
from hilbert_sd.datasets import _as_labels
from hilbert_sd.noisy_labels._checks import check_choice

__all__ = [
    "NOISE_MODELS",
    "LabelNoise",
    "accuracy",
    "add_label_noise",
    "noise_transition_matrix",
    "predicted_labels",
]

#: Label-noise models of :func:`add_label_noise`.
NOISE_MODELS = ("symmetric", "symmetric_other", "pair")


@dataclass(frozen=True, repr=False, eq=False)
class LabelNoise:
    """Noisy labels and the record of how they were made (:func:`add_label_noise`).

    It stands for the noisy labels wherever an array is expected: ``np.asarray(noise)`` is
    ``noise.labels``, ``len(noise)`` is n, and comparing it with an array compares the
    labels element-wise (``noise == clean`` is a boolean array). Two ``LabelNoise`` are
    equal when every field is.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,), int64
        The noisy labels ỹ.
    clean : ndarray of shape (n_samples,), int64
        The labels they were made from.
    mask : ndarray of shape (n_samples,), bool
        Realized noise: True where the noisy label differs from the clean one.
    model : str
        One of :data:`NOISE_MODELS`.
    rate : float
        Probability that a label is corrupted (see :func:`add_label_noise`).
    seed : int
        Seed of the draw; ``add_label_noise(clean, rate, model=model, random_state=seed)``
        reproduces it.
    n_classes : int
    """

    labels: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    model: str
    rate: float
    seed: int
    n_classes: int

    @property
    def realized_rate(self):
        """Fraction of labels that differ from the clean ones."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    @property
    def transition_matrix(self):
        """``T[i, j] = P(noisy = j | clean = i)`` of the model, ndarray of shape (m, m)."""
        return noise_transition_matrix(self.model, self.rate, self.n_classes)

    def record(self):
        """The model, rate, seed and realized rate as a JSON-ready dict."""
        return {
            "model": self.model,
            "rate": self.rate,
            "seed": self.seed,
            "n_classes": self.n_classes,
            "n_samples": int(self.labels.shape[0]),
            "n_flipped": int(self.mask.sum()),
            "realized_rate": self.realized_rate,
        }

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.labels, dtype=dtype)

    def __len__(self):
        return int(self.labels.shape[0])

    def __eq__(self, other):
        if isinstance(other, LabelNoise):
            return all(np.array_equal(getattr(self, f), getattr(other, f))
                       for f in ("labels", "clean", "mask", "model", "rate", "seed",
                                 "n_classes"))
        return np.asarray(self.labels) == np.asarray(other)

    def __ne__(self, other):
        eq = self.__eq__(other)
        return (not eq) if isinstance(eq, bool) else ~eq

    __hash__ = None

    def __repr__(self):
        return (f"LabelNoise(model={self.model!r}, rate={self.rate:g}, seed={self.seed}, "
                f"n={self.labels.shape[0]}, realized_rate={self.realized_rate:.4f})")


def noise_transition_matrix(model, rate, n_classes):
    """Expected transition matrix ``T[i, j] = P(noisy = j | clean = i)`` of a noise model.

    Parameters
    ----------
    model : {"symmetric", "symmetric_other", "pair"}
    rate : float in [0, 1]
    n_classes : int >= 2

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes); rows sum to 1
    """
    model = check_choice(model, "model", NOISE_MODELS)
    rate = check_scalar(rate, "rate", low=0.0, high=1.0)
    m = check_scalar(n_classes, "n_classes", low=2, integer=True)
    eye = np.eye(m)
    if model == "symmetric":
        return (1.0 - rate) * eye + rate / m
    if model == "symmetric_other":
        return (1.0 - rate) * eye + rate / (m - 1) * (1.0 - eye)
    return (1.0 - rate) * eye + rate * np.roll(eye, 1, axis=1)


def add_label_noise(labels, rate, *, model="symmetric", n_classes=None, random_state=None):
    """Corrupt class labels with a label-noise model and record the draw.

    Each label is hit independently with probability ``rate``; a hit label is

    - ``"symmetric"``: redrawn uniformly from all ``m`` classes (it may stay the same, so the
      expected fraction of changed labels is ``rate (m − 1)/m``);
    - ``"symmetric_other"``: replaced by one of the ``m − 1`` other classes, uniformly;
    - ``"pair"``: replaced by the next class, ``(y + 1) mod m``.

    The uniforms that decide the hits are drawn first and the same way for every model, so for
    one seed the hit sets are nested in ``rate`` and identical across models.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Clean integer labels in ``0 .. n_classes - 1``.
    rate : float in [0, 1]
    model : {"symmetric", "symmetric_other", "pair"}, default="symmetric"
    n_classes : int, optional
        Default ``max(labels) + 1`` (at least 2).
    random_state : int or None, default=None
        Seed. None draws a fresh seed from the operating system and records it, so every draw
        can be reproduced from :attr:`LabelNoise.seed`.

    Returns
    -------
    LabelNoise

    Examples
    --------
    >>> from hilbert_sd.noisy_labels import add_label_noise
    >>> noise = add_label_noise([0, 1, 2, 0, 1, 2] * 50, 0.4, model="pair", random_state=0)
    >>> noise.seed, noise.model, bool(noise.mask.any())
    (0, 'pair', True)
    """
    clean = _as_labels(labels, "labels")
    model = check_choice(model, "model", NOISE_MODELS)
    rate = check_scalar(rate, "rate", low=0.0, high=1.0)
    top = int(clean.max()) + 1 if clean.size else 0
    m = max(top, 2) if n_classes is None else check_scalar(n_classes, "n_classes", low=2,
                                                            integer=True)
    if top > m:
        raise ValueError(f"labels contain class {top - 1}, out of range for n_classes={m}; "
                         f"allowed: 0 .. {m - 1}")
    if random_state is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(random_state, (numbers.Integral, np.integer)) and \
            not isinstance(random_state, bool) and random_state >= 0:
        seed = int(random_state)
    else:
        raise ValueError(f"random_state={random_state!r} is not supported; allowed: an "
                         "integer >= 0 or None (the seed must be recordable)")
    rng = np.random.default_rng(seed)
    n = clean.shape[0]
    hit = rng.random(n) < rate
    if model == "symmetric":
        new = rng.integers(0, m, n)
    elif model == "symmetric_other":
        new = (clean + rng.integers(1, m, n)) % m
    else:
        new = (clean + 1) % m
    noisy = np.where(hit, new, clean).astype(np.int64)
    return LabelNoise(labels=noisy, clean=clean.copy(), mask=noisy != clean, model=model,
                      rate=rate, seed=seed, n_classes=m)


def _predicted(outputs, one_d):
    if one_d:
        return np.sign(outputs).astype(np.int64)
    top = outputs.max(axis=-1, keepdims=True)
    pred = outputs.argmax(axis=-1).astype(np.int64)
    ties = (outputs == top).sum(axis=-1) > 1
    return np.where(ties, -1, pred)


def predicted_labels(outputs, *, one_d=None):
    """Class predicted by each row of network outputs: argmax, or sign for 1-D targets.

    A row without a unique maximum (e.g. the outputs of the zero function) predicts nothing
    and is marked ``-1`` (sign ``0`` for 1-D targets), so it never counts as correct.

    Parameters
    ----------
    outputs : ndarray of shape (..., n_samples, m), or (..., n_samples) with ``one_d=True``
    one_d : bool, optional
        Whether the targets are 1-D (labels ±1, prediction ``sign``). Default: True when
        ``outputs`` is 1-D.

    Returns
    -------
    ndarray of int64, shape (..., n_samples)
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if one_d is None:
        one_d = outputs.ndim == 1
    return _predicted(outputs, one_d)


def accuracy(outputs, labels, *, one_d=None):
    """Fraction of rows whose predicted class equals ``labels`` (see :func:`predicted_labels`).

    Parameters
    ----------
    outputs : ndarray of shape (..., n_samples, m), or (..., n_samples) with ``one_d=True``
    labels : array-like of shape (n_samples,)
        Integer classes (argmax) or ±1 (sign).
    one_d : bool, optional
        As in :func:`predicted_labels`.

    Returns
    -------
    float, or ndarray of shape (...) for stacked outputs
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if one_d is None:
        one_d = outputs.ndim == 1
    labels = np.asarray(labels)
    pred = _predicted(outputs, one_d)
    if pred.shape[-1] != labels.shape[0]:
        raise ValueError(f"outputs have {pred.shape[-1]} samples but labels has "
                         f"{labels.shape[0]}; they must match")
    acc = (pred == labels).mean(axis=-1)
    return float(acc) if np.ndim(acc) == 0 else acc
