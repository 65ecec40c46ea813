"""Targets encoded by a subclass's ``target_encoder``, scikeras's hook.

A scikeras subclass may override the ``target_encoder`` property with a
scikit-learn transformer: ``fit(y)``, ``transform(y)`` (the targets Keras
trains on: one array, or a list with one array per output of the model) and
``inverse_transform(outputs, return_proba=False)`` (the model's outputs back
to predictions, or to probabilities). Its ``get_metadata()``, if it has one,
adds to ``meta`` and to the estimator's attributes (``classes_``,
``n_outputs_``...). The task is then the encoder's business, not the task
table's: the model function builds the outputs, the loss is the user's, and
``predict`` is the encoder's inverse.

:class:`EncodedTargets` stands where a :class:`~skmultihead._targets.TargetSpec`
stands in a built-in fit, so that ``predict``, ``predict_proba`` and
``score`` are the estimator's own; :func:`fit` trains through the same path
as every fit (:meth:`Fitting.run`: NaN guard, early stopping, callbacks,
``fit__`` arguments).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import type_of_target

from . import _backend, _data, _network, _params, _state
from ._fitting import Fitting
from ._network import Network
from ._training import build_optimizer, continued_history, one, resolve_seed, seeded


class EncodedTargets:
    """The fitted encoder, in the place of a target spec."""

    n_thresholds = 0
    heads = None

    def __init__(self, encoder, target_type: str, y_dtype, metadata: dict):
        self.encoder = encoder
        self.task = target_type
        self.y_dtype = np.dtype(y_dtype).str if y_dtype is not None else None
        self.metadata = metadata

    def public_classes(self):
        if "classes_" in self.metadata:
            return self.metadata["classes_"]
        return getattr(self.encoder, "classes_", None)

    @property
    def n_outputs(self):
        return self.metadata.get("n_outputs_", getattr(self.encoder, "n_outputs_", 1))

    def encode(self, y):
        encoded = self.encoder.transform(y)
        return list(encoded) if isinstance(encoded, (list, tuple)) else [encoded]

    def predict_proba(self, outputs: list):
        return self.encoder.inverse_transform(one(outputs), return_proba=True)

    def predict(self, outputs: list, thresholds=None, rank=None):
        # the encoder decides; a rank rule needs a multi-label task (check_rank_rule)
        return self.encoder.inverse_transform(one(outputs))

    def score(self, y, y_pred, sample_weight=None) -> float:
        return float(accuracy_score(y, y_pred, sample_weight=sample_weight))


def check_parameters(est) -> None:
    """What the task table would decide has no meaning here: refused before training."""
    if not (isinstance(est.threshold, (int, float)) and float(est.threshold) == 0.5):
        raise ValueError(
            f"threshold={est.threshold!r} was given, but {type(est).__name__} encodes y with its "
            "target_encoder, whose inverse_transform makes the decisions. Leave threshold at 0.5."
        )
    if _params.model_function(est) is None and est.model is None:
        raise ValueError(
            f"{type(est).__name__} encodes y with its target_encoder, so the estimator cannot "
            "know which outputs to build: pass model= (or define _keras_build_fn) to build "
            "a network whose outputs match the encoded targets."
        )


def fit(est, X, y, sample_weight, epochs, keep, call, fit_kwargs):
    """One fit of an estimator whose subclass encodes y itself."""
    check_parameters(est)
    y = np.asarray(y) if not hasattr(y, "shape") else y
    if keep:
        spec = est._spec_
    else:
        encoder = est.target_encoder.fit(y)
        metadata = dict(getattr(encoder, "get_metadata", dict)())
        spec = EncodedTargets(encoder, type_of_target(y), getattr(y, "dtype", None), metadata)
    targets = spec.encode(y)
    if est.class_weight is not None:
        weights = compute_sample_weight(est.class_weight, y)
        sample_weight = weights if sample_weight is None else sample_weight * weights
    weights = None if sample_weight is None else [np.asarray(sample_weight, np.float32)] * len(targets)
    fitting = Fitting(est)
    seed = resolve_seed(est.random_state)
    with seeded(seed), _backend.distribution_scope(est.distribution):
        if keep:
            network = est._network_
        else:
            _backend.release_cached_kernels()
            network = _build(est, fitting, X, spec)
        history = {}
        if epochs:
            validation = None
            n = _data.n_rows(X)
            if call != "partial_fit" and fitting.early_stopping_on(n):
                rng = np.random.RandomState(seed)
                n_val = int(np.ceil(est.validation_fraction * n))
                order = rng.permutation(n)
                val_idx, train_idx = order[:n_val], order[n_val:]
                validation = (_data.take(X, val_idx), [t[val_idx] for t in targets], _rows(weights, val_idx))
                X, targets, weights = (
                    _data.take(X, train_idx),
                    [t[train_idx] for t in targets],
                    _rows(weights, train_idx),
                )
            history = fitting.run(network, X, targets, weights, epochs, validation, fit_kwargs)
    if keep:
        history = continued_history(est, history)
    set_learned(est, spec, network, history)


def set_learned(est, spec: EncodedTargets, network: Network, history: dict) -> None:
    _state.set_learned(est, _state.FittedState(spec, network, None, history, None))
    est.target_encoder_ = spec.encoder
    est.target_type_ = spec.task
    # scikeras binds the encoder's metadata to the estimator
    for key, value in spec.metadata.items():
        if key.endswith("_") and not key.startswith("_"):
            setattr(est, key, value)


def _build(est, fitting: Fitting, X, spec: EncodedTargets) -> Network:
    meta = {
        "n_features_in_": est.n_features_in_,
        "X_shape_": _data.shape(X),
        "X_dtype_": getattr(X, "dtype", None),
        "target_type_": spec.task,
        "y_dtype_": None if spec.y_dtype is None else np.dtype(spec.y_dtype),
        "target_encoder_": spec.encoder,
        "feature_encoder_": getattr(est, "feature_encoder_", None),
        **spec.metadata,
    }
    fn = _params.model_function(est)
    model = _network.call_user_model(
        fn if fn is not None else est.model,
        meta,
        _params.routed(est, "model__"),
        est.get_params(deep=False),
        _params.model_function_extras(est),
        lambda: fitting.compile_kwargs_for_model(None),
    )
    if getattr(model, "loss", None) is None:
        compile_kwargs = fitting.compile_kwargs_for_model(None)
        if compile_kwargs["loss"] is None:
            raise ValueError(
                f"loss='auto' reads the task from y, but {type(est).__name__} encodes y with its "
                "target_encoder: give loss= (the loss for the encoded targets), or compile the "
                "model in the model function."
            )
        compile_kwargs["optimizer"] = _backend.prepare_optimizer(compile_kwargs["optimizer"])
        model.compile(**compile_kwargs)
    build_optimizer(model)
    return Network(model, model, None, from_logits=False)


def _rows(weights, idx):
    return None if weights is None else [w[idx] for w in weights]
