"""Sphinx configuration for hilbert_sd (built warning-free with -W in the test suite)."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

project = "hilbert_sd"
author = "hilbert_sd developers"
copyright = "2026, hilbert_sd developers"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
autodoc_default_options = {"exclude-members": "set_score_request, set_fit_request, set_predict_request"}
templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
nitpicky = False


def _local_mathjax():
    """MathJax served from the built docs themselves, so formulas render with no network.

    The JavaScript comes from the package ``django-static-mathjax`` (MathJax 3, no Django
    needed; in the ``docs`` and ``test`` extras). Its TeX-to-HTML bundle, the HTML fonts and the
    TeX extensions loaded on demand are copied into a static folder of the build; the page
    loads ``_static/mathjax/tex-chtml.js`` (MathJax finds its fonts and extensions relative to
    that file).
    """
    import importlib.metadata
    import shutil
    from pathlib import Path

    try:
        dist = importlib.metadata.distribution("django-static-mathjax")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("the documentation needs the package django-static-mathjax for "
                           "offline math: pip install -e '.[docs]'") from None
    es5 = Path(dist.locate_file("mathjax/static/mathjax/es5"))
    target = Path(__file__).parent / "_generated" / "mathjax_static" / "mathjax"
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(es5 / "tex-chtml.js", target / "tex-chtml.js")
    for sub in ("output/chtml/fonts/woff-v2", "input/tex/extensions"):
        shutil.copytree(es5 / sub, target / sub)
    return str(target.parent)


html_static_path = ["_static", _local_mathjax()]
mathjax_path = "mathjax/tex-chtml.js"


def _make_gallery():
    """Run the demo so the gallery shows figures of the code being documented, never stale."""
    import contextlib
    import io
    from pathlib import Path

    from hilbert_sd.cli import main

    out = Path(__file__).parent / "_generated"
    log = io.StringIO()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        status = main(["demo", "--out", str(out), "--quiet"])
    if status != 0:
        raise RuntimeError(f"hilbert-sd demo failed with status {status} while building the "
                           f"docs:\n{log.getvalue()}")


_make_gallery()


def _run_examples():
    """Run every script of ``examples/`` into ``_generated/examples/``: the examples page shows
    each script with what it printed and the figure it saved at this build, never stale.

    Each runs in its own process (as a user would run it), with the repository first on the
    path and one BLAS thread (small problems only lose time to threads); the build's
    environment, network guard included, is inherited. A failing example fails the build.
    """
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = Path(__file__).parent / "_generated" / "examples"
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(root),
                                                      os.environ.get("PYTHONPATH")]))}
    for script in sorted((root / "examples").glob("*.py")):
        proc = subprocess.run([sys.executable, str(script), str(out)], capture_output=True,
                              text=True, env=env, cwd=out, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"examples/{script.name} failed with status {proc.returncode} "
                               f"while building the docs:\n{proc.stderr[-3000:]}")
        (out / f"{script.stem}.txt").write_text(proc.stdout, encoding="utf-8")


_run_examples()
