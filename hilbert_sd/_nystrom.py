"""Nyström spectra: the exact eigenpairs of ``K̃ = C W⁺ Cᵀ`` by streaming passes
(:doc:`/topics/backends`).

Landmarks ``X_L`` (M rows of X), ``C = k(X, X_L)`` (n × M), ``W = k(X_L, X_L)``. With
``W = V_W Λ_W V_Wᵀ`` and its eigenvalues at or below ``100 · M · eps · max Λ_W`` dropped
(:func:`hilbert_sd.spectral.clip_tolerance` on M × M: the round-off scale of the symmetric
eigensolver; the pseudo-inverse ``W⁺`` is taken on the rest),

- ``P = V_W Λ_W^{-1/2}`` (M × r_W), ``B = C P`` (n × r_W), ``K̃ = B Bᵀ = C W⁺ Cᵀ``
  [paper: Williams & Seeger 2001];
- ``BᵀB = V_B Σ² V_Bᵀ``: the nonzero eigenvalues of K̃ are ``σ²`` and its eigenvectors
  ``U = B V_B Σ⁻¹ = C G`` with ``G = P V_B Σ⁻¹`` (M × r) [derived];
- new points: ``k̃(x, X) U = k(x, X_L) P Bᵀ B V_B Σ⁻¹ = k(x, X_L) H``, ``H = P V_B Σ``
  (M × r): only the M landmark kernel values of x are needed [derived].

Nothing n × n, nor C itself, is ever needed whole: the build is one pass over row blocks of X
that accumulates the r_W × r_W matrix ``BᵀB = Σ_b (C_b P)ᵀ (C_b P)`` and the traces; the
projections ``Uᵀv = Gᵀ (Cᵀv)``, the explicit tail residuals ``‖v − C G z‖`` and the
reconstructions ``U c = C (G c)`` are one pass each. C is kept in memory after the build only
when it is small (:data:`_CACHE_BUDGET`), otherwise every pass evaluates its blocks again.

**Why BᵀB and not Pᵀ(CᵀC)P.** Both are ``BᵀB`` in exact arithmetic, but the round-off of the
accumulated ``CᵀC`` (``eps · ‖C‖²``) is amplified by ``‖P‖² = 1 / min Λ_W``: a relative error
of ``eps · cond(W)`` in the eigenvalues of K̃ (measured: 8e-7 · λ_max for an RBF kernel with
cond(W) = 1.6e11, against 7e-16 for the block-whitened sum). Whitening each block before the
sum costs one more (b × M)·(M × r_W) product per block and leaves an error of order
``eps · sqrt(cond(W))`` in B, that of C's own entries [derived; measured]. The linear passes
(``Cᵀv``, ``C (G c)``) have no such squaring and stay with C.

Where ``U = C G`` loses orthogonality (columns of small σ, when W is ill conditioned) the tail
norm of a projection falls back from the explicit residual to Parseval's form, so that the
energies of a path still add up (:meth:`NystromSpectrum._tail_norm`). Every path on the
spectrum agrees with the dense backend run on the explicit n × n matrix K̃ to about 1e-14
relative (ridges, fits, predictions, GCV, flow; measured in ``tests/test_nystrom.py``, also
with cond(W) ~ 1e13). Each eigenvector's sign is fixed (largest entry of its coordinates in
V_B positive), so that block sizes and schedulers give the same vectors, not just the same
subspaces.

The streaming reductions can run on a Dask cluster (``scheduler``): every block is a task
that evaluates its kernel block on a worker from the inputs scattered there once, and the
partial results are added **in block order** on the client, so a distributed run gives the
local numbers (to the BLAS summation order inside one block product, ~1e-16 relative).
"""

import collections
import sys
import time
import warnings

import numpy as np
import scipy.linalg
import scipy.linalg.blas

from hilbert_sd._validation import as_float_array
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.spectral import LowRankSpectrum, available_memory, clip_tolerance

__all__ = ["NystromSpectrum", "nystrom_spectrum"]

#: C (n × M float64) is kept in memory after the build when it takes at most this many bytes
#: (and at most 1/8 of the memory available at the time); otherwise every pass evaluates its
#: kernel blocks again. A module attribute, so that tests can force the streaming route.
_CACHE_BUDGET = 512 * 2**20

#: default size of one kernel block C_b in bytes (``block_size`` rows × M columns)
_BLOCK_BYTES = 64 * 2**20

_LANDMARK_RULES = ("uniform", "kmeans++")

# kernels whose diagonal k(x, x) is exactly 1 (hilbert_sd.kernels.gram: exact diagonal)
_UNIT_DIAGONAL = ("rbf", "laplacian")


# ============================================================================ per-block work
# Module-level functions: a Dask worker imports them by name. Each takes the kernel block
# C_b = k(X_b, X_L), the input rows X_b, then its own arguments.

def _diagonal_sum(Xb, kernel, params):
    """Σ_i k(x_i, x_i) over the rows of Xb (exact for every kernel of gram)."""
    if isinstance(kernel, str) and kernel in _UNIT_DIAGONAL:
        return float(Xb.shape[0])
    from hilbert_sd.kernels import gram

    total = 0.0
    for i in range(0, Xb.shape[0], 64):  # small square blocks: O(64 · b · p) extra work
        total += float(np.trace(gram(Xb[i:i + 64], kernel=kernel, **params)))
    return total


def _kernel_block(Xb, XL, kernel, params, gamma=None):
    """``C_b = k(X_b, X_L)``: :func:`hilbert_sd.kernels.gram`, except for the RBF kernel,
    evaluated as ``exp(γ (2 X_b X_Lᵀ − ‖x‖² − ‖l‖²))`` (clamped at exp(0)) in place on the
    BLAS product (measured 1.5–2× faster than gram's fused pass on 4000 × 2000 blocks, equal
    to it within 1e-15). ``gamma`` is the resolved RBF parameter."""
    if gamma is None:
        from hilbert_sd.kernels import gram

        return gram(Xb, XL, kernel=kernel, **params)
    xx = np.add.reduce(Xb * Xb, axis=1)
    ll = np.add.reduce(XL * XL, axis=1)
    G = Xb @ XL.T
    G *= 2.0 * gamma
    G -= (gamma * xx)[:, None]
    G -= (gamma * ll)[None, :]
    np.minimum(G, 0.0, out=G)
    np.exp(G, out=G)
    return G


def _build_part(Cb, Xb, P, kernel, params):
    """(upper triangle of B_bᵀ B_b, Σ k(x_i, x_i), ‖B_b‖²_F) of one block, ``B_b = C_b P``.

    ``B_bᵀ B_b`` by BLAS ``dsyrk`` on the Fortran-ordered view ``B_bᵀ`` (one triangle, half
    the work of a product; measured 0.26 s against 0.43 s for numpy's ``B.T @ B`` at
    4194 × 2000)."""
    Bb = Cb @ P
    if Bb.shape[1]:
        part = scipy.linalg.blas.dsyrk(1.0, Bb.T, trans=0, lower=0)
    else:
        part = np.zeros((0, 0))
    return part, _diagonal_sum(Xb, kernel, params), float(np.trace(part))


def _ctv_part(Cb, Xb, vb):
    """``C_bᵀ v_b``."""
    return Cb.T @ vb


def _residual_part(Cb, Xb, vb, c):
    """Per column ``(‖v_b − C_b c‖², ‖C_b c‖²)`` (c = G z, so ``C_b c`` is block b of
    ``U z``), shape (2,) or (2, m)."""
    u = Cb @ c
    r = vb - u
    return np.stack([np.sum(r * r, axis=0), np.sum(u * u, axis=0)])


def _reconstruct_part(Cb, Xb, g):
    """``C_b g``: block b of ``U c`` for ``g = G c``."""
    return Cb @ g


def _dask_block(X, XL, kernel, params, gamma, start, stop, fn, row_args, args):
    """One task on a Dask worker: evaluate the kernel block, then ``fn`` on it."""
    Xb = X[start:stop]
    return fn(_kernel_block(Xb, XL, kernel, params, gamma), Xb, *row_args, *args)


# ============================================================================ the passes
class _Blocks:
    """The row blocks of ``C = k(X, X_L)`` and the passes over them, local or on Dask.

    Every pass yields ``fn(C_b, X_b, *row_args_b, *args)`` for b = 0, 1, … **in block order**
    (callers sum them in that order: a fixed summation order, the same on every scheduler).
    """

    def __init__(self, X, XL, kernel, params, block_size, *, verbose=False):
        self.X = X
        self.XL = XL
        self.kernel = kernel
        self.params = params
        # the RBF kernel's resolved gamma (its blocks take the BLAS route), else None
        self.gamma = None
        if isinstance(kernel, str) and kernel == "rbf":
            g = params.get("gamma")
            self.gamma = 1.0 / X.shape[1] if g is None else float(g)
        self.block_size = int(block_size)
        n = X.shape[0]
        self.bounds = [(s, min(s + self.block_size, n)) for s in range(0, n, self.block_size)]
        self.verbose = verbose
        self.C = None  # the whole C when cached
        self.client = None
        self._futures = None  # (X, X_L) scattered on the cluster

    def kernel_block(self, Xb):
        """``k(X_b, X_L)`` for any rows X_b."""
        return _kernel_block(Xb, self.XL, self.kernel, self.params, self.gamma)

    # ---- scheduler ---------------------------------------------------------------------
    def attach(self, client):
        """Run the passes on ``client``; X and X_L are scattered to every worker once."""
        self.client = client
        X_f = client.scatter(self.X, broadcast=True, hash=False)
        XL_f = client.scatter(self.XL, broadcast=True, hash=False)
        self._futures = (X_f, XL_f)

    def detach(self):
        self.client = None
        self._futures = None

    def _client_alive(self):
        c = self.client
        return c is not None and getattr(c, "status", "running") == "running"

    # ---- the pass ------------------------------------------------------------------------
    def run(self, fn, row_args=(), args=(), *, label="pass", fill_cache=False):
        """Yield the per-block results of ``fn`` in block order."""
        if self._client_alive():
            yield from self._run_dask(fn, row_args, args, label)
            return
        t0 = time.perf_counter()
        for i, (s, e) in enumerate(self.bounds):
            Xb = self.X[s:e]
            if self.C is not None and not fill_cache:
                Cb = self.C[s:e]
            else:
                Cb = self.kernel_block(Xb)
                if fill_cache:
                    self.C[s:e] = Cb
            out = fn(Cb, Xb, *(a[s:e] for a in row_args), *args)
            self._progress(label, i, t0)
            yield out

    def _run_dask(self, fn, row_args, args, label):
        client = self.client
        X_f, XL_f = self._futures
        # large shared arguments travel to each worker once, not once per task
        args = [client.scatter(a, broadcast=True, hash=False)
                if isinstance(a, np.ndarray) and a.nbytes > (1 << 20) else a for a in args]
        try:
            n_workers = len(client.scheduler_info()["workers"])
        except Exception:  # pragma: no cover - older/newer scheduler_info signatures
            n_workers = 2
        window = 2 * max(n_workers, 1) + 2  # tasks in flight: bounded memory on the client
        pending = collections.deque()
        t0 = time.perf_counter()
        done = 0
        for s, e in self.bounds:
            pending.append(client.submit(
                _dask_block, X_f, XL_f, self.kernel, self.params, self.gamma, s, e, fn,
                [np.ascontiguousarray(a[s:e]) for a in row_args], args, pure=False))
            if len(pending) >= window:
                out = pending.popleft().result()
                self._progress(label, done, t0)
                done += 1
                yield out
        while pending:
            out = pending.popleft().result()
            self._progress(label, done, t0)
            done += 1
            yield out

    def _progress(self, label, i, t0):
        if self.verbose:
            N = len(self.bounds)
            s, e = self.bounds[i]
            where = "dask" if self._client_alive() else "local"
            print(f"[nystrom] {label}: block {i + 1}/{N} (rows {s}-{e - 1}, {where}), "
                  f"elapsed {time.perf_counter() - t0:.2f} s", file=sys.stderr, flush=True)

    # ---- the three products ------------------------------------------------------------
    def ctv(self, v):
        """``Cᵀ v`` (M,) or (M, m), summed in block order."""
        total = None
        for part in self.run(_ctv_part, (v,), label="C^T v"):
            total = part if total is None else total + part
        return total

    def residual(self, v, c):
        """Per column ``(‖v − C c‖², ‖C c‖²)``, stacked on a first axis of length 2 (one
        streaming pass, no cancellation)."""
        total = None
        for part in self.run(_residual_part, (v,), (c,), label="residual"):
            total = part if total is None else total + part
        return total

    def times(self, g):
        """``C g`` (n,) or (n, m)."""
        out = np.empty((self.X.shape[0],) + g.shape[1:])
        for (s, e), part in zip(self.bounds, self.run(_reconstruct_part, (), (g,),
                                                      label="C g")):
            out[s:e] = part
        return out

    def __getstate__(self):
        state = self.__dict__.copy()
        state["client"] = None  # a pickled spectrum computes its passes locally
        state["_futures"] = None
        return state


# ============================================================================ the spectrum
class NystromSpectrum(LowRankSpectrum):
    """The exact spectrum of the Nyström kernel ``K̃ = C W⁺ Cᵀ`` on M landmarks.

    Build it with ``decompose(X=X, kernel=..., method="nystrom", rank=M)``. Its r eigenpairs
    are the nonzero ones of K̃ (r ≤ M), the tail pseudo-direction is K̃'s null space, and
    every path on it (self-distillation, flow, the family, GCV) is the *exact* path of the
    kernel K̃ [derived], not an approximation of the path of K: :attr:`trace_error`
    ``= tr K − tr K̃`` says how far K̃ is from K. Nyström kernel ridge regression keeps the
    optimal learning rates with M of order √n landmarks (up to logs) [paper: Rudi, Camoriano
    & Rosasco 2015].

    The eigenvectors ``U = C G`` are never stored: :meth:`project` (``Uᵀv`` and the explicit
    tail residual) and :meth:`reconstruct` (``U c``) are streaming passes over row blocks of
    X, each evaluating ``k(X_b, X_L)`` again unless C was small enough to be kept in memory
    (``C_cached``). New points need only their M landmark kernel values
    (:meth:`project_points`).

    Passes after the build run on the Dask client the spectrum was built with when that
    client was passed in as a :class:`dask.distributed.Client` (and is still running);
    clusters and clients started by the build itself (``scheduler="local"`` or an address)
    are closed when the build ends, and later passes run in this process. :meth:`close`
    (or a ``with`` block) detaches the spectrum from the client; a pickled spectrum computes
    locally. The numbers are the same either way. With a scheduler C is never cached here
    (its blocks live on the workers).

    Attributes
    ----------
    landmarks : ndarray of int, shape (M,)
        Row indices of the landmarks in X.
    landmark_points : ndarray of shape (M, p)
        ``X[landmarks]``.
    n_landmarks : int
        M.
    trace_error : float
        ``tr K − tr K̃ = Σ_i k(x_i, x_i) − ‖B‖²_F ≥ 0`` (clipped at 0; the unclipped
        difference, whose negative part is round-off, is ``trace_error_raw``).
    w_rank : int
        r_W, the eigenvalues of W kept in ``W⁺``.
    w_tolerance : float
        The cut-off on the eigenvalues of W, ``100 · M · eps · max Λ_W``.
    C_cached : bool
        Whether C is held in memory (later passes skip the kernel evaluations).
    """

    method = "nystrom"
    #: its eigenpairs are those of K̃, not of K: no certificate for the run on K
    certifiable = False

    def __init__(self, top_eigenvalues, n_samples, *, G, H, blocks, landmarks, w_rank,
                 w_tolerance, trace_error_raw, n_clipped=0, most_negative=0.0,
                 rank_tolerance=0.0):
        super().__init__(top_eigenvalues, n_samples, n_clipped=n_clipped,
                         most_negative=most_negative, rank_tolerance=rank_tolerance,
                         trace_error=max(float(trace_error_raw), 0.0))
        self._G = G
        self._H = H
        self._blocks = blocks
        self.landmarks = landmarks
        self.w_rank = int(w_rank)
        self.w_tolerance = float(w_tolerance)
        self.trace_error_raw = float(trace_error_raw)
        self._inputs = (blocks.X, blocks.kernel, blocks.params)

    # ---- attributes ----------------------------------------------------------------------
    @property
    def landmark_points(self):
        """The landmark inputs ``X[landmarks]`` (M, p)."""
        return self._blocks.XL

    @property
    def n_landmarks(self):
        """M, the number of landmarks."""
        return int(self.landmarks.shape[0])

    @property
    def C_cached(self):
        """Whether ``C = k(X, X_L)`` is held in memory."""
        return self._blocks.C is not None

    @property
    def block_size(self):
        """Rows of X per kernel block in the streaming passes."""
        return self._blocks.block_size

    # ---- products --------------------------------------------------------------------------
    def _project_top(self, v):
        """``Uᵀ v = Gᵀ (Cᵀ v)``: one streaming pass."""
        return self._G.T @ self._blocks.ctv(v)

    def _tail_norm(self, v, z):
        """``‖v − U z‖`` per column by a second streaming pass, checked against Parseval.

        The pass accumulates the explicit residual ``e² = ‖v − C G z‖²``, which does not
        cancel when the tail is small, and ``‖U z‖²``. With ``z = Uᵀv``,
        ``e² = (‖v‖² − ‖z‖²) + (‖Uz‖² − ‖z‖²)`` [derived]: the two forms differ by the
        non-orthogonality of the computed ``U = C G`` on z. U is orthonormal to round-off
        when W is well conditioned; its columns of small σ lose about ``eps · σ_1² / σ_k²``
        otherwise (``U = B V_B Σ⁻¹`` divides by σ). The residual is used while it agrees
        with Parseval's ``‖v‖² − ‖z‖²`` within the latter's round-off
        (``8 (r + 1) eps ‖v‖²``); beyond, Parseval's form is kept, so that the energies of a
        path (``Σ z_k² + tail²``) still add up to ``‖v‖²`` and budgets and training errors
        do not inherit the loss of orthogonality (measured: ridges 4e-7 → 1e-10 relative
        against the dense run on K̃ for an RBF kernel with cond(W) ~ 1e11).
        """
        parts = self._blocks.residual(v, self._G @ z)
        explicit, uz2 = parts[0], parts[1]
        vv = np.sum(v * v, axis=0)
        parseval = vv - np.sum(z * z, axis=0)
        slack = 8.0 * (z.shape[0] + 1) * np.finfo(np.float64).eps * vv
        tail2 = np.where(np.abs(explicit - parseval) <= slack, explicit,
                         np.maximum(parseval, 0.0))
        return np.sqrt(tail2)

    def _reconstruct_top(self, c):
        """``U c = C (G c)``, streaming over row blocks; (n,) or (n, m)."""
        return self._blocks.times(self._G @ c)

    def project_rows(self, K_new):
        """Refused: a Nyström spectrum is the kernel K̃, whose rows at new points are
        ``k(X_new, X_L) W⁺ Cᵀ``, not the rows ``k(X_new, X)`` of K.

        Raises
        ------
        ValueError
            Always; use ``path.predict(spectrum.project_points(X_new), projected=True)``.
        """
        raise ValueError(
            "a Nystrom spectrum is the kernel K~ = C W+ C^T on its landmarks, not K: rows "
            "k(X_new, X) of K do not give its predictions, which need the new inputs "
            "themselves; use path.predict(spectrum.project_points(X_new), projected=True)")

    def project_points(self, X_new):
        """Features ``k̃(X_new, X) U = k(X_new, X_L) H`` of new inputs, for a path's
        ``predict(..., projected=True)``.

        Only the M landmark kernel values of each new point are evaluated, in blocks of new
        points (about 64 MB of kernel values at once); computed in this process.

        Parameters
        ----------
        X_new : array-like of shape (n_new, p)

        Returns
        -------
        ndarray of shape (n_new, r + 1)
            The last column (the tail pseudo-direction, K̃'s null space) is 0.
        """
        p = self._blocks.X.shape[1]
        X_new = as_float_array(X_new, "X_new", ndim=2, allow_empty=True)
        if X_new.shape[1] != p:
            raise ValueError(f"X_new must have shape (n_new, {p}); got {X_new.shape}")
        r = self.rank
        out = np.zeros((X_new.shape[0], r + 1))
        step = max(1, _BLOCK_BYTES // (8 * self.n_landmarks))
        for i in range(0, X_new.shape[0], step):
            out[i:i + step, :r] = self._blocks.kernel_block(X_new[i:i + step]) @ self._H
        return out

    def landmark_coefficients(self, d):
        """Landmark coefficients ``β = H d_top`` of eigen-coefficients ``d``: the function
        with dual eigen-coefficients d is ``f(x) = k(x, X_L) β`` [derived].

        Parameters
        ----------
        d : array-like of shape (r + 1,), (r + 1, m) or (J, r + 1, m)
            Eigen-coefficients including the tail one (ignored: K̃ is 0 there).

        Returns
        -------
        ndarray of shape (M,), (M, m) or (J, M, m)
        """
        d = np.asarray(d, dtype=np.float64)
        r = self.rank
        axis = 0 if d.ndim <= 2 else 1
        if d.ndim not in (1, 2, 3) or d.shape[axis] != r + 1:
            raise ValueError(f"d must have shape (r + 1,), (r + 1, m) or (J, r + 1, m) with "
                             f"r + 1 = {r + 1}; got {d.shape}")
        if d.ndim <= 2:
            return self._H @ d[:r]
        return np.einsum("kr,jrm->jkm", self._H, d[:, :r, :])

    def basis(self, rank=None):
        """The top-``rank`` eigenvectors of K̃, ``C G[:, :rank]``, as an explicit (n, rank)
        array (all r when None): one streaming pass."""
        rank = self.rank if rank is None else rank
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) \
                or not 0 <= rank <= self.rank:
            raise ValueError(f"rank={rank!r} is out of range; allowed: integers 0 .. "
                             f"{self.rank} (the nonzero eigenpairs of the Nystrom kernel)")
        return self._blocks.times(np.ascontiguousarray(self._G[:, :int(rank)]))

    # ---- scheduler lifetime --------------------------------------------------------------
    def close(self):
        """Detach from the Dask client: later passes run in this process. The client itself
        belongs to the caller and is not closed (those the build started are closed)."""
        self._blocks.detach()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


# ============================================================================ the builder
def nystrom_spectrum(X, kernel, kernel_params, rank, *, landmarks="uniform", random_state=None,
                     scheduler=None, block_size=None, verbose=False):
    """Spectrum of the Nyström kernel ``K̃ = C W⁺ Cᵀ`` on ``rank`` landmarks of X.

    Called by :func:`hilbert_sd.spectral.decompose` (``method="nystrom"``).

    Parameters
    ----------
    X : array-like of shape (n, p)
        Finite inputs.
    kernel : str or callable
        As :func:`hilbert_sd.kernels.gram` (a callable must be picklable for Dask).
    kernel_params : dict
        Its parameters.
    rank : int
        M, the number of landmarks, 1 ≤ M ≤ n.
    landmarks : {"uniform", "kmeans++"} or array-like of int, default="uniform"
        - ``"uniform"``: M rows drawn without replacement
          (``np.random.default_rng(random_state).choice(n, M, replace=False)``), sorted;
        - ``"kmeans++"``: k-means++ seeding (D² sampling with greedy local trials, scikit-
          learn's ``kmeans_plusplus``) on X; the chosen *rows* are the landmarks (when X has
          fewer than M distinct rows, repeated picks are replaced by uniform draws among the
          rows not chosen);
        - an array of M distinct row indices in [0, n), used in the given order.
    random_state : int, optional
        Seed (None means 0: reproducible).
    scheduler : None, "local", str or dask.distributed.Client, optional
        Where the streaming passes run: here (None); on a LocalCluster of 2 worker processes
        with 1 thread each started for the build and closed after it (``"local"``); on the
        scheduler at an address (a client opened for the build and closed after it); or on a
        given client (not closed; later passes on the spectrum keep using it while it runs).
    block_size : int, optional
        Rows of X per kernel block (default: blocks of about 64 MB of C).
    verbose : bool, default=False
        Report the progress of every streaming pass on stderr, the build's and the later
        projections' and reconstructions' (one line per block: block i of N, its rows,
        local or Dask, elapsed time), and a summary line after the build.

    Returns
    -------
    NystromSpectrum

    Raises
    ------
    ValueError
        For X not 2-D or not finite, an unknown landmark rule, landmark indices that are not
        M distinct rows, a block_size below 1, a scheduler of another type, or a kernel
        that is clearly not positive semi-definite on the landmarks.

    Notes
    -----
    Cost: one pass of O(n M (p + 2 r_W) + n r_W²) work and O(block · M + M²) memory, then
    O(M³) for the two M × M eigenproblems; each later projection is two passes (``Cᵀv``,
    then the residual), each reconstruction one. The round-off cut-off of the nonzero
    eigenvalues of K̃ is that of a dense solver on the n × n matrix K̃,
    ``100 · n · eps · λ̃_max`` (``rank_tolerance``); eigenvalues of BᵀB at or below it join
    the tail.
    """
    from hilbert_sd.kernels import gram

    X = as_float_array(X, "X", ndim=2)
    X = np.ascontiguousarray(X)
    n = X.shape[0]
    params = dict(kernel_params or {})
    if verbose not in (True, False):
        raise ValueError(f"verbose={verbose!r}; allowed: True, False")
    _check_scheduler(scheduler)
    seed = _check_seed(random_state)
    idx = _choose_landmarks(X, rank, landmarks, seed)
    M = idx.shape[0]
    block_size = _check_block_size(block_size, n, M)
    XL = np.ascontiguousarray(X[idx])

    # W = V_W Λ_W V_Wᵀ; W⁺ on the eigenvalues above the solver's round-off
    W = gram(XL, kernel=kernel, **params)
    if not np.array_equal(W, W.T):  # a user callable need not be exactly symmetric
        W = 0.5 * (W + W.T)
    # divide and conquer: orthogonal to O(eps) (MRRR's evr measured 7e-13 at M = 2000) and
    # faster for all eigenpairs
    lam_w, V_w = scipy.linalg.eigh(W, driver="evd", check_finite=False)
    lam_w, V_w = lam_w[::-1], V_w[:, ::-1]
    scale_w = float(max(abs(lam_w[0]), abs(lam_w[-1])))
    tol_w = clip_tolerance(scale_w, M)
    if lam_w[-1] < -tol_w:
        raise ValueError(
            f"the kernel is not positive semi-definite on the landmarks: k(X_L, X_L) has the "
            f"eigenvalue {lam_w[-1]:.6g}, below the round-off tolerance -{tol_w:.3g}; "
            "allowed: a PSD kernel")
    keep_w = lam_w > tol_w
    P = np.ascontiguousarray(V_w[:, keep_w] / np.sqrt(lam_w[keep_w]))

    blocks = _Blocks(X, XL, kernel, params, block_size, verbose=verbose)
    client, owned = _connect(scheduler)
    try:
        if client is not None:
            blocks.attach(client)
        elif n * M * 8 <= _cache_budget():
            blocks.C = np.empty((n, M))
        t0 = time.perf_counter()
        # the build's reduction, in block order: BᵀB, tr K, tr K̃ = ‖B‖²_F
        BtB = np.zeros((P.shape[1], P.shape[1]))
        trace_k = 0.0
        trace_kt = 0.0
        for part, tk, tkt in blocks.run(_build_part, (), (P, kernel, params), label="build",
                                        fill_cache=blocks.C is not None):
            BtB += part
            trace_k += tk
            trace_kt += tkt
        if verbose:
            print(f"[nystrom] build pass done: n={n}, M={M}, r_W={P.shape[1]}, "
                  f"{len(blocks.bounds)} blocks, {time.perf_counter() - t0:.2f} s",
                  file=sys.stderr, flush=True)
    finally:
        if owned:
            blocks.detach()
            _close_client(client)

    # BᵀB = V_B Σ² V_Bᵀ: the nonzero eigenpairs of K̃ (descending); the partials hold the
    # upper triangle
    BtB = np.triu(BtB) + np.triu(BtB, 1).T
    if BtB.shape[0]:
        sig2, V_b = scipy.linalg.eigh(BtB, driver="evd", check_finite=False)
        sig2, V_b = sig2[::-1].copy(), V_b[:, ::-1]
    else:
        sig2, V_b = np.zeros(0), np.zeros((0, 0))
    top = float(sig2[0]) if sig2.size else 0.0
    rank_tol = clip_tolerance(max(top, 0.0), n)
    most_negative = float(min(sig2.min(), 0.0)) if sig2.size else 0.0
    n_clipped = int(np.count_nonzero(sig2 < 0))
    if most_negative < -rank_tol:  # BᵀB is a Gram matrix: only round-off can make this
        warnings.warn(f"B^T B has the eigenvalue {most_negative:.3g} below the round-off "
                      f"tolerance -{rank_tol:.3g}; its directions join the tail",
                      NumericalWarning, stacklevel=3)
    keep = sig2 > rank_tol
    sig2 = sig2[keep]
    sig = np.sqrt(sig2)
    V_b = V_b[:, keep]
    if V_b.size:
        # one sign per eigenvector whatever the summation order (blocks, Dask): the entry of
        # largest magnitude of each column of V_B is positive
        big = V_b[np.argmax(np.abs(V_b), axis=0), np.arange(V_b.shape[1])]
        V_b = V_b * np.where(big < 0, -1.0, 1.0)
    PV = P @ V_b
    G = np.ascontiguousarray(PV / sig)
    H = np.ascontiguousarray(PV * sig)
    return NystromSpectrum(sig2, n, G=G, H=H, blocks=blocks, landmarks=idx,
                           w_rank=int(np.count_nonzero(keep_w)), w_tolerance=tol_w,
                           trace_error_raw=trace_k - trace_kt, n_clipped=n_clipped,
                           most_negative=most_negative, rank_tolerance=rank_tol)


# ============================================================================ helpers
def _cache_budget():
    """Bytes C may take to be kept in memory: :data:`_CACHE_BUDGET`, and at most 1/8 of the
    memory available now."""
    avail = available_memory()
    return _CACHE_BUDGET if avail is None else min(_CACHE_BUDGET, avail // 8)


def _check_seed(random_state):
    if random_state is None:
        return 0
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)) \
            or random_state < 0:
        raise ValueError(f"random_state={random_state!r}; allowed: None or an integer >= 0")
    return int(random_state)


def _check_block_size(block_size, n, M):
    if block_size is None:
        return max(1, min(n, _BLOCK_BYTES // (8 * M)))
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) \
            or block_size < 1:
        raise ValueError(f"block_size={block_size!r}; allowed: None or an integer >= 1 "
                         "(rows of X per kernel block)")
    return int(min(block_size, n))


def _choose_landmarks(X, rank, landmarks, seed):
    """Row indices of the landmarks (int64 array of length ``rank``)."""
    n = X.shape[0]
    if isinstance(landmarks, str):
        if landmarks == "uniform":
            rng = np.random.default_rng(seed)
            return np.sort(rng.choice(n, rank, replace=False)).astype(np.int64)
        if landmarks == "kmeans++":
            from sklearn.cluster import kmeans_plusplus

            _, idx = kmeans_plusplus(X, rank, random_state=seed)
            idx = np.asarray(idx, dtype=np.int64)
            _, first = np.unique(idx, return_index=True)
            if first.size < rank:  # fewer distinct rows than M: fill up uniformly
                idx = idx[np.sort(first)]
                rest = np.setdiff1d(np.arange(n), idx)
                rng = np.random.default_rng(seed)
                idx = np.concatenate([idx, rng.choice(rest, rank - idx.size, replace=False)])
            return idx
        raise ValueError(f"landmarks={landmarks!r}; allowed: "
                         f"{', '.join(map(repr, _LANDMARK_RULES))} or an array of row indices")
    try:
        idx = np.asarray(landmarks)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"landmarks={landmarks!r}; allowed: 'uniform', 'kmeans++' or an "
                         "array of row indices") from exc
    if idx.dtype.kind not in "iu" or idx.ndim != 1:
        raise ValueError(f"landmarks must be 'uniform', 'kmeans++' or a 1-D array of integer "
                         f"row indices; got {type(landmarks).__name__} with dtype "
                         f"{idx.dtype} and shape {idx.shape}")
    if idx.shape[0] != rank:
        raise ValueError(f"landmarks has {idx.shape[0]} indices but rank={rank}; they must "
                         "match (rank is the number of landmarks)")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise ValueError(f"landmark index {int(bad)} is out of range; allowed: 0 .. {n - 1}")
    uniq, counts = np.unique(idx, return_counts=True)
    if np.any(counts > 1):
        raise ValueError("landmark indices must be distinct; repeated: "
                         f"{uniq[counts > 1][:5].tolist()}")
    return idx.astype(np.int64)


def _check_scheduler(scheduler):
    if scheduler is None or (isinstance(scheduler, str) and scheduler):
        return
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - distributed is optional
        Client = None
    if Client is not None and isinstance(scheduler, Client):
        return
    raise ValueError(f"scheduler={scheduler!r}; allowed: None, 'local', a scheduler address "
                     "(str) or a dask.distributed.Client")


def _start_local_client():
    """A client on a new LocalCluster (2 worker processes, 1 thread each)."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None)
    return Client(cluster)


def _connect(scheduler):
    """(client or None, whether the build owns it and must close it)."""
    if scheduler is None:
        return None, False
    if isinstance(scheduler, str):
        if scheduler == "local":
            return _start_local_client(), True
        from distributed import Client

        return Client(scheduler), True
    return scheduler, False


def _close_client(client):
    """Close a client the build opened, and the LocalCluster it started (if any)."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
