"""Decisions by rank: the k best labels per row, or at least m labels per row."""

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier

from ._helpers import FAST, count_trainings, learnable


def _fitted(**kw):
    X, _, _, Y = learnable(200)
    Y = np.column_stack([Y, Y[:, 0] & Y[:, 1], 1 - Y[:, 2]])
    return X, Y, MultiLabelKerasClassifier(**FAST, **kw).fit(X, Y)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_top_k_gives_each_row_its_k_most_probable_labels(k):
    X, Y, est = _fitted()
    proba = est.predict_proba(X)
    est.set_params(top_k=k)
    pred = est.predict(X)
    assert (pred.sum(axis=1) == k).all()
    # every chosen label is at least as probable as every label left out
    chosen_min = np.where(pred == 1, proba, np.inf).min(axis=1)
    left_max = np.where(pred == 0, proba, -np.inf).max(axis=1)
    assert (chosen_min >= left_max).all()


def test_min_labels_fills_empty_rows_with_their_best_label_only():
    X, Y, est = _fitted(threshold=0.99)  # most rows have no label over 0.99
    proba = est.predict_proba(X)
    scored = est.predict(X)
    empty = scored.sum(axis=1) == 0
    assert empty.any()
    est.set_params(min_labels=1)
    pred = est.predict(X)
    assert (pred.sum(axis=1) >= 1).all()
    np.testing.assert_array_equal(pred[~empty], scored[~empty])  # rows with labels keep them
    np.testing.assert_array_equal(pred[empty].argmax(axis=1), proba[empty].argmax(axis=1))
    assert (pred[empty].sum(axis=1) == 1).all()


def test_min_labels_keeps_labels_over_the_threshold_first():
    X, Y, est = _fitted()
    proba = est.predict_proba(X)
    # per-label thresholds under which the most probable label is not always decided
    t = np.array([0.9, 0.01, 0.9, 0.9, 0.9])
    est.set_params(threshold=t, min_labels=2)
    pred = est.predict(X)
    over = proba >= t
    assert (pred[over] == 1).all()
    assert (pred.sum(axis=1) == np.maximum(over.sum(axis=1), 2)).all()


def test_rank_rules_need_no_refit_and_a_grid_over_k_trains_once_per_split(monkeypatch):
    X, Y, est = _fitted()
    trainings = count_trainings(monkeypatch)
    weights = [w.copy() for w in est.model_.get_weights()]
    est.set_params(top_k=2).predict(X)
    for a, b in zip(weights, est.model_.get_weights()):
        np.testing.assert_array_equal(a, b)
    search = GridSearchCV(
        MultiLabelKerasClassifier(**FAST), {"top_k": [1, 2, 3]}, cv=2, scoring="f1_micro", refit=False
    ).fit(X, Y)
    assert len(trainings) == 2  # one network per split, shared by the three values of k
    assert len(set(search.cv_results_["mean_test_score"])) > 1


def test_rank_rules_are_checked_before_training_and_at_predict(monkeypatch):
    X, Y, est = _fitted()
    trainings = count_trainings(monkeypatch)
    with pytest.raises(ValueError, match="exceeds the 5 labels"):
        MultiLabelKerasClassifier(**FAST, top_k=6).fit(X, Y)
    with pytest.raises(ValueError, match="Set one of them"):
        MultiLabelKerasClassifier(**FAST, top_k=1, min_labels=1).fit(X, Y)
    with pytest.raises(ValueError, match="top_k"):
        MultiLabelKerasClassifier(**FAST, top_k=0).fit(X, Y)
    _, binary, _, _ = learnable(200)
    with pytest.raises(ValueError, match="multi-label task; this estimator's task is 'binary'"):
        MultiClassKerasClassifier(**FAST, min_labels=1).fit(X, binary)
    assert trainings == []
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="top_k"):
            est.set_params(top_k=bad).predict(X)


def test_rank_rules_apply_to_label_collections_and_sparse_y():
    import scipy.sparse as sp

    X, Y, _ = _fitted()
    names = np.array(["a", "b", "c", "d", "e"])
    collections = [tuple(names[row == 1]) for row in Y]
    est = MultiLabelKerasClassifier(**FAST, top_k=2).fit(X, collections)
    assert all(len(row) == 2 for row in est.predict(X))
    est = MultiLabelKerasClassifier(**FAST, min_labels=1, threshold=0.99).fit(X, sp.csr_matrix(Y))
    pred = est.predict(X)
    assert sp.issparse(pred) and (np.asarray(pred.sum(axis=1)).ravel() >= 1).all()
