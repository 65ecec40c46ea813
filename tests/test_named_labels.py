"""Named labels: the column names of a DataFrame y are kept and checked."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from skmultihead import (
    MultiClassKerasClassifier,
    MultiLabelKerasClassifier,
    ThresholdDisplay,
    TrainingCurvesDisplay,
    load,
)

from ._helpers import FAST, learnable

matplotlib.use("Agg")

NAMES = ["sports", "politics", "arts"]


def _frame(kind="pandas"):
    X, _, _, Y = learnable(200)
    df = pd.DataFrame(Y, columns=NAMES)
    if kind == "polars":
        import polars as pl

        df = pl.from_pandas(df)
    return X, Y, df


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_multilabel_classes_are_the_column_names(kind):
    X, Y, df = _frame(kind)
    est = MultiLabelKerasClassifier(**FAST).fit(X, df)
    assert list(est.classes_) == NAMES
    assert list(est.target_names_) == NAMES
    assert isinstance(est.predict(X), np.ndarray) and est.predict(X).shape == Y.shape
    # an unnamed array reads as before
    plain = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    assert list(plain.classes_) == [0, 1, 2] and not hasattr(plain, "target_names_")


@pytest.mark.parametrize("kind", ["pandas", "polars"])
def test_columns_in_another_order_are_reordered_not_misread(kind):
    X, Y, df = _frame(kind)
    est = MultiLabelKerasClassifier(**FAST).fit(X, df)
    shuffled = (
        df[["arts", "sports", "politics"]] if kind == "pandas" else df.select(["arts", "sports", "politics"])
    )
    assert est.score(X, shuffled) == est.score(X, df) == est.score(X, Y)
    # the positional reading of the shuffled columns would score otherwise
    assert est.score(X, Y[:, [2, 0, 1]]) != est.score(X, Y)
    before = [w.copy() for w in est.model_.get_weights()]
    twin = MultiLabelKerasClassifier(**FAST).fit(X, df)
    est.partial_fit(X, shuffled)
    twin.partial_fit(X, df)
    for a, b in zip(est.model_.get_weights(), twin.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(before, est.model_.get_weights()))


def test_other_columns_are_refused_with_their_names():
    X, Y, df = _frame()
    est = MultiLabelKerasClassifier(**FAST).fit(X, df)
    renamed = df.rename(columns={"arts": "music"})
    for call in (lambda: est.score(X, renamed), lambda: est.partial_fit(X, renamed)):
        with pytest.raises(ValueError, match=r"missing \['arts'\].*unexpected \['music'\]"):
            call()
    with pytest.raises(ValueError, match="missing"):
        est.score(X, df[["arts", "sports"]])


def test_duplicate_column_names_are_refused_before_training():
    X, Y, _ = _frame()
    df = pd.DataFrame(Y, columns=["a", "a", "b"])
    with pytest.raises(ValueError, match=r"duplicate column names \['a'\]"):
        MultiLabelKerasClassifier(**FAST).fit(X, df)


def test_multi_output_and_one_hot_keep_their_names():
    X, binary, three, _ = learnable(200)
    outputs = pd.DataFrame({"colour": three, "size": binary})
    est = MultiClassKerasClassifier(**FAST).fit(X, outputs)
    assert list(est.target_names_) == ["colour", "size"]
    assert est.score(X, outputs[["size", "colour"]]) == est.score(X, outputs)
    onehot = pd.get_dummies(pd.Series(np.array(["cat", "dog", "eel"])[three]), dtype=int)
    clf = MultiClassKerasClassifier(**FAST).fit(X, onehot)
    assert list(clf.classes_) == ["cat", "dog", "eel"]
    assert clf.score(X, onehot[["eel", "cat", "dog"]]) == clf.score(X, onehot)


def test_threshold_display_titles_and_selects_by_column_name():
    X, Y, df = _frame()
    est = MultiLabelKerasClassifier(**FAST, threshold="auto").fit(X, df)
    display = ThresholdDisplay.from_estimator(est, labels=["arts", "sports"])
    assert display.labels_ == ["arts", "sports"]
    assert [a.get_title() for a in display.axes_.ravel()[:2]] == ["arts", "sports"]
    with pytest.raises(ValueError, match="music"):
        ThresholdDisplay.from_estimator(est, labels=["music"])


def test_names_survive_save_load_and_pickle(tmp_path):
    import pickle

    X, Y, df = _frame()
    est = MultiLabelKerasClassifier(**FAST).fit(X, df)
    est.save(tmp_path / "m.skmh")
    for back in (load(tmp_path / "m.skmh"), pickle.loads(pickle.dumps(est))):
        assert list(back.classes_) == NAMES and list(back.target_names_) == NAMES
        assert back.score(X, df[["arts", "sports", "politics"]]) == est.score(X, df)


def test_the_fit_cache_never_serves_other_names():
    X, Y, df = _frame()
    first = MultiLabelKerasClassifier(**FAST).fit(X, df)
    other = MultiLabelKerasClassifier(**FAST).fit(X, df.set_axis(["a", "b", "c"], axis=1))
    assert list(first.classes_) == NAMES and list(other.classes_) == ["a", "b", "c"]


def test_training_curves_title_per_output_panels_with_the_column_names():
    X, binary, three, _ = learnable(200)
    outputs = pd.DataFrame({"colour": three, "size": binary})
    est = MultiClassKerasClassifier(**FAST).fit(X, outputs)
    display = TrainingCurvesDisplay.from_estimator(est)
    titles = [a.get_title() for a in display.axes_.ravel()[: len(display.metrics_)]]
    assert any(t.startswith("colour: ") for t in titles) and any(t.startswith("size: ") for t in titles), (
        titles
    )
