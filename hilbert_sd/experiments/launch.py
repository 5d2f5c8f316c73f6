"""Launchers: run a plan's groups serially, on joblib worker processes, or on a Dask cluster,
through the same task functions (:mod:`~hilbert_sd.experiments.tasks`):

- serial (``jobs=1``): everything in this process, one record (or one vectorized batch) at a
  time;
- joblib (``jobs > 1``): each group is prepared in this process, written once to shared memory
  and mapped read-only by ``jobs`` loky worker processes, which run its chunks;
- Dask (``scheduler=ADDRESS`` or ``"local"``): one task prepares each group on a worker, and
  chunk tasks depending on it run where the scheduler puts them; nothing heavy runs here.
"""

import os
import sys
from dataclasses import replace

from hilbert_sd.experiments import tuning
from hilbert_sd.experiments.planning import chunks
from hilbert_sd.experiments.tasks import FailedGroup, iter_chunk, prepare_group, record, run_chunk

__all__ = ["launch"]


def launch(groups, *, jobs=1, scheduler=None):
    """Run a plan's groups: serially, on ``jobs`` joblib workers, or on a Dask ``scheduler``.

    Returns
    -------
    backend : str
        What runs the simulations, for the sweep's report.
    batches : generator of (list of dict, str, dict)
        The records of each finished batch, its group's key and the group's preparation
        timings (empty when unknown). Closing it stops the workers or the Dask client.
    """
    if scheduler is not None:
        return f"dask ({scheduler})", _dask(groups, scheduler, jobs)
    if jobs > 1:
        return f"joblib, {jobs} processes", _joblib(groups, jobs)
    return "serial", _serial(groups)


def _serial(groups):
    for g in groups:
        cache = prepare_group(g)
        if len(g.X) >= tuning.MULTITHREADED_MIN_N:
            # prepared with every BLAS thread, simulated on one: OpenBLAS's threads, left
            # spinning ~0.1 s after the eigendecomposition, would take a core from the
            # simulations on a machine with other work
            tuning.stop_idle_blas_threads()
        timings = {} if isinstance(cache, FailedGroup) else cache.timings
        for records in iter_chunk(cache, g.datasets, g.tasks):
            yield records, g.key, timings


def _in_worker(group, datasets, tasks):
    """Entry point of a worker task: tune the worker process, then run a chunk."""
    tuning.keep_freed_memory()
    return run_chunk(group, datasets, tasks)


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
        self.payload = pickle.dumps(cache, protocol=5, buffer_callback=buffers.append)
        self.paths = []
        for i, buf in enumerate(buffers):
            path = os.path.join(directory, f"{i}.buf")
            with open(path, "wb") as fh:
                fh.write(buf.raw())
            self.paths.append(path)
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


def _in_worker_shared(shared, datasets, tasks):
    """Entry point of a joblib worker task: map the group once per process, run a chunk."""
    group = _MAPPED.get(shared.token)
    if group is None:
        while len(_MAPPED) >= 2:  # groups arrive one after another: keep few mapped
            _MAPPED.pop(next(iter(_MAPPED)))
        group = _MAPPED[shared.token] = shared.load()
    return _in_worker(group, datasets, tasks)


def _joblib(groups, jobs):
    from joblib import Parallel, delayed, parallel_config

    shm = tuning.shm_dir()
    if sys.platform.startswith("linux") or sys.platform == "darwin":
        tuning.remove_stale_shared_folders(shm)
    with parallel_config(backend="loky", inner_max_num_threads=1):
        # max_nbytes=None: no joblib memmapping; the group is shared once by _SharedGroup
        with Parallel(n_jobs=jobs, return_as="generator_unordered", max_nbytes=None) \
                as parallel:
            for g in groups:
                cache = prepare_group(g)  # here, while the workers wait
                tuning.stop_idle_blas_threads()  # before the workers need the cores
                with tuning.shared_folder(shm) as directory:
                    failed = isinstance(cache, FailedGroup)
                    ref = cache if failed else _SharedGroup(cache, directory)
                    run = _in_worker if failed else _in_worker_shared
                    calls = (delayed(run)(ref, {t[2]: g.datasets[t[2]] for t in c}, c)
                             for c in chunks(g.tasks, jobs))
                    for records, timings in parallel(calls):
                        yield records, g.key, timings


def _dask_client(scheduler, jobs):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("--scheduler needs dask.distributed, an optional dependency: "
                         "pip install 'hilbert_sd[distributed]'") from None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, jobs), threads_per_worker=1, processes=True,
                               dashboard_address=None, env=tuning.SINGLE_THREAD_ENV)
        return Client(cluster), cluster
    try:
        return Client(scheduler, timeout="30s"), None
    except OSError as exc:
        raise ValueError(f"cannot connect to the Dask scheduler at {scheduler!r}: {exc}") \
            from None


def _dask(groups, scheduler, jobs):
    from distributed import as_completed

    client, cluster = _dask_client(scheduler, jobs)
    try:
        n_workers = max(1, sum(client.nthreads().values()))
        futures = {}
        for g in groups:
            # the simulations' data sets travel with their chunks
            prepared = client.submit(prepare_group, replace(g, tasks=[], datasets={}),
                                     pure=False)
            for c in chunks(g.tasks, n_workers):
                sub = {t[2]: g.datasets[t[2]] for t in c}
                futures[client.submit(_in_worker, prepared, sub, c, pure=False)] = (g, c)
            del prepared  # released by the scheduler once its chunks are done
        for fut in as_completed(list(futures)):
            g, chunk = futures.pop(fut)
            try:
                records, timings = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker died: record, go on
                err = f"the Dask task failed: {type(exc).__name__}: {exc}"
                records, timings = [record(t[0], "failed", error=err) for t in chunk], {}
            yield records, g.key, timings
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
