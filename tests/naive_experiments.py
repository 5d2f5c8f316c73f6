"""Slow, obviously-correct references and stand-in methods for the experiments tests.

The stand-in methods are importable as ``naive_experiments:NAME`` by worker processes (the
tests put this directory on PYTHONPATH), so the runner's infrastructure is tested without the
numerical engine, and failures are deterministic.
"""

import os
import time

import numpy as np


def _fails(config, seed):
    # a failure set from the config, or from the environment (to test --retry-failed: the
    # same simulation fails on one run and succeeds on the next)
    env = os.environ.get("NAIVE_EXPERIMENTS_FAIL", "")
    return config["method"].get("fail_seed") == seed or str(seed) in env.split(",")


def toy(config, inputs, seed):
    """Deterministic function of the parameters and labels; fails on ``method.fail_seed``."""
    m = config["method"]
    if _fails(config, seed):
        raise RuntimeError(f"deliberate failure for seed {seed}")
    return {"value": float(m.get("scale", 1.0)) * seed + float(np.sum(inputs.y)),
            "n": int(inputs.y.shape[0]), "pid_parity": os.getpid() % 2 == 0}


toy.requires = ()


def slow(config, inputs, seed):
    """Sleep ``method.sleep`` seconds, then behave like :func:`toy`."""
    time.sleep(config["method"]["sleep"])
    if _fails(config, seed):
        raise RuntimeError(f"deliberate failure for seed {seed}")
    return {"value": float(seed) + float(np.sum(inputs.y))}


slow.requires = ()


def returns_array(config, inputs, seed):
    """A broken method: its results are not scalars."""
    return {"y": inputs.y}


returns_array.requires = ()


def krr_rounds(K, y, K_test, alphas):
    """Literal self-distillation: refit scikit-learn's KernelRidge to its own predictions.

    Returns the training predictions and test predictions of each round, for the given ridges.
    """
    # imported here: worker processes that only run the stand-in methods stay light
    from sklearn.kernel_ridge import KernelRidge

    targets = np.asarray(y, dtype=float)
    train, test = [], []
    for a in alphas:
        model = KernelRidge(alpha=a, kernel="precomputed").fit(K, targets)
        fit = model.predict(K)
        train.append(fit)
        test.append(model.predict(K_test))
        targets = fit
    return train, test


def rbf(A, B, gamma):
    """exp(-gamma |a - b|²) by broadcasting."""
    d2 = ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-gamma * d2)


def threads(config, inputs, seed):
    """Report the thread pools a simulation runs with (numba and BLAS)."""
    import numba
    from threadpoolctl import threadpool_info

    blas = [p["num_threads"] for p in threadpool_info() if p.get("user_api") == "blas"]
    return {"numba_threads": int(numba.get_num_threads()),
            "blas_threads": max(blas) if blas else -1}


threads.requires = ()
