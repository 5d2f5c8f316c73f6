"""Smoke test of ``benchmarks/bench_backends.py``: every section runs end to end at tiny
sizes and prints its figures (the measurements themselves are taken by running the script)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_backends.py"

TINY = {
    "implicit": ["--sizes", "150", "--times", "20", "--repeat", "1"],
    "randomized": ["--n-randomized", "400", "--rank", "20"],
    "nystrom": ["--n-nystrom", "1500", "--landmarks", "40", "--n-huge", "0", "--times", "20",
                "--n-new", "50"],
    "errors": ["--n-errors", "300", "--ranks", "20", "60"],
}

EXPECT = {
    "implicit": "full/eigh",
    "randomized": "x eigh (target <= 0.2)",
    "nystrom": "nystrom n = 1500, M = 40",
    "errors": "certificate:",
}


@pytest.mark.parametrize("section", sorted(TINY))
def test_bench_backends_section_runs(section):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    out = subprocess.run([sys.executable, str(SCRIPT), "--section", section, *TINY[section]],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert EXPECT[section] in out.stdout, out.stdout
