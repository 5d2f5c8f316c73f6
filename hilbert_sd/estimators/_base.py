"""What every kernel estimator of the package shares: kernels, validation, one factorization."""

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from hilbert_sd.kernels import KERNEL_PARAMS, gram
from hilbert_sd.spectral import decompose

__all__ = []


class _KernelMixin:
    """Kernel handling shared by the estimators (``kernel``, ``gamma``, ``degree``, ``coef0``,
    ``kernel_params``), with scikit-learn's meanings and the ``"precomputed"`` option."""

    def _get_kernel(self, X, Y=None):
        if self.kernel == "precomputed":
            return X  # fit receives the training kernel matrix itself
        params = dict(self.kernel_params or {})
        kernel = "polynomial" if self.kernel == "poly" else self.kernel
        if not callable(kernel):
            if kernel not in KERNEL_PARAMS:
                raise ValueError(
                    f"kernel={self.kernel!r} is not supported; allowed: "
                    f"{sorted(KERNEL_PARAMS)}, 'precomputed' or a callable"
                )
            # the estimator's gamma / degree / coef0, for the kernels that take them
            for name in ("gamma", "degree", "coef0"):
                value = getattr(self, name)
                if name in KERNEL_PARAMS[kernel] and value is not None:
                    params.setdefault(name, value)
        return gram(X, Y, kernel=kernel, **params)

    def _validate_fit(self, X, y):
        # a precomputed float32 kernel keeps its dtype so that its round-off is judged at
        # float32 precision (see hilbert_sd.spectral.eigh_psd)
        dtype = (np.float64, np.float32) if self.kernel == "precomputed" else np.float64
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True,
                             dtype=dtype, accept_sparse=False)
        y = np.asarray(y, dtype=np.float64)
        if self.kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(
                f"with kernel='precomputed', X must be the square training kernel matrix; "
                f"got shape {X.shape}"
            )
        return X, y

    def _spectrum(self, X, K=None):
        """The one factorization of the training kernel matrix (validated by ``_validate_fit``;
        a precomputed matrix that is not PSD is replaced by its nearest PSD matrix, with a
        warning, as scikit-learn's estimators accept any symmetric matrix)."""
        K = self._get_kernel(X) if K is None else K
        return decompose(K, method=self.eigen_solver, on_indefinite="warn",
                         check_input=self.kernel == "precomputed")

    def _center(self, y):
        """Targets to fit and the intercept (the mean of y with ``fit_intercept``, else 0)."""
        if self.fit_intercept not in (True, False):
            raise ValueError(f"fit_intercept={self.fit_intercept!r}; allowed: True, False")
        if not self.fit_intercept:
            return y, (np.zeros(y.shape[1]) if y.ndim == 2 else 0.0)
        mean = y.mean(axis=0)
        return y - mean, (mean if y.ndim == 2 else float(mean))

    def _keep_spectrum(self, spectrum, path):
        """Keep the factorization only when asked: a fitted estimator predicts from X_fit_ and
        dual_coef_ alone, and pickles without the n × n eigenvectors by default."""
        if self.store_spectrum:
            self.spectrum_ = spectrum
            self.path_ = path
        else:
            for name in ("spectrum_", "path_"):
                self.__dict__.pop(name, None)

    def predict(self, X):
        """Predict with the fitted function (round ``n_rounds``, or the flow at ``time``).

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            Or ``k(X, X_fit_)`` of shape (n_queries, n_samples) for ``kernel="precomputed"``.

        Returns
        -------
        ndarray of shape (n_queries,) or (n_queries, n_targets)
        """
        return self._kernel_new(X) @ self.dual_coef_ + self.intercept_

    def _kernel_new(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64, accept_sparse=False)
        if self.kernel == "precomputed":
            n_fit = self.dual_coef_.shape[0]
            if X.shape[1] != n_fit:
                raise ValueError(
                    f"with kernel='precomputed', X must be k(X_new, X_fit) with {n_fit} "
                    f"columns; got shape {X.shape}"
                )
            return X
        return self._get_kernel(X, self.X_fit_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        tags.target_tags.multi_output = True
        return tags
