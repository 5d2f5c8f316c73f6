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
autodoc_default_options = {"members": True, "undoc-members": False}
templates_path = []
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = ["_static"]
nitpicky = False
