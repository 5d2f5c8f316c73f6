"""The top-r eigenpairs of a kernel matrix by a randomized range finder (:doc:`/topics/backends`,
"Randomized top-r").

[paper: Halko, Martinsson & Tropp 2011, Algorithms 4.3/4.4 and 5.3] A Gaussian test matrix
Ω (n × l, ``l = rank + n_oversamples``) is pushed through K with subspace (power) iterations,
re-orthonormalized by a Householder QR after every product (as scikit-learn's
``randomized_range_finder`` does with ``power_iteration_normalizer="QR"``), so that the
orthonormal Q spans ``K^(2q+1) Ω``; then the Rayleigh–Ritz step ``B = Qᵀ K Q``,
``B = V diag(θ) Vᵀ``, ``U_r = Q V_r`` with the top r Ritz values θ.

Cost: ``2q + 2`` products with K (kernel passes), q = ``n_power_iter``: one for ``K Ω``, 2q
for the power iterations (scikit-learn's count: its ``n_iter`` iterations multiply by A and
Aᵀ, here both are K), and one for ``K Q`` whose result also gives ``B = Qᵀ (K Q)`` and the
residuals ``K u_k − θ_k u_k`` (no further pass). From inputs X the kernel is evaluated block
by block of rows, ``gram(X[i:i+b], X) @ Q``: K is never stored (O(b n + n l) memory), and the
blocks can be evaluated on a Dask cluster.
"""

import contextlib
import math
import sys
import time
import warnings

import numpy as np
import scipy.linalg

from hilbert_sd import kernels
from hilbert_sd._validation import as_float_array
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.spectral import LowRankSpectrum, _prepare_matrix, clip_tolerance

__all__ = ["RandomizedSpectrum", "randomized_spectrum"]

#: bytes of kernel rows evaluated at once (a block of b rows holds b · n float64 values)
_BLOCK_BYTES = 64 * 2**20


def _block_rows(n, block_size=None):
    """Rows of a kernel block: ``block_size``, or as many as fit in about 64 MB."""
    if block_size is not None:
        return int(block_size)
    return max(1, _BLOCK_BYTES // (8 * max(n, 1)))


#: products below this many flops run on one BLAS thread (see _blas)
_SMALL_FLOPS = 5e8
_CONTROLLER = []


def _blas(flops):
    """Context limiting BLAS to one thread for small products (a no-op for large ones).

    Measured on this 2-core machine (OpenBLAS): a (200 × 2000)·(2000 × 30) product and the
    QR of a 2000 × 30 basis took 2-9 × longer on 2 threads than on 1 while another process
    kept the cores busy (thread hand-off), and no less time when idle; a 4000² × 310 product
    gains from 2 threads. The QR of the tall basis is run on one thread at every size
    (0.076 s against 0.084 s at 4000 × 310).
    """
    if flops >= _SMALL_FLOPS:
        return contextlib.nullcontext()
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0].limit(limits=1, user_api="blas")


class RandomizedSpectrum(LowRankSpectrum):
    """The top-r eigenpairs of K from a randomized range finder, with an explicit U_r.

    Build it with ``decompose(K or X=..., method="randomized", rank=r)``. The eigenpairs are
    those of K itself up to the randomized error (the Ritz pairs of K on the sampled
    subspace), so :func:`hilbert_sd.self_distill` attaches certified intervals for the exact
    run (:attr:`certifiable`). As every :class:`~hilbert_sd.spectral.LowRankSpectrum`, it has
    ``r + 1`` eigenvalues, the last one the tail pseudo-direction (eigenvalue 0, the energy
    of a vector outside the top r).

    Parameters
    ----------
    top_eigenvalues : ndarray of shape (r,)
        Descending, ≥ 0 (round-off negatives clipped).
    basis : ndarray of shape (n, r)
        Orthonormal columns ``U_r``, column k for ``top_eigenvalues[k]``.
    n_clipped, most_negative, rank_tolerance
        As :class:`~hilbert_sd.spectral.Spectrum`.
    trace_error : float
        ``tr K − Σ_{k≤r} λ_k`` (the trace of K outside the top r; round-off around 0 when
        r = n).
    residual_norms : ndarray of shape (r,), optional
        ``‖K u_k − θ_k u_k‖`` of each Ritz pair before clipping. For symmetric K some
        eigenvalue of K lies within it of θ_k [standard: Parlett, *The Symmetric Eigenvalue
        Problem*, Thm 4.5.1].
    n_passes : int, optional
        Products with K (kernel passes) the factorization took.
    inputs : tuple (X, kernel, params), optional
        When built from inputs: lets :meth:`project_points` evaluate new points.

    Attributes
    ----------
    method : str
        ``"randomized"``.
    certifiable : bool
        True: the top-r pairs are those of K (not of an approximating kernel).
    """

    method = "randomized"
    certifiable = True

    def __init__(self, top_eigenvalues, basis, *, n_clipped=0, most_negative=0.0,
                 rank_tolerance=0.0, trace_error=None, residual_norms=None, n_passes=None,
                 inputs=None):
        basis = np.ascontiguousarray(basis, dtype=np.float64)
        super().__init__(top_eigenvalues, basis.shape[0], n_clipped=n_clipped,
                         most_negative=most_negative, rank_tolerance=rank_tolerance,
                         trace_error=trace_error)
        if basis.shape[1] != self.rank:
            raise ValueError(f"basis has {basis.shape[1]} columns for {self.rank} eigenvalues")
        basis.flags.writeable = False  # basis() hands out views
        self._basis = basis
        self.residual_norms = residual_norms
        self.n_passes = n_passes
        self._inputs = inputs

    # ---- the products of a LowRankSpectrum ----------------------------------------------
    def _project_top(self, v):
        """``U_rᵀ v`` for v of shape (n,) or (n, m)."""
        return self._basis.T @ v

    def _reconstruct_top(self, c):
        """``U_r c`` for c of shape (r,) or (r, m)."""
        return self._basis @ c

    def _tail_norm(self, v, z):
        """‖v − U_r z‖ per column, from the residual itself (no cancellation when the tail
        energy is a small part of ‖v‖²)."""
        resid = v - self._basis @ z
        return np.linalg.norm(resid, axis=0)

    def project_rows(self, K_new):
        """``K_new U_r`` and a zero column for the tail pseudo-direction.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n)
            ``k(X_new, X)``.

        Returns
        -------
        ndarray of shape (n_new, r + 1)
            The features of the new points in the eigenbasis; the last column is 0 (every
            filter is 0 on the tail direction, so it never enters a prediction).
        """
        K_new = np.asarray(K_new, dtype=np.float64)
        if K_new.ndim != 2 or K_new.shape[1] != self.n:
            raise ValueError(f"K_new must have shape (n_new, {self.n}); got {K_new.shape}")
        out = np.zeros((K_new.shape[0], self.rank + 1))
        out[:, :-1] = K_new @ self._basis
        return out

    def basis(self, rank=None):
        """The top-``rank`` eigenvectors ``U_r[:, :rank]`` (all r held when None), a
        read-only (n, rank) view.

        Raises
        ------
        ValueError
            For a rank outside ``0 .. r`` (only r eigenvectors are held).
        """
        rank = self.rank if rank is None else rank
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
                or not 0 <= rank <= self.rank:
            raise ValueError(f"rank={rank!r} is out of range; allowed: integers 0 .. "
                             f"{self.rank} (this randomized spectrum holds {self.rank} "
                             f"of the {self.n} eigenvectors)")
        return self._basis[:, :int(rank)]


# ---- the kernel passes ---------------------------------------------------------------------
def _kernel_block_product(X, Q, start, stop, kernel, params, want_diag):
    """``gram(X[start:stop], X) @ Q`` and, when asked, the block's kernel diagonal
    ``k(x_i, x_i)`` for i in start:stop (read off the block, no extra evaluation)."""
    block = kernels.gram(X[start:stop], X, kernel=kernel, **params)
    out = block if Q is None else block @ Q
    diag = None
    if want_diag:
        rows = np.arange(stop - start)
        diag = block[rows, rows + start].copy()
    return out, diag


def _remote_block_product(flops, *args):
    """:func:`_kernel_block_product` on a Dask worker, under the same BLAS thread policy."""
    with _blas(flops):
        return _kernel_block_product(*args)


class _Passes:
    """Products ``K Q`` from a kernel matrix (one BLAS call) or from inputs (row blocks,
    locally or on a Dask client), with the pass count, progress report and kernel diagonal."""

    def __init__(self, K, X, kernel, params, block, client, total, verbose):
        self.K, self.X, self.kernel, self.params = K, X, kernel, params
        self.block, self.client = block, client
        self.total, self.verbose = total, verbose
        self.count = 0
        self.diag = None
        self.t0 = time.perf_counter()
        self._X_future = None

    def _bounds(self):
        n = self.X.shape[0]
        return [(i, min(n, i + self.block)) for i in range(0, n, self.block)]

    def __call__(self, Q):
        """``K Q``; ``Q=None`` means the identity (K itself, in blocks from X)."""
        if self.K is not None:
            n = self.K.shape[0]
            with _blas(0 if Q is None else 2.0 * n * n * Q.shape[1]):
                out = self.K.copy() if Q is None else self.K @ Q
        else:
            want_diag = self.diag is None
            bounds = self._bounds()
            if self.client is None:
                # one thread limit for the whole pass (entering it per block costs more
                # than the small products gain)
                with _blas(self._block_flops(Q)):
                    parts = [_kernel_block_product(self.X, Q, s, e, self.kernel, self.params,
                                                   want_diag) for s, e in bounds]
            else:
                parts = self._remote(Q, bounds, want_diag)
            # concatenated in the fixed order of the row blocks, whoever computed them
            out = np.concatenate([p[0] for p in parts], axis=0)
            if want_diag:
                self.diag = np.concatenate([p[1] for p in parts])
        self.count += 1
        if self.verbose:
            print(f"randomized: kernel pass {self.count} of {self.total} "
                  f"({time.perf_counter() - self.t0:.1f} s elapsed)", file=sys.stderr,
                  flush=True)
        return out

    def _block_flops(self, Q):
        return 0.0 if Q is None else 2.0 * self.block * len(self.X) * Q.shape[1]

    def _remote(self, Q, bounds, want_diag):
        client = self.client
        if self._X_future is None:
            self._X_future = client.scatter(self.X, broadcast=True, hash=False)
        # unique keys (hash=False): a key named by the content is shared with an earlier
        # scatter of the same array, whose release can cancel this pass's tasks ("lost
        # dependencies", seen when two spectra of the same X ran on one cluster)
        Q_future = client.scatter(Q, broadcast=True, hash=False) if Q is not None else None
        flops = self._block_flops(Q)
        futures = [client.submit(_remote_block_product, flops, self._X_future, Q_future, s, e,
                                 self.kernel, self.params, want_diag, pure=False)
                   for s, e in bounds]
        return client.gather(futures)

    def trace(self):
        if self.K is not None:
            return float(np.trace(self.K))
        return float(np.sum(self.diag))


def _connect(scheduler):
    """(client, cleanup) for the ``scheduler`` argument; cleanup closes what was opened."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - dask is a declared optional dependency
        raise ValueError("scheduler needs dask.distributed (pip install 'dask[distributed]')"
                         ) from exc
    if isinstance(scheduler, Client):
        return scheduler, lambda: None
    if isinstance(scheduler, str) and scheduler == "local":
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)

        def close():
            client.close()
            cluster.close()

        return client, close
    if isinstance(scheduler, str):
        client = Client(scheduler)
        return client, client.close
    raise ValueError(f"scheduler={scheduler!r}; allowed: None, 'local', a scheduler address "
                     "(str) or a dask.distributed.Client")


def _check_int(value, name, low, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        none = " or None" if allow_none else ""
        raise ValueError(f"{name}={value!r} is out of range; allowed: integers >= {low}{none}")
    return int(value)


def _orthonormal(Y):
    """Orthonormal basis of range(Y) by Householder QR (LAPACK geqrf + orgqr on a Fortran
    copy: on C-ordered input scipy's QR was measured 10-40x slower). Orthonormal even when Y
    is numerically rank-deficient, which the power iterations make it for low-rank kernels.

    Used between the power iterations too: scikit-learn's cheaper LU normalizer was measured
    here to lose one to two digits of the top-r subspace (the tail energy of a vector: 2e-12
    against 2e-14 relative at n = 300, r = 40), for about a quarter less time per pass at n = 4000,
    l = 310."""
    with _blas(0):
        Q, _ = scipy.linalg.qr(np.asfortranarray(Y), mode="economic", check_finite=False,
                               overwrite_a=True)
    return Q


def randomized_spectrum(*, K=None, X=None, kernel="rbf", kernel_params=None, rank,
                        random_state=None, n_oversamples=10, n_power_iter=None,
                        scheduler=None, block_size=None, verbose=False, on_indefinite="raise",
                        check_input=True):
    """Top-``rank`` eigenpairs of a PSD kernel matrix by a randomized range finder with
    power iterations and a Rayleigh–Ritz step [paper: Halko, Martinsson & Tropp 2011].

    Called by :func:`hilbert_sd.spectral.decompose` with ``method="randomized"``.

    Parameters
    ----------
    K : array-like of shape (n, n), optional
        Symmetric PSD kernel matrix (never modified, never copied whole except by the
        ``l ≥ n`` case below). Exactly one of K and X.
    X : array-like of shape (n, p), optional
        Inputs: the kernel ``gram(X[i:i+b], X, kernel=kernel, **kernel_params)`` is evaluated
        block by block of b rows in every pass, K is never stored.
    kernel : str or callable, default="rbf"
        Kernel of X (see :func:`hilbert_sd.kernels.gram`).
    kernel_params : dict, optional
        Its parameters.
    rank : int
        r, the number of eigenpairs, 1 ≤ r ≤ n.
    random_state : int or numpy.random.Generator, optional
        Seed of the Gaussian test matrix (``np.random.default_rng``); default 0, so a
        factorization is reproducible.
    n_oversamples : int, default=10
        Extra columns of the test matrix: ``l = min(rank + n_oversamples, n)``.
    n_power_iter : int, optional
        q ≥ 0: the subspace is that of ``K^(2q+1) Ω`` (scikit-learn's ``n_iter``
        convention). Default 4, or 7 when rank < 0.1 n (scikit-learn's ``randomized_svd``).
        The factorization costs ``2q + 2`` kernel passes.
    scheduler : None, "local", str or dask.distributed.Client, optional
        From X only: evaluate the row blocks ``gram(X_b, X) @ Q`` on a Dask cluster
        (``"local"``: a LocalCluster of 2 single-threaded worker processes, started and
        closed here; a str: the address of a running scheduler; a Client: used as is, not
        closed). X is scattered once, Q once per pass; the blocks are concatenated in their
        fixed order, so the numbers are those of the local run (to the BLAS's round-off).
    block_size : int, optional
        Rows of the kernel evaluated at once (default: about 64 MB of kernel; with a
        scheduler, at most n / (2 × workers) so that every worker gets blocks).
    verbose : bool, default=False
        Print one progress line per kernel pass to stderr.
    on_indefinite : {"raise", "warn"}, default="raise"
        A Ritz value clearly below 0 (beyond :func:`~hilbert_sd.spectral.clip_tolerance`)
        proves K indefinite (Ritz values lie in [λ_min(K), λ_max(K)]): raise, or warn and clip.
    check_input : bool, default=True
        Check that K is square, finite and symmetric (O(n²), no copy of a float64 K).

    Returns
    -------
    RandomizedSpectrum

    Raises
    ------
    ValueError
        For X not 2-D or not finite, a parameter out of range (naming the value and the
        allowed range), a scheduler with a kernel matrix K, an indefinite K (see
        ``on_indefinite``).

    Notes
    -----
    - With ``l = min(rank + n_oversamples, n) = n`` the range finder is skipped: the
      Rayleigh–Ritz step runs on the identity basis, i.e. it is LAPACK's dense symmetric
      eigensolver on K itself (the same driver as ``decompose(method="dense")``), and the
      result equals the dense decomposition [derived].
    - Only negative eigenvalues that the sampled subspace captures can be detected; K's
      small negative eigenvalues outside it are not seen.
    - The Ritz values are each within ``residual_norms[k]`` of an eigenvalue of K; they are
      lower bounds of the exact top eigenvalues in order, ``θ_k ≤ λ_k`` (Cauchy interlacing)
      [standard].
    """
    kernel_params = {} if kernel_params is None else dict(kernel_params)
    if (K is None) == (X is None):
        raise ValueError("give exactly one of K (the kernel matrix) and X (the inputs)")
    n_oversamples = _check_int(n_oversamples, "n_oversamples", 0)
    n_power_iter = _check_int(n_power_iter, "n_power_iter", 0, allow_none=True)
    block_size = _check_int(block_size, "block_size", 1, allow_none=True)
    verbose = bool(verbose)
    if random_state is None:
        random_state = 0
    if not isinstance(random_state, np.random.Generator) and (
            isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer))
            or random_state < 0):
        raise ValueError(f"random_state={random_state!r}; allowed: integers >= 0, a "
                         "numpy.random.Generator, or None (0)")
    if on_indefinite not in ("raise", "warn"):
        raise ValueError(f"on_indefinite={on_indefinite!r}; allowed: 'raise', 'warn'")

    if K is not None:
        if scheduler is not None:
            raise ValueError(
                "scheduler needs the inputs X: it evaluates kernel blocks on the workers; "
                "with a kernel matrix K the products are one local BLAS call (allowed: "
                "scheduler=None, or decompose(X=..., kernel=..., method='randomized'))")
        K, precision = _prepare_matrix(K, check_input, None, on_indefinite)
        n = K.shape[0]
        if n == 0:
            raise ValueError("K is empty; allowed: shape (n, n) with n >= 1")
        inputs = None
    else:
        X = np.ascontiguousarray(as_float_array(X, "X", ndim=2))
        n = X.shape[0]
        precision = float(np.finfo(np.float64).eps)
        inputs = (X, kernel, kernel_params)
    rank = int(rank)
    if not 1 <= rank <= n:
        raise ValueError(f"rank={rank!r} is out of range; allowed: integers 1 .. n={n}")
    if n_power_iter is None:
        n_power_iter = 7 if rank < 0.1 * n else 4
    width = min(rank + n_oversamples, n)
    full = width >= n
    total = 1 if full else 2 * n_power_iter + 2

    client, close = (None, None) if scheduler is None else _connect(scheduler)
    try:
        block = _block_rows(n, block_size)
        if client is not None and block_size is None:
            workers = max(1, len(client.scheduler_info().get("workers", {})))
            block = min(block, max(1, math.ceil(n / (2 * workers))))
        passes = _Passes(K, X, kernel, kernel_params, block, client, total, verbose)
        if full:
            # Rayleigh-Ritz on the identity basis: the dense eigensolver on K itself
            Q = None
            if K is not None:
                Y = K  # read only (scipy's eigh copies it)
                passes.count = 1
            else:
                Y = passes(None)
            B = Y
        else:
            rng = np.random.default_rng(random_state)
            Y = passes(rng.standard_normal((n, width)))
            for _ in range(2 * n_power_iter):
                Y = passes(_orthonormal(Y))
            Q = _orthonormal(Y)
            Y = passes(Q)  # K Q: the last pass, shared by B and the residuals
            B = Q.T @ Y
            B = 0.5 * (B + B.T)
        theta, V = scipy.linalg.eigh(B, driver="evr", check_finite=False)
        trace = passes.trace()
        n_passes = passes.count
    finally:
        if close is not None:
            close()
    del B
    theta = theta[::-1].copy()
    V = V[:, ::-1]
    V_r = np.ascontiguousarray(V[:, :rank])
    U_r = V_r if Q is None else Q @ V_r
    # residuals K u_k - theta_k u_k from the last pass K Q (no further pass): K U_r = (K Q) V_r
    KU = Y @ V_r
    KU -= U_r * theta[:rank]
    residual_norms = np.linalg.norm(KU, axis=0)
    del KU, Y

    # round-off tolerance, indefinite check and clipping, as the exact backends do, on the
    # Ritz values (all of them: a clearly negative one, kept or not, proves K indefinite)
    scale = float(max(abs(theta[0]), abs(theta[-1])))
    tol = clip_tolerance(scale, n, max(precision, float(np.finfo(np.float64).eps)))
    most_negative = float(min(theta[-1], 0.0))
    lam = theta[:rank].copy()
    if most_negative < -tol:
        if on_indefinite == "raise":
            raise ValueError(
                f"K is not positive semi-definite: Ritz value {most_negative:.6g} (an upper "
                f"bound of its smallest eigenvalue) is below the round-off tolerance "
                f"-{tol:.3g}; allowed: eigenvalues >= -{tol:.3g}")
        warnings.warn(
            f"K is not positive semi-definite: Ritz value {most_negative:.6g} (round-off "
            f"tolerance -{tol:.3g}); clipped {int(np.count_nonzero(lam < 0))} negative "
            "eigenvalues of the top rank to 0, i.e. using the nearest PSD matrix",
            NumericalWarning, stacklevel=3)
    negative = lam < 0
    n_clipped = int(np.count_nonzero(negative))
    lam[negative] = 0.0
    return RandomizedSpectrum(lam, U_r, n_clipped=n_clipped, most_negative=most_negative,
                              rank_tolerance=tol, trace_error=trace - float(np.sum(lam)),
                              residual_norms=residual_norms, n_passes=n_passes, inputs=inputs)
