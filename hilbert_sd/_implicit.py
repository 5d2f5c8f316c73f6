"""The exact eigenbasis without the eigenvector matrix (:doc:`/topics/backends`, "Implicit exact
basis").

``K = Q T Qᵀ`` by LAPACK's blocked Householder tridiagonalization (``dsytrd``), then
``T = V diag(λ) Vᵀ`` by a tridiagonal eigensolver. The eigenvectors of K are ``U = Q V``, but U
is never formed: every product the paths need goes through the two factors,

- ``Uᵀ v = Vᵀ (Qᵀ v)``, ``U c = Q (V c)``, ``K_new U = (K_new Q) V``,

each O(n²) per column, with Q applied as its n − 1 reflectors by LAPACK's blocked ``dormqr``
(LAPACK's ``dormtr`` for a lower tridiagonalization *is* ``dormqr`` on the trailing
(n − 1) × (n − 1) block of reflectors; scipy exposes ``dormqr`` and not ``dormtr``). This skips
the O(n³) back-transformation ``Q V`` that a dense eigensolver (``dsyevr`` = ``dsytrd`` + the
tridiagonal solver + ``dormtr``) spends on forming U.
"""

import numpy as np
import scipy.linalg
import scipy.linalg.lapack as lapack

from hilbert_sd.spectral import (
    Spectrum,
    _finish_eigenvalues,
    _prepare_matrix,
    _reverse_columns_inplace,
)

__all__ = ["ImplicitSpectrum", "eigh_implicit"]

# LAPACK's block size for dsytrd / dormqr (ILAENV's NB is 32 in the reference LAPACK and
# OpenBLAS; 64 leaves room) and the workspace of dormqr's triangular block factor T.
_NB = 64
_TSIZE = (_NB + 1) * _NB

_DRIVERS = ("stevd", "stemr")


def _apply_q(reflectors, tau, C, *, transpose, side="L"):
    """``Q C`` / ``Qᵀ C`` (side ``"L"``, C of shape (n, m)) or ``C Q`` (side ``"R"``, C of
    shape (q, n)) for ``Q = diag(1, Q̃)`` of a lower ``dsytrd``, Q̃ = H(1)…H(n−1) held as the
    (n − 1) × (n − 1) block of reflectors below its diagonal. Returns a new array."""
    C = np.asarray(C, dtype=np.float64)
    vector = C.ndim == 1
    C2 = C[:, None] if vector else C
    out = np.empty(C2.shape, order="F")
    if side == "L":
        n = C2.shape[0]
        out[0] = C2[0]
        if n > 1:
            block = np.array(C2[1:], order="F")  # a copy: dormqr overwrites it
            lwork = max(1, block.shape[1]) * _NB + _TSIZE
            res, _, info = lapack.dormqr("L", "T" if transpose else "N", reflectors, tau, block,
                                         lwork, overwrite_c=1)
            _check_info(info, "dormqr")
            out[1:] = res
    else:
        n = C2.shape[1]
        out[:, 0] = C2[:, 0]
        if n > 1 and C2.shape[0]:
            block = np.array(C2[:, 1:], order="F")
            lwork = max(1, block.shape[0]) * _NB + _TSIZE
            res, _, info = lapack.dormqr("R", "T" if transpose else "N", reflectors, tau, block,
                                         lwork, overwrite_c=1)
            _check_info(info, "dormqr")
            out[:, 1:] = res
    return out[:, 0].copy() if vector else out


def _check_info(info, name):
    if info != 0:
        raise np.linalg.LinAlgError(f"LAPACK {name} failed with info={info}")


class ImplicitSpectrum(Spectrum):
    """``K = U diag(λ) Uᵀ`` with ``U = Q V`` held as its two factors, never formed.

    The same interface, eigenvalues, tolerances and clipping as the dense :class:`Spectrum`
    (build it with ``decompose(K, method="implicit")``); every product with U costs two
    O(n²) passes per column (the n − 1 Householder reflectors of Q, then V) instead of one.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
        Descending, ≥ 0 (round-off negatives clipped).
    reflectors : ndarray of shape (n − 1, n − 1), Fortran order
        The Householder vectors of Q (a lower ``dsytrd``) below the diagonal.
    tau : ndarray of shape (n − 1,)
        Their scalar factors.
    tridiagonal_vectors : ndarray of shape (n, n)
        Orthonormal eigenvectors V of the tridiagonal T, column k for ``eigenvalues[k]``.
    n_clipped, most_negative, rank_tolerance
        As :class:`Spectrum`.
    """

    method = "implicit"

    def __init__(self, eigenvalues, reflectors, tau, tridiagonal_vectors, n_clipped=0,
                 most_negative=0.0, rank_tolerance=0.0):
        super().__init__(eigenvalues, None, n_clipped=n_clipped, most_negative=most_negative,
                         rank_tolerance=rank_tolerance)
        self._reflectors = reflectors
        self._tau = tau
        self._V = tridiagonal_vectors

    def _q(self, C, *, transpose=False, side="L"):
        return _apply_q(self._reflectors, self._tau, C, transpose=transpose, side=side)

    @property
    def eigenvectors(self):
        """The explicit eigenvector matrix ``U = Q V`` (n, n), computed on every access.

        **O(n³) work and n² memory**: the back-transformation this backend exists to skip. For
        display and tests; keep a reference rather than reading it twice. Library code goes
        through :meth:`project` / :meth:`reconstruct`.
        """
        return self._q(self._V)

    def _project_uncached(self, v):
        return self._V.T @ self._q(v, transpose=True)

    def _reconstruct_2d(self, c):
        return self._q(self._V @ c)

    def project_rows(self, K_new):
        """``K_new U = (K_new Q) V`` for rows ``K_new = k(X_new, X)`` of shape (n_new, n)."""
        K_new = np.asarray(K_new, dtype=np.float64)
        return self._q(K_new, side="R") @ self._V

    def leverages(self, filters, *, complement=False):
        """Diagonals of the smoothers ``S_j = U diag(h_j) Uᵀ``, one per filter row ``h_j``.

        As :meth:`Spectrum.leverages`, with ``U ∘ U`` built over blocks of columns
        ``U_b = Q V_b`` (never U whole): O(n³) work for the reflectors (once per call, shared
        by every filter row) plus O(n²·J), O(n·(J + block)) memory.
        """
        H = np.asarray(filters, dtype=np.float64)
        single = H.ndim == 1
        H = np.atleast_2d(H)
        n = self.n
        if H.ndim != 2 or H.shape[1] != n:
            raise ValueError(f"filters must have shape (n,) or (J, n) with n={n}; "
                             f"got {np.shape(filters)}")
        W = (1.0 - H) if complement else H  # rows of U ∘ U sum to 1: no cancellation
        out = np.zeros((n, W.shape[0]))
        step = max(_NB, (1 << 21) // max(n, 1))
        for k in range(0, n, step):
            block = self._q(self._V[:, k:k + step])
            out += (block * block) @ W[:, k:k + step].T
        return out[:, 0].copy() if single else np.ascontiguousarray(out.T)

    def basis(self, rank=None):
        """The top-``rank`` eigenvectors ``Q V[:, :rank]`` as an explicit (n, rank) array
        (all when None; O(n² · rank) work)."""
        rank = self.n if rank is None else int(rank)
        if not 0 <= rank <= self.n:
            raise ValueError(f"rank={rank} is out of range; allowed: 0 <= rank <= {self.n}")
        return self._q(self._V[:, :rank])


def eigh_implicit(K, *, check_input=True, precision=None, on_indefinite="raise",
                  driver="stevd"):
    """Eigendecompose a symmetric PSD kernel matrix without forming its eigenvectors.

    Parameters
    ----------
    K : array-like of shape (n, n)
        Symmetric PSD matrix (its lower triangle is read, as the dense backend's). Never
        modified.
    check_input, precision, on_indefinite
        As :func:`hilbert_sd.spectral.eigh_psd` (the same checks, round-off tolerance,
        clipping and indefinite handling, shared code).
    driver : {"stevd", "stemr"}, default="stevd"
        Tridiagonal eigensolver: LAPACK's divide and conquer (``dstevd``; measured faster
        than MRRR on kernel matrices, whose clustered spectra deflate, and orthogonal to
        O(n·eps)) or MRRR (``dstemr``, the solver inside ``dsyevr``).

    Returns
    -------
    ImplicitSpectrum
    """
    if driver not in _DRIVERS:
        raise ValueError(f"driver={driver!r}; allowed: {', '.join(map(repr, _DRIVERS))}")
    K, precision = _prepare_matrix(K, check_input, precision, on_indefinite)
    n = K.shape[0]
    if n == 0:
        raise ValueError("K is empty; allowed: shape (n, n) with n >= 1")
    c, d, e, tau, info = lapack.dsytrd(K, lower=1, lwork=max(1, n * _NB))
    _check_info(info, "dsytrd")
    reflectors = np.asfortranarray(c[1:, :-1])
    del c
    if n == 1:
        lam, V = d.copy(), np.ones((1, 1))
    elif driver == "stevd":
        lam, V, info = lapack.dstevd(d, e, compute_v=1)
        _check_info(info, "dstevd")
    else:
        lam, V = scipy.linalg.eigh_tridiagonal(d, e, lapack_driver="stemr", check_finite=False)
    # descending, as everywhere: reverse the eigenpairs (one copy of V, contiguous columns)
    lam = lam[::-1].copy()
    if V.flags.f_contiguous:
        _reverse_columns_inplace(V)
    else:
        V = np.asfortranarray(V[:, ::-1])
    lam, n_clipped, most_negative, tol = _finish_eigenvalues(lam, precision, on_indefinite,
                                                             stacklevel=4)
    return ImplicitSpectrum(lam, reflectors, np.ascontiguousarray(tau), V, n_clipped=n_clipped,
                            most_negative=most_negative, rank_tolerance=tol)
