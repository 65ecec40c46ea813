"""The gallery's order: the quickstart first, then the questions by file name.

A module of its own so that sphinx-gallery can name it by a string
(``"gallery_order.QuickstartFirst"``), which Sphinx can pickle; a function
defined in conf.py cannot be.
"""


class QuickstartFirst:
    """Sort key for ``within_subsection_order``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (filename != "quickstart.py", filename)

    def __repr__(self):
        return "QuickstartFirst"
