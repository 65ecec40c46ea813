"""Sphinx configuration of skmultihead's documentation site.

Build (from the repository root; warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

then open docs/_build/html/index.html. Needs ``pip install -e ".[docs]"``.
The gallery runs every script of ``examples/`` (a few minutes on 2 cores).
"""

import os
import re
import sys
from pathlib import Path

# Before anything imports Keras: the gallery and autodoc run on TensorFlow
# unless KERAS_BACKEND says otherwise; figures are drawn off-screen.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "docs" / "_ext"))  # gallery_order

import matplotlib

matplotlib.use("Agg")

import skmultihead

# -- project -----------------------------------------------------------------
project = "skmultihead"
author = "skmultihead developers"
copyright = "skmultihead developers"
release = skmultihead.__version__
version = release

# -- extensions --------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "auto_examples/*.md5"]

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
# "fit()" rather than "MultiLabelKerasClassifier.fit()" in the page's table of contents
toc_object_entries_show_parents = "hide"
autodoc_typehints = "none"  # the numpydoc sections say the types
numpydoc_show_class_members = False  # autodoc lists the members once
numpydoc_class_members_toctree = False
numpydoc_show_inherited_class_members = False

# scikit-learn's metadata-routing setters (set_fit_request, ...) appear on
# every estimator class; they belong to scikit-learn's documentation.
_SKLEARN_GENERATED = re.compile(r"^set_\w+_request$")


def _skip_member(app, what, name, obj, skip, options):
    if _SKLEARN_GENERATED.match(name):
        return True
    return skip


# -- MyST (the user guide, and the included benchmarks/README.md and CHANGELOG.md)
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 4
# benchmarks/README.md goes from "##" to "####" in places; MyST warns about that.
suppress_warnings = ["myst.header"]

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # every script is executed, not only plot_*.py
    "filename_pattern": r"\.py$",
    "ignore_pattern": r"__init__\.py",
    # the quickstart first, then the questions in file-name order
    "within_subsection_order": "gallery_order.QuickstartFirst",
    # "Examples using ..." on the API pages
    "backreferences_dir": "gen_modules/backreferences",
    "doc_module": ("skmultihead",),
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
    "min_reported_time": 1,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skmultihead {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {"index": [], "changelog": [], "benchmarks": []}
html_show_sourcelink = False


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)
