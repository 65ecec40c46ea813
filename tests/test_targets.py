"""Task inference from y: every row of the task table, and every refusal."""

import numpy as np
import pytest
import scipy.sparse as sp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier
from skmultihead._targets import infer_targets

from ._helpers import FAST, learnable, make_X

try:
    import polars as pl
except ImportError:  # optional: its cases run where it is installed
    pl = None

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


# ---------------------------------------------------------------------------
# Each form's test is exact, and the messages name the values seen
# ---------------------------------------------------------------------------


def test_two_d_values_other_than_zero_and_one_are_read_per_column_not_as_onehot():
    y = np.array([[-1, -1], [-1, -1], [3, 3]])
    spec = infer_targets(y, MC)
    assert (spec.task, spec.form) == ("multiclass-multioutput", "columns")
    assert [c.tolist() for c in spec.classes] == [[-1, 3], [-1, 3]]
    spec = infer_targets(y, ML)  # two values per column: one binary label each
    assert (spec.task, spec.form) == ("multilabel", "binary_columns")


def test_a_single_row_of_minus_ones_is_refused_at_inference_naming_its_values():
    with pytest.raises(ValueError, match=r"only one class \(-1.0\).*the values \[-1.0\], not only 0s and 1s"):
        infer_targets(np.array([[-1.0, -1.0]]), MC)


@pytest.mark.parametrize("dtype", [int, float, bool])
def test_zero_one_rows_with_one_one_each_are_onehot_whatever_their_dtype(dtype):
    y = np.eye(3, dtype=dtype)[[0, 1, 2, 1]]
    spec = infer_targets(y, MC)
    assert (spec.task, spec.form, spec.y_dtype) == ("multiclass", "onehot", np.dtype(np.int64).str)


def test_onehot_encoding_is_exact():
    spec = infer_targets(np.eye(2, dtype=int)[[0, 1, 1]], MC)
    np.testing.assert_array_equal(spec.encode(np.array([[0, 1], [1, 0]]))[0], [1, 0])
    # rows summing to 1 with other values than 0 and 1 are not one-hot
    with pytest.raises(ValueError, match=r"one-hot like at fit.*the values \[-1, 2\]"):
        spec.encode(np.array([[-1, 2], [2, -1]]))


def test_indicator_encoding_names_values_outside_zero_one():
    spec = infer_targets(np.array([[0, 1], [1, 1], [0, 0]]), ML)
    with pytest.raises(ValueError, match=r"0/1 or soft values in \[0, 1\].*the values \[0, 1, 3\]"):
        spec.encode(np.array([[0, 3], [1, 1]]))


def test_regression_messages_name_the_values_or_their_range():
    y = np.linspace(-3.25, 7.5, 40)
    with pytest.raises(ValueError, match="40 distinct values from -3.25 to 7.5"):
        infer_targets(y, MC)
    with pytest.raises(ValueError, match=r"the values \[-0.5, 0.25, 2.5\].*regression target"):
        infer_targets(np.array([[0.25, 2.5], [-0.5, 0.25]]), ML)


def test_nullable_pandas_frames_are_read_as_the_numbers_they_hold():
    import pandas as pd

    onehot = pd.DataFrame(np.eye(3, dtype=int)[[0, 1, 2, 1]]).astype("Int64")
    spec = infer_targets(onehot, MC)
    assert spec.form == "onehot"
    np.testing.assert_array_equal(spec.encode(onehot)[0], [0, 1, 2, 1])
    indicator = pd.DataFrame({"a": [0, 1, 1, 0], "b": [True, True, False, False]}).astype("boolean")
    spec = infer_targets(indicator, ML)
    assert spec.form == "indicator"
    spec = infer_targets(pd.DataFrame({"a": [0, 1, 1, 0], "b": [1, 1, 0, 1]}).astype("Int64"), ML)
    assert (spec.form, spec.y_dtype) == ("indicator", np.dtype(np.int64).str)


def test_a_frame_of_an_int_column_and_a_string_column_is_multioutput():
    import pandas as pd

    y = pd.DataFrame({"n": [1, 2, 3, 1], "s": ["a", "b", "a", "b"]})
    spec = infer_targets(y, MC)
    assert spec.task == "multiclass-multioutput"
    assert [c.tolist() for c in spec.classes] == [[1, 2, 3], ["a", "b"]]


def test_label_collections_as_a_pandas_or_polars_series():
    import pandas as pd

    rows = [["drama", "comedy"], ["news"], ["news", "drama"]]
    for y in [pd.Series(rows)] + ([pl.Series(rows)] if pl else []):
        spec = infer_targets(y, ML)
        assert spec.form == "collections" and list(spec.classes[0]) == ["comedy", "drama", "news"]
        np.testing.assert_array_equal(spec.encode(y)[0], [[1, 1, 0], [0, 0, 1], [0, 1, 1]])
    X = make_X(30, 3)
    y = pd.Series([["drama", "comedy"] if x > 0 else ["news"] for x in X[:, 0]])
    clf = MultiLabelKerasClassifier(**FAST).fit(X, y)
    assert list(clf.classes_) == ["comedy", "drama", "news"] and 0 <= clf.score(X, y) <= 1


def test_a_list_of_strings_and_numbers_is_not_turned_into_strings():
    # np.asarray([1, "a"]) would be ['1', 'a']: two string classes nobody gave
    with pytest.raises(TypeError, match=r"y mixes label types \(int, str: e.g. 1 and 'a'\)"):
        infer_targets([1, "a", 1, "a"], MC)
    assert infer_targets(["1", "a", "1"], MC).classes[0].tolist() == ["1", "a"]


# ---------------------------------------------------------------------------
# missing_mask: the one place missing values are found
# ---------------------------------------------------------------------------


def test_missing_mask_marks_every_kind_of_missing_value_where_it_is():
    import pandas as pd

    from skmultihead._targets import missing_mask

    expected_1d = [False, True, False]
    for y in [
        ["a", float("nan"), "b"],
        ["a", None, "b"],
        np.array([0.0, np.nan, 1.0]),
        np.array(["2020-01-01", "NaT", "2020-01-02"], dtype="M8[D]"),
        pd.Series(["a", pd.NA, "b"], dtype="string"),
        pd.Series([1, None, 2], dtype="Int64"),
        pd.Series([True, None, False], dtype="boolean"),
        pd.Series(["a", None, "b"], dtype="category"),
        pd.Series(pd.to_datetime(["2020-01-01", None, "2020-01-02"])).dt.tz_localize("UTC"),
        [["a"], ["b", None], []],  # label collections: per row
        [["a"], None, ["b"]],
    ] + (
        [pl.Series(["a", None, "b"]), pl.Series([1, None, 2]), pl.Series([["a"], ["b", None], []])]
        if pl
        else []
    ):
        np.testing.assert_array_equal(missing_mask(y), expected_1d, err_msg=repr(y))
    assert not missing_mask(np.array(["a", "nan", "None"])).any()  # strings are labels
    frame = pd.DataFrame({"a": [0, 1, None], "b": [1, None, 0]}).astype("Int64")
    np.testing.assert_array_equal(missing_mask(frame), [[False, False], [False, True], [True, False]])
    sparse = missing_mask(sp.csr_matrix(np.array([[0.0, np.nan], [1.0, 0.0]])))
    assert sp.issparse(sparse) and sparse.shape == (2, 2)
    np.testing.assert_array_equal(sparse.toarray(), [[False, True], [False, False]])
