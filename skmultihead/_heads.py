"""Per head: output layer, loss and honest metrics.

Heads built by the estimator output logits; the loss is computed from the
logits (numerically stable) and probabilities come from the matching
activation.  A complete user model that ends in softmax/sigmoid outputs
probabilities instead: then ``from_logits`` is False everywhere.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from ._targets import Head

_PACKAGE = "skmultihead"

# Losses that take a ``from_logits`` argument, by the names users give them.
_CROSSENTROPIES = {
    "binary_crossentropy": keras.losses.BinaryCrossentropy,
    "binary_focal_crossentropy": keras.losses.BinaryFocalCrossentropy,
    "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
    "categorical_focal_crossentropy": keras.losses.CategoricalFocalCrossentropy,
    "sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
}


def _activate(kind: str, x):
    return ops.softmax(x, axis=-1) if kind == "multiclass" else ops.sigmoid(x)


# ---------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ProbabilityLoss(keras.losses.Loss):
    """Applies a loss that expects probabilities to a logit head."""

    def __init__(self, loss, kind: str, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name or f"{_loss_name(loss)}", reduction=reduction)
        self.loss = loss
        self.kind = kind

    def call(self, y_true, y_pred):
        p = _activate(self.kind, y_pred)
        fn = self.loss.call if isinstance(self.loss, keras.losses.Loss) else self.loss
        return fn(y_true, p)

    def get_config(self):
        return {
            "loss": keras.losses.serialize(self.loss),
            "kind": self.kind,
            "name": self.name,
            "reduction": self.reduction,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PositiveWeightedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy from logits whose positive terms are weighted per label.

    ``pos_weight[j]`` multiplies the loss of label j's positives, the way
    ``class_weight="balanced"`` weights rare labels in a multi-label task.
    """

    def __init__(self, pos_weight, name="binary_crossentropy", reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)
        self.pos_weight = [float(w) for w in pos_weight]

    def call(self, y_true, y_pred):
        # -[w y log s(z) + (1-y) log(1-s(z))] = w y softplus(-z) + (1-y) softplus(z)
        return ops.mean(self.per_label(y_true, y_pred), axis=-1)

    def per_label(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        w = ops.convert_to_tensor(self.pos_weight, dtype=y_pred.dtype)
        return w * y_true * ops.softplus(-y_pred) + (1.0 - y_true) * ops.softplus(y_pred)

    def get_config(self):
        return {"pos_weight": self.pos_weight, "name": self.name, "reduction": self.reduction}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PerEntryLoss(keras.losses.Loss):
    """A multi-label loss evaluated on each entry on its own: (n, L) values,
    which Keras weighs by per-entry sample weights (0 for an unknown entry).

    The inner loss is called on (n, L, 1) tensors, each entry a row of one
    label, so any loss that reduces over the last axis (Keras's own, a
    user's ``Loss`` or function written the same way) gives one value per
    entry; with every weight 1 the mean is the inner loss's own.
    """

    def __init__(self, loss, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name or _loss_name(loss), reduction=reduction)
        self.loss = loss

    def call(self, y_true, y_pred):
        inner = self.loss
        if isinstance(inner, PositiveWeightedBinaryCrossentropy):
            return inner.per_label(y_true, y_pred)
        fn = inner.call if isinstance(inner, keras.losses.Loss) else inner
        values = fn(ops.expand_dims(y_true, -1), ops.expand_dims(y_pred, -1))
        if len(values.shape) == 3 and values.shape[-1] == 1:
            values = ops.squeeze(values, -1)
        if len(values.shape) != 2:
            raise ValueError(
                f"loss {_loss_name(inner)!r} returned shape {tuple(values.shape)} for (rows, labels, 1) "
                "inputs; with unknown entries in y each label's loss is read on its own, which needs "
                "a loss that returns one value per row (reducing over the last axis, as Keras's do)."
            )
        return values

    def get_config(self):
        return {"loss": keras.losses.serialize(self.loss), "name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)


def per_entry(loss, head):
    """``loss`` (a Loss, a function or a Keras name) evaluated per entry; it
    is checked on a batch of 2 rows now, before any training."""
    if isinstance(loss, PerEntryLoss):
        return loss
    if isinstance(loss, str):
        loss = keras.losses.get(loss)
    wrapped = PerEntryLoss(loss)
    probe = np.zeros((2, head.units), dtype="float32")
    wrapped.call(ops.convert_to_tensor(probe), ops.convert_to_tensor(probe + 0.5))
    return wrapped


def _loss_name(loss) -> str:
    return getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__


def _not_a_class(what: str, spec, kwargs) -> TypeError:
    return TypeError(
        f"{what}__ parameters {sorted(kwargs)} were given for {spec!r}, which does not "
        "accept parameters because it's not a class. Pass the class (such as "
        "keras.losses.BinaryCrossentropy) to have them applied, or drop them."
    )


def _named_loss(spec: str, loss_kwargs: dict):
    """A Keras loss name: the Loss object it names, or its function."""
    try:
        loss = keras.losses.get(spec)
    except ValueError as exc:
        raise ValueError(
            f"Could not interpret loss {spec!r}. Use 'auto', a Keras loss name such as "
            "'binary_focal_crossentropy', or a keras.losses.Loss object."
        ) from exc
    if isinstance(loss, keras.losses.Loss):
        return type(loss).from_config({**loss.get_config(), **loss_kwargs}) if loss_kwargs else loss
    if loss_kwargs:
        raise _not_a_class("loss", spec, loss_kwargs)
    return loss


def loss_for_model(spec, head: Head | None, loss_kwargs: dict):
    """One loss as a model function receives it in ``compile_kwargs``: names
    resolved for a network that outputs probabilities; a loss the user built is
    passed as it is, as scikeras does. With no head (targets encoded by the
    user), names resolve the way Keras resolves them and "auto" is None."""
    if head is None and isinstance(spec, str) and spec == "auto":
        return None  # no task to choose a loss for: the caller asks for one
    if head is not None and isinstance(spec, str) and (spec == "auto" or spec in _CROSSENTROPIES):
        return resolve_loss(spec, head, False, loss_kwargs)[0]
    if isinstance(spec, str):
        return _named_loss(spec, loss_kwargs)
    if isinstance(spec, keras.losses.Loss) and loss_kwargs:
        return type(spec).from_config({**spec.get_config(), **loss_kwargs})
    if loss_kwargs:
        raise _not_a_class("loss", spec, loss_kwargs)
    return spec


def resolve_loss(spec, head: Head, from_logits: bool, loss_kwargs: dict):
    """Return ``(loss, sparse_targets)`` for one head.

    ``sparse_targets`` tells whether a multiclass head trains on class
    indices (sparse categorical cross-entropy) or on one-hot rows.
    """
    if isinstance(spec, str) and spec == "auto":
        if head.kind == "multiclass":
            return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, **loss_kwargs), True
        return keras.losses.BinaryCrossentropy(from_logits=from_logits, **loss_kwargs), False
    if isinstance(spec, str):
        cls = _CROSSENTROPIES.get(spec)
        if cls is not None:
            loss = cls(from_logits=from_logits, **loss_kwargs)
            check_loss_fits_head(spec, head)
            return loss, cls is keras.losses.SparseCategoricalCrossentropy
        spec, loss_kwargs = _named_loss(spec, loss_kwargs), {}
    if isinstance(spec, keras.losses.Loss):
        config = spec.get_config()
        if "from_logits" in config:
            config.update(loss_kwargs)
            config["from_logits"] = from_logits
            loss = type(spec).from_config(config)
            sparse = isinstance(spec, keras.losses.SparseCategoricalCrossentropy)
            check_loss_fits_head(type(spec).__name__, head)
            return loss, sparse
        # a loss without logits: used as it is (a copy rebuilt from its config
        # would lose what its get_config leaves out)
        loss = type(spec).from_config({**config, **loss_kwargs}) if loss_kwargs else spec
    elif callable(spec):
        if loss_kwargs:
            raise _not_a_class("loss", spec, loss_kwargs)
        loss = spec
    else:
        raise TypeError(
            f"loss must be 'auto', a Keras loss name, a keras.losses.Loss or a "
            f"callable; got {type(spec).__name__}."
        )
    if from_logits:
        loss = ProbabilityLoss(loss, head.kind)
    return loss, False


def check_loss_fits_head(name: str, head: Head) -> None:
    lowered = name.lower()
    categorical = "categorical" in lowered
    if categorical and head.kind != "multiclass":
        raise ValueError(
            f"loss {name!r} is for mutually exclusive classes (softmax), but this "
            f"head is {head.kind} (sigmoid). Use 'binary_crossentropy' or "
            "'binary_focal_crossentropy', or loss='auto'."
        )
    if not categorical and "binary" in lowered and head.kind == "multiclass":
        raise ValueError(
            f"loss {name!r} is for independent 0/1 outputs (sigmoid), but this head "
            "has mutually exclusive classes (softmax). Use "
            "'sparse_categorical_crossentropy' or 'categorical_focal_crossentropy', "
            "or loss='auto'."
        )


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


class _ThresholdedMetric(keras.metrics.Metric):
    """Base for multi-label metrics read off logits (>0) or probabilities (>=0.5)."""

    def __init__(self, from_logits: bool = True, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.from_logits = from_logits

    def _decide(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        cut = 0.0 if self.from_logits else 0.5
        pred = ops.cast(ops.greater_equal(y_pred, cut), "float32")
        true = ops.cast(ops.greater_equal(ops.cast(y_true, "float32"), 0.5), "float32")
        return true, pred

    def _weights(self, sample_weight, n):
        if sample_weight is None:
            return ops.ones((n,), dtype="float32")
        return ops.reshape(ops.cast(sample_weight, "float32"), (-1,))

    def _entry_weights(self, sample_weight, true):
        """(n, L) weights: a row's weight on each of its entries, or per-entry
        weights as given (0 on an unknown entry)."""
        if sample_weight is not None and len(sample_weight.shape) == 2 and sample_weight.shape[-1] != 1:
            return ops.cast(sample_weight, "float32")
        return ops.expand_dims(self._weights(sample_weight, ops.shape(true)[0]), -1) * ops.ones_like(true)

    def get_config(self):
        return {**super().get_config(), "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SubsetAccuracy(_ThresholdedMetric):
    """Share of rows whose every label is right (scikit-learn's multi-label accuracy)."""

    def __init__(self, from_logits=True, name="subset_accuracy", dtype=None):
        super().__init__(from_logits, name, dtype)
        self.hits = self.add_variable((), initializer="zeros", name="hits")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true, pred = self._decide(y_true, y_pred)
        w = self._entry_weights(sample_weight, true)
        # a row is right when every known entry is; it weighs its known entries' weight
        wrong = ops.cast(ops.not_equal(true, pred), "float32") * ops.cast(w > 0, "float32")
        exact = 1.0 - ops.max(wrong, axis=-1)
        row = ops.max(w, axis=-1)
        self.hits.assign_add(ops.sum(exact * row))
        self.count.assign_add(ops.sum(row))

    def result(self):
        return ops.divide_no_nan(self.hits, self.count)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HammingLoss(_ThresholdedMetric):
    """Share of wrong label decisions (lower is better)."""

    def __init__(self, from_logits=True, name="hamming_loss", dtype=None):
        super().__init__(from_logits, name, dtype)
        self.errors = self.add_variable((), initializer="zeros", name="errors")
        self.count = self.add_variable((), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true, pred = self._decide(y_true, y_pred)
        w = self._entry_weights(sample_weight, true)
        wrong = ops.cast(ops.not_equal(true, pred), "float32")
        self.errors.assign_add(ops.sum(wrong * w))
        self.count.assign_add(ops.sum(w))

    def result(self):
        return ops.divide_no_nan(self.errors, self.count)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class F1(_ThresholdedMetric):
    """Micro- or macro-averaged F1 over labels."""

    def __init__(self, n_labels: int, average="micro", from_logits=True, name=None, dtype=None):
        super().__init__(from_logits, name or f"f1_{average}", dtype)
        self.n_labels = n_labels
        self.average = average
        self.tp = self.add_variable((n_labels,), initializer="zeros", name="tp")
        self.fp = self.add_variable((n_labels,), initializer="zeros", name="fp")
        self.fn = self.add_variable((n_labels,), initializer="zeros", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true, pred = self._decide(y_true, y_pred)
        true = ops.reshape(true, (-1, self.n_labels))
        pred = ops.reshape(pred, (-1, self.n_labels))
        w = self._entry_weights(sample_weight, true)
        self.tp.assign_add(ops.sum(true * pred * w, axis=0))
        self.fp.assign_add(ops.sum((1.0 - true) * pred * w, axis=0))
        self.fn.assign_add(ops.sum(true * (1.0 - pred) * w, axis=0))

    def result(self):
        if self.average == "micro":
            tp, fp, fn = ops.sum(self.tp), ops.sum(self.fp), ops.sum(self.fn)
            return ops.divide_no_nan(2.0 * tp, 2.0 * tp + fp + fn)
        per_label = ops.divide_no_nan(2.0 * self.tp, 2.0 * self.tp + self.fp + self.fn)
        return ops.mean(per_label)

    def get_config(self):
        return {**super().get_config(), "n_labels": self.n_labels, "average": self.average}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ProbabilityMetric(keras.metrics.Metric):
    """Feeds probabilities to a user's Keras metric on a logit head."""

    def __init__(self, metric, kind: str, name=None, dtype=None):
        if isinstance(metric, dict):
            metric = keras.metrics.deserialize(metric)
        super().__init__(name=name or metric.name, dtype=dtype)
        self.metric = metric
        self.kind = kind

    def update_state(self, y_true, y_pred, sample_weight=None):
        return self.metric.update_state(y_true, _activate(self.kind, y_pred), sample_weight)

    def result(self):
        return self.metric.result()

    def reset_state(self):
        self.metric.reset_state()

    def get_config(self):
        return {
            "metric": keras.metrics.serialize(self.metric),
            "kind": self.kind,
            "name": self.name,
        }


METRIC_NAMES = (
    "accuracy",
    "subset_accuracy",
    "hamming_loss",
    "f1_micro",
    "f1_macro",
    "binary_accuracy",
    "auc",
)


def default_metrics(head: Head) -> list:
    if head.kind == "multilabel":
        return ["subset_accuracy", "hamming_loss", "f1_micro"]
    return ["accuracy"]


def resolve_metric(spec, head: Head, from_logits: bool, sparse_targets: bool = True):
    """One metric for one head; names resolve to what is honest for the task."""
    if isinstance(spec, keras.metrics.Metric):
        fresh = type(spec).from_config(spec.get_config())
        return ProbabilityMetric(fresh, head.kind) if from_logits else fresh
    if callable(spec) and not isinstance(spec, str):
        # a metric function (y_true, y_pred) -> values, averaged over batches as Keras does
        fn = keras.metrics.MeanMetricWrapper(spec, name=getattr(spec, "__name__", "metric"))
        return ProbabilityMetric(fn, head.kind) if from_logits else fn
    if not isinstance(spec, str):
        raise TypeError(
            f"metrics must hold metric names, keras.metrics.Metric objects or functions; got {type(spec).__name__}."
        )
    name = {"acc": "accuracy"}.get(spec, spec)
    cut = 0.0 if from_logits else 0.5
    if name == "accuracy":
        if head.kind == "multilabel":
            # A bare "accuracy" on sigmoid outputs is per-element binary accuracy
            # in Keras, which looks excellent on sparse labels whatever the model
            # does. Subset accuracy is what scikit-learn calls accuracy here.
            return SubsetAccuracy(from_logits)
        # logged under the name the user gave ("acc" stays "acc", as in Keras),
        # so that callbacks monitoring it find it
        if head.kind == "binary":
            return keras.metrics.BinaryAccuracy(threshold=cut, name=spec)
        if sparse_targets:
            return keras.metrics.SparseCategoricalAccuracy(name=spec)
        return keras.metrics.CategoricalAccuracy(name=spec)
    if name == "binary_accuracy" and head.kind != "multiclass":
        return keras.metrics.BinaryAccuracy(threshold=cut, name="binary_accuracy")
    if name == "auc" and head.kind != "multiclass":
        return keras.metrics.AUC(
            from_logits=from_logits,
            multi_label=head.kind == "multilabel",
            num_labels=head.units if head.kind == "multilabel" else None,
            name="auc",
        )
    if head.kind != "multiclass":
        if name == "subset_accuracy":
            return SubsetAccuracy(from_logits)
        if name == "hamming_loss":
            return HammingLoss(from_logits)
        if name in ("f1_micro", "f1_macro"):
            return F1(head.units, average=name[3:], from_logits=from_logits)
    if name in METRIC_NAMES:
        raise ValueError(
            f"metric {spec!r} does not apply to a {head.kind} head. For mutually "
            "exclusive classes use 'accuracy'."
        )
    raise ValueError(
        f"Unknown metric {spec!r}. Known names: {', '.join(METRIC_NAMES)}; or pass "
        "a keras.metrics.Metric object (it receives probabilities)."
    )


def head_metrics(metrics, head: Head, from_logits: bool, sparse_targets: bool = True) -> list:
    names = default_metrics(head) if metrics is None else list(metrics)
    return [resolve_metric(m, head, from_logits, sparse_targets) for m in names]
