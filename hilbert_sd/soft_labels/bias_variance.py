"""The Heskes bias-variance decomposition of the cross-entropy over an ensemble
(:doc:`/topics/soft_labels`).

For an ensemble of predictions ``ŷ^(b)`` (students trained on resampled training sets ``D_b``)
and target distributions ``t`` (one-hot rows for hard labels),

    E_D[−tᵀ log ŷ] = H(t) + KL(t ‖ ȳ) + E_D KL(ȳ ‖ ŷ),    ȳ ∝ exp(E_D log ŷ),

noise, bias and variance, ``ȳ`` the normalized geometric mean of the members (Heskes'
decomposition of the cross-entropy, with which Zhou et al., ICLR 2021, analyse soft labels)
[paper]. With ``Z = Σ_j exp(E_D log ŷ_j)``
the variance is ``−log Z ≥ 0`` (a geometric mean is at most the arithmetic mean), 0 exactly
when all members agree, and the three terms add up to the loss [derived].

- :func:`heskes_decomposition` computes every term from its own definition, per sample, so
  the identity is a check (:class:`BiasVariance`, ``identity_error``).
- :func:`resample_weights` draws the members' training sets as sample multiplicities over one
  pool: bootstrap counts, or disjoint subsets (independent fresh draws from the data law when
  the pool is an i.i.d. sample of it).
"""

from dataclasses import dataclass

import numpy as np
from scipy.special import entr, logsumexp, xlogy

from hilbert_sd._validation import as_float_array, check_scalar
from hilbert_sd.soft_labels._checks import PROBABILITY_ATOL, check_probabilities

__all__ = ["BiasVariance", "heskes_decomposition", "resample_weights"]


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
    normalized geometric mean (:doc:`/topics/soft_labels`). Every term is computed from its own
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
        P = check_probabilities(predictions, "predictions", ndim=3)
        if P.min() <= 0.0:
            raise ValueError("predictions contain a zero probability, whose log is -inf; "
                             "pass log-probabilities with log_predictions=True")
        logP = np.log(P)
    B, n, m = logP.shape
    t = check_probabilities(targets, "targets", ndim=2)
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
