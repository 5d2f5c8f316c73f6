"""What every kernel estimator of the package shares: kernels, validation, one factorization."""

import numbers
import sys
import time

import numpy as np
from sklearn.utils.validation import check_is_fitted, validate_data

from hilbert_sd.kernels import KERNEL_PARAMS, gram
from hilbert_sd.spectral import decompose

__all__ = []

_LOW_RANK = ("randomized", "nystrom")
_SOLVERS = ("auto", "dense", "implicit") + _LOW_RANK


class _KernelMixin:
    """Kernel handling shared by the estimators (``kernel``, ``gamma``, ``degree``, ``coef0``,
    ``kernel_params``), with scikit-learn's meanings and the ``"precomputed"`` option."""

    def _kernel_spec(self):
        """(kernel, params) for :func:`hilbert_sd.kernels.gram`."""
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
        return kernel, params

    def _get_kernel(self, X, Y=None):
        if self.kernel == "precomputed":
            return X  # fit receives the training kernel matrix itself
        kernel, params = self._kernel_spec()
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

    def _solver(self, n):
        """The decompose method and rank of ``eigen_solver`` / ``n_components``."""
        solver = self.eigen_solver
        # estimators without n_components (the CV ones) offer the exact solvers only
        allowed = _SOLVERS if hasattr(self, "n_components") else _SOLVERS[:3]
        if solver not in allowed:
            raise ValueError(f"eigen_solver={solver!r}; allowed: "
                             f"{', '.join(map(repr, allowed))}")
        rank = getattr(self, "n_components", None)
        if rank is None:
            if solver in _LOW_RANK:
                raise ValueError(f"eigen_solver={solver!r} needs n_components, an int in "
                                 f"[1, n_samples={n}]")
            return solver, None
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) \
                or not 1 <= rank <= n:
            raise ValueError(f"n_components={rank!r} is out of range; allowed: an int in "
                             f"[1, n_samples={n}]")
        if solver in ("dense", "implicit"):
            raise ValueError(f"n_components={rank} needs a low-rank eigen_solver "
                             f"('randomized' or 'nystrom'); eigen_solver={solver!r} computes "
                             "every eigenpair: allowed n_components=None")
        return ("randomized" if solver == "auto" else solver), int(rank)

    def _spectrum(self, X, K=None):
        """The one factorization of the training kernel (validated by ``_validate_fit``; a
        precomputed matrix that is not PSD is replaced by its nearest PSD matrix, with a
        warning, as scikit-learn's estimators accept any symmetric matrix).

        The low-rank solvers work from X and the kernel (the n × n matrix is never formed)
        unless the kernel is precomputed (``"randomized"`` only) or K is given."""
        method, rank = self._solver(X.shape[0])
        verbose = getattr(self, "verbose", False)
        if not isinstance(verbose, (bool, numbers.Integral)):
            raise ValueError(f"verbose={verbose!r}; allowed: True, False")
        start = time.perf_counter()
        if rank is not None:
            low = {"method": method, "rank": rank, "random_state": self.random_state,
                   "verbose": bool(verbose)}
            if self.kernel == "precomputed" or K is not None:
                if method == "nystrom":
                    raise ValueError("eigen_solver='nystrom' needs the inputs X and a kernel, "
                                     "not kernel='precomputed'; allowed: 'auto', 'dense', "
                                     "'implicit', 'randomized'")
                spectrum = decompose(X if K is None else K, on_indefinite="warn",
                                     check_input=self.kernel == "precomputed", **low)
            else:
                kernel, params = self._kernel_spec()
                spectrum = decompose(X=X, kernel=kernel, **low, **params)
        else:
            K = self._get_kernel(X) if K is None else K
            spectrum = decompose(K, method=method, on_indefinite="warn", verbose=bool(verbose),
                                 check_input=self.kernel == "precomputed")
        if verbose:
            print(f"[{type(self).__name__}] {spectrum.method} factorization of n="
                  f"{spectrum.n} in {time.perf_counter() - start:.2f} s", file=sys.stderr)
        return spectrum

    @staticmethod
    def _prediction_basis(X, spectrum, path, index):
        """(points, dual coefficients) with ``f(x) = k(x, points) @ coef``: the training
        inputs, or a Nyström spectrum's landmarks (M coefficients instead of n)."""
        if spectrum.method == "nystrom":
            return spectrum.landmark_points, path.dual_coef(index, basis="landmarks")
        return X, path.dual_coef(index)

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
