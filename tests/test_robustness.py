"""Fits that fail cleanly, concurrency and determinism."""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

import skmultihead
from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, _cache

from ._helpers import FAST, learnable


class Interrupt(keras.callbacks.Callback):
    def __init__(self, error):
        super().__init__()
        self.error = error

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise self.error


@pytest.mark.parametrize("error", [KeyboardInterrupt(), RuntimeError("disk full")])
@pytest.mark.parametrize("warm_start", [False, True])
def test_interrupted_refit_leaves_the_estimator_as_it_was(error, warm_start):
    X, _, y3, _ = learnable()
    clf = MultiClassKerasClassifier(**{**FAST, "epochs": 4}, warm_start=warm_start).fit(X, y3)
    before_proba = clf.predict_proba(X)
    before = {k: v for k, v in vars(clf).items() if k.endswith("_")}
    clf.set_params(callbacks=[Interrupt(error)])
    with pytest.raises(type(error)):
        clf.fit(X[:80], (y3[:80] + 1) % 3)
    assert {k: v for k, v in vars(clf).items() if k.endswith("_")}.keys() == before.keys()
    assert clf.history_ is before["history_"] and clf._network_ is before["_network_"]
    assert clf.model_ is before["_network_"].proba_model
    np.testing.assert_array_equal(clf.predict_proba(X), before_proba)


class _FailAtBatch(keras.callbacks.Callback):
    """Raises in the middle of an epoch, once dropout and the optimizer have moved."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 1:
            raise RuntimeError("user callback failed")


_MOVING = dict(hidden_layer_sizes=(8,), dropout=0.5, epochs=2, batch_size=8, random_state=0)


def _warm_after(failure: bool, X, y):
    est = MultiClassKerasClassifier(**_MOVING, warm_start=True).fit(X, y)
    if failure:
        est.set_params(callbacks=[_FailAtBatch()])
        with pytest.raises(RuntimeError, match="user callback failed"):
            est.fit(X, y)
        est.set_params(callbacks=None)
    return est.fit(X, y).predict_proba(X)


def _partial_after(failure: bool, X, y):
    est = MultiClassKerasClassifier(**_MOVING).initialize(X, y)
    if failure:
        est.set_params(callbacks=[_FailAtBatch()])
        with pytest.raises(RuntimeError, match="user callback failed"):
            est.partial_fit(X, y)
        est.set_params(callbacks=None)
    return est.partial_fit(X, y).predict_proba(X)


@pytest.mark.parametrize("continuation", [_warm_after, _partial_after], ids=["warm_start", "partial_fit"])
def test_a_failed_call_leaves_nothing_that_changes_the_next(continuation):
    # the seed generators of dropout, the optimizer's step and moments (and
    # whether it has any) come back as they were before the failed call
    X, _, y3, _ = learnable()
    np.testing.assert_array_equal(continuation(True, X, y3), continuation(False, X, y3))


def test_predictions_during_a_refit_come_from_one_fitted_state():
    import threading

    X, yb, y3, _ = learnable()
    est = MultiClassKerasClassifier(**{**FAST, "epochs": 1}).fit(X, yb)
    rows = X[:5]
    stop, seen, errors = threading.Event(), set(), []

    def read():
        while not stop.is_set():
            try:
                proba = est.predict_proba(rows)
                seen.add(proba.shape)
                if proba.shape not in ((5, 2), (5, 3)) or not np.allclose(proba.sum(axis=1), 1, atol=1e-5):
                    errors.append(proba.shape)
            except Exception as exc:  # a mixed state fails inside predict, too
                errors.append(repr(exc))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(6):
            est.set_params(random_state=i).fit(X, y3 if i % 2 == 0 else yb)
    finally:
        stop.set()
        reader.join()
    assert errors == []
    assert seen == {(5, 2), (5, 3)}


def test_interrupted_first_fit_leaves_the_estimator_unfitted():
    from sklearn.exceptions import NotFittedError

    X, yb, _, _ = learnable()
    clf = MultiClassKerasClassifier(**FAST, callbacks=[Interrupt(KeyboardInterrupt())])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, yb)
    assert not [k for k in vars(clf) if k.endswith("_")]
    with pytest.raises(NotFittedError):
        clf.predict(X)


def test_grid_search_n_jobs_2_matches_n_jobs_1():
    X, _, _, Y = learnable(150)
    grid = {"hidden_layer_sizes": [(4,), (8,)], "threshold": [0.3, 0.5]}
    results = []
    for n_jobs in (1, 2):
        _cache.clear()
        search = GridSearchCV(
            MultiLabelKerasClassifier(epochs=3, random_state=0),
            grid,
            cv=KFold(2),
            scoring="f1_micro",
            n_jobs=n_jobs,
        )
        results.append(search.fit(X, Y).cv_results_["mean_test_score"])
    np.testing.assert_array_equal(results[0], results[1])


def test_same_random_state_gives_the_same_predictions_across_processes(tmp_path):
    X, _, y3, _ = learnable()
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y3)
    code = textwrap.dedent(
        f"""
        import os, sys
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        import numpy as np
        from skmultihead import MultiClassKerasClassifier
        X, y = np.load({str(tmp_path / "X.npy")!r}), np.load({str(tmp_path / "y.npy")!r})
        clf = MultiClassKerasClassifier(**{FAST!r}).fit(X, y)
        np.save(sys.argv[1], clf.predict_proba(X))
        """
    )
    for i in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / f"p{i}.npy")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
    here = MultiClassKerasClassifier(**FAST).fit(X, y3).predict_proba(X)
    np.testing.assert_array_equal(np.load(tmp_path / "p0.npy"), np.load(tmp_path / "p1.npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "p0.npy"), here)


def test_a_seeded_fit_is_the_same_while_another_thread_draws_from_random():
    """Keras draws initializer seeds from Python's global ``random``; a thread
    drawing from it meanwhile (a Dask worker's event loop does) must not
    change a seeded fit's network."""
    import random
    import threading

    X, _, _, Y = learnable()
    skmultihead.set_config(fit_cache=False)
    reference = MultiLabelKerasClassifier(**FAST).fit(X, Y).predict_proba(X)
    stop = threading.Event()

    def draw():
        while not stop.is_set():
            random.random()

    other = threading.Thread(target=draw)
    other.start()
    try:
        busy = MultiLabelKerasClassifier(**FAST).fit(X, Y).predict_proba(X)
    finally:
        stop.set()
        other.join()
    np.testing.assert_array_equal(busy, reference)


@pytest.mark.parametrize("how", ["save", "pickle"])
def test_a_loaded_estimator_continues_as_the_saved_one(tmp_path, how):
    # the .keras format keeps weights only: the seed generators of dropout and
    # the optimizer's step and moments travel beside it
    import pickle

    X, _, y3, _ = learnable()
    est = MultiClassKerasClassifier(**_MOVING).fit(X, y3)
    if how == "save":
        est.save(tmp_path / "m.skmh")
        copy = skmultihead.load(tmp_path / "m.skmh")
    else:
        copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(
        copy.partial_fit(X, y3).predict_proba(X), est.partial_fit(X, y3).predict_proba(X)
    )
