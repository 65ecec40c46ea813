"""A few rows are predicted by a NumPy forward pass, which must give the
backend's answers and follow every change of the weights."""

import pickle

import keras
import numpy as np
import pytest
import scipy.sparse as sp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _npforward, load
from skmultihead._data import forward

from ._helpers import FAST, learnable

SMALL = _npforward.SMALL_ROWS


def _backend_proba(clf, X):
    """What the backend's own forward pass gives (never the NumPy one)."""
    return forward(clf._network_.proba_model, X, 32)


def _uses_numpy(clf) -> bool:
    return bool(clf._network_._snapshot)


def _tasks():
    X, binary, three, labels = learnable(200)
    onehot = np.eye(3, dtype=int)[three]
    soft = np.column_stack([1 - (X[:, 0] > 0) * 0.8, (X[:, 0] > 0) * 0.8])
    return X, {
        "binary": (MultiClassKerasClassifier, binary),
        "multiclass": (MultiClassKerasClassifier, three),
        "one-hot": (MultiClassKerasClassifier, onehot),
        "multi-label": (MultiLabelKerasClassifier, labels),
        "soft": (MultiLabelKerasClassifier, soft),
        "multi-output": (MultiClassKerasClassifier, np.column_stack([binary, three])),
    }


X_ALL, TASKS = _tasks()


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize(
    "network",
    [
        dict(hidden_layer_sizes=(8,), dropout=0.0),
        dict(hidden_layer_sizes=(16, 8), dropout=0.3, batch_normalization=True, activation="tanh"),
    ],
    ids=["plain", "dropout-batchnorm-tanh"],
)
def test_a_few_rows_get_the_backends_answers_on_every_task(task, network):
    cls, y = TASKS[task]
    clf = cls(**{**FAST, **network}).fit(X_ALL, y)
    for rows in (slice(0, 1), slice(3, 5), slice(10, 10 + SMALL)):
        X = X_ALL[rows]
        proba, expected = clf.predict_proba(X), clf._spec_.predict_proba(_backend_proba(clf, X))
        for got, want in zip(
            proba if isinstance(proba, list) else [proba],
            expected if isinstance(expected, list) else [expected],
        ):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(
            clf.predict(X), clf.predict(np.concatenate([X, X_ALL[:SMALL]]))[: len(X)]
        )
    assert _uses_numpy(clf)


def test_training_again_is_followed():
    X, _, _, Y = learnable(200)
    clf = MultiLabelKerasClassifier(**{**FAST, "warm_start": True}).fit(X, Y)
    before = clf.predict_proba(X[:2])
    assert _uses_numpy(clf)
    clf.partial_fit(X, Y)
    after = clf.predict_proba(X[:2])
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, _backend_proba(clf, X[:2])[0], rtol=1e-5, atol=1e-6)
    clf.fit(X, 1 - Y)  # warm start: the same network, trained on
    np.testing.assert_allclose(clf.predict_proba(X[:2]), _backend_proba(clf, X[:2])[0], rtol=1e-5, atol=1e-6)


def test_weights_changed_through_model_are_used():
    X, _, _, Y = learnable(200)
    clf = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    clf.predict_proba(X[:1])  # a NumPy copy of the weights now exists
    model = clf.model_
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    np.testing.assert_allclose(clf.predict_proba(X[:1]), 0.5)
    assert not _uses_numpy(clf)
    model.set_weights([np.ones_like(w) for w in model.get_weights()])  # the same reference, later
    np.testing.assert_allclose(clf.predict_proba(X[:1]), _backend_proba(clf, X[:1])[0], rtol=1e-6)


class _Keep(keras.callbacks.Callback):
    pass


@pytest.mark.parametrize(
    "kwargs",
    [
        {"callbacks": [_Keep()]},
        {
            "model": lambda meta: keras.Sequential(
                [keras.Input((meta["n_features_in_"],)), keras.layers.Dense(4)]
            )
        },
    ],
    ids=["a user's callback", "a user's model"],
)
def test_a_network_user_code_has_seen_runs_on_the_backend(kwargs):
    X, _, _, Y = learnable(200)
    clf = MultiLabelKerasClassifier(**{**FAST, **kwargs}).fit(X, Y)
    np.testing.assert_allclose(clf.predict_proba(X[:1]), _backend_proba(clf, X[:1])[0], rtol=1e-6)
    assert not _uses_numpy(clf)


def test_a_few_sparse_rows_and_a_loaded_estimator(tmp_path):
    X, _, three, _ = learnable(200)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0))
    clf = MultiClassKerasClassifier(**FAST).fit(Xs, three)
    np.testing.assert_allclose(clf.predict_proba(Xs[:3]), clf.predict_proba(Xs)[:3], rtol=1e-5, atol=1e-6)
    assert _uses_numpy(clf)
    clf.save(tmp_path / "clf.skmh")
    for again in (pickle.loads(pickle.dumps(clf)), load(tmp_path / "clf.skmh")):
        np.testing.assert_allclose(
            again.predict_proba(Xs[:3]), clf.predict_proba(Xs[:3]), rtol=1e-5, atol=1e-6
        )
        assert _uses_numpy(again)


def _one_layer_model(layer, n_features=6):
    inputs = keras.Input((n_features,))
    return keras.Model(inputs, layer(keras.layers.Dense(5)(inputs)))


@pytest.mark.parametrize("name", sorted(_npforward._ACTIVATIONS))
def test_every_activation_in_the_table_matches_keras(name):
    x = np.random.RandomState(0).randn(7, 6).astype(np.float32) * 3
    for layer in (keras.layers.Dense(4, activation=name), keras.layers.Activation(name)):
        model = _one_layer_model(layer)
        plan = _npforward.plan(model)
        assert plan is not None
        np.testing.assert_allclose(
            plan.snapshot().run(x)[0],
            keras.ops.convert_to_numpy(model(x, training=False)),
            rtol=1e-5,
            atol=1e-6,
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: _one_layer_model(
            lambda t: keras.layers.Dropout(0.5)(t, training=True)
        ),  # dropout at inference
        lambda: _one_layer_model(keras.layers.LayerNormalization()),
        lambda: _one_layer_model(keras.layers.Dense(3, activation=lambda z: z * 2)),
        lambda: _one_layer_model(keras.layers.Dense(3, dtype="float16")),
        lambda: keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)]),
    ],
    ids=["dropout kept on", "an unknown layer", "an unknown activation", "float16", "Sequential"],
)
def test_what_is_not_known_exactly_gets_no_plan(make):
    assert _npforward.plan(make()) is None
