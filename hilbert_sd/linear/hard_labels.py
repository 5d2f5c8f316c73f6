"""The hard-label baseline: what the student learns from ``sign(w*ᵀx)`` instead of probabilities.

With hard labels the cross-entropy has no finite minimizer on separable data and the direction of
gradient descent tends to the hard-margin separator [derived]; it generally differs from the
teacher even when ``rank X = d``, where the distilled student recovers it [derived].

- :func:`max_margin_direction`: the hard-margin direction (no intercept) for given labels.
- :func:`hard_label_student`: that direction for the teacher's labels ``sign(w*ᵀx)``.

Both are computed exactly (least-distance programming by non-negative least squares, a finite
active-set method), not by running the hard-label cross-entropy for ever.
"""

import numpy as np
import scipy.optimize

from hilbert_sd._validation import as_float_array
from hilbert_sd.linear._checks import check_design, check_vector

__all__ = ["hard_label_student", "max_margin_direction"]


def max_margin_direction(X, y):
    """Unit direction of the hard-margin linear separator without intercept.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Labels in {-1, +1}.

    Returns
    -------
    w : ndarray of shape (n_features,)
        ``argmin ‖w‖ s.t. y_i xᵢᵀw >= 1``, normalized to unit length: the direction to which
        gradient descent on the hard-label cross-entropy converges on separable data.

    Raises
    ------
    ValueError
        When the data are not linearly separable through the origin.

    Notes
    -----
    Least-distance programming via non-negative least squares (Lawson & Hanson, ch. 23), a
    finite active-set method: no cross-entropy is run "for ever".
    """
    X = check_design(X)
    y = as_float_array(y, "y", ndim=1)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"y has {y.shape[0]} entries but X has {X.shape[0]} rows; they must match")
    if not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError("y must contain labels -1 and +1 only")
    w = _max_margin(X * y[:, None])
    if w is None:
        raise ValueError("the data are not linearly separable through the origin; "
                         "the hard-margin problem has no solution")
    return w / np.linalg.norm(w)


def hard_label_student(X, w_teacher):
    """Hard-label baseline: the max-margin direction for the labels ``sign(w*ᵀx)``.

    Inputs exactly on the teacher's boundary (label 0) carry no label and are dropped.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    w_teacher : array-like of shape (n_features,)

    Returns
    -------
    w : ndarray of shape (n_features,)
        Unit vector. The cross-entropy on hard labels has no finite minimizer on separable data;
        gradient descent's direction tends to this one [derived]. Unlike the distilled student it
        generally differs from the teacher even when ``rank X = d``.
    """
    X = check_design(X)
    w_teacher = check_vector(w_teacher, X.shape[1], "w_teacher", nonzero=True)
    y = np.sign(X @ w_teacher)
    keep = y != 0
    if not np.any(keep):
        raise ValueError("every input lies on the teacher's decision boundary; no labels")
    return max_margin_direction(X[keep], y[keep])


# ----------------------------------------------- private numerics (float64 arrays)


def _max_margin(Z):
    """Hard-margin direction without intercept: ``argmin ‖w‖`` subject to ``Z w >= 1``.

    Parameters
    ----------
    Z : ndarray of shape (n, d)
        Rows ``y_i x_i`` (labels already folded in).

    Returns
    -------
    w : ndarray of shape (d,) or None
        The minimum-norm solution, None if the constraints are infeasible (not separable).

    Notes
    -----
    Least-distance programming by non-negative least squares (Lawson & Hanson, *Solving Least
    Squares Problems*, ch. 23): with ``E = [Zᵀ; 1ᵀ]`` and ``f = e_{d+1}``, solve
    ``min_{u >= 0} ‖E u - f‖``; if the residual ``r`` is non-zero, ``w = -r[:d] / r[d]``. It is a
    finite active-set method, so the direction is exact up to round-off, unlike running the
    hard-label cross-entropy for ever.
    """
    n, d = Z.shape
    E = np.vstack([Z.T, np.ones((1, n))])
    f = np.zeros(d + 1)
    f[d] = 1.0
    u, _ = scipy.optimize.nnls(E, f, maxiter=50 * (n + d + 1))
    r = E @ u - f
    # r[d] = Σu - 1 is -1 at u = 0 and reaches 0 only when the constraints are infeasible.
    if -r[d] <= 1e-10:
        return None
    return -r[:d] / r[d]
