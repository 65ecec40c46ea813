"""A NumPy forward pass of a network made of Keras's standard layers.

For one row (or a few), a Keras backend spends far longer dispatching a call
(a ``tf.function``, a jitted JAX function, torch's modules) than computing
it: a 512 x 512 network is tens of microseconds of arithmetic. ``plan`` reads
a functional model's graph once; ``Snapshot`` holds the weights it needs as
NumPy arrays; ``Snapshot.run`` computes the model's outputs in inference mode
(dropout off, batch normalisation from its moving statistics), in float32.

Only what this module knows exactly is planned: ``Dense`` (no quantisation,
no LoRA), ``Dropout``, ``Activation``, ``Softmax`` on the last axis and
``BatchNormalization`` on the last axis, each layer computing in float32,
every layer taking one tensor, activations from the table below. Anything
else gives no plan, and the backend's own forward pass runs.

A snapshot is a copy: whoever holds one must know that the weights have not
changed since it was taken (``_network``: only while skmultihead alone holds
the network's variables).
"""

from __future__ import annotations

import math

import keras
import numpy as np
import scipy.sparse as sp
from scipy import special

# Batches of at most this many rows run here; larger ones on the backend,
# whose kernels (and accelerators) win once there is arithmetic to do.
SMALL_ROWS = 16

_SQRT_HALF = np.float32(math.sqrt(0.5))
_SELU_ALPHA = np.float32(1.6732632423543772848170429916717)
_SELU_SCALE = np.float32(1.0507009873554804934193349852946)


def _softmax(z):
    return special.softmax(z, axis=-1)


# Keras's activation functions (as a layer holds them, with their default
# arguments) and the same functions in NumPy.
_ACTIVATIONS = {
    "linear": lambda z: z,
    "relu": lambda z: np.maximum(z, np.float32(0)),
    "sigmoid": special.expit,
    "tanh": np.tanh,
    "softmax": _softmax,
    "elu": lambda z: np.where(z > 0, z, np.expm1(z)),
    "selu": lambda z: _SELU_SCALE * np.where(z > 0, z, _SELU_ALPHA * np.expm1(z)),
    "softplus": lambda z: np.logaddexp(np.float32(0), z),
    "silu": lambda z: z * special.expit(z),
    "gelu": lambda z: np.float32(0.5) * z * (np.float32(1) + special.erf(z * _SQRT_HALF)),
    "leaky_relu": lambda z: np.where(z >= 0, z, np.float32(0.2) * z),
    "relu6": lambda z: np.clip(z, np.float32(0), np.float32(6)),
}


def _activation(fn):
    """The NumPy twin of a layer's activation function, or None."""
    for name, twin in _ACTIVATIONS.items():
        if fn is keras.activations.get(name):
            return twin
    return None


class _Unsupported(Exception):
    pass


def _float32(layer) -> None:
    policy = getattr(layer, "dtype_policy", None)
    if getattr(policy, "name", None) != "float32":
        raise _Unsupported


def _step(layer, n_dims: int):
    """(kind, layer, activation twin) for one layer, or _Unsupported."""
    _float32(layer)
    kind = type(layer)
    if kind is keras.layers.Dense:
        twin = _activation(layer.activation)
        if (
            twin is None
            or n_dims != 2
            or getattr(layer, "quantization_mode", None) is not None
            or getattr(layer, "lora_enabled", False)
        ):
            raise _Unsupported
        return ("dense", layer, twin)
    if kind is keras.layers.Dropout:
        return ("identity", layer, None)
    if kind is keras.layers.Activation:
        twin = _activation(layer.activation)
        if twin is None:
            raise _Unsupported
        return ("activation", layer, twin)
    if kind is keras.layers.Softmax:
        if layer.axis not in (-1, n_dims - 1):
            raise _Unsupported
        return ("activation", layer, _softmax)
    if kind is keras.layers.BatchNormalization:
        if (
            n_dims != 2
            or layer.axis not in (-1, 1)
            or getattr(layer, "renorm", False)
            or getattr(layer, "synchronized", False)
        ):
            raise _Unsupported
        return ("batch_norm", layer, None)
    raise _Unsupported


class Plan:
    """A functional model's layers in the order they run: ``steps`` of
    ``(kind, layer, activation, input slot, output slot)``; slot 0 is the
    input; ``outputs`` the slots of the model's outputs."""

    def __init__(self, steps, outputs, dense_first: bool):
        self.steps = steps
        self.outputs = outputs
        self.dense_first = dense_first  # every use of the input is a Dense layer's

    def snapshot(self) -> Snapshot:
        return Snapshot(self)


def plan(model) -> Plan | None:
    """A plan for ``model``, or None where it holds anything not planned."""
    try:
        from keras.src.models.functional import Functional
    except ImportError:  # pragma: no cover - a Keras that moved it: no plans
        return None
    if type(model) is not Functional:  # a subclass may call its layers its own way
        return None
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError, TypeError):
        return None
    if len(inputs) != 1 or not outputs:
        return None
    slots = {id(inputs[0]): 0}
    steps = []

    def slot_of(tensor, depth=0) -> int:
        key = id(tensor)
        if key in slots:
            return slots[key]
        history = getattr(tensor, "_keras_history", None)
        if history is None or depth > 10_000:
            raise _Unsupported
        layer = history.operation
        node = layer._inbound_nodes[history.node_index]
        args = node.arguments
        # ``training`` as Keras records it (False, or None: the call's mode,
        # inference here; True would keep dropout on at inference), no mask
        kwargs = {
            k: v
            for k, v in args.kwargs.items()
            if not (k in ("training", "mask") and (v is None or v is False))
        }
        if len(node.input_tensors) != 1 or kwargs or len(args.args) != 1 or len(node.outputs) != 1:
            raise _Unsupported
        (source,) = node.input_tensors
        if source.shape[1:] is None or len(source.shape) != len(tensor.shape):
            raise _Unsupported
        step = _step(layer, len(source.shape))
        source_slot = slot_of(source, depth + 1)
        slots[key] = len(slots)
        steps.append((*step, source_slot, slots[key]))
        return slots[key]

    try:
        out_slots = [slot_of(t) for t in outputs]
    except (_Unsupported, AttributeError, IndexError, TypeError):
        return None
    dense_first = all(kind == "dense" for kind, _, _, src, _ in steps if src == 0)
    return Plan(steps, out_slots, dense_first)


class Snapshot:
    """A plan with the weights it reads, copied as NumPy arrays now."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.weights = []
        for kind, layer, *_ in plan.steps:
            if kind == "dense":
                kernel = _array(layer.kernel)
                bias = _array(layer.bias) if layer.bias is not None else None
                self.weights.append((kernel, bias))
            elif kind == "batch_norm":
                inv = np.float32(1) / np.sqrt(_array(layer.moving_variance) + np.float32(layer.epsilon))
                if layer.gamma is not None:
                    inv = inv * _array(layer.gamma)
                offset = -_array(layer.moving_mean) * inv
                if layer.beta is not None:
                    offset = offset + _array(layer.beta)
                self.weights.append((inv.astype(np.float32), offset.astype(np.float32)))
            else:
                self.weights.append(None)

    def run(self, X) -> list | None:
        """The model's outputs for X (an array, or a CSR matrix where every
        use of the input is a Dense layer's); None where X is neither."""
        if sp.issparse(X):
            if not self.plan.dense_first:
                return None
            x = sp.csr_matrix(X, dtype=np.float32)
        elif isinstance(X, np.ndarray) and X.ndim == 2:
            x = np.asarray(X, dtype=np.float32)
        else:
            return None
        values = {0: x}
        for (kind, _, twin, src, dst), w in zip(self.plan.steps, self.weights):
            z = values[src]
            if kind == "dense":
                kernel, bias = w
                z = np.asarray(z @ kernel, dtype=np.float32)
                if bias is not None:
                    z = z + bias
                z = twin(z)
            elif kind == "activation":
                z = twin(z)
            elif kind == "batch_norm":
                z = z * w[0] + w[1]
            values[dst] = z
        return [np.asarray(values[s], dtype=np.float32) for s in self.plan.outputs]


def n_rows(X) -> int:
    """Rows of an array or sparse matrix; a number above SMALL_ROWS for
    anything else (several inputs), which is never planned."""
    shape = getattr(X, "shape", None)
    return shape[0] if shape else SMALL_ROWS + 1


def _array(variable) -> np.ndarray:
    return np.array(keras.ops.convert_to_numpy(variable), dtype=np.float32)
