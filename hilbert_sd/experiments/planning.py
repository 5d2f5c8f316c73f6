"""What a sweep runs: groups of simulations, their shared arrays, and the chunks they run in.

Simulations are grouped by training inputs and kernel (:attr:`Simulation.group`). Each group's
Gram matrix and eigendecomposition are computed once (:class:`GroupCache`) and shared by every
simulation of the group, whatever its budget, ridge, label noise or seed; a method sees them
and its own labels through :class:`SimulationInputs`.
"""

import math
import time
from dataclasses import dataclass, field

import numpy as np

from hilbert_sd.experiments.data import DataSet, add_gaussian_noise, load_file
from hilbert_sd.experiments.registry import (GENERATORS, TRUTHS, get_method, load_attribute,
                                             uses_kernel)

__all__ = ["BATCH_SIZE", "Group", "GroupCache", "SimulationInputs", "chunks", "load_dataset",
           "make_inputs", "pack_runs", "plan", "simulation_inputs"]

#: Largest number of simulations run by one vectorized batch or one worker chunk (their rows
#: are committed together; in a killed sweep at most one batch per worker is lost).
BATCH_SIZE = 64


class GroupCache:
    """Arrays shared by the simulations of one group (same inputs, same kernel).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    X_test : ndarray of shape (n_test, n_features) or None
    kernel : dict or None
        ``{"name": ..., **params}`` of the config's ``[kernel]`` table.
    spectrum_options : dict or None
        The config's ``[spectrum]`` table (``method``, ``rank``, ``landmarks``,
        ``random_state``): the spectrum is then ``hilbert_sd.spectral.decompose(X=X, ...)``.
        None: the dense eigendecomposition of K (:func:`hilbert_sd.spectral.eigh_psd`).

    Attributes
    ----------
    K : ndarray of shape (n_samples, n_samples)
        Gram matrix (computed on first use).
    spectrum : hilbert_sd.spectral.Spectrum
        Its eigendecomposition, eigenvalues descending (computed on first use); a low-rank
        spectrum with ``[spectrum] method = "randomized"`` or ``"nystrom"``.
    K_test : ndarray of shape (n_test, n_samples)
        k(X_test, X): what a path's ``predict`` takes.
    test_projection : ndarray of shape (n_test, n_components)
        The test points in the spectrum's basis: ``spectrum.project_rows(K_test)``, or
        ``spectrum.project_points(X_test)`` for a low-rank spectrum. The function of any
        filter g at the test points is ``test_projection @ (g * z)``. Computed on first use
        in each process (never prepared nor shipped to workers).
    timings : dict
        Seconds spent on ``"gram"``, ``"eigh"`` and ``"test_kernel"``.
    """

    def __init__(self, X, X_test=None, kernel=None, spectrum_options=None):
        self.X = X
        self.X_test = X_test
        self.kernel = kernel
        self.spectrum_options = spectrum_options
        self._K = None
        self._spectrum = None
        self._K_test = None
        self._test_projection = None
        self.timings = {"gram": 0.0, "eigh": 0.0, "test_kernel": 0.0}

    def _kernel_params(self):
        if self.kernel is None:
            raise ValueError("this simulation needs a kernel; the config has no [kernel] table")
        return {k: v for k, v in self.kernel.items() if k != "name" and v is not None}

    def _gram(self, A, B=None):
        from hilbert_sd.kernels import gram

        params = self._kernel_params()
        return gram(A, B, kernel=self.kernel["name"], **params)

    @property
    def K(self):
        if self._K is None:
            t0 = time.perf_counter()
            self._K = self._gram(self.X)
            self.timings["gram"] += time.perf_counter() - t0
        return self._K

    @property
    def spectrum(self):
        if self._spectrum is None:
            if self.spectrum_options is not None:
                self._spectrum = self._decompose()
                return self._spectrum
            from hilbert_sd.spectral import eigh_psd

            K = self.K
            t0 = time.perf_counter()
            # gram() returns finite, exactly symmetric matrices: no O(n²) re-check needed
            self._spectrum = eigh_psd(K, check_input=False)
            self.timings["eigh"] += time.perf_counter() - t0
        return self._spectrum

    def _decompose(self):
        """The spectrum the [spectrum] table asks for, factored from the inputs."""
        from hilbert_sd.spectral import decompose

        params = self._kernel_params()
        opts = self.spectrum_options
        kw = {k: opts[k] for k in ("rank", "random_state", "landmarks")
              if opts.get(k) is not None}
        t0 = time.perf_counter()
        # the kernel is evaluated inside (the Gram time is part of the factorization's)
        spectrum = decompose(X=self.X, kernel=self.kernel["name"], method=opts["method"],
                             **kw, **params)
        self.timings["eigh"] += time.perf_counter() - t0
        return spectrum

    @property
    def K_test(self):
        if self._K_test is None and self.X_test is not None:
            t0 = time.perf_counter()
            self._K_test = self._gram(self.X_test, self.X)
            self.timings["test_kernel"] += time.perf_counter() - t0
        return self._K_test

    @property
    def test_projection(self):
        if self._test_projection is None and self.X_test is not None:
            spectrum = self.spectrum
            if spectrum.is_low_rank:
                # a low-rank basis is defined through the inputs (landmarks, range finder):
                # the spectrum evaluates the test points itself
                t0 = time.perf_counter()
                self._test_projection = spectrum.project_points(self.X_test)
            else:
                K_test = self.K_test
                t0 = time.perf_counter()
                self._test_projection = spectrum.project_rows(K_test)
            self.timings["test_kernel"] += time.perf_counter() - t0
        return self._test_projection

    def prepare(self, requires):
        """Compute what the group's methods need, then drop the Gram matrices they do not.

        Dropping K (and k(X_test, X)) before the cache is shipped to workers halves what they
        receive when only the eigendecomposition is used. ``requires``: ``"kernel"``,
        ``"spectrum"``, ``"test_kernel"`` (:func:`~hilbert_sd.experiments.registry.register_method`).
        """
        requires = set(requires)
        if "spectrum" in requires or "test_kernel" in requires:
            self.spectrum  # noqa: B018 - computed for its side effect
        if "test_kernel" in requires:
            self.K_test  # noqa: B018
        if "kernel" in requires:
            self.K  # noqa: B018
        else:
            self._K = None
        if "test_kernel" not in requires and "kernel" not in requires:
            self._K_test = None
        self._test_projection = None  # n_test x n more to ship: workers compute it if asked
        return self


class SimulationInputs:
    """What a method receives: the group's shared arrays and this simulation's labels.

    Attributes
    ----------
    X, X_test : ndarray
        Training and test inputs (``X_test`` None without a test set).
    y : ndarray of shape (n_samples,)
        Training labels, with this simulation's label noise (in a vectorized batch, one
        read-only array shared by the simulations of the same seed and noise level).
    y_clean : ndarray of shape (n_samples,)
        Training labels before the label noise.
    y_test : ndarray of shape (n_test,) or None
        Noise-free test targets.
    K, spectrum, K_test, test_projection
        See :class:`GroupCache` (shared, read-only: never modify them in place).
    seed : int
    rng : numpy.random.Generator
        A stream for the method's own randomness, independent of the label noise.
    has_test : bool
    """

    def __init__(self, group, y, y_clean, y_test, seed):
        self.group = group
        self.y = y
        self.y_clean = y_clean
        self.y_test = y_test
        self.seed = seed
        self._rng = None

    X = property(lambda self: self.group.X)
    X_test = property(lambda self: self.group.X_test)
    K = property(lambda self: self.group.K)
    spectrum = property(lambda self: self.group.spectrum)
    K_test = property(lambda self: self.group.K_test)
    test_projection = property(lambda self: self.group.test_projection)

    @property
    def has_test(self):
        return self.group.X_test is not None and self.y_test is not None

    @property
    def rng(self):
        if self._rng is None:
            self._rng = np.random.default_rng([self.seed, 1])
        return self._rng


def make_inputs(group, dataset, config, labels=None):
    """The :class:`SimulationInputs` of one simulation (resolved ``config``): its group, its
    noise-free ``dataset`` and the label noise of its seed.

    ``labels``: a dict kept by the caller for the simulations of one batch. The noisy labels
    of each (data set, noise level, seed) are then drawn once, and the simulations that
    share them (the budgets of one seed, say) share one read-only array: a vectorized batch
    recognizes their label matrices as the same and stacks and projects them once. Without
    it, every simulation gets arrays of its own.
    """
    seed = config["seed"]
    sigma = config["data"].get("label_noise", 0.0)
    if labels is None:
        y = add_gaussian_noise(dataset.y, sigma, seed)
    else:
        key = (id(dataset), sigma, seed)
        kept = labels.get(key)
        if kept is None:
            y = add_gaussian_noise(dataset.y, sigma, seed)
            if y is not dataset.y:
                y.flags.writeable = False
            # the data set is kept with its labels, so that its id names it while they live
            kept = labels[key] = (dataset, y)
        y = kept[1]
    return SimulationInputs(group, y, dataset.y, dataset.y_test, seed)


def simulation_inputs(config, base_dir="."):
    """The :class:`SimulationInputs` a method receives for one resolved simulation config.

    For a report that needs more than the stored numbers of a row (its ``"config"``): the
    data, the same label noise and the kernel, prepared on demand (nothing is shared).

    Parameters
    ----------
    config : dict
        A simulation's resolved config (``row["config"]`` of a store).
    base_dir : path-like, default="."
        Directory of relative data paths.

    Returns
    -------
    SimulationInputs
    """
    dataset = load_dataset(config["data"], base_dir)
    group = GroupCache(dataset.X, dataset.X_test, config.get("kernel"), config.get("spectrum"))
    return make_inputs(group, dataset, config)


def load_dataset(data, base_dir):
    """The noise-free :class:`DataSet` of one resolved ``[data]`` option (relative paths from
    ``base_dir``).

    Raises
    ------
    ValueError
        Unreadable or malformed data files.
    """
    if "generator" in data:
        spec = GENERATORS[data["generator"]]
        X, X_test = load_attribute(spec.inputs)(data)
        y, y_test = load_attribute(spec.labels)(data, X, X_test)
        return DataSet(X, y, X_test, y_test)
    from hilbert_sd.experiments.config import resolve_data_path

    X, y = load_file(resolve_data_path(data["path"], base_dir), data["features"],
                     data["target"])
    X_test = y_test = None
    if data.get("test_path") is not None:
        X_test, y_test = load_file(resolve_data_path(data["test_path"], base_dir),
                                   data["features"], data["target"])
        if X_test.shape[1] != X.shape[1]:
            raise ValueError(f"{data['test_path']}: {X_test.shape[1]} input columns, "
                             f"the training data has {X.shape[1]}")
    elif data.get("truth") is not None:
        if X.shape[1] != 1:
            raise ValueError(f"data.truth needs one-dimensional inputs; {data['path']} has "
                             f"{X.shape[1]} input columns")
        lo, hi = data["test_range"] or (float(X.min()), float(X.max()))
        X_test = np.linspace(lo, hi, data["n_test"])[:, None]
        y_test = load_attribute(TRUTHS[data["truth"]])(X_test)
    return DataSet(X, y, X_test, y_test)


@dataclass
class Group:
    """One group of a plan: the arguments of its :class:`GroupCache` and ``prepare``
    (``kernel`` None when no method of the group needs one), the ``(key, config, data_id)``
    tasks of its simulations in the sweep's order, the noise-free data set of each
    ``data_id``."""

    key: str
    X: np.ndarray
    X_test: np.ndarray
    kernel: dict
    spectrum: dict
    requires: tuple = ()
    tasks: list = field(default_factory=list)
    datasets: dict = field(default_factory=dict)


def plan(config, sims):
    """Group the simulations and load their data sets (here, once per distinct data set).

    Returns
    -------
    list of Group
        In the order of their first simulations in ``sims``.
    """
    datasets, groups, requires = {}, {}, {}
    for sim in sims:
        if sim.data_id not in datasets:
            datasets[sim.data_id] = load_dataset(sim.config["data"], config.base_dir)
        if sim.method not in requires:
            requires[sim.method] = set(get_method(sim.method, allow_import=True).requires)
        g = groups.get(sim.group)
        if g is None:
            ds = datasets[sim.data_id]
            kernel = sim.config["kernel"] if uses_kernel(requires[sim.method]) else None
            spectrum = sim.config.get("spectrum") if kernel is not None else None
            g = groups[sim.group] = Group(sim.group, ds.X, ds.X_test, kernel, spectrum, set())
        g.requires |= requires[sim.method]
        g.tasks.append((sim.key, sim.config, sim.data_id))
        g.datasets[sim.data_id] = datasets[sim.data_id]
    for g in groups.values():
        g.requires = tuple(sorted(g.requires))
    return list(groups.values())


def _seed_runs(tasks):
    """Split tasks into maximal runs of consecutive simulations differing only in their seed."""
    runs = []
    for task in tasks:
        prev = runs[-1][-1][1] if runs else None
        if prev is not None and prev.keys() == task[1].keys() and all(
                v == task[1][k] for k, v in prev.items() if k != "seed"):
            runs[-1].append(task)
        else:
            runs.append([task])
    return runs


def pack_runs(tasks, size):
    """Cut tasks into consecutive parts of at most ``size`` tasks, at seed-run boundaries.

    A seed run (one budget's label-noise seeds, say) is what a vectorized batch solves as the
    columns of one matrix, and the runs of a sweep usually repeat the same seeds. Cut into
    whole runs, the runs of a part share one label matrix, which the spectrum remembers: the
    part pays one O(n² · seeds) projection instead of one per run. Cut at arbitrary places
    (every 25 tasks across runs of 20, say), every part sees different label matrices and
    every run pays its projection again (measured: 1.4 times the serial cost of the
    benchmark sweep). A run longer than ``size`` is split into equal pieces, the same for
    every run of that length, so that the pieces still share their projections. The order
    of the tasks is kept.
    """
    parts = []
    current = []
    for run in _seed_runs(tasks):
        count = math.ceil(len(run) / size)
        bounds = [len(run) * j // count for j in range(count + 1)]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            piece = run[lo:hi]
            if len(current) + len(piece) > size:
                parts.append(current)
                current = []
            current = current + piece
    if current:
        parts.append(current)
    return parts


def chunks(tasks, n_workers):
    """Cut a group's tasks into the chunks of ``n_workers`` workers: about four chunks per
    worker balance the load; at most :data:`BATCH_SIZE` simulations per chunk bound what a
    killed worker loses; whole seed runs (:func:`pack_runs`)."""
    size = max(1, min(BATCH_SIZE, math.ceil(len(tasks) / (4 * max(1, n_workers)))))
    return pack_runs(tasks, size)
