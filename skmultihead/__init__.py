"""scikit-learn classifiers on Keras that read the task from y."""

from ._cache import clear as clear_cache
from ._cache import config_context, get_config, set_config
from ._persist import load_estimator as _load_estimator
from ._plot import ThresholdDisplay, TrainingCurvesDisplay
from ._savefile import Limits as _Limits
from ._training import TrainingDivergedError
from ._version import __version__ as __version__
from .multiclass import MultiClassKerasClassifier
from .multilabel import MultiLabelKerasClassifier


def load(path, *, safe_mode: bool = True, max_bytes: int = 1 << 30, max_ratio: float = 100.0):
    """Read an estimator written by ``save``, without unpickling anything.

    Everything in the file is checked before it is used: member names and
    sizes, the metadata's schema and checksum, the hyper-parameters (only the
    estimator's own names), and the agreement of targets, heads, classes and
    input width with the network. Anything wrong is a ``ValueError``.

    Parameters
    ----------
    path : str or path-like
        A file written by ``est.save(path)``. A missing path raises
        ``FileNotFoundError``.
    safe_mode : bool, default=True
        Keras's safe mode: a network whose loading would run arbitrary code
        (a ``Lambda`` layer) is refused. Pass False only for trusted files.
        A folder, FIFO or device is refused before anything is read; the
        ``memory`` parameter is never restored from a file.
    max_bytes : int, default=2**30
        The most bytes one load may unpack, all together: the file's members,
        the network archive's members and its weight arrays (about three
        times the network's weights). Raise it for a trusted model larger
        than that. Whatever it is, a network is never built larger than the
        weights the file stores.
    max_ratio : float, default=100
        The most a member over 1 MiB may expand when decompressed; more looks
        like a compression bomb.

    Returns
    -------
    estimator : MultiClassKerasClassifier or MultiLabelKerasClassifier
        Fitted, predicting exactly as the saved one did.
    """
    return _load_estimator(
        path, safe_mode=safe_mode, limits=_Limits(max_bytes=max_bytes, max_ratio=max_ratio)
    )


__all__ = [
    "MultiClassKerasClassifier",
    "MultiLabelKerasClassifier",
    "ThresholdDisplay",
    "TrainingCurvesDisplay",
    "TrainingDivergedError",
    "clear_cache",
    "config_context",
    "get_config",
    "load",
    "set_config",
]
