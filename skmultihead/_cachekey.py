"""What decides a fit, as one cache key; or no key, where that cannot be proven.

A fit may be served a network trained before only when it would have trained
exactly that network. With ``fit_cache="data"`` (the default) that is proven,
not guessed: a fit gets a key only when everything that decides it is data,

- numbers, strings, bytes, ``None``, NumPy arrays and scalars, and lists,
  tuples, dicts and sets of them;
- Keras's own public losses, metrics, optimizers, learning-rate schedules,
  activations, initializers, regularizers and constraints: classes and
  functions by their place in Keras's namespace (found by identity, never by
  ``__module__`` or ``__qualname__``, which code can set), objects of exactly
  those classes by their config, once checked to carry nothing beyond it;
- an estimator of exactly skmultihead's classes (a subclass is code);

plus the call (``fit`` and its epochs and keyword arguments, or a first
``partial_fit`` and its ``classes``), X, y and ``sample_weight`` by content,
and :func:`environment`. Anything else -- a model function, a custom loss,
metric or layer, a decorated function, a Keras model or layer, a strategy, a
``RandomState``, a name registered with ``keras.saving`` -- means no key: the
fit trains.

``fit_cache="code"`` opts in to sharing fits that involve user code, keyed by
``_fingerprint`` (functions by their code, closures, defaults and the
globals they read; see the user guide (docs/user_guide/thresholds.md) for exactly what it follows and what it
cannot).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import types
from pathlib import Path

import joblib
import numpy as np

from ._fingerprint import NotData, state
from ._registry import is_own_estimator

# Parameters that only change how a trained network is read or where it is
# kept, never what it learns.
POST_FIT_PARAMS = frozenset(
    {"threshold", "threshold_objective", "top_k", "min_labels", "verbose", "memory", "fit_cache"}
)

_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_MAX_DEPTH = 64


@functools.lru_cache(maxsize=1)
def _keras_names() -> dict:
    """``id -> (object, public name)`` for Keras's public classes and functions
    of the kinds a parameter may name, and skmultihead's own metrics and loss."""
    import keras

    from . import _heads

    names = {}
    for module_name in (
        "losses",
        "metrics",
        "optimizers",
        "optimizers.schedules",
        "activations",
        "initializers",
        "regularizers",
        "constraints",
    ):
        module = keras
        for part in module_name.split("."):
            module = getattr(module, part)
        for attr, value in vars(module).items():
            if isinstance(value, (type, types.FunctionType)) and not attr.startswith("_"):
                names.setdefault(id(value), (value, f"keras.{module_name}.{attr}"))
    for cls in (
        _heads.SubsetAccuracy,
        _heads.HammingLoss,
        _heads.F1,
        _heads.PositiveWeightedBinaryCrossentropy,
    ):
        names[id(cls)] = (cls, f"skmultihead.{cls.__name__}")
    return names


def _public_name(value) -> str | None:
    entry = _keras_names().get(id(value))
    return entry[1] if entry is not None and entry[0] is value else None


def _rebuilt_kinds() -> tuple:
    """Keras objects a fit never uses as given: it builds a fresh one from the
    class and config (``Fitting.make_optimizer``, ``_heads.head_metrics``), so
    nothing but the class and config can reach training."""
    import keras

    return (keras.optimizers.Optimizer, keras.metrics.Metric)


def describe(value):
    """``value`` as plain nested tuples, or :class:`NotData`."""
    import keras
    from keras.src.backend.common import global_state

    # A string naming something registered with keras.saving (or in a
    # custom_object_scope) may resolve to user code.
    custom = {
        **keras.saving.get_custom_objects(),
        **global_state.get_global_attribute("custom_objects_scope_dict", {}),
    }
    registered = set(custom) | {name.rsplit(">", 1)[-1] for name in custom}
    return _describe(value, registered, 0)


def _describe(value, registered: set, depth: int):
    if depth > _MAX_DEPTH:
        raise NotData("nested too deeply")
    kind = type(value)  # exact types: a subclass of str or list may carry code
    if kind in _PLAIN:
        if kind is str and value in registered:
            raise NotData(f"{value!r} names an object registered with keras.saving")
        return (kind.__name__, value)
    if kind is np.ndarray:
        if value.dtype.kind in "biufcUSMm":
            return ("array", value.dtype.str, value.shape, value.tobytes())
        if value.dtype.kind == "O":
            items = tuple(_describe(v, registered, depth + 1) for v in value.ravel())
            return ("object-array", value.shape, items)
        raise NotData(f"an array of dtype {value.dtype}")
    if isinstance(value, np.generic) and np.dtype(kind).type is kind and value.dtype.kind in "biufcUSMm":
        return ("np", value.dtype.str, value.tobytes())
    if kind in (list, tuple):
        return (kind.__name__, tuple(_describe(v, registered, depth + 1) for v in value))
    if kind is dict:
        items = [
            (_describe(k, registered, depth + 1), _describe(v, registered, depth + 1))
            for k, v in value.items()
        ]
        return ("dict", tuple(sorted(items, key=repr)))
    if kind in (set, frozenset):
        return ("set", tuple(sorted((_describe(v, registered, depth + 1) for v in value), key=repr)))
    name = _public_name(value)
    if name is not None:  # a Keras class or function itself
        return ("keras", name)
    name = _public_name(kind)
    if name is not None and isinstance(kind, type):
        return keras_object(value, name, lambda v: _describe(v, registered, depth + 1))
    raise NotData(f"a {kind.__qualname__} object is not data")


def keras_object(value, name, describe_value):
    """A Keras object of a known class, by class and config.

    Unless the fit rebuilds it from its config anyway, the object must carry
    nothing beyond that config: its attributes equal those of a twin built
    from the config (a loss whose ``fn`` was replaced, or a subclass's extra
    argument kept out of ``get_config``, is not described by its config)."""
    try:
        config = value.get_config()
        described = describe_value(config)
        if isinstance(value, _rebuilt_kinds()):
            return ("keras-object", name, described)
        twin = type(value).from_config(copy.deepcopy(config))
    except NotData:
        raise
    except Exception as exc:  # no config, or one that does not rebuild the object
        raise NotData(f"{name} cannot be rebuilt from its config ({type(exc).__name__})") from exc
    if state(value, describe_value) != state(twin, describe_value):
        raise NotData(f"this {name} holds state beyond its config")
    return ("keras-object", name, described)


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    """A hash of this package's source: a change to how fits train (between
    two releases, or in a working copy) never serves an entry it made before."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def keras_settings() -> tuple:
    """Every global setting ``keras.config`` can read (float type, epsilon,
    dtype policy, image data format, max epochs and steps per epoch, ...),
    found by name so that a setting added to Keras is covered too."""
    import keras

    out = []
    for name in sorted(dir(keras.config)):
        if name.startswith(("_", "set_", "enable_", "disable_")):
            continue
        getter = getattr(keras.config, name)
        if not callable(getter):
            continue
        try:
            value = getter()
        except TypeError:  # takes arguments: not a reading
            continue
        if type(value) not in _PLAIN:
            value = repr(value.get_config()) if hasattr(value, "get_config") else repr(value)
        out.append((name, value))
    return tuple(out)


def environment() -> tuple:
    """Everything outside the estimator that changes what a fit computes:
    versions (skmultihead with a hash of its source, Keras, the backend,
    NumPy, SciPy, scikit-learn, iterative-stratification), Keras's global
    settings, and the backend's own (threads, determinism, default dtype,
    an active strategy)."""
    from importlib.metadata import version

    import keras
    import scipy
    import sklearn

    from . import _backend
    from ._version import __version__

    return (
        __version__,
        _source_digest(),
        keras.__version__,
        np.__version__,
        scipy.__version__,
        sklearn.__version__,
        version("iterative-stratification"),
        keras_settings(),
        tuple(_backend.environment()),
    )


def key_for(estimator, X, y, sample_weight, call: tuple) -> str | None:
    """The cache key of a fit, or None where the fit must train."""
    params = estimator.get_params(deep=False)
    mode = params.get("fit_cache", "data")
    seed = params.get("random_state")
    if mode is False or isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        return None  # unseeded, or a RandomState that each fit draws from
    if params.get("callbacks"):
        return None  # callbacks act on the world, and a served fit would skip them
    fit_params = {k: v for k, v in params.items() if k not in POST_FIT_PARAMS}
    # "auto" holds data out for tuning, which changes what the network sees.
    fit_params["threshold is auto"] = isinstance(params.get("threshold"), str)
    try:
        try:
            if not is_own_estimator(estimator):
                raise NotData(f"{type(estimator).__qualname__} is a subclass")
            content = ("data", type(estimator).__name__, describe((fit_params, call)))
        except NotData:
            if mode != "code":
                return None
            from ._fingerprint import fingerprint

            content = ("code", fingerprint((type(estimator), fit_params, call)))
        return joblib.hash((content, environment(), X, y, sample_weight))
    except Exception:  # Unknowable code, unhashable data, deep recursion: train, don't guess
        return None
