"""The one eigendecomposition every simulation starts from.

``K = U diag(λ) Uᵀ`` with λ **descending**. Everything downstream (self-distillation rounds,
budgets ε, gradient-flow times) is a diagonal filter on this basis, so the decomposition is
computed once and shared.
"""

import hashlib
from dataclasses import dataclass, field

import warnings

import numpy as np
import scipy.linalg

from hilbert_sd._validation import check_square_symmetric
from hilbert_sd.exceptions import NumericalWarning

__all__ = ["Spectrum", "eigh_psd", "clip_tolerance"]


def clip_tolerance(eigenvalues_abs_max, n, precision=None):
    """Round-off scale of a symmetric eigensolver: eigenvalues within it of 0 are numerically 0.

    ``100 · n · eps · max|λ|``: the backward error of LAPACK's symmetric solvers is
    O(n · eps · ‖K‖); the factor 100 leaves room for the error already in K. ``eps`` is the
    machine epsilon of the arithmetic that produced K (float64 unless told otherwise).
    """
    eps = np.finfo(np.float64).eps if precision is None else precision
    return 100.0 * n * eps * eigenvalues_abs_max


@dataclass(frozen=True)
class Spectrum:
    """Eigendecomposition of a positive semi-definite kernel matrix.

    Attributes
    ----------
    eigenvalues : ndarray of shape (n,)
        Descending, round-off negatives clipped to 0.
    eigenvectors : ndarray of shape (n, n)
        Orthonormal columns, ``eigenvectors[:, k]`` belongs to ``eigenvalues[k]``.
    n_clipped : int
        How many eigenvalues were slightly negative (round-off) and were set to 0.
    most_negative : float
        The most negative eigenvalue before clipping (0.0 if none was negative).
    rank_tolerance : float
        Eigenvalues at or below this are numerically zero (used for the infeasibility floor).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    n_clipped: int = 0
    most_negative: float = 0.0
    rank_tolerance: float = 0.0
    _projections: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self):
        """Number of samples."""
        return self.eigenvalues.shape[0]

    @property
    def condition_number(self):
        """λ_max / λ_min over the numerically positive eigenvalues (``inf`` if singular)."""
        lam = self.eigenvalues
        if lam[0] <= 0:
            return np.inf
        if lam[-1] <= self.rank_tolerance:
            return np.inf
        return float(lam[0] / lam[-1])

    @property
    def numerical_rank(self):
        """Number of eigenvalues above ``rank_tolerance``."""
        return int(np.count_nonzero(self.eigenvalues > self.rank_tolerance))

    def project(self, v):
        """Eigen-coefficients ``Uᵀ v`` of a vector (n,) or matrix (n, m).

        The last few projections are remembered by a digest of ``v``'s bytes: sweeps project
        the same labels under many budgets, and hashing costs O(n m) against the O(n² m)
        product. The returned array is read-only.
        """
        v = np.ascontiguousarray(v, dtype=np.float64)
        key = (v.shape, hashlib.blake2b(v.view(np.uint8), digest_size=16).digest())
        z = self._projections.get(key)
        if z is None:
            z = self.eigenvectors.T @ v
            z.flags.writeable = False
            if len(self._projections) >= 4:
                self._projections.pop(next(iter(self._projections)))
            self._projections[key] = z
        return z

    def __repr__(self):
        lam = self.eigenvalues
        return (
            f"Spectrum(n={self.n}, lambda_max={lam[0]:.4g}, lambda_min={lam[-1]:.4g}, "
            f"rank={self.numerical_rank}, n_clipped={self.n_clipped})"
        )


def _reverse_columns_inplace(U):
    # Descending order without a second n x n array (memory is a feature at n ~ 1e4).
    rows = U.T  # LAPACK returns Fortran order, so the eigenvectors are contiguous rows here
    n = rows.shape[0]
    buf = np.empty(rows.shape[1])
    for i in range(n // 2):
        j = n - 1 - i
        buf[:] = rows[i]
        rows[i] = rows[j]
        rows[j] = buf


def eigh_psd(K, *, check_input=True, driver=None, precision=None, on_indefinite="raise"):
    """Eigendecompose a symmetric positive semi-definite kernel matrix, descending.

    Parameters
    ----------
    K : array-like of shape (n, n)
        Symmetric PSD matrix. It is never modified.
    check_input : bool, default=True
        Check shape, finiteness and symmetry. Turn off only for matrices built by this package.
    driver : str, optional
        LAPACK driver passed to :func:`scipy.linalg.eigh` (default ``"evr"``: O(n) workspace).
    precision : float, optional
        Machine epsilon of the arithmetic that produced K; sets the round-off tolerance.
        Default: that of K's dtype when it is a floating ndarray (float32 kernels carry
        float32 round-off), else float64's.
    on_indefinite : {"raise", "warn"}, default="raise"
        What to do with eigenvalues clearly below 0: raise, or warn
        (:class:`~hilbert_sd.NumericalWarning`) and clip them to 0, i.e. use the nearest PSD
        matrix in Frobenius norm (what the estimators do, so that pipelines keep working).

    Returns
    -------
    Spectrum

    Raises
    ------
    ValueError
        If K is not square, not finite, not symmetric, or has an eigenvalue clearly below 0
        (beyond round-off, see :func:`clip_tolerance`).

    Notes
    -----
    LAPACK returns ascending eigenvalues; the public arrays of this package are descending.
    Round-off negatives are clipped to 0 and counted in ``Spectrum.n_clipped``.
    """
    if precision is None:
        dtype = getattr(K, "dtype", None)
        floating = dtype is not None and np.issubdtype(dtype, np.floating)
        precision = float(np.finfo(dtype).eps) if floating else float(np.finfo(np.float64).eps)
    if on_indefinite not in ("raise", "warn"):
        raise ValueError(f"on_indefinite={on_indefinite!r}; allowed: 'raise', 'warn'")
    if check_input:
        K = check_square_symmetric(K, "K", rtol=max(1e-10, 100 * precision))
    else:
        K = np.asarray(K, dtype=np.float64)
    n = K.shape[0]
    # overwrite_a=False: the caller's matrix is never touched (scipy copies it once).
    lam, U = scipy.linalg.eigh(K, driver=driver or "evr", check_finite=False)
    lam = lam[::-1].copy()
    _reverse_columns_inplace(U)
    scale = float(max(abs(lam[0]), abs(lam[-1]))) if n else 0.0
    tol = clip_tolerance(scale, n, max(precision, float(np.finfo(np.float64).eps)))
    most_negative = float(min(lam[-1], 0.0))
    if most_negative < -tol and on_indefinite == "warn":
        warnings.warn(
            f"K is not positive semi-definite: smallest eigenvalue {most_negative:.6g} "
            f"(round-off tolerance -{tol:.3g}); clipped {int(np.count_nonzero(lam < 0))} "
            "negative eigenvalues to 0, i.e. using the nearest PSD matrix",
            NumericalWarning,
            stacklevel=2,
        )
    elif most_negative < -tol:
        raise ValueError(
            f"K is not positive semi-definite: smallest eigenvalue {most_negative:.6g} is below "
            f"the round-off tolerance -{tol:.3g}; allowed: eigenvalues >= -{tol:.3g}"
        )
    negative = lam < 0
    n_clipped = int(np.count_nonzero(negative))
    if n_clipped:
        lam[negative] = 0.0
    return Spectrum(
        eigenvalues=lam,
        eigenvectors=U,
        n_clipped=n_clipped,
        most_negative=most_negative,
        rank_tolerance=tol,
    )
