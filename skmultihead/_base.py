"""The scikit-learn side: parameters, validation, the fit/predict skeleton, tags."""

from __future__ import annotations

import inspect
import numbers
import os

import joblib
import keras
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_consistent_length, check_is_fitted

from . import _backend, _cache, _data, _heads, _network, _persist, _routing, _savefile
from ._state import FittedState
from ._targets import FORM_COLUMNS, MULTILABEL, infer_targets
from ._thresholds import OBJECTIVES, check_threshold_param, resolve_thresholds, tune_thresholds
from ._training import (
    StopOnNonFinite,
    TrainingDivergedError,
    class_index,
    fit_targets,
    multilabel_pos_weight,
    one,
    resolve_seed,
    restore_weights,
    seeded,
    single_head_weights,
    snapshot_weights,
)

# threshold="auto" holds out validation_fraction of the data when that gives
# at least this many rows; with fewer it tunes on out-of-fold predictions.
AUTO_MIN_HOLDOUT = 100
# early_stopping="auto" holds out validation_fraction and stops early from
# this many rows on, as HistGradientBoostingClassifier does. Measured on the
# standard splits: from 1,000 rows on, stopping on the validation loss cut
# bibtex's micro-F1 at threshold 0.5 from 0.421 to 0.366 (its loss bottoms
# out before its rare labels are learnt) and scene's from 0.739 to 0.727.
EARLY_STOPPING_AUTO_ROWS = 10_000

ROUTING_PREFIXES = ("model__", "optimizer__", "loss__", "metrics__", "callbacks__", "fit__", "predict__")
# Keyword arguments of keras.Model.fit that may also be given to the
# constructor, as scikeras takes them; they reach Model.fit unchanged.
KERAS_FIT_ARGS = frozenset(
    {
        "validation_split",
        "shuffle",
        "initial_epoch",
        "steps_per_epoch",
        "validation_steps",
        "validation_batch_size",
        "validation_freq",
    }
)


class BaseKerasClassifier(ClassifierMixin, BaseEstimator):
    """Shared machinery of the two public classifiers.

    Subclasses set ``_estimator_kind`` ("multiclass" or "multilabel") and
    their tags; everything else is here.
    """

    _estimator_kind = ""

    _parameter_constraints: dict = {
        "model": "no_validation",  # checked when the network is built, with scikeras's message
        "hidden_layer_sizes": ["array-like"],
        "activation": [str, callable],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "batch_normalization": ["boolean"],
        "optimizer": [str, callable, keras.optimizers.Optimizer],
        "learning_rate": [
            None,
            Interval(numbers.Real, 0, None, closed="neither"),
            keras.optimizers.schedules.LearningRateSchedule,
        ],
        "loss": [str, callable, list, tuple, dict, keras.losses.Loss],
        "loss_weights": [None, list, tuple],
        "metrics": [None, str, callable, list, tuple, dict, keras.metrics.Metric],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left")],
        "class_weight": [None, dict, list, StrOptions({"balanced"})],
        "threshold": [Interval(numbers.Real, 0, 1, closed="both"), "array-like", StrOptions({"auto"})],
        "threshold_objective": [StrOptions(set(OBJECTIVES)), callable],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [None, list, tuple, dict, keras.callbacks.Callback, callable],
    }

    def __init__(
        self,
        model=None,
        *,
        hidden_layer_sizes=(256,),
        activation="relu",
        dropout=0.0,
        batch_normalization=False,
        optimizer="adam",
        learning_rate=None,
        loss="auto",
        loss_weights=None,
        metrics=None,
        epochs=100,
        batch_size=32,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        class_weight=None,
        threshold=0.5,
        threshold_objective="f1_micro",
        memory=None,
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
        **kwargs,
    ):
        self.model = model
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.dropout = dropout
        self.batch_normalization = batch_normalization
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.loss = loss
        self.loss_weights = loss_weights
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.threshold = threshold
        self.threshold_objective = threshold_objective
        self.memory = memory
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks
        # Routed parameters (model__units=...), checked at fit like the others.
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ---- parameters -------------------------------------------------------
    @classmethod
    def _get_param_names(cls):
        """Parameters of every ``__init__`` from this class up to the base.

        A subclass written the scikeras way, ``__init__(self, hidden=10,
        **kwargs)`` passing the rest to ``super().__init__(**kwargs)``, keeps
        the base parameters as parameters.
        """
        names = set()
        for klass in cls.__mro__:
            init = vars(klass).get("__init__")
            if init is not None and klass is not object:
                for p in inspect.signature(init).parameters.values():
                    if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                        names.add(p.name)
            if klass is BaseKerasClassifier:
                break
        return sorted(names)

    def _extra_param_names(self) -> list:
        named = set(self._get_param_names())
        return [k for k in vars(self) if k not in named and not k.startswith("_") and not k.endswith("_")]

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params.update({k: getattr(self, k) for k in self._extra_param_names()})
        return params

    def set_params(self, **params):
        plain = {}
        for key, value in params.items():
            if key.startswith(ROUTING_PREFIXES) or key in self._extra_param_names():
                setattr(self, key, value)
            else:
                plain[key] = value
        return super().set_params(**plain) if plain else self

    def _model_function(self):
        """The callable that builds the network, if any: ``model``, or a
        subclass's ``_keras_build_fn`` hook (scikeras's) when ``model`` is None."""
        if self.model is not None and hasattr(self, "_keras_build_fn"):
            raise ValueError(
                f"{type(self).__name__} defines _keras_build_fn and was given model=; a class "
                "cannot implement ``_keras_build_fn`` and take a model too. Drop one."
            )
        if isinstance(self.model, str) and self.model.startswith("<not saved"):
            raise ValueError(
                f"The 'model' parameter is {self.model}: a Python function, which a safe file "
                "cannot hold. Give it again with set_params(model=...) before refitting."
            )
        if self.model is not None and not isinstance(self.model, keras.Model) and not callable(self.model):
            raise TypeError(
                "``model`` must be None, a keras.Model or a callable returning one; got "
                f"{type(self.model).__name__}."
            )
        if self.model is None:
            return getattr(self, "_keras_build_fn", None)
        return None if isinstance(self.model, keras.Model) else self.model

    def _check_extra_params(self) -> None:
        fn = self._model_function()
        named, takes_any = set(), False
        if fn is not None:
            sig = inspect.signature(fn)
            named = set(sig.parameters)
            takes_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        unknown = [
            k
            for k in self._extra_param_names()
            if not k.startswith(ROUTING_PREFIXES)
            and k not in KERAS_FIT_ARGS
            and k not in named
            and not takes_any
        ]
        if unknown:
            raise TypeError(
                f"{type(self).__name__} got an unexpected keyword argument {unknown[0]!r} "
                f"(unexpected parameters {unknown}). Routed parameters start with one of "
                f"{ROUTING_PREFIXES}; other extra parameters must be arguments of the model "
                "function or of keras.Model.fit."
            )

    @property
    def current_epoch(self) -> int:
        """Epochs trained so far (0 before fit), as in scikeras."""
        history = getattr(self, "history_", None) or {}
        return len(history.get("loss", []))

    def _routed(self, prefix: str) -> dict:
        return {k[len(prefix) :]: v for k, v in vars(self).items() if k.startswith(prefix)}

    # ---- tags -------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_network_")

    # ---- fitting ----------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **kwargs):
        """Train the network on X, y.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs. Any rank works with a user ``model``.
        y : array-like, sparse matrix or sequence of label collections
            Targets; the task is read from them (see the class docstring).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights, multiplied with ``class_weight``.
        **kwargs
            Keyword arguments of ``keras.Model.fit`` for this call only
            (``epochs``, ``batch_size``, ``validation_split``...), as scikeras
            takes them; they override the estimator's parameters.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        keep = bool(self.warm_start) and self.__sklearn_is_fitted__()
        epochs = kwargs.pop("epochs", self.epochs)
        return self._fit(X, y, sample_weight, epochs=epochs, keep=keep, fit_kwargs=kwargs)

    def initialize(self, X, y):
        """Build and compile the network for X, y without training it (scikeras's ``initialize``).

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs, to size the network.
        y : array-like, sparse matrix or sequence of label collections
            Targets; the task is read from them.

        Returns
        -------
        self : object
            An estimator that predicts with the untrained network.
        """
        return self._fit(X, y, None, epochs=0, keep=False, call="initialize")

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """Train one epoch on X, y, starting from the current network.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            One batch of inputs.
        y : array-like, sparse matrix or sequence of label collections
            Its targets, in the form of the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.
        classes : array-like, default=None
            Every class (1-D targets) or label (label collections), on the
            first call, so that later batches may hold classes it lacks.

        Returns
        -------
        self : object
            The estimator, trained one more epoch.
        """
        keep = self.__sklearn_is_fitted__()
        return self._fit(
            X, y, sample_weight, epochs=1, keep=keep, classes=None if keep else classes, call="partial_fit"
        )

    def _fit(self, X, y, sample_weight, epochs: int, keep: bool, classes=None, call="fit", fit_kwargs=None):
        self._check_extra_params()
        check_threshold_param(self.threshold)
        before = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("__")}
        snapshot = None
        try:
            if keep:
                snapshot = snapshot_weights(self._network_.train_model)
            self._fit_unsafe(X, y, sample_weight, epochs, keep, classes, call, dict(fit_kwargs or {}))
        except BaseException:
            # Never leave a half-updated estimator behind: the state before
            # this call comes back, network weights included.
            for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
                delattr(self, key)
            vars(self).update(before)
            if snapshot is not None:
                restore_weights(before["_network_"].train_model, snapshot)
            raise
        return self

    def _fit_unsafe(self, X, y, sample_weight, epochs, keep, classes, call, fit_kwargs):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        X = _data.check_X(self, X, reset=not keep)
        check_consistent_length(X, y)
        if keep:
            spec = self._spec_
        else:
            spec = infer_targets(_with_classes(y, classes, self._estimator_kind), self._estimator_kind)
        if not isinstance(self.threshold, str):
            resolve_thresholds(self.threshold, spec.n_thresholds)
        targets = spec.encode(y)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
            if not np.any(sample_weight > 0):
                raise ValueError(
                    "All sample weights are zero (only zeros were passed in sample_weight); at least "
                    "one must be positive."
                )
        weights, pos_weight = self._class_weights(spec, targets, sample_weight)

        # A continued fit starts from weights the key does not describe: never cached.
        key = None if keep else _cache.key_for(self, X, y, sample_weight, (call, epochs, classes, fit_kwargs))
        with _cache.slot(key, self.memory, X.shape[1], self.verbose) as slot:
            if slot.state is not None and _same_spec(slot.state.spec, spec):
                self._set_learned(slot.state)
                return
            seed = resolve_seed(self.random_state)
            with seeded(seed):
                if keep:
                    network = self._network_
                    pos_weight = self._pos_weight_
                else:
                    _backend.release_cached_kernels()
                    network = self._build_network(X, spec)
                if not network.train_model.compiled or (not keep and not self._adopt_compiled(network, spec)):
                    self._compile(network, spec, pos_weight)
                history, holdout = self._train(network, X, targets, weights, spec, epochs, seed, fit_kwargs)
                if holdout is None and self.threshold == "auto" and not keep and spec.n_thresholds and epochs:
                    holdout = self._out_of_fold_holdout(X, spec, targets, weights, pos_weight, epochs, seed)

            if keep and hasattr(self, "history_"):
                merged = {k: list(v) for k, v in self.history_.items()}
                for k, v in history.items():
                    merged.setdefault(k, []).extend(v)
                history = merged
            state = FittedState(spec, network, pos_weight, history, holdout)
            self._set_learned(state)
            slot.store(state)

    def _set_learned(self, state: FittedState) -> None:
        """Everything a fit learned; the public attributes follow from it."""
        spec, network = state.spec, state.network
        self._spec_ = spec
        self._network_ = network
        self._pos_weight_ = state.pos_weight
        self.history_ = state.history
        self._holdout_ = state.holdout
        self._tuned_ = {}
        self.model_ = network.proba_model
        self.task_ = spec.task
        self.classes_ = spec.public_classes()
        self.n_outputs_ = spec.n_outputs

    def _fitted_state(self) -> FittedState:
        return FittedState(self._spec_, self._network_, self._pos_weight_, self.history_, self._holdout_)

    def _meta(self, X, spec) -> dict:
        return {
            "n_features_in_": self.n_features_in_,
            "X_shape_": tuple(X.shape),
            "X_dtype_": X.dtype,
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
        }

    def _build_network(self, X, spec) -> _network.Network:
        import scipy.sparse as sp

        meta = self._meta(X, spec)
        # torch has no sparse inputs: Keras densifies its batches instead
        sparse = sp.issparse(X) and _backend.supports_sparse()
        fn = self._model_function()
        if fn is None and self.model is None:
            if self._routed("model__"):
                raise ValueError(
                    f"model__ parameters {sorted(self._routed('model__'))} were given "
                    "but model=None; they are passed to a model function."
                )
            trunk = _network.default_trunk(
                meta,
                tuple(self.hidden_layer_sizes),
                self.activation,
                self.dropout,
                self.batch_normalization,
                sparse,
            )
        else:
            trunk = _network.call_user_model(
                fn if fn is not None else self.model,
                meta,
                self._routed("model__"),
                self.get_params(deep=False),
                [
                    k
                    for k in self._extra_param_names()
                    if not k.startswith(ROUTING_PREFIXES) and k not in KERAS_FIT_ARGS
                ],
                lambda: self._compile_kwargs_for_model(spec),
            )
        return _network.assemble(trunk, spec.heads, spec.task, tuple(X.shape[1:]), sparse)

    def _compile(self, network: _network.Network, spec, pos_weight) -> None:
        heads = network.heads
        specs, loss_kwargs = self._loss_specs(heads)
        metric_specs = self._metric_specs(heads)
        if len(specs) != len(heads):
            raise ValueError(
                f"loss has {len(specs)} entries but the network has {len(heads)} "
                "heads; give one loss per output of y, or a single loss."
            )
        if self.loss_weights is not None and len(self.loss_weights) != len(heads):
            raise ValueError(
                f"loss_weights has {len(self.loss_weights)} entries but the network has {len(heads)} heads."
            )
        losses, sparse_flags, metrics = [], [], []
        for head, loss_spec, metric_spec in zip(heads, specs, metric_specs):
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
            losses.append(loss)
            sparse_flags.append(sparse)
            metrics.append(_heads.head_metrics(metric_spec, head, network.from_logits, sparse))
        network.sparse_targets = sparse_flags
        single = len(heads) == 1
        network.train_model.compile(
            optimizer=_backend.prepare_optimizer(self._make_optimizer()),
            loss=losses[0] if single else losses,
            loss_weights=None if self.loss_weights is None else list(self.loss_weights),
            metrics=metrics[0] if single else metrics,
        )

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

    def _loss_specs(self, heads):
        """Per-head loss specs and the loss__ arguments left for them (a loss
        class takes its loss__ arguments when it is built)."""
        loss_kwargs = self._routed("loss__")
        built = _routing.build(self.loss, loss_kwargs)
        if built is not self.loss:
            loss_kwargs = {}
        specs = self._per_head(built, heads, "loss")
        return ["auto" if s is None else s for s in specs], loss_kwargs

    def _metric_specs(self, heads) -> list:
        built = _routing.build(self.metrics, self._routed("metrics__"))
        if built is None:
            return [None] * len(heads)
        return [None if m is None else _routing.as_list(m) for m in self._per_head(built, heads, "metrics")]

    def _user_callbacks(self) -> list:
        callbacks = _routing.as_list(_routing.build(self.callbacks, self._routed("callbacks__")))
        for cb in callbacks:
            if not isinstance(cb, keras.callbacks.Callback):
                raise TypeError(
                    "callbacks must be a keras.callbacks.Callback or a Callback class, a list of "
                    f"them or a dict of them by name; got {type(cb).__name__}."
                )
        return callbacks

    def _adopt_compiled(self, network, spec) -> bool:
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
        return True

    def _compile_kwargs_for_model(self, spec) -> dict:
        """What scikeras hands a model function as ``compile_kwargs``: the
        optimizer, loss and metrics this estimator would compile with, for a
        model that outputs probabilities."""
        specs, loss_kwargs = self._loss_specs(spec.heads)
        losses = [_heads.resolve_loss(ls, h, False, loss_kwargs)[0] for h, ls in zip(spec.heads, specs)]
        return {
            "optimizer": self._make_optimizer(),
            "loss": losses[0] if len(losses) == 1 else losses,
            "metrics": self._metric_specs(spec.heads)[0],
            "loss_weights": None if self.loss_weights is None else list(self.loss_weights),
        }

    def _make_optimizer(self):
        kwargs = _unflatten(self._routed("optimizer__"), "optimizer__")
        if self.learning_rate is not None:
            kwargs["learning_rate"] = self.learning_rate
        opt = self.optimizer
        if isinstance(opt, str):
            try:
                cls = type(keras.optimizers.get(opt))
            except ValueError as exc:
                raise ValueError(
                    f"Unknown optimizer {opt!r}; use a Keras optimizer name such as 'adam' or an optimizer object."
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

    def _class_weights(self, spec, targets, sample_weight):
        """Per-head sample weights, and per-label positive weights (multi-label)."""
        cw = self.class_weight
        n = len(targets[0])
        heads = spec.heads
        pos_weight = None
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
                    per_head[j] = single_head_weights(w, class_index(target), cls)
        if sample_weight is None and all(w is None for w in per_head):
            return None, pos_weight
        out = []
        for w in per_head:
            base = np.ones(n, dtype=np.float32) if w is None else w.astype(np.float32)
            out.append(base * sample_weight if sample_weight is not None else base)
        return out, pos_weight

    def _early_stopping_on(self, n_samples: int) -> bool:
        if self.early_stopping == "auto":
            return n_samples >= EARLY_STOPPING_AUTO_ROWS
        return bool(self.early_stopping)

    def _train(self, network, X, targets, weights, spec, epochs, seed, fit_kwargs=None):
        """Fit the network; return the history and the held-out data, if any.

        Data is held out for early stopping, and for ``threshold="auto"``
        when there is enough of it (else thresholds are tuned out of fold).
        """
        if epochs == 0:  # initialize(): built and compiled, not trained
            return {}, None
        n = X.shape[0]
        early = self._early_stopping_on(n)
        n_val = int(np.ceil(self.validation_fraction * n))
        tune = self.threshold == "auto" and spec.n_thresholds > 0 and n_val >= AUTO_MIN_HOLDOUT
        if not (early or tune):
            return self._run_fit(network, X, targets, weights, epochs, None, fit_kwargs), None
        train_idx, val_idx = self._split(n, spec, targets, seed)
        X_val = X[val_idx]
        y_val = [t[val_idx] for t in targets]
        w_val = None if weights is None else [w[val_idx] for w in weights]
        history = self._run_fit(
            network,
            X[train_idx],
            [t[train_idx] for t in targets],
            None if weights is None else [w[train_idx] for w in weights],
            epochs,
            (X_val, y_val, w_val) if early else None,
            fit_kwargs,
        )
        holdout = None
        if spec.n_thresholds > 0:
            proba = _thresholded(spec, _spec_outputs(network, spec, X_val, self.batch_size))
            holdout = (_thresholded(spec, y_val), proba, None if w_val is None else w_val[0])
        return history, holdout

    def _run_fit(self, network, X, targets, weights, epochs, validation, fit_kwargs=None) -> dict:
        """The one training path: NaN guard, early stopping (when given validation
        data), callbacks, fit__ arguments."""
        extra = {k: getattr(self, k) for k in KERAS_FIT_ARGS if k in vars(self)}
        extra.update(self._routed("fit__"))
        extra.update(fit_kwargs or {})
        extra.setdefault("batch_size", self.batch_size)
        extra.setdefault("verbose", self.verbose)
        callbacks = [keras.callbacks.History()]
        guard = StopOnNonFinite()
        callbacks.append(guard)
        stopper = None
        fit_validation = None
        if validation is not None:
            X_val, y_val, w_val = validation
            fit_val = fit_targets(network, y_val)
            fit_validation = (X_val, one(fit_val)) if w_val is None else (X_val, one(fit_val), one(w_val))
        if validation is not None:
            stopper = keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=self.n_iter_no_change, restore_best_weights=True
            )
            callbacks.append(stopper)
        callbacks.extend(self._user_callbacks())
        x, y, sample_weight = X, one(fit_targets(network, targets)), one(weights)
        batches = None
        if "validation_split" not in extra:  # Keras splits arrays only
            batches = _backend.sparse_batches(
                x, y, sample_weight, extra["batch_size"] or 32, extra.get("shuffle", True)
            )
        if batches is not None:
            x, y, sample_weight = batches, None, None
            # the batches shuffle their rows themselves; Keras would reorder whole batches
            extra = {k: v for k, v in extra.items() if k != "batch_size"} | {"shuffle": False}
            if fit_validation is not None:
                size = extra.pop("validation_batch_size", None) or self.batch_size
                X_val, y_val, w_val = (*fit_validation, None)[:3]
                fit_validation = _backend.sparse_batches(X_val, y_val, w_val, size, False)
        network.train_model.fit(
            x,
            y,
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
        return {k: [float(v) for v in vals] for k, vals in callbacks[0].history.items()}

    def _out_of_fold_holdout(self, X, spec, targets, weights, pos_weight, epochs, seed):
        """Held-out probabilities for every row from 3 extra networks, for small data sets.

        Each fold trains through the same path as fit (NaN guard, callbacks,
        fit__ arguments); folds are stratified (iteratively for multi-label y).
        """
        n = X.shape[0]
        if n < 3:
            raise ValueError(f"threshold='auto' needs at least 3 samples to tune on; got {n}.")
        proba = np.zeros((n, spec.n_thresholds))
        for train_idx, test_idx in _folds(n, 3, spec, targets, seed):
            net = self._build_network(X, spec)
            self._compile(net, spec, pos_weight)
            self._run_fit(
                net,
                X[train_idx],
                [t[train_idx] for t in targets],
                None if weights is None else [w[train_idx] for w in weights],
                epochs,
                None,
            )
            proba[test_idx] = _thresholded(spec, _spec_outputs(net, spec, X[test_idx], self.batch_size))
        return _thresholded(spec, targets), proba, None if weights is None else weights[0]

    def _split(self, n, spec, targets, seed):
        n_val = int(np.ceil(self.validation_fraction * n))
        if n_val < 1 or n - n_val < 1:
            raise ValueError(
                f"early_stopping needs a validation set, but {n} samples with "
                f"validation_fraction={self.validation_fraction} leave none. Use more "
                "data or early_stopping=False."
            )
        return _holdout_split(n, n_val, spec, targets, seed)

    # ---- answers ----------------------------------------------------------
    def _outputs(self, X) -> list:
        check_is_fitted(self)
        X = _data.check_X(self, X, reset=False)
        return _spec_outputs(
            self._network_, self._spec_, X, self._routed("predict__").get("batch_size", self.batch_size)
        )

    def predict_proba(self, X):
        """Probabilities of the classes or labels.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray or list of ndarray
            (n_samples, 2) for a binary task, (n_samples, n_classes) for
            multiclass (rows sum to 1), (n_samples, n_labels) for multi-label
            (each in [0, 1]), one such array per output for multi-output.
        """
        outputs = self._outputs(X)
        return self._spec_.predict_proba(outputs)

    def predict(self, X):
        """Decisions, in the form y had at fit.

        Binary and multi-label outputs are thresholded with ``thresholds_``;
        multiclass outputs take the most probable class.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y_pred : ndarray, sparse matrix or list of tuples
            Labels (1-D), one-hot rows, an indicator matrix (dense or sparse as
            at fit), label collections, or one column per output.
        """
        outputs = self._outputs(X)
        return self._spec_.predict(outputs, self._thresholds())

    def score(self, X, y, sample_weight=None):
        """Accuracy; for multi-label and multi-output, subset accuracy.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Inputs.
        y : array-like, sparse matrix or sequence of label collections
            True targets, in the form of fit.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        score : float
            The share of rows whose every label is right, as in scikit-learn.
        """
        y_pred = self.predict(X)
        return self._spec_.score(y, y_pred, sample_weight)

    def _thresholds(self):
        tuned = None
        if isinstance(self.threshold, str) and self._spec_.n_thresholds:
            tuned = self._tuned_thresholds()
        return resolve_thresholds(self.threshold, self._spec_.n_thresholds, tuned)

    def _tuned_thresholds(self):
        objective = self.threshold_objective
        if isinstance(objective, str) and objective in self._tuned_:
            return self._tuned_[objective]
        holdout = getattr(self, "_holdout_", None)
        if holdout is None:
            raise ValueError(
                "threshold='auto' tunes on data held out at fit, and this estimator "
                "was fitted without any (threshold was not 'auto' and early_stopping "
                "was off). Refit with threshold='auto'."
            )
        if isinstance(objective, str) and objective not in OBJECTIVES:
            raise ValueError(
                f"threshold_objective must be one of {list(OBJECTIVES)} or a callable "
                f"(y_true, y_pred) -> float; got {objective!r}."
            )
        if not isinstance(objective, str) and not callable(objective):
            raise TypeError(
                f"threshold_objective must be a name or a callable; got {type(objective).__name__}."
            )
        y_true, proba, weights = holdout
        tuned = tune_thresholds(y_true, proba, objective, weights)
        if isinstance(objective, str):
            # Names are remembered; a function is asked again each time, since a
            # new function may reuse an old one's id and its behaviour may change.
            self._tuned_[objective] = tuned
        return tuned

    @property
    def thresholds_(self):
        """The thresholds ``predict`` uses: one per label (multi-label), one for
        a binary task, one per 2-class output (multi-output)."""
        if not self.__sklearn_is_fitted__() or self._spec_.n_thresholds == 0:
            raise AttributeError(
                "thresholds_ exists on fitted binary, multi-label and multi-output estimators only."
            )
        return self._thresholds()

    # ---- saving -----------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted estimator to ``path`` in a format with no pickle.

        The file is a zip archive: hyper-parameters and target metadata as
        JSON, the network in Keras's ``.keras`` format, and a format version.
        Read it back with :func:`skmultihead.load`. Parameters that are Python
        functions (a model-building function, say) cannot be stored safely; the
        loaded estimator predicts with the saved network, and says what the
        parameter was if it is refit.
        """
        _persist.save_estimator(self, path)

    # ---- pickling ---------------------------------------------------------
    _LEARNED = ("_spec_", "_network_", "_pos_weight_", "history_", "_holdout_", "_tuned_")
    _DERIVED = ("model_", "task_", "classes_", "n_outputs_")

    def __getstate__(self):
        state = dict(super().__getstate__())
        if "_network_" in state:
            fitted = self._fitted_state()
            state["_fitted_"] = (fitted.to_meta(), fitted.model_bytes())
        for key in self._LEARNED + self._DERIVED:
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        state = dict(state)
        fitted = state.pop("_fitted_", None)
        super().__setstate__(state)
        if fitted is not None:
            # A pickle runs code on load anyway, so Keras's safe mode and the
            # size limits add nothing here; skmultihead.load keeps both.
            limits = _savefile.Limits(max_bytes=2**62, max_ratio=float("inf"))
            meta, model_bytes = fitted
            self._set_learned(FittedState.from_meta(meta, model_bytes, safe_mode=False, limits=limits))


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _with_classes(y, classes, kind):
    """What the task is read from: y, or for partial_fit the full list of classes.

    ``classes`` names every class of a 1-D y (multiclass) or every label of a
    sequence of label collections (multi-label); for indicator matrices the
    columns already name the labels, and ``classes`` is not needed.
    """
    if classes is None:
        return y
    from ._targets import _is_label_collections

    if kind == MULTILABEL:
        return [list(classes)] if _is_label_collections(y) else y
    return np.asarray(classes) if np.ndim(y) == 1 else y


def _unflatten(kwargs: dict, prefix: str) -> dict:
    """``{"learning_rate": Cls, "learning_rate__x": 1}`` -> ``{"learning_rate": Cls(x=1)}``,
    the way scikeras routes arguments of an argument."""
    nested = {}
    for key in [k for k in kwargs if "__" in k]:
        outer, inner = key.split("__", 1)
        nested.setdefault(outer, {})[inner] = kwargs.pop(key)
    for outer, inner in nested.items():
        if outer not in kwargs or not callable(kwargs[outer]):
            raise ValueError(
                f"{prefix}{outer}__... arguments were given, but {prefix}{outer} is not a class or "
                f"function to call with them; got {kwargs.get(outer)!r}."
            )
        kwargs[outer] = kwargs[outer](**_unflatten(inner, f"{prefix}{outer}__"))
    return kwargs


def _stratification(spec, targets):
    """What splits stratify on: class indices (one head, single-label), a 0/1
    label matrix (multi-label: iterative stratification), or None."""
    if len(targets) != 1:
        return None
    t = targets[0]
    if spec.task == MULTILABEL:
        return (t >= 0.5).astype(np.int8)
    labels = class_index(t)
    return labels


def _holdout_split(n, n_val, spec, targets, seed):
    strata = _stratification(spec, targets)
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


def _folds(n, k, spec, targets, seed):
    from sklearn.model_selection import KFold, StratifiedKFold

    strata = _stratification(spec, targets)
    rng = np.random.RandomState(seed)
    if strata is not None and strata.ndim == 2:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        return MultilabelStratifiedKFold(k, shuffle=True, random_state=rng).split(np.zeros(n), strata)
    if strata is not None and np.bincount(strata)[np.bincount(strata) > 0].min() >= k:
        return StratifiedKFold(k, shuffle=True, random_state=rng).split(np.zeros(n), strata)
    return KFold(k, shuffle=True, random_state=rng).split(np.arange(n))


def _same_spec(a, b) -> bool:
    """Two specs describe the same target (a cached fit must have seen this y)."""
    return (
        (a.task, a.form, a.y_dtype, a.n_thresholds) == (b.task, b.form, b.y_dtype, b.n_thresholds)
        and [(h.kind, h.units) for h in a.heads] == [(h.kind, h.units) for h in b.heads]
        and len(a.classes) == len(b.classes)
        and all(np.array_equal(x, y) and x.dtype == y.dtype for x, y in zip(a.classes, b.classes))
    )


def _spec_outputs(network, spec, X, batch_size) -> list:
    """Per-head probabilities in the layout of the task's heads."""
    outputs = _data.forward(network.proba_model, X, batch_size)
    # A binary task may run through a 2-unit softmax of a user's model.
    return [
        out[:, 1:2] if want.kind == "binary" and have.kind == "multiclass" else out
        for want, have, out in zip(spec.heads, network.heads, outputs)
    ]


def _thresholded(spec, arrays: list) -> np.ndarray:
    """The columns that thresholds apply to: (n, n_thresholds)."""
    cols = [
        np.asarray(a, dtype=np.float64).reshape(len(a), -1)
        for h, a in zip(spec.heads, arrays)
        if h.thresholded
    ]
    return np.column_stack(cols)
