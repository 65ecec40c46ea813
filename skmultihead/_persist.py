"""An estimator as data: ``est.save(path)`` and ``skmultihead.load(path)``, and pickling.

The archive (``_savefile``) holds the hyper-parameters and the fitted state
(``_state``). Loading sets only the estimator's own parameter names, routed
``model__``/``optimizer__``/``loss__``/``fit__``/... names and the arguments
of ``keras.Model.fit``/``compile`` the constructor takes; checks them the way
``fit`` does (and routed ones with a known meaning, such as
``predict__batch_size`` or ``fit__validation_split``, as their destination
would); and checks the fitted state against the network.

A file never chooses where the user's next fit writes: ``memory`` is not
restored (a loaded estimator has ``memory=None``, whatever the file says).
Keras objects among the parameters have no stored weights behind them, so
building them may allocate at most ``max_bytes / 64``.
"""

from __future__ import annotations

import inspect
import os

import numpy as np

from . import _encoded, _savefile
from ._network import Network
from ._state import DERIVED, LEARNED, FittedState, StateError, _expect_dict, fitted_state, set_learned

NOT_SAVED = "<not saved: "
# Parameters a file does not restore: where the fit cache writes is the user's choice.
NOT_RESTORED = ("memory",)
# Keras objects among the parameters have no weights in the file: what
# building them allocates is capped at this share of max_bytes.
_PARAM_SHARE = 64


def _keras_objects():
    import keras

    return (
        keras.losses.Loss,
        keras.optimizers.Optimizer,
        keras.optimizers.schedules.LearningRateSchedule,
        keras.metrics.Metric,
        keras.layers.Layer,  # keras.Model included
    )


def _param_to_json(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_param_to_json(v) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {"__dict__": [[_param_to_json(k), _param_to_json(v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return {"__array__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, _keras_objects()):
        import keras

        try:
            return {"__keras__": keras.saving.serialize_keras_object(value)}
        except Exception:  # an object without a config: named, not stored
            pass
    where = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return {"__not_saved__": where}


def _param_from_json(value, safe_mode: bool, limits: _savefile.Limits):
    if isinstance(value, list):
        return [_param_from_json(v, safe_mode, limits) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1 and "__tuple__" in value and isinstance(value["__tuple__"], list):
        return tuple(_param_from_json(v, safe_mode, limits) for v in value["__tuple__"])
    if len(value) == 1 and "__dict__" in value and isinstance(value["__dict__"], list):
        pairs = value["__dict__"]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise StateError("params: a dict is stored as [key, value] pairs")
        out = {}
        for k, v in pairs:
            k = _param_from_json(k, safe_mode, limits)
            if isinstance(k, (list, dict)):
                raise StateError("params: dict keys must be plain values")
            out[k] = _param_from_json(v, safe_mode, limits)
        return out
    if set(value) == {"__array__", "dtype"}:
        from ._state import _float_array, check_dtype

        dtype = check_dtype(value["dtype"], "params array dtype")
        if dtype.kind not in "biuf":
            raise StateError("params: arrays must be numeric")
        return _float_array(value["__array__"], "params array", np.ndim(value["__array__"])).astype(dtype)
    if set(value) == {"__keras__"}:
        return _keras_param(value["__keras__"], safe_mode, limits)
    if set(value) == {"__not_saved__"} and isinstance(value["__not_saved__"], str):
        # Python code cannot live in a safe file. The parameter says what it
        # was, and parameter validation refuses it if the estimator is refit.
        return f"{NOT_SAVED}{value['__not_saved__'][:200]}>"
    raise StateError(f"params: unreadable value {value!r:.80}")


def _keras_param(config, safe_mode: bool, limits: _savefile.Limits):
    """A loss, optimizer, metric, schedule or layer/model template, rebuilt from
    its config. The file stores no weights for it, so it is measured first
    (built without memory) and refused past a small share of ``max_bytes``."""
    import keras

    cap = limits.max_bytes // _PARAM_SHARE
    try:
        _savefile.check_buildable(config, safe_mode, cap, "a Keras object among them", optimizers=True)
    except _savefile.TooLarge as exc:
        raise StateError(
            f"params: {exc}, the most parameters may allocate (max_bytes/{_PARAM_SHARE}): the file "
            "stores no weights for them. Pass max_bytes= to load a file you trust, or set the "
            "parameter again after loading."
        ) from None
    except Exception as exc:
        raise StateError(
            f"params: a Keras object could not be rebuilt ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        obj = keras.saving.deserialize_keras_object(config, safe_mode=safe_mode)
    except Exception as exc:
        raise StateError(
            f"params: a Keras object could not be rebuilt ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(obj, _keras_objects()):
        raise StateError(f"params: {type(obj).__name__} is not a Keras loss, optimizer, metric or model")
    return obj


def _not_saved(value) -> bool:
    return isinstance(value, str) and value.startswith(NOT_SAVED)


def save_estimator(est, path) -> None:
    import keras
    from sklearn.utils.validation import check_is_fitted

    from ._version import __version__

    check_is_fitted(est)
    state = fitted_state(est)
    fitted = state.to_meta()
    fitted["n_features_in_"] = int(est.n_features_in_)
    fitted["feature_names_in_"] = (
        [str(c) for c in est.feature_names_in_] if hasattr(est, "feature_names_in_") else None
    )
    # The thresholds predict uses, for an objective that cannot be stored (a function).
    thresholds = est.thresholds_ if state.spec.n_thresholds else None
    fitted["thresholds"] = None if thresholds is None else [float(t) for t in thresholds]
    meta = {
        "format": _savefile.FORMAT,
        "format_version": _savefile.FORMAT_VERSION,
        "skmultihead_version": __version__,
        "keras_version": keras.__version__,
        "class": type(est).__name__,
        "params": {k: _param_to_json(v) for k, v in est.get_params(deep=False).items()},
        "fitted": fitted,
    }
    _savefile.write_archive(path, meta, state.model_bytes())


def _estimator_classes() -> dict:
    """The public classes by name, as they registered themselves (importing the
    package imports them): ``load`` never imports the estimator modules, which
    import this one."""
    from ._registry import ESTIMATOR_CLASSES

    return dict(ESTIMATOR_CLASSES)


def _params_from_json(cls, params, safe_mode: bool, limits: _savefile.Limits) -> dict:
    from ._routing import KERAS_COMPILE_ARGS, KERAS_FIT_ARGS, ROUTING_PREFIXES

    if not isinstance(params, dict):
        raise StateError("params: expected an object")
    own = set(cls._get_param_names()) | KERAS_FIT_ARGS | KERAS_COMPILE_ARGS
    out = {}
    for key, value in params.items():
        routed = (
            isinstance(key, str)
            and key.isidentifier()
            and key.startswith(ROUTING_PREFIXES)
            and not key.split("__", 1)[1].startswith("_")
            and not key.endswith("_")
        )
        if key not in own and not routed:
            raise StateError(
                f"params: {key!r:.80} is not a parameter of {cls.__name__} nor a routed "
                f"parameter ({', '.join(ROUTING_PREFIXES)}...)"
            )
        if key in NOT_RESTORED:
            continue
        out[key] = _param_from_json(value, safe_mode, limits)
    return out


# Arguments of keras.Model.fit that the estimator gives itself (class weights
# become sample weights): a fit__ one would collide with them.


def check_routed(params: dict) -> None:
    """Routed and Keras parameters pass the checks ``fit`` applies
    (``_routing.check_keras_args``); values that were not saved are refused
    by their name if the estimator is refit."""
    from ._routing import check_keras_args

    try:
        check_keras_args({k: v for k, v in params.items() if not _not_saved(v)})
    except (TypeError, ValueError) as exc:
        raise StateError(f"params: {exc}") from exc


def _check_params(cls, params: dict) -> None:
    """The loaded parameters must pass the checks fit applies."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if p.default is not p.empty
    }
    probe = cls(**{k: (defaults.get(k) if _not_saved(v) else v) for k, v in params.items()})
    try:
        probe._validate_params()
    except (TypeError, ValueError) as exc:
        raise StateError(f"params: {exc}") from exc
    check_routed(params)


def load_estimator(path, safe_mode: bool = True, limits: _savefile.Limits | None = None):
    """The estimator in a file written by ``save_estimator``; everything in it
    checked (``_savefile.read_archive``, ``FittedState.from_meta``). Its
    ``memory`` is None whatever the file says: a file never chooses where
    the user's next fit writes."""
    name = os.fspath(path)
    limits = limits or _savefile.Limits()
    meta, model_bytes = _savefile.read_archive(path, limits)
    try:
        return _estimator_from_meta(meta, model_bytes, safe_mode, limits)
    except (StateError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        # TypeError and the like come from values of the wrong type deep in the
        # metadata; the promise is a ValueError for any malformed file.
        raise ValueError(f"{name!r} is not a valid skmultihead model file: {exc}") from exc
    except ValueError as exc:
        raise ValueError(f"{name!r}: {exc}") from exc


def _estimator_from_meta(meta: dict, model_bytes: bytes, safe_mode: bool, limits):
    from ._state import _int, _list, _str
    from ._thresholds import check_rank_rule, resolve_thresholds

    cls = _estimator_classes().get(meta.get("class"))
    if cls is None:
        raise StateError(f"unknown estimator class {meta.get('class')!r:.80}")
    _expect_dict(meta, "file", ("params", "fitted"))
    params = _params_from_json(cls, meta["params"], safe_mode, limits)
    _check_params(cls, params)
    fitted = meta["fitted"]
    _expect_dict(fitted, "fitted", ("n_features_in_", "feature_names_in_"))
    n_features = _int(fitted["n_features_in_"], "n_features_in_", 1)
    names = fitted["feature_names_in_"]
    if names is not None:
        names = _list(names, "feature_names_in_")
        if len(names) != n_features:
            raise StateError("feature_names_in_: one name per feature")
        names = [_str(n, "feature_names_in_", 10_000) for n in names]
    state = FittedState.from_meta(
        fitted, model_bytes, safe_mode=safe_mode, n_features_in=n_features, limits=limits
    )
    n_thresholds = state.spec.n_thresholds
    stored = fitted.get("thresholds")
    if stored is not None:
        stored = resolve_thresholds(list(_list(stored, "thresholds")), n_thresholds) if n_thresholds else None
        if stored is not None and (len(stored) != n_thresholds or not np.all((stored >= 0) & (stored <= 1))):
            raise StateError("thresholds: one value in [0, 1] per thresholded output")
    est = cls(**params)
    threshold = params.get("threshold", 0.5)
    if n_thresholds:
        if isinstance(threshold, str):
            objective = params.get("threshold_objective", "f1_micro")
            if state.holdout is None and not (_not_saved(objective) and stored is not None):
                raise StateError("threshold='auto' but the file holds no held-out data to tune on")
            if _not_saved(objective) and stored is None:
                raise StateError("threshold='auto' with an objective that was not saved, and no thresholds")
        else:
            resolve_thresholds(threshold, n_thresholds)
    try:
        check_rank_rule(est, state.spec)  # top_k, min_labels: checked as at fit
    except ValueError as exc:
        raise StateError(f"params: {exc}") from None
    est.n_features_in_ = n_features
    if names is not None:
        est.feature_names_in_ = np.array(names, dtype=object)
    set_learned(est, state)
    objective = params.get("threshold_objective")
    if stored is not None and _not_saved(objective):
        est._tuned_[objective] = stored
    return est


def save(est, path) -> None:
    """``est.save(path)``: refused for data that a subclass's encoder (Python code) made."""
    if est.__sklearn_is_fitted__() and (
        isinstance(est._spec_, _encoded.EncodedTargets) or hasattr(est, "feature_encoder_")
    ):
        raise TypeError(
            f"{type(est).__name__} encodes its data with a subclass's encoder, which is Python "
            "code: a safe file cannot hold it. Save it with joblib.dump (a pickle, for "
            "files you trust) instead."
        )
    save_estimator(est, path)


def pickled(est, state: dict) -> dict:
    """``__getstate__``: the fitted state as metadata and ``.keras`` bytes, nothing live."""
    state = dict(state)
    if "_network_" in state:
        fitted = fitted_state(est)
        if isinstance(est._spec_, _encoded.EncodedTargets):
            state["_encoded_"] = (est._spec_, fitted.model_bytes(), est.history_)
        else:
            state["_fitted_"] = (fitted.to_meta(), fitted.model_bytes())
    for key in LEARNED + DERIVED:
        state.pop(key, None)
    for key in ("X_dtype_", "y_dtype_"):
        # the fit's metadata a build hook read (``meta``): NumPy dtypes, which
        # skops and other safe loaders would have to be told to trust
        state.pop(key, None)
    if state.get("distribution") is not None:
        # A strategy belongs to this process's devices (and does not pickle).
        kind = type(state["distribution"])
        state["distribution"] = f"{NOT_SAVED}{kind.__module__}.{kind.__qualname__}>"
    return state


def unpickled(state: dict):
    """``__setstate__``: (the parameters to set, a function that then sets the fitted state).

    Tools that read pickles without running arbitrary code (skops.io, and
    mlflow through it) trust the estimator's class, not the network inside
    it: the network is read in Keras's safe mode unless the user turned it
    off with ``keras.config.enable_unsafe_deserialization()``. A pickled
    network is already in memory, so only its expansion is bounded.
    """
    state = dict(state)
    fitted = state.pop("_fitted_", None)
    encoded = state.pop("_encoded_", None)

    def restore(est) -> None:
        safe_mode = _savefile.keras_safe_mode()
        limits = _savefile.Limits(max_bytes=2**62)
        if encoded is not None:
            spec, model_bytes, history = encoded
            model = _savefile.model_from_bytes(model_bytes, safe_mode=safe_mode, limits=limits)
            _encoded.set_learned(est, spec, Network(model, model, None, False), history)
        if fitted is not None:
            meta, model_bytes = fitted
            set_learned(est, FittedState.from_meta(meta, model_bytes, safe_mode=safe_mode, limits=limits))

    return state, restore
