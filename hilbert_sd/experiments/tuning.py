"""Process tuning for sweeps: BLAS and numba threads, the heap, shared-memory folders.

The parallelism of a sweep is across simulations: simulations run single-threaded wherever
they run, and a group is prepared with every BLAS thread only when it is large enough to gain
from them. Two process-level costs doubled a worker's time per simulation on
``benchmarks/bench_sweep.py``: :func:`keep_freed_memory` and :func:`stop_idle_blas_threads`.
"""

import os
import sys
import time
from contextlib import contextmanager

__all__ = ["MULTITHREADED_MIN_N", "keep_freed_memory", "preparation_threads",
           "remove_stale_shared_folders", "shared_folder", "single_threaded",
           "stop_idle_blas_threads"]

#: Smallest number of training points whose group is prepared with every BLAS thread; smaller
#: groups are prepared with one. Measured on two cores (``eigh_psd``): one thread is as fast
#: up to n ≈ 600 on an idle machine and several times faster on a busy one (where a
#: contended OpenBLAS pool took 0.05-6 s per eigendecomposition at n ≤ 400); two threads
#: gain 10-25 % from n ≈ 800 on an idle machine.
MULTITHREADED_MIN_N = 800

#: Environment of worker processes started by a sweep (a local Dask cluster): one thread each.
SINGLE_THREAD_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                     "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

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
def single_threaded():
    """Single-threaded BLAS and numba while the block runs (the parallelism is across tasks).

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


@contextmanager
def preparation_threads(n_samples):
    """One BLAS thread while a group of ``n_samples`` < :data:`MULTITHREADED_MIN_N` points is
    prepared (its threads would synchronize more than they compute); larger groups keep the
    process's setting."""
    if n_samples >= MULTITHREADED_MIN_N:
        yield
        return
    with _blas_controller().limit(limits=1, user_api="blas"):
        yield


def stop_idle_blas_threads():
    """Stop OpenBLAS's idle threads in this process, before worker processes (or this
    process's single-threaded simulations) take the cores.

    After a multi-threaded call, OpenBLAS (pthreads build) keeps its threads spinning for
    about 2^28 cycles (~0.1 s) waiting for more work: measured here, 110 ms of a core after
    the eigendecomposition, and again after the test projection (numpy and scipy each carry
    their own OpenBLAS). On a machine with as many cores as workers, that spinning takes a
    core from a worker exactly when the simulations start; in a serial sweep on a machine
    with other work, from the simulations themselves. ``blas_thread_shutdown_`` (what
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


def keep_freed_memory():
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


#: Prefix of the shared-memory folders of parallel sweeps: ``hilbert_sd-PID-XXXXXXXX``.
SHM_PREFIX = "hilbert_sd-"
_SHM_LOCK = ".lock"


def shm_dir():
    """``/dev/shm`` when this process can write there, else None (the temporary directory)."""
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _in_use(path):
    """Whether a process this user can inspect has a file under ``path`` open or mapped
    (``/proc/PID/fd`` and ``/proc/PID/maps``); None when ``/proc`` cannot tell."""
    prefix = os.path.realpath(path) + os.sep
    try:
        pids = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return None
    for pid in pids:
        try:
            for fd in os.scandir(f"/proc/{pid}/fd"):
                if os.readlink(fd.path).startswith(prefix):
                    return True
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
                if any(prefix in line for line in maps):
                    return True
        except OSError:
            continue  # gone, or another user's process (whose files are not ours to hold)
    return False


def remove_stale_shared_folders(directory=None, *, min_age=60.0):
    """Delete the shared-memory folders that killed parallel sweeps left behind.

    A sweep's folder holds a lock (``flock``) for as long as its process lives; the kernel
    releases it when the process dies, however it dies (SIGKILL included). A folder of ours
    (same user, ``hilbert_sd-PID-...``) whose lock can be taken belongs to a dead process and
    is deleted. A folder without a lock file (one being created, or left by a version without
    locks) is deleted only when its process ``PID`` does not exist and it is older than
    ``min_age`` seconds. A folder of the naming before PIDs were part of it
    (``hilbert_sd-XXXXXXXX``, no lock) is deleted when it is older than ``min_age`` seconds and
    no process has a file in it open or mapped (read from ``/proc``; kept where ``/proc`` cannot
    tell). Other users' folders and anything else are never touched.

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

    directory = directory or shm_dir() or tempfile.gettempdir()
    pattern = re.compile(re.escape(SHM_PREFIX) + r"(\d+)-[^/]+$")
    unlocked = re.compile(re.escape(SHM_PREFIX) + r"[a-z0-9_]{8}$")  # tempfile's 8 characters
    removed = []
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None and unlocked.match(entry.name) is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if not entry.is_dir(follow_symlinks=False) or st.st_uid != os.getuid():
                continue
            if match is None:  # the old naming: no PID, no lock
                if time.time() - st.st_mtime >= min_age and _in_use(entry.path) is False:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed.append(entry.path)
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
def shared_folder(shm):
    """A fresh ``hilbert_sd-PID-...`` folder in ``shm`` (None: the temporary directory),
    locked for as long as it exists, deleted with its content when the block ends."""
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
