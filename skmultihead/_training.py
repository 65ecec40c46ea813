"""Training helpers: seeding, stopping on NaN, rolling back, weights and targets.

Module-level functions the fit steps (``_fitting``) call; none of them
knows about scikit-learn parameters.
"""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_sample_weight

from . import _backend
from ._targets import hashable_label, known_entries


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class StopOnNonFinite(keras.callbacks.Callback):
    """Stops training at the end of the first epoch whose loss is NaN or infinite.

    An epoch's loss is the mean of its batches', so one non-finite batch
    makes it non-finite. It is read once an epoch, not once a batch: reading a
    batch's loss waits for that step to finish (and on JAX, reading it in
    Keras's helper thread raced with the next step donating its buffers), a
    wait per step that plain ``Model.fit`` does not have.
    """

    def __init__(self):
        super().__init__()
        self.bad_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(loss)):
            self.bad_epoch = epoch
            self.model.stop_training = True


class ValidationScore(keras.callbacks.Callback):
    """Logs ``name``: ``score()`` (a validation score) at the end of each epoch.

    Placed before the callbacks that read the logs (``History``, early
    stopping), so they see it as Keras's own ``val_*`` entries.
    """

    def __init__(self, name: str, score):
        super().__init__()
        self.name = name
        self.score = score

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.name] = float(self.score())


def resolve_seed(random_state) -> int | None:
    """The one seed of a fit: it seeds Keras and every split and fold.

    None stays None (Keras unseeded), and splits then draw their own
    randomness; a RandomState gives one draw.
    """
    if random_state is None:
        return None
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    return int(random_state)


class _ThreadSeededRandom:
    """Keras's source of default initializer seeds, per thread while a fit is seeded.

    Keras draws a seed for every initializer without one from Python's global
    ``random`` (``keras.src.random.seed_generator.python_random``). Another
    thread drawing from it meanwhile (a Dask worker's event loop does) shifts
    the sequence, so a seeded fit would build another network. In a thread
    inside ``seeded``, draws come from that thread's own ``random.Random(seed)``,
    which gives exactly the draws ``random.seed(seed)`` would give; everywhere
    else they reach the ``random`` module unchanged.
    """

    _local = threading.local()

    def __getattr__(self, name):
        own = getattr(self._local, "rng", None)
        return getattr(own if own is not None else random, name)


def _keras_seed_source():
    try:
        from keras.src.random import seed_generator
    except ImportError:  # another Keras layout: nothing to route
        return None
    if not isinstance(getattr(seed_generator, "python_random", None), _ThreadSeededRandom):
        if getattr(seed_generator, "python_random", None) is not random:
            return None  # not the layout this was written for
        seed_generator.python_random = _ThreadSeededRandom()
    return _ThreadSeededRandom._local


@contextmanager
def seeded(seed: int | None):
    """Seed Keras for one fit; give NumPy, Python and torch their old state back."""
    if seed is None:
        yield
        return
    np_state, py_state = np.random.get_state(), random.getstate()
    backend_state = _backend.rng_state()
    _backend.set_random_seed(seed)
    local = _keras_seed_source()
    outer = getattr(local, "rng", None) if local is not None else None
    if local is not None:
        local.rng = random.Random(seed)
    try:
        yield
    finally:
        if local is not None:
            local.rng = outer
        np.random.set_state(np_state)
        random.setstate(py_state)
        _backend.set_rng_state(backend_state)


def continued_history(est, history: dict) -> dict:
    """The estimator's ``history_`` with a continued fit's epochs appended."""
    merged = {k: list(v) for k, v in getattr(est, "history_", {}).items()}
    for k, v in history.items():
        merged.setdefault(k, []).extend(v)
    return merged


def one(items):
    if items is None:
        return None
    return items[0] if len(items) == 1 else list(items)


# ---- unknown entries: NaN in float targets, -1 in class indices ------------
def filled(target: np.ndarray) -> np.ndarray:
    """A head's target with its unknown entries set to 0 (they weigh 0)."""
    known = known_entries(target)
    return target if known is None else np.where(known, target, 0).astype(target.dtype)


def row_weights(weights):
    """Per-row weights from per-entry ones (n, L): a row weighs what its known
    entries weigh (entries of a row share its weight), 0 with none known."""
    if weights is None:
        return None
    w = np.asarray(weights)
    return w.max(axis=1) if w.ndim == 2 else w


def class_index(target: np.ndarray) -> np.ndarray:
    return (
        target.reshape(-1).astype(np.int64)
        if target.ndim == 1 or target.shape[1] == 1
        else np.argmax(target, axis=1)
    )


def fit_targets(network, targets: list) -> list:
    if network.heads is None:  # encoded by the user's target_encoder: as they are
        return list(targets)
    out = []
    for head, sparse, target in zip(network.heads, network.sparse_targets or [True] * len(targets), targets):
        target = filled(target)  # unknown entries weigh 0 (Fitting.class_weights)
        if head.kind == "multiclass" and target.ndim == 2 and target.shape[1] == 1:
            # a binary target trained through a 2-unit softmax
            target = target.reshape(-1).astype(np.int32)
        if head.kind == "multiclass" and not sparse:
            target = np.eye(head.units, dtype=np.float32)[target]
        out.append(target)
    return out


def weights_by_label(class_weight: dict, classes: np.ndarray, what: str) -> np.ndarray:
    """One weight per entry of ``classes`` from ``{label: weight}`` (others 1)."""
    weights = np.ones(len(classes), dtype=np.float64)
    known = {hashable_label(c): i for i, c in enumerate(classes)}
    for label, weight in class_weight.items():
        i = known.get(hashable_label(label))
        if i is None:
            raise ValueError(
                f"class_weight names the {what} {label!r}, which is not in y. "
                f"{what.capitalize()}s: {list(classes)[:20]}."
            )
        weights[i] = _checked_weight(label, weight)
    if not np.any(weights > 0):
        raise ValueError(f"class_weight gives every {what} a weight of zero; at least one must be positive.")
    return weights


def _checked_weight(label, weight) -> float:
    """A class weight is refused as a negative sample_weight is: before training."""
    if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, (int, float, np.integer, np.floating)):
        raise TypeError(f"class_weight for {label!r} must be a number; got {type(weight).__name__}.")
    value = float(weight)
    if not np.isfinite(value) or value < 0:
        raise ValueError(
            f"class_weight for {label!r} is {weight!r}; class weights must be finite and non-negative."
        )
    return value


def single_head_weights(class_weight, idx: np.ndarray, classes: np.ndarray) -> np.ndarray:
    if isinstance(class_weight, str):
        return compute_sample_weight("balanced", idx)
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight must be a dict, 'balanced' or None; got {type(class_weight).__name__}."
        )
    return weights_by_label(class_weight, classes, "class")[idx]


def multilabel_pos_weight(class_weight, target: np.ndarray, classes: np.ndarray) -> np.ndarray:
    # known entries only: an unknown entry is neither a positive nor a negative
    if sp.issparse(target):  # every entry known
        positives = np.asarray(target.sum(axis=0), dtype=np.float64).ravel()
        known = np.full(target.shape[1], target.shape[0], dtype=np.float64)
    else:
        positives = np.nansum(target, axis=0)
        known = np.sum(~np.isnan(target), axis=0)
    if isinstance(class_weight, str):
        negatives = known - positives
        # A label seen k times out of n weighs its positives (n - k) / k, so
        # that positives and negatives of every label carry equal total weight.
        # A label without negatives (or without positives) has nothing to balance: 1.
        return np.where((positives > 0) & (negatives > 0), negatives / np.maximum(positives, 1), 1.0)
    if not isinstance(class_weight, dict):
        raise TypeError(
            "class_weight for multi-label y must be 'balanced' or a dict {label: weight of its positives}."
        )
    return weights_by_label(class_weight, classes, "label")


def snapshot(model) -> dict:
    """Everything about a network that decides how its training goes on:
    every variable (weights, non-trainable statistics, the seed generators of
    dropout layers) and its optimizer's variables (step count, moments).

    The optimizer's variables exist from compile on (``build_optimizer``), so
    a snapshot never has to tell a built optimizer from an unbuilt one."""
    opt = getattr(model, "optimizer", None)
    return {
        "variables": [np.array(v.numpy()) for v in model.variables],
        "optimizer": [np.array(v.numpy()) for v in opt.variables] if opt is not None and opt.built else None,
    }


def restore(model, saved: dict) -> None:
    """Put a :func:`snapshot` back, into the same network or a rebuilt twin."""
    _assign(model.variables, saved["variables"], "network")
    if saved["optimizer"] is not None:
        restore_optimizer(model, saved["optimizer"])


def restore_optimizer(model, values: list) -> None:
    """The optimizer's variables of a :func:`snapshot`, into a compiled network."""
    build_optimizer(model)
    _assign(model.optimizer.variables, values, "optimizer")


def _assign(variables, values, what: str) -> None:
    if len(variables) != len(values) or any(tuple(v.shape) != a.shape for v, a in zip(variables, values)):
        raise ValueError(f"the saved {what} state does not match this network's variables")
    for variable, value in zip(variables, values):
        variable.assign(value)


def build_optimizer(model) -> None:
    """Create the optimizer's variables now rather than at the first batch, as
    ``Model.fit`` would with the same (zero) values: a call that fails later
    then has nothing new to take back."""
    opt = getattr(model, "optimizer", None)
    if opt is not None and not opt.built:
        opt.build(model.trainable_variables)


def build_compiled(model, x, y, sample_weight) -> None:
    """Build a compiled network's loss and metrics from the first row before
    ``Model.fit`` does. Keras builds them on a model's first fit from the first
    batch of an extra pass over the data, which on JAX draws one more shuffle
    from NumPy's generator: a network's first fit and a later one (a served,
    loaded or rolled-back network going on) would see the rows in other
    orders for the same seed. (For a ``keras.utils.PyDataset`` the extra pass
    ends with ``on_epoch_end``, which draws the next shuffle: the same.)"""
    first_row = getattr(x, "first_row", None)  # _backend's padded sparse batches (JAX)
    if first_row is not None:
        try:
            model._symbolic_build(data_batch=first_row())
        except Exception:  # Keras builds at fit
            pass
        return
    if sp.issparse(x) and x.shape[0]:
        x = x[:1].toarray()  # only its shape and dtype are read (torch densifies batches)
    if not isinstance(x, np.ndarray) or not x.shape[0]:
        return  # several inputs: Keras builds at fit

    def first(a):
        if a is None:
            return None
        if isinstance(a, (list, tuple)):
            return [first(t) for t in a]
        return a[:1].toarray() if sp.issparse(a) else a[:1]

    try:
        model._symbolic_build(data_batch=(first(x), first(y), first(sample_weight)))
    except Exception:  # another Keras layout, or inputs it cannot describe: Keras builds at fit
        pass
