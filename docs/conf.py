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
