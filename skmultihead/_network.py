"""The default trunk, calling user models, and putting heads on a trunk.

A network here is a pair of Keras models that share their layers:

- the *training* model outputs logits (one tensor per head) and is compiled
  with losses computed from logits;
- the *probability* model (``model_``) is the same network with each head's
  activation applied: what ``predict_proba`` reads and what users deploy.

A complete user model that already ends in softmax/sigmoid is both at once.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import keras

from . import _npforward
from ._targets import Head

_PROBABILITY_ACTIVATIONS = ("softmax", "sigmoid")


@dataclass
class Network:
    train_model: keras.Model
    proba_model: keras.Model
    heads: list  # the heads as the network implements them
    from_logits: bool
    # per head: multiclass targets as class indices (True) or one-hot rows;
    # set when the network is compiled (or a user's compiled model adopted)
    sparse_targets: list | None = None
    # True while skmultihead's code alone holds references to the network's
    # variables: built here (the default trunk) or rebuilt here from data (a
    # file, a pickle, the fit cache), never handed to a user's callback, and
    # ``model_`` never read. Only then can nothing but this package's own
    # training change the weights, and only then may small predictions run on
    # a NumPy copy of them (``small_batch_outputs``). Once False, never True.
    private: bool = False
    _snapshot: object = field(default=None, repr=False, compare=False)

    def release(self) -> None:
        """Someone else may now hold the variables: no NumPy copies from here on."""
        self.private = False
        self._snapshot = None

    def weights_changing(self) -> None:
        """Called before this package changes the weights (training, restoring)."""
        self._snapshot = None

    def small_batch_outputs(self, X) -> list | None:
        """``proba_model``'s outputs for X by a NumPy forward pass on a copy of
        the weights taken at the first such call since they last changed;
        None where that cannot be done (the caller runs the backend's)."""
        if not self.private or _npforward.n_rows(X) > _npforward.SMALL_ROWS:
            return None
        snap = self._snapshot
        if snap is None:
            plan = _npforward.plan(self.proba_model)
            snap = False if plan is None else plan.snapshot()
            self._snapshot = snap
        return snap.run(X) if snap else None


def default_trunk(meta: dict, hidden_layer_sizes, activation, dropout, batch_normalization, sparse):
    """Dense layers from ``hidden_layer_sizes`` on a 2-D input."""
    if len(meta["X_shape_"]) != 2:
        raise ValueError(
            f"The built-in network takes 2-D X (n_samples, n_features); got X of "
            f"shape {meta['X_shape_']}. Flatten X, or pass model= a function that "
            "builds a network for this input (e.g. a CNN)."
        )
    inputs = keras.Input(shape=(meta["n_features_in_"],), sparse=sparse, name="X")
    x = inputs
    for i, units in enumerate(hidden_layer_sizes):
        if batch_normalization:  # normalise before the non-linearity
            x = keras.layers.Dense(units, name=f"hidden_{i}")(x)
            x = keras.layers.BatchNormalization(name=f"batch_norm_{i}")(x)
            x = keras.layers.Activation(activation, name=f"activation_{i}")(x)
        else:
            x = keras.layers.Dense(units, activation=activation, name=f"hidden_{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    return keras.Model(inputs, x, name="trunk")


def call_user_model(
    model, meta: dict, routed: dict, params: dict, extras=(), compile_kwargs=None
) -> keras.Model:
    """Build the user's network the scikeras way.

    ``model`` is a ``keras.Model`` (cloned, so the user's object is never
    trained) or a callable. A callable gets, by the names in its signature
    (or all of them if it takes ``**kwargs``): routed ``model__*``
    parameters, extra constructor parameters (``model__x`` wins over ``x``),
    ``meta``, ``compile_kwargs`` (a zero-argument function making them, called
    only if asked for) and ``params`` (every parameter); and any estimator
    parameter it names.
    """
    if isinstance(model, keras.Model):
        if routed:
            raise ValueError(
                f"model__ parameters {sorted(routed)} were given, but model is a "
                "keras.Model instance, which takes no parameters. Pass a function "
                "that builds the model instead."
            )
        try:
            return keras.models.clone_model(model)
        except Exception as exc:  # subclassed models without get_config
            raise TypeError(
                f"Could not clone the given {type(model).__name__} ({exc}). Pass a "
                "function that builds a fresh model instead."
            ) from exc
    if not callable(model):
        raise TypeError(
            f"model must be None, a keras.Model or a callable returning one; got {type(model).__name__}."
        )
    sig = inspect.signature(model)
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
    kwargs = {}
    for name in extras:  # plain extra constructor parameters, overridden by model__name
        if (name in sig.parameters or accepts_any) and name not in routed:
            kwargs[name] = params[name]
    for name, value in routed.items():
        if name not in sig.parameters and not accepts_any:
            raise TypeError(
                f"model__{name} was given, but {getattr(model, '__name__', model)!r} "
                f"got an unexpected keyword argument {name!r}. Its arguments: {list(sig.parameters)}."
            )
        kwargs[name] = value
    if "meta" in sig.parameters or accepts_any:
        kwargs["meta"] = meta
    if "compile_kwargs" in sig.parameters or accepts_any:
        kwargs["compile_kwargs"] = compile_kwargs() if compile_kwargs is not None else {}
    if "params" in sig.parameters or accepts_any:
        kwargs["params"] = dict(params)
    for name in sig.parameters:
        if name in params and name not in kwargs and name not in ("model", "meta", "params"):
            kwargs[name] = params[name]
    built = model(**kwargs)
    if not isinstance(built, keras.Model):
        raise TypeError(f"The model function must return a keras.Model; it returned {type(built).__name__}.")
    return built


def _output_layers(model: keras.Model) -> list:
    if isinstance(model, keras.Sequential):
        return [model.layers[-1]] if model.layers else []
    try:
        outputs = model.outputs
    except (AttributeError, ValueError):
        return []
    if outputs is None:
        return []
    layers = []
    for tensor in outputs:
        history = getattr(tensor, "_keras_history", None)
        layers.append(history.operation if history is not None else None)
    return layers


def _activation_name(layer) -> str | None:
    if layer is None:
        return None
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    if activation is None:
        return None
    name = getattr(activation, "__name__", None) or str(activation)
    return name


def _output_units(layer) -> int | None:
    shape = getattr(layer, "output", None)
    shape = getattr(shape, "shape", None)
    if shape is None:
        units = getattr(layer, "units", None)
        return int(units) if units else None
    return int(shape[-1]) if shape[-1] is not None else None


def is_complete(model: keras.Model) -> bool:
    return any(_activation_name(layer) in _PROBABILITY_ACTIVATIONS for layer in _output_layers(model))


def check_complete_model(model: keras.Model, heads: list, task: str) -> list:
    """Check a complete model's outputs against the task; return its heads."""
    layers = _output_layers(model)
    if len(layers) != len(heads):
        raise ValueError(
            f"The model has {len(layers)} outputs but this {task} task needs "
            f"{len(heads)} (one per output of y). Return a model with one output "
            "per head, or return the trunk only and let the estimator add the heads."
        )
    checked = []
    for layer, head in zip(layers, heads):
        act = _activation_name(layer)
        units = _output_units(layer)
        where = f"output {head.name!r} ({head.kind})"
        if head.kind == "multiclass" and act != "softmax":
            raise ValueError(
                f"The model's {where} ends in {act!r}, but its classes are mutually "
                "exclusive: sigmoid gives each class its own probability, so rows "
                "do not sum to 1 and can all be near 1. Use a softmax output layer "
                f"with {head.units} units (or return the trunk only)."
            )
        if head.kind == "multilabel" and act != "sigmoid":
            raise ValueError(
                f"The model's {where} ends in {act!r}, but its labels are "
                "independent: softmax forces them to compete for one unit of "
                "probability. Use a sigmoid output layer with "
                f"{head.units} units and binary cross-entropy (or return the trunk "
                "only)."
            )
        # the head takes the name of the model's output layer, which is what a
        # loss or metrics dict by output name refers to
        name = getattr(layer, "name", None) or head.name
        if head.kind == "binary":
            if act == "sigmoid" and units in (1, None):
                checked.append(Head("binary", head.units, name))
                continue
            if act == "softmax" and units == 2:
                checked.append(Head("multiclass", 2, name))
                continue
            raise ValueError(
                f"The model's {where} ends in {act!r} with {units} units. A binary "
                "task needs 1 sigmoid unit (or 2 softmax units)."
            )
        if units is not None and units != head.units:
            raise ValueError(
                f"The model's {where} has {units} units but y has {head.units} "
                f"{'classes' if head.kind == 'multiclass' else 'labels'}."
            )
        checked.append(Head(head.kind, head.units, name))
    return checked


def _head_layers(features, heads: list) -> list:
    if len(features.shape) > 2:
        features = keras.layers.Flatten(name="flatten")(features)
    return [keras.layers.Dense(head.units, name=head.name)(features) for head in heads]


def assemble(net: keras.Model, heads: list, task: str, input_shape: tuple, sparse: bool) -> Network:
    """Put heads on a trunk, or check and wrap a complete model."""
    if is_complete(net):
        heads = check_complete_model(net, heads, task)
        return Network(net, net, heads, from_logits=False)
    try:
        inputs, outputs = net.inputs, net.outputs
    except (AttributeError, ValueError):  # a model not built on keras.Input
        inputs = outputs = None
    if inputs and outputs:
        inputs = _single(list(inputs))
        features = outputs[0] if len(outputs) == 1 else outputs
    else:
        inputs = keras.Input(shape=input_shape, sparse=sparse, name="X")
        features = net(inputs)
    if isinstance(features, (list, tuple, dict)):
        raise ValueError(
            "The model has several outputs and none ends in softmax/sigmoid, so it "
            "is read as a trunk, which must have a single output. Return one "
            "feature tensor, or complete heads with softmax/sigmoid activations."
        )
    logits = _head_layers(features, heads)
    return wrap_logits(keras.Model(inputs, _single(logits), name="network"), heads)


def wrap_logits(train_model: keras.Model, heads: list) -> Network:
    """The probability model over a logit model's outputs."""
    outputs = train_model.outputs
    probas = [
        keras.layers.Activation(head.activation, name=f"{head.name}_proba")(tensor)
        for head, tensor in zip(heads, outputs)
    ]
    proba_model = keras.Model(_single(list(train_model.inputs)), _single(probas), name="classifier")
    return Network(train_model, proba_model, heads, from_logits=True)


def _single(tensors: list):
    return tensors[0] if len(tensors) == 1 else tensors
