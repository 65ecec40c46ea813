"""The scikit-learn side: parameters, validation, the fit/predict skeleton, tags."""

from __future__ import annotations

import inspect
import numbers
import os
import threading
import weakref

import joblib
import keras
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_consistent_length, check_is_fitted

from . import _backend, _cache, _data, _encoded, _npforward, _params, _persist, _thresholds
from ._cachekey import key_for
from ._fitting import Fitting, spec_output_parts, spec_outputs
from ._routing import check_fit_kwargs, check_keras_args
from ._state import FittedState, set_learned
from ._targets import FORM_SPARSE, infer_targets, same_spec, with_classes
from ._thresholds import OBJECTIVES, check_rank_rule, check_threshold_param, resolve_thresholds
from ._training import continued_history, resolve_seed, restore, restore_optimizer, seeded, snapshot

# One lock per estimator: a fit holds it from start to end, and predictions
# hold it while they read the fitted state, so that an answer comes from the
# state before a concurrent fit or after it, never from a mix (a new network
# with the old target description, or weights half-way through partial_fit).
_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def _lock(est) -> threading.RLock:
    with _locks_guard:
        lock = _locks.get(est)
        if lock is None:
            lock = _locks[est] = threading.RLock()
        return lock


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
        "top_k": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "min_labels": [Interval(numbers.Integral, 0, None, closed="left")],
        "memory": [None, str, os.PathLike, joblib.Memory],
        "fit_cache": [StrOptions({"data", "code"}), Options(bool, {False})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "callbacks": [None, list, tuple, dict, keras.callbacks.Callback, callable],
        "distribution": "no_validation",  # checked against the backend at fit
    }

    def __init__(
        self,
        model=None,
        *,
        hidden_layer_sizes=(512, 512),
        activation="relu",
        dropout=0.5,
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
        top_k=None,
        min_labels=0,
        memory=None,
        fit_cache="data",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
        distribution=None,
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
        self.top_k = top_k
        self.min_labels = min_labels
        self.memory = memory
        self.fit_cache = fit_cache
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks
        self.distribution = distribution
        # Routed parameters (model__units=...), checked at fit like the others.
        for key, value in kwargs.items():
            setattr(self, key, value)

    # ---- parameters (the scikeras contract: see _params) --------------------
    @classmethod
    def _get_param_names(cls):
        """Parameters of every ``__init__`` from this class up to the base."""
        return _params.init_param_names(cls, BaseKerasClassifier)

    def get_params(self, deep=True):
        """Parameters for this estimator, as scikit-learn's, plus the routed
        and extra ones it holds.

        A subclass ``__init__`` that takes an argument without storing it
        (scikeras builds its parameters from the instance, so such classes
        work there) leaves it out, and ``fit`` warns that its value is unused.
        """
        return _params.get_params(self, deep)

    @staticmethod
    def scorer(y_true, y_pred, **kwargs) -> float:
        """scikeras's hook for ``score``: a subclass may override it (as a
        staticmethod taking ``y_true, y_pred, **kwargs``) to score with
        another metric; ``score`` then returns what it returns. By default
        accuracy, and subset accuracy for multi-label and multi-output y."""
        raise NotImplementedError  # never called: score() answers itself unless overridden

    def set_params(self, **params):
        plain = _params.set_extra(self, params)
        return super().set_params(**plain) if plain else self

    @property
    def target_encoder(self):
        """scikeras's hook for encoding y in a subclass; None here.

        A subclass may return an unfitted scikit-learn transformer whose
        ``transform(y)`` gives the targets the model trains on (an array, or a
        list with one per output) and whose ``inverse_transform(outputs,
        return_proba=False)`` turns the model's outputs back into predictions
        or probabilities; ``get_metadata()``, if it has one, reaches ``meta``
        and the fitted attributes. The task table, thresholds and built-in
        heads then step aside: ``model=`` builds the outputs and ``loss=``
        (or the model's own compile) trains them. Fitted, it is
        ``target_encoder_``.
        """
        return None

    @property
    def feature_encoder(self):
        """scikeras's hook for encoding X in a subclass; None here.

        A subclass may return an unfitted scikit-learn transformer; it is
        fitted on X at fit (``feature_encoder_``) and transforms X after
        validation at fit and at predict, into an array, a sparse matrix, or a
        list or dict of arrays for a model with several inputs.
        """
        return None

    def _encodes_targets(self, keep: bool) -> bool:
        """Whether y goes through a subclass's ``target_encoder`` (see :mod:`._encoded`)."""
        if keep:
            return isinstance(self._spec_, _encoded.EncodedTargets)
        return self.target_encoder is not None

    @property
    def current_epoch(self) -> int:
        """Epochs trained so far (0 before fit), as in scikeras."""
        history = getattr(self, "history_", None) or {}
        return len(history.get("loss", []))

    # ---- tags -------------------------------------------------------------
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "_network_")

    @property
    def model_(self):
        """The fitted network with its output activations (``keras.Model``).

        What ``predict_proba`` computes, for saving, inspecting or serving on
        its own. Once read, the estimator no longer predicts a few rows on a
        NumPy copy of its weights (code holding the model may change them).
        """
        network = self.__dict__.get("_network_")
        if network is None:
            raise AttributeError(f"This {type(self).__name__} is not fitted yet: it has no model_.")
        network.release()
        return network.proba_model

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
        check_fit_kwargs(kwargs, "fit()")
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

        Every row trains: ``early_stopping`` applies to ``fit`` only, as in
        scikit-learn's ``MLPClassifier``. (The first call with
        ``threshold="auto"`` still holds rows out to tune on.)

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
        _params.warn_unstored(self)
        _params.check_extra(self)
        check_keras_args(self.get_params(deep=False))
        check_threshold_param(self.threshold)
        _backend.check_distribution(self.distribution)
        _backend.place_worker()
        with _lock(self):
            keep = keep and self.__sklearn_is_fitted__()
            before = {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("__")}
            saved = snapshot(self._network_.train_model) if keep else None
            try:
                self._fit_unsafe(X, y, sample_weight, epochs, keep, classes, call, dict(fit_kwargs or {}))
            except BaseException:
                # Never leave a half-updated estimator behind: the state before
                # this call comes back, and so does everything in the network
                # that the next call reads (weights, seed generators, optimizer).
                for key in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
                    delattr(self, key)
                vars(self).update(before)
                if saved is not None:
                    before["_network_"].weights_changing()
                    restore(before["_network_"].train_model, saved)
                raise
        return self

    def _fit_unsafe(self, X, y, sample_weight, epochs, keep, classes, call, fit_kwargs):
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        X = _data.check_X(self, X, reset=not keep)
        check_consistent_length(X, y)
        sample_weight, entry_weight = _data.check_weights(X, sample_weight)
        X = self._encode_features(X, fit=not keep)
        if self._encodes_targets(keep):
            _encoded.fit(self, X, y, sample_weight, epochs, keep, call, fit_kwargs)
            return
        if keep:
            spec = self._spec_
        else:
            spec = infer_targets(with_classes(y, classes, self._estimator_kind), self._estimator_kind)
        if not isinstance(self.threshold, str):
            resolve_thresholds(self.threshold, spec.n_thresholds)
        check_rank_rule(self, spec)
        targets = spec.encode(y)
        fitting = Fitting(self)
        weights, pos_weight = fitting.class_weights(spec, targets, sample_weight, entry_weight)

        # A continued fit, or X made by a subclass's feature_encoder (Python code
        # the key cannot describe), is never cached.
        key = (
            None
            if keep or hasattr(self, "feature_encoder_")
            else key_for(self, X, y, sample_weight, (call, epochs, classes, fit_kwargs))
        )
        with _cache.slot(key, self.memory, self.n_features_in_, self.verbose) as slot:
            if slot.state is not None and same_spec(slot.state.spec, spec):
                # uncompiled; its optimizer's variables wait in _optimizer_state_
                set_learned(self, slot.state)
                return
            seed = resolve_seed(self.random_state)
            with seeded(seed), _backend.distribution_scope(self.distribution):
                if keep:
                    network = self._network_
                    pos_weight = self._pos_weight_
                else:
                    _backend.release_cached_kernels()
                    network = fitting.build_network(X, spec)
                adopted = not keep and network.train_model.compiled and fitting.adopt_compiled(network, spec)
                if not network.train_model.compiled or (not keep and not adopted):
                    fitting.compile(network, spec, pos_weight)
                else:
                    fitting.mask_unknown_entries(network)
                if keep and self._optimizer_state_ is not None:
                    # a network rebuilt by the cache, load or unpickling goes on
                    # from its optimizer's step and moments
                    restore_optimizer(network.train_model, self._optimizer_state_)
                history, holdout = fitting.train(
                    network,
                    X,
                    targets,
                    weights,
                    spec,
                    epochs,
                    seed,
                    fit_kwargs,
                    stop_early=call != "partial_fit",
                )
                if holdout is None and self.threshold == "auto" and not keep and spec.n_thresholds and epochs:
                    holdout = fitting.out_of_fold_holdout(X, spec, targets, weights, pos_weight, epochs, seed)

            if keep:
                history = continued_history(self, history)
            state = FittedState(spec, network, pos_weight, history, holdout)
            set_learned(self, state)
            if not adopted:  # a network the user compiled could not be compiled again the same way
                slot.store(state)

    def _encode_features(self, X, fit: bool):
        """X through a subclass's ``feature_encoder`` (fitted on a fresh fit)."""
        if fit:
            encoder = self.feature_encoder
            if encoder is None:
                return X
            self.feature_encoder_ = encoder.fit(X)
        encoder = getattr(self, "feature_encoder_", None)
        if encoder is None:
            return X
        return _data.check_encoded(encoder.transform(X), f"{type(self).__name__}.feature_encoder")

    # ---- answers ----------------------------------------------------------
    def _outputs(self, X) -> list:
        check_is_fitted(self)
        X = self._encode_features(_data.check_X(self, X, reset=False), fit=False)
        return self._forward(X, _params.routed(self, "predict__").get("batch_size", self.batch_size))

    def _forward(self, X, batch_size) -> list:
        return spec_outputs(self._network_, self._spec_, X, batch_size, small_batch=True)

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
        with _lock(self):
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
        with _lock(self):
            check_is_fitted(self)
            spec = self._spec_
            if getattr(spec, "form", None) != FORM_SPARSE:  # a target_encoder's spec has none
                outputs = self._outputs(X)
                rank = check_rank_rule(self, spec)
                return spec.predict(outputs, _thresholds.of_estimator(self), rank)
            # answered sparse, a few million entries at a time: no (n, L) array
            X = self._encode_features(_data.check_X(self, X, reset=False), fit=False)
            rank = check_rank_rule(self, spec)
            thresholds = _thresholds.of_estimator(self)
            batch_size = _params.routed(self, "predict__").get("batch_size", self.batch_size)
            if _data.n_rows(X) <= _npforward.SMALL_ROWS:  # as predict_proba computes them
                return spec.predict(self._forward(X, batch_size), thresholds, rank)
            parts = [
                spec.predict(outputs, thresholds, rank)
                for _, outputs in spec_output_parts(self._network_, spec, X, batch_size)
            ]
            return parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr")

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
        with _lock(self):
            y_pred = self.predict(X)
            if _overrides(type(self), "scorer"):
                score_args = _params.routed(self, "score__")
                return float(self.scorer(y, y_pred, sample_weight=sample_weight, **score_args))
            return self._spec_.score(y, y_pred, sample_weight)

    @property
    def thresholds_(self):
        """The thresholds ``predict`` uses: one per label (multi-label), one for
        a binary task, one per 2-class output (multi-output)."""
        if not self.__sklearn_is_fitted__() or self._spec_.n_thresholds == 0:
            raise AttributeError(
                "thresholds_ exists on fitted binary, multi-label and multi-output estimators only."
            )
        return _thresholds.of_estimator(self)

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
        _persist.save(self, path)

    # ---- pickling (see _persist) -------------------------------------------
    def __getstate__(self):
        return _persist.pickled(self, super().__getstate__())

    def __setstate__(self, state):
        state, restore = _persist.unpickled(state)
        super().__setstate__(state)
        restore(self)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _overrides(cls: type, name: str) -> bool:
    """Whether a subclass defines ``name`` itself (scikeras's hooks)."""
    return inspect.getattr_static(cls, name) is not inspect.getattr_static(BaseKerasClassifier, name)
