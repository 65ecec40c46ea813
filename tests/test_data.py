"""X in every form: sparse, DataFrames, dtypes; row order; threads."""

import re
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _data

from ._helpers import FAST, learnable


def sparse_problem(n=400, d=60, seed=0):
    X = sp.random(n, d, density=0.05, format="csr", dtype=np.float32, random_state=seed)
    Y = (X[:, :6].toarray() > 0).astype(int)
    Y[:, 0] = np.asarray(X.sum(axis=1)).ravel() > 0.6
    return X, Y


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.csr_array, sp.coo_matrix])
def test_sparse_and_dense_give_the_same_predictions(container):
    X, Y = sparse_problem()
    # plain SGD: the sparse and dense products round differently (by CPU and
    # kernel), and Adam's step, which divides by the root of tiny second
    # moments, would magnify that rounding into visibly different networks
    kw = dict(FAST, optimizer="sgd", learning_rate=0.1)
    on_sparse = MultiLabelKerasClassifier(**kw).fit(container(X), Y)
    on_dense = MultiLabelKerasClassifier(**kw).fit(X.toarray(), Y)
    assert not np.allclose(on_dense.predict_proba(X.toarray()), 0.5, atol=1e-3)  # it learned
    np.testing.assert_allclose(
        on_sparse.predict_proba(container(X)), on_dense.predict_proba(X.toarray()), atol=1e-5
    )
    np.testing.assert_allclose(on_sparse.predict_proba(X.toarray()), on_sparse.predict_proba(X), atol=1e-6)
    assert on_sparse.score(container(X), Y) == pytest.approx(on_dense.score(X.toarray(), Y), abs=0.02)


def test_sparse_input_is_never_densified_whole(monkeypatch):
    X, Y = sparse_problem(3000)
    seen = []
    for cls in (sp.csr_matrix, sp.csr_array, sp.coo_matrix):
        real = cls.toarray

        def recording(self, *a, _real=real, **k):
            if self.shape[1] == X.shape[1]:  # X, not the (small) label matrix
                seen.append(self.shape[0])
            return _real(self, *a, **k)

        monkeypatch.setattr(cls, "toarray", recording)
    clf = MultiLabelKerasClassifier(**FAST).fit(X, sp.csr_matrix(Y))
    clf.predict_proba(X)
    clf.predict(X)
    assert all(rows <= max(_data.DIRECT_ROWS, clf.batch_size) for rows in seen), seen
    assert not any(rows == X.shape[0] for rows in seen)


def test_sparse_input_into_a_dense_user_model_goes_by_batches():
    import keras

    def trunk(meta):
        inp = keras.Input((meta["n_features_in_"],))
        return keras.Model(inp, keras.layers.Dense(8, activation="relu")(inp))

    X, Y = sparse_problem(2500)
    clf = MultiLabelKerasClassifier(trunk, epochs=1, random_state=0).fit(X, Y)
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(X.toarray()), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.int32, np.float32])
def test_numeric_dtypes_become_float32(dtype):
    X, yb, _, _ = learnable()
    Xd = (X * 10).astype(dtype)
    clf = MultiClassKerasClassifier(**FAST).fit(Xd, yb)
    ref = MultiClassKerasClassifier(**FAST).fit(Xd.astype(np.float32), yb)
    np.testing.assert_array_equal(clf.predict_proba(Xd), ref.predict_proba(Xd.astype(np.float32)))


def test_float32_input_is_not_copied():
    X, _, _, _ = learnable()
    clf = MultiClassKerasClassifier()
    assert _data.check_X(clf, X, reset=True) is X


def test_dataframe_keeps_feature_names_and_set_output_pipelines_work():
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, _, y3, _ = learnable()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    pipe = make_pipeline(StandardScaler().set_output(transform="pandas"), MultiClassKerasClassifier(**FAST))
    pipe.fit(df, y3)
    assert list(pipe[-1].feature_names_in_) == list(df.columns)
    assert pipe.predict(df).shape == (len(df),)
    with pytest.raises(ValueError, match="feature names"):
        pipe[-1].predict(df[df.columns[::-1]])


def test_predictions_do_not_depend_on_row_order_or_batch_company():
    X, _, _, Y = learnable()
    clf = MultiLabelKerasClassifier(**FAST).fit(X, Y)
    full = clf.predict_proba(X)
    order = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_allclose(clf.predict_proba(X[order]), full[order], rtol=1e-5, atol=1e-7)
    for i in (0, 7, 59):  # a row alone is predicted as within the batch
        np.testing.assert_allclose(clf.predict_proba(X[i : i + 1])[0], full[i], rtol=1e-5, atol=1e-7)


def test_threads_get_the_same_answers_as_serial_calls():
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST).fit(X, y3)
    big = np.tile(X, (20, 1))  # above DIRECT_ROWS: predicted in batches
    serial_small = [clf.predict_proba(X[i : i + 5]) for i in range(0, 100, 5)]
    serial_big = clf.predict_proba(big)

    def small(i):
        return clf.predict_proba(X[i : i + 5])

    with ThreadPoolExecutor(8) as pool:
        threaded_small = list(pool.map(small, range(0, 100, 5)))
        threaded_big = list(pool.map(lambda _: clf.predict_proba(big), range(4)))
    for a, b in zip(serial_small, threaded_small):
        np.testing.assert_array_equal(a, b)
    for b in threaded_big:
        np.testing.assert_array_equal(serial_big, b)


def test_a_search_prints_no_retracing_warnings(caplog):
    # Each candidate's network is traced once per input shape; TensorFlow would
    # count all candidates as one function retraced again and again.
    X, _, y3, _ = learnable()
    big = np.tile(X, (10, 1))
    with caplog.at_level("WARNING", logger="tensorflow"):
        for lr in np.linspace(1e-3, 1e-2, 8):
            clf = MultiClassKerasClassifier(**{**FAST, "learning_rate": lr}).fit(X, y3)
            clf.predict_proba(X[:3])
            clf.predict_proba(big)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


def test_the_fast_predict_validation_answers_as_validate_data_does():
    import pandas as pd
    from sklearn.utils.validation import validate_data

    X, Y = sparse_problem()
    dense = X.toarray()
    clf = MultiLabelKerasClassifier(**{**FAST, "epochs": 1}).fit(dense, Y)
    framed = MultiLabelKerasClassifier(**{**FAST, "epochs": 1}).fit(
        pd.DataFrame(dense, columns=[f"f{i}" for i in range(dense.shape[1])]), Y
    )
    nan = dense[:3].copy()
    nan[0, 0] = np.nan
    inputs = [
        dense[:1],
        dense[:5].astype(np.float64),
        np.asfortranarray(dense[:4]),
        dense[:5].astype(np.int64),
        dense[:3, :-1],  # wrong width
        nan,
        np.full((2, dense.shape[1]), np.inf, dtype=np.float32),
    ]
    for est in (clf, framed):
        for x in inputs:
            full = dict(
                reset=False, accept_sparse="csr", dtype=np.float32, allow_nd=False, ensure_min_samples=1
            )
            try:
                with warnings.catch_warnings(record=True) as want_warned:
                    warnings.simplefilter("always")
                    want = validate_data(est, x, **full)
            except ValueError as exc:
                with pytest.raises(ValueError, match=re.escape(str(exc)[:60])):
                    _data.check_X(est, x, reset=False)
                continue
            with warnings.catch_warnings(record=True) as got_warned:
                warnings.simplefilter("always")
                got = _data.check_X(est, x, reset=False)
            assert got.dtype == want.dtype == np.float32
            np.testing.assert_array_equal(got, want)
            assert [str(w.message) for w in got_warned] == [str(w.message) for w in want_warned]
