"""A scikit-learn logistic student that learns from soft labels (teacher probabilities).

:class:`SoftLabelLogisticRegression` minimizes the mean cross-entropy to targets in [0, 1]. With
``alpha=0`` it returns the end point of gradient flow from the zero vector, so fitting it to the
probabilities of a linear teacher reproduces :func:`hilbert_sd.linear.distill`
(:doc:`/topics/linear_teacher`); fitted to any other teacher's probabilities it is the linear
student of that teacher.
"""

import numbers
import warnings

import numpy as np
import scipy.linalg
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from hilbert_sd.linear.student import _row_space_basis

__all__ = ["SoftLabelLogisticRegression"]


class SoftLabelLogisticRegression(ClassifierMixin, BaseEstimator):
    """Binary logistic regression fitted to probabilities (soft labels) or to class labels.

    The targets ``y`` may be probabilities ``s_i ∈ [0, 1]`` (any numeric ``y`` inside [0, 1] is read
    this way; 0 and 1 are hard labels) or two class labels of any type. The estimator minimizes

        (1/Σ ω_i) Σ ω_i [log(1 + e^{z_i}) - s_i z_i] + (alpha/2) ‖coef‖²

    with logits ``z_i = xᵢᵀ coef + intercept`` and sample weights ``ω_i``, by Newton's method
    with a backtracking line search.

    Parameters
    ----------
    alpha : float, default=0.0
        L2 penalty on the coefficients (not on the intercept). With ``alpha=0`` the iterates stay
        in the span of the training inputs, so the fit is the limit of gradient flow from zero:
        for teacher probabilities ``σ(Xw*)`` it is the projection ``P_X w*`` [derived].
    fit_intercept : bool, default=False
        Whether to fit an intercept (a distilled linear student has none).
    tol : float, default=1e-10
        Stop when the gradient norm of the objective is at most ``tol``.
    max_iter : int, default=100
        Maximal number of Newton steps.

    Attributes
    ----------
    coef_ : ndarray of shape (1, n_features)
        Student weights.
    intercept_ : ndarray of shape (1,)
        Zero unless ``fit_intercept``.
    classes_ : ndarray of shape (2,)
        ``[0, 1]`` (in the dtype of ``y``) for probability targets, otherwise the two labels
        sorted; ``predict_proba[:, 1]`` is the probability of ``classes_[1]``.
    n_iter_ : int
        Newton iterations run (gradient evaluations, the final convergence test included).
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Only when ``X`` has string feature names.

    See Also
    --------
    hilbert_sd.linear.distill : the closed form and the gradient flow for a linear teacher.

    Notes
    -----
    Soft labels strictly inside (0, 1) make the loss coercive on the span of the inputs, so a
    unique minimizer exists there. Hard 0/1 labels on linearly separable data have none: the
    iterates grow until the gradient falls below ``tol`` (set ``alpha > 0`` for a finite
    solution); the direction then approaches the max-margin separator.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.special import expit
    >>> from hilbert_sd.linear_student import SoftLabelLogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((20, 3))
    >>> w_star = np.array([1.0, -2.0, 0.5])
    >>> student = SoftLabelLogisticRegression().fit(X, expit(X @ w_star))
    >>> np.allclose(student.coef_.ravel(), w_star)
    True
    """

    _parameter_constraints = {
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, alpha=0.0, fit_intercept=False, tol=1e-10, max_iter=100):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    # -------------------------------------------------------------------------- targets

    def _encode_targets(self, y):
        """Return probabilities in [0, 1] and set ``classes_``."""
        y = np.asarray(y)
        if y.dtype.kind in "iuf":
            yf = y.astype(np.float64)
            if yf.size and yf.min() >= 0.0 and yf.max() <= 1.0:
                self.classes_ = np.array([0, 1], dtype=y.dtype)
                return yf
            if np.any(yf != np.round(yf)):
                raise ValueError(
                    "continuous targets must be probabilities in [0, 1]; got values in "
                    f"[{yf.min():.6g}, {yf.max():.6g}]"
                )
        classes = np.unique(y)
        if classes.size > 2:
            raise ValueError(
                f"Only binary classification is supported; got {classes.size} classes"
            )
        if classes.size < 2:
            raise ValueError(
                f"the targets hold only one class ({classes[0]}); two classes are needed"
            )
        self.classes_ = classes
        return (y == classes[1]).astype(np.float64)

    # ------------------------------------------------------------------------------ fit

    def fit(self, X, y, sample_weight=None):
        """Fit the student to probabilities or class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Probabilities in [0, 1] or two class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; samples of weight 0 are ignored.

        Returns
        -------
        self : object
        """
        self._validate_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        s = self._encode_targets(y)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        keep = sw > 0
        X, s, sw = X[keep], s[keep], sw[keep]
        if np.all(s == 0.0) or np.all(s == 1.0):
            label = self.classes_[int(s[0])]
            raise ValueError(
                f"every target with non-zero weight belongs to one class ({label}); a single "
                "class has no finite logistic fit"
            )
        d = X.shape[1]
        A = np.hstack([X, np.ones((X.shape[0], 1))]) if self.fit_intercept else X
        penalized = np.ones(A.shape[1])
        if self.fit_intercept:
            penalized[-1] = 0.0
        if self.alpha == 0.0:
            # Gradients lie in the row space: Newton there is the flow's limit from zero.
            B = _row_space_basis(A)
        else:
            B = np.eye(A.shape[1])
        M = self.alpha * (B.T * penalized) @ B
        V = A @ B
        c, self.n_iter_, gnorm = _newton(V, s, sw / sw.sum(), M, self.tol, self.max_iter)
        if gnorm > self.tol:
            warnings.warn(
                f"Newton's method stopped after {self.n_iter_} iterations with gradient norm "
                f"{gnorm:.3g} > tol={self.tol:g}; if the targets are separable hard labels the "
                "loss has no finite minimizer (set alpha > 0)",
                ConvergenceWarning,
                stacklevel=2,
            )
        w = B @ c
        self.coef_ = w[:d].reshape(1, -1)
        self.intercept_ = np.array([w[d] if self.fit_intercept else 0.0])
        return self

    # -------------------------------------------------------------------------- predict

    def decision_function(self, X):
        """Student logits ``xᵀ coef + intercept``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_[0] + self.intercept_[0]

    def predict_proba(self, X):
        """Probabilities of ``classes_[0]`` and ``classes_[1]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        z = self.decision_function(X)
        return np.column_stack([expit(-z), expit(z)])

    def predict_log_proba(self, X):
        """Log-probabilities, computed with ``log_expit`` (no log of a rounded 0).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, 2)
        """
        z = self.decision_function(X)
        return np.column_stack([log_expit(-z), log_expit(z)])

    def predict(self, X):
        """Class of each input (``classes_[1]`` where the logit is positive).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        z = self.decision_function(X)
        return self.classes_[(z > 0).astype(int)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy; probability targets are read as labels ``1[y > 1/2]``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        float
        """
        y = np.asarray(y)
        if y.dtype.kind in "iuf" and y.size and np.min(y) >= 0 and np.max(y) <= 1:
            check_is_fitted(self)
            y = self.classes_[(y > 0.5).astype(int)]
        return super().score(X, y, sample_weight=sample_weight)


def _newton(V, s, weights, M, tol, max_iter):
    """Damped Newton for ``Σ ω_i [log(1 + e^{z_i}) - s_i z_i] + cᵀMc/2``, ``z = Vc``, from 0.

    Returns the coefficients, the number of iterations and the final gradient norm.
    """
    r = V.shape[1]
    c = np.zeros(r)

    def objective(c):
        z = V @ c
        return float(weights @ (np.logaddexp(0.0, z) - s * z)) + 0.5 * float(c @ M @ c)

    f = objective(c)
    n_iter = 0
    gnorm = np.inf
    for n_iter in range(1, max_iter + 1):
        z = V @ c
        g = V.T @ (weights * (expit(z) - s)) + M @ c
        gnorm = float(np.linalg.norm(g))
        if gnorm <= tol:
            break
        H = (V.T * (weights * expit(z) * expit(-z))) @ V + M
        try:
            step = -scipy.linalg.solve(H, g, assume_a="pos")
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgError, ValueError):
            # σ' underflows far out in separable directions: fall back to least squares.
            step = -scipy.linalg.lstsq(H, g)[0]
        # Armijo backtracking on the objective.
        slope = float(g @ step)
        if not slope < 0.0:
            step, slope = -g, -gnorm**2
        t = 1.0
        for _ in range(60):
            c_new = c + t * step
            f_new = objective(c_new)
            if f_new <= f + 1e-4 * t * slope:
                break
            t *= 0.5
        else:
            # No decrease is representable any more: the round-off floor.
            break
        c, f = c_new, f_new
    else:
        z = V @ c
        gnorm = float(np.linalg.norm(V.T @ (weights * (expit(z) - s)) + M @ c))
    return c, n_iter, gnorm
