"""One fit, step by step: build the network, compile it, weight the classes,
train, and hold out data for early stopping and threshold tuning.

:class:`Fitting` reads the estimator's parameters and runs the steps
``fit`` needs, each a method (in order: ``class_weights``, ``build_network``,
``compile`` or ``adopt_compiled``, ``train``, ``out_of_fold_holdout``).
Every network, the out-of-fold ones included, trains through :meth:`run`:
the NaN guard, early stopping, the user's callbacks and ``fit__``
arguments. The scikit-learn surface (``_base``) only orders the steps.
"""

from __future__ import annotations

import keras
import numpy as np
import scipy.sparse as sp
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

from . import _backend, _data, _heads, _network, _params, _routing
from ._routing import KERAS_COMPILE_ARGS, KERAS_FIT_ARGS
from ._targets import FORM_COLUMNS, FORM_SOFT, MULTILABEL
from ._training import (
    StopOnNonFinite,
    TrainingDivergedError,
    ValidationScore,
    build_compiled,
    build_optimizer,
    class_index,
    fit_targets,
    known_entries,
    multilabel_pos_weight,
    one,
    row_weights,
    single_head_weights,
)

# threshold="auto" holds out validation_fraction of the data when that gives
# at least this many rows; with fewer it tunes on out-of-fold predictions.
AUTO_MIN_HOLDOUT = 100
# early_stopping="auto" holds out validation_fraction and stops early from
# this many rows on, as HistGradientBoostingClassifier does (it starts at
# 10,000). Below it the held-out part would be under 100 rows, too few to
# pick an epoch on; above it, stopping early is what keeps a 20,000-row fit
# from running every epoch.
EARLY_STOPPING_AUTO_ROWS = 1_000
# Iterative stratification (iterstrat) of a multi-label split works on the
# dense (n, L) label matrix and takes about 0.25 s per million entries (2.5 s
# for 20,000 rows x 500 labels, 22 s at 2,000 labels): beyond this many
# entries the held-out rows are drawn at random instead, for a dense y and a
# sparse one alike.
STRATIFY_MAX_ENTRIES = 10_000_000


def stopping_monitor(spec) -> tuple[str, str]:
    """``(log name, "min" or "max")``: what early stopping watches.

    Multi-label 0/1 targets: micro-F1 at threshold 0.5 on the held-out rows
    (``val_f1_micro``), as MLPClassifier watches its validation score. Their
    validation loss, an average over many mostly-negative labels, bottoms out
    before rare labels are learnt: on the bibtex split, stopping on it gave
    test micro-F1 0.423 against 0.458 stopping on micro-F1. The threshold is
    0.5 whatever ``threshold`` says, so that thresholds stay a post-fit
    choice. Everything else (single-label, soft labels, several outputs, a
    ``target_encoder``): the validation loss.
    """
    if spec.heads is not None and spec.task == MULTILABEL and spec.form != FORM_SOFT:
        return "val_f1_micro", "max"
    return "val_loss", "min"


def _leftover(item, default):
    """``(spec, routed parameters left for it)`` from a built item."""
    if isinstance(item, _routing.Leftover):
        return (default if item.item is None else item.item), item.params
    return (default if item is None else item), {}


class Fitting:
    """The training steps of one estimator's fit; ``est`` holds the parameters."""

    def __init__(self, estimator):
        self.est = estimator
        self.per_entry = False  # y has unknown entries in a multi-label head (class_weights)

    def meta(self, X, spec) -> dict:
        return {
            "n_features_in_": self.est.n_features_in_,
            "X_shape_": _data.shape(X),
            "X_dtype_": getattr(X, "dtype", None),
            "classes_": spec.public_classes(),
            "n_classes_": spec.n_classes,
            "n_outputs_": spec.n_outputs,
            "n_outputs_expected_": spec.n_outputs,
            "task_": spec.task,
            "target_type_": {
                "binary": "binary",
                "multiclass": "multiclass",
                MULTILABEL: "multilabel-indicator",
                "multiclass-multioutput": "multiclass-multioutput",
            }[spec.task],
            "y_dtype_": np.dtype(spec.y_dtype),
            "y_ndim_": 1 if spec.form == "labels" else 2,
            "target_encoder_": spec,
            "feature_encoder_": getattr(self.est, "feature_encoder_", None),
        }

    def build_network(self, X, spec) -> _network.Network:

        meta = self.meta(X, spec)
        # torch has no sparse inputs: Keras densifies its batches instead
        sparse = sp.issparse(X) and _backend.supports_sparse()
        fn = _params.model_function(self.est)
        if fn is None and self.est.model is None:
            if _params.routed(self.est, "model__"):
                raise ValueError(
                    f"model__ parameters {sorted(_params.routed(self.est, 'model__'))} were given "
                    "but model=None; they are passed to a model function."
                )
            trunk = _network.default_trunk(
                meta,
                tuple(self.est.hidden_layer_sizes),
                self.est.activation,
                self.est.dropout,
                self.est.batch_normalization,
                sparse,
            )
        else:
            # scikeras sets the fit's metadata on the estimator before it builds, and
            # a ``_keras_build_fn`` reads it there (``self.target_type_``, ``self.n_classes_``)
            for key, value in meta.items():
                if value is not None or key != "feature_encoder_":
                    setattr(self.est, key, value)
            trunk = _network.call_user_model(
                fn if fn is not None else self.est.model,
                meta,
                _params.routed(self.est, "model__"),
                self.est.get_params(deep=False),
                _params.model_function_extras(self.est),
                lambda: self.compile_kwargs_for_model(spec),
            )
        several = isinstance(X, (list, tuple, dict))  # a feature_encoder's inputs
        network = _network.assemble(
            trunk, spec.heads, spec.task, None if several else tuple(X.shape[1:]), sparse
        )
        # the built-in network: no user code has seen its layers
        network.private = fn is None and self.est.model is None
        return network

    def compile(self, network: _network.Network, spec, pos_weight) -> None:
        heads = network.heads
        specs = self._loss_specs(heads)
        metric_specs = self._metric_specs(heads)
        if len(specs) != len(heads):
            raise ValueError(
                f"loss has {len(specs)} entries but the network has {len(heads)} "
                "heads; give one loss per output of y, or a single loss."
            )
        if self.est.loss_weights is not None and len(self.est.loss_weights) != len(heads):
            raise ValueError(
                f"loss_weights has {len(self.est.loss_weights)} entries but the network has {len(heads)} heads."
            )
        losses, sparse_flags, metrics = [], [], []
        for head, (loss_spec, loss_kwargs), metric_spec in zip(heads, specs, metric_specs):
            if pos_weight is not None and head.kind == "multilabel":
                if not (isinstance(loss_spec, str) and loss_spec == "auto"):
                    raise ValueError(
                        "class_weight on a multi-label task weights each label's "
                        "positives inside the binary cross-entropy, so it needs "
                        "loss='auto'. Drop class_weight or the custom loss."
                    )
                if not network.from_logits:
                    raise ValueError(
                        "class_weight on a multi-label task needs logit heads; return "
                        "the trunk only (no sigmoid output) from the model function."
                    )
                loss, sparse = _heads.PositiveWeightedBinaryCrossentropy(pos_weight), False
            else:
                loss, sparse = _heads.resolve_loss(loss_spec, head, network.from_logits, loss_kwargs)
            if self.per_entry and head.kind == "multilabel":
                loss = _heads.per_entry(loss, head)
            losses.append(loss)
            sparse_flags.append(sparse)
            metrics.append(_heads.head_metrics(metric_spec, head, network.from_logits, sparse))
        network.sparse_targets = sparse_flags
        single = len(heads) == 1
        network.train_model.compile(
            optimizer=_backend.prepare_optimizer(self.make_optimizer()),
            loss=losses[0] if single else losses,
            loss_weights=None if self.est.loss_weights is None else list(self.est.loss_weights),
            metrics=metrics[0] if single else metrics,
            **self._compile_args(),
        )
        build_optimizer(network.train_model)

    def _per_head(self, value, heads, what: str) -> list:
        """One entry per head from a single value, a list, or a dict by head name."""
        if isinstance(value, dict):
            names = [h.name for h in heads]
            unknown = [k for k in value if k not in names]
            if unknown:
                raise ValueError(f"{what} names outputs {unknown}; the outputs are {names}.")
            return [value.get(h.name) for h in heads]
        if isinstance(value, (list, tuple)) and what == "loss":
            return list(value)
        return [value] * len(heads)

    def _built_loss(self):
        """``loss`` with its classes built from ``loss__`` parameters; every
        other item as a :class:`_routing.Leftover` with the parameters for it."""
        return _routing.build_keeping_leftovers(self.est.loss, _params.routed(self.est, "loss__"))

    def _loss_specs(self, heads) -> list:
        """Per head, the loss spec and the loss__ arguments left for it (a loss
        class takes its loss__ arguments when it is built)."""
        return [_leftover(s, "auto") for s in self._per_head(self._built_loss(), heads, "loss")]

    def _built_metrics(self):
        """``metrics`` with its classes built from ``metrics__`` parameters; such
        parameters for a name, an instance or a function are an error."""
        return _routing.build(self.est.metrics, _params.routed(self.est, "metrics__"), strict="metrics")

    def _metric_specs(self, heads) -> list:
        built = self._built_metrics()
        if built is None:
            return [None] * len(heads)
        return [None if m is None else _routing.as_list(m) for m in self._per_head(built, heads, "metrics")]

    def user_callbacks(self) -> list:
        callbacks = _routing.as_list(
            _routing.build(self.est.callbacks, _params.routed(self.est, "callbacks__"))
        )
        for cb in callbacks:
            if not isinstance(cb, keras.callbacks.Callback):
                raise TypeError(
                    "callbacks must be a keras.callbacks.Callback or a Callback class, a list of "
                    f"them or a dict of them by name; got {type(cb).__name__}."
                )
        return callbacks

    def mask_unknown_entries(self, network) -> None:
        """A network compiled before this fit (the user's, or a continued one)
        gets its multi-label losses evaluated per entry, when y has unknown
        entries; its optimizer, metrics and other settings stay."""
        model = network.train_model
        if not self.per_entry or not model.compiled:
            return
        config = dict(model._compile_config.config)
        loss = config.get("loss")
        heads = network.heads
        if isinstance(loss, dict):
            wrapped = {
                h.name: _heads.per_entry(loss[h.name], h) if h.kind == "multilabel" else loss[h.name]
                for h in heads
                if h.name in loss
            }
        elif isinstance(loss, (list, tuple)):
            wrapped = [
                _heads.per_entry(each, h) if h.kind == "multilabel" else each for each, h in zip(loss, heads)
            ]
        else:
            wrapped = _heads.per_entry(loss, heads[0]) if heads[0].kind == "multilabel" else loss
        if wrapped is loss:
            return
        config.update(optimizer=model.optimizer, loss=wrapped)
        model.compile(**config)

    def adopt_compiled(self, network, spec) -> bool:
        """A complete model the user compiled keeps its optimizer, loss and metrics,
        as in scikeras; the loss must suit the task, and targets take the form it
        expects (class indices or one-hot). False if it was compiled without a loss."""
        model = network.train_model
        loss = getattr(model, "loss", None)
        if loss is None:
            return False
        if isinstance(loss, dict):
            losses = [loss.get(h.name) for h in network.heads]
        elif isinstance(loss, (list, tuple)):
            losses = list(loss)
        else:
            losses = [loss] * len(network.heads)
        flags = []
        for head, each in zip(network.heads, losses):
            name = (
                each
                if isinstance(each, str)
                else getattr(each, "name", None) or getattr(each, "__name__", "")
            )
            name = str(name)
            _heads.check_loss_fits_head(name, head)
            flags.append("sparse" in name.lower() or "categorical" not in name.lower())
        network.sparse_targets = flags
        build_optimizer(model)
        return True

    def compile_kwargs_for_model(self, spec) -> dict:
        """What scikeras hands a model function as ``compile_kwargs``: the
        optimizer, loss and metrics this estimator would compile with, for a
        model that outputs probabilities. A loss or metrics given as a list or
        a dict by output name keep that shape (the model's outputs are not
        known before it is built)."""
        built = self._built_loss()
        # no spec: y is encoded by a subclass's target_encoder, which has no heads
        heads = [None] if spec is None else spec.heads
        by_name = {h.name: h for h in heads if h is not None}

        def head(i, key=None):
            return by_name.get(key) or heads[min(i, len(heads) - 1)]

        def one(each, h):
            item, loss_kwargs = _leftover(each, "auto")
            return _heads.loss_for_model(item, h, loss_kwargs)

        if isinstance(built, dict):
            loss = {k: one(v, head(i, k)) for i, (k, v) in enumerate(built.items())}
        elif isinstance(built, (list, tuple)):
            loss = [one(v, head(i)) for i, v in enumerate(built)]
        elif len(heads) == 1:
            loss = one(built, heads[0])
        else:
            loss = [one(built, h) for h in heads]
        metrics = self._built_metrics()
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        return {
            "optimizer": self.make_optimizer(),
            "loss": loss,
            "metrics": metrics,
            "loss_weights": None if self.est.loss_weights is None else list(self.est.loss_weights),
            **self._compile_args(),
        }

    def _compile_args(self) -> dict:
        """``steps_per_execution``, ``jit_compile``, ``run_eagerly`` given to the constructor."""
        return {k: getattr(self.est, k) for k in KERAS_COMPILE_ARGS if k in vars(self.est)}

    def make_optimizer(self):
        kwargs = _routing.unflatten(_params.routed(self.est, "optimizer__"), "optimizer__")
        if self.est.learning_rate is not None:
            kwargs["learning_rate"] = self.est.learning_rate
        opt = self.est.optimizer
        if isinstance(opt, str):
            try:
                cls = type(keras.optimizers.get(opt))
            except ValueError as exc:
                raise ValueError(
                    f"Could not interpret optimizer {opt!r}; use a Keras optimizer name such as 'adam' or an optimizer object."
                ) from exc
            return cls(**kwargs)
        if isinstance(opt, keras.optimizers.Optimizer):
            # A fresh copy: the user's object is never trained or mutated.
            return type(opt).from_config({**opt.get_config(), **kwargs})
        if isinstance(opt, type) and issubclass(opt, keras.optimizers.Optimizer):
            return opt(**kwargs)
        raise TypeError(
            f"optimizer must be a name, a keras optimizer or optimizer class; got {type(opt).__name__}."
        )

    def class_weights(self, spec, targets, sample_weight, entry_weight=None):
        """Per-head sample weights, and per-label positive weights (multi-label).

        Unknown entries of y weigh 0: a multi-label head then gets per-entry
        weights (n, L), the product of the row's weight and 1 where its entry
        is known, and its loss is evaluated per entry (``per_entry``); another
        head gets 0 for the rows it has no target for. ``class_weight`` counts
        known entries only. ``entry_weight`` (n, k), per-entry sample weights
        (one per label, or per output), multiplies the rest."""
        cw = self.est.class_weight
        n = targets[0].shape[0]
        heads = spec.heads
        pos_weight = None
        known = [known_entries(t) for t in targets]
        if entry_weight is not None:
            columns = heads[0].units if len(heads) == 1 and heads[0].kind == "multilabel" else len(heads)
            if (
                heads is None
                or entry_weight.shape[1] != columns
                or spec.task not in (MULTILABEL, "multiclass-multioutput")
            ):
                raise ValueError(
                    f"sample_weight has shape {entry_weight.shape}: per-entry weights are for a 2-D y of "
                    f"labels or outputs, one weight per entry; this y has {columns} "
                    f"{'labels' if spec.task == MULTILABEL else 'columns'} ({spec.task}). Pass one weight "
                    "per row, shape (n_samples,), otherwise."
                )
            known = [
                (np.ones(t.shape, bool) if k is None else k) & (entry_weight > 0).reshape(t.shape)
                if h.kind == "multilabel"
                else k
                for t, k, h in zip(targets, known, heads)
            ]
        self.per_entry = any(k is not None for k, h in zip(known, heads) if h.kind == "multilabel")
        per_head = [None] * len(heads)
        if cw is not None:
            if spec.task == MULTILABEL:
                pos_weight = multilabel_pos_weight(cw, targets[0], spec.label_names)
            else:
                per_output = cw if isinstance(cw, list) else [cw] * len(heads)
                if spec.form != FORM_COLUMNS and isinstance(cw, list):
                    raise ValueError("class_weight as a list is for multi-output y (one dict per column).")
                if len(per_output) != len(heads):
                    raise ValueError(
                        f"class_weight has {len(per_output)} entries but y has {len(heads)} outputs."
                    )
                for j, (w, target, cls) in enumerate(zip(per_output, targets, spec.classes)):
                    rows = np.ones(n, bool) if known[j] is None else known[j].reshape(n, -1)[:, 0]
                    per_head[j] = np.zeros(n)
                    per_head[j][rows] = single_head_weights(w, class_index(target[rows]), cls)
        if (
            sample_weight is None
            and entry_weight is None
            and all(w is None for w in per_head)
            and all(k is None for k in known)
        ):
            return None, pos_weight
        out = []
        for j, (w, k, head) in enumerate(zip(per_head, known, heads)):
            base = np.ones(n, dtype=np.float32) if w is None else w.astype(np.float32)
            base = base * sample_weight if sample_weight is not None else base
            if k is not None:
                k = k.reshape(n, -1)
                base = base[:, None] * k if head.kind == "multilabel" else base * k[:, 0]
            if entry_weight is not None:
                base = base * (entry_weight if head.kind == "multilabel" else entry_weight[:, j])
            out.append(base.astype(np.float32))
        return out, pos_weight

    def early_stopping_on(self, n_samples: int) -> bool:
        """``early_stopping="auto"``: on from ``EARLY_STOPPING_AUTO_ROWS`` rows
        for the built-in network only. A user's own network (``model=`` or a
        ``_keras_build_fn``) trains on every row for every epoch, as the same
        script does under scikeras, unless early stopping is asked for."""
        if self.est.early_stopping == "auto":
            own = self.est.model is None and _params.model_function(self.est) is None
            return own and n_samples >= EARLY_STOPPING_AUTO_ROWS
        return bool(self.est.early_stopping)

    def train(self, network, X, targets, weights, spec, epochs, seed, fit_kwargs=None, stop_early=True):
        """Fit the network; return the history and the held-out data, if any.

        Data is held out for early stopping, and for ``threshold="auto"``
        when there is enough of it (else thresholds are tuned out of fold).
        ``stop_early=False`` (``partial_fit``, as scikit-learn's MLP does)
        trains on every row whatever ``early_stopping`` says.
        """
        if epochs == 0:  # initialize(): built and compiled, not trained
            return {}, None
        n = _data.n_rows(X)
        early = stop_early and self.early_stopping_on(n)
        n_val = int(np.ceil(self.est.validation_fraction * n))
        tune = self.est.threshold == "auto" and spec.n_thresholds > 0 and n_val >= AUTO_MIN_HOLDOUT
        if not (early or tune):
            return self.run(network, X, targets, weights, epochs, None, fit_kwargs), None
        train_idx, val_idx = self.split(n, spec, targets, seed)
        X_val = _data.take(X, val_idx)
        y_val = [t[val_idx] for t in targets]
        w_val = None if weights is None else [w[val_idx] for w in weights]
        history = self.run(
            network,
            _data.take(X, train_idx),
            [t[train_idx] for t in targets],
            None if weights is None else [w[train_idx] for w in weights],
            epochs,
            (X_val, y_val, w_val) if early else None,
            fit_kwargs,
            spec if early else None,
        )
        holdout = None
        if spec.n_thresholds > 0:
            # float32 as the network computes them (tuning reads them in float64,
            # exactly): half the memory of float64, with the same thresholds
            proba = None
            for rows, outputs in spec_output_parts(network, spec, X_val, self.est.batch_size):
                part = thresholded(spec, outputs, None)
                if proba is None:
                    proba = np.empty((len(val_idx), part.shape[1]), dtype=part.dtype)
                proba[rows] = part
            y_held, w_held = held_out(spec, y_val, w_val, np.float32, keep_sparse=True)
            holdout = (y_held, proba, w_held)
        return history, holdout

    def run(self, network, X, targets, weights, epochs, validation, fit_kwargs=None, spec=None) -> dict:
        """The one training path: NaN guard, early stopping (when given validation
        data), callbacks, fit__ arguments.

        Early stopping watches ``stopping_monitor(spec)`` (the validation loss
        without a spec) and restores the weights of its best epoch.
        """
        extra = {k: getattr(self.est, k) for k in KERAS_FIT_ARGS if k in vars(self.est)}
        extra.update(_params.routed(self.est, "fit__"))
        extra.update(fit_kwargs or {})
        extra.setdefault("batch_size", self.est.batch_size)
        extra.setdefault("verbose", self.est.verbose)
        history = keras.callbacks.History()
        callbacks = [history]
        guard = StopOnNonFinite()
        callbacks.append(guard)
        stopper = None
        fit_validation = None
        if validation is not None:
            X_val, y_val, w_val = validation
            fit_val = fit_targets(network, y_val)
            fit_validation = (X_val, one(fit_val)) if w_val is None else (X_val, one(fit_val), one(w_val))
            monitor, mode = stopping_monitor(spec) if spec is not None else ("val_loss", "min")
            if monitor == "val_f1_micro":
                callbacks.insert(0, self.validation_f1(network, spec, X_val, y_val, w_val))
            stopper = keras.callbacks.EarlyStopping(
                monitor=monitor, mode=mode, patience=self.est.n_iter_no_change, restore_best_weights=True
            )
            callbacks.append(stopper)
        user_callbacks = self.user_callbacks()
        callbacks.extend(user_callbacks)
        network.weights_changing()
        optimizer = getattr(network.train_model, "optimizer", None)
        if user_callbacks or not type(optimizer).__module__.startswith("keras."):
            network.release()  # the user's code sees the network's variables
        x, y, sample_weight = X, one(fit_targets(network, targets)), one(weights)
        batches = None
        if "validation_split" not in extra:  # Keras splits arrays only
            batches = _backend.sparse_batches(
                x, y, sample_weight, extra["batch_size"] or 32, extra.get("shuffle", True)
            )
        if batches is None and _backend.name() != _backend.TORCH and sp.issparse(y):
            y = y.toarray()  # Keras splits it itself (validation_split); only torch's Keras reads it sparse
        # built from the first row of the data as given (or of the padded
        # batches), before x becomes a dataset Keras would draw a batch from
        build_compiled(network.train_model, batches if hasattr(batches, "first_row") else x, y, sample_weight)
        if batches is not None:
            x, y, sample_weight = batches, None, None
            # the batches shuffle their rows themselves; Keras would reorder whole batches
            extra = {k: v for k, v in extra.items() if k != "batch_size"} | {"shuffle": False}
            if fit_validation is not None:
                size = extra.pop("validation_batch_size", None) or self.est.batch_size
                X_val, y_val, w_val = (*fit_validation, None)[:3]
                fit_validation = _backend.sparse_batches(X_val, y_val, w_val, size, False)
        network.train_model.fit(
            x=x,
            y=y,
            sample_weight=sample_weight,
            validation_data=fit_validation,
            epochs=epochs,
            callbacks=callbacks,
            **extra,
        )
        if guard.bad_epoch is not None:
            raise TrainingDivergedError(
                f"The training loss became NaN or infinite in epoch {guard.bad_epoch + 1}; "
                "training was stopped and the estimator left as it was before fit. "
                "Lower learning_rate, scale the inputs (e.g. StandardScaler in a "
                "Pipeline), or check X for extreme values."
            )
        if stopper is not None and stopper.best_weights is not None:
            network.train_model.set_weights(stopper.best_weights)
        return {k: [float(v) for v in vals] for k, vals in history.history.items()}

    def validation_f1(self, network, spec, X_val, y_val, w_val) -> ValidationScore:
        """A callback logging ``val_f1_micro``: micro-F1 at 0.5 on the held-out
        rows' known entries."""
        n, batch_size = _data.n_rows(X_val), self.est.batch_size
        if n * spec.n_thresholds > _data.CHUNK_ENTRIES:  # dense or sparse y alike: the same epoch
            return ValidationScore(
                "val_f1_micro", lambda: self._chunked_f1(network, spec, X_val, y_val, w_val)
            )
        y, weight = held_out(spec, y_val, w_val)
        truth = y >= 0.5
        known = ~np.isnan(y)
        entry = known * (1.0 if weight is None else weight[:, None])

        def score():
            proba = thresholded(spec, spec_outputs(network, spec, X_val, batch_size))
            if known.all():
                return f1_score(truth, proba >= 0.5, average="micro", sample_weight=weight, zero_division=0)
            pred = proba >= 0.5
            tp, fp = np.sum(entry * (pred & truth)), np.sum(entry * (pred & ~truth))
            fn = np.sum(entry * (~pred & truth))
            return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))

        return ValidationScore("val_f1_micro", score)

    def _chunked_f1(self, network, spec, X_val, y_val, w_val) -> float:
        """The same micro-F1, one prediction call's rows at a time (many
        labels: no (n, L) array of the held-out rows)."""
        tp = fp = fn = 0.0
        for rows, outputs in spec_output_parts(network, spec, X_val, self.est.batch_size):
            y, weight = held_out(
                spec,
                [t[rows] for t in y_val],
                None if w_val is None else [w[rows] for w in w_val],
                np.float32,
            )
            truth, known = y >= 0.5, ~np.isnan(y)
            proba = thresholded(spec, outputs, None)
            pred = proba >= 0.5
            del y, proba
            # per row, its known entries' counts, each row at its weight
            w = np.ones(len(truth)) if weight is None else np.asarray(weight, dtype=np.float64)
            tp += float(w @ np.count_nonzero(pred & truth & known, axis=1))
            fp += float(w @ np.count_nonzero(pred & ~truth & known, axis=1))
            fn += float(w @ np.count_nonzero(~pred & truth & known, axis=1))
        return 0.0 if tp == 0 else float(2 * tp / (2 * tp + fp + fn))

    def out_of_fold_holdout(self, X, spec, targets, weights, pos_weight, epochs, seed):
        """Held-out probabilities for every row from 3 extra networks, for small data sets.

        Each fold trains through the same path as fit (NaN guard, callbacks,
        fit__ arguments); folds are stratified (iteratively for multi-label y).
        """
        n = _data.n_rows(X)
        if n < 3:
            raise ValueError(f"threshold='auto' needs at least 3 samples to tune on; got {n}.")
        proba = np.zeros((n, spec.n_thresholds))
        for train_idx, test_idx in folds(n, 3, spec, targets, seed):
            net = self.build_network(X, spec)
            self.compile(net, spec, pos_weight)
            self.run(
                net,
                _data.take(X, train_idx),
                [t[train_idx] for t in targets],
                None if weights is None else [w[train_idx] for w in weights],
                epochs,
                None,
            )
            proba[test_idx] = thresholded(
                spec, spec_outputs(net, spec, _data.take(X, test_idx), self.est.batch_size)
            )
        y_true, w = held_out(spec, targets, weights)
        return y_true, proba, w

    def split(self, n, spec, targets, seed):
        n_val = int(np.ceil(self.est.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"early_stopping needs a validation set, but {n} samples with "
                f"validation_fraction={self.est.validation_fraction} leave none. Use more "
                "data or early_stopping=False."
            )
        return holdout_split(n, n_val, spec, targets, seed)


def stratification(spec, targets):
    """What splits stratify on: class indices (one head, single-label), a 0/1
    label matrix (multi-label: iterative stratification, up to
    ``STRATIFY_MAX_ENTRIES`` entries), or None."""
    if len(targets) != 1:
        return None
    t = targets[0]
    if spec.task == MULTILABEL:
        if t.shape[0] * t.shape[1] > STRATIFY_MAX_ENTRIES:
            return None
        return ((t.toarray() if sp.issparse(t) else t) >= 0.5).astype(np.int8)
    labels = class_index(t)
    return labels


def holdout_split(n, n_val, spec, targets, seed):
    strata = stratification(spec, targets)
    rng = np.random.RandomState(seed)
    if strata is not None and strata.ndim == 2:
        from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit

        splitter = MultilabelStratifiedShuffleSplit(n_splits=1, test_size=n_val, random_state=rng)
        train_idx, val_idx = next(splitter.split(np.zeros(n), strata))
        return rng.permutation(train_idx), val_idx
    if strata is not None:
        counts = np.bincount(strata)
        if counts[counts > 0].min() < 2 or n_val < np.count_nonzero(counts):
            strata = None
    return train_test_split(np.arange(n), test_size=n_val, random_state=rng, stratify=strata)


def folds(n, k, spec, targets, seed):
    from sklearn.model_selection import KFold, StratifiedKFold

    strata = stratification(spec, targets)
    rng = np.random.RandomState(seed)
    if strata is not None and strata.ndim == 2:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        return MultilabelStratifiedKFold(k, shuffle=True, random_state=rng).split(np.zeros(n), strata)
    if strata is not None and np.bincount(strata)[np.bincount(strata) > 0].min() >= k:
        return StratifiedKFold(k, shuffle=True, random_state=rng).split(np.zeros(n), strata)
    return KFold(k, shuffle=True, random_state=rng).split(np.arange(n))


def spec_outputs(network, spec, X, batch_size, small_batch=False) -> list:
    """Per-head probabilities in the layout of the task's heads.

    ``small_batch``: a few rows may run on the network's NumPy forward pass
    (``Network.small_batch_outputs``); only for answers to the user, never
    during training, while the weights change between calls.
    """
    outputs = network.small_batch_outputs(X) if small_batch else None
    if outputs is None:
        outputs = _data.forward(network.proba_model, X, batch_size)
    return _in_head_layout(network, spec, outputs)


def spec_output_parts(network, spec, X, batch_size):
    """``(rows, outputs)`` as ``spec_outputs`` gives them, one prediction call
    at a time (``_data.forward_parts``: the same calls as one pass)."""
    for rows, outputs in _data.forward_parts(network.proba_model, X, batch_size):
        yield rows, _in_head_layout(network, spec, outputs)


def _in_head_layout(network, spec, outputs) -> list:
    if spec.heads is None:  # targets encoded by the user: the encoder reads the outputs
        return outputs
    # A binary task may run through a 2-unit softmax of a user's model.
    return [
        out[:, 1:2] if want.kind == "binary" and have.kind == "multiclass" else out
        for want, have, out in zip(spec.heads, network.heads, outputs)
    ]


def held_out(spec, targets: list, weights: list | None, dtype=np.float64, keep_sparse=False):
    """``(y, row weights)`` of held-out rows as tuning and early stopping read
    them: the thresholded columns with NaN where an entry is unknown or
    weighs 0, each row at the largest weight of its entries. ``keep_sparse``:
    a sparse y whose every entry counts stays a sparse matrix (of ``dtype``)."""
    if (
        keep_sparse
        and len(targets) == 1
        and sp.issparse(targets[0])
        and (weights is None or np.ndim(weights[0]) == 1)
    ):
        return sp.csr_matrix(targets[0], dtype=dtype), row_weights(None if weights is None else weights[0])
    y = thresholded(spec, targets, dtype)
    if weights is None:
        return y, None
    if any(np.ndim(w) == 2 for w in weights):
        cols = [
            np.asarray(w, dtype=np.float64).reshape(len(w), -1)
            if np.ndim(w) == 2
            else np.repeat(np.asarray(w, dtype=np.float64)[:, None], h.units, axis=1)
            for h, w in zip(spec.heads, weights)
            if h.thresholded
        ]
        if cols:
            y = np.where(np.column_stack(cols) > 0, y, np.nan)
    return y, row_weights(weights[0])


def thresholded(spec, arrays: list, dtype=np.float64) -> np.ndarray:
    """The columns that thresholds apply to: (n, n_thresholds), in ``dtype``
    (None: the arrays' own). A sparse array comes out dense."""
    cols = [
        np.asarray(a.toarray() if sp.issparse(a) else a, dtype=dtype).reshape(a.shape[0], -1)
        for h, a in zip(spec.heads, arrays)
        if h.thresholded
    ]
    return cols[0] if len(cols) == 1 else np.column_stack(cols)
