"""Run the simulations of a config into a results store: the sweep's orchestration.

A sweep expands its config, skips what the store holds (``resume``), plans the groups
(:mod:`~hilbert_sd.experiments.planning`), hands them to a launcher
(:mod:`~hilbert_sd.experiments.launch`: serial, joblib or Dask, with the process tuning of
:mod:`~hilbert_sd.experiments.tuning`) and writes each batch of records to the store as it
arrives, one transaction per batch, so an interrupted sweep keeps everything that finished.
"""

import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

from hilbert_sd.experiments.launch import launch
from hilbert_sd.experiments.planning import (GroupCache, SimulationInputs, load_dataset, plan,
                                             simulation_inputs)
from hilbert_sd.experiments.progress import Progress
from hilbert_sd.experiments.store import StoreFullError
from hilbert_sd.experiments.tuning import remove_stale_shared_folders

# GroupCache, SimulationInputs, load_dataset, simulation_inputs and
# remove_stale_shared_folders live in planning and tuning; importable from here too
__all__ = ["GroupCache", "SimulationInputs", "SweepReport", "interrupt_on_sigterm",
           "load_dataset", "remove_stale_shared_folders", "run_simulation", "run_sweep",
           "simulation_inputs"]


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
    groups = plan(config, sims)
    report.groups = len(groups)
    report.backend, batches = launch(groups, jobs=jobs, scheduler=scheduler)
    bar = Progress(len(sims), stream=stream, enabled=progress)
    timed_groups = set()
    committed = 0
    try:
        for records, group_key, timings in batches:
            if timings and group_key not in timed_groups:
                timed_groups.add(group_key)
                report.gram_time += timings.get("gram", 0.0)
                report.eigh_time += timings.get("eigh", 0.0)
                report.test_kernel_time += timings.get("test_kernel", 0.0)
            rows = [_row(config, by_key[rec["key"]], rec) for rec in records]
            for rec in records:
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
    _, batches = launch(plan(config, [sim]))
    (records, _, _), = list(batches)
    return sim, _row(config, sim, records[0])


def _row(config, sim, rec):
    """The store row of a simulation's record: the record and the sweep's bookkeeping."""
    return {**rec, "experiment": config.name, "position": sim.index, "method": sim.method,
            "seed": sim.seed, "group_key": sim.group, "config": sim.config,
            "params": sim.params}
