"""When the training rules converge, and what :func:`~hilbert_sd.noisy_labels.train` does
when they do not.

In the eigenbasis ``H = U diag(λ) Uᵀ`` one step of every rule with held targets multiplies
eigen-direction k of the residual by ``ρ_k = 1 − w_k`` with the per-step rate ``w_k``
(``x = ηλ``, η the step):

- gradient descent and the hard "anchored" rule between two refreshes: ``w = x``
  (:doc:`/topics/gradient_flow_and_bounds`);
- soft "anchored" with weight a: ``w = x(1 − a)``, gradient descent with step ``η(1 − a)``
  [derived];
- "ema", simultaneous: ``w = x + a``; sequential: ``w = x + a(1 − x)``, i.e.
  ``ρ = (1 − x)(1 − a)`` [derived here].

Every rule has ``w_k >= 0``. The iterates converge iff ``|ρ_k| < 1``, i.e. ``0 < w_k < 2``, on
every eigen-direction that is not numerically null [derived]; ``ρ_k = −1`` keeps them bounded
but oscillating with period 2 (no limit), and ``|ρ_k| > 1`` makes them diverge. ``w_k = 0``
(``ρ_k = 1``) arises on a non-null direction only for the soft rule with ``a = 1``, whose step
``η(1 − a)`` is 0: that direction never moves from ``u_0 = 0``, and its limit is 0. The check
is per direction, whatever the targets' coefficient there, and recognizes ``w_k = 2`` within
the round-off of forming ``ηλ``.

- :func:`stability_limit`: the largest stable learning rate of each rule (the gradient-descent
  case is :func:`hilbert_sd.filters.max_stable_learning_rate` with the ``"sum"`` convention).
- ``_check_convergence``: :func:`~hilbert_sd.noisy_labels.train`'s check. A run that does not
  converge warns (``NumericalWarning``) at finite step counts and refuses ``times = inf``: a
  limit that does not exist is an error, not a NaN.
"""

import os
import sys
import warnings

import numpy as np

from hilbert_sd._validation import check_scalar
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.filters import max_stable_learning_rate
from hilbert_sd.noisy_labels._checks import ANCHORS, EMA_FORMS, RULES, check_choice

__all__ = ["stability_limit"]

# A per-step rate within this many ulps below 2 counts as the boundary (factor −1).
_BOUNDARY_ULPS = 4


def stability_limit(lambda_max, *, rule="gd", a=0.0, ema_form="sequential", anchor="soft"):
    """Largest stable step: the iteration converges iff ``learning_rate`` is below it.

    Per eigen-direction one step multiplies the residual by ρ(ηλ); the run diverges iff
    ``|ρ| > 1`` for a direction the targets reach, i.e. iff η passes

    - gradient descent and the hard "anchored" rule: ``2/λ_max``
      [:doc:`/topics/gradient_flow_and_bounds`];
    - soft "anchored" with constant a < 1: ``2/(λ_max (1 − a))`` (step η(1 − a));
    - simultaneous "ema": ``(2 − a)/λ_max`` (ρ = 1 − ηλ − a) [derived here];
    - sequential "ema": ``(1 + 1/(1 − a))/λ_max`` (ρ = (1 − ηλ)(1 − a)) [derived here].

    At the limit itself the top direction has ``ρ = −1``: the iterates stay bounded but
    oscillate with period 2 and have no limit, so :func:`~hilbert_sd.noisy_labels.train`
    warns there and refuses ``times = inf``. For example the simultaneous rule with ``a = 1``
    has the limit ``1/λ_max``, which is exactly train's default step.

    Parameters
    ----------
    lambda_max : float > 0
    rule : {"gd", "ema", "anchored"}
    a : float in [0, 1]
        Constant mixing weight (the accuracy weight of the soft rule: use 0, the worst case).
    ema_form : {"sequential", "simultaneous"}
    anchor : {"soft", "hard"}

    Returns
    -------
    float (``inf`` when every step is stable)

    Examples
    --------
    >>> from hilbert_sd.noisy_labels import stability_limit
    >>> stability_limit(2.0), stability_limit(2.0, rule="ema", a=1.0, ema_form="simultaneous")
    (1.0, 0.5)
    """
    lmax = check_scalar(lambda_max, "lambda_max", low=0.0, low_inclusive=False)
    rule = check_choice(rule, "rule", RULES)
    a = check_scalar(a, "a", low=0.0, high=1.0)
    ema_form = check_choice(ema_form, "ema_form", EMA_FORMS)
    anchor = check_choice(anchor, "anchor", ANCHORS)
    gd = max_stable_learning_rate(lmax, 1, "sum")
    if rule == "gd" or (rule == "anchored" and anchor == "hard"):
        return gd
    if rule == "anchored":
        return np.inf if a == 1.0 else gd / (1.0 - a)
    if ema_form == "simultaneous":
        return (2.0 - a) / lmax
    return np.inf if a == 1.0 else (1.0 + 1.0 / (1.0 - a)) / lmax


def _check_convergence(w, live, times, *, on_unstable, what, learning_rate, lambda_max,
                       limit_kwargs):
    """Warn about (finite ``times``) or refuse (``inf`` in ``times``) a run that does not
    converge.

    Parameters
    ----------
    w : ndarray of shape (n,)
        Per-step rate of every eigen-direction (ρ = 1 − w); the largest one for rules whose
        rate changes from step to step.
    live : ndarray of shape (n,), bool
        Directions that are not numerically null.
    times : ndarray of shape (T,)
    on_unstable : {"warn", "ignore"}
    what : str
        The rule, for the messages.
    learning_rate, lambda_max : float
    limit_kwargs : dict
        Arguments of :func:`stability_limit` that give this rule's limit.

    Raises
    ------
    ValueError
        When ``times`` contains ``inf`` and some non-null direction has ``ρ <= −1`` (within
        round-off) or ``ρ > 1``.
    """
    w = np.asarray(w, dtype=np.float64)[live]
    # ρ = 1 − w ≤ −1 (or > 1, for a negative rate): no limit. Every rule here has w >= 0, and
    # 0 <= w < 2 converges (w = 0 does not move). The boundary w = 2 is recognized within the
    # round-off of forming w = ηλ (+ a): the default step η = 1/λ_max gives ηλ_max = 1 only
    # up to an ulp (e.g. λ_max = 49).
    bad = (w >= 2.0 * (1.0 - _BOUNDARY_ULPS * np.finfo(np.float64).eps)) | (w < 0.0)
    if not bad.any():
        return
    worst = max(float(np.max(np.abs(1.0 - w[bad]))), 1.0)
    behaviour = ("diverge" if worst > 1.0 else
                 "stay bounded but oscillate with period 2 (per-step factor -1)")
    limit = stability_limit(lambda_max, **limit_kwargs)
    detail = (f"a per-step factor has modulus {worst:.6g} >= 1 at learning_rate="
              f"{learning_rate:.6g} (eta*lambda_max = {learning_rate * lambda_max:.6g}), so the "
              f"iterates {behaviour}; the iteration converges iff learning_rate < "
              f"{limit:.6g} (stability_limit)")
    if np.isinf(times).any():
        raise ValueError(f"times contains inf, but {what} has no limit: {detail}; allowed: a "
                         "smaller learning_rate, or finite times")
    if on_unstable == "warn":
        warnings.warn(f"{what} does not converge: {detail}", NumericalWarning,
                      stacklevel=_caller_stacklevel())


def _caller_stacklevel():
    """``stacklevel`` that makes a warning point at the first caller outside this package."""
    here = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)  # the function that warns
    level = 1
    while (frame is not None
           and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == here):
        frame = frame.f_back
        level += 1
    return level
