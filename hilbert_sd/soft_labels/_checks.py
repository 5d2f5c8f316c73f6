"""Input checks shared by the public functions of :mod:`hilbert_sd.soft_labels` (private).

Every array goes through :func:`hilbert_sd._validation.as_float_array`, so the checks on real
dtype, dimension, emptiness and finiteness are those of the whole package; these add what
logits, labels, probabilities and per-sample weights must satisfy. Every error is a
``ValueError`` naming the offending value and, where one exists, the allowed range.

Binary problems may pass 1-D logits ``z``: :func:`two_class` reads them as the two-class
logits ``(0, z)``, so the softmax is the sigmoid ``σ(z)`` of class 1 and labels are 0 or 1.
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar

__all__ = [
    "PROBABILITY_ATOL",
    "check_labels",
    "check_logits",
    "check_pair",
    "check_probabilities",
    "check_sample_weight",
    "check_temperature",
    "check_weights",
    "check_weights_choice",
    "two_class",
]

#: Rows of probabilities must sum to 1 within this absolute tolerance.
PROBABILITY_ATOL = 1e-8


def check_logits(z, name):
    """Logits of shape (n, m ≥ 2), or 1-D binary logits, as float64."""
    z = as_float_array(z, name, ndim=(1, 2))
    if z.ndim == 2 and z.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 columns (classes) or be 1-D (binary "
                         f"logits); got shape {z.shape}")
    return z


def two_class(z):
    """1-D binary logits z -> two-class logits (0, z); 2-D logits unchanged."""
    if z.ndim == 1:
        return np.column_stack([np.zeros_like(z), z])
    return z


def check_pair(student, teacher):
    """Student and teacher logits of one shape."""
    student = check_logits(student, "student_logits")
    teacher = check_logits(teacher, "teacher_logits")
    if student.shape != teacher.shape:
        raise ValueError(f"student_logits has shape {student.shape} but teacher_logits has "
                         f"{teacher.shape}; they must match")
    return student, teacher


def check_temperature(temperature, name="temperature"):
    """A finite τ > 0, as a float."""
    return check_scalar(temperature, name, low=0.0, low_inclusive=False)


def check_labels(labels, n, n_classes, name="labels"):
    """``n`` integer class labels in ``0 .. n_classes - 1`` as int64 (integral floats accepted)."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have 1 dimension; got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but the logits have {n} rows; "
                         "they must match")
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
        frac = ~np.isfinite(arr) | (arr != np.round(arr))
        if frac.any():
            raise ValueError(f"{name} must hold integer class labels; got {float(arr[frac][0])!r}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = arr[(arr < 0) | (arr >= n_classes)][0]
        raise ValueError(f"{name} contains {bad}; allowed: 0 .. {n_classes - 1}")
    return arr


def check_probabilities(P, name, *, ndim=None):
    """Rows of probabilities over the last axis (≥ 2 classes, in [0, 1], summing to 1)."""
    P = as_float_array(P, name, ndim=ndim)
    if P.ndim < 1 or P.shape[-1] < 2:
        raise ValueError(f"{name} must hold probability rows over at least 2 classes (last "
                         f"axis); got shape {P.shape}")
    if P.min() < 0.0 or P.max() > 1.0:
        bad = P[(P < 0) | (P > 1)].flat[0]
        raise ValueError(f"{name} contains {bad!r}; probabilities must lie in [0, 1]")
    err = np.abs(P.sum(axis=-1) - 1.0)
    if err.max() > PROBABILITY_ATOL:
        raise ValueError(f"{name}: a row sums to {1.0 + float(err.max()):.12g} (or "
                         f"{1.0 - float(err.max()):.12g}); rows must sum to 1 within "
                         f"{PROBABILITY_ATOL:g}")
    return P


def check_sample_weight(sample_weight, n):
    """Multiplicities ``c_i >= 0`` with a positive sum (ones when None)."""
    if sample_weight is None:
        return np.ones(n)
    s = as_float_array(sample_weight, "sample_weight", ndim=1)
    if s.shape[0] != n:
        raise ValueError(f"sample_weight has {s.shape[0]} entries; expected {n}")
    if s.min() < 0:
        raise ValueError(f"sample_weight contains {s.min()!r}; allowed: >= 0")
    if s.sum() <= 0:
        raise ValueError("sample_weight sums to 0; at least one sample must have weight > 0")
    return s


def check_weights(weights, n):
    """Given soft-label weights: ``n`` finite entries ``>= 0``."""
    w = as_float_array(weights, "weights", ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"weights has {w.shape[0]} entries; expected {n}")
    if w.min() < 0:
        raise ValueError(f"weights contains {w.min()!r}; allowed: >= 0")
    return w


def check_weights_choice(weights, n):
    """None for "wsl"/"uniform" (after checking the name), else the validated array."""
    if isinstance(weights, str):
        if weights in ("wsl", "uniform"):
            return None
        raise ValueError(f"weights={weights!r}; allowed: 'wsl', 'uniform' or an array of "
                         "shape (n_samples,) with entries >= 0")
    return check_weights(weights, n)
