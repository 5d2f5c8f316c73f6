"""Noisy labels in the kernel (NTK) regime: self-distillation vs early stopping, and AIR.

theory.md §5. In the kernel regime the training outputs of a wide network follow

    u_{t+1} = u_t − η H (u_t − y_t),        u_0 = 0,

with H the NTK Gram matrix and y_t the targets of step t (the un-normalized step ``η H``).
Everything here happens in the eigenbasis ``H = U diag(λ) Uᵀ`` (one eigendecomposition): the
linear rules have a closed form per eigenvalue at any step count; only the rules whose targets
depend non-linearly on the outputs (hard targets, a mixing weight equal to the training
accuracy) are iterated, and then only at the steps where those targets are refreshed.

- :func:`add_label_noise`: label-noise models with a recorded seed (:class:`LabelNoise`).
- :func:`train`: gradient descent and the two self-distillation readings ("ema", "anchored"),
  returning a :class:`TrainingPath` (training outputs, dual coefficients, predictions at new
  points without inverting H).
- :func:`energy_fraction`, :func:`air_curves`: Anisotropic Information Retrieval measurements.
- :func:`spectral_gap_bound`, :func:`stability_limit`: the bounds of theory.md §5.
"""

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from hilbert_sd._noisy_filters import geometric_sum, geometric_sums, power, schedule_sums
from hilbert_sd._validation import as_float_array, check_scalar, check_targets
from hilbert_sd.datasets import _as_labels
from hilbert_sd.exceptions import NumericalWarning
from hilbert_sd.spectral import Spectrum, eigh_psd

__all__ = [
    "NOISE_MODELS",
    "RULES",
    "LabelNoise",
    "TrainingPath",
    "accuracy",
    "add_label_noise",
    "air_curves",
    "energy_fraction",
    "predicted_labels",
    "spectral_gap_bound",
    "stability_limit",
    "train",
    "train_many",
]

#: Label-noise models of :func:`add_label_noise`.
NOISE_MODELS = ("symmetric", "symmetric_other", "pair")
#: Training rules of :func:`train`.
RULES = ("gd", "ema", "anchored")
_EMA_FORMS = ("sequential", "simultaneous")
_ANCHORS = ("soft", "hard")


# ============================================================================ label noise
@dataclass(frozen=True, repr=False)
class LabelNoise:
    """Noisy labels and the record of how they were made (:func:`add_label_noise`).

    Attributes
    ----------
    labels : ndarray of shape (n_samples,), int64
        The noisy labels ỹ.
    clean : ndarray of shape (n_samples,), int64
        The labels they were made from.
    mask : ndarray of shape (n_samples,), bool
        Realized noise: True where the noisy label differs from the clean one.
    model : str
        One of :data:`NOISE_MODELS`.
    rate : float
        Probability that a label is corrupted (see :func:`add_label_noise`).
    seed : int
        Seed of the draw; ``add_label_noise(clean, rate, model=model, random_state=seed)``
        reproduces it.
    n_classes : int
    """

    labels: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    model: str
    rate: float
    seed: int
    n_classes: int

    @property
    def realized_rate(self):
        """Fraction of labels that differ from the clean ones."""
        return float(self.mask.mean()) if self.mask.size else 0.0

    @property
    def transition_matrix(self):
        """``T[i, j] = P(noisy = j | clean = i)`` of the model, ndarray of shape (m, m)."""
        return noise_transition_matrix(self.model, self.rate, self.n_classes)

    def record(self):
        """The model, rate, seed and realized rate as a JSON-ready dict."""
        return {
            "model": self.model,
            "rate": self.rate,
            "seed": self.seed,
            "n_classes": self.n_classes,
            "n_samples": int(self.labels.shape[0]),
            "n_flipped": int(self.mask.sum()),
            "realized_rate": self.realized_rate,
        }

    def __repr__(self):
        return (f"LabelNoise(model={self.model!r}, rate={self.rate:g}, seed={self.seed}, "
                f"n={self.labels.shape[0]}, realized_rate={self.realized_rate:.4f})")


def noise_transition_matrix(model, rate, n_classes):
    """Expected transition matrix ``T[i, j] = P(noisy = j | clean = i)`` of a noise model.

    Parameters
    ----------
    model : {"symmetric", "symmetric_other", "pair"}
    rate : float in [0, 1]
    n_classes : int >= 2

    Returns
    -------
    T : ndarray of shape (n_classes, n_classes); rows sum to 1
    """
    model = _check_choice(model, "model", NOISE_MODELS)
    rate = check_scalar(rate, "rate", low=0.0, high=1.0)
    m = check_scalar(n_classes, "n_classes", low=2, integer=True)
    eye = np.eye(m)
    if model == "symmetric":
        return (1.0 - rate) * eye + rate / m
    if model == "symmetric_other":
        return (1.0 - rate) * eye + rate / (m - 1) * (1.0 - eye)
    return (1.0 - rate) * eye + rate * np.roll(eye, 1, axis=1)


def add_label_noise(labels, rate, *, model="symmetric", n_classes=None, random_state=None):
    """Corrupt class labels with a label-noise model and record the draw.

    Each label is hit independently with probability ``rate``; a hit label is

    - ``"symmetric"``: redrawn uniformly from all ``m`` classes (it may stay the same, so the
      expected fraction of changed labels is ``rate (m − 1)/m``);
    - ``"symmetric_other"``: replaced by one of the ``m − 1`` other classes, uniformly;
    - ``"pair"``: replaced by the next class, ``(y + 1) mod m``.

    The uniforms that decide the hits are drawn first and the same way for every model, so for
    one seed the hit sets are nested in ``rate`` and identical across models.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Clean integer labels in ``0 .. n_classes - 1``.
    rate : float in [0, 1]
    model : {"symmetric", "symmetric_other", "pair"}, default="symmetric"
    n_classes : int, optional
        Default ``max(labels) + 1`` (at least 2).
    random_state : int or None, default=None
        Seed. None draws a fresh seed from the operating system and records it, so every draw
        can be reproduced from :attr:`LabelNoise.seed`.

    Returns
    -------
    LabelNoise

    Examples
    --------
    >>> from hilbert_sd.noisy_labels import add_label_noise
    >>> noise = add_label_noise([0, 1, 2, 0, 1, 2] * 50, 0.4, model="pair", random_state=0)
    >>> noise.seed, noise.model, bool(noise.mask.any())
    (0, 'pair', True)
    """
    clean = _as_labels(labels, "labels")
    model = _check_choice(model, "model", NOISE_MODELS)
    rate = check_scalar(rate, "rate", low=0.0, high=1.0)
    top = int(clean.max()) + 1 if clean.size else 0
    m = max(top, 2) if n_classes is None else check_scalar(n_classes, "n_classes", low=2,
                                                            integer=True)
    if top > m:
        raise ValueError(f"labels contain class {top - 1}, out of range for n_classes={m}; "
                         f"allowed: 0 .. {m - 1}")
    if random_state is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(random_state, (numbers.Integral, np.integer)) and \
            not isinstance(random_state, bool) and random_state >= 0:
        seed = int(random_state)
    else:
        raise ValueError(f"random_state={random_state!r} is not supported; allowed: an "
                         "integer >= 0 or None (the seed must be recordable)")
    rng = np.random.default_rng(seed)
    n = clean.shape[0]
    hit = rng.random(n) < rate
    if model == "symmetric":
        new = rng.integers(0, m, n)
    elif model == "symmetric_other":
        new = (clean + rng.integers(1, m, n)) % m
    else:
        new = (clean + 1) % m
    noisy = np.where(hit, new, clean).astype(np.int64)
    return LabelNoise(labels=noisy, clean=clean.copy(), mask=noisy != clean, model=model,
                      rate=rate, seed=seed, n_classes=m)


# ============================================================================ predictions
def _predicted(outputs, one_d):
    if one_d:
        return np.sign(outputs).astype(np.int64)
    top = outputs.max(axis=-1, keepdims=True)
    pred = outputs.argmax(axis=-1).astype(np.int64)
    ties = (outputs == top).sum(axis=-1) > 1
    return np.where(ties, -1, pred)


def predicted_labels(outputs, *, one_d=None):
    """Class predicted by each row of network outputs: argmax, or sign for 1-D targets.

    A row without a unique maximum (e.g. the outputs of the zero function) predicts nothing
    and is marked ``-1`` (sign ``0`` for 1-D targets), so it never counts as correct.

    Parameters
    ----------
    outputs : ndarray of shape (..., n_samples, m), or (..., n_samples) with ``one_d=True``
    one_d : bool, optional
        Whether the targets are 1-D (labels ±1, prediction ``sign``). Default: True when
        ``outputs`` is 1-D.

    Returns
    -------
    ndarray of int64, shape (..., n_samples)
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if one_d is None:
        one_d = outputs.ndim == 1
    return _predicted(outputs, one_d)


def accuracy(outputs, labels, *, one_d=None):
    """Fraction of rows whose predicted class equals ``labels`` (see :func:`predicted_labels`).

    Parameters
    ----------
    outputs : ndarray of shape (..., n_samples, m), or (..., n_samples) with ``one_d=True``
    labels : array-like of shape (n_samples,)
        Integer classes (argmax) or ±1 (sign).
    one_d : bool, optional
        As in :func:`predicted_labels`.

    Returns
    -------
    float, or ndarray of shape (...) for stacked outputs
    """
    outputs = np.asarray(outputs, dtype=np.float64)
    if one_d is None:
        one_d = outputs.ndim == 1
    labels = np.asarray(labels)
    pred = _predicted(outputs, one_d)
    if pred.shape[-1] != labels.shape[0]:
        raise ValueError(f"outputs have {pred.shape[-1]} samples but labels has "
                         f"{labels.shape[0]}; they must match")
    acc = (pred == labels).mean(axis=-1)
    return float(acc) if np.ndim(acc) == 0 else acc


# ============================================================================ training path
@dataclass(repr=False)
class TrainingPath:
    """Training outputs and functions of one run of :func:`train`, at the recorded steps.

    ``T`` is the number of recorded steps, ``m`` the number of output columns (absent for 1-D
    targets). Every function of the path is ``f_t(x) = k(x, X) U d_t`` with the eigen-dual
    coefficients ``d_t`` (:attr:`eigen_dual`); the training outputs are ``u_t = U (λ ⊙ d_t)``.

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
    eigen_dual : ndarray of shape (T, n) or (T, n, m)
        ``Uᵀ c_t`` for the dual coefficients ``c_t`` (``f_t = k(·, X) c_t``). Zero in the
        numerically null eigen-directions (eigenvalue at or below the spectrum's rank
        tolerance), which carry no function.
    target_coefficients : ndarray of shape (n,) or (n, m)
        ``z = Uᵀ ỹ``, the eigen-coefficients of the (noisy) targets.
    refresh_log : dict of ndarray or None
        For the explicitly iterated rules: ``"steps"`` at which the data-dependent targets were
        refreshed, the mixing weight ``"a"`` used from each and the training ``"accuracy"``
        against the noisy labels there.
    """

    times: np.ndarray
    rule: str
    settings: dict
    learning_rate: float
    spectrum: Spectrum
    eigen_dual: np.ndarray
    target_coefficients: np.ndarray
    refresh_log: dict = field(default=None)

    @property
    def eigenvalues(self):
        """Eigenvalues of H, descending."""
        return self.spectrum.eigenvalues

    @property
    def n_samples(self):
        return self.spectrum.n

    def _index(self, index):
        T = self.times.shape[0]
        if index is None:
            return np.arange(T), False
        if np.ndim(index) == 0:
            i = int(index)
            if not -T <= i < T:
                raise ValueError(f"index={index} is out of range; allowed: {-T} .. {T - 1}")
            return np.array([i % T]), True
        idx = np.asarray(index, dtype=np.int64)
        if idx.size and (idx.min() < -T or idx.max() >= T):
            raise ValueError(f"index out of range; allowed: {-T} .. {T - 1}")
        return idx % T, False

    @property
    def eigen_outputs(self):
        """``Uᵀ u_t = λ ⊙ d_t``: eigen-coefficients of the training outputs, shape like
        :attr:`eigen_dual`."""
        lam = self.eigenvalues
        shape = (1, -1) + (1,) * (self.eigen_dual.ndim - 2)
        return lam.reshape(shape) * self.eigen_dual

    def train_outputs(self, index=None):
        """Training outputs ``u_t`` at the recorded step(s) ``index`` (default: all).

        Returns
        -------
        ndarray of shape (T, n[, m]), or (n[, m]) for a scalar index
        """
        idx, scalar = self._index(index)
        coef = self.eigen_outputs[idx]
        out = _apply_basis(self.spectrum.eigenvectors, coef)
        return out[0] if scalar else out

    def dual_coef(self, index=None):
        """Dual coefficients ``c_t`` (``f_t(x) = k(x, X) c_t``) at the recorded step(s).

        Returns
        -------
        ndarray of shape (T, n[, m]), or (n[, m]) for a scalar index
        """
        idx, scalar = self._index(index)
        out = _apply_basis(self.spectrum.eigenvectors, self.eigen_dual[idx])
        return out[0] if scalar else out

    def predict(self, K_new, index=None, *, projected=False):
        """Functions of the path at new points, without inverting H.

        Parameters
        ----------
        K_new : array-like of shape (n_new, n)
            ``k(X_new, X)``; with ``projected=True`` the product ``k(X_new, X) U`` instead
            (compute it once when several paths share one eigendecomposition).
        index : int, array-like of int or None
            Recorded step(s); None: all.
        projected : bool, default=False

        Returns
        -------
        ndarray of shape (T, n_new[, m]), or (n_new[, m]) for a scalar index
        """
        K_new = as_float_array(K_new, "K_new", ndim=2)
        n = self.n_samples
        if K_new.shape[1] != n:
            raise ValueError(f"K_new must have shape (n_new, {n}); got {K_new.shape}")
        idx, scalar = self._index(index)
        d = self.eigen_dual[idx]
        cols = d.shape[0] * (d.shape[2] if d.ndim == 3 else 1)
        if projected or K_new.shape[0] <= cols:
            P = K_new if projected else K_new @ self.spectrum.eigenvectors
            out = _apply_basis(P, d)
        else:
            out = _apply_basis(K_new, _apply_basis(self.spectrum.eigenvectors, d))
        return out[0] if scalar else out

    def __repr__(self):
        t = self.times
        span = f"{t[0]:g}..{t[-1]:g}" if t.size else "none"
        extra = ", ".join(f"{k}={v!r}" for k, v in self.settings.items() if v is not None)
        return (f"TrainingPath(rule={self.rule!r}, n={self.n_samples}, "
                f"learning_rate={self.learning_rate:.4g}, steps={span} ({t.size} recorded)"
                + (f", {extra}" if extra else "") + ")")


def _apply_basis(B, coef):
    """``B @ coef[t]`` for every t in one matrix product: (r, c) x (T, c[, m]) -> (T, r[, m])."""
    if coef.ndim == 2:
        return (B @ coef.T).T
    T, c, m = coef.shape
    out = B @ coef.transpose(1, 0, 2).reshape(c, T * m)
    return out.reshape(B.shape[0], T, m).transpose(1, 0, 2)


# ============================================================================ training
def train(K, targets, times, *, rule="gd", learning_rate=None, a=0.1, ema_form="sequential",
          anchor="soft", refresh=1, on_unstable="warn"):
    """Train in the kernel regime with noisy targets: gradient descent or self-distillation.

    From ``u_0 = 0``, ``u_{t+1} = u_t − η H (u_t − y_t)`` (theory.md §5), with targets

    - ``rule="gd"``: ``y_t = ỹ``;
    - ``rule="ema"`` (running-average targets): ``y_0 = ỹ``,
      ``y_{t+1} = (1 − a) y_t + a u_{t+1}`` (``ema_form="sequential"``) or
      ``(1 − a) y_t + a u_t`` (``"simultaneous"``);
    - ``rule="anchored"``: ``y_t = (1 − a_t) ỹ + a_t g(u_t)`` with ``g`` the identity
      (``anchor="soft"``) or the one-hot argmax (sign for 1-D targets; ``anchor="hard"``).
      A row of ``u_t`` without a unique maximum (``u_0 = 0``) keeps its label: ``g(u)_i = ỹ_i``.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        The NTK Gram matrix H, or its eigendecomposition from
        :func:`hilbert_sd.spectral.eigh_psd` (share one among several runs).
    targets : array-like of shape (n,) or (n, m)
        The noisy targets ỹ: one-hot rows for classes (accuracy is argmax), or ±1 for two
        classes (accuracy is sign).
    times : array-like of shape (T,)
        Step counts at which to record the path: non-decreasing integers >= 0. ``inf`` (the
        limit) is allowed for the rules with a closed form and a constant weight.
    rule : {"gd", "ema", "anchored"}, default="gd"
    learning_rate : float, optional
        The step η > 0; default ``1 / λ_max``. Gradient descent is stable iff
        ``η λ_max < 2`` (:func:`stability_limit`).
    a : float, array-like, callable or "accuracy", default=0.1
        Mixing weight in [0, 1]. ``"ema"``: a constant. ``"anchored"``: a constant; a schedule,
        either an array ``a[s]`` for every step ``s < max(times)`` or a callable mapping an
        integer array of steps to an array of weights; or ``"accuracy"``: the training
        accuracy of ``u_t`` against the noisy labels (argmax of ``targets``).
    ema_form : {"sequential", "simultaneous"}, default="sequential"
    anchor : {"soft", "hard"}, default="soft"
    refresh : int or array-like of int, default=1
        Steps at which the data-dependent parts of the targets (hard labels ``g(u_t)``, the
        accuracy weight) are recomputed: every ``refresh`` steps, or at the given steps (0 is
        always one). In between they are held and the remaining dynamics are linear, so they
        advance in closed form. ``1`` is the literal per-step rule; a coarser grid makes the
        explicit iteration affordable on large problems (each refresh costs one or two
        products with the n × n eigenvector matrix). Ignored by the linear rules, which are
        exact at every step. A schedule ``a_s`` of the hard rule is sampled at the refresh
        steps.
    on_unstable : {"warn", "ignore"}, default="warn"
        Whether a step beyond the stability limit (the iteration diverges) warns
        (:class:`~hilbert_sd.NumericalWarning`).

    Returns
    -------
    TrainingPath

    See Also
    --------
    train_many : several rules and label sets on one eigendecomposition, with the explicit
        iterations batched.

    Notes
    -----
    Closed forms per eigenvalue, with ``x = ηλ`` and ``S_t(w) = (1 − (1 − w)^t)/w``
    (eigen-dual coefficients ``d_t = η h_t ⊙ Uᵀỹ``):

    - gradient descent: ``h_t = S_t(x)``, so ``u_t = U diag(1 − (1 − x)^t) Uᵀ ỹ``;
    - "ema", simultaneous: ``h_t = S_t(x + a)``, limit ``1/(x + a)``: KRR with ridge ``a/η``;
    - "ema", sequential: ``h_t = S_t(x + a(1 − x))``, limit ``1/(x + a(1 − x))``;
    - "anchored", soft: gradient descent with step ``η(1 − a_t)``,
      ``h_t = (1 − Π_{s<t}(1 − x(1 − a_s)))/x``.

    ``S_t`` is evaluated with ``expm1``/``log1p`` and its limit ``t`` at ``w = 0``, so no
    eigenvalue is divided by. Schedules cost O(n · max(times)); the explicit rules O(n² m) per
    refresh.

    Examples
    --------
    >>> import numpy as np
    >>> from hilbert_sd.noisy_labels import train
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((30, 3)); H = X @ X.T + np.eye(30)
    >>> y = np.sign(X[:, 0])
    >>> path = train(H, y, [0, 10, 100], rule="ema", a=0.05)
    >>> path.train_outputs().shape
    (3, 30)
    """
    run = {"rule": rule, "a": a, "ema_form": ema_form, "anchor": anchor}
    targets = as_float_array(targets, "targets", ndim=(1, 2))
    return train_many(K, targets, times, [run], learning_rate=learning_rate, refresh=refresh,
                      on_unstable=on_unstable)[0]


def train_many(K, targets, times, runs, *, learning_rate=None, refresh=1, on_unstable="warn"):
    """Several runs of :func:`train` on one eigendecomposition, explicit iterations batched.

    The runs that need explicit iteration (hard targets, accuracy weight) advance together:
    each refresh costs one product of the eigenvector matrix with all their states at once
    (plus one for the hard labels that changed), instead of one product per run.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
    targets : array-like of shape (n,) or (n, m), or a list of such ndarrays (one per run)
    times : array-like of shape (T,)
        Recorded steps, shared by all runs (see :func:`train`).
    runs : list of dict
        Keyword arguments of :func:`train` per run: ``rule``, ``a``, ``ema_form``, ``anchor``
        (missing keys take :func:`train`'s defaults).
    learning_rate, refresh, on_unstable
        As in :func:`train`, shared by all runs.

    Returns
    -------
    list of TrainingPath
        In the order of ``runs``.
    """
    spectrum = K if isinstance(K, Spectrum) else eigh_psd(K)
    n = spectrum.n
    if not isinstance(runs, (list, tuple)) or not runs:
        raise ValueError("runs must be a non-empty list of dicts of train() arguments")
    if isinstance(targets, (list, tuple)) and targets and \
            all(isinstance(t, np.ndarray) for t in targets):
        if len(targets) != len(runs):
            raise ValueError(f"targets is a list of {len(targets)} arrays but there are "
                             f"{len(runs)} runs; give one array per run or a single array")
        target_list = [check_targets(t, n, "targets") for t in targets]
    else:
        target_list = [check_targets(targets, n, "targets")] * len(runs)
    times = _check_times(times)
    on_unstable = _check_choice(on_unstable, "on_unstable", ("warn", "ignore"))
    lam = spectrum.eigenvalues
    if learning_rate is None:
        if lam[0] <= 0:
            raise ValueError("the kernel matrix is zero; give learning_rate explicitly")
        eta = 1.0 / lam[0]
    else:
        eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    x = eta * lam
    null = lam <= spectrum.rank_tolerance
    U = spectrum.eigenvectors
    finite_t = times[np.isfinite(times)]
    t_max = int(finite_t.max()) if finite_t.size else 0
    allowed = {"rule", "a", "ema_form", "anchor"}

    # One product for the eigen-coefficients of every run's targets.
    distinct = {}
    for Y in target_list:
        distinct.setdefault(id(Y), Y)
    stacked = U.T @ np.concatenate([Y.reshape(n, -1) for Y in distinct.values()], axis=1)
    z_of, col = {}, 0
    for key, Y in distinct.items():
        w = 1 if Y.ndim == 1 else Y.shape[1]
        z_of[key] = stacked[:, col:col + w]
        col += w

    paths = [None] * len(runs)
    explicit = []  # (index, z, Y2, labels, kind, a_val, anchor)
    steps = None
    for i, (run, Y) in enumerate(zip(runs, target_list)):
        if not isinstance(run, dict) or set(run) - allowed:
            raise ValueError(f"runs[{i}]={run!r}; expected a dict with keys among "
                             f"{sorted(allowed)}")
        rule = _check_choice(run.get("rule", "gd"), "rule", RULES)
        a = run.get("a", 0.1)
        ema_form = _check_choice(run.get("ema_form", "sequential"), "ema_form", _EMA_FORMS)
        anchor = _check_choice(run.get("anchor", "soft"), "anchor", _ANCHORS)
        one_d = Y.ndim == 1
        Y2 = Y[:, None] if one_d else Y
        z = z_of[id(Y)]
        settings = {"a": None, "ema_form": None, "anchor": None, "refresh": None}
        h = None
        if rule == "gd":
            _warn_unstable(on_unstable, x, null, 1.0 - x, "gradient descent")
            h = geometric_sums(x, times)
        elif rule == "ema":
            a_val = _check_weight(a, "a")
            settings.update(a=a_val, ema_form=ema_form)
            if ema_form == "simultaneous":
                w, rho = x + a_val, 1.0 - x - a_val
            else:
                w, rho = x + a_val * (1.0 - x), (1.0 - x) * (1.0 - a_val)
            _warn_unstable(on_unstable, x, null, rho, f"the {ema_form} 'ema' rule")
            h = geometric_sums(w, times)
        else:
            settings["anchor"] = anchor
            kind, a_val = _anchor_weight(a, t_max)
            settings["a"] = a_val if kind != "schedule" else "schedule"
            if anchor == "soft" and kind == "constant":
                b = 1.0 - a_val
                _warn_unstable(on_unstable, x, null, 1.0 - x * b, "the soft 'anchored' rule")
                h = b * geometric_sums(x * b, times)
            elif anchor == "soft" and kind == "schedule":
                if np.isinf(times).any():
                    raise ValueError("times contains inf; a schedule has no limit (allowed: "
                                     "finite step counts)")
                b = 1.0 - a_val  # (t_max,)
                worst = 1.0 - x * (b.max() if b.size else 1.0)
                _warn_unstable(on_unstable, x, null, worst, "the soft 'anchored' rule")
                h = schedule_sums(x, b, times)
            else:
                if np.isinf(times).any():
                    raise ValueError("times contains inf; the explicitly iterated rules (hard "
                                     "targets, accuracy weight) need finite step counts")
                if steps is None:
                    steps = _refresh_steps(refresh, t_max)
                settings["refresh"] = refresh if np.ndim(refresh) == 0 else "grid"
                _warn_unstable(on_unstable, x, null, 1.0 - x, f"the {anchor} 'anchored' rule")
                explicit.append((i, z, Y2, _noisy_labels(Y2, one_d), one_d, kind, a_val,
                                 anchor))
        paths[i] = TrainingPath(times=times, rule=rule, settings=settings,
                                learning_rate=eta, spectrum=spectrum, eigen_dual=None,
                                target_coefficients=z[:, 0] if one_d else z)
        if h is not None:
            paths[i].eigen_dual = _finish(eta * h[:, :, None] * z[None], null, one_d)

    if explicit:
        outs, logs = _run_explicit(U, x, null, times, steps, explicit)
        for (i, *_rest), d, log in zip(explicit, outs, logs):
            paths[i].eigen_dual = _finish(eta * d, null, _rest[3])
            paths[i].refresh_log = log
    return paths


def _finish(d, null, one_d):
    """Zero the numerically null eigen-directions (they carry no function) and drop the
    column axis of 1-D targets."""
    d[:, null, :] = 0.0
    return d[:, :, 0] if one_d else d


def _run_explicit(U, x, null, times, steps, problems):
    """Iterate the anchored runs refresh by refresh, all problems in one product per refresh.

    Between two refreshes the targets are ``(1 − a) ỹ + a G`` with ``G`` held (hard) or the
    dynamics are gradient descent with step ``η(1 − a)`` towards ỹ (soft): both linear, so a
    state ``c`` (eigen-dual coefficients divided by η) advances ``s`` steps as
    ``c ← (1 − w)^s c + b S_s(w) ŷ`` with ``w = x b``.

    Parameters
    ----------
    problems : list of (index, z, Y, labels, one_d, kind, a_val, anchor)

    Returns
    -------
    outs : list of ndarray of shape (T, n, m_i)
    logs : list of dict
    """
    n = x.shape[0]
    T = times.shape[0]
    B = len(problems)
    widths = [p[1].shape[1] for p in problems]
    offsets = np.concatenate([[0], np.cumsum(widths)])
    outs = [np.empty((T, n, w)) for w in widths]
    C = np.zeros((n, offsets[-1]))  # states of all problems side by side
    G_prev = [None] * B
    G_hat = [None] * B
    logs = [{"steps": [], "a": [], "accuracy": []} for _ in range(B)]
    bounds = np.append(steps, np.inf)
    ti = 0
    for j in range(steps.shape[0]):
        if ti >= T:
            break
        r = int(bounds[j])
        nxt = bounds[j + 1]
        u_all = U @ (x[:, None] * C)  # one pass over U for every problem
        refresh_full = []
        pending = []
        for bi, (_, z, Y, labels, one_d, kind, a_val, anchor) in enumerate(problems):
            u = u_all[:, offsets[bi]:offsets[bi + 1]]
            pred = _predicted(u[:, 0] if one_d else u, one_d)
            acc = float((pred == labels).mean())
            if kind == "constant":
                a_j = a_val
            elif kind == "accuracy":
                a_j = acc
            else:
                a_j = float(a_val[r]) if r < a_val.shape[0] else float(a_val[-1])
            logs[bi]["steps"].append(r)
            logs[bi]["a"].append(a_j)
            logs[bi]["accuracy"].append(acc)
            if anchor == "hard":
                G = _hard_targets(u, pred, Y, one_d)
                if G_prev[bi] is None:
                    refresh_full.append(bi)
                else:
                    changed = np.any(G != G_prev[bi], axis=1)
                    k = int(changed.sum())
                    if 4 * k < n:
                        # Hard labels change on few rows per refresh: update Uᵀ G in place.
                        if k:
                            G_hat[bi] = G_hat[bi] + U[changed].T @ (G[changed]
                                                                    - G_prev[bi][changed])
                    else:
                        refresh_full.append(bi)
                G_prev[bi] = G
            pending.append(a_j)
        if refresh_full:
            full = U.T @ np.concatenate([G_prev[bi] for bi in refresh_full], axis=1)
            col = 0
            for bi in refresh_full:
                G_hat[bi] = full[:, col:col + widths[bi]]
                col += widths[bi]
        yhats, ws, bs = [], [], []
        for bi, (_, z, Y, labels, one_d, kind, a_val, anchor) in enumerate(problems):
            a_j = pending[bi]
            if anchor == "hard":
                yhats.append((1.0 - a_j) * z + a_j * G_hat[bi])
                bs.append(1.0)
            else:
                yhats.append(z)
                bs.append(1.0 - a_j)
            ws.append(x * bs[-1])
        t0 = ti
        for bi in range(B):
            ti = t0
            c = C[:, offsets[bi]:offsets[bi + 1]]
            w, b, yhat = ws[bi], bs[bi], yhats[bi]
            while ti < T and times[ti] <= nxt:
                s = int(times[ti]) - r
                outs[bi][ti] = power(w, s)[:, None] * c + (b * geometric_sum(w, s))[:, None] * yhat
                ti += 1
            if np.isfinite(nxt):
                E = int(nxt) - r
                c[...] = power(w, E)[:, None] * c + (b * geometric_sum(w, E))[:, None] * yhat
                c[null] = 0.0
    logs = [{"steps": np.asarray(g["steps"], dtype=np.int64), "a": np.asarray(g["a"]),
             "accuracy": np.asarray(g["accuracy"])} for g in logs]
    return outs, logs


def _hard_targets(u, pred, Y, one_d):
    """g(u): one-hot argmax (sign for 1-D); rows without a prediction keep the label row."""
    if one_d:
        G = np.where(pred[:, None] != 0, pred[:, None].astype(np.float64), Y)
        return G
    G = np.zeros_like(Y)
    ok = pred >= 0
    G[np.nonzero(ok)[0], pred[ok]] = 1.0
    G[~ok] = Y[~ok]
    return G


def _noisy_labels(Y2, one_d):
    if one_d:
        return np.sign(Y2[:, 0]).astype(np.int64)
    return Y2.argmax(axis=1).astype(np.int64)


def _refresh_steps(refresh, t_max):
    """Sorted unique refresh steps in [0, t_max), always starting with 0."""
    if np.ndim(refresh) == 0:
        E = check_scalar(refresh, "refresh", low=1, integer=True)
        return np.arange(0, max(t_max, 1), E, dtype=np.int64)
    arr = as_float_array(refresh, "refresh", ndim=1)
    if np.any(arr < 0) or np.any(arr != np.round(arr)):
        raise ValueError("refresh steps must be integers >= 0")
    arr = np.unique(np.append(arr.astype(np.int64), 0))
    return arr[arr < max(t_max, 1)]


def _check_times(times):
    t = np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1:
        raise ValueError(f"times must be 1-D; got shape {t.shape}")
    if np.isnan(t).any():
        raise ValueError("times contains NaN; allowed: integers >= 0 or inf")
    finite = t[np.isfinite(t)]
    if np.any(t < 0) or np.any(finite != np.round(finite)):
        bad = t[(t < 0) | (np.isfinite(t) & (t != np.round(t)))][0]
        raise ValueError(f"times contains {bad!r}; allowed: integer step counts >= 0 or inf")
    if np.any(np.diff(t) < 0):
        raise ValueError("times must be non-decreasing")
    return t


def _check_choice(value, name, allowed):
    if value not in allowed:
        raise ValueError(f"{name}={value!r}; allowed: {', '.join(map(repr, allowed))}")
    return value


def _check_weight(a, name):
    if isinstance(a, str) or callable(a) or np.ndim(a) != 0:
        raise ValueError(f"{name}={a!r}; the 'ema' rule takes a constant weight in [0, 1]")
    return check_scalar(a, name, low=0.0, high=1.0)


def _anchor_weight(a, t_max):
    """Classify the anchored rule's weight: ("constant", float), ("accuracy", None) or
    ("schedule", ndarray of shape (t_max,))."""
    if isinstance(a, str):
        if a != "accuracy":
            raise ValueError(f"a={a!r}; allowed: a number in [0, 1], an array, a callable or "
                             "'accuracy'")
        return "accuracy", None
    if callable(a):
        steps = np.arange(t_max)
        vals = np.asarray(a(steps), dtype=np.float64)
        if vals.shape != steps.shape:
            raise ValueError(f"the schedule a(steps) returned shape {vals.shape}; expected "
                             f"{steps.shape} (one weight per step)")
        return "schedule", _check_schedule(vals)
    if np.ndim(a) == 0:
        return "constant", check_scalar(a, "a", low=0.0, high=1.0)
    vals = as_float_array(a, "a", ndim=1, allow_empty=True)
    if vals.shape[0] < t_max:
        raise ValueError(f"the schedule a has {vals.shape[0]} entries; it needs one per step up "
                         f"to max(times) = {t_max}")
    return "schedule", _check_schedule(vals[:t_max])


def _check_schedule(vals):
    if not np.all(np.isfinite(vals)) or np.any(vals < 0) or np.any(vals > 1):
        bad = vals[~(np.isfinite(vals) & (vals >= 0) & (vals <= 1))][0]
        raise ValueError(f"the schedule a contains {bad!r}; allowed: weights in [0, 1]")
    return vals


def _warn_unstable(on_unstable, x, null, rho, what):
    live = ~null
    if on_unstable == "ignore" or not live.any():
        return
    worst = float(np.max(np.abs(rho[live]))) if np.ndim(rho) else abs(float(rho))
    if worst > 1.0:
        warnings.warn(
            f"{what} is unstable at this learning rate: a per-step factor has modulus "
            f"{worst:.6g} > 1 (eta*lambda_max = {float(x[0]):.6g}), the iteration diverges; "
            "see stability_limit",
            NumericalWarning,
            stacklevel=3,
        )


# ============================================================================ AIR
def energy_fraction(K, v, k=None):
    """Anisotropic Information Retrieval: ``E_k(v) = ‖V_kᵀ v‖² / ‖v‖²``.

    The share of ``v`` in the span of the top-``k`` eigenvectors of H. Informative labels
    concentrate on the top eigenvectors; noise spreads evenly (``E_k ≈ k/n``) [paper].

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
    v : array-like of shape (n,) or (n, m)
        For several columns the Frobenius norms are used.
    k : int or array-like of int, optional
        Number(s) of top eigenvectors, 0 .. n. Default: all, ``k = 1 .. n``.

    Returns
    -------
    float, or ndarray of shape (n,) (default) or like ``k``
    """
    spectrum = K if isinstance(K, Spectrum) else eigh_psd(K)
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
    if np.any(kk < 0) or np.any(kk > spectrum.n) or np.any(kk != np.round(kk)):
        raise ValueError(f"k={k!r} is out of range; allowed: integers 0 .. {spectrum.n}")
    out = cum[kk.astype(np.int64)]
    return float(out) if out.ndim == 0 else out


def air_curves(path, k):
    """``G_k(t)`` and ``N_k(t)`` over a training path (theory.md §5).

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


# ============================================================================ bounds
def spectral_gap_bound(eigenvalues, k, gamma, signal_norm, noise_norm):
    """Bound on ``‖u_∞ − y*‖²`` for KRR-like self-distillation with ridge γ (theory.md §5).

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


def stability_limit(lambda_max, *, rule="gd", a=0.0, ema_form="sequential", anchor="soft"):
    """Largest stable step: the iteration converges iff ``learning_rate`` is below it.

    Per eigen-direction one step multiplies the residual by ρ(ηλ); the run diverges iff
    ``|ρ| > 1`` for a direction the targets reach, i.e. iff η passes

    - gradient descent and the hard "anchored" rule: ``2/λ_max`` [theory.md §3];
    - soft "anchored" with constant a < 1: ``2/(λ_max (1 − a))`` (step η(1 − a));
    - simultaneous "ema": ``(2 − a)/λ_max`` (ρ = 1 − ηλ − a) [derived here];
    - sequential "ema": ``(1 + 1/(1 − a))/λ_max`` (ρ = (1 − ηλ)(1 − a)) [derived here].

    Parameters
    ----------
    lambda_max : float > 0
    rule : {"gd", "ema", "anchored"}
    a : float in [0, 1]
        Constant mixing weight (the accuracy weight of the soft rule: use 0, the worst case).
    ema_form : {"sequential", "simultaneous"}
    anchor : {"soft", "hard"}

    Returns
    -------
    float (``inf`` when every step is stable)
    """
    lmax = check_scalar(lambda_max, "lambda_max", low=0.0, low_inclusive=False)
    rule = _check_choice(rule, "rule", RULES)
    a = check_scalar(a, "a", low=0.0, high=1.0)
    ema_form = _check_choice(ema_form, "ema_form", _EMA_FORMS)
    anchor = _check_choice(anchor, "anchor", _ANCHORS)
    if rule == "gd" or (rule == "anchored" and anchor == "hard"):
        return 2.0 / lmax
    if rule == "anchored":
        return np.inf if a == 1.0 else 2.0 / (lmax * (1.0 - a))
    if ema_form == "simultaneous":
        return (2.0 - a) / lmax
    return np.inf if a == 1.0 else (1.0 + 1.0 / (1.0 - a)) / lmax
