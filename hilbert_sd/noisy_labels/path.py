"""The training path of one noisy-label run: a :class:`~hilbert_sd.spectral.SpectralPath`.

Point t of the path is the network function after ``times[t]`` steps,
``f_t(x) = k(x, X) U d_t`` with the eigen-dual coefficients ``d_t``; the training outputs are
``u_t = U (λ ⊙ d_t)``. Everything goes through the :class:`~hilbert_sd.spectral.Spectrum`
methods (``reconstruct``, ``project_rows``), so the Gram matrix is never inverted and the
eigenvector matrix never handled here.

The linear rules (gradient descent, "ema", soft "anchored" with a constant or scheduled weight)
are per-eigenvalue filters of the targets, ``d_t = g_t ⊙ Uᵀỹ`` and ``u_t = U diag(λ g_t) Uᵀỹ``
[derived, :doc:`/topics/noisy_labels`]; the path stores the dual filters ``g_t``. The explicitly
iterated rules (hard targets, the accuracy weight) are not linear in the targets: their path stores
the coefficients ``d_t`` themselves and has no filters.
"""

import numpy as np

from hilbert_sd.spectral import SpectralPath

__all__ = ["TrainingPath"]


class TrainingPath(SpectralPath):
    """Training outputs and functions of one run of :func:`~hilbert_sd.noisy_labels.train`.

    A :class:`~hilbert_sd.spectral.SpectralPath` over the recorded steps: an index of None
    means every recorded step. ``T`` is the number of recorded steps, ``m`` the number of
    output columns (absent for 1-D targets). Every function of the path is
    ``f_t(x) = k(x, X) U d_t`` with the eigen-dual coefficients ``d_t`` (:attr:`eigen_dual`);
    the training outputs are ``u_t = U (λ ⊙ d_t)``. Built by
    :func:`~hilbert_sd.noisy_labels.train`.

    Parameters
    ----------
    spectrum : Spectrum
        The eigendecomposition of H.
    target_coefficients : ndarray of shape (n, m)
        ``Uᵀ ỹ``.
    y_ndim : {1, 2}
        Dimension of the targets.
    times : ndarray of shape (T,)
    rule : str
    settings : dict
    learning_rate : float
    dual_filter : ndarray of shape (T, n), optional
        For the linear rules: ``g_t`` with ``d_t = g_t ⊙ Uᵀ ỹ`` (0 on numerically null
        directions).
    eigen_dual : ndarray of shape (T, n, m), optional
        For the explicitly iterated rules: the coefficients ``d_t``. Exactly one of the two.
    refresh_log : dict, optional

    Attributes
    ----------
    times : ndarray of shape (T,)
        Step counts (``inf`` for a limit), non-decreasing.
    rule : str
        ``"gd"``, ``"ema"`` or ``"anchored"``.
    settings : dict
        The rule's parameters (``a``, ``ema_form``, ``anchor``, ``refresh``).
    learning_rate : float
        The step η (un-normalized: one step is ``η H``).
    spectrum : Spectrum
        The eigendecomposition of H.
    refresh_log : dict of ndarray or None
        For the explicitly iterated rules: ``"steps"`` at which the data-dependent targets were
        refreshed, the mixing weight ``"a"`` used from each and the training ``"accuracy"``
        against the noisy labels there.
    """

    def __init__(self, spectrum, target_coefficients, y_ndim, times, *, rule, settings,
                 learning_rate, dual_filter=None, eigen_dual=None, refresh_log=None):
        super().__init__(spectrum, target_coefficients, y_ndim)
        if (dual_filter is None) == (eigen_dual is None):
            raise ValueError("give exactly one of dual_filter (linear rules) and eigen_dual "
                             "(explicitly iterated rules)")
        self.times = times
        self.rule = rule
        self.settings = settings
        self.learning_rate = learning_rate
        self.refresh_log = refresh_log
        if dual_filter is not None:
            self._G = dual_filter[:, :, None]  # (T, n, 1)
            self._E = spectrum.eigenvalues[None, :, None] * self._G
            self._D = None
        else:
            self._G = self._E = None
            self._D = eigen_dual  # (T, n, m)

    # ---- SpectralPath --------------------------------------------------------------------
    def __len__(self):
        return self.times.shape[0]

    def _filter_rows(self, idx):
        if self._E is None:
            weight = self.settings.get("a")
            which = ("hard targets" if self.settings.get("anchor") == "hard"
                     else f"the weight a={weight!r}")
            raise ValueError(
                f"this {self.rule!r} path (with {which}) was iterated explicitly: its targets "
                "depend non-linearly on the outputs, so it is not a linear filter of the "
                "targets and has no filters; allowed: the linear rules 'gd', 'ema' and soft "
                "'anchored' with a constant or scheduled weight. Use train_outputs(), "
                "eigen_outputs or dual_coef() instead")
        return self._E[idx]

    def _fit_coefficients(self, idx):
        if self._E is not None:
            return self._E[idx] * self._z
        return self.eigenvalues[None, :, None] * self._D[idx]

    def _dual_coefficients(self, idx):
        if self._G is not None:
            return self._G[idx] * self._z
        return self._D[idx]

    # ---- attributes of the eigen-coefficients ----------------------------------------------
    def _squeeze(self, arr):
        return arr[..., 0] if self._y_ndim == 1 else arr

    @property
    def target_coefficients(self):
        """``z = Uᵀ ỹ``, the eigen-coefficients of the (noisy) targets: (n,) or (n, m)."""
        return self._squeeze(self._z)

    @property
    def eigen_dual(self):
        """``Uᵀ c_t`` for the dual coefficients ``c_t`` (``f_t = k(·, X) c_t``).

        ndarray of shape (T, n) or (T, n, m). Zero in the numerically null eigen-directions
        (eigenvalue at or below the spectrum's rank tolerance), which carry no function.
        """
        return self._squeeze(self._dual_coefficients(np.arange(len(self))))

    @property
    def eigen_outputs(self):
        """``Uᵀ u_t = λ ⊙ d_t``: eigen-coefficients of the training outputs, shape like
        :attr:`eigen_dual`."""
        return self._squeeze(self._fit_coefficients(np.arange(len(self))))

    @property
    def filters(self):
        """Train filters ``h_t`` (T, n) of the linear rules: ``u_t = U diag(h_t) Uᵀ ỹ``.

        ``h_t = λ g_t`` with the dual filter ``g_t``: ``1 − (1 − ηλ)^t`` for gradient descent,
        ``1 − (1 − ηλ(1 − a))^t`` for the soft anchored rule with a constant weight and
        ``ηλ S_t(w)`` for "ema" (see :func:`~hilbert_sd.noisy_labels.train`). The same
        filter for every output column.

        Raises
        ------
        ValueError
            For the explicitly iterated rules (hard targets, accuracy weight), which are not
            linear filters of the targets.
        """
        return super().filters

    # ---- the historical names --------------------------------------------------------------
    def train_outputs(self, index=None):
        """Training outputs ``u_t`` at the recorded step(s) ``index`` (default: all).

        The same as :meth:`train_predictions`.

        Returns
        -------
        ndarray of shape (T, n[, m]), or (n[, m]) for a scalar index
        """
        return self.train_predictions(index)

    def __repr__(self):
        t = self.times
        span = f"{t[0]:g}..{t[-1]:g}" if t.size else "none"
        extra = ", ".join(f"{k}={v!r}" for k, v in self.settings.items() if v is not None)
        return (f"TrainingPath(rule={self.rule!r}, n={self.n_samples}, "
                f"learning_rate={self.learning_rate:.4g}, steps={span} ({t.size} recorded)"
                + (f", {extra}" if extra else "") + ")")
