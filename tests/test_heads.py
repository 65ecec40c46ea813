"""Losses from logits, loss choice, and honest metrics."""

import keras
import numpy as np
import pytest

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier
from skmultihead._heads import F1, HammingLoss, SubsetAccuracy

from ._helpers import FAST, learnable


def test_auto_losses_are_computed_from_logits():
    X, yb, y3, Y = learnable()
    b = MultiClassKerasClassifier(**FAST).fit(X, yb)
    m = MultiClassKerasClassifier(**FAST).fit(X, y3)
    ml = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    assert isinstance(b._network_.train_model.loss, keras.losses.BinaryCrossentropy)
    assert isinstance(m._network_.train_model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert isinstance(ml._network_.train_model.loss, keras.losses.BinaryCrossentropy)
    for clf in (b, m, ml):
        assert clf._network_.train_model.loss.get_config()["from_logits"] is True
        # the training network ends in a linear (logit) layer
        assert clf._network_.train_model.layers[-1].get_config()["activation"] == "linear"


def test_multilabel_history_has_honest_metrics_and_no_bare_accuracy():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    assert "accuracy" not in clf.history_
    assert {"subset_accuracy", "hamming_loss", "f1_micro", "loss"} <= set(clf.history_)
    assert len(clf.history_["loss"]) == FAST["epochs"]


def test_asking_for_accuracy_on_multilabel_gives_subset_accuracy():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(metrics=["accuracy"], **FAST).fit(X, Y)
    assert list(k for k in clf.history_ if k != "loss") == ["subset_accuracy"]


def test_sparse_labels_expose_the_per_element_accuracy_trap():
    # 40 labels, 1 positive per row: predicting all zeros is 97.5% "binary
    # accuracy" but 0% subset accuracy and 0 F1.
    y_true = np.zeros((50, 40), dtype="float32")
    y_true[np.arange(50), np.arange(50) % 40] = 1
    logits = np.full((50, 40), -5.0, dtype="float32")
    binary = keras.metrics.BinaryAccuracy(threshold=0.0)
    binary.update_state(y_true, logits)
    assert float(binary.result()) > 0.97
    for metric, expected in [(SubsetAccuracy(), 0.0), (F1(40), 0.0), (HammingLoss(), 1 / 40)]:
        metric.update_state(y_true, logits)
        assert float(metric.result()) == pytest.approx(expected)


def test_keras_metrics_match_sklearn_metrics():
    from sklearn.metrics import accuracy_score, f1_score, hamming_loss

    rng = np.random.RandomState(0)
    y_true = (rng.rand(64, 6) > 0.6).astype("float32")
    logits = rng.randn(64, 6).astype("float32")
    y_pred = (logits >= 0).astype(int)
    expected = {
        "subset": accuracy_score(y_true, y_pred),
        "hamming": hamming_loss(y_true, y_pred),
        "micro": f1_score(y_true, y_pred, average="micro"),
        "macro": f1_score(y_true, y_pred, average="macro", zero_division=0),
    }
    got = {}
    for key, metric in [
        ("subset", SubsetAccuracy()),
        ("hamming", HammingLoss()),
        ("micro", F1(6)),
        ("macro", F1(6, "macro")),
    ]:
        metric.update_state(y_true[:30], logits[:30])
        metric.update_state(y_true[30:], logits[30:])  # accumulates over batches
        got[key] = float(metric.result())
    assert got == pytest.approx(expected, abs=1e-6)


def test_focal_loss_by_name_and_by_object_with_routed_args():
    X, _, _, Y = learnable()
    by_name = MultiLabelKerasClassifier(loss="binary_focal_crossentropy", loss__gamma=3.0, **FAST).fit(X, Y)
    loss = by_name._network_.train_model.loss
    assert isinstance(loss, keras.losses.BinaryFocalCrossentropy)
    assert loss.gamma == 3.0 and loss.from_logits is True
    obj = keras.losses.BinaryFocalCrossentropy(gamma=1.5)
    by_obj = MultiLabelKerasClassifier(loss=obj, **FAST).fit(X, Y)
    assert by_obj._network_.train_model.loss.from_logits is True
    assert obj.from_logits is False  # the user's object is not changed


def test_probability_losses_get_probabilities_on_logit_heads():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(loss="mean_squared_error", **FAST).fit(X, Y)
    assert np.isfinite(clf.history_["loss"]).all()
    # MSE on probabilities is bounded by 1; on raw logits it would not be
    assert max(clf.history_["loss"]) <= 1.0


def test_categorical_loss_on_a_sigmoid_head_is_refused():
    X, _, _, Y = learnable()
    with pytest.raises(ValueError, match="mutually exclusive"):
        MultiLabelKerasClassifier(loss="categorical_crossentropy", **FAST).fit(X, Y)


def test_categorical_crossentropy_on_multiclass_trains_on_onehot_targets():
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(loss="categorical_crossentropy", **FAST).fit(X, y3)
    assert isinstance(clf._network_.train_model.loss, keras.losses.CategoricalCrossentropy)
    assert clf.predict_proba(X).shape == (len(X), 3)


def test_user_keras_metric_receives_probabilities():
    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(metrics=[keras.metrics.Precision(name="precision")], **FAST).fit(X, yb)
    assert all(0.0 <= v <= 1.0 for v in clf.history_["precision"])


def test_unknown_metric_name_lists_known_names():
    X, yb, _, _ = learnable()
    with pytest.raises(ValueError, match="subset_accuracy"):
        MultiClassKerasClassifier(metrics=["acuracy"], **FAST).fit(X, yb)
