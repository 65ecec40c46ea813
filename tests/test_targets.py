"""Task inference from y: every row of the task table, and every refusal."""

import numpy as np
import pytest
import scipy.sparse as sp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier
from skmultihead._targets import infer_targets

from ._helpers import FAST, learnable, make_X

MC, ML = "multiclass", "multilabel"


@pytest.mark.parametrize(
    "y",
    [
        np.array([0, 1] * 10),
        np.array(["no", "yes"] * 10),
        np.array([True, False] * 10),
        np.array([-1, 1] * 10),
    ],
    ids=["ints", "strings", "bools", "minus-one-one"],
)
def test_two_classes_of_any_label_type_is_binary(y):
    spec = infer_targets(y, MC)
    assert spec.task == "binary"
    assert [h.kind for h in spec.heads] == ["binary"] and spec.heads[0].units == 1
    np.testing.assert_array_equal(spec.classes[0], np.unique(y))


def test_binary_round_trips_string_labels_through_fit_and_predict():
    X, yb, _, _ = learnable()
    y = np.where(yb == 1, "spam", "ham")
    clf = MultiClassKerasClassifier(**FAST).fit(X, y)
    assert clf.task_ == "binary"
    assert set(clf.predict(X)) <= {"spam", "ham"}
    assert clf.predict_proba(X).shape == (len(X), 2)
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0, rtol=1e-6)


def test_more_than_two_classes_is_multiclass_softmax():
    X, _, y, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, y)
    assert clf.task_ == "multiclass"
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert clf.model_.layers[-1].get_config()["activation"] == "softmax"


def test_onehot_y_is_multiclass_and_predicts_onehot():
    X, _, y, _ = learnable()
    Y = np.eye(3, dtype=int)[y]
    clf = MultiClassKerasClassifier(**FAST).fit(X, Y)
    assert clf.task_ == "multiclass"
    pred = clf.predict(X)
    assert pred.shape == Y.shape and pred.dtype == Y.dtype
    np.testing.assert_array_equal(pred.sum(axis=1), 1)
    np.testing.assert_array_equal(np.argmax(pred, axis=1), np.argmax(clf.predict_proba(X), axis=1))


def test_onehot_y_given_to_multilabel_is_a_valid_indicator():
    spec = infer_targets(np.eye(3, dtype=int)[[0, 1, 2, 1]], ML)
    assert spec.task == "multilabel" and spec.heads[0].units == 3


def test_rows_with_several_ones_refused_by_multiclass_naming_multilabel():
    Y = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="MultiLabelKerasClassifier") as err:
        MultiClassKerasClassifier(**FAST).fit(make_X(3), Y)
    assert "several 1s" in str(err.value)


def test_rows_without_a_one_refused_by_multiclass():
    Y = np.array([[1, 0], [0, 0], [0, 1]])
    with pytest.raises(ValueError, match="no 1"):
        infer_targets(Y, MC)


def test_multilabel_indicator_is_sigmoid_multilabel():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    assert clf.task_ == "multilabel"
    assert clf.predict_proba(X).shape == Y.shape
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    np.testing.assert_array_equal(clf.classes_, np.arange(3))
    assert clf.model_.layers[-1].get_config()["activation"] == "sigmoid"


def test_sparse_indicator_y_predicts_sparse():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(**FAST).fit(X, sp.csr_matrix(Y))
    pred = clf.predict(X)
    assert sp.issparse(pred) and pred.shape == Y.shape
    assert 0 <= clf.score(X, sp.csr_matrix(Y)) <= 1


def test_soft_labels_train_multilabel_and_score_explains_itself():
    X = make_X(80, 4)
    soft = 1 / (1 + np.exp(-X[:, :3]))
    clf = MultiLabelKerasClassifier(**FAST).fit(X, soft)
    assert clf.task_ == "multilabel" and clf._spec_.form == "soft"
    assert clf.predict_proba(X).shape == (80, 3)
    with pytest.raises(ValueError, match="soft labels"):
        clf.score(X, soft)


def test_soft_labels_refused_by_multiclass():
    soft = np.random.RandomState(0).uniform(0.01, 0.99, size=(10, 3))
    with pytest.raises(ValueError, match="MultiLabelKerasClassifier"):
        infer_targets(soft, MC)


def test_label_collections_use_label_names():
    X = make_X(40, 3)
    y = [["drama", "comedy"] if x > 0 else ["news"] for x in X[:, 0]]
    clf = MultiLabelKerasClassifier(**FAST).fit(X, y)
    assert list(clf.classes_) == ["comedy", "drama", "news"]
    pred = clf.predict(X)
    assert isinstance(pred, list) and all(set(p) <= {"comedy", "drama", "news"} for p in pred)
    assert 0 <= clf.score(X, y) <= 1


def test_label_collections_refused_by_multiclass():
    with pytest.raises(ValueError, match="MultiLabelKerasClassifier"):
        infer_targets([["a", "b"], ["c"]], MC)


def test_columns_with_own_classes_are_multioutput_with_one_head_each():
    X, yb, y3, _ = learnable()
    Y = np.column_stack([np.where(yb, "yes", "no"), np.array(["a", "b", "c"])[y3]])
    clf = MultiClassKerasClassifier(**FAST).fit(X, Y)
    assert clf.task_ == "multiclass-multioutput"
    assert clf.n_outputs_ == 2
    assert [list(c) for c in clf.classes_] == [["no", "yes"], ["a", "b", "c"]]
    pred = clf.predict(X)
    assert pred.shape == (len(X), 2)
    assert set(pred[:, 0]) <= {"no", "yes"} and set(pred[:, 1]) <= {"a", "b", "c"}
    proba = clf.predict_proba(X)
    assert [p.shape for p in proba] == [(len(X), 2), (len(X), 3)]
    # one shared trunk: both heads read the same hidden layer
    heads = [clf.model_.get_layer(f"output_{j}") for j in range(2)]
    assert all(h.input is heads[0].input for h in heads)


def test_multioutput_refused_by_multilabel():
    Y = np.column_stack([[0, 1, 2, 0], [1, 2, 0, 1]])
    with pytest.raises(ValueError, match="MultiClassKerasClassifier"):
        infer_targets(Y, ML)


def test_one_d_y_refused_by_multilabel_naming_multiclass():
    with pytest.raises(ValueError, match="MultiClassKerasClassifier"):
        MultiLabelKerasClassifier(**FAST).fit(make_X(4), [0, 1, 0, 1])


@pytest.mark.parametrize("kind", [MC, ML])
def test_continuous_target_is_called_a_regression_target(kind):
    y = np.random.RandomState(0).randn(20) * 10
    with pytest.raises(ValueError, match="regression target"):
        infer_targets(y if kind == MC else y.reshape(-1, 2), kind)


def test_one_class_refused():
    with pytest.raises(ValueError, match="only one class"):
        infer_targets(np.zeros(10), MC)


def test_refusals_happen_before_any_training(monkeypatch):
    import keras

    def boom(*a, **k):
        raise AssertionError("training started")

    monkeypatch.setattr(keras.Model, "fit", boom)
    with pytest.raises(ValueError):
        MultiClassKerasClassifier(**FAST).fit(make_X(3), np.array([[1, 1], [0, 1], [1, 0]]))
    with pytest.raises(ValueError):
        MultiLabelKerasClassifier(**FAST).fit(make_X(3), [0, 1, 1])


def test_unseen_label_at_score_is_named():
    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, yb)
    with pytest.raises(ValueError, match="labels not seen at fit"):
        clf._spec_.encode(np.full(len(X), 7))


def test_every_form_is_one_class_that_knows_its_tasks():
    from skmultihead._targets import FORM_CLASSES, FORMS, TASKS, Form

    assert set(FORM_CLASSES) == set(FORMS)
    for name, form in FORM_CLASSES.items():
        assert isinstance(form, Form) and form.name == name
        assert form.tasks and set(form.tasks) <= set(TASKS), name
        # every form encodes and decides for itself
        assert type(form).encode is not Form.encode and type(form).decide is not Form.decide, name
