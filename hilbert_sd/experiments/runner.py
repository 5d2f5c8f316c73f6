"""Run the simulations of a config: serially, on joblib worker processes, or on a Dask cluster.

Simulations are grouped by training inputs and kernel (:attr:`Simulation.group`). Each group's
Gram matrix and eigendecomposition are computed once (:class:`GroupCache`) and shared by every
simulation of the group, whatever its budget, ridge, label noise or seed: label-noise seeds
change y, not the inputs. Results reach the store as they arrive, one transaction per batch, so
an interrupted sweep keeps everything that finished.

Where the work happens:

- serial (``jobs=1``): everything in this process (the simulations single-threaded, like
  the workers' ones);
- joblib (``jobs > 1``): each group is prepared in this process (with every BLAS thread), then
  its simulations run in chunks on ``jobs`` loky worker processes, which receive the shared
  arrays as read-only memory maps;
- Dask (``scheduler=ADDRESS`` or ``"local"``): one task prepares each group on a worker, and
  chunk tasks depending on it run where the scheduler puts them; nothing heavy runs here.

Workers run numerical kernels single-threaded (BLAS via threadpoolctl, numba via
``set_num_threads``), since the parallelism is across simulations.

Chunks and vectorized batches are cut at seed-run boundaries (:func:`_pack_runs`), so that
the budgets of a sweep that repeat the same label-noise seeds share one label projection in
every process. Two process-level costs that a worker would otherwise pay (measured on
``benchmarks/bench_sweep.py``, where they doubled the cost of a simulation in a worker): the
heap trimmed back to the system after every chunk (:func:`_keep_freed_memory`), and the main
process's idle OpenBLAS threads spinning on a core for ~0.1 s after the eigendecomposition
(:func:`_stop_idle_blas_threads`).
"""

import math
import os
import sys
import time
import traceback
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from hilbert_sd.experiments.data import DataSet, add_gaussian_noise, load_file
from hilbert_sd.experiments.registry import GENERATORS, TRUTHS, get_method, load_attribute
from hilbert_sd.experiments.store import StoreFullError

__all__ = [
    "GroupCache",
    "SimulationInputs",
    "SweepReport",
    "interrupt_on_sigterm",
    "load_dataset",
    "run_simulation",
    "run_sweep",
    "simulation_inputs",
]


# ---------------------------------------------------------------------------------------------
# shared arrays of a group, and what a method sees
# ---------------------------------------------------------------------------------------------
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

    def _gram(self, A, B=None):
        if self.kernel is None:
            raise ValueError("this simulation needs a kernel; the config has no [kernel] table")
        from hilbert_sd.kernels import gram

        params = {k: v for k, v in self.kernel.items() if k != "name" and v is not None}
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
        if self.kernel is None:
            raise ValueError("this simulation needs a kernel; the config has no [kernel] table")
        from hilbert_sd.spectral import decompose

        opts = self.spectrum_options
        kw = {k: opts[k] for k in ("rank", "random_state", "landmarks")
              if opts.get(k) is not None}
        params = {k: v for k, v in self.kernel.items() if k != "name" and v is not None}
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
            if getattr(spectrum, "is_low_rank", False):
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
        receive when only the eigendecomposition is used.
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
        Training labels, with this simulation's label noise.
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


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
def load_dataset(data, base_dir):
    """The noise-free :class:`DataSet` of one resolved ``[data]`` option.

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


# ---------------------------------------------------------------------------------------------
# work units (module-level functions: they are pickled to worker processes)
# ---------------------------------------------------------------------------------------------
@dataclass
class _GroupSpec:
    key: str
    X: np.ndarray
    X_test: np.ndarray
    kernel: dict
    requires: tuple
    spectrum: dict = None


@dataclass
class _FailedGroup:
    error: str
    traceback: str


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _prepare(spec):
    """Gram matrix and eigendecomposition of a group (or the error that prevented them)."""
    try:
        return GroupCache(spec.X, spec.X_test, spec.kernel,
                          spec.spectrum).prepare(spec.requires)
    except Exception as exc:  # noqa: BLE001 - recorded against every simulation of the group
        return _FailedGroup(f"preparing the group's Gram matrix and eigendecomposition failed: "
                            f"{type(exc).__name__}: {exc}", traceback.format_exc())


def _record(key, status, results, error, tb, caught, started, duration):
    from hilbert_sd import __version__
    from hilbert_sd.experiments.store import default_host

    seen = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.append(text)
    return {"key": key, "status": status, "results": results, "error": error,
            "traceback": tb, "warnings": seen, "started_at": started, "finished_at": _now(),
            "duration": duration, "host": default_host(), "pid": os.getpid(),
            "version": __version__}


_SCALARS = (bool, int, float, str, type(None))
_PLAIN = frozenset(_SCALARS)


def _check_results(results):
    if not isinstance(results, dict):
        raise TypeError(f"a method must return a dict of scalars; got {type(results).__name__}")
    if all(type(v) in _PLAIN and type(k) is str for k, v in results.items()):
        return results  # the common case: already plain Python scalars
    out = {}
    for k, v in results.items():
        if hasattr(v, "item") and getattr(v, "ndim", 0) == 0:
            v = v.item()  # numpy scalar
        if not isinstance(k, str) or not isinstance(v, _SCALARS):
            raise TypeError(f"a method must return a flat dict of scalars; key {k!r} holds "
                            f"{type(v).__name__}")
        out[k] = v
    return out


def _run_one(group, dataset, task):
    """Run one simulation; exceptions become a failed record."""
    key, config, _ = task
    seed = config["seed"]
    started = _now()
    t0 = time.perf_counter()
    results = error = tb = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if isinstance(group, _FailedGroup):
                raise _GroupError(group)
            # the config was validated (import references only with the user's consent)
            run = load_attribute(get_method(config["method"]["name"], allow_import=True).run)
            results = _check_results(run(config, _inputs(group, dataset, config), seed))
            status = "done"
        except _GroupError as exc:
            status, error, tb = "failed", exc.group.error, exc.group.traceback
        except Exception as exc:  # noqa: BLE001 - a failed simulation is recorded, not fatal
            status, error, tb = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
            results = None
    return _record(key, status, results, error, tb, caught, started,
                   time.perf_counter() - t0)


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
    return _inputs(group, dataset, config)


def _inputs(group, dataset, config):
    seed = config["seed"]
    y = add_gaussian_noise(dataset.y, config["data"].get("label_noise", 0.0), seed)
    return SimulationInputs(group, y, dataset.y, dataset.y_test, seed)


def _run_batch(group, datasets, tasks, batch):
    """Run simulations through a method's vectorized ``batch``.

    Falls back to one-by-one runs when the batch raises or warns, so that every failure and
    warning lands on the simulation it belongs to. The batch's time is split evenly.
    """
    started = _now()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            items = [(t[1], _inputs(group, datasets[t[2]], t[1]), t[1]["seed"]) for t in tasks]
            outputs = [_check_results(r) for r in load_attribute(batch)(items)]
            if len(outputs) != len(tasks):
                raise ValueError("a batch returned a wrong number of results")
        except Exception:  # noqa: BLE001 - retried one by one below
            outputs = None
    if outputs is None or caught:
        return [_run_one(group, datasets[t[2]], t) for t in tasks]
    duration = (time.perf_counter() - t0) / len(tasks)
    return [_record(t[0], "done", r, None, None, [], started, duration)
            for t, r in zip(tasks, outputs)]


#: Largest number of simulations run by one vectorized batch (their rows are committed
#: together; in a killed sweep at most one batch per worker is lost).
BATCH_SIZE = 64


def _same_but_seed(a, b):
    return a.keys() == b.keys() and all(v == b[k] for k, v in a.items() if k != "seed")


def _seed_runs(tasks):
    """Split tasks into maximal runs of consecutive simulations differing only in their seed."""
    runs = []
    for task in tasks:
        if runs and _same_but_seed(runs[-1][-1][1], task[1]):
            runs[-1].append(task)
        else:
            runs.append([task])
    return runs


def _pack_runs(tasks, size):
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


def _iter_chunk(group, datasets, tasks):
    """Run a chunk of one group's simulations, yielding lists of records as they finish.

    Simulations of a method with a ``batch`` form run in batches; the others one by one (a
    record each, so that a serial sweep commits every simulation as soon as it ends).
    """
    specs = {}
    pending = []

    def flush():
        # batches made of whole seed runs: see _pack_runs
        for part in _pack_runs(pending, BATCH_SIZE):
            yield _run_batch(group, datasets, part, specs[part[0][1]["method"]["name"]].batch)
        pending.clear()

    for task in tasks:
        name = task[1]["method"]["name"]
        if name not in specs:
            try:
                specs[name] = get_method(name, allow_import=True)
            except ValueError:
                specs[name] = None
        spec = specs[name]
        batchable = (spec is not None and spec.batch is not None
                     and isinstance(group, GroupCache))
        if batchable:
            if pending and pending[0][1]["method"]["name"] != name:
                yield from flush()
            pending.append(task)
        else:
            yield from flush()
            yield [_run_one(group, datasets[task[2]], task)]
    yield from flush()


class _GroupError(Exception):
    def __init__(self, group):
        super().__init__(group.error)
        self.group = group


_CONTROLLER = [None, -1]


def _blas_controller():
    """This process's threadpoolctl controller, built again only when modules were imported.

    Building one scans the loaded shared libraries (reading /proc/self/maps): about 3 ms,
    which a worker paid for every chunk, 15 % of a 20-simulation chunk. Limiting through a
    kept controller costs microseconds. A library loaded since (a new import) is picked up
    by the rebuild.
    """
    from threadpoolctl import ThreadpoolController

    loaded = len(sys.modules)
    if _CONTROLLER[0] is None or _CONTROLLER[1] != loaded:
        _CONTROLLER[:] = [ThreadpoolController(), loaded]
    return _CONTROLLER[0]


@contextmanager
def _serial_numerics():
    """Single-threaded BLAS and numba inside a worker (the parallelism is across tasks).

    numba's thread count is per thread, so this holds in threaded workers too. OpenBLAS with
    its own (pthreads) pool has one process-wide setting that threadpoolctl lets only one
    thread at a time control: in a worker process running one task at a time (loky, Dask
    with one thread per worker) that is this task's thread; with several threads per
    process the BLAS limit is best effort (start such workers with OPENBLAS_NUM_THREADS=1).
    """
    try:
        # imported here (not looked up in sys.modules): a method importing numba later would
        # get its default thread count, and the import lock makes concurrent worker threads
        # wait for a complete module
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        numba = None
    previous = None
    if numba is not None:
        previous = numba.get_num_threads()
        numba.set_num_threads(1)
    try:
        with _blas_controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        if previous is not None:
            numba.set_num_threads(previous)


def _stop_idle_blas_threads():
    """Stop OpenBLAS's idle threads in this process, before worker processes take the cores.

    After a multi-threaded call, OpenBLAS (pthreads build) keeps its threads spinning for
    about 2^28 cycles (~0.1 s) waiting for more work: measured here, 110 ms of a core after
    the eigendecomposition, and again after the test projection (numpy and scipy each carry
    their own OpenBLAS). On a machine with as many cores as workers, that spinning takes a
    core from a worker exactly when the simulations start. ``blas_thread_shutdown_`` (what
    OpenBLAS itself calls before a fork) ends them; the next multi-threaded call starts them
    again. Called from the sweep's thread between its own BLAS calls; another thread of
    this process inside an OpenBLAS call at that moment would be disturbed (a sweep is not
    meant to share its process with concurrent linear algebra). Other BLAS libraries are
    left alone.
    """
    try:
        libs = _blas_controller().lib_controllers
    except Exception:  # noqa: BLE001 - an optimization only  # pragma: no cover
        return
    for lib in libs:
        if lib.internal_api != "openblas" or getattr(lib, "threading_layer", "") != "pthreads":
            continue
        shutdown = getattr(getattr(lib, "dynlib", None), "blas_thread_shutdown_", None)
        if shutdown is not None:
            shutdown()


_HEAP_KEPT = []


def _keep_freed_memory():
    """Let this worker process reuse its freed memory instead of returning it to the system.

    A simulation's temporaries are arrays of about a megabyte, allocated and freed again and
    again. glibc serves them from the heap once its (dynamic) mmap threshold has grown past
    them, but a worker's heap top is then trimmed back to the system after each chunk: the
    next chunk page-faults the same megabytes in again. Measured on the benchmark sweep:
    ~1700 page faults per 20-simulation chunk, 20-23 ms of CPU instead of 11-15 ms. A
    long-lived process that has once freed a large array (the main process, after its Gram
    matrix) is already past this: its thresholds have grown with that array. Here they are
    set once per worker to glibc's own dynamic maximum (mmap 32 MiB, trim twice that), what
    such a process reaches. Elsewhere (not glibc) this does nothing.
    """
    if _HEAP_KEPT:
        return
    _HEAP_KEPT.append(True)
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


def _run_chunk(group, datasets, tasks):
    """Worker entry point: run a chunk of one group's simulations.

    Returns
    -------
    records : list of dict
    timings : dict
        The group cache's preparation timings (reported once per group by the caller).
    """
    _keep_freed_memory()
    with _serial_numerics():
        records = [r for batch in _iter_chunk(group, datasets, tasks) for r in batch]
    timings = group.timings if isinstance(group, GroupCache) else {}
    return records, dict(timings)


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
class Progress:
    """A progress bar on a terminal, plain lines otherwise (at most one per ``interval`` s)."""

    def __init__(self, total, *, stream=None, enabled=True, label="sweep", interval=5.0):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and total > 0
        self.label = label
        self.interval = interval
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._last = -math.inf
        self.done = self.failed = 0

    def update(self, done, failed):
        self.done, self.failed = done, failed
        if not self.enabled:
            return
        now = time.monotonic()
        finished = done + failed >= self.total
        if not finished and now - self._last < (0.1 if self.tty else self.interval):
            return
        self._last = now
        n = done + failed
        elapsed = now - self.start
        eta = elapsed / n * (self.total - n) if n else float("nan")
        text = (f"{self.label}: {n}/{self.total} ({100 * n / self.total:.0f}%), "
                f"{failed} failed, {elapsed:.1f} s elapsed"
                + ("" if finished or not n else f", ~{eta:.0f} s left"))
        if self.tty:
            width = 24
            filled = int(width * n / self.total)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


# ---------------------------------------------------------------------------------------------
# sweeps
# ---------------------------------------------------------------------------------------------
@dataclass
class SweepReport:
    """What a sweep did and where its time went.

    Attributes
    ----------
    total : int
        Simulations of the config (this shard).
    skipped : int
        Already in the store (``resume``).
    done, failed : int
        Simulations run in this sweep, by outcome.
    groups : int
        Distinct (inputs, kernel) groups, i.e. eigendecompositions computed.
    wall_time : float
        Seconds from start to the last write.
    gram_time, eigh_time, test_kernel_time : float
        Seconds of group preparation (summed over groups; on Dask, measured on the workers).
    simulation_time : float
        Seconds inside the simulations, summed over simulations (over workers in parallel).
    store_time : float
        Seconds spent writing to the store.
    """

    total: int = 0
    skipped: int = 0
    done: int = 0
    failed: int = 0
    groups: int = 0
    wall_time: float = 0.0
    gram_time: float = 0.0
    eigh_time: float = 0.0
    test_kernel_time: float = 0.0
    simulation_time: float = 0.0
    store_time: float = 0.0
    interrupted: bool = False
    backend: str = "serial"
    failures: list = field(default_factory=list)

    def summary(self):
        """A few lines for the terminal."""
        lines = [
            f"{self.done} done, {self.failed} failed, {self.skipped} skipped (already stored) "
            f"of {self.total} simulations in {self.wall_time:.2f} s ({self.backend})",
            f"time: {self.groups} group(s), eigendecomposition {self.eigh_time:.3f} s, Gram "
            f"{self.gram_time:.3f} s, test kernel {self.test_kernel_time:.3f} s, simulations "
            f"{self.simulation_time:.3f} s (summed over workers), store {self.store_time:.3f} s",
        ]
        for key, err in self.failures[:3]:
            lines.append(f"failed {key[:12]}: {err}")
        if len(self.failures) > 3:
            lines.append(f"... and {len(self.failures) - 3} more failures (hilbert-sd results "
                         "DB --status failed)")
        return "\n".join(lines)


def _chunks(tasks, n_workers):
    # ~4 chunks per worker balances load; at most 64 simulations per chunk bounds what a
    # killed worker loses. Chunks are made of whole seed runs (see _pack_runs).
    size = max(1, min(BATCH_SIZE, math.ceil(len(tasks) / (4 * max(1, n_workers)))))
    return _pack_runs(tasks, size)


def _plan(config, sims):
    """Group the simulations and load their data sets (here, once per distinct data set)."""
    datasets = {}
    groups = {}
    requires = {}
    for sim in sims:
        if sim.data_id not in datasets:
            datasets[sim.data_id] = load_dataset(sim.config["data"], config.base_dir)
        name = sim.method
        if name not in requires:
            requires[name] = get_method(name, allow_import=True).requires
        g = groups.get(sim.group)
        if g is None:
            ds = datasets[sim.data_id]
            kernel = sim.config["kernel"] if set(requires[name]) & {"kernel", "spectrum",
                                                                     "test_kernel"} else None
            spectrum = sim.config.get("spectrum") if kernel is not None else None
            g = groups[sim.group] = {"spec": _GroupSpec(sim.group, ds.X, ds.X_test, kernel, (),
                                                        spectrum),
                                     "tasks": [], "requires": set()}
        g["requires"].update(requires[name])
        g["tasks"].append((sim.key, sim.config, sim.data_id))
    for g in groups.values():
        g["spec"].requires = tuple(sorted(g["requires"]))
        g["datasets"] = {t[2]: datasets[t[2]] for t in g["tasks"]}
    return list(groups.values())


def _execute_serial(groups):
    for g in groups:
        cache = _prepare(g["spec"])  # the eigendecomposition with every BLAS thread
        timings = cache.timings if isinstance(cache, GroupCache) else {}
        # The simulations' products are small (n x n by n x batch): threads cost more in
        # synchronization than they give, badly so on a busy machine; and single-threaded
        # here, the numerics are those of the workers.
        with _serial_numerics():
            for records in _iter_chunk(cache, g["datasets"], g["tasks"]):
                yield records, (g["spec"].key, timings)


class _SharedGroup:
    """A prepared group written once to shared memory, for worker processes on this machine.

    The cache is pickled with protocol 5 and its arrays kept out of band, each in a file
    under ``/dev/shm`` (or the temporary directory). Workers map the files read-only, so the
    n x n eigenvector matrix crosses to every worker at the cost of a page-table update
    instead of one copy (and one hash) per task.
    """

    def __init__(self, cache, directory):
        import pickle

        buffers = []
        payload = pickle.dumps(cache, protocol=5, buffer_callback=buffers.append)
        self.paths = []
        for i, buf in enumerate(buffers):
            path = os.path.join(directory, f"{i}.buf")
            with open(path, "wb") as fh:
                fh.write(buf.raw())
            self.paths.append(path)
        self.payload = payload
        self.token = directory

    def load(self):
        import mmap
        import pickle

        views = []
        for path in self.paths:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                # an empty array has no pages to map
                views.append(memoryview(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ))
                             if size else memoryview(b""))
        return pickle.loads(self.payload, buffers=views)


#: Prepared groups already mapped by this (worker) process, most recent last.
_MAPPED = {}


def _run_shared_chunk(shared, datasets, tasks):
    """Worker entry point of the joblib path: map the group once per process, run a chunk."""
    group = _MAPPED.get(shared.token)
    if group is None:
        while len(_MAPPED) >= 2:  # groups arrive one after another: keep few mapped
            _MAPPED.pop(next(iter(_MAPPED)))
        group = _MAPPED[shared.token] = shared.load()
    return _run_chunk(group, datasets, tasks)


#: Prefix of the shared-memory folders of parallel sweeps: ``hilbert_sd-PID-XXXXXXXX``.
SHM_PREFIX = "hilbert_sd-"
_SHM_LOCK = ".lock"


def _shm_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_shared_folders(directory=None, *, min_age=60.0):
    """Delete the shared-memory folders that killed parallel sweeps left behind.

    A sweep's folder holds a lock (``flock``) for as long as its process lives; the kernel
    releases it when the process dies, however it dies (SIGKILL included). A folder of ours
    (same user, ``hilbert_sd-PID-...``) whose lock can be taken belongs to a dead process and
    is deleted. A folder without a lock file (one being created, or left by a version without
    locks) is deleted only when its process ``PID`` does not exist and it is older than
    ``min_age`` seconds. Other users' folders and anything else are never touched.

    Parameters
    ----------
    directory : str, optional
        Where the folders are (default ``/dev/shm``, else the temporary directory).
    min_age : float, default=60.0

    Returns
    -------
    list of str
        The folders deleted.
    """
    import fcntl
    import re
    import shutil
    import tempfile

    directory = directory or _shm_dir() or tempfile.gettempdir()
    pattern = re.compile(re.escape(SHM_PREFIX) + r"(\d+)-[^/]+$")
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.getuid():
                continue
            pid = int(match.group(1))
            if pid == os.getpid():
                continue
            lock = os.path.join(entry.path, _SHM_LOCK)
            try:
                fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
            except FileNotFoundError:
                if _pid_alive(pid) or time.time() - st.st_mtime < min_age:
                    continue
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its sweep is running
                finally:
                    os.close(fd)
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
        except OSError:
            continue
    return removed


@contextmanager
def _shared_folder(shm):
    """A fresh ``hilbert_sd-PID-...`` folder, locked for as long as it exists."""
    import fcntl
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix=f"{SHM_PREFIX}{os.getpid()}-", dir=shm)
    fd = None
    try:
        fd = os.open(os.path.join(directory, _SHM_LOCK), os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if fd is not None:
            os.close(fd)


def _execute_joblib(groups, jobs):
    from joblib import Parallel, delayed, parallel_config

    shm = _shm_dir()
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        remove_stale_shared_folders(shm)
    with parallel_config(backend="loky", inner_max_num_threads=1):
        # max_nbytes=None: no joblib memmapping; the group is shared once by _SharedGroup
        with Parallel(n_jobs=jobs, return_as="generator_unordered", max_nbytes=None) \
                as parallel:
            for g in groups:
                cache = _prepare(g["spec"])  # here, with every BLAS thread
                _stop_idle_blas_threads()  # before the workers need the cores
                chunks = _chunks(g["tasks"], jobs)
                with _shared_folder(shm) as directory:
                    ref = _SharedGroup(cache, directory) if isinstance(cache, GroupCache) \
                        else cache
                    run = _run_shared_chunk if isinstance(cache, GroupCache) else _run_chunk
                    calls = (delayed(run)(ref, {t[2]: g["datasets"][t[2]] for t in c}, c)
                             for c in chunks)
                    for records, timings in parallel(calls):
                        yield records, (g["spec"].key, timings)


def _dask_client(scheduler, jobs):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed, an optional dependency: "
                         "pip install 'hilbert_sd[distributed]'") from None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None,
                               env={"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                                    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="30s"), None
    except OSError as exc:
        raise ValueError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") \
            from None


def _execute_dask(groups, scheduler, jobs):
    from distributed import as_completed

    client, cluster = _dask_client(scheduler, jobs)
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        futures = {}
        for g in groups:
            prepared = client.submit(_prepare, g["spec"], pure=False)
            for c in _chunks(g["tasks"], n_workers):
                sub = {t[2]: g["datasets"][t[2]] for t in c}
                fut = client.submit(_run_chunk, prepared, sub, c, pure=False)
                futures[fut] = (g["spec"].key, c)
            del prepared  # released by the scheduler once its chunks are done
        for fut in as_completed(list(futures)):
            group_key, chunk = futures.pop(fut)
            try:
                records, timings = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker died: record, go on
                err = f"the Dask task failed: {type(exc).__name__}: {exc}"
                records = [_record(t[0], "failed", None, err, None, [], _now(), 0.0)
                           for t in chunk]
                timings = None
            yield records, (group_key, timings)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def run_sweep(config, store, *, jobs=1, scheduler=None, resume=False, overwrite=False,
              retry_failed=False, shard=None, progress=True, stream=None):
    """Run every simulation of a config and write the outcomes to a results store.

    Parameters
    ----------
    config : ExperimentConfig
    store : ResultStore
    jobs : int, default=1
        Worker processes (joblib); with ``scheduler="local"`` the number of Dask workers.
    scheduler : str, optional
        ``"local"`` (a local Dask cluster) or a Dask scheduler address.
    resume : bool, default=False
        Skip simulations already in the store (done, or failed unless ``retry_failed``).
    overwrite : bool, default=False
        Run simulations already in the store again and replace their rows.
    retry_failed : bool, default=False
        With ``resume``: run failed simulations again.
    shard : (int, int), optional
        ``(i, n)``: run only the simulations whose index is ``i - 1`` modulo ``n`` (split a
        sweep over ``n`` independent jobs writing to one store).
    progress : bool, default=True
    stream : file-like, optional
        Where progress goes (default ``sys.stderr``).

    Returns
    -------
    SweepReport

    Raises
    ------
    ValueError
        If the store already holds some of the simulations and neither ``resume`` nor
        ``overwrite`` is set, or the data cannot be read.
    KeyboardInterrupt
        Propagated after the workers are stopped; finished simulations are stored.
    """
    if resume and overwrite:
        raise ValueError("resume and overwrite are exclusive")
    if jobs < 1:
        raise ValueError(f"jobs={jobs} is out of range; allowed: >= 1")
    start = time.perf_counter()
    sims = config.simulations()
    if shard is not None:
        i, n = shard
        sims = [s for s in sims if s.index % n == i - 1]
    report = SweepReport(total=len(sims))
    existing = store.statuses()
    if not resume and not overwrite:
        clash = sum(1 for s in sims if s.key in existing)
        if clash:
            raise ValueError(f"{store.path} already holds {clash} of the {len(sims)} "
                             "simulations of this sweep; use --resume to skip them or "
                             "--overwrite to run them again")
    if resume:
        skip = {"done", "failed"} if not retry_failed else {"done"}
        todo = [s for s in sims if existing.get(s.key) not in skip]
        report.skipped = len(sims) - len(todo)
        # a skipped simulation (perhaps run by another experiment) is one of this one's too
        store.add_members(config.name, [(s.key, s.index) for s in sims
                                        if existing.get(s.key) in skip])
        sims = todo
    by_key = {s.key: s for s in sims}
    groups = _plan(config, sims)
    report.groups = len(groups)

    if scheduler is not None:
        report.backend = f"dask ({scheduler})"
        batches = _execute_dask(groups, scheduler, jobs)
    elif jobs > 1:
        report.backend = f"joblib, {jobs} processes"
        batches = _execute_joblib(groups, jobs)
    else:
        batches = _execute_serial(groups)

    bar = Progress(len(sims), stream=stream, enabled=progress)
    timed_groups = set()
    committed = 0
    try:
        for records, (group_key, timings) in batches:
            if timings and group_key not in timed_groups:
                timed_groups.add(group_key)
                report.gram_time += timings.get("gram", 0.0)
                report.eigh_time += timings.get("eigh", 0.0)
                report.test_kernel_time += timings.get("test_kernel", 0.0)
            rows = []
            for rec in records:
                sim = by_key[rec["key"]]
                rows.append({**rec, "experiment": config.name, "position": sim.index,
                             "method": sim.method, "seed": sim.seed, "group_key": sim.group,
                             "config": sim.config, "params": sim.params})
                if rec["status"] == "done":
                    report.done += 1
                else:
                    report.failed += 1
                    report.failures.append((rec["key"], rec["error"]))
                report.simulation_time += rec["duration"]
            t0 = time.perf_counter()
            store.write(rows)
            committed += len(rows)
            report.store_time += time.perf_counter() - t0
            bar.update(report.done, report.failed)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    except StoreFullError as exc:
        # what was committed stays; the batch that did not fit is run again by --resume
        raise StoreFullError(f"{exc}; the sweep stopped with {committed} of its "
                             f"{len(sims)} simulation(s) stored: free space, then run it "
                             "again with --resume") from None
    finally:
        batches.close()  # stops workers / the Dask client
        bar.close()
        report.wall_time = time.perf_counter() - start
        if report.interrupted:
            print(f"interrupted: {report.done + report.failed} simulations of this sweep are "
                  f"stored in {store.path}; run again with --resume to finish",
                  file=sys.stderr if stream is None else stream)
    return report


@contextmanager
def interrupt_on_sigterm():
    """Turn SIGTERM into ``KeyboardInterrupt`` while the block runs (main thread only).

    A terminated sweep then stops its workers and exits like an interrupted one, instead of
    leaving worker processes behind. Finished simulations are already committed either way.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_simulation(config, index=0):
    """Run one simulation of a config in this process and return its record.

    Parameters
    ----------
    config : ExperimentConfig
    index : int, default=0
        Position of the simulation in the config's expansion.

    Returns
    -------
    sim : Simulation
    row : dict
        The store row (``results`` a dict, ``status``, ``error``, timings, ...).
    """
    sims = config.simulations()
    if not 0 <= index < len(sims):
        raise ValueError(f"index={index} is out of range; the config has {len(sims)} "
                         f"simulation(s): allowed 0..{len(sims) - 1}")
    sim = sims[index]
    (group,) = _plan(config, [sim])
    (records, _), = list(_execute_serial([group]))
    row = {**records[0], "experiment": config.name, "position": sim.index,
           "method": sim.method, "seed": sim.seed, "group_key": sim.group,
           "config": sim.config, "params": sim.params}
    return sim, row
