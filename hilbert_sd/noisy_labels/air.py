"""Anisotropic Information Retrieval (AIR) and the spectral-gap bound (:doc:`/topics/noisy_labels`).

AIR [paper: Dong et al., arXiv 1910.01255]: informative labels concentrate on the top
eigenvectors of the NTK Gram matrix H, noise spreads evenly, so gradient descent fits the
signal first and the noise later.

- :func:`energy_fraction`: ``E_k(v) = ‖V_kᵀ v‖² / ‖v‖²``, the share of ``v`` in the top-``k``
  eigen-directions (``k/n`` on average for isotropic noise [derived]).
- :func:`air_curves`: ``G_k(t)`` and ``N_k(t)``, the fitted shares of the targets' parts in
  the top-``k`` directions and in the rest, over a
  :class:`~hilbert_sd.noisy_labels.TrainingPath`.
- :func:`spectral_gap_bound`: the distance of the simultaneous "ema" limit (kernel ridge
  regression with ridge a/η) to the clean labels under a spectral gap [derived].
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar, check_targets
from hilbert_sd.spectral import as_spectrum

__all__ = ["air_curves", "energy_fraction", "spectral_gap_bound"]


def energy_fraction(K, v, k=None):
    """Anisotropic Information Retrieval: ``E_k(v) = ‖V_kᵀ v‖² / ‖v‖²``.

    The share of ``v`` in the span of the top-``k`` eigenvectors of H. Informative labels
    concentrate on the top eigenvectors; noise spreads evenly (``E_k ≈ k/n``) [paper].

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        The Gram matrix H or its spectrum (through :func:`hilbert_sd.spectral.as_spectrum`).
    v : array-like of shape (n,) or (n, m)
        For several columns the Frobenius norms are used.
    k : int or array-like of int, optional
        Number(s) of top eigenvectors, 0 .. n. Default: all, ``k = 1 .. n``.

    Returns
    -------
    float, or ndarray of shape (n,) (default) or like ``k``
    """
    spectrum = as_spectrum(K)
    v = check_targets(v, spectrum.n, "v")
    z = spectrum.project(v)
    e = z**2 if z.ndim == 1 else (z**2).sum(axis=1)
    total = e.sum()
    if total == 0:
        raise ValueError("v is the zero vector; E_k is undefined")
    cum = np.concatenate([[0.0], np.cumsum(e)]) / total
    if k is None:
        return cum[1:]
    kk = np.asarray(k)
    top = spectrum.eigenvalues.shape[0]  # n, or r + 1 on a low-rank spectrum
    if np.any(kk < 0) or np.any(kk > top) or np.any(kk != np.round(kk)):
        raise ValueError(f"k={k!r} is out of range; allowed: integers 0 .. {top}")
    out = cum[kk.astype(np.int64)]
    return float(out) if out.ndim == 0 else out


def air_curves(path, k):
    """``G_k(t)`` and ``N_k(t)`` over a training path (:doc:`/topics/noisy_labels`).

    ``G_k(t) = ‖V_kᵀ(u_t − u_0)‖² / ‖V_kᵀ ỹ‖²`` is the fitted share of the targets' part in the
    top-``k`` eigen-directions, ``N_k(t) = ‖V_{>k}ᵀ(u_t − u_0)‖² / ‖V_{>k}ᵀ ỹ‖²`` that of the
    rest (where the noise lives). Here ``u_0 = 0``.

    Parameters
    ----------
    path : TrainingPath
    k : int, 1 .. n − 1

    Returns
    -------
    G, N : ndarray of shape (T,)
    """
    n = path.n_samples
    k = check_scalar(k, "k", low=1, high=n - 1, integer=True)
    uo = path.eigen_outputs
    z = path.target_coefficients
    if uo.ndim == 2:
        uo = uo[:, :, None]
        z = z[:, None]
    top = (z[:k] ** 2).sum()
    rest = (z[k:] ** 2).sum()
    if top == 0 or rest == 0:
        raise ValueError(f"the targets have no energy in the top-{k} or the remaining "
                         "eigen-directions; G_k or N_k is undefined")
    G = (uo[:, :k] ** 2).sum(axis=(1, 2)) / top
    N = (uo[:, k:] ** 2).sum(axis=(1, 2)) / rest
    return G, N


def spectral_gap_bound(eigenvalues, k, gamma, signal_norm, noise_norm):
    """Bound on ``‖u_∞ − y*‖²`` for KRR-like self-distillation with ridge γ
    (:doc:`/topics/noisy_labels`).

    With ``y*`` in the span of the top-``k`` eigenvectors of H and the noise ``e`` in the
    rest, the limit ``u_∞ = H(H + γI)⁻¹ ỹ`` of the simultaneous "ema" rule (γ = a/η)
    satisfies [derived]

        ‖u_∞ − y*‖² ≤ (γ/(λ_k + γ))² ‖y*‖² + (λ_{k+1}/(λ_{k+1} + γ))² ‖e‖²,

    which is small under a spectral gap ``λ_k ≫ γ ≫ λ_{k+1}``; plain gradient descent ends at
    ``‖u_∞ − y*‖ = ‖e‖`` (for H of full rank).

    Parameters
    ----------
    eigenvalues : array-like of shape (n,)
        Descending.
    k : int, 1 .. n − 1
    gamma : float > 0
    signal_norm, noise_norm : float >= 0
        ``‖y*‖`` and ``‖e‖``.

    Returns
    -------
    float
    """
    lam = as_float_array(eigenvalues, "eigenvalues", ndim=1)
    k = check_scalar(k, "k", low=1, high=lam.shape[0] - 1, integer=True)
    gamma = check_scalar(gamma, "gamma", low=0.0, low_inclusive=False)
    s = check_scalar(signal_norm, "signal_norm", low=0.0)
    e = check_scalar(noise_norm, "noise_norm", low=0.0)
    lk, lk1 = lam[k - 1], lam[k]
    return float((gamma / (lk + gamma)) ** 2 * s**2 + (lk1 / (lk1 + gamma)) ** 2 * e**2)
