"""Soft labels: weighted soft labels, the bias-variance view, and kernel classification students.

theory.md §6 (Zhou et al., *Rethinking Soft Labels for Knowledge Distillation: A Bias-Variance
Tradeoff Perspective*, ICLR 2021).

- Tempered soft labels from a teacher's logits: :func:`soft_labels`, :func:`log_soft_labels`
  (softmax over the last axis, or the sigmoid for 1-D binary logits).
- Losses: :func:`true_class_cross_entropy`, :func:`soft_cross_entropy`, the weighted-soft-label
  weight :func:`wsl_weights`, and the distillation loss with its gradient with respect to the
  student's logits, :func:`distillation_loss`; :func:`regularization_samples`.
- The Heskes bias-variance decomposition of the cross-entropy over an ensemble:
  :func:`heskes_decomposition` (:class:`BiasVariance`); :func:`resample_weights` draws the
  bootstrap or fresh-subset training sets of an ensemble as sample multiplicities.
- Kernel students: kernel softmax regression trained by function-space gradient descent
  (:func:`train_kernel_softmax`, :class:`SoftmaxStudent`) and the squared-loss weighted kernel
  ridge student (:func:`weighted_kernel_ridge`, :func:`weighted_kernel_ridge_fixed_point`,
  :func:`wsl_weight_function`, :class:`WeightedKernelRidge`).

Binary problems may pass 1-D logits ``z``: they are read as the two-class logits ``(0, z)``,
so the softmax is the sigmoid ``σ(z)`` of class 1 and labels are 0 or 1.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from scipy.special import entr, expit, log_expit, log_softmax, logsumexp, softmax, xlogy

from hilbert_sd._soft_train import train_stack, wsl_from_losses
from hilbert_sd._validation import as_float_array, check_scalar, check_square_symmetric
from hilbert_sd.spectral import Spectrum, eigh_psd

__all__ = [
    "BiasVariance",
    "FixedPointWarning",
    "SoftmaxStudent",
    "WeightedKernelRidge",
    "distillation_loss",
    "heskes_decomposition",
    "log_soft_labels",
    "regularization_samples",
    "resample_weights",
    "soft_cross_entropy",
    "soft_labels",
    "train_kernel_softmax",
    "true_class_cross_entropy",
    "weighted_kernel_ridge",
    "weighted_kernel_ridge_fixed_point",
    "wsl_weight_function",
    "wsl_weights",
]

#: Rows of probabilities must sum to 1 within this absolute tolerance.
PROBABILITY_ATOL = 1e-8


class FixedPointWarning(UserWarning):
    """The damped fixed-point iteration of the weighted-KRR student did not converge."""


# ============================================================================ validation
def _check_logits(z, name):
    z = as_float_array(z, name, ndim=(1, 2))
    if z.ndim == 2 and z.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 columns (classes) or be 1-D (binary "
                         f"logits); got shape {z.shape}")
    return z


def _two_class(z):
    """1-D binary logits z -> two-class logits (0, z); 2-D logits unchanged."""
    if z.ndim == 1:
        return np.column_stack([np.zeros_like(z), z])
    return z


def _check_pair(student, teacher):
    student = _check_logits(student, "student_logits")
    teacher = _check_logits(teacher, "teacher_logits")
    if student.shape != teacher.shape:
        raise ValueError(f"student_logits has shape {student.shape} but teacher_logits has "
                         f"{teacher.shape}; they must match")
    return student, teacher


def _check_temperature(temperature, name="temperature"):
    return check_scalar(temperature, name, low=0.0, low_inclusive=False)


def _check_labels(labels, n, n_classes, name="labels"):
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have 1 dimension; got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but the logits have {n} rows; "
                         "they must match")
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
        frac = ~np.isfinite(arr) | (arr != np.round(arr))
        if frac.any():
            raise ValueError(f"{name} must hold integer class labels; got {float(arr[frac][0])!r}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = arr[(arr < 0) | (arr >= n_classes)][0]
        raise ValueError(f"{name} contains {bad}; allowed: 0 .. {n_classes - 1}")
    return arr


def _check_probabilities(P, name, *, ndim=None):
    P = as_float_array(P, name, ndim=ndim)
    if P.ndim < 1 or P.shape[-1] < 2:
        raise ValueError(f"{name} must hold probability rows over at least 2 classes (last "
                         f"axis); got shape {P.shape}")
    if P.min() < 0.0 or P.max() > 1.0:
        bad = P[(P < 0) | (P > 1)].flat[0]
        raise ValueError(f"{name} contains {bad!r}; probabilities must lie in [0, 1]")
    err = np.abs(P.sum(axis=-1) - 1.0)
    if err.max() > PROBABILITY_ATOL:
        raise ValueError(f"{name}: a row sums to {1.0 + float(err.max()):.12g} (or "
                         f"{1.0 - float(err.max()):.12g}); rows must sum to 1 within "
                         f"{PROBABILITY_ATOL:g}")
    return P


def _check_sample_weight(sample_weight, n):
    if sample_weight is None:
        return np.ones(n)
    s = as_float_array(sample_weight, "sample_weight", ndim=1)
    if s.shape[0] != n:
        raise ValueError(f"sample_weight has {s.shape[0]} entries; expected {n}")
    if s.min() < 0:
        raise ValueError(f"sample_weight contains {s.min()!r}; allowed: >= 0")
    if s.sum() <= 0:
        raise ValueError("sample_weight sums to 0; at least one sample must have weight > 0")
    return s


# ============================================================================ soft labels
def soft_labels(logits, temperature=1.0):
    """Tempered soft labels ``softmax(z / τ)`` of a teacher's logits.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
        Teacher logits; 1-D logits are binary (class-1 logit) and give ``σ(z / τ)``.
    temperature : float, default=1.0
        τ > 0. Large τ flattens the labels towards uniform, τ → 0 approaches the argmax.

    Returns
    -------
    ndarray of shape (n_samples, n_classes) or (n_samples,)
        Probabilities (rows sum to 1), or the class-1 probability for 1-D logits.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import soft_labels
    >>> soft_labels(np.array([[2.0, 0.0, -2.0]]), temperature=2.0).round(3).tolist()
    [[0.665, 0.245, 0.09]]
    """
    z = _check_logits(logits, "logits")
    tau = _check_temperature(temperature)
    if z.ndim == 1:
        return expit(z / tau)
    return softmax(z / tau, axis=1)


def log_soft_labels(logits, temperature=1.0):
    """``log softmax(z / τ)``, computed without forming the probabilities.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
        1-D logits are binary and give the two columns ``(log σ(−z/τ), log σ(z/τ))``.
    temperature : float, default=1.0

    Returns
    -------
    ndarray of shape (n_samples, n_classes), or (n_samples, 2) for 1-D logits
    """
    z = _check_logits(logits, "logits")
    tau = _check_temperature(temperature)
    if z.ndim == 1:
        return np.column_stack([log_expit(-z / tau), log_expit(z / tau)])
    return log_softmax(z / tau, axis=1)


def true_class_cross_entropy(logits, labels):
    """Cross-entropy on the true class at temperature 1: ``L_i = −log softmax(z_i)[y_i]``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)
        Integer classes (0 or 1 for 1-D logits).

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    z = _two_class(_check_logits(logits, "logits"))
    y = _check_labels(labels, z.shape[0], z.shape[1])
    return -log_softmax(z, axis=1)[np.arange(z.shape[0]), y]


def soft_cross_entropy(teacher_logits, student_logits, temperature=1.0):
    """Per-sample soft cross-entropy ``−Σ_j softmax(t/τ)_j log softmax(s/τ)_j``.

    Parameters
    ----------
    teacher_logits, student_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    temperature : float, default=1.0

    Returns
    -------
    ndarray of shape (n_samples,)
    """
    s, t = _check_pair(student_logits, teacher_logits)
    tau = _check_temperature(temperature)
    s, t = _two_class(s), _two_class(t)
    return -(softmax(t / tau, axis=1) * log_softmax(s / tau, axis=1)).sum(axis=1)


# ============================================================================ weights, loss
def wsl_weights(student_logits, teacher_logits, labels):
    """Weighted-soft-label weights ``w_i = 1 − exp(−max(0, L^s_i / (L^t_i + 10⁻⁷)))``.

    ``L^s_i``, ``L^t_i`` are the cross-entropies of student and teacher on the true class at
    temperature 1, whatever the distillation temperature (theory.md §6, from the official
    code). The weights are constants of the loss: no gradient flows through them.
    ``w_i = 1 − 1/e`` (up to the guard) where student and teacher are equally good; ``w_i`` is
    smaller where the student is already more confident in the true class than the teacher.

    Parameters
    ----------
    student_logits, teacher_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,)
        Values in [0, 1) (1.0 after rounding once ``L^s_i/L^t_i`` exceeds about 37).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import wsl_weights
    >>> z = np.array([[1.0, 0.0, -1.0]])
    >>> round(float(wsl_weights(z, z, [0])[0]), 6), round(1 - np.exp(-1), 6)
    (0.632121, 0.632121)
    """
    s, t = _check_pair(student_logits, teacher_logits)
    s2, t2 = _two_class(s), _two_class(t)
    y = _check_labels(labels, s2.shape[0], s2.shape[1])
    rows = np.arange(s2.shape[0])
    Ls = -log_softmax(s2, axis=1)[rows, y]
    Lt = -log_softmax(t2, axis=1)[rows, y]
    return wsl_from_losses(Ls, Lt)


def regularization_samples(student_logits, teacher_logits, labels):
    """Samples on which the student is already more confident than the teacher.

    The definition used in this package: sample i is a *regularization sample* when
    ``L^s_i < L^t_i``, the cross-entropies on the true class at temperature 1. These are
    exactly the samples whose weighted-soft-label weight lies below ``1 − 1/e``.

    Parameters
    ----------
    student_logits, teacher_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)

    Returns
    -------
    ndarray of shape (n_samples,), bool
    """
    s, t = _check_pair(student_logits, teacher_logits)
    return true_class_cross_entropy(s, labels) < true_class_cross_entropy(t, labels)


def _check_weights_choice(weights, n):
    """None for "wsl"/"uniform" (after checking the name), else the validated array."""
    if isinstance(weights, str):
        if weights in ("wsl", "uniform"):
            return None
        raise ValueError(f"weights={weights!r}; allowed: 'wsl', 'uniform' or an array of "
                         "shape (n_samples,) with entries >= 0")
    return _check_w(weights, n)


def _resolve_weights(weights, Ls, Lt, n):
    given = _check_weights_choice(weights, n)
    if given is not None:
        return given
    return wsl_from_losses(Ls, Lt) if weights == "wsl" else np.ones(n)


def distillation_loss(student_logits, teacher_logits, labels, *, temperature=1.0, a=1.0,
                      weights="wsl", hard_weight=1.0, sample_weight=None,
                      return_gradient=False):
    """Distillation loss with temperature, the τ² factor and per-sample soft-label weights.

    ``L = h · CE(s, y) + a τ² · mean_i(w_i · softCE_τ,i(t, s))`` with ``CE`` the mean
    cross-entropy on the true class at temperature 1 and ``softCE_τ`` the soft cross-entropy
    of :func:`soft_cross_entropy` (theory.md §6). With sample weights ``c_i`` every mean is the
    weighted mean ``Σ c_i (·)_i / Σ c_i``.

    Parameters
    ----------
    student_logits, teacher_logits : array-like of shape (n_samples, n_classes) or (n_samples,)
    labels : array-like of shape (n_samples,)
    temperature : float, default=1.0
        τ > 0 of the soft term.
    a : float, default=1.0
        Weight of the soft term, >= 0 (0: hard-label training).
    weights : {"wsl", "uniform"} or array-like of shape (n_samples,), default="wsl"
        ``"wsl"``: :func:`wsl_weights` (τ = 1, held fixed: no gradient through them);
        ``"uniform"``: ``w_i = 1`` (plain soft labels); or given non-negative weights.
    hard_weight : float, default=1.0
        Weight ``h`` >= 0 of the hard-label term (0: soft labels alone).
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative multiplicities ``c_i`` (e.g. of a bootstrap resample).
    return_gradient : bool, default=False
        Also return the gradient with respect to the student logits.

    Returns
    -------
    loss : float
    gradient : ndarray, shape of ``student_logits``
        Only with ``return_gradient``:
        ``c_i/Σc · [h (softmax(s_i) − e_{y_i}) + a τ w_i (softmax(s_i/τ) − softmax(t_i/τ))]``
        (for 1-D logits, the class-1 column of the two-class gradient).

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import distillation_loss
    >>> s = np.array([[1.0, 0.0], [0.0, 2.0]]); t = np.array([[2.0, 0.0], [0.0, 1.0]])
    >>> loss, grad = distillation_loss(s, t, [0, 1], temperature=2.0, return_gradient=True)
    >>> grad.shape
    (2, 2)
    """
    s, t = _check_pair(student_logits, teacher_logits)
    one_d = s.ndim == 1
    s2, t2 = _two_class(s), _two_class(t)
    n, m = s2.shape
    y = _check_labels(labels, n, m)
    tau = _check_temperature(temperature)
    a = check_scalar(a, "a", low=0.0)
    h = check_scalar(hard_weight, "hard_weight", low=0.0)
    c = _check_sample_weight(sample_weight, n)
    d = c / c.sum()
    rows = np.arange(n)
    logp = log_softmax(s2, axis=1)
    Ls = -logp[rows, y]
    Lt = -log_softmax(t2, axis=1)[rows, y]
    w = _resolve_weights(weights, Ls, Lt, n)
    logq = log_softmax(s2 / tau, axis=1)
    pt = softmax(t2 / tau, axis=1)
    soft_ce = -(pt * logq).sum(axis=1)
    loss = float(d @ (h * Ls + a * tau * tau * w * soft_ce))
    if not return_gradient:
        return loss
    onehot = np.zeros_like(s2)
    onehot[rows, y] = 1.0
    grad = d[:, None] * (h * (np.exp(logp) - onehot)
                         + (a * tau) * w[:, None] * (np.exp(logq) - pt))
    return loss, (grad[:, 1].copy() if one_d else grad)


# ============================================================================ Heskes
@dataclass(frozen=True, repr=False)
class BiasVariance:
    """Heskes decomposition of the expected cross-entropy of an ensemble, per sample.

    ``loss = noise + bias + variance`` with ``loss_i = E_D[−t_iᵀ log ŷ_i]``,
    ``noise_i = H(t_i)``, ``bias_i = KL(t_i ‖ ȳ_i)`` and ``variance_i = E_D KL(ȳ_i ‖ ŷ_i)``,
    ``ȳ`` the normalized geometric mean of the members' predictions; ``E_D`` is the mean over
    the members.

    Attributes
    ----------
    loss, noise, bias, variance : ndarray of shape (n_samples,)
    mean_prediction : ndarray of shape (n_samples, n_classes)
        ȳ, the normalized geometric mean.
    n_members : int
    """

    loss: np.ndarray
    noise: np.ndarray
    bias: np.ndarray
    variance: np.ndarray
    mean_prediction: np.ndarray
    n_members: int

    def totals(self):
        """Means over the samples: dict with ``loss``, ``noise``, ``bias``, ``variance``."""
        return {k: float(np.mean(getattr(self, k)))
                for k in ("loss", "noise", "bias", "variance")}

    @property
    def identity_error(self):
        """``max_i |loss_i − (noise_i + bias_i + variance_i)|`` (round-off only)."""
        return float(np.max(np.abs(self.loss - (self.noise + self.bias + self.variance))))

    def __repr__(self):
        t = self.totals()
        return (f"BiasVariance(n_samples={self.loss.shape[0]}, n_members={self.n_members}, "
                f"loss={t['loss']:.4g}, noise={t['noise']:.4g}, bias={t['bias']:.4g}, "
                f"variance={t['variance']:.4g})")


def heskes_decomposition(predictions, targets, *, log_predictions=False):
    """Bias-variance decomposition of the cross-entropy (Heskes) over an ensemble.

    ``E_D[−tᵀ log ŷ] = H(t) + KL(t ‖ ȳ) + E_D KL(ȳ ‖ ŷ)``, ``ȳ ∝ exp(E_D log ŷ)`` the
    normalized geometric mean (theory.md §6). Every term is computed from its own
    definition, so the identity is a check (:attr:`BiasVariance.identity_error`).

    Parameters
    ----------
    predictions : array-like of shape (n_members, n_samples, n_classes)
        Predicted probabilities of each member (rows in [0, 1] summing to 1, no zeros: a zero
        probability has an infinite log), or their logarithms with ``log_predictions=True``
        (e.g. ``log_soft_labels(logits)``; finite, rows with ``logsumexp = 0``).
    targets : array-like of shape (n_samples, n_classes)
        Target distributions ``t`` (one-hot rows for hard labels: zero noise).
    log_predictions : bool, default=False

    Returns
    -------
    BiasVariance

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import heskes_decomposition, log_soft_labels
    >>> rng = np.random.default_rng(0)
    >>> logp = np.stack([log_soft_labels(rng.normal(size=(5, 3))) for _ in range(4)])
    >>> bv = heskes_decomposition(logp, np.eye(3)[[0, 1, 2, 0, 1]], log_predictions=True)
    >>> bv.identity_error < 1e-12
    True
    """
    if log_predictions:
        logP = as_float_array(predictions, "predictions", ndim=3)
        err = np.abs(logsumexp(logP, axis=-1))
        if logP.shape[-1] < 2:
            raise ValueError(f"predictions must have at least 2 classes; got {logP.shape}")
        if err.max() > PROBABILITY_ATOL:
            raise ValueError("predictions are not log-probabilities: a row has logsumexp "
                             f"{float(err.max()):.3g} away from 0 (allowed: within "
                             f"{PROBABILITY_ATOL:g})")
    else:
        P = _check_probabilities(predictions, "predictions", ndim=3)
        if P.min() <= 0.0:
            raise ValueError("predictions contain a zero probability, whose log is -inf; "
                             "pass log-probabilities with log_predictions=True")
        logP = np.log(P)
    B, n, m = logP.shape
    t = _check_probabilities(targets, "targets", ndim=2)
    if t.shape != (n, m):
        raise ValueError(f"targets has shape {t.shape}; expected {(n, m)} to match the "
                         "predictions")
    mean_log = logP.mean(axis=0)
    log_ybar = mean_log - logsumexp(mean_log, axis=1, keepdims=True)
    ybar = np.exp(log_ybar)
    loss = -(t[None] * logP).sum(axis=2).mean(axis=0)
    noise = entr(t).sum(axis=1)
    bias = xlogy(t, t).sum(axis=1) - (t * log_ybar).sum(axis=1)
    variance = (ybar[None] * (log_ybar[None] - logP)).sum(axis=2).mean(axis=0)
    return BiasVariance(loss=loss, noise=noise, bias=bias, variance=variance,
                        mean_prediction=ybar, n_members=B)


def resample_weights(n_samples, n_members, *, method="bootstrap", size=None,
                     random_state=None):
    """Training sets of an ensemble as sample multiplicities over one pool of samples.

    Parameters
    ----------
    n_samples : int
        Size of the pool.
    n_members : int
    method : {"bootstrap", "fresh"}, default="bootstrap"
        ``"bootstrap"``: ``size`` draws with replacement (multinomial counts);
        ``"fresh"``: disjoint subsets of ``size`` samples, i.e. independent fresh draws from
        the data law when the pool is an i.i.d. sample of it.
    size : int, optional
        Training-set size; default ``n_samples`` (bootstrap) or ``n_samples // n_members``
        (fresh).
    random_state : int, numpy Generator or None

    Returns
    -------
    ndarray of shape (n_members, n_samples), int64
        ``counts[b, i]`` = how many times member b sees sample i.
    """
    n = check_scalar(n_samples, "n_samples", low=1, integer=True)
    B = check_scalar(n_members, "n_members", low=1, integer=True)
    rng = np.random.default_rng(random_state)
    if method == "bootstrap":
        size = n if size is None else check_scalar(size, "size", low=1, integer=True)
        return rng.multinomial(size, np.full(n, 1.0 / n), size=B).astype(np.int64)
    if method == "fresh":
        size = n // B if size is None else check_scalar(size, "size", low=1, integer=True)
        if size < 1 or size * B > n:
            raise ValueError(f"fresh subsets of size {size} for {B} members need {size * B} "
                             f"samples; the pool has {n} (allowed: 1 <= size <= n // "
                             "n_members)")
        perm = rng.permutation(n)
        counts = np.zeros((B, n), dtype=np.int64)
        for b in range(B):
            counts[b, perm[b * size:(b + 1) * size]] = 1
        return counts
    raise ValueError(f"method={method!r}; allowed: 'bootstrap', 'fresh'")


# ============================================================================ softmax student
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
        Number of top eigen-directions the iteration ran in (None: all, in sample space).
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
        """Logits at new points from ``K_new = k(X_new, X)`` of shape (n_new, n_samples)."""
        K_new = as_float_array(K_new, "K_new", ndim=2)
        n = self.dual_coef.shape[0]
        if K_new.shape[1] != n:
            raise ValueError(f"K_new must have shape (n_new, {n}); got {K_new.shape}")
        return K_new @ self.dual_coef

    def predict_proba(self, K_new, temperature=1.0):
        """``softmax(logits / τ)`` at new points."""
        return soft_labels(self.predict_logits(K_new), temperature)

    def predict(self, K_new):
        """Predicted classes (argmax of the logits) at new points."""
        return np.argmax(self.predict_logits(K_new), axis=1)

    def __repr__(self):
        st = self.settings
        return (f"SoftmaxStudent(n={self.dual_coef.shape[0]}, classes={self.dual_coef.shape[1]},"
                f" steps={self.steps}, learning_rate={self.learning_rate:.4g}, "
                f"rank={self.rank}, a={st.get('a')}, temperature={st.get('temperature')}, "
                f"final_loss={self.losses[-1]:.4g})")


def _top_eigenpairs(K, spectrum, rank):
    if spectrum is None:
        spectrum = eigh_psd(K, check_input=False)
    if not isinstance(spectrum, Spectrum):
        raise ValueError("spectrum must be a hilbert_sd.spectral.Spectrum (from eigh_psd)")
    if spectrum.eigenvectors.shape[0] != K.shape[0]:
        raise ValueError(f"spectrum has eigenvectors of length {spectrum.eigenvectors.shape[0]};"
                         f" the kernel matrix has {K.shape[0]} rows")
    if rank > spectrum.eigenvalues.shape[0]:
        raise ValueError(f"rank={rank} exceeds the {spectrum.eigenvalues.shape[0]} eigenpairs "
                         "of spectrum")
    return spectrum.eigenvectors[:, :rank], spectrum.eigenvalues[:rank]


def _largest_eigenvalue(K):
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
    """
    return float(n_samples) / float(lambda_max)


def train_kernel_softmax(K, labels, *, teacher_logits=None, temperature=1.0, a=0.0,
                         weights="wsl", hard_weight=1.0, sample_weight=None, steps=100,
                         learning_rate=None, ridge=0.0, rank=None, spectrum=None,
                         n_classes=None):
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
    K : array-like of shape (n_samples, n_samples)
        Kernel matrix (symmetric PSD).
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
        ``f`` is then restricted to those directions. None: the exact iteration in sample
        space.
    spectrum : Spectrum, optional
        Eigendecomposition of K (:func:`hilbert_sd.spectral.eigh_psd`) to reuse with ``rank``.
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
    K = check_square_symmetric(K, "K", rtol=1e-8)
    n = K.shape[0]
    a = check_scalar(a, "a", low=0.0)
    h = check_scalar(hard_weight, "hard_weight", low=0.0)
    tau = _check_temperature(temperature)
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
            y0 = _check_labels(labels, n, np.iinfo(np.int64).max)
            m = max(int(y0.max()) + 1, 2)
        else:
            m = check_scalar(n_classes, "n_classes", low=2, integer=True)
    y = _check_labels(labels, n, m)
    c = _check_sample_weight(sample_weight, n)
    d = (c / c.sum())[None, :, None]
    Y = np.zeros((1, n, m))
    Y[0, np.arange(n), y] = 1.0
    soft = a if T is not None else 0.0
    dynamic = isinstance(weights, str) and weights == "wsl" and soft > 0
    given = _check_weights_choice(weights, n)
    w_fixed = np.ones((1, n, 1)) if given is None else given[None, :, None]
    if rank is not None:
        rank = check_scalar(rank, "rank", low=1, high=n, integer=True)
        U, lam = _top_eigenpairs(K, spectrum, rank)
        lam_max = float(lam[0])
    else:
        U = lam = None
        lam_max = float(spectrum.eigenvalues[0]) if spectrum is not None \
            else _largest_eigenvalue(K)
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
        steps=steps, eta=eta, ridge=ridge, K=None if rank is not None else K[None],
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


# ============================================================================ weighted KRR
@dataclass(repr=False)
class WeightedKernelRidge:
    """The squared-loss weighted kernel ridge student (theory.md §6).

    Attributes
    ----------
    dual_coef : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        ``c`` with ``f = k(·, X) c``.
    train_predictions : ndarray, shape of ``dual_coef``
        ``f(X) = K c``.
    weights : ndarray of shape (n_samples,)
        The soft-label weights ``w`` the solution was computed with.
    a, ridge : float
    n_iter : int
        Linear solves performed (1 for static weights).
    converged : bool
        True for static weights; for the fixed point, whether ``max|w_new − w| <= tol``.
    weight_changes : ndarray of shape (n_iter,)
        ``max|w_new − w|`` after each solve of the fixed-point iteration (empty when static).
    """

    dual_coef: np.ndarray
    train_predictions: np.ndarray
    weights: np.ndarray
    a: float
    ridge: float
    n_iter: int = 1
    converged: bool = True
    weight_changes: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def predict(self, K_new):
        """``f(X_new) = K_new c`` from ``K_new = k(X_new, X)`` of shape (n_new, n_samples)."""
        K_new = as_float_array(K_new, "K_new", ndim=2)
        n = self.dual_coef.shape[0]
        if K_new.shape[1] != n:
            raise ValueError(f"K_new must have shape (n_new, {n}); got {K_new.shape}")
        return K_new @ self.dual_coef

    def __repr__(self):
        return (f"WeightedKernelRidge(n={self.dual_coef.shape[0]}, a={self.a:g}, "
                f"ridge={self.ridge:g}, n_iter={self.n_iter}, converged={self.converged})")


def _krr_inputs(K, y, teacher_targets, a, ridge, sample_weight):
    K = check_square_symmetric(K, "K", rtol=1e-8)
    n = K.shape[0]
    y = as_float_array(y, "y", ndim=(1, 2))
    t = as_float_array(teacher_targets, "teacher_targets", ndim=(1, 2))
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} rows but K has {n}; they must match")
    if t.shape != y.shape:
        raise ValueError(f"teacher_targets has shape {t.shape}; expected {y.shape} (that of y)")
    a = check_scalar(a, "a", low=0.0)
    ridge = check_scalar(ridge, "ridge", low=0.0, low_inclusive=False)
    s = _check_sample_weight(sample_weight, n)
    return K, y, t, a, ridge, s


def _krr_solve(K, y, t, w, a, ridge, s):
    """``c = Ω^{1/2} (Ω^{1/2} K Ω^{1/2} + γ I)⁻¹ Ω^{1/2} m``: symmetric positive definite."""
    aw = a * w
    omega_root = np.sqrt(s * (1.0 + aw))
    shape = (-1,) + (1,) * (y.ndim - 1)
    # 1 + a w >= 1: the division is safe; it is m_i = (y_i + a w_i t_i) / ω_i for s_i = 1.
    target = (y + aw.reshape(shape) * t) / (1.0 + aw).reshape(shape)
    A = omega_root[:, None] * K * omega_root[None, :]
    A[np.diag_indices_from(A)] += ridge
    rhs = omega_root.reshape(shape) * target
    dvec = scipy.linalg.solve(A, rhs, assume_a="pos", check_finite=False)
    c = omega_root.reshape(shape) * dvec
    return c, K @ c


def _check_w(weights, n):
    w = as_float_array(weights, "weights", ndim=1)
    if w.shape[0] != n:
        raise ValueError(f"weights has {w.shape[0]} entries; expected {n}")
    if w.min() < 0:
        raise ValueError(f"weights contains {w.min()!r}; allowed: >= 0")
    return w


def weighted_kernel_ridge(K, y, teacher_targets, weights, *, a=1.0, ridge=1.0,
                          sample_weight=None):
    """Squared-loss weighted kernel ridge student with static soft-label weights.

    Minimizes ``Σ_i s_i [(f_i − y_i)² + a w_i (f_i − t_i)²] + γ ‖f‖²_H`` with ``t`` the
    teacher's predictions (theory.md §6, derived design): ``f = K c`` with
    ``c = (ΩK + γI)⁻¹ Ω m``, ``ω_i = s_i (1 + a w_i)``, ``m_i = (y_i + a w_i t_i)/(1 + a w_i)``.
    Solved in the symmetric positive-definite form
    ``(Ω^{1/2} K Ω^{1/2} + γI) d = Ω^{1/2} m``, ``c = Ω^{1/2} d`` (Cholesky; no inverse).

    Parameters
    ----------
    K : array-like of shape (n_samples, n_samples)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Labels (e.g. one-hot rows).
    teacher_targets : array-like, shape of ``y``
        The teacher's predictions t (e.g. its soft labels at a temperature).
    weights : array-like of shape (n_samples,)
        ``w_i >= 0``, e.g. :func:`wsl_weights` of a reference fit (static weights).
        All zeros: kernel ridge regression on ``y``; all ones: kernel ridge regression on the
        fixed mix ``(y + a t)/(1 + a)`` with ridge ``γ/(1 + a)`` [derived].
    a : float, default=1.0
        Weight of the teacher term, >= 0.
    ridge : float, default=1.0
        γ > 0, scikit-learn's ``alpha`` convention (unnormalized K).
    sample_weight : array-like of shape (n_samples,), optional
        ``s_i >= 0`` (e.g. bootstrap counts); default 1.

    Returns
    -------
    WeightedKernelRidge

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.soft_labels import weighted_kernel_ridge
    >>> K = np.array([[2.0, 1.0], [1.0, 2.0]])
    >>> fit = weighted_kernel_ridge(K, [1.0, 0.0], [0.8, 0.2], [0.5, 0.5], a=1.0, ridge=0.1)
    >>> fit.train_predictions.shape
    (2,)
    """
    K, y, t, a, ridge, s = _krr_inputs(K, y, teacher_targets, a, ridge, sample_weight)
    w = _check_w(weights, K.shape[0])
    c, f = _krr_solve(K, y, t, w, a, ridge, s)
    return WeightedKernelRidge(dual_coef=c, train_predictions=f, weights=w.copy(), a=a,
                               ridge=ridge)


def wsl_weight_function(teacher_logits, labels, *, student_output="probabilities",
                        floor=1e-12):
    """The map ``f(X) ↦ w`` of the weighted-soft-label weights for a regression student.

    Parameters
    ----------
    teacher_logits : array-like of shape (n_samples, n_classes)
    labels : array-like of shape (n_samples,)
    student_output : {"probabilities", "logits"}, default="probabilities"
        How the student's outputs ``F`` are read: as class probabilities (a squared-loss
        student regressing one-hot rows and soft labels; they are clipped to
        ``[floor, 1]`` and renormalized, so ``L^s_i = −log(F_iy / Σ_j F_ij)``), or as logits.
    floor : float, default=1e-12

    Returns
    -------
    callable
        ``weight_function(F) -> ndarray of shape (n_samples,)``, :func:`wsl_weights` of the
        student read this way against the teacher.
    """
    T = _check_logits(teacher_logits, "teacher_logits")
    T2 = _two_class(T)
    y = _check_labels(labels, T2.shape[0], T2.shape[1])
    rows = np.arange(T2.shape[0])
    Lt = -log_softmax(T2, axis=1)[rows, y]
    floor = check_scalar(floor, "floor", low=0.0, high=1.0, low_inclusive=False)
    if student_output not in ("probabilities", "logits"):
        raise ValueError(f"student_output={student_output!r}; allowed: 'probabilities', "
                         "'logits'")

    def weight_function(F):
        F = np.asarray(F, dtype=np.float64)
        if F.shape != T.shape:
            raise ValueError(f"student outputs have shape {F.shape}; expected {T.shape}")
        F2 = _two_class(F) if student_output == "logits" else (
            np.column_stack([1.0 - F, F]) if F.ndim == 1 else F)
        if student_output == "logits":
            Ls = -log_softmax(F2, axis=1)[rows, y]
        else:
            Q = np.clip(F2, floor, 1.0)
            Ls = np.log(Q.sum(axis=1)) - np.log(Q[rows, y])
        return wsl_from_losses(Ls, Lt)

    return weight_function


def weighted_kernel_ridge_fixed_point(K, y, teacher_targets, weight_function, *, a=1.0,
                                      ridge=1.0, sample_weight=None, damping=0.5, tol=1e-8,
                                      max_iter=50, initial_weights=None):
    """Weighted kernel ridge student whose weights are a fixed point of the student itself.

    Seeks ``w* = weight_function(f(w*))`` by the damped iteration
    ``w ← w + δ (weight_function(f(w)) − w)``, each ``f(w)`` the closed form of
    :func:`weighted_kernel_ridge`. Starts from ``initial_weights`` or, by default, from the
    weights of the reference fit ``f(0)`` (kernel ridge regression on the labels). Stops when
    ``max|weight_function(f(w)) − w| <= tol`` (converged; the returned solution is ``f(w)``)
    or after ``max_iter`` solves (a :class:`FixedPointWarning`).

    Parameters
    ----------
    K, y, teacher_targets, a, ridge, sample_weight
        As in :func:`weighted_kernel_ridge`.
    weight_function : callable
        ``F -> w`` with ``F`` the training predictions (shape of ``y``), e.g.
        :func:`wsl_weight_function`.
    damping : float in (0, 1], default=0.5
        Step δ of the damped iteration (1: plain fixed-point iteration).
    tol : float, default=1e-8
    max_iter : int, default=50
    initial_weights : array-like of shape (n_samples,), optional

    Returns
    -------
    WeightedKernelRidge
        With ``n_iter`` (solves, the reference fit excluded), ``converged`` and
        ``weight_changes``.
    """
    K, y, t, a, ridge, s = _krr_inputs(K, y, teacher_targets, a, ridge, sample_weight)
    n = K.shape[0]
    if not callable(weight_function):
        raise ValueError(f"weight_function={weight_function!r} is not callable; allowed: a "
                         "callable F -> weights of shape (n,)")
    damping = check_scalar(damping, "damping", low=0.0, high=1.0, low_inclusive=False)
    tol = check_scalar(tol, "tol", low=0.0)
    max_iter = check_scalar(max_iter, "max_iter", low=1, integer=True)

    def evaluate(F):
        w_new = np.asarray(weight_function(F), dtype=np.float64)
        if w_new.shape != (n,):
            raise ValueError(f"weight_function returned shape {w_new.shape}; expected ({n},)")
        bad = ~np.isfinite(w_new) | (w_new < 0)
        if bad.any():
            raise ValueError(f"weight_function returned the weight {float(w_new[bad][0])!r}; "
                             "allowed: finite weights >= 0")
        return w_new

    if initial_weights is None:
        _, f0 = _krr_solve(K, y, t, np.zeros(n), a, ridge, s)
        w = evaluate(f0)
    else:
        w = _check_w(initial_weights, n).copy()
    changes = []
    converged = False
    for _ in range(max_iter):
        c, f = _krr_solve(K, y, t, w, a, ridge, s)
        w_new = evaluate(f)
        change = float(np.max(np.abs(w_new - w)))
        changes.append(change)
        if change <= tol:
            converged = True
            break
        if len(changes) < max_iter:
            w = w + damping * (w_new - w)
    if not converged:
        warnings.warn(f"the weighted-KRR fixed point did not converge in {max_iter} solves: "
                      f"max|w_new - w| = {changes[-1]:.3g} > tol = {tol:g}; try a smaller "
                      "damping or more iterations", FixedPointWarning, stacklevel=2)
    return WeightedKernelRidge(dual_coef=c, train_predictions=f, weights=w.copy(), a=a,
                               ridge=ridge, n_iter=len(changes), converged=converged,
                               weight_changes=np.asarray(changes))
