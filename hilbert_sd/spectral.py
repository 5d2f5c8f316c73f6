"""The one eigendecomposition every simulation starts from.

``K = U diag(λ) Uᵀ`` with λ **descending**. Everything downstream (self-distillation rounds,
budgets ε, gradient-flow times) is a diagonal filter on this basis, so the decomposition is
computed once and shared.
"""

import hashlib
import sys
import time
import warnings

import numpy as np
import scipy.linalg

from hilbert_sd._validation import as_float_array, check_kernel_rows, check_square_symmetric
from hilbert_sd.exceptions import NumericalWarning

__all__ = ["LowRankSpectrum", "SpectralPath", "Spectrum", "as_spectrum", "clip_tolerance",
"decompose", "eigh_psd"]


def clip_tolerance(eigenvalues_abs_max, n, precision=None):
    """Round-off scale of a symmetric eigensolver: eigenvalues within it of 0 are numerically 0.

    ``100 · n · eps · max|λ|``: the backward error of LAPACK's symmetric solvers is
    O(n · eps · ‖K‖); the factor 100 leaves room for the error already in K. ``eps`` is the
    machine epsilon of the arithmetic that produced K (float64 unless told otherwise).
    """
    eps = np.finfo(np.float64).eps if precision is None else precision
    return 100.0 * n * eps * eigenvalues_abs_max


class Spectrum:
    """Eigendecomposition ``K = U diag(λ) Uᵀ`` of a PSD kernel matrix: the one interface.

    Every path, estimator and study reaches the eigenbasis through the methods below
    (:meth:`project`, :meth:`reconstruct`, :meth:`project_rows`, :meth:`null_energy`), never
    through the eigenvector matrix itself, so that other backends (which never form U, or keep
    a low-rank part of it) can stand in for this one. Build it with :func:`decompose`.

    Parameters
    ----------
    eigenvalues : ndarray of shape (n,)
        Descending, ≥ 0 (round-off negatives clipped).
    eigenvectors : ndarray of shape (n, n)
        Orthonormal columns, ``eigenvectors[:, k]`` belongs to ``eigenvalues[k]``.
    n_clipped : int, default=0
        How many eigenvalues were slightly negative (round-off) and were set to 0.
    most_negative : float, default=0.0
        The most negative eigenvalue before clipping (0.0 if none was negative).
    rank_tolerance : float, default=0.0
        Eigenvalues at or below this are numerically zero (the infeasibility floor, the
        pseudo-inverse cut-off).

    Attributes
    ----------
    method : str
        The backend that computed it (``"dense"``).
    """

    method = "dense"
    #: whether the spectrum holds only the top eigenpairs (:class:`LowRankSpectrum`)
    is_low_rank = False
    #: whether :func:`hilbert_sd.self_distill` certifies the exact run from it (an exact
    #: spectrum needs no certificate)
    certifiable = False

    def __init__(self, eigenvalues, eigenvectors, n_clipped=0, most_negative=0.0,
                 rank_tolerance=0.0):
        self.eigenvalues = eigenvalues
        self._U = eigenvectors
        self.n_clipped = n_clipped
        self.most_negative = most_negative
        self.rank_tolerance = rank_tolerance
        self._projections = {}
        # (X, kernel, params) when built from inputs by decompose(X=...): lets
        # project_points evaluate the kernel at new inputs
        self._inputs = None

    def project_points(self, X_new):
        """Features ``k(X_new, X) U`` of new inputs in the eigenbasis, for a spectrum built from
        inputs (``decompose(X=..., kernel=...)``): pass them to a path's ``predict`` with
        ``projected=True``.

        The kernel rows are evaluated in blocks of new points (never more than about 16 MB of
        them at once). A spectrum built from a kernel matrix does not know the kernel: use
        :meth:`project_rows` with ``k(X_new, X)`` there.

        Parameters
        ----------
        X_new : array-like of shape (n_new, p)

        Returns
        -------
        ndarray of shape (n_new, len(eigenvalues))
        """
        if self._inputs is None:
            raise ValueError(
                "this spectrum was built from a kernel matrix and does not know the kernel; "
                "project_points needs decompose(X=..., kernel=...); use "
                "project_rows(k(X_new, X)) instead")
        from hilbert_sd.kernels import gram

        X, kernel, params = self._inputs
        X_new = as_float_array(X_new, "X_new", ndim=2, allow_empty=True)
        if X_new.shape[1] != X.shape[1]:
            raise ValueError(f"X_new must have shape (n_new, {X.shape[1]}); got {X_new.shape}")
        out = np.empty((X_new.shape[0], self.eigenvalues.shape[0]))
        step = max(1, (1 << 21) // max(self.n, 1))
        for i in range(0, X_new.shape[0], step):
            out[i:i + step] = self.project_rows(gram(X_new[i:i + step], X, kernel=kernel,
                                                     **params))
        return out

    @property
    def eigenvectors(self):
        """The explicit eigenvector matrix U (n, n), for display and tests.

        Library code goes through :meth:`project` / :meth:`reconstruct` instead.
        """
        return self._U

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
            if v.ndim == 1:
                # a view of its (n, 1) column's entry: the paths project y.reshape(n, -1), so
                # a vector and its column cost one projection (two passes on a Nyström one)
                z = self.project(v[:, None])[:, 0]
            else:
                z = self._project_uncached(v)
                z.flags.writeable = False
            if len(self._projections) >= 8:
                self._projections.pop(next(iter(self._projections)))
            self._projections[key] = z
        return z

    def reconstruct(self, c):
        """``U c`` for eigen-coefficients ``c`` of shape (n,) or (n, m).

        A stack of shape (J, n, m) gives (J, n, m), computed as one matrix product (one pass
        over U for the whole stack, not one per row).
        """
        c = np.asarray(c, dtype=np.float64)
        if c.ndim <= 2:
            return self._reconstruct_2d(c)
        J, r, m = c.shape
        out = self._reconstruct_2d(c.transpose(1, 0, 2).reshape(r, J * m))
        return out.reshape(out.shape[0], J, m).transpose(1, 0, 2)

    # ---- the two products a backend provides (project's cache and reconstruct's stacking
    # are shared by every backend) ---------------------------------------------------------
    def _project_uncached(self, v):
        """``Uᵀ v`` for a C-contiguous float64 (n,) or (n, m) array."""
        return self._U.T @ v

    def _reconstruct_2d(self, c):
        """``U c`` for a float64 (n,) or (n, m) array."""
        return self._U @ c

    def project_rows(self, K_new):
        """``K_new U`` for rows ``K_new = k(X_new, X)`` of shape (n_new, n): the features of new
        points in the eigenbasis (predictions are ``project_rows(K_new) @ (g ⊙ z)``)."""
        return np.asarray(K_new, dtype=np.float64) @ self._U

    def null_energy(self, v):
        """Squared norm of the part of ``v`` in the numerical null space of K.

        Parameters
        ----------
        v : ndarray of shape (n,) or (n, m)

        Returns
        -------
        float, or ndarray of shape (m,) per column
        """
        z = self.project(v)
        null = self.eigenvalues <= self.rank_tolerance
        return np.sum(z[null] ** 2, axis=0) if z.ndim == 2 else float(np.sum(z[null] ** 2))

    def leverages(self, filters, *, complement=False):
        """Diagonals of the smoothers ``S_j = U diag(h_j) Uᵀ``, one per filter row ``h_j``.

        ``diag S_j = (U ∘ U) h_j``: one (n × n)·(n × J) product of the squared eigenvectors
        with the stacked filters, computed over blocks of rows so that ``U ∘ U`` is formed once
        per call and never held whole (O(n²·J) work, O(n·J) memory beyond U).

        Parameters
        ----------
        filters : array-like of shape (n,) or (J, n)
            Filters ``h_j`` in the eigen-order of this spectrum (descending eigenvalues), one
            entry per eigenvalue held.
        complement : bool, default=False
            Return ``diag(I − S_j) = (U ∘ U)(1 − h_j)`` instead. The rows of ``U ∘ U`` sum to
            1 (U is orthogonal), so this is ``1 − diag S_j`` without the cancellation of
            subtracting a leverage close to 1 (the leave-one-out denominator). (With fewer
            eigenvectors than samples it is ``1 − diag S_j``.)

        Returns
        -------
        ndarray of shape (n,) or (J, n)
            Row j is ``diag S_j`` (or ``diag(I − S_j)``).
        """
        H = np.asarray(filters, dtype=np.float64)
        single = H.ndim == 1
        H = np.atleast_2d(H)
        U = self._U
        n, r = U.shape  # r < n: only the top eigen-directions are held (filters are 0 beyond)
        if H.ndim != 2 or H.shape[1] != r:
            raise ValueError(f"filters must have shape (n,) or (J, n) with n={r}; "
                             f"got {np.shape(filters)}")
        stable = complement and r == n  # (U ∘ U)(1 − h) needs rows of U ∘ U summing to 1
        W = (1.0 - H) if stable else H
        out = np.empty((n, W.shape[0]))
        step = max(1, (1 << 21) // max(r, 1))
        for i in range(0, n, step):
            block = U[i:i + step]
            out[i:i + step] = (block * block) @ W.T
        if complement and not stable:
            out = 1.0 - out
        return out[:, 0].copy() if single else np.ascontiguousarray(out.T)

    def landmark_coefficients(self, d):
        """Landmark coefficients of eigen-coefficients ``d``: a Nyström spectrum only."""
        raise ValueError(f"a {self.method} spectrum has no landmarks; landmark coefficients "
                         "need decompose(..., method='nystrom')")

    def basis(self, rank=None):
        """The top-``rank`` eigenvectors as an explicit (n, rank) array (all when None).

        For studies that iterate in a truncated eigenbasis (a few columns of U, not the n × n
        matrix); a backend without explicit eigenvectors refuses with a clear error.
        """
        rank = self.n if rank is None else int(rank)
        if not 0 <= rank <= self.n:
            raise ValueError(f"rank={rank} is out of range; allowed: 0 <= rank <= {self.n}")
        return self._U[:, :rank]

    def __repr__(self):
        lam = self.eigenvalues
        return (
            f"Spectrum(n={self.n}, method={self.method!r}, lambda_max={lam[0]:.4g}, "
            f"lambda_min={lam[-1]:.4g}, rank={self.numerical_rank}, n_clipped={self.n_clipped})"
        )


class LowRankSpectrum(Spectrum):
    """The top-r eigenpairs of a kernel matrix and one *tail* pseudo-direction.

    Low-rank backends (``decompose(method="randomized")``, ``"nystrom"``) hold r eigenpairs
    of an n × n kernel matrix. The other n − r directions enter every path through one
    pseudo-direction with eigenvalue 0 that carries the targets' energy outside the top r
    (``‖v − U_r U_rᵀ v‖²``): :attr:`eigenvalues` has ``r + 1`` entries, the last one 0, and
    :meth:`project` returns ``r + 1`` coefficients, the last one the norm of the part of v
    outside the top r. Every path then treats the tail as it treats the null space of a dense
    spectrum: the budget's root equation and the training errors count its energy, and every
    filter is 0 there (``h(0) = 0``), so fits, dual coefficients and predictions use the top r
    only.

    - For a Nyström spectrum the tail *is* the null space of the approximating kernel
      ``K̃ = C W⁺ Cᵀ``: every path on it is exact for ``K̃`` [derived].
    - For a randomized top-r spectrum of K the tail eigenvalues lie in ``[0, λ_r]``, not at 0:
      the paths are those of the rank-r truncation of K, and :func:`hilbert_sd.self_distill`
      attaches certified intervals for the exact run (:mod:`hilbert_sd.certificates`).

    Subclasses implement ``_project_top(v)`` (``U_rᵀ v``), ``_reconstruct_top(c)``
    (``U_r c``), and may override ``_tail_norm(v, z)``, :meth:`project_rows`,
    :meth:`project_points` and :meth:`basis`.

    Parameters
    ----------
    top_eigenvalues : ndarray of shape (r,)
        Descending, ≥ 0.
    n_samples : int
        n, the number of training points.
    n_clipped, most_negative, rank_tolerance
        As :class:`Spectrum`.
    trace_error : float, optional
        ``tr K − Σ_{k≤r} λ_k``, the kernel's trace outside the top r (Nyström: ``tr K − tr K̃``,
        its distance to K in the trace norm).
    """

    is_low_rank = True
    #: whether :func:`hilbert_sd.self_distill` can certify the exact run from this spectrum
    #: (the top-r eigenpairs of K itself; not Nyström's, which are those of another kernel)
    certifiable = False

    def __init__(self, top_eigenvalues, n_samples, *, n_clipped=0, most_negative=0.0,
                 rank_tolerance=0.0, trace_error=None):
        lam = np.append(np.asarray(top_eigenvalues, dtype=np.float64), 0.0)
        super().__init__(lam, None, n_clipped=n_clipped, most_negative=most_negative,
                         rank_tolerance=rank_tolerance)
        self._n = int(n_samples)
        self.trace_error = trace_error

    @property
    def n(self):
        """Number of samples (not the number of eigenvalues held)."""
        return self._n

    @property
    def rank(self):
        """r, the number of eigenpairs held (``len(eigenvalues) - 1``)."""
        return self.eigenvalues.shape[0] - 1

    @property
    def top_eigenvalues(self):
        """The r eigenvalues held, descending (without the tail's 0)."""
        return self.eigenvalues[:-1]

    @property
    def tail_bound(self):
        """Largest value a tail eigenvalue can take: λ_r (the smallest held)."""
        return float(self.eigenvalues[-2]) if self.rank else 0.0

    @property
    def eigenvectors(self):
        raise ValueError(
            f"a {self.method} spectrum holds {self.rank} of the {self.n} eigenvectors and "
            "no n x n matrix; use basis(rank) for the top ones, project/reconstruct for "
            "products")

    @property
    def condition_number(self):
        """Always ``inf``: the tail directions count as 0."""
        return np.inf

    # ---- what a backend implements -----------------------------------------------------
    def _project_top(self, v):
        raise NotImplementedError

    def _reconstruct_top(self, c):
        raise NotImplementedError

    def _tail_norm(self, v, z):
        """‖v − U_r z‖ per column, z = U_rᵀ v. Default ``sqrt(‖v‖² − ‖z‖²)`` (clipped at 0;
        backends that hold U_r's rows override it with the residual itself, which does not
        cancel when the tail is small)."""
        rest = np.sum(v * v, axis=0) - np.sum(z * z, axis=0)
        return np.sqrt(np.maximum(rest, 0.0))

    # ---- the shared interface ------------------------------------------------------------
    def _project_uncached(self, v):
        z = self._project_top(v)
        tail = self._tail_norm(v, z)
        return np.concatenate([z, np.reshape(tail, (1,) + z.shape[1:])], axis=0)

    def _reconstruct_2d(self, c):
        # the tail direction is dropped: every filter is 0 there, and its component of a dual
        # coefficient vector lies in the null space of the (approximating) kernel
        return self._reconstruct_top(np.ascontiguousarray(c[:-1]))

    def tail_energy(self, v):
        """‖v − U_r U_rᵀ v‖², the energy of ``v`` outside the top r (per column)."""
        z = self.project(v)
        return z[-1] ** 2 if z.ndim == 2 else float(z[-1] ** 2)

    def leverages(self, filters, *, complement=False):
        raise ValueError(
            f"leverages need all n eigenvectors; a {self.method} spectrum holds {self.rank} "
            f"of {self.n} (leave-one-out is not available on a low-rank spectrum: use gcv or "
            "k-fold CV)")

    def __repr__(self):
        lam = self.top_eigenvalues
        top = f"lambda_max={lam[0]:.4g}, lambda_r={lam[-1]:.4g}" if lam.size else "empty"
        extra = "" if self.trace_error is None else f", trace_error={self.trace_error:.4g}"
        return (f"{type(self).__name__}(n={self.n}, method={self.method!r}, "
                f"rank={self.rank}, {top}{extra})")


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
    K, precision = _prepare_matrix(K, check_input, precision, on_indefinite)
    # overwrite_a=False: the caller's matrix is never touched (scipy copies it once).
    lam, U = scipy.linalg.eigh(K, driver=driver or "evr", check_finite=False)
    lam = lam[::-1].copy()
    _reverse_columns_inplace(U)
    lam, n_clipped, most_negative, tol = _finish_eigenvalues(lam, precision, on_indefinite,
                                                             stacklevel=3)
    return Spectrum(
        eigenvalues=lam,
        eigenvectors=U,
        n_clipped=n_clipped,
        most_negative=most_negative,
        rank_tolerance=tol,
    )


def _prepare_matrix(K, check_input, precision, on_indefinite):
    """The input side every exact backend shares: (K as float64, the precision of K).

    ``precision`` None means that of K's dtype when it is a floating ndarray, else float64's.
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
    return K, precision


def _finish_eigenvalues(lam, precision, on_indefinite, stacklevel=3):
    """The eigenvalue side every exact backend shares, on **descending** eigenvalues ``lam``
    (modified in place): the round-off tolerance, the indefinite check, the clipping.

    Returns
    -------
    (lam, n_clipped, most_negative, rank_tolerance)
    """
    n = lam.shape[0]
    scale = float(max(abs(lam[0]), abs(lam[-1]))) if n else 0.0
    tol = clip_tolerance(scale, n, max(precision, float(np.finfo(np.float64).eps)))
    most_negative = float(min(lam[-1], 0.0))
    if most_negative < -tol and on_indefinite == "warn":
        warnings.warn(
            f"K is not positive semi-definite: smallest eigenvalue {most_negative:.6g} "
            f"(round-off tolerance -{tol:.3g}); clipped {int(np.count_nonzero(lam < 0))} "
            "negative eigenvalues to 0, i.e. using the nearest PSD matrix",
            NumericalWarning,
            stacklevel=stacklevel,
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
    return lam, n_clipped, most_negative, tol


_METHODS = ("auto", "dense", "implicit", "randomized", "nystrom")
_LOW_RANK = ("randomized", "nystrom")


def decompose(K=None, *, X=None, kernel=None, method="auto", rank=None, random_state=None,
              landmarks="uniform", n_oversamples=10, n_power_iter=None, scheduler=None,
              block_size=None, verbose=False, on_indefinite="raise", check_input=True,
              **kernel_params):
    """Factor a kernel matrix once: the :class:`Spectrum` every path is a filter on.

    Parameters
    ----------
    K : array-like of shape (n, n), optional
        Symmetric PSD kernel matrix (never modified). Give either ``K`` or ``X``.
    X : array-like of shape (n, p), optional
        Inputs, with ``kernel`` (default ``"rbf"``) and its parameters. The exact methods then
        build ``K = hilbert_sd.kernels.gram(X, kernel=kernel, **kernel_params)``; the
        low-rank ones never store K. A spectrum built from X can evaluate new points
        (:meth:`Spectrum.project_points`).
    kernel : str or callable, optional
        Kernel of ``X`` (default ``"rbf"``).
    method : {"auto", "dense", "implicit", "randomized", "nystrom"}, default="auto"
        - ``"dense"``: LAPACK's symmetric eigensolver (:func:`eigh_psd`), explicit U.
        - ``"implicit"``: the same eigenpairs without forming U (Householder
          tridiagonalization and the tridiagonal eigenproblem; U = QV is applied, never
          stored), equal to ``"dense"`` to round-off and cheaper to factor.
        - ``"randomized"``: the top-``rank`` eigenpairs of K by a randomized range finder
          with power iterations (Halko, Martinsson & Tropp 2011), from K, or from X with the
          kernel evaluated block by block (K never stored). A :class:`LowRankSpectrum`.
        - ``"nystrom"``: the exact spectrum of the Nyström kernel ``K̃ = C W⁺ Cᵀ`` on
          ``rank`` landmarks (``C = k(X, X_L)``, ``W = k(X_L, X_L)``), from X only, by one
          streaming pass over row blocks that keeps O(rank²) state (optionally on a Dask
          cluster, ``scheduler``). A :class:`LowRankSpectrum` with ``trace_error``
          ``= tr K − tr K̃``.
        - ``"auto"``: with ``rank=None``, the fastest exact backend whose peak working
          memory fits in the memory available now (``"implicit"``, 3 n² floats; else
          ``"dense"``, 2 n²); with a ``rank``, ``"randomized"``.

        An exact request that cannot fit raises a ``ValueError`` naming the bytes needed and
        available, before anything is allocated.
    rank : int, optional
        Number of eigenpairs (``"randomized"``) or landmarks (``"nystrom"``), 1 ≤ rank ≤ n;
        must be None for the exact methods.
    random_state : int, optional
        Seed of the random test matrix / the landmark choice (default 0: reproducible).
    landmarks : {"uniform", "kmeans++"} or array-like of int, default="uniform"
        ``"nystrom"`` only: landmarks drawn uniformly without replacement, by k-means++
        seeding on the inputs, or the given row indices.
    n_oversamples : int, default=10
        ``"randomized"`` only: extra columns of the test matrix beyond ``rank``.
    n_power_iter : int, optional
        ``"randomized"`` only: power (subspace) iterations; default 4, or 7 when rank is
        below 10 % of n (scikit-learn's ``randomized_svd`` convention).
    scheduler : None, "local", str or dask.distributed.Client, optional
        ``"nystrom"`` (and ``"randomized"`` from X): run the blocked kernel products and
        reductions on a Dask cluster (``"local"`` starts a LocalCluster; a string is a
        scheduler address), with the same numbers as the local run.
    block_size : int, optional
        Rows of the kernel evaluated at once by the low-rank methods (default: about 64 MB).
    verbose : bool, default=False
        Report progress on stderr: every kernel pass of the low-rank methods; the start (with
        the working memory) and the end of an exact factorization, which LAPACK runs as one
        call.
    on_indefinite : {"raise", "warn"}, default="raise"
        Eigenvalues of K clearly below 0 raise, or warn and are clipped to 0.
    check_input : bool, default=True
        Check that K is square, finite and symmetric.
    **kernel_params
        Parameters of ``kernel``.

    Returns
    -------
    Spectrum
        (:class:`LowRankSpectrum` for the low-rank methods.)

    Raises
    ------
    ValueError
        For an unknown method, both or neither of K and X, a rank out of range or given to
        an exact method, ``"nystrom"`` without X, or a request that cannot fit in memory.
    """
    if method not in _METHODS:
        raise ValueError(f"method={method!r}; allowed: {', '.join(map(repr, _METHODS))}")
    if (K is None) == (X is None):
        raise ValueError("give exactly one of K (the kernel matrix) and X (the inputs)")
    if K is not None and (kernel is not None or kernel_params):
        raise ValueError("kernel and its parameters go with X, not with a kernel matrix K")
    n = int(np.shape(K if K is not None else X)[0])
    if method == "auto" and rank is not None:
        method = "randomized"
    if method in _LOW_RANK:
        if rank is None:
            raise ValueError(f"method={method!r} needs rank, an integer in [1, n={n}]")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
                or not 1 <= rank <= n:
            raise ValueError(f"rank={rank!r} is out of range; allowed: integers 1 .. n={n}")
        rank = int(rank)
        kernel = "rbf" if kernel is None and X is not None else kernel
        if method == "nystrom":
            if X is None:
                raise ValueError("method='nystrom' needs the inputs X (and kernel): the "
                                 "landmark kernel is evaluated at new points")
            from hilbert_sd._nystrom import nystrom_spectrum

            return nystrom_spectrum(X, kernel, kernel_params, rank, landmarks=landmarks,
                                    random_state=random_state, scheduler=scheduler,
                                    block_size=block_size, verbose=verbose)
        from hilbert_sd._randomized import randomized_spectrum

        return randomized_spectrum(K=K, X=X, kernel=kernel, kernel_params=kernel_params,
                                   rank=rank, random_state=random_state,
                                   n_oversamples=n_oversamples, n_power_iter=n_power_iter,
                                   scheduler=scheduler, block_size=block_size,
                                   verbose=verbose, on_indefinite=on_indefinite,
                                   check_input=check_input)
    if rank is not None:
        raise ValueError(f"rank={rank!r} needs a low-rank method; method={method!r} computes "
                         "every eigenpair: allowed rank=None")
    method = _plan(n, method)
    inputs = None
    if K is None:
        from hilbert_sd.kernels import gram

        kernel = "rbf" if kernel is None else kernel
        X = np.asarray(X, dtype=np.float64)
        K = gram(X, kernel=kernel, **kernel_params)
        inputs = (X, kernel, dict(kernel_params))
        check_input = False
    if verbose:  # LAPACK reports no progress: say what starts, how big, and when it ends
        print(f"decompose: {method} factorization of the {n} x {n} kernel matrix (working "
              f"memory about {_size(_PEAK_MATRICES[method] * 8 * n * n)})...",
              file=sys.stderr, flush=True)
        start = time.perf_counter()
    if method == "implicit":
        from hilbert_sd._implicit import eigh_implicit

        spectrum = eigh_implicit(K, check_input=check_input, on_indefinite=on_indefinite)
    else:
        spectrum = eigh_psd(K, check_input=check_input, on_indefinite=on_indefinite)
    if verbose:
        print(f"decompose: done in {time.perf_counter() - start:.2f} s", file=sys.stderr,
              flush=True)
    spectrum._inputs = inputs
    return spectrum


#: peak working memory beyond K, in float64 n x n matrices: dense = a copy of K and U;
#: implicit = the reflectors, V and LAPACK's transient copy
_PEAK_MATRICES = {"dense": 2, "implicit": 3}


def available_memory():
    """Bytes the machine can give this process now (MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _size(nbytes):
    return f"{nbytes / 2**30:.1f} GiB" if nbytes >= 2**30 else f"{nbytes / 2**20:.0f} MiB"


def _plan(n, method, available=None):
    """The backend to run: ``"auto"`` takes the fastest exact one whose peak memory fits
    (implicit, else dense); an explicit request that cannot fit is refused before anything
    is allocated, naming the bytes needed and available."""
    available = available_memory() if available is None else available
    need = {m: k * 8 * n * n for m, k in _PEAK_MATRICES.items()}
    if available is None:
        return "dense" if method == "auto" else method
    if method == "auto":
        for m in ("implicit", "dense"):
            if need[m] <= available:
                return m
        method = "dense"
    if need[method] > available:
        raise ValueError(
            f"method={method!r} at n={n} needs about {_size(need[method])} of working memory "
            f"({_PEAK_MATRICES[method]} n x n float64 matrices) but {_size(available)} are "
            "available; allowed: n up to about "
            f"{int((available / (8 * _PEAK_MATRICES[method])) ** 0.5)} here; subsample, or "
            "use a low-rank method: decompose(..., method='randomized' or 'nystrom', rank=r)")
    return method


def as_spectrum(K, *, on_indefinite="raise", check_input=True):
    """The one convention for "a kernel matrix or its spectrum" in every entry point.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        A :class:`Spectrum` is returned as it is (shared between runs); anything else is
        decomposed with :func:`decompose`.

    Returns
    -------
    Spectrum
    """
    if isinstance(K, Spectrum):
        return K
    if K is None:
        raise ValueError("K must be a kernel matrix of shape (n, n) or its spectrum "
                         "(a hilbert_sd.spectral.Spectrum from decompose); got None")
    return decompose(K, on_indefinite=on_indefinite, check_input=check_input)


def _rows_times_stack(A, d):
    """``A @ d[j]`` for every j of a (J, n, m) stack as ONE matrix product, shape (J, q, m)
    (a batched product would stream A once per path point)."""
    J, n, m = d.shape
    out = A @ d.transpose(1, 0, 2).reshape(n, J * m)
    return out.reshape(A.shape[0], J, m).transpose(1, 0, 2)


class SpectralPath:
    """A sequence of filters on one :class:`Spectrum`: rounds, times or steps.

    Point j of the path fits the training targets with ``f_j(X) = U diag(h_j) z`` (``z`` the
    eigen-coefficients of the targets) and predicts with ``f_j(x) = k(x, X) a_j``,
    ``a_j = U diag(g_j) z``, where ``g_j = h_j / λ`` is evaluated in a stable form by the
    subclass. Every method below answers for any set of path points in one matrix product.

    Subclasses (:class:`hilbert_sd.DistillationPath`, :class:`hilbert_sd.flow.FlowPath`, the
    noisy-label :class:`~hilbert_sd.noisy_labels.TrainingPath`) implement ``__len__``,
    ``_fit_coefficients(idx)`` and ``_dual_coefficients(idx)`` (eigen-coefficients, shape
    (len(idx), n, m)), and, when the path is a linear smoother, ``_filter_rows(idx)``.

    Index arguments: an int (negative counts from the end), an array of ints (a leading axis
    in the result), or None (the subclass's default: every point, or the last round for a
    distillation path). The model-selection criteria (:meth:`gcv`, :meth:`loo`) read None as
    every point.

    On a :class:`LowRankSpectrum` the last coefficient is the tail pseudo-direction (eigenvalue
    0, the targets' energy outside the top r): every filter is 0 there, so it stays in the
    residuals (:meth:`gcv`) and never in a fit.
    """

    #: what None means for an index argument: "all" points or the "last" one
    _default_index = "all"
    #: name of one path point in messages ("round", "time", "step")
    _point_name = "index"

    def __init__(self, spectrum, target_coefficients, y_ndim):
        self.spectrum = spectrum
        self._z = target_coefficients  # (len(eigenvalues), m)
        self._y_ndim = y_ndim

    # ---- to implement ----------------------------------------------------------------------
    def __len__(self):
        raise NotImplementedError

    def _fit_coefficients(self, idx):
        return self._filter_rows(idx) * self._z

    def _dual_coefficients(self, idx):
        raise NotImplementedError

    def _filter_rows(self, idx):
        raise ValueError(f"{type(self).__name__} is not a linear filter of its targets")

    # ---- shared ------------------------------------------------------------------------
    @property
    def eigenvalues(self):
        """Eigenvalues of the kernel matrix, descending."""
        return self.spectrum.eigenvalues

    @property
    def n_samples(self):
        """Number of training samples n."""
        return self.spectrum.n

    def _indices(self, index):
        """(array of path indices, whether a scalar was given)."""
        J = len(self)
        if index is None:
            if self._default_index == "last":
                return np.array([J - 1]), True
            return np.arange(J), False
        idx = np.asarray(index)
        if idx.dtype.kind not in "iu" and not (idx.dtype.kind == "f"
                                               and np.all(idx == np.floor(idx))):
            raise ValueError(f"{self._point_name} must be an integer or integers; "
                             f"got {index!r}")
        idx = idx.astype(np.int64)
        if idx.ndim > 1:
            raise ValueError(f"{self._point_name} must be an integer or a 1-D array; "
                             f"got shape {idx.shape}")
        bad = (idx < -J) | (idx >= J)
        if np.any(bad):
            raise ValueError(f"{self._point_name}={int(np.atleast_1d(idx)[bad.ravel()][0])} is "
                             f"out of range; allowed: {-J} .. {J - 1}")
        return np.atleast_1d(idx % J), idx.ndim == 0

    def _shape_out(self, arr, scalar):
        if self._y_ndim == 1:
            arr = arr[..., 0]
        return arr[0] if scalar else arr

    def train_predictions(self, index=None):
        """Fits ``f_j(X)`` at the training inputs.

        Returns
        -------
        ndarray of shape (n,) / (n, m), or (J, n[, m]) for an array of indices
        """
        idx, scalar = self._indices(index)
        return self._shape_out(self.spectrum.reconstruct(self._fit_coefficients(idx)), scalar)

    def dual_coef(self, index=None, *, basis="training"):
        """Dual coefficients ``a_j`` with ``f_j(x) = k(x, X) a_j``.

        Parameters
        ----------
        index : int, array-like of int, or None
        basis : {"training", "landmarks"}, default="training"
            ``"landmarks"`` (a Nyström spectrum only): the M coefficients ``β_j`` with
            ``f_j(x) = k(x, X_L) β_j`` on the landmarks ``X_L``, what predictions need.

        Returns
        -------
        ndarray of shape (n,) / (n, m), or (J, n[, m]) for an array of indices
            (M instead of n with ``basis="landmarks"``)
        """
        if basis not in ("training", "landmarks"):
            raise ValueError(f"basis={basis!r}; allowed: 'training', 'landmarks'")
        idx, scalar = self._indices(index)
        d = self._dual_coefficients(idx)
        if basis == "landmarks":
            return self._shape_out(self.spectrum.landmark_coefficients(d), scalar)
        return self._shape_out(self.spectrum.reconstruct(d), scalar)

    def predict(self, K_new, index=None, *, projected=False):
        """Functions of the path at new points, given ``K_new = k(X_new, X)``.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n)
            ``k(X_new, X)``; with ``projected=True`` its features in the eigenbasis,
            ``spectrum.project_rows(k(X_new, X))``, computed once and shared by every path on
            the same spectrum (a sweep of many budgets or seeds).
        index : int, array-like of int or None
        projected : bool, default=False

        Returns
        -------
        ndarray of shape (n_new,) / (n_new, m), or (J, n_new[, m]) for an array of indices
        """
        # projected features have one column per eigenvalue held (r + 1 on a low-rank one)
        width = self.eigenvalues.shape[0] if projected else self.n_samples
        K_new = check_kernel_rows(K_new, width, "K_new (projected)" if projected else "K_new")
        idx, scalar = self._indices(index)
        d = self._dual_coefficients(idx)  # (J, n, m)
        # a low-rank spectrum always goes through its features (project_rows): a Nyström one
        # refuses rows of K there (they are not the rows of its kernel K̃)
        if projected or self.spectrum.is_low_rank or K_new.shape[0] <= d.shape[0] * d.shape[2]:
            # new points in the eigenbasis once, then one product for every path point
            P = K_new if projected else self.spectrum.project_rows(K_new)
            preds = _rows_times_stack(P, d)
        else:
            preds = _rows_times_stack(K_new, self.spectrum.reconstruct(d))
        return self._shape_out(preds, scalar)

    @property
    def filters(self):
        """Filters ``h_j`` (J, n): the fit of point j is ``U diag(h_j) z``.

        (J, n, m) when each output column has its own filter.
        """
        h = self._filter_rows(np.arange(len(self)))
        return h[..., 0] if h.shape[2] == 1 else h

    def effective_dof(self):
        """Effective degrees of freedom ``tr S_j = Σ_k h_j[k]`` of every path point.

        Returns
        -------
        ndarray of shape (J,) (or (J, m) for per-column filters)
        """
        return self.filters.sum(axis=1)

    # ---- model selection along the path (:doc:`/topics/model_selection`)
    # ---------------------------------
    def _criterion_indices(self, index):
        """Like :meth:`_indices`, but None means every point whatever the subclass default."""
        if index is None:
            return np.arange(len(self)), False
        return self._indices(index)

    def _criterion_out(self, values, scalar):
        """(J, k) → (J,) for one shared filter, (J, m) for per-column filters."""
        if values.shape[1] == 1:
            values = values[:, 0]
        return values[0] if scalar else values

    def _residual_energy(self, h):
        """‖(I − S_j) y‖² per point and filter column: (J, k), O(n) per point.

        ``Σ_k (1 − h_k)² z_k²`` by Parseval (on a low-rank spectrum the tail coefficient
        carries the energy outside the top r). Columns sharing one filter are summed.
        """
        z = self._z
        with np.errstate(over="ignore", invalid="ignore"):
            per_col = np.sum(((1.0 - h) * z) ** 2, axis=1)  # (J, m)
        if h.shape[2] == 1:
            return per_col.sum(axis=1, keepdims=True)
        return per_col

    def gcv(self, index=None):
        """Generalized cross-validation of every path point (:doc:`/topics/model_selection`).

        ``GCV(j) = (1/n)‖(I − S_j) y‖² / (1 − tr S_j / n)²`` for the smoother
        ``S_j = U diag(h_j) Uᵀ`` (Craven & Wahba's criterion [standard]), with the residual
        energy ``Σ_k (1 − h_j[k])² z_k²`` (Parseval) and ``tr S_j = Σ_k h_j[k]``: O(n) per
        point after the one projection of y the path already holds.

        Parameters
        ----------
        index : int, array-like of int, or None
            Path points; None means every point (also on a distillation path, whose other
            methods read None as the last round).

        Returns
        -------
        ndarray of shape (J,), or (J, m) when each output column has its own filter
            (a scalar for an int index). ``inf`` where ``tr S_j = n`` (an interpolating
            smoother, for which GCV is undefined).

        Notes
        -----
        Multi-output targets Y (n × m) sharing one filter (joint distillation, flow) sum the
        columns' residuals, ``(1/n)‖(I − S_j) Y‖²_F``, the Frobenius convention of the joint
        budget; per-column filters (``multioutput="independent"``) give one criterion per
        column.

        GCV is a criterion for *linear* smoothers. For a fixed ridge, a flow time or a
        descent step the filters do not depend on y and it is the standard one. For the
        budget rule of :func:`hilbert_sd.self_distill` (``epsilon``) the ridges are found from
        y, so the path is not a linear smoother of y: GCV evaluated at the found ridges is a
        heuristic [derived], not an estimate with GCV's guarantees. k-fold cross-validation
        along the path (:func:`hilbert_sd.model_selection.cv_self_distill`) is exact there.

        Raises
        ------
        ValueError
            For a path that is not a linear filter of its targets (explicitly iterated
            noisy-label rules).
        """
        idx, scalar = self._criterion_indices(index)
        h = self._filter_rows(idx)  # (J, n, k)
        n = self.n_samples
        rss = self._residual_energy(h)  # (J, k)
        dof = h.sum(axis=1)  # (J, k)
        denom = (1.0 - dof / n) ** 2
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            out = np.where(denom > 0, (rss / n) / denom, np.inf)
        return self._criterion_out(out, scalar)

    def _loo_exact(self, h):
        """(J, k) bool: which filter columns are ridge filters λ/(λ + α)."""
        J, n, k = h.shape
        rows = h.transpose(0, 2, 1).reshape(J * k, n)
        return _is_ridge_filter(self.eigenvalues, rows).reshape(J, k)

    @property
    def loo_is_exact(self):
        """Which path points have an exact leave-one-out shortcut in :meth:`loo`.

        True where the filter is a ridge filter ``h = λ/(λ + α)`` for one α in (0, ∞] on this
        spectrum (checked to a relative 1e-9 of ``h(1 − h)``): the smoother is then
        ``K(K + αI)⁻¹`` and the shortcut is the leave-one-out refit of that kernel ridge
        regression [standard]. This is round 0 of every distillation path (the ridge held at
        its value on all n points; the budget rule would re-solve it without the left-out
        point), any kernel-ridge path, and the zero filter (a collapsed round, flow time 0),
        whose leave-one-out prediction is 0. Later rounds of self-distillation, boosting and
        flow times > 0 are products or functions of smoothers, for which the shortcut is an
        approximation (False).

        Returns
        -------
        ndarray of bool, shape (J,) (or (J, m) for per-column filters)
        """
        h = self._filter_rows(np.arange(len(self)))
        return self._criterion_out(self._loo_exact(h), False)

    def loo(self, index=None, *, exact_only=False):
        """Mean squared leave-one-out residual of every path point, by the shortcut.

        ``LOO(j) = (1/n) Σ_i ((y_i − f_j(x_i)) / (1 − S_j[i, i]))²`` with the residuals
        ``U diag(1 − h_j) z`` and the leverages ``diag(I − S_j)`` from
        :meth:`Spectrum.leverages` (one (n × n)·(n × J) product for every requested point).

        **Exact only for ridge filters.** For kernel ridge regression (round 0 of a
        distillation path, any fixed ridge) the shortcut equals the n literal
        leave-one-out refits [standard]. For every other filter (self-distillation rounds
        ≥ 1, mixing, boosting, gradient-flow times > 0) it is *not* the leave-one-out refit
        of the procedure, only the same formula applied to its smoother: an approximation.
        :attr:`loo_is_exact` says which points are exact; ``exact_only=True`` returns NaN at
        the others, so that an approximate value cannot be taken for an exact one.

        Parameters
        ----------
        index : int, array-like of int, or None
            Path points; None means every point.
        exact_only : bool, default=False
            NaN at the points whose shortcut is an approximation.

        Returns
        -------
        ndarray of shape (J,), or (J, m) when each output column has its own filter
            (a scalar for an int index). Multi-output targets sharing one filter sum the
            columns' squared leave-one-out residuals, as :meth:`gcv`. ``inf`` where some
            leverage is 1 (a point the smoother interpolates whatever its label).

        Notes
        -----
        For the budget rule the smoother is not linear in y (its ridges are found from y);
        even round 0's exact value is the leave-one-out error of the ridge found on all n
        points, not of re-running the budget rule. k-fold CV along the path is exact for
        every rule (:mod:`hilbert_sd.model_selection`).

        Raises
        ------
        ValueError
            For a path that is not a linear filter of its targets, or on a low-rank spectrum
            (the residual vector is then unknown to the path).
        """
        idx, scalar = self._criterion_indices(index)
        h = self._filter_rows(idx)  # (J, n, k)
        J, n, k = h.shape
        if self.spectrum.is_low_rank:
            raise ValueError(
                f"{type(self).__name__}.loo needs the residuals in all {self.spectrum.n} "
                f"directions; a {self.spectrum.method} spectrum holds {self.spectrum.rank} "
                "(use gcv, or k-fold CV from hilbert_sd.model_selection)")
        with np.errstate(over="ignore", invalid="ignore"):
            resid = self.spectrum.reconstruct((1.0 - h) * self._z)  # (J, n, m): y − f_j(X)
        rows = h.transpose(0, 2, 1).reshape(J * k, n)
        denom = self.spectrum.leverages(rows, complement=True).reshape(J, k, n)
        denom = denom.transpose(0, 2, 1)  # (J, n, k)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            e2 = np.where(denom != 0, (resid / denom) ** 2, np.inf)  # (J, n, m)
        per_col = e2.mean(axis=1)  # (J, m)
        out = per_col.sum(axis=1, keepdims=True) if k == 1 else per_col
        if exact_only:
            out = np.where(self._loo_exact(h), out, np.nan)
        return self._criterion_out(out, scalar)

    def __repr__(self):
        return f"{type(self).__name__}(n={self.n_samples}, {self._point_name}s={len(self)})"


def _is_ridge_filter(eigenvalues, rows, rtol=1e-9):
    """Whether each filter row h (P, n) is λ/(λ + α) for one α ∈ (0, ∞] (bool (P,)).

    α is read off the direction where h(1 − h) is largest (best conditioned), then every
    direction is compared with the ridge filter it implies, to ``rtol · r(1 − r)`` (plus the
    round-off of α's estimate and of h itself). The zero filter is the α = ∞ ridge; a 0/1
    filter (interpolant, cut-off) is no ridge with α > 0.
    """
    lam = np.asarray(eigenvalues, dtype=np.float64)
    H = np.asarray(rows, dtype=np.float64)
    P = H.shape[0]
    if P == 0:
        return np.zeros(0, dtype=bool)
    eps = np.finfo(np.float64).eps
    zero = np.all(H == 0.0, axis=1)
    with np.errstate(invalid="ignore", over="ignore"):
        mid = np.where(lam > 0, H * (1.0 - H), -np.inf)
    mid = np.where(np.isnan(mid), -np.inf, mid)
    k = np.argmax(mid, axis=1)
    rng = np.arange(P)
    hk, lk, mk = H[rng, k], lam[k], mid[rng, k]
    valid = np.isfinite(mk) & (mk > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(valid, lk * (1.0 - hk) / np.where(valid, hk, 1.0), np.inf)
        r = lam[None, :] / (lam[None, :] + alpha[:, None])
        r = np.where(np.isfinite(alpha)[:, None], r, 0.0)
        rel = rtol + 16.0 * eps / np.where(valid, np.minimum(hk, 1.0 - hk), 1.0)
        tol = rel[:, None] * r * (1.0 - r) + 16.0 * eps * r + np.finfo(np.float64).tiny
        close = np.all(np.abs(H - r) <= tol, axis=1)
    return zero | (valid & close)
