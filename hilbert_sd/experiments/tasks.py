"""The work of a sweep, whoever runs it: prepare a group, run a chunk of its simulations.

These functions take and return picklable values and know nothing of the launcher
(:mod:`~hilbert_sd.experiments.launch`) that calls them: this process, a loky worker or a Dask
worker. A simulation's outcome is a record, the store row without the sweep's bookkeeping;
exceptions and warnings of a simulation are recorded on it, never raised.
"""

import os
import time
import traceback
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

from hilbert_sd.experiments.planning import BATCH_SIZE, GroupCache, make_inputs, pack_runs
from hilbert_sd.experiments.registry import get_method, load_attribute
from hilbert_sd.experiments.tuning import preparation_threads, single_threaded

__all__ = ["FailedGroup", "iter_chunk", "prepare_group", "record", "run_chunk"]


@dataclass
class FailedGroup:
    """A group whose preparation failed: its error is recorded on each of its simulations."""

    error: str
    traceback: str


def _now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def prepare_group(group):
    """The :class:`GroupCache` of a :class:`~hilbert_sd.experiments.planning.Group`, prepared
    (Gram matrix and eigendecomposition, with :func:`preparation_threads`), or the
    :class:`FailedGroup`."""
    try:
        with preparation_threads(len(group.X)):
            return GroupCache(group.X, group.X_test, group.kernel,
                              group.spectrum).prepare(group.requires)
    except Exception as exc:  # noqa: BLE001 - recorded against every simulation of the group
        return FailedGroup(f"preparing the group's Gram matrix and eigendecomposition failed: "
                           f"{type(exc).__name__}: {exc}", traceback.format_exc())


def record(key, status, results=None, error=None, tb=None, caught=(), started=None,
           duration=0.0):
    """The record of one simulation: a store row without the sweep's bookkeeping (``error``
    and ``tb`` of a failure, ``caught`` warnings kept once per text, ``started`` ISO 8601)."""
    from hilbert_sd import __version__
    from hilbert_sd.experiments.store import default_host

    seen = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.append(text)
    finished = _now()
    return {"key": key, "status": status, "results": results, "error": error,
            "traceback": tb, "warnings": seen, "started_at": started or finished,
            "finished_at": finished, "duration": duration, "host": default_host(),
            "pid": os.getpid(), "version": __version__}


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
    started = _now()
    t0 = time.perf_counter()
    results = error = tb = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # the config was validated (import references only with the user's consent)
            run = load_attribute(get_method(config["method"]["name"], allow_import=True).run)
            results = _check_results(run(config, make_inputs(group, dataset, config),
                                         config["seed"]))
            status = "done"
        except Exception as exc:  # noqa: BLE001 - a failed simulation is recorded, not fatal
            status, error, tb = "failed", f"{type(exc).__name__}: {exc}", traceback.format_exc()
            results = None
    return record(key, status, results, error, tb, caught, started, time.perf_counter() - t0)


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
            labels = {}  # the batch's simulations of one seed share their labels
            items = [(t[1], make_inputs(group, datasets[t[2]], t[1], labels), t[1]["seed"])
                     for t in tasks]
            outputs = [_check_results(r) for r in load_attribute(batch)(items)]
            if len(outputs) != len(tasks):
                raise ValueError("a batch returned a wrong number of results")
        except Exception:  # noqa: BLE001 - retried one by one below
            outputs = None
    if outputs is None or caught:
        return [_run_one(group, datasets[t[2]], t) for t in tasks]
    duration = (time.perf_counter() - t0) / len(tasks)
    return [record(t[0], "done", r, started=started, duration=duration)
            for t, r in zip(tasks, outputs)]


def iter_chunk(group, datasets, tasks):
    """Run a chunk of one group's simulations, yielding lists of records as they finish.

    Simulations of a method with a ``batch`` form run in batches made of whole seed runs
    (:func:`~hilbert_sd.experiments.planning.pack_runs`); the others one by one (a record
    each, so that a serial sweep commits every simulation as soon as it ends). BLAS and numba
    are single-threaded meanwhile (the parallelism of a sweep is across simulations, and
    serially the numerics are then those of the workers). ``tasks`` are ``(key, config,
    data_id)``, ``datasets`` the noise-free data set of each ``data_id``.
    """
    if isinstance(group, FailedGroup):
        yield [record(t[0], "failed", error=group.error, tb=group.traceback) for t in tasks]
        return
    specs = {}
    pending = []

    def flush():
        for part in pack_runs(pending, BATCH_SIZE):
            yield _run_batch(group, datasets, part, specs[part[0][1]["method"]["name"]].batch)
        pending.clear()

    with single_threaded():
        for task in tasks:
            name = task[1]["method"]["name"]
            if name not in specs:
                try:
                    specs[name] = get_method(name, allow_import=True)
                except ValueError:
                    specs[name] = None
            if specs[name] is not None and specs[name].batch is not None:
                if pending and pending[0][1]["method"]["name"] != name:
                    yield from flush()
                pending.append(task)
            else:
                yield from flush()
                yield [_run_one(group, datasets[task[2]], task)]
        yield from flush()


def run_chunk(group, datasets, tasks):
    """Run a chunk of one group's simulations (see :func:`iter_chunk`).

    Returns
    -------
    records : list of dict
    timings : dict
        The group cache's preparation timings (reported once per group by the caller).
    """
    records = [r for batch in iter_chunk(group, datasets, tasks) for r in batch]
    return records, dict(group.timings) if isinstance(group, GroupCache) else {}
