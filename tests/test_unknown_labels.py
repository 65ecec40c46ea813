"""Unknown entries of y: they take no part in training, metrics, tuning or score."""

import pickle
import warnings

import keras
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from skmultihead import MultiClassKerasClassifier, MultiLabelKerasClassifier, ThresholdDisplay, load
from skmultihead._thresholds import tune_thresholds

from ._helpers import count_trainings, make_X

# Label 0 is positive on every known entry and unknown on half the rows. Were
# the unknown entries read as 0 (or trained on at all), the network would learn
# p ~ 0.5 for it; read as unknown, it learns "always positive".
LEARN = dict(
    hidden_layer_sizes=(16,), dropout=0.0, epochs=30, learning_rate=0.02, batch_size=32, random_state=0
)


def always_positive(n=240, seed=0):
    X = make_X(n, 4, seed)
    rng = np.random.RandomState(seed)
    Y = np.column_stack([np.ones(n), X[:, 0] > 0, X[:, 1] > 0]).astype(float)
    Y[rng.rand(n) < 0.5, 0] = np.nan
    return X, Y


def _label0(est, X):
    return est.predict_proba(X)[:, 0]


def test_a_label_never_learns_from_its_unknown_entries():
    X, Y = always_positive()
    est = MultiLabelKerasClassifier(**LEARN).fit(X, Y)
    assert _label0(est, X).min() > 0.8
    zeros = MultiLabelKerasClassifier(**LEARN).fit(X, np.nan_to_num(Y))  # what filling with 0 gives
    assert _label0(zeros, X).mean() < 0.7


def _focal_function(y_true, y_pred):
    return keras.losses.binary_focal_crossentropy(y_true, y_pred)


@pytest.mark.parametrize(
    "extra",
    [
        {"loss": "binary_focal_crossentropy"},
        {"loss": keras.losses.BinaryCrossentropy(label_smoothing=0.05)},
        {"loss": _focal_function, "fit_cache": False},
        {"class_weight": "balanced"},
        {"class_weight": {1: 2.0}},
    ],
    ids=["named", "loss object", "function", "balanced", "dict"],
)
def test_every_loss_is_masked(extra):
    X, Y = always_positive()
    est = MultiLabelKerasClassifier(**{**LEARN, **extra}).fit(X, Y)
    assert _label0(est, X).min() > 0.8


def test_a_users_compiled_model_is_masked_too():
    X, Y = always_positive()

    def build(meta):
        inp = keras.Input((meta["n_features_in_"],))
        out = keras.layers.Dense(3, activation="sigmoid")(keras.layers.Dense(16, activation="relu")(inp))
        model = keras.Model(inp, out)
        model.compile(optimizer=keras.optimizers.Adam(0.02), loss="binary_crossentropy")
        return model

    est = MultiLabelKerasClassifier(model=build, epochs=30, batch_size=32, random_state=0).fit(X, Y)
    assert _label0(est, X).min() > 0.8


def test_a_loss_that_reduces_whole_batches_is_refused_before_training(monkeypatch):
    X, Y = always_positive()
    trainings = count_trainings(monkeypatch)

    def batch_mean(y_true, y_pred):
        return keras.ops.mean(keras.ops.square(y_true - y_pred))

    with pytest.raises(ValueError, match="one value per row"):
        MultiLabelKerasClassifier(**LEARN, loss=batch_mean).fit(X, Y)
    assert trainings == []


def test_partial_fit_and_warm_start_mask_their_unknown_entries():
    X, Y = always_positive()
    est = MultiLabelKerasClassifier(**{**LEARN, "epochs": 1})
    for _ in range(30):
        est.partial_fit(X, Y)
    assert _label0(est, X).min() > 0.8
    # a network first trained with the gaps read as 0, continued on the gaps as unknown
    warm = MultiLabelKerasClassifier(**{**LEARN, "epochs": 1}).fit(X, np.nan_to_num(Y))
    for _ in range(30):
        warm.partial_fit(X, Y)
    assert _label0(warm, X).min() > 0.8


def test_pandas_nullable_object_and_polars_columns_hold_unknown_entries():
    import polars as pl

    X, Y = always_positive()
    frames = {
        "Int64": pd.DataFrame(Y, columns=list("abc")).astype("Int64"),
        "object": pd.DataFrame(np.where(np.isnan(Y), None, Y).astype(object), columns=list("abc")),
        "polars": pl.from_pandas(pd.DataFrame(Y, columns=list("abc"))).fill_nan(None),
    }
    reference = MultiLabelKerasClassifier(**LEARN).fit(X, Y).predict_proba(X)
    for name, frame in frames.items():
        est = MultiLabelKerasClassifier(**LEARN).fit(X, frame)
        assert list(est.classes_) == ["a", "b", "c"], name
        np.testing.assert_allclose(est.predict_proba(X), reference, atol=1e-5, err_msg=name)


def test_multi_output_heads_skip_rows_without_a_target():
    X = make_X(240, 4)
    colour = np.digitize(X[:, 1], [-0.4, 0.4]).astype(object)
    size = np.where(X[:, 0] > 0, "big", "small").astype(object)
    # the size of every row whose first feature is below -0.5 is unknown: were it
    # read at all, as a class, the head would learn it
    size[X[:, 0] < -0.5] = None
    y = pd.DataFrame({"colour": colour, "size": size})
    est = MultiClassKerasClassifier(**LEARN).fit(X, y)
    assert [list(c) for c in est.classes_] == [[0, 1, 2], ["big", "small"]]
    pred = est.predict(X)
    known = ~pd.isna(y["size"]).to_numpy()
    assert np.mean(pred[known, 1] == size[known]) > 0.9
    assert est.score(X, y) > 0.5
    with pytest.raises(ValueError, match="unknown entries"):
        MultiClassKerasClassifier(**LEARN).fit(
            X,
            np.column_stack([X[:, 0] > 0, X[:, 0] <= 0]).astype(float) + np.where(known, 0, np.nan)[:, None],
        )


def test_one_dimensional_and_sparse_y_keep_refusing_missing_values(monkeypatch):
    X, Y = always_positive()
    trainings = count_trainings(monkeypatch)
    with pytest.raises(ValueError, match="drop those rows"):
        MultiClassKerasClassifier(**LEARN).fit(X, Y[:, 0])
    nan_sparse = sp.csr_matrix(np.where(np.isnan(Y), np.nan, Y))
    with pytest.raises(ValueError, match="sparse and stores NaN"):
        MultiLabelKerasClassifier(**LEARN).fit(X, nan_sparse)
    with pytest.raises(ValueError, match=r"column \['b'\] has no known entry"):
        MultiLabelKerasClassifier(**LEARN).fit(X, pd.DataFrame({"a": Y[:, 1], "b": np.nan}))
    assert trainings == []


def test_a_row_with_no_known_entry_is_warned_of_and_weighs_nothing():
    X, Y = always_positive()
    Y[:10] = np.nan
    with pytest.warns(UserWarning, match="10 rows of y have no known entry"):
        est = MultiLabelKerasClassifier(**LEARN).fit(X, Y)
    # score reads the known entries of the other rows only
    pred = est.predict(X)
    known = ~np.isnan(Y)
    hits = np.all((pred == Y) | ~known, axis=1)[10:]
    assert est.score(X, Y) == pytest.approx(hits.mean())


def test_thresholds_are_tuned_on_each_labels_known_entries():
    rng = np.random.RandomState(0)
    y = (rng.rand(400, 1) > 0.5).astype(float)
    proba = np.clip(y * 0.6 + rng.rand(400, 1) * 0.4, 0, 1)
    # the first 200 entries read as negatives would pull the threshold up; hidden, they count for nothing
    noisy, hidden = y.copy(), y.copy()
    noisy[:200] = 0.0
    hidden[:200] = np.nan
    for objective in ("f1_micro", "f1_macro", "accuracy", lambda a, b: float(np.mean(a == b))):
        on_known = tune_thresholds(y[200:], proba[200:], objective)
        np.testing.assert_allclose(tune_thresholds(hidden, proba, objective), on_known)
    on_known = tune_thresholds(y[200:], proba[200:], "f1_macro")
    assert tune_thresholds(noisy, proba, "f1_macro")[0] != pytest.approx(on_known[0])
    two = np.column_stack([hidden[:, 0], y[:, 0]])
    assert np.isfinite(tune_thresholds(two, np.column_stack([proba, proba]), "f1_micro")).all()


@pytest.mark.parametrize("n", [240, 2400])  # out-of-fold tuning, then a held-out part
def test_auto_thresholds_and_early_stopping_read_known_entries(n):
    X, Y = always_positive(n)
    est = MultiLabelKerasClassifier(**{**LEARN, "epochs": 15}, threshold="auto", early_stopping=True).fit(
        X, Y
    )
    assert np.isfinite(est.thresholds_).all()
    assert all(np.isfinite(est.history_["val_f1_micro"]))
    y_true, _, _ = est._holdout_
    assert np.isnan(y_true[:, 0]).any() and not np.isnan(y_true[:, 1:]).any()
    display = ThresholdDisplay.from_estimator(est)
    assert np.isfinite(display.curves_).all()


def test_unknown_entries_survive_save_load_pickle_and_key_the_cache(tmp_path, monkeypatch):
    X, Y = always_positive()
    est = MultiLabelKerasClassifier(**{**LEARN, "epochs": 3}, threshold="auto").fit(X, Y)
    est.save(tmp_path / "m")
    for back in (load(tmp_path / "m"), pickle.loads(pickle.dumps(est))):
        np.testing.assert_array_equal(back.thresholds_, est.thresholds_)
        np.testing.assert_array_equal(np.isnan(back._holdout_[0]), np.isnan(est._holdout_[0]))
    trainings = count_trainings(monkeypatch)
    moved = Y.copy()
    moved[:, 0] = np.roll(Y[:, 0], 1)  # the same values, the gaps elsewhere
    MultiLabelKerasClassifier(**{**LEARN, "epochs": 3}, threshold="auto").fit(X, moved)
    assert trainings  # the moved gaps trained
    served = len(trainings)
    MultiLabelKerasClassifier(**{**LEARN, "epochs": 3}, threshold="auto").fit(X, Y)
    assert len(trainings) == served  # the same gaps were served


def test_per_entry_sample_weight_is_the_general_form():
    X, Y = always_positive()
    known = ~np.isnan(Y)
    filled = np.nan_to_num(Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        by_weight = MultiLabelKerasClassifier(**LEARN).fit(X, filled, sample_weight=known.astype(float))
    by_nan = MultiLabelKerasClassifier(**LEARN).fit(X, Y)
    np.testing.assert_allclose(by_weight.predict_proba(X), by_nan.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="sample_weight"):
        MultiLabelKerasClassifier(**LEARN).fit(X, filled, sample_weight=np.ones((len(X), 5)))


@pytest.mark.parametrize("objective", ["f1_micro", "f1_macro", "accuracy"])
def test_threshold_display_draws_known_entries_only(objective):
    rng = np.random.RandomState(0)
    y = (rng.rand(200, 2) > 0.5).astype(float)
    proba = np.clip(y * 0.5 + rng.rand(200, 2) * 0.5, 0, 1)
    hidden = y.copy()
    hidden[:100, 0] = np.nan
    shown = ThresholdDisplay.from_predictions(hidden, proba, [0.5, 0.5], objective=objective, labels=[0])
    # label 0 alone on its known rows; for micro-F1, label 1's totals count all its rows
    alone = ThresholdDisplay.from_predictions(y[100:, :1], proba[100:, :1], [0.5], objective=objective)
    if objective == "f1_micro":
        assert not np.allclose(shown.curves_, alone.curves_)  # the other label takes part
        filled = ThresholdDisplay.from_predictions(
            np.nan_to_num(hidden), proba, [0.5, 0.5], objective=objective, labels=[0]
        )
        assert not np.allclose(shown.curves_, filled.curves_)
    else:
        np.testing.assert_allclose(shown.curves_, alone.curves_)
