"""scikeras's conventions, so that its users switch by changing an import."""

import os
import pickle

import keras
import numpy as np
import pytest
from sklearn.base import clone

from skmultihead import MultiClassKerasClassifier as C
from skmultihead import _data

from ._helpers import count_trainings, learnable


def _X_y(n=60):
    X = np.random.RandomState(0).randn(n, 4).astype("float32")
    return X, (X[:, 0] > 0).astype(int)


def _dense(meta, units):
    inp = keras.Input((meta["n_features_in_"],))
    return keras.Model(inp, keras.layers.Dense(units, activation="relu")(inp))


def test_model_functions_get_compile_kwargs_and_params_by_name():
    X, y = _X_y()
    seen = {}

    def get_model(meta, compile_kwargs, params):
        seen.update(compile_kwargs=compile_kwargs, params=params, meta=meta)
        return _dense(meta, 4)

    est = C(model=get_model, optimizer="sgd", epochs=1).fit(X, y)
    assert isinstance(seen["compile_kwargs"]["optimizer"], keras.optimizers.SGD)
    assert isinstance(seen["compile_kwargs"]["loss"], keras.losses.BinaryCrossentropy)
    assert seen["params"] == est.get_params()
    assert seen["meta"]["n_classes_"] == 2


def test_a_model_function_with_kwargs_gets_everything_in_scikeras_order():
    X, y = _X_y()
    seen = []

    def get_model(**kwargs):
        seen.append(tuple(kwargs))
        return _dense(kwargs["meta"], kwargs["hidden"])

    C(model=get_model, model__hidden=3, epochs=1).fit(X, y)
    assert seen == [("hidden", "meta", "compile_kwargs", "params")]


def test_extra_constructor_arguments_reach_the_model_function_and_model__wins():
    X, y = _X_y()
    got = []

    def get_model(meta, hidden_dim):
        got.append(hidden_dim)
        return _dense(meta, hidden_dim)

    est = C(model=get_model, hidden_dim=5, epochs=1).fit(X, y)
    assert est.model_.layers[1].units == 5 and est.get_params()["hidden_dim"] == 5
    C(model=get_model, hidden_dim=5, model__hidden_dim=7, epochs=1).fit(X, y)
    assert got == [5, 7]
    assert clone(est).get_params()["hidden_dim"] == 5
    with pytest.raises(TypeError, match="unexpected parameters \\['hiden_dim'\\]"):
        C(model=get_model, hidden_dim=5, hiden_dim=6, epochs=1).fit(X, y)


class Subclassed(C):
    """scikeras's documented way of subclassing."""

    def __init__(self, hidden=10, **kwargs):
        super().__init__(**kwargs)
        self.hidden = hidden

    def _keras_build_fn(self, meta, hidden):
        return _dense(meta, hidden)


def test_a_scikeras_style_subclass_keeps_base_parameters_and_its_build_hook():
    X, y = _X_y()
    est = Subclassed(hidden=6, epochs=2).fit(X, y)
    assert est.model_.layers[1].units == 6  # the hook's network, not the built-in one
    params = est.get_params()
    assert params["hidden"] == 6 and params["epochs"] == 2 and "hidden_layer_sizes" in params
    copy = clone(est)
    assert copy.hidden == 6 and copy.epochs == 2
    assert copy.set_params(epochs=3, hidden=2).fit(X, y).model_.layers[1].units == 2


def test_initialize_builds_a_network_that_predicts_without_training(monkeypatch):
    X, y = _X_y()
    calls = count_trainings(monkeypatch)
    est = C(epochs=5, random_state=0).initialize(X, y)
    assert calls == [] and est.current_epoch == 0
    assert est.predict(X).shape == (len(X),) and set(est.predict(X)) <= {0, 1}
    est.fit(X, y)
    assert est.current_epoch == 5
    assert C().current_epoch == 0


def test_fit_takes_keras_fit_arguments_for_one_call(monkeypatch):
    X, y = _X_y(100)
    calls = count_trainings(monkeypatch)
    est = C(hidden_layer_sizes=(4,), epochs=3, random_state=0)
    est.fit(X, y, epochs=2, validation_split=0.2)
    assert calls == [2] and "val_loss" in est.history_ and est.current_epoch == 2
    est.fit(X, y)  # the same estimator, no overrides: a new fit of 3 epochs, not the cached one
    assert calls == [2, 3] and "val_loss" not in est.history_


def test_validation_split_as_a_constructor_argument():
    X, y = _X_y(100)
    est = C(hidden_layer_sizes=(4,), epochs=2, validation_split=0.25).fit(X, y)
    assert len(est.history_["val_loss"]) == 2
    assert est.get_params()["validation_split"] == 0.25


def test_predict__batch_size_reaches_prediction(monkeypatch):
    X, y = _X_y(2000)
    est = C(hidden_layer_sizes=(4,), epochs=1, predict__batch_size=1500).fit(X, y)
    sizes = []
    real = _data.forward

    def spy(model, X, batch_size):
        sizes.append(batch_size)
        return real(model, X, batch_size)

    monkeypatch.setattr(_data, "forward", spy)
    est.predict_proba(X)
    assert sizes == [1500]


def test_one_hot_float_targets_predict_int64():
    X, _, y3, _ = learnable()
    onehot = np.eye(3, dtype="float32")[y3]
    pred = C(hidden_layer_sizes=(4,), epochs=1).fit(X, onehot).predict(X)
    assert pred.dtype == np.int64 and pred.shape == onehot.shape


def test_nested_optimizer_arguments_build_their_object():
    X, y = _X_y()
    schedule = keras.optimizers.schedules.ExponentialDecay
    est = C(
        hidden_layer_sizes=(4,),
        epochs=1,
        optimizer="sgd",
        optimizer__learning_rate=schedule,
        optimizer__learning_rate__initial_learning_rate=0.1,
        optimizer__learning_rate__decay_steps=10,
        optimizer__learning_rate__decay_rate=0.5,
    ).fit(X, y)
    opt = est._network_.train_model.optimizer
    assert isinstance(opt._learning_rate, schedule) and opt._learning_rate.decay_rate == 0.5
    with pytest.raises(ValueError, match="optimizer__momentum__"):
        C(epochs=1, optimizer="sgd", optimizer__momentum__x=1).fit(X, y)


def _complete(meta, compile_kwargs=None, loss=None, opt="sgd"):
    inp = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inp)
    n = meta["n_classes_"]
    out = keras.layers.Dense(n, activation="softmax")(hidden)
    model = keras.Model(inp, out)
    model.compile(optimizer=opt, loss=loss)
    return model


def test_a_user_compiled_model_keeps_its_optimizer_and_loss():
    X, _, y3, _ = learnable()
    est = C(model=_complete, model__loss="categorical_crossentropy", optimizer="adam", epochs=2).fit(X, y3)
    model = est._network_.train_model
    assert isinstance(model.optimizer, keras.optimizers.SGD)  # the user's, not "adam"
    assert model.loss == "categorical_crossentropy"  # trained on one-hot targets
    assert est.predict_proba(X).shape == (len(X), 3)


def test_a_model_compiled_without_a_loss_gets_the_estimators():
    X, _, y3, _ = learnable()
    est = C(model=_complete, model__loss=None, epochs=2).fit(X, y3)
    assert isinstance(est._network_.train_model.loss, keras.losses.SparseCategoricalCrossentropy)


def test_a_compiled_loss_that_contradicts_the_task_is_refused_with_the_fix():
    X, _, y3, _ = learnable()
    with pytest.raises(ValueError, match="mutually exclusive classes"):
        C(model=_complete, model__loss="binary_crossentropy", epochs=1).fit(X, y3)


class Counting(keras.callbacks.Callback):
    def __init__(self, start=0):
        super().__init__()
        self.epochs = start

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1


@pytest.mark.parametrize(
    "callbacks,routed",
    [
        (Counting(), {}),
        (Counting, {"callbacks__start": 10}),
        ([Counting], {"callbacks__0__start": 10}),
        ({"count": Counting}, {"callbacks__count__start": 10}),
        ([[Counting(10)]], {}),
    ],
    ids=["instance", "class", "list of classes", "dict", "nested list"],
)
def test_callbacks_in_every_scikeras_form(callbacks, routed, monkeypatch):
    X, y = _X_y()
    seen = []
    real = keras.Model.fit

    def spy(self, *args, **kwargs):
        seen.extend(cb for cb in kwargs["callbacks"] if isinstance(cb, Counting))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)
    C(hidden_layer_sizes=(4,), epochs=2, callbacks=callbacks, **routed).fit(X, y)
    assert len(seen) == 1
    assert seen[0].epochs == (2 if isinstance(callbacks, Counting) else 12)


def test_callbacks_of_the_wrong_type_are_refused():
    X, y = _X_y()
    with pytest.raises(TypeError, match="keras.callbacks.Callback"):
        C(epochs=1, callbacks=[object()]).fit(X, y)


def test_metrics_in_scikeras_forms():
    X, y = _X_y(100)
    est = C(hidden_layer_sizes=(4,), epochs=2, metrics="acc").fit(X, y)
    assert "acc" in est.history_
    stopper = keras.callbacks.EarlyStopping(monitor="val_acc", patience=1)
    est = C(hidden_layer_sizes=(4,), epochs=3, metrics=["acc"], validation_split=0.2, callbacks=[stopper])
    assert "val_acc" in est.fit(X, y).history_

    def mean_prediction(y_true, y_pred):
        return keras.ops.mean(y_pred)

    est = C(
        hidden_layer_sizes=(4,),
        epochs=2,
        metrics=[keras.metrics.AUC, mean_prediction],
        metrics__0__name="my_auc",
    ).fit(X, y)
    assert {"my_auc", "mean_prediction"} <= set(est.history_)


def test_a_loss_class_is_built_with_its_routed_arguments():
    X, _, _, Y = learnable()
    from skmultihead import MultiLabelKerasClassifier

    est = MultiLabelKerasClassifier(
        hidden_layer_sizes=(4,), epochs=1, loss=keras.losses.BinaryFocalCrossentropy, loss__gamma=3.0
    ).fit(X, Y)
    loss = est._network_.train_model.loss
    assert isinstance(loss, keras.losses.BinaryFocalCrossentropy) and loss.gamma == 3.0


def _named_output(meta, compile_kwargs, name="out1"):
    """A scikeras-style model function: named sigmoid output, compiled with compile_kwargs."""
    inp = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(4, activation="relu")(inp)
    model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid", name=name)(hidden))
    model.compile(**compile_kwargs)
    return model


def _metric_names(est):
    return [m.name for m in est.model_.metrics[1].metrics]


def test_loss_and_metrics_by_the_models_output_name_reach_compile_kwargs():
    X, y = _X_y()
    est = C(
        model=_named_output,
        epochs=1,
        loss={"out1": keras.losses.BinaryCrossentropy},
        loss__out1__label_smoothing=0.1,
        metrics={"out1": [keras.metrics.BinaryAccuracy]},
        metrics__out1__name="acc_out1",
    ).fit(X, y)
    assert est.model_.loss["out1"].label_smoothing == pytest.approx(0.1)
    assert _metric_names(est) == ["acc_out1"]

    # the estimator compiling the same model itself reads the dict the same way
    def uncompiled(meta):
        return _named_output(meta, {}, name="out1")

    est = C(model=uncompiled, epochs=1, metrics={"out1": ["accuracy"]}, loss={"out1": "auto"}).fit(X, y)
    assert "accuracy" in est.history_
    with pytest.raises(ValueError, match=r"names outputs \['nope'\]; the outputs are \['out1'\]"):
        C(model=uncompiled, epochs=1, metrics={"nope": ["accuracy"]}).fit(X, y)


def test_a_loss_list_keeps_its_shape_and_each_item_its_routed_arguments():
    X, y = _X_y()
    est = C(model=_named_output, epochs=1, loss=["BinaryCrossentropy"], loss__0__label_smoothing=0.2).fit(
        X, y
    )
    (loss,) = est.model_.loss
    assert isinstance(loss, keras.losses.BinaryCrossentropy) and loss.label_smoothing == pytest.approx(0.2)


def test_a_loss_class_name_takes_routed_arguments():
    X, y = _X_y()
    est = C(model=_named_output, epochs=1, loss="BinaryCrossentropy", loss__name="custom").fit(X, y)
    assert isinstance(est.model_.loss, keras.losses.BinaryCrossentropy) and est.model_.loss.name == "custom"


def test_routed_arguments_of_an_argument_are_built_recursively():
    X, y = _X_y()

    class Part:
        def __init__(self, size=0):
            self.size = size

    class PartsLoss(keras.losses.Loss):
        def __init__(self, parts=(), **kwargs):
            super().__init__(**kwargs)
            self.parts = parts

        def call(self, y_true, y_pred):
            return keras.losses.binary_crossentropy(y_true, y_pred)

    est = C(
        model=_named_output,
        epochs=1,
        loss=PartsLoss,
        loss__parts=[Part, Part],
        loss__parts__size=1,
        loss__parts__0__size=2,
    ).fit(X, y)
    assert [p.size for p in est.model_.loss.parts] == [2, 1]


@pytest.mark.parametrize("param", ["loss", "metrics"])
def test_routed_arguments_for_something_that_is_not_a_class_are_a_type_error(param, monkeypatch):
    X, y = _X_y()
    trainings = count_trainings(monkeypatch)
    given = {"loss": keras.losses.binary_crossentropy, "metrics": [keras.metrics.binary_accuracy]}[param]
    est = C(model=_named_output, epochs=1, **{param: given, f"{param}__name": "x"})
    with pytest.raises(TypeError, match="does not accept parameters because it's not a class"):
        est.fit(X, y)
    assert trainings == [] and not hasattr(est, "model_")


@pytest.mark.parametrize(
    "param, value, match",
    [
        ("optimizer", "sgf", "Could not interpret optimizer 'sgf'"),
        ("loss", "binary_crossentropr", "Could not interpret loss"),
    ],
)
def test_unknown_names_are_refused_in_keras_words(param, value, match):
    X, y = _X_y()
    with pytest.raises(ValueError, match=match):
        C(model=_named_output, epochs=1, **{param: value}).fit(X, y)


class _SplitColumns:
    """A scikeras-style target encoder: a 0/1 matrix -> one (n, 1) float target per column."""

    def fit(self, y):
        self.n_outputs_ = y.shape[1]
        self.classes_ = [np.array([0, 1])] * y.shape[1]
        return self

    def get_metadata(self):
        return {
            "n_outputs_": self.n_outputs_,
            "n_outputs_expected_": self.n_outputs_,
            "classes_": self.classes_,
        }

    def transform(self, y):
        return np.split(np.asarray(y, dtype="float32"), y.shape[1], axis=1)

    def inverse_transform(self, y, return_proba=False):
        stacked = np.column_stack(y)
        return stacked if return_proba else (stacked >= 0.5).astype(int)


class _PerColumnClassifier(C):
    """scikeras's way of fitting a multi-label y: a subclass that encodes it."""

    @property
    def target_encoder(self):
        return _SplitColumns()


def _per_column_model(meta, compile_kwargs):
    inp = keras.Input((meta["n_features_in_"],))
    hidden = keras.layers.Dense(8, activation="relu")(inp)
    outs = [
        keras.layers.Dense(1, activation="sigmoid", name=f"out{i + 1}")(hidden)
        for i in range(meta["n_outputs_"])
    ]
    model = keras.Model(inp, outs)
    model.compile(**compile_kwargs)
    return model


def _two_columns(n=200):
    X = np.random.RandomState(0).randn(n, 4).astype("float32")
    return X, np.column_stack([X[:, 0] > 0, X[:, 1] > 0]).astype(int)


def test_a_subclass_target_encoder_encodes_y_and_decodes_the_outputs():
    X, Y = _two_columns()
    # without the encoder, MultiClassKerasClassifier refuses a multi-label y
    with pytest.raises(ValueError, match="MultiLabelKerasClassifier"):
        C(model=_per_column_model, loss="binary_crossentropy", epochs=1).fit(X, Y)
    seen = {}

    def model(meta, compile_kwargs):
        seen.update(meta)
        return _per_column_model(meta, compile_kwargs)

    est = _PerColumnClassifier(
        model=model,
        loss="binary_crossentropy",
        metrics={"out1": ["binary_accuracy"], "out2": ["binary_accuracy"]},
        epochs=40,
        learning_rate=0.02,
        random_state=0,
    ).fit(X, Y)
    assert seen["n_outputs_"] == 2 and isinstance(seen["target_encoder_"], _SplitColumns)
    assert isinstance(est.target_encoder_, _SplitColumns) and est.n_outputs_expected_ == 2
    assert len(est.model_.outputs) == 2
    proba = est.predict_proba(X)
    pred = est.predict(X)
    assert proba.shape == (200, 2) and pred.shape == (200, 2) and pred.dtype.kind == "i"
    np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
    assert (pred == Y).mean() > 0.85  # it learnt the two columns
    assert est.score(X, Y) == pytest.approx(np.mean(np.all(pred == Y, axis=1)))
    # pickled with its encoder; the safe file format refuses Python code
    est.set_params(model=_per_column_model)  # a local function does not pickle
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(again.predict_proba(X), proba, rtol=1e-5)
    assert isinstance(again.target_encoder_, _SplitColumns)
    with pytest.raises(TypeError, match="joblib"):
        est.save(os.devnull)
    # partial_fit goes on with the same encoder and network
    encoder = est.target_encoder_
    est.partial_fit(X, Y)
    assert est.target_encoder_ is encoder and len(est.history_["loss"]) == 41


def test_a_target_encoder_needs_a_model_and_an_explicit_loss_before_training(monkeypatch):
    X, Y = _two_columns(40)
    trainings = count_trainings(monkeypatch)
    with pytest.raises(ValueError, match="pass model="):
        _PerColumnClassifier(epochs=1).fit(X, Y)

    def uncompiled(meta):
        return _per_column_model(meta, {"optimizer": "adam"})  # compiled without a loss

    with pytest.raises(ValueError, match="give loss="):
        _PerColumnClassifier(model=uncompiled, epochs=1).fit(X, Y)
    with pytest.raises(ValueError, match="inverse_transform makes the decisions"):
        _PerColumnClassifier(model=_per_column_model, loss="binary_crossentropy", threshold="auto").fit(X, Y)
    assert trainings == []
    # a model compiled without a loss is compiled with the estimator's
    est = _PerColumnClassifier(model=uncompiled, loss="binary_crossentropy", epochs=1).fit(X, Y)
    assert est.predict(X).shape == (40, 2)


def test_the_built_in_target_encoder_is_public_and_kept_by_partial_fit():
    X, y = _X_y()
    y = np.where(y == 1, "yes", "no")
    est = C(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, y)
    encoder = est.target_encoder_
    assert list(encoder.get_metadata()["classes_"]) == ["no", "yes"]
    np.testing.assert_array_equal(encoder.transform(["no", "yes"]).ravel(), [0, 1])
    outputs = est.model_.predict(X, verbose=0)
    np.testing.assert_allclose(
        encoder.inverse_transform(outputs, return_proba=True), est.predict_proba(X), rtol=1e-5
    )
    np.testing.assert_array_equal(encoder.inverse_transform(outputs), est.predict(X))
    est.partial_fit(X, y)
    assert est.target_encoder_ is encoder


class _TwoInputs(C):
    @property
    def feature_encoder(self):
        from sklearn.preprocessing import FunctionTransformer

        return FunctionTransformer(lambda X: X * 10.0)


def test_a_subclass_feature_encoder_transforms_X_at_fit_and_at_predict():
    X, y = _X_y()
    seen = []

    def model(meta):
        inp = keras.Input((meta["n_features_in_"],))
        out = keras.layers.Lambda(lambda t: t)(inp)
        seen.append(meta["feature_encoder_"])
        return keras.Model(inp, keras.layers.Dense(2)(out))

    est = _TwoInputs(model=model, epochs=1, random_state=0).fit(X, y)
    assert seen[0] is est.feature_encoder_
    plain = C(model=model, epochs=1, random_state=0).fit(X * 10.0, y)
    np.testing.assert_allclose(est.predict_proba(X), plain.predict_proba(X * 10.0), rtol=1e-5)


def test_a_user_network_gets_integer_X_as_given_and_the_built_in_one_float32(monkeypatch):
    ids = np.array([[2**24 + 1, 3], [2**24 + 3, 5]] * 10, dtype=np.int64)  # not exact in float32
    y = np.array([0, 1] * 10)
    seen = []
    real = keras.Model.fit

    def recording(self, *args, **kwargs):
        seen.append(kwargs["x"])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", recording)

    def embedding(meta):
        inp = keras.Input((2,), dtype="int64")
        return keras.Model(inp, keras.layers.Flatten()(keras.layers.Embedding(10, 2)(inp % 10)))

    est = C(model=embedding, epochs=1).fit(ids, y)
    assert seen[-1].dtype == np.int64 and np.array_equal(seen[-1], ids)
    assert est.predict(ids).shape == (20,)
    C(model=embedding, epochs=1).fit(ids.astype(object), y)
    assert seen[-1].dtype == np.float32  # objects are converted, as in scikeras
    est = C(model=embedding, epochs=1).fit(ids % 10 * 1.0, y)
    est.partial_fit(ids % 10 * 1.0, y)  # float64 stays float64 after the first call too
    assert seen[-1].dtype == np.float64
    C(hidden_layer_sizes=(2,), epochs=1).fit(ids, y)
    assert seen[-1].dtype == np.float32


class _SplitInputs(C):
    @property
    def feature_encoder(self):
        from sklearn.preprocessing import FunctionTransformer

        return FunctionTransformer(lambda X: [X[:, :1], X[:, 1:]])


def test_a_feature_encoder_may_feed_a_model_with_several_inputs():
    X, y = _X_y(120)
    shapes = []

    def two_inputs(meta):
        shapes.append(meta["X_shape_"])
        a, b = keras.Input((1,)), keras.Input((3,))
        joined = keras.layers.Concatenate()([keras.layers.Dense(4)(a), keras.layers.Dense(4)(b)])
        return keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(joined))

    # early stopping, and threshold tuning out of fold, take the inputs' rows together
    _SplitInputs(model=two_inputs, epochs=3, early_stopping=True, random_state=0).fit(X, y)
    est = _SplitInputs(model=two_inputs, epochs=3, early_stopping=False, threshold="auto", random_state=0)
    est.fit(X, y)
    # one network per fit, and three out-of-fold ones for the thresholds
    assert shapes == [[(120, 1), (120, 3)]] * 5
    assert est.predict_proba(X).shape == (120, 2) and set(est.predict(X)) <= {0, 1}
    assert 0 <= est.score(X, y) <= 1

    class Ragged(C):
        @property
        def feature_encoder(self):
            from sklearn.preprocessing import FunctionTransformer

            return FunctionTransformer(lambda X: [X[:, :1], X[:-1, 1:]])

    with pytest.raises(ValueError, match="one row per sample"):
        Ragged(model=two_inputs, epochs=1).fit(X, y)


# ---------------------------------------------------------------------------
# scikeras's documented patterns (its notebooks, run with the import swapped)
# ---------------------------------------------------------------------------


def test_a_subclass_scorer_is_what_score_returns_everywhere():
    from sklearn.model_selection import cross_val_score

    class Scored(C):
        @staticmethod
        def scorer(y_true, y_pred, **kwargs):
            return -123.0

    X, y = _X_y()
    est = Scored(hidden_layer_sizes=(4,), dropout=0.0, epochs=1, random_state=0).fit(X, y)
    assert est.score(X, y) == -123.0
    assert list(cross_val_score(Scored(hidden_layer_sizes=(4,), epochs=1), X, y, cv=2)) == [-123.0, -123.0]
    # the plain class keeps its accuracy
    plain = C(hidden_layer_sizes=(4,), dropout=0.0, epochs=1, random_state=0).fit(X, y)
    assert 0 <= plain.score(X, y) <= 1


def test_a_scorer_gets_sample_weight_and_routed_score_arguments():
    seen = {}

    class Scored(C):
        @staticmethod
        def scorer(y_true, y_pred, sample_weight=None, **kwargs):
            seen.update(kwargs, sample_weight=sample_weight)
            from sklearn.metrics import fbeta_score

            return fbeta_score(y_true, y_pred, sample_weight=sample_weight, **kwargs)

    X, y = _X_y()
    est = Scored(hidden_layer_sizes=(4,), epochs=1, random_state=0, score__beta=2.0).fit(X, y)
    w = np.ones(len(y))
    est.score(X, y, sample_weight=w)
    assert seen["beta"] == 2.0 and seen["sample_weight"] is w


def test_a_scorer_scores_what_a_target_encoder_decodes():
    # DataTransformers: two outputs encoded by the subclass, scored its own way
    from sklearn.preprocessing import FunctionTransformer

    class TwoOutputs(C):
        @property
        def target_encoder(self):
            return FunctionTransformer(
                lambda y: [y[:, 0:1].astype("float32"), y[:, 1:2].astype("float32")],
                inverse_func=lambda out, return_proba=False: np.column_stack(
                    [(o > 0.5).astype(int) for o in out]
                ),
                check_inverse=False,
            )

        @staticmethod
        def scorer(y_true, y_pred, **kwargs):
            return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))

    def two_heads(meta, compile_kwargs):
        inp = keras.Input((meta["n_features_in_"],))
        outs = [keras.layers.Dense(1, activation="sigmoid", name=n)(inp) for n in ("a", "b")]
        model = keras.Model(inp, outs)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        return model

    X, y = _X_y()
    Y = np.column_stack([y, 1 - y])
    est = TwoOutputs(model=two_heads, epochs=1, random_state=0).fit(X, Y)
    assert est.score(X, Y) == pytest.approx(np.mean(est.predict(X) == Y))


def test_an_init_argument_the_subclass_does_not_store_is_left_out_with_a_warning():
    # MLPClassifier_MLPRegressor: __init__ takes optimizer__learning_rate and never stores it
    class MLPClassifier(C):
        def __init__(
            self,
            hidden_layer_sizes=(4,),
            optimizer="adam",
            optimizer__learning_rate=0.001,
            epochs=2,
            verbose=0,
            **kwargs,
        ):
            super().__init__(**kwargs)
            self.hidden_layer_sizes = hidden_layer_sizes
            self.optimizer = optimizer
            self.epochs = epochs
            self.verbose = verbose

    X, y = _X_y()
    est = MLPClassifier(random_state=0)
    params = est.get_params()
    assert "optimizer__learning_rate" not in params and params["hidden_layer_sizes"] == (4,)
    with pytest.warns(UserWarning, match=r"does not store it.*self\.optimizer__learning_rate ="):
        est.fit(X, y)
    assert len(est.history_["loss"]) == 2
    twin = clone(est)
    assert twin.get_params() == est.get_params()


def test_early_stopping_auto_leaves_a_users_own_model_on_every_row():
    X = np.random.RandomState(0).randn(1_200, 4).astype("float32")
    y = (X[:, 0] > 0).astype(int)
    own = C(model=lambda meta: _dense(meta, 4), epochs=2, random_state=0).fit(X, y)
    assert "val_loss" not in own.history_ and len(own.history_["loss"]) == 2
    builtin = C(hidden_layer_sizes=(4,), epochs=2, random_state=0).fit(X, y)
    assert "val_loss" in builtin.history_


# On JAX, Keras's own first fit of a model peeks at one batch of an extra
# shuffled pass to build its loss and metrics, which draws one more NumPy
# permutation; skmultihead builds them from the first row instead, so that a
# served, loaded or rolled-back network goes on exactly as the original
# (test_cache.py, test_robustness.py). A seeded plain Keras first fit on JAX
# therefore sees the rows in another order (user guide, "Coming from scikeras").
# On torch, the estimator seeds torch's generator for the fit and gives it
# its state back, which plain Keras does not: also another order.
@pytest.mark.backend("tensorflow")
@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_a_seeded_fit_of_a_users_model_equals_a_seeded_plain_keras_fit(dropout):
    X = np.random.RandomState(0).randn(200, 4).astype("float32")
    y = (X[:, 0] > 0).astype(int)

    def build(meta=None):
        inp = keras.Input((4,))
        h = keras.layers.Dropout(dropout)(keras.layers.Dense(8, activation="relu")(inp))
        model = keras.Model(inp, keras.layers.Dense(1, activation="sigmoid")(h))
        model.compile(optimizer="adam", loss="binary_crossentropy")
        return model

    keras.utils.set_random_seed(7)
    plain = build()
    plain.fit(X, y, epochs=3, batch_size=32, verbose=0)
    expected = plain.predict(X, verbose=0)[:, 0]
    est = C(model=build, epochs=3, batch_size=32, random_state=7).fit(X, y)
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "params",
    [{"predict__batch_size": "x"}, {"steps_per_execution": 0}, {"run_eagerly": "yes"}, {"fit__shuffle": 1}],
)
def test_keras_arguments_are_checked_at_fit_as_at_load(params, monkeypatch):
    # one check (_routing.check_keras_args) for fit and for a file's parameters
    X, y = _X_y()
    calls = count_trainings(monkeypatch)
    with pytest.raises((TypeError, ValueError), match=list(params)[0].replace("fit__", "")):
        C(hidden_layer_sizes=(4,), epochs=1, **params).fit(X, y)
    assert calls == []


def test_a_build_hook_reads_the_fit_metadata_on_self_as_in_scikeras():
    # scikeras's MLPClassifier notebook: _keras_build_fn reads self.target_type_ and self.n_classes_
    seen = {}

    class Hooked(C):
        def _keras_build_fn(self, compile_kwargs):
            seen.update(
                {
                    k: getattr(self, k)
                    for k in ("target_type_", "n_classes_", "X_shape_", "n_outputs_expected_")
                }
            )
            units = 1 if self.target_type_ == "binary" else self.n_classes_
            model = keras.Sequential(
                [
                    keras.Input((self.n_features_in_,)),
                    keras.layers.Dense(units, activation="sigmoid" if units == 1 else "softmax"),
                ]
            )
            model.compile(
                loss="binary_crossentropy" if units == 1 else "sparse_categorical_crossentropy",
                optimizer=compile_kwargs["optimizer"],
            )
            return model

    X = np.random.RandomState(0).randn(60, 4).astype("float32")
    Hooked(epochs=1).fit(X, (X[:, 0] > 0).astype(int))
    assert seen == {"target_type_": "binary", "n_classes_": 2, "X_shape_": (60, 4), "n_outputs_expected_": 1}
    est = Hooked(epochs=1).fit(X, np.digitize(X[:, 0], [-0.5, 0.5]))
    assert seen["target_type_"] == "multiclass" and est.predict_proba(X).shape == (60, 3)
