"""The public estimator classes, by name.

``load`` rebuilds an estimator from the class a file names, and the fit cache
shares fits only between estimators of exactly these classes (a subclass is
the user's code). The classes add themselves here when their module is
imported, so that the layers below them never import the layer above.
"""

from __future__ import annotations

ESTIMATOR_CLASSES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: ``cls`` is one of skmultihead's own estimators."""
    ESTIMATOR_CLASSES[cls.__name__] = cls
    return cls


def is_own_estimator(est) -> bool:
    """``est`` is an instance of one of the registered classes, not of a subclass."""
    return ESTIMATOR_CLASSES.get(type(est).__name__) is type(est)
