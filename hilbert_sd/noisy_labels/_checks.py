"""Argument checks shared by the modules of :mod:`hilbert_sd.noisy_labels` (private).

Every error is a ``ValueError`` naming the offending value and what is allowed. Step counts go
through :func:`hilbert_sd.filters._check_times`, the one check of times in the package.
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar
from hilbert_sd.filters import _check_times

__all__ = ["ANCHORS", "EMA_FORMS", "RULES", "anchor_weight", "check_choice", "check_steps",
           "check_weight"]

#: Training rules of :func:`hilbert_sd.noisy_labels.train`.
RULES = ("gd", "ema", "anchored")
EMA_FORMS = ("sequential", "simultaneous")
ANCHORS = ("soft", "hard")


def check_choice(value, name, allowed):
    """``value`` if it is one of ``allowed``, else a ValueError listing them."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r}; allowed: {', '.join(map(repr, allowed))}")
    return value


def check_steps(times):
    """Recorded step counts: a non-decreasing float array (T,) of integers >= 0 or ``inf``."""
    t, _ = _check_times(times, "times", integer=True)
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be non-decreasing")
    return t


def check_weight(a, name):
    """The constant weight of the "ema" rule, in [0, 1]."""
    if isinstance(a, str) or callable(a) or np.ndim(a) != 0:
        raise ValueError(f"{name}={a!r}; the 'ema' rule takes a constant weight in [0, 1]")
    return check_scalar(a, name, low=0.0, high=1.0)


def anchor_weight(a, t_max):
    """Classify the anchored rule's weight.

    Returns
    -------
    kind : {"constant", "accuracy", "schedule"}
    value : float, None or ndarray of shape (t_max,)
    """
    if isinstance(a, str):
        if a != "accuracy":
            raise ValueError(f"a={a!r}; allowed: a number in [0, 1], an array, a callable or "
                             "'accuracy'")
        return "accuracy", None
    if callable(a):
        steps = np.arange(t_max)
        vals = np.asarray(a(steps), dtype=np.float64)
        if vals.shape != steps.shape:
            raise ValueError(f"the schedule a(steps) returned shape {vals.shape}; expected "
                             f"{steps.shape} (one weight per step)")
        return "schedule", _check_schedule(vals)
    if np.ndim(a) == 0:
        return "constant", check_scalar(a, "a", low=0.0, high=1.0)
    vals = as_float_array(a, "a", ndim=1, allow_empty=True)
    if vals.shape[0] < t_max:
        raise ValueError(f"the schedule a has {vals.shape[0]} entries; it needs one per step up "
                         f"to max(times) = {t_max}")
    return "schedule", _check_schedule(vals[:t_max])


def _check_schedule(vals):
    if not np.all(np.isfinite(vals)) or np.any(vals < 0) or np.any(vals > 1):
        bad = vals[~(np.isfinite(vals) & (vals >= 0) & (vals <= 1))][0]
        raise ValueError(f"the schedule a contains {bad!r}; allowed: weights in [0, 1]")
    return vals
