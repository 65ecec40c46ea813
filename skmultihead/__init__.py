"""scikit-learn classifiers on Keras that read the task from y."""

from ._base import TrainingDivergedError
from .multiclass import MultiClassKerasClassifier
from .multilabel import MultiLabelKerasClassifier

__all__ = [
    "MultiClassKerasClassifier",
    "MultiLabelKerasClassifier",
    "TrainingDivergedError",
]
__version__ = "0.1.0"
