"""Kernel softmax regression distilled by function-space gradient descent
(:doc:`/topics/soft_labels`).

The student is a function ``f = k(·, X) c`` of the RKHS with ``m`` outputs (logits), trained
from ``f = 0`` on the distillation loss of :func:`hilbert_sd.soft_labels.distillation_loss`
plus ``(γ/2) ‖f‖²_H`` by

    f ← f − η (Σ_i d_i k(·, x_i) ∇ℓ_i + γ f),    i.e.    c ← (1 − ηγ) c − η D G,  F = K c,

on hard labels (``a = 0``), plain soft labels, weighted soft labels (recomputed from the
current logits every step, held fixed within it) or given weights. The loss is
:doc:`/topics/soft_labels`'s [from the official code]; the kernel student trained on it and every
statement below are this package's design and derivations [derived].

- :func:`train_kernel_softmax` returns a :class:`SoftmaxStudent` (dual coefficients, training
  logits, the loss per step). Its first argument is the kernel matrix or its
  :class:`~hilbert_sd.spectral.Spectrum`, the package's one convention. With ``rank = r`` the
  iteration runs on the eigen-dual coefficients in the top ``r`` eigen-directions of K
  (``F = U_r (λ_r ⊙ a)``, dual ``U_r a``; no eigenvalue is divided by): the same student
  restricted to those directions, i.e. the sample-space iteration on ``U_r Λ_r U_rᵀ``
  [derived].
- :func:`default_learning_rate`: ``η = n / λ_max``. The softmax Jacobian has norm at most 1/2
  and the τ² cancels the 1/τ² of the tempered softmax, so the data term has curvature at most
  ``(h + a)/2`` per unit sample weight and the iteration is stable when
  ``η λ_max(D^½ K D^½) (h + a)/2 < 2``; the default leaves a factor ``4/(h + a)`` for uniform
  weights [derived].

The iteration itself (many students stacked, one fused compiled gradient per step) is the
private :mod:`hilbert_sd.soft_labels._train`.
"""

from dataclasses import dataclass, field

import numpy as np
from scipy.special import log_softmax, softmax

from hilbert_sd._validation import (
    as_float_array,
    check_kernel_rows,
    check_scalar,
    check_square_symmetric,
)
from hilbert_sd.soft_labels._checks import (
    check_labels,
    check_sample_weight,
    check_temperature,
    check_weights_choice,
)
from hilbert_sd.soft_labels._train import train_stack
from hilbert_sd.spectral import Spectrum, as_spectrum

__all__ = ["SoftmaxStudent", "default_learning_rate", "train_kernel_softmax"]


@dataclass(repr=False)
class SoftmaxStudent:
    """A kernel softmax-regression student trained by :func:`train_kernel_softmax`.

    ``f(x) = k(x, X) dual_coef`` (logits). ``F = f(X)`` are the training logits.

    Attributes
    ----------
    dual_coef : ndarray of shape (n_samples, n_classes)
    train_logits : ndarray of shape (n_samples, n_classes)
    losses : ndarray of shape (steps + 1,)
        The data term of the loss (without the ridge) before each step and after the last.
    weights : ndarray of shape (n_samples,)
        Soft-label weights at the final logits (ones for plain soft or hard labels).
    learning_rate : float
        The step η actually used.
    steps : int
    rank : int or None
        Number of top eigen-directions the iteration ran in (None: in sample space, on the
        kernel matrix itself).
    settings : dict
        ``temperature``, ``a``, ``hard_weight``, ``weights``, ``ridge``.
    """

    dual_coef: np.ndarray
    train_logits: np.ndarray
    losses: np.ndarray
    weights: np.ndarray
    learning_rate: float
    steps: int
    rank: object
    settings: dict = field(default_factory=dict)

    def predict_logits(self, K_new):
        """Logits at new points.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n_samples)
            ``k(X_new, X)``: 2-D, one column per training sample, finite, real.

        Returns
        -------
        ndarray of shape (n_new, n_classes)
        """
        K_new = check_kernel_rows(K_new, self.dual_coef.shape[0])
        return K_new @ self.dual_coef

    def predict_proba(self, K_new, temperature=1.0):
        """``softmax(logits / τ)`` at new points (``K_new`` as in :meth:`predict_logits`).

        The values of :func:`soft_labels` of the logits; no new points give no rows.
        """
        tau = check_temperature(temperature)
        return softmax(self.predict_logits(K_new) / tau, axis=1)

    def predict(self, K_new):
        """Predicted classes (argmax of the logits) at new points."""
        return np.argmax(self.predict_logits(K_new), axis=1)

    def __repr__(self):
        st = self.settings
        return (f"SoftmaxStudent(n={self.dual_coef.shape[0]}, classes={self.dual_coef.shape[1]},"
                f" steps={self.steps}, learning_rate={self.learning_rate:.4g}, "
                f"rank={self.rank}, a={st.get('a')}, temperature={st.get('temperature')}, "
                f"final_loss={self.losses[-1]:.4g})")


def _largest_eigenvalue(K):
    """λ_max of a symmetric matrix: dense for n <= 64, else Lanczos from a fixed start."""
    n = K.shape[0]
    if n <= 64:
        return float(np.linalg.eigvalsh(K)[-1])
    from scipy.sparse.linalg import eigsh

    # A fixed start vector keeps the step (and so the result) reproducible run to run.
    return float(eigsh(K, k=1, which="LA", v0=np.ones(n), return_eigenvectors=False)[0])


def default_learning_rate(lambda_max, n_samples):
    """The default step of :func:`train_kernel_softmax`: ``η = n / λ_max``.

    With uniform sample weights the loss ``h·CE + a τ² w softCE`` has curvature at most
    ``(h + a)/2`` per sample in the logits (the softmax Jacobian has norm ≤ 1/2 and the τ²
    cancels the 1/τ² of the tempered softmax), so gradient descent is stable when
    ``η λ_max (h + a) / (2n) < 2``; the default leaves a factor 4/(h + a) [derived].

    Parameters
    ----------
    lambda_max : float
        Largest eigenvalue of the kernel matrix, > 0.
    n_samples : int

    Returns
    -------
    float
    """
    return float(n_samples) / float(lambda_max)


def train_kernel_softmax(K, labels, *, teacher_logits=None, temperature=1.0, a=0.0,
                         weights="wsl", hard_weight=1.0, sample_weight=None, steps=100,
                         learning_rate=None, ridge=0.0, rank=None, n_classes=None):
    """Kernel softmax regression trained by function-space gradient descent from ``f = 0``.

    Minimizes the distillation loss of :func:`distillation_loss` over the RKHS,

        L(f) = Σ_i d_i [h CE_i(f, y) + a τ² w_i softCE_τ,i(teacher, f)] + (γ/2) ‖f‖²_H,

    ``d_i = c_i / Σ c`` (sample weights), by ``f ← f − η (Σ_i d_i k(·, x_i) ∇ℓ_i + γ f)``:
    on the training outputs ``F ← (1 − ηγ) F − η K D G``. Hard labels: ``a = 0``; plain soft
    labels: ``weights="uniform"``; weighted soft labels: ``weights="wsl"`` (recomputed from
    the current logits every step, held fixed inside the step); soft labels alone:
    ``hard_weight=0``.

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples) or Spectrum
        Kernel matrix (symmetric PSD), or its :class:`~hilbert_sd.spectral.Spectrum` (from
        :func:`hilbert_sd.spectral.decompose`), shared between runs. A kernel matrix without
        ``rank`` is iterated on in sample space and never decomposed; a Spectrum is iterated
        on in its eigenbasis (all ``n`` eigen-directions when ``rank`` is None: the same
        student up to round-off, at two products with an n × n matrix per step).
    labels : array-like of shape (n_samples,)
        Integer classes.
    teacher_logits : array-like of shape (n_samples, n_classes), optional
        Required when ``a > 0``. To distil given probabilities ``P`` use ``log P`` with
        ``temperature=1`` (and ``weights="uniform"``).
    temperature : float, default=1.0
    a : float, default=0.0
    weights : {"wsl", "uniform"} or array-like of shape (n_samples,), default="wsl"
    hard_weight : float, default=1.0
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative multiplicities (a bootstrap resample: its counts).
    steps : int, default=100
    learning_rate : float, optional
        η > 0; default :func:`default_learning_rate` ``n / λ_max``.
    ridge : float, default=0.0
        γ >= 0 of the RKHS penalty; ``ηγ < 1`` is required.
    rank : int, optional
        Iterate in the top ``rank`` eigen-directions of K (``F = U_r (λ_r ⊙ a)``, two
        products with an n × rank matrix per step instead of one with K): the student
        ``f`` is then restricted to those directions. A kernel matrix is decomposed once for
        it (pass its Spectrum to share the decomposition between calls).
    n_classes : int, optional
        Default: the teacher's number of columns, else ``max(labels) + 1`` (at least 2).

    Returns
    -------
    SoftmaxStudent

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.kernels import gram
    >>> from hilbert_sd.soft_labels import train_kernel_softmax
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] > 0).astype(int)
    >>> student = train_kernel_softmax(gram(X, kernel="rbf", gamma=0.5), y, steps=50)
    >>> bool(student.losses[-1] < student.losses[0])
    True
    """
    if isinstance(K, Spectrum):
        spectrum, K = K, None
        n = spectrum.n
    else:
        spectrum = None
        K = check_square_symmetric(K, "K", rtol=1e-8)
        n = K.shape[0]
    a = check_scalar(a, "a", low=0.0)
    h = check_scalar(hard_weight, "hard_weight", low=0.0)
    tau = check_temperature(temperature)
    steps = check_scalar(steps, "steps", low=0, integer=True)
    ridge = check_scalar(ridge, "ridge", low=0.0)
    if teacher_logits is not None:
        T = as_float_array(teacher_logits, "teacher_logits", ndim=2)
        if T.shape[0] != n:
            raise ValueError(f"teacher_logits has {T.shape[0]} rows; expected {n}")
        if T.shape[1] < 2:
            raise ValueError(f"teacher_logits must have at least 2 columns; got {T.shape}")
        m = T.shape[1]
        if n_classes is not None and check_scalar(n_classes, "n_classes", integer=True) != m:
            raise ValueError(f"n_classes={n_classes} but teacher_logits has {m} columns")
    else:
        if a > 0:
            raise ValueError(f"a={a!r} > 0 needs teacher_logits; give them or set a=0")
        T = None
        if n_classes is None:
            y0 = check_labels(labels, n, np.iinfo(np.int64).max)
            m = max(int(y0.max()) + 1, 2)
        else:
            m = check_scalar(n_classes, "n_classes", low=2, integer=True)
    y = check_labels(labels, n, m)
    c = check_sample_weight(sample_weight, n)
    d = (c / c.sum())[None, :, None]
    Y = np.zeros((1, n, m))
    Y[0, np.arange(n), y] = 1.0
    soft = a if T is not None else 0.0
    dynamic = isinstance(weights, str) and weights == "wsl" and soft > 0
    given = check_weights_choice(weights, n)
    w_fixed = np.ones((1, n, 1)) if given is None else given[None, :, None]
    if rank is not None:
        rank = check_scalar(rank, "rank", low=1, high=n, integer=True)
    if rank is not None or spectrum is not None:
        # K was validated above: decompose without checking it again.
        spectrum = as_spectrum(K, check_input=False) if spectrum is None else spectrum
        rank = n if rank is None else rank
        U, lam = spectrum.basis(rank), spectrum.eigenvalues[:rank]
        lam_max = float(spectrum.eigenvalues[0])
    else:
        U = lam = None
        lam_max = _largest_eigenvalue(K)
    if lam_max <= 0:
        raise ValueError("K has no positive eigenvalue; gradient descent would not move")
    eta = default_learning_rate(lam_max, n) if learning_rate is None else check_scalar(
        learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    if eta * ridge >= 1.0:
        raise ValueError(f"learning_rate * ridge = {eta * ridge:.6g}; allowed: < 1 (the ridge "
                         "would flip the sign of the function every step)")
    if soft > 0:
        P = softmax(T / tau, axis=1)[None, :, None, :]
        Lt = -log_softmax(T, axis=1)[np.arange(n), y][None]
    else:
        P, Lt = None, None
    dual, F, losses, w = train_stack(
        Y=Y, labels=y[None], d=d, hard=np.array([h]), soft=np.array([soft]),
        tau=np.array([tau]), dynamic=np.array([dynamic]), w_fixed=w_fixed, P=P, Lt=Lt,
        steps=steps, eta=eta, ridge=ridge, K=None if U is not None else K[None],
        U=None if U is None else U[None], lam=None if lam is None else lam[None])
    if not np.all(np.isfinite(losses)):
        raise ValueError(f"gradient descent diverged (non-finite loss) with learning_rate="
                         f"{eta:.6g}; use a smaller step (n / lambda_max = {n / lam_max:.6g})")
    return SoftmaxStudent(dual_coef=dual[0, :, 0], train_logits=F[0, :, 0],
                          losses=losses[:, 0, 0], weights=w[0, :, 0], learning_rate=eta,
                          steps=steps, rank=rank,
                          settings={"temperature": tau, "a": a, "hard_weight": h,
                                    "weights": weights if isinstance(weights, str)
                                    else "given", "ridge": ridge})
