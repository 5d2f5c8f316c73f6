"""Self-distilled kernel ridge regression as a classifier (one-vs-all ±1 targets, argmax)."""

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from hilbert_sd.estimators.distillation import SelfDistilledKernelRidge

__all__ = ["SelfDistilledKernelClassifier"]


class SelfDistilledKernelClassifier(ClassifierMixin, SelfDistilledKernelRidge):
    """Classification by self-distilled kernel ridge regression on ±1 one-vs-all targets.

    The classes are coded as scikit-learn's :class:`~sklearn.linear_model.RidgeClassifier`
    codes them: one column per class with +1 for the class and −1 elsewhere (one column for two
    classes). Every round is a multi-output fit of those columns with one ridge per round
    (the joint budget: ε bounds the mean over samples of the squared error summed over the
    columns). The decision function of round ``n_rounds`` is the fitted function; the
    predicted class is its argmax (its sign for two classes). This is the setting of the
    noisy-label study with squared loss: self-distillation refits the previous round's soft
    scores, not hard labels.

    Parameters
    ----------
    epsilon, alpha, n_rounds, mix, kernel, gamma, degree, coef0, kernel_params, fit_intercept,
    eigen_solver, store_spectrum
        As in :class:`~hilbert_sd.SelfDistilledKernelRidge` (``epsilon`` in units of the
        squared ±1 codes).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    dual_coef_ : ndarray of shape (n_samples,) or (n_samples, n_classes)
    alphas_, collapse_round_, basis_weights_, eigenvalues_, dual_coefs_, intercept_, X_fit_,
    n_features_in_
        As in :class:`~hilbert_sd.SelfDistilledKernelRidge`.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from hilbert_sd import SelfDistilledKernelClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SelfDistilledKernelClassifier(epsilon=0.3, n_rounds=2, gamma=0.5).fit(X, y)
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    def fit(self, X, y):
        """Fit rounds 0, …, ``n_rounds`` on the ±1 codes of the classes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training inputs, or the training kernel matrix for ``kernel="precomputed"``.
        y : array-like of shape (n_samples,)
            Class labels.

        Returns
        -------
        self : SelfDistilledKernelClassifier
        """
        dtype = (np.float64, np.float32) if self.kernel == "precomputed" else np.float64
        X, y = validate_data(self, X, y, dtype=dtype, accept_sparse=False)
        check_classification_targets(y)
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(f"with kernel='precomputed', X must be the square training kernel "
                             f"matrix; got shape {X.shape}")
        binarizer = LabelBinarizer(pos_label=1, neg_label=-1)
        Y = binarizer.fit_transform(y).astype(np.float64)
        self.classes_ = binarizer.classes_
        if self.classes_.shape[0] < 2:
            raise ValueError(f"y has 1 class ({self.classes_[0]!r}); a classifier needs at "
                             "least 2")
        self._fit(X, Y[:, 0] if Y.shape[1] == 1 else Y)
        return self

    def decision_function(self, X):
        """Scores of the function of round ``n_rounds``: (n_queries,) for two classes (the
        second class's), else (n_queries, n_classes).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Or ``k(X, X_fit_)`` for ``kernel="precomputed"``.

        Returns
        -------
        ndarray
        """
        check_is_fitted(self)
        return self._kernel_new(X) @ self.dual_coef_ + self.intercept_

    def predict(self, X):
        """Predicted classes: argmax of the scores (their sign for two classes).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)

        Returns
        -------
        ndarray of shape (n_queries,)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def staged_decision_function(self, X):
        """Yield the scores of rounds 0, 1, …, ``n_rounds`` in order."""
        yield from SelfDistilledKernelRidge.staged_predict(self, X)

    def staged_predict(self, X):
        """Yield the predicted classes of rounds 0, 1, …, ``n_rounds`` in order."""
        for scores in self.staged_decision_function(X):
            if scores.ndim == 1:
                yield self.classes_[(scores > 0).astype(int)]
            else:
                yield self.classes_[np.argmax(scores, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = False
        return tags
