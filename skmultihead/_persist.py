"""Keras models as bytes in Keras's native ``.keras`` format."""

from __future__ import annotations

import os
import tempfile

import keras


def model_to_bytes(model: keras.Model) -> bytes:
    """The network in .keras format, without optimizer state.

    Networks are read back uncompiled (the estimator compiles them from its
    own parameters), so the optimizer's slots would only triple the size.
    """
    if getattr(model, "optimizer", None) is not None:
        try:
            bare = type(model).from_config(model.get_config())  # uncompiled, unlike clone_model
            bare.set_weights(model.get_weights())
            model = bare
        except Exception:  # e.g. a Lambda layer, which safe mode won't rebuild
            pass  # saved as it is, optimizer slots included

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        with open(path, "rb") as fh:
            return fh.read()


def model_from_bytes(data: bytes, safe_mode: bool = True) -> keras.Model:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        with open(path, "wb") as fh:
            fh.write(data)
        return keras.saving.load_model(path, compile=False, safe_mode=safe_mode)


# ---------------------------------------------------------------------------
# The safe file format: est.save(path) / skmultihead.load(path)
# ---------------------------------------------------------------------------
#
# A zip archive holding
#   skmultihead.json  the format version, the class, the hyper-parameters and
#                     everything learned about the targets, as JSON;
#   model.keras       the trained network in Keras's own format.
# Nothing in it is unpickled; the network loads in Keras's safe mode unless
# the caller opts out.

import json  # noqa: E402
import zipfile  # noqa: E402

import numpy as np  # noqa: E402

FORMAT = "skmultihead"
FORMAT_VERSION = 1
_META = "skmultihead.json"
_MODEL = "model.keras"


_KERAS_OBJECTS = (
    keras.losses.Loss,
    keras.optimizers.Optimizer,
    keras.optimizers.schedules.LearningRateSchedule,
    keras.metrics.Metric,
    keras.layers.Layer,  # keras.Model included
)


def _param_to_json(name, value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        items = [_param_to_json(name, v) for v in value]
        return {"__tuple__": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return {"__dict__": [[_param_to_json(name, k), _param_to_json(name, v)] for k, v in value.items()]}
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, _KERAS_OBJECTS):
        try:
            return {"__keras__": keras.saving.serialize_keras_object(value)}
        except Exception:  # an object without a config: named, not stored
            pass
    where = f"{getattr(value, '__module__', '?')}.{getattr(value, '__qualname__', type(value).__name__)}"
    return {"__not_saved__": where}


def _param_from_json(value, safe_mode):
    if isinstance(value, list):
        return [_param_from_json(v, safe_mode) for v in value]
    if not isinstance(value, dict):
        return value
    if "__tuple__" in value:
        return tuple(_param_from_json(v, safe_mode) for v in value["__tuple__"])
    if "__dict__" in value:
        return {_param_from_json(k, safe_mode): _param_from_json(v, safe_mode) for k, v in value["__dict__"]}
    if "__array__" in value:
        return np.array(value["__array__"], dtype=value["dtype"])
    if "__keras__" in value:
        return keras.saving.deserialize_keras_object(value["__keras__"], safe_mode=safe_mode)
    if "__not_saved__" in value:
        # Python code cannot live in a safe file. The parameter says what it
        # was, and parameter validation refuses it if the estimator is refit.
        return f"<not saved: {value['__not_saved__']}>"
    raise ValueError(f"Unreadable parameter value in the file: {value!r}")


def _array_to_json(a: np.ndarray):
    return {"values": a.tolist(), "dtype": a.dtype.str}


def _array_from_json(d) -> np.ndarray:
    return np.array(d["values"], dtype=np.dtype(d["dtype"]))


def save_estimator(est, path) -> None:
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est)
    from . import __version__

    spec = est._spec_
    holdout = getattr(est, "_holdout_", None)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "skmultihead_version": __version__,
        "keras_version": keras.__version__,
        "class": type(est).__name__,
        "params": {k: _param_to_json(k, v) for k, v in est.get_params(deep=False).items()},
        "fitted": {
            "n_features_in_": int(est.n_features_in_),
            "feature_names_in_": None
            if not hasattr(est, "feature_names_in_")
            else [str(c) for c in est.feature_names_in_],
            "history_": est.history_,
            "pos_weight": None if est._pos_weight_ is None else [float(w) for w in est._pos_weight_],
            "holdout": None
            if holdout is None
            else {
                "y": holdout[0].tolist(),
                "proba": holdout[1].tolist(),
                "weights": None if holdout[2] is None else np.asarray(holdout[2]).tolist(),
            },
            "spec": {
                "task": spec.task,
                "form": spec.form,
                "classes": [_array_to_json(c) for c in spec.classes],
                "heads": [[h.kind, h.units, h.name] for h in spec.heads],
                "y_dtype": spec.y_dtype,
                "n_thresholds": spec.n_thresholds,
            },
            "network": {
                "heads": [[h.kind, h.units, h.name] for h in est._network_.heads],
                "from_logits": est._network_.from_logits,
            },
        },
    }
    model_bytes = model_to_bytes(est._network_.train_model)
    tmp = f"{os.fspath(path)}.tmp{os.getpid()}"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(_META, json.dumps(meta))
        zf.writestr(_MODEL, model_bytes)
    os.replace(tmp, path)  # never a half-written file under the user's name


def load_estimator(path, safe_mode: bool = True):
    from . import MultiClassKerasClassifier, MultiLabelKerasClassifier
    from ._network import from_bytes
    from ._targets import Head, TargetSpec

    classes = {c.__name__: c for c in (MultiClassKerasClassifier, MultiLabelKerasClassifier)}
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(
            f"{os.fspath(path)!r} is not a skmultihead model file ({exc}). It may be "
            "truncated, or written by something else (joblib.dump files load with "
            "joblib.load, not skmultihead.load)."
        ) from exc
    with zf:
        names = set(zf.namelist())
        if _META not in names or _MODEL not in names:
            raise ValueError(
                f"{os.fspath(path)!r} is a zip archive but not a skmultihead model file "
                f"(it lacks {_META} or {_MODEL})."
            )
        try:
            meta = json.loads(zf.read(_META))
            model_bytes = zf.read(_MODEL)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{os.fspath(path)!r} is damaged: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a skmultihead model file.")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{os.fspath(path)!r} was written in format version {version} by skmultihead "
            f"{meta.get('skmultihead_version')}; this version reads format "
            f"{FORMAT_VERSION} and older. Upgrade skmultihead to load it."
        )
    cls = classes.get(meta.get("class"))
    if cls is None:
        raise ValueError(f"Unknown estimator class {meta.get('class')!r} in {os.fspath(path)!r}.")
    try:
        net_meta = meta["fitted"]["network"]
        network = from_bytes(
            model_bytes, [Head(*h) for h in net_meta["heads"]], net_meta["from_logits"], safe_mode=safe_mode
        )
    except ValueError as exc:
        if "safe_mode" in str(exc) or "Lambda" in str(exc):
            raise ValueError(
                f"The network in {os.fspath(path)!r} holds code that would run when it "
                "loads (e.g. a Lambda layer), which Keras's safe mode refuses. Load it "
                "with skmultihead.load(path, safe_mode=False) only if you trust the file."
            ) from exc
        raise
    est = cls(**{k: _param_from_json(v, safe_mode) for k, v in meta["params"].items()})
    fitted = meta["fitted"]
    s = fitted["spec"]
    spec = TargetSpec(
        s["task"],
        s["form"],
        [_array_from_json(c) for c in s["classes"]],
        [Head(*h) for h in s["heads"]],
        s["y_dtype"],
        s["n_thresholds"],
    )
    est.n_features_in_ = fitted["n_features_in_"]
    if fitted["feature_names_in_"] is not None:
        est.feature_names_in_ = np.array(fitted["feature_names_in_"], dtype=object)
    h = fitted["holdout"]
    holdout = (
        None
        if h is None
        else (
            np.array(h["y"]),
            np.array(h["proba"]),
            None if h["weights"] is None else np.array(h["weights"]),
        )
    )
    pos_weight = None if fitted["pos_weight"] is None else np.array(fitted["pos_weight"])
    est._set_learned(spec, network, pos_weight, fitted["history_"], holdout)
    return est
