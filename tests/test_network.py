"""The built-in trunk, user models (scikeras convention) and complete models."""

import keras
import numpy as np
import pytest

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import FAST, learnable


def test_default_trunk_follows_hidden_layer_sizes_dropout_and_batchnorm():
    X, _, y, _ = learnable()
    clf = MultiClassKerasClassifier(
        hidden_layer_sizes=(7, 5), dropout=0.25, batch_normalization=True, epochs=1, random_state=0
    ).fit(X, y)
    dense = [layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [7, 5, 3]
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in clf.model_.layers) == 2
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in clf.model_.layers) == 2


def test_callable_model_gets_meta_and_routed_params_and_estimator_adds_heads():
    seen = {}

    def trunk(meta, units):
        seen.update(meta=meta, units=units)
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, keras.layers.Dense(units, activation="relu")(inp))

    X, _, y, _ = learnable()
    clf = MultiClassKerasClassifier(trunk, model__units=6, epochs=2, random_state=0).fit(X, y)
    assert seen["units"] == 6
    meta = seen["meta"]
    assert meta["n_features_in_"] == 5 and meta["n_classes_"] == 3 and meta["n_outputs_"] == 1
    assert meta["target_type_"] == "multiclass" and meta["X_shape_"] == X.shape
    assert clf.model_.get_layer("output").units == 3  # the head was added
    assert clf.get_params()["model__units"] == 6


def test_routed_model_params_are_searchable_and_cloned():
    from sklearn.base import clone

    def trunk(meta, units=4):
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, keras.layers.Dense(units)(inp))

    clf = MultiClassKerasClassifier(trunk, model__units=3)
    clf.set_params(model__units=9)
    assert clone(clf).get_params()["model__units"] == 9


def test_unknown_routed_model_param_is_refused_at_fit():
    def trunk(meta):
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, keras.layers.Dense(4)(inp))

    X, yb, _, _ = learnable()
    with pytest.raises(TypeError, match="model__units.*unexpected keyword argument"):
        MultiClassKerasClassifier(trunk, model__units=3, epochs=1).fit(X, yb)


def test_unknown_parameter_is_refused_at_fit():
    X, yb, _, _ = learnable()
    with pytest.raises(TypeError, match="epoch"):
        MultiClassKerasClassifier(epoch=3).fit(X, yb)


def scikeras_style_model(meta, hidden=8):
    """A complete, compiled model written for scikeras."""
    model = keras.Sequential(
        [
            keras.Input((meta["n_features_in_"],)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(meta["n_classes_"]),
            keras.layers.Activation("softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    return model


def test_scikeras_style_complete_model_is_used_as_is():
    X, _, y, _ = learnable()
    clf = MultiClassKerasClassifier(scikeras_style_model, model__hidden=8, epochs=3, random_state=0).fit(X, y)
    assert len(clf.model_.layers) == 3  # no head added on top of the softmax
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1, rtol=1e-5)


def test_sigmoid_over_exclusive_classes_is_refused_naming_softmax():
    def model(meta):
        return keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(meta["n_classes_"], activation="sigmoid"),
            ]
        )

    X, _, y, _ = learnable()
    with pytest.raises(ValueError, match="softmax"):
        MultiClassKerasClassifier(model, epochs=1).fit(X, y)


def test_softmax_over_independent_labels_is_refused_naming_sigmoid():
    def model(meta):
        return keras.Sequential(
            [
                keras.Input((meta["n_features_in_"],)),
                keras.layers.Dense(meta["n_classes_"], activation="softmax"),
            ]
        )

    X, _, _, Y = learnable()
    with pytest.raises(ValueError, match="sigmoid"):
        MultiLabelKerasClassifier(model, epochs=1).fit(X, Y)


def test_complete_model_with_wrong_unit_count_is_refused():
    def model(meta):
        return keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(5, activation="sigmoid")]
        )

    X, _, _, Y = learnable()
    with pytest.raises(ValueError, match="5 units"):
        MultiLabelKerasClassifier(model, epochs=1).fit(X, Y)


def test_binary_complete_model_with_two_softmax_units_is_accepted():
    def model(meta):
        return keras.Sequential(
            [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(2, activation="softmax")]
        )

    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(model, epochs=2, random_state=0).fit(X, yb)
    assert clf.predict_proba(X).shape == (len(X), 2)
    assert set(clf.predict(X)) <= {0, 1}


def test_model_instance_is_cloned_not_trained():
    inp = keras.Input((5,))
    trunk = keras.Model(inp, keras.layers.Dense(4, activation="relu")(inp))
    before = [w.copy() for w in trunk.get_weights()]
    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(trunk, epochs=2, random_state=0).fit(X, yb)
    for a, b in zip(before, trunk.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert clf.model_ is not trunk


def test_cnn_on_images_with_a_user_trunk():
    def cnn(meta):
        inp = keras.Input(meta["X_shape_"][1:])
        x = keras.layers.Conv2D(4, 3, activation="relu")(inp)
        return keras.Model(inp, keras.layers.GlobalAveragePooling2D()(x))

    rng = np.random.RandomState(0)
    X = rng.rand(40, 8, 8, 1).astype("float32")
    y = rng.randint(0, 3, 40)
    clf = MultiClassKerasClassifier(cnn, epochs=1, random_state=0).fit(X, y)
    assert clf.predict_proba(X).shape == (40, 3)


def test_builtin_trunk_refuses_images_with_advice():
    X = np.zeros((6, 4, 4, 1), dtype="float32")
    clf = MultiClassKerasClassifier(lambda meta: _flat(meta), epochs=1)
    clf.fit(X, [0, 1, 2, 0, 1, 2])  # a user model takes them
    with pytest.raises(ValueError):
        MultiClassKerasClassifier(epochs=1).fit(X, [0, 1, 2, 0, 1, 2])


def _flat(meta):
    inp = keras.Input(meta["X_shape_"][1:])
    return keras.Model(inp, keras.layers.Flatten()(inp))


def test_multi_output_heads_get_per_head_losses_and_weights():
    X, yb, y3, _ = learnable()
    Y = np.column_stack([yb, y3])
    clf = MultiClassKerasClassifier(
        loss=["binary_focal_crossentropy", "auto"], loss_weights=[2.0, 0.5], **FAST
    ).fit(X, Y)
    losses = clf._network_.train_model.loss
    assert isinstance(losses[0], keras.losses.BinaryFocalCrossentropy)
    assert {"output_0_loss", "output_1_loss", "output_0_accuracy", "output_1_accuracy"} <= set(clf.history_)
    with pytest.raises(ValueError, match="one loss per output"):
        MultiClassKerasClassifier(loss=["auto"], **FAST).fit(X, Y)
