"""One experiment system: the studies are methods of the one runner, their reports read the
store. Each study run through the runner (serial, joblib with two processes, a Dask
LocalCluster) gives the numbers of the study's former driver on the same seeds."""

import math

import numpy as np
import pytest

from hilbert_sd.experiments.config import parse_config
from hilbert_sd.experiments.runner import run_sweep
from hilbert_sd.experiments.store import ResultStore

BACKENDS = ["serial", "joblib", "dask"]


@pytest.fixture(scope="module")
def dask_address():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def sweep(raw, path, backend, dask_address=None):
    """Rows of the experiment ``raw`` (a config dict) run on ``backend`` into ``path``."""
    kw = {"serial": {}, "joblib": {"jobs": 2}}.get(backend, {"scheduler": dask_address})
    config = parse_config(raw, default_name="test")
    with ResultStore(path) as store:
        report = run_sweep(config, store, progress=False, **kw)
        assert report.failed == 0, report.failures
        return store.rows(experiment=config.name)


def _address(backend, request):
    return request.getfixturevalue("dask_address") if backend == "dask" else None


def assert_same(a, b, rtol=1e-10, atol=1e-12, where=""):
    """Equal structures; floats to rtol/atol, NaN equal to NaN."""
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], rtol, atol, f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, rtol, atol, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)
    elif isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=rtol, abs=atol), \
            (where, a, b)
    else:
        assert a == b, (where, a, b)


# ------------------------------------------------------------------------------ noisy labels
NOISY = {"experiment": {"name": "nl"},
         "data": {"generator": "clustered", "n_samples": 60, "n_test": 30, "seed": [0, 1]},
         "kernel": {"name": "arccos"},
         "method": {"name": "noisy_labels", "noise_rate": [0.3, 0.6], "t_end": 200,
                    "n_times": 5}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_noisy_labels_through_the_runner(backend, tmp_path, request):
    from hilbert_sd.experiments import noisy_labels as nl

    rows = sweep(NOISY, tmp_path / "nl.db", backend, _address(backend, request))
    new = nl.result_from_rows(rows)
    old = nl.run_noisy_labels(60, n_test=30, noise_rates=(0.3, 0.6), seeds=(0, 1), t_end=200,
                              n_times=5)
    assert_same(new.rows, old.rows)
    assert_same(new.by_rate(), old.by_rate())
    assert new.table() == old.table()
    assert_same(new.noise, old.noise)
    assert_same(new.air, old.air)
    for key, c in old.curves.items():
        assert_same({k: v for k, v in new.curves[key].items() if k != "krr"},
                    {k: v for k, v in c.items() if k not in ("krr", "refresh_a")})
        assert_same(new.curves[key]["krr"]["accuracy"], c["krr"]["accuracy"])
    drop = ("data_params", "learning_rate_by_seed")
    assert_same({k: v for k, v in new.config.items() if k not in drop},
                {k: v for k, v in old.config.items() if k not in drop})
    assert_same(new.config["learning_rate_by_seed"],
                {k: float(v) for k, v in old.config["learning_rate_by_seed"].items()})
    files = nl.report(rows, tmp_path / "out")["files"]
    assert [p.name for p in files] == ["noisy_labels.csv", "noisy_labels_curves.csv",
                                       "noisy_labels.json", "noisy_labels_accuracy.png",
                                       "noisy_labels_air.png"]


# ------------------------------------------------------------------------------- soft labels
SOFT = {"experiment": {"name": "sl"},
        "data": {"generator": "clustered", "n_samples": 60, "n_test": 20, "seed": 3,
                 "cluster_std": 1.5},
        "kernel": {"name": "rbf", "gamma": 0.0125},
        "method": {"name": "soft_labels", "temperatures": [2.0, 3.0], "n_members": 2,
                   "teacher_steps": 5, "student_steps": 5}}


@pytest.mark.parametrize("backend", BACKENDS)
def test_soft_labels_through_the_runner(backend, tmp_path, request):
    from hilbert_sd.experiments import soft_labels as sl

    rows = sweep(SOFT, tmp_path / "sl.db", backend, _address(backend, request))
    new = sl.result_from_rows(rows)
    old = sl.run_soft_labels(60, n_test=20, temperatures=(2.0, 3.0), n_members=2,
                             teacher_steps=5, student_steps=5, seed=3)
    assert_same(new.rows, old.rows)
    assert_same(new.per_sample, old.per_sample)
    assert_same(new.member_accuracy, old.member_accuracy)
    assert_same(new.config, old.config)
    assert new.format_table() == old.format_table()
    files = sl.report(rows, tmp_path / "out")["files"]
    assert [p.name for p in files] == ["soft_labels.csv", "soft_labels.json", "soft_labels.png"]


# --------------------------------------------------------------- early stopping, optimal mixing
def _shipped(name):
    from hilbert_sd.experiments.config import _tomllib
    from hilbert_sd.experiments.registry import NAMED_EXPERIMENTS
    from pathlib import Path

    import hilbert_sd.experiments as pkg

    path = Path(pkg.__file__).parent / NAMED_EXPERIMENTS[name].config
    return _tomllib().loads(path.read_text())


@pytest.mark.parametrize("backend", BACKENDS)
def test_early_stopping_through_the_runner(backend, tmp_path, request):
    import json

    from hilbert_sd.experiments import self_distillation as sd

    raw = _shipped("early-stopping")
    raw["output"] = {}
    rows = sweep(raw, tmp_path / "es.db", backend, _address(backend, request))
    new = sd.report(rows, tmp_path / "new")
    old = sd.run_reference(sd.DEFAULT_EPSILONS)
    assert new["summary"] == old.summary()
    old_files = old.save(tmp_path / "old")
    assert [p.name for p in new["files"]] == [p.name for p in old_files]
    assert_same(json.loads(new["files"][1].read_text()),
                json.loads(old_files[1].read_text()))


@pytest.mark.parametrize("backend", BACKENDS)
def test_optimal_mixing_through_the_runner(backend, tmp_path, request):
    import json

    from hilbert_sd.experiments import mixing

    raw = _shipped("optimal-mixing")
    raw["output"] = {}
    rows = sweep(raw, tmp_path / "om.db", backend, _address(backend, request))
    new = mixing.report(rows, tmp_path / "new")
    old = mixing.reproduce_optimal_mixing(tmp_path / "old")
    assert new["summary"] == old["summary"]
    names = [p.name for p in new["files"]]
    assert names == [p.name for p in map(__import__("pathlib").Path, old["files"])]
    for name in ("optimal_xi_noise.json", "kstep_mixing.json"):
        a, b = (json.loads((tmp_path / d / name).read_text()) for d in ("new", "old"))
        # the k-step weights of an ill-conditioned schedule (k = 6, flagged) move with the
        # eigensolver's round-off at 1e-8; the risks do not
        xa, xb = ([r.pop("xi", None) for r in p["rows"]] for p in (a, b))
        assert_same(a, b, rtol=1e-9)
        assert_same(xa, xb, rtol=1e-6)
