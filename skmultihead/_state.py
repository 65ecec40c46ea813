"""What a fit learned, with one round trip to data.

:class:`FittedState` is everything ``fit`` learns besides the feature
checks (``n_features_in_``, ``feature_names_in_``, which come from each
fit's own X): the target spec, the trained network, the per-label positive
weights, the history and the held-out predictions that ``threshold="auto"``
tunes on. It goes to data in two forms:

- ``to_meta()`` / ``from_meta()``: JSON-able metadata plus the network as
  ``.keras`` bytes. Used by pickling, by the ``memory=`` folder and by the
  safe file (``save``/``load``). ``from_meta`` trusts nothing: every field
  is type-checked, and the metadata must agree with the network (heads,
  units, classes, input width), else a ``ValueError``.
- ``detached()`` / ``attached()``: the network as its config and a copy of
  its weights, with nothing shared with the estimator; the in-process fit
  cache keeps these (no file written).
"""

from __future__ import annotations

import base64
import copy
import math
import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import _savefile
from ._backend import without_tensorflow
from ._network import Network, wrap_logits
from ._targets import FORM_CLASSES, FORM_COLUMNS, FORMS, MULTILABEL, NAMED_FORMS, TASKS, Head, TargetSpec
from ._thresholds import dense_labels
from ._training import restore, snapshot

_HEAD_KINDS = ("binary", "multiclass", "multilabel")
# Label and target dtypes a file may name: numbers, booleans, strings, objects.
_DTYPE = re.compile(r"^[<>|=]?(b1|i[1248]|u[1248]|f[248]|U[0-9]{1,9}|O)$")


class StateError(ValueError):
    """Metadata that is not a valid fitted state."""


def _fail(where: str, what: str):
    raise StateError(f"{where}: {what}")


@dataclass
class FittedState:
    spec: TargetSpec
    network: Network
    pos_weight: np.ndarray | None
    history: dict
    holdout: tuple | None  # (y_true (n, T), proba (n, T), weights (n,) or None)

    # The optimizer's variables of a network rebuilt uncompiled (by the fit
    # cache, ``load`` or unpickling), put back when a continued fit compiles it.
    optimizer_state: list | None = None

    def optimizer_values(self) -> list | None:
        """What a continued fit's optimizer starts from: the live optimizer's
        variables, or those waiting for the compile."""
        saved = snapshot(self.network.train_model)["optimizer"]
        return saved if saved is not None else self.optimizer_state

    # ---- in memory --------------------------------------------------------
    @without_tensorflow
    def detached(self) -> dict:
        """A copy that shares nothing with live objects: the network's config
        and every variable a continued fit reads (``_training.snapshot``)."""
        model = self.network.train_model
        saved = {"variables": snapshot(model)["variables"], "optimizer": self.optimizer_values()}
        return {
            "model": (type(model), model.get_config(), saved),
            "heads": copy.deepcopy(self.network.heads),
            "from_logits": self.network.from_logits,
            "rest": copy.deepcopy((self.spec, self.pos_weight, self.history, self.holdout)),
        }

    @classmethod
    @without_tensorflow
    def attached(cls, entry: dict) -> FittedState:
        """A state with a new network built from ``detached()``'s output; its
        optimizer's variables wait in ``optimizer_state`` for the compile."""
        model_cls, config, saved = entry["model"]
        train_model = model_cls.from_config(copy.deepcopy(config))  # from_config consumes its dict
        restore(train_model, {"variables": saved["variables"], "optimizer": None})
        network = network_from_train_model(train_model, copy.deepcopy(entry["heads"]), entry["from_logits"])
        spec, pos_weight, history, holdout = copy.deepcopy(entry["rest"])
        optimizer = None if saved["optimizer"] is None else [a.copy() for a in saved["optimizer"]]
        return cls(spec, network, pos_weight, history, holdout, optimizer)

    def nbytes(self) -> int:
        """Roughly what ``detached()`` costs in memory."""
        model = self.network.train_model
        opt = getattr(model, "optimizer", None)
        variables = list(model.variables) + (list(opt.variables) if opt is not None and opt.built else [])
        total = sum(int(np.prod(v.shape)) * 4 for v in variables)
        for a in self.holdout or ():
            if sp.issparse(a):
                total += a.data.nbytes + a.indices.nbytes + a.indptr.nbytes
            elif a is not None:
                total += np.asarray(a).nbytes
        return total

    # ---- as data ----------------------------------------------------------
    def to_meta(self) -> dict:
        spec = self.spec
        holdout = self.holdout
        optimizer = self.optimizer_values()
        return {
            # what the .keras format leaves out and a continued fit reads: the
            # seed generators of dropout layers, the optimizer's step and moments
            "continuation": {
                "network": _arrays_to_json(
                    [np.array(v.numpy()) for v in _unsaved_variables(self.network.train_model)]
                ),
                "optimizer": None if optimizer is None else _arrays_to_json(optimizer),
            },
            "history_": {str(k): [float(v) for v in vals] for k, vals in self.history.items()},
            "pos_weight": None if self.pos_weight is None else [float(w) for w in self.pos_weight],
            "holdout": None
            if holdout is None
            else {
                # null where an entry of y is unknown
                "y": [
                    [None if v != v else v for v in row]
                    for row in np.asarray(dense_labels(holdout[0]), dtype=float).tolist()
                ],
                "proba": np.asarray(holdout[1], dtype=float).tolist(),
                "weights": None if holdout[2] is None else np.asarray(holdout[2], dtype=float).tolist(),
            },
            "spec": {
                "task": spec.task,
                "form": spec.form,
                "classes": [_array_to_json(c) for c in spec.classes],
                "heads": [[h.kind, h.units, h.name] for h in spec.heads],
                "y_dtype": spec.y_dtype,
                "n_thresholds": spec.n_thresholds,
                "names": spec.names,
            },
            "network": {
                "heads": [[h.kind, h.units, h.name] for h in self.network.heads],
                "from_logits": self.network.from_logits,
            },
        }

    def model_bytes(self) -> bytes:
        return _savefile.model_to_bytes(self.network.train_model)

    @classmethod
    def from_meta(
        cls,
        meta,
        model_bytes: bytes,
        *,
        safe_mode: bool = True,
        n_features_in: int | None = None,
        limits: _savefile.Limits | None = None,
    ) -> FittedState:
        """Rebuild a state, checking every field and the network against them.

        Raises ``ValueError`` for anything malformed or inconsistent.
        """
        where = "fitted state"
        _expect_dict(meta, where, ("history_", "pos_weight", "holdout", "spec", "network"))
        spec = _spec_from_json(meta["spec"])
        net = meta["network"]
        _expect_dict(net, "network", ("heads", "from_logits"))
        net_heads = _heads_from_json(net["heads"], "network.heads")
        if not isinstance(net["from_logits"], bool):
            _fail("network.from_logits", "must be true or false")
        _check_network_heads(spec, net_heads)
        history = _history_from_json(meta["history_"])
        pos_weight = _pos_weight_from_json(meta["pos_weight"], spec)
        holdout = _holdout_from_json(meta["holdout"], spec)
        train_model = _savefile.model_from_bytes(model_bytes, safe_mode=safe_mode, limits=limits)
        _check_model(train_model, net_heads, net["from_logits"], n_features_in)
        optimizer = _continuation_from_json(meta.get("continuation"), train_model)
        network = network_from_train_model(train_model, net_heads, net["from_logits"])
        return cls(spec, network, pos_weight, history, holdout, optimizer)


def network_from_train_model(train_model, heads: list, from_logits: bool) -> Network:
    """The network around a model rebuilt here from data (a file, a pickle, the
    fit cache): no one else holds its variables."""
    network = (
        wrap_logits(train_model, heads) if from_logits else Network(train_model, train_model, heads, False)
    )
    network.private = True
    return network


def _unsaved_variables(model) -> list:
    """The network's variables that are not weights (seed generator states)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _arrays_to_json(arrays) -> dict:
    arrays = [np.asarray(a, order="C") for a in arrays]  # (ascontiguousarray makes 0-d arrays 1-d)
    return {
        "shapes": [list(a.shape) for a in arrays],
        "dtypes": [a.dtype.str for a in arrays],
        "data": base64.b64encode(b"".join(a.tobytes() for a in arrays)).decode("ascii"),
    }


def _arrays_from_json(d, where: str) -> list:
    """Arrays of the declared shapes and plain numeric dtypes, whose bytes add
    up exactly to the data stored (nothing is allocated that the file does
    not hold)."""
    _expect_dict(d, where, ("shapes", "dtypes", "data"))
    shapes, dtypes = _list(d["shapes"], f"{where}.shapes"), _list(d["dtypes"], f"{where}.dtypes")
    if len(shapes) != len(dtypes) or not isinstance(d["data"], str):
        _fail(where, "one dtype per shape, and the data as a string")
    try:
        raw = base64.b64decode(d["data"], validate=True)
    except (ValueError, TypeError) as exc:
        _fail(where, f"data is not base64 ({exc})")
    arrays, offset = [], 0
    for i, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        shape = tuple(_int(n, f"{where}.shapes[{i}]") for n in _list(shape, f"{where}.shapes[{i}]", 32))
        dtype = check_dtype(dtype, f"{where}.dtypes[{i}]")
        if dtype.kind not in "biuf":
            _fail(where, "arrays must be numeric")
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(raw):
            _fail(where, "the shapes declare more data than is stored")
        arrays.append(np.frombuffer(raw, dtype, math.prod(shape), offset).reshape(shape).copy())
        offset += size
    if offset != len(raw):
        _fail(where, "the data holds more bytes than the shapes declare")
    return arrays


def _continuation_from_json(c, model) -> list | None:
    """Put the stored seed generator states into ``model``; the optimizer's
    variables, for the compile of a continued fit. Files written before these
    were kept have none: their continued fits start a fresh optimizer."""
    if c is None:
        return None
    _expect_dict(c, "continuation", ("network", "optimizer"))
    unsaved = _unsaved_variables(model)
    values = _arrays_from_json(c["network"], "continuation.network")
    if len(values) != len(unsaved) or any(tuple(v.shape) != a.shape for v, a in zip(unsaved, values)):
        _fail("continuation.network", "does not match the network's variables")
    for variable, value in zip(unsaved, values):
        variable.assign(value)
    return None if c["optimizer"] is None else _arrays_from_json(c["optimizer"], "continuation.optimizer")


# ---------------------------------------------------------------------------
# Checks of data read back
# ---------------------------------------------------------------------------


def _expect_dict(value, where: str, keys) -> None:
    if not isinstance(value, dict):
        _fail(where, f"expected an object, got {type(value).__name__}")
    missing = [k for k in keys if k not in value]
    if missing:
        _fail(where, f"missing {missing}")


def _int(value, where: str, low: int = 0, high: int = 2**31) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(where, f"expected an integer in [{low}, {high}], got {value!r:.80}")
    return value


def _str(value, where: str, max_len: int = 256) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        _fail(where, f"expected a string of at most {max_len} characters, got {value!r:.80}")
    return value


def _list(value, where: str, max_len: int | None = None) -> list:
    if not isinstance(value, list) or (max_len is not None and len(value) > max_len):
        _fail(
            where, f"expected a list{'' if max_len is None else f' of at most {max_len}'}, got {value!r:.80}"
        )
    return value


def check_dtype(value, where: str, values: list | None = None) -> np.dtype:
    """A dtype string from a file: only plain kinds, strings no longer than needed."""
    if not isinstance(value, str) or not _DTYPE.match(value):
        _fail(where, f"unsupported dtype {value!r:.80}")
    dtype = np.dtype(value)
    if dtype.kind == "U":
        longest = max((len(v) for v in values or () if isinstance(v, str)), default=1)
        # NumPy may widen a string dtype past its values (np.column_stack of
        # strings and numbers gives <U21), but never by megabytes.
        if dtype.itemsize // 4 > max(longest, 256):
            _fail(where, f"dtype {value!r} is far wider than the strings it holds")
    return dtype


def _array_to_json(a: np.ndarray) -> dict:
    return {"values": a.tolist(), "dtype": a.dtype.str}


def _array_from_json(d, where: str) -> np.ndarray:
    _expect_dict(d, where, ("values", "dtype"))
    values = _list(d["values"], f"{where}.values")
    dtype = check_dtype(d["dtype"], f"{where}.dtype", values)
    if any(isinstance(v, (list, dict)) for v in values):
        _fail(where, "labels must be plain values")
    if dtype.kind in "biuf" and not all(isinstance(v, (bool, int, float)) for v in values):
        _fail(where, f"values do not match dtype {dtype.str}")
    if dtype.kind == "U" and not all(isinstance(v, str) for v in values):
        _fail(where, "string dtype for values that are not strings")
    try:
        out = np.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        _fail(where, f"values do not fit dtype {dtype.str} ({exc})")
    if out.ndim != 1:
        _fail(where, "expected a flat list of labels")
    return out


def _heads_from_json(value, where: str) -> list:
    heads = []
    for i, h in enumerate(_list(value, where, max_len=100_000)):
        if not isinstance(h, list) or len(h) != 3:
            _fail(f"{where}[{i}]", "expected [kind, units, name]")
        kind, units, name = h
        if kind not in _HEAD_KINDS:
            _fail(f"{where}[{i}]", f"unknown head kind {kind!r:.40}")
        heads.append(
            Head(kind, _int(units, f"{where}[{i}] units", 1, 10_000_000), _str(name, f"{where}[{i}] name"))
        )
    if not heads:
        _fail(where, "no heads")
    return heads


def _spec_from_json(s) -> TargetSpec:
    where = "spec"
    _expect_dict(s, where, ("task", "form", "classes", "heads", "y_dtype", "n_thresholds"))
    if s["task"] not in TASKS:
        _fail("spec.task", f"unknown task {s['task']!r:.40}")
    if s["form"] not in FORMS:
        _fail("spec.form", f"unknown form {s['form']!r:.40}")
    heads = _heads_from_json(s["heads"], "spec.heads")
    classes = [
        _array_from_json(c, f"spec.classes[{i}]") for i, c in enumerate(_list(s["classes"], "spec.classes"))
    ]
    # predict answers in this dtype: no wider than the labels it holds
    check_dtype(s["y_dtype"], "spec.y_dtype", [v for c in classes for v in c.tolist()])
    names = s.get("names")  # absent from files written before names were kept
    if names is not None:
        names = [_str(v, f"spec.names[{i}]") for i, v in enumerate(_list(names, "spec.names"))]
    spec = TargetSpec(
        s["task"],
        s["form"],
        classes,
        heads,
        s["y_dtype"],
        _int(s["n_thresholds"], "spec.n_thresholds"),
        names,
    )
    _check_spec(spec)
    return spec


def _check_spec(spec: TargetSpec) -> None:
    """Task, form, heads and classes must describe one coherent target."""
    heads, classes, task, form = spec.heads, spec.classes, spec.task, spec.form
    for c in classes:
        if len(c) < 1 or len({_label_key(v) for v in c.tolist()}) != len(c):
            _fail("spec.classes", "each set of classes must be non-empty and hold no duplicates")
        if not _strictly_increasing(c.tolist()):
            # fit keeps them sorted (np.unique, sorted label collections), and
            # labels are looked up by bisection: unsorted classes mislabel.
            _fail("spec.classes", "each set of classes must be sorted, as fit gives them")
    by_column = FORM_CLASSES[form].by_column
    if task not in FORM_CLASSES[form].tasks:
        _fail("spec", f"form {form!r} does not go with task {task!r}")
    if task == "multiclass-multioutput":
        if len(heads) != len(classes) or len(heads) < 1:
            _fail("spec", "one head and one set of classes per output")
        for head, c in zip(heads, classes):
            want = ("binary", 1) if len(c) == 2 else ("multiclass", len(c))
            if (head.kind, head.units) != want or len(c) < 2:
                _fail("spec", f"head {head.name!r} does not match its {len(c)} classes")
    else:
        if len(heads) != 1:
            _fail("spec", f"a {task} task has one head, not {len(heads)}")
        head = heads[0]
        if task == "binary" and (
            (head.kind, head.units) != ("binary", 1) or len(classes) != 1 or len(classes[0]) != 2
        ):
            _fail("spec", "a binary task has one 1-unit head and two classes")
        if task == "multiclass" and (
            head.kind != "multiclass" or len(classes) != 1 or head.units != len(classes[0]) or head.units < 2
        ):
            _fail("spec", "a multiclass head has one unit per class")
        if task == MULTILABEL:
            n_labels = len(classes) if by_column else (len(classes[0]) if len(classes) == 1 else -1)
            if head.kind != "multilabel" or head.units != n_labels:
                _fail("spec", "a multi-label head has one unit per label")
            if by_column and any(len(c) != 2 for c in classes):
                _fail("spec", "each binary column has two values")
    if spec.names is not None:
        n_columns = len(heads) if form == FORM_COLUMNS else (len(classes) if by_column else len(classes[0]))
        if form not in NAMED_FORMS or len(spec.names) != n_columns or len(set(spec.names)) != n_columns:
            _fail("spec.names", f"expected {n_columns} distinct column names for form {form!r}")
    thresholded = sum(h.units for h in heads if h.thresholded)
    if spec.n_thresholds != thresholded:
        _fail(
            "spec.n_thresholds",
            f"is {spec.n_thresholds} but the heads have {thresholded} thresholded outputs",
        )


def _strictly_increasing(values: list) -> bool:
    try:
        return all(a < b for a, b in zip(values, values[1:]))
    except TypeError:  # labels of kinds that do not compare, which fit cannot sort either
        return False


def _label_key(v):
    return (type(v).__name__, v) if isinstance(v, (int, float, bool, str, type(None))) else repr(v)


def _check_network_heads(spec: TargetSpec, net_heads: list) -> None:
    if len(net_heads) != len(spec.heads):
        _fail("network.heads", f"{len(net_heads)} heads for a target with {len(spec.heads)}")
    for want, have in zip(spec.heads, net_heads):
        same = (want.kind, want.units) == (have.kind, have.units)
        softmax_binary = want.kind == "binary" and (have.kind, have.units) == ("multiclass", 2)
        if not (same or softmax_binary):
            _fail(
                "network.heads", f"head {have.kind}/{have.units} cannot answer for {want.kind}/{want.units}"
            )


def _finite_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _history_from_json(h) -> dict:
    if not isinstance(h, dict):
        _fail("history_", "expected an object")
    out = {}
    for k, vals in h.items():
        _str(k, "history_ key")
        vals = _list(vals, f"history_[{k!r}]")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            _fail(f"history_[{k!r}]", "expected numbers")
        out[k] = [float(v) for v in vals]
    return out


def _numbers_only(value, ndim: int) -> bool:
    rows = value if ndim == 2 else [value]
    return all(isinstance(r, list) for r in rows) and all(type(v) in (int, float) for r in rows for v in r)


def _float_array(value, where: str, ndim: int) -> np.ndarray:
    if not isinstance(value, list) or not _numbers_only(value, ndim):
        _fail(where, f"expected a {ndim}-D list of numbers")
    try:
        a = np.array(value, dtype=float)
    except (TypeError, ValueError) as exc:
        _fail(where, f"expected a rectangular array of numbers ({exc})")
    if a.ndim != ndim or not np.all(np.isfinite(a)):
        _fail(where, f"expected a {ndim}-D array of finite numbers")
    return a


def _pos_weight_from_json(value, spec: TargetSpec):
    if value is None:
        return None
    w = _float_array(value, "pos_weight", 1)
    if spec.task != MULTILABEL or len(w) != spec.heads[0].units or np.any(w < 0):
        _fail("pos_weight", "expected one non-negative weight per label of a multi-label task")
    return w


def _holdout_from_json(h, spec: TargetSpec):
    if h is None:
        return None
    _expect_dict(h, "holdout", ("y", "proba", "weights"))
    rows = _list(h["y"], "holdout.y")
    unknown = [[v is None for v in _list(row, "holdout.y")] for row in rows]
    y = _float_array([[0.0 if v is None else v for v in row] for row in rows], "holdout.y", 2)
    y[np.asarray(unknown, dtype=bool).reshape(y.shape)] = np.nan  # null: an unknown entry
    proba = _float_array(h["proba"], "holdout.proba", 2)
    if y.shape != proba.shape or y.shape[1] != spec.n_thresholds or len(y) < 1:
        _fail("holdout", f"expected y and proba of shape (n, {spec.n_thresholds})")
    if np.any((y < 0) | (y > 1)) or np.any((proba < 0) | (proba > 1)):
        _fail("holdout", "values outside [0, 1]")
    weights = None
    if h["weights"] is not None:
        weights = _float_array(h["weights"], "holdout.weights", 1)
        if len(weights) != len(y) or np.any(weights < 0):
            _fail("holdout.weights", "expected one non-negative weight per held-out row")
    return y, proba, weights


def _check_model(model, heads: list, from_logits: bool, n_features_in: int | None) -> None:
    from ._network import is_complete

    try:
        outputs = list(model.outputs)
        inputs = list(model.inputs)
    except (AttributeError, ValueError, TypeError):
        _fail("network", "is not a functional Keras model with known inputs and outputs")
    if len(outputs) != len(heads):
        _fail("network", f"has {len(outputs)} outputs but the metadata names {len(heads)} heads")
    for out, head in zip(outputs, heads):
        if len(out.shape) != 2 or out.shape[-1] != head.units:
            _fail(
                "network", f"output {head.name!r} has shape {tuple(out.shape)}, expected (None, {head.units})"
            )
    if is_complete(model) == from_logits:
        _fail(
            "network.from_logits",
            "says the network outputs logits but it ends in softmax/sigmoid"
            if from_logits
            else "says the network outputs probabilities but it outputs logits",
        )
    if n_features_in is not None:
        if len(inputs) != 1:
            _fail("network", f"has {len(inputs)} inputs, expected one")
        shape = inputs[0].shape
        if len(shape) < 2 or (shape[1] is not None and shape[1] != n_features_in):
            _fail("network", f"takes inputs of shape {tuple(shape)} but n_features_in_ is {n_features_in}")


# What a fit sets on the estimator: the learned state, and the public
# attributes that follow from it (pickling stores the first as data and
# rebuilds the second).
LEARNED = ("_spec_", "_network_", "_pos_weight_", "history_", "_holdout_", "_optimizer_state_", "_tuned_")
DERIVED = ("model_", "target_encoder_", "task_", "classes_", "n_outputs_", "target_names_")


def set_learned(est, state: FittedState) -> None:
    """Everything a fit learned, set on ``est``; the public attributes follow from it."""
    spec, network = state.spec, state.network
    est._spec_ = spec
    est._network_ = network
    est._pos_weight_ = state.pos_weight
    est.history_ = state.history
    est._holdout_ = state.holdout
    est._optimizer_state_ = state.optimizer_state
    est._tuned_ = {}
    network.weights_changing()  # ``model_`` reads ``_network_``
    est.target_encoder_ = spec
    est.task_ = spec.task
    est.classes_ = spec.public_classes()
    est.n_outputs_ = spec.n_outputs
    if getattr(spec, "names", None) is not None:
        est.target_names_ = np.array(spec.names, dtype=object)
    else:
        est.__dict__.pop("target_names_", None)


def fitted_state(est) -> FittedState:
    """The :class:`FittedState` a fitted ``est`` holds."""
    return FittedState(
        est._spec_, est._network_, est._pos_weight_, est.history_, est._holdout_, est._optimizer_state_
    )
