"""Training in the kernel regime with noisy targets: :func:`train` and :func:`train_many`.

From ``u_0 = 0`` the outputs follow ``u_{t+1} = u_t − η H (u_t − y_t)``
(:doc:`/topics/noisy_labels`) with the targets ``y_t`` of the rule. In the eigenbasis of H (one
:class:`~hilbert_sd.spectral.Spectrum`, from :func:`~hilbert_sd.spectral.as_spectrum`) the
linear rules are per-eigenvalue filters of the targets at any step count [derived]:

- gradient descent, and the soft "anchored" rule with a constant weight a, are the one
  gradient-descent filter of the package (``hilbert_sd.filters._gd_pair``) with the step scale
  :func:`hilbert_sd.filters.step_scale` of η, resp. η(1 − a) (``"sum"`` convention);
- the "ema" rules are the geometric sums ``S_t(w)`` (``hilbert_sd.filters._geometric_sums``)
  at the shifted rates ``w = ηλ + a`` and ``ηλ + a(1 − ηλ)`` [derived here];
- the soft rule with a schedule is ``hilbert_sd.filters._schedule_sums``.

The rules whose targets depend non-linearly on the outputs (hard targets, the accuracy weight)
are iterated refresh by refresh (:mod:`hilbert_sd.noisy_labels._explicit`). Runs that do not
converge warn, and refuse ``times = inf`` (:mod:`hilbert_sd.noisy_labels.stability`).
"""

import numpy as np

from hilbert_sd._validation import as_float_array, check_scalar, check_targets
from hilbert_sd.filters import _gd_pair, _geometric_sums, _schedule_sums, step_scale
from hilbert_sd.noisy_labels._checks import (
    ANCHORS,
    EMA_FORMS,
    RULES,
    anchor_weight,
    check_choice,
    check_steps,
    check_weight,
)
from hilbert_sd.noisy_labels._explicit import noisy_labels, refresh_steps, run_explicit
from hilbert_sd.noisy_labels.path import TrainingPath
from hilbert_sd.noisy_labels.stability import _check_convergence
from hilbert_sd.spectral import as_spectrum

__all__ = ["RULES", "train", "train_many"]


def train(K, targets, times, *, rule="gd", learning_rate=None, a=0.1, ema_form="sequential",
          anchor="soft", refresh=1, on_unstable="warn"):
    """Train in the kernel regime with noisy targets: gradient descent or self-distillation.

    From ``u_0 = 0``, ``u_{t+1} = u_t − η H (u_t − y_t)`` (:doc:`/topics/noisy_labels`), with
    targets

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
        The NTK Gram matrix H, or its :class:`~hilbert_sd.spectral.Spectrum` (from
        :func:`hilbert_sd.spectral.decompose`; share one among several runs). Anything but a
        Spectrum goes through :func:`hilbert_sd.spectral.as_spectrum`.
    targets : array-like of shape (n,) or (n, m)
        The noisy targets ỹ: one-hot rows for classes (accuracy is argmax), or ±1 for two
        classes (accuracy is sign).
    times : array-like of shape (T,)
        Step counts at which to record the path: non-decreasing integers >= 0. ``inf`` (the
        limit) is allowed for the rules with a closed form and a constant weight, when the
        iteration converges (below :func:`stability_limit`); otherwise it has no limit and
        ``inf`` raises.
    rule : {"gd", "ema", "anchored"}, default="gd"
    learning_rate : float, optional
        The step η > 0; default ``1 / λ_max``. Gradient descent is stable iff
        ``η λ_max < 2`` (:func:`stability_limit`); the per-step scale is
        :func:`hilbert_sd.filters.step_scale` with the ``"sum"`` convention.
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
        products with the eigenbasis: ``Spectrum.reconstruct`` of the states, and
        ``Spectrum.project`` of the hard labels when they changed). Ignored by the linear
        rules, which are exact at every step. A schedule ``a_s`` of the hard rule is sampled
        at the refresh steps.
    on_unstable : {"warn", "ignore"}, default="warn"
        Whether a step at or beyond the stability limit (the iteration diverges, or oscillates
        without converging at the limit itself) warns (:class:`~hilbert_sd.NumericalWarning`).
        Asking such a run for ``times = inf`` raises in either case.

    Returns
    -------
    TrainingPath

    Raises
    ------
    ValueError
        For invalid arguments, and for ``times`` containing ``inf`` when the iteration has no
        limit (a per-step factor of modulus >= 1, see :func:`stability_limit`) or is iterated
        explicitly.

    See Also
    --------
    train_many : several rules and label sets on one eigendecomposition, with the explicit
        iterations batched.

    Notes
    -----
    Closed forms per eigenvalue, with ``x = ηλ`` and ``S_t(w) = (1 − (1 − w)^t)/w``
    (eigen-dual coefficients ``d_t = η h_t ⊙ Uᵀỹ``) [derived]:

    - gradient descent: ``h_t = S_t(x)``, so ``u_t = U diag(1 − (1 − x)^t) Uᵀ ỹ``
      (``hilbert_sd.filters._gd_pair``, the one gradient-descent filter of the package);
    - "ema", simultaneous: ``h_t = S_t(x + a)``, limit ``1/(x + a)``: KRR with ridge ``a/η``;
    - "ema", sequential: ``h_t = S_t(x + a(1 − x))``, limit ``1/(x + a(1 − x))``;
    - "anchored", soft: gradient descent with step ``η(1 − a_t)``,
      ``h_t = (1 − Π_{s<t}(1 − x(1 − a_s)))/x``; a constant ``a`` goes through the same
      gradient-descent filter with step ``η(1 − a)``, so ``a = 1`` (step 0) is the zero
      function at every step, including ``inf``.

    ``S_t`` is evaluated with ``expm1``/``log1p`` and its limit ``t`` at ``w = 0``, so no
    eigenvalue is divided by (``hilbert_sd.filters._geometric_sums``). Schedules cost
    O(n · max(times)); the explicit rules O(n² m) per refresh.

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
    each refresh costs one product with the eigenbasis for all their states at once (plus one
    for the hard labels that changed), instead of one product per run.

    Parameters
    ----------
    K : array-like of shape (n, n) or Spectrum
        As in :func:`train` (through :func:`hilbert_sd.spectral.as_spectrum`).
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
    spectrum = as_spectrum(K)
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
    times = check_steps(times)
    on_unstable = check_choice(on_unstable, "on_unstable", ("warn", "ignore"))
    lam = spectrum.eigenvalues
    if learning_rate is None:
        if lam[0] <= 0:
            raise ValueError("the kernel matrix is zero; give learning_rate explicitly")
        eta = 1.0 / lam[0]
    else:
        eta = check_scalar(learning_rate, "learning_rate", low=0.0, low_inclusive=False)
    scale = step_scale(eta, n, "sum")  # the one learning-rate conversion
    x = scale * lam
    tol = spectrum.rank_tolerance
    null = lam <= tol
    finite_t = times[np.isfinite(times)]
    t_max = int(finite_t.max()) if finite_t.size else 0
    allowed = {"rule", "a", "ema_form", "anchor"}

    def check(w, what, **limit_kwargs):
        _check_convergence(w, ~null, times, on_unstable=on_unstable, what=what,
                           learning_rate=eta, lambda_max=float(lam[0]),
                           limit_kwargs=limit_kwargs)

    # One projection for the eigen-coefficients of every run's targets.
    distinct = {}
    for Y in target_list:
        distinct.setdefault(id(Y), Y)
    stacked = spectrum.project(np.concatenate([Y.reshape(n, -1) for Y in distinct.values()],
                                              axis=1))
    z_of, col = {}, 0
    for key, Y in distinct.items():
        w = 1 if Y.ndim == 1 else Y.shape[1]
        z_of[key] = stacked[:, col:col + w]
        col += w

    paths = [None] * len(runs)
    explicit = []  # (index, z, Y2, labels, one_d, kind, a_val, anchor)
    steps = None
    for i, (run, Y) in enumerate(zip(runs, target_list)):
        if not isinstance(run, dict) or set(run) - allowed:
            raise ValueError(f"runs[{i}]={run!r}; expected a dict with keys among "
                             f"{sorted(allowed)}")
        rule = check_choice(run.get("rule", "gd"), "rule", RULES)
        a = run.get("a", 0.1)
        ema_form = check_choice(run.get("ema_form", "sequential"), "ema_form", EMA_FORMS)
        anchor = check_choice(run.get("anchor", "soft"), "anchor", ANCHORS)
        one_d = Y.ndim == 1
        Y2 = Y[:, None] if one_d else Y
        z = z_of[id(Y)]
        settings = {"a": None, "ema_form": None, "anchor": None, "refresh": None}
        G = None  # the dual filter of a linear rule, (T, n)
        if rule == "gd":
            check(x, "gradient descent", rule="gd")
            G = _gd_pair(lam, times, scale, "gd", tol)[1]
        elif rule == "ema":
            a_val = check_weight(a, "a")
            settings.update(a=a_val, ema_form=ema_form)
            w = x + a_val if ema_form == "simultaneous" else x + a_val * (1.0 - x)
            check(w, f"the {ema_form} 'ema' rule", rule="ema", a=a_val, ema_form=ema_form)
            G = scale * _geometric_sums(w, times)
        else:
            settings["anchor"] = anchor
            kind, a_val = anchor_weight(a, t_max)
            settings["a"] = a_val if kind != "schedule" else "schedule"
            if anchor == "soft" and kind == "constant":
                # Gradient descent with step η(1 − a): the same filter as "gd".
                check(x * (1.0 - a_val), "the soft 'anchored' rule", rule="anchored",
                      a=a_val)
                G = _gd_pair(lam, times, step_scale(eta * (1.0 - a_val), n, "sum"), "gd",
                             tol)[1]
            elif anchor == "soft" and kind == "schedule":
                if np.isinf(times).any():
                    raise ValueError("times contains inf; a schedule has no limit (allowed: "
                                     "finite step counts)")
                b = 1.0 - a_val  # (t_max,)
                b_max = float(b.max()) if b.size else 1.0
                check(x * b_max, "the soft 'anchored' rule", rule="anchored",
                      a=1.0 - b_max)
                G = scale * _schedule_sums(x, b, times)
            else:
                if np.isinf(times).any():
                    raise ValueError("times contains inf; the explicitly iterated rules (hard "
                                     "targets, accuracy weight) need finite step counts")
                if steps is None:
                    steps = refresh_steps(refresh, t_max)
                settings["refresh"] = refresh if np.ndim(refresh) == 0 else "grid"
                check(x, f"the {anchor} 'anchored' rule", rule="anchored", anchor=anchor)
                explicit.append((i, z, Y2, noisy_labels(Y2, one_d), one_d, kind, a_val,
                                 anchor))
        common = dict(rule=rule, settings=settings, learning_rate=eta)
        if G is not None:
            G[:, null] = 0.0  # numerically null directions carry no function
            paths[i] = TrainingPath(spectrum, z, Y.ndim, times, dual_filter=G, **common)
        else:
            paths[i] = common  # completed below, after the batched iteration

    if explicit:
        outs, logs = run_explicit(spectrum, x, null, times, steps, explicit)
        for (i, z, *_rest), d, log in zip(explicit, outs, logs):
            d = scale * d
            d[:, null, :] = 0.0
            paths[i] = TrainingPath(spectrum, z, target_list[i].ndim, times, eigen_dual=d,
                                    refresh_log=log, **paths[i])
    return paths
