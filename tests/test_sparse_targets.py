"""A sparse y stays sparse: it trains a batch at a time, early stopping and
``predict`` read it in chunks, and every answer is the one the same y gives
dense (the same batches, the same held-out rows, the same epoch)."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import skmultihead
from skmultihead import MultiLabelKerasClassifier, _fitting
from skmultihead import _data as data_module

from ._helpers import count_trainings

SMALL = dict(hidden_layer_sizes=(8,), dropout=0.0, epochs=3, random_state=0, fit_cache=False)


def _data(n, labels=5, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 8).astype(np.float32)
    Y = (X[:, np.arange(labels) % 8] + 0.5 * rng.randn(n, labels) > 0.8).astype(int)
    return X, Y


def _pair(X, Y, **params):
    dense = MultiLabelKerasClassifier(**{**SMALL, **params}).fit(X, Y)
    sparse = MultiLabelKerasClassifier(**{**SMALL, **params}).fit(X, sp.csr_matrix(Y))
    return dense, sparse


def _same_answers(dense, sparse, X):
    np.testing.assert_array_equal(dense.predict_proba(X), sparse.predict_proba(X))
    predicted = sparse.predict(X)
    assert sp.issparse(predicted)
    expected = dense.predict(X)
    np.testing.assert_array_equal(
        expected.toarray() if sp.issparse(expected) else expected, predicted.toarray()
    )
    np.testing.assert_array_equal(dense.thresholds_, sparse.thresholds_)
    assert dense.history_ == sparse.history_


@pytest.mark.parametrize(
    "n, params",
    [
        (300, {}),  # no early stopping under 1,000 rows
        (1200, {}),  # early stopping on validation micro-F1
        (1200, {"threshold": "auto"}),  # tuned on the held-out rows
        (300, {"threshold": "auto"}),  # tuned out of fold
        (1200, {"class_weight": "balanced"}),
        (300, {"shuffle": False}),
    ],
)
def test_sparse_y_gives_the_answers_of_the_same_y_dense(n, params):
    X, Y = _data(n)
    dense, sparse = _pair(X, Y, **params)
    _same_answers(dense, sparse, X)


def test_sparse_y_with_sample_weight_and_sparse_X():
    X, Y = _data(1200)
    w = np.random.RandomState(1).uniform(0.5, 2.0, len(X))
    Xs = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    dense = MultiLabelKerasClassifier(**SMALL).fit(Xs, Y, sample_weight=w)
    sparse = MultiLabelKerasClassifier(**SMALL).fit(Xs, sp.csr_matrix(Y), sample_weight=w)
    _same_answers(dense, sparse, Xs)


def test_parts_cannot_change_an_answer(monkeypatch):
    """Early stopping's micro-F1, the held-out probabilities and a sparse
    predict read one prediction call at a time when labels are many: the
    same calls as one pass, so the same answers. Calls of 32 rows here."""
    X, Y = _data(1200, labels=6)
    monkeypatch.setattr(data_module, "CHUNK_ENTRIES", 6 * 40)
    monkeypatch.setattr(data_module, "CALL_ROWS", 32)
    assert len(data_module.call_slices(120, 32, 6)) == 4
    sparse = MultiLabelKerasClassifier(threshold="auto", **SMALL).fit(X, sp.csr_matrix(Y))
    dense = MultiLabelKerasClassifier(threshold="auto", **SMALL).fit(X, Y)
    _same_answers(dense, sparse, X)
    # predict, a call at a time, thresholds what predict_proba gives in one pass
    decided = sparse.predict_proba(X) >= sparse.thresholds_
    np.testing.assert_array_equal(sparse.predict(X).toarray(), decided)
    # early stopping's micro-F1, counted a call at a time, is the one of all rows at once
    fitting = _fitting.Fitting(sparse)
    net, spec, targets = sparse._network_, sparse._spec_, [Y.astype(np.float32)]
    parts = fitting.validation_f1(net, spec, X, targets, None).score()
    monkeypatch.setattr(data_module, "CHUNK_ENTRIES", 1 << 20)
    whole = fitting.validation_f1(net, spec, X, targets, None).score()
    assert parts == whole > 0


def test_many_labels_never_make_a_dense_y(monkeypatch):
    """No NumPy array the size of y (dense) is made through fit and predict:
    the traced peak stays well below one dense copy of y in float32. (Parts
    of 65,536 outputs, prediction calls of 32 rows, no iterative
    stratification beyond 65,536 entries: each is bounded whatever the number
    of rows, and shrunk here so that y outweighs them on this scale. What
    grows with y is the held-out rows' probabilities, 0.1 of it.)"""
    monkeypatch.setattr(data_module, "CHUNK_ENTRIES", 1 << 16)
    monkeypatch.setattr(data_module, "CALL_ROWS", 32)  # a call's outputs: 32 x 10,000 floats
    monkeypatch.setattr(_fitting, "STRATIFY_MAX_ENTRIES", 1 << 16)
    n, labels = 2000, 10000
    rng = np.random.RandomState(0)
    X = rng.randn(n, 10).astype(np.float32)
    cols = rng.randint(0, labels, size=(n, 3))
    Y = sp.csr_matrix((np.ones(n * 3), cols.ravel(), np.arange(0, n * 3 + 1, 3)), shape=(n, labels))
    Y.sum_duplicates()
    Y.data[:] = 1
    dense_bytes = n * labels * 4
    clf = MultiLabelKerasClassifier(hidden_layer_sizes=(8,), epochs=1, random_state=0, fit_cache=False)
    tracemalloc.start()
    try:
        clf.fit(X, Y)
        fit_peak = tracemalloc.get_traced_memory()[1]
        clf.predict(X[:64])  # the prediction function is traced once (a few MB, whatever y is)
        tracemalloc.reset_peak()
        held = tracemalloc.get_traced_memory()[0]  # what the fitted estimator holds
        predicted = clf.predict(X)
        predict_peak = tracemalloc.get_traced_memory()[1] - held
    finally:
        tracemalloc.stop()
    assert sp.issparse(predicted) and predicted.shape == (n, labels)
    assert sp.issparse(clf._holdout_[0])  # the held-out labels stay sparse too
    answer = predicted.data.nbytes + predicted.indices.nbytes + predicted.indptr.nbytes
    assert fit_peak < 0.3 * dense_bytes, fit_peak / dense_bytes
    # the answer itself (sparse), and chunks of a bounded size
    assert predict_peak < 0.1 * dense_bytes + 2 * answer, (predict_peak / dense_bytes, answer / dense_bytes)


def test_many_labels_split_at_random_for_dense_and_sparse_y_alike(monkeypatch):
    """Beyond STRATIFY_MAX_ENTRIES the held-out rows are drawn at random,
    whatever form y has, so both forms still stop at the same epoch."""
    X, Y = _data(1200)
    targets = [Y.astype(np.float32)]
    spec = skmultihead._targets.infer_targets(Y, "multilabel")
    assert _fitting.stratification(spec, targets) is not None
    monkeypatch.setattr(_fitting, "STRATIFY_MAX_ENTRIES", 100)
    assert _fitting.stratification(spec, targets) is None
    assert _fitting.stratification(spec, [sp.csr_matrix(targets[0])]) is None
    dense, sparse = _pair(X, Y)
    _same_answers(dense, sparse, X)


def test_sparse_y_is_encoded_without_a_dense_copy_and_checked():
    X, Y = _data(300)
    clf = MultiLabelKerasClassifier(**SMALL).fit(X, sp.csr_matrix(Y))
    encoded = clf._spec_.encode(sp.csr_matrix(Y))[0]
    assert sp.issparse(encoded) and encoded.dtype == np.float32
    with pytest.raises(ValueError, match=r"0/1 or soft values in \[0, 1\]"):
        clf._spec_.encode(sp.csr_matrix(Y * 2))
    with pytest.raises(ValueError, match="y has 4 columns but the estimator was fitted with 5"):
        clf._spec_.encode(sp.csr_matrix(Y[:, :4]))
    with pytest.raises(ValueError, match="shape"):
        clf.score(X, sp.csr_matrix(Y[:, :4]))
    # scored sparse or dense alike, and the user's y is left as it was
    given = sp.csr_matrix(Y)
    before = given.copy()
    assert clf.score(X, given) == clf.score(X, Y)
    assert (given != before).nnz == 0 and given.dtype == before.dtype


def test_sparse_y_continues_and_is_served_by_the_fit_cache(monkeypatch):
    X, Y = _data(300)
    Ys = sp.csr_matrix(Y)
    clf = MultiLabelKerasClassifier(**{**SMALL, "fit_cache": "data"}).fit(X, Ys)
    clf.partial_fit(X, Ys)  # goes on from the sparse fit
    assert clf.predict(X).shape == Y.shape
    skmultihead.clear_cache()
    trainings = count_trainings(monkeypatch)
    first = MultiLabelKerasClassifier(**{**SMALL, "fit_cache": "data"}).fit(X, Ys)
    again = MultiLabelKerasClassifier(**{**SMALL, "fit_cache": "data"}).fit(X, Ys)
    assert len(trainings) == 1  # the second fit was served
    np.testing.assert_array_equal(first.predict_proba(X), again.predict_proba(X))


@pytest.mark.parametrize("seed", range(6))
def test_lean_micro_tuning_gives_the_thresholds_of_the_weighted_path(seed):
    """Unweighted "f1_micro" tuning (every entry known) runs on 0/1 labels
    and float32 scores; weights of 1 take the general float64 path, which
    must choose exactly the same thresholds (ties, empty and full labels,
    sparse y included)."""
    from skmultihead._thresholds import tune_thresholds

    rng = np.random.RandomState(seed)
    n, labels = rng.randint(5, 200), rng.randint(1, 30)
    proba = rng.uniform(size=(n, labels)).astype(np.float32)
    if seed % 2:
        proba = np.round(proba * 8) / 8  # many ties
    y = (rng.uniform(size=(n, labels)) < proba * rng.uniform(0.3, 1.0)).astype(np.float32)
    y[:, 0] = 0  # a label without positives
    if labels > 1:
        y[:, 1] = 1  # and one without negatives
    general = tune_thresholds(y, proba, "f1_micro", weights=np.ones(n))
    np.testing.assert_array_equal(tune_thresholds(y, proba, "f1_micro"), general)
    np.testing.assert_array_equal(tune_thresholds(sp.csr_matrix(y), proba, "f1_micro"), general)
    np.testing.assert_array_equal(tune_thresholds(y, proba.astype(np.float64), "f1_micro"), general)
