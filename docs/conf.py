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
html_static_path = ["_static"]
nitpicky = False


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
