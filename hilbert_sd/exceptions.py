"""Warnings and errors raised by :mod:`hilbert_sd`.

Every warning class subclasses :class:`UserWarning` so that ``warnings.simplefilter`` and
pytest's ``-W`` options can target them one by one.
"""

__all__ = [
    "CollapseWarning",
    "InfeasibleBudgetError",
    "InfeasibleBudgetWarning",
    "NumericalWarning",
]


class CollapseWarning(UserWarning):
    """The self-distillation path collapsed to the zero function inside the requested rounds.

    Collapse is an outcome, not an error: once ``||y_t||^2 <= n * epsilon`` the zero function
    meets the training-error budget and is the minimum-norm solution (:doc:`/theory`, derived).
    """


class InfeasibleBudgetWarning(UserWarning):
    """The training-error budget lies below the floor the kernel can reach.

    The estimators emit it and fit with the smallest admissible ridge instead of failing.
    """


class InfeasibleBudgetError(ValueError):
    """The training-error budget lies below the floor the kernel can reach (functional API)."""


class NumericalWarning(UserWarning):
    """A numerical fallback was taken (clipping, an unstable step, a vacuous bound)."""
