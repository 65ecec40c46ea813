"""scikit-learn classifiers on Keras that read the task from y."""

from ._persist import load_estimator as _load_estimator
from ._training import TrainingDivergedError
from .multiclass import MultiClassKerasClassifier
from .multilabel import MultiLabelKerasClassifier


def load(path, *, safe_mode: bool = True):
    """Read an estimator written by ``save``, without unpickling anything.

    Parameters
    ----------
    path : str or path-like
    safe_mode : bool, default=True
        Keras's safe mode: a network whose loading would run arbitrary code
        (a ``Lambda`` layer) is refused. Pass False only for trusted files.
    """
    return _load_estimator(path, safe_mode=safe_mode)


__all__ = [
    "MultiClassKerasClassifier",
    "MultiLabelKerasClassifier",
    "TrainingDivergedError",
    "load",
]
__version__ = "0.1.0"
