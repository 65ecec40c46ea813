"""threshold="auto": objectives, fallbacks for weak labels, stratified held-out rows,
and out-of-fold tuning through the one training path."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skmultihead import MultiLabelKerasClassifier, TrainingDivergedError
from skmultihead._thresholds import DEFAULT_OBJECTIVE, OBJECTIVES, tune_thresholds

from ._helpers import FAST, make_X


def _micro(y, proba, thresholds):
    pred, pos = proba >= thresholds, y >= 0.5
    tp, fp, fn = np.sum(pred & pos), np.sum(pred & ~pos), np.sum(~pred & pos)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def test_f1_micro_is_the_documented_default():
    assert DEFAULT_OBJECTIVE == "f1_micro"
    assert MultiLabelKerasClassifier().threshold_objective == "f1_micro"
    assert {"f1_micro", "f1_macro"} <= set(OBJECTIVES)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(20, 300),
    n_labels=st.integers(1, 8),
    signal=st.floats(0.0, 3.0),
)
def test_f1_micro_tuning_never_lowers_held_out_micro_f1_below_half(seed, n, n_labels, signal):
    rng = np.random.RandomState(seed)
    prevalence = rng.uniform(0.02, 0.6, n_labels)
    y = (rng.rand(n, n_labels) < prevalence).astype(int)
    logits = signal * (2 * y - 1) + rng.randn(n, n_labels) + rng.randn(n_labels)
    proba = 1 / (1 + np.exp(-logits))
    t = tune_thresholds(y, proba, "f1_micro")
    assert _micro(y, proba, t) >= _micro(y, proba, 0.5) - 1e-12


def test_a_label_with_few_held_out_positives_keeps_the_shared_threshold_nearly():
    rng = np.random.RandomState(0)
    n = 400
    y = np.column_stack([rng.rand(n) < 0.4, rng.rand(n) < 0.4, np.zeros(n)]).astype(int)
    y[:2, 2] = 1  # two positives: no evidence for a threshold of its own
    proba = np.clip(0.35 * y + 0.6 * rng.rand(n, 3), 0, 1)
    proba[:2, 2] = 0.01  # its two positives score lowest: its own F1 optimum is near 0
    for objective in ("f1_micro", "f1_macro"):
        t = tune_thresholds(y, proba, objective)
        shared = tune_thresholds(y[:, :2], proba[:, :2], objective)
        assert t[2] > 0.2, objective  # not the near-0 optimum found on two positives
        assert abs(t[2] - np.mean(shared)) < 0.5


def test_micro_f1_moves_a_label_from_the_shared_threshold_by_its_evidence_only():
    # label 2 has 20 held-out positives that all score 0.3-0.4: its own optimum
    # is far below the shared threshold, but 20 positives move it a sixth of the way
    rng = np.random.RandomState(0)
    n = 400
    y = np.column_stack([rng.rand(n) < 0.4, rng.rand(n) < 0.4, np.zeros(n)]).astype(int)
    y[:20, 2] = 1
    proba = np.clip(0.45 * y + 0.5 * rng.rand(n, 3), 0, 1)
    proba[:, 2] = 0.3 * rng.rand(n)
    proba[:20, 2] = 0.3 + 0.1 * rng.rand(20)
    t = tune_thresholds(y, proba, "f1_micro")
    shared = t[0]
    assert t[2] < shared  # it moved towards its own optimum...
    own = 0.3  # ...which lies at the lowest positive score
    assert (shared - t[2]) <= (shared - own) * 20 / (20 + 100) + 1e-9
    assert _micro(y, proba, t) >= _micro(y, proba, np.full(3, shared)) - 1e-12


def test_weak_labels_fall_back_to_predicting_only_their_surest_rows():
    rng = np.random.RandomState(1)
    n = 300
    strong = (rng.rand(n) < 0.4).astype(int)
    weak = np.zeros(n, dtype=int)
    weak[rng.choice(n, 15, replace=False)] = 1
    y = np.column_stack([strong, weak])
    proba = np.column_stack([np.clip(0.5 * strong + 0.5 * rng.rand(n), 0, 1), rng.rand(n) * 0.3])
    proba[weak == 1, 1] = 0.0  # its positives score lowest: best F1 is predicting all, 0.095
    t = tune_thresholds(y, proba, "f1_macro")
    assert t[1] > proba[:, 1].max()  # SCutFBR: above every held-out score
    assert 0 < t[0] < 1


def _rare_labels(n=2000, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 6).astype("float32")
    Y = np.zeros((n, 4), dtype=int)
    for j, k in enumerate((20, 40, 100, 600)):  # 1%, 2%, 5%, 30%
        Y[rng.choice(n, k, replace=False), j] = 1
    return X, Y


def test_held_out_rows_are_stratified_over_labels():
    X, Y = _rare_labels()
    est = MultiLabelKerasClassifier(**{**FAST, "epochs": 1}, threshold="auto").fit(X, Y)
    y_held, _, _ = est._holdout_
    assert len(y_held) == 200
    np.testing.assert_allclose(y_held.sum(axis=0), Y.mean(axis=0) * 200, atol=1)


def test_early_stopping_auto_depends_on_the_number_of_rows():
    from skmultihead._fitting import EARLY_STOPPING_AUTO_ROWS

    X, Y = _rare_labels(EARLY_STOPPING_AUTO_ROWS)
    fast = {**FAST, "epochs": 2, "batch_size": 512}
    small = MultiLabelKerasClassifier(**fast).fit(X[:-1], Y[:-1])
    large = MultiLabelKerasClassifier(**fast).fit(X, Y)
    assert MultiLabelKerasClassifier().early_stopping == "auto"
    assert EARLY_STOPPING_AUTO_ROWS == 1_000
    assert "val_loss" not in small.history_ and "val_loss" in large.history_
    assert "val_f1_micro" not in small.history_ and "val_f1_micro" in large.history_
    off = MultiLabelKerasClassifier(**fast, early_stopping=False).fit(X, Y)
    assert "val_loss" not in off.history_


def test_out_of_fold_tuning_goes_through_the_training_path(monkeypatch):
    X = make_X(90, 5)
    Y = (X[:, :3] > 0).astype(int)
    seen = []
    real = keras.Model.fit

    def spy(self, *args, **kwargs):
        seen.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", spy)

    class Count(keras.callbacks.Callback):
        starts = 0

        def on_train_begin(self, logs=None):
            Count.starts += 1

    MultiLabelKerasClassifier(**FAST, threshold="auto", callbacks=[Count()], fit__shuffle=False).fit(X, Y)
    assert len(seen) == 4 and Count.starts == 4  # the network, then 3 out-of-fold networks
    assert all(kw["shuffle"] is False for kw in seen)
    assert all(any(type(cb).__name__ == "StopOnNonFinite" for cb in kw["callbacks"]) for kw in seen)


def test_a_diverging_out_of_fold_fit_raises(monkeypatch):
    X = make_X(90, 5)
    Y = (X[:, :3] > 0).astype(int)
    calls = []
    real = keras.Model.fit

    def diverge_later(self, *args, **kwargs):
        calls.append(1)
        if len(calls) > 1:  # the out-of-fold networks, not the first
            kwargs["x"] = np.full_like(kwargs["x"], np.inf)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", diverge_later)
    est = MultiLabelKerasClassifier(**FAST, threshold="auto")
    with pytest.raises(TrainingDivergedError):
        est.fit(X, Y)
    assert not hasattr(est, "model_")
